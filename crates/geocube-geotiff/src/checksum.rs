//! GDAL's band checksum, to compare a written file with `gdalinfo -checksum`.

use crate::sample::Sample;

/// GDAL's `GDALChecksumImage` of a band given row-major: each value read
/// as an integer (floats: plus 0.5, floored, clamped, NaN and infinities
/// as `i32::MIN`), modulo a cycle of 11 primes, summed modulo 2^16.
#[must_use]
pub fn gdal_checksum<T: Sample>(values: &[T]) -> u32 {
    const PRIMES: [i32; 11] = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43];
    let mut sum: i32 = 0;
    for (i, v) in values.iter().enumerate() {
        sum = sum.wrapping_add(v.checksum_value() % PRIMES[i % 11]) & 0xffff;
    }
    u32::try_from(sum).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_follows_gdal_rules() {
        // 1 % 7 + 2 % 11 + 3 % 13.
        assert_eq!(gdal_checksum(&[1u8, 2, 3]), 6);
        // floor(1.4 + 0.5) = 1, floor(1.6 + 0.5) = 2.
        assert_eq!(gdal_checksum(&[1.4f32, 1.6]), 3);
        // -9999 % 7 = -3 (truncated remainder), masked to 16 bits.
        assert_eq!(gdal_checksum(&[-9999i16]), 0xffff - 2);
        // NaN is i32::MIN, whose remainder by 7 is -2.
        assert_eq!(gdal_checksum(&[f64::NAN]), 0xffff - 1);
        assert_eq!(gdal_checksum(&[true, false]), 1);
    }
}
