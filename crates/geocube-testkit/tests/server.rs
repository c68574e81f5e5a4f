//! The fixture server: byte ranges, the STAC API, malformed requests and
//! fault injection (503s, truncation, stalls and trickles).

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{get, raw, request, target_of};
use geocube_testkit::footprint::Projector;
use geocube_testkit::manifest::resolve;
use geocube_testkit::server::{FixtureServer, Pace, ServerOptions};
use geocube_testkit::{AntimeridianSide, TileManifest};
use serde_json::{Value, json};

fn server(options: ServerOptions) -> FixtureServer {
    FixtureServer::start(&common::tiny().0, options).expect("start server")
}

fn ids(v: &Value) -> Vec<String> {
    v["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_owned())
        .collect()
}

fn sorted(ids: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let set: BTreeSet<String> = ids.into_iter().map(Into::into).collect();
    set.into_iter().collect()
}

/// Centre of a tile in degrees.
fn center_lonlat(t: &TileManifest, dx: f64, dy: f64) -> (f64, f64) {
    let p = Projector::new().expect("projector");
    let cx = (t.bounds.xmin + t.bounds.xmax) / 2.0 + dx;
    let cy = (t.bounds.ymin + t.bounds.ymax) / 2.0 + dy;
    p.to_lonlat(cx, cy).expect("transform")
}

#[test]
fn range_requests() {
    let s = server(ServerOptions::default());
    let (dir, m) = common::tiny();
    let t = &m.tiles[0];
    let bytes = std::fs::read(resolve(dir, &t.dem_path)).expect("read");
    let size = bytes.len();
    let path = format!("/{}", t.dem_path);
    let addr = s.addr();

    let full = get(addr, &path);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, bytes);
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert!(full.header("etag").is_some() && full.header("last-modified").is_some());

    let r = request(addr, "GET", &path, &[("Range", "bytes=0-15")], &[]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, bytes[..16]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-15/{size}").as_str())
    );
    assert_eq!(r.header("content-length"), Some("16"));

    let r = request(addr, "GET", &path, &[("Range", "bytes=100-")], &[]);
    assert_eq!((r.status, r.body.as_slice()), (206, &bytes[100..]));
    let r = request(addr, "GET", &path, &[("Range", "bytes=-10")], &[]);
    assert_eq!((r.status, r.body.as_slice()), (206, &bytes[size - 10..]));
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {}-{}/{size}", size - 10, size - 1).as_str())
    );
    let r = request(
        addr,
        "GET",
        &path,
        &[("Range", &format!("bytes={}-{}", size - 5, size + 100))],
        &[],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &bytes[size - 5..]));

    for bad in [
        format!("bytes={size}-"),
        "bytes=10-5".to_owned(),
        "bytes=-0".to_owned(),
    ] {
        let r = request(addr, "GET", &path, &[("Range", &bad)], &[]);
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{size}").as_str())
        );
    }
    let r = request(addr, "GET", &path, &[("Range", "lines=1-2")], &[]);
    assert_eq!(r.status, 400);

    let head = request(addr, "HEAD", &path, &[], &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert!(head.body.is_empty());
    let head = request(addr, "HEAD", &path, &[("Range", "bytes=0-99")], &[]);
    assert_eq!(
        (head.status, head.header("content-length")),
        (206, Some("100"))
    );

    assert_eq!(get(addr, "/no/such/file.tif").status, 404);
    assert_eq!(
        get(addr, "/mosaics").status,
        404,
        "directories are not served"
    );
    assert_eq!(get(addr, "/mosaics/../../etc/passwd").status, 400);
    assert_eq!(get(addr, "/%2e%2e/%2e%2e/etc/passwd").status, 400);

    // Counters see every request by path.
    assert_eq!(s.request_count(&path), 11);
    // Plus the traversal attempt under /mosaics/.
    assert_eq!(s.request_count("/mosaics/"), 12);
    assert_eq!(s.request_count("/"), 15);
    s.reset_counts();
    assert_eq!(s.request_count("/"), 0);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    use std::io::Write;
    let s = server(ServerOptions::default());
    let (_, m) = common::tiny();
    let mut conn = std::net::TcpStream::connect(s.addr()).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for t in &m.tiles {
        let req = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n",
            t.datamask_path
        );
        conn.write_all(req.as_bytes()).expect("send");
        let r = common::read_response(&mut conn, false);
        assert_eq!((r.status, r.body.as_slice()), (206, b"II*\0".as_slice()));
    }
}

#[test]
fn malformed_requests_get_4xx_not_panics() {
    let s = server(ServerOptions::default());
    let addr = s.addr();
    let cases: [(&[u8], u16); 7] = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET /search?bbox=abc HTTP/1.1\r\n\r\n", 400),
        (b"GET /search?limit=0 HTTP/1.1\r\n\r\n", 400),
        (b"GET /search?datetime=tomorrow HTTP/1.1\r\n\r\n", 400),
        (b"GET /search?%zz=1 HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400),
    ];
    for (req, status) in cases {
        let r = raw(addr, req, false);
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(req));
    }
    let post = |body: &[u8]| request(addr, "POST", "/search", &[], body).status;
    assert_eq!(post(b"not json"), 400);
    assert_eq!(post(b"[1, 2]"), 400);
    assert_eq!(
        post(br#"{"intersects": {"type": "Polygon", "coordinates": [[[0, 0]]]}}"#),
        400
    );
    assert_eq!(
        post(br#"{"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [0, 0]}}"#),
        400
    );
    assert_eq!(post(br#"{"token": "bogus"}"#), 400);
    assert_eq!(post(br#"{"limit": -1}"#), 400);
    assert_eq!(request(addr, "DELETE", "/search", &[], &[]).status, 405);
    assert_eq!(
        request(addr, "POST", "/collections", &[], b"{}").status,
        405
    );
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(70_000));
    assert_eq!(raw(addr, huge.as_bytes(), false).status, 431);
    // Still serving afterwards.
    assert_eq!(get(addr, "/").status, 200);
}

#[test]
fn stac_api_documents() {
    let s = server(ServerOptions::default());
    let (_, m) = common::tiny();
    let addr = s.addr();
    let base = s.base_url();
    let landing = get(addr, "/").json();
    let conforms: Vec<&str> = landing["conformsTo"]
        .as_array()
        .expect("conformsTo")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(conforms.contains(&"https://api.stacspec.org/v1.0.0/item-search"));
    let search_links = landing["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter(|l| l["rel"] == "search")
        .count();
    assert_eq!(search_links, 2, "GET and POST");
    assert!(get(addr, "/conformance").json()["conformsTo"].is_array());

    let collections = get(addr, "/collections").json();
    assert_eq!(
        collections["collections"][0]["id"],
        "arcticdem-mosaics-v4.1-32m"
    );
    let c = get(addr, "/collections/arcticdem-mosaics-v4.1-32m").json();
    assert_eq!(c["type"], "Collection");
    assert_eq!(get(addr, "/collections/nope").status, 404);

    let t = &m.tiles[4];
    let item = get(
        addr,
        &format!("/collections/arcticdem-mosaics-v4.1-32m/items/{}", t.dem_id),
    );
    assert_eq!(item.status, 200);
    assert_eq!(item.header("content-type"), Some("application/geo+json"));
    let item = item.json();
    let href = item["assets"]["dem"]["href"].as_str().expect("href");
    assert_eq!(
        href,
        format!("{base}/{}", t.dem_path),
        "asset hrefs point at this server"
    );
    let cog = get(addr, &target_of(href));
    assert_eq!((cog.status, cog.body.len() as u64), (200, t.dem_file_size));
    assert_eq!(
        get(addr, "/collections/arcticdem-mosaics-v4.1-32m/items/nope").status,
        404
    );

    let items = get(
        addr,
        "/collections/arcticdem-mosaics-v4.1-32m/items?limit=100",
    )
    .json();
    assert_eq!(ids(&items).len(), 9);
    // Static files of the catalog are served as well.
    assert_eq!(get(addr, "/stac/catalog.json").json()["type"], "Catalog");
    assert_eq!(get(addr, "/manifest.json").status, 200);
}

#[test]
fn search_by_bbox_intersects_ids_and_collections() {
    let s = server(ServerOptions::default());
    let (_, m) = common::tiny();
    let addr = s.addr();
    let all = sorted(m.tiles.iter().map(|t| t.dem_id.clone()));

    let everything = get(addr, "/search?limit=100").json();
    assert_eq!(ids(&everything), all, "sorted by id");
    assert_eq!(everything["numberMatched"], 9);

    for t in &m.tiles {
        // A point well inside the tile (off its diagonal) finds only it.
        let (dx, dy) = match t.antimeridian {
            AntimeridianSide::Crosses => (3000.0, -1000.0),
            _ => (0.0, 0.0),
        };
        let (lon, lat) = center_lonlat(t, dx, dy);
        let body =
            json!({ "intersects": { "type": "Point", "coordinates": [lon, lat] }, "limit": 100 });
        let r = request(addr, "POST", "/search", &[], body.to_string().as_bytes()).json();
        assert_eq!(ids(&r), vec![t.dem_id.clone()], "point in {}", t.dem_id);

        let d = 0.001;
        let bbox = format!("{},{},{},{}", lon - d, lat - d, lon + d, lat + d);
        let r = get(
            addr,
            &format!("/search?bbox={bbox}&collections=arcticdem-mosaics-v4.1-32m"),
        )
        .json();
        assert_eq!(ids(&r), vec![t.dem_id.clone()], "bbox in {}", t.dem_id);
    }

    // A bbox across 180° (west > east) around a crossing tile's centre.
    let crossing = m
        .tiles
        .iter()
        .find(|t| t.antimeridian == AntimeridianSide::Crosses && t.mosaic_row == 1)
        .expect("crossing");
    let (_, lat) = center_lonlat(crossing, 0.0, 0.0);
    let r = get(
        addr,
        &format!(
            "/search?bbox=179.99,{},-179.99,{}",
            lat - 0.005,
            lat + 0.005
        ),
    )
    .json();
    assert_eq!(ids(&r), vec![crossing.dem_id.clone()]);

    // A polygon over the whole mosaic, split at 180° like the items are.
    let poly = json!({ "type": "MultiPolygon", "coordinates": [
        [[[170.0, 60.0], [180.0, 60.0], [180.0, 80.0], [170.0, 80.0], [170.0, 60.0]]],
        [[[-180.0, 60.0], [-170.0, 60.0], [-170.0, 80.0], [-180.0, 80.0], [-180.0, 60.0]]]
    ]});
    let r = request(
        addr,
        "POST",
        "/search",
        &[],
        json!({ "intersects": poly, "limit": 50 })
            .to_string()
            .as_bytes(),
    )
    .json();
    assert_eq!(ids(&r), all);
    // Only the east half of that polygon: east and crossing tiles.
    let east = json!({ "type": "Polygon", "coordinates": [[[170.0, 60.0], [179.9, 60.0], [179.9, 80.0], [170.0, 80.0], [170.0, 60.0]]] });
    let r = request(
        addr,
        "POST",
        "/search",
        &[],
        json!({ "intersects": east, "limit": 50 })
            .to_string()
            .as_bytes(),
    )
    .json();
    let mut expected = m.ids_on(AntimeridianSide::East);
    expected.extend(m.ids_on(AntimeridianSide::Crosses));
    assert_eq!(ids(&r), sorted(expected));
    // GET with a URL-encoded GeoJSON geometry.
    let enc: String = east
        .to_string()
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    assert_eq!(
        ids(&get(addr, &format!("/search?limit=50&intersects={enc}")).json()).len(),
        6
    );

    let two = [m.tiles[0].dem_id.as_str(), m.tiles[8].dem_id.as_str()];
    let r = get(addr, &format!("/search?ids={},{}", two[0], two[1])).json();
    assert_eq!(ids(&r), sorted(two));
    let r = request(
        addr,
        "POST",
        "/search",
        &[],
        json!({ "ids": two, "collections": ["other"] })
            .to_string()
            .as_bytes(),
    )
    .json();
    assert!(ids(&r).is_empty());
    // Far away: nothing.
    assert!(ids(&get(addr, "/search?bbox=10,10,11,11").json()).is_empty());
}

#[test]
fn search_by_datetime() {
    let s = server(ServerOptions::default());
    let (_, m) = common::tiny();
    let addr = s.addr();
    let expect = |from: &str, to: &str| {
        sorted(
            m.tiles
                .iter()
                .filter(|t| {
                    (from.is_empty() || t.end_datetime.as_str() >= from)
                        && (to.is_empty() || t.start_datetime.as_str() <= to)
                })
                .map(|t| t.dem_id.clone()),
        )
    };
    let cases = [
        ("2010-06-01T00:00:00Z", "2010-07-01T00:00:00Z"),
        ("2011-06-01T00:00:00Z", "2011-06-01T00:00:00Z"),
        ("2019-01-01T00:00:00Z", ""),
        ("", "2009-12-31T00:00:00Z"),
        ("2021-06-01T00:00:00Z", "2022-01-01T00:00:00Z"),
    ];
    let mut sizes = BTreeSet::new();
    for (from, to) in cases {
        let dt = if from == to {
            from.to_owned()
        } else {
            format!(
                "{}/{}",
                if from.is_empty() { ".." } else { from },
                if to.is_empty() { ".." } else { to }
            )
        };
        let expected = expect(from, to);
        sizes.insert(expected.len());
        let r = get(addr, &format!("/search?limit=100&datetime={dt}")).json();
        assert_eq!(ids(&r), expected, "GET datetime={dt}");
        let r = request(
            addr,
            "POST",
            "/search",
            &[],
            json!({ "datetime": dt, "limit": 100 })
                .to_string()
                .as_bytes(),
        )
        .json();
        assert_eq!(ids(&r), expected, "POST datetime={dt}");
    }
    assert!(
        sizes.len() >= 3,
        "the cases select different subsets: {sizes:?}"
    );
}

#[test]
fn search_pages_with_next_links() {
    let s = server(ServerOptions::default());
    let (_, m) = common::tiny();
    let addr = s.addr();
    let all = sorted(m.tiles.iter().map(|t| t.dem_id.clone()));

    // GET paging.
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut target = "/search?limit=4&collections=arcticdem-mosaics-v4.1-32m".to_owned();
    loop {
        let page = get(addr, &target).json();
        sizes.push(page["numberReturned"].as_u64().expect("numberReturned"));
        seen.extend(ids(&page));
        let next = page["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["rel"] == "next")
            .cloned();
        match next {
            Some(l) => {
                assert_eq!(l["method"], "GET");
                target = target_of(l["href"].as_str().expect("href"));
                assert!(
                    target.contains("collections=arcticdem-mosaics-v4.1-32m"),
                    "keeps the query: {target}"
                );
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![4, 4, 1]);
    assert_eq!(seen, all);

    // POST paging: the next link carries the body with a token.
    let mut body = json!({ "limit": 2, "bbox": [170.0, 60.0, -170.0, 80.0] });
    let mut seen = Vec::new();
    for _ in 0..10 {
        let page = request(addr, "POST", "/search", &[], body.to_string().as_bytes()).json();
        seen.extend(ids(&page));
        let Some(next) = page["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["rel"] == "next")
            .cloned()
        else {
            break;
        };
        assert_eq!(next["method"], "POST");
        assert!(next["body"]["token"].is_string());
        body = next["body"].clone();
    }
    assert_eq!(seen, all);
}

#[test]
fn injected_failures_follow_the_fraction_and_the_seed() {
    let opts = ServerOptions {
        fail_fraction: 0.3,
        seed: 7,
        ..ServerOptions::default()
    };
    let (_, m) = common::tiny();
    let path = format!("/{}", m.tiles[0].dem_path);
    let run = |s: &FixtureServer| -> Vec<u16> {
        (0..300)
            .map(|i| {
                request(
                    s.addr(),
                    "GET",
                    &path,
                    &[("Range", &format!("bytes={i}-{}", i + 9))],
                    &[],
                )
                .status
            })
            .collect()
    };
    let s = server(opts.clone());
    let statuses = run(&s);
    let failed = statuses.iter().filter(|&&c| c == 503).count();
    assert!(statuses.iter().all(|&c| c == 503 || c == 206));
    let rate = failed as f64 / 300.0;
    assert!((rate - 0.3).abs() < 0.08, "503 rate {rate}");
    assert_eq!(s.fault_counts().failed, failed as u64);
    // Same seed, same requests: same faults. Another seed: others.
    assert_eq!(run(&server(opts.clone())), statuses);
    assert_ne!(
        run(&server(ServerOptions {
            seed: 8,
            ..opts.clone()
        })),
        statuses
    );
    // Retrying a failed request gets a fresh draw, so retries succeed.
    let s = server(opts);
    let mut tries = 0;
    while request(s.addr(), "GET", &path, &[], &[]).status == 503 {
        tries += 1;
        assert!(tries < 30, "retries never succeed");
    }
}

#[test]
fn injected_truncation_cuts_bodies_short() {
    let (_, m) = common::tiny();
    let s = server(ServerOptions {
        truncate_fraction: 0.25,
        seed: 3,
        fault_path_prefix: Some("/mosaics/".into()),
        ..ServerOptions::default()
    });
    let mut truncated = 0u64;
    for i in 0..200 {
        let t = &m.tiles[i % m.tiles.len()];
        let r = request(
            s.addr(),
            "GET",
            &format!("/{}", t.dem_path),
            &[("Range", &format!("bytes={i}-{}", i + 999))],
            &[],
        );
        assert_eq!(r.status, 206);
        assert_eq!(
            r.header("content-length"),
            Some("1000"),
            "the announced length stays true"
        );
        if !r.complete {
            truncated += 1;
            assert_eq!(r.body.len(), 500);
        }
    }
    let rate = truncated as f64 / 200.0;
    assert!((rate - 0.25).abs() < 0.08, "truncation rate {rate}");
    assert_eq!(s.fault_counts().truncated, truncated);
    // Paths outside the prefix are never faulted.
    for _ in 0..20 {
        assert!(get(s.addr(), "/manifest.json").complete);
    }
}

#[test]
fn latency_is_added() {
    let s = server(ServerOptions {
        latency: Duration::from_millis(60),
        ..ServerOptions::default()
    });
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(get(s.addr(), "/conformance").status, 200);
    }
    assert!(start.elapsed() >= Duration::from_millis(180));
}

/// Sends `GET path` with `Range: bytes=range` on a fresh connection, and
/// returns the connection with its head read (status line and headers).
fn send_get(s: &FixtureServer, path: &str, range: &str) -> (TcpStream, String) {
    let mut conn = TcpStream::connect(s.addr()).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes={range}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            conn.read(&mut byte).expect("read the head"),
            1,
            "closed in the head"
        );
        head.push(byte[0]);
    }
    (conn, String::from_utf8(head).expect("UTF-8 head"))
}

#[test]
fn stall_reads_the_request_and_never_answers() {
    let (_, m) = common::tiny();
    let s = server(ServerOptions {
        pace: Pace::Stall,
        fault_path_prefix: Some("/mosaics/".into()),
        ..ServerOptions::default()
    });
    let path = format!("/{}", m.tiles[0].dem_path);
    let mut conn = TcpStream::connect(s.addr()).expect("connect");
    write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    conn.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    match conn.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("a stalled request was answered: {other:?}"),
    }
    // The request was read and counted, and nothing else stalls.
    assert_eq!(s.request_count(&path), 1);
    assert_eq!(s.fault_counts().stalled, 1);
    assert_eq!(get(s.addr(), "/conformance").status, 200);
    // Stopping the server does not wait for the silent connection, and closes it.
    let stopping = Instant::now();
    s.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert!(
        matches!(conn.read(&mut byte), Ok(0) | Err(_)),
        "still open after stop"
    );
}

#[test]
fn trickle_sends_the_head_at_once_and_the_body_at_its_rate() {
    let (dir, m) = common::tiny();
    let t = &m.tiles[0];
    let bytes = std::fs::read(resolve(dir, &t.dem_path)).expect("read");
    let path = format!("/{}", t.dem_path);
    let s = server(ServerOptions {
        pace: Pace::Trickle { bytes_per_sec: 20 },
        fault_path_prefix: Some("/mosaics/".into()),
        ..ServerOptions::default()
    });
    let start = Instant::now();
    let (mut conn, head) = send_get(&s, &path, "0-39");
    let head_at = start.elapsed();
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(head_at < Duration::from_secs(1), "head after {head_at:?}");
    let mut body = Vec::new();
    conn.read_to_end(&mut body).expect("body");
    let body_took = start.elapsed() - head_at;
    assert_eq!(body, bytes[..40]);
    // 40 bytes at 20 B/s: the last leaves 1.95 s after the first.
    assert!(
        body_took >= Duration::from_millis(1500) && body_took < Duration::from_secs(10),
        "body took {body_took:?}"
    );
    assert_eq!(s.fault_counts().trickled, 1);
    // Outside the prefix: at full speed.
    let quick = Instant::now();
    assert!(get(s.addr(), "/manifest.json").complete);
    assert!(quick.elapsed() < Duration::from_secs(1));

    // A byte a second; stopping the server cuts the body instead of waiting for it.
    let slow = server(ServerOptions {
        pace: Pace::Trickle { bytes_per_sec: 1 },
        ..ServerOptions::default()
    });
    let (mut conn, _) = send_get(&slow, &path, "0-999");
    let mut first = [0u8; 2];
    conn.read_exact(&mut first).expect("two bytes");
    assert_eq!(first, bytes[..2]);
    let stopping = Instant::now();
    slow.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    assert!(rest.len() < 100, "{} more bytes after stop", rest.len());
}

#[test]
fn control_routes_expose_and_reset_the_counts_without_counting_themselves() {
    let (_, m) = common::tiny();
    let dem = format!("/{}", m.tiles[0].dem_path);
    // Every request faulted and stalled but for the control routes, which
    // must answer at once all the same.
    let s = server(ServerOptions {
        fail_fraction: 1.0,
        latency: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    let addr = s.addr();
    assert_eq!(get(addr, &dem).status, 503);
    assert_eq!(
        request(addr, "GET", &dem, &[("Range", "bytes=0-15")], &[]).status,
        503
    );
    assert_eq!(get(addr, "/conformance").status, 503);

    let started = Instant::now();
    let counts = get(addr, "/__geocube/requests");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "control routes are delayed: {:?}",
        started.elapsed()
    );
    assert_eq!(counts.status, 200);
    assert_eq!(counts.header("content-type"), Some("application/json"));
    let mut want = serde_json::Map::new();
    want.insert(dem.clone(), json!(2));
    want.insert("/conformance".into(), json!(1));
    assert_eq!(counts.json(), Value::Object(want));
    // The same map as in process, and reading it twice changes nothing.
    assert_eq!(get(addr, "/__geocube/requests").json(), counts.json());
    assert_eq!(s.request_counts().len(), 2);
    assert_eq!(s.request_count("/__geocube/"), 0);
    assert_eq!(
        get(addr, "/__geocube/faults").json(),
        json!({ "failed": 3, "truncated": 0, "stalled": 0, "trickled": 0 })
    );

    // Reset clears the requests and the faults, and is not counted either.
    let reset = request(addr, "POST", "/__geocube/reset", &[], &[]);
    assert_eq!(
        (reset.status, reset.json()),
        (200, json!({ "reset": true }))
    );
    assert_eq!(get(addr, "/__geocube/requests").json(), json!({}));
    assert_eq!(s.request_count("/"), 0);
    assert_eq!(s.fault_counts().failed, 0);

    // Wrong methods and unknown control routes are errors, still uncounted.
    assert_eq!(get(addr, "/__geocube/reset").status, 405);
    assert_eq!(
        request(addr, "POST", "/__geocube/requests", &[], &[]).status,
        405
    );
    assert_eq!(
        request(addr, "HEAD", "/__geocube/requests", &[], &[]).status,
        405
    );
    assert_eq!(get(addr, "/__geocube/nothing").status, 404);
    assert_eq!(s.request_count("/"), 0);

    // Several control requests on one keep-alive connection.
    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for _ in 0..3 {
        write!(conn, "GET /__geocube/requests HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
        let r = common::read_response(&mut conn, false);
        assert_eq!((r.status, r.json()), (200, json!({})));
    }
}
