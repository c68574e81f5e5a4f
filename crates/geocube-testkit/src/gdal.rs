//! Running GDAL's `gdalinfo` on a file: the one copy of the helper that the
//! tests checking COGs against GDAL share (geocube-geotiff's and the
//! testkit's own).
//!
//! No cargo feature: it needs nothing beyond `std` and `serde_json`, which
//! the testkit already depends on.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::error::{Error, Result};

/// Whether `gdalinfo` (Debian package `gdal-bin`) is on PATH and runs.
#[must_use]
pub fn gdalinfo_available() -> bool {
    Command::new("gdalinfo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What one `gdalinfo -json` run reported.
#[derive(Clone, Debug)]
pub struct GdalInfo {
    /// The JSON report.
    pub json: Value,
    /// What GDAL printed on stderr (its warnings), lossily decoded.
    pub stderr: String,
}

/// `gdalinfo -json <args> <path>`, with `GDAL_PAM_ENABLED=NO` so that GDAL
/// writes no `.aux.xml` next to the file.
///
/// # Errors
/// [`Error::Io`] when `gdalinfo` cannot be run; [`Error::Invalid`] when it
/// fails on the file (its stderr is the reason); [`Error::Json`] when its
/// output is not JSON.
pub fn gdalinfo(path: &Path, args: &[&str]) -> Result<GdalInfo> {
    let out = Command::new("gdalinfo")
        .arg("-json")
        .args(args)
        .arg(path)
        .env("GDAL_PAM_ENABLED", "NO")
        .output()
        .map_err(|e| Error::io("gdalinfo", e))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(Error::Invalid {
            path: path.to_owned(),
            reason: format!("gdalinfo failed: {stderr}"),
        });
    }
    let json = serde_json::from_slice(&out.stdout).map_err(|source| Error::Json {
        path: PathBuf::from(format!("gdalinfo output for {}", path.display())),
        source,
    })?;
    Ok(GdalInfo { json, stderr })
}
