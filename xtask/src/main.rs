//! Developer tasks for geocube, run as `cargo xtask <command>`.
//!
//! A thin command line over `geocube-testkit`: parsing and printing only.

mod fixtures;
mod serve;

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
    /// Generate deterministic ArcticDEM-like fixtures (COGs, STAC, GeoParquet index).
    Fixtures(fixtures::Args),
    /// Serve a fixture directory over HTTP with a STAC API and fault injection.
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fixtures(args) => fixtures::run(&args),
        Command::Serve(args) => serve::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
