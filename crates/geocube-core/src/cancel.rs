//! Cancelling a load from another thread (a Ctrl-C handler, Python's
//! `KeyboardInterrupt`, a job scheduler).
//!
//! A [`CancelToken`] is a shared flag. A backend that holds one stops
//! starting downloads once it is set, hands no more pieces of a streamed
//! patch to its staged write, drops the batch it has not committed yet, and
//! makes every waiting submit return at once. What was committed before
//! stays (commits are atomic); what was not leaves no trace a reader sees.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cancellation flag shared by everything a load started; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancel: every holder sees it from now on. Cannot be undone.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = CancelToken::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
    }
}
