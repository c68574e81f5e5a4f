//! Shared set-up for geocube's criterion benchmarks: cubes and patches of
//! ArcticDEM-like terrain (the testkit's landscape) on a 32 m EPSG:3413 grid.

#![allow(clippy::missing_panics_doc, clippy::cast_precision_loss)]

use geocube_core::{
    Affine, ChannelSpec, ChunkCodec, Crs, Cube, CubeSpec, CubeStorage, DType, GeoBox, Patch,
    TypedArray,
};
use ndarray::Array2;

/// Top-left corner of the benchmark grid (inside the fixtures' landscape).
pub const X0: f64 = -1_800_000.0;
/// Top edge of the benchmark grid.
pub const Y0: f64 = 1_800_000.0;
/// Pixel size.
pub const RES: f64 = 32.0;

/// The bench CRS.
#[must_use]
pub fn crs() -> Crs {
    Crs::from_epsg(3413).expect("EPSG:3413")
}

/// A spatial spec of `size` x `size` px with one f32 `dem` channel.
#[must_use]
pub fn spec(size: usize, chunk: usize, codec: ChunkCodec) -> CubeSpec {
    let geobox = GeoBox::new(
        size,
        size,
        Affine {
            x0: X0,
            res_x: RES,
            y0: Y0,
            res_y: -RES,
        },
        crs(),
    )
    .expect("geobox");
    CubeSpec {
        title: "Bench".into(),
        geobox,
        time: None,
        chunk_size: chunk,
        channels: vec![ChannelSpec::new("dem", DType::Float32).with_nodata(-9999.0)],
        codec,
    }
}

/// A fresh local cube in `dir`.
#[must_use]
pub fn cube(dir: &std::path::Path, spec: &CubeSpec) -> Cube {
    Cube::create(CubeStorage::local(dir.join("cube")), spec)
        .execute()
        .expect("create")
}

/// A terrain patch whose top-left pixel is cube pixel (`row`, `col`).
#[must_use]
pub fn terrain_patch(id: &str, row: usize, col: usize, height: usize, width: usize) -> Patch {
    let x0 = X0 + col as f64 * RES;
    let y0 = Y0 - row as f64 * RES;
    let gb = GeoBox::new(
        width,
        height,
        Affine {
            x0,
            res_x: RES,
            y0,
            res_y: -RES,
        },
        crs(),
    )
    .expect("patch geobox");
    let dem = Array2::from_shape_fn((height, width), |(r, c)| {
        geocube_testkit::terrain::elevation(
            x0 + (c as f64 + 0.5) * RES,
            y0 - (r as f64 + 0.5) * RES,
        )
    });
    Patch::new(id, gb).with_layer("dem", TypedArray::Float32(dem.into_dyn()), Some(-9999.0))
}

/// Bytes under a directory (the repository on disk).
#[must_use]
pub fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// `n` distinct patch ids shaped like Earth Engine chunk ids (`3-1234-5678`,
/// 11 characters), in grid order, as a load of one chunk per patch records
/// them.
#[must_use]
pub fn patch_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{}-{}-{}",
                3 + i / 1_000_000,
                1000 + (i / 1000) % 1000 * 7,
                1000 + i % 1000 * 9
            )
        })
        .collect()
}
