//! `kill -9` at random points of loads: whatever moment a writer dies at,
//! the cube stays consistent in both directions (every recorded id has its
//! pixels, exactly the source's; every chunk has its id), and a clean re-run
//! completes it.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{TileSource, accessor, assert_values, crs, pixel_bbox};
use geocube::{Accessor, BackendKind, LoadOptions, Source, VerifyOptions};
use geocube_core::{Aoi, CubeStorage, Toi};

const CHILD_ENV: &str = "GEOCUBE_KILL_CHILD";
const ITERATIONS: u64 = 8;

/// The whole 200 x 200 px cube (25 tiles).
fn everything() -> Aoi {
    Aoi::bbox(pixel_bbox(0, 0, 200, 200), crs())
}

/// Runs only as a child of the test below: `cube|backend`. Loads diagonal
/// windows one after the other (a commit each), then everything.
#[test]
fn kill_child_loader() {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let Some((cube, backend)) = job.split_once('|') else {
        panic!("bad child job {job}")
    };
    let kind = if backend == "simple" {
        BackendKind::Simple
    } else {
        BackendKind::Threaded
    };
    let src = TileSource::with_delay(Duration::from_millis(15));
    let acc = Accessor::builder(src as Arc<dyn Source>, CubeStorage::local(cube))
        .backend(kind)
        .config(common::config())
        .build()
        .expect("accessor");
    for k in 0..4 {
        let o = 40 * k;
        let aoi = Aoi::bbox(pixel_bbox(o, o, o + 50, o + 50), crs());
        acc.load(&aoi, &Toi::None, LoadOptions::default().create(true))
            .expect("child load");
    }
    acc.load(&everything(), &Toi::None, LoadOptions::default())
        .expect("child load");
}

/// xorshift64*: deterministic "random" kill points.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn assert_consistent(acc: &Accessor, when: &str) -> usize {
    let report = acc
        .verify(VerifyOptions {
            check_source: usize::MAX,
        })
        .expect("verify");
    assert!(report.is_consistent(), "{when}: {report:#?}");
    assert_eq!(report.source_checked.len(), report.ids, "{when}");
    report.ids
}

#[test]
fn kill_9_at_random_points_leaves_a_consistent_cube() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().expect("test executable");
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    // Kill points are random around a centre that follows the machine's
    // speed: later after a kill that found nothing committed, earlier after
    // one that found everything, so some kills land between commits even
    // where processes start slowly.
    let mut centre_ms = 200_u64;
    let mut committed = Vec::new();
    for i in 0..ITERATIONS {
        // A fresh cube each time, so every kill lands in a different stage.
        let dir = tempfile::tempdir().expect("tempdir");
        let cube = dir.path().join("cube");
        let backend = if i % 2 == 0 { "simple" } else { "threaded" };
        let mut child = Command::new(&exe)
            .args(["--exact", "kill_child_loader", "--test-threads=1"])
            .env(CHILD_ENV, format!("{}|{backend}", cube.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn child");
        let after = Duration::from_millis(centre_ms / 2 + next(&mut rng) % centre_ms.max(1));
        std::thread::sleep(after);
        // SIGKILL on Unix: no destructor, no unlock, no cleanup runs.
        let _ = child.kill();
        let _ = child.wait();
        let acc = accessor(&TileSource::new(), CubeStorage::local(&cube));
        let when = format!("kill {i} after {after:?} ({backend})");
        let n = if acc.created() {
            assert_consistent(&acc, &when)
        } else {
            0
        };
        committed.push(n);
        match n {
            0 => centre_ms = centre_ms * 3 / 2,
            25 => centre_ms = (centre_ms * 2 / 3).max(20),
            _ => {}
        }
        // A clean re-run completes the cube and reads the source's pixels back.
        let full = acc
            .load(
                &everything(),
                &Toi::None,
                LoadOptions::default().create(true),
            )
            .unwrap_or_else(|e| panic!("clean re-run after {when}: {e}"));
        assert_values(&full.dataset);
        assert_eq!(assert_consistent(&acc, &format!("re-run after {when}")), 25);
    }
    eprintln!("patches committed when each kill landed: {committed:?}");
    // The kills landed at different stages: before any commit, between
    // commits, and (perhaps) after the last.
    assert!(
        committed.iter().any(|n| *n > 0 && *n < 25),
        "no kill landed between commits: {committed:?}"
    );
}
