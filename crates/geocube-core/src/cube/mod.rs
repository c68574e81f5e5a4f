//! The cube: an Icechunk repository holding one Zarr v3 group in the
//! smart-geocubes layout, opened through zarrs.
//!
//! Every write is one atomic Icechunk commit that carries the pixels of a
//! batch of patches *and* their ids in the root attribute `loaded_patches`:
//! both or neither.

mod cache;
mod layout;
mod lock;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use icechunk::format::format_constants::SpecVersionBin;
use icechunk::repository::VersionInfo;
use icechunk::session::SessionErrorKind;
use icechunk::{Repository, Storage};
use ndarray::{Array2, ArrayD, Axis, Ix2, IxDyn, Slice};
use rayon::prelude::*;
use serde_json::{Value, json};
use tokio::sync::RwLock;
use zarrs::array::Array;
use zarrs::storage::{
    ListableStorageTraits, ReadableStorageTraits, StoreKey, WritableStorageTraits,
};

use self::cache::ChunkCache;
pub use self::cache::DEFAULT_CHUNK_CACHE_BYTES;
use self::layout::{
    ArrayMeta, decode_time, epsg_from_wkt, geobox_from_coords, group_json, parse_array_meta,
};
pub use self::layout::{CubeLayout, VariableLayout, array_document, codecs_document};
use self::store::IcechunkSyncStore;
pub(crate) use self::store::block_on;
use crate::dataset::{CubeElement, Dataset, Variable};
use crate::patch::Patch;
use crate::spec::{CubeSpec, DType};
use crate::toi::{TimeMethod, Toi};
use crate::{Aoi, Crs, Error, Result, Window, with_dtype};

/// The branch every cube lives on.
pub const BRANCH: &str = "main";

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
        let storage = block_on(icechunk::new_in_memory_storage())?.map_err(ic)?;
        Ok(Self::Icechunk {
            storage,
            description: "memory://".into(),
        })
    }

    fn icechunk_storage(&self) -> Result<Arc<dyn Storage + Send + Sync>> {
        match self {
            Self::Local(path) => {
                block_on(icechunk::new_local_filesystem_storage(path))?.map_err(ic)
            }
            Self::Icechunk { storage, .. } => Ok(Arc::clone(storage)),
        }
    }

    fn lock(&self) -> Result<Option<lock::WriteLock>> {
        match self {
            Self::Local(path) => lock::WriteLock::acquire(path).map(Some),
            Self::Icechunk { .. } => Ok(None),
        }
    }

    fn local_path(&self) -> Option<&Path> {
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

fn ic(err: impl fmt::Display) -> Error {
    Error::Icechunk(err.to_string())
}

fn zarr_err(err: impl fmt::Display) -> Error {
    Error::Zarr(err.to_string())
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
    /// `exists_ok` is set; [`Error::InvalidSpec`]; storage errors.
    pub fn execute(self) -> Result<Cube> {
        let spec_layout = layout::new_cube(self.spec)?;
        let _lock = self.storage.lock()?;
        let storage = self.storage.icechunk_storage()?;
        let exists = repo_exists(&storage)?;
        let spec_version = match self.format {
            IcechunkFormat::V1 => SpecVersionBin::V1,
            IcechunkFormat::V2 => SpecVersionBin::V2,
        };
        let repo = match (exists, self.overwrite, self.exists_ok) {
            (true, false, true) => return Cube::open_unlocked(self.storage),
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
                let repo = block_on(Repository::open(storage).execute())?.map_err(ic)?;
                clear_branch(&repo)?;
                repo
            }
            (false, _, _) => create_repo(storage, spec_version)?,
        };
        write_new_cube(&repo, &spec_layout)?;
        Cube::from_repo(self.storage, repo)
    }
}

fn repo_exists(storage: &Arc<dyn Storage + Send + Sync>) -> Result<bool> {
    let version =
        block_on(Repository::fetch_spec_version(Arc::clone(storage), None))?.map_err(ic)?;
    Ok(version.is_some())
}

fn create_repo(
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
    .map_err(ic)
}

/// Remove a local repository, keeping the lock file we hold.
fn clear_local_repository(path: &Path) -> Result<()> {
    let entries = std::fs::read_dir(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        if entry.file_name() == lock::LOCK_FILE {
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

fn clear_branch(repo: &Repository) -> Result<()> {
    block_on(async {
        let mut session = repo.writable_session(BRANCH).await.map_err(ic)?;
        session.clear().await.map_err(ic)?;
        session
            .commit("Clear datacube for overwrite")
            .execute()
            .await
            .map_err(ic)?;
        Ok(())
    })?
}

/// A zarrs store over `session`; `local_root` is the repository directory of
/// a local cube, whose chunk objects are then read directly (see `store`).
fn session_store(
    session: icechunk::session::Session,
    local_root: Option<&Path>,
) -> Result<(icechunk::Store, Arc<IcechunkSyncStore>)> {
    let store = block_on(icechunk::Store::from_session(Arc::new(RwLock::new(
        session,
    ))))?;
    Ok((
        store.clone(),
        IcechunkSyncStore::new(store, local_root.map(Path::to_path_buf)),
    ))
}

fn key(s: &str) -> Result<StoreKey> {
    StoreKey::new(s).map_err(zarr_err)
}

fn meta_key(node: &str) -> String {
    if node.is_empty() {
        "zarr.json".into()
    } else {
        format!("{node}/zarr.json")
    }
}

fn write_new_cube(repo: &Repository, new: &layout::NewCube) -> Result<()> {
    let session = block_on(repo.writable_session(BRANCH))?.map_err(ic)?;
    let (store, sync) = session_store(session, None)?;
    for (node, doc) in &new.nodes {
        let bytes = serde_json::to_vec_pretty(doc).map_err(zarr_err)?;
        sync.set(&key(&meta_key(node))?, bytes.into())
            .map_err(zarr_err)?;
    }
    let open = |name: &str| Array::open(Arc::clone(&sync), &format!("/{name}")).map_err(zarr_err);
    open("x")?
        .store_chunk(&[0], new.xs.as_slice())
        .map_err(zarr_err)?;
    open("y")?
        .store_chunk(&[0], new.ys.as_slice())
        .map_err(zarr_err)?;
    open("spatial_ref")?
        .store_chunk(&[], [new.spatial_ref].as_slice())
        .map_err(zarr_err)?;
    if let Some(t) = &new.time {
        open("time")?
            .store_chunk(&[0], t.as_slice())
            .map_err(zarr_err)?;
    }
    commit(&store, "Initialize empty datacube").map(|_| ())
}

/// Commit the store's session; a lost race becomes [`Error::Conflict`].
fn commit(store: &icechunk::Store, message: &str) -> Result<String> {
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
            Err(e) => Err(ic(e)),
        }
    })?
}

fn read_json(store: &IcechunkSyncStore, k: &str) -> Result<Option<Value>> {
    match store.get(&key(k)?).map_err(zarr_err)? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(zarr_err),
        None => Ok(None),
    }
}

fn loaded_patches_of(root: &Value) -> Vec<String> {
    root.pointer("/attributes/loaded_patches")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A geocube / smart-geocubes datacube in an Icechunk repository.
///
/// `Cube` is `Send + Sync`: share one between threads. Reads see the branch
/// tip at the time of the call; writes are atomic commits.
pub struct Cube {
    storage: CubeStorage,
    repo: Repository,
    layout: CubeLayout,
    /// Decoded chunks this handle wrote or read whole (see [`Cube::set_chunk_cache_bytes`]).
    chunks: ChunkCache,
    /// `loaded_patches` of the last snapshot this handle read or wrote.
    loaded: Mutex<Option<Arc<LoadedPatches>>>,
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
    fn new(snapshot: String, ids: Vec<String>) -> Self {
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

impl fmt::Debug for Cube {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cube")
            .field("storage", &self.storage)
            .field("title", &self.layout.title)
            .finish()
    }
}

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

    /// Whether a cube exists at `storage` (a repository whose `main` branch
    /// holds a group with `loaded_patches`).
    ///
    /// # Errors
    /// Storage errors other than "nothing there".
    pub fn exists(storage: &CubeStorage) -> Result<bool> {
        if let Some(p) = storage.local_path()
            && !p.exists()
        {
            return Ok(false);
        }
        match Self::open(storage.clone()) {
            Ok(_) => Ok(true),
            Err(Error::NotCreated { .. } | Error::NotACube { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Open an existing cube.
    ///
    /// # Errors
    /// [`Error::NotCreated`] when there is no repository or it is empty;
    /// [`Error::NotACube`] when the repository holds something else.
    pub fn open(storage: CubeStorage) -> Result<Self> {
        Self::open_unlocked(storage)
    }

    fn open_unlocked(storage: CubeStorage) -> Result<Self> {
        let not_created = || Error::NotCreated {
            location: storage.to_string(),
        };
        if let Some(p) = storage.local_path()
            && !p.join("refs").exists()
            && !p.join("repo").exists()
        {
            return Err(not_created());
        }
        let ic_storage = storage.icechunk_storage()?;
        if !repo_exists(&ic_storage)? {
            return Err(not_created());
        }
        let repo = block_on(Repository::open(ic_storage).execute())?.map_err(ic)?;
        Self::from_repo(storage, repo)
    }

    fn from_repo(storage: CubeStorage, repo: Repository) -> Result<Self> {
        let layout = read_layout(&repo).map_err(|e| match e {
            Error::NotACube { reason, .. } => Error::NotACube {
                location: storage.to_string(),
                reason,
            },
            other => other,
        })?;
        Ok(Self {
            storage,
            repo,
            layout,
            chunks: ChunkCache::new(DEFAULT_CHUNK_CACHE_BYTES),
            loaded: Mutex::new(None),
        })
    }

    /// Set the memory budget of this handle's decoded-chunk cache (default
    /// [`DEFAULT_CHUNK_CACHE_BYTES`]; 0 turns it off).
    ///
    /// A write keeps each chunk it merged, and a read keeps each chunk it
    /// decoded whole, keyed by the chunk object in the repository. Icechunk
    /// never rewrites an object, so a cached chunk is never stale: reading
    /// back a region just loaded, or the same region from several threads,
    /// copies instead of decoding again.
    pub fn set_chunk_cache_bytes(&self, bytes: usize) {
        self.chunks.set_capacity(bytes);
    }

    /// The memory budget of the decoded-chunk cache.
    #[must_use]
    pub fn chunk_cache_bytes(&self) -> usize {
        self.chunks.capacity()
    }

    /// The cube's layout (grid, time axis, variables, chunking).
    #[must_use]
    pub fn layout(&self) -> &CubeLayout {
        &self.layout
    }

    /// Where the cube lives.
    #[must_use]
    pub fn storage(&self) -> &CubeStorage {
        &self.storage
    }

    /// The repository's format version.
    #[must_use]
    pub fn format(&self) -> IcechunkFormat {
        if self.repo.spec_version() == SpecVersionBin::V1 {
            IcechunkFormat::V1
        } else {
            IcechunkFormat::V2
        }
    }

    fn readonly_session(&self) -> Result<icechunk::session::Session> {
        block_on(
            self.repo
                .readonly_session(&VersionInfo::BranchTipRef(BRANCH.into())),
        )?
        .map_err(ic)
    }

    fn readonly_store(&self) -> Result<Arc<IcechunkSyncStore>> {
        Ok(session_store(self.readonly_session()?, self.storage.local_path())?.1)
    }

    fn cached_loaded(&self) -> std::sync::MutexGuard<'_, Option<Arc<LoadedPatches>>> {
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

    /// Read the pixels of `window` (in cube pixel indices, clipped to the
    /// cube) at the time indices `time` (all steps when `None`).
    ///
    /// # Errors
    /// [`Error::InvalidAoi`] when the window misses the cube; storage errors.
    pub fn read_window(&self, window: Window, time: Option<&[usize]>) -> Result<Dataset> {
        let full = Window {
            row: 0,
            col: 0,
            height: self.layout.geobox.height(),
            width: self.layout.geobox.width(),
        };
        let w = window
            .intersection(&full)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| Error::InvalidAoi(format!("window {window:?} lies outside the cube")))?;
        let geobox = self.layout.geobox.window(w)?;
        let time_idx: Option<Vec<usize>> = match (&self.layout.time, time) {
            (Some(axis), Some(sel)) => {
                if let Some(bad) = sel.iter().find(|i| **i >= axis.len()) {
                    return Err(Error::InvalidToi(format!(
                        "time index {bad} out of range 0..{}",
                        axis.len()
                    )));
                }
                Some(sel.to_vec())
            }
            (Some(axis), None) => Some((0..axis.len()).collect()),
            (None, Some(_)) => return Err(Error::InvalidToi("the cube has no time axis".into())),
            (None, None) => None,
        };
        let store = self.readonly_store()?;
        let variables = self
            .layout
            .variables
            .par_iter()
            .map(|v| {
                let array =
                    Array::open(Arc::clone(&store), &format!("/{}", v.name)).map_err(zarr_err)?;
                let data = with_dtype!(v.dtype, |T| T::wrap(read_region::<T>(
                    &array,
                    &ChunkSource {
                        store: &store,
                        cache: &self.chunks,
                    },
                    w,
                    time_idx.as_deref(),
                    self.layout.chunk_shape,
                )?));
                Ok((
                    v.name.clone(),
                    Variable {
                        data,
                        attributes: v.attributes.clone(),
                    },
                ))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let time = self
            .layout
            .time
            .as_ref()
            .zip(time_idx.as_ref())
            .map(|(axis, idx)| idx.iter().map(|i| axis[*i]).collect());
        Ok(Dataset {
            geobox,
            time,
            variables,
        })
    }

    /// Read the cube cropped to the bounding box of `aoi` (every pixel the
    /// box touches, rounded outward), at the steps `toi` selects (nearest).
    ///
    /// # Errors
    /// [`Error::AoiOutsideExtent`], [`Error::NoMatchingTime`], storage errors.
    pub fn read_aoi(&self, aoi: &Aoi, toi: &Toi) -> Result<Dataset> {
        let window = self.aoi_window(aoi)?;
        let time = self.select_time(toi)?;
        self.read_window(window, time.as_deref())
    }

    /// The cube window holding every pixel the AOI's bounding box (in the
    /// cube CRS) touches.
    ///
    /// # Errors
    /// [`Error::AoiOutsideExtent`]; CRS errors.
    pub fn aoi_window(&self, aoi: &Aoi) -> Result<Window> {
        let gb = &self.layout.geobox;
        let bounds = aoi.bounds_in(gb.crs())?;
        gb.crop_bbox(&bounds)
            .map(|(w, _)| w)
            .ok_or_else(|| Error::AoiOutsideExtent {
                aoi: bounds.to_string(),
                extent: gb.bbox().to_string(),
            })
    }

    /// Time indices `toi` selects (nearest), `None` for a spatial cube.
    ///
    /// # Errors
    /// [`Error::NoMatchingTime`]; [`Error::InvalidToi`] for a time on a spatial cube.
    pub fn select_time(&self, toi: &Toi) -> Result<Option<Vec<usize>>> {
        match (&self.layout.time, toi) {
            (None, Toi::None) => Ok(None),
            (None, _) => Err(Error::InvalidToi(
                "the cube has no time axis; give no time of interest".into(),
            )),
            (Some(axis), toi) => toi.select(axis, TimeMethod::Nearest).map(Some),
        }
    }

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
    /// decoded and encoded once for the whole batch; chunks are processed in
    /// parallel. NaN and nodata pixels never overwrite data already in the
    /// cube. On a local repository the write holds the repository's lock, so
    /// concurrent writers (threads or processes) queue instead of losing
    /// commits; on other storage a lost race returns [`Error::Conflict`] and
    /// nothing is written: call again to retry on the new branch tip.
    ///
    /// # Errors
    /// [`Error::InvalidPatch`] (before anything is written), [`Error::Conflict`],
    /// storage and codec errors.
    pub fn write_patches(&self, patches: &[Patch]) -> Result<WriteOutcome> {
        let plans = patches
            .iter()
            .map(|p| self.plan_patch(p))
            .collect::<Result<Vec<_>>>()?;
        let _lock = self.storage.lock()?;
        let session = block_on(self.repo.writable_session(BRANCH))?.map_err(ic)?;
        let (store, sync) = session_store(session, self.storage.local_path())?;
        let mut root = read_json(&sync, "zarr.json")?.ok_or_else(|| Error::NotACube {
            location: self.storage.to_string(),
            reason: "no root group".into(),
        })?;
        let mut loaded = loaded_patches_of(&root);
        let loaded_set: BTreeSet<&str> = loaded.iter().map(String::as_str).collect();
        let mut outcome = WriteOutcome::default();
        let mut todo: Vec<(usize, &PatchPlan)> = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, (patch, plan)) in patches.iter().zip(&plans).enumerate() {
            if loaded_set.contains(patch.id.as_str()) {
                outcome.already_loaded.push(patch.id.clone());
            } else if seen.insert(patch.id.as_str()) {
                todo.push((i, plan));
            }
        }
        if todo.is_empty() {
            return Ok(outcome);
        }

        // (variable, time index, chunk row, chunk col) -> patches touching it, in batch order.
        let (cy, cx) = self.layout.chunk_shape;
        let mut jobs: BTreeMap<(&str, Option<usize>, usize, usize), Vec<usize>> = BTreeMap::new();
        for (i, plan) in &todo {
            let w = plan.cube_window;
            for ty in w.row / cy..=(w.row + w.height - 1) / cy {
                for tx in w.col / cx..=(w.col + w.width - 1) / cx {
                    for name in patches[*i].layers.keys() {
                        jobs.entry((name.as_str(), plan.time_index, ty, tx))
                            .or_default()
                            .push(*i);
                    }
                }
            }
        }
        let arrays = self
            .layout
            .variables
            .iter()
            .map(|v| {
                Array::open(Arc::clone(&sync), &format!("/{}", v.name))
                    .map(|a| (v.name.as_str(), (v.dtype, a)))
                    .map_err(zarr_err)
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let jobs: Vec<_> = jobs.into_iter().collect();
        jobs.par_iter()
            .try_for_each(|((name, t, ty, tx), members)| {
                let (dtype, array) = &arrays[name];
                let chunk = ChunkJob {
                    ty: *ty,
                    tx: *tx,
                    t: *t,
                    chunk_shape: (cy, cx),
                };
                with_dtype!(*dtype, |T| merge_chunk::<T>(
                    array,
                    &ChunkSource {
                        store: &sync,
                        cache: &self.chunks,
                    },
                    &chunk,
                    name,
                    members,
                    patches,
                    &plans
                ))
            })?;

        for (i, _) in &todo {
            loaded.push(patches[*i].id.clone());
            outcome.written.push(patches[*i].id.clone());
        }
        if let Some(attrs) = root.get_mut("attributes").and_then(Value::as_object_mut) {
            attrs.insert("loaded_patches".into(), json!(loaded));
        } else {
            let mut attrs = serde_json::Map::new();
            attrs.insert("loaded_patches".into(), json!(loaded));
            root = group_json(attrs);
        }
        let bytes = serde_json::to_vec_pretty(&root).map_err(zarr_err)?;
        sync.set(&key("zarr.json")?, bytes.into())
            .map_err(zarr_err)?;
        let message = format!("Write patches {}", outcome.written.join(", "));
        let snapshot = commit(&store, &message)?;
        *self.cached_loaded() = Some(Arc::new(LoadedPatches::new(snapshot.clone(), loaded)));
        outcome.snapshot = Some(snapshot);
        Ok(outcome)
    }

    /// Check a patch against the cube before anything is written.
    fn plan_patch(&self, patch: &Patch) -> Result<PatchPlan> {
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

/// Where one patch lands in the cube.
struct PatchPlan {
    cube_window: Window,
    patch_window: Window,
    time_index: Option<usize>,
}

struct ChunkJob {
    ty: usize,
    tx: usize,
    t: Option<usize>,
    chunk_shape: (usize, usize),
}

#[allow(clippy::cast_possible_truncation)]
fn u64s(v: &[usize]) -> Vec<u64> {
    v.iter().map(|x| *x as u64).collect()
}

/// Where chunks come from: the session's store, and the handle's cache of
/// decoded chunks keyed by chunk object.
struct ChunkSource<'a> {
    store: &'a IcechunkSyncStore,
    cache: &'a ChunkCache,
}

impl ChunkSource<'_> {
    fn identity(&self, array: &Array<IcechunkSyncStore>, idx: &[u64]) -> Option<String> {
        if self.cache.capacity() == 0 {
            return None;
        }
        self.store.chunk_identity(array.chunk_key(idx).as_str())
    }

    /// The decoded chunk `idx` (rows x columns) if cached.
    fn cached<T: CubeElement>(
        &self,
        array: &Array<IcechunkSyncStore>,
        idx: &[u64],
    ) -> Option<Arc<Array2<T>>> {
        self.identity(array, idx)
            .and_then(|id| self.cache.get::<T>(&id))
    }

    /// The decoded chunk `idx`, removed from the cache: the caller is about
    /// to write a new object for it.
    fn take_cached<T: CubeElement>(
        &self,
        array: &Array<IcechunkSyncStore>,
        idx: &[u64],
    ) -> Option<Arc<Array2<T>>> {
        self.identity(array, idx)
            .and_then(|id| self.cache.take::<T>(&id))
    }

    fn keep<T: CubeElement>(
        &self,
        array: &Array<IcechunkSyncStore>,
        idx: &[u64],
        chunk: Arc<Array2<T>>,
    ) {
        if let Some(id) = self.identity(array, idx) {
            self.cache.insert(id, chunk);
        }
    }
}

/// Decode a chunk once, merge every member patch into it in order, encode
/// it once, and keep the merged chunk in the cache.
fn merge_chunk<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    source: &ChunkSource<'_>,
    job: &ChunkJob,
    name: &str,
    members: &[usize],
    patches: &[Patch],
    plans: &[PatchPlan],
) -> Result<()> {
    let (ch, cw) = job.chunk_shape;
    let chunk_window = Window {
        row: job.ty * ch,
        col: job.tx * cw,
        height: ch,
        width: cw,
    };
    let mut idx = vec![job.ty, job.tx];
    let mut full_shape = vec![ch, cw];
    if let Some(t) = job.t {
        idx.insert(0, t);
        full_shape.insert(0, 1);
    }
    let idx = u64s(&idx);
    let bad_shape = |e: ndarray::ShapeError| {
        Error::Zarr(format!("chunk of `{name}` has an unexpected shape: {e}"))
    };
    let mut chunk: Array2<T> = match source.take_cached::<T>(array, &idx) {
        // Out of the cache: no copy unless a reader still holds it.
        Some(cached) => Arc::unwrap_or_clone(cached),
        None => array
            .retrieve_chunk_if_exists::<ArrayD<T>>(&idx)
            .map_err(zarr_err)?
            .unwrap_or_else(|| ArrayD::from_elem(IxDyn(&full_shape), T::fill()))
            .into_shape_with_order((ch, cw))
            .map_err(bad_shape)?,
    };
    {
        let mut view = chunk.view_mut();
        for &i in members {
            let (patch, plan) = (&patches[i], &plans[i]);
            let Some(layer) = patch.layers.get(name) else {
                continue;
            };
            let Some(data) = layer.data.as_array::<T>() else {
                continue;
            };
            let data =
                data.view()
                    .into_dimensionality::<Ix2>()
                    .map_err(|e| Error::InvalidPatch {
                        id: patch.id.clone(),
                        reason: format!("variable `{name}` is not 2-D: {e}"),
                    })?;
            let Some(inter) = plan.cube_window.intersection(&chunk_window) else {
                continue;
            };
            let nodata = layer.nodata;
            // Both sides as 2-D views of the intersection, zipped row-major:
            // no per-pixel index arithmetic or bounds checks.
            let (pr, pc) = (
                inter.row - plan.cube_window.row + plan.patch_window.row,
                inter.col - plan.cube_window.col + plan.patch_window.col,
            );
            let (cr, cc) = (inter.row - chunk_window.row, inter.col - chunk_window.col);
            let src = data
                .slice_axis(Axis(0), Slice::from(pr..pr + inter.height))
                .slice_axis_move(Axis(1), Slice::from(pc..pc + inter.width));
            let dst = view
                .view_mut()
                .slice_axis_move(Axis(0), Slice::from(cr..cr + inter.height))
                .slice_axis_move(Axis(1), Slice::from(cc..cc + inter.width));
            ndarray::Zip::from(dst).and(src).for_each(|old, &new| {
                let invalid = new.is_fill() || nodata.is_some_and(|n| new.is_nodata(n));
                if !invalid || old.is_fill() {
                    *old = new;
                }
            });
        }
    }
    let chunk = chunk.into_shape_with_order(full_shape).map_err(bad_shape)?;
    array.store_chunk(&idx, &chunk).map_err(zarr_err)?;
    let chunk = chunk.into_shape_with_order((ch, cw)).map_err(bad_shape)?;
    source.keep(array, &idx, Arc::new(chunk));
    Ok(())
}

/// Read `window` (and time indices) of one variable; fill where never written.
///
/// Each touched chunk is read as one full-width band of its rows: in C order
/// that is a single contiguous byte range. For blosc chunks (every codec but
/// plain `zstd`) we fetch the encoded chunk and decompress only the blosc
/// blocks the band spans, one block per task in parallel: zarrs' own blosc
/// partial decoder sits behind a whole-chunk cache in its codec chain, so a
/// 10-row read decompressed the entire chunk on one thread. Other codecs go
/// through zarrs' `retrieve_chunk_subset`. Chunks are read in parallel and
/// each band is copied into the result once.
#[allow(clippy::cast_possible_truncation)]
fn read_region<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    source: &ChunkSource<'_>,
    w: Window,
    time: Option<&[usize]>,
    chunk_shape: (usize, usize),
) -> Result<ArrayD<T>> {
    let (ch, cw) = chunk_shape;
    let steps: Vec<Option<usize>> = match time {
        None => vec![None],
        Some(steps) => steps.iter().map(|t| Some(*t)).collect(),
    };
    let mut tasks = vec![];
    for (k, t) in steps.iter().enumerate() {
        for cy in w.row / ch..=(w.row + w.height - 1) / ch {
            for cx in w.col / cw..=(w.col + w.width - 1) / cw {
                tasks.push((k, *t, cy, cx));
            }
        }
    }
    let blosc = is_plain_blosc(array);
    let bands = tasks
        .par_iter()
        .map(|&(k, t, cy, cx)| {
            let chunk_window = Window {
                row: cy * ch,
                col: cx * cw,
                height: ch,
                width: cw,
            };
            let inter = w
                .intersection(&chunk_window)
                .ok_or_else(|| Error::Zarr("chunk outside the window".into()))?;
            let r0 = inter.row - chunk_window.row;
            let r1 = r0 + inter.height;
            let mut idx = vec![cy as u64, cx as u64];
            if let Some(t) = t {
                idx.insert(0, t as u64);
            }
            if let Some(chunk) = source.cached::<T>(array, &idx) {
                return Ok((k, inter, chunk_window, Band::Cached(chunk, r0)));
            }
            let band = if blosc {
                read_band_blosc::<T>(array, &idx, r0..r1, cw)?
            } else {
                read_band_zarrs::<T>(array, &idx, r0..r1, cw, t.is_some())?
            };
            let band = match band {
                // A whole chunk decoded: keep it for the next read.
                Some(b) if r0 == 0 && r1 == ch => {
                    let b = Arc::new(b);
                    source.keep(array, &idx, Arc::clone(&b));
                    Band::Cached(b, 0)
                }
                Some(b) => Band::Decoded(b),
                None => Band::Unwritten,
            };
            Ok((k, inter, chunk_window, band))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = match time {
        None => ArrayD::from_elem(IxDyn(&[w.height, w.width]), T::fill()),
        Some(_) => ArrayD::from_elem(IxDyn(&[steps.len(), w.height, w.width]), T::fill()),
    };
    for (k, inter, chunk_window, band) in bands {
        let (c0, c1) = (
            inter.col - chunk_window.col,
            inter.col - chunk_window.col + inter.width,
        );
        let (dr, dc) = (inter.row - w.row, inter.col - w.col);
        let mut dest = if time.is_some() {
            out.index_axis_mut(Axis(0), k)
        } else {
            out.view_mut()
        };
        let mut dest = dest
            .slice_axis_mut(Axis(0), Slice::from(dr..dr + inter.height))
            .slice_axis_move(Axis(1), Slice::from(dc..dc + inter.width));
        let mut rows = |b: &Array2<T>, r0: usize| {
            dest.assign(
                &b.slice_axis(Axis(0), Slice::from(r0..r0 + inter.height))
                    .slice_axis_move(Axis(1), Slice::from(c0..c1)),
            );
        };
        match band {
            Band::Cached(chunk, r0) => rows(&chunk, r0),
            Band::Decoded(band) => rows(&band, 0),
            Band::Unwritten => dest.fill(T::fill()),
        }
    }
    Ok(out)
}

/// The rows of one chunk a read needs.
enum Band<T> {
    /// A whole decoded chunk (cached), and the first row needed.
    Cached(Arc<Array2<T>>, usize),
    /// Just the rows needed.
    Decoded(Array2<T>),
    /// A chunk never written: fill.
    Unwritten,
}

/// Whether the array's codecs are exactly `bytes` (little endian or
/// single-byte) then `blosc`, with no storage transformer: then a chunk's
/// decoded bytes are the element bytes in C order, and blosc can decompress
/// any byte range of them on its own.
fn is_plain_blosc(array: &Array<IcechunkSyncStore>) -> bool {
    if cfg!(target_endian = "big") {
        return false;
    }
    let Ok(meta) = serde_json::to_value(array.metadata()) else {
        return false;
    };
    let names: Vec<&str> = meta
        .get("codecs")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let endian_ok = meta
        .pointer("/codecs/0/configuration/endian")
        .and_then(Value::as_str)
        .is_none_or(|e| e == "little");
    let transformers = meta
        .get("storage_transformers")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    names == ["bytes", "blosc"] && endian_ok && !transformers
}

/// Rows `rows` (all `cw` columns) of one chunk through zarrs; `None` for an
/// unwritten chunk.
#[allow(clippy::cast_possible_truncation)]
fn read_band_zarrs<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    idx: &[u64],
    rows: std::ops::Range<usize>,
    cw: usize,
    temporal: bool,
) -> Result<Option<ndarray::Array2<T>>> {
    use zarrs::array::ArraySubset;
    let mut ranges = vec![rows.start as u64..rows.end as u64, 0..cw as u64];
    if temporal {
        ranges.insert(0, 0..1);
    }
    let band = array
        .retrieve_chunk_subset::<ArrayD<T>>(idx, &ArraySubset::new_with_ranges(&ranges))
        .map_err(zarr_err)?;
    let band = band
        .into_shape_with_order((rows.len(), cw))
        .map_err(|e| Error::Zarr(format!("unexpected band shape: {e}")))?;
    Ok(Some(band))
}

/// Rows `rows` (all `cw` columns) of one blosc chunk: fetch the encoded
/// chunk and decompress only the blosc blocks that hold those rows, in
/// parallel. `None` for an unwritten chunk.
fn read_band_blosc<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    idx: &[u64],
    rows: std::ops::Range<usize>,
    cw: usize,
) -> Result<Option<ndarray::Array2<T>>> {
    use zarrs::array::ArrayBytes;
    use zarrs::array::codec::bytes_to_bytes::blosc::{
        blosc_decompress_bytes_partial, blosc_typesize, blosc_validate,
    };
    let Some(encoded) = array.retrieve_encoded_chunk(idx).map_err(zarr_err)? else {
        return Ok(None);
    };
    let size = T::DTYPE.size();
    let shape: Vec<u64> = array
        .chunk_shape(idx)
        .map_err(zarr_err)?
        .iter()
        .map(|n| n.get())
        .collect();
    let chunk_elems: u64 = shape.iter().product();
    let invalid = |what: &str| Error::Zarr(format!("chunk {idx:?}: {what}"));
    // Rows of a band are contiguous only with one step per chunk on the
    // leading (time) axis, as geocube and smart-geocubes write cubes.
    let leading_ones = shape.len() >= 2 && shape[..shape.len() - 2].iter().all(|d| *d == 1);
    if !leading_ones || shape.last().copied() != u64::try_from(cw).ok() {
        return Err(invalid("unexpected chunk shape for a row band"));
    }
    let nbytes = blosc_validate(&encoded).ok_or_else(|| invalid("invalid blosc buffer"))?;
    if u64::try_from(nbytes).ok() != chunk_elems.checked_mul(size as u64) {
        return Err(invalid("blosc size does not match the chunk shape"));
    }
    let typesize = blosc_typesize(&encoded).ok_or_else(|| invalid("no blosc typesize"))?;
    // blosc header: bytes 8..12 hold the block size (validated above).
    let blocksize = encoded
        .get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize);
    let (start, end) = (rows.start * cw * size, rows.end * cw * size);
    if blocksize == 0 || blocksize % typesize != 0 || start % typesize != 0 || end > nbytes {
        return Err(invalid("unexpected blosc block layout"));
    }
    let n = rows.len() * cw;
    let decompress = |out: &mut [u8]| -> Result<()> {
        // One task per blosc block the byte range spans, each writing its
        // own slice of `out`.
        let mut slots = vec![];
        let (mut at, mut rest) = (start, out);
        while at < end {
            let next = ((at / blocksize + 1) * blocksize).min(end);
            let (head, tail) = rest.split_at_mut(next - at);
            slots.push((at, head));
            (at, rest) = (next, tail);
        }
        slots.into_par_iter().try_for_each(|(at, slot)| {
            let piece = blosc_decompress_bytes_partial(&encoded, at, slot.len(), typesize)
                .map_err(zarr_err)?;
            if piece.len() != slot.len() {
                return Err(invalid("short blosc block"));
            }
            slot.copy_from_slice(&piece);
            Ok(())
        })
    };
    let mut values = vec![T::fill(); n];
    if let Some(out) = T::as_bytes_mut(&mut values) {
        // Little-endian element bytes land in the typed buffer as they are
        // (is_plain_blosc rules out big-endian hosts): no conversion copy.
        decompress(out)?;
    } else {
        let mut bytes = vec![0u8; end - start];
        decompress(&mut bytes)?;
        values = T::from_array_bytes(array.data_type(), ArrayBytes::new_flen(bytes))
            .map_err(zarr_err)?;
    }
    ndarray::Array2::from_shape_vec((rows.len(), cw), values)
        .map(Some)
        .map_err(|e| Error::Zarr(format!("unexpected band shape: {e}")))
}

fn read_layout(repo: &Repository) -> Result<CubeLayout> {
    let not_a_cube = |reason: String| Error::NotACube {
        location: String::new(),
        reason,
    };
    let session =
        block_on(repo.readonly_session(&VersionInfo::BranchTipRef(BRANCH.into())))?.map_err(ic)?;
    let (_, store) = session_store(session, None)?;
    let root = read_json(&store, "zarr.json")?.ok_or_else(|| not_a_cube("no root group".into()))?;
    if root.pointer("/attributes/loaded_patches").is_none() {
        return Err(not_a_cube(
            "the root group has no `loaded_patches` attribute".into(),
        ));
    }
    let title = root
        .pointer("/attributes/title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let listing = store
        .list_dir(&zarrs::storage::StorePrefix::root())
        .map_err(zarr_err)?;
    let mut metas: BTreeMap<String, ArrayMeta> = BTreeMap::new();
    for prefix in listing.prefixes() {
        let name = prefix.as_str().trim_end_matches('/').to_owned();
        if let Some(meta) = read_json(&store, &meta_key(&name))?
            .as_ref()
            .and_then(parse_array_meta)
        {
            metas.insert(name, meta);
        }
    }
    let coord = |name: &str| {
        metas
            .get(name)
            .ok_or_else(|| not_a_cube(format!("no `{name}` coordinate")))
    };
    let (xm, ym) = (coord("x")?, coord("y")?);
    let read_f64 = |name: &str| -> Result<Vec<f64>> {
        let a = Array::open(Arc::clone(&store), &format!("/{name}")).map_err(zarr_err)?;
        let subset = a.subset_all();
        a.retrieve_array_subset::<Vec<f64>>(&subset)
            .map_err(zarr_err)
    };
    let xs = read_f64("x")?;
    let ys = read_f64("y")?;
    let crs_str = xm
        .attributes
        .get("crs")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let crs = match crs_str {
        Some(s) => s.parse::<Crs>()?,
        None => {
            let wkt = metas
                .get("spatial_ref")
                .and_then(|m| {
                    m.attributes
                        .get("crs_wkt")
                        .or_else(|| m.attributes.get("spatial_ref"))
                })
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    not_a_cube("no CRS: neither x.attrs.crs nor spatial_ref.crs_wkt".into())
                })?;
            let code = epsg_from_wkt(wkt)
                .ok_or_else(|| not_a_cube("the CRS WKT carries no EPSG code".into()))?;
            Crs::from_epsg(code)?
        }
    };
    let geobox = geobox_from_coords(&xs, &ys, &xm.attributes, &ym.attributes, crs)?;
    let time = match metas.get("time") {
        Some(tm) => {
            let a = Array::open(Arc::clone(&store), "/time").map_err(zarr_err)?;
            let values: Vec<i64> = a
                .retrieve_array_subset::<Vec<i64>>(&a.subset_all())
                .map_err(zarr_err)?;
            let units = tm
                .attributes
                .get("units")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(decode_time(&values, units)?)
        }
        None => None,
    };
    let (ny, nx) = geobox.shape();
    let mut variables = vec![];
    let mut chunk_shape = None;
    for (name, m) in &metas {
        if ["x", "y", "time", "spatial_ref"].contains(&name.as_str()) {
            continue;
        }
        let spatial = match (m.dims.as_slice(), time.as_ref()) {
            ([y, x], None) if y == "y" && x == "x" => m.shape == [ny, nx],
            ([t, y, x], Some(axis)) if t == "time" && y == "y" && x == "x" => {
                m.shape == [axis.len(), ny, nx]
            }
            _ => false,
        };
        if !spatial {
            continue;
        }
        let dtype = DType::from_zarr_name(&m.data_type)?;
        let cs = &m.chunk_shape;
        let this = (cs[cs.len() - 2], cs[cs.len() - 1]);
        if chunk_shape.is_some_and(|c| c != this) {
            return Err(not_a_cube(format!(
                "variable `{name}` is chunked differently from the others"
            )));
        }
        chunk_shape = Some(this);
        variables.push(VariableLayout {
            name: name.clone(),
            dtype,
            attributes: m.attributes.clone(),
        });
    }
    let chunk_shape =
        chunk_shape.ok_or_else(|| not_a_cube("no data variables on (y, x)".into()))?;
    Ok(CubeLayout {
        title,
        geobox,
        time,
        chunk_shape,
        variables,
    })
}
