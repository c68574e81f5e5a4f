//! Decoded chunks kept in memory, keyed by the chunk object they came from.
//!
//! Icechunk never rewrites a chunk object: a new write creates a new object
//! with a fresh random id, and the manifest points at it. A chunk's object id
//! (with its offset and length) therefore names immutable content, and a
//! decoded copy keyed by it can never go stale, whatever commits happen in
//! between. The writer puts each chunk it has just merged and encoded here,
//! so reading back the region a load asked for (and concurrent loads of the
//! same region) costs a copy, not a decode.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ndarray::Array2;
use zarrs::array::Array;

use super::store::IcechunkSyncStore;
use crate::dataset::CubeElement;

/// Default memory budget of a cube's chunk cache: 512 MiB, about 8 ArcticDEM
/// 32 m chunks of both variables (3600² f32 is 52 MB, the bool mask 13 MB):
/// what one load of a few tiles touches.
pub const DEFAULT_CHUNK_CACHE_BYTES: usize = 512 << 20;

struct Entry {
    chunk: Arc<dyn Any + Send + Sync>,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    used: usize,
    clock: u64,
}

/// A least-recently-used map from chunk object identity to a decoded chunk
/// (rows x columns), bounded in bytes.
pub(crate) struct ChunkCache {
    capacity: Mutex<usize>,
    inner: Mutex<Inner>,
}

impl ChunkCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: Mutex::new(capacity),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn capacity(&self) -> usize {
        *self.capacity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Change the budget, evicting down to it.
    pub(crate) fn set_capacity(&self, bytes: usize) {
        *self.capacity.lock().unwrap_or_else(PoisonError::into_inner) = bytes;
        let mut inner = self.inner();
        evict(&mut inner, bytes);
    }

    /// The decoded chunk stored under `id`, if it is there with element type `T`.
    pub(crate) fn get<T: Send + Sync + 'static>(&self, id: &str) -> Option<Arc<Array2<T>>> {
        let mut inner = self.inner();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(id)?;
        entry.last_used = now;
        Arc::clone(&entry.chunk).downcast::<Array2<T>>().ok()
    }

    /// Remove and return the decoded chunk under `id`, if it is there with
    /// element type `T`: for a writer about to replace that chunk object.
    pub(crate) fn take<T: Send + Sync + 'static>(&self, id: &str) -> Option<Arc<Array2<T>>> {
        let mut inner = self.inner();
        if !inner.entries.get(id)?.chunk.is::<Array2<T>>() {
            return None;
        }
        let entry = inner.entries.remove(id)?;
        inner.used -= entry.bytes;
        entry.chunk.downcast::<Array2<T>>().ok()
    }

    /// Keep `chunk` under `id`, evicting the least recently used chunks to
    /// stay within the budget. A chunk larger than the whole budget is not kept.
    pub(crate) fn insert<T: Send + Sync + 'static>(&self, id: String, chunk: Arc<Array2<T>>) {
        let bytes = chunk.len() * std::mem::size_of::<T>();
        let capacity = self.capacity();
        if bytes > capacity {
            return;
        }
        let mut inner = self.inner();
        inner.clock += 1;
        let last_used = inner.clock;
        if let Some(old) = inner.entries.insert(
            id,
            Entry {
                chunk,
                bytes,
                last_used,
            },
        ) {
            inner.used -= old.bytes;
        }
        inner.used += bytes;
        evict(&mut inner, capacity);
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        self.inner().used
    }
}

fn evict(inner: &mut Inner, capacity: usize) {
    while inner.used > capacity {
        let Some(oldest) = inner
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        if let Some(e) = inner.entries.remove(&oldest) {
            inner.used -= e.bytes;
        }
    }
}

/// Where chunks come from: the session's store, and the handle's cache of
/// decoded chunks keyed by chunk object.
pub(super) struct ChunkSource<'a> {
    pub(super) store: &'a IcechunkSyncStore,
    pub(super) cache: &'a ChunkCache,
}

impl ChunkSource<'_> {
    pub(super) fn identity(&self, array: &Array<IcechunkSyncStore>, idx: &[u64]) -> Option<String> {
        if self.cache.capacity() == 0 {
            return None;
        }
        self.store.chunk_identity(array.chunk_key(idx).as_str())
    }

    /// The decoded chunk `idx` (rows x columns) if cached.
    pub(super) fn cached<T: CubeElement>(
        &self,
        array: &Array<IcechunkSyncStore>,
        idx: &[u64],
    ) -> Option<Arc<Array2<T>>> {
        self.identity(array, idx)
            .and_then(|id| self.cache.get::<T>(&id))
    }

    /// The decoded chunk `idx`, removed from the cache: the caller is about
    /// to write a new object for it.
    pub(super) fn take_cached<T: CubeElement>(
        &self,
        array: &Array<IcechunkSyncStore>,
        idx: &[u64],
    ) -> Option<Arc<Array2<T>>> {
        self.identity(array, idx)
            .and_then(|id| self.cache.take::<T>(&id))
    }

    pub(super) fn keep<T: CubeElement>(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(v: f32) -> Arc<Array2<f32>> {
        Arc::new(Array2::from_elem((10, 10), v)) // 400 bytes
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let cache = ChunkCache::new(1000);
        cache.insert("a".into(), chunk(1.0));
        cache.insert("b".into(), chunk(2.0));
        assert!(cache.get::<f32>("a").is_some()); // a is now newer than b
        cache.insert("c".into(), chunk(3.0));
        assert!(cache.get::<f32>("b").is_none());
        assert_eq!(cache.get::<f32>("a").map(|c| c[[0, 0]]), Some(1.0));
        assert_eq!(cache.get::<f32>("c").map(|c| c[[0, 0]]), Some(3.0));
        assert_eq!(cache.used(), 800);
        assert!(cache.take::<u8>("a").is_none(), "wrong type stays");
        assert_eq!(cache.take::<f32>("a").map(|c| c[[0, 0]]), Some(1.0));
        assert!(cache.get::<f32>("a").is_none());
        assert_eq!(cache.used(), 400);
    }

    #[test]
    fn wrong_type_is_a_miss_and_oversized_chunks_are_not_kept() {
        let cache = ChunkCache::new(500);
        cache.insert("a".into(), chunk(1.0));
        assert!(cache.get::<u8>("a").is_none());
        cache.insert("big".into(), Arc::new(Array2::from_elem((30, 30), 0.0f32)));
        assert!(cache.get::<f32>("big").is_none());
        cache.set_capacity(0);
        assert!(cache.get::<f32>("a").is_none());
        assert_eq!(cache.used(), 0);
    }
}
