//! The Sentinel-2 preset and the STAC property filter against the
//! testkit's Sentinel-2-like collection: which items `touching_patches`
//! finds per area, time and cloud cover (with a server that applies the
//! query extension and with one that ignores it), the patches' ids, steps
//! and footprints, and a download onto a UTM cube.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use geocube_core::{Aoi, BoundingBox, Crs, DType, Toi, TypedArray};
use geocube_sources::datasets::sentinel2::{Band, Sentinel2, Sentinel2Builder};
use geocube_sources::{Error, StacItems, StacSource};
use geocube_testkit::sentinel2::{self as fixture, Sentinel2Manifest, UtmProjector, truth};
use geocube_testkit::server::{FixtureServer, ServerOptions};
use serde_json::Value;

fn server(ignore_query: bool) -> FixtureServer {
    let (dir, _) = common::sentinel2();
    common::server(
        dir,
        ServerOptions {
            ignore_query,
            ..ServerOptions::default()
        },
    )
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The preset on `server`, daily steps over July 2024.
fn july(server: &FixtureServer) -> Sentinel2Builder {
    Sentinel2::builder()
        .stac_url(server.stac_api_url())
        .daily(day("2024-07-01"), day("2024-07-31"))
        .http_config(common::http_config())
}

/// A lon/lat box of ±`half` degrees around `(lon, lat)`.
fn around(lon: f64, lat: f64, half: f64) -> Aoi {
    Aoi::bbox(
        BoundingBox::new(lon - half, lat - half, lon + half, lat + half),
        Crs::wgs84(),
    )
}

/// The ids of the manifest's items on `tiles` and `dates` with at most
/// `max_cloud` % cloud cover.
fn expected(
    m: &Sentinel2Manifest,
    tiles: &[usize],
    dates: &[usize],
    max_cloud: f64,
) -> BTreeSet<String> {
    m.items
        .iter()
        .filter(|i| {
            tiles.contains(&i.tile) && dates.contains(&i.date) && i.cloud_cover <= max_cloud
        })
        .map(|i| i.id.clone())
        .collect()
}

fn ids(refs: &[geocube_core::PatchRef]) -> BTreeSet<String> {
    refs.iter().map(|r| r.id.clone()).collect()
}

const ALL_TILES: [usize; 4] = [0, 1, 2, 3];
const ALL_DATES: [usize; 6] = [0, 1, 2, 3, 4, 5];

#[test]
fn the_stac_source_filters_on_cloud_cover_whether_the_server_does_or_not() {
    let (_, m) = common::sentinel2();
    let want = expected(m, &ALL_TILES, &ALL_DATES, 20.0);
    assert_eq!(want.len(), 7);
    for ignore_query in [false, true] {
        let server = server(ignore_query);
        let spec = Sentinel2::builder()
            .stac_url(server.stac_api_url())
            .build()
            .unwrap()
            .spec()
            .clone();
        let aoi = around(truth::LON0, truth::LAT0, 0.005);
        let unfiltered = StacSource::builder(server.stac_api_url(), "sentinel-2-l2a", spec.clone())
            .http_config(common::http_config())
            .build()
            .unwrap();
        assert_eq!(
            unfiltered.touching_patches(&aoi, &Toi::None).unwrap().len(),
            24
        );
        let source = StacSource::builder(server.stac_api_url(), "sentinel-2-l2a", spec)
            .max_cloud_cover(20.0)
            .http_config(common::http_config())
            .build()
            .unwrap();
        let found = source.touching_patches(&aoi, &Toi::None).unwrap();
        assert_eq!(ids(&found), want, "ignore_query: {ignore_query}");
        for p in &found {
            let StacItems(items) = p.item::<StacItems>().unwrap();
            let cc = items[0]["properties"]["eo:cloud_cover"].as_f64().unwrap();
            assert!(cc <= 20.0, "{}: {cc} %", p.id);
        }
        // Nothing clear enough: no patches, as for an empty area.
        let none = StacSource::builder(
            server.stac_api_url(),
            "sentinel-2-l2a",
            source.spec().clone(),
        )
        .max_cloud_cover(-1.0)
        .http_config(common::http_config())
        .build()
        .unwrap();
        assert!(matches!(
            none.touching_patches(&aoi, &Toi::None),
            Err(Error::NoPatches { .. })
        ));
        // Ids already in a cube are described whatever their cloud cover.
        let cloudy = m.items.iter().find(|i| i.cloud_cover == 100.0).unwrap();
        let refs = source.patch_refs(std::slice::from_ref(&cloudy.id)).unwrap();
        assert_eq!(refs.len(), 1);
    }
}

#[test]
fn touching_patches_follow_the_area() {
    let (_, m) = common::sentinel2();
    let server = server(false);
    let s2 = july(&server).build().unwrap();
    let p7 = UtmProjector::new(7).unwrap();
    // Across the zone boundary where both rows overlap: every tile.
    let found = s2
        .touching_patches(&around(truth::LON0, truth::LAT0, 0.003), &Toi::None)
        .unwrap();
    assert_eq!(ids(&found), expected(m, &ALL_TILES, &ALL_DATES, 100.0));
    // Deep in zone 7's northern tile, west of where zone 8's reach: one tile.
    let b = m.tiles[0].bounds;
    let (lon, lat) = p7.to_lonlat(b.xmin + 400.0, b.ymax - 400.0).unwrap();
    let found = s2
        .touching_patches(&around(lon, lat, 0.001), &Toi::None)
        .unwrap();
    assert_eq!(ids(&found), expected(m, &[0], &ALL_DATES, 100.0));
    // In the north-east wedge of that tile: on the even dates only zone 8
    // has data there, and the item's footprint says so.
    let (lon, lat) = p7.to_lonlat(b.xmax - 300.0, b.ymax - 600.0).unwrap();
    let found = s2
        .touching_patches(&around(lon, lat, 0.0005), &Toi::None)
        .unwrap();
    let mut want = expected(m, &[2], &ALL_DATES, 100.0);
    want.extend(expected(m, &[0], &[1, 3, 5], 100.0));
    assert_eq!(ids(&found), want);
    // Far away: nothing.
    assert!(matches!(
        s2.touching_patches(&around(-120.0, 59.0, 0.01), &Toi::None),
        Err(Error::NoPatches { .. })
    ));
}

#[test]
fn touching_patches_follow_the_time_steps_and_the_cloud_filter() {
    let (_, m) = common::sentinel2();
    let server = server(false);
    let aoi = around(truth::LON0, truth::LAT0, 0.003);
    let s2 = july(&server).build().unwrap();
    let find = |toi: &str| s2.touching_patches(&aoi, &Toi::parse(toi).unwrap());
    // An instant: its nearest step, a day.
    assert_eq!(
        ids(&find("2024-07-12T10:00:00Z").unwrap()),
        expected(m, &ALL_TILES, &[2], 100.0)
    );
    // A day without acquisitions.
    assert!(matches!(
        find("2024-07-04T12:00:00Z"),
        Err(Error::NoPatches { .. })
    ));
    // A range of days; a list of days (not what lies between them).
    assert_eq!(
        ids(&find("2024-07-05/2024-07-15").unwrap()),
        expected(m, &ALL_TILES, &[1, 2], 100.0)
    );
    assert_eq!(
        ids(&find("2024-07-02,2024-07-27").unwrap()),
        expected(m, &ALL_TILES, &[0, 5], 100.0)
    );
    // A time outside the axis is the cube's error, not an empty answer.
    let outside = s2.touching_patches(&aoi, &Toi::parse("2026-01-01/2026-02-01").unwrap());
    assert!(matches!(outside, Err(Error::Core(_))), "{outside:?}");

    // The patches: one per item, its id, on its step, with its footprint.
    let all = s2.touching_patches(&aoi, &Toi::None).unwrap();
    assert_eq!(all.len(), 24);
    for p in &all {
        let item = m.item(&p.id).unwrap();
        let step = t(&format!("{}T00:00:00Z", m.dates[item.date]));
        assert_eq!(p.time, Some(step), "{}", p.id);
        let StacItems(items) = p.item::<StacItems>().unwrap();
        assert_eq!(items.len(), 1);
        let props = &items[0]["properties"];
        assert_eq!(
            props["datetime"],
            step.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
        assert_eq!(props["geocube:acquired"], item.datetime.as_str());
        let bounds = geo::BoundingRect::bounding_rect(&p.geometry).unwrap();
        let bbox = item.bbox_wgs84;
        assert!((bounds.min().x - bbox[0]).abs() < 1e-9 && (bounds.max().y - bbox[3]).abs() < 1e-9);
    }

    // With a cloud filter, through a server with and without the query extension.
    for ignore_query in [false, true] {
        let server = self::server(ignore_query);
        let clear = july(&server).max_cloud_cover(20.0).build().unwrap();
        let found = clear.touching_patches(&aoi, &Toi::None).unwrap();
        assert_eq!(ids(&found), expected(m, &ALL_TILES, &ALL_DATES, 20.0));
        let found = clear
            .touching_patches(&aoi, &Toi::parse("2024-07-22").unwrap())
            .unwrap();
        assert_eq!(ids(&found), expected(m, &ALL_TILES, &[4], 20.0));
        assert_eq!(found.len(), 2);
    }

    // Steps of two days every ten: the items of 07-07 and 07-17 fall between.
    let steps = vec![
        t("2024-07-02T00:00:00Z"),
        t("2024-07-12T00:00:00Z"),
        t("2024-07-22T00:00:00Z"),
    ];
    let sparse = Sentinel2::builder()
        .stac_url(server.stac_api_url())
        .time_steps(steps)
        .step_length(chrono::Duration::days(2))
        .build()
        .unwrap();
    let found = sparse.touching_patches(&aoi, &Toi::None).unwrap();
    assert_eq!(ids(&found), expected(m, &ALL_TILES, &[0, 2, 4], 100.0));
}

#[test]
fn patch_refs_put_ids_on_their_steps() {
    let (_, m) = common::sentinel2();
    let server = server(false);
    let s2 = july(&server).build().unwrap();
    let ids: Vec<String> = vec![
        m.items[5].id.clone(),
        "S2A_9XXX_20240702_0_L2A".into(),
        m.items[20].id.clone(),
    ];
    let refs = s2.patch_refs(&ids).unwrap();
    let got: BTreeSet<String> = refs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(got, BTreeSet::from([ids[0].clone(), ids[2].clone()]));
    for r in &refs {
        let item = m.item(&r.id).unwrap();
        assert_eq!(
            r.time,
            Some(t(&format!("{}T00:00:00Z", m.dates[item.date])))
        );
    }
    // A cube whose axis misses the item's day does not know it.
    let august = Sentinel2::builder()
        .stac_url(server.stac_api_url())
        .daily(day("2024-08-01"), day("2024-08-31"))
        .build()
        .unwrap();
    assert!(august.patch_refs(&ids).unwrap().is_empty());
    assert!(s2.patch_refs(&[]).unwrap().is_empty());
    assert!(matches!(
        s2.touching_patches_offline(&around(truth::LON0, truth::LAT0, 0.01), &Toi::None),
        Err(Error::NeedsNetwork { .. })
    ));
}

fn u16s(a: &TypedArray) -> &ndarray::ArrayD<u16> {
    match a {
        TypedArray::Uint16(v) => v,
        other => panic!("not uint16: {:?}", other.dtype()),
    }
}

#[test]
fn downloads_land_on_a_utm_cube_copied_or_warped() {
    let (_, m) = common::sentinel2();
    let server = server(false);
    // A zone 7 cube at 10 m around the fixture, small chunks.
    let s2 = july(&server)
        .crs(Crs::from_epsg(32607).unwrap())
        .extent(BoundingBox::new(
            660_000.0,
            6_530_000.0,
            690_000.0,
            6_560_000.0,
        ))
        .bands([Band::B04, Band::B11, Band::Scl])
        .resampling(geocube_core::warp::Resampling::Bilinear)
        .chunk_size(256)
        .build()
        .unwrap();
    let spec = s2.spec().clone();
    assert_eq!(spec.channel("SCL").unwrap().dtype, DType::Uint8);
    let refs = s2
        .touching_patches(
            &around(truth::LON0, truth::LAT0, 0.003),
            &Toi::parse("2024-07-07").unwrap(),
        )
        .unwrap();
    let p7 = UtmProjector::new(7).unwrap();
    let coverage = m.coverage().unwrap();
    for r in &refs {
        let item = m.item(&r.id).unwrap();
        let zone = m.tiles[item.tile].zone;
        // Without its payload the source looks the item up by id.
        let bare = geocube_core::PatchRef::new(r.id.clone(), r.geometry.clone(), r.time);
        let patch = if item.tile == 1 {
            s2.download(&bare)
        } else {
            s2.download(r)
        }
        .unwrap();
        assert_eq!(patch.time, r.time);
        let g = &patch.geobox;
        let b04 = u16s(&patch.layers["B04"].data);
        // Worst error inside the item's data (20 m from its edges and its
        // wedge), worst at its edges (kernels with taps missing), mean error.
        let (mut n, mut inner, mut edge, mut sum) = (0usize, 0.0f64, 0.0f64, 0.0f64);
        for ((row, col), v) in b04
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .indexed_iter()
        {
            if *v == 0 {
                continue;
            }
            let a = g.affine();
            let x = a.x0 + (col as f64 + 0.5) * a.res_x;
            let y = a.y0 + (row as f64 + 0.5) * a.res_y;
            let (lon, lat) = p7.to_lonlat(x, y).unwrap();
            let err = f64::from(*v) - truth::value(fixture::Band::B04, item.date, lon, lat);
            let interior = coverage
                .items_at(item.date, lon, lat, 20.0)
                .unwrap()
                .contains(&r.id.as_str());
            if interior {
                inner = inner.max(err.abs());
            } else {
                edge = edge.max(err.abs());
            }
            sum += err;
            n += 1;
        }
        let mean = sum / n as f64;
        if zone == 7 {
            // On the cube's lattice: copied, the COG's own pixels.
            assert!(inner.max(edge) <= 0.5 + 1e-9, "{}: {inner} {edge}", r.id);
            assert_eq!(n, 540 * 540, "{}", r.id);
        } else {
            // Warped from zone 8 (bilinear): rounding twice and the
            // transformer's error inside; at the edges, a value from the
            // taps that have data.
            // (Measured: 0.98 inside, 1.7 at the edges, mean 0.0005.)
            assert!(
                inner <= 1.2 && edge <= 2.5,
                "{}: {inner} inside, {edge} at the edges",
                r.id
            );
            assert!(mean.abs() < 0.05, "{}: mean error {mean}", r.id);
            assert!(n > 500 * 500, "{}: {n} pixels", r.id);
        }
    }
    assert_eq!(refs.len(), 4);
}

#[test]
fn values_of_the_preset_reach_the_search() {
    // The registry opens the preset with an endpoint override.
    let server = server(false);
    let source = geocube_sources::datasets::open(
        "sentinel2-l2a",
        &geocube_sources::datasets::Overrides {
            stac_url: Some(server.stac_api_url()),
            http: Some(common::http_config()),
            ..Default::default()
        },
    )
    .unwrap();
    let found = source
        .touching_patches(
            &around(truth::LON0, truth::LAT0, 0.003),
            &Toi::parse("2024-07-17").unwrap(),
        )
        .unwrap();
    assert_eq!(found.len(), 4);
    let value: Value = serde_json::to_value(source.spec()).unwrap();
    assert_eq!(value["title"], "Sentinel2L2A");
}
