//! The ArcticDEM source end to end against the testkit server: patches from
//! the GeoParquet index, items and COGs over HTTP, loaded into a real local
//! cube through the threaded backend, compared pixel for pixel with the
//! fixture COGs decoded from disk.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use geocube_backend::{DownloadBackend, ThreadedBackend};
use geocube_core::{Aoi, BoundingBox, Crs, Cube, CubeStorage, Dataset, Toi, TypedArray};
use geocube_sources::{Error, Source, StacSource};
use geocube_testkit::server::ServerOptions;
use geocube_testkit::{AntimeridianSide, FixtureManifest};
use ndarray::{ArrayD, IxDyn};
use tiff::encoder::colortype;

use common::*;

/// The ROI around the corner shared by tiles (0,0), (0,1), (1,0), (1,1).
fn corner_roi(m: &FixtureManifest) -> Aoi {
    let b = m.tiles[0].bounds; // top-left tile
    let (x, y) = (b.xmax, b.ymin);
    polar_box(x - 5_000.0, y - 4_000.0, x + 6_000.0, y + 5_000.0)
}

fn ids_of(m: &FixtureManifest, cells: &[(u32, u32)]) -> BTreeSet<String> {
    cells.iter().map(|&(r, c)| m.layout.dem_id(r, c)).collect()
}

/// A new local cube of `spec`, and the directory that holds it.
fn new_cube(spec: &geocube_core::CubeSpec) -> (CubeStorage, tempfile::TempDir) {
    let repo = tempfile::tempdir().unwrap();
    let storage = CubeStorage::local(repo.path());
    Cube::create(storage.clone(), spec).execute().unwrap();
    (storage, repo)
}

/// A threaded backend writing the patches of `source` into `storage`.
fn threaded<S: Source + 'static>(storage: &CubeStorage, source: Arc<S>) -> ThreadedBackend {
    ThreadedBackend::new(storage.clone(), download_fn(source), backend_config()).unwrap()
}

/// Load `aoi` into a fresh local cube and read it back.
fn load_and_read(
    source: Arc<geocube_sources::datasets::arcticdem::ArcticDem>,
    aoi: &Aoi,
) -> (Dataset, Vec<String>, tempfile::TempDir) {
    let (storage, repo) = new_cube(source.spec());
    let patches = source.touching_patches(aoi, &Toi::None).unwrap();
    let backend = threaded(&storage, Arc::clone(&source));
    backend.submit(&patches).unwrap();
    let loaded = backend.loaded_patches().unwrap();
    backend.close().unwrap();
    let cube = Cube::open(storage).unwrap();
    (cube.read_aoi(aoi, &Toi::None).unwrap(), loaded, repo)
}

/// The cube's dem and datamask equal the fixture pixels bit for bit.
fn assert_matches_fixture(ds: &Dataset, dir: &std::path::Path, m: &FixtureManifest) -> (u64, u64) {
    let (want_dem, want_mask) = reference_pixels(dir, m, &ds.geobox);
    let got = ds.variable("dem").unwrap().data.as_array::<f32>().unwrap();
    let got_mask = ds
        .variable("datamask")
        .unwrap()
        .data
        .as_array::<bool>()
        .unwrap();
    assert_eq!(got.len(), want_dem.len());
    let (mut nodata, mut mismatches) = (0u64, 0u64);
    for ((g, w), (gm, wm)) in got
        .iter()
        .zip(&want_dem)
        .zip(got_mask.iter().zip(&want_mask))
    {
        let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
        mismatches += u64::from(!same || *gm != wm.unwrap_or(false));
        nodata += u64::from(*w == -9999.0);
    }
    assert_eq!(mismatches, 0, "pixels differ from the fixture COGs");
    // Statistics computed the same way on both sides agree exactly.
    let want =
        TypedArray::Float32(ArrayD::from_shape_vec(IxDyn(got.shape()), want_dem.clone()).unwrap())
            .stats(Some(-9999.0));
    let have = ds.variable("dem").unwrap().data.stats(Some(-9999.0));
    assert_eq!(have, want);
    assert_eq!(have.mean().to_bits(), want.mean().to_bits());
    (have.count, nodata)
}

#[test]
fn roi_touching_four_tiles_matches_the_fixture_cogs() {
    let (dir, m) = tiny();
    let srv = server(dir, ServerOptions::default());
    let aux = tempfile::tempdir().unwrap();
    let source = Arc::new(arcticdem(&srv, aux.path(), http_config()));
    let aoi = corner_roi(m);

    let patches = source.touching_patches(&aoi, &Toi::None).unwrap();
    let ids: BTreeSet<String> = patches.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, ids_of(m, &[(0, 0), (0, 1), (1, 0), (1, 1)]));
    // The index was fetched once into the aux dir.
    assert!(
        aux.path()
            .join("ArcticDEM_Mosaic_Index_v4_1_32m.parquet")
            .is_file()
    );

    let (ds, loaded, _repo) = load_and_read(Arc::clone(&source), &aoi);
    assert_eq!(loaded.iter().cloned().collect::<BTreeSet<_>>(), ids);
    let (valid, nodata) = assert_matches_fixture(&ds, dir, m);
    assert!(valid > 50_000, "{valid} valid pixels");
    assert!(
        nodata > 0,
        "the ROI should hold nodata (lake) pixels kept as -9999"
    );
    // Each tile's HTTP traffic: the item and two COGs, read with a few ranges.
    assert!(srv.request_count("/mosaics/") >= 8);
}

#[test]
fn whole_tiles_match_the_manifest_statistics() {
    let (dir, m) = tiny();
    let srv = server(dir, ServerOptions::default());
    let aux = tempfile::tempdir().unwrap();
    let source = Arc::new(arcticdem(&srv, aux.path(), http_config()));
    let t = &m.tiles[4]; // the centre tile, across the antimeridian
    let b = t.bounds;
    // Strictly inside the tile: only it is touched.
    let aoi = polar_box(
        b.xmin + 100.0,
        b.ymin + 100.0,
        b.xmax - 100.0,
        b.ymax - 100.0,
    );
    let (storage, _repo) = new_cube(source.spec());
    let patches = source.touching_patches(&aoi, &Toi::None).unwrap();
    assert_eq!(
        patches.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [t.dem_id.as_str()]
    );
    let backend = threaded(&storage, Arc::clone(&source));
    backend.submit(&patches).unwrap();
    backend.close().unwrap();
    let cube = Cube::open(storage).unwrap();
    let tile_aoi = polar_box(b.xmin, b.ymin, b.xmax, b.ymax);
    let ds = cube.read_aoi(&tile_aoi, &Toi::None).unwrap();
    assert_eq!(ds.geobox.shape(), (500, 500));
    let s = ds.variable("dem").unwrap().data.stats(Some(-9999.0));
    assert_eq!(s.count, t.stats.valid_count);
    assert_eq!((s.min, s.max), (t.stats.min, t.stats.max));
    assert_eq!(s.sum.to_bits(), t.stats.sum.to_bits());
    assert_eq!(s.mean().to_bits(), t.stats.mean.to_bits());
    let mask = ds
        .variable("datamask")
        .unwrap()
        .data
        .as_array::<bool>()
        .unwrap();
    assert_eq!(
        mask.iter().filter(|v| **v).count() as u64,
        t.stats.valid_count
    );
}

#[test]
fn nodata_never_overwrites_valid_data_where_items_overlap() {
    let (fx, m) = tiny_copy();
    let dir = fx.path();
    // An item overlapping the right edge of tile (0,1): its left half lies on
    // loaded data and holds only nodata (-9999) and NaN; its right half lies
    // on the empty tile (0,2) and holds valid values and some -9999.
    let b = m.tiles[1].bounds;
    let (w, h) = (100u32, 60u32);
    let x0 = b.xmax - 50.0 * RES;
    let y0 = b.ymax - 20.0 * RES;
    let mut data = vec![0f32; (w * h) as usize];
    for r in 0..h {
        for c in 0..w {
            data[(r * w + c) as usize] = match (c < 50, (r + c) % 3) {
                (true, 0) => f32::NAN,
                (true, _) => -9999.0,
                (false, 0) => -9999.0,
                (false, _) => 1000.0 + (r * w + c) as f32,
            };
        }
    }
    let lattice = Lattice {
        x0,
        y0,
        res: RES,
        epsg: 3413,
    };
    let (dem, mask) = (dir.join("overlap_dem.tif"), dir.join("overlap_mask.tif"));
    write_tiff::<colortype::Gray32Float>(&dem, (w, h), lattice, &data, Some("-9999"));
    let zeros = vec![0u8; (w * h) as usize];
    write_tiff::<colortype::Gray8>(&mask, (w, h), lattice, &zeros, None);
    let srv = server(dir, ServerOptions::default());
    let aux = tempfile::tempdir().unwrap();
    let source = Arc::new(arcticdem(&srv, aux.path(), http_config()));
    let (storage, _repo) = new_cube(source.spec());

    let tile_aoi = polar_box(b.xmin + 10.0, b.ymin + 10.0, b.xmax - 10.0, b.ymax - 10.0);
    let patches = source.touching_patches(&tile_aoi, &Toi::None).unwrap();
    assert_eq!(patches.len(), 1);
    let backend = threaded(&storage, Arc::clone(&source));
    backend.submit(&patches).unwrap();

    // The overlapping item goes through the generic STAC source.
    let stac = Arc::new(
        StacSource::builder(
            srv.stac_api_url(),
            "arcticdem-mosaics-v4.1-32m",
            source.spec().clone(),
        )
        .http_config(http_config())
        .build()
        .unwrap(),
    );
    let item = serde_json::json!({
        "type": "Feature", "id": "overlap", "properties": {"datetime": null},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        "assets": {
            "dem": {"href": srv.file_url("overlap_dem.tif")},
            "datamask": {"href": srv.file_url("overlap_mask.tif")},
        }
    });
    let idx = stac.mosaic_patch("overlap", vec![item]).unwrap();
    let stac_backend = threaded(&storage, stac);
    stac_backend.submit(&[idx]).unwrap();
    stac_backend.close().unwrap();
    backend.close().unwrap();

    let cube = Cube::open(storage).unwrap();
    let region = polar_box(x0, y0 - f64::from(h) * RES, x0 + f64::from(w) * RES, y0);
    let ds = cube.read_aoi(&region, &Toi::None).unwrap();
    assert_eq!(ds.geobox.shape(), (h as usize, w as usize));
    let (tile_dem, tile_mask) = reference_pixels(dir, &m, &ds.geobox);
    let got = ds
        .variable("dem")
        .unwrap()
        .data
        .as_array::<f32>()
        .unwrap()
        .as_slice()
        .unwrap()
        .to_vec();
    let got_mask = ds
        .variable("datamask")
        .unwrap()
        .data
        .as_array::<bool>()
        .unwrap()
        .as_slice()
        .unwrap()
        .to_vec();
    for r in 0..h as usize {
        for c in 0..w as usize {
            let i = r * w as usize + c;
            if c < 50 {
                // Loaded tile: untouched by the item's nodata and NaN.
                assert_eq!(got[i].to_bits(), tile_dem[i].to_bits(), "({r}, {c})");
                assert_eq!(Some(got_mask[i]), tile_mask[i], "mask ({r}, {c})");
            } else {
                // Empty cube: the item's pixels, -9999 bit-exact.
                assert_eq!(got[i].to_bits(), data[i].to_bits(), "({r}, {c})");
                assert!(!got_mask[i]);
            }
        }
    }
}

/// Tiles whose bounds contain a dense sample of points of a box given in `crs`.
fn sampled_tiles(m: &FixtureManifest, bbox: BoundingBox, crs: &Crs) -> BTreeSet<String> {
    let n = 120;
    let mut pts: Vec<(f64, f64)> = (0..=n)
        .flat_map(|i| (0..=n).map(move |j| (i, j)))
        .map(|(i, j)| {
            (
                bbox.left + bbox.width() * f64::from(i) / f64::from(n),
                bbox.bottom + bbox.height() * f64::from(j) / f64::from(n),
            )
        })
        .collect();
    crs.transform_points(&Crs::from_epsg(3413).unwrap(), &mut pts)
        .unwrap();
    m.tiles
        .iter()
        .filter(|t| {
            pts.iter().any(|&(x, y)| {
                t.bounds.xmin <= x && x <= t.bounds.xmax && t.bounds.ymin <= y && y <= t.bounds.ymax
            })
        })
        .map(|t| t.dem_id.clone())
        .collect()
}

#[test]
fn antimeridian_rois_give_exactly_the_right_patches() {
    let (dir, m) = tiny();
    let srv = server(dir, ServerOptions::default());
    let aux = tempfile::tempdir().unwrap();
    let source = arcticdem(&srv, aux.path(), http_config());
    let stac = StacSource::builder(
        srv.stac_api_url(),
        "arcticdem-mosaics-v4.1-32m",
        source.spec().clone(),
    )
    .http_config(http_config())
    .build()
    .unwrap();
    let wgs84 = Crs::wgs84();
    // The centre of the mosaic lies on the antimeridian.
    let c = m.tiles[4].bounds;
    let mut centre = [((c.xmin + c.xmax) / 2.0, (c.ymin + c.ymax) / 2.0)];
    Crs::from_epsg(3413)
        .unwrap()
        .transform_points(&wgs84, &mut centre)
        .unwrap();
    let lat = centre[0].1;

    let mut cases: Vec<(String, BoundingBox, Crs)> = vec![
        // Continuous longitudes across 180°, and the same box written from the west.
        (
            "lon/lat across 180".into(),
            BoundingBox::new(179.85, lat - 0.03, 180.2, lat + 0.05),
            wgs84.clone(),
        ),
        (
            "lon/lat across -180".into(),
            BoundingBox::new(-180.15, lat - 0.05, -179.9, lat + 0.02),
            wgs84.clone(),
        ),
    ];
    for (epsg, lon) in [(32660, 179.8), (32601, -179.8)] {
        let utm = Crs::from_epsg(epsg).unwrap();
        let mut p = [(lon, lat + 0.02)];
        wgs84.transform_points(&utm, &mut p).unwrap();
        let (x, y) = p[0];
        cases.push((
            format!("EPSG:{epsg}"),
            BoundingBox::new(x - 3_000.0, y - 2_000.0, x + 3_000.0, y + 4_000.0),
            utm,
        ));
    }
    let mut sides = BTreeSet::new();
    for (name, bbox, crs) in cases {
        let want = sampled_tiles(m, bbox, &crs);
        assert!(!want.is_empty(), "{name}: the case misses the mosaic");
        let aoi = Aoi::bbox(bbox, crs);
        let got: BTreeSet<String> = source
            .touching_patches(&aoi, &Toi::None)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(got, want, "{name}: index");
        // The STAC search (AOI split at the antimeridian) agrees.
        let via_stac: BTreeSet<String> = stac
            .touching_patches(&aoi, &Toi::None)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(via_stac, want, "{name}: STAC search");
        for id in &got {
            sides.insert(format!("{:?}", m.tile(id).unwrap().antimeridian));
        }
    }
    for side in [
        AntimeridianSide::East,
        AntimeridianSide::West,
        AntimeridianSide::Crosses,
    ] {
        assert!(
            sides.contains(&format!("{side:?}")),
            "no case touched a tile on side {side:?}: {sides:?}"
        );
    }

    // Footprints come back in EPSG:4326 near ±180°.
    let p = source
        .patch_refs(&[m.tiles[4].dem_id.clone(), "nope".into()])
        .unwrap();
    assert_eq!(p.len(), 1);
    use geo::BoundingRect;
    let r = p[0].geometry.bounding_rect().unwrap();
    let straddles = |lon: f64| r.min().x < lon && lon < r.max().x;
    assert!(
        r.width() < 2.0 && (straddles(180.0) || straddles(-180.0)),
        "continuous longitudes across 180°: {r:?}"
    );

    // Far from the mosaic: a clear error.
    let outside = Aoi::bbox(BoundingBox::new(10.0, 69.0, 11.0, 70.0), wgs84);
    match source.touching_patches(&outside, &Toi::None) {
        Err(Error::NoPatches { aoi }) => assert!(aoi.contains("10"), "{aoi}"),
        other => panic!("expected NoPatches, got {other:?}"),
    }
    assert!(matches!(
        stac.touching_patches(&outside, &Toi::None),
        Err(Error::NoPatches { .. })
    ));
}

#[test]
fn flaky_server_still_gives_exact_patches() {
    let (dir, m) = tiny();
    let srv = server(
        dir,
        ServerOptions {
            fail_fraction: 0.2,
            truncate_fraction: 0.1,
            seed: 7,
            ..ServerOptions::default()
        },
    );
    let aux = tempfile::tempdir().unwrap();
    // Few HTTP-level retries, so the backend's retries are exercised too.
    let mut http = http_config();
    http.retry.max_tries = 2;
    let source = Arc::new(arcticdem(&srv, aux.path(), http));
    // The index download may fail on its own: the caller retries then.
    let aoi = corner_roi(m);
    let mut tries = 0;
    while let Err(e) = source.touching_patches(&aoi, &Toi::None) {
        assert!(e.is_retryable(), "{e}");
        tries += 1;
        assert!(tries < 20, "index never arrived: {e}");
    }
    let (ds, loaded, _repo) = load_and_read(Arc::clone(&source), &aoi);
    assert_eq!(loaded.len(), 4);
    assert_matches_fixture(&ds, dir, m);
    let faults = srv.fault_counts();
    assert!(faults.failed > 0 && faults.truncated > 0, "{faults:?}");
}

#[test]
fn a_zipped_index_is_downloaded_once_and_extracted() {
    use std::io::Write;
    let (fx, m) = tiny_copy();
    let dir = fx.path();
    // PGC ships the indexes of every resolution in one zip, inside a folder.
    let parquet = std::fs::read(dir.join("ArcticDEM_Mosaic_Index_v4_1_32m.parquet")).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dir.join("indexes.zip")).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("ArcticDEM_Mosaic_Index_latest_gpqt/readme.txt", opts)
        .unwrap();
    zip.write_all(b"not an index").unwrap();
    zip.start_file(
        "ArcticDEM_Mosaic_Index_latest_gpqt/ArcticDEM_Mosaic_Index_v4_1_32m.parquet",
        opts,
    )
    .unwrap();
    zip.write_all(&parquet).unwrap();
    zip.finish().unwrap();
    let srv = server(dir, ServerOptions::default());
    let aux = tempfile::tempdir().unwrap();
    let source = arcticdem_with_index(&srv, "indexes.zip", aux.path(), http_config());
    let ids: BTreeSet<String> = source
        .touching_patches(&corner_roi(&m), &Toi::None)
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ids_of(&m, &[(0, 0), (0, 1), (1, 0), (1, 1)]));
    assert_eq!(
        std::fs::read(aux.path().join("ArcticDEM_Mosaic_Index_v4_1_32m.parquet")).unwrap(),
        parquet
    );
    let names: Vec<String> = std::fs::read_dir(aux.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["ArcticDEM_Mosaic_Index_v4_1_32m.parquet"],
        "no temporary files left"
    );
    // Later calls and later sources reuse the file.
    source
        .touching_patches(&corner_roi(&m), &Toi::None)
        .unwrap();
    let again = arcticdem(&srv, aux.path(), http_config());
    again.touching_patches(&corner_roi(&m), &Toi::None).unwrap();
    assert_eq!(srv.request_count("/indexes.zip"), 1);
    assert_eq!(srv.request_count("/ArcticDEM_Mosaic_Index"), 0);

    // An archive without the wanted file is a clear index error.
    let empty = tempfile::tempdir().unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dir.join("other.zip")).unwrap());
    zip.start_file("x/ArcticDEM_Mosaic_Index_v4_1_2m.parquet", opts)
        .unwrap();
    zip.write_all(&parquet).unwrap();
    zip.finish().unwrap();
    let src = arcticdem_with_index(&srv, "other.zip", empty.path(), http_config());
    match src.touching_patches(&corner_roi(&m), &Toi::None) {
        Err(Error::Index { reason, .. }) => assert!(reason.contains("2m.parquet"), "{reason}"),
        other => panic!("expected an index error, got {other:?}"),
    }
}

#[test]
fn offline_never_touches_the_network() {
    let (dir, m) = tiny();
    let srv = server(dir, ServerOptions::default());
    let parent = tempfile::tempdir().unwrap();
    let aux = parent.path().join("aux");
    let offline = |aux: &std::path::Path| {
        geocube_sources::datasets::arcticdem::ArcticDem::builder(
            geocube_sources::datasets::arcticdem::Resolution::M32,
        )
        .stac_url(srv.stac_api_url())
        .index_url(srv.file_url("ArcticDEM_Mosaic_Index_v4_1_32m.parquet"))
        .aux_dir(aux)
        .http_config(http_config())
        .offline(true)
        .build()
        .unwrap()
    };
    let aoi = corner_roi(m);

    // No index yet: a typed error naming the file, the directory and the
    // way to get it; nothing fetched, no directory made.
    let source = offline(&aux);
    assert!(source.is_offline());
    let err = source.touching_patches(&aoi, &Toi::None).unwrap_err();
    let Error::IndexMissingOffline {
        file,
        dir: where_,
        url,
    } = &err
    else {
        panic!("expected IndexMissingOffline, got {err}")
    };
    assert_eq!(file, "ArcticDEM_Mosaic_Index_v4_1_32m.parquet");
    assert_eq!(where_, &aux);
    assert!(url.ends_with(file.as_str()), "{url}");
    let msg = err.to_string();
    assert!(
        msg.contains("geocube prefetch") && msg.contains(&aux.display().to_string()),
        "{msg}"
    );
    assert!(matches!(
        source.patch_refs(&[m.tiles[0].dem_id.clone()]),
        Err(Error::IndexMissingOffline { .. })
    ));
    // An online source asked through the offline methods refuses the same way.
    let online = arcticdem(&srv, &aux, http_config());
    assert!(matches!(
        online.touching_patches_offline(&aoi, &Toi::None),
        Err(Error::IndexMissingOffline { .. })
    ));
    assert!(!aux.exists(), "offline created the aux directory");
    assert_eq!(srv.request_count("/"), 0, "{:?}", srv.request_counts());

    // With the index in place: the same patches as online, still no request.
    std::fs::create_dir(&aux).unwrap();
    std::fs::copy(
        dir.join("ArcticDEM_Mosaic_Index_v4_1_32m.parquet"),
        aux.join("ArcticDEM_Mosaic_Index_v4_1_32m.parquet"),
    )
    .unwrap();
    let source = offline(&aux);
    let patches = source.touching_patches(&aoi, &Toi::None).unwrap();
    let ids: BTreeSet<String> = patches.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, ids_of(m, &[(0, 0), (0, 1), (1, 0), (1, 1)]));
    assert_eq!(
        source.patch_refs(&[patches[0].id.clone()]).unwrap().len(),
        1
    );
    // A download would need the network: refused before any request.
    match source.download(&patches[0]) {
        Err(e @ Error::NeedsNetwork { .. }) => assert!(!e.is_retryable()),
        other => panic!("expected NeedsNetwork, got {other:?}"),
    }
    assert_eq!(
        online
            .touching_patches_offline(&aoi, &Toi::None)
            .unwrap()
            .len(),
        4
    );
    assert_eq!(srv.request_count("/"), 0, "{:?}", srv.request_counts());

    // A STAC source only knows its patches through the API.
    let stac = StacSource::builder(
        srv.stac_api_url(),
        "arcticdem-mosaics-v4.1-32m",
        source.spec().clone(),
    )
    .build()
    .unwrap();
    assert!(matches!(
        stac.touching_patches_offline(&aoi, &Toi::None),
        Err(Error::NeedsNetwork { .. })
    ));
    assert_eq!(srv.request_count("/"), 0, "{:?}", srv.request_counts());
}

#[test]
fn an_item_contradicting_its_cog_is_named_not_loaded() {
    let (fx, m) = tiny_copy();
    let tile = &m.tiles[0];
    // Shift the item's proj:transform by one pixel east.
    let path = fx.path().join(&tile.item_path);
    let mut item: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let x0 = item["properties"]["proj:transform"][2].as_f64().unwrap();
    item["properties"]["proj:transform"][2] = serde_json::json!(x0 + 32.0);
    std::fs::write(&path, serde_json::to_vec(&item).unwrap()).unwrap();
    let srv = server(fx.path(), ServerOptions::default());
    let aux = tempfile::tempdir().unwrap();
    let source = Arc::new(arcticdem(&srv, aux.path(), http_config()));
    let b = tile.bounds;
    let aoi = polar_box(
        b.xmin + 1000.0,
        b.ymin + 1000.0,
        b.xmax - 1000.0,
        b.ymax - 1000.0,
    );
    let patches = source.touching_patches(&aoi, &Toi::None).unwrap();
    let patch = patches.iter().find(|p| p.id == tile.dem_id).unwrap();
    let err = source.download(patch).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, Error::GeorefMismatch { item, field: "proj:transform", .. } if *item == tile.dem_id),
        "{msg}"
    );
    assert!(
        msg.contains(&(x0 + 32.0).to_string()) && msg.contains(&x0.to_string()),
        "{msg}"
    );
    // Through a backend: the patch fails by name, nothing is written.
    let (storage, _repo) = new_cube(source.spec());
    let backend = threaded(&storage, Arc::clone(&source));
    let err = backend.submit(std::slice::from_ref(patch)).unwrap_err();
    assert!(err.to_string().contains("contradicts"), "{err}");
    assert!(backend.loaded_patches().unwrap().is_empty());
    backend.close().unwrap();
}

/// The streaming download of `source`, counting the pieces it hands over.
fn counting_pieces(
    source: Arc<geocube_sources::datasets::arcticdem::ArcticDem>,
    pieces: Arc<std::sync::atomic::AtomicUsize>,
) -> geocube_core::StreamingDownloadFn {
    let inner = geocube_core::streaming_download_fn(source);
    Arc::new(move |idx, max_whole, sink| {
        let mut counted = |piece: geocube_core::Patch| {
            pieces.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            sink(piece)
        };
        inner(idx, max_whole, &mut counted)
    })
}

#[test]
fn tiles_streamed_chunk_by_chunk_equal_the_fixture_and_commit_with_their_ids() {
    let (dir, m) = tiny();
    // Faults mid-stream restart a tile's download: its pieces come twice.
    let srv = server(
        dir,
        ServerOptions {
            fail_fraction: 0.1,
            truncate_fraction: 0.1,
            seed: 11,
            fault_path_prefix: Some("/cogs".into()),
            ..ServerOptions::default()
        },
    );
    let aux = tempfile::tempdir().unwrap();
    let source = Arc::new(arcticdem(&srv, aux.path(), http_config()));
    let aoi = corner_roi(m);
    let patches = source.touching_patches(&aoi, &Toi::None).unwrap();
    let (storage, _repo) = new_cube(source.spec());
    let pieces = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let backend = ThreadedBackend::with_streaming(
        storage.clone(),
        download_fn(Arc::clone(&source)),
        counting_pieces(Arc::clone(&source), Arc::clone(&pieces)),
        // Every tile counts as too large to hold whole.
        backend_config().whole_patch_bytes(0),
    )
    .unwrap();
    let report = backend.submit(&patches).unwrap();
    assert_eq!(report.downloaded.len(), 4, "{report:?}");
    let commits: BTreeSet<u64> = backend
        .events()
        .events()
        .iter()
        .filter(|e| e.action == geocube_backend::Action::Write && e.ok)
        .map(|e| e.start.to_bits())
        .collect();
    // One commit per streamed tile: its pixels and its id together.
    assert_eq!(commits.len(), 4);
    assert!(pieces.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    backend.close().unwrap();
    let cube = Cube::open(storage).unwrap();
    let loaded: BTreeSet<String> = cube.loaded_patches().unwrap().into_iter().collect();
    assert_eq!(loaded, ids_of(m, &[(0, 0), (0, 1), (1, 0), (1, 1)]));
    assert_matches_fixture(&cube.read_aoi(&aoi, &Toi::None).unwrap(), dir, m);
}
