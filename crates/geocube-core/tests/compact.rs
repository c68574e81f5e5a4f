//! `Cube::compact` on real local Icechunk repositories (V1 and V2): history
//! expired and garbage collected with every pixel and id kept, orphaned
//! chunks of a failed write collected only after the grace, concurrent
//! writers losing nothing, and the re-encoding.
#![allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use geocube_core::cube::codecs_document;
use geocube_core::{
    Affine, ChannelSpec, ChunkCodec, CompactOptions, CompactReport, Crs, Cube, CubeSpec,
    CubeStorage, DType, GeoBox, IcechunkFormat, Patch, TypedArray,
};
use ndarray::Array2;
use serde_json::Value;

const RES: f64 = 32.0;

/// A 300 x 250 px cube at 32 m with 128 px chunks (edge chunks partial).
fn spec(codec: ChunkCodec) -> CubeSpec {
    let geobox = GeoBox::new(
        250,
        300,
        Affine {
            x0: -1_600_000.0,
            res_x: RES,
            y0: 1_600_000.0,
            res_y: -RES,
        },
        Crs::from_epsg(3413).expect("EPSG:3413"),
    )
    .expect("geobox");
    CubeSpec {
        title: "Compact".into(),
        geobox,
        time: None,
        chunk_size: 128,
        channels: vec![
            ChannelSpec::new("dem", DType::Float32).with_nodata(-9999.0),
            ChannelSpec::new("datamask", DType::Bool),
        ],
        codec,
    }
}

fn create(dir: &Path, format: IcechunkFormat, codec: ChunkCodec) -> (PathBuf, Cube) {
    let path = dir.join("cube");
    let cube = Cube::create(CubeStorage::local(&path), &spec(codec))
        .format(format)
        .execute()
        .expect("create cube");
    (path, cube)
}

/// Pixels that depend on the cube pixel only (overlapping patches agree)
/// and hardly compress, so that every chunk is an object of its own rather
/// than inlined into a manifest (Icechunk inlines chunks under 512 bytes);
/// every other pixel is the nodata value, so the datamask is as noisy.
#[allow(clippy::cast_precision_loss)]
fn terrain(r: i64, c: i64) -> f32 {
    let h = (r * 1000 + c).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64) as u64 >> 40;
    if h.is_multiple_of(2) {
        -9999.0
    } else {
        (h % 100_000) as f32 * 0.25
    }
}

/// A patch whose top-left pixel is cube pixel (row, col), pixels `f(r, c)`
/// in cube pixels.
fn patch(id: &str, row: i64, col: i64, h: usize, w: usize, f: impl Fn(i64, i64) -> f32) -> Patch {
    let a = spec(ChunkCodec::Default).geobox.affine();
    #[allow(clippy::cast_precision_loss)]
    let gb = GeoBox::new(
        w,
        h,
        Affine {
            x0: a.x0 + col as f64 * RES,
            res_x: RES,
            y0: a.y0 - row as f64 * RES,
            res_y: -RES,
        },
        Crs::from_epsg(3413).expect("EPSG:3413"),
    )
    .expect("patch geobox");
    let dem = Array2::from_shape_fn((h, w), |(r, c)| f(row + r as i64, col + c as i64));
    let mask = dem.mapv(|v| !v.is_nan() && v != -9999.0);
    Patch::new(id, gb)
        .with_layer("dem", TypedArray::Float32(dem.into_dyn()), Some(-9999.0))
        .with_layer("datamask", TypedArray::Bool(mask.into_dyn()), None)
}

/// Everything a reader can see at the branch tip: the dem's bits, the
/// datamask, the ids and which chunks are written.
#[derive(Debug, PartialEq)]
struct Contents {
    dem: Vec<u32>,
    mask: Vec<bool>,
    ids: Vec<String>,
    chunks: usize,
}

fn contents(cube: &Cube) -> Contents {
    let ds = cube
        .read_window(cube.layout().geobox.full_window(), None)
        .expect("read");
    let dem = ds
        .variable("dem")
        .and_then(|v| v.data.as_array::<f32>())
        .expect("dem");
    let mask = ds
        .variable("datamask")
        .and_then(|v| v.data.as_array::<bool>())
        .expect("datamask");
    Contents {
        dem: dem.iter().map(|v| v.to_bits()).collect(),
        mask: mask.iter().copied().collect(),
        ids: cube.loaded_patches().expect("ids"),
        chunks: cube.written_chunks().expect("chunks").len(),
    }
}

/// Files of the repository's `chunks/` directory with their sizes.
fn chunk_files(repo: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(repo.join("chunks"))
        .expect("chunks dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().expect("metadata").len(),
            )
        })
        .collect()
}

fn grace0() -> CompactOptions {
    CompactOptions::default().grace(Duration::ZERO)
}

/// Several loads, each one commit, rewriting the chunks the earlier ones
/// wrote (patches overlap chunk by chunk).
fn fill(cube: &Cube) {
    for (i, (row, col)) in [(0, 0), (30, 40), (60, 80), (100, 20), (150, 150), (40, 160)]
        .into_iter()
        .enumerate()
    {
        cube.write_patch(&patch(&format!("p{i}"), row, col, 90, 80, terrain))
            .expect("write");
    }
}

fn compact_shrinks_and_keeps_everything(format: IcechunkFormat) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, cube) = create(dir.path(), format, ChunkCodec::Default);
    fill(&cube);
    let before = contents(&cube);
    let chunks_before = chunk_files(&path);

    let r = cube.compact(&grace0()).expect("compact");
    eprintln!("{format:?}: {r:?}");
    // Create + 6 loads; the tip and the repository's first snapshot stay.
    assert_eq!(r.history_before, 8, "{r:?}");
    assert_eq!(r.history_after, 2, "{r:?}");
    assert_eq!(r.snapshots_expired, 6, "{r:?}");
    assert_eq!(r.snapshots_deleted, 6, "{r:?}");
    assert!(r.manifests_deleted > 0 && r.chunks_deleted > 0, "{r:?}");
    assert!(r.bytes_after < r.bytes_before, "{r:?}");
    // The store shrank by what the collection deleted, give or take the
    // bookkeeping expiration rewrote (V1: the kept snapshot, with its new
    // parent; V2: the repository info and its backup).
    let shrink = r.bytes_before - r.bytes_after;
    assert!(
        shrink.abs_diff(r.bytes_deleted) < 4096,
        "shrank {shrink} bytes: {r:?}"
    );
    // Every chunk file left is one the tip reaches, and every superseded one is gone.
    let chunks_after = chunk_files(&path);
    let kept: u64 = chunks_after.values().sum();
    assert!(kept <= r.data_bytes, "{kept} vs {r:?}");
    assert_eq!(
        chunks_before.len() - chunks_after.len(),
        usize::try_from(r.chunks_deleted).expect("count")
    );
    assert!(chunks_before.values().sum::<u64>() > r.data_bytes);

    assert_eq!(contents(&cube), before, "the tip reads the same");
    let reopened = Cube::open(CubeStorage::local(&path)).expect("reopen");
    assert_eq!(reopened.format(), format, "the format is kept");
    assert_eq!(contents(&reopened), before);

    // Still writable, through this handle and a fresh one, and compactable again.
    cube.write_patch(&patch("after", 200, 0, 60, 60, terrain))
        .expect("write after compact");
    let again = Cube::open(CubeStorage::local(&path)).expect("reopen");
    let now = contents(&again);
    assert_eq!(now.ids.last().map(String::as_str), Some("after"));
    let r2 = again.compact(&grace0()).expect("compact again");
    assert_eq!(r2.snapshots_expired, 1, "{r2:?}");
    assert_eq!(contents(&again), now);
    assert_eq!(
        now.dem[200 * 250 + 10],
        terrain(200, 10).to_bits(),
        "the patch written after the compaction"
    );
}

#[test]
fn compact_shrinks_a_v1_cube_and_keeps_every_pixel() {
    compact_shrinks_and_keeps_everything(IcechunkFormat::V1);
}

#[test]
fn compact_shrinks_a_v2_cube_and_keeps_every_pixel() {
    compact_shrinks_and_keeps_everything(IcechunkFormat::V2);
}

#[test]
fn keep_history_keeps_recent_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_path, cube) = create(dir.path(), IcechunkFormat::V1, ChunkCodec::Default);
    fill(&cube);
    let before = contents(&cube);
    let r = cube
        .compact(&grace0().keep_history(Some(Duration::from_secs(3600))))
        .expect("compact");
    assert_eq!(r.snapshots_expired, 0, "{r:?}");
    assert_eq!(r.history_after, r.history_before);
    assert_eq!((r.snapshots_deleted, r.chunks_deleted), (0, 0), "{r:?}");
    assert_eq!(contents(&cube), before);
}

/// A writer that bypasses geocube, as smart-geocubes or another host does:
/// no write lock, and each chunk object uploaded as soon as it is set.
struct RawWriter {
    rt: tokio::runtime::Runtime,
    store: icechunk::Store,
}

impl RawWriter {
    fn open(path: &Path) -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let store = rt.block_on(async {
            let storage = icechunk::new_local_filesystem_storage(path)
                .await
                .expect("storage");
            let repo = icechunk::Repository::open(storage)
                .execute()
                .await
                .expect("open repository");
            let session = repo.writable_session("main").await.expect("session");
            icechunk::Store::from_session(Arc::new(tokio::sync::RwLock::new(session))).await
        });
        Self { rt, store }
    }

    fn get(&self, key: &str) -> zarrs::storage::Bytes {
        self.rt
            .block_on(self.store.get(key, &icechunk::format::ByteRange::ALL))
            .unwrap_or_else(|e| panic!("get {key}: {e}"))
    }

    /// Put chunk `from`'s encoded bytes at chunk key `to`: a valid chunk of
    /// the same shape, holding `from`'s pixels.
    fn copy_chunk(&self, from: &str, to: &str) {
        let bytes = self.get(from);
        self.rt
            .block_on(self.store.set(to, bytes))
            .unwrap_or_else(|e| panic!("set {to}: {e}"));
    }

    fn add_id(&self, id: &str) {
        let mut root: Value = serde_json::from_slice(&self.get("zarr.json")).expect("root json");
        root["attributes"]["loaded_patches"]
            .as_array_mut()
            .expect("loaded_patches")
            .push(id.into());
        let bytes = serde_json::to_vec(&root).expect("json");
        self.rt
            .block_on(self.store.set("zarr.json", bytes.into()))
            .expect("set root");
    }

    fn commit(self, message: &str) {
        self.rt.block_on(async {
            let session = self.store.session();
            let mut session = session.write().await;
            session.commit(message).execute().await.expect("commit");
        });
    }
}

#[test]
fn orphaned_chunks_of_a_failed_write_go_after_the_grace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, cube) = create(dir.path(), IcechunkFormat::V1, ChunkCodec::Default);
    cube.write_patch(&patch("a", 0, 0, 64, 64, terrain))
        .expect("write");
    cube.compact(&grace0()).expect("clean start");
    let before = contents(&cube);
    let files = chunk_files(&path);

    // A write that uploads three chunks and dies before its commit.
    let w = RawWriter::open(&path);
    // (dem chunks: the datamask's compress below Icechunk's inline
    // threshold and would go into the manifest, not into objects).
    for to in ["dem/c/1/1", "dem/c/2/1", "dem/c/2/0"] {
        w.copy_chunk("dem/c/0/0", to);
    }
    drop(w);
    let with_orphans = chunk_files(&path);
    let orphans: BTreeSet<&String> = with_orphans
        .keys()
        .filter(|k| !files.contains_key(*k))
        .collect();
    assert_eq!(orphans.len(), 3, "the dead writer's uploads are on disk");
    assert_eq!(contents(&cube), before, "and invisible to readers");

    // Within the default grace (an hour) they may be a live writer's: kept.
    let r = cube.compact(&CompactOptions::default()).expect("compact");
    assert_eq!(r.chunks_deleted, 0, "{r:?}");
    assert_eq!(chunk_files(&path), with_orphans);

    let r = cube.compact(&grace0()).expect("compact");
    assert_eq!(r.chunks_deleted, 3, "{r:?}");
    assert_eq!(chunk_files(&path), files, "exactly the orphans went");
    assert_eq!(contents(&cube), before);
}

/// A writer not under geocube's lock uploads before the compaction and
/// commits after it: the grace keeps its chunks.
fn a_commit_straddling_compact_loses_nothing(format: IcechunkFormat) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, cube) = create(dir.path(), format, ChunkCodec::Default);
    fill(&cube);
    let before = contents(&cube);

    let w = RawWriter::open(&path);
    w.copy_chunk("dem/c/0/0", "dem/c/2/1");
    w.copy_chunk("datamask/c/0/0", "datamask/c/2/1");
    w.add_id("raw");
    let uploaded = chunk_files(&path).len();
    let r = cube.compact(&CompactOptions::default()).expect("compact");
    // The loads' snapshots are expired; only what is older than the grace
    // may be deleted, which here is nothing.
    assert_eq!(r.snapshots_expired, 6, "{r:?}");
    assert_eq!(r.chunks_deleted, 0, "{r:?}");
    assert_eq!(chunk_files(&path).len(), uploaded, "the upload survived");
    w.commit("raw write");

    let after = contents(&cube);
    assert_eq!(after.ids.last().map(String::as_str), Some("raw"));
    assert_eq!(after.chunks, before.chunks + 2);
    // Chunk (2, 1) now holds chunk (0, 0)'s pixels; the rest is unchanged.
    for r in 0..300 {
        for c in 0..250 {
            let i = r * 250 + c;
            let want = if r >= 256 && c >= 128 {
                let j = (r - 256) * 250 + c - 128;
                (before.dem[j], before.mask[j])
            } else {
                (before.dem[i], before.mask[i])
            };
            assert_eq!((after.dem[i], after.mask[i]), want, "pixel ({r}, {c})");
        }
    }
    // And a later compaction, grace 0, keeps them: they are the tip's now.
    cube.compact(&grace0()).expect("compact");
    assert_eq!(contents(&cube), after);
}

#[test]
fn a_v1_commit_straddling_compact_loses_nothing() {
    a_commit_straddling_compact_loses_nothing(IcechunkFormat::V1);
}

#[test]
fn a_v2_commit_straddling_compact_loses_nothing() {
    a_commit_straddling_compact_loses_nothing(IcechunkFormat::V2);
}

/// geocube writers on another handle keep writing while compactions (with
/// no grace at all, and re-encoding to alternating codecs) run: the write
/// lock makes them queue, so no upload is collected before its commit and
/// no chunk is written in a codec its metadata no longer names.
#[test]
fn a_writer_thread_during_compactions_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, cube) = create(dir.path(), IcechunkFormat::V1, ChunkCodec::Default);
    let done = AtomicBool::new(false);
    let n = 12_i64;
    let compactions = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let own = Cube::open(CubeStorage::local(&path)).expect("open");
            for i in 0..n {
                // 40 px patches on 128 px chunks: neighbours share chunks.
                own.write_patch(&patch(
                    &format!("w{i}"),
                    (i / 6) * 40,
                    (i % 6) * 40,
                    40,
                    40,
                    terrain,
                ))
                .expect("write during compaction");
            }
            done.store(true, Ordering::SeqCst);
        });
        let mut reports: Vec<CompactReport> = vec![];
        let codecs = [ChunkCodec::BloscLz4 { clevel: 1 }, ChunkCodec::Default];
        // Also stop if the writer died: its panic is reported by the join.
        while !done.load(Ordering::SeqCst) && !writer.is_finished() {
            let codec = codecs[reports.len() % 2];
            reports.push(
                cube.compact(&grace0().reencode(Some(codec)))
                    .expect("compact during writes"),
            );
        }
        writer.join().expect("writer");
        reports
    });
    assert!(!compactions.is_empty());
    eprintln!(
        "{} compaction(s) ran while the writer wrote {n} patches",
        compactions.len()
    );
    let got = contents(&cube);
    let mut ids = got.ids.clone();
    ids.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    want.sort();
    assert_eq!(ids, want, "every id recorded");
    for r in 0..80_usize {
        for c in 0..240_usize {
            assert_eq!(
                got.dem[r * 250 + c],
                terrain(r as i64, c as i64).to_bits(),
                "pixel ({r}, {c})"
            );
            assert_eq!(
                got.mask[r * 250 + c],
                terrain(r as i64, c as i64) != -9999.0,
                "mask ({r}, {c})"
            );
        }
    }
    // A last compaction leaves it the same.
    cube.compact(&grace0()).expect("compact");
    assert_eq!(contents(&cube), got);
}

/// `codecs` of the array document `node/zarr.json` at the branch tip.
fn codecs_of(path: &Path, node: &str) -> Value {
    let w = RawWriter::open(path);
    let doc: Value = serde_json::from_slice(&w.get(&format!("{node}/zarr.json"))).expect("json");
    doc["codecs"].clone()
}

#[test]
fn reencode_rewrites_every_chunk_once_and_keeps_the_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, cube) = create(dir.path(), IcechunkFormat::V1, ChunkCodec::Default);
    fill(&cube);
    let before = contents(&cube);
    let data_before = cube.compact(&grace0()).expect("compact").data_bytes;
    let files = chunk_files(&path);
    let x_codecs = codecs_of(&path, "x");

    let opts = grace0().reencode(Some(ChunkCodec::Reference));
    let r = cube.compact(&opts).expect("re-encode");
    eprintln!(
        "re-encoded: {r:?}; data {data_before} -> {} bytes",
        r.data_bytes
    );
    let re = r.reencoded.as_ref().expect("a re-encoding");
    assert_eq!(re.codec, ChunkCodec::Reference);
    assert_eq!(re.variables, ["datamask", "dem"]);
    assert_eq!(re.chunks, before.chunks);
    // Its commit and the one before it expire; the old encodings go.
    assert_eq!(r.snapshots_expired, 1, "{r:?}");
    assert_eq!(r.history_after, 2);
    // Every chunk object is replaced (the datamask's chunks are small
    // enough to be inlined into the manifest, and go with it).
    assert_eq!(
        usize::try_from(r.chunks_deleted).expect("count"),
        files.len()
    );

    assert_eq!(
        codecs_of(&path, "dem"),
        codecs_document(ChunkCodec::Reference, 4)
    );
    assert_eq!(
        codecs_of(&path, "datamask"),
        codecs_document(ChunkCodec::Reference, 1)
    );
    assert_eq!(codecs_of(&path, "x"), x_codecs, "coordinates untouched");
    // Every chunk object is new and none of the old ones is left.
    let now = chunk_files(&path);
    assert!(
        files.keys().all(|k| !now.contains_key(k)),
        "{files:?} {now:?}"
    );
    assert_eq!(now.len(), files.len(), "one new object per chunk object");
    assert_ne!(r.data_bytes, data_before, "the stored bytes changed");

    assert_eq!(contents(&cube), before, "values and ids unchanged");
    assert_eq!(
        contents(&Cube::open(CubeStorage::local(&path)).expect("reopen")),
        before
    );

    // Asking again finds nothing to do: no commit, nothing rewritten.
    let r = cube.compact(&opts).expect("again");
    assert!(r.reencoded.is_none(), "{r:?}");
    assert_eq!((r.snapshots_expired, r.chunks_deleted), (0, 0), "{r:?}");

    // New writes use the new codec, and merge with the re-encoded chunks.
    cube.write_patch(&patch("late", 20, 20, 30, 30, |_, _| 7.5))
        .expect("write");
    let late = contents(&cube);
    assert_eq!(late.dem[25 * 250 + 25], 7.5_f32.to_bits());
    assert_eq!(late.dem[0], before.dem[0]);
}
