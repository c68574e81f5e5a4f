//! geocube-geotiff: Cloud-Optimized GeoTIFF writing, and the GeoTIFF
//! GeoKey constants geocube's reader shares.
//!
//! - [`CogWriter`] writes one band (`bool`, `u8`, `u16`, `i16`, `i32`,
//!   `f32`, `f64`) as a COG that `gdalinfo` reports as `LAYOUT=COG`:
//!   classic TIFF, square tiles, DEFLATE with predictors, overviews,
//!   GeoTIFF georeferencing by EPSG code and an optional GDAL nodata value.
//!   Output is deterministic.
//! - [`TileWriter`] ([`CogWriter::stream`]) writes a band larger than
//!   memory tile by tile: a tiled GeoTIFF (BigTIFF past 4 GiB) without
//!   overviews, which a COG's layout cannot be written as.
//! - [`CogWriter::write_shared_blocks`] writes a tiled GeoTIFF whose
//!   blocks are drawn from a few distinct ones (several tile offsets
//!   pointing at the same bytes): test rasters of any size for the price of
//!   a few blocks.
//! - [`tags`] names the GeoKeys and GDAL numbers `tiff::tags` lacks (standard
//!   TIFF and GeoTIFF tags come from `tiff::tags`).
//! - [`gdal_checksum`] computes `gdalinfo -checksum` of a band, to check a
//!   file against GDAL.
//!
//! No dependency on the rest of geocube: the testkit writes its fixtures
//! with this crate, and `geocube load --out` its results.
//!
//! ```
//! use geocube_geotiff::{CogWriter, CrsKind};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (width, height) = (600, 400);
//! let dem: Vec<f32> = (0..width * height)
//!     .map(|i| if i % 7 == 0 { -9999.0 } else { (i % 1000) as f32 / 4.0 })
//!     .collect();
//! let path = std::env::temp_dir().join("geocube-geotiff-doc-example.tif");
//! let file = std::fs::File::create(&path)?;
//! let bytes = CogWriter::new(width, height)
//!     // GDAL geotransform: top-left corner, 32 m pixels, north-up.
//!     .geotransform([-2_000_000.0, 32.0, 0.0, 1_000_000.0, 0.0, -32.0])
//!     .epsg(3413, CrsKind::Projected)
//!     .nodata(-9999.0)
//!     .block_size(256)
//!     .write(&dem, file)?;
//! assert_eq!(std::fs::metadata(&path)?.len(), bytes);
//!
//! // Geographic CRSs name their type; bands of any sample type, in memory.
//! let mask = vec![true; 360 * 180];
//! let cog = CogWriter::new(360, 180)
//!     .geotransform([-180.0, 1.0, 0.0, 90.0, 0.0, -1.0])
//!     .epsg(4326, CrsKind::Geographic)
//!     .citation("WGS 84")
//!     .to_vec(&mask)?;
//! assert_eq!(&cog[..4], b"II*\0");
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```

mod checksum;
mod error;
mod layout;
mod nodata;
mod overview;
mod sample;
mod shared;
mod stream;
pub mod tags;
mod writer;

pub use crate::checksum::gdal_checksum;
pub use crate::error::{Error, Result};
pub use crate::layout::TiffFormat;
pub use crate::nodata::format_gdal_nodata;
pub use crate::overview::Resampling;
pub use crate::sample::{Sample, SampleType};
pub use crate::stream::{EncodedTile, TileWriter};
pub use crate::writer::{CogWriter, CrsKind, DEFAULT_BLOCK_SIZE};
