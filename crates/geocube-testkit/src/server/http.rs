//! Just enough HTTP/1.1 for the fixture server and the Earth Engine
//! emulator ([`crate::ee`]): request parsing with hard limits (a malformed
//! request is an error value, never a panic) and response writing with
//! optional truncation or pacing.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;
/// Time a client may take to send one request once it started.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Idle keep-alive connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more get a 503 and are closed.
const MAX_CONNECTIONS: usize = 256;

/// A parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Request target as sent (path and query).
    pub(crate) target: String,
    /// Percent-decoded path.
    pub(crate) path: String,
    /// Raw query string (without `?`).
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Whether the connection should close after the response.
    pub(crate) close: bool,
}

impl Request {
    /// First header of that name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection, the server shuts down or the
    /// connection was idle too long: close silently.
    Closed,
    /// The request is malformed: answer with this status and close.
    Bad(u16, String),
}

/// Reads requests from one connection, keeping bytes of pipelined requests.
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream) -> io::Result<Self> {
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// Reads more bytes; `Ok(false)` on timeout, `Ok(true)` when some came.
    fn fill(&mut self) -> Result<bool, ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(ReadError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(_) => Err(ReadError::Closed),
        }
    }

    /// Holds the connection open without answering until the peer closes
    /// it or `shutdown` is set; whatever the peer sends is dropped.
    pub(crate) fn wait_closed(&mut self, shutdown: &AtomicBool) {
        while !shutdown.load(Ordering::Relaxed) {
            if self.fill().is_err() {
                return;
            }
            self.buf.clear();
        }
    }

    /// Reads the next request, waiting while `shutdown` is not set.
    pub(crate) fn read_request(&mut self, shutdown: &AtomicBool) -> Result<Request, ReadError> {
        let idle_since = Instant::now();
        let mut started: Option<Instant> = None;
        let head_end = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                if pos > MAX_HEAD {
                    return Err(ReadError::Bad(431, "request head too large".into()));
                }
                break pos;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(431, "request head too large".into()));
            }
            if shutdown.load(Ordering::Relaxed) {
                return Err(ReadError::Closed);
            }
            if !self.buf.is_empty() && started.is_none() {
                started = Some(Instant::now());
            }
            if started.is_some_and(|s| s.elapsed() > REQUEST_DEADLINE) {
                return Err(ReadError::Bad(408, "request not completed in time".into()));
            }
            if started.is_none() && idle_since.elapsed() > IDLE_TIMEOUT {
                return Err(ReadError::Closed);
            }
            self.fill()?;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec())
            .map_err(|_| ReadError::Bad(400, "request head is not UTF-8".into()))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ReadError::Bad(
                400,
                format!("malformed request line {request_line:?}"),
            ));
        };
        if !version.starts_with("HTTP/1.") {
            return Err(ReadError::Bad(
                505,
                format!("unsupported version {version:?}"),
            ));
        }
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ReadError::Bad(400, format!("malformed method {method:?}")));
        }
        let mut headers = Vec::new();
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                return Err(ReadError::Bad(
                    400,
                    format!("malformed header line {line:?}"),
                ));
            };
            if headers.len() >= 100 {
                return Err(ReadError::Bad(431, "too many headers".into()));
            }
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let consumed = head_end + 4;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if header("transfer-encoding").is_some() {
            return Err(ReadError::Bad(
                411,
                "chunked request bodies are not supported; send Content-Length".into(),
            ));
        }
        let length = match header("content-length") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ReadError::Bad(400, format!("bad Content-Length {v:?}")))?,
        };
        if length > MAX_BODY {
            return Err(ReadError::Bad(413, "request body too large".into()));
        }
        let body_started = Instant::now();
        while self.buf.len() < consumed + length {
            if shutdown.load(Ordering::Relaxed) {
                return Err(ReadError::Closed);
            }
            if body_started.elapsed() > REQUEST_DEADLINE {
                return Err(ReadError::Bad(
                    408,
                    "request body not completed in time".into(),
                ));
            }
            self.fill()?;
        }
        let body = self.buf[consumed..consumed + length].to_vec();
        self.buf.drain(..consumed + length);
        let connection = header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let close = connection.contains("close")
            || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
        let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
        let path = decode_path(raw_path)
            .ok_or_else(|| ReadError::Bad(400, format!("malformed path {raw_path:?}")))?;
        Ok(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            path,
            query: query.to_owned(),
            headers,
            body,
            close,
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether every `%` in `s` starts a two-digit hex escape.
/// `percent-encoding` and `form_urlencoded` pass a malformed escape through
/// as text; this server answers it with 400, as a strict server would.
fn escapes_well_formed(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    })
}

/// The percent-decoded path; `None` if an escape is malformed or the
/// result is not UTF-8.
pub(crate) fn decode_path(s: &str) -> Option<String> {
    if !escapes_well_formed(s) {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Parses a query string into decoded key/value pairs (`+` is a space);
/// `None` if an escape is malformed or a decoded part is not UTF-8.
pub(crate) fn parse_query(query: &str) -> Option<Vec<(String, String)>> {
    // Decoding the whole query strictly checks every part: the separators
    // `&` and `=` are ASCII, so no part can end inside a UTF-8 sequence.
    if !escapes_well_formed(query)
        || percent_encoding::percent_decode_str(query)
            .decode_utf8()
            .is_err()
    {
        return None;
    }
    Some(
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
    )
}

/// A response body.
pub(crate) enum Body {
    Bytes(Vec<u8>),
    /// `len` bytes of a file from `start`.
    File {
        file: File,
        start: u64,
        len: u64,
    },
}

impl Body {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

/// A response ready to be written.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body),
        }
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::json_typed(status, "application/json", value)
    }

    pub(crate) fn json_typed(status: u16, content_type: &str, value: &serde_json::Value) -> Self {
        Self::new(status, content_type, value.to_string().into_bytes())
    }

    /// An error in the STAC API's JSON error shape.
    pub(crate) fn error(status: u16, description: &str) -> Self {
        let code = match status {
            400 => "BadRequest",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            416 => "RangeNotSatisfiable",
            503 => "ServiceUnavailable",
            _ => "Error",
        };
        Self::json(
            status,
            &serde_json::json!({ "code": code, "description": description }),
        )
    }

    pub(crate) fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_owned(), v.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Paces a body: byte `k` leaves no earlier than `k / bytes_per_sec`
/// seconds after the first, in chunks of about a twentieth of a second's
/// worth, and writing fails once `shutdown` is set so that a stopping
/// server never waits for a slow body.
pub(crate) struct Trickle<'a> {
    bytes_per_sec: u64,
    shutdown: &'a AtomicBool,
    started: Instant,
    sent: u64,
}

impl<'a> Trickle<'a> {
    pub(crate) fn new(bytes_per_sec: u64, shutdown: &'a AtomicBool) -> Self {
        Self {
            bytes_per_sec: bytes_per_sec.max(1),
            shutdown,
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Writes `buf` to `out` at the pace.
    fn write_all(&mut self, out: &mut impl Write, mut buf: &[u8]) -> io::Result<()> {
        let rate = self.bytes_per_sec;
        let chunk = (rate / 20).max(1);
        while !buf.is_empty() {
            if self.shutdown.load(Ordering::Relaxed) {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the server is stopping",
                ));
            }
            let want = chunk.min(buf.len() as u64);
            // When the last byte of the next chunk may leave.
            let due = Duration::from_secs_f64((self.sent + want - 1) as f64 / rate as f64);
            let elapsed = self.started.elapsed();
            if elapsed < due {
                std::thread::sleep((due - elapsed).min(Duration::from_millis(100)));
                continue;
            }
            let n = usize::try_from(want).unwrap_or(buf.len());
            out.write_all(&buf[..n])?;
            out.flush()?;
            self.sent += want;
            buf = &buf[n..];
        }
        Ok(())
    }
}

/// Writes `resp`; with `head_only` no body, with `truncate` only half of
/// it (Content-Length still announces all of it; the caller then closes),
/// with `trickle` the body at its pace.
pub(crate) fn write_response(
    stream: &mut TcpStream,
    resp: Response,
    head_only: bool,
    truncate: bool,
    close: bool,
    trickle: Option<Trickle<'_>>,
) -> io::Result<u64> {
    let len = resp.body.len();
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {len}\r\n"));
    head.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: keep-alive\r\n"
    });
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if head_only {
        stream.flush()?;
        return Ok(0);
    }
    let send = if truncate { len / 2 } else { len };
    match (resp.body, trickle) {
        (Body::Bytes(b), None) => {
            stream.write_all(&b[..usize::try_from(send).unwrap_or(b.len()).min(b.len())])?;
        }
        (Body::Bytes(b), Some(mut pace)) => {
            pace.write_all(
                stream,
                &b[..usize::try_from(send).unwrap_or(b.len()).min(b.len())],
            )?;
        }
        (
            Body::File {
                mut file, start, ..
            },
            pace,
        ) => {
            file.seek(SeekFrom::Start(start))?;
            let short =
                || io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while serving");
            if let Some(mut pace) = pace {
                // Trickled bodies are small or slow: reading them whole is fine.
                let mut bytes = Vec::new();
                (&mut file).take(send).read_to_end(&mut bytes)?;
                if (bytes.len() as u64) < send {
                    return Err(short());
                }
                pace.write_all(stream, &bytes)?;
            } else if io::copy(&mut (&mut file).take(send), stream)? < send {
                return Err(short());
            }
        }
    }
    stream.flush()?;
    Ok(send)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not stop the others being joined.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The accept thread of a server and one thread per connection, joined
/// when the server stops.
pub(crate) struct ServerThreads {
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ServerThreads {
    /// Accepts connections on `listener` in a background thread and runs
    /// `serve(shared, stream)` for each on a thread of its own, until the
    /// flag `shutdown(shared)` is set; past [`MAX_CONNECTIONS`] open ones a
    /// connection gets a 503 and is closed.
    pub(crate) fn spawn<S: Send + Sync + 'static>(
        listener: TcpListener,
        shared: &Arc<S>,
        shutdown: fn(&S) -> &AtomicBool,
        serve: fn(&S, TcpStream),
        name: &str,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let shared = Arc::clone(shared);
            let connections = Arc::clone(&connections);
            let conn_name = format!("{name}-conn");
            std::thread::Builder::new()
                .name(format!("{name}-accept"))
                .spawn(move || {
                    for stream in listener.incoming() {
                        if shutdown(&shared).load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(mut stream) = stream else {
                            continue;
                        };
                        let mut handles = lock(&connections);
                        handles.retain(|h| !h.is_finished());
                        if handles.len() >= MAX_CONNECTIONS {
                            let _ = write_response(
                                &mut stream,
                                Response::error(503, "too many connections"),
                                false,
                                false,
                                true,
                                None,
                            );
                            continue;
                        }
                        let shared = Arc::clone(&shared);
                        if let Ok(h) = std::thread::Builder::new()
                            .name(conn_name.clone())
                            .spawn(move || serve(&shared, stream))
                        {
                            handles.push(h);
                        }
                    }
                })?
        };
        Ok(Self {
            addr,
            accept: Some(accept),
            connections,
        })
    }

    /// Sets `shutdown` and joins every thread.
    pub(crate) fn stop(&mut self, shutdown: &AtomicBool) {
        shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept; if that fails the thread is left
        // detached rather than joined forever.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(accept) = self.accept.take()
            && woke
        {
            let _ = accept.join();
        }
        let handles: Vec<JoinHandle<()>> = lock(&self.connections).drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_percent_decoding() {
        let pairs = parse_query("a=1+2&b=%2B%20x&&c&d=%C3%A9").expect("valid query");
        let want = [("a", "1 2"), ("b", "+ x"), ("c", ""), ("d", "é")];
        assert_eq!(
            pairs,
            want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        for bad in ["%zz=1", "a=%4", "a=%", "a=%FF"] {
            assert_eq!(parse_query(bad), None, "{bad}");
        }
        assert_eq!(decode_path("/a+b/%2e%2E/c").as_deref(), Some("/a+b/../c"));
        assert_eq!(decode_path("/%C3"), None);
        assert_eq!(decode_path("/%g0"), None);
    }
}
