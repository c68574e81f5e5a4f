//! A synthetic tile source over a real Icechunk cube, with fault injection.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap
)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use geocube_backend::{BackendConfig, DownloadError, DownloadFn, RetryPolicy};
use geocube_core::{
    Affine, ChannelSpec, Crs, Cube, CubeSpec, CubeStorage, DType, GeoBox, Patch, PatchRef,
    TypedArray,
};
use ndarray::Array2;

pub const RES: f64 = 32.0;
pub const X0: f64 = -1_600_000.0;
pub const Y0: f64 = 1_600_000.0;
/// Cube edge in pixels, tile edge in pixels, chunk edge in pixels: tiles
/// straddle chunks and the last tiles stick out of the cube.
pub const CUBE: usize = 200;
pub const TILE: usize = 48;
pub const CHUNK: usize = 64;
pub const TILES: usize = 5; // 5 * 48 = 240 > 200

pub fn spec() -> CubeSpec {
    let gb = GeoBox::new(
        CUBE,
        CUBE,
        Affine {
            x0: X0,
            res_x: RES,
            y0: Y0,
            res_y: -RES,
        },
        Crs::from_epsg(3413).expect("crs"),
    )
    .expect("geobox");
    CubeSpec {
        title: "Backend".into(),
        geobox: gb,
        time: None,
        chunk_size: CHUNK,
        channels: vec![
            ChannelSpec::new("dem", DType::Float32).with_nodata(-9999.0),
            ChannelSpec::new("datamask", DType::Bool),
        ],
        codec: geocube_core::ChunkCodec::BloscLz4 { clevel: 1 },
    }
}

pub fn create(storage: &CubeStorage) -> Cube {
    Cube::create(storage.clone(), &spec())
        .execute()
        .expect("create cube")
}

/// The value every tile holds at cube pixel (row, col): tiles agree on overlaps.
pub fn value(row: i64, col: i64) -> f32 {
    (row * 1000 + col) as f32 * 0.5
}

pub fn tile_id(r: usize, c: usize) -> String {
    format!("t{r}_{c}")
}

pub fn all_ids() -> Vec<String> {
    (0..TILES)
        .flat_map(|r| (0..TILES).map(move |c| tile_id(r, c)))
        .collect()
}

pub fn index(id: &str) -> PatchRef {
    PatchRef::new(id, geo::Geometry::Point(geo::Point::new(0.0, 80.0)), None)
}

pub fn indices(ids: &[String]) -> Vec<PatchRef> {
    ids.iter().map(|id| index(id)).collect()
}

pub fn parse(id: &str) -> Option<(usize, usize)> {
    let (r, c) = id.strip_prefix('t')?.split_once('_')?;
    Some((r.parse().ok()?, c.parse().ok()?))
}

/// What the source does for an id.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Fail retryably this many times, then succeed.
    Flaky(u32),
    /// Always fail, not retryable.
    Fatal,
    /// Always fail retryably.
    AlwaysRetryable,
    /// Panic.
    Panic,
    /// Return a patch the cube rejects (wrong dtype): a write failure.
    BadPatch,
}

/// A source of 48 px tiles on the cube lattice, counting downloads.
#[derive(Default)]
pub struct TileSource {
    pub faults: Mutex<HashMap<String, Fault>>,
    pub downloads: Mutex<HashMap<String, u32>>,
    pub delay: Duration,
    /// Extra time a download of one id takes.
    pub delays: Mutex<HashMap<String, Duration>>,
}

impl TileSource {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn with_delay(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay,
            ..Self::default()
        })
    }

    pub fn fault(&self, id: &str, fault: Fault) {
        self.faults.lock().expect("faults").insert(id.into(), fault);
    }

    pub fn slow(&self, id: &str, delay: Duration) {
        self.delays.lock().expect("delays").insert(id.into(), delay);
    }

    pub fn downloads_of(&self, id: &str) -> u32 {
        self.downloads
            .lock()
            .expect("downloads")
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_downloads(&self) -> u32 {
        self.downloads.lock().expect("downloads").values().sum()
    }

    pub fn download(&self, idx: &PatchRef) -> Result<Patch, DownloadError> {
        let n = {
            let mut d = self.downloads.lock().expect("downloads");
            let n = d.entry(idx.id.clone()).or_default();
            *n += 1;
            *n
        };
        let extra = self.delays.lock().expect("delays").get(&idx.id).copied();
        std::thread::sleep(self.delay + extra.unwrap_or_default());
        let fault = self.faults.lock().expect("faults").get(&idx.id).cloned();
        match fault {
            Some(Fault::Flaky(k)) if n <= k => {
                return Err(DownloadError::retryable(format!("flaky {n}/{k}")));
            }
            Some(Fault::Fatal) => return Err(DownloadError::fatal("404 not found")),
            Some(Fault::AlwaysRetryable) => {
                return Err(DownloadError::retryable("503 service unavailable"));
            }
            Some(Fault::Panic) => panic!("source bug for {}", idx.id),
            _ => {}
        }
        let (r, c) =
            parse(&idx.id).ok_or_else(|| DownloadError::fatal(format!("no tile {}", idx.id)))?;
        Ok(make_patch(&idx.id, r, c, fault == Some(Fault::BadPatch)))
    }

    pub fn download_fn(self: &Arc<Self>) -> DownloadFn {
        let me = Arc::clone(self);
        Arc::new(move |idx: &PatchRef| me.download(idx))
    }
}

pub fn make_patch(id: &str, r: usize, c: usize, bad: bool) -> Patch {
    let (row0, col0) = ((r * TILE) as i64, (c * TILE) as i64);
    let gb = GeoBox::new(
        TILE,
        TILE,
        Affine {
            x0: X0 + col0 as f64 * RES,
            res_x: RES,
            y0: Y0 - row0 as f64 * RES,
            res_y: -RES,
        },
        Crs::from_epsg(3413).expect("crs"),
    )
    .expect("tile geobox");
    let dem = Array2::from_shape_fn((TILE, TILE), |(i, j)| {
        value(row0 + i as i64, col0 + j as i64)
    });
    let mask = dem.mapv(|_| true);
    let dem = if bad {
        TypedArray::Float64(dem.mapv(f64::from).into_dyn())
    } else {
        TypedArray::Float32(dem.into_dyn())
    };
    Patch::new(id, gb)
        .with_layer("dem", dem, Some(-9999.0))
        .with_layer("datamask", TypedArray::Bool(mask.into_dyn()), None)
}

/// Fast retries for tests.
pub fn config() -> BackendConfig {
    let fast = RetryPolicy {
        max_tries: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
    };
    BackendConfig::default()
        .download_retry(fast)
        .conflict_retry(RetryPolicy {
            max_tries: 100,
            ..fast
        })
}

/// Assert that exactly `ids` are recorded, once each, and their pixels are in the cube.
pub fn assert_cube_holds(cube: &Cube, ids: &[String]) {
    let loaded = cube.loaded_patches().expect("loaded");
    let set: HashSet<&String> = loaded.iter().collect();
    assert_eq!(
        set.len(),
        loaded.len(),
        "duplicate ids in loaded_patches: {loaded:?}"
    );
    let want: HashSet<&String> = ids.iter().collect();
    assert_eq!(set, want, "loaded_patches");
    let full = geocube_core::Window {
        row: 0,
        col: 0,
        height: CUBE,
        width: CUBE,
    };
    let ds = cube.read_window(full, None).expect("read");
    let dem = ds
        .variable("dem")
        .and_then(|v| v.data.as_array::<f32>())
        .expect("dem");
    let mut covered = vec![vec![false; CUBE]; CUBE];
    for id in ids {
        let (r, c) = parse(id).expect("id");
        for row in &mut covered[r * TILE..((r + 1) * TILE).min(CUBE)] {
            row[c * TILE..((c + 1) * TILE).min(CUBE)].fill(true);
        }
    }
    for (i, row) in covered.iter().enumerate() {
        for (j, cov) in row.iter().enumerate() {
            let v = dem[[i, j]];
            if *cov {
                assert_eq!(
                    v,
                    value(i as i64, j as i64),
                    "pixel {i},{j} of a loaded patch"
                );
            } else {
                assert!(
                    v.is_nan(),
                    "pixel {i},{j} belongs to no loaded patch but holds {v}"
                );
            }
        }
    }
}
