//! The lazy region against the in-memory read: any sub-window, any tiling
//! and the streamed statistics give what one `Cube::read_window` gives.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use geocube_core::cube::{ChunkAddr, TileWindow};
use geocube_core::{
    Affine, ChannelSpec, ChunkCodec, Crs, Cube, CubeSpec, CubeStorage, DType, Dataset, Error,
    GeoBox, Patch, Tiling, TypedArray, Window, with_typed_array,
};
use ndarray::{Array2, Axis, Slice};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const RES: f64 = 32.0;
const NODATA: f32 = -9999.0;

/// A 300 x 250 px cube with 64 px chunks (edge chunks partial): `dem` f32
/// with nodata, `datamask` bool and `count` u16, whose fill 0 counts as a
/// valid pixel in statistics.
fn spec(time: Option<Vec<chrono::DateTime<Utc>>>) -> CubeSpec {
    let geobox = GeoBox::new(
        250,
        300,
        Affine {
            x0: -1_600_000.0,
            res_x: RES,
            y0: 1_600_000.0,
            res_y: -RES,
        },
        Crs::from_epsg(3413).expect("EPSG:3413"),
    )
    .expect("geobox");
    CubeSpec {
        title: "Region".into(),
        geobox,
        time,
        chunk_size: 64,
        channels: vec![
            ChannelSpec::new("dem", DType::Float32).with_nodata(f64::from(NODATA)),
            ChannelSpec::new("datamask", DType::Bool),
            ChannelSpec::new("count", DType::Uint16),
        ],
        codec: ChunkCodec::BloscLz4 { clevel: 1 },
    }
}

#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
fn dem_value(r: usize, c: usize) -> f32 {
    if (r + 3 * c).is_multiple_of(17) {
        NODATA
    } else {
        (r * 1000 + c) as f32 * 0.25
    }
}

/// A patch with top-left cube pixel (row, col).
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
fn patch(id: &str, s: &CubeSpec, row: usize, col: usize, h: usize, w: usize) -> Patch {
    let a = s.geobox.affine();
    let gb = GeoBox::new(
        w,
        h,
        Affine {
            x0: a.x0 + col as f64 * RES,
            res_x: RES,
            y0: a.y0 - row as f64 * RES,
            res_y: -RES,
        },
        s.geobox.crs().clone(),
    )
    .expect("patch geobox");
    let dem = Array2::from_shape_fn((h, w), |(r, c)| dem_value(row + r, col + c));
    let mask = dem.mapv(|v| v != NODATA);
    let count = Array2::from_shape_fn((h, w), |(r, c)| ((row + r + col + c) % 7) as u16);
    Patch::new(id, gb)
        .with_layer(
            "dem",
            TypedArray::Float32(dem.into_dyn()),
            Some(f64::from(NODATA)),
        )
        .with_layer("datamask", TypedArray::Bool(mask.into_dyn()), None)
        .with_layer("count", TypedArray::Uint16(count.into_dyn()), None)
}

/// A cube with two patches: one straddling four chunks near the top left,
/// one at the bottom right edge; most chunks stay unwritten.
fn cube(dir: &tempfile::TempDir) -> Arc<Cube> {
    let s = spec(None);
    let cube = Cube::create(CubeStorage::local(dir.path().join("cube")), &s)
        .execute()
        .expect("create");
    cube.write_patches(&[
        patch("a", &s, 40, 30, 60, 70),
        patch("b", &s, 250, 200, 50, 50),
    ])
    .expect("write");
    Arc::new(cube)
}

/// `a` and `b` hold the same pixels (NaN equal to NaN: bit for bit), grid
/// and time.
#[track_caller]
fn assert_same(a: &Dataset, b: &Dataset) {
    assert_eq!(a.geobox, b.geobox);
    assert_eq!(a.time, b.time);
    assert_eq!(
        a.variables.keys().collect::<Vec<_>>(),
        b.variables.keys().collect::<Vec<_>>()
    );
    for (name, va) in &a.variables {
        let vb = &b.variables[name];
        assert_eq!(va.attributes, vb.attributes, "{name}");
        assert_eq!(bits(&va.data), bits(&vb.data), "{name}");
    }
}

/// Every element's bits, with its shape.
fn bits(t: &TypedArray) -> (Vec<usize>, Vec<u64>) {
    let values = match t {
        TypedArray::Float32(a) => a.iter().map(|v| u64::from(v.to_bits())).collect(),
        TypedArray::Float64(a) => a.iter().map(|v| v.to_bits()).collect(),
        other => with_typed_array!(other, |a: T| a
            .iter()
            .map(|v| geocube_core::CubeElement::to_f64(*v).to_bits())
            .collect()),
    };
    (t.shape().to_vec(), values)
}

/// The sub-window `w` of an in-memory read (every axis but the last two kept).
fn crop(ds: &Dataset, w: Window) -> Dataset {
    let variables = ds
        .variables
        .iter()
        .map(|(name, v)| {
            let data = with_typed_array!(&v.data, |a: T| {
                let n = a.ndim();
                let cut = a
                    .slice_axis(Axis(n - 2), Slice::from(w.rows()))
                    .slice_axis_move(Axis(n - 1), Slice::from(w.cols()))
                    .to_owned();
                geocube_core::CubeElement::wrap(cut)
            });
            (
                name.clone(),
                geocube_core::Variable {
                    data,
                    attributes: v.attributes.clone(),
                },
            )
        })
        .collect();
    Dataset {
        geobox: ds.geobox.window(w).expect("window"),
        time: ds.time.clone(),
        variables,
    }
}

fn windows_in(h: usize, w: usize) -> impl Strategy<Value = Window> {
    (0..h, 0..w).prop_flat_map(move |(r, c)| {
        (1..=h - r, 1..=w - c).prop_map(move |(hh, ww)| Window::new(r, c, hh, ww))
    })
}

#[test]
fn sub_windows_read_as_the_in_memory_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = cube(&dir);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let strategy = windows_in(300, 250).prop_flat_map(|region| {
        (
            Just(region),
            windows_in(region.height, region.width),
            any::<bool>(),
        )
    });
    runner
        .run(&strategy, |(region_w, sub, masked)| {
            let mut region = cube.region(region_w, None).expect("region");
            if masked {
                region = region.mask_nodata("dem", f64::from(NODATA));
            }
            let lazy = region.read_window(sub).expect("lazy read");
            let whole = Window::new(
                region_w.row + sub.row,
                region_w.col + sub.col,
                sub.height,
                sub.width,
            );
            let mut memory = cube.read_window(whole, None).expect("read");
            if masked && let Some(v) = memory.variables.get_mut("dem") {
                v.data.mask_nodata(f64::from(NODATA));
            }
            assert_same(&lazy, &memory);
            Ok(())
        })
        .expect("lazy reads equal in-memory reads");
}

#[test]
fn tiles_cover_the_region_once_and_match_the_in_memory_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = cube(&dir);
    let written: BTreeSet<(usize, usize)> = cube
        .written_chunks()
        .expect("chunks")
        .into_iter()
        .map(|ChunkAddr { row, col, .. }| (row, col))
        .collect();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let tiling = prop_oneof![
        Just(Tiling::Chunks),
        (1..120usize, 1..120usize).prop_map(|(rows, cols)| Tiling::Grid { rows, cols }),
        (1..40usize).prop_map(|rows| Tiling::Grid {
            rows,
            cols: usize::MAX
        }),
    ];
    runner
        .run(&(windows_in(300, 250), tiling), |(region_w, tiling)| {
            let region = cube.region(region_w, None).expect("region");
            let memory = cube.read_window(region_w, None).expect("read");
            let mut covered = vec![0u8; region_w.height * region_w.width];
            for tile in region.tiles(tiling) {
                let tile = tile.expect("tile");
                assert_eq!(tile.at.step, None);
                let w = tile.at.window;
                if let Tiling::Grid { rows, cols } = tiling {
                    assert!(w.height <= rows && w.width <= cols, "{w:?}");
                }
                // In cube chunks: which chunks the tile lies on.
                let (r0, c0) = (region_w.row + w.row, region_w.col + w.col);
                let chunks: Vec<(usize, usize)> = (r0 / 64..=(r0 + w.height - 1) / 64)
                    .flat_map(|cy| (c0 / 64..=(c0 + w.width - 1) / 64).map(move |cx| (cy, cx)))
                    .collect();
                if tiling == Tiling::Chunks {
                    assert_eq!(chunks.len(), 1, "a chunk tile spans one chunk: {w:?}");
                }
                assert_eq!(
                    tile.written,
                    chunks.iter().any(|c| written.contains(c)),
                    "{w:?} on {chunks:?}"
                );
                if !tile.written {
                    assert!(
                        tile.dataset
                            .variables
                            .values()
                            .all(|v| v.data.is_all_fill())
                    );
                }
                assert_same(&tile.dataset, &crop(&memory, w));
                for r in w.rows() {
                    for c in w.cols() {
                        covered[r * region_w.width + c] += 1;
                    }
                }
            }
            assert!(
                covered.iter().all(|n| *n == 1),
                "tiles overlap or miss pixels"
            );
            Ok(())
        })
        .expect("tiles");
}

#[test]
fn streamed_statistics_equal_the_in_memory_statistics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = cube(&dir);
    let nodata = |name: &str| (name == "dem").then_some(f64::from(NODATA));
    // Whole cube, a region inside one patch, one missing both patches.
    for w in [
        Window::new(0, 0, 300, 250),
        Window::new(45, 35, 30, 30),
        Window::new(150, 0, 60, 60),
    ] {
        let streamed = cube
            .region(w, None)
            .expect("region")
            .stats(nodata)
            .expect("stats");
        let memory = cube.read_window(w, None).expect("read");
        for (name, var) in &memory.variables {
            let want = var.data.stats(nodata(name));
            let got = streamed[name];
            assert_eq!(
                (got.count, got.min.to_bits(), got.max.to_bits()),
                (want.count, want.min.to_bits(), want.max.to_bits()),
                "{name} in {w:?}"
            );
            assert!(
                (got.sum - want.sum).abs() <= 1e-9 * want.sum.abs().max(1.0),
                "{name}: {} vs {}",
                got.sum,
                want.sum
            );
        }
        // The u16 fill (0) counts as valid: every pixel is.
        assert_eq!(streamed["count"].count, (w.height * w.width) as u64);
    }
}

#[test]
fn a_region_sees_the_snapshot_it_was_made_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = cube(&dir);
    let w = Window::new(150, 0, 64, 64);
    let before = cube.region(w, None).expect("region");
    assert!(!before.holds_data(Window::new(0, 0, 64, 64), None));
    cube.write_patch(&patch("c", &spec(None), 150, 0, 64, 64))
        .expect("write");
    let old = before.read_window(Window::new(0, 0, 64, 64)).expect("old");
    assert!(old.variables["dem"].data.is_all_fill());
    let after = cube.region(w, None).expect("region");
    assert!(after.holds_data(Window::new(0, 0, 64, 64), None));
    let new = after.read_window(Window::new(10, 10, 1, 1)).expect("new");
    let v = new.variables["dem"].data.as_array::<f32>().expect("f32");
    assert_eq!(v[[0, 0]].to_bits(), dem_value(160, 10).to_bits());
}

#[test]
fn temporal_regions_are_tiled_step_by_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps: Vec<_> = (2017..2020)
        .map(|y| {
            Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
                .single()
                .expect("date")
        })
        .collect();
    let s = spec(Some(steps.clone()));
    let cube = Arc::new(
        Cube::create(CubeStorage::local(dir.path().join("t")), &s)
            .execute()
            .expect("create"),
    );
    cube.write_patch(&patch("y2018", &s, 10, 10, 50, 80).with_time(steps[1]))
        .expect("write");
    let w = Window::new(0, 0, 100, 130);
    let region = cube.region(w, Some(&[0, 1, 2])).expect("region");
    assert_eq!(region.shape(), [3, 100, 130]);
    assert_eq!(region.time(), Some(steps.as_slice()));
    let memory = cube.read_window(w, Some(&[0, 1, 2])).expect("read");
    let mut seen = vec![];
    for tile in region.tiles(Tiling::Chunks) {
        let tile = tile.expect("tile");
        let step = tile.at.step.expect("a step");
        seen.push(step);
        assert_eq!(tile.dataset.time.as_deref(), Some(&steps[step..=step]));
        // The patch (rows 10..60, cols 10..90) lies on chunks (0, 0) and (0, 1).
        let w = tile.at.window;
        assert_eq!(
            tile.written,
            step == 1 && w.row == 0 && w.col < 128,
            "{:?}",
            tile.at
        );
        let one = {
            let mut m = crop(&memory, tile.at.window);
            m.time = Some(vec![steps[step]]);
            for v in m.variables.values_mut() {
                v.data = with_typed_array!(&v.data, |a: T| geocube_core::CubeElement::wrap(
                    a.slice_axis(Axis(0), Slice::from(step..=step)).to_owned()
                ));
            }
            m
        };
        assert_same(&tile.dataset, &one);
    }
    // 2 x 3 chunks per step, steps in order.
    assert_eq!(seen, [[0; 6], [1; 6], [2; 6]].concat());
    assert!(matches!(
        region.read_tile(&TileWindow {
            step: Some(3),
            window: Window::new(0, 0, 1, 1)
        }),
        Err(Error::InvalidToi(_))
    ));
    assert!(matches!(
        region.read_tile(&TileWindow {
            step: None,
            window: Window::new(0, 0, 1, 1)
        }),
        Err(Error::InvalidToi(_))
    ));
}

#[test]
fn sizes_selection_and_misses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = cube(&dir);
    let region = cube
        .region(Window::new(10, 20, 100, 50), None)
        .expect("region");
    // f32 + bool + u16 = 7 bytes a pixel.
    assert_eq!(region.nbytes(), 100 * 50 * 7);
    assert_eq!(
        cube.layout().bytes_in_memory(100, 50, 1),
        Some(region.nbytes())
    );
    assert_eq!(
        cube.layout().bytes_in_memory(usize::MAX, usize::MAX, 1),
        None
    );
    assert_eq!(
        cube.layout().bytes_in_memory(1 << 31, 1 << 31, 1 << 31),
        None,
        "wraps past u64"
    );
    let dem_only = region.select(&["dem"]).expect("select");
    assert_eq!(dem_only.nbytes(), 100 * 50 * 4);
    let ds = dem_only.read_window(Window::new(0, 0, 5, 5)).expect("read");
    assert_eq!(ds.variables.keys().collect::<Vec<_>>(), ["dem"]);
    let err = region.select(&["nope"]).expect_err("unknown");
    assert!(
        matches!(&err, Error::UnknownVariable { name, .. } if name == "nope"),
        "{err}"
    );
    assert!(err.to_string().contains("count, datamask, dem"), "{err}");
    // Windows past the region are clipped, windows outside it refused.
    let clipped = region
        .read_window(Window::new(90, 40, 50, 50))
        .expect("clip");
    assert_eq!(clipped.geobox.shape(), (10, 10));
    assert!(matches!(
        region.read_window(Window::new(100, 0, 5, 5)),
        Err(Error::InvalidAoi(_))
    ));
    assert!(!region.holds_data(Window::new(100, 0, 5, 5), None));
    // A region clipped to the cube.
    let edge = cube
        .region(Window::new(290, 240, 50, 50), None)
        .expect("edge");
    assert_eq!(edge.shape(), [10, 10]);
    assert!(cube.region(Window::new(300, 0, 5, 5), None).is_err());
}

#[test]
fn lazy_regions_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<geocube_core::LazyRegion>();
}
