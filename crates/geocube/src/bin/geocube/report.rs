//! What `load` prints and writes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use geocube::{Dataset, Error, GeoBox, LazyRegion, LoadReport, Resampling, Result, export};
use geocube_core::{CubeSpec, Stats};
use serde_json::{Value, json};

/// The kind of `--out` file, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutKind {
    Zarr,
    GeoTiff,
}

impl OutKind {
    /// Checked before loading, so a bad name fails before any download.
    pub(crate) fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("zarr") => Ok(OutKind::Zarr),
            Some("tif" | "tiff") => Ok(OutKind::GeoTiff),
            _ => Err(Error::Output {
                path: PathBuf::from(path),
                source: "unknown output format; name it *.zarr (Zarr v3) or *.tif (GeoTIFF)".into(),
            }),
        }
    }

    /// Write the region, streamed: returns each file or directory written
    /// with a note on its form. `masked`: float nodata was replaced by NaN,
    /// so NaN is the nodata value.
    pub(crate) fn write(
        self,
        region: &LazyRegion,
        spec: &CubeSpec,
        masked: bool,
        path: &Path,
    ) -> Result<Vec<(PathBuf, &'static str)>> {
        match self {
            OutKind::Zarr => export::write_zarr_region(region, &spec.title, path)
                .map(|()| vec![(path.to_path_buf(), "Zarr v3, chunk by chunk")]),
            OutKind::GeoTiff => {
                let order: Vec<&str> = spec.channels.iter().map(|c| c.name.as_str()).collect();
                let files = export::write_geotiff_region(
                    region,
                    &order,
                    |n| tiff_nodata(spec, masked, n),
                    path,
                    export::COG_MAX_BAND_BYTES,
                )?;
                Ok(files
                    .into_iter()
                    .map(|f| {
                        let note = if f.cog {
                            "Cloud-Optimized GeoTIFF"
                        } else {
                            "tiled GeoTIFF written tile by tile, no overviews: the band is too large to assemble a COG in memory"
                        };
                        (f.path, note)
                    })
                    .collect())
            }
        }
    }

    /// Write `dataset` (a load onto another grid, in memory) as
    /// [`OutKind::write`] writes a region: the same files and metadata,
    /// for the dataset's grid.
    pub(crate) fn write_dataset(
        self,
        dataset: &Dataset,
        spec: &CubeSpec,
        masked: bool,
        path: &Path,
    ) -> Result<Vec<(PathBuf, &'static str)>> {
        match self {
            OutKind::Zarr => export::write_zarr(dataset, &spec.title, path)
                .map(|()| vec![(path.to_path_buf(), "Zarr v3")]),
            OutKind::GeoTiff => {
                let order: Vec<&str> = spec.channels.iter().map(|c| c.name.as_str()).collect();
                let files =
                    export::write_geotiff(dataset, &order, |n| tiff_nodata(spec, masked, n), path)?;
                Ok(files
                    .into_iter()
                    .map(|f| (f, "Cloud-Optimized GeoTIFF"))
                    .collect())
            }
        }
    }
}

/// The nodata value a GeoTIFF of variable `name` declares: NaN for a float
/// variable whose nodata was `masked` (replaced by NaN), else the channel's.
fn tiff_nodata(spec: &CubeSpec, masked: bool, name: &str) -> Option<f64> {
    let c = spec.channel(name)?;
    if masked && c.dtype.is_float() {
        Some(f64::NAN)
    } else {
        c.nodata
    }
}

/// One variable's statistics.
struct VariableStats {
    name: String,
    dtype: &'static str,
    stats: Stats,
}

/// The summary of a load: the grid it returned (the cube's crop, or the
/// target grid of a load onto another grid), what it downloaded, and
/// optionally statistics.
pub(crate) struct Summary<'a> {
    geobox: GeoBox,
    time: Option<Vec<DateTime<Utc>>>,
    report: &'a LoadReport,
    seconds: f64,
    /// Per-variable statistics, when computed.
    variables: Option<Vec<VariableStats>>,
    /// How the pixels reached a target grid, for a load onto one.
    onto: Option<Onto>,
}

/// How a load onto another grid made its pixels.
pub(crate) struct Onto {
    /// The kernel asked for.
    pub(crate) resampling: Resampling,
    /// The target shares the cube's pixel lattice: copied, not resampled.
    pub(crate) copied: bool,
    /// The cube's grid, as `EPSG:3413 at 32 m`.
    pub(crate) cube: String,
}

/// NaN (no valid pixels) as JSON null.
fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

impl<'a> Summary<'a> {
    /// The summary of `region`; with `stats`, read through the region one
    /// chunk at a time (never the whole region at once).
    pub(crate) fn new(
        region: &LazyRegion,
        spec: &CubeSpec,
        report: &'a LoadReport,
        stats: bool,
        seconds: f64,
    ) -> Result<Self> {
        let variables = if stats {
            let mut all = region.stats(|name| spec.channel(name).and_then(|c| c.nodata))?;
            Some(
                region
                    .variables()
                    .map(|v| VariableStats {
                        name: v.name.clone(),
                        dtype: v.dtype.zarr_name(),
                        stats: all.remove(&v.name).unwrap_or_default(),
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok(Summary {
            geobox: region.geobox().clone(),
            time: region.time().map(<[_]>::to_vec),
            report,
            seconds,
            variables,
            onto: None,
        })
    }

    /// The summary of a load onto another grid, held in memory as `dataset`.
    pub(crate) fn onto(
        dataset: &Dataset,
        spec: &CubeSpec,
        report: &'a LoadReport,
        stats: bool,
        seconds: f64,
        onto: Onto,
    ) -> Self {
        // The cube's order of variables, as a region lists them.
        let variables = stats.then(|| {
            spec.channels
                .iter()
                .filter_map(|c| {
                    let var = dataset.variables.get(&c.name)?;
                    Some(VariableStats {
                        name: c.name.clone(),
                        dtype: var.data.dtype().zarr_name(),
                        stats: var.data.stats(c.nodata),
                    })
                })
                .collect()
        });
        Summary {
            geobox: dataset.geobox.clone(),
            time: dataset.time.clone(),
            report,
            seconds,
            variables,
            onto: Some(onto),
        }
    }

    /// One line: shape, CRS, patches.
    pub(crate) fn headline(&self) -> String {
        let (h, w) = self.geobox.shape();
        let steps = self
            .time
            .as_ref()
            .map_or(String::new(), |t| format!(" x {} time step(s)", t.len()));
        let onto = match &self.onto {
            None => String::new(),
            Some(o) if o.copied => format!(
                " at {}, copied from the cube's grid ({})",
                resolution(&self.geobox),
                o.cube
            ),
            Some(o) => format!(
                " at {}, resampled ({}) from the cube's grid ({})",
                resolution(&self.geobox),
                o.resampling,
                o.cube
            ),
        };
        let s = &self.report.submit;
        format!(
            "{w} x {h} px{steps} in {}{onto}, bounds {}; {} patch(es): {} downloaded, {} already in the cube ({:.2} s)",
            self.geobox.crs(),
            self.geobox.bbox(),
            self.report.patches.len(),
            s.downloaded.len(),
            s.already_loaded + s.awaited,
            self.seconds
        )
    }

    /// A table of per-variable statistics.
    pub(crate) fn stats_table(&self) -> String {
        let mut out = format!(
            "{:<16} {:>8} {:>14} {:>14} {:>14} {:>12}\n",
            "variable", "dtype", "mean", "min", "max", "valid"
        );
        for v in self.variables.iter().flatten() {
            let _ = writeln!(
                out,
                "{:<16} {:>8} {:>14.4} {:>14.4} {:>14.4} {:>12}",
                v.name,
                v.dtype,
                v.stats.mean(),
                v.stats.min,
                v.stats.max,
                v.stats.count
            );
        }
        out
    }

    /// One JSON object.
    pub(crate) fn to_json(&self) -> Value {
        let gb = &self.geobox;
        let (h, w) = gb.shape();
        let b = gb.bbox();
        let mut shape = json!({"y": h, "x": w});
        if let Some(t) = &self.time {
            shape["time"] = json!(t.len());
        }
        let variables: serde_json::Map<String, Value> = self
            .variables
            .iter()
            .flatten()
            .map(|v| {
                let s = v.stats;
                let stats = json!({"dtype": v.dtype, "valid_count": s.count, "mean": num(s.mean()),
                    "min": if s.count == 0 { Value::Null } else { num(s.min) },
                    "max": if s.count == 0 { Value::Null } else { num(s.max) }});
                (v.name.clone(), stats)
            })
            .collect();
        let r = &self.report;
        let mut out = json!({
            "shape": shape,
            "bounds": [b.left, b.bottom, b.right, b.top],
            "crs": gb.crs().to_string(),
            "resolution": gb.resolution().0.abs(),
            "time": self.time.as_ref().map(|t| t.iter().map(chrono::DateTime::to_rfc3339).collect::<Vec<_>>()),
            "variables": variables,
            "patches": {
                "touching": r.patches,
                "downloaded": r.submit.downloaded,
                "already_loaded": r.submit.already_loaded,
                "awaited": r.submit.awaited,
            },
            "seconds": self.seconds,
        });
        // Only a load onto another grid says how its pixels were made, so
        // a plain load's object is what it always was.
        if let Some(o) = &self.onto {
            out["resampling"] = json!(if o.copied {
                "copied"
            } else {
                o.resampling.name()
            });
        }
        out
    }
}

/// `32 m`, `0.0005 deg`, `100 us-ft`: a grid's pixel size with its unit
/// (a projected CRS's PROJ `+units`, metres when it names none).
pub(crate) fn resolution(g: &GeoBox) -> String {
    let r = g.resolution().0.abs();
    let crs = g.crs();
    let unit = if crs.is_geographic() {
        "deg"
    } else {
        crs.proj4()
            .split_whitespace()
            .find_map(|p| p.strip_prefix("+units="))
            .unwrap_or("m")
    };
    format!("{r} {unit}")
}
