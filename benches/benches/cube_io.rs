#![allow(missing_docs)]
//! Issue 2: write one 3600x3600 f32 patch into an empty cube and commit;
//! read a 1000x1000 window back; the same for each chunk codec, with the
//! compression ratio on terrain printed alongside; and a whole chunk read
//! back (warm decode throughput).

use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use geocube_benches::{cube, dir_size, spec, terrain_patch};
use geocube_core::{ChunkCodec, Window};

const SIZE: usize = 3600;

fn codecs() -> [(&'static str, ChunkCodec); 6] {
    [
        ("reference-blosc-zstd9", ChunkCodec::Reference),
        ("blosc-zstd5", ChunkCodec::BloscZstd { clevel: 5 }),
        ("blosc-zstd3", ChunkCodec::BloscZstd { clevel: 3 }),
        ("blosc-zstd1", ChunkCodec::BloscZstd { clevel: 1 }),
        ("blosc-lz4-5", ChunkCodec::BloscLz4 { clevel: 5 }),
        ("zstd3", ChunkCodec::Zstd { level: 3 }),
    ]
}

fn write_and_read(c: &mut Criterion) {
    let patch = terrain_patch("p", 0, 0, SIZE, SIZE);
    let raw = (SIZE * SIZE * 4) as u64;
    let mut write = c.benchmark_group("write_3600_f32_patch");
    write
        .throughput(Throughput::Bytes(raw))
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (name, codec) in codecs() {
        let s = spec(SIZE, SIZE, codec);
        write.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let cube = cube(dir.path(), &s);
                    (dir, cube)
                },
                |(dir, cube)| {
                    cube.write_patch(&patch).expect("write");
                    dir
                },
                BatchSize::PerIteration,
            );
        });
        // Ratio on disk, printed once per codec (criterion has no column for it).
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = {
            let _ = cube(dir.path(), &s);
            dir_size(dir.path())
        };
        cube(&dir.path().join("w"), &s)
            .write_patch(&patch)
            .expect("write");
        let written = dir_size(&dir.path().join("w")) - empty;
        #[allow(clippy::cast_precision_loss)]
        let ratio = raw as f64 / written as f64;
        println!("codec {name}: {written} bytes on disk for {raw} raw, ratio {ratio:.3}");
    }
    write.finish();

    let mut read = c.benchmark_group("read_1000_window");
    read.throughput(Throughput::Bytes(1000 * 1000 * 4))
        .sample_size(20);
    for (name, codec) in codecs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cube = cube(dir.path(), &spec(SIZE, SIZE, codec));
        cube.write_patch(&patch).expect("write");
        let w = Window {
            row: 1300,
            col: 1300,
            height: 1000,
            width: 1000,
        };
        read.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| cube.read_window(w, None).expect("read"));
        });
    }
    read.finish();

    // A whole chunk: the decode throughput of a warm read.
    let mut full = c.benchmark_group("read_full_chunk");
    full.throughput(Throughput::Bytes(raw)).sample_size(10);
    for (name, codec) in codecs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cube = cube(dir.path(), &spec(SIZE, SIZE, codec));
        cube.write_patch(&patch).expect("write");
        let w = Window {
            row: 0,
            col: 0,
            height: SIZE,
            width: SIZE,
        };
        full.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| cube.read_window(w, None).expect("read"));
        });
    }
    full.finish();
}

criterion_group!(benches, write_and_read);
criterion_main!(benches);
