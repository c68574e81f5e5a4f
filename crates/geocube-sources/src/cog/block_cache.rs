//! The read cache between a [`ByteSource`] and the TIFF decoder: a
//! `Read + Seek` view of the file that serves prefetched tile ranges first
//! and fetches fixed-size blocks (headers, directories) on demand.
//!
//! The blocks are a [`BlockCache`] that every [`Cog`](super::Cog) opened on
//! one file shares (the full-resolution image and its overviews): opening
//! an overview of a COG reads directories the first open fetched already,
//! and costs no request. The prefetched tile ranges stay each reader's own.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, PoisonError};

use super::byte_source::ByteSource;
use crate::error::{Error, Result};
use crate::http::RangeBytes;

/// Blocks kept in the read cache.
const CACHE_BLOCKS: usize = 8;
/// Byte ranges of tiles closer than this are fetched in one request.
const COALESCE_GAP: u64 = 64 << 10;
/// Largest coalesced request.
const MAX_REQUEST: u64 = 16 << 20;

/// The fixed-size blocks of one file read so far (at most
/// [`CACHE_BLOCKS`]), shared by the readers of that file.
pub(super) struct BlockCache {
    src: Arc<dyn ByteSource>,
    block_size: u64,
    /// Most recently used last. Never held locked across a request.
    blocks: Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
}

impl BlockCache {
    fn cached(&self, index: u64) -> Option<Arc<Vec<u8>>> {
        let mut blocks = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        let i = blocks.iter().position(|(b, _)| *b == index)?;
        let entry = blocks.remove(i);
        let data = Arc::clone(&entry.1);
        blocks.push(entry);
        Some(data)
    }

    fn insert(&self, index: u64, data: Arc<Vec<u8>>) {
        let mut blocks = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        // Another reader of the file may have fetched it meanwhile.
        blocks.retain(|(b, _)| *b != index);
        if blocks.len() >= CACHE_BLOCKS {
            blocks.remove(0);
        }
        blocks.push((index, data));
    }
}

/// `Read + Seek` over a [`ByteSource`]: prefetched segments first, then a
/// small cache of fixed-size blocks fetched on demand. The source's typed
/// error is kept so the caller can report it instead of the `io::Error` the
/// decoder saw.
pub(super) struct CachedReader {
    cache: Arc<BlockCache>,
    pos: u64,
    pub(super) total: Option<u64>,
    segments: BTreeMap<u64, Vec<u8>>,
    /// Shared with the [`Cog`] so it survives the decoder.
    error: ErrorSlot,
}

/// The last typed error a [`CachedReader`] met.
#[derive(Clone, Default)]
pub(super) struct ErrorSlot(Arc<Mutex<Option<Error>>>);

impl ErrorSlot {
    pub(super) fn set(&self, e: Error) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
    }

    pub(super) fn take(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl CachedReader {
    /// A reader of `src` with a cache of its own.
    pub(super) fn new(src: Arc<dyn ByteSource>, block_size: u64, error: ErrorSlot) -> Self {
        let cache = BlockCache {
            src,
            block_size: block_size.max(4096),
            blocks: Mutex::new(Vec::new()),
        };
        Self::sharing(Arc::new(cache), None, error)
    }

    /// A reader of the file `cache` holds blocks of, at the start, whose
    /// size is `total` if known.
    pub(super) fn sharing(cache: Arc<BlockCache>, total: Option<u64>, error: ErrorSlot) -> Self {
        Self {
            cache,
            pos: 0,
            total,
            segments: BTreeMap::new(),
            error,
        }
    }

    /// The block cache, for another reader of the same file.
    pub(super) fn cache(&self) -> &Arc<BlockCache> {
        &self.cache
    }

    fn fail(&mut self, e: Error) -> io::Error {
        let err = io::Error::other(e.to_string());
        self.error.set(e);
        err
    }

    fn note_total(&mut self, start: u64, got: &RangeBytes, asked: u64) {
        if let Some(t) = got.total {
            self.total = Some(t);
        } else if (got.bytes.len() as u64) < asked {
            self.total = Some(start + got.bytes.len() as u64);
        }
    }

    fn block(&mut self, index: u64) -> io::Result<Arc<Vec<u8>>> {
        let block_size = self.cache.block_size;
        if let Some(data) = self.cache.cached(index) {
            // A block shorter than asked ends the file (the reader that
            // fetched it learned so; this one may not have).
            if self.total.is_none() && (data.len() as u64) < block_size {
                self.total = Some(index * block_size + data.len() as u64);
            }
            return Ok(data);
        }
        let start = index * block_size;
        let got = match self.cache.src.read_range(start, block_size) {
            Ok(g) => g,
            Err(e) => return Err(self.fail(e)),
        };
        self.note_total(start, &got, block_size);
        let data = Arc::new(got.bytes);
        self.cache.insert(index, Arc::clone(&data));
        Ok(data)
    }

    /// Fetch `ranges` (start, len) into segments, merging close neighbours,
    /// in place of the segments of the previous window: those are decoded
    /// already, and a streamed tile reads all its windows through one
    /// reader, which would otherwise end up holding the whole compressed
    /// file (hundreds of MB for an ArcticDEM 2 m tile).
    pub(super) fn prefetch(&mut self, mut ranges: Vec<(u64, u64)>) -> Result<()> {
        self.segments.clear();
        ranges.retain(|r| r.1 > 0);
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, l) in ranges {
            let end = s.saturating_add(l);
            match merged.last_mut() {
                Some((ms, me))
                    if s <= me.saturating_add(COALESCE_GAP)
                        && end.max(*me) - *ms <= MAX_REQUEST =>
                {
                    *me = end.max(*me);
                }
                _ => merged.push((s, end)),
            }
        }
        for (s, e) in merged {
            let got = self.cache.src.read_range(s, e - s)?;
            self.note_total(s, &got, e - s);
            self.segments.insert(s, got.bytes);
        }
        Ok(())
    }
}

impl Read for CachedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.total.is_some_and(|t| self.pos >= t) {
            return Ok(0);
        }
        if let Some((&s, seg)) = self.segments.range(..=self.pos).next_back() {
            let off = usize::try_from(self.pos - s).unwrap_or(usize::MAX);
            if off < seg.len() {
                let n = buf.len().min(seg.len() - off);
                buf[..n].copy_from_slice(&seg[off..off + n]);
                self.pos += n as u64;
                return Ok(n);
            }
        }
        let block_size = self.cache.block_size;
        let index = self.pos / block_size;
        let block = self.block(index)?;
        let off = usize::try_from(self.pos - index * block_size).unwrap_or(usize::MAX);
        if off >= block.len() {
            return Ok(0);
        }
        let n = buf.len().min(block.len() - off);
        buf[..n].copy_from_slice(&block[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for CachedReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => {
                if self.total.is_none() {
                    self.block(0)?;
                }
                match self.total {
                    Some(t) => t.checked_add_signed(d),
                    None => return Err(io::Error::other("the size of the remote file is unknown")),
                }
            }
        };
        self.pos = new.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cog::MemoryByteSource;

    #[test]
    fn a_window_s_segments_replace_the_previous_window_s() {
        let bytes: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        let src = Arc::new(MemoryByteSource::new("mem", bytes.clone()));
        let mut r = CachedReader::new(src, 4096, ErrorSlot::default());
        let held = |r: &CachedReader| r.segments.values().map(Vec::len).sum::<usize>();
        // Windows far apart, one after the other, as a streamed tile reads them.
        for k in 0..4u64 {
            let start = k << 20;
            r.prefetch(vec![(start, 1000), (start + 5000, 1000)])
                .unwrap();
            assert_eq!(held(&r), 6000, "window {k}");
            r.seek(SeekFrom::Start(start + 5000)).unwrap();
            let mut buf = [0u8; 16];
            r.read_exact(&mut buf).unwrap();
            let at = usize::try_from(start + 5000).unwrap();
            assert_eq!(buf[..], bytes[at..at + 16]);
        }
    }
}
