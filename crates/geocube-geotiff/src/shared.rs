//! [`CogWriter::write_shared_blocks`]: a tiled GeoTIFF whose blocks are
//! drawn from a few distinct ones.
//!
//! Why it exists: fixtures the size of ArcticDEM's 2 m mosaic tiles
//! (25000² float32, 2.5 GB per band) must be cheap to make and to store.
//! TIFF does not require a block's bytes to be its own: several
//! `TileOffsets` entries may point at the same bytes, and GDAL, libtiff and
//! the `tiff` crate read such a file like any other. A band made of a dozen
//! distinct blocks is then a few megabytes on disk, is compressed a dozen
//! times, and is never held whole in memory.
//!
//! Such a file is not a COG in GDAL's sense (its blocks are not in
//! row-major order, and it has no overviews), so it carries no COG ghost
//! area and `gdalinfo` does not report `LAYOUT=COG`.

use std::io::{BufWriter, Write};

use rayon::prelude::*;

use crate::error::{Error, Result};
use tiff::tags::Tag;

use crate::layout::{Entry, assemble_shared, compress_block};
use crate::sample::Sample;
use crate::writer::CogWriter;

impl CogWriter {
    /// Writes a `width × height` band tiled in `block_size²` blocks where
    /// block `i` (row-major, `blocks.len()` = blocks across × blocks down)
    /// is `distinct[blocks[i]]`, each distinct block stored once and shared
    /// by every position that uses it. A distinct block holds
    /// `block_size²` samples, row-major; where a block sticks out of the
    /// image (the last row and column of blocks, unless the size is a
    /// multiple of the block size) its outer samples are padding, as in any
    /// tiled TIFF. Returns the number of bytes written.
    ///
    /// Georeferencing, CRS, nodata and block size are this writer's; no
    /// overviews are written whatever [`CogWriter::overviews`] says, and no
    /// COG ghost area (see the module docs). Deterministic, like
    /// [`CogWriter::write`].
    ///
    /// ```
    /// use geocube_geotiff::{CogWriter, CrsKind};
    ///
    /// # fn main() -> geocube_geotiff::Result<()> {
    /// // 100 × 40 pixels in 32² blocks: 4 × 2 blocks, made of two distinct ones.
    /// let land = vec![12.5f32; 32 * 32];
    /// let sea = vec![-9999.0f32; 32 * 32];
    /// let mut file = Vec::new();
    /// let len = CogWriter::new(100, 40)
    ///     .geotransform([0.0, 2.0, 0.0, 80.0, 0.0, -2.0])
    ///     .epsg(3413, CrsKind::Projected)
    ///     .nodata(-9999.0)
    ///     .block_size(32)
    ///     .write_shared_blocks(&[&land, &sea], &[0, 0, 1, 1, 0, 1, 1, 1], &mut file)?;
    /// assert_eq!(len, file.len() as u64);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::EmptyImage`], [`Error::BlockSize`], [`Error::Geotransform`],
    /// [`Error::Epsg`], [`Error::Citation`] or [`Error::Nodata`] for invalid
    /// options; [`Error::BlockCount`], [`Error::BlockLength`] or
    /// [`Error::BlockIndex`] when `blocks` and `distinct` do not describe
    /// the image; [`Error::TooLarge`] past 4 GiB; all before anything is
    /// written. [`Error::Io`] when `out` fails.
    pub fn write_shared_blocks<T: Sample, W: Write>(
        &self,
        distinct: &[&[T]],
        blocks: &[usize],
        out: W,
    ) -> Result<u64> {
        let (width, height, block) = self.dimensions();
        let checked = self.check::<T>()?;
        let expected = width.div_ceil(block) as usize * height.div_ceil(block) as usize;
        if blocks.len() != expected {
            return Err(Error::BlockCount {
                width,
                height,
                block,
                expected,
                actual: blocks.len(),
            });
        }
        let samples = block as usize * block as usize;
        if let Some((index, d)) = distinct
            .iter()
            .enumerate()
            .find(|(_, d)| d.len() != samples)
        {
            return Err(Error::BlockLength {
                index,
                expected: samples,
                actual: d.len(),
            });
        }
        if let Some(&index) = blocks.iter().find(|&&i| i >= distinct.len()) {
            return Err(Error::BlockIndex {
                index,
                distinct: distinct.len(),
            });
        }
        // Every distinct block is whole, so the fill is never used.
        let fill = checked.fill();
        let b = block as usize;
        let compressed: Vec<Vec<u8>> = distinct
            .par_iter()
            .map(|d| compress_block(d.chunks(b), block, fill))
            .collect();
        let file = assemble_shared(compressed, blocks, |offsets, counts| {
            self.image_entries(
                &checked,
                (width, height),
                Entry::longs(Tag::TileOffsets, offsets),
                Entry::longs(Tag::TileByteCounts, counts),
                false,
            )
        })?;
        let mut out = BufWriter::new(out);
        file.write_to(&mut out)?;
        out.flush()?;
        Ok(file.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_positions_must_describe_the_image() {
        let w = CogWriter::new(40, 20).block_size(16);
        let a = vec![1u8; 256];
        let short = vec![1u8; 255];
        let sink = std::io::sink();
        // 3 × 2 blocks.
        assert!(matches!(
            w.write_shared_blocks(&[&a], &[0; 5], sink),
            Err(Error::BlockCount {
                expected: 6,
                actual: 5,
                ..
            })
        ));
        assert!(matches!(
            w.write_shared_blocks(&[&a, &short], &[0; 6], std::io::sink()),
            Err(Error::BlockLength {
                index: 1,
                expected: 256,
                actual: 255
            })
        ));
        assert!(matches!(
            w.write_shared_blocks(&[&a], &[0, 0, 1, 0, 0, 0], std::io::sink()),
            Err(Error::BlockIndex {
                index: 1,
                distinct: 1
            })
        ));
        assert!(matches!(
            CogWriter::new(0, 3).write_shared_blocks::<u8, _>(&[], &[], std::io::sink()),
            Err(Error::EmptyImage { .. })
        ));
    }

    #[test]
    fn shared_bytes_are_stored_once() {
        let (a, b) = (vec![3u16; 256], vec![7u16; 256]);
        let w = CogWriter::new(64, 64).block_size(16);
        let mut one = Vec::new();
        let mut many = Vec::new();
        let n1 = w.write_shared_blocks(&[&a, &b], &[0; 16], &mut one);
        let n2 = w.write_shared_blocks(&[&a, &b], &[0, 1].repeat(8), &mut many);
        assert_eq!(n1.ok(), Some(one.len() as u64));
        assert_eq!(n2.ok(), Some(many.len() as u64));
        // Same distinct blocks, same size, whatever the arrangement.
        assert_eq!(one.len(), many.len());
        assert_ne!(one, many);
    }
}
