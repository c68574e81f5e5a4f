//! geocube: load remote geospatial rasters on demand and cache them in an
//! Icechunk/Zarr v3 datacube (the Rust counterpart of smart-geocubes).
//!
//! An [`Accessor`] joins a [`Source`] (which patches exist, how to download
//! one), a download backend and a cube location. [`Accessor::load`] crops
//! the cube to an area (and time) of interest, downloading only the source
//! patches the cube does not hold yet; later loads of the same area read
//! from the cube alone. One accessor may be shared by many threads, and many
//! processes may load into one local cube at once: each patch is downloaded
//! once.
//!
//! ```
//! use std::sync::Arc;
//! use geocube::{
//!     Accessor, Affine, Aoi, BoundingBox, ChannelSpec, Crs, CubeSpec, CubeStorage, DType,
//!     DownloadError, GeoBox, LoadOptions, Patch, PatchRef, Source, SourceError, Toi,
//!     TypedArray, geo, ndarray,
//! };
//!
//! /// A source with one patch covering the whole 64 x 64 px grid.
//! struct OnePatch(CubeSpec);
//!
//! impl Source for OnePatch {
//!     fn spec(&self) -> &CubeSpec { &self.0 }
//!     fn touching_patches(&self, _: &Aoi, _: &Toi) -> Result<Vec<PatchRef>, SourceError> {
//!         Ok(vec![PatchRef::new("all", geo::Point::new(15.0, 0.0).into(), None)])
//!     }
//!     fn download(&self, idx: &PatchRef) -> Result<Patch, DownloadError> {
//!         let pixels = TypedArray::Float32(ndarray::ArrayD::from_elem(vec![64, 64], 7.5));
//!         Ok(Patch::new(idx.id.clone(), self.0.geobox.clone()).with_layer("dem", pixels, Some(-9999.0)))
//!     }
//!     fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>, SourceError> {
//!         Ok(ids.iter().map(|id| PatchRef::new(id.clone(), geo::Point::new(15.0, 0.0).into(), None)).collect())
//!     }
//! }
//!
//! # fn main() -> geocube::Result<()> {
//! let grid = GeoBox::new(64, 64, Affine { x0: 0.0, res_x: 10.0, y0: 640.0, res_y: -10.0 }, Crs::from_epsg(32633)?)?;
//! let spec = CubeSpec {
//!     title: "Doc".into(), geobox: grid, time: None, chunk_size: 32,
//!     channels: vec![ChannelSpec::new("dem", DType::Float32).with_nodata(-9999.0)], codec: Default::default(),
//! };
//! let accessor = Accessor::builder(Arc::new(OnePatch(spec)), CubeStorage::in_memory()?).build()?;
//!
//! // A 100 m box in the cube's CRS: 10 x 10 pixels, downloaded on the first load.
//! let aoi = Aoi::bbox(BoundingBox::new(100.0, 100.0, 200.0, 200.0), Crs::from_epsg(32633)?);
//! let loaded = accessor.load(&aoi, &Toi::None, LoadOptions::default().create(true))?;
//! assert_eq!(loaded.dataset.geobox.shape(), (10, 10));
//! assert_eq!(loaded.report.submit.downloaded, ["all"]);
//!
//! // The second load reads the cube only.
//! let again = accessor.load(&aoi, &Toi::None, LoadOptions::default())?;
//! assert!(again.report.submit.downloaded.is_empty());
//! assert_eq!(accessor.loaded_patches()?, ["all"]);
//! # Ok(()) }
//! ```
//!
//! Everything a user of the accessor names is re-exported here (grids,
//! areas and times of interest, storage, datasets, the [`Source`] trait and
//! the dataset presets), so `geocube` is the one dependency to import from;
//! the crates underneath stay available for what goes beyond.
//!
//! [`basemap`] gives coastlines, land borders and a labelled graticule in any
//! cube CRS from Natural Earth data built into the crate (no feature needed),
//! for maps of a cube drawn here or elsewhere (matplotlib).
//!
//! The `geocube` command wraps the same operations for the dataset presets
//! of `geocube-sources` (`geocube datasets`, `create`, `load`, `prefetch`,
//! `status`, `events`).

//!
//! # Features
//! - `cli` (default): the `geocube` command (clap, indicatif, and mimalloc
//!   as its allocator); implies `viz`.
//! - `viz` (default through `cli`): pictures — `Accessor::visualize_state`
//!   (a PNG map of the loaded patches, png) and `timeline::write_gantt_svg`
//!   (an SVG Gantt chart of the backend's work, plotters).
//!
//! A library user who wants neither depends with `default-features = false`.

mod accessor;
pub mod basemap;
pub mod budget;
mod error;
pub mod export;
mod onto;
pub mod progress;
pub mod request;
mod state;
pub mod timeline;
mod verify;

pub use crate::accessor::{
    Accessor, AccessorBuilder, BackendKind, LazyLoaded, LoadOptions, LoadReport, Loaded,
};
pub use crate::error::{Error, Result};
pub use crate::progress::{NoProgress, Progress};
pub use crate::verify::{MissingChunk, RepairReport, SourceMismatch, VerifyOptions, VerifyReport};

// The facade: the types of the accessor's API and of writing a source, from
// the crates underneath.
pub use geocube_backend::{BackendConfig, EventLog, SubmitReport};
pub use geocube_core::toi::TimeMethod;
pub use geocube_core::warp::{self, Resampling};
pub use geocube_core::{
    Affine, Aoi, BoundingBox, CancelToken, ChannelSpec, ChunkCodec, CompactOptions, CompactReport,
    Crs, CubeElement, CubeLayout, CubeSpec, CubeStorage, DType, Dataset, DownloadError, DownloadFn,
    GeoBox, IcechunkFormat, LazyRegion, Patch, PatchLayer, PatchRef, RetryPolicy, Source,
    SourceError, StagedWrite, Stats, Tiling, Toi, TypedArray, Variable, Window,
};
pub use geocube_sources::datasets;
pub use geocube_sources::datasets::arcticdem::{ArcticDem, ArcticDemBuilder, Resolution};
pub use geocube_sources::{StacSource, StacSourceBuilder};
// The geometry and array crates of the API's types, at the versions it uses.
pub use {geo, ndarray};

/// The README's "library in ten lines", compiled (not run: it reaches PGC).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
