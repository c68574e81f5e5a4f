//! Turning STAC items into a [`Patch`] on the cube grid: fetch each
//! channel's asset COG, read only the window inside the cube, convert to the
//! channel's type, and mosaic several items of one patch with a nodata-aware
//! maximum.
//!
//! An asset on the cube's pixel lattice (same CRS and resolution, origin a
//! whole number of pixels away) is copied bit-exactly. Any other asset (a
//! UTM scene in an EPSG:3413 cube, a 20 m band in a 10 m cube) is warped
//! ([`geocube_core::warp`]) one cube chunk at a time, as odc-stac does: per
//! chunk the source window it needs (kernel padding included) is read from
//! the COG overview of at most the chunk's shrink, and resampled with the
//! channel's kernel.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use geocube_core::warp::{self, Resampling, WarpOptions};
use geocube_core::{
    CubeElement, CubeSpec, DType, DownloadError, GeoBox, Patch, PatchLayer, PieceSink, Streamed,
    TypedArray, Window, geojson,
};
use ndarray::ArrayD;
use serde_json::Value;

use crate::cog::{ByteSource, Cog, FileByteSource, HttpByteSource, pick_overview};
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::pixels::{crop, paste};

/// A STAC item and the URL it was read from (to resolve relative hrefs).
#[derive(Clone, Debug)]
pub(crate) struct FetchedItem {
    pub(crate) json: Value,
    pub(crate) url: Option<String>,
}

/// Loads patches from STAC items for one cube.
#[derive(Clone, Debug)]
pub(crate) struct PatchLoader {
    pub(crate) http: HttpClient,
    pub(crate) spec: CubeSpec,
    /// `(channel, asset key)` for every channel of the cube.
    pub(crate) assets: Vec<(String, String)>,
    /// The kernel warping each channel's assets that are not on the cube's
    /// lattice (absent: [`Resampling::Nearest`], odc-stac's default).
    pub(crate) resampling: BTreeMap<String, Resampling>,
}

/// An item's assets, opened (headers read) and checked against the cube.
struct OpenItem {
    id: String,
    /// Where on the cube grid: the bounding window of `parts`.
    window: Window,
    /// The disjoint cube windows the item covers: one, or two when a
    /// footprint across the antimeridian lands on both edges of an
    /// EPSG:4326 cube.
    parts: Vec<Window>,
    assets: Vec<OpenAsset>,
}

struct OpenAsset {
    channel: String,
    key: String,
    dtype: DType,
    cog: Cog,
    /// Where the asset lands in the cube, and how.
    placement: Placement,
    nodata: Option<f64>,
    resampling: Resampling,
    /// Overviews opened for warping, by level, with their grids.
    overviews: BTreeMap<usize, (Cog, GeoBox)>,
}

/// How an asset's pixels reach the cube grid.
enum Placement {
    /// On the cube's lattice: cube window `cube` is the asset's `src`.
    Lattice { cube: Window, src: Window },
    /// On another grid (`grid`, the full image's): warped into the cube
    /// windows `cube`, the cube pixels its footprint touches (two when it
    /// wraps around a geographic cube's antimeridian).
    Warp { grid: GeoBox, cube: Vec<Window> },
}

impl Placement {
    fn cube_windows(&self) -> Vec<Window> {
        match self {
            Placement::Lattice { cube, .. } => vec![*cube],
            Placement::Warp { cube, .. } => cube.clone(),
        }
    }
}

/// `windows` with every overlapping pair replaced by its bounding window.
fn merge_overlapping(mut windows: Vec<Window>) -> Vec<Window> {
    let mut merged: Vec<Window> = Vec::new();
    while let Some(mut w) = windows.pop() {
        // Absorb everything that overlaps, until nothing more does.
        loop {
            let before = merged.len() + windows.len();
            for pool in [&mut merged, &mut windows] {
                pool.retain(|o| {
                    if o.intersection(&w).is_some() {
                        w = union(w, *o);
                        false
                    } else {
                        true
                    }
                });
            }
            if merged.len() + windows.len() == before {
                break;
            }
        }
        merged.push(w);
    }
    merged.sort_by_key(|w| (w.row, w.col));
    merged
}

/// Why a streamed load stopped: the source failed, or the sink refused a
/// piece (its error is passed through unchanged).
#[derive(Debug)]
pub(crate) enum StreamError {
    Source(Error),
    Sink(DownloadError),
}

impl From<Error> for StreamError {
    fn from(e: Error) -> Self {
        Self::Source(e)
    }
}

impl From<StreamError> for DownloadError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Source(e) => e.into(),
            StreamError::Sink(e) => e,
        }
    }
}

impl From<geocube_core::Error> for StreamError {
    fn from(e: geocube_core::Error) -> Self {
        Self::Source(e.into())
    }
}

/// The bounding window of two windows.
fn union(a: Window, b: Window) -> Window {
    let (r0, c0) = (a.row.min(b.row), a.col.min(b.col));
    let (r1, c1) = (
        (a.row + a.height).max(b.row + b.height),
        (a.col + a.width).max(b.col + b.width),
    );
    Window::new(r0, c0, r1 - r0, c1 - c0)
}

/// The pixels one item contributes.
struct ItemPixels {
    /// Where on the cube grid.
    window: Window,
    layers: BTreeMap<String, PatchLayer>,
}

pub(crate) fn item_id(item: &Value) -> Result<&str> {
    item.get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::item("<no id>", "the item has no string `id`"))
}

/// A `[start, end]` time interval.
pub(crate) type Interval = (DateTime<Utc>, DateTime<Utc>);

/// `datetime`, else `start_datetime`, and the `[start, end]` interval if given.
pub(crate) fn item_times(item: &Value) -> Result<(Option<DateTime<Utc>>, Option<Interval>)> {
    let id = item_id(item)?;
    let props = item
        .get("properties")
        .ok_or_else(|| Error::item(id, "the item has no `properties`"))?;
    let get = |key: &str| -> Result<Option<DateTime<Utc>>> {
        match props.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| {
                    Error::item(id, format!("`{key}` {s:?} is not an RFC 3339 time: {e}"))
                }),
            Some(other) => Err(Error::item(id, format!("`{key}` is not a string: {other}"))),
        }
    };
    let (dt, start, end) = (
        get("datetime")?,
        get("start_datetime")?,
        get("end_datetime")?,
    );
    let interval = match (start, end) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    Ok((dt.or(start), interval))
}

/// The footprint of an item in EPSG:4326 (`geometry`, else `bbox`).
pub(crate) fn item_geometry(item: &Value) -> Result<geo::Geometry<f64>> {
    let id = item_id(item)?;
    match item.get("geometry") {
        Some(g) if !g.is_null() => geojson::polygonal_from_value(g)
            .map_err(|e| Error::item(id, format!("geometry: {e}")).caused_by(e)),
        _ => match item.get("bbox") {
            Some(b) => geojson::bbox_from_value(b)
                .map_err(|e| Error::item(id, format!("bbox: {e}")).caused_by(e)),
            None => Err(Error::item(
                id,
                "the item has neither a geometry nor a bbox",
            )),
        },
    }
}

/// The item's own URL: its `self` link, else where it was fetched from.
fn base_url(item: &FetchedItem) -> Option<&str> {
    item.json
        .get("links")
        .and_then(Value::as_array)
        .and_then(|links| {
            links
                .iter()
                .find(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
        })
        .and_then(|l| l.get("href"))
        .and_then(Value::as_str)
        .or(item.url.as_deref())
}

/// Resolve an asset href against the item's URL.
fn resolve_href(id: &str, base: Option<&str>, href: &str) -> Result<String> {
    if let Ok(u) = reqwest::Url::parse(href) {
        return Ok(u.to_string());
    }
    let base = base.ok_or_else(|| {
        Error::item(
            id,
            format!(
                "asset href `{href}` is relative and the item has no URL to resolve it against"
            ),
        )
    })?;
    let base = reqwest::Url::parse(base)
        .map_err(|e| Error::item(id, format!("item URL `{base}`: {e}")))?;
    base.join(href)
        .map(|u| u.to_string())
        .map_err(|e| Error::item(id, format!("asset href `{href}`: {e}")))
}

/// `raster:bands[0].nodata` of an asset (a number or "nan"/"inf" text).
fn asset_nodata(asset: &Value) -> Option<f64> {
    let v = asset
        .get("raster:bands")?
        .as_array()?
        .first()?
        .get("nodata")?;
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => crate::geotiff::parse_gdal_nodata(s).ok(),
        _ => None,
    }
}

impl PatchLoader {
    /// Open an asset for reading (`http(s)://` or `file://`).
    pub(crate) fn open_asset(&self, url: &str) -> Result<Cog> {
        let src: Arc<dyn ByteSource> = match reqwest::Url::parse(url) {
            Ok(u) if u.scheme() == "file" => {
                let path = u
                    .to_file_path()
                    .map_err(|()| Error::tiff(url, "not a local file path"))?;
                Arc::new(FileByteSource::new(path))
            }
            _ => Arc::new(HttpByteSource::new(self.http.clone(), url)),
        };
        Cog::open(src)
    }

    /// Open every asset of `item` (headers only) and check it lies on the
    /// cube's lattice.
    fn open_item(&self, item: &FetchedItem) -> Result<OpenItem> {
        let id = item_id(&item.json)?;
        let assets = item
            .json
            .get("assets")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::item(id, "the item has no `assets` object"))?;
        let cube = &self.spec.geobox;
        let mut windows: Vec<Window> = Vec::new();
        let mut opened = Vec::new();
        for (channel, key) in &self.assets {
            let spec = self.spec.channel(channel).ok_or_else(|| {
                Error::Config(format!("channel `{channel}` is not in the cube spec"))
            })?;
            let asset = assets.get(key).ok_or_else(|| {
                Error::item(id, format!("no asset `{key}` (for channel `{channel}`)"))
            })?;
            let href = asset
                .get("href")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::item(id, format!("asset `{key}` has no href")))?;
            let url = resolve_href(id, base_url(item), href)?;
            let cog = self.open_asset(&url)?;
            let src = cog.info().geobox(&url)?;
            check_proj_metadata(&item.json, asset, id, key, &url, &src)?;
            let placement = place(id, key, cube, &src)?;
            windows.extend(placement.cube_windows());
            let nodata = if spec.dtype == DType::Bool {
                None
            } else {
                cog.info()
                    .nodata
                    .or_else(|| asset_nodata(asset))
                    .or(spec.nodata)
            };
            opened.push(OpenAsset {
                channel: channel.clone(),
                key: key.clone(),
                dtype: spec.dtype,
                cog,
                placement,
                nodata,
                resampling: self.resampling.get(channel).copied().unwrap_or_default(),
                overviews: BTreeMap::new(),
            });
        }
        let parts = merge_overlapping(windows);
        let window = parts
            .iter()
            .copied()
            .reduce(union)
            .ok_or_else(|| Error::Config("the source maps no channel to an asset".into()))?;
        Ok(OpenItem {
            id: id.to_owned(),
            window,
            parts,
            assets: opened,
        })
    }

    /// The pixels of `item` inside cube window `part` (which must lie
    /// inside the item's window).
    fn read_item(&self, item: &mut OpenItem, part: Window) -> Result<ItemPixels> {
        let mut layers = BTreeMap::new();
        for a in &mut item.assets {
            let data = match &a.placement {
                Placement::Lattice { cube, src } if *cube == part || cube.contains(&part) => {
                    let src = Window::new(
                        src.row + (part.row - cube.row),
                        src.col + (part.col - cube.col),
                        part.height,
                        part.width,
                    );
                    a.cog.read_window(src)?
                }
                Placement::Lattice { cube, src } => {
                    // Another asset of the item reaches further: read what
                    // this one has of `part`, the rest stays empty.
                    let (cube, src) = (*cube, *src);
                    let mut out =
                        TypedArray::filled(a.cog.info().dtype, &[part.height, part.width]);
                    if let Some(inside) = cube.intersection(&part) {
                        let read = a.cog.read_window(Window::new(
                            src.row + (inside.row - cube.row),
                            src.col + (inside.col - cube.col),
                            inside.height,
                            inside.width,
                        ))?;
                        paste(
                            &mut out,
                            &read,
                            Window::new(
                                inside.row - part.row,
                                inside.col - part.col,
                                inside.height,
                                inside.width,
                            ),
                        )?;
                    }
                    out
                }
                Placement::Warp { grid, .. } => {
                    let grid = grid.clone();
                    self.warp_asset(&item.id, a, &grid, part)?
                }
            };
            let data = data.convert(a.dtype).map_err(|e| {
                Error::item(&item.id, format!("asset `{}`: {e}", a.key)).caused_by(e)
            })?;
            layers.insert(
                a.channel.clone(),
                PatchLayer {
                    data,
                    nodata: a.nodata,
                },
            );
        }
        Ok(ItemPixels {
            window: part,
            layers,
        })
    }

    /// Warp asset `a` (full-image grid `grid`) into cube window `part`, one
    /// cube chunk at a time: the result of a chunk does not depend on how a
    /// patch is cut into pieces, and each chunk reads only the source
    /// window it needs.
    fn warp_asset(
        &self,
        id: &str,
        a: &mut OpenAsset,
        grid: &GeoBox,
        part: Window,
    ) -> Result<TypedArray> {
        let cube = &self.spec.geobox;
        let dtype = a.cog.info().dtype;
        let mut out = TypedArray::filled(dtype, &[part.height, part.width]);
        if let Some(nd) = a.nodata {
            out.fill_with(nd);
        }
        let warp_err = |e: geocube_core::Error| {
            Error::item(id, format!("asset `{}`: {e}", a.key)).caused_by(e)
        };
        let opts = WarpOptions::new(a.resampling);
        let chunk = self.spec.chunk_size.max(1);
        for ty in part.row / chunk..=(part.row + part.height - 1) / chunk {
            for tx in part.col / chunk..=(part.col + part.width - 1) / chunk {
                let cell = Window::new(ty * chunk, tx * chunk, chunk, chunk);
                let Some(cell) = cell.intersection(&cube.full_window()) else {
                    continue;
                };
                let Some(target) = cell.intersection(&part) else {
                    continue;
                };
                // The whole chunk is warped (and the part of it inside
                // `part` kept), so the pixels of a chunk are the same
                // whichever piece of the patch asks for them.
                let dst = cube.window(cell).map_err(warp_err)?;
                // A chunk coarser than the source reads the overview of at
                // most its shrink (odc-stac's rule), not the full image.
                let shrink = warp::read_shrink(grid, &dst).map_err(warp_err)?;
                let level = if shrink >= 2.0 {
                    let factors: Vec<f64> = a.cog.overviews()?.iter().map(|o| o.scale_x).collect();
                    pick_overview(shrink, &factors)
                } else {
                    None
                };
                if let Some(l) = level
                    && !a.overviews.contains_key(&l)
                {
                    let ovr = a.cog.open_overview(l)?;
                    let g = ovr.info().geobox(ovr.name())?;
                    a.overviews.insert(l, (ovr, g));
                }
                let (cog, level_grid) = match level.and_then(|l| a.overviews.get_mut(&l)) {
                    Some((ovr, g)) => (ovr, &*g),
                    None => (&mut a.cog, grid),
                };
                let Some(src_win) =
                    warp::source_window(level_grid, &dst, dst.full_window(), a.resampling)
                        .map_err(warp_err)?
                else {
                    continue;
                };
                let data = cog.read_window(src_win)?;
                let src = level_grid.window(src_win).map_err(warp_err)?;
                let warped = warp::reproject(&data, &src, a.nodata, &dst, a.nodata, &opts)
                    .map_err(warp_err)?;
                let inner = crop(
                    &warped,
                    Window::new(
                        target.row - cell.row,
                        target.col - cell.col,
                        target.height,
                        target.width,
                    ),
                );
                paste(
                    &mut out,
                    &inner,
                    Window::new(
                        target.row - part.row,
                        target.col - part.col,
                        target.height,
                        target.width,
                    ),
                )?;
            }
        }
        Ok(out)
    }

    /// The patch `id` made of `items` (one, or several mosaicked with a
    /// nodata-aware maximum), cropped to the cube.
    pub(crate) fn load(&self, id: &str, items: &[FetchedItem]) -> Result<Patch> {
        match self.load_streaming(id, items, u64::MAX, &mut |_| Ok(())) {
            Ok(Streamed::Whole(patch)) => Ok(patch),
            Ok(Streamed::Pieces) => Err(Error::item(id, "the patch was cut into pieces")),
            Err(StreamError::Source(e)) => Err(e),
            Err(StreamError::Sink(e)) => Err(Error::item(id, e.to_string())),
        }
    }

    /// [`PatchLoader::load`], or, when the patch is larger than
    /// `max_whole_bytes` on the cube grid, its pieces along the cube's
    /// chunks handed to `sink` one at a time: every asset is opened once
    /// (headers), then each piece reads only its window of each COG, so
    /// memory is one chunk's worth whatever the tile's size.
    pub(crate) fn load_streaming(
        &self,
        id: &str,
        items: &[FetchedItem],
        max_whole_bytes: u64,
        sink: &mut PieceSink<'_>,
    ) -> std::result::Result<Streamed, StreamError> {
        let first = items
            .first()
            .ok_or_else(|| Error::item(id, "the patch lists no STAC item"))?;
        let time = self.cube_step(&first.json)?;
        let mut opened = items
            .iter()
            .map(|it| self.open_item(it))
            .collect::<Result<Vec<_>>>()?;
        let window = opened
            .iter()
            .map(|o| o.window)
            .reduce(union)
            .ok_or_else(|| Error::item(id, "the patch lists no STAC item"))?;
        let px_bytes: u64 = self
            .spec
            .channels
            .iter()
            .map(|c| c.dtype.size() as u64)
            .sum();
        let bytes = (window.height as u64)
            .saturating_mul(window.width as u64)
            .saturating_mul(px_bytes);
        let piece = |opened: &mut Vec<OpenItem>, part: Window| -> Result<Patch> {
            let mut pixels = Vec::new();
            for item in opened.iter_mut() {
                for w in item.parts.clone() {
                    if let Some(inside) = w.intersection(&part) {
                        pixels.push(self.read_item(item, inside)?);
                    }
                }
            }
            let (window, layers) = if pixels.len() == 1 {
                let p = pixels.remove(0);
                (p.window, p.layers)
            } else {
                mosaic_max(&self.spec, &pixels)
            };
            let mut patch = Patch::new(id, self.spec.geobox.window(window)?);
            patch.layers = layers;
            patch.time = time;
            Ok(patch)
        };
        if bytes <= max_whole_bytes {
            return Ok(Streamed::Whole(piece(&mut opened, window)?));
        }
        let chunk = self.spec.chunk_size.max(1);
        for ty in window.row / chunk..=(window.row + window.height - 1) / chunk {
            for tx in window.col / chunk..=(window.col + window.width - 1) / chunk {
                let cell = Window::new(ty * chunk, tx * chunk, chunk, chunk);
                let Some(part) = window.intersection(&cell) else {
                    continue;
                };
                // The items of a mosaic need not cover their bounding window.
                if !opened
                    .iter()
                    .any(|o| o.parts.iter().any(|w| w.intersection(&part).is_some()))
                {
                    continue;
                }
                sink(piece(&mut opened, part)?).map_err(StreamError::Sink)?;
            }
        }
        Ok(Streamed::Pieces)
    }

    /// The step of a temporal cube the item belongs to: its `datetime` when
    /// that is a step, else the first step inside its `start..end` interval.
    fn cube_step(&self, item: &Value) -> Result<Option<DateTime<Utc>>> {
        let Some(steps) = &self.spec.time else {
            return Ok(None);
        };
        let id = item_id(item)?;
        let (t, interval) = item_times(item)?;
        if let Some(t) = t
            && steps.contains(&t)
        {
            return Ok(Some(t));
        }
        if let Some((a, b)) = interval
            && let Some(s) = steps.iter().find(|s| a <= **s && **s <= b)
        {
            return Ok(Some(*s));
        }
        Err(Error::NotOnCubeGrid {
            item: id.to_owned(),
            reason: format!(
                "its time {t:?} (interval {interval:?}) matches no time step of the cube"
            ),
        })
    }
}

/// Fail with [`Error::GeorefMismatch`] when the asset's (else the item's)
/// `proj:transform` or `proj:shape` contradicts the grid the COG's own
/// GeoTIFF tags give. Absent fields are fine (the COG is read either way);
/// malformed ones make the item invalid.
///
/// A typed error rather than a warning: the COG's georeferencing decides
/// where pixels land, and the cube is a cache that keeps them for every later
/// read. When the source disagrees with itself, writing would risk pixels in
/// the wrong place for good, while a warning would scroll past once; the
/// failed patch is named and the rest of the load goes on.
fn check_proj_metadata(
    item: &Value,
    asset: &Value,
    id: &str,
    key: &str,
    url: &str,
    cog: &GeoBox,
) -> Result<()> {
    let field = |name: &str| {
        asset
            .get(name)
            .or_else(|| item.get("properties").and_then(|p| p.get(name)))
            .filter(|v| !v.is_null())
    };
    let numbers = |name: &str, v: &Value, lens: &[usize]| -> Result<Vec<f64>> {
        v.as_array()
            .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
            .filter(|n| lens.contains(&n.len()))
            .ok_or_else(|| {
                Error::item(
                    id,
                    format!("asset `{key}`: `{name}` {v} is not {lens:?} numbers"),
                )
            })
    };
    let mismatch = |field: &'static str, stac: String, cog: String| Error::GeorefMismatch {
        item: id.to_owned(),
        asset: key.to_owned(),
        field,
        stac,
        cog: format!("{cog} (read from {url})"),
    };
    let a = cog.affine();
    if let Some(v) = field("proj:transform") {
        let t = numbers("proj:transform", v, &[6, 9])?;
        // GDAL order: x = t0·col + t1·row + t2, y = t3·col + t4·row + t5.
        let ours = [a.res_x, 0.0, a.x0, 0.0, a.res_y, a.y0];
        let px = a.res_x.abs().min(a.res_y.abs());
        // Resolutions and rotations to a millionth, origins to a thousandth
        // of a pixel: rounding in the catalogue, not a different grid.
        let tol = [1e-6, 1e-6, 1e-3, 1e-6, 1e-6, 1e-3].map(|f| f * px);
        let agree = t
            .iter()
            .zip(ours)
            .zip(tol)
            .all(|((s, c), tol)| (s - c).abs() <= tol);
        if !agree {
            let show = |v: &[f64]| {
                let parts: Vec<String> = v.iter().map(f64::to_string).collect();
                format!("[{}]", parts.join(", "))
            };
            return Err(mismatch("proj:transform", show(&t[..6]), show(&ours)));
        }
    }
    if let Some(v) = field("proj:shape") {
        let s = numbers("proj:shape", v, &[2])?;
        let (h, w) = cog.shape();
        #[allow(clippy::cast_precision_loss)] // raster sizes are far below 2^52
        let ours = [h as f64, w as f64];
        if s != ours {
            return Err(mismatch(
                "proj:shape",
                format!("[{}, {}]", s[0], s[1]),
                format!("[{h}, {w}]"),
            ));
        }
    }
    Ok(())
}

/// Where an asset lands in the cube: copied when its grid is on the cube's
/// lattice, warped otherwise.
fn place(id: &str, key: &str, cube: &GeoBox, src: &GeoBox) -> Result<Placement> {
    let outside = || Error::NotOnCubeGrid {
        item: id.to_owned(),
        reason: format!(
            "asset `{key}`: its extent {} ({}) lies outside the cube extent {}",
            src.bbox(),
            src.crs(),
            cube.bbox()
        ),
    };
    match cube.overlap_roi(src) {
        Ok(Some((cube_win, src_win))) => {
            return Ok(Placement::Lattice {
                cube: cube_win,
                src: src_win,
            });
        }
        Ok(None) => return Err(outside()),
        Err(geocube_core::Error::GridMismatch(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // The cube pixels the asset's footprint (densified edges, in the cube
    // CRS) touches.
    let bbox = src.bbox_in(cube.crs()).map_err(|e| {
        Error::item(
            id,
            format!("asset `{key}`: its footprint cannot be mapped into the cube's CRS: {e}"),
        )
        .caused_by(e)
    })?;
    // In a geographic cube the footprint's longitudes are continuous
    // (170°…190°, say): what lies past ±180° lands at the other edge.
    let shifts: &[f64] = if cube.crs().is_geographic() {
        &[0.0, -360.0, 360.0]
    } else {
        &[0.0]
    };
    let windows: Vec<Window> = shifts
        .iter()
        .filter_map(|dx| {
            let b = geocube_core::BoundingBox::new(
                bbox.left + dx,
                bbox.bottom,
                bbox.right + dx,
                bbox.top,
            );
            cube.crop_bbox(&b).map(|(w, _)| w)
        })
        .collect();
    if windows.is_empty() {
        return Err(outside());
    }
    Ok(Placement::Warp {
        grid: src.clone(),
        cube: merge_overlapping(windows),
    })
}

/// Combine items into their bounding window: a valid pixel (neither fill nor
/// nodata) beats an invalid one, two valid pixels give the larger; where only
/// nodata is present it is kept bit-exact.
fn mosaic_max(spec: &CubeSpec, pixels: &[ItemPixels]) -> (Window, BTreeMap<String, PatchLayer>) {
    let window = pixels.iter().map(|p| p.window).reduce(union);
    let window = window.unwrap_or(Window::new(0, 0, 0, 0));
    let mut layers = BTreeMap::new();
    for ch in &spec.channels {
        let mut out = TypedArray::filled(ch.dtype, &[window.height, window.width]);
        let mut nodata = None;
        for p in pixels {
            let Some(layer) = p.layers.get(&ch.name) else {
                continue;
            };
            nodata = nodata.or(layer.nodata);
            let off = (p.window.row - window.row, p.window.col - window.col);
            max_into(&mut out, &layer.data, off, layer.nodata);
        }
        layers.insert(ch.name.clone(), PatchLayer { data: out, nodata });
    }
    (window, layers)
}

fn max_into(dst: &mut TypedArray, src: &TypedArray, off: (usize, usize), nodata: Option<f64>) {
    fn go<T: CubeElement + PartialOrd>(
        dst: &mut ArrayD<T>,
        src: &ArrayD<T>,
        off: (usize, usize),
        nodata: Option<f64>,
    ) {
        let valid = |v: T| !v.is_fill() && !nodata.is_some_and(|n| v.is_nodata(n));
        for (idx, &s) in src.indexed_iter() {
            let (r, c) = (idx[0] + off.0, idx[1] + off.1);
            let Some(d) = dst.get_mut([r, c].as_slice()) else {
                continue;
            };
            if valid(*d) {
                if valid(s) && s > *d {
                    *d = s;
                }
            } else if valid(s) || d.is_fill() {
                *d = s;
            }
        }
    }
    match (dst, src) {
        (TypedArray::Float32(d), TypedArray::Float32(s)) => go(d, s, off, nodata),
        (TypedArray::Float64(d), TypedArray::Float64(s)) => go(d, s, off, nodata),
        (TypedArray::Uint8(d), TypedArray::Uint8(s)) => go(d, s, off, nodata),
        (TypedArray::Uint16(d), TypedArray::Uint16(s)) => go(d, s, off, nodata),
        (TypedArray::Int16(d), TypedArray::Int16(s)) => go(d, s, off, nodata),
        (TypedArray::Int32(d), TypedArray::Int32(s)) => go(d, s, off, nodata),
        (TypedArray::Bool(d), TypedArray::Bool(s)) => go(d, s, off, nodata),
        // Layers were converted to the channel type before; nothing to combine otherwise.
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geocube_core::{Affine, ChannelSpec, Crs};
    use ndarray::IxDyn;

    proptest::proptest! {
        /// Merged windows are pairwise disjoint, cover every input, and each
        /// is the bounding window of the inputs inside it.
        #[test]
        fn merged_windows_are_disjoint_and_cover(
            raw in proptest::collection::vec((0usize..50, 0usize..50, 1usize..20, 1usize..20), 1..8)
        ) {
            let input: Vec<Window> = raw.iter().map(|&(r, c, h, w)| Window::new(r, c, h, w)).collect();
            let merged = merge_overlapping(input.clone());
            for (i, a) in merged.iter().enumerate() {
                for b in &merged[i + 1..] {
                    proptest::prop_assert!(a.intersection(b).is_none(), "{a:?} overlaps {b:?}");
                }
                let inside: Vec<Window> = input.iter().copied().filter(|w| a.contains(w)).collect();
                proptest::prop_assert_eq!(inside.into_iter().reduce(union), Some(*a));
            }
            for w in &input {
                proptest::prop_assert!(merged.iter().any(|m| m.contains(w)), "{w:?} lost");
            }
        }
    }

    #[test]
    fn footprints_across_the_antimeridian_land_on_both_edges() {
        let world = GeoBox::new(
            3600,
            1800,
            Affine {
                x0: -180.0,
                res_x: 0.1,
                y0: 90.0,
                res_y: -0.1,
            },
            Crs::wgs84(),
        )
        .unwrap();
        // UTM 60N (central meridian 177°E), a 100 km tile at 64°N 2–4° east
        // of it: 179°E to 181°E.
        let utm = GeoBox::new(
            1000,
            1000,
            Affine {
                x0: 600_000.0,
                res_x: 100.0,
                y0: 7_100_000.0,
                res_y: -100.0,
            },
            Crs::from_epsg(32660).unwrap(),
        )
        .unwrap();
        let Placement::Warp { cube, .. } = place("i", "a", &world, &utm).unwrap() else {
            panic!("a UTM tile is not on a lon/lat lattice");
        };
        assert_eq!(cube.len(), 2, "{cube:?}");
        assert!(cube.iter().any(|w| w.col == 0), "{cube:?}");
        assert!(cube.iter().any(|w| w.col + w.width == 3600), "{cube:?}");
    }

    fn f32s(h: usize, w: usize, v: Vec<f32>) -> TypedArray {
        TypedArray::Float32(ArrayD::from_shape_vec(IxDyn(&[h, w]), v).unwrap())
    }

    #[test]
    fn mosaic_is_a_nodata_aware_max() {
        let grid = GeoBox::new(
            4,
            1,
            Affine {
                x0: 0.0,
                res_x: 1.0,
                y0: 1.0,
                res_y: -1.0,
            },
            Crs::from_epsg(3413).unwrap(),
        )
        .unwrap();
        let spec = CubeSpec {
            title: "t".into(),
            geobox: grid,
            time: None,
            chunk_size: 4,
            channels: vec![ChannelSpec::new("dem", DType::Float32).with_nodata(-9999.0)],
            codec: geocube_core::ChunkCodec::default(),
        };
        let item = |col, data| ItemPixels {
            window: Window::new(0, col, 1, 3),
            layers: BTreeMap::from([(
                "dem".to_owned(),
                PatchLayer {
                    data,
                    nodata: Some(-9999.0),
                },
            )]),
        };
        // Columns 0..3 and 1..4: overlap at 1 and 2.
        let a = item(0, f32s(1, 3, vec![1.0, -9999.0, 5.0]));
        let b = item(1, f32s(1, 3, vec![2.0, 3.0, -9999.0]));
        let (w, layers) = mosaic_max(&spec, &[a, b]);
        assert_eq!(w, Window::new(0, 0, 1, 4));
        assert_eq!(layers["dem"].data, f32s(1, 4, vec![1.0, 2.0, 5.0, -9999.0]));
        assert_eq!(layers["dem"].nodata, Some(-9999.0));
    }

    #[test]
    fn proj_metadata_must_agree_with_the_cog() {
        let cog = GeoBox::new(
            500,
            400,
            Affine {
                x0: -1_600_000.0,
                res_x: 32.0,
                y0: 1_600_000.0,
                res_y: -32.0,
            },
            Crs::from_epsg(3413).unwrap(),
        )
        .unwrap();
        let item = |props: Value| serde_json::json!({ "id": "i", "properties": props });
        let check = |item: &Value, asset: &Value| {
            check_proj_metadata(item, asset, "i", "dem", "http://h/dem.tif", &cog)
        };
        let none = serde_json::json!({});
        let good = serde_json::json!([
            32.0,
            0.0,
            -1_600_000.0,
            0.0,
            -32.0,
            1_600_000.0,
            0.0,
            0.0,
            1.0
        ]);
        check(&item(serde_json::json!({})), &none).unwrap();
        check(
            &item(serde_json::json!({ "proj:transform": good, "proj:shape": [400, 500] })),
            &none,
        )
        .unwrap();
        // Rounding in the catalogue is not a contradiction.
        let rounded =
            serde_json::json!([32.000_000_01, 0.0, -1_600_000.01, 0.0, -32.0, 1_600_000.0]);
        check(
            &item(serde_json::json!({ "proj:transform": rounded })),
            &none,
        )
        .unwrap();
        // One pixel off: both transforms named.
        let shifted = serde_json::json!([32.0, 0.0, -1_599_968.0, 0.0, -32.0, 1_600_000.0]);
        let err = check(
            &item(serde_json::json!({ "proj:transform": shifted })),
            &none,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                Error::GeorefMismatch {
                    field: "proj:transform",
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("[32, 0, -1599968, 0, -32, 1600000]")
                && msg.contains("[32, 0, -1600000, 0, -32, 1600000]")
                && msg.contains("http://h/dem.tif"),
            "{msg}"
        );
        assert!(!err.is_retryable());
        // The asset's own field wins over the item's.
        let asset = serde_json::json!({ "proj:transform": shifted });
        assert!(check(&item(serde_json::json!({ "proj:transform": good })), &asset).is_err());
        let asset = serde_json::json!({ "proj:transform": good });
        check(
            &item(serde_json::json!({ "proj:transform": shifted })),
            &asset,
        )
        .unwrap();
        // A wrong shape, a malformed field.
        assert!(matches!(
            check(
                &item(serde_json::json!({ "proj:shape": [500, 400] })),
                &none
            ),
            Err(Error::GeorefMismatch {
                field: "proj:shape",
                ..
            })
        ));
        assert!(matches!(
            check(
                &item(serde_json::json!({ "proj:transform": [1, 2] })),
                &none
            ),
            Err(Error::InvalidItem { .. })
        ));
    }

    #[test]
    fn hrefs_and_nodata() {
        assert_eq!(
            resolve_href("i", Some("http://h/a/b/item.json"), "../c.tif").unwrap(),
            "http://h/a/c.tif"
        );
        assert_eq!(
            resolve_href("i", None, "http://h/x.tif").unwrap(),
            "http://h/x.tif"
        );
        assert!(matches!(
            resolve_href("i", None, "x.tif"),
            Err(Error::InvalidItem { .. })
        ));
        assert_eq!(
            asset_nodata(&serde_json::json!({"raster:bands": [{"nodata": -9999}]})),
            Some(-9999.0)
        );
        assert!(
            asset_nodata(&serde_json::json!({"raster:bands": [{"nodata": "nan"}]}))
                .is_some_and(f64::is_nan)
        );
        assert_eq!(asset_nodata(&serde_json::json!({})), None);
    }
}
