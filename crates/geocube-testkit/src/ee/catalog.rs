//! The synthetic collections the emulator serves, deterministic and built
//! in: a TCTrend-like collection under the four real TCTrend ids and an
//! AlphaEarth-like `GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL`.
//!
//! Every image is piecewise constant on one native lattice of
//! [`NATIVE_DEG`] (10 m at the equator) square cells in EPSG:4326, with
//! cell edges at integer multiples of [`NATIVE_DEG`] from (0°, 0°). Its
//! footprint, mask and values are functions of the cell alone (a
//! footprint is tested at the cell's centre), so a pixel's value is the
//! value of the native cell containing its centre: Earth Engine's nearest
//! resampling. The cube grids of 0.00026949458523585647° (30 m) and
//! 8.98315284e-05° (10 m) anchored at 0° put every pixel centre half a
//! native cell from the nearest cell edge, so rounding never changes
//! which cell a centre falls in.
//!
//! Values and masks come from a hash of the image's seed and the cell
//! index: no storage, any window in any order, and every native cell
//! differs from its neighbours, so an off-by-one grid shows.

use std::sync::OnceLock;

use super::date::jan_first_ms;
use super::pixel_type::PixelType;
use crate::terrain::{splitmix64, unit};

/// Side of a native lattice cell in degrees: 10 m at the equator
/// (`10 / (2π · 6378137 / 360)`), a third of the 30 m cube resolution
/// 0.00026949458523585647°.
pub const NATIVE_DEG: f64 = 8.983_152_841_195_214e-5;

/// The TCTrend ids (`users/…` and `projects/…` as Earth Engine names them)
/// and the first year of each trend, also their images' `system:time_start`.
pub(crate) const TCTREND_IDS: [(&str, i32); 4] = [
    ("users/ingmarnitze/TCTrend_SR_2000-2019_TCVIS", 2000),
    ("users/ingmarnitze/TCTrend_SR_2001-2020_TCVIS", 2001),
    ("users/ingmarnitze/TCTrend_SR_2003-2022_TCVIS", 2003),
    (
        "projects/ee-ingmarnitze/assets/TCTrend_SR_2005-2024_TCVIS",
        2005,
    ),
];

/// The AlphaEarth-like annual embedding collection.
pub(crate) const EMBEDDING_ID: &str = "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL";
/// Its years, one image each.
const EMBEDDING_YEARS: std::ops::RangeInclusive<i32> = 2017..=2024;
/// Its bands `A00`..`A63`.
const EMBEDDING_BANDS: usize = 64;

/// Earth Engine's public catalog prefix: `projects/earthengine-public/assets/X`
/// names the same asset as `X`.
const PUBLIC_PREFIX: &str = "projects/earthengine-public/assets/";

/// Degrees by which the TCTrend sectors overlap their neighbours.
const TCTREND_OVERLAP_DEG: f64 = 1.0;
/// Probability that a TCTrend cell is masked on its own...
const TCTREND_SINGLE_MASKED: f64 = 0.002;
/// ...and side (cells) of the blocks of which this fraction...
const CLUSTER_BLOCK: i64 = 8;
const CLUSTER_PROBABILITY: f64 = 0.015;
/// ...hold a masked cluster of cells `[CLUSTER_CELLS)²` of the block
/// (3 × 3): about 0.2 % more, 0.4 % masked in all.
const CLUSTER_CELLS: std::ops::Range<i64> = 2..5;
/// Probability that an embedding cell is masked in one year (besides the
/// ocean, masked in all years).
const EMBEDDING_SINGLE_MASKED: f64 = 0.001;

/// One band of a collection.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Band {
    pub(crate) name: String,
    pub(crate) ty: PixelType,
}

/// A lon/lat box; `west` may be below -180 for a box across the
/// antimeridian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Footprint {
    pub(crate) west: f64,
    pub(crate) south: f64,
    pub(crate) east: f64,
    pub(crate) north: f64,
}

impl Footprint {
    /// Whether the box holds `(lon, lat)`, `lon` in [-180, 180) (a cell
    /// centre). Comparisons only: this runs per pixel and image.
    fn contains(&self, lon: f64, lat: f64) -> bool {
        let within = |l: f64| l >= self.west && l < self.east;
        lat >= self.south
            && lat < self.north
            && (within(lon) || within(lon + 360.0) || within(lon - 360.0))
    }

    /// Whether the box shares points with the box `[w, s, e, n]` (no
    /// wrapping: the caller's box is in -180..180 or shifted by 360).
    pub(crate) fn intersects(&self, [w, s, e, n]: [f64; 4]) -> bool {
        if s > self.north || n < self.south {
            return false;
        }
        if self.east - self.west >= 360.0 {
            return true;
        }
        [-360.0, 0.0, 360.0]
            .iter()
            .any(|shift| w <= self.east + shift && e >= self.west + shift)
    }
}

/// One image of a collection.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ImageSpec {
    pub(crate) time_start_ms: i64,
    pub(crate) footprint: Footprint,
    seed: u64,
}

/// How a collection masks its images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pattern {
    /// Scattered cells and small clusters, per image; u8 values.
    TcTrend,
    /// An ocean masked in every image plus scattered cells per image;
    /// f32 values in [-1, 1).
    Embedding,
}

/// A synthetic image collection.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Collection {
    pub(crate) id: &'static str,
    pub(crate) bands: Vec<Band>,
    /// In collection order (what `mosaic` stacks, last on top).
    pub(crate) images: Vec<ImageSpec>,
    pattern: Pattern,
}

/// A native lattice cell: its index and centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cell {
    pub(crate) col: i64,
    pub(crate) row: i64,
    lon: f64,
    lat: f64,
}

/// The native cell containing `(lon, lat)`, longitude wrapped into
/// [-180, 180); `None` off the globe (|lat| > 90, or not finite).
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn cell(lon: f64, lat: f64) -> Option<Cell> {
    if !lon.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return None;
    }
    let lon = if (-180.0..180.0).contains(&lon) {
        lon
    } else {
        (lon + 180.0).rem_euclid(360.0) - 180.0
    };
    let col = (lon / NATIVE_DEG).floor() as i64;
    let row = (lat / NATIVE_DEG).floor() as i64;
    #[allow(clippy::cast_precision_loss)]
    Some(Cell {
        col,
        row,
        lon: (col as f64 + 0.5) * NATIVE_DEG,
        lat: (row as f64 + 0.5) * NATIVE_DEG,
    })
}

/// A hash of a cell under `seed`: one SplitMix64 round of the index spread
/// by two odd constants (this runs several times per pixel).
#[allow(clippy::cast_sign_loss)]
fn cell_hash(seed: u64, col: i64, row: i64) -> u64 {
    splitmix64(
        seed ^ (col as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (row as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
    )
}

/// FNV-1a of an id: the seed of its collection.
fn id_seed(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether an embedding cell is ocean: a smooth field of long waves, about
/// a sixth of the globe, the same in every year.
fn ocean(cell: &Cell) -> bool {
    let (l, p) = (cell.lon.to_radians(), cell.lat.to_radians());
    (2.0 * l + 2.1).sin() * (3.0 * p - 0.2).cos() + 0.35 * (7.0 * l - 5.0 * p + 0.9).sin() > 0.55
}

impl Collection {
    fn tctrend(id: &'static str, first_year: i32) -> Self {
        let seed = id_seed(id);
        let bands = ["TCB_slope", "TCG_slope", "TCW_slope"]
            .map(|name| Band {
                name: name.to_owned(),
                ty: PixelType::U8,
            })
            .to_vec();
        // Three longitude sectors times two hemispheres, each grown by the
        // overlap: every point of the globe is in one to four images.
        let mut images = Vec::new();
        for (k, (south, north)) in [(-90.0, 0.0), (0.0, 90.0)].into_iter().enumerate() {
            for (m, (west, east)) in [(-180.0, -60.0), (-60.0, 60.0), (60.0, 180.0)]
                .into_iter()
                .enumerate()
            {
                let o = TCTREND_OVERLAP_DEG;
                images.push(ImageSpec {
                    time_start_ms: jan_first_ms(first_year),
                    footprint: Footprint {
                        west: west - o,
                        south: f64::max(south - o, -90.0),
                        east: east + o,
                        north: f64::min(north + o, 90.0),
                    },
                    seed: splitmix64(seed ^ (k * 3 + m) as u64),
                });
            }
        }
        Self {
            id,
            bands,
            images,
            pattern: Pattern::TcTrend,
        }
    }

    fn embedding() -> Self {
        let seed = id_seed(EMBEDDING_ID);
        let bands = (0..EMBEDDING_BANDS)
            .map(|b| Band {
                name: format!("A{b:02}"),
                ty: PixelType::F32,
            })
            .collect();
        let images = EMBEDDING_YEARS
            .map(|year| ImageSpec {
                time_start_ms: jan_first_ms(year),
                footprint: Footprint {
                    west: -180.0,
                    south: -90.0,
                    east: 180.0,
                    north: 90.0,
                },
                seed: splitmix64(seed ^ u64::from(year.unsigned_abs())),
            })
            .collect();
        Self {
            id: EMBEDDING_ID,
            bands,
            images,
            pattern: Pattern::Embedding,
        }
    }

    /// Whether the image's own mask hides the cell (the ocean aside).
    fn masked_alone(&self, image: &ImageSpec, cell: &Cell) -> bool {
        match self.pattern {
            Pattern::TcTrend => {
                if unit(cell_hash(image.seed, cell.col, cell.row)) < TCTREND_SINGLE_MASKED {
                    return true;
                }
                let (bc, br) = (
                    cell.col.div_euclid(CLUSTER_BLOCK),
                    cell.row.div_euclid(CLUSTER_BLOCK),
                );
                CLUSTER_CELLS.contains(&cell.col.rem_euclid(CLUSTER_BLOCK))
                    && CLUSTER_CELLS.contains(&cell.row.rem_euclid(CLUSTER_BLOCK))
                    && unit(cell_hash(image.seed ^ 0xC1u64, bc, br)) < CLUSTER_PROBABILITY
            }
            Pattern::Embedding => {
                unit(cell_hash(image.seed, cell.col, cell.row)) < EMBEDDING_SINGLE_MASKED
            }
        }
    }

    /// The mosaic of the images `images` (indices, in collection order) at
    /// `cell`: whether any of them covers it (the mosaic's footprint), and
    /// the last of them that covers it unmasked (`None`: masked).
    pub(crate) fn mosaic(&self, images: &[usize], cell: &Cell) -> (bool, Option<usize>) {
        let mut covered = false;
        let sea = self.pattern == Pattern::Embedding && ocean(cell);
        for &i in images.iter().rev() {
            let Some(image) = self.images.get(i) else {
                continue;
            };
            if !image.footprint.contains(cell.lon, cell.lat) {
                continue;
            }
            covered = true;
            if !sea && !self.masked_alone(image, cell) {
                return (true, Some(i));
            }
        }
        (covered, None)
    }

    /// The values of bands `bands` (indices) of image `image` at `cell`,
    /// into `out` (as long as `bands`).
    pub(crate) fn values(&self, image: usize, bands: &[usize], cell: &Cell, out: &mut [f64]) {
        let seed = self.images.get(image).map_or(0, |i| i.seed);
        let h = cell_hash(seed ^ 0x005E_ED0F_BA2D, cell.col, cell.row);
        for (o, &b) in out.iter_mut().zip(bands) {
            let v = splitmix64(h ^ (b as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            #[allow(clippy::cast_precision_loss)]
            {
                *o = match self.pattern {
                    Pattern::TcTrend => (v & 0xFF) as f64,
                    // k / 2^23 - 1 for a 24-bit k: exact in f32.
                    Pattern::Embedding => (v >> 40) as f64 / f64::from(1u32 << 23) - 1.0,
                };
            }
        }
    }

    /// The index of the band named `name`.
    pub(crate) fn band_index(&self, name: &str) -> Option<usize> {
        self.bands.iter().position(|b| b.name == name)
    }
}

/// Every synthetic collection.
pub(crate) fn all() -> &'static [Collection] {
    static CATALOG: OnceLock<Vec<Collection>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut out: Vec<Collection> = TCTREND_IDS
            .iter()
            .map(|&(id, year)| Collection::tctrend(id, year))
            .collect();
        out.push(Collection::embedding());
        out
    })
}

/// The collection with this asset id (also under
/// `projects/earthengine-public/assets/`).
pub(crate) fn find(id: &str) -> Option<&'static Collection> {
    let id = id.strip_prefix(PUBLIC_PREFIX).unwrap_or(id);
    all().iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_sparse_and_the_mosaic_leaves_few_holes() {
        let tc = find(TCTREND_IDS[0].0).expect("tctrend");
        let all_images: Vec<usize> = (0..tc.images.len()).collect();
        let (mut masked_first, mut holes, mut n) = (0, 0, 0);
        for row in 0..400 {
            for col in 0..400 {
                let c = cell(
                    10.0 + f64::from(col) * NATIVE_DEG,
                    70.0 + f64::from(row) * NATIVE_DEG,
                )
                .expect("on the globe");
                n += 1;
                if tc.masked_alone(&tc.images[4], &c) {
                    masked_first += 1;
                }
                if tc.mosaic(&all_images, &c).1.is_none() {
                    holes += 1;
                }
            }
        }
        let f = f64::from(masked_first) / f64::from(n);
        assert!((0.002..0.008).contains(&f), "{f}");
        assert!(holes > 0 && holes <= masked_first, "{holes} holes");
    }

    #[test]
    fn sectors_overlap_and_wrap() {
        let tc = find(TCTREND_IDS[1].0).expect("tctrend");
        let covering = |lon: f64, lat: f64| {
            let c = cell(lon, lat).expect("on the globe");
            (0..tc.images.len())
                .filter(|&i| tc.images[i].footprint.contains(c.lon, c.lat))
                .count()
        };
        assert_eq!(covering(0.0, 45.0), 1);
        assert_eq!(covering(-60.2, 45.0), 2);
        assert_eq!(covering(179.5, 45.0), 2);
        assert_eq!(covering(-179.5, 45.0), 2);
        assert_eq!(covering(60.3, 0.3), 4);
    }
}
