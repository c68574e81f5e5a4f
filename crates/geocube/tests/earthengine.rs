//! The Earth Engine presets through the accessor, against the testkit's
//! loopback emulator: a real token endpoint checking RS256 JWTs, and a real
//! `computePixels` over synthetic collections whose truth the tests compare
//! with at every pixel centre.

use std::sync::Arc;
use std::time::{Duration, Instant};

use geocube::{Accessor, LoadOptions, Loaded, Source};
use geocube_core::{Aoi, BoundingBox, Crs, CubeStorage, Toi};
use geocube_sources::datasets::earthengine::{EeDataset, TcTrendYear};
use geocube_sources::ee::{EarthEngineSource, EeConfig, EeCredentials, ServiceAccountKey};
use geocube_testkit::ee::DateRange;
use geocube_testkit::ee::truth::{self, EMBEDDING};
use geocube_testkit::ee::{EeEmulator, EeOptions, Stall};

fn emulator(options: EeOptions) -> EeEmulator {
    EeEmulator::start(options).expect("start the Earth Engine emulator")
}

/// A client of `emu` with the test key, fast retries and short deadlines.
fn config(emu: &EeEmulator) -> EeConfig {
    let key = ServiceAccountKey::from_json(&emu.key_json()).expect("the emulator's key");
    let mut c = EeConfig::new(EeCredentials::ServiceAccount(Box::new(key)));
    c.url = emu.url();
    c.retry = geocube_core::RetryPolicy {
        max_tries: 8,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    };
    c.http.read_timeout = Duration::from_secs(20);
    c
}

fn accessor(
    dir: &std::path::Path,
    dataset: EeDataset,
    config: EeConfig,
) -> (Accessor, Arc<EarthEngineSource>) {
    let source = Arc::new(EarthEngineSource::new(dataset, config).expect("source"));
    let acc = Accessor::builder(
        Arc::clone(&source) as Arc<dyn Source>,
        CubeStorage::local(dir.join("cube")),
    )
    .build()
    .expect("accessor");
    (acc, source)
}

fn lonlat(b: BoundingBox) -> Aoi {
    Aoi::bbox(b, Crs::wgs84())
}

/// AlphaEarth's spec with small chunks: the same grid, bands, time axis
/// and id scheme; a real chunk is 3.3 GB.
fn small_alphaearth(chunk: usize) -> EeDataset {
    let mut d = EeDataset::alphaearth();
    d.spec.chunk_size = chunk;
    d
}

/// Every computePixels request the emulator answered, grouped by the
/// chunk its grid lies in (its top-left pixel's chunk).
fn requests_by_chunk(
    emu: &EeEmulator,
    source: &EarthEngineSource,
) -> std::collections::BTreeMap<(usize, usize), usize> {
    let g = source.spec().geobox.affine();
    let chunk = source.spec().chunk_size;
    let mut out = std::collections::BTreeMap::new();
    for r in emu.requests().iter().filter(|r| r.status == 200) {
        let a = r.affine.expect("an affine transform");
        let col = ((a[2] - g.x0) / g.res_x).round() as usize;
        let row = ((a[5] - g.y0) / g.res_y).round() as usize;
        *out.entry((row / chunk, col / chunk)).or_insert(0) += 1;
    }
    out
}

/// Values of `band` at time step `t` equal the truth at every pixel centre
/// (NaN where the mosaic is masked).
fn assert_alphaearth_truth(loaded: &Loaded, band: &str, t: usize, year: i32) {
    let v = loaded.dataset.variable(band).expect("band");
    let a = v.data.as_array::<f32>().expect("float32");
    let (xs, ys) = (loaded.dataset.xs(), loaded.dataset.ys());
    let mut masked = 0;
    for (r, &y) in ys.iter().enumerate() {
        for (c, &x) in xs.iter().enumerate() {
            let got = a[[t, r, c]];
            match truth::value(EMBEDDING, band, Some(DateRange::year(year)), x, y) {
                Some(want) => assert_eq!(got, want as f32, "{band} {year} at ({x}, {y})"),
                None => {
                    masked += 1;
                    assert!(
                        got.is_nan(),
                        "{band} {year} at ({x}, {y}) is masked, got {got}"
                    );
                }
            }
        }
    }
    let _ = masked;
}

#[test]
fn tctrend_cold_and_warm_loads_equal_the_emulators_rasters() {
    let emu = emulator(EeOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let (acc, source) = accessor(
        dir.path(),
        EeDataset::tctrend(TcTrendYear::Y2024),
        config(&emu),
    );
    // Inside chunk (40, 196); 0.06° × 0.04°: 223 × 149 px.
    let aoi = lonlat(BoundingBox::new(10.20, 50.30, 10.26, 50.34));
    let cold = acc
        .load(&aoi, &Toi::None, LoadOptions::default().create(true))
        .expect("cold load");
    assert_eq!(cold.report.patches, ["40-196"]);
    assert_eq!(cold.report.submit.downloaded, ["40-196"]);
    // Requests as planned, each within the limits the emulator enforces.
    let planned = source.planned_requests("40-196").expect("plan");
    assert_eq!(
        planned.len(),
        4,
        "3600² px of 3 float32 bands and a mask byte: 4 strips"
    );
    assert_eq!(requests_by_chunk(&emu, &source), [((40, 196), 4)].into());
    let counts = emu.counts();
    assert_eq!(
        (counts.invalid, counts.unauthenticated, counts.tokens_minted),
        (0, 0, 1)
    );
    for r in emu.requests() {
        assert_eq!(r.crs.as_deref(), Some("EPSG:4326"));
        assert_eq!(r.file_format.as_deref(), Some("NPY"));
        assert_eq!(
            r.collection.as_deref(),
            Some("projects/ee-ingmarnitze/assets/TCTrend_SR_2005-2024_TCVIS")
        );
        let bytes = u64::from(r.width.unwrap_or(0)) * u64::from(r.height.unwrap_or(0)) * 3 * 4;
        assert!(bytes <= 48 << 20, "{bytes} bytes asked for");
    }
    // Valid pixels are the truth; masked ones a valid neighbour's value
    // (the nearest, which ee::fill's own tests check against the reference).
    let id = "projects/ee-ingmarnitze/assets/TCTrend_SR_2005-2024_TCVIS";
    let (xs, ys) = (cold.dataset.xs(), cold.dataset.ys());
    let mut filled = 0;
    for band in ["TCB_slope", "TCG_slope", "TCW_slope"] {
        let a = cold
            .dataset
            .variable(band)
            .expect(band)
            .data
            .as_array::<u8>()
            .expect("u8");
        for (r, &y) in ys.iter().enumerate() {
            for (c, &x) in xs.iter().enumerate() {
                let got = a[[r, c]];
                match truth::value(id, band, None, x, y) {
                    Some(want) => assert_eq!(f64::from(got), want, "{band} at ({x}, {y})"),
                    None => {
                        filled += 1;
                        let res = source.spec().geobox.resolution().0;
                        let near = (1..6).flat_map(|d| {
                            let d = f64::from(d) * res;
                            [
                                (x - d, y),
                                (x + d, y),
                                (x, y - d),
                                (x, y + d),
                                (x - d, y - d),
                                (x + d, y + d),
                                (x - d, y + d),
                                (x + d, y - d),
                            ]
                        });
                        assert!(
                            near.filter_map(|(x, y)| truth::value(id, band, None, x, y))
                                .any(|v| v == f64::from(got)),
                            "{band} at ({x}, {y}): filled with {got}, no neighbour has it"
                        );
                    }
                }
            }
        }
    }
    assert!(filled > 0, "the region should hold some masked pixels");
    // Warm: nothing asked.
    emu.reset();
    let warm = acc
        .load(&aoi, &Toi::None, LoadOptions::default())
        .expect("warm load");
    assert!(warm.report.submit.downloaded.is_empty());
    assert_eq!(emu.counts().compute_requests, 0);
    assert_eq!(warm.dataset, cold.dataset);
    assert_eq!(acc.loaded_patches().expect("ids"), ["40-196"]);
    // Across the boundary with chunk 41-196 (50.22274° N): the clip is the
    // chunk exactly (planar edges), no row lost on either side.
    let edge = acc
        .load(
            &lonlat(BoundingBox::new(10.20, 50.215, 10.21, 50.23)),
            &Toi::None,
            LoadOptions::default(),
        )
        .expect("edge load");
    assert_eq!(edge.report.submit.downloaded, ["41-196"]);
    let (xs, ys) = (edge.dataset.xs(), edge.dataset.ys());
    let a = edge
        .dataset
        .variable("TCG_slope")
        .expect("band")
        .data
        .as_array::<u8>()
        .expect("u8");
    let mut checked = 0;
    for (r, &y) in ys.iter().enumerate() {
        for (c, &x) in xs.iter().enumerate() {
            if let Some(want) = truth::value(id, "TCG_slope", None, x, y) {
                assert_eq!(f64::from(a[[r, c]]), want, "TCG_slope at ({x}, {y})");
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn alphaearth_temporal_loads_follow_the_time_of_interest() {
    let emu = emulator(EeOptions {
        max_bytes: 8 << 20,
        ..EeOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&emu);
    c.limits.max_bytes = 8 << 20;
    let (acc, source) = accessor(dir.path(), small_alphaearth(256), c);
    // Across a corner of four 256² chunks (row 2175 starts at 39.98186° N,
    // column 7697 at 2.99398° W): chunk edges are exact.
    let aoi = lonlat(BoundingBox::new(-3.01, 39.975, -2.99, 39.99));
    let toi = Toi::parse("2019-01-01/2020-06-01").expect("toi");
    let loaded = acc
        .load(&aoi, &toi, LoadOptions::default().create(true))
        .expect("load");
    assert_eq!(loaded.dataset.time.as_ref().map(Vec::len), Some(2));
    // Ids are time-row-col with the step's index (2019 is step 2).
    assert!(
        loaded
            .report
            .patches
            .iter()
            .all(|p| p.starts_with("2-") || p.starts_with("3-")),
        "{:?}",
        loaded.report.patches
    );
    for (t, year) in [(0, 2019), (1, 2020)] {
        for band in ["A00", "A17", "A63"] {
            assert_alphaearth_truth(&loaded, band, t, year);
        }
    }
    // 256² px × (64 × 4 + 1) B = 16.8 MB > 8 MiB: three strips per chunk and year.
    let n = loaded.report.submit.downloaded.len();
    let planned: usize = loaded
        .report
        .submit
        .downloaded
        .iter()
        .map(|id| source.planned_requests(id).expect("plan").len())
        .sum();
    assert_eq!(planned, 3 * n);
    let ok: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(ok.len(), planned);
    for r in &ok {
        let range = r.date_range.expect("a date filter");
        assert!(
            range.start_ms == truth_year_ms(2019) || range.start_ms == truth_year_ms(2020),
            "{range:?}"
        );
        assert_eq!(r.bands.len(), 64);
    }
    assert_eq!(emu.counts().invalid, 0);
    // Another year later: only its chunks are fetched.
    emu.reset();
    let more = acc
        .load(
            &aoi,
            &Toi::parse("2024-01-01").expect("toi"),
            LoadOptions::default(),
        )
        .expect("load 2024");
    assert_eq!(more.report.submit.downloaded.len(), n / 2);
    assert_alphaearth_truth(&more, "A05", 0, 2024);
}

/// The same pixels, NaN included (bit for bit).
fn assert_same_bits(a: &Loaded, b: &Loaded) {
    assert_eq!(a.dataset.geobox, b.dataset.geobox);
    assert_eq!(a.dataset.time, b.dataset.time);
    assert_eq!(a.dataset.variables.len(), b.dataset.variables.len());
    for (name, va) in &a.dataset.variables {
        let x = va.data.as_array::<f32>().expect("f32");
        let y = b
            .dataset
            .variable(name)
            .expect(name)
            .data
            .as_array::<f32>()
            .expect("f32");
        assert!(
            x.iter()
                .zip(y.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits()),
            "{name} differs"
        );
    }
}

fn truth_year_ms(year: i32) -> i64 {
    DateRange::year(year).start_ms
}

#[test]
fn a_storm_of_429s_5xx_and_truncated_replies_is_survived_exactly() {
    let emu = emulator(EeOptions {
        seed: 7,
        rate_limit_fraction: 0.3,
        fail_fraction: 0.15,
        truncate_fraction: 0.15,
        max_bytes: 2 << 20,
        ..EeOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&emu);
    c.limits.max_bytes = 2 << 20;
    c.retry.max_tries = 30;
    let (acc, _source) = accessor(dir.path(), small_alphaearth(128), c);
    let aoi = lonlat(BoundingBox::new(20.0, -10.02, 20.02, -10.0));
    let toi = Toi::parse("2021-01-01").expect("toi");
    let loaded = acc
        .load(&aoi, &toi, LoadOptions::default().create(true))
        .expect("load through the faults");
    let counts = emu.counts();
    assert!(
        counts.rate_limited > 0 && counts.failed > 0 && counts.truncated > 0,
        "{counts:?}"
    );
    for band in ["A00", "A31", "A63"] {
        assert_alphaearth_truth(&loaded, band, 0, 2021);
    }
    // Every patch whole: what the cube holds (read back cold) is the truth.
    let ids = acc.loaded_patches().expect("ids");
    assert_eq!(ids.len(), loaded.report.patches.len());
    let reread = Accessor::builder(
        acc.source().clone(),
        CubeStorage::local(dir.path().join("cube")),
    )
    .offline(true)
    .build()
    .expect("offline accessor")
    .load(&aoi, &toi, LoadOptions::default())
    .expect("offline load");
    assert_same_bits(&reread, &loaded);
}

#[test]
fn a_stalled_reply_times_out_with_a_clear_error_and_writes_nothing() {
    let emu = emulator(EeOptions {
        stall: Stall {
            fraction: 1.0,
            delay: None,
        },
        ..EeOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&emu);
    c.http.read_timeout = Duration::from_secs(1);
    let (acc, _) = accessor(dir.path(), small_alphaearth(64), c);
    let aoi = lonlat(BoundingBox::new(5.0, 5.0, 5.001, 5.001));
    let t0 = Instant::now();
    let err = acc
        .load(
            &aoi,
            &Toi::parse("2018-01-01").expect("toi"),
            LoadOptions::default().create(true),
        )
        .expect_err("a stalled server");
    let msg = format!("{err:#}");
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t0.elapsed()
    );
    assert!(
        msg.contains("computePixels") || msg.contains("image:computePixels"),
        "{msg}"
    );
    assert!(
        msg.contains("no response headers") && msg.contains("within 1 s"),
        "{msg}"
    );
    assert!(acc.loaded_patches().expect("ids").is_empty());
}

#[test]
fn refused_credentials_and_requests_past_the_limits_are_final() {
    let emu = emulator(EeOptions {
        max_bytes: 1 << 20,
        ..EeOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    // A token the emulator never minted: 401, not retried.
    let mut c = config(&emu);
    c.credentials = EeCredentials::AccessToken("ya29.forged".into());
    c.project = Some("p".into());
    let (acc, _) = accessor(dir.path(), small_alphaearth(64), c);
    let aoi = lonlat(BoundingBox::new(5.0, 5.0, 5.001, 5.001));
    let toi = Toi::parse("2018-01-01").expect("toi");
    let msg = format!(
        "{:#}",
        acc.load(&aoi, &toi, LoadOptions::default().create(true))
            .expect_err("forged token")
    );
    assert!(msg.contains("refused the credentials"), "{msg}");
    // A key whose account the token endpoint does not know.
    let mut key: serde_json::Value = serde_json::from_str(&emu.key_json()).expect("json");
    key["client_email"] = "someone@else.iam.gserviceaccount.com".into();
    let mut c = config(&emu);
    c.credentials = EeCredentials::ServiceAccount(Box::new(
        ServiceAccountKey::from_json(&key.to_string()).expect("key"),
    ));
    let (acc, _) = accessor(dir.path(), small_alphaearth(64), c);
    let msg = format!(
        "{:#}",
        acc.load(&aoi, &toi, LoadOptions::default())
            .expect_err("refused key")
    );
    assert!(
        msg.contains("refused the key") && msg.contains("invalid_grant"),
        "{msg}"
    );
    // A client allowed more than the server: 400 INVALID_ARGUMENT, asked once.
    emu.reset();
    let mut c = config(&emu);
    c.limits.max_bytes = 64 << 20;
    let (acc, _) = accessor(dir.path(), small_alphaearth(256), c);
    let msg = format!(
        "{:#}",
        acc.load(&aoi, &toi, LoadOptions::default())
            .expect_err("too large")
    );
    assert!(msg.contains("INVALID_ARGUMENT"), "{msg}");
    assert_eq!(emu.counts().compute_requests, 1);
    assert!(acc.loaded_patches().expect("ids").is_empty());
}

#[test]
fn the_request_budget_keeps_under_the_concurrency_quota() {
    let emu = emulator(EeOptions {
        max_concurrent: 3,
        latency: Duration::from_millis(150),
        max_bytes: 1 << 20,
        ..EeOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&emu);
    c.max_in_flight = 3;
    c.limits.max_bytes = 1 << 20;
    // A project of its own: the budget is per process, root and project.
    c.project = Some("budget-test".into());
    let (acc, _) = accessor(dir.path(), small_alphaearth(128), c);
    let aoi = lonlat(BoundingBox::new(30.0, 30.0, 30.03, 30.02));
    acc.load(
        &aoi,
        &Toi::parse("2022-01-01").expect("toi"),
        LoadOptions::default().create(true),
    )
    .expect("load");
    let counts = emu.counts();
    assert!(counts.served >= 8, "{counts:?}");
    assert_eq!(counts.over_concurrency, 0, "{counts:?}");
    assert!(counts.max_in_flight <= 3, "{counts:?}");
}

#[test]
fn short_lived_tokens_are_renewed_before_they_expire() {
    let emu = emulator(EeOptions {
        token_lifetime: Duration::from_secs(2),
        ..EeOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let (acc, _) = accessor(dir.path(), small_alphaearth(64), config(&emu));
    let toi = Toi::parse("2017-01-01").expect("toi");
    acc.load(
        &lonlat(BoundingBox::new(1.0, 1.0, 1.001, 1.001)),
        &toi,
        LoadOptions::default().create(true),
    )
    .expect("first");
    std::thread::sleep(Duration::from_millis(2200));
    acc.load(
        &lonlat(BoundingBox::new(2.0, 1.0, 2.001, 1.001)),
        &toi,
        LoadOptions::default(),
    )
    .expect("second");
    let counts = emu.counts();
    assert_eq!(counts.tokens_minted, 2, "{counts:?}");
    assert_eq!(counts.unauthenticated, 0, "{counts:?}");
}

#[test]
fn large_chunks_stream_in_band_groups_and_stay_exact() {
    let emu = emulator(EeOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let source =
        Arc::new(EarthEngineSource::new(small_alphaearth(128), config(&emu)).expect("source"));
    // 128² px × 64 float32 bands = 4 MiB a chunk (64 KiB a band); pieces
    // of at most 1 MiB: four groups of 16 bands, each over the whole chunk.
    let acc = Accessor::builder(
        Arc::clone(&source) as Arc<dyn Source>,
        CubeStorage::local(dir.path().join("cube")),
    )
    .config(geocube::BackendConfig::default().whole_patch_bytes(1 << 20))
    .build()
    .expect("accessor");
    let aoi = lonlat(BoundingBox::new(12.0, -33.0, 12.012, -32.99));
    let toi = Toi::parse("2023-01-01").expect("toi");
    let loaded = acc
        .load(&aoi, &toi, LoadOptions::default().create(true))
        .expect("load");
    let chunks = loaded.report.submit.downloaded.len();
    assert!(chunks >= 2, "{:?}", loaded.report);
    // One request per group of bands and chunk (each group fits one request).
    let ok = emu
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(ok, 4 * chunks);
    for band in ["A00", "A15", "A16", "A47", "A63"] {
        assert_alphaearth_truth(&loaded, band, 0, 2023);
    }
}
