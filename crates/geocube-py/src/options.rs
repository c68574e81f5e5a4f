//! What an accessor is built from: a preset or a STAC spec, endpoints,
//! deadlines and backend settings, as the Python keyword arguments give them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use geocube::{Accessor, BackendConfig, BackendKind, ChunkCodec, CubeSpec, CubeStorage, Source};
use geocube_core::S3Credentials;
use geocube_sources::datasets::{EeOverrides, Overrides};
use geocube_sources::http::HttpConfig;

/// The S3 options of an `s3://` storage, as the Python keyword arguments
/// give them (`endpoint`, `region`, `access_key_id`, `secret_access_key`,
/// `session_token`, `anonymous`); credentials default to the environment.
pub(crate) fn storage(url: &str, s3: &HashMap<String, String>) -> geocube::Result<CubeStorage> {
    Ok(CubeStorage::from_url(url, |mut loc| {
        if let Some(e) = s3.get("endpoint") {
            loc = loc.endpoint(e.clone());
        }
        if let Some(r) = s3.get("region") {
            loc = loc.region(r.clone());
        }
        if s3.get("anonymous").is_some_and(|v| v == "true") {
            loc = loc.credentials(S3Credentials::Anonymous);
        } else if let (Some(id), Some(secret)) =
            (s3.get("access_key_id"), s3.get("secret_access_key"))
        {
            loc = loc.credentials(S3Credentials::Static {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: s3.get("session_token").cloned(),
            });
        }
        loc
    })?)
}

/// Options of one accessor (every field a keyword argument of `_geocube.Accessor`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub(crate) preset: Option<String>,
    pub(crate) spec_json: Option<String>,
    pub(crate) stac_url: Option<String>,
    pub(crate) collection: Option<String>,
    pub(crate) assets: Vec<(String, String)>,
    pub(crate) aux_dir: Option<PathBuf>,
    pub(crate) index_url: Option<String>,
    pub(crate) backend: String,
    pub(crate) workers: Option<usize>,
    pub(crate) offline: bool,
    pub(crate) connect_timeout: Option<f64>,
    pub(crate) read_timeout: Option<f64>,
    pub(crate) request_timeout: Option<f64>,
    pub(crate) codec: Option<String>,
    pub(crate) chunk_cache_mib: Option<usize>,
    pub(crate) claim_lease: Option<f64>,
    /// Earth Engine settings: `url`, `key` (a key file), `token`,
    /// `project`, `max_in_flight`.
    pub(crate) ee: HashMap<String, String>,
}

fn seconds(name: &str, v: Option<f64>, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) => Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{name} must be a positive number of seconds, not {s}")),
    }
}

impl Options {
    fn ee_overrides(&self) -> geocube::Result<EeOverrides> {
        let get = |k: &str| self.ee.get(k).filter(|v| !v.is_empty()).cloned();
        let max_in_flight = get("max_in_flight")
            .map(|n| {
                n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    invalid(format!(
                        "ee_max_in_flight must be a positive integer, not {n}"
                    ))
                })
            })
            .transpose()?;
        Ok(EeOverrides {
            url: get("url"),
            key: get("key").map(PathBuf::from),
            token: get("token"),
            project: get("project"),
            max_in_flight,
        })
    }

    fn http(&self) -> Result<HttpConfig, String> {
        let d = HttpConfig::default();
        Ok(HttpConfig {
            connect_timeout: seconds("connect_timeout", self.connect_timeout, d.connect_timeout)?,
            read_timeout: seconds("read_timeout", self.read_timeout, d.read_timeout)?,
            request_timeout: seconds("request_timeout", self.request_timeout, d.request_timeout)?,
            ..d
        })
    }

    fn codec(&self) -> geocube::Result<Option<ChunkCodec>> {
        self.codec
            .as_deref()
            .map(ChunkCodec::parse)
            .transpose()
            .map_err(geocube::Error::from)
    }

    fn source(&self) -> geocube::Result<Arc<dyn Source>> {
        let http = self.http().map_err(invalid)?;
        match (&self.preset, &self.spec_json) {
            (Some(name), None) => Ok(geocube_sources::datasets::open(
                name,
                &Overrides {
                    stac_url: self.stac_url.clone(),
                    aux_dir: self.aux_dir.clone(),
                    index_url: self.index_url.clone(),
                    codec: self.codec()?,
                    http: Some(http),
                    offline: self.offline,
                    ee: self.ee_overrides()?,
                },
            )?),
            (None, Some(json)) => {
                let spec: CubeSpec = serde_json::from_str(json)
                    .map_err(|e| invalid(format!("invalid cube spec: {e}")))?;
                let root = self
                    .stac_url
                    .clone()
                    .ok_or_else(|| invalid("a STAC accessor needs stac_url".into()))?;
                let collection = self
                    .collection
                    .clone()
                    .ok_or_else(|| invalid("a STAC accessor needs collection".into()))?;
                let mut b = geocube::StacSource::builder(root, collection, spec).http_config(http);
                for (channel, asset) in &self.assets {
                    b = b.asset(channel.clone(), asset.clone());
                }
                Ok(Arc::new(b.build()?))
            }
            _ => Err(invalid("give exactly one of preset= and spec_json=".into())),
        }
    }

    /// The accessor these options describe, its cube at `storage`.
    pub(crate) fn build(&self, storage: CubeStorage) -> geocube::Result<Accessor> {
        let source = self.source()?;
        let backend = match self.backend.as_str() {
            "threaded" => BackendKind::Threaded,
            "simple" => BackendKind::Simple,
            other => {
                return Err(invalid(format!(
                    "unknown backend {other:?}; use \"threaded\" or \"simple\""
                )));
            }
        };
        let mut config = BackendConfig::default();
        if let Some(w) = self.workers {
            if w == 0 {
                return Err(invalid("workers must be at least 1".into()));
            }
            config.workers = w;
        }
        if let Some(secs) = self.claim_lease {
            config.claim_lease =
                seconds("claim_lease", Some(secs), config.claim_lease).map_err(invalid)?;
        }
        if let Some(mib) = self.chunk_cache_mib {
            config.chunk_cache_bytes = mib.saturating_mul(1 << 20);
        }
        let mut b = Accessor::builder(source, storage)
            .backend(backend)
            .config(config)
            .offline(self.offline);
        if let Some(c) = self.codec()? {
            b = b.codec(c);
        }
        b.build()
    }
}

/// A request the options cannot describe (raised as `ValueError`).
pub(crate) fn invalid(reason: String) -> geocube::Error {
    geocube::Error::Core(geocube_core::Error::InvalidSpec(reason))
}
