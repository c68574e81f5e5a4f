//! [`CountingAlloc`]: the system allocator, counting what the current
//! thread allocates while [`measure`] runs, so a fuzz test can assert that a
//! parser fed `N` hostile bytes never asks for more than a cap.
//!
//! The counters are per thread (a `const` thread-local: no allocation, no
//! destructor, usable from inside the allocator), so fuzz targets running in
//! parallel test threads do not see each other's allocations. The parsers
//! under test run on the calling thread; memory a parser frees that was
//! allocated before `measure` started only lowers the live count.
//!
//! This is the only `unsafe` in the workspace: a `GlobalAlloc` cannot be
//! written without it. The testkit's lints deny `unsafe_code` (where the
//! workspace forbids it) so that this one module may allow it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator with per-thread counters. Install it in a test
/// binary with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAlloc;

/// What one thread allocated during [`measure`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// The most bytes live at once, counted from the start of the measure.
    pub peak: usize,
    /// The largest single allocation (or reallocation target) asked for.
    pub largest: usize,
    /// Allocations asked for.
    pub count: u64,
}

#[derive(Clone, Copy)]
struct Counters {
    armed: bool,
    live: isize,
    peak: isize,
    largest: usize,
    count: u64,
}

const IDLE: Counters = Counters {
    armed: false,
    live: 0,
    peak: 0,
    largest: 0,
    count: 0,
};

thread_local! {
    static COUNTERS: Cell<Counters> = const { Cell::new(IDLE) };
}

fn on_alloc(size: usize) {
    // `try_with`: an allocation during thread teardown is simply not counted.
    let _ = COUNTERS.try_with(|c| {
        let mut v = c.get();
        if v.armed {
            v.live = v.live.saturating_add_unsigned(size);
            v.peak = v.peak.max(v.live);
            v.largest = v.largest.max(size);
            v.count += 1;
            c.set(v);
        }
    });
}

fn on_dealloc(size: usize) {
    let _ = COUNTERS.try_with(|c| {
        let mut v = c.get();
        if v.armed {
            v.live = v.live.saturating_sub_unsigned(size);
            c.set(v);
        }
    });
}

// SAFETY (for every method): each forwards its arguments unchanged to
// `System`, whose contract is the caller's; the counting around it touches
// only a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: see above.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: see above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_dealloc(layout.size());
        // SAFETY: see above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The new block first: a moving realloc holds both for a moment.
        on_alloc(new_size);
        on_dealloc(layout.size());
        // SAFETY: see above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Run `f`, counting what this thread allocates meanwhile. A nested call
/// measures its own span, which also counts in the outer one's.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, AllocStats) {
    let outer = COUNTERS.with(Cell::get);
    COUNTERS.with(|c| {
        c.set(Counters {
            armed: true,
            ..IDLE
        });
    });
    let out = f();
    let v = COUNTERS.with(Cell::get);
    let merged = if outer.armed {
        Counters {
            live: outer.live.saturating_add(v.live),
            peak: outer.peak.max(outer.live.saturating_add(v.peak)),
            largest: outer.largest.max(v.largest),
            count: outer.count + v.count,
            ..outer
        }
    } else {
        outer
    };
    COUNTERS.with(|c| c.set(merged));
    let stats = AllocStats {
        peak: usize::try_from(v.peak).unwrap_or(0),
        largest: v.largest,
        count: v.count,
    };
    (out, stats)
}

/// Whether [`CountingAlloc`] is this binary's global allocator: a fuzz
/// target checks this first, as without it every measure reads zero and
/// every allocation bound would hold vacuously.
#[must_use]
pub fn installed() -> bool {
    let ((), stats) = measure(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(1 << 20));
        std::hint::black_box(&v);
    });
    stats.largest >= 1 << 20
}
