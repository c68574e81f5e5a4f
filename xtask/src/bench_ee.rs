//! `cargo xtask bench --ee`: cold Earth Engine loads on the loopback
//! emulator (issue 14), with the release `ee-chunks` runner: TCTrend (4
//! chunks of 3600² × 3 bands, 4 requests each) `reps` times, AlphaEarth
//! (one chunk of 3600² × 64 float32 bands and one year, 67 requests) once.
//! The emulator computes its replies on the same cores.
//!
//! A markdown table on stdout, `target/bench/ee.json`.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run_once(exe: &Path, dataset: &str, chunks: usize) -> Result<Value, String> {
    let out = Command::new(exe)
        .args([dataset, &chunks.to_string()])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "ee-chunks {dataset} {chunks} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .map_err(|e| format!("ee-chunks printed no JSON ({e}): {text}"))
}

pub(crate) fn run(reps: usize, target: &Path) -> Result<(), String> {
    eprintln!("building ee-chunks (release, {})", target.display());
    crate::bench::build_release("geocube-benches", "ee-chunks")?;
    let exe = target.join("release").join("ee-chunks");
    let mut rows = vec![];
    for (dataset, chunks, n) in [("tctrend", 4, reps), ("alphaearth", 1, 1)] {
        let mut runs = vec![];
        for i in 0..n {
            let r = run_once(&exe, dataset, chunks)?;
            eprintln!("{dataset} {}/{n}: {r}", i + 1);
            runs.push(r);
        }
        let f = |k: &str| median(runs.iter().filter_map(|r| r[k].as_f64()).collect());
        rows.push(json!({
            "dataset": dataset,
            "chunks": chunks,
            "runs": n,
            "seconds": f("seconds"),
            "chunks_per_s": f("chunks_per_s"),
            "reply_mb_per_s": f("reply_mb_per_s"),
            "requests": f("requests"),
        }));
    }
    println!("| dataset, cold | chunks | requests | wall s (median) | chunks/s | reply MB/s |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.0} |",
            r["dataset"].as_str().unwrap_or(""),
            r["chunks"],
            r["requests"],
            r["seconds"].as_f64().unwrap_or(f64::NAN),
            r["chunks_per_s"].as_f64().unwrap_or(f64::NAN),
            r["reply_mb_per_s"].as_f64().unwrap_or(f64::NAN),
        );
    }
    std::fs::create_dir_all("target/bench").map_err(|e| e.to_string())?;
    std::fs::write(
        "target/bench/ee.json",
        serde_json::to_vec_pretty(&json!({ "scenarios": rows })).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}
