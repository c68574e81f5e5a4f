//! Which computePixels requests fail, and how: decided from the seed and
//! the request's number (the n-th computePixels call since the emulator
//! started), never from the clock, so a sequential client sees the same
//! faults on every run.
//!
//! Rate limits come as storms: the requests are taken in windows of
//! [`STORM_WINDOW`] consecutive numbers, and a window drawn as stormy
//! answers all of its requests with 429, as a quota that is exhausted for
//! a while does (a client's immediate retry lands in the same storm).

use std::time::Duration;

use super::EeOptions;
use crate::terrain::{splitmix64, unit};

/// Consecutive requests that share one rate-limit draw.
pub const STORM_WINDOW: u64 = 8;

/// The fate of one computePixels request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Serve,
    /// An injected 500 INTERNAL or 503 UNAVAILABLE.
    Fail {
        status: u16,
    },
    /// An injected 429 RESOURCE_EXHAUSTED.
    RateLimited,
    /// The whole reply announced, half of it sent, the connection closed.
    Truncate,
    /// No reply (`None`) or one after this delay.
    Stall(Option<Duration>),
}

/// The fate of request number `n` under `options`' fault fractions.
pub(crate) fn fate(options: &EeOptions, n: u64) -> Fate {
    let seed = options.seed;
    let storm = unit(splitmix64(seed ^ 0x57_0A_11 ^ splitmix64(n / STORM_WINDOW)));
    if storm < options.rate_limit_fraction {
        return Fate::RateLimited;
    }
    let h = splitmix64(seed ^ splitmix64(n));
    let r = unit(h);
    let fail = options.fail_fraction;
    let truncate = fail + options.truncate_fraction;
    let stall = truncate + options.stall.fraction;
    if r < fail {
        Fate::Fail {
            status: if h & 1 == 0 { 500 } else { 503 },
        }
    } else if r < truncate {
        Fate::Truncate
    } else if r < stall {
        Fate::Stall(options.stall.delay)
    } else {
        Fate::Serve
    }
}
