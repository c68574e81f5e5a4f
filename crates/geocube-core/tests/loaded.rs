//! `loaded_patches` carried from snapshot to snapshot: the root document a
//! commit writes is the one before with the new ids spliced in (the rest
//! byte for byte), ids that need escaping survive every path (own commit,
//! re-application, another handle's first read, `forget`), and a document
//! another writer printed indented keeps its other attributes.

use std::sync::Arc;

use geocube_core::{
    Affine, ChannelSpec, ChunkCodec, Crs, Cube, CubeSpec, CubeStorage, DType, GeoBox, Patch,
    RawRange, TypedArray,
};
use ndarray::Array2;
use serde_json::{Value, json};

fn spec() -> CubeSpec {
    let geobox = GeoBox::new(
        64,
        64,
        Affine {
            x0: -1_600_000.0,
            res_x: 32.0,
            y0: 1_600_000.0,
            res_y: -32.0,
        },
        Crs::from_epsg(3413).expect("EPSG:3413"),
    )
    .expect("geobox");
    CubeSpec {
        title: "Loaded \"ids\" \\ é".into(),
        geobox,
        time: None,
        chunk_size: 16,
        channels: vec![ChannelSpec::new("dem", DType::Float32)],
        codec: ChunkCodec::Default,
    }
}

/// A 16² patch (one chunk) at chunk (`k` / 4, `k` % 4).
fn patch(id: &str, k: usize) -> Patch {
    let s = spec();
    let (row, col) = (k / 4 % 4 * 16, k % 4 * 16);
    let geobox = s
        .geobox
        .window(geocube_core::Window::new(row, col, 16, 16))
        .expect("window");
    #[allow(clippy::cast_precision_loss)]
    let dem = Array2::from_elem((16, 16), k as f32);
    Patch::new(id, geobox).with_layer("dem", TypedArray::Float32(dem.into_dyn()), None)
}

fn root(cube: &Cube) -> (Vec<u8>, Value) {
    let bytes = cube
        .snapshot_store(None)
        .expect("snapshot store")
        .get("zarr.json", RawRange::All)
        .expect("get")
        .expect("root document");
    let value = serde_json::from_slice(&bytes).expect("valid JSON");
    (bytes, value)
}

const TRICKY: [&str; 8] = [
    "3-1234-5678",
    "quote\"d",
    "back\\slash",
    "new\nline",
    "ctl\u{1}\u{1f}",
    "sl/ash",
    "é \u{2028} 😀",
    "1234-567",
];

#[test]
fn ids_that_need_escaping_survive_every_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let a = Cube::create(storage.clone(), &spec())
        .execute()
        .expect("create");
    let b = Cube::open(storage.clone()).expect("second handle");
    for (k, id) in TRICKY.iter().enumerate().take(4) {
        a.write_patch(&patch(id, k)).expect("own commit");
    }
    // Two writers from one snapshot: the second is re-applied on the first.
    let mut first = a.stage().expect("stage");
    let mut second = b.stage().expect("stage");
    first.add(&patch(TRICKY[4], 4)).expect("add");
    second.add(&patch(TRICKY[5], 5)).expect("add");
    first.commit("Write patches").expect("first");
    let out = second.commit("Write patches").expect("re-applied");
    assert_eq!(out.reapplied, 1);
    for (k, id) in TRICKY.iter().enumerate().skip(6) {
        b.write_patch(&patch(id, k)).expect("other handle");
    }
    let want: Vec<String> = [0, 1, 2, 3, 4, 5, 6, 7]
        .iter()
        .map(|&i| TRICKY[i].to_owned())
        .collect();
    let fresh = Cube::open(storage).expect("fresh handle");
    for cube in [&a, &b, &fresh] {
        assert_eq!(cube.loaded_patches().expect("ids"), want);
        for id in TRICKY {
            assert!(cube.loaded().expect("loaded").contains(id), "{id:?}");
        }
        assert!(!cube.loaded().expect("loaded").contains("quote"));
    }
    let (bytes, value) = root(&fresh);
    assert_eq!(value["attributes"]["loaded_patches"], json!(want));
    assert_eq!(value["attributes"]["title"], json!(spec().title));
    // What geocube writes is serde_json's compact printing of the document.
    assert_eq!(bytes, serde_json::to_vec(&value).expect("print"));

    let forgotten = fresh
        .forget(&[TRICKY[1].to_owned(), TRICKY[6].to_owned()], &[])
        .expect("forget");
    assert_eq!(forgotten.forgotten, [TRICKY[1], TRICKY[6]]);
    let kept: Vec<&str> = want
        .iter()
        .map(String::as_str)
        .filter(|id| *id != TRICKY[1] && *id != TRICKY[6])
        .collect();
    assert_eq!(a.loaded_patches().expect("ids"), kept);
    assert!(!fresh.loaded().expect("loaded").contains(TRICKY[1]));
    fresh.write_patch(&patch(TRICKY[1], 1)).expect("again");
    assert!(a.loaded().expect("loaded").contains(TRICKY[1]));
}

/// A handle's own commit hands the next check the new snapshot's ids
/// without reading them, and they equal what another handle reads.
#[test]
fn an_own_commit_carries_the_ids_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CubeStorage::local(dir.path().join("cube"));
    let cube = Cube::create(storage.clone(), &spec())
        .execute()
        .expect("create");
    let mut ids = vec![];
    for k in 0..40 {
        let id = format!("3-{k}-{}", k * 7);
        let out = cube.write_patch(&patch(&id, k)).expect("write");
        ids.push(id);
        let loaded = cube.loaded().expect("loaded");
        assert_eq!(Some(loaded.snapshot_id()), out.snapshot.as_deref());
        assert!(Arc::ptr_eq(&loaded, &cube.loaded().expect("again")));
        assert_eq!(loaded.len(), ids.len());
        assert!(loaded.ids().eq(ids.iter().map(String::as_str)));
    }
    let other = Cube::open(storage).expect("other handle");
    assert_eq!(
        *other.loaded().expect("loaded"),
        *cube.loaded().expect("loaded")
    );
}

/// A root document printed indented by another writer, with attributes of
/// its own: the next commit keeps them and writes the list compactly.
#[test]
fn a_foreign_indented_document_keeps_its_attributes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cube");
    drop(
        Cube::create(CubeStorage::local(&path), &spec())
            .execute()
            .expect("create"),
    );
    let attributes = json!({
        "title": "Foreign",
        "loaded_patches": ["p\"1", "p2"],
        "provenance": {"by": "zarr-python", "ids": ["p9"], "n": 1.5},
    });
    let doc = json!({"zarr_format": 3, "node_type": "group", "attributes": attributes});
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let storage = icechunk::new_local_filesystem_storage(&path)
            .await
            .expect("storage");
        let repo = icechunk::Repository::open(storage)
            .execute()
            .await
            .expect("open");
        let session = repo.writable_session("main").await.expect("session");
        let store =
            icechunk::Store::from_session(Arc::new(tokio::sync::RwLock::new(session))).await;
        let bytes = serde_json::to_vec_pretty(&doc).expect("print");
        store.set("zarr.json", bytes.into()).await.expect("set");
        let session = store.session();
        let mut session = session.write().await;
        session
            .commit("Foreign write")
            .execute()
            .await
            .expect("commit");
    });
    drop(runtime);
    let cube = Cube::open(CubeStorage::local(&path)).expect("open");
    assert_eq!(cube.loaded_patches().expect("ids"), ["p\"1", "p2"]);
    assert!(!cube.loaded().expect("loaded").contains("p9"));
    cube.write_patch(&patch("p3", 0)).expect("write");
    let (bytes, value) = root(&cube);
    let mut want = doc.clone();
    want["attributes"]["loaded_patches"] = json!(["p\"1", "p2", "p3"]);
    assert_eq!(value, want);
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(text.contains(r#"["p\"1","p2","p3"]"#), "{text}");
    // Outside the list, the document is still the one printed indented.
    assert!(text.contains("\n    \"provenance\": {"), "{text}");
}
