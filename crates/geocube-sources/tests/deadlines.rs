//! The HTTP client's deadlines against slow servers: one that never
//! answers, one that trickles, one that is slow but fast enough. Deadlines
//! are short here; `geocube/tests/cli.rs` runs a whole load with the
//! defaults.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use geocube_sources::Error;
use geocube_sources::http::{Deadline, HttpClient, HttpConfig, MinRate};
use geocube_testkit::manifest::resolve;
use geocube_testkit::server::{FixtureServer, Pace, ServerOptions};

use common::*;

/// A server slow in `pace` on the fixture COGs only.
fn slow_server(pace: Pace) -> FixtureServer {
    server(
        &tiny().0,
        ServerOptions {
            pace,
            fault_path_prefix: Some("/mosaics/".into()),
            ..ServerOptions::default()
        },
    )
}

/// Short deadlines and quick retries.
fn short() -> HttpConfig {
    HttpConfig {
        read_timeout: Duration::from_millis(500),
        min_rate: Some(MinRate {
            bytes: 100,
            window: Duration::from_secs(1),
        }),
        ..http_config()
    }
}

fn client(config: HttpConfig) -> HttpClient {
    HttpClient::new(config).unwrap()
}

fn dem_url(s: &FixtureServer) -> String {
    s.file_url(&tiny().1.tiles[0].dem_path)
}

#[track_caller]
fn deadline(result: Result<impl std::fmt::Debug, Error>) -> (Deadline, String) {
    match result {
        Err(e @ Error::TimedOut { deadline, .. }) => (deadline, e.to_string()),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn a_server_that_never_answers_times_out_waiting_for_headers() {
    let s = slow_server(Pace::Stall);
    let url = dem_url(&s);
    let http = client(short());
    let start = Instant::now();
    let (d, msg) = deadline(http.get_range(&url, 0, 4096));
    assert_eq!(
        d,
        Deadline::Headers {
            limit: Duration::from_millis(500)
        }
    );
    assert_eq!(msg, format!("no response headers from {url} within 0.5 s"));
    // Two attempts (`deadline_tries`), not the four other failures get.
    assert_eq!(s.fault_counts().stalled, 2);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // Paths outside the stall are served by the same client.
    http.get_json(&s.stac_api_url()).unwrap();

    // The whole API stalled: JSON requests too, POST included.
    let all = server(
        &tiny().0,
        ServerOptions {
            pace: Pace::Stall,
            ..ServerOptions::default()
        },
    );
    let once = client(HttpConfig {
        deadline_tries: 1,
        ..short()
    });
    let search = format!("{}search", all.stac_api_url());
    let (d, _) = deadline(once.post_json(&search, &serde_json::json!({"limit": 1})));
    assert!(matches!(d, Deadline::Headers { .. }), "{d:?}");
    assert_eq!(all.fault_counts().stalled, 1);
    // A timed-out download is not retried again by the backend.
    let e = once.get_json(&all.stac_api_url()).unwrap_err();
    assert!(e.is_retryable());
    assert!(!geocube_core::DownloadError::from(e).retryable);
}

#[test]
fn a_trickle_falls_below_the_minimum_rate() {
    let s = slow_server(Pace::Trickle { bytes_per_sec: 1 });
    let url = dem_url(&s);
    // A byte a second never leaves the connection silent for 2 s.
    let http = client(HttpConfig {
        read_timeout: Duration::from_secs(2),
        ..short()
    });
    let start = Instant::now();
    let (d, msg) = deadline(http.get_range(&url, 0, 4096));
    let Deadline::Rate { min, got } = d else {
        panic!("expected the rate deadline, got {d:?}")
    };
    assert_eq!(min.bytes, 100);
    assert!(got <= 3, "{got} bytes in a second at 1 B/s");
    assert!(
        msg.starts_with(&format!(
            "transfer from {url} fell below 100 B/s over 1 s (got "
        )),
        "{msg}"
    );
    assert_eq!(s.fault_counts().trickled, 2);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );

    // Into a file: the same error, and neither the file nor its partial copy.
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("dem.tif");
    let (d, _) = deadline(http.download_to_file(&url, &dest));
    assert!(matches!(d, Deadline::Rate { .. }), "{d:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Without a minimum rate, a second between bytes is a stalled body.
    let no_min = client(HttpConfig {
        min_rate: None,
        deadline_tries: 1,
        ..short()
    });
    let (d, msg) = deadline(no_min.get_range(&url, 0, 4096));
    assert!(matches!(d, Deadline::Idle { .. }), "{d:?}");
    assert!(msg.contains("stalled: no bytes for 0.5 s"), "{msg}");
}

#[test]
fn a_transfer_fast_enough_but_too_long_meets_the_request_deadline_once() {
    // 2 KB/s passes the 100 B/s minimum; 10 kB take 5 s, past 1 s.
    let s = slow_server(Pace::Trickle {
        bytes_per_sec: 2000,
    });
    let http = client(HttpConfig {
        request_timeout: Duration::from_secs(1),
        ..short()
    });
    let start = Instant::now();
    let (d, msg) = deadline(http.get_range(&dem_url(&s), 0, 10_000));
    let Deadline::Request { limit, got } = d else {
        panic!("expected the request deadline, got {d:?}")
    };
    assert_eq!(limit, Duration::from_secs(1));
    assert!(got > 1000 && got < 10_000, "{got}");
    assert!(msg.contains("not completed within 1 s"), "{msg}");
    // Not retried: it would be as slow again.
    assert_eq!(s.fault_counts().trickled, 1);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn slow_but_working_servers_succeed_with_the_defaults() {
    let (dir, m) = tiny();
    let path = &m.tiles[0].dem_path;
    let want = std::fs::read(resolve(dir, path)).unwrap();
    // 64 KiB/s, well above the 1 KiB/s minimum: 64 KiB take a second.
    let s = slow_server(Pace::Trickle {
        bytes_per_sec: 64 << 10,
    });
    let http = client(HttpConfig::default());
    let got = http.get_range(&s.file_url(path), 0, 64 << 10).unwrap();
    assert_eq!(got.bytes, want[..64 << 10]);
    assert_eq!(s.fault_counts().trickled, 1);
    // Answers that take seconds to start.
    let late = server(
        dir,
        ServerOptions {
            latency: Duration::from_secs(3),
            ..ServerOptions::default()
        },
    );
    let got = http.get_range(&late.file_url(path), 100, 1000).unwrap();
    assert_eq!(got.bytes, want[100..1100]);
}
