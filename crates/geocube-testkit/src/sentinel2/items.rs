//! STAC documents of the Sentinel-2 fixture: STAC 1.1 items shaped like
//! Earth Search's `sentinel-2-l2a` (v1) items, with the projection (v2
//! `proj:code`, and v1's `proj:epsg` for older readers), raster, eo, grid
//! and mgrs extensions; per asset `proj:shape` and `proj:transform`, since
//! the 10 m and 20 m assets of one item differ.
//!
//! On disk they form a static catalog with relative links and asset hrefs;
//! the fixture server rewrites them to absolute URLs of itself.

use serde_json::{Value, json};

use super::{Band, S2Item, Sentinel2Manifest, TileSpec, UtmProjector};
use crate::error::Result;
use crate::stac::{COG_MEDIA_TYPE, PROJ_EXT, RASTER_EXT, STAC_VERSION};

/// Directory of the collection relative to the fixture root.
pub(super) const COLLECTION_DIR: &str = "stac/sentinel-2-l2a";
/// The eo extension schema.
const EO_EXT: &str = "https://stac-extensions.github.io/eo/v1.1.0/schema.json";
/// The grid extension schema.
const GRID_EXT: &str = "https://stac-extensions.github.io/grid/v1.1.0/schema.json";
/// The mgrs extension schema.
const MGRS_EXT: &str = "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json";
/// Segments per footprint edge: the straight UTM edges bend in WGS 84.
const DENSIFY: usize = 16;
/// L2A's reflectance scaling (processing baseline 04.00 and later): the
/// truth is in DN, as the COGs store it.
const SCALE: f64 = 0.0001;
const OFFSET: f64 = -0.1;

/// Path of an item relative to the fixture root.
pub(super) fn item_path(id: &str) -> String {
    format!("{COLLECTION_DIR}/{id}/{id}.json")
}

/// The WGS 84 footprint of a closed ring of UTM points, densified, as a
/// GeoJSON polygon, and its bbox.
pub(super) fn footprint(p: &UtmProjector, ring: &[(f64, f64)]) -> Result<(Value, [f64; 4])> {
    let mut coords = Vec::new();
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        for k in 0..DENSIFY {
            #[allow(clippy::cast_precision_loss)]
            let t = k as f64 / DENSIFY as f64;
            let (lon, lat) = p.to_lonlat(a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))?;
            coords.push([lon, lat]);
        }
    }
    if let Some(&first) = coords.first() {
        coords.push(first);
    }
    let mut bbox = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for &[lon, lat] in &coords {
        bbox = [
            bbox[0].min(lon),
            bbox[1].min(lat),
            bbox[2].max(lon),
            bbox[3].max(lat),
        ];
    }
    Ok((json!({ "type": "Polygon", "coordinates": [coords] }), bbox))
}

fn asset(band: Band, path: &str, size: u32, gt: [f64; 6]) -> Value {
    let res = band.resolution();
    let mut raster = json!({
        "nodata": 0,
        "data_type": band.data_type(),
        "spatial_resolution": res,
    });
    let mut a = json!({
        "href": format!("../../../{path}"),
        "type": COG_MEDIA_TYPE,
        "roles": ["data"],
        "gsd": res,
        "proj:shape": [size, size],
        "proj:transform": [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]],
    });
    if let Some((common, centre, width)) = band.optics() {
        raster["bits_per_sample"] = json!(15);
        raster["scale"] = json!(SCALE);
        raster["offset"] = json!(OFFSET);
        a["title"] = json!(format!(
            "{} ({}) - {res}m",
            common.to_uppercase(),
            band.name()
        ));
        a["roles"] = json!(["data", "reflectance"]);
        a["eo:bands"] = json!([{
            "name": band.name(),
            "common_name": common,
            "center_wavelength": centre,
            "full_width_half_max": width,
        }]);
    } else {
        a["title"] = json!("Scene classification map (SCL)");
    }
    a["raster:bands"] = json!([raster]);
    a
}

/// The STAC item; `geometry` is its WGS 84 data footprint.
pub(super) fn item(item: &S2Item, tile: &TileSpec, geometry: &Value) -> Value {
    let b = tile.bounds;
    let epsg = 32_600 + u32::from(tile.zone);
    let (zone, rest) = tile.name.split_at(tile.name.len() - 3);
    let (lat_band, square) = rest.split_at(1);
    let platform = if item.id.starts_with("S2A") {
        "sentinel-2a"
    } else {
        "sentinel-2b"
    };
    let mut assets = serde_json::Map::new();
    for a in &item.assets {
        assets.insert(
            a.key.clone(),
            asset(a.band, &a.path, a.size, a.geotransform),
        );
    }
    // What the wedge takes of the tile, in percent (Earth Search reports it).
    let nodata_percent = item.wedge.map_or(0.0, |w| {
        100.0 * 0.5 * w.leg * w.leg / ((b.xmax - b.xmin) * (b.ymax - b.ymin))
    });
    json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EO_EXT, PROJ_EXT, RASTER_EXT, GRID_EXT, MGRS_EXT],
        "id": item.id,
        "collection": super::COLLECTION_ID,
        "geometry": geometry,
        "bbox": item.bbox_wgs84,
        "properties": {
            "datetime": item.datetime,
            "platform": platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": item.cloud_cover,
            "proj:code": format!("EPSG:{epsg}"),
            "proj:epsg": epsg,
            "proj:bbox": [b.xmin, b.ymin, b.xmax, b.ymax],
            "mgrs:utm_zone": tile.zone,
            "mgrs:latitude_band": lat_band,
            "mgrs:grid_square": square,
            "grid:code": format!("MGRS-{zone}{lat_band}{square}"),
            "s2:product_type": "S2MSI2A",
            "s2:processing_baseline": "05.10",
            "s2:nodata_pixel_percentage": (nodata_percent * 1e4).round() / 1e4,
        },
        "links": [
            { "rel": "collection", "href": "../collection.json", "type": "application/json" },
            { "rel": "parent", "href": "../collection.json", "type": "application/json" },
            { "rel": "root", "href": "../../catalog.json", "type": "application/json" },
        ],
        "assets": assets,
    })
}

/// The collection document, with `item` links to every item.
pub(super) fn collection(m: &Sentinel2Manifest) -> Value {
    let mut bbox = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for i in &m.items {
        let b = i.bbox_wgs84;
        bbox = [
            bbox[0].min(b[0]),
            bbox[1].min(b[1]),
            bbox[2].max(b[2]),
            bbox[3].max(b[3]),
        ];
    }
    let first = m.items.iter().map(|i| i.datetime.as_str()).min();
    let last = m.items.iter().map(|i| i.datetime.as_str()).max();
    let mut links = vec![
        json!({ "rel": "root", "href": "../catalog.json", "type": "application/json" }),
        json!({ "rel": "parent", "href": "../catalog.json", "type": "application/json" }),
    ];
    links.extend(m.items.iter().map(|i| {
        json!({ "rel": "item", "href": format!("./{0}/{0}.json", i.id), "type": "application/geo+json" })
    }));
    let item_assets: serde_json::Map<String, Value> = Band::ALL
        .iter()
        .map(|b| {
            let mut a = json!({
                "type": COG_MEDIA_TYPE,
                "roles": ["data"],
                "gsd": b.resolution(),
                "raster:bands": [{ "nodata": 0, "data_type": b.data_type(), "spatial_resolution": b.resolution() }],
            });
            if let Some((common, centre, width)) = b.optics() {
                a["eo:bands"] = json!([{ "name": b.name(), "common_name": common,
                                         "center_wavelength": centre, "full_width_half_max": width }]);
            }
            (b.asset_key().to_owned(), a)
        })
        .collect();
    let codes: Vec<String> = {
        let mut c: Vec<String> = m.tiles.iter().map(|t| format!("EPSG:{}", t.epsg)).collect();
        c.dedup();
        c
    };
    json!({
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EO_EXT, PROJ_EXT, RASTER_EXT],
        "id": super::COLLECTION_ID,
        "title": "Sentinel-2 Level-2A (geocube fixture)",
        "description": "Synthetic, deterministic stand-in for Earth Search's sentinel-2-l2a: \
            four 5.4 km tiles across the UTM zone 7/8 boundary at 59° N, six dates in July 2024. \
            Reflectances are an analytic function of position (geocube_testkit::sentinel2::truth).",
        "license": "proprietary",
        "extent": {
            "spatial": { "bbox": [bbox] },
            "temporal": { "interval": [[first, last]] },
        },
        "summaries": {
            "platform": ["sentinel-2a", "sentinel-2b"],
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "gsd": [10, 20],
            "proj:code": codes,
            "eo:cloud_cover": { "minimum": 0, "maximum": 100 },
        },
        "item_assets": item_assets,
        "links": links,
    })
}

/// The root catalog of the Sentinel-2 fixture.
pub(super) fn catalog() -> Value {
    json!({
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": "geocube-fixtures-sentinel2",
        "description": "geocube Sentinel-2 test fixtures",
        "links": [
            { "rel": "root", "href": "./catalog.json", "type": "application/json" },
            { "rel": "child", "href": format!("./{}/collection.json", super::COLLECTION_ID), "type": "application/json" },
        ],
    })
}
