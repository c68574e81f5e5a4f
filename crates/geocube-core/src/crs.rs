//! Coordinate reference systems: parsing, point transformation and the CF /
//! WKT2 metadata written beside a cube.
//!
//! Transformations are pure Rust ([`proj4rs`]) driven by the PROJ strings of
//! [`crs_definitions`]; no PROJ database or network is needed.
//!
//! ```
//! use geocube_core::Crs;
//!
//! let wgs84 = Crs::wgs84();
//! let polar: Crs = "EPSG:3413".parse().unwrap();
//! let mut pts = [(-45.0, 90.0)];
//! wgs84.transform_points(&polar, &mut pts).unwrap();
//! assert!(pts[0].0.abs() < 1e-6 && pts[0].1.abs() < 1e-6);
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use geo::{Coord, CoordsIter, Geometry, LineString, MapCoords, Polygon};
use proj4rs::proj::Proj;
use proj4rs::transform::{Transform, TransformClosure};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A coordinate reference system: an optional EPSG code, its PROJ definition
/// and the compiled projection.
///
/// Two CRSs are equal when they have the same EPSG code, or (when either has
/// no code) the same PROJ definition.
#[derive(Clone)]
pub struct Crs {
    epsg: Option<u32>,
    proj4: String,
    proj: Arc<Proj>,
}

impl Crs {
    /// The CRS with this EPSG code, from the definitions of `crs-definitions`
    /// (every UTM zone 326xx/327xx, polar stereographic 3413/3995/3031, web
    /// mercator 3857, WGS 84 4326, ...).
    ///
    /// # Errors
    /// [`Error::UnknownCrs`] when the code is unknown or its PROJ definition
    /// cannot be compiled (geocentric or grid-shift based definitions).
    pub fn from_epsg(code: u32) -> Result<Crs> {
        let unknown = |reason: &str| Error::UnknownCrs {
            crs: format!("EPSG:{code}"),
            reason: reason.to_owned(),
        };
        let short = u16::try_from(code)
            .map_err(|_| unknown("EPSG codes above 65535 are not in the built-in registry"))?;
        let def = crs_definitions::from_code(short)
            .ok_or_else(|| unknown("code not found in the built-in EPSG registry"))?;
        if def.proj4.contains("+proj=geocent") {
            return Err(unknown("geocentric CRSs cannot be used for raster grids"));
        }
        let proj = Proj::from_proj_string(def.proj4)
            .map_err(|e| unknown(&format!("PROJ definition `{}` rejected: {e}", def.proj4)))?;
        Ok(Crs {
            epsg: Some(code),
            proj4: def.proj4.to_owned(),
            proj: Arc::new(proj),
        })
    }

    /// WGS 84 geographic coordinates (EPSG:4326), longitude/latitude in degrees.
    #[must_use]
    pub fn wgs84() -> Crs {
        let proj4 = "+proj=longlat +datum=WGS84 +no_defs";
        match Proj::from_proj_string(proj4) {
            Ok(proj) => Crs {
                epsg: Some(4326),
                proj4: proj4.to_owned(),
                proj: Arc::new(proj),
            },
            // A constant definition that proj4rs always accepts (unit-tested).
            Err(e) => unreachable!("proj4rs rejects the WGS 84 definition: {e}"),
        }
    }

    /// A CRS from a PROJ string (`+proj=stere +lat_0=90 ...`). It has no EPSG
    /// code unless it is textually identical to a known EPSG definition.
    ///
    /// # Errors
    /// [`Error::UnknownCrs`] when proj4rs cannot compile the definition.
    pub fn from_proj4(definition: &str) -> Result<Crs> {
        let normalised = definition.split_whitespace().collect::<Vec<_>>().join(" ");
        let proj = Proj::from_proj_string(&normalised).map_err(|e| Error::UnknownCrs {
            crs: definition.to_owned(),
            reason: format!("invalid PROJ string: {e}"),
        })?;
        if proj.is_geocent() {
            return Err(Error::UnknownCrs {
                crs: definition.to_owned(),
                reason: "geocentric CRSs cannot be used for raster grids".into(),
            });
        }
        Ok(Crs {
            epsg: None,
            proj4: normalised,
            proj: Arc::new(proj),
        })
    }

    /// The EPSG code, when the CRS was created from one.
    #[must_use]
    pub fn epsg(&self) -> Option<u32> {
        self.epsg
    }

    /// Whether coordinates are longitude/latitude in degrees.
    #[must_use]
    pub fn is_geographic(&self) -> bool {
        self.proj.is_latlong()
    }

    /// The PROJ definition string.
    #[must_use]
    pub fn proj4(&self) -> &str {
        &self.proj4
    }

    /// Units of the x and y axes as CF writes them: `("metre", "metre")` for
    /// projected CRSs, `("degrees_east", "degrees_north")` for geographic ones.
    #[must_use]
    pub fn axis_units(&self) -> (&'static str, &'static str) {
        if self.is_geographic() {
            ("degrees_east", "degrees_north")
        } else {
            ("metre", "metre")
        }
    }

    /// Transform `(x, y)` points in place from `self` to `target`. Geographic
    /// coordinates are `(longitude, latitude)` in degrees. Equal CRSs are a
    /// no-op.
    ///
    /// # Errors
    /// [`Error::Transform`] when a point is outside the domain of either
    /// projection or the result is not finite; `points` is then unspecified.
    pub fn transform_points(&self, target: &Crs, points: &mut [(f64, f64)]) -> Result<()> {
        if self == target || points.is_empty() {
            return Ok(());
        }
        let fail = |reason: String| Error::Transform {
            from: self.to_string(),
            to: target.to_string(),
            reason,
        };
        if self.is_geographic() {
            for p in points.iter_mut() {
                *p = (p.0.to_radians(), p.1.to_radians());
            }
        }
        let mut wrapped = Points(points);
        proj4rs::transform::transform(&self.proj, &target.proj, &mut wrapped)
            .map_err(|e| fail(e.to_string()))?;
        let points = wrapped.0;
        if target.is_geographic() {
            for p in points.iter_mut() {
                *p = (p.0.to_degrees(), p.1.to_degrees());
            }
        }
        if let Some(bad) = points.iter().find(|p| !p.0.is_finite() || !p.1.is_finite()) {
            return Err(fail(format!("non-finite result {bad:?}")));
        }
        Ok(())
    }

    /// The CRS as WKT2 (2019), exactly as pyproj 3 `CRS.to_wkt()` prints it for
    /// EPSG 4326, 3413, 3995, 3857 and every WGS 84 UTM zone; for other EPSG
    /// codes the WKT1 of `crs-definitions` (which GDAL and rioxarray accept);
    /// for a bare PROJ string, a WKT1 built from its parameters is not
    /// available and the PROJ string itself is returned.
    #[must_use]
    pub fn wkt2(&self) -> String {
        if let Some(wkt) = self.epsg.and_then(wkt::wkt2_for_epsg) {
            return wkt;
        }
        self.epsg
            .and_then(|c| u16::try_from(c).ok())
            .and_then(crs_definitions::from_code)
            .map_or_else(|| self.proj4.clone(), |d| d.wkt.to_owned())
    }

    /// CF grid-mapping attributes for the `spatial_ref` variable, as pyproj's
    /// `CRS.to_cf()` and rioxarray write them (`crs_wkt`, `spatial_ref`,
    /// `grid_mapping_name`, ellipsoid and projection parameters). The
    /// `GeoTransform` attribute is not included.
    #[must_use]
    pub fn cf_attributes(&self) -> Map<String, Value> {
        wkt::cf_attributes(self)
    }
}

/// Adapts a slice of points to proj4rs's [`Transform`].
struct Points<'a>(&'a mut [(f64, f64)]);

impl Transform for Points<'_> {
    fn transform_coordinates<F: TransformClosure>(
        &mut self,
        f: &mut F,
    ) -> proj4rs::errors::Result<()> {
        for p in self.0.iter_mut() {
            let (x, y, _) = f(p.0, p.1, 0.0)?;
            *p = (x, y);
        }
        Ok(())
    }
}

impl PartialEq for Crs {
    fn eq(&self, other: &Self) -> bool {
        match (self.epsg, other.epsg) {
            (Some(a), Some(b)) => a == b,
            _ => self.proj4 == other.proj4,
        }
    }
}

impl fmt::Debug for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crs({self})")
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.epsg {
            Some(code) => write!(f, "EPSG:{code}"),
            None => f.write_str(&self.proj4),
        }
    }
}

impl FromStr for Crs {
    type Err = Error;

    /// Parses `EPSG:3413` (any case, also `EPSG::3413` and
    /// `urn:ogc:def:crs:EPSG::3413`), a bare code `3413`, or a PROJ string
    /// starting with `+proj=`.
    fn from_str(s: &str) -> Result<Crs> {
        let t = s.trim();
        if t.starts_with("+proj=") || t.starts_with("+init=") {
            return Crs::from_proj4(t);
        }
        let upper = t.to_ascii_uppercase();
        let code = upper
            .strip_prefix("URN:OGC:DEF:CRS:EPSG:")
            .map(|r| r.rsplit(':').next().unwrap_or(r))
            .or_else(|| {
                upper
                    .strip_prefix("EPSG:")
                    .map(|r| r.trim_start_matches(':'))
            })
            .or_else(|| {
                upper
                    .chars()
                    .all(|c| c.is_ascii_digit())
                    .then_some(upper.as_str())
            });
        match code {
            Some(c) => {
                let code: u32 = c.trim().parse().map_err(|_| Error::UnknownCrs {
                    crs: s.to_owned(),
                    reason: format!("`{c}` is not a numeric EPSG code"),
                })?;
                Crs::from_epsg(code).map_err(|e| match e {
                    Error::UnknownCrs { reason, .. } => Error::UnknownCrs {
                        crs: s.to_owned(),
                        reason,
                    },
                    other => other,
                })
            }
            None if upper == "WGS84"
                || upper == "WGS 84"
                || upper == "CRS84"
                || upper == "OGC:CRS84" =>
            {
                Ok(Crs::wgs84())
            }
            None if t.is_empty() => Err(Error::UnknownCrs {
                crs: s.to_owned(),
                reason: "empty CRS string".into(),
            }),
            None if upper.starts_with("PROJCRS")
                || upper.starts_with("GEOGCRS")
                || upper.starts_with("PROJCS")
                || upper.starts_with("GEOGCS") =>
            {
                Err(Error::UnknownCrs {
                    crs: short(t),
                    reason: "WKT is not supported".into(),
                })
            }
            None => Err(Error::UnknownCrs {
                crs: short(t),
                reason: "not an EPSG code nor a PROJ string".into(),
            }),
        }
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_owned()
    }
}

impl Serialize for Crs {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Crs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Reproject a geometry from `from` to `to`. Every segment is first split into
/// `densify` equal pieces (0 or 1 = no densification) so that straight edges
/// follow their curved image in the target CRS.
///
/// No antimeridian handling is done here: a geometry whose image crosses ±180°
/// in a geographic target comes out with a longitude jump (see
/// [`crate::GeoBox::extent_in`] for a footprint that handles it).
///
/// # Errors
/// [`Error::Transform`] when a vertex cannot be transformed.
pub fn reproject_geometry(
    geom: &Geometry<f64>,
    from: &Crs,
    to: &Crs,
    densify: usize,
) -> Result<Geometry<f64>> {
    let dense = densify_geometry(geom, densify);
    if from == to {
        return Ok(dense);
    }
    let mut pts: Vec<(f64, f64)> = dense.coords_iter().map(|c| (c.x, c.y)).collect();
    from.transform_points(to, &mut pts)?;
    // `map_coords` visits coordinates in the same order as `coords_iter`.
    let next = std::cell::Cell::new(0_usize);
    let (pts, next) = (&pts, &next);
    let out = dense.map_coords(|_| {
        let i = next.get();
        next.set(i + 1);
        let (x, y) = pts.get(i).copied().unwrap_or((f64::NAN, f64::NAN));
        Coord { x, y }
    });
    if to.is_geographic() && !from.is_geographic() {
        return Ok(continuous_lonlat(&out));
    }
    Ok(out)
}

/// Make the rings and lines of a lon/lat geometry continuous across the
/// antimeridian (see [`continuous_lonlat_ring`]); a ring that winds around a
/// pole is closed along the pole on the side of its mean latitude.
fn continuous_lonlat(geom: &Geometry<f64>) -> Geometry<f64> {
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
fn wrap180(d: f64) -> f64 {
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

/// Split every segment of `ls` into `n` equal pieces.
pub(crate) fn densify_linestring(ls: &LineString<f64>, n: usize) -> LineString<f64> {
    if n <= 1 || ls.0.len() < 2 {
        return ls.clone();
    }
    let mut out = Vec::with_capacity((ls.0.len() - 1) * n + 1);
    for w in ls.0.windows(2) {
        let (a, b) = (w[0], w[1]);
        for i in 0..n {
            #[allow(clippy::cast_precision_loss)]
            let t = i as f64 / n as f64;
            out.push(Coord {
                x: a.x + (b.x - a.x) * t,
                y: a.y + (b.y - a.y) * t,
            });
        }
    }
    if let Some(last) = ls.0.last() {
        out.push(*last);
    }
    LineString(out)
}

fn densify_polygon(p: &Polygon<f64>, n: usize) -> Polygon<f64> {
    Polygon::new(
        densify_linestring(p.exterior(), n),
        p.interiors()
            .iter()
            .map(|r| densify_linestring(r, n))
            .collect(),
    )
}

/// Split every segment of a geometry into `n` equal pieces.
pub(crate) fn densify_geometry(geom: &Geometry<f64>, n: usize) -> Geometry<f64> {
    use geo::{GeometryCollection, MultiLineString, MultiPolygon};
    if n <= 1 {
        return geom.clone();
    }
    match geom {
        Geometry::Line(l) => {
            Geometry::LineString(densify_linestring(&LineString(vec![l.start, l.end]), n))
        }
        Geometry::LineString(ls) => Geometry::LineString(densify_linestring(ls, n)),
        Geometry::MultiLineString(m) => Geometry::MultiLineString(MultiLineString(
            m.0.iter().map(|l| densify_linestring(l, n)).collect(),
        )),
        Geometry::Polygon(p) => Geometry::Polygon(densify_polygon(p, n)),
        Geometry::MultiPolygon(m) => Geometry::MultiPolygon(MultiPolygon(
            m.0.iter().map(|p| densify_polygon(p, n)).collect(),
        )),
        Geometry::Rect(r) => Geometry::Polygon(densify_polygon(&r.to_polygon(), n)),
        Geometry::Triangle(t) => Geometry::Polygon(densify_polygon(&t.to_polygon(), n)),
        Geometry::GeometryCollection(c) => Geometry::GeometryCollection(GeometryCollection(
            c.0.iter().map(|g| densify_geometry(g, n)).collect(),
        )),
        Geometry::Point(_) | Geometry::MultiPoint(_) => geom.clone(),
    }
}

mod wkt {
    //! WKT2 strings as pyproj 3 (PROJ 9) prints them, and CF grid-mapping
    //! attributes as pyproj's `CRS.to_cf()` gives them.

    use serde_json::{Map, Value};

    use super::Crs;

    const DEG: &str = r#"ANGLEUNIT["degree",0.0174532925199433]"#;
    const METRE: &str = r#"LENGTHUNIT["metre",1]"#;

    /// The WGS 84 datum ensemble and prime meridian shared by every template.
    fn wgs84_datum() -> String {
        let members = [
            "Transit", "G730", "G873", "G1150", "G1674", "G1762", "G2139", "G2296",
        ]
        .iter()
        .map(|m| format!(r#"MEMBER["World Geodetic System 1984 ({m})"]"#))
        .collect::<Vec<_>>()
        .join(",");
        format!(
            r#"ENSEMBLE["World Geodetic System 1984 ensemble",{members},ELLIPSOID["WGS 84",6378137,298.257223563,{METRE}],ENSEMBLEACCURACY[2.0]],PRIMEM["Greenwich",0,{DEG}]"#
        )
    }

    fn base_geog() -> String {
        format!(r#"BASEGEOGCRS["WGS 84",{},ID["EPSG",4326]]"#, wgs84_datum())
    }

    fn param(name: &str, value: &str, unit: &str, id: u32) -> String {
        format!(r#"PARAMETER["{name}",{value},{unit},ID["EPSG",{id}]]"#)
    }

    fn usage(scope: &str, area: &str, bbox: &str) -> String {
        format!(r#"USAGE[SCOPE["{scope}"],AREA["{area}"],BBOX[{bbox}]]"#)
    }

    /// A north-polar stereographic (variant B) CRS on WGS 84.
    fn polar_stereographic_b(
        name: &str,
        conversion: &str,
        lat_ts: i32,
        lon0: i32,
        code: u32,
    ) -> String {
        // Axis directions of the north-polar CS: x points "south" along
        // meridian lon0 + 90, y "south" along lon0 + 180.
        let m1 = lon0 + 90;
        let m2 = (lon0 + 180 + 180).rem_euclid(360) - 180;
        let m2 = if m2 == -180 { 180 } else { m2 };
        format!(
            r#"PROJCRS["{name}",{base},CONVERSION["{conversion}",METHOD["Polar Stereographic (variant B)",ID["EPSG",9829]],{p1},{p2},{p3},{p4}],CS[Cartesian,2],AXIS["easting (X)",south,MERIDIAN[{m1},{DEG}],ORDER[1],{METRE}],AXIS["northing (Y)",south,MERIDIAN[{m2},{DEG}],ORDER[2],{METRE}],{usage},ID["EPSG",{code}]]"#,
            base = base_geog(),
            p1 = param(
                "Latitude of standard parallel",
                &lat_ts.to_string(),
                DEG,
                8832
            ),
            p2 = param("Longitude of origin", &lon0.to_string(), DEG, 8833),
            p3 = param("False easting", "0", METRE, 8806),
            p4 = param("False northing", "0", METRE, 8807),
            usage = usage(
                "Polar research.",
                "Northern hemisphere - north of 60°N onshore and offshore, including Arctic.",
                "60,-180,90,180"
            ),
        )
    }

    fn utm(code: u32) -> Option<String> {
        let (zone, south) = match code {
            32601..=32660 => (code - 32600, false),
            32701..=32760 => (code - 32700, true),
            _ => return None,
        };
        let idx = usize::try_from(zone - 1).ok()? + if south { 60 } else { 0 };
        let (suffix, bbox) = UTM_USAGE.get(idx)?;
        let h = if south { 'S' } else { 'N' };
        let zone_i = i32::try_from(zone).ok()?;
        let lon0 = -183 + 6 * zone_i;
        let (w, e) = (lon0 - 3, lon0 + 3);
        let deg = |v: i32| {
            if v < 0 {
                format!("{}°W", -v)
            } else if v == 0 && w < 0 {
                "0°W".to_owned()
            } else {
                format!("{v}°E")
            }
        };
        let band = if south {
            "southern hemisphere between 80°S and equator"
        } else {
            "northern hemisphere between equator and 84°N"
        };
        let area = format!(
            "Between {} and {}, {band}, onshore and offshore.{suffix}",
            deg(w),
            deg(e)
        );
        Some(format!(
            r#"PROJCRS["WGS 84 / UTM zone {zone}{h}",{base},CONVERSION["UTM zone {zone}{h}",METHOD["Transverse Mercator",ID["EPSG",9807]],{p1},{p2},{p3},{p4},{p5}],CS[Cartesian,2],AXIS["(E)",east,ORDER[1],{METRE}],AXIS["(N)",north,ORDER[2],{METRE}],{usage},ID["EPSG",{code}]]"#,
            base = base_geog(),
            p1 = param("Latitude of natural origin", "0", DEG, 8801),
            p2 = param("Longitude of natural origin", &lon0.to_string(), DEG, 8802),
            p3 = param(
                "Scale factor at natural origin",
                "0.9996",
                r#"SCALEUNIT["unity",1]"#,
                8805
            ),
            p4 = param("False easting", "500000", METRE, 8806),
            p5 = param(
                "False northing",
                if south { "10000000" } else { "0" },
                METRE,
                8807
            ),
            usage = usage(
                "Navigation and medium accuracy spatial referencing.",
                &area,
                bbox
            ),
        ))
    }

    /// pyproj's WKT2 for the codes we template, `None` for the others.
    pub(super) fn wkt2_for_epsg(code: u32) -> Option<String> {
        match code {
            4326 => Some(format!(
                r#"GEOGCRS["WGS 84",{},CS[ellipsoidal,2],AXIS["geodetic latitude (Lat)",north,ORDER[1],{DEG}],AXIS["geodetic longitude (Lon)",east,ORDER[2],{DEG}],{},ID["EPSG",4326]]"#,
                wgs84_datum(),
                usage(
                    "Horizontal component of 3D system.",
                    "World.",
                    "-90,-180,90,180"
                ),
            )),
            3413 => Some(polar_stereographic_b(
                "WGS 84 / NSIDC Sea Ice Polar Stereographic North",
                "US NSIDC Sea Ice polar stereographic north",
                70,
                -45,
                3413,
            )),
            3995 => Some(polar_stereographic_b(
                "WGS 84 / Arctic Polar Stereographic",
                "Arctic Polar Stereographic",
                71,
                0,
                3995,
            )),
            3857 => Some(format!(
                r#"PROJCRS["WGS 84 / Pseudo-Mercator",{base},CONVERSION["Popular Visualisation Pseudo-Mercator",METHOD["Popular Visualisation Pseudo Mercator",ID["EPSG",1024]],{p1},{p2},{p3},{p4}],CS[Cartesian,2],AXIS["easting (X)",east,ORDER[1],{METRE}],AXIS["northing (Y)",north,ORDER[2],{METRE}],{usage},ID["EPSG",3857]]"#,
                base = base_geog(),
                p1 = param("Latitude of natural origin", "0", DEG, 8801),
                p2 = param("Longitude of natural origin", "0", DEG, 8802),
                p3 = param("False easting", "0", METRE, 8806),
                p4 = param("False northing", "0", METRE, 8807),
                usage = usage(
                    "Web mapping and visualisation.",
                    "World between 85.06°S and 85.06°N.",
                    "-85.06,-180,85.06,180"
                ),
            )),
            _ => utm(code),
        }
    }

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
        let pseudo_mercator = crs.epsg() == Some(3857)
            || (projname == "merc" && proj4.contains("+a=6378137 +b=6378137"));
        if pseudo_mercator {
            return m;
        }
        let templated = crs.epsg().is_some_and(|c| wkt2_for_epsg(c).is_some());
        // Ellipsoid and datum.
        let (a, rf, ellps_name, datum_name, geog_name) =
            if templated || proj4.contains("+datum=WGS84") {
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

    // Generated by tools/make_crs_vectors.py --rust-table (pyproj 3.8.0, PROJ 9.8.1).
    #[rustfmt::skip]
    const UTM_USAGE: [(&str, &str); 120] = [
        (" Russian Federation; United States (USA) - Alaska (AK).", "0,-180,84,-174"), // 32601
        (" Russian Federation; United States (USA) - Alaska (AK).", "0,-174,84,-168"), // 32602
        (" United States (USA) - Alaska (AK).", "0,-168,84,-162"), // 32603
        (" United States (USA) - Alaska (AK).", "0,-162,84,-156"), // 32604
        (" United States (USA) - Alaska (AK).", "0,-156,84,-150"), // 32605
        (" United States (USA) - Alaska (AK).", "0,-150,84,-144"), // 32606
        (" Canada - British Columbia (BC); Yukon. United States (USA) - Alaska (AK).", "0,-144,84,-138"), // 32607
        (" Canada - British Columbia (BC); Northwest Territiories (NWT); Yukon. United States (USA) - Alaska (AK).", "0,-138,84,-132"), // 32608
        (" Canada - British Columbia (BC); NorthW Territories (NWT); Yukon. United States (USA) - Alaska (AK).", "0,-132,84,-126"), // 32609
        (" Canada - British Columbia (BC); Northwest Territories (NWT); Nunavut; Yukon. United States (USA) - Alaska (AK).", "0,-126,84,-120"), // 32610
        (" Canada - Alberta; British Columbia (BC); Northwest Territories (NWT); Nunavut. Mexico. United States (USA).", "0,-120,84,-114"), // 32611
        (" Canada - Alberta; Northwest Territories (NWT); Nunavut; Saskatchewan. Mexico. United States (USA).", "0,-114,84,-108"), // 32612
        (" Canada - Northwest Territories (NWT); Nunavut; Saskatchewan. Mexico. United States (USA).", "0,-108,84,-102"), // 32613
        (" Canada - Manitoba; Nunavut; Saskatchewan. Mexico. United States (USA).", "0,-102,84,-96"), // 32614
        (" Canada - Manitoba; Nunavut; Ontario. Ecuador -Galapagos. Guatemala. Mexico. United States (USA).", "0,-96,84,-90"), // 32615
        (" Belize. Canada - Manitoba; Nunavut; Ontario. Costa Rica. Cuba. Ecuador - Galapagos. El Salvador. Guatemala. Honduras. Mexico. Nicaragua. United States (USA).", "0,-90,84,-84"), // 32616
        (" Bahamas. Ecuador - north of equator. Canada - Nunavut; Ontario; Quebec. Cayman Islands. Colombia. Costa Rica. Cuba. Jamaica. Nicaragua. Panama. United States (USA).", "0,-84,84,-78"), // 32617
        (" Bahamas. Canada - Nunavut; Ontario; Quebec. Colombia. Cuba. Ecuador. Greenland. Haiti. Jamaica. Panama. Turks and Caicos Islands. United States (USA). Venezuela.", "0,-78,84,-72"), // 32618
        (" Aruba. Bahamas. Brazil. Canada - New Brunswick (NB); Labrador; Nunavut; Nova Scotia (NS); Quebec. Colombia. Dominican Republic. Greenland. Netherlands Antilles. Puerto Rico. Turks and Caicos Islands. United States. Venezuela.", "0,-72,84,-66"), // 32619
        (" Anguilla. Antigua and Barbuda. Bermuda. Brazil. British Virgin Islands. Canada - New Brunswick; Labrador; Nova Scotia; Nunavut; Prince Edward Island; Quebec. Dominica. Greenland. Grenada. Guadeloupe. Guyana. Martinique. Montserrat. Puerto Rico. St Kitts and Nevis. St Barthelemy. St Lucia. St Maarten, St Martin. St Vincent and the Grenadines. Trinidad and Tobago. Venezuela. US Virgin Islands.", "0,-66,84,-60"), // 32620
        (" Barbados. Brazil. Canada - Newfoundland and Labrador, Quebec. French Guiana. Greenland. Guyana. St Pierre and Miquelon. Suriname.", "0,-60,84,-54"), // 32621
        (" Brazil. Canada - Newfoundland. French Guiana. Greenland.", "0,-54,84,-48"), // 32622
        (" Greenland.", "0,-48,84,-42"), // 32623
        (" Greenland.", "0,-42,84,-36"), // 32624
        (" Greenland.", "0,-36,84,-30"), // 32625
        (" Greenland. Iceland.", "0,-30,84,-24"), // 32626
        (" Greenland. Iceland.", "0,-24,84,-18"), // 32627
        (" Gambia. Greenland. Guinea. Guinea-Bissau. Iceland. Ireland - offshore Porcupine Basin. Mauritania. Morocco. Senegal. Sierra Leone. Western Sahara.", "0,-18,84,-12"), // 32628
        (" Algeria. Côte D'Ivoire (Ivory Coast). Faroe Islands. Guinea. Ireland. Jan Mayen. Liberia, Mali. Mauritania. Morocco. Portugal. Sierra Leone. Spain. United Kingdom (UK). Western Sahara.", "0,-12.01,84.01,-6"), // 32629
        (" Algeria. Burkina Faso. Côte' Ivoire (Ivory Coast). Faroe Islands - offshore. France. Ghana. Gibraltar. Ireland - offshore Irish Sea. Mali. Mauritania. Morocco. Spain. United Kingdom (UK).", "0,-6,84,0"), // 32630
        (" Algeria. Andorra. Belgium. Benin. Burkina Faso. Denmark - North Sea. France. Germany - North Sea. Ghana. Luxembourg. Mali. Netherlands. Niger. Nigeria. Norway. Spain. Togo. United Kingdom (UK) - North Sea.", "0,0,84,6"), // 32631
        (" Algeria. Austria. Cameroon. Denmark. Equatorial Guinea. France. Gabon. Germany. Italy. Libya. Liechtenstein. Monaco. Netherlands. Niger. Nigeria. Norway. Sao Tome and Principe. Svalbard. Sweden. Switzerland. Tunisia. Vatican City State.", "0,6,84,12"), // 32632
        (" Austria. Bosnia and Herzegovina. Cameroon. Central African Republic. Chad. Congo. Croatia. Czechia. Democratic Republic of the Congo (Zaire). Gabon. Germany. Hungary. Italy. Libya. Malta. Niger. Nigeria. Norway. Poland. San Marino. Slovakia. Slovenia. Svalbard. Sweden. Vatican City State.", "0,12,84,18"), // 32633
        (" Albania. Belarus. Bosnia and Herzegovina. Bulgaria. Central African Republic. Chad. Croatia. Democratic Republic of the Congo (Zaire). Estonia. Finland. Greece. Hungary. Italy. Kosovo. Latvia. Libya. Lithuania. Montenegro. North Macedonia. Norway, including Svalbard and Bjornoys. Poland. Romania. Russian Federation. Serbia. Slovakia. Sudan. Sweden. Ukraine.", "0,18,84,24"), // 32634
        (" Belarus. Bulgaria. Central African Republic. Democratic Republic of the Congo (Zaire). Egypt. Estonia. Finland. Greece. Latvia. Lesotho. Libya. Lithuania. Moldova. Norway. Poland. Romania. Russian Federation. Sudan. Svalbard. Türkiye (Turkey). Uganda. Ukraine.", "0,24,84,30"), // 32635
        (" Belarus. Cyprus. Egypt. Ethiopia. Finland. Israel. Jordan. Kenya. Lebanon. Moldova. Norway. Palestine. Russian Federation. Saudi Arabia. Sudan. Syria. Türkiye (Turkey). Uganda. Ukraine.", "0,30,84,36"), // 32636
        (" Djibouti. Egypt. Eritrea. Ethiopia. Georgia. Iraq. Jordan. Kenya. Lebanon. Russian Federation. Saudi Arabia. Somalia. Sudan. Syria. Türkiye (Turkey). Ukraine.", "0,36,84,42"), // 32637
        (" Armenia. Azerbaijan. Djibouti. Eritrea. Ethiopia. Georgia. Islamic Republic of Iran. Iraq. kazakhstan. Kuwait. Russian Federation. Saudi Arabia. Somalia. Türkiye (Turkey). Yemen.", "0,42,84,48"), // 32638
        (" Azerbaijan. Bahrain. Islamic Republic of Iran. Iraq. Kazakhstan. Kuwait. Oman. Qatar. Russian Federation. Saudi Arabia. Somalia. Turkmenistan. United Arab Emirates. Yemen.", "0,48,84,54"), // 32639
        (" Islamic Republic of Iran. kazakhstan. Oman. Russian Federation. Saudi Arabia. Turkmenistan. United Arab Emirates. Uzbekistan.", "0,54,84,60"), // 32640
        (" Afghanistan. Islamic Republic of Iran. kazakhstan. Pakistan. Russian Federation. Turkmenistan. Uzbekistan.", "0,60,84,66"), // 32641
        (" Afghanistan. India. Kazakhstan. Kyrgyzstan. Pakistan. Russian Federation. Tajikistan. Uzbekistan.", "0,66,84,72"), // 32642
        (" China. India. Kazakhstan. Kyrgyzstan. Maldives. Pakistan. Russian Federation. Tajikistan. Uzbekistan.", "0,72,84,78"), // 32643
        (" China. India. Kazakhstan. Kyrgyzstan. Nepal. Russian Federation. Sri Lanka.", "0,78,84,84"), // 32644
        (" Bangladesh. Bhutan. China. India. Kazakhstan. Mongolia. Nepal. Russian Federation.", "0,84,84,90"), // 32645
        (" Bangladesh. Bhutan. China. Indonesia. Mongolia. Myanmar (Burma). Russian Federation.", "0,90,84,96"), // 32646
        (" China. Indonesia. Laos. Malaysia - West Malaysia. Mongolia. Myanmar (Burma). Russian Federation. Thailand.", "0,96,84,102"), // 32647
        (" Cambodia. China. Indonesia. Laos. Malaysia - West Malaysia. Mongolia. Russian Federation. Singapore. Thailand. Vietnam.", "0,102,84,108"), // 32648
        (" China. Hong Kong. Indonesia. Macao. Malaysia - East Malaysia - Sarawak. Mongolia. Russian Federation. Vietnam.", "0,108,84,114"), // 32649
        (" Brunei. China. Hong Kong. Indonesia. Malaysia - East Malaysia - Sarawak. Mongolia. Philippines. Russian Federation. Taiwan.", "0,114,84,120"), // 32650
        (" China. Indonesia. Japan. Democratic People's Republic of Korea (North Korea). Republic of Korea (South Korea). Philippines. Russian Federation. Taiwan.", "0,120,84,126"), // 32651
        (" China. Indonesia. Japan. Democratic People's Republic of Korea (North Korea). Republic of Korea (South Korea). Russian Federation.", "0,126,84,132"), // 32652
        (" China. Japan. Russian Federation.", "0,132,84,138"), // 32653
        (" Japan. Russian Federation.", "0,138,84,144"), // 32654
        (" Japan. Russian Federation.", "0,144,84,150"), // 32655
        (" Russian Federation.", "0,150,84,156"), // 32656
        (" Russian Federation.", "0,156,84,162"), // 32657
        (" Russian Federation.", "0,162,84,168"), // 32658
        (" Russian Federation; United States (USA) - Alaska.", "0,168,84,174"), // 32659
        (" Russian Federation; United States (USA) - Alaska (AK).", "0,174,84,180"), // 32660
        ("", "-80,-180,0,-174"), // 32701
        ("", "-80,-174,0,-168"), // 32702
        ("", "-80,-168,0,-162"), // 32703
        ("", "-80,-162,0,-156"), // 32704
        ("", "-80,-156,0,-150"), // 32705
        ("", "-80,-150,0,-144"), // 32706
        ("", "-80,-144,0,-138"), // 32707
        ("", "-80,-138,0,-132"), // 32708
        ("", "-80,-132,0,-126"), // 32709
        ("", "-80,-126,0,-120"), // 32710
        ("", "-80,-120,0,-114"), // 32711
        ("", "-80,-114,0,-108"), // 32712
        ("", "-80,-108,0,-102"), // 32713
        ("", "-80,-102,0,-96"), // 32714
        (" Ecuador - Galapagos.", "-80,-96,0,-90"), // 32715
        (" Ecuador - Galapagos.", "-80,-90,0,-84"), // 32716
        (" Ecuador. Peru.", "-80,-84,0,-78"), // 32717
        (" Argentina. Brazil. Chile. Colombia. Ecuador. Peru.", "-80,-78,0,-72"), // 32718
        (" Argentina. Bolivia. Brazil. Chile. Colombia. Peru.", "-80,-72,0,-66"), // 32719
        (" Argentina. Bolivia. Brazil. Falkland Islands (Malvinas). Paraguay.", "-80,-66,0,-60"), // 32720
        (" Argentina. Bolivia. Brazil. Falkland Islands (Malvinas). Paraguay. Uruguay.", "-80,-60,0,-54"), // 32721
        (" Brazil. Uruguay.", "-80,-54,0,-48"), // 32722
        (" Brazil.", "-80,-48,0,-42"), // 32723
        (" Brazil. South Georgia and the South Sandwich Islands.", "-80,-42,0,-36"), // 32724
        (" Brazil.", "-80,-36,0,-30"), // 32725
        ("", "-80,-30,0,-24"), // 32726
        ("", "-80,-24,0,-18"), // 32727
        ("", "-80,-18,0,-12"), // 32728
        ("", "-80,-12,0,-6"), // 32729
        ("", "-80,-6,0,0"), // 32730
        ("", "-80,0,0,6"), // 32731
        (" Angola. Congo. Gabon. Namibia.", "-80,6,0,12"), // 32732
        (" Angola. Congo. Democratic Republic of the Congo (Zaire). Gabon. Namibia. South Africa.", "-80,12,0,18"), // 32733
        (" Angola. Botswana. Democratic Republic of the Congo (Zaire). Namibia. South Africa. Zambia.", "-80,18,0,24"), // 32734
        (" Botswana. Burundi. Democratic Republic of the Congo (Zaire). Rwanda. South Africa. Tanzania. Uganda. Zambia. Zimbabwe.", "-80,24,0,30"), // 32735
        (" Burundi. Eswatini (Swaziland). Kenya. Malawi. Mozambique. Rwanda. South Africa. Tanzania. Uganda. Zambia. Zimbabwe.", "-80,30,0,36"), // 32736
        (" Kenya. Mozambique. Tanzania.", "-80,36,0,42"), // 32737
        (" Madagascar.", "-80,42,0,48"), // 32738
        (" Madagascar.", "-80,48,0,54"), // 32739
        (" Seychelles.", "-80,54,0,60"), // 32740
        ("", "-80,60,0,66"), // 32741
        ("", "-80,66,0,72"), // 32742
        ("", "-80,72,0,78"), // 32743
        ("", "-80,78,0,84"), // 32744
        ("", "-80,84,0,90"), // 32745
        ("", "-80,90,0,96"), // 32746
        (" Indonesia.", "-80,96,0,102"), // 32747
        (" Indonesia.", "-80,102,0,108"), // 32748
        (" Australia. Indonesia.", "-80,108,0,114"), // 32749
        (" Australia. Indonesia.", "-80,114,0,120"), // 32750
        (" Australia. East Timor. Indonesia.", "-80,120,0,126"), // 32751
        (" Australia. East Timor. Indonesia.", "-80,126,0,132"), // 32752
        (" Australia. Indonesia.", "-80,132,0,138"), // 32753
        (" Australia. Indonesia. Papua New Guinea.", "-80,138,0,144"), // 32754
        (" Australia. Papua New Guinea.", "-80,144,0,150"), // 32755
        (" Australia. Papua New Guinea.", "-80,150,0,156"), // 32756
        ("", "-80,156,0,162"), // 32757
        ("", "-80,162,0,168"), // 32758
        (" New Zealand.", "-80,168,0,174"), // 32759
        (" New Zealand.", "-80,174,0,180"), // 32760
    ];
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for s in [
            "EPSG:3413",
            "epsg:3413",
            "EPSG::3413",
            "urn:ogc:def:crs:EPSG::3413",
            "3413",
        ] {
            let c: Crs = s.parse().unwrap();
            assert_eq!(c.epsg(), Some(3413), "{s}");
            assert_eq!(c.to_string(), "EPSG:3413");
        }
        let p: Crs = "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs".parse().unwrap();
        assert_eq!(p.epsg(), None);
        assert!(p.to_string().starts_with("+proj=stere"));
        assert!(matches!(
            "EPSG:999999".parse::<Crs>(),
            Err(Error::UnknownCrs { .. })
        ));
        assert!(matches!(
            "EPSG:abc".parse::<Crs>(),
            Err(Error::UnknownCrs { .. })
        ));
        assert!(matches!(
            "hello".parse::<Crs>(),
            Err(Error::UnknownCrs { .. })
        ));
        assert!(matches!("".parse::<Crs>(), Err(Error::UnknownCrs { .. })));
    }

    #[test]
    fn serde_roundtrip() {
        let c = Crs::from_epsg(32633).unwrap();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, "\"EPSG:32633\"");
        let back: Crs = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_str::<Crs>("\"nope\"").is_err());
    }

    #[test]
    fn geographic_and_units() {
        assert!(Crs::wgs84().is_geographic());
        assert_eq!(Crs::wgs84().axis_units(), ("degrees_east", "degrees_north"));
        let p = Crs::from_epsg(3413).unwrap();
        assert!(!p.is_geographic());
        assert_eq!(p.axis_units(), ("metre", "metre"));
    }

    #[test]
    fn roundtrip_points() {
        let wgs = Crs::wgs84();
        for code in [3413, 3995, 3857, 32601, 32760] {
            let c = Crs::from_epsg(code).unwrap();
            let orig = [(179.9, 70.0), (-179.9, 70.0), (10.0, 75.0)];
            let lat_ok: Vec<_> = orig
                .iter()
                .map(|&(x, y)| if code == 32760 { (x, -y) } else { (x, y) })
                .collect();
            let mut pts = lat_ok.clone();
            wgs.transform_points(&c, &mut pts).unwrap();
            c.transform_points(&wgs, &mut pts).unwrap();
            for (a, b) in lat_ok.iter().zip(&pts) {
                let dx = (a.0 - b.0 + 540.0).rem_euclid(360.0) - 180.0;
                assert!(
                    dx.abs() < 1e-8 && (a.1 - b.1).abs() < 1e-8,
                    "{code}: {a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn densify_counts() {
        let ls = LineString::from(vec![(0.0, 0.0), (4.0, 0.0), (4.0, 4.0)]);
        let d = densify_linestring(&ls, 4);
        assert_eq!(d.0.len(), 9);
        assert_eq!(d.0[1], Coord { x: 1.0, y: 0.0 });
        assert_eq!(d.0[8], Coord { x: 4.0, y: 4.0 });
    }
}
