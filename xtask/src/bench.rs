//! `cargo xtask bench`: the criterion benches and the end-to-end scenarios.
//!
//! Everything heavy is built in release into `target/release-bench` (so a
//! long build never holds the shared target directory's lock) and each
//! scenario repetition runs in its own process (`bench-scenario` of
//! `geocube-benches`), which reports its wall time, its floor and its peak
//! RSS (`VmHWM`, from the kernel). This module only orchestrates, takes
//! medians and prints: a markdown table on stdout, `target/bench/report.json`.
//!
//! The criterion benches print their own figures (to stderr); those of the
//! `bookkeeping` bench (the cost of `loaded_patches` at 10⁴-10⁶ recorded
//! ids) are also read back from criterion's estimates into a table of their
//! own and into the report.
//!
//! The memory scenarios (issue 11's figures: a load of the four 25000²
//! sub-tiles of the `2m` preset, a prefetch of all 36 tiles of `large`) run
//! on presets of their own, with the default codec only, `--memory-reps`
//! times, in the full run (not with `--quick`: each takes a minute or more)
//! or when named in `--scenarios`; the bench fails when one's median peak
//! RSS is over 1.5 GB.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use geocube_testkit::{Preset, fixtures};
use serde_json::{Value, json};

/// Arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// CI mode: the tiny preset, every scenario once, criterion in test mode.
    #[arg(long)]
    quick: bool,
    /// Fixture preset of the scenarios [default: small, tiny with --quick].
    #[arg(long)]
    preset: Option<Preset>,
    /// Repetitions per scenario with the default codec (median reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Repetitions of the cold scenarios with the `reference` codec (blosc
    /// zstd clevel 9, ~5 MB/s: slow) [default: 2, 1 with --quick].
    #[arg(long)]
    reference_reps: Option<usize>,
    /// Skip the criterion benches.
    #[arg(long)]
    no_criterion: bool,
    /// Only these scenarios (cold, warm, sweep, threads, processes,
    /// two-metre, prefetch-all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Repetitions of each memory scenario (median reported).
    #[arg(long, default_value_t = 1)]
    memory_reps: usize,
    /// Codecs to run: `default`, `reference` (cold scenarios only, with
    /// `--reference-reps`) or any `geocube create --codec` spelling such as
    /// `blosc-zstd:5`.
    #[arg(long, value_delimiter = ',', default_value = "default,reference")]
    codecs: Vec<String>,
    /// Only the Python package's benchmark (release wheel: the binding's
    /// overhead against the command line, 4 threads against 1, peak RSS).
    #[arg(long)]
    python: bool,
    /// Only the S3 scenarios (moto on loopback): a cold load by 4 processes
    /// into a bucket beside a local directory, and the commit latency of 8
    /// and 32 concurrent writers.
    #[arg(long)]
    s3: bool,
    /// Only the Earth Engine scenarios (the loopback emulator): cold loads
    /// of TCTrend and AlphaEarth chunks, in chunks per second.
    #[arg(long)]
    ee: bool,
    /// Only the warp bench: one 2048² EPSG:3413 chunk warped from its
    /// 10 m UTM source (nearest, bilinear, cubic, average; float32 and
    /// uint16) by geocube and by rasterio/GDAL, 1 thread and all, in
    /// chunks per second.
    #[arg(long)]
    warp: bool,
    /// Label of this run in the report (e.g. before / after).
    #[arg(long, default_value = "")]
    label: String,
}

const SCENARIOS: [(&str, &str); 5] = [
    ("cold", "cold load, ROI touching 4 tiles"),
    ("warm", "same ROI, warm (all cached)"),
    ("sweep", "8 adjacent ROIs over the mosaic, cold"),
    (
        "threads",
        "4 threads, 4 overlapping ROIs, one accessor, cold",
    ),
    (
        "processes",
        "4 processes, 4 overlapping ROIs, one cube, cold",
    ),
];

/// Issue 11's bound on the peak RSS of each memory scenario: 1.5 GB.
const MEMORY_BOUND_BYTES: f64 = 1.5e9;

/// The memory scenarios and the preset each runs on.
const MEMORY_SCENARIOS: [(&str, &str, Preset); 2] = [
    (
        "two-metre",
        "load of a 2 km box across the four 25000² sub-tiles of `2m`, streamed, cold",
        Preset::TwoMetre,
    ),
    (
        "prefetch-all",
        "prefetch of all 36 tiles of `large`, cold",
        Preset::Large,
    ),
];

const TARGET_DIR: &str = "target/release-bench";

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // Absolute: criterion resolves a relative target directory against the
    // bench package's directory and would write its reports under benches/.
    let dir =
        std::env::current_dir().map_or_else(|_| PathBuf::from(TARGET_DIR), |d| d.join(TARGET_DIR));
    c.env("CARGO_TARGET_DIR", dir);
    c
}

/// Build `bin` of `package` in release into the bench's target directory.
pub(crate) fn build_release(package: &str, bin: &str) -> Result<(), String> {
    status(
        cargo().args(["build", "--release", "--quiet", "-p", package, "--bin", bin]),
        &format!("cargo build {bin}"),
    )
}

pub(crate) fn status(cmd: &mut Command, what: &str) -> Result<(), String> {
    let st = cmd.status().map_err(|e| format!("{what}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({st})"))
    }
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let preset = args.preset.unwrap_or(if args.quick {
        Preset::Tiny
    } else {
        Preset::Small
    });
    let reps = if args.quick { 1 } else { args.reps.max(1) };
    if args.s3 {
        let target = std::env::current_dir()
            .map_or_else(|_| PathBuf::from(TARGET_DIR), |d| d.join(TARGET_DIR));
        return crate::bench_s3::run(preset, reps, &target);
    }
    if args.ee {
        let target = std::env::current_dir()
            .map_or_else(|_| PathBuf::from(TARGET_DIR), |d| d.join(TARGET_DIR));
        return crate::bench_ee::run(reps, &target);
    }
    if args.warp {
        let target = std::env::current_dir()
            .map_or_else(|_| PathBuf::from(TARGET_DIR), |d| d.join(TARGET_DIR));
        return crate::bench_warp::run(&crate::test::workspace_root(), reps, &target);
    }
    if args.python {
        let target = std::env::current_dir()
            .map_or_else(|_| PathBuf::from(TARGET_DIR), |d| d.join(TARGET_DIR));
        return crate::bench_python::run(&crate::test::workspace_root(), preset, reps, &target);
    }
    let ref_reps = args
        .reference_reps
        .unwrap_or(if args.quick { 1 } else { 2 });
    let named = |name: &str| args.scenarios.iter().any(|s| s == name);
    let main: Vec<(&str, &str)> = SCENARIOS
        .into_iter()
        .filter(|(name, _)| args.scenarios.is_empty() || named(name))
        .collect();
    let memory: Vec<(&str, &str, Preset)> = MEMORY_SCENARIOS
        .into_iter()
        .filter(|(name, ..)| {
            if args.scenarios.is_empty() {
                !args.quick
            } else {
                named(name)
            }
        })
        .collect();
    let dir = crate::fixtures::default_dir(preset);
    if !main.is_empty() {
        ensure_fixtures(preset, &dir)?;
    }
    eprintln!("building the scenario runner (release, {TARGET_DIR})");
    build_release("geocube-benches", "bench-scenario")?;
    if !args.no_criterion {
        eprintln!("criterion benches");
        let mut c = cargo();
        c.args(["bench", "-p", "geocube-benches", "--benches"]);
        if args.quick {
            c.args(["--", "--test"]);
        }
        // Criterion's own report goes to stderr: stdout is the table.
        c.stdout(std::io::stderr());
        status(&mut c, "cargo bench")?;
    }
    let criterion_dir = std::env::current_dir()
        .map_or_else(|_| PathBuf::from(TARGET_DIR), |d| d.join(TARGET_DIR))
        .join("criterion");
    // Only figures this run measured (criterion's test mode measures none).
    let bookkeeping = if args.no_criterion || args.quick {
        vec![]
    } else {
        bookkeeping_rows(&criterion_dir)
    };
    let exe = Path::new(TARGET_DIR).join("release").join("bench-scenario");
    let work = PathBuf::from("target/bench/work");
    let load = load_average();
    let mut rows = vec![];
    if !main.is_empty() {
        // One discarded run first: the build just evicted the fixtures and
        // the binary from the page cache, and the first timed run paid for it.
        eprintln!("warm-up run (not timed)");
        run_one(&exe, &dir, "cold", "default", &work)?;
    }
    // Codecs in the order given, the slow reference codec last so a long
    // run yields the main table early; the reference runs cold scenarios
    // only (its warm reads cost what any blosc zstd's do).
    let mut codecs: Vec<&str> = args.codecs.iter().map(String::as_str).collect();
    codecs.sort_by_key(|c| *c == "reference");
    for codec in codecs {
        let n = if codec == "reference" { ref_reps } else { reps };
        for &(name, what) in &main {
            if name == "warm" && codec == "reference" {
                continue;
            }
            let mut runs = vec![];
            for i in 0..n {
                let run = run_one(&exe, &dir, name, codec, &work)?;
                eprintln!("{name} ({codec}) {}/{n}: {run}", i + 1);
                runs.push(run);
            }
            rows.push(summarise(name, what, codec, preset, &runs));
        }
    }
    let mut over_bound = vec![];
    for (name, what, own) in memory {
        let own_dir = crate::fixtures::default_dir(own);
        ensure_fixtures(own, &own_dir)?;
        let n = args.memory_reps.max(1);
        let mut runs = vec![];
        for i in 0..n {
            let run = run_one(&exe, &own_dir, name, "default", &work)?;
            eprintln!("{name} (default) {}/{n}: {run}", i + 1);
            runs.push(run);
        }
        let row = summarise(name, what, "default", own, &runs);
        let peak = row["peak_rss_mib"].as_f64().unwrap_or(f64::NAN) * 1024.0 * 1024.0;
        if peak.is_nan() || peak > MEMORY_BOUND_BYTES {
            over_bound.push(format!(
                "{name}: peak RSS {:.0} MiB",
                peak / 1024.0 / 1024.0
            ));
        }
        rows.push(row);
    }
    let _ = std::fs::remove_dir_all(&work);
    let mut table = markdown(&rows, preset, reps, ref_reps, load);
    table.push_str(&bookkeeping_markdown(&bookkeeping));
    print!("{table}");
    let report = json!({
        "label": args.label,
        "preset": preset.name(),
        "reps": reps,
        "reference_reps": ref_reps,
        "memory_reps": args.memory_reps.max(1),
        "load_average_at_start": load,
        "cpus": std::thread::available_parallelism().map_or(0, usize::from),
        "scenarios": rows,
        "bookkeeping": bookkeeping,
    });
    std::fs::create_dir_all("target/bench").map_err(|e| e.to_string())?;
    let path = Path::new("target/bench/report.json");
    std::fs::write(
        path,
        serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    eprintln!("wrote {}", path.display());
    if over_bound.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "over the 1.5 GB bound of issue 11: {}",
            over_bound.join(", ")
        ))
    }
}

pub(crate) fn ensure_fixtures(preset: Preset, dir: &Path) -> Result<(), String> {
    if !fixtures::is_up_to_date(preset, dir) {
        eprintln!("generating the {preset} fixtures in {}", dir.display());
    }
    fixtures::ensure(preset, dir)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn run_one(
    exe: &Path,
    fixtures: &Path,
    name: &str,
    codec: &str,
    work: &Path,
) -> Result<Value, String> {
    let out = Command::new(exe)
        .arg("run")
        .arg(fixtures)
        .arg(name)
        .arg(codec)
        .arg(work)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!("scenario {name} ({codec}) failed ({})", out.status));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("scenario {name} output: {e}"))
}

/// The 1-minute load average, to judge how noisy the numbers are.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

fn field(runs: &[Value], key: &str) -> Vec<f64> {
    runs.iter().filter_map(|r| r[key].as_f64()).collect()
}

fn summarise(name: &str, what: &str, codec: &str, preset: Preset, runs: &[Value]) -> Value {
    let wall = field(runs, "wall_s");
    let floor = field(runs, "floor_s");
    let (w, f) = (median(wall.clone()), median(floor.clone()));
    let strict = median(field(runs, "floor_strict_s"));
    let unique = median(field(runs, "unique_patches"));
    let downloads = median(field(runs, "downloads"));
    json!({
        "scenario": name,
        "description": what,
        "preset": preset.name(),
        "codec": codec,
        "runs": runs.len(),
        "wall_s": {"median": w, "min": wall.iter().copied().fold(f64::INFINITY, f64::min), "max": wall.iter().copied().fold(0.0, f64::max)},
        "floor_s": {"median": f, "min": floor.iter().copied().fold(f64::INFINITY, f64::min), "max": floor.iter().copied().fold(0.0, f64::max)},
        "ratio_to_floor": w / f,
        "floor_strict_s": strict,
        "ratio_to_strict_floor": w / strict,
        "commit_groups": median(field(runs, "commit_groups")),
        "floor": runs.first().map_or(Value::Null, |r| r["floor"].clone()),
        "mb_returned": median(field(runs, "bytes_returned")) / 1e6,
        "downloads": downloads,
        "unique_patches": unique,
        "downloads_per_unique_patch": if unique > 0.0 { downloads / unique } else { 0.0 },
        "mb_on_disk": median(field(runs, "bytes_on_disk")) / 1e6,
        "mb_after_compact": median(field(runs, "bytes_after_compact")) / 1e6,
        "mb_data": median(field(runs, "bytes_data")) / 1e6,
        "compact_s": median(field(runs, "compact_s")),
        "peak_rss_mib": median(field(runs, "peak_rss_kib")) / 1024.0,
        "raw": runs,
    })
}

fn markdown(rows: &[Value], preset: Preset, reps: usize, ref_reps: usize, load: f64) -> String {
    let mut s = String::new();
    let reference = if rows.iter().any(|r| r["codec"] == "reference") {
        format!(" ({ref_reps} with the slow reference codec)")
    } else {
        String::new()
    };
    let main_rows = rows
        .iter()
        .any(|r| r["preset"].as_str().is_none_or(|p| p == preset.name()));
    let what = if main_rows {
        format!("preset `{preset}`: median of {reps} runs{reference}")
    } else {
        "the memory scenarios on their own presets: median of their runs".to_owned()
    };
    let _ = writeln!(
        s,
        "\nEnd-to-end scenarios, {what}, min–max in brackets; load average at start {load:.1}.\n"
    );
    let _ = writeln!(
        s,
        "| scenario | codec | wall s | floor s | ratio | strict floor s | strict ratio | MB returned | downloads (per unique) | MB on disk | peak RSS MiB |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let own = r["preset"].as_str().unwrap_or_default();
        let scenario = r["scenario"].as_str().unwrap_or_default();
        let scenario = if own.is_empty() || own == preset.name() {
            scenario.to_owned()
        } else {
            format!("{scenario} (`{own}`)")
        };
        let line = format!(
            "| {} | {} | {:.3} [{:.3}–{:.3}] | {:.3} | {:.2}× | {:.3} | {:.2}× | {:.1} | {} ({:.2}) | {:.1} | {:.0} |",
            scenario,
            r["codec"].as_str().unwrap_or_default(),
            r["wall_s"]["median"].as_f64().unwrap_or(f64::NAN),
            r["wall_s"]["min"].as_f64().unwrap_or(f64::NAN),
            r["wall_s"]["max"].as_f64().unwrap_or(f64::NAN),
            r["floor_s"]["median"].as_f64().unwrap_or(f64::NAN),
            r["ratio_to_floor"].as_f64().unwrap_or(f64::NAN),
            r["floor_strict_s"].as_f64().unwrap_or(f64::NAN),
            r["ratio_to_strict_floor"].as_f64().unwrap_or(f64::NAN),
            r["mb_returned"].as_f64().unwrap_or(f64::NAN),
            r["downloads"].as_f64().unwrap_or(f64::NAN),
            r["downloads_per_unique_patch"].as_f64().unwrap_or(f64::NAN),
            r["mb_on_disk"].as_f64().unwrap_or(f64::NAN),
            r["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        );
        // Floors not measured (memory scenarios) show as dashes.
        let _ = writeln!(s, "{}", line.replace("NaN", "–"));
    }
    let _ = writeln!(
        s,
        "\nStore size before and after `geocube compact --grace 0s` (history expired, \
         garbage collected; untimed above), next to the compressed data the tip reaches:\n"
    );
    let _ = writeln!(
        s,
        "| scenario | codec | MB on disk | MB after compact | MB data | after / data | compact s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for r in rows {
        let after = r["mb_after_compact"].as_f64().unwrap_or(f64::NAN);
        let data = r["mb_data"].as_f64().unwrap_or(f64::NAN);
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2} |",
            r["scenario"].as_str().unwrap_or_default(),
            r["codec"].as_str().unwrap_or_default(),
            r["mb_on_disk"].as_f64().unwrap_or(f64::NAN),
            after,
            data,
            after / data,
            r["compact_s"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let _ = writeln!(
        s,
        "\nFloors: warm = zarrs decoding the same chunks from a filesystem store + crop. \
         Cold = tiff decode of the downloaded COGs + zarrs encode of the touched chunks \
         (no Icechunk, no HTTP), commit group by commit group: a load returns only once \
         its patches are committed, so the loads of the sweep, and the patches each \
         process downloaded, are separate commits that re-encode the chunks they share. \
         The strict floor encodes every chunk once, as if everything were one commit. \
         The memory scenarios run on their own presets and have no floor: it would hold \
         every chunk in memory."
    );
    s
}

/// The bookkeeping bench's sizes (ids recorded) and what it times, in its
/// criterion benchmark ids.
const BOOKKEEPING_SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];

/// The median of one criterion benchmark in ms (`<dir>/<id>/new/estimates.json`).
fn criterion_median_ms(dir: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64().map(|ns| ns / 1e6)
}

/// One row per size of the `bookkeeping` bench: the commit with and without
/// the list, their difference, the warm and the cold check, the tip
/// snapshot's and the root document's bytes. Empty when it did not run.
fn bookkeeping_rows(criterion: &Path) -> Vec<Value> {
    let sizes: Vec<Value> = std::fs::read_to_string(criterion.join("bookkeeping/sizes.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    BOOKKEEPING_SIZES
        .iter()
        .filter_map(|&n| {
            let ms = |id: String| criterion_median_ms(criterion, &id);
            let with = ms(format!("commit_one_patch/recorded/{n}"))?;
            let empty = ms(format!("commit_one_patch/empty_list/{n}"))?;
            let size = sizes.iter().find(|s| s["ids"].as_u64() == Some(n));
            Some(json!({
                "ids": n,
                "commit_ms": with,
                "commit_empty_list_ms": empty,
                "bookkeeping_ms": with - empty,
                "warm_check_ms": ms(format!("already_loaded_check/{n}")),
                "cold_read_ms": ms(format!("cold_read/{n}")),
                "snapshot_bytes": size.map(|s| s["snapshot_bytes"].clone()),
                "root_json_bytes": size.map(|s| s["root_json_bytes"].clone()),
            }))
        })
        .collect()
}

fn bookkeeping_markdown(rows: &[Value]) -> String {
    let mut s = String::new();
    if rows.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "\n`loaded_patches` bookkeeping (criterion medians): a commit of one new patch \
         writing one 16² chunk into a cube recording n ids and into one with an empty \
         list, the already-loaded check at a tip this handle committed (warm) and after \
         another handle's commit (cold), the tip snapshot and root `zarr.json`:\n"
    );
    let _ = writeln!(
        s,
        "| ids | commit ms | empty list ms | bookkeeping ms | warm check ms | cold read ms | snapshot KB | zarr.json MB |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let line = format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.2} | {:.0} | {:.2} |",
            r["ids"],
            f("commit_ms"),
            f("commit_empty_list_ms"),
            f("bookkeeping_ms"),
            f("warm_check_ms"),
            f("cold_read_ms"),
            f("snapshot_bytes") / 1e3,
            f("root_json_bytes") / 1e6,
        );
        let _ = writeln!(s, "{}", line.replace("NaN", "–"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_rows_come_from_criterion_estimates() {
        let dir = std::env::temp_dir().join(format!("xtask-bookkeeping-{}", std::process::id()));
        let put = |id: &str, ns: f64| {
            let d = dir.join(id).join("new");
            std::fs::create_dir_all(&d).expect("dir");
            let est = json!({"median": {"point_estimate": ns}});
            std::fs::write(d.join("estimates.json"), est.to_string()).expect("write");
        };
        put("commit_one_patch/recorded/10000", 2.5e6);
        put("commit_one_patch/empty_list/10000", 2.0e6);
        put("already_loaded_check/10000", 2.0e5);
        std::fs::create_dir_all(dir.join("bookkeeping")).expect("dir");
        std::fs::write(
            dir.join("bookkeeping/sizes.json"),
            json!([{"ids": 10_000, "snapshot_bytes": 14_000, "root_json_bytes": 140_000}])
                .to_string(),
        )
        .expect("write");
        let rows = bookkeeping_rows(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(rows.len(), 1, "sizes without estimates are left out");
        let md = bookkeeping_markdown(&rows);
        assert!(
            md.contains("| 10000 | 2.50 | 2.00 | 0.50 | 0.200 | – | 14 | 0.14 |"),
            "{md}"
        );
        assert!(bookkeeping_markdown(&[]).is_empty());
    }

    #[test]
    fn median_of_odd_and_even() {
        assert!((median(vec![3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((median(vec![4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn memory_rows_name_their_preset_and_show_no_floor() {
        let run = json!({"wall_s": 50.0, "floor_s": null, "floor_strict_s": null,
                         "downloads": 4, "unique_patches": 4, "peak_rss_kib": 1_228_800});
        let row = summarise("two-metre", "load", "default", Preset::TwoMetre, &[run]);
        let md = markdown(&[row], Preset::Small, 5, 2, 0.0);
        assert!(
            md.contains(
                "| two-metre (`2m`) | default | 50.000 [50.000–50.000] | – | –× | – | –× |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 4 (1.00) |") && md.contains("| 1200 |"),
            "{md}"
        );
    }

    #[test]
    fn the_compact_table_shows_sizes_and_the_ratio_to_the_data() {
        let row = json!({"scenario": "sweep", "codec": "default", "mb_on_disk": 441.8,
                         "mb_after_compact": 213.9, "mb_data": 213.8, "compact_s": 0.03});
        let md = markdown(&[row], Preset::Tiny, 1, 1, 0.0);
        assert!(
            md.contains("| sweep | default | 441.8 | 213.9 | 213.8 | 1.00× | 0.03 |"),
            "{md}"
        );
    }
}
