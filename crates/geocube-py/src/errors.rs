//! Rust errors as the Python exceptions smart-geocubes raises.
//!
//! smart-geocubes raises builtins: `FileNotFoundError` for a missing cube,
//! `FileExistsError` for an existing one, `ValueError` when no patch
//! touches the area, and (here) `RuntimeError` when downloads exhaust their
//! retries. The classes of `geocube.errors` subclass those builtins *and*
//! `geocube.errors.GeocubeError`, so code written for smart-geocubes keeps
//! catching what it caught, and new code can catch everything geocube
//! raises at once. The message is the Rust error's, with its causes; the
//! innermost cause, when the error has one (a refused connection, an I/O
//! error), is also chained as `__cause__`.

use std::error::Error as StdError;

use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;

/// Which `geocube.errors` class an error becomes (and its builtin base,
/// used if the Python module cannot be imported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No cube at the location: `CubeNotFoundError(FileNotFoundError)`.
    NotFound,
    /// A cube (or something else) already there: `CubeExistsError(FileExistsError)`.
    Exists,
    /// No source patch touches the request: `NoPatchesError(ValueError)`.
    NoPatches,
    /// A request that cannot be served as given: `InvalidRequestError(ValueError)`.
    Invalid,
    /// Downloads that failed after their retries: `DownloadError(RuntimeError)`.
    Download,
    /// The cube's storage failed: `StorageError(OSError)`.
    Storage,
    /// Cancelled: `CancelledError(RuntimeError)`.
    Cancelled,
    /// Earth Engine credentials missing or refused:
    /// `AuthenticationError(PermissionError)`.
    Auth,
    /// Anything else: `GeocubeRuntimeError(RuntimeError)`.
    Other,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::NotFound => "CubeNotFoundError",
            Kind::Exists => "CubeExistsError",
            Kind::NoPatches => "NoPatchesError",
            Kind::Invalid => "InvalidRequestError",
            Kind::Download => "DownloadError",
            Kind::Storage => "StorageError",
            Kind::Cancelled => "CancelledError",
            Kind::Auth => "AuthenticationError",
            Kind::Other => "GeocubeRuntimeError",
        }
    }

    fn builtin(self, msg: String) -> PyErr {
        match self {
            Kind::NotFound => PyFileNotFoundError::new_err(msg),
            Kind::Exists => PyFileExistsError::new_err(msg),
            Kind::NoPatches | Kind::Invalid => PyValueError::new_err(msg),
            Kind::Storage => PyOSError::new_err(msg),
            Kind::Auth => pyo3::exceptions::PyPermissionError::new_err(msg),
            Kind::Download | Kind::Cancelled | Kind::Other => PyRuntimeError::new_err(msg),
        }
    }
}

fn core_kind(e: &geocube_core::Error) -> Kind {
    use geocube_core::Error as E;
    match e {
        E::NotCreated { .. } => Kind::NotFound,
        E::AlreadyExists { .. } | E::NotEmpty { .. } => Kind::Exists,
        E::UnknownCrs { .. }
        | E::Transform { .. }
        | E::InvalidGrid(_)
        | E::GridMismatch(_)
        | E::InvalidAoi(_)
        | E::AoiOutsideExtent { .. }
        | E::NoMatchingTime { .. }
        | E::InvalidSnapshot { .. }
        | E::InvalidToi(_)
        | E::Warp(_)
        | E::UnknownVariable { .. }
        | E::InvalidSpec(_)
        | E::NotACube { .. }
        | E::NotADirectory { .. } => Kind::Invalid,
        E::Icechunk { .. }
        | E::Zarr { .. }
        | E::CorruptChunk { .. }
        | E::Io { .. }
        | E::Unreachable { .. } => Kind::Storage,
        E::InvalidStorage { .. } => Kind::Invalid,
        _ => Kind::Other,
    }
}

fn source_kind(e: &geocube_sources::Error) -> Kind {
    use geocube_sources::Error as E;
    match e {
        E::NoPatches { .. } => Kind::NoPatches,
        E::UnknownDataset { .. } | E::Config(_) => Kind::Invalid,
        E::Core(c) => core_kind(c),
        E::Auth { .. } => Kind::Auth,
        E::EarthEngine { .. }
        | E::InvalidPixels { .. }
        | E::Http { .. }
        | E::Transport { .. }
        | E::TimedOut { .. }
        | E::InvalidResponse { .. }
        | E::NeedsNetwork { .. }
        | E::IndexMissingOffline { .. } => Kind::Download,
        _ => Kind::Other,
    }
}

fn backend_kind(e: &geocube_backend::Error) -> Kind {
    use geocube_backend::Error as E;
    match e {
        E::Cancelled { .. } => Kind::Cancelled,
        E::Submit { .. } => Kind::Download,
        E::Core(c) => core_kind(c),
        _ => Kind::Other,
    }
}

/// The exception class of `e`.
pub(crate) fn kind(e: &geocube::Error) -> Kind {
    use geocube::Error as E;
    match e {
        E::NotCreated { .. } => Kind::NotFound,
        E::AoiOutsideExtent { .. }
        | E::InvalidBbox { .. }
        | E::InvalidSize { .. }
        | E::ResultTooLarge { .. } => Kind::Invalid,
        E::MissingPatches { .. } => Kind::Download,
        E::Core(c) => core_kind(c),
        E::Backend(b) => backend_kind(b),
        E::Source(s) => source_kind(s),
        _ => Kind::Other,
    }
}

/// `e` and its causes, one per line.
pub(crate) fn message(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // Transparent wrappers repeat their inner message: print it once.
        if !out.contains(&text) {
            out.push_str("\n  caused by: ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// A Python exception of class `kind` with message `msg`.
pub(crate) fn new_err(py: Python<'_>, kind: Kind, msg: String) -> PyErr {
    let class = py
        .import("geocube.errors")
        .and_then(|m| m.getattr(kind.class_name()));
    match class.and_then(|c| c.call1((msg.clone(),))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => kind.builtin(msg),
    }
}

/// The message of `e` for a Python user: the Rust message, except where it
/// names Rust or command-line remedies a Python user has other names for.
fn python_message(e: &geocube::Error) -> String {
    match e {
        geocube::Error::NotCreated { location } => format!(
            "no datacube at {location}; create it first (`create()`, or `load(..., create=True)`)"
        ),
        geocube::Error::ResultTooLarge {
            bytes,
            limit,
            width,
            height,
            steps,
        } => format!(
            "an in-memory load of {width} x {height} px{} would take {} (all variables), over the {} limit; load it lazily (`load(..., persist=False)`, dask-backed), download only (`procedural_download`), or raise the limit (`load(..., max_bytes=...)`, 0 for none)",
            if *steps > 1 {
                format!(" x {steps} time steps")
            } else {
                String::new()
            },
            geocube::budget::ByteSize(*bytes),
            geocube::budget::ByteSize(*limit)
        ),
        _ => message(e),
    }
}

/// `e` as the Python exception smart-geocubes users expect.
pub(crate) fn to_py(py: Python<'_>, e: &geocube::Error) -> PyErr {
    let err = new_err(py, kind(e), python_message(e));
    // The innermost cause, as `__cause__`: what actually failed (a refused
    // connection, a corrupt file) for tracebacks and `except ... as e: e.__cause__`.
    let mut root: Option<&dyn StdError> = None;
    let mut cause = e.source();
    while let Some(c) = cause {
        root = Some(c);
        cause = c.source();
    }
    if let Some(r) = root {
        err.set_cause(py, Some(PyRuntimeError::new_err(r.to_string())));
    }
    err
}

/// Extension: `.py_err(py)` on geocube results.
pub(crate) trait IntoPyResult<T> {
    /// The Python exception for an error.
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for geocube::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}

impl<T> IntoPyResult<T> for geocube_core::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &geocube::Error::from(e)))
    }
}
