//! A real S3 server for the object-storage tests: moto's server mode
//! (`moto_server`, PyPI `moto[server]` 5.2.5, pinned in
//! `ci/python-requirements.txt`), started on 127.0.0.1 and a free port and
//! stopped when the [`MotoServer`] is dropped.
//!
//! moto enforces S3's conditional writes (`If-None-Match: *`, `If-Match:
//! <etag>`, 412 on failure), which Icechunk's commits and geocube's claim
//! objects rely on (atomically only with the lock [`MotoServer::start`]
//! adds). It keeps everything in memory, in one Python process, and
//! checks no signatures: any access key id and secret work
//! ([`ACCESS_KEY_ID`], [`SECRET_ACCESS_KEY`]). The helpers here speak plain
//! HTTP/1.1 over `std`'s `TcpStream` (no cargo feature, nothing to build
//! beyond what the testkit has), with a dummy [`AUTHORIZATION`] header: moto
//! answers 403 to an unsigned request on an existing object.
//!
//! The interpreter is the one in env `GEOCUBE_PYTHON` (what `cargo xtask
//! test` sets), else `target/pyenv/bin/python` (what `ci/python-env.sh`
//! creates) in the workspace or in the target directory of the running test
//! binary, whichever has `moto_server` next to it. The server is moto's
//! `moto_server` with a lock that makes conditional writes atomic (see
//! [`MotoServer::start`]).
//!
//! ```no_run
//! use geocube_testkit::moto::MotoServer;
//!
//! # fn main() -> geocube_testkit::Result<()> {
//! let Some(moto) = MotoServer::start_or_skip("my_test") else { return Ok(()) };
//! moto.create_bucket("cubes")?;
//! println!("S3 at {}", moto.endpoint());
//! assert!(moto.list_keys("cubes", "")?.is_empty());
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{Error, Result};

/// The access key id to give S3 clients of a [`MotoServer`] (moto accepts
/// any).
pub const ACCESS_KEY_ID: &str = "testing";
/// The secret access key to give S3 clients of a [`MotoServer`] (moto
/// accepts any).
pub const SECRET_ACCESS_KEY: &str = "testing";
/// The region to give S3 clients of a [`MotoServer`].
pub const REGION: &str = "us-east-1";

/// An `Authorization` header value for raw HTTP requests to a
/// [`MotoServer`] (the helpers send it on every request).
///
/// moto checks no signature, but it treats a request without `Authorization`
/// as anonymous: a GET or PUT of an existing private object then answers 403
/// with an empty body, before any `If-Match` / `If-None-Match` check. Real S3
/// clients sign every request and never see this.
pub const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=testing/20260101/us-east-1/s3/aws4_request, \
    SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// How long [`MotoServer::start`] waits for the server to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's Python side: moto.server.main with a lock around the
/// application and an exit on end of stdin.
const BOOTSTRAP: &str = include_str!("moto_server.py");

/// Timeout of each socket read or write of the helpers.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`MotoServer::start`] picks another port when the one it chose
/// was taken before moto could bind it.
const PORT_ATTEMPTS: usize = 3;

/// Characters escaped in a URL path segment or query value (RFC 3986
/// unreserved characters stay as they are).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A running `moto_server` on 127.0.0.1; killed (and waited for) on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// The server exits when this closes (here on drop, or when the test
    /// process dies).
    _stdin: Option<ChildStdin>,
    port: u16,
    log: PathBuf,
    /// Keep the log on drop (a failed start names it in its error).
    keep_log: bool,
}

/// An HTTP response of the server (status, headers, body).
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that (case-insensitive) name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossily decoded).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The Python interpreter that runs the server: the one in env
/// `GEOCUBE_PYTHON`, else `target/pyenv/bin/python` in the workspace or in
/// the running binary's target directory — the first with moto's
/// `moto_server` next to it (moto is installed there).
///
/// # Errors
/// [`Error::Moto`] naming every place looked at when none has it.
pub fn python() -> Result<PathBuf> {
    let mut looked = Vec::new();
    for python in crate::python::candidates() {
        // Not canonicalised: a venv's `python` is a symlink to the base
        // interpreter, whose directory has no `moto_server`.
        let Some(bin) = python.parent() else { continue };
        let exe = bin.join("moto_server");
        if exe.is_file() && python.is_file() {
            return Ok(python);
        }
        looked.push(exe.display().to_string());
    }
    Err(Error::Moto(format!(
        "no moto_server found (looked at {}); set GEOCUBE_PYTHON to the venv's interpreter \
         (`export GEOCUBE_PYTHON=\"$(ci/python-env.sh | tail -n1)\"`)",
        if looked.is_empty() {
            "nothing".to_owned()
        } else {
            looked.join(", ")
        }
    )))
}

/// Whether moto is there to start ([`python`] finds it).
#[must_use]
pub fn available() -> bool {
    python().is_ok()
}

impl MotoServer {
    /// Start moto's server on 127.0.0.1 and a free port and wait (at most
    /// [`START_TIMEOUT`]) until it answers.
    ///
    /// It is `moto_server -H 127.0.0.1 -p PORT` (moto.server.main, run by
    /// [`python`]) with two changes (`src/moto_server.py`): requests run
    /// inside moto one at a time, since moto checks a PUT's `If-Match` /
    /// `If-None-Match` and stores the object without a lock (two racing
    /// creators of one key can both win), and the server exits when the test
    /// process dies (its stdin closes). Its output goes to a log file
    /// ([`MotoServer::log_path`]), removed on drop unless the thread is
    /// panicking or the start failed.
    ///
    /// # Errors
    /// [`Error::Moto`] when no moto is found, when the server exits before
    /// answering or does not answer in time (the message names the log and
    /// quotes its end); [`Error::Io`] when the log cannot be created or the
    /// process not spawned.
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// [`MotoServer::start`], but the server authenticates every request
    /// against its IAM, which has no users: every access key id is unknown,
    /// and every S3 request answers 403 `InvalidAccessKeyId` — the server
    /// for wrong-credential tests (moto's env `INITIAL_NO_AUTH_ACTION_COUNT`
    /// set to 0). The helpers' requests are refused too: it holds no bucket.
    ///
    /// # Errors
    /// As [`MotoServer::start`].
    pub fn start_checking_credentials() -> Result<Self> {
        Self::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    }

    fn start_with(env: &[(&str, &str)]) -> Result<Self> {
        let exe = python()?;
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::start_on_free_port(&exe, env) {
                Ok(server) => return Ok(server),
                // Another process took the port between our probe and moto's
                // bind: try another one.
                Err(StartError::PortTaken(e)) => last = Some(e),
                Err(StartError::Other(e)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Moto("no port attempt was made".into())))
    }

    /// [`MotoServer::start`] for a test: `None` (with a line saying the test
    /// is skipped) when no `moto_server` is found outside CI.
    ///
    /// # Panics
    /// When no `moto_server` is found and env `CI` is set (CI must run the
    /// S3 tests), and when the server is found but does not start.
    #[must_use]
    pub fn start_or_skip(test: &str) -> Option<Self> {
        match python() {
            Ok(_) => {}
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("{test}: the S3 tests need moto on CI: {e}")
            }
            Err(e) => {
                eprintln!("skipped {test}: {e}");
                return None;
            }
        }
        match Self::start() {
            Ok(server) => Some(server),
            Err(e) => panic!("{test}: {e}"),
        }
    }

    fn start_on_free_port(exe: &Path, env: &[(&str, &str)]) -> Result<Self, StartError> {
        let port = free_port().map_err(StartError::Other)?;
        let log =
            std::env::temp_dir().join(format!("geocube-moto-{}-{port}.log", std::process::id()));
        let out = File::create(&log).map_err(|e| StartError::Other(Error::io(&log, e)))?;
        let err = out
            .try_clone()
            .map_err(|e| StartError::Other(Error::io(&log, e)))?;
        let mut child = Command::new(exe)
            .arg("-c")
            .arg(BOOTSTRAP)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("GEOCUBE_MOTO_EXIT_ON_EOF", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| StartError::Other(Error::io(exe, e)))?;
        let stdin = child.stdin.take();
        let mut server = MotoServer {
            child,
            _stdin: stdin,
            port,
            log,
            keep_log: true,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let tail = server.log_tail();
                let e = Error::Moto(format!(
                    "moto ({}) exited with {status} before answering on port {port}; log {}:\n{tail}",
                    exe.display(),
                    server.log.display()
                ));
                // The process is gone: nothing for Drop to kill, and the log
                // is quoted in the error.
                return Err(if tail.contains("Address already in use") {
                    StartError::PortTaken(e)
                } else {
                    StartError::Other(e)
                });
            }
            if server.request("GET", "/", &[], &[]).is_ok() {
                server.keep_log = false;
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(StartError::Other(Error::Moto(format!(
                    "moto ({}) did not answer on 127.0.0.1:{port} within {} s; log {}:\n{}",
                    exe.display(),
                    START_TIMEOUT.as_secs(),
                    server.log.display(),
                    server.log_tail()
                ))));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL to give S3 clients
    /// (path-style addressing, plain http).
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The file that receives the server's output (one line per request).
    #[must_use]
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Create a bucket (`PUT /<bucket>`); creating one that exists succeeds
    /// (moto in `us-east-1` answers 200 for a bucket one already owns).
    ///
    /// # Errors
    /// [`Error::Moto`] when the server does not answer 200;
    /// [`Error::Server`] on a socket error.
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        let path = format!("/{}", encode(bucket));
        self.expect_ok(
            "creating bucket",
            &path,
            self.request("PUT", &path, &[], &[])?,
        )
        .map(drop)
    }

    /// Store an object (`PUT /<bucket>/<key>`, unconditional); its ETag as
    /// the server sent it (quoted, as S3 does).
    ///
    /// # Errors
    /// [`Error::Moto`] when the server does not answer 200 (e.g. no such
    /// bucket); [`Error::Server`] on a socket error.
    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8]) -> Result<String> {
        let path = object_path(bucket, key);
        let resp = self.request("PUT", &path, &[], body)?;
        let resp = self.expect_ok("putting", &path, resp)?;
        Ok(resp.header("etag").unwrap_or_default().to_owned())
    }

    /// Read an object (`GET /<bucket>/<key>`): `None` when there is no such
    /// key.
    ///
    /// # Errors
    /// [`Error::Moto`] when the server answers neither 200 nor 404;
    /// [`Error::Server`] on a socket error.
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let path = object_path(bucket, key);
        let resp = self.request("GET", &path, &[], &[])?;
        if resp.status == 404 {
            return Ok(None);
        }
        Ok(Some(self.expect_ok("getting", &path, resp)?.body))
    }

    /// Forget every bucket and object (`POST /moto-api/reset`).
    ///
    /// # Errors
    /// [`Error::Moto`] when the server does not answer 200;
    /// [`Error::Server`] on a socket error.
    pub fn reset(&self) -> Result<()> {
        let path = "/moto-api/reset";
        self.expect_ok("resetting", path, self.request("POST", path, &[], &[])?)
            .map(drop)
    }

    /// Every key in `bucket` that starts with `prefix` (`""` for all), in the
    /// server's (lexicographic) order, following ListObjectsV2's
    /// continuation tokens.
    ///
    /// # Errors
    /// [`Error::Moto`] when the server does not answer 200 (e.g. no such
    /// bucket) or the listing is not what ListObjectsV2 returns;
    /// [`Error::Server`] on a socket error.
    pub fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        self.list_keys_paged(bucket, prefix, None)
    }

    /// [`MotoServer::list_keys`] with at most `max_keys` keys a page.
    fn list_keys_paged(
        &self,
        bucket: &str,
        prefix: &str,
        max_keys: Option<u32>,
    ) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{}?list-type=2&prefix={}", encode(bucket), encode(prefix));
            if let Some(n) = max_keys {
                path.push_str(&format!("&max-keys={n}"));
            }
            if let Some(t) = &token {
                path.push_str("&continuation-token=");
                path.push_str(&encode(t));
            }
            let resp = self.request("GET", &path, &[], &[])?;
            let xml = self.expect_ok("listing", &path, resp)?.text();
            if !xml.contains("<ListBucketResult") {
                return Err(Error::Moto(format!(
                    "GET {path}: not a ListObjectsV2 result: {xml:.300}"
                )));
            }
            keys.extend(xml_elements(&xml, "Key")?);
            let truncated = xml_elements(&xml, "IsTruncated")?
                .first()
                .is_some_and(|t| t == "true");
            if !truncated {
                return Ok(keys);
            }
            match xml_elements(&xml, "NextContinuationToken")?
                .into_iter()
                .next()
            {
                Some(t) => token = Some(t),
                None => {
                    return Err(Error::Moto(format!(
                        "GET {path}: truncated listing without NextContinuationToken"
                    )));
                }
            }
        }
    }

    /// One HTTP/1.1 request to the server (`path` with its query, already
    /// percent-encoded), with [`AUTHORIZATION`] (not a valid signature: moto
    /// checks none) and the given headers; the whole response.
    ///
    /// # Errors
    /// [`Error::Server`] on a socket error; [`Error::Moto`] when the
    /// response is not HTTP.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response> {
        let io = |action| move |source| Error::Server { action, source };
        let mut s = TcpStream::connect_timeout(&self.addr(), IO_TIMEOUT)
            .map_err(io("connecting to moto"))?;
        s.set_read_timeout(Some(IO_TIMEOUT))
            .map_err(io("configuring the moto socket"))?;
        s.set_write_timeout(Some(IO_TIMEOUT))
            .map_err(io("configuring the moto socket"))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Authorization: {AUTHORIZATION}\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        // One write: a head and a body in two small segments would wait for
        // the delayed ACK of the first (Nagle).
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        s.write_all(&request)
            .map_err(io("sending a request to moto"))?;
        // Read until the body is complete by its Content-Length (werkzeug
        // takes ~10 ms more to close the connection), else until the server
        // closes it.
        let head_only = method.eq_ignore_ascii_case("HEAD");
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).map_err(io("reading a response of moto"))?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if expected_len(&raw, head_only).is_some_and(|len| raw.len() >= len) {
                break;
            }
        }
        parse_response(&raw, head_only)
            .map_err(|reason| Error::Moto(format!("{method} {path}: {reason}")))
    }

    fn expect_ok(&self, action: &str, path: &str, resp: Response) -> Result<Response> {
        if resp.status == 200 {
            Ok(resp)
        } else {
            Err(Error::Moto(format!(
                "{action} {path} on {} answered {}: {:.500}",
                self.endpoint(),
                resp.status,
                resp.text()
            )))
        }
    }

    /// The last lines of the log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // kill fails only when the process has already exited; wait reaps it
        // either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_log && !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Why one start attempt failed.
enum StartError {
    /// moto could not bind the port it was given.
    PortTaken(Error),
    /// Anything else: not worth another port.
    Other(Error),
}

/// A port on 127.0.0.1 that nothing listens on (the OS's choice).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| Error::Server {
        action: "finding a free port for moto",
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| Error::Server {
            action: "finding a free port for moto",
            source,
        })
}

/// Percent-encode one URL component.
fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `/<bucket>/<key>` with every key segment encoded and its slashes kept.
fn object_path(bucket: &str, key: &str) -> String {
    let key: Vec<String> = key.split('/').map(encode).collect();
    format!("/{}/{}", encode(bucket), key.join("/"))
}

/// The length of the whole response (head and body) once its head is in
/// `raw` and gives the body's length (Content-Length and not chunked, or a
/// response to HEAD); `None` while it cannot tell.
fn expected_len(raw: &[u8], head_only: bool) -> Option<usize> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_only {
        return Some(end);
    }
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let mut length = None;
    for line in head.split("\r\n").skip(1) {
        match line.split_once(':') {
            Some(("transfer-encoding", _)) => return None,
            Some(("content-length", v)) => length = v.trim().parse::<usize>().ok(),
            _ => {}
        }
    }
    length.map(|l| end + l)
}

/// Parse a complete HTTP/1.x response (`head_only`: to a HEAD request, no
/// body whatever Content-Length says).
fn parse_response(raw: &[u8], head_only: bool) -> std::result::Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete response head in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| format!("not an HTTP status line: {status_line:.100}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else if let Some((_, len)) = headers.iter().find(|(n, _)| n == "content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        rest.get(..len)
            .ok_or_else(|| format!("body of {} bytes, Content-Length {len}", rest.len()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Decode a chunked body.
fn dechunk(mut rest: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line without CRLF")?;
        let line = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("chunk longer than the body")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("chunk without its CRLF")?;
    }
}

/// The text of every `<name>…</name>` element, entities decoded (enough for
/// S3's flat listing documents: no attributes on these elements, no CDATA).
fn xml_elements(xml: &str, name: &str) -> Result<Vec<String>> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after
            .find(&close)
            .ok_or_else(|| Error::Moto(format!("unclosed <{name}> in the listing")))?;
        out.push(unescape(&after[..end])?);
        rest = &after[end + close.len()..];
    }
    Ok(out)
}

/// Decode XML's five named entities and numeric character references.
fn unescape(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .ok_or_else(|| Error::Moto(format!("unterminated entity in {s:.100}")))?;
        let entity = &after[..semi];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(|n| n.ok())
                .and_then(char::from_u32),
        };
        out.push(c.ok_or_else(|| Error::Moto(format!("unknown entity &{entity}; in {s:.100}")))?);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_length_chunks_or_neither() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: \"x\"\r\n\r\nabcdef";
        let r = parse_response(raw, false).expect("parse");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        assert_eq!(r.header("ETag"), Some("\"x\""));
        assert_eq!(expected_len(raw, false), Some(raw.len() - 3));
        assert_eq!(expected_len(raw, true), Some(raw.len() - 6));
        assert!(parse_response(raw, true).expect("parse").body.is_empty());

        let raw = b"HTTP/1.1 412 X\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw, false).expect("parse");
        assert_eq!((r.status, r.body.as_slice()), (412, &b"abcde"[..]));
        assert_eq!(expected_len(raw, false), None, "chunked: read to the end");

        let raw = b"HTTP/1.0 404 Not Found\r\n\r\ngone";
        let r = parse_response(raw, false).expect("parse");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"gone"[..]));
        assert_eq!(expected_len(raw, false), None);
        assert_eq!(
            expected_len(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", false),
            None
        );

        for bad in [
            &b"HTTP/1.1 200 OK\r\n"[..],
            b"SSH-2.0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab",
        ] {
            assert!(
                parse_response(bad, false).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn listing_elements_and_entities_decode() {
        let xml = "<ListBucketResult><Contents><Key>a/b&amp;c</Key></Contents>\
                   <Contents><Key>&lt;&#233;&#x41;&gt;</Key></Contents>\
                   <IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(
            xml_elements(xml, "Key").expect("keys"),
            vec!["a/b&c".to_owned(), "<éA>".to_owned()]
        );
        assert!(xml_elements("<Key>x", "Key").is_err());
        assert!(unescape("&bogus;").is_err());
        assert!(unescape("&amp").is_err());
        assert!(unescape("&#xD800;").is_err(), "not a char");
    }

    #[test]
    fn object_paths_keep_slashes_and_encode_the_rest() {
        assert_eq!(object_path("b", "p/q r/ü+"), "/b/p/q%20r/%C3%BC%2B");
        assert_eq!(encode("a/b"), "a%2Fb");
    }

    /// Pages of two keys: the continuation tokens are followed.
    #[test]
    fn listing_follows_continuation_tokens() {
        let Some(moto) = MotoServer::start_or_skip("listing_follows_continuation_tokens") else {
            return;
        };
        moto.create_bucket("pages").expect("bucket");
        let keys: Vec<String> = (0..5).map(|i| format!("p/{i}")).collect();
        for k in &keys {
            moto.put_object("pages", k, b"x").expect("put");
        }
        moto.put_object("pages", "q", b"x").expect("put");
        assert_eq!(
            moto.list_keys_paged("pages", "p/", Some(2)).expect("list"),
            keys
        );
        assert_eq!(
            moto.list_keys_paged("pages", "", Some(1))
                .expect("list")
                .len(),
            6
        );
    }
}
