//! `cargo xtask bench --s3`: cubes in a bucket, measured (issue 13).
//!
//! On moto (`geocube_testkit::moto`, its conditional writes serialised as
//! S3's are) and the loopback fixture server, with the release `geocube`
//! command and `s3-commits`, both built into `target/release-bench`:
//! - a cold load by 4 processes at once, 4 overlapping ROIs (2×2 tiles each,
//!   3×3 in all) into one new cube, on S3 and on a local directory, `reps`
//!   times each: wall time of the slowest process, and COG downloads per
//!   unique patch from the server's request counts;
//! - the commit latency of 8 and 32 concurrent writers on one S3 cube.
//!
//! A markdown table on stdout, `target/bench/s3.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use geocube_testkit::Preset;
use geocube_testkit::moto::{self, MotoServer};
use geocube_testkit::server::{FixtureServer, ServerOptions};
use serde_json::{Value, json};

fn rois(manifest: &Value) -> Result<Vec<[f64; 4]>, String> {
    let lay = &manifest["layout"];
    let f = |v: &Value, k: &str| v[k].as_f64().ok_or_else(|| format!("manifest lacks {k}"));
    let tile = f(lay, "tile_px")? * f(manifest, "resolution")?;
    let (left, top) = (f(lay, "left")?, f(lay, "top")?);
    let mut out = vec![];
    for r in 0..2 {
        for c in 0..2 {
            let (cx, cy) = (
                left + f64::from(c + 1) * tile,
                top - f64::from(r + 1) * tile,
            );
            let h = 0.4 * tile;
            out.push([cx - h, cy - h, cx + h, cy + h]);
        }
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One cold load by 4 processes into `store`: (wall s, downloads per unique patch).
fn four_processes(
    exe: &Path,
    store: &str,
    endpoint: Option<&str>,
    server: &FixtureServer,
    aux: &Path,
    boxes: &[[f64; 4]],
) -> Result<(f64, f64), String> {
    server.reset_counts();
    let started = Instant::now();
    let children = boxes
        .iter()
        .map(|b| {
            let mut c = Command::new(exe);
            c.args([
                "load",
                "arcticdem-32m",
                "--store",
                store,
                "--create",
                "--crs",
                "EPSG:3413",
            ])
            .arg(format!("--bbox={},{},{},{}", b[0], b[1], b[2], b[3]))
            .env("GEOCUBE_STAC_URL", server.stac_api_url())
            .env("GEOCUBE_AUX_DIR", aux)
            .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
            if let Some(e) = endpoint {
                c.args(["--s3-endpoint", e, "--s3-region", moto::REGION]);
            }
            c.spawn().map_err(|e| format!("cannot start geocube: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for child in children {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "a load into {store} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let dems: Vec<u64> = server
        .request_counts()
        .into_iter()
        .filter(|(p, _)| p.ends_with("_dem.tif"))
        .map(|(_, n)| n)
        .collect();
    Ok((wall, dems.len() as f64))
}

/// COG requests of one clean download of each patch (a single-process load).
fn baseline(
    exe: &Path,
    server: &FixtureServer,
    aux: &Path,
    boxes: &[[f64; 4]],
    dir: &Path,
) -> Result<f64, String> {
    let store = dir.join("baseline.icechunk");
    let _ = std::fs::remove_dir_all(&store);
    server.reset_counts();
    let union = [boxes[0][0], boxes[3][1], boxes[3][2], boxes[0][3]];
    let status = Command::new(exe)
        .args([
            "load",
            "arcticdem-32m",
            "--create",
            "--crs",
            "EPSG:3413",
            "--store",
        ])
        .arg(&store)
        .arg(format!(
            "--bbox={},{},{},{}",
            union[0], union[1], union[2], union[3]
        ))
        .env("GEOCUBE_STAC_URL", server.stac_api_url())
        .env("GEOCUBE_AUX_DIR", aux)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("the baseline load failed".into());
    }
    let counts = server.request_counts();
    let dems: Vec<u64> = counts
        .iter()
        .filter(|(p, _)| p.ends_with("_dem.tif"))
        .map(|(_, n)| *n)
        .collect();
    #[allow(clippy::cast_precision_loss)]
    Ok(dems.iter().sum::<u64>() as f64 / dems.len().max(1) as f64)
}

fn cog_requests(server: &FixtureServer) -> u64 {
    server
        .request_counts()
        .into_iter()
        .filter(|(p, _)| p.ends_with("_dem.tif"))
        .map(|(_, n)| n)
        .sum()
}

/// Run the S3 scenarios on `preset`'s fixtures.
pub(crate) fn run(preset: Preset, reps: usize, target_dir: &Path) -> Result<(), String> {
    eprintln!(
        "building geocube and s3-commits (release, {})",
        target_dir.display()
    );
    crate::bench::build_release("geocube", "geocube")?;
    crate::bench::build_release("geocube-benches", "s3-commits")?;
    let exe = target_dir.join("release").join("geocube");
    let commits_exe = target_dir.join("release").join("s3-commits");
    let dir = crate::fixtures::default_dir(preset);
    crate::bench::ensure_fixtures(preset, &dir)?;
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).map_err(|e| format!("manifest: {e}"))?,
    )
    .map_err(|e| e.to_string())?;
    let boxes = rois(&manifest)?;
    let moto = MotoServer::start().map_err(|e| e.to_string())?;
    moto.create_bucket("bench").map_err(|e| e.to_string())?;
    let server = FixtureServer::start(&dir, ServerOptions::default()).map_err(|e| e.to_string())?;
    let work = PathBuf::from("target/bench/s3-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let per_patch = baseline(&exe, &server, &dir, &boxes, &work)?;
    let mut rows = vec![];
    for kind in ["local", "s3"] {
        let (mut walls, mut dl) = (vec![], vec![]);
        for i in 0..reps.max(1) {
            let (store, endpoint) = match kind {
                "s3" => (format!("s3://bench/cold-{i}"), Some(moto.endpoint())),
                _ => (
                    work.join(format!("cold-{i}.icechunk"))
                        .display()
                        .to_string(),
                    None,
                ),
            };
            let (wall, unique) =
                four_processes(&exe, &store, endpoint.as_deref(), &server, &dir, &boxes)?;
            #[allow(clippy::cast_precision_loss)]
            let per_unique = cog_requests(&server) as f64 / per_patch / unique.max(1.0);
            eprintln!(
                "4 processes cold ({kind}) {}/{reps}: {wall:.2} s, {per_unique:.2} downloads per patch",
                i + 1
            );
            walls.push(wall);
            dl.push(per_unique);
        }
        rows.push(json!({"scenario": format!("4 processes, cold, {kind}"), "wall_s": median(walls.clone()),
            "wall_min_s": walls.iter().copied().fold(f64::INFINITY, f64::min),
            "wall_max_s": walls.iter().copied().fold(0.0, f64::max),
            "downloads_per_patch": median(dl)}));
    }
    let mut commits = vec![];
    for writers in [8, 32] {
        let out = Command::new(&commits_exe)
            .args(["--endpoint", &moto.endpoint(), "--bucket", "bench"])
            .args(["--writers", &writers.to_string(), "--commits", "3"])
            .output()
            .map_err(|e| format!("s3-commits: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "s3-commits failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        eprintln!("commits, {writers} writers: {v}");
        commits.push(v);
    }
    server.stop();
    drop(moto);
    let _ = std::fs::remove_dir_all(&work);
    let mut table = format!(
        "\nCubes in a bucket (moto 5.2.5 on loopback, `{}` fixtures, median of {reps}).\n\n| scenario | wall s | downloads per patch |\n|---|---|---|\n",
        preset.name()
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {:.2} ({:.2}–{:.2}) | {:.2} |\n",
            r["scenario"].as_str().unwrap_or_default(),
            r["wall_s"].as_f64().unwrap_or(f64::NAN),
            r["wall_min_s"].as_f64().unwrap_or(f64::NAN),
            r["wall_max_s"].as_f64().unwrap_or(f64::NAN),
            r["downloads_per_patch"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    table.push_str("\n| writers | commits | median s | p90 s | max s | commits/s | re-applied per commit | lost |\n|---|---|---|---|---|---|---|---|\n");
    for c in &commits {
        let g = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
        table.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {} |\n",
            c["writers"],
            c["commits"],
            g("latency_median_s"),
            g("latency_p90_s"),
            g("latency_max_s"),
            g("commits_per_s"),
            g("reapplied_per_commit"),
            c["lost"]
        ));
    }
    print!("{table}");
    std::fs::create_dir_all("target/bench").map_err(|e| e.to_string())?;
    std::fs::write(
        "target/bench/s3.json",
        serde_json::to_vec_pretty(
            &json!({"preset": preset.name(), "reps": reps, "cold": rows, "commits": commits}),
        )
        .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}
