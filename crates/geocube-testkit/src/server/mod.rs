//! An HTTP server for a fixture directory, on 127.0.0.1, in background
//! threads: static files with byte ranges, a small STAC API (see
//! [`FixtureServer`]) and deterministic fault injection for resilience tests:
//! 503s, bodies cut short, and slow servers ([`Pace`]: one that never
//! answers, one that trickles its bodies).
//!
//! Hand-rolled on raw `std::net` sockets rather than built on a web
//! framework, on purpose: fault injection must cut a body short under a
//! true `Content-Length` and then close the connection, stall before
//! answering or pace a body byte by byte, which a framework's response
//! writer does not allow; it also
//! keeps the testkit's build small. Only the HTTP wire format is ours:
//! percent-decoding and query strings go through `percent-encoding` and
//! `form_urlencoded` (with a strictness check of our own, see
//! `http::parse_query`).

mod files;
pub(crate) mod http;
mod stac_api;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use self::http::{Connection, ReadError, Response, ServerThreads, Trickle, write_response};
use self::stac_api::StacApi;
pub use self::stac_api::StacApiError;
use crate::error::{Error, Result};
use crate::terrain::{splitmix64, unit};

/// Path prefix of the control routes, which expose the counters to a test
/// in another process (see [`FixtureServer`]).
pub const CONTROL_PREFIX: &str = "/__geocube/";

/// How the server behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Fraction (0–1) of requests answered with `503 Service Unavailable`.
    pub fail_fraction: f64,
    /// Fraction (0–1) of responses whose body is cut to half its length
    /// while `Content-Length` announces all of it; the connection is then
    /// closed.
    pub truncate_fraction: f64,
    /// Delay before every response.
    pub latency: Duration,
    /// Seed of the fault decisions.
    pub seed: u64,
    /// How promptly faulty requests are answered (default [`Pace::Prompt`]).
    pub pace: Pace,
    /// Only requests whose path starts with this prefix are subject to
    /// faults and to [`ServerOptions::pace`] (`None`: all requests).
    pub fault_path_prefix: Option<String>,
    /// Ignore the `query` of searches, as a STAC API without the query
    /// extension does (it then neither applies nor advertises it): for
    /// tests of a client's own filtering. Default `false`.
    pub ignore_query: bool,
}

/// How promptly the server answers the requests under
/// [`ServerOptions::fault_path_prefix`]: the slow servers a client's
/// deadlines must bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// As fast as the server can.
    #[default]
    Prompt,
    /// Read the request and never answer: the connection stays open and
    /// silent until the client hangs up or the server stops (a hung
    /// upstream behind a proxy that accepted the connection).
    Stall,
    /// Send the headers at once, then the body at this many bytes per
    /// second (a throttled or congested link; `1` is a byte a second).
    Trickle {
        /// Body bytes sent per second (at least 1).
        bytes_per_sec: u64,
    },
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            port: 0,
            fail_fraction: 0.0,
            truncate_fraction: 0.0,
            latency: Duration::ZERO,
            seed: 0,
            pace: Pace::Prompt,
            fault_path_prefix: None,
            ignore_query: false,
        }
    }
}

/// What fault injection did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests answered with an injected 503.
    pub failed: u64,
    /// Responses cut short.
    pub truncated: u64,
    /// Requests never answered ([`Pace::Stall`]).
    pub stalled: u64,
    /// Responses whose body was trickled ([`Pace::Trickle`]).
    pub trickled: u64,
}

/// The fate of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Serve,
    Fail,
    Truncate,
}

/// State shared by the accept loop and the connection threads.
struct Shared {
    root: PathBuf,
    base_url: String,
    options: ServerOptions,
    api: StacApi,
    shutdown: AtomicBool,
    /// Requests per path (query excluded).
    counts: Mutex<HashMap<String, u64>>,
    /// Attempts per request key, for per-key fault decisions.
    attempts: Mutex<HashMap<String, u64>>,
    failed: AtomicU64,
    truncated: AtomicU64,
    stalled: AtomicU64,
    trickled: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not disable the counters.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// FNV-1a, to turn a request key into a seed.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Shared {
    /// Whether faults and pacing apply to `req` (its path is under the prefix).
    fn faulty(&self, req: &http::Request) -> bool {
        self.options
            .fault_path_prefix
            .as_ref()
            .is_none_or(|p| req.path.starts_with(p.as_str()))
    }

    /// Decides the fate of a request from the seed, the request key
    /// (method, target, range) and how often that key was seen before, so
    /// that a run's faults do not depend on thread scheduling and a retry
    /// of a failed request gets a fresh draw.
    fn fate(&self, req: &http::Request) -> Fate {
        let o = &self.options;
        if (o.fail_fraction <= 0.0 && o.truncate_fraction <= 0.0) || !self.faulty(req) {
            return Fate::Serve;
        }
        let key = format!(
            "{} {} {}",
            req.method,
            req.target,
            req.header("range").unwrap_or_default()
        );
        let attempt = {
            let mut attempts = lock(&self.attempts);
            let n = attempts.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let r = unit(splitmix64(o.seed ^ fnv1a(&key) ^ splitmix64(attempt)));
        if r < o.fail_fraction {
            Fate::Fail
        } else if r < o.fail_fraction + o.truncate_fraction {
            Fate::Truncate
        } else {
            Fate::Serve
        }
    }

    /// The answer of a control route under [`CONTROL_PREFIX`], `None` for
    /// any other path.
    fn control(&self, req: &http::Request) -> Option<Response> {
        let route = req.path.strip_prefix(CONTROL_PREFIX)?;
        let resp = match (req.method.as_str(), route) {
            ("GET", "requests") => {
                let counts: BTreeMap<String, u64> = lock(&self.counts)
                    .iter()
                    .map(|(p, n)| (p.clone(), *n))
                    .collect();
                Response::json(200, &serde_json::json!(counts))
            }
            ("GET", "faults") => {
                let f = self.fault_counts();
                Response::json(
                    200,
                    &serde_json::json!({
                        "failed": f.failed,
                        "truncated": f.truncated,
                        "stalled": f.stalled,
                        "trickled": f.trickled,
                    }),
                )
            }
            ("POST", "reset") => {
                self.reset_counts();
                Response::json(200, &serde_json::json!({ "reset": true }))
            }
            (_, "requests" | "faults") => {
                Response::error(405, &format!("{CONTROL_PREFIX}{route} only answers GET"))
            }
            (_, "reset") => {
                Response::error(405, &format!("{CONTROL_PREFIX}{route} only answers POST"))
            }
            _ => Response::error(404, &format!("no control route {:?}", req.path)),
        };
        Some(resp)
    }

    fn fault_counts(&self) -> FaultCounts {
        FaultCounts {
            failed: self.failed.load(Ordering::Relaxed),
            truncated: self.truncated.load(Ordering::Relaxed),
            stalled: self.stalled.load(Ordering::Relaxed),
            trickled: self.trickled.load(Ordering::Relaxed),
        }
    }

    fn reset_counts(&self) {
        lock(&self.counts).clear();
        self.failed.store(0, Ordering::Relaxed);
        self.truncated.store(0, Ordering::Relaxed);
        self.stalled.store(0, Ordering::Relaxed);
        self.trickled.store(0, Ordering::Relaxed);
    }

    fn respond(&self, req: &http::Request) -> Response {
        match req.method.as_str() {
            "GET" | "HEAD" | "POST" => {}
            _ => return Response::error(405, &format!("method {} not allowed", req.method)),
        }
        if let Some(resp) = self.api.handle(req, &self.base_url) {
            return resp;
        }
        if req.method == "POST" {
            return Response::error(405, "POST is only allowed on /search");
        }
        files::serve_file(&self.root, req)
    }

    /// Serves one connection until it closes or the server shuts down.
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
                        Response::error(status, &msg),
                        false,
                        false,
                        true,
                        None,
                    );
                    return;
                }
            };
            if let Some(resp) = self.control(&req) {
                // Control routes are for the test driving the server: never
                // counted, faulted, delayed or paced.
                let head_only = req.method == "HEAD";
                if write_response(&mut conn.stream, resp, head_only, false, req.close, None)
                    .is_err()
                    || req.close
                {
                    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
                continue;
            }
            *lock(&self.counts).entry(req.path.clone()).or_insert(0) += 1;
            let pace = if self.faulty(&req) {
                self.options.pace
            } else {
                Pace::Prompt
            };
            if pace == Pace::Stall {
                self.stalled.fetch_add(1, Ordering::Relaxed);
                conn.wait_closed(&self.shutdown);
                return;
            }
            let fate = self.fate(&req);
            if !self.options.latency.is_zero() {
                std::thread::sleep(self.options.latency);
            }
            let head_only = req.method == "HEAD";
            let (resp, truncate) = match fate {
                Fate::Fail => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    (
                        Response::error(503, "injected failure").header("Retry-After", "0"),
                        false,
                    )
                }
                Fate::Truncate if !head_only => {
                    self.truncated.fetch_add(1, Ordering::Relaxed);
                    (self.respond(&req), true)
                }
                Fate::Truncate | Fate::Serve => (self.respond(&req), false),
            };
            let close = req.close || truncate;
            let trickle = match pace {
                Pace::Trickle { bytes_per_sec } if !head_only => {
                    self.trickled.fetch_add(1, Ordering::Relaxed);
                    Some(Trickle::new(bytes_per_sec, &self.shutdown))
                }
                _ => None,
            };
            if write_response(&mut conn.stream, resp, head_only, truncate, close, trickle).is_err()
                || close
            {
                let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

/// A running fixture server; stops (and joins all its threads) on drop.
///
/// Routes:
/// - `GET /` STAC API landing page, `GET /conformance`, `GET /collections`,
///   `GET /collections/{c}`, `GET /collections/{c}/items`,
///   `GET /collections/{c}/items/{id}`, `GET|POST /search` (with the query
///   extension's `query`, unless [`ServerOptions::ignore_query`]), over
///   every collection of the directory's manifests;
/// - every other `GET`/`HEAD` path is a file of the fixture directory, with
///   `Range: bytes=a-b`, `bytes=a-` and `bytes=-n` (206 + `Content-Range`,
///   416 when unsatisfiable, 400 when malformed);
/// - control routes for tests in another process (`cargo xtask serve`), under
///   [`CONTROL_PREFIX`]: `GET /__geocube/requests` (the
///   [`FixtureServer::request_counts`] as a JSON object `{path: count}`),
///   `GET /__geocube/faults` ([`FixtureServer::fault_counts`] as
///   `{"failed", "truncated", "stalled", "trickled"}`) and
///   `POST /__geocube/reset` ([`FixtureServer::reset_counts`]). They are
///   never counted, faulted, delayed or paced.
///
/// Item asset hrefs point at this server. Malformed requests get a 4xx.
pub struct FixtureServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    threads: ServerThreads,
}

impl std::fmt::Debug for FixtureServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureServer")
            .field("base_url", &self.shared.base_url)
            .field("root", &self.shared.root)
            .finish_non_exhaustive()
    }
}

impl FixtureServer {
    /// Loads the fixture directory `dir` (made by
    /// [`crate::fixtures::generate`], [`crate::sentinel2::generate`] or
    /// both) and starts serving it.
    ///
    /// # Errors
    /// If the directory has no valid manifest or items, or the port cannot
    /// be bound.
    pub fn start(dir: &Path, options: ServerOptions) -> Result<Self> {
        let api = StacApi::load(dir, !options.ignore_query)?;
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
            root: dir.to_path_buf(),
            base_url: format!("http://{addr}"),
            options,
            api,
            shutdown: AtomicBool::new(false),
            counts: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            failed: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            trickled: AtomicU64::new(0),
        });
        let threads = ServerThreads::spawn(
            listener,
            &shared,
            |s: &Shared| &s.shutdown,
            Shared::serve_connection,
            "fixture-server",
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

    /// `http://127.0.0.1:PORT` (no trailing slash).
    #[must_use]
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The STAC API landing page, `http://127.0.0.1:PORT/`.
    #[must_use]
    pub fn stac_api_url(&self) -> String {
        format!("{}/", self.shared.base_url)
    }

    /// URL of a file of the fixture directory (a manifest path).
    #[must_use]
    pub fn file_url(&self, relative: &str) -> String {
        format!(
            "{}/{}",
            self.shared.base_url,
            relative.trim_start_matches('/')
        )
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received whose path starts with `path_prefix` (`"/"` counts
    /// all), including those answered with injected faults.
    #[must_use]
    pub fn request_count(&self, path_prefix: &str) -> u64 {
        lock(&self.shared.counts)
            .iter()
            .filter(|(p, _)| p.starts_with(path_prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests per path so far.
    #[must_use]
    pub fn request_counts(&self) -> HashMap<String, u64> {
        lock(&self.shared.counts).clone()
    }

    /// Faults injected so far.
    #[must_use]
    pub fn fault_counts(&self) -> FaultCounts {
        self.shared.fault_counts()
    }

    /// Clears the request and fault counters (not the per-request fault
    /// history, which keeps decisions deterministic).
    pub fn reset_counts(&self) {
        self.shared.reset_counts();
    }

    /// Stops serving and joins every thread; what dropping does.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.threads.stop(&self.shared.shutdown);
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
