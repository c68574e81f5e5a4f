//! Rust arrays to numpy arrays, without copying the pixels.

use geocube_core::TypedArray;
use numpy::IntoPyArray;
use pyo3::prelude::*;

/// `array` as a numpy array that owns the Rust buffer (no copy).
pub(crate) fn to_numpy(py: Python<'_>, array: TypedArray) -> Bound<'_, PyAny> {
    match array {
        TypedArray::Float32(a) => a.into_pyarray(py).into_any(),
        TypedArray::Float64(a) => a.into_pyarray(py).into_any(),
        TypedArray::Uint8(a) => a.into_pyarray(py).into_any(),
        TypedArray::Uint16(a) => a.into_pyarray(py).into_any(),
        TypedArray::Int16(a) => a.into_pyarray(py).into_any(),
        TypedArray::Int32(a) => a.into_pyarray(py).into_any(),
        TypedArray::Bool(a) => a.into_pyarray(py).into_any(),
    }
}
