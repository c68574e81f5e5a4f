//! Fixture presets and the mosaic layout each one stands for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Pixel size of the ArcticDEM 32 m mosaic, in metres (of the `tiny`,
/// `small` and `large` presets).
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
    /// The 2 m mosaic: one 100 km tile split, as PGC splits it, into 2×2
    /// sub-tiles of 25000×25000 px (50 km, 2.5 GB of float32 each), drawn
    /// from a few distinct 512² blocks so that they cost megabytes, not
    /// gigabytes (see [`crate::blocks`]).
    #[serde(rename = "2m")]
    TwoMetre,
}

impl Preset {
    /// Every preset, smallest first (the 2 m one last: its tiles are the
    /// largest).
    pub const ALL: [Preset; 4] = [Preset::Tiny, Preset::Small, Preset::Large, Preset::TwoMetre];

    /// The preset's name as used on the command line and in manifests.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Large => "large",
            Preset::TwoMetre => "2m",
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
                mosaic: Mosaic::M32,
            },
            Preset::Small => MosaicLayout {
                tiles_x: 4,
                tiles_y: 4,
                tile_px: 3125,
                block_px: 512,
                left: -1_800_000.0,
                top: 1_800_000.0,
                id_origin: -4_100_000.0,
                mosaic: Mosaic::M32,
            },
            Preset::Large => MosaicLayout {
                tiles_x: 6,
                tiles_y: 6,
                tile_px: 3125,
                block_px: 512,
                left: -1_900_000.0,
                top: 1_900_000.0,
                id_origin: -4_100_000.0,
                mosaic: Mosaic::M32,
            },
            // One 100 km tile (56_25) whose corner (-1 600 000, 1 600 000)
            // lies on the antimeridian, like the other presets' mosaics: its
            // north-west and south-east sub-tiles cross it.
            Preset::TwoMetre => MosaicLayout {
                tiles_x: 2,
                tiles_y: 2,
                tile_px: 25_000,
                block_px: crate::blocks::BLOCK_PX,
                left: -1_600_000.0,
                top: 1_600_000.0,
                id_origin: -4_100_000.0,
                mosaic: Mosaic::M2,
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

/// Which ArcticDEM v4.1 mosaic a fixture imitates: its pixel size, how its
/// tiles are named and where its files and documents live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mosaic {
    /// 32 m: 100 km tiles named `{row}_{col}` (`58_23`), COGs with overviews.
    #[default]
    #[serde(rename = "32m")]
    M32,
    /// 2 m: every 100 km tile (a *supertile*) split into 2×2 sub-tiles of
    /// 50 km named `{row}_{col}_{subrow}_{subcol}`, subrow 1 the southern
    /// and subcol 1 the western half (`56_25_2_1` is the north-west quarter
    /// of `56_25`), as in PGC's bucket (`…/2m/14_52/14_52_2_1_2m_v4.1_dem.tif`
    /// covers Reykjavík, in the north-west quarter of 14_52). PGC's own files
    /// are 25100² px with a 50 px border overlapping their neighbours; the
    /// fixture's sub-tiles are 25000² and abut.
    #[serde(rename = "2m")]
    M2,
}

impl Mosaic {
    /// Pixel size in metres.
    #[must_use]
    pub fn resolution(self) -> f64 {
        match self {
            Mosaic::M32 => RESOLUTION,
            Mosaic::M2 => 2.0,
        }
    }

    /// `32m`, `2m`: as in PGC's collection, file and directory names.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Mosaic::M32 => "32m",
            Mosaic::M2 => "2m",
        }
    }

    /// Sub-tiles along each side of a 100 km supertile (1 at 32 m).
    #[must_use]
    pub fn subdivisions(self) -> u32 {
        match self {
            Mosaic::M32 => 1,
            Mosaic::M2 => 2,
        }
    }

    /// The STAC collection, `arcticdem-mosaics-v4.1-{label}`.
    #[must_use]
    pub fn collection_id(self) -> String {
        format!("arcticdem-mosaics-v4.1-{}", self.label())
    }

    /// The mosaic index's file name, `ArcticDEM_Mosaic_Index_v4_1_{label}.parquet`.
    #[must_use]
    pub fn index_file_name(self) -> String {
        format!("ArcticDEM_Mosaic_Index_v4_1_{}.parquet", self.label())
    }

    /// Whether this is the 32 m mosaic, the one manifests written before
    /// there was a choice describe (the field is left out for it, so that
    /// their bytes do not change).
    #[must_use]
    pub fn is_32m(&self) -> bool {
        *self == Mosaic::M32
    }
}

/// Geometry of a fixture mosaic in EPSG:3413 on the lattice of its
/// resolution anchored at 0.
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
    /// -4 000 000 m); a 2 m sub-tile is named after the 100 km tile it
    /// quarters.
    pub id_origin: f64,
    /// The mosaic imitated: resolution, naming, paths.
    #[serde(default, skip_serializing_if = "Mosaic::is_32m")]
    pub mosaic: Mosaic,
}

impl MosaicLayout {
    /// Pixel size in metres.
    #[must_use]
    pub fn resolution(&self) -> f64 {
        self.mosaic.resolution()
    }

    /// Side length of one tile in metres.
    #[must_use]
    pub fn tile_size_m(&self) -> f64 {
        f64::from(self.tile_px) * self.resolution()
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

    /// The ArcticDEM-style tile name of the tile in mosaic row `row`, column
    /// `col`: `{row}_{col}` at 32 m, rows counted northwards from the
    /// numbering origin and both padded to two digits as PGC does;
    /// `{row}_{col}_{subrow}_{subcol}` at 2 m (see [`Mosaic::M2`]).
    #[must_use]
    pub fn tile_name(&self, row: u32, col: u32) -> String {
        let (id_row, id_col) = self.id_cell(row, col);
        let n = i64::from(self.mosaic.subdivisions());
        let supertile = format!("{:02}_{:02}", id_row.div_euclid(n), id_col.div_euclid(n));
        if n == 1 {
            supertile
        } else {
            let (sub_row, sub_col) = (id_row.rem_euclid(n) + 1, id_col.rem_euclid(n) + 1);
            format!("{supertile}_{sub_row}_{sub_col}")
        }
    }

    /// The 100 km tile the tile in mosaic row `row`, column `col` belongs
    /// to: its own name at 32 m, the quartered tile's at 2 m (`56_25`), the
    /// directory PGC keeps its files in.
    #[must_use]
    pub fn supertile_name(&self, row: u32, col: u32) -> String {
        let (id_row, id_col) = self.id_cell(row, col);
        let n = i64::from(self.mosaic.subdivisions());
        format!("{:02}_{:02}", id_row.div_euclid(n), id_col.div_euclid(n))
    }

    /// `(row, col)` of the tile counted in tiles from the numbering origin,
    /// rows northwards.
    fn id_cell(&self, row: u32, col: u32) -> (i64, i64) {
        let b = self.tile_bounds(row, col);
        let size = self.tile_size_m();
        // Bounds are exact multiples of the tile size from the origin.
        #[allow(clippy::cast_possible_truncation)]
        let id_row = ((b.ymin - self.id_origin) / size).round() as i64;
        #[allow(clippy::cast_possible_truncation)]
        let id_col = ((b.xmin - self.id_origin) / size).round() as i64;
        (id_row, id_col)
    }

    /// The ArcticDEM v4.1 `dem_id` of a tile, e.g. `58_23_32m_v4.1` or
    /// `56_25_2_1_2m_v4.1`.
    #[must_use]
    pub fn dem_id(&self, row: u32, col: u32) -> String {
        format!("{}_{}_v4.1", self.tile_name(row, col), self.mosaic.label())
    }

    /// Where the tile's files live, as in PGC's bucket:
    /// `mosaics/v4.1/{label}/{supertile}`.
    #[must_use]
    pub fn tile_dir(&self, row: u32, col: u32) -> String {
        format!(
            "mosaics/v4.1/{}/{}",
            self.mosaic.label(),
            self.supertile_name(row, col)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lattice_and_ids() {
        for preset in Preset::ALL {
            let l = preset.layout();
            let res = l.resolution();
            for v in [l.left, l.top, l.tile_size_m(), l.id_origin] {
                assert_eq!(v % res, 0.0, "{preset}: {v} not on the {res} m lattice");
            }
            assert_eq!((l.left - l.id_origin) % l.tile_size_m(), 0.0);
            assert_eq!(preset.name().parse::<Preset>().ok(), Some(preset));
        }
        // ArcticDEM's own numbering: tile 1_1 starts at (-4e6, -4e6).
        let small = Preset::Small.layout();
        assert_eq!(small.dem_id(0, 0), "58_23_32m_v4.1");
        assert_eq!(small.tile_bounds(0, 0).xmin, -1_800_000.0);
        assert_eq!("Tiny".parse::<Preset>().ok(), Some(Preset::Tiny));
        assert!("huge".parse::<Preset>().is_err());
        assert_eq!(small.tile_dir(0, 0), "mosaics/v4.1/32m/58_23");
    }

    #[test]
    fn two_metre_sub_tiles_are_named_as_pgc_names_them() {
        let l = Preset::TwoMetre.layout();
        // Supertile 56_25 spans x -1 600 000..-1 500 000, y 1 500 000..1 600 000:
        // mosaic row 0 is its northern half (subrow 2), column 0 its western (subcol 1).
        assert_eq!(l.dem_id(0, 0), "56_25_2_1_2m_v4.1");
        assert_eq!(l.dem_id(0, 1), "56_25_2_2_2m_v4.1");
        assert_eq!(l.dem_id(1, 0), "56_25_1_1_2m_v4.1");
        assert_eq!(l.dem_id(1, 1), "56_25_1_2_2m_v4.1");
        assert_eq!(l.tile_dir(1, 1), "mosaics/v4.1/2m/56_25");
        assert_eq!(l.tile_size_m(), 50_000.0);
        let b = l.tile_bounds(1, 1);
        assert_eq!((b.xmin, b.ymin), (-1_550_000.0, 1_500_000.0));
        // Reykjavík's tile: x 1 116 509, y -2 623 326 lies in the north-west
        // quarter of 14_52 (PGC's 14_52_2_1).
        let reykjavik = MosaicLayout {
            tiles_x: 1,
            tiles_y: 1,
            left: 1_100_000.0,
            top: -2_600_000.0,
            ..l
        };
        assert_eq!(reykjavik.dem_id(0, 0), "14_52_2_1_2m_v4.1");
        assert_eq!(l.mosaic.collection_id(), "arcticdem-mosaics-v4.1-2m");
        assert_eq!(
            l.mosaic.index_file_name(),
            "ArcticDEM_Mosaic_Index_v4_1_2m.parquet"
        );
    }
}
