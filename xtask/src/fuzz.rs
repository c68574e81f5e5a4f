//! `cargo xtask fuzz`: the long run of the fuzz targets.
//!
//! The targets are ordinary tests (`tests/fuzz.rs` of geocube-sources,
//! geocube-core and geocube) that run a few hundred cases in `cargo test`.
//! Here they run in release, with many cases (`GEOCUBE_FUZZ_CASES`) and a
//! fresh seed per target unless `--seed` fixes one (`GEOCUBE_FUZZ_SEED`),
//! into the bench's release directory so its dependencies are reused.
//! Overflow checks stay on for geocube's own crates (release turns them
//! off), so an overflow is a failure here as in debug. The table at the end
//! has each target's cases, seed, largest allocation, peak, slowest case
//! and contained dependency panics; a failure prints the shrunk recipe and
//! the seed to replay it with.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Arguments of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cases per target.
    #[arg(long, default_value_t = 100_000)]
    cases: u32,
    /// Only this target (repeatable); all of them by default.
    #[arg(long = "target", value_enum)]
    targets: Vec<Target>,
    /// RNG seed of every target (default: a fresh one per target, printed).
    #[arg(long)]
    seed: Option<u64>,
}

/// A fuzz target, as `--target` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// TIFF/COG bytes and directory structure, read window by window.
    Tiff,
    /// GeoKeyDirectories, georeferencing tags, GDAL_NODATA.
    Geotiff,
    /// WKB footprints.
    Wkb,
    /// The GeoParquet mosaic index.
    Parquet,
    /// STAC items and search pages from a loopback server.
    Stac,
    /// GeoJSON areas of interest.
    Geojson,
    /// Times of interest.
    Toi,
    /// CRS strings.
    Crs,
    /// The command line's --bbox and --time.
    Bbox,
}

impl Target {
    const ALL: [Target; 9] = [
        Target::Tiff,
        Target::Geotiff,
        Target::Wkb,
        Target::Parquet,
        Target::Stac,
        Target::Geojson,
        Target::Toi,
        Target::Crs,
        Target::Bbox,
    ];

    /// The package whose `tests/fuzz.rs` holds it, and its tests' prefix.
    fn test(self) -> (&'static str, &'static str) {
        match self {
            Target::Tiff => ("geocube-sources", "fuzz_tiff"),
            Target::Geotiff => ("geocube-sources", "fuzz_geokeys"),
            Target::Wkb => ("geocube-sources", "fuzz_wkb"),
            Target::Parquet => ("geocube-sources", "fuzz_geoparquet"),
            Target::Stac => ("geocube-sources", "fuzz_stac"),
            Target::Geojson => ("geocube-core", "fuzz_geojson"),
            Target::Toi => ("geocube-core", "fuzz_toi"),
            Target::Crs => ("geocube-core", "fuzz_crs"),
            Target::Bbox => ("geocube", "fuzz_cli"),
        }
    }
}

/// geocube's crates, built with overflow checks.
const OWN_CRATES: &[&str] = &[
    "geocube-core",
    "geocube-sources",
    "geocube-geotiff",
    "geocube-testkit",
    "geocube",
];

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let targets = if args.targets.is_empty() {
        Target::ALL.to_vec()
    } else {
        args.targets.clone()
    };
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("release-bench");
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for package in ["geocube-sources", "geocube-core", "geocube"] {
        let filters: Vec<&str> = targets
            .iter()
            .map(|t| t.test())
            .filter(|(p, _)| *p == package)
            .map(|(_, f)| f)
            .collect();
        if filters.is_empty() {
            continue;
        }
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(crate::test::workspace_root())
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("GEOCUBE_FUZZ_CASES", args.cases.to_string())
            .env(
                "GEOCUBE_FUZZ_SEED",
                args.seed
                    .map_or_else(|| "random".to_owned(), |s| s.to_string()),
            )
            .args(["test", "--release", "-p", package, "--test", "fuzz"]);
        for c in OWN_CRATES {
            cmd.args([
                "--config",
                &format!("profile.release.package.{c}.overflow-checks=true"),
            ]);
        }
        cmd.arg("--").args(&filters).arg("--nocapture");
        cmd.stdout(Stdio::piped());
        eprintln!(
            "xtask fuzz: {package}: {} ({} cases each)",
            filters.join(" "),
            args.cases
        );
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run cargo test: {e}"))?;
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if let Some(rest) = line.split("fuzz-cases ").nth(1) {
                    lines.push(rest.to_owned());
                }
            }
        }
        let status = child.wait().map_err(|e| format!("cargo test: {e}"))?;
        if !status.success() {
            failed.push(package);
        }
    }
    println!(
        "| target | cases | seed | largest alloc | peak | slowest | contained panics | outcomes |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for l in &lines {
        let field = |k: &str| {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{k}=")))
                .unwrap_or("?")
        };
        let bytes = |k: &str| match field(k).parse::<f64>() {
            Ok(b) if b >= f64::from(1 << 20) => format!("{:.1} MiB", b / f64::from(1 << 20)),
            Ok(b) if b >= 1024.0 => format!("{:.1} KiB", b / 1024.0),
            Ok(b) => format!("{b} B"),
            Err(_) => "?".to_owned(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} ms | {} | {} |",
            field("target"),
            field("cases"),
            field("seed"),
            bytes("largest"),
            bytes("peak"),
            field("slowest_ms"),
            field("contained_panics"),
            field("outcomes"),
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed in {} (the shrunk recipe and seed are above)",
            failed.join(", ")
        ))
    }
}
