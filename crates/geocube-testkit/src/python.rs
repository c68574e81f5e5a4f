//! Finding the test venv's Python (`ci/python-env.sh` builds it, with
//! rasterio, moto, numpy and the reference stack of
//! `ci/python-requirements.txt`): the one lookup the tests that run Python
//! share.
//!
//! The interpreter is the one in env `GEOCUBE_PYTHON` (what `cargo xtask
//! test` sets), else `target/pyenv/bin/python` in the workspace or in the
//! target directory of the running test binary (`CARGO_TARGET_DIR` may put
//! it elsewhere). Without it a test skips with a message, except on CI
//! (env `CI` set), where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The interpreters to try, in order: `GEOCUBE_PYTHON`, then
/// `target/pyenv/bin/python` in the workspace and in the test binary's
/// target directory (those that exist).
#[must_use]
pub fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("GEOCUBE_PYTHON").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    let venv_python = Path::new("pyenv").join("bin").join("python");
    // This crate is `<workspace>/crates/geocube-testkit`.
    if let Some(workspace) = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2) {
        out.push(workspace.join("target").join(&venv_python));
    }
    // A test binary is `<target>/<profile>/deps/<name>`; CARGO_TARGET_DIR may
    // put `<target>` outside the workspace.
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            let cand = dir.join(&venv_python);
            if !out.contains(&cand) && dir.join("pyenv").is_dir() {
                out.push(cand);
            }
        }
    }
    out
}

/// The first of [`candidates`] that imports every one of `modules`
/// (`["rasterio", "odc.loader"]`).
///
/// # Errors
/// [`Error::Python`] naming every interpreter tried and why it would not
/// do, when none imports them.
pub fn with_modules(modules: &[&str]) -> Result<PathBuf> {
    let script = format!("import {}", modules.join(", "));
    let mut tried = Vec::new();
    for python in candidates() {
        if !python.is_file() {
            tried.push(format!("{} (absent)", python.display()));
            continue;
        }
        match Command::new(&python).args(["-c", &script]).output() {
            Ok(o) if o.status.success() => return Ok(python),
            Ok(o) => tried.push(format!(
                "{} ({})",
                python.display(),
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("failed")
            )),
            Err(e) => tried.push(format!("{} ({e})", python.display())),
        }
    }
    Err(Error::Python(format!(
        "no Python with {} (tried {}); set GEOCUBE_PYTHON to the venv's interpreter \
         (`export GEOCUBE_PYTHON=\"$(ci/python-env.sh | tail -n1)\"`)",
        modules.join(", "),
        if tried.is_empty() {
            "nothing".to_owned()
        } else {
            tried.join(", ")
        }
    )))
}

/// [`with_modules`] for `test`: `None` (the test skips, saying why) when
/// there is no such Python, except on CI (env `CI` set).
///
/// # Panics
/// On CI when there is no such Python: the test must not pass by skipping.
#[must_use]
pub fn with_modules_or_skip(test: &str, modules: &[&str]) -> Option<PathBuf> {
    match with_modules(modules) {
        Ok(python) => Some(python),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: the test needs the Python venv on CI: {e}")
        }
        Err(e) => {
            eprintln!("skipped {test}: {e}");
            None
        }
    }
}
