//! `loaded_patches`: the root-group attribute that records which patches
//! the cube holds, read once per snapshot and carried forward by our own
//! commits without being read again.
//!
//! [`LoadedPatches`] is one snapshot's list: the ids ([`PatchIds`], shared
//! with the snapshots before it) and the root document's bytes with the
//! list's position ([`RootDoc`]). A handle keeps the last one it read or
//! wrote; a commit through the handle derives the next one from it (new
//! ids appended to both), so a writer never parses its own list again and
//! a check right after its commit costs a hash lookup.

use std::sync::{Arc, PoisonError};

use icechunk::format::{Path, SnapshotId};
use zarrs::storage::ReadableStorageTraits;

use super::Cube;
use super::patch_ids::PatchIds;
use super::root_doc::RootDoc;
use super::store::{IcechunkSyncStore, block_on, key, session_store};
use super::write::commit;
use crate::{Error, Result};

impl Cube {
    pub(super) fn cached_loaded(&self) -> std::sync::MutexGuard<'_, Option<Arc<LoadedPatches>>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The patches in the cube at the branch tip.
    ///
    /// Read once per snapshot: asking again before anyone commits costs a
    /// read of the branch ref, not of the (possibly megabytes long)
    /// attribute; after a commit through this handle the new snapshot's ids
    /// are known without reading them.
    ///
    /// # Errors
    /// Storage errors.
    pub fn loaded(&self) -> Result<Arc<LoadedPatches>> {
        let session = self.readonly_session()?;
        let snapshot = session.snapshot_id().clone();
        if let Some(hit) = self.cached_loaded_at(&snapshot) {
            return Ok(hit);
        }
        let (_, store) = session_store(session, self.storage.local_path())?;
        self.read_loaded(&store, &snapshot)
    }

    /// The ids at `snapshot`, which `store` shows: this handle's copy if it
    /// has that snapshot's, else read from `store` (and kept).
    pub(super) fn loaded_in(
        &self,
        store: &IcechunkSyncStore,
        snapshot: &SnapshotId,
    ) -> Result<Arc<LoadedPatches>> {
        match self.cached_loaded_at(snapshot) {
            Some(hit) => Ok(hit),
            None => self.read_loaded(store, snapshot),
        }
    }

    fn cached_loaded_at(&self, snapshot: &SnapshotId) -> Option<Arc<LoadedPatches>> {
        self.cached_loaded()
            .as_ref()
            .filter(|l| l.snapshot == snapshot.to_string())
            .cloned()
    }

    fn read_loaded(
        &self,
        store: &IcechunkSyncStore,
        snapshot: &SnapshotId,
    ) -> Result<Arc<LoadedPatches>> {
        let loaded = Arc::new(LoadedPatches::read(
            store,
            snapshot,
            &self.storage.to_string(),
        )?);
        *self.cached_loaded() = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Ids of the patches in the cube, in the order they were written.
    ///
    /// # Errors
    /// Storage errors.
    pub fn loaded_patches(&self) -> Result<Vec<String>> {
        Ok(self.loaded()?.ids().map(str::to_owned).collect())
    }
}

/// The ids in a cube's `loaded_patches` at one snapshot, with a set for
/// membership tests.
///
/// With 10⁶ ids the attribute is ~14 MB of JSON; [`Cube::loaded`] reads it
/// once per snapshot and hands out this shared, immutable copy (~26 MB for
/// ids like `3-1234-5678`, shared in part with the copies of earlier
/// snapshots, plus the document's bytes).
#[derive(Clone)]
pub struct LoadedPatches {
    snapshot: String,
    ids: PatchIds,
    root: RootDoc,
}

impl LoadedPatches {
    /// The ids in the root group of `store`, which shows `snapshot` of the
    /// cube at `location` (named in errors).
    pub(super) fn read(
        store: &IcechunkSyncStore,
        snapshot: &SnapshotId,
        location: &str,
    ) -> Result<Self> {
        let bytes = store
            .get(&key("zarr.json")?)
            .map_err(Error::zarr)?
            .ok_or_else(|| Error::NotACube {
                location: location.to_owned(),
                reason: "no root group".into(),
            })?;
        let (root, ids) = RootDoc::read(bytes)?;
        Ok(Self {
            snapshot: snapshot.to_string(),
            ids,
            root,
        })
    }

    /// The root group's document with the list emptied, parsed.
    pub(super) fn root_without_ids(&self) -> Result<serde_json::Value> {
        self.root.without_ids()
    }

    /// The Icechunk snapshot these ids were read at.
    #[must_use]
    pub fn snapshot_id(&self) -> &str {
        &self.snapshot
    }

    /// The ids, in the order they were written.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.ids.iter()
    }

    /// Whether `id` is loaded.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Number of ids.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no patch is loaded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.len() == 0
    }
}

/// Equal when read at the same snapshot with the same ids in the same order.
impl PartialEq for LoadedPatches {
    fn eq(&self, other: &Self) -> bool {
        self.snapshot == other.snapshot && self.len() == other.len() && self.ids().eq(other.ids())
    }
}

impl Eq for LoadedPatches {}

impl std::fmt::Debug for LoadedPatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPatches")
            .field("snapshot", &self.snapshot)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Cube {
    /// Commit the session behind `store`, whose root group is `base`'s, with
    /// `new` appended to `loaded_patches` (with whatever else the session
    /// holds) as `message`, and remember the new snapshot's ids. Both the
    /// write and the re-application end here, so pixels and ids always
    /// land together.
    pub(super) fn commit_loaded(
        &self,
        store: &icechunk::Store,
        base: &LoadedPatches,
        new: &[String],
        message: &str,
    ) -> Result<String> {
        let (root, ids) = if new.is_empty() {
            (base.root.clone(), base.ids.clone())
        } else {
            let root = base.root.appended(&base.ids, new)?;
            set_root(store, &root)?;
            (root, base.ids.appended(new.iter().map(String::as_str)))
        };
        self.commit_root(store, root, ids, message)
    }

    /// Commit the session behind `store` with `loaded_patches` set to
    /// `ids` (in `base`'s document), as `message`: for `forget`.
    pub(super) fn commit_replaced(
        &self,
        store: &icechunk::Store,
        base: &LoadedPatches,
        ids: &[&str],
        message: &str,
    ) -> Result<String> {
        let root = base.root.with_list(ids.iter().copied())?;
        set_root(store, &root)?;
        let ids = PatchIds::from_ids(ids.iter().copied());
        self.commit_root(store, root, ids, message)
    }

    fn commit_root(
        &self,
        store: &icechunk::Store,
        root: RootDoc,
        ids: PatchIds,
        message: &str,
    ) -> Result<String> {
        let snapshot = commit(store, message)?;
        *self.cached_loaded() = Some(Arc::new(LoadedPatches {
            snapshot: snapshot.clone(),
            ids,
            root,
        }));
        Ok(snapshot)
    }
}

/// Set the root group's document in the session behind `store`.
///
/// Straight on the session: `Store::set` would first parse the 14 MB
/// document (to learn it is a group), which `RootDoc` has checked already.
fn set_root(store: &icechunk::Store, root: &RootDoc) -> Result<()> {
    block_on(async {
        let session = store.session();
        let mut session = session.write().await;
        session
            .update_group(&Path::root(), root.bytes().clone())
            .await
    })?
    .map_err(Error::icechunk)
}
