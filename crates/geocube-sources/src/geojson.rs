//! The few GeoJSON conversions the sources need, between `serde_json`
//! values and `geo` geometries (the antimeridian split for STAC searches is
//! `geocube_core::crs::split_at_antimeridian`).
//!
//! Hand-written rather than through the `geojson` crate because malformed
//! coordinates must give errors (the crate panics on short positions) and
//! STAC items only need polygons.

use geo::{Coord, Geometry, LineString, MultiPolygon, Polygon, Rect};
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
