//! `cargo xtask test`: the project's whole test suite, with what it needs.
//!
//! This is the README's test command and what `.ci/run` runs. It prepares
//! the Python reference environment (smart-geocubes, icechunk 1.x, xarray,
//! rasterio: `ci/python-env.sh`) for the interop and GDAL tests, then runs
//! `cargo test --workspace`. Without Python those tests skip locally; under
//! `CI` they fail instead of skipping. Then it builds the Python package's
//! wheel (`crates/geocube-py`, with the venv's maturin), installs it into
//! the venv and runs its pytest suite against the loopback fixture server.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Skip the Python environment (interop tests then skip, or fail under CI).
    #[arg(long)]
    no_python: bool,
    /// Only the Python package: build its wheel and run its pytest suite.
    #[arg(long, conflicts_with = "no_python")]
    python_only: bool,
    /// Extra arguments for pytest (e.g. `-k parity`), comma-separated.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pytest_args: Vec<String>,
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
    let python = if args.no_python {
        None
    } else if let Some(p) = std::env::var_os("GEOCUBE_PYTHON") {
        Some(p.to_string_lossy().into_owned())
    } else {
        match python_env(&root) {
            Ok(python) => {
                eprintln!("xtask test: GEOCUBE_PYTHON={python}");
                Some(python)
            }
            Err(e) if std::env::var_os("CI").is_some() => return Err(e),
            Err(e) => {
                eprintln!("xtask test: {e}; Python interop tests will be skipped");
                None
            }
        }
    };
    let cargo_result = if args.python_only {
        Ok(())
    } else {
        cargo_test(&root, args, python.as_deref())
    };
    // The package tests run even when a Rust test failed: both results count.
    let python_result = match &python {
        Some(py) => python_package_tests(&root, py, &args.pytest_args),
        None => Ok(()),
    };
    cargo_result.and(python_result)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn cargo_test(root: &Path, args: &Args, python: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root)
        .args(["test", "--workspace"])
        .args(&args.cargo_args);
    if let Some(py) = python {
        cmd.env("GEOCUBE_PYTHON", py);
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

/// Build the `geocube` wheel with the venv's maturin (dev profile: it
/// reuses the test build's artifacts), install it into the venv, and run
/// `pytest crates/geocube-py/tests`.
fn python_package_tests(root: &Path, python: &str, pytest_args: &[String]) -> Result<(), String> {
    let bin = Path::new(python)
        .parent()
        .ok_or_else(|| format!("{python} has no directory"))?;
    let wheels = root.join("target").join("wheels");
    // A wheel from an earlier run must not be the one installed.
    if let Ok(entries) = std::fs::read_dir(&wheels) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "whl") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let status = Command::new(bin.join("maturin"))
        .current_dir(root.join("crates").join("geocube-py"))
        .args([
            "build",
            "--profile",
            "dev",
            "--interpreter",
            python,
            "--out",
        ])
        .arg(&wheels)
        .status()
        .map_err(|e| format!("cannot run maturin (is it in the venv?): {e}"))?;
    if !status.success() {
        return Err(format!("maturin build failed ({status})"));
    }
    let wheel = install_wheel(python, &wheels)?;
    eprintln!("xtask test: installed {}; running pytest", wheel.display());
    let mut cmd = Command::new(python);
    cmd.current_dir(root)
        .args(["-m", "pytest", "crates/geocube-py/tests", "-q"])
        .args(pytest_args)
        .env("GEOCUBE_PYTHON", python);
    // The suite serves fixtures with `xtask serve`: this very binary, so it
    // does not build one of its own.
    if let Ok(me) = std::env::current_exe() {
        cmd.env("GEOCUBE_XTASK", me);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run pytest: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("pytest failed ({status})"))
    }
}

/// Install into `python`'s venv the wheel maturin left in `wheels`
/// (replacing any installed `geocube`); its path.
pub(crate) fn install_wheel(python: &str, wheels: &Path) -> Result<PathBuf, String> {
    let wheel = std::fs::read_dir(wheels)
        .map_err(|e| format!("cannot list {}: {e}", wheels.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("maturin left no wheel in {}", wheels.display()))?;
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-deps", "--force-reinstall"])
        .arg(&wheel)
        .status()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if status.success() {
        Ok(wheel)
    } else {
        Err(format!("pip install {} failed ({status})", wheel.display()))
    }
}
