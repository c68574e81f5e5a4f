//! The cube: an Icechunk repository holding one Zarr v3 group in the
//! smart-geocubes layout, opened through zarrs.
//!
//! Every write is one atomic Icechunk commit that carries the pixels of a
//! batch of patches *and* their ids in the root attribute `loaded_patches`:
//! both or neither.
//!
//! One file per step, `Cube` itself here:
//!
//! | file | what |
//! |---|---|
//! | `storage.rs` | where a cube lives ([`CubeStorage`]) and its format version |
//! | `create.rs` | a new repository and the empty layout's first commit |
//! | `open.rs` | opening a repository and reading its layout back |
//! | `layout.rs` | the smart-geocubes Zarr documents, built and parsed |
//! | `loaded.rs` | the `loaded_patches` attribute, read once per snapshot, carried forward by our commits |
//! | `patch_ids.rs` | the ids in memory: ordered, a compact set shared between snapshots |
//! | `root_doc.rs` | the root `zarr.json` as bytes: the list scanned, new ids spliced in |
//! | `write.rs` | a batch of patches as one commit; patch checks |
//! | `staged.rs` | patches merged into an open session as they arrive, one commit, re-applied on a newer tip |
//! | `merge.rs` | merging patches into a chunk: NaN and nodata never overwrite; the three-way re-merge |
//! | `read.rs` | reading a window, one row band per chunk |
//! | `region.rs` | a lazy region: sub-windows and tiles read on request |
//! | `blosc.rs` | decompressing only the blosc blocks a read needs |
//! | `forget.rs` | taking ids and chunks back out, for `repair` |
//! | `written.rs` | which chunks the branch tip holds (for `verify`) |
//! | `compact.rs` | expiring history, collecting garbage, re-encoding chunks (`geocube compact`) |
//! | `cache.rs` | the decoded-chunk cache, keyed by chunk object |
//! | `store.rs` | the sync zarrs store over an Icechunk session, the I/O runtime |
//! | `s3.rs` | cubes in S3: the location, the probe, claim objects |
//! | `raw.rs` | the store's bytes at one snapshot, for other Zarr readers (zarr-python) |
//! | `lock.rs` | the file lock that serialises commits on local repositories |

mod blosc;
mod cache;
mod compact;
mod create;
mod forget;
mod layout;
mod loaded;
mod lock;
mod merge;
mod open;
mod patch_ids;
mod raw;
mod read;
mod region;
mod root_doc;
mod s3;
mod staged;
mod storage;
mod store;
mod write;
mod written;

use std::fmt;
use std::sync::{Arc, Mutex};

use icechunk::Repository;
use icechunk::format::format_constants::SpecVersionBin;
use icechunk::repository::VersionInfo;
use zarrs::array::Array;

use self::cache::ChunkCache;
pub use self::cache::DEFAULT_CHUNK_CACHE_BYTES;
pub use self::compact::{CompactOptions, CompactReport, DEFAULT_GRACE, Reencoded};
pub use self::create::CreateCube;
pub use self::forget::ForgetOutcome;
pub use self::layout::{
    CubeDocuments, CubeLayout, VariableLayout, array_document, codecs_document,
};
pub use self::loaded::LoadedPatches;
pub use self::raw::{RawRange, SnapshotStore};
pub use self::region::{LazyRegion, Tile, TileWindow, TileWindows, Tiling};
pub use self::s3::{CLAIMS_PREFIX, PatchClaimObject, S3Credentials, S3Location, claim_stem};
pub use self::staged::{DEFAULT_WRITE_BUFFER_BYTES, StagedWrite};
pub use self::storage::{CubeStorage, IcechunkFormat};
use self::store::{IcechunkSyncStore, block_on, session_store};
pub use self::write::WriteOutcome;
pub use self::written::ChunkAddr;

use crate::{Error, Result};

/// The branch every cube lives on.
pub const BRANCH: &str = "main";

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

impl fmt::Debug for Cube {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cube")
            .field("storage", &self.storage)
            .field("title", &self.layout.title)
            .finish()
    }
}

impl Cube {
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
        .map_err(Error::icechunk)
    }

    fn readonly_store(&self) -> Result<Arc<IcechunkSyncStore>> {
        Ok(session_store(self.readonly_session()?, self.storage.local_path())?.1)
    }
}

#[allow(clippy::cast_possible_truncation)]
pub(super) fn u64s(v: &[usize]) -> Vec<u64> {
    v.iter().map(|x| *x as u64).collect()
}

/// A chunk of `array` whose bytes do not decode to what the array says.
pub(super) fn corrupt_chunk(
    array: &Array<IcechunkSyncStore>,
    idx: &[u64],
    reason: impl fmt::Display,
) -> Error {
    Error::CorruptChunk {
        array: array.path().as_str().trim_start_matches('/').to_owned(),
        chunk: format!("{idx:?}"),
        reason: reason.to_string(),
    }
}
