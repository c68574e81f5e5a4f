//! What both backends share: the lazily opened cube, the download function,
//! retried downloads and retried writes.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use geocube_core::retry::{Backoff, Exhausted};
use geocube_core::{
    Cube, CubeStorage, DownloadError, Patch, PatchRef, StagedWrite, Streamed, StreamingDownloadFn,
    WriteOutcome,
};

use crate::events::{Action, EventLog};
use crate::{BackendConfig, DownloadFn, PatchFailure, Result, RetryPolicy, Stage};

pub(crate) struct Shared {
    pub(crate) storage: CubeStorage,
    cube: Mutex<Option<Arc<Cube>>>,
    download: DownloadFn,
    streaming: Option<StreamingDownloadFn>,
    pub(crate) events: EventLog,
    download_policy: RetryPolicy,
    conflict_policy: RetryPolicy,
    chunk_cache_bytes: usize,
    pub(crate) write_buffer_bytes: usize,
    whole_patch_bytes: u64,
    pub(crate) cancel: geocube_core::CancelToken,
    pub(crate) claim_lease: std::time::Duration,
}

/// A downloaded patch: whole, for the writer to merge, or already streamed
/// chunk by chunk into a commit of its own.
pub(crate) enum Fetched {
    Whole(Patch),
    Committed(WriteOutcome),
}

impl Shared {
    pub(crate) fn new(
        storage: CubeStorage,
        download: DownloadFn,
        streaming: Option<StreamingDownloadFn>,
        config: &BackendConfig,
    ) -> Self {
        Self {
            storage,
            cube: Mutex::new(None),
            download,
            streaming,
            events: EventLog::default(),
            download_policy: config.download_retry,
            conflict_policy: config.conflict_retry,
            chunk_cache_bytes: config.chunk_cache_bytes,
            write_buffer_bytes: config.write_buffer_bytes,
            whole_patch_bytes: config.whole_patch_bytes,
            cancel: config.cancel.clone(),
            claim_lease: config.claim_lease,
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
                        .unwrap_or_else(|panic| Err(panicked(&*panic)))
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
                self.retry_download(&idx.id, e, next)
            }) {
            Ok((patch, _)) if patch.id == idx.id => Ok(patch),
            Ok((patch, tries)) => Err(failure(
                tries,
                format!("the source returned patch `{}` for `{}`", patch.id, idx.id),
            )),
            Err(Exhausted { error, tries }) => Err(failure(tries, error.to_string())),
        }
    }

    /// Download a patch: whole through the streaming download function when
    /// it fits [`BackendConfig::whole_patch_bytes`], else chunk by chunk
    /// into a staged write of its own that is committed once the last piece
    /// is in (pixels and id together). Retries start the download over; the
    /// pieces already merged stay (merging a piece again changes nothing).
    pub(crate) fn fetch(&self, idx: &PatchRef) -> Result<Fetched, PatchFailure> {
        let Some(stream) = &self.streaming else {
            return self.download(idx).map(Fetched::Whole);
        };
        let failure = |stage, tries, message| PatchFailure {
            id: idx.id.clone(),
            stage,
            tries,
            message,
        };
        let cube = self
            .cube()
            .map_err(|e| failure(Stage::Download, 0, e.to_string()))?;
        let mut staged: Option<StagedWrite<'_>> = None;
        let attempt_download = |attempt| {
            self.events
                .record(&[&idx.id], Action::Download, attempt, || {
                    let mut sink = |piece: Patch| -> Result<(), DownloadError> {
                        if piece.id != idx.id {
                            return Err(DownloadError::fatal(format!(
                                "the source returned a piece of `{}` for `{}`",
                                piece.id, idx.id
                            )));
                        }
                        if staged.is_none() {
                            staged = Some(
                                cube.stage()
                                    .map_err(|e| write_side(&idx.id, e))?
                                    .buffer_bytes(0),
                            );
                        }
                        match staged.as_mut() {
                            Some(s) => s.merge(&piece).map_err(|e| write_side(&idx.id, e)),
                            None => Ok(()),
                        }
                    };
                    std::panic::catch_unwind(AssertUnwindSafe(|| {
                        stream(idx, self.whole_patch_bytes, &mut sink)
                    }))
                    .unwrap_or_else(|panic| Err(panicked(&*panic)))
                })
        };
        let fetched = self
            .download_policy
            .run_with_backoff(attempt_download, |e, next| {
                self.retry_download(&idx.id, e, next)
            });
        match fetched {
            Ok(Streamed::Whole(patch)) if patch.id == idx.id => Ok(Fetched::Whole(patch)),
            Ok(Streamed::Whole(patch)) => Err(failure(
                Stage::Download,
                1,
                format!("the source returned patch `{}` for `{}`", patch.id, idx.id),
            )),
            Ok(Streamed::Pieces) if self.cancel.is_cancelled() => {
                Err(failure(Stage::Write, 0, CANCELLED.into()))
            }
            Ok(Streamed::Pieces) => {
                let Some(mut staged) = staged else {
                    return Err(failure(
                        Stage::Download,
                        1,
                        "the source handed over no piece of the patch".into(),
                    ));
                };
                staged.record(&idx.id);
                self.events
                    .record_commit(&[&idx.id], || staged.commit("Write patches"))
                    .map(Fetched::Committed)
                    .map_err(|e| failure(Stage::Write, 1, e.to_string()))
            }
            Err(Exhausted { error, tries }) => {
                Err(failure(Stage::Download, tries, error.to_string()))
            }
        }
    }

    /// Whether to retry a failed download of `id`: a retryable error while
    /// the backend is not cancelled, said in one line at the default
    /// verbosity.
    fn retry_download(&self, id: &str, e: &DownloadError, next: &Backoff) -> bool {
        if self.cancel.is_cancelled() || !e.retryable {
            return false;
        }
        tracing::warn!(
            "retrying the download of `{id}` (attempt {} of {}) after {:.1} s: {e}",
            next.attempt,
            next.max_tries,
            next.delay.as_secs_f64()
        );
        true
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

/// A panicking download function is a failed (not retried) download.
fn panicked(panic: &(dyn std::any::Any + Send)) -> DownloadError {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    DownloadError::fatal(format!("the download function panicked: {what}"))
}

/// A failure to merge a streamed piece: not worth a retry (a bad piece, a
/// storage failure), and the staged write is dropped with it.
fn write_side(id: &str, e: geocube_core::Error) -> DownloadError {
    DownloadError::fatal(format!("writing a piece of `{id}` failed: {e}")).with_source(e)
}

/// The message of a patch failure caused by cancellation.
pub(crate) const CANCELLED: &str = "cancelled";
