//! The tile-by-tile writer: tiles in any order (some never written) read
//! back as the band with nodata there, by the `tiff` crate and by GDAL,
//! as classic TIFF and as BigTIFF; misuse is an error.

use std::path::Path;

use geocube_geotiff::{CogWriter, CrsKind, Error, Sample, TiffFormat, TileWriter, gdal_checksum};
use serde_json::json;
use tiff::decoder::{Decoder, DecodingResult};

const W: u32 = 700;
const H: u32 = 300;
const BLOCK: u32 = 128;
const NODATA: f32 = -9999.0;
const GT: [f64; 6] = [-2_500_000.0, 32.0, 0.0, 1_200_000.0, 0.0, -32.0];

fn writer() -> CogWriter {
    CogWriter::new(W, H)
        .geotransform(GT)
        .epsg(3413, CrsKind::Projected)
        .block_size(BLOCK)
        .nodata(f64::from(NODATA))
}

#[allow(clippy::cast_precision_loss)]
fn band() -> Vec<f32> {
    (0..W * H)
        .map(|i| {
            if i.is_multiple_of(13) {
                NODATA
            } else if i.is_multiple_of(29) {
                f32::NAN
            } else {
                (i as f32 * 0.37).sin() * 2500.0
            }
        })
        .collect()
}

/// Tiles (col, row) to leave out: they come back as nodata.
fn skipped(col: u32, row: u32) -> bool {
    (col + 2 * row).is_multiple_of(5)
}

/// Inner tiles (all of one shape, so of the same bytes) written shared,
/// all holding [`CONSTANT`]: one copy in the file.
fn constant(col: u32, row: u32) -> bool {
    !skipped(col, row) && col < W / BLOCK && row < H / BLOCK && (col + row).is_multiple_of(3)
}

const CONSTANT: f32 = 42.5;

/// The band as the file holds it: skipped tiles are nodata, constant
/// tiles constant.
fn expected(data: &[f32]) -> Vec<f32> {
    let mut out = data.to_vec();
    for r in 0..H {
        for c in 0..W {
            if skipped(c / BLOCK, r / BLOCK) {
                out[(r * W + c) as usize] = NODATA;
            } else if constant(c / BLOCK, r / BLOCK) {
                out[(r * W + c) as usize] = CONSTANT;
            }
        }
    }
    out
}

/// The pixels of tile (col, row), row-major, cut at the edges.
fn tile_of(data: &[f32], col: u32, row: u32, (tw, th): (u32, u32)) -> Vec<f32> {
    let mut out = Vec::with_capacity((tw * th) as usize);
    for r in row * BLOCK..row * BLOCK + th {
        let start = (r * W + col * BLOCK) as usize;
        out.extend_from_slice(&data[start..start + tw as usize]);
    }
    out
}

/// Write the band into `path` tile by tile, bottom-right first, compressing
/// a row of tiles at a time on several threads.
fn stream(path: &Path, format: TiffFormat, data: &[f32]) -> u64 {
    let file = std::fs::File::create(path).expect("create");
    let mut tiles: TileWriter<f32, _> = writer().stream_as(format, file).expect("stream");
    assert_eq!(tiles.format(), format);
    let (across, down) = tiles.tiles();
    assert_eq!((across, down), (W.div_ceil(BLOCK), H.div_ceil(BLOCK)));
    for row in (0..down).rev() {
        let encoded: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..across)
                .filter(|col| !skipped(*col, row) && !constant(*col, row))
                .map(|col| {
                    let tiles = &tiles;
                    s.spawn(move || {
                        let shape = tiles.tile_shape(col, row).expect("in range");
                        let px = tile_of(data, col, row, shape);
                        (col, tiles.encode_tile(col, row, &px).expect("encode"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        for (col, tile) in encoded.iter().rev() {
            tiles.write_encoded(*col, row, tile).expect("write");
        }
        for col in (0..across).filter(|c| constant(*c, row)) {
            let tile = tiles
                .encode_tile(col, row, &[CONSTANT; (BLOCK * BLOCK) as usize])
                .expect("constant");
            tiles.write_shared(col, row, &tile).expect("shared");
        }
    }
    let len = tiles.finish().expect("finish");
    assert_eq!(len, std::fs::metadata(path).expect("meta").len());
    len
}

/// Bytes of the band's tiles written each on their own (what the file
/// would hold without sharing), for comparison.
fn unshared_len(data: &[f32]) -> u64 {
    let mut tiles: TileWriter<f32, _> = writer()
        .stream_as(TiffFormat::Classic, std::io::Cursor::new(Vec::new()))
        .expect("stream");
    let want = expected(data);
    let (across, down) = tiles.tiles();
    for row in 0..down {
        for col in 0..across {
            let shape = tiles.tile_shape(col, row).expect("in range");
            tiles
                .write_tile(col, row, &tile_of(&want, col, row, shape))
                .expect("write");
        }
    }
    tiles.finish().expect("finish")
}

fn decode(path: &Path) -> Vec<f32> {
    let mut d = Decoder::new(std::fs::File::open(path).expect("open")).expect("tiff");
    assert_eq!(d.dimensions().expect("dims"), (W, H));
    match d.read_image().expect("pixels") {
        DecodingResult::F32(v) => v,
        other => panic!("not f32: {other:?}"),
    }
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn streamed_tiles_read_back_as_the_band() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = band();
    let want = expected(&data);
    for format in [TiffFormat::Classic, TiffFormat::BigTiff] {
        let path = dir.path().join(format!("{format:?}.tif"));
        stream(&path, format, &data);
        assert!(same_bits(&decode(&path), &want), "{format:?}");
        let magic = std::fs::read(&path).expect("read")[2];
        assert_eq!(
            magic,
            if format == TiffFormat::Classic {
                42
            } else {
                43
            }
        );
        if format == TiffFormat::Classic {
            // Shared and filled tiles are stored once.
            let len = std::fs::metadata(&path).expect("meta").len();
            let each = unshared_len(&data);
            assert!(len < each, "{len} vs {each}");
        }
    }
}

#[test]
fn gdal_reads_streamed_files_as_the_cog_of_the_same_band() {
    if !geocube_testkit::gdal::gdalinfo_available() {
        eprintln!("skipping: gdalinfo is not on PATH (install gdal-bin)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = band();
    let want = expected(&data);
    let cog = dir.path().join("cog.tif");
    writer()
        .write(&want, std::fs::File::create(&cog).expect("create"))
        .expect("cog");
    let info = |p: &Path| {
        let i = geocube_testkit::gdal::gdalinfo(p, &["-checksum"]).expect("gdalinfo");
        assert!(i.stderr.is_empty(), "GDAL warned: {}", i.stderr);
        i.json
    };
    let cog_info = info(&cog);
    for format in [TiffFormat::Classic, TiffFormat::BigTiff] {
        let path = dir.path().join(format!("{format:?}.tif"));
        stream(&path, format, &data);
        let got = info(&path);
        let band = &got["bands"][0];
        assert_eq!(band["checksum"], gdal_checksum(&want), "{format:?}");
        assert_eq!(band["checksum"], cog_info["bands"][0]["checksum"]);
        assert_eq!(band["type"], f32::TYPE.gdal_name());
        assert_eq!(band["block"], json!([BLOCK, BLOCK]));
        assert_eq!(band["noDataValue"], json!(-9999.0));
        assert_eq!(got["geoTransform"], json!(GT));
        assert_eq!(got["size"], json!([W, H]));
        assert_eq!(
            got["coordinateSystem"]["wkt"],
            cog_info["coordinateSystem"]["wkt"]
        );
        assert_eq!(got["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"], "DEFLATE");
    }
}

#[test]
fn the_format_follows_the_largest_file_the_band_can_make() {
    let small = writer()
        .stream::<f32, _>(std::io::Cursor::new(Vec::new()))
        .expect("small");
    assert_eq!(small.format(), TiffFormat::Classic);
    // 40000² f32 is 6.4 GB uncompressed: it may not fit 4 GiB.
    let big = CogWriter::new(40_000, 40_000)
        .block_size(512)
        .stream::<f32, _>(std::io::Cursor::new(Vec::new()))
        .expect("big");
    assert_eq!(big.format(), TiffFormat::BigTiff);
    assert_eq!(big.tiles(), (79, 79));
    // The same u8 band fits.
    let bytes = CogWriter::new(40_000, 40_000)
        .block_size(512)
        .stream::<u8, _>(std::io::Cursor::new(Vec::new()))
        .expect("u8");
    assert_eq!(bytes.format(), TiffFormat::Classic);
}

#[test]
fn misuse_is_an_error() {
    let mut tiles = writer()
        .stream::<f32, _>(std::io::Cursor::new(Vec::new()))
        .expect("stream");
    let (across, down) = tiles.tiles();
    assert!(matches!(
        tiles.write_tile(across, 0, &[0.0; 1]),
        Err(Error::TileOutOfRange { .. })
    ));
    assert_eq!(tiles.tile_shape(0, down), None);
    assert!(matches!(
        tiles.write_tile(0, 0, &[0.0; 5]),
        Err(Error::DataLength { .. })
    ));
    let full = vec![1.0f32; (BLOCK * BLOCK) as usize];
    tiles.write_tile(0, 0, &full).expect("first");
    assert!(matches!(
        tiles.write_tile(0, 0, &full),
        Err(Error::TileWrittenTwice { col: 0, row: 0 })
    ));
    // An edge tile's compressed bytes do not fit an inner tile.
    let last = tiles.tile_shape(across - 1, 0).expect("edge");
    let edge = tiles
        .encode_tile(across - 1, 0, &vec![2.0; (last.0 * last.1) as usize])
        .expect("encode");
    assert!(matches!(
        tiles.write_encoded(1, 0, &edge),
        Err(Error::TileShape { .. })
    ));
    tiles
        .write_encoded(across - 1, 0, &edge)
        .expect("edge fits");
    // Options are checked before anything is written.
    assert!(matches!(
        CogWriter::new(10, 10)
            .nodata(0.5)
            .stream::<u8, _>(std::io::Cursor::new(Vec::new())),
        Err(Error::Nodata { .. })
    ));
    assert!(matches!(
        CogWriter::new(0, 10).stream::<u8, _>(std::io::Cursor::new(Vec::new())),
        Err(Error::EmptyImage { .. })
    ));
}
