//! `Crs` against pyproj: transformed points, WKT2 and CF attributes from
//! `tests/data/crs_vectors.json` (written by `tools/make_crs_vectors.py`;
//! CI does not run pyproj).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use geocube_core::Crs;
use serde_json::Value;

/// Projected coordinates must agree to 1 mm.
const TOL_M: f64 = 1e-3;
/// Geographic coordinates must agree to 1e-9 degrees (about 0.1 mm).
const TOL_DEG: f64 = 1e-9;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/crs_vectors.json");
    let text = std::fs::read_to_string(path).expect("read crs_vectors.json");
    serde_json::from_str(&text).expect("parse crs_vectors.json")
}

fn entries(v: &Value) -> &Vec<Value> {
    v["crs"].as_array().expect("crs array")
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn lon_diff(a: f64, b: f64) -> f64 {
    ((a - b + 540.0).rem_euclid(360.0) - 180.0).abs()
}

#[test]
fn covers_the_required_codes() {
    let v = vectors();
    let codes: Vec<u64> = entries(&v)
        .iter()
        .map(|e| e["epsg"].as_u64().unwrap())
        .collect();
    for c in [4326, 3413, 3995, 3857, 32601, 32633, 32660, 32701, 32760] {
        assert!(codes.contains(&c), "missing EPSG:{c}");
    }
    assert_eq!(v["utm_wkt2"].as_object().unwrap().len(), 120);
}

#[test]
fn forward_points_match_pyproj() {
    let v = vectors();
    let wgs84 = Crs::wgs84();
    let mut checked = 0;
    for e in entries(&v) {
        let code = u32::try_from(e["epsg"].as_u64().unwrap()).unwrap();
        let crs = Crs::from_epsg(code).unwrap();
        for p in e["forward"].as_array().unwrap() {
            let (lon, lat, x, y) = (f(&p[0]), f(&p[1]), f(&p[2]), f(&p[3]));
            let mut pts = [(lon, lat)];
            wgs84
                .transform_points(&crs, &mut pts)
                .unwrap_or_else(|err| panic!("EPSG:{code} ({lon}, {lat}): {err}"));
            let (gx, gy) = pts[0];
            if crs.is_geographic() {
                assert!(
                    lon_diff(gx, x) < TOL_DEG && (gy - y).abs() < TOL_DEG,
                    "EPSG:{code} ({lon}, {lat}): got ({gx}, {gy}), pyproj ({x}, {y})"
                );
            } else {
                assert!(
                    (gx - x).abs() < TOL_M && (gy - y).abs() < TOL_M,
                    "EPSG:{code} ({lon}, {lat}): got ({gx}, {gy}), pyproj ({x}, {y}), diff ({}, {})",
                    gx - x,
                    gy - y
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} points");
}

#[test]
fn inverse_points_match_pyproj() {
    let v = vectors();
    let wgs84 = Crs::wgs84();
    for e in entries(&v) {
        let code = u32::try_from(e["epsg"].as_u64().unwrap()).unwrap();
        let crs = Crs::from_epsg(code).unwrap();
        for p in e["inverse"].as_array().unwrap() {
            let (x, y, lon, lat) = (f(&p[0]), f(&p[1]), f(&p[2]), f(&p[3]));
            let mut pts = [(x, y)];
            crs.transform_points(&wgs84, &mut pts)
                .unwrap_or_else(|err| panic!("EPSG:{code} ({x}, {y}): {err}"));
            let (glon, glat) = pts[0];
            // Longitude is meaningless at a pole.
            let lon_ok = lat.abs() > 90.0 - 1e-9 || lon_diff(glon, lon) < TOL_DEG;
            assert!(
                lon_ok && (glat - lat).abs() < TOL_DEG,
                "EPSG:{code} ({x}, {y}): got ({glon}, {glat}), pyproj ({lon}, {lat}), diff ({}, {})",
                lon_diff(glon, lon),
                glat - lat
            );
        }
    }
}

#[test]
fn wkt2_matches_pyproj_exactly() {
    let v = vectors();
    for e in entries(&v) {
        let code = u32::try_from(e["epsg"].as_u64().unwrap()).unwrap();
        assert_eq!(
            Crs::from_epsg(code).unwrap().wkt2(),
            e["wkt2"].as_str().unwrap(),
            "EPSG:{code}"
        );
    }
    for (code, wkt) in v["utm_wkt2"].as_object().unwrap() {
        let crs: Crs = format!("EPSG:{code}").parse().unwrap();
        assert_eq!(crs.wkt2(), wkt.as_str().unwrap(), "EPSG:{code}");
    }
}

#[test]
fn cf_attributes_match_pyproj() {
    let v = vectors();
    for e in entries(&v) {
        let code = u32::try_from(e["epsg"].as_u64().unwrap()).unwrap();
        let ours = Crs::from_epsg(code).unwrap().cf_attributes();
        let theirs = e["cf"].as_object().unwrap();
        // rioxarray adds `spatial_ref` (the same WKT) beside pyproj's dict.
        assert_eq!(
            ours.get("spatial_ref"),
            theirs.get("crs_wkt"),
            "EPSG:{code} spatial_ref"
        );
        let mut keys: Vec<&String> = ours.keys().filter(|k| *k != "spatial_ref").collect();
        let mut expected: Vec<&String> = theirs.keys().collect();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected, "EPSG:{code} CF keys");
        for (k, want) in theirs {
            let got = &ours[k];
            match (got.as_f64(), want.as_f64()) {
                (Some(g), Some(w)) => {
                    assert!(
                        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                        "EPSG:{code} {k}: {g} vs {w}"
                    );
                }
                _ => assert_eq!(got, want, "EPSG:{code} {k}"),
            }
        }
    }
}

#[test]
fn fallback_wkt_for_other_codes() {
    // Not templated: crs-definitions' WKT1, which GDAL and rioxarray accept.
    let crs = Crs::from_epsg(3031).unwrap();
    let wkt = crs.wkt2();
    assert!(
        wkt.starts_with("PROJCS[\"WGS 84 / Antarctic Polar Stereographic\""),
        "{wkt}"
    );
    let cf = crs.cf_attributes();
    assert_eq!(cf["grid_mapping_name"], "polar_stereographic");
    assert_eq!(cf["standard_parallel"], -71.0);
    assert_eq!(cf["crs_wkt"], Value::String(wkt));
}
