//! What `load` prints and writes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use geocube::{Error, LazyRegion, LoadReport, Result, export};
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
                let nodata = |n: &str| {
                    let c = spec.channel(n)?;
                    if masked && c.dtype.is_float() {
                        Some(f64::NAN)
                    } else {
                        c.nodata
                    }
                };
                let files = export::write_geotiff_region(
                    region,
                    &order,
                    nodata,
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
}

/// One variable's statistics.
struct VariableStats {
    name: String,
    dtype: &'static str,
    stats: Stats,
}

/// The summary of a load.
pub(crate) struct Summary<'a> {
    region: &'a LazyRegion,
    report: &'a LoadReport,
    seconds: f64,
    /// Per-variable statistics, when computed.
    variables: Option<Vec<VariableStats>>,
}

/// NaN (no valid pixels) as JSON null.
fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

impl<'a> Summary<'a> {
    /// The summary of `region`; with `stats`, read through the region one
    /// chunk at a time (never the whole region at once).
    pub(crate) fn new(
        region: &'a LazyRegion,
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
            region,
            report,
            seconds,
            variables,
        })
    }

    /// One line: shape, CRS, patches.
    pub(crate) fn headline(&self) -> String {
        let (h, w) = self.region.geobox().shape();
        let steps = self
            .region
            .time()
            .map_or(String::new(), |t| format!(" x {} time step(s)", t.len()));
        let s = &self.report.submit;
        format!(
            "{w} x {h} px{steps} in {}, bounds {}; {} patch(es): {} downloaded, {} already in the cube ({:.2} s)",
            self.region.geobox().crs(),
            self.region.geobox().bbox(),
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
        let gb = self.region.geobox();
        let (h, w) = gb.shape();
        let b = gb.bbox();
        let mut shape = json!({"y": h, "x": w});
        if let Some(t) = self.region.time() {
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
        json!({
            "shape": shape,
            "bounds": [b.left, b.bottom, b.right, b.top],
            "crs": gb.crs().to_string(),
            "resolution": gb.resolution().0.abs(),
            "time": self.region.time().map(|t| t.iter().map(chrono::DateTime::to_rfc3339).collect::<Vec<_>>()),
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
