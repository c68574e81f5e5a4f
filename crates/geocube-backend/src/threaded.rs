//! The threaded backend: a pool of download workers, a bounded channel, one
//! writer that coalesces queued patches into one commit, holding the batch
//! open while download jobs are pending (`BackendConfig::linger`).
//!
//! The workers are started as downloads arrive, one per outstanding
//! download up to `BackendConfig::workers` (capped at
//! [`BackendConfig::MAX_WORKERS`]): a load of one patch starts one thread,
//! whatever the configured count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use geocube_core::{Cube, CubeStorage, Patch, PatchRef, StreamingDownloadFn};

use crate::claim::PatchClaim;
use crate::pool::WorkerPool;
use crate::shared::{CANCELLED, Fetched, Shared};
use crate::{
    BackendConfig, DownloadBackend, DownloadFn, Error, EventLog, PatchFailure, Result, Stage,
    SubmitReport,
};

/// How a patch's journey ended, shared by every submit waiting for it.
#[derive(Default)]
struct Completion {
    result: Mutex<Option<Result<bool, PatchFailure>>>,
    done: Condvar,
    /// Submission order across this backend: a batch records its ids in it.
    rank: u64,
}

impl Completion {
    /// `Ok(true)`: written by this backend; `Ok(false)`: found already
    /// loaded. `None` once `cancel` is set and the patch has not ended.
    fn wait(&self, cancel: &geocube_core::CancelToken) -> Option<Result<bool, PatchFailure>> {
        // How often a waiting submit looks at the cancel token.
        const TICK: Duration = Duration::from_millis(50);
        let mut r = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(r) = r.as_ref() {
                return Some(r.clone());
            }
            if cancel.is_cancelled() {
                return None;
            }
            r = self
                .done
                .wait_timeout(r, TICK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Who waits for a queued patch, and the claim held until its commit.
type Waiter = (Arc<Completion>, Option<PatchClaim>);

struct WriteJob {
    patch: Patch,
    completion: Arc<Completion>,
    // Held until the commit so other processes wait instead of downloading.
    _claim: Option<PatchClaim>,
}

struct Inner {
    shared: Shared,
    inflight: Mutex<HashMap<String, Arc<Completion>>>,
    /// Download jobs submitted and not yet ended: queued in the pool,
    /// waiting for a claim, downloading, or handing their patch to the writer.
    downloading: Arc<AtomicUsize>,
    /// The next submitted patch's [`Completion::rank`].
    next_rank: AtomicU64,
}

/// Counts one download job from its submission until it ends, whichever
/// way it ends.
struct Downloading(Arc<AtomicUsize>);

impl Downloading {
    /// Count a job about to be submitted.
    fn submit(n: &Arc<AtomicUsize>) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(n))
    }
}

impl Drop for Downloading {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inner {
    fn inflight(&self) -> MutexGuard<'_, HashMap<String, Arc<Completion>>> {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publish the outcome of `id` and forget it: later submits re-check the cube.
    fn finish(&self, id: &str, completion: &Completion, result: Result<bool, PatchFailure>) {
        let mut inflight = self.inflight();
        *completion
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(result);
        completion.done.notify_all();
        inflight.remove(id);
    }

    fn download_job(
        &self,
        idx: &PatchRef,
        completion: &Arc<Completion>,
        sender: &Sender<WriteJob>,
        running: Downloading,
    ) {
        let fail = |message: String| PatchFailure {
            id: idx.id.clone(),
            stage: Stage::Download,
            tries: 0,
            message,
        };
        if self.shared.cancel.is_cancelled() {
            return self.finish(&idx.id, completion, Err(fail(CANCELLED.into())));
        }
        let claim = match crate::claim::claim(
            &self.shared.storage,
            &idx.id,
            self.shared.claim_lease,
            &self.shared.cancel,
        ) {
            Ok(c) => c,
            Err(e) => return self.finish(&idx.id, completion, Err(fail(e.to_string()))),
        };
        if claim.is_some() {
            // Another process may have committed it since the submit looked.
            match self.shared.cube().and_then(|c| c.loaded()) {
                Ok(ids) if ids.contains(&idx.id) => {
                    return self.finish(&idx.id, completion, Ok(false));
                }
                Ok(_) => {}
                Err(e) => return self.finish(&idx.id, completion, Err(fail(e.to_string()))),
            }
        }
        match self.shared.fetch(idx) {
            Ok(Fetched::Committed(out)) => {
                drop(running);
                let written = out.written.contains(&idx.id);
                self.finish(&idx.id, completion, Ok(written));
                drop(claim); // after the commit
            }
            Ok(Fetched::Whole(_)) if self.shared.cancel.is_cancelled() => {
                drop(running);
                self.finish(&idx.id, completion, Err(fail(CANCELLED.into())));
            }
            Ok(Fetched::Whole(patch)) => {
                let job = WriteJob {
                    patch,
                    completion: Arc::clone(completion),
                    _claim: claim,
                };
                let sent = sender.send(job);
                drop(running);
                if let Err(crossbeam_channel::SendError(job)) = sent {
                    let failure = PatchFailure {
                        stage: Stage::Write,
                        ..fail("the writer has stopped".into())
                    };
                    self.finish(&idx.id, &job.completion, Err(failure));
                }
            }
            Err(failure) => self.finish(&idx.id, completion, Err(failure)),
        }
    }

    /// One batch: merge `first` and then, while download jobs are still
    /// pending (queued, downloading or handing over; for at most `linger`),
    /// each patch as it arrives, into one staged write; then commit it. The
    /// patches of one load usually share chunks, so one commit encodes each
    /// shared chunk once, not per patch; and since each patch is merged (and
    /// dropped) on arrival, memory is the staged write's chunk buffer, not
    /// the batch.
    fn write_batch(
        &self,
        first: WriteJob,
        rx: &Receiver<WriteJob>,
        max_batch: usize,
        linger: Duration,
    ) {
        // Poll the pending count this often: a job may end without sending
        // anything (failure, or found loaded by another process).
        const TICK: Duration = Duration::from_millis(10);
        let cube = match self.shared.cube() {
            Ok(c) => c,
            Err(e) => return self.fail_job(&first, &e.to_string()),
        };
        let mut staged = match cube.stage() {
            Ok(s) => s.buffer_bytes(self.shared.write_buffer_bytes),
            Err(e) => return self.fail_job(&first, &e.to_string()),
        };
        let deadline = Instant::now() + linger;
        let mut members: Vec<Waiter> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let mut next = Some(first);
        let mut count = 0;
        loop {
            if let Some(job) = next.take() {
                count += 1;
                let id = job.patch.id.clone();
                // Not a timeline event: merging is a copy; the commit below,
                // which encodes, is the batch's write.
                match staged.add(&job.patch) {
                    Ok(_) => {
                        ids.push(id);
                        members.push((job.completion, job._claim));
                    }
                    // Checked before anything was merged: only this patch fails.
                    Err(e @ geocube_core::Error::InvalidPatch { .. }) => {
                        let failure = PatchFailure {
                            id: id.clone(),
                            stage: Stage::Write,
                            tries: 1,
                            message: e.to_string(),
                        };
                        self.finish(&id, &job.completion, Err(failure));
                    }
                    // The staged write may hold half a chunk: drop the batch.
                    Err(e) => {
                        let message = e.to_string();
                        for (id, (completion, _claim)) in ids.iter().zip(&members) {
                            self.finish(id, completion, Err(write_failure(id, 1, &message)));
                        }
                        self.finish(&id, &job.completion, Err(write_failure(&id, 1, &message)));
                        return;
                    }
                }
            }
            if count >= max_batch || self.shared.cancel.is_cancelled() {
                break;
            }
            match rx.try_recv() {
                Ok(job) => next = Some(job),
                Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    if self.downloading.load(Ordering::SeqCst) == 0 {
                        // A job is counted until its send returns, so whatever
                        // ran before the count dropped is queued now.
                        match rx.try_recv() {
                            Ok(job) => next = Some(job),
                            Err(_) => break,
                        }
                        continue;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match rx.recv_timeout(TICK.min(deadline - now)) {
                        Ok(job) => next = Some(job),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
        if self.shared.cancel.is_cancelled() {
            // Dropped, not committed: the staged write leaves no trace.
            for (id, (completion, _claim)) in ids.iter().zip(&members) {
                self.finish(id, completion, Err(write_failure(id, 0, CANCELLED)));
            }
            return;
        }
        // In submission order, not in the order the downloads finished.
        let rank: HashMap<&str, u64> = ids
            .iter()
            .zip(&members)
            .map(|(id, (completion, _))| (id.as_str(), completion.rank))
            .collect();
        staged.order_ids_by(|id| rank.get(id.as_str()).copied().unwrap_or(u64::MAX));
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let committed = self
            .shared
            .events
            .record_commit(&refs, || staged.commit("Write patches"));
        match committed {
            Ok(out) => {
                for (id, (completion, _claim)) in ids.iter().zip(&members) {
                    self.finish(id, completion, Ok(out.written.contains(id)));
                }
            }
            Err(e) => {
                let tries = match e {
                    geocube_core::Error::Conflict { tries, .. } => tries,
                    _ => 1,
                };
                let message = e.to_string();
                for (id, (completion, _claim)) in ids.iter().zip(&members) {
                    self.finish(id, completion, Err(write_failure(id, tries, &message)));
                }
            }
        }
        drop(members); // releases the claims after the commit
    }

    /// Fail `job` when no batch could be started for it (later jobs try
    /// their own).
    fn fail_job(&self, job: &WriteJob, message: &str) {
        let id = &job.patch.id;
        self.finish(id, &job.completion, Err(write_failure(id, 0, message)));
    }

    fn writer_loop(&self, rx: &Receiver<WriteJob>, max_batch: usize, linger: Duration) {
        while let Ok(first) = rx.recv() {
            self.write_batch(first, rx, max_batch, linger);
        }
    }
}

fn write_failure(id: &str, tries: u32, message: &str) -> PatchFailure {
    PatchFailure {
        id: id.to_owned(),
        stage: Stage::Write,
        tries,
        message: message.to_owned(),
    }
}

/// Downloads on a pool of workers, writes on one writer thread.
///
/// Any number of threads may call [`DownloadBackend::submit`] at once: a
/// patch already being downloaded or written by another submit is awaited,
/// not fetched again.
pub struct ThreadedBackend {
    inner: Arc<Inner>,
    pool: WorkerPool,
    sender: Mutex<Option<Sender<WriteJob>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl ThreadedBackend {
    /// Start the writer for the cube at `storage` (which may be created
    /// later); download workers start with the first submits. Sizes beyond
    /// the [`BackendConfig`] maxima are capped (with a warning).
    ///
    /// # Errors
    /// [`Error::Threads`] when the OS refuses the writer thread.
    pub fn new(storage: CubeStorage, download: DownloadFn, config: BackendConfig) -> Result<Self> {
        Self::build(storage, download, None, config)
    }

    /// [`ThreadedBackend::new`] with a streaming download function: patches
    /// larger than [`BackendConfig::whole_patch_bytes`] are downloaded and
    /// written chunk by chunk, each into a commit of its own, by the worker
    /// that downloads them.
    ///
    /// # Errors
    /// As [`ThreadedBackend::new`].
    pub fn with_streaming(
        storage: CubeStorage,
        download: DownloadFn,
        streaming: StreamingDownloadFn,
        config: BackendConfig,
    ) -> Result<Self> {
        Self::build(storage, download, Some(streaming), config)
    }

    fn build(
        storage: CubeStorage,
        download: DownloadFn,
        streaming: Option<StreamingDownloadFn>,
        config: BackendConfig,
    ) -> Result<Self> {
        let config = config.capped();
        let inner = Arc::new(Inner {
            shared: Shared::new(storage, download, streaming, &config),
            inflight: Mutex::new(HashMap::new()),
            downloading: Arc::new(AtomicUsize::new(0)),
            next_rank: AtomicU64::new(0),
        });
        let pool = WorkerPool::new(config.workers, "geocube-download");
        let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity);
        let writer_inner = Arc::clone(&inner);
        let (max_batch, linger) = (config.max_batch, config.linger);
        let writer = std::thread::Builder::new()
            .name("geocube-writer".into())
            .spawn(move || writer_inner.writer_loop(&rx, max_batch, linger))
            .map_err(|e| Error::Threads {
                source: Box::new(e),
            })?;
        Ok(Self {
            inner,
            pool,
            sender: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Download worker threads started so far (at most the configured
    /// workers, and never more than the downloads outstanding at once).
    #[must_use]
    pub fn worker_threads(&self) -> usize {
        self.pool.threads()
    }
}

impl DownloadBackend for ThreadedBackend {
    fn storage(&self) -> &CubeStorage {
        &self.inner.shared.storage
    }

    fn created(&self) -> bool {
        self.inner.shared.created()
    }

    fn cube(&self) -> Result<Arc<Cube>> {
        Ok(self.inner.shared.cube()?)
    }

    fn submit(&self, patches: &[PatchRef]) -> Result<SubmitReport> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(Error::Closed)?;
        let cube = self.inner.shared.cube()?;
        let loaded = cube.loaded()?;
        let todo = crate::unique(patches);
        let mut report = SubmitReport {
            requested: todo.len(),
            ..SubmitReport::default()
        };
        // Before anything is claimed or marked in flight.
        if todo.iter().any(|idx| !loaded.contains(&idx.id)) {
            crate::claim::check_writable(&self.inner.shared.storage)?;
        }
        let mut waits: Vec<(String, Arc<Completion>, bool)> = vec![];
        let mut jobs = vec![];
        {
            let mut inflight = self.inner.inflight();
            for idx in todo {
                if let Some(c) = inflight.get(&idx.id) {
                    waits.push((idx.id.clone(), Arc::clone(c), false));
                } else if loaded.contains(&idx.id) {
                    report.already_loaded += 1;
                } else {
                    let c = Arc::new(Completion {
                        rank: self.inner.next_rank.fetch_add(1, Ordering::Relaxed),
                        ..Completion::default()
                    });
                    inflight.insert(idx.id.clone(), Arc::clone(&c));
                    waits.push((idx.id.clone(), Arc::clone(&c), true));
                    // Counted now, spawned below: the writer must not see
                    // the count at zero between two jobs of one submit.
                    let running = Downloading::submit(&self.inner.downloading);
                    jobs.push((idx.clone(), c, running));
                }
            }
        }
        for (idx, c, running) in jobs {
            let (inner, sender) = (Arc::clone(&self.inner), sender.clone());
            let (id, completion) = (idx.id.clone(), Arc::clone(&c));
            let job = Box::new(move || inner.download_job(&idx, &c, &sender, running));
            if let Err(e) = self.pool.execute(job) {
                let failure = PatchFailure {
                    id: id.clone(),
                    stage: Stage::Download,
                    tries: 0,
                    message: format!("cannot start a download worker: {e}"),
                };
                self.inner.finish(&id, &completion, Err(failure));
            }
        }
        drop(sender);
        let mut failed = vec![];
        for (id, completion, ours) in waits {
            match completion.wait(&self.inner.shared.cancel) {
                Some(Ok(true)) if ours => report.downloaded.push(id),
                Some(Ok(_)) => report.awaited += 1,
                Some(Err(f)) => failed.push(f),
                None => break,
            }
        }
        if self.inner.shared.cancel.is_cancelled() {
            return Err(Error::Cancelled {
                committed: report.downloaded.len(),
            });
        }
        report.or_failures(failed)
    }

    fn cancel(&self) {
        self.inner.shared.cancel.cancel();
    }

    fn close(&self) -> Result<()> {
        // Dropping the last sender ends the writer once queued jobs are done;
        // workers still downloading hold clones and finish first.
        self.pool.close(false);
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if self.inner.shared.cancel.is_cancelled() {
            // Not waiting for downloads in flight (a stalled server may
            // take its whole deadline): they end on their own, find the
            // token set, and commit nothing.
            return Ok(());
        }
        if let Some(handle) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            handle.join().map_err(|_| Error::WriterPanicked)?;
        }
        // Every job has ended (each held a sender): the workers are leaving.
        self.pool.close(true);
        Ok(())
    }

    fn events(&self) -> &EventLog {
        &self.inner.shared.events
    }
}

impl Drop for ThreadedBackend {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
