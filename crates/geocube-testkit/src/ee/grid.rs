//! The `grid` of a computePixels request (a `PixelGrid`): dimensions, an
//! affine transform and a CRS, and the lon/lat of its pixel centres.
//!
//! Pixel `(col, row)` covers the unit square from `(col, row)` in grid
//! space (PixelIsArea); its centre is `affine · (col + 0.5, row + 0.5, 1)`
//! with the matrix `[[scaleX, shearX, translateX], [shearY, scaleY,
//! translateY]]`, shear included. Centres in a CRS other than EPSG:4326
//! are taken to lon/lat with proj4rs and crs-definitions' PROJ strings.

use proj4rs::Proj;
use serde_json::Value;

/// The CRS of a grid.
#[derive(Debug)]
pub(crate) enum GridCrs {
    /// EPSG:4326: grid coordinates are lon/lat already.
    LonLat,
    /// Any other EPSG code: centres are transformed.
    Other {
        code: u32,
        proj: Box<Proj>,
        wgs84: Box<Proj>,
    },
}

/// A parsed `PixelGrid`.
#[derive(Debug)]
pub(crate) struct PixelGrid {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// `[scaleX, shearX, translateX, shearY, scaleY, translateY]`.
    pub(crate) affine: [f64; 6],
    pub(crate) crs: GridCrs,
    /// The CRS as the request named it (`EPSG:4326`, or `EPSG:n` read
    /// from the WKT).
    pub(crate) crs_name: String,
}

/// Reads an integer that proto3 JSON may send as a number or a string.
fn json_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Reads a double that proto3 JSON may send as a number or a string.
fn json_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A field of a proto3 JSON object, under its lowerCamelCase name or its
/// original snake_case one (parsers accept both).
pub(crate) fn field<'a>(obj: &'a serde_json::Map<String, Value>, camel: &str) -> Option<&'a Value> {
    obj.get(camel).or_else(|| obj.get(&snake_case(camel)))
}

pub(crate) fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Rejects fields of `obj` not in `known` (camelCase names) the way
/// Google's JSON parser does.
pub(crate) fn reject_unknown(
    obj: &serde_json::Map<String, Value>,
    known: &[&str],
    what: &str,
) -> Result<(), String> {
    for k in obj.keys() {
        if !known.iter().any(|n| n == k || snake_case(n) == *k) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at '{what}': Cannot find field."
            ));
        }
    }
    Ok(())
}

/// The EPSG code of a WKT's root (its last top-level `AUTHORITY["EPSG",n]`
/// or `ID["EPSG",n]`).
fn wkt_epsg(wkt: &str) -> Option<u32> {
    let bytes = wkt.as_bytes();
    let mut depth = 0usize;
    let mut code = None;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' {
            in_string = !in_string;
        } else if !in_string {
            match c {
                b'[' | b'(' => {
                    // A keyword that opens at depth 1 is a child of the root.
                    if depth == 1 {
                        let start = wkt[..i].rfind([',', '[', '(']).map_or(0, |p| p + 1);
                        let keyword = wkt[start..i].trim();
                        if keyword.eq_ignore_ascii_case("AUTHORITY")
                            || keyword.eq_ignore_ascii_case("ID")
                        {
                            let rest = &wkt[i + 1..];
                            let end = rest.find([']', ')'])?;
                            let mut parts = rest[..end].split(',');
                            let authority = parts.next()?.trim().trim_matches('"');
                            let number = parts.next()?.trim().trim_matches('"');
                            if authority.eq_ignore_ascii_case("EPSG") {
                                code = number.parse().ok();
                            }
                        }
                    }
                    depth += 1;
                }
                b']' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    code
}

fn parse_crs_code(s: &str) -> Result<u32, String> {
    let (authority, code) = s
        .split_once(':')
        .ok_or_else(|| format!("Invalid crsCode '{s}': expected 'EPSG:<code>'."))?;
    if !authority.eq_ignore_ascii_case("EPSG") {
        return Err(format!(
            "Invalid crsCode '{s}': the emulator knows only EPSG codes."
        ));
    }
    code.parse()
        .map_err(|_| format!("Invalid crsCode '{s}': '{code}' is not a number."))
}

impl PixelGrid {
    /// Parses the request's `grid`; `Err` with the message of a 400.
    pub(crate) fn parse(v: &Value) -> Result<Self, String> {
        let obj = v
            .as_object()
            .ok_or("Invalid JSON payload received. 'grid' must be an object.")?;
        reject_unknown(
            obj,
            &["dimensions", "affineTransform", "crsCode", "crsWkt"],
            "grid",
        )?;
        let dims = field(obj, "dimensions")
            .and_then(Value::as_object)
            .ok_or("grid.dimensions is required.")?;
        reject_unknown(dims, &["width", "height"], "grid.dimensions")?;
        let dim = |name: &str| -> Result<u32, String> {
            // proto3 JSON leaves zeros out: a missing dimension is 0.
            let n = match dims.get(name) {
                None => 0,
                Some(v) => json_int(v)
                    .ok_or_else(|| format!("grid.dimensions.{name} must be an integer."))?,
            };
            u32::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("grid.dimensions.{name} must be positive, got {n}."))
        };
        let (width, height) = (dim("width")?, dim("height")?);
        let affine_obj = field(obj, "affineTransform")
            .and_then(Value::as_object)
            .ok_or("grid.affineTransform is required.")?;
        let names = [
            "scaleX",
            "shearX",
            "translateX",
            "shearY",
            "scaleY",
            "translateY",
        ];
        reject_unknown(affine_obj, &names, "grid.affineTransform")?;
        let mut affine = [0.0; 6];
        for (slot, name) in affine.iter_mut().zip(names) {
            if let Some(v) = field(affine_obj, name) {
                *slot = json_f64(v).filter(|f| f.is_finite()).ok_or_else(|| {
                    format!("grid.affineTransform.{name} must be a finite number.")
                })?;
            }
        }
        let det = affine[0] * affine[4] - affine[1] * affine[3];
        if det == 0.0 {
            return Err("grid.affineTransform is singular.".into());
        }
        let code = match (field(obj, "crsCode"), field(obj, "crsWkt")) {
            (Some(_), Some(_)) => {
                return Err("grid: only one of crsCode and crsWkt may be set.".into());
            }
            (Some(Value::String(s)), None) => parse_crs_code(s)?,
            (None, Some(Value::String(w))) => wkt_epsg(w).ok_or(
                "grid.crsWkt: the emulator needs an EPSG AUTHORITY or ID at the WKT's root.",
            )?,
            (None, None) => return Err("grid: one of crsCode and crsWkt is required.".into()),
            _ => return Err("grid.crsCode and grid.crsWkt must be strings.".into()),
        };
        let crs = if code == 4326 {
            GridCrs::LonLat
        } else {
            let def = u16::try_from(code)
                .ok()
                .and_then(crs_definitions::from_code)
                .ok_or_else(|| format!("Unknown CRS: EPSG:{code}."))?;
            let proj = Proj::from_proj_string(def.proj4)
                .map_err(|e| format!("CRS EPSG:{code} is not supported here: {e}."))?;
            let wgs84 = Proj::from_proj_string(crs_definitions::EPSG_4326.proj4)
                .map_err(|e| format!("WGS 84 is not supported here: {e}."))?;
            GridCrs::Other {
                code,
                proj: Box::new(proj),
                wgs84: Box::new(wgs84),
            }
        };
        Ok(Self {
            width,
            height,
            affine,
            crs,
            crs_name: format!("EPSG:{code}"),
        })
    }

    /// The EPSG code of the grid's CRS.
    pub(crate) fn epsg(&self) -> u32 {
        match &self.crs {
            GridCrs::LonLat => 4326,
            GridCrs::Other { code, .. } => *code,
        }
    }

    /// Whether the CRS is geographic (lon/lat axes).
    pub(crate) fn is_geographic(&self) -> bool {
        match &self.crs {
            GridCrs::LonLat => true,
            GridCrs::Other { proj, .. } => proj.is_latlong(),
        }
    }

    /// The lon/lat (degrees) of the centres of row `row`, into `out`;
    /// `None` where the CRS transform fails.
    pub(crate) fn centres(&self, row: u32, out: &mut Vec<Option<(f64, f64)>>) {
        out.clear();
        let [a, b, c, d, e, f] = self.affine;
        let v = f64::from(row) + 0.5;
        for col in 0..self.width {
            let u = f64::from(col) + 0.5;
            let (x, y) = (a * u + b * v + c, d * u + e * v + f);
            out.push(match &self.crs {
                GridCrs::LonLat => Some((x, y)),
                GridCrs::Other { proj, wgs84, .. } => {
                    let mut p = if proj.is_latlong() {
                        (x.to_radians(), y.to_radians(), 0.0)
                    } else {
                        (x, y, 0.0)
                    };
                    proj4rs::transform::transform(proj, wgs84, &mut p)
                        .ok()
                        .map(|()| (p.0.to_degrees(), p.1.to_degrees()))
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsg_of_wkt_roots() {
        let wkt1 = crs_definitions::EPSG_3413.wkt;
        assert_eq!(wkt_epsg(wkt1), Some(3413));
        let wkt2 = r#"PROJCRS["WGS 84 / UTM zone 7N",BASEGEOGCRS["WGS 84",ID["EPSG",4326]],CONVERSION["UTM zone 7N",ID["EPSG",16007]],ID["EPSG",32607]]"#;
        assert_eq!(wkt_epsg(wkt2), Some(32607));
        assert_eq!(
            wkt_epsg(r#"GEOGCS["x",DATUM["y",AUTHORITY["EPSG","6326"]]]"#),
            None
        );
    }

    #[test]
    fn centres_of_a_sheared_grid() {
        let grid = PixelGrid::parse(&serde_json::json!({
            "dimensions": {"width": 2, "height": 2},
            "affineTransform": {"scaleX": 1.0, "shearX": 0.5, "translateX": 10.0,
                                "shearY": 0.25, "scaleY": -1.0, "translateY": 50.0},
            "crsCode": "EPSG:4326"
        }))
        .expect("valid grid");
        let mut row = Vec::new();
        grid.centres(1, &mut row);
        assert_eq!(row[1], Some((10.0 + 1.5 + 0.75, 50.0 + 0.375 - 1.5)));
    }

    #[test]
    fn polar_stereographic_centres() {
        let grid = PixelGrid::parse(&serde_json::json!({
            "dimensions": {"width": 1, "height": 1},
            "affineTransform": {"scaleX": 2.0, "translateX": -1.0, "scaleY": -2.0, "translateY": 1.0},
            "crsCode": "EPSG:3413"
        }))
        .expect("valid grid");
        let mut row = Vec::new();
        grid.centres(0, &mut row);
        let (_, lat) = row[0].expect("transformed");
        assert!((lat - 90.0).abs() < 1e-6, "{lat}");
    }
}
