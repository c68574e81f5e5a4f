//! A synthetic tile source in EPSG:3413 that counts downloads.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use geocube::{Accessor, Source};
use geocube_backend::{BackendConfig, DownloadError, RetryPolicy};
use geocube_core::SourceError;
use geocube_core::crs::reproject_geometry;
use geocube_core::{
    Affine, Aoi, BoundingBox, ChannelSpec, ChunkCodec, Crs, CubeSpec, CubeStorage, DType, GeoBox,
    Patch, PatchRef, Toi, TypedArray,
};
use ndarray::Array2;

pub const RES: f64 = 32.0;
pub const X0: f64 = -1_600_000.0;
pub const Y0: f64 = 1_600_000.0;
/// Cube edge, tile edge and chunk edge in pixels: tiles straddle chunks and
/// the last row and column of tiles stick out of the cube.
pub const CUBE: usize = 200;
pub const TILE: usize = 48;
pub const CHUNK: usize = 64;
pub const TILES: usize = 5;
pub const NODATA: f32 = -9999.0;

pub fn crs() -> Crs {
    Crs::from_epsg(3413).expect("EPSG:3413")
}

pub fn spec() -> CubeSpec {
    let gb = GeoBox::new(
        CUBE,
        CUBE,
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
        title: "TestTiles".into(),
        geobox: gb,
        time: None,
        chunk_size: CHUNK,
        channels: vec![
            ChannelSpec::new("dem", DType::Float32).with_nodata(f64::from(NODATA)),
            ChannelSpec::new("datamask", DType::Uint8),
        ],
        codec: ChunkCodec::BloscLz4 { clevel: 1 },
    }
}

/// The dem value of cube pixel (row, col): nodata on a sparse diagonal
/// pattern, otherwise unique. Tiles agree where they overlap.
pub fn dem(row: usize, col: usize) -> f32 {
    if (row + 2 * col).is_multiple_of(23) {
        NODATA
    } else {
        (row * 1000 + col) as f32 * 0.25
    }
}

pub fn tile_id(r: usize, c: usize) -> String {
    format!("t{r}_{c}")
}

fn parse(id: &str) -> Option<(usize, usize)> {
    let (r, c) = id.strip_prefix('t')?.split_once('_')?;
    Some((r.parse().ok()?, c.parse().ok()?))
}

/// Tile (r, c) in cube CRS map units.
pub fn tile_bbox(r: usize, c: usize) -> BoundingBox {
    let size = TILE as f64 * RES;
    let left = X0 + c as f64 * size;
    let top = Y0 - r as f64 * size;
    BoundingBox::new(left, top - size, left + size, top)
}

/// The map box of cube pixels rows r0..r1, cols c0..c1.
pub fn pixel_bbox(r0: usize, c0: usize, r1: usize, c1: usize) -> BoundingBox {
    BoundingBox::new(
        X0 + c0 as f64 * RES,
        Y0 - r1 as f64 * RES,
        X0 + c1 as f64 * RES,
        Y0 - r0 as f64 * RES,
    )
}

/// A source of 48 px tiles counting downloads.
pub struct TileSource {
    spec: CubeSpec,
    pub downloads: Mutex<HashMap<String, u32>>,
    pub delay: Duration,
}

impl TileSource {
    pub fn new() -> Arc<Self> {
        Self::with_delay(Duration::ZERO)
    }

    pub fn with_delay(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            spec: spec(),
            downloads: Mutex::default(),
            delay,
        })
    }

    pub fn downloads_of(&self, id: &str) -> u32 {
        self.downloads
            .lock()
            .expect("downloads")
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_downloads(&self) -> u32 {
        self.downloads.lock().expect("downloads").values().sum()
    }

    fn index(&self, r: usize, c: usize) -> PatchRef {
        let poly = geo::Geometry::Polygon(tile_bbox(r, c).to_polygon());
        let footprint = reproject_geometry(&poly, &crs(), &Crs::wgs84(), 8).expect("footprint");
        PatchRef::new(tile_id(r, c), footprint, None)
    }
}

impl Source for TileSource {
    fn spec(&self) -> &CubeSpec {
        &self.spec
    }

    fn touching_patches(&self, aoi: &Aoi, _toi: &Toi) -> Result<Vec<PatchRef>, SourceError> {
        let b = aoi.bounds_in(&crs())?;
        let mut out = vec![];
        for r in 0..TILES {
            for c in 0..TILES {
                let t = tile_bbox(r, c);
                // Interiors overlap: a box touching a tile's edge only does not need it.
                if t.left < b.right && b.left < t.right && t.bottom < b.top && b.bottom < t.top {
                    out.push(self.index(r, c));
                }
            }
        }
        Ok(out)
    }

    fn download(&self, idx: &PatchRef) -> Result<Patch, DownloadError> {
        *self
            .downloads
            .lock()
            .expect("downloads")
            .entry(idx.id.clone())
            .or_default() += 1;
        std::thread::sleep(self.delay);
        let (r, c) =
            parse(&idx.id).ok_or_else(|| DownloadError::fatal(format!("no tile {}", idx.id)))?;
        let gb = GeoBox::from_bbox(tile_bbox(r, c), crs(), RES)
            .map_err(|e| DownloadError::fatal(e.to_string()))?;
        let dem_px = Array2::from_shape_fn((TILE, TILE), |(y, x)| dem(r * TILE + y, c * TILE + x))
            .into_dyn();
        let mask = Array2::from_shape_fn((TILE, TILE), |(y, x)| {
            u8::from(dem(r * TILE + y, c * TILE + x) != NODATA)
        })
        .into_dyn();
        Ok(Patch::new(idx.id.clone(), gb)
            .with_layer("dem", TypedArray::Float32(dem_px), Some(f64::from(NODATA)))
            .with_layer("datamask", TypedArray::Uint8(mask), None))
    }

    fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>, SourceError> {
        Ok(ids
            .iter()
            .filter_map(|id| parse(id))
            .map(|(r, c)| self.index(r, c))
            .collect())
    }

    // Its index is arithmetic: the same answers offline.
    fn touching_patches_offline(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>, SourceError> {
        self.touching_patches(aoi, toi)
    }

    fn patch_refs_offline(&self, ids: &[String]) -> Result<Vec<PatchRef>, SourceError> {
        self.patch_refs(ids)
    }
}

/// Fast retries for tests.
pub fn config() -> BackendConfig {
    BackendConfig::default()
        .download_retry(RetryPolicy {
            max_tries: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        })
        .workers(3)
}

pub fn accessor(source: &Arc<TileSource>, storage: CubeStorage) -> Accessor {
    let source: Arc<dyn Source> = Arc::clone(source) as Arc<dyn Source>;
    Accessor::builder(source, storage)
        .config(config())
        .build()
        .expect("accessor")
}

/// The `dem` variable of a loaded dataset.
pub fn dem_pixels(ds: &geocube_core::Dataset) -> &ndarray::ArrayD<f32> {
    ds.variable("dem")
        .expect("dem")
        .data
        .as_array::<f32>()
        .expect("f32")
}

/// Check every pixel of a loaded dataset against the tile values.
pub fn assert_values(ds: &geocube_core::Dataset) {
    let (row0, col0) = offset(ds);
    let dem_a = dem_pixels(ds);
    let mask = ds
        .variable("datamask")
        .expect("datamask")
        .data
        .as_array::<u8>()
        .expect("u8");
    for ((idx, v), m) in dem_a.indexed_iter().zip(mask.iter()) {
        let (r, c) = (row0 + idx[0], col0 + idx[1]);
        let want = dem(r, c);
        assert_eq!(v.to_bits(), want.to_bits(), "dem at cube pixel ({r}, {c})");
        assert_eq!(
            *m,
            u8::from(want != NODATA),
            "datamask at cube pixel ({r}, {c})"
        );
    }
}

/// Cube pixel of the dataset's top-left pixel.
pub fn offset(ds: &geocube_core::Dataset) -> (usize, usize) {
    let a = ds.geobox.affine();
    (
        ((Y0 - a.y0) / RES).round() as usize,
        ((a.x0 - X0) / RES).round() as usize,
    )
}

/// Every file of a local repository with its size, except geocube's own
/// lock, claim and event files: equal before and after means the repository
/// (branch, snapshots, chunks) is unchanged.
pub fn repo_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".geocube") {
                continue;
            }
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, e.metadata().map(|m| m.len()).unwrap_or(0));
            }
        }
    }
    out
}
