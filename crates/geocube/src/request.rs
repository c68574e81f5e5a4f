//! Areas of interest from user text: a `W,S,E,N` box in a CRS, or a GeoJSON file.

use std::path::Path;

use geocube_core::{Aoi, BoundingBox, Crs};

use crate::{Error, Result};

/// Parse `W,S,E,N` (commas and/or spaces).
///
/// # Errors
/// [`Error::InvalidBbox`] unless there are four finite numbers with W < E
/// and S < N.
pub fn parse_bbox(text: &str) -> Result<BoundingBox> {
    let bad = |reason: String| Error::InvalidBbox {
        bbox: text.to_owned(),
        reason,
    };
    let parts: Vec<&str> = text
        .split([',', ' '])
        .filter(|p| !p.trim().is_empty())
        .collect();
    let [w, s, e, n] = parts[..] else {
        return Err(bad(format!("expected 4 numbers, got {}", parts.len())));
    };
    let num = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| bad(format!("`{v}` is not a number")))
    };
    let (w, s, e, n) = (num(w)?, num(s)?, num(e)?, num(n)?);
    if w >= e {
        return Err(bad(format!("west {w} is not less than east {e}")));
    }
    if s >= n {
        return Err(bad(format!("south {s} is not less than north {n}")));
    }
    Ok(BoundingBox::new(w, s, e, n))
}

/// The AOI of a `W,S,E,N` box in the CRS `crs` (`EPSG:4326`, `EPSG:3413`, a PROJ string).
///
/// # Errors
/// [`Error::InvalidBbox`]; [`Error::Core`] wrapping `UnknownCrs`.
pub fn bbox_aoi(bbox: &str, crs: &str) -> Result<Aoi> {
    let crs: Crs = crs.parse()?;
    Ok(Aoi::bbox(parse_bbox(bbox)?, crs))
}

/// The AOI of a GeoJSON file (geometry, feature or feature collection) in
/// `crs` (GeoJSON is EPSG:4326 unless told otherwise).
///
/// # Errors
/// [`Error::Io`]; [`Error::Core`] wrapping `InvalidAoi` for bad GeoJSON.
pub fn geojson_aoi(path: &Path, crs: &str) -> Result<Aoi> {
    let crs: Crs = crs.parse()?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(Aoi::from_geojson_str(&text, crs)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bboxes() {
        assert_eq!(
            parse_bbox("1,2,3,4").ok(),
            Some(BoundingBox::new(1.0, 2.0, 3.0, 4.0))
        );
        assert_eq!(
            parse_bbox(" -1.5, 2 3 ,4e1").ok(),
            Some(BoundingBox::new(-1.5, 2.0, 3.0, 40.0))
        );
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "a,2,3,4",
            "5,2,3,4",
            "1,4,3,2",
            "1,2,1,4",
            "nan,2,3,4",
            "1,2,inf,4",
        ] {
            assert!(
                matches!(parse_bbox(bad), Err(Error::InvalidBbox { .. })),
                "{bad}"
            );
        }
        let msg = parse_bbox("10,0,5,1").expect_err("W > E").to_string();
        assert!(msg.contains("west 10 is not less than east 5"), "{msg}");
        assert!(matches!(
            bbox_aoi("1,2,3,4", "EPSG:999999"),
            Err(Error::Core(geocube_core::Error::UnknownCrs { .. }))
        ));
    }
}
