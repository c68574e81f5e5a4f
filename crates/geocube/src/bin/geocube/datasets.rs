//! The dataset presets of `geocube-sources`, with endpoint overrides.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use geocube::{Result, Source};
use geocube_sources::datasets::{EeOverrides, Overrides, presets};

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
    /// Earth Engine API root (the TCTrend and AlphaEarth presets), e.g. the
    /// high-volume endpoint or a test server.
    #[arg(long, env = "GEOCUBE_EE_URL", value_name = "URL")]
    pub(crate) ee_url: Option<String>,
    /// Earth Engine service-account JSON key file.
    #[arg(long, env = "GOOGLE_APPLICATION_CREDENTIALS", value_name = "FILE")]
    pub(crate) ee_key: Option<PathBuf>,
    /// Earth Engine access token, instead of a key (`gcloud auth print-access-token`).
    #[arg(
        long,
        env = "GEOCUBE_EE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) ee_token: Option<String>,
    /// Cloud project billed for Earth Engine requests (default: the key's).
    #[arg(long, env = "GEOCUBE_EE_PROJECT", value_name = "PROJECT")]
    pub(crate) ee_project: Option<String>,
    /// Earth Engine requests in flight at once (the project's quota is 40).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) ee_max_in_flight: usize,
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
            ee: EeOverrides {
                url: self.ee_url.clone(),
                key: self.ee_key.clone(),
                token: self.ee_token.clone(),
                project: self.ee_project.clone(),
                max_in_flight: Some(self.ee_max_in_flight),
            },
            ..Overrides::default()
        }
    }
}

/// Print one line per preset.
pub(crate) fn print_list() {
    for p in presets() {
        let time = if p.temporal { ", temporal" } else { "" };
        println!(
            "{:<16} {} ({} {}, {}{time}): {}",
            p.name,
            p.title,
            p.resolution,
            if p.crs == "EPSG:4326" { "°" } else { "m" },
            p.crs,
            p.description
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
