//! Dataset presets and the registry the command line uses.
//!
//! ```
//! let names: Vec<_> = geocube_sources::datasets::presets().into_iter().map(|p| p.name).collect();
//! assert_eq!(names, [
//!     "arcticdem-2m", "arcticdem-10m", "arcticdem-32m",
//!     "tctrend-2019", "tctrend-2020", "tctrend-2022", "tctrend-2024", "alphaearth",
//!     "sentinel2-l2a",
//! ]);
//! ```
//!
//! `tctrend` (and smart-geocubes' `TCTrend`) open `tctrend-2024`;
//! `sentinel-2-l2a` (the collection's id) opens `sentinel2-l2a`, whose
//! registry cube is the builder's default (EPSG:4326 at 10 m, daily steps):
//! build [`sentinel2::Sentinel2`] for another grid.

pub mod arcticdem;
pub mod earthengine;
pub mod sentinel2;

use std::path::PathBuf;
use std::sync::Arc;

use geocube_core::ChunkCodec;

use crate::error::{Error, Result};
use crate::http::HttpConfig;
use geocube_core::Source;

use self::arcticdem::{ArcticDem, Resolution};
use self::earthengine::{ALPHAEARTH_COLLECTION, EeDataset, TcTrendYear};
use self::sentinel2::Sentinel2;

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
    /// STAC API root (the ArcticDEM and Sentinel-2 presets).
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
    /// Earth Engine endpoint, credentials and budget (the Earth Engine presets).
    pub ee: EeOverrides,
}

/// Earth Engine settings for [`open`]; `None` keeps the default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EeOverrides {
    /// API root (default Earth Engine's).
    pub url: Option<String>,
    /// A service-account JSON key file (else `GOOGLE_APPLICATION_CREDENTIALS`).
    pub key: Option<PathBuf>,
    /// An access token instead of a key (else `GEOCUBE_EE_TOKEN`).
    pub token: Option<String>,
    /// Cloud project (else the key's).
    pub project: Option<String>,
    /// Requests in flight per project.
    pub max_in_flight: Option<usize>,
}

impl EeOverrides {
    /// The client configuration these settings give: a key file, else a
    /// token, else the environment's credentials.
    ///
    /// # Errors
    /// [`Error::Auth`] for an unusable key file.
    pub fn config(&self, http: Option<&HttpConfig>) -> Result<crate::ee::EeConfig> {
        use crate::ee::{EeConfig, EeCredentials, ServiceAccountKey};
        let credentials = if let Some(k) = &self.key {
            EeCredentials::ServiceAccount(Box::new(ServiceAccountKey::from_file(k)?))
        } else if let Some(t) = self.token.as_ref().filter(|t| !t.is_empty()) {
            EeCredentials::AccessToken(t.clone())
        } else {
            EeCredentials::from_env()?
        };
        let mut c = EeConfig::new(credentials);
        if let Some(u) = &self.url {
            c.url = u.clone();
        }
        if let Some(p) = &self.project {
            c.project = Some(p.clone());
        }
        if let Some(n) = self.max_in_flight {
            c.max_in_flight = n.max(1);
        }
        if let Some(h) = http {
            c.http = h.clone();
        }
        Ok(c)
    }
}

/// Every preset.
#[must_use]
pub fn presets() -> Vec<PresetInfo> {
    let ee = |name: String, d: EeDataset, description: String| PresetInfo {
        name,
        title: d.spec.title.clone(),
        description,
        resolution: d.spec.geobox.resolution().0,
        crs: "EPSG:4326".to_owned(),
        chunk_size: d.spec.chunk_size,
        temporal: d.spec.time.is_some(),
    };
    let mut out: Vec<PresetInfo> = Resolution::ALL
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
        .collect();
    for y in TcTrendYear::ALL {
        out.push(ee(
            format!("tctrend-{}", y.year()),
            EeDataset::tctrend(y),
            format!(
                "Tasseled Cap trends {}-{} (TCB/TCG/TCW_slope, uint8), from Earth Engine {}",
                y.year() - 19,
                y.year(),
                y.collection()
            ),
        ));
    }
    out.push(ee(
        "alphaearth".to_owned(),
        EeDataset::alphaearth(),
        format!("AlphaEarth satellite embeddings 2017-2024 (A00-A63, float32), from Earth Engine {ALPHAEARTH_COLLECTION}"),
    ));
    out.push(PresetInfo {
        name: SENTINEL2_NAME.to_owned(),
        title: sentinel2::TITLE.to_owned(),
        description: format!(
            "Sentinel-2 L2A (B02-B04, B08 10 m; B11, B12 20 m, uint16; SCL uint8) from the STAC API at {}, \
             warped onto the cube grid (any CRS and resolution from the library); daily steps {} to {}",
            sentinel2::DEFAULT_STAC_URL,
            sentinel2::DEFAULT_FIRST_DAY,
            sentinel2::DEFAULT_LAST_DAY,
        ),
        resolution: sentinel2::GEOGRAPHIC_RESOLUTION,
        crs: "EPSG:4326".to_owned(),
        chunk_size: sentinel2::CHUNK_SIZE,
        temporal: true,
    });
    out
}

/// The registry name of the Sentinel-2 preset.
const SENTINEL2_NAME: &str = "sentinel2-l2a";

/// Whether `name` asks for the Sentinel-2 preset: its name, its title or
/// the collection id, any case.
fn is_sentinel2(name: &str) -> bool {
    [
        SENTINEL2_NAME,
        sentinel2::TITLE,
        sentinel2::DEFAULT_COLLECTION,
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

/// The Earth Engine dataset `name` stands for, if any.
fn ee_dataset(name: &str) -> Option<EeDataset> {
    let n = name.to_ascii_lowercase();
    if n == "tctrend" {
        return Some(EeDataset::tctrend(TcTrendYear::Y2024));
    }
    if n == "alphaearth" || n == "alphaearthembeddings" {
        return Some(EeDataset::alphaearth());
    }
    TcTrendYear::ALL
        .into_iter()
        .find(|y| n == format!("tctrend-{}", y.year()) || n == format!("tctrend{}", y.year()))
        .map(EeDataset::tctrend)
}

/// The source of preset `name` (its `name` or `title`, any case), with
/// `overrides` applied.
///
/// # Errors
/// [`Error::UnknownDataset`] listing the known names; errors building the source.
pub fn open(name: &str, overrides: &Overrides) -> Result<Arc<dyn Source>> {
    if let Some(mut d) = ee_dataset(name) {
        if let Some(c) = overrides.codec {
            d = d.with_codec(c);
        }
        let config = overrides.ee.config(overrides.http.as_ref())?;
        return Ok(Arc::new(
            crate::ee::EarthEngineSource::new(d, config)?.offline(overrides.offline),
        ));
    }
    if is_sentinel2(name) {
        // Offline needs no flag: its searches need the network whatever,
        // and an offline accessor only asks the `_offline` methods.
        let mut b = Sentinel2::builder();
        if let Some(u) = &overrides.stac_url {
            b = b.stac_url(u.clone());
        }
        if let Some(c) = overrides.codec {
            b = b.codec(c);
        }
        if let Some(h) = &overrides.http {
            b = b.http_config(h.clone());
        }
        return Ok(Arc::new(b.build()?));
    }
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
        assert_eq!(p.len(), 9);
        assert_eq!(p[2].title, "ArcticDEM32m");
        let s2 = open(
            "Sentinel-2-L2A",
            &Overrides {
                stac_url: Some("http://127.0.0.1:9/".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(s2.spec().title, "Sentinel2L2A");
        assert!(s2.spec().time.is_some());
        assert_eq!(p[8].title, s2.spec().title);
        assert_eq!(p[8].resolution, s2.spec().geobox.resolution().0);
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
