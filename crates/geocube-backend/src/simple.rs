//! The blocking backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use geocube_core::{Cube, CubeStorage, PatchRef, StreamingDownloadFn};

use crate::shared::{Fetched, Shared};
use crate::{
    BackendConfig, DownloadBackend, DownloadFn, Error, EventLog, PatchFailure, Result, Stage,
    SubmitReport,
};

/// Downloads, writes and commits one patch at a time on the caller's thread.
pub struct SimpleBackend {
    shared: Shared,
    closed: AtomicBool,
}

impl SimpleBackend {
    /// A backend for the cube at `storage` (which may be created later).
    pub fn new(storage: CubeStorage, download: DownloadFn, config: BackendConfig) -> Self {
        Self {
            shared: Shared::new(storage, download, None, &config),
            closed: AtomicBool::new(false),
        }
    }

    /// [`SimpleBackend::new`] with a streaming download function: patches
    /// larger than [`BackendConfig::whole_patch_bytes`] are downloaded and
    /// written chunk by chunk.
    pub fn with_streaming(
        storage: CubeStorage,
        download: DownloadFn,
        streaming: StreamingDownloadFn,
        config: BackendConfig,
    ) -> Self {
        Self {
            shared: Shared::new(storage, download, Some(streaming), &config),
            closed: AtomicBool::new(false),
        }
    }
}

impl DownloadBackend for SimpleBackend {
    fn storage(&self) -> &CubeStorage {
        &self.shared.storage
    }

    fn created(&self) -> bool {
        self.shared.created()
    }

    fn cube(&self) -> Result<Arc<Cube>> {
        Ok(self.shared.cube()?)
    }

    fn submit(&self, patches: &[PatchRef]) -> Result<SubmitReport> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let cube = self.shared.cube()?;
        let loaded = cube.loaded()?;
        let todo = crate::unique(patches);
        let mut report = SubmitReport {
            requested: todo.len(),
            ..SubmitReport::default()
        };
        if todo.iter().any(|idx| !loaded.contains(&idx.id)) {
            crate::claim::check_writable(&self.shared.storage)?;
        }
        let mut failed = vec![];
        for idx in todo {
            if self.shared.cancel.is_cancelled() {
                return Err(Error::Cancelled {
                    committed: report.downloaded.len(),
                });
            }
            if loaded.contains(&idx.id) {
                report.already_loaded += 1;
                continue;
            }
            let claim = crate::claim::claim(
                &self.shared.storage,
                &idx.id,
                self.shared.claim_lease,
                &self.shared.cancel,
            )?;
            if claim.is_some() && cube.loaded()?.contains(&idx.id) {
                report.awaited += 1;
                continue;
            }
            let fetched = self.shared.fetch(idx);
            if self.shared.cancel.is_cancelled() && !matches!(fetched, Ok(Fetched::Committed(_))) {
                return Err(Error::Cancelled {
                    committed: report.downloaded.len(),
                });
            }
            let patch = match fetched {
                Ok(Fetched::Whole(p)) => p,
                Ok(Fetched::Committed(out)) => {
                    if out.written.is_empty() {
                        report.awaited += 1;
                    } else {
                        report.downloaded.push(idx.id.clone());
                    }
                    continue;
                }
                Err(f) => {
                    failed.push(f);
                    continue;
                }
            };
            match self.shared.write(std::slice::from_ref(&patch)) {
                Ok(out) if out.written.is_empty() => report.awaited += 1,
                Ok(_) => report.downloaded.push(idx.id.clone()),
                Err((tries, e)) => failed.push(PatchFailure {
                    id: idx.id.clone(),
                    stage: Stage::Write,
                    tries,
                    message: e.to_string(),
                }),
            }
            drop(claim);
        }
        report.or_failures(failed)
    }

    fn cancel(&self) {
        self.shared.cancel.cancel();
    }

    fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    fn events(&self) -> &EventLog {
        &self.shared.events
    }
}
