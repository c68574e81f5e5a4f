//! What `load` prints and writes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use geocube::{Error, LoadReport, Result, export};
use geocube_core::{CubeSpec, Dataset, Stats};
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

    /// Write the output; returns the files or directories written.
    /// `masked`: float nodata was replaced by NaN, so NaN is the nodata value.
    pub(crate) fn write(
        self,
        dataset: &Dataset,
        spec: &CubeSpec,
        masked: bool,
        path: &Path,
    ) -> Result<Vec<PathBuf>> {
        match self {
            OutKind::Zarr => {
                export::write_zarr(dataset, &spec.title, path).map(|()| vec![path.to_path_buf()])
            }
            OutKind::GeoTiff => {
                let order: Vec<&str> = spec.channels.iter().map(|c| c.name.as_str()).collect();
                let nodata = |n: &str| {
                    let c = spec.channel(n)?;
                    if masked && c.dtype.is_float() {
                        Some(f64::NAN)
                    } else {
                        c.nodata
                    }
                };
                export::write_geotiff(dataset, &order, nodata, path)
            }
        }
    }
}

/// One variable's statistics.
struct VariableStats {
    name: String,
    dtype: &'static str,
    stats: Stats,
}

/// The summary of a load.
pub(crate) struct Summary<'a> {
    dataset: &'a Dataset,
    report: &'a LoadReport,
    seconds: f64,
    variables: Vec<VariableStats>,
}

/// NaN (no valid pixels) as JSON null.
fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

impl<'a> Summary<'a> {
    pub(crate) fn new(
        dataset: &'a Dataset,
        spec: &CubeSpec,
        report: &'a LoadReport,
        seconds: f64,
    ) -> Self {
        let variables = dataset
            .variables
            .iter()
            .map(|(name, v)| VariableStats {
                name: name.clone(),
                dtype: v.data.dtype().zarr_name(),
                stats: v.data.stats(spec.channel(name).and_then(|c| c.nodata)),
            })
            .collect();
        Summary {
            dataset,
            report,
            seconds,
            variables,
        }
    }

    /// One line: shape, CRS, patches.
    pub(crate) fn headline(&self) -> String {
        let (h, w) = self.dataset.geobox.shape();
        let steps = self
            .dataset
            .time
            .as_ref()
            .map_or(String::new(), |t| format!(" x {} time step(s)", t.len()));
        let s = &self.report.submit;
        format!(
            "{w} x {h} px{steps} in {}, bounds {}; {} patch(es): {} downloaded, {} already in the cube ({:.2} s)",
            self.dataset.geobox.crs(),
            self.dataset.geobox.bbox(),
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
        for v in &self.variables {
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
        let gb = &self.dataset.geobox;
        let (h, w) = gb.shape();
        let b = gb.bbox();
        let mut shape = json!({"y": h, "x": w});
        if let Some(t) = &self.dataset.time {
            shape["time"] = json!(t.len());
        }
        let variables: serde_json::Map<String, Value> = self
            .variables
            .iter()
            .map(|v| {
                let s = v.stats;
                let stats = json!({"dtype": v.dtype, "valid_count": s.count, "mean": num(s.mean()),
                    "min": if s.count == 0 { Value::Null } else { num(s.min) },
                    "max": if s.count == 0 { Value::Null } else { num(s.max) }});
                (v.name.clone(), stats)
            })
            .collect();
        let r = &self.report;
        json!({
            "shape": shape,
            "bounds": [b.left, b.bottom, b.right, b.top],
            "crs": gb.crs().to_string(),
            "resolution": gb.resolution().0.abs(),
            "time": self.dataset.time.as_ref().map(|t| t.iter().map(chrono::DateTime::to_rfc3339).collect::<Vec<_>>()),
            "variables": variables,
            "patches": {
                "touching": r.patches,
                "downloaded": r.submit.downloaded,
                "already_loaded": r.submit.already_loaded,
                "awaited": r.submit.awaited,
            },
            "seconds": self.seconds,
        })
    }
}
