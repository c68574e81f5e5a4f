//! Accuracy of [`geocube_core::warp`] against GDAL's warper as rasterio
//! runs it (`rasterio.warp.reproject` in the reference venv), on the same
//! arrays and grids:
//!
//! - 1500 × 1500 float32 at 10 m in UTM 7N (a smooth field: sines of
//!   50–480 px wavelength and a ramp) with blocks of nodata (NaN, and
//!   −9999), its uint16 (nodata 0) and uint8 categorical (nodata 0)
//!   variants, onto EPSG:3413 at 32 m and 10 m and EPSG:4326 at TCTrend's
//!   0.000269494585236°, each grid covering the source's footprint;
//! - a lon/lat tile across the antimeridian (stored as 179..181 and as
//!   −181..−179) onto EPSG:3413 (GDAL's `CENTER_LONG`).
//!
//! Both sides use the approximate transformer with GDAL's 0.125 source
//! pixels and fixed kernels (`XSCALE=1, YSCALE=1`); GDAL warps in one chunk.
//! Required: nearest 100 % identical; bilinear and cubic ≥ 99.9 % identical
//! with max |Δ| ≤ 2 ULP of f32 (1 for integers) and equal nodata masks;
//! average the same away from the source's edges and nodata; mode
//! identical. Also, with the exact transformer, bilinear reproduces a
//! linear ramp of source coordinates at every destination pixel centre
//! (≤ 2 ULP of f32), and proj4rs' transforms are compared with pyproj's.
//! `cargo test -p geocube-core --test warp_rasterio -- --nocapture` prints
//! the figures.
//!
//! The Python side is `tests/python/warp_rasterio.py`, run with the test
//! venv's interpreter as `geocube_testkit::python` finds it
//! (`GEOCUBE_PYTHON`, else `target/pyenv`): without one the comparison is
//! skipped, except on CI (`CI` set), where it fails. Arrays
//! go through raw little-endian files in a temporary directory.

#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::float_cmp
)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use geocube_core::warp::{Resampling, WarpOptions, reproject};
use geocube_core::{Affine, Crs, CubeElement, GeoBox, TypedArray};
use ndarray::{ArrayD, IxDyn};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/warp_rasterio.py");

/// Source side in pixels (UTM, 10 m).
const N: usize = 1500;

/// TCTrend's lon/lat resolution, degrees.
const TCTREND_RES: f64 = 0.000_269_494_585_236;

// ---------------------------------------------------------------------------
// Running the Python side
// ---------------------------------------------------------------------------

/// Run the script with `request` on stdin; parse the JSON object it prints
/// as its last stdout line.
fn run_py(py: &Path, request: &Value) -> Value {
    let mut child = Command::new(py)
        .arg(SCRIPT)
        .arg("-")
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
        .expect("write request");
    let out = child.wait_with_output().expect("python output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "warp_rasterio.py failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        out.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("warp_rasterio.py printed nothing; stderr:\n{stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON ({e}): {line:.300}"))
}

// ---------------------------------------------------------------------------
// Raw little-endian arrays
// ---------------------------------------------------------------------------

/// The element types exchanged with Python, by numpy name.
trait Raw: CubeElement {
    const NUMPY: &'static str;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! raw {
    ($($t:ty => $name:literal),*) => {$(
        impl Raw for $t {
            const NUMPY: &'static str = $name;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().unwrap())
            }
        }
    )*};
}
raw!(f32 => "float32", f64 => "float64", u16 => "uint16", u8 => "uint8");

fn write_raw<T: Raw>(path: &Path, a: &ArrayD<T>) {
    let mut bytes = Vec::with_capacity(a.len() * size_of::<T>());
    for v in a {
        v.put(&mut bytes);
    }
    std::fs::write(path, bytes).unwrap();
}

fn read_raw<T: Raw>(path: &Path, len: usize) -> Vec<T> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len(), len * size_of::<T>(), "{}", path.display());
    bytes.chunks_exact(size_of::<T>()).map(T::get).collect()
}

/// A source array with what the comparison needs to know of it.
enum Data {
    F32(ArrayD<f32>),
    U16(ArrayD<u16>),
    U8(ArrayD<u8>),
}

impl Data {
    fn typed(&self) -> TypedArray {
        match self {
            Data::F32(a) => TypedArray::Float32(a.clone()),
            Data::U16(a) => TypedArray::Uint16(a.clone()),
            Data::U8(a) => TypedArray::Uint8(a.clone()),
        }
    }

    fn numpy(&self) -> &'static str {
        match self {
            Data::F32(_) => f32::NUMPY,
            Data::U16(_) => u16::NUMPY,
            Data::U8(_) => u8::NUMPY,
        }
    }

    fn write(&self, path: &Path) {
        match self {
            Data::F32(a) => write_raw(path, a),
            Data::U16(a) => write_raw(path, a),
            Data::U8(a) => write_raw(path, a),
        }
    }

    /// `path`'s values (of this type) as f64, exactly.
    fn read_as_f64(&self, path: &Path, len: usize) -> Vec<f64> {
        match self {
            Data::F32(_) => widen(read_raw::<f32>(path, len)),
            Data::U16(_) => widen(read_raw::<u16>(path, len)),
            Data::U8(_) => widen(read_raw::<u8>(path, len)),
        }
    }

    fn is_f32(&self) -> bool {
        matches!(self, Data::F32(_))
    }
}

fn widen<T: CubeElement>(v: Vec<T>) -> Vec<f64> {
    v.into_iter().map(CubeElement::to_f64).collect()
}

fn typed_as_f64(a: &TypedArray) -> Vec<f64> {
    match a {
        TypedArray::Float32(a) => a.iter().map(|v| f64::from(*v)).collect(),
        TypedArray::Float64(a) => a.iter().copied().collect(),
        TypedArray::Uint16(a) => a.iter().map(|v| f64::from(*v)).collect(),
        TypedArray::Uint8(a) => a.iter().map(|v| f64::from(*v)).collect(),
        other => panic!("unexpected output type {:?}", other.dtype()),
    }
}

// ---------------------------------------------------------------------------
// Sources and grids
// ---------------------------------------------------------------------------

/// A nodata convention: NaN, or a value (NaN is nodata either way).
#[derive(Clone, Copy, Debug)]
enum Nodata {
    Nan,
    Value(f64),
}

impl Nodata {
    fn json(self) -> Value {
        match self {
            Nodata::Nan => json!("nan"),
            Nodata::Value(v) => json!(v),
        }
    }

    /// geocube's `src_nodata` / `dst_nodata` (NaN is always nodata, and a
    /// float destination's default).
    fn geocube(self) -> Option<f64> {
        match self {
            Nodata::Nan => None,
            Nodata::Value(v) => Some(v),
        }
    }

    fn is_nodata(self, v: f64) -> bool {
        v.is_nan()
            || match self {
                Nodata::Nan => false,
                Nodata::Value(n) => v == n,
            }
    }
}

struct Source {
    name: &'static str,
    grid: GeoBox,
    data: Data,
    nodata: Nodata,
    /// Source pixels that are nodata (row-major), for the average's interior.
    holes: Vec<bool>,
}

fn utm_grid() -> GeoBox {
    GeoBox::new(
        N,
        N,
        Affine {
            x0: 500_000.0,
            res_x: 10.0,
            y0: 7_700_000.0,
            res_y: -10.0,
        },
        Crs::from_epsg(32607).unwrap(),
    )
    .unwrap()
}

/// The smooth test field at pixel `(col, row)`: sines of 50 to 480 px
/// wavelength and a ramp, about 370..650.
fn field(c: f64, r: f64) -> f64 {
    use std::f64::consts::TAU;
    500.0
        + 40.0 * (TAU * c / 480.0 + 0.3).sin()
        + 30.0 * (TAU * (c + r) / 230.0).sin()
        + 12.0 * (TAU * r / 97.0 + 1.1).sin() * (TAU * c / 61.0).cos()
        + 6.0 * (TAU * (c - 2.0 * r) / 50.0).sin()
        + 0.04 * c
        - 0.03 * r
}

/// A block of nodata and a thin stripe of it.
fn in_hole(r: usize, c: usize) -> bool {
    ((600..760).contains(&r) && (400..620).contains(&c))
        || ((1100..1104).contains(&r) && (200..1300).contains(&c))
}

fn utm_sources() -> Vec<Source> {
    let grid = utm_grid();
    let holes: Vec<bool> = (0..N * N).map(|i| in_hole(i / N, i % N)).collect();
    let shape = IxDyn(&[N, N]);
    let f = |i: &IxDyn| field(i[1] as f64, i[0] as f64);
    let hole = |i: &IxDyn| in_hole(i[0], i[1]);
    let f32_with = |nodata: f32| {
        ArrayD::from_shape_fn(
            shape.clone(),
            |i| {
                if hole(&i) { nodata } else { f(&i) as f32 }
            },
        )
    };
    let u16s = ArrayD::from_shape_fn(shape.clone(), |i| {
        if hole(&i) {
            0
        } else {
            (f(&i) * 80.0).round() as u16
        }
    });
    // Classes 1..8 in patches of the field; 0 is nodata.
    let classes = ArrayD::from_shape_fn(shape.clone(), |i| {
        if hole(&i) {
            0
        } else {
            (((f(&i) - 360.0) / 40.0).floor() as i64).clamp(0, 7) as u8 + 1
        }
    });
    let source = |name, data, nodata| Source {
        name,
        grid: grid.clone(),
        data,
        nodata,
        holes: holes.clone(),
    };
    vec![
        source("f32_nan", Data::F32(f32_with(f32::NAN)), Nodata::Nan),
        source(
            "f32_9999",
            Data::F32(f32_with(-9999.0)),
            Nodata::Value(-9999.0),
        ),
        source("u16_0", Data::U16(u16s), Nodata::Value(0.0)),
        source("u8_classes", Data::U8(classes), Nodata::Value(0.0)),
    ]
}

/// A lon/lat tile across 180°, `x0` = 179 or −181.
fn antimeridian_source(name: &'static str, x0: f64) -> Source {
    let (w, h) = (1000, 1000);
    let grid = GeoBox::new(
        w,
        h,
        Affine {
            x0,
            res_x: 0.002,
            y0: 62.0,
            res_y: -0.002,
        },
        Crs::wgs84(),
    )
    .unwrap();
    let a = ArrayD::from_shape_fn(IxDyn(&[h, w]), |i| field(i[1] as f64, i[0] as f64) as f32);
    Source {
        name,
        grid,
        data: Data::F32(a),
        nodata: Nodata::Nan,
        holes: vec![false; w * h],
    }
}

fn covering(src: &GeoBox, epsg: u32, res: f64) -> GeoBox {
    let crs = Crs::from_epsg(epsg).unwrap();
    GeoBox::from_bbox(src.bbox_in(&crs).unwrap(), crs, res).unwrap()
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// Distance in units in the last place of f32.
fn ulps(a: f32, b: f32) -> u64 {
    fn key(v: f32) -> i64 {
        let b = i64::from(v.to_bits() as i32);
        if b < 0 { i64::from(i32::MIN) - b } else { b }
    }
    (key(a) - key(b)).unsigned_abs()
}

/// The size of one ULP of f64 at `v`.
fn f64_ulp(v: f64) -> f64 {
    let f = v.abs();
    f64::from_bits(f.to_bits() + 1) - f
}

/// The size of one ULP of f32 at `v`.
fn f32_ulp(v: f64) -> f64 {
    let f = (v as f32).abs();
    f64::from(f32::from_bits(f.to_bits() + 1) - f)
}

#[derive(Default)]
struct Figures {
    pixels: usize,
    identical: usize,
    /// Pixels valid on both sides.
    both_valid: usize,
    /// Largest |Δ| where both are valid: ULP of f32 for float32 outputs,
    /// units for integers.
    max_delta: f64,
    /// Pixels valid on one side only.
    mask_diff: usize,
}

impl Figures {
    fn identical_pct(&self) -> f64 {
        100.0 * self.identical as f64 / self.pixels.max(1) as f64
    }
}

fn compare(
    ours: &[f64],
    theirs: &[f64],
    nodata: Nodata,
    f32_ulps: bool,
    keep: Option<&[bool]>,
) -> Figures {
    let mut f = Figures::default();
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        if keep.is_some_and(|k| !k[i]) {
            continue;
        }
        f.pixels += 1;
        let (va, vb) = (!nodata.is_nodata(a), !nodata.is_nodata(b));
        if va != vb {
            f.mask_diff += 1;
            continue;
        }
        if !va || a == b {
            f.identical += 1;
        }
        if va {
            f.both_valid += 1;
            let d = if f32_ulps {
                ulps(a as f32, b as f32) as f64
            } else {
                (a - b).abs()
            };
            f.max_delta = f.max_delta.max(d);
        }
    }
    f
}

/// Destination pixels whose footprint, grown by 2 source pixels, lies
/// inside the source and touches none of its nodata: where an area kernel
/// sees only whole valid source pixels, whatever the transformer's rounding.
fn interior(src: &Source, dst: &GeoBox) -> Vec<bool> {
    let (w, h) = (dst.width(), dst.height());
    let (sw, sh) = (src.grid.width(), src.grid.height());
    let mut corners: Vec<(f64, f64)> = (0..=h)
        .flat_map(|r| (0..=w).map(move |c| (c as f64, r as f64)))
        .map(|(c, r)| dst.affine().apply(c, r))
        .collect();
    dst.crs()
        .transform_points(src.grid.crs(), &mut corners)
        .unwrap();
    let px: Vec<(f64, f64)> = corners
        .iter()
        .map(|&(x, y)| src.grid.affine().invert(x, y))
        .collect();
    // Summed-area table of the source's nodata.
    let mut sat = vec![0u32; (sw + 1) * (sh + 1)];
    for r in 0..sh {
        for c in 0..sw {
            sat[(r + 1) * (sw + 1) + c + 1] = u32::from(src.holes[r * sw + c])
                + sat[r * (sw + 1) + c + 1]
                + sat[(r + 1) * (sw + 1) + c]
                - sat[r * (sw + 1) + c];
        }
    }
    let mut keep = vec![false; w * h];
    for r in 0..h {
        for c in 0..w {
            let four = [
                px[r * (w + 1) + c],
                px[r * (w + 1) + c + 1],
                px[(r + 1) * (w + 1) + c],
                px[(r + 1) * (w + 1) + c + 1],
            ];
            let x0 = four
                .iter()
                .map(|p| p.0)
                .fold(f64::INFINITY, f64::min)
                .floor()
                - 2.0;
            let x1 = four
                .iter()
                .map(|p| p.0)
                .fold(f64::NEG_INFINITY, f64::max)
                .ceil()
                + 2.0;
            let y0 = four
                .iter()
                .map(|p| p.1)
                .fold(f64::INFINITY, f64::min)
                .floor()
                - 2.0;
            let y1 = four
                .iter()
                .map(|p| p.1)
                .fold(f64::NEG_INFINITY, f64::max)
                .ceil()
                + 2.0;
            if x0 < 0.0 || y0 < 0.0 || x1 > sw as f64 || y1 > sh as f64 {
                continue;
            }
            let (x0, x1, y0, y1) = (x0 as usize, x1 as usize, y0 as usize, y1 as usize);
            let holes = sat[y1 * (sw + 1) + x1] + sat[y0 * (sw + 1) + x0]
                - sat[y0 * (sw + 1) + x1]
                - sat[y1 * (sw + 1) + x0];
            keep[r * w + c] = holes == 0;
        }
    }
    keep
}

/// A row of the printed table.
struct Row {
    case: String,
    figures: Figures,
    unit: &'static str,
    chunks: usize,
}

fn print_table(title: &str, rows: &[Row]) {
    let mut s = String::new();
    writeln!(s, "\n{title}").unwrap();
    writeln!(
        s,
        "| case | pixels | valid | identical | identical % | max |Δ| | mask diff | GDAL chunks |"
    )
    .unwrap();
    writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    for r in rows {
        let f = &r.figures;
        writeln!(
            s,
            "| {} | {} | {} | {} | {:.4} | {} {} | {} | {} |",
            r.case,
            f.pixels,
            f.both_valid,
            f.identical,
            f.identical_pct(),
            f.max_delta,
            r.unit,
            f.mask_diff,
            r.chunks
        )
        .unwrap();
    }
    println!("{s}");
}

/// What a kernel must reach, or `None` (reported only).
fn requirement(resampling: Resampling, fig: &Figures, float: bool) -> Option<String> {
    let max_ok = if float { 2.0 } else { 1.0 };
    match resampling {
        Resampling::Nearest | Resampling::Mode => {
            (fig.identical != fig.pixels).then(|| "not 100 % identical".to_owned())
        }
        Resampling::Bilinear | Resampling::Cubic => {
            let mut bad = Vec::new();
            if fig.identical_pct() < 99.9 {
                bad.push(format!("{:.4} % identical < 99.9 %", fig.identical_pct()));
            }
            if fig.max_delta > max_ok {
                bad.push(format!("max |Δ| {} > {max_ok}", fig.max_delta));
            }
            if fig.mask_diff != 0 {
                bad.push(format!(
                    "{} pixels differ in the nodata mask",
                    fig.mask_diff
                ));
            }
            (!bad.is_empty()).then(|| bad.join(", "))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// ---------------------------------------------------------------------------
// What is warped
// ---------------------------------------------------------------------------

/// One warp, done by both sides: `source` onto grid `dst`.
struct Case {
    name: String,
    source: usize,
    dst: usize,
    resampling: Resampling,
    /// GDAL in one chunk (compared and required) or in its own chunks
    /// (reported: what chunking alone changes).
    one_chunk: bool,
}

/// Sources, destination grids and the warps between them.
struct Plan {
    sources: Vec<Source>,
    grids: Vec<(&'static str, GeoBox)>,
    cases: Vec<Case>,
    /// Index of the first lon/lat (antimeridian) source.
    first_geo: usize,
}

fn plan() -> Plan {
    let mut sources = utm_sources();
    let utm = utm_grid();
    let mut grids = vec![
        ("3413 32 m", covering(&utm, 3413, 32.0)),
        ("3413 10 m", covering(&utm, 3413, 10.0)),
        ("4326 0.00027°", covering(&utm, 4326, TCTREND_RES)),
    ];
    let kernels = [
        Resampling::Nearest,
        Resampling::Bilinear,
        Resampling::Cubic,
        Resampling::Average,
    ];
    let mut cases = Vec::new();
    for (dst, (label, _)) in grids.iter().enumerate() {
        for (source, s) in sources.iter().enumerate() {
            // The 10 m grid (2.7 million pixels) only for what 1:1 adds:
            // every kernel on one float source, bilinear rounding, mode.
            let fine = dst == 1;
            let ks: &[Resampling] = match s.data {
                Data::U8(_) if fine => &[Resampling::Mode],
                Data::U8(_) => &[Resampling::Nearest, Resampling::Mode],
                _ if fine && source > 0 => &[Resampling::Bilinear],
                _ => &kernels,
            };
            for &resampling in ks {
                cases.push(Case {
                    name: format!("{} → {label} {resampling}", s.name),
                    source,
                    dst,
                    resampling,
                    one_chunk: true,
                });
            }
        }
    }
    // Across the antimeridian, stored both ways. GDAL splits this target
    // into chunks by default (a source fill ratio below 0.5): compared in
    // one chunk, and reported in GDAL's.
    let first_geo = sources.len();
    sources.push(antimeridian_source("lonlat 179..181", 179.0));
    sources.push(antimeridian_source("lonlat -181..-179", -181.0));
    grids.push((
        "3413 250 m",
        covering(&sources[first_geo].grid, 3413, 250.0),
    ));
    for source in [first_geo, first_geo + 1] {
        for one_chunk in [true, false] {
            for resampling in [Resampling::Nearest, Resampling::Bilinear] {
                let chunking = if one_chunk { "" } else { ", GDAL's chunks" };
                cases.push(Case {
                    name: format!(
                        "{} → 3413 250 m {resampling}{chunking}",
                        sources[source].name
                    ),
                    source,
                    dst: grids.len() - 1,
                    resampling,
                    one_chunk,
                });
            }
        }
    }
    Plan {
        sources,
        grids,
        cases,
        first_geo,
    }
}

/// Points for comparing proj4rs with PROJ: every 8th destination pixel
/// centre of a grid, to be taken into the source CRS (the direction the
/// warp transforms).
struct PointSet {
    name: String,
    from: Crs,
    to: Crs,
    points: Vec<(f64, f64)>,
    /// Source pixel size, to give differences in pixels.
    res: f64,
}

impl PointSet {
    fn centres(dst: &GeoBox, src: &GeoBox) -> PointSet {
        let points = (0..dst.height())
            .step_by(8)
            .flat_map(|r| (0..dst.width()).step_by(8).map(move |c| (c, r)))
            .map(|(c, r)| dst.affine().apply(c as f64 + 0.5, r as f64 + 0.5))
            .collect();
        PointSet {
            name: format!("{} → {}", dst.crs(), src.crs()),
            from: dst.crs().clone(),
            to: src.crs().clone(),
            points,
            res: src.affine().res_x,
        }
    }
}

/// Write the sources and points into `dir`; the script's request.
fn request(plan: &Plan, points: &[PointSet], dir: &Path) -> Value {
    let mut sources = serde_json::Map::new();
    for (i, s) in plan.sources.iter().enumerate() {
        let file = format!("src{i}.bin");
        s.data.write(&dir.join(&file));
        sources.insert(
            format!("src{i}"),
            json!({"file": file, "dtype": s.data.numpy(), "width": s.grid.width(), "height": s.grid.height()}),
        );
    }
    let warps: Vec<Value> = plan
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let s = &plan.sources[c.source];
            let d = &plan.grids[c.dst].1;
            json!({
                "name": c.name,
                "source": format!("src{}", c.source),
                "src_transform": s.grid.affine().gdal_geotransform(),
                "src_epsg": s.grid.crs().epsg(),
                "src_nodata": s.nodata.json(),
                "dst_transform": d.affine().gdal_geotransform(),
                "dst_epsg": d.crs().epsg(),
                "width": d.width(),
                "height": d.height(),
                "dst_nodata": s.nodata.json(),
                "resampling": c.resampling.name(),
                "out": format!("out{i}.bin"),
                "gdal_chunking": if c.one_chunk { "one" } else { "default" },
            })
        })
        .collect();
    let points: Vec<Value> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut bytes = Vec::with_capacity(p.points.len() * 16);
            for &(x, y) in &p.points {
                x.put(&mut bytes);
                y.put(&mut bytes);
            }
            std::fs::write(dir.join(format!("p{i}.bin")), bytes).unwrap();
            json!({"from": p.from.epsg(), "to": p.to.epsg(), "file": format!("p{i}.bin"), "out": format!("p{i}_out.bin")})
        })
        .collect();
    json!({"dir": dir, "sources": sources, "warps": warps, "points": points})
}

/// How far proj4rs' transforms are from pyproj's (PROJ's), printed.
fn report_points(points: &[PointSet], dir: &Path) {
    for (i, p) in points.iter().enumerate() {
        let theirs = read_raw::<f64>(&dir.join(format!("p{i}_out.bin")), p.points.len() * 2);
        let mut ours = p.points.clone();
        p.from.transform_points(&p.to, &mut ours).unwrap();
        let max = ours
            .iter()
            .zip(theirs.chunks_exact(2))
            .map(|(a, b)| (a.0 - b[0]).abs().max((a.1 - b[1]).abs()))
            .fold(0.0f64, f64::max);
        println!(
            "proj4rs vs PROJ, {}: {} points, max |Δ| {max:.3e} CRS units = {:.3e} source pixels",
            p.name,
            p.points.len(),
            max / p.res
        );
    }
}

/// Where interpolated floats differ by 1 ULP: how close our unrounded
/// value (the same warp of the source widened to f64) is to the f32
/// rounding midpoint of the two results, in ULP; `None` if none differ.
fn rounding_margin(
    s: &Source,
    dst: &GeoBox,
    opts: &WarpOptions,
    ours: &[f64],
    theirs: &[f64],
) -> Option<(usize, f64)> {
    let Data::F32(a) = &s.data else { return None };
    let differing: Vec<usize> = (0..ours.len())
        .filter(|&k| {
            !s.nodata.is_nodata(ours[k]) && !s.nodata.is_nodata(theirs[k]) && ours[k] != theirs[k]
        })
        .collect();
    if differing.is_empty() {
        return None;
    }
    let wide = TypedArray::Float64(a.mapv(f64::from));
    let exact = reproject(
        &wide,
        &s.grid,
        s.nodata.geocube(),
        dst,
        s.nodata.geocube(),
        opts,
    )
    .unwrap();
    let exact = typed_as_f64(&exact);
    let worst = differing
        .iter()
        .map(|&k| (exact[k] - (ours[k] + theirs[k]) / 2.0).abs() / f32_ulp(ours[k]))
        .fold(0.0f64, f64::max);
    Some((differing.len(), worst))
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn warp_matches_rasterio() {
    let Some(py) =
        geocube_testkit::python::with_modules_or_skip("warp_rasterio", &["rasterio", "numpy"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plan = plan();
    let (sources, grids, cases) = (&plan.sources, &plan.grids, &plan.cases);
    let points = [
        PointSet::centres(&grids[0].1, &sources[0].grid),
        PointSet::centres(&grids[2].1, &sources[0].grid),
        PointSet::centres(&grids[3].1, &sources[plan.first_geo].grid),
    ];
    let reply = run_py(&py, &request(&plan, &points, dir.path()));
    println!(
        "reference: rasterio {} (GDAL {}), pyproj with PROJ {}",
        reply["rasterio"], reply["gdal"], reply["proj"]
    );
    report_points(&points, dir.path());

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut interiors: Vec<Option<Vec<bool>>> = vec![None; grids.len()];
    let mut references = Vec::new();
    let mut antimeridian = Vec::new();
    let mut ours_seconds = 0.0;
    for (i, c) in cases.iter().enumerate() {
        let s = &sources[c.source];
        let d = &grids[c.dst].1;
        let opts = WarpOptions::new(c.resampling);
        let start = Instant::now();
        let ours = reproject(
            &s.data.typed(),
            &s.grid,
            s.nodata.geocube(),
            d,
            s.nodata.geocube(),
            &opts,
        )
        .unwrap();
        ours_seconds += start.elapsed().as_secs_f64();
        assert_eq!(ours.shape(), [d.height(), d.width()], "{}", c.name);
        let ours = typed_as_f64(&ours);
        let theirs = s.data.read_as_f64(
            &dir.path().join(format!("out{i}.bin")),
            d.width() * d.height(),
        );
        let chunks = reply["warps"][&c.name]["chunks"]
            .as_array()
            .map_or(0, Vec::len);
        let float = s.data.is_f32();
        let unit = if float { "ULP" } else { "" };
        let figures = compare(&ours, &theirs, s.nodata, float, None);
        if c.one_chunk {
            if chunks != 1 {
                failures.push(format!(
                    "{}: GDAL warped in {chunks} chunks, not one",
                    c.name
                ));
            }
            if let Some(why) = requirement(c.resampling, &figures, float) {
                failures.push(format!("{}: {why}", c.name));
            }
            if c.source >= plan.first_geo && c.resampling == Resampling::Nearest {
                antimeridian.push(ours.clone());
            }
            if c.resampling.interpolates()
                && figures.max_delta <= 1.0
                && let Some((n, margin)) = rounding_margin(s, d, &opts, &ours, &theirs)
            {
                notes.push(format!(
                    "{}: {n} pixels 1 ULP apart; our unrounded values lie within {margin:.1e} ULP \
                     of the f32 rounding midpoint",
                    c.name
                ));
            }
        }
        rows.push(Row {
            case: c.name.clone(),
            figures,
            unit,
            chunks,
        });
        if c.resampling.is_area() && c.resampling != Resampling::Mode {
            let keep = interiors[c.dst].get_or_insert_with(|| interior(s, d));
            let inner = compare(&ours, &theirs, s.nodata, float, Some(keep));
            if inner.identical != inner.pixels {
                failures.push(format!(
                    "{} away from edges: {} of {} identical, max |Δ| {} {unit}, {} mask differences",
                    c.name, inner.identical, inner.pixels, inner.max_delta, inner.mask_diff
                ));
            }
            rows.push(Row {
                case: format!("{} (away from edges)", c.name),
                figures: inner,
                unit,
                chunks,
            });
        }
        references.push(theirs);
    }
    // What GDAL's own chunking changes: its one-chunk warps against its
    // default ones.
    for (i, c) in cases.iter().enumerate().filter(|(_, c)| !c.one_chunk) {
        let Some(j) = cases.iter().position(|o| {
            o.one_chunk && o.source == c.source && o.dst == c.dst && o.resampling == c.resampling
        }) else {
            continue;
        };
        rows.push(Row {
            case: format!("GDAL in one chunk vs GDAL's chunks: {}", cases[j].name),
            figures: compare(
                &references[j],
                &references[i],
                sources[c.source].nodata,
                true,
                None,
            ),
            unit: "ULP",
            chunks: reply["warps"][&c.name]["chunks"]
                .as_array()
                .map_or(0, Vec::len),
        });
    }
    print_table(
        "geocube warp vs rasterio.warp.reproject (approximate transformer 0.125 px, XSCALE=1 YSCALE=1)",
        &rows,
    );
    for line in &notes {
        println!("{line}");
    }
    if let [a, b] = antimeridian.as_slice() {
        let same = a
            .iter()
            .zip(b)
            .filter(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
            .count();
        println!(
            "antimeridian, nearest: geocube's warps of 179..181 and -181..-179 agree on {same} of {} pixels",
            a.len()
        );
        if same != a.len() {
            failures.push("the two antimeridian storages differ".into());
        }
    }
    let theirs_seconds: f64 = reply["warps"].as_object().map_or(0.0, |w| {
        w.values().filter_map(|v| v["seconds"].as_f64()).sum()
    });
    println!(
        "{} warps: rasterio {theirs_seconds:.1} s, geocube {ours_seconds:.1} s (this build)",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "missed targets:\n{}",
        failures.join("\n")
    );
}

/// The linear ramp `v = 1500 + 0.02 (x − 507500) + 0.03 (y − 7692500)` of
/// UTM coordinates at the source pixel centres.
fn ramp(x: f64, y: f64) -> f64 {
    1500.0 + 0.02 * (x - 507_500.0) + 0.03 * (y - 7_692_500.0)
}

#[test]
fn bilinear_reproduces_a_linear_ramp() {
    let src = utm_grid();
    let a = src.affine();
    let values = ArrayD::from_shape_fn(IxDyn(&[N, N]), |i| {
        let (x, y) = a.apply(i[1] as f64 + 0.5, i[0] as f64 + 0.5);
        ramp(x, y)
    });
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (label, dst) in [
        ("3413 10 m", covering(&src, 3413, 10.0)),
        ("3413 32 m", covering(&src, 3413, 32.0)),
        ("4326 0.00027°", covering(&src, 4326, TCTREND_RES)),
    ] {
        let (w, h) = (dst.width(), dst.height());
        let mut centres: Vec<(f64, f64)> = (0..h)
            .flat_map(|r| (0..w).map(move |c| (c as f64 + 0.5, r as f64 + 0.5)))
            .map(|(c, r)| dst.affine().apply(c, r))
            .collect();
        dst.crs().transform_points(src.crs(), &mut centres).unwrap();
        // Where both bilinear taps of each axis are inside the source.
        let inside: Vec<bool> = centres
            .iter()
            .map(|&(x, y)| {
                let (c, r) = a.invert(x, y);
                (1.0..=N as f64 - 1.0).contains(&c) && (1.0..=N as f64 - 1.0).contains(&r)
            })
            .collect();
        let expected: Vec<f64> = centres.iter().map(|&(x, y)| ramp(x, y)).collect();
        let opts = WarpOptions::new(Resampling::Bilinear).max_error(0.0);
        for f32_source in [false, true] {
            let data = if f32_source {
                TypedArray::Float32(values.mapv(|v| v as f32))
            } else {
                TypedArray::Float64(values.clone())
            };
            let out = typed_as_f64(&reproject(&data, &src, None, &dst, None, &opts).unwrap());
            let (mut n, mut missing) = (0, 0);
            let (mut max_ulp, mut max_own_ulp, mut max_abs) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..out.len() {
                if !inside[i] {
                    continue;
                }
                n += 1;
                if out[i].is_nan() {
                    missing += 1;
                    continue;
                }
                let d = if f32_source {
                    ulps(out[i] as f32, expected[i] as f32) as f64
                } else {
                    (out[i] - expected[i]).abs() / f32_ulp(expected[i])
                };
                let abs = (out[i] - expected[i]).abs();
                let own_ulp = if f32_source {
                    f32_ulp(expected[i])
                } else {
                    f64_ulp(expected[i])
                };
                max_ulp = max_ulp.max(d);
                max_own_ulp = max_own_ulp.max(abs / own_ulp);
                max_abs = max_abs.max(abs);
            }
            let name = format!(
                "ramp {} → {label} bilinear, exact transformer",
                if f32_source { "f32" } else { "f64" }
            );
            if missing > 0 || max_ulp > 2.0 {
                failures.push(format!("{name}: {missing} missing, max {max_ulp} ULP"));
            }
            rows.push(format!(
                "| {name} | {n} | {missing} | {max_ulp:.3} | {max_own_ulp:.0} | {max_abs:.2e} |"
            ));
        }
    }
    println!(
        "\nbilinear on a linear ramp of source coordinates, at destination pixel centres 1 px or more inside the source\n\
         | case | pixels | no value | max |Δ| (ULP of f32) | max |Δ| (ULP of the type) | max |Δ| |\n|---|---:|---:|---:|---:|---:|\n{}",
        rows.join("\n")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
