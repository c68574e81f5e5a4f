//! Helpers shared by the integration tests: the tiny and 2 m fixture directories and
//! a minimal HTTP/1.1 client that can observe truncated bodies.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use geocube_testkit::{FixtureManifest, Preset, fixtures};

/// The fixtures of `preset`, generated once and reused across runs (see
/// [`fixtures::ensure`]).
fn cached(preset: Preset) -> (PathBuf, FixtureManifest) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "fixtures-{}-v{}",
        preset.name(),
        geocube_testkit::manifest::GENERATOR_VERSION
    ));
    let manifest = fixtures::ensure(preset, &dir).expect("generate fixtures");
    (dir, manifest)
}

/// The tiny fixtures.
pub fn tiny() -> &'static (PathBuf, FixtureManifest) {
    static DIR: OnceLock<(PathBuf, FixtureManifest)> = OnceLock::new();
    DIR.get_or_init(|| cached(Preset::Tiny))
}

/// The 2 m fixtures (four 25000² sub-tiles, a few MB, a few seconds).
pub fn two_metre() -> &'static (PathBuf, FixtureManifest) {
    static DIR: OnceLock<(PathBuf, FixtureManifest)> = OnceLock::new();
    DIR.get_or_init(|| cached(Preset::TwoMetre))
}

/// The Sentinel-2 fixtures, generated once and reused across runs (see
/// [`geocube_testkit::sentinel2::ensure`]).
pub fn sentinel2() -> &'static (PathBuf, geocube_testkit::sentinel2::Sentinel2Manifest) {
    static DIR: OnceLock<(PathBuf, geocube_testkit::sentinel2::Sentinel2Manifest)> =
        OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "fixtures-sentinel2-v{}",
            geocube_testkit::sentinel2::GENERATOR_VERSION
        ));
        let m = geocube_testkit::sentinel2::ensure(&dir).expect("generate sentinel-2 fixtures");
        (dir, m)
    })
}

/// A response as seen on the wire.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body had the announced Content-Length.
    pub complete: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("response is JSON")
    }
}

/// Sends raw bytes on a fresh connection and reads one response.
pub fn raw(addr: SocketAddr, request: &[u8], head_only: bool) -> HttpResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("send");
    read_response(&mut s, head_only)
}

/// Reads one response from a stream.
pub fn read_response(s: &mut TcpStream, head_only: bool) -> HttpResponse {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => panic!(
                "connection closed inside the response head: {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
    let head = String::from_utf8(buf).expect("UTF-8 head");
    let mut lines = head.trim_end().split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    if !head_only {
        let _ = s.take(length as u64).read_to_end(&mut body);
    }
    let complete = head_only || body.len() == length;
    HttpResponse {
        status,
        headers,
        body,
        complete,
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Length: {}\r\nContent-Type: application/json\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes, method == "HEAD")
}

pub fn get(addr: SocketAddr, target: &str) -> HttpResponse {
    request(addr, "GET", target, &[], &[])
}

/// Strips `http://host:port` from a URL of the server.
pub fn target_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    rest.find('/')
        .map_or("/".to_owned(), |i| rest[i..].to_owned())
}
