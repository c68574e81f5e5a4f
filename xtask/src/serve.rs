//! `cargo xtask serve`: serve a fixture directory until Ctrl-C (or SIGTERM).
//!
//! The first line of stdout is the base URL (`http://127.0.0.1:PORT`), the
//! second the STAC API's; tests in another process read the request counts
//! from `GET /__geocube/requests` and clear them with `POST /__geocube/reset`.

use std::io::Write;
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
    /// Ignore the `query` of searches (a STAC API without the query extension).
    #[arg(long)]
    ignore_query: bool,
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
        ignore_query: args.ignore_query,
    };
    let server = FixtureServer::start(&dir, options)?;
    // The base URL is the first line of stdout, flushed at once: a test that
    // starts `xtask serve --port 0` as a subprocess reads it from the pipe.
    let mut out = std::io::stdout().lock();
    let printed = writeln!(out, "{}", server.base_url())
        .and_then(|()| writeln!(out, "STAC API: {}", server.stac_api_url()))
        .and_then(|()| out.flush());
    drop(out);
    if let Err(source) = printed {
        return Err(geocube_testkit::Error::Server {
            action: "printing the base URL",
            source,
        });
    }
    eprintln!(
        "serving {} until Ctrl-C (request counts: GET {base}{p}requests, \
         faults: GET {base}{p}faults, reset: POST {base}{p}reset)",
        dir.display(),
        base = server.base_url(),
        p = geocube_testkit::server::CONTROL_PREFIX,
    );
    // The process ends on Ctrl-C (SIGINT's default action); the OS closes
    // the socket.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
