//! The event timeline: when each download and write of each patch started
//! and ended, on which thread, at which try.

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// What a backend was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Fetching a patch from the source.
    Download,
    /// Writing (and committing) a batch of patches.
    Write,
}

/// One span of work.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Patch id (for a batch write, one event per patch of the batch).
    pub patch_id: String,
    /// What was done.
    pub action: Action,
    /// Thread name (or id).
    pub thread: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Start, seconds since the backend was created.
    pub start: f64,
    /// End, seconds since the backend was created.
    pub end: f64,
    /// Whether the attempt succeeded.
    pub ok: bool,
    /// For a commit: how many times it was re-applied on a newer branch tip
    /// because another writer committed first (0: it went straight in).
    pub reapplied: u32,
}

/// Thread-safe, append-only log of [`Event`]s.
#[derive(Debug)]
pub struct EventLog {
    t0: Instant,
    events: Mutex<Vec<Event>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            t0: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }
}

impl EventLog {
    /// Run `f`, recording it as one event per id in `ids`.
    pub(crate) fn record<T, E>(
        &self,
        ids: &[&str],
        action: Action,
        attempt: u32,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.record_with(ids, action, attempt, f, |_| 0)
    }

    /// Run a commit, recording it with the re-applications it took.
    pub(crate) fn record_commit<E>(
        &self,
        ids: &[&str],
        f: impl FnOnce() -> Result<geocube_core::WriteOutcome, E>,
    ) -> Result<geocube_core::WriteOutcome, E> {
        self.record_with(ids, Action::Write, 1, f, |out| {
            out.as_ref().map_or(0, |o| o.reapplied)
        })
    }

    fn record_with<T, E>(
        &self,
        ids: &[&str],
        action: Action,
        attempt: u32,
        f: impl FnOnce() -> Result<T, E>,
        reapplied: impl FnOnce(&Result<T, E>) -> u32,
    ) -> Result<T, E> {
        let start = self.t0.elapsed().as_secs_f64();
        let out = f();
        let reapplied = reapplied(&out);
        let end = self.t0.elapsed().as_secs_f64();
        let thread = std::thread::current();
        let thread = thread
            .name()
            .map_or_else(|| format!("{:?}", thread.id()), str::to_owned);
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in ids {
            events.push(Event {
                patch_id: (*id).to_owned(),
                action,
                thread: thread.clone(),
                attempt,
                start,
                end,
                ok: out.is_ok(),
                reapplied,
            });
        }
        out
    }

    /// A copy of every event so far, in recording order.
    #[must_use]
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many download attempts were made for `id`.
    #[must_use]
    pub fn downloads_of(&self, id: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.action == Action::Download && e.patch_id == id)
            .count()
    }

    /// The events as a JSON array.
    ///
    /// # Errors
    /// Never in practice (plain data); the serializer's error is passed on.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(&self.events())
    }
}
