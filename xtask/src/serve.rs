//! `cargo xtask serve`: serve a fixture directory until Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use geocube_testkit::server::{FixtureServer, Pace, ServerOptions};

/// Arguments of `cargo xtask serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Fixture directory [default: target/fixtures/tiny].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Fraction of requests answered with 503.
    #[arg(long, default_value_t = 0.0)]
    fail_fraction: f64,
    /// Fraction of responses whose body is cut short.
    #[arg(long, default_value_t = 0.0)]
    truncate_fraction: f64,
    /// Delay added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Seed of the fault injection.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Read requests and never answer them.
    #[arg(long, conflicts_with = "trickle")]
    stall: bool,
    /// Send response bodies at this many bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC")]
    trickle: Option<u64>,
    /// Only requests under this path (e.g. `/mosaics/`) are faulted, stalled or trickled.
    #[arg(long, value_name = "PATH")]
    fault_path_prefix: Option<String>,
}

pub(crate) fn run(args: &Args) -> geocube_testkit::Result<()> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| crate::fixtures::default_dir(geocube_testkit::Preset::Tiny));
    let options = ServerOptions {
        port: args.port,
        fail_fraction: args.fail_fraction,
        truncate_fraction: args.truncate_fraction,
        latency: Duration::from_millis(args.latency_ms),
        seed: args.seed,
        pace: match (args.stall, args.trickle) {
            (true, _) => Pace::Stall,
            (false, Some(bytes_per_sec)) => Pace::Trickle { bytes_per_sec },
            (false, None) => Pace::Prompt,
        },
        fault_path_prefix: args.fault_path_prefix.clone(),
    };
    let server = FixtureServer::start(&dir, options)?;
    println!("{}", server.base_url());
    println!("STAC API: {}", server.stac_api_url());
    eprintln!("serving {} until Ctrl-C", dir.display());
    // The process ends on Ctrl-C (SIGINT's default action); the OS closes
    // the socket.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
