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

use proj4rs::proj::Proj;
use proj4rs::transform::{Transform, TransformClosure};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

mod antimeridian;
mod cf;
mod reproject;
mod utm_usage;
mod wkt2;

pub use self::antimeridian::split_at_antimeridian;
pub(crate) use self::antimeridian::{continuous_lonlat_ring, lon_shifts};
pub(crate) use self::reproject::densify_linestring;
pub use self::reproject::reproject_geometry;
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
            source: None,
        };
        let short = u16::try_from(code)
            .map_err(|_| unknown("EPSG codes above 65535 are not in the built-in registry"))?;
        let def = crs_definitions::from_code(short)
            .ok_or_else(|| unknown("code not found in the built-in EPSG registry"))?;
        if def.proj4.contains("+proj=geocent") {
            return Err(unknown("geocentric CRSs cannot be used for raster grids"));
        }
        let proj = Proj::from_proj_string(def.proj4).map_err(|e| Error::UnknownCrs {
            crs: format!("EPSG:{code}"),
            reason: format!("PROJ definition `{}` rejected: {e}", def.proj4),
            source: Some(e),
        })?;
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
            source: Some(e),
        })?;
        if proj.is_geocent() {
            return Err(Error::UnknownCrs {
                crs: definition.to_owned(),
                reason: "geocentric CRSs cannot be used for raster grids".into(),
                source: None,
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
        let fail = |reason: String, source| Error::Transform {
            from: self.to_string(),
            to: target.to_string(),
            reason,
            source,
        };
        if self.is_geographic() {
            for p in points.iter_mut() {
                *p = (p.0.to_radians(), p.1.to_radians());
            }
        }
        let mut wrapped = Points(points);
        proj4rs::transform::transform(&self.proj, &target.proj, &mut wrapped)
            .map_err(|e| fail(e.to_string(), Some(e)))?;
        let points = wrapped.0;
        if target.is_geographic() {
            for p in points.iter_mut() {
                *p = (p.0.to_degrees(), p.1.to_degrees());
            }
        }
        if let Some(bad) = points.iter().find(|p| !p.0.is_finite() || !p.1.is_finite()) {
            return Err(fail(format!("non-finite result {bad:?}"), None));
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
        if let Some(wkt) = self.epsg.and_then(wkt2::wkt2_for_epsg) {
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
        cf::cf_attributes(self)
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
                    source: None,
                })?;
                Crs::from_epsg(code).map_err(|e| match e {
                    Error::UnknownCrs { reason, source, .. } => Error::UnknownCrs {
                        crs: s.to_owned(),
                        reason,
                        source,
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
                source: None,
            }),
            None if upper.starts_with("PROJCRS")
                || upper.starts_with("GEOGCRS")
                || upper.starts_with("PROJCS")
                || upper.starts_with("GEOGCS") =>
            {
                Err(Error::UnknownCrs {
                    crs: short(t),
                    reason: "WKT is not supported".into(),
                    source: None,
                })
            }
            None => Err(Error::UnknownCrs {
                crs: short(t),
                reason: "not an EPSG code nor a PROJ string".into(),
                source: None,
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
}
