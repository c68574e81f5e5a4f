//! The accessor on real local and in-memory cubes with a synthetic tile source.

mod common;

use std::sync::Arc;

use common::{
    NODATA, TileSource, accessor, assert_values, crs, dem_pixels, offset, pixel_bbox, repo_files,
    tile_id,
};
use geocube::{Accessor, Error, LoadOptions, Loaded, NoProgress, Source, export, timeline};
use geocube_core::{Aoi, BoundingBox, CubeStorage, GeoBox, Toi};

fn bbox_aoi(b: BoundingBox) -> Aoi {
    Aoi::bbox(b, crs())
}

/// Load `b` (cube CRS), creating the cube first.
fn create_and_load(acc: &Accessor, b: BoundingBox) -> Loaded {
    acc.load(
        &bbox_aoi(b),
        &Toi::None,
        LoadOptions::default().create(true),
    )
    .expect("load")
}

#[test]
fn cold_then_warm_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::local(dir.path().join("cube")));
    // Pixels rows 40..60, cols 40..60: the corner of four tiles.
    let aoi = bbox_aoi(pixel_bbox(40, 40, 60, 60));
    let cold = acc
        .load(&aoi, &Toi::None, LoadOptions::default().create(true))
        .expect("cold load");
    assert_eq!(cold.dataset.geobox.shape(), (20, 20));
    assert_eq!(offset(&cold.dataset), (40, 40));
    let mut downloaded = cold.report.submit.downloaded.clone();
    downloaded.sort();
    assert_eq!(downloaded, ["t0_0", "t0_1", "t1_0", "t1_1"]);
    assert_eq!(cold.report.patches, downloaded);
    assert_values(&cold.dataset);
    // Nodata stays the source value, bit-exact.
    let dem = dem_pixels(&cold.dataset);
    assert!(dem.iter().any(|v| *v == NODATA));

    let warm = acc
        .load(&aoi, &Toi::None, LoadOptions::default())
        .expect("warm load");
    assert!(warm.report.submit.downloaded.is_empty());
    assert_eq!(warm.report.submit.already_loaded, 4);
    assert_eq!(warm.dataset, cold.dataset);
    assert_eq!(src.total_downloads(), 4);

    // Coordinates are the cube's pixel centres.
    let xs = warm.dataset.xs();
    assert!((xs[0] - (common::X0 + 40.5 * common::RES)).abs() < 1e-9);
}

#[test]
fn crop_is_rounded_outward_and_selects_patches_by_box() {
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    acc.create(false, false).expect("create");
    // A triangle over the upper-right half of pixels rows 10..100, cols
    // 10..100, with edges a third of a pixel off the lattice.
    let (p, q) = (common::RES / 3.0, 2.0 * common::RES / 3.0);
    let b = pixel_bbox(10, 10, 100, 100);
    let tri = geo::Polygon::new(
        geo::LineString::from(vec![
            (b.left + p, b.top - q),
            (b.right - p, b.top - q),
            (b.right - p, b.bottom + q),
            (b.left + p, b.top - q),
        ]),
        vec![],
    );
    let aoi = Aoi::Geometry {
        geometry: tri.into(),
        crs: crs(),
    };
    let loaded = acc
        .load(&aoi, &Toi::None, LoadOptions::default())
        .expect("load");
    // Every pixel the box touches, rounded outward.
    assert_eq!(loaded.dataset.geobox.shape(), (90, 90));
    assert_eq!(offset(&loaded.dataset), (10, 10));
    // The bottom-left tile does not touch the triangle but is in its box: loaded, no hole.
    assert!(
        loaded.report.submit.downloaded.contains(&tile_id(2, 0)),
        "{:?}",
        loaded.report
    );
    assert_eq!(loaded.report.patches.len(), 9);
    assert_values(&loaded.dataset);
}

#[test]
fn bad_requests_leave_the_cube_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("cube");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::local(&store));
    let inside = bbox_aoi(pixel_bbox(0, 0, 10, 10));

    // No cube yet, no --create: a clear error and no directory made.
    let err = acc
        .load(&inside, &Toi::None, LoadOptions::default())
        .expect_err("not created");
    assert!(matches!(err, Error::NotCreated { .. }), "{err}");
    assert!(err.to_string().contains("create"), "{err}");
    assert!(!store.exists(), "a failed load created {}", store.display());
    assert!(!acc.created());

    acc.load(&inside, &Toi::None, LoadOptions::default().create(true))
        .expect("load");
    let before = (acc.loaded_patches().expect("ids"), repo_files(&store));
    assert_eq!(before.0, ["t0_0"]);

    let outside = bbox_aoi(BoundingBox::new(
        2_000_000.0,
        2_000_000.0,
        2_100_000.0,
        2_100_000.0,
    ));
    let err = acc
        .load(&outside, &Toi::None, LoadOptions::default())
        .expect_err("outside");
    assert!(matches!(err, Error::AoiOutsideExtent { .. }), "{err}");
    let err = acc
        .prefetch(&outside, &Toi::None, &NoProgress)
        .expect_err("outside");
    assert!(matches!(err, Error::AoiOutsideExtent { .. }), "{err}");
    // A time on a spatial cube.
    let err = acc
        .load(
            &inside,
            &Toi::parse("2020-01-01").expect("toi"),
            LoadOptions::default(),
        )
        .expect_err("toi");
    assert!(
        matches!(err, Error::Core(geocube_core::Error::InvalidToi(_))),
        "{err}"
    );
    // create on an existing cube without exists_ok / overwrite.
    let err = acc.create(false, false).expect_err("exists");
    assert!(
        matches!(err, Error::Core(geocube_core::Error::AlreadyExists { .. })),
        "{err}"
    );

    assert_eq!(
        (acc.loaded_patches().expect("ids"), repo_files(&store)),
        before
    );
    assert_eq!(src.total_downloads(), 1);
}

#[test]
fn offline_names_missing_patches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let src = TileSource::new();
    let online = accessor(&src, storage.clone());
    create_and_load(&online, pixel_bbox(0, 0, 10, 10));

    let offline = Accessor::builder(Arc::clone(&src) as Arc<dyn Source>, storage)
        .offline(true)
        .build()
        .expect("offline");
    assert!(offline.is_offline());
    let aoi = bbox_aoi(pixel_bbox(40, 40, 60, 60));
    let err = offline
        .load(&aoi, &Toi::None, LoadOptions::default())
        .expect_err("offline");
    match &err {
        Error::MissingPatches { ids } => assert_eq!(ids, &["t0_1", "t1_0", "t1_1"]),
        other => panic!("expected MissingPatches, got {other}"),
    }
    assert!(err.to_string().contains("t1_1"), "{err}");
    assert_eq!(src.total_downloads(), 1);
    // What the cube has loads offline.
    let ok = offline
        .load(
            &bbox_aoi(pixel_bbox(2, 2, 8, 8)),
            &Toi::None,
            LoadOptions::default(),
        )
        .expect("offline load");
    assert_values(&ok.dataset);
}

/// A source that does not say it can work offline (the trait's defaults).
struct OnlineOnly(Arc<TileSource>);

impl Source for OnlineOnly {
    fn spec(&self) -> &geocube_core::CubeSpec {
        self.0.spec()
    }
    fn touching_patches(
        &self,
        aoi: &Aoi,
        toi: &Toi,
    ) -> Result<Vec<geocube_core::PatchRef>, geocube_core::SourceError> {
        self.0.touching_patches(aoi, toi)
    }
    fn download(
        &self,
        patch: &geocube_core::PatchRef,
    ) -> Result<geocube_core::Patch, geocube_core::DownloadError> {
        self.0.download(patch)
    }
    fn patch_refs(
        &self,
        ids: &[String],
    ) -> Result<Vec<geocube_core::PatchRef>, geocube_core::SourceError> {
        self.0.patch_refs(ids)
    }
}

#[test]
fn offline_never_asks_a_source_that_cannot_work_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let src = TileSource::new();
    create_and_load(&accessor(&src, storage.clone()), pixel_bbox(0, 0, 10, 10));
    let offline = Accessor::builder(Arc::new(OnlineOnly(Arc::clone(&src))), storage)
        .offline(true)
        .build()
        .expect("offline");
    let err = offline
        .load(
            &bbox_aoi(pixel_bbox(2, 2, 8, 8)),
            &Toi::None,
            LoadOptions::default(),
        )
        .expect_err("the source may need the network");
    assert!(
        matches!(&err, Error::Core(geocube_core::Error::Offline { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("without the network"), "{err}");
    assert!(offline.current_state().is_err());
    assert_eq!(src.total_downloads(), 1);
}

#[test]
fn mask_nodata_only_changes_the_returned_data() {
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    let aoi = bbox_aoi(pixel_bbox(0, 0, 48, 48));
    let masked = acc
        .load(
            &aoi,
            &Toi::None,
            LoadOptions::default().create(true).mask_nodata(true),
        )
        .expect("load");
    let raw = acc
        .load(&aoi, &Toi::None, LoadOptions::default())
        .expect("load");
    let m = dem_pixels(&masked.dataset);
    let r = dem_pixels(&raw.dataset);
    let nodata = r.iter().filter(|v| **v == NODATA).count();
    assert!(nodata > 0);
    assert_eq!(m.iter().filter(|v| v.is_nan()).count(), nodata);
    assert!(
        m.iter()
            .zip(r)
            .all(|(a, b)| a.is_nan() == (*b == NODATA) && (a.is_nan() || a == b))
    );
    // Integer variables are untouched.
    assert_eq!(
        masked.dataset.variable("datamask"),
        raw.dataset.variable("datamask")
    );
}

#[test]
fn prefetch_counts_each_geometry_on_its_own() {
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    acc.create(false, false).expect("create");
    let a = pixel_bbox(5, 5, 10, 10).to_polygon();
    let b = pixel_bbox(150, 150, 155, 155).to_polygon();
    let far = BoundingBox::new(3e6, 3e6, 3.1e6, 3.1e6).to_polygon();
    let aoi = Aoi::Geometries {
        geometries: vec![a.into(), b.into(), far.into()],
        crs: crs(),
    };
    let report = acc
        .prefetch(&aoi, &Toi::None, &NoProgress)
        .expect("prefetch");
    assert_eq!(report.patches, ["t0_0", "t3_3"]);
    assert_eq!(acc.loaded_patches().expect("ids").len(), 2);
    // The union's box would have needed 16 tiles.
    assert_eq!(src.total_downloads(), 2);
    let again = acc
        .prefetch(&aoi, &Toi::None, &NoProgress)
        .expect("prefetch");
    assert_eq!(again.submit.already_loaded, 2);
    assert!(again.submit.downloaded.is_empty());
}

#[test]
fn load_like_uses_the_datasets_grid() {
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    let first = create_and_load(&acc, pixel_bbox(60, 70, 75, 90));
    let like = acc
        .load_like(&first.dataset, LoadOptions::default())
        .expect("load_like");
    assert_eq!(like.dataset, first.dataset);
    // A grid in another CRS covering the same area loads at least that area.
    let wgs = GeoBox::from_bbox(
        Aoi::GeoBox(first.dataset.geobox.clone())
            .bounds_in(&geocube_core::Crs::wgs84())
            .expect("bounds"),
        geocube_core::Crs::wgs84(),
        0.001,
    )
    .expect("geobox");
    let ds = geocube_core::Dataset {
        geobox: wgs,
        time: None,
        variables: Default::default(),
    };
    let other = acc
        .load_like(&ds, LoadOptions::default())
        .expect("load_like 4326");
    let (h, w) = other.dataset.geobox.shape();
    assert!(h >= 15 && w >= 20, "{h} x {w}");
    assert_values(&other.dataset);
}

#[test]
fn a_cube_of_another_dataset_is_refused() {
    let storage = CubeStorage::in_memory().expect("memory");
    let mut other = common::spec();
    other.title = "Other".into();
    other.geobox =
        GeoBox::from_bbox(BoundingBox::new(0.0, 0.0, 3200.0, 3200.0), crs(), 32.0).expect("grid");
    geocube_core::Cube::create(storage.clone(), &other)
        .execute()
        .expect("create other");
    let acc = accessor(&TileSource::new(), storage);
    let err = acc
        .load(
            &bbox_aoi(pixel_bbox(0, 0, 4, 4)),
            &Toi::None,
            LoadOptions::default(),
        )
        .expect_err("wrong cube");
    let msg = err.to_string();
    assert!(msg.contains("Other") && msg.contains("TestTiles"), "{msg}");
}

#[test]
fn state_geojson_and_png() {
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    acc.create(false, false).expect("create");
    assert!(acc.current_state().expect("state").features.is_empty());
    acc.load(
        &bbox_aoi(pixel_bbox(40, 40, 60, 60)),
        &Toi::None,
        LoadOptions::default(),
    )
    .expect("load");
    let fc = acc.current_state().expect("state");
    let mut ids: Vec<String> = fc
        .features
        .iter()
        .map(|f| {
            f.property("id")
                .and_then(|v| v.as_str())
                .expect("id")
                .to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["t0_0", "t0_1", "t1_0", "t1_1"]);
    assert!(fc.features.iter().all(|f| f.geometry.is_some()));

    // The map needs the `viz` feature.
    #[cfg(feature = "viz")]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let png_path = dir.path().join("state.png");
        acc.visualize_state(&png_path).expect("png");
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&png_path).expect("open"),
        ));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        assert_eq!((info.width, info.height), (1024, 1024));
        // The loaded footprints are drawn: filled half-transparent over the
        // sea (no coast within this 6.4 km cube), in the map's square.
        let at = |x: usize, y: usize| &buf[(y * info.width as usize + x) * 3..][..3];
        let filled = (104..984)
            .flat_map(|y| (72..952).map(move |x| (x, y)))
            .filter(|&(x, y)| i32::from(at(x, y)[2]) - i32::from(at(x, y)[0]) > 50)
            .count();
        assert!(filled > 10_000, "footprints not drawn: {filled} px");
        // Around the map: paper; in its corner: the sea.
        assert_eq!(at(2, 500), [255, 255, 255]);
        assert_eq!(at(80, 970), [214, 226, 236]);
    }
}

#[test]
fn zarr_export_roundtrips() {
    use zarrs::array::{Array, ArraySubset};
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    let loaded = create_and_load(&acc, pixel_bbox(40, 30, 61, 70));
    let out = dir.path().join("roi.zarr");
    export::write_zarr(&loaded.dataset, "TestTiles", &out).expect("export");
    // Written again over itself: replaced.
    export::write_zarr(&loaded.dataset, "TestTiles", &out).expect("export again");
    let store = Arc::new(zarrs::filesystem::FilesystemStore::new(&out).expect("store"));
    let dem = Array::open(Arc::clone(&store), "/dem").expect("dem");
    let back: ndarray::ArrayD<f32> = dem
        .retrieve_array_subset(&ArraySubset::new_with_shape(vec![21, 40]))
        .expect("read");
    let want = dem_pixels(&loaded.dataset);
    assert!(
        back.iter()
            .zip(want)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    let x = Array::open(Arc::clone(&store), "/x").expect("x");
    let xs: Vec<f64> = x
        .retrieve_array_subset(&ArraySubset::new_with_shape(vec![40]))
        .expect("xs");
    assert_eq!(xs, loaded.dataset.xs());
    let sr: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("spatial_ref/zarr.json")).expect("sr"))
            .expect("json");
    assert!(sr.pointer("/attributes/crs_wkt").is_some(), "{sr}");
    // A path that is not a Zarr store is not overwritten.
    let file = dir.path().join("notes.zarr");
    std::fs::create_dir(&file).expect("mkdir");
    assert!(matches!(
        export::write_zarr(&loaded.dataset, "t", &file),
        Err(Error::Output { .. })
    ));
}

#[test]
fn event_timeline_to_svg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    create_and_load(&acc, pixel_bbox(40, 40, 60, 60));
    let events = timeline::from_log(acc.events()).expect("events");
    assert_eq!(events.iter().filter(|e| e.action == "download").count(), 4);
    assert!(events.iter().any(|e| e.action == "write"));
    let file = dir.path().join("events.json");
    timeline::write_events(&events, &file).expect("write events");
    assert_eq!(timeline::read_events(&file).expect("read events"), events);
    // The chart needs the `viz` feature.
    #[cfg(feature = "viz")]
    {
        let svg = dir.path().join("events.svg");
        timeline::write_gantt_svg(&events, &svg).expect("svg");
        let text = std::fs::read_to_string(&svg).expect("svg text");
        assert!(
            text.starts_with("<svg")
                && text.contains("geocube-writer")
                && text.contains("download"),
            "{}",
            &text[..200.min(text.len())]
        );
        assert!(timeline::write_gantt_svg(&[], &svg).is_err());
    }
}
