//! The pixel types the writer stores and how each is predicted.

use tiff::tags::{Predictor, SampleFormat};

/// The TIFF sample type of a band, named as GDAL names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleType {
    /// `bool`, written as `Byte` with values 0 and 1.
    Bool,
    /// `u8`, GDAL `Byte`.
    U8,
    /// `u16`, GDAL `UInt16`.
    U16,
    /// `i16`, GDAL `Int16`.
    I16,
    /// `i32`, GDAL `Int32`.
    I32,
    /// `f32`, GDAL `Float32`.
    F32,
    /// `f64`, GDAL `Float64`.
    F64,
}

impl SampleType {
    /// BitsPerSample of the stored band.
    #[must_use]
    pub const fn bits_per_sample(self) -> u16 {
        match self {
            Self::Bool | Self::U8 => 8,
            Self::U16 | Self::I16 => 16,
            Self::I32 | Self::F32 => 32,
            Self::F64 => 64,
        }
    }

    /// SampleFormat of the stored band (`tiff::tags::SampleFormat`).
    #[must_use]
    pub const fn sample_format(self) -> u16 {
        match self {
            Self::Bool | Self::U8 | Self::U16 => SampleFormat::Uint.to_u16(),
            Self::I16 | Self::I32 => SampleFormat::Int.to_u16(),
            Self::F32 | Self::F64 => SampleFormat::IEEEFP.to_u16(),
        }
    }

    /// The predictor written: floating point for floats, horizontal
    /// differencing for integers.
    #[must_use]
    pub const fn predictor(self) -> u16 {
        if self.is_float() {
            Predictor::FloatingPoint.to_u16()
        } else {
            Predictor::Horizontal.to_u16()
        }
    }

    /// Whether the samples are IEEE floats.
    #[must_use]
    pub const fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    /// GDAL's name of the stored data type (`gdalinfo`'s band `type`).
    #[must_use]
    pub const fn gdal_name(self) -> &'static str {
        match self {
            Self::Bool | Self::U8 => "Byte",
            Self::U16 => "UInt16",
            Self::I16 => "Int16",
            Self::I32 => "Int32",
            Self::F32 => "Float32",
            Self::F64 => "Float64",
        }
    }
}

/// A pixel type the writer can store: `bool`, `u8`, `u16`, `i16`, `i32`,
/// `f32` or `f64`. Sealed: the encoding of each type is fixed here.
pub trait Sample: Copy + PartialOrd + Send + Sync + 'static + private::Encode {
    /// The stored sample type.
    const TYPE: SampleType;
}

// The sealed half of `Sample`: public in a private module so that the
// methods are usable here but neither callable nor implementable outside.
#[allow(unreachable_pub)]
pub(crate) mod private {
    pub trait Encode: Sized {
        /// Appends one predicted row, little-endian, to `out`.
        fn predict_row(row: &[Self], out: &mut Vec<u8>);
        /// The value as f64 (exact for every type here).
        fn to_f64(self) -> f64;
        /// The sample equal to `v`, if there is one (NaN for NaN).
        fn from_f64_exact(v: f64) -> Option<Self>;
        /// An overview mean back in the sample type: floats are cast,
        /// integers rounded half away from zero.
        fn from_mean(v: f64) -> Self;
        /// Whether the value is NaN (never for integers).
        fn is_nan(&self) -> bool;
        /// The value 0.
        fn zero() -> Self;
        /// The value GDAL's checksum reads the sample as (`GDALChecksumImage`).
        fn checksum_value(self) -> i32;
    }
}

/// libtiff's `horDiff` for one row: each sample minus its left neighbour,
/// wrapping, little-endian.
macro_rules! integer_sample {
    ($t:ty, $variant:ident) => {
        impl Sample for $t {
            const TYPE: SampleType = SampleType::$variant;
        }

        impl private::Encode for $t {
            fn predict_row(row: &[$t], out: &mut Vec<u8>) {
                let mut prev: $t = 0;
                for &v in row {
                    out.extend_from_slice(&v.wrapping_sub(prev).to_le_bytes());
                    prev = v;
                }
            }

            fn to_f64(self) -> f64 {
                f64::from(self)
            }

            fn from_f64_exact(v: f64) -> Option<$t> {
                let in_range = v >= f64::from(<$t>::MIN) && v <= f64::from(<$t>::MAX);
                // In range and integral, so the cast is exact.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                (in_range && v.fract() == 0.0).then(|| v as $t)
            }

            fn from_mean(v: f64) -> $t {
                // `as` saturates; a mean of samples is in range anyway.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let s = v.round() as $t;
                s
            }

            fn is_nan(&self) -> bool {
                false
            }

            fn zero() -> $t {
                0
            }

            fn checksum_value(self) -> i32 {
                i32::from(self)
            }
        }
    };
}

integer_sample!(u8, U8);
integer_sample!(u16, U16);
integer_sample!(i16, I16);
integer_sample!(i32, I32);

impl Sample for bool {
    const TYPE: SampleType = SampleType::Bool;
}

impl private::Encode for bool {
    fn predict_row(row: &[bool], out: &mut Vec<u8>) {
        let mut prev = 0u8;
        for &v in row {
            let v = u8::from(v);
            out.push(v.wrapping_sub(prev));
            prev = v;
        }
    }

    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }

    fn from_f64_exact(v: f64) -> Option<bool> {
        match v {
            0.0 => Some(false),
            1.0 => Some(true),
            _ => None,
        }
    }

    fn from_mean(v: f64) -> bool {
        v >= 0.5
    }

    fn is_nan(&self) -> bool {
        false
    }

    fn zero() -> bool {
        false
    }

    fn checksum_value(self) -> i32 {
        i32::from(self)
    }
}

/// libtiff's `fpDiff` for one row: split the row into byte planes, most
/// significant first, then difference the bytes of the whole row.
fn float_predict_row<const N: usize>(
    row: impl ExactSizeIterator<Item = [u8; N]>,
    out: &mut Vec<u8>,
) {
    let w = row.len();
    let start = out.len();
    out.resize(start + N * w, 0);
    let planes = &mut out[start..];
    for (i, be) in row.enumerate() {
        for (b, byte) in be.into_iter().enumerate() {
            planes[b * w + i] = byte;
        }
    }
    for j in (1..planes.len()).rev() {
        planes[j] = planes[j].wrapping_sub(planes[j - 1]);
    }
}

/// GDAL's checksum conversion of a float: NaN and infinities become
/// `i32::MIN`, others `floor(v + 0.5)` clamped to ±(2^31 - 1).
fn float_checksum_value(v: f64) -> i32 {
    if v.is_nan() || v.is_infinite() {
        i32::MIN
    } else {
        #[allow(clippy::cast_possible_truncation)]
        let n = (v + 0.5).floor().clamp(-2_147_483_647.0, 2_147_483_647.0) as i32;
        n
    }
}

impl Sample for f32 {
    const TYPE: SampleType = SampleType::F32;
}

impl private::Encode for f32 {
    fn predict_row(row: &[f32], out: &mut Vec<u8>) {
        float_predict_row(row.iter().map(|v| v.to_be_bytes()), out);
    }

    fn to_f64(self) -> f64 {
        f64::from(self)
    }

    fn from_f64_exact(v: f64) -> Option<f32> {
        #[allow(clippy::cast_possible_truncation)]
        let f = v as f32;
        (v.is_nan() || f64::from(f) == v).then_some(f)
    }

    fn from_mean(v: f64) -> f32 {
        #[allow(clippy::cast_possible_truncation)]
        let f = v as f32;
        f
    }

    fn is_nan(&self) -> bool {
        f32::is_nan(*self)
    }

    fn zero() -> f32 {
        0.0
    }

    fn checksum_value(self) -> i32 {
        float_checksum_value(f64::from(self))
    }
}

impl Sample for f64 {
    const TYPE: SampleType = SampleType::F64;
}

impl private::Encode for f64 {
    fn predict_row(row: &[f64], out: &mut Vec<u8>) {
        float_predict_row(row.iter().map(|v| v.to_be_bytes()), out);
    }

    fn to_f64(self) -> f64 {
        self
    }

    fn from_f64_exact(v: f64) -> Option<f64> {
        Some(v)
    }

    fn from_mean(v: f64) -> f64 {
        v
    }

    fn is_nan(&self) -> bool {
        f64::is_nan(*self)
    }

    fn zero() -> f64 {
        0.0
    }

    fn checksum_value(self) -> i32 {
        float_checksum_value(self)
    }
}

#[cfg(test)]
mod tests {
    use super::private::Encode;

    #[test]
    fn float_predictor_matches_libtiff_layout() {
        let mut out = Vec::new();
        f32::predict_row(&[1.0, 2.0], &mut out);
        // Big-endian planes of 1.0 = 3F800000 and 2.0 = 40000000:
        // [3F 40 | 80 00 | 00 00 | 00 00], then byte differences.
        let planes = [0x3Fu8, 0x40, 0x80, 0x00, 0, 0, 0, 0];
        let mut expect = planes;
        for j in (1..expect.len()).rev() {
            expect[j] = planes[j].wrapping_sub(planes[j - 1]);
        }
        assert_eq!(out, expect);
    }

    #[test]
    fn integer_predictor_wraps_and_is_little_endian() {
        let mut out = Vec::new();
        i16::predict_row(&[1, -1, 300], &mut out);
        // 1 - 0 = 1, -1 - 1 = -2 (0xFFFE), 300 - -1 = 301 (0x012D).
        assert_eq!(out, [0x01, 0x00, 0xFE, 0xFF, 0x2D, 0x01]);
        let mut out = Vec::new();
        bool::predict_row(&[true, true, false], &mut out);
        assert_eq!(out, [1, 0, 255]);
    }

    #[test]
    fn exact_conversions_reject_what_the_type_cannot_hold() {
        assert_eq!(u8::from_f64_exact(255.0), Some(255));
        assert_eq!(u8::from_f64_exact(256.0), None);
        assert_eq!(u8::from_f64_exact(-1.0), None);
        assert_eq!(i16::from_f64_exact(-9999.0), Some(-9999));
        assert_eq!(i32::from_f64_exact(0.5), None);
        assert_eq!(u16::from_f64_exact(f64::NAN), None);
        assert_eq!(f32::from_f64_exact(-9999.0), Some(-9999.0));
        assert_eq!(f32::from_f64_exact(0.1), None);
        assert!(f32::from_f64_exact(f64::NAN).is_some_and(f32::is_nan));
        assert_eq!(bool::from_f64_exact(1.0), Some(true));
        assert_eq!(bool::from_f64_exact(2.0), None);
    }
}
