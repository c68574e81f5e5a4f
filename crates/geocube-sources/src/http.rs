//! A small blocking HTTP client: timeouts, byte ranges, JSON, downloads to
//! files, and retries of transient failures.
//!
//! Built on `reqwest`'s blocking client with rustls (the TLS stack icechunk
//! already brings in). Never call it from inside an async runtime.
//!
//! Every response body is checked against what was announced
//! (`Content-Length`, `Content-Range`, the range asked for): a body cut short
//! is a retryable [`Error::Transport`], never partial data.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use serde_json::Value;

use geocube_core::RetryPolicy;

use crate::error::{Error, Result};

/// Largest JSON document accepted (a STAC page or item).
const MAX_JSON_BYTES: u64 = 64 << 20;

/// Timeouts and retries of an [`HttpClient`].
#[derive(Clone, Debug, PartialEq)]
pub struct HttpConfig {
    /// Time allowed to establish a connection (default 10 s).
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included (default 120 s).
    pub timeout: Duration,
    /// Attempts per request and the waits between them (default
    /// [`RetryPolicy::http`]: 4 tries, 100 ms doubling to 2 s). Only
    /// transient failures ([`Error::is_retryable`]) are retried; the backend
    /// retries whole downloads on top of this.
    pub retry: RetryPolicy,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            retry: RetryPolicy::http(),
            user_agent: concat!("geocube/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Bytes of a range request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeBytes {
    /// The bytes, `start..start + bytes.len()`; shorter than asked only
    /// where the file ends.
    pub bytes: Vec<u8>,
    /// Total size of the file, when the server said.
    pub total: Option<u64>,
}

/// A blocking HTTP client with timeouts and retries. Cheap to clone (the
/// connection pool is shared).
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client,
    config: HttpConfig,
}

impl HttpClient {
    /// A client with `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when the TLS backend cannot be initialised.
    pub fn new(config: HttpConfig) -> Result<Self> {
        let client = Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, config })
    }

    /// The client's configuration.
    #[must_use]
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Run `op` until it succeeds, fails permanently or runs out of tries.
    fn retrying<T>(&self, mut op: impl FnMut() -> Result<T>) -> Result<T> {
        self.config
            .retry
            .run(
                |_| op(),
                |e, attempt| {
                    let retry = e.is_retryable();
                    if retry {
                        tracing::debug!(attempt, error = %e, "retrying HTTP request");
                    }
                    retry
                },
            )
            .map_err(|exhausted| exhausted.error)
    }

    fn send(url: &str, req: RequestBuilder) -> Result<Response> {
        let resp = req.send().map_err(|e| transport(url, &e))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        // A short excerpt of the body helps with API errors; failures reading it don't matter.
        let mut text = String::new();
        let _ = resp.take(512).read_to_string(&mut text);
        Err(Error::Http {
            url: url.to_owned(),
            status,
            message: text.trim().to_owned(),
        })
    }

    /// GET a JSON document.
    ///
    /// # Errors
    /// [`Error::Http`], [`Error::Transport`] (after retries);
    /// [`Error::InvalidResponse`] when the body is not JSON.
    pub fn get_json(&self, url: &str) -> Result<Value> {
        self.retrying(|| {
            let resp = Self::send(
                url,
                self.client
                    .get(url)
                    .header("Accept", "application/json, application/geo+json"),
            )?;
            parse_json(url, &read_body(url, resp, MAX_JSON_BYTES)?)
        })
    }

    /// POST a JSON body, read a JSON answer.
    ///
    /// # Errors
    /// As [`HttpClient::get_json`].
    pub fn post_json(&self, url: &str, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Config(format!("cannot encode a request body: {e}")))?;
        self.retrying(|| {
            let req = self
                .client
                .post(url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, application/geo+json")
                .body(bytes.clone());
            let resp = Self::send(url, req)?;
            parse_json(url, &read_body(url, resp, MAX_JSON_BYTES)?)
        })
    }

    /// GET `len` bytes from `start` (`Range: bytes=start-(start+len-1)`).
    /// A server that ignores ranges (200 with the whole file) is handled.
    /// Asking past the end of the file gives the bytes up to its end.
    ///
    /// # Errors
    /// [`Error::Http`], [`Error::Transport`] (after retries), including a
    /// body shorter than the range the server announced.
    pub fn get_range(&self, url: &str, start: u64, len: u64) -> Result<RangeBytes> {
        if len == 0 {
            return Ok(RangeBytes {
                bytes: Vec::new(),
                total: None,
            });
        }
        let end = start.saturating_add(len - 1);
        self.retrying(|| {
            let req = self
                .client
                .get(url)
                .header(RANGE, format!("bytes={start}-{end}"));
            let resp = match Self::send(url, req) {
                // Entirely past the end of the file.
                Err(Error::Http { status: 416, .. }) => {
                    return Ok(RangeBytes {
                        bytes: Vec::new(),
                        total: None,
                    });
                }
                other => other?,
            };
            if resp.status().as_u16() == 206 {
                let (first, last, total) = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range)
                    .ok_or_else(|| Error::InvalidResponse {
                        url: url.to_owned(),
                        reason: "206 Partial Content without a valid Content-Range".into(),
                    })?;
                if first != start || last > end {
                    return Err(Error::InvalidResponse {
                        url: url.to_owned(),
                        reason: format!("asked for bytes {start}-{end}, got {first}-{last}"),
                    });
                }
                let want = last - first + 1;
                let bytes = read_body(url, resp, want)?;
                check_len(url, bytes.len(), want)?;
                Ok(RangeBytes { bytes, total })
            } else {
                // 200: the whole file.
                let total_hint = content_length(&resp);
                let bytes = read_body(url, resp, u64::MAX)?;
                if let Some(n) = total_hint {
                    check_len(url, bytes.len(), n)?;
                }
                let total = bytes.len() as u64;
                let lo = usize::try_from(start.min(total)).unwrap_or(usize::MAX);
                let hi = usize::try_from(end.saturating_add(1).min(total)).unwrap_or(usize::MAX);
                Ok(RangeBytes {
                    bytes: bytes.get(lo..hi).map(<[u8]>::to_vec).unwrap_or_default(),
                    total: Some(total),
                })
            }
        })
    }

    /// GET `url` into the file `dest`, written to a temporary file beside it
    /// and renamed into place only when complete. Returns the size.
    ///
    /// # Errors
    /// [`Error::Http`], [`Error::Transport`] (after retries), [`Error::Io`].
    pub fn download_to_file(&self, url: &str, dest: &Path) -> Result<u64> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "download".into());
        let tmp = dir.join(format!(".{name}.{}.part", std::process::id()));
        let result = self.retrying(|| {
            let mut resp = Self::send(url, self.client.get(url))?;
            let announced = content_length(&resp);
            let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let mut written = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = resp.read(&mut buf).map_err(|e| io_transport(url, &e))?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n]).map_err(|e| Error::io(&tmp, e))?;
                written += n as u64;
            }
            if let Some(want) = announced {
                check_len(url, usize::try_from(written).unwrap_or(usize::MAX), want)?;
            }
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
            Ok(written)
        });
        match result {
            Ok(n) => {
                std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
                Ok(n)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

fn transport(url: &str, e: &reqwest::Error) -> Error {
    // Only a request we built wrongly is permanent; connect errors, timeouts,
    // resets and bodies cut short are all worth another try.
    let retryable = !e.is_builder() && !e.is_redirect();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the response body was cut short or unreadable"
    } else {
        "request failed"
    };
    let mut reason = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        reason.push_str(&format!(": {s}"));
        src = s.source();
    }
    Error::Transport {
        url: url.to_owned(),
        reason,
        retryable,
    }
}

fn io_transport(url: &str, e: &std::io::Error) -> Error {
    Error::Transport {
        url: url.to_owned(),
        reason: format!("reading the response body failed: {e}"),
        retryable: true,
    }
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn check_len(url: &str, got: usize, want: u64) -> Result<()> {
    if got as u64 == want {
        Ok(())
    } else {
        Err(Error::Transport {
            url: url.to_owned(),
            reason: format!("truncated body: got {got} of {want} bytes"),
            retryable: true,
        })
    }
}

/// Read the body, at most `limit` bytes (more is an error, not a cut).
fn read_body(url: &str, resp: Response, limit: u64) -> Result<Vec<u8>> {
    let announced = content_length(&resp);
    if let Some(n) = announced
        && n > limit
    {
        return Err(Error::InvalidResponse {
            url: url.to_owned(),
            reason: format!("body of {n} bytes exceeds the {limit}-byte limit"),
        });
    }
    let mut out =
        Vec::with_capacity(usize::try_from(announced.unwrap_or(0).min(64 << 20)).unwrap_or(0));
    resp.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| io_transport(url, &e))?;
    if out.len() as u64 > limit {
        return Err(Error::InvalidResponse {
            url: url.to_owned(),
            reason: format!("body exceeds the {limit}-byte limit"),
        });
    }
    if let Some(n) = announced {
        check_len(url, out.len(), n)?;
    }
    Ok(out)
}

fn parse_json(url: &str, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidResponse {
        url: url.to_owned(),
        reason: format!("not valid JSON: {e}"),
    })
}

/// `bytes first-last/total` (total may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (first, last) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first, last, total))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((0, 99, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5, 5, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes 0-x/2"), None);
    }
}
