//! ArcticDEM v4.1 mosaics at 2 m, 10 m and 32 m (smart-geocubes'
//! `ArcticDEM2m`, `ArcticDEM10m`, `ArcticDEM32m`).
//!
//! The cube grids, chunking, channels and attributes are exactly the
//! reference's, so cubes interoperate. Patches come from PGC's GeoParquet
//! mosaic index (intersected in EPSG:3413, so the antimeridian needs no
//! care); each tile's STAC item is fetched only when it is downloaded.
//!
//! Offline ([`ArcticDemBuilder::offline`], or the `_offline` methods an
//! offline accessor calls) the index must already be in the aux directory:
//! nothing is downloaded and no directory is created, and a missing index is
//! [`Error::IndexMissingOffline`] saying how to get it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use geocube_core::crs::reproject_geometry;
use geocube_core::{
    Aoi, BoundingBox, ChannelSpec, ChunkCodec, Crs, CubeSpec, DType, GeoBox, Patch, PatchRef, Toi,
};

use crate::error::{Error, Result};
use crate::http::{HttpClient, HttpConfig};
use crate::loader::PatchLoader;
use crate::mosaic_index::{MosaicIndex, ensure_index};
use crate::stac::{StacItemUrl, aoi_text, fetch_item, join_url};

/// PGC's STAC API.
pub const DEFAULT_STAC_URL: &str = "https://stac.pgc.umn.edu/api/v1/";
/// PGC's archive of the mosaic indexes (all resolutions, GeoParquet).
pub const DEFAULT_INDEX_URL: &str = "https://data.pgc.umn.edu/elev/dem/setsm/ArcticDEM/indexes/ArcticDEM_Mosaic_Index_latest_gpqt.zip";
/// Environment variable naming the auxiliary directory (mosaic indexes).
pub const AUX_DIR_ENV: &str = "GEOCUBE_AUX_DIR";
/// smart-geocubes' chunk edge.
pub const CHUNK_SIZE: usize = 3600;
/// The `dem` nodata value of the source (kept bit-exact in the cube).
pub const DEM_NODATA: f64 = -9999.0;

/// The mosaic resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// 2 m.
    M2,
    /// 10 m.
    M10,
    /// 32 m.
    M32,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 3] = [Resolution::M2, Resolution::M10, Resolution::M32];

    /// Pixel size in metres.
    #[must_use]
    pub fn metres(self) -> f64 {
        match self {
            Resolution::M2 => 2.0,
            Resolution::M10 => 10.0,
            Resolution::M32 => 32.0,
        }
    }

    /// `2m`, `10m`, `32m`: as in PGC's collection and file names.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Resolution::M2 => "2m",
            Resolution::M10 => "10m",
            Resolution::M32 => "32m",
        }
    }

    /// The reference's class name, used as the cube title (`ArcticDEM32m`).
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Resolution::M2 => "ArcticDEM2m",
            Resolution::M10 => "ArcticDEM10m",
            Resolution::M32 => "ArcticDEM32m",
        }
    }

    /// The STAC collection, `arcticdem-mosaics-v4.1-{res}`.
    #[must_use]
    pub fn collection(self) -> String {
        format!("arcticdem-mosaics-v4.1-{}", self.label())
    }

    /// The index file name, `ArcticDEM_Mosaic_Index_v4_1_{res}.parquet`.
    #[must_use]
    pub fn index_file_name(self) -> String {
        format!("ArcticDEM_Mosaic_Index_v4_1_{}.parquet", self.label())
    }

    /// The bbox the reference passes to odc-geo's `GeoBox.from_bbox`.
    #[must_use]
    pub fn extent_bbox(self) -> BoundingBox {
        match self {
            Resolution::M32 => {
                BoundingBox::new(-4_000_096.0, -3_400_096.0, 3_400_096.0, 4_100_096.0)
            }
            Resolution::M2 | Resolution::M10 => {
                BoundingBox::new(-4_000_100.0, -3_400_100.0, 3_400_100.0, 4_100_100.0)
            }
        }
    }
}

/// The cube of an ArcticDEM resolution: grid, channels and attributes as
/// smart-geocubes writes them, with `codec` for the data variables.
///
/// # Errors
/// Only if EPSG:3413 were unknown (never in practice).
pub fn cube_spec(res: Resolution, codec: ChunkCodec) -> Result<CubeSpec> {
    let crs = Crs::from_epsg(3413)?;
    let geobox = GeoBox::from_bbox(res.extent_bbox(), crs, res.metres())?;
    let dem = ChannelSpec::new("dem", DType::Float32)
        .with_nodata(DEM_NODATA)
        .with_attribute("long_name", "Digital Elevation Model")
        .with_attribute("data_source", "ArcticDEM")
        .with_attribute("units", "m")
        .with_attribute(
            "description",
            "Digital Elevation Model, elevation resolution is cropped to ~1cm",
        );
    let datamask = ChannelSpec::new("datamask", DType::Bool)
        .with_attribute("long_name", "Data Mask")
        .with_attribute("source", "ArcticDEM");
    Ok(CubeSpec {
        title: res.title().to_owned(),
        geobox,
        time: None,
        chunk_size: CHUNK_SIZE,
        channels: vec![dem, datamask],
        codec,
    })
}

/// The default auxiliary directory: `$GEOCUBE_AUX_DIR`, else
/// `$XDG_CACHE_HOME/geocube`, else `~/.cache/geocube`, else the temp dir.
#[must_use]
pub fn default_aux_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env(AUX_DIR_ENV)
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("geocube")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("geocube")))
        .unwrap_or_else(|| std::env::temp_dir().join("geocube"))
}

/// An ArcticDEM mosaic source.
///
/// ```no_run
/// use geocube_sources::datasets::arcticdem::{ArcticDem, Resolution};
///
/// # fn main() -> geocube_sources::Result<()> {
/// let dem = ArcticDem::builder(Resolution::M32)
///     .stac_url("http://127.0.0.1:8080/")
///     .aux_dir("/tmp/geocube-aux")
///     .build()?;
/// assert_eq!(dem.spec_ref().title, "ArcticDEM32m");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ArcticDem {
    res: Resolution,
    stac_url: String,
    index_url: String,
    index_path: PathBuf,
    loader: PatchLoader,
    index: Mutex<Option<Arc<MosaicIndex>>>,
    offline: bool,
}

/// Builds an [`ArcticDem`] source; every endpoint can be overridden.
#[derive(Clone, Debug)]
pub struct ArcticDemBuilder {
    res: Resolution,
    stac_url: String,
    index_url: String,
    aux_dir: Option<PathBuf>,
    index_path: Option<PathBuf>,
    codec: ChunkCodec,
    http: Option<HttpClient>,
    http_config: HttpConfig,
    offline: bool,
}

impl ArcticDemBuilder {
    /// The STAC API root (default [`DEFAULT_STAC_URL`]).
    #[must_use]
    pub fn stac_url(mut self, url: impl Into<String>) -> Self {
        self.stac_url = url.into();
        self
    }

    /// Where the mosaic index is fetched from when missing: a `.parquet`
    /// file or a `.zip` of them (default [`DEFAULT_INDEX_URL`]).
    #[must_use]
    pub fn index_url(mut self, url: impl Into<String>) -> Self {
        self.index_url = url.into();
        self
    }

    /// The directory holding (or receiving) the mosaic index (default
    /// [`default_aux_dir`]).
    #[must_use]
    pub fn aux_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.aux_dir = Some(dir.into());
        self
    }

    /// Use this index file instead of `{aux_dir}/ArcticDEM_Mosaic_Index_v4_1_{res}.parquet`.
    #[must_use]
    pub fn index_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.index_path = Some(path.into());
        self
    }

    /// The codec of the cube's data variables (default [`ChunkCodec::Default`]).
    #[must_use]
    pub fn codec(mut self, codec: ChunkCodec) -> Self {
        self.codec = codec;
        self
    }

    /// Timeouts and retries of the HTTP client.
    #[must_use]
    pub fn http_config(mut self, config: HttpConfig) -> Self {
        self.http_config = config;
        self
    }

    /// Share an existing HTTP client (its configuration wins).
    #[must_use]
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.http = Some(client);
        self
    }

    /// Never touch the network: the index must be in place (it is read,
    /// never downloaded, and no directory is created) and downloads fail
    /// with [`Error::NeedsNetwork`] without a request (default `false`).
    #[must_use]
    pub fn offline(mut self, yes: bool) -> Self {
        self.offline = yes;
        self
    }

    /// The source. Nothing is fetched yet: the index is read (and
    /// downloaded if missing, unless offline) on the first `touching_patches`.
    ///
    /// # Errors
    /// [`Error::Config`] when the HTTP client cannot be built.
    pub fn build(self) -> Result<ArcticDem> {
        let spec = cube_spec(self.res, self.codec)?;
        let http = match self.http {
            Some(h) => h,
            None => HttpClient::new(self.http_config)?,
        };
        let index_path = self.index_path.unwrap_or_else(|| {
            self.aux_dir
                .unwrap_or_else(default_aux_dir)
                .join(self.res.index_file_name())
        });
        let assets = vec![
            ("dem".to_owned(), "dem".to_owned()),
            ("datamask".to_owned(), "datamask".to_owned()),
        ];
        Ok(ArcticDem {
            res: self.res,
            stac_url: self.stac_url,
            index_url: self.index_url,
            index_path,
            loader: PatchLoader {
                http,
                spec,
                assets,
                // ArcticDEM's tiles are on the cube's lattice: copied, never warped.
                resampling: std::collections::BTreeMap::new(),
            },
            index: Mutex::new(None),
            offline: self.offline,
        })
    }
}

impl ArcticDem {
    /// A builder with the real endpoints as defaults.
    #[must_use]
    pub fn builder(res: Resolution) -> ArcticDemBuilder {
        ArcticDemBuilder {
            res,
            stac_url: DEFAULT_STAC_URL.to_owned(),
            index_url: DEFAULT_INDEX_URL.to_owned(),
            aux_dir: None,
            index_path: None,
            codec: ChunkCodec::Default,
            http: None,
            http_config: HttpConfig::default(),
            offline: false,
        }
    }

    /// The resolution.
    #[must_use]
    pub fn resolution(&self) -> Resolution {
        self.res
    }

    /// The cube spec (also [`Source::spec`]).
    #[must_use]
    pub fn spec_ref(&self) -> &CubeSpec {
        &self.loader.spec
    }

    /// Where the mosaic index is (or will be).
    #[must_use]
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// The STAC item URL of tile `dem_id`.
    #[must_use]
    pub fn item_url(&self, dem_id: &str) -> String {
        join_url(
            &self.stac_url,
            &format!("collections/{}/items/{dem_id}", self.res.collection()),
        )
    }

    /// Whether the source was built offline ([`ArcticDemBuilder::offline`]).
    #[must_use]
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The mosaic index, read once (and downloaded first if missing, unless
    /// the source is offline).
    ///
    /// # Errors
    /// [`Error::Index`] and download errors; offline,
    /// [`Error::IndexMissingOffline`].
    pub fn index(&self) -> Result<Arc<MosaicIndex>> {
        self.index_with(!self.offline)
    }

    /// The mosaic index as [`ArcticDem::index`] reads it; `fetch: false`
    /// never downloads it (nor creates the aux directory).
    fn index_with(&self, fetch: bool) -> Result<Arc<MosaicIndex>> {
        let mut guard = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(idx) = guard.as_ref() {
            return Ok(Arc::clone(idx));
        }
        if fetch {
            ensure_index(&self.loader.http, &self.index_url, &self.index_path)?;
        } else if !self.index_path.is_file() {
            return Err(Error::IndexMissingOffline {
                file: self.index_path.file_name().map_or_else(
                    || self.res.index_file_name(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                dir: self
                    .index_path
                    .parent()
                    .map_or_else(PathBuf::new, Path::to_path_buf),
                url: self.index_url.clone(),
            });
        }
        let idx = Arc::new(MosaicIndex::read(&self.index_path, "dem_id")?);
        *guard = Some(Arc::clone(&idx));
        Ok(idx)
    }

    fn patch_of(
        &self,
        crs: &Crs,
        wgs84: &Crs,
        id: &str,
        footprint: &geo::Geometry<f64>,
    ) -> Result<PatchRef> {
        let geometry = reproject_geometry(footprint, crs, wgs84, 8)?;
        Ok(PatchRef::new(id, geometry, None).with_item(StacItemUrl(self.item_url(id))))
    }
}

impl ArcticDem {
    /// The cube this source fills.
    #[must_use]
    pub fn spec(&self) -> &CubeSpec {
        &self.loader.spec
    }

    /// Every item whose footprint touches `aoi` at `toi`
    /// ([`Source::touching_patches`] with this crate's typed error).
    ///
    /// # Errors
    /// [`Error::NoPatches`] when none does; index, API and CRS failures.
    pub fn touching_patches(&self, aoi: &Aoi, _toi: &Toi) -> Result<Vec<PatchRef>> {
        self.touching(aoi, !self.offline)
    }

    /// [`ArcticDem::touching_patches`] from the index already in the aux
    /// directory: never a request ([`Source::touching_patches_offline`]).
    ///
    /// # Errors
    /// [`Error::IndexMissingOffline`]; as [`ArcticDem::touching_patches`].
    ///
    /// [`Source::touching_patches_offline`]: geocube_core::Source::touching_patches_offline
    pub fn touching_patches_offline(&self, aoi: &Aoi, _toi: &Toi) -> Result<Vec<PatchRef>> {
        self.touching(aoi, false)
    }

    fn touching(&self, aoi: &Aoi, fetch: bool) -> Result<Vec<PatchRef>> {
        let crs = self.loader.spec.geobox.crs().clone();
        let geoms = aoi.geometries_in(&crs)?;
        let index = self.index_with(fetch)?;
        let hits = index.intersecting(&geoms);
        if hits.is_empty() {
            return Err(Error::NoPatches { aoi: aoi_text(aoi) });
        }
        let wgs84 = Crs::wgs84();
        hits.into_iter()
            .map(|e| self.patch_of(&crs, &wgs84, &e.id, &e.footprint))
            .collect()
    }

    /// Download one patch onto the cube grid ([`Source::download`] with
    /// this crate's typed error).
    ///
    /// # Errors
    /// HTTP, STAC and GeoTIFF failures; [`Error::is_retryable`] tells which
    /// are transient. Offline, [`Error::NeedsNetwork`] without a request.
    pub fn download(&self, idx: &PatchRef) -> Result<Patch> {
        if self.offline {
            return Err(Error::NeedsNetwork {
                what: format!("downloading patch `{}`", idx.id),
            });
        }
        let url = idx
            .item::<StacItemUrl>()
            .map_or_else(|| self.item_url(&idx.id), |u| u.0.clone());
        let item = fetch_item(&self.loader.http, &url)?;
        self.loader.load(&idx.id, &[item])
    }

    /// Download one tile, in pieces along the cube's chunks when it is
    /// larger than `max_whole_bytes` (a 2 m tile: 25000² px, 2.5 GB of
    /// float32) ([`Source::download_streaming`]).
    ///
    /// # Errors
    /// As [`ArcticDem::download`], and whatever `sink` refuses a piece with.
    pub fn download_streaming(
        &self,
        idx: &PatchRef,
        max_whole_bytes: u64,
        sink: &mut geocube_core::PieceSink<'_>,
    ) -> std::result::Result<geocube_core::Streamed, geocube_core::DownloadError> {
        if self.offline {
            return Err(Error::NeedsNetwork {
                what: format!("downloading patch `{}`", idx.id),
            }
            .into());
        }
        let url = idx
            .item::<StacItemUrl>()
            .map_or_else(|| self.item_url(&idx.id), |u| u.0.clone());
        let item = fetch_item(&self.loader.http, &url)?;
        Ok(self
            .loader
            .load_streaming(&idx.id, &[item], max_whole_bytes, sink)?)
    }

    /// The references of the given patch ids ([`Source::patch_refs`] with
    /// this crate's typed error).
    ///
    /// # Errors
    /// Index or API failures.
    pub fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        self.refs(ids, !self.offline)
    }

    /// [`ArcticDem::patch_refs`] from the index already in the aux directory
    /// ([`Source::patch_refs_offline`]).
    ///
    /// # Errors
    /// [`Error::IndexMissingOffline`]; as [`ArcticDem::patch_refs`].
    ///
    /// [`Source::patch_refs_offline`]: geocube_core::Source::patch_refs_offline
    pub fn patch_refs_offline(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        self.refs(ids, false)
    }

    fn refs(&self, ids: &[String], fetch: bool) -> Result<Vec<PatchRef>> {
        let crs = self.loader.spec.geobox.crs().clone();
        let wgs84 = Crs::wgs84();
        let index = self.index_with(fetch)?;
        ids.iter()
            .filter_map(|id| index.get(id))
            .map(|e| self.patch_of(&crs, &wgs84, &e.id, &e.footprint))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geocube_core::Affine;

    /// The grids odc-geo 0.5 computes for the reference's `GeoBox.from_bbox`
    /// calls (printed with the reference venv: shape and affine).
    #[test]
    fn grids_match_odc_geo() {
        let want = [
            (Resolution::M32, 231_256, 234_381, -4_000_096.0, 4_100_096.0),
            (Resolution::M10, 740_020, 750_020, -4_000_100.0, 4_100_100.0),
            (
                Resolution::M2,
                3_700_100,
                3_750_100,
                -4_000_100.0,
                4_100_100.0,
            ),
        ];
        for (res, w, h, x0, y0) in want {
            let spec = cube_spec(res, ChunkCodec::Default).unwrap();
            spec.validate().unwrap();
            let g = &spec.geobox;
            assert_eq!((g.width(), g.height()), (w, h), "{res:?}");
            let m = res.metres();
            assert_eq!(
                g.affine(),
                Affine {
                    x0,
                    res_x: m,
                    y0,
                    res_y: -m
                },
                "{res:?}"
            );
            assert_eq!(g.crs().epsg(), Some(3413));
            assert_eq!(spec.chunk_size, 3600);
            assert_eq!(spec.title, res.title());
        }
    }

    #[test]
    fn channels_and_names() {
        let spec = cube_spec(Resolution::M32, ChunkCodec::Default).unwrap();
        let dem = spec.channel("dem").unwrap();
        assert_eq!((dem.dtype, dem.nodata), (DType::Float32, Some(-9999.0)));
        assert_eq!(dem.attributes["long_name"], "Digital Elevation Model");
        assert_eq!(dem.attributes["units"], "m");
        let mask = spec.channel("datamask").unwrap();
        assert_eq!(mask.dtype, DType::Bool);
        assert_eq!(mask.attributes["source"], "ArcticDEM");
        assert_eq!(Resolution::M10.collection(), "arcticdem-mosaics-v4.1-10m");
        assert_eq!(
            Resolution::M2.index_file_name(),
            "ArcticDEM_Mosaic_Index_v4_1_2m.parquet"
        );
        let s = ArcticDem::builder(Resolution::M32)
            .stac_url("http://x/api/")
            .aux_dir("/a")
            .build()
            .unwrap();
        assert_eq!(
            s.item_url("1_2_32m_v4.1"),
            "http://x/api/collections/arcticdem-mosaics-v4.1-32m/items/1_2_32m_v4.1"
        );
        assert_eq!(
            s.index_path(),
            Path::new("/a/ArcticDEM_Mosaic_Index_v4_1_32m.parquet")
        );
    }
}
crate::source::impl_source!(ArcticDem);
