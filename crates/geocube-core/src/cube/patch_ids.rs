//! The ids of `loaded_patches` in memory: in order, with a membership test,
//! compact, and shared between the snapshots of one cube.
//!
//! A cube with one patch per Earth Engine chunk records ~10⁶ ids. Held as a
//! `Vec<String>` beside a `HashSet<String>` that is two million allocations
//! (~140 MB) built anew for every snapshot, though a commit adds a handful.
//! Here the ids live in *segments*: one string holding a run of ids end to
//! end, their end offsets and a hash table of their indices (~26 MB for 10⁶
//! ids like `3-1234-5678`). A segment never changes once built, so the set
//! of a new snapshot is the old one's segments (shared, `Arc`) plus one
//! segment of the new ids. Adjacent segments are merged while the last is
//! more than half the size of the one before it (the sizes of a binary
//! counter): at most log₂ n + 1 segments, each id copied O(log n) times in
//! all, and a membership test hashes once and probes each segment's table.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

/// The most text one segment holds: offsets are `u32`. (Tiny in unit tests,
/// so they split segments too.)
#[cfg(not(test))]
const SEGMENT_BYTES_MAX: usize = u32::MAX as usize;
#[cfg(test)]
const SEGMENT_BYTES_MAX: usize = 40;

/// The ids of one run, end to end in `text`; `table` holds the index of the
/// first occurrence of each distinct id.
#[derive(Default)]
struct Segment {
    text: String,
    ends: Vec<u32>,
    table: HashTable<u32>,
}

impl Segment {
    fn with_capacity(ids: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(ids),
            table: HashTable::with_capacity(ids),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &str {
        id_at(&self.text, &self.ends, i)
    }

    fn contains(&self, hash: u64, id: &str) -> bool {
        self.table
            .find(hash, |&i| id_at(&self.text, &self.ends, i as usize) == id)
            .is_some()
    }

    /// Whether `id` fits (offsets and indices stay `u32`).
    fn fits(&self, id: &str) -> bool {
        self.text.len() + id.len() <= SEGMENT_BYTES_MAX && self.ends.len() < u32::MAX as usize
    }

    /// Append `id` (whose hash is `hash`); the caller checked [`Self::fits`].
    fn push(&mut self, hasher: &DefaultHashBuilder, hash: u64, id: &str) {
        let index = offset(self.ends.len());
        let Self { text, ends, table } = self;
        // One probe: a cold read inserts 10⁶ ids into a table far larger
        // than the caches, and each probe is a cache miss.
        let entry = table.entry(
            hash,
            |&i| id_at(text, ends, i as usize) == id,
            |&i| hasher.hash_one(id_at(text, ends, i as usize)),
        );
        if let hashbrown::hash_table::Entry::Vacant(slot) = entry {
            slot.insert(index);
        }
        text.push_str(id);
        ends.push(offset(text.len()));
    }
}

fn id_at<'t>(text: &'t str, ends: &[u32], i: usize) -> &'t str {
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

/// An offset or index below [`SEGMENT_BYTES_MAX`] (checked by `fits`).
#[allow(clippy::cast_possible_truncation)]
fn offset(v: usize) -> u32 {
    debug_assert!(u32::try_from(v).is_ok());
    v as u32
}

/// Patch ids in the order they were recorded, duplicates kept in the order
/// (as the JSON list holds them) and counted once by [`PatchIds::contains`].
#[derive(Clone, Default)]
pub(crate) struct PatchIds {
    hasher: DefaultHashBuilder,
    segments: Vec<Arc<Segment>>,
    len: usize,
}

impl PatchIds {
    /// The ids of `ids`, in one segment (more past 4 GiB of text).
    pub(crate) fn from_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        Self::default().appended(ids)
    }

    /// These ids followed by `more`. `self` is untouched and shares its
    /// segments with the result.
    #[must_use]
    pub(crate) fn appended<'a>(&self, more: impl IntoIterator<Item = &'a str>) -> Self {
        let more = more.into_iter();
        let mut out = self.appender(more.size_hint().0, 0);
        for id in more {
            out.push(id);
        }
        out.finish()
    }

    /// An [`Appender`] of ids after these, with room for about `ids` ids
    /// of `bytes` bytes in all.
    pub(crate) fn appender(&self, ids: usize, bytes: usize) -> Appender {
        Appender {
            base: self.clone(),
            segment: Segment::with_capacity(ids, bytes.min(SEGMENT_BYTES_MAX)),
        }
    }

    /// Merge the last two segments while the last is more than half the
    /// size of the one before (and the two fit in one).
    fn merge_tail(&mut self) {
        while let [.., a, b] = self.segments.as_slice() {
            let fits = a.text.len() + b.text.len() <= SEGMENT_BYTES_MAX
                && a.len() + b.len() <= u32::MAX as usize;
            if a.len() >= 2 * b.len() || !fits {
                return;
            }
            let (a, b) = (Arc::clone(a), Arc::clone(b));
            let mut merged = Segment {
                text: String::with_capacity(a.text.len() + b.text.len()),
                ends: Vec::with_capacity(a.len() + b.len()),
                // `a`'s table as it is: only `b`'s ids are hashed.
                table: a.table.clone(),
            };
            merged.text.push_str(&a.text);
            merged.ends.extend_from_slice(&a.ends);
            {
                let Segment { text, ends, table } = &mut merged;
                table.reserve(b.table.len(), |&i| {
                    self.hasher.hash_one(id_at(text, ends, i as usize))
                });
            }
            for i in 0..b.len() {
                let id = b.get(i);
                merged.push(&self.hasher, self.hasher.hash_one(id), id);
            }
            self.segments.truncate(self.segments.len() - 2);
            self.segments.push(Arc::new(merged));
        }
    }

    /// Whether `id` is one of the ids.
    pub(crate) fn contains(&self, id: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        self.segments.iter().any(|s| s.contains(hash, id))
    }

    /// Number of ids (duplicates counted).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The ids in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments
            .iter()
            .flat_map(|s| (0..s.len()).map(move |i| s.get(i)))
    }

    /// Number of segments (for tests and the bench's report).
    #[cfg(test)]
    fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// Ids being appended to a [`PatchIds`] one by one (a scan of the JSON list).
pub(crate) struct Appender {
    base: PatchIds,
    segment: Segment,
}

impl Appender {
    /// Append `id`.
    pub(crate) fn push(&mut self, id: &str) {
        if !self.segment.fits(id) && self.segment.len() > 0 {
            let full = std::mem::take(&mut self.segment);
            self.base.segments.push(Arc::new(full));
        }
        let hash = self.base.hasher.hash_one(id);
        self.segment.push(&self.base.hasher, hash, id);
        self.base.len += 1;
    }

    /// The ids with everything pushed.
    pub(crate) fn finish(mut self) -> PatchIds {
        if self.segment.len() > 0 {
            self.base.segments.push(Arc::new(self.segment));
        }
        self.base.merge_tail();
        self.base
    }
}

impl std::fmt::Debug for PatchIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchIds")
            .field("len", &self.len)
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn id() -> impl Strategy<Value = String> {
        // Few distinct short ids (duplicates happen), some unicode, some
        // long enough to split the tests' 40-byte segments on their own.
        prop_oneof!["[a-c]{1,2}", "[0-9]-[0-9]{1,4}", "\\PC{0,6}", "[x]{30,45}",]
    }

    proptest! {
        /// Ids appended in batches, as commits do, agree with a `Vec` for
        /// order and with a `HashSet` for membership, and the segments stay
        /// few.
        #[test]
        fn appended_batches_agree_with_vec_and_hashset(
            batches in prop::collection::vec(prop::collection::vec(id(), 0..12), 0..40),
            probes in prop::collection::vec(id(), 0..20),
        ) {
            let mut ids = PatchIds::default();
            let mut list: Vec<String> = Vec::new();
            let mut snapshots = Vec::new();
            for batch in &batches {
                let next = ids.appended(batch.iter().map(String::as_str));
                list.extend(batch.iter().cloned());
                snapshots.push((ids, list.len() - batch.len()));
                ids = next;
                let set: HashSet<&str> = list.iter().map(String::as_str).collect();
                prop_assert_eq!(ids.len(), list.len());
                prop_assert!(ids.iter().eq(list.iter().map(String::as_str)));
                for p in probes.iter().chain(list.iter()) {
                    prop_assert_eq!(ids.contains(p), set.contains(p.as_str()), "{}", p);
                }
            }
            // Earlier sets are untouched by what was appended after them.
            for (old, n) in &snapshots {
                prop_assert!(old.iter().eq(list[..*n].iter().map(String::as_str)));
            }
            // One id per batch at most 40 bytes: a binary counter's segments,
            // plus the splits the 40-byte cap forces.
            let bytes: usize = list.iter().map(String::len).sum();
            prop_assert!(ids.segment_count() <= 2 * (bytes / SEGMENT_BYTES_MAX + 1) + 8);
        }
    }

    #[test]
    fn one_id_per_commit_keeps_log_segments() {
        let mut ids = PatchIds::from_ids(["a"]);
        for i in 0..1000 {
            ids = ids.appended([format!("{}", i % 10).as_str()]);
        }
        assert_eq!(ids.len(), 1001);
        // 1001 ids of one or two bytes under a 40-byte cap: ~30 full
        // segments, then a binary counter.
        assert!(ids.segment_count() <= 60, "{}", ids.segment_count());
        assert!(ids.contains("a") && ids.contains("9") && !ids.contains("10"));
    }
}
