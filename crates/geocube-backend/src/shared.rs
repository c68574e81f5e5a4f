//! What both backends share: the lazily opened cube, the download function,
//! retried downloads and retried writes.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use geocube_core::retry::Exhausted;
use geocube_core::{Cube, CubeStorage, Patch, PatchRef, WriteOutcome};

use crate::events::{Action, EventLog};
use crate::{BackendConfig, DownloadFn, PatchFailure, Result, RetryPolicy, Stage};

pub(crate) struct Shared {
    pub(crate) storage: CubeStorage,
    cube: Mutex<Option<Arc<Cube>>>,
    download: DownloadFn,
    pub(crate) events: EventLog,
    download_policy: RetryPolicy,
    conflict_policy: RetryPolicy,
    chunk_cache_bytes: usize,
}

impl Shared {
    pub(crate) fn new(storage: CubeStorage, download: DownloadFn, config: &BackendConfig) -> Self {
        Self {
            storage,
            cube: Mutex::new(None),
            download,
            events: EventLog::default(),
            download_policy: config.download_retry,
            conflict_policy: config.conflict_retry,
            chunk_cache_bytes: config.chunk_cache_bytes,
        }
    }

    /// The cube, opened on first use (it may be created after the backend).
    pub(crate) fn cube(&self) -> geocube_core::Result<Arc<Cube>> {
        let mut slot = self
            .cube
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(Arc::clone(c));
        }
        let cube = Arc::new(Cube::open(self.storage.clone())?);
        cube.set_chunk_cache_bytes(self.chunk_cache_bytes);
        *slot = Some(Arc::clone(&cube));
        Ok(cube)
    }

    pub(crate) fn created(&self) -> bool {
        self.cube().is_ok()
    }

    /// Download with retries of retryable errors; a panicking download
    /// function is a failed (not retried) download, never a crashed worker.
    pub(crate) fn download(&self, idx: &PatchRef) -> Result<Patch, PatchFailure> {
        let attempt_download = |attempt| {
            self.events
                .record(&[&idx.id], Action::Download, attempt, || {
                    std::panic::catch_unwind(AssertUnwindSafe(|| (self.download)(idx)))
                        .unwrap_or_else(|panic| {
                            let what = panic
                                .downcast_ref::<&str>()
                                .map(|s| (*s).to_owned())
                                .or_else(|| panic.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "unknown panic".into());
                            Err(crate::DownloadError::fatal(format!(
                                "the download function panicked: {what}"
                            )))
                        })
                })
                .map(|patch| (patch, attempt))
        };
        let failure = |tries, message| PatchFailure {
            id: idx.id.clone(),
            stage: Stage::Download,
            tries,
            message,
        };
        match self
            .download_policy
            .run_with_backoff(attempt_download, |e, next| {
                if e.retryable {
                    tracing::warn!(
                        "retrying the download of `{}` (attempt {} of {}) after {:.1} s: {e}",
                        idx.id,
                        next.attempt,
                        next.max_tries,
                        next.delay.as_secs_f64()
                    );
                }
                e.retryable
            }) {
            Ok((patch, _)) if patch.id == idx.id => Ok(patch),
            Ok((patch, tries)) => Err(failure(
                tries,
                format!("the source returned patch `{}` for `{}`", patch.id, idx.id),
            )),
            Err(Exhausted { error, tries }) => Err(failure(tries, error.to_string())),
        }
    }

    /// Write a batch in one commit, retrying lost commit races on the new tip.
    pub(crate) fn write(
        &self,
        patches: &[Patch],
    ) -> Result<WriteOutcome, (u32, geocube_core::Error)> {
        let cube = self.cube().map_err(|e| (1, e))?;
        let ids: Vec<&str> = patches.iter().map(|p| p.id.as_str()).collect();
        let commit = |attempt| {
            self.events
                .record(&ids, Action::Write, attempt, || cube.write_patches(patches))
        };
        self.conflict_policy
            .run(commit, |e, attempt| {
                let conflict = matches!(e, geocube_core::Error::Conflict { .. });
                if conflict {
                    tracing::debug!(attempt, "commit conflict, retrying on the new branch tip");
                }
                conflict
            })
            .map_err(|Exhausted { error, tries }| match error {
                geocube_core::Error::Conflict { branch, .. } => {
                    (tries, geocube_core::Error::Conflict { branch, tries })
                }
                other => (tries, other),
            })
    }
}
