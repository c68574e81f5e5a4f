//! Patches too large to hold whole: downloaded as chunk-sized pieces, each
//! merged into a staged write of the patch's own as it arrives, committed
//! with the id once the last piece is in. A stream that fails halfway
//! commits nothing; one retried from its start hands pieces over twice and
//! still commits the exact pixels once.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{
    CHUNK, TileSource, all_ids, assert_cube_holds, config, create, index, indices, tile_id,
};
use geocube_backend::{DownloadBackend, SimpleBackend, ThreadedBackend};
use geocube_core::{
    CubeStorage, DownloadError, Patch, Streamed, StreamingDownloadFn, TypedArray, Window,
};

/// `patch` cut along the cube's chunks, as a streaming source cuts a tile.
fn pieces(spec: &geocube_core::CubeSpec, patch: &Patch) -> Vec<Patch> {
    let (cube_win, patch_win) = spec
        .geobox
        .overlap_roi(&patch.geobox)
        .expect("on the lattice")
        .expect("inside the cube");
    let mut out = Vec::new();
    for ty in cube_win.row / CHUNK..=(cube_win.row + cube_win.height - 1) / CHUNK {
        for tx in cube_win.col / CHUNK..=(cube_win.col + cube_win.width - 1) / CHUNK {
            let cell = Window::new(ty * CHUNK, tx * CHUNK, CHUNK, CHUNK);
            let Some(part) = cube_win.intersection(&cell) else {
                continue;
            };
            let (r0, c0) = (
                part.row - cube_win.row + patch_win.row,
                part.col - cube_win.col + patch_win.col,
            );
            let mut piece = Patch::new(patch.id.clone(), spec.geobox.window(part).expect("piece"));
            for (name, layer) in &patch.layers {
                let rows = r0..r0 + part.height;
                let cols = c0..c0 + part.width;
                let data = match &layer.data {
                    TypedArray::Float32(a) => TypedArray::Float32(cut(a, &rows, &cols)),
                    TypedArray::Bool(a) => TypedArray::Bool(cut(a, &rows, &cols)),
                    other => panic!("unexpected {:?}", other.dtype()),
                };
                piece = piece.with_layer(name.clone(), data, layer.nodata);
            }
            out.push(piece);
        }
    }
    out
}

fn cut<T: Clone>(
    a: &ndarray::ArrayD<T>,
    rows: &std::ops::Range<usize>,
    cols: &std::ops::Range<usize>,
) -> ndarray::ArrayD<T> {
    use ndarray::{Axis, Slice};
    a.slice_axis(Axis(0), Slice::from(rows.clone()))
        .slice_axis_move(Axis(1), Slice::from(cols.clone()))
        .to_owned()
}

/// A streaming download over `src` whose sink calls are scripted: for each
/// id, how many pieces to hand over before failing (once, retryable; or
/// always, fatal).
#[derive(Default)]
struct Script {
    fail_once_after: HashMap<String, usize>,
    fail_always_after: HashMap<String, usize>,
    pieces: Mutex<HashMap<String, usize>>,
}

fn streaming(src: &Arc<TileSource>, script: Arc<Script>) -> StreamingDownloadFn {
    let (src, spec) = (Arc::clone(src), common::spec());
    Arc::new(move |idx, max_whole, sink| {
        let patch = src.download(idx)?;
        let bytes = patch
            .layers
            .values()
            .map(|l| l.data.nbytes() as u64)
            .sum::<u64>();
        if bytes <= max_whole {
            return Ok(Streamed::Whole(patch));
        }
        let first_try = script.pieces.lock().expect("pieces").get(&idx.id).is_none();
        for (k, piece) in pieces(&spec, &patch).into_iter().enumerate() {
            if script.fail_always_after.get(&idx.id) == Some(&k) {
                return Err(DownloadError::fatal("the connection broke for good"));
            }
            if first_try && script.fail_once_after.get(&idx.id) == Some(&k) {
                script
                    .pieces
                    .lock()
                    .expect("pieces")
                    .insert(idx.id.clone(), k);
                return Err(DownloadError::retryable("the connection broke"));
            }
            sink(piece)?;
        }
        script
            .pieces
            .lock()
            .expect("pieces")
            .insert(idx.id.clone(), usize::MAX);
        Ok(Streamed::Pieces)
    })
}

fn backends(
    storage: &CubeStorage,
    src: &Arc<TileSource>,
    script: &Arc<Script>,
) -> Vec<Box<dyn DownloadBackend>> {
    let config = config().whole_patch_bytes(0);
    vec![
        Box::new(
            ThreadedBackend::with_streaming(
                storage.clone(),
                src.download_fn(),
                streaming(src, Arc::clone(script)),
                config.clone(),
            )
            .expect("threaded"),
        ),
        Box::new(SimpleBackend::with_streaming(
            storage.clone(),
            src.download_fn(),
            streaming(src, Arc::clone(script)),
            config,
        )),
    ]
}

#[test]
fn streamed_patches_hold_their_exact_pixels_and_ids() {
    for kind in 0..2 {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = CubeStorage::local(dir.path().join("cube"));
        create(&storage);
        let src = TileSource::new();
        let script = Arc::new(Script {
            // Retried from its start: the first pieces come twice.
            fail_once_after: [(tile_id(1, 1), 2), (tile_id(2, 3), 1)].into(),
            ..Script::default()
        });
        let backend = backends(&storage, &src, &script).swap_remove(kind);
        let ids = all_ids();
        let report = backend.submit(&indices(&ids)).expect("submit");
        assert_eq!(report.downloaded.len(), ids.len());
        assert_cube_holds(&backend.cube().expect("cube"), &ids);
        assert_eq!(src.downloads_of(&tile_id(1, 1)), 2);
        backend.close().expect("close");
    }
}

#[test]
fn a_stream_that_breaks_halfway_leaves_no_pixel_and_no_id() {
    for kind in 0..2 {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = CubeStorage::local(dir.path().join("cube"));
        create(&storage);
        let src = TileSource::new();
        // Tile (1, 1) covers cube rows and columns 48..96: four chunks.
        let broken = tile_id(1, 1);
        let script = Arc::new(Script {
            fail_always_after: [(broken.clone(), 2)].into(),
            ..Script::default()
        });
        let backend = backends(&storage, &src, &script).swap_remove(kind);
        let err = backend.submit(&[index(&broken)]).expect_err("fails");
        assert!(err.to_string().contains("broke for good"), "{err}");
        let cube = backend.cube().expect("cube");
        assert!(cube.loaded_patches().expect("ids").is_empty());
        assert!(cube.written_chunks().expect("chunks").is_empty());
        // The next load of it starts over and succeeds.
        let script = Arc::new(Script::default());
        let again = backends(&storage, &src, &script).swap_remove(kind);
        again.submit(&[index(&broken)]).expect("second load");
        assert_cube_holds(&again.cube().expect("cube"), &[broken]);
        backend.close().expect("close");
        again.close().expect("close");
    }
}
