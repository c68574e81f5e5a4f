//! A minimal Cloud-Optimized GeoTIFF writer: classic little-endian TIFF,
//! one band, square internal tiles, DEFLATE with a predictor, GeoTIFF
//! georeferencing and GDAL's COG layout (ghost header, every IFD before the
//! tile data, overviews smallest first, block leaders and trailers).

use rayon::prelude::*;

/// TIFF field types used here.
const SHORT: u16 = 3;
const LONG: u16 = 4;
const ASCII: u16 = 2;
const DOUBLE: u16 = 12;

/// TIFF and GeoTIFF tags used here.
pub(crate) mod tag {
    pub(crate) const NEW_SUBFILE_TYPE: u16 = 254;
    pub(crate) const IMAGE_WIDTH: u16 = 256;
    pub(crate) const IMAGE_LENGTH: u16 = 257;
    pub(crate) const BITS_PER_SAMPLE: u16 = 258;
    pub(crate) const COMPRESSION: u16 = 259;
    pub(crate) const PHOTOMETRIC: u16 = 262;
    pub(crate) const SAMPLES_PER_PIXEL: u16 = 277;
    pub(crate) const PLANAR_CONFIGURATION: u16 = 284;
    pub(crate) const PREDICTOR: u16 = 317;
    pub(crate) const TILE_WIDTH: u16 = 322;
    pub(crate) const TILE_LENGTH: u16 = 323;
    pub(crate) const TILE_OFFSETS: u16 = 324;
    pub(crate) const TILE_BYTE_COUNTS: u16 = 325;
    pub(crate) const SAMPLE_FORMAT: u16 = 339;
    pub(crate) const MODEL_PIXEL_SCALE: u16 = 33550;
    pub(crate) const MODEL_TIEPOINT: u16 = 33922;
    pub(crate) const GEO_KEY_DIRECTORY: u16 = 34735;
    pub(crate) const GDAL_NODATA: u16 = 42113;
}

/// A pixel type the writer can store.
pub(crate) trait Sample: Copy + Send + Sync + 'static {
    /// BitsPerSample.
    const BITS: u16;
    /// SampleFormat (1 unsigned integer, 3 IEEE float).
    const SAMPLE_FORMAT: u16;
    /// Predictor (2 horizontal differencing, 3 floating point).
    const PREDICTOR: u16;
    /// Appends one predicted row of samples to `out`.
    fn predict_row(row: &[Self], out: &mut Vec<u8>);
}

impl Sample for f32 {
    const BITS: u16 = 32;
    const SAMPLE_FORMAT: u16 = 3;
    const PREDICTOR: u16 = 3;

    /// libtiff's `fpDiff`: split the row into byte planes, most significant
    /// first, then difference the bytes of the whole row.
    fn predict_row(row: &[f32], out: &mut Vec<u8>) {
        let w = row.len();
        let start = out.len();
        out.resize(start + 4 * w, 0);
        let planes = &mut out[start..];
        for (i, v) in row.iter().enumerate() {
            for (b, byte) in v.to_be_bytes().into_iter().enumerate() {
                planes[b * w + i] = byte;
            }
        }
        for j in (1..planes.len()).rev() {
            planes[j] = planes[j].wrapping_sub(planes[j - 1]);
        }
    }
}

impl Sample for u8 {
    const BITS: u16 = 8;
    const SAMPLE_FORMAT: u16 = 1;
    const PREDICTOR: u16 = 2;

    fn predict_row(row: &[u8], out: &mut Vec<u8>) {
        let mut prev = 0u8;
        out.extend(row.iter().map(|&v| {
            let d = v.wrapping_sub(prev);
            prev = v;
            d
        }));
    }
}

/// Georeferencing of the full-resolution image (north-up, square pixels).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GeoRef {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) resolution: f64,
    pub(crate) epsg: u16,
}

/// What to write besides the pixels.
#[derive(Clone, Debug)]
pub(crate) struct CogOptions {
    /// Internal tile size in pixels.
    pub(crate) block: u32,
    /// GDAL_NODATA text, if the band has a nodata value.
    pub(crate) nodata: Option<String>,
    pub(crate) georef: GeoRef,
}

/// One raster level (full resolution or an overview).
struct Level<T> {
    width: u32,
    height: u32,
    data: Vec<T>,
}

/// Halves a level; `reduce` combines the up to four source pixels of one
/// output pixel.
fn downsample<T: Sample>(src: &Level<T>, reduce: &(dyn Fn(&[T]) -> T + Sync)) -> Level<T> {
    let (w, h) = (src.width.div_ceil(2), src.height.div_ceil(2));
    let (sw, sh) = (src.width as usize, src.height as usize);
    let data = (0..h as usize)
        .into_par_iter()
        .flat_map_iter(|r| {
            let mut px = Vec::with_capacity(4);
            (0..w as usize)
                .map(move |c| {
                    px.clear();
                    for rr in (2 * r)..(2 * r + 2).min(sh) {
                        for cc in (2 * c)..(2 * c + 2).min(sw) {
                            px.push(src.data[rr * sw + cc]);
                        }
                    }
                    reduce(&px)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Level {
        width: w,
        height: h,
        data,
    }
}

/// Compresses every block of a level, row-major, edge blocks padded with `fill`.
fn encode_blocks<T: Sample>(level: &Level<T>, block: u32, fill: T) -> Vec<Vec<u8>> {
    let bx = level.width.div_ceil(block);
    let by = level.height.div_ceil(block);
    let b = block as usize;
    let w = level.width as usize;
    (0..bx * by)
        .into_par_iter()
        .map(|i| {
            let (r0, c0) = ((i / bx * block) as usize, (i % bx * block) as usize);
            let mut raw = Vec::with_capacity(b * b * usize::from(T::BITS / 8));
            let mut row = vec![fill; b];
            for r in r0..r0 + b {
                row.fill(fill);
                if r < level.height as usize {
                    let n = b.min(w - c0);
                    row[..n].copy_from_slice(&level.data[r * w + c0..r * w + c0 + n]);
                }
                T::predict_row(&row, &mut raw);
            }
            // miniz_oxide directly, not through flate2: flate2's backend is
            // chosen by cargo feature unification, and another backend would
            // change the fixture bytes.
            miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6)
        })
        .collect()
}

/// One IFD entry before layout: tag, type, count and the value bytes.
struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    bytes: Vec<u8>,
}

fn shorts(tag: u16, v: &[u16]) -> Entry {
    Entry {
        tag,
        typ: SHORT,
        count: u32::try_from(v.len()).unwrap_or(u32::MAX),
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn longs(tag: u16, v: &[u32]) -> Entry {
    Entry {
        tag,
        typ: LONG,
        count: u32::try_from(v.len()).unwrap_or(u32::MAX),
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn doubles(tag: u16, v: &[f64]) -> Entry {
    Entry {
        tag,
        typ: DOUBLE,
        count: u32::try_from(v.len()).unwrap_or(u32::MAX),
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn ascii(tag: u16, s: &str) -> Entry {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    Entry {
        tag,
        typ: ASCII,
        count: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        bytes,
    }
}

/// The IFD entries of one level; `offsets`/`counts` locate its blocks.
fn level_entries<T: Sample>(
    level: &Level<T>,
    index: usize,
    opts: &CogOptions,
    offsets: &[u32],
    counts: &[u32],
) -> Vec<Entry> {
    let block = u16::try_from(opts.block).unwrap_or(u16::MAX);
    let mut e = Vec::new();
    if index > 0 {
        // Reduced-resolution version of the first image.
        e.push(longs(tag::NEW_SUBFILE_TYPE, &[1]));
    }
    e.push(longs(tag::IMAGE_WIDTH, &[level.width]));
    e.push(longs(tag::IMAGE_LENGTH, &[level.height]));
    e.push(shorts(tag::BITS_PER_SAMPLE, &[T::BITS]));
    e.push(shorts(tag::COMPRESSION, &[8]));
    e.push(shorts(tag::PHOTOMETRIC, &[1]));
    e.push(shorts(tag::SAMPLES_PER_PIXEL, &[1]));
    e.push(shorts(tag::PLANAR_CONFIGURATION, &[1]));
    e.push(shorts(tag::PREDICTOR, &[T::PREDICTOR]));
    e.push(shorts(tag::TILE_WIDTH, &[block]));
    e.push(shorts(tag::TILE_LENGTH, &[block]));
    e.push(longs(tag::TILE_OFFSETS, offsets));
    e.push(longs(tag::TILE_BYTE_COUNTS, counts));
    e.push(shorts(tag::SAMPLE_FORMAT, &[T::SAMPLE_FORMAT]));
    if index == 0 {
        let g = opts.georef;
        e.push(doubles(
            tag::MODEL_PIXEL_SCALE,
            &[g.resolution, g.resolution, 0.0],
        ));
        e.push(doubles(
            tag::MODEL_TIEPOINT,
            &[0.0, 0.0, 0.0, g.left, g.top, 0.0],
        ));
        // Header (version 1.1.0, 4 keys), then GTModelType = projected,
        // GTRasterType = PixelIsArea, ProjectedCSType = EPSG code,
        // ProjLinearUnits = metre.
        e.push(shorts(
            tag::GEO_KEY_DIRECTORY,
            &[
                1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, g.epsg, 3076, 0, 1, 9001,
            ],
        ));
    }
    if let Some(nodata) = &opts.nodata {
        e.push(ascii(tag::GDAL_NODATA, nodata));
    }
    e.sort_by_key(|x| x.tag);
    e
}

/// Size of an IFD and its out-of-line values, each value word-aligned.
fn ifd_size(entries: &[Entry]) -> u32 {
    let fixed = 2 + 12 * entries.len() + 4;
    let values: usize = entries
        .iter()
        .filter(|e| e.bytes.len() > 4)
        .map(|e| e.bytes.len().next_multiple_of(2))
        .sum();
    u32::try_from(fixed + values).unwrap_or(u32::MAX)
}

/// Appends the IFD at `out.len()`, its values right after it.
fn write_ifd(out: &mut Vec<u8>, entries: &[Entry], next_ifd: u32) {
    let start = out.len();
    let mut value_pos = start + 2 + 12 * entries.len() + 4;
    let mut values = Vec::new();
    out.extend_from_slice(
        &u16::try_from(entries.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    for e in entries {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.typ.to_le_bytes());
        out.extend_from_slice(&e.count.to_le_bytes());
        if e.bytes.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..e.bytes.len()].copy_from_slice(&e.bytes);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&u32::try_from(value_pos).unwrap_or(u32::MAX).to_le_bytes());
            values.extend_from_slice(&e.bytes);
            if e.bytes.len() % 2 == 1 {
                values.push(0);
            }
            value_pos = start + 2 + 12 * entries.len() + 4 + values.len();
        }
    }
    out.extend_from_slice(&next_ifd.to_le_bytes());
    out.extend_from_slice(&values);
}

/// GDAL's structural metadata ("ghost area") announcing the COG layout.
fn ghost_area() -> Vec<u8> {
    let body = "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n\
                BLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n ";
    format!(
        "GDAL_STRUCTURAL_METADATA_SIZE={:06} bytes\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Encodes `data` (`width × height`, row-major) as a COG with overviews
/// down to one block, made by `reduce`; edge blocks are padded with `fill`.
pub(crate) fn encode_cog<T: Sample>(
    data: Vec<T>,
    width: u32,
    height: u32,
    opts: &CogOptions,
    fill: T,
    reduce: &(dyn Fn(&[T]) -> T + Sync),
) -> Vec<u8> {
    let mut levels = vec![Level {
        width,
        height,
        data,
    }];
    while let Some(last) = levels
        .last()
        .filter(|l| l.width > opts.block || l.height > opts.block)
    {
        let next = downsample(last, reduce);
        levels.push(next);
    }
    let blocks: Vec<Vec<Vec<u8>>> = levels
        .iter()
        .map(|l| encode_blocks(l, opts.block, fill))
        .collect();

    // Pass 1: sizes of the header region (independent of the offsets' values).
    let ghost = ghost_area();
    let header_len = (8 + ghost.len()).next_multiple_of(2);
    let ifd_sizes: Vec<u32> = levels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let n = blocks[i].len();
            ifd_size(&level_entries(l, i, opts, &vec![0; n], &vec![0; n]))
        })
        .collect();
    let data_start = u32::try_from(header_len).unwrap_or(u32::MAX) + ifd_sizes.iter().sum::<u32>();

    // Pass 2: block offsets, smallest overview first, each block framed by
    // a 4-byte size leader and a copy of its last 4 bytes.
    let mut offsets: Vec<Vec<u32>> = vec![Vec::new(); levels.len()];
    let mut pos = data_start;
    for i in (0..levels.len()).rev() {
        for b in &blocks[i] {
            pos += 4;
            offsets[i].push(pos);
            pos += u32::try_from(b.len()).unwrap_or(u32::MAX) + 4;
        }
    }

    let mut out = Vec::with_capacity(pos as usize);
    out.extend_from_slice(b"II");
    out.extend_from_slice(&42u16.to_le_bytes());
    out.extend_from_slice(&u32::try_from(header_len).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&ghost);
    out.resize(header_len, 0);
    let mut ifd_pos = u32::try_from(header_len).unwrap_or(0);
    for (i, l) in levels.iter().enumerate() {
        let counts: Vec<u32> = blocks[i]
            .iter()
            .map(|b| u32::try_from(b.len()).unwrap_or(0))
            .collect();
        let entries = level_entries(l, i, opts, &offsets[i], &counts);
        let next = if i + 1 < levels.len() {
            ifd_pos + ifd_sizes[i]
        } else {
            0
        };
        write_ifd(&mut out, &entries, next);
        ifd_pos += ifd_sizes[i];
    }
    debug_assert_eq!(out.len(), data_start as usize);
    for level_blocks in blocks.iter().rev() {
        for b in level_blocks {
            out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(0).to_le_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(&b[b.len().saturating_sub(4)..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_predictor_matches_libtiff_layout() {
        let mut out = Vec::new();
        f32::predict_row(&[1.0, 2.0], &mut out);
        // Big-endian planes of 1.0 = 3F800000 and 2.0 = 40000000:
        // [3F 40 | 80 00 | 00 00 | 00 00], then byte differences.
        let planes = [0x3Fu8, 0x40, 0x80, 0x00, 0, 0, 0, 0];
        let mut expect = planes;
        for j in (1..expect.len()).rev() {
            expect[j] = planes[j].wrapping_sub(planes[j - 1]);
        }
        assert_eq!(out, expect);
    }

    #[test]
    fn ghost_area_size_is_self_consistent() {
        let g = String::from_utf8(ghost_area()).unwrap_or_default();
        let (first, rest) = g.split_once('\n').unwrap_or_default();
        assert_eq!(
            first,
            format!("GDAL_STRUCTURAL_METADATA_SIZE={:06} bytes", rest.len())
        );
        assert_eq!(rest.len(), 140);
    }
}
