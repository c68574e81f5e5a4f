//! `geocube._geocube`: the compiled core of the `geocube` Python package.
//!
//! The Python package (`python/geocube`) gives smart-geocubes' classes and
//! call shapes; this module is what they call. It stays thin: an
//! [`accessor::PyAccessor`] around [`geocube::Accessor`], a read-only
//! [`store::PySnapshotStore`] that zarr-python reads the cube through, the
//! error mapping, and the base map's lines. Every call that does I/O or
//! decoding releases the GIL, so Python threads load at once; arrays reach
//! numpy without a copy (the numpy array owns the Rust buffer).

mod accessor;
mod arrays;
mod errors;
mod options;
mod store;

use pyo3::prelude::*;

/// The module `geocube._geocube`.
#[pymodule]
fn _geocube(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<accessor::PyAccessor>()?;
    m.add_class::<store::PySnapshotStore>()?;
    m.add_function(wrap_pyfunction!(accessor::presets, m)?)?;
    m.add_function(wrap_pyfunction!(accessor::crs_cf_attributes, m)?)?;
    m.add_function(wrap_pyfunction!(store::open_snapshot_store, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
