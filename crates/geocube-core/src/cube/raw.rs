//! The cube's Zarr store as bytes, pinned to one snapshot: what a Zarr
//! implementation of another language (zarr-python through the `geocube`
//! package) reads the cube with, without an Icechunk client of its own.

use std::sync::Arc;

use icechunk::format::SnapshotId;
use icechunk::repository::VersionInfo;
use zarrs::storage::byte_range::ByteRange;
use zarrs::storage::{ListableStorageTraits, ReadableStorageTraits, StorePrefix};

use super::store::{IcechunkSyncStore, block_on, key, session_store};
use super::{BRANCH, Cube};
use crate::{Error, Result};

/// A byte range of one object, as Zarr stores ask for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawRange {
    /// The whole object.
    All,
    /// From `offset`, `length` bytes (to the end when `None`).
    From {
        /// First byte.
        offset: u64,
        /// Bytes wanted, or the rest.
        length: Option<u64>,
    },
    /// The last `n` bytes.
    Suffix(u64),
}

/// A read-only view of a cube's Zarr store at one snapshot.
///
/// Keys are Zarr v3 keys (`zarr.json`, `dem/zarr.json`, `dem/c/0/1`). Every
/// read sees the snapshot the view was made at, however the branch moves
/// on: a lazy reader built on it reads one consistent cube.
pub struct SnapshotStore {
    snapshot: String,
    store: Arc<IcechunkSyncStore>,
}

impl std::fmt::Debug for SnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotStore")
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}

impl Cube {
    /// The store at the branch tip (`snapshot` `None`) or at the snapshot
    /// with that id (as [`SnapshotStore::snapshot_id`] prints it).
    ///
    /// # Errors
    /// [`Error::InvalidSnapshot`] for an id that does not parse;
    /// [`Error::Icechunk`] when the repository has no such snapshot or
    /// cannot be read.
    pub fn snapshot_store(&self, snapshot: Option<&str>) -> Result<SnapshotStore> {
        let version = match snapshot {
            None => VersionInfo::BranchTipRef(BRANCH.into()),
            Some(id) => VersionInfo::SnapshotId(SnapshotId::try_from(id).map_err(|e| {
                Error::InvalidSnapshot {
                    id: id.to_owned(),
                    reason: e.to_string(),
                }
            })?),
        };
        let session = block_on(self.repo.readonly_session(&version))?.map_err(Error::icechunk)?;
        let snapshot = session.snapshot_id().to_string();
        let (_, store) = session_store(session, self.storage.local_path())?;
        Ok(SnapshotStore { snapshot, store })
    }
}

impl SnapshotStore {
    /// The snapshot every read sees.
    #[must_use]
    pub fn snapshot_id(&self) -> &str {
        &self.snapshot
    }

    /// The bytes of `range` of object `key`; `None` when there is no such
    /// object (an unwritten chunk, a missing node) or the range lies outside it.
    ///
    /// # Errors
    /// [`Error::Zarr`] for a malformed key or a failing read.
    pub fn get(&self, key_str: &str, range: RawRange) -> Result<Option<Vec<u8>>> {
        let k = key(key_str)?;
        let bytes = match range {
            RawRange::All => self.store.get(&k).map_err(Error::zarr)?,
            RawRange::From { offset, length } => self
                .store
                .get_partial(&k, ByteRange::FromStart(offset, length))
                .map_err(Error::zarr)?,
            RawRange::Suffix(n) => self
                .store
                .get_partial(&k, ByteRange::Suffix(n))
                .map_err(Error::zarr)?,
        };
        Ok(bytes.map(|b| b.to_vec()))
    }

    /// Every key under `prefix` (`""` for all).
    ///
    /// # Errors
    /// [`Error::Zarr`] for a malformed prefix or a failing listing.
    pub fn list_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let p = StorePrefix::new(prefix).map_err(Error::zarr)?;
        Ok(self
            .store
            .list_prefix(&p)
            .map_err(Error::zarr)?
            .into_iter()
            .map(|k| k.as_str().to_owned())
            .collect())
    }

    /// The names directly under `prefix` (`""` or `dem/`): keys by their
    /// last part, sub-prefixes without their trailing `/`, as Zarr's
    /// `list_dir` yields them.
    ///
    /// # Errors
    /// [`Error::Zarr`] for a malformed prefix or a failing listing.
    pub fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        let p = StorePrefix::new(prefix).map_err(Error::zarr)?;
        let listed = self.store.list_dir(&p).map_err(Error::zarr)?;
        let strip = |s: &str| -> String {
            s.strip_prefix(prefix)
                .unwrap_or(s)
                .trim_end_matches('/')
                .to_owned()
        };
        let mut names: Vec<String> = listed
            .keys()
            .iter()
            .map(|k| strip(k.as_str()))
            .chain(listed.prefixes().iter().map(|p| strip(p.as_str())))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
