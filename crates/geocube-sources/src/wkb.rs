//! A small, strict Well-Known Binary reader for the footprints of a
//! GeoParquet index: Polygon and MultiPolygon (2D; Z/M ordinates are read
//! and dropped), either byte order, ISO (`1003`, `2003`, `3003`) and EWKB
//! (high flag bits, optional SRID) type codes.
//!
//! Every count is checked against the bytes left before anything is
//! allocated, so a corrupt file gives an error, never a panic or a huge
//! allocation.
//!
//! Kept hand-written rather than built on georust's `wkb` crate (0.9.3,
//! which does fit `geo` 0.33 through `geo-traits` 0.3): that reader is
//! laxer than the index needs and would change what we accept.
//! - It reads the parts of a MultiPolygon with the byte order and type of
//!   the outer header and never checks theirs, so a part in the other byte
//!   order (allowed: every WKB geometry carries its own) fails with a bogus
//!   length error, and a part that is not a polygon is read as one.
//! - It takes the geometry type as `code & 7`, so unknown codes (`11`,
//!   `4003`) are read as known types instead of rejected.
//! - It ignores bytes after the geometry.
//!
//! Working around those would mean parsing every header ourselves anyway,
//! which is most of this module.

use geo::{Coord, Geometry, LineString, MultiPolygon, Polygon};

const POLYGON: u32 = 3;
const MULTI_POLYGON: u32 = 6;
const EWKB_Z: u32 = 0x8000_0000;
const EWKB_M: u32 = 0x4000_0000;
const EWKB_SRID: u32 = 0x2000_0000;

/// Why a WKB footprint was rejected. Reported as the source of
/// [`Error::Index`](crate::Error::Index), with the row it was in.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WkbError {
    /// The bytes end inside a value.
    #[error("WKB ends early at byte {0}")]
    Truncated(usize),
    /// A count larger than the bytes left could hold.
    #[error("WKB announces {count} {what} but only {remaining} bytes remain")]
    Count {
        /// The count read.
        count: usize,
        /// What is counted (`points`, `rings`, `polygons`).
        what: &'static str,
        /// Bytes after the count.
        remaining: usize,
    },
    /// A byte-order byte other than 0 or 1.
    #[error("unknown WKB byte order {0}")]
    ByteOrder(u8),
    /// A geometry type code outside ISO and EWKB.
    #[error("unknown WKB geometry type {0}")]
    UnknownType(u32),
    /// A coordinate that is NaN or infinite.
    #[error("WKB coordinate ({x}, {y}) is not finite")]
    NonFinite {
        /// Easting.
        x: f64,
        /// Northing.
        y: f64,
    },
    /// A ring that cannot close an area.
    #[error("WKB polygon ring has {0} points, fewer than 4")]
    ShortRing(usize),
    /// A polygon without rings.
    #[error("WKB polygon has no ring")]
    NoRing,
    /// A MultiPolygon part that is not a polygon.
    #[error("a WKB MultiPolygon holds geometry type {0}")]
    PartNotPolygon(u32),
    /// A MultiPolygon without parts.
    #[error("empty WKB MultiPolygon")]
    EmptyMultiPolygon,
    /// A geometry other than a Polygon or MultiPolygon.
    #[error("WKB geometry type {0} is not a Polygon or MultiPolygon")]
    NotPolygonal(u32),
    /// Bytes after the geometry.
    #[error("{0} trailing bytes after the WKB geometry")]
    Trailing(usize),
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Byte order and ordinates per point of one geometry.
#[derive(Clone, Copy)]
struct Header {
    little: bool,
    kind: u32,
    dims: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WkbError> {
        let s = self
            .bytes
            .get(self.pos..self.pos + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(WkbError::Truncated(self.pos))?;
        self.pos += N;
        Ok(s)
    }

    fn u32(&mut self, little: bool) -> Result<u32, WkbError> {
        let b = self.take::<4>()?;
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn f64(&mut self, little: bool) -> Result<f64, WkbError> {
        let b = self.take::<8>()?;
        Ok(if little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// A count of items of at least `min_size` bytes each, checked against the bytes left.
    fn count(
        &mut self,
        little: bool,
        min_size: usize,
        what: &'static str,
    ) -> Result<usize, WkbError> {
        let n = self.u32(little)? as usize;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(WkbError::Count {
                count: n,
                what,
                remaining: self.remaining(),
            });
        }
        Ok(n)
    }

    fn header(&mut self) -> Result<Header, WkbError> {
        let little = match self.take::<1>()? {
            [1] => true,
            [0] => false,
            [b] => return Err(WkbError::ByteOrder(b)),
        };
        let raw = self.u32(little)?;
        let (mut kind, mut dims) = (raw & 0x0FFF_FFFF, 2);
        if raw & EWKB_Z != 0 {
            dims += 1;
        }
        if raw & EWKB_M != 0 {
            dims += 1;
        }
        if raw & EWKB_SRID != 0 {
            let _srid = self.u32(little)?;
        }
        // ISO: 1000s add Z, 2000s add M, 3000s add both.
        match kind / 1000 {
            0 => {}
            1 | 2 => dims += 1,
            3 => dims += 2,
            _ => return Err(WkbError::UnknownType(raw)),
        }
        kind %= 1000;
        Ok(Header { little, kind, dims })
    }

    fn ring(&mut self, h: Header) -> Result<LineString<f64>, WkbError> {
        let n = self.count(h.little, 8 * h.dims, "points")?;
        let mut pts = Vec::with_capacity(n);
        for _ in 0..n {
            let (x, y) = (self.f64(h.little)?, self.f64(h.little)?);
            for _ in 2..h.dims {
                self.f64(h.little)?;
            }
            if !x.is_finite() || !y.is_finite() {
                return Err(WkbError::NonFinite { x, y });
            }
            pts.push(Coord { x, y });
        }
        Ok(LineString::new(pts))
    }

    fn polygon(&mut self, h: Header) -> Result<Polygon<f64>, WkbError> {
        let n = self.count(h.little, 4, "rings")?;
        let mut rings = Vec::with_capacity(n);
        for _ in 0..n {
            let ring = self.ring(h)?;
            if ring.0.len() < 4 {
                return Err(WkbError::ShortRing(ring.0.len()));
            }
            rings.push(ring);
        }
        let mut it = rings.into_iter();
        let exterior = it.next().ok_or(WkbError::NoRing)?;
        Ok(Polygon::new(exterior, it.collect()))
    }
}

/// Parse a WKB Polygon or MultiPolygon.
///
/// # Errors
/// Another geometry type, an empty polygon, truncated or trailing bytes,
/// non-finite coordinates: a [`WkbError`].
pub fn parse_polygonal(bytes: &[u8]) -> Result<Geometry<f64>, WkbError> {
    let mut c = Cursor { bytes, pos: 0 };
    let h = c.header()?;
    let geom = match h.kind {
        POLYGON => Geometry::Polygon(c.polygon(h)?),
        MULTI_POLYGON => {
            let n = c.count(h.little, 9, "polygons")?;
            let mut polys = Vec::with_capacity(n);
            for _ in 0..n {
                let ph = c.header()?;
                if ph.kind != POLYGON {
                    return Err(WkbError::PartNotPolygon(ph.kind));
                }
                polys.push(c.polygon(ph)?);
            }
            if polys.is_empty() {
                return Err(WkbError::EmptyMultiPolygon);
            }
            Geometry::MultiPolygon(MultiPolygon::new(polys))
        }
        other => {
            return Err(WkbError::NotPolygonal(other));
        }
    };
    if c.remaining() != 0 {
        return Err(WkbError::Trailing(c.remaining()));
    }
    Ok(geom)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ring_bytes(out: &mut Vec<u8>, ring: &[(f64, f64)], little: bool, z: bool) {
        let u = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let f = |v: f64| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        out.extend(u(u32::try_from(ring.len()).unwrap()));
        for &(x, y) in ring {
            out.extend(f(x));
            out.extend(f(y));
            if z {
                out.extend(f(7.0));
            }
        }
    }

    fn polygon(rings: &[&[(f64, f64)]], little: bool, kind: u32, z: bool) -> Vec<u8> {
        let u = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut out = vec![u8::from(little)];
        out.extend(u(kind));
        out.extend(u(u32::try_from(rings.len()).unwrap()));
        for r in rings {
            ring_bytes(&mut out, r, little, z);
        }
        out
    }

    const SQ: &[(f64, f64)] = &[
        (0.0, 0.0),
        (10.0, 0.0),
        (10.0, 10.0),
        (0.0, 10.0),
        (0.0, 0.0),
    ];
    const HOLE: &[(f64, f64)] = &[(2.0, 2.0), (3.0, 2.0), (3.0, 3.0), (2.0, 2.0)];

    #[test]
    fn polygons_both_byte_orders_and_z() {
        for little in [true, false] {
            let g = parse_polygonal(&polygon(&[SQ, HOLE], little, 3, false)).unwrap();
            let Geometry::Polygon(p) = g else {
                panic!("not a polygon")
            };
            assert_eq!(p.exterior().0.len(), 5);
            assert_eq!(p.interiors().len(), 1);
            assert_eq!(p.exterior().0[2], Coord { x: 10.0, y: 10.0 });
            // ISO Z and EWKB Z: the third ordinate is skipped.
            for kind in [1003, 3 | EWKB_Z] {
                let Geometry::Polygon(pz) =
                    parse_polygonal(&polygon(&[SQ], little, kind, true)).unwrap()
                else {
                    panic!()
                };
                assert_eq!(pz.exterior(), p.exterior());
            }
        }
    }

    #[test]
    fn multipolygon_and_srid() {
        let mut m = vec![1u8];
        m.extend(6u32.to_le_bytes());
        m.extend(2u32.to_le_bytes());
        m.extend(polygon(&[SQ], true, 3, false));
        m.extend(polygon(&[SQ, HOLE], false, 3, false)); // byte order may change per part
        let Geometry::MultiPolygon(mp) = parse_polygonal(&m).unwrap() else {
            panic!()
        };
        assert_eq!(mp.0.len(), 2);
        // EWKB with SRID 3413.
        let mut e = vec![1u8];
        e.extend((3 | EWKB_SRID).to_le_bytes());
        e.extend(3413u32.to_le_bytes());
        e.extend(1u32.to_le_bytes());
        ring_bytes(&mut e, SQ, true, false);
        assert!(matches!(parse_polygonal(&e), Ok(Geometry::Polygon(_))));
    }

    #[test]
    fn malformed_input_is_an_error() {
        let good = polygon(&[SQ], true, 3, false);
        for cut in 0..good.len() {
            assert!(parse_polygonal(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(parse_polygonal(&trailing).is_err());
        assert!(parse_polygonal(&polygon(&[SQ], true, 2, false)).is_err()); // LineString
        assert!(parse_polygonal(&polygon(&[], true, 3, false)).is_err()); // no ring
        assert!(parse_polygonal(&polygon(&[&SQ[..3]], true, 3, false)).is_err()); // ring too short
        let mut huge = vec![1u8];
        huge.extend(3u32.to_le_bytes());
        huge.extend(u32::MAX.to_le_bytes());
        assert!(
            parse_polygonal(&huge)
                .unwrap_err()
                .to_string()
                .contains("announces")
        );
        let mut nan = polygon(&[SQ], true, 3, false);
        nan[13..21].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(parse_polygonal(&nan).is_err());
        assert!(parse_polygonal(&[7, 3, 0, 0, 0]).is_err());
    }

    #[test]
    fn matches_the_testkit_writer() {
        let ring = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)];
        let bytes = geocube_testkit::geoparquet::wkb_polygon(&ring);
        let Geometry::Polygon(p) = parse_polygonal(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(
            p.exterior()
                .0
                .iter()
                .map(|c| (c.x, c.y))
                .collect::<Vec<_>>(),
            ring
        );
    }
}
