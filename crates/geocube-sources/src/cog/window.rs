//! Decoding a window: fetch the byte ranges of the chunks (tiles or strips)
//! that overlap it in few coalesced requests, decode each and copy its
//! overlap into the output array.

use geocube_core::{TypedArray, Window};
use ndarray::ArrayD;
use tiff::decoder::DecodingResult;

use super::ifd::{CogInfo, chunk_bytes};
use super::reader::{Cog, guarded};
use crate::error::{Error, Result};

impl Cog {
    /// Decode the pixels of `window` (of this image: the full-resolution
    /// one, or the overview [`Cog::open_overview`] opened) into an array of
    /// shape `(height, width)` of the image's sample type. Only the chunks
    /// overlapping the window are fetched and decoded.
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
        // A compressed chunk is never much larger than the decoded one (LZW,
        // the worst of the codecs read, grows incompressible data by half):
        // a larger byte count is corrupt, and fetching it would hold up to
        // 4 GiB of the file per chunk.
        let max_count = 2 * chunk_bytes((cw, ch), dtype) + (64 << 10);
        let mut ranges = Vec::with_capacity(chunks.len());
        for &(cy, cx) in &chunks {
            let i = cy * across + cx;
            let (offset, count) = (self.offsets[i], self.byte_counts[i]);
            if count > max_count {
                return Err(Error::tiff(
                    &self.name,
                    format!(
                        "chunk {i} announces {count} compressed bytes, more than twice its {cw}×{ch} {dtype:?} samples"
                    ),
                ));
            }
            ranges.push((offset, count));
        }
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

    /// Decode the whole image.
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
