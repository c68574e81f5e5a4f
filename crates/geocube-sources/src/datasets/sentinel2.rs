//! Sentinel-2 Level-2A surface reflectance from a STAC API (Earth Search's
//! or the Planetary Computer's `sentinel-2-l2a`), in a temporal cube on any
//! grid: the CRS, resolution and extent are the user's, and every item
//! (a UTM tile on its own zone's grid, 10 m and 20 m bands) is warped into
//! it by the loader.
//!
//! smart-geocubes has no Sentinel-2 dataset; the cube follows its layout
//! for temporal cubes (`time`, `y`, `x`; chunks `[1, chunk, chunk]`), the
//! channels are named by band as the Planetary Computer and most odc-stac
//! configurations name them (`B02`, `B03`, `B04`, `B08`, `B11`, `B12`,
//! `SCL`, …) and read from the asset keys of the chosen catalogue
//! ([`AssetKeys`]: Earth Search's `blue`, `green`, `red`, `nir`, `swir16`,
//! `swir22`, `scl` by default).
//!
//! # Time steps
//!
//! A cube's time axis is fixed when it is created, while acquisitions come
//! at any instant: each step stands for an interval, from the step to the
//! next one but at most [`Sentinel2Builder::step_length`] (one day by
//! default), and an item belongs to the step whose interval holds its
//! `datetime`. Items outside every interval are not loaded. The default
//! axis is one step per UTC day from the first Sentinel-2 acquisitions
//! (2015-06-27) to the end of 2030 ([`DEFAULT_FIRST_DAY`],
//! [`DEFAULT_LAST_DAY`]): fixed, so that a cube's axis does not depend on
//! the day it was created. Chunks of days without data are never written
//! and cost nothing.
//!
//! The loader places an item at the step its `datetime` names, so the
//! patches of this source carry their items with `datetime` set to the
//! step; the acquisition time is kept as `geocube:acquired`. Several items
//! of one tile in one step (two orbits on one day, or a step of several
//! days) are separate patches written into the same step: where both have
//! data, the one committed last is kept.
//!
//! ```
//! use geocube_core::{BoundingBox, Crs};
//! use geocube_sources::datasets::sentinel2::{Band, Sentinel2};
//!
//! # fn main() -> geocube_sources::Result<()> {
//! let s2 = Sentinel2::builder()
//!     .crs(Crs::from_epsg(3413)?)          // the ArcticDEM extent by default
//!     .resolution(10.0)
//!     .bands([Band::B04, Band::B08, Band::Scl])
//!     .max_cloud_cover(20.0)
//!     .daily("2024-07-01".parse().unwrap(), "2024-07-31".parse().unwrap())
//!     .build()?;
//! let spec = s2.spec();
//! assert_eq!(spec.time.as_ref().map(Vec::len), Some(31));
//! assert_eq!(spec.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["B04", "B08", "SCL"]);
//! assert_eq!(s2.stac_source().query()["eo:cloud_cover"]["lte"], 20.0);
//! # Ok(()) }
//! ```

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use geocube_core::toi::TimeMethod;
use geocube_core::warp::Resampling;
use geocube_core::{
    Aoi, BoundingBox, ChannelSpec, ChunkCodec, Crs, CubeSpec, DType, GeoBox, Patch, PatchRef, Toi,
};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::http::{HttpClient, HttpConfig};
use crate::stac::{StacItems, StacSource, aoi_text};

/// Earth Search's STAC API (Element 84), where `sentinel-2-l2a` holds the
/// COGs of every L2A product.
pub const DEFAULT_STAC_URL: &str = "https://earth-search.aws.element84.com/v1";
/// The collection id on Earth Search and the Planetary Computer.
pub const DEFAULT_COLLECTION: &str = "sentinel-2-l2a";
/// The cube title.
pub const TITLE: &str = "Sentinel2L2A";
/// Chunk edge unless [`Sentinel2Builder::chunk_size`] says otherwise
/// (smart-geocubes' 3600).
pub const CHUNK_SIZE: usize = 3600;
/// Nodata of every band (L2A's 0).
pub const NODATA: f64 = 0.0;
/// First day of the default time axis: Sentinel-2A's first acquisitions.
pub const DEFAULT_FIRST_DAY: &str = "2015-06-27";
/// Last day of the default time axis.
pub const DEFAULT_LAST_DAY: &str = "2030-12-31";
/// Pixel size in degrees of geographic cubes unless given: 10 m at the
/// equator (AlphaEarth's).
pub const GEOGRAPHIC_RESOLUTION: f64 = crate::datasets::earthengine::ALPHAEARTH_RESOLUTION;
/// Pixel size in metres (CRS units) of projected cubes unless given.
pub const PROJECTED_RESOLUTION: f64 = 10.0;

/// A band of Sentinel-2 L2A.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Band {
    /// Coastal aerosol, 60 m.
    B01,
    /// Blue, 10 m.
    B02,
    /// Green, 10 m.
    B03,
    /// Red, 10 m.
    B04,
    /// Red edge 1, 20 m.
    B05,
    /// Red edge 2, 20 m.
    B06,
    /// Red edge 3, 20 m.
    B07,
    /// Near infrared, 10 m.
    B08,
    /// Narrow near infrared, 20 m.
    B8A,
    /// Water vapour, 60 m.
    B09,
    /// Short-wave infrared 1.6 µm, 20 m.
    B11,
    /// Short-wave infrared 2.2 µm, 20 m.
    B12,
    /// Scene classification (uint8 classes), 20 m.
    Scl,
}

impl Band {
    /// Every band L2A delivers, in band order.
    pub const ALL: [Band; 13] = [
        Band::B01,
        Band::B02,
        Band::B03,
        Band::B04,
        Band::B05,
        Band::B06,
        Band::B07,
        Band::B08,
        Band::B8A,
        Band::B09,
        Band::B11,
        Band::B12,
        Band::Scl,
    ];

    /// The default channels: the 10 m bands, the 20 m short-wave infrared
    /// and the scene classification.
    pub const DEFAULT: [Band; 7] = [
        Band::B02,
        Band::B03,
        Band::B04,
        Band::B08,
        Band::B11,
        Band::B12,
        Band::Scl,
    ];

    /// The band name, also the channel's (`B02`, `B8A`, `SCL`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Band::B01 => "B01",
            Band::B02 => "B02",
            Band::B03 => "B03",
            Band::B04 => "B04",
            Band::B05 => "B05",
            Band::B06 => "B06",
            Band::B07 => "B07",
            Band::B08 => "B08",
            Band::B8A => "B8A",
            Band::B09 => "B09",
            Band::B11 => "B11",
            Band::B12 => "B12",
            Band::Scl => "SCL",
        }
    }

    /// Earth Search's asset key (`coastal`, `blue`, …, `scl`).
    #[must_use]
    pub fn earth_search_key(self) -> &'static str {
        match self {
            Band::B01 => "coastal",
            Band::B02 => "blue",
            Band::B03 => "green",
            Band::B04 => "red",
            Band::B05 => "rededge1",
            Band::B06 => "rededge2",
            Band::B07 => "rededge3",
            Band::B08 => "nir",
            Band::B8A => "nir08",
            Band::B09 => "nir09",
            Band::B11 => "swir16",
            Band::B12 => "swir22",
            Band::Scl => "scl",
        }
    }

    /// The product's native pixel size in metres.
    #[must_use]
    pub fn native_resolution(self) -> f64 {
        match self {
            Band::B02 | Band::B03 | Band::B04 | Band::B08 => 10.0,
            Band::B05 | Band::B06 | Band::B07 | Band::B8A | Band::B11 | Band::B12 | Band::Scl => {
                20.0
            }
            Band::B01 | Band::B09 => 60.0,
        }
    }

    /// A band by name (`B02`, `b8a`, `SCL`) or Earth Search key (`red`),
    /// any case.
    #[must_use]
    pub fn parse(name: &str) -> Option<Band> {
        Band::ALL.into_iter().find(|b| {
            name.eq_ignore_ascii_case(b.name()) || name.eq_ignore_ascii_case(b.earth_search_key())
        })
    }

    /// The cube channel of the band: uint16 reflectance (DN) with nodata
    /// 0, or the uint8 classes of SCL with CF flag attributes.
    #[must_use]
    pub fn channel(self) -> ChannelSpec {
        let source = "Sentinel-2 L2A";
        if self == Band::Scl {
            return ChannelSpec::new(self.name(), DType::Uint8)
                .with_nodata(NODATA)
                .with_attribute("long_name", "Scene classification")
                .with_attribute("data_source", source)
                .with_attribute("flag_values", json!((0..=11).collect::<Vec<u8>>()))
                .with_attribute(
                    "flag_meanings",
                    "no_data saturated_or_defective dark_area cloud_shadow vegetation \
                     not_vegetated water unclassified cloud_medium_probability \
                     cloud_high_probability thin_cirrus snow",
                );
        }
        let long_name = match self {
            Band::B01 => "Coastal aerosol",
            Band::B02 => "Blue",
            Band::B03 => "Green",
            Band::B04 => "Red",
            Band::B05 => "Red edge 1",
            Band::B06 => "Red edge 2",
            Band::B07 => "Red edge 3",
            Band::B08 => "Near infrared",
            Band::B8A => "Narrow near infrared",
            Band::B09 => "Water vapour",
            Band::B11 => "Short-wave infrared 1.6 um",
            _ => "Short-wave infrared 2.2 um",
        };
        ChannelSpec::new(self.name(), DType::Uint16)
            .with_nodata(NODATA)
            .with_attribute("long_name", long_name)
            .with_attribute("data_source", source)
            .with_attribute("native_resolution_m", self.native_resolution())
            .with_attribute(
                "description",
                "Surface reflectance as stored (digital numbers): apply the items' \
                 raster:bands scale and offset for reflectance",
            )
    }
}

/// Which asset keys the collection's items use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AssetKeys {
    /// Earth Search's (`blue`, `green`, `red`, `nir`, `swir16`, `swir22`, `scl`, …).
    #[default]
    EarthSearch,
    /// The band names (`B02`, …, `SCL`), as on the Planetary Computer.
    BandNames,
}

impl AssetKeys {
    /// The asset key of `band`.
    #[must_use]
    pub fn key(self, band: Band) -> &'static str {
        match self {
            AssetKeys::EarthSearch => band.earth_search_key(),
            AssetKeys::BandNames => band.name(),
        }
    }
}

/// The default extent of a cube in `crs`: the globe for EPSG:4326, the
/// ArcticDEM extent for EPSG:3413 (as its 10 m mosaic's), and for a WGS 84
/// UTM zone (EPSG:326xx north, 327xx south) the zone at its widest, where it
/// crosses the equator (x 166 000–834 000 m), over 0–84° N (y 0–9 330 000 m)
/// or 80° S–0 (y 1 100 000–10 000 000 m). `None` for other CRSs.
#[must_use]
pub fn default_extent(crs: &Crs) -> Option<BoundingBox> {
    match crs.epsg()? {
        4326 => Some(BoundingBox::new(-180.0, -90.0, 180.0, 90.0)),
        3413 => Some(crate::datasets::arcticdem::Resolution::M10.extent_bbox()),
        32601..=32660 => Some(BoundingBox::new(166_000.0, 0.0, 834_000.0, 9_330_000.0)),
        32701..=32760 => Some(BoundingBox::new(
            166_000.0,
            1_100_000.0,
            834_000.0,
            10_000_000.0,
        )),
        _ => None,
    }
}

/// Builds a [`Sentinel2`] source.
#[derive(Clone, Debug)]
pub struct Sentinel2Builder {
    stac_url: String,
    collection: String,
    crs: Crs,
    resolution: Option<f64>,
    extent: Option<BoundingBox>,
    bands: Vec<Band>,
    asset_keys: AssetKeys,
    query: Map<String, Value>,
    steps: Option<Vec<DateTime<Utc>>>,
    step_length: Duration,
    chunk_size: usize,
    codec: ChunkCodec,
    resampling: Resampling,
    scl_resampling: Resampling,
    http: Option<HttpClient>,
    http_config: HttpConfig,
}

impl Sentinel2Builder {
    /// The STAC API root (default [`DEFAULT_STAC_URL`]).
    #[must_use]
    pub fn stac_url(mut self, url: impl Into<String>) -> Self {
        self.stac_url = url.into();
        self
    }

    /// The collection searched (default [`DEFAULT_COLLECTION`]).
    #[must_use]
    pub fn collection(mut self, collection: impl Into<String>) -> Self {
        self.collection = collection.into();
        self
    }

    /// The cube CRS (default EPSG:4326).
    #[must_use]
    pub fn crs(mut self, crs: Crs) -> Self {
        self.crs = crs;
        self
    }

    /// The pixel size in CRS units (default [`PROJECTED_RESOLUTION`] m, or
    /// [`GEOGRAPHIC_RESOLUTION`]° in a geographic CRS).
    #[must_use]
    pub fn resolution(mut self, resolution: f64) -> Self {
        self.resolution = Some(resolution);
        self
    }

    /// The cube extent in CRS units, snapped outward to the resolution's
    /// lattice (default [`default_extent`] of the CRS; required for other
    /// CRSs).
    #[must_use]
    pub fn extent(mut self, extent: BoundingBox) -> Self {
        self.extent = Some(extent);
        self
    }

    /// The channels, in this order (default [`Band::DEFAULT`]).
    #[must_use]
    pub fn bands(mut self, bands: impl IntoIterator<Item = Band>) -> Self {
        self.bands = bands.into_iter().collect();
        self
    }

    /// The asset keys of the collection (default [`AssetKeys::EarthSearch`]).
    #[must_use]
    pub fn asset_keys(mut self, keys: AssetKeys) -> Self {
        self.asset_keys = keys;
        self
    }

    /// Only items with `eo:cloud_cover` at most `percent`
    /// ([`StacSourceBuilder::max_cloud_cover`](crate::StacSourceBuilder::max_cloud_cover):
    /// asked of the server and checked on every item it returns).
    #[must_use]
    pub fn max_cloud_cover(self, percent: f64) -> Self {
        let mut q = Map::new();
        q.insert("eo:cloud_cover".into(), json!({ "lte": percent }));
        self.query(q)
    }

    /// Any property filter of the query extension
    /// ([`StacSourceBuilder::query`](crate::StacSourceBuilder::query)),
    /// merged with earlier ones.
    #[must_use]
    pub fn query(mut self, query: Map<String, Value>) -> Self {
        crate::stac::merge_query(&mut self.query, query);
        self
    }

    /// The time axis: these steps, each standing for the interval up to the
    /// next one but at most [`Sentinel2Builder::step_length`] (see the
    /// [module docs](self#time-steps)). Default: one step per UTC day,
    /// [`DEFAULT_FIRST_DAY`] to [`DEFAULT_LAST_DAY`].
    #[must_use]
    pub fn time_steps(mut self, steps: Vec<DateTime<Utc>>) -> Self {
        self.steps = Some(steps);
        self
    }

    /// One step per UTC day from `first` to `last` (both included), each
    /// holding that day's acquisitions.
    #[must_use]
    pub fn daily(mut self, first: NaiveDate, last: NaiveDate) -> Self {
        self.steps = Some(days(first, last));
        self.step_length = Duration::days(1);
        self
    }

    /// How long after its instant a step collects acquisitions, at most
    /// until the next step (default one day).
    #[must_use]
    pub fn step_length(mut self, length: Duration) -> Self {
        self.step_length = length;
        self
    }

    /// The spatial chunk edge in pixels (default [`CHUNK_SIZE`]); the loader
    /// warps one chunk at a time.
    #[must_use]
    pub fn chunk_size(mut self, chunk: usize) -> Self {
        self.chunk_size = chunk;
        self
    }

    /// The codec of the data variables (default [`ChunkCodec::Default`]).
    #[must_use]
    pub fn codec(mut self, codec: ChunkCodec) -> Self {
        self.codec = codec;
        self
    }

    /// The kernel warping the reflectance bands (default
    /// [`Resampling::Nearest`], as odc-stac: values stay source values).
    #[must_use]
    pub fn resampling(mut self, resampling: Resampling) -> Self {
        self.resampling = resampling;
        self
    }

    /// The kernel warping SCL (default [`Resampling::Mode`]: a class, never
    /// a blend of classes).
    #[must_use]
    pub fn scl_resampling(mut self, resampling: Resampling) -> Self {
        self.scl_resampling = resampling;
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

    /// The cube these settings give, and the step length.
    fn cube(&self) -> Result<CubeSpec> {
        if self.bands.is_empty() {
            return Err(Error::Config(
                "a Sentinel-2 cube needs at least one band".into(),
            ));
        }
        if self.step_length <= Duration::zero() {
            return Err(Error::Config(format!(
                "the step length must be positive, not {}",
                self.step_length
            )));
        }
        let extent = match self.extent {
            Some(e) => e,
            None => default_extent(&self.crs).ok_or_else(|| {
                Error::Config(format!(
                    "no default extent for a cube in {}: give one with `extent`",
                    self.crs
                ))
            })?,
        };
        let resolution = self.resolution.unwrap_or(if self.crs.is_geographic() {
            GEOGRAPHIC_RESOLUTION
        } else {
            PROJECTED_RESOLUTION
        });
        let geobox = GeoBox::from_bbox(extent, self.crs.clone(), resolution)?;
        let steps = match &self.steps {
            Some(s) => s.clone(),
            None => default_steps(),
        };
        let spec = CubeSpec {
            title: TITLE.to_owned(),
            geobox,
            time: Some(steps),
            chunk_size: self.chunk_size,
            channels: self.bands.iter().map(|b| b.channel()).collect(),
            codec: self.codec,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The source. Nothing is fetched yet.
    ///
    /// # Errors
    /// [`Error::Config`] without bands, with a step length that is not
    /// positive, in a CRS without a default extent and none given, or when
    /// the HTTP client cannot be built; [`Error::Core`] for an invalid grid
    /// or time axis (empty, not ascending) or a repeated band;
    /// [`Error::InvalidQuery`] for an unusable property filter.
    pub fn build(self) -> Result<Sentinel2> {
        let spec = self.cube()?;
        let mut b = StacSource::builder(self.stac_url, self.collection, spec)
            .resampling(self.resampling)
            .query(self.query)
            .http_config(self.http_config);
        if let Some(h) = self.http {
            b = b.http_client(h);
        }
        for band in &self.bands {
            b = b.asset(band.name(), self.asset_keys.key(*band));
        }
        if self.bands.contains(&Band::Scl) {
            b = b.channel_resampling(Band::Scl.name(), self.scl_resampling);
        }
        Ok(Sentinel2 {
            source: b.build()?,
            bands: self.bands,
            step_length: self.step_length,
        })
    }
}

/// Midnight UTC of every day from `first` to `last`.
fn days(first: NaiveDate, last: NaiveDate) -> Vec<DateTime<Utc>> {
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        .collect()
}

/// The default axis: every day from [`DEFAULT_FIRST_DAY`] to [`DEFAULT_LAST_DAY`].
fn default_steps() -> Vec<DateTime<Utc>> {
    match (
        DEFAULT_FIRST_DAY.parse::<NaiveDate>(),
        DEFAULT_LAST_DAY.parse::<NaiveDate>(),
    ) {
        (Ok(a), Ok(b)) => days(a, b),
        // Constants, parsed in the tests.
        _ => Vec::new(),
    }
}

/// Sentinel-2 L2A from a STAC API, on any grid, with a time axis (see the
/// [module docs](self)).
#[derive(Clone, Debug)]
pub struct Sentinel2 {
    source: StacSource,
    bands: Vec<Band>,
    step_length: Duration,
}

impl Sentinel2 {
    /// A builder with Earth Search as the STAC API, EPSG:4326 at 10 m (at
    /// the equator), the default bands and daily steps 2015–2030.
    #[must_use]
    pub fn builder() -> Sentinel2Builder {
        Sentinel2Builder {
            stac_url: DEFAULT_STAC_URL.to_owned(),
            collection: DEFAULT_COLLECTION.to_owned(),
            crs: Crs::wgs84(),
            resolution: None,
            extent: None,
            bands: Band::DEFAULT.to_vec(),
            asset_keys: AssetKeys::EarthSearch,
            query: Map::new(),
            steps: None,
            step_length: Duration::days(1),
            chunk_size: CHUNK_SIZE,
            codec: ChunkCodec::Default,
            resampling: Resampling::Nearest,
            scl_resampling: Resampling::Mode,
            http: None,
            http_config: HttpConfig::default(),
        }
    }

    /// The STAC source underneath (search, query, HTTP client).
    #[must_use]
    pub fn stac_source(&self) -> &StacSource {
        &self.source
    }

    /// The bands, in channel order.
    #[must_use]
    pub fn bands(&self) -> &[Band] {
        &self.bands
    }

    /// How long after its instant a step collects acquisitions.
    #[must_use]
    pub fn step_length(&self) -> Duration {
        self.step_length
    }

    fn steps(&self) -> &[DateTime<Utc>] {
        self.source.spec().time.as_deref().unwrap_or_default()
    }

    /// `[start, end)` of step `i`: from the step to the next one, at most
    /// the step length.
    fn interval(&self, i: usize) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let steps = self.steps();
        let start = *steps.get(i)?;
        let mut end = start + self.step_length;
        if let Some(next) = steps.get(i + 1) {
            end = end.min(*next);
        }
        Some((start, end))
    }

    /// The index of the time step an acquisition at `t` belongs to, if any.
    #[must_use]
    pub fn step_of(&self, t: DateTime<Utc>) -> Option<usize> {
        let i = self.steps().partition_point(|s| *s <= t).checked_sub(1)?;
        let (_, end) = self.interval(i)?;
        (t < end).then_some(i)
    }

    /// The item as this source's patches carry it: `datetime` set to its
    /// step, the acquisition kept as `geocube:acquired` (once: an item
    /// already on its step stays as it is); `None` when its time falls in
    /// no step (or it has none).
    fn on_step(&self, mut item: Value) -> Result<Option<(usize, Value)>> {
        let (t, _) = crate::loader::item_times(&item)?;
        let Some(i) = t.and_then(|t| self.step_of(t)) else {
            return Ok(None);
        };
        let step = self.steps()[i].to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        if let Some(props) = item.get_mut("properties").and_then(Value::as_object_mut)
            && let Some(acquired) = props.insert("datetime".into(), Value::String(step))
        {
            props.entry("geocube:acquired").or_insert(acquired);
        }
        Ok(Some((i, item)))
    }

    /// The patches of `refs` (one item each, as the STAC source makes them)
    /// whose item falls in a step of `selected` (every step: `None`),
    /// re-made with the item on its step.
    fn on_steps(&self, refs: Vec<PatchRef>, selected: Option<&[usize]>) -> Result<Vec<PatchRef>> {
        let mut out = Vec::new();
        for r in refs {
            let Some(StacItems(items)) = r.item::<StacItems>() else {
                continue;
            };
            for item in items {
                if let Some((i, item)) = self.on_step(item.clone())?
                    && selected.is_none_or(|s| s.contains(&i))
                {
                    out.push(self.source.index_of(item)?);
                }
            }
        }
        Ok(out)
    }

    /// The cube this source fills.
    #[must_use]
    pub fn spec(&self) -> &CubeSpec {
        self.source.spec()
    }

    /// Every item touching `aoi` in the time steps `toi` selects (nearest
    /// step for an instant, as the cube reads them) and passing the
    /// property filter ([`Source::touching_patches`] with this crate's
    /// typed error).
    ///
    /// # Errors
    /// [`Error::NoPatches`] when none does; [`Error::Core`] when `toi`
    /// selects no step; API and CRS failures.
    ///
    /// [`Source::touching_patches`]: geocube_core::Source::touching_patches
    pub fn touching_patches(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>> {
        let selected = toi.select(self.steps(), TimeMethod::Nearest)?;
        let (Some(first), Some(last)) = (selected.first(), selected.last()) else {
            return Err(Error::NoPatches { aoi: aoi_text(aoi) });
        };
        let (Some((start, _)), Some((_, end))) = (self.interval(*first), self.interval(*last))
        else {
            return Err(Error::NoPatches { aoi: aoi_text(aoi) });
        };
        // STAC intervals include their end.
        let span = Toi::Range {
            start: Some(start),
            end: Some(end - Duration::nanoseconds(1)),
        };
        let refs = self.source.touching_patches(aoi, &span)?;
        let out = self.on_steps(refs, Some(&selected))?;
        if out.is_empty() {
            return Err(Error::NoPatches { aoi: aoi_text(aoi) });
        }
        Ok(out)
    }

    /// The patch with its item on its step: its own item put there (a
    /// patch of a plain [`StacSource`] of the collection works too), else
    /// the item looked up by id.
    fn with_item(&self, idx: &PatchRef) -> Result<PatchRef> {
        if let Some(StacItems(items)) = idx.item::<StacItems>() {
            let [item] = items.as_slice() else {
                // Several items: a mosaic made by hand, on its own terms.
                return Ok(idx.clone());
            };
            return match self.on_step(item.clone())? {
                Some((_, item)) => self.source.index_of(item),
                None => Err(Error::NotOnCubeGrid {
                    item: idx.id.clone(),
                    reason: "its time falls in no time step of the cube".into(),
                }),
            };
        }
        self.patch_refs(std::slice::from_ref(&idx.id))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::item(
                    &idx.id,
                    "no such item in the collection, or its time falls in no step of the cube",
                )
            })
    }

    /// Download one patch, warped onto the cube grid ([`Source::download`]
    /// with this crate's typed error).
    ///
    /// # Errors
    /// HTTP, STAC and GeoTIFF failures; [`Error::is_retryable`] tells which
    /// are transient.
    ///
    /// [`Source::download`]: geocube_core::Source::download
    pub fn download(&self, idx: &PatchRef) -> Result<Patch> {
        self.source.download(&self.with_item(idx)?)
    }

    /// Download one patch in pieces along the cube's chunks when it is
    /// larger than `max_whole_bytes` ([`Source::download_streaming`]).
    ///
    /// # Errors
    /// As [`Sentinel2::download`], and whatever `sink` refuses a piece with.
    ///
    /// [`Source::download_streaming`]: geocube_core::Source::download_streaming
    pub fn download_streaming(
        &self,
        idx: &PatchRef,
        max_whole_bytes: u64,
        sink: &mut geocube_core::PieceSink<'_>,
    ) -> std::result::Result<geocube_core::Streamed, geocube_core::DownloadError> {
        let idx = self.with_item(idx)?;
        self.source.download_streaming(&idx, max_whole_bytes, sink)
    }

    /// The references of the given item ids, on their steps
    /// ([`Source::patch_refs`]); ids of items in no step are left out.
    /// Not filtered by the property filter: these are ids a cube holds.
    ///
    /// # Errors
    /// API failures.
    ///
    /// [`Source::patch_refs`]: geocube_core::Source::patch_refs
    pub fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        let refs = self.source.patch_refs(ids)?;
        self.on_steps(refs, None)
    }

    /// Offline: the items are only known to the STAC API.
    ///
    /// # Errors
    /// Always [`Error::NeedsNetwork`].
    pub fn touching_patches_offline(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>> {
        self.source.touching_patches_offline(aoi, toi)
    }

    /// Offline: nothing without a request, so this fails unless `ids` is
    /// empty.
    ///
    /// # Errors
    /// [`Error::NeedsNetwork`] for any id.
    pub fn patch_refs_offline(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        self.source.patch_refs_offline(ids)
    }
}

crate::source::impl_source!(Sentinel2);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geocube_core::Affine;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn default_spec_is_a_daily_global_cube_of_the_default_bands() {
        let s = Sentinel2::builder().build().unwrap();
        let spec = s.spec();
        assert_eq!(spec.title, "Sentinel2L2A");
        assert_eq!(spec.chunk_size, 3600);
        assert_eq!(spec.geobox.crs().epsg(), Some(4326));
        assert_eq!(spec.geobox.resolution().0, GEOGRAPHIC_RESOLUTION);
        let b = spec.geobox.bbox();
        assert!(b.left <= -180.0 && b.right >= 180.0 && b.bottom <= -90.0 && b.top >= 90.0);
        let steps = spec.time.as_ref().unwrap();
        assert_eq!(
            steps.first().unwrap().to_rfc3339(),
            "2015-06-27T00:00:00+00:00"
        );
        assert_eq!(
            steps.last().unwrap().to_rfc3339(),
            "2030-12-31T00:00:00+00:00"
        );
        assert_eq!(steps.len(), 5667);
        let names: Vec<&str> = spec.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["B02", "B03", "B04", "B08", "B11", "B12", "SCL"]);
        let b04 = spec.channel("B04").unwrap();
        assert_eq!((b04.dtype, b04.nodata), (DType::Uint16, Some(0.0)));
        assert_eq!(b04.attributes["long_name"], "Red");
        assert_eq!(b04.attributes["native_resolution_m"], 10.0);
        let scl = spec.channel("SCL").unwrap();
        assert_eq!((scl.dtype, scl.nodata), (DType::Uint8, Some(0.0)));
        assert_eq!(scl.attributes["flag_values"].as_array().unwrap().len(), 12);
        assert_eq!(s.stac_source().stac_url(), DEFAULT_STAC_URL);
        assert_eq!(s.stac_source().collection(), "sentinel-2-l2a");
        assert!(s.stac_source().query().is_empty());
    }

    #[test]
    fn grids_in_any_crs() {
        // EPSG:3413: the ArcticDEM 10 m grid.
        let s = Sentinel2::builder()
            .crs(Crs::from_epsg(3413).unwrap())
            .build()
            .unwrap();
        let g = &s.spec().geobox;
        assert_eq!((g.width(), g.height()), (740_020, 750_020));
        assert_eq!(
            g.affine(),
            Affine {
                x0: -4_000_100.0,
                res_x: 10.0,
                y0: 4_100_100.0,
                res_y: -10.0
            }
        );
        // A UTM zone at 20 m: its zone.
        let s = Sentinel2::builder()
            .crs(Crs::from_epsg(32607).unwrap())
            .resolution(20.0)
            .build()
            .unwrap();
        let g = &s.spec().geobox;
        assert_eq!(
            g.bbox(),
            BoundingBox::new(166_000.0, 0.0, 834_000.0, 9_330_000.0)
        );
        assert_eq!(g.resolution(), (20.0, -20.0));
        let south = default_extent(&Crs::from_epsg(32733).unwrap()).unwrap();
        assert_eq!(south.top, 10_000_000.0);
        // An extent of one's own, snapped outward to the lattice.
        let s = Sentinel2::builder()
            .crs(Crs::from_epsg(3413).unwrap())
            .resolution(30.0)
            .extent(BoundingBox::new(
                -2_000_005.0,
                100.0,
                -1_000_000.0,
                1_000_000.0,
            ))
            .build()
            .unwrap();
        assert_eq!(s.spec().geobox.affine().x0, -2_000_010.0);
        // Another CRS needs an extent.
        let err = Sentinel2::builder()
            .crs(Crs::from_epsg(3857).unwrap())
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("extent")),
            "{err}"
        );
        assert!(
            Sentinel2::builder()
                .crs(Crs::from_epsg(3857).unwrap())
                .extent(BoundingBox::new(0.0, 0.0, 1000.0, 1000.0))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn bands_and_asset_keys() {
        let s = Sentinel2::builder()
            .bands([Band::B8A, Band::B04])
            .asset_keys(AssetKeys::BandNames)
            .build()
            .unwrap();
        let names: Vec<&str> = s.spec().channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["B8A", "B04"]);
        assert_eq!(s.bands(), [Band::B8A, Band::B04]);
        assert_eq!(AssetKeys::EarthSearch.key(Band::B8A), "nir08");
        assert_eq!(AssetKeys::BandNames.key(Band::Scl), "SCL");
        assert_eq!(Band::parse("swir16"), Some(Band::B11));
        assert_eq!(Band::parse("b8a"), Some(Band::B8A));
        assert_eq!(Band::parse("scl"), Some(Band::Scl));
        assert_eq!(Band::parse("B10"), None);
        assert_eq!(Band::B01.native_resolution(), 60.0);
        for b in Band::ALL {
            assert_eq!(Band::parse(b.name()), Some(b));
            assert_eq!(Band::parse(b.earth_search_key()), Some(b));
        }
        assert!(matches!(
            Sentinel2::builder().bands([]).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Sentinel2::builder().bands([Band::B02, Band::B02]).build(),
            Err(Error::Core(_))
        ));
    }

    #[test]
    fn time_steps_and_their_intervals() {
        let s = Sentinel2::builder()
            .daily(day("2024-07-01"), day("2024-07-31"))
            .max_cloud_cover(20.0)
            .build()
            .unwrap();
        let steps = s.spec().time.as_ref().unwrap();
        assert_eq!(steps.len(), 31);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(s.step_of(t("2024-07-02T21:07:39.813Z")), Some(1));
        assert_eq!(s.step_of(t("2024-07-02T00:00:00Z")), Some(1));
        assert_eq!(s.step_of(t("2024-07-31T23:59:59Z")), Some(30));
        assert_eq!(s.step_of(t("2024-08-01T00:00:00Z")), None);
        assert_eq!(s.step_of(t("2024-06-30T23:59:59Z")), None);
        assert_eq!(
            s.stac_source().query()["eo:cloud_cover"],
            json!({ "lte": 20.0 })
        );

        // Five-day steps of two days each: gaps between them belong to none.
        let steps: Vec<DateTime<Utc>> = ["2024-07-02", "2024-07-07", "2024-07-12"]
            .iter()
            .map(|d| day(d).and_time(NaiveTime::MIN).and_utc())
            .collect();
        let s = Sentinel2::builder()
            .time_steps(steps.clone())
            .step_length(Duration::days(2))
            .build()
            .unwrap();
        assert_eq!(s.step_of(t("2024-07-03T12:00:00Z")), Some(0));
        assert_eq!(s.step_of(t("2024-07-05T12:00:00Z")), None);
        assert_eq!(s.step_of(t("2024-07-13T23:00:00Z")), Some(2));
        // Long steps end at the next one.
        let s = Sentinel2::builder()
            .time_steps(steps)
            .step_length(Duration::days(30))
            .build()
            .unwrap();
        assert_eq!(s.step_of(t("2024-07-06T23:00:00Z")), Some(0));
        assert_eq!(s.step_of(t("2024-07-07T00:00:00Z")), Some(1));
        assert_eq!(s.step_of(t("2024-08-10T00:00:00Z")), Some(2));

        let bad = |b: Sentinel2Builder| b.build().unwrap_err();
        assert!(matches!(
            bad(Sentinel2::builder().time_steps(vec![])),
            Error::Core(_)
        ));
        let backwards = vec![t("2024-07-02T00:00:00Z"), t("2024-07-01T00:00:00Z")];
        assert!(matches!(
            bad(Sentinel2::builder().time_steps(backwards)),
            Error::Core(_)
        ));
        assert!(matches!(
            bad(Sentinel2::builder().step_length(Duration::zero())),
            Error::Config(_)
        ));
        assert!(matches!(
            bad(Sentinel2::builder().max_cloud_cover(f64::NAN)),
            Error::InvalidQuery { .. }
        ));
    }

    #[test]
    fn items_are_put_on_their_step() {
        let s = Sentinel2::builder()
            .daily(day("2024-07-01"), day("2024-07-31"))
            .build()
            .unwrap();
        let item = json!({
            "type": "Feature", "id": "S2A_7VFJ_20240702_0_L2A",
            "geometry": { "type": "Polygon", "coordinates": [[[-138.0, 59.0], [-137.9, 59.0], [-137.9, 59.1], [-138.0, 59.0]]] },
            "properties": { "datetime": "2024-07-02T21:07:39.813000Z", "eo:cloud_cover": 10 },
            "assets": {},
        });
        let (i, on) = s.on_step(item.clone()).unwrap().unwrap();
        assert_eq!(i, 1);
        assert_eq!(on["properties"]["datetime"], "2024-07-02T00:00:00Z");
        assert_eq!(
            on["properties"]["geocube:acquired"],
            "2024-07-02T21:07:39.813000Z"
        );
        let r = s.stac_source().index_of(item.clone()).unwrap();
        let refs = s.on_steps(vec![r], None).unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].id, "S2A_7VFJ_20240702_0_L2A");
        assert_eq!(
            refs[0].time.unwrap().to_rfc3339(),
            "2024-07-02T00:00:00+00:00"
        );
        assert!(
            s.on_steps(vec![refs[0].clone()], Some(&[0, 2]))
                .unwrap()
                .is_empty()
        );
        // Once on its step, an item stays as it is.
        let (_, again) = s.on_step(on.clone()).unwrap().unwrap();
        assert_eq!(again, on);
        // A plain STAC patch is put on its step before it is downloaded.
        let plain = s.stac_source().index_of(item.clone()).unwrap();
        let fixed = s.with_item(&plain).unwrap();
        assert_eq!(fixed.time, refs[0].time);
        let late = json!({ "type": "Feature", "id": "x", "properties": { "datetime": "2025-01-01T00:00:00Z" } });
        assert!(s.on_step(late).unwrap().is_none());
        let timeless = json!({ "type": "Feature", "id": "x", "properties": { "datetime": null } });
        assert!(s.on_step(timeless).unwrap().is_none());
        let mut late = item;
        late["properties"]["datetime"] = json!("2025-01-01T00:00:00Z");
        let late = s.stac_source().index_of(late).unwrap();
        assert!(matches!(
            s.with_item(&late),
            Err(Error::NotOnCubeGrid { .. })
        ));
    }

    #[test]
    fn default_axis_constants_parse() {
        assert!(DEFAULT_FIRST_DAY.parse::<NaiveDate>().is_ok());
        assert!(DEFAULT_LAST_DAY.parse::<NaiveDate>().is_ok());
        assert!(!default_steps().is_empty());
    }
}
