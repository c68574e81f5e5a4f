//! Reading an image file directory: size, sample type, internal tiling,
//! chunk offsets, georeferencing and nodata ([`CogInfo`]).
//!
//! The `tiff` crate allocates a tag's values from the count in its
//! directory entry before it reads them (and holds each as a 32-byte
//! enum), so a few hostile bytes could make it allocate hundreds of
//! megabytes and only then find the file too short. [`read_directory`]
//! reads the entries first and refuses counts the file cannot hold: for
//! the first directory at open ([`check_directory`]), for the others when
//! the overviews are listed, before the decoder reads any of them.

use std::io::{Read, Seek, SeekFrom};

use geocube_core::{Crs, DType, GeoBox};
use tiff::decoder::Decoder;
use tiff::tags::Tag;

use super::block_cache::{CachedReader, ErrorSlot};
use super::reader::guarded;
use crate::error::{Error, Result};
use crate::geotiff::{self, GeoReference, GeoTiffError};

/// Values one tag may announce: 2²¹ values, which the decoder holds in
/// 64 MiB. A COG's largest tags, its tile offsets and byte counts, hold one
/// value per tile, and 2²¹ tiles of 512² px make an image of 740 000² px.
pub(super) const MAX_TAG_VALUES: u64 = 1 << 21;

/// Entries of a directory: a classic TIFF counts them in 16 bits; BigTIFF's
/// 64-bit count is held to the same (the decoder reads entries until the
/// count or the file ends).
const MAX_ENTRIES: u64 = u16::MAX as u64;

/// Bytes of one decoded chunk (tile or strip) geocube lets the decoder
/// allocate: 4096² float32 samples, the largest tile of the COG writer's
/// largest block size for the cube's sample types, and 64 times GDAL's
/// default 512² float32 COG tile. The decoder allocates a chunk's buffer
/// from the declared tile size before it reads a byte of it.
pub(super) const MAX_CHUNK_BYTES: usize = 64 << 20;

/// Bytes of one value of a TIFF field type; 0 for types the decoder does
/// not know (it skips their entries).
fn type_size(field_type: u16) -> u64 {
    match field_type {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16..=18 => 8,
        _ => 0,
    }
}

/// Read `buf.len()` bytes at `at`: `Ok(false)` when the file ends first
/// (left to the decoder to report), the source's typed error when the
/// transport failed.
fn read_at(r: &mut CachedReader, slot: &ErrorSlot, at: u64, buf: &mut [u8]) -> Result<bool> {
    let _ = slot.take();
    match r.seek(SeekFrom::Start(at)).and_then(|_| r.read_exact(buf)) {
        Ok(()) => Ok(true),
        Err(_) => slot.take().map_or(Ok(false), Err),
    }
}

/// The byte order and offset width of a TIFF file, from its header.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header {
    little: bool,
    /// BigTIFF: 8-byte counts and offsets.
    big: bool,
    /// Offset of the first image file directory.
    pub(super) first_ifd: u64,
}

impl Header {
    /// An unsigned integer of `b.len()` bytes in the file's byte order.
    fn uint(&self, b: &[u8]) -> u64 {
        let fold = |v: u64, x: &u8| (v << 8) | u64::from(*x);
        if self.little {
            b.iter().rev().fold(0, fold)
        } else {
            b.iter().fold(0, fold)
        }
    }

    /// Bytes of an offset or a value count.
    fn word(&self) -> usize {
        if self.big { 8 } else { 4 }
    }

    /// Bytes of a directory's entry count.
    fn count_width(&self) -> usize {
        if self.big { 8 } else { 2 }
    }

    /// Bytes of one directory entry.
    fn entry_width(&self) -> usize {
        if self.big { 20 } else { 12 }
    }
}

/// The header, or `None` when the bytes are too short for one or are not
/// a TIFF (left to the decoder to report).
pub(super) fn read_header(r: &mut CachedReader, slot: &ErrorSlot) -> Result<Option<Header>> {
    let mut head = [0u8; 16];
    if !read_at(r, slot, 0, &mut head[..8])? {
        return Ok(None);
    }
    let little = match &head[..2] {
        b"II" => true,
        b"MM" => false,
        _ => return Ok(None),
    };
    let mut header = Header {
        little,
        big: false,
        first_ifd: 0,
    };
    header.big = match header.uint(&head[2..4]) {
        42 => false,
        43 => true,
        _ => return Ok(None),
    };
    if header.big && !read_at(r, slot, 8, &mut head[8..16])? {
        return Ok(None);
    }
    header.first_ifd = if header.big {
        header.uint(&head[8..16])
    } else {
        header.uint(&head[4..8])
    };
    Ok(Some(header))
}

/// One image file directory's entries, checked by [`read_directory`].
pub(super) struct RawDirectory {
    header: Header,
    /// The entries as stored.
    entries: Vec<u8>,
    /// The pointer to the next directory (0: none), `None` when the file
    /// ends before it.
    pub(super) next: Option<u64>,
}

impl RawDirectory {
    fn entry(&self, tag: u16) -> Option<&[u8]> {
        let h = &self.header;
        self.entries
            .chunks_exact(h.entry_width())
            .find(|e| h.uint(&e[..2]) == u64::from(tag))
    }

    /// Whether the directory has an entry for `tag`.
    pub(super) fn has(&self, tag: u16) -> bool {
        self.entry(tag).is_some()
    }

    /// The value of `tag` when it is one integer (BYTE, SHORT, LONG or
    /// LONG8, inline): `Ok(None)` when the directory lacks the tag, an
    /// error (the reason) when it holds something else.
    pub(super) fn integer(&self, tag: u16) -> std::result::Result<Option<u64>, String> {
        let h = &self.header;
        let word = h.word();
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let (field_type, count) = (h.uint(&e[2..4]), h.uint(&e[4..4 + word]));
        let value = &e[4 + word..4 + 2 * word];
        let size = match field_type {
            1 => 1,
            3 => 2,
            4 => 4,
            16 if h.big => 8,
            _ => {
                return Err(format!(
                    "tag {tag} has field type {field_type}, not an integer"
                ));
            }
        };
        if count != 1 {
            return Err(format!("tag {tag} holds {count} values, not one"));
        }
        // Inline values are left-justified in the value field.
        Ok(Some(h.uint(&value[..size])))
    }
}

/// Read and check the directory at `offset`: refuse entries that announce
/// more values than [`MAX_TAG_VALUES`] or than the file holds (when its
/// size is known), or, in a BigTIFF, an entry of unknown type (the decoder
/// skips 8 of its 16 value bytes and reads the rest of the directory
/// misaligned). `Ok(None)` when the file ends before the entries do.
pub(super) fn read_directory(
    r: &mut CachedReader,
    slot: &ErrorSlot,
    name: &str,
    header: Header,
    offset: u64,
) -> Result<Option<RawDirectory>> {
    let bad = |reason: String| {
        Error::tiff(
            name,
            format!("image file directory at offset {offset}: {reason}"),
        )
    };
    let h = header;
    let (word, count_w, entry_w) = (h.word(), h.count_width(), h.entry_width());
    let mut n = [0u8; 8];
    if !read_at(r, slot, offset, &mut n[..count_w])? {
        return Ok(None);
    }
    let n = h.uint(&n[..count_w]);
    if n > MAX_ENTRIES {
        return Err(bad(format!(
            "{n} entries, more than the {MAX_ENTRIES} a directory may hold"
        )));
    }
    let Some(start) = offset.checked_add(count_w as u64) else {
        return Ok(None);
    };
    // At most 65535 × 20 bytes.
    let mut entries = vec![0u8; usize::try_from(n).unwrap_or(0) * entry_w];
    if !read_at(r, slot, start, &mut entries)? {
        return Ok(None);
    }
    let total = r.total;
    for e in entries.chunks_exact(entry_w) {
        let (tag, field_type) = (h.uint(&e[..2]), h.uint(&e[2..4]));
        let size = type_size(u16::try_from(field_type).unwrap_or(0));
        if size == 0 {
            if h.big {
                return Err(bad(format!(
                    "tag {tag} has the unknown field type {field_type}"
                )));
            }
            continue;
        }
        let count = h.uint(&e[4..4 + word]);
        if count > MAX_TAG_VALUES {
            return Err(bad(format!(
                "tag {tag} announces {count} values, more than the {MAX_TAG_VALUES} geocube reads"
            )));
        }
        let bytes = count * size;
        if bytes <= word as u64 {
            continue; // the values are inline
        }
        let value_offset = h.uint(&e[4 + word..4 + 2 * word]);
        if let Some(total) = total
            && value_offset
                .checked_add(bytes)
                .is_none_or(|end| end > total)
        {
            return Err(bad(format!(
                "tag {tag} announces {count} values ({bytes} bytes) at offset {value_offset}, past the end of the {total}-byte file"
            )));
        }
    }
    let mut next = [0u8; 8];
    let next = match start.checked_add(entries.len() as u64) {
        Some(at) if read_at(r, slot, at, &mut next[..word])? => Some(h.uint(&next[..word])),
        _ => None,
    };
    Ok(Some(RawDirectory {
        header,
        entries,
        next,
    }))
}

/// Refuse a first directory that [`read_directory`] refuses. Bytes too
/// short for a header or a directory are left to the decoder, which
/// reports them as before.
pub(super) fn check_directory(r: &mut CachedReader, slot: &ErrorSlot, name: &str) -> Result<()> {
    if let Some(header) = read_header(r, slot)? {
        read_directory(r, slot, name, header, header.first_ifd)?;
    }
    Ok(())
}

/// What [`Cog::open`](super::Cog::open) learned about the first
/// (full-resolution) image, or
/// [`Cog::open_overview`](super::Cog::open_overview) about an overview.
#[derive(Clone, Debug, PartialEq)]
pub struct CogInfo {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Sample type.
    pub dtype: DType,
    /// Georeferencing.
    pub georef: GeoReference,
    /// GDAL_NODATA, if set.
    pub nodata: Option<f64>,
    /// Internal tile (or strip) size `(width, height)`.
    pub chunk: (usize, usize),
    /// Tiled (`true`) or stripped layout.
    pub tiled: bool,
    /// Byte size of the file, when known.
    pub file_size: Option<u64>,
}

impl CogInfo {
    /// The image's grid.
    ///
    /// # Errors
    /// When the GeoTIFF has no EPSG code or the code is unknown.
    pub fn geobox(&self, name: &str) -> Result<GeoBox> {
        let epsg = self.georef.epsg.ok_or_else(|| {
            Error::tiff(name, "the GeoTIFF declares no EPSG code (GeoKeyDirectory)")
        })?;
        let crs = Crs::from_epsg(epsg)
            .map_err(|e| Error::tiff(name, format!("EPSG:{epsg}: {e}")).caused_by(e))?;
        Ok(GeoBox::new(
            self.width,
            self.height,
            self.georef.affine,
            crs,
        )?)
    }
}

/// Bytes of one decoded chunk of `(width, height)` samples.
pub(super) fn chunk_bytes(chunk: (usize, usize), dtype: DType) -> u64 {
    (chunk.0 as u64)
        .saturating_mul(chunk.1 as u64)
        .saturating_mul(dtype.size() as u64)
}

/// The layout of the decoder's current image: what [`read_window`] needs
/// to find and decode its chunks.
///
/// [`read_window`]: super::Cog::read_window
pub(super) struct Layout {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) dtype: DType,
    pub(super) chunk: (usize, usize),
    pub(super) tiled: bool,
    /// File offset of each chunk, row-major.
    pub(super) offsets: Vec<u64>,
    /// Compressed size of each chunk.
    pub(super) byte_counts: Vec<u64>,
}

type Dec = Decoder<CachedReader>;

fn u16s(d: &mut Dec, slot: &ErrorSlot, name: &str, tag: Tag) -> Result<Option<Vec<u16>>> {
    guarded(d, slot, name, "reading tags", |d| {
        d.find_tag_unsigned_vec::<u16>(tag)
    })
}

fn f64s(d: &mut Dec, slot: &ErrorSlot, name: &str, tag: Tag) -> Result<Option<Vec<f64>>> {
    guarded(d, slot, name, "reading tags", |d| {
        d.find_tag(tag)?
            .map(tiff::decoder::ifd::Value::into_f64_vec)
            .transpose()
    })
}

fn u32_tag(d: &mut Dec, slot: &ErrorSlot, name: &str, tag: Tag) -> Result<Option<u32>> {
    guarded(d, slot, name, "reading tags", |d| {
        d.find_tag_unsigned::<u32>(tag)
    })
}

/// Size, sample type, chunks and chunk offsets of the decoder's current
/// image; refuses what geocube cannot decode (several bands, other sample
/// types, chunks over [`MAX_CHUNK_BYTES`], missing offsets).
pub(super) fn read_layout(d: &mut Dec, slot: &ErrorSlot, name: &str) -> Result<Layout> {
    let bad = |reason: String| Error::tiff(name, reason);
    let (w, h) = guarded(
        &mut *d,
        slot,
        name,
        "reading the image size",
        Decoder::dimensions,
    )?;
    let samples = u32_tag(d, slot, name, Tag::SamplesPerPixel)?.unwrap_or(1);
    if samples != 1 {
        return Err(bad(format!(
            "the image has {samples} bands; only single-band GeoTIFFs are supported"
        )));
    }
    let bits = u16s(d, slot, name, Tag::BitsPerSample)?.unwrap_or_else(|| vec![1]);
    let format = u16s(d, slot, name, Tag::SampleFormat)?.unwrap_or_else(|| vec![1]);
    let dtype = match (format.first().copied(), bits.first().copied()) {
        (Some(1), Some(8)) => DType::Uint8,
        (Some(1), Some(16)) => DType::Uint16,
        (Some(2), Some(16)) => DType::Int16,
        (Some(2), Some(32)) => DType::Int32,
        (Some(3), Some(32)) => DType::Float32,
        (Some(3), Some(64)) => DType::Float64,
        (f, b) => {
            return Err(bad(format!(
                "sample format {f:?} with {b:?} bits is not supported (float32, float64, uint8, uint16, int16, int32)"
            )));
        }
    };
    let tile_w = u32_tag(d, slot, name, Tag::TileWidth)?;
    let tiled = tile_w.is_some();
    let chunk = match tile_w {
        Some(tw) => {
            let th = u32_tag(d, slot, name, Tag::TileLength)?
                .ok_or_else(|| bad("TileWidth without TileLength".into()))?;
            (tw as usize, th as usize)
        }
        None => {
            let rows = u32_tag(d, slot, name, Tag::RowsPerStrip)?.unwrap_or(h);
            (w as usize, rows.min(h) as usize)
        }
    };
    if chunk.0 == 0 || chunk.1 == 0 || w == 0 || h == 0 {
        return Err(bad(format!(
            "empty image or chunk ({w}×{h}, chunks {}×{})",
            chunk.0, chunk.1
        )));
    }
    let chunk_bytes = chunk_bytes(chunk, dtype);
    if chunk_bytes > MAX_CHUNK_BYTES as u64 {
        return Err(bad(format!(
            "internal {} of {}×{} {dtype:?} samples take {chunk_bytes} bytes decoded, more than the {MAX_CHUNK_BYTES} geocube decodes at once",
            if tiled { "tiles" } else { "strips" },
            chunk.0,
            chunk.1
        )));
    }
    let (off_tag, cnt_tag) = if tiled {
        (Tag::TileOffsets, Tag::TileByteCounts)
    } else {
        (Tag::StripOffsets, Tag::StripByteCounts)
    };
    let offsets = guarded(&mut *d, slot, name, "reading chunk offsets", |d| {
        d.get_tag_u64_vec(off_tag)
    })?;
    let byte_counts = guarded(&mut *d, slot, name, "reading chunk sizes", |d| {
        d.get_tag_u64_vec(cnt_tag)
    })?;
    let n_chunks = (w as usize).div_ceil(chunk.0) * (h as usize).div_ceil(chunk.1);
    if offsets.len() < n_chunks || byte_counts.len() < n_chunks {
        return Err(bad(format!(
            "{n_chunks} chunks but {} offsets and {} byte counts",
            offsets.len(),
            byte_counts.len()
        )));
    }
    Ok(Layout {
        width: w as usize,
        height: h as usize,
        dtype,
        chunk,
        tiled,
        offsets,
        byte_counts,
    })
}

/// The georeferencing of the decoder's current image, from its own
/// GeoTIFF tags.
pub(super) fn read_georef(d: &mut Dec, slot: &ErrorSlot, name: &str) -> Result<GeoReference> {
    let georef = |e: GeoTiffError| Error::tiff(name, e.to_string()).caused_by(e);
    let scale = f64s(d, slot, name, Tag::ModelPixelScaleTag)?;
    let tie = f64s(d, slot, name, Tag::ModelTiepointTag)?;
    let matrix = f64s(d, slot, name, Tag::ModelTransformationTag)?;
    let keys = match u16s(d, slot, name, Tag::GeoKeyDirectoryTag)? {
        Some(dir) => geotiff::parse_geo_keys(&dir).map_err(georef)?,
        None => geotiff::GeoKeys::default(),
    };
    let affine = geotiff::affine_from_tags(
        scale.as_deref(),
        tie.as_deref(),
        matrix.as_deref(),
        keys.raster_type,
    )
    .map_err(georef)?;
    let epsg = keys.epsg().map_err(georef)?;
    Ok(GeoReference {
        affine,
        epsg,
        raster_type: keys.raster_type,
    })
}

/// The GDAL_NODATA of the decoder's current image, if set.
pub(super) fn read_nodata(d: &mut Dec, slot: &ErrorSlot, name: &str) -> Result<Option<f64>> {
    match guarded(&mut *d, slot, name, "reading GDAL_NODATA", |d| {
        d.find_tag(Tag::GdalNodata)
    })? {
        Some(tiff::decoder::ifd::Value::Ascii(s)) => {
            Ok(Some(geotiff::parse_gdal_nodata(&s).map_err(|e| {
                Error::tiff(name, e.to_string()).caused_by(e)
            })?))
        }
        Some(_) => Err(Error::tiff(name, "GDAL_NODATA is not ASCII")),
        None => Ok(None),
    }
}

impl CogInfo {
    /// The info of an image of `layout`, placed by `georef`.
    pub(super) fn of(
        layout: &Layout,
        georef: GeoReference,
        nodata: Option<f64>,
        file_size: Option<u64>,
    ) -> CogInfo {
        CogInfo {
            width: layout.width,
            height: layout.height,
            dtype: layout.dtype,
            georef,
            nodata,
            chunk: layout.chunk,
            tiled: layout.tiled,
            file_size,
        }
    }
}
