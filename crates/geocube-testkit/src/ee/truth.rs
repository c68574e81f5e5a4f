//! The ground truth of the emulator's synthetic collections, for tests to
//! compare replies and cubes with at pixel centres.
//!
//! - TCTrend-like, under `users/ingmarnitze/TCTrend_SR_2000-2019_TCVIS`,
//!   `…_2001-2020_TCVIS`, `…_2003-2022_TCVIS` and
//!   `projects/ee-ingmarnitze/assets/TCTrend_SR_2005-2024_TCVIS` (different
//!   values per id): bands `TCB_slope`, `TCG_slope`, `TCW_slope` (u8,
//!   0–255), six images covering the globe (three longitude sectors
//!   split at -60° and 60° times two hemispheres, each grown by 1° so
//!   that neighbours overlap), `system:time_start` Jan 1 of the trend's
//!   first year. Each image masks about 0.4 % of its cells: single cells
//!   (0.2 %) and 3 × 3 clusters (in 1.5 % of 8 × 8 blocks). Where one
//!   image covers a point its holes stay holes in the mosaic; in overlaps
//!   the later image is on top and the earlier one fills its holes.
//! - AlphaEarth-like `GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL`: one image per
//!   year 2017–2024, `system:time_start` Jan 1 00:00 UTC, each global, 64
//!   f32 bands `A00`..`A63` with values in [-1, 1) (multiples of 2⁻²³,
//!   exact in f32); an ocean-like region of long waves (about a sixth of
//!   the globe) is masked in every year, and 0.1 % of cells per year.
//!
//! Values are piecewise constant on the native lattice of [`NATIVE_DEG`]
//! cells anchored at (0°, 0°) (see the `catalog` module): the value at a
//! point is its cell's.

pub use super::catalog::NATIVE_DEG;
use super::catalog::{self, EMBEDDING_ID, TCTREND_IDS};
use super::date::DateRange;
use super::pixel_type::PixelType;

/// The TCTrend ids the emulator serves.
#[must_use]
pub fn tctrend_ids() -> [&'static str; 4] {
    TCTREND_IDS.map(|(id, _)| id)
}

/// The AlphaEarth-like collection's id.
pub const EMBEDDING: &str = EMBEDDING_ID;

/// What a collection holds.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionInfo {
    /// Asset id.
    pub id: String,
    /// Band names and types, in order.
    pub bands: Vec<(String, PixelType)>,
    /// `system:time_start` of each image (ms), in collection order.
    pub image_times_ms: Vec<i64>,
}

/// The collection with this id (also under
/// `projects/earthengine-public/assets/`), `None` if the emulator has
/// none.
#[must_use]
pub fn collection(id: &str) -> Option<CollectionInfo> {
    catalog::find(id).map(|c| CollectionInfo {
        id: c.id.to_owned(),
        bands: c.bands.iter().map(|b| (b.name.clone(), b.ty)).collect(),
        image_times_ms: c.images.iter().map(|i| i.time_start_ms).collect(),
    })
}

/// Every collection's id.
#[must_use]
pub fn collection_ids() -> Vec<&'static str> {
    catalog::all().iter().map(|c| c.id).collect()
}

/// The value of band `band` at `(lon, lat)` (degrees, EPSG:4326) in the
/// mosaic of collection `collection` filtered to the images whose
/// `system:time_start` lies in `time` (all images for `None`), as
/// `ee.ImageCollection(collection).filterDate(...).mosaic()` computes it:
/// per pixel the last image in collection order that covers the point
/// unmasked.
///
/// `None` when the mosaic is masked there, and also for an unknown
/// collection or band (check those with [`collection`]).
#[must_use]
pub fn value(
    collection: &str,
    band: &str,
    time: Option<DateRange>,
    lon: f64,
    lat: f64,
) -> Option<f64> {
    let c = catalog::find(collection)?;
    let b = c.band_index(band)?;
    let images: Vec<usize> = (0..c.images.len())
        .filter(|&i| time.is_none_or(|t| t.contains(c.images[i].time_start_ms)))
        .collect();
    let cell = catalog::cell(lon, lat)?;
    let (_, image) = c.mosaic(&images, &cell);
    let mut out = [0.0];
    c.values(image?, &[b], &cell, &mut out);
    Some(out[0])
}

/// Whether any image of the filtered collection covers `(lon, lat)`: the
/// mosaic's footprint, which `unmask(value, sameFootprint=true)` fills
/// within.
#[must_use]
pub fn covered(collection: &str, time: Option<DateRange>, lon: f64, lat: f64) -> bool {
    let Some(c) = catalog::find(collection) else {
        return false;
    };
    let images: Vec<usize> = (0..c.images.len())
        .filter(|&i| time.is_none_or(|t| t.contains(c.images[i].time_start_ms)))
        .collect();
    catalog::cell(lon, lat).is_some_and(|cell| c.mosaic(&images, &cell).0)
}

/// The native cell `(col, row)` containing `(lon, lat)`: cell `(i, j)`
/// spans lon `[i, i+1) · NATIVE_DEG` and lat `[j, j+1) · NATIVE_DEG`,
/// longitude wrapped into [-180, 180). `None` off the globe.
#[must_use]
pub fn native_cell(lon: f64, lat: f64) -> Option<(i64, i64)> {
    catalog::cell(lon, lat).map(|c| (c.col, c.row))
}
