//! Which chunks a cube holds: the chunk objects written at the branch tip,
//! listed from the repository (not inferred from `loaded_patches`), for
//! consistency checks such as `geocube verify`.

use std::collections::BTreeSet;

use zarrs::storage::{ListableStorageTraits, StorePrefix};

use super::store::IcechunkSyncStore;
use super::{Cube, CubeLayout};
use crate::{Error, Result};

/// One chunk of one data variable: `(time index, chunk row, chunk column)`
/// in the chunk grid (`time` is `None` on a spatial cube).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkAddr {
    /// The data variable.
    pub variable: String,
    /// Time index, for temporal cubes.
    pub time: Option<usize>,
    /// Chunk row.
    pub row: usize,
    /// Chunk column.
    pub col: usize,
}

impl Cube {
    /// Every chunk of every data variable written at the branch tip.
    ///
    /// Chunk keys are read in Zarr v3's default encoding (`<var>/c/<i>/<j>`,
    /// `<var>/c/<t>/<i>/<j>` for temporal cubes), which both geocube and
    /// zarr-python (smart-geocubes) write.
    ///
    /// # Errors
    /// Storage errors; [`Error::CorruptChunk`] for a key under a variable's
    /// chunk prefix that is not a chunk index of the cube's grid.
    pub fn written_chunks(&self) -> Result<BTreeSet<ChunkAddr>> {
        chunks_in(&*self.readonly_store()?, &self.layout)
    }
}

/// Every chunk of every data variable of `layout` that the session behind
/// `store` holds (see [`Cube::written_chunks`]): also used inside a write
/// transaction, where the session is the writable one.
pub(super) fn chunks_in(
    store: &IcechunkSyncStore,
    layout: &CubeLayout,
) -> Result<BTreeSet<ChunkAddr>> {
    let temporal = layout.time.is_some();
    let mut out = BTreeSet::new();
    for v in &layout.variables {
        // Icechunk lists only under a node (an array or group) prefix.
        let node = format!("{}/", v.name);
        let prefix = format!("{node}c/");
        let keys = store
            .list_prefix(&StorePrefix::new(node).map_err(Error::zarr)?)
            .map_err(Error::zarr)?;
        for key in keys {
            let Some(rest) = key.as_str().strip_prefix(&prefix) else {
                continue; // zarr.json
            };
            let idx: Option<Vec<usize>> = rest.split('/').map(|p| p.parse().ok()).collect();
            let bad = |reason: &str| Error::CorruptChunk {
                array: v.name.clone(),
                chunk: rest.to_owned(),
                reason: reason.to_owned(),
            };
            let addr = match (idx.as_deref(), temporal) {
                (Some(&[t, row, col]), true) => ChunkAddr {
                    variable: v.name.clone(),
                    time: Some(t),
                    row,
                    col,
                },
                (Some(&[row, col]), false) => ChunkAddr {
                    variable: v.name.clone(),
                    time: None,
                    row,
                    col,
                },
                _ => return Err(bad("not a chunk key of the cube's grid")),
            };
            out.insert(addr);
        }
    }
    Ok(out)
}

impl ChunkAddr {
    /// The chunk's index in its array's chunk grid: `[time, row, col]` on a
    /// temporal cube, `[row, col]` on a spatial one.
    pub(super) fn grid_indices(&self) -> Vec<u64> {
        let mut idx: Vec<usize> = self.time.into_iter().collect();
        idx.extend([self.row, self.col]);
        super::u64s(&idx)
    }
}
