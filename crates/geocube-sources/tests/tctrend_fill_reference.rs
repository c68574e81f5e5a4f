//! `geocube_sources::ee::fill` against the real reference: smart-geocubes
//! 0.1.2's own `TCTrendABC.download_patch` post-processing (rioxarray's
//! `interpolate_na` over scipy's `griddata`, `clip`, `astype("uint8")`), run
//! in Python on the same bands, compared pixel for pixel.
//!
//! The bands are seeded random patches on real TCTrend chunks (the grid
//! `GeoBox.from_bbox((-180, -90, 180, 90), "epsg:4326",
//! resolution=0.00026949458523585647)` in 3600² tiles): a European tile,
//! the north-west corner at the antimeridian and the north pole, and the
//! partial south-east corner tile. Their coordinates come from
//! `geocube_core::GeoBox` here and from odc-geo in Python, and must be the
//! same bits. The Python side builds the xarray Dataset the Earth Engine
//! download would give, monkeypatches
//! `GEEMosaicAccessor.download_patch` to return it, and calls the TCTrend
//! accessor's `download_patch` (`TCTrend2024` where the installed
//! smart-geocubes has it; 0.1.2 has the same method on `TCTrendABC`).
//!
//! Pixels may differ only where the float64 distances to two or more valid
//! pixels are bit-equal and cKDTree's traversal picked another one than
//! our tie rule (see the module docs of `ee::fill`): every difference is
//! checked to be such a tie, and the share is printed per band.
//!
//! The interpreter is env `GEOCUBE_PYTHON`, else `target/pyenv/bin/python`
//! (`ci/python-env.sh` builds it); without it, or without rioxarray and
//! scipy in it, the test is skipped, except on CI (`CI` set), where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use geocube_core::{BoundingBox, Crs, GeoBox};
use geocube_sources::ee::fill::{nearest_fill_clip_u8, nearest_valid, numpy_cast_u8};
use ndarray::Array2;
use serde_json::{Value, json};

/// TCTrend's pixel size in degrees (smart-geocubes' `TCTrendABC.extent`).
const RES: f64 = 0.000_269_494_585_235_856_47;
const CHUNK: usize = 3600;
const BANDS: [&str; 3] = ["TCB_slope", "TCG_slope", "TCW_slope"];

/// The reference side. Reads the request (JSON) from stdin, prints one JSON
/// line.
const REFERENCE: &str = r#"
import json, sys, time, warnings
from pathlib import Path

import numpy as np
import xarray as xr
import odc.geo.xr  # noqa: F401  (the .odc accessor the real patch has)
import rioxarray  # noqa: F401  (GEEMosaicAccessor.download_patch imports it)
from odc.geo.geobox import GeoBox, GeoboxTiles
import smart_geocubes.accessors.gee as gee
from smart_geocubes.core import PatchIndex
from smart_geocubes.datasets import tctrend

req = json.load(sys.stdin)
out_dir = Path(req["dir"])
accessor = getattr(tctrend, "TCTrend2024", tctrend.TCTrend)
extent = GeoBox.from_bbox((-180, -90, 180, 90), "epsg:4326", resolution=0.00026949458523585647)
assert extent == accessor.extent, (extent, accessor.extent)
tiles = GeoboxTiles(extent, (accessor.chunk_size, accessor.chunk_size))

result = {"accessor": f"{accessor.__module__}.{accessor.__qualname__}", "cases": {}}
for case in req["cases"]:
    name = case["name"]
    tile = tiles[tuple(case["tile"])]
    xs = tile.coords["longitude"].values
    ys = tile.coords["latitude"].values
    np.save(out_dir / f"{name}.xs.npy", xs)
    np.save(out_dir / f"{name}.ys.npy", ys)
    bands = {b: np.load(out_dir / f"{name}.{b}.in.npy") for b in case["bands"]}
    patch = xr.Dataset({b: (("y", "x"), a) for b, a in bands.items()}, coords={"x": xs, "y": ys})
    patch = patch.odc.assign_crs("EPSG:4326")
    gee.GEEMosaicAccessor.download_patch = lambda self, idx, patch=patch: patch.copy()
    stub = object.__new__(accessor)  # download_patch needs no storage
    idx = PatchIndex(f"{case['tile'][0]}-{case['tile'][1]}", tile.geographic_extent, None, None)
    # Each band's dtype after interpolate_na, as the reference sees it.
    interp_dtypes = {
        b: str(patch[b].rio.write_nodata(np.nan).rio.interpolate_na().dtype)
        for b in case["bands"]
        if case.get("dtypes")
    }
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN min/max
        done = accessor.download_patch(stub, idx)
    seconds = time.perf_counter() - t0
    for b in case["bands"]:
        assert done[b].dtype == np.uint8, done[b].dtype
        np.save(out_dir / f"{name}.{b}.out.npy", np.ascontiguousarray(done[b].values))
    result["cases"][name] = {"seconds": seconds, "interp_dtypes": interp_dtypes}

# The smallest reproductions of what surprised us, each as numpy / xarray
# does it on this machine:
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    # 1. float -> uint8 truncates and wraps through int32; NaN becomes 0.
    cast_in = [float("nan"), -1.0, -3.2, 3.7, 255.9, 256.0, 300.5, 3e9]
    cast_out = np.array(cast_in).astype("uint8").tolist()
    # 2. an all-NaN band: interpolate_na hands it back unchanged (float32),
    #    clip(nan, nan) keeps NaN, astype gives 0 everywhere.
    nan_band = xr.DataArray(np.full((2, 3), np.nan, dtype="float32"), dims=("y", "x"),
                            coords={"x": [0.5, 1.5, 2.5], "y": [1.5, 0.5]}).rio.write_crs("EPSG:4326")
    filled = nan_band.rio.write_nodata(np.nan).rio.interpolate_na()
    lo, hi = nan_band.min().values.item(), nan_band.max().values.item()
    all_nan = filled.clip(lo, hi).astype("uint8").values.tolist()
    # 3. griddata's nearest fill turns float32 into float64, even with no NaN.
    no_nan = xr.DataArray(np.ones((2, 2), dtype="float32"), dims=("y", "x"),
                          coords={"x": [0.5, 1.5], "y": [1.5, 0.5]}).rio.write_crs("EPSG:4326")
    no_nan_dtype = str(no_nan.rio.write_nodata(np.nan).rio.interpolate_na().dtype)
result["repro"] = {
    "cast_in": [None if v != v else v for v in cast_in], "cast_out": cast_out,
    "all_nan_dtype": str(filled.dtype), "all_nan_bounds": [repr(lo), repr(hi)], "all_nan": all_nan,
    "no_nan_dtype": no_nan_dtype,
}
print(json.dumps(result))
"#;

// ---------------------------------------------------------------------------
// The interpreter
// ---------------------------------------------------------------------------

/// The reference interpreter with rioxarray and scipy, or `None` (test
/// skipped) outside CI.
fn reference_python() -> Option<PathBuf> {
    let skip = |why: String| {
        assert!(
            std::env::var_os("CI").is_none(),
            "{why}: the TCTrend fill reference test needs the reference venv on CI \
             (`export GEOCUBE_PYTHON=\"$(ci/python-env.sh | tail -n1)\"`)"
        );
        eprintln!(
            "skipped: {why}; set GEOCUBE_PYTHON to a Python with ci/python-requirements.txt \
             (`export GEOCUBE_PYTHON=\"$(ci/python-env.sh | tail -n1)\"`)"
        );
        None
    };
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("GEOCUBE_PYTHON").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    } else {
        let venv = Path::new("pyenv").join("bin").join("python");
        // This crate is `<workspace>/crates/geocube-sources`.
        if let Some(ws) = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2) {
            candidates.push(ws.join("target").join(&venv));
        }
        // `<target>/<profile>/deps/<test>`, wherever CARGO_TARGET_DIR is.
        if let Ok(exe) = std::env::current_exe() {
            candidates.extend(exe.ancestors().skip(1).take(4).map(|d| d.join(&venv)));
        }
    }
    let Some(py) = candidates.into_iter().find(|p| p.is_file()) else {
        return skip("no reference Python (GEOCUBE_PYTHON unset, no target/pyenv)".into());
    };
    let probe = Command::new(&py)
        .args([
            "-c",
            "import rioxarray, scipy, smart_geocubes, odc.geo, xarray",
        ])
        .output();
    match probe {
        Ok(o) if o.status.success() => Some(py),
        Ok(o) => skip(format!(
            "{} lacks the reference packages (rioxarray, scipy, smart-geocubes, odc-geo): {}",
            py.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => skip(format!("cannot run {}: {e}", py.display())),
    }
}

fn run_reference(py: &Path, request: &Value) -> Value {
    let mut child = Command::new(py)
        .args(["-c", REFERENCE])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the request");
    let out = child.wait_with_output().expect("reference output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the reference failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("a JSON line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON ({e}): {line:.300}"))
}

// ---------------------------------------------------------------------------
// .npy files (format 1.0, C order, little-endian)
// ---------------------------------------------------------------------------

fn write_npy_f32(path: &Path, a: &Array2<f32>) {
    let (h, w) = a.dim();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({h}, {w}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(
        u16::try_from(header.len())
            .expect("short header")
            .to_le_bytes(),
    );
    bytes.extend(header.as_bytes());
    for v in a.iter() {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write .npy");
}

/// A C-order `.npy` array: its dtype descr, shape and data bytes.
fn read_npy(path: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).expect("ASCII header");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let field = |key: &str| {
        let at = header
            .find(key)
            .unwrap_or_else(|| panic!("{key} in {header}"))
            + key.len();
        header[at..].trim_start_matches([':', ' ']).to_owned()
    };
    let descr = field("'descr'");
    let descr = descr.split('\'').nth(1).expect("descr").to_owned();
    let shape = field("'shape'");
    let shape = shape[1..shape.find(')').expect("shape")]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("shape number"))
        .collect();
    (descr, shape, bytes[start + len..].to_vec())
}

fn read_npy_f64(path: &Path) -> Vec<f64> {
    let (descr, _, data) = read_npy(path);
    assert_eq!(descr, "<f8", "{}", path.display());
    data.chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect()
}

fn read_npy_u8(path: &Path, shape: (usize, usize)) -> Array2<u8> {
    let (descr, got, data) = read_npy(path);
    assert_eq!(descr, "|u1", "{}", path.display());
    assert_eq!(got, [shape.0, shape.1], "{}", path.display());
    Array2::from_shape_vec(shape, data).expect("shape")
}

// ---------------------------------------------------------------------------
// Seeded bands
// ---------------------------------------------------------------------------

/// SplitMix64: a seeded stream with no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy)]
enum Values {
    /// Integers 0–255 as floats, as TCTrend's bands hold.
    Integers,
    /// Floats in [-20, 280): fractions, negatives and values past 255.
    Fractions,
}

#[derive(Clone, Copy)]
enum Holes {
    /// A few NaN per thousand, one-pixel holes and clusters of up to ~20 px.
    Sparse,
    /// Sparse, plus a disc, a block on an edge and a strip along a corner.
    Large,
    /// The western half of the chunk.
    Half,
    /// Strips along the edges and a block in each corner, plus sparse.
    Edges,
    All,
    None,
}

fn band(h: usize, w: usize, values: Values, holes: Holes, seed: u64) -> Array2<f32> {
    let mut rng = Rng(seed);
    let mut a = Array2::from_shape_fn((h, w), |_| match values {
        Values::Integers => rng.below(256) as f32,
        Values::Fractions => (rng.unit() * 300.0 - 20.0) as f32,
    });
    let mut nan = |r: usize, c: usize| a[[r, c]] = f32::NAN;
    let sparse = |rng: &mut Rng, nan: &mut dyn FnMut(usize, usize)| {
        for r in 0..h {
            for c in 0..w {
                if rng.unit() < 0.004 {
                    nan(r, c);
                }
            }
        }
        // Random walks of 2–20 pixels: about one per 10,000 pixels.
        for _ in 0..(h * w / 10_000).max(1) {
            let (mut r, mut c) = (rng.below(h), rng.below(w));
            for _ in 0..2 + rng.below(19) {
                nan(r, c);
                r = (r + h + rng.below(3) - 1) % h;
                c = (c + w + rng.below(3) - 1) % w;
            }
        }
    };
    match holes {
        Holes::None => {}
        Holes::All => a.fill(f32::NAN),
        Holes::Sparse => sparse(&mut rng, &mut nan),
        Holes::Half => {
            for r in 0..h {
                for c in 0..w / 2 {
                    nan(r, c);
                }
            }
        }
        Holes::Large => {
            sparse(&mut rng, &mut nan);
            let (cy, cx, rad) = (h as f64 * 0.3, w as f64 * 0.6, h.min(w) as f64 * 0.08);
            for r in 0..h {
                for c in 0..w {
                    let (dy, dx) = (r as f64 - cy, c as f64 - cx);
                    let in_disc = dy * dy + dx * dx <= rad * rad;
                    let in_block = c < w / 9 && (h / 2..h / 2 + h / 5).contains(&r);
                    let in_strip = r + c < h.min(w) / 12;
                    if in_disc || in_block || in_strip {
                        nan(r, c);
                    }
                }
            }
        }
        Holes::Edges => {
            sparse(&mut rng, &mut nan);
            for r in 0..h {
                for c in 0..w {
                    let strip = r < 3 || c + 5 >= w || (r + 2 >= h && c % 7 != 0);
                    let corner = (r < 40 || r + 40 >= h) && (c < 40 || c + 40 >= w);
                    if strip || corner {
                        nan(r, c);
                    }
                }
            }
        }
    }
    a
}

struct Case {
    name: &'static str,
    tile: (usize, usize),
    bands: Vec<(Values, Holes)>,
}

/// The cases: the reference takes ~20 s per 3600² band (scipy's griddata),
/// so the full tiles get one or two bands each; the others were measured
/// once (the table in `ee::fill`'s docs).
fn cases() -> Vec<Case> {
    use Holes::{All, Edges, Large, None, Sparse};
    use Values::{Fractions, Integers};
    vec![
        // Central Europe (9.19 °E, 51.19 °N).
        Case {
            name: "europe",
            tile: (40, 195),
            bands: vec![(Fractions, Sparse), (Integers, Large)],
        },
        // The antimeridian and the north pole.
        Case {
            name: "northwest",
            tile: (0, 0),
            bands: vec![(Integers, Sparse)],
        },
        // The partial tile at the antimeridian and the south pole (1918 × 234).
        Case {
            name: "southeast",
            tile: (185, 371),
            bands: vec![(Integers, Edges), (Fractions, All), (Fractions, None)],
        },
    ]
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

fn tctrend_tiles() -> geocube_core::grid::Tiles {
    let extent = GeoBox::from_bbox(
        BoundingBox::new(-180.0, -90.0, 180.0, 90.0),
        Crs::from_epsg(4326).expect("EPSG:4326"),
        RES,
    )
    .expect("TCTrend grid");
    assert_eq!(extent.shape(), (667_918, 1_335_834), "odc-geo's shape");
    extent.tiles(CHUNK, CHUNK)
}

/// Whether the reference's value at hole `(r, c)` is that of a valid pixel
/// at exactly the float64 distance of ours: a tie cKDTree broke otherwise.
fn is_exact_tie(
    band: &Array2<f32>,
    xs: &[f64],
    ys: &[f64],
    hole: (usize, usize),
    ours: (usize, usize),
    theirs: u8,
) -> bool {
    let (r, c) = hole;
    let d2 = |sr: usize, sc: usize| {
        let dx = xs[sc] - xs[c];
        let dy = ys[sr] - ys[r];
        dx * dx + dy * dy
    };
    let best = d2(ours.0, ours.1);
    let reach = (ours.0.abs_diff(r).pow(2) + ours.1.abs_diff(c).pow(2)).isqrt() + 2;
    let (h, w) = band.dim();
    (r.saturating_sub(reach)..(r + reach + 1).min(h)).any(|sr| {
        (c.saturating_sub(reach)..(c + reach + 1).min(w)).any(|sc| {
            let v = band[[sr, sc]];
            !v.is_nan() && d2(sr, sc) == best && numpy_cast_u8(f64::from(v)) == theirs
        })
    })
}

#[test]
fn tctrend_fill_matches_smart_geocubes() {
    let Some(py) = reference_python() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let tiles = tctrend_tiles();
    let cases = cases();
    let mut inputs = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let geobox = tiles.geobox(case.tile.0, case.tile.1).expect("tile");
        let (h, w) = geobox.shape();
        let mut bands = Vec::new();
        for (b, &(values, holes)) in case.bands.iter().enumerate() {
            let a = band(h, w, values, holes, 1000 * k as u64 + b as u64);
            write_npy_f32(
                &dir.path()
                    .join(format!("{}.{}.in.npy", case.name, BANDS[b])),
                &a,
            );
            bands.push(a);
        }
        inputs.push((geobox, bands));
    }
    let request = json!({
        "dir": dir.path(),
        "cases": cases.iter().enumerate().map(|(k, c)| json!({
            "name": c.name,
            "tile": [c.tile.0, c.tile.1],
            "bands": BANDS[..c.bands.len()],
            "dtypes": k == cases.len() - 1,
        })).collect::<Vec<_>>(),
    });
    let reply = run_reference(&py, &request);
    eprintln!("reference: {}", reply["accessor"]);

    let mut report = Vec::new();
    for (case, (geobox, bands)) in cases.iter().zip(&inputs) {
        let xs = geobox.xs();
        let ys = geobox.ys();
        let py_xs = read_npy_f64(&dir.path().join(format!("{}.xs.npy", case.name)));
        let py_ys = read_npy_f64(&dir.path().join(format!("{}.ys.npy", case.name)));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&xs),
            bits(&py_xs),
            "{}: x coordinates differ from odc-geo's",
            case.name
        );
        assert_eq!(
            bits(&ys),
            bits(&py_ys),
            "{}: y coordinates differ from odc-geo's",
            case.name
        );
        let secs = reply["cases"][case.name]["seconds"]
            .as_f64()
            .expect("seconds");
        for (b, a) in bands.iter().enumerate() {
            let name = format!("{}.{}", case.name, BANDS[b]);
            let theirs = read_npy_u8(&dir.path().join(format!("{name}.out.npy")), a.dim());
            let t0 = Instant::now();
            let ours = nearest_fill_clip_u8(a.view(), &xs, &ys);
            let ours_secs = t0.elapsed().as_secs_f64();
            let sources = nearest_valid(a.view(), &xs, &ys);
            let holes = a.iter().filter(|v| v.is_nan()).count();
            let mut differing = 0;
            for ((pos, o), t) in ours.indexed_iter().zip(&theirs) {
                if o == t {
                    continue;
                }
                differing += 1;
                assert!(
                    a[pos].is_nan(),
                    "{name}: valid pixel {pos:?} differs: ours {o}, reference {t}"
                );
                let i = sources
                    .binary_search_by_key(&pos, |&(hole, _)| hole)
                    .expect("a hole");
                assert!(
                    is_exact_tie(a, &xs, &ys, pos, sources[i].1, *t),
                    "{name}: hole {pos:?} differs (ours {o} from {:?}, reference {t}) and is no exact tie",
                    sources[i].1
                );
            }
            report.push(format!(
                "{name:<20} {:>5}x{:<5} holes {holes:>8}  differing {differing:>6} \
                 ({:.4} % of pixels, {:.2} % of holes)  ours {ours_secs:.2} s, reference (3 bands) {secs:.1} s",
                a.nrows(),
                a.ncols(),
                100.0 * differing as f64 / a.len() as f64,
                if holes == 0 { 0.0 } else { 100.0 * differing as f64 / holes as f64 },
            ));
        }
    }
    eprintln!("{}", report.join("\n"));

    // The reproductions: numpy's cast, the all-NaN band, the float64 fill.
    let repro = &reply["repro"];
    let cast_in = repro["cast_in"].as_array().expect("cast_in");
    let cast_out = repro["cast_out"].as_array().expect("cast_out");
    for (v, u) in cast_in.iter().zip(cast_out) {
        let v = v.as_f64().unwrap_or(f64::NAN); // NaN travels as null
        assert_eq!(
            u64::from(numpy_cast_u8(v)),
            u.as_u64().expect("u8"),
            "cast of {v}"
        );
    }
    assert_eq!(repro["all_nan_dtype"], "float32", "{repro}");
    assert_eq!(repro["all_nan_bounds"], json!(["nan", "nan"]), "{repro}");
    assert_eq!(repro["all_nan"], json!([[0, 0, 0], [0, 0, 0]]), "{repro}");
    assert_eq!(repro["no_nan_dtype"], "float64", "{repro}");
    let dtypes = &reply["cases"]["southeast"]["interp_dtypes"];
    assert_eq!(
        dtypes,
        &json!({"TCB_slope": "float64", "TCG_slope": "float32", "TCW_slope": "float64"}),
        "after interpolate_na: float64 from griddata, float32 when all NaN"
    );
}

/// Speed on one 3600² band (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore = "timing; run in release"]
fn fill_speed() {
    let geobox = tctrend_tiles().geobox(40, 195).expect("tile");
    let (xs, ys) = (geobox.xs(), geobox.ys());
    for (label, holes) in [
        ("0.5 % NaN", Holes::Sparse),
        ("large holes", Holes::Large),
        ("50 % NaN", Holes::Half),
    ] {
        let a = band(CHUNK, CHUNK, Values::Integers, holes, 7);
        let share = a.iter().filter(|v| v.is_nan()).count() as f64 / a.len() as f64;
        let t0 = Instant::now();
        let out = nearest_fill_clip_u8(a.view(), &xs, &ys);
        eprintln!(
            "{label:<12} ({:.2} % NaN): {:.3} s",
            100.0 * share,
            t0.elapsed().as_secs_f64()
        );
        assert_eq!(out.dim(), (CHUNK, CHUNK));
    }
}
