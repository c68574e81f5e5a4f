//! `geocube load --out X.zarr` writes the cube's own Zarr documents for the
//! crop's grid: read both `zarr.json`s of every node and compare them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::{TileSource, crs, pixel_bbox};
use geocube::{
    Accessor, Affine, Aoi, ChannelSpec, ChunkCodec, Crs, CubeSpec, CubeStorage, DType,
    DownloadError, GeoBox, LoadOptions, Patch, PatchRef, Source, SourceError, Toi, export,
};
use icechunk::repository::VersionInfo;
use serde_json::Value;

/// The export's data codec, so that the cube's documents can equal it.
const EXPORT_CODEC: ChunkCodec = ChunkCodec::BloscZstd { clevel: 5 };

/// The `zarr.json` of each of `nodes` in the local cube at `repo`, read
/// through Icechunk.
fn cube_documents(repo: &Path, nodes: &[String]) -> BTreeMap<String, Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let storage = icechunk::new_local_filesystem_storage(repo)
            .await
            .expect("storage");
        let repo = icechunk::Repository::open(storage)
            .execute()
            .await
            .expect("repository");
        let session = repo
            .readonly_session(&VersionInfo::BranchTipRef("main".into()))
            .await
            .expect("session");
        let store =
            icechunk::Store::from_session(Arc::new(tokio::sync::RwLock::new(session))).await;
        let mut docs = BTreeMap::new();
        for node in nodes {
            let bytes = store
                .get(&meta_key(node), &icechunk::format::ByteRange::ALL)
                .await
                .expect("cube zarr.json");
            docs.insert(node.clone(), serde_json::from_slice(&bytes).expect("json"));
        }
        docs
    })
}

/// The `zarr.json` of each of `nodes` in the Zarr directory `dir`.
fn export_documents(dir: &Path, nodes: &[String]) -> BTreeMap<String, Value> {
    nodes
        .iter()
        .map(|node| {
            let bytes = std::fs::read(dir.join(meta_key(node))).expect("export zarr.json");
            (node.clone(), serde_json::from_slice(&bytes).expect("json"))
        })
        .collect()
}

fn meta_key(node: &str) -> String {
    if node.is_empty() {
        "zarr.json".into()
    } else {
        format!("{node}/zarr.json")
    }
}

/// `doc` without what a crop changes: its shape and chunk grid, the
/// GeoTransform's origin (checked apart) and the cube's `loaded_patches`.
fn comparable(mut doc: Value) -> Value {
    if let Some(o) = doc.as_object_mut() {
        o.remove("shape");
        o.remove("chunk_grid");
    }
    if let Some(attrs) = doc.get_mut("attributes").and_then(Value::as_object_mut) {
        attrs.remove("loaded_patches");
        attrs.remove("GeoTransform");
    }
    doc
}

/// Load `aoi` at `toi` into a new local cube, export it, and check that every
/// node's documents agree but for the crop's shape, chunking and
/// GeoTransform, which must be `geotransform`. Returns the export's
/// documents.
fn export_matches_cube(
    source: Arc<dyn Source>,
    aoi: &Aoi,
    toi: &Toi,
    geotransform: &str,
) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("cube");
    let acc = Accessor::builder(source, CubeStorage::local(&repo))
        .codec(EXPORT_CODEC)
        .build()
        .expect("accessor");
    let loaded = acc
        .load(aoi, toi, LoadOptions::default().create(true))
        .expect("load");
    let out = dir.path().join("roi.zarr");
    export::write_zarr(&loaded.dataset, &acc.spec().title, &out).expect("export");

    let layout = acc.cube().expect("cube").layout().clone();
    let mut nodes: Vec<String> = ["", "x", "y", "spatial_ref"].map(String::from).to_vec();
    if layout.is_temporal() {
        nodes.push("time".into());
    }
    nodes.extend(layout.variables.iter().map(|v| v.name.clone()));
    let cube = cube_documents(&repo, &nodes);
    let exported = export_documents(&out, &nodes);
    for node in &nodes {
        assert_eq!(
            comparable(exported[node].clone()),
            comparable(cube[node].clone()),
            "`{node}`: export vs cube"
        );
    }
    // The cube's bookkeeping; an export is not a cube.
    assert!(cube[""].pointer("/attributes/loaded_patches").is_some());
    assert!(exported[""].pointer("/attributes/loaded_patches").is_none());
    assert_eq!(
        exported["spatial_ref"].pointer("/attributes/GeoTransform"),
        Some(&Value::from(geotransform))
    );
    exported
}

#[test]
fn polar_crop_has_the_cubes_documents() {
    let src: Arc<dyn Source> = TileSource::new();
    // Rows 40..61, cols 30..70 of the EPSG:3413 test cube (32 m).
    let aoi = Aoi::bbox(pixel_bbox(40, 30, 61, 70), crs());
    let docs = export_matches_cube(src, &aoi, &Toi::None, "-1599040 32 0 1598720 0 -32");
    // Polar stereographic: no east axis, so x has no units (as odc-geo).
    assert_eq!(docs["x"].pointer("/attributes/units"), Some(&"".into()));
    assert_eq!(
        docs["dem"].pointer("/shape"),
        Some(&serde_json::json!([21, 40]))
    );
}

/// A temporal EPSG:4326 grid of 0.01° pixels with no patches.
struct EmptyTemporal(CubeSpec);

impl EmptyTemporal {
    fn new() -> Self {
        let grid = GeoBox::new(
            120,
            80,
            Affine {
                x0: 10.0,
                res_x: 0.01,
                y0: 60.0,
                res_y: -0.01,
            },
            Crs::wgs84(),
        )
        .expect("grid");
        let years = (2019..2022)
            .map(|y| {
                Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
                    .single()
                    .expect("date")
            })
            .collect();
        Self(CubeSpec {
            title: "EmptyTemporal".into(),
            geobox: grid,
            time: Some(years),
            chunk_size: 32,
            channels: vec![
                ChannelSpec::new("value", DType::Float32),
                ChannelSpec::new("flag", DType::Uint8),
            ],
            codec: ChunkCodec::default(),
        })
    }
}

impl Source for EmptyTemporal {
    fn spec(&self) -> &CubeSpec {
        &self.0
    }
    fn touching_patches(&self, _: &Aoi, _: &Toi) -> Result<Vec<PatchRef>, SourceError> {
        Ok(vec![])
    }
    fn download(&self, idx: &PatchRef) -> Result<Patch, DownloadError> {
        Err(DownloadError::fatal(format!("no patch {}", idx.id)))
    }
    fn patch_refs(&self, _: &[String]) -> Result<Vec<PatchRef>, SourceError> {
        Ok(vec![])
    }
}

#[test]
fn temporal_geographic_crop_has_the_cubes_documents() {
    let src = EmptyTemporal::new();
    let grid = src.0.geobox.clone();
    // The whole grid and time axis: the documents of the same grid.
    let docs = export_matches_cube(
        Arc::new(src),
        &Aoi::GeoBox(grid),
        &Toi::None,
        "10 0.010000000000000000208167 0 60 0 -0.010000000000000000208167",
    );
    assert_eq!(
        docs["time"].pointer("/attributes/units"),
        Some(&"days since 2019-01-01 00:00:00".into())
    );
    assert_eq!(
        docs["x"].pointer("/attributes/units"),
        Some(&"degrees_east".into())
    );
}
