//! geocube-core: grid and CRS maths, areas and times of interest, patch
//! bookkeeping, cube specifications and the Icechunk/Zarr v3 cube itself.
//!
//! The cube layout is the one the Python library smart-geocubes writes, so
//! cubes are interchangeable with it and open in xarray.

pub mod aoi;
pub mod cancel;
pub mod crs;
pub mod error;
pub mod geojson;
pub mod grid;
pub mod toi;
pub mod warp;

pub use crate::aoi::Aoi;
pub use crate::cancel::CancelToken;
pub use crate::crs::Crs;
pub use crate::error::{Error, Result};
pub use crate::grid::{Affine, BoundingBox, GeoBox, Window};
pub use crate::toi::Toi;
pub mod cube;
pub mod dataset;
pub mod patch;
pub mod retry;
pub mod source;
pub mod spec;

pub use crate::cube::{
    CompactOptions, CompactReport, Cube, CubeLayout, CubeStorage, IcechunkFormat, LazyRegion,
    LoadedPatches, PatchClaimObject, RawRange, S3Credentials, S3Location, SnapshotStore,
    StagedWrite, Tiling, WriteOutcome,
};
pub use crate::dataset::{CubeElement, Dataset, Stats, TypedArray, Variable};
pub use crate::patch::{Patch, PatchLayer, PatchRef};
pub use crate::retry::RetryPolicy;
pub use crate::source::{
    DownloadError, DownloadFn, PieceSink, Source, SourceError, Streamed, StreamingDownloadFn,
    download_fn, streaming_download_fn,
};
pub use crate::spec::{ChannelSpec, ChunkCodec, CubeSpec, DType};
