//! Fuzz targets of what users hand geocube-core: GeoJSON areas of interest
//! (read, reprojected and split at the antimeridian, as a load does), STAC
//! footprints and bboxes, times of interest and CRS strings (PROJ strings
//! compiled by proj4rs, then used to transform points).
//!
//! Mutations of valid seeds through `geocube_testkit::fuzz` (see
//! geocube-sources' `tests/fuzz.rs` for the TIFF, STAC and index targets):
//! every entry point returns `Ok` or a typed error, never panics, within
//! its allocation budget and time. `cargo xtask fuzz` runs them long.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use geocube_core::crs::split_at_antimeridian;
use geocube_core::geojson::{MAX_JSON_COST, bbox_from_value, json_cost, polygonal_from_value};
use geocube_core::toi::TimeMethod;
use geocube_core::{Aoi, Crs, Error, Toi};
use geocube_testkit::fuzz::alloc::CountingAlloc;
use geocube_testkit::fuzz::bytes::{At, byte_mutations, mutate};
use geocube_testkit::fuzz::json::{TextMutation, json_edits, text_mutation};
use geocube_testkit::fuzz::{self, Budget};
use proptest::prelude::*;
use serde_json::{Value, json};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

// ------------------------------------------------------------- GeoJSON

fn geojson_seeds() -> Vec<Value> {
    let ring = json!([
        [-150.5, 70.1],
        [-150.0, 70.1],
        [-150.0, 70.3],
        [-150.5, 70.3],
        [-150.5, 70.1]
    ]);
    vec![
        json!({"type": "Polygon", "coordinates": [ring]}),
        // Across the antimeridian, with a hole.
        json!({"type": "MultiPolygon", "coordinates": [
            [[[179.0, 60.0], [180.0, 60.0], [180.0, 61.0], [179.0, 61.0], [179.0, 60.0]]],
            [[[-180.0, 60.0], [-179.0, 60.0], [-179.0, 61.0], [-180.0, 61.0], [-180.0, 60.0]],
             [[-179.8, 60.2], [-179.5, 60.2], [-179.5, 60.5], [-179.8, 60.2]]]
        ]}),
        json!({"type": "Feature", "properties": {"name": "x"}, "geometry": {"type": "Point", "coordinates": [10.0, 70.0]}}),
        json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": null, "geometry": {"type": "LineString", "coordinates": [[0.0, 89.0], [90.0, 89.5], [180.0, 89.0]]}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}},
            {"type": "Feature", "properties": {}, "geometry": null}
        ]}),
        json!({"type": "GeometryCollection", "geometries": [
            {"type": "MultiPoint", "coordinates": [[0.0, 0.0], [1.0, 1.0]]},
            {"type": "MultiLineString", "coordinates": [[[-45.0, 85.0], [45.0, 85.0]]]}
        ]}),
    ]
}

/// The bound of the GeoJSON target, proportional to what geocube accepts:
/// an AOI text is refused when its parse would take more than 128 MiB as
/// estimated (`MAX_GEOJSON_TEXT_COST`, `geojson.rs`; the true cost was
/// within 1.25 times the estimate on every input measured), and
/// reprojecting densifies to at most 2²⁰ vertices (`crs/reproject.rs`,
/// 16 MiB a copy). No single block may pass 64 MiB.
const GEOJSON_BUDGET: Budget = Budget {
    largest: 64 << 20,
    peak: 160 << 20,
    time: Duration::from_secs(20),
};

#[test]
fn fuzz_geojson_aois() {
    let seeds = geojson_seeds();
    let polar = Crs::from_epsg(3413).unwrap();
    fuzz::run(
        "geojson-aoi",
        160,
        GEOJSON_BUDGET,
        (0..seeds.len(), json_edits(4)),
        |(i, edits)| String::from_utf8_lossy(&edits.apply(&seeds[*i])).into_owned(),
        |text| {
            // STAC footprints and bboxes take values parsed by the client,
            // which refuses documents over MAX_JSON_COST first.
            let parsed = (json_cost(text.as_bytes()) <= MAX_JSON_COST)
                .then(|| serde_json::from_str::<Value>(&text).ok())
                .flatten();
            if let Some(v) = parsed {
                let _ = polygonal_from_value(&v);
                let _ = bbox_from_value(&v);
                if let Some(b) = v.get("bbox") {
                    let _ = bbox_from_value(b);
                }
            }
            let aoi = match Aoi::from_geojson_str(&text, Crs::wgs84()) {
                Ok(a) => a,
                Err(Error::InvalidAoi(_)) => return Ok("refused"),
                Err(e) => return Err(format!("not an AOI error: {e:?}")),
            };
            // What a load does with it: bounds in the cube's CRS, lon/lat
            // geometries split at the antimeridian for a STAC search.
            let typed = |e: &Error| matches!(e, Error::Transform { .. } | Error::InvalidAoi(_));
            match aoi.bounds_in(&polar) {
                Ok(b)
                    if !(b.left.is_finite()
                        && b.right.is_finite()
                        && b.bottom.is_finite()
                        && b.top.is_finite()) =>
                {
                    return Err(format!("non-finite bounds {b:?}"));
                }
                Ok(_) => {}
                Err(e) if typed(&e) => {}
                Err(e) => return Err(format!("bounds_in: {e:?}")),
            }
            match aoi.geometries_in(&Crs::wgs84()) {
                Ok(g) => {
                    let _ = split_at_antimeridian(&g);
                    Ok("read-and-reprojected")
                }
                Err(e) if typed(&e) => Ok("not-reprojectable"),
                Err(e) => Err(format!("geometries_in: {e:?}")),
            }
        },
    );
}

// ----------------------------------------------------------------- TOI

const TOI_SEEDS: &[&str] = &[
    "2020-06-01",
    "2020-06-01T12:00:00Z",
    "2020-06-01T12:00:00+05:30",
    "2020-06-01 12:00",
    "2020",
    "2019-01-01/2021-12-31",
    "2020-01-01/..",
    "../2020",
    "2019,2020-06-01,2021-01-01T00:00:00Z",
    "all",
];

/// Edits of a text: byte mutations, or a number replaced by a token.
fn text_edits() -> BoxedStrategy<Vec<TextMutation>> {
    proptest::collection::vec(text_mutation(), 1..=4).boxed()
}

/// Characters written over a seed's: each keeps a time or a PROJ string
/// close to valid (a month 13, a 9-digit year, a doubled separator).
const CHARS: &str = "0123456789:-/,.+ TZe=";

/// Up to four characters of the seed overwritten, inserted or removed.
fn char_edits() -> BoxedStrategy<Vec<(At, u8, char)>> {
    proptest::collection::vec(
        (
            any::<u32>().prop_map(At),
            0u8..3,
            proptest::sample::select(CHARS.chars().collect::<Vec<_>>()),
        ),
        1..=4,
    )
    .boxed()
}

fn apply_chars(seed: &str, edits: &[(At, u8, char)]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for (at, op, c) in edits {
        let i = at.of(chars.len());
        match op {
            0 if i < chars.len() => chars[i] = *c,
            1 => chars.insert(i, *c),
            _ if i < chars.len() => {
                chars.remove(i);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn apply_text(seed: &str, edits: &[TextMutation]) -> String {
    use geocube_testkit::fuzz::json::{JsonEdits, JsonMutation};
    // The JSON helper's text edits, applied to a JSON string holding the
    // seed, then unquoted: the same tokens and byte edits for any text.
    let doc = JsonEdits {
        structure: Vec::<JsonMutation>::new(),
        text: edits.to_vec(),
    }
    .apply(&Value::String(seed.to_owned()));
    let text = String::from_utf8_lossy(&doc).into_owned();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map_or(text.clone(), str::to_owned)
}

fn axis() -> Vec<DateTime<Utc>> {
    [
        "2019-01-01T00:00:00Z",
        "2020-01-01T00:00:00Z",
        "2021-06-30T12:00:00Z",
    ]
    .iter()
    .map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc))
    .collect()
}

#[test]
fn fuzz_toi_strings() {
    let axis = axis();
    fuzz::run(
        "toi",
        1024,
        Budget::DEFAULT,
        prop_oneof![
            3 => (0..TOI_SEEDS.len(), char_edits()).prop_map(|(i, e)| apply_chars(TOI_SEEDS[i], &e)),
            2 => (0..TOI_SEEDS.len(), text_edits()).prop_map(|(i, e)| apply_text(TOI_SEEDS[i], &e)),
            1 => "[0-9:/,. TZ+-]{0,40}",
            1 => any::<String>(),
        ],
        Clone::clone,
        |text| {
            let toi = match Toi::parse(&text) {
                Ok(t) => t,
                Err(Error::InvalidToi(_)) => return Ok("refused"),
                Err(e) => return Err(format!("not a TOI error: {e:?}")),
            };
            for m in [TimeMethod::Nearest, TimeMethod::Pad, TimeMethod::Backfill] {
                match toi.select(&axis, m) {
                    Ok(ix)
                        if ix.windows(2).all(|w| w[0] < w[1])
                            && ix.iter().all(|&i| i < axis.len()) => {}
                    Ok(ix) => return Err(format!("{toi:?} selected {ix:?}")),
                    Err(Error::NoMatchingTime { .. }) => {}
                    Err(e) => return Err(format!("select: {e:?}")),
                }
            }
            // Printing is what error messages do with it.
            let _ = toi.to_string();
            Ok("parsed")
        },
    );
}

// ----------------------------------------------------------------- CRS

const CRS_SEEDS: &[&str] = &[
    "EPSG:3413",
    "epsg::4326",
    "urn:ogc:def:crs:EPSG::32633",
    "3857",
    "WGS84",
    "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs",
    "+proj=utm +zone=33 +south +datum=WGS84 +units=m",
    "+proj=laea +lat_0=90 +lon_0=0 +x_0=0 +y_0=0 +ellps=WGS84 +units=m",
    "+proj=longlat +ellps=GRS80 +towgs84=0,0,0 +no_defs",
    "+proj=merc +lon_0=0 +k=1 +x_0=0 +y_0=0 +a=6378137 +b=6378137",
    "+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9996 +x_0=500000 +y_0=0 +ellps=intl",
    "PROJCRS[\"x\"]",
];

#[test]
fn fuzz_crs_strings() {
    let wgs84 = Crs::wgs84();
    fuzz::run(
        "crs",
        768,
        Budget::DEFAULT,
        prop_oneof![
            4 => (0..CRS_SEEDS.len(), char_edits()).prop_map(|(i, e)| apply_chars(CRS_SEEDS[i], &e)),
            3 => (0..CRS_SEEDS.len(), text_edits()).prop_map(|(i, e)| apply_text(CRS_SEEDS[i], &e)),
            1 => (0..CRS_SEEDS.len(), byte_mutations(3))
                .prop_map(|(i, m)| String::from_utf8_lossy(&mutate(CRS_SEEDS[i].as_bytes(), &m)).into_owned()),
            1 => "\\+proj=[a-z]{2,6}( \\+[a-z_0]{1,6}=[0-9.e+-]{1,8}){0,6}",
        ],
        Clone::clone,
        |text| {
            let crs = match text.parse::<Crs>() {
                Ok(c) => c,
                Err(Error::UnknownCrs { .. }) => return Ok("refused"),
                Err(e) => return Err(format!("not a CRS error: {e:?}")),
            };
            let _ = (
                crs.wkt2(),
                crs.cf_attributes(),
                crs.axis_units(),
                crs.to_string(),
            );
            let mut there = [(10.0, 70.0), (-45.0, 89.9), (0.0, 0.0), (179.9, -60.0)];
            let mut back = [(0.0, 0.0), (500_000.0, 7_000_000.0), (-1e7, 1e7)];
            let typed = |r: geocube_core::Result<()>| match r {
                Ok(()) | Err(Error::Transform { .. }) => Ok(()),
                Err(e) => Err(format!("transform: {e:?}")),
            };
            typed(wgs84.transform_points(&crs, &mut there))?;
            typed(crs.transform_points(&wgs84, &mut back))?;
            Ok("parsed-and-used")
        },
    );
}

// ---------------------------------------------------------- regressions

/// geojson-aoi found: a MultiPolygon AOI grown to ~125 000 vertices
/// (1.5 MB of text) was densified 32 times to reproject it, a single
/// 64 MiB block and 157 MB live for its bounds in EPSG:3413. Detailed
/// geometries are now densified less (at most 2²⁰ vertices).
#[test]
fn regression_a_detailed_aoi_is_not_densified_past_a_million_vertices() {
    use geocube_testkit::fuzz::alloc::measure;
    use geocube_testkit::fuzz::json::{JsonEdits, JsonMutation};
    let edits = JsonEdits {
        structure: vec![JsonMutation::Grow {
            node: At(171_798_692),
            len: 20_000,
        }],
        text: vec![],
    };
    let text = String::from_utf8_lossy(&edits.apply(&geojson_seeds()[1])).into_owned();
    let aoi = Aoi::from_geojson_str(&text, Crs::wgs84()).unwrap();
    let polar = Crs::from_epsg(3413).unwrap();
    let (bounds, stats) = measure(|| aoi.bounds_in(&polar));
    assert!(bounds.is_ok());
    assert!(
        stats.largest <= 16 << 20 && stats.peak <= 48 << 20,
        "{stats:?}"
    );
}

/// Found with the geojson-aoi target's inputs (its own parse of them, as
/// a client's, took 183 MB): JSON of nested one-element arrays takes ~150
/// times its text as values, and a GeoJSON AOI's members (`properties`,
/// `coordinates`) are parsed as such values. AOI text whose parse would
/// take over `MAX_GEOJSON_TEXT_COST` is now refused before parsing.
#[test]
fn regression_geojson_that_would_parse_a_hundred_times_larger_is_refused() {
    use geocube_testkit::fuzz::alloc::measure;
    let chain = "[".repeat(100) + &"]".repeat(100);
    let text = format!(
        r#"{{"type": "Feature", "geometry": null, "properties": {{"x": [{}]}}}}"#,
        vec![chain; 5000].join(",")
    );
    assert!(text.len() < 1 << 20);
    let (r, stats) = measure(|| Aoi::from_geojson_str(&text, Crs::wgs84()));
    assert!(
        matches!(&r, Err(Error::InvalidAoi(m)) if m.contains("would take about")),
        "{r:?}"
    );
    assert!(stats.peak < 1 << 20, "{stats:?}");
}
