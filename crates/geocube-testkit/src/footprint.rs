//! EPSG:3413 ⇄ WGS 84 transforms (proj4rs) and the antimeridian-aware
//! GeoJSON footprints of tiles.

use proj4rs::Proj;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::{AntimeridianSide, Bounds};

/// PROJ string of EPSG:3413 (NSIDC Sea Ice Polar Stereographic North).
pub const EPSG_3413_PROJ: &str =
    "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs";
const WGS84_PROJ: &str = "+proj=longlat +datum=WGS84 +no_defs";

/// Segments per tile edge when densifying footprints.
const DENSIFY: usize = 32;

/// Transforms between EPSG:3413 metres and WGS 84 degrees.
pub struct Projector {
    polar: Proj,
    geographic: Proj,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Projector(EPSG:3413 <-> EPSG:4326)")
    }
}

impl Projector {
    /// Builds the two projections.
    ///
    /// # Errors
    /// Never in practice: fails only if proj4rs rejects its built-in strings.
    pub fn new() -> Result<Self> {
        let parse = |s: &str| {
            Proj::from_proj_string(s).map_err(|e| Error::Transform {
                x: f64::NAN,
                y: f64::NAN,
                message: format!("bad PROJ string {s:?}: {e}"),
            })
        };
        Ok(Self {
            polar: parse(EPSG_3413_PROJ)?,
            geographic: parse(WGS84_PROJ)?,
        })
    }

    /// EPSG:3413 `(x, y)` in metres to `(lon, lat)` in degrees, lon in (-180, 180].
    ///
    /// # Errors
    /// If proj4rs cannot transform the point.
    pub fn to_lonlat(&self, x: f64, y: f64) -> Result<(f64, f64)> {
        let mut p = (x, y, 0.0);
        proj4rs::transform::transform(&self.polar, &self.geographic, &mut p).map_err(|e| {
            Error::Transform {
                x,
                y,
                message: e.to_string(),
            }
        })?;
        Ok((p.0.to_degrees(), p.1.to_degrees()))
    }

    /// `(lon, lat)` in degrees to EPSG:3413 `(x, y)` in metres.
    ///
    /// # Errors
    /// If proj4rs cannot transform the point.
    pub fn from_lonlat(&self, lon: f64, lat: f64) -> Result<(f64, f64)> {
        let mut p = (lon.to_radians(), lat.to_radians(), 0.0);
        proj4rs::transform::transform(&self.geographic, &self.polar, &mut p).map_err(|e| {
            Error::Transform {
                x: lon,
                y: lat,
                message: e.to_string(),
            }
        })?;
        Ok((p.0, p.1))
    }
}

/// On which side of the antimeridian (`x + y = 0` in EPSG:3413) a tile lies.
#[must_use]
pub fn antimeridian_side(b: &Bounds) -> AntimeridianSide {
    let sums = [
        b.xmin + b.ymin,
        b.xmin + b.ymax,
        b.xmax + b.ymin,
        b.xmax + b.ymax,
    ];
    let lo = sums.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = sums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo < 0.0 && hi > 0.0 {
        AntimeridianSide::Crosses
    } else if lo >= 0.0 {
        // x + y > 0 is the side of longitudes just below +180°.
        AntimeridianSide::East
    } else {
        AntimeridianSide::West
    }
}

/// Clips a closed convex ring to the half-plane `sign·(x + y) >= 0`
/// (Sutherland–Hodgman); returns a closed ring.
fn clip_half_plane(ring: &[(f64, f64)], sign: f64) -> Vec<(f64, f64)> {
    let inside = |p: (f64, f64)| sign * (p.0 + p.1) >= 0.0;
    let mut out = Vec::new();
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (ia, ib) = (inside(a), inside(b));
        if ia {
            out.push(a);
        }
        if ia != ib {
            let (sa, sb) = (a.0 + a.1, b.0 + b.1);
            let t = sa / (sa - sb);
            out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
        }
    }
    out.dedup();
    if let Some(&first) = out.first() {
        out.push(first);
    }
    out
}

/// Inserts points so that no edge is longer than `max_len`.
fn densify(ring: &[(f64, f64)], max_len: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (b.0 - a.0).hypot(b.1 - a.1);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = ((len / max_len).ceil() as usize).max(1);
        for k in 0..n {
            #[allow(clippy::cast_precision_loss)]
            let t = k as f64 / n as f64;
            out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
        }
    }
    if let Some(&last) = ring.last() {
        out.push(last);
    }
    out
}

/// Transforms a ring of one side of the antimeridian to degrees, pinning
/// points on the antimeridian to +180 (east side) or -180 (west side).
fn ring_to_lonlat(
    p: &Projector,
    ring: &[(f64, f64)],
    side: AntimeridianSide,
    scale: f64,
) -> Result<Vec<[f64; 2]>> {
    ring.iter()
        .map(|&(x, y)| {
            let (mut lon, lat) = p.to_lonlat(x, y)?;
            if (x + y).abs() <= 1e-9 * scale || lon.abs() > 179.999_999 {
                lon = if side == AntimeridianSide::West {
                    -180.0
                } else {
                    180.0
                };
            }
            Ok([lon, lat])
        })
        .collect()
}

/// The tile's footprint in WGS 84 as a GeoJSON geometry (a `MultiPolygon`
/// split at the antimeridian when the tile crosses it, as RFC 7946 asks)
/// and its bbox (`west > east` for crossing tiles).
///
/// # Errors
/// If a point cannot be transformed.
pub fn tile_footprint(p: &Projector, b: &Bounds) -> Result<(Value, [f64; 4])> {
    let ring = [
        (b.xmin, b.ymin),
        (b.xmax, b.ymin),
        (b.xmax, b.ymax),
        (b.xmin, b.ymax),
        (b.xmin, b.ymin),
    ];
    let max_len = (b.xmax - b.xmin) / DENSIFY as f64;
    let scale = b.xmax.abs().max(b.ymax.abs());
    let side = antimeridian_side(b);
    let parts: Vec<(AntimeridianSide, Vec<(f64, f64)>)> = match side {
        AntimeridianSide::Crosses => vec![
            (AntimeridianSide::East, clip_half_plane(&ring, 1.0)),
            (AntimeridianSide::West, clip_half_plane(&ring, -1.0)),
        ],
        s => vec![(s, ring.to_vec())],
    };
    let mut polys = Vec::new();
    let (mut south, mut north) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut west, mut east) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut east_part_west, mut west_part_east) = (f64::INFINITY, f64::NEG_INFINITY);
    for (s, part) in &parts {
        let ll = ring_to_lonlat(p, &densify(part, max_len), *s, scale)?;
        for &[lon, lat] in &ll {
            south = south.min(lat);
            north = north.max(lat);
            west = west.min(lon);
            east = east.max(lon);
            match s {
                AntimeridianSide::East => east_part_west = east_part_west.min(lon),
                _ => west_part_east = west_part_east.max(lon),
            }
        }
        polys.push(ll);
    }
    if side == AntimeridianSide::Crosses {
        let geometry = json!({
            "type": "MultiPolygon",
            "coordinates": polys.iter().map(|r| vec![r.clone()]).collect::<Vec<_>>(),
        });
        Ok((geometry, [east_part_west, south, west_part_east, north]))
    } else {
        let geometry = json!({ "type": "Polygon", "coordinates": [polys[0].clone()] });
        Ok((geometry, [west, south, east, north]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn antimeridian_line_is_x_equals_minus_y() -> Result<()> {
        let p = Projector::new()?;
        let (lon, lat) = p.to_lonlat(-1_600_000.0, 1_600_000.0)?;
        assert!((lon.abs() - 180.0).abs() < 1e-9, "{lon}");
        assert!(lat > 69.0 && lat < 71.0, "{lat}");
        let (lon_e, _) = p.to_lonlat(-1_600_000.0, 1_610_000.0)?;
        assert!(lon_e > 179.0 && lon_e < 180.0, "x + y > 0 is east: {lon_e}");
        let (x, y) = p.from_lonlat(lon, lat)?;
        assert!((x + 1_600_000.0).abs() < 1e-3 && (y - 1_600_000.0).abs() < 1e-3);
        Ok(())
    }

    #[test]
    fn crossing_tile_splits_into_two_polygons() -> Result<()> {
        let p = Projector::new()?;
        let b = Bounds {
            xmin: -1_600_000.0,
            ymin: 1_584_000.0,
            xmax: -1_584_000.0,
            ymax: 1_600_000.0,
        };
        assert_eq!(antimeridian_side(&b), AntimeridianSide::Crosses);
        let (g, bbox) = tile_footprint(&p, &b)?;
        assert_eq!(g["type"], "MultiPolygon");
        assert!(bbox[0] > bbox[2], "bbox crosses the antimeridian: {bbox:?}");
        assert!(bbox[0] > 179.0 && bbox[2] < -179.0);
        let east = Bounds {
            xmin: -1_600_000.0,
            ymin: 1_600_000.0,
            xmax: -1_584_000.0,
            ymax: 1_616_000.0,
        };
        assert_eq!(antimeridian_side(&east), AntimeridianSide::East);
        let (g, bbox) = tile_footprint(&p, &east)?;
        assert_eq!(g["type"], "Polygon");
        assert!(bbox[0] < bbox[2] && bbox[0] > 0.0);
        Ok(())
    }
}
