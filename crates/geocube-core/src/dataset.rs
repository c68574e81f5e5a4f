//! Typed arrays and the [`Dataset`] a cube read returns (the xarray
//! `Dataset` analogue: variables on a GeoBox, with coordinates).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ndarray::ArrayD;

use crate::GeoBox;
use crate::spec::DType;

/// An element type a cube variable can hold, with the fill and nodata rules
/// the cube applies when it merges a patch into existing data.
pub trait CubeElement:
    zarrs::array::Element + zarrs::array::ElementOwned + Copy + PartialEq + Send + Sync + 'static
{
    /// The matching [`DType`].
    const DTYPE: DType;
    /// The Zarr fill value: NaN for floats, 0 / false otherwise.
    fn fill() -> Self;
    /// Whether `self` is the fill value (NaN counts as fill for floats).
    fn is_fill(self) -> bool;
    /// Whether `self` equals the nodata value (as f64, like GDAL's nodata).
    fn is_nodata(self, nodata: f64) -> bool;
    /// Wrap an array of this element type.
    fn wrap(array: ArrayD<Self>) -> TypedArray;
    /// Borrow the array if `typed` holds this element type.
    fn unwrap_ref(typed: &TypedArray) -> Option<&ArrayD<Self>>;
    /// The value as f64 (for statistics).
    fn to_f64(self) -> f64;
    /// `values` as their in-memory bytes, when every bit pattern is a valid
    /// value (all numeric types; not `bool`), so a decoder can write
    /// little-endian element bytes straight into a typed buffer.
    fn as_bytes_mut(values: &mut [Self]) -> Option<&mut [u8]>;
}

macro_rules! cube_element {
    (@bytes bool, $values:ident) => {{
        let _ = $values;
        None
    }};
    (@bytes $t:ty, $values:ident) => {
        Some(bytemuck::cast_slice_mut::<$t, u8>($values))
    };
    ($t:ident, $variant:ident, $dtype:ident, fill = $fill:expr, is_fill = |$v:ident| $is_fill:expr, to_f64 = |$w:ident| $to:expr) => {
        impl CubeElement for $t {
            const DTYPE: DType = DType::$dtype;
            fn fill() -> Self {
                $fill
            }
            fn is_fill(self) -> bool {
                let $v = self;
                $is_fill
            }
            #[allow(clippy::float_cmp, clippy::cast_lossless, clippy::cast_precision_loss)]
            fn is_nodata(self, nodata: f64) -> bool {
                self.to_f64() == nodata
            }
            fn wrap(array: ArrayD<Self>) -> TypedArray {
                TypedArray::$variant(array)
            }
            fn unwrap_ref(typed: &TypedArray) -> Option<&ArrayD<Self>> {
                match typed {
                    TypedArray::$variant(a) => Some(a),
                    _ => None,
                }
            }
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            fn to_f64(self) -> f64 {
                let $w = self;
                $to
            }
            fn as_bytes_mut(values: &mut [Self]) -> Option<&mut [u8]> {
                cube_element!(@bytes $t, values)
            }
        }
    };
}

cube_element!(
    f32,
    Float32,
    Float32,
    fill = f32::NAN,
    is_fill = |v| v.is_nan(),
    to_f64 = |v| f64::from(v)
);
cube_element!(
    f64,
    Float64,
    Float64,
    fill = f64::NAN,
    is_fill = |v| v.is_nan(),
    to_f64 = |v| v
);
cube_element!(
    u8,
    Uint8,
    Uint8,
    fill = 0,
    is_fill = |v| v == 0,
    to_f64 = |v| f64::from(v)
);
cube_element!(
    u16,
    Uint16,
    Uint16,
    fill = 0,
    is_fill = |v| v == 0,
    to_f64 = |v| f64::from(v)
);
cube_element!(
    i16,
    Int16,
    Int16,
    fill = 0,
    is_fill = |v| v == 0,
    to_f64 = |v| f64::from(v)
);
cube_element!(
    i32,
    Int32,
    Int32,
    fill = 0,
    is_fill = |v| v == 0,
    to_f64 = |v| f64::from(v)
);
cube_element!(
    bool,
    Bool,
    Bool,
    fill = false,
    is_fill = |v| !v,
    to_f64 = |v| if v { 1.0 } else { 0.0 }
);

/// Run `$body` with `$a` bound to the inner `ArrayD<T>` and `$t` to `T`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_typed_array {
    ($typed:expr, |$a:ident: $t:ident| $body:expr) => {
        match $typed {
            $crate::dataset::TypedArray::Float32($a) => {
                #[allow(dead_code)]
                type $t = f32;
                $body
            }
            $crate::dataset::TypedArray::Float64($a) => {
                #[allow(dead_code)]
                type $t = f64;
                $body
            }
            $crate::dataset::TypedArray::Uint8($a) => {
                #[allow(dead_code)]
                type $t = u8;
                $body
            }
            $crate::dataset::TypedArray::Uint16($a) => {
                #[allow(dead_code)]
                type $t = u16;
                $body
            }
            $crate::dataset::TypedArray::Int16($a) => {
                #[allow(dead_code)]
                type $t = i16;
                $body
            }
            $crate::dataset::TypedArray::Int32($a) => {
                #[allow(dead_code)]
                type $t = i32;
                $body
            }
            $crate::dataset::TypedArray::Bool($a) => {
                #[allow(dead_code)]
                type $t = bool;
                $body
            }
        }
    };
}

/// Run `$body` with `$t` bound to the element type of a [`DType`].
#[macro_export]
#[doc(hidden)]
macro_rules! with_dtype {
    ($dtype:expr, |$t:ident| $body:expr) => {
        match $dtype {
            $crate::spec::DType::Float32 => {
                #[allow(dead_code)]
                type $t = f32;
                $body
            }
            $crate::spec::DType::Float64 => {
                #[allow(dead_code)]
                type $t = f64;
                $body
            }
            $crate::spec::DType::Uint8 => {
                #[allow(dead_code)]
                type $t = u8;
                $body
            }
            $crate::spec::DType::Uint16 => {
                #[allow(dead_code)]
                type $t = u16;
                $body
            }
            $crate::spec::DType::Int16 => {
                #[allow(dead_code)]
                type $t = i16;
                $body
            }
            $crate::spec::DType::Int32 => {
                #[allow(dead_code)]
                type $t = i32;
                $body
            }
            $crate::spec::DType::Bool => {
                #[allow(dead_code)]
                type $t = bool;
                $body
            }
        }
    };
}

/// An n-dimensional array of one of the cube's element types.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum TypedArray {
    Float32(ArrayD<f32>),
    Float64(ArrayD<f64>),
    Uint8(ArrayD<u8>),
    Uint16(ArrayD<u16>),
    Int16(ArrayD<i16>),
    Int32(ArrayD<i32>),
    Bool(ArrayD<bool>),
}

impl TypedArray {
    /// Element type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        with_typed_array!(self, |_a: T| T::DTYPE)
    }

    /// Shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        with_typed_array!(self, |a: T| a.shape())
    }

    /// Uncompressed size in bytes.
    #[must_use]
    pub fn nbytes(&self) -> usize {
        with_typed_array!(self, |a: T| a.len() * std::mem::size_of::<T>())
    }

    /// An array of `shape` full of the fill value of `dtype`.
    #[must_use]
    pub fn filled(dtype: DType, shape: &[usize]) -> Self {
        with_dtype!(dtype, |T| T::wrap(ArrayD::from_elem(shape, T::fill())))
    }

    /// Borrow as `ArrayD<T>` if the element type is `T`.
    #[must_use]
    pub fn as_array<T: CubeElement>(&self) -> Option<&ArrayD<T>> {
        T::unwrap_ref(self)
    }

    /// The pixels as `to`, a cube channel's type: identity, any type to
    /// `bool` (non-zero is `true`; NaN is `false`), and lossless widening
    /// (to `float64` from every numeric type; to `float32`, `int32`,
    /// `int16` and `uint16` from the narrower integers that fit).
    ///
    /// # Errors
    /// [`LossyConversion`] for any other pair of types (narrowing, float to
    /// integer, `bool` to a number).
    pub fn convert(self, to: DType) -> std::result::Result<TypedArray, LossyConversion> {
        fn map<S: CubeElement, D>(a: &ArrayD<S>, f: impl Fn(S) -> D) -> ArrayD<D> {
            a.mapv(f)
        }
        let from = self.dtype();
        if from == to {
            return Ok(self);
        }
        Ok(match (to, &self) {
            (DType::Bool, _) => TypedArray::Bool(with_typed_array!(&self, |a: T| map(a, |v| {
                let f = v.to_f64();
                f != 0.0 && !f.is_nan()
            }))),
            (DType::Float64, _) if from != DType::Bool => {
                TypedArray::Float64(with_typed_array!(&self, |a: T| map(a, CubeElement::to_f64)))
            }
            (DType::Float32, TypedArray::Uint8(a)) => TypedArray::Float32(map(a, f32::from)),
            (DType::Float32, TypedArray::Uint16(a)) => TypedArray::Float32(map(a, f32::from)),
            (DType::Float32, TypedArray::Int16(a)) => TypedArray::Float32(map(a, f32::from)),
            (DType::Int32, TypedArray::Uint8(a)) => TypedArray::Int32(map(a, i32::from)),
            (DType::Int32, TypedArray::Uint16(a)) => TypedArray::Int32(map(a, i32::from)),
            (DType::Int32, TypedArray::Int16(a)) => TypedArray::Int32(map(a, i32::from)),
            (DType::Uint16, TypedArray::Uint8(a)) => TypedArray::Uint16(map(a, u16::from)),
            (DType::Int16, TypedArray::Uint8(a)) => TypedArray::Int16(map(a, i16::from)),
            _ => return Err(LossyConversion { from, to }),
        })
    }

    /// Whether every element is the fill value (any NaN for floats): a
    /// chunk of such pixels need not be stored, Zarr's `fill_value` says it.
    #[must_use]
    pub fn is_all_fill(&self) -> bool {
        with_typed_array!(self, |a: T| a.iter().all(|v| v.is_fill()))
    }

    /// Set every element to `v` as the element type (saturating for
    /// integers, `v != 0` for booleans): an array of a nodata value.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn fill_with(&mut self, v: f64) {
        match self {
            TypedArray::Float32(x) => x.fill(v as f32),
            TypedArray::Float64(x) => x.fill(v),
            TypedArray::Uint8(x) => x.fill(v as u8),
            TypedArray::Uint16(x) => x.fill(v as u16),
            TypedArray::Int16(x) => x.fill(v as i16),
            TypedArray::Int32(x) => x.fill(v as i32),
            TypedArray::Bool(x) => x.fill(v != 0.0),
        }
    }

    /// Replace `nodata` with NaN in a float array (other types have no NaN
    /// and are left as they are).
    #[allow(clippy::float_cmp, clippy::cast_possible_truncation)]
    pub fn mask_nodata(&mut self, nodata: f64) {
        match self {
            TypedArray::Float32(a) => {
                a.mapv_inplace(|v| if f64::from(v) == nodata { f32::NAN } else { v });
            }
            TypedArray::Float64(a) => a.mapv_inplace(|v| if v == nodata { f64::NAN } else { v }),
            _ => {}
        }
    }

    /// Statistics of the valid pixels: neither fill (NaN / 0) for floats nor
    /// equal to `nodata`. Integer zero counts as valid (it is a value there).
    #[must_use]
    pub fn stats(&self, nodata: Option<f64>) -> Stats {
        with_typed_array!(self, |a: T| {
            let mut s = Stats::default();
            for &v in a {
                let f = v.to_f64();
                if f.is_nan() || nodata.is_some_and(|n| v.is_nodata(n)) {
                    continue;
                }
                s.push(f);
            }
            s
        })
    }
}

/// Why [`TypedArray::convert`] refused: the pixels of `from` do not fit
/// `to` without losing information.
///
/// Its own type rather than a variant of [`crate::Error`]: callers attach
/// it to their own context (the item and asset whose pixels did not fit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot convert {} pixels to {} without losing information",
    .from.zarr_name(),
    .to.zarr_name()
)]
pub struct LossyConversion {
    /// The pixels' type.
    pub from: DType,
    /// The type asked for.
    pub to: DType,
}

/// Mean, min, max and count of valid pixels.
#[derive(Clone, Copy, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Number of valid pixels.
    pub count: u64,
    /// Sum of valid pixel values (for merging statistics).
    pub sum: f64,
    /// Minimum (NaN when empty).
    pub min: f64,
    /// Maximum (NaN when empty).
    pub max: f64,
}

impl Stats {
    fn push(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
    }

    /// The statistics of `count` pixels holding the fill value of `dtype`
    /// (a chunk the cube never wrote), counted as [`TypedArray::stats`]
    /// counts them: none valid for floats (NaN) or when the fill equals
    /// `nodata`, otherwise `count` zeros.
    #[must_use]
    pub fn of_fill(dtype: DType, count: u64, nodata: Option<f64>) -> Stats {
        with_dtype!(dtype, |T| {
            let fill = T::fill();
            let f = fill.to_f64();
            if count == 0 || f.is_nan() || nodata.is_some_and(|n| fill.is_nodata(n)) {
                Stats::default()
            } else {
                #[allow(clippy::cast_precision_loss)]
                let sum = f * count as f64;
                Stats {
                    count,
                    sum,
                    min: f,
                    max: f,
                }
            }
        })
    }

    /// Add the pixels `other` counted: the statistics of two regions from
    /// those of each, so a region can be summed tile by tile. Count, min
    /// and max are exact; the sum (and mean) may differ from one pass over
    /// the whole region in the last bits, floating-point addition not being
    /// associative.
    pub fn merge(&mut self, other: &Stats) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Mean of the valid pixels (NaN when there are none).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }
}

/// One variable of a [`Dataset`].
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    /// Pixels: `(y, x)` or `(time, y, x)`.
    pub data: TypedArray,
    /// Zarr attributes of the variable.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A region read from a cube: variables on a GeoBox, with coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The grid of the region (cube CRS and resolution).
    pub geobox: GeoBox,
    /// Time coordinate of a temporal cube's selection.
    pub time: Option<Vec<DateTime<Utc>>>,
    /// Variables by name.
    pub variables: BTreeMap<String, Variable>,
}

impl Dataset {
    /// Pixel-centre x coordinates (ascending).
    #[must_use]
    pub fn xs(&self) -> Vec<f64> {
        self.geobox.xs()
    }

    /// Pixel-centre y coordinates (descending).
    #[must_use]
    pub fn ys(&self) -> Vec<f64> {
        self.geobox.ys()
    }

    /// The variable `name`.
    #[must_use]
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.get(name)
    }

    /// Uncompressed size of all variables in bytes.
    #[must_use]
    pub fn nbytes(&self) -> usize {
        self.variables.values().map(|v| v.data.nbytes()).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ndarray::IxDyn;

    use super::*;

    #[test]
    fn conversions() {
        let a = TypedArray::Uint8(ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0, 1, 255]).unwrap());
        let b = a.clone().convert(DType::Bool).unwrap();
        assert_eq!(
            b,
            TypedArray::Bool(
                ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![false, true, true]).unwrap()
            )
        );
        assert_eq!(a.clone().convert(DType::Uint8).unwrap(), a);
        assert!(matches!(
            a.clone().convert(DType::Float32).unwrap(),
            TypedArray::Float32(_)
        ));
        let f =
            TypedArray::Float32(ArrayD::from_shape_vec(IxDyn(&[2]), vec![f32::NAN, 0.5]).unwrap());
        assert_eq!(
            f.clone().convert(DType::Bool).unwrap(),
            TypedArray::Bool(ArrayD::from_shape_vec(IxDyn(&[2]), vec![false, true]).unwrap())
        );
        assert!(f.convert(DType::Uint8).is_err());
    }
}
