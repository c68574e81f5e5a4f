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
        let unknown = |reason: &str| Error::UnknownCrs { crs: format!("EPSG:{code}"), reason: reason.to_owned() };
        let short = u16::try_from(code).map_err(|_| unknown("EPSG codes above 65535 are not in the built-in registry"))?;
        let def = crs_definitions::from_code(short).ok_or_else(|| unknown("code not found in the built-in EPSG registry"))?;
        if def.proj4.contains("+proj=geocent") {
            return Err(unknown("geocentric CRSs cannot be used for raster grids"));
        }
        let proj = Proj::from_proj_string(def.proj4).map_err(|e| unknown(&format!("PROJ definition `{}` rejected: {e}", def.proj4)))?;
        Ok(Crs { epsg: Some(code), proj4: def.proj4.to_owned(), proj: Arc::new(proj) })
    }

    /// WGS 84 geographic coordinates (EPSG:4326), longitude/latitude in degrees.
    #[must_use]
    pub fn wgs84() -> Crs {
        let proj4 = "+proj=longlat +datum=WGS84 +no_defs";
        match Proj::from_proj_string(proj4) {
            Ok(proj) => Crs { epsg: Some(4326), proj4: proj4.to_owned(), proj: Arc::new(proj) },
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
        let proj = Proj::from_proj_string(&normalised)
            .map_err(|e| Error::UnknownCrs { crs: definition.to_owned(), reason: format!("invalid PROJ string: {e}") })?;
        if proj.is_geocent() {
            return Err(Error::UnknownCrs {
                crs: definition.to_owned(),
                reason: "geocentric CRSs cannot be used for raster grids".into(),
            });
        }
        Ok(Crs { epsg: None, proj4: normalised, proj: Arc::new(proj) })
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
        if self.is_geographic() { ("degrees_east", "degrees_north") } else { ("metre", "metre") }
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
        let fail = |reason: String| Error::Transform { from: self.to_string(), to: target.to_string(), reason };
        if self.is_geographic() {
            for p in points.iter_mut() {
                *p = (p.0.to_radians(), p.1.to_radians());
            }
        }
        let mut wrapped = Points(points);
        proj4rs::transform::transform(&self.proj, &target.proj, &mut wrapped).map_err(|e| fail(e.to_string()))?;
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
    fn transform_coordinates<F: TransformClosure>(&mut self, f: &mut F) -> proj4rs::errors::Result<()> {
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
            .or_else(|| upper.strip_prefix("EPSG:").map(|r| r.trim_start_matches(':')))
            .or_else(|| upper.chars().all(|c| c.is_ascii_digit()).then_some(upper.as_str()));
        match code {
            Some(c) => {
                let code: u32 = c.trim().parse().map_err(|_| Error::UnknownCrs {
                    crs: s.to_owned(),
                    reason: format!("`{c}` is not a numeric EPSG code"),
                })?;
                Crs::from_epsg(code).map_err(|e| match e {
                    Error::UnknownCrs { reason, .. } => Error::UnknownCrs { crs: s.to_owned(), reason },
                    other => other,
                })
            }
            None if upper == "WGS84" || upper == "WGS 84" || upper == "CRS84" || upper == "OGC:CRS84" => Ok(Crs::wgs84()),
            None if t.is_empty() => Err(Error::UnknownCrs { crs: s.to_owned(), reason: "empty CRS string".into() }),
            None if upper.starts_with("PROJCRS") || upper.starts_with("GEOGCRS") || upper.starts_with("PROJCS") || upper.starts_with("GEOGCS") => {
                Err(Error::UnknownCrs { crs: short(t), reason: "WKT is not supported".into() })
            }
            None => Err(Error::UnknownCrs { crs: short(t), reason: "not an EPSG code nor a PROJ string".into() }),
        }
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 80 { format!("{}…", s.chars().take(80).collect::<String>()) } else { s.to_owned() }
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
pub fn reproject_geometry(geom: &Geometry<f64>, from: &Crs, to: &Crs, densify: usize) -> Result<Geometry<f64>> {
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
    let poly = |p: &Polygon<f64>| Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect());
    match geom {
        Geometry::LineString(l) => Geometry::LineString(line(l)),
        Geometry::MultiLineString(m) => Geometry::MultiLineString(MultiLineString(m.0.iter().map(line).collect())),
        Geometry::Polygon(p) => Geometry::Polygon(poly(p)),
        Geometry::MultiPolygon(m) => Geometry::MultiPolygon(MultiPolygon(m.0.iter().map(poly).collect())),
        Geometry::GeometryCollection(c) => {
            Geometry::GeometryCollection(GeometryCollection(c.0.iter().map(continuous_lonlat).collect()))
        }
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
/// neighbours; a ring that winds once around a pole is closed along that pole
/// (`pole_lat`, or the side of the ring's mean latitude when `None`).
pub(crate) fn continuous_lonlat_ring(ring: &[Coord<f64>], pole_lat: Option<f64>) -> Vec<Coord<f64>> {
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
            expanded.push(Coord { x: q.x, y: c.y });
        }
    }
    let mut out = unwrap_lons(&expanded);
    let (Some(first), Some(last)) = (out.first().copied(), out.last().copied()) else {
        return ring.to_vec();
    };
    let closing = last.x + wrap180(first.x - last.x);
    let net = closing - first.x;
    if net.abs() > 180.0 {
        #[allow(clippy::cast_precision_loss)]
        let mean_lat = out.iter().map(|c| c.y).sum::<f64>() / out.len() as f64;
        let pole = pole_lat.unwrap_or(if mean_lat >= 0.0 { 90.0 } else { -90.0 });
        out.push(Coord { x: closing, y: first.y });
        out.push(Coord { x: closing, y: pole });
        out.push(Coord { x: first.x, y: pole });
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
            out.push(Coord { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t });
        }
    }
    if let Some(last) = ls.0.last() {
        out.push(*last);
    }
    LineString(out)
}

fn densify_polygon(p: &Polygon<f64>, n: usize) -> Polygon<f64> {
    Polygon::new(densify_linestring(p.exterior(), n), p.interiors().iter().map(|r| densify_linestring(r, n)).collect())
}

/// Split every segment of a geometry into `n` equal pieces.
pub(crate) fn densify_geometry(geom: &Geometry<f64>, n: usize) -> Geometry<f64> {
    use geo::{GeometryCollection, MultiLineString, MultiPolygon};
    if n <= 1 {
        return geom.clone();
    }
    match geom {
        Geometry::Line(l) => Geometry::LineString(densify_linestring(&LineString(vec![l.start, l.end]), n)),
        Geometry::LineString(ls) => Geometry::LineString(densify_linestring(ls, n)),
        Geometry::MultiLineString(m) => Geometry::MultiLineString(MultiLineString(m.0.iter().map(|l| densify_linestring(l, n)).collect())),
        Geometry::Polygon(p) => Geometry::Polygon(densify_polygon(p, n)),
        Geometry::MultiPolygon(m) => Geometry::MultiPolygon(MultiPolygon(m.0.iter().map(|p| densify_polygon(p, n)).collect())),
        Geometry::Rect(r) => Geometry::Polygon(densify_polygon(&r.to_polygon(), n)),
        Geometry::Triangle(t) => Geometry::Polygon(densify_polygon(&t.to_polygon(), n)),
        Geometry::GeometryCollection(c) => {
            Geometry::GeometryCollection(GeometryCollection(c.0.iter().map(|g| densify_geometry(g, n)).collect()))
        }
        Geometry::Point(_) | Geometry::MultiPoint(_) => geom.clone(),
    }
}

mod wkt {
    //! WKT2 templates and CF attributes.
    use serde_json::{Map, Value};

    use super::Crs;

    pub(super) fn wkt2_for_epsg(_code: u32) -> Option<String> {
        None
    }

    pub(super) fn cf_attributes(crs: &Crs) -> Map<String, Value> {
        let mut m = Map::new();
        let wkt = crs.wkt2();
        m.insert("crs_wkt".into(), Value::String(wkt.clone()));
        m.insert("spatial_ref".into(), Value::String(wkt));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for s in ["EPSG:3413", "epsg:3413", "EPSG::3413", "urn:ogc:def:crs:EPSG::3413", "3413"] {
            let c: Crs = s.parse().unwrap();
            assert_eq!(c.epsg(), Some(3413), "{s}");
            assert_eq!(c.to_string(), "EPSG:3413");
        }
        let p: Crs = "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs".parse().unwrap();
        assert_eq!(p.epsg(), None);
        assert!(p.to_string().starts_with("+proj=stere"));
        assert!(matches!("EPSG:999999".parse::<Crs>(), Err(Error::UnknownCrs { .. })));
        assert!(matches!("EPSG:abc".parse::<Crs>(), Err(Error::UnknownCrs { .. })));
        assert!(matches!("hello".parse::<Crs>(), Err(Error::UnknownCrs { .. })));
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
            let lat_ok: Vec<_> = orig.iter().map(|&(x, y)| if code == 32760 { (x, -y) } else { (x, y) }).collect();
            let mut pts = lat_ok.clone();
            wgs.transform_points(&c, &mut pts).unwrap();
            c.transform_points(&wgs, &mut pts).unwrap();
            for (a, b) in lat_ok.iter().zip(&pts) {
                let dx = (a.0 - b.0 + 540.0).rem_euclid(360.0) - 180.0;
                assert!(dx.abs() < 1e-8 && (a.1 - b.1).abs() < 1e-8, "{code}: {a:?} vs {b:?}");
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
