//! The 2 m preset's tiles: 25000² px drawn from a few distinct blocks.
//!
//! Why not render them like the 32 m tiles: a 2 m tile is 625 Mpx, 2.5 GB
//! of float32; rendered whole it would take gigabytes of memory and minutes
//! per tile, and its file would be a gigabyte. Instead a tile is a grid of
//! [`BLOCK_PX`]² blocks (49 × 49, the last row and column cropped to
//! 424 px), and each block position holds one [`BlockKind`] out of a
//! dozen: ocean (no data), land (one of a few terrain variants) or land with
//! a lake. Every kind is rendered and compressed once, and the tile's file
//! points all positions of a kind at the same bytes
//! ([`CogWriter::write_shared_blocks`]): a few megabytes per tile, a fraction
//! of a second to write.
//!
//! The kinds are laid out by a function of (tile, block row, block column),
//! so [`BlockTile::window`] gives the pixels of any window without decoding
//! a file, and [`BlockTile::stats`] the tile's statistics (and GDAL's
//! checksums) from one pass over each distinct (kind, crop, checksum phase)
//! instead of 625 Mpx.
//!
//! Land is one round island 45 km across, centred where the mosaic's tiles
//! meet (for the 2 m preset, the centre of the 100 km tile its four
//! sub-tiles quarter), with lakes; the rest, 85 % of each tile, is sea.
//! That is a coastal tile of PGC's, and it is what keeps loading the four
//! tiles affordable in a test: a constant block costs little to inflate,
//! merge and encode, while decoding a block costs the same whatever it
//! holds. Whole cube chunks (3600² at 2 m) hold nothing but sea, whose
//! datamask chunks Zarr does not store (all fill).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use geocube_geotiff::{CogWriter, CrsKind};

use crate::error::{Error, Result};
use crate::manifest::DemStats;
use crate::terrain::{DEM_NODATA, elevation, splitmix64};
use crate::{MosaicLayout, PixelWindow};

/// Block size of the 2 m preset's tiles (GDAL's COG default, and PGC's).
pub const BLOCK_PX: u32 = 512;

/// Terrain variants (and as many lake variants).
const VARIANTS: u8 = 6;
/// Share of land blocks with a lake, in percent.
const LAKE_PERCENT: u64 = 15;
/// Radius of the island, as a fraction of the tile's side.
const ISLAND_RADIUS: f64 = 0.45;
/// Seed of the block layout; changing it changes every 2 m fixture byte.
const LAYOUT_SEED: u64 = 0x2B10_C4E5_0F2A_7D11;

/// What one block of a 2 m tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    /// Sea, no data: dem -9999, datamask 0.
    Ocean,
    /// Terrain variant `v` (`0..6`), all valid.
    Land(u8),
    /// Terrain variant `v` with a round lake (no data) in the middle.
    Lake(u8),
}

impl BlockKind {
    /// Index of the kind's dem block in [`Palette::dem`].
    fn dem_index(self) -> usize {
        match self {
            BlockKind::Ocean => 0,
            BlockKind::Land(v) => 1 + usize::from(v),
            BlockKind::Lake(v) => 1 + usize::from(VARIANTS) + usize::from(v),
        }
    }

    /// Index of the kind's datamask block in [`Palette::mask`]: every land
    /// block has the same all-valid mask.
    fn mask_index(self) -> usize {
        match self {
            BlockKind::Ocean => 0,
            BlockKind::Land(_) => 1,
            BlockKind::Lake(v) => 2 + usize::from(v),
        }
    }
}

/// The distinct blocks of one block size, row-major, `block²` samples each.
struct Palette {
    dem: Vec<Vec<f32>>,
    mask: Vec<Vec<u8>>,
}

impl Palette {
    fn render(block: u32) -> Palette {
        let b = block as usize;
        let terrain = |v: u8| -> Vec<f32> {
            // Each variant is a 1 km square of the 32 m presets' landscape
            // sampled at 2 m, from a different place near its massifs.
            let (x0, y0) = (
                -1_592_000.0 + f64::from(v) * 9_000.0,
                1_598_000.0 - f64::from(v) * 7_000.0,
            );
            (0..b * b)
                .map(|i| {
                    #[allow(clippy::cast_precision_loss)]
                    let (r, c) = ((i / b) as f64, (i % b) as f64);
                    elevation(x0 + (c + 0.5) * 2.0, y0 - (r + 0.5) * 2.0)
                })
                .collect()
        };
        let lake = |v: u8| -> Vec<bool> {
            let radius = f64::from(block) * (0.12 + 0.05 * f64::from(v));
            let centre = f64::from(block) / 2.0;
            (0..b * b)
                .map(|i| {
                    #[allow(clippy::cast_precision_loss)]
                    let (r, c) = ((i / b) as f64 + 0.5, (i % b) as f64 + 0.5);
                    (r - centre).powi(2) + (c - centre).powi(2) <= radius * radius
                })
                .collect()
        };
        let mut dem = vec![vec![DEM_NODATA; b * b]];
        let mut mask = vec![vec![0u8; b * b], vec![1u8; b * b]];
        let lands: Vec<Vec<f32>> = (0..VARIANTS).map(terrain).collect();
        dem.extend(lands.iter().cloned());
        for (v, land) in (0..VARIANTS).zip(&lands) {
            let wet = lake(v);
            dem.push(
                land.iter()
                    .zip(&wet)
                    .map(|(&z, &w)| if w { DEM_NODATA } else { z })
                    .collect(),
            );
            mask.push(wet.iter().map(|&w| u8::from(!w)).collect());
        }
        Palette { dem, mask }
    }

    /// The palette of `block`-sized blocks, rendered once per process.
    fn of(block: u32) -> Arc<Palette> {
        static PALETTES: Mutex<Vec<(u32, Arc<Palette>)>> = Mutex::new(Vec::new());
        let mut all = PALETTES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, p)) = all.iter().find(|(b, _)| *b == block) {
            return Arc::clone(p);
        }
        let p = Arc::new(Palette::render(block));
        all.push((block, Arc::clone(&p)));
        p
    }
}

/// One 2 m-style tile: which kind each of its blocks holds, and the pixels
/// and files that follow from it.
pub struct BlockTile {
    px: u32,
    block: u32,
    across: u32,
    kinds: Vec<BlockKind>,
    palette: Arc<Palette>,
}

impl std::fmt::Debug for BlockTile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockTile")
            .field("px", &self.px)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

impl BlockTile {
    /// The tile in mosaic row `row`, column `col` of `layout` (any layout:
    /// the 2 m preset's tiles are made this way).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the layout's tile or block size is not one
    /// a tiled GeoTIFF can have (blocks a multiple of 16 from 16 to 4096).
    pub fn new(layout: &MosaicLayout, row: u32, col: u32) -> Result<BlockTile> {
        let (px, block) = (layout.tile_px, layout.block_px);
        if px == 0 || !(16..=4096).contains(&block) || !block.is_multiple_of(16) {
            return Err(Error::Invalid {
                path: "<layout>".into(),
                reason: format!(
                    "tiles of {px} px in blocks of {block} px cannot be made of blocks"
                ),
            });
        }
        let across = px.div_ceil(block);
        // Land is a round island centred where the mosaic's tiles meet (the
        // 100 km tile's centre for the 2 m preset): within ISLAND_RADIUS of
        // the tile's corner at the inside of the mosaic. The rest is ocean.
        let inside_south = 2 * row + 1 < layout.tiles_y;
        let inside_east = 2 * col + 1 < layout.tiles_x;
        let extent = f64::from(px) / f64::from(block);
        let radius = ISLAND_RADIUS * extent;
        let tile = (u64::from(row) << 48) | (u64::from(col) << 32);
        let mut kinds = Vec::with_capacity((across * across) as usize);
        for bi in 0..across {
            for bj in 0..across {
                let (y, x) = (f64::from(bi) + 0.5, f64::from(bj) + 0.5);
                let dy = if inside_south { extent - y } else { y };
                let dx = if inside_east { extent - x } else { x };
                if dy.hypot(dx) >= radius {
                    kinds.push(BlockKind::Ocean);
                    continue;
                }
                let h = splitmix64(LAYOUT_SEED ^ tile ^ (u64::from(bi) << 16) ^ u64::from(bj));
                #[allow(clippy::cast_possible_truncation)] // below VARIANTS
                let v = ((h >> 32) % u64::from(VARIANTS)) as u8;
                kinds.push(if h % 100 < LAKE_PERCENT {
                    BlockKind::Lake(v)
                } else {
                    BlockKind::Land(v)
                });
            }
        }
        Ok(BlockTile {
            px,
            block,
            across,
            kinds,
            palette: Palette::of(block),
        })
    }

    /// The kind of block row `block_row`, block column `block_col`; `None`
    /// outside the tile.
    #[must_use]
    pub fn kind(&self, block_row: u32, block_col: u32) -> Option<BlockKind> {
        if block_row >= self.across || block_col >= self.across {
            return None;
        }
        self.kinds
            .get((block_row * self.across + block_col) as usize)
            .copied()
    }

    /// `(dem, datamask)` of tile pixel (`row`, `col`); `None` outside.
    #[must_use]
    pub fn pixel(&self, row: u32, col: u32) -> Option<(f32, u8)> {
        if row >= self.px || col >= self.px {
            return None;
        }
        let kind = self.kind(row / self.block, col / self.block)?;
        let i = ((row % self.block) * self.block + col % self.block) as usize;
        Some((
            self.palette.dem[kind.dem_index()][i],
            self.palette.mask[kind.mask_index()][i],
        ))
    }

    /// The pixels of `window` (tile pixel coordinates), row-major: exactly
    /// what the tile's files hold there.
    ///
    /// # Errors
    /// [`Error::OutsideTile`] when the window is not inside the tile.
    pub fn window(&self, window: PixelWindow) -> Result<(Vec<f32>, Vec<u8>)> {
        let (r0, c0) = inside(window, self.px)?;
        let (h, w) = (window.height as usize, window.width as usize);
        let mut dem = Vec::with_capacity(h * w);
        let mut mask = Vec::with_capacity(h * w);
        let b = self.block as usize;
        for row in r0..r0 + window.height {
            let (bi, r) = (row / self.block, (row % self.block) as usize);
            let mut col = c0;
            // One copy per block the row crosses.
            while col < c0 + window.width {
                let (bj, c) = (col / self.block, (col % self.block) as usize);
                let n = (b - c).min((c0 + window.width - col) as usize);
                let kind = self.kinds[(bi * self.across + bj) as usize];
                let at = r * b + c;
                dem.extend_from_slice(&self.palette.dem[kind.dem_index()][at..at + n]);
                mask.extend_from_slice(&self.palette.mask[kind.mask_index()][at..at + n]);
                #[allow(clippy::cast_possible_truncation)] // at most a block
                let step = n as u32;
                col += step;
            }
        }
        Ok((dem, mask))
    }

    /// Writes the tile's dem (float32, nodata -9999) and datamask (uint8)
    /// GeoTIFFs, each distinct block stored once, georeferenced by
    /// `geotransform` in EPSG:3413. Returns their sizes in bytes.
    ///
    /// # Errors
    /// [`Error::Io`] and [`Error::Cog`].
    pub fn write(
        &self,
        geotransform: [f64; 6],
        dem_path: &Path,
        datamask_path: &Path,
    ) -> Result<(u64, u64)> {
        let writer = CogWriter::new(self.px, self.px)
            .geotransform(geotransform)
            .epsg(3413, CrsKind::Projected)
            .block_size(self.block);
        let dem: Vec<&[f32]> = self.palette.dem.iter().map(Vec::as_slice).collect();
        let mask: Vec<&[u8]> = self.palette.mask.iter().map(Vec::as_slice).collect();
        let dem_at: Vec<usize> = self.kinds.iter().map(|k| k.dem_index()).collect();
        let mask_at: Vec<usize> = self.kinds.iter().map(|k| k.mask_index()).collect();
        let create = |path: &Path| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::File::create(path).map_err(|e| Error::io(path, e))
        };
        let cog_error = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Cog { path, source }
        };
        let dem_len = writer
            .clone()
            .nodata(f64::from(DEM_NODATA))
            .write_shared_blocks(&dem, &dem_at, create(dem_path)?)
            .map_err(cog_error(dem_path))?;
        let mask_len = writer
            .write_shared_blocks(&mask, &mask_at, create(datamask_path)?)
            .map_err(cog_error(datamask_path))?;
        Ok((dem_len, mask_len))
    }

    /// The tile's statistics, as [`crate::manifest`] computes them from a
    /// whole rendered tile: counts, minimum, maximum and sum exact (every
    /// elevation is a multiple of 1/128 m, so every partial sum is exact in
    /// f64, whatever the order), mean and standard deviation to rounding,
    /// GDAL's checksums exact. One pass over each distinct (kind, visible
    /// size, checksum phase) of the tile, not over its pixels.
    #[must_use]
    pub fn stats(&self) -> DemStats {
        const PRIMES: [i64; 11] = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43];
        let width = u64::from(self.px);
        // GDAL's checksum cycles the primes over the row-major pixel index.
        let row_step = (width % 11) as usize;
        #[derive(Clone, Copy, Default)]
        struct Part {
            n: u64,
            sum: f64,
            sum_sq: f64,
            min: f64,
            max: f64,
            dem_ck: i64,
            mask_ck: i64,
        }
        let mut memo: HashMap<(BlockKind, u32, u32, usize), Part> = HashMap::new();
        let mut total = Part {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Part::default()
        };
        let b = self.block as usize;
        for bi in 0..self.across {
            for bj in 0..self.across {
                let kind = self.kinds[(bi * self.across + bj) as usize];
                let (r0, c0) = (bi * self.block, bj * self.block);
                let (vh, vw) = (self.block.min(self.px - r0), self.block.min(self.px - c0));
                #[allow(clippy::cast_possible_truncation)] // below 11
                let phase = ((u64::from(r0) * width + u64::from(c0)) % 11) as usize;
                let part = *memo.entry((kind, vh, vw, phase)).or_insert_with(|| {
                    let dem = &self.palette.dem[kind.dem_index()];
                    let mask = &self.palette.mask[kind.mask_index()];
                    let mut p = Part {
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        ..Part::default()
                    };
                    for r in 0..vh as usize {
                        let first = (phase + r * row_step) % 11;
                        for c in 0..vw as usize {
                            let prime = PRIMES[(first + c) % 11];
                            let (z, m) = (dem[r * b + c], mask[r * b + c]);
                            p.dem_ck += i64::from(checksum_value(z)) % prime;
                            p.mask_ck += i64::from(m) % prime;
                            if z != DEM_NODATA {
                                let z = f64::from(z);
                                p.n += 1;
                                p.sum += z;
                                p.sum_sq += z * z;
                                p.min = p.min.min(z);
                                p.max = p.max.max(z);
                            }
                        }
                    }
                    p
                });
                total.n += part.n;
                total.sum += part.sum;
                total.sum_sq += part.sum_sq;
                total.min = total.min.min(part.min);
                total.max = total.max.max(part.max);
                total.dem_ck += part.dem_ck;
                total.mask_ck += part.mask_ck;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let n = total.n as f64;
        let (mean, std_dev) = if total.n > 0 {
            let mean = total.sum / n;
            (mean, (total.sum_sq / n - mean * mean).max(0.0).sqrt())
        } else {
            (f64::NAN, f64::NAN)
        };
        // The checksum is a sum modulo 2^16 (GDAL masks after every add).
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let ck = |v: i64| v.rem_euclid(1 << 16) as u32;
        DemStats {
            valid_count: total.n,
            nodata_count: width * width - total.n,
            min: total.min,
            max: total.max,
            mean,
            sum: total.sum,
            std_dev,
            dem_gdal_checksum: ck(total.dem_ck),
            datamask_gdal_checksum: ck(total.mask_ck),
        }
    }
}

/// GDAL's checksum reading of a float sample: `floor(v + 0.5)`, clamped to
/// i32 (the elevations here are finite and small).
fn checksum_value(z: f32) -> i32 {
    #[allow(clippy::cast_possible_truncation)]
    let v = (f64::from(z) + 0.5).floor() as i32;
    v
}

/// The window's first row and column, if it lies inside a `px`² tile.
fn inside(window: PixelWindow, px: u32) -> Result<(u32, u32)> {
    let fits = |off: i64, len: u32| off >= 0 && off + i64::from(len) <= i64::from(px);
    if window.width == 0
        || window.height == 0
        || !fits(window.row_off, window.height)
        || !fits(window.col_off, window.width)
    {
        return Err(Error::OutsideTile {
            window,
            tile_px: px,
        });
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked above
    Ok((window.row_off as u32, window.col_off as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preset;

    /// A 2 m-style layout small enough to render whole: 1300 px tiles in
    /// 512 px blocks (3 × 3 blocks, the last cropped to 276 px), 2 × 2 tiles.
    fn small_layout() -> MosaicLayout {
        MosaicLayout {
            tile_px: 1300,
            ..Preset::TwoMetre.layout()
        }
    }

    #[test]
    fn stats_from_blocks_equal_stats_of_the_whole_tile() -> Result<()> {
        let l = small_layout();
        for (row, col) in [(0, 0), (1, 1)] {
            let t = BlockTile::new(&l, row, col)?;
            let (dem, mask) = t.window(PixelWindow {
                col_off: 0,
                row_off: 0,
                width: l.tile_px,
                height: l.tile_px,
            })?;
            let want = crate::manifest::dem_stats(&dem, &mask, DEM_NODATA);
            let got = t.stats();
            assert_eq!(
                (got.valid_count, got.nodata_count, got.min, got.max, got.sum),
                (
                    want.valid_count,
                    want.nodata_count,
                    want.min,
                    want.max,
                    want.sum
                )
            );
            assert_eq!(got.dem_gdal_checksum, want.dem_gdal_checksum);
            assert_eq!(got.datamask_gdal_checksum, want.datamask_gdal_checksum);
            assert_eq!(got.mean.to_bits(), want.mean.to_bits());
            assert!(
                (got.std_dev - want.std_dev).abs() < 1e-9 * want.std_dev,
                "{} {}",
                got.std_dev,
                want.std_dev
            );
            assert!(got.nodata_count > 0 && got.valid_count > 0);
        }
        Ok(())
    }

    #[test]
    fn windows_pixels_and_kinds_agree() -> Result<()> {
        let l = Preset::TwoMetre.layout();
        let t = BlockTile::new(&l, 0, 1)?;
        // Across a block seam, in the cropped last block row, on the island.
        let w = PixelWindow {
            col_off: 100,
            row_off: 24_980,
            width: 600,
            height: 20,
        };
        let (dem, mask) = t.window(w)?;
        for (i, (z, m)) in dem.iter().zip(&mask).enumerate() {
            let (r, c) = (24_980 + i as u32 / 600, 100 + i as u32 % 600);
            assert_eq!(t.pixel(r, c), Some((*z, *m)), "({r}, {c})");
            assert_eq!(*m == 0, *z == DEM_NODATA);
        }
        assert!(mask.contains(&1));
        // Tile (0, 1) is the mosaic's north-east tile: the island is centred
        // on its south-west corner (radius 0.45 × 48.8 blocks).
        assert_eq!(t.kind(0, 48), Some(BlockKind::Ocean));
        assert_eq!(t.kind(0, 0), Some(BlockKind::Ocean));
        assert_eq!(t.kind(26, 0), Some(BlockKind::Ocean));
        assert_ne!(t.kind(27, 0), Some(BlockKind::Ocean));
        assert_ne!(t.kind(48, 0), Some(BlockKind::Ocean));
        assert_eq!(t.kind(49, 0), None);
        assert_eq!(t.pixel(25_000, 0), None);
        let kinds: std::collections::BTreeSet<BlockKind> = {
            let t = &t;
            (0..49)
                .flat_map(|i| (0..49).filter_map(move |j| t.kind(i, j)))
                .collect()
        };
        assert_eq!(kinds.len(), 13, "every kind is used: {kinds:?}");
        // Tiles differ in their layout, not only in their ocean.
        let other = BlockTile::new(&l, 1, 0)?;
        let differing = (0..49)
            .flat_map(|i| (0..49).map(move |j| (i, j)))
            .filter(|&(i, j)| other.kind(i, 48 - j) != t.kind(48 - i, j))
            .count();
        assert!(differing > 100, "{differing}");
        assert!(matches!(
            t.window(PixelWindow {
                col_off: 24_999,
                row_off: 0,
                width: 2,
                height: 1
            }),
            Err(Error::OutsideTile { .. })
        ));
        Ok(())
    }
}
