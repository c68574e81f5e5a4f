//! The built-in Natural Earth 1:110m layers, parsed once from the bytes
//! `tools/make_coastline.py` wrote (the format is in its docstring).
//!
//! The file ships inside the crate, but it is still read as untrusted
//! bytes: every length is checked, so a damaged file is an error rather
//! than a panic.

use std::sync::OnceLock;

/// The file, built into the crate.
static BYTES: &[u8] = include_bytes!("../../data/ne_110m_coast.bin");

const MAGIC: &[u8; 4] = b"GCBM";
const VERSION: u16 = 1;
const KIND_LAND: u8 = 1;
const KIND_BORDERS: u8 = 2;
/// Natural Earth's coordinates are stored in micro-degrees.
const MICRO: f64 = 1e-6;

/// The parsed layers, in degrees (longitude, latitude).
#[derive(Debug, Default)]
pub(crate) struct Layers {
    /// Closed land rings (first point repeated last), including the
    /// dataset's seams along the antimeridian and the south pole.
    pub(crate) land: Vec<Vec<(f64, f64)>>,
    /// Open land-border polylines.
    pub(crate) borders: Vec<Vec<(f64, f64)>>,
}

/// Where and why the built-in file does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DataError {
    pub(crate) offset: usize,
    pub(crate) reason: &'static str,
}

/// The built-in layers, parsed at the first call.
pub(crate) fn layers() -> Result<&'static Layers, DataError> {
    static PARSED: OnceLock<Result<Layers, DataError>> = OnceLock::new();
    PARSED.get_or_init(|| parse(BYTES)).as_ref().map_err(|e| *e)
}

/// A cursor over the bytes that fails instead of reading past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DataError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(DataError {
                offset: self.at,
                reason: what,
            });
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DataError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DataError> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<usize, DataError> {
        let n = self.array(what).map(u32::from_le_bytes)?;
        usize::try_from(n).map_err(|_| DataError {
            offset: self.at,
            reason: what,
        })
    }

    fn fail<T>(&self, reason: &'static str) -> Result<T, DataError> {
        Err(DataError {
            offset: self.at,
            reason,
        })
    }
}

/// Parse a basemap file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Layers, DataError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4, "file shorter than its magic")? != MAGIC {
        return r.fail("not a geocube basemap (magic is not GCBM)");
    }
    if r.u16("no version")? != VERSION {
        return r.fail("unknown basemap version");
    }
    let n_layers = r.u16("no layer count")?;
    let mut layers = Layers::default();
    for _ in 0..n_layers {
        let [kind, ..] = r.array::<4>("truncated layer header")?;
        let n_lines = r.u32("truncated layer header")?;
        let mut lines = vec![];
        for _ in 0..n_lines {
            let n_points = r.u32("truncated line header")?;
            let Some(n_bytes) = n_points.checked_mul(8) else {
                return r.fail("line point count overflows");
            };
            let raw = r.take(n_bytes, "line shorter than its point count")?;
            let mut line = Vec::with_capacity(n_points);
            for p in raw.chunks_exact(8) {
                let lon = i32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                let lat = i32::from_le_bytes([p[4], p[5], p[6], p[7]]);
                let (lon, lat) = (f64::from(lon) * MICRO, f64::from(lat) * MICRO);
                if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
                    return r.fail("point outside -180..180, -90..90");
                }
                line.push((lon, lat));
            }
            if line.len() >= 2 {
                lines.push(line);
            }
        }
        match kind {
            KIND_LAND => layers.land.extend(lines),
            KIND_BORDERS => layers.borders.extend(lines),
            // A later layer kind (rivers, lakes) read by an older reader.
            _ => {}
        }
    }
    if r.at != bytes.len() {
        return r.fail("trailing bytes after the last layer");
    }
    Ok(layers)
}

/// Whether the segment `a`–`b` is a seam of the dataset (the antimeridian
/// cut or the edge along the south pole), not coast.
pub(crate) fn is_seam(a: (f64, f64), b: (f64, f64)) -> bool {
    (a.0.abs() == 180.0 && b.0.abs() == 180.0) || (a.1 == -90.0 && b.1 == -90.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_file_parses() {
        let l = layers().expect("parses");
        assert!(l.land.len() > 100, "{}", l.land.len());
        assert!(l.borders.len() > 100, "{}", l.borders.len());
        // Rings are closed.
        assert!(l.land.iter().all(|r| r.first() == r.last()));
    }

    #[test]
    fn damaged_files_are_errors() {
        assert!(parse(b"").is_err());
        assert!(parse(b"XXXX\x01\x00\x00\x00").is_err());
        assert!(parse(b"GCBM\x02\x00\x00\x00").is_err());
        for cut in [5, 9, 13, 17, 21, BYTES.len() - 1] {
            assert!(parse(&BYTES[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = b"GCBM\x01\x00\x01\x00\x01\x00\x00\x00\x01\x00\x00\x00".to_vec();
        huge.extend(u32::MAX.to_le_bytes());
        assert!(parse(&huge).is_err());
        let mut trailing = BYTES.to_vec();
        trailing.push(0);
        assert!(parse(&trailing).is_err());
        let empty = parse(b"GCBM\x01\x00\x00\x00").expect("no layers");
        assert!(empty.land.is_empty() && empty.borders.is_empty());
    }
}
