//! The few GeoJSON conversions the sources need, between `serde_json`
//! values and `geo` geometries, plus splitting lon/lat geometries at the
//! antimeridian for STAC searches.
//!
//! Hand-written rather than through the `geojson` crate because malformed
//! coordinates must give errors (the crate panics on short positions) and
//! STAC items only need polygons.

use geo::{BoundingRect, Coord, Geometry, LineString, MultiPolygon, Polygon, Rect};
use serde_json::{Value, json};

fn position(v: &Value) -> Result<Coord<f64>, String> {
    match v.as_array().map(Vec::as_slice) {
        Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Ok(Coord { x, y }),
            _ => Err(format!("position {v} holds non-numbers")),
        },
        _ => Err(format!("position {v} needs at least two numbers")),
    }
}

fn ring(v: &Value) -> Result<LineString<f64>, String> {
    let pts = v.as_array().ok_or("a ring must be an array of positions")?;
    let ring: LineString<f64> = pts
        .iter()
        .map(position)
        .collect::<Result<Vec<_>, _>>()?
        .into();
    if ring.0.len() < 4 {
        return Err(format!(
            "a polygon ring needs at least 4 positions, got {}",
            ring.0.len()
        ));
    }
    Ok(ring)
}

fn polygon(v: &Value) -> Result<Polygon<f64>, String> {
    let rings = v
        .as_array()
        .ok_or("polygon coordinates must be an array of rings")?;
    let mut it = rings.iter().map(ring);
    let exterior = it.next().ok_or("a polygon needs at least one ring")??;
    Ok(Polygon::new(exterior, it.collect::<Result<_, _>>()?))
}

/// A GeoJSON Polygon or MultiPolygon object as a `geo` geometry.
///
/// # Errors
/// Another type, or malformed coordinates, as a message.
pub(crate) fn to_geo(v: &Value) -> Result<Geometry<f64>, String> {
    let coords = v.get("coordinates").ok_or("geometry without coordinates")?;
    match v.get("type").and_then(Value::as_str) {
        Some("Polygon") => Ok(Geometry::Polygon(polygon(coords)?)),
        Some("MultiPolygon") => {
            let polys = coords
                .as_array()
                .ok_or("MultiPolygon coordinates must be an array")?;
            let polys = polys.iter().map(polygon).collect::<Result<Vec<_>, _>>()?;
            if polys.is_empty() {
                return Err("empty MultiPolygon".into());
            }
            Ok(Geometry::MultiPolygon(MultiPolygon::new(polys)))
        }
        Some(other) => Err(format!(
            "geometry type {other} is not a Polygon or MultiPolygon"
        )),
        None => Err("geometry without a type".into()),
    }
}

/// A STAC `bbox` (`[w, s, e, n]` or 3D) as polygons, split when `w > e`.
pub(crate) fn bbox_to_geo(v: &Value) -> Result<Geometry<f64>, String> {
    let nums: Vec<f64> = v
        .as_array()
        .ok_or("bbox must be an array")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let (w, s, e, n) = match nums.as_slice() {
        [w, s, e, n] | [w, s, _, e, n, _] => (*w, *s, *e, *n),
        _ => return Err(format!("bbox {v} needs 4 or 6 numbers")),
    };
    let rect = |a: f64, b: f64| Rect::new(Coord { x: a, y: s }, Coord { x: b, y: n }).to_polygon();
    Ok(if w <= e {
        Geometry::Polygon(rect(w, e))
    } else {
        Geometry::MultiPolygon(MultiPolygon::new(vec![rect(w, 180.0), rect(-180.0, e)]))
    })
}

fn ring_json(r: &LineString<f64>) -> Value {
    Value::Array(r.0.iter().map(|c| json!([c.x, c.y])).collect())
}

fn polygon_json(p: &Polygon<f64>) -> Value {
    Value::Array(
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(ring_json)
            .collect(),
    )
}

/// A MultiPolygon as a GeoJSON geometry object.
pub(crate) fn multipolygon_json(m: &MultiPolygon<f64>) -> Value {
    json!({ "type": "MultiPolygon", "coordinates": m.0.iter().map(polygon_json).collect::<Vec<_>>() })
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

    #[test]
    fn geojson_round_trip_and_errors() {
        let v =
            json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]});
        let Geometry::MultiPolygon(m) = to_geo(&v).unwrap() else {
            panic!()
        };
        assert_eq!(
            to_geo(&multipolygon_json(&m)).unwrap(),
            Geometry::MultiPolygon(m)
        );
        for bad in [
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": "x"}),
            json!({"type": "Polygon"}),
            json!({"type": "Point", "coordinates": [0, 0]}),
            json!({"coordinates": []}),
            json!({"type": "MultiPolygon", "coordinates": []}),
        ] {
            assert!(to_geo(&bad).is_err(), "{bad}");
        }
        assert!(matches!(
            bbox_to_geo(&json!([170, 60, -170, 70])),
            Ok(Geometry::MultiPolygon(_))
        ));
        assert!(bbox_to_geo(&json!([1, 2])).is_err());
    }
}
