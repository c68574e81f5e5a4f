//! geocube-backend: turns "these patches are needed" into "these patches are
//! in the cube", safely, from any number of threads and processes.
//!
//! A backend owns a cube location and a download function supplied by a
//! source (`Fn(&PatchRef) -> Result<Patch, DownloadError>`). Two
//! implementations share one conformance suite:
//!
//! - [`SimpleBackend`]: blocking; download, write, commit, one patch at a time.
//! - [`ThreadedBackend`]: a pool of download workers feeding one writer
//!   through a bounded channel; the writer coalesces queued patches, and
//!   waits for pending download jobs, so a load's patches land in one
//!   commit and shared chunks are encoded once; a patch already in flight is
//!   awaited, never fetched twice.
//!
//! Both retry retryable download errors (5 tries, exponential backoff with
//! jitter) and commit conflicts (up to 100 tries on the new branch tip), and
//! on local repositories claim each patch across processes so that no two
//! processes download the same patch.
//!
//! ```
//! use std::sync::Arc;
//! use geocube_backend::{BackendConfig, DownloadBackend, DownloadError, SimpleBackend};
//! use geocube_core::{Affine, ChannelSpec, Crs, Cube, CubeSpec, CubeStorage, DType, GeoBox, Patch, PatchRef, TypedArray};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let grid = GeoBox::new(64, 64, Affine { x0: 0.0, res_x: 10.0, y0: 640.0, res_y: -10.0 }, Crs::from_epsg(32633)?)?;
//! let spec = CubeSpec {
//!     title: "Doc".into(), geobox: grid.clone(), time: None, chunk_size: 32,
//!     channels: vec![ChannelSpec::new("b1", DType::Uint8)], codec: Default::default(),
//! };
//! let storage = CubeStorage::in_memory()?;
//! Cube::create(storage.clone(), &spec).execute()?;
//!
//! // The source's download function: here a constant patch on the cube grid.
//! let download = Arc::new(move |idx: &PatchRef| -> Result<Patch, DownloadError> {
//!     let pixels = TypedArray::Uint8(ndarray::ArrayD::from_elem(vec![64, 64], 7));
//!     Ok(Patch::new(idx.id.clone(), grid.clone()).with_layer("b1", pixels, None))
//! });
//! let backend = SimpleBackend::new(storage, download, BackendConfig::default());
//! let idx = PatchRef::new("tile-1", geo::Geometry::Point(geo::Point::new(15.0, 0.0)), None);
//! backend.submit(&[idx.clone(), idx])?; // duplicates are loaded once
//! assert_eq!(backend.loaded_patches()?, ["tile-1"]);
//! # Ok(()) }
//! ```

mod claim;
mod error;
mod events;
mod pool;
mod shared;
mod simple;
mod threaded;

use std::sync::Arc;

use geocube_core::{Cube, CubeStorage, PatchRef};

pub use crate::claim::CLAIMS_DIR;
pub use crate::error::{Error, PatchFailure, Result, Stage};
pub use crate::events::{Action, Event, EventLog};
// The source contract and the retry policy live in core, shared with the
// sources; re-exported so a backend user needs only this crate.
pub use crate::simple::SimpleBackend;
pub use crate::threaded::ThreadedBackend;
pub use geocube_core::{DownloadError, DownloadFn, RetryPolicy};

/// What one submit did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SubmitReport {
    /// Distinct patch ids asked for.
    pub requested: usize,
    /// Ids this submit downloaded and wrote.
    pub downloaded: Vec<String>,
    /// Ids already in the cube when the submit started.
    pub already_loaded: usize,
    /// Ids another submit (thread or process) was loading; awaited.
    pub awaited: usize,
}

impl SubmitReport {
    /// `Ok(self)` when nothing failed, otherwise [`Error::Submit`] naming every failure.
    pub(crate) fn or_failures(self, failed: Vec<PatchFailure>) -> Result<Self> {
        if failed.is_empty() {
            Ok(self)
        } else {
            Err(Error::Submit {
                requested: self.requested,
                failed,
            })
        }
    }
}

/// Settings shared by both backends.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// Download retries (default: 5 tries, 0.5 s doubling).
    pub download_retry: RetryPolicy,
    /// Commit-conflict retries (default: 100 tries, 5 ms doubling to 1 s).
    pub conflict_retry: RetryPolicy,
    /// [`ThreadedBackend`] download workers (default 4, at most
    /// [`BackendConfig::MAX_WORKERS`]). Started as downloads arrive: never
    /// more threads than downloads outstanding at once.
    pub workers: usize,
    /// [`ThreadedBackend`] capacity of the download → writer channel (default
    /// 2, at most [`BackendConfig::MAX_QUEUE_CAPACITY`]).
    pub queue_capacity: usize,
    /// [`ThreadedBackend`] most patches the writer merges into one commit
    /// (default 64, at most [`BackendConfig::MAX_BATCH`]). Patches are
    /// merged as they arrive and dropped, so this bounds what one failed
    /// commit loses, not memory.
    pub max_batch: usize,
    /// [`ThreadedBackend`] longest time the writer holds a batch open while
    /// download jobs are still pending (default 2 s). Patches of one load
    /// usually share chunks; committing them together encodes each shared
    /// chunk once instead of once per patch.
    pub linger: std::time::Duration,
    /// Memory budget of the decoded-chunk cache of the cube handle the
    /// backend opens (default [`geocube_core::cube::DEFAULT_CHUNK_CACHE_BYTES`],
    /// 512 MiB; 0 turns it off). See [`Cube::set_chunk_cache_bytes`].
    pub chunk_cache_bytes: usize,
    /// Budget of merged chunks a batch holds before encoding them into its
    /// uncommitted session (default
    /// [`geocube_core::cube::DEFAULT_WRITE_BUFFER_BYTES`], 512 MiB). See
    /// [`geocube_core::StagedWrite`].
    pub write_buffer_bytes: usize,
    /// Patches larger than this on the cube grid (all variables) are
    /// downloaded and written chunk by chunk into a commit of their own, by
    /// sources that can ([`geocube_core::Source::download_streaming`]), so
    /// that no patch is held whole (default 256 MiB: a 32 m or 10 m
    /// ArcticDEM tile is held whole, a 2 m one, 2.5 GB, is streamed).
    pub whole_patch_bytes: u64,
    /// Cancels the backend's work when set (see [`DownloadBackend::submit`]):
    /// no new download starts, a streamed patch takes no more pieces, the
    /// batch not yet committed is dropped, and waiting submits return
    /// [`Error::Cancelled`]. Default: a token nobody else holds.
    pub cancel: geocube_core::CancelToken,
    /// How long a patch claim on object storage (S3) lives without renewal:
    /// the holder renews it every third of this while it downloads and
    /// writes; a holder that died stops renewing, and another process takes
    /// the patch over once it expired (default 30 s). Local cubes claim with
    /// OS file locks, which die with their process, and ignore it.
    pub claim_lease: std::time::Duration,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            download_retry: RetryPolicy::downloads(),
            conflict_retry: RetryPolicy::conflicts(),
            workers: 4,
            queue_capacity: 2,
            max_batch: 64,
            linger: std::time::Duration::from_secs(2),
            chunk_cache_bytes: geocube_core::cube::DEFAULT_CHUNK_CACHE_BYTES,
            write_buffer_bytes: geocube_core::cube::DEFAULT_WRITE_BUFFER_BYTES,
            whole_patch_bytes: 256 << 20,
            cancel: geocube_core::CancelToken::new(),
            claim_lease: std::time::Duration::from_secs(30),
        }
    }
}

impl BackendConfig {
    /// The most download workers a [`ThreadedBackend`] runs. Downloads wait
    /// on the network, so more workers help up to the server's (or the
    /// link's) limit, well below this; each worker holds up to one
    /// downloaded patch in memory (about 50 MB for a 32 m ArcticDEM tile,
    /// far more at 2 m), which is what this bounds.
    pub const MAX_WORKERS: usize = 32;
    /// The largest download → writer channel: each slot is a patch in memory.
    pub const MAX_QUEUE_CAPACITY: usize = 64;
    /// The largest batch the writer merges into one commit.
    pub const MAX_BATCH: usize = 1024;

    /// Set the number of download workers, 1 to [`BackendConfig::MAX_WORKERS`].
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.clamp(1, Self::MAX_WORKERS);
        self
    }

    /// Set the capacity of the download → writer channel, 0 (hand over
    /// directly) to [`BackendConfig::MAX_QUEUE_CAPACITY`].
    #[must_use]
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.min(Self::MAX_QUEUE_CAPACITY);
        self
    }

    /// Set the largest batch the writer commits at once, 1 to
    /// [`BackendConfig::MAX_BATCH`].
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.clamp(1, Self::MAX_BATCH);
        self
    }

    /// The configuration with every size inside its bounds; what the
    /// backends use (the fields are public, so they may hold anything).
    /// Each value changed is logged as a warning.
    #[must_use]
    pub fn capped(self) -> Self {
        let warn = |what: &str, asked: usize, used: usize| {
            if asked != used {
                tracing::warn!(what, asked, used, "backend setting out of bounds, capped");
            }
        };
        let capped = self
            .clone()
            .workers(self.workers)
            .queue_capacity(self.queue_capacity)
            .max_batch(self.max_batch);
        warn("workers", self.workers, capped.workers);
        warn("queue_capacity", self.queue_capacity, capped.queue_capacity);
        warn("max_batch", self.max_batch, capped.max_batch);
        capped
    }

    /// Set how long the writer may hold a batch open for pending download
    /// jobs (`Duration::ZERO` commits whatever is queued at once).
    #[must_use]
    pub fn linger(mut self, d: std::time::Duration) -> Self {
        self.linger = d;
        self
    }

    /// Set the memory budget of the cube handle's decoded-chunk cache.
    #[must_use]
    pub fn chunk_cache_bytes(mut self, bytes: usize) -> Self {
        self.chunk_cache_bytes = bytes;
        self
    }

    /// Set the budget of merged chunks a batch holds before encoding them.
    #[must_use]
    pub fn write_buffer_bytes(mut self, bytes: usize) -> Self {
        self.write_buffer_bytes = bytes;
        self
    }

    /// Set the size above which a patch is streamed chunk by chunk.
    #[must_use]
    pub fn whole_patch_bytes(mut self, bytes: u64) -> Self {
        self.whole_patch_bytes = bytes;
        self
    }

    /// Set the token that cancels this backend's work.
    #[must_use]
    pub fn cancel_token(mut self, token: geocube_core::CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Set the download retry policy.
    #[must_use]
    pub fn download_retry(mut self, p: RetryPolicy) -> Self {
        self.download_retry = p;
        self
    }

    /// Set the conflict retry policy.
    #[must_use]
    pub fn conflict_retry(mut self, p: RetryPolicy) -> Self {
        self.conflict_retry = p;
        self
    }
}

/// Loads patches into a cube: the seed's backend API.
pub trait DownloadBackend: Send + Sync {
    /// Where the cube lives.
    fn storage(&self) -> &CubeStorage;

    /// Whether the cube exists.
    fn created(&self) -> bool;

    /// Fail with a message that says how to create the cube unless it exists.
    ///
    /// # Errors
    /// [`geocube_core::Error::NotCreated`] (wrapped).
    fn assert_created(&self) -> Result<()> {
        self.cube().map(|_| ())
    }

    /// Read-only access to the cube (layout, reads, ids).
    ///
    /// # Errors
    /// When the cube does not exist or cannot be opened.
    fn cube(&self) -> Result<Arc<Cube>>;

    /// Ids in the cube's `loaded_patches`, at the branch tip.
    ///
    /// # Errors
    /// When the cube cannot be read.
    fn loaded_patches(&self) -> Result<Vec<String>> {
        Ok(self.cube()?.loaded_patches()?)
    }

    /// Load every patch not yet in the cube; blocks until each is written or
    /// has failed. Duplicate ids are loaded once.
    ///
    /// # Errors
    /// [`Error::Submit`] naming each failed patch id and why (the others are
    /// loaded); [`Error::Closed`]; cube errors.
    fn submit(&self, patches: &[PatchRef]) -> Result<SubmitReport>;

    /// Cancel the work of this backend (its [`BackendConfig::cancel`] token):
    /// submits return [`Error::Cancelled`] promptly; what was committed
    /// stays, nothing half-done is committed.
    fn cancel(&self);

    /// Finish and release threads; later submits fail with [`Error::Closed`].
    ///
    /// # Errors
    /// Never for [`SimpleBackend`]; a worker thread that could not be joined.
    fn close(&self) -> Result<()>;

    /// The timeline of downloads and writes so far.
    fn events(&self) -> &EventLog;
}

/// Distinct ids of `patches`, first occurrence kept.
pub(crate) fn unique(patches: &[PatchRef]) -> Vec<&PatchRef> {
    let mut seen = std::collections::HashSet::new();
    patches
        .iter()
        .filter(|p| seen.insert(p.id.as_str()))
        .collect()
}
