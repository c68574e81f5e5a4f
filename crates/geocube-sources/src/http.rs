//! A small blocking HTTP client: deadlines, byte ranges, JSON, downloads to
//! files, and retries of transient failures.
//!
//! Built on `reqwest`'s blocking client with rustls (the TLS stack icechunk
//! already brings in). Never call it from inside an async runtime.
//!
//! Every network call has deadlines ([`HttpConfig`]): to connect, for the
//! response headers, between body bytes, for the whole request, and a
//! minimum transfer rate. reqwest's blocking client has only one timeout
//! besides the connect one, and it is not a whole-request deadline: it
//! bounds sending the request until the headers are in, and then every
//! single body read afresh, so a server that sends a byte now and then
//! keeps a request alive forever. (The async client's `read_timeout` would
//! panic here: its body timer needs a Tokio runtime on the reading
//! thread.) So reqwest's timeout is our read timeout, and the
//! whole-request deadline and the minimum rate are checked here after
//! every body read (`BodyWatch`). A fired deadline is
//! [`Error::TimedOut`] naming the URL, the deadline and its figures.
//!
//! Every response body is checked against what was announced
//! (`Content-Length`, `Content-Range`, the range asked for): a body cut short
//! is a retryable [`Error::Transport`], never partial data.

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use serde_json::Value;

use geocube_core::RetryPolicy;
use geocube_core::geojson::{MAX_JSON_COST, json_cost};

use crate::error::{Error, Result};

/// Largest JSON document accepted (a STAC page or item).
const MAX_JSON_BYTES: u64 = 64 << 20;

/// Deadlines, retries and identity of an [`HttpClient`].
///
/// # The defaults, and why
///
/// A slow server must end a whole `geocube load` with a clear error within
/// about a minute, while a slow but working link (100 KB/s) must still
/// load. Per attempt of a request:
///
/// - a server that never accepts costs [`connect_timeout`](Self::connect_timeout), 10 s;
/// - one that accepts and never answers costs [`read_timeout`](Self::read_timeout), 20 s;
/// - one that trickles (1 B/s) costs the [`min_rate`](Self::min_rate) window, 10 s.
///
/// A request whose attempts hit such a deadline is tried at most
/// [`deadline_tries`](Self::deadline_tries) = 2 times (other transient
/// failures, 503s or resets, get all of [`retry`](Self::retry)'s 4), and a
/// timed-out download is not retried again by the backend (see
/// [`Error::TimedOut`]). So the first request to such a server ends the
/// load: a stall after 2 × 20 s plus a 0.1 s backoff, about 40 s; a
/// trickle after 2 × 10 s; the worst mix (headers just inside 20 s, then
/// silence for 20 s) after 80 s, whatever the retry settings of the
/// backend.
///
/// On a working link: a STAC API answers a search in a few seconds at
/// worst, well inside 20 s; the largest request geocube makes, a coalesced
/// COG range of up to 16 MiB, takes 170 s at 100 KB/s, inside the 300 s
/// whole-request deadline; 100 KB/s is a hundred times the minimum rate.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpConfig {
    /// Time allowed to establish a connection, TLS included (default 10 s:
    /// a healthy connect takes well under a second, and 10 s rides out
    /// three lost SYNs).
    pub connect_timeout: Duration,
    /// Longest silence of the server (default 20 s): time from sending a
    /// request (connecting included) until the response headers are in,
    /// and then the longest wait for the next bytes of the body.
    pub read_timeout: Duration,
    /// Time allowed for a whole request with its body (default 300 s). Not
    /// applied to [`HttpClient::download_to_file`], whose size is not
    /// known in advance (the minimum rate still is).
    pub request_timeout: Duration,
    /// A body that brings fewer bytes than this over any window of its
    /// transfer, counted from the headers on, fails (default 10 KiB over
    /// 10 s, 1 KiB/s; `None`: no minimum). A trickle fails as soon as one
    /// window has passed.
    pub min_rate: Option<MinRate>,
    /// Attempts per request and the waits between them (default
    /// [`RetryPolicy::http`]: 4 tries, 100 ms doubling to 2 s). Only
    /// transient failures ([`Error::is_retryable`]) are retried; the backend
    /// retries whole downloads on top of this, except timed-out ones.
    pub retry: RetryPolicy,
    /// Attempts of one request that may hit a deadline before it fails
    /// (default 2). One retry covers a connection that died silently; more
    /// only multiply the wait on a server that is slow for everyone.
    pub deadline_tries: u32,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(300),
            min_rate: Some(MinRate {
                bytes: 10 << 10,
                window: Duration::from_secs(10),
            }),
            retry: RetryPolicy::http(),
            deadline_tries: 2,
            user_agent: concat!("geocube/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// The slowest acceptable transfer: at least `bytes` in every `window`
/// (curl's `--speed-limit` and `--speed-time` in one).
///
/// Parsed from `BYTES/SECONDS`, the bytes with an optional `B`, `KiB`
/// (or `K`) or `MiB` (or `M`) and the seconds with an optional `s`:
/// `10KiB/10s`, `10240/10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes that must arrive in every window.
    pub bytes: u64,
    /// The window (at least a millisecond).
    pub window: Duration,
}

impl FromStr for MinRate {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "invalid minimum rate `{text}`: give BYTES/SECONDS, e.g. 10KiB/10s"
            ))
        };
        let (bytes, secs) = text.split_once('/').ok_or_else(bad)?;
        let bytes = bytes.trim();
        let (digits, unit) = bytes.split_at(
            bytes
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(bytes.len()),
        );
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "K" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            _ => return Err(bad()),
        };
        let bytes = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .ok_or_else(bad)?;
        let secs = secs.trim();
        let window = secs
            .strip_suffix('s')
            .unwrap_or(secs)
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|w| *w >= Duration::from_millis(1))
            .ok_or_else(bad)?;
        Ok(Self { bytes, window })
    }
}

/// Which deadline of [`HttpConfig`] fired, with its figures; the
/// `deadline` of [`Error::TimedOut`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deadline {
    /// No connection within `limit` ([`HttpConfig::connect_timeout`]).
    Connect {
        /// The deadline.
        limit: Duration,
    },
    /// No response headers within `limit` of sending the request
    /// ([`HttpConfig::read_timeout`]).
    Headers {
        /// The deadline.
        limit: Duration,
    },
    /// The body stopped: no bytes for `limit` ([`HttpConfig::read_timeout`]).
    Idle {
        /// The deadline.
        limit: Duration,
        /// Body bytes received before.
        got: u64,
    },
    /// The body came slower than [`HttpConfig::min_rate`].
    Rate {
        /// The minimum.
        min: MinRate,
        /// Bytes received over the last window.
        got: u64,
    },
    /// The whole request took longer than `limit`
    /// ([`HttpConfig::request_timeout`]).
    Request {
        /// The deadline.
        limit: Duration,
        /// Body bytes received by then.
        got: u64,
    },
}

impl Deadline {
    /// Whether another attempt may beat it: all but the whole-request
    /// deadline, which a transfer that was merely slow would miss again.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Deadline::Request { .. })
    }

    /// The sentence for this deadline, naming `url` when given.
    #[must_use]
    pub fn describe(&self, url: Option<&str>) -> String {
        let from = url.map(|u| format!(" from {u}")).unwrap_or_default();
        let to = url.map(|u| format!(" to {u}")).unwrap_or_default();
        match *self {
            Deadline::Connect { limit } => {
                format!("no connection{to} within {}", secs(limit))
            }
            Deadline::Headers { limit } => {
                format!("no response headers{from} within {}", secs(limit))
            }
            Deadline::Idle { limit, got } => format!(
                "the body{from} stalled: no bytes for {} (got {})",
                secs(limit),
                bytes(got)
            ),
            Deadline::Rate { min, got } => {
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                let per_sec = (min.bytes as f64 / min.window.as_secs_f64()).round() as u64;
                format!(
                    "transfer{from} fell below {}/s over {} (got {})",
                    bytes(per_sec),
                    secs(min.window),
                    bytes(got)
                )
            }
            Deadline::Request { limit, got } => format!(
                "request{to} not completed within {} (got {})",
                secs(limit),
                bytes(got)
            ),
        }
    }
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(None))
    }
}

/// `20 s`, `0.5 s`.
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// `12 B`, `10 KiB`, `1.5 MiB`.
fn bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let unit = |scale: u64, name: &str| {
        let v = n as f64 / scale as f64;
        if v.fract() == 0.0 {
            format!("{v:.0} {name}")
        } else {
            format!("{v:.1} {name}")
        }
    };
    if n >= 1 << 20 {
        unit(1 << 20, "MiB")
    } else if n >= 1 << 10 {
        unit(1 << 10, "KiB")
    } else {
        format!("{n} B")
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

/// A blocking HTTP client with deadlines and retries. Cheap to clone (the
/// connection pool is shared).
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client,
    config: HttpConfig,
}

/// One response's body reads: the whole-request deadline and the minimum
/// rate, checked after every read, and read errors turned into the
/// deadline that fired. Each read waits at most [`HttpConfig::read_timeout`]
/// (reqwest's timeout), so a deadline is noticed that late at worst, and
/// then the body was silent for that long anyway.
struct BodyWatch<'a> {
    url: &'a str,
    config: &'a HttpConfig,
    /// When the request was sent.
    sent: Instant,
    /// Whether [`HttpConfig::request_timeout`] applies.
    whole_request: bool,
    /// Body bytes so far.
    got: u64,
    /// `(when, bytes so far then)`, oldest first: the window's history,
    /// one sample per eighth of a window so it stays short.
    history: VecDeque<(Instant, u64)>,
}

impl<'a> BodyWatch<'a> {
    fn new(url: &'a str, config: &'a HttpConfig, sent: Instant, whole_request: bool) -> Self {
        Self {
            url,
            config,
            sent,
            whole_request,
            got: 0,
            history: VecDeque::from([(Instant::now(), 0)]),
        }
    }

    fn timed_out(&self, deadline: Deadline) -> Error {
        Error::TimedOut {
            url: self.url.to_owned(),
            deadline,
        }
    }

    /// One read of the body, then the minimum rate.
    fn read(&mut self, resp: &mut Response, buf: &mut [u8]) -> Result<usize> {
        let n = resp.read(buf).map_err(|e| {
            let timed_out = e
                .get_ref()
                .and_then(|r| r.downcast_ref::<reqwest::Error>())
                .is_some_and(reqwest::Error::is_timeout)
                || e.kind() == std::io::ErrorKind::TimedOut;
            let limit = self.config.request_timeout;
            if timed_out && self.whole_request && self.sent.elapsed() >= limit {
                self.timed_out(Deadline::Request {
                    limit,
                    got: self.got,
                })
            } else if timed_out {
                self.timed_out(Deadline::Idle {
                    limit: self.config.read_timeout,
                    got: self.got,
                })
            } else {
                io_transport(self.url, &e)
            }
        })?;
        if n > 0 {
            self.got += n as u64;
            self.check(Instant::now())?;
        }
        Ok(n)
    }

    /// Up to `limit` bytes of the body, then the end of it.
    fn read_to_end(&mut self, resp: &mut Response, limit: u64, out: &mut Vec<u8>) -> Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let room = usize::try_from(limit.saturating_add(1) - out.len() as u64)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            if room == 0 {
                return Ok(());
            }
            let n = self.read(resp, &mut buf[..room])?;
            if n == 0 {
                return Ok(());
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn check(&mut self, now: Instant) -> Result<()> {
        let limit = self.config.request_timeout;
        if self.whole_request && now.duration_since(self.sent) > limit {
            return Err(self.timed_out(Deadline::Request {
                limit,
                got: self.got,
            }));
        }
        let Some(min) = self.config.min_rate else {
            return Ok(());
        };
        // The latest sample at or before the window's start counts as its
        // start: a little lenient (up to an eighth of a window), never strict.
        if let Some(start) = now.checked_sub(min.window) {
            while self.history.len() >= 2 && self.history[1].0 <= start {
                self.history.pop_front();
            }
            if let Some(&(when, before)) = self.history.front()
                && when <= start
                && self.got - before < min.bytes
            {
                return Err(self.timed_out(Deadline::Rate {
                    min,
                    got: self.got - before,
                }));
            }
        }
        if self
            .history
            .back()
            .is_none_or(|&(when, _)| now.duration_since(when) >= min.window / 8)
        {
            self.history.push_back((now, self.got));
        }
        Ok(())
    }
}

impl HttpClient {
    /// A client with `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when the TLS backend cannot be initialised.
    pub fn new(config: HttpConfig) -> Result<Self> {
        // reqwest's timeout is the read timeout: it bounds the wait for the
        // headers and then each body read (see the module's doc).
        let client = Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.read_timeout)
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

    /// Run `op` until it succeeds, fails permanently, runs out of tries or
    /// has hit [`HttpConfig::deadline_tries`] deadlines, saying so before
    /// every retry.
    /// `what` names the request in the retry line (`GET URL`).
    fn retrying<T>(&self, what: &str, mut op: impl FnMut() -> Result<T>) -> Result<T> {
        let mut deadlines = 0;
        let deadline_tries = self.config.deadline_tries.max(1);
        self.config
            .retry
            .run_with_backoff(
                |_| op(),
                |e, next| {
                    if !e.is_retryable() {
                        return false;
                    }
                    let mut last = next.max_tries;
                    if matches!(e, Error::TimedOut { .. }) {
                        deadlines += 1;
                        if deadlines >= deadline_tries {
                            return false;
                        }
                        // The last attempt if every one left times out too.
                        last = last.min(next.attempt - 1 + deadline_tries - deadlines);
                    }
                    tracing::warn!(
                        "retrying {what} (attempt {} of {last}) after {:.1} s: {}",
                        next.attempt,
                        next.delay.as_secs_f64(),
                        e.detail()
                    );
                    true
                },
            )
            .map_err(|exhausted| exhausted.error)
    }

    /// Send `req`, under the whole-request deadline if `whole_request`; the
    /// response and the watch of its body.
    fn send<'a>(
        &'a self,
        url: &'a str,
        req: RequestBuilder,
        whole_request: bool,
    ) -> Result<(Response, BodyWatch<'a>)> {
        let c = &self.config;
        // A whole-request deadline shorter than the read timeout must bound
        // the wait for the headers too. A per-request timeout does: it
        // replaces the read timeout, and reqwest then also ends the body at
        // that time, wherever the reads are.
        let (req, deadline) = if whole_request && c.request_timeout < c.read_timeout {
            (
                req.timeout(c.request_timeout),
                Deadline::Request {
                    limit: c.request_timeout,
                    got: 0,
                },
            )
        } else {
            (
                req,
                Deadline::Headers {
                    limit: c.read_timeout,
                },
            )
        };
        let sent = Instant::now();
        let mut resp = req.send().map_err(|e| {
            if e.is_timeout() && e.is_connect() {
                Error::TimedOut {
                    url: url.to_owned(),
                    deadline: Deadline::Connect {
                        limit: c.connect_timeout,
                    },
                }
            } else if e.is_timeout() {
                Error::TimedOut {
                    url: url.to_owned(),
                    deadline,
                }
            } else {
                transport(url, &e)
            }
        })?;
        let mut watch = BodyWatch::new(url, c, sent, whole_request);
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok((resp, watch));
        }
        // A short excerpt of the body helps with API errors; failures reading it don't matter.
        let mut text = Vec::new();
        let _ = watch.read_to_end(&mut resp, 511, &mut text);
        Err(Error::Http {
            url: url.to_owned(),
            status,
            message: String::from_utf8_lossy(&text).trim().to_owned(),
        })
    }

    /// GET a JSON document.
    ///
    /// # Errors
    /// [`Error::Http`], [`Error::Transport`], [`Error::TimedOut`] (after
    /// retries); [`Error::InvalidResponse`] when the body is not JSON.
    pub fn get_json(&self, url: &str) -> Result<Value> {
        self.retrying(&format!("GET {url}"), || {
            let (resp, mut watch) = self.send(
                url,
                self.client
                    .get(url)
                    .header("Accept", "application/json, application/geo+json"),
                true,
            )?;
            parse_json(url, &read_body(url, resp, &mut watch, MAX_JSON_BYTES)?)
        })
    }

    /// POST a JSON body, read a JSON answer.
    ///
    /// # Errors
    /// As [`HttpClient::get_json`].
    pub fn post_json(&self, url: &str, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Config(format!("cannot encode a request body: {e}")))?;
        self.retrying(&format!("POST {url}"), || {
            let req = self
                .client
                .post(url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, application/geo+json")
                .body(bytes.clone());
            let (resp, mut watch) = self.send(url, req, true)?;
            parse_json(url, &read_body(url, resp, &mut watch, MAX_JSON_BYTES)?)
        })
    }

    /// POST a form (`application/x-www-form-urlencoded`), read a JSON
    /// answer: an OAuth token request.
    ///
    /// # Errors
    /// As [`HttpClient::get_json`].
    pub fn post_form(&self, url: &str, body: Vec<u8>) -> Result<Value> {
        self.retrying(&format!("POST {url}"), || {
            let req = self
                .client
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .body(body.clone());
            let (resp, mut watch) = self.send(url, req, true)?;
            parse_json(url, &read_body(url, resp, &mut watch, MAX_JSON_BYTES)?)
        })
    }

    /// POST `body` once, without retries, with extra `headers`; the
    /// response body, at most `max_bytes`, checked against its
    /// `Content-Length`. For callers with a retry policy of their own (the
    /// Earth Engine client, which must renew a token or wait out a quota
    /// between attempts). Every deadline applies.
    ///
    /// # Errors
    /// [`Error::Http`] (with the start of the error body),
    /// [`Error::Transport`] (a body cut short among them),
    /// [`Error::TimedOut`], [`Error::InvalidResponse`] for a body over
    /// `max_bytes`.
    pub fn post_once(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        max_bytes: u64,
    ) -> Result<Vec<u8>> {
        let mut req = self.client.post(url).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (resp, mut watch) = self.send(url, req, true)?;
        read_body(url, resp, &mut watch, max_bytes)
    }

    /// GET `len` bytes from `start` (`Range: bytes=start-(start+len-1)`).
    /// A server that ignores ranges (200 with the whole file) is handled.
    /// Asking past the end of the file gives the bytes up to its end.
    ///
    /// # Errors
    /// [`Error::Http`], [`Error::Transport`], [`Error::TimedOut`] (after
    /// retries), including a body shorter than the range the server
    /// announced.
    pub fn get_range(&self, url: &str, start: u64, len: u64) -> Result<RangeBytes> {
        if len == 0 {
            return Ok(RangeBytes {
                bytes: Vec::new(),
                total: None,
            });
        }
        let end = start.saturating_add(len - 1);
        self.retrying(&format!("GET {url} bytes={start}-{end}"), || {
            let req = self
                .client
                .get(url)
                .header(RANGE, format!("bytes={start}-{end}"));
            let (resp, mut watch) = match self.send(url, req, true) {
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
                let bytes = read_body(url, resp, &mut watch, want)?;
                check_len(url, bytes.len(), want)?;
                Ok(RangeBytes { bytes, total })
            } else {
                // 200: the whole file.
                let total_hint = content_length(&resp);
                let bytes = read_body(url, resp, &mut watch, u64::MAX)?;
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
    /// Every deadline but [`HttpConfig::request_timeout`] applies: the
    /// file's size is not known in advance, and the minimum rate already
    /// ends a transfer that stops making progress.
    ///
    /// # Errors
    /// [`Error::Http`], [`Error::Transport`], [`Error::TimedOut`] (after
    /// retries), [`Error::Io`].
    pub fn download_to_file(&self, url: &str, dest: &Path) -> Result<u64> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "download".into());
        let tmp = dir.join(format!(".{name}.{}.part", std::process::id()));
        let result = self.retrying(&format!("GET {url}"), || {
            let (mut resp, mut watch) = self.send(url, self.client.get(url), false)?;
            let announced = content_length(&resp);
            let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let mut written = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = watch.read(&mut resp, &mut buf)?;
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
    // Only a request we built wrongly is permanent; connect errors, resets
    // and bodies cut short are all worth another try. (Timeouts are
    // `Error::TimedOut`, made by the caller.)
    let retryable = !e.is_builder() && !e.is_redirect();
    let kind = if e.is_connect() {
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
fn read_body(
    url: &str,
    mut resp: Response,
    watch: &mut BodyWatch<'_>,
    limit: u64,
) -> Result<Vec<u8>> {
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
    watch.read_to_end(&mut resp, limit, &mut out)?;
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
    let cost = json_cost(bytes);
    if cost > MAX_JSON_COST {
        return Err(Error::InvalidResponse {
            url: url.to_owned(),
            reason: format!(
                "the {}-byte JSON document would take about {} MiB parsed, more than {} MiB",
                bytes.len(),
                cost >> 20,
                MAX_JSON_COST >> 20
            ),
        });
    }
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
    fn json_that_would_parse_far_larger_is_refused_before_parsing() {
        let nested = "[".repeat(100) + &"]".repeat(100);
        let deep = format!("[{}]", vec![nested; 20_000].join(","));
        assert!(deep.len() < 5 << 20);
        let err = parse_json("u", deep.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("would take about"), "{err}");
    }

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

    #[test]
    fn min_rate_text() {
        let r = |t: &str| t.parse::<MinRate>().ok();
        let m = |bytes, secs| {
            Some(MinRate {
                bytes,
                window: Duration::from_secs(secs),
            })
        };
        assert_eq!(r("10KiB/10s"), m(10 << 10, 10));
        assert_eq!(r("10240/10"), m(10240, 10));
        assert_eq!(r(" 2M / 5 s"), m(2 << 20, 5));
        assert_eq!(r("0B/1"), m(0, 1));
        for bad in ["", "10", "10/0", "x/1", "10GiB/1", "10/-1", "10/xs"] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    #[test]
    fn deadlines_read_as_sentences() {
        let d = Duration::from_secs;
        let min = MinRate {
            bytes: 10 << 10,
            window: d(10),
        };
        assert_eq!(
            Deadline::Rate { min, got: 12 }.describe(Some("http://h/a")),
            "transfer from http://h/a fell below 1 KiB/s over 10 s (got 12 B)"
        );
        assert_eq!(
            Deadline::Connect { limit: d(10) }.to_string(),
            "no connection within 10 s"
        );
        assert_eq!(
            Deadline::Idle {
                limit: Duration::from_millis(2500),
                got: 3 << 19
            }
            .to_string(),
            "the body stalled: no bytes for 2.5 s (got 1.5 MiB)"
        );
        assert_eq!(
            Deadline::Request {
                limit: d(300),
                got: 0
            }
            .describe(Some("u")),
            "request to u not completed within 300 s (got 0 B)"
        );
        assert!(
            !Deadline::Request {
                limit: d(1),
                got: 0
            }
            .is_retryable()
        );
        assert!(Deadline::Headers { limit: d(1) }.is_retryable());
    }

    #[test]
    fn the_rate_is_judged_over_a_sliding_window() {
        let config = HttpConfig {
            min_rate: Some(MinRate {
                bytes: 100,
                window: Duration::from_secs(10),
            }),
            request_timeout: Duration::from_secs(60),
            ..HttpConfig::default()
        };
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = BodyWatch::new("u", &config, t0, true);
        w.history = VecDeque::from([(t0, 0)]);
        // 20 B/s for 15 s: fine, even before a window has passed.
        for s in 1..=15 {
            w.got += 20;
            w.check(at(s)).unwrap();
        }
        // Then 5 B/s: the window still holds enough of the fast part ...
        for s in 16..=21 {
            w.got += 5;
            w.check(at(s)).unwrap();
        }
        // ... until it does not.
        let mut failed = None;
        for s in 22..=30 {
            w.got += 5;
            if let Err(e) = w.check(at(s)) {
                failed = Some((s, e));
                break;
            }
        }
        let (s, e) = failed.expect("the slow part fails");
        assert!(s <= 26, "failed only at {s} s");
        assert!(
            matches!(
                e,
                Error::TimedOut {
                    deadline: Deadline::Rate { got, .. },
                    ..
                } if got < 100
            ),
            "{e}"
        );
        assert!(w.history.len() <= 10, "{} samples", w.history.len());

        // The whole-request deadline, applied or not.
        let mut w = BodyWatch::new("u", &config, t0, true);
        w.got = 1 << 20;
        w.history = VecDeque::from([(at(55), 0)]);
        assert!(matches!(
            w.check(at(61)),
            Err(Error::TimedOut {
                deadline: Deadline::Request { .. },
                ..
            })
        ));
        let mut w = BodyWatch::new("u", &config, t0, false);
        w.got = 1 << 20;
        w.history = VecDeque::from([(at(55), 0)]);
        w.check(at(61)).unwrap();
    }
}
