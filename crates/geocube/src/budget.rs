//! The memory budget of an in-memory load, and byte sizes as people write
//! and read them (`2GiB`, `160.7 GiB`).
//!
//! [`Accessor::load`](crate::Accessor::load) returns the whole region as one
//! [`Dataset`](crate::Dataset). Past [`LoadOptions::max_bytes`](crate::LoadOptions::max_bytes)
//! it refuses with [`Error::ResultTooLarge`] before it asks the source
//! anything: the ArcticDEM 32 m grid north of 60° is 172 GB, and
//! downloading every tile of it only to die allocating the result helps no
//! one. The streaming ways ([`Accessor::load_lazy`](crate::Accessor::load_lazy),
//! `geocube load --out`, `--stats`) have no such limit: their memory does
//! not grow with the region.

use std::fmt;

use crate::{Error, Result};

/// The default [`LoadOptions::max_bytes`](crate::LoadOptions::max_bytes): 4 GiB.
///
/// A fixed size rather than a fraction of the machine's memory, so that a
/// script that loads on a workstation loads the same way in CI: a budget
/// that moved with the machine would make a call succeed in one place and
/// fail in the other. 4 GiB is what a laptop can still hold next to the
/// rest of a program, and far more than one view needs: ArcticDEM 32 m
/// takes 5 bytes a pixel (dem f32 + datamask), so 4 GiB is 860 Mpx, about
/// 940 km × 940 km at 32 m or 290 km × 290 km at 10 m. Larger regions are
/// worked through tile by tile.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// A number of bytes that prints for people: `512 B`, `4 GiB`, `160.7 GiB`,
/// and `u64::MAX` (an overflowing size) as `more than 16 EiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n == u64::MAX {
            return f.write_str("more than 16 EiB");
        }
        let mut unit = 0;
        let mut scaled = n;
        while scaled >= 1024 && unit + 1 < UNITS.len() {
            scaled /= 1024;
            unit += 1;
        }
        if unit == 0 {
            return write!(f, "{n} B");
        }
        #[allow(clippy::cast_precision_loss)]
        let v = n as f64 / (1u64 << (10 * unit)) as f64;
        if v.fract() == 0.0 {
            write!(f, "{v:.0} {}", UNITS[unit])
        } else {
            write!(f, "{v:.1} {}", UNITS[unit])
        }
    }
}

/// Parse a byte size: a number (decimals allowed) and an optional unit,
/// `B`, binary `KiB` `MiB` `GiB` `TiB` (also `K` `M` `G` `T`, as `ulimit`
/// and `sort -S` read them) or decimal `KB` `MB` `GB` `TB`, any case:
/// `2GiB`, `512M`, `1.5 TB`, `100000`.
///
/// # Errors
/// [`Error::InvalidSize`] for anything else, or a size past `u64::MAX`.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let bad = |reason: &str| Error::InvalidSize {
        text: text.to_owned(),
        reason: reason.to_owned(),
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(bad(
                "unknown unit; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)",
            ));
        }
    };
    if number.is_empty() {
        return Err(bad("no number"));
    }
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(scale)
            .ok_or_else(|| bad("larger than 16 EiB"));
    }
    let v: f64 = number.parse().map_err(|_| bad("not a number"))?;
    #[allow(clippy::cast_precision_loss)]
    let bytes = v * scale as f64;
    // 2^64 as f64 is the first value past u64::MAX.
    #[allow(clippy::cast_precision_loss)]
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad("larger than 16 EiB"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes.round() as u64)
}

/// Parse a memory limit: [`parse_bytes`], or `off` / `none` / `unlimited`
/// for no limit (`None`).
///
/// # Errors
/// As [`parse_bytes`].
pub fn parse_limit(text: &str) -> Result<Option<u64>> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "unlimited" => Ok(None),
        _ => parse_bytes(text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        let ok = |t: &str| parse_bytes(t).expect(t);
        assert_eq!(ok("2GiB"), 2 << 30);
        assert_eq!(ok("2 gib"), 2 << 30);
        assert_eq!(ok("512M"), 512 << 20);
        assert_eq!(ok("1.5GiB"), 3 << 29);
        assert_eq!(ok("1.5 TB"), 1_500_000_000_000);
        assert_eq!(ok("100000"), 100_000);
        assert_eq!(ok("7b"), 7);
        assert_eq!(ok("16383TiB"), 16383 << 40);
        for bad in [
            "",
            "GiB",
            "2 parsecs",
            "-1GiB",
            "1e3",
            "18446744073709551616",
            "17000000TiB",
            "1.2.3G",
        ] {
            assert!(
                matches!(parse_bytes(bad), Err(Error::InvalidSize { .. })),
                "{bad}"
            );
        }
        assert_eq!(parse_limit("off").ok(), Some(None));
        assert_eq!(parse_limit("Unlimited").ok(), Some(None));
        assert_eq!(parse_limit("4GiB").ok(), Some(Some(DEFAULT_MAX_BYTES)));
        let msg = parse_limit("lots").expect_err("bad").to_string();
        assert!(msg.contains("`lots`") && msg.contains("GiB"), "{msg}");
    }

    #[test]
    fn sizes_print() {
        assert_eq!(ByteSize(0).to_string(), "0 B");
        assert_eq!(ByteSize(1023).to_string(), "1023 B");
        assert_eq!(ByteSize(4 << 30).to_string(), "4 GiB");
        assert_eq!(ByteSize(172_553_836_816).to_string(), "160.7 GiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(u64::MAX).to_string(), "more than 16 EiB");
        assert_eq!(ByteSize(15 << 60).to_string(), "15 EiB");
    }
}
