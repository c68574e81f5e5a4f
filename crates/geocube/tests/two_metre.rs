//! The `arcticdem-2m` dataset end to end against the testkit's 2 m
//! fixtures, through the `geocube` command: a prefetch of an area across
//! the four 25000² sub-tiles (3.1 GB each on the cube grid, over the
//! backend's 256 MiB whole-patch limit, so streamed chunk by chunk, one
//! commit per tile), then the cube records the four ids, `verify` finds it
//! consistent, and windows of the cube read back equal the pixels the
//! testkit computes for them. The prefetch's peak RSS is measured while it
//! runs.
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_possible_truncation
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use geocube_core::{Cube, CubeStorage, Window};
use geocube_testkit::server::{FixtureServer, ServerOptions};
use geocube_testkit::{FixtureManifest, PixelWindow, Preset, fixtures};
use serde_json::Value;

/// The 2 m fixtures, generated once per target directory (a few seconds).
fn two_metre() -> (PathBuf, FixtureManifest) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "fixtures-2m-v{}",
        geocube_testkit::manifest::GENERATOR_VERSION
    ));
    let manifest = fixtures::ensure(Preset::TwoMetre, &dir).expect("2 m fixtures");
    (dir, manifest)
}

fn geocube(args: &[&str], server: &FixtureServer, aux: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_geocube"));
    c.args(args)
        .env("GEOCUBE_STAC_URL", server.stac_api_url())
        .env("GEOCUBE_AUX_DIR", aux)
        .env_remove("RUST_BACKTRACE");
    c
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "geocube failed: {}\nstdout: {}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `VmHWM` of a running process, in KiB (`None` once it has exited).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Runs `cmd` to the end, reading its peak RSS every few milliseconds
/// (`VmHWM` only grows, so the last reading before it exits is its peak
/// but for what it allocated in its last moments).
fn run_measured(mut cmd: Command) -> (Output, u64, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run geocube");
    let pid = child.id();
    let mut peak = 0;
    // Read the pipes on threads so that a chatty child never blocks.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: out_t.join().expect("stdout thread"),
        stderr: err_t.join().expect("stderr thread"),
    };
    (output, peak, started.elapsed())
}

/// A small deterministic generator (SplitMix64) for the windows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: i64) -> i64 {
        (self.next() % n as u64) as i64
    }
}

/// The fixture's pixels of `window` (on the global 2 m lattice: column
/// `x / 2`, row `-y / 2`): `(dem, datamask)`, NaN and `false` (the cube's
/// fill) where no sub-tile is.
fn expected(m: &FixtureManifest, row0: i64, col0: i64, h: i64, w: i64) -> (Vec<f32>, Vec<bool>) {
    let (hu, wu) = (h as usize, w as usize);
    let mut dem = vec![f32::NAN; hu * wu];
    let mut mask = vec![false; hu * wu];
    for t in &m.tiles {
        let lw = t.lattice_window;
        let (r0, c0) = (row0.max(lw.row_off), col0.max(lw.col_off));
        let r1 = (row0 + h).min(lw.row_off + i64::from(lw.height));
        let c1 = (col0 + w).min(lw.col_off + i64::from(lw.width));
        if r0 >= r1 || c0 >= c1 {
            continue;
        }
        let part = PixelWindow {
            row_off: r0 - lw.row_off,
            col_off: c0 - lw.col_off,
            height: (r1 - r0) as u32,
            width: (c1 - c0) as u32,
        };
        let (d, k) = fixtures::tile_window(&m.layout, t.mosaic_row, t.mosaic_col, part)
            .expect("fixture window");
        let pw = (c1 - c0) as usize;
        for r in 0..(r1 - r0) as usize {
            let at = (r0 - row0) as usize + r;
            let dst = at * wu + (c0 - col0) as usize;
            dem[dst..dst + pw].copy_from_slice(&d[r * pw..(r + 1) * pw]);
            for (o, &v) in mask[dst..dst + pw].iter_mut().zip(&k[r * pw..(r + 1) * pw]) {
                *o = v != 0;
            }
        }
    }
    (dem, mask)
}

#[test]
fn two_metre_tiles_prefetch_streamed_verify_and_read_back_exactly() {
    let (dir, m) = two_metre();
    let server = FixtureServer::start(&dir, ServerOptions::default()).expect("server");
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("cube.icechunk");
    let s = store.to_str().expect("utf-8");
    // 2 km around the corner the four sub-tiles share.
    let (cx, cy) = (-1_550_000.0, 1_550_000.0);
    let bbox = format!(
        "{},{},{},{}",
        cx - 1000.0,
        cy - 1000.0,
        cx + 1000.0,
        cy + 1000.0
    );
    let bbox_arg = format!("--bbox={bbox}");
    let prefetch = geocube(
        &[
            "prefetch",
            "arcticdem-2m",
            "--store",
            s,
            &bbox_arg,
            "--crs",
            "EPSG:3413",
            "--create",
            "--json",
            "--quiet",
        ],
        &server,
        &dir,
    );
    let (out, peak_kib, took) = run_measured(prefetch);
    let report: Value = serde_json::from_str(ok(&out).trim()).expect("one JSON object");
    let ids: BTreeSet<String> = m.tiles.iter().map(|t| t.dem_id.clone()).collect();
    let strs = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(strs(&report["patches"]), ids, "{report}");
    assert_eq!(strs(&report["downloaded"]), ids, "{report}");
    let peak_mib = peak_kib as f64 / 1024.0;
    eprintln!(
        "prefetch of the four 25000² sub-tiles: {:.1} s, peak RSS {peak_mib:.0} MiB",
        took.as_secs_f64()
    );
    // One sub-tile held whole is 625 Mpx × 5 bytes = 2980 MiB; four
    // workers would hold four. Streamed, the process stays far below one.
    // (The 1.5 GB bound of issue 11 is checked in release by `cargo xtask
    // bench --scenarios two-metre`.)
    assert!(
        peak_mib < 2980.0,
        "peak RSS {peak_mib:.0} MiB: a tile was held whole"
    );

    // Each streamed tile is its own commit with its id.
    let events: Value =
        serde_json::from_slice(&std::fs::read(store.join(".geocube-events.json")).expect("events"))
            .expect("events JSON");
    let writes: Vec<&Value> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "write" && e["ok"] == true)
        .collect();
    let written: BTreeSet<String> = writes
        .iter()
        .filter_map(|e| e["patch_id"].as_str().map(str::to_owned))
        .collect();
    // A batch's patches share their commit's start; streamed tiles do not.
    let commits: BTreeSet<u64> = writes
        .iter()
        .filter_map(|e| e["start"].as_f64().map(f64::to_bits))
        .collect();
    assert_eq!((written.len(), commits.len()), (4, 4), "{events}");
    let cube = Cube::open(CubeStorage::local(&store)).expect("open cube");
    let loaded: BTreeSet<String> = cube.loaded_patches().expect("ids").into_iter().collect();
    assert_eq!(loaded, ids);

    let verified = geocube(&["verify", "--store", s, "--json"], &server, &dir)
        .output()
        .expect("run verify");
    let v: Value = serde_json::from_str(ok(&verified).trim()).expect("verify JSON");
    assert_eq!(v["ids"], 4, "{v}");
    for key in ["unknown_ids", "missing_chunks", "orphan_chunks"] {
        assert_eq!(v[key], serde_json::json!([]), "{key}: {v}");
    }
    // The sea leaves whole datamask chunks unstored (all fill), not dem ones.
    let chunks = v["chunks"].as_u64().unwrap_or(0);
    assert!(chunks > 200 && chunks < 2 * 225, "{v}");

    // Windows of the cube against the fixture's pixels. The cube's grid on
    // the global 2 m lattice: column = x / 2, row = -y / 2.
    let a = cube.layout().geobox.affine();
    let (col_of_lattice, row_of_lattice) =
        ((a.x0 / 2.0).round() as i64, (-a.y0 / 2.0).round() as i64);
    let (x0, y0) = ((cx / 2.0) as i64, (-cy / 2.0) as i64);
    let mut windows: Vec<(i64, i64, i64, i64)> = vec![
        // Where the four sub-tiles meet.
        (y0 - 150, x0 - 100, 300, 200),
        // Along the seam of the northern pair, on the island.
        (y0 - 4000, x0 - 30, 500, 60),
        // The mosaic's north-west corner, sticking out of it (fill outside).
        (y0 - 25_000 - 20, x0 - 25_000 - 20, 64, 64),
    ];
    let mut rng = Rng(0x2_4275);
    for k in 0..24 {
        let (h, w) = (1 + rng.below(400), 1 + rng.below(400));
        // Most on the island (within 11 250 px of the centre), a few anywhere.
        let reach = if k % 4 == 0 { 25_000 } else { 11_000 };
        let r = y0 - reach + rng.below(2 * reach - h);
        let c = x0 - reach + rng.below(2 * reach - w);
        windows.push((r, c, h, w));
    }
    let (mut land, mut sea) = (0usize, 0usize);
    for (r, c, h, w) in windows {
        let (want_dem, want_mask) = expected(&m, r, c, h, w);
        let win = Window::new(
            (r - row_of_lattice) as usize,
            (c - col_of_lattice) as usize,
            h as usize,
            w as usize,
        );
        let ds = cube.read_window(win, None).expect("read window");
        let dem = ds
            .variable("dem")
            .and_then(|v| v.data.as_array::<f32>())
            .expect("dem");
        let mask = ds
            .variable("datamask")
            .and_then(|v| v.data.as_array::<bool>())
            .expect("datamask");
        let differing = dem
            .iter()
            .zip(&want_dem)
            .zip(mask.iter().zip(&want_mask))
            .filter(|((g, w), (gm, wm))| {
                !(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())) || gm != wm
            })
            .count();
        assert_eq!(
            differing, 0,
            "window rows {r}.., cols {c}.. ({h}×{w}) differs from the fixture"
        );
        land += want_mask.iter().filter(|&&v| v).count();
        sea += want_dem.iter().filter(|&&v| v == -9999.0).count();
    }
    // The windows saw land and sea (and lakes), not only one of them.
    assert!(
        land > 100_000 && sea > 10_000,
        "{land} land, {sea} sea pixels compared"
    );
}
