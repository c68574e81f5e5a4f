//! `cargo xtask fixtures`: generate a fixture directory.

use std::path::PathBuf;
use std::time::Instant;

use geocube_testkit::{Preset, fixtures};

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
}

/// The default output directory of a preset.
pub(crate) fn default_dir(preset: Preset) -> PathBuf {
    PathBuf::from("target").join("fixtures").join(preset.name())
}

pub(crate) fn run(args: &Args) -> geocube_testkit::Result<()> {
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
