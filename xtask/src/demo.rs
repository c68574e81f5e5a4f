//! `cargo xtask demo`: the main job, end to end on generated fixtures.
//!
//! Generates the ArcticDEM-like fixtures, serves them on a free loopback
//! port (COGs with range requests, a STAC API, the GeoParquet index), runs a
//! cold and then a warm `geocube load` of an ROI touching four tiles through
//! the real command-line program, prints what each cost, writes a shaded
//! relief PNG of the ROI and a PNG of the cube's state, and stops the server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use geocube_testkit::server::{FixtureServer, ServerOptions};
use geocube_testkit::{FixtureManifest, Preset, fixtures};

use crate::test::workspace_root;

/// Arguments of `cargo xtask demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Fixture size: tiny (16 km tiles) or small (real 100 km, 3125 px tiles).
    #[arg(long, default_value = "small")]
    preset: Preset,
    /// Where the cube and the pictures go [default: target/demo].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Chunk codec of the demo cube (`default`, `reference`, `blosc-zstd:5`, ...).
    #[arg(long, default_value = "default")]
    codec: String,
}

/// One `geocube load` run.
struct Run {
    label: &'static str,
    seconds: f64,
    downloaded: u64,
    touching: u64,
    mb_returned: f64,
    summary: serde_json::Value,
}

fn step(msg: &str) {
    eprintln!("demo: {msg}");
}

fn geocube(bin: &Path, args: &[String]) -> Result<(f64, String), String> {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let seconds = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "`geocube {}` failed ({})",
            args.join(" "),
            out.status
        ));
    }
    Ok((seconds, String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[allow(clippy::cast_precision_loss)]
fn load(bin: &Path, label: &'static str, args: &[String]) -> Result<Run, String> {
    let (seconds, stdout) = geocube(bin, args)?;
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("`geocube load --json` printed no JSON ({e}): {stdout}"))?;
    let px =
        summary["shape"]["x"].as_u64().unwrap_or(0) * summary["shape"]["y"].as_u64().unwrap_or(0);
    let bytes_per_px: u64 = summary["variables"]
        .as_object()
        .map(|vars| {
            vars.values()
                .map(|v| match v["dtype"].as_str() {
                    Some("float64") => 8,
                    Some("float32" | "int32") => 4,
                    Some("uint16" | "int16") => 2,
                    _ => 1,
                })
                .sum()
        })
        .unwrap_or(0);
    Ok(Run {
        label,
        seconds,
        downloaded: summary["patches"]["downloaded"]
            .as_array()
            .map_or(0, |a| a.len() as u64),
        touching: summary["patches"]["touching"]
            .as_array()
            .map_or(0, |a| a.len() as u64),
        mb_returned: (px * bytes_per_px) as f64 / 1e6,
        summary,
    })
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            if e.path().is_dir() {
                dir_size(&e.path())
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

/// An ROI of 60% of a tile around the corner shared by four tiles near the
/// middle of the mosaic, in EPSG:3413.
fn roi(manifest: &FixtureManifest) -> [f64; 4] {
    let b = &manifest.mosaic_bounds;
    let tile = f64::from(manifest.layout.tile_px) * manifest.resolution;
    let nx = ((b.xmax - b.xmin) / tile).round().max(2.0);
    let ny = ((b.ymax - b.ymin) / tile).round().max(2.0);
    let cx = b.xmin + tile * (nx / 2.0).floor();
    let cy = b.ymax - tile * (ny / 2.0).floor();
    let h = 0.3 * tile;
    [cx - h, cy - h, cx + h, cy + h]
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    // The demo loads `arcticdem-32m` and draws its region: the 2 m preset's
    // corner region alone would be 280 Mpx.
    if !args.preset.layout().mosaic.is_32m() {
        return Err(format!(
            "the demo runs on the 32 m presets (tiny, small, large); the {} preset is for the \
             tests and `cargo xtask bench --scenarios two-metre`",
            args.preset
        ));
    }
    let root = workspace_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target").join("demo"));
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let fixtures_dir = root.join(crate::fixtures::default_dir(args.preset));
    if fixtures::is_up_to_date(args.preset, &fixtures_dir) {
        step(&format!(
            "fixtures: {} (up to date)",
            fixtures_dir.display()
        ));
    } else {
        step(&format!(
            "generating the {} fixtures in {} ...",
            args.preset.name(),
            fixtures_dir.display()
        ));
        let t = Instant::now();
        fixtures::generate(args.preset, &fixtures_dir).map_err(|e| e.to_string())?;
        step(&format!(
            "fixtures generated in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }
    let manifest = FixtureManifest::load(&fixtures_dir).map_err(|e| e.to_string())?;

    step("building the geocube command ...");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--package",
            "geocube",
            "--bin",
            "geocube",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err("building the geocube command failed".into());
    }
    let bin = root.join("target").join("debug").join(if cfg!(windows) {
        "geocube.exe"
    } else {
        "geocube"
    });

    let server =
        FixtureServer::start(&fixtures_dir, ServerOptions::default()).map_err(|e| e.to_string())?;
    step(&format!("serving the fixtures at {}", server.base_url()));

    let store = out.join("arcticdem-32m.icechunk");
    if store.exists() {
        std::fs::remove_dir_all(&store)
            .map_err(|e| format!("cannot clear {}: {e}", store.display()))?;
    }
    let [w, s, e, n] = roi(&manifest);
    let tif = out.join("roi.tif");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "load",
            "arcticdem-32m",
            "--store",
            &store.to_string_lossy(),
            "--bbox",
            &format!("{w},{s},{e},{n}"),
            "--crs",
            "EPSG:3413",
            "--stac-url",
            &server.stac_api_url(),
            "--aux-dir",
            &fixtures_dir.to_string_lossy(),
            "--json",
            "--quiet",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        v.extend(extra.iter().map(ToString::to_string));
        v
    };
    step(&format!(
        "cold load of [{w}, {s}, {e}, {n}] (EPSG:3413) into a new cube ..."
    ));
    let cold = load(&bin, "cold", &common(&["--create", "--codec", &args.codec]))?;
    step("warm load of the same ROI ...");
    let warm = load(&bin, "warm", &common(&["--out", &tif.to_string_lossy()]))?;

    let state_png = out.join("cube-state.png");
    geocube(
        &bin,
        &[
            "status".into(),
            "--store".into(),
            store.to_string_lossy().into_owned(),
            "--png".into(),
            state_png.to_string_lossy().into_owned(),
            "--stac-url".into(),
            server.stac_api_url(),
            "--aux-dir".into(),
            fixtures_dir.to_string_lossy().into_owned(),
            "--quiet".into(),
        ],
    )?;
    let roi_png = out.join("roi.png");
    crate::relief::render_geotiff(&tif, &roi_png)?;
    let requests = server.request_count("/");
    drop(server);

    println!();
    println!("| run  | seconds | patches touching | downloaded | MB returned |");
    println!("|------|--------:|-----------------:|-----------:|------------:|");
    for r in [&cold, &warm] {
        println!(
            "| {:<4} | {:>7.2} | {:>16} | {:>10} | {:>11.1} |",
            r.label, r.seconds, r.touching, r.downloaded, r.mb_returned
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let cube_mb = dir_size(&store) as f64 / 1e6;
    println!();
    println!("cube on disk: {cube_mb:.1} MB at {}", store.display());
    println!("HTTP requests served: {requests}");
    if let Some(vars) = warm.summary["variables"].as_object() {
        for (name, v) in vars {
            println!(
                "{name}: mean {} min {} max {} valid {}",
                v["mean"], v["min"], v["max"], v["valid_count"]
            );
        }
    }
    println!("ROI GeoTIFF:      {}", tif.display());
    println!("ROI shaded relief: {}", roi_png.display());
    println!("cube state:        {}", state_png.display());
    if warm.downloaded != 0 {
        return Err(format!(
            "the warm load downloaded {} patches; it should download none",
            warm.downloaded
        ));
    }
    Ok(())
}
