//! The Sentinel-2 preset end to end: the testkit's Sentinel-2-like
//! collection (UTM zones 7 and 8, six dates) loaded across the zone
//! boundary into an EPSG:3413 cube at 10 m and into an EPSG:4326 cube,
//! every pixel compared with the truth of its centre, the boundary strip
//! checked for seams and gaps.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{NaiveTime, Utc};
use geocube::{Accessor, LoadOptions, Loaded, Resampling, Source};
use geocube_core::{Aoi, BoundingBox, Crs, CubeStorage, Toi};
use geocube_sources::datasets::sentinel2::{Band, Sentinel2};
use geocube_testkit::footprint::Projector;
use geocube_testkit::sentinel2::{self as fixture, Sentinel2Manifest, truth};
use geocube_testkit::server::{FixtureServer, ServerOptions};

fn fixtures() -> &'static (PathBuf, Sentinel2Manifest) {
    static DIR: OnceLock<(PathBuf, Sentinel2Manifest)> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "fixtures-sentinel2-v{}",
            fixture::GENERATOR_VERSION
        ));
        (dir.clone(), fixture::ensure(&dir).unwrap())
    })
}

/// The acquisition days as a time of interest: the six steps with data.
fn acquisition_days(m: &Sentinel2Manifest) -> Toi {
    Toi::List(
        m.dates
            .iter()
            .map(|d| {
                d.parse::<chrono::NaiveDate>()
                    .unwrap()
                    .and_time(NaiveTime::MIN)
                    .and_utc()
            })
            .collect(),
    )
}

/// What the comparison of a loaded region with the truth found.
#[derive(Debug, Default)]
struct Comparison {
    /// Pixels with data where the truth says some item has data.
    compared: usize,
    /// Of those, in the strip 300 m either side of 138° W.
    in_strip: usize,
    /// Largest |value − truth| of the 10 m and of the 20 m bands, away
    /// from item edges.
    worst: [f64; 2],
    /// The same within 30 m of an item's edge (or wedge).
    worst_at_edges: [f64; 2],
    /// Pixels with data within 30 m of an item's edge.
    at_edges: usize,
    /// Mean of value − truth, and of its absolute value.
    mean: f64,
    mean_abs: f64,
    /// SCL pixels equal to the truth's class, and compared.
    scl_equal: usize,
    scl_compared: usize,
}

const REFLECTANCE: [(Band, fixture::Band); 6] = [
    (Band::B02, fixture::Band::B02),
    (Band::B03, fixture::Band::B03),
    (Band::B04, fixture::Band::B04),
    (Band::B08, fixture::Band::B08),
    (Band::B11, fixture::Band::B11),
    (Band::B12, fixture::Band::B12),
];

/// How far a bilinear warp of a band of native resolution `res` may be off
/// the truth: the COG's rounding (0.5 DN) and the cube's (0.5 DN), and the
/// approximate transformer's error of up to 0.125 source pixels times the
/// truth's steepest slope (0.32 DN/m: the plane and the waves), with a
/// hair for the curvature.
fn tolerance(res: f64) -> f64 {
    1.0 + 0.125 * res * 0.32 + 0.05
}

/// The same near an item's edge, where the last source pixels' half has no
/// neighbour beyond: the kernel renormalises over the taps with data, so
/// the value is the edge's, up to half a source pixel's diagonal away. An
/// item written after an overlapping one keeps such pixels: the cube's
/// mosaic is "last valid value wins".
fn edge_tolerance(res: f64) -> f64 {
    1.0 + (0.125 + std::f64::consts::FRAC_1_SQRT_2) * res * 0.32 + 0.05
}

/// The pixels of `loaded` (every band and step; all of them in the strip
/// 300 m either side of 138° W, every ninth elsewhere): where an item has
/// data 30 m inside its edges the cube has a value near the truth (no
/// hole, no seam); where every item is 30 m away the cube holds 0.
fn compare(
    loaded: &Loaded,
    m: &Sentinel2Manifest,
    to_lonlat: &dyn Fn(f64, f64) -> (f64, f64),
) -> Comparison {
    let ds = &loaded.dataset;
    let times = ds.time.as_ref().unwrap();
    assert_eq!(times.len(), 6);
    let (xs, ys) = (ds.xs(), ds.ys());
    let coverage = m.coverage().unwrap();
    let lonlat: Vec<Vec<(f64, f64)>> = ys
        .iter()
        .map(|&y| xs.iter().map(|&x| to_lonlat(x, y)).collect())
        .collect();
    let mut c = Comparison::default();
    let (mut sum, mut sum_abs) = (0.0, 0.0);
    for (t, time) in times.iter().enumerate() {
        let date = m
            .dates
            .iter()
            .position(|d| time.with_timezone(&Utc).format("%Y-%m-%d").to_string() == *d)
            .unwrap();
        for (r, row) in lonlat.iter().enumerate() {
            for (col, &(lon, lat)) in row.iter().enumerate() {
                // Every pixel of the strip along 138° W, every ninth elsewhere.
                let strip =
                    (lon - truth::LON0).abs() * 111_320.0 * truth::LAT0.to_radians().cos() < 300.0;
                if !strip && (r % 3 != 0 || col % 3 != 0) {
                    continue;
                }
                let well_inside = coverage.items_at(date, lon, lat, 30.0).unwrap().len();
                let near = coverage.items_at(date, lon, lat, -30.0).unwrap().len();
                let (inside, outside) = (well_inside > 0, near == 0);
                if !inside && !outside {
                    continue;
                }
                // Some item's edge passes within 30 m.
                let at_edge = inside && near > well_inside;
                c.at_edges += usize::from(at_edge);
                for (band, truth_band) in REFLECTANCE {
                    let v = ds
                        .variable(band.name())
                        .unwrap()
                        .data
                        .as_array::<u16>()
                        .unwrap()[[t, r, col]];
                    if outside {
                        assert_eq!(
                            v, 0,
                            "{band:?} {time} at ({lon}, {lat}): no item has data here"
                        );
                        continue;
                    }
                    assert_ne!(
                        v, 0,
                        "{band:?} {time} at ({lon}, {lat}): a hole where items have data"
                    );
                    let err = f64::from(v) - truth::value(truth_band, date, lon, lat);
                    let res = band.native_resolution();
                    let tol = if at_edge {
                        edge_tolerance(res)
                    } else {
                        tolerance(res)
                    };
                    assert!(
                        err.abs() <= tol,
                        "{band:?} {time} at ({lon}, {lat}): {v}, {err} off the truth (edge: {at_edge})"
                    );
                    let worst = if at_edge {
                        &mut c.worst_at_edges
                    } else {
                        &mut c.worst
                    };
                    let w = &mut worst[usize::from(res > 10.0)];
                    *w = w.max(err.abs());
                    if !at_edge {
                        sum += err;
                        sum_abs += err.abs();
                        c.compared += 1;
                        c.in_strip += usize::from(strip);
                    }
                }
                let scl = ds.variable("SCL").unwrap().data.as_array::<u8>().unwrap()[[t, r, col]];
                if outside {
                    assert_eq!(scl, 0);
                } else {
                    assert!(
                        truth::SCL_CLASSES.contains(&scl),
                        "SCL {scl} at ({lon}, {lat})"
                    );
                    c.scl_compared += 1;
                    c.scl_equal += usize::from(scl == truth::scl(date, lon, lat));
                }
            }
        }
    }
    c.mean = sum / c.compared as f64;
    c.mean_abs = sum_abs / c.compared as f64;
    c
}

fn accessor(source: Sentinel2, dir: &std::path::Path) -> Accessor {
    Accessor::builder(Arc::new(source) as Arc<dyn Source>, CubeStorage::local(dir))
        .build()
        .unwrap()
}

fn preset(server: &FixtureServer) -> geocube_sources::datasets::sentinel2::Sentinel2Builder {
    Sentinel2::builder()
        .stac_url(server.stac_api_url())
        .daily("2024-07-01".parse().unwrap(), "2024-07-31".parse().unwrap())
        .resampling(Resampling::Bilinear)
        .chunk_size(256)
}

/// The fixture's union around the boundary: 4.7 km × 8.3 km.
fn aoi() -> Aoi {
    Aoi::bbox(
        BoundingBox::new(-138.04, 58.965, -137.96, 59.04),
        Crs::wgs84(),
    )
}

fn check(c: &Comparison, what: &str) {
    println!("{what}: {c:?}");
    // Within the tolerance at every pixel (checked in `compare`) and
    // unbiased: a placement error of half a 10 m pixel would bias by about
    // 0.7 DN.
    assert!(c.mean.abs() < 0.05, "{what}: {c:?}");
    assert!(c.mean_abs < 0.5, "{what}: {c:?}");
    assert!(
        c.in_strip > 10_000,
        "{what}: the boundary strip was compared: {c:?}"
    );
    // Classes differ only within a pixel of a class boundary.
    assert!(
        c.scl_equal as f64 >= 0.95 * c.scl_compared as f64,
        "{what}: {c:?}"
    );
}

#[test]
fn loads_across_the_zone_boundary_equal_the_truth_in_polar_and_geographic_cubes() {
    let (dir, m) = fixtures();
    let server = FixtureServer::start(dir, ServerOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let toi = acquisition_days(m);

    // EPSG:3413 at 10 m, the ArcticDEM extent.
    let polar = preset(&server)
        .crs(Crs::from_epsg(3413).unwrap())
        .resolution(10.0)
        .build()
        .unwrap();
    let acc = accessor(polar, &tmp.path().join("polar"));
    let loaded = acc
        .load(&aoi(), &toi, LoadOptions::default().create(true))
        .unwrap();
    assert_eq!(loaded.report.patches.len(), 24);
    let p = Projector::new().unwrap();
    let c = compare(&loaded, m, &|x, y| p.to_lonlat(x, y).unwrap());
    check(&c, "EPSG:3413");
    // A warm load downloads nothing and reads the same pixels.
    let warm = acc.load(&aoi(), &toi, LoadOptions::default()).unwrap();
    assert!(warm.report.submit.downloaded.is_empty());
    for band in ["B04", "SCL"] {
        assert!(
            warm.dataset.variable(band).unwrap().data
                == loaded.dataset.variable(band).unwrap().data
        );
    }

    // EPSG:4326 at 10 m (at the equator), a 2° square around the fixture.
    let geographic = preset(&server)
        .extent(BoundingBox::new(-139.0, 58.0, -137.0, 60.0))
        .build()
        .unwrap();
    let acc = accessor(geographic, &tmp.path().join("geographic"));
    let loaded = acc
        .load(&aoi(), &toi, LoadOptions::default().create(true))
        .unwrap();
    assert_eq!(loaded.report.patches.len(), 24);
    let c = compare(&loaded, m, &|x, y| (x, y));
    check(&c, "EPSG:4326");
}

#[test]
fn a_cloud_filtered_cube_holds_only_the_clear_items() {
    let (dir, m) = fixtures();
    let server = FixtureServer::start(dir, ServerOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let source = preset(&server)
        .crs(Crs::from_epsg(3413).unwrap())
        .max_cloud_cover(20.0)
        .bands([Band::B04])
        .build()
        .unwrap();
    let acc = accessor(source, tmp.path());
    let loaded = acc
        .load(
            &aoi(),
            &acquisition_days(m),
            LoadOptions::default().create(true),
        )
        .unwrap();
    let mut want: Vec<String> = m
        .items
        .iter()
        .filter(|i| i.cloud_cover <= 20.0)
        .map(|i| i.id.clone())
        .collect();
    want.sort();
    assert_eq!(loaded.report.patches, want);
    assert_eq!(acc.loaded_patches().unwrap().len(), 7);
}
