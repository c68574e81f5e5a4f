//! `cargo xtask fixtures`: generate a fixture directory (an ArcticDEM-like
//! mosaic preset, or with `--sentinel2` the Sentinel-2-like collection).

use std::path::PathBuf;
use std::time::Instant;

use geocube_testkit::{Preset, fixtures, sentinel2};

/// Arguments of `cargo xtask fixtures`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Size of the mosaic: tiny (3×3 tiles of 500 px), small (4×4 of 3125 px),
    /// large (6×6 of 3125 px), all 32 m, or 2m (2×2 sub-tiles of 25000 px at
    /// 2 m, drawn from a few distinct blocks: a few MB).
    #[arg(long, default_value = "tiny")]
    preset: Preset,
    /// Output directory [default: target/fixtures/<preset>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Regenerate even when the directory is up to date.
    #[arg(long)]
    force: bool,
    /// Generate the Sentinel-2-like collection instead of a mosaic: 24
    /// items on UTM zones 7 and 8, six dates [default out:
    /// target/fixtures/sentinel2].
    #[arg(long, conflicts_with = "preset")]
    sentinel2: bool,
}

/// The default output directory of a preset.
pub(crate) fn default_dir(preset: Preset) -> PathBuf {
    PathBuf::from("target").join("fixtures").join(preset.name())
}

pub(crate) fn run(args: &Args) -> geocube_testkit::Result<()> {
    if args.sentinel2 {
        return run_sentinel2(args);
    }
    let out = args.out.clone().unwrap_or_else(|| default_dir(args.preset));
    if !args.force && fixtures::is_up_to_date(args.preset, &out) {
        println!("fixtures {} up to date in {}", args.preset, out.display());
        return Ok(());
    }
    let started = Instant::now();
    let manifest = fixtures::generate(args.preset, &out)?;
    let bytes: u64 = manifest
        .tiles
        .iter()
        .map(|t| t.dem_file_size + t.datamask_file_size)
        .sum();
    println!(
        "generated {} tiles ({:.1} MB of rasters) of preset {} in {} ({:.1} s)",
        manifest.tiles.len(),
        bytes as f64 / 1e6,
        args.preset,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_sentinel2(args: &Args) -> geocube_testkit::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target").join("fixtures").join("sentinel2"));
    if !args.force && sentinel2::is_up_to_date(&out) {
        println!("sentinel-2 fixtures up to date in {}", out.display());
        return Ok(());
    }
    let started = Instant::now();
    let manifest = sentinel2::generate(&out)?;
    let bytes: u64 = manifest
        .items
        .iter()
        .flat_map(|i| &i.assets)
        .map(|a| a.file_size)
        .sum();
    println!(
        "generated {} sentinel-2 items ({:.1} MB of COGs) in {} ({:.1} s)",
        manifest.items.len(),
        bytes as f64 / 1e6,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
