//! One cube chunk warped, timed: `warp-chunks WORK_DIR [REPS] [SIZE]
//! [TYPE KERNEL]` (only that type and kernel when given).
//!
//! The chunk is `SIZE`² px (2048 by default) of a 10 m EPSG:3413 cube in
//! interior Alaska (longitude -141°, latitude 69.5°: EPSG:3413's axes are
//! turned ~96° from UTM's there); its source is the 10 m UTM 7N raster
//! covering it (a Sentinel-2-like scene, plus a margin for the kernels), as
//! the STAC loader warps a scene into each cube chunk it touches. Terrain
//! is synthetic and deterministic, float32 and the same ×10 as uint16.
//!
//! Writes the source arrays (`src_float32.bin`, `src_uint16.bin`, raw
//! little-endian, row-major) and both grids (`grids.json`) into `WORK_DIR`
//! for `benches/python/warp_rasterio.py`, then times
//! `geocube_core::warp::reproject` for each kernel and type on one rayon
//! thread and on the default pool, `REPS` times after one warm-up, and
//! writes each all-threads result (`geocube_<type>_<kernel>.bin`) for the
//! script to compare with rasterio's. Prints one JSON object on stdout.

#![allow(missing_docs, clippy::cast_precision_loss)]

use std::path::Path;
use std::time::Instant;

use geocube_core::warp::{Resampling, WarpOptions, reproject};
use geocube_core::{Affine, Crs, GeoBox, TypedArray};
use ndarray::{ArrayD, IxDyn};
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The kernels timed (the four).
const KERNELS: [Resampling; 4] = [
    Resampling::Nearest,
    Resampling::Bilinear,
    Resampling::Cubic,
    Resampling::Average,
];

/// The cube chunk's top-left corner in EPSG:3413, on multiples of 20 480 m.
const CHUNK_X0: f64 = -2_252_800.0;
const CHUNK_Y0: f64 = 245_760.0;
const RES: f64 = 10.0;

/// Source pixels added around the chunk's footprint (Lanczos reaches 3).
const MARGIN: usize = 8;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let work = Path::new(
        args.get(1)
            .ok_or("usage: warp-chunks WORK_DIR [REPS] [SIZE]")?,
    );
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5).max(1);
    let size: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2048);
    let only_type = args.get(4).map(String::as_str);
    let only_kernel = args
        .get(5)
        .map(|k| k.parse::<Resampling>())
        .transpose()
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    let err = |e: geocube_core::Error| e.to_string();

    let polar = Crs::from_epsg(3413).map_err(err)?;
    let utm = Crs::from_epsg(32607).map_err(err)?;
    let dst = GeoBox::new(
        size,
        size,
        Affine {
            x0: CHUNK_X0,
            res_x: RES,
            y0: CHUNK_Y0,
            res_y: -RES,
        },
        polar,
    )
    .map_err(err)?;
    let footprint =
        GeoBox::from_bbox(dst.bbox_in(&utm).map_err(err)?, utm.clone(), RES).map_err(err)?;
    let m = MARGIN as f64 * RES;
    let a = footprint.affine();
    let src = GeoBox::new(
        footprint.width() + 2 * MARGIN,
        footprint.height() + 2 * MARGIN,
        Affine {
            x0: a.x0 - m,
            y0: a.y0 + m,
            ..a
        },
        utm,
    )
    .map_err(err)?;

    let (h, w) = src.shape();
    let terrain = ArrayD::from_shape_fn(IxDyn(&[h, w]), |i| {
        let (r, c) = (i[0] as f64, i[1] as f64);
        // Hills of a few hundred metres and a hash for texture.
        let hash = ((i[0].wrapping_mul(73_856_093) ^ i[1].wrapping_mul(19_349_663)) % 1000) as f64;
        #[allow(clippy::cast_possible_truncation)]
        let v = (600.0
            + 250.0 * (c / 170.0).sin() * (r / 230.0).cos()
            + 40.0 * (r / 37.0).sin()
            + hash / 200.0) as f32;
        v
    });
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let terrain_u16 = terrain.mapv(|v| (v * 10.0).round() as u16);
    let sources = [
        ("float32", TypedArray::Float32(terrain)),
        ("uint16", TypedArray::Uint16(terrain_u16)),
    ];
    for (name, data) in &sources {
        write_raw(&work.join(format!("src_{name}.bin")), data)?;
    }
    let grid = |g: &GeoBox| {
        let a = g.affine();
        json!({
            "crs": format!("EPSG:{}", g.crs().epsg().unwrap_or(0)),
            "height": g.height(),
            "width": g.width(),
            "transform": [a.res_x, 0.0, a.x0, 0.0, a.res_y, a.y0],
        })
    };
    std::fs::write(
        work.join("grids.json"),
        serde_json::to_vec_pretty(&json!({"src": grid(&src), "dst": grid(&dst)}))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let mpx = (size * size) as f64 / 1e6;
    let mut rows = vec![];
    for (name, data) in &sources {
        if only_type.is_some_and(|t| t != *name) {
            continue;
        }
        for kernel in KERNELS {
            if only_kernel.is_some_and(|k| k != kernel) {
                continue;
            }
            let opts = WarpOptions::new(kernel);
            let warp = || reproject(data, &src, None, &dst, None, &opts).map_err(err);
            let time = |run: &dyn Fn() -> Result<TypedArray, String>| -> Result<(f64, TypedArray), String> {
                let mut out = run()?;
                let mut secs = vec![];
                for _ in 0..reps {
                    let t = Instant::now();
                    out = run()?;
                    secs.push(t.elapsed().as_secs_f64());
                }
                Ok((median(secs), out))
            };
            let (single, single_out) = time(&|| one.install(warp))?;
            let (all, all_out) = time(&warp)?;
            if !same_bits(&single_out, &all_out) {
                return Err(format!("{name} {kernel}: 1 thread and all threads differ"));
            }
            write_raw(&work.join(format!("geocube_{name}_{kernel}.bin")), &all_out)?;
            for (threads, secs) in [("1", single), ("all", all)] {
                let row = json!({
                    "dtype": name,
                    "kernel": kernel.name(),
                    "threads": threads,
                    "seconds": secs,
                    "chunks_per_s": 1.0 / secs,
                    "mpx_per_s": mpx / secs,
                });
                eprintln!("geocube {row}");
                rows.push(row);
            }
        }
    }
    let out: Value = json!({
        "chunk": [size, size],
        "source": [h, w],
        "reps": reps,
        "threads_all": rayon::current_num_threads(),
        "rows": rows,
    });
    println!("{out}");
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Equal bit for bit (NaN included).
fn same_bits(a: &TypedArray, b: &TypedArray) -> bool {
    match (a, b) {
        (TypedArray::Float32(x), TypedArray::Float32(y)) => x
            .iter()
            .map(|v| v.to_bits())
            .eq(y.iter().map(|v| v.to_bits())),
        _ => a == b,
    }
}

/// `data` as raw little-endian samples, row-major.
fn write_raw(path: &Path, data: &TypedArray) -> Result<(), String> {
    let bytes: Vec<u8> = match data {
        TypedArray::Float32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TypedArray::Uint16(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        _ => return Err("only float32 and uint16 are written".into()),
    };
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
