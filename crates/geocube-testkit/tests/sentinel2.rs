//! The Sentinel-2-like fixture: items that validate structurally, COGs
//! that hold the truth at every pixel centre (0 in the wedges), zones that
//! agree where they overlap, GDAL's view of a COG, and the STAC API serving
//! the collection with the query extension.

mod common;

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use geo::{Contains, Coord, LineString, Point, Polygon};
use geocube_testkit::manifest::resolve;
use geocube_testkit::sentinel2::{
    self, Band, DATES, S2Item, Sentinel2Manifest, TILES, UtmProjector, truth,
};
use geocube_testkit::server::{FixtureServer, ServerOptions};
use serde_json::{Value, json};
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

fn decoder(path: &Path) -> Decoder<BufReader<File>> {
    Decoder::new(BufReader::new(File::open(path).expect("open COG"))).expect("TIFF header")
}

/// The full-resolution pixels of a COG as u16 (SCL widened).
fn read_cog(path: &Path) -> (u32, Vec<u16>) {
    let mut d = decoder(path);
    let (w, h) = d.dimensions().expect("dims");
    assert_eq!(w, h, "{}", path.display());
    let pixels = match d.read_image().expect("decode") {
        DecodingResult::U16(v) => v,
        DecodingResult::U8(v) => v.into_iter().map(u16::from).collect(),
        _ => panic!("{}: neither uint16 nor uint8", path.display()),
    };
    (w, pixels)
}

fn read_json(dir: &Path, rel: &str) -> Value {
    let bytes = std::fs::read(resolve(dir, rel)).expect("read JSON");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn polygon(geometry: &Value) -> Polygon<f64> {
    assert_eq!(geometry["type"], "Polygon");
    let ring: Vec<Coord<f64>> = geometry["coordinates"][0]
        .as_array()
        .expect("ring")
        .iter()
        .map(|p| Coord {
            x: p[0].as_f64().expect("lon"),
            y: p[1].as_f64().expect("lat"),
        })
        .collect();
    Polygon::new(LineString(ring), vec![])
}

/// `(lon, lat)` of the centre of pixel `(row, col)` of an asset.
fn centre(p: &UtmProjector, gt: [f64; 6], row: u32, col: u32) -> (f64, f64, f64, f64) {
    let x = gt[0] + (f64::from(col) + 0.5) * gt[1];
    let y = gt[3] + (f64::from(row) + 0.5) * gt[5];
    let (lon, lat) = p.to_lonlat(x, y).expect("to lon/lat");
    (lon, lat, x, y)
}

#[test]
fn layout_sizes_and_manifest() {
    let (dir, m) = common::sentinel2();
    assert_eq!(m.items.len(), TILES.len() * DATES.len());
    assert_eq!(m.collection_id, "sentinel-2-l2a");
    assert!(sentinel2::is_up_to_date(dir));
    let total: u64 = m
        .items
        .iter()
        .flat_map(|i| &i.assets)
        .map(|a| a.file_size)
        .sum();
    // A few MB for 24 items of 7 COGs each.
    assert!(total < 10_000_000, "{total} bytes of COGs");
    for i in &m.items {
        assert_eq!(i.assets.len(), Band::ALL.len());
        for a in &i.assets {
            let len = std::fs::metadata(resolve(dir, &a.path)).expect("COG").len();
            assert_eq!(len, a.file_size, "{}", a.path);
            assert_eq!(
                a.size,
                if a.band.resolution() == 10.0 {
                    540
                } else {
                    270
                }
            );
        }
    }
    // Date by date, every tile once a date.
    for d in 0..DATES.len() {
        assert_eq!(m.ids_on(d).len(), TILES.len());
    }
    assert!(m.item("S2A_7VFJ_20240702_0_L2A").is_some());
}

#[test]
fn items_validate_structurally() {
    let (dir, m) = common::sentinel2();
    let collection = read_json(dir, &m.collection_path);
    assert_eq!(collection["type"], "Collection");
    assert_eq!(collection["id"], "sentinel-2-l2a");
    let links = collection["links"].as_array().expect("links");
    assert_eq!(
        links.iter().filter(|l| l["rel"] == "item").count(),
        m.items.len()
    );
    let interval = &collection["extent"]["temporal"]["interval"][0];
    assert_eq!(interval[0], "2024-07-02T21:07:39.813000Z");
    assert_eq!(interval[1], "2024-07-27T21:07:43.813000Z");
    for keys in ["blue", "green", "red", "nir", "swir16", "swir22", "scl"] {
        assert!(collection["item_assets"][keys].is_object(), "{keys}");
    }

    for item in &m.items {
        let v = read_json(dir, &item.item_path);
        let tile = &m.tiles[item.tile];
        let props = &v["properties"];
        assert_eq!(v["type"], "Feature");
        assert_eq!(v["stac_version"], "1.1.0");
        assert_eq!(v["id"], item.id.as_str());
        assert_eq!(v["collection"], "sentinel-2-l2a");
        let exts: Vec<&str> = v["stac_extensions"]
            .as_array()
            .expect("extensions")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            exts.iter().any(|e| e.contains("/projection/v2")),
            "{exts:?}"
        );
        assert!(exts.iter().any(|e| e.contains("/eo/")));
        assert!(exts.iter().any(|e| e.contains("/raster/")));
        let dt = props["datetime"].as_str().expect("datetime");
        assert!(chrono::DateTime::parse_from_rfc3339(dt).is_ok(), "{dt}");
        assert!(dt.starts_with(DATES[item.date]));
        let cc = props["eo:cloud_cover"].as_f64().expect("cloud cover");
        assert!((0.0..=100.0).contains(&cc));
        assert_eq!(cc, item.cloud_cover);
        assert_eq!(props["proj:code"], format!("EPSG:{}", tile.epsg));
        assert_eq!(props["proj:epsg"], tile.epsg);
        assert_eq!(props["mgrs:utm_zone"], tile.zone);

        // bbox: the bounds of the geometry.
        let poly = polygon(&v["geometry"]);
        let ring = &poly.exterior().0;
        assert!(ring.len() > 60, "densified: {} points", ring.len());
        assert_eq!(ring.first(), ring.last());
        let lon = ring.iter().map(|c| c.x);
        let lat = ring.iter().map(|c| c.y);
        let bbox = [
            lon.clone().fold(f64::INFINITY, f64::min),
            lat.clone().fold(f64::INFINITY, f64::min),
            lon.fold(f64::NEG_INFINITY, f64::max),
            lat.fold(f64::NEG_INFINITY, f64::max),
        ];
        assert_eq!(v["bbox"], json!(bbox));
        assert!(
            bbox[0] < truth::LON0 && truth::LON0 < bbox[2],
            "straddles 138° W"
        );

        let assets = v["assets"].as_object().expect("assets");
        assert_eq!(assets.len(), Band::ALL.len());
        for a in &item.assets {
            let j = &assets[&a.key];
            let href = j["href"].as_str().expect("href");
            let path = resolve(
                dir,
                &normalize(&format!(
                    "{}/{href}",
                    Path::new(&item.item_path)
                        .parent()
                        .expect("item dir")
                        .display()
                )),
            );
            assert_eq!(path, resolve(dir, &a.path), "href resolves to the COG");
            let res = a.band.resolution();
            assert_eq!(j["proj:shape"], json!([a.size, a.size]));
            let gt = a.geotransform;
            let transform = json!([gt[1], 0.0, gt[0], 0.0, gt[5], gt[3]]);
            assert_eq!(j["proj:transform"], transform);
            assert_eq!(j["gsd"], res);
            let band = &j["raster:bands"][0];
            assert_eq!(band["nodata"], 0);
            assert_eq!(band["data_type"], a.band.data_type());
            assert_eq!(band["spatial_resolution"], res);
            if a.band == Band::Scl {
                assert!(j.get("eo:bands").is_none());
            } else {
                assert_eq!(j["eo:bands"][0]["name"], a.band.name());
                assert_eq!(band["scale"], 0.0001);
            }

            // proj:transform and proj:code are the COG's georeference.
            let mut d = decoder(&path);
            assert_eq!(d.dimensions().expect("dims"), (a.size, a.size));
            assert_eq!(d.chunk_dimensions(), (256, 256));
            let scale = d.get_tag_f64_vec(Tag::ModelPixelScaleTag).expect("scale");
            let tie = d.get_tag_f64_vec(Tag::ModelTiepointTag).expect("tiepoint");
            let cog_transform = json!([scale[0], 0.0, tie[3], 0.0, -scale[1], tie[4]]);
            assert_eq!(cog_transform, j["proj:transform"], "{}", a.path);
            assert_eq!(tie[..3], [0.0, 0.0, 0.0]);
            let keys = d.get_tag_u16_vec(Tag::GeoKeyDirectoryTag).expect("geokeys");
            let key = |id: u16| keys.chunks(4).skip(1).find(|k| k[0] == id).map(|k| k[3]);
            assert_eq!(
                key(3072).map(u32::from),
                Some(tile.epsg),
                "ProjectedCSTypeGeoKey"
            );
            assert_eq!(
                d.get_tag_ascii_string(Tag::GdalNodata).expect("nodata"),
                "0"
            );
            // Overviews follow the full-resolution image.
            assert!(d.more_images(), "{}: overviews", a.path);
        }
    }
}

/// `a/b/../c` → `a/c`.
fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in p.split('/') {
        match s {
            ".." => {
                out.pop();
            }
            "." | "" => {}
            s => out.push(s),
        }
    }
    out.join("/")
}

/// Every pixel of every COG of `item`: the truth at its centre, or 0 in
/// the wedge; every pixel with data inside the item's geometry.
fn check_item(dir: &Path, m: &Sentinel2Manifest, item: &S2Item, geometry: &Polygon<f64>) {
    let tile = &m.tiles[item.tile];
    let p = UtmProjector::new(tile.zone).expect("projector");
    let b = tile.bounds;
    for a in &item.assets {
        let (px, pixels) = read_cog(&resolve(dir, &a.path));
        let (mut nodata, mut outside) = (0usize, 0usize);
        for row in 0..px {
            for col in 0..px {
                let got = pixels[(row * px + col) as usize];
                let (lon, lat, x, y) = centre(&p, a.geotransform, row, col);
                let in_wedge = item.wedge.is_some_and(|w| w.contains(&b, x, y));
                if in_wedge {
                    assert_eq!(got, 0, "{} {} ({row}, {col}) in the wedge", item.id, a.key);
                    nodata += 1;
                    continue;
                }
                let want = truth::dn(a.band, item.date, lon, lat);
                assert_eq!(got, want, "{} {} ({row}, {col})", item.id, a.key);
                if a.band != Band::Scl {
                    let v = truth::value(a.band, item.date, lon, lat);
                    assert!((f64::from(got) - v).abs() <= 0.5 + 1e-9);
                }
                // Every pixel on the border, every 7th inside: in the geometry.
                let border = row == 0 || col == 0 || row == px - 1 || col == px - 1;
                if (border || (row * px + col) % 7 == 0)
                    && !geometry.contains(&Point::new(lon, lat))
                {
                    outside += 1;
                }
            }
        }
        assert_eq!(
            outside, 0,
            "{} {}: data outside the geometry",
            item.id, a.key
        );
        if let Some(w) = item.wedge {
            // About the triangle's share of the tile.
            let share = nodata as f64 / f64::from(px * px);
            let want = 0.5 * w.leg * w.leg / (5400.0 * 5400.0);
            assert!((share - want).abs() < 0.01, "{share} vs {want}");
            // The wedge is outside the geometry: its corner is.
            let corner = match w.corner {
                sentinel2::Corner::NorthEast => (b.xmax - 20.0, b.ymax - 20.0),
                sentinel2::Corner::SouthWest => (b.xmin + 20.0, b.ymin + 20.0),
            };
            let (lon, lat) = p.to_lonlat(corner.0, corner.1).expect("lon/lat");
            assert!(!geometry.contains(&Point::new(lon, lat)));
        } else {
            assert_eq!(nodata, 0);
        }
    }
}

#[test]
fn cogs_hold_the_truth_at_every_pixel_centre() {
    let (dir, m) = common::sentinel2();
    std::thread::scope(|s| {
        for chunk in m.items.chunks(m.items.len().div_ceil(2)) {
            s.spawn(move || {
                for item in chunk {
                    let v = read_json(dir, &item.item_path);
                    check_item(dir, m, item, &polygon(&v["geometry"]));
                }
            });
        }
    });
    // The computed pixels are the COG's too.
    let item = &m.items[0];
    let computed = sentinel2::asset_pixels(m, item, Band::B08).expect("pixels");
    let (_, read) = read_cog(&resolve(dir, &item.asset(Band::B08).expect("B08").path));
    assert_eq!(computed, read);
}

/// Bilinear interpolation of an asset's pixels at map point `(x, y)`, or
/// `None` near its edges or its no-data.
fn bilinear(pixels: &[u16], px: u32, gt: [f64; 6], x: f64, y: f64) -> Option<f64> {
    let fc = (x - gt[0]) / gt[1] - 0.5;
    let fr = (y - gt[3]) / gt[5] - 0.5;
    let (c0, r0) = (fc.floor(), fr.floor());
    if c0 < 0.0 || r0 < 0.0 || c0 + 1.0 >= f64::from(px) || r0 + 1.0 >= f64::from(px) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (c, r) = (c0 as usize, r0 as usize);
    let n = px as usize;
    let at = |r: usize, c: usize| f64::from(pixels[r * n + c]);
    let (a, b, cc, d) = (at(r, c), at(r, c + 1), at(r + 1, c), at(r + 1, c + 1));
    if [a, b, cc, d].contains(&0.0) {
        return None;
    }
    let (tx, ty) = (fc - c0, fr - r0);
    Some((a * (1.0 - tx) + b * tx) * (1.0 - ty) + (cc * (1.0 - tx) + d * tx) * ty)
}

#[test]
fn zones_agree_on_the_truth_where_they_overlap() {
    let (dir, m) = common::sentinel2();
    let projectors: Vec<UtmProjector> = m
        .tiles
        .iter()
        .map(|t| UtmProjector::new(t.zone).expect("projector"))
        .collect();
    let mut compared = 0;
    for date in [0, 3] {
        for band in [Band::B04, Band::B12] {
            // The COG of this band of every item of the date.
            let cogs: Vec<(&S2Item, u32, Vec<u16>, [f64; 6])> = m
                .items
                .iter()
                .filter(|i| i.date == date)
                .map(|i| {
                    let a = i.asset(band).expect("asset");
                    let (px, pixels) = read_cog(&resolve(dir, &a.path));
                    (i, px, pixels, a.geotransform)
                })
                .collect();
            // A grid of points over the strip both zones cover.
            for k in 0..40 {
                for j in 0..40 {
                    let lon = truth::LON0 - 0.025 + f64::from(k) * 0.05 / 40.0;
                    let lat = truth::LAT0 - 0.035 + f64::from(j) * 0.07 / 40.0;
                    let mut by_zone = [Vec::new(), Vec::new()];
                    for (item, px, pixels, gt) in &cogs {
                        let (x, y) = projectors[item.tile].from_lonlat(lon, lat).expect("to UTM");
                        if let Some(v) = bilinear(pixels, *px, *gt, x, y) {
                            let zone = usize::from(m.tiles[item.tile].zone == 8);
                            by_zone[zone].push(v);
                        }
                    }
                    let want = truth::value(band, date, lon, lat);
                    for v in by_zone.iter().flatten() {
                        // Rounding (0.5) and the field's curvature (< 0.02).
                        assert!(
                            (v - want).abs() < 0.55,
                            "{band:?} at ({lon}, {lat}): {v} vs {want}"
                        );
                    }
                    if let ([a, ..], [b, ..]) = (&by_zone[0][..], &by_zone[1][..]) {
                        assert!((a - b).abs() < 1.1, "zones 7 and 8 disagree: {a} vs {b}");
                        compared += 1;
                    }
                }
            }
        }
    }
    // The strip both zones cover is about 3.6 km of the 5.7 km sampled.
    assert!(compared > 1500, "{compared} points compared across zones");
}

#[test]
fn coverage_tells_data_from_holes() {
    let (_, m) = common::sentinel2();
    let cov = m.coverage().expect("coverage");
    let p7 = UtmProjector::new(7).expect("projector");
    let b = m.tiles[0].bounds;
    // Inside the zone 7 north tile's wedge on date 0: only zone 8 has data.
    let (lon, lat) = p7
        .to_lonlat(b.xmax - 300.0, b.ymax - 1500.0)
        .expect("lon/lat");
    let ids = cov.items_at(0, lon, lat, 0.0).expect("items");
    assert_eq!(ids, ["S2A_8VLD_20240702_0_L2A"]);
    // On date 1 it has no wedge.
    let ids = cov.items_at(1, lon, lat, 0.0).expect("items");
    assert_eq!(ids, ["S2B_7VFJ_20240707_0_L2A", "S2B_8VLD_20240707_0_L2A"]);
    // West of the zone 8 tiles only zone 7 covers; far away nothing does.
    let (lon, lat) = p7
        .to_lonlat(b.xmin + 500.0, b.ymin + 500.0)
        .expect("lon/lat");
    assert_eq!(cov.items_at(2, lon, lat, 100.0).expect("items").len(), 2);
    assert!(
        !cov.covered(2, truth::LON0 + 1.0, truth::LAT0, 0.0)
            .expect("covered")
    );
}

fn gdalinfo_checks(path: &Path, epsg: u32, gt: [f64; 6]) {
    let info = geocube_testkit::gdal::gdalinfo(path, &[])
        .expect("gdalinfo")
        .json;
    assert_eq!(info["driverShortName"], "GTiff");
    assert_eq!(info["size"], json!([540, 540]));
    let wkt = info["coordinateSystem"]["wkt"].as_str().expect("wkt");
    assert!(wkt.contains("UTM zone 7N"), "{wkt}");
    assert!(
        wkt.trim_end().ends_with(&format!("ID[\"EPSG\",{epsg}]]")),
        "{wkt}"
    );
    assert_eq!(info["geoTransform"], json!(gt));
    assert_eq!(info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG");
    let band = &info["bands"][0];
    assert_eq!(band["type"], "UInt16");
    assert_eq!(band["noDataValue"], 0.0);
    assert_eq!(band["block"], json!([256, 256]));
    assert_eq!(band["overviews"].as_array().map(Vec::len), Some(2));
}

const RASTERIO_SCRIPT: &str = r#"
import json, sys, rasterio
with rasterio.open(sys.argv[1]) as ds:
    print(json.dumps({"epsg": ds.crs.to_epsg(), "transform": list(ds.transform)[:6],
                      "nodata": ds.nodata, "dtype": ds.dtypes[0], "size": [ds.width, ds.height],
                      "overviews": ds.overviews(1)}))
"#;

/// gdalinfo (gdal-bin) and the venv's rasterio (its own GDAL), whichever
/// are here; the test skips only when neither is (and fails so on CI).
#[test]
fn gdal_reads_the_utm_crs_and_geotransform() {
    let (dir, m) = common::sentinel2();
    let item = &m.items[0];
    let a = item.asset(Band::B02).expect("B02");
    let path = resolve(dir, &a.path);
    let epsg = m.tiles[item.tile].epsg;
    assert_eq!(epsg, 32607);
    let mut checked = false;
    if geocube_testkit::gdal::gdalinfo_available() {
        gdalinfo_checks(&path, epsg, a.geotransform);
        checked = true;
    }
    let python = match geocube_testkit::python::with_modules(&["rasterio"]) {
        Ok(python) => Some(python),
        Err(_) if checked => None,
        Err(_) => geocube_testkit::python::with_modules_or_skip(
            "gdal_reads_the_utm_crs_and_geotransform",
            &["rasterio"],
        ),
    };
    if let Some(python) = python {
        let out = std::process::Command::new(python)
            .arg("-c")
            .arg(RASTERIO_SCRIPT)
            .arg(&path)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let gt = a.geotransform;
        assert_eq!(r["epsg"], epsg);
        assert_eq!(
            r["transform"],
            json!([gt[1], 0.0, gt[0], 0.0, gt[5], gt[3]])
        );
        assert_eq!(r["nodata"], 0.0);
        assert_eq!(r["dtype"], "uint16");
        assert_eq!(r["size"], json!([540, 540]));
        assert_eq!(r["overviews"], json!([2, 4]));
    }
}

fn post_search(addr: std::net::SocketAddr, body: &Value) -> Value {
    let resp = common::request(addr, "POST", "/search", &[], body.to_string().as_bytes());
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    serde_json::from_slice(&resp.body).expect("JSON")
}

fn ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_stac_api_serves_the_collection_with_the_query_extension() {
    let (dir, m) = common::sentinel2();
    let server = FixtureServer::start(dir, ServerOptions::default()).expect("server");
    let addr = server.addr();
    let landing: Value = serde_json::from_slice(&common::get(addr, "/").body).expect("JSON");
    assert!(
        landing["conformsTo"]
            .as_array()
            .expect("conformance")
            .iter()
            .any(|c| c.as_str().is_some_and(|c| c.ends_with("#query")))
    );
    let collections: Value =
        serde_json::from_slice(&common::get(addr, "/collections").body).expect("JSON");
    assert_eq!(collections["collections"][0]["id"], "sentinel-2-l2a");
    let item = common::get(
        addr,
        "/collections/sentinel-2-l2a/items/S2B_8VLC_20240707_0_L2A",
    );
    assert_eq!(item.status, 200);
    let item: Value = serde_json::from_slice(&item.body).expect("JSON");
    // Asset hrefs point at the server, and the COG is there.
    let href = item["assets"]["red"]["href"].as_str().expect("href");
    let cog = common::get(addr, &common::target_of(href));
    assert_eq!(cog.status, 200);
    assert_eq!(&cog.body[..4], b"II*\0");

    let all = |q: Value| {
        let mut body = json!({ "collections": ["sentinel-2-l2a"], "limit": 100 });
        if !q.is_null() {
            body["query"] = q;
        }
        ids(&post_search(addr, &body))
    };
    let want = |f: &dyn Fn(&S2Item) -> bool| {
        let mut ids: Vec<String> = m
            .items
            .iter()
            .filter(|i| f(i))
            .map(|i| i.id.clone())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(all(Value::Null).len(), 24);
    let clear = all(json!({ "eo:cloud_cover": { "lte": 20 } }));
    assert_eq!(clear, want(&|i| i.cloud_cover <= 20.0));
    assert_eq!(clear.len(), 7);
    assert_eq!(
        all(json!({ "eo:cloud_cover": { "lt": 20 } })),
        want(&|i| i.cloud_cover < 20.0)
    );
    assert_eq!(
        all(json!({ "eo:cloud_cover": { "gt": 50, "lte": 80 } })),
        want(&|i| i.cloud_cover > 50.0 && i.cloud_cover <= 80.0)
    );
    assert_eq!(
        all(json!({ "eo:cloud_cover": { "eq": 100 } })),
        want(&|i| i.cloud_cover == 100.0)
    );
    assert_eq!(
        all(json!({ "eo:cloud_cover": { "neq": 100 }, "platform": { "eq": "sentinel-2a" } })),
        want(&|i| i.cloud_cover != 100.0 && i.date % 2 == 0)
    );
    // With a bbox and datetime, and through GET (query as JSON text).
    let page = post_search(
        addr,
        &json!({ "bbox": [-138.03, 58.95, -137.97, 59.05], "datetime": "2024-07-07T00:00:00Z/2024-07-07T23:59:59Z",
                 "query": { "eo:cloud_cover": { "gte": 50 } } }),
    );
    assert_eq!(
        ids(&page),
        ["S2B_7VFH_20240707_0_L2A", "S2B_8VLD_20240707_0_L2A"]
    );
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("collections", "sentinel-2-l2a")
        .append_pair("limit", "100")
        .append_pair("query", r#"{"eo:cloud_cover":{"lte":20}}"#)
        .finish();
    let page: Value =
        serde_json::from_slice(&common::get(addr, &format!("/search?{q}")).body).expect("JSON");
    assert_eq!(ids(&page), clear);
    // Paging keeps the query.
    let first = post_search(
        addr,
        &json!({ "limit": 3, "query": { "eo:cloud_cover": { "lte": 20 } } }),
    );
    assert_eq!(first["numberMatched"], 7);
    let next = first["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["rel"] == "next")
        .expect("next link");
    let second = post_search(addr, &next["body"]);
    assert_eq!(second["numberReturned"], 3);
    assert!(ids(&second).iter().all(|i| clear.contains(i)));
    // Malformed queries are 400s.
    for bad in [
        json!({ "query": { "eo:cloud_cover": { "like": 20 } } }),
        json!({ "query": { "eo:cloud_cover": 20 } }),
        json!({ "query": [1] }),
    ] {
        let resp = common::request(addr, "POST", "/search", &[], bad.to_string().as_bytes());
        assert_eq!(resp.status, 400, "{bad}");
    }
}

#[test]
fn a_server_without_the_query_extension_ignores_query() {
    let (dir, _) = common::sentinel2();
    let options = ServerOptions {
        ignore_query: true,
        ..ServerOptions::default()
    };
    let server = FixtureServer::start(dir, options).expect("server");
    let page = post_search(
        server.addr(),
        &json!({ "limit": 100, "query": { "eo:cloud_cover": { "lte": 20 } } }),
    );
    assert_eq!(page["numberMatched"], 24);
    // Not even a malformed query is looked at.
    let page = post_search(server.addr(), &json!({ "query": 5 }));
    assert_eq!(page["numberMatched"], 24);
    let landing: Value =
        serde_json::from_slice(&common::get(server.addr(), "/conformance").body).expect("JSON");
    assert!(
        !landing["conformsTo"]
            .as_array()
            .expect("conformance")
            .iter()
            .any(|c| c.as_str().is_some_and(|c| c.ends_with("#query")))
    );
}

#[test]
fn one_server_serves_both_fixtures() {
    // A Sentinel-2 fixture generated into a copy of the tiny mosaic's
    // directory: both collections, one search over both.
    let (tiny, _) = common::tiny();
    let (s2, _) = common::sentinel2();
    let both = tempfile::tempdir().expect("tempdir");
    copy_dir(tiny, both.path());
    copy_dir(s2, both.path());
    let server = FixtureServer::start(both.path(), ServerOptions::default()).expect("server");
    let collections: Value =
        serde_json::from_slice(&common::get(server.addr(), "/collections").body).expect("JSON");
    let ids: Vec<&str> = collections["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["arcticdem-mosaics-v4.1-32m", "sentinel-2-l2a"]);
    let page = post_search(server.addr(), &json!({ "limit": 1000 }));
    assert_eq!(page["numberMatched"], 9 + 24);
    let page = post_search(
        server.addr(),
        &json!({ "collections": ["arcticdem-mosaics-v4.1-32m"], "limit": 1000 }),
    );
    assert_eq!(page["numberMatched"], 9);
    let item = common::get(
        server.addr(),
        "/collections/arcticdem-mosaics-v4.1-32m/items/S2A_7VFJ_20240702_0_L2A",
    );
    assert_eq!(
        item.status, 404,
        "items are found in their own collection only"
    );
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read dir") {
        let e = e.expect("entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).expect("copy");
        }
    }
}
