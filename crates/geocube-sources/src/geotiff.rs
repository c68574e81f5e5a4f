//! GeoTIFF georeferencing from raw tag values: where the pixels are, in
//! which CRS, and the GDAL nodata value.
//!
//! Pure functions over tag values (no I/O), so each rule is unit-tested:
//! ModelPixelScale (33550) + ModelTiepoint (33922), or ModelTransformation
//! (34264); the GeoKeyDirectory (34735) for the EPSG code
//! (ProjectedCSTypeGeoKey 3072, GeographicTypeGeoKey 2048) and the raster
//! type (GTRasterTypeGeoKey 1025); GDAL_NODATA (42113).
//!
//! Tag numbers come from `tiff::tags::Tag`, GeoKey ids and values from
//! `geocube_geotiff::tags::geokey`, the one home of the numbers the writer
//! and this reader share.

use geocube_core::Affine;
use geocube_geotiff::tags::geokey;

/// Why the georeferencing of a GeoTIFF cannot be used. Reported as the
/// source of [`Error::Tiff`](crate::Error::Tiff), with the file's URL.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GeoTiffError {
    /// The GeoKeyDirectory is shorter than its header.
    #[error("GeoKeyDirectory has {len} values, fewer than its 4-value header")]
    GeoKeyHeader {
        /// Values in the directory.
        len: usize,
    },
    /// A GeoKeyDirectory version other than 1.
    #[error("GeoKeyDirectory version {0} is not 1")]
    GeoKeyVersion(u16),
    /// The GeoKeyDirectory holds fewer keys than its header announces.
    #[error("GeoKeyDirectory announces {announced} keys but holds only {values} values")]
    GeoKeysMissing {
        /// Keys the header announces.
        announced: usize,
        /// Values after the header.
        values: usize,
    },
    /// A GTRasterTypeGeoKey that is neither PixelIsArea nor PixelIsPoint.
    #[error("unknown GTRasterTypeGeoKey value {0}")]
    RasterType(u16),
    /// A user-defined projected CRS (no EPSG code).
    #[error(
        "the projected CRS is user-defined (ProjectedCSTypeGeoKey 32767); only EPSG codes are supported"
    )]
    UserDefinedProjected,
    /// A user-defined geographic CRS (no EPSG code).
    #[error(
        "the geographic CRS is user-defined (GeographicTypeGeoKey 32767); only EPSG codes are supported"
    )]
    UserDefinedGeographic,
    /// ModelPixelScale with fewer than two values.
    #[error("ModelPixelScale has {0} values, need at least 2")]
    PixelScale(usize),
    /// ModelTiepoint with fewer than six values.
    #[error("ModelTiepoint has {0} values, need 6")]
    Tiepoint(usize),
    /// More than one tie point (a warped image).
    #[error(
        "ModelTiepoint holds {0} tie points; only one tie point with a pixel scale is supported (no warping)"
    )]
    Tiepoints(usize),
    /// ModelTransformation with fewer than eight values.
    #[error("ModelTransformation has {0} values, need 16 (at least the first 8)")]
    Transformation(usize),
    /// A rotated or sheared ModelTransformation.
    #[error(
        "the image is rotated or sheared (ModelTransformation b={b}, e={e}); only north-up images are supported"
    )]
    Rotated {
        /// Row-to-x coefficient.
        b: f64,
        /// Column-to-y coefficient.
        e: f64,
    },
    /// ModelPixelScale without a ModelTiepoint.
    #[error("ModelPixelScale without ModelTiepoint")]
    ScaleWithoutTiepoint,
    /// Neither tag pair that places the image.
    #[error("no georeferencing (ModelPixelScale + ModelTiepoint or ModelTransformation)")]
    NoGeoreferencing,
    /// A transform coefficient that is NaN or infinite.
    #[error("non-finite georeferencing {0:?}")]
    NonFinite(Affine),
    /// Pixels that do not grow east and south.
    #[error("the image is not north-up (pixel size {res_x} × {res_y})")]
    NotNorthUp {
        /// Pixel width.
        res_x: f64,
        /// Pixel height (negative when north-up).
        res_y: f64,
    },
    /// GDAL_NODATA text that is not a number.
    #[error("GDAL_NODATA `{text}` is not a number")]
    Nodata {
        /// The text, padding trimmed.
        text: String,
        /// Why Rust's float parser refused it.
        #[source]
        source: std::num::ParseFloatError,
    },
}

/// What a pixel's coordinates refer to (GTRasterTypeGeoKey).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RasterType {
    /// The tie point is the corner of the pixel (GDAL's default).
    #[default]
    PixelIsArea,
    /// The tie point is the centre of the pixel; GDAL shifts the origin by
    /// half a pixel, and so do we.
    PixelIsPoint,
}

/// The georeferencing of a GeoTIFF image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoReference {
    /// Pixel-corner transform of the image (north-up).
    pub affine: Affine,
    /// EPSG code of the CRS (projected, else geographic).
    pub epsg: Option<u32>,
    /// The raster type found (the affine already accounts for it).
    pub raster_type: RasterType,
}

/// The GeoKeys geocube reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GeoKeys {
    /// GTModelTypeGeoKey: 1 projected, 2 geographic.
    pub model_type: Option<u16>,
    /// GTRasterTypeGeoKey.
    pub raster_type: RasterType,
    /// GeographicTypeGeoKey.
    pub geographic_type: Option<u16>,
    /// ProjectedCSTypeGeoKey.
    pub projected_type: Option<u16>,
}

impl GeoKeys {
    /// The EPSG code of the CRS: the projected type when there is one, else
    /// the geographic type. `None` when neither key is set.
    ///
    /// # Errors
    /// [`GeoTiffError::UserDefinedProjected`] or
    /// [`GeoTiffError::UserDefinedGeographic`] when the CRS is user-defined
    /// (code 32767), which geocube cannot read.
    pub fn epsg(&self) -> Result<Option<u32>, GeoTiffError> {
        let user_defined = |c: u16| c == geokey::USER_DEFINED;
        match (self.model_type, self.projected_type, self.geographic_type) {
            (_, Some(p), _) if !user_defined(p) => Ok(Some(u32::from(p))),
            (Some(geokey::MODEL_PROJECTED), Some(_), _) => Err(GeoTiffError::UserDefinedProjected),
            (_, _, Some(g)) if !user_defined(g) => Ok(Some(u32::from(g))),
            (_, _, Some(_)) => Err(GeoTiffError::UserDefinedGeographic),
            _ => Ok(None),
        }
    }
}

/// Parse a GeoKeyDirectory: a header `(version, revision, minor, count)`
/// followed by `count` entries `(key, location, count, value)`. Only keys
/// stored inline (location 0) are read; the others are skipped.
///
/// # Errors
/// When the directory is shorter than its header says, has an unknown
/// version or an unknown raster type.
pub fn parse_geo_keys(dir: &[u16]) -> Result<GeoKeys, GeoTiffError> {
    let [version, _, _, count, ..] = *dir else {
        return Err(GeoTiffError::GeoKeyHeader { len: dir.len() });
    };
    if version != 1 {
        return Err(GeoTiffError::GeoKeyVersion(version));
    }
    let n = usize::from(count);
    let entries = dir
        .get(4..4 + 4 * n)
        .ok_or_else(|| GeoTiffError::GeoKeysMissing {
            announced: n,
            values: dir.len().saturating_sub(4),
        })?;
    let mut keys = GeoKeys::default();
    for e in entries.chunks_exact(4) {
        let (key, location, value) = (e[0], e[1], e[3]);
        if location != geokey::LOCATION_INLINE {
            continue; // stored in another tag (ASCII citation, double params)
        }
        match key {
            geokey::GT_MODEL_TYPE => keys.model_type = Some(value),
            geokey::GT_RASTER_TYPE => {
                keys.raster_type = match value {
                    geokey::RASTER_PIXEL_IS_AREA => RasterType::PixelIsArea,
                    geokey::RASTER_PIXEL_IS_POINT => RasterType::PixelIsPoint,
                    other => return Err(GeoTiffError::RasterType(other)),
                }
            }
            geokey::GEOGRAPHIC_TYPE => keys.geographic_type = Some(value),
            geokey::PROJECTED_CS_TYPE => keys.projected_type = Some(value),
            _ => {}
        }
    }
    Ok(keys)
}

/// The pixel-corner affine transform from ModelPixelScale + ModelTiepoint,
/// or from ModelTransformation, shifted by half a pixel for PixelIsPoint.
///
/// # Errors
/// When neither form is present, values are missing or not finite, or the
/// image is rotated or not north-up.
pub fn affine_from_tags(
    pixel_scale: Option<&[f64]>,
    tiepoint: Option<&[f64]>,
    transformation: Option<&[f64]>,
    raster_type: RasterType,
) -> Result<Affine, GeoTiffError> {
    let affine = match (pixel_scale, tiepoint, transformation) {
        (Some(scale), Some(tie), _) => {
            let [sx, sy, ..] = *scale else {
                return Err(GeoTiffError::PixelScale(scale.len()));
            };
            let [i, j, _k, x, y, _z, ..] = *tie else {
                return Err(GeoTiffError::Tiepoint(tie.len()));
            };
            if tie.len() > 6 {
                return Err(GeoTiffError::Tiepoints(tie.len() / 6));
            }
            // y grows north while rows grow south: a positive scale is north-up.
            Affine {
                x0: x - i * sx,
                res_x: sx,
                y0: y + j * sy,
                res_y: -sy,
            }
        }
        (_, _, Some(m)) => {
            let [a, b, _, d, e, f, _, h, ..] = *m else {
                return Err(GeoTiffError::Transformation(m.len()));
            };
            if b != 0.0 || e != 0.0 {
                return Err(GeoTiffError::Rotated { b, e });
            }
            Affine {
                x0: d,
                res_x: a,
                y0: h,
                res_y: f,
            }
        }
        (Some(_), None, None) => return Err(GeoTiffError::ScaleWithoutTiepoint),
        _ => return Err(GeoTiffError::NoGeoreferencing),
    };
    if !affine.is_finite() {
        return Err(GeoTiffError::NonFinite(affine));
    }
    if !affine.is_north_up() {
        return Err(GeoTiffError::NotNorthUp {
            res_x: affine.res_x,
            res_y: affine.res_y,
        });
    }
    Ok(match raster_type {
        RasterType::PixelIsArea => affine,
        RasterType::PixelIsPoint => Affine {
            x0: affine.x0 - 0.5 * affine.res_x,
            y0: affine.y0 - 0.5 * affine.res_y,
            ..affine
        },
    })
}

/// Parse GDAL_NODATA text (`-9999`, `nan`, `inf`, with NUL/space padding).
///
/// # Errors
/// When the text is not a number.
pub fn parse_gdal_nodata(text: &str) -> Result<f64, GeoTiffError> {
    let t = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    match t.to_ascii_lowercase().as_str() {
        "nan" | "-nan" => return Ok(f64::NAN),
        "inf" | "+inf" | "infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    t.parse::<f64>().map_err(|source| GeoTiffError::Nodata {
        text: t.to_owned(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_tiepoint() {
        let a = affine_from_tags(
            Some(&[32.0, 32.0, 0.0]),
            Some(&[0.0, 0.0, 0.0, -1_600_000.0, 1_600_000.0, 0.0]),
            None,
            RasterType::PixelIsArea,
        )
        .unwrap();
        assert_eq!(
            a,
            Affine {
                x0: -1_600_000.0,
                res_x: 32.0,
                y0: 1_600_000.0,
                res_y: -32.0
            }
        );
        // A tie point at pixel (10, 5) moves the origin back.
        let b = affine_from_tags(
            Some(&[2.0, 3.0, 0.0]),
            Some(&[10.0, 5.0, 0.0, 100.0, 200.0, 0.0]),
            None,
            RasterType::PixelIsArea,
        )
        .unwrap();
        assert_eq!(
            b,
            Affine {
                x0: 80.0,
                res_x: 2.0,
                y0: 215.0,
                res_y: -3.0
            }
        );
    }

    #[test]
    fn pixel_is_point_shifts_half_a_pixel() {
        let a = affine_from_tags(
            Some(&[10.0, 10.0, 0.0]),
            Some(&[0.0, 0.0, 0.0, 105.0, 995.0, 0.0]),
            None,
            RasterType::PixelIsPoint,
        )
        .unwrap();
        assert_eq!(
            a,
            Affine {
                x0: 100.0,
                res_x: 10.0,
                y0: 1000.0,
                res_y: -10.0
            }
        );
    }

    #[test]
    fn model_transformation() {
        let m = [
            30.0,
            0.0,
            0.0,
            500_000.0,
            0.0,
            -30.0,
            0.0,
            7_000_000.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            1.0,
        ];
        let a = affine_from_tags(None, None, Some(&m), RasterType::PixelIsArea).unwrap();
        assert_eq!(
            a,
            Affine {
                x0: 500_000.0,
                res_x: 30.0,
                y0: 7_000_000.0,
                res_y: -30.0
            }
        );
        let mut rotated = m;
        rotated[1] = 0.5;
        assert!(
            affine_from_tags(None, None, Some(&rotated), RasterType::PixelIsArea)
                .unwrap_err()
                .to_string()
                .contains("rotated")
        );
        assert!(affine_from_tags(None, None, Some(&m[..8]), RasterType::PixelIsArea).is_ok());
        assert!(affine_from_tags(None, None, Some(&m[..7]), RasterType::PixelIsArea).is_err());
    }

    #[test]
    fn bad_georeferencing() {
        let pt = [0.0, 0.0, 0.0, 1.0, 2.0, 0.0];
        assert!(affine_from_tags(None, None, None, RasterType::PixelIsArea).is_err());
        assert!(
            affine_from_tags(Some(&[1.0, 1.0, 0.0]), None, None, RasterType::PixelIsArea).is_err()
        );
        assert!(affine_from_tags(Some(&[1.0]), Some(&pt), None, RasterType::PixelIsArea).is_err());
        assert!(
            affine_from_tags(
                Some(&[1.0, 1.0]),
                Some(&pt[..5]),
                None,
                RasterType::PixelIsArea
            )
            .is_err()
        );
        assert!(
            affine_from_tags(Some(&[1.0, -1.0]), Some(&pt), None, RasterType::PixelIsArea)
                .unwrap_err()
                .to_string()
                .contains("north-up")
        );
        assert!(
            affine_from_tags(
                Some(&[f64::NAN, 1.0]),
                Some(&pt),
                None,
                RasterType::PixelIsArea
            )
            .is_err()
        );
        let two_points = [pt, pt].concat();
        assert!(
            affine_from_tags(
                Some(&[1.0, 1.0]),
                Some(&two_points),
                None,
                RasterType::PixelIsArea
            )
            .is_err()
        );
    }

    #[test]
    fn geo_keys() {
        // As GDAL writes EPSG:3413: model type projected, PixelIsArea, projected CS 3413.
        let dir = [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 3413];
        let k = parse_geo_keys(&dir).unwrap();
        assert_eq!(k.epsg(), Ok(Some(3413)));
        assert_eq!(k.raster_type, RasterType::PixelIsArea);
        // Geographic, PixelIsPoint, a citation key stored elsewhere (skipped).
        let dir = [
            1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 2, 1026, 34737, 7, 0, 2048, 0, 1, 4326,
        ];
        let k = parse_geo_keys(&dir).unwrap();
        assert_eq!(k.epsg(), Ok(Some(4326)));
        assert_eq!(k.raster_type, RasterType::PixelIsPoint);
        // User-defined projection.
        let k = parse_geo_keys(&[1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32767]).unwrap();
        assert!(k.epsg().is_err());
        assert_eq!(parse_geo_keys(&[1, 1, 0, 0]).unwrap().epsg(), Ok(None));
        // Truncated or malformed directories are errors, not panics.
        assert!(parse_geo_keys(&[1, 1, 0]).is_err());
        assert!(parse_geo_keys(&[1, 1, 0, 2, 1024, 0, 1, 1]).is_err());
        assert!(parse_geo_keys(&[2, 1, 0, 0]).is_err());
        assert!(parse_geo_keys(&[1, 1, 0, 1, 1025, 0, 1, 7]).is_err());
    }

    #[test]
    fn gdal_nodata() {
        assert_eq!(parse_gdal_nodata("-9999"), Ok(-9999.0));
        assert_eq!(parse_gdal_nodata("-9999\0"), Ok(-9999.0));
        assert_eq!(parse_gdal_nodata(" 0 "), Ok(0.0));
        assert_eq!(
            parse_gdal_nodata("3.4028234663852886e+38"),
            Ok(3.402_823_466_385_288_6e38)
        );
        assert!(parse_gdal_nodata("nan").unwrap().is_nan());
        assert_eq!(parse_gdal_nodata("-inf"), Ok(f64::NEG_INFINITY));
        assert!(parse_gdal_nodata("none").is_err());
    }
}
