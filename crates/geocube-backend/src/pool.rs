//! The download workers of the threaded backend: a pool that starts its
//! threads only as work arrives, never more than its maximum.
//!
//! Not rayon's pool, on purpose: a rayon pool starts all its threads when it
//! is built, so a worker count taken from the user (`--workers 100000`) was
//! that many threads before the first download, even for a load of one
//! patch. Here a thread is started when a job arrives and fewer threads than
//! outstanding jobs are running (up to the maximum), and every thread is
//! kept for later jobs until the pool is closed.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

/// One unit of work.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of at most `max` threads, started lazily.
pub(crate) struct WorkerPool {
    max: usize,
    name: &'static str,
    sender: Mutex<Option<Sender<Job>>>,
    receiver: Receiver<Job>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Jobs handed to [`WorkerPool::execute`] and not yet finished.
    outstanding: Arc<AtomicUsize>,
}

impl WorkerPool {
    /// A pool of at most `max` (at least 1) threads named `{name}-{i}`.
    /// No thread is started yet.
    pub(crate) fn new(max: usize, name: &'static str) -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded();
        Self {
            max: max.max(1),
            name,
            sender: Mutex::new(Some(sender)),
            receiver,
            threads: Mutex::new(Vec::new()),
            outstanding: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Threads started so far.
    pub(crate) fn threads(&self) -> usize {
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Run `job` on a worker, starting one if every running worker may be
    /// busy and the maximum is not reached.
    ///
    /// # Errors
    /// The OS's refusal to start a thread when no worker runs yet (the job
    /// is dropped without running), or [`std::io::ErrorKind::BrokenPipe`]
    /// after [`WorkerPool::close`]. With at least one worker a refused
    /// thread is only logged: the job waits for a running worker.
    pub(crate) fn execute(&self, job: Job) -> std::io::Result<()> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pool closed"))?;
        {
            // Invariant: threads >= min(max, outstanding), so an outstanding
            // job either runs or waits for a worker busy with another one.
            let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
            let outstanding = self.outstanding.fetch_add(1, Ordering::SeqCst) + 1;
            if threads.len() < self.max.min(outstanding) {
                match self.spawn(threads.len()) {
                    Ok(handle) => threads.push(handle),
                    Err(e) if threads.is_empty() => {
                        self.outstanding.fetch_sub(1, Ordering::SeqCst);
                        return Err(e);
                    }
                    Err(e) => tracing::warn!(
                        running = threads.len(),
                        error = %e,
                        "cannot start another download worker; the running ones take the job"
                    ),
                }
            }
        }
        // The receiver lives as long as the pool: sending cannot fail.
        let _ = sender.send(job);
        Ok(())
    }

    fn spawn(&self, i: usize) -> std::io::Result<JoinHandle<()>> {
        let (rx, outstanding) = (self.receiver.clone(), Arc::clone(&self.outstanding));
        std::thread::Builder::new()
            .name(format!("{}-{i}", self.name))
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    // A panicking job must not take the worker with it: the
                    // invariant above counts on every started thread.
                    if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a download job panicked");
                    }
                    outstanding.fetch_sub(1, Ordering::SeqCst);
                }
            })
    }

    /// Refuse new jobs; the workers finish the queued ones, then end.
    /// `join`: wait for them.
    pub(crate) fn close(&self, join: bool) {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if join {
            let threads =
                std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
            for t in threads {
                // A worker never panics (jobs are caught); nothing to report.
                let _ = t.join();
            }
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.close(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::time::Duration;

    #[test]
    fn threads_start_with_the_work_and_stop_at_the_maximum() {
        let pool = WorkerPool::new(100_000, "t");
        assert_eq!(pool.threads(), 0);
        let (tx, rx) = crossbeam_channel::unbounded();
        let tx1 = tx.clone();
        pool.execute(Box::new(move || tx1.send(1).unwrap_or(())))
            .expect("execute");
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
        assert_eq!(pool.threads(), 1, "one job, one thread");
        // Sequential jobs reuse the idle worker.
        for _ in 0..20 {
            let tx = tx.clone();
            pool.execute(Box::new(move || tx.send(2).unwrap_or(())))
                .expect("execute");
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(2));
        }
        assert!(pool.threads() <= 2, "{}", pool.threads());

        // Eight concurrent jobs on a pool of three: three threads, all done.
        let pool = WorkerPool::new(3, "t");
        let gate = Arc::new(Barrier::new(3));
        for i in 0..8 {
            let (tx, gate) = (tx.clone(), Arc::clone(&gate));
            pool.execute(Box::new(move || {
                if i < 3 {
                    gate.wait(); // the first three run at once
                }
                tx.send(i).unwrap_or(());
            }))
            .expect("execute");
        }
        let mut got: Vec<i32> = (0..8)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("job ran"))
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..8).collect::<Vec<_>>());
        assert_eq!(pool.threads(), 3);
        pool.close(true);
        assert!(pool.execute(Box::new(|| ())).is_err());
    }

    #[test]
    fn a_panicking_job_keeps_its_worker() {
        let pool = WorkerPool::new(1, "t");
        pool.execute(Box::new(|| panic!("boom"))).expect("execute");
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.execute(Box::new(move || tx.send(()).unwrap_or(())))
            .expect("execute");
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(()));
        assert_eq!(pool.threads(), 1);
    }
}
