//! Cancelling a load: submits return promptly with `Error::Cancelled`,
//! nothing half-done is committed, every id that was committed has its
//! pixels, and the claims are free for the next load.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TILE, TileSource, all_ids, assert_cube_holds, config, create, indices};
use geocube_backend::{DownloadBackend, Error, SimpleBackend, ThreadedBackend};
use geocube_core::{CancelToken, CubeStorage};

fn check_cancel(
    make: impl Fn(CubeStorage, Arc<TileSource>, CancelToken) -> Box<dyn DownloadBackend>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    create(&storage);
    // 25 tiles at 150 ms each: seconds of work, cancelled after 400 ms.
    let src = TileSource::with_delay(Duration::from_millis(150));
    let token = CancelToken::new();
    let backend: Arc<dyn DownloadBackend> =
        Arc::from(make(storage.clone(), Arc::clone(&src), token.clone()));
    let ids = all_ids();
    let worker = {
        let (backend, ids) = (Arc::clone(&backend), ids.clone());
        std::thread::spawn(move || backend.submit(&indices(&ids)))
    };
    std::thread::sleep(Duration::from_millis(400));
    let cancelled_at = Instant::now();
    backend.cancel();
    let result = worker.join().expect("thread");
    let waited = cancelled_at.elapsed();
    assert!(matches!(result, Err(Error::Cancelled { .. })), "{result:?}");
    // Promptly: at most the download in flight (150 ms) and a commit.
    assert!(
        waited < Duration::from_secs(3),
        "submit took {waited:?} to stop"
    );
    assert!(src.total_downloads() < 25, "the downloads went on");
    backend.close().expect("close");

    // Consistent: what is recorded has its pixels; no chunk is written
    // that no recorded tile touches.
    let cube = geocube_core::Cube::open(storage.clone()).expect("open");
    let loaded = cube.loaded_patches().expect("ids");
    assert_cube_holds(&cube, &loaded);
    let chunk = common::CHUNK;
    for addr in cube.written_chunks().expect("chunks") {
        let touched = loaded.iter().any(|id| {
            let (r, c) = common::parse(id).expect("tile id");
            let (rows, cols) = (r * TILE..(r + 1) * TILE, c * TILE..(c + 1) * TILE);
            let (cr, cc) = (
                addr.row * chunk..(addr.row + 1) * chunk,
                addr.col * chunk..(addr.col + 1) * chunk,
            );
            rows.start < cr.end && cr.start < rows.end && cols.start < cc.end && cc.start < cols.end
        });
        assert!(touched, "chunk {addr:?} holds pixels of no recorded patch");
    }
    // The claims are free: a new backend loads the rest at once.
    let again = ThreadedBackend::new(storage, src.download_fn(), config()).expect("backend");
    again.submit(&indices(&ids)).expect("the rest");
    assert_cube_holds(&again.cube().expect("cube"), &ids);
    again.close().expect("close");
}

#[test]
fn a_threaded_load_stops_when_cancelled() {
    check_cancel(|storage, src, token| {
        Box::new(
            ThreadedBackend::new(
                storage,
                src.download_fn(),
                config().workers(2).cancel_token(token),
            )
            .expect("backend"),
        )
    });
}

#[test]
fn a_simple_load_stops_when_cancelled() {
    check_cancel(|storage, src, token| {
        Box::new(SimpleBackend::new(
            storage,
            src.download_fn(),
            config().cancel_token(token),
        ))
    });
}
