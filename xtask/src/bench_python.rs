//! `cargo xtask bench --python`: the Python package's benchmark.
//!
//! Builds the release wheel and the release `geocube` command (both in
//! `target/release-bench`), installs the wheel into the test venv, serves
//! the fixtures on loopback and runs `crates/geocube-py/bench/bench_python.py`:
//! a cold and a warm load from Python beside the command line's, 4 Python
//! threads against 1, and each run's peak RSS. Its table goes to stdout,
//! its medians to `target/bench/python.json`.

use std::path::Path;
use std::process::Command;

use geocube_testkit::Preset;
use geocube_testkit::server::{FixtureServer, ServerOptions};

/// Run the Python benchmark on `preset`'s fixtures with `reps` repetitions.
pub(crate) fn run(
    root: &Path,
    preset: Preset,
    reps: usize,
    target_dir: &Path,
) -> Result<(), String> {
    let python = crate::test::python_env(root)?;
    let bin = Path::new(&python)
        .parent()
        .ok_or_else(|| format!("{python} has no directory"))?
        .to_path_buf();
    let wheels = target_dir.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    eprintln!(
        "building the release wheel and the release command ({})",
        target_dir.display()
    );
    crate::bench::status(
        Command::new(bin.join("maturin"))
            .current_dir(root.join("crates").join("geocube-py"))
            .env("CARGO_TARGET_DIR", target_dir)
            .args(["build", "--release", "--interpreter", &python, "--out"])
            .arg(&wheels),
        "maturin build --release",
    )?;
    crate::bench::build_release("geocube", "geocube")?;
    crate::test::install_wheel(&python, &wheels)?;
    let dir = crate::fixtures::default_dir(preset);
    crate::bench::ensure_fixtures(preset, &dir)?;
    let server = FixtureServer::start(&dir, ServerOptions::default()).map_err(|e| e.to_string())?;
    let work = root.join("target").join("bench").join("python-work");
    let json = root.join("target").join("bench").join("python.json");
    std::fs::create_dir_all(root.join("target").join("bench")).map_err(|e| e.to_string())?;
    let out = Command::new(&python)
        .arg(
            root.join("crates")
                .join("geocube-py")
                .join("bench")
                .join("bench_python.py"),
        )
        .args(["--stac-url", &server.stac_api_url()])
        .arg("--aux-dir")
        .arg(&dir)
        .arg("--cli")
        .arg(target_dir.join("release").join("geocube"))
        .arg("--work")
        .arg(&work)
        .args(["--reps", &reps.to_string()])
        .arg("--json")
        .arg(&json)
        .output()
        .map_err(|e| format!("cannot run the Python benchmark: {e}"))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    print!("{}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::remove_dir_all(&work);
    server.stop();
    if out.status.success() {
        eprintln!("wrote {}", json.display());
        Ok(())
    } else {
        Err(format!("the Python benchmark failed ({})", out.status))
    }
}
