//! STAC documents of the fixture (STAC 1.1 with the projection and raster
//! extensions), shaped like PGC's `arcticdem-mosaics-v4.1-32m` (or `-2m`)
//! items.
//!
//! On disk they form a static catalog with relative links and asset hrefs;
//! the fixture server rewrites them to absolute URLs of itself.

use serde_json::{Value, json};

use crate::{FixtureManifest, Mosaic, MosaicLayout, TileManifest};

/// Id of the root catalog.
pub const CATALOG_ID: &str = "geocube-fixtures";
/// STAC version written.
pub const STAC_VERSION: &str = "1.1.0";
/// Media type of the COG assets.
pub const COG_MEDIA_TYPE: &str = "image/tiff; application=geotiff; profile=cloud-optimized";
/// Projection extension schema.
pub const PROJ_EXT: &str = "https://stac-extensions.github.io/projection/v2.0.0/schema.json";
/// Raster extension schema.
pub const RASTER_EXT: &str = "https://stac-extensions.github.io/raster/v1.1.0/schema.json";

/// Directory of the collection relative to the fixture root.
#[must_use]
pub fn collection_dir(mosaic: Mosaic) -> String {
    format!("stac/{}", mosaic.collection_id())
}

/// Path of an item relative to the fixture root.
#[must_use]
pub fn item_path(mosaic: Mosaic, dem_id: &str) -> String {
    format!("{}/{dem_id}/{dem_id}.json", collection_dir(mosaic))
}

/// The STAC item of a tile; `geometry` is its WGS 84 footprint.
#[must_use]
pub fn item(tile: &TileManifest, layout: &MosaicLayout, geometry: &Value) -> Value {
    let b = tile.bounds;
    let res = layout.resolution();
    let asset = |path: &str, title: &str, band: Value| {
        json!({
            "href": format!("../../../{path}"),
            "type": COG_MEDIA_TYPE,
            "title": title,
            "roles": ["data"],
            "raster:bands": [band],
        })
    };
    json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [PROJ_EXT, RASTER_EXT],
        "id": tile.dem_id,
        "collection": layout.mosaic.collection_id(),
        "geometry": geometry,
        "bbox": tile.bbox_wgs84,
        "properties": {
            "title": tile.dem_id,
            "datetime": null,
            "start_datetime": tile.start_datetime,
            "end_datetime": tile.end_datetime,
            "gsd": res,
            "proj:code": "EPSG:3413",
            "proj:epsg": 3413,
            "proj:bbox": [b.xmin, b.ymin, b.xmax, b.ymax],
            "proj:shape": [layout.tile_px, layout.tile_px],
            "proj:transform": [res, 0.0, b.xmin, 0.0, -res, b.ymax, 0.0, 0.0, 1.0],
            "pgc:tile": tile.tile,
            "pgc:release_version": "v4.1",
        },
        "links": [
            { "rel": "collection", "href": "../collection.json", "type": "application/json" },
            { "rel": "parent", "href": "../collection.json", "type": "application/json" },
            { "rel": "root", "href": "../../catalog.json", "type": "application/json" },
        ],
        "assets": {
            "dem": asset(&tile.dem_path, "DEM", json!({
                "nodata": -9999, "data_type": "float32", "unit": "metre", "spatial_resolution": res,
            })),
            "datamask": asset(&tile.datamask_path, "Valid data mask", json!({
                "data_type": "uint8", "spatial_resolution": res,
            })),
        },
    })
}

/// The collection document, with `item` links to every tile.
#[must_use]
pub fn collection(m: &FixtureManifest) -> Value {
    let res = m.layout.resolution();
    let (mut south, mut north) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut east_w, mut west_e) = (f64::INFINITY, f64::NEG_INFINITY);
    for t in &m.tiles {
        let [w, s, e, n] = t.bbox_wgs84;
        south = south.min(s);
        north = north.max(n);
        // Longitudes > 0 are east of the antimeridian cut, < 0 west of it.
        for lon in [w, e] {
            if lon > 0.0 {
                east_w = east_w.min(lon);
            } else {
                west_e = west_e.max(lon);
            }
        }
    }
    let start = m
        .tiles
        .iter()
        .map(|t| t.start_datetime.as_str())
        .min()
        .unwrap_or_default();
    let end = m
        .tiles
        .iter()
        .map(|t| t.end_datetime.as_str())
        .max()
        .unwrap_or_default();
    let mut links = vec![
        json!({ "rel": "root", "href": "../catalog.json", "type": "application/json" }),
        json!({ "rel": "parent", "href": "../catalog.json", "type": "application/json" }),
    ];
    links.extend(m.tiles.iter().map(|t| {
        json!({ "rel": "item", "href": format!("./{0}/{0}.json", t.dem_id), "type": "application/geo+json" })
    }));
    json!({
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [PROJ_EXT, RASTER_EXT],
        "id": m.layout.mosaic.collection_id(),
        "title": format!("ArcticDEM Mosaics, version 4.1, {res} m (geocube fixture)"),
        "description": format!(
            "Synthetic, deterministic stand-in for PGC's ArcticDEM v4.1 {res} m mosaic tiles \
             (geocube-testkit preset {}). Elevations are made up.", m.preset),
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": { "bbox": [[east_w, south, west_e, north]] },
            "temporal": { "interval": [[start, end]] },
        },
        "summaries": { "gsd": [res], "proj:code": ["EPSG:3413"] },
        "item_assets": {
            "dem": { "type": COG_MEDIA_TYPE, "roles": ["data"], "title": "DEM" },
            "datamask": { "type": COG_MEDIA_TYPE, "roles": ["data"], "title": "Valid data mask" },
        },
        "links": links,
    })
}

/// The root catalog of a fixture of `mosaic`.
#[must_use]
pub fn catalog(mosaic: Mosaic) -> Value {
    json!({
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": CATALOG_ID,
        "description": "geocube test fixtures",
        "links": [
            { "rel": "root", "href": "./catalog.json", "type": "application/json" },
            { "rel": "child", "href": format!("./{}/collection.json", mosaic.collection_id()), "type": "application/json" },
        ],
    })
}
