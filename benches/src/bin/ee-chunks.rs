//! One cold Earth Engine load, timed: `ee-chunks tctrend|alphaearth N`.
//!
//! Starts the testkit's emulator in this process, builds the preset's
//! source on it (the real spec: 3600² chunks) and loads a region covering
//! `N` chunks side by side (one year for AlphaEarth) into a new local cube
//! with the threaded backend. Prints one JSON line: wall seconds, chunks
//! per second, reply megabytes per second, requests. The emulator computes
//! its synthetic replies on the same two cores, so the figures are a floor
//! for geocube's own cost, not Earth Engine's speed.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use geocube::{Accessor, LoadOptions, Source};
use geocube_core::{Aoi, BoundingBox, Crs, CubeStorage, Toi};
use geocube_sources::datasets::earthengine::{EeDataset, TcTrendYear};
use geocube_sources::ee::{EarthEngineSource, EeConfig, EeCredentials, ServiceAccountKey};
use geocube_testkit::ee::{EeEmulator, EeOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("tctrend", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2).max(1);
    let emu = EeEmulator::start(EeOptions::default()).map_err(|e| e.to_string())?;
    let key = ServiceAccountKey::from_json(&emu.key_json()).map_err(|e| e.to_string())?;
    let mut config = EeConfig::new(EeCredentials::ServiceAccount(Box::new(key)));
    config.url = emu.url();
    let (dataset, toi) = match which {
        "tctrend" => (EeDataset::tctrend(TcTrendYear::Y2024), Toi::None),
        "alphaearth" => (
            EeDataset::alphaearth(),
            Toi::parse("2020-01-01").map_err(|e| e.to_string())?,
        ),
        other => {
            return Err(format!(
                "unknown dataset {other}; use tctrend or alphaearth"
            ));
        }
    };
    let source = Arc::new(EarthEngineSource::new(dataset, config).map_err(|e| e.to_string())?);
    let spec = source.spec().clone();
    // A thin row through the centres of chunks (row 40, cols 196..196+n).
    let g = spec.geobox.affine();
    let edge = spec.chunk_size as f64 * g.res_x;
    let (row, col) = (40.0, 196.0);
    let y = g.y0 + (row + 0.5) * spec.chunk_size as f64 * g.res_y;
    let x0 = g.x0 + (col + 0.5) * edge;
    let bbox = BoundingBox::new(x0, y - 1e-4, x0 + (n - 1) as f64 * edge + 1e-4, y + 1e-4);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let acc = Accessor::builder(
        Arc::clone(&source) as Arc<dyn Source>,
        CubeStorage::local(dir.path().join("cube")),
    )
    .build()
    .map_err(|e| e.to_string())?;
    acc.create(false, false).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let loaded = acc
        .load(&Aoi::bbox(bbox, Crs::wgs84()), &toi, LoadOptions::default())
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let chunks = loaded.report.submit.downloaded.len();
    let stats = source.client().stats();
    let bytes = stats.bytes.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let requests = stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "dataset": which,
            "chunks": chunks,
            "requests": requests,
            "seconds": secs,
            "chunks_per_s": chunks as f64 / secs,
            "reply_mb_per_s": bytes / 1e6 / secs,
            "reply_mb": bytes / 1e6,
        })
    );
    Ok(())
}
