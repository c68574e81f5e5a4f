//! Fuzzing on stable Rust: proptest drives mutations of valid inputs
//! ([`bytes`], [`tiff`], [`json`]) into the parsers that read what servers
//! and users send, and [`run`] checks each case for what a parser owes
//! hostile input, beyond not crashing:
//!
//! - **no panic**, not even one the parser catches itself: a panic hook
//!   counts the panics of the case's thread, so a decoder panic that a
//!   `catch_unwind` turns into an error still fails the case (the property
//!   closure, meanwhile, requires `Ok` or a typed error from the public
//!   entry points). The one exception is a dependency's panic a target
//!   names ([`Fuzz::contained_panics_in`]): counted and reported, as the
//!   code under test must contain it and return a typed error;
//! - **bounded allocation**: with [`alloc::CountingAlloc`] as the test
//!   binary's global allocator, the largest single allocation and the peak
//!   of live bytes stay within the target's [`Budget`];
//! - **bounded time**: each case within the budget's time; a case that
//!   hangs past [`HANG`] makes a watchdog print its recipe and abort the
//!   test binary (a hang cannot be failed and shrunk like a slow case).
//!
//! Strategies yield *recipes* (a seed number and a list of mutations), not
//! bytes, so a failure shrinks to few simple mutations and prints short.
//!
//! Case counts: each target's default is small (the suite's short run);
//! `GEOCUBE_FUZZ_CASES` sets every target's count (`cargo xtask fuzz`'s
//! long run). The RNG seed is fixed per target unless `GEOCUBE_FUZZ_SEED`
//! is a number or `random`; it is printed with the result line
//! (`fuzz-cases target=… cases=… seed=…`), so any run can be replayed.
//! Proptest's failure files are off: every failure found is kept as a
//! named regression test beside its target instead.

pub mod alloc;
pub mod bytes;
pub mod json;
pub mod tiff;

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

/// A case still running after this long is a hang: the watchdog aborts.
pub const HANG: Duration = Duration::from_secs(300);

/// Environment variable: cases per target (overrides every default).
pub const CASES_ENV: &str = "GEOCUBE_FUZZ_CASES";
/// Environment variable: RNG seed (a number, or `random`).
pub const SEED_ENV: &str = "GEOCUBE_FUZZ_SEED";

/// The limits one case of a target must stay within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Largest single allocation, bytes.
    pub largest: usize,
    /// Most bytes live at once, bytes.
    pub peak: usize,
    /// Wall time of one case.
    pub time: Duration,
}

impl Budget {
    /// 64 MiB for any one allocation and for the peak, 10 s a case: the
    /// fixed caps of the fuzz targets whose inputs are a few kilobytes
    /// (each target says where and why it deviates).
    pub const DEFAULT: Budget = Budget {
        largest: 64 << 20,
        peak: 64 << 20,
        time: Duration::from_secs(10),
    };
}

/// What a target's run saw, printed as its result line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Cases that passed.
    pub cases: u64,
    /// Largest single allocation of any case.
    pub largest: usize,
    /// Highest peak of any case.
    pub peak: usize,
    /// Slowest case.
    pub slowest: Duration,
    /// Panics raised in tolerated crates and contained by the code under
    /// test ([`Fuzz::contained_panics_in`]).
    pub contained: u64,
    /// Cases per outcome label (how deep the cases got: refused at the
    /// header, read whole, ...), sorted by label.
    pub outcomes: Vec<(&'static str, u64)>,
}

/// Cases for a target whose short-run default is `default`.
#[must_use]
pub fn cases(default: u32) -> u32 {
    std::env::var(CASES_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The RNG seed of `target`: `GEOCUBE_FUZZ_SEED` when it is a number, a
/// fresh one when it is `random`, else a fixed one derived from the name.
#[must_use]
pub fn seed(target: &str) -> u64 {
    match std::env::var(SEED_ENV).ok().as_deref().map(str::trim) {
        Some("random") => {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write(target.as_bytes());
            h.finish()
        }
        Some(n) if n.parse::<u64>().is_ok() => n.parse().unwrap_or(0),
        _ => target.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }),
    }
}

thread_local! {
    /// Panics of this thread, but those in [`CONTAINED_IN`] crates.
    static PANICS: Cell<u64> = const { Cell::new(0) };
    /// Panics of this thread raised in the crates of [`CONTAINED_IN`].
    static CONTAINED: Cell<u64> = const { Cell::new(0) };
    /// The crates whose panics the current case tolerates.
    static CONTAINED_IN: Cell<&'static [&'static str]> = const { Cell::new(&[]) };
}

/// Count every panic per thread and let the previous hook print it; count
/// those raised in a tolerated crate's source apart, silently.
fn install_panic_counter() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map_or("", |l| l.file());
            // Registry sources live in `.../<crate>-<version>/src/...`.
            let tolerated = CONTAINED_IN
                .try_with(Cell::get)
                .unwrap_or(&[])
                .iter()
                .any(|c| file.contains(&format!("/{c}-")));
            // A tolerated panic is counted in the report, not printed.
            if tolerated {
                let _ = CONTAINED.try_with(|p| p.set(p.get() + 1));
            } else {
                let _ = PANICS.try_with(|p| p.set(p.get() + 1));
                previous(info);
            }
        }));
    });
}

type Running = HashMap<ThreadId, (Instant, String, Arc<dyn Debug + Send + Sync>)>;

fn running() -> &'static Mutex<Running> {
    static RUNNING: OnceLock<Mutex<Running>> = OnceLock::new();
    RUNNING.get_or_init(|| {
        std::thread::Builder::new()
            .name("fuzz-watchdog".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let map = running().lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some((start, target, recipe)) =
                        map.values().find(|(start, ..)| start.elapsed() > HANG)
                    {
                        eprintln!(
                            "fuzz target {target}: a case has run for {:?} (hang); its recipe: {recipe:?}",
                            start.elapsed()
                        );
                        std::process::abort();
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("no fuzz watchdog: {e}"));
        Mutex::new(HashMap::new())
    })
}

/// A fuzz target: its name, its short-run case count, its budget, and the
/// third-party crates whose panics it tolerates.
#[derive(Clone, Copy, Debug)]
pub struct Fuzz {
    name: &'static str,
    cases: u32,
    budget: Budget,
    contained_in: &'static [&'static str],
}

impl Fuzz {
    /// Target `name`, `default_cases` cases in the short run, the
    /// [`Budget::DEFAULT`] budget, no panic tolerated.
    #[must_use]
    pub fn new(name: &'static str, default_cases: u32) -> Self {
        Self {
            name,
            cases: default_cases,
            budget: Budget::DEFAULT,
            contained_in: &[],
        }
    }

    /// Limits other than [`Budget::DEFAULT`].
    #[must_use]
    pub fn budget(self, budget: Budget) -> Self {
        Self { budget, ..self }
    }

    /// Count, rather than fail, panics raised in the source of these
    /// crates (`"parquet"` matches `…/parquet-60.1.0/src/…`): a dependency's
    /// bug geocube cannot fix, which the code under test contains, so that
    /// the property still sees `Ok` or a typed error. The report says how
    /// many there were.
    #[must_use]
    pub fn contained_panics_in(self, crates: &'static [&'static str]) -> Self {
        Self {
            contained_in: crates,
            ..self
        }
    }

    /// [`run`] this target.
    pub fn run<S, I>(
        self,
        strategy: S,
        prepare: impl Fn(&S::Value) -> I,
        property: impl Fn(I) -> Result<&'static str, String>,
    ) -> Report
    where
        S: Strategy,
        S::Value: Clone + Debug + Send + Sync + 'static,
    {
        run_target(self, strategy, prepare, property)
    }
}

/// Run `property` on `cases(default_cases)` inputs and check each against
/// the module's properties and `budget`; prints the result line. Each input
/// is made by `prepare` from a recipe of `strategy`, outside the measured
/// span (building a mutated input is the test's allocation, not the
/// parser's). `property` returns `Ok(label)` naming the outcome (counted in
/// the report, to show how deep the cases reach), or `Err(why)` for an
/// outcome it rejects (an error of the wrong kind, a result that
/// contradicts the input).
///
/// # Panics
/// When a case fails (with the shrunk recipe), or when
/// [`alloc::CountingAlloc`] is not the global allocator.
pub fn run<S, I>(
    target: &'static str,
    default_cases: u32,
    budget: Budget,
    strategy: S,
    prepare: impl Fn(&S::Value) -> I,
    property: impl Fn(I) -> Result<&'static str, String>,
) -> Report
where
    S: Strategy,
    S::Value: Clone + Debug + Send + Sync + 'static,
{
    Fuzz::new(target, default_cases)
        .budget(budget)
        .run(strategy, prepare, property)
}

fn run_target<S, I>(
    fuzz: Fuzz,
    strategy: S,
    prepare: impl Fn(&S::Value) -> I,
    property: impl Fn(I) -> Result<&'static str, String>,
) -> Report
where
    S: Strategy,
    S::Value: Clone + Debug + Send + Sync + 'static,
{
    let Fuzz {
        name: target,
        cases: default_cases,
        budget,
        contained_in,
    } = fuzz;
    assert!(
        alloc::installed(),
        "fuzz target {target}: CountingAlloc is not this test binary's #[global_allocator]; allocation bounds would hold vacuously"
    );
    install_panic_counter();
    let n = cases(default_cases);
    let seed = seed(target);
    let config = Config {
        cases: n,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        // Shrinking re-runs the property; bound it for slow targets.
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let report = Mutex::new(Report::default());
    let passed = AtomicU64::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        let input = prepare(&value);
        let me = std::thread::current().id();
        running()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                me,
                (Instant::now(), target.to_owned(), Arc::new(value.clone())),
            );
        let panics = PANICS.with(Cell::get);
        let contained = CONTAINED.with(Cell::get);
        CONTAINED_IN.with(|c| c.set(contained_in));
        let start = Instant::now();
        let (outcome, stats) = alloc::measure(|| property(input));
        let took = start.elapsed();
        CONTAINED_IN.with(|c| c.set(&[]));
        let contained = CONTAINED.with(Cell::get) - contained;
        running()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&me);
        let panicked = PANICS.with(Cell::get) - panics;
        let fail = |why: String| Err(TestCaseError::fail(why));
        if panicked > 0 {
            return fail(format!(
                "{panicked} panic(s) during the case (caught or not: see the panic message above)"
            ));
        }
        let label = match outcome {
            Ok(label) => label,
            Err(why) => return fail(why),
        };
        if stats.largest > budget.largest {
            return fail(format!(
                "allocated {} bytes at once, over the {}-byte budget",
                stats.largest, budget.largest
            ));
        }
        if stats.peak > budget.peak {
            return fail(format!(
                "{} bytes live at once, over the {}-byte budget",
                stats.peak, budget.peak
            ));
        }
        if took > budget.time {
            return fail(format!("took {took:?}, over the {:?} budget", budget.time));
        }
        passed.fetch_add(1, Ordering::Relaxed);
        let mut r = report.lock().unwrap_or_else(PoisonError::into_inner);
        r.largest = r.largest.max(stats.largest);
        r.peak = r.peak.max(stats.peak);
        r.slowest = r.slowest.max(took);
        r.contained += contained;
        match r.outcomes.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => {
                r.outcomes.push((label, 1));
                r.outcomes.sort_unstable();
            }
        }
        Ok(())
    });
    let mut r = report.into_inner().unwrap_or_else(PoisonError::into_inner);

    r.cases = passed.load(Ordering::Relaxed);
    match result {
        Ok(()) => {
            let outcomes: Vec<String> =
                r.outcomes.iter().map(|(l, n)| format!("{l}:{n}")).collect();
            println!(
                "fuzz-cases target={target} cases={} seed={seed} largest={} peak={} slowest_ms={} contained_panics={} outcomes={}",
                r.cases,
                r.largest,
                r.peak,
                r.slowest.as_millis(),
                r.contained,
                outcomes.join(",")
            );
            r
        }
        Err(TestError::Fail(why, recipe)) => {
            panic!("fuzz target {target} (seed {seed}) failed: {why}\nminimal recipe: {recipe:#?}")
        }
        Err(TestError::Abort(why)) => panic!("fuzz target {target} (seed {seed}) aborted: {why}"),
    }
}
