//! `_geocube.Accessor`: one [`geocube::Accessor`], shared by Python threads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use geocube::{Accessor, Affine, Aoi, Crs, GeoBox, LoadOptions, Resampling, Toi, Window};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::to_numpy;
use crate::errors::IntoPyResult;
use crate::options::{Options, invalid};
use crate::store::PySnapshotStore;

/// The compiled accessor behind `geocube.RemoteAccessor`.
///
/// Thread-safe: one instance serves every Python thread, and each call
/// releases the GIL while Rust downloads, writes or reads.
#[pyclass(name = "Accessor", module = "geocube._geocube", frozen)]
pub(crate) struct PyAccessor {
    inner: Arc<Accessor>,
}

/// A Rust string for a CRS: `EPSG:3413`, a PROJ string or WKT.
fn crs(text: &str) -> geocube::Result<Crs> {
    Ok(text.parse::<Crs>()?)
}

fn aoi(geometry: &str, crs_text: &str) -> geocube::Result<Aoi> {
    Ok(Aoi::from_geojson_str(geometry, crs(crs_text)?)?)
}

fn toi(text: Option<&str>) -> geocube::Result<Toi> {
    Ok(text.map(Toi::parse).transpose()?.unwrap_or(Toi::None))
}

/// The target grid of `load_onto`: `affine` in rasterio's (and the `affine`
/// package's) order `(a, b, c, d, e, f)` = `(res_x, 0, x0, 0, res_y, y0)`,
/// what `tuple(geobox.affine)[:6]` gives; `shape` as `(height, width)`.
fn target_grid(
    crs_text: &str,
    affine: (f64, f64, f64, f64, f64, f64),
    (height, width): (usize, usize),
) -> geocube::Result<GeoBox> {
    let (a, b, c, d, e, f) = affine;
    if b != 0.0 || d != 0.0 {
        return Err(geocube::Error::Core(geocube_core::Error::InvalidGrid(
            format!(
                "the target grid is rotated or sheared (affine b={b}, d={d}); give a north-up grid"
            ),
        )));
    }
    let affine = Affine {
        x0: c,
        res_x: a,
        y0: f,
        res_y: e,
    };
    Ok(GeoBox::new(width, height, affine, crs(crs_text)?)?)
}

/// The cube's time steps at the indices `time` (`Toi::None` for all of
/// them, or a cube without a time axis).
fn toi_at(accessor: &Accessor, time: Option<&[usize]>) -> geocube::Result<Toi> {
    let (Some(idx), Some(axis)) = (time, &accessor.spec().time) else {
        return Ok(Toi::None);
    };
    let steps = idx
        .iter()
        .map(|&i| {
            axis.get(i).copied().ok_or_else(|| {
                geocube::Error::Core(geocube_core::Error::InvalidToi(format!(
                    "time index {i} is past the cube's {} steps",
                    axis.len()
                )))
            })
        })
        .collect::<geocube::Result<Vec<_>>>()?;
    Ok(Toi::List(steps))
}

/// How long a cancelled load may take to wind down before Ctrl-C returns
/// anyway (a download stuck on a silent server ends at its read timeout).
const WIND_DOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// Run `work` on a thread of its own with the GIL released, checking for
/// Python signals every 50 ms: a Ctrl-C (`KeyboardInterrupt`, a Jupyter
/// "interrupt kernel") cancels the accessor's backend, waits up to
/// [`WIND_DOWN`] for the work to end, and raises. Commits are atomic, so
/// whatever the work still does after that keeps the cube consistent; the
/// cancelled backend takes no more work and the Python wrapper replaces it.
fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    accessor: &Arc<Accessor>,
    work: impl FnOnce(&Accessor) -> geocube::Result<T> + Send + 'static,
) -> PyResult<T> {
    use crossbeam_channel::{RecvTimeoutError, bounded};
    use std::time::Duration;
    let (tx, rx) = bounded(1);
    let acc = Arc::clone(accessor);
    std::thread::Builder::new()
        .name("geocube-load".into())
        .spawn(move || {
            // The receiver is gone only if the caller was interrupted.
            let _ = tx.send(work(&acc));
        })
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}"))
        })?;
    loop {
        match py.detach(|| rx.recv_timeout(Duration::from_millis(50))) {
            Ok(result) => return result.py(py),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "geocube: the load's thread ended without a result (a panic in Rust)",
                ));
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(signal) = py.check_signals() {
                    accessor.cancel();
                    let _ = py.detach(|| rx.recv_timeout(WIND_DOWN));
                    return Err(signal);
                }
            }
        }
    }
}

/// A labelled graticule line for Python: `(label, kind, points)`.
type GraticuleRow = (String, &'static str, Vec<(f64, f64)>);

/// smart-geocubes' `ValueError` when no patch touches the request, with the
/// Rust error's message (naming the area) after its sentence.
fn no_patches(py: Python<'_>, area: String) -> PyErr {
    let rust = geocube_sources::Error::NoPatches { aoi: area };
    crate::errors::new_err(
        py,
        crate::errors::Kind::NoPatches,
        format!("No adjacent patches found - is the provided aoi and toi correct? ({rust})"),
    )
}

/// The bounds of cube `window` in the cube CRS, as messages print them.
fn window_text(accessor: &Accessor, window: Window) -> String {
    accessor
        .spec()
        .geobox
        .window(window)
        .map_or_else(|_| format!("{window:?}"), |g| g.bbox().to_string())
}

fn report_dict<'py>(py: Python<'py>, report: &geocube::LoadReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("patches", &report.patches)?;
    d.set_item("downloaded", &report.submit.downloaded)?;
    d.set_item("already_loaded", report.submit.already_loaded)?;
    d.set_item("awaited", report.submit.awaited)?;
    Ok(d)
}

#[pymethods]
impl PyAccessor {
    /// Build an accessor for a preset (`preset="arcticdem-32m"`) or a STAC
    /// collection (`spec_json=..., stac_url=..., collection=...`), its cube
    /// at the local path `storage`.
    #[new]
    #[pyo3(signature = (storage, *, preset=None, spec_json=None, stac_url=None, collection=None,
        assets=None, aux_dir=None, index_url=None, backend="threaded", workers=None,
        offline=false, connect_timeout=None, read_timeout=None, request_timeout=None,
        codec=None, chunk_cache_mib=None, claim_lease=None, s3=None, ee=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        storage: String,
        preset: Option<String>,
        spec_json: Option<String>,
        stac_url: Option<String>,
        collection: Option<String>,
        assets: Option<Vec<(String, String)>>,
        aux_dir: Option<PathBuf>,
        index_url: Option<String>,
        backend: &str,
        workers: Option<usize>,
        offline: bool,
        connect_timeout: Option<f64>,
        read_timeout: Option<f64>,
        request_timeout: Option<f64>,
        codec: Option<String>,
        chunk_cache_mib: Option<usize>,
        claim_lease: Option<f64>,
        s3: Option<HashMap<String, String>>,
        ee: Option<HashMap<String, String>>,
    ) -> PyResult<Self> {
        let options = Options {
            preset,
            spec_json,
            stac_url,
            collection,
            assets: assets.unwrap_or_default(),
            aux_dir,
            index_url,
            backend: backend.to_owned(),
            workers,
            offline,
            connect_timeout,
            read_timeout,
            request_timeout,
            codec,
            chunk_cache_mib,
            claim_lease,
            ee: ee.unwrap_or_default(),
        };
        let s3 = s3.unwrap_or_default();
        let inner = py
            .detach(|| options.build(crate::options::storage(&storage, &s3)?))
            .py(py)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The cube spec (title, grid, time axis, chunk size, channels) as JSON.
    fn spec_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(self.inner.spec())
            .map_err(|e| invalid(format!("cannot serialise the spec: {e}")))
            .py(py)
    }

    /// Create the empty cube (`FileExistsError` if one exists, unless
    /// `overwrite` or `exists_ok`).
    #[pyo3(signature = (overwrite=false, exists_ok=false))]
    fn create(&self, py: Python<'_>, overwrite: bool, exists_ok: bool) -> PyResult<()> {
        py.detach(|| self.inner.create(overwrite, exists_ok)).py(py)
    }

    /// Whether the cube exists.
    #[getter]
    fn created(&self, py: Python<'_>) -> bool {
        py.detach(|| self.inner.created())
    }

    /// Fail with `FileNotFoundError` unless the cube exists (and is this dataset's).
    fn assert_created(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.cube().map(|_| ())).py(py)
    }

    /// Ids of the loaded patches, in the order they were written.
    fn loaded_patches(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.loaded_patches()).py(py)
    }

    /// The source patches touching `geometry` (GeoJSON in `crs`) at `toi`:
    /// `(id, footprint GeoJSON in EPSG:4326, time ISO string or None)`.
    #[pyo3(signature = (geometry, crs, toi=None))]
    fn adjacent_patches(
        &self,
        py: Python<'_>,
        geometry: &str,
        crs: &str,
        toi: Option<&str>,
    ) -> PyResult<Vec<(String, String, Option<String>)>> {
        let (geometry, crs, toi) = (geometry.to_owned(), crs.to_owned(), toi.map(str::to_owned));
        let found = interruptible(py, &self.inner, move |acc| -> geocube::Result<_> {
            let aoi = aoi(&geometry, &crs)?;
            let toi = self::toi(toi.as_deref())?;
            let source = acc.source();
            let found = if acc.is_offline() {
                source.touching_patches_offline(&aoi, &toi)
            } else {
                source.touching_patches(&aoi, &toi)
            };
            match found {
                Ok(found) => Ok(found),
                Err(e)
                    if matches!(
                        e.downcast_ref::<geocube_sources::Error>(),
                        Some(geocube_sources::Error::NoPatches { .. })
                    ) =>
                {
                    Ok(vec![])
                }
                Err(e) => Err(geocube::Error::SourceIndex(e)),
            }
        })?;
        Ok(found
            .into_iter()
            .map(|p| {
                let geometry = geojson::Geometry::from(&p.geometry).to_string();
                (p.id, geometry, p.time.map(|t| t.to_rfc3339()))
            })
            .collect())
    }

    /// Fail as a load of `geometry` (GeoJSON in `crs`) would before any
    /// download: `ValueError` when it lies outside the cube, or names a bad
    /// CRS. Returns the bytes an in-memory load of it takes.
    fn check_aoi(&self, py: Python<'_>, geometry: &str, crs: &str) -> PyResult<u64> {
        py.detach(|| {
            let aoi = aoi(geometry, crs)?;
            self.inner.result_bytes(&aoi, &Toi::None)
        })
        .py(py)
    }

    /// Download every patch touching `geometry` (GeoJSON in `crs`) at `toi`
    /// that the cube lacks; a report dict.
    #[pyo3(signature = (geometry, crs, toi=None))]
    fn procedural_download<'py>(
        &self,
        py: Python<'py>,
        geometry: &str,
        crs: &str,
        toi: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (geometry, crs, toi) = (geometry.to_owned(), crs.to_owned(), toi.map(str::to_owned));
        let (report, area) = interruptible(py, &self.inner, move |acc| -> geocube::Result<_> {
            let aoi = aoi(&geometry, &crs)?;
            let toi = self::toi(toi.as_deref())?;
            let area = aoi
                .bounds_in(acc.spec().geobox.crs())
                .map_or_else(|_| crs.clone(), |b| b.to_string());
            Ok((acc.prefetch(&aoi, &toi, &geocube::NoProgress)?, area))
        })?;
        if report.patches.is_empty() {
            return Err(no_patches(py, area));
        }
        report_dict(py, &report)
    }

    /// Load the cube window (`row`, `col`, `height`, `width`, cube pixels)
    /// at the time indices `time` (all steps when `None`), downloading
    /// what it lacks: `(variables {name: numpy array}, report dict)`.
    #[pyo3(signature = (row, col, height, width, time=None, create=false, max_bytes=None))]
    #[allow(clippy::too_many_arguments)]
    fn load_window<'py>(
        &self,
        py: Python<'py>,
        row: usize,
        col: usize,
        height: usize,
        width: usize,
        time: Option<Vec<usize>>,
        create: bool,
        max_bytes: Option<u64>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let mut opts = LoadOptions::default().create(create);
        if max_bytes.is_some() {
            opts = opts.max_bytes(max_bytes);
        }
        let window = Window {
            row,
            col,
            height,
            width,
        };
        let loaded = interruptible(py, &self.inner, move |acc| {
            acc.load_window(window, time.as_deref(), opts)
        })?;
        if loaded.report.patches.is_empty() {
            return Err(no_patches(py, window_text(&self.inner, window)));
        }
        let vars = PyDict::new(py);
        for (name, var) in loaded.dataset.variables {
            vars.set_item(name, to_numpy(py, var.data))?;
        }
        Ok((vars, report_dict(py, &loaded.report)?))
    }

    /// Load the cube onto the grid `crs`, `affine`, `shape` (see
    /// [`target_grid`]: rasterio's affine order, `(height, width)`) at the
    /// time indices `time` (all steps when `None`; returned in ascending
    /// order), downloading what the cube lacks, resampled with
    /// `resampling` (rasterio / odc-geo names): as `load_window`,
    /// `(variables {name: numpy array on the target}, report dict)`.
    #[pyo3(signature = (crs, affine, shape, resampling="nearest", time=None, create=false, max_bytes=None))]
    #[allow(clippy::too_many_arguments)]
    fn load_onto<'py>(
        &self,
        py: Python<'py>,
        crs: &str,
        affine: (f64, f64, f64, f64, f64, f64),
        shape: (usize, usize),
        resampling: &str,
        time: Option<Vec<usize>>,
        create: bool,
        max_bytes: Option<u64>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let target = target_grid(crs, affine, shape).py(py)?;
        let resampling = resampling.parse::<Resampling>().py(py)?;
        let mut opts = LoadOptions::default().create(create);
        if max_bytes.is_some() {
            opts = opts.max_bytes(max_bytes);
        }
        let area = format!("{} ({})", target.bbox(), target.crs());
        let loaded = interruptible(py, &self.inner, move |acc| {
            let toi = toi_at(acc, time.as_deref())?;
            acc.load_onto(&target, &toi, resampling, opts)
        })?;
        if loaded.report.patches.is_empty() {
            return Err(no_patches(py, area));
        }
        let vars = PyDict::new(py);
        for (name, var) in loaded.dataset.variables {
            vars.set_item(name, to_numpy(py, var.data))?;
        }
        Ok((vars, report_dict(py, &loaded.report)?))
    }

    /// Download (without reading) the patches under the cube window the
    /// cube lacks, as `load_window` would: the report dict.
    #[pyo3(signature = (row, col, height, width, time=None))]
    fn download_window<'py>(
        &self,
        py: Python<'py>,
        row: usize,
        col: usize,
        height: usize,
        width: usize,
        time: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let window = Window {
            row,
            col,
            height,
            width,
        };
        let report = interruptible(py, &self.inner, move |acc| {
            acc.download_window(window, time.as_deref())
        })?;
        if report.patches.is_empty() {
            return Err(no_patches(py, window_text(&self.inner, window)));
        }
        report_dict(py, &report)
    }

    /// The loaded patches' footprints as a GeoJSON FeatureCollection (EPSG:4326).
    fn current_state(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.inner.current_state())
            .map(|fc| fc.to_string())
            .py(py)
    }

    /// Draw the loaded footprints as a PNG map at `path`.
    fn visualize_state_png(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.visualize_state(&path)).py(py)
    }

    /// The base map of a state map in the cube's CRS around the footprints
    /// `footprints` (`(left, bottom, right, top)` in the cube CRS, `None`
    /// for the whole cube): `frame`, `coastlines`, `borders`, `land` (closed
    /// rings) as lists of `(x, y)` lists, and `graticule` as `(label, kind,
    /// points)` with kind `"meridian"` or `"parallel"`.
    #[pyo3(signature = (footprints=None))]
    fn basemap<'py>(
        &self,
        py: Python<'py>,
        footprints: Option<(f64, f64, f64, f64)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        use geocube::basemap;
        let grid = &self.inner.spec().geobox;
        let crs = grid.crs().clone();
        let fp = footprints.map(|(l, b, r, t)| geocube::BoundingBox::new(l, b, r, t));
        let frame = basemap::frame(grid.bbox(), fp, crs.is_geographic());
        let (coast, borders, land, graticule) = py
            .detach(|| -> geocube::Result<_> {
                let (lon_step, lat_step) = basemap::nice_steps(&crs, frame);
                Ok((
                    basemap::coastlines(&crs, Some(frame))?,
                    basemap::borders(&crs, Some(frame))?,
                    basemap::land(&crs, frame)?,
                    basemap::graticule_steps(&crs, Some(frame), lon_step, lat_step),
                ))
            })
            .py(py)?;
        let d = PyDict::new(py);
        d.set_item("frame", (frame.left, frame.bottom, frame.right, frame.top))?;
        d.set_item("coastlines", coast)?;
        d.set_item("borders", borders)?;
        d.set_item("land", land)?;
        let lines: Vec<GraticuleRow> = graticule
            .into_iter()
            .map(|g| {
                let kind = match g.kind {
                    basemap::GraticuleKind::Meridian => "meridian",
                    basemap::GraticuleKind::Parallel => "parallel",
                };
                (g.label, kind, g.points)
            })
            .collect();
        d.set_item("graticule", lines)?;
        Ok(d)
    }

    /// The backend's downloads and writes so far: dicts with `patch_id`,
    /// `action`, `thread`, `attempt`, `start`, `end` (seconds since the
    /// backend started), `ok`, `reapplied`.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for e in self.inner.events().events() {
            let d = PyDict::new(py);
            d.set_item("patch_id", e.patch_id)?;
            d.set_item(
                "action",
                match e.action {
                    geocube_backend::Action::Download => "download",
                    geocube_backend::Action::Write => "write",
                },
            )?;
            d.set_item("thread", e.thread)?;
            d.set_item("attempt", e.attempt)?;
            d.set_item("start", e.start)?;
            d.set_item("end", e.end)?;
            d.set_item("ok", e.ok)?;
            d.set_item("reapplied", e.reapplied)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The cube's Zarr store at the branch tip (`snapshot` `None`) or at a
    /// snapshot id, for zarr-python.
    #[pyo3(signature = (snapshot=None))]
    fn snapshot_store(
        &self,
        py: Python<'_>,
        snapshot: Option<String>,
    ) -> PyResult<PySnapshotStore> {
        let store = py
            .detach(|| -> geocube::Result<_> {
                let cube = self.inner.cube()?;
                Ok(cube.snapshot_store(snapshot.as_deref())?)
            })
            .py(py)?;
        Ok(PySnapshotStore::new(store))
    }

    /// Cancel the loads in progress; this accessor takes no more work.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// Stop the backend's threads (after the work in progress).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.close()).py(py)
    }
}

/// The presets: `(name, title)` pairs (`("arcticdem-32m", "ArcticDEM32m")`).
#[pyfunction]
pub(crate) fn presets() -> Vec<(String, String)> {
    geocube_sources::datasets::presets()
        .into_iter()
        .map(|p| (p.name, p.title))
        .collect()
}

/// The CF grid-mapping attributes of `crs` (an EPSG code, `EPSG:xxxx` or a
/// PROJ string) as the cube's `spatial_ref` carries them (pyproj's
/// `CRS.to_cf()` for the CRSs geocube templates, every WGS 84 UTM zone
/// among them), as JSON; no `GeoTransform`. Also `epsg`: the code or `None`.
#[pyfunction]
pub(crate) fn crs_cf_attributes(py: Python<'_>, crs: &str) -> PyResult<(String, Option<u32>)> {
    let crs = self::crs(crs).py(py)?;
    let attrs = serde_json::Value::Object(crs.cf_attributes()).to_string();
    Ok((attrs, crs.epsg()))
}
