//! The bytes of a COG: compressed blocks, IFDs and GDAL's layout (ghost
//! header, every IFD before the tile data, overviews smallest first, block
//! leaders and trailers), and the plain layout of a tiled TIFF whose blocks
//! share bytes.

use std::io::Write;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::sample::Sample;
use tiff::tags::{Tag, Type};

/// Compresses every block of a `width × height` level, row-major, edge
/// blocks padded with `fill`.
pub(crate) fn encode_blocks<T: Sample>(
    data: &[T],
    width: u32,
    height: u32,
    block: u32,
    fill: T,
) -> Vec<Vec<u8>> {
    let bx = width.div_ceil(block) as usize;
    let by = height.div_ceil(block) as usize;
    let b = block as usize;
    let (w, h) = (width as usize, height as usize);
    (0..bx * by)
        .into_par_iter()
        .map(|i| {
            let (r0, c0) = (i / bx * b, i % bx * b);
            let n = b.min(w - c0);
            let rows = (r0..h.min(r0 + b)).map(|r| &data[r * w + c0..r * w + c0 + n]);
            compress_block(rows, block, fill)
        })
        .collect()
}

/// Compresses one `block × block` tile from its image rows (at most
/// `block`, each at most `block` samples), padded with `fill` to the right
/// and below.
pub(crate) fn compress_block<'a, T: Sample>(
    rows: impl Iterator<Item = &'a [T]>,
    block: u32,
    fill: T,
) -> Vec<u8> {
    let b = block as usize;
    let sample_bytes = usize::from(T::TYPE.bits_per_sample() / 8);
    let mut raw = Vec::with_capacity(b * b * sample_bytes);
    let mut row = vec![fill; b];
    let mut done = 0;
    for image_row in rows.take(b) {
        row.fill(fill);
        let n = image_row.len().min(b);
        row[..n].copy_from_slice(&image_row[..n]);
        T::predict_row(&row, &mut raw);
        done += 1;
    }
    row.fill(fill);
    for _ in done..b {
        T::predict_row(&row, &mut raw);
    }
    // miniz_oxide directly, not through flate2: flate2's backend is
    // chosen by cargo feature unification, and another backend would
    // change the output bytes (the testkit's fixtures are pinned).
    miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6)
}

/// One IFD entry before layout: tag, type, count and the value bytes.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    bytes: Vec<u8>,
}

impl Entry {
    fn new(tag: Tag, typ: Type, count: usize, bytes: Vec<u8>) -> Self {
        Self {
            tag: tag.to_u16(),
            typ: typ.to_u16(),
            count: u32::try_from(count).unwrap_or(u32::MAX),
            bytes,
        }
    }

    pub(crate) fn shorts(tag: Tag, v: &[u16]) -> Self {
        Self::new(
            tag,
            Type::SHORT,
            v.len(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    pub(crate) fn longs(tag: Tag, v: &[u32]) -> Self {
        Self::new(
            tag,
            Type::LONG,
            v.len(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    /// BigTIFF's 8-byte unsigned integers (`LONG8`).
    pub(crate) fn long8s(tag: Tag, v: &[u64]) -> Self {
        Self::new(
            tag,
            Type::LONG8,
            v.len(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    pub(crate) fn doubles(tag: Tag, v: &[f64]) -> Self {
        Self::new(
            tag,
            Type::DOUBLE,
            v.len(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    /// A NUL-terminated ASCII value (the caller checked that `s` is ASCII
    /// without NUL).
    pub(crate) fn ascii(tag: Tag, s: &str) -> Self {
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        Self::new(tag, Type::ASCII, bytes.len(), bytes)
    }

    pub(crate) fn tag(&self) -> u16 {
        self.tag
    }
}

/// The two TIFF file formats: classic (32-bit offsets, files up to 4 GiB)
/// and BigTIFF (64-bit offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TiffFormat {
    /// Classic TIFF: read by every TIFF reader, at most 4 GiB.
    Classic,
    /// BigTIFF: 64-bit offsets for larger files (GDAL, libtiff 4 and the
    /// `tiff` crate read it).
    BigTiff,
}

impl TiffFormat {
    /// Bytes of an IFD's entry count, of one entry and of the next-IFD
    /// offset; the largest value stored inline in an entry.
    const fn sizes(self) -> (usize, usize, usize, usize) {
        match self {
            TiffFormat::Classic => (2, 12, 4, 4),
            TiffFormat::BigTiff => (8, 20, 8, 8),
        }
    }
}

/// Size of an IFD and its out-of-line values, each value word-aligned.
pub(crate) fn ifd_size(entries: &[Entry], format: TiffFormat) -> u64 {
    let (count, entry, next, inline) = format.sizes();
    let fixed = count + entry * entries.len() + next;
    let values: usize = entries
        .iter()
        .filter(|e| e.bytes.len() > inline)
        .map(|e| e.bytes.len().next_multiple_of(2))
        .sum();
    (fixed + values) as u64
}

/// Appends the classic IFD at `out.len()`, its values right after it.
/// Offsets fit in u32: [`assemble`] checked the file size first.
fn write_ifd(out: &mut Vec<u8>, entries: &[Entry], next_ifd: u32) {
    let ifd = ifd_bytes(
        entries,
        out.len() as u64,
        u64::from(next_ifd),
        TiffFormat::Classic,
    );
    out.extend_from_slice(&ifd);
}

/// The bytes of an IFD that starts at file offset `at`, its values right
/// after it. In a classic TIFF the caller checked that every offset fits
/// in u32.
pub(crate) fn ifd_bytes(entries: &[Entry], at: u64, next_ifd: u64, format: TiffFormat) -> Vec<u8> {
    let (count, entry, next, inline) = format.sizes();
    let big = format == TiffFormat::BigTiff;
    let values_start = at + (count + entry * entries.len() + next) as u64;
    let mut out = Vec::with_capacity(usize::try_from(ifd_size(entries, format)).unwrap_or(0));
    let mut values = Vec::new();
    let n = entries.len() as u64;
    if big {
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_le_bytes());
    }
    for e in entries {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.typ.to_le_bytes());
        if big {
            out.extend_from_slice(&u64::from(e.count).to_le_bytes());
        } else {
            out.extend_from_slice(&e.count.to_le_bytes());
        }
        if e.bytes.len() <= inline {
            let mut field = vec![0u8; inline];
            field[..e.bytes.len()].copy_from_slice(&e.bytes);
            out.extend_from_slice(&field);
        } else {
            let value_pos = values_start + values.len() as u64;
            if big {
                out.extend_from_slice(&value_pos.to_le_bytes());
            } else {
                out.extend_from_slice(&u32::try_from(value_pos).unwrap_or(u32::MAX).to_le_bytes());
            }
            values.extend_from_slice(&e.bytes);
            if e.bytes.len() % 2 == 1 {
                values.push(0);
            }
        }
    }
    if big {
        out.extend_from_slice(&next_ifd.to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(next_ifd).unwrap_or(u32::MAX).to_le_bytes());
    }
    out.extend_from_slice(&values);
    out
}

/// GDAL's structural metadata ("ghost area") announcing the COG layout.
fn ghost_area() -> Vec<u8> {
    let body = "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n\
                BLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n ";
    format!(
        "GDAL_STRUCTURAL_METADATA_SIZE={:06} bytes\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A laid-out COG: the header (TIFF header, ghost area, every IFD) and the
/// compressed blocks per level, full resolution first.
pub(crate) struct Cog {
    header: Vec<u8>,
    blocks: Vec<Vec<Vec<u8>>>,
    len: u64,
}

impl Cog {
    /// Size of the file in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Writes the file: header, then the blocks of the smallest overview
    /// first, each framed by a 4-byte size leader and a copy of its last
    /// 4 bytes.
    pub(crate) fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.header)?;
        for level_blocks in self.blocks.iter().rev() {
            for b in level_blocks {
                out.write_all(&u32::try_from(b.len()).unwrap_or(0).to_le_bytes())?;
                out.write_all(b)?;
                out.write_all(&b[b.len().saturating_sub(4)..])?;
            }
        }
        Ok(())
    }
}

/// Lays out a COG from its compressed blocks per level (full resolution
/// first); `entries(level, offsets, counts)` gives a level's IFD entries,
/// sorted by tag, whose size must not depend on the offsets' values.
///
/// # Errors
/// [`Error::TooLarge`] past 4 GiB.
pub(crate) fn assemble(
    blocks: Vec<Vec<Vec<u8>>>,
    entries: impl Fn(usize, &[u32], &[u32]) -> Vec<Entry>,
) -> Result<Cog> {
    // Pass 1: sizes of the header region.
    let ghost = ghost_area();
    let header_len = (8 + ghost.len()).next_multiple_of(2);
    let ifd_sizes: Vec<u64> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            ifd_size(
                &entries(i, &vec![0; b.len()], &vec![0; b.len()]),
                TiffFormat::Classic,
            )
        })
        .collect();
    let data_start = header_len as u64 + ifd_sizes.iter().sum::<u64>();

    // Pass 2: block offsets, smallest overview first, past each leader.
    let mut offsets: Vec<Vec<u64>> = vec![Vec::new(); blocks.len()];
    let mut pos = data_start;
    for i in (0..blocks.len()).rev() {
        for b in &blocks[i] {
            pos += 4;
            offsets[i].push(pos);
            pos += b.len() as u64 + 4;
        }
    }
    let too_large = || Error::TooLarge { bytes: pos };
    if pos > u64::from(u32::MAX) {
        return Err(too_large());
    }
    let narrow = |v: &[u64]| -> Result<Vec<u32>> {
        v.iter()
            .map(|&x| u32::try_from(x).map_err(|_| too_large()))
            .collect()
    };

    let mut header = Vec::with_capacity(usize::try_from(data_start).unwrap_or(0));
    header.extend_from_slice(b"II");
    header.extend_from_slice(&42u16.to_le_bytes());
    header.extend_from_slice(
        &u32::try_from(header_len)
            .map_err(|_| too_large())?
            .to_le_bytes(),
    );
    header.extend_from_slice(&ghost);
    header.resize(header_len, 0);
    let mut ifd_pos = header_len as u64;
    for (i, level_blocks) in blocks.iter().enumerate() {
        let counts: Vec<u64> = level_blocks.iter().map(|b| b.len() as u64).collect();
        let level_entries = entries(i, &narrow(&offsets[i])?, &narrow(&counts)?);
        let next = if i + 1 < blocks.len() {
            u32::try_from(ifd_pos + ifd_sizes[i]).map_err(|_| too_large())?
        } else {
            0
        };
        write_ifd(&mut header, &level_entries, next);
        ifd_pos += ifd_sizes[i];
    }
    debug_assert_eq!(header.len() as u64, data_start);
    Ok(Cog {
        header,
        blocks,
        len: pos,
    })
}

/// A laid-out tiled TIFF whose blocks share bytes: the header (TIFF header
/// and the one IFD) and the distinct compressed blocks, each stored once.
pub(crate) struct SharedCog {
    header: Vec<u8>,
    distinct: Vec<Vec<u8>>,
    len: u64,
}

impl SharedCog {
    /// Size of the file in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Writes the file: header and IFD, then every distinct block once.
    pub(crate) fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.header)?;
        for b in &self.distinct {
            out.write_all(b)?;
        }
        Ok(())
    }
}

/// Lays out one image whose block `i` (row-major) holds the compressed
/// bytes `distinct[blocks[i]]`: the IFD right after the TIFF header, then
/// the distinct blocks in order, every TileOffsets entry of a kind pointing
/// at the same bytes. `entries(offsets, counts)` gives the IFD entries,
/// sorted by tag, whose size must not depend on the offsets' values. The
/// caller checked that every index in `blocks` is in `distinct`.
///
/// # Errors
/// [`Error::TooLarge`] past 4 GiB.
pub(crate) fn assemble_shared(
    distinct: Vec<Vec<u8>>,
    blocks: &[usize],
    entries: impl Fn(&[u32], &[u32]) -> Vec<Entry>,
) -> Result<SharedCog> {
    let n = blocks.len();
    let ifd_len = ifd_size(&entries(&vec![0; n], &vec![0; n]), TiffFormat::Classic);
    let data_start = 8 + ifd_len;
    let mut starts = Vec::with_capacity(distinct.len());
    let mut pos = data_start;
    for b in &distinct {
        starts.push(pos);
        pos += b.len() as u64;
    }
    let too_large = || Error::TooLarge { bytes: pos };
    let narrow = |x: u64| u32::try_from(x).map_err(|_| too_large());
    if pos > u64::from(u32::MAX) {
        return Err(too_large());
    }
    let offsets = blocks
        .iter()
        .map(|&i| narrow(starts[i]))
        .collect::<Result<Vec<u32>>>()?;
    let counts = blocks
        .iter()
        .map(|&i| narrow(distinct[i].len() as u64))
        .collect::<Result<Vec<u32>>>()?;
    let mut header = Vec::with_capacity(usize::try_from(data_start).unwrap_or(0));
    header.extend_from_slice(b"II");
    header.extend_from_slice(&42u16.to_le_bytes());
    header.extend_from_slice(&8u32.to_le_bytes());
    write_ifd(&mut header, &entries(&offsets, &counts), 0);
    debug_assert_eq!(header.len() as u64, data_start);
    Ok(SharedCog {
        header,
        distinct,
        len: pos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghost_area_size_is_self_consistent() {
        let g = String::from_utf8(ghost_area()).unwrap_or_default();
        let (first, rest) = g.split_once('\n').unwrap_or_default();
        assert_eq!(
            first,
            format!("GDAL_STRUCTURAL_METADATA_SIZE={:06} bytes", rest.len())
        );
        assert_eq!(rest.len(), 140);
    }

    #[test]
    fn ifd_values_are_word_aligned_and_sized() {
        let entries = [
            Entry::ascii(Tag::Unknown(1), "abcde"),
            Entry::doubles(Tag::Unknown(2), &[1.0]),
        ];
        let mut out = Vec::new();
        write_ifd(&mut out, &entries, 0);
        assert_eq!(out.len() as u64, ifd_size(&entries, TiffFormat::Classic));
        // "abcde\0" is 6 bytes, so the double starts right after it.
        let second = u32::from_le_bytes([out[22], out[23], out[24], out[25]]);
        assert_eq!(second, 2 + 24 + 4 + 6);
    }
}
