#![allow(missing_docs)]
//! Issue 3: patches/s of SimpleBackend vs ThreadedBackend with an in-memory
//! download function (64 patches of 1000x1000 f32 on a 2048 px chunk grid,
//! so patches share chunks and coalescing matters), and the bookkeeping cost
//! of one submit when 10^4 and 10^5 ids are already recorded.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use geocube_backend::{
    BackendConfig, DownloadBackend, DownloadError, DownloadFn, SimpleBackend, ThreadedBackend,
};
use geocube_benches::{cube, spec, terrain_patch};
use geocube_core::{ChunkCodec, CubeStorage, Patch, PatchRef};

const PATCH: usize = 1000;
const GRID: usize = 8; // 8 x 8 patches

fn index(id: &str) -> PatchRef {
    PatchRef::new(id, geo::Geometry::Point(geo::Point::new(0.0, 80.0)), None)
}

fn throughput(c: &mut Criterion) {
    // Patches are made once; "downloading" one is a clone.
    let patches: Arc<Vec<Patch>> = Arc::new(
        (0..GRID * GRID)
            .map(|i| {
                terrain_patch(
                    &format!("p{i}"),
                    (i / GRID) * PATCH,
                    (i % GRID) * PATCH,
                    PATCH,
                    PATCH,
                )
            })
            .collect(),
    );
    let download: DownloadFn = {
        let patches = Arc::clone(&patches);
        Arc::new(move |idx: &PatchRef| -> Result<Patch, DownloadError> {
            let i: usize = idx.id[1..]
                .parse()
                .map_err(|_| DownloadError::fatal("bad id"))?;
            patches
                .get(i)
                .cloned()
                .ok_or_else(|| DownloadError::fatal("no such patch"))
        })
    };
    let indices: Vec<PatchRef> = (0..GRID * GRID).map(|i| index(&format!("p{i}"))).collect();
    let s = spec(GRID * PATCH, 2048, ChunkCodec::Default);
    let mut g = c.benchmark_group("backend_64_patches_1000px");
    g.throughput(Throughput::Elements((GRID * GRID) as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for kind in ["simple", "threaded"] {
        g.bench_function(BenchmarkId::from_parameter(kind), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let _ = cube(dir.path(), &s);
                    let storage = CubeStorage::local(dir.path().join("cube"));
                    let backend: Box<dyn DownloadBackend> = match kind {
                        "simple" => Box::new(SimpleBackend::new(
                            storage,
                            Arc::clone(&download),
                            BackendConfig::default(),
                        )),
                        _ => Box::new(
                            ThreadedBackend::new(
                                storage,
                                Arc::clone(&download),
                                BackendConfig::default(),
                            )
                            .expect("threaded"),
                        ),
                    };
                    (dir, backend)
                },
                |(dir, backend)| {
                    backend.submit(&indices).expect("submit");
                    (dir, backend)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn bookkeeping(c: &mut Criterion) {
    let mut g = c.benchmark_group("submit_with_recorded_ids");
    for n in [10_000_usize, 100_000] {
        // n one-pixel patches recorded in one commit.
        let side = 400;
        let dir = tempfile::tempdir().expect("tempdir");
        let cube = cube(
            dir.path(),
            &spec(side, 256, ChunkCodec::BloscLz4 { clevel: 1 }),
        );
        let seed: Vec<Patch> = (0..n)
            .map(|i| terrain_patch(&format!("s{i}"), (i / side) % side, i % side, 1, 1))
            .collect();
        cube.write_patches(&seed).expect("seed ids");
        let storage = CubeStorage::local(dir.path().join("cube"));
        let fresh = std::sync::atomic::AtomicUsize::new(0);
        let download: DownloadFn =
            Arc::new(move |idx: &PatchRef| -> Result<Patch, DownloadError> {
                Ok(terrain_patch(&idx.id, 0, 0, 1, 1))
            });
        let backend =
            ThreadedBackend::new(storage, download, BackendConfig::default()).expect("backend");
        let known = [index("s0")];
        g.bench_function(BenchmarkId::new("already_loaded", n), |b| {
            b.iter(|| backend.submit(&known).expect("submit"));
        });
        g.bench_function(BenchmarkId::new("one_new_patch", n), |b| {
            b.iter(|| {
                let i = fresh.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                backend
                    .submit(&[index(&format!("new{i}"))])
                    .expect("submit")
            });
        });
    }
    g.finish();
}

criterion_group!(benches, throughput, bookkeeping);
criterion_main!(benches);
