//! Areas and times of interest from user text: a `W,S,E,N` box in a CRS, a
//! GeoJSON file, a `--time` value.
//!
//! A box in a geographic CRS (EPSG:4326) is checked, not wrapped: longitudes
//! lie in -180..180 and latitudes in -90..90, anything else is an error
//! rather than a silent ±360° shift. A box whose west is greater than its
//! east crosses the antimeridian, as in GeoJSON (RFC 7946 §5.2) and STAC
//! API `bbox`: `170,60,-170,70` is the 20° wide box from 170°E to 170°W (odc-geo
//! and smart-geocubes take coordinates as given and have no such box; there
//! `170,60,-170,70` would be an inverted box, which we refused before).
//! In a projected CRS west must be less than east, and coordinates beyond
//! ±10¹⁰ units (250 times the Earth's circumference in metres) are refused
//! as absurd.

use std::path::Path;

use geocube_core::{Aoi, BoundingBox, Crs, Toi};

use crate::{Error, Result};

/// Coordinates beyond this, in any CRS, are no place on Earth.
const ABSURD: f64 = 1e10;

/// The four numbers of `W,S,E,N` (commas and/or spaces), finite.
fn four_numbers(text: &str) -> Result<[f64; 4]> {
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
    Ok([num(w)?, num(s)?, num(e)?, num(n)?])
}

/// Parse `W,S,E,N` (commas and/or spaces), whatever the CRS.
///
/// # Errors
/// [`Error::InvalidBbox`] unless there are four finite numbers with W < E
/// and S < N.
pub fn parse_bbox(text: &str) -> Result<BoundingBox> {
    let bad = |reason: String| Error::InvalidBbox {
        bbox: text.to_owned(),
        reason,
    };
    let [w, s, e, n] = four_numbers(text)?;
    if w >= e {
        return Err(bad(format!("west {w} is not less than east {e}")));
    }
    if s >= n {
        return Err(bad(format!("south {s} is not less than north {n}")));
    }
    Ok(BoundingBox::new(w, s, e, n))
}

/// Parse `W,S,E,N` in `crs`, checked as the module says: in a geographic
/// CRS longitudes within ±180° and latitudes within ±90°, west > east
/// crossing the antimeridian (the box returned then has continuous
/// longitudes, `right` = east + 360); in a projected CRS west < east and no
/// coordinate beyond ±10¹⁰.
///
/// # Errors
/// [`Error::InvalidBbox`] saying which coordinate is wrong.
pub fn parse_bbox_in(text: &str, crs: &Crs) -> Result<BoundingBox> {
    let bad = |reason: String| Error::InvalidBbox {
        bbox: text.to_owned(),
        reason,
    };
    let [w, s, e, n] = four_numbers(text)?;
    if !crs.is_geographic() {
        if let Some(v) = [w, s, e, n].into_iter().find(|v| v.abs() > ABSURD) {
            return Err(bad(format!(
                "{v:e} lies far off the Earth in {crs} (coordinates beyond ±1e10 are refused)"
            )));
        }
        return parse_bbox(text);
    }
    for (name, v) in [("west", w), ("east", e)] {
        if !(-180.0..=180.0).contains(&v) {
            return Err(bad(format!(
                "{name} longitude {v} is outside -180..180 (a box crossing the antimeridian has west > east, e.g. 170,60,-170,70)"
            )));
        }
    }
    for (name, v) in [("south", s), ("north", n)] {
        if !(-90.0..=90.0).contains(&v) {
            return Err(bad(format!("{name} latitude {v} is outside -90..90")));
        }
    }
    if s >= n {
        return Err(bad(format!("south {s} is not less than north {n}")));
    }
    if w == e {
        return Err(bad(format!(
            "west and east are both {w}: the box has no width"
        )));
    }
    // West > east: across the antimeridian, with continuous longitudes.
    let right = if w > e { e + 360.0 } else { e };
    Ok(BoundingBox::new(w, s, right, n))
}

/// The AOI of a `W,S,E,N` box in the CRS `crs` (`EPSG:4326`, `EPSG:3413`,
/// a PROJ string), checked by [`parse_bbox_in`].
///
/// # Errors
/// [`Error::InvalidBbox`]; [`Error::Core`] wrapping `UnknownCrs`.
pub fn bbox_aoi(bbox: &str, crs: &str) -> Result<Aoi> {
    let crs: Crs = crs.parse()?;
    Ok(Aoi::bbox(parse_bbox_in(bbox, &crs)?, crs))
}

/// Parse a `--time` value as [`Toi::parse`] does, except that an empty (or
/// blank) text is an error: on the command line it is a mistake (an unset
/// variable, a lost quote), not a request for every time step. `all` asks
/// for every step.
///
/// # Errors
/// [`Error::Core`] wrapping `InvalidToi`.
pub fn parse_toi(text: &str) -> Result<Toi> {
    if text.trim().is_empty() {
        return Err(geocube_core::Error::InvalidToi(
            "the time is empty; give a date, a range or a list, `all` for every time step, or leave out --time".into(),
        )
        .into());
    }
    Ok(Toi::parse(text)?)
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

    #[test]
    fn geographic_boxes_are_checked_not_wrapped() {
        let wgs84 = Crs::wgs84();
        let ok = |t: &str| parse_bbox_in(t, &wgs84).expect(t);
        assert_eq!(
            ok("-150.5,70.1,-150,70.3"),
            BoundingBox::new(-150.5, 70.1, -150.0, 70.3)
        );
        assert_eq!(
            ok("-180,-90,180,90"),
            BoundingBox::new(-180.0, -90.0, 180.0, 90.0)
        );
        // West > east crosses the antimeridian: continuous longitudes.
        assert_eq!(
            ok("170,60,-170,70"),
            BoundingBox::new(170.0, 60.0, 190.0, 70.0)
        );
        assert_eq!(
            ok("180,60,-179,70"),
            BoundingBox::new(180.0, 60.0, 181.0, 70.0)
        );
        for (bad, needle) in [
            ("170,60,190,70", "east longitude 190 is outside -180..180"),
            ("-181,60,-170,70", "west longitude -181"),
            ("10,-91,20,0", "south latitude -91"),
            ("10,0,20,90.5", "north latitude 90.5"),
            ("10,5,20,5", "south 5 is not less than north 5"),
            ("10,0,10,5", "no width"),
            ("1e308,0,1e308,1", "outside -180..180"),
        ] {
            let msg = parse_bbox_in(bad, &wgs84).expect_err(bad).to_string();
            assert!(msg.contains(needle), "{bad}: {msg}");
        }
        let polar = Crs::from_epsg(3413).expect("crs");
        assert_eq!(
            parse_bbox_in("-1600000,1570000,-1570000,1600000", &polar).ok(),
            Some(BoundingBox::new(
                -1_600_000.0,
                1_570_000.0,
                -1_570_000.0,
                1_600_000.0
            ))
        );
        // Absurd, and readable in the message.
        let msg = parse_bbox_in("-1e308,-1e308,1e308,1e308", &polar)
            .expect_err("absurd")
            .to_string();
        assert!(msg.contains("-1e308 lies far off the Earth"), "{msg}");
        assert!(!msg.contains("inf") && !msg.contains("NaN"), "{msg}");
        assert!(
            parse_bbox_in("20,0,10,1", &polar).is_err(),
            "no antimeridian rule"
        );
    }

    #[test]
    fn empty_times_are_errors() {
        for empty in ["", "  "] {
            let msg = parse_toi(empty).expect_err("empty").to_string();
            assert!(msg.contains("the time is empty"), "{msg}");
        }
        assert_eq!(parse_toi("all").ok(), Some(Toi::None));
        assert!(matches!(parse_toi("2020-06-01"), Ok(Toi::Instant(_))));
    }
}
