//! One end-to-end benchmark scenario, run in its own process by
//! `cargo xtask bench` so that its peak RSS is its own. Prints one JSON line.
//!
//! ```text
//! bench-scenario run <fixtures-dir> <scenario> <codec> <work-dir>
//! bench-scenario worker <fixtures-dir> <stac-url> <cube-dir> <codec> <roi-index>
//! ```
//!
//! Scenarios: `cold`, `warm`, `sweep`, `threads`, `processes`, and the
//! memory scenarios `two-metre` (a load of a 2 km box across the four
//! 25000² sub-tiles of the `2m` preset, each streamed chunk by chunk) and
//! `prefetch-all` (a prefetch of every tile of the fixtures, meant for the
//! `large` preset's 36). Each runs in a fresh cube against a fresh fixture
//! server on loopback, and measures its floor in the same process (not the
//! memory scenarios: the cold floor holds every chunk it encodes in memory,
//! 15 GB for the 2 m tiles):
//! - warm: the same chunks decoded by zarrs straight from a filesystem store
//!   (no Icechunk) and cropped to the window;
//! - cold: the downloaded COGs decoded from disk with the tiff crate plus the
//!   touched chunks encoded with the same zarrs codec chain (no Icechunk, no
//!   HTTP), commit group by commit group (see `cold_floor`); the strict
//!   floor is the same with one group.
//!
//! After each scenario (untimed) the cube is compacted with no grace, as
//! `geocube compact --grace 0s` does, and its size before and after is
//! reported with the bytes of the data its tip reaches.
//!
//! For profiling: `GEOCUBE_BENCH_EVENTS=1` prints the backend's event
//! timeline (and the floor's COG decode time) to stderr;
//! `GEOCUBE_BENCH_NO_FLOOR=1` skips the floors;
//! `GEOCUBE_BENCH_CHUNK_CACHE_MIB=N` sets the decoded-chunk cache (default
//! 512 MiB, most of a load's peak RSS).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use geocube::NoProgress;
use geocube::{Accessor, LoadOptions};
use geocube_core::{Aoi, BoundingBox, ChunkCodec, Crs, Cube, Toi, Window};
use geocube_sources::datasets::arcticdem::{ArcticDem, Resolution};
use geocube_testkit::FixtureManifest;
use geocube_testkit::server::{FixtureServer, ServerOptions};
use ndarray::{ArrayD, Axis, IxDyn, Slice};
use rayon::prelude::*;
use serde_json::{Value, json};
use zarrs::array::Array;
use zarrs::storage::{ReadableWritableListableStorage, WritableStorageTraits};

// The allocator of the `geocube` binary (its default feature `mimalloc`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.first().map(String::as_str) {
        Some("run") if args.len() == 5 => {
            run(Path::new(&args[1]), &args[2], &args[3], Path::new(&args[4]))
        }
        Some("worker") if args.len() == 6 => worker(
            Path::new(&args[1]),
            &args[2],
            Path::new(&args[3]),
            &args[4],
            args[5].parse().unwrap_or(0),
        ),
        _ => Err(
            "usage: bench-scenario run <fixtures> <scenario> <codec> <work> | \
                  worker <fixtures> <stac-url> <cube> <codec> <roi>"
                .into(),
        ),
    };
    match out {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("bench-scenario: {e}");
            std::process::exit(1);
        }
    }
}

/// Peak resident set of this process so far, from the kernel (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Reset the kernel's peak-RSS mark so a measurement excludes set-up.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn polar_box(left: f64, bottom: f64, right: f64, top: f64) -> Aoi {
    Aoi::bbox(
        BoundingBox::new(left, bottom, right, top),
        Crs::from_epsg(3413).expect("EPSG:3413"),
    )
}

/// The scenario ROIs, scaled to the preset's tile size.
struct Rois {
    /// Around the corner of tiles (0,0), (0,1), (1,0), (1,1): touches 4 tiles.
    corner: Aoi,
    /// 2 rows x 4 columns of adjacent boxes covering the mosaic.
    sweep: Vec<Aoi>,
    /// 4 boxes around the mosaic centre, overlapping each other.
    overlapping: Vec<Aoi>,
    /// 2 km around the corner of tiles (0,0), (0,1), (1,0), (1,1): touches
    /// 4 tiles, returns little (1000² px at 2 m).
    corner_small: Aoi,
    /// The whole mosaic, 1 m inside its edges: touches every tile.
    mosaic: Aoi,
}

fn rois(m: &FixtureManifest) -> Rois {
    let l = &m.layout;
    let t = l.tile_size_m();
    let (left, top) = (l.left, l.top);
    let (w, h) = (f64::from(l.tiles_x) * t, f64::from(l.tiles_y) * t);
    // About 2100 x 1900 px on 100 km tiles: the Python reference's window.
    let (cx, cy) = (left + t, top - t);
    let corner = polar_box(
        cx - 0.336 * t,
        cy - 0.305 * t,
        cx + 0.336 * t,
        cy + 0.305 * t,
    );
    let eps = 1.0; // stay strictly inside the mosaic so no outside tile is touched
    let mut sweep = vec![];
    for r in 0..2 {
        for c in 0..4 {
            let (x0, x1) = (
                left + w * f64::from(c) / 4.0,
                left + w * f64::from(c + 1) / 4.0,
            );
            let (y1, y0) = (
                top - h * f64::from(r) / 2.0,
                top - h * f64::from(r + 1) / 2.0,
            );
            sweep.push(polar_box(x0 + eps, y0 + eps, x1 - eps, y1 - eps));
        }
    }
    let (mx, my) = (left + w / 2.0, top - h / 2.0);
    let overlapping = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
        .iter()
        .map(|(dx, dy)| {
            let (x, y) = (mx + dx * 0.2 * t, my + dy * 0.2 * t);
            polar_box(x - 0.6 * t, y - 0.6 * t, x + 0.6 * t, y + 0.6 * t)
        })
        .collect();
    let corner_small = polar_box(cx - 1000.0, cy - 1000.0, cx + 1000.0, cy + 1000.0);
    let mosaic = polar_box(left + eps, top - h + eps, left + w - eps, top - eps);
    Rois {
        corner,
        sweep,
        overlapping,
        corner_small,
        mosaic,
    }
}

/// The ArcticDEM resolution of a fixture.
fn resolution_of(m: &FixtureManifest) -> Res<Resolution> {
    Resolution::ALL
        .into_iter()
        .find(|r| (r.metres() - m.resolution).abs() < 1e-9)
        .ok_or_else(|| format!("no ArcticDEM preset at {} m", m.resolution).into())
}

/// Scenarios whose floor is not measured (see the module docs).
fn is_memory_scenario(scenario: &str) -> bool {
    matches!(scenario, "two-metre" | "prefetch-all")
}

fn source(
    fixtures: &Path,
    stac_url: &str,
    m: &FixtureManifest,
    codec: ChunkCodec,
) -> Res<ArcticDem> {
    Ok(ArcticDem::builder(resolution_of(m)?)
        .stac_url(stac_url)
        .index_path(geocube_testkit::manifest::resolve(fixtures, &m.index_path))
        .codec(codec)
        .build()?)
}

fn accessor(
    fixtures: &Path,
    stac_url: &str,
    m: &FixtureManifest,
    codec: ChunkCodec,
    cube: &Path,
) -> Res<Accessor> {
    let src = Arc::new(source(fixtures, stac_url, m, codec)?);
    let mut config = geocube_backend::BackendConfig::default();
    // For profiling memory: the decoded-chunk cache is most of a load's
    // peak RSS, and this shows what is left without it.
    if let Some(mib) = std::env::var("GEOCUBE_BENCH_CHUNK_CACHE_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config = config.chunk_cache_bytes(mib << 20);
    }
    Ok(
        Accessor::builder(src, geocube_core::CubeStorage::local(cube))
            .codec(codec)
            .config(config)
            .build()?,
    )
}

/// What loads returned and downloaded.
#[derive(Default)]
struct Tally {
    bytes: u64,
    downloads: Vec<String>,
    /// Patches that had to be committed together, in commit order (see
    /// [`cold_floor`]).
    groups: Vec<Vec<String>>,
    windows: Vec<Window>,
}

fn load_into(acc: &Accessor, aoi: &Aoi, tally: &mut Tally) -> Res<()> {
    let loaded = acc.load(aoi, &Toi::None, LoadOptions::default().create(true))?;
    tally.bytes += loaded.dataset.nbytes() as u64;
    let downloaded = loaded.report.submit.downloaded;
    tally.downloads.extend(downloaded.iter().cloned());
    if !downloaded.is_empty() {
        tally.groups.push(downloaded);
    }
    tally.windows.push(acc.cube()?.aoi_window(aoi)?);
    Ok(())
}

fn run(fixtures: &Path, scenario: &str, codec_s: &str, work: &Path) -> Res<Value> {
    let codec = ChunkCodec::parse(codec_s)?;
    let m = FixtureManifest::load(fixtures)?;
    let r = rois(&m);
    let srv = FixtureServer::start(fixtures, ServerOptions::default())?;
    std::fs::create_dir_all(work)?;
    let cube_dir = work.join("cube");
    let _ = std::fs::remove_dir_all(&cube_dir);
    let mut acc = accessor(fixtures, &srv.stac_api_url(), &m, codec, &cube_dir)?;
    acc.create(false, true)?;
    let mut tally = Tally::default();
    let mut processes_rss = vec![];
    if scenario == "warm" {
        load_into(&acc, &r.corner, &mut Tally::default())?;
        // A fresh accessor: the warm load must decode from the repository,
        // not copy from the chunk cache the priming load filled.
        acc.close()?;
        acc = accessor(fixtures, &srv.stac_api_url(), &m, codec, &cube_dir)?;
    }
    // Read the mosaic index before the clock starts: it is per process, not per load.
    acc.source().touching_patches(&r.corner, &Toi::None)?;
    reset_peak_rss();
    let started = Instant::now();
    match scenario {
        "cold" | "warm" => load_into(&acc, &r.corner, &mut tally)?,
        "two-metre" => load_into(&acc, &r.corner_small, &mut tally)?,
        "prefetch-all" => {
            let report = acc.prefetch(&r.mosaic, &Toi::None, &NoProgress)?;
            tally
                .downloads
                .extend(report.submit.downloaded.iter().cloned());
            tally.groups.push(report.submit.downloaded);
        }
        "sweep" => {
            for aoi in &r.sweep {
                load_into(&acc, aoi, &mut tally)?;
            }
        }
        "threads" => {
            let parts = std::thread::scope(|s| {
                let handles: Vec<_> = r
                    .overlapping
                    .iter()
                    .map(|aoi| {
                        let acc = &acc;
                        s.spawn(move || {
                            let mut t = Tally::default();
                            load_into(acc, aoi, &mut t).map(|()| t)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("load thread"))
                    .collect::<Vec<_>>()
            });
            for p in parts {
                let p = p?;
                tally.bytes += p.bytes;
                tally.downloads.extend(p.downloads);
                tally.windows.extend(p.windows);
            }
            // Concurrent loads through one accessor can share one commit.
            tally.groups = vec![tally.downloads.clone()];
        }
        "processes" => {
            let exe = std::env::current_exe()?;
            let children = (0..r.overlapping.len())
                .map(|k| {
                    std::process::Command::new(&exe)
                        .arg("worker")
                        .arg(fixtures)
                        .arg(srv.stac_api_url())
                        .arg(&cube_dir)
                        .arg(codec_s)
                        .arg(k.to_string())
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                })
                .collect::<Result<Vec<_>, _>>()?;
            for child in children {
                let out = child.wait_with_output()?;
                if !out.status.success() {
                    return Err(format!("worker failed: {}", out.status).into());
                }
                let v: Value = serde_json::from_slice(&out.stdout)?;
                tally.bytes += v["bytes_returned"].as_u64().unwrap_or(0);
                processes_rss.push(v["peak_rss_kib"].as_u64().unwrap_or(0));
                // What one process downloaded, it must commit itself.
                let ids: Vec<String> = v["downloaded"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|id| id.as_str().unwrap_or_default().to_owned())
                    .collect();
                tally.downloads.extend(ids.iter().cloned());
                if !ids.is_empty() {
                    tally.groups.push(ids);
                }
            }
            let cube = acc.cube()?;
            for aoi in &r.overlapping {
                tally.windows.push(cube.aoi_window(aoi)?);
            }
        }
        other => return Err(format!("unknown scenario `{other}`").into()),
    }
    let wall = started.elapsed().as_secs_f64();
    if std::env::var_os("GEOCUBE_BENCH_EVENTS").is_some() {
        eprintln!("{}", acc.events().to_json()?);
    }
    let own_rss = peak_rss_kib();
    let peak_rss = processes_rss
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(own_rss);
    let unique: BTreeSet<&str> = tally.downloads.iter().map(String::as_str).collect();
    let unique_n = unique.len();
    let cube = acc.cube()?;
    let (floor, strict, floor_kind) = if std::env::var_os("GEOCUBE_BENCH_NO_FLOOR").is_some() {
        // For profiling the scenario alone.
        (f64::NAN, f64::NAN, "skipped")
    } else if is_memory_scenario(scenario) {
        (f64::NAN, f64::NAN, "not measured (memory scenario)")
    } else if scenario == "warm" {
        let t = warm_floor(&cube, &tally.windows, work, codec)?;
        (t, t, "zarrs decode of the same chunks + crop")
    } else {
        let all: Vec<String> = unique.iter().map(|s| (*s).to_owned()).collect();
        let strict = cold_floor(&cube, fixtures, &m, &[all], codec)?;
        let floor = if tally.groups.len() > 1 {
            cold_floor(&cube, fixtures, &m, &tally.groups, codec)?
        } else {
            strict
        };
        (
            floor,
            strict,
            "tiff decode of the COGs + zarrs encode of the chunks of each commit group",
        )
    };
    acc.close()?;
    let on_disk = geocube_benches::dir_size(&cube_dir);
    // What `geocube compact --grace 0s` leaves: nobody else writes the
    // cube, so every superseded chunk and every expired snapshot may go.
    let t = Instant::now();
    let compacted = Cube::open(geocube_core::CubeStorage::local(&cube_dir))?
        .compact(&geocube_core::CompactOptions::default().grace(std::time::Duration::ZERO))?;
    let compact_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&cube_dir);
    Ok(json!({
        "scenario": scenario,
        "codec": codec_s,
        "wall_s": wall,
        "bytes_returned": tally.bytes,
        "downloads": tally.downloads.len(),
        "unique_patches": unique_n,
        "bytes_on_disk": on_disk,
        "bytes_after_compact": compacted.bytes_after,
        "bytes_data": compacted.data_bytes,
        "compact_s": compact_s,
        "peak_rss_kib": peak_rss,
        "peak_rss_sum_kib": if processes_rss.is_empty() { own_rss } else { processes_rss.iter().sum() },
        "floor_s": floor,
        "floor_strict_s": strict,
        "commit_groups": tally.groups.len(),
        "floor": floor_kind,
    }))
}

/// One of the 4 processes of the `processes` scenario.
fn worker(fixtures: &Path, stac_url: &str, cube: &Path, codec_s: &str, roi: usize) -> Res<Value> {
    let codec = ChunkCodec::parse(codec_s)?;
    let m = FixtureManifest::load(fixtures)?;
    let r = rois(&m);
    let t0 = Instant::now();
    let acc = accessor(fixtures, stac_url, &m, codec, cube)?;
    let mut tally = Tally::default();
    let t1 = t0.elapsed().as_secs_f64();
    load_into(&acc, &r.overlapping[roi % r.overlapping.len()], &mut tally)?;
    if std::env::var_os("GEOCUBE_BENCH_EVENTS").is_some() {
        eprintln!(
            "worker {roi}: set-up {t1:.3} s, load done at {:.3} s\n{}",
            t0.elapsed().as_secs_f64(),
            acc.events().to_json()?
        );
    }
    acc.close()?;
    Ok(json!({
        "bytes_returned": tally.bytes,
        "downloaded": tally.downloads,
        "peak_rss_kib": peak_rss_kib(),
    }))
}

/// The zarrs codecs of a variable, as geocube writes them (see
/// `geocube-core`'s layout).
fn codecs_json(codec: ChunkCodec, size: usize) -> Value {
    let bytes = if size > 1 {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    } else {
        json!({"name": "bytes"})
    };
    let blosc = |cname: &str, clevel: u8| {
        json!({"name": "blosc", "configuration": {
            "typesize": size, "cname": cname, "clevel": clevel,
            "shuffle": if size > 1 { "shuffle" } else { "bitshuffle" }, "blocksize": 0
        }})
    };
    let second = match codec.resolve() {
        ChunkCodec::BloscZstd { clevel } => blosc("zstd", clevel),
        ChunkCodec::BloscLz4 { clevel } => blosc("lz4", clevel),
        ChunkCodec::Zstd { level } => {
            json!({"name": "zstd", "configuration": {"level": level, "checksum": false}})
        }
        _ => blosc("zstd", 9),
    };
    json!([bytes, second])
}

/// A plain zarrs array `name` shaped like the cube's variable.
fn floor_array(
    store: &ReadableWritableListableStorage,
    cube: &Cube,
    name: &str,
    codec: ChunkCodec,
) -> Res<Array<dyn zarrs::storage::ReadableWritableListableStorageTraits>> {
    let l = cube.layout();
    let v = l.variable(name).ok_or("no such variable")?;
    let (h, w) = l.geobox.shape();
    let (ch, cw) = l.chunk_shape;
    let fill = match v.dtype {
        geocube_core::DType::Float32 => json!("NaN"),
        geocube_core::DType::Bool => json!(false),
        _ => json!(0),
    };
    let doc = json!({
        "zarr_format": 3, "node_type": "array",
        "shape": [h, w], "data_type": v.dtype.zarr_name(),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [ch, cw]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill,
        "codecs": codecs_json(codec, v.dtype.size()),
    });
    store.set(
        &zarrs::storage::StoreKey::new(format!("{name}/zarr.json"))?,
        serde_json::to_vec(&doc)?.into(),
    )?;
    Ok(Array::open(Arc::clone(store), &format!("/{name}"))?)
}

/// Chunks (row, col) a window touches.
fn chunks_of(w: &Window, (ch, cw): (usize, usize)) -> Vec<(usize, usize)> {
    let mut out = vec![];
    for cy in w.row / ch..=(w.row + w.height - 1) / ch {
        for cx in w.col / cw..=(w.col + w.width - 1) / cw {
            out.push((cy, cx));
        }
    }
    out
}

fn chunk_window(cube: &Cube, (cy, cx): (usize, usize)) -> Window {
    let (ch, cw) = cube.layout().chunk_shape;
    Window {
        row: cy * ch,
        col: cx * cw,
        height: ch,
        width: cw,
    }
}

/// Warm floor: decode every touched chunk with zarrs from a filesystem store
/// holding the same encoded chunks, and crop each window out of them.
fn warm_floor(cube: &Cube, windows: &[Window], work: &Path, codec: ChunkCodec) -> Res<f64> {
    let dir = work.join("floor-store");
    let _ = std::fs::remove_dir_all(&dir);
    let store: ReadableWritableListableStorage =
        Arc::new(zarrs::filesystem::FilesystemStore::new(&dir)?);
    let cs = cube.layout().chunk_shape;
    let chunks: BTreeSet<(usize, usize)> = windows.iter().flat_map(|w| chunks_of(w, cs)).collect();
    let names: Vec<String> = cube
        .layout()
        .variables
        .iter()
        .map(|v| v.name.clone())
        .collect();
    for name in &names {
        let array = floor_array(&store, cube, name, codec)?;
        for &c in &chunks {
            let ds = cube.read_window(chunk_window(cube, c), None)?;
            let data = &ds.variable(name).ok_or("variable")?.data;
            store_chunk(&array, c, data)?;
        }
    }
    let started = Instant::now();
    for w in windows {
        names.par_iter().try_for_each(|name| -> Res<()> {
            let array = Array::open(Arc::clone(&store), &format!("/{name}"))?;
            let dtype = cube.layout().variable(name).ok_or("variable")?.dtype;
            match dtype {
                geocube_core::DType::Float32 => crop::<f32>(&array, w, cs).map(|_| ()),
                geocube_core::DType::Bool => crop::<bool>(&array, w, cs).map(|_| ()),
                _ => crop::<u8>(&array, w, cs).map(|_| ()),
            }
        })?;
    }
    let t = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(t)
}

fn store_chunk(
    array: &Array<dyn zarrs::storage::ReadableWritableListableStorageTraits>,
    (cy, cx): (usize, usize),
    data: &geocube_core::TypedArray,
) -> Res<()> {
    let shape = array.chunk_shape(&[0, 0])?;
    let (ch, cw) = (shape[0].get() as usize, shape[1].get() as usize);
    let idx = [cy as u64, cx as u64];
    macro_rules! put {
        ($a:expr, $fill:expr) => {{
            let mut full = ArrayD::from_elem(IxDyn(&[ch, cw]), $fill);
            let (h, w) = ($a.shape()[0], $a.shape()[1]);
            full.slice_axis_mut(Axis(0), Slice::from(0..h))
                .slice_axis_move(Axis(1), Slice::from(0..w))
                .assign($a);
            array.store_chunk(&idx, full)?;
        }};
    }
    if let Some(a) = data.as_array::<f32>() {
        put!(a, f32::NAN);
    } else if let Some(a) = data.as_array::<bool>() {
        put!(a, false);
    } else if let Some(a) = data.as_array::<u8>() {
        put!(a, 0u8);
    } else {
        return Err("unsupported dtype".into());
    }
    Ok(())
}

/// Decode whole chunks in parallel and copy the window out of them.
fn crop<T>(
    array: &Array<dyn zarrs::storage::ReadableWritableListableStorageTraits>,
    w: &Window,
    cs: (usize, usize),
) -> Res<ArrayD<T>>
where
    T: zarrs::array::ElementOwned + Clone + Default + Send + Sync,
{
    let decoded = chunks_of(w, cs)
        .into_par_iter()
        .map(|(cy, cx)| {
            array
                .retrieve_chunk::<ArrayD<T>>(&[cy as u64, cx as u64])
                .map(|a| ((cy, cx), a))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = ArrayD::from_elem(IxDyn(&[w.height, w.width]), T::default());
    for ((cy, cx), chunk) in decoded {
        let cwin = Window {
            row: cy * cs.0,
            col: cx * cs.1,
            height: cs.0,
            width: cs.1,
        };
        let i = w.intersection(&cwin).ok_or("no overlap")?;
        let (r0, c0) = (i.row - cwin.row, i.col - cwin.col);
        let src = chunk
            .slice_axis(Axis(0), Slice::from(r0..r0 + i.height))
            .slice_axis_move(Axis(1), Slice::from(c0..c0 + i.width));
        let (r0, c0) = (i.row - w.row, i.col - w.col);
        out.slice_axis_mut(Axis(0), Slice::from(r0..r0 + i.height))
            .slice_axis_move(Axis(1), Slice::from(c0..c0 + i.width))
            .assign(&src);
    }
    Ok(out)
}

/// Cold floor: decode the downloaded patches' COGs from disk once, and
/// encode the chunks with the same zarrs codec chain into an in-memory store,
/// commit group by commit group. Each group is a set of patches that must be
/// committed together before the next group can start (the loads of a
/// sequential sweep, or the patches one process downloaded); a chunk touched
/// by several groups is decoded and encoded again for each, with the content
/// it has at that point (the patches of earlier groups and this one). One
/// group holding every patch is the strict floor: each chunk encoded once.
fn cold_floor(
    cube: &Cube,
    fixtures: &Path,
    m: &FixtureManifest,
    groups: &[Vec<String>],
    codec: ChunkCodec,
) -> Res<f64> {
    let cs = cube.layout().chunk_shape;
    let window_of = |id: &String| -> Res<Window> {
        let b = m.tile(id).ok_or("unknown patch id")?.bounds;
        Ok(cube.aoi_window(&polar_box(b.xmin, b.ymin, b.xmax, b.ymax))?)
    };
    let names: Vec<String> = cube
        .layout()
        .variables
        .iter()
        .map(|v| v.name.clone())
        .collect();
    let store: ReadableWritableListableStorage =
        Arc::new(zarrs::storage::store::MemoryStore::new());
    let arrays = names
        .iter()
        .map(|n| floor_array(&store, cube, n, codec).map(|a| (n.clone(), a)))
        .collect::<Res<std::collections::BTreeMap<_, _>>>()?;
    let files: Vec<PathBuf> = groups
        .iter()
        .flatten()
        .filter_map(|id| m.tile(id))
        .flat_map(|t| [&t.dem_path, &t.datamask_path])
        .map(|p| geocube_testkit::manifest::resolve(fixtures, p))
        .collect();
    let started = Instant::now();
    files.par_iter().try_for_each(|f| -> Res<()> {
        let mut d = tiff::decoder::Decoder::new(std::io::BufReader::new(std::fs::File::open(f)?))?;
        let _ = d.read_image()?;
        Ok(())
    })?;
    let mut elapsed = started.elapsed().as_secs_f64();
    if std::env::var_os("GEOCUBE_BENCH_EVENTS").is_some() {
        eprintln!("floor: COG decode {elapsed:.3} s");
    }
    let mut loaded: Vec<Window> = vec![];
    let mut stored: BTreeSet<(usize, usize)> = BTreeSet::new();
    for group in groups {
        let windows = group.iter().map(window_of).collect::<Res<Vec<_>>>()?;
        let chunks: BTreeSet<(usize, usize)> =
            windows.iter().flat_map(|w| chunks_of(w, cs)).collect();
        loaded.extend(windows);
        // The chunks' contents after this group, prepared off the clock:
        // the final cube content where a patch of this or an earlier group
        // lies, fill elsewhere.
        let mut contents = vec![];
        for &c in &chunks {
            let cw = chunk_window(cube, c);
            let ds = cube.read_window(cw, None)?;
            for name in &names {
                let full = &ds.variable(name).ok_or("variable")?.data;
                let mut part = geocube_core::TypedArray::filled(full.dtype(), full.shape());
                for w in &loaded {
                    if let Some(i) = w.intersection(&cw) {
                        copy_rect(
                            full,
                            &mut part,
                            i.row - cw.row,
                            i.col - cw.col,
                            i.height,
                            i.width,
                        );
                    }
                }
                contents.push((name.clone(), c, stored.contains(&c), part));
            }
        }
        let started = Instant::now();
        contents
            .par_iter()
            .try_for_each(|(name, c, had_data, data)| -> Res<()> {
                if *had_data {
                    // The writer decodes what the chunk holds before merging.
                    let _ = arrays[name].retrieve_chunk::<zarrs::array::ArrayBytes<'static>>(&[
                        c.0 as u64, c.1 as u64,
                    ])?;
                }
                store_chunk(&arrays[name], *c, data)
            })?;
        elapsed += started.elapsed().as_secs_f64();
        stored.extend(chunks);
    }
    Ok(elapsed)
}

/// Copy a rectangle of `src` into the same place of `dst` (both 2-D, same dtype).
fn copy_rect(
    src: &geocube_core::TypedArray,
    dst: &mut geocube_core::TypedArray,
    row: usize,
    col: usize,
    height: usize,
    width: usize,
) {
    fn copy<T: geocube_core::CubeElement>(s: &ArrayD<T>, d: &mut ArrayD<T>, r: Slice, c: Slice) {
        d.slice_axis_mut(Axis(0), r)
            .slice_axis_move(Axis(1), c)
            .assign(&s.slice_axis(Axis(0), r).slice_axis_move(Axis(1), c));
    }
    use geocube_core::TypedArray as A;
    let (r, c) = (
        Slice::from(row..row + height),
        Slice::from(col..col + width),
    );
    match (src, dst) {
        (A::Float32(s), A::Float32(d)) => copy(s, d, r, c),
        (A::Bool(s), A::Bool(d)) => copy(s, d, r, c),
        (A::Uint8(s), A::Uint8(d)) => copy(s, d, r, c),
        _ => {}
    }
}
