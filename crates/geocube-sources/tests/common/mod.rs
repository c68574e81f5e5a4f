//! Helpers shared by the integration tests: the tiny fixtures, a server,
//! sources pointed at it, reference pixels decoded straight from the
//! fixture COGs, and a small GeoTIFF writer for hand-made rasters.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::too_many_arguments
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use geocube_backend::{BackendConfig, DownloadFn, RetryPolicy};
use geocube_core::{Aoi, BoundingBox, Crs, GeoBox};
use geocube_sources::Source;
use geocube_sources::datasets::arcticdem::{ArcticDem, Resolution};
use geocube_sources::http::HttpConfig;
use geocube_testkit::server::{FixtureServer, ServerOptions};
use geocube_testkit::{FixtureManifest, Preset, fixtures, manifest::resolve};
use tiff::encoder::{TiffEncoder, colortype};
use tiff::tags::Tag;

pub const RES: f64 = 32.0;

/// The tiny fixtures, generated once per target directory.
pub fn tiny() -> &'static (PathBuf, FixtureManifest) {
    static DIR: OnceLock<(PathBuf, FixtureManifest)> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = base.join(format!(
            "sources-fixtures-tiny-v{}",
            geocube_testkit::manifest::GENERATOR_VERSION
        ));
        if !fixtures::is_up_to_date(Preset::Tiny, &dir) {
            let staging = base.join(format!("sources-fixtures-staging-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            fixtures::generate(Preset::Tiny, &staging).unwrap();
            if std::fs::rename(&staging, &dir).is_err() {
                if fixtures::is_up_to_date(Preset::Tiny, &dir) {
                    let _ = std::fs::remove_dir_all(&staging);
                } else {
                    let _ = std::fs::remove_dir_all(&dir);
                    std::fs::rename(&staging, &dir).unwrap();
                }
            }
        }
        let m = FixtureManifest::load(&dir).unwrap();
        (dir, m)
    })
}

/// The Sentinel-2 fixtures, generated once per target directory (shared
/// with the testkit's own tests: [`sentinel2::ensure`] is safe across
/// processes).
pub fn sentinel2() -> &'static (PathBuf, geocube_testkit::sentinel2::Sentinel2Manifest) {
    static DIR: OnceLock<(PathBuf, geocube_testkit::sentinel2::Sentinel2Manifest)> =
        OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "fixtures-sentinel2-v{}",
            geocube_testkit::sentinel2::GENERATOR_VERSION
        ));
        (
            dir.clone(),
            geocube_testkit::sentinel2::ensure(&dir).unwrap(),
        )
    })
}

/// A private copy of the tiny fixtures (for tests that add files).
pub fn tiny_copy() -> (tempfile::TempDir, FixtureManifest) {
    let (src, m) = tiny();
    let dst = tempfile::tempdir().unwrap();
    copy_dir(src, dst.path());
    (dst, m.clone())
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

pub fn server(dir: &Path, options: ServerOptions) -> FixtureServer {
    FixtureServer::start(dir, options).unwrap()
}

/// Quick HTTP retries for tests.
pub fn http_config() -> HttpConfig {
    HttpConfig {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::http()
        },
        request_timeout: Duration::from_secs(30),
        ..HttpConfig::default()
    }
}

/// An ArcticDEM 32 m source on the server; the index is downloaded from
/// the server into a fresh aux directory.
pub fn arcticdem(server: &FixtureServer, aux: &Path, http: HttpConfig) -> ArcticDem {
    arcticdem_with_index(server, "ArcticDEM_Mosaic_Index_v4_1_32m.parquet", aux, http)
}

/// The 32 m source with its mosaic index at `index` on `server`.
pub fn arcticdem_with_index(
    server: &FixtureServer,
    index: &str,
    aux: &Path,
    http: HttpConfig,
) -> ArcticDem {
    ArcticDem::builder(Resolution::M32)
        .stac_url(server.stac_api_url())
        .index_url(server.file_url(index))
        .aux_dir(aux)
        .http_config(http)
        .build()
        .unwrap()
}

pub fn download_fn<S: Source>(source: Arc<S>) -> DownloadFn {
    Arc::new(move |idx| source.download(idx))
}

pub fn backend_config() -> BackendConfig {
    BackendConfig::default()
        .workers(2)
        .download_retry(RetryPolicy {
            max_tries: 8,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
        })
}

/// A box in EPSG:3413.
pub fn polar_box(left: f64, bottom: f64, right: f64, top: f64) -> Aoi {
    Aoi::bbox(
        BoundingBox::new(left, bottom, right, top),
        Crs::from_epsg(3413).unwrap(),
    )
}

/// Decode a whole fixture COG from disk with the tiff crate.
pub fn decode_f32(path: &Path) -> Vec<f32> {
    let mut d = tiff::decoder::Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    match d.read_image().unwrap() {
        tiff::decoder::DecodingResult::F32(v) => v,
        _ => panic!("not f32"),
    }
}

pub fn decode_u8(path: &Path) -> Vec<u8> {
    let mut d = tiff::decoder::Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    match d.read_image().unwrap() {
        tiff::decoder::DecodingResult::U8(v) => v,
        _ => panic!("not u8"),
    }
}

/// The fixture's pixels on `grid` (a window of the 32 m lattice): `(dem,
/// datamask)`, NaN / None where no tile is.
pub fn reference_pixels(
    dir: &Path,
    m: &FixtureManifest,
    grid: &GeoBox,
) -> (Vec<f32>, Vec<Option<bool>>) {
    let (h, w) = grid.shape();
    let a = grid.affine();
    let col0 = (a.x0 / RES).round() as i64;
    let row0 = (-a.y0 / RES).round() as i64;
    let mut dem = vec![f32::NAN; h * w];
    let mut mask = vec![None; h * w];
    for t in &m.tiles {
        let lw = t.lattice_window;
        let (tw, th) = (i64::from(lw.width), i64::from(lw.height));
        let overlaps = lw.col_off < col0 + w as i64
            && col0 < lw.col_off + tw
            && lw.row_off < row0 + h as i64
            && row0 < lw.row_off + th;
        if !overlaps {
            continue;
        }
        let d = decode_f32(&resolve(dir, &t.dem_path));
        let k = decode_u8(&resolve(dir, &t.datamask_path));
        for r in 0..h as i64 {
            for c in 0..w as i64 {
                let (tr, tc) = (row0 + r - lw.row_off, col0 + c - lw.col_off);
                if (0..th).contains(&tr) && (0..tw).contains(&tc) {
                    let i = (tr * tw + tc) as usize;
                    let o = (r * w as i64 + c) as usize;
                    dem[o] = d[i];
                    mask[o] = Some(k[i] != 0);
                }
            }
        }
    }
    (dem, mask)
}

/// Where a test raster lies: top-left corner, pixel size and EPSG code.
#[derive(Clone, Copy, Debug)]
pub struct Lattice {
    pub x0: f64,
    pub y0: f64,
    pub res: f64,
    pub epsg: u16,
}

/// Write a single-band `width × height` GeoTIFF of sample type `C` (strips,
/// uncompressed) on `lattice`, with GDAL_NODATA `nodata`.
pub fn write_tiff<C: colortype::ColorType>(
    path: &Path,
    (width, height): (u32, u32),
    lattice: Lattice,
    data: &[C::Inner],
    nodata: Option<&str>,
) where
    [C::Inner]: tiff::encoder::TiffValue,
{
    let mut enc = TiffEncoder::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut img = enc.new_image::<C>(width, height).unwrap();
    let Lattice { x0, y0, res, epsg } = lattice;
    georef(img.encoder(), x0, y0, res, epsg, nodata);
    img.write_data(data).unwrap();
}

pub fn georef<W: std::io::Write + std::io::Seek, K: tiff::encoder::TiffKind>(
    e: &mut tiff::encoder::DirectoryEncoder<'_, W, K>,
    x0: f64,
    y0: f64,
    res: f64,
    epsg: u16,
    nodata: Option<&str>,
) {
    e.write_tag(Tag::ModelPixelScaleTag, &[res, res, 0.0][..])
        .unwrap();
    e.write_tag(Tag::ModelTiepointTag, &[0.0, 0.0, 0.0, x0, y0, 0.0][..])
        .unwrap();
    e.write_tag(
        Tag::GeoKeyDirectoryTag,
        &[
            1u16, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, epsg,
        ][..],
    )
    .unwrap();
    if let Some(nd) = nodata {
        e.write_tag(Tag::GdalNodata, nd).unwrap();
    }
}
