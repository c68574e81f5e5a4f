//! Compacting a cube (`geocube compact`): expire the history, collect the
//! garbage, optionally re-encode every chunk once with another codec.
//!
//! Every load commits a snapshot and Icechunk never rewrites an object, so a
//! cube keeps every chunk a later load superseded (the history still reaches
//! it) and every chunk a failed write uploaded before its commit (nothing
//! reaches it). Compaction runs Icechunk's own maintenance in its order:
//! [`expire`] the snapshots older than the branch tip (or than
//! [`CompactOptions::keep_history`]), then [`garbage_collect`] every object no
//! kept snapshot reaches. Re-encoding ("write fast now, small later") comes
//! first, as one more commit, so that the chunks it replaces are collected by
//! the same run.
//!
//! # Concurrent writers
//! A writer uploads its chunks, and when it commits its manifests and
//! snapshot, *before* any ref points at them: until the commit lands they
//! look exactly like garbage. Icechunk's rule is therefore to delete only
//! objects created before a cutoff, `now - grace`; a writer whose first
//! upload is less than the grace before its commit loses nothing. The default
//! grace, [`DEFAULT_GRACE`], is one hour because:
//! - the slowest writer geocube knows is a large batch with the reference
//!   codec, ~10 s per 3600² chunk on 2 cores: a 100-tile load encodes a few
//!   hundred chunks, 10–30 minutes from its first upload to its commit;
//!   smart-geocubes commits one patch at a time, minutes at most;
//! - the cutoff (this machine's clock) is compared with the storage's
//!   timestamps (file times, object-store `LastModified`), which other
//!   machines' clocks may have set: an hour absorbs any plausible skew;
//! - what it costs is small: garbage younger than an hour waits for the next
//!   compaction. A grace of zero is for a cube nobody else writes (a cube
//!   just produced, a benchmark).
//!
//! On a local cube the whole compaction also holds the write lock
//! (`lock.rs`): Icechunk's local storage has no conditional update, so an
//! expiration or collection rewriting the repository's bookkeeping (V1
//! rewrites the oldest kept snapshot in place, V2 the repository-info object)
//! could silently drop a commit racing it. geocube writers queue behind the
//! lock, as they queue behind each other; writers that do not take it
//! (smart-geocubes, another host on shared storage) are protected by the
//! grace. On other storage Icechunk's conditional updates and retries make
//! the bookkeeping safe and the grace protects the uploads.
//!
//! # Formats
//! Icechunk 2.3 expires and collects V1 repositories with V1's own algorithm
//! (refs and snapshot parent links; the oldest kept snapshot is rewritten
//! with the repository's first snapshot as its parent, as icechunk-python
//! 1.x does), and the repository stays V1. The one difference: V1 deletes
//! an expired snapshot's transaction log with it, V2 keeps it (the kept
//! snapshot lists it in `pruned_ancestor_tx_logs`, so `diff` stays complete)
//! and Icechunk never collects V2's repository-info backups (`overwritten/`).
//! Both are small next to the chunks.

use std::collections::HashSet;
use std::num::{NonZeroU16, NonZeroUsize};
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt;
use icechunk::format::manifest::ChunkPayload;
use icechunk::ops::gc::{ExpiredRefAction, GCConfig, expire, garbage_collect};
use icechunk::repository::VersionInfo;
use rayon::prelude::*;
use zarrs::array::{Array, ArrayBytes};
use zarrs::storage::WritableStorageTraits;

use super::layout::codecs_document;
use super::lock::WriteLock;
use super::store::{block_on, key, read_json};
use super::write::{Transaction, commit};
use super::written::chunks_in;
use super::{BRANCH, ChunkAddr, Cube, corrupt_chunk};
use crate::spec::ChunkCodec;
use crate::{Error, Result};

/// The default [`CompactOptions::grace`]: one hour (see the module docs).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// Chunks re-encoded at once: each holds a decoded chunk (52 MB for 3600²
/// f32) and its encoding, so this, not the core count, bounds the memory.
const REENCODE_IN_FLIGHT: usize = 4;

/// Garbage-collection limits. A cube has a few manifests per commit and its
/// objects sit on one disk or bucket: a few dozen requests in flight keep
/// the walk fast and far below the open-file limit icechunk warns about.
const GC_SNAPSHOTS_IN_MEMORY: NonZeroU16 = nz16(50);
const GC_MANIFEST_FETCHES: NonZeroU16 = nz16(50);
const GC_DELETES: NonZeroU16 = nz16(16);
const GC_DELETE_FAILURES: NonZeroU16 = nz16(10);
const GC_MANIFEST_BYTES: NonZeroUsize = nzusize(512 << 20);
const GC_DECODED_MANIFEST_BYTES: NonZeroUsize = nzusize(2 << 30);

const fn nz16(n: u16) -> NonZeroU16 {
    match NonZeroU16::new(n) {
        Some(n) => n,
        None => NonZeroU16::MIN,
    }
}

const fn nzusize(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

/// What [`Cube::compact`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactOptions {
    /// Objects created less than this long ago are never deleted, so a
    /// writer that uploaded chunks and has not committed yet loses nothing.
    /// Default [`DEFAULT_GRACE`] (one hour); zero only when nobody else
    /// writes the cube.
    pub grace: Duration,
    /// Keep the snapshots committed less than this long ago (and so the
    /// chunks they reach) as history; `None` (the default) keeps the branch
    /// tip only.
    pub keep_history: Option<Duration>,
    /// Rewrite every written chunk once with this codec, in one commit that
    /// also updates each data variable's codec metadata, before expiring
    /// and collecting (so the old encodings go too, grace permitting).
    /// `None` (the default) leaves the chunks as they are.
    pub reencode: Option<ChunkCodec>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            keep_history: None,
            reencode: None,
        }
    }
}

impl CompactOptions {
    /// Set [`CompactOptions::grace`].
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Set [`CompactOptions::keep_history`].
    #[must_use]
    pub fn keep_history(mut self, age: Option<Duration>) -> Self {
        self.keep_history = age;
        self
    }

    /// Set [`CompactOptions::reencode`].
    #[must_use]
    pub fn reencode(mut self, codec: Option<ChunkCodec>) -> Self {
        self.reencode = codec;
        self
    }
}

/// What [`Cube::compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CompactReport {
    /// Bytes of every object of the repository before (for a local cube:
    /// every file in its directory, geocube's lock and event files included).
    pub bytes_before: u64,
    /// The same, after.
    pub bytes_after: u64,
    /// Bytes of the chunk objects the branch tip reaches: the compressed
    /// data, which no compaction can go below.
    pub data_bytes: u64,
    /// Chunks the branch tip reaches (coordinates included).
    pub data_chunks: u64,
    /// Snapshots in the branch tip's history before (the tip included).
    pub history_before: usize,
    /// The same, after.
    pub history_after: usize,
    /// Snapshots taken out of the branch's history.
    pub snapshots_expired: usize,
    /// Snapshot objects deleted.
    pub snapshots_deleted: u64,
    /// Manifest objects deleted.
    pub manifests_deleted: u64,
    /// Chunk objects deleted.
    pub chunks_deleted: u64,
    /// Transaction-log objects deleted.
    pub transaction_logs_deleted: u64,
    /// Bytes of the deleted objects, as the garbage collection counted them.
    pub bytes_deleted: u64,
    /// Objects whose delete failed: still garbage, collected by the next
    /// run (the cube is consistent either way).
    pub failed_deletes: u64,
    /// The first distinct errors of those deletes.
    pub delete_errors: Vec<String>,
    /// The re-encoding, if one was asked for and needed.
    pub reencoded: Option<Reencoded>,
}

/// A re-encoding [`Cube::compact`] committed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reencoded {
    /// The codec the chunks are now encoded with.
    pub codec: ChunkCodec,
    /// The data variables re-encoded (those not already in `codec`).
    pub variables: Vec<String>,
    /// Chunks rewritten.
    pub chunks: usize,
    /// The commit.
    pub snapshot: String,
}

impl Cube {
    /// Compact the cube: optionally re-encode every chunk once, then expire
    /// the history before the branch tip (or before `keep_history`) and
    /// delete every object no kept snapshot reaches and older than `grace`.
    ///
    /// The branch tip's pixels and `loaded_patches` are unchanged (a
    /// re-encoding changes their bytes, never their values), and the cube
    /// stays in its format, readable by icechunk-python 1.x and
    /// smart-geocubes when it is V1. Safe with concurrent writers (see the
    /// module docs): on a local cube they wait for the write lock, others
    /// are protected by the grace.
    ///
    /// # Errors
    /// [`Error::Compact`] when Icechunk's expiration or collection fails
    /// (the cube stays readable; run again); for a re-encoding,
    /// [`Error::Conflict`] when another writer committed during it on
    /// storage without the lock (nothing changed), [`Error::CorruptChunk`]
    /// for a chunk that does not decode; storage errors.
    pub fn compact(&self, opts: &CompactOptions) -> Result<CompactReport> {
        // A re-encoding is a write: it starts, as every write does, with a
        // transaction (the lock and a writable session); without one, the
        // lock alone. Either way the lock is held to the end.
        // First the stage lock (see `lock.rs`): the staged writes still
        // open commit, new ones wait, so no upload of theirs is collected.
        let _stage_lock = self.storage.stage_lock(true)?;
        let (tx, lock) = match opts.reencode {
            Some(codec) => (Some((self.begin()?, codec)), None),
            None => (None, self.storage.lock()?),
        };
        let mut report = CompactReport {
            bytes_before: self.stored_bytes()?,
            history_before: self.history_len()?,
            ..CompactReport::default()
        };
        let _lock: Option<WriteLock> = match tx {
            Some((tx, codec)) => {
                let (tx_lock, reencoded) = self.reencode(tx, codec)?;
                report.reencoded = reencoded;
                tx_lock
            }
            None => lock,
        };

        let am = Arc::clone(self.repo.asset_manager());
        let config = self.repo.config();
        let older_than = opts.keep_history.map_or_else(Utc::now, before_now);
        block_on(expire(
            Arc::clone(&am),
            older_than,
            // A user's own branches and tags are never deleted.
            ExpiredRefAction::Ignore,
            ExpiredRefAction::Ignore,
            Some(config.repo_update_retries()),
            config.num_updates_per_repo_info_file(),
        ))?
        .map_err(|e| Error::Compact {
            step: "expire history",
            source: e.into(),
        })?;

        // The cutoff is taken after the expiration and any re-encoding, so
        // the grace counts back from the moment objects are judged.
        let cutoff = before_now(opts.grace);
        let gc = GCConfig::clean_all(
            cutoff,
            cutoff,
            None,
            GC_SNAPSHOTS_IN_MEMORY,
            GC_MANIFEST_BYTES,
            GC_DECODED_MANIFEST_BYTES,
            GC_MANIFEST_FETCHES,
            GC_DELETES,
            GC_DELETE_FAILURES,
            None,
            false,
        );
        let summary = block_on(garbage_collect(
            am,
            &gc,
            Some(config.repo_update_retries()),
            config.num_updates_per_repo_info_file(),
        ))?
        .map_err(|e| Error::Compact {
            step: "garbage collection",
            source: e.into(),
        })?;
        report.snapshots_deleted = summary.snapshots_deleted;
        report.manifests_deleted = summary.manifests_deleted;
        report.chunks_deleted = summary.chunks_deleted;
        report.transaction_logs_deleted = summary.transaction_logs_deleted;
        report.bytes_deleted = summary.bytes_deleted;
        report.failed_deletes = summary.objects_failed_to_delete;
        report.delete_errors = summary.delete_errors;

        report.history_after = self.history_len()?;
        report.snapshots_expired = report
            .history_before
            // The re-encoding's commit joined the history before expiring.
            .saturating_add(usize::from(report.reencoded.is_some()))
            .saturating_sub(report.history_after);
        report.bytes_after = self.stored_bytes()?;
        (report.data_bytes, report.data_chunks) = self.data_size()?;
        Ok(report)
    }

    /// Rewrite every written chunk of every data variable not already in
    /// `codec`, and its codec metadata, in the transaction's session; commit
    /// it. Gives back the transaction's lock, to hold through the collection.
    fn reencode(
        &self,
        tx: Transaction,
        codec: ChunkCodec,
    ) -> Result<(Option<WriteLock>, Option<Reencoded>)> {
        let Transaction {
            _lock: lock,
            store,
            sync,
            ..
        } = tx;
        // Listed before anything changes: a chunk left in the old encoding
        // under the new metadata would be garbage to every reader.
        let written = chunks_in(&sync, &self.layout)?;
        let mut variables = vec![];
        let mut chunks = 0;
        for v in &self.layout.variables {
            let meta = format!("{}/zarr.json", v.name);
            let not_an_array = || Error::NotACube {
                location: self.storage.to_string(),
                reason: format!("variable `{}` has no array metadata", v.name),
            };
            let mut doc = read_json(&sync, &meta)?.ok_or_else(not_an_array)?;
            let codecs = codecs_document(codec, v.dtype.size());
            if doc.get("codecs") == Some(&codecs) {
                continue;
            }
            let path = format!("/{}", v.name);
            let old = Array::open(Arc::clone(&sync), &path).map_err(Error::zarr)?;
            doc.as_object_mut()
                .ok_or_else(not_an_array)?
                .insert("codecs".into(), codecs);
            let bytes = serde_json::to_vec_pretty(&doc).map_err(Error::zarr)?;
            sync.set(&key(&meta)?, bytes.into()).map_err(Error::zarr)?;
            let new = Array::open(Arc::clone(&sync), &path).map_err(Error::zarr)?;
            let mine: Vec<Vec<u64>> = written
                .iter()
                .filter(|c| c.variable == v.name)
                .map(ChunkAddr::grid_indices)
                .collect();
            for batch in mine.chunks(REENCODE_IN_FLIGHT) {
                batch.par_iter().try_for_each(|idx| {
                    // Decoded with the old metadata, encoded with the new;
                    // a chunk of fill values only is erased, which reads the
                    // same.
                    let decoded: ArrayBytes<'static> = old
                        .retrieve_chunk(idx)
                        .map_err(|e| corrupt_chunk(&old, idx, e))?;
                    new.store_chunk(idx, decoded).map_err(Error::zarr)
                })?;
            }
            chunks += mine.len();
            variables.push(v.name.clone());
        }
        if variables.is_empty() {
            return Ok((lock, None));
        }
        let message = format!(
            "Re-encode {chunks} chunk(s) of {} with {}",
            variables.join(", "),
            codec_label(codec)
        );
        let snapshot = commit(&store, &message)?;
        Ok((
            lock,
            Some(Reencoded {
                codec,
                variables,
                chunks,
                snapshot,
            }),
        ))
    }

    /// Snapshots in the branch tip's history, the tip included.
    fn history_len(&self) -> Result<usize> {
        block_on(async {
            let ancestry = self
                .repo
                .ancestry(&VersionInfo::BranchTipRef(BRANCH.into()))
                .await
                .map_err(Error::icechunk)?;
            let mut ancestry = pin!(ancestry);
            let mut n = 0;
            while ancestry
                .try_next()
                .await
                .map_err(Error::icechunk)?
                .is_some()
            {
                n += 1;
            }
            Ok(n)
        })?
    }

    /// Bytes and number of the chunk objects the branch tip reaches.
    fn data_size(&self) -> Result<(u64, u64)> {
        let session = self.readonly_session()?;
        block_on(async {
            let all = session.all_chunks().await.map_err(Error::icechunk)?;
            let mut all = pin!(all);
            // An object counted once however many refs share it.
            let mut seen = HashSet::new();
            let (mut bytes, mut chunks) = (0u64, 0u64);
            while let Some((_, info)) = all.try_next().await.map_err(Error::icechunk)? {
                chunks += 1;
                match info.payload {
                    ChunkPayload::Ref(r) if seen.insert((r.id.clone(), r.offset)) => {
                        bytes += r.length;
                    }
                    ChunkPayload::Inline(b) => bytes += b.len() as u64,
                    // A ref already counted, or a virtual chunk (stored
                    // elsewhere, not in this repository).
                    _ => {}
                }
            }
            Ok((bytes, chunks))
        })?
    }

    /// Bytes of everything the repository stores: for a local cube every
    /// file of its directory, otherwise every object Icechunk lists.
    fn stored_bytes(&self) -> Result<u64> {
        if let Some(dir) = self.storage.local_path() {
            return dir_size(dir);
        }
        block_on(async {
            let objects = self
                .repo
                .storage()
                .list_objects(&self.repo.storage_context(), "")
                .await
                .map_err(Error::icechunk)?;
            objects
                .try_fold(0u64, |n, o| async move { Ok(n + o.size_bytes) })
                .await
                .map_err(Error::icechunk)
        })?
    }
}

/// `now - age`; the beginning of time when `age` reaches past it (nothing
/// is old enough then).
fn before_now(age: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(age)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Total size of the files under `root`. Entries that vanish during the
/// walk (another process's claim files) are skipped.
fn dir_size(root: &Path) -> Result<u64> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&entry.path(), e)),
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// How a commit message names a codec.
fn codec_label(codec: ChunkCodec) -> String {
    match codec.resolve() {
        ChunkCodec::Reference => "the reference codec (blosc zstd clevel 9)".into(),
        ChunkCodec::BloscZstd { clevel } => format!("blosc zstd clevel {clevel}"),
        ChunkCodec::BloscLz4 { clevel } => format!("blosc lz4 clevel {clevel}"),
        ChunkCodec::Zstd { level } => format!("zstd level {level}"),
        ChunkCodec::Default => "the default codec".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_beyond_the_clock_delete_nothing() {
        assert_eq!(before_now(Duration::MAX), DateTime::<Utc>::MIN_UTC);
        let an_hour_ago = before_now(DEFAULT_GRACE);
        let age = Utc::now() - an_hour_ago;
        assert!(
            (age - TimeDelta::hours(1)).num_seconds().abs() <= 1,
            "{age}"
        );
    }

    #[test]
    fn codec_labels_name_the_resolved_codec() {
        assert_eq!(
            codec_label(ChunkCodec::Default),
            "blosc zstd clevel 3",
            "Default resolves before it is named"
        );
        assert_eq!(
            codec_label(ChunkCodec::Reference),
            "the reference codec (blosc zstd clevel 9)"
        );
    }
}
