//! The `geocube` command end to end, against the testkit's `tiny` fixture
//! mosaic served on a random loopback port.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::repo_files;
use geocube_core::{Cube, CubeStorage};
use geocube_testkit::server::{FixtureServer, Pace, ServerOptions};
use geocube_testkit::{AntimeridianSide, Bounds, FixtureManifest, Preset, fixtures};
use serde_json::Value;

/// The preset whose cube the fixtures fill.
const DATASET: &str = "arcticdem-32m";

struct World {
    dir: tempfile::TempDir,
    manifest: FixtureManifest,
    server: FixtureServer,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = fixtures::generate(Preset::Tiny, dir.path()).expect("fixtures");
        let server = FixtureServer::start(dir.path(), ServerOptions::default()).expect("server");
        World {
            dir,
            manifest,
            server,
        }
    })
}

/// Run `geocube args...` pointed at the fixture server.
fn geocube(args: &[&str]) -> Output {
    geocube_at(&world().server, args)
}

/// Run `geocube args...` pointed at `server` (serving the world's fixtures).
fn geocube_at(server: &FixtureServer, args: &[&str]) -> Output {
    geocube_with(args, &server.stac_api_url(), world().dir.path())
}

/// Run `geocube args...` with the STAC API at `stac_url` and the mosaic
/// index looked for in `aux_dir`.
fn geocube_with(args: &[&str], stac_url: &str, aux_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_geocube"))
        .args(args)
        .env("GEOCUBE_STAC_URL", stac_url)
        .env("GEOCUBE_AUX_DIR", aux_dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run geocube")
}

/// The world's fixtures served with `pace` on the COGs (`/mosaics/`) and `latency`.
fn paced_server(pace: Pace, latency: Duration) -> FixtureServer {
    FixtureServer::start(
        world().dir.path(),
        ServerOptions {
            pace,
            latency,
            fault_path_prefix: Some("/mosaics/".into()),
            ..ServerOptions::default()
        },
    )
    .expect("server")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "geocube failed: {}\nstdout: {}",
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

/// A user mistake: non-zero exit, one `error:` sentence, no panic or backtrace.
#[track_caller]
fn user_error(o: &Output, needle: &str) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    assert!(
        err.contains("error:") && err.contains(needle),
        "stderr lacks `{needle}`: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

fn json(o: &Output) -> Value {
    serde_json::from_str(ok(o).trim()).expect("one JSON object on stdout")
}

/// `load DATASET --store STORE --bbox BBOX --crs EPSG:3413 EXTRA...`.
fn load_args<'a>(store: &'a str, bbox: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "load",
        DATASET,
        "--store",
        store,
        "--bbox",
        bbox,
        "--crs",
        "EPSG:3413",
    ];
    args.extend_from_slice(extra);
    args
}

/// `W,S,E,N` of a box, shrunk by `inset` metres.
fn bbox_arg(b: &Bounds, inset: f64) -> String {
    format!(
        "{},{},{},{}",
        b.xmin + inset,
        b.ymin + inset,
        b.xmax - inset,
        b.ymax - inset
    )
}

fn east_tile() -> &'static geocube_testkit::TileManifest {
    let m = &world().manifest;
    m.tiles
        .iter()
        .find(|t| t.antimeridian == AntimeridianSide::East)
        .expect("an east tile")
}

fn west_tile() -> &'static geocube_testkit::TileManifest {
    let m = &world().manifest;
    m.tiles
        .iter()
        .find(|t| t.antimeridian == AntimeridianSide::West)
        .expect("a west tile")
}

fn store(dir: &Path) -> PathBuf {
    dir.join("cube")
}

fn snapshot(store: &Path) -> (Vec<String>, std::collections::BTreeMap<String, u64>) {
    let ids = Cube::open(CubeStorage::local(store))
        .expect("open cube")
        .loaded_patches()
        .expect("ids");
    (ids, repo_files(store))
}

fn strs(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("str").to_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn datasets_lists_presets() {
    let out = ok(&geocube(&["datasets"]));
    assert!(out.contains(DATASET), "{out}");
}

#[test]
fn cold_warm_and_offline_loads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    // Exactly the tile: its pixels and statistics.
    let bbox = bbox_arg(&tile.bounds, 0.0);
    let load = |extra: &[&str]| {
        let mut args = vec![
            "load",
            DATASET,
            "--store",
            s,
            "--bbox",
            &bbox,
            "--crs",
            "EPSG:3413",
            "--json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        geocube(&args)
    };
    let cold = json(&load(&["--create"]));
    assert_eq!(cold["shape"]["x"], tile.window.width);
    assert_eq!(cold["shape"]["y"], tile.window.height);
    assert_eq!(cold["crs"], "EPSG:3413");
    let downloaded = strs(&cold["patches"]["downloaded"]);
    // Neighbours sharing only an edge hold none of the crop's pixels: not fetched.
    assert_eq!(downloaded, std::slice::from_ref(&tile.dem_id), "{cold}");
    let dem = &cold["variables"]["dem"];
    assert_eq!(dem["valid_count"], tile.stats.valid_count, "{cold}");
    assert_eq!(dem["min"].as_f64(), Some(tile.stats.min));
    assert_eq!(dem["max"].as_f64(), Some(tile.stats.max));
    let mean = dem["mean"].as_f64().expect("mean");
    assert!(
        (mean - tile.stats.mean).abs() <= 1e-6 * tile.stats.mean.abs().max(1.0),
        "{mean} vs {}",
        tile.stats.mean
    );
    assert!(cold["seconds"].as_f64().is_some());

    let tif = tmp.path().join("roi.tif");
    let warm = json(&load(&["--out", tif.to_str().expect("utf-8")]));
    assert!(strs(&warm["patches"]["downloaded"]).is_empty(), "{warm}");
    assert_eq!(warm["variables"], cold["variables"]);
    // The GeoTIFF holds the tile's dem bit for bit (the datamask goes beside it).
    let mut decoder =
        tiff::decoder::Decoder::new(std::fs::File::open(&tif).expect("tif")).expect("tiff");
    assert_eq!(
        decoder.dimensions().expect("dims"),
        (tile.window.width, tile.window.height)
    );
    let tiff::decoder::DecodingResult::F32(dem_px) = decoder.read_image().expect("pixels") else {
        panic!("dem is not float32")
    };
    let valid: Vec<f32> = dem_px.iter().copied().filter(|v| *v != -9999.0).collect();
    assert_eq!(valid.len() as u64, tile.stats.valid_count);
    assert_eq!(
        f64::from(valid.iter().copied().fold(f32::INFINITY, f32::min)),
        tile.stats.min
    );
    assert!(tmp.path().join("roi_datamask.tif").is_file());

    // Offline, another tile: fails naming it, cube unchanged.
    let before = snapshot(&store);
    let other = west_tile();
    let other_bbox = bbox_arg(&other.bounds, 1000.0);
    let o = geocube(&load_args(s, &other_bbox, &["--offline"]));
    user_error(&o, &other.dem_id);
    assert_eq!(snapshot(&store), before);
    // What the cube holds loads offline.
    let off = json(&load(&["--offline"]));
    assert_eq!(off["variables"], cold["variables"]);
}

#[test]
fn offline_loads_make_no_request() {
    let w = world();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    let bbox = bbox_arg(&tile.bounds, 1000.0);
    let load = |extra: &'static str| {
        vec![
            "load",
            DATASET,
            "--store",
            s,
            "--bbox",
            &bbox,
            "--crs",
            "EPSG:3413",
            "--quiet",
            extra,
        ]
    };
    ok(&geocube(&load("--create")));
    let before = snapshot(&store);

    // Offline runs talk to a server of their own, which counts every request.
    let counting = FixtureServer::start(w.dir.path(), ServerOptions::default()).expect("server");
    let url = counting.stac_api_url();
    // Index present, cube complete: success.
    ok(&geocube_with(&load("--offline"), &url, w.dir.path()));
    // Index present, cube incomplete: the missing-patches error.
    let other = west_tile();
    let other_bbox = bbox_arg(&other.bounds, 1000.0);
    let args = [
        "load",
        DATASET,
        "--store",
        s,
        "--bbox",
        &other_bbox,
        "--crs",
        "EPSG:3413",
        "--offline",
    ];
    user_error(&geocube_with(&args, &url, w.dir.path()), &other.dem_id);
    // Index absent: a typed error naming the file, the directory and the
    // remedy; the directory is not created.
    let aux = tmp.path().join("no-aux-yet");
    let err = user_error(
        &geocube_with(&load("--offline"), &url, &aux),
        "ArcticDEM_Mosaic_Index_v4_1_32m.parquet",
    );
    assert!(
        err.contains(&aux.display().to_string()) && err.contains("geocube prefetch"),
        "{err}"
    );
    assert!(!aux.exists(), "offline created the aux directory");
    assert_eq!(
        counting.request_count("/"),
        0,
        "{:?}",
        counting.request_counts()
    );
    assert_eq!(snapshot(&store), before);
}

#[test]
fn huge_worker_counts_are_capped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let bbox = bbox_arg(&east_tile().bounds, 1000.0);
    let started = std::time::Instant::now();
    let o = geocube(&load_args(s, &bbox, &["--create", "--workers", "100000"]));
    ok(&o);
    // A one-patch load: a few seconds in a debug build (it used to start
    // 100000 threads and not finish in minutes).
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
    assert!(
        stderr(&o).contains("--workers 100000 capped at 32"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&store).0.len(), 1);
}

#[test]
fn bad_inputs_are_clear_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    let good = bbox_arg(&tile.bounds, 2000.0);

    // Missing store without --create: no directory appears.
    let o = geocube(&load_args(s, &good, &[]));
    user_error(&o, "--create");
    assert!(!store.exists());

    ok(&geocube(&[
        "create",
        DATASET,
        "--store",
        s,
        "--codec",
        "blosc-lz4:1",
        "--quiet",
    ]));
    let before = snapshot(&store);
    assert!(before.0.is_empty());
    let b = &tile.bounds;
    let w_gt_e = format!("{},{},{},{}", b.xmax, b.ymin, b.xmin, b.ymax);
    for (args, needle) in [
        (
            vec!["--bbox", w_gt_e.as_str(), "--crs", "EPSG:3413"],
            "west",
        ),
        (
            vec!["--bbox", good.as_str(), "--crs", "EPSG:99999"],
            "EPSG:99999",
        ),
        (
            vec![
                "--bbox",
                "5000000,5000000,5100000,5100000",
                "--crs",
                "EPSG:3413",
            ],
            "outside the cube extent",
        ),
        (vec!["--bbox", "1,2,3", "--crs", "EPSG:3413"], "4 numbers"),
        (
            vec![
                "--bbox",
                good.as_str(),
                "--crs",
                "EPSG:3413",
                "--time",
                "yesterday",
            ],
            "yesterday",
        ),
        (
            vec![
                "--bbox",
                good.as_str(),
                "--crs",
                "EPSG:3413",
                "--out",
                "x.png",
            ],
            "*.zarr",
        ),
    ] {
        let mut full = vec!["load", DATASET, "--store", s];
        full.extend(args);
        user_error(&geocube(&full), needle);
        assert_eq!(snapshot(&store), before, "{full:?} changed the cube");
    }
    user_error(
        &geocube(&[
            "load",
            "no-such-dataset",
            "--store",
            s,
            "--bbox",
            &good,
            "--crs",
            "EPSG:3413",
        ]),
        "no-such-dataset",
    );
    user_error(
        &geocube(&["create", DATASET, "--store", s]),
        "already exists",
    );
    user_error(
        &geocube(&["create", DATASET, "--store", s, "--codec", "gzip"]),
        "gzip",
    );
    // A usage error is clap's (exit 2).
    assert_eq!(
        geocube(&["load", DATASET, "--store", s]).status.code(),
        Some(2)
    );
    assert_eq!(snapshot(&store), before);
}

#[test]
fn outputs_status_and_events() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    let bbox = bbox_arg(&tile.bounds, 3000.0);
    let zarr = tmp.path().join("roi.zarr");
    let out = ok(&geocube(&load_args(
        s,
        &bbox,
        &[
            "--create",
            "--stats",
            "--mask-nodata",
            "--out",
            zarr.to_str().expect("utf-8"),
        ],
    )));
    assert!(
        out.contains("dem") && out.contains("datamask") && out.contains("valid"),
        "{out}"
    );
    for node in [
        "zarr.json",
        "x/zarr.json",
        "y/zarr.json",
        "spatial_ref/zarr.json",
        "dem/zarr.json",
        "datamask/zarr.json",
    ] {
        assert!(zarr.join(node).is_file(), "{node} missing");
    }

    let events_svg = tmp.path().join("events.svg");
    ok(&geocube(&[
        "events",
        "--store",
        s,
        "--svg",
        events_svg.to_str().expect("utf-8"),
    ]));
    assert!(
        std::fs::read_to_string(&events_svg)
            .expect("svg")
            .starts_with("<svg")
    );

    let gj = tmp.path().join("state.geojson");
    let png = tmp.path().join("state.png");
    let status = ok(&geocube(&[
        "status",
        "--store",
        s,
        "--geojson",
        gj.to_str().expect("utf-8"),
        "--png",
        png.to_str().expect("utf-8"),
    ]));
    assert!(status.contains(&tile.dem_id), "{status}");
    let fc: Value = serde_json::from_slice(&std::fs::read(&gj).expect("geojson")).expect("json");
    assert!(
        fc["features"]
            .as_array()
            .expect("features")
            .iter()
            .any(|f| f["properties"]["id"] == tile.dem_id.as_str())
    );
    assert_eq!(
        &std::fs::read(&png).expect("png")[..8],
        b"\x89PNG\r\n\x1a\n"
    );
    // The state map: 1024 px square, the title written above the map and
    // the coast (the fixture mosaic is by the Bering Strait) in dark grey.
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).expect("open png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut px = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut px).expect("frame");
    assert_eq!((info.width, info.height), (1024, 1024));
    let count = |rows: std::ops::Range<usize>, rgb: [u8; 3]| {
        rows.flat_map(|r| (0..1024).map(move |c| (r * 1024 + c) * 3))
            .filter(|&i| px[i..i + 3] == rgb)
            .count()
    };
    assert!(count(0..50, [20, 20, 20]) > 100, "no title");
    assert!(count(104..984, [64, 64, 64]) > 100, "no coast");
    let _ = std::fs::copy(
        &png,
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-state.png"),
    );

    // Prefetch the whole mosaic: the rest of the tiles, once.
    let m = &world().manifest.mosaic_bounds;
    let all = bbox_arg(m, 100.0);
    let prefetch_all = || {
        json(&geocube(&[
            "prefetch",
            DATASET,
            "--store",
            s,
            "--bbox",
            &all,
            "--crs",
            "EPSG:3413",
            "--json",
            "--quiet",
        ]))
    };
    let pre = prefetch_all();
    assert_eq!(
        pre["patches"].as_array().map(Vec::len),
        Some(world().manifest.tiles.len()),
        "{pre}"
    );
    let again = prefetch_all();
    assert!(strs(&again["downloaded"]).is_empty(), "{again}");
}

/// A default-settings load of one tile from a server slow in `pace`:
/// stderr, seconds taken, and requests the slow server saw.
fn slow_load(pace: Pace) -> (String, Duration, u64) {
    let server = paced_server(pace, Duration::ZERO);
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    ok(&geocube_at(
        &server,
        &["create", DATASET, "--store", s, "--quiet"],
    ));
    let before = snapshot(&store);
    let bbox = bbox_arg(&east_tile().bounds, 1000.0);
    let started = Instant::now();
    let o = geocube_at(&server, &load_args(s, &bbox, &[]));
    let took = started.elapsed();
    let err = user_error(&o, &east_tile().dem_id);
    assert_eq!(snapshot(&store), before, "a failed load changed the cube");
    let faults = server.fault_counts();
    (err, took, faults.stalled + faults.trickled)
}

#[test]
fn slow_servers_end_in_a_timeout_error_within_90_s() {
    // Both at once, so the suite waits for the longer one only.
    let (stall, trickle) = std::thread::scope(|scope| {
        let stall = scope.spawn(|| slow_load(Pace::Stall));
        let trickle = scope.spawn(|| slow_load(Pace::Trickle { bytes_per_sec: 1 }));
        (
            stall.join().expect("stall thread"),
            trickle.join().expect("trickle thread"),
        )
    });
    for ((err, took, attempts), error, reason) in [
        (
            stall,
            "no response headers from http://",
            "no response headers within 20 s",
        ),
        (
            trickle,
            "fell below 1 KiB/s over 10 s (got ",
            "transfer fell below 1 KiB/s over 10 s (got ",
        ),
    ] {
        eprintln!("{took:?}:\n{err}");
        assert!(took < Duration::from_secs(90), "took {took:?}: {err}");
        assert!(err.contains(error), "the error names the deadline: {err}");
        // The COG request was tried twice; one line says so.
        assert_eq!(attempts, 2, "{err}");
        let retries: Vec<&str> = err.lines().filter(|l| l.starts_with("retrying ")).collect();
        assert_eq!(retries.len(), 1, "{err}");
        let line = retries[0];
        assert!(
            line.starts_with("retrying GET http://127.0.0.1:")
                && line.contains("/mosaics/")
                && line.contains(" (attempt 2 of 2) after 0.")
                && line.contains(&format!(" s: {reason}")),
            "{line}"
        );
    }
}

#[test]
fn slow_but_working_servers_still_load() {
    // Seconds before every answer, and the COGs at 64 KiB/s.
    let server = paced_server(
        Pace::Trickle {
            bytes_per_sec: 64 << 10,
        },
        Duration::from_secs(2),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    let bbox = bbox_arg(&tile.bounds, 1000.0);
    let o = geocube_at(&server, &load_args(s, &bbox, &["--create", "--json"]));
    let out: Value = serde_json::from_str(ok(&o).trim()).expect("JSON");
    assert_eq!(
        strs(&out["patches"]["downloaded"]),
        std::slice::from_ref(&tile.dem_id)
    );
    assert!(server.fault_counts().trickled > 0);
    assert!(!stderr(&o).contains("retrying"), "{}", stderr(&o));
}

#[test]
fn verify_and_repair() {
    use geocube_core::{Aoi, BoundingBox, Crs, Patch, TypedArray, Window};
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    let bbox = bbox_arg(&tile.bounds, 0.0);
    ok(&geocube(&load_args(s, &bbox, &["--create", "--quiet"])));
    let verified = geocube(&["verify", "--store", s, "--check-source", "5"]);
    ok(&verified);
    assert!(
        stderr(&verified).contains("consistent"),
        "{}",
        stderr(&verified)
    );

    // Pixels without an id, two chunk rows below the tile.
    let cube = Cube::open(CubeStorage::local(&store)).expect("open");
    let b = &tile.bounds;
    let aoi = Aoi::bbox(
        BoundingBox::new(b.xmin, b.ymin, b.xmax, b.ymax),
        Crs::from_epsg(3413).expect("crs"),
    );
    let w = cube.aoi_window(&aoi).expect("tile window");
    let chunk = cube.layout().chunk_shape.0;
    let stray = cube
        .layout()
        .geobox
        .window(Window::new(w.row + 2 * chunk, w.col, 8, 8))
        .expect("stray grid");
    cube.write_patch(
        &Patch::new("stray", stray)
            .with_layer(
                "dem",
                TypedArray::Float32(ndarray::ArrayD::from_elem(vec![8, 8], 1.0)),
                None,
            )
            .with_layer(
                "datamask",
                TypedArray::Bool(ndarray::ArrayD::from_elem(vec![8, 8], true)),
                None,
            ),
    )
    .expect("write stray");
    let found = geocube(&["verify", "--store", s]);
    user_error(&found, "the cube is inconsistent");
    assert!(stdout(&found).contains("orphan"), "{}", stdout(&found));
    assert!(stdout(&found).contains("unknown id"), "{}", stdout(&found));

    let repaired = geocube(&["repair", "--store", s, "--check-source", "5"]);
    ok(&repaired);
    assert!(
        stderr(&repaired).contains("forgot 1 patch(es), erased 2 chunk(s)"),
        "{}",
        stderr(&repaired)
    );
    ok(&geocube(&["verify", "--store", s, "--check-source", "5"]));
    let ids = Cube::open(CubeStorage::local(&store))
        .expect("open")
        .loaded_patches()
        .expect("ids");
    assert_eq!(ids, std::slice::from_ref(&tile.dem_id));
}

#[test]
fn request_and_store_mistakes_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    ok(&geocube(&["create", DATASET, "--store", s, "--quiet"]));
    let before = snapshot(&store);
    let good = bbox_arg(&east_tile().bounds, 2000.0);
    for (args, needle) in [
        // An empty --time is a mistake, not "every time".
        (
            vec!["--bbox", good.as_str(), "--crs", "EPSG:3413", "--time", ""],
            "the time is empty",
        ),
        // Geographic boxes are checked, not wrapped.
        (
            vec!["--bbox", "179,69.5,181,69.7"],
            "east longitude 181 is outside -180..180",
        ),
        (vec!["--bbox", "170,60,175,91"], "north latitude 91"),
        // An absurd box is refused and printed readably.
        (
            vec!["--bbox", "-1e308,-1e308,1e308,1e308", "--crs", "EPSG:3413"],
            "-1e308 lies far off the Earth",
        ),
    ] {
        let mut full = vec!["load", DATASET, "--store", s];
        full.extend(args);
        let err = user_error(&geocube(&full), needle);
        assert!(!err.contains("inf") && !err.contains("NaN"), "{err}");
        assert_eq!(snapshot(&store), before, "{full:?} changed the cube");
    }

    // A box crossing the antimeridian (west > east) loads the tiles on both sides.
    let o = json(&geocube(&[
        "load",
        DATASET,
        "--store",
        s,
        "--bbox",
        "179.9,69.55,-179.9,69.6",
        "--json",
        "--quiet",
    ]));
    let got = strs(&o["patches"]["downloaded"]);
    let m = &world().manifest;
    let east = m
        .tiles
        .iter()
        .any(|t| t.antimeridian == AntimeridianSide::East && got.contains(&t.dem_id));
    let west = m
        .tiles
        .iter()
        .any(|t| t.antimeridian == AntimeridianSide::West && got.contains(&t.dem_id));
    assert!(east && west, "{got:?}");

    // --store naming a regular file.
    let file = tmp.path().join("f");
    std::fs::write(&file, b"x").expect("write");
    let f = file.to_str().expect("utf-8");
    for args in [
        vec![
            "load",
            DATASET,
            "--store",
            f,
            "--bbox",
            &good,
            "--crs",
            "EPSG:3413",
            "--create",
        ],
        vec!["create", DATASET, "--store", f],
        vec!["status", "--store", f],
    ] {
        let err = user_error(&geocube(&args), "is a file, not a cube directory");
        assert!(!err.contains("File exists"), "{err}");
    }
    assert_eq!(std::fs::read(&file).expect("read"), b"x");

    // --create among unrelated files: refused, nothing added.
    let photos = tmp.path().join("photos");
    std::fs::create_dir(&photos).expect("mkdir");
    std::fs::write(photos.join("a.jpg"), b"x").expect("write");
    let p = photos.to_str().expect("utf-8");
    user_error(
        &geocube(&load_args(p, &good, &["--create"])),
        "is not empty and holds no cube (it has a.jpg)",
    );
    user_error(&geocube(&["create", DATASET, "--store", p]), "a.jpg");
    assert_eq!(std::fs::read_dir(&photos).expect("ls").count(), 1);
}

/// Run a program; whether it exited 0.
fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Undoes a test's change to a directory (permissions or a mount) on drop.
enum Restore {
    Permissions(Vec<PathBuf>),
    Mount(PathBuf),
}

impl Drop for Restore {
    fn drop(&mut self) {
        match self {
            Restore::Permissions(dirs) => {
                for d in dirs {
                    let _ = run("chmod", &["u+w", &d.to_string_lossy()]);
                }
            }
            Restore::Mount(p) => {
                let _ = run("umount", &[&p.to_string_lossy()]);
            }
        }
    }
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(".probe");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}

/// Make `dir` read-only: its directories lose write permission, or, where
/// that does not stop us (root), a read-only bind mount of it over itself.
/// `None` when this machine allows neither.
fn make_read_only(dir: &Path) -> Option<Restore> {
    let mut dirs = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < dirs.len() {
        for e in std::fs::read_dir(&dirs[i]).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
        i += 1;
    }
    for d in &dirs {
        run("chmod", &["a-w", &d.to_string_lossy()]);
    }
    let perms = Restore::Permissions(dirs);
    if !writable(dir) && !writable(&dir.join(".geocube-claims")) {
        return Some(perms);
    }
    drop(perms);
    let p = dir.to_string_lossy();
    if !run("mount", &["--bind", &p, &p]) {
        return None;
    }
    let mount = Restore::Mount(dir.to_path_buf());
    (run("mount", &["-o", "remount,ro,bind", &p]) && !writable(dir)).then_some(mount)
}

#[test]
fn a_read_only_store_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let held = bbox_arg(&east_tile().bounds, 1000.0);
    let missing = bbox_arg(&west_tile().bounds, 1000.0);
    let load = |bbox: &str, backend: &str| {
        geocube(&load_args(s, bbox, &["--quiet", "--backend", backend]))
    };
    ok(&geocube(&load_args(s, &held, &["--quiet", "--create"])));
    let before = snapshot(&store);
    let Some(_restore) = make_read_only(&store) else {
        eprintln!("skipped: cannot make a directory read-only here");
        return;
    };
    // What it holds still loads.
    ok(&load(&held, "threaded"));
    for backend in ["threaded", "simple"] {
        let err = user_error(&load(&missing, backend), "is read-only");
        assert!(!err.contains("0 tries"), "{err}");
    }
    assert_eq!(snapshot(&store), before);
}

/// A small tmpfs mounted at `dir` (root only): `None` where not allowed.
fn small_disk(dir: &Path, size: &str) -> Option<Restore> {
    std::fs::create_dir_all(dir).ok()?;
    let p = dir.to_string_lossy();
    run(
        "mount",
        &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &p],
    )
    .then(|| Restore::Mount(dir.to_path_buf()))
}

#[test]
fn a_full_disk_is_one_reason_said_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = tmp.path().join("disk");
    let Some(_restore) = small_disk(&disk, "300k") else {
        eprintln!("skipped: cannot mount a small tmpfs here");
        return;
    };
    let store = disk.join("cube");
    let s = store.to_str().expect("utf-8");
    ok(&geocube(&["create", DATASET, "--store", s, "--quiet"]));
    let before = snapshot(&store);
    // The four tiles around the mosaic's first corner: more than 300 kB.
    let b = &world().manifest.tiles[0].bounds;
    let corner = format!(
        "{},{},{},{}",
        b.xmin + 1000.0,
        b.ymin - 15000.0,
        b.xmax + 15000.0,
        b.ymax - 1000.0
    );
    let o = geocube(&load_args(s, &corner, &["--quiet"]));
    let err = user_error(&o, "No space left on device");
    assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    assert!(!err.contains("context:"), "{err}");
    assert!(err.contains("4 of 4 patches"), "{err}");
    assert_eq!(snapshot(&store).0, before.0, "no patch recorded");
}

/// Total size of every file under `dir` (what `compact` reports for a local cube).
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

#[test]
fn compact_shrinks_a_cube_and_keeps_what_it_holds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    // Two loads, two commits: the second rewrites the chunks the first wrote
    // (500 px tiles, 3600 px chunks).
    let first = bbox_arg(&world().manifest.tiles[0].bounds, 1000.0);
    let b = &world().manifest.tiles[0].bounds;
    let around = format!(
        "{},{},{},{}",
        b.xmin + 1000.0,
        b.ymin - 15000.0,
        b.xmax + 15000.0,
        b.ymax - 1000.0
    );
    ok(&geocube(&load_args(s, &first, &["--create", "--quiet"])));
    ok(&geocube(&load_args(s, &around, &["--quiet"])));
    let read = || {
        json(&geocube(&load_args(
            s,
            &around,
            &["--offline", "--json", "--quiet"],
        )))
    };
    let before = read();
    let (ids, _) = snapshot(&store);

    // History younger than --keep-history stays, and with it everything.
    let young = json(&geocube(&[
        "compact",
        "--store",
        s,
        "--keep-history",
        "1h",
        "--grace",
        "0s",
        "--json",
    ]));
    assert_eq!(young["snapshots_expired"], 0, "{young}");
    assert_eq!(young["chunks_deleted"], 0, "{young}");
    // The default grace keeps the young garbage: history goes, objects stay.
    let kept = json(&geocube(&["compact", "--store", s, "--json"]));
    assert_eq!(kept["snapshots_expired"], 2, "{kept}");
    assert_eq!(kept["chunks_deleted"], 0, "{kept}");

    // No grace: the superseded chunks go.
    let out = geocube(&["compact", "--store", s, "--grace", "0s"]);
    let text = ok(&out);
    assert!(
        text.contains("compacted") && text.contains("grace 0s"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("grace 0s"),
        "the risk is said: {}",
        stderr(&out)
    );
    let r = json(&geocube(&[
        "compact", "--store", s, "--grace", "0s", "--json",
    ]));
    assert_eq!(
        r["chunks_deleted"], 0,
        "the run before collected everything: {r}"
    );
    let bytes_after = r["bytes_after"].as_u64().expect("bytes_after");
    assert_eq!(
        bytes_after,
        dir_bytes(&store),
        "the size is the directory's"
    );
    let data = r["data_bytes"].as_u64().expect("data_bytes");
    assert!(
        bytes_after < kept["bytes_before"].as_u64().expect("bytes_before"),
        "{kept} {r}"
    );
    let ratio = r["ratio_to_data"].as_f64().expect("ratio");
    eprintln!("after compaction: {bytes_after} bytes for {data} bytes of data ({ratio:.3}x)");
    assert!(ratio <= 1.2, "{r}");
    assert_eq!(read()["variables"], before["variables"], "same pixels");
    assert_eq!(snapshot(&store).0, ids, "same ids");

    // Re-encoded with another codec: new bytes, same pixels, still consistent.
    let re = json(&geocube(&[
        "compact",
        "--store",
        s,
        "--grace",
        "0s",
        "--codec",
        "blosc-zstd:5",
        "--json",
    ]));
    assert!(re["reencoded"]["chunks"].as_u64() > Some(0), "{re}");
    assert!(re["chunks_deleted"].as_u64() > Some(0), "{re}");
    assert_ne!(re["data_bytes"], r["data_bytes"], "{re}");
    assert_eq!(read()["variables"], before["variables"], "same pixels");
    ok(&geocube(&["verify", "--store", s]));
    // And it keeps loading.
    let other = bbox_arg(&west_tile().bounds, 1000.0);
    ok(&geocube(&load_args(s, &other, &["--quiet"])));

    // Mistakes: no cube, a bad duration, a bad codec.
    let missing = tmp.path().join("nothing");
    user_error(
        &geocube(&["compact", "--store", missing.to_str().expect("utf-8")]),
        "no datacube",
    );
    let o = geocube(&["compact", "--store", s, "--grace", "5x"]);
    assert!(
        !o.status.success() && stderr(&o).contains("not a duration"),
        "{}",
        stderr(&o)
    );
    user_error(
        &geocube(&["compact", "--store", s, "--codec", "gzip"]),
        "unknown codec",
    );
}

#[test]
fn earth_engine_presets_load_with_a_key_file_and_say_what_is_missing_without() {
    let emu = geocube_testkit::ee::EeEmulator::start(geocube_testkit::ee::EeOptions::default())
        .expect("emulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.json");
    emu.write_key(&key).expect("key file");
    let listed = ok(&geocube(&["datasets"]));
    assert!(
        listed.contains("tctrend-2024") && listed.contains("alphaearth"),
        "{listed}"
    );
    let cube = dir.path().join("tc.icechunk");
    let out_tif = dir.path().join("tc.tif");
    let url = emu.url();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "load",
            "tctrend-2022",
            "--store",
            cube.to_str().expect("utf-8"),
            "--bbox",
            "10.20,50.30,10.22,50.31",
            "--crs",
            "EPSG:4326",
            "--create",
            "--ee-url",
            &url,
            "--out",
            out_tif.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_geocube"))
            .args(&args)
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("GEOCUBE_EE_TOKEN")
            .env_remove("GEOCUBE_EE_PROJECT")
            .output()
            .expect("run geocube")
    };
    // No credentials: a clear error naming the options.
    let missing = user_error(&run(&[]), "--ee-key");
    assert!(missing.contains("credentials"), "{missing}");
    assert_eq!(emu.counts().compute_requests, 0);
    // The key file: the chunk is fetched (4 requests) and written out.
    ok(&run(&["--ee-key", key.to_str().expect("utf-8")]));
    assert_eq!(emu.counts().served, 4);
    assert!(out_tif.is_file());
}

/// The grid of the GeoTIFF at `path`, read with geocube's own COG reader.
fn tif_grid(path: &Path) -> geocube_core::GeoBox {
    let cog = geocube_sources::cog::Cog::open(std::sync::Arc::new(
        geocube_sources::cog::FileByteSource::new(path),
    ))
    .expect("open tif");
    cog.info().geobox("tif").expect("grid")
}

/// gdalinfo's geotransform is `[x0, res_x, 0, y0, 0, res_y]` of `g` (to
/// the digits GDAL prints: 13 significant ones for a pixel size in degrees).
#[track_caller]
fn assert_geotransform(info: &Value, g: &geocube_core::GeoBox) {
    let a = g.affine();
    let want = [a.x0, a.res_x, 0.0, a.y0, 0.0, a.res_y];
    let got: Vec<f64> = info["geoTransform"]
        .as_array()
        .expect("geoTransform")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    assert_eq!(got.len(), 6, "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * w.abs(), "{got:?} against {want:?}");
    }
}

/// gdalinfo's report on `path`, `None` (said on stderr) without GDAL.
fn gdal(path: &Path) -> Option<Value> {
    if !geocube_testkit::gdal::gdalinfo_available() {
        eprintln!("not checking with GDAL: gdalinfo is not on PATH");
        return None;
    }
    let info = geocube_testkit::gdal::gdalinfo(path, &[]).expect("gdalinfo");
    assert!(info.stderr.is_empty(), "GDAL warned: {}", info.stderr);
    Some(info.json)
}

#[test]
fn loads_onto_another_crs_resolution_or_a_geotiffs_grid() {
    use geocube_core::{Aoi, BoundingBox, Crs, GeoBox};

    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    let b = &tile.bounds;
    let inset = 2000.0;
    let bbox = bbox_arg(b, inset);
    let path = |name: &str| tmp.path().join(name);
    let utm_tif = path("utm.tif");
    let utm = json(&geocube(&load_args(
        s,
        &bbox,
        &[
            "--create",
            "--to-crs",
            "EPSG:32607",
            "--resolution",
            "30",
            "--resampling",
            "bilinear",
            "--out",
            utm_tif.to_str().expect("utf-8"),
            "--json",
            "--quiet",
        ],
    )));
    // The grid: the area's bounding box in UTM 7N, edges on multiples of 30 m.
    let aoi = Aoi::bbox(
        BoundingBox::new(
            b.xmin + inset,
            b.ymin + inset,
            b.xmax - inset,
            b.ymax - inset,
        ),
        Crs::from_epsg(3413).expect("crs"),
    );
    let utm_crs = Crs::from_epsg(32607).expect("crs");
    let bounds = aoi.bounds_in(&utm_crs).expect("bounds");
    let want = GeoBox::from_bbox(bounds, utm_crs, 30.0).expect("grid");
    let wb = want.bbox();
    for edge in [wb.left, wb.bottom, wb.right, wb.top] {
        assert_eq!(edge % 30.0, 0.0, "{edge}");
    }
    assert!(wb.left <= bounds.left && wb.right >= bounds.right);
    assert!(wb.bottom <= bounds.bottom && wb.top >= bounds.top);
    assert_eq!(utm["crs"], "EPSG:32607", "{utm}");
    assert_eq!(utm["resolution"], 30.0);
    assert_eq!(utm["resampling"], "bilinear");
    assert_eq!(utm["shape"]["x"], want.width());
    assert_eq!(utm["shape"]["y"], want.height());
    assert_eq!(
        utm["bounds"],
        serde_json::json!([wb.left, wb.bottom, wb.right, wb.top])
    );
    // Interpolated heights stay within the tile's.
    let dem = &utm["variables"]["dem"];
    assert!(dem["valid_count"].as_u64().expect("count") > 0, "{utm}");
    assert!(dem["min"].as_f64().expect("min") >= tile.stats.min - 1e-3);
    assert!(dem["max"].as_f64().expect("max") <= tile.stats.max + 1e-3);
    assert_eq!(tif_grid(&utm_tif), want);
    assert_eq!(tif_grid(&path("utm_datamask.tif")), want);
    if let Some(info) = gdal(&utm_tif) {
        assert_eq!(
            info["size"],
            serde_json::json!([want.width(), want.height()])
        );
        assert_geotransform(&info, &want);
        let wkt = info["coordinateSystem"]["wkt"].as_str().expect("wkt");
        assert!(
            wkt.contains("UTM zone 7N") && wkt.contains("32607"),
            "{wkt}"
        );
        assert_eq!(info["bands"][0]["noDataValue"], -9999.0);
    }

    // Geographic, across the antimeridian, at the default resolution (a
    // cube pixel's size in degrees): GeographicTypeGeoKey, longitudes
    // continuous past -180°.
    let crossing = world()
        .manifest
        .tiles
        .iter()
        .find(|t| t.antimeridian == AntimeridianSide::Crosses)
        .expect("a tile across 180°");
    let geo_tif = path("geo.tif");
    let geo = json(&geocube(&load_args(
        s,
        &bbox_arg(&crossing.bounds, 1000.0),
        &[
            "--to-crs",
            "EPSG:4326",
            "--out",
            geo_tif.to_str().expect("utf-8"),
            "--json",
            "--quiet",
        ],
    )));
    let res = geo["resolution"].as_f64().expect("resolution");
    assert!((0.000_3..0.001).contains(&res), "{geo}");
    assert!(geo["bounds"][0].as_f64().expect("west") < -180.0, "{geo}");
    assert!(geo["variables"]["dem"]["valid_count"].as_u64() > Some(0));
    let geo_grid = tif_grid(&geo_tif);
    assert!(geo_grid.crs().is_geographic());
    if let Some(info) = gdal(&geo_tif) {
        assert_geotransform(&info, &geo_grid);
        let wkt = info["coordinateSystem"]["wkt"].as_str().expect("wkt");
        assert!(wkt.starts_with("GEOGCRS") && wkt.contains("4326"), "{wkt}");
    }

    // --like: exactly that file's grid, no area needed.
    let like_tif = path("like.tif");
    let like = json(&geocube(&[
        "load",
        DATASET,
        "--store",
        s,
        "--like",
        utm_tif.to_str().expect("utf-8"),
        "--out",
        like_tif.to_str().expect("utf-8"),
        "--json",
        "--quiet",
    ]));
    assert_eq!(tif_grid(&like_tif), want);
    for key in ["crs", "shape", "bounds", "resolution"] {
        assert_eq!(like[key], utm[key], "{key}");
    }
    assert_eq!(like["resampling"], "nearest");
    if let Some(info) = gdal(&like_tif) {
        assert_geotransform(&info, &want);
        assert_eq!(
            info["size"],
            serde_json::json!([want.width(), want.height()])
        );
    }
    // ... and with an area, the part of that grid the area touches.
    let part = format!(
        "{},{},{},{}",
        wb.left + 3000.0,
        wb.bottom + 3000.0,
        wb.left + 6000.0,
        wb.bottom + 6000.0
    );
    let cropped = json(&geocube(&[
        "load",
        DATASET,
        "--store",
        s,
        "--like",
        utm_tif.to_str().expect("utf-8"),
        "--bbox",
        &part,
        "--crs",
        "EPSG:32607",
        "--json",
        "--quiet",
    ]));
    assert_eq!(cropped["shape"], serde_json::json!({"y": 100, "x": 100}));
    assert_eq!(
        cropped["bounds"],
        serde_json::json!([
            wb.left + 3000.0,
            wb.bottom + 3000.0,
            wb.left + 6000.0,
            wb.bottom + 6000.0
        ])
    );

    // --resolution alone: the cube's CRS, 64 m pixels on multiples of 64.
    let coarse = json(&geocube(&load_args(
        s,
        &bbox,
        &[
            "--resolution",
            "64",
            "--resampling",
            "average",
            "--json",
            "--quiet",
        ],
    )));
    assert_eq!(coarse["crs"], "EPSG:3413");
    assert_eq!(coarse["resolution"], 64.0);
    assert_eq!(coarse["resampling"], "average");
    let cb: Vec<f64> = coarse["bounds"]
        .as_array()
        .expect("bounds")
        .iter()
        .map(|v| v.as_f64().expect("edge"))
        .collect();
    assert!(cb.iter().all(|e| e % 64.0 == 0.0), "{coarse}");

    // Mistakes: clap's usage errors (exit 2) and the command's own.
    let bad = geocube(&load_args(s, &bbox, &["--resampling", "bicubic"]));
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let err = stderr(&bad);
    assert!(
        err.contains("bicubic") && err.contains("cubic_spline") && err.contains("nearest"),
        "{err}"
    );
    for (extra, needle) in [
        (
            vec!["--like", "x.tif", "--to-crs", "EPSG:32607"],
            "--to-crs",
        ),
        (vec!["--resolution", "-3"], "-3"),
    ] {
        let o = geocube(&load_args(s, &bbox, &extra));
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let missing = path("missing.tif");
    user_error(
        &geocube(&[
            "load",
            DATASET,
            "--store",
            s,
            "--like",
            missing.to_str().expect("utf-8"),
        ]),
        "missing.tif",
    );
    user_error(
        &geocube(&load_args(s, &bbox, &["--to-crs", "EPSG:99999"])),
        "EPSG:99999",
    );
}

#[test]
fn without_target_flags_a_load_is_the_cube_grid_bit_for_bit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tile = east_tile();
    let bbox = bbox_arg(&tile.bounds, 1500.0);
    let plain_tif = tmp.path().join("plain.tif");
    let plain = json(&geocube(&load_args(
        s,
        &bbox,
        &[
            "--create",
            "--out",
            plain_tif.to_str().expect("utf-8"),
            "--json",
            "--quiet",
        ],
    )));
    assert!(plain.get("resampling").is_none(), "{plain}");
    // The cube's own pixels on the cube's lattice.
    let cube = Cube::open(CubeStorage::local(&store)).expect("open");
    let aoi = geocube::request::bbox_aoi(&bbox, "EPSG:3413").expect("aoi");
    let window = cube.aoi_window(&aoi).expect("window");
    let want = cube.read_window(window, None).expect("read");
    assert_eq!(tif_grid(&plain_tif), want.geobox);
    let mut decoder =
        tiff::decoder::Decoder::new(std::fs::File::open(&plain_tif).expect("tif")).expect("tiff");
    let tiff::decoder::DecodingResult::F32(px) = decoder.read_image().expect("pixels") else {
        panic!("dem is not float32")
    };
    let cube_px = want.variables["dem"].data.as_array::<f32>().expect("f32");
    let cube_px = cube_px.as_standard_layout();
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert!(bits(&px) == bits(cube_px.as_slice().expect("contiguous")));
    // Asking for the cube's own CRS copies the same pixels: the same bytes.
    let same_tif = tmp.path().join("same.tif");
    let same = json(&geocube(&load_args(
        s,
        &bbox,
        &[
            "--to-crs",
            "EPSG:3413",
            "--resampling",
            "cubic",
            "--out",
            same_tif.to_str().expect("utf-8"),
            "--json",
            "--quiet",
        ],
    )));
    assert_eq!(same["resampling"], "copied");
    for key in ["crs", "shape", "bounds", "resolution", "variables"] {
        assert_eq!(same[key], plain[key], "{key}");
    }
    assert!(std::fs::read(&same_tif).expect("same") == std::fs::read(&plain_tif).expect("plain"));
}
