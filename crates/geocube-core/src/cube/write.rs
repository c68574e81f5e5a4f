//! The write path: a batch of patches becomes one atomic commit holding
//! their pixels and their ids in `loaded_patches` (both or neither), through
//! a [`StagedWrite`](super::StagedWrite) (`staged.rs`): each chunk the batch
//! touches is merged ([`merge`](super::merge)) and encoded once within the
//! staged write's buffer, and a writer that committed meanwhile is
//! re-applied on. Here: the patch checks, the commit itself, and the
//! transaction `forget` shares.
//!
//! A write that fails after uploading chunks (a full disk, a lost
//! connection) leaves those chunk objects unreferenced: no snapshot points at
//! them, so readers never see them, but they take space. Reclaiming them is
//! Icechunk's garbage collection (expire old snapshots, then delete objects
//! no snapshot reaches and older than a grace period, so a concurrent
//! writer's uploads are spared), which `geocube compact` runs
//! ([`Cube::compact`], `compact.rs`); nothing here deletes objects.

use std::sync::Arc;

use icechunk::session::SessionErrorKind;

use super::loaded::LoadedPatches;
use super::store::{IcechunkSyncStore, block_on, session_store};
use super::{BRANCH, Cube};
use crate::patch::Patch;
use crate::{Error, Result, Window};

impl Cube {
    /// Write one patch (see [`Cube::write_patches`]).
    ///
    /// # Errors
    /// As [`Cube::write_patches`].
    pub fn write_patch(&self, patch: &Patch) -> Result<WriteOutcome> {
        self.write_patches(std::slice::from_ref(patch))
    }

    /// Write a batch of patches in one commit with their ids appended to
    /// `loaded_patches`: all or nothing.
    ///
    /// Ids the cube already has are skipped (no-op). Each touched chunk is
    /// decoded and encoded once for the whole batch (within the staged
    /// write's buffer); chunks are processed in parallel. NaN and nodata
    /// pixels never overwrite data already in the cube. This is
    /// [`Cube::stage`], [`StagedWrite::add`](super::StagedWrite::add) for
    /// each patch and one commit: a writer that committed in between is
    /// re-applied on, not lost; commits on a local repository are
    /// serialised by its lock.
    ///
    /// # Errors
    /// [`Error::InvalidPatch`] (before anything is written), [`Error::Conflict`]
    /// (when re-applying kept losing races), storage and codec errors.
    pub fn write_patches(&self, patches: &[Patch]) -> Result<WriteOutcome> {
        // Every patch is checked before anything is merged.
        for p in patches {
            self.plan_patch(p)?;
        }
        let mut staged = self.stage()?;
        for p in patches {
            staged.add(p)?;
        }
        staged.commit("Write patches")
    }

    /// Check a patch against the cube before anything is written.
    pub(super) fn plan_patch(&self, patch: &Patch) -> Result<PatchPlan> {
        let bad = |reason: String| Error::InvalidPatch {
            id: patch.id.clone(),
            reason,
        };
        if patch.id.is_empty() {
            return Err(bad("empty patch id".into()));
        }
        if patch.layers.is_empty() {
            return Err(bad("the patch has no variables".into()));
        }
        for (name, layer) in &patch.layers {
            let v = self
                .layout
                .variable(name)
                .ok_or_else(|| bad(format!("the cube has no variable `{name}`")))?;
            if layer.data.dtype() != v.dtype {
                return Err(bad(format!(
                    "variable `{name}` is {:?} in the patch but {:?} in the cube",
                    layer.data.dtype(),
                    v.dtype
                )));
            }
            let (h, w) = patch.geobox.shape();
            if layer.data.shape() != [h, w] {
                return Err(bad(format!(
                    "variable `{name}` has shape {:?} but the patch grid is {h}x{w}",
                    layer.data.shape()
                )));
            }
        }
        let (cube_window, patch_window) = self
            .layout
            .geobox
            .overlap_roi(&patch.geobox)
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("the patch lies outside the cube extent".into()))?;
        let time_index = match (&self.layout.time, patch.time) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad("a spatial cube takes patches without time".into())),
            (Some(_), None) => {
                return Err(bad("a temporal cube needs the patch's time step".into()));
            }
            (Some(axis), Some(t)) => Some(
                axis.iter()
                    .position(|s| *s == t)
                    .ok_or_else(|| bad(format!("time {t} is not a step of the cube")))?,
            ),
        };
        Ok(PatchPlan {
            cube_window,
            patch_window,
            time_index,
        })
    }
}

/// What a write did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Ids written (and recorded) by this commit, in order.
    pub written: Vec<String>,
    /// Ids skipped because the cube already had them.
    pub already_loaded: Vec<String>,
    /// The new snapshot, if a commit was made.
    pub snapshot: Option<String>,
    /// How many times the batch was re-applied on a newer branch tip
    /// because another writer committed first.
    pub reapplied: u32,
}

/// Commit the store's session; a lost race becomes [`Error::Conflict`].
pub(super) fn commit(store: &icechunk::Store, message: &str) -> Result<String> {
    block_on(async {
        let session = store.session();
        let mut session = session.write().await;
        match session.commit(message).execute().await {
            Ok(id) => Ok(id.to_string()),
            Err(e) if matches!(e.kind(), SessionErrorKind::Conflict { .. }) => {
                Err(Error::Conflict {
                    branch: BRANCH.into(),
                    tries: 1,
                })
            }
            Err(e) => Err(Error::icechunk(e)),
        }
    })?
}

/// A writable session on the branch tip, under the repository's write lock
/// (local cubes), with the tip's `loaded_patches`: where `forget` and
/// `compact --codec` start.
pub(super) struct Transaction {
    pub(super) _lock: Option<super::lock::WriteLock>,
    pub(super) store: icechunk::Store,
    pub(super) sync: Arc<IcechunkSyncStore>,
    pub(super) loaded: Arc<LoadedPatches>,
}

impl Cube {
    /// Start a [`Transaction`].
    pub(super) fn begin(&self) -> Result<Transaction> {
        let lock = self.storage.lock()?;
        let session = block_on(self.repo.writable_session(BRANCH))?.map_err(Error::icechunk)?;
        let tip = session.snapshot_id().clone();
        let (store, sync) = session_store(session, self.storage.local_path())?;
        let loaded = self.loaded_in(&sync, &tip)?;
        Ok(Transaction {
            _lock: lock,
            store,
            sync,
            loaded,
        })
    }
}

/// Where one patch lands in the cube.
pub(super) struct PatchPlan {
    pub(super) cube_window: Window,
    pub(super) patch_window: Window,
    pub(super) time_index: Option<usize>,
}
