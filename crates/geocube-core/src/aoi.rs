//! Areas of interest: what part of a cube to load or read.
//!
//! ```
//! use geocube_core::{Aoi, BoundingBox, Crs};
//!
//! let aoi = Aoi::from_geojson_str(
//!     r#"{"type":"Polygon","coordinates":[[[10,70],[11,70],[11,71],[10,71],[10,70]]]}"#,
//!     Crs::wgs84(),
//! )
//! .unwrap();
//! let b = aoi.bounds_in(&Crs::wgs84()).unwrap();
//! assert_eq!(b, BoundingBox::new(10.0, 70.0, 11.0, 71.0));
//! ```

use geo::{BoundingRect, Geometry};

use crate::crs::{Crs, reproject_geometry};
use crate::error::{Error, Result};
use crate::grid::{BoundingBox, GeoBox};

/// Segments of an AOI are split into this many pieces when reprojected.
const AOI_DENSIFY: usize = 32;

/// An area of interest: a grid, or one or more geometries in a CRS.
#[derive(Clone, Debug, PartialEq)]
pub enum Aoi {
    /// The footprint of a grid.
    GeoBox(GeoBox),
    /// One geometry.
    Geometry {
        /// The geometry.
        geometry: Geometry<f64>,
        /// Its CRS.
        crs: Crs,
    },
    /// Several geometries (e.g. the features of a `GeoJSON` collection).
    Geometries {
        /// The geometries.
        geometries: Vec<Geometry<f64>>,
        /// Their CRS.
        crs: Crs,
    },
}

impl Aoi {
    /// The rectangle `bbox` in `crs`.
    #[must_use]
    pub fn bbox(bbox: BoundingBox, crs: Crs) -> Aoi {
        Aoi::Geometry {
            geometry: Geometry::Polygon(bbox.to_polygon()),
            crs,
        }
    }

    /// Read a `GeoJSON` `Geometry`, `Feature` or `FeatureCollection` whose coordinates
    /// are in `crs` (RFC 7946 `GeoJSON` is always [`Crs::wgs84`], but other CRSs
    /// are accepted). A single geometry gives [`Aoi::Geometry`], a collection
    /// [`Aoi::Geometries`]; features without a geometry are skipped.
    ///
    /// # Errors
    /// [`Error::InvalidAoi`] when the text is not `GeoJSON`, holds no geometry,
    /// or a position is short or a coordinate not finite (the message of
    /// the [`GeoJsonError`](crate::geojson::GeoJsonError) found).
    pub fn from_geojson_str(s: &str, crs: Crs) -> Result<Aoi> {
        // core's Error keeps AOI problems as text; the typed cause is
        // GeoJsonError, for callers that read GeoJSON themselves.
        let mut geometries =
            crate::geojson::geometries_from_str(s).map_err(|e| Error::InvalidAoi(e.to_string()))?;
        Ok(if geometries.len() == 1 {
            Aoi::Geometry {
                geometry: geometries.remove(0),
                crs,
            }
        } else {
            Aoi::Geometries { geometries, crs }
        })
    }

    /// The CRS the AOI is given in.
    #[must_use]
    pub fn crs(&self) -> &Crs {
        match self {
            Aoi::GeoBox(g) => g.crs(),
            Aoi::Geometry { crs, .. } | Aoi::Geometries { crs, .. } => crs,
        }
    }

    /// The AOI's geometries reprojected to `target`, each segment split into
    /// 32 pieces first (a grid gives its footprint, see
    /// [`GeoBox::extent_in`]). For a geographic target, rings are made
    /// continuous across the antimeridian (longitudes may exceed ±180°).
    ///
    /// # Errors
    /// [`Error::Transform`] when a vertex cannot be transformed.
    pub fn geometries_in(&self, target: &Crs) -> Result<Vec<Geometry<f64>>> {
        match self {
            Aoi::GeoBox(g) => Ok(vec![Geometry::Polygon(g.extent_in(target, AOI_DENSIFY)?)]),
            Aoi::Geometry { geometry, crs } => Ok(vec![reproject_geometry(
                geometry,
                crs,
                target,
                AOI_DENSIFY,
            )?]),
            Aoi::Geometries { geometries, crs } => geometries
                .iter()
                .map(|g| reproject_geometry(g, crs, target, AOI_DENSIFY))
                .collect(),
        }
    }

    /// The bounds of the AOI in `target`, from its densified reprojection.
    /// In a geographic `target`, an AOI crossing the antimeridian has
    /// continuous longitudes (e.g. `left = 170, right = 190`) and one around a
    /// pole spans `-180..180` up to ±90°.
    ///
    /// # Errors
    /// [`Error::Transform`] when a vertex cannot be transformed;
    /// [`Error::InvalidAoi`] when the AOI has no coordinates.
    pub fn bounds_in(&self, target: &Crs) -> Result<BoundingBox> {
        if let Aoi::GeoBox(g) = self
            && g.crs() == target
        {
            return Ok(g.bbox());
        }
        let mut b = self
            .geometries_in(target)?
            .iter()
            .filter_map(BoundingRect::bounding_rect)
            .map(BoundingBox::from_rect)
            .reduce(|a, b| a.union(&b))
            .ok_or_else(|| Error::InvalidAoi("the area of interest has no coordinates".into()))?;
        if target.is_geographic() && b.width() >= 360.0 - 1e-9 {
            // Around a pole: every longitude.
            (b.left, b.right) = (-180.0, 180.0);
        }
        Ok(b)
    }
}

impl From<GeoBox> for Aoi {
    fn from(g: GeoBox) -> Aoi {
        Aoi::GeoBox(g)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn geojson_forms() {
        let poly =
            r#"{"type":"Polygon","coordinates":[[[10,70],[11,70],[11,71],[10,71],[10,70]]]}"#;
        let feat = format!(r#"{{"type":"Feature","properties":{{}},"geometry":{poly}}}"#);
        let fc = format!(
            r#"{{"type":"FeatureCollection","features":[{feat},{{"type":"Feature","properties":null,"geometry":{{"type":"Point","coordinates":[20,75]}}}}]}}"#
        );
        assert!(matches!(
            Aoi::from_geojson_str(poly, Crs::wgs84()).unwrap(),
            Aoi::Geometry { .. }
        ));
        assert!(matches!(
            Aoi::from_geojson_str(&feat, Crs::wgs84()).unwrap(),
            Aoi::Geometry { .. }
        ));
        let a = Aoi::from_geojson_str(&fc, Crs::wgs84()).unwrap();
        assert!(matches!(&a, Aoi::Geometries { geometries, .. } if geometries.len() == 2));
        assert_eq!(
            a.bounds_in(&Crs::wgs84()).unwrap(),
            BoundingBox::new(10.0, 70.0, 20.0, 75.0)
        );
    }

    #[test]
    fn geojson_errors() {
        for bad in [
            "",
            "{",
            "[1,2]",
            r#"{"type":"Feature","properties":{},"geometry":null}"#,
            r#"{"type":"FeatureCollection","features":[]}"#,
            r#"{"type":"Polygon","coordinates":[[[10,70],[11]]]}"#,
            r#"{"type":"Point","coordinates":"x"}"#,
            r#"{"type":"Point","coordinates":[]}"#,
            r#"{"type":"MultiPolygon","coordinates":[[[[1,2],[3]]]]}"#,
            r#"{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1]}]}"#,
        ] {
            assert!(
                matches!(
                    Aoi::from_geojson_str(bad, Crs::wgs84()),
                    Err(Error::InvalidAoi(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn bounds_reprojected() {
        let polar = Crs::from_epsg(3413).unwrap();
        let a = Aoi::bbox(
            BoundingBox::new(-100_000.0, -100_000.0, 100_000.0, 100_000.0),
            polar.clone(),
        );
        let b = a.bounds_in(&Crs::wgs84()).unwrap();
        // Contains the pole: the lon/lat bounds span the globe.
        assert!(
            (b.top - 90.0).abs() < 1e-9 && b.left == -180.0 && b.right == 180.0,
            "{b}"
        );
        let same = a.bounds_in(&polar).unwrap();
        assert_eq!(
            same,
            BoundingBox::new(-100_000.0, -100_000.0, 100_000.0, 100_000.0)
        );
        let gb =
            GeoBox::from_bbox(BoundingBox::new(0.0, 0.0, 64.0, 64.0), polar.clone(), 32.0).unwrap();
        assert_eq!(
            Aoi::from(gb).bounds_in(&polar).unwrap(),
            BoundingBox::new(0.0, 0.0, 64.0, 64.0)
        );
    }
}
