//! The deadlines of every network call, as flags (`geocube_sources::http::HttpConfig`).

use std::time::Duration;

use clap::Args;
use geocube_sources::http::{HttpConfig, MinRate};

const HEADING: &str = "Network deadlines";

fn defaults() -> HttpConfig {
    HttpConfig::default()
}

/// Deadlines of every network call; a slow server ends in a timeout
/// error naming the deadline instead of a hang.
#[derive(Args, Clone, Debug)]
pub(crate) struct HttpArgs {
    /// Seconds allowed to connect to a server.
    #[arg(
        long,
        help_heading = HEADING,
        value_name = "SECS",
        value_parser = seconds,
        default_value_t = defaults().connect_timeout.as_secs_f64()
    )]
    connect_timeout: f64,
    /// Seconds a server may stay silent: until the response headers, then
    /// between bytes of the body.
    #[arg(
        long,
        help_heading = HEADING,
        value_name = "SECS",
        value_parser = seconds,
        default_value_t = defaults().read_timeout.as_secs_f64()
    )]
    read_timeout: f64,
    /// Seconds allowed for one request with its body (the one-off mosaic
    /// index download has no such limit).
    #[arg(
        long,
        help_heading = HEADING,
        value_name = "SECS",
        value_parser = seconds,
        default_value_t = defaults().request_timeout.as_secs_f64()
    )]
    request_timeout: f64,
    /// Slowest transfer accepted, BYTES in every SECS window: e.g.
    /// `10KiB/10s` (the default) or `off`.
    #[arg(long, help_heading = HEADING, value_name = "BYTES/SECS", value_parser = min_rate)]
    min_rate: Option<Rate>,
}

/// `--min-rate`: a minimum or `off`.
#[derive(Clone, Copy, Debug)]
struct Rate(Option<MinRate>);

fn min_rate(text: &str) -> Result<Rate, geocube_sources::Error> {
    if text.eq_ignore_ascii_case("off") {
        Ok(Rate(None))
    } else {
        text.parse().map(|m| Rate(Some(m)))
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && Duration::try_from_secs_f64(*s).is_ok())
        .ok_or_else(|| format!("`{text}` is not a positive number of seconds"))
}

impl HttpArgs {
    /// The HTTP configuration the flags give.
    pub(crate) fn config(&self) -> HttpConfig {
        let d = defaults();
        HttpConfig {
            connect_timeout: Duration::from_secs_f64(self.connect_timeout),
            read_timeout: Duration::from_secs_f64(self.read_timeout),
            request_timeout: Duration::from_secs_f64(self.request_timeout),
            min_rate: self.min_rate.map_or(d.min_rate, |r| r.0),
            ..d
        }
    }
}
