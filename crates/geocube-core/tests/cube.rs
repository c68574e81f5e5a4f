//! The cube on a real local Icechunk repository: create/open, write/read,
//! merge rules, atomicity and concurrent writers.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use geocube_core::{
    Affine, BoundingBox, ChannelSpec, ChunkCodec, Crs, Cube, CubeSpec, CubeStorage, DType, Error,
    GeoBox, IcechunkFormat, Patch, TypedArray, Window,
};
use ndarray::{Array2, ArrayD};

const RES: f64 = 32.0;

fn crs() -> Crs {
    Crs::from_epsg(3413).expect("EPSG:3413")
}

/// A 300 x 250 px cube at 32 m with 64 px chunks (edge chunks partial).
fn spec() -> CubeSpec {
    let geobox = GeoBox::new(
        250,
        300,
        Affine {
            x0: -1_600_000.0,
            res_x: RES,
            y0: 1_600_000.0,
            res_y: -RES,
        },
        crs(),
    )
    .expect("geobox");
    CubeSpec {
        title: "Test".into(),
        geobox,
        time: None,
        chunk_size: 64,
        channels: vec![
            ChannelSpec::new("dem", DType::Float32)
                .with_nodata(-9999.0)
                .with_attribute("long_name", "Digital Elevation Model")
                .with_attribute("units", "m"),
            ChannelSpec::new("datamask", DType::Bool).with_attribute("long_name", "Data Mask"),
        ],
        codec: ChunkCodec::Default,
    }
}

fn new_cube(dir: &tempfile::TempDir) -> Cube {
    Cube::create(CubeStorage::local(dir.path().join("cube")), &spec())
        .execute()
        .expect("create cube")
}

/// A patch whose top-left pixel is cube pixel (row, col), values `f(r, c)` in cube pixels.
fn patch(id: &str, row: i64, col: i64, h: usize, w: usize, f: impl Fn(i64, i64) -> f32) -> Patch {
    let s = spec();
    let a = s.geobox.affine();
    #[allow(clippy::cast_precision_loss)]
    let gb = GeoBox::new(
        w,
        h,
        Affine {
            x0: a.x0 + col as f64 * RES,
            res_x: RES,
            y0: a.y0 - row as f64 * RES,
            res_y: -RES,
        },
        crs(),
    )
    .expect("patch geobox");
    #[allow(clippy::cast_possible_wrap)]
    let dem = Array2::from_shape_fn((h, w), |(r, c)| f(row + r as i64, col + c as i64));
    let mask = dem.mapv(|v| !v.is_nan() && v != -9999.0);
    Patch::new(id, gb)
        .with_layer("dem", TypedArray::Float32(dem.into_dyn()), Some(-9999.0))
        .with_layer("datamask", TypedArray::Bool(mask.into_dyn()), None)
}

fn dem(ds: &geocube_core::Dataset) -> ArrayD<f32> {
    ds.variable("dem")
        .and_then(|v| v.data.as_array::<f32>())
        .expect("dem f32")
        .clone()
}

fn full(cube: &Cube) -> Window {
    let (h, w) = cube.layout().geobox.shape();
    Window {
        row: 0,
        col: 0,
        height: h,
        width: w,
    }
}

#[allow(clippy::cast_precision_loss)]
fn terrain(r: i64, c: i64) -> f32 {
    (r * 1000 + c) as f32 * 0.25
}

#[test]
fn create_open_and_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir);
    assert_eq!(cube.format(), IcechunkFormat::V1);
    let again = Cube::open(CubeStorage::local(dir.path().join("cube"))).expect("open");
    let layout = again.layout();
    assert_eq!(layout.title, "Test");
    assert_eq!(layout.geobox, spec().geobox);
    assert_eq!(layout.chunk_shape, (64, 64));
    let names: Vec<_> = layout
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.dtype))
        .collect();
    assert_eq!(names, [("datamask", DType::Bool), ("dem", DType::Float32)]);
    assert!(again.loaded_patches().expect("ids").is_empty());
    let ds = again.read_window(full(&again), None).expect("read");
    assert!(
        dem(&ds).iter().all(|v| v.is_nan()),
        "unloaded cube reads as NaN"
    );
    assert_eq!(ds.xs().len(), 250);
    assert!((ds.xs()[0] - (-1_600_000.0 + 16.0)).abs() < 1e-9);
    assert!((ds.ys()[0] - (1_600_000.0 - 16.0)).abs() < 1e-9);
}

#[test]
fn create_respects_exists_ok_and_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    assert!(!Cube::exists(&storage).expect("exists"));
    let cube = new_cube(&dir);
    assert!(Cube::exists(&storage).expect("exists"));
    cube.write_patch(&patch("a", 0, 0, 10, 10, terrain))
        .expect("write");
    let err = Cube::create(storage.clone(), &spec())
        .execute()
        .expect_err("exists");
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let kept = Cube::create(storage.clone(), &spec())
        .exists_ok(true)
        .execute()
        .expect("exists_ok");
    assert_eq!(kept.loaded_patches().expect("ids"), ["a"]);
    let fresh = Cube::create(storage, &spec())
        .overwrite(true)
        .execute()
        .expect("overwrite");
    assert!(fresh.loaded_patches().expect("ids").is_empty());
    assert!(
        dem(&fresh.read_window(full(&fresh), None).expect("read"))
            .iter()
            .all(|v| v.is_nan())
    );
}

/// A creator killed between the repository and the cube's first commit
/// leaves an empty branch; creating with `exists_ok` finishes the job.
#[test]
fn exists_ok_finishes_a_creation_cut_short() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cube");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let storage = icechunk::new_local_filesystem_storage(&path)
            .await
            .expect("storage");
        icechunk::Repository::create(storage)
            .execute()
            .await
            .expect("bare repository");
    });
    drop(rt);
    let storage = CubeStorage::local(&path);
    assert!(!Cube::exists(&storage).expect("exists"));
    let err = Cube::create(storage.clone(), &spec())
        .execute()
        .expect_err("a repository is there");
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let cube = Cube::create(storage.clone(), &spec())
        .exists_ok(true)
        .execute()
        .expect("exists_ok completes the cube");
    assert!(cube.loaded_patches().expect("ids").is_empty());
    cube.write_patch(&patch("a", 0, 0, 10, 10, terrain))
        .expect("write");
    assert_eq!(
        Cube::open(storage)
            .expect("open")
            .loaded_patches()
            .expect("ids"),
        ["a"]
    );
}

#[test]
fn open_missing_cube_says_how_to_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Cube::open(CubeStorage::local(dir.path().join("nope"))).expect_err("missing");
    assert!(matches!(err, Error::NotCreated { .. }), "{err}");
    assert!(err.to_string().contains("create"), "{err}");
}

#[test]
fn a_file_or_a_directory_of_other_files_is_not_made_a_cube() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A regular file: named as such, everywhere.
    let file = tmp.path().join("f");
    std::fs::write(&file, b"not a cube").expect("write");
    let storage = CubeStorage::local(&file);
    let is_file = |e: Error| match e {
        Error::NotADirectory { path } => assert_eq!(path, file),
        other => panic!("expected NotADirectory, got {other}"),
    };
    is_file(
        Cube::create(storage.clone(), &spec())
            .execute()
            .expect_err("create"),
    );
    is_file(Cube::open(storage.clone()).expect_err("open"));
    is_file(Cube::exists(&storage).expect_err("exists"));
    let msg = Cube::open(storage).expect_err("open").to_string();
    assert!(msg.contains("is a file, not a cube directory"), "{msg}");
    assert_eq!(std::fs::read(&file).expect("read"), b"not a cube");

    // A directory of unrelated files: refused whatever the flags, untouched.
    let dir = tmp.path().join("photos");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("a.jpg"), b"x").expect("write");
    let storage = CubeStorage::local(&dir);
    for (overwrite, exists_ok) in [(false, false), (false, true), (true, false)] {
        let err = Cube::create(storage.clone(), &spec())
            .overwrite(overwrite)
            .exists_ok(exists_ok)
            .execute()
            .expect_err("refused");
        assert!(
            matches!(&err, Error::NotEmpty { path, entries } if *path == dir && entries == "a.jpg"),
            "{err}"
        );
    }
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["a.jpg"], "nothing added");

    // An empty directory, or one holding only geocube's own files, is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    std::fs::write(empty.join(".geocube-events.json"), b"[]").expect("write");
    Cube::create(CubeStorage::local(&empty), &spec())
        .execute()
        .expect("create in an empty directory");
    // And a cube stays a cube: exists_ok reopens it.
    Cube::create(CubeStorage::local(&empty), &spec())
        .exists_ok(true)
        .execute()
        .expect("reopen");
}

#[test]
fn write_then_read_back_across_chunks_and_edges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir);
    // Starts outside the cube (negative row/col) and spans many chunks.
    let p = patch("p1", -10, -20, 150, 130, terrain);
    let out = cube.write_patch(&p).expect("write");
    assert_eq!(out.written, ["p1"]);
    assert_eq!(cube.loaded_patches().expect("ids"), ["p1"]);
    let d = dem(&cube.read_window(full(&cube), None).expect("read"));
    for r in 0..300_i64 {
        for c in 0..250_i64 {
            let v = d[[
                usize::try_from(r).expect("r"),
                usize::try_from(c).expect("c"),
            ]];
            if r < 140 && c < 110 {
                assert_eq!(v.to_bits(), terrain(r, c).to_bits(), "pixel {r},{c}");
            } else {
                assert!(v.is_nan(), "pixel {r},{c} should be unloaded, is {v}");
            }
        }
    }
    // Writing the same id again is a no-op.
    let out = cube
        .write_patch(&patch("p1", 0, 0, 5, 5, |_, _| 1.0))
        .expect("rewrite");
    assert!(out.written.is_empty() && out.already_loaded == ["p1"]);
    assert_eq!(
        dem(&cube.read_window(full(&cube), None).expect("read"))[[0, 0]],
        terrain(0, 0)
    );
}

#[test]
fn nan_and_nodata_never_overwrite_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir);
    cube.write_patch(&patch("a", 0, 0, 100, 100, terrain))
        .expect("a");
    // b overlaps a on rows 50..100; its left half is NaN, its right half nodata.
    let b = patch("b", 50, 0, 100, 100, |_, c| {
        if c < 50 { f32::NAN } else { -9999.0 }
    });
    cube.write_patch(&b).expect("b");
    let d = dem(&cube.read_window(full(&cube), None).expect("read"));
    assert_eq!(d[[75, 10]], terrain(75, 10), "NaN kept a's value");
    assert_eq!(d[[75, 80]], terrain(75, 80), "nodata kept a's value");
    assert!(d[[120, 10]].is_nan(), "NaN written where nothing was");
    assert_eq!(
        d[[120, 80]],
        -9999.0,
        "source nodata kept bit-exact where nothing was"
    );
    // Valid data does overwrite nodata.
    cube.write_patch(&patch("c", 110, 70, 20, 20, |_, _| 5.5))
        .expect("c");
    assert_eq!(
        dem(&cube.read_window(full(&cube), None).expect("read"))[[120, 80]],
        5.5
    );
    let mask = cube.read_window(full(&cube), None).expect("read");
    let mask = mask
        .variable("datamask")
        .and_then(|v| v.data.as_array::<bool>())
        .expect("mask")
        .clone();
    assert!(mask[[75, 80]], "false mask of b did not erase a's true");
}

#[test]
fn a_batch_is_one_commit_and_coalesces_shared_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir);
    let ps = vec![
        patch("t1", 0, 0, 70, 70, terrain),
        patch("t2", 0, 70, 70, 70, terrain),
        patch("t2", 0, 0, 1, 1, |_, _| -1.0), // duplicate id in the batch: first wins
        patch("t3", 70, 0, 70, 70, terrain),
    ];
    let out = cube.write_patches(&ps).expect("batch");
    assert_eq!(out.written, ["t1", "t2", "t3"]);
    assert_eq!(cube.loaded_patches().expect("ids"), ["t1", "t2", "t3"]);
    let d = dem(&cube.read_window(full(&cube), None).expect("read"));
    assert_eq!(d[[0, 0]], terrain(0, 0));
    assert_eq!(d[[69, 139]], terrain(69, 139));
    assert_eq!(d[[139, 69]], terrain(139, 69));
    assert!(d[[139, 139]].is_nan());
}

#[test]
fn invalid_patches_leave_the_cube_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir);
    cube.write_patch(&patch("ok", 0, 0, 10, 10, terrain))
        .expect("ok");
    let before = cube.read_window(full(&cube), None).expect("read");
    let good = patch("good", 20, 20, 10, 10, terrain);

    let mut wrong_dtype = patch("x1", 0, 0, 10, 10, terrain);
    wrong_dtype.layers.get_mut("dem").expect("dem").data =
        TypedArray::Float64(ArrayD::zeros(vec![10, 10]));
    let mut unknown_var = patch("x2", 0, 0, 10, 10, terrain);
    let layer = unknown_var.layers["dem"].clone();
    unknown_var.layers.insert("nope".into(), layer);
    let mut off_lattice = patch("x3", 0, 0, 10, 10, terrain);
    let a = off_lattice.geobox.affine();
    off_lattice.geobox = GeoBox::new(
        10,
        10,
        Affine {
            x0: a.x0 + 5.0,
            ..a
        },
        crs(),
    )
    .expect("gb");
    let outside = patch("x4", 1000, 1000, 10, 10, terrain);
    let mut wrong_shape = patch("x5", 0, 0, 10, 10, terrain);
    wrong_shape.layers.get_mut("dem").expect("dem").data =
        TypedArray::Float32(ArrayD::zeros(vec![9, 10]));

    for bad in [wrong_dtype, unknown_var, off_lattice, outside, wrong_shape] {
        let id = bad.id.clone();
        // A good patch in the same batch is not written either: all or nothing.
        let err = cube
            .write_patches(&[good.clone(), bad])
            .expect_err("invalid");
        assert!(matches!(err, Error::InvalidPatch { .. }), "{id}: {err}");
        assert_eq!(cube.loaded_patches().expect("ids"), ["ok"], "{id}");
        assert_eq!(
            cube.read_window(full(&cube), None)
                .expect("read")
                .variables
                .len(),
            before.variables.len()
        );
        assert_eq!(
            dem(&cube.read_window(full(&cube), None).expect("read"))
                .iter()
                .filter(|v| !v.is_nan())
                .count(),
            100
        );
    }
}

#[test]
fn concurrent_writers_on_one_local_repository_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = Arc::new(new_cube(&dir));
    let storage = CubeStorage::local(dir.path().join("cube"));
    // Half the threads share the Cube, half open their own: both must queue.
    let handles: Vec<_> = (0..8_i64)
        .map(|i| {
            let shared = Arc::clone(&cube);
            let storage = storage.clone();
            std::thread::spawn(move || {
                let own;
                let cube = if i % 2 == 0 {
                    &*shared
                } else {
                    own = Cube::open(storage).expect("open");
                    &own
                };
                // Neighbouring patches share chunks (64 px chunks, 40 px patches).
                cube.write_patch(&patch(
                    &format!("p{i}"),
                    (i / 4) * 40,
                    (i % 4) * 40,
                    40,
                    40,
                    terrain,
                ))
                .expect("write")
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let mut ids = cube.loaded_patches().expect("ids");
    ids.sort();
    assert_eq!(ids, (0..8).map(|i| format!("p{i}")).collect::<Vec<_>>());
    let d = dem(&cube.read_window(full(&cube), None).expect("read"));
    for r in 0..80 {
        for c in 0..160 {
            assert_eq!(d[[r, c]], terrain(r as i64, c as i64), "pixel {r},{c} lost");
        }
    }
}

#[test]
fn temporal_cube_writes_and_selects_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps: Vec<_> = (2017..2020)
        .map(|y| {
            Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
                .single()
                .expect("date")
        })
        .collect();
    let mut s = spec();
    s.time = Some(steps.clone());
    s.channels = vec![ChannelSpec::new("dem", DType::Float32)];
    let cube = Cube::create(CubeStorage::local(dir.path().join("t")), &s)
        .execute()
        .expect("create");
    assert_eq!(cube.layout().time.as_deref(), Some(steps.as_slice()));
    let p = patch("y2018", 0, 0, 10, 10, terrain);
    let p = Patch {
        layers: p.layers.into_iter().filter(|(k, _)| k == "dem").collect(),
        ..p
    }
    .with_time(steps[1]);
    cube.write_patch(&p).expect("write");
    let ds = cube
        .read_window(
            Window {
                row: 0,
                col: 0,
                height: 10,
                width: 10,
            },
            Some(&[1, 2]),
        )
        .expect("read");
    assert_eq!(ds.time.as_deref(), Some(&steps[1..]));
    let d = dem(&ds);
    assert_eq!(d.shape(), [2, 10, 10]);
    assert_eq!(d[[0, 3, 4]], terrain(3, 4));
    assert!(d[[1, 3, 4]].is_nan());
    let wrong_time = patch("bad", 0, 0, 10, 10, terrain);
    let wrong_time = Patch {
        layers: wrong_time
            .layers
            .into_iter()
            .filter(|(k, _)| k == "dem")
            .collect(),
        ..wrong_time
    }
    .with_time(
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .expect("date"),
    );
    assert!(matches!(
        cube.write_patch(&wrong_time),
        Err(Error::InvalidPatch { .. })
    ));
}

#[test]
fn in_memory_storage_works_too() {
    let storage = CubeStorage::in_memory().expect("memory");
    let cube = Cube::create(storage.clone(), &spec())
        .execute()
        .expect("create");
    cube.write_patch(&patch("m", 0, 0, 10, 10, terrain))
        .expect("write");
    let again = Cube::open(storage).expect("open");
    assert_eq!(again.loaded_patches().expect("ids"), ["m"]);
    let _ = BoundingBox {
        left: 0.0,
        bottom: 0.0,
        right: 1.0,
        top: 1.0,
    };
}

/// The decoded-chunk cache is keyed by chunk object, so another handle's
/// (or process's) commit to the same chunks is seen at once, and what a
/// cached read returns is exactly what an uncached one does.
#[test]
fn chunk_cache_never_serves_stale_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let a = new_cube(&dir);
    let b = Cube::open(storage.clone()).expect("second handle");
    // `a` writes and caches the chunks around pixel (64, 64)...
    a.write_patch(&patch("left", 30, 30, 80, 40, terrain))
        .expect("write left");
    let first = dem(&a.read_window(full(&a), None).expect("read"));
    // ...then `b` merges into the same chunks and also writes new ones.
    b.write_patch(&patch("right", 30, 70, 80, 60, |r, c| terrain(r, c) + 0.5))
        .expect("write right");
    let cached = a.read_window(full(&a), None).expect("read after b");
    let fresh = Cube::open(storage).expect("third handle");
    fresh.set_chunk_cache_bytes(0);
    let uncached = fresh
        .read_window(full(&fresh), None)
        .expect("uncached read");
    let (d, u) = (dem(&cached), dem(&uncached));
    assert!(
        d.iter()
            .zip(u.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()),
        "cached and uncached reads differ"
    );
    assert_eq!(
        d[[50, 100]],
        terrain(50, 100) + 0.5,
        "b's pixels are visible to a"
    );
    assert_eq!(d[[50, 40]], terrain(50, 40), "a's pixels survive b's merge");
    assert_eq!(first[[50, 40]], terrain(50, 40));
    assert!(first[[50, 100]].is_nan());
    // Reading a window again (served from the cache) changes nothing.
    let again = dem(&a.read_window(full(&a), None).expect("read again"));
    assert!(
        again
            .iter()
            .zip(d.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
    assert_eq!(
        cached.variable("datamask").map(|v| v.data.clone()),
        uncached.variable("datamask").map(|v| v.data.clone())
    );
}

/// `loaded()` is parsed once per snapshot: another handle's commit moves the
/// tip and is seen at once; a handle's own commit updates it in place.
#[test]
fn loaded_patches_follow_the_branch_tip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let a = new_cube(&dir);
    let b = Cube::open(storage.clone()).expect("second handle");
    let empty = a.loaded().expect("loaded");
    assert!(empty.is_empty());
    assert!(
        Arc::ptr_eq(&empty, &a.loaded().expect("again")),
        "same snapshot, same parse"
    );
    b.write_patch(&patch("from-b", 0, 0, 10, 10, terrain))
        .expect("b writes");
    let seen = a.loaded().expect("after b");
    assert_ne!(seen.snapshot_id(), empty.snapshot_id());
    assert!(seen.contains("from-b") && !seen.contains("from-a"));
    let out = a
        .write_patch(&patch("from-a", 20, 20, 10, 10, terrain))
        .expect("a writes");
    let own = a.loaded().expect("after a");
    assert_eq!(Some(own.snapshot_id()), out.snapshot.as_deref());
    assert_eq!(own.ids().collect::<Vec<_>>(), ["from-b", "from-a"]);
    let fresh = Cube::open(storage).expect("third handle");
    assert_eq!(*fresh.loaded().expect("fresh"), *own);
    assert_eq!(b.loaded_patches().expect("b"), ["from-b", "from-a"]);
}

/// Every element type goes through the blosc read path (decoded straight
/// into typed buffers) and comes back bit-exact, in whole chunks and in
/// row bands, from a handle with no cached chunks.
#[test]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn every_dtype_round_trips_through_blosc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let mut s = spec();
    s.channels = [
        DType::Float32,
        DType::Float64,
        DType::Uint8,
        DType::Uint16,
        DType::Int16,
        DType::Int32,
        DType::Bool,
    ]
    .iter()
    .map(|d| ChannelSpec::new(format!("{d:?}").to_lowercase(), *d))
    .collect();
    Cube::create(storage.clone(), &s).execute().expect("create");
    let writer = Cube::open(storage.clone()).expect("open");
    let (h, w) = (100, 90);
    let k = |r: usize, c: usize| (r * 131 + c * 7) as i64 - 5000;
    let base = patch("all", 10, 20, h, w, terrain);
    let mut p = Patch::new("all", base.geobox.clone());
    for ch in &s.channels {
        let data = match ch.dtype {
            DType::Float32 => TypedArray::Float32(
                Array2::from_shape_fn((h, w), |(r, c)| k(r, c) as f32 * 0.5).into_dyn(),
            ),
            DType::Float64 => TypedArray::Float64(
                Array2::from_shape_fn((h, w), |(r, c)| k(r, c) as f64 / 3.0).into_dyn(),
            ),
            DType::Uint8 => TypedArray::Uint8(
                Array2::from_shape_fn((h, w), |(r, c)| (k(r, c) & 0xff) as u8 | 1).into_dyn(),
            ),
            DType::Uint16 => TypedArray::Uint16(
                Array2::from_shape_fn((h, w), |(r, c)| (k(r, c) & 0xffff) as u16 | 1).into_dyn(),
            ),
            DType::Int16 => TypedArray::Int16(
                Array2::from_shape_fn((h, w), |(r, c)| k(r, c) as i16 | 1).into_dyn(),
            ),
            DType::Int32 => TypedArray::Int32(
                Array2::from_shape_fn((h, w), |(r, c)| (k(r, c) * 40_000) as i32 | 1).into_dyn(),
            ),
            DType::Bool => TypedArray::Bool(
                Array2::from_shape_fn((h, w), |(r, c)| (r + c) % 3 == 0).into_dyn(),
            ),
        };
        p = p.with_layer(&ch.name, data, None);
    }
    writer.write_patch(&p).expect("write");
    let reader = Cube::open(storage).expect("reader");
    reader.set_chunk_cache_bytes(0);
    for window in [
        Window {
            row: 10,
            col: 20,
            height: h,
            width: w,
        },
        Window {
            row: 30,
            col: 25,
            height: 7,
            width: 50,
        },
    ] {
        let ds = reader.read_window(window, None).expect("read");
        for ch in &s.channels {
            let got = &ds.variable(&ch.name).expect("variable").data;
            let want = &p.layers[&ch.name].data;
            let (r0, c0) = (window.row - 10, window.col - 20);
            macro_rules! check {
                ($t:ty) => {{
                    let g = got.as_array::<$t>().expect("dtype");
                    let w = want.as_array::<$t>().expect("dtype");
                    for ((i, j), v) in g
                        .clone()
                        .into_dimensionality::<ndarray::Ix2>()
                        .expect("2-D")
                        .indexed_iter()
                    {
                        let e = w[[r0 + i, c0 + j]];
                        assert!(
                            format!("{v:?}") == format!("{e:?}"),
                            "{} at ({i}, {j}) of {window:?}: {v:?} != {e:?}",
                            ch.name
                        );
                    }
                }};
            }
            match ch.dtype {
                DType::Float32 => check!(f32),
                DType::Float64 => check!(f64),
                DType::Uint8 => check!(u8),
                DType::Uint16 => check!(u16),
                DType::Int16 => check!(i16),
                DType::Int32 => check!(i32),
                DType::Bool => check!(bool),
            }
        }
    }
}
