//! The `Source` trait: what the accessor needs from a data source.

use geocube_backend::DownloadError;
use geocube_core::{Aoi, CubeSpec, Patch, PatchRef, Toi};

use crate::Result;

/// A remote dataset that fills a cube patch by patch.
///
/// `touching_patches` says which source patches touch an area and time;
/// `download` fetches one of them onto the cube grid (it is the backend's
/// download function). Implementations are cheap to share between threads.
pub trait Source: Send + Sync + 'static {
    /// The cube this source fills: grid, time axis, channels, chunking, codec.
    fn spec(&self) -> &CubeSpec;

    /// Every source patch whose footprint touches `aoi` (any CRS) at `toi`.
    ///
    /// # Errors
    /// Index or API failures, an AOI that cannot be reprojected.
    fn touching_patches(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>>;

    /// Download one patch, on the cube's pixel lattice, cropped to the cube.
    ///
    /// # Errors
    /// [`DownloadError`] saying whether a retry may help.
    fn download(&self, idx: &PatchRef) -> std::result::Result<Patch, DownloadError>;

    /// The index entries (footprint in EPSG:4326, time) of the given patch
    /// ids, for `current_state`; ids the source does not know are left out.
    ///
    /// # Errors
    /// Index or API failures.
    fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>>;
}
