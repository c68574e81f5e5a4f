//! `loaded_patches`: the root-group attribute that records which patches
//! the cube holds, parsed once per snapshot.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError};

use serde_json::{Value, json};
use zarrs::storage::WritableStorageTraits;

use super::Cube;
use super::layout::group_json;
use super::store::{IcechunkSyncStore, key, read_json, session_store};
use super::write::commit;
use crate::{Error, Result};

impl Cube {
    pub(super) fn cached_loaded(&self) -> std::sync::MutexGuard<'_, Option<Arc<LoadedPatches>>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The patches in the cube at the branch tip.
    ///
    /// Parsed once per snapshot: asking again before anyone commits costs a
    /// read of the branch ref, not of the (possibly megabytes long)
    /// attribute.
    ///
    /// # Errors
    /// Storage errors.
    pub fn loaded(&self) -> Result<Arc<LoadedPatches>> {
        let session = self.readonly_session()?;
        let snapshot = session.snapshot_id().to_string();
        if let Some(hit) = self
            .cached_loaded()
            .as_ref()
            .filter(|l| l.snapshot == snapshot)
        {
            return Ok(Arc::clone(hit));
        }
        let (_, store) = session_store(session, self.storage.local_path())?;
        let root = read_json(&store, "zarr.json")?.ok_or_else(|| Error::NotACube {
            location: self.storage.to_string(),
            reason: "no root group".into(),
        })?;
        let loaded = Arc::new(LoadedPatches::new(snapshot, loaded_patches_of(&root)));
        *self.cached_loaded() = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Ids of the patches in the cube, in the order they were written.
    ///
    /// # Errors
    /// Storage errors.
    pub fn loaded_patches(&self) -> Result<Vec<String>> {
        Ok(self.loaded()?.ids().to_vec())
    }
}

pub(super) fn loaded_patches_of(root: &Value) -> Vec<String> {
    root.pointer("/attributes/loaded_patches")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The ids in a cube's `loaded_patches` at one snapshot, with a set for
/// membership tests.
///
/// With 10⁵ ids the attribute is ~2.5 MB of JSON; [`Cube::loaded`] parses
/// it once per snapshot and hands out this shared, immutable copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedPatches {
    snapshot: String,
    ids: Vec<String>,
    set: HashSet<String>,
}

impl LoadedPatches {
    pub(super) fn new(snapshot: String, ids: Vec<String>) -> Self {
        let set = ids.iter().cloned().collect();
        Self { snapshot, ids, set }
    }

    /// The Icechunk snapshot these ids were read at.
    #[must_use]
    pub fn snapshot_id(&self) -> &str {
        &self.snapshot
    }

    /// The ids, in the order they were written.
    #[must_use]
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Whether `id` is loaded.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Number of ids.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no patch is loaded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl Cube {
    /// Set the root group's `loaded_patches` to `loaded` in the session
    /// behind `store`, commit it (with whatever else the session holds) as
    /// `message`, and remember the ids for the new snapshot. Both the write
    /// and the repair path end here, so pixels and ids always land together.
    pub(super) fn commit_loaded(
        &self,
        store: &icechunk::Store,
        sync: &IcechunkSyncStore,
        mut root: Value,
        loaded: Vec<String>,
        message: &str,
    ) -> Result<String> {
        if let Some(attrs) = root.get_mut("attributes").and_then(Value::as_object_mut) {
            attrs.insert("loaded_patches".into(), json!(loaded));
        } else {
            let mut attrs = serde_json::Map::new();
            attrs.insert("loaded_patches".into(), json!(loaded));
            root = group_json(attrs);
        }
        let bytes = serde_json::to_vec_pretty(&root).map_err(Error::zarr)?;
        sync.set(&key("zarr.json")?, bytes.into())
            .map_err(Error::zarr)?;
        let snapshot = commit(store, message)?;
        *self.cached_loaded() = Some(Arc::new(LoadedPatches::new(snapshot.clone(), loaded)));
        Ok(snapshot)
    }
}
