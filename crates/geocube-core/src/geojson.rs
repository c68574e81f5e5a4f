//! Reading and writing GeoJSON geometries, checked: the one reader behind
//! [`Aoi::from_geojson_str`](crate::Aoi::from_geojson_str) and the STAC
//! item footprints of geocube-sources.
//!
//! Built on the `geojson` crate, with the checks it lacks in front of it:
//! converting to `geo` indexes `position[0]` and `position[1]`, so a
//! position with fewer than two numbers inside a line or ring (which the
//! crate parses without complaint) would panic. Every position is checked
//! first, and every coordinate must be finite.
//!
//! ```
//! use geocube_core::geojson::{GeoJsonError, geometry_from_value};
//!
//! let v = serde_json::json!({"type": "LineString", "coordinates": [[0, 0], [1]]});
//! assert!(matches!(geometry_from_value(&v), Err(GeoJsonError::ShortPosition(_))));
//! ```

use std::str::FromStr;

use geo::{Coord, CoordsIter, Geometry, MultiPolygon, Polygon, Rect};
use serde::Deserialize;
use serde_json::Value;

/// Why a GeoJSON text, geometry or bbox cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoJsonError {
    /// The text or value is not GeoJSON.
    #[error("not valid GeoJSON: {0}")]
    Parse(#[source] ::geojson::Error),
    /// Text whose parsed form would take more memory than geocube allows.
    #[error(
        "the {len}-byte GeoJSON would take about {} MiB parsed, more than {} MiB",
        .cost >> 20,
        MAX_GEOJSON_TEXT_COST >> 20
    )]
    TooLarge {
        /// Bytes of text.
        len: usize,
        /// [`json_cost`] of the text.
        cost: usize,
    },
    /// A geometry object that does not parse.
    #[error("not a GeoJSON geometry: {0}")]
    NotAGeometry(#[source] serde_json::Error),
    /// A single feature without a geometry.
    #[error("the GeoJSON feature has no geometry")]
    FeatureWithoutGeometry,
    /// No geometry at all (an empty collection, or features without one).
    #[error("the GeoJSON holds no geometry")]
    NoGeometry,
    /// A position with fewer than two numbers.
    #[error("position {0:?} needs at least two coordinates")]
    ShortPosition(Vec<f64>),
    /// The `geojson` crate cannot turn the geometry into a `geo` one.
    #[error("cannot be used: {0}")]
    Unconvertible(#[source] ::geojson::Error),
    /// A geometry without coordinates.
    #[error("it has no coordinates")]
    NoCoordinates,
    /// A coordinate that is NaN or infinite.
    #[error("coordinate ({x}, {y}) is not finite")]
    NotFinite {
        /// Easting or longitude.
        x: f64,
        /// Northing or latitude.
        y: f64,
    },
    /// A footprint that is not a Polygon or MultiPolygon.
    #[error("geometry type {0} is not a Polygon or MultiPolygon")]
    NotPolygonal(String),
    /// A polygon without rings.
    #[error("a polygon needs at least one ring")]
    NoRing,
    /// A polygon ring that cannot close an area.
    #[error("a polygon ring needs at least 4 positions, got {0}")]
    ShortRing(usize),
    /// A MultiPolygon without polygons.
    #[error("empty MultiPolygon")]
    EmptyMultiPolygon,
    /// A bbox that is not 4 or 6 numbers.
    #[error("bbox {0} needs 4 or 6 numbers")]
    Bbox(Value),
    /// The geometry at this index of a collection.
    #[error("GeoJSON geometry #{index}: {source}")]
    Member {
        /// Its place among the text's geometries.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: Box<GeoJsonError>,
    },
}

type Result<T, E = GeoJsonError> = std::result::Result<T, E>;

/// Memory a JSON document from outside (a STAC page or item, a GeoJSON
/// AOI) may take once parsed, as [`json_cost`] estimates it. serde_json's `Value` costs 32 bytes a value and an array or object
/// about 250 more (measured: 147 MB for 1 MiB of nested one-element arrays,
/// `[[[0]]]`), so the 64 MiB a body may have could take 9 GB. 32 MiB is
/// three times the densest page geocube asks for (100 ArcticDEM items of
/// 250 vertices, about 10 MiB).
pub const MAX_JSON_COST: usize = 32 << 20;

/// [`MAX_JSON_COST`] for a GeoJSON text ([`geometries_from_str`], the AOIs
/// users give): four times more, as an area of interest may be more
/// detailed than a page of footprints (about 4 MiB of dense coordinates).
pub const MAX_GEOJSON_TEXT_COST: usize = 4 * MAX_JSON_COST;

/// An estimate of the memory of `bytes` parsed as a `serde_json::Value`
/// (or the `geojson` crate's objects, built from one): 32 bytes per
/// value (each follows the start, a `[`, a `,` or a `:`) and 256 more per
/// array or object, counted outside strings, plus the text itself for the
/// strings.
#[must_use]
pub fn json_cost(bytes: &[u8]) -> usize {
    let (mut values, mut containers) = (1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                containers += 1;
                values += 1;
            }
            b',' | b':' => values += 1,
            _ => {}
        }
    }
    values
        .saturating_mul(32)
        .saturating_add(containers.saturating_mul(256))
        .saturating_add(bytes.len())
}

/// The geometries of a GeoJSON `Geometry`, `Feature` or
/// `FeatureCollection` text, in order; features without a geometry are
/// skipped in a collection.
///
/// # Errors
/// [`GeoJsonError::TooLarge`] for text [`json_cost`] puts over
/// [`MAX_GEOJSON_TEXT_COST`]; [`GeoJsonError::Parse`] for text that is not GeoJSON;
/// [`GeoJsonError::FeatureWithoutGeometry`], [`GeoJsonError::NoGeometry`];
/// [`GeoJsonError::Member`] naming the first geometry that fails the
/// checks of [`geometry_from_value`].
pub fn geometries_from_str(s: &str) -> Result<Vec<Geometry<f64>>> {
    let cost = json_cost(s.as_bytes());
    if cost > MAX_GEOJSON_TEXT_COST {
        return Err(GeoJsonError::TooLarge { len: s.len(), cost });
    }
    let raw: Vec<::geojson::Geometry> =
        match ::geojson::GeoJson::from_str(s).map_err(GeoJsonError::Parse)? {
            ::geojson::GeoJson::Geometry(g) => vec![g],
            ::geojson::GeoJson::Feature(f) => {
                vec![f.geometry.ok_or(GeoJsonError::FeatureWithoutGeometry)?]
            }
            ::geojson::GeoJson::FeatureCollection(fc) => {
                fc.features.into_iter().filter_map(|f| f.geometry).collect()
            }
        };
    if raw.is_empty() {
        return Err(GeoJsonError::NoGeometry);
    }
    raw.into_iter()
        .enumerate()
        .map(|(index, g)| {
            checked(g).map_err(|e| GeoJsonError::Member {
                index,
                source: Box::new(e),
            })
        })
        .collect()
}

/// A GeoJSON geometry object (a parsed JSON value) as a `geo` geometry.
///
/// # Errors
/// [`GeoJsonError::NotAGeometry`] when `v` is not a geometry object;
/// [`GeoJsonError::ShortPosition`] for a position with fewer than two
/// numbers; [`GeoJsonError::Unconvertible`], [`GeoJsonError::NoCoordinates`]
/// and [`GeoJsonError::NotFinite`].
pub fn geometry_from_value(v: &Value) -> Result<Geometry<f64>> {
    // Deserialised from the borrowed value: a clone of a large footprint
    // would double what a hostile item costs.
    let g = ::geojson::Geometry::deserialize(v).map_err(GeoJsonError::NotAGeometry)?;
    checked(g)
}

/// A footprint: a GeoJSON Polygon or MultiPolygon object whose polygons
/// each have at least one ring of at least four positions.
///
/// # Errors
/// As [`geometry_from_value`]; [`GeoJsonError::NotPolygonal`],
/// [`GeoJsonError::NoRing`], [`GeoJsonError::ShortRing`] and
/// [`GeoJsonError::EmptyMultiPolygon`].
pub fn polygonal_from_value(v: &Value) -> Result<Geometry<f64>> {
    // Deserialised from the borrowed value: a clone of a large footprint
    // would double what a hostile item costs.
    let g = ::geojson::Geometry::deserialize(v).map_err(GeoJsonError::NotAGeometry)?;
    use ::geojson::GeometryValue as V;
    let rings_ok = |rings: &[Vec<::geojson::Position>]| match rings {
        [] => Err(GeoJsonError::NoRing),
        _ => rings.iter().try_for_each(|r| {
            if r.len() < 4 {
                Err(GeoJsonError::ShortRing(r.len()))
            } else {
                Ok(())
            }
        }),
    };
    match &g.value {
        V::Polygon { coordinates } => rings_ok(coordinates)?,
        V::MultiPolygon { coordinates } if coordinates.is_empty() => {
            return Err(GeoJsonError::EmptyMultiPolygon);
        }
        V::MultiPolygon { coordinates } => {
            coordinates.iter().try_for_each(|p| rings_ok(p))?;
        }
        other => return Err(GeoJsonError::NotPolygonal(other.type_name().to_owned())),
    }
    checked(g)
}

/// A GeoJSON (or STAC) `bbox`, `[w, s, e, n]` or `[w, s, zmin, e, n, zmax]`,
/// as a polygon; one that crosses the antimeridian (`w > e`, RFC 7946
/// § 5.2) as a MultiPolygon of its two sides.
///
/// # Errors
/// [`GeoJsonError::Bbox`] when `v` is not an array of 4 or 6 numbers.
pub fn bbox_from_value(v: &Value) -> Result<Geometry<f64>> {
    let nums: Vec<f64> = v
        .as_array()
        .ok_or_else(|| GeoJsonError::Bbox(v.clone()))?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let (w, s, e, n) = match nums.as_slice() {
        [w, s, e, n] | [w, s, _, e, n, _] => (*w, *s, *e, *n),
        _ => return Err(GeoJsonError::Bbox(v.clone())),
    };
    let rect = |a: f64, b: f64| Rect::new(Coord { x: a, y: s }, Coord { x: b, y: n }).to_polygon();
    Ok(if w <= e {
        Geometry::Polygon(rect(w, e))
    } else {
        Geometry::MultiPolygon(MultiPolygon::new(vec![rect(w, 180.0), rect(-180.0, e)]))
    })
}

/// A MultiPolygon as a GeoJSON geometry object.
#[must_use]
pub fn multipolygon_to_value(m: &MultiPolygon<f64>) -> Value {
    Value::from(&::geojson::GeometryValue::from(m))
}

/// A polygon as a GeoJSON geometry object.
#[must_use]
pub fn polygon_to_value(p: &Polygon<f64>) -> Value {
    Value::from(&::geojson::GeometryValue::from(p))
}

/// The checks the `geojson` crate lacks, then its conversion to `geo`:
/// every position has two numbers, and the geometry has coordinates, all
/// finite.
///
/// # Errors
/// [`GeoJsonError::ShortPosition`], [`GeoJsonError::Unconvertible`],
/// [`GeoJsonError::NoCoordinates`] and [`GeoJsonError::NotFinite`].
fn checked(g: ::geojson::Geometry) -> Result<Geometry<f64>> {
    check_positions(&g.value)?;
    let g = Geometry::<f64>::try_from(g).map_err(GeoJsonError::Unconvertible)?;
    if g.coords_count() == 0 {
        return Err(GeoJsonError::NoCoordinates);
    }
    if let Some(c) = g
        .coords_iter()
        .find(|c| !c.x.is_finite() || !c.y.is_finite())
    {
        return Err(GeoJsonError::NotFinite { x: c.x, y: c.y });
    }
    Ok(g)
}

/// Every position must have at least two (x, y) numbers.
fn check_positions(v: &::geojson::GeometryValue) -> Result<()> {
    use ::geojson::GeometryValue as V;
    let pos = |p: &::geojson::Position| {
        if p.len() < 2 {
            Err(GeoJsonError::ShortPosition(p.as_slice().to_vec()))
        } else {
            Ok(())
        }
    };
    let line = |l: &Vec<::geojson::Position>| l.iter().try_for_each(pos);
    let poly = |p: &Vec<Vec<::geojson::Position>>| p.iter().try_for_each(line);
    match v {
        V::Point { coordinates } => pos(coordinates),
        V::MultiPoint { coordinates } | V::LineString { coordinates } => line(coordinates),
        V::MultiLineString { coordinates } | V::Polygon { coordinates } => poly(coordinates),
        V::MultiPolygon { coordinates } => coordinates.iter().try_for_each(poly),
        V::GeometryCollection { geometries } => geometries
            .iter()
            .try_for_each(|g| check_positions(&g.value)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_cost_counts_values_and_containers_outside_strings() {
        assert_eq!(json_cost(b"0"), 32 + 1);
        assert_eq!(json_cost(b"[0,1]"), 3 * 32 + 256 + 5);
        // Brackets, commas and escaped quotes inside strings are text.
        let s = br#"["[,{:\"]"]"#;
        assert_eq!(json_cost(s), 2 * 32 + 256 + s.len());
        // A dense STAC page is far below the cap.
        let page = json!({"features": vec![json!({
            "geometry": {"coordinates": vec![[-179.709_160_977_649_47, 69.633_573_250_140_33]; 250]}
        }); 100]});
        let text = serde_json::to_vec(&page).unwrap();
        assert!(json_cost(&text) < MAX_JSON_COST / 3, "{}", json_cost(&text));
    }

    #[test]
    fn short_positions_are_errors_not_panics() {
        for bad in [
            json!({"type": "LineString", "coordinates": [[0, 0], [1]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}),
            json!({"type": "MultiPoint", "coordinates": [[0, 0], [1]]}),
            json!({"type": "MultiLineString", "coordinates": [[[0, 0], [1]]]}),
            json!({"type": "MultiPolygon", "coordinates": [[[[1, 2], [3]]]]}),
            json!({"type": "GeometryCollection", "geometries": [
                {"type": "LineString", "coordinates": [[0, 0], [5]]}
            ]}),
        ] {
            assert!(
                matches!(
                    geometry_from_value(&bad),
                    Err(GeoJsonError::ShortPosition(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn footprints_round_trip_and_errors() {
        let v =
            json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]});
        let Geometry::MultiPolygon(m) = polygonal_from_value(&v).unwrap() else {
            panic!()
        };
        assert_eq!(
            polygonal_from_value(&multipolygon_to_value(&m)).unwrap(),
            Geometry::MultiPolygon(m.clone())
        );
        assert_eq!(
            polygonal_from_value(&polygon_to_value(&m.0[0])).unwrap(),
            Geometry::Polygon(m.0[0].clone())
        );
        for bad in [
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": "x"}),
            json!({"type": "Polygon", "coordinates": []}),
            json!({"type": "Polygon"}),
            json!({"type": "Point", "coordinates": [0, 0]}),
            json!({"coordinates": []}),
            json!({"type": "MultiPolygon", "coordinates": []}),
        ] {
            assert!(polygonal_from_value(&bad).is_err(), "{bad}");
        }
        assert!(matches!(
            bbox_from_value(&json!([170, 60, -170, 70])),
            Ok(Geometry::MultiPolygon(_))
        ));
        assert!(matches!(
            bbox_from_value(&json!([0, 60, 1, 5, 70, 9])),
            Ok(Geometry::Polygon(_))
        ));
        assert!(bbox_from_value(&json!([1, 2])).is_err());
    }
}
