//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `geocube`.
///
/// The mistakes a user makes most (no cube yet, an area outside the cube,
/// patches missing offline) are variants of their own; everything else wraps
/// the lower crate's error.
///
/// `NotCreated` and `AoiOutsideExtent` mirror the variants of
/// [`geocube_core::Error`] on purpose: core cannot name what a geocube user
/// does about them (`Accessor::create`, `LoadOptions::create`, the command's
/// `--create`; core's own hint is `Cube::create`, which they never call), and
/// wrapping core's error as a source would print its differing advice as a
/// second "caused by" line. So these variants carry core's values and their
/// own message, and are made in one place only: `From<geocube_core::Error>`
/// below, through which every lower layer's error reaches the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No cube at the storage location (from [`geocube_core::Error::NotCreated`]).
    #[error(
        "no datacube at {location}; create it first (`Accessor::create`, `LoadOptions {{ create: true, .. }}`, or `geocube create <dataset> --store {location}` / `--create`)"
    )]
    NotCreated {
        /// Where we looked.
        location: String,
    },
    /// The area of interest lies entirely outside the cube's extent (from
    /// [`geocube_core::Error::AoiOutsideExtent`]).
    #[error(
        "the area of interest {aoi} lies outside the cube extent {extent} (both in the cube CRS); pick an area inside it"
    )]
    AoiOutsideExtent {
        /// The AOI's bounds in the cube CRS.
        aoi: String,
        /// The cube's bounds.
        extent: String,
    },
    /// Offline mode and the cube lacks patches the request needs.
    #[error(
        "offline: {} patch(es) needed but not in the cube: {}; load them online first (e.g. `geocube prefetch`)",
        ids.len(),
        ids.join(", ")
    )]
    MissingPatches {
        /// The ids that would have to be downloaded.
        ids: Vec<String>,
    },
    /// A bounding box that is not `west,south,east,north` with west < east and south < north.
    #[error("invalid bounding box `{bbox}`: {reason}; give W,S,E,N with W < E and S < N")]
    InvalidBbox {
        /// What was given.
        bbox: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An in-memory load whose result would pass
    /// [`LoadOptions::max_bytes`](crate::LoadOptions::max_bytes); refused
    /// before anything is downloaded.
    #[error(
        "an in-memory load of {width} x {height} px{} would take {} (all variables), over the {} limit; stream it instead: on the command line `--out X.zarr` or `--out X.tif` (written chunk by chunk), `--stats` or `--json`, or `geocube prefetch` to download only; in the library `Accessor::load_lazy` (read by window or tile) or `Accessor::prefetch`; or raise the limit (`--max-memory 200GiB` or `--max-memory off`, `LoadOptions::max_bytes`)",
        if *.steps > 1 { format!(" x {} time steps", .steps) } else { String::new() },
        crate::budget::ByteSize(*.bytes),
        crate::budget::ByteSize(*.limit)
    )]
    ResultTooLarge {
        /// Bytes the result would take (`u64::MAX` when that overflows).
        bytes: u64,
        /// The limit.
        limit: u64,
        /// Width of the region in pixels.
        width: usize,
        /// Height of the region in pixels.
        height: usize,
        /// Time steps (1 on a cube without a time axis).
        steps: usize,
    },
    /// A byte size (`--max-memory`) that does not parse.
    #[error("invalid size `{text}`: {reason}; e.g. 2GiB, 512MiB, or off")]
    InvalidSize {
        /// What was given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cube's grid, CRS, AOI, TOI or storage.
    #[error(transparent)]
    Core(geocube_core::Error),
    /// Loading patches into the cube (downloads, writes).
    #[error(transparent)]
    Backend(geocube_backend::Error),
    /// The data source (index, STAC API, configuration).
    #[error(transparent)]
    Source(geocube_sources::Error),
    /// A source outside `geocube-sources` could not say which patches it has.
    #[error(transparent)]
    SourceIndex(geocube_core::SourceError),
    /// `verify` found the cube out of step with its `loaded_patches`.
    #[error(
        "the cube is inconsistent: {missing_chunks} missing chunk(s), {orphan_chunks} orphan chunk(s), {unknown_ids} unknown id(s), {source_mismatches} patch(es) differing from the source; re-load the affected areas"
    )]
    Inconsistent {
        /// Chunks recorded patches lack.
        missing_chunks: usize,
        /// Chunks under no recorded patch.
        orphan_chunks: usize,
        /// Recorded ids the source does not know.
        unknown_ids: usize,
        /// Patches whose pixels differ from the source.
        source_mismatches: usize,
    },
    /// A patch `verify` downloaded again to compare could not be fetched.
    #[error("verify: cannot download patch `{id}` to compare it with the cube: {source}")]
    Verify {
        /// The patch id.
        id: String,
        /// Why the download failed.
        #[source]
        source: geocube_core::DownloadError,
    },
    /// Writing an output file (Zarr, GeoTIFF, PNG, SVG, JSON) failed, or
    /// geocube refuses to write it (an unknown extension, a path that is not
    /// a Zarr store, a GeoTIFF it cannot represent).
    #[error("cannot write {}: {source}", .path.display())]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// The writer's error (zarrs, GeoTIFF, PNG, SVG, JSON), or for a
        /// refusal a plain message saying what to do instead.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file read as a backend events file (`geocube events`) that is not one.
    #[error("cannot read {}: not a geocube events file: {source}", .path.display())]
    EventsFile {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The basemap built into the crate (Natural Earth coastlines and
    /// borders) does not parse: a damaged build.
    #[error(
        "the built-in basemap is damaged at byte {offset}: {reason}; rebuild geocube (crates/geocube/data/ne_110m_coast.bin comes from tools/make_coastline.py)"
    )]
    BasemapData {
        /// Where in the file.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// Local file-system I/O.
    #[error("I/O error at {}: {source}", .path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// [`Error::Output`] for `path`: `source` is the writer's error, or a
    /// message (`&str`, `String`) when geocube refuses the path.
    pub(crate) fn output(
        path: impl Into<PathBuf>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Output {
            path: path.into(),
            source: source.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

// The core errors a user can cause get variants of their own, wherever in
// the stack they surface: the one place `NotCreated` and `AoiOutsideExtent`
// are made (see the enum's docs).
impl From<geocube_core::Error> for Error {
    fn from(e: geocube_core::Error) -> Self {
        match e {
            geocube_core::Error::NotCreated { location } => Error::NotCreated { location },
            geocube_core::Error::AoiOutsideExtent { aoi, extent } => {
                Error::AoiOutsideExtent { aoi, extent }
            }
            other => Error::Core(other),
        }
    }
}

impl From<geocube_backend::Error> for Error {
    fn from(e: geocube_backend::Error) -> Self {
        match e {
            geocube_backend::Error::Core(c) => c.into(),
            other => Error::Backend(other),
        }
    }
}

impl From<geocube_sources::Error> for Error {
    fn from(e: geocube_sources::Error) -> Self {
        match e {
            geocube_sources::Error::Core(c) => c.into(),
            other => Error::Source(other),
        }
    }
}

// A source's index errors cross the `Source` trait boxed; the two kinds
// this crate knows are taken back out so they keep their variants.
impl From<geocube_core::SourceError> for Error {
    fn from(e: geocube_core::SourceError) -> Self {
        match e.downcast::<geocube_sources::Error>() {
            Ok(s) => s.into(),
            Err(e) => match e.downcast::<geocube_core::Error>() {
                Ok(c) => c.into(),
                Err(other) => Error::SourceIndex(other),
            },
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
