//! geocube-sources: where a cube's pixels come from.
//!
//! - [`Source`]: what the accessor needs from a dataset — which patches touch
//!   an area and time, and how to download one onto the cube grid.
//! - [`StacSource`]: any STAC API collection of COGs (smart-geocubes'
//!   `STACAccessor`): assets on the cube's pixel lattice are copied
//!   bit-exactly, assets on any other grid (UTM scenes, other resolutions)
//!   warped into the cube chunk by chunk with `geocube_core::warp`.
//! - [`datasets`]: presets, starting with ArcticDEM 2 m / 10 m / 32 m
//!   ([`datasets::arcticdem::ArcticDem`]), patches from PGC's GeoParquet
//!   mosaic index, items fetched lazily; [`datasets::presets`] and
//!   [`datasets::open`] for the command line.
//! - [`cog::Cog`]: a Cloud-Optimized GeoTIFF reader over HTTP range requests
//!   that fetches only the internal tiles a window needs, of the full image
//!   or of an overview ([`cog::pick_overview`] chooses one as odc-stac
//!   does); [`http`]: the blocking client underneath, with timeouts and
//!   retries.
//!
//! The contract they fulfil, [`Source`], lives in `geocube-core` beside
//! the patch types, so this crate and `geocube-backend` are siblings.
//! Errors are one [`Error`] enum; [`Error::is_retryable`] is what
//! [`DownloadError::retryable`](geocube_core::DownloadError) carries.
//!
//! ```
//! use geocube_sources::datasets::arcticdem::{ArcticDem, Resolution};
//! use geocube_core::Source;
//!
//! # fn main() -> geocube_sources::Result<()> {
//! // Endpoints default to PGC's; tests point them at a local server.
//! let source = ArcticDem::builder(Resolution::M32)
//!     .stac_url("http://127.0.0.1:9/")
//!     .aux_dir(std::env::temp_dir().join("geocube-doc-aux"))
//!     .build()?;
//! let spec = source.spec();
//! assert_eq!(spec.title, "ArcticDEM32m");
//! assert_eq!(spec.geobox.shape(), (234_381, 231_256));
//! // The backend's download function is the source's `download`:
//! let download: geocube_core::DownloadFn = geocube_core::download_fn(std::sync::Arc::new(source));
//! # let _ = download;
//! # Ok(()) }
//! ```

pub mod cog;
pub mod datasets;
pub mod ee;
pub mod error;
pub mod geotiff;
pub mod http;
mod loader;
pub mod mosaic_index;
mod pixels;
mod source;
pub mod stac;
pub mod wkb;

pub use crate::error::{Error, Result};
pub use crate::stac::{StacItemUrl, StacItems, StacSource, StacSourceBuilder};
pub use geocube_core::Source;
