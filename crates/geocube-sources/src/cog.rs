//! Reading (Cloud-Optimized) GeoTIFFs window by window, from HTTP range
//! requests, local files or memory.
//!
//! [`Cog::open`] reads the header and the first image directory through a
//! block cache (one 512 KiB range request usually covers a COG's header and
//! every directory). [`Cog::read_window`] then fetches only the internal tiles
//! (or strips) that overlap the window, coalescing neighbouring byte ranges
//! into few requests, and decodes them with the `tiff` crate (DEFLATE, LZW,
//! ZSTD; horizontal and floating-point predictors).
//!
//! A file that ends early or holds garbage gives [`Error::Tiff`]; a body cut
//! short in transit gives a retryable [`Error::Transport`]. Neither ever
//! yields partial pixels.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use geocube_core::{Crs, DType, GeoBox, TypedArray, Window};
use ndarray::{ArrayD, IxDyn};
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

use crate::error::{Error, Result};
use crate::geotiff::{self, GeoReference, tags};
use crate::http::{HttpClient, RangeBytes};

/// Block size of the read cache (bytes per range request for headers).
pub const DEFAULT_BLOCK_SIZE: u64 = 512 << 10;
/// Blocks kept in the read cache.
const CACHE_BLOCKS: usize = 8;
/// Byte ranges of tiles closer than this are fetched in one request.
const COALESCE_GAP: u64 = 64 << 10;
/// Largest coalesced request.
const MAX_REQUEST: u64 = 16 << 20;

/// Random access to the bytes of a file, wherever it is.
pub trait ByteSource: Send + Sync {
    /// A name for messages (URL or path).
    fn name(&self) -> &str;

    /// Up to `len` bytes from `start`; fewer only where the file ends.
    ///
    /// # Errors
    /// Transport or I/O failures.
    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes>;
}

/// A file on an HTTP server, read with range requests.
#[derive(Clone, Debug)]
pub struct HttpByteSource {
    client: HttpClient,
    url: String,
}

impl HttpByteSource {
    /// The file at `url`.
    pub fn new(client: HttpClient, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl ByteSource for HttpByteSource {
    fn name(&self) -> &str {
        &self.url
    }

    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes> {
        self.client.get_range(&self.url, start, len)
    }
}

/// A local file.
#[derive(Clone, Debug)]
pub struct FileByteSource {
    path: PathBuf,
    name: String,
}

impl FileByteSource {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            name: path.display().to_string(),
            path,
        }
    }
}

impl ByteSource for FileByteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes> {
        let mut f = std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let total = f.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        f.seek(SeekFrom::Start(start.min(total)))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut bytes = Vec::new();
        f.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(RangeBytes {
            bytes,
            total: Some(total),
        })
    }
}

/// A file held in memory.
#[derive(Clone, Debug)]
pub struct MemoryByteSource {
    name: String,
    bytes: Arc<[u8]>,
}

impl MemoryByteSource {
    /// `bytes`, called `name` in messages.
    pub fn new(name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        Self {
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

impl ByteSource for MemoryByteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes> {
        let total = self.bytes.len();
        let lo = usize::try_from(start).unwrap_or(usize::MAX).min(total);
        let hi = usize::try_from(start.saturating_add(len))
            .unwrap_or(usize::MAX)
            .min(total);
        Ok(RangeBytes {
            bytes: self.bytes[lo..hi].to_vec(),
            total: Some(total as u64),
        })
    }
}

/// `Read + Seek` over a [`ByteSource`]: prefetched segments first, then a
/// small cache of fixed-size blocks fetched on demand. The source's typed
/// error is kept so the caller can report it instead of the `io::Error` the
/// decoder saw.
struct CachedReader {
    src: Arc<dyn ByteSource>,
    pos: u64,
    total: Option<u64>,
    block_size: u64,
    /// Most recently used last.
    blocks: Vec<(u64, Arc<Vec<u8>>)>,
    segments: BTreeMap<u64, Vec<u8>>,
    /// Shared with the [`Cog`] so it survives the decoder.
    error: ErrorSlot,
}

/// The last typed error a [`CachedReader`] met.
#[derive(Clone, Default)]
struct ErrorSlot(Arc<Mutex<Option<Error>>>);

impl ErrorSlot {
    fn set(&self, e: Error) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
    }

    fn take(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl CachedReader {
    fn new(src: Arc<dyn ByteSource>, block_size: u64, error: ErrorSlot) -> Self {
        Self {
            src,
            pos: 0,
            total: None,
            block_size: block_size.max(4096),
            blocks: Vec::new(),
            segments: BTreeMap::new(),
            error,
        }
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
        if let Some(i) = self.blocks.iter().position(|(b, _)| *b == index) {
            let entry = self.blocks.remove(i);
            let data = Arc::clone(&entry.1);
            self.blocks.push(entry);
            return Ok(data);
        }
        let start = index * self.block_size;
        let got = match self.src.read_range(start, self.block_size) {
            Ok(g) => g,
            Err(e) => return Err(self.fail(e)),
        };
        self.note_total(start, &got, self.block_size);
        let data = Arc::new(got.bytes);
        if self.blocks.len() >= CACHE_BLOCKS {
            self.blocks.remove(0);
        }
        self.blocks.push((index, Arc::clone(&data)));
        Ok(data)
    }

    /// Fetch `ranges` (start, len) into segments, merging close neighbours.
    fn prefetch(&mut self, mut ranges: Vec<(u64, u64)>) -> Result<()> {
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
            let got = self.src.read_range(s, e - s)?;
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
        let index = self.pos / self.block_size;
        let block = self.block(index)?;
        let off = usize::try_from(self.pos - index * self.block_size).unwrap_or(usize::MAX);
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

/// What [`Cog::open`] learned about the first (full-resolution) image.
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
        let crs =
            Crs::from_epsg(epsg).map_err(|e| Error::tiff(name, format!("EPSG:{epsg}: {e}")))?;
        Ok(GeoBox::new(
            self.width,
            self.height,
            self.georef.affine,
            crs,
        )?)
    }
}

/// One GeoTIFF image, opened for window reads.
pub struct Cog {
    decoder: Decoder<CachedReader>,
    error: ErrorSlot,
    name: String,
    info: CogInfo,
    offsets: Vec<u64>,
    byte_counts: Vec<u64>,
}

impl std::fmt::Debug for Cog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cog")
            .field("name", &self.name)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Run decoder code, turning panics and errors into [`Error::Tiff`] (or the
/// transport error the reader kept).
fn guarded<D, T>(
    decoder: D,
    slot: &ErrorSlot,
    name: &str,
    what: &str,
    f: impl FnOnce(D) -> tiff::TiffResult<T>,
) -> Result<T> {
    let _ = slot.take();
    match catch_unwind(AssertUnwindSafe(|| f(decoder))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(slot
            .take()
            .unwrap_or_else(|| Error::tiff(name, format!("{what}: {}", describe(&e))))),
        Err(_) => Err(slot.take().unwrap_or_else(|| {
            Error::tiff(
                name,
                format!("{what}: the decoder failed on malformed data"),
            )
        })),
    }
}

fn describe(e: &tiff::TiffError) -> String {
    match e {
        tiff::TiffError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "the file is truncated (it ends before the data it announces)".to_owned()
        }
        other => other.to_string(),
    }
}

impl Cog {
    /// Open `src` with the default 512 KiB blocks.
    ///
    /// # Errors
    /// [`Error::Tiff`] for a file that is not a readable single-band GeoTIFF
    /// of a supported sample type; transport errors of the source.
    pub fn open(src: Arc<dyn ByteSource>) -> Result<Cog> {
        Cog::open_with_block_size(src, DEFAULT_BLOCK_SIZE)
    }

    /// Open `src`, reading headers in blocks of `block_size` bytes.
    ///
    /// # Errors
    /// As [`Cog::open`].
    pub fn open_with_block_size(src: Arc<dyn ByteSource>, block_size: u64) -> Result<Cog> {
        let name = src.name().to_owned();
        let error = ErrorSlot::default();
        let reader = CachedReader::new(src, block_size, error.clone());
        let mut limits = Limits::default();
        limits.ifd_value_size = 64 << 20;
        let decoder = guarded(reader, &error, &name, "not a readable TIFF", Decoder::new)?
            .with_limits(limits);
        let mut cog = Cog {
            decoder,
            error,
            info: CogInfo {
                width: 0,
                height: 0,
                dtype: DType::Uint8,
                georef: GeoReference {
                    affine: geocube_core::Affine {
                        x0: 0.0,
                        res_x: 1.0,
                        y0: 0.0,
                        res_y: -1.0,
                    },
                    epsg: None,
                    raster_type: geotiff::RasterType::PixelIsArea,
                },
                nodata: None,
                chunk: (0, 0),
                tiled: false,
                file_size: None,
            },
            name,
            offsets: Vec::new(),
            byte_counts: Vec::new(),
        };
        cog.read_info()?;
        Ok(cog)
    }

    /// Everything about the image but its pixels.
    #[must_use]
    pub fn info(&self) -> &CogInfo {
        &self.info
    }

    /// The URL or path.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    fn read_info(&mut self) -> Result<()> {
        let name = self.name.clone();
        let slot = self.error.clone();
        let bad = |reason: String| Error::tiff(&name, reason);
        let d = &mut self.decoder;
        let (w, h) = guarded(
            &mut *d,
            &slot,
            &name,
            "reading the image size",
            Decoder::dimensions,
        )?;
        let u16s = |d: &mut Decoder<CachedReader>, tag: u16| {
            guarded(d, &slot, &name, "reading tags", |d| {
                d.find_tag_unsigned_vec::<u16>(Tag::Unknown(tag))
            })
        };
        let f64s = |d: &mut Decoder<CachedReader>, tag: u16| {
            guarded(d, &slot, &name, "reading tags", |d| {
                d.find_tag(Tag::Unknown(tag))?
                    .map(tiff::decoder::ifd::Value::into_f64_vec)
                    .transpose()
            })
        };
        let tag = |d: &mut Decoder<CachedReader>, t: Tag| {
            guarded(d, &slot, &name, "reading tags", |d| {
                d.find_tag_unsigned::<u32>(t)
            })
        };
        let samples = tag(d, Tag::SamplesPerPixel)?.unwrap_or(1);
        if samples != 1 {
            return Err(bad(format!(
                "the image has {samples} bands; only single-band GeoTIFFs are supported"
            )));
        }
        let bits = u16s(d, 258)?.unwrap_or_else(|| vec![1]);
        let format = u16s(d, 339)?.unwrap_or_else(|| vec![1]);
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
        let tile_w = tag(d, Tag::TileWidth)?;
        let tiled = tile_w.is_some();
        let chunk = match tile_w {
            Some(tw) => {
                let th = tag(d, Tag::TileLength)?
                    .ok_or_else(|| bad("TileWidth without TileLength".into()))?;
                (tw as usize, th as usize)
            }
            None => {
                let rows = tag(d, Tag::RowsPerStrip)?.unwrap_or(h);
                (w as usize, rows.min(h) as usize)
            }
        };
        if chunk.0 == 0 || chunk.1 == 0 || w == 0 || h == 0 {
            return Err(bad(format!(
                "empty image or chunk ({w}×{h}, chunks {}×{})",
                chunk.0, chunk.1
            )));
        }
        let (off_tag, cnt_tag) = if tiled {
            (Tag::TileOffsets, Tag::TileByteCounts)
        } else {
            (Tag::StripOffsets, Tag::StripByteCounts)
        };
        let offsets = guarded(&mut *d, &slot, &name, "reading chunk offsets", |d| {
            d.get_tag_u64_vec(off_tag)
        })?;
        let counts = guarded(&mut *d, &slot, &name, "reading chunk sizes", |d| {
            d.get_tag_u64_vec(cnt_tag)
        })?;
        let n_chunks = (w as usize).div_ceil(chunk.0) * (h as usize).div_ceil(chunk.1);
        if offsets.len() < n_chunks || counts.len() < n_chunks {
            return Err(bad(format!(
                "{n_chunks} chunks but {} offsets and {} byte counts",
                offsets.len(),
                counts.len()
            )));
        }

        let scale = f64s(d, tags::MODEL_PIXEL_SCALE)?;
        let tie = f64s(d, tags::MODEL_TIEPOINT)?;
        let matrix = f64s(d, tags::MODEL_TRANSFORMATION)?;
        let keys = match u16s(d, tags::GEO_KEY_DIRECTORY)? {
            Some(dir) => geotiff::parse_geo_keys(&dir).map_err(&bad)?,
            None => geotiff::GeoKeys::default(),
        };
        let affine = geotiff::affine_from_tags(
            scale.as_deref(),
            tie.as_deref(),
            matrix.as_deref(),
            keys.raster_type,
        )
        .map_err(&bad)?;
        let epsg = keys.epsg().map_err(&bad)?;
        let nodata = match guarded(&mut *d, &slot, &name, "reading GDAL_NODATA", |d| {
            d.find_tag(Tag::Unknown(tags::GDAL_NODATA))
        })? {
            Some(tiff::decoder::ifd::Value::Ascii(s)) => {
                Some(geotiff::parse_gdal_nodata(&s).map_err(&bad)?)
            }
            Some(_) => return Err(bad("GDAL_NODATA is not ASCII".into())),
            None => None,
        };
        self.info = CogInfo {
            width: w as usize,
            height: h as usize,
            dtype,
            georef: GeoReference {
                affine,
                epsg,
                raster_type: keys.raster_type,
            },
            nodata,
            chunk,
            tiled,
            file_size: self.decoder.inner().total,
        };
        self.offsets = offsets;
        self.byte_counts = counts;
        Ok(())
    }

    /// Decode the pixels of `window` (of the full-resolution image) into an
    /// array of shape `(height, width)` of the image's sample type. Only the
    /// chunks overlapping the window are fetched and decoded.
    ///
    /// # Errors
    /// [`Error::Tiff`] when the window is not inside the image or the data is
    /// truncated or corrupt; transport errors of the source.
    pub fn read_window(&mut self, window: Window) -> Result<TypedArray> {
        let CogInfo {
            width,
            height,
            chunk: (cw, ch),
            dtype,
            ..
        } = self.info;
        let full = Window::new(0, 0, height, width);
        if window.is_empty() || !full.contains(&window) {
            return Err(Error::tiff(
                &self.name,
                format!("window {window:?} is not inside the {width}×{height} image"),
            ));
        }
        let across = width.div_ceil(cw);
        let (cx0, cx1) = (window.col / cw, (window.col + window.width - 1) / cw);
        let (cy0, cy1) = (window.row / ch, (window.row + window.height - 1) / ch);
        let chunks: Vec<(usize, usize)> = (cy0..=cy1)
            .flat_map(|cy| (cx0..=cx1).map(move |cx| (cy, cx)))
            .collect();
        let ranges = chunks
            .iter()
            .map(|&(cy, cx)| {
                (
                    self.offsets[cy * across + cx],
                    self.byte_counts[cy * across + cx],
                )
            })
            .collect();
        self.decoder.inner().prefetch(ranges)?;

        let name = self.name.clone();
        let mut out = TypedArray::filled(dtype, &[window.height, window.width]);
        for (cy, cx) in chunks {
            let index = cy * across + cx;
            let chunk_index =
                u32::try_from(index).map_err(|_| Error::tiff(&name, "too many chunks"))?;
            let decoded = guarded(
                &mut self.decoder,
                &self.error,
                &name,
                &format!("decoding chunk {index}"),
                |d| d.read_chunk(chunk_index),
            )?;
            // Pixels of this chunk (image coordinates), clipped to the image.
            let (x0, y0) = (cx * cw, cy * ch);
            let (dw, dh) = (cw.min(width - x0), ch.min(height - y0));
            let chunk_win = Window::new(y0, x0, dh, dw);
            let Some(overlap) = chunk_win.intersection(&window) else {
                continue;
            };
            blit(&name, &mut out, &decoded, chunk_win, overlap, window)?;
        }
        Ok(out)
    }

    /// Decode the whole full-resolution image.
    ///
    /// # Errors
    /// As [`Cog::read_window`].
    pub fn read_all(&mut self) -> Result<TypedArray> {
        let w = Window::new(0, 0, self.info.height, self.info.width);
        self.read_window(w)
    }
}

/// Copy `overlap` (image coordinates) from a decoded chunk covering
/// `chunk_win` into `out`, which covers `window`.
fn blit(
    name: &str,
    out: &mut TypedArray,
    decoded: &DecodingResult,
    chunk_win: Window,
    overlap: Window,
    window: Window,
) -> Result<()> {
    fn copy<T: Copy>(
        name: &str,
        dst: &mut ArrayD<T>,
        src: &[T],
        chunk_win: Window,
        overlap: Window,
        window: Window,
    ) -> Result<()> {
        // The decoder returns the chunk's data rows; a chunk may be stored padded to its full width.
        if src.len() < chunk_win.width * chunk_win.height {
            return Err(Error::tiff(
                name,
                format!(
                    "chunk at ({}, {}) decoded to {} samples, expected {}",
                    chunk_win.row,
                    chunk_win.col,
                    src.len(),
                    chunk_win.width * chunk_win.height
                ),
            ));
        }
        let stride = src.len() / chunk_win.height;
        let dst_w = window.width;
        let dst = dst
            .as_slice_mut()
            .ok_or_else(|| Error::tiff(name, "output array is not contiguous"))?;
        for r in overlap.rows() {
            let s = (r - chunk_win.row) * stride + (overlap.col - chunk_win.col);
            let d = (r - window.row) * dst_w + (overlap.col - window.col);
            dst[d..d + overlap.width].copy_from_slice(&src[s..s + overlap.width]);
        }
        Ok(())
    }
    match (out, decoded) {
        (TypedArray::Float32(a), DecodingResult::F32(v)) => {
            copy(name, a, v, chunk_win, overlap, window)
        }
        (TypedArray::Float64(a), DecodingResult::F64(v)) => {
            copy(name, a, v, chunk_win, overlap, window)
        }
        (TypedArray::Uint8(a), DecodingResult::U8(v)) => {
            copy(name, a, v, chunk_win, overlap, window)
        }
        (TypedArray::Uint16(a), DecodingResult::U16(v)) => {
            copy(name, a, v, chunk_win, overlap, window)
        }
        (TypedArray::Int16(a), DecodingResult::I16(v)) => {
            copy(name, a, v, chunk_win, overlap, window)
        }
        (TypedArray::Int32(a), DecodingResult::I32(v)) => {
            copy(name, a, v, chunk_win, overlap, window)
        }
        (out, _) => Err(Error::tiff(
            name,
            format!(
                "decoded samples do not match the declared type {:?}",
                out.dtype()
            ),
        )),
    }
}

/// Convert pixels to a cube channel's type: identity, any type to `bool`
/// (non-zero is `true`; NaN is `false`), and lossless widening to float.
///
/// # Errors
/// A conversion that would lose information, as text.
pub fn convert(data: TypedArray, to: DType) -> std::result::Result<TypedArray, String> {
    use geocube_core::CubeElement;
    if data.dtype() == to {
        return Ok(data);
    }
    fn map<S: CubeElement, D>(a: &ArrayD<S>, f: impl Fn(S) -> D) -> ArrayD<D> {
        a.mapv(f)
    }
    let from = data.dtype();
    let bad = || {
        format!(
            "cannot convert {} pixels to {} without losing information",
            from.zarr_name(),
            to.zarr_name()
        )
    };
    Ok(match (to, &data) {
        (DType::Bool, _) => {
            let shape = IxDyn(data.shape());
            let flags: Vec<bool> = geocube_core::with_typed_array!(&data, |a: T| a
                .iter()
                .map(|v| {
                    let f = v.to_f64();
                    f != 0.0 && !f.is_nan()
                })
                .collect());
            TypedArray::Bool(ArrayD::from_shape_vec(shape, flags).map_err(|e| e.to_string())?)
        }
        (DType::Float64, _) if from != DType::Bool => TypedArray::Float64(
            geocube_core::with_typed_array!(&data, |a: T| map(a, CubeElement::to_f64)),
        ),
        (DType::Float32, TypedArray::Uint8(a)) => TypedArray::Float32(map(a, f32::from)),
        (DType::Float32, TypedArray::Uint16(a)) => TypedArray::Float32(map(a, f32::from)),
        (DType::Float32, TypedArray::Int16(a)) => TypedArray::Float32(map(a, f32::from)),
        (DType::Int32, TypedArray::Uint8(a)) => TypedArray::Int32(map(a, i32::from)),
        (DType::Int32, TypedArray::Uint16(a)) => TypedArray::Int32(map(a, i32::from)),
        (DType::Int32, TypedArray::Int16(a)) => TypedArray::Int32(map(a, i32::from)),
        (DType::Uint16, TypedArray::Uint8(a)) => TypedArray::Uint16(map(a, u16::from)),
        (DType::Int16, TypedArray::Uint8(a)) => TypedArray::Int16(map(a, i16::from)),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let a = TypedArray::Uint8(ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0, 1, 255]).unwrap());
        let b = convert(a.clone(), DType::Bool).unwrap();
        assert_eq!(
            b,
            TypedArray::Bool(
                ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![false, true, true]).unwrap()
            )
        );
        assert_eq!(convert(a.clone(), DType::Uint8).unwrap(), a);
        assert!(matches!(
            convert(a.clone(), DType::Float32).unwrap(),
            TypedArray::Float32(_)
        ));
        let f =
            TypedArray::Float32(ArrayD::from_shape_vec(IxDyn(&[2]), vec![f32::NAN, 0.5]).unwrap());
        assert_eq!(
            convert(f.clone(), DType::Bool).unwrap(),
            TypedArray::Bool(ArrayD::from_shape_vec(IxDyn(&[2]), vec![false, true]).unwrap())
        );
        assert!(convert(f, DType::Uint8).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"II",
            b"II*\0",
            b"MM\0*\0\0\0\x08\0\x01",
            b"not a tiff at all",
            &[0u8; 4096],
        ] {
            let src = Arc::new(MemoryByteSource::new("mem", bytes.to_vec()));
            assert!(
                matches!(Cog::open(src), Err(Error::Tiff { .. })),
                "{bytes:?}"
            );
        }
    }
}
