//! The generated files decode back to exactly what was generated: COGs via
//! the `tiff` crate (bit for bit, georeferencing tags, COG layout), the
//! GeoParquet index via our reader, and the STAC documents.

mod common;

use std::fs::File;
use std::io::BufReader;

use geocube_testkit::footprint::Projector;
use geocube_testkit::geoparquet::read_index;
use geocube_testkit::manifest::{gdal_checksum_f32, gdal_checksum_u8, resolve};
use geocube_testkit::{AntimeridianSide, fixtures};
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

fn decoder(path: &std::path::Path) -> Decoder<BufReader<File>> {
    Decoder::new(BufReader::new(File::open(path).expect("open COG"))).expect("TIFF header")
}

#[test]
fn cogs_decode_to_the_generated_arrays() {
    let (dir, m) = common::tiny();
    let px = m.layout.tile_px;
    for t in &m.tiles {
        let (dem, mask) =
            fixtures::tile_arrays(&m.layout, t.mosaic_row, t.mosaic_col).expect("tile pixels");

        let mut d = decoder(&resolve(dir, &t.dem_path));
        assert_eq!(d.dimensions().expect("dims"), (px, px));
        assert_eq!(
            d.chunk_dimensions(),
            (m.layout.block_px, m.layout.block_px),
            "tiled"
        );
        let DecodingResult::F32(decoded) = d.read_image().expect("decode dem") else {
            panic!("dem is not float32");
        };
        assert_eq!(decoded.len(), dem.len());
        assert!(
            decoded
                .iter()
                .zip(&dem)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}: dem differs from the generated array",
            t.dem_id
        );
        let scale = d
            .get_tag_f64_vec(Tag::ModelPixelScaleTag)
            .expect("pixel scale");
        assert_eq!(scale, vec![32.0, 32.0, 0.0]);
        let tie = d.get_tag_f64_vec(Tag::ModelTiepointTag).expect("tiepoint");
        assert_eq!(tie, vec![0.0, 0.0, 0.0, t.bounds.xmin, t.bounds.ymax, 0.0]);
        let keys = d.get_tag_u16_vec(Tag::GeoKeyDirectoryTag).expect("geokeys");
        let key = |id: u16| keys.chunks(4).skip(1).find(|k| k[0] == id).map(|k| k[3]);
        assert_eq!(key(3072), Some(3413), "ProjectedCSTypeGeoKey");
        assert_eq!(key(1025), Some(1), "RasterPixelIsArea");
        assert_eq!(
            d.get_tag_ascii_string(Tag::GdalNodata).expect("nodata"),
            "-9999"
        );
        assert_eq!(
            d.get_tag_u32(Tag::Compression).expect("compression"),
            8,
            "DEFLATE"
        );
        assert_eq!(d.get_tag_u32(Tag::Predictor).expect("predictor"), 3);
        // One overview, half the size, after the full-resolution image.
        assert!(d.more_images(), "{} has no overview", t.dem_id);
        d.next_image().expect("overview IFD");
        assert_eq!(
            d.dimensions().expect("overview dims"),
            (px.div_ceil(2), px.div_ceil(2))
        );
        let DecodingResult::F32(ovr) = d.read_image().expect("decode overview") else {
            panic!("overview is not float32");
        };
        assert!(ovr.iter().any(|&v| v != -9999.0));

        let mut d = decoder(&resolve(dir, &t.datamask_path));
        let DecodingResult::U8(decoded) = d.read_image().expect("decode mask") else {
            panic!("datamask is not uint8");
        };
        assert!(decoded == mask, "{}: datamask differs", t.dem_id);
        assert_eq!(d.get_tag_u32(Tag::Predictor).expect("predictor"), 2);

        // The mask and the holes agree, and the manifest's statistics are
        // those of the arrays.
        assert!(
            dem.iter()
                .zip(&mask)
                .all(|(&v, &k)| (v == -9999.0) == (k == 0))
        );
        let valid = mask.iter().filter(|&&k| k == 1).count() as u64;
        assert_eq!(t.stats.valid_count, valid);
        assert!(t.stats.nodata_count > 0, "{} has no lakes", t.dem_id);
        assert!(valid > 0);
        assert_eq!(t.stats.dem_gdal_checksum, gdal_checksum_f32(&dem));
        assert_eq!(t.stats.datamask_gdal_checksum, gdal_checksum_u8(&mask));
        let sum: f64 = dem
            .iter()
            .filter(|&&v| v != -9999.0)
            .map(|&v| f64::from(v))
            .sum();
        assert_eq!(t.stats.sum, sum);
        assert!(
            dem.iter().any(|v| v.fract() != 0.0),
            "elevations are not all integers"
        );
        assert!((0.0..=2000.0).contains(&t.stats.min) && t.stats.max <= 2000.0);
    }
}

#[test]
fn cog_layout_puts_ifds_before_data() {
    let (dir, m) = common::tiny();
    let t = &m.tiles[0];
    let bytes = std::fs::read(resolve(dir, &t.dem_path)).expect("read");
    assert_eq!(&bytes[..4], b"II*\0");
    let ghost = String::from_utf8_lossy(&bytes[8..200]);
    assert!(ghost.starts_with("GDAL_STRUCTURAL_METADATA_SIZE="));
    assert!(ghost.contains("LAYOUT=IFDS_BEFORE_DATA"));
    // Every tile offset lies after the first IFD and is framed by its size.
    let mut d = decoder(&resolve(dir, &t.dem_path));
    let offsets = d.get_tag_u64_vec(Tag::TileOffsets).expect("offsets");
    let counts = d.get_tag_u64_vec(Tag::TileByteCounts).expect("counts");
    assert_eq!(offsets.len(), 4, "2×2 blocks of 256 px");
    for (&o, &c) in offsets.iter().zip(&counts) {
        let o = usize::try_from(o).expect("offset");
        let leader = u32::from_le_bytes(bytes[o - 4..o].try_into().expect("4 bytes"));
        assert_eq!(u64::from(leader), c, "block leader holds the size");
        let end = o + usize::try_from(c).expect("count");
        assert_eq!(
            bytes[end..end + 4],
            bytes[end - 4..end],
            "block trailer repeats the last 4 bytes"
        );
    }
}

#[test]
fn mosaic_covers_both_sides_of_the_antimeridian() {
    let (_, m) = common::tiny();
    assert_eq!(m.tiles.len(), 9);
    assert_eq!(m.ids_on(AntimeridianSide::Crosses).len(), 3);
    assert_eq!(m.ids_on(AntimeridianSide::East).len(), 3);
    assert_eq!(m.ids_on(AntimeridianSide::West).len(), 3);
    let p = Projector::new().expect("projector");
    for t in &m.tiles {
        assert!(t.dem_id.ends_with("_32m_v4.1") && t.dem_id.starts_with(&t.tile));
        for v in [t.bounds.xmin, t.bounds.ymin, t.bounds.xmax, t.bounds.ymax] {
            assert_eq!(v % 32.0, 0.0, "tile corners on the 32 m lattice");
        }
        assert_eq!(t.lattice_window.col_off as f64 * 32.0, t.bounds.xmin);
        assert_eq!(-t.lattice_window.row_off as f64 * 32.0, t.bounds.ymax);
        let [w, s, e, n] = t.bbox_wgs84;
        assert!(s < n);
        let cx = (t.bounds.xmin + t.bounds.xmax) / 2.0;
        let cy = (t.bounds.ymin + t.bounds.ymax) / 2.0;
        let (lon, _) = p.to_lonlat(cx + 100.0, cy + 50.0).expect("transform");
        match t.antimeridian {
            AntimeridianSide::Crosses => {
                assert!(w > e && w > 179.0 && e < -179.0, "{:?}", t.bbox_wgs84)
            }
            AntimeridianSide::East => assert!(w < e && w > 179.0 && lon > 0.0),
            AntimeridianSide::West => assert!(w < e && e < -179.0 && lon < 0.0),
        }
    }
}

#[test]
fn geoparquet_index_round_trips() {
    let (dir, m) = common::tiny();
    let index = read_index(&resolve(dir, &m.index_path)).expect("read index");
    assert_eq!(m.index_path, "ArcticDEM_Mosaic_Index_v4_1_32m.parquet");
    assert_eq!(index.geo["version"], "1.0.0");
    assert_eq!(index.geo["primary_column"], "geometry");
    let col = &index.geo["columns"]["geometry"];
    assert_eq!(col["encoding"], "WKB");
    assert_eq!(col["crs"]["id"]["code"], 3413);
    assert_eq!(col["crs"]["id"]["authority"], "EPSG");
    assert_eq!(index.records.len(), m.tiles.len());
    for (r, t) in index.records.iter().zip(&m.tiles) {
        assert_eq!(r.dem_id, t.dem_id);
        assert_eq!(r.tile, t.tile);
        assert_eq!(r.gsd, 32.0);
        assert_eq!(r.ring, t.bounds.ring());
    }
}

#[test]
fn stac_documents_are_consistent() {
    let (dir, m) = common::tiny();
    let read = |rel: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(resolve(dir, rel)).expect("read")).expect("JSON")
    };
    let collection = read(&m.collection_path);
    assert_eq!(collection["id"], "arcticdem-mosaics-v4.1-32m");
    let bbox = &collection["extent"]["spatial"]["bbox"][0];
    assert!(
        bbox[0].as_f64() > bbox[2].as_f64(),
        "collection extent crosses 180°"
    );
    let catalog = read(&m.catalog_path);
    assert_eq!(catalog["type"], "Catalog");
    for t in &m.tiles {
        let item = read(&t.item_path);
        assert_eq!(item["id"], t.dem_id.as_str());
        assert_eq!(item["collection"], "arcticdem-mosaics-v4.1-32m");
        assert_eq!(item["properties"]["proj:code"], "EPSG:3413");
        assert_eq!(item["properties"]["proj:epsg"], 3413);
        assert_eq!(
            item["properties"]["proj:shape"],
            serde_json::json!([500, 500])
        );
        assert_eq!(item["properties"]["proj:transform"][2], t.bounds.xmin);
        assert_eq!(item["properties"]["proj:transform"][5], t.bounds.ymax);
        let geometry_type = if t.antimeridian == AntimeridianSide::Crosses {
            "MultiPolygon"
        } else {
            "Polygon"
        };
        assert_eq!(item["geometry"]["type"], geometry_type);
        for (key, path, dtype) in [
            ("dem", &t.dem_path, "float32"),
            ("datamask", &t.datamask_path, "uint8"),
        ] {
            let asset = &item["assets"][key];
            assert_eq!(
                asset["type"],
                "image/tiff; application=geotiff; profile=cloud-optimized"
            );
            assert_eq!(asset["roles"], serde_json::json!(["data"]));
            assert_eq!(asset["raster:bands"][0]["data_type"], dtype);
            // Relative hrefs resolve to the asset next to the item.
            let href = asset["href"].as_str().expect("href");
            let item_dir = resolve(dir, &t.item_path)
                .parent()
                .expect("parent")
                .to_path_buf();
            let target = item_dir.join(href).canonicalize().expect("asset exists");
            assert_eq!(target, resolve(dir, path).canonicalize().expect("asset"));
        }
        assert_eq!(item["assets"]["dem"]["raster:bands"][0]["nodata"], -9999);
    }
}
