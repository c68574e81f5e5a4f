//! A staged write: patches merged into an open Icechunk session as they
//! arrive, committed once with their ids.
//!
//! [`Cube::stage`] opens a writable session on the branch tip without taking
//! the write lock. Each patch (or piece of a patch) handed to
//! [`StagedWrite::merge`] is merged into the chunks it touches; merged
//! chunks wait in a bounded buffer (so the pieces of neighbouring patches
//! that share a chunk are merged before it is encoded) and are encoded into
//! the session when the buffer is full or at the commit. Memory is therefore
//! bounded by the buffer, not by the number or the size of the patches: a
//! load of a hundred tiles, or one 25000² tile handed over chunk by chunk,
//! holds no more than a load of one.
//!
//! [`StagedWrite::commit`] takes the write lock (local cubes) and commits
//! the session with the recorded ids appended to `loaded_patches`: pixels
//! and ids in one commit, both or neither. If another writer committed since
//! the session was opened, the batch is **re-applied** on the new tip: every
//! chunk this batch wrote is merged three-way (base, ours, theirs) under the
//! pixel rule ([`merge_three_way`]), chunks the other writer did not touch
//! are copied as they are, `loaded_patches` is re-read from the new tip, and
//! the commit is tried again (bounded, with jittered back-off, for object
//! stores where no lock serialises writers). Nothing is held in memory for
//! that but the ids: the batch's chunks are in the session's storage.
//!
//! Dropping a `StagedWrite` without committing writes nothing that a reader
//! can see; the chunk objects it uploaded are garbage for `compact`.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use icechunk::format::SnapshotId;
use icechunk::repository::VersionInfo;
use ndarray::{Array2, ArrayD, IxDyn};
use rayon::prelude::*;
use zarrs::array::Array;
use zarrs::storage::{ReadableStorageTraits, WritableStorageTraits};

use super::cache::ChunkSource;
use super::loaded::LoadedPatches;
use super::merge::{merge_patch_into, merge_three_way};
use super::store::{IcechunkSyncStore, block_on, key, meta_key, read_json, session_store};
use super::write::WriteOutcome;
use super::{BRANCH, Cube, corrupt_chunk, u64s};
use crate::dataset::CubeElement;
use crate::patch::Patch;
use crate::spec::DType;
use crate::{Error, Result, Window, with_dtype};

/// Default budget of a staged write's buffer of merged, not yet encoded
/// chunks: 256 MiB, about four 3600² float32 chunks with their masks: the
/// chunks one 100 km tile touches, so the neighbours that share them are
/// usually merged before they are encoded. Beyond it the least recently
/// merged chunk is encoded into the session (and decoded again if a later
/// patch touches it: a cost in time, never in memory). With the default
/// decoded-chunk cache (512 MiB) and four download workers, a prefetch of
/// 36 tiles peaks below 1.5 GB.
pub const DEFAULT_WRITE_BUFFER_BYTES: usize = 256 << 20;

/// How many times a commit is re-applied on a newer tip before giving up
/// with [`Error::Conflict`]. Each round re-merges only the chunks both
/// writers touched.
const MAX_REAPPLY: u32 = 100;

/// A chunk of the cube: (variable, time index, chunk row, chunk column).
type ChunkKey = (String, Option<usize>, usize, usize);

/// A decoded chunk (`Array2<T>` of the variable's type) being merged.
struct BufferedChunk {
    dtype: DType,
    data: Box<dyn Any + Send + Sync>,
    bytes: usize,
    last_used: u64,
}

/// Patches merged into an uncommitted session; see the module docs.
pub struct StagedWrite<'c> {
    cube: &'c Cube,
    /// Keeps `compact` from collecting our uploads before the commit.
    _stage_lock: Option<super::lock::StageLock>,
    base: SnapshotId,
    store: icechunk::Store,
    sync: Arc<IcechunkSyncStore>,
    arrays: BTreeMap<String, (DType, Array<IcechunkSyncStore>)>,
    /// `loaded_patches` at `base`: the cube's copy, not parsed again.
    base_loaded: Arc<LoadedPatches>,
    buffer: HashMap<ChunkKey, BufferedChunk>,
    buffered_bytes: usize,
    budget: usize,
    clock: u64,
    /// Chunks encoded into the session: what a re-application carries over.
    flushed: BTreeSet<ChunkKey>,
    ids: Vec<String>,
    recorded: HashSet<String>,
    already_loaded: Vec<String>,
    /// Each variable's nodata value, as the merged patches gave it.
    nodata: BTreeMap<String, f64>,
}

impl std::fmt::Debug for StagedWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedWrite")
            .field("base", &self.base.to_string())
            .field("ids", &self.ids)
            .field("buffered_chunks", &self.buffer.len())
            .field("flushed_chunks", &self.flushed.len())
            .finish_non_exhaustive()
    }
}

impl Cube {
    /// Start a [`StagedWrite`] on the branch tip.
    ///
    /// # Errors
    /// Storage errors, a repository that cannot be written.
    pub fn stage(&self) -> Result<StagedWrite<'_>> {
        let stage_lock = self.storage.stage_lock(false)?;
        let session = block_on(self.repo.writable_session(BRANCH))?.map_err(Error::icechunk)?;
        let base = session.snapshot_id().clone();
        let (store, sync) = session_store(session, self.storage.local_path())?;
        let base_loaded = self.loaded_in(&sync, &base)?;
        let arrays = self.open_arrays(&sync)?;
        Ok(StagedWrite {
            cube: self,
            _stage_lock: stage_lock,
            base,
            store,
            sync,
            arrays,
            base_loaded,
            buffer: HashMap::new(),
            buffered_bytes: 0,
            budget: DEFAULT_WRITE_BUFFER_BYTES,
            clock: 0,
            flushed: BTreeSet::new(),
            ids: Vec::new(),
            recorded: HashSet::new(),
            already_loaded: Vec::new(),
            nodata: BTreeMap::new(),
        })
    }

    fn open_arrays(
        &self,
        sync: &Arc<IcechunkSyncStore>,
    ) -> Result<BTreeMap<String, (DType, Array<IcechunkSyncStore>)>> {
        self.layout
            .variables
            .iter()
            .map(|v| {
                Array::open(Arc::clone(sync), &format!("/{}", v.name))
                    .map(|a| (v.name.clone(), (v.dtype, a)))
                    .map_err(Error::zarr)
            })
            .collect()
    }
}

impl StagedWrite<'_> {
    /// Set the budget of merged chunks held before encoding (default
    /// [`DEFAULT_WRITE_BUFFER_BYTES`]; 0 encodes each chunk as soon as a
    /// patch is merged into it, right for patches handed over chunk by
    /// chunk, which touch each chunk once).
    #[must_use]
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.budget = bytes;
        self
    }

    /// Whether the cube had `id` when this write started.
    #[must_use]
    pub fn was_loaded(&self, id: &str) -> bool {
        self.base_loaded.contains(id)
    }

    /// Ids recorded so far.
    #[must_use]
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Merge a whole patch and record its id: the usual step. A patch the
    /// cube already had, or one recorded before, is skipped (`Ok(false)`).
    ///
    /// # Errors
    /// As [`StagedWrite::merge`].
    pub fn add(&mut self, patch: &Patch) -> Result<bool> {
        if self.base_loaded.contains(&patch.id) {
            self.already_loaded.push(patch.id.clone());
            return Ok(false);
        }
        if self.recorded.contains(&patch.id) {
            return Ok(false);
        }
        self.merge(patch)?;
        self.record(&patch.id);
        Ok(true)
    }

    /// Merge the pixels of `piece` (a patch, or any window of one on the
    /// cube lattice) without recording its id: call [`StagedWrite::record`]
    /// once every piece of the patch is in. Merging the same piece twice
    /// gives the same pixels, so a download retried from its start may hand
    /// over its pieces again.
    ///
    /// # Errors
    /// [`Error::InvalidPatch`] (nothing merged), storage and codec errors
    /// (the write should then be dropped).
    pub fn merge(&mut self, piece: &Patch) -> Result<()> {
        let plan = self.cube.plan_patch(piece)?;
        for (name, layer) in &piece.layers {
            if let Some(n) = layer.nodata {
                self.nodata.entry(name.clone()).or_insert(n);
            }
        }
        let (cy, cx) = self.cube.layout.chunk_shape;
        let w = plan.cube_window;
        let mut keys = Vec::new();
        for ty in w.row / cy..=(w.row + w.height - 1) / cy {
            for tx in w.col / cx..=(w.col + w.width - 1) / cx {
                for name in piece.layers.keys() {
                    keys.push((name.clone(), plan.time_index, ty, tx));
                }
            }
        }
        // A few chunks at a time, as many as there are threads: decoded (or
        // made empty) and merged in parallel, back into the buffer, which is
        // then shrunk to its budget before the next ones are decoded. So a
        // patch over many chunks never holds more than the budget plus one
        // group, whatever its size.
        let group = rayon::current_num_threads().max(1);
        for keys in keys.chunks(group) {
            self.merge_group(keys, piece, &plan)?;
            self.shrink_buffer(self.budget)?;
        }
        Ok(())
    }

    fn merge_group(
        &mut self,
        keys: &[ChunkKey],
        piece: &Patch,
        plan: &super::write::PatchPlan,
    ) -> Result<()> {
        let mut work: Vec<(ChunkKey, Option<BufferedChunk>)> = keys
            .iter()
            .map(|k| {
                let held = self.buffer.remove(k);
                if let Some(c) = &held {
                    self.buffered_bytes -= c.bytes;
                }
                (k.clone(), held)
            })
            .collect();
        let merged: Vec<Result<()>> = work
            .par_iter_mut()
            .map(|(k, held)| {
                if held.is_none() {
                    *held = Some(self.load_chunk(k)?);
                }
                let Some(chunk) = held.as_mut() else {
                    return Ok(());
                };
                let window = self.chunk_window(k);
                with_dtype!(chunk.dtype, |T| {
                    match chunk.data.downcast_mut::<Array2<T>>() {
                        Some(data) => merge_patch_into(data, window, &k.0, piece, plan),
                        None => Ok(()),
                    }
                })
            })
            .collect();
        // Everything decoded goes back into the buffer, even after an error,
        // so the accounting stays right; the caller drops the write anyway.
        for (k, held) in work {
            if let Some(mut c) = held {
                self.clock += 1;
                c.last_used = self.clock;
                self.buffered_bytes += c.bytes;
                self.buffer.insert(k, c);
            }
        }
        merged.into_iter().collect()
    }

    /// Put the recorded ids in the order `key` gives (a stable sort), before
    /// [`StagedWrite::commit`] appends them to `loaded_patches`. A backend
    /// that merges patches as their downloads finish records them in
    /// completion order; sorting by submission order makes the list the
    /// same run after run (smart-geocubes' simple backend writes in index
    /// order, and a Dataset's `loaded_patches` attribute shows the list).
    pub fn order_ids_by<K: Ord>(&mut self, key: impl FnMut(&String) -> K) {
        self.ids.sort_by_key(key);
    }

    /// Record `id` as loaded by this write (after its pieces are merged).
    pub fn record(&mut self, id: &str) {
        if self.base_loaded.contains(id) {
            self.already_loaded.push(id.to_owned());
        } else if self.recorded.insert(id.to_owned()) {
            self.ids.push(id.to_owned());
        }
    }

    /// Encode every buffered chunk and commit the session with the recorded
    /// ids appended to `loaded_patches`, re-applying the batch on a newer
    /// tip when another writer committed first (see the module docs).
    /// Without recorded ids nothing is committed.
    ///
    /// # Errors
    /// [`Error::Conflict`] after [`MAX_REAPPLY`] re-applications, storage
    /// and codec errors; nothing is committed then.
    pub fn commit(mut self, message: &str) -> Result<WriteOutcome> {
        let mut outcome = WriteOutcome {
            already_loaded: std::mem::take(&mut self.already_loaded),
            ..WriteOutcome::default()
        };
        if self.ids.is_empty() {
            return Ok(outcome);
        }
        self.shrink_buffer(0)?;
        let _lock = self.cube.storage.lock()?;
        let mut round = 0;
        loop {
            let tip = block_on(self.cube.repo.lookup_branch(BRANCH))?.map_err(Error::icechunk)?;
            let attempt = if tip == self.base {
                self.commit_own(message)
            } else {
                self.reapply(message)
            };
            match attempt {
                Ok((snapshot, written, loaded_meanwhile)) => {
                    outcome.written = written;
                    outcome.already_loaded.extend(loaded_meanwhile);
                    outcome.snapshot = Some(snapshot);
                    outcome.reapplied = round + u32::from(tip != self.base);
                    return Ok(outcome);
                }
                Err(Error::Conflict { .. }) if round + 1 < MAX_REAPPLY => {
                    round += 1;
                    std::thread::sleep(jitter(round));
                }
                Err(Error::Conflict { branch, .. }) => {
                    return Err(Error::Conflict {
                        branch,
                        tries: round + 1,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Commit our own session: the tip is still our base.
    fn commit_own(&self, message: &str) -> Result<(String, Vec<String>, Vec<String>)> {
        let message = commit_message(message, &self.ids);
        let snapshot =
            self.cube
                .commit_loaded(&self.store, &self.base_loaded, &self.ids, &message)?;
        Ok((snapshot, self.ids.clone(), Vec::new()))
    }

    /// Re-apply this batch on the current tip in a fresh session.
    fn reapply(&self, message: &str) -> Result<(String, Vec<String>, Vec<String>)> {
        let local = self.cube.storage.local_path();
        let session =
            block_on(self.cube.repo.writable_session(BRANCH))?.map_err(Error::icechunk)?;
        let tip = session.snapshot_id().clone();
        let (store, theirs) = session_store(session, local)?;
        // The snapshot this write started from. On storage without the
        // stage lock a `compact` may have expired and collected it meanwhile
        // (with a grace shorter than this write took): then every chunk is
        // merged into theirs under the pixel rule alone, as if it had been
        // empty.
        let base = block_on(
            self.cube
                .repo
                .readonly_session(&VersionInfo::SnapshotId(self.base.clone())),
        )?
        .ok()
        .map(|session| session_store(session, local).map(|(_, sync)| sync))
        .transpose()?;
        let their_arrays = self.cube.open_arrays(&theirs)?;
        let base_arrays = base
            .as_ref()
            .map(|b| self.cube.open_arrays(b))
            .transpose()?;
        // Our encoded bytes can only be copied over where the array is still
        // encoded as ours was (a `compact --codec` may have re-encoded it).
        let codecs = |sync: &IcechunkSyncStore, name: &str| -> Result<Option<serde_json::Value>> {
            Ok(read_json(sync, &meta_key(name))?.and_then(|doc| doc.get("codecs").cloned()))
        };
        let mut same_codec: BTreeSet<&str> = BTreeSet::new();
        for name in self.arrays.keys() {
            if codecs(&self.sync, name)? == codecs(&theirs, name)? {
                same_codec.insert(name.as_str());
            }
        }
        let flushed: Vec<&ChunkKey> = self.flushed.iter().collect();
        flushed.par_iter().try_for_each(|k| {
            let (dtype, ours) = &self.arrays[&k.0];
            let idx = self.chunk_index(k);
            let chunk_key = key(ours.chunk_key(&idx).as_str())?;
            let get = |s: &IcechunkSyncStore| s.get(&chunk_key).map_err(Error::zarr);
            let Some(our_bytes) = get(&self.sync)? else {
                return Ok(());
            };
            let untouched = match &base {
                Some(base) => get(&theirs)? == get(base)?,
                None => false,
            };
            if untouched && same_codec.contains(k.0.as_str()) {
                // Untouched by the other writer: our chunk as it is.
                return theirs.set(&chunk_key, our_bytes).map_err(Error::zarr);
            }
            let nodata = self.nodata.get(&k.0).copied();
            let their_array = &their_arrays[&k.0].1;
            with_dtype!(*dtype, |T| {
                let ours = self.decode::<T>(ours, &idx)?;
                let merged = if untouched {
                    ours
                } else {
                    let mut merged = self.decode::<T>(their_array, &idx)?;
                    let base = match base_arrays.as_ref() {
                        Some(arrays) => self.decode::<T>(&arrays[&k.0].1, &idx)?,
                        None => Array2::from_elem(ours.raw_dim(), T::fill()),
                    };
                    merge_three_way(&mut merged, &ours, &base, nodata);
                    merged
                };
                self.store_chunk(their_array, &idx, merged).map(drop)
            })
        })?;
        let loaded = self.cube.loaded_in(&theirs, &tip)?;
        let (written, meanwhile): (Vec<String>, Vec<String>) = self
            .ids
            .iter()
            .cloned()
            .partition(|id| !loaded.contains(id));
        let message = commit_message(message, &written);
        let snapshot = self
            .cube
            .commit_loaded(&store, &loaded, &written, &message)?;
        Ok((snapshot, written, meanwhile))
    }

    fn chunk_window(&self, k: &ChunkKey) -> Window {
        let (ch, cw) = self.cube.layout.chunk_shape;
        Window {
            row: k.2 * ch,
            col: k.3 * cw,
            height: ch,
            width: cw,
        }
    }

    fn chunk_index(&self, k: &ChunkKey) -> Vec<u64> {
        let mut idx = vec![k.2, k.3];
        if let Some(t) = k.1 {
            idx.insert(0, t);
        }
        u64s(&idx)
    }

    /// A chunk as rows x columns, the fill value where never written.
    fn decode<T: CubeElement>(
        &self,
        array: &Array<IcechunkSyncStore>,
        idx: &[u64],
    ) -> Result<Array2<T>> {
        let (ch, cw) = self.cube.layout.chunk_shape;
        let full: Vec<usize> = if idx.len() == 3 {
            vec![1, ch, cw]
        } else {
            vec![ch, cw]
        };
        array
            .retrieve_chunk_if_exists::<ArrayD<T>>(idx)
            .map_err(Error::zarr)?
            .unwrap_or_else(|| ArrayD::from_elem(IxDyn(&full), T::fill()))
            .into_shape_with_order((ch, cw))
            .map_err(|e| corrupt_chunk(array, idx, format!("unexpected shape: {e}")))
    }

    /// Encode `chunk` into the session; the chunk is handed back.
    fn store_chunk<T: CubeElement>(
        &self,
        array: &Array<IcechunkSyncStore>,
        idx: &[u64],
        chunk: Array2<T>,
    ) -> Result<Array2<T>> {
        let (ch, cw) = self.cube.layout.chunk_shape;
        let bad = |e: ndarray::ShapeError| corrupt_chunk(array, idx, format!("shape: {e}"));
        let full: Vec<usize> = if idx.len() == 3 {
            vec![1, ch, cw]
        } else {
            vec![ch, cw]
        };
        let chunk = chunk.into_shape_with_order(IxDyn(&full)).map_err(bad)?;
        array.store_chunk(idx, &chunk).map_err(Error::zarr)?;
        chunk.into_shape_with_order((ch, cw)).map_err(bad)
    }

    /// A chunk to merge into: out of the cube's cache (no decode), else
    /// decoded from the session (our earlier flush or the base), else empty.
    fn load_chunk(&self, k: &ChunkKey) -> Result<BufferedChunk> {
        let (dtype, array) = self.arrays.get(&k.0).ok_or_else(|| Error::InvalidPatch {
            id: String::new(),
            reason: format!("the cube has no variable `{}`", k.0),
        })?;
        let idx = self.chunk_index(k);
        let source = ChunkSource {
            store: &self.sync,
            cache: &self.cube.chunks,
        };
        with_dtype!(*dtype, |T| {
            let data: Array2<T> = match source.take_cached::<T>(array, &idx) {
                Some(cached) => Arc::unwrap_or_clone(cached),
                None => self.decode::<T>(array, &idx)?,
            };
            let bytes = data.len() * std::mem::size_of::<T>();
            Ok(BufferedChunk {
                dtype: *dtype,
                data: Box::new(data),
                bytes,
                last_used: 0,
            })
        })
    }

    /// Encode buffered chunks into the session, least recently merged
    /// first, until at most `budget` bytes are buffered; each encoded chunk
    /// goes to the cube's cache of decoded chunks (bounded there).
    fn shrink_buffer(&mut self, budget: usize) -> Result<()> {
        if self.buffered_bytes <= budget {
            return Ok(());
        }
        let mut order: Vec<(u64, ChunkKey)> = self
            .buffer
            .iter()
            .map(|(k, c)| (c.last_used, k.clone()))
            .collect();
        order.sort_unstable();
        let mut out = Vec::new();
        for (_, k) in order {
            if self.buffered_bytes <= budget {
                break;
            }
            if let Some(c) = self.buffer.remove(&k) {
                self.buffered_bytes -= c.bytes;
                out.push((k, c));
            }
        }
        // Recorded before encoding: a failed flush leaves the write to be
        // dropped, and a re-application must see every chunk it touched.
        self.flushed.extend(out.iter().map(|(k, _)| k.clone()));
        out.into_par_iter().try_for_each(|(k, c)| self.flush(&k, c))
    }

    fn flush(&self, k: &ChunkKey, c: BufferedChunk) -> Result<()> {
        let (_, array) = &self.arrays[&k.0];
        let idx = self.chunk_index(k);
        with_dtype!(c.dtype, |T| {
            let Ok(data) = c.data.downcast::<Array2<T>>() else {
                return Ok(());
            };
            let data = self.store_chunk(array, &idx, *data)?;
            ChunkSource {
                store: &self.sync,
                cache: &self.cube.chunks,
            }
            .keep(array, &idx, Arc::new(data));
            Ok(())
        })
    }
}

/// "Write patches a, b, c" (shortened past a few dozen ids: a commit
/// message is for people).
fn commit_message(prefix: &str, ids: &[String]) -> String {
    const SHOWN: usize = 32;
    if ids.len() <= SHOWN {
        format!("{prefix} {}", ids.join(", "))
    } else {
        format!(
            "{prefix} {} and {} more",
            ids[..SHOWN].join(", "),
            ids.len() - SHOWN
        )
    }
}

/// Back-off before re-applying on a newer tip: [`RetryPolicy::conflicts`]'s
/// (5 ms doubling to 1 s, full jitter over its upper half), so writers that
/// collided spread out instead of colliding again in step. Measured on
/// moto with 32 writers (`s3-commits`), a cap of 0.3 s and 20 rounds left
/// 13 of 96 commits out of rounds; this one lets each through.
fn jitter(round: u32) -> Duration {
    crate::RetryPolicy::conflicts().delay(round)
}
