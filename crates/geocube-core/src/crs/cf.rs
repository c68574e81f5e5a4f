//! CF grid-mapping attributes of a CRS, as pyproj's `CRS.to_cf()` gives
//! them (and rioxarray writes them on `spatial_ref`).

use serde_json::{Map, Value};

use super::Crs;
use super::wkt2::wkt2_for_epsg;

/// First quoted name after `key[` in a WKT string.
fn wkt_name(wkt: &str, key: &str) -> Option<String> {
    let start = wkt.find(&format!("{key}[\""))? + key.len() + 2;
    let len = wkt[start..].find('"')?;
    Some(wkt[start..start + len].to_owned())
}

/// Numbers following the name in `key["name",a,b`.
fn wkt_numbers(wkt: &str, key: &str) -> Option<(f64, f64)> {
    let start = wkt.find(&format!("{key}[\""))? + key.len() + 2;
    let rest = &wkt[start..];
    let rest = &rest[rest.find('"')? + 2..];
    let mut it = rest.split([',', ']']);
    Some((
        it.next()?.trim().parse().ok()?,
        it.next()?.trim().parse().ok()?,
    ))
}

/// The value of `+key=` in a PROJ string.
fn proj_param(proj4: &str, key: &str) -> Option<String> {
    proj4.split_whitespace().find_map(|t| {
        t.strip_prefix('+')?
            .strip_prefix(key)?
            .strip_prefix('=')
            .map(str::to_owned)
    })
}

fn proj_f64(proj4: &str, key: &str) -> Option<f64> {
    proj_param(proj4, key)?.parse().ok()
}

fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn ins(m: &mut Map<String, Value>, k: &str, v: Value) {
    m.insert(k.to_owned(), v);
}

pub(super) fn cf_attributes(crs: &Crs) -> Map<String, Value> {
    let wkt = crs.wkt2();
    let mut m = Map::new();
    ins(&mut m, "spatial_ref", Value::String(wkt.clone()));
    ins(&mut m, "crs_wkt", Value::String(wkt.clone()));
    let proj4 = crs.proj4();
    let projname = proj_param(proj4, "proj").unwrap_or_default();
    // pyproj has no CF mapping for Popular Visualisation Pseudo Mercator:
    // it writes only `crs_wkt`.
    let pseudo_mercator =
        crs.epsg() == Some(3857) || (projname == "merc" && proj4.contains("+a=6378137 +b=6378137"));
    if pseudo_mercator {
        return m;
    }
    let templated = crs.epsg().is_some_and(|c| wkt2_for_epsg(c).is_some());
    // Ellipsoid and datum.
    let (a, rf, ellps_name, datum_name, geog_name) = if templated || proj4.contains("+datum=WGS84")
    {
        (
            6_378_137.0,
            298.257_223_563,
            "WGS 84".to_owned(),
            "World Geodetic System 1984 ensemble".to_owned(),
            "WGS 84".to_owned(),
        )
    } else {
        let (a, rf) = wkt_numbers(&wkt, "SPHEROID")
            .or_else(|| wkt_numbers(&wkt, "ELLIPSOID"))
            .unwrap_or_else(|| {
                let (a, b) = crs.proj.ellipse_parameters();
                (
                    a,
                    if (a - b).abs() < f64::EPSILON {
                        0.0
                    } else {
                        a / (a - b)
                    },
                )
            });
        let e = wkt_name(&wkt, "SPHEROID")
            .or_else(|| wkt_name(&wkt, "ELLIPSOID"))
            .unwrap_or_default();
        let d = wkt_name(&wkt, "DATUM")
            .map(|d| d.replace('_', " "))
            .unwrap_or_default();
        let g = wkt_name(&wkt, "GEOGCS")
            .or_else(|| wkt_name(&wkt, "BASEGEOGCRS"))
            .unwrap_or_default();
        (a, rf, e, d, g)
    };
    let b = if rf == 0.0 { a } else { a * (1.0 - 1.0 / rf) };
    ins(&mut m, "semi_major_axis", num(a));
    ins(&mut m, "semi_minor_axis", num(b));
    ins(&mut m, "inverse_flattening", num(rf));
    ins(
        &mut m,
        "reference_ellipsoid_name",
        Value::String(ellps_name),
    );
    ins(&mut m, "longitude_of_prime_meridian", num(0.0));
    ins(
        &mut m,
        "prime_meridian_name",
        Value::String("Greenwich".into()),
    );
    ins(&mut m, "geographic_crs_name", Value::String(geog_name));
    ins(&mut m, "horizontal_datum_name", Value::String(datum_name));
    if crs.is_geographic() {
        ins(
            &mut m,
            "grid_mapping_name",
            Value::String("latitude_longitude".into()),
        );
        return m;
    }
    let name = wkt_name(&wkt, "PROJCRS")
        .or_else(|| wkt_name(&wkt, "PROJCS"))
        .unwrap_or_default();
    ins(&mut m, "projected_crs_name", Value::String(name));
    let p = |k: &str| proj_f64(proj4, k);
    let p0 = |k: &str| num(p(k).unwrap_or(0.0));
    match projname.as_str() {
        "stere" | "ups" => {
            ins(
                &mut m,
                "grid_mapping_name",
                Value::String("polar_stereographic".into()),
            );
            let lat0 = if projname == "ups" {
                if proj4.contains("+south") {
                    -90.0
                } else {
                    90.0
                }
            } else {
                p("lat_0").unwrap_or(90.0)
            };
            match p("lat_ts") {
                Some(ts) if (ts.abs() - 90.0).abs() > 1e-12 => {
                    ins(&mut m, "standard_parallel", num(ts));
                    ins(&mut m, "straight_vertical_longitude_from_pole", p0("lon_0"));
                }
                _ => {
                    ins(&mut m, "latitude_of_projection_origin", num(lat0));
                    ins(&mut m, "straight_vertical_longitude_from_pole", p0("lon_0"));
                }
            }
            ins(&mut m, "false_easting", p0("x_0"));
            ins(&mut m, "false_northing", p0("y_0"));
            if p("lat_ts").is_none_or(|ts| (ts.abs() - 90.0).abs() <= 1e-12) {
                ins(
                    &mut m,
                    "scale_factor_at_projection_origin",
                    num(p("k").or_else(|| p("k_0")).unwrap_or(1.0)),
                );
            }
        }
        "utm" | "tmerc" | "etmerc" => {
            ins(
                &mut m,
                "grid_mapping_name",
                Value::String("transverse_mercator".into()),
            );
            let (lat0, lon0, fe, fn_, k) = if projname == "utm" {
                let zone = p("zone").unwrap_or(1.0);
                (
                    0.0,
                    -183.0 + 6.0 * zone,
                    500_000.0,
                    if proj4.contains("+south") {
                        10_000_000.0
                    } else {
                        0.0
                    },
                    0.9996,
                )
            } else {
                (
                    p("lat_0").unwrap_or(0.0),
                    p("lon_0").unwrap_or(0.0),
                    p("x_0").unwrap_or(0.0),
                    p("y_0").unwrap_or(0.0),
                    p("k").or_else(|| p("k_0")).unwrap_or(1.0),
                )
            };
            ins(&mut m, "latitude_of_projection_origin", num(lat0));
            ins(&mut m, "longitude_of_central_meridian", num(lon0));
            ins(&mut m, "false_easting", num(fe));
            ins(&mut m, "false_northing", num(fn_));
            ins(&mut m, "scale_factor_at_central_meridian", num(k));
        }
        "merc" => {
            ins(
                &mut m,
                "grid_mapping_name",
                Value::String("mercator".into()),
            );
            match p("lat_ts") {
                Some(ts) if ts != 0.0 => ins(&mut m, "standard_parallel", num(ts)),
                _ => ins(
                    &mut m,
                    "scale_factor_at_projection_origin",
                    num(p("k").or_else(|| p("k_0")).unwrap_or(1.0)),
                ),
            }
            ins(&mut m, "longitude_of_projection_origin", p0("lon_0"));
            ins(&mut m, "false_easting", p0("x_0"));
            ins(&mut m, "false_northing", p0("y_0"));
        }
        "lcc" | "aea" => {
            let gm = if projname == "lcc" {
                "lambert_conformal_conic"
            } else {
                "albers_conical_equal_area"
            };
            ins(&mut m, "grid_mapping_name", Value::String(gm.into()));
            let sp: Vec<Value> = [p("lat_1"), p("lat_2")]
                .into_iter()
                .flatten()
                .map(num)
                .collect();
            ins(
                &mut m,
                "standard_parallel",
                if sp.len() == 1 {
                    sp[0].clone()
                } else {
                    Value::Array(sp)
                },
            );
            ins(&mut m, "latitude_of_projection_origin", p0("lat_0"));
            ins(&mut m, "longitude_of_central_meridian", p0("lon_0"));
            ins(&mut m, "false_easting", p0("x_0"));
            ins(&mut m, "false_northing", p0("y_0"));
        }
        "laea" => {
            ins(
                &mut m,
                "grid_mapping_name",
                Value::String("lambert_azimuthal_equal_area".into()),
            );
            ins(&mut m, "latitude_of_projection_origin", p0("lat_0"));
            ins(&mut m, "longitude_of_projection_origin", p0("lon_0"));
            ins(&mut m, "false_easting", p0("x_0"));
            ins(&mut m, "false_northing", p0("y_0"));
        }
        // No CF grid mapping: readers use `crs_wkt`.
        _ => {}
    }
    m
}
