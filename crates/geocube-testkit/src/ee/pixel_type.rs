//! Band pixel types, their NPY and TIFF encodings, and the promotion rule
//! of `Image.unmask`.
//!
//! Earth Engine types bands by value ranges and picks the output type when
//! it encodes; the emulator keeps one concrete type per band instead, and
//! promotes along [`PROMOTION_ORDER`] when a band must hold more values.

/// The type of a band's pixels, as written into NPY and GeoTIFF replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelType {
    /// Unsigned 8-bit integer (NPY `|u1`).
    U8,
    /// Signed 8-bit integer (NPY `|i1`).
    I8,
    /// Unsigned 16-bit integer (NPY `<u2`).
    U16,
    /// Signed 16-bit integer (NPY `<i2`).
    I16,
    /// Signed 32-bit integer (NPY `<i4`).
    I32,
    /// Unsigned 32-bit integer (NPY `<u4`).
    U32,
    /// 32-bit float (NPY `<f4`).
    F32,
    /// 64-bit float (NPY `<f8`).
    F64,
}

/// The order promotion walks: the first type here that holds every value
/// a band needs is the band's type. Signed before unsigned at 32 bits, as
/// Earth Engine's integer bands are int32 unless stated otherwise.
pub(crate) const PROMOTION_ORDER: [PixelType; 8] = [
    PixelType::U8,
    PixelType::I8,
    PixelType::U16,
    PixelType::I16,
    PixelType::I32,
    PixelType::U32,
    PixelType::F32,
    PixelType::F64,
];

impl PixelType {
    /// Bytes per pixel, the unit of the request-size limit.
    #[must_use]
    pub fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// The NPY type string of a field of this type (little-endian, `|` for
    /// single bytes, as numpy writes it).
    #[must_use]
    pub fn npy_descr(self) -> &'static str {
        match self {
            Self::U8 => "|u1",
            Self::I8 => "|i1",
            Self::U16 => "<u2",
            Self::I16 => "<i2",
            Self::I32 => "<i4",
            Self::U32 => "<u4",
            Self::F32 => "<f4",
            Self::F64 => "<f8",
        }
    }

    /// Whether this is a floating-point type.
    #[must_use]
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    /// TIFF SampleFormat: 1 unsigned, 2 signed, 3 IEEE float.
    pub(crate) fn tiff_sample_format(self) -> u16 {
        match self {
            Self::U8 | Self::U16 | Self::U32 => 1,
            Self::I8 | Self::I16 | Self::I32 => 2,
            Self::F32 | Self::F64 => 3,
        }
    }

    /// The integer range of an integer type.
    fn int_range(self) -> Option<(f64, f64)> {
        match self {
            Self::U8 => Some((0.0, f64::from(u8::MAX))),
            Self::I8 => Some((f64::from(i8::MIN), f64::from(i8::MAX))),
            Self::U16 => Some((0.0, f64::from(u16::MAX))),
            Self::I16 => Some((f64::from(i16::MIN), f64::from(i16::MAX))),
            Self::I32 => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
            Self::U32 => Some((0.0, f64::from(u32::MAX))),
            Self::F32 | Self::F64 => None,
        }
    }

    /// Whether `v` is exactly a value of this type.
    pub(crate) fn holds_value(self, v: f64) -> bool {
        match self {
            Self::F64 => true,
            #[allow(clippy::cast_possible_truncation)]
            Self::F32 => v.is_nan() || f64::from(v as f32) == v,
            _ => self
                .int_range()
                .is_some_and(|(lo, hi)| v.fract() == 0.0 && v >= lo && v <= hi),
        }
    }

    /// Whether every value of `other` is exactly a value of this type.
    pub(crate) fn holds_type(self, other: PixelType) -> bool {
        match (self.int_range(), other.int_range()) {
            (Some((lo, hi)), Some((olo, ohi))) => lo <= olo && ohi <= hi,
            (Some(_), None) => false,
            // f32 has 24 bits of mantissa: exact for the 8- and 16-bit types.
            (None, Some(_)) => self == Self::F64 || other.bytes() <= 2,
            (None, None) => self == Self::F64 || other == Self::F32,
        }
    }

    /// The type of `Image.constant(v)`: the narrowest integer type holding
    /// an integral `v`, else f64 (Earth Engine's constants are doubles).
    pub(crate) fn of_constant(v: f64) -> PixelType {
        PROMOTION_ORDER
            .into_iter()
            .filter(|t| !t.is_float())
            .find(|t| t.holds_value(v))
            .unwrap_or(Self::F64)
    }

    /// The type of a band of this type after `unmask` filled its masked
    /// pixels with the constant `v`:
    /// - an integer band keeps its type if `v` is one of its values, else
    ///   takes the first type of [`PROMOTION_ORDER`] that holds both all of
    ///   its values and `v` exactly (u8 with -9999 → i16, u8 with 0.5 → f32,
    ///   u8 with 2³¹-1 → i32, i32 with 0.5 → f64);
    /// - a float band keeps its type whenever `v` is in its finite range
    ///   (NaN included), `v` then rounding to the nearest f32: Xee's
    ///   `unmask(2147483647)` of float32 images reads back 2147483648.0 as
    ///   float32, so Earth Engine does not promote there; only a value past
    ///   f32's range promotes f32 to f64.
    pub(crate) fn unmasked_with(self, v: f64) -> PixelType {
        match self {
            Self::F64 => Self::F64,
            Self::F32 if v.is_nan() || v.abs() <= f64::from(f32::MAX) => Self::F32,
            Self::F32 => Self::F64,
            _ => PROMOTION_ORDER
                .into_iter()
                .find(|t| t.holds_type(self) && t.holds_value(v))
                .unwrap_or(Self::F64),
        }
    }

    /// The type holding every value of both types (`unmask` with a value
    /// image that is not a constant).
    pub(crate) fn union(self, other: PixelType) -> PixelType {
        PROMOTION_ORDER
            .into_iter()
            .find(|t| t.holds_type(self) && t.holds_type(other))
            .unwrap_or(Self::F64)
    }

    /// Writes `v` as this type, little-endian, into `out` (exactly
    /// [`Self::bytes`] long). Integer values are integral and in range by
    /// construction (the type was chosen to hold them); anything else
    /// saturates rather than wraps.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub(crate) fn write_le(self, v: f64, out: &mut [u8]) {
        match self {
            Self::U8 => out[0] = v as u8,
            Self::I8 => out[0] = (v as i8).to_le_bytes()[0],
            Self::U16 => out.copy_from_slice(&(v as u16).to_le_bytes()),
            Self::I16 => out.copy_from_slice(&(v as i16).to_le_bytes()),
            Self::I32 => out.copy_from_slice(&(v as i32).to_le_bytes()),
            Self::U32 => out.copy_from_slice(&(v as u32).to_le_bytes()),
            Self::F32 => out.copy_from_slice(&(v as f32).to_le_bytes()),
            Self::F64 => out.copy_from_slice(&v.to_le_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PixelType::{self, *};

    #[test]
    fn unmask_keeps_a_type_that_fits_and_promotes_minimally() {
        assert_eq!(U8.unmasked_with(0.0), U8);
        assert_eq!(U8.unmasked_with(255.0), U8);
        assert_eq!(U8.unmasked_with(-1.0), I16);
        assert_eq!(U8.unmasked_with(-9999.0), I16);
        assert_eq!(U8.unmasked_with(300.0), U16);
        assert_eq!(U8.unmasked_with(0.5), F32);
        assert_eq!(U8.unmasked_with(2_147_483_647.0), I32);
        assert_eq!(U8.unmasked_with(4_294_967_295.0), U32);
        assert_eq!(I32.unmasked_with(0.5), F64);
        assert_eq!(U16.unmasked_with(-1.0), I32);
        assert_eq!(F32.unmasked_with(2_147_483_647.0), F32);
        assert_eq!(F32.unmasked_with(f64::NAN), F32);
        assert_eq!(F32.unmasked_with(1e300), F64);
        assert_eq!(F64.unmasked_with(1e300), F64);
    }

    #[test]
    fn constants_and_unions() {
        assert_eq!(PixelType::of_constant(5.0), U8);
        assert_eq!(PixelType::of_constant(-9999.0), I16);
        assert_eq!(PixelType::of_constant(0.5), F64);
        assert_eq!(PixelType::of_constant(1e12), F64);
        assert_eq!(U8.union(I8), I16);
        assert_eq!(U8.union(F32), F32);
        assert_eq!(I32.union(F32), F64);
        assert_eq!(U16.union(U8), U16);
    }
}
