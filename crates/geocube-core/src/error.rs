//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `geocube-core`.
///
/// Variants carry the values that matter so a message can say what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- CRS, grids, AOI, TOI -------------------------------------------------
    /// A CRS string or EPSG code we cannot interpret.
    #[error(
        "unknown or unsupported CRS `{crs}`: {reason}; use `EPSG:<code>` (e.g. EPSG:3413) or a PROJ string"
    )]
    UnknownCrs {
        /// What the user gave.
        crs: String,
        /// Why it was rejected.
        reason: String,
        /// proj4rs' error, when it could not compile the definition.
        #[source]
        source: Option<proj4rs::errors::Error>,
    },
    /// A coordinate transformation failed (point outside the projection's domain, ...).
    #[error("cannot transform coordinates from {from} to {to}: {reason}")]
    Transform {
        /// Source CRS.
        from: String,
        /// Target CRS.
        to: String,
        /// What went wrong.
        reason: String,
        /// proj4rs' error, when it raised one (not for a non-finite result).
        #[source]
        source: Option<proj4rs::errors::Error>,
    },
    /// A grid definition that is not a valid north-up raster grid.
    #[error("invalid grid: {0}")]
    InvalidGrid(String),
    /// A reprojection that cannot be done: an unknown resampling, grids
    /// without an invertible transform, a source of the wrong shape.
    #[error("cannot reproject: {0}")]
    Warp(String),
    /// Two grids that should share a pixel lattice do not.
    #[error("grids do not line up: {0}")]
    GridMismatch(String),
    /// An area of interest that is empty, malformed or does not touch the cube.
    #[error("invalid area of interest: {0}")]
    InvalidAoi(String),
    /// The area of interest lies entirely outside the cube's extent.
    #[error(
        "the area of interest {aoi} lies outside the cube extent {extent}; pick an area inside it"
    )]
    AoiOutsideExtent {
        /// The AOI's bounds in the cube CRS.
        aoi: String,
        /// The cube's bounds.
        extent: String,
    },
    /// A time of interest that matches no step of the cube's time axis.
    #[error("no time step of the cube matches {requested}; the cube has {available}")]
    NoMatchingTime {
        /// What was asked for.
        requested: String,
        /// A summary of the cube's time axis.
        available: String,
    },
    /// A storage location that cannot be used as given (a malformed
    /// `s3://` URL, an S3 client that cannot be configured).
    #[error("invalid storage location `{location}`: {reason}")]
    InvalidStorage {
        /// The location as given.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// Object storage that does not answer as a cube's storage must: an
    /// unknown bucket, refused credentials, an endpoint that refuses
    /// connections.
    #[error("cannot use {location}: {reason}")]
    Unreachable {
        /// The location (URL and endpoint).
        location: String,
        /// What failed, for a person, then the client's error.
        reason: String,
    },
    /// A snapshot id that does not parse (ids print as 20 base32 characters).
    #[error("invalid snapshot id `{id}`: {reason}")]
    InvalidSnapshot {
        /// What was given.
        id: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A time of interest was given for a cube without a time axis, or the reverse.
    #[error("invalid time of interest: {0}")]
    InvalidToi(String),

    /// A variable name the cube (or region) does not have.
    #[error("no variable `{name}`; the variables are {available}")]
    UnknownVariable {
        /// The name asked for.
        name: String,
        /// The names there are, comma-separated.
        available: String,
    },

    // ---- spec, patches -------------------------------------------------------
    /// A cube specification that cannot be turned into a cube.
    #[error("invalid cube spec: {0}")]
    InvalidSpec(String),
    /// A patch that does not fit the cube (wrong variables, dtype, grid, time).
    #[error("patch `{id}` does not fit the cube: {reason}")]
    InvalidPatch {
        /// Patch id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Offline, and the answer needs the network (see
    /// [`Source::touching_patches_offline`](crate::Source::touching_patches_offline)).
    #[error("offline: {reason}; run online to fetch what is missing")]
    Offline {
        /// What could not be done, and why.
        reason: String,
    },

    // ---- the cube on Icechunk ------------------------------------------------
    /// No cube at this location.
    #[error(
        "no geocube datacube at {location}; create it first (`Cube::create`, or `geocube create <dataset> --store {location}`)"
    )]
    NotCreated {
        /// Where we looked.
        location: String,
    },
    /// A local cube location that is a file.
    #[error("{} is a file, not a cube directory; give a directory (new, or holding a cube)", .path.display())]
    NotADirectory {
        /// The file.
        path: PathBuf,
    },
    /// `create` in a directory that holds no repository but other files:
    /// a cube is never made among unrelated files.
    #[error(
        "{} is not empty and holds no cube (it has {entries}); create the cube in a new or empty directory",
        .path.display()
    )]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// A few of the entries found, comma-separated.
        entries: String,
    },
    /// `create` on an existing cube without `overwrite` or `exists_ok`.
    #[error(
        "a cube already exists at {location}; pass exists_ok to reuse it or overwrite to replace it"
    )]
    AlreadyExists {
        /// Where.
        location: String,
    },
    /// The repository exists but does not hold a cube of the expected layout.
    #[error("the repository at {location} is not a geocube/smart-geocubes cube: {reason}")]
    NotACube {
        /// Where.
        location: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// Another writer committed first and the commit could not be reconciled.
    /// Retrying the whole write on a fresh session resolves it.
    #[error(
        "commit conflict on branch `{branch}` after {tries} tries; another writer changed the cube concurrently"
    )]
    Conflict {
        /// Branch.
        branch: String,
        /// How many times the write was tried.
        tries: u32,
    },
    /// `compact` could not expire the cube's history or collect its
    /// garbage. Icechunk deletes objects in dependency order (snapshots, then
    /// transaction logs, manifests and chunks, each only after what refers to
    /// it), so whatever it did before failing leaves a readable cube;
    /// running `compact` again finishes the job.
    #[error(
        "compact: {step} failed: {}; the cube is unharmed, run compact again",
        without_span_trace(&source.to_string())
    )]
    Compact {
        /// `"expire history"` or `"garbage collection"`.
        step: &'static str,
        /// Icechunk's error (`GCError`).
        #[source]
        source: BoxError,
    },
    /// An Icechunk repository, session or storage error.
    #[error("icechunk: {}", without_span_trace(&source.to_string()))]
    Icechunk {
        /// Icechunk's error (`RepositoryError`, `SessionError`, `StorageError`, ...).
        #[source]
        source: BoxError,
    },
    /// A zarrs array, group, store or codec error, or Zarr metadata that
    /// cannot be (de)serialised.
    #[error("zarr: {}", without_span_trace(&source.to_string()))]
    Zarr {
        /// zarrs' (or serde_json's) error.
        #[source]
        source: BoxError,
    },
    /// A chunk whose decoded bytes do not match its array's shape or codecs:
    /// the repository was damaged or written by something else.
    #[error("zarr: chunk {chunk} of `{array}` is corrupt: {reason}")]
    CorruptChunk {
        /// The array (variable) name.
        array: String,
        /// The chunk's grid index.
        chunk: String,
        /// What does not match.
        reason: String,
    },
    /// A blocking cube call made from inside an async runtime, where it
    /// would deadlock.
    #[error(
        "icechunk: geocube's blocking API was called from inside an async runtime; call it from a blocking thread (e.g. tokio::task::spawn_blocking)"
    )]
    AsyncContext,
    /// Local file-system I/O (repository directory, lock file).
    #[error("I/O error at {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A lower library's error, kept as the source of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What Icechunk's errors print before their span trace.
const SPAN_TRACE: &str = "\n\ncontext:\n";

/// `message` without Icechunk's span-trace blocks.
///
/// Every Icechunk error (and every zarrs storage error quoting one) ends its
/// message with `\n\ncontext:\n` and a span trace, which is empty unless
/// the program installs a `tracing-error` layer: in a one-sentence error it
/// is noise, repeated for every patch a failed write names. The trace lines
/// (indented) go with it; text after them is kept.
#[must_use]
pub fn without_span_trace(message: &str) -> std::borrow::Cow<'_, str> {
    if !message.contains(SPAN_TRACE) {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut parts = message.split(SPAN_TRACE);
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let rest: Vec<&str> = part
            .lines()
            .skip_while(|l| l.trim().is_empty() || l.starts_with(char::is_whitespace))
            .collect();
        if !rest.is_empty() {
            out.push(' ');
            out.push_str(&rest.join("\n"));
        }
    }
    std::borrow::Cow::Owned(out.trim_end().to_owned())
}

impl Error {
    /// Wrap an Icechunk error.
    pub(crate) fn icechunk(source: impl Into<BoxError>) -> Self {
        Error::Icechunk {
            source: source.into(),
        }
    }

    /// Wrap a zarrs (or Zarr metadata JSON) error.
    pub(crate) fn zarr(source: impl Into<BoxError>) -> Self {
        Error::Zarr {
            source: source.into(),
        }
    }
}

impl Error {
    /// Whether the error is the storage's (I/O, Icechunk, zarrs store):
    /// retrying the same write with fewer patches would fail the same way.
    #[must_use]
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::Icechunk { .. } | Error::Zarr { .. } | Error::AsyncContext
        )
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_traces_are_dropped() {
        // As a full disk printed it through zarrs, once per patch.
        let disk = "object store error: No space left on device (os error 28)\n\ncontext:\n\n";
        assert_eq!(
            without_span_trace(disk),
            "object store error: No space left on device (os error 28)"
        );
        let traced =
            "a\n\ncontext:\n   0: icechunk::session::commit\n           at src/session.rs:10\n: b";
        assert_eq!(without_span_trace(traced), "a : b");
        assert_eq!(without_span_trace("plain"), "plain");
        let e = Error::zarr(std::io::Error::other(disk));
        assert_eq!(
            e.to_string(),
            "zarr: object store error: No space left on device (os error 28)"
        );
        assert!(e.is_storage_failure());
        assert!(
            !Error::InvalidPatch {
                id: "a".into(),
                reason: "b".into()
            }
            .is_storage_failure()
        );
    }
}
