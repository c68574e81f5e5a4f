//! The `geocube` command on S3 cubes (issue 13), against a real S3 server:
//! moto (`geocube_testkit::moto`, started by the tests on 127.0.0.1 and a
//! free port) holds the cubes, the testkit's fixture server the `tiny`
//! mosaic (3 x 3 tiles of 500 px) and its STAC API.
//!
//! - Eight `geocube load --store s3://…` processes at once, on overlapping
//!   ROIs of one new cube, three runs: every process succeeds and returns
//!   the source's pixels; the cube holds every patch id exactly once and
//!   every pixel of the source (read back offline, compared with the
//!   fixture rasters pixel by pixel; `geocube verify` agrees); each patch's
//!   COGs are requested at most 1.1 times as often as by one process
//!   loading everything (the fixture server's request counts).
//! - Bad storage input is one clear error: an unknown bucket, wrong
//!   credentials (a moto that checks them), an endpoint that refuses
//!   connections, a prefix holding something that is not a cube, a
//!   malformed URL.
//!
//! Skipped without moto (the venv of `ci/python-env.sh`), except on CI
//! (`CI` set), where they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use geocube_core::cube::CLAIMS_PREFIX;
use geocube_core::{Cube, CubeStorage, S3Credentials, S3Location};
use geocube_testkit::moto::{self, MotoServer};
use geocube_testkit::server::{FixtureServer, ServerOptions};
use geocube_testkit::{FixtureManifest, PixelWindow, Preset, fixtures};
use serde_json::Value;

/// The preset whose cube the fixtures fill.
const DATASET: &str = "arcticdem-32m";
/// The bucket the tests' cubes live in.
const BUCKET: &str = "cubes";
/// `load` processes started at once.
const PROCESSES: usize = 8;
/// Runs of the eight processes, each on a new cube.
const RUNS: usize = 3;
/// Most COG requests per patch, relative to a single process.
const MAX_DOWNLOADS_PER_PATCH: f64 = 1.1;
/// Nodata of the fixture `dem`.
const NODATA: f32 = -9999.0;

struct World {
    dir: tempfile::TempDir,
    manifest: FixtureManifest,
}

/// The `tiny` fixtures, generated once per test binary.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = fixtures::generate(Preset::Tiny, dir.path()).expect("fixtures");
        World { dir, manifest }
    })
}

/// A fixture server of the test's own over the world's fixtures: its
/// request counts are the test's alone.
fn fixture_server() -> FixtureServer {
    FixtureServer::start(world().dir.path(), ServerOptions::default()).expect("fixture server")
}

/// moto with the bucket [`BUCKET`], or `None` (test skipped) without moto
/// outside CI.
fn moto(test: &str) -> Option<MotoServer> {
    let moto = MotoServer::start_or_skip(test)?;
    moto.create_bucket(BUCKET).expect("bucket");
    Some(moto)
}

/// `s3://BUCKET/prefix`.
fn s3_url(prefix: &str) -> String {
    format!("s3://{BUCKET}/{prefix}")
}

/// The cube at `prefix`, opened through the library with moto's
/// credentials (to read its ids).
fn open_cube(moto: &MotoServer, prefix: &str) -> Cube {
    let location = S3Location::new(BUCKET, prefix)
        .endpoint(moto.endpoint())
        .region(moto::REGION)
        .credentials(S3Credentials::Static {
            access_key_id: moto::ACCESS_KEY_ID.into(),
            secret_access_key: moto::SECRET_ACCESS_KEY.into(),
            session_token: None,
        });
    Cube::open(CubeStorage::s3(location).expect("S3 storage")).expect("open the S3 cube")
}

// ---------------------------------------------------------------------------
// Regions of interest, in pixels of the mosaic grid (origin its top-left)
// ---------------------------------------------------------------------------

/// A rectangle of mosaic pixels.
#[derive(Clone, Copy, Debug)]
struct Roi {
    row: u32,
    col: u32,
    rows: u32,
    cols: u32,
}

impl Roi {
    /// `W,S,E,N` in EPSG:3413, on pixel edges.
    fn bbox(&self) -> String {
        let l = world().manifest.layout;
        let res = l.resolution();
        let x0 = l.left + f64::from(self.col) * res;
        let y1 = l.top - f64::from(self.row) * res;
        let x1 = x0 + f64::from(self.cols) * res;
        let y0 = y1 - f64::from(self.rows) * res;
        format!("{x0},{y0},{x1},{y1}")
    }

    /// Whether the ROI shares pixels with `w` (a tile's mosaic window).
    fn overlaps(&self, w: &PixelWindow) -> bool {
        let (r0, c0) = (i64::from(self.row), i64::from(self.col));
        let (r1, c1) = (r0 + i64::from(self.rows), c0 + i64::from(self.cols));
        r0 < w.row_off + i64::from(w.height)
            && w.row_off < r1
            && c0 < w.col_off + i64::from(w.width)
            && w.col_off < c1
    }
}

/// Eight overlapping ROIs of 580 x 700 px (the tiles are 500 px): four
/// along each of two bands of rows, 300 px apart, none with an edge on a
/// tile edge. Each of the nine tiles is wanted by two to eight of them.
fn rois() -> Vec<Roi> {
    (0..PROCESSES)
        .map(|k| Roi {
            row: 10 + 740 * u32::try_from(k / 4).expect("small"),
            col: 10 + 300 * u32::try_from(k % 4).expect("small"),
            rows: 700,
            cols: 580,
        })
        .collect()
}

/// The bounding box of all the ROIs.
fn union(rois: &[Roi]) -> Roi {
    let row = rois.iter().map(|r| r.row).min().expect("rois");
    let col = rois.iter().map(|r| r.col).min().expect("rois");
    let row1 = rois.iter().map(|r| r.row + r.rows).max().expect("rois");
    let col1 = rois.iter().map(|r| r.col + r.cols).max().expect("rois");
    Roi {
        row,
        col,
        rows: row1 - row,
        cols: col1 - col,
    }
}

/// The ids of the tiles the ROIs touch.
fn wanted(rois: &[Roi]) -> BTreeSet<String> {
    world()
        .manifest
        .tiles
        .iter()
        .filter(|t| rois.iter().any(|r| r.overlaps(&t.window)))
        .map(|t| t.dem_id.clone())
        .collect()
}

/// The source's `(dem, datamask)` of the ROI, row-major, assembled from the
/// fixture tiles (computed, not read).
fn source(roi: &Roi) -> (Vec<f32>, Vec<u8>) {
    let m = &world().manifest;
    let n = roi.rows as usize * roi.cols as usize;
    let (mut dem, mut mask) = (vec![f32::NAN; n], vec![u8::MAX; n]);
    for t in &m.tiles {
        let w = t.window;
        let r0 = i64::from(roi.row).max(w.row_off);
        let c0 = i64::from(roi.col).max(w.col_off);
        let r1 = i64::from(roi.row + roi.rows).min(w.row_off + i64::from(w.height));
        let c1 = i64::from(roi.col + roi.cols).min(w.col_off + i64::from(w.width));
        if r0 >= r1 || c0 >= c1 {
            continue;
        }
        let part = PixelWindow {
            col_off: c0 - w.col_off,
            row_off: r0 - w.row_off,
            width: u32::try_from(c1 - c0).expect("width"),
            height: u32::try_from(r1 - r0).expect("height"),
        };
        let (d, k) =
            fixtures::tile_window(&m.layout, t.mosaic_row, t.mosaic_col, part).expect("tile");
        let width = part.width as usize;
        for (i, row) in (r0..r1).enumerate() {
            let at = usize::try_from(row - i64::from(roi.row)).expect("row") * roi.cols as usize
                + usize::try_from(c0 - i64::from(roi.col)).expect("col");
            dem[at..at + width].copy_from_slice(&d[i * width..(i + 1) * width]);
            mask[at..at + width].copy_from_slice(&k[i * width..(i + 1) * width]);
        }
    }
    assert!(
        dem.iter().all(|v| !v.is_nan()),
        "the ROI {roi:?} leaves the mosaic"
    );
    (dem, mask)
}

/// `(valid_count, min, max, mean)` of the valid `dem` pixels.
fn stats(dem: &[f32]) -> (u64, f64, f64, f64) {
    let valid: Vec<f64> = dem
        .iter()
        .filter(|v| **v != NODATA)
        .map(|v| f64::from(*v))
        .collect();
    let min = valid.iter().copied().fold(f64::INFINITY, f64::min);
    let max = valid.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = valid.iter().sum::<f64>() / valid.len() as f64;
    (valid.len() as u64, min, max, mean)
}

// ---------------------------------------------------------------------------
// Running the command
// ---------------------------------------------------------------------------

/// `geocube args...` with moto's static credentials and the fixture
/// server's STAC API and mosaic index; no AWS setting of the environment
/// leaks in (an endpoint, a region, a profile).
fn geocube(fixtures: &FixtureServer, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_geocube"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
        .env("GEOCUBE_STAC_URL", fixtures.stac_api_url())
        .env("GEOCUBE_AUX_DIR", world().dir.path())
        .env_remove("RUST_BACKTRACE");
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ALLOW_HTTP",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `load DATASET --store URL --s3-endpoint ENDPOINT --s3-region us-east-1
/// --bbox ROI --crs EPSG:3413 EXTRA...`.
fn load_args(url: &str, endpoint: &str, roi: &Roi, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "load",
        DATASET,
        "--store",
        url,
        "--s3-endpoint",
        endpoint,
        "--s3-region",
        moto::REGION,
        &format!("--bbox={}", roi.bbox()),
        "--crs",
        "EPSG:3413",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// Run `geocube load … --create --json --quiet` on every ROI at once (one
/// process each, all started before any is waited for), into the cube at
/// `url`; their outputs, in ROI order.
fn load_at_once(fixtures: &FixtureServer, endpoint: &str, url: &str, rois: &[Roi]) -> Vec<Output> {
    let children: Vec<_> = rois
        .iter()
        .map(|roi| {
            let args = load_args(url, endpoint, roi, &["--create", "--json", "--quiet"]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            geocube(fixtures, &args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn geocube")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("geocube output"))
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}): {}\nstdout: {}",
        o.status,
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

/// A user mistake: non-zero exit, one `error:` sentence with every one of
/// `needles`, no panic or backtrace.
#[track_caller]
fn user_error(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    assert!(err.contains("error:"), "no `error:` in: {err}");
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks `{needle}`: {err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    eprintln!("as expected: {}", err.trim());
    err
}

/// COG requests per patch id (its `dem` and `datamask` files together).
fn cog_requests(server: &FixtureServer) -> BTreeMap<String, u64> {
    let counts = server.request_counts();
    world()
        .manifest
        .tiles
        .iter()
        .map(|t| {
            let n = [&t.dem_path, &t.datamask_path]
                .iter()
                .map(|p| counts.get(&format!("/{p}")).copied().unwrap_or(0))
                .sum();
            (t.dem_id.clone(), n)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Decode a single-band GeoTIFF.
fn read_tiff(path: &Path) -> tiff::decoder::DecodingResult {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tiff::decoder::Decoder::new(file)
        .expect("tiff")
        .read_image()
        .expect("pixels")
}

/// Read the ROI back from the cube offline (no download: every patch must
/// be there) and compare every pixel with the source.
fn assert_cube_holds_the_source(fixtures: &FixtureServer, endpoint: &str, url: &str, roi: &Roi) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tif = tmp.path().join("roi.tif");
    let out = geocube(
        fixtures,
        &load_args(url, endpoint, roi, &["--offline", "--quiet", "--out"])
            .iter()
            .map(String::as_str)
            .chain([tif.to_str().expect("utf-8")])
            .collect::<Vec<_>>(),
    )
    .output()
    .expect("run geocube");
    ok(&out, "the offline read-back");
    let (want_dem, want_mask) = source(roi);
    let tiff::decoder::DecodingResult::F32(dem) = read_tiff(&tif) else {
        panic!("dem is not float32")
    };
    let mask = match read_tiff(&tmp.path().join("roi_datamask.tif")) {
        tiff::decoder::DecodingResult::U8(m) => m,
        _ => panic!("datamask is not uint8"),
    };
    assert_eq!(dem.len(), want_dem.len(), "dem shape");
    let wrong = dem
        .iter()
        .zip(&want_dem)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(wrong, 0, "{wrong} dem pixels differ from the source");
    let wrong = mask
        .iter()
        .zip(&want_mask)
        .filter(|(a, b)| (**a != 0) != (**b != 0))
        .count();
    assert_eq!(wrong, 0, "{wrong} datamask pixels differ from the source");
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn eight_processes_fill_one_s3_cube_without_loss() {
    let Some(moto) = moto("eight_processes_fill_one_s3_cube_without_loss") else {
        return;
    };
    let endpoint = moto.endpoint();
    let fixtures = fixture_server();
    let rois = rois();
    let all = union(&rois);
    let wanted = wanted(&rois);
    assert_eq!(wanted.len(), 9, "the ROIs touch every tile");

    // One process loading everything: what one download of each patch costs.
    let url = s3_url("baseline");
    fixtures.reset_counts();
    let start = Instant::now();
    let args = load_args(&url, &endpoint, &all, &["--create", "--quiet"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(
        &geocube(&fixtures, &args).output().expect("run"),
        "the baseline load",
    );
    let single = start.elapsed();
    let baseline = cog_requests(&fixtures);
    assert_eq!(
        baseline.keys().cloned().collect::<BTreeSet<_>>(),
        wanted,
        "the baseline downloads every tile"
    );

    for run in 0..RUNS {
        moto.reset().expect("reset");
        moto.create_bucket(BUCKET).expect("bucket");
        let url = s3_url(&format!("run-{run}"));
        fixtures.reset_counts();
        let start = Instant::now();
        let outputs = load_at_once(&fixtures, &endpoint, &url, &rois);
        let elapsed = start.elapsed();

        // Every process succeeds and returns the source's pixels.
        let mut reported = 0;
        for (k, (o, roi)) in outputs.iter().zip(&rois).enumerate() {
            let text = ok(o, &format!("run {run}, process {k}"));
            let v: Value = serde_json::from_str(text.trim()).expect("one JSON object");
            let dem = &v["variables"]["dem"];
            let (count, min, max, mean) = stats(&source(roi).0);
            assert_eq!(dem["valid_count"], count, "run {run}, process {k}: {v}");
            assert_eq!(dem["min"].as_f64(), Some(min), "run {run}, process {k}");
            assert_eq!(dem["max"].as_f64(), Some(max), "run {run}, process {k}");
            let got = dem["mean"].as_f64().expect("mean");
            assert!(
                (got - mean).abs() <= 1e-6 * mean.abs().max(1.0),
                "run {run}, process {k}: mean {got} vs {mean}"
            );
            reported += v["patches"]["downloaded"].as_array().map_or(0, Vec::len);
        }

        // Downloads: COG requests per patch against the single process.
        let counts = cog_requests(&fixtures);
        let per_patch: BTreeMap<&String, f64> = baseline
            .iter()
            .map(|(id, base)| {
                (
                    id,
                    counts.get(id).copied().unwrap_or(0) as f64 / *base as f64,
                )
            })
            .collect();
        let total = counts.values().sum::<u64>() as f64 / baseline.values().sum::<u64>() as f64;
        eprintln!(
            "run {run}: {PROCESSES} processes in {:.1} s (one process, everything: {:.1} s); \
             COG requests per patch against one process: {total:.2} overall, {per_patch:?}; \
             downloads the processes reported: {reported} for {} patches",
            elapsed.as_secs_f64(),
            single.as_secs_f64(),
            wanted.len()
        );
        assert!(
            counts.keys().all(|id| wanted.contains(id)),
            "run {run}: a tile no ROI touches was requested: {counts:?}"
        );
        assert!(
            per_patch.values().all(|r| *r > 0.0),
            "run {run}: a patch was never downloaded: {per_patch:?}"
        );
        assert!(
            total <= MAX_DOWNLOADS_PER_PATCH,
            "run {run}: {total:.2} downloads per patch (at most {MAX_DOWNLOADS_PER_PATCH}): \
             {per_patch:?}"
        );

        // No id lost or recorded twice; no pixel lost.
        let ids = open_cube(&moto, &format!("run-{run}"))
            .loaded_patches()
            .expect("ids");
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "run {run}: an id recorded twice: {ids:?}"
        );
        assert_eq!(unique, wanted, "run {run}: the cube's ids");
        fixtures.reset_counts();
        assert_cube_holds_the_source(&fixtures, &endpoint, &url, &all);
        assert_eq!(
            fixtures.request_count("/"),
            0,
            "run {run}: the offline read-back made requests"
        );
        let verify = geocube(
            &fixtures,
            &[
                "verify",
                "--store",
                &url,
                "--s3-endpoint",
                &endpoint,
                "--s3-region",
                moto::REGION,
                "--check-source",
                "9",
            ],
        )
        .output()
        .expect("run verify");
        ok(&verify, &format!("run {run}: verify"));
        assert!(
            stderr(&verify).contains("consistent"),
            "run {run}: {}",
            stderr(&verify)
        );
        // The claims are gone once their patches are committed.
        let claims = moto
            .list_keys(BUCKET, &format!("run-{run}/{CLAIMS_PREFIX}/"))
            .expect("keys");
        assert!(
            claims.is_empty(),
            "run {run}: claims left behind: {claims:?}"
        );
    }
}

#[test]
fn bad_storage_input_gets_a_clear_error() {
    let Some(moto) = moto("bad_storage_input_gets_a_clear_error") else {
        return;
    };
    let endpoint = moto.endpoint();
    let fixtures = fixture_server();
    let roi = rois()[0];
    let load = |url: &str, endpoint: &str| {
        let args = load_args(url, endpoint, &roi, &["--create", "--quiet"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let start = Instant::now();
        let out = geocube(&fixtures, &args).output().expect("run geocube");
        (out, start.elapsed())
    };

    // An unknown bucket: named, and not created.
    let (out, _) = load("s3://no-such-bucket/cube", &endpoint);
    user_error(
        &out,
        &["s3://no-such-bucket/cube", "the bucket does not exist"],
    );
    assert!(
        moto.list_keys("no-such-bucket", "").is_err(),
        "the bucket was created"
    );

    // Wrong credentials: a moto whose IAM knows no access key.
    let strict = MotoServer::start_checking_credentials().expect("credential-checking moto");
    let (out, _) = load(&s3_url("cube"), &strict.endpoint());
    user_error(&out, &["access denied", "credentials", &strict.endpoint()]);
    drop(strict);

    // An endpoint that refuses connections: said at once, not after retries
    // of minutes.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let dead = format!("http://{refused}");
    let (out, took) = load(&s3_url("cube"), &dead);
    user_error(&out, &["the endpoint does not answer", &dead]);
    assert!(
        took < Duration::from_secs(60),
        "a refused endpoint took {took:?}"
    );

    // A prefix holding something that is not a cube: not written into, by
    // load --create nor by create.
    moto.put_object(BUCKET, "foreign/hello.txt", b"hello")
        .expect("put");
    let (out, _) = load(&s3_url("foreign"), &endpoint);
    user_error(&out, &["s3://cubes/foreign", "not a geocube", "hello.txt"]);
    let create = geocube(
        &fixtures,
        &[
            "create",
            DATASET,
            "--store",
            &s3_url("foreign"),
            "--s3-endpoint",
            &endpoint,
            "--s3-region",
            moto::REGION,
        ],
    )
    .output()
    .expect("run geocube");
    user_error(&create, &["not a geocube", "hello.txt"]);
    let status = geocube(
        &fixtures,
        &[
            "status",
            "--store",
            &s3_url("foreign"),
            "--s3-endpoint",
            &endpoint,
            "--s3-region",
            moto::REGION,
        ],
    )
    .output()
    .expect("run geocube");
    user_error(&status, &["s3://cubes/foreign"]);
    assert_eq!(
        moto.list_keys(BUCKET, "foreign/").expect("keys"),
        vec!["foreign/hello.txt".to_owned()],
        "something was written next to the foreign object"
    );

    // A malformed location.
    let (out, _) = load("s3://Not_A_Bucket/cube", &endpoint);
    user_error(&out, &["s3://Not_A_Bucket/cube", "bucket name"]);

    // Nothing of all this was downloaded.
    assert_eq!(
        fixtures.request_count("/mosaics/"),
        0,
        "{:?}",
        fixtures.request_counts()
    );
}
