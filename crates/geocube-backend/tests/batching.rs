//! The threaded writer holds a batch open while downloads of it still run,
//! so the patches of one submit land in one commit (each shared chunk
//! encoded once), and it never waits on a download that has ended.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Fault, TileSource, assert_cube_holds, config, create, indices, tile_id};
use geocube_backend::{Action, DownloadBackend, ThreadedBackend};
use geocube_core::CubeStorage;

/// Distinct write attempts (a batch records one event per patch, same start).
fn commits(backend: &ThreadedBackend) -> usize {
    backend
        .events()
        .events()
        .iter()
        .filter(|e| e.action == Action::Write && e.ok)
        .map(|e| e.start.to_bits())
        .collect::<BTreeSet<_>>()
        .len()
}

fn tmp_storage() -> (tempfile::TempDir, CubeStorage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    (dir, storage)
}

#[test]
fn staggered_downloads_of_one_submit_share_one_commit() {
    let (_dir, storage) = tmp_storage();
    create(&storage);
    let src = TileSource::new();
    // 4 tiles around a chunk corner arriving 0, 60, 120, 180 ms apart.
    let ids: Vec<String> = [(0, 1), (0, 2), (1, 1), (1, 2)]
        .iter()
        .map(|&(r, c)| tile_id(r, c))
        .collect();
    for (k, id) in ids.iter().enumerate() {
        src.slow(id, Duration::from_millis(60 * k as u64));
    }
    let backend = ThreadedBackend::new(storage, src.download_fn(), config()).expect("backend");
    let report = backend.submit(&indices(&ids)).expect("submit");
    assert_eq!(report.downloaded.len(), 4);
    assert_eq!(commits(&backend), 1, "{:#?}", backend.events().events());
    assert_cube_holds(&backend.cube().expect("cube"), &ids);
    backend.close().expect("close");
}

#[test]
fn a_failed_download_does_not_hold_the_batch_open() {
    let (_dir, storage) = tmp_storage();
    create(&storage);
    let src = TileSource::new();
    let (good, bad) = (tile_id(0, 0), tile_id(0, 1));
    src.slow(&bad, Duration::from_millis(200));
    src.fault(&bad, Fault::Fatal);
    // A linger far longer than the test: only the running count ends it.
    let linger = Duration::from_secs(120);
    let backend =
        ThreadedBackend::new(storage, src.download_fn(), config().linger(linger)).expect("backend");
    let started = Instant::now();
    let err = backend
        .submit(&indices(&[good.clone(), bad.clone()]))
        .expect_err("one download fails");
    assert!(
        started.elapsed() < linger / 2,
        "the writer waited for a download that had failed"
    );
    assert!(err.to_string().contains(&bad), "{err}");
    assert_cube_holds(&backend.cube().expect("cube"), &[good]);
    backend.close().expect("close");
}

#[test]
fn zero_linger_commits_what_is_queued_at_once() {
    let (_dir, storage) = tmp_storage();
    create(&storage);
    let src = TileSource::new();
    let (fast, slow) = (tile_id(0, 0), tile_id(0, 1));
    src.slow(&slow, Duration::from_secs(1));
    let backend = ThreadedBackend::new(storage, src.download_fn(), config().linger(Duration::ZERO))
        .expect("backend");
    backend
        .submit(&indices(&[fast.clone(), slow.clone()]))
        .expect("submit");
    assert_eq!(commits(&backend), 2);
    assert_cube_holds(&backend.cube().expect("cube"), &[fast, slow]);
    backend.close().expect("close");
}

#[test]
fn worker_threads_are_capped_and_follow_the_work() {
    let (_dir, storage) = tmp_storage();
    create(&storage);
    let src = TileSource::new();
    // Setters clamp; a config built field by field is capped by the backend.
    assert_eq!(
        config().workers(100_000).workers,
        geocube_backend::BackendConfig::MAX_WORKERS
    );
    let mut huge = config();
    huge.workers = 100_000;
    huge.queue_capacity = usize::MAX;
    huge.max_batch = usize::MAX;
    let capped = huge.clone().capped();
    assert_eq!(
        (capped.workers, capped.queue_capacity, capped.max_batch),
        (
            geocube_backend::BackendConfig::MAX_WORKERS,
            geocube_backend::BackendConfig::MAX_QUEUE_CAPACITY,
            geocube_backend::BackendConfig::MAX_BATCH
        )
    );
    let started = Instant::now();
    let backend = ThreadedBackend::new(storage, src.download_fn(), huge).expect("backend");
    assert_eq!(backend.worker_threads(), 0, "no download, no worker");
    // One missing patch: one worker, in about the usual time.
    backend.submit(&indices(&[tile_id(0, 0)])).expect("submit");
    assert_eq!(backend.worker_threads(), 1);
    // Many at once: never more than the cap.
    let ids: Vec<String> = (0..5)
        .flat_map(|r| (0..5).map(move |c| tile_id(r, c)))
        .collect();
    for id in &ids {
        src.slow(id, Duration::from_millis(50));
    }
    backend.submit(&indices(&ids)).expect("submit");
    let threads = backend.worker_threads();
    assert!(
        (2..=geocube_backend::BackendConfig::MAX_WORKERS.min(ids.len())).contains(&threads),
        "{threads} workers"
    );
    assert_cube_holds(&backend.cube().expect("cube"), &ids);
    backend.close().expect("close");
    assert!(started.elapsed() < Duration::from_secs(60));
}
