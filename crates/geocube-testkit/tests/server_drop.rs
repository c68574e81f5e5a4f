//! Dropping the server stops it: the port refuses connections, open
//! keep-alive connections are closed and no thread is left behind.
//! (Its own test binary, so that no other test's threads are counted.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use geocube_testkit::server::{FixtureServer, ServerOptions};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

#[test]
fn server_stops_on_drop() {
    let (dir, _) = common::tiny();
    let before = threads();
    let server = FixtureServer::start(dir, ServerOptions::default()).expect("start");
    let addr = server.addr();
    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.write_all(b"GET /conformance HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let r = common::read_response(&mut conn, false);
    assert_eq!(r.status, 200);
    // A second idle keep-alive connection.
    let _idle = TcpStream::connect(addr).expect("connect");
    std::thread::sleep(Duration::from_millis(50));
    if cfg!(target_os = "linux") {
        assert!(
            threads() >= before + 3,
            "accept thread and two connection threads"
        );
    }

    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(5), "drop is prompt");
    if cfg!(target_os = "linux") {
        assert_eq!(threads(), before, "every server thread was joined");
    }
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert!(
        matches!(conn.read(&mut buf), Ok(0) | Err(_)),
        "open connection closed"
    );
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "port closed"
    );
}
