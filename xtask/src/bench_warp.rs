//! `cargo xtask bench --warp`: warped chunks per second, geocube against
//! rasterio/GDAL on the same chunk, in one run.
//!
//! The release `warp-chunks` runner (benches) writes a 2048² EPSG:3413
//! 10 m cube chunk's UTM 7N 10 m source (float32 and uint16) and both
//! grids into a work directory and times `geocube_core::warp::reproject`
//! on one rayon thread and on the default pool; then
//! `benches/python/warp_rasterio.py` times `rasterio.warp.reproject` of the
//! same arrays onto the same grid (XSCALE=1, YSCALE=1, error threshold
//! 0.125, `num_threads=1` and all CPUs), in process, and compares its
//! results with geocube's. Both take the median of `reps` runs after a
//! warm-up; the two run one kernel and type at a time, geocube then
//! rasterio, so that each pair compared is timed seconds apart (the
//! machine is shared: a load that comes and goes then weighs on both).
//!
//! The interpreter is `GEOCUBE_PYTHON`, else the test venv
//! (`ci/python-env.sh`). A markdown table on stdout, `target/bench/warp.json`.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

/// The kernels and types timed, in the table's order.
const KERNELS: [&str; 4] = ["nearest", "bilinear", "cubic", "average"];
const DTYPES: [&str; 2] = ["float32", "uint16"];

pub(crate) fn run(root: &Path, reps: usize, target: &Path) -> Result<(), String> {
    eprintln!("building warp-chunks (release, {})", target.display());
    crate::bench::build_release("geocube-benches", "warp-chunks")?;
    let python = match std::env::var_os("GEOCUBE_PYTHON") {
        Some(p) => p.to_string_lossy().into_owned(),
        None => crate::test::python_env(root)?,
    };
    let load = crate::bench::load_average();
    let work = root.join("target").join("bench").join("warp-work");
    let _ = std::fs::remove_dir_all(&work);
    let (mut ours, mut theirs) = (Value::Null, Value::Null);
    let (mut our_rows, mut their_rows) = (vec![], vec![]);
    for dtype in DTYPES {
        for kernel in KERNELS {
            ours = run_json(
                Command::new(target.join("release").join("warp-chunks"))
                    .arg(&work)
                    .arg(reps.to_string())
                    .args(["2048", dtype, kernel]),
                "warp-chunks",
            )?;
            theirs = run_json(
                Command::new(&python)
                    .arg(root.join("benches").join("python").join("warp_rasterio.py"))
                    .arg(&work)
                    .arg(reps.to_string())
                    .args([dtype, kernel]),
                "warp_rasterio.py",
            )?;
            our_rows.extend(ours["rows"].as_array().cloned().unwrap_or_default());
            their_rows.extend(theirs["rows"].as_array().cloned().unwrap_or_default());
        }
    }
    ours["rows"] = Value::Array(our_rows);
    theirs["rows"] = Value::Array(their_rows);
    let _ = std::fs::remove_dir_all(&work);
    let row = |all: &Value, dtype: &str, kernel: &str, threads: &str| -> Option<Value> {
        all["rows"]
            .as_array()?
            .iter()
            .find(|r| r["dtype"] == dtype && r["kernel"] == kernel && r["threads"] == threads)
            .cloned()
    };
    let rate = |r: &Option<Value>| {
        r.as_ref()
            .and_then(|r| r["chunks_per_s"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let mpx = |r: &Option<Value>| {
        r.as_ref()
            .and_then(|r| r["mpx_per_s"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let chunk = &ours["chunk"];
    println!(
        "warp of one {}x{} px EPSG:3413 10 m chunk from its {}x{} px UTM 7N 10 m source; chunks/s (Mpx/s), median of {reps}; all = {} threads; rasterio {} / GDAL {}; load average {load:.2} at the start",
        chunk[1],
        chunk[0],
        ours["source"][1],
        ours["source"][0],
        ours["threads_all"],
        theirs["rasterio"].as_str().unwrap_or("?"),
        theirs["gdal"].as_str().unwrap_or("?"),
    );
    println!();
    println!(
        "| kernel | type | geocube 1 thread | geocube all | rasterio 1 thread | rasterio all | ratio 1 thread | ratio all | same as rasterio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut table = vec![];
    for dtype in DTYPES {
        for kernel in KERNELS {
            let g1 = row(&ours, dtype, kernel, "1");
            let ga = row(&ours, dtype, kernel, "all");
            let r1 = row(&theirs, dtype, kernel, "1");
            let ra = row(&theirs, dtype, kernel, "all");
            let agree = ra
                .as_ref()
                .map(|r| r["agreement"].clone())
                .unwrap_or(Value::Null);
            let same = match (
                agree["equal_fraction"].as_f64(),
                agree["max_abs_diff"].as_f64(),
                agree["valid_differing"].as_u64(),
            ) {
                (Some(eq), Some(max), Some(mask)) => format!(
                    "{:.2} % equal, max diff {max:.3}, {mask} px valid in one only",
                    eq * 100.0
                ),
                _ => "?".into(),
            };
            println!(
                "| {kernel} | {dtype} | {:.2} ({:.1}) | {:.2} ({:.1}) | {:.2} ({:.1}) | {:.2} ({:.1}) | {:.2} | {:.2} | {same} |",
                rate(&g1),
                mpx(&g1),
                rate(&ga),
                mpx(&ga),
                rate(&r1),
                mpx(&r1),
                rate(&ra),
                mpx(&ra),
                rate(&g1) / rate(&r1),
                rate(&ga) / rate(&ra),
            );
            table.push(json!({
                "kernel": kernel,
                "dtype": dtype,
                "geocube_chunks_per_s": {"1": rate(&g1), "all": rate(&ga)},
                "rasterio_chunks_per_s": {"1": rate(&r1), "all": rate(&ra)},
                "ratio": {"1": rate(&g1) / rate(&r1), "all": rate(&ga) / rate(&ra)},
                "agreement": agree,
            }));
        }
    }
    let dir = root.join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("warp.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&json!({ "load_average_at_start": load, "geocube": ours, "rasterio": theirs, "table": table }))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Run `cmd` (stderr shown) and parse the last line of its stdout as JSON.
fn run_json(cmd: &mut Command, what: &str) -> Result<Value, String> {
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .map_err(|e| format!("{what} printed no JSON ({e}): {text}"))
}
