//! `load --to-crs / --resolution / --like / --resampling`: the grid a load
//! lands on when it is not the cube's. Parsing only; the grid is built by
//! `Accessor::grid_onto` and the pixels warped by `Accessor::load_onto`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use geocube::{Accessor, Aoi, Crs, GeoBox, Resampling, Result};
use geocube_sources::cog::{Cog, FileByteSource};

/// The target-grid flags of `load`.
#[derive(Args)]
pub(crate) struct TargetArgs {
    /// Load onto a grid in this CRS instead of the cube's (EPSG:32607,
    /// 32607, or a PROJ string): the area's bounding box in that CRS,
    /// pixel edges on multiples of the resolution (odc-geo's
    /// `GeoBox.from_bbox`). The result is resampled with --resampling.
    #[arg(long, value_name = "CRS")]
    pub(crate) to_crs: Option<String>,
    /// Pixel size of the target grid in its CRS's units (metres, degrees).
    /// Alone: resample on the cube's CRS. Default with --to-crs: the cube's
    /// resolution when both CRSs have the same units, else the size of the
    /// cube's pixel at the area's centre in the target CRS (odc-geo's
    /// resolution="auto").
    #[arg(long, value_name = "R", value_parser = positive_resolution)]
    pub(crate) resolution: Option<f64>,
    /// Load onto the grid of this GeoTIFF (CRS, pixel grid and extent):
    /// --bbox / --geojson are then optional and, given, keep only the
    /// part of that grid they touch.
    #[arg(long, value_name = "FILE.tif", conflicts_with_all = ["to_crs", "resolution"])]
    pub(crate) like: Option<PathBuf>,
    #[arg(
        long,
        value_name = "NAME",
        value_parser = resampling,
        default_value_t = Resampling::Nearest,
        help = resampling_help()
    )]
    pub(crate) resampling: Resampling,
}

impl TargetArgs {
    /// Whether any flag asks for a grid other than the cube's.
    pub(crate) fn any(&self) -> bool {
        self.to_crs.is_some() || self.resolution.is_some() || self.like.is_some()
    }

    /// The `--like` file's grid, read before anything touches the cube.
    pub(crate) fn like_grid(&self) -> Result<Option<GeoBox>> {
        self.like.as_deref().map(geotiff_grid).transpose()
    }

    /// The grid to load onto, `None` for the cube's own (no flag given).
    pub(crate) fn grid(
        &self,
        accessor: &Accessor,
        aoi: Option<&Aoi>,
        like: Option<GeoBox>,
    ) -> Result<Option<GeoBox>> {
        if let Some(like) = like {
            return match aoi {
                None => Ok(Some(like)),
                Some(aoi) => {
                    let bounds = aoi.bounds_in(like.crs())?;
                    match like.crop_bbox(&bounds) {
                        Some((_, g)) => Ok(Some(g)),
                        None => Err(geocube_core::Error::InvalidAoi(format!(
                            "the area {bounds} ({}) lies outside the --like grid {} ({}); drop --bbox/--geojson to load the whole grid",
                            like.crs(),
                            like.bbox(),
                            like.crs()
                        ))
                        .into()),
                    }
                }
            };
        }
        if !self.any() {
            return Ok(None);
        }
        let aoi = aoi.ok_or_else(|| {
            geocube_core::Error::InvalidAoi(
                "--to-crs and --resolution need --bbox or --geojson".into(),
            )
        })?;
        let crs = self.to_crs.as_deref().map(str::parse::<Crs>).transpose()?;
        accessor
            .grid_onto(aoi, crs.as_ref(), self.resolution)
            .map(Some)
    }
}

/// The grid of the GeoTIFF at `path`, from its header.
fn geotiff_grid(path: &Path) -> Result<GeoBox> {
    let cog = Cog::open(Arc::new(FileByteSource::new(path)))?;
    Ok(cog.info().geobox(&path.display().to_string())?)
}

/// `--resampling`: rasterio's names, any case (core's `Resampling::from_str`).
fn resampling(text: &str) -> std::result::Result<Resampling, String> {
    text.parse::<Resampling>()
        .map_err(|_| format!("no such kernel; choose one of {}", kernel_names()))
}

/// `--resampling`'s help, naming every kernel.
fn resampling_help() -> String {
    format!(
        "Resampling kernel onto a --to-crs / --resolution / --like grid (rasterio's names): {}",
        kernel_names()
    )
}

/// Every kernel's name, in rasterio's order.
fn kernel_names() -> String {
    let names: Vec<&str> = Resampling::ALL.iter().map(|r| r.name()).collect();
    names.join(", ")
}

/// `--resolution`: a positive, finite number.
fn positive_resolution(text: &str) -> std::result::Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("`{text}` is not a positive pixel size"))
}
