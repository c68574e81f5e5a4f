//! The text of the GDAL_NODATA tag.

/// The GDAL_NODATA text of a nodata value, byte for byte as GDAL's GTiff
/// driver writes it: `"nan"` for NaN, else C's `%.18g` (`-9999`, `0`,
/// `inf`, `0.100000000000000006`, `1e+20`).
#[must_use]
pub fn format_gdal_nodata(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // %g with precision 18: the exponent X of the value rounded to 18
    // significant digits picks scientific (X < -4 or X >= 18) or fixed
    // notation with 17 - X decimals; trailing zeros are removed.
    let sci = format!("{value:.17e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return value.to_string();
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return value.to_string();
    };
    if !(-4..18).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            trim_fraction(mantissa),
            exp.unsigned_abs()
        )
    } else {
        let decimals = usize::try_from(17 - exp).unwrap_or(0);
        trim_fraction(&format!("{value:.decimals$}")).to_owned()
    }
}

/// Removes trailing zeros of a fraction, and the point if nothing is left.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_c_printf_g18() {
        // Expected values from printf("%.18g") in C.
        for (v, text) in [
            (-9999.0, "-9999"),
            (0.0, "0"),
            (-0.0, "-0"),
            (255.0, "255"),
            (0.1, "0.100000000000000006"),
            (-3.4028234663852886e38, "-3.4028234663852886e+38"),
            (1e20, "1e+20"),
            (1e18, "1e+18"),
            (1e17, "100000000000000000"),
            (123_456_789_012_345_678.0, "123456789012345680"),
            (1.5e-5, "1.50000000000000004e-05"),
            (0.0001, "0.000100000000000000005"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(format_gdal_nodata(v), text, "{v}");
        }
    }
}
