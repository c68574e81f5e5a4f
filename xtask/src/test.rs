//! `cargo xtask test`: the project's whole test suite, with what it needs.
//!
//! This is the README's test command and what `.ci/run` runs. It prepares
//! the Python reference environment (smart-geocubes, icechunk 1.x, xarray,
//! rasterio: `ci/python-env.sh`) for the interop and GDAL tests, then runs
//! `cargo test --workspace`. Without Python those tests skip locally; under
//! `CI` they fail instead of skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Skip the Python environment (interop tests then skip, or fail under CI).
    #[arg(long)]
    no_python: bool,
    /// Extra arguments passed to `cargo test` (after `--`).
    #[arg(last = true)]
    cargo_args: Vec<String>,
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Create or reuse the reference venv; its interpreter's path.
pub(crate) fn python_env(root: &Path) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(root.join("ci").join("python-env.sh"))
        .current_dir(root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run ci/python-env.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("ci/python-env.sh failed with {}", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "ci/python-env.sh printed no interpreter path".into())
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = workspace_root();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args(["test", "--workspace"])
        .args(&args.cargo_args);
    if !args.no_python && std::env::var_os("GEOCUBE_PYTHON").is_none() {
        match python_env(&root) {
            Ok(python) => {
                eprintln!("xtask test: GEOCUBE_PYTHON={python}");
                cmd.env("GEOCUBE_PYTHON", python);
            }
            Err(e) if std::env::var_os("CI").is_some() => return Err(e),
            Err(e) => eprintln!("xtask test: {e}; Python interop tests will be skipped"),
        }
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo test failed ({status})"))
    }
}
