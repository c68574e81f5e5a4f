//! The dataset presets of `geocube-sources`, with endpoint overrides.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use geocube::{Result, Source};
use geocube_sources::datasets::{Overrides, presets};

use crate::http::HttpArgs;

/// Endpoint overrides and network deadlines, for every preset.
#[derive(Args, Clone, Debug)]
pub(crate) struct Endpoints {
    /// STAC API root replacing the preset's (e.g. a mirror or a test server).
    #[arg(long, env = "GEOCUBE_STAC_URL", value_name = "URL")]
    pub(crate) stac_url: Option<String>,
    /// Directory for auxiliary files (mosaic indexes), instead of the user cache.
    #[arg(long, env = "GEOCUBE_AUX_DIR", value_name = "DIR")]
    pub(crate) aux_dir: Option<PathBuf>,
    /// Earth Engine endpoint (kept for the Earth Engine sources to come).
    #[arg(long, env = "GEOCUBE_EE_URL", value_name = "URL")]
    pub(crate) ee_url: Option<String>,
    #[command(flatten)]
    pub(crate) http: HttpArgs,
}

impl Endpoints {
    fn overrides(&self, offline: bool) -> Overrides {
        Overrides {
            stac_url: self.stac_url.clone(),
            aux_dir: self.aux_dir.clone(),
            http: Some(self.http.config()),
            offline,
            ..Overrides::default()
        }
    }
}

/// Print one line per preset.
pub(crate) fn print_list() {
    for p in presets() {
        let time = if p.temporal { ", temporal" } else { "" };
        println!(
            "{:<16} {} ({} m, {}{time}): {}",
            p.name, p.title, p.resolution, p.crs, p.description
        );
    }
}

/// The source of preset `name` (its name or cube title); `offline`, one
/// that never touches the network.
pub(crate) fn open(name: &str, endpoints: &Endpoints, offline: bool) -> Result<Arc<dyn Source>> {
    Ok(geocube_sources::datasets::open(
        name,
        &endpoints.overrides(offline),
    )?)
}

/// The preset whose cube has `title`.
pub(crate) fn name_for_title(title: &str) -> Option<String> {
    presets()
        .into_iter()
        .find(|p| p.title == title)
        .map(|p| p.name)
}
