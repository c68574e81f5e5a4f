//! `Accessor::verify`: both directions of "pixels and id: both or neither",
//! and the spot check against the source, on real local Icechunk cubes.

mod common;

use common::{RES, TileSource, accessor, crs, pixel_bbox, tile_bbox, tile_id};
use geocube::{Accessor, LoadOptions, VerifyOptions};
use geocube_core::{Aoi, Cube, CubeStorage, GeoBox, Patch, Toi, TypedArray};

/// A cube holding tiles (0, 0) and (0, 1): rows 0..48, columns 0..96.
fn loaded_cube() -> (
    tempfile::TempDir,
    std::sync::Arc<TileSource>,
    Accessor,
    CubeStorage,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let src = TileSource::new();
    let acc = accessor(&src, storage.clone());
    let aoi = Aoi::bbox(pixel_bbox(10, 10, 30, 80), crs());
    acc.load(&aoi, &Toi::None, LoadOptions::default().create(true))
        .expect("load");
    (dir, src, acc, storage)
}

/// A patch with a constant `dem` (and `datamask` 1) on `geobox`.
fn constant_patch(id: &str, geobox: GeoBox, value: f32) -> Patch {
    let (h, w) = geobox.shape();
    Patch::new(id, geobox)
        .with_layer(
            "dem",
            TypedArray::Float32(ndarray::ArrayD::from_elem(vec![h, w], value)),
            None,
        )
        .with_layer(
            "datamask",
            TypedArray::Uint8(ndarray::ArrayD::from_elem(vec![h, w], 1)),
            None,
        )
}

fn tile_geobox(r: usize, c: usize) -> GeoBox {
    GeoBox::from_bbox(tile_bbox(r, c), crs(), RES).expect("tile geobox")
}

#[test]
fn a_loaded_cube_is_consistent_and_matches_its_source() {
    let (_dir, src, acc, _) = loaded_cube();
    let report = acc
        .verify(VerifyOptions { check_source: 10 })
        .expect("verify");
    assert!(report.is_consistent(), "{report:#?}");
    assert_eq!(report.ids, 2);
    // Tile (0,0) lies in chunk (0,0); tile (0,1) in chunks (0,0) and (0,1): two variables each.
    assert_eq!(report.chunks, 4);
    assert_eq!(report.source_checked.len(), 2);
    // Each spot check downloaded its patch once more.
    assert_eq!(src.downloads_of(&tile_id(0, 0)), 2);
}

#[test]
fn chunks_without_a_recorded_footprint_are_orphans() {
    let (_dir, _src, acc, storage) = loaded_cube();
    // An id the source does not know, far from the loaded tiles: rows and
    // columns 150..190 are chunk (2, 2).
    let stray = GeoBox::from_bbox(pixel_bbox(150, 150, 190, 190), crs(), RES).expect("geobox");
    Cube::open(storage)
        .expect("open")
        .write_patch(&constant_patch("stray", stray, 1.0))
        .expect("write");
    let report = acc.verify(VerifyOptions::default()).expect("verify");
    assert!(!report.is_consistent());
    assert_eq!(report.unknown_ids, ["stray"]);
    let mut orphans = report.orphan_chunks.clone();
    orphans.sort();
    assert_eq!(
        orphans,
        [
            ("datamask".to_owned(), None, 2, 2),
            ("dem".to_owned(), None, 2, 2)
        ]
    );
    assert!(report.missing_chunks.is_empty(), "{report:#?}");
}

#[test]
fn a_recorded_id_without_its_pixels_is_missing_chunks() {
    let (_dir, _src, acc, storage) = loaded_cube();
    // `t3_3` (rows and columns 144..192, chunk (2, 2)) recorded with pixels
    // that landed on tile (0, 0) instead.
    Cube::open(storage)
        .expect("open")
        .write_patch(&constant_patch(&tile_id(3, 3), tile_geobox(0, 0), 5.0))
        .expect("write");
    let report = acc.verify(VerifyOptions::default()).expect("verify");
    assert!(!report.is_consistent());
    let missing: Vec<_> = report
        .missing_chunks
        .iter()
        .map(|m| (m.id.as_str(), m.variable.as_str(), m.chunk))
        .collect();
    assert_eq!(
        missing,
        [
            ("t3_3", "datamask", (None, 2, 2)),
            ("t3_3", "dem", (None, 2, 2))
        ]
    );
    assert!(report.orphan_chunks.is_empty(), "{report:#?}");

    // The spot check sees tile (0, 0)'s pixels overwritten.
    let report = acc
        .verify(VerifyOptions { check_source: 3 })
        .expect("verify");
    let t00 = report
        .source_mismatches
        .iter()
        .find(|m| m.id == tile_id(0, 0) && m.variable == "dem")
        .expect("tile (0, 0) differs from its source");
    assert!(
        t00.differing > 0 && t00.differing <= t00.compared,
        "{t00:?}"
    );
}

#[test]
fn a_variable_all_fill_in_a_chunk_is_not_missing_but_a_chunk_no_variable_holds_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let src = TileSource::new();
    let acc = accessor(&src, storage.clone());
    acc.create(false, true).expect("create");
    // Tile (2, 2) (rows and columns 96..144: chunks (1, 1) to (2, 2)) over
    // the sea: dem values, a datamask of 0, the fill, which Zarr does not store.
    let (h, w) = tile_geobox(2, 2).shape();
    let sea = constant_patch(&tile_id(2, 2), tile_geobox(2, 2), 5.0).with_layer(
        "datamask",
        TypedArray::Uint8(ndarray::ArrayD::from_elem(vec![h, w], 0)),
        None,
    );
    let cube = Cube::open(storage).expect("open");
    cube.write_patch(&sea).expect("write");
    let report = acc.verify(VerifyOptions::default()).expect("verify");
    assert!(report.is_consistent(), "{report:#?}");
    assert_eq!(report.chunks, 4, "dem chunks only: {report:#?}");

    // With its dem chunk gone too, chunk (1, 1) holds nothing of the patch.
    let gone = geocube_core::cube::ChunkAddr {
        variable: "dem".into(),
        time: None,
        row: 1,
        col: 1,
    };
    cube.forget(&[], &[gone]).expect("erase");
    let report = acc.verify(VerifyOptions::default()).expect("verify");
    let missing: Vec<_> = report
        .missing_chunks
        .iter()
        .map(|m| (m.variable.as_str(), m.chunk))
        .collect();
    assert_eq!(
        missing,
        [("datamask", (None, 1, 1)), ("dem", (None, 1, 1))],
        "{report:#?}"
    );
}

#[test]
fn repair_drops_strays_reloads_what_is_missing_and_ends_consistent() {
    let (_dir, src, acc, storage) = loaded_cube();
    let cube = Cube::open(storage).expect("open");
    let stray = GeoBox::from_bbox(pixel_bbox(150, 150, 190, 190), crs(), RES).expect("geobox");
    cube.write_patch(&constant_patch("stray", stray, 1.0))
        .expect("write stray");
    cube.write_patch(&constant_patch(&tile_id(3, 3), tile_geobox(0, 0), 5.0))
        .expect("write misplaced");
    let found = acc
        .verify(VerifyOptions { check_source: 10 })
        .expect("verify");
    assert!(!found.is_consistent());
    let repaired = acc.repair(&found).expect("repair");
    // In the order they were loaded.
    assert_eq!(repaired.forgotten, ["t0_0", "stray", "t3_3"]);
    assert_eq!(repaired.reloaded, ["t0_0", "t3_3"]);
    // t3_3's own chunk (2, 2) held the stray's pixels too: it is t3_3's
    // again, not an orphan, once t3_3 is reloaded.
    assert!(repaired.after.is_consistent(), "{:#?}", repaired.after);
    let after = acc
        .verify(VerifyOptions { check_source: 10 })
        .expect("verify after");
    assert!(after.is_consistent(), "{after:#?}");
    // Spot-checked by both verifies, and reloaded once by the repair.
    assert_eq!(src.downloads_of(&tile_id(3, 3)), 3);
    let mut ids = acc.loaded_patches().expect("ids");
    ids.sort();
    assert_eq!(ids, ["t0_0", "t0_1", "t3_3"]);
    // Where the source has nodata, the misplaced pixels stay (nodata never
    // overwrites data); everywhere else the spot checks above saw the
    // source's values bit for bit.
}
