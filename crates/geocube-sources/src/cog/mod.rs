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
//! [`Cog::overviews`] lists the file's reduced-resolution images as GDAL
//! does, [`Cog::open_overview`] opens one for the same window reads, and
//! [`pick_overview`] chooses one for a coarser read as odc-stac does.
//!
//! A file that ends early or holds garbage gives [`Error::Tiff`]; a body cut
//! short in transit gives a retryable [`Error::Transport`]. Neither ever
//! yields partial pixels.
//!
//! One module per step: [`ByteSource`]s (`byte_source`), the block cache the
//! decoder reads through (`block_cache`), the opened image and its decoder
//! guard (`reader`), the image directory (`ifd`, [`CogInfo`]), window
//! decoding (`window`) and overviews (`overview`, [`OverviewInfo`]).
//!
//! [`Error::Tiff`]: crate::Error::Tiff
//! [`Error::Transport`]: crate::Error::Transport

mod block_cache;
mod byte_source;
mod ifd;
mod overview;
mod reader;
mod window;

pub use self::byte_source::{ByteSource, FileByteSource, HttpByteSource, MemoryByteSource};
pub use self::ifd::CogInfo;
pub use self::overview::{MAX_OVERVIEWS, OverviewInfo, pick_overview};
pub use self::reader::{Cog, DEFAULT_BLOCK_SIZE};
