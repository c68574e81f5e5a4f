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

impl fmt::Display for PatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Download => "download",
            Stage::Write => "write",
        };
        write!(
            f,
            "`{}`: {stage} failed after {} tries: {}",
            self.id, self.tries, self.message
        )
    }
}

/// Everything that can go wrong in `geocube-backend`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Some patches of a submit could not be loaded; the others were.
    #[error("{} of {requested} patches could not be loaded: {}", failed.len(), list(failed))]
    Submit {
        /// How many distinct patches the submit asked for.
        requested: usize,
        /// The patches that failed, each with its reason.
        failed: Vec<PatchFailure>,
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

fn list(failed: &[PatchFailure]) -> String {
    failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
