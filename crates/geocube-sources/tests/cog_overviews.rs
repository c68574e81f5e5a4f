//! COG overviews: listed as GDAL lists them, opened with the georeference
//! GDAL gives them, read bit for bit as rasterio reads them, chosen as
//! odc-stac chooses them; malformed chains of directories are typed errors.
//!
//! Files of geocube's own writer are checked without Python too (their
//! levels' sizes, georeferences and nearest-neighbour pixels follow from
//! the writer's rule). Files GDAL writes (the COG driver, and GTiffs with
//! `build_overviews`, one with an internal mask) and the writer's files are
//! checked against rasterio, and [`pick_overview`] against odc-loader and
//! odc-geo themselves, with the test venv's Python
//! (`geocube_testkit::python`: `GEOCUBE_PYTHON`, else `target/pyenv`);
//! without it those tests skip, except on CI.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use geocube_core::{Affine, DType, TypedArray, Window};
use geocube_geotiff::{CogWriter, CrsKind, Resampling};
use geocube_sources::cog::{
    ByteSource, Cog, FileByteSource, MAX_OVERVIEWS, MemoryByteSource, OverviewInfo, pick_overview,
};
use geocube_sources::geotiff::RasterType;
use geocube_sources::http::RangeBytes;
use geocube_sources::{Error, Result};
use geocube_testkit::fuzz::bytes::write_word;
use geocube_testkit::fuzz::tiff::{TiffLayout, layout};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

const ORIGIN: (f64, f64) = (-1_584_000.0, 1_584_000.0);

/// A uint16 COG of the writer (nearest-neighbour overviews halving down
/// to one `block`), with nodata 65535 and the value of pixel (r, c) given
/// by [`u16_pixel`].
fn writer_u16(width: u32, height: u32, block: u32) -> Vec<u8> {
    let data: Vec<u16> = (0..height as usize)
        .flat_map(|r| (0..width as usize).map(move |c| u16_pixel(r, c)))
        .collect();
    CogWriter::new(width, height)
        .geotransform([ORIGIN.0, 32.0, 0.0, ORIGIN.1, 0.0, -32.0])
        .epsg(3413, CrsKind::Projected)
        .block_size(block)
        .nodata(65535.0)
        .resampling(Resampling::Nearest)
        .to_vec(&data)
        .unwrap()
}

fn u16_pixel(r: usize, c: usize) -> u16 {
    ((r * 1009 + c * 7) % 65000) as u16
}

/// A float32 COG of the writer (mean overviews), nodata -9999 with holes.
fn writer_f32(width: u32, height: u32, block: u32) -> Vec<u8> {
    let data: Vec<f32> = (0..(width * height) as usize)
        .map(|i| {
            if i % 41 == 0 {
                -9999.0
            } else {
                (i % 997) as f32 * 0.25 - 30.0
            }
        })
        .collect();
    CogWriter::new(width, height)
        .geotransform([ORIGIN.0, 10.0, 0.0, ORIGIN.1, 0.0, -10.0])
        .epsg(3413, CrsKind::Projected)
        .block_size(block)
        .nodata(-9999.0)
        .to_vec(&data)
        .unwrap()
}

fn open(bytes: Vec<u8>) -> Cog {
    Cog::open(Arc::new(MemoryByteSource::new("mem.tif", bytes))).unwrap()
}

fn tiff_reason<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(Error::Tiff { reason, .. }) => reason,
        other => panic!("expected a TIFF error, got {other:?}"),
    }
}

fn tiff_layout(bytes: &[u8]) -> TiffLayout {
    layout(bytes).unwrap()
}

/// Overwrite the next-directory pointer of directory `ifd`.
fn set_next(bytes: &mut [u8], ifd: usize, value: u64) {
    let l = tiff_layout(bytes);
    write_word(bytes, l.ifds[ifd].next_at, value, l.word(), l.little);
}

/// Overwrite the inline value of `tag` in directory `ifd` (an existing
/// one-value entry).
fn set_inline(bytes: &mut [u8], ifd: usize, tag: u16, value: u64) {
    let l = tiff_layout(bytes);
    let e = l.ifds[ifd].entries.iter().find(|e| e.tag == tag).unwrap();
    let width = match e.field_type {
        3 => 2,
        4 => 4,
        16 => 8,
        t => panic!("tag {tag} has type {t}"),
    };
    write_word(bytes, e.value_at, value, width, l.little);
}

/// Overwrite the tag number of entry `tag` of directory `ifd`.
fn retag(bytes: &mut [u8], ifd: usize, tag: u16, new: u16) {
    let l = tiff_layout(bytes);
    let e = l.ifds[ifd].entries.iter().find(|e| e.tag == tag).unwrap();
    write_word(bytes, e.at, u64::from(new), 2, l.little);
}

/// The NewSubfileType of every directory (0 when absent).
fn subfile_types(bytes: &[u8]) -> Vec<u64> {
    let l = tiff_layout(bytes);
    l.ifds
        .iter()
        .map(|ifd| {
            ifd.entries.iter().find(|e| e.tag == 254).map_or(0, |e| {
                let s = &bytes[e.value_at..e.value_at + 4];
                if l.little {
                    u64::from(u32::from_le_bytes(s.try_into().unwrap()))
                } else {
                    u64::from(u32::from_be_bytes(s.try_into().unwrap()))
                }
            })
        })
        .collect()
}

/// `bytes` with `n` copies of directory `ifd` (of a classic TIFF)
/// appended and chained after the last directory, each copy's
/// NewSubfileType set to `subfile`. The copies point at the same tiles.
fn append_copies(mut bytes: Vec<u8>, ifd: usize, n: usize, subfile: u64) -> Vec<u8> {
    // Positions within a copy: the testkit's layout walks 32 directories
    // at most, so the chain is extended without walking it again.
    let l = tiff_layout(&bytes);
    assert!(!l.big && l.little);
    let d = &l.ifds[ifd];
    let dir = bytes[d.at..d.next_at + 4].to_vec();
    let next_rel = d.next_at - d.at;
    let subfile_rel = d.entries.iter().find(|e| e.tag == 254).unwrap().value_at - d.at;
    let mut prev_next_at = l.ifds.last().unwrap().next_at;
    for _ in 0..n {
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let at = bytes.len();
        write_word(&mut bytes, prev_next_at, at as u64, 4, true);
        bytes.extend_from_slice(&dir);
        write_word(&mut bytes, at + next_rel, 0, 4, true);
        write_word(&mut bytes, at + subfile_rel, subfile, 4, true);
        prev_next_at = at + next_rel;
    }
    bytes
}

/// A source that counts its range requests, and fails them with a
/// retryable transport error once `fail` is set.
struct Counting {
    inner: MemoryByteSource,
    requests: AtomicUsize,
    fail: AtomicBool,
}

impl Counting {
    fn new(bytes: Vec<u8>) -> Self {
        Self {
            inner: MemoryByteSource::new("counted.tif", bytes),
            requests: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        }
    }
}

impl ByteSource for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Transport {
                url: "counted.tif".into(),
                reason: "connection reset".into(),
                retryable: true,
            });
        }
        self.inner.read_range(start, len)
    }
}

/// The samples of `a`, little-endian, as numpy's `tofile` writes them.
fn le_bytes(a: &TypedArray) -> Vec<u8> {
    fn bytes<T: Copy, const N: usize>(a: &ndarray::ArrayD<T>, f: fn(T) -> [u8; N]) -> Vec<u8> {
        a.iter().flat_map(|&v| f(v)).collect()
    }
    match a {
        TypedArray::Float32(a) => bytes(a, f32::to_le_bytes),
        TypedArray::Float64(a) => bytes(a, f64::to_le_bytes),
        TypedArray::Uint8(a) => bytes(a, u8::to_le_bytes),
        TypedArray::Uint16(a) => bytes(a, u16::to_le_bytes),
        TypedArray::Int16(a) => bytes(a, i16::to_le_bytes),
        TypedArray::Int32(a) => bytes(a, i32::to_le_bytes),
        TypedArray::Bool(_) => panic!("no bool GeoTIFFs"),
    }
}

/// The samples of window `w` of a `width`-column image whose samples are
/// `all` (little-endian, `size` bytes each).
fn window_of(all: &[u8], width: usize, size: usize, w: Window) -> Vec<u8> {
    w.rows()
        .flat_map(|r| {
            let s = (r * width + w.col) * size;
            all[s..s + w.width * size].iter().copied()
        })
        .collect()
}

/// Windows across internal tile edges and at the far corner.
fn some_windows(width: usize, height: usize) -> Vec<Window> {
    let mut out = vec![Window::new(0, 0, height, width)];
    if width > 20 && height > 20 {
        out.push(Window::new(height / 3, width / 4, height / 2, width / 2));
        out.push(Window::new(height - 7, width - 9, 7, 9));
        out.push(Window::new(5, 3, 1, width - 3));
    }
    out
}

// ------------------------------------------------- the writer's overviews

#[test]
fn the_writer_s_overviews_halve_down_to_one_block() {
    // 1001 × 517 in 128 blocks: 501 × 259, 251 × 130, 126 × 65.
    let mut cog = open(writer_u16(1001, 517, 128));
    let full = cog.info().clone();
    assert_eq!(cog.overview_level(), None);
    let ovs = cog.overviews().unwrap().to_vec();
    let sizes: Vec<_> = ovs.iter().map(|o| (o.ifd, o.width, o.height)).collect();
    assert_eq!(sizes, [(1, 501, 259), (2, 251, 130), (3, 126, 65)]);
    for o in &ovs {
        assert_eq!(o.scale_x, 1001.0 / o.width as f64);
        assert_eq!(o.scale_y, 517.0 / o.height as f64);
    }
    let all = cog.read_all().unwrap();
    let TypedArray::Uint16(all) = all else {
        panic!()
    };
    assert_eq!(all[[200, 300]], u16_pixel(200, 300));

    for (level, o) in ovs.iter().enumerate() {
        let mut ov = cog.open_overview(level).unwrap();
        assert_eq!(ov.overview_level(), Some(level));
        assert_eq!(
            ov.overviews().unwrap(),
            &ovs[..],
            "the file's list, from any level"
        );
        let info = ov.info().clone();
        assert_eq!((info.width, info.height), (o.width, o.height));
        assert_eq!(info.dtype, DType::Uint16);
        assert_eq!(info.nodata, Some(65535.0));
        assert_eq!((info.chunk, info.tiled), ((128, 128), true));
        assert_eq!(info.file_size, full.file_size);
        // GDAL's rule: the same origin, the resolution times full / overview size.
        assert_eq!(
            info.georef.affine,
            Affine {
                x0: ORIGIN.0,
                res_x: 32.0 * (1001.0 / o.width as f64),
                y0: ORIGIN.1,
                res_y: -32.0 * (517.0 / o.height as f64),
            }
        );
        assert_eq!(info.georef.epsg, Some(3413));
        assert_eq!(info.georef, o.georef(&full.georef));
        assert!(info.geobox("mem.tif").is_ok());

        // Nearest: level k's pixel (r, c) is the full image's (r·2^k, c·2^k).
        let k = level + 1;
        let TypedArray::Uint16(px) = ov.read_all().unwrap() else {
            panic!()
        };
        assert_eq!(px.shape(), [o.height, o.width]);
        for r in 0..o.height {
            for c in 0..o.width {
                assert_eq!(
                    px[[r, c]],
                    all[[r << k, c << k]],
                    "level {level} ({r}, {c})"
                );
            }
        }
        // Windows read what the whole level holds.
        for w in some_windows(o.width, o.height) {
            let TypedArray::Uint16(got) = ov.read_window(w).unwrap() else {
                panic!()
            };
            for r in 0..w.height {
                for c in 0..w.width {
                    assert_eq!(got[[r, c]], px[[w.row + r, w.col + c]]);
                }
            }
        }
        let past = Window::new(0, 0, o.height + 1, o.width);
        assert!(matches!(ov.read_window(past), Err(Error::Tiff { .. })));
        // Any image of the file opens any level.
        let again = ov.open_overview(0).unwrap();
        assert_eq!(again.info().width, ovs[0].width);
    }
}

#[test]
fn a_cog_without_overviews_lists_none() {
    let data = vec![1.5f32; 40 * 30];
    let bytes = CogWriter::new(40, 30)
        .geotransform([ORIGIN.0, 32.0, 0.0, ORIGIN.1, 0.0, -32.0])
        .epsg(3413, CrsKind::Projected)
        .block_size(16)
        .overviews(false)
        .to_vec(&data)
        .unwrap();
    let cog = open(bytes);
    assert!(cog.overviews().unwrap().is_empty());
    let reason = tiff_reason(cog.open_overview(0));
    assert!(
        reason.contains("no overview 0: the file has none"),
        "{reason}"
    );
}

#[test]
fn an_overview_level_past_the_last_is_a_typed_error() {
    let cog = open(writer_u16(300, 200, 64));
    assert_eq!(cog.overviews().unwrap().len(), 3);
    let reason = tiff_reason(cog.open_overview(3));
    assert!(
        reason.contains("no overview 3: the file has 3 (levels 0 to 2)"),
        "{reason}"
    );
}

#[test]
fn opening_overviews_of_a_cog_costs_no_request() {
    let src = Arc::new(Counting::new(writer_f32(2000, 1500, 256)));
    let cog = Cog::open(src.clone()).unwrap();
    let opened = src.requests.load(Ordering::SeqCst);
    assert_eq!(opened, 1, "the header and every directory in one block");
    let n = cog.overviews().unwrap().len();
    assert_eq!(n, 3);
    let mut ovs: Vec<Cog> = (0..n).map(|i| cog.open_overview(i).unwrap()).collect();
    assert_eq!(
        src.requests.load(Ordering::SeqCst),
        opened,
        "the overviews' directories come from the blocks the open fetched"
    );
    // A window of the coarsest level: one request for its tile.
    let w = Window::new(10, 10, 20, 20);
    ovs[2].read_window(w).unwrap();
    assert_eq!(src.requests.load(Ordering::SeqCst), opened + 1);
}

#[test]
fn a_transport_error_while_listing_is_the_source_s_not_a_tiff_error() {
    // Two more levels appended after the pixels, past the first 4 KiB block.
    // Four levels, IFDs 1 to 4.
    let bytes = append_copies(writer_f32(600, 400, 64), 4, 2, 1);
    assert!(bytes.len() > 3 * 4096, "{}", bytes.len());
    let src = Arc::new(Counting::new(bytes));
    let cog = Cog::open_with_block_size(src.clone(), 4096).unwrap();
    src.fail.store(true, Ordering::SeqCst);
    let err = cog.overviews().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    // Nothing was kept: once the source answers, the list is read.
    src.fail.store(false, Ordering::SeqCst);
    assert_eq!(cog.overviews().unwrap().len(), 6);
    // Its directories are in the blocks the list fetched; its pixels not.
    src.fail.store(true, Ordering::SeqCst);
    let mut ov = cog.open_overview(5).unwrap();
    assert!(matches!(ov.read_all(), Err(Error::Transport { .. })));
}

#[test]
fn images_of_one_file_are_read_on_several_threads() {
    // They share the file's block cache: a 4 KiB block size makes every
    // directory read go through it.
    let src = Arc::new(MemoryByteSource::new("mem.tif", writer_u16(1001, 517, 128)));
    let mut base = Cog::open_with_block_size(src, 4096).unwrap();
    let want: Vec<TypedArray> = (0..3)
        .map(|i| base.open_overview(i).unwrap().read_all().unwrap())
        .collect();
    let base_all = base.read_all().unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let ov = base.open_overview(i).unwrap();
                s.spawn(move || {
                    let mut ov = ov;
                    (0..5).map(|_| ov.read_all().unwrap()).last().unwrap()
                })
            })
            .collect();
        for _ in 0..5 {
            assert_eq!(base.read_all().unwrap(), base_all);
        }
        for (h, want) in handles.into_iter().zip(&want) {
            assert_eq!(&h.join().unwrap(), want);
        }
    });
}

#[test]
fn masks_and_pages_are_not_overviews() {
    // IFDs: 0 full, 1..=3 the writer's reduced images of 501, 251 and 126 columns.
    let seed = writer_u16(1001, 517, 128);
    let listed = |bytes: Vec<u8>| -> Vec<(usize, usize)> {
        open(bytes)
            .overviews()
            .unwrap()
            .iter()
            .map(|o| (o.ifd, o.width))
            .collect()
    };
    assert_eq!(listed(seed.clone()), [(1, 501), (2, 251), (3, 126)]);
    // 4: the full image's mask; 5: an overview's mask (GDAL's internal masks).
    for (subfile, kept) in [
        (4, false),
        (5, false),
        (0, false),
        (2, false),
        (1, true),
        (3, true),
    ] {
        let mut bytes = seed.clone();
        set_inline(&mut bytes, 2, 254, subfile);
        let want: Vec<_> = [(1, 501), (2, 251), (3, 126)]
            .into_iter()
            .filter(|&(ifd, _)| kept || ifd != 2)
            .collect();
        assert_eq!(listed(bytes), want, "NewSubfileType {subfile}");
    }
    // A mask between each level, as GDAL's COG driver may lay them out.
    let mut bytes = seed.clone();
    set_inline(&mut bytes, 1, 254, 4);
    set_inline(&mut bytes, 3, 254, 5);
    let cog = open(bytes);
    assert_eq!(
        cog.overviews()
            .unwrap()
            .iter()
            .map(|o| (o.ifd, o.width))
            .collect::<Vec<_>>(),
        [(2, 251)]
    );
    // Level 0 is now the IFD 2 image: the writer's second level.
    let TypedArray::Uint16(px) = cog.open_overview(0).unwrap().read_all().unwrap() else {
        panic!()
    };
    assert_eq!(px[[10, 20]], u16_pixel(10 << 2, 20 << 2));
    // GDAL skips a reduced image with another band count than the full image's.
    let mut bytes = seed.clone();
    set_inline(&mut bytes, 1, 277, 3);
    assert_eq!(listed(bytes), [(2, 251), (3, 126)]);
}

#[test]
fn more_than_thirty_overviews_are_ignored_as_gdal_ignores_them() {
    // 3 levels of the writer, then 40 copies of the last one.
    let seed = writer_u16(300, 200, 64);
    let bytes = append_copies(seed, 3, 40, 1);
    let cog = open(bytes);
    let ovs = cog.overviews().unwrap();
    assert_eq!(ovs.len(), MAX_OVERVIEWS);
    assert_eq!(ovs[29].ifd, 30);
    let TypedArray::Uint16(last) = cog.open_overview(29).unwrap().read_all().unwrap() else {
        panic!()
    };
    let TypedArray::Uint16(third) = cog.open_overview(2).unwrap().read_all().unwrap() else {
        panic!()
    };
    assert_eq!(last, third, "a copy of the third level's directory");
}

#[test]
fn the_sample_type_of_an_overview_must_be_the_full_image_s() {
    let mut bytes = writer_u16(300, 200, 64);
    // Level 0's BitsPerSample 16 → 8: uint8 samples.
    set_inline(&mut bytes, 1, 258, 8);
    let cog = open(bytes);
    assert_eq!(cog.overviews().unwrap().len(), 3);
    let reason = tiff_reason(cog.open_overview(0));
    assert!(
        reason.contains("overview 0: its samples are Uint8, the full-resolution image's Uint16"),
        "{reason}"
    );
    assert!(cog.open_overview(1).is_ok());
}

#[test]
fn the_nodata_of_an_overview_must_be_the_full_image_s() {
    let seed = writer_f32(300, 200, 64);
    let l = tiff_layout(&seed);
    let nodata = |ifd: usize| {
        let e = l.ifds[ifd].entries.iter().find(|e| e.tag == 42113).unwrap();
        (e.array.unwrap().0, usize::try_from(e.count).unwrap())
    };
    let (at, n) = nodata(1);
    assert_eq!(&seed[at..at + n - 1], b"-9999");
    let mut bytes = seed.clone();
    bytes[at + 1] = b'8'; // "-8999"
    let cog = open(bytes);
    let reason = tiff_reason(cog.open_overview(0));
    assert!(
        reason
            .contains("overview 0: it declares GDAL_NODATA -8999 where the full-resolution image declares -9999"),
        "{reason}"
    );
    let ov = cog.open_overview(1).unwrap();
    assert_eq!(ov.info().nodata, Some(-9999.0));
    // Without its own GDAL_NODATA an overview has the full image's.
    let mut bytes = seed.clone();
    retag(&mut bytes, 1, 42113, 65000);
    let cog = open(bytes);
    assert_eq!(cog.open_overview(0).unwrap().info().nodata, Some(-9999.0));
}

// ------------------------------------------------------ malformed chains

#[test]
fn an_overview_directory_past_the_end_of_the_file_is_a_typed_error() {
    let seed = writer_u16(300, 200, 64);
    let len = seed.len() as u64;
    for (ifd, at) in [
        (0, len + 4096),
        (0, len - 1),
        (2, len),
        (2, u64::from(u32::MAX)),
    ] {
        let mut bytes = seed.clone();
        set_next(&mut bytes, ifd, at);
        // The full image opens and reads as before: overviews are listed
        // only when asked for.
        let mut cog = open(bytes);
        assert!(cog.read_all().is_ok());
        let reason = tiff_reason(cog.overviews());
        assert!(
            reason.contains(&format!(
                "the image file directory at offset {at} lies past the end of the {len}-byte file"
            )),
            "{ifd} → {at}: {reason}"
        );
        let reason = tiff_reason(cog.open_overview(0));
        assert!(reason.contains("past the end"), "{reason}");
    }
}

#[test]
fn a_cycle_in_the_chain_of_directories_is_a_typed_error() {
    let seed = writer_u16(300, 200, 64);
    let l = tiff_layout(&seed);
    let at = |i: usize| l.ifds[i].at as u64;
    // 2 → 1, 1 → itself, 3 → the first directory.
    for (from, to) in [(2, 1), (1, 1), (3, 0)] {
        let mut bytes = seed.clone();
        set_next(&mut bytes, from, at(to));
        let cog = open(bytes);
        let reason = tiff_reason(cog.overviews());
        assert!(
            reason.contains(&format!(
                "points back to the one at offset {} (a cycle)",
                at(to)
            )),
            "{from} → {to}: {reason}"
        );
        assert!(matches!(cog.open_overview(0), Err(Error::Tiff { .. })));
    }
}

#[test]
fn an_endless_chain_of_masks_is_refused() {
    let bytes = append_copies(writer_u16(300, 200, 64), 3, 200, 4);
    let cog = open(bytes);
    let reason = tiff_reason(cog.overviews());
    assert!(
        reason.contains("more than 128 image file directories"),
        "{reason}"
    );
}

#[test]
fn an_overview_directory_the_decoder_would_allocate_for_is_refused() {
    let mut bytes = writer_u16(300, 200, 64);
    let l = tiff_layout(&bytes);
    let e = l.ifds[2].entries.iter().find(|e| e.tag == 324).unwrap();
    write_word(&mut bytes, e.at + 4, 1 << 23, 4, l.little);
    let cog = open(bytes);
    let reason = tiff_reason(cog.overviews());
    assert!(
        reason.contains("tag 324 announces 8388608 values"),
        "{reason}"
    );
}

#[test]
fn an_overview_without_a_size_or_larger_than_the_image_is_refused() {
    let seed = writer_u16(300, 200, 64);
    let mut bytes = seed.clone();
    retag(&mut bytes, 1, 256, 65001);
    let reason = tiff_reason(open(bytes).overviews());
    assert!(
        reason.contains("has no ImageWidth or ImageLength"),
        "{reason}"
    );
    for w in [0, 301] {
        let mut bytes = seed.clone();
        set_inline(&mut bytes, 1, 256, w);
        let reason = tiff_reason(open(bytes).overviews());
        assert!(
            reason.contains(&format!("is a {w}×100 overview of a 300×200 image")),
            "{reason}"
        );
    }
}

#[test]
fn overviews_in_subifds_are_refused() {
    let mut bytes = writer_u16(300, 200, 64);
    // PlanarConfiguration (284, 1 = chunky, the default) becomes SubIFDs.
    retag(&mut bytes, 0, 284, 330);
    let reason = tiff_reason(open(bytes).overviews());
    assert!(reason.contains("SubIFDs (tag 330)"), "{reason}");
}

#[test]
fn the_gdal_fuzz_seeds_list_their_overviews() {
    // Committed GDAL files (tests/data/fuzz-seeds): a big-endian stripped
    // GeoTIFF and a BigTIFF without overviews, a COG with them.
    let seed = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fuzz-seeds")
            .join(name);
        Cog::open(Arc::new(FileByteSource::new(path))).unwrap()
    };
    for name in [
        "gdal-strips-lzw-bigendian-int16.tif",
        "gdal-bigtiff-tiled-zstd-float32.tif",
    ] {
        assert_eq!(
            seed(name).overviews().unwrap(),
            &[] as &[OverviewInfo],
            "{name}"
        );
    }
    let cog = seed("gdal-cog-deflate-float32.tif");
    let ovs = cog.overviews().unwrap();
    assert!(!ovs.is_empty());
    for (i, o) in ovs.iter().enumerate() {
        assert_eq!(o.ifd, i + 1);
        let mut ov = cog.open_overview(i).unwrap();
        assert_eq!(ov.read_all().unwrap().shape(), [o.height, o.width]);
    }
}

// ----------------------------------------------------- GDAL and rasterio

/// Writes GDAL's files into argv[1], then reports on every file (those and
/// argv[2:]) what rasterio sees: size, transform, nodata, type,
/// `overviews(1)`, and per `overview_level=i` the same, with the level's
/// pixels written to `<file>.ovr<i>.bin` (little-endian, row-major).
const GDAL_SCRIPT: &str = r#"
import json, sys, os
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.shutil import copy as rio_copy
from rasterio.transform import from_origin

out_dir, extra = sys.argv[1], sys.argv[2:]

def grid(h, w):
    return np.mgrid[0:h, 0:w].astype("float64")

def write_gtiff(path, a, crs, transform, nodata=None, **opts):
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1,
                       dtype=a.dtype.name, crs=crs, transform=transform, nodata=nodata, **opts) as dst:
        dst.write(a, 1)

made = []
# A COG (driver COG): float32 with nodata holes, 256 blocks, average overviews.
y, x = grid(700, 1000)
a = (np.sin(x / 37.0) * 100 + y * 0.5).astype("float32")
a[(x.astype(int) * 7 + y.astype(int) * 3) % 53 == 0] = -9999
tmp = os.path.join(out_dir, "tmp-f32.tif")
write_gtiff(tmp, a, "EPSG:3413", from_origin(-1584000.0, 1584000.0, 32.0, 32.0), nodata=-9999)
p = os.path.join(out_dir, "gdal-cog-f32.tif")
rio_copy(tmp, p, driver="COG", BLOCKSIZE=256, COMPRESS="DEFLATE", PREDICTOR="YES",
         OVERVIEW_RESAMPLING="AVERAGE")
os.remove(tmp)
made.append(p)

# A BigTIFF COG of odd size (overviews of 500, 250, 125 columns: scale
# factors that are not integers): uint16, ZSTD, 128 blocks.
y, x = grid(517, 1001)
a = ((x * 31 + y * 17) % 65000).astype("uint16")
tmp = os.path.join(out_dir, "tmp-u16.tif")
write_gtiff(tmp, a, "EPSG:32633", from_origin(500000.0, 7000000.0, 10.0, 10.0), nodata=0)
p = os.path.join(out_dir, "gdal-cog-u16-odd-bigtiff.tif")
rio_copy(tmp, p, driver="COG", BLOCKSIZE=128, COMPRESS="ZSTD", BIGTIFF="YES",
         OVERVIEW_RESAMPLING="NEAREST")
os.remove(tmp)
made.append(p)

# A big-endian tiled GTiff, PixelIsPoint, with an internal mask and
# overviews built afterwards: mask directories (NewSubfileType 4 and 5)
# among the overviews.
y, x = grid(384, 512)
a = (x * 3 - y * 5).astype("int16")
mask = np.where((x - 200) ** 2 + (y - 150) ** 2 < 120 ** 2, 255, 0).astype("uint8")
p = os.path.join(out_dir, "gdal-gtiff-i16-mask-bigendian.tif")
with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
    with rasterio.open(p, "w", driver="GTiff", width=512, height=384, count=1, dtype="int16",
                       crs="EPSG:32633", transform=from_origin(400000.0, 6000000.0, 20.0, 20.0),
                       tiled=True, blockxsize=128, blockysize=128, compress="lzw",
                       ENDIANNESS="BIG") as dst:
        dst.update_tags(AREA_OR_POINT="Point")
        dst.write(a, 1)
        dst.write_mask(mask)
    with rasterio.open(p, "r+") as dst:
        dst.build_overviews([2, 4, 8], Resampling.average)
made.append(p)
# The same as a COG, masks and all.
src = p
p = os.path.join(out_dir, "gdal-cog-i16-mask.tif")
with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
    rio_copy(src, p, driver="COG", BLOCKSIZE=128, COMPRESS="DEFLATE")
made.append(p)

# A stripped float64 GTiff with NaN nodata, overviews of factors 2, 3 and
# 7 appended after its pixels (not a COG).
y, x = grid(400, 600)
a = (x * 0.25 + y * 1000.0).astype("float64")
a[(x.astype(int) + y.astype(int)) % 41 == 0] = np.nan
p = os.path.join(out_dir, "gdal-gtiff-f64-strips.tif")
write_gtiff(p, a, "EPSG:4326", from_origin(10.0, 70.0, 0.001, 0.0005), nodata=float("nan"))
with rasterio.open(p, "r+") as dst:
    dst.build_overviews([2, 3, 7], Resampling.nearest)
made.append(p)

def nd(v):
    return None if v is None else repr(float(v))

report = []
for path in made + extra:
    with rasterio.open(path) as ds:
        r = {"path": path, "width": ds.width, "height": ds.height,
             "transform": list(ds.transform)[:6], "nodata": nd(ds.nodata), "dtype": ds.dtypes[0],
             "overviews": ds.overviews(1), "area_or_point": ds.tags().get("AREA_OR_POINT"),
             "levels": []}
    for i in range(len(r["overviews"])):
        with rasterio.open(path, overview_level=i) as o:
            data = o.read(1)
            data.astype(data.dtype.newbyteorder("<")).tofile(f"{path}.ovr{i}.bin")
            r["levels"].append({"width": o.width, "height": o.height,
                                "transform": list(o.transform)[:6],
                                "nodata": nd(o.nodata), "dtype": o.dtypes[0]})
    report.append(r)
print(json.dumps(report))
"#;

fn rasterio_dtype(name: &str) -> DType {
    match name {
        "float32" => DType::Float32,
        "float64" => DType::Float64,
        "uint8" => DType::Uint8,
        "uint16" => DType::Uint16,
        "int16" => DType::Int16,
        "int32" => DType::Int32,
        other => panic!("dtype {other}"),
    }
}

fn rasterio_nodata(v: &Value) -> Option<f64> {
    v.as_str().map(|s| match s {
        "nan" => f64::NAN,
        s => s.parse().unwrap(),
    })
}

fn same_nodata(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
        (a, b) => a == b,
    }
}

/// Our affine is rasterio's `list(transform)[:6]`, bit for bit (JSON
/// floats are Python's repr, which round-trips).
fn assert_transform(ours: &Affine, theirs: &Value, what: &str) {
    let t: Vec<f64> = theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let want = [ours.res_x, 0.0, ours.x0, 0.0, ours.res_y, ours.y0];
    assert!(
        t.iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0)),
        "{what}: rasterio's transform {t:?}, ours {want:?}"
    );
}

/// What rasterio reports on one file; the GDAL files are written into `dir`.
fn rasterio_report(python: &Path, dir: &Path, extra: &[PathBuf]) -> Vec<Value> {
    let out = Command::new(python)
        .arg("-c")
        .arg(GDAL_SCRIPT)
        .arg(dir)
        .args(extra)
        .env("GDAL_PAM_ENABLED", "NO")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rasterio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check_against_rasterio(r: &Value) {
    let path = PathBuf::from(r["path"].as_str().unwrap());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(&path).unwrap();
    let cog = Cog::open(Arc::new(FileByteSource::new(&path))).unwrap();
    let full = cog.info().clone();
    assert_eq!(
        (full.width as u64, full.height as u64),
        (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap()),
        "{name}"
    );
    assert_transform(&full.georef.affine, &r["transform"], &name);
    assert_eq!(
        full.dtype,
        rasterio_dtype(r["dtype"].as_str().unwrap()),
        "{name}"
    );
    assert!(
        same_nodata(full.nodata, rasterio_nodata(&r["nodata"])),
        "{name}"
    );
    let point = r["area_or_point"] == "Point";
    assert_eq!(
        full.georef.raster_type == RasterType::PixelIsPoint,
        point,
        "{name}"
    );

    let ovs = cog.overviews().unwrap();
    let factors: Vec<u64> = r["overviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        ovs.len(),
        factors.len(),
        "{name}: the overviews rasterio lists"
    );
    for (o, f) in ovs.iter().zip(&factors) {
        // rasterio's `int(round(width / overview width))`.
        assert_eq!(o.scale_x.round_ties_even(), *f as f64, "{name}");
    }
    let levels = r["levels"].as_array().unwrap();
    for (i, (o, level)) in ovs.iter().zip(levels).enumerate() {
        let what = format!("{name} overview {i}");
        let mut ov = cog.open_overview(i).unwrap();
        let info = ov.info().clone();
        assert_eq!(
            (info.width as u64, info.height as u64),
            (
                level["width"].as_u64().unwrap(),
                level["height"].as_u64().unwrap()
            ),
            "{what}"
        );
        assert_eq!((o.width, o.height), (info.width, info.height), "{what}");
        assert_transform(&info.georef.affine, &level["transform"], &what);
        assert_eq!(info.georef.epsg, full.georef.epsg, "{what}");
        assert_eq!(
            info.dtype,
            rasterio_dtype(level["dtype"].as_str().unwrap()),
            "{what}"
        );
        assert!(
            same_nodata(info.nodata, rasterio_nodata(&level["nodata"])),
            "{what}"
        );

        let want = std::fs::read(format!("{}.ovr{i}.bin", path.display())).unwrap();
        let size = info.dtype.size();
        assert_eq!(want.len(), info.width * info.height * size, "{what}");
        for w in some_windows(info.width, info.height) {
            let got = le_bytes(&ov.read_window(w).unwrap());
            assert!(
                got == window_of(&want, info.width, size, w),
                "{what}: window {w:?} differs from rasterio's read"
            );
        }
    }
    // Masks were there to skip where GDAL wrote them.
    if name.contains("mask") {
        let types = subfile_types(&bytes);
        assert!(
            types.contains(&4) && types.contains(&5),
            "{name}: {types:?}"
        );
        assert_eq!(ovs[0].ifd, 2, "{name}: the full image's mask comes first");
    }
}

#[test]
fn overviews_are_gdal_s_and_read_as_rasterio_reads_them() {
    let test = "overviews_are_gdal_s_and_read_as_rasterio_reads_them";
    let Some(python) = geocube_testkit::python::with_modules_or_skip(test, &["rasterio", "numpy"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The writer's files: float (mean) and integer (nearest) overviews.
    let mut ours = Vec::new();
    for (name, bytes) in [
        ("writer-u16-odd.tif", writer_u16(1001, 517, 128)),
        ("writer-f32.tif", writer_f32(2000, 1500, 256)),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        ours.push(p);
    }
    let report = rasterio_report(&python, dir.path(), &ours);
    assert_eq!(report.len(), 7);
    let names: Vec<_> = report.iter().map(|r| r["path"].as_str().unwrap()).collect();
    for r in &report {
        check_against_rasterio(r);
    }
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("gdal-gtiff-i16-mask-bigendian.tif"))
    );
}

/// odc-stac's choice, from odc-loader's `pick_overview` and odc-geo's
/// `_pick_read_scale` themselves, for overviews of the given widths of a
/// `width`-column image (rasterio's factors), at each scale.
const ODC_SCRIPT: &str = r#"
import json, sys
from odc.loader._reader import pick_overview
from odc.geo.overlap import _pick_read_scale
out = []
for case in json.load(sys.stdin):
    factors = [int(round(float(case["width"]) / float(w))) for w in case["overviews"]]
    row = []
    for scale in case["scales"]:
        shrink = _pick_read_scale(scale)
        # odc/loader/_rio.py: overviews only for a read shrink above 1.
        row.append(pick_overview(shrink, factors) if shrink > 1 else None)
    out.append(row)
print(json.dumps(out))
"#;

#[test]
fn pick_overview_chooses_as_odc_stac_does() {
    let test = "pick_overview_chooses_as_odc_stac_does";
    let Some(python) =
        geocube_testkit::python::with_modules_or_skip(test, &["odc.loader", "odc.geo"])
    else {
        return;
    };
    let scales = [
        0.3, 0.999, 1.0, 1.5, 1.998, 1.9989, 1.9991, 2.0, 2.0009, 2.0011, 2.5, 2.8, 2.9995,
        2.999_999, 3.0, 3.0011, 3.5, 3.9, 4.0, 5.9999, 6.5, 7.0, 7.9, 8.0, 8.001, 15.9, 16.0,
        31.9995, 100.0, 1e6,
    ];
    let cases: Vec<(usize, Vec<usize>)> = vec![
        (1000, vec![500, 250, 125]),
        (1001, vec![500, 250, 125]),
        (1001, vec![501, 251, 126]),
        (600, vec![300, 200, 86]),
        (5, vec![2]), // 2.5: ties to even, 2
        (7, vec![2]), // 3.5: 4
        (777, vec![]),
        (4096, vec![2048, 1024, 512, 256, 128, 64, 32, 16]),
        (1000, vec![250, 500]), // out of order
    ];
    let input: Vec<Value> = cases
        .iter()
        .map(|(w, ovs)| json!({"width": w, "overviews": ovs, "scales": scales}))
        .collect();
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(ODC_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "odc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let odc: Vec<Vec<Option<usize>>> = serde_json::from_slice(&out.stdout).unwrap();
    let mut checked = 0;
    for ((width, ovs), want) in cases.iter().zip(&odc) {
        let factors: Vec<f64> = ovs.iter().map(|&w| *width as f64 / w as f64).collect();
        for (&scale, &want) in scales.iter().zip(want) {
            assert_eq!(
                pick_overview(scale, &factors),
                want,
                "scale {scale}, {width} px with overviews {ovs:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, cases.len() * scales.len());
    // The cases are not all alike: odc picks full resolution, the first,
    // a middle and the last level among them.
    let picked: std::collections::BTreeSet<_> = odc.iter().flatten().collect();
    for p in [None, Some(0), Some(1), Some(7)] {
        assert!(picked.contains(&p), "{p:?} never picked");
    }
}
