//! Commit latency of many concurrent writers on one S3 cube (issue 13).
//!
//! `s3-commits --endpoint URL --bucket B --writers N --commits K` creates a
//! cube under a fresh prefix, starts N writer threads (each with its own
//! `Cube` handle, as N machines would: object storage has no commit lock)
//! and has each commit K patches of its own, one commit per patch. Every
//! commit rewrites the root's `loaded_patches`, so writers conflict on every
//! commit the tip moved under; a lost race is re-applied on the new tip
//! (`WriteOutcome::reapplied`). Prints one JSON object: commit latency
//! median / p90 / max, commits per second, re-applications, and the check
//! that every id and its pixels are in the cube (`lost` must be 0).

use std::sync::Arc;
use std::time::Instant;

use geocube_core::{
    Affine, ChannelSpec, Crs, Cube, CubeSpec, CubeStorage, DType, GeoBox, Patch, S3Credentials,
    S3Location, TypedArray, Window,
};

const TILE: usize = 64;

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args();
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
    }
    None
}

fn spec(tiles: usize) -> Result<CubeSpec, String> {
    let side = tiles * TILE;
    let gb = GeoBox::new(
        side,
        TILE,
        Affine {
            x0: 0.0,
            res_x: 32.0,
            y0: (TILE * 32) as f64,
            res_y: -32.0,
        },
        Crs::from_epsg(3413).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(CubeSpec {
        title: "S3Commits".into(),
        geobox: gb,
        time: None,
        chunk_size: TILE,
        channels: vec![ChannelSpec::new("dem", DType::Float32)],
        codec: geocube_core::ChunkCodec::default(),
    })
}

fn patch(spec: &CubeSpec, k: usize) -> Result<Patch, String> {
    let gb = spec
        .geobox
        .window(Window::new(0, k * TILE, TILE, TILE))
        .map_err(|e| e.to_string())?;
    #[allow(clippy::cast_precision_loss)]
    let value = k as f32;
    let dem = ndarray::ArrayD::from_elem(vec![TILE, TILE], value);
    Ok(Patch::new(format!("p{k:05}"), gb).with_layer("dem", TypedArray::Float32(dem), None))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run() -> Result<serde_json::Value, String> {
    let endpoint = arg("--endpoint").ok_or("--endpoint URL")?;
    let bucket = arg("--bucket").ok_or("--bucket NAME")?;
    let writers: usize =
        arg("--writers").map_or(Ok(8), |s| s.parse().map_err(|e| format!("{e}")))?;
    let commits: usize =
        arg("--commits").map_or(Ok(4), |s| s.parse().map_err(|e| format!("{e}")))?;
    let prefix = format!("commits-{writers}x{commits}-{}", std::process::id());
    let location = S3Location::new(bucket, prefix)
        .endpoint(endpoint)
        .region("us-east-1")
        .credentials(S3Credentials::Static {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        });
    let storage = CubeStorage::s3(location).map_err(|e| e.to_string())?;
    let spec = Arc::new(spec(writers * commits)?);
    Cube::create(storage.clone(), &spec)
        .execute()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let (storage, spec) = (storage.clone(), Arc::clone(&spec));
            std::thread::spawn(move || -> Result<(Vec<f64>, u32, u32), String> {
                let cube = Cube::open(storage).map_err(|e| e.to_string())?;
                let (mut lat, mut reapplied, mut failed) = (vec![], 0, 0);
                for c in 0..commits {
                    let p = patch(&spec, w * commits + c)?;
                    loop {
                        let t = Instant::now();
                        match cube.write_patch(&p) {
                            Ok(out) => {
                                lat.push(t.elapsed().as_secs_f64());
                                reapplied += out.reapplied;
                                break;
                            }
                            // Re-applications exhausted: counted, then tried again.
                            Err(geocube_core::Error::Conflict { .. }) => failed += 1,
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                }
                Ok((lat, reapplied, failed))
            })
        })
        .collect();
    let (mut lat, mut reapplied, mut exhausted) = (vec![], 0_u32, 0_u32);
    for h in handles {
        let (l, r, f) = h.join().map_err(|_| "a writer panicked")??;
        lat.extend(l);
        reapplied += r;
        exhausted += f;
    }
    let wall = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let cube = Cube::open(storage).map_err(|e| e.to_string())?;
    let ids = cube.loaded_patches().map_err(|e| e.to_string())?;
    let full = cube
        .read_window(spec.geobox.full_window(), None)
        .map_err(|e| e.to_string())?;
    let dem = full
        .variable("dem")
        .and_then(|v| v.data.as_array::<f32>())
        .ok_or("no dem")?;
    let mut lost = 0;
    for k in 0..writers * commits {
        #[allow(clippy::cast_precision_loss)]
        let want = k as f32;
        let id = format!("p{k:05}");
        let pixels_ok = dem
            .indexed_iter()
            .filter(|(ix, _)| ix[1] / TILE == k)
            .all(|(_, v)| *v == want);
        if !ids.contains(&id) || !pixels_ok {
            lost += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let n = lat.len() as f64;
    Ok(serde_json::json!({
        "writers": writers,
        "commits_per_writer": commits,
        "commits": lat.len(),
        "wall_s": wall,
        "commits_per_s": n / wall,
        "latency_median_s": percentile(&lat, 0.5),
        "latency_p90_s": percentile(&lat, 0.9),
        "latency_max_s": lat.last().copied().unwrap_or(f64::NAN),
        "reapplied_per_commit": f64::from(reapplied) / n,
        "reapply_exhausted": exhausted,
        "ids_recorded": ids.len(),
        "lost": lost,
    }))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("s3-commits: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
