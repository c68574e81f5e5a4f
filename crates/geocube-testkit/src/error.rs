//! The one error type of the testkit.

use std::path::PathBuf;

/// What went wrong while generating, reading or serving fixtures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A socket operation of the fixture server failed.
    #[error("server I/O error while {action}: {source}")]
    Server {
        /// What the server was doing.
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON document could not be encoded or decoded.
    #[error("JSON error in {path}: {source}")]
    Json {
        /// The file concerned (or a description of the document).
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The GeoParquet index could not be written or read.
    #[error("parquet error in {path}: {source}")]
    Parquet {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// A coordinate transform failed.
    #[error("coordinate transform of ({x}, {y}) failed: {message}")]
    Transform {
        /// Easting or longitude of the point.
        x: f64,
        /// Northing or latitude of the point.
        y: f64,
        /// What proj4rs reported.
        message: String,
    },
    /// A file does not have the structure the testkit expects.
    #[error("{path} is not a valid fixture file: {reason}")]
    Invalid {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A fixture STAC item whose geometry or time the server cannot read.
    #[error("{path} is not a valid fixture file: {source}")]
    InvalidItem {
        /// The item file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: crate::server::StacApiError,
    },
    /// A COG could not be encoded.
    #[error("encoding the COG {path} failed: {source}")]
    Cog {
        /// The file that was to be written.
        path: PathBuf,
        /// What the COG writer reported.
        source: geocube_geotiff::Error,
    },
    /// A pixel window asked of a tile does not lie inside it.
    #[error("window {window:?} is not inside a tile of {tile_px}² px")]
    OutsideTile {
        /// The window asked for (tile pixel coordinates).
        window: crate::PixelWindow,
        /// Width and height of the tile.
        tile_px: u32,
    },
    /// The moto S3 server could not be started or answered unexpectedly
    /// ([`crate::moto`]).
    #[error("moto S3 server: {0}")]
    Moto(String),
    /// No Python of the test venv with the modules a test needs
    /// ([`crate::python`]).
    #[error("{0}")]
    Python(String),
    /// A preset name was not recognised.
    #[error("unknown preset {0:?}: use one of tiny, small, large, 2m")]
    UnknownPreset(String),
}

/// Result with the testkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
