//! What both backends share: the lazily opened cube, the download function,
//! retried downloads and retried writes.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

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
    pub(crate) fn cube(&self) -> Result<Arc<Cube>> {
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
        let policy = self.download_policy;
        let mut attempt = 1;
        loop {
            let res = self
                .events
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
                });
            match res {
                Ok(patch) if patch.id == idx.id => return Ok(patch),
                Ok(patch) => {
                    return Err(PatchFailure {
                        id: idx.id.clone(),
                        stage: Stage::Download,
                        tries: attempt,
                        message: format!(
                            "the source returned patch `{}` for `{}`",
                            patch.id, idx.id
                        ),
                    });
                }
                Err(e) if e.retryable && attempt < policy.max_tries => {
                    tracing::warn!(id = %idx.id, attempt, error = %e, "download failed, retrying");
                    std::thread::sleep(policy.delay(attempt));
                    attempt += 1;
                }
                Err(e) => {
                    return Err(PatchFailure {
                        id: idx.id.clone(),
                        stage: Stage::Download,
                        tries: attempt,
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    /// Write a batch in one commit, retrying lost commit races on the new tip.
    pub(crate) fn write(
        &self,
        patches: &[Patch],
    ) -> Result<WriteOutcome, (u32, geocube_core::Error)> {
        let cube = self.cube().map_err(|e| match e {
            crate::Error::Core(c) => (1, c),
            other => (1, geocube_core::Error::Icechunk(other.to_string())),
        })?;
        let ids: Vec<&str> = patches.iter().map(|p| p.id.as_str()).collect();
        let policy = self.conflict_policy;
        let mut attempt = 1;
        loop {
            match self
                .events
                .record(&ids, Action::Write, attempt, || cube.write_patches(patches))
            {
                Ok(out) => return Ok(out),
                Err(geocube_core::Error::Conflict { .. }) if attempt < policy.max_tries => {
                    tracing::debug!(attempt, "commit conflict, retrying on the new branch tip");
                    std::thread::sleep(policy.delay(attempt));
                    attempt += 1;
                }
                Err(geocube_core::Error::Conflict { branch, .. }) => {
                    return Err((
                        attempt,
                        geocube_core::Error::Conflict {
                            branch,
                            tries: attempt,
                        },
                    ));
                }
                Err(e) => return Err((attempt, e)),
            }
        }
    }
}
