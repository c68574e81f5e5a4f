//! The 2 m preset: four 25000² sub-tiles of one 100 km tile, named and laid
//! out as PGC's 2 m mosaic, that cost megabytes; their files decode (with
//! the `tiff` crate, and with GDAL when it is installed) to exactly what
//! `fixtures::tile_window` computes, and the manifest's statistics are
//! GDAL's.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::Command;

use geocube_testkit::geoparquet::read_index;
use geocube_testkit::manifest::resolve;
use geocube_testkit::{AntimeridianSide, PixelWindow, TileManifest, fixtures};
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

fn decoder(path: &Path) -> Decoder<BufReader<File>> {
    Decoder::new(BufReader::new(File::open(path).expect("open raster"))).expect("TIFF header")
}

fn window(row_off: u32, col_off: u32, height: u32, width: u32) -> PixelWindow {
    PixelWindow {
        col_off: i64::from(col_off),
        row_off: i64::from(row_off),
        width,
        height,
    }
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn sub_tiles_are_named_placed_and_indexed_as_pgc_s() {
    let (dir, m) = common::two_metre();
    let ids: BTreeSet<&str> = m.tiles.iter().map(|t| t.dem_id.as_str()).collect();
    let want: BTreeSet<&str> = [
        "56_25_1_1_2m_v4.1",
        "56_25_1_2_2m_v4.1",
        "56_25_2_1_2m_v4.1",
        "56_25_2_2_2m_v4.1",
    ]
    .into();
    assert_eq!(ids, want);
    assert_eq!(m.resolution, 2.0);
    assert_eq!(m.collection_id, "arcticdem-mosaics-v4.1-2m");
    assert_eq!(m.index_path, "ArcticDEM_Mosaic_Index_v4_1_2m.parquet");
    // The sub-tiles' corner (-1 550 000, 1 550 000) is the 100 km tile's
    // centre; its diagonal is the antimeridian.
    assert_eq!(m.ids_on(AntimeridianSide::Crosses).len(), 2);
    assert_eq!(m.ids_on(AntimeridianSide::East), ["56_25_2_2_2m_v4.1"]);
    assert_eq!(m.ids_on(AntimeridianSide::West), ["56_25_1_1_2m_v4.1"]);
    for t in &m.tiles {
        assert_eq!(t.bounds.xmax - t.bounds.xmin, 50_000.0);
        assert_eq!(
            t.dem_path,
            format!("mosaics/v4.1/2m/56_25/{}_dem.tif", t.dem_id)
        );
        assert_eq!(t.lattice_window.col_off as f64 * 2.0, t.bounds.xmin);
        assert_eq!(t.lattice_window.width, 25_000);
        // Cheap to store: megabytes, not the 2.5 GB the pixels are.
        assert!(t.dem_file_size < 4 << 20, "{}", t.dem_file_size);
        // A quarter of the island (with lakes) on each sub-tile, sea elsewhere.
        let land = t.stats.valid_count as f64 / (25_000.0 * 25_000.0);
        assert!((0.12..0.18).contains(&land), "{land}: {:?}", t.stats);
        let item: serde_json::Value =
            serde_json::from_slice(&std::fs::read(resolve(dir, &t.item_path)).expect("item"))
                .expect("JSON");
        assert_eq!(item["collection"], "arcticdem-mosaics-v4.1-2m");
        assert_eq!(item["properties"]["gsd"], 2.0);
        assert_eq!(item["properties"]["pgc:tile"], t.tile);
        assert_eq!(
            item["properties"]["proj:shape"],
            serde_json::json!([25_000, 25_000])
        );
        assert_eq!(
            item["properties"]["proj:transform"],
            serde_json::json!([
                2.0,
                0.0,
                t.bounds.xmin,
                0.0,
                -2.0,
                t.bounds.ymax,
                0.0,
                0.0,
                1.0
            ])
        );
    }
    let index = read_index(&resolve(dir, &m.index_path)).expect("read index");
    assert_eq!(index.records.len(), 4);
    for (r, t) in index.records.iter().zip(&m.tiles) {
        assert_eq!(
            (r.dem_id.as_str(), r.tile.as_str()),
            (t.dem_id.as_str(), t.tile.as_str())
        );
        assert_eq!(r.gsd, 2.0);
        assert_eq!(r.ring, t.bounds.ring());
    }
}

/// Decodes `indices` of the raster's blocks and compares each with the
/// pixels `tile_window` gives for it.
fn check_blocks(
    dir: &Path,
    m: &geocube_testkit::FixtureManifest,
    t: &TileManifest,
    indices: &[u32],
) {
    for (path, is_dem) in [(&t.dem_path, true), (&t.datamask_path, false)] {
        let mut d = decoder(&resolve(dir, path));
        assert_eq!(d.dimensions().expect("dims"), (25_000, 25_000));
        assert_eq!(d.chunk_dimensions(), (512, 512));
        let offsets = d.get_tag_u64_vec(Tag::TileOffsets).expect("offsets");
        let distinct: BTreeSet<u64> = offsets.iter().copied().collect();
        assert_eq!(offsets.len(), 49 * 49);
        assert!(distinct.len() <= 13, "{} distinct blocks", distinct.len());
        assert!(!d.more_images(), "no overviews");
        for &i in indices {
            let (bi, bj) = (i / 49, i % 49);
            let (w, h) = d.chunk_data_dimensions(i);
            let want = fixtures::tile_window(
                &m.layout,
                t.mosaic_row,
                t.mosaic_col,
                window(bi * 512, bj * 512, h, w),
            )
            .expect("window");
            match d.read_chunk(i).expect("decode block") {
                DecodingResult::F32(v) if is_dem => {
                    assert!(same_bits(&v, &want.0), "{} block {i}", t.dem_id);
                }
                DecodingResult::U8(v) if !is_dem => assert_eq!(v, want.1, "{} block {i}", t.dem_id),
                _ => panic!("{path}: unexpected sample type"),
            }
        }
    }
}

#[test]
fn rasters_decode_to_the_computed_pixels() {
    let (dir, m) = common::two_metre();
    for t in &m.tiles {
        // Corners (the last row and column are cropped to 424 px), the
        // ocean's edge and a few in between.
        check_blocks(
            dir,
            m,
            t,
            &[0, 15, 16, 48, 784, 800, 1200, 1225, 2352, 2400],
        );
    }
    let t = &m.tiles[0];
    // The island is where the sub-tiles meet: the north-west tile's own
    // north-west corner is sea.
    let (dem, mask) =
        fixtures::tile_window(&m.layout, t.mosaic_row, t.mosaic_col, window(0, 0, 8192, 1))
            .expect("window");
    assert!(dem.iter().all(|&v| v == -9999.0) && mask.iter().all(|&k| k == 0));
    assert!(matches!(
        fixtures::tile_window(&m.layout, 0, 0, window(24_990, 0, 11, 1)),
        Err(geocube_testkit::Error::OutsideTile { .. })
    ));
}

/// GDAL's pixels of a window of `path`, through `gdal_translate -srcwin`
/// into an uncompressed GeoTIFF decoded with the `tiff` crate.
fn gdal_window(path: &Path, w: PixelWindow, out: &Path) -> DecodingResult {
    let arg = |v: i64| v.to_string();
    let status = Command::new("gdal_translate")
        .args(["-q", "-of", "GTiff", "-srcwin"])
        .args([
            arg(w.col_off),
            arg(w.row_off),
            arg(w.width.into()),
            arg(w.height.into()),
        ])
        .arg(path)
        .arg(out)
        .env("GDAL_PAM_ENABLED", "NO")
        .status()
        .expect("run gdal_translate");
    assert!(
        status.success(),
        "gdal_translate failed on {}",
        path.display()
    );
    decoder(out).read_image().expect("decode GDAL's window")
}

#[test]
fn gdal_reads_the_sub_tiles() {
    if !geocube_testkit::gdal::gdalinfo_available() {
        eprintln!("skipping: gdalinfo is not on PATH (install gdal-bin)");
        return;
    }
    let (dir, m) = common::two_metre();
    let out = tempfile::tempdir().expect("tempdir");
    let t = &m.tiles[3];
    let dem_path = resolve(dir, &t.dem_path);
    for (k, w) in [
        window(0, 0, 40, 30),
        // Across four blocks at the island's shore in the south-east tile
        // (its centre is that tile's top-left corner, 22 500 m = 11 250 px away).
        window(7_800, 7_750, 300, 260),
        // The cropped last block row and column.
        window(24_500, 24_480, 500, 520),
    ]
    .into_iter()
    .enumerate()
    {
        let want = fixtures::tile_window(&m.layout, t.mosaic_row, t.mosaic_col, w).expect("window");
        let DecodingResult::F32(got) =
            gdal_window(&dem_path, w, &out.path().join(format!("{k}.tif")))
        else {
            panic!("GDAL's dem window is not float32");
        };
        assert!(same_bits(&got, &want.0), "window {w:?}");
    }
    // The whole sub-tile: GDAL's checksum is the manifest's.
    let info = geocube_testkit::gdal::gdalinfo(&dem_path, &["-checksum"]).expect("gdalinfo");
    assert!(info.stderr.is_empty(), "GDAL warned: {}", info.stderr);
    let band = &info.json["bands"][0];
    assert_eq!(band["checksum"], t.stats.dem_gdal_checksum);
    assert_eq!(band["noDataValue"], -9999.0);
    assert_eq!(band["block"], serde_json::json!([512, 512]));
    assert_eq!(
        info.json["geoTransform"],
        serde_json::json!([t.bounds.xmin, 2.0, 0.0, t.bounds.ymax, 0.0, -2.0])
    );
    let mask = geocube_testkit::gdal::gdalinfo(&resolve(dir, &t.datamask_path), &["-checksum"])
        .expect("gdalinfo");
    assert_eq!(
        mask.json["bands"][0]["checksum"],
        t.stats.datamask_gdal_checksum
    );
}
