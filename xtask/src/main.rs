//! Developer tasks for geocube, run as `cargo xtask <command>`.
//!
//! A thin command line over `geocube-testkit`: parsing and printing only.

mod bench;
mod bench_ee;
mod bench_python;
mod bench_s3;
mod bench_warp;
mod demo;
mod fixtures;
mod fuzz;
mod relief;
mod serve;
mod serve_ee;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// geocube developer tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: fixtures, a loopback server, a cold and a warm `geocube load`, pictures.
    Demo(demo::Args),
    /// Generate deterministic ArcticDEM-like fixtures (COGs, STAC, GeoParquet index).
    Fixtures(fixtures::Args),
    /// Serve a fixture directory over HTTP with a STAC API and fault injection.
    Serve(serve::Args),
    /// Run the loopback Earth Engine emulator (computePixels, tokens, faults);
    /// prints its URL and writes a service-account key file.
    ServeEe(serve_ee::Args),
    /// Criterion benches plus end-to-end scenarios with floors: a markdown
    /// table on stdout and target/bench/report.json.
    Bench(bench::Args),
    /// Run the whole test suite (what CI runs), preparing its Python environment.
    Test(test::Args),
    /// Run the fuzz targets long, in release: `--cases N`, `--target tiff|stac|…`.
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Fixtures(args) => fixtures::run(&args).map_err(|e| e.to_string()),
        Command::Serve(args) => serve::run(&args).map_err(|e| e.to_string()),
        Command::ServeEe(args) => serve_ee::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
