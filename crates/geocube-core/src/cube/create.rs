//! Creating a cube: a new Icechunk repository (or a cleared branch) whose
//! first commit writes the empty smart-geocubes layout, "Initialize empty
//! datacube", as the reference does.

use std::path::Path;
use std::sync::Arc;

use icechunk::format::format_constants::SpecVersionBin;
use icechunk::repository::VersionInfo;
use icechunk::{Repository, Storage};
use zarrs::array::Array;
use zarrs::storage::{ListableStorageTraits, WritableStorageTraits};

use super::layout::{self};
use super::storage::{CubeStorage, IcechunkFormat};
use super::store::{block_on, key, meta_key, session_store};
use super::write::commit;
use super::{BRANCH, Cube};
use crate::spec::CubeSpec;
use crate::{Error, Result};

impl Cube {
    /// Start creating a cube for `spec` at `storage`.
    pub fn create(storage: CubeStorage, spec: &CubeSpec) -> CreateCube<'_> {
        CreateCube {
            storage,
            spec,
            overwrite: false,
            exists_ok: false,
            format: IcechunkFormat::V1,
        }
    }
}

/// Builder for [`Cube::create`].
#[must_use = "call .execute()"]
pub struct CreateCube<'a> {
    storage: CubeStorage,
    spec: &'a CubeSpec,
    overwrite: bool,
    exists_ok: bool,
    format: IcechunkFormat,
}

impl CreateCube<'_> {
    /// Replace an existing cube (its history included for local storage).
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// Open an existing cube instead of failing.
    pub fn exists_ok(mut self, yes: bool) -> Self {
        self.exists_ok = yes;
        self
    }

    /// Repository format for a new repository (default [`IcechunkFormat::V1`]).
    pub fn format(mut self, format: IcechunkFormat) -> Self {
        self.format = format;
        self
    }

    /// Create the cube: one commit "Initialize empty datacube".
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when a cube exists and neither `overwrite` nor
    /// `exists_ok` is set; [`Error::InvalidSpec`]; [`Error::NotADirectory`]
    /// for a local location that is a file; [`Error::NotEmpty`] for a local
    /// directory holding other files but no repository (`overwrite` replaces
    /// cubes, never unrelated files); storage errors. A refusal leaves the
    /// location untouched.
    pub fn execute(self) -> Result<Cube> {
        let spec_layout = layout::new_cube(self.spec)?;
        self.storage.check_not_a_file()?;
        if let Some(path) = self.storage.local_path() {
            // Checked before the lock, which would leave its file behind.
            let unrelated = unrelated_entries(path)?;
            if !unrelated.is_empty() && !repo_exists(&self.storage.icechunk_storage()?)? {
                return Err(Error::NotEmpty {
                    path: path.to_path_buf(),
                    entries: unrelated,
                });
            }
        }
        // An S3 prefix holding something else is never written into.
        if !repo_exists(&self.storage.icechunk_storage()?)?
            && let Some(entry) = self.storage.foreign_s3_entry()?
        {
            return Err(Error::NotACube {
                location: self.storage.to_string(),
                reason: format!(
                    "the prefix holds `{entry}` but no Icechunk repository; use an empty prefix for a new cube"
                ),
            });
        }
        let _lock = self.storage.lock()?;
        let storage = self.storage.icechunk_storage()?;
        let exists = repo_exists(&storage)?;
        let spec_version = match self.format {
            IcechunkFormat::V1 => SpecVersionBin::V1,
            IcechunkFormat::V2 => SpecVersionBin::V2,
        };
        let repo = match (exists, self.overwrite, self.exists_ok) {
            (true, false, true) => match Cube::open_unlocked(self.storage.clone()) {
                Ok(cube) => return Ok(cube),
                // A creator that died between the repository and its first
                // commit left an empty branch: finish its work.
                Err(Error::NotACube { .. }) => {
                    let repo =
                        block_on(Repository::open(storage).execute())?.map_err(Error::icechunk)?;
                    if !branch_is_empty(&repo)? {
                        return Cube::open_unlocked(self.storage);
                    }
                    repo
                }
                Err(e) => return Err(e),
            },
            (true, false, false) => {
                return Err(Error::AlreadyExists {
                    location: self.storage.to_string(),
                });
            }
            (true, true, _) if self.storage.local_path().is_some() => {
                let path = self.storage.local_path().unwrap_or(Path::new("."));
                clear_local_repository(path)?;
                let storage = self.storage.icechunk_storage()?;
                create_repo(storage, spec_version)?
            }
            (true, true, _) => {
                let repo =
                    block_on(Repository::open(storage).execute())?.map_err(Error::icechunk)?;
                clear_branch(&repo)?;
                repo
            }
            (false, _, _) => match create_repo(storage, spec_version) {
                Ok(repo) => repo,
                Err(e) => return self.lost_race(e),
            },
        };
        if let Err(e) = write_new_cube(&repo, &spec_layout) {
            return self.lost_race(e);
        }
        Cube::from_repo(self.storage, repo)
    }

    /// A create that failed on object storage, where nothing serialises
    /// creators (local cubes take the lock file): if another process was
    /// creating the same cube, its repository or first commit won the
    /// conditional write. Wait (up to 30 s) for its cube and use it as
    /// `exists_ok` says; otherwise the failure stands.
    fn lost_race(&self, failure: Error) -> Result<Cube> {
        if self.storage.local_path().is_some() {
            return Err(failure);
        }
        for _ in 0..60 {
            match Cube::open_unlocked(self.storage.clone()) {
                Ok(cube) if self.exists_ok => return Ok(cube),
                Ok(_) => {
                    return Err(Error::AlreadyExists {
                        location: self.storage.to_string(),
                    });
                }
                Err(Error::NotCreated { .. } | Error::NotACube { .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
        Err(failure)
    }
}

/// Whether the branch holds no node at all (not even a root group): a
/// repository whose creator died before the cube's first commit.
fn branch_is_empty(repo: &Repository) -> Result<bool> {
    let session = block_on(repo.readonly_session(&VersionInfo::BranchTipRef(BRANCH.into())))?
        .map_err(Error::icechunk)?;
    let (_, store) = session_store(session, None)?;
    let keys = store
        .list_prefix(&zarrs::storage::StorePrefix::root())
        .map_err(Error::zarr)?;
    Ok(keys.is_empty())
}

/// Top-level names of an Icechunk repository (formats 1 and 2), as
/// `icechunk_format`'s `*_FILE_PATH` constants name them.
pub(super) const ICECHUNK_ENTRIES: [&str; 8] = [
    "config.yaml",
    "refs",
    "snapshots",
    "manifests",
    "chunks",
    "transactions",
    "repo",
    "overwritten",
];

/// Up to three entries of the directory `path` that neither geocube
/// (`.geocube-*`: lock, claims, events) nor Icechunk put there,
/// comma-separated, with `...` when there are more; empty when there are
/// none or `path` does not exist.
fn unrelated_entries(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(io(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let name = entry
            .map_err(io)?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !name.starts_with(".geocube-") && !ICECHUNK_ENTRIES.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.sort();
    let more = names.len() > 3;
    names.truncate(3);
    if more {
        names.push("...".into());
    }
    Ok(names.join(", "))
}

pub(super) fn repo_exists(storage: &Arc<dyn Storage + Send + Sync>) -> Result<bool> {
    let version = block_on(Repository::fetch_spec_version(Arc::clone(storage), None))?
        .map_err(Error::icechunk)?;
    Ok(version.is_some())
}

pub(super) fn create_repo(
    storage: Arc<dyn Storage + Send + Sync>,
    version: SpecVersionBin,
) -> Result<Repository> {
    // The lock file may already sit in the directory, so skip icechunk's
    // clean-root check; `repo_exists` has told us no repository is there.
    block_on(
        Repository::create(storage)
            .spec_version(version)
            .check_clean_root(false)
            .execute(),
    )?
    .map_err(Error::icechunk)
}

/// Remove a local repository, keeping the lock file we hold.
pub(super) fn clear_local_repository(path: &Path) -> Result<()> {
    let entries = std::fs::read_dir(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        if entry.file_name() == super::lock::LOCK_FILE {
            continue;
        }
        let p = entry.path();
        let res = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        res.map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
    }
    Ok(())
}

pub(super) fn clear_branch(repo: &Repository) -> Result<()> {
    block_on(async {
        let mut session = repo
            .writable_session(BRANCH)
            .await
            .map_err(Error::icechunk)?;
        session.clear().await.map_err(Error::icechunk)?;
        session
            .commit("Clear datacube for overwrite")
            .execute()
            .await
            .map_err(Error::icechunk)?;
        Ok(())
    })?
}

pub(super) fn write_new_cube(repo: &Repository, new: &layout::NewCube) -> Result<()> {
    let session = block_on(repo.writable_session(BRANCH))?.map_err(Error::icechunk)?;
    let (store, sync) = session_store(session, None)?;
    for (node, doc) in &new.nodes {
        // The root group's document is stored again by every commit, with
        // the whole `loaded_patches` list: compact, as commits write it
        // (`root_doc.rs`); the others indented, as zarr-python prints them.
        let bytes = if node.is_empty() {
            serde_json::to_vec(doc)
        } else {
            serde_json::to_vec_pretty(doc)
        }
        .map_err(Error::zarr)?;
        sync.set(&key(&meta_key(node))?, bytes.into())
            .map_err(Error::zarr)?;
    }
    let open =
        |name: &str| Array::open(Arc::clone(&sync), &format!("/{name}")).map_err(Error::zarr);
    open("x")?
        .store_chunk(&[0], new.xs.as_slice())
        .map_err(Error::zarr)?;
    open("y")?
        .store_chunk(&[0], new.ys.as_slice())
        .map_err(Error::zarr)?;
    open("spatial_ref")?
        .store_chunk(&[], [new.spatial_ref].as_slice())
        .map_err(Error::zarr)?;
    if let Some(t) = &new.time {
        open("time")?
            .store_chunk(&[0], t.as_slice())
            .map_err(Error::zarr)?;
    }
    commit(&store, "Initialize empty datacube").map(|_| ())
}
