//! Taking patches back out of a cube, for `geocube repair`: ids dropped from
//! `loaded_patches` and chunks erased, in one commit, so that a later load
//! downloads the patches again.

use std::collections::HashSet;

use zarrs::storage::WritableStorageTraits;

use super::store::key;
use super::{ChunkAddr, Cube};
use crate::{Error, Result};

/// What [`Cube::forget`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForgetOutcome {
    /// Ids removed from `loaded_patches` (those that were there).
    pub forgotten: Vec<String>,
    /// Chunks erased.
    pub erased: usize,
    /// The new snapshot, if a commit was made.
    pub snapshot: Option<String>,
}

impl Cube {
    /// Drop `ids` from `loaded_patches` and erase the chunks `erase`, in one
    /// commit (none when there is nothing to do). Pixels of forgotten ids
    /// stay until a new load of the patch overwrites them: forgetting only
    /// makes the cube download the patch again.
    ///
    /// # Errors
    /// As [`Cube::write_patches`]: [`Error::Conflict`] on a lost race
    /// (nothing changed), storage errors.
    pub fn forget(&self, ids: &[String], erase: &[ChunkAddr]) -> Result<ForgetOutcome> {
        let super::write::Transaction {
            _lock,
            store,
            sync,
            loaded,
        } = self.begin()?;
        let drop: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let (forgotten, kept): (Vec<&str>, Vec<&str>) =
            loaded.ids().partition(|id| drop.contains(id));
        let mut outcome = ForgetOutcome {
            forgotten: forgotten.into_iter().map(str::to_owned).collect(),
            ..ForgetOutcome::default()
        };
        for c in erase {
            let mut path = format!("{}/c/", c.variable);
            if let Some(t) = c.time {
                path.push_str(&format!("{t}/"));
            }
            path.push_str(&format!("{}/{}", c.row, c.col));
            sync.erase(&key(&path)?).map_err(Error::zarr)?;
            outcome.erased += 1;
        }
        if outcome.forgotten.is_empty() && outcome.erased == 0 {
            return Ok(outcome);
        }
        let message = format!(
            "Forget patches {} and erase {} chunk(s)",
            outcome.forgotten.join(", "),
            outcome.erased
        );
        outcome.snapshot = Some(self.commit_replaced(&store, &loaded, &kept, &message)?);
        Ok(outcome)
    }
}
