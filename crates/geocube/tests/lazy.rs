//! The accessor's memory budget and lazy loads, with the synthetic tile
//! source: an in-memory load over the budget fails before any download, a
//! lazy load reads what the in-memory load returns (any window, any
//! tiling, statistics), and the region writers write what the dataset
//! writers write.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{CUBE, NODATA, TileSource, accessor, crs, pixel_bbox};
use geocube::budget::{ByteSize, DEFAULT_MAX_BYTES};
use geocube::{Dataset, Error, LoadOptions, Tiling, TypedArray, Window, export};
use geocube_core::{Aoi, CubeStorage, Toi};
use ndarray::{Axis, Slice};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn aoi(r0: usize, c0: usize, r1: usize, c1: usize) -> Aoi {
    Aoi::bbox(pixel_bbox(r0, c0, r1, c1), crs())
}

/// Every element's bits, NaN equal to NaN.
fn bits(t: &TypedArray) -> (Vec<usize>, Vec<u64>) {
    let v = match t {
        TypedArray::Float32(a) => a.iter().map(|v| u64::from(v.to_bits())).collect(),
        TypedArray::Uint8(a) => a.iter().map(|v| u64::from(*v)).collect(),
        other => panic!("unexpected type {:?}", other.dtype()),
    };
    (t.shape().to_vec(), v)
}

#[track_caller]
fn assert_same(a: &Dataset, b: &Dataset) {
    assert_eq!(a.geobox, b.geobox);
    assert_eq!(a.time, b.time);
    assert_eq!(
        a.variables.keys().collect::<Vec<_>>(),
        b.variables.keys().collect::<Vec<_>>()
    );
    for (name, v) in &a.variables {
        assert_eq!(bits(&v.data), bits(&b.variables[name].data), "{name}");
        assert_eq!(v.attributes, b.variables[name].attributes, "{name}");
    }
}

/// The sub-window `w` of `ds` (spatial).
fn crop(ds: &Dataset, w: Window) -> Dataset {
    let mut out = ds.clone();
    out.geobox = ds.geobox.window(w).expect("window");
    for v in out.variables.values_mut() {
        v.data = match &v.data {
            TypedArray::Float32(a) => TypedArray::Float32(
                a.slice_axis(Axis(0), Slice::from(w.rows()))
                    .slice_axis_move(Axis(1), Slice::from(w.cols()))
                    .to_owned()
                    .into_dyn(),
            ),
            TypedArray::Uint8(a) => TypedArray::Uint8(
                a.slice_axis(Axis(0), Slice::from(w.rows()))
                    .slice_axis_move(Axis(1), Slice::from(w.cols()))
                    .to_owned()
                    .into_dyn(),
            ),
            other => panic!("unexpected type {:?}", other.dtype()),
        };
    }
    out
}

#[test]
fn an_in_memory_load_over_the_budget_fails_before_any_download() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let store = dir.path().join("cube");
    let acc = accessor(&src, CubeStorage::local(&store));
    // 100 x 120 px of f32 + u8: 60 000 bytes.
    let a = aoi(10, 20, 110, 140);
    assert_eq!(acc.result_bytes(&a, &Toi::None).expect("size"), 60_000);
    let small = LoadOptions::default().create(true).max_bytes(Some(59_999));
    let err = acc.load(&a, &Toi::None, small).expect_err("over budget");
    let Error::ResultTooLarge {
        bytes,
        limit,
        width,
        height,
        steps,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (*bytes, *limit, *width, *height, *steps),
        (60_000, 59_999, 120, 100, 1)
    );
    let msg = err.to_string();
    for part in [
        "120 x 100 px",
        "58.6 KiB",
        "over the 58.6 KiB limit",
        "Accessor::load_lazy",
        "--out X.zarr",
        "LoadOptions::max_bytes",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert_eq!(src.total_downloads(), 0);
    assert!(!store.exists(), "the cube was created");
    assert!(matches!(
        acc.check_in_memory(&a, &Toi::None, small),
        Err(Error::ResultTooLarge { .. })
    ));
    // At the limit, or without one, it loads.
    let at = acc
        .load(&a, &Toi::None, small.max_bytes(Some(60_000)))
        .expect("at the limit");
    assert_eq!(at.dataset.nbytes(), 60_000);
    assert_eq!(LoadOptions::default().max_bytes, Some(DEFAULT_MAX_BYTES));
    // load_like has the same budget; load_lazy none.
    let err = acc
        .load_like(&at.dataset, LoadOptions::default().max_bytes(Some(1)))
        .expect_err("over budget");
    assert!(
        matches!(err, Error::ResultTooLarge { bytes: 60_000, .. }),
        "{err}"
    );
    let lazy = acc
        .load_lazy(&a, &Toi::None, LoadOptions::default().max_bytes(Some(1)))
        .expect("lazy");
    assert_eq!(lazy.region.nbytes(), 60_000);
    assert_eq!(ByteSize(lazy.region.nbytes()).to_string(), "58.6 KiB");
    // An AOI outside the cube is that error, not a size.
    assert!(matches!(
        acc.result_bytes(&aoi(CUBE + 10, 0, CUBE + 20, 10), &Toi::None),
        Err(Error::AoiOutsideExtent { .. })
    ));
}

#[test]
fn a_lazy_load_reads_what_the_in_memory_load_returns() {
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let boxes = (0..CUBE - 1, 0..CUBE - 1).prop_flat_map(|(r, c)| {
        (
            Just((r, c)),
            (r + 1..=CUBE, c + 1..=CUBE),
            any::<bool>(),
            any::<(usize, usize, usize, usize)>(),
            1usize..80,
        )
    });
    runner
        .run(
            &boxes,
            |((r0, c0), (r1, c1), masked, (a, b, c, d), tile)| {
                let opts = LoadOptions::default().create(true).mask_nodata(masked);
                let lazy = acc
                    .load_lazy(&aoi(r0, c0, r1, c1), &Toi::None, opts)
                    .expect("lazy");
                let memory = acc
                    .load(&aoi(r0, c0, r1, c1), &Toi::None, opts)
                    .expect("load");
                // Every patch the lazy load needed is there: the in-memory
                // load downloads nothing.
                assert!(memory.report.submit.downloaded.is_empty());
                assert_eq!(lazy.report.patches, memory.report.patches);
                let region = &lazy.region;
                assert_eq!(region.geobox(), &memory.dataset.geobox);
                assert_eq!(region.nbytes(), memory.dataset.nbytes() as u64);
                // A random sub-window.
                let (h, w) = region.geobox().shape();
                let (row, col) = (a % h, b % w);
                let sub = Window::new(row, col, 1 + c % (h - row), 1 + d % (w - col));
                assert_same(
                    &region.read_window(sub).expect("window"),
                    &crop(&memory.dataset, sub),
                );
                // Tiles of a random size.
                for t in region.tiles(Tiling::Grid {
                    rows: tile,
                    cols: tile + 3,
                }) {
                    let t = t.expect("tile");
                    assert!(t.written);
                    assert_same(&t.dataset, &crop(&memory.dataset, t.at.window));
                }
                // Statistics.
                let nodata = |n: &str| (n == "dem").then_some(f64::from(NODATA));
                let stats = region.stats(nodata).expect("stats");
                for (name, v) in &memory.dataset.variables {
                    let want = v.data.stats(nodata(name));
                    let got = stats[name];
                    assert_eq!(
                        (got.count, got.min, got.max),
                        (want.count, want.min, want.max)
                    );
                    assert!((got.sum - want.sum).abs() <= 1e-9 * want.sum.abs().max(1.0));
                }
                Ok(())
            },
        )
        .expect("lazy equals in-memory");
}

/// The data variables of a Zarr directory, read whole.
fn zarr_arrays(dir: &Path) -> BTreeMap<String, TypedArray> {
    let store = Arc::new(zarrs::filesystem::FilesystemStore::new(dir).expect("store"));
    let mut out = BTreeMap::new();
    for name in ["dem", "datamask"] {
        let a = zarrs::array::Array::open(Arc::clone(&store), &format!("/{name}")).expect("array");
        let all = a.subset_all();
        let data = if name == "dem" {
            TypedArray::Float32(
                a.retrieve_array_subset::<ndarray::ArrayD<f32>>(&all)
                    .expect("dem"),
            )
        } else {
            TypedArray::Uint8(
                a.retrieve_array_subset::<ndarray::ArrayD<u8>>(&all)
                    .expect("mask"),
            )
        };
        out.insert(name.to_owned(), data);
    }
    out
}

fn documents(dir: &Path) -> Vec<String> {
    [
        "zarr.json",
        "x/zarr.json",
        "y/zarr.json",
        "spatial_ref/zarr.json",
        "dem/zarr.json",
        "datamask/zarr.json",
    ]
    .iter()
    .map(|n| std::fs::read_to_string(dir.join(n)).expect(n))
    .collect()
}

#[test]
fn region_writers_write_what_the_dataset_writers_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::in_memory().expect("memory"));
    // Past the tiles' edge (rows and columns 190..200 stick out of the
    // cube's last tiles: written there, and part fill).
    let a = aoi(5, 17, 200, 200);
    let opts = LoadOptions::default().create(true).mask_nodata(true);
    let memory = acc.load(&a, &Toi::None, opts).expect("load");
    let lazy = acc.load_lazy(&a, &Toi::None, opts).expect("lazy");

    let whole = dir.path().join("whole.zarr");
    let streamed = dir.path().join("streamed.zarr");
    export::write_zarr(&memory.dataset, "TestTiles", &whole).expect("zarr");
    export::write_zarr_region(&lazy.region, "TestTiles", &streamed).expect("zarr region");
    assert_eq!(documents(&whole), documents(&streamed));
    let (w, s) = (zarr_arrays(&whole), zarr_arrays(&streamed));
    for name in ["dem", "datamask"] {
        assert_eq!(bits(&w[name]), bits(&s[name]), "{name}");
    }
    // Again over it: replaced, not merged.
    export::write_zarr_region(&lazy.region, "TestTiles", &streamed).expect("again");
    assert_eq!(bits(&zarr_arrays(&streamed)["dem"]), bits(&w["dem"]));

    // GeoTIFF: a COG, or streamed tile by tile; the same pixels either way.
    let nodata = |n: &str| (n == "dem").then_some(f64::NAN);
    let cog = export::write_geotiff_region(
        &lazy.region,
        &["dem", "datamask"],
        nodata,
        &dir.path().join("cog.tif"),
        u64::MAX,
    )
    .expect("cog");
    let tiles = export::write_geotiff_region(
        &lazy.region,
        &["dem", "datamask"],
        nodata,
        &dir.path().join("tiles.tif"),
        0,
    )
    .expect("tiles");
    assert!(cog.iter().all(|f| f.cog) && tiles.iter().all(|f| !f.cog));
    assert_eq!(tiles[1].path, dir.path().join("tiles_datamask.tif"));
    let decode = |p: &Path| {
        tiff::decoder::Decoder::new(std::fs::File::open(p).expect("open"))
            .expect("tiff")
            .read_image()
            .expect("pixels")
    };
    let (h, w) = memory.dataset.geobox.shape();
    for file in cog.iter().chain(&tiles) {
        let got = match decode(&file.path) {
            tiff::decoder::DecodingResult::F32(v) => {
                TypedArray::Float32(ndarray::ArrayD::from_shape_vec(vec![h, w], v).expect("shape"))
            }
            tiff::decoder::DecodingResult::U8(v) => {
                TypedArray::Uint8(ndarray::ArrayD::from_shape_vec(vec![h, w], v).expect("shape"))
            }
            _ => panic!("{}: unexpected type", file.path.display()),
        };
        let name = if got.dtype() == geocube::DType::Float32 {
            "dem"
        } else {
            "datamask"
        };
        assert_eq!(
            bits(&got),
            bits(&memory.dataset.variables[name].data),
            "{}",
            file.path.display()
        );
    }
}
