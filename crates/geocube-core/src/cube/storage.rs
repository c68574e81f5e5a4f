//! Where a cube lives: [`CubeStorage`] (a local directory or memory; object
//! storage comes later) and the Icechunk format version a new cube uses.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use icechunk::Storage;

use super::store::block_on;
use crate::{Error, Result};

/// Where a cube's Icechunk repository lives.
#[derive(Clone)]
pub enum CubeStorage {
    /// A directory on local disk. Writers (threads and processes) are
    /// serialised with an advisory file lock, because Icechunk's local
    /// storage silently loses concurrent commits.
    Local(PathBuf),
    /// Any other Icechunk storage (in-memory, S3, GCS, ...), whose
    /// conditional writes make concurrent commits safe.
    Icechunk {
        /// The storage.
        storage: Arc<dyn Storage + Send + Sync>,
        /// How to name it in messages.
        description: String,
    },
}

impl CubeStorage {
    /// A repository directory on local disk.
    pub fn local(path: impl Into<PathBuf>) -> Self {
        Self::Local(path.into())
    }

    /// A fresh in-memory repository (gone when the last clone is dropped).
    ///
    /// # Errors
    /// [`Error::Icechunk`] if the storage cannot be set up.
    pub fn in_memory() -> Result<Self> {
        let storage = block_on(icechunk::new_in_memory_storage())?.map_err(Error::icechunk)?;
        Ok(Self::Icechunk {
            storage,
            description: "memory://".into(),
        })
    }

    pub(super) fn icechunk_storage(&self) -> Result<Arc<dyn Storage + Send + Sync>> {
        match self {
            Self::Local(path) => {
                block_on(icechunk::new_local_filesystem_storage(path))?.map_err(Error::icechunk)
            }
            Self::Icechunk { storage, .. } => Ok(Arc::clone(storage)),
        }
    }

    /// Fail with [`Error::NotADirectory`] when a local location is a file
    /// (the lock file and Icechunk's layout would otherwise fail inside it
    /// with an obscure I/O error).
    pub(super) fn check_not_a_file(&self) -> Result<()> {
        match self {
            Self::Local(p) if p.exists() && !p.is_dir() => {
                Err(Error::NotADirectory { path: p.clone() })
            }
            _ => Ok(()),
        }
    }

    pub(super) fn lock(&self) -> Result<Option<super::lock::WriteLock>> {
        self.check_not_a_file()?;
        match self {
            Self::Local(path) => super::lock::WriteLock::acquire(path).map(Some),
            Self::Icechunk { .. } => Ok(None),
        }
    }

    /// The stage lock of a local cube (see `lock.rs`), shared or exclusive.
    pub(super) fn stage_lock(&self, exclusive: bool) -> Result<Option<super::lock::StageLock>> {
        self.check_not_a_file()?;
        match self {
            Self::Local(path) if exclusive => super::lock::StageLock::exclusive(path).map(Some),
            Self::Local(path) => super::lock::StageLock::shared(path).map(Some),
            Self::Icechunk { .. } => Ok(None),
        }
    }

    pub(super) fn local_path(&self) -> Option<&Path> {
        match self {
            Self::Local(p) => Some(p),
            Self::Icechunk { .. } => None,
        }
    }
}

impl fmt::Display for CubeStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::Icechunk { description, .. } => f.write_str(description),
        }
    }
}

impl fmt::Debug for CubeStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CubeStorage({self})")
    }
}

/// On-disk format of a new repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IcechunkFormat {
    /// Icechunk 1 format: readable by Icechunk 1.x (smart-geocubes pins
    /// `icechunk>=1.1,<2`) and by Icechunk 2. The default.
    #[default]
    V1,
    /// Icechunk 2 format: not readable by Icechunk 1.x.
    V2,
}
