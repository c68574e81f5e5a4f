//! One accessor shared by many threads, and many processes on one cube:
//! every patch is downloaded once and every pixel is right.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{TileSource, accessor, assert_values, crs, pixel_bbox};
use geocube::{Accessor, BackendKind, LoadOptions, Source};
use geocube_core::{Aoi, CubeStorage, Toi};

const CHILD_ENV: &str = "GEOCUBE_ACCESSOR_CHILD";

/// Eight overlapping 70 px windows along the diagonal: each tile is wanted
/// by two to four of them.
fn window(k: usize) -> Aoi {
    let o = 15 * k;
    Aoi::bbox(pixel_bbox(o, o, o + 70, o + 70), crs())
}

#[test]
fn threads_share_one_accessor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::with_delay(Duration::from_millis(20));
    let acc = Arc::new(accessor(&src, CubeStorage::local(dir.path().join("cube"))));
    acc.create(false, false).expect("create");
    let handles: Vec<_> = (0..8)
        .map(|k| {
            let acc = Arc::clone(&acc);
            std::thread::spawn(move || {
                acc.load(&window(k), &Toi::None, LoadOptions::default())
                    .expect("load")
            })
        })
        .collect();
    let mut wanted = std::collections::BTreeSet::new();
    for h in handles {
        let loaded = h.join().expect("thread");
        assert_values(&loaded.dataset);
        wanted.extend(loaded.report.patches);
    }
    let downloads = src.downloads.lock().expect("downloads").clone();
    assert_eq!(
        downloads
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        wanted
    );
    assert!(downloads.values().all(|n| *n == 1), "{downloads:?}");
    let mut ids = acc.loaded_patches().expect("ids");
    ids.sort();
    assert_eq!(ids, wanted.into_iter().collect::<Vec<_>>());
}

/// Runs only as a child of the test below: `cube|k|backend|out.json`.
#[test]
fn child_loader() {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = job.split('|').collect();
    let [cube, k, backend, out] = parts[..] else {
        panic!("bad child job {job}")
    };
    let k: usize = k.parse().expect("k");
    let src = TileSource::with_delay(Duration::from_millis(20));
    let kind = if backend == "simple" {
        BackendKind::Simple
    } else {
        BackendKind::Threaded
    };
    let acc = Accessor::builder(
        Arc::clone(&src) as Arc<dyn Source>,
        CubeStorage::local(cube),
    )
    .backend(kind)
    .config(common::config())
    .build()
    .expect("accessor");
    // Each process loads two windows; create races are fine (exists_ok).
    for w in [k, k + 3] {
        let loaded = acc
            .load(&window(w), &Toi::None, LoadOptions::default().create(true))
            .expect("child load");
        assert_values(&loaded.dataset);
    }
    acc.close().expect("close");
    let downloads = src.downloads.lock().expect("downloads").clone();
    std::fs::write(out, serde_json::to_string(&downloads).expect("json")).expect("write result");
}

#[test]
fn processes_share_one_cube() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = dir.path().join("cube");
    let exe = std::env::current_exe().expect("test executable");
    let children: Vec<_> = (0..4)
        .map(|k| {
            let out = dir.path().join(format!("child{k}.json"));
            let backend = if k % 2 == 0 { "threaded" } else { "simple" };
            let job = format!("{}|{k}|{backend}|{}", cube.display(), out.display());
            let child = Command::new(&exe)
                .args(["--exact", "child_loader", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, job)
                .spawn()
                .expect("spawn child");
            (child, out)
        })
        .collect();
    let mut per_patch: BTreeMap<String, u32> = BTreeMap::new();
    for (mut child, out) in children {
        assert!(
            child.wait().expect("wait").success(),
            "a child process failed"
        );
        let downloads: BTreeMap<String, u32> =
            serde_json::from_slice(&std::fs::read(&out).expect("output")).expect("json");
        for (id, n) in downloads {
            *per_patch.entry(id).or_default() += n;
        }
    }
    assert!(!per_patch.is_empty());
    assert!(
        per_patch.values().all(|n| *n == 1),
        "downloads per patch across processes: {per_patch:?}"
    );
    let acc = accessor(&TileSource::new(), CubeStorage::local(&cube));
    let mut ids = acc.loaded_patches().expect("ids");
    ids.sort();
    assert_eq!(ids, per_patch.keys().cloned().collect::<Vec<_>>());
    // The children loaded windows 0..=6: all there, nothing left to download.
    for k in 0..7 {
        let ds = acc
            .load(&window(k), &Toi::None, LoadOptions::default())
            .expect("reload");
        assert!(ds.report.submit.downloaded.is_empty());
        assert_values(&ds.dataset);
    }
}
