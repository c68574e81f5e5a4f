//! The fuzz runner and the counting allocator the fuzz tests rely on: the
//! allocator sees what a thread allocates, the peak and the largest block,
//! and nothing of other threads (fuzz targets run in parallel test
//! threads); the runner fails a case that panics even when the code under
//! test catches the panic, that allocates past its budget or that is slow.
#![cfg(feature = "fuzz")]
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use geocube_testkit::fuzz::alloc::{CountingAlloc, installed, measure};
use geocube_testkit::fuzz::{Budget, Fuzz, run};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn counts_the_largest_block_and_the_peak() {
    assert!(installed());
    let ((), s) = measure(|| {
        let a = black_box(vec![1u8; 3 << 20]);
        let b = black_box(vec![2u8; 1 << 20]);
        drop(a);
        let c = black_box(vec![3u8; 2 << 20]);
        drop((b, c));
    });
    assert_eq!(s.largest, 3 << 20);
    // a and b were live together (4 MiB); b and c after a was freed (3 MiB).
    assert!(s.peak >= 4 << 20 && s.peak < (4 << 20) + 4096, "{s:?}");
    assert!(s.count >= 3);
}

#[test]
fn a_growing_vector_counts_old_and_new_blocks_together() {
    let ((), s) = measure(|| {
        let mut v = vec![0u8; 1 << 20];
        v.reserve_exact(1 << 20);
        black_box(&v);
    });
    assert_eq!(s.largest, 2 << 20);
    assert!(
        s.peak >= 3 << 20,
        "a moving realloc holds both blocks: {s:?}"
    );
}

#[test]
fn other_threads_are_not_counted() {
    let ((), s) = measure(|| {
        std::thread::scope(|t| {
            t.spawn(|| black_box(vec![0u8; 8 << 20]));
        });
    });
    assert!(s.largest < 1 << 20, "{s:?}");
}

#[test]
fn a_nested_measure_counts_in_the_outer_one_too() {
    let ((), outer) = measure(|| {
        let a = black_box(vec![0u8; 1 << 20]);
        let ((), inner) = measure(|| drop(black_box(vec![0u8; 2 << 20])));
        assert_eq!(inner.largest, 2 << 20);
        assert!(inner.peak < (2 << 20) + 4096, "{inner:?}");
        drop(a);
    });
    assert_eq!(outer.largest, 2 << 20);
    assert!(
        outer.peak >= 3 << 20,
        "a was live during the inner span: {outer:?}"
    );
}

/// The message of a failed run.
fn failure(
    property: impl Fn(u32) -> Result<&'static str, String> + std::panic::RefUnwindSafe,
) -> String {
    let caught = std::panic::catch_unwind(|| {
        run(
            "runner-test",
            16,
            Budget::DEFAULT,
            0u32..1000,
            |v| *v,
            &property,
        )
    });
    let payload = caught.expect_err("the run should fail");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_caught_panic_still_fails_the_case() {
    let msg = failure(|v| {
        let _ = std::panic::catch_unwind(|| assert!(v > 5000, "the decoder panicked"));
        Ok("caught")
    });
    assert!(msg.contains("panic(s) during the case"), "{msg}");
}

#[test]
fn an_allocation_over_budget_fails_the_case() {
    let msg = failure(|v| {
        black_box(vec![0u8; (64 << 20) + v as usize + 1]);
        Ok("allocated")
    });
    assert!(msg.contains("over the 67108864-byte budget"), "{msg}");
    // Shrunk to the smallest input that still fails.
    assert!(msg.contains("minimal recipe: 0"), "{msg}");
}

#[test]
fn a_slow_case_fails_and_a_rejected_outcome_names_why() {
    let slow = std::panic::catch_unwind(|| {
        let budget = Budget {
            time: Duration::from_millis(20),
            ..Budget::DEFAULT
        };
        run(
            "runner-slow",
            4,
            budget,
            Just(()),
            |()| (),
            |()| {
                std::thread::sleep(Duration::from_millis(40));
                Ok("slept")
            },
        )
    });
    assert!(slow.is_err());
    let msg = failure(|v| {
        if v >= 10 {
            Err(format!("{v} is too big"))
        } else {
            Ok("small")
        }
    });
    assert!(
        msg.contains("10 is too big"),
        "shrunk to the boundary: {msg}"
    );
}

#[test]
fn a_passing_run_reports_its_cases_and_outcomes() {
    let r = run(
        "runner-ok",
        32,
        Budget::DEFAULT,
        0u32..100,
        |v| *v,
        |v| Ok(if v % 2 == 0 { "even" } else { "odd" }),
    );
    assert_eq!(r.cases, u64::from(geocube_testkit::fuzz::cases(32)));
    assert_eq!(r.outcomes.iter().map(|(_, n)| n).sum::<u64>(), r.cases);
}

#[test]
fn a_named_crates_contained_panics_are_counted_not_failed() {
    // proptest's `Index::index(0)` asserts: a panic raised in a registry
    // crate's source, like the parquet crate's on corrupt files.
    let contained = |i: prop::sample::Index| {
        let caught = std::panic::catch_unwind(|| i.index(0));
        if caught.is_err() {
            Ok("contained")
        } else {
            Err("no panic".to_owned())
        }
    };
    let r = Fuzz::new("runner-contained", 8)
        .contained_panics_in(&["proptest"])
        .run(any::<prop::sample::Index>(), |i| *i, contained);
    assert_eq!(r.contained, r.cases);
    let failed = std::panic::catch_unwind(|| {
        Fuzz::new("runner-not-contained", 8).run(any::<prop::sample::Index>(), |i| *i, contained)
    });
    assert!(
        failed.is_err(),
        "without the crate named, its panic fails the case"
    );
}
