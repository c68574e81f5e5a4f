//! Fuzz targets of what servers send to geocube-sources: TIFF/COG headers,
//! directories and tiles read window by window, GeoKeys and georeferencing
//! tags, STAC items and search pages (from a loopback server), the
//! GeoParquet mosaic index and its WKB footprints.
//!
//! Each target mutates valid seeds (the COG writer's files, GDAL-written
//! files in `tests/data/fuzz-seeds/`, the testkit's index, hand-written
//! items) and checks, through `geocube_testkit::fuzz::run`, that the public
//! entry point returns `Ok` or a typed error, never panics (not even a
//! panic the reader catches), stays within its allocation budget and its
//! time. Short by default; `cargo xtask fuzz` runs them long. The failures
//! they found are the regression tests at the end, each with its cause.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use geocube_core::{Aoi, BoundingBox, Crs, PatchRef, RetryPolicy, Toi, Window};
use geocube_geotiff::{CogWriter, CrsKind, Sample};
use geocube_sources::cog::{Cog, CogInfo, MemoryByteSource};
use geocube_sources::datasets::arcticdem::{Resolution, cube_spec};
use geocube_sources::geotiff::{self, RasterType};
use geocube_sources::http::HttpConfig;
use geocube_sources::mosaic_index::MosaicIndex;
use geocube_sources::{Error, StacItemUrl, StacItems, StacSource, wkb};
use geocube_testkit::fuzz::alloc::{CountingAlloc, measure};
use geocube_testkit::fuzz::bytes::{At, ByteMutation, boundary_u64, byte_mutations, mutate};
use geocube_testkit::fuzz::json::{json_edits, strings};
use geocube_testkit::fuzz::tiff::{TiffMutation, mutate_tiff, tiff_mutations};
use geocube_testkit::fuzz::{self, Budget};
use geocube_testkit::geoparquet::{IndexRecord, wkb_polygon, write_index};
use proptest::prelude::*;
use serde_json::{Value, json};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------- TIFF

/// A COG of the writer: `w × h` samples of a smooth ramp.
fn writer_cog<T: Sample>(
    w: u32,
    h: u32,
    block: u32,
    overviews: bool,
    f: impl Fn(usize) -> T,
) -> Vec<u8> {
    let data: Vec<T> = (0..(w * h) as usize).map(f).collect();
    CogWriter::new(w, h)
        .geotransform([-1_584_000.0, 32.0, 0.0, 1_584_000.0, 0.0, -32.0])
        .epsg(3413, CrsKind::Projected)
        .block_size(block)
        .overviews(overviews)
        .to_vec(&data)
        .unwrap()
}

/// The TIFF seeds: the writer's layouts (float and integer types, edge
/// tiles, overviews, nodata) and GDAL's (strips, LZW, big-endian, BigTIFF,
/// ZSTD, float64, PixelIsPoint, EPSG:4326).
fn tiff_seeds() -> &'static [(&'static str, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let ramp = |i: usize| (i % 251) as f32 * 0.5 - 20.0;
        vec![
            (
                "writer-f32-nodata-overviews",
                CogWriter::new(40, 30)
                    .geotransform([-1_584_000.0, 32.0, 0.0, 1_584_000.0, 0.0, -32.0])
                    .epsg(3413, CrsKind::Projected)
                    .block_size(16)
                    .nodata(-9999.0)
                    .to_vec(
                        &(0..1200)
                            .map(|i| if i % 37 == 0 { -9999.0 } else { ramp(i) })
                            .collect::<Vec<f32>>(),
                    )
                    .unwrap(),
            ),
            (
                "writer-u8-overviews",
                writer_cog(33, 17, 16, true, |i| (i % 2) as u8),
            ),
            (
                "writer-i16",
                writer_cog(20, 20, 16, false, |i| i as i16 - 200),
            ),
            (
                "writer-u16",
                writer_cog(17, 49, 16, false, |i| (i * 7) as u16),
            ),
            (
                "writer-i32",
                writer_cog(16, 16, 16, false, |i| i as i32 * -1000),
            ),
            (
                "writer-f64-geographic",
                CogWriter::new(3, 2)
                    .geotransform([10.0, 0.1, 0.0, 70.0, 0.0, -0.1])
                    .epsg(4326, CrsKind::Geographic)
                    .block_size(16)
                    .to_vec(&[1.0f64, 2.0, f64::NAN, 4.0, 5.0, 6.0])
                    .unwrap(),
            ),
            (
                "gdal-strips-lzw-bigendian-int16",
                include_bytes!("data/fuzz-seeds/gdal-strips-lzw-bigendian-int16.tif").to_vec(),
            ),
            (
                "gdal-bigtiff-tiled-zstd-float32",
                include_bytes!("data/fuzz-seeds/gdal-bigtiff-tiled-zstd-float32.tif").to_vec(),
            ),
            (
                "gdal-cog-deflate-float32",
                include_bytes!("data/fuzz-seeds/gdal-cog-deflate-float32.tif").to_vec(),
            ),
            (
                "gdal-strips-raw-pixelispoint-float64",
                include_bytes!("data/fuzz-seeds/gdal-strips-raw-pixelispoint-float64.tif").to_vec(),
            ),
        ]
    })
}

/// Windows of at most 64×64 at the origin and at the far corner (edge
/// chunks, partial tiles): the caller's allocation stays small whatever
/// size a mutated header declares.
fn windows(info: &CogInfo) -> Vec<Window> {
    let (h, w) = (info.height.min(64), info.width.min(64));
    vec![
        Window::new(0, 0, h, w),
        Window::new(info.height - h, info.width - w, h, w),
    ]
}

/// Open `bytes` as a COG and read windows, then list its overviews and
/// read windows of the first few: `Ok` or [`Error::Tiff`] (or a core error
/// for an unusable CRS) at every step. The label says how far the case
/// got.
fn open_and_read(bytes: Vec<u8>, block_size: u64) -> Result<&'static str, String> {
    let src = Arc::new(MemoryByteSource::new("fuzz.tif", bytes));
    let mut cog = match Cog::open_with_block_size(src, block_size) {
        Ok(c) => c,
        Err(Error::Tiff { .. }) => return Ok("refused-at-open"),
        Err(e) => return Err(format!("open: not a TIFF error: {e:?}")),
    };
    let info = cog.info().clone();
    match info.geobox("fuzz.tif") {
        Ok(_) | Err(Error::Tiff { .. } | Error::Core(_)) => {}
        Err(e) => return Err(format!("geobox: unexpected error {e:?}")),
    }
    let mut label = read_windows(&mut cog, "windows-read", "window-refused")?;
    let levels = match cog.overviews() {
        Ok(o) => o.len(),
        Err(Error::Tiff { .. }) => return Ok("overviews-refused"),
        Err(e) => return Err(format!("overviews: not a TIFF error: {e:?}")),
    };
    // Three levels reach every directory of the seeds' chains but for a
    // mutation's copies; more would only repeat them.
    for level in 0..levels.min(3) {
        match cog.open_overview(level) {
            Ok(mut ov) => {
                if ov.info().dtype != info.dtype
                    || ov.info().nodata.map(f64::to_bits) != info.nodata.map(f64::to_bits)
                {
                    return Err(format!(
                        "overview {level}: {:?} unlike the full image's {info:?}",
                        ov.info()
                    ));
                }
                label = read_windows(&mut ov, "overview-windows-read", "overview-window-refused")?;
            }
            Err(Error::Tiff { .. }) => label = "overview-refused",
            Err(e) => return Err(format!("open_overview({level}): not a TIFF error: {e:?}")),
        }
    }
    Ok(label)
}

/// Read [`windows`] of `cog`: `read` when all are read, `refused` when one
/// is refused with a TIFF error.
fn read_windows(
    cog: &mut Cog,
    read: &'static str,
    refused: &'static str,
) -> Result<&'static str, String> {
    let info = cog.info().clone();
    let mut label = read;
    for w in windows(&info) {
        match cog.read_window(w) {
            Ok(a) if a.shape() == [w.height, w.width] && a.dtype() == info.dtype => {}
            Ok(a) => {
                return Err(format!(
                    "window {w:?} read as {:?} {:?}",
                    a.shape(),
                    a.dtype()
                ));
            }
            Err(Error::Tiff { .. }) => label = refused,
            Err(e) => return Err(format!("read_window: not a TIFF error: {e:?}")),
        }
    }
    Ok(label)
}

fn block_size() -> BoxedStrategy<u64> {
    // Small blocks make headers and directories straddle block edges.
    prop_oneof![
        Just(4096u64),
        Just(geocube_sources::cog::DEFAULT_BLOCK_SIZE)
    ]
    .boxed()
}

/// The bound of the TIFF targets: the decoder may allocate one decoded
/// chunk of the size a header declares, which geocube caps at 64 MiB (a
/// 4096² float32 tile, `cog/ifd.rs`), and a tag's values, which must lie
/// inside the file; so no single allocation exceeds 64 MiB, and the peak
/// allows that chunk beside the file, its tags and the caller's window.
const TIFF_BUDGET: Budget = Budget {
    largest: 64 << 20,
    peak: 96 << 20,
    time: Duration::from_secs(10),
};

#[test]
fn seeds_are_valid_tiffs_read_whole() {
    for (name, bytes) in tiff_seeds() {
        let src = Arc::new(MemoryByteSource::new(*name, bytes.clone()));
        let mut cog = Cog::open(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(cog.info().geobox(name).is_ok(), "{name}");
        let all = cog.read_all().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(all.shape(), [cog.info().height, cog.info().width]);
        let levels = cog
            .overviews()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .len();
        for level in 0..levels {
            let mut ov = cog
                .open_overview(level)
                .unwrap_or_else(|e| panic!("{name} overview {level}: {e}"));
            ov.read_all()
                .unwrap_or_else(|e| panic!("{name} overview {level}: {e}"));
        }
    }
}

#[test]
fn fuzz_tiff_bytes() {
    let n = tiff_seeds().len();
    fuzz::run(
        "tiff-bytes",
        384,
        TIFF_BUDGET,
        (0..n, byte_mutations(4), block_size()),
        |(seed, muts, _)| mutate(&tiff_seeds()[*seed].1, muts),
        |bytes| open_and_read(bytes, 4096),
    );
}

#[test]
fn fuzz_tiff_structure() {
    let n = tiff_seeds().len();
    fuzz::run(
        "tiff-structure",
        512,
        TIFF_BUDGET,
        (0..n, tiff_mutations(4), block_size()),
        |(seed, muts, bs)| (mutate_tiff(&tiff_seeds()[*seed].1, muts), *bs),
        |(bytes, bs)| open_and_read(bytes, bs),
    );
}

/// GeoKeyDirectories: mostly valid ones with entries mutated, some
/// arbitrary; each key's four shorts take boundary values.
fn geokey_dir() -> BoxedStrategy<Vec<u16>> {
    let valid: Vec<u16> = vec![
        1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 2048, 0, 1, 4326, 3072, 0, 1, 3413,
    ];
    prop_oneof![
        3 => proptest::collection::vec((any::<prop::sample::Index>(), boundary_u64()), 1..6)
            .prop_map(move |edits| {
                let mut d = valid.clone();
                for (i, v) in edits {
                    let at = i.index(d.len());
                    d[at] = v as u16;
                }
                d
            }),
        1 => proptest::collection::vec(any::<u16>(), 0..40),
    ]
    .boxed()
}

fn maybe_f64s(max: usize) -> BoxedStrategy<Option<Vec<f64>>> {
    let special = prop_oneof![
        4 => -1e7..1e7f64,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-1e308),
        1 => Just(f64::MIN_POSITIVE),
        1 => any::<f64>(),
    ];
    proptest::option::of(proptest::collection::vec(special, 0..max)).boxed()
}

#[test]
fn fuzz_geokeys_and_georeferencing() {
    fuzz::run(
        "geotiff-keys",
        1024,
        Budget::DEFAULT,
        (
            geokey_dir(),
            maybe_f64s(8),
            maybe_f64s(14),
            maybe_f64s(18),
            any::<bool>(),
            ".{0,40}",
        ),
        Clone::clone,
        |(dir, scale, tie, matrix, point, nodata)| {
            if let Ok(keys) = geotiff::parse_geo_keys(&dir) {
                let _ = keys.epsg();
            }
            let raster = if point {
                RasterType::PixelIsPoint
            } else {
                RasterType::PixelIsArea
            };
            if let Ok(a) = geotiff::affine_from_tags(
                scale.as_deref(),
                tie.as_deref(),
                matrix.as_deref(),
                raster,
            ) && !(a.is_finite() && a.is_north_up())
            {
                // The documented guarantee the COG reader relies on.
                return Err(format!("accepted an unusable transform {a:?}"));
            }
            let _ = geotiff::parse_gdal_nodata(&nodata);
            Ok("checked")
        },
    );
}

// ---------------------------------------------------------------- WKB

fn wkb_seeds() -> Vec<Vec<u8>> {
    let ring = |x: f64| vec![(x, 0.0), (x + 1.0, 0.0), (x + 1.0, 1.0), (x, 1.0), (x, 0.0)];
    let mut multi = vec![1u8];
    multi.extend(6u32.to_le_bytes());
    multi.extend(2u32.to_le_bytes());
    multi.extend(wkb_polygon(&ring(0.0)));
    multi.extend(wkb_polygon(&ring(5.0)));
    // A big-endian EWKB polygon with SRID and Z: every header branch.
    let mut ewkb = vec![0u8];
    ewkb.extend((3u32 | 0x8000_0000 | 0x2000_0000).to_be_bytes());
    ewkb.extend(3413u32.to_be_bytes());
    ewkb.extend(1u32.to_be_bytes());
    ewkb.extend(5u32.to_be_bytes());
    for (x, y) in ring(2.0) {
        for v in [x, y, 7.0] {
            ewkb.extend(v.to_be_bytes());
        }
    }
    vec![wkb_polygon(&ring(0.0)), multi, ewkb]
}

#[test]
fn fuzz_wkb() {
    let seeds = wkb_seeds();
    fuzz::run(
        "wkb",
        1024,
        Budget::DEFAULT,
        (0..seeds.len(), byte_mutations(4)),
        |(i, muts)| mutate(&seeds[*i], muts),
        |bytes| {
            let (parsed, stats) = measure(|| wkb::parse_polygonal(&bytes));
            // Every count is checked against the bytes left before it
            // allocates: a point costs 16 bytes read and 16 kept, a ring
            // 4 read and 24 kept, a polygon 9 read and 48 kept, so what
            // is kept is within a small multiple of the input.
            let cap = 8 * bytes.len() + 1024;
            if stats.peak > cap {
                return Err(format!(
                    "{} bytes of WKB kept {} bytes live",
                    bytes.len(),
                    stats.peak
                ));
            }
            let Ok(g) = parsed else {
                return Ok("refused");
            };
            use geo::CoordsIter;
            if g.coords_iter()
                .any(|c| !c.x.is_finite() || !c.y.is_finite())
            {
                return Err("accepted a non-finite coordinate".into());
            }
            Ok("parsed")
        },
    );
}

// ---------------------------------------------------------- GeoParquet

fn index_seed() -> &'static [u8] {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx.parquet");
        let rec = |id: &str, x: f64| IndexRecord {
            dem_id: id.into(),
            tile: id.into(),
            gsd: 32.0,
            ring: vec![
                (x, 0.0),
                (x + 10.0, 0.0),
                (x + 10.0, 10.0),
                (x, 10.0),
                (x, 0.0),
            ],
        };
        write_index(&path, &[rec("a", 0.0), rec("b", 10.0), rec("c", 100.0)]).unwrap();
        std::fs::read(&path).unwrap()
    })
}

/// Mutations aimed at the footer as often as anywhere: the Thrift file
/// metadata (schema, row groups, column chunk offsets and sizes, key/value
/// metadata) and its length sit in the last few hundred bytes.
fn parquet_mutations() -> BoxedStrategy<Vec<ByteMutation>> {
    let tail = (
        0xD000_0000u32..=u32::MAX,
        boundary_u64(),
        prop::sample::select(vec![1u8, 2, 4, 8]),
        any::<bool>(),
    )
        .prop_map(|(at, value, width, little)| ByteMutation::SetWord {
            at: At(at),
            value,
            width,
            little,
        });
    let tail_byte = (0xD000_0000u32..=u32::MAX, any::<u8>())
        .prop_map(|(at, value)| ByteMutation::SetByte { at: At(at), value });
    proptest::collection::vec(
        prop_oneof![
            2 => geocube_testkit::fuzz::bytes::byte_mutation(),
            1 => tail,
            1 => tail_byte,
        ],
        1..=4,
    )
    .boxed()
}

#[test]
fn fuzz_geoparquet_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.parquet");
    // The parquet crate asserts on some corrupt pages; MosaicIndex::read
    // contains those panics (they are counted in the report).
    fuzz::Fuzz::new("geoparquet-index", 192)
        .contained_panics_in(&["parquet"])
        .run(
            parquet_mutations(),
            |muts| {
                let bytes = mutate(index_seed(), muts);
                std::fs::write(&path, &bytes).unwrap();
                path.clone()
            },
            |path| match MosaicIndex::read(&path, "dem_id") {
                Ok(idx) => {
                    for e in idx.entries() {
                        use geo::CoordsIter;
                        if e.footprint
                            .coords_iter()
                            .any(|c| !c.x.is_finite() || !c.y.is_finite())
                        {
                            return Err(format!("tile {} has a non-finite footprint", e.id));
                        }
                    }
                    Ok("read")
                }
                Err(Error::Index { .. }) => Ok("refused"),
                Err(e) => Err(format!("not an index error: {e:?}")),
            },
        );
}

// ---------------------------------------------------------------- STAC

/// A tiny world on the ArcticDEM 32 m lattice: a 64×48 dem and datamask
/// COG beside an item that points at them with relative hrefs and a
/// `file://` self link (so a download reads them without a network).
struct StacWorld {
    _dir: tempfile::TempDir,
    item: Value,
    source: StacSource,
}

fn stac_world() -> &'static StacWorld {
    static WORLD: OnceLock<StacWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (w, h) = (64u32, 48u32);
        let writer = CogWriter::new(w, h)
            .geotransform([-1_584_000.0, 32.0, 0.0, 1_584_000.0, 0.0, -32.0])
            .epsg(3413, CrsKind::Projected)
            .block_size(16);
        let dem: Vec<f32> = (0..w * h).map(|i| (i % 97) as f32).collect();
        let mask: Vec<u8> = (0..w * h).map(|i| u8::from(i % 5 != 0)).collect();
        std::fs::write(
            dir.path().join("dem.tif"),
            writer.clone().nodata(-9999.0).to_vec(&dem).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("datamask.tif"), writer.to_vec(&mask).unwrap()).unwrap();
        let self_url = reqwest::Url::from_file_path(dir.path().join("item.json")).unwrap();
        let item = json!({
            "type": "Feature",
            "stac_version": "1.1.0",
            "id": "t1",
            "geometry": {"type": "Polygon", "coordinates": [[
                [-45.0, 70.0], [-44.9, 70.0], [-44.9, 70.1], [-45.0, 70.1], [-45.0, 70.0]
            ]]},
            "bbox": [-45.0, 70.0, -44.9, 70.1],
            "properties": {
                "datetime": null,
                "start_datetime": "2009-01-01T00:00:00Z",
                "end_datetime": "2021-12-31T23:59:59Z",
                "proj:code": "EPSG:3413",
                "proj:shape": [h, w],
                "proj:transform": [32.0, 0.0, -1_584_000.0, 0.0, -32.0, 1_584_000.0, 0.0, 0.0, 1.0]
            },
            "links": [{"rel": "self", "href": self_url.as_str()}],
            "assets": {
                "dem": {"href": "dem.tif", "raster:bands": [{"nodata": -9999, "data_type": "float32"}]},
                "datamask": {"href": "./datamask.tif", "raster:bands": [{"data_type": "uint8"}]}
            }
        });
        let source = StacSource::builder(
            format!("http://{}/api", page_server().addr),
            "fuzz",
            cube_spec(Resolution::M32, Default::default()).unwrap(),
        )
        .http_config(quick_http())
        .build()
        .unwrap();
        StacWorld {
            _dir: dir,
            item,
            source,
        }
    })
}

/// No retries and short deadlines: the loopback server answers at once.
fn quick_http() -> HttpConfig {
    HttpConfig {
        retry: RetryPolicy {
            max_tries: 1,
            ..RetryPolicy::http()
        },
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        deadline_tries: 1,
        ..HttpConfig::default()
    }
}

/// Whether every URL a mutated document could make the client fetch stays
/// on this machine: a mutation must never send a request anywhere else.
/// Strings are read as absolute URLs, else as references relative to a
/// loopback page (`//host/x` would leave it).
fn stays_local(doc: &Value) -> bool {
    let base = reqwest::Url::parse("http://127.0.0.1:1/api/x/y").unwrap();
    strings(doc)
        .into_iter()
        .all(|s| match reqwest::Url::parse(s).or_else(|_| base.join(s)) {
            Err(_) => true,
            Ok(u) if !matches!(u.scheme(), "http" | "https") => true,
            Ok(u) => matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        })
}

/// Errors of an item or page that a server got wrong (or of the files it
/// points at), as opposed to ones that mean a test went off the machine.
fn typed(e: &Error, label: &'static str) -> Result<&'static str, String> {
    match e {
        // A URL that does not parse, or of another scheme, was never requested.
        Error::Transport { url, .. } | Error::TimedOut { url, .. }
            if reqwest::Url::parse(url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && !matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
            }) =>
        {
            Err(format!("a request left the machine: {e:?}"))
        }
        _ => Ok(label),
    }
}

/// The bound of the STAC targets. A JSON response is refused when its
/// parsed form would take over 32 MiB (`http.rs`, `MAX_JSON_COST`: serde's
/// `Value` takes up to ~150 times the text of nested arrays), and a search
/// holds at most two at once (the items taken from one page while the next
/// is parsed); the items target parses its mutated item (≤ ~1 MiB of
/// text, the mutations' cap) once per entry point. Their geometries, and
/// the pixels of a 64×48 download, are small beside that.
const STAC_BUDGET: Budget = Budget {
    largest: 64 << 20,
    peak: 96 << 20,
    time: Duration::from_secs(10),
};

#[test]
fn fuzz_stac_items() {
    let world = stac_world();
    let server = page_server();
    let url = format!("http://{}/api/collections/fuzz/items/t1", server.addr);
    let _alone = SEARCH_SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    fuzz::run(
        "stac-items",
        128,
        STAC_BUDGET,
        json_edits(4),
        |edits| {
            let text = edits.apply(&world.item);
            let local = serde_json::from_slice::<Value>(&text).map_or(true, |v| stays_local(&v));
            *server.body.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(text);
            local
        },
        |local| {
            if !local {
                return Ok("skipped-not-local");
            }
            // Fetched as the source gets items (in search pages, or one by
            // one): through the client, which refuses what it cannot parse
            // within its bounds. Each entry point gets its own copy.
            let get = || world.source.http().get_json(&url);
            match get() {
                Ok(item) => {
                    if let Err(e) = world.source.mosaic_patch("p", vec![item]) {
                        typed(&e, "")?;
                    }
                }
                Err(e) => return typed(&e, "not-json"),
            }
            let item = get().map_err(|e| format!("the second GET failed: {e}"))?;
            let footprint =
                geo::Geometry::Polygon(BoundingBox::new(0.0, 0.0, 1.0, 1.0).to_polygon());
            let idx = PatchRef::new("p", footprint, None).with_item(StacItems(vec![item]));
            match world.source.download(&idx) {
                Ok(patch) => {
                    let (rows, cols) = patch.geobox.shape();
                    for (name, layer) in &patch.layers {
                        if layer.data.shape() != [rows, cols] {
                            return Err(format!(
                                "layer {name} is {:?} on a {rows}×{cols} patch",
                                layer.data.shape()
                            ));
                        }
                    }
                    Ok("downloaded")
                }
                Err(e) => typed(&e, "refused"),
            }
        },
    );
}

/// A loopback HTTP server that answers every request with the current
/// body (one connection at a time, `Connection: close`): a search page or
/// an item, as a hostile STAC API would send it.
struct PageServer {
    addr: SocketAddr,
    body: Mutex<Arc<Vec<u8>>>,
    requests: AtomicU64,
}

/// Held by each test that sets the page server's body: they run in
/// parallel threads and would serve each other's pages.
static SEARCH_SERVER: Mutex<()> = Mutex::new(());

fn page_server() -> &'static PageServer {
    static SERVER: OnceLock<PageServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            // Lives as long as the test binary; each connection is served
            // and closed before the next is accepted.
            for stream in listener.incoming().flatten() {
                let _ = answer(stream);
            }
        });
        PageServer {
            addr,
            body: Mutex::new(Arc::new(Vec::new())),
            requests: AtomicU64::new(0),
        }
    })
}

fn answer(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut request_body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut request_body)?;
    page_server().requests.fetch_add(1, Ordering::Relaxed);
    let body = Arc::clone(
        &page_server()
            .body
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/geo+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()
}

fn search_page(world: &StacWorld) -> Value {
    let mut second = world.item.clone();
    second["id"] = json!("t2");
    json!({
        "type": "FeatureCollection",
        "features": [world.item, second],
        "links": [
            {"rel": "self", "href": format!("http://{}/api/search", page_server().addr)},
            {"rel": "next", "href": format!("http://{}/api/search?page=2", page_server().addr),
             "method": "POST", "body": {"token": "2"}, "merge": true}
        ],
        "numberReturned": 2
    })
}

/// What the search target serves: a search page (for `touching_patches`
/// and `patch_refs`) or an item (for a download by item URL).
#[derive(Clone, Copy, Debug)]
enum Served {
    Page,
    Item,
}

#[test]
fn fuzz_stac_search_pages_and_fetched_items() {
    let world = stac_world();
    let page = search_page(world);
    let server = page_server();
    let aoi = Aoi::bbox(BoundingBox::new(-45.0, 70.0, -44.9, 70.1), Crs::wgs84());
    let toi = Toi::parse("2010-01-01/2020-12-31").unwrap();
    let _alone = SEARCH_SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    fuzz::run(
        "stac-search",
        96,
        STAC_BUDGET,
        (
            prop_oneof![Just(Served::Page), Just(Served::Item)],
            json_edits(4),
        ),
        |(served, edits)| {
            let text = match served {
                Served::Page => edits.apply(&page),
                Served::Item => edits.apply(&world.item),
            };
            let local = serde_json::from_slice::<Value>(&text).map_or(true, |v| stays_local(&v));
            *server.body.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(text);
            (*served, local)
        },
        |(served, local)| {
            if !local {
                return Ok("skipped-not-local");
            }
            match served {
                Served::Page => {
                    let found = world.source.touching_patches(&aoi, &toi);
                    if let Err(e) = world.source.patch_refs(&["t1".to_owned()]) {
                        typed(&e, "")?;
                    }
                    match found {
                        Ok(_) => Ok("page-searched"),
                        Err(e) => typed(&e, "page-refused"),
                    }
                }
                Served::Item => {
                    let url = format!("http://{}/api/collections/fuzz/items/t1", server.addr);
                    let footprint =
                        geo::Geometry::Polygon(BoundingBox::new(0.0, 0.0, 1.0, 1.0).to_polygon());
                    let idx = PatchRef::new("t1", footprint, None).with_item(StacItemUrl(url));
                    match world.source.download(&idx) {
                        Ok(_) => Ok("item-downloaded"),
                        Err(e) => typed(&e, "item-refused"),
                    }
                }
            }
        },
    );
}

// ---------------------------------------------------------- regressions
//
// The failures the targets found (or that review found and a test here
// confirmed), each as the minimal recipe proptest shrank it to.

/// The TIFF seed `name`.
fn tiff_seed(name: &str) -> &'static [u8] {
    &tiff_seeds().iter().find(|(n, _)| *n == name).unwrap().1
}

fn open_measured(bytes: Vec<u8>) -> (Result<Cog, Error>, geocube_testkit::fuzz::alloc::AllocStats) {
    measure(|| Cog::open(Arc::new(MemoryByteSource::new("fuzz.tif", bytes))))
}

fn tiff_reason(r: Result<Cog, Error>) -> String {
    match r {
        Err(Error::Tiff { reason, .. }) => reason,
        other => panic!("expected a TIFF error, got {other:?}"),
    }
}

/// tiff-structure found: an ImageWidth entry announcing 2²³ values made the
/// decoder allocate 256 MiB for them (its default limit, in force while it
/// reads the first directory) before finding a 6 KiB file too short.
#[test]
fn regression_a_huge_tag_count_is_refused_before_the_decoder_allocates() {
    use geocube_testkit::fuzz::tiff::{EntryField, EntryPick};
    let bytes = mutate_tiff(
        tiff_seed("writer-f32-nodata-overviews"),
        &[TiffMutation::Entry {
            ifd: At(0),
            entry: EntryPick::Tag(256),
            field: EntryField::Count,
            value: 1 << 23,
        }],
    );
    let (r, stats) = open_measured(bytes);
    let reason = tiff_reason(r);
    assert!(
        reason.contains("tag 256 announces 8388608 values"),
        "{reason}"
    );
    assert!(stats.largest < 1 << 20, "{stats:?}");
}

/// The same in an overview's directory, which `Cog::open` never reads: it
/// is refused when the overviews are listed, before the decoder reads it.
#[test]
fn regression_a_huge_tag_count_in_an_overview_is_refused_before_the_decoder_allocates() {
    use geocube_testkit::fuzz::tiff::{EntryField, EntryPick};
    let bytes = mutate_tiff(
        tiff_seed("writer-f32-nodata-overviews"),
        &[TiffMutation::Entry {
            // The last of the seed's two overview directories.
            ifd: At(u32::MAX),
            entry: EntryPick::Tag(324),
            field: EntryField::Count,
            value: 1 << 23,
        }],
    );
    let (r, stats) = measure(|| {
        let cog = Cog::open(Arc::new(MemoryByteSource::new("fuzz.tif", bytes)))?;
        cog.open_overview(1)
    });
    let reason = tiff_reason(r);
    assert!(
        reason.contains("tag 324 announces 8388608 values"),
        "{reason}"
    );
    assert!(stats.largest < 1 << 20, "{stats:?}");
}

/// tiff-bytes found: one byte of a GDAL file's ModelPixelScale count set to
/// 127 (8 323 075 doubles) made geocube's own tag read allocate 266 MB
/// before the read failed; `ifd_value_size`, the limit meant to stop it,
/// is not used by the `tiff` crate 0.11.
#[test]
fn regression_a_tag_whose_values_lie_past_the_end_is_refused() {
    let seed = tiff_seed("gdal-strips-lzw-bigendian-int16");
    let bytes = mutate(
        seed,
        &[ByteMutation::SetByte {
            at: At(441_434_907),
            value: 127,
        }],
    );
    let (r, stats) = open_measured(bytes);
    let reason = tiff_reason(r);
    assert!(
        reason.contains("tag 33550 announces 8323075 values"),
        "{reason}"
    );
    assert!(stats.largest < 1 << 20, "{stats:?}");
    // Under the cap on values but past the end of the file.
    let bytes = mutate_tiff(
        seed,
        &[TiffMutation::Entry {
            ifd: At(0),
            entry: geocube_testkit::fuzz::tiff::EntryPick::Tag(33550),
            field: geocube_testkit::fuzz::tiff::EntryField::Count,
            value: 1000,
        }],
    );
    let reason = tiff_reason(open_measured(bytes).0);
    assert!(
        reason.contains("tag 33550 announces 1000 values (8000 bytes)")
            && reason.contains("past the end of the 1547-byte file"),
        "{reason}"
    );
}

/// Review, confirmed here: tiles declared 8192² float32 made the decoder
/// allocate 256 MiB for the first tile of any window (its default limit);
/// geocube now refuses chunks over 64 MiB at open, with the size.
#[test]
fn regression_a_huge_declared_tile_is_refused_at_open() {
    use geocube_testkit::fuzz::tiff::{EntryField, EntryPick};
    let tile = |tag| TiffMutation::Entry {
        ifd: At(0),
        entry: EntryPick::Tag(tag),
        field: EntryField::ValueOrOffset,
        value: 8192,
    };
    // One 16² tile: still one tile of 8192², so the directory stays consistent.
    let bytes = mutate_tiff(tiff_seed("writer-i32"), &[tile(322), tile(323)]);
    let (r, stats) = open_measured(bytes);
    let reason = tiff_reason(r);
    assert!(
        reason.contains("tiles of 8192×8192 Int32 samples take 268435456 bytes"),
        "{reason}"
    );
    assert!(stats.largest < 1 << 20, "{stats:?}");
}

/// A byte source that remembers the longest range asked of it.
struct Longest(MemoryByteSource, std::sync::atomic::AtomicU64);

impl geocube_sources::cog::ByteSource for Longest {
    fn name(&self) -> &str {
        geocube_sources::cog::ByteSource::name(&self.0)
    }

    fn read_range(
        &self,
        start: u64,
        len: u64,
    ) -> geocube_sources::Result<geocube_sources::http::RangeBytes> {
        self.1.fetch_max(len, std::sync::atomic::Ordering::Relaxed);
        self.0.read_range(start, len)
    }
}

/// Review, confirmed here: a tile byte count of 0x7FFFFFFF made the reader
/// ask its source for 2 GiB in one range (a remote COG's server sends what
/// it has, up to the whole file, held in memory); byte counts beyond twice
/// the decoded tile are now refused.
#[test]
fn regression_a_huge_tile_byte_count_is_refused_before_fetching() {
    use geocube_testkit::fuzz::tiff::EntryPick;
    let bytes = mutate_tiff(
        tiff_seed("writer-f32-nodata-overviews"),
        &[TiffMutation::Element {
            ifd: At(0),
            entry: EntryPick::Tag(325),
            element: At(0),
            value: 0x7FFF_FFFF,
        }],
    );
    let src = Arc::new(Longest(
        MemoryByteSource::new("fuzz.tif", bytes),
        std::sync::atomic::AtomicU64::new(0),
    ));
    let mut cog = Cog::open(src.clone()).unwrap();
    let err = cog.read_window(Window::new(0, 0, 4, 4)).unwrap_err();
    assert!(
        err.to_string()
            .contains("chunk 0 announces 2147483647 compressed bytes"),
        "{err}"
    );
    let longest = src.1.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        longest <= geocube_sources::cog::DEFAULT_BLOCK_SIZE,
        "asked for {longest} bytes"
    );
    // The other tiles still read.
    assert!(cog.read_window(Window::new(20, 20, 4, 4)).is_ok());
}

/// stac-search found, on its unmutated seed: a search page whose `next`
/// link leads back to itself was followed 10 000 times (MAX_PAGES), its
/// items collected each time (95 MB after 6 s in a debug build). A `next`
/// link to a request already made now ends the search with
/// `InvalidResponse`.
#[test]
fn regression_a_next_link_back_to_a_page_already_read_ends_the_search() {
    let world = stac_world();
    let server = page_server();
    // The fuzz target shares the server: run alone, under its lock.
    let _alone = SEARCH_SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    *server.body.lock().unwrap() = Arc::new(serde_json::to_vec(&search_page(world)).unwrap());
    let before = server.requests.load(Ordering::Relaxed);
    let aoi = Aoi::bbox(BoundingBox::new(-45.0, 70.0, -44.9, 70.1), Crs::wgs84());
    let (r, stats) = measure(|| world.source.touching_patches(&aoi, &Toi::None));
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidResponse { reason, .. } if reason.contains("asks for a page already read")),
        "{err:?}"
    );
    // The first page and the second (`page=2` with the merged body); the
    // second's `next` repeats the second request.
    assert_eq!(server.requests.load(Ordering::Relaxed) - before, 2);
    assert!(stats.peak < 4 << 20, "{stats:?}");
}

fn read_mutated_index(mutation: ByteMutation) -> Result<MosaicIndex, Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx.parquet");
    std::fs::write(&path, mutate(index_seed(), &[mutation])).unwrap();
    MosaicIndex::read(&path, "dem_id")
}

/// geoparquet-index found: one byte of a column chunk's offset in the
/// footer set to 1 made it negative, and the parquet crate's `byte_range`
/// panicked (as it documents) while opening the column. Chunk ranges are
/// now checked against the file first.
#[test]
fn regression_a_negative_column_chunk_offset_is_an_index_error() {
    let r = read_mutated_index(ByteMutation::SetByte {
        at: At(982_668_926),
        value: 1,
    });
    assert!(
        matches!(&r, Err(Error::Index { reason, .. }) if reason.contains("claims")),
        "{r:?}"
    );
}

/// geoparquet-index found: one flipped bit in a dictionary page header
/// made the parquet crate's plain decoder assert (`size <= src.len()`,
/// parquet 60) and the panic crossed `MosaicIndex::read`. It cannot be
/// checked for before decoding, so the row reading contains it.
#[test]
fn regression_a_corrupt_dictionary_page_is_an_index_error_not_a_crash() {
    let r = read_mutated_index(ByteMutation::FlipBit {
        at: At(255_616_372),
        bit: 3,
    });
    assert!(
        matches!(&r, Err(Error::Index { reason, .. }) if reason.contains("corrupt pages")),
        "{r:?}"
    );
}

/// stac-search found: a 1 MiB page of nested one-element arrays (a node
/// wrapped 200 deep, then its array grown) took 147 MB as a serde_json
/// `Value` and the search held two such pages, 290 MB; the 64 MiB a body
/// may have could have taken 9 GB. The client now refuses JSON whose
/// parsed form it estimates over 32 MiB, before parsing.
#[test]
fn regression_json_that_would_parse_a_hundred_times_larger_is_refused() {
    use geocube_testkit::fuzz::json::{JsonEdits, JsonMutation};
    let world = stac_world();
    let server = page_server();
    let _alone = SEARCH_SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    let edits = JsonEdits {
        structure: vec![
            JsonMutation::Nest {
                node: At(1_853_942_718),
                depth: 200,
            },
            JsonMutation::Replace {
                node: At(1_596_359_526),
                with: Value::Null,
            },
            JsonMutation::Grow {
                node: At(1_282_079_790),
                len: 20_000,
            },
        ],
        text: vec![],
    };
    *server.body.lock().unwrap() = Arc::new(edits.apply(&search_page(world)));
    let aoi = Aoi::bbox(BoundingBox::new(-45.0, 70.0, -44.9, 70.1), Crs::wgs84());
    let (r, stats) = measure(|| world.source.touching_patches(&aoi, &Toi::None));
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidResponse { reason, .. } if reason.contains("would take about")),
        "{err:?}"
    );
    assert!(stats.peak < 4 << 20, "{stats:?}");
}

/// Found through the stac-search target's harness (its check for requests
/// leaving the machine flagged the error): a relative `next` href was
/// requested as it stood, a Transport "builder error" instead of the page
/// it names. It is now resolved against the page that holds it.
#[test]
fn regression_a_relative_next_link_is_resolved_against_its_page() {
    let world = stac_world();
    let server = page_server();
    let _alone = SEARCH_SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    let mut page = search_page(world);
    page["links"][1] = json!({"rel": "next", "href": "search?page=2"});
    *server.body.lock().unwrap() = Arc::new(serde_json::to_vec(&page).unwrap());
    let before = server.requests.load(Ordering::Relaxed);
    let aoi = Aoi::bbox(BoundingBox::new(-45.0, 70.0, -44.9, 70.1), Crs::wgs84());
    let err = world.source.touching_patches(&aoi, &Toi::None).unwrap_err();
    // Page 2 (the same body) names itself again: the search ends there.
    assert!(
        matches!(&err, Error::InvalidResponse { url, reason } if url.ends_with("/api/search?page=2") && reason.contains("already read")),
        "{err:?}"
    );
    assert_eq!(server.requests.load(Ordering::Relaxed) - before, 2);
}
