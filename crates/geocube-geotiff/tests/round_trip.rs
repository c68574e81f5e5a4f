//! Written COGs decode back with the `tiff` crate: every sample type bit
//! for bit (NaN and nodata included), overviews made as documented, and
//! the georeferencing tags as given.

use std::io::Cursor;

use geocube_geotiff::{CogWriter, CrsKind, Error, Resampling, Sample, tags};
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

const W: u32 = 300;
const H: u32 = 170;
const GT: [f64; 6] = [-1_234_560.0, 10.0, 0.0, 987_650.0, 0.0, -10.0];

fn decoder(bytes: &[u8]) -> Decoder<Cursor<&[u8]>> {
    Decoder::new(Cursor::new(bytes)).expect("TIFF header")
}

/// A band with a bit of everything: a ramp, the type's extremes and nodata.
fn band<T: Copy>(n: usize, ramp: impl Fn(usize) -> T, specials: &[T]) -> Vec<T> {
    (0..n)
        .map(|i| {
            if i % 37 == 0 {
                specials[(i / 37) % specials.len()]
            } else {
                ramp(i)
            }
        })
        .collect()
}

/// Writes `data`, decodes every level and checks the full resolution bit
/// for bit and each overview against `overview(src, w, h)`.
fn check<T: Sample + std::fmt::Debug>(
    writer: &CogWriter,
    data: &[T],
    unpack: impl Fn(DecodingResult) -> Vec<T>,
    bits: impl Fn(T) -> u64,
    overview: impl Fn(&[T], usize, usize) -> Vec<T>,
) -> Vec<u8> {
    let bytes = writer.to_vec(data).expect("encode");
    let mut d = decoder(&bytes);
    let (mut expect, mut w, mut h) = (data.to_vec(), W as usize, H as usize);
    let mut level = 0;
    loop {
        assert_eq!(
            d.dimensions().expect("dims"),
            (w as u32, h as u32),
            "level {level}"
        );
        let got = unpack(d.read_image().expect("decode"));
        assert_eq!(got.len(), expect.len(), "level {level}");
        let differing = got
            .iter()
            .zip(&expect)
            .position(|(a, b)| bits(*a) != bits(*b));
        assert_eq!(differing, None, "level {level} differs at that index");
        if !d.more_images() {
            break;
        }
        d.next_image().expect("next IFD");
        expect = overview(&expect, w, h);
        (w, h, level) = (w.div_ceil(2), h.div_ceil(2), level + 1);
    }
    assert_eq!(level, 1, "300 × 170 with 256 blocks has one overview");
    bytes
}

/// The up to 2 × 2 source pixels of each overview pixel.
fn windows<T: Copy>(src: &[T], w: usize, h: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    for r in 0..h.div_ceil(2) {
        for c in 0..w.div_ceil(2) {
            let mut px = Vec::new();
            for rr in 2 * r..(2 * r + 2).min(h) {
                for cc in 2 * c..(2 * c + 2).min(w) {
                    px.push(src[rr * w + cc]);
                }
            }
            out.push(px);
        }
    }
    out
}

fn nearest<T: Copy>(src: &[T], w: usize, h: usize) -> Vec<T> {
    windows(src, w, h).into_iter().map(|px| px[0]).collect()
}

fn writer() -> CogWriter {
    CogWriter::new(W, H)
        .geotransform(GT)
        .epsg(3413, CrsKind::Projected)
        .block_size(256)
}

fn n() -> usize {
    (W * H) as usize
}

#[test]
fn f32_with_nan_and_nodata() {
    let data = band(
        n(),
        |i| (i as f32).sin() * 1000.0,
        &[-9999.0, f32::NAN, f32::MAX, f32::MIN_POSITIVE, -0.0],
    );
    let mean_of_valid = |src: &[f32], w, h| {
        windows(src, w, h)
            .into_iter()
            .map(|px| {
                let valid: Vec<f64> = px
                    .iter()
                    .filter(|v| !v.is_nan() && **v != -9999.0)
                    .map(|&v| f64::from(v))
                    .collect();
                if valid.is_empty() {
                    -9999.0
                } else {
                    (valid.iter().sum::<f64>() / valid.len() as f64) as f32
                }
            })
            .collect()
    };
    let unpack = |r| match r {
        DecodingResult::F32(v) => v,
        _ => panic!("not f32"),
    };
    let bytes = check(
        &writer().nodata(-9999.0),
        &data,
        unpack,
        |v| u64::from(v.to_bits()),
        mean_of_valid,
    );
    let mut d = decoder(&bytes);
    assert_eq!(
        d.get_tag_ascii_string(Tag::GdalNodata).expect("nodata"),
        "-9999"
    );
    assert_eq!(d.get_tag_u32(Tag::Predictor).expect("predictor"), 3);
    assert_eq!(d.get_tag_u32(Tag::SampleFormat).expect("format"), 3);
}

#[test]
fn f64_with_nan_nodata() {
    let data = band(
        n(),
        |i| i as f64 * 1e-3 + 1e300 * ((i % 2) as f64),
        &[f64::NAN, f64::MIN, f64::INFINITY],
    );
    let unpack = |r| match r {
        DecodingResult::F64(v) => v,
        _ => panic!("not f64"),
    };
    let mean_of_valid = |src: &[f64], w, h| {
        windows(src, w, h)
            .into_iter()
            .map(|px| {
                let valid: Vec<f64> = px.into_iter().filter(|v| !v.is_nan()).collect();
                if valid.is_empty() {
                    f64::NAN
                } else {
                    valid.iter().sum::<f64>() / valid.len() as f64
                }
            })
            .collect()
    };
    let bytes = check(
        &writer().nodata(f64::NAN),
        &data,
        unpack,
        f64::to_bits,
        mean_of_valid,
    );
    let mut d = decoder(&bytes);
    assert_eq!(
        d.get_tag_ascii_string(Tag::GdalNodata).expect("nodata"),
        "nan"
    );
    assert_eq!(d.get_tag_u32(Tag::BitsPerSample).expect("bits"), 64);
}

#[test]
fn u8_with_max_overviews() {
    let data = band(n(), |i| (i % 251) as u8, &[0, 255]);
    let unpack = |r| match r {
        DecodingResult::U8(v) => v,
        _ => panic!("not u8"),
    };
    let max = |src: &[u8], w, h| {
        windows(src, w, h)
            .into_iter()
            .map(|px| px.into_iter().max().unwrap_or(0))
            .collect()
    };
    let bytes = check(
        &writer().resampling(Resampling::Max),
        &data,
        unpack,
        u64::from,
        max,
    );
    let mut d = decoder(&bytes);
    assert_eq!(d.get_tag_u32(Tag::Predictor).expect("predictor"), 2);
    assert!(
        d.find_tag(Tag::GdalNodata).expect("read tag").is_none(),
        "no nodata given"
    );
}

#[test]
fn u16_nearest_by_default() {
    let data = band(n(), |i| (i * 7919 % 65536) as u16, &[0, u16::MAX]);
    let unpack = |r| match r {
        DecodingResult::U16(v) => v,
        _ => panic!("not u16"),
    };
    check(&writer().nodata(65535.0), &data, unpack, u64::from, nearest);
}

#[test]
fn i16_with_negative_nodata() {
    let data = band(
        n(),
        |i| (i as i64 * 31 % 60000 - 30000) as i16,
        &[i16::MIN, i16::MAX, -9999],
    );
    let unpack = |r| match r {
        DecodingResult::I16(v) => v,
        _ => panic!("not i16"),
    };
    let bytes = check(
        &writer().nodata(-9999.0),
        &data,
        unpack,
        |v| u64::from(v as u16),
        nearest,
    );
    let mut d = decoder(&bytes);
    assert_eq!(d.get_tag_u32(Tag::SampleFormat).expect("format"), 2);
    assert_eq!(
        d.get_tag_ascii_string(Tag::GdalNodata).expect("nodata"),
        "-9999"
    );
}

#[test]
fn i32_with_mean_rounded() {
    let data = band(
        n(),
        |i| (i as i32).wrapping_mul(2_654_435) >> 3,
        &[i32::MIN, i32::MAX, 0],
    );
    let unpack = |r| match r {
        DecodingResult::I32(v) => v,
        _ => panic!("not i32"),
    };
    let mean = |src: &[i32], w, h| {
        windows(src, w, h)
            .into_iter()
            .map(|px| {
                (px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64).round() as i32
            })
            .collect()
    };
    check(
        &writer().resampling(Resampling::Mean),
        &data,
        unpack,
        |v| u64::from(v as u32),
        mean,
    );
}

#[test]
fn bool_is_written_as_u8() {
    let data: Vec<bool> = (0..n()).map(|i| i % 3 == 0 || i % 7 == 0).collect();
    let as_u8: Vec<u8> = data.iter().map(|&b| u8::from(b)).collect();
    let bytes = writer().to_vec(&data).expect("encode");
    assert_eq!(
        bytes,
        writer()
            .resampling(Resampling::Max)
            .to_vec(&as_u8)
            .expect("encode u8"),
        "same file as the u8 band with max overviews"
    );
    let mut d = decoder(&bytes);
    let DecodingResult::U8(got) = d.read_image().expect("decode") else {
        panic!("bool is not stored as u8");
    };
    assert_eq!(got, as_u8);
}

#[test]
fn projected_georeferencing_reads_back() {
    let bytes = writer()
        .citation("WGS 84 / NSIDC Sea Ice Polar Stereographic North")
        .to_vec(&vec![1.0f32; n()])
        .expect("encode");
    let mut d = decoder(&bytes);
    assert_eq!(
        d.get_tag_f64_vec(Tag::ModelPixelScaleTag).expect("scale"),
        [10.0, 10.0, 0.0]
    );
    assert_eq!(
        d.get_tag_f64_vec(Tag::ModelTiepointTag).expect("tiepoint"),
        [0.0, 0.0, 0.0, GT[0], GT[3], 0.0]
    );
    let keys = d.get_tag_u16_vec(Tag::GeoKeyDirectoryTag).expect("geokeys");
    assert_eq!(keys[..4], [1, 1, 0, 5]);
    let key = |id: u16| {
        keys.chunks(4)
            .skip(1)
            .find(|k| k[0] == id)
            .map(|k| (k[1], k[2], k[3]))
    };
    assert_eq!(
        key(tags::geokey::GT_MODEL_TYPE),
        Some((0, 1, tags::geokey::MODEL_PROJECTED))
    );
    assert_eq!(
        key(tags::geokey::GT_RASTER_TYPE),
        Some((0, 1, tags::geokey::RASTER_PIXEL_IS_AREA))
    );
    assert_eq!(key(tags::geokey::PROJECTED_CS_TYPE), Some((0, 1, 3413)));
    assert_eq!(
        key(tags::geokey::PROJ_LINEAR_UNITS),
        Some((0, 1, tags::geokey::UNIT_METRE))
    );
    assert_eq!(
        key(tags::geokey::GT_CITATION),
        Some((Tag::GeoAsciiParamsTag.to_u16(), 49, 0))
    );
    assert_eq!(
        d.get_tag_ascii_string(Tag::GeoAsciiParamsTag)
            .expect("ascii params"),
        "WGS 84 / NSIDC Sea Ice Polar Stereographic North|"
    );
    let ids: Vec<u16> = keys.chunks(4).skip(1).map(|k| k[0]).collect();
    assert!(ids.is_sorted(), "GeoKeys sorted by id: {ids:?}");
    // Only the full-resolution image carries georeferencing.
    d.next_image().expect("overview");
    assert_eq!(d.get_tag_u32(Tag::NewSubfileType).expect("subfile type"), 1);
    assert!(
        d.find_tag(Tag::GeoKeyDirectoryTag)
            .expect("read tag")
            .is_none()
    );
}

#[test]
fn geographic_georeferencing_reads_back() {
    let (w, h) = (360u32, 180u32);
    let data: Vec<i16> = (0..w * h).map(|i| (i % 1000) as i16).collect();
    let bytes = CogWriter::new(w, h)
        .geotransform([-180.0, 1.0, 0.0, 90.0, 0.0, -1.0])
        .epsg(4326, CrsKind::Geographic)
        .overviews(false)
        .to_vec(&data)
        .expect("encode");
    let mut d = decoder(&bytes);
    assert!(!d.more_images(), "no overviews asked for");
    assert_eq!(d.chunk_dimensions(), (512, 512), "default block size");
    assert_eq!(
        d.get_tag_f64_vec(Tag::ModelPixelScaleTag).expect("scale"),
        [1.0, 1.0, 0.0]
    );
    assert_eq!(
        d.get_tag_f64_vec(Tag::ModelTiepointTag).expect("tiepoint"),
        [0.0, 0.0, 0.0, -180.0, 90.0, 0.0]
    );
    let keys = d.get_tag_u16_vec(Tag::GeoKeyDirectoryTag).expect("geokeys");
    assert_eq!(
        keys,
        [
            1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2054, 0, 1, 9102
        ]
    );
    let DecodingResult::I16(got) = d.read_image().expect("decode") else {
        panic!("not i16");
    };
    assert_eq!(got, data);
}

#[test]
fn without_georeferencing_there_are_no_geotiff_tags() {
    let bytes = CogWriter::new(1, 1).to_vec(&[7u8]).expect("encode");
    let mut d = decoder(&bytes);
    for tag in [
        Tag::ModelPixelScaleTag,
        Tag::ModelTiepointTag,
        Tag::GeoKeyDirectoryTag,
        Tag::GdalNodata,
    ] {
        assert!(d.find_tag(tag).expect("read tag").is_none(), "{tag:?}");
    }
    let DecodingResult::U8(got) = d.read_image().expect("decode") else {
        panic!("not u8");
    };
    assert_eq!(got, [7]);
}

/// A writer that fails after a few bytes.
struct Failing(usize);

impl std::io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0 < buf.len() {
            return Err(std::io::Error::other("disk full"));
        }
        self.0 -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn output_errors_are_io_errors() {
    let err = writer()
        .write(&vec![0u8; n()], Failing(100))
        .expect_err("the sink fails");
    assert!(matches!(err, Error::Io(_)), "{err}");
}

/// The band a shared-block file stands for: block `positions[i]` of
/// `distinct`, cropped to the image.
fn expand<T: Copy>(
    distinct: &[Vec<T>],
    positions: &[usize],
    (w, h): (usize, usize),
    b: usize,
) -> Vec<T> {
    let across = w.div_ceil(b);
    let mut out = Vec::with_capacity(w * h);
    for r in 0..h {
        for c in 0..w {
            let block = &distinct[positions[(r / b) * across + c / b]];
            out.push(block[(r % b) * b + c % b]);
        }
    }
    out
}

#[test]
fn shared_blocks_decode_to_the_band_they_stand_for() {
    // 300 × 170 in 64² blocks: 5 × 3 blocks, the last column and row cropped.
    let b = 64;
    let distinct: Vec<Vec<f32>> = (0..3)
        .map(|k| {
            (0..b * b)
                .map(|i| {
                    if k == 2 {
                        -9999.0
                    } else {
                        (i * (k + 1)) as f32 * 0.125
                    }
                })
                .collect()
        })
        .collect();
    let positions: Vec<usize> = (0..15).map(|i| (i * 7 + i / 5) % 3).collect();
    let refs: Vec<&[f32]> = distinct.iter().map(Vec::as_slice).collect();
    let mut bytes = Vec::new();
    let len = writer()
        .block_size(64)
        .nodata(-9999.0)
        .write_shared_blocks(&refs, &positions, &mut bytes)
        .expect("encode");
    assert_eq!(len, bytes.len() as u64);
    // Three distinct blocks of 16 KiB raw: the file holds three, not fifteen.
    assert!(bytes.len() < 3 * 64 * 64 * 4, "{} bytes", bytes.len());
    let mut d = decoder(&bytes);
    assert_eq!(d.dimensions().expect("dims"), (W, H));
    assert_eq!(d.chunk_dimensions(), (64, 64));
    let offsets = d.get_tag_u64_vec(Tag::TileOffsets).expect("offsets");
    let unique: std::collections::BTreeSet<u64> = offsets.iter().copied().collect();
    assert_eq!((offsets.len(), unique.len()), (15, 3));
    let DecodingResult::F32(got) = d.read_image().expect("decode") else {
        panic!("not f32");
    };
    let want = expand(&distinct, &positions, (W as usize, H as usize), b);
    assert!(
        got.iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(got.len(), want.len());
    assert!(!d.more_images(), "no overviews");
    assert_eq!(
        d.get_tag_ascii_string(Tag::GdalNodata).expect("nodata"),
        "-9999"
    );
    assert_eq!(
        d.get_tag_f64_vec(Tag::ModelTiepointTag).expect("tiepoint"),
        [0.0, 0.0, 0.0, GT[0], GT[3], 0.0]
    );
}
