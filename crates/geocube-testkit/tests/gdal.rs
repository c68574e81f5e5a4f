//! GDAL accepts the COGs: driver, CRS, geotransform, nodata, blocks,
//! compression, `LAYOUT=COG`, checksums and valid-pixel statistics equal
//! to the manifest.
//!
//! Uses `gdalinfo` (Debian package `gdal-bin`) when it is on PATH, else a
//! Python named by `GEOCUBE_PYTHON` that has rasterio; skips with a message
//! when neither exists.

mod common;

use std::process::Command;

use geocube_testkit::manifest::resolve;
use serde_json::Value;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

fn gdalinfo(path: &std::path::Path) -> Value {
    // -stats: GDAL computes the statistics compared with the manifest.
    geocube_testkit::gdal::gdalinfo(path, &["-stats", "-checksum"])
        .expect("gdalinfo")
        .json
}

fn check_with_gdalinfo() {
    let (dir, m) = common::tiny();
    for t in &m.tiles {
        let dem = gdalinfo(&resolve(dir, &t.dem_path));
        assert_eq!(dem["driverShortName"], "GTiff");
        assert_eq!(dem["size"], serde_json::json!([500, 500]));
        let wkt = dem["coordinateSystem"]["wkt"].as_str().expect("wkt");
        assert!(
            wkt.trim_end().ends_with("ID[\"EPSG\",3413]]"),
            "CRS is EPSG:3413: {wkt}"
        );
        assert_eq!(
            dem["geoTransform"],
            serde_json::json!([t.bounds.xmin, 32.0, 0.0, t.bounds.ymax, 0.0, -32.0])
        );
        let structure = &dem["metadata"]["IMAGE_STRUCTURE"];
        assert_eq!(structure["COMPRESSION"], "DEFLATE");
        assert_eq!(structure["PREDICTOR"], "3");
        assert_eq!(structure["LAYOUT"], "COG", "GDAL recognises the COG layout");
        assert_eq!(dem["metadata"][""]["AREA_OR_POINT"], "Area");
        let band = &dem["bands"][0];
        assert_eq!(band["type"], "Float32");
        assert_eq!(band["block"], serde_json::json!([256, 256]));
        assert_eq!(band["noDataValue"], -9999.0);
        assert_eq!(band["overviews"].as_array().map(Vec::len), Some(1));
        assert_eq!(band["checksum"], t.stats.dem_gdal_checksum);
        let s = &t.stats;
        // The band's `mean` etc. are rounded to 3 decimals in the JSON; the
        // STATISTICS_* metadata items keep GDAL's full precision.
        let f = |k: &str| -> f64 {
            band["metadata"][""][k]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        for (key, want, rel, what) in [
            ("STATISTICS_MINIMUM", s.min, 1e-12, "min"),
            ("STATISTICS_MAXIMUM", s.max, 1e-12, "max"),
            ("STATISTICS_MEAN", s.mean, 1e-9, "mean"),
            ("STATISTICS_STDDEV", s.std_dev, 1e-6, "std"),
        ] {
            assert!(
                close(f(key), want, rel),
                "{}: {what} {} vs {want}",
                t.dem_id,
                f(key)
            );
        }
        let valid_percent: f64 = band["metadata"][""]["STATISTICS_VALID_PERCENT"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("valid percent");
        let expected = 100.0 * s.valid_count as f64 / 250_000.0;
        // GDAL prints the percentage with two decimals.
        assert!(
            (valid_percent - expected).abs() <= 0.006,
            "{valid_percent} vs {expected}"
        );

        let mask = gdalinfo(&resolve(dir, &t.datamask_path));
        let band = &mask["bands"][0];
        assert_eq!(band["type"], "Byte");
        assert_eq!(mask["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG");
        assert_eq!(mask["metadata"]["IMAGE_STRUCTURE"]["PREDICTOR"], "2");
        assert_eq!(band["checksum"], t.stats.datamask_gdal_checksum);
        let mean: f64 = band["metadata"][""]["STATISTICS_MEAN"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("mask mean");
        assert!(close(mean, s.valid_count as f64 / 250_000.0, 1e-9));
    }
}

const RASTERIO_SCRIPT: &str = r#"
import json, sys, rasterio
out = []
for path in sys.argv[1:]:
    with rasterio.open(path) as ds:
        a = ds.read(1, masked=True)
        out.append({"driver": ds.driver, "epsg": ds.crs.to_epsg(), "transform": list(ds.transform)[:6],
                    "nodata": ds.nodata, "block": list(ds.block_shapes[0]), "compression": str(ds.compression),
                    "layout": ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"), "valid": int(a.count()),
                    "mean": float(a.mean(dtype="float64")), "min": float(a.min()), "max": float(a.max()),
                    "checksum": ds.checksum(1)})
print(json.dumps(out))
"#;

fn check_with_rasterio(python: &str) {
    let (dir, m) = common::tiny();
    let paths: Vec<_> = m.tiles.iter().map(|t| resolve(dir, &t.dem_path)).collect();
    let out = Command::new(python)
        .arg("-c")
        .arg(RASTERIO_SCRIPT)
        .args(&paths)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "rasterio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    for (r, t) in results.iter().zip(&m.tiles) {
        assert_eq!(r["driver"], "GTiff");
        assert_eq!(r["epsg"], 3413);
        assert_eq!(r["nodata"], -9999.0);
        assert_eq!(r["block"], serde_json::json!([256, 256]));
        assert_eq!(r["layout"], "COG");
        assert_eq!(r["valid"], t.stats.valid_count);
        assert_eq!(r["checksum"], t.stats.dem_gdal_checksum);
        assert!(close(
            r["mean"].as_f64().unwrap_or(f64::NAN),
            t.stats.mean,
            1e-9
        ));
        assert_eq!(r["min"], t.stats.min);
        assert_eq!(r["max"], t.stats.max);
        assert_eq!(
            r["transform"],
            serde_json::json!([32.0, 0.0, t.bounds.xmin, 0.0, -32.0, t.bounds.ymax])
        );
    }
}

#[test]
fn gdal_reads_the_cogs_as_generated() {
    if geocube_testkit::gdal::gdalinfo_available() {
        check_with_gdalinfo();
    } else if let Ok(python) = std::env::var("GEOCUBE_PYTHON") {
        check_with_rasterio(&python);
    } else {
        println!(
            "SKIPPED gdal_reads_the_cogs_as_generated: neither `gdalinfo` (apt-get install gdal-bin) \
             nor GEOCUBE_PYTHON (a Python with rasterio) is available"
        );
    }
}
