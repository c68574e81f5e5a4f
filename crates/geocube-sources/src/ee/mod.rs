//! Earth Engine datasets through the REST API's `computePixels`
//! (smart-geocubes' `GEEMosaicAccessor`).
//!
//! One patch is one cube chunk (and time step): its id is the chunk's
//! `row-col` (`t-row-col` on a temporal cube, `t` the index of the time
//! step), as the reference names them, so a patch never straddles chunks
//! and needs no index: the patches touching an area are the chunks it
//! touches, online or not. A chunk is downloaded as
//! `ImageCollection(id)[.filterDate(t)].mosaic().clip(chunk)` on exactly the
//! chunk's lattice, split into as few requests as the API's limits allow
//! ([`plan`]), run in parallel within the project's request budget
//! ([`client`]). Masked pixels come back as NaN, as Xee gives them to the
//! reference; TCTrend then fills and casts them as the reference does
//! ([`fill`]).
//!
//! ```
//! use geocube_sources::ee::{EarthEngineSource, EeConfig, EeCredentials};
//! use geocube_sources::datasets::earthengine::{EeDataset, TcTrendYear};
//!
//! # fn main() -> geocube_sources::Result<()> {
//! let config = EeConfig {
//!     project: Some("my-project".into()),
//!     ..EeConfig::new(EeCredentials::AccessToken("ya29.example".into()))
//! };
//! let source = EarthEngineSource::new(EeDataset::tctrend(TcTrendYear::Y2024), config)?;
//! assert_eq!(source.spec().title, "TCTrend2024");
//! assert_eq!(source.spec().geobox.shape(), (667_918, 1_335_834));
//! // The chunk holding 10.2° E, 50.3° N:
//! assert_eq!(source.patch_id(None, 40, 195), "40-195");
//! # Ok(()) }
//! ```

pub mod auth;
pub mod client;
pub mod expression;
pub mod fill;
pub mod npy;
pub mod plan;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use geocube_core::dataset::TypedArray;
use geocube_core::grid::Tiles;
use geocube_core::{
    Aoi, BoundingBox, Crs, CubeSpec, DType, DownloadError, GeoBox, Patch, PatchRef, PieceSink,
    Streamed, Toi,
};

pub use self::auth::{EeCredentials, ServiceAccountKey};
pub use self::client::{ComputePixels, DEFAULT_EE_URL, EeConfig, PixelGrid};
use self::expression::{MosaicExpression, XEE_MASK_VALUE};
pub use self::plan::{PlannedRequest, RequestLimits};
use crate::datasets::earthengine::{EeDataset, PostProcess};
use crate::error::{Error, Result};
use crate::pixels::paste;
use crate::source::impl_source;
use crate::stac::aoi_text;

/// An Earth Engine dataset as a [`geocube_core::Source`].
#[derive(Debug)]
pub struct EarthEngineSource {
    dataset: EeDataset,
    client: Arc<ComputePixels>,
    tiles: Tiles,
    offline: bool,
}

/// What a patch id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChunkIndex {
    time: Option<usize>,
    row: usize,
    col: usize,
}

impl EarthEngineSource {
    /// A source of `dataset` through `config`.
    ///
    /// # Errors
    /// [`Error::Auth`] without a project; [`Error::Config`]; an invalid spec.
    pub fn new(dataset: EeDataset, config: EeConfig) -> Result<Self> {
        dataset.spec.validate()?;
        if dataset.spec.geobox.crs().epsg().is_none() {
            return Err(Error::Config(
                "an Earth Engine cube needs a CRS with an EPSG code (the request's crsCode)".into(),
            ));
        }
        let tiles = dataset
            .spec
            .geobox
            .tiles(dataset.spec.chunk_size, dataset.spec.chunk_size);
        Ok(Self {
            client: Arc::new(ComputePixels::new(config)?),
            dataset,
            tiles,
            offline: false,
        })
    }

    /// Never send a request: downloads fail with [`Error::NeedsNetwork`];
    /// which patches touch an area needs no network anyway.
    #[must_use]
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// The cube this source fills.
    #[must_use]
    pub fn spec(&self) -> &CubeSpec {
        &self.dataset.spec
    }

    /// The dataset.
    #[must_use]
    pub fn dataset(&self) -> &EeDataset {
        &self.dataset
    }

    /// The `computePixels` client (its counters).
    #[must_use]
    pub fn client(&self) -> &ComputePixels {
        &self.client
    }

    /// The id of chunk (`row`, `col`) at time step `time`: `row-col` or
    /// `time-row-col`, as smart-geocubes names them.
    #[must_use]
    pub fn patch_id(&self, time: Option<usize>, row: usize, col: usize) -> String {
        match time {
            Some(t) => format!("{t}-{row}-{col}"),
            None => format!("{row}-{col}"),
        }
    }

    fn parse_id(&self, id: &str) -> Option<ChunkIndex> {
        let parts: Vec<usize> = id
            .split('-')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let (time, row, col) = match (parts.as_slice(), &self.dataset.spec.time) {
            ([r, c], None) => (None, *r, *c),
            ([t, r, c], Some(steps)) if *t < steps.len() => (Some(*t), *r, *c),
            _ => return None,
        };
        self.tiles.geobox(row, col)?;
        Some(ChunkIndex { time, row, col })
    }

    fn patch_ref(&self, c: ChunkIndex) -> Result<PatchRef> {
        let footprint = footprint_wgs84(&self.tile(c)?)?;
        let id = self.patch_id(c.time, c.row, c.col);
        Ok(PatchRef::new(id, footprint, self.time_of(c)).with_item(c))
    }

    /// The chunks touching `aoi` at the time steps `toi` selects (nearest
    /// step, as the reference's `normalize_toi`), time-major.
    ///
    /// # Errors
    /// [`Error::NoPatches`] outside the cube; a TOI on a spatial cube or
    /// matching no step; CRS failures.
    pub fn touching_patches(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>> {
        let steps: Vec<Option<usize>> = match &self.dataset.spec.time {
            None => {
                if *toi != Toi::None {
                    return Err(Error::Config(format!(
                        "{} has no time axis, but a time of interest ({toi}) was given",
                        self.dataset.spec.title
                    )));
                }
                vec![None]
            }
            Some(axis) => toi
                .select(axis, geocube_core::toi::TimeMethod::Nearest)?
                .into_iter()
                .map(Some)
                .collect(),
        };
        let crs = self.dataset.spec.geobox.crs().clone();
        let mut cells: Vec<(usize, usize)> = Vec::new();
        for g in aoi.geometries_in(&crs)? {
            cells.extend(self.tiles.touching(&g, &crs)?);
        }
        cells.sort_unstable();
        cells.dedup();
        if cells.is_empty() {
            return Err(Error::NoPatches { aoi: aoi_text(aoi) });
        }
        let mut out = Vec::with_capacity(cells.len() * steps.len());
        for &t in &steps {
            for &(row, col) in &cells {
                out.push(self.patch_ref(ChunkIndex { time: t, row, col })?);
            }
        }
        Ok(out)
    }

    /// [`EarthEngineSource::touching_patches`]: it needs no network.
    ///
    /// # Errors
    /// As [`EarthEngineSource::touching_patches`].
    pub fn touching_patches_offline(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>> {
        self.touching_patches(aoi, toi)
    }

    /// The patches of `ids` that name chunks of this cube.
    ///
    /// # Errors
    /// CRS failures only.
    pub fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        ids.iter()
            .filter_map(|id| self.parse_id(id))
            .map(|c| self.patch_ref(c))
            .collect()
    }

    /// [`EarthEngineSource::patch_refs`]: it needs no network.
    ///
    /// # Errors
    /// As [`EarthEngineSource::patch_refs`].
    pub fn patch_refs_offline(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        self.patch_refs(ids)
    }

    /// The requests chunk `id` is fetched with.
    ///
    /// # Errors
    /// [`Error::Config`] for an id that names no chunk.
    pub fn planned_requests(&self, id: &str) -> Result<Vec<PlannedRequest>> {
        let c = self.chunk_of_id(id)?;
        let tile = self.tile(c)?;
        plan::plan(
            tile.height(),
            tile.width(),
            &self.fetched_sizes(),
            self.client.limits(),
        )
        .map_err(Error::Config)
    }

    fn chunk_of_id(&self, id: &str) -> Result<ChunkIndex> {
        self.parse_id(id).ok_or_else(|| {
            Error::Config(format!(
                "`{id}` is not a chunk of {} (ids are {})",
                self.dataset.spec.title,
                if self.dataset.spec.time.is_some() {
                    "time-row-col"
                } else {
                    "row-col"
                }
            ))
        })
    }

    fn tile(&self, c: ChunkIndex) -> Result<GeoBox> {
        self.tiles
            .geobox(c.row, c.col)
            .ok_or_else(|| Error::Config(format!("no chunk ({}, {})", c.row, c.col)))
    }

    /// Bytes per pixel of each band as fetched.
    fn fetched_sizes(&self) -> Vec<usize> {
        self.dataset
            .spec
            .channels
            .iter()
            .map(|c| self.fetched_dtype(c.dtype).size())
            .collect()
    }

    /// Bands are fetched as float32 when masked pixels must become NaN (a
    /// float channel, or TCTrend's fill), else in the channel's own type.
    fn fetched_dtype(&self, channel: DType) -> DType {
        if channel.is_float() || self.dataset.post == PostProcess::TcTrend {
            DType::Float32
        } else {
            channel
        }
    }

    fn expression(&self, c: ChunkIndex, tile: &GeoBox) -> Result<serde_json::Value> {
        let clip = if tile.crs().epsg() == Some(4326) {
            tile.bbox()
        } else {
            use geo::BoundingRect;
            let r = footprint_wgs84(tile)?
                .bounding_rect()
                .ok_or_else(|| Error::Config("a chunk without a footprint".into()))?;
            BoundingBox::from_rect(r)
        };
        let time = self.time_of(c);
        let to_float = self.dataset.post == PostProcess::TcTrend;
        // Masked pixels: Xee's value on float bands (read back as NaN),
        // else the channel's nodata (Earth Engine's own is 0).
        let floats = self
            .dataset
            .spec
            .channels
            .iter()
            .any(|ch| self.fetched_dtype(ch.dtype) == DType::Float32);
        let unmask = if floats {
            Some(XEE_MASK_VALUE)
        } else {
            self.dataset.spec.channels.iter().find_map(|ch| ch.nodata)
        };
        Ok(MosaicExpression {
            collection: &self.dataset.collection,
            time,
            clip,
            to_float,
            unmask,
        }
        .to_json())
    }

    /// Run `planned` requests for chunk `c`, handing each reply to `each`
    /// as it arrives (on the calling thread), up to the client's budget in
    /// parallel.
    fn fetch(
        &self,
        c: ChunkIndex,
        tile: &GeoBox,
        planned: &[PlannedRequest],
        mut each: impl FnMut(&PlannedRequest, npy::NpyRecords) -> Result<()>,
    ) -> Result<()> {
        let expression = self.expression(c, tile)?;
        let names: Vec<&str> = self
            .dataset
            .spec
            .channels
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let sizes = self.fetched_sizes();
        let crs_code = format!("EPSG:{}", tile.crs().epsg().unwrap_or(4326));
        let id = self.patch_id(c.time, c.row, c.col);
        let next = AtomicUsize::new(0);
        let workers = planned.len().clamp(1, 8);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(usize, npy::NpyRecords)>>(workers);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, expression, names, sizes, crs_code, id) =
                    (&next, &expression, &names, &sizes, &crs_code, &id);
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(r) = planned.get(i) else { break };
                        let w = r.window;
                        let a = tile.affine();
                        let grid = PixelGrid {
                            width: w.width,
                            height: w.height,
                            affine: [
                                a.res_x,
                                0.0,
                                a.x0 + w.col as f64 * a.res_x,
                                0.0,
                                a.res_y,
                                a.y0 + w.row as f64 * a.res_y,
                            ],
                            crs_code: crs_code.clone(),
                        };
                        let what = format!(
                            "chunk {id} rows {}-{} cols {}-{} bands {}-{}",
                            w.row,
                            w.row + w.height - 1,
                            w.col,
                            w.col + w.width - 1,
                            r.bands.start,
                            r.bands.end - 1
                        );
                        let got = self.client.compute_pixels(
                            expression,
                            &grid,
                            &names[r.bands.clone()],
                            &sizes[r.bands.clone()],
                            &what,
                        );
                        let failed = got.is_err();
                        if tx.send(got.map(|g| (i, g))).is_err() || failed {
                            // The receiver stopped (an error elsewhere), or
                            // this one failed: let the others wind down.
                            next.store(planned.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut first_err = None;
            for got in rx {
                match got.and_then(|(i, g)| each(&planned[i], g)) {
                    Ok(()) => {}
                    Err(e) => {
                        next.store(planned.len(), Ordering::Relaxed);
                        first_err.get_or_insert(e);
                    }
                }
            }
            first_err.map_or(Ok(()), Err)
        })
    }

    /// Band `b` of a reply as the channel's pixels (`f32` for the bands
    /// TCTrend post-processes), masked pixels as NaN for floats.
    fn band_pixels(&self, records: &npy::NpyRecords, b: usize, what: &str) -> Result<TypedArray> {
        let ch = &self.dataset.spec.channels[b];
        let fetched = self.fetched_dtype(ch.dtype);
        let bad = |e: npy::NpyError| Error::InvalidPixels {
            what: what.to_owned(),
            reason: e.to_string(),
            retryable: false,
        };
        if fetched == DType::Float32 {
            #[allow(clippy::cast_possible_truncation)]
            let mask = XEE_MASK_VALUE as f32;
            let mut a = records.to_f32(&ch.name).map_err(bad)?;
            a.mapv_inplace(|v| if v == mask { f32::NAN } else { v });
            if ch.dtype == DType::Float32 || self.dataset.post == PostProcess::TcTrend {
                return Ok(TypedArray::Float32(a));
            }
            return TypedArray::Float32(a)
                .convert(ch.dtype)
                .map_err(|e| Error::InvalidPixels {
                    what: what.to_owned(),
                    reason: e.to_string(),
                    retryable: false,
                });
        }
        records.to_typed(&ch.name, ch.dtype).map_err(bad)
    }

    fn time_of(&self, c: ChunkIndex) -> Option<DateTime<Utc>> {
        match (c.time, &self.dataset.spec.time) {
            (Some(t), Some(steps)) => steps.get(t).copied(),
            _ => None,
        }
    }

    /// Bands `bands` of chunk `c` over the whole chunk, as the cube stores
    /// them (TCTrend's filled and cast).
    fn fetch_bands(
        &self,
        id: &str,
        c: ChunkIndex,
        tile: &GeoBox,
        bands: std::ops::Range<usize>,
    ) -> Result<Patch> {
        let (h, w) = (tile.height(), tile.width());
        let sizes = self.fetched_sizes();
        let planned: Vec<PlannedRequest> =
            plan::plan(h, w, &sizes[bands.clone()], self.client.limits())
                .map_err(Error::Config)?
                .into_iter()
                .map(|r| PlannedRequest {
                    window: r.window,
                    bands: r.bands.start + bands.start..r.bands.end + bands.start,
                })
                .collect();
        let n = self.dataset.spec.channels.len();
        let mut arrays: Vec<Option<TypedArray>> = vec![None; n];
        let post = self.dataset.post;
        let what = format!("chunk {id}");
        self.fetch(c, tile, &planned, |r, records| {
            for b in r.bands.clone() {
                let px = self.band_pixels(&records, b, &what)?;
                let dtype = px.dtype();
                let dst = arrays[b].get_or_insert_with(|| TypedArray::filled(dtype, &[h, w]));
                paste(dst, &px, r.window)?;
            }
            Ok(())
        })?;
        let mut out = Patch::new(id.to_owned(), tile.clone());
        if let Some(t) = self.time_of(c) {
            out = out.with_time(t);
        }
        let (xs, ys) = (tile.xs(), tile.ys());
        for b in bands {
            let ch = &self.dataset.spec.channels[b];
            let data = match (post, arrays[b].take()) {
                (PostProcess::TcTrend, Some(TypedArray::Float32(band))) => {
                    let band = band
                        .into_dimensionality::<ndarray::Ix2>()
                        .map_err(|e| Error::Config(format!("internal: {e}")))?;
                    TypedArray::Uint8(fill::nearest_fill_clip_u8(band.view(), &xs, &ys).into_dyn())
                }
                (PostProcess::TcTrend, _) => {
                    return Err(Error::Config("internal: TCTrend bands are float".into()));
                }
                (PostProcess::None, Some(a)) => a,
                (PostProcess::None, None) => TypedArray::filled(ch.dtype, &[h, w]),
            };
            out = out.with_layer(ch.name.clone(), data, ch.nodata);
        }
        Ok(out)
    }

    /// Download chunk `patch` whole, on the cube grid.
    ///
    /// # Errors
    /// [`Error::EarthEngine`], [`Error::Auth`], [`Error::InvalidPixels`],
    /// HTTP errors; offline, [`Error::NeedsNetwork`].
    pub fn download(&self, patch: &PatchRef) -> Result<Patch> {
        let c = self.chunk(patch)?;
        let tile = self.tile(c)?;
        self.fetch_bands(&patch.id, c, &tile, 0..self.dataset.spec.channels.len())
    }

    /// Download chunk `patch`, in pieces of a few bands each over the
    /// whole chunk when it is larger than `max_whole_bytes` (AlphaEarth's
    /// 3600² × 64 float32 chunk is 3.3 GB): each piece then completes its
    /// bands' chunks, which the writer encodes once. (Strips of all bands
    /// would leave every chunk partial until the last strip, and each strip
    /// would re-encode all 64 of them.) TCTrend's chunks come whole.
    ///
    /// # Errors
    /// As [`EarthEngineSource::download`]; an error of `sink`.
    pub fn download_streaming(
        &self,
        patch: &PatchRef,
        max_whole_bytes: u64,
        sink: &mut PieceSink<'_>,
    ) -> std::result::Result<Streamed, DownloadError> {
        let c = self.chunk(patch)?;
        let tile = self.tile(c)?;
        let px = (tile.width() * tile.height()) as u64;
        let channels = &self.dataset.spec.channels;
        let bytes: u64 = channels.iter().map(|ch| px * ch.dtype.size() as u64).sum();
        if bytes <= max_whole_bytes || self.dataset.post == PostProcess::TcTrend {
            return Ok(Streamed::Whole(self.download(patch)?));
        }
        let mut start = 0;
        while start < channels.len() {
            let mut end = start + 1;
            let mut group = px * channels[start].dtype.size() as u64;
            while end < channels.len()
                && group + px * channels[end].dtype.size() as u64 <= max_whole_bytes
            {
                group += px * channels[end].dtype.size() as u64;
                end += 1;
            }
            sink(self.fetch_bands(&patch.id, c, &tile, start..end)?)?;
            start = end;
        }
        Ok(Streamed::Pieces)
    }

    fn chunk(&self, patch: &PatchRef) -> Result<ChunkIndex> {
        if self.offline {
            return Err(Error::NeedsNetwork {
                what: format!("downloading chunk `{}` from Earth Engine", patch.id),
            });
        }
        match patch.item::<ChunkIndex>() {
            Some(c) => Ok(*c),
            None => self.chunk_of_id(&patch.id),
        }
    }
}

/// A chunk's footprint in EPSG:4326 (what `PatchRef`s carry and the clip
/// is made from).
fn footprint_wgs84(tile: &GeoBox) -> Result<geo::Geometry<f64>> {
    Ok(geocube_core::crs::reproject_geometry(
        &geo::Geometry::Polygon(tile.bbox().to_polygon()),
        tile.crs(),
        &Crs::wgs84(),
        8,
    )?)
}

impl_source!(EarthEngineSource);
