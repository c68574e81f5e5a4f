//! [`TileWriter`]: a tiled GeoTIFF written one tile at a time, for bands
//! larger than memory.
//!
//! A COG cannot be written that way: its overviews are computed from the
//! whole band and its layout puts them, and every IFD, before the
//! full-resolution tiles. This file is what GDAL writes with `TILED=YES`
//! instead: a header, the tiles in the order they come (each compressed on
//! its own, as in a COG), then the one IFD, whose offset is patched into
//! the header at the end. Memory is one tile plus the tile offsets. Past
//! 4 GiB it is a BigTIFF. `gdaladdo` adds overviews afterwards, and
//! `gdal_translate -of COG` makes it a COG, if wanted.
//!
//! Tiles written with [`TileWriter::write_shared`] (and those `finish`
//! fills) share one copy of identical bytes: a band that is mostly fill
//! costs a few kilobytes for its empty part rather than a compressed tile
//! for each. TIFF locates every tile by its own offset and count and says
//! nothing against two tiles pointing at the same bytes; libtiff, GDAL and
//! the `tiff` crate read them (the tests check all three).

use std::collections::HashMap;
use std::io::{BufWriter, Seek, SeekFrom, Write};

use tiff::tags::Tag;

use crate::error::{Error, Result};
use crate::layout::{Entry, TiffFormat, compress_block, ifd_bytes, ifd_size};
use crate::sample::Sample;
use crate::writer::{Checked, CogWriter};

/// One tile compressed by [`TileWriter::encode_tile`], ready for
/// [`TileWriter::write_encoded`] at any position whose tile has its shape
/// (so one fill tile can be written many times).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedTile {
    bytes: Vec<u8>,
    shape: (u32, u32),
}

impl EncodedTile {
    /// Width and height of the image part of the tile (edge tiles are cut).
    #[must_use]
    pub fn shape(&self) -> (u32, u32) {
        self.shape
    }

    /// Compressed size in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the tile holds no bytes (never: a compressed tile has a header).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Writes one band as a tiled GeoTIFF, tile by tile; made by
/// [`CogWriter::stream`] with the options of that writer (georeferencing,
/// nodata, block size; overviews and resampling do not apply).
///
/// Tiles may come in any order, each once; [`finish`](Self::finish) fills
/// those never written with the nodata value (or 0) and writes the IFD.
/// A writer dropped before `finish` leaves an incomplete file.
///
/// ```
/// use geocube_geotiff::{CogWriter, CrsKind};
///
/// # fn main() -> geocube_geotiff::Result<()> {
/// let mut file = std::io::Cursor::new(Vec::new());
/// let mut tiles = CogWriter::new(40, 20)
///     .geotransform([500_000.0, 10.0, 0.0, 7_000_000.0, 0.0, -10.0])
///     .epsg(32633, CrsKind::Projected)
///     .block_size(32)
///     .nodata(-1.0)
///     .stream::<f32, _>(&mut file)?;
/// assert_eq!(tiles.tiles(), (2, 1));
/// assert_eq!(tiles.tile_shape(1, 0), Some((8, 20)));
/// tiles.write_tile(1, 0, &[2.5f32; 8 * 20])?; // tile (0, 0) is left as nodata
/// let len = tiles.finish()?;
/// assert_eq!(len, file.get_ref().len() as u64);
/// # Ok(())
/// # }
/// ```
pub struct TileWriter<T: Sample, W: Write + Seek> {
    out: BufWriter<W>,
    options: CogWriter,
    checked: Checked<T>,
    format: TiffFormat,
    across: u32,
    down: u32,
    /// Where each tile's bytes start and how many; 0 bytes: not written yet
    /// (a compressed tile is never empty).
    offsets: Vec<u64>,
    counts: Vec<u64>,
    /// Bytes written so far.
    pos: u64,
    /// Where the one copy of each tile written shared lies.
    shared: HashMap<Vec<u8>, u64>,
}

impl CogWriter {
    /// A [`TileWriter`] of this writer's band on `out`: classic TIFF when
    /// the file cannot outgrow 4 GiB whatever the pixels, BigTIFF otherwise.
    ///
    /// # Errors
    /// As [`CogWriter::write`] for invalid options (checked here, before
    /// anything is written); [`Error::TooManyTiles`] past 2³² tiles;
    /// [`Error::Io`] when `out` fails.
    pub fn stream<T: Sample, W: Write + Seek>(&self, out: W) -> Result<TileWriter<T, W>> {
        let format = if self.worst_case_len::<T>() <= u64::from(u32::MAX) {
            TiffFormat::Classic
        } else {
            TiffFormat::BigTiff
        };
        self.stream_as(format, out)
    }

    /// [`CogWriter::stream`] in the given file format.
    ///
    /// # Errors
    /// As [`CogWriter::stream`]; a classic file that grows past 4 GiB fails
    /// with [`Error::TooLarge`] when the tile that crosses it is written.
    pub fn stream_as<T: Sample, W: Write + Seek>(
        &self,
        format: TiffFormat,
        out: W,
    ) -> Result<TileWriter<T, W>> {
        let checked = self.check::<T>()?;
        let (width, height) = self.size();
        let block = self.block();
        let (across, down) = (width.div_ceil(block), height.div_ceil(block));
        let tiles = u64::from(across) * u64::from(down);
        let n = usize::try_from(tiles)
            .ok()
            .filter(|_| tiles <= u64::from(u32::MAX))
            .ok_or(Error::TooManyTiles { tiles })?;
        let offsets = zeroed(n)?;
        let counts = zeroed(n)?;
        let mut out = BufWriter::new(out);
        // The IFD offset (0 for now) is patched in by `finish`.
        let header: &[u8] = match format {
            TiffFormat::Classic => b"II\x2a\x00\x00\x00\x00\x00",
            TiffFormat::BigTiff => b"II\x2b\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        };
        out.write_all(header)?;
        Ok(TileWriter {
            out,
            options: self.clone(),
            checked,
            format,
            across,
            down,
            offsets,
            counts,
            pos: header.len() as u64,
            shared: HashMap::new(),
        })
    }

    /// The largest file a stream of this band can make: every tile
    /// incompressible (zlib adds at most 5 bytes per 16 KiB stored block
    /// and 6 of its own; a thousandth plus 64 bytes covers both), plus
    /// header and IFD.
    fn worst_case_len<T: Sample>(&self) -> u64 {
        let (width, height) = self.size();
        let block = u64::from(self.block());
        let tiles =
            u64::from(width.div_ceil(self.block())) * u64::from(height.div_ceil(self.block()));
        let raw = block * block * u64::from(T::TYPE.bits_per_sample() / 8);
        let per_tile = raw + raw / 1000 + 64 + 16; // + its offset and count
        tiles.saturating_mul(per_tile).saturating_add(64 << 10)
    }
}

/// A vector of `n` zeros, or an error rather than an abort when it cannot
/// be allocated.
fn zeroed(n: usize) -> Result<Vec<u64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("cannot hold the offsets of {n} tiles"),
        ))
    })?;
    v.resize(n, 0);
    Ok(v)
}

impl<T: Sample, W: Write + Seek> TileWriter<T, W> {
    /// The file format being written.
    #[must_use]
    pub fn format(&self) -> TiffFormat {
        self.format
    }

    /// Tiles across and down.
    #[must_use]
    pub fn tiles(&self) -> (u32, u32) {
        (self.across, self.down)
    }

    /// The tile size (square).
    #[must_use]
    pub fn block_size(&self) -> u32 {
        self.options.block()
    }

    /// Width and height of the image part of tile (`col`, `row`): the block
    /// size, less at the right and bottom edges. `None` outside the image.
    #[must_use]
    pub fn tile_shape(&self, col: u32, row: u32) -> Option<(u32, u32)> {
        if col >= self.across || row >= self.down {
            return None;
        }
        let (width, height) = self.options.size();
        let b = self.block_size();
        Some((b.min(width - col * b), b.min(height - row * b)))
    }

    /// Compresses tile (`col`, `row`) from `data`, its image part row-major
    /// ([`tile_shape`](Self::tile_shape) samples, without padding). Takes
    /// `&self`: tiles can be compressed on several threads, then written.
    ///
    /// # Errors
    /// [`Error::TileOutOfRange`]; [`Error::DataLength`] when `data` is not
    /// the tile's size.
    pub fn encode_tile(&self, col: u32, row: u32, data: &[T]) -> Result<EncodedTile> {
        let shape = self.shape_of(col, row)?;
        let (w, h) = shape;
        let expected = u64::from(w) * u64::from(h);
        if data.len() as u64 != expected {
            return Err(Error::DataLength {
                width: w,
                height: h,
                expected,
                actual: data.len(),
            });
        }
        Ok(self.compress(data, shape))
    }

    /// Writes a compressed tile at (`col`, `row`).
    ///
    /// # Errors
    /// [`Error::TileOutOfRange`]; [`Error::TileShape`] when the tile was
    /// compressed for another shape; [`Error::TileWrittenTwice`];
    /// [`Error::TooLarge`] when a classic file would pass 4 GiB;
    /// [`Error::Io`].
    pub fn write_encoded(&mut self, col: u32, row: u32, tile: &EncodedTile) -> Result<()> {
        let shape = self.shape_of(col, row)?;
        if tile.shape != shape {
            return Err(Error::TileShape {
                col,
                row,
                expected: shape,
                actual: tile.shape,
            });
        }
        let i = self.index(col, row);
        if self.counts[i] != 0 {
            return Err(Error::TileWrittenTwice { col, row });
        }
        let len = tile.bytes.len() as u64;
        let end = self.pos + len;
        if self.format == TiffFormat::Classic && end > u64::from(u32::MAX) {
            return Err(Error::TooLarge { bytes: end });
        }
        self.out.write_all(&tile.bytes)?;
        self.offsets[i] = self.pos;
        self.counts[i] = len;
        self.pos = end;
        Ok(())
    }

    /// Writes a compressed tile at (`col`, `row`), its bytes only the first
    /// time: later tiles written shared with the same bytes point at that
    /// copy. For the fill tiles of a mostly empty band.
    ///
    /// # Errors
    /// As [`write_encoded`](Self::write_encoded).
    pub fn write_shared(&mut self, col: u32, row: u32, tile: &EncodedTile) -> Result<()> {
        let Some(&offset) = self.shared.get(&tile.bytes) else {
            self.write_encoded(col, row, tile)?;
            let i = self.index(col, row);
            self.shared.insert(tile.bytes.clone(), self.offsets[i]);
            return Ok(());
        };
        let shape = self.shape_of(col, row)?;
        if tile.shape != shape {
            return Err(Error::TileShape {
                col,
                row,
                expected: shape,
                actual: tile.shape,
            });
        }
        let i = self.index(col, row);
        if self.counts[i] != 0 {
            return Err(Error::TileWrittenTwice { col, row });
        }
        self.offsets[i] = offset;
        self.counts[i] = tile.bytes.len() as u64;
        Ok(())
    }

    /// [`encode_tile`](Self::encode_tile) then
    /// [`write_encoded`](Self::write_encoded).
    ///
    /// # Errors
    /// As those two.
    pub fn write_tile(&mut self, col: u32, row: u32, data: &[T]) -> Result<()> {
        let tile = self.encode_tile(col, row, data)?;
        self.write_encoded(col, row, &tile)
    }

    /// Fills the tiles never written with nodata (or 0), one shared copy
    /// per tile shape, writes the IFD and returns the size of the file.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when a classic file would pass 4 GiB;
    /// [`Error::Io`].
    pub fn finish(mut self) -> Result<u64> {
        let fill = self.checked.fill();
        let mut fills: HashMap<(u32, u32), EncodedTile> = HashMap::new();
        for row in 0..self.down {
            for col in 0..self.across {
                if self.counts[self.index(col, row)] != 0 {
                    continue;
                }
                let shape = self.shape_of(col, row)?;
                let tile = fills.entry(shape).or_insert_with(|| {
                    let n = shape.0 as usize * shape.1 as usize;
                    self.compress(&vec![fill; n], shape)
                });
                let tile = tile.clone();
                self.write_shared(col, row, &tile)?;
            }
        }
        // An IFD starts on a word boundary.
        if !self.pos.is_multiple_of(2) {
            self.out.write_all(&[0])?;
            self.pos += 1;
        }
        let (offsets, counts) = match self.format {
            TiffFormat::Classic => {
                let narrow = |v: &[u64]| -> Result<Vec<u32>> {
                    v.iter()
                        .map(|&x| u32::try_from(x).map_err(|_| Error::TooLarge { bytes: x }))
                        .collect()
                };
                (
                    Entry::longs(Tag::TileOffsets, &narrow(&self.offsets)?),
                    Entry::longs(Tag::TileByteCounts, &narrow(&self.counts)?),
                )
            }
            TiffFormat::BigTiff => (
                Entry::long8s(Tag::TileOffsets, &self.offsets),
                Entry::long8s(Tag::TileByteCounts, &self.counts),
            ),
        };
        let entries =
            self.options
                .image_entries(&self.checked, self.options.size(), offsets, counts, false);
        let ifd_at = self.pos;
        let len = ifd_at + ifd_size(&entries, self.format);
        if self.format == TiffFormat::Classic && len > u64::from(u32::MAX) {
            return Err(Error::TooLarge { bytes: len });
        }
        self.out
            .write_all(&ifd_bytes(&entries, ifd_at, 0, self.format))?;
        match self.format {
            TiffFormat::Classic => {
                self.out.seek(SeekFrom::Start(4))?;
                let at = u32::try_from(ifd_at).map_err(|_| Error::TooLarge { bytes: ifd_at })?;
                self.out.write_all(&at.to_le_bytes())?;
            }
            TiffFormat::BigTiff => {
                self.out.seek(SeekFrom::Start(8))?;
                self.out.write_all(&ifd_at.to_le_bytes())?;
            }
        }
        self.out.seek(SeekFrom::Start(len))?;
        self.out.flush()?;
        Ok(len)
    }

    fn shape_of(&self, col: u32, row: u32) -> Result<(u32, u32)> {
        self.tile_shape(col, row).ok_or(Error::TileOutOfRange {
            col,
            row,
            across: self.across,
            down: self.down,
        })
    }

    fn index(&self, col: u32, row: u32) -> usize {
        row as usize * self.across as usize + col as usize
    }

    fn compress(&self, data: &[T], shape: (u32, u32)) -> EncodedTile {
        let rows = data.chunks(shape.0.max(1) as usize);
        EncodedTile {
            bytes: compress_block(rows, self.block_size(), self.checked.fill()),
            shape,
        }
    }
}
