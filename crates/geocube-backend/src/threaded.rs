//! The threaded backend: a pool of download workers, a bounded channel, one
//! writer that coalesces queued patches into one commit, holding the batch
//! open while download jobs are pending (`BackendConfig::linger`).
//!
//! The workers are started as downloads arrive, one per outstanding
//! download up to `BackendConfig::workers` (capped at
//! [`BackendConfig::MAX_WORKERS`]): a load of one patch starts one thread,
//! whatever the configured count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use geocube_core::{Cube, CubeStorage, Patch, PatchRef};

use crate::claim::PatchClaim;
use crate::pool::WorkerPool;
use crate::shared::Shared;
use crate::{
    BackendConfig, DownloadBackend, DownloadFn, Error, EventLog, PatchFailure, Result, Stage,
    SubmitReport,
};

/// How a patch's journey ended, shared by every submit waiting for it.
#[derive(Default)]
struct Completion {
    result: Mutex<Option<Result<bool, PatchFailure>>>,
    done: Condvar,
}

impl Completion {
    /// `Ok(true)`: written by this backend; `Ok(false)`: found already loaded.
    fn wait(&self) -> Result<bool, PatchFailure> {
        let mut r = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(r) = r.as_ref() {
                return r.clone();
            }
            r = self.done.wait(r).unwrap_or_else(PoisonError::into_inner);
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
        let claim = match crate::claim::claim(&self.shared.storage, &idx.id) {
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
        match self.shared.download(idx) {
            Ok(patch) => {
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

    /// Gather a batch: everything queued, and while download jobs are still
    /// pending (queued, downloading or handing over; for at most `linger`),
    /// their patches as they arrive. The patches of one load usually share
    /// chunks, so one commit encodes each shared chunk once, not per patch.
    fn gather(
        &self,
        first: WriteJob,
        rx: &Receiver<WriteJob>,
        max_batch: usize,
        linger: Duration,
    ) -> Vec<WriteJob> {
        // Poll the pending count this often: a job may end without sending
        // anything (failure, or found loaded by another process).
        const TICK: Duration = Duration::from_millis(10);
        let deadline = Instant::now() + linger;
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    if self.downloading.load(Ordering::SeqCst) == 0 {
                        // A job is counted until its send returns, so whatever
                        // ran before the count dropped is queued now.
                        batch.extend(rx.try_iter().take(max_batch - batch.len()));
                        break;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match rx.recv_timeout(TICK.min(deadline - now)) {
                        Ok(job) => batch.push(job),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
        batch
    }

    fn writer_loop(&self, rx: &Receiver<WriteJob>, max_batch: usize, linger: Duration) {
        while let Ok(first) = rx.recv() {
            let batch = self.gather(first, rx, max_batch, linger);
            let (patches, jobs): (Vec<Patch>, Vec<Waiter>) = batch
                .into_iter()
                .map(|j| (j.patch, (j.completion, j._claim)))
                .unzip();
            match self.shared.write(&patches) {
                Ok(out) => {
                    for (patch, (completion, _claim)) in patches.iter().zip(&jobs) {
                        let written = out.written.contains(&patch.id);
                        self.finish(&patch.id, completion, Ok(written));
                    }
                }
                // One bad patch must not sink the others: write them one by
                // one. Not when the storage failed (a full disk): each
                // attempt would fail the same way, leaving more orphaned
                // chunk files behind.
                Err((_, ref e)) if patches.len() > 1 && !e.is_storage_failure() => {
                    for (patch, (completion, _claim)) in patches.iter().zip(&jobs) {
                        let result = self
                            .shared
                            .write(std::slice::from_ref(patch))
                            .map(|out| out.written.contains(&patch.id))
                            .map_err(|(tries, e)| PatchFailure {
                                id: patch.id.clone(),
                                stage: Stage::Write,
                                tries,
                                message: e.to_string(),
                            });
                        self.finish(&patch.id, completion, result);
                    }
                }
                Err((tries, e)) => {
                    for (patch, (completion, _claim)) in patches.iter().zip(&jobs) {
                        let failure = PatchFailure {
                            id: patch.id.clone(),
                            stage: Stage::Write,
                            tries,
                            message: e.to_string(),
                        };
                        self.finish(&patch.id, completion, Err(failure));
                    }
                }
            }
            drop(jobs); // releases the claims after the commit
        }
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
        let config = config.capped();
        let inner = Arc::new(Inner {
            shared: Shared::new(storage, download, &config),
            inflight: Mutex::new(HashMap::new()),
            downloading: Arc::new(AtomicUsize::new(0)),
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
                    let c = Arc::new(Completion::default());
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
            match completion.wait() {
                Ok(true) if ours => report.downloaded.push(id),
                Ok(_) => report.awaited += 1,
                Err(f) => failed.push(f),
            }
        }
        report.or_failures(failed)
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
