//! Memory bounded by design, through the `geocube` command against the
//! testkit's `tiny` fixture mosaic on a loopback server: a plain load of a
//! region too large for memory fails before any request; the same kind of
//! region with `--out X.zarr` streams in bounded memory and equals the
//! in-memory read where there is data; a band too large for a COG streams
//! to a tiled GeoTIFF that GDAL reads; streamed statistics equal the
//! in-memory ones.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use geocube::budget::ByteSize;
use geocube_core::{Aoi, BoundingBox, Crs, Cube, CubeStorage, Dataset, TypedArray, Window};
use geocube_testkit::server::{FixtureServer, ServerOptions};
use geocube_testkit::{Bounds, FixtureManifest, Preset, fixtures};
use serde_json::Value;

const DATASET: &str = "arcticdem-32m";
const NODATA: f64 = -9999.0;

struct World {
    dir: tempfile::TempDir,
    manifest: FixtureManifest,
    server: FixtureServer,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = fixtures::generate(Preset::Tiny, dir.path()).expect("fixtures");
        let server = FixtureServer::start(dir.path(), ServerOptions::default()).expect("server");
        World {
            dir,
            manifest,
            server,
        }
    })
}

fn command(args: &[&str], server: &FixtureServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_geocube"));
    c.args(args)
        .env("GEOCUBE_STAC_URL", server.stac_api_url())
        .env("GEOCUBE_AUX_DIR", world().dir.path())
        .env_remove("RUST_BACKTRACE");
    c
}

fn geocube(args: &[&str]) -> Output {
    command(args, &world().server)
        .output()
        .expect("run geocube")
}

/// Run `geocube args...` and sample its peak resident memory (`VmHWM`, which
/// only grows) every 10 ms until it exits: the largest sample, in bytes.
fn geocube_peak_rss(args: &[&str]) -> (Output, u64) {
    let mut child = command(args, &world().server)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn geocube");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = vec![];
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = Output {
        status,
        stdout: out.join().expect("stdout thread"),
        stderr: err.join().expect("stderr thread"),
    };
    (output, peak_kb * 1024)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "geocube failed: {}\nstdout: {}",
        stderr(o),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A user error: non-zero exit, one `error:` sentence, no panic.
#[track_caller]
fn user_error(o: &Output, needle: &str) -> String {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure: {}", ok(o));
    assert!(
        err.contains("error:") && err.contains(needle),
        "stderr lacks `{needle}`: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn bbox(b: &BoundingBox) -> String {
    format!("{},{},{},{}", b.left, b.bottom, b.right, b.top)
}

fn load_args<'a>(store: &'a str, bbox: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "load",
        DATASET,
        "--store",
        store,
        "--bbox",
        bbox,
        "--crs",
        "EPSG:3413",
    ];
    args.extend_from_slice(extra);
    args
}

fn polar() -> Crs {
    Crs::from_epsg(3413).expect("EPSG:3413")
}

/// The fixture mosaic grown by `margin` metres on every side.
fn around_mosaic(margin: f64) -> BoundingBox {
    let m: &Bounds = &world().manifest.mosaic_bounds;
    BoundingBox::new(
        m.xmin - margin,
        m.ymin - margin,
        m.xmax + margin,
        m.ymax + margin,
    )
}

/// The cube at `store` and the cube window of the box `b` (EPSG:3413).
fn cube_and_window(store: &Path, b: BoundingBox) -> (Arc<Cube>, Window) {
    let cube = Arc::new(Cube::open(CubeStorage::local(store)).expect("open cube"));
    let w = cube.aoi_window(&Aoi::bbox(b, polar())).expect("window");
    (cube, w)
}

/// `w` (cube pixels) relative to `origin` (cube pixels).
fn relative(w: Window, origin: Window) -> Window {
    Window::new(w.row - origin.row, w.col - origin.col, w.height, w.width)
}

/// Every element's bits, NaN equal to NaN.
fn bits(t: &TypedArray) -> Vec<u64> {
    match t {
        TypedArray::Float32(a) => a.iter().map(|v| u64::from(v.to_bits())).collect(),
        TypedArray::Bool(a) => a.iter().map(|v| u64::from(*v)).collect(),
        other => panic!("unexpected type {:?}", other.dtype()),
    }
}

fn store_in(dir: &Path) -> PathBuf {
    dir.join("cube")
}

#[test]
fn a_huge_box_fails_fast_before_any_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store_in(tmp.path());
    let s = store.to_str().expect("utf-8");
    // A server of its own, which counts every request (STAC, COGs).
    let counting =
        FixtureServer::start(world().dir.path(), ServerOptions::default()).expect("server");
    let started = Instant::now();
    let o = command(
        &[
            "load",
            DATASET,
            "--store",
            s,
            "--bbox",
            "-180,60,180,89.9",
            "--create",
        ],
        &counting,
    )
    .output()
    .expect("run");
    let took = started.elapsed();
    let err = user_error(&o, "an in-memory load of");
    // Fails in the time it takes to start (it used to download every tile
    // first, then die allocating 172 GB).
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(
        counting.request_count("/"),
        0,
        "{:?}",
        counting.request_counts()
    );
    assert!(!store.exists(), "the cube was created");
    // The message names the size (consistent with the shape it names: dem
    // f32 + datamask bool, 5 bytes a pixel), the limit and the ways out.
    let shape = err
        .split("in-memory load of ")
        .nth(1)
        .and_then(|rest| rest.split(" px").next())
        .expect("shape in the message");
    let (w, h) = shape.split_once(" x ").expect("W x H");
    let (w, h): (u64, u64) = (w.parse().expect("w"), h.parse().expect("h"));
    assert!(w > 150_000 && h > 150_000, "{shape}");
    assert!(err.contains(&ByteSize(w * h * 5).to_string()), "{err}");
    assert!(err.contains("over the 4 GiB limit"), "{err}");
    for way in [
        "--out X.zarr",
        "--out X.tif",
        "--stats",
        "geocube prefetch",
        "Accessor::load_lazy",
        "--max-memory",
    ] {
        assert!(err.contains(way), "{way} missing: {err}");
    }

    // The limit is the user's: a small one refuses a tile's worth, `off`
    // and a malformed size are read as such.
    let tile = &world().manifest.tiles[0].bounds;
    let one = format!("{},{},{},{}", tile.xmin, tile.ymin, tile.xmax, tile.ymax);
    let o = command(
        &load_args(s, &one, &["--create", "--max-memory", "1MiB"]),
        &counting,
    )
    .output()
    .expect("run");
    user_error(&o, "over the 1 MiB limit");
    let o = command(&load_args(s, &one, &["--max-memory", "lots"]), &counting)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "a usage error: {}", stderr(&o));
    assert!(stderr(&o).contains("invalid size `lots`"), "{}", stderr(&o));
    assert_eq!(
        counting.request_count("/"),
        0,
        "{:?}",
        counting.request_counts()
    );
    ok(&command(
        &load_args(s, &one, &["--create", "--max-memory", "off", "--quiet"]),
        &counting,
    )
    .output()
    .expect("run"));
    assert!(
        counting.request_count("/mosaics/") > 0,
        "the allowed load downloaded nothing"
    );
}

/// The Python with xarray and zarr, if the environment names one.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("GEOCUBE_PYTHON").filter(|p| !p.is_empty());
    if p.is_none() {
        eprintln!("not opening the export in xarray: GEOCUBE_PYTHON is not set");
    }
    p.map(PathBuf::from)
}

/// The box of `a_huge_box_fails_fast_before_any_request`, in EPSG:4326.
const HUGE: &str = "-180,60,180,89.9";

/// The cube window of [`HUGE`], as the command computes it.
fn huge_window(cube: &Cube) -> Window {
    let aoi = geocube::request::bbox_aoi(HUGE, "EPSG:4326").expect("aoi");
    cube.aoi_window(&aoi).expect("window")
}

/// `load HUGE --create --out <out>`, its stderr and peak RSS, checked
/// under 1 GiB.
fn stream_huge(store: &str, out: &Path) -> String {
    let started = Instant::now();
    let (o, peak) = geocube_peak_rss(&[
        "load",
        DATASET,
        "--store",
        store,
        "--bbox",
        HUGE,
        "--create",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    ok(&o);
    eprintln!(
        "streamed the 172 GB box to {} in {:.1} s, peak RSS {}",
        out.display(),
        started.elapsed().as_secs_f64(),
        ByteSize(peak)
    );
    assert!(peak > 0, "no RSS sample");
    assert!(peak < 1 << 30, "peak RSS {} over 1 GiB", ByteSize(peak));
    stderr(&o)
}

#[test]
fn the_huge_box_streams_to_zarr_in_bounded_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store_in(tmp.path());
    let s = store.to_str().expect("utf-8");
    let out = tmp.path().join("huge.zarr");
    let out_s = out.to_str().expect("utf-8");
    let err = stream_huge(s, &out);
    assert!(err.contains("chunk by chunk"), "{err}");

    let cube = Arc::new(Cube::open(CubeStorage::local(&store)).expect("open cube"));
    let region = huge_window(&cube);
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("dem/zarr.json")).expect("doc"))
            .expect("json");
    assert_eq!(
        doc["shape"],
        serde_json::json!([region.height, region.width])
    );
    // Only chunks holding data were written: the mosaic (1500 px) lies on
    // at most 2 x 2 chunks of 2048 px, of about 8000.
    let chunk_files = walk(&out.join("dem/c"));
    assert!(
        (1..=4).contains(&chunk_files),
        "{chunk_files} dem chunk files"
    );

    // Pixel for pixel where the data is, against an in-memory read of the cube.
    let (_, sub) = cube_and_window(&store, around_mosaic(3_000.0));
    let memory = cube.read_window(sub, None).expect("read");
    let rel = relative(sub, region);
    let zarr = Arc::new(zarrs::filesystem::FilesystemStore::new(&out).expect("store"));
    let subset = zarrs::array::ArraySubset::new_with_ranges(&[
        rel.row as u64..(rel.row + rel.height) as u64,
        rel.col as u64..(rel.col + rel.width) as u64,
    ]);
    for name in ["dem", "datamask"] {
        let array =
            zarrs::array::Array::open(Arc::clone(&zarr), &format!("/{name}")).expect("array");
        let got = match name {
            "dem" => TypedArray::Float32(
                array
                    .retrieve_array_subset::<ndarray::ArrayD<f32>>(&subset)
                    .expect("dem"),
            ),
            _ => TypedArray::Bool(
                array
                    .retrieve_array_subset::<ndarray::ArrayD<bool>>(&subset)
                    .expect("mask"),
            ),
        };
        let want = &memory.variables[name].data;
        assert_eq!(got.shape(), want.shape(), "{name}");
        assert!(
            bits(&got) == bits(want),
            "{name} differs from the in-memory read"
        );
    }
    let dem = memory.variables["dem"].data.as_array::<f32>().expect("f32");
    let valid = dem.iter().filter(|v| !v.is_nan()).count();
    assert!(valid > 1_000_000, "the window holds the mosaic: {valid}");

    // xarray opens it and finds the same pixels where the data is.
    let Some(py) = python() else {
        return;
    };
    let script = "import sys, json, numpy as np, xarray as xr\n\
        ds = xr.open_zarr(sys.argv[1], consolidated=False)\n\
        r0, r1, c0, c1 = map(int, sys.argv[2:6])\n\
        dem = ds['dem'].isel(y=slice(r0, r1), x=slice(c0, c1)).values.astype('float64')\n\
        print(json.dumps({'shape': list(ds['dem'].shape), 'valid': int(np.isfinite(dem).sum()),\n\
            'sum': float(np.nansum(dem)), 'x0': float(ds.x[c0]), 'y0': float(ds.y[r0])}))\n";
    let o = Command::new(py)
        .args(["-c", script, out_s])
        .args([rel.row, rel.row + rel.height, rel.col, rel.col + rel.width].map(|v| v.to_string()))
        .output()
        .expect("run python");
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Value = serde_json::from_slice(&o.stdout).expect("python json");
    assert_eq!(
        got["shape"],
        serde_json::json!([region.height, region.width])
    );
    assert_eq!(got["valid"].as_u64(), Some(valid as u64));
    let sum: f64 = dem
        .iter()
        .filter(|v| !v.is_nan())
        .map(|v| f64::from(*v))
        .sum();
    let py_sum = got["sum"].as_f64().expect("sum");
    assert!(
        (py_sum - sum).abs() <= 1e-9 * sum.abs(),
        "{py_sum} vs {sum}"
    );
    assert_eq!(got["x0"].as_f64(), memory.xs().first().copied());
    assert_eq!(got["y0"].as_f64(), memory.ys().first().copied());
}

#[test]
fn the_huge_box_streams_to_a_tiled_geotiff_in_bounded_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store_in(tmp.path());
    let s = store.to_str().expect("utf-8");
    let tif = tmp.path().join("huge.tif");
    let err = stream_huge(s, &tif);
    let mask = tmp.path().join("huge_datamask.tif");
    for f in [&tif, &mask] {
        assert!(
            err.contains(&format!(
                "{} (tiled GeoTIFF written tile by tile",
                f.display()
            )),
            "{err}"
        );
        // 140 000 tiles, nearly all fill: stored once.
        let len = std::fs::metadata(f).expect("file").len();
        assert!(len < 32 << 20, "{}: {}", f.display(), ByteSize(len));
    }
    let cube = Arc::new(Cube::open(CubeStorage::local(&store)).expect("open cube"));
    let region = huge_window(&cube);

    // The tiles under the mosaic, decoded one by one, against in-memory reads.
    let (_, sub) = cube_and_window(&store, around_mosaic(3_000.0));
    let rel = relative(sub, region);
    let mut d =
        tiff::decoder::Decoder::new(std::fs::File::open(&tif).expect("open")).expect("tiff");
    assert_eq!(
        d.dimensions().expect("dims"),
        (region.width as u32, region.height as u32)
    );
    let (tw, th) = d.chunk_dimensions();
    assert_eq!((tw, th), (512, 512));
    let across = region.width.div_ceil(512);
    let mut checked = 0;
    for ty in rel.row / 512..=(rel.row + rel.height - 1) / 512 {
        for tx in rel.col / 512..=(rel.col + rel.width - 1) / 512 {
            let index = u32::try_from(ty * across + tx).expect("index");
            let (w, h) = d.chunk_data_dimensions(index);
            let tiff::decoder::DecodingResult::F32(px) = d.read_chunk(index).expect("tile") else {
                panic!("dem is not f32")
            };
            let at = Window::new(
                region.row + ty * 512,
                region.col + tx * 512,
                h as usize,
                w as usize,
            );
            let want = cube.read_window(at, None).expect("read");
            let got = TypedArray::Float32(
                ndarray::ArrayD::from_shape_vec(vec![h as usize, w as usize], px).expect("shape"),
            );
            assert!(
                bits(&got) == bits(&want.variables["dem"].data),
                "tile ({tx}, {ty}) differs from the in-memory read"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} tiles");

    if !geocube_testkit::gdal::gdalinfo_available() {
        eprintln!("not checking with GDAL: gdalinfo is not on PATH");
        return;
    }
    let info = geocube_testkit::gdal::gdalinfo(&tif, &[]).expect("gdalinfo");
    assert!(info.stderr.is_empty(), "GDAL warned: {}", info.stderr);
    assert_eq!(
        info.json["size"],
        serde_json::json!([region.width, region.height])
    );
    let band = &info.json["bands"][0];
    assert_eq!(band["noDataValue"], serde_json::json!(NODATA));
    assert_eq!(band["block"], serde_json::json!([512, 512]));
    // GDAL cuts the mosaic's window out and finds the in-memory pixels.
    let cut = tmp.path().join("cut.tif");
    let o = Command::new("gdal_translate")
        .args(["-q", "-srcwin"])
        .args([rel.col, rel.row, rel.width, rel.height].map(|v| v.to_string()))
        .arg(&tif)
        .arg(&cut)
        .env("GDAL_PAM_ENABLED", "NO")
        .output()
        .expect("gdal_translate");
    assert!(o.status.success(), "{}", stderr(&o));
    let cut_info = geocube_testkit::gdal::gdalinfo(&cut, &["-checksum"]).expect("gdalinfo");
    let memory = cube.read_window(sub, None).expect("read");
    let values = memory.variables["dem"].data.as_array::<f32>().expect("f32");
    let values = values.as_standard_layout();
    assert_eq!(
        cut_info.json["bands"][0]["checksum"],
        geocube_geotiff::gdal_checksum(values.as_slice().expect("contiguous"))
    );
}

/// Number of files under `dir`.
fn walk(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { 1 }
        })
        .sum()
}

/// Decode a single-band GeoTIFF whole.
fn decode_tiff(path: &Path) -> tiff::decoder::DecodingResult {
    let mut d =
        tiff::decoder::Decoder::new(std::fs::File::open(path).expect("open")).expect("tiff");
    d.read_image().expect("pixels")
}

#[test]
fn a_band_too_large_for_a_cog_streams_to_a_tiled_geotiff() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store_in(tmp.path());
    let s = store.to_str().expect("utf-8");
    // 6000 x 6000 px: the dem band (144 MB) is over the COG limit and is
    // streamed; the datamask band (36 MB) is still a COG.
    let m = &world().manifest.mosaic_bounds;
    let b = BoundingBox::new(
        m.xmin - 60_000.0,
        m.ymax - 192_000.0,
        m.xmin + 132_000.0,
        m.ymax,
    );
    let arg = bbox(&b);
    let tif = tmp.path().join("roi.tif");
    let o = geocube(&load_args(
        s,
        &arg,
        &["--create", "--out", tif.to_str().expect("utf-8")],
    ));
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("roi.tif (tiled GeoTIFF written tile by tile"),
        "{err}"
    );
    assert!(
        err.contains("roi_datamask.tif (Cloud-Optimized GeoTIFF)"),
        "{err}"
    );
    let (cube, w) = cube_and_window(&store, b);
    assert_eq!((w.height, w.width), (6000, 6000));
    let memory: Dataset = cube.read_window(w, None).expect("read");
    let tiff::decoder::DecodingResult::F32(dem) = decode_tiff(&tif) else {
        panic!("dem is not f32")
    };
    let want = &memory.variables["dem"].data;
    assert!(
        bits(&TypedArray::Float32(
            ndarray::ArrayD::from_shape_vec(vec![6000, 6000], dem).expect("shape")
        )) == bits(want),
        "the streamed dem differs from the in-memory read"
    );
    let tiff::decoder::DecodingResult::U8(mask) = decode_tiff(&tmp.path().join("roi_datamask.tif"))
    else {
        panic!("datamask is not u8")
    };
    let want_mask = memory.variables["datamask"]
        .data
        .as_array::<bool>()
        .expect("bool");
    assert!(
        mask.iter()
            .zip(want_mask.iter())
            .all(|(a, b)| *a == u8::from(*b))
    );

    if !geocube_testkit::gdal::gdalinfo_available() {
        eprintln!("not checking with GDAL: gdalinfo is not on PATH");
        return;
    }
    let info = geocube_testkit::gdal::gdalinfo(&tif, &["-checksum"]).expect("gdalinfo");
    assert!(info.stderr.is_empty(), "GDAL warned: {}", info.stderr);
    let band = &info.json["bands"][0];
    let values = want.as_array::<f32>().expect("f32");
    let values = values.as_standard_layout();
    assert_eq!(
        band["checksum"],
        geocube_geotiff::gdal_checksum(values.as_slice().expect("contiguous"))
    );
    assert_eq!(band["noDataValue"], serde_json::json!(NODATA));
    assert_eq!(band["block"], serde_json::json!([512, 512]));
    let a = memory.geobox.affine();
    assert_eq!(
        info.json["geoTransform"],
        serde_json::json!([a.x0, a.res_x, 0.0, a.y0, 0.0, a.res_y])
    );
}

#[test]
fn streamed_statistics_equal_the_in_memory_statistics() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = store_in(tmp.path());
    let s = store.to_str().expect("utf-8");
    // Part mosaic, part empty: written and unwritten chunks, edges cut.
    let m = &world().manifest.mosaic_bounds;
    let b = BoundingBox::new(
        m.xmin - 20_000.0,
        m.ymin + 7_000.0,
        m.xmax - 9_000.0,
        m.ymax + 30_000.0,
    );
    let arg = bbox(&b);
    let out = ok(&geocube(&load_args(
        s,
        &arg,
        &["--create", "--json", "--quiet"],
    )));
    let json: Value = serde_json::from_str(out.trim()).expect("json");
    let (cube, w) = cube_and_window(&store, b);
    let memory = cube.read_window(w, None).expect("read");
    assert_eq!(
        json["shape"],
        serde_json::json!({"y": w.height, "x": w.width})
    );
    for (name, nodata) in [("dem", Some(NODATA)), ("datamask", None)] {
        let want = memory.variables[name].data.stats(nodata);
        let got = &json["variables"][name];
        assert_eq!(
            got["valid_count"].as_u64(),
            Some(want.count),
            "{name}: {got}"
        );
        assert_eq!(got["min"].as_f64(), Some(want.min), "{name}");
        assert_eq!(got["max"].as_f64(), Some(want.max), "{name}");
        let mean = got["mean"].as_f64().expect("mean");
        assert!(
            (mean - want.mean()).abs() <= 1e-9 * want.mean().abs().max(1.0),
            "{name}: {mean} vs {}",
            want.mean()
        );
    }
    assert!(
        json["variables"]["dem"]["valid_count"].as_u64() < Some((w.height * w.width) as u64),
        "the box reaches past the mosaic"
    );
    // The table prints the same counts, masked or not.
    let table = ok(&geocube(&load_args(
        s,
        &arg,
        &["--stats", "--mask-nodata", "--quiet"],
    )));
    let dem_count = json["variables"]["dem"]["valid_count"].to_string();
    let dem_line = table
        .lines()
        .find(|l| l.starts_with("dem "))
        .expect("dem line");
    assert!(dem_line.trim_end().ends_with(&dem_count), "{table}");
}
