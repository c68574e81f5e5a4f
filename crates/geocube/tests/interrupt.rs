//! Ctrl-C (SIGINT) during `geocube load`: the command stops promptly, exits
//! 130, commits nothing half-done (`verify` finds the cube consistent), and
//! leaves no claim behind (a re-run loads the rest at once).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use geocube_testkit::server::{FixtureServer, ServerOptions};
use geocube_testkit::{Preset, fixtures};

fn geocube(args: &[&str], server: &FixtureServer, aux: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_geocube"));
    cmd.args(args)
        .env("GEOCUBE_STAC_URL", server.stac_api_url())
        .env("GEOCUBE_AUX_DIR", aux)
        .env_remove("RUST_BACKTRACE");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "failed: {}{}",
        text(&o.stderr),
        text(&o.stdout)
    );
}

#[test]
fn sigint_stops_a_load_with_130_and_a_consistent_cube() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = fixtures::generate(Preset::Tiny, dir.path()).expect("fixtures");
    // Slow COGs: the 9 tiles take seconds, so the interrupt lands mid-load.
    let slow = FixtureServer::start(
        dir.path(),
        ServerOptions {
            latency: Duration::from_millis(300),
            fault_path_prefix: Some("/mosaics/".into()),
            ..ServerOptions::default()
        },
    )
    .expect("server");
    let b = manifest.mosaic_bounds;
    let bbox = format!("{},{},{},{}", b.xmin, b.ymin, b.xmax, b.ymax);
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("cube.icechunk");
    let s = store.to_str().expect("utf-8");
    let load = [
        "load",
        "arcticdem-32m",
        "--store",
        s,
        "--bbox",
        &bbox,
        "--crs",
        "EPSG:3413",
        "--create",
        "--workers",
        "2",
        "--quiet",
    ];
    let mut child = geocube(&load, &slow, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn geocube");
    // Once the cube exists and downloads have started.
    let started = Instant::now();
    while !store.join("refs").exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    let pid = child.id().to_string();
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            break child.wait_with_output().expect("output");
        }
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "geocube did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let stopped_after = sent.elapsed();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    eprintln!("stopped {stopped_after:?} after SIGINT");

    // Consistent both ways, checked against the source.
    let fast = FixtureServer::start(dir.path(), ServerOptions::default()).expect("server");
    let verify = ["verify", "--store", s, "--check-source", "9"];
    ok(&geocube(&verify, &fast, dir.path())
        .output()
        .expect("verify"));
    let committed = geocube_core::Cube::open(geocube_core::CubeStorage::local(&store))
        .expect("open")
        .loaded_patches()
        .expect("ids")
        .len();
    assert!(committed < 9, "the load finished before the interrupt");

    // No claim is left held: the re-run loads the rest without waiting.
    let rerun = geocube(&load[..load.len() - 3], &fast, dir.path())
        .output()
        .expect("re-run");
    ok(&rerun);
    ok(&geocube(&verify, &fast, dir.path())
        .output()
        .expect("verify"));
    let ids = geocube_core::Cube::open(geocube_core::CubeStorage::local(&store))
        .expect("open")
        .loaded_patches()
        .expect("ids");
    assert_eq!(ids.len(), 9);
}
