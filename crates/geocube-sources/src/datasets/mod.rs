//! Dataset presets and the registry the command line uses.
//!
//! ```
//! let names: Vec<_> = geocube_sources::datasets::presets().into_iter().map(|p| p.name).collect();
//! assert_eq!(names, ["arcticdem-2m", "arcticdem-10m", "arcticdem-32m"]);
//! ```

pub mod arcticdem;

use std::path::PathBuf;
use std::sync::Arc;

use geocube_core::ChunkCodec;

use crate::error::{Error, Result};
use crate::http::HttpConfig;
use geocube_core::Source;

use self::arcticdem::{ArcticDem, Resolution};

/// What a preset is, for listings.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetInfo {
    /// The name to ask for (`arcticdem-32m`).
    pub name: String,
    /// The cube title, as smart-geocubes names it (`ArcticDEM32m`).
    pub title: String,
    /// One line about the data.
    pub description: String,
    /// Pixel size in CRS units.
    pub resolution: f64,
    /// The cube CRS (`EPSG:3413`).
    pub crs: String,
    /// Spatial chunk edge in pixels.
    pub chunk_size: usize,
    /// Whether the cube has a time axis.
    pub temporal: bool,
}

/// Endpoint and cache overrides for [`open`]; `None` keeps the preset's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// STAC API root.
    pub stac_url: Option<String>,
    /// Directory for auxiliary files (mosaic indexes).
    pub aux_dir: Option<PathBuf>,
    /// Where a missing mosaic index is downloaded from.
    pub index_url: Option<String>,
    /// Codec of the data variables.
    pub codec: Option<ChunkCodec>,
    /// HTTP timeouts and retries.
    pub http: Option<HttpConfig>,
    /// Never touch the network (see [`ArcticDemBuilder::offline`](arcticdem::ArcticDemBuilder::offline)).
    pub offline: bool,
}

/// Every preset.
#[must_use]
pub fn presets() -> Vec<PresetInfo> {
    Resolution::ALL
        .iter()
        .map(|&res| PresetInfo {
            name: format!("arcticdem-{}", res.label()),
            title: res.title().to_owned(),
            description: format!("ArcticDEM v4.1 mosaic at {}: elevation (dem, float32) and data mask (datamask, bool), from PGC", res.label()),
            resolution: res.metres(),
            crs: "EPSG:3413".to_owned(),
            chunk_size: arcticdem::CHUNK_SIZE,
            temporal: false,
        })
        .collect()
}

/// The source of preset `name` (its `name` or `title`, any case), with
/// `overrides` applied.
///
/// # Errors
/// [`Error::UnknownDataset`] listing the known names; errors building the source.
pub fn open(name: &str, overrides: &Overrides) -> Result<Arc<dyn Source>> {
    let res = Resolution::ALL
        .into_iter()
        .find(|r| {
            name.eq_ignore_ascii_case(&format!("arcticdem-{}", r.label()))
                || name.eq_ignore_ascii_case(r.title())
        })
        .ok_or_else(|| Error::UnknownDataset {
            name: name.to_owned(),
            known: presets()
                .into_iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let mut b = ArcticDem::builder(res);
    if let Some(u) = &overrides.stac_url {
        b = b.stac_url(u.clone());
    }
    if let Some(d) = &overrides.aux_dir {
        b = b.aux_dir(d.clone());
    }
    if let Some(u) = &overrides.index_url {
        b = b.index_url(u.clone());
    }
    if let Some(c) = overrides.codec {
        b = b.codec(c);
    }
    if let Some(h) = &overrides.http {
        b = b.http_config(h.clone());
    }
    Ok(Arc::new(b.offline(overrides.offline).build()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn registry() {
        let p = presets();
        assert_eq!(p.len(), 3);
        assert_eq!(p[2].title, "ArcticDEM32m");
        let s = open(
            "ArcticDEM10m",
            &Overrides {
                aux_dir: Some("/tmp/x".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(s.spec().title, "ArcticDEM10m");
        let err = open("sentinel-2", &Overrides::default()).err().unwrap();
        assert!(err.to_string().contains("arcticdem-32m"), "{err}");
    }
}
