//! Generation of a fixture directory.
//!
//! Layout (paths as in PGC's bucket where one exists; `{res}` is `32m`, or
//! `2m` for the 2 m preset, whose `{supertile}` is the 100 km tile its
//! sub-tile quarters and whose rasters are tiled GeoTIFFs of shared blocks,
//! see [`crate::blocks`]):
//!
//! ```text
//! manifest.json
//! ArcticDEM_Mosaic_Index_v4_1_{res}.parquet
//! stac/catalog.json
//! stac/arcticdem-mosaics-v4.1-{res}/collection.json
//! stac/arcticdem-mosaics-v4.1-{res}/{dem_id}/{dem_id}.json
//! mosaics/v4.1/{res}/{supertile}/{dem_id}_dem.tif
//! mosaics/v4.1/{res}/{supertile}/{dem_id}_datamask.tif
//! ```

use std::path::Path;

use geocube_geotiff::{CogWriter, CrsKind, Resampling};
use rayon::prelude::*;
use serde_json::Value;

use crate::blocks::BlockTile;
use crate::error::{Error, Result};
use crate::footprint::{Projector, antimeridian_side, tile_footprint};
use crate::geoparquet::{IndexRecord, write_index};
use crate::manifest::{GENERATOR_VERSION, MANIFEST_FILE_NAME, dem_stats, resolve};
use crate::terrain::{DEM_NODATA, render_tile, render_window};
use crate::{
    Bounds, DemStats, FixtureManifest, Mosaic, MosaicLayout, PixelWindow, Preset, TileManifest,
    stac,
};

/// The full-resolution arrays of one tile, exactly as written to its
/// rasters: `(dem, datamask)`, row-major, `tile_px × tile_px`. A 2 m tile
/// is 625 Mpx (3.1 GB here): ask [`tile_window`] for the part you need.
///
/// # Errors
/// As [`tile_window`].
pub fn tile_arrays(
    layout: &MosaicLayout,
    mosaic_row: u32,
    mosaic_col: u32,
) -> Result<(Vec<f32>, Vec<u8>)> {
    let px = layout.tile_px;
    let all = PixelWindow {
        col_off: 0,
        row_off: 0,
        width: px,
        height: px,
    };
    tile_window(layout, mosaic_row, mosaic_col, all)
}

/// The pixels of `window` (in the tile's own pixel coordinates, origin its
/// top-left corner) of one tile, exactly as written to its rasters:
/// `(dem, datamask)`, row-major. Computed, not read: no file is needed, and
/// a window of a 2 m tile costs what its pixels cost.
///
/// # Errors
/// [`Error::OutsideTile`] when the window is not inside the tile;
/// [`Error::Invalid`] for a 2 m layout whose sizes blocks cannot make.
pub fn tile_window(
    layout: &MosaicLayout,
    mosaic_row: u32,
    mosaic_col: u32,
    window: PixelWindow,
) -> Result<(Vec<f32>, Vec<u8>)> {
    match layout.mosaic {
        Mosaic::M32 => {
            let px = layout.tile_px;
            let fits = |off: i64, len: u32| off >= 0 && off + i64::from(len) <= i64::from(px);
            if !fits(window.row_off, window.height) || !fits(window.col_off, window.width) {
                return Err(Error::OutsideTile {
                    window,
                    tile_px: px,
                });
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked
            let origin = (window.row_off as u32, window.col_off as u32);
            Ok(render_window(
                &layout.tile_bounds(mosaic_row, mosaic_col),
                origin,
                (window.height, window.width),
            ))
        }
        Mosaic::M2 => BlockTile::new(layout, mosaic_row, mosaic_col)?.window(window),
    }
}

/// Whether `out_dir` already holds fixtures of `preset` made by this
/// generator version (its manifest matches and every tile file exists).
#[must_use]
pub fn is_up_to_date(preset: Preset, out_dir: &Path) -> bool {
    let Ok(m) = FixtureManifest::load(out_dir) else {
        return false;
    };
    m.generator_version == GENERATOR_VERSION
        && m.preset == preset
        && m.layout == preset.layout()
        && resolve(out_dir, &m.index_path).is_file()
        && m.tiles.iter().all(|t| {
            [&t.dem_path, &t.datamask_path, &t.item_path]
                .iter()
                .all(|p| resolve(out_dir, p).is_file())
        })
}

/// The fixtures of `preset` in `dir`, generated there unless they already
/// are ([`is_up_to_date`]): what tests and benches call to generate a
/// preset once and reuse it across runs. Safe when several processes ask at
/// once (test binaries run in parallel): each generates into a staging
/// directory of its own next to `dir` and renames it into place;
/// generation is deterministic, so whichever wins holds the same bytes.
///
/// # Errors
/// As [`generate`]; I/O errors moving the directory into place.
pub fn ensure(preset: Preset, dir: &Path) -> Result<FixtureManifest> {
    if !is_up_to_date(preset, dir) {
        let name = dir.file_name().map_or_else(
            || preset.name().to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        let staging = dir.with_file_name(format!("{name}.staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        generate(preset, &staging)?;
        if std::fs::rename(&staging, dir).is_err() {
            // Another process was faster, or a stale directory is in the way.
            if is_up_to_date(preset, dir) {
                let _ = std::fs::remove_dir_all(&staging);
            } else {
                let _ = std::fs::remove_dir_all(dir);
                std::fs::rename(&staging, dir).map_err(|e| Error::io(dir, e))?;
            }
        }
    }
    FixtureManifest::load(dir)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    write_file(path, &bytes)
}

/// Renders, encodes and writes the 32 m tile's COGs: `(dem size, datamask
/// size, statistics)`.
fn write_cogs(
    layout: &MosaicLayout,
    bounds: &Bounds,
    dem_path: &std::path::Path,
    datamask_path: &std::path::Path,
) -> Result<(u64, u64, DemStats)> {
    let (dem, mask) = render_tile(bounds, layout.tile_px);
    let stats = dem_stats(&dem, &mask, DEM_NODATA);
    let px = layout.tile_px;
    let res = layout.resolution();
    let cog = CogWriter::new(px, px)
        .geotransform([bounds.xmin, res, 0.0, bounds.ymax, 0.0, -res])
        .epsg(3413, CrsKind::Projected)
        .block_size(layout.block_px);
    // dem overviews: mean of the valid pixels; datamask overviews: any
    // valid pixel makes the overview pixel valid, matching the dem.
    let dem_cog = cog
        .clone()
        .nodata(f64::from(DEM_NODATA))
        .resampling(Resampling::Mean)
        .to_vec(&dem)
        .map_err(|source| Error::Cog {
            path: dem_path.to_owned(),
            source,
        })?;
    let mask_cog = cog
        .resampling(Resampling::Max)
        .to_vec(&mask)
        .map_err(|source| Error::Cog {
            path: datamask_path.to_owned(),
            source,
        })?;
    write_file(dem_path, &dem_cog)?;
    write_file(datamask_path, &mask_cog)?;
    Ok((dem_cog.len() as u64, mask_cog.len() as u64, stats))
}

/// Renders, encodes and writes one tile; returns its manifest entry and
/// its WGS 84 footprint.
fn generate_tile(
    layout: &MosaicLayout,
    projector: &Projector,
    out_dir: &Path,
    row: u32,
    col: u32,
) -> Result<(TileManifest, Value)> {
    let bounds = layout.tile_bounds(row, col);
    let tile = layout.tile_name(row, col);
    let dem_id = layout.dem_id(row, col);
    let dir = layout.tile_dir(row, col);
    let dem_path = format!("{dir}/{dem_id}_dem.tif");
    let datamask_path = format!("{dir}/{dem_id}_datamask.tif");
    let (dem_abs, mask_abs) = (
        resolve(out_dir, &dem_path),
        resolve(out_dir, &datamask_path),
    );
    let (dem_file_size, datamask_file_size, stats) = match layout.mosaic {
        Mosaic::M32 => write_cogs(layout, &bounds, &dem_abs, &mask_abs)?,
        Mosaic::M2 => {
            let blocks = BlockTile::new(layout, row, col)?;
            let res = layout.resolution();
            let gt = [bounds.xmin, res, 0.0, bounds.ymax, 0.0, -res];
            let (dem, mask) = blocks.write(gt, &dem_abs, &mask_abs)?;
            (dem, mask, blocks.stats())
        }
    };
    let px = layout.tile_px;

    let (geometry, bbox_wgs84) = tile_footprint(projector, &bounds)?;
    let index = u64::from(row * layout.tiles_x + col);
    let size = layout.tile_size_m();
    let res = layout.resolution();
    #[allow(clippy::cast_possible_truncation)]
    let lattice = |v: f64| (v / res).round() as i64;
    let manifest = TileManifest {
        item_path: stac::item_path(layout.mosaic, &dem_id),
        dem_id,
        tile,
        mosaic_row: row,
        mosaic_col: col,
        bounds,
        window: PixelWindow {
            col_off: i64::from(col * px),
            row_off: i64::from(row * px),
            width: px,
            height: px,
        },
        lattice_window: PixelWindow {
            col_off: lattice(bounds.xmin),
            row_off: lattice(-bounds.ymax),
            width: px,
            height: px,
        },
        antimeridian: antimeridian_side(&bounds),
        bbox_wgs84,
        // Staggered so that datetime searches select different tiles.
        start_datetime: format!("{}-01-01T00:00:00Z", 2009 + index % 4),
        end_datetime: format!("{}-12-31T23:59:59Z", 2017 + index % 5),
        dem_path,
        datamask_path,
        dem_file_size,
        datamask_file_size,
        stats,
    };
    debug_assert!((bounds.xmax - bounds.xmin - size).abs() < 1e-6);
    Ok((manifest, geometry))
}

/// Generates the fixtures of `preset` into `out_dir` (created if needed,
/// existing fixture files overwritten) and writes `manifest.json` last.
/// The output is byte-for-byte identical on every run.
///
/// # Errors
/// If a file cannot be written or a coordinate cannot be transformed.
pub fn generate(preset: Preset, out_dir: &Path) -> Result<FixtureManifest> {
    let layout = preset.layout();
    let projector = Projector::new()?;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    // An interrupted earlier run must not look complete.
    let manifest_path = out_dir.join(MANIFEST_FILE_NAME);
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    }
    let cells: Vec<(u32, u32)> = (0..layout.tiles_y)
        .flat_map(|r| (0..layout.tiles_x).map(move |c| (r, c)))
        .collect();
    let generated: Vec<(TileManifest, Value)> = cells
        .par_iter()
        .map(|&(r, c)| generate_tile(&layout, &projector, out_dir, r, c))
        .collect::<Result<_>>()?;

    for (tile, geometry) in &generated {
        write_json(
            &resolve(out_dir, &tile.item_path),
            &stac::item(tile, &layout, geometry),
        )?;
    }
    let tiles: Vec<TileManifest> = generated.into_iter().map(|(t, _)| t).collect();
    let records: Vec<IndexRecord> = tiles
        .iter()
        .map(|t| IndexRecord {
            dem_id: t.dem_id.clone(),
            tile: t.tile.clone(),
            gsd: layout.resolution(),
            ring: t.bounds.ring(),
        })
        .collect();
    let index_path = layout.mosaic.index_file_name();
    write_index(&out_dir.join(&index_path), &records)?;

    let first = layout.tile_bounds(0, 0);
    let last = layout.tile_bounds(layout.tiles_y - 1, layout.tiles_x - 1);
    let manifest = FixtureManifest {
        generator_version: GENERATOR_VERSION,
        preset,
        layout,
        crs: "EPSG:3413".to_owned(),
        resolution: layout.resolution(),
        dem_nodata: f64::from(DEM_NODATA),
        mosaic_bounds: Bounds {
            xmin: first.xmin,
            ymin: last.ymin,
            xmax: last.xmax,
            ymax: first.ymax,
        },
        collection_id: layout.mosaic.collection_id(),
        catalog_path: "stac/catalog.json".to_owned(),
        collection_path: format!("{}/collection.json", stac::collection_dir(layout.mosaic)),
        index_path,
        tiles,
    };
    write_json(
        &resolve(out_dir, &manifest.catalog_path),
        &stac::catalog(layout.mosaic),
    )?;
    write_json(
        &resolve(out_dir, &manifest.collection_path),
        &stac::collection(&manifest),
    )?;
    let value = serde_json::to_value(&manifest).map_err(|source| Error::Json {
        path: manifest_path.clone(),
        source,
    })?;
    write_json(&manifest_path, &value)?;
    Ok(manifest)
}
