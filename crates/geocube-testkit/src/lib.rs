//! geocube-testkit: the deterministic local world geocube is tested in.
//!
//! - [`fixtures::generate`] writes an ArcticDEM-like 32 m mosaic in
//!   EPSG:3413 that straddles the antimeridian: per tile a `dem` (float32,
//!   nodata -9999) and a `datamask` (uint8) Cloud-Optimized GeoTIFF, a STAC
//!   item, plus a STAC collection and catalog, the GeoParquet mosaic index
//!   `ArcticDEM_Mosaic_Index_v4_1_32m.parquet` and a [`FixtureManifest`]
//!   with per-tile statistics to check results against. The `2m` preset
//!   does the same for the 2 m mosaic (`…_2m.parquet`, sub-tiles of
//!   25000² px), its tiles drawn from a few distinct blocks ([`blocks`]) so
//!   that they cost megabytes; [`fixtures::tile_window`] gives any window of
//!   any preset's tiles without reading a file.
//! - [`sentinel2::generate`] writes a Sentinel-2-L2A-like collection for
//!   the reprojection tests: 24 STAC items (four 5.4 km tiles on UTM zones 7
//!   and 8, overlapping across the 138° W zone boundary, six dates in July
//!   2024, `eo:cloud_cover` 0–100) with Earth Search's asset keys, 10 m and
//!   20 m uint16 COGs and a uint8 SCL, no-data wedges at some tile corners;
//!   every pixel is [`sentinel2::truth`] of its centre's longitude and
//!   latitude, so a test knows the expected value anywhere.
//! - [`server::FixtureServer`] serves such a directory over HTTP on
//!   127.0.0.1 with range requests, a small STAC API (with the query
//!   extension, for `eo:cloud_cover` filters) and deterministic fault
//!   injection (503s, truncated bodies, latency).
//! - [`ee::EeEmulator`] is a loopback Earth Engine: `image:computePixels`
//!   and the service-account token endpoint over synthetic TCTrend- and
//!   AlphaEarth-like collections whose values [`ee::truth`] gives, with
//!   Earth Engine's limits and error bodies and deterministic faults.
//! - [`gdal::gdalinfo`] runs GDAL on a file, for tests that check COGs
//!   against it.
//! - [`moto::MotoServer`] starts moto's S3 server (from the Python venv) on
//!   127.0.0.1 for the object-storage tests, with bucket, listing and reset
//!   helpers.
//! - [`python::with_modules_or_skip`] finds the venv's Python for the tests
//!   that run rasterio or odc (and skips them without it, but on CI).
//! - `fuzz` (feature `fuzz`): mutations of valid inputs and the runner of
//!   the fuzz tests, with a counting global allocator.
//!
//! # Independent on purpose
//!
//! The testkit depends on no geocube crate but the COG writer, and
//! re-implements what it checks the product code against, so that a bug in
//! the product cannot hide in a shared helper:
//! - [`footprint`] projects EPSG:3413 ⇄ WGS 84 with `proj4rs` directly and
//!   splits tile footprints at the antimeridian itself (by the line
//!   `x + y = 0` in EPSG:3413), instead of using geocube-core's CRS code or
//!   geocube-sources' lon/lat splitting; [`sentinel2::UtmProjector`] does
//!   the same for the UTM zones, from PROJ strings of its own.
//! - [`geoparquet`] writes and reads the index's WKB with its own small
//!   codec, independent of geocube-sources' WKB reader.
//! - The server's STAC API parses GeoJSON geometries, bboxes (split when
//!   west > east), datetimes and search parameters itself, not with
//!   `geocube_core::geojson`, and implements search as STAC specifies it.
//!   Its HTTP layer is raw sockets on purpose, for fault injection (see
//!   [`server`]).
//!
//! ```no_run
//! use geocube_testkit::{Preset, fixtures, server::{FixtureServer, ServerOptions}};
//!
//! # fn main() -> geocube_testkit::Result<()> {
//! let dir = std::env::temp_dir().join("geocube-fixtures-tiny");
//! let manifest = fixtures::generate(Preset::Tiny, &dir)?;
//! let server = FixtureServer::start(&dir, ServerOptions::default())?;
//! println!("{} tiles at {}", manifest.tiles.len(), server.stac_api_url());
//! # Ok(())
//! # }
//! ```

pub mod blocks;
pub mod ee;
pub mod error;
pub mod fixtures;
pub mod footprint;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod gdal;
pub mod geoparquet;
pub mod manifest;
pub mod moto;
pub mod preset;
pub mod python;
pub mod sentinel2;
pub mod server;
pub mod stac;
pub mod terrain;

use serde::{Deserialize, Serialize};

pub use crate::error::{Error, Result};
pub use crate::manifest::{DemStats, FixtureManifest, PixelWindow, TileManifest};
pub use crate::preset::{Mosaic, MosaicLayout, Preset};

/// An axis-aligned rectangle in map units (EPSG:3413 metres unless stated).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Left edge.
    pub xmin: f64,
    /// Bottom edge.
    pub ymin: f64,
    /// Right edge.
    pub xmax: f64,
    /// Top edge.
    pub ymax: f64,
}

impl Bounds {
    /// The closed, counter-clockwise exterior ring of the rectangle.
    #[must_use]
    pub fn ring(&self) -> Vec<(f64, f64)> {
        vec![
            (self.xmin, self.ymin),
            (self.xmax, self.ymin),
            (self.xmax, self.ymax),
            (self.xmin, self.ymax),
            (self.xmin, self.ymin),
        ]
    }

    /// Whether the rectangles share interior points.
    #[must_use]
    pub fn overlaps(&self, other: &Bounds) -> bool {
        self.xmin < other.xmax
            && other.xmin < self.xmax
            && self.ymin < other.ymax
            && other.ymin < self.ymax
    }
}

/// Where a tile lies relative to the antimeridian (180°).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AntimeridianSide {
    /// Wholly at longitudes up to +180° (x + y ≥ 0 in EPSG:3413).
    East,
    /// Wholly at longitudes from -180° (x + y ≤ 0 in EPSG:3413).
    West,
    /// On both sides: its footprint is split into two polygons.
    Crosses,
}
