//! Splitting lon/lat geometries at the antimeridian for STAC searches.
//!
//! Reading and writing GeoJSON geometries lives in
//! [`geocube_core::geojson`], the one checked reader.

use geo::{BoundingRect, Coord, Geometry, LineString, MultiPolygon, Polygon, Rect};

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
pub(crate) fn split_at_antimeridian(geoms: &[Geometry<f64>]) -> MultiPolygon<f64> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geo::{Area, Intersects, Point};

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
