//! `cargo xtask serve-ee`: run the Earth Engine emulator until Ctrl-C (or
//! SIGTERM), for Python tests in another process.
//!
//! stdout, flushed at once: the first line is the API root
//! (`http://127.0.0.1:PORT/`), the second the token endpoint, the third
//! the path of the service-account key file written (`--key-out`, else
//! `target/ee-emulator-key.json`). Tests read the recorded requests from
//! `GET {root}__geocube/requests`, change faults with `POST
//! {root}__geocube/options` and clear the records with `POST
//! {root}__geocube/reset`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use geocube_testkit::ee::{EeEmulator, EeOptions, Stall};

/// Arguments of `cargo xtask serve-ee`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the service-account key file [default: target/ee-emulator-key.json].
    #[arg(long, value_name = "FILE")]
    key_out: Option<PathBuf>,
    /// Lifetime of minted access tokens, in seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "S")]
    token_lifetime: f64,
    /// computePixels requests in flight at once; more get 429.
    #[arg(long, default_value_t = 40, value_name = "N")]
    max_concurrent: usize,
    /// Fraction of computePixels requests answered 500 or 503.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    fail: f64,
    /// Fraction of computePixels replies cut short.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    truncate: f64,
    /// Fraction of computePixels requests answered 429, in storms.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    rate_limit: f64,
    /// Fraction of computePixels requests never answered (or late, with --stall-delay-ms).
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    stall: f64,
    /// Answer stalled requests after this many milliseconds instead of never.
    #[arg(long, value_name = "MS")]
    stall_delay_ms: Option<u64>,
    /// Delay before every computePixels reply, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    latency_ms: u64,
    /// Seed of the fault decisions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn fraction(name: &str, f: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err(format!("--{name} must be from 0 to 1, got {f}"))
    }
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    if !(args.token_lifetime.is_finite() && args.token_lifetime > 0.0) {
        return Err(format!(
            "--token-lifetime must be a positive number of seconds, got {}",
            args.token_lifetime
        ));
    }
    let options = EeOptions {
        port: args.port,
        max_concurrent: args.max_concurrent,
        token_lifetime: Duration::from_secs_f64(args.token_lifetime),
        seed: args.seed,
        fail_fraction: fraction("fail", args.fail)?,
        rate_limit_fraction: fraction("rate-limit", args.rate_limit)?,
        truncate_fraction: fraction("truncate", args.truncate)?,
        stall: Stall {
            fraction: fraction("stall", args.stall)?,
            delay: args.stall_delay_ms.map(Duration::from_millis),
        },
        latency: Duration::from_millis(args.latency_ms),
        ..EeOptions::default()
    };
    let ee = EeEmulator::start(options).map_err(|e| e.to_string())?;
    let key_path = args
        .key_out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target").join("ee-emulator-key.json"));
    if let Some(dir) = key_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    ee.write_key(&key_path).map_err(|e| e.to_string())?;
    // Read line by line from a pipe by a test that started
    // `xtask serve-ee --port 0`: print and flush before anything else.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", ee.url())
        .and_then(|()| writeln!(out, "token_uri: {}", ee.token_uri()))
        .and_then(|()| writeln!(out, "key: {}", key_path.display()))
        .and_then(|()| out.flush())
        .map_err(|e| format!("printing the URL: {e}"))?;
    drop(out);
    eprintln!(
        "Earth Engine emulator at {url} until Ctrl-C: POST {url}v1/projects/{{project}}/image:computePixels; \
         requests: GET {url}__geocube/requests, counts: GET {url}__geocube/counts, \
         faults: POST {url}__geocube/options, reset: POST {url}__geocube/reset",
        url = ee.url()
    );
    // The process ends on Ctrl-C (SIGINT's default action); the OS closes
    // the socket.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
