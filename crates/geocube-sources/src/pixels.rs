//! Copying windows of pixels between typed 2-D arrays: what the Earth
//! Engine source does with its request strips and the STAC loader with its
//! warped chunks.

use geocube_core::{CubeElement, TypedArray, Window};
use ndarray::ArrayD;

use crate::error::{Error, Result};

/// Copy `src` (a window's pixels) into `dst` at `win` (both 2-D, C order,
/// of one type).
pub(crate) fn paste(dst: &mut TypedArray, src: &TypedArray, win: Window) -> Result<()> {
    fn go<T: Copy>(d: &mut ArrayD<T>, s: &ArrayD<T>, win: Window) -> Result<()> {
        let width = d.shape().get(1).copied().unwrap_or(0);
        match (d.as_slice_mut(), s.as_slice()) {
            (Some(d), Some(s)) => copy_window(d, width, s, win),
            _ => Err(Error::Config("internal: non-contiguous arrays".into())),
        }
    }
    match (dst, src) {
        (TypedArray::Float32(d), TypedArray::Float32(s)) => go(d, s, win),
        (TypedArray::Float64(d), TypedArray::Float64(s)) => go(d, s, win),
        (TypedArray::Uint8(d), TypedArray::Uint8(s)) => go(d, s, win),
        (TypedArray::Uint16(d), TypedArray::Uint16(s)) => go(d, s, win),
        (TypedArray::Int16(d), TypedArray::Int16(s)) => go(d, s, win),
        (TypedArray::Int32(d), TypedArray::Int32(s)) => go(d, s, win),
        (TypedArray::Bool(d), TypedArray::Bool(s)) => go(d, s, win),
        _ => Err(Error::Config("internal: band types differ".into())),
    }
}

/// Copy `src`, a `win.height × win.width` block in C order, into `dst`, an
/// array `width` wide, at `win`.
fn copy_window<T: Copy>(dst: &mut [T], width: usize, src: &[T], win: Window) -> Result<()> {
    if src.len() != win.width * win.height
        || win.col + win.width > width
        || (win.row + win.height) * width > dst.len()
    {
        return Err(Error::Config(
            "internal: a reply does not fit its window".into(),
        ));
    }
    for (r, row) in src.chunks_exact(win.width.max(1)).enumerate() {
        let at = (win.row + r) * width + win.col;
        dst[at..at + win.width].copy_from_slice(row);
    }
    Ok(())
}

/// Window `w` of the 2-D array `a`.
pub(crate) fn crop(a: &TypedArray, w: Window) -> TypedArray {
    fn go<T: CubeElement>(a: &ArrayD<T>, w: Window) -> TypedArray {
        T::wrap(ArrayD::from_shape_fn(
            ndarray::IxDyn(&[w.height, w.width]),
            |i| a[[i[0] + w.row, i[1] + w.col].as_slice()],
        ))
    }
    geocube_core::with_typed_array!(a, |x: T| go::<T>(x, w))
}
