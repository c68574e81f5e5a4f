//! One conformance suite for the `DownloadBackend` trait, run against both
//! backends on real local Icechunk repositories.

mod common;

use std::sync::Arc;

use common::{Fault, TileSource, all_ids, assert_cube_holds, config, create, indices, tile_id};
use geocube_backend::{DownloadBackend, Error, SimpleBackend, Stage, ThreadedBackend};
use geocube_core::CubeStorage;

type MakeBackend = fn(CubeStorage, &Arc<TileSource>) -> Box<dyn DownloadBackend>;

fn simple(storage: CubeStorage, src: &Arc<TileSource>) -> Box<dyn DownloadBackend> {
    Box::new(SimpleBackend::new(storage, src.download_fn(), config()))
}

fn threaded(storage: CubeStorage, src: &Arc<TileSource>) -> Box<dyn DownloadBackend> {
    Box::new(ThreadedBackend::new(storage, src.download_fn(), config()).expect("threaded"))
}

struct Fixture {
    _dir: tempfile::TempDir,
    _storage: CubeStorage,
    src: Arc<TileSource>,
    backend: Box<dyn DownloadBackend>,
}

fn fixture(make: MakeBackend) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    create(&storage);
    let src = TileSource::new();
    let backend = make(storage.clone(), &src);
    Fixture {
        _dir: dir,
        _storage: storage,
        src,
        backend,
    }
}

fn loads_everything_once(make: MakeBackend) {
    let f = fixture(make);
    let ids = all_ids();
    let report = f.backend.submit(&indices(&ids)).expect("submit");
    assert_eq!(report.requested, ids.len());
    assert_eq!(report.downloaded.len(), ids.len());
    assert_cube_holds(&f.backend.cube().expect("cube"), &ids);
    // Warm: nothing downloaded again.
    let again = f.backend.submit(&indices(&ids)).expect("warm");
    assert!(again.downloaded.is_empty());
    assert_eq!(again.already_loaded, ids.len());
    for id in &ids {
        assert_eq!(f.src.downloads_of(id), 1, "{id}");
    }
    assert_eq!(f.backend.events().downloads_of(&ids[0]), 1);
}

fn duplicates_in_one_submit_load_once(make: MakeBackend) {
    let f = fixture(make);
    let ids = vec![
        tile_id(0, 0),
        tile_id(0, 1),
        tile_id(0, 0),
        tile_id(0, 1),
        tile_id(0, 0),
    ];
    let report = f.backend.submit(&indices(&ids)).expect("submit");
    assert_eq!(report.requested, 2);
    assert_eq!(f.src.total_downloads(), 2);
    assert_cube_holds(
        &f.backend.cube().expect("cube"),
        &[tile_id(0, 0), tile_id(0, 1)],
    );
}

fn retryable_errors_are_retried(make: MakeBackend) {
    let f = fixture(make);
    f.src.fault(&tile_id(1, 1), Fault::Flaky(3));
    f.backend
        .submit(&indices(&[tile_id(1, 1)]))
        .expect("submit");
    assert_eq!(f.src.downloads_of(&tile_id(1, 1)), 4);
    assert_cube_holds(&f.backend.cube().expect("cube"), &[tile_id(1, 1)]);
}

fn failures_are_named_and_the_rest_is_loaded(make: MakeBackend) {
    let f = fixture(make);
    f.src.fault(&tile_id(0, 0), Fault::Fatal);
    f.src.fault(&tile_id(0, 1), Fault::AlwaysRetryable);
    f.src.fault(&tile_id(0, 2), Fault::Panic);
    f.src.fault(&tile_id(0, 3), Fault::BadPatch);
    let ids: Vec<String> = (0..5)
        .map(|c| tile_id(0, c))
        .chain([tile_id(1, 0)])
        .collect();
    let err = f.backend.submit(&indices(&ids)).expect_err("failures");
    let Error::Submit { requested, failed } = &err else {
        panic!("unexpected error {err}")
    };
    assert_eq!(*requested, 6);
    let mut by_id: Vec<_> = failed
        .iter()
        .map(|p| (p.id.as_str(), p.stage, p.tries))
        .collect();
    by_id.sort_unstable();
    assert_eq!(
        by_id,
        [
            ("t0_0", Stage::Download, 1),
            ("t0_1", Stage::Download, 5),
            ("t0_2", Stage::Download, 1),
            ("t0_3", Stage::Write, 1),
        ]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("t0_0") && msg.contains("404") && msg.contains("panicked"),
        "{msg}"
    );
    assert_eq!(
        f.src.downloads_of(&tile_id(0, 0)),
        1,
        "fatal errors are not retried"
    );
    assert_cube_holds(
        &f.backend.cube().expect("cube"),
        &[tile_id(0, 4), tile_id(1, 0)],
    );
    // Still usable: the failed ones load once the source recovers.
    f.src.faults.lock().expect("faults").clear();
    f.backend.submit(&indices(&ids)).expect("retry submit");
    assert_cube_holds(&f.backend.cube().expect("cube"), &ids);
}

fn concurrent_overlapping_submits_download_each_patch_once(make: MakeBackend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    create(&storage);
    let src = TileSource::with_delay(std::time::Duration::from_millis(20));
    let backend: Arc<dyn DownloadBackend> = Arc::from(make(storage, &src));
    let ids = all_ids();
    let handles: Vec<_> = (0..4)
        .map(|k| {
            // Overlapping windows of the id list.
            let mine: Vec<String> = ids.iter().skip(k * 4).take(12).cloned().collect();
            let b = Arc::clone(&backend);
            std::thread::spawn(move || b.submit(&indices(&mine)).map(|r| r.requested))
        })
        .collect();
    for h in handles {
        h.join().expect("thread").expect("submit");
    }
    let wanted: Vec<String> = ids.iter().take(24).cloned().collect();
    for id in &wanted {
        assert_eq!(src.downloads_of(id), 1, "{id} downloaded more than once");
    }
    assert_cube_holds(&backend.cube().expect("cube"), &wanted);
}

fn closed_backends_refuse_work(make: MakeBackend) {
    let f = fixture(make);
    f.backend.close().expect("close");
    assert!(matches!(
        f.backend.submit(&indices(&[tile_id(0, 0)])),
        Err(Error::Closed)
    ));
    f.backend.close().expect("closing twice is fine");
}

fn a_missing_cube_is_reported(make: MakeBackend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("nothing"));
    let src = TileSource::new();
    let backend = make(storage.clone(), &src);
    assert!(!backend.created());
    let err = backend.assert_created().expect_err("missing");
    assert!(err.to_string().contains("create"), "{err}");
    assert!(backend.submit(&indices(&[tile_id(0, 0)])).is_err());
    assert_eq!(src.total_downloads(), 0);
    create(&storage);
    assert!(backend.created());
    let _ = Fixture {
        _dir: dir,
        _storage: storage,
        src,
        backend,
    };
}

macro_rules! conformance {
    ($($backend:ident),*) => {$(
        mod $backend {
            #[test] fn loads_everything_once() { super::loads_everything_once(super::$backend) }
            #[test] fn duplicates_in_one_submit_load_once() { super::duplicates_in_one_submit_load_once(super::$backend) }
            #[test] fn retryable_errors_are_retried() { super::retryable_errors_are_retried(super::$backend) }
            #[test] fn failures_are_named_and_the_rest_is_loaded() { super::failures_are_named_and_the_rest_is_loaded(super::$backend) }
            #[test] fn concurrent_overlapping_submits_download_each_patch_once() { super::concurrent_overlapping_submits_download_each_patch_once(super::$backend) }
            #[test] fn closed_backends_refuse_work() { super::closed_backends_refuse_work(super::$backend) }
            #[test] fn a_missing_cube_is_reported() { super::a_missing_cube_is_reported(super::$backend) }
        }
    )*};
}

conformance!(simple, threaded);
