//! The antimeridian, in one place: longitudes made continuous across ±180°
//! (footprints of polar grids, reprojected AOIs), rings around a pole closed
//! along it, the ±360° shifts tried against geographic grids, and the split
//! at ±180° that GeoJSON (RFC 7946) and STAC searches need.

use geo::{BoundingRect, Coord, Geometry, LineString, MultiPolygon, Polygon, Rect};

/// Make the rings and lines of a lon/lat geometry continuous across the
/// antimeridian (see [`continuous_lonlat_ring`]); a ring that winds around a
/// pole is closed along the pole on the side of its mean latitude.
pub(crate) fn continuous_lonlat(geom: &Geometry<f64>) -> Geometry<f64> {
    use geo::{GeometryCollection, MultiLineString, MultiPolygon};
    let ring = |ls: &LineString<f64>| LineString(continuous_lonlat_ring(&ls.0, None));
    let line = |ls: &LineString<f64>| LineString(unwrap_lons(&ls.0));
    let poly = |p: &Polygon<f64>| {
        Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect())
    };
    match geom {
        Geometry::LineString(l) => Geometry::LineString(line(l)),
        Geometry::MultiLineString(m) => {
            Geometry::MultiLineString(MultiLineString(m.0.iter().map(line).collect()))
        }
        Geometry::Polygon(p) => Geometry::Polygon(poly(p)),
        Geometry::MultiPolygon(m) => {
            Geometry::MultiPolygon(MultiPolygon(m.0.iter().map(poly).collect()))
        }
        Geometry::GeometryCollection(c) => Geometry::GeometryCollection(GeometryCollection(
            c.0.iter().map(continuous_lonlat).collect(),
        )),
        other => other.clone(),
    }
}

/// Wrap a longitude difference into [-180, 180).
pub(crate) fn wrap180(d: f64) -> f64 {
    (d + 180.0).rem_euclid(360.0) - 180.0
}

/// Shift each longitude by a multiple of 360° so it lies within 180° of the
/// previous one; the first keeps its value wrapped into [-180, 180).
fn unwrap_lons(coords: &[Coord<f64>]) -> Vec<Coord<f64>> {
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(coords.len());
    for c in coords {
        let x = match out.last() {
            Some(prev) => prev.x + wrap180(c.x - prev.x),
            None => wrap180(c.x),
        };
        out.push(Coord { x, y: c.y });
    }
    out
}

/// Make a closed lon/lat ring continuous: longitudes are unwrapped (see
/// [`unwrap_lons`]); a vertex on a pole (whose longitude is arbitrary) is
/// replaced by two vertices on the pole's latitude at the longitudes of its
/// neighbours (a ring through a pole does not wind around it, which settles
/// the direction of the step along the pole); a ring that winds once around a
/// pole is closed along that pole (`pole_lat`, or the side of the ring's mean
/// latitude when `None`).
pub(crate) fn continuous_lonlat_ring(
    ring: &[Coord<f64>],
    pole_lat: Option<f64>,
) -> Vec<Coord<f64>> {
    const POLE_EPS: f64 = 1e-9;
    let mut open: Vec<Coord<f64>> = ring.to_vec();
    if open.len() > 1 && open.first() == open.last() {
        open.pop();
    }
    let n = open.len();
    if n < 3 {
        return ring.to_vec();
    }
    let is_pole = |c: &Coord<f64>| c.y.abs() >= 90.0 - POLE_EPS;
    if open.iter().all(is_pole) {
        return ring.to_vec();
    }
    // Replace pole vertices by their neighbours' longitudes.
    let mut expanded = Vec::with_capacity(n + 4);
    let mut after_pole = None;
    for i in 0..n {
        let c = open[i];
        if !is_pole(&c) {
            expanded.push(c);
            continue;
        }
        let prev = (1..n).map(|k| open[(i + n - k) % n]).find(|c| !is_pole(c));
        let next = (1..n).map(|k| open[(i + k) % n]).find(|c| !is_pole(c));
        if let (Some(p), Some(q)) = (prev, next) {
            expanded.push(Coord { x: p.x, y: c.y });
            after_pole.get_or_insert(expanded.len());
            expanded.push(Coord { x: q.x, y: c.y });
        }
    }
    let mut out = unwrap_lons(&expanded);
    let (Some(first), Some(last)) = (out.first().copied(), out.last().copied()) else {
        return ring.to_vec();
    };
    let mut closing = last.x + wrap180(first.x - last.x);
    let net = closing - first.x;
    if net.abs() > 180.0
        && let Some(k) = after_pole
    {
        // A ring through a pole cannot wind around it: the step along the
        // pole (often exactly 180°, so ambiguous) goes the other way.
        for c in &mut out[k..] {
            c.x -= net;
        }
        closing -= net;
    }
    let net = closing - first.x;
    if net.abs() > 180.0 {
        #[allow(clippy::cast_precision_loss)]
        let mean_lat = out.iter().map(|c| c.y).sum::<f64>() / out.len() as f64;
        let pole = pole_lat.unwrap_or(if mean_lat >= 0.0 { 90.0 } else { -90.0 });
        out.push(Coord {
            x: closing,
            y: first.y,
        });
        out.push(Coord {
            x: closing,
            y: pole,
        });
        out.push(Coord {
            x: first.x,
            y: pole,
        });
    }
    out.push(first);
    out
}

/// Clip a ring to `lo <= x <= hi` (Sutherland–Hodgman against two
/// half-planes; the clip region is convex, so any ring works).
fn clip_ring(ring: &[Coord<f64>], lo: f64, hi: f64) -> Vec<Coord<f64>> {
    fn clip(pts: &[Coord<f64>], inside: impl Fn(f64) -> bool, edge: f64) -> Vec<Coord<f64>> {
        let mut out = Vec::with_capacity(pts.len() + 4);
        let n = pts.len();
        for i in 0..n {
            let (a, b) = (pts[i], pts[(i + 1) % n]);
            let cross = |p: Coord<f64>, q: Coord<f64>| {
                let t = (edge - p.x) / (q.x - p.x);
                Coord {
                    x: edge,
                    y: p.y + t * (q.y - p.y),
                }
            };
            match (inside(a.x), inside(b.x)) {
                (true, true) => out.push(b),
                (true, false) => out.push(cross(a, b)),
                (false, true) => {
                    out.push(cross(a, b));
                    out.push(b);
                }
                (false, false) => {}
            }
        }
        out
    }
    // Work on the open ring.
    let open = match ring {
        [first, .., last] if first == last => &ring[..ring.len() - 1],
        _ => ring,
    };
    let a = clip(open, |x| x >= lo, lo);
    let mut b = clip(&a, |x| x <= hi, hi);
    if let Some(&first) = b.first() {
        b.push(first);
    }
    b
}

fn area_ok(r: &[Coord<f64>]) -> bool {
    r.len() >= 4 && {
        // Relative to the first vertex, so small rings far from 0 keep their precision.
        let o = r[0];
        let twice: f64 = r
            .windows(2)
            .map(|w| (w[0].x - o.x) * (w[1].y - o.y) - (w[1].x - o.x) * (w[0].y - o.y))
            .sum();
        twice.abs() > 1e-20
    }
}

/// Lon/lat polygons with continuous longitudes (possibly beyond ±180°, as
/// `Aoi::geometries_in` makes them) cut into pieces inside [-180°, 180°].
/// Non-polygonal geometries become their bounding rectangle (slightly grown
/// when it has no area).
pub fn split_at_antimeridian(geoms: &[Geometry<f64>]) -> MultiPolygon<f64> {
    let mut polys: Vec<Polygon<f64>> = Vec::new();
    for g in geoms {
        let parts: Vec<Polygon<f64>> = match g {
            Geometry::Polygon(p) => vec![p.clone()],
            Geometry::MultiPolygon(m) => m.0.clone(),
            other => other
                .bounding_rect()
                .map(|r| {
                    let eps = 1e-7;
                    let (min, max) = (r.min(), r.max());
                    let grow = |a: f64, b: f64| {
                        if b - a < eps {
                            (a - eps, b + eps)
                        } else {
                            (a, b)
                        }
                    };
                    let ((x0, x1), (y0, y1)) = (grow(min.x, max.x), grow(min.y, max.y));
                    vec![Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }).to_polygon()]
                })
                .unwrap_or_default(),
        };
        for p in parts {
            for shift in [-360.0, 0.0, 360.0] {
                let moved = |r: &LineString<f64>| -> Vec<Coord<f64>> {
                    r.0.iter()
                        .map(|c| Coord {
                            x: c.x + shift,
                            y: c.y,
                        })
                        .collect()
                };
                let ext = clip_ring(&moved(p.exterior()), -180.0, 180.0);
                if !area_ok(&ext) {
                    continue;
                }
                let holes = p
                    .interiors()
                    .iter()
                    .map(|h| clip_ring(&moved(h), -180.0, 180.0))
                    .filter(|h| area_ok(h))
                    .map(LineString::new)
                    .collect();
                polys.push(Polygon::new(LineString::new(ext), holes));
            }
        }
    }
    MultiPolygon::new(polys)
}

/// Longitude shifts to try when matching lon/lat bounds against a grid in
/// `crs`: a geographic grid is also tried ±360° away, so an AOI crossing the
/// antimeridian selects both edges of a global grid.
pub(crate) fn lon_shifts(crs: &super::Crs) -> &'static [f64] {
    if crs.is_geographic() {
        &[0.0, -360.0, 360.0]
    } else {
        &[0.0]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use geo::{Area, Intersects, Point};

    use super::*;

    #[test]
    fn split_across_the_antimeridian() {
        let p = Rect::new(Coord { x: 170.0, y: 60.0 }, Coord { x: 190.0, y: 70.0 }).to_polygon();
        let m = split_at_antimeridian(&[Geometry::Polygon(p)]);
        assert_eq!(m.0.len(), 2);
        assert!((m.unsigned_area() - 200.0).abs() < 1e-9);
        assert!(m.intersects(&Point::new(-175.0, 65.0)));
        assert!(m.intersects(&Point::new(175.0, 65.0)));
        assert!(!m.intersects(&Point::new(0.0, 65.0)));
        // Inside the range: unchanged.
        let q = Rect::new(Coord { x: 10.0, y: 60.0 }, Coord { x: 20.0, y: 70.0 }).to_polygon();
        let m = split_at_antimeridian(&[Geometry::Polygon(q)]);
        assert_eq!(m.0.len(), 1);
        assert!((m.unsigned_area() - 100.0).abs() < 1e-9);
        // A point becomes a tiny box.
        let m = split_at_antimeridian(&[Geometry::Point(Point::new(5.0, 5.0))]);
        assert!(m.intersects(&Point::new(5.0, 5.0)));
    }
}
