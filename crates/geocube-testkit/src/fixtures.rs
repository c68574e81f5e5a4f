//! Generation of a fixture directory.
//!
//! Layout (paths as in PGC's bucket where one exists):
//!
//! ```text
//! manifest.json
//! ArcticDEM_Mosaic_Index_v4_1_32m.parquet
//! stac/catalog.json
//! stac/arcticdem-mosaics-v4.1-32m/collection.json
//! stac/arcticdem-mosaics-v4.1-32m/{dem_id}/{dem_id}.json
//! mosaics/v4.1/32m/{tile}/{dem_id}_dem.tif
//! mosaics/v4.1/32m/{tile}/{dem_id}_datamask.tif
//! ```

use std::path::Path;

use geocube_geotiff::{CogWriter, CrsKind, Resampling};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::footprint::{Projector, antimeridian_side, tile_footprint};
use crate::geoparquet::{INDEX_FILE_NAME, IndexRecord, write_index};
use crate::manifest::{GENERATOR_VERSION, MANIFEST_FILE_NAME, dem_stats, resolve};
use crate::preset::RESOLUTION;
use crate::terrain::{DEM_NODATA, render_tile};
use crate::{Bounds, FixtureManifest, MosaicLayout, PixelWindow, Preset, TileManifest, stac};

/// The full-resolution arrays of one tile, exactly as written to its COGs:
/// `(dem, datamask)`, row-major, `tile_px × tile_px`.
#[must_use]
pub fn tile_arrays(layout: &MosaicLayout, mosaic_row: u32, mosaic_col: u32) -> (Vec<f32>, Vec<u8>) {
    render_tile(&layout.tile_bounds(mosaic_row, mosaic_col), layout.tile_px)
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
    let (dem, mask) = render_tile(&bounds, layout.tile_px);
    let stats = dem_stats(&dem, &mask, DEM_NODATA);
    let tile = layout.tile_name(row, col);
    let dem_id = layout.dem_id(row, col);
    let dir = format!("mosaics/v4.1/32m/{tile}");
    let dem_path = format!("{dir}/{dem_id}_dem.tif");
    let datamask_path = format!("{dir}/{dem_id}_datamask.tif");
    let px = layout.tile_px;
    let cog = CogWriter::new(px, px)
        .geotransform([bounds.xmin, RESOLUTION, 0.0, bounds.ymax, 0.0, -RESOLUTION])
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
            path: resolve(out_dir, &dem_path),
            source,
        })?;
    let mask_cog = cog
        .resampling(Resampling::Max)
        .to_vec(&mask)
        .map_err(|source| Error::Cog {
            path: resolve(out_dir, &datamask_path),
            source,
        })?;
    write_file(&resolve(out_dir, &dem_path), &dem_cog)?;
    write_file(&resolve(out_dir, &datamask_path), &mask_cog)?;

    let (geometry, bbox_wgs84) = tile_footprint(projector, &bounds)?;
    let index = u64::from(row * layout.tiles_x + col);
    let size = layout.tile_size_m();
    #[allow(clippy::cast_possible_truncation)]
    let lattice = |v: f64| (v / RESOLUTION).round() as i64;
    let manifest = TileManifest {
        dem_id: dem_id.clone(),
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
        item_path: stac::item_path(&dem_id),
        dem_file_size: dem_cog.len() as u64,
        datamask_file_size: mask_cog.len() as u64,
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
            gsd: RESOLUTION,
            ring: t.bounds.ring(),
        })
        .collect();
    write_index(&out_dir.join(INDEX_FILE_NAME), &records)?;

    let first = layout.tile_bounds(0, 0);
    let last = layout.tile_bounds(layout.tiles_y - 1, layout.tiles_x - 1);
    let manifest = FixtureManifest {
        generator_version: GENERATOR_VERSION,
        preset,
        layout,
        crs: "EPSG:3413".to_owned(),
        resolution: RESOLUTION,
        dem_nodata: f64::from(DEM_NODATA),
        mosaic_bounds: Bounds {
            xmin: first.xmin,
            ymin: last.ymin,
            xmax: last.xmax,
            ymax: first.ymax,
        },
        collection_id: stac::COLLECTION_ID.to_owned(),
        catalog_path: "stac/catalog.json".to_owned(),
        collection_path: format!("{}/collection.json", stac::collection_dir()),
        index_path: INDEX_FILE_NAME.to_owned(),
        tiles,
    };
    write_json(&resolve(out_dir, &manifest.catalog_path), &stac::catalog())?;
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
