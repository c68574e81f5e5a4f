//! The `computePixels` client: one request with its token, its slot in the
//! project's concurrency budget and its retries.
//!
//! - **Slots**: Earth Engine allows 40 concurrent requests per project and
//!   answers 429 past that. Every client of one process that talks to the
//!   same API root and project shares one budget
//!   ([`EeConfig::max_in_flight`], default 10), so two datasets loading at
//!   once (TCTrend beside AlphaEarth) do not add up past it.
//! - **Retries**: 429 and 5xx, a reply cut short and a broken connection
//!   are retried with jittered exponential backoff ([`EeConfig::retry`]:
//!   as the official client, 5 retries, 1 s doubling, capped at 32 s); a
//!   deadline at most [`HttpConfig::deadline_tries`] times; 401 once with a
//!   fresh token; anything else (400 for a request past the limits, 403)
//!   is final. The slot is released while waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use geocube_core::RetryPolicy;
use serde_json::{Value, json};

use super::auth::{EeCredentials, TokenSource};
use super::npy::NpyRecords;
use super::plan::RequestLimits;
use crate::error::{Error, Result};
use crate::http::{HttpClient, HttpConfig};

/// Earth Engine's API root.
pub const DEFAULT_EE_URL: &str = "https://earthengine.googleapis.com/";

/// How to reach Earth Engine.
#[derive(Clone, Debug)]
pub struct EeConfig {
    /// API root (default [`DEFAULT_EE_URL`]; the high-volume endpoint is
    /// `https://earthengine-highvolume.googleapis.com/`).
    pub url: String,
    /// Cloud project billed for the requests; the key's `project_id` when
    /// `None`.
    pub project: Option<String>,
    /// The key or token.
    pub credentials: EeCredentials,
    /// Requests in flight at once per API root and project, across the
    /// process (default 10; the quota is 40).
    pub max_in_flight: usize,
    /// What one request may ask for.
    pub limits: RequestLimits,
    /// Attempts of one request on 429, 5xx and broken replies.
    pub retry: RetryPolicy,
    /// Deadlines of one request. Earth Engine computes before it answers,
    /// so the silence allowed before the headers is longer than for files
    /// (default read timeout 120 s).
    pub http: HttpConfig,
}

impl EeConfig {
    /// Defaults around `credentials`.
    #[must_use]
    pub fn new(credentials: EeCredentials) -> Self {
        Self {
            url: DEFAULT_EE_URL.to_owned(),
            project: None,
            credentials,
            max_in_flight: 10,
            limits: RequestLimits::default(),
            retry: RetryPolicy {
                max_tries: 6,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(32),
            },
            http: HttpConfig {
                read_timeout: Duration::from_secs(120),
                request_timeout: Duration::from_secs(600),
                ..HttpConfig::default()
            },
        }
    }
}

/// The pixel grid of a request (`PixelGrid`): dimensions, an affine
/// transform from pixel corners (PixelIsArea) to CRS coordinates, a CRS.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelGrid {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `[scaleX, shearX, translateX, shearY, scaleY, translateY]`.
    pub affine: [f64; 6],
    /// `EPSG:4326`.
    pub crs_code: String,
}

impl PixelGrid {
    fn to_json(&self) -> Value {
        let [sx, hx, tx, hy, sy, ty] = self.affine;
        json!({
            "dimensions": {"width": self.width, "height": self.height},
            "affineTransform": {
                "scaleX": sx, "shearX": hx, "translateX": tx,
                "shearY": hy, "scaleY": sy, "translateY": ty,
            },
            "crsCode": self.crs_code,
        })
    }
}

/// Counters of one client, for tests and benches.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Requests sent (retries included).
    pub requests: AtomicU64,
    /// Requests retried after 429.
    pub rate_limited: AtomicU64,
    /// Requests retried after 5xx, a broken connection or a short reply.
    pub failed: AtomicU64,
    /// Reply bytes received.
    pub bytes: AtomicU64,
}

/// A counting semaphore: the request slots of one project.
#[derive(Debug)]
struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    fn acquire(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self.cv.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.cv.notify_one();
    }
}

/// The process's slot budgets, by API root and project.
fn slots_for(key: String, n: usize) -> Arc<Slots> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Slots>>>> = OnceLock::new();
    let mut all = ALL
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(all.entry(key).or_insert_with(|| {
        Arc::new(Slots {
            free: Mutex::new(n.max(1)),
            cv: Condvar::new(),
        })
    }))
}

/// A `computePixels` client for one project.
#[derive(Debug)]
pub struct ComputePixels {
    http: HttpClient,
    tokens: TokenSource,
    endpoint: String,
    project: String,
    slots: Arc<Slots>,
    limits: RequestLimits,
    retry: RetryPolicy,
    deadline_tries: u32,
    stats: ClientStats,
}

impl ComputePixels {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable URL, project id or HTTP set-up.
    pub fn new(config: EeConfig) -> Result<Self> {
        // Without a project nothing can be asked; what needs no request
        // still works, and the first request says what is missing.
        let project = config
            .project
            .clone()
            .or_else(|| config.credentials.project().map(str::to_owned))
            .filter(|p| !p.is_empty())
            .unwrap_or_default();
        if project.contains(['/', '?', '#', ' ']) {
            return Err(Error::Config(format!(
                "`{project}` is not a Cloud project id"
            )));
        }
        let mut root = config.url.clone();
        if !(root.starts_with("http://") || root.starts_with("https://")) {
            return Err(Error::Config(format!(
                "Earth Engine URL `{root}` is not http(s)"
            )));
        }
        if !root.ends_with('/') {
            root.push('/');
        }
        let http = HttpClient::new(config.http.clone())?;
        let endpoint = format!("{root}v1/projects/{project}/image:computePixels");
        let slots = slots_for(format!("{root} {project}"), config.max_in_flight);
        Ok(Self {
            tokens: TokenSource::new(config.credentials.clone(), http.clone()),
            http,
            endpoint,
            project,
            slots,
            limits: config.limits,
            retry: config.retry,
            deadline_tries: config.http.deadline_tries.max(1),
            stats: ClientStats::default(),
        })
    }

    /// The project billed.
    #[must_use]
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The limits one request stays under.
    #[must_use]
    pub fn limits(&self) -> RequestLimits {
        self.limits
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Ask for `bands` of `expression` on `grid` as NPY, and check the
    /// reply holds exactly that: shape `(height, width)` and every band.
    /// `what` names the request in errors and retry lines.
    ///
    /// # Errors
    /// [`Error::EarthEngine`] (the API's status and message), after the
    /// retries for 429 and 5xx; [`Error::Auth`]; [`Error::InvalidPixels`]
    /// for a reply that is not the array asked for; HTTP errors.
    pub fn compute_pixels(
        &self,
        expression: &Value,
        grid: &PixelGrid,
        bands: &[&str],
        band_sizes: &[usize],
        what: &str,
    ) -> Result<NpyRecords> {
        let body = serde_json::to_vec(&json!({
            "expression": expression,
            "fileFormat": "NPY",
            "bandIds": bands,
            "grid": grid.to_json(),
        }))
        .map_err(|e| Error::Config(format!("cannot encode a computePixels request: {e}")))?;
        if self.project.is_empty() {
            // Missing credentials are the first thing to fix.
            self.tokens.token()?;
            return Err(Error::Auth {
                reason: "no Cloud project for Earth Engine: pass one (--ee-project, ee_project=) or use a service-account key that names its project_id".into(),
            });
        }
        // The reply: the data plus a header of a few hundred bytes per band
        // name; anything much larger is not what was asked for.
        let data: u64 = (grid.width as u64 * grid.height as u64)
            .saturating_mul(band_sizes.iter().map(|&s| s as u64).sum());
        let max_reply = data + 4096 + 128 * bands.len() as u64;
        let mut deadlines = 0u32;
        let mut renewed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = self.tokens.token()?;
            let auth = format!("Bearer {token}");
            let result = {
                let _slot = self.slots.acquire();
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.http.post_once(
                    &self.endpoint,
                    &[
                        ("Authorization", auth.as_str()),
                        ("Content-Type", "application/json"),
                        ("Accept", "*/*"),
                        ("X-Goog-User-Project", self.project.as_str()),
                    ],
                    body.clone(),
                    max_reply,
                )
            };
            let err = match result.and_then(|bytes| {
                self.stats
                    .bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                check_reply(bytes, grid, bands, what)
            }) {
                Ok(records) => return Ok(records),
                Err(e) => e,
            };
            let err = match err {
                Error::Http {
                    status: 401,
                    message,
                    ..
                } => {
                    if !renewed && self.tokens.refused(&token) {
                        renewed = true;
                        attempt -= 1;
                        continue;
                    }
                    return Err(Error::Auth {
                        reason: format!(
                            "Earth Engine refused the credentials for {what}: {}",
                            api_message(&message).1
                        ),
                    });
                }
                Error::Http {
                    status, message, ..
                } => {
                    let (code, text) = api_message(&message);
                    Error::EarthEngine {
                        what: what.to_owned(),
                        code: status,
                        status: code,
                        message: text,
                    }
                }
                other => other,
            };
            if matches!(err, Error::TimedOut { .. }) {
                deadlines += 1;
                if deadlines >= self.deadline_tries {
                    return Err(err);
                }
            }
            if !err.is_retryable() || attempt >= self.retry.max_tries {
                return Err(err);
            }
            let rate_limited = matches!(err, Error::EarthEngine { code: 429, .. });
            if rate_limited {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
            let delay = self.retry.delay(attempt);
            tracing::warn!(
                "retrying computePixels of {what} (attempt {} of {}) after {:.1} s: {}",
                attempt + 1,
                self.retry.max_tries,
                delay.as_secs_f64(),
                err.detail()
            );
            std::thread::sleep(delay);
        }
    }
}

/// The API status name and message of a Google error body
/// (`{"error": {"code", "message", "status"}}`), else the body as it is.
fn api_message(body: &str) -> (String, String) {
    let parsed = serde_json::from_str::<Value>(body).ok();
    let e = parsed.as_ref().and_then(|v| v.get("error"));
    let status = e
        .and_then(|e| e.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN")
        .to_owned();
    let message = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map_or_else(|| body.to_owned(), str::to_owned);
    (status, message)
}

fn check_reply(bytes: Vec<u8>, grid: &PixelGrid, bands: &[&str], what: &str) -> Result<NpyRecords> {
    let records = NpyRecords::parse(bytes).map_err(|e| Error::InvalidPixels {
        what: what.to_owned(),
        retryable: e.to_string().contains("truncated"),
        reason: e.to_string(),
    })?;
    if records.shape != [grid.height, grid.width] {
        return Err(Error::InvalidPixels {
            what: what.to_owned(),
            reason: format!(
                "shape {:?}, asked for ({}, {})",
                records.shape, grid.height, grid.width
            ),
            retryable: false,
        });
    }
    if let Some(missing) = bands.iter().find(|b| records.field(b).is_none()) {
        return Err(Error::InvalidPixels {
            what: what.to_owned(),
            reason: format!("no band `{missing}` in the reply"),
            retryable: false,
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_bodies() {
        let (s, m) = api_message(
            r#"{"error": {"code": 429, "message": "Too many concurrent aggregations.", "status": "RESOURCE_EXHAUSTED"}}"#,
        );
        assert_eq!(
            (s.as_str(), m.as_str()),
            ("RESOURCE_EXHAUSTED", "Too many concurrent aggregations.")
        );
        assert_eq!(api_message("<html>").1, "<html>");
    }
}
