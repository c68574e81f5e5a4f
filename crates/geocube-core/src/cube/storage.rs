//! Where a cube lives: [`CubeStorage`] (a local directory or memory; object
//! storage comes later) and the Icechunk format version a new cube uses.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use icechunk::Storage;

use super::s3::{PatchClaimObject, S3Location};
use super::store::block_on;
use crate::{Error, Result};

/// Where a cube's Icechunk repository lives.
#[derive(Clone)]
pub enum CubeStorage {
    /// A directory on local disk. Writers (threads and processes) are
    /// serialised with an advisory file lock, because Icechunk's local
    /// storage silently loses concurrent commits.
    Local(PathBuf),
    /// A bucket of S3 or an S3-compatible server ([`CubeStorage::s3`]).
    /// Icechunk's conditional writes make concurrent commits safe; patch
    /// claims are objects in the bucket.
    S3 {
        /// Where.
        location: Arc<S3Location>,
        /// Icechunk's storage of the repository.
        storage: Arc<dyn Storage + Send + Sync>,
        /// geocube's own client (claims).
        objects: Arc<dyn object_store::ObjectStore>,
    },
    /// Any other Icechunk storage (in-memory, GCS, ...), whose
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

    /// A cube in S3 (or an S3-compatible server) at `location`. The location
    /// is checked first (one listing, seconds at most): an unknown bucket,
    /// refused credentials or an endpoint that refuses connections is
    /// [`Error::Unreachable`] here, not a slow failure inside Icechunk.
    ///
    /// # Errors
    /// [`Error::Unreachable`]; [`Error::InvalidStorage`] when the client
    /// cannot be configured; [`Error::Icechunk`].
    pub fn s3(location: S3Location) -> Result<Self> {
        let objects = location.object_store()?;
        location.probe(objects.as_ref())?;
        let storage = location.icechunk_storage()?;
        Ok(Self::S3 {
            location: Arc::new(location),
            storage,
            objects,
        })
    }

    /// A location as the command line and the Python package give it: a
    /// local path, or `s3://bucket/prefix` with `s3` options (endpoint,
    /// region, credentials) applied to it.
    ///
    /// # Errors
    /// As [`CubeStorage::s3`] and [`S3Location::parse`].
    pub fn from_url(url: &str, s3: impl FnOnce(S3Location) -> S3Location) -> Result<Self> {
        if url.starts_with("s3://") {
            Self::s3(s3(S3Location::parse(url)?))
        } else if let Some((scheme, _)) = url.split_once("://")
            && scheme != "file"
        {
            Err(Error::InvalidStorage {
                location: url.to_owned(),
                reason: format!(
                    "`{scheme}://` is not supported: give a local path or s3://bucket/prefix"
                ),
            })
        } else {
            Ok(Self::local(url.strip_prefix("file://").unwrap_or(url)))
        }
    }

    /// The patch claim of `id` on S3 storage (see [`PatchClaimObject`]):
    /// waits while another process holds it, takes it over once its holder
    /// stopped renewing it for `lease`. `Ok(None)` on other storage (local
    /// cubes claim with lock files) or once `cancel` is set.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when the bucket cannot be written.
    pub fn claim_object(
        &self,
        id: &str,
        lease: std::time::Duration,
        cancel: &crate::CancelToken,
    ) -> Result<Option<PatchClaimObject>> {
        match self {
            Self::S3 {
                location, objects, ..
            } => super::s3::acquire(location, objects, id, lease, cancel),
            _ => Ok(None),
        }
    }

    /// For S3 storage without an Icechunk repository: an entry under the
    /// prefix that shows it holds something else (see `open` and `create`).
    pub(super) fn foreign_s3_entry(&self) -> Result<Option<String>> {
        match self {
            Self::S3 {
                location, objects, ..
            } => location.foreign_entry(objects.as_ref()),
            _ => Ok(None),
        }
    }

    /// The S3 location, for S3 storage.
    #[must_use]
    pub fn s3_location(&self) -> Option<&S3Location> {
        match self {
            Self::S3 { location, .. } => Some(location),
            _ => None,
        }
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
            Self::Icechunk { storage, .. } | Self::S3 { storage, .. } => Ok(Arc::clone(storage)),
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
            Self::Icechunk { .. } | Self::S3 { .. } => Ok(None),
        }
    }

    /// The stage lock of a local cube (see `lock.rs`), shared or exclusive.
    pub(super) fn stage_lock(&self, exclusive: bool) -> Result<Option<super::lock::StageLock>> {
        self.check_not_a_file()?;
        match self {
            Self::Local(path) if exclusive => super::lock::StageLock::exclusive(path).map(Some),
            Self::Local(path) => super::lock::StageLock::shared(path).map(Some),
            Self::Icechunk { .. } | Self::S3 { .. } => Ok(None),
        }
    }

    pub(super) fn local_path(&self) -> Option<&Path> {
        match self {
            Self::Local(p) => Some(p),
            Self::Icechunk { .. } | Self::S3 { .. } => None,
        }
    }
}

impl fmt::Display for CubeStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::Icechunk { description, .. } => f.write_str(description),
            Self::S3 { location, .. } => f.write_str(&location.describe()),
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
