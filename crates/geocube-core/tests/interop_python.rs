//! Interoperability with the Python reference stack, both ways:
//!
//! 1. cubes geocube writes open in Python Icechunk 1.x + zarr-python 3 +
//!    xarray (+ odc-geo) with the right grid, CRS, attributes, time axis and
//!    every pixel bit for bit;
//! 2. cubes the real smart-geocubes 0.1.2 library creates and fills open in
//!    geocube, geocube can write into them, and smart-geocubes then keeps
//!    reading and writing them;
//! 3. the metadata documents of a geocube cube and of a smart-geocubes cube
//!    with the same spec are the same, up to the differences listed in
//!    [`ALLOWED_METADATA_DIFFERENCES`];
//! 4. a cube geocube compacted and re-encoded still opens, reads and
//!    extends in Python Icechunk 1.x, xarray and smart-geocubes.
//!
//! The Python side is `tests/python/*.py`, run with the interpreter in
//! `GEOCUBE_PYTHON` (`ci/python-env.sh` creates the venv and prints its path).
//! Without it the tests are skipped, except on CI (`CI` set), where they fail.
//!
//! Pixel values are a deterministic function of the cube pixel (row, col) —
//! equivalently of the pixel-centre map coordinates — that is exact in
//! float32, so both sides can predict every pixel:
//! `value = col + 1000 row + 1_000_000 t`, NaN where `(row + 2 col) % 23 == 0`
//! (see `tests/python/_accessors.py`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use geocube_core::{
    Affine, ChannelSpec, ChunkCodec, CompactOptions, Crs, Cube, CubeSpec, CubeStorage, DType,
    GeoBox, IcechunkFormat, Patch, TypedArray, Window,
};
use ndarray::Array2;
use serde_json::{Value, json};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");

// ---------------------------------------------------------------------------
// Running the Python side
// ---------------------------------------------------------------------------

/// The reference interpreter, or `None` (test skipped) outside CI.
fn python() -> Option<PathBuf> {
    match std::env::var_os("GEOCUBE_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => panic!(
            "GEOCUBE_PYTHON is not set: the Python interop tests need the reference venv on CI; run \
             `export GEOCUBE_PYTHON=\"$(ci/python-env.sh | tail -n1)\"` before `cargo test`"
        ),
        None => {
            eprintln!(
                "skipped: set GEOCUBE_PYTHON to a Python with the reference stack to run the interop tests \
                 (`export GEOCUBE_PYTHON=\"$(ci/python-env.sh | tail -n1)\"`)"
            );
            None
        }
    }
}

/// Run `tests/python/<script>` with `request` on stdin; parse the JSON object
/// it prints as its last stdout line.
fn run_py(py: &Path, script: &str, request: &Value) -> Value {
    let mut child = Command::new(py)
        .arg(Path::new(SCRIPTS).join(script))
        .arg("-")
        .env("ICECHUNK_LOG", "error")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} (GEOCUBE_PYTHON): {e}", py.display()));
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
        "{script} failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        out.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("{script} printed nothing; stderr:\n{stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script}: bad JSON ({e}): {line:.300}"))
}

// ---------------------------------------------------------------------------
// Synthetic data and the model of what a cube must hold
// ---------------------------------------------------------------------------

/// The value at cube pixel (r, c), time index t, before NaN/nodata rules.
#[allow(clippy::cast_precision_loss)]
fn base_value(r: usize, c: usize, t: usize) -> f32 {
    // < 2^24 for every cube here: exact in f32 (and equal to the Python side's
    // float64 -> float32 cast of the same integer).
    (c + 1000 * r + 1_000_000 * t) as f32
}

fn is_nan_pixel(r: usize, c: usize) -> bool {
    (r + 2 * c).is_multiple_of(23)
}

/// The second variable of the temporal cube (`A01`, uint8, never 0).
#[allow(clippy::cast_possible_truncation)]
fn aux_u8(r: usize, c: usize, t: usize) -> u8 {
    ((r + c + t) % 250 + 1) as u8
}

const NODATA: f32 = -9999.0;

/// A patch, in cube pixels.
#[derive(Clone, Copy, Debug)]
struct Tile {
    id: &'static str,
    row: usize,
    col: usize,
    height: usize,
    width: usize,
    /// Outer ring of pixels is NaN (a "NaN border" that must not erase data).
    nan_border: bool,
    /// Some pixels hold the source nodata value -9999 (geocube-written tiles only).
    nodata: bool,
}

impl Tile {
    const fn new(id: &'static str, row: usize, col: usize, height: usize, width: usize) -> Self {
        Self {
            id,
            row,
            col,
            height,
            width,
            nan_border: false,
            nodata: false,
        }
    }
    const fn nan_border(self) -> Self {
        Self {
            nan_border: true,
            ..self
        }
    }
    const fn with_nodata(self) -> Self {
        Self {
            nodata: true,
            ..self
        }
    }
    fn window(&self) -> Window {
        Window::new(self.row, self.col, self.height, self.width)
    }
    /// The tile's primary value at cube pixel (r, c), time t.
    fn value(&self, r: usize, c: usize, t: usize) -> f32 {
        let border = r == self.row
            || c == self.col
            || r + 1 == self.row + self.height
            || c + 1 == self.col + self.width;
        if is_nan_pixel(r, c) || (self.nan_border && border) {
            f32::NAN
        } else if self.nodata && (7 * r + c).is_multiple_of(31) {
            NODATA
        } else {
            base_value(r, c, t)
        }
    }
    /// Its second value: the data mask (spatial) or `A01` (temporal).
    fn aux(&self, r: usize, c: usize, t: Option<usize>) -> i64 {
        match t {
            None => {
                let v = self.value(r, c, 0);
                i64::from(!v.is_nan() && v != NODATA)
            }
            Some(t) => i64::from(aux_u8(r, c, t)),
        }
    }
    fn json(&self, times: &[usize]) -> Value {
        json!({"id": self.id, "row": self.row, "col": self.col, "height": self.height, "width": self.width,
               "nan_border": self.nan_border, "times": times})
    }
}

/// What one time step of a cube must hold: the f32 variable and the second
/// (bool / uint8) variable as integers.
#[derive(Clone, Debug)]
struct Plane {
    h: usize,
    w: usize,
    val: Vec<f32>,
    aux: Vec<i64>,
}

impl Plane {
    fn empty(h: usize, w: usize) -> Self {
        Self {
            h,
            w,
            val: vec![f32::NAN; h * w],
            aux: vec![0; h * w],
        }
    }

    fn pixels(tile: &Tile, h: usize, w: usize) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (r0, c0) = (tile.row, tile.col);
        let (r1, c1) = (
            (tile.row + tile.height).min(h),
            (tile.col + tile.width).min(w),
        );
        (r0..r1).flat_map(move |r| (c0..c1).map(move |c| (r, c)))
    }

    /// geocube's merge: NaN / nodata never overwrite data; for the second
    /// variable the fill value (false / 0) never overwrites data.
    fn apply_geocube(&mut self, tile: &Tile, t: Option<usize>) {
        for (r, c) in Self::pixels(tile, self.h, self.w) {
            let i = r * self.w + c;
            let new = tile.value(r, c, t.unwrap_or(0));
            let invalid = new.is_nan() || (tile.nodata && new == NODATA);
            if !invalid || self.val[i].is_nan() {
                self.val[i] = new;
            }
            let a = tile.aux(r, c, t);
            if a != 0 {
                self.aux[i] = a;
            }
        }
    }

    /// smart-geocubes' merge (`DownloadBackend._write_patch_variable`): NaN
    /// pixels of a float patch keep the cube's data; everything else, the
    /// whole bool / uint8 patch included, overwrites.
    fn apply_sgc(&mut self, tile: &Tile, t: Option<usize>) {
        for (r, c) in Self::pixels(tile, self.h, self.w) {
            let i = r * self.w + c;
            let new = tile.value(r, c, t.unwrap_or(0));
            if !new.is_nan() {
                self.val[i] = new;
            }
            self.aux[i] = tile.aux(r, c, t);
        }
    }

    fn valid(&self) -> usize {
        self.val.iter().filter(|v| !v.is_nan()).count()
    }

    fn nansum(&self) -> f64 {
        self.val
            .iter()
            .filter(|v| !v.is_nan())
            .map(|v| f64::from(*v))
            .sum()
    }
}

/// Soft assertions: every failed check is recorded and [`Checks::finish`]
/// panics with all of them, so one run documents every incompatibility
/// instead of stopping at the first.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    /// Record a failure unless `got == want`.
    #[track_caller]
    fn eq<A: PartialEq<B> + std::fmt::Debug, B: std::fmt::Debug>(
        &mut self,
        what: &str,
        got: A,
        want: B,
    ) {
        if got != want {
            let line = std::panic::Location::caller().line();
            self.0.push(format!(
                "[line {line}] {what}:\n      got  {got:.400?}\n      want {want:.400?}"
            ));
        }
    }

    /// Record `message` unless `ok`.
    #[track_caller]
    fn that(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            let line = std::panic::Location::caller().line();
            self.0.push(format!("[line {line}] {}", message()));
        }
    }

    /// Compare f32 values bit for bit (all NaNs here are the canonical quiet NaN).
    fn f32_bits(&mut self, what: &str, w: usize, got: impl IntoIterator<Item = u32>, want: &[f32]) {
        let got: Vec<u32> = got.into_iter().collect();
        if got.len() != want.len() {
            self.0
                .push(format!("{what}: {} pixels, want {}", got.len(), want.len()));
            return;
        }
        let bad: Vec<usize> = (0..got.len())
            .filter(|i| got[*i] != want[*i].to_bits())
            .collect();
        if !bad.is_empty() {
            let first: Vec<String> = bad
                .iter()
                .take(6)
                .map(|i| {
                    format!(
                        "(row {}, col {}): got {} want {}",
                        i / w,
                        i % w,
                        f32::from_bits(got[*i]),
                        want[*i]
                    )
                })
                .collect();
            self.0.push(format!(
                "{what}: {} pixels differ, first: {first:?}",
                bad.len()
            ));
        }
    }

    /// Compare integer (bool / uint8) pixels.
    fn ints(&mut self, what: &str, w: usize, got: &[i64], want: &[i64]) {
        if got.len() != want.len() {
            self.0
                .push(format!("{what}: {} pixels, want {}", got.len(), want.len()));
            return;
        }
        let bad: Vec<usize> = (0..got.len()).filter(|i| got[*i] != want[*i]).collect();
        if !bad.is_empty() {
            let first: Vec<String> = bad
                .iter()
                .take(6)
                .map(|i| {
                    format!(
                        "(row {}, col {}): got {} want {}",
                        i / w,
                        i % w,
                        got[*i],
                        want[*i]
                    )
                })
                .collect();
            self.0.push(format!(
                "{what}: {} pixels differ, first: {first:?}",
                bad.len()
            ));
        }
    }

    /// Panic with every recorded failure.
    fn finish(self, label: &str) {
        assert!(
            self.0.is_empty(),
            "{label}: {} check(s) failed:\n  - {}",
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}

/// Hard version of [`Checks::f32_bits`].
fn assert_f32_bits(what: &str, w: usize, got: impl IntoIterator<Item = u32>, want: &[f32]) {
    let mut ck = Checks::default();
    ck.f32_bits(what, w, got, want);
    ck.finish(what);
}

/// Hard version of [`Checks::ints`].
fn assert_ints(what: &str, w: usize, got: &[i64], want: &[i64]) {
    let mut ck = Checks::default();
    ck.ints(what, w, got, want);
    ck.finish(what);
}

/// A `full` array the Python side returned: f32 bit patterns.
fn py_f32_bits(v: &Value) -> Vec<u32> {
    assert_eq!(v["dtype"], "float32", "dtype of {v:.100}");
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("u32 bits")).expect("u32"))
        .collect()
}

/// A `full` array the Python side returned: integers / bools.
fn py_ints(v: &Value) -> Vec<i64> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Cube specs
// ---------------------------------------------------------------------------

const X0: f64 = -1_600_000.0;
const Y0: f64 = 1_600_000.0;
const RES: f64 = 32.0;
const WIDTH: usize = 250;
const HEIGHT: usize = 300;
const CHUNK: usize = 64;

fn polar_geobox() -> GeoBox {
    let crs = Crs::from_epsg(3413).expect("EPSG:3413");
    GeoBox::new(
        WIDTH,
        HEIGHT,
        Affine {
            x0: X0,
            res_x: RES,
            y0: Y0,
            res_y: -RES,
        },
        crs,
    )
    .expect("geobox")
}

/// ArcticDEM's channel metadata (`ArcticDEMABC._channels_meta`), as in `_accessors.py`.
fn arcticdem_channels() -> Vec<ChannelSpec> {
    vec![
        ChannelSpec::new("dem", DType::Float32)
            .with_nodata(f64::from(NODATA))
            .with_attribute("long_name", "Digital Elevation Model")
            .with_attribute("data_source", "ArcticDEM")
            .with_attribute("units", "m")
            .with_attribute(
                "description",
                "Digital Elevation Model, elevation resolution is cropped to ~1cm",
            ),
        ChannelSpec::new("datamask", DType::Bool)
            .with_attribute("long_name", "Data Mask")
            .with_attribute("source", "ArcticDEM"),
    ]
}

fn spatial_spec(title: &str, codec: ChunkCodec) -> CubeSpec {
    CubeSpec {
        title: title.into(),
        geobox: polar_geobox(),
        time: None,
        chunk_size: CHUNK,
        channels: arcticdem_channels(),
        codec,
    }
}

// The temporal cube of the layout reference: EPSG:4326, 0.01°, 200 x 200 px,
// chunks 100, three yearly steps, A00 float32 + A01 uint8.
const T_SIZE: usize = 200;
const T_CHUNK: usize = 100;
const T_RES: f64 = 0.01;
const T_YEARS: [i32; 3] = [2017, 2018, 2019];

fn steps() -> Vec<DateTime<Utc>> {
    T_YEARS
        .iter()
        .map(|y| {
            Utc.with_ymd_and_hms(*y, 1, 1, 0, 0, 0)
                .single()
                .expect("date")
        })
        .collect()
}

fn geographic_geobox() -> GeoBox {
    GeoBox::new(
        T_SIZE,
        T_SIZE,
        Affine {
            x0: -1.0,
            res_x: T_RES,
            y0: 1.0,
            res_y: -T_RES,
        },
        Crs::wgs84(),
    )
    .expect("geobox")
}

fn temporal_spec(title: &str, codec: ChunkCodec) -> CubeSpec {
    CubeSpec {
        title: title.into(),
        geobox: geographic_geobox(),
        time: Some(steps()),
        chunk_size: T_CHUNK,
        channels: vec![
            ChannelSpec::new("A00", DType::Float32).with_attribute("long_name", "b0"),
            ChannelSpec::new("A01", DType::Uint8).with_attribute("long_name", "b1"),
        ],
        codec,
    }
}

/// The smart-geocubes request fields describing a spec's cube (see `_accessors.py`).
fn sgc_cube_request(path: &Path, spec: &CubeSpec) -> Value {
    let a = spec.geobox.affine();
    let (h, w) = spec.geobox.shape();
    json!({
        "path": path, "title": spec.title, "crs": spec.geobox.crs().to_string(),
        "x0": a.x0, "y0": a.y0, "res": a.res_x, "width": w, "height": h, "chunk": spec.chunk_size,
        "times": spec.time.as_ref().map(|t| t.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect::<Vec<_>>()),
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A spatial ArcticDEM-like patch for `tile`.
fn spatial_patch(cube: &GeoBox, tile: &Tile) -> Patch {
    let dem = Array2::from_shape_fn((tile.height, tile.width), |(i, j)| {
        tile.value(tile.row + i, tile.col + j, 0)
    });
    let mask = Array2::from_shape_fn((tile.height, tile.width), |(i, j)| {
        tile.aux(tile.row + i, tile.col + j, None) != 0
    });
    Patch::new(
        tile.id,
        cube.window(tile.window()).expect("tile inside the cube"),
    )
    .with_layer(
        "dem",
        TypedArray::Float32(dem.into_dyn()),
        tile.nodata.then_some(f64::from(NODATA)),
    )
    .with_layer("datamask", TypedArray::Bool(mask.into_dyn()), None)
}

/// A temporal patch (A00 + A01) for `tile` at time index `t`.
fn temporal_patch(cube: &GeoBox, tile: &Tile, t: usize) -> Patch {
    let a00 = Array2::from_shape_fn((tile.height, tile.width), |(i, j)| {
        tile.value(tile.row + i, tile.col + j, t)
    });
    let a01 = Array2::from_shape_fn((tile.height, tile.width), |(i, j)| {
        aux_u8(tile.row + i, tile.col + j, t)
    });
    Patch::new(
        format!("{}@{}", tile.id, T_YEARS[t]),
        cube.window(tile.window()).expect("tile inside the cube"),
    )
    .with_layer("A00", TypedArray::Float32(a00.into_dyn()), None)
    .with_layer("A01", TypedArray::Uint8(a01.into_dyn()), None)
    .with_time(steps()[t])
}

/// Read a whole cube through geocube: the f32 variable's bits and the other as integers.
fn geocube_planes(cube: &Cube, fvar: &str, ivar: &str) -> (Vec<u32>, Vec<i64>) {
    let window = cube.layout().geobox.full_window();
    let ds = cube.read_window(window, None).expect("geocube read");
    let f = ds
        .variable(fvar)
        .and_then(|v| v.data.as_array::<f32>())
        .expect("f32 variable");
    let i: Vec<i64> = match &ds.variable(ivar).expect("second variable").data {
        TypedArray::Bool(a) => a.iter().map(|b| i64::from(*b)).collect(),
        TypedArray::Uint8(a) => a.iter().map(|b| i64::from(*b)).collect(),
        other => panic!("unexpected type of {ivar}: {:?}", other.dtype()),
    };
    (f.iter().map(|v| v.to_bits()).collect(), i)
}

fn attrs(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// 1. geocube -> xarray (Icechunk 1.x Python)
// ---------------------------------------------------------------------------

/// geocube tiles of the spatial cube: overlapping, NaN borders, nodata pixels,
/// several chunks and the cube's partial edge chunks; rows 200.. stay unloaded.
const GEOCUBE_TILES: [Tile; 3] = [
    Tile::new("g1", 0, 0, 100, 120).with_nodata(),
    Tile::new("g2", 90, 100, 110, 150)
        .nan_border()
        .with_nodata(),
    Tile::new("g3", 150, 10, 40, 30),
];

#[test]
fn geocube_spatial_cube_opens_in_xarray() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cube");
    let spec = spatial_spec("GeocubeSpatial", ChunkCodec::Default);
    let cube = Cube::create(CubeStorage::local(&path), &spec)
        .format(IcechunkFormat::V1)
        .execute()
        .expect("create");
    let gb = spec.geobox.clone();
    // Two commits: a batch of two, then one more.
    cube.write_patches(&[
        spatial_patch(&gb, &GEOCUBE_TILES[0]),
        spatial_patch(&gb, &GEOCUBE_TILES[1]),
    ])
    .expect("write g1 g2");
    cube.write_patch(&spatial_patch(&gb, &GEOCUBE_TILES[2]))
        .expect("write g3");

    let mut model = Plane::empty(HEIGHT, WIDTH);
    for t in &GEOCUBE_TILES {
        model.apply_geocube(t, None);
    }
    // Pixels with a known story, checked one by one as well as in bulk.
    let probes: [(usize, usize, f32); 7] = [
        (1, 1, base_value(1, 1, 0)),         // g1 data
        (0, 0, f32::NAN),                    // a NaN pixel of g1
        (0, 31, NODATA),                     // g1's nodata, kept bit-exact where nothing was
        (90, 105, base_value(90, 105, 0)),   // g2's NaN top border over g1's data: g1's value kept
        (150, 200, base_value(150, 200, 0)), // g2 data where nothing was
        (199, 200, f32::NAN),                // g2's NaN bottom border where nothing was
        (250, 100, f32::NAN),                // never loaded
    ];
    for (r, c, v) in probes {
        assert_eq!(
            model.val[r * WIDTH + c].to_bits(),
            v.to_bits(),
            "model at ({r}, {c})"
        );
    }

    let req = json!({
        "path": path,
        "pixels": {"dem": probes.iter().map(|(r, c, _)| [r, c]).collect::<Vec<_>>(),
                   "datamask": [[1, 1], [0, 0], [250, 100]]},
        "full": ["dem", "datamask"],
    });
    let out = run_py(&py, "read_xarray.py", &req);
    assert_eq!(
        out["ok"], true,
        "Icechunk 1.x Python could not open a geocube V1 cube: {out}"
    );
    eprintln!(
        "icechunk {} + xarray {} opened the geocube cube",
        out["icechunk_version"], out["xarray_version"]
    );
    let mut ck = Checks::default();

    // Dimensions, sizes, dtypes, chunks.
    ck.eq("dims of dem", &out["dims"]["dem"], &json!(["y", "x"]));
    ck.eq(
        "dims of datamask",
        &out["dims"]["datamask"],
        &json!(["y", "x"]),
    );
    ck.eq("dims of x", &out["dims"]["x"], &json!(["x"]));
    ck.eq("dims of y", &out["dims"]["y"], &json!(["y"]));
    ck.eq(
        "dims of spatial_ref",
        &out["dims"]["spatial_ref"],
        &json!([]),
    );
    ck.eq("sizes", &out["sizes"], &json!({"y": HEIGHT, "x": WIDTH}));
    ck.eq(
        "dtypes",
        &out["dtypes"],
        &json!({"dem": "float32", "datamask": "bool", "x": "float64", "y": "float64", "spatial_ref": "int32"}),
    );
    ck.eq(
        "chunks of dem",
        &out["encoding"]["dem"]["chunks"],
        &json!([CHUNK, CHUNK]),
    );

    // Coordinates: pixel centres, x ascending, y descending, exactly ours.
    let coords = &out["coords"];
    ck.eq("x values", &coords["x"]["values"], &json!(gb.xs()));
    ck.eq("y values", &coords["y"]["values"], &json!(gb.ys()));
    #[allow(clippy::cast_precision_loss)]
    let (w, h) = (WIDTH as f64, HEIGHT as f64);
    ck.eq("x first", &coords["x"]["first"], &json!(X0 + RES / 2.0));
    ck.eq("x last", &coords["x"]["last"], &json!(X0 + RES * (w - 0.5)));
    ck.eq("y first", &coords["y"]["first"], &json!(Y0 - RES / 2.0));
    ck.eq("y last", &coords["y"]["last"], &json!(Y0 - RES * (h - 0.5)));
    ck.eq("x len", &coords["x"]["len"], &json!(WIDTH));
    ck.eq("y len", &coords["y"]["len"], &json!(HEIGHT));
    // As smart-geocubes (odc-geo) writes them: x units "" on projected CRSs
    // (see cube-layout-reference.txt), y units "metre".
    ck.eq(
        "x attrs",
        &coords["x"]["attrs"],
        &json!({"units": "", "resolution": RES, "crs": "EPSG:3413"}),
    );
    ck.eq(
        "y attrs",
        &coords["y"]["attrs"],
        &json!({"units": "metre", "resolution": -RES, "crs": "EPSG:3413"}),
    );

    // CRS: CF grid mapping + GeoTransform, and odc-geo recovers the GeoBox.
    let sr = &out["spatial_ref"];
    ck.eq(
        "spatial_ref grid_mapping_name",
        &sr["grid_mapping_name"],
        &json!("polar_stereographic"),
    );
    let wkt = sr["crs_wkt"].as_str().unwrap_or_default();
    ck.that(
        wkt.starts_with("PROJCRS[") && wkt.ends_with("ID[\"EPSG\",3413]]"),
        || format!("spatial_ref crs_wkt is not the WKT2 of EPSG:3413: {wkt:.200}"),
    );
    ck.eq(
        "spatial_ref.spatial_ref == crs_wkt",
        &sr["spatial_ref"],
        &sr["crs_wkt"],
    );
    ck.eq(
        "spatial_ref GeoTransform",
        &sr["GeoTransform"],
        &json!("-1600000 32 0 1600000 0 -32"),
    );
    // odc-geo (and so smart-geocubes) stores the EPSG code as the value of the
    // spatial_ref scalar; geocube must too.
    ck.eq("spatial_ref value", &out["spatial_ref_value"], &json!(3413));
    ck.eq(
        "odc-geo GeoBox",
        &out["odc_geobox"],
        &json!({"epsg": 3413, "crs": "EPSG:3413", "shape": [HEIGHT, WIDTH], "affine": [RES, 0.0, X0, 0.0, -RES, Y0]}),
    );

    // Root and variable attributes.
    ck.eq(
        "root attrs",
        &out["attrs"],
        &json!({"title": "GeocubeSpatial", "loaded_patches": ["g1", "g2", "g3"]}),
    );
    for ch in &spec.channels {
        ck.eq(
            &format!("attrs of {}", ch.name),
            &out["var_attrs"][&ch.name],
            &Value::Object(ch.attributes.clone()),
        );
    }

    // Pixels: probes, statistics, then every pixel bit for bit.
    for (i, (r, c, v)) in probes.iter().enumerate() {
        let p = &out["pixels"]["dem"][i];
        ck.eq(
            &format!("dem bits at ({r}, {c})"),
            p["bits"].as_u64(),
            Some(u64::from(v.to_bits())),
        );
    }
    ck.eq(
        "datamask probes",
        &out["pixels"]["datamask"],
        &json!([true, false, false]),
    );
    ck.eq(
        "dem valid pixels",
        &out["stats"]["dem"]["valid"],
        &json!(model.valid()),
    );
    ck.eq(
        "dem nansum",
        out["stats"]["dem"]["nansum"].as_f64(),
        Some(model.nansum()),
    );
    ck.eq(
        "dem min",
        out["stats"]["dem"]["min"].as_f64(),
        Some(f64::from(NODATA)),
    );
    ck.eq(
        "datamask true pixels",
        &out["stats"]["datamask"]["nonzero"],
        &json!(model.aux.iter().filter(|a| **a != 0).count()),
    );
    ck.eq(
        "dem shape",
        &out["full"]["dem"]["shape"],
        &json!([HEIGHT, WIDTH]),
    );
    ck.f32_bits(
        "dem in xarray",
        WIDTH,
        py_f32_bits(&out["full"]["dem"]),
        &model.val,
    );
    ck.ints(
        "datamask in xarray",
        WIDTH,
        &py_ints(&out["full"]["datamask"]),
        &model.aux,
    );
    // ... and geocube reads the same.
    let (val, aux) = geocube_planes(&cube, "dem", "datamask");
    ck.f32_bits("dem in geocube", WIDTH, val, &model.val);
    ck.ints("datamask in geocube", WIDTH, &aux, &model.aux);
    ck.finish("geocube spatial cube in xarray");
}

#[test]
fn geocube_temporal_cube_decodes_time_in_xarray() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cube");
    let spec = temporal_spec("GeocubeTemporal", ChunkCodec::Default);
    let cube = Cube::create(CubeStorage::local(&path), &spec)
        .execute()
        .expect("create");
    let gb = spec.geobox.clone();
    let tile = Tile::new("w", 20, 50, 130, 120);
    cube.write_patches(&[temporal_patch(&gb, &tile, 1), temporal_patch(&gb, &tile, 2)])
        .expect("write");

    let req = json!({"path": path,
                     "pixels": {"A00": [[1, 25, 60], [0, 25, 60], [2, 149, 169]], "A01": [[1, 25, 60], [0, 25, 60]]},
                     "full": ["A00", "A01"]});
    let out = run_py(&py, "read_xarray.py", &req);
    assert_eq!(out["ok"], true, "{out}");
    let mut ck = Checks::default();
    ck.eq(
        "dims of A00",
        &out["dims"]["A00"],
        &json!(["time", "y", "x"]),
    );
    ck.eq(
        "sizes",
        &out["sizes"],
        &json!({"time": 3, "y": T_SIZE, "x": T_SIZE}),
    );
    ck.eq("dtype of A00", &out["dtypes"]["A00"], &json!("float32"));
    ck.eq("dtype of A01", &out["dtypes"]["A01"], &json!("uint8"));
    ck.eq(
        "chunks of A00",
        &out["encoding"]["A00"]["chunks"],
        &json!([1, T_CHUNK, T_CHUNK]),
    );
    // xarray decodes the CF time axis to the right datetimes.
    let time = &out["coords"]["time"];
    ck.that(
        time["dtype"]
            .as_str()
            .is_some_and(|d| d.starts_with("datetime64")),
        || format!("time dtype {time}"),
    );
    ck.eq(
        "time",
        &time["iso"],
        &json!([
            "2017-01-01T00:00:00",
            "2018-01-01T00:00:00",
            "2019-01-01T00:00:00"
        ]),
    );
    ck.eq(
        "time units",
        &time["encoding_units"],
        &json!("days since 2017-01-01 00:00:00"),
    );
    ck.eq(
        "time calendar",
        &time["encoding_calendar"],
        &json!("proleptic_gregorian"),
    );
    // Geographic grid.
    let coords = &out["coords"];
    ck.eq(
        "x attrs",
        &coords["x"]["attrs"],
        &json!({"units": "degrees_east", "resolution": T_RES, "crs": "EPSG:4326"}),
    );
    ck.eq(
        "y attrs",
        &coords["y"]["attrs"],
        &json!({"units": "degrees_north", "resolution": -T_RES, "crs": "EPSG:4326"}),
    );
    ck.eq("x values", &coords["x"]["values"], &json!(gb.xs()));
    ck.eq(
        "grid_mapping_name",
        &out["spatial_ref"]["grid_mapping_name"],
        &json!("latitude_longitude"),
    );
    ck.eq(
        "GeoTransform",
        &out["spatial_ref"]["GeoTransform"],
        &json!("-1 0.010000000000000000208167 0 1 0 -0.010000000000000000208167"),
    );
    ck.eq("spatial_ref value", &out["spatial_ref_value"], &json!(4326));
    let geo = &out["odc_geobox"];
    ck.eq("odc-geo EPSG", &geo["epsg"], &json!(4326));
    let affine: Vec<f64> = serde_json::from_value(geo["affine"].clone()).unwrap_or_default();
    let want = [T_RES, 0.0, -1.0, 0.0, -T_RES, 1.0];
    ck.that(
        affine.len() == 6 && affine.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12),
        || format!("odc-geo affine {affine:?}, want {want:?}"),
    );
    ck.eq(
        "loaded_patches",
        &out["attrs"]["loaded_patches"],
        &json!(["w@2018", "w@2019"]),
    );
    ck.eq(
        "attrs of A00",
        &out["var_attrs"]["A00"],
        &attrs(&[("long_name", "b0")]),
    );
    ck.eq(
        "attrs of A01",
        &out["var_attrs"]["A01"],
        &attrs(&[("long_name", "b1")]),
    );

    let p = &out["pixels"];
    ck.eq(
        "A00[1, 25, 60]",
        p["A00"][0]["bits"].as_u64(),
        Some(u64::from(base_value(25, 60, 1).to_bits())),
    );
    ck.eq(
        "A00[0, 25, 60] (never loaded)",
        &p["A00"][1]["value"],
        &Value::Null,
    );
    ck.eq(
        "A00[2, 149, 169]",
        p["A00"][2]["bits"].as_u64(),
        Some(u64::from(base_value(149, 169, 2).to_bits())),
    );
    ck.eq("A01 probes", &p["A01"], &json!([aux_u8(25, 60, 1), 0]));

    let mut planes = vec![Plane::empty(T_SIZE, T_SIZE); 3];
    planes[1].apply_geocube(&tile, Some(1));
    planes[2].apply_geocube(&tile, Some(2));
    let val: Vec<f32> = planes.iter().flat_map(|p| p.val.clone()).collect();
    let aux: Vec<i64> = planes.iter().flat_map(|p| p.aux.clone()).collect();
    ck.f32_bits(
        "A00 in xarray",
        T_SIZE,
        py_f32_bits(&out["full"]["A00"]),
        &val,
    );
    ck.ints("A01 in xarray", T_SIZE, &py_ints(&out["full"]["A01"]), &aux);
    ck.finish("geocube temporal cube in xarray");
}

#[test]
fn icechunk_1_refuses_the_v2_format() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cube");
    let spec = spatial_spec("V2", ChunkCodec::Default);
    let cube = Cube::create(CubeStorage::local(&path), &spec)
        .format(IcechunkFormat::V2)
        .execute()
        .expect("create V2");
    assert_eq!(cube.format(), IcechunkFormat::V2);
    cube.write_patch(&spatial_patch(&spec.geobox, &GEOCUBE_TILES[2]))
        .expect("write");
    let out = run_py(&py, "read_xarray.py", &json!({"path": path}));
    assert_eq!(
        out["ok"], false,
        "Icechunk 1.x Python opened an Icechunk 2 format repository: {out:.300}"
    );
    assert_eq!(out["stage"], "open_repository", "{out}");
    let err = out["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        err.contains("version") || err.contains("format") || err.contains("v2"),
        "unexpected refusal message: {err}"
    );
    eprintln!(
        "icechunk 1.x on a V2 repository: {} {}",
        out["error_type"], out["error"]
    );
    // geocube itself still reads it.
    let again = Cube::open(CubeStorage::local(&path)).expect("geocube opens V2");
    assert_eq!(again.loaded_patches().expect("ids"), ["g3"]);
}

// ---------------------------------------------------------------------------
// 2. smart-geocubes -> geocube, and back
// ---------------------------------------------------------------------------

/// Tiles smart-geocubes loads: overlapping (t01 has a NaN border over t00's
/// data), and rows 200.. plus the t11 corner left unloaded.
const SGC_TILES: [Tile; 3] = [
    Tile::new("t00", 0, 0, 128, 128),
    Tile::new("t01", 0, 120, 128, 130).nan_border(),
    Tile::new("t10", 128, 0, 72, 128),
];
/// geocube's patch into the smart-geocubes cube: over loaded and unloaded
/// pixels, with a NaN border and nodata pixels.
const RUST_TILE: Tile = Tile::new("rust-1", 150, 100, 150, 150)
    .nan_border()
    .with_nodata();
/// smart-geocubes' tile after geocube's write, overlapping it.
const AFTER_TILE: Tile = Tile::new("t-after", 250, 0, 50, 180).nan_border();

#[test]
fn smart_geocubes_spatial_cube_round_trip() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sgc");
    let spec = spatial_spec("InteropDEM", ChunkCodec::Reference);
    let cube_req = sgc_cube_request(&path, &spec);
    let tiles: Vec<Value> = SGC_TILES.iter().map(|t| t.json(&[])).collect();

    // smart-geocubes creates the cube and fills it through its own write path.
    let made = run_py(
        &py,
        "sgc_cube.py",
        &merge(
            cube_req.clone(),
            json!({"tiles": tiles, "create": true, "load_window": [0, 0, 200, WIDTH]}),
        ),
    );
    eprintln!("smart-geocubes versions: {}", made["versions"]);
    assert_eq!(made["loaded_patches"], json!(["t00", "t01", "t10"]));
    assert_eq!(
        made["extent"]["affine"],
        json!([RES, 0.0, X0, 0.0, -RES, Y0])
    );
    assert_eq!(made["extent"]["shape"], json!([HEIGHT, WIDTH]));

    let mut model = Plane::empty(HEIGHT, WIDTH);
    for t in &SGC_TILES {
        model.apply_sgc(t, None);
    }

    // geocube opens it: layout, ids, pixels.
    let cube =
        Cube::open(CubeStorage::local(&path)).expect("geocube opens the smart-geocubes cube");
    let layout = cube.layout();
    assert_eq!(layout.title, "InteropDEM");
    assert_eq!(layout.geobox, polar_geobox());
    let a = layout.geobox.affine();
    assert_eq!(
        json!([a.res_x, 0.0, a.x0, 0.0, a.res_y, a.y0]),
        made["extent"]["affine"],
        "GeoBox vs Python's"
    );
    assert_eq!(json!(layout.geobox.xs()), made["xs"]);
    assert_eq!(json!(layout.geobox.ys()), made["ys"]);
    assert_eq!(layout.chunk_shape, (CHUNK, CHUNK));
    assert!(layout.time.is_none());
    let vars: Vec<_> = layout
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.dtype))
        .collect();
    assert_eq!(vars, [("datamask", DType::Bool), ("dem", DType::Float32)]);
    for ch in arcticdem_channels() {
        let mut want = ch.attributes.clone();
        if ch.dtype == DType::Float32 {
            want.insert("_FillValue".into(), json!("AAAAAAAA+H8="));
        }
        assert_eq!(
            layout.variable(&ch.name).expect("variable").attributes,
            want,
            "attributes of {}",
            ch.name
        );
    }
    assert_eq!(
        cube.loaded_patches().expect("ids"),
        strings(&made["loaded_patches"])
    );
    let (val, aux) = geocube_planes(&cube, "dem", "datamask");
    assert_f32_bits(
        "dem of the smart-geocubes cube in geocube",
        WIDTH,
        val,
        &model.val,
    );
    assert_ints(
        "datamask of the smart-geocubes cube in geocube",
        WIDTH,
        &aux,
        &model.aux,
    );

    // geocube writes into it ...
    let out = cube
        .write_patch(&spatial_patch(&spec.geobox, &RUST_TILE))
        .expect("geocube writes");
    assert_eq!(out.written, ["rust-1"]);
    model.apply_geocube(&RUST_TILE, None);

    // ... smart-geocubes reads it, skips re-downloading rust-1 (its id is in
    // loaded_patches) and writes a patch of its own on top ...
    let tiles: Vec<Value> = SGC_TILES
        .iter()
        .chain([&RUST_TILE, &AFTER_TILE])
        .map(|t| t.json(&[]))
        .collect();
    let again = run_py(
        &py,
        "sgc_cube.py",
        &merge(
            cube_req,
            json!({"tiles": tiles, "load_window": [150, 0, 150, WIDTH], "forbid_download": ["t00", "t01", "t10", "rust-1"],
                   "full": ["dem", "datamask"]}),
        ),
    );
    assert_eq!(
        again["loaded_patches"],
        json!(["t00", "t01", "t10", "rust-1", "t-after"])
    );
    let mut sgc_view = model.clone();
    sgc_view.apply_sgc(&AFTER_TILE, None);
    assert_f32_bits(
        "dem in smart-geocubes after geocube's write",
        WIDTH,
        py_f32_bits(&again["full"]["dem"]),
        &sgc_view.val,
    );
    assert_ints(
        "datamask in smart-geocubes after geocube's write",
        WIDTH,
        &py_ints(&again["full"]["datamask"]),
        &sgc_view.aux,
    );

    // ... and geocube reads the result.
    let cube = Cube::open(CubeStorage::local(&path)).expect("reopen");
    assert_eq!(
        cube.loaded_patches().expect("ids"),
        ["t00", "t01", "t10", "rust-1", "t-after"]
    );
    let (val, aux) = geocube_planes(&cube, "dem", "datamask");
    assert_f32_bits("dem after the round trip", WIDTH, val, &sgc_view.val);
    assert_ints("datamask after the round trip", WIDTH, &aux, &sgc_view.aux);

    // Plain xarray agrees, and the cube is still what odc-geo expects.
    let x = run_py(&py, "read_xarray.py", &json!({"path": path}));
    assert_eq!(
        x["attrs"]["loaded_patches"],
        json!(["t00", "t01", "t10", "rust-1", "t-after"])
    );
    assert_eq!(x["stats"]["dem"]["valid"], sgc_view.valid());
    assert_eq!(
        x["stats"]["dem"]["nansum"].as_f64(),
        Some(sgc_view.nansum())
    );
    assert_eq!(
        x["odc_geobox"]["affine"],
        json!([RES, 0.0, X0, 0.0, -RES, Y0])
    );
}

#[test]
fn smart_geocubes_temporal_cube_opens_in_geocube() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sgc-t");
    let spec = temporal_spec("InteropTemporal", ChunkCodec::Reference);
    // "a" exists in 2018 only, "b" in 2017 and 2019.
    let a = Tile::new("a", 10, 10, 120, 100);
    let b = Tile::new("b", 60, 90, 140, 110).nan_border();
    let tiles = json!([a.json(&[1]), b.json(&[0, 2])]);
    let made = run_py(
        &py,
        "sgc_cube.py",
        &merge(
            sgc_cube_request(&path, &spec),
            json!({"tiles": tiles, "create": true, "load_window": [0, 0, T_SIZE, T_SIZE]}),
        ),
    );
    assert_eq!(
        made["time"],
        json!([
            "2017-01-01T00:00:00",
            "2018-01-01T00:00:00",
            "2019-01-01T00:00:00"
        ])
    );
    let mut ids = strings(&made["loaded_patches"]);
    ids.sort();
    assert_eq!(ids, ["a@2018", "b@2017", "b@2019"]);

    let cube = Cube::open(CubeStorage::local(&path))
        .expect("geocube opens the temporal smart-geocubes cube");
    let layout = cube.layout();
    assert_eq!(layout.title, "InteropTemporal");
    assert_eq!(
        layout.time.as_deref(),
        Some(steps().as_slice()),
        "time axis"
    );
    assert_eq!(layout.chunk_shape, (T_CHUNK, T_CHUNK));
    let vars: Vec<_> = layout
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.dtype))
        .collect();
    assert_eq!(vars, [("A00", DType::Float32), ("A01", DType::Uint8)]);
    assert_eq!(*layout.geobox.crs(), Crs::wgs84());
    assert_eq!(layout.geobox.shape(), (T_SIZE, T_SIZE));
    let (ga, pa) = (layout.geobox.affine(), made["extent"]["affine"].clone());
    let pa: Vec<f64> = serde_json::from_value(pa).expect("affine");
    for (got, want) in [ga.res_x, ga.x0, ga.res_y, ga.y0]
        .iter()
        .zip([pa[0], pa[2], pa[4], pa[5]])
    {
        assert!(
            (got - want).abs() < 1e-12,
            "geocube affine {ga:?} vs smart-geocubes {pa:?}"
        );
    }
    assert_eq!(json!(layout.geobox.xs().len()), json!(T_SIZE));
    assert_eq!(
        cube.loaded_patches().expect("ids"),
        strings(&made["loaded_patches"])
    );

    let mut planes = vec![Plane::empty(T_SIZE, T_SIZE); 3];
    // Load order follows touching_patches: tile by tile, time by time.
    planes[1].apply_sgc(&a, Some(1));
    planes[0].apply_sgc(&b, Some(0));
    planes[2].apply_sgc(&b, Some(2));
    let ds = cube
        .read_window(layout.geobox.full_window(), None)
        .expect("read");
    assert_eq!(ds.time.as_deref(), Some(steps().as_slice()));
    let a00 = ds
        .variable("A00")
        .and_then(|v| v.data.as_array::<f32>())
        .expect("A00");
    let a01 = ds
        .variable("A01")
        .and_then(|v| v.data.as_array::<u8>())
        .expect("A01");
    assert_eq!(a00.shape(), [3, T_SIZE, T_SIZE]);
    let val: Vec<f32> = planes.iter().flat_map(|p| p.val.clone()).collect();
    let aux: Vec<i64> = planes.iter().flat_map(|p| p.aux.clone()).collect();
    assert_f32_bits(
        "A00 in geocube",
        T_SIZE,
        a00.iter().map(|v| v.to_bits()),
        &val,
    );
    assert_ints(
        "A01 in geocube",
        T_SIZE,
        &a01.iter().map(|v| i64::from(*v)).collect::<Vec<_>>(),
        &aux,
    );

    // geocube adds a 2018 patch; xarray sees it and the right time axis.
    let c = Tile::new("c", 150, 0, 50, 60);
    cube.write_patch(&temporal_patch(&layout.geobox, &c, 1))
        .expect("write");
    planes[1].apply_geocube(&c, Some(1));
    let x = run_py(
        &py,
        "read_xarray.py",
        &json!({"path": path, "full": ["A00", "A01"]}),
    );
    assert_eq!(x["coords"]["time"]["iso"], made["time"]);
    let mut want_ids = strings(&made["loaded_patches"]);
    want_ids.push("c@2018".into());
    assert_eq!(strings(&x["attrs"]["loaded_patches"]), want_ids);
    let val: Vec<f32> = planes.iter().flat_map(|p| p.val.clone()).collect();
    let aux: Vec<i64> = planes.iter().flat_map(|p| p.aux.clone()).collect();
    assert_f32_bits(
        "A00 in xarray",
        T_SIZE,
        py_f32_bits(&x["full"]["A00"]),
        &val,
    );
    assert_ints("A01 in xarray", T_SIZE, &py_ints(&x["full"]["A01"]), &aux);
}

// ---------------------------------------------------------------------------
// 3. Metadata documents, side by side
// ---------------------------------------------------------------------------

/// Differences between a geocube cube's and a smart-geocubes cube's metadata
/// documents (same spec, `ChunkCodec::Reference`) that are accepted, as
/// `(document, JSON pointer, reason)`. Everything else must be identical.
///
/// Empty on purpose: with `ChunkCodec::Reference` every document can be
/// identical, so every difference found so far (x `units`, `dimension_names`
/// of the `spatial_ref` scalar, its stored value, last-bit coordinate values)
/// is treated as an incompatibility to fix in geocube, not waved through.
/// A difference belongs here only with a reason why no reader can tell.
const ALLOWED_METADATA_DIFFERENCES: &[(&str, &str, &str)] = &[];

/// Every leaf where two JSON documents differ, as JSON pointers (object key order ignored).
fn json_diff(a: &Value, b: &Value, at: &str, out: &mut Vec<(String, String, String)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => json_diff(u, v, &p, out),
                    (u, v) => out.push((p, short(u), short(v))),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                json_diff(u, v, &format!("{at}/{i}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push((at.to_owned(), short(Some(a)), short(Some(b)))),
    }
}

fn short(v: Option<&Value>) -> String {
    let s = v.map_or_else(|| "<absent>".to_owned(), Value::to_string);
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

fn compare_metadata(py: &Path, geocube_spec: &CubeSpec, label: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = dir.path().join("geocube");
    let theirs = dir.path().join("sgc");
    Cube::create(CubeStorage::local(&ours), geocube_spec)
        .execute()
        .expect("create");
    run_py(
        py,
        "sgc_cube.py",
        &merge(
            sgc_cube_request(&theirs, geocube_spec),
            json!({"create": true}),
        ),
    );
    let ours = run_py(py, "dump_metadata.py", &json!({"path": ours}));
    let theirs = run_py(py, "dump_metadata.py", &json!({"path": theirs}));
    let docs = |v: &Value| -> BTreeMap<String, Value> {
        v["documents"]
            .as_object()
            .expect("documents")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let (our_docs, their_docs) = (docs(&ours), docs(&theirs));
    let mut ck = Checks::default();
    ck.eq(
        "metadata documents (geocube vs smart-geocubes)",
        our_docs.keys().collect::<Vec<_>>(),
        their_docs.keys().collect::<Vec<_>>(),
    );
    // The keys of an empty cube: the coordinate chunks and nothing else.
    ck.eq(
        "keys (geocube vs smart-geocubes)",
        &ours["keys"],
        &theirs["keys"],
    );
    for (key, doc) in &our_docs {
        let Some(their) = their_docs.get(key) else {
            continue;
        };
        let mut diffs = vec![];
        json_diff(doc, their, "", &mut diffs);
        for (pointer, got, want) in diffs {
            let allowed = ALLOWED_METADATA_DIFFERENCES
                .iter()
                .any(|(d, p, _)| *d == key && *p == pointer);
            ck.that(allowed, || {
                format!("{key} {pointer}: geocube {got} vs smart-geocubes {want}")
            });
        }
    }
    // The coordinate values (and the spatial_ref scalar) as zarr decodes them.
    for name in ["x", "y", "time", "spatial_ref"] {
        ck.eq(
            &format!("decoded `{name}` (geocube vs smart-geocubes)"),
            &ours["values"][name],
            &theirs["values"][name],
        );
    }
    ck.finish(&format!("{label}: geocube's empty cube vs smart-geocubes'"));
}

#[test]
fn metadata_documents_match_smart_geocubes_spatial() {
    let Some(py) = python() else { return };
    compare_metadata(
        &py,
        &spatial_spec("InteropDEM", ChunkCodec::Reference),
        "spatial",
    );
}

#[test]
fn metadata_documents_match_smart_geocubes_temporal() {
    let Some(py) = python() else { return };
    compare_metadata(
        &py,
        &temporal_spec("InteropTemporal", ChunkCodec::Reference),
        "temporal",
    );
}

// ---------------------------------------------------------------------------
// 4. A compacted, re-encoded geocube cube in the Python stack
// ---------------------------------------------------------------------------

/// A cube geocube wrote fast (default codec, one commit per tile), then
/// compacted with a re-encoding to the reference codec ("write fast now,
/// small later"): icechunk-python 1.x and xarray read every pixel, its array
/// documents are the ones smart-geocubes writes, and smart-geocubes keeps
/// extending it.
#[test]
fn compacted_reencoded_cube_opens_in_smart_geocubes() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cube");
    let spec = spatial_spec("InteropDEM", ChunkCodec::Default);
    let cube = Cube::create(CubeStorage::local(&path), &spec)
        .format(IcechunkFormat::V1)
        .execute()
        .expect("create");
    let gb = spec.geobox.clone();
    let mut model = Plane::empty(HEIGHT, WIDTH);
    for t in &GEOCUBE_TILES {
        cube.write_patch(&spatial_patch(&gb, t)).expect("write");
        model.apply_geocube(t, None);
    }
    let report = cube
        .compact(
            &CompactOptions::default()
                .grace(Duration::ZERO)
                .reencode(Some(ChunkCodec::Reference)),
        )
        .expect("compact");
    eprintln!("compacted: {report:?}");
    assert!(report.reencoded.is_some(), "{report:?}");
    assert_eq!(report.history_after, 2, "{report:?}");
    assert!(report.chunks_deleted > 0, "{report:?}");
    let ids = ["g1", "g2", "g3"];

    // Icechunk 1.x + xarray: the V1 repository opens, every pixel as written.
    let x = run_py(
        &py,
        "read_xarray.py",
        &json!({"path": path, "full": ["dem", "datamask"]}),
    );
    assert_eq!(
        x["ok"], true,
        "Icechunk 1.x cannot open the compacted cube: {x}"
    );
    assert_eq!(x["attrs"]["loaded_patches"], json!(ids));
    assert_f32_bits(
        "dem of the compacted cube in xarray",
        WIDTH,
        py_f32_bits(&x["full"]["dem"]),
        &model.val,
    );
    assert_ints(
        "datamask of the compacted cube in xarray",
        WIDTH,
        &py_ints(&x["full"]["datamask"]),
        &model.aux,
    );

    // Its data variables' documents are smart-geocubes' own, codecs included.
    let theirs = dir.path().join("sgc");
    let reference = spatial_spec("InteropDEM", ChunkCodec::Reference);
    run_py(
        &py,
        "sgc_cube.py",
        &merge(
            sgc_cube_request(&theirs, &reference),
            json!({"create": true}),
        ),
    );
    let ours = run_py(&py, "dump_metadata.py", &json!({"path": path}));
    let theirs = run_py(&py, "dump_metadata.py", &json!({"path": theirs}));
    for doc in ["dem/zarr.json", "datamask/zarr.json"] {
        assert_eq!(
            ours["documents"][doc], theirs["documents"][doc],
            "{doc}: the re-encoded cube vs smart-geocubes'"
        );
    }

    // smart-geocubes loads a tile of its own into it, downloading none of geocube's.
    let tiles: Vec<Value> = GEOCUBE_TILES
        .iter()
        .chain([&AFTER_TILE])
        .map(|t| t.json(&[]))
        .collect();
    let again = run_py(
        &py,
        "sgc_cube.py",
        &merge(
            sgc_cube_request(&path, &reference),
            json!({"tiles": tiles, "load_window": [250, 0, 50, WIDTH], "forbid_download": ids,
                   "full": ["dem", "datamask"]}),
        ),
    );
    assert_eq!(
        again["loaded_patches"],
        json!(["g1", "g2", "g3", "t-after"])
    );
    model.apply_sgc(&AFTER_TILE, None);
    assert_f32_bits(
        "dem in smart-geocubes after compaction and its own write",
        WIDTH,
        py_f32_bits(&again["full"]["dem"]),
        &model.val,
    );
    assert_ints(
        "datamask in smart-geocubes after compaction and its own write",
        WIDTH,
        &py_ints(&again["full"]["datamask"]),
        &model.aux,
    );
    let cube = Cube::open(CubeStorage::local(&path)).expect("reopen");
    let (val, aux) = geocube_planes(&cube, "dem", "datamask");
    assert_f32_bits("dem in geocube at the end", WIDTH, val, &model.val);
    assert_ints("datamask in geocube at the end", WIDTH, &aux, &model.aux);
}
