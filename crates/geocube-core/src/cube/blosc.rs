//! Partial blosc decoding for warm reads: decompress only the blosc blocks
//! that hold the rows a window needs, straight into typed buffers.
//!
//! zarrs has a blosc partial decoder, but in its codec chain it sits behind
//! a whole-chunk cache, so a 10-row read decompressed the entire chunk on
//! one thread. We use zarrs' blosc primitives directly instead.

use rayon::prelude::*;
use serde_json::Value;
use zarrs::array::Array;

use super::corrupt_chunk;
use super::store::IcechunkSyncStore;
use crate::dataset::CubeElement;
use crate::{Error, Result};

/// Whether the array's codecs are exactly `bytes` (little endian or
/// single-byte) then `blosc`, with no storage transformer: then a chunk's
/// decoded bytes are the element bytes in C order, and blosc can decompress
/// any byte range of them on its own.
pub(super) fn is_plain_blosc(array: &Array<IcechunkSyncStore>) -> bool {
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

/// Rows `rows` (all `cw` columns) of one blosc chunk: fetch the encoded
/// chunk and decompress only the blosc blocks that hold those rows, in
/// parallel. `None` for an unwritten chunk.
pub(super) fn read_band_blosc<T: CubeElement>(
    array: &Array<IcechunkSyncStore>,
    idx: &[u64],
    rows: std::ops::Range<usize>,
    cw: usize,
) -> Result<Option<ndarray::Array2<T>>> {
    use zarrs::array::ArrayBytes;
    use zarrs::array::codec::bytes_to_bytes::blosc::{
        blosc_decompress_bytes_partial, blosc_typesize, blosc_validate,
    };
    let Some(encoded) = array.retrieve_encoded_chunk(idx).map_err(Error::zarr)? else {
        return Ok(None);
    };
    let size = T::DTYPE.size();
    let shape: Vec<u64> = array
        .chunk_shape(idx)
        .map_err(Error::zarr)?
        .iter()
        .map(|n| n.get())
        .collect();
    let chunk_elems: u64 = shape.iter().product();
    let invalid = |what: &str| corrupt_chunk(array, idx, what);
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
                .map_err(Error::zarr)?;
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
            .map_err(Error::zarr)?;
    }
    ndarray::Array2::from_shape_vec((rows.len(), cw), values)
        .map(Some)
        .map_err(|e| corrupt_chunk(array, idx, format!("unexpected band shape: {e}")))
}
