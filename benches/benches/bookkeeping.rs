#![allow(missing_docs)]
//! The cost of `loaded_patches` at 10⁴, 10⁵ and 10⁶ recorded ids (Earth
//! Engine datasets record one id per chunk):
//! - `commit_one_patch`: a committed batch of one new patch writing one
//!   small chunk, into a cube holding n ids (`recorded`) and into one whose
//!   list is empty (`empty_list`): the difference is the bookkeeping;
//! - `already_loaded_check`: `cube.loaded()?.contains(id)` at a tip this
//!   handle committed (what a backend asks before downloading), warm;
//! - `cold_read`: the same after another handle committed, so the tip's
//!   list is read for the first time.
//!
//! The tip snapshot's size on disk and the root document's length are
//! printed and written, with n, to `<criterion dir>/bookkeeping/sizes.json`
//! for `cargo xtask bench`'s report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use geocube_benches::{patch_ids, spec, terrain_patch};
use geocube_core::{ChunkCodec, Cube, CubeSpec, CubeStorage};
use icechunk::format::ByteRange;
use serde_json::{Value, json};

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// Cube side and chunk side: every patch below writes one 16² chunk.
const SIDE: usize = 64;
const CHUNK: usize = 16;

fn bench_spec() -> CubeSpec {
    spec(SIDE, CHUNK, ChunkCodec::Default)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A new cube at `dir/cube` whose root group lists `ids`, recorded by a
/// plain Icechunk commit of the document printed as zarr-python and earlier
/// geocube print it (indented): what a cube loaded elsewhere looks like.
fn seeded(dir: &Path, ids: &[String]) -> PathBuf {
    let path = dir.join("cube");
    drop(
        Cube::create(CubeStorage::local(&path), &bench_spec())
            .execute()
            .expect("create"),
    );
    if ids.is_empty() {
        return path;
    }
    runtime().block_on(async {
        let storage = icechunk::new_local_filesystem_storage(&path)
            .await
            .expect("storage");
        let repo = icechunk::Repository::open(storage)
            .execute()
            .await
            .expect("open");
        let session = repo.writable_session("main").await.expect("session");
        let store =
            icechunk::Store::from_session(Arc::new(tokio::sync::RwLock::new(session))).await;
        let root = store.get("zarr.json", &ByteRange::ALL).await.expect("root");
        let mut doc: Value = serde_json::from_slice(&root).expect("root json");
        doc["attributes"]["loaded_patches"] = json!(ids);
        let bytes = serde_json::to_vec_pretty(&doc).expect("print");
        store.set("zarr.json", bytes.into()).await.expect("set");
        let session = store.session();
        let mut session = session.write().await;
        session.commit("Seed ids").execute().await.expect("commit");
    });
    path
}

/// The tip's snapshot file (the newest) and root document, in bytes.
fn tip_sizes(path: &Path) -> (u64, usize) {
    let newest = std::fs::read_dir(path.join("snapshots"))
        .expect("snapshots")
        .filter_map(Result::ok)
        .filter_map(|e| {
            Some((
                e.metadata().ok()?.modified().ok()?,
                e.metadata().ok()?.len(),
            ))
        })
        .max()
        .map_or(0, |(_, len)| len);
    let root = runtime().block_on(async {
        let storage = icechunk::new_local_filesystem_storage(path)
            .await
            .expect("storage");
        let repo = icechunk::Repository::open(storage)
            .execute()
            .await
            .expect("open");
        let session = repo
            .readonly_session(&icechunk::repository::VersionInfo::BranchTipRef(
                "main".into(),
            ))
            .await
            .expect("session");
        let store =
            icechunk::Store::from_session(Arc::new(tokio::sync::RwLock::new(session))).await;
        store
            .get("zarr.json", &ByteRange::ALL)
            .await
            .expect("root")
            .len()
    });
    (newest, root)
}

fn one_chunk_patch(id: &str) -> geocube_core::Patch {
    terrain_patch(id, 0, 0, CHUNK, CHUNK)
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from)
                .join("criterion")
        },
        PathBuf::from,
    )
}

fn bookkeeping(c: &mut Criterion) {
    let mut sizes = vec![];
    let mut commit = c.benchmark_group("commit_one_patch");
    commit
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let mut cubes = vec![];
    for n in SIZES {
        let ids = patch_ids(n);
        let dir = tempfile::tempdir().expect("tempdir");
        let full =
            Cube::open(CubeStorage::local(seeded(&dir.path().join("full"), &ids))).expect("open");
        let empty =
            Cube::open(CubeStorage::local(seeded(&dir.path().join("empty"), &[]))).expect("open");
        for (name, cube) in [("recorded", &full), ("empty_list", &empty)] {
            let mut i = 0;
            commit.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    i += 1;
                    cube.write_patch(&one_chunk_patch(&format!("new-{i}")))
                        .expect("write")
                });
            });
        }
        let (snapshot, root) = tip_sizes(&dir.path().join("full").join("cube"));
        println!(
            "bookkeeping at {n} ids: tip snapshot {snapshot} bytes, root zarr.json {root} bytes"
        );
        sizes.push(json!({"ids": n, "snapshot_bytes": snapshot, "root_json_bytes": root}));
        drop(empty);
        cubes.push((n, dir, full, ids));
    }
    commit.finish();

    let mut check = c.benchmark_group("already_loaded_check");
    check.sample_size(20).warm_up_time(Duration::from_secs(1));
    for (n, _, cube, ids) in &cubes {
        let probe = &ids[ids.len() / 2];
        check.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| assert!(cube.loaded().expect("loaded").contains(probe)));
        });
    }
    check.finish();

    let mut cold = c.benchmark_group("cold_read");
    cold.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (n, dir, cube, ids) in &cubes {
        let other = Cube::open(CubeStorage::local(dir.path().join("full").join("cube")))
            .expect("second handle");
        let probe = &ids[ids.len() / 2];
        let mut i = 0;
        cold.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || {
                    i += 1;
                    other
                        .write_patch(&one_chunk_patch(&format!("other-{i}")))
                        .expect("other writes");
                },
                |()| assert!(cube.loaded().expect("loaded").contains(probe)),
                BatchSize::PerIteration,
            );
        });
    }
    cold.finish();

    let out = criterion_dir().join("bookkeeping");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = std::fs::write(
            out.join("sizes.json"),
            serde_json::to_vec_pretty(&sizes).unwrap_or_default(),
        );
    }
}

criterion_group!(benches, bookkeeping);
criterion_main!(benches);
