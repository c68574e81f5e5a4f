//! The crate's one error type.

use std::fmt;

/// Why one patch did not make it into the cube.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PatchFailure {
    /// Patch id.
    pub id: String,
    /// Which step failed.
    pub stage: Stage,
    /// How many attempts were made.
    pub tries: u32,
    /// The last error, as text (the source is gone by then).
    pub message: String,
}

/// The step of a patch's journey that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Fetching from the source.
    Download,
    /// Writing and committing into the cube.
    Write,
}

impl PatchFailure {
    /// What failed and how, without the id: `download failed after 5 tries: …`.
    fn what(&self) -> String {
        let stage = match self.stage {
            Stage::Download => "download",
            Stage::Write => "write",
        };
        match self.tries {
            0 => format!("{stage} could not start: {}", self.message),
            1 => format!("{stage} failed: {}", self.message),
            n => format!("{stage} failed after {n} tries: {}", self.message),
        }
    }
}

impl fmt::Display for PatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.id, self.what())
    }
}

/// Everything that can go wrong in `geocube-backend`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The load was cancelled ([`crate::DownloadBackend::cancel`], a
    /// Ctrl-C): patches committed before stay, nothing half-done was.
    #[error("cancelled: {committed} patches were committed before, the rest were not")]
    Cancelled {
        /// Patches this submit committed before the cancellation.
        committed: usize,
    },
    /// Some patches of a submit could not be loaded; the others were.
    #[error("{} of {requested} patches could not be loaded: {}", failed.len(), list(failed))]
    Submit {
        /// How many distinct patches the submit asked for.
        requested: usize,
        /// The patches that failed, each with its reason.
        failed: Vec<PatchFailure>,
    },
    /// The cube's storage refuses writes (a read-only file system or
    /// directory): nothing was downloaded.
    #[error(
        "the cube at {location} is read-only ({source}); the patches it lacks cannot be written into it: use a writable copy, or read only what it holds (offline)"
    )]
    ReadOnly {
        /// The cube's location.
        location: String,
        /// The refusal.
        #[source]
        source: std::io::Error,
    },
    /// The backend was closed; create a new one.
    #[error("the download backend is closed; create a new backend to load more patches")]
    Closed,
    /// The cube or its storage.
    #[error(transparent)]
    Core(#[from] geocube_core::Error),
    /// A thread could not be started.
    #[error("cannot start backend threads: {source}")]
    Threads {
        /// The OS's refusal.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The writer thread panicked; patches it held were not committed.
    #[error("the writer thread panicked")]
    WriterPanicked,
}

/// The failures, those that failed the same way named together: a batch
/// whose commit failed (a full disk) is one reason for all its patches,
/// said once.
fn list(failed: &[PatchFailure]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for f in failed {
        let what = f.what();
        match groups.iter_mut().find(|(w, _)| *w == what) {
            Some((_, ids)) => ids.push(&f.id),
            None => groups.push((what, vec![&f.id])),
        }
    }
    groups
        .iter()
        .map(|(what, ids)| {
            let ids: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
            format!("{}: {what}", ids.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_one_cause_are_named_together() {
        let write = |id: &str| PatchFailure {
            id: id.into(),
            stage: Stage::Write,
            tries: 1,
            message: "zarr: No space left on device (os error 28)".into(),
        };
        let err = Error::Submit {
            requested: 4,
            failed: vec![
                write("a"),
                write("b"),
                PatchFailure {
                    id: "c".into(),
                    stage: Stage::Download,
                    tries: 5,
                    message: "HTTP 503".into(),
                },
                write("d"),
            ],
        };
        assert_eq!(
            err.to_string(),
            "4 of 4 patches could not be loaded: `a`, `b`, `d`: write failed: zarr: No space left on device (os error 28); `c`: download failed after 5 tries: HTTP 503"
        );
        let not_started = PatchFailure {
            tries: 0,
            stage: Stage::Download,
            ..write("e")
        };
        assert!(not_started.to_string().contains("download could not start"));
    }
}
