//! Decode throughput of one 3125×3125 float32 ArcticDEM-like tile (DEFLATE,
//! floating-point predictor, 512×512 internal tiles): the `tiff` crate on
//! its own, our [`Cog`] reader from memory, and the same over HTTP range
//! requests on loopback. Throughput is decoded bytes (3125² × 4).
//!
//! The `small` testkit fixtures are generated once into the target
//! directory (a few seconds in release).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use geocube_sources::cog::{Cog, HttpByteSource, MemoryByteSource};
use geocube_sources::http::{HttpClient, HttpConfig};
use geocube_testkit::manifest::resolve;
use geocube_testkit::server::{FixtureServer, ServerOptions};
use geocube_testkit::{FixtureManifest, Preset, fixtures};

fn small_fixtures() -> (PathBuf, FixtureManifest) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sources-bench-small-v{}",
        geocube_testkit::manifest::GENERATOR_VERSION
    ));
    if !fixtures::is_up_to_date(Preset::Small, &dir) {
        fixtures::generate(Preset::Small, &dir).unwrap();
    }
    let m = FixtureManifest::load(&dir).unwrap();
    (dir, m)
}

fn bench(c: &mut Criterion) {
    let (dir, m) = small_fixtures();
    let tile = &m.tiles[0];
    let path = resolve(&dir, &tile.dem_path);
    let bytes: Arc<[u8]> = std::fs::read(&path).unwrap().into();
    let px = m.layout.tile_px as u64;
    let mut g = c.benchmark_group("cog_decode_3125px_f32");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(px * px * 4));

    g.bench_function("tiff_crate_read_image", |b| {
        b.iter(|| {
            let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(&bytes[..])).unwrap();
            black_box(d.read_image().unwrap())
        });
    });
    g.bench_function("cog_read_all_memory", |b| {
        b.iter(|| {
            let mut cog =
                Cog::open(Arc::new(MemoryByteSource::new("mem", Arc::clone(&bytes)))).unwrap();
            black_box(cog.read_all().unwrap())
        });
    });
    let server = FixtureServer::start(&dir, ServerOptions::default()).unwrap();
    let client = HttpClient::new(HttpConfig::default()).unwrap();
    let url = server.file_url(&tile.dem_path);
    g.bench_function("cog_read_all_http_loopback", |b| {
        b.iter(|| {
            let mut cog =
                Cog::open(Arc::new(HttpByteSource::new(client.clone(), url.clone()))).unwrap();
            black_box(cog.read_all().unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
