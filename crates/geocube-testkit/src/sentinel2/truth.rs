//! The ground truth of the Sentinel-2-like fixture: what every pixel of
//! every item holds, as a function of geographic position, band and date,
//! for tests to compare COGs, warped cubes and their seams with.
//!
//! A pixel of band `b` of an item acquired on date `d` (the index into
//! [`DATES`](super::DATES)) whose centre lies at WGS 84 `(lon, lat)` holds
//! [`dn`]`(b, d, lon, lat)` unless the item has no data there (its no-data
//! wedge, see [`Wedge`](super::Wedge)): then it holds 0. Nothing else enters:
//! not the tile, not the UTM zone, not the resolution. Two items of one date
//! therefore agree wherever they overlap, whichever zone they are in, up to
//! where their pixel centres lie.
//!
//! The reflectance bands are
//!
//! ```text
//! value(b, d, lon, lat) = BASE[b] + DATE_STEP·d
//!                       + EAST[b]·u + NORTH[b]·v
//!                       + WAVE_AMPLITUDE·sin(2π·u/WAVE_U + PHASE[b])·cos(2π·v/WAVE_V)
//! u = (lon − LON0)·METRES_PER_DEGREE·cos(LAT0),  v = (lat − LAT0)·METRES_PER_DEGREE
//! ```
//!
//! (`u`, `v`: equirectangular metres east and north of
//! ([`LON0`], [`LAT0`]), the point where the fixture straddles 138° W), and
//! the COGs hold it rounded half away from zero ([`dn`]). Over the fixture
//! (a few km around the origin) the values stay within 2000–7500: far from
//! 0 (no data) and from the uint16 limit. The plane makes a placement error
//! show as a bias of about 1.5 DN per 10 m pixel; the waves (4 km and 3 km)
//! make it non-linear in any map projection, yet so smooth at 10 m that a
//! bilinear or cubic warp of the rounded pixels is within 1 DN of the truth
//! (their curvature costs under 0.02 DN even at 20 m).
//!
//! The scene classification `SCL` is categorical: a pattern of 900 m × 700 m
//! cells (in `u`, `v`) holding Sentinel-2's classes, shifted 250 m east per
//! date ([`scl`]); large areas of one class, as the `mode` kernel expects.

use super::Band;

/// Longitude of the truth's origin (degrees): the UTM zone 7/8 boundary.
pub const LON0: f64 = -138.0;
/// Latitude of the truth's origin (degrees).
pub const LAT0: f64 = 59.0;
/// Metres per degree of latitude (nominal) in the equirectangular `u`, `v`.
pub const METRES_PER_DEGREE: f64 = 111_320.0;
/// What each later date adds to every reflectance band (DN).
pub const DATE_STEP: f64 = 120.0;
/// Amplitude of the waves (DN).
pub const WAVE_AMPLITUDE: f64 = 80.0;
/// Wavelength of the waves along `u` (metres).
pub const WAVE_U: f64 = 4_000.0;
/// Wavelength of the waves along `v` (metres).
pub const WAVE_V: f64 = 3_000.0;
/// Width (along `u`) and height (along `v`) of the SCL cells (metres).
pub const SCL_CELL: (f64, f64) = (900.0, 700.0);
/// How far the SCL pattern moves east per date (metres).
pub const SCL_SHIFT_PER_DATE: f64 = 250.0;
/// The SCL classes the cells cycle through (Sentinel-2 L2A codes: 4
/// vegetation, 5 not vegetated, 6 water, 8 and 9 cloud medium and high
/// probability, 10 thin cirrus, 3 cloud shadow, 7 unclassified, 11 snow).
/// 0 (no data) is never among them.
pub const SCL_CLASSES: [u8; 9] = [4, 5, 6, 8, 9, 10, 3, 7, 11];

/// `(BASE, EAST, NORTH, PHASE)` of a reflectance band: DN, DN per metre
/// east, DN per metre north, radians. `None` for SCL.
#[must_use]
pub fn coefficients(band: Band) -> Option<(f64, f64, f64, f64)> {
    Some(match band {
        Band::B02 => (3200.0, 0.11, 0.07, 0.0),
        Band::B03 => (3700.0, 0.12, -0.05, 0.9),
        Band::B04 => (4200.0, -0.10, 0.08, 1.8),
        Band::B08 => (5600.0, 0.09, 0.10, 2.7),
        Band::B11 => (4800.0, -0.08, -0.09, 3.6),
        Band::B12 => (4000.0, 0.10, -0.10, 4.5),
        Band::Scl => return None,
    })
}

/// `(u, v)`: equirectangular metres east and north of ([`LON0`], [`LAT0`]).
#[must_use]
pub fn local_metres(lon: f64, lat: f64) -> (f64, f64) {
    (
        (lon - LON0) * METRES_PER_DEGREE * LAT0.to_radians().cos(),
        (lat - LAT0) * METRES_PER_DEGREE,
    )
}

/// The truth at `(lon, lat)` (WGS 84 degrees) on date index `date`: the
/// formula of the module docs for reflectance bands (unrounded DN), the
/// class ([`scl`]) for SCL.
#[must_use]
pub fn value(band: Band, date: usize, lon: f64, lat: f64) -> f64 {
    let Some((base, east, north, phase)) = coefficients(band) else {
        return f64::from(scl(date, lon, lat));
    };
    let (u, v) = local_metres(lon, lat);
    let tau = std::f64::consts::TAU;
    #[allow(clippy::cast_precision_loss)] // dates are a handful
    let d = date as f64;
    base + DATE_STEP * d
        + east * u
        + north * v
        + WAVE_AMPLITUDE * (tau * u / WAVE_U + phase).sin() * (tau * v / WAVE_V).cos()
}

/// What a COG pixel centred at `(lon, lat)` holds where its item has data:
/// [`value`] rounded half away from zero and kept within 1..=65535 (so it
/// is never the nodata value 0); for SCL its class.
#[must_use]
pub fn dn(band: Band, date: usize, lon: f64, lat: f64) -> u16 {
    let v = value(band, date, lon, lat).round().clamp(1.0, 65_535.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped
    let v = v as u16;
    v
}

/// The SCL class at `(lon, lat)` on date index `date` (never 0).
#[must_use]
pub fn scl(date: usize, lon: f64, lat: f64) -> u8 {
    let (u, v) = local_metres(lon, lat);
    #[allow(clippy::cast_precision_loss)]
    let shift = SCL_SHIFT_PER_DATE * date as f64;
    #[allow(clippy::cast_possible_truncation)] // a few cells from the origin
    let (cu, cv) = (
        ((u + shift) / SCL_CELL.0).floor() as i64,
        (v / SCL_CELL.1).floor() as i64,
    );
    let n = SCL_CLASSES.len() as i64;
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)] // rem_euclid ≥ 0
    let i = (cu + 2 * cv).rem_euclid(n) as usize;
    SCL_CLASSES[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_far_from_nodata_and_the_type_limit() {
        // Over ±6 km, more than the fixture covers (±4 km east, ±5.5 km north).
        for band in Band::ALL {
            for date in 0..super::super::DATES.len() {
                for i in -10..=10 {
                    for j in -10..=10 {
                        let lon = LON0 + f64::from(i) * 0.0105;
                        let lat = LAT0 + f64::from(j) * 0.0054;
                        let v = value(band, date, lon, lat);
                        if band == Band::Scl {
                            assert!(SCL_CLASSES.contains(&scl(date, lon, lat)));
                        } else {
                            assert!((2000.0..7500.0).contains(&v), "{band:?} {v}");
                        }
                        assert_ne!(dn(band, date, lon, lat), 0);
                    }
                }
            }
        }
    }

    #[test]
    fn dates_and_bands_differ() {
        let (lon, lat) = (LON0 + 0.01, LAT0 - 0.01);
        assert!(
            (value(Band::B04, 3, lon, lat) - value(Band::B04, 0, lon, lat) - 360.0).abs() < 1e-9
        );
        assert_ne!(dn(Band::B02, 0, lon, lat), dn(Band::B03, 0, lon, lat));
        assert_eq!(local_metres(LON0, LAT0), (0.0, 0.0));
        // One SCL cell east is the next class but one (`cu + 2·cv`).
        let (u_step, _) = SCL_CELL;
        let deg = u_step / (METRES_PER_DEGREE * LAT0.to_radians().cos());
        let here = scl(0, LON0 + deg * 0.5, LAT0 + 0.001);
        let east = scl(0, LON0 + deg * 1.5, LAT0 + 0.001);
        let i = SCL_CLASSES.iter().position(|&c| c == here);
        let j = SCL_CLASSES.iter().position(|&c| c == east);
        assert_eq!(i.map(|i| (i + 1) % SCL_CLASSES.len()), j);
    }
}
