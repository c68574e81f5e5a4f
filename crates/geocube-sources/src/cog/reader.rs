//! [`Cog`]: one GeoTIFF image opened for window reads, and the guard that
//! turns the decoder's errors and panics into typed errors.

use std::io::{self, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use tiff::decoder::{Decoder, Limits};

use super::block_cache::{BlockCache, CachedReader, ErrorSlot};
use super::byte_source::ByteSource;
use super::ifd::{self, CogInfo};
use super::overview::OverviewInfo;
use crate::error::{Error, Result};

/// Block size of the read cache (bytes per range request for headers).
pub const DEFAULT_BLOCK_SIZE: u64 = 512 << 10;

/// One GeoTIFF image, opened for window reads: the full-resolution image
/// ([`Cog::open`]) or one of its overviews ([`Cog::open_overview`]).
pub struct Cog {
    pub(super) decoder: Decoder<CachedReader>,
    pub(super) error: ErrorSlot,
    pub(super) name: String,
    pub(super) info: CogInfo,
    /// File offset of each chunk, row-major.
    pub(super) offsets: Vec<u64>,
    /// Compressed size of each chunk.
    pub(super) byte_counts: Vec<u64>,
    /// What every image opened on this file shares.
    pub(super) file: Arc<SharedFile>,
    /// `Some(i)` for overview `i`, `None` for the full-resolution image.
    pub(super) level: Option<usize>,
}

/// What the images opened on one file share: its header blocks, the
/// full-resolution image's info and the overviews, once listed.
pub(super) struct SharedFile {
    pub(super) cache: Arc<BlockCache>,
    pub(super) full: CogInfo,
    pub(super) overviews: OnceLock<Vec<OverviewInfo>>,
}

impl std::fmt::Debug for Cog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cog")
            .field("name", &self.name)
            .field("level", &self.level)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Run decoder code, turning panics and errors into [`Error::Tiff`] (or the
/// transport error the reader kept).
pub(super) fn guarded<D, T>(
    decoder: D,
    slot: &ErrorSlot,
    name: &str,
    what: &str,
    f: impl FnOnce(D) -> tiff::TiffResult<T>,
) -> Result<T> {
    let _ = slot.take();
    match catch_unwind(AssertUnwindSafe(|| f(decoder))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(slot.take().unwrap_or_else(|| {
            let reason = format!("{what}: {}", describe(&e));
            Error::tiff(name, reason).caused_by(e)
        })),
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
        let mut reader = CachedReader::new(src, block_size, error.clone());
        // Before the decoder: it allocates from the directory's counts
        // with its default 256 MiB limits, which only apply from here on.
        ifd::check_directory(&mut reader, &error, &name)?;
        let mut decoder = start_decoder(reader, &error, &name)?;
        let layout = ifd::read_layout(&mut decoder, &error, &name)?;
        let georef = ifd::read_georef(&mut decoder, &error, &name)?;
        let nodata = ifd::read_nodata(&mut decoder, &error, &name)?;
        let info = CogInfo::of(&layout, georef, nodata, decoder.inner().total);
        let file = Arc::new(SharedFile {
            cache: Arc::clone(decoder.inner().cache()),
            full: info.clone(),
            overviews: OnceLock::new(),
        });
        Ok(Cog {
            decoder,
            error,
            name,
            info,
            offsets: layout.offsets,
            byte_counts: layout.byte_counts,
            file,
            level: None,
        })
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
}

/// Start a decoder on `reader` from the header (it reads the first
/// directory), with geocube's chunk limit.
pub(super) fn start_decoder(
    mut reader: CachedReader,
    error: &ErrorSlot,
    name: &str,
) -> Result<Decoder<CachedReader>> {
    reader.seek(SeekFrom::Start(0)).map_err(|e| {
        error
            .take()
            .unwrap_or_else(|| Error::tiff(name, format!("seeking to the header: {e}")))
    })?;
    let mut limits = Limits::default();
    limits.decoding_buffer_size = ifd::MAX_CHUNK_BYTES;
    Ok(guarded(reader, error, name, "not a readable TIFF", Decoder::new)?.with_limits(limits))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cog::MemoryByteSource;

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

    #[test]
    fn decoder_errors_keep_their_source() {
        let src = Arc::new(MemoryByteSource::new("mem", b"not a tiff at all".to_vec()));
        let err = Cog::open(src).unwrap_err();
        let source = std::error::Error::source(&err).unwrap();
        assert!(
            matches!(
                source.downcast_ref::<crate::error::Cause>(),
                Some(crate::error::Cause::Decoder(_))
            ),
            "{source:?}"
        );
    }
}
