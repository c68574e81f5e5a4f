//! The one error type of the crate.

use crate::sample::SampleType;

/// Why a COG could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image has no pixels.
    #[error("the image is {width} × {height} pixels; both sides must be at least 1")]
    EmptyImage {
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
    },
    /// The pixel slice does not hold `width × height` samples.
    #[error(
        "got {actual} samples for a {width} × {height} image, which needs {expected}; \
         pass the band row-major without padding"
    )]
    DataLength {
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
        /// `width × height`.
        expected: u64,
        /// Length of the slice given.
        actual: usize,
    },
    /// The block size is not usable as a TIFF tile size.
    #[error(
        "block size {0} is invalid: use a multiple of 16 from 16 to 4096 (256 and 512 are usual)"
    )]
    BlockSize(u32),
    /// The geotransform is not north-up or not finite.
    #[error("geotransform {geotransform:?} is not supported: {reason}")]
    Geotransform {
        /// The six GDAL geotransform coefficients given.
        geotransform: [f64; 6],
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The EPSG code cannot be stored in a GeoKey.
    #[error(
        "EPSG code {0} cannot be written to a GeoTIFF key: it must be 1 to 65535 and not 32767 (user-defined)"
    )]
    Epsg(u32),
    /// The citation cannot be stored in the GeoAsciiParams tag.
    #[error("CRS citation {citation:?} is invalid: {reason}")]
    Citation {
        /// The citation given.
        citation: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The nodata value is not a value of the band's sample type.
    #[error("nodata value {nodata} is not exactly representable as {sample_type:?}")]
    Nodata {
        /// The nodata value given.
        nodata: f64,
        /// The band's sample type.
        sample_type: SampleType,
    },
    /// The block positions of a shared-block band do not match the image.
    #[error(
        "a {width} × {height} image in {block}² blocks has {expected} blocks, but {actual} block positions were given"
    )]
    BlockCount {
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
        /// Block size.
        block: u32,
        /// Blocks across × blocks down.
        expected: usize,
        /// Positions given.
        actual: usize,
    },
    /// A distinct block of a shared-block band is not one block of samples.
    #[error("distinct block {index} has {actual} samples; a block needs {expected}")]
    BlockLength {
        /// Which distinct block.
        index: usize,
        /// `block_size²`.
        expected: usize,
        /// Its length.
        actual: usize,
    },
    /// A block position names a distinct block that was not given.
    #[error("a block position names distinct block {index}, but only {distinct} were given")]
    BlockIndex {
        /// The index named.
        index: usize,
        /// Distinct blocks given.
        distinct: usize,
    },
    /// The file would exceed the 4 GiB a classic TIFF can address.
    #[error(
        "the file would be {bytes} bytes, more than classic TIFF's 4 GiB limit; \
         write smaller tiles of the raster, or stream it (`CogWriter::stream` \
         switches to BigTIFF when needed)"
    )]
    TooLarge {
        /// Size the file would have (at least).
        bytes: u64,
    },
    /// A streamed image with more tiles than a TIFF can list.
    #[error("the image would have {tiles} tiles, more than 2^32; use a larger block size")]
    TooManyTiles {
        /// Tiles across times tiles down.
        tiles: u64,
    },
    /// A tile position outside the image.
    #[error("tile ({col}, {row}) is outside the image's {across} x {down} tiles")]
    TileOutOfRange {
        /// Tile column asked for.
        col: u32,
        /// Tile row asked for.
        row: u32,
        /// Tiles across the image.
        across: u32,
        /// Tiles down the image.
        down: u32,
    },
    /// A compressed tile written where a tile of another shape goes.
    #[error(
        "tile ({col}, {row}) is {expected:?} (width, height) px but the tile given was compressed as {actual:?}"
    )]
    TileShape {
        /// Tile column.
        col: u32,
        /// Tile row.
        row: u32,
        /// The shape of that tile.
        expected: (u32, u32),
        /// The shape the tile was compressed with.
        actual: (u32, u32),
    },
    /// A tile written a second time.
    #[error("tile ({col}, {row}) was already written; each tile is written once")]
    TileWrittenTwice {
        /// Tile column.
        col: u32,
        /// Tile row.
        row: u32,
    },
    /// Writing to the output failed.
    #[error("writing the COG failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
