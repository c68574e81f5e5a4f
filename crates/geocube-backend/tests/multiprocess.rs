//! Several processes loading overlapping patch sets into one local cube at
//! once: every load succeeds, every id is recorded once, every pixel is
//! there, and no patch is downloaded twice across processes.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{TileSource, all_ids, assert_cube_holds, config, create, indices};
use geocube_backend::{DownloadBackend, SimpleBackend, ThreadedBackend};
use geocube_core::{Cube, CubeStorage};

const CHILD_ENV: &str = "GEOCUBE_MULTIPROCESS_CHILD";

/// Runs only as a child of the test below: `cube|backend|id,id,...|out.json`.
#[test]
fn child_worker() {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = job.split('|').collect();
    let [cube, backend, ids, out] = parts[..] else {
        panic!("bad child job {job}")
    };
    let ids: Vec<String> = ids.split(',').map(str::to_owned).collect();
    let storage = CubeStorage::local(cube);
    let src = TileSource::with_delay(std::time::Duration::from_millis(15));
    let backend: Box<dyn DownloadBackend> = match backend {
        "simple" => Box::new(SimpleBackend::new(storage, src.download_fn(), config())),
        _ => Box::new(ThreadedBackend::new(storage, src.download_fn(), config()).expect("backend")),
    };
    let report = backend.submit(&indices(&ids)).expect("child submit");
    backend.close().expect("close");
    let downloads = src.downloads.lock().expect("downloads").clone();
    let json = serde_json::json!({ "downloads": downloads, "report": report });
    std::fs::write(out, json.to_string()).expect("write result");
}

#[test]
fn four_processes_load_overlapping_sets_into_one_cube() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cube_path = dir.path().join("cube");
    let storage = CubeStorage::local(&cube_path);
    create(&storage);
    let ids = all_ids();
    let exe = std::env::current_exe().expect("test executable");
    let children: Vec<_> = (0..4)
        .map(|k| {
            // Each process wants 15 of the 25 tiles, starting 5 further on: heavy overlap.
            let mine: Vec<String> = (0..15)
                .map(|i| ids[(k * 5 + i) % ids.len()].clone())
                .collect();
            let out = dir.path().join(format!("child{k}.json"));
            let backend = if k % 2 == 0 { "threaded" } else { "simple" };
            let job = format!(
                "{}|{backend}|{}|{}",
                cube_path.display(),
                mine.join(","),
                out.display()
            );
            let child = Command::new(&exe)
                .args(["--exact", "child_worker", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, job)
                .spawn()
                .expect("spawn child");
            (child, out, mine)
        })
        .collect();
    let mut per_patch: BTreeMap<String, u64> = BTreeMap::new();
    let mut wanted = std::collections::BTreeSet::new();
    for (mut child, out, mine) in children {
        let status = child.wait().expect("wait");
        assert!(status.success(), "a child process failed: {status}");
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out).expect("child output")).expect("json");
        for (id, n) in result["downloads"].as_object().expect("downloads") {
            *per_patch.entry(id.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
        wanted.extend(mine);
    }
    eprintln!("downloads per patch across 4 processes: {per_patch:?}");
    let wanted: Vec<String> = wanted.into_iter().collect();
    for id in &wanted {
        assert_eq!(
            per_patch.get(id).copied().unwrap_or(0),
            1,
            "{id} downloaded {:?} times",
            per_patch.get(id)
        );
    }
    assert_cube_holds(&Cube::open(storage).expect("open"), &wanted);
}
