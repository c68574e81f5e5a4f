//! Fixture presets and the mosaic layout each one stands for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Pixel size of the ArcticDEM 32 m mosaic, in metres.
pub const RESOLUTION: f64 = 32.0;

/// Size of one fixture mosaic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// 3×3 tiles of 500×500 px (16 km): fast, what CI tests use.
    Tiny,
    /// 4×4 tiles of 3125×3125 px (100 km, the real ArcticDEM tile size).
    Small,
    /// 6×6 tiles of 3125×3125 px.
    Large,
}

impl Preset {
    /// Every preset, smallest first.
    pub const ALL: [Preset; 3] = [Preset::Tiny, Preset::Small, Preset::Large];

    /// The preset's name as used on the command line and in manifests.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Large => "large",
        }
    }

    /// Where the preset's tiles lie and how large they are.
    ///
    /// Every mosaic is centred on the antimeridian (the line `x = -y` in
    /// EPSG:3413), which runs through the tiles on the main diagonal from
    /// their top-left to their bottom-right corner: those tiles lie on both
    /// sides of 180°, the others wholly east or west of it.
    #[must_use]
    pub fn layout(self) -> MosaicLayout {
        match self {
            Preset::Tiny => MosaicLayout {
                tiles_x: 3,
                tiles_y: 3,
                tile_px: 500,
                block_px: 256,
                left: -1_600_000.0,
                top: 1_600_000.0,
                id_origin: -4_112_000.0,
            },
            Preset::Small => MosaicLayout {
                tiles_x: 4,
                tiles_y: 4,
                tile_px: 3125,
                block_px: 512,
                left: -1_800_000.0,
                top: 1_800_000.0,
                id_origin: -4_100_000.0,
            },
            Preset::Large => MosaicLayout {
                tiles_x: 6,
                tiles_y: 6,
                tile_px: 3125,
                block_px: 512,
                left: -1_900_000.0,
                top: 1_900_000.0,
                id_origin: -4_100_000.0,
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownPreset(s.to_owned()))
    }
}

/// Geometry of a fixture mosaic in EPSG:3413 on the 32 m lattice anchored at 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MosaicLayout {
    /// Number of tile columns.
    pub tiles_x: u32,
    /// Number of tile rows.
    pub tiles_y: u32,
    /// Width and height of one tile in pixels.
    pub tile_px: u32,
    /// Width and height of the internal TIFF tiles (blocks) in pixels.
    pub block_px: u32,
    /// Easting of the mosaic's left edge in metres.
    pub left: f64,
    /// Northing of the mosaic's top edge in metres.
    pub top: f64,
    /// Origin of the tile numbering: tile `row_col` has its lower-left corner
    /// at `(id_origin + col·size, id_origin + row·size)`. For 100 km tiles
    /// this is ArcticDEM's own scheme (-4 100 000 m, so tile `1_1` starts at
    /// -4 000 000 m).
    pub id_origin: f64,
}

impl MosaicLayout {
    /// Side length of one tile in metres.
    #[must_use]
    pub fn tile_size_m(&self) -> f64 {
        f64::from(self.tile_px) * RESOLUTION
    }

    /// Width of the whole mosaic in pixels.
    #[must_use]
    pub fn width_px(&self) -> u32 {
        self.tiles_x * self.tile_px
    }

    /// Height of the whole mosaic in pixels.
    #[must_use]
    pub fn height_px(&self) -> u32 {
        self.tiles_y * self.tile_px
    }

    /// Bounds of the tile in mosaic row `row` (0 = top) and column `col`.
    #[must_use]
    pub fn tile_bounds(&self, row: u32, col: u32) -> crate::Bounds {
        let size = self.tile_size_m();
        let xmin = self.left + f64::from(col) * size;
        let ymax = self.top - f64::from(row) * size;
        crate::Bounds {
            xmin,
            ymin: ymax - size,
            xmax: xmin + size,
            ymax,
        }
    }

    /// The ArcticDEM-style tile name (`{row}_{col}`, rows counted northwards
    /// from the numbering origin) of the tile in mosaic row `row`, column `col`.
    #[must_use]
    pub fn tile_name(&self, row: u32, col: u32) -> String {
        let b = self.tile_bounds(row, col);
        let size = self.tile_size_m();
        // Bounds are exact multiples of the tile size from the origin.
        #[allow(clippy::cast_possible_truncation)]
        let id_row = ((b.ymin - self.id_origin) / size).round() as i64;
        #[allow(clippy::cast_possible_truncation)]
        let id_col = ((b.xmin - self.id_origin) / size).round() as i64;
        format!("{id_row}_{id_col}")
    }

    /// The ArcticDEM v4.1 32 m `dem_id` of a tile, e.g. `58_23_32m_v4.1`.
    #[must_use]
    pub fn dem_id(&self, row: u32, col: u32) -> String {
        format!("{}_32m_v4.1", self.tile_name(row, col))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lattice_and_ids() {
        for preset in Preset::ALL {
            let l = preset.layout();
            for v in [l.left, l.top, l.tile_size_m(), l.id_origin] {
                assert_eq!(v % RESOLUTION, 0.0, "{preset}: {v} not on the 32 m lattice");
            }
            assert_eq!((l.left - l.id_origin) % l.tile_size_m(), 0.0);
        }
        // ArcticDEM's own numbering: tile 1_1 starts at (-4e6, -4e6).
        let small = Preset::Small.layout();
        assert_eq!(small.dem_id(0, 0), "58_23_32m_v4.1");
        assert_eq!(small.tile_bounds(0, 0).xmin, -1_800_000.0);
        assert_eq!("Tiny".parse::<Preset>().ok(), Some(Preset::Tiny));
        assert!("huge".parse::<Preset>().is_err());
    }
}
