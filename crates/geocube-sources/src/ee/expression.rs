//! The Earth Engine expression a chunk's `computePixels` request carries.
//!
//! smart-geocubes asks for `ee.ImageCollection(id)[.filterDate(t)]
//! .mosaic().clip(ee.Geometry.Rectangle(chunk bbox))` and reads it through
//! Xee, which adds `.unmask(2147483647, False)` and turns that value back
//! into NaN. This module builds the same graph in the form the official
//! client serialises it (`ee.serializer.encode(..., for_cloud_api=True)`):
//! one inlined value `"0"`, arguments in sorted order, a client-side
//! rectangle as an even-odd `GeometryConstructors.Polygon` of its four
//! corners, and a `datetime` as `Date{value: milliseconds}`. An instant
//! without an end is what `filterDate(t)` sends: Earth Engine reads it as a
//! one-millisecond range from `t`.
//!
//! One departure, on purpose: the polygon says `geodesic: false`. The
//! reference's `ee.Geometry.Rectangle(bbox)` sends no flag, and Earth
//! Engine reads a polygon given as numbers as geodesic: its east-west edges
//! bow poleward, so the clip drops a few rows along each chunk's
//! equatorward edge (about 2 rows of 30 m on a TCTrend chunk at 50° N),
//! which TCTrend's fill then papers over and AlphaEarth leaves NaN. Planar
//! edges clip exactly the chunk the grid asks for.

use chrono::{DateTime, Utc};
use geocube_core::BoundingBox;
use serde_json::{Value, json};

/// Xee's mask value: masked pixels are unmasked to it and read back as NaN
/// (as float32 it is 2147483648.0).
pub const XEE_MASK_VALUE: f64 = 2_147_483_647.0;

/// What one chunk's image is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct MosaicExpression<'a> {
    /// The collection id (`GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL`).
    pub collection: &'a str,
    /// The time step of a temporal cube: `filterDate(time)`.
    pub time: Option<DateTime<Utc>>,
    /// The chunk's footprint in EPSG:4326 (left, bottom, right, top).
    pub clip: BoundingBox,
    /// Cast to float32 first, so that the mask value cannot collide with a
    /// byte band's values (`Image.toFloat`).
    pub to_float: bool,
    /// Unmask to this value, footprint extended (`Image.unmask(v, False)`).
    pub unmask: Option<f64>,
}

fn constant(v: impl Into<Value>) -> Value {
    json!({ "constantValue": v.into() })
}

fn call(name: &str, arguments: Value) -> Value {
    json!({ "functionInvocationValue": { "functionName": name, "arguments": arguments } })
}

/// A number as the client sends it: integral values as integers.
fn number(v: f64) -> Value {
    #[allow(clippy::cast_possible_truncation)]
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

impl MosaicExpression<'_> {
    /// The serialised graph: `{"result": "0", "values": {"0": …}}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut collection = call(
            "ImageCollection.load",
            json!({ "id": constant(self.collection) }),
        );
        if let Some(t) = self.time {
            // `datetime` objects serialise as Date{value: float milliseconds}.
            #[allow(clippy::cast_precision_loss)]
            let ms = t.timestamp_millis() as f64;
            let start = call("Date", json!({ "value": constant(ms) }));
            collection = call(
                "Collection.filter",
                json!({
                    "collection": collection,
                    "filter": call("Filter.dateRangeContains", json!({
                        "leftValue": call("DateRange", json!({ "start": start })),
                        "rightField": constant("system:time_start"),
                    })),
                }),
            );
        }
        let mut image = call(
            "ImageCollection.mosaic",
            json!({ "collection": collection }),
        );
        if self.to_float {
            image = call("Image.toFloat", json!({ "value": image }));
        }
        let b = self.clip;
        let polygon = call(
            "GeometryConstructors.Polygon",
            json!({
                "coordinates": constant(json!([[
                    [b.left, b.top], [b.left, b.bottom], [b.right, b.bottom], [b.right, b.top]
                ]])),
                "evenOdd": constant(true),
                "geodesic": constant(false),
            }),
        );
        image = call("Image.clip", json!({ "geometry": polygon, "input": image }));
        if let Some(v) = self.unmask {
            image = call(
                "Image.unmask",
                json!({
                    "input": image,
                    "sameFootprint": constant(false),
                    "value": call("Image.constant", json!({ "value": constant(number(v)) })),
                }),
            );
        }
        json!({ "result": "0", "values": { "0": image } })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Example A of the official client's output (earthengine-api 1.7.50,
    /// `ee.ImageCollection("X").filterDate("2020-01-01", "2021-01-01")
    /// .mosaic().clip(ee.Geometry.Rectangle([10.0, 20.0, 11.5, 21.25]))`),
    /// without the date filter, plus `geodesic: false`.
    #[test]
    fn matches_the_official_serialisation() {
        let e = MosaicExpression {
            collection: "X",
            time: None,
            clip: BoundingBox::new(10.0, 20.0, 11.5, 21.25),
            to_float: false,
            unmask: None,
        };
        let want: Value = serde_json::from_str(r#"{"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Image.clip", "arguments": {
 "geometry": {"functionInvocationValue": {"functionName": "GeometryConstructors.Polygon", "arguments": {
   "coordinates": {"constantValue": [[[10.0, 21.25], [10.0, 20.0], [11.5, 20.0], [11.5, 21.25]]]},
   "evenOdd": {"constantValue": true}, "geodesic": {"constantValue": false}}}},
 "input": {"functionInvocationValue": {"functionName": "ImageCollection.mosaic", "arguments": {
     "collection": {"functionInvocationValue": {"functionName": "ImageCollection.load", "arguments": {"id": {"constantValue": "X"}}}}}}}}}}}}"#).unwrap();
        assert_eq!(e.to_json(), want);
    }

    #[test]
    fn date_filter_and_unmask() {
        let t = DateTime::parse_from_rfc3339("2017-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let e = MosaicExpression {
            collection: "C",
            time: Some(t),
            clip: BoundingBox::new(0.0, 0.0, 1.0, 1.0),
            to_float: true,
            unmask: Some(XEE_MASK_VALUE),
        };
        let j = e.to_json();
        let top = &j["values"]["0"]["functionInvocationValue"];
        assert_eq!(top["functionName"], "Image.unmask");
        assert_eq!(
            top["arguments"]["value"]["functionInvocationValue"]["arguments"]["value"]["constantValue"],
            2_147_483_647_i64
        );
        let filter = j.pointer("/values/0/functionInvocationValue/arguments/input/functionInvocationValue/arguments/input/functionInvocationValue/arguments/value/functionInvocationValue/arguments/collection/functionInvocationValue/arguments/filter/functionInvocationValue").unwrap();
        assert_eq!(filter["functionName"], "Filter.dateRangeContains");
        assert_eq!(
            filter["arguments"]["leftValue"]["functionInvocationValue"]["arguments"]["start"]["functionInvocationValue"]
                ["arguments"]["value"]["constantValue"],
            1_483_228_800_000.0
        );
    }
}
