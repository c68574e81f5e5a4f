//! `_geocube.SnapshotStore`: the cube's Zarr keys and bytes at one
//! snapshot, for the zarr-python store of `geocube._store`.

use geocube_core::{RawRange, SnapshotStore};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::IntoPyResult;

/// A read-only view of a cube at one snapshot.
#[pyclass(name = "SnapshotStore", module = "geocube._geocube", frozen)]
pub(crate) struct PySnapshotStore {
    inner: SnapshotStore,
}

impl PySnapshotStore {
    pub(crate) fn new(inner: SnapshotStore) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PySnapshotStore {
    /// The snapshot every read sees.
    #[getter]
    fn snapshot_id(&self) -> String {
        self.inner.snapshot_id().to_owned()
    }

    /// The bytes of `key` (`offset`/`length`, or the last `suffix` bytes);
    /// `None` when there is no such object.
    #[pyo3(signature = (key, offset=None, length=None, suffix=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        offset: Option<u64>,
        length: Option<u64>,
        suffix: Option<u64>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let range = match (offset, length, suffix) {
            (_, _, Some(n)) => RawRange::Suffix(n),
            (None, None, None) => RawRange::All,
            (o, l, None) => RawRange::From {
                offset: o.unwrap_or(0),
                length: l,
            },
        };
        let bytes = py.detach(|| self.inner.get(key, range)).py(py)?;
        Ok(bytes.map(|b| PyBytes::new(py, &b)))
    }

    /// Every key under `prefix`.
    fn list_prefix(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_prefix(prefix)).py(py)
    }

    /// Names directly under `prefix`.
    fn list_dir(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_dir(prefix)).py(py)
    }
}

/// The store of the cube at the local path `path`, at `snapshot` (the
/// branch tip when `None`): what a pickled lazy dataset reopens on a Dask
/// or Ray worker, without a source or a backend.
#[pyfunction]
#[pyo3(signature = (path, snapshot=None, s3=None))]
pub(crate) fn open_snapshot_store(
    py: Python<'_>,
    path: String,
    snapshot: Option<String>,
    s3: Option<std::collections::HashMap<String, String>>,
) -> PyResult<PySnapshotStore> {
    let s3 = s3.unwrap_or_default();
    let store = py
        .detach(|| -> geocube::Result<_> {
            let cube = geocube_core::Cube::open(crate::options::storage(&path, &s3)?)?;
            Ok(cube.snapshot_store(snapshot.as_deref())?)
        })
        .py(py)?;
    Ok(PySnapshotStore::new(store))
}
