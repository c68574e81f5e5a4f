//! A loopback Earth Engine: the REST `image:computePixels` method and the
//! service-account token endpoint, on 127.0.0.1, over built-in synthetic
//! collections, with deterministic fault injection. geocube's Earth
//! Engine client is tested against it.
//!
//! It follows the API as Google documents it, not as any one client
//! happens to call it (sources in `/work/shared/ee-research.md`):
//! - `POST {url}v1/projects/{project}/image:computePixels` with
//!   `Authorization: Bearer <token>` and the body `{expression,
//!   fileFormat, bandIds?, grid}`; the expression is the serialized graph
//!   the official clients send (the functions implemented are listed in
//!   the 400 an unknown one gets, and in `src/ee/expression.rs`);
//!   replies are an NPY 1.0 structured array (`fileFormat: NPY`) or a
//!   GeoTIFF (`GEO_TIFF`) of the grid's pixels, masked pixels 0;
//! - errors in Google's shape `{"error": {"code", "message", "status"}}`:
//!   400 INVALID_ARGUMENT (malformed graphs, unknown bands, the 48 MB /
//!   32768 px / 1024 band limits, counted as width · height · Σ band bytes
//!   without a mask byte), 401 UNAUTHENTICATED (no token, or one this
//!   emulator did not mint or that expired), 429 RESOURCE_EXHAUSTED "Too
//!   many concurrent aggregations." above [`EeOptions::max_concurrent`]
//!   requests in flight;
//! - `POST {token_uri}` takes the RFC 7523 JWT-bearer grant a
//!   service-account key makes ([`EeEmulator::key_json`]) and mints
//!   `ya29.emu-<n>` tokens valid for [`EeOptions::token_lifetime`].
//!
//! Pixels come from [`truth`]: pixel `(col, row)` takes the value of the
//! native cell containing the centre `affine · (col + 0.5, row + 0.5)`,
//! Earth Engine's nearest resampling, so a test compares a reply (or a
//! cube built from replies) with [`truth::value`] at pixel centres.
//!
//! Built on the fixture server's hand-rolled HTTP layer
//! (`server::http`): fault injection must announce a whole reply and send
//! half, or never answer, which a framework's response writer does not
//! allow.
//!
//! ```no_run
//! use geocube_testkit::ee::{EeEmulator, EeOptions};
//!
//! # fn main() -> geocube_testkit::Result<()> {
//! let ee = EeEmulator::start(EeOptions::default())?;
//! let key = ee.key_json(); // a service-account key whose token_uri is ee.token_uri()
//! println!("POST {}v1/projects/p/image:computePixels, key {} bytes", ee.url(), key.len());
//! # Ok(())
//! # }
//! ```

mod auth;
mod catalog;
mod date;
mod expression;
mod faults;
mod geometry;
mod geotiff;
mod grid;
mod image;
mod npy;
mod pixel_type;
pub mod truth;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

pub use self::auth::{CLIENT_EMAIL, GOOGLE_TOKEN_URI, PRIVATE_KEY_ID, PROJECT_ID};
use self::auth::{TokenCheck, Tokens};
pub use self::date::DateRange;
pub use self::expression::ClipRecord;
use self::faults::Fate;
pub use self::faults::STORM_WINDOW;
use self::grid::{PixelGrid, field, reject_unknown};
pub use self::pixel_type::PixelType;
use crate::error::{Error, Result};
use crate::server::CONTROL_PREFIX;
use crate::server::http::{self, Connection, ReadError, Response, ServerThreads, write_response};

/// Google's message for a request without valid credentials.
const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 \
     access token, login cookie or other valid authentication credential. See \
     https://developers.google.com/identity/sign-in/web/devconsole-project.";
/// Earth Engine's message above the concurrency quota.
const TOO_MANY_CONCURRENT: &str = "Too many concurrent aggregations.";
/// Google's message for a rate quota (the injected storms).
const RATE_QUOTA: &str = "Quota exceeded for quota metric 'Requests' and limit 'Requests per \
     minute' of service 'earthengine.googleapis.com'.";

/// The values of the ImageFileFormat enum (only NPY and GEO_TIFF are
/// implemented).
const IMAGE_FILE_FORMATS: [&str; 9] = [
    "IMAGE_FILE_FORMAT_UNSPECIFIED",
    "JPEG",
    "PNG",
    "AUTO_JPEG_PNG",
    "NPY",
    "GEO_TIFF",
    "TF_RECORD_IMAGE",
    "ZIPPED_GEO_TIFF",
    "ZIPPED_GEO_TIFF_PER_BAND",
];

/// Slow faults and latency sleep in steps this long, so that stopping the
/// emulator never waits for them.
const SLEEP_STEP: Duration = Duration::from_millis(20);

/// A fraction of computePixels replies that are late or never come: the
/// slow upstreams a client's deadlines must bound (after the fixture
/// server's [`crate::server::Pace`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stall {
    /// Fraction (0–1) of computePixels requests affected.
    pub fraction: f64,
    /// `None`: read the request and never answer (the connection stays
    /// open and silent until the client hangs up or the emulator stops);
    /// `Some(d)`: answer after `d`.
    pub delay: Option<Duration>,
}

/// How the emulator behaves. Limits default to Earth Engine's; faults to
/// none.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EeOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Largest reply in bytes, counted as width · height · Σ band bytes
    /// (Earth Engine's "48MB", 50 331 648; its documentation counts no
    /// mask byte).
    pub max_bytes: u64,
    /// Largest grid width or height (32768).
    pub max_side: u32,
    /// Most bands per request (1024).
    pub max_bands: usize,
    /// computePixels requests in flight at once (40, Earth Engine's
    /// default quota); more get 429 RESOURCE_EXHAUSTED.
    pub max_concurrent: usize,
    /// Lifetime of minted access tokens (3600 s; tests use seconds to
    /// exercise refreshing).
    pub token_lifetime: Duration,
    /// Seed of the fault decisions.
    pub seed: u64,
    /// Fraction (0–1) of computePixels requests answered with an injected
    /// 500 INTERNAL or 503 UNAVAILABLE.
    pub fail_fraction: f64,
    /// Fraction (0–1) of computePixels requests answered 429
    /// RESOURCE_EXHAUSTED, in storms of [`STORM_WINDOW`] consecutive
    /// requests.
    pub rate_limit_fraction: f64,
    /// Fraction (0–1) of computePixels replies whose `Content-Length`
    /// announces the whole body while half is sent, the connection then
    /// closed.
    pub truncate_fraction: f64,
    /// Replies that are late or never come.
    pub stall: Stall,
    /// Delay before every computePixels reply, holding its concurrency
    /// slot (to test the 429 above [`EeOptions::max_concurrent`]).
    pub latency: Duration,
}

impl Default for EeOptions {
    fn default() -> Self {
        Self {
            port: 0,
            max_bytes: 48 * 1024 * 1024,
            max_side: 32768,
            max_bands: 1024,
            max_concurrent: 40,
            token_lifetime: Duration::from_secs(3600),
            seed: 0,
            fail_fraction: 0.0,
            rate_limit_fraction: 0.0,
            truncate_fraction: 0.0,
            stall: Stall::default(),
            latency: Duration::ZERO,
        }
    }
}

/// One computePixels call as the emulator saw and answered it. Fields
/// from the body are `None` when the body did not have them (or could not
/// be read).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// Its number among computePixels calls since the start (from 0; the
    /// fault decisions' counter, not reset by [`EeEmulator::reset`]).
    pub number: u64,
    /// The `{project}` of the path.
    pub project: String,
    /// The `X-Goog-User-Project` header.
    pub user_project: Option<String>,
    /// Grid width in pixels.
    pub width: Option<u32>,
    /// Grid height in pixels.
    pub height: Option<u32>,
    /// `[scaleX, shearX, translateX, shearY, scaleY, translateY]`.
    pub affine: Option<[f64; 6]>,
    /// The grid's CRS as `EPSG:n`.
    pub crs: Option<String>,
    /// `bandIds` as sent.
    pub band_ids: Option<Vec<String>>,
    /// The bands of the reply, in order (empty unless answered 200).
    pub bands: Vec<String>,
    /// `fileFormat` as sent.
    pub file_format: Option<String>,
    /// The first `ImageCollection.load` id of the expression.
    pub collection: Option<String>,
    /// The first date range the expression filtered by.
    pub date_range: Option<DateRange>,
    /// The first clip of the expression.
    pub clip: Option<ClipRecord>,
    /// HTTP status of the reply (also when it was stalled or cut short).
    pub status: u16,
    /// The error message, for replies other than 200.
    pub error: Option<String>,
    /// The injected fault: `"fail"`, `"rate_limit"`, `"truncate"`,
    /// `"stall"` or `"delay"`.
    pub fault: Option<String>,
    /// Length of the whole reply body (what `Content-Length` announced).
    pub reply_bytes: u64,
}

/// What the emulator did so far (since the start or [`EeEmulator::reset`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EeCounts {
    /// Access tokens minted.
    pub tokens_minted: u64,
    /// Token requests refused (HTTP 400).
    pub tokens_refused: u64,
    /// computePixels calls received.
    pub compute_requests: u64,
    /// computePixels calls answered 200 (truncated and delayed ones too).
    pub served: u64,
    /// Answered 401.
    pub unauthenticated: u64,
    /// Answered 400.
    pub invalid: u64,
    /// Answered 429 for being above [`EeOptions::max_concurrent`].
    pub over_concurrency: u64,
    /// Injected 500s and 503s.
    pub failed: u64,
    /// Injected 429s (storms).
    pub rate_limited: u64,
    /// Replies cut short.
    pub truncated: u64,
    /// Replies never sent.
    pub stalled: u64,
    /// Replies sent late ([`Stall::delay`]).
    pub delayed: u64,
    /// Most computePixels calls in flight at once.
    pub max_in_flight: usize,
}

/// State shared by the accept loop and the connection threads.
struct Shared {
    base_url: String,
    options: Mutex<EeOptions>,
    shutdown: AtomicBool,
    tokens: Mutex<Tokens>,
    requests: Mutex<Vec<RecordedRequest>>,
    counts: Mutex<EeCounts>,
    next_request: AtomicU64,
    in_flight: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not disable the records.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An error reply in Google's shape.
fn google_error(code: u16, message: &str) -> Response {
    let status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    Response::json(
        code,
        &json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

/// Sleeps `d`, in steps, until done or `shutdown` is set.
fn sleep_unless(shutdown: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !shutdown.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(SLEEP_STEP));
    }
}

/// Holds one of the [`EeOptions::max_concurrent`] slots until dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The answer to a computePixels call and how to deliver it.
struct Outcome<'a> {
    response: Response,
    truncate: bool,
    /// `Some(None)`: never answer; `Some(Some(d))`: answer after `d`.
    stall: Option<Option<Duration>>,
    _slot: Option<Slot<'a>>,
}

impl<'a> Outcome<'a> {
    fn plain(response: Response) -> Self {
        Self {
            response,
            truncate: false,
            stall: None,
            _slot: None,
        }
    }
}

/// A parsed computePixels body.
struct ComputeBody {
    expression: Value,
    file_format: String,
    band_ids: Option<Vec<String>>,
    grid: PixelGrid,
}

/// Reads the body into `rec` as far as it goes; `Err` is a 400 message.
fn parse_body(body: &[u8], rec: &mut RecordedRequest) -> Result<ComputeBody, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON payload received. {e}."))?;
    let obj = v
        .as_object()
        .ok_or("Invalid JSON payload received. The body must be a JSON object.")?;
    reject_unknown(
        obj,
        &[
            "expression",
            "fileFormat",
            "grid",
            "bandIds",
            "visualizationOptions",
            "workloadTag",
        ],
        "",
    )?;
    let file_format = match field(obj, "fileFormat") {
        None => "IMAGE_FILE_FORMAT_UNSPECIFIED".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("Invalid value at 'file_format' ({other}).")),
    };
    rec.file_format = Some(file_format.clone());
    if !IMAGE_FILE_FORMATS.contains(&file_format.as_str()) {
        // What Google's JSON parser says of a name not in the enum (e.g.
        // the Python client's own `NUMPY_NDARRAY`, which it converts).
        return Err(format!(
            "Invalid value at 'file_format' \
             (type.googleapis.com/google.earthengine.v1.ImageFileFormat), \"{file_format}\""
        ));
    }
    let band_ids = match field(obj, "bandIds") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or("Invalid value at 'band_ids': band ids must be strings.")?,
        ),
        Some(other) => return Err(format!("Invalid value at 'band_ids' ({other}).")),
    };
    rec.band_ids.clone_from(&band_ids);
    let grid = match field(obj, "grid") {
        Some(g) => PixelGrid::parse(g)?,
        None => {
            return Err(
                "grid is required by the emulator (it has no default projection to pick).".into(),
            );
        }
    };
    rec.width = Some(grid.width);
    rec.height = Some(grid.height);
    rec.affine = Some(grid.affine);
    rec.crs = Some(grid.crs_name.clone());
    if field(obj, "visualizationOptions").is_some() {
        return Err("visualizationOptions is not supported by the emulator.".into());
    }
    let expression = field(obj, "expression")
        .cloned()
        .ok_or("expression is required.")?;
    Ok(ComputeBody {
        expression,
        file_format,
        band_ids,
        grid,
    })
}

impl Shared {
    fn token_uri(&self) -> String {
        format!("{}/token", self.base_url)
    }

    fn options(&self) -> EeOptions {
        lock(&self.options).clone()
    }

    fn count(&self, f: impl FnOnce(&mut EeCounts)) {
        f(&mut lock(&self.counts));
    }

    /// `POST /token`.
    fn token(&self, req: &http::Request) -> Response {
        let form = std::str::from_utf8(&req.body)
            .ok()
            .and_then(http::parse_query);
        let verdict = match form {
            None => Err(auth::GrantError {
                error: "invalid_request",
                description: "The request body must be application/x-www-form-urlencoded.".into(),
            }),
            Some(form) => auth::verify_grant(&form, &self.token_uri(), auth::now_s()),
        };
        match verdict {
            Ok(()) => {
                let lifetime = self.options().token_lifetime;
                let token = lock(&self.tokens).mint(lifetime);
                self.count(|c| c.tokens_minted += 1);
                Response::json(
                    200,
                    &json!({
                        "access_token": token,
                        "expires_in": lifetime.as_secs(),
                        "token_type": "Bearer",
                    }),
                )
            }
            Err(e) => {
                self.count(|c| c.tokens_refused += 1);
                Response::json(
                    400,
                    &json!({"error": e.error, "error_description": e.description}),
                )
            }
        }
    }

    /// `POST /v1/projects/{project}/image:computePixels`.
    fn compute_pixels(&self, req: &http::Request, project: &str) -> Outcome<'_> {
        let number = self.next_request.fetch_add(1, Ordering::SeqCst);
        let options = self.options();
        let mut rec = RecordedRequest {
            number,
            project: project.to_owned(),
            user_project: req.header("x-goog-user-project").map(str::to_owned),
            width: None,
            height: None,
            affine: None,
            crs: None,
            band_ids: None,
            bands: Vec::new(),
            file_format: None,
            collection: None,
            date_range: None,
            clip: None,
            status: 0,
            error: None,
            fault: None,
            reply_bytes: 0,
        };
        self.count(|c| c.compute_requests += 1);
        let body = parse_body(&req.body, &mut rec);
        let outcome = self.answer(req, &options, number, body, &mut rec);
        rec.status = outcome.response.status;
        rec.reply_bytes = outcome.response.body.len();
        if rec.status != 200 && rec.error.is_none() {
            rec.error = Some(String::from_utf8_lossy(body_bytes(&outcome.response)).into_owned());
        }
        let status = rec.status;
        lock(&self.requests).push(rec);
        self.count(|c| match status {
            200 => c.served += 1,
            400 => c.invalid += 1,
            401 => c.unauthenticated += 1,
            _ => {}
        });
        outcome
    }

    fn answer(
        &self,
        req: &http::Request,
        options: &EeOptions,
        number: u64,
        body: Result<ComputeBody, String>,
        rec: &mut RecordedRequest,
    ) -> Outcome<'_> {
        if lock(&self.tokens).check(req.header("authorization")) != TokenCheck::Valid {
            rec.error = Some(UNAUTHENTICATED.into());
            return Outcome::plain(google_error(401, UNAUTHENTICATED).header(
                "WWW-Authenticate",
                "Bearer realm=\"https://accounts.google.com/\"",
            ));
        }
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = Slot(&self.in_flight);
        if in_flight > options.max_concurrent {
            self.count(|c| c.over_concurrency += 1);
            rec.error = Some(TOO_MANY_CONCURRENT.into());
            return Outcome::plain(google_error(429, TOO_MANY_CONCURRENT));
        }
        self.count(|c| c.max_in_flight = c.max_in_flight.max(in_flight));
        if !options.latency.is_zero() {
            sleep_unless(&self.shutdown, options.latency);
        }
        let fate = faults::fate(options, number);
        match fate {
            Fate::Fail { status } => {
                self.count(|c| c.failed += 1);
                rec.fault = Some("fail".into());
                let message = if status == 503 {
                    "The service is currently unavailable."
                } else {
                    "An internal error has occurred."
                };
                rec.error = Some(message.into());
                return Outcome::plain(google_error(status, message));
            }
            Fate::RateLimited => {
                self.count(|c| c.rate_limited += 1);
                rec.fault = Some("rate_limit".into());
                rec.error = Some(RATE_QUOTA.into());
                return Outcome::plain(google_error(429, RATE_QUOTA));
            }
            Fate::Serve | Fate::Truncate | Fate::Stall(_) => {}
        }
        let response = match body.and_then(|b| render(b, options, rec)) {
            Ok(r) => r,
            Err(message) => {
                rec.error = Some(message.clone());
                google_error(400, &message)
            }
        };
        let mut outcome = Outcome {
            response,
            truncate: false,
            stall: None,
            _slot: Some(slot),
        };
        match fate {
            Fate::Truncate => {
                self.count(|c| c.truncated += 1);
                rec.fault = Some("truncate".into());
                outcome.truncate = true;
            }
            Fate::Stall(delay) => {
                if delay.is_some() {
                    self.count(|c| c.delayed += 1);
                    rec.fault = Some("delay".into());
                } else {
                    self.count(|c| c.stalled += 1);
                    rec.fault = Some("stall".into());
                    // A reply that never comes holds no slot: it would
                    // otherwise lock out every later request.
                    outcome._slot = None;
                }
                outcome.stall = Some(delay);
            }
            _ => {}
        }
        outcome
    }

    /// The answer of a control route under [`CONTROL_PREFIX`], `None` for
    /// any other path.
    fn control(&self, req: &http::Request) -> Option<Response> {
        let route = req.path.strip_prefix(CONTROL_PREFIX)?;
        let resp = match (req.method.as_str(), route) {
            ("GET", "requests") => Response::json(200, &json!(*lock(&self.requests))),
            ("GET", "counts") => Response::json(200, &json!(*lock(&self.counts))),
            ("GET", "options") => Response::json(200, &options_json(&self.options())),
            ("GET", "key") => Response::new(
                200,
                "application/json",
                auth::key_json(&self.token_uri()).into_bytes(),
            ),
            ("POST", "reset") => {
                self.reset();
                Response::json(200, &json!({"reset": true}))
            }
            ("POST", "options") => match serde_json::from_slice::<Value>(&req.body) {
                Ok(Value::Object(changes)) => {
                    let mut o = lock(&self.options);
                    match apply_options(&mut o, &changes) {
                        Ok(()) => Response::json(200, &options_json(&o)),
                        Err(e) => Response::error(400, &e),
                    }
                }
                _ => Response::error(400, "the body must be a JSON object of options"),
            },
            (_, "requests" | "counts" | "key") => {
                Response::error(405, &format!("{CONTROL_PREFIX}{route} only answers GET"))
            }
            (_, "reset") => {
                Response::error(405, &format!("{CONTROL_PREFIX}{route} only answers POST"))
            }
            _ => Response::error(404, &format!("no control route {:?}", req.path)),
        };
        Some(resp)
    }

    fn reset(&self) {
        lock(&self.requests).clear();
        *lock(&self.counts) = EeCounts::default();
    }

    fn respond(&self, req: &http::Request) -> Outcome<'_> {
        if req.path == "/token" {
            return Outcome::plain(if req.method == "POST" {
                self.token(req)
            } else {
                Response::json(
                    405,
                    &json!({"error": "invalid_request", "error_description": "Use POST."}),
                )
            });
        }
        if let Some(project) = req
            .path
            .strip_prefix("/v1/projects/")
            .and_then(|rest| rest.strip_suffix("/image:computePixels"))
            .filter(|p| !p.is_empty() && !p.contains('/'))
        {
            if req.method != "POST" {
                return Outcome::plain(google_error(
                    404,
                    &format!("Method not found: {} {}.", req.method, req.path),
                ));
            }
            return self.compute_pixels(req, project);
        }
        Outcome::plain(google_error(
            404,
            &format!(
                "The emulator has no {} {}; it serves POST /token and \
                 POST /v1/projects/{{project}}/image:computePixels.",
                req.method, req.path
            ),
        ))
    }

    /// Serves one connection until it closes or the emulator stops.
    fn serve_connection(&self, stream: TcpStream) {
        let Ok(mut conn) = Connection::new(stream) else {
            return;
        };
        loop {
            let req = match conn.read_request(&self.shutdown) {
                Ok(req) => req,
                Err(ReadError::Closed) => return,
                Err(ReadError::Bad(status, msg)) => {
                    let _ = write_response(
                        &mut conn.stream,
                        google_error(status, &msg),
                        false,
                        false,
                        true,
                        None,
                    );
                    return;
                }
            };
            let head_only = req.method == "HEAD";
            let outcome = match self.control(&req) {
                Some(resp) => Outcome::plain(resp),
                None => self.respond(&req),
            };
            match outcome.stall {
                Some(None) => {
                    conn.wait_closed(&self.shutdown);
                    return;
                }
                Some(Some(delay)) => sleep_unless(&self.shutdown, delay),
                None => {}
            }
            let close = req.close || outcome.truncate;
            let written = write_response(
                &mut conn.stream,
                outcome.response,
                head_only,
                outcome.truncate,
                close,
                None,
            );
            if written.is_err() || close {
                let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

fn body_bytes(r: &Response) -> &[u8] {
    match &r.body {
        http::Body::Bytes(b) => b,
        http::Body::File { .. } => &[],
    }
}

/// Evaluates and encodes a request that passed authentication; `Err` is
/// a 400 message.
fn render(
    body: ComputeBody,
    options: &EeOptions,
    rec: &mut RecordedRequest,
) -> Result<Response, String> {
    let (mut image, observed) = expression::evaluate(&body.expression)?;
    rec.collection = observed.collection;
    rec.date_range = observed.date_range;
    rec.clip = observed.clip;
    if let Some(ids) = &body.band_ids {
        let mut picks = Vec::with_capacity(ids.len());
        for id in ids {
            let pick = image
                .bands
                .iter()
                .position(|b| &b.name == id)
                .ok_or_else(|| {
                    format!(
                        "bandIds: band '{id}' does not exist in the image (bands: {}).",
                        image
                            .bands
                            .iter()
                            .map(|b| b.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            if picks.contains(&pick) {
                return Err(format!("bandIds: band '{id}' is requested twice."));
            }
            picks.push(pick);
        }
        image = image.select(&picks, None);
    }
    if image.bands.is_empty() {
        return Err(
            "The image has no bands (a mosaic of a collection filtered to no images has none)."
                .into(),
        );
    }
    let format = body.file_format.as_str();
    if format != "NPY" && format != "GEO_TIFF" {
        return Err(format!(
            "fileFormat {format} is not supported by the emulator (NPY and GEO_TIFF are)."
        ));
    }
    if format == "GEO_TIFF"
        && let Some(ty) = geotiff::sample_type(image.bands.iter().map(|b| b.ty))
    {
        image = image.cast(ty);
    }
    let grid = &body.grid;
    if grid.width > options.max_side || grid.height > options.max_side {
        return Err(format!(
            "Grid dimensions ({}x{}) must each be less than or equal to {}.",
            grid.width, grid.height, options.max_side
        ));
    }
    if image.bands.len() > options.max_bands {
        return Err(format!(
            "Number of bands ({}) must be less than or equal to {}.",
            image.bands.len(),
            options.max_bands
        ));
    }
    let bytes = u64::from(grid.width) * u64::from(grid.height) * image.pixel_bytes() as u64;
    if bytes > options.max_bytes {
        return Err(format!(
            "Total request size ({bytes} bytes) must be less than or equal to {} bytes.",
            options.max_bytes
        ));
    }
    let pixels = image.render(grid);
    rec.bands = image.bands.iter().map(|b| b.name.clone()).collect();
    if format == "NPY" {
        let mut out = npy::header(&image.bands, grid.width, grid.height)?;
        out.extend_from_slice(&pixels);
        Ok(Response::new(200, "application/octet-stream", out))
    } else {
        let ty = image.bands[0].ty;
        let tiff = geotiff::encode(&pixels, image.bands.len(), ty, grid)
            .map_err(|e| format!("The GeoTIFF could not be written: {e}."))?;
        Ok(Response::new(200, "image/tiff", tiff))
    }
}

/// The options a control request may read and change, as JSON.
fn options_json(o: &EeOptions) -> Value {
    json!({
        "max_bytes": o.max_bytes,
        "max_side": o.max_side,
        "max_bands": o.max_bands,
        "max_concurrent": o.max_concurrent,
        "token_lifetime_s": o.token_lifetime.as_secs_f64(),
        "seed": o.seed,
        "fail_fraction": o.fail_fraction,
        "rate_limit_fraction": o.rate_limit_fraction,
        "truncate_fraction": o.truncate_fraction,
        "stall_fraction": o.stall.fraction,
        "stall_delay_s": o.stall.delay.map(|d| d.as_secs_f64()),
        "latency_s": o.latency.as_secs_f64(),
    })
}

/// Applies `POST /__geocube/options`: any of the keys of [`options_json`];
/// `stall_delay_s: null` makes stalls never answer.
fn apply_options(
    o: &mut EeOptions,
    changes: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    let fraction = |k: &str, v: &Value| {
        v.as_f64()
            .filter(|f| (0.0..=1.0).contains(f))
            .ok_or_else(|| format!("{k} must be a number from 0 to 1"))
    };
    let seconds = |k: &str, v: &Value| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{k} must be a non-negative number of seconds"))
    };
    let count = |k: &str, v: &Value| {
        v.as_u64()
            .ok_or_else(|| format!("{k} must be a non-negative integer"))
    };
    for (k, v) in changes {
        match k.as_str() {
            "max_bytes" => o.max_bytes = count(k, v)?,
            "max_side" => o.max_side = u32::try_from(count(k, v)?).map_err(|e| e.to_string())?,
            "max_bands" => {
                o.max_bands = usize::try_from(count(k, v)?).map_err(|e| e.to_string())?
            }
            "max_concurrent" => {
                o.max_concurrent = usize::try_from(count(k, v)?).map_err(|e| e.to_string())?;
            }
            "token_lifetime_s" => o.token_lifetime = seconds(k, v)?,
            "seed" => o.seed = count(k, v)?,
            "fail_fraction" => o.fail_fraction = fraction(k, v)?,
            "rate_limit_fraction" => o.rate_limit_fraction = fraction(k, v)?,
            "truncate_fraction" => o.truncate_fraction = fraction(k, v)?,
            "stall_fraction" => o.stall.fraction = fraction(k, v)?,
            "stall_delay_s" => {
                o.stall.delay = if v.is_null() {
                    None
                } else {
                    Some(seconds(k, v)?)
                };
            }
            "latency_s" => o.latency = seconds(k, v)?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(())
}

/// A running emulator; stops (and joins all its threads) on drop.
///
/// Routes:
/// - `POST /token`: the service-account JWT grant (see the module docs);
/// - `POST /v1/projects/{project}/image:computePixels`;
/// - control routes for tests in another process (`cargo xtask serve-ee`)
///   under [`CONTROL_PREFIX`], never counted, recorded or faulted:
///   `GET /__geocube/requests` (the [`RecordedRequest`]s as JSON),
///   `GET /__geocube/counts` ([`EeCounts`]), `GET /__geocube/key` (the key
///   file), `GET|POST /__geocube/options` (read or change limits, faults,
///   latency and token lifetime: `{"fail_fraction": 0.1,
///   "stall_delay_s": null, ...}`) and `POST /__geocube/reset`.
pub struct EeEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    threads: ServerThreads,
}

impl std::fmt::Debug for EeEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EeEmulator")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl EeEmulator {
    /// Starts the emulator on 127.0.0.1 ([`EeOptions::port`], 0 for a free
    /// one).
    ///
    /// # Errors
    /// [`Error::Server`] if the port cannot be bound or the threads not
    /// started.
    pub fn start(options: EeOptions) -> Result<Self> {
        let listener =
            TcpListener::bind(("127.0.0.1", options.port)).map_err(|source| Error::Server {
                action: "binding 127.0.0.1",
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Server {
            action: "reading the bound address",
            source,
        })?;
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            options: Mutex::new(options),
            shutdown: AtomicBool::new(false),
            tokens: Mutex::new(Tokens::default()),
            requests: Mutex::new(Vec::new()),
            counts: Mutex::new(EeCounts::default()),
            next_request: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        });
        let threads = ServerThreads::spawn(
            listener,
            &shared,
            |s: &Shared| &s.shutdown,
            Shared::serve_connection,
            "ee-emulator",
        )
        .map_err(|source| Error::Server {
            action: "spawning the accept thread",
            source,
        })?;
        Ok(Self {
            shared,
            addr,
            threads,
        })
    }

    /// The API root, `http://127.0.0.1:PORT/`: a client posts to
    /// `{url}v1/projects/{project}/image:computePixels`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("{}/", self.shared.base_url)
    }

    /// `{url}v1/projects/{project}/image:computePixels`.
    #[must_use]
    pub fn compute_pixels_url(&self, project: &str) -> String {
        format!("{}v1/projects/{project}/image:computePixels", self.url())
    }

    /// The token endpoint, `http://127.0.0.1:PORT/token` (the key's
    /// `token_uri`).
    #[must_use]
    pub fn token_uri(&self) -> String {
        self.shared.token_uri()
    }

    /// A service-account JSON key (`type`, `project_id`, `private_key_id`,
    /// `private_key`, `client_email`, `token_uri` = [`Self::token_uri`], …)
    /// whose JWTs this emulator accepts.
    #[must_use]
    pub fn key_json(&self) -> String {
        auth::key_json(&self.token_uri())
    }

    /// Writes [`Self::key_json`] to `path`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn write_key(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.key_json()).map_err(|e| Error::io(path, e))
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every computePixels call since the start or the last reset, in the
    /// order they were answered.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The counters.
    #[must_use]
    pub fn counts(&self) -> EeCounts {
        *lock(&self.shared.counts)
    }

    /// Clears the recorded requests and the counters. Minted tokens stay
    /// valid, and the request numbering that fault decisions use goes on,
    /// so faults stay deterministic.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// The current options.
    #[must_use]
    pub fn options(&self) -> EeOptions {
        self.shared.options()
    }

    fn update(&self, f: impl FnOnce(&mut EeOptions)) {
        f(&mut lock(&self.shared.options));
    }

    /// Sets [`EeOptions::fail_fraction`] for the requests to come.
    pub fn set_fail_fraction(&self, fraction: f64) {
        self.update(|o| o.fail_fraction = fraction);
    }

    /// Sets [`EeOptions::rate_limit_fraction`] for the requests to come.
    pub fn set_rate_limit_fraction(&self, fraction: f64) {
        self.update(|o| o.rate_limit_fraction = fraction);
    }

    /// Sets [`EeOptions::truncate_fraction`] for the requests to come.
    pub fn set_truncate_fraction(&self, fraction: f64) {
        self.update(|o| o.truncate_fraction = fraction);
    }

    /// Sets [`EeOptions::stall`] for the requests to come.
    pub fn set_stall(&self, stall: Stall) {
        self.update(|o| o.stall = stall);
    }

    /// Sets [`EeOptions::latency`] for the requests to come.
    pub fn set_latency(&self, latency: Duration) {
        self.update(|o| o.latency = latency);
    }

    /// Sets [`EeOptions::max_concurrent`] for the requests to come.
    pub fn set_max_concurrent(&self, max: usize) {
        self.update(|o| o.max_concurrent = max);
    }

    /// Sets [`EeOptions::token_lifetime`] for tokens minted from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.update(|o| o.token_lifetime = lifetime);
    }

    /// Stops serving and joins every thread; what dropping does.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.threads.stop(&self.shared.shutdown);
    }
}

impl Drop for EeEmulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}
