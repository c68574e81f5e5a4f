//! The [`Accessor`]: a source, a download backend and a cube location, and
//! the load / prefetch / state operations on them.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;

use geocube_backend::{
    BackendConfig, DownloadBackend, DownloadFn, EventLog, SimpleBackend, SubmitReport,
    ThreadedBackend,
};
use geocube_core::Source;
use geocube_core::toi::TimeMethod;
use geocube_core::{
    Aoi, BoundingBox, ChunkCodec, Cube, CubeLayout, CubeSpec, CubeStorage, Dataset, IcechunkFormat,
    LazyRegion, PatchRef, Toi, Window,
};

use crate::budget::DEFAULT_MAX_BYTES;
use crate::progress::{NoProgress, Progress, observe};
use crate::{Error, Result};

/// Which download backend an [`Accessor`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// A pool of download workers feeding one writer that coalesces commits
    /// ([`ThreadedBackend`]). The default.
    #[default]
    Threaded,
    /// Download, write and commit one patch at a time on the calling thread
    /// ([`SimpleBackend`]).
    Simple,
}

/// Options of [`Accessor::load`] and [`Accessor::load_lazy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Create the cube if there is none (an existing cube is used as is).
    /// Without it, loading from a missing cube fails with [`Error::NotCreated`].
    pub create: bool,
    /// Replace each float channel's nodata value (from the source's spec)
    /// with NaN in the returned data. The cube keeps the source values.
    pub mask_nodata: bool,
    /// The most bytes an in-memory load ([`Accessor::load`],
    /// [`Accessor::load_like`]) may return, `None` for no limit; default
    /// [`DEFAULT_MAX_BYTES`] (4 GiB, see there why). A larger region fails
    /// with [`Error::ResultTooLarge`] before anything is downloaded.
    /// [`Accessor::load_lazy`] holds one tile at a time and ignores it.
    pub max_bytes: Option<u64>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            create: false,
            mask_nodata: false,
            max_bytes: Some(DEFAULT_MAX_BYTES),
        }
    }
}

impl LoadOptions {
    /// Set [`LoadOptions::create`].
    #[must_use]
    pub fn create(mut self, yes: bool) -> Self {
        self.create = yes;
        self
    }

    /// Set [`LoadOptions::mask_nodata`].
    #[must_use]
    pub fn mask_nodata(mut self, yes: bool) -> Self {
        self.mask_nodata = yes;
        self
    }

    /// Set [`LoadOptions::max_bytes`] (`None`: no limit).
    #[must_use]
    pub fn max_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_bytes = limit;
        self
    }
}

/// What a load or prefetch fetched.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadReport {
    /// Ids of every source patch the request touches, sorted.
    pub patches: Vec<String>,
    /// What the backend did with the ones missing from the cube; empty
    /// (all `already_loaded`) when nothing was missing.
    pub submit: SubmitReport,
}

/// The result of [`Accessor::load`]: the cropped cube and what was fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// Every cube pixel the AOI's bounding box touches, on the cube grid,
    /// with coordinates (and the selected time steps of a temporal cube).
    pub dataset: Dataset,
    /// Which patches were needed and which were downloaded.
    pub report: LoadReport,
}

/// The result of [`Accessor::load_lazy`]: the region, read on request, and
/// what was fetched.
#[derive(Clone, Debug)]
pub struct LazyLoaded {
    /// Every cube pixel the AOI's bounding box touches, as for
    /// [`Loaded::dataset`], read by window or tile.
    pub region: LazyRegion,
    /// Which patches were needed and which were downloaded.
    pub report: LoadReport,
}

/// What a load has before it reads: the cube, the crop and its time
/// indices, and what was fetched.
struct Crop {
    cube: Arc<Cube>,
    window: Window,
    time: Option<Vec<usize>>,
    report: LoadReport,
}

/// Builder of an [`Accessor`]; see [`Accessor::builder`].
#[must_use = "call .build()"]
pub struct AccessorBuilder {
    source: Arc<dyn Source>,
    storage: CubeStorage,
    backend: BackendKind,
    config: BackendConfig,
    offline: bool,
    codec: Option<ChunkCodec>,
    format: IcechunkFormat,
}

impl AccessorBuilder {
    /// The download backend (default [`BackendKind::Threaded`]).
    pub fn backend(mut self, kind: BackendKind) -> Self {
        self.backend = kind;
        self
    }

    /// Retries, workers and batching of the backend.
    pub fn config(mut self, config: BackendConfig) -> Self {
        self.config = config;
        self
    }

    /// Never touch the network: the source is asked through its offline
    /// methods ([`Source::touching_patches_offline`],
    /// [`Source::patch_refs_offline`]), which answer from local data or fail
    /// with a typed error (a mosaic index not yet downloaded, a source that
    /// cannot work offline), and a load that needs patches missing from the
    /// cube fails with [`Error::MissingPatches`].
    pub fn offline(mut self, yes: bool) -> Self {
        self.offline = yes;
        self
    }

    /// The chunk codec of a cube this accessor creates (default: the source
    /// spec's). Existing cubes keep theirs.
    pub fn codec(mut self, codec: ChunkCodec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// The repository format of a cube this accessor creates (default
    /// [`IcechunkFormat::V1`], readable by smart-geocubes).
    pub fn format(mut self, format: IcechunkFormat) -> Self {
        self.format = format;
        self
    }

    /// Start the backend.
    ///
    /// # Errors
    /// [`Error::Backend`] when the backend's threads cannot be started.
    pub fn build(self) -> Result<Accessor> {
        let mut spec = self.source.spec().clone();
        if let Some(codec) = self.codec {
            spec.codec = codec;
        }
        let download: DownloadFn = geocube_core::download_fn(Arc::clone(&self.source));
        // Large patches (2 m tiles) go chunk by chunk, never whole.
        let streaming = geocube_core::streaming_download_fn(Arc::clone(&self.source));
        // An offline accessor never submits: no threads for it.
        let backend: Box<dyn DownloadBackend> = match (self.backend, self.offline) {
            (BackendKind::Threaded, false) => Box::new(ThreadedBackend::with_streaming(
                self.storage.clone(),
                download,
                streaming,
                self.config,
            )?),
            _ => Box::new(SimpleBackend::with_streaming(
                self.storage.clone(),
                download,
                streaming,
                self.config,
            )),
        };
        Ok(Accessor {
            source: self.source,
            spec,
            storage: self.storage,
            backend,
            offline: self.offline,
            format: self.format,
        })
    }
}

/// A remote dataset cached in a datacube: load any area and time, and only
/// the patches not yet in the cube are downloaded.
///
/// `Accessor` is `Send + Sync`: share one (in an `Arc`) between threads.
/// Concurrent loads of overlapping areas download each patch once; several
/// processes may use accessors on one local cube at the same time.
pub struct Accessor {
    source: Arc<dyn Source>,
    spec: CubeSpec,
    storage: CubeStorage,
    backend: Box<dyn DownloadBackend>,
    offline: bool,
    format: IcechunkFormat,
}

impl fmt::Debug for Accessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accessor")
            .field("title", &self.spec.title)
            .field("storage", &self.storage)
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

impl Accessor {
    /// Start building an accessor for `source` with its cube at `storage`.
    pub fn builder(source: Arc<dyn Source>, storage: CubeStorage) -> AccessorBuilder {
        AccessorBuilder {
            source,
            storage,
            backend: BackendKind::default(),
            config: BackendConfig::default(),
            offline: false,
            codec: None,
            format: IcechunkFormat::default(),
        }
    }

    /// The spec of the cube (the source's, with the builder's codec).
    #[must_use]
    pub fn spec(&self) -> &CubeSpec {
        &self.spec
    }

    /// The source.
    #[must_use]
    pub fn source(&self) -> &Arc<dyn Source> {
        &self.source
    }

    /// Where the cube lives.
    #[must_use]
    pub fn storage(&self) -> &CubeStorage {
        &self.storage
    }

    /// Whether the accessor is offline.
    #[must_use]
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The backend's timeline of downloads and writes so far.
    #[must_use]
    pub fn events(&self) -> &EventLog {
        self.backend.events()
    }

    /// Create the empty cube.
    ///
    /// # Errors
    /// [`Error::Core`] wrapping `AlreadyExists` when a cube exists and neither
    /// `overwrite` nor `exists_ok` is set; storage errors.
    pub fn create(&self, overwrite: bool, exists_ok: bool) -> Result<()> {
        Cube::create(self.storage.clone(), &self.spec)
            .overwrite(overwrite)
            .exists_ok(exists_ok)
            .format(self.format)
            .execute()?;
        Ok(())
    }

    /// Whether the cube exists.
    #[must_use]
    pub fn created(&self) -> bool {
        self.backend.created()
    }

    /// The cube, checked to be this source's cube.
    ///
    /// # Errors
    /// [`Error::NotCreated`]; [`Error::Core`] wrapping `NotACube` when the
    /// cube at the location was made for another dataset.
    pub fn cube(&self) -> Result<Arc<Cube>> {
        let cube = self.backend.cube()?;
        self.check_layout(&cube)?;
        Ok(cube)
    }

    /// Ids of the patches in the cube, in the order they were written.
    ///
    /// # Errors
    /// [`Error::NotCreated`]; storage errors.
    pub fn loaded_patches(&self) -> Result<Vec<String>> {
        Ok(self.backend.loaded_patches()?)
    }

    /// Load the cube cropped to `aoi` at `toi`, downloading the patches it
    /// still lacks first.
    ///
    /// The crop is every cube pixel the AOI's bounding box (in the cube CRS)
    /// touches, rounded outward; every source patch touching that box is
    /// loaded, so the result has no holes where the source has data. Values
    /// are bit-exact source values: nodata stays the source's nodata, pixels
    /// no patch covers are the fill value (NaN, or 0 for integers).
    ///
    /// # Errors
    /// [`Error::NotCreated`] (unless `opts.create`); [`Error::AoiOutsideExtent`];
    /// [`Error::MissingPatches`] offline; [`Error::Backend`] when downloads or
    /// writes fail (the patches that worked stay loaded); source, CRS and time
    /// errors. Nothing is written before the AOI and time are validated.
    /// [`Error::ResultTooLarge`] past [`LoadOptions::max_bytes`], before the
    /// cube, the source or the network is touched.
    pub fn load(&self, aoi: &Aoi, toi: &Toi, opts: LoadOptions) -> Result<Loaded> {
        self.load_with_progress(aoi, toi, opts, &NoProgress)
    }

    /// [`Accessor::load`] reporting its downloads to `progress`.
    ///
    /// # Errors
    /// As [`Accessor::load`].
    pub fn load_with_progress(
        &self,
        aoi: &Aoi,
        toi: &Toi,
        opts: LoadOptions,
        progress: &dyn Progress,
    ) -> Result<Loaded> {
        self.check_in_memory(aoi, toi, opts)?;
        let Crop {
            cube,
            window,
            time,
            report,
        } = self.fetch_crop(aoi, toi, opts, progress)?;
        let mut dataset = cube.read_window(window, time.as_deref())?;
        if opts.mask_nodata {
            self.mask_nodata(&mut dataset);
        }
        Ok(Loaded { dataset, report })
    }

    /// Load `aoi` at `toi` as [`Accessor::load`] does (downloading the
    /// patches the cube lacks, with the same errors), but return a
    /// [`LazyRegion`] instead of the pixels: read any window of it, or
    /// iterate it tile by tile, holding one piece at a time. No memory
    /// budget applies. The region sees the cube as it is when this returns.
    ///
    /// # Errors
    /// As [`Accessor::load`], without [`Error::ResultTooLarge`].
    pub fn load_lazy(&self, aoi: &Aoi, toi: &Toi, opts: LoadOptions) -> Result<LazyLoaded> {
        self.load_lazy_with_progress(aoi, toi, opts, &NoProgress)
    }

    /// [`Accessor::load_lazy`] reporting its downloads to `progress`.
    ///
    /// # Errors
    /// As [`Accessor::load_lazy`].
    pub fn load_lazy_with_progress(
        &self,
        aoi: &Aoi,
        toi: &Toi,
        opts: LoadOptions,
        progress: &dyn Progress,
    ) -> Result<LazyLoaded> {
        let Crop {
            cube,
            window,
            time,
            report,
        } = self.fetch_crop(aoi, toi, opts, progress)?;
        let mut region = cube.region(window, time.as_deref())?;
        if opts.mask_nodata {
            for c in &self.spec.channels {
                if let Some(nodata) = c.nodata {
                    region = region.mask_nodata(&c.name, nodata);
                }
            }
        }
        Ok(LazyLoaded { region, report })
    }

    /// The bytes an in-memory load of `aoi` at `toi` returns (every
    /// variable), from the cube's grid alone: no cube, source or network
    /// is touched. `u64::MAX` when the size overflows.
    ///
    /// # Errors
    /// [`Error::AoiOutsideExtent`]; CRS and time errors.
    pub fn result_bytes(&self, aoi: &Aoi, toi: &Toi) -> Result<u64> {
        Ok(self.result_size(aoi, toi)?.0)
    }

    /// [`Accessor::result_bytes`], failing with [`Error::ResultTooLarge`]
    /// past `opts.max_bytes`. [`Accessor::load`] calls it first; call it
    /// before [`Accessor::load_lazy`] to hold a lazy load to the same
    /// budget (the `geocube load` command does when it prints only a summary).
    ///
    /// # Errors
    /// [`Error::ResultTooLarge`]; as [`Accessor::result_bytes`].
    pub fn check_in_memory(&self, aoi: &Aoi, toi: &Toi, opts: LoadOptions) -> Result<u64> {
        let (bytes, (height, width), steps) = self.result_size(aoi, toi)?;
        match opts.max_bytes {
            Some(limit) if bytes > limit => Err(Error::ResultTooLarge {
                bytes,
                limit,
                width,
                height,
                steps,
            }),
            _ => Ok(bytes),
        }
    }

    /// Bytes, `(height, width)` and time steps of the crop of `aoi` at
    /// `toi`, on the spec's grid (the cube's: `check_layout` holds them equal).
    fn result_size(&self, aoi: &Aoi, toi: &Toi) -> Result<(u64, (usize, usize), usize)> {
        let grid = &self.spec.geobox;
        let bounds = aoi.bounds_in(grid.crs())?;
        let (window, _) =
            grid.crop_bbox(&bounds)
                .ok_or_else(|| geocube_core::Error::AoiOutsideExtent {
                    aoi: bounds.to_string(),
                    extent: grid.bbox().to_string(),
                })?;
        // A time on a spatial cube is refused by the load itself.
        let steps = match &self.spec.time {
            Some(axis) => toi.select(axis, TimeMethod::Nearest)?.len(),
            None => 1,
        };
        let bytes = CubeLayout::from(&self.spec)
            .bytes_in_memory(window.height, window.width, steps)
            .unwrap_or(u64::MAX);
        Ok((bytes, (window.height, window.width), steps))
    }

    /// Create the cube if asked, find the crop and its time steps, and
    /// download the patches it lacks: what both loads do before reading.
    fn fetch_crop(
        &self,
        aoi: &Aoi,
        toi: &Toi,
        opts: LoadOptions,
        progress: &dyn Progress,
    ) -> Result<Crop> {
        // `created` is cached once the cube is open: no lock taken per load.
        if opts.create && !self.created() {
            self.create(false, true)?;
        }
        let cube = self.cube()?;
        let window = cube.aoi_window(aoi)?;
        let time = cube.select_time(toi)?;
        let needed = self.patches_in(&cube, &[window], toi)?;
        let report = self.fetch(&cube, needed, progress)?;
        Ok(Crop {
            cube,
            window,
            time,
            report,
        })
    }

    /// Load the pixels of `window` (cube pixel indices, clipped to the cube)
    /// at the time indices `time` (every step when `None`), downloading the
    /// patches under it that the cube lacks, as [`Accessor::load`] does for
    /// an area. For callers that crop on their own terms: the Python
    /// package computes the window with odc-geo exactly as smart-geocubes
    /// does, so both return the same grid.
    ///
    /// # Errors
    /// As [`Accessor::load`]; [`Error::AoiOutsideExtent`] for a window
    /// outside the cube; core's time errors for an index past the axis.
    pub fn load_window(
        &self,
        window: Window,
        time: Option<&[usize]>,
        opts: LoadOptions,
    ) -> Result<Loaded> {
        self.load_window_with_progress(window, time, opts, &NoProgress)
    }

    /// [`Accessor::load_window`] reporting its downloads to `progress`.
    ///
    /// # Errors
    /// As [`Accessor::load_window`].
    pub fn load_window_with_progress(
        &self,
        window: Window,
        time: Option<&[usize]>,
        opts: LoadOptions,
        progress: &dyn Progress,
    ) -> Result<Loaded> {
        let (clipped, report) = self.fetch_window(window, time, opts, progress)?;
        let cube = self.cube()?;
        let mut dataset = cube.read_window(clipped, time)?;
        if opts.mask_nodata {
            self.mask_nodata(&mut dataset);
        }
        Ok(Loaded { dataset, report })
    }

    /// Download (without reading) the patches under `window` at the time
    /// indices `time` that the cube lacks, as [`Accessor::load_window`] does
    /// before it reads; a missing cube is an error.
    ///
    /// # Errors
    /// As [`Accessor::load_window`], without [`Error::ResultTooLarge`].
    pub fn download_window(&self, window: Window, time: Option<&[usize]>) -> Result<LoadReport> {
        let opts = LoadOptions::default().max_bytes(None);
        Ok(self.fetch_window(window, time, opts, &NoProgress)?.1)
    }

    /// `window` clipped to the cube, after the budget check and the
    /// downloads of [`Accessor::load_window`].
    fn fetch_window(
        &self,
        window: Window,
        time: Option<&[usize]>,
        opts: LoadOptions,
        progress: &dyn Progress,
    ) -> Result<(Window, LoadReport)> {
        let grid = &self.spec.geobox;
        let full = grid.full_window();
        let clipped = window
            .intersection(&full)
            .ok_or_else(|| Error::AoiOutsideExtent {
                aoi: format!("{window:?}"),
                extent: grid.bbox().to_string(),
            })?;
        let toi = match (time, &self.spec.time) {
            (Some(idx), Some(axis)) => Toi::List(
                idx.iter()
                    .map(|&i| {
                        axis.get(i).copied().ok_or_else(|| {
                            Error::Core(geocube_core::Error::InvalidToi(format!(
                                "time index {i} is past the cube's {} steps",
                                axis.len()
                            )))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            _ => Toi::None,
        };
        let steps = time.map_or_else(
            || self.spec.time.as_ref().map_or(1, Vec::len),
            <[usize]>::len,
        );
        let bytes = CubeLayout::from(&self.spec)
            .bytes_in_memory(clipped.height, clipped.width, steps)
            .unwrap_or(u64::MAX);
        if let Some(limit) = opts.max_bytes.filter(|l| bytes > *l) {
            return Err(Error::ResultTooLarge {
                bytes,
                limit,
                width: clipped.width,
                height: clipped.height,
                steps,
            });
        }
        if opts.create && !self.created() {
            self.create(false, true)?;
        }
        let cube = self.cube()?;
        let needed = self.patches_in(&cube, &[clipped], &toi)?;
        let report = self.fetch(&cube, needed, progress)?;
        Ok((clipped, report))
    }

    /// Load the region and time steps of `like` (its GeoBox, reprojected to
    /// the cube CRS if needed, and its time coordinate).
    ///
    /// # Errors
    /// As [`Accessor::load`].
    pub fn load_like(&self, like: &Dataset, opts: LoadOptions) -> Result<Loaded> {
        let toi = like.time.clone().map_or(Toi::None, Toi::List);
        self.load(&Aoi::GeoBox(like.geobox.clone()), &toi, opts)
    }

    /// Download (without reading) every patch that touches the area of
    /// interest at `toi`. Each geometry of an [`Aoi::Geometries`] counts on
    /// its own: patches between scattered geometries are not fetched.
    /// Geometries outside the cube are skipped.
    ///
    /// # Errors
    /// [`Error::NotCreated`]; [`Error::AoiOutsideExtent`] when no geometry
    /// touches the cube; [`Error::MissingPatches`] offline when any is
    /// missing; [`Error::Backend`] when downloads or writes fail.
    pub fn prefetch(&self, aoi: &Aoi, toi: &Toi, progress: &dyn Progress) -> Result<LoadReport> {
        let cube = self.cube()?;
        cube.select_time(toi)?;
        let parts: Vec<Aoi> = match aoi {
            Aoi::Geometries { geometries, crs } => geometries
                .iter()
                .map(|g| Aoi::Geometry {
                    geometry: g.clone(),
                    crs: crs.clone(),
                })
                .collect(),
            other => vec![other.clone()],
        };
        let mut windows = BTreeSet::new();
        for part in &parts {
            match cube.aoi_window(part) {
                Ok(w) => {
                    windows.insert((w.row, w.col, w.height, w.width));
                }
                Err(geocube_core::Error::AoiOutsideExtent { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if windows.is_empty() {
            let grid = &cube.layout().geobox;
            let bounds = aoi.bounds_in(grid.crs())?;
            return Err(geocube_core::Error::AoiOutsideExtent {
                aoi: bounds.to_string(),
                extent: grid.bbox().to_string(),
            }
            .into());
        }
        let windows: Vec<Window> = windows
            .into_iter()
            .map(|(r, c, h, w)| Window::new(r, c, h, w))
            .collect();
        let needed = self.patches_in(&cube, &windows, toi)?;
        self.fetch(&cube, needed, progress)
    }

    /// The patches in the cube as GeoJSON features: `id`, footprint in
    /// EPSG:4326 and `time` (RFC 3339) when the source knows the patch;
    /// patches the source no longer lists have no geometry.
    ///
    /// # Errors
    /// [`Error::NotCreated`]; source index errors.
    pub fn current_state(&self) -> Result<geojson::FeatureCollection> {
        let ids = self.loaded_patches()?;
        let index = self.index_of(&ids)?;
        Ok(crate::state::feature_collection(&ids, &index))
    }

    /// Draw a PNG map (1024 x 1024 px) of the loaded patches: their
    /// footprints, in the cube CRS, over coastlines and borders
    /// ([`crate::basemap`]) with a labelled graticule, the cube's title and
    /// the patch count. The map is framed to the footprints with at least
    /// 2 000 km around them (less only in a smaller cube), or to the whole
    /// cube when nothing is loaded; the cube's extent is drawn dashed.
    ///
    /// # Errors
    /// [`Error::NotCreated`]; source index errors; [`Error::Output`] when the
    /// file cannot be written.
    #[cfg(feature = "viz")]
    pub fn visualize_state(&self, path: &std::path::Path) -> Result<()> {
        let cube = self.cube()?;
        let ids = cube.loaded_patches()?;
        let index = self.index_of(&ids)?;
        let footprints: Vec<geo::Geometry<f64>> = index.into_iter().map(|i| i.geometry).collect();
        let layout = cube.layout();
        crate::state::map::render_png(&layout.title, &layout.geobox, ids.len(), &footprints, path)
    }

    /// The source's index entries of the loaded patches `ids`. An empty cube
    /// asks the source nothing: its index may have to be fetched first.
    pub(crate) fn index_of(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        if self.offline {
            return Ok(self.source.patch_refs_offline(ids)?);
        }
        Ok(self.source.patch_refs(ids)?)
    }

    /// Cancel the loads in progress (from any thread: a Ctrl-C handler, a
    /// scheduler): they return [`Error::Backend`] with
    /// [`geocube_backend::Error::Cancelled`] promptly, patches committed
    /// before stay, nothing half-done is committed, and this accessor takes
    /// no more work. The token of [`BackendConfig::cancel`] does the same
    /// from outside.
    pub fn cancel(&self) {
        self.backend.cancel();
    }

    /// Finish queued work and stop the backend's threads.
    ///
    /// # Errors
    /// [`Error::Backend`] when a thread cannot be joined.
    pub fn close(&self) -> Result<()> {
        Ok(self.backend.close()?)
    }

    /// Every source patch touching any of `windows` (cube pixel windows) at
    /// `toi`, deduplicated.
    fn patches_in(&self, cube: &Cube, windows: &[Window], toi: &Toi) -> Result<Vec<PatchRef>> {
        let grid = &cube.layout().geobox;
        let mut seen = HashSet::new();
        let mut out = vec![];
        for w in windows {
            // The crop's pixel box, not the AOI polygon: the whole returned
            // region is filled. Inset by a hundredth of a pixel so patches
            // that only share an edge with the crop (and hold none of its
            // pixels) are not fetched.
            let b = grid.window(*w)?.bbox();
            let (dx, dy) = (
                grid.resolution().0.abs() * 0.01,
                grid.resolution().1.abs() * 0.01,
            );
            let inset = BoundingBox::new(b.left + dx, b.bottom + dy, b.right - dx, b.top - dy);
            let crop = Aoi::bbox(inset, grid.crs().clone());
            let found = if self.offline {
                self.source.touching_patches_offline(&crop, toi)
            } else {
                self.source.touching_patches(&crop, toi)
            };
            let found = match found {
                Ok(found) => found,
                // Inside the cube but where the source has nothing: NaN.
                Err(e)
                    if matches!(
                        e.downcast_ref::<geocube_sources::Error>(),
                        Some(geocube_sources::Error::NoPatches { .. })
                    ) =>
                {
                    vec![]
                }
                Err(e) => return Err(e.into()),
            };
            out.extend(found.into_iter().filter(|p| seen.insert(p.id.clone())));
        }
        Ok(out)
    }

    /// Load the patches of `needed` the cube lacks (or fail offline).
    pub(crate) fn fetch(
        &self,
        cube: &Cube,
        needed: Vec<PatchRef>,
        progress: &dyn Progress,
    ) -> Result<LoadReport> {
        let mut patches: Vec<String> = needed.iter().map(|p| p.id.clone()).collect();
        patches.sort();
        let loaded = cube.loaded()?;
        let missing: Vec<PatchRef> = needed
            .into_iter()
            .filter(|p| !loaded.contains(&p.id))
            .collect();
        if missing.is_empty() {
            let submit = SubmitReport {
                requested: patches.len(),
                already_loaded: patches.len(),
                ..SubmitReport::default()
            };
            return Ok(LoadReport { patches, submit });
        }
        if self.offline {
            let mut ids: Vec<String> = missing.into_iter().map(|p| p.id).collect();
            ids.sort();
            return Err(Error::MissingPatches { ids });
        }
        let ids: Vec<String> = missing.iter().map(|p| p.id.clone()).collect();
        let mut submit = observe(self.backend.events(), &ids, progress, || {
            self.backend.submit(&missing)
        })?;
        let already = patches.len() - missing.len();
        submit.requested += already;
        submit.already_loaded += already;
        Ok(LoadReport { patches, submit })
    }

    /// Fail unless the cube has this source's grid and variables.
    fn check_layout(&self, cube: &Cube) -> Result<()> {
        let layout = cube.layout();
        let (have, want) = (&layout.geobox, &self.spec.geobox);
        let (a, b) = (have.affine(), want.affine());
        let tol = 1e-6 * b.res_x.abs();
        let same_grid = have.shape() == want.shape()
            && have.crs() == want.crs()
            && (a.x0 - b.x0).abs() <= tol
            && (a.y0 - b.y0).abs() <= tol
            && (a.res_x - b.res_x).abs() <= tol
            && (a.res_y - b.res_y).abs() <= tol;
        let missing: Vec<&str> = self
            .spec
            .channels
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| layout.variable(n).is_none())
            .collect();
        let reason = if !same_grid {
            format!(
                "its grid {} ({}x{}) is not the grid of `{}`",
                have.bbox(),
                have.width(),
                have.height(),
                self.spec.title
            )
        } else if !missing.is_empty() {
            format!(
                "it lacks the variables {} of `{}`",
                missing.join(", "),
                self.spec.title
            )
        } else {
            return Ok(());
        };
        Err(geocube_core::Error::NotACube {
            location: format!("{} (cube `{}`)", self.storage, layout.title),
            reason: format!("{reason}; use another --store or recreate it with --overwrite"),
        }
        .into())
    }

    /// NaN where a float variable holds its channel's nodata value.
    fn mask_nodata(&self, dataset: &mut Dataset) {
        for (name, var) in &mut dataset.variables {
            if let Some(nodata) = self.spec.channel(name).and_then(|c| c.nodata) {
                var.data.mask_nodata(nodata);
            }
        }
    }
}
