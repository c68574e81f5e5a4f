//! Retry policies: exponential backoff with jitter, and the one retry loop
//! that HTTP requests, downloads and commits all run through.

use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (at least 1).
    pub max_tries: u32,
    /// Wait before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Upper bound of one wait.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Downloads: 5 tries, 0.5 s doubling to 8 s (the reference also tries 5 times).
    #[must_use]
    pub fn downloads() -> Self {
        Self {
            max_tries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }

    /// One HTTP request: 4 tries, 100 ms doubling to 2 s (the backend
    /// retries whole downloads on top of this).
    #[must_use]
    pub fn http() -> Self {
        Self {
            max_tries: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }

    /// Commit conflicts: 100 tries, 5 ms doubling to 1 s.
    #[must_use]
    pub fn conflicts() -> Self {
        Self {
            max_tries: 100,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1),
        }
    }

    /// The wait after failed attempt `attempt` (1-based): full jitter over
    /// `[d/2, d]` with `d = base * 2^(attempt-1)` capped at `max_delay`, so
    /// contending writers spread out instead of retrying in lock step.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1_u32 << attempt.saturating_sub(1).min(20));
        let d = exp.min(self.max_delay);
        let half = d / 2;
        half + half.mul_f64(jitter())
    }

    /// Run `op` (given the 1-based attempt number) until it succeeds, fails
    /// with an error `retry` declines, or has been tried `max_tries` times,
    /// sleeping [`RetryPolicy::delay`] between attempts. `retry` is asked
    /// only when another attempt is left, so it is the place to log one.
    ///
    /// # Errors
    /// The last error, with the number of attempts made.
    pub fn run<T, E>(
        &self,
        op: impl FnMut(u32) -> Result<T, E>,
        mut retry: impl FnMut(&E, u32) -> bool,
    ) -> Result<T, Exhausted<E>> {
        self.run_with_backoff(op, |e, next| retry(e, next.attempt - 1))
    }

    /// [`RetryPolicy::run`], with `retry` told which attempt would come
    /// next, of how many, and after which wait, so that it can say so
    /// ("retrying … (attempt 2 of 4) after 0.4 s: …") or decline.
    ///
    /// # Errors
    /// The last error, with the number of attempts made.
    pub fn run_with_backoff<T, E>(
        &self,
        mut op: impl FnMut(u32) -> Result<T, E>,
        mut retry: impl FnMut(&E, &Backoff) -> bool,
    ) -> Result<T, Exhausted<E>> {
        let tries = self.max_tries.max(1);
        let mut attempt = 1;
        loop {
            match op(attempt) {
                Ok(v) => return Ok(v),
                Err(e) if attempt < tries => {
                    let next = Backoff {
                        attempt: attempt + 1,
                        max_tries: tries,
                        delay: self.delay(attempt),
                    };
                    if !retry(&e, &next) {
                        return Err(Exhausted {
                            error: e,
                            tries: attempt,
                        });
                    }
                    std::thread::sleep(next.delay);
                    attempt += 1;
                }
                Err(error) => {
                    return Err(Exhausted {
                        error,
                        tries: attempt,
                    });
                }
            }
        }
    }
}

/// The retry [`RetryPolicy::run_with_backoff`] is about to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The attempt that would come next (1-based, so at least 2).
    pub attempt: u32,
    /// Attempts allowed in all ([`RetryPolicy::max_tries`]).
    pub max_tries: u32,
    /// The wait before it.
    pub delay: Duration,
}

/// The error of the last attempt of [`RetryPolicy::run`].
#[derive(Debug)]
pub struct Exhausted<E> {
    /// What the last attempt returned.
    pub error: E,
    /// How many attempts were made, the first included.
    pub tries: u32,
}

/// A number in [0, 1) that differs between threads and calls; cheap, not cryptographic.
fn jitter() -> f64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()) | 1);
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        #[allow(clippy::cast_precision_loss)]
        let v = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1_u64 << 53) as f64;
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_stops_at_success_refusal_or_the_last_try() {
        let p = RetryPolicy {
            max_tries: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        let mut seen = Vec::new();
        let out: Result<u32, _> = p.run(
            |a| {
                seen.push(a);
                if a == 2 { Ok(a) } else { Err("transient") }
            },
            |_, _| true,
        );
        assert_eq!((out.ok(), seen), (Some(2), vec![1, 2]));

        let out = p.run(|_| Err::<(), _>("down"), |_, _| true);
        assert!(matches!(
            out,
            Err(Exhausted {
                error: "down",
                tries: 3
            })
        ));

        let out = p.run(|_| Err::<(), _>("fatal"), |e, _| *e != "fatal");
        assert!(matches!(
            out,
            Err(Exhausted {
                error: "fatal",
                tries: 1
            })
        ));
    }

    #[test]
    fn run_with_backoff_says_what_comes_next() {
        let p = RetryPolicy {
            max_tries: 3,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(2),
        };
        let mut told = Vec::new();
        let out = p.run_with_backoff(
            |_| Err::<(), _>("down"),
            |_, next| {
                told.push((next.attempt, next.max_tries));
                assert!(next.delay <= Duration::from_millis(2));
                true
            },
        );
        assert!(matches!(out, Err(Exhausted { tries: 3, .. })));
        assert_eq!(told, [(2, 3), (3, 3)]);
    }

    #[test]
    fn delays_grow_and_stay_bounded() {
        let p = RetryPolicy {
            max_tries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 1..10 {
            let d = p.delay(attempt);
            let cap =
                (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d:?} vs cap {cap:?}"
            );
        }
    }
}
