//! GDAL reads the COGs as written: driver, data type, CRS, geotransform,
//! nodata, block size, overviews, `LAYOUT=COG` and a checksum equal to
//! [`gdal_checksum`].
//!
//! Uses `gdalinfo` (Debian package `gdal-bin`); skips with a message when
//! it is not on PATH. Also runs GDAL's `validate_cloud_optimized_geotiff`
//! (Debian package `python3-gdal`) with full leader/trailer checks when a
//! Python (`GEOCUBE_PYTHON`, `python3` or `/usr/bin/python3`) has it.

use std::path::Path;
use std::process::Command;

use geocube_geotiff::{CogWriter, CrsKind, Sample, gdal_checksum};
use serde_json::{Value, json};

fn gdalinfo_available() -> bool {
    let ok = geocube_testkit::gdal::gdalinfo_available();
    if !ok {
        eprintln!("skipping: gdalinfo is not on PATH (install gdal-bin)");
    }
    ok
}

fn gdalinfo(path: &Path) -> Value {
    let info = geocube_testkit::gdal::gdalinfo(path, &["-checksum"]).expect("gdalinfo");
    assert!(info.stderr.is_empty(), "GDAL warned: {}", info.stderr);
    info.json
}

/// A Python that has GDAL's COG validator, if any.
fn cog_validator() -> Option<&'static str> {
    static PYTHON: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let candidates = std::env::var("GEOCUBE_PYTHON")
                .into_iter()
                .chain(["python3".into(), "/usr/bin/python3".into()]);
            let found = candidates.into_iter().find(|python| {
                Command::new(python)
                    .args([
                        "-c",
                        "import osgeo_utils.samples.validate_cloud_optimized_geotiff",
                    ])
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
            if found.is_none() {
                eprintln!(
                    "not running GDAL's COG validator: no Python with osgeo_utils (python3-gdal)"
                );
            }
            found
        })
        .as_deref()
}

/// GDAL's `validate_cloud_optimized_geotiff --full-check=yes` accepts the file.
fn validate_cog(path: &Path) {
    let Some(python) = cog_validator() else {
        return;
    };
    let out = Command::new(python)
        .args([
            "-m",
            "osgeo_utils.samples.validate_cloud_optimized_geotiff",
            "--full-check=yes",
        ])
        .arg(path)
        .output()
        .expect("run the COG validator");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("is a valid cloud optimized GeoTIFF"),
        "{}: {stdout}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What GDAL must report for one written band.
struct Expect {
    epsg: u32,
    geotransform: [f64; 6],
    nodata: Option<Value>,
    block: u32,
    overviews: usize,
}

fn check<T: Sample>(
    dir: &Path,
    name: &str,
    writer: &CogWriter,
    size: (u32, u32),
    data: &[T],
    expect: &Expect,
) {
    let path = dir.join(format!("{name}.tif"));
    writer
        .write(data, std::fs::File::create(&path).expect("create"))
        .expect("write COG");
    let info = gdalinfo(&path);
    assert_eq!(info["driverShortName"], "GTiff", "{name}");
    assert_eq!(info["size"], json!([size.0, size.1]), "{name}");
    let wkt = info["coordinateSystem"]["wkt"].as_str().expect("wkt");
    assert!(
        wkt.trim_end()
            .ends_with(&format!("ID[\"EPSG\",{}]]", expect.epsg)),
        "{name}: CRS is EPSG:{}: {wkt}",
        expect.epsg
    );
    assert_eq!(info["geoTransform"], json!(expect.geotransform), "{name}");
    let structure = &info["metadata"]["IMAGE_STRUCTURE"];
    assert_eq!(structure["COMPRESSION"], "DEFLATE", "{name}");
    assert_eq!(
        structure["PREDICTOR"],
        T::TYPE.predictor().to_string(),
        "{name}"
    );
    assert_eq!(
        structure["LAYOUT"], "COG",
        "{name}: GDAL recognises the COG layout"
    );
    assert_eq!(info["metadata"][""]["AREA_OR_POINT"], "Area", "{name}");
    let band = &info["bands"][0];
    assert_eq!(band["type"], T::TYPE.gdal_name(), "{name}");
    assert_eq!(band["block"], json!([expect.block, expect.block]), "{name}");
    assert_eq!(band.get("noDataValue"), expect.nodata.as_ref(), "{name}");
    assert_eq!(
        band["overviews"].as_array().map_or(0, Vec::len),
        expect.overviews,
        "{name}"
    );
    assert_eq!(band["checksum"], gdal_checksum(data), "{name}");
    validate_cog(&path);
}

fn ramp<T>(n: u32, f: impl Fn(u32) -> T) -> Vec<T> {
    (0..n).map(f).collect()
}

#[test]
fn gdal_reads_every_sample_type() {
    if !gdalinfo_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h) = (700, 300);
    let gt = [-2_500_000.0, 32.0, 0.0, 1_200_000.0, 0.0, -32.0];
    let writer = CogWriter::new(w, h)
        .geotransform(gt)
        .epsg(3413, CrsKind::Projected)
        .block_size(256);
    let expect = |nodata: Option<Value>| Expect {
        epsg: 3413,
        geotransform: gt,
        nodata,
        block: 256,
        // 700 × 300 → 350 × 150 → 175 × 75: two overviews.
        overviews: 2,
    };
    let n = w * h;
    let dir = dir.path();
    let f32s = ramp(n, |i| {
        if i % 13 == 0 {
            -9999.0
        } else {
            (i as f32 * 0.37).sin() * 2500.0
        }
    });
    check(
        dir,
        "f32",
        &writer.clone().nodata(-9999.0),
        (w, h),
        &f32s,
        &expect(Some(json!(-9999.0))),
    );
    let f64s = ramp(n, |i| {
        if i % 11 == 0 {
            f64::NAN
        } else {
            f64::from(i) * 0.125 - 1e4
        }
    });
    check(
        dir,
        "f64",
        &writer.clone().nodata(f64::NAN),
        (w, h),
        &f64s,
        &expect(Some(json!("NaN"))),
    );
    let u8s = ramp(n, |i| (i % 256) as u8);
    check(dir, "u8", &writer, (w, h), &u8s, &expect(None));
    let u16s = ramp(n, |i| (i.wrapping_mul(7919) % 65536) as u16);
    check(
        dir,
        "u16",
        &writer.clone().nodata(0.0),
        (w, h),
        &u16s,
        &expect(Some(json!(0.0))),
    );
    let i16s = ramp(n, |i| (i % 60000) as i16);
    check(
        dir,
        "i16",
        &writer.clone().nodata(-32768.0),
        (w, h),
        &i16s,
        &expect(Some(json!(-32768.0))),
    );
    let i32s = ramp(n, |i| (i as i32 - 100_000) * 9_973);
    check(
        dir,
        "i32",
        &writer.clone().nodata(-1.0),
        (w, h),
        &i32s,
        &expect(Some(json!(-1.0))),
    );
    let bools = ramp(n, |i| i % 3 == 0);
    check(dir, "bool", &writer, (w, h), &bools, &expect(None));
}

#[test]
fn gdal_reads_a_geographic_cog() {
    if !gdalinfo_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h) = (1440, 720);
    let gt = [-180.0, 0.25, 0.0, 90.0, 0.0, -0.25];
    let data = ramp(w * h, |i| (i % 977) as f32 - 100.0);
    let writer = CogWriter::new(w, h)
        .geotransform(gt)
        .epsg(4326, CrsKind::Geographic)
        .citation("WGS 84")
        .nodata(-100.0)
        .block_size(512);
    let expect = Expect {
        epsg: 4326,
        geotransform: gt,
        nodata: Some(json!(-100.0)),
        block: 512,
        // 1440 × 720 → 720 × 360 → 360 × 180.
        overviews: 2,
    };
    check(dir.path(), "wgs84", &writer, (w, h), &data, &expect);
    let info = gdalinfo(&dir.path().join("wgs84.tif"));
    let wkt = info["coordinateSystem"]["wkt"].as_str().expect("wkt");
    assert!(wkt.starts_with("GEOGCRS[\"WGS 84\""), "{wkt}");
}

#[test]
fn gdal_reads_a_cog_without_overviews() {
    if !gdalinfo_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h) = (1000, 600);
    let gt = [400_000.0, 30.0, 0.0, 7_600_000.0, 0.0, -30.0];
    let data = ramp(w * h, |i| (i % 4000) as u16);
    let writer = CogWriter::new(w, h)
        .geotransform(gt)
        .epsg(32633, CrsKind::Projected)
        .overviews(false);
    let expect = Expect {
        epsg: 32633,
        geotransform: gt,
        nodata: None,
        block: 512,
        overviews: 0,
    };
    check(dir.path(), "utm", &writer, (w, h), &data, &expect);
}

#[test]
fn gdal_reads_shared_blocks() {
    if !gdalinfo_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.tif");
    // 1000 × 600 in 256² blocks: 4 × 3 blocks of two distinct ones, cropped at the edges.
    let (w, h, b) = (1000u32, 600u32, 256usize);
    let land: Vec<f32> = (0..b * b).map(|i| (i % 977) as f32 * 0.25).collect();
    let sea = vec![-9999.0f32; b * b];
    let positions = [0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1];
    let gt = [-2_500_000.0, 2.0, 0.0, 1_200_000.0, 0.0, -2.0];
    CogWriter::new(w, h)
        .geotransform(gt)
        .epsg(3413, CrsKind::Projected)
        .nodata(-9999.0)
        .block_size(256)
        .write_shared_blocks(
            &[&land, &sea],
            &positions,
            std::fs::File::create(&path).expect("create"),
        )
        .expect("write");
    let info = gdalinfo(&path);
    assert_eq!(info["size"], json!([w, h]));
    assert_eq!(info["geoTransform"], json!(gt));
    let band = &info["bands"][0];
    assert_eq!(band["block"], json!([256, 256]));
    assert_eq!(band["noDataValue"], -9999.0);
    assert_eq!(band["overviews"].as_array().map_or(0, Vec::len), 0);
    // Not a COG (see the writer's docs): no ghost area, so no COG layout.
    assert!(info["metadata"]["IMAGE_STRUCTURE"].get("LAYOUT").is_none());
    let (w, h) = (w as usize, h as usize);
    let band_values: Vec<f32> = (0..w * h)
        .map(|i| {
            let (r, c) = (i / w, i % w);
            let block = if positions[(r / b) * w.div_ceil(b) + c / b] == 0 {
                &land
            } else {
                &sea
            };
            block[(r % b) * b + c % b]
        })
        .collect();
    assert_eq!(info["bands"][0]["checksum"], gdal_checksum(&band_values));
}
