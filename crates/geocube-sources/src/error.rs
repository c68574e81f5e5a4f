//! The crate's one error type.

use std::path::PathBuf;

use geocube_core::DownloadError;

/// Everything that can go wrong in `geocube-sources`.
///
/// Variants carry the URL, path or item involved. [`Error::is_retryable`]
/// says whether trying again may help; the conversion into the backend's
/// [`DownloadError`] (and the backend's retries) keeps that flag.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status.
    #[error("HTTP {status} from {url}{}", body_hint(.message))]
    Http {
        /// The URL asked for.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body, if any.
        message: String,
    },
    /// No usable answer: connection refused or reset, a body cut short
    /// (fewer bytes than `Content-Length` or the requested range).
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL asked for.
        url: String,
        /// What happened.
        reason: String,
        /// Whether the failure is transient (everything but a malformed request).
        retryable: bool,
    },
    /// A deadline of the HTTP client fired: the server did not connect,
    /// answer or send fast enough (the deadlines are
    /// [`HttpConfig`](crate::http::HttpConfig)'s).
    ///
    /// Retryable (but for the whole-request deadline) as far as the HTTP
    /// client goes, which tries such a request
    /// [`deadline_tries`](crate::http::HttpConfig::deadline_tries) times;
    /// as a [`DownloadError`] it is final, so that the backend's retries of
    /// whole downloads do not multiply the wait on a slow server.
    #[error("{}", .deadline.describe(Some(.url)))]
    TimedOut {
        /// The URL asked for.
        url: String,
        /// Which deadline, with its figures.
        deadline: crate::http::Deadline,
    },
    /// A response that is not the JSON we expected (a malformed STAC item or page).
    #[error("invalid response from {url}: {reason}")]
    InvalidResponse {
        /// The URL answered.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A GeoTIFF that cannot be read: truncated, corrupt, unsupported layout
    /// or georeferencing.
    #[error("cannot read the GeoTIFF at {url}: {reason}")]
    Tiff {
        /// Where the file is.
        url: String,
        /// What is wrong.
        reason: String,
        /// The decoder's or the georeferencing's error behind `reason`,
        /// when it is not one of geocube's own checks.
        #[source]
        source: Option<Cause>,
    },
    /// A STAC item that lacks what the source needs (an asset, a geometry).
    #[error("STAC item `{item}` cannot be used: {reason}")]
    InvalidItem {
        /// Item id (or URL).
        item: String,
        /// What is missing or malformed.
        reason: String,
        /// The error behind `reason` (a malformed geometry, pixels that do
        /// not fit the channel type), when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// An item that cannot be placed on the cube grid: its raster lies
    /// outside the cube, its time matches no time step, its assets disagree.
    /// (A raster merely on another grid is warped into the cube.)
    #[error("item `{item}` does not fit the cube grid: {reason}")]
    NotOnCubeGrid {
        /// Item id.
        item: String,
        /// How the grids differ.
        reason: String,
    },
    /// A STAC item whose projection metadata (`proj:transform`,
    /// `proj:shape`) contradict the asset COG's own georeferencing. One of
    /// the two is wrong and geocube cannot tell which; the patch is not
    /// written, so the cube never holds pixels at a place its source
    /// disputes.
    #[error(
        "STAC item `{item}` asset `{asset}`: its {field} {stac} contradicts the COG's own georeferencing {cog}; one of them is wrong, so the patch is not loaded: fix the item or the file"
    )]
    GeorefMismatch {
        /// Item id.
        item: String,
        /// Asset key.
        asset: String,
        /// `proj:transform` or `proj:shape`.
        field: &'static str,
        /// What the item says.
        stac: String,
        /// What the COG says, in the same form, and its URL.
        cog: String,
    },
    /// The area of interest touches no patch of the source.
    #[error(
        "no patches of the source intersect the area of interest {aoi}; check that it lies inside the dataset's coverage"
    )]
    NoPatches {
        /// The AOI's bounds, as text.
        aoi: String,
    },
    /// The patch index (GeoParquet mosaic index) cannot be read or fetched.
    #[error("mosaic index {}: {reason}", .path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
        /// The error behind `reason` (I/O, Parquet, zip, WKB), when there
        /// is one.
        #[source]
        source: Option<Cause>,
    },
    /// Offline, and the mosaic index is not on this machine. Offline nothing
    /// is fetched, so it has to be downloaded once online or put in place.
    #[error(
        "offline: the mosaic index {file} is not in {}; fetch it once online (`geocube prefetch` or a load without --offline downloads it from {url}) or place the file there (--aux-dir / GEOCUBE_AUX_DIR name the directory)",
        .dir.display()
    )]
    IndexMissingOffline {
        /// The index file name (`ArcticDEM_Mosaic_Index_v4_1_32m.parquet`).
        file: String,
        /// The directory it is looked for in (the aux directory).
        dir: PathBuf,
        /// Where it is downloaded from when online.
        url: String,
    },
    /// Offline, and the operation needs the network (a STAC search, a download).
    #[error("offline: {what} needs the network; run without offline mode")]
    NeedsNetwork {
        /// What was asked for.
        what: String,
    },
    /// Local file-system I/O (auxiliary directory, index download).
    #[error("I/O error at {}: {source}", .path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An unknown dataset preset name.
    #[error("unknown dataset `{name}`; known datasets: {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The names available, comma-separated.
        known: String,
    },
    /// Earth Engine credentials that cannot be used: no key or token, an
    /// unreadable key file, a key the token endpoint refuses.
    #[error("Earth Engine authentication: {reason}")]
    Auth {
        /// What is wrong, and what to do about it.
        reason: String,
    },
    /// Earth Engine refused a request with an API error (the status and
    /// message of its `{"error": …}` body).
    #[error("Earth Engine {status} ({code}) for {what}: {message}")]
    EarthEngine {
        /// What was asked (`computePixels of chunk 3-40-195, rows 0-1799`).
        what: String,
        /// HTTP status.
        code: u16,
        /// The API's status name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`).
        status: String,
        /// The API's message.
        message: String,
    },
    /// An Earth Engine reply that is not the NPY array asked for: cut
    /// short, another shape, a band missing, values the channel type
    /// cannot hold.
    #[error("Earth Engine reply for {what} cannot be used: {reason}")]
    InvalidPixels {
        /// What was asked.
        what: String,
        /// What is wrong with the reply.
        reason: String,
        /// Whether asking again may help (a truncated reply).
        retryable: bool,
    },
    /// A source configuration that cannot work.
    #[error("invalid source configuration: {0}")]
    Config(String),
    /// A property filter the STAC API query extension cannot express
    /// ([`StacSourceBuilder::query`](crate::StacSourceBuilder::query)).
    #[error(
        "invalid query of property `{property}`: {reason} (the query extension takes {{\"<property>\": {{\"<operator>\": <value>}}}} with operators eq, neq, lt, lte, gt, gte)"
    )]
    InvalidQuery {
        /// The property queried.
        property: String,
        /// What is wrong.
        reason: String,
    },
    /// Grid, CRS, AOI or TOI maths from `geocube-core`.
    #[error(transparent)]
    Core(#[from] geocube_core::Error),
}

/// The lower-level error behind an [`Error`]'s message, kept as its
/// [`source`](std::error::Error::source) so callers (and the Python
/// exception wrapping them) see the cause, not only its text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    /// The `tiff` decoder's error.
    #[error(transparent)]
    Decoder(#[from] tiff::TiffError),
    /// Unusable GeoTIFF georeferencing or nodata.
    #[error(transparent)]
    GeoTiff(#[from] crate::geotiff::GeoTiffError),
    /// An EPSG code geocube-core does not know (boxed, as it is large).
    #[error(transparent)]
    Crs(Box<geocube_core::Error>),
    /// A malformed GeoJSON geometry or bbox (boxed, as it is large).
    #[error(transparent)]
    GeoJson(Box<geocube_core::geojson::GeoJsonError>),
    /// Pixels that do not fit a channel's type.
    #[error(transparent)]
    Conversion(#[from] geocube_core::dataset::LossyConversion),
    /// A malformed WKB footprint.
    #[error(transparent)]
    Wkb(#[from] crate::wkb::WkbError),
    /// The Parquet reader's error.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The zip reader's error.
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<geocube_core::Error> for Cause {
    fn from(e: geocube_core::Error) -> Self {
        Cause::Crs(Box::new(e))
    }
}

impl From<geocube_core::geojson::GeoJsonError> for Cause {
    fn from(e: geocube_core::geojson::GeoJsonError) -> Self {
        Cause::GeoJson(Box::new(e))
    }
}

fn body_hint(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl Error {
    /// Whether trying the same operation again may succeed: connection
    /// failures, deadlines but the whole-request one, truncated bodies,
    /// HTTP 408, 429 and 5xx.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { status, .. } => is_retryable_status(*status),
            Error::Transport { retryable, .. } | Error::InvalidPixels { retryable, .. } => {
                *retryable
            }
            Error::EarthEngine { code, .. } => is_retryable_status(*code),
            Error::TimedOut { deadline, .. } => deadline.is_retryable(),
            _ => false,
        }
    }

    /// What went wrong without the URL, for a message that names it
    /// already ("retrying GET URL (attempt 2 of 4) after 0.1 s: …"); the
    /// full message for errors that are not about one request.
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Error::Http {
                status, message, ..
            } => format!("HTTP {status}{}", body_hint(message)),
            Error::Transport { reason, .. } | Error::InvalidResponse { reason, .. } => {
                reason.clone()
            }
            Error::TimedOut { deadline, .. } => deadline.to_string(),
            other => other.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// [`Error::Tiff`] saying `reason`; [`Error::caused_by`] adds the cause.
    pub(crate) fn tiff(url: &str, reason: impl Into<String>) -> Self {
        Error::Tiff {
            url: url.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`Error::InvalidItem`] saying `reason`; [`Error::caused_by`] adds the
    /// cause.
    pub(crate) fn item(item: &str, reason: impl Into<String>) -> Self {
        Error::InvalidItem {
            item: item.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    /// The same error with `cause` as its source, for the variants that
    /// carry one ([`Error::Tiff`], [`Error::InvalidItem`], [`Error::Index`]);
    /// any other variant is returned unchanged.
    pub(crate) fn caused_by(mut self, cause: impl Into<Cause>) -> Self {
        if let Error::Tiff { source, .. }
        | Error::InvalidItem { source, .. }
        | Error::Index { source, .. } = &mut self
        {
            *source = Some(cause.into());
        }
        self
    }

    /// [`Error::Index`] about `path` saying `reason`; [`Error::caused_by`]
    /// adds the cause.
    pub(crate) fn index(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Index {
            path: path.into(),
            reason: reason.into(),
            source: None,
        }
    }
}

/// HTTP statuses worth retrying: 408, 429 and every 5xx.
#[must_use]
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

impl From<Error> for DownloadError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        // A timed-out request was retried by the HTTP client already; the
        // backend retrying the whole download on top would multiply the
        // wait (5 downloads x 2 tries x 20 s) on a server that stays slow.
        let base = if e.is_retryable() && !matches!(e, Error::TimedOut { .. }) {
            DownloadError::retryable(message)
        } else {
            DownloadError::fatal(message)
        };
        base.with_source(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_classification() {
        let http = |status| Error::Http {
            url: "u".into(),
            status,
            message: String::new(),
        };
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(http(s).is_retryable(), "{s}");
            assert!(DownloadError::from(http(s)).retryable);
        }
        for s in [400, 401, 403, 404, 416] {
            assert!(!http(s).is_retryable(), "{s}");
            assert!(!DownloadError::from(http(s)).retryable);
        }
        let truncated = Error::Transport {
            url: "u".into(),
            reason: "body cut short".into(),
            retryable: true,
        };
        assert!(DownloadError::from(truncated).retryable);
        let stalled = Error::TimedOut {
            url: "http://h/x.tif".into(),
            deadline: crate::http::Deadline::Headers {
                limit: std::time::Duration::from_secs(20),
            },
        };
        assert!(stalled.is_retryable());
        assert_eq!(
            stalled.to_string(),
            "no response headers from http://h/x.tif within 20 s"
        );
        assert_eq!(stalled.detail(), "no response headers within 20 s");
        assert!(!DownloadError::from(stalled).retryable);
        assert!(!DownloadError::from(Error::tiff("u", "bad")).retryable);
        assert!(
            !DownloadError::from(Error::NotOnCubeGrid {
                item: "a".into(),
                reason: "b".into()
            })
            .retryable
        );
    }
}
