//! Overviews: the reduced-resolution images a GeoTIFF carries after its
//! full-resolution one, listed as GDAL lists them ([`Cog::overviews`]),
//! opened for window reads like the full image ([`Cog::open_overview`]),
//! and the choice of one for a read at a coarser resolution, as odc-stac
//! makes it ([`pick_overview`]).
//!
//! GDAL counts as overviews the directories after the first whose
//! NewSubfileType (tag 254) has bit 0 (reduced resolution) set and bit 2
//! (transparency mask) clear, with the full image's number of bands, at
//! most 30 of them, in file order (`GTiffDataset::ScanDirectories`,
//! `frmts/gtiff/gtiffdataset_read.cpp`). Masks (4: the full image's,
//! 5: an overview's, GDAL's internal masks) and pages (0, 2) are not
//! overviews. The same rule here gives level `i` the image GDAL opens with
//! `OVERVIEW_LEVEL=i`, which is what rasterio's `overview_level=i` and
//! odc-stac read.
//!
//! An overview directory carries no GeoKeys: its georeference is the full
//! image's with the same origin and the resolution scaled by full size /
//! overview size per axis (GDAL's `GDALOverviewDataset::GetGeoTransform`,
//! `GDALRescaleGeoTransform`). Its nodata and sample type are the full
//! image's; a directory that declares others is refused.

use std::sync::Arc;

use geocube_core::Affine;

use super::block_cache::{CachedReader, ErrorSlot};
use super::ifd::{self, CogInfo};
use super::reader::{Cog, guarded, start_decoder};
use crate::error::{Error, Result};
use crate::geotiff::GeoReference;

/// Overviews listed at most: GDAL's bound ("to avoid DoS"); reduced
/// images after the 30th are ignored, as GDAL ignores them. Halving a
/// 2³² px image down to a 16 px block takes 28 levels.
pub const MAX_OVERVIEWS: usize = 30;

/// Directories walked at most: an overview and its mask per level, a few
/// more for other pages. A longer chain is refused rather than walked: each
/// directory may cost a range request.
const MAX_DIRECTORIES: usize = 128;

/// NewSubfileType bit 0: a reduced-resolution version of another image.
const REDUCED_IMAGE: u64 = 1;
/// NewSubfileType bit 2: a transparency mask of another image.
const MASK: u64 = 4;
/// The SubIFDs tag: child directories, where some writers put overviews.
const SUB_IFDS: u16 = 330;

/// One reduced-resolution image of a GeoTIFF.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverviewInfo {
    /// Position of its image file directory in the file's chain (0 is the
    /// full-resolution image).
    pub ifd: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Full-resolution width / `width`: how many full-resolution columns
    /// one overview pixel spans.
    pub scale_x: f64,
    /// Full-resolution height / `height`.
    pub scale_y: f64,
}

impl OverviewInfo {
    /// The georeference of this overview of an image placed by `full`:
    /// the same origin, the resolution scaled per axis.
    #[must_use]
    pub fn georef(&self, full: &GeoReference) -> GeoReference {
        let a = full.affine;
        GeoReference {
            affine: Affine {
                x0: a.x0,
                res_x: a.res_x * self.scale_x,
                y0: a.y0,
                res_y: a.res_y * self.scale_y,
            },
            ..*full
        }
    }
}

impl Cog {
    /// The file's overviews, in file order (largest first in a COG):
    /// level `i` is the image [`open_overview(i)`](Cog::open_overview)
    /// opens and GDAL's `OVERVIEW_LEVEL=i`. The same list, relative to the
    /// full-resolution image, whichever image of the file `self` is.
    ///
    /// Listed on the first call, not at [`Cog::open`]: a read at the
    /// source's own resolution never needs them, a GeoTIFF whose overview
    /// directories follow its pixels (GDAL's `build_overviews` on a plain
    /// GTiff) would cost range requests at every open, and a broken chain
    /// fails only the caller who asked. Only directory entries are read
    /// (from the header blocks [`Cog::open`] fetched, for a COG), never
    /// pixels.
    ///
    /// # Errors
    /// [`Error::Tiff`] when the chain of directories is malformed: a
    /// directory past the end of the file, a cycle, more than 128
    /// directories, a directory [`Cog::open`] would refuse (counts the file
    /// cannot hold), an overview without a size, or larger than the full
    /// image; overviews in SubIFDs (tag 330), which geocube does not read.
    /// Transport errors of the source.
    pub fn overviews(&self) -> Result<&[OverviewInfo]> {
        if let Some(found) = self.file.overviews.get() {
            return Ok(found);
        }
        let error = ErrorSlot::default();
        let mut reader = CachedReader::sharing(
            Arc::clone(&self.file.cache),
            self.file.full.file_size,
            error.clone(),
        );
        let found = scan(&mut reader, &error, &self.name, &self.file.full)?;
        Ok(self.file.overviews.get_or_init(|| found))
    }

    /// Open overview `level` (an index into [`Cog::overviews`]) for window
    /// reads: its [`info`](Cog::info) has the overview's size, chunks and
    /// georeference (see [`OverviewInfo::georef`]), the full image's
    /// nodata, and [`read_window`](Cog::read_window) reads its pixels. It
    /// shares this file's source and header blocks: opening an overview of
    /// a COG costs no request.
    ///
    /// # Errors
    /// As [`Cog::overviews`]; [`Error::Tiff`] when the file has no overview
    /// `level`, when the overview's sample type differs from the full
    /// image's, when it declares another GDAL_NODATA, or when it cannot be
    /// decoded as [`Cog::open`] requires (several bands, unsupported
    /// layout or compression, chunk offsets missing).
    pub fn open_overview(&self, level: usize) -> Result<Cog> {
        let overviews = self.overviews()?;
        let Some(ov) = overviews.get(level).copied() else {
            let has = match overviews.len() {
                0 => "none".to_owned(),
                n => format!("{n} (levels 0 to {})", n - 1),
            };
            return Err(Error::tiff(
                &self.name,
                format!("no overview {level}: the file has {has}"),
            ));
        };
        let name = self.name.clone();
        let full = &self.file.full;
        let bad = |reason: String| Error::tiff(&name, format!("overview {level}: {reason}"));
        let error = ErrorSlot::default();
        let reader =
            CachedReader::sharing(Arc::clone(&self.file.cache), full.file_size, error.clone());
        let mut decoder = start_decoder(reader, &error, &name)?;
        guarded(
            &mut decoder,
            &error,
            &name,
            &format!("reading the directory of overview {level}"),
            |d| d.seek_to_image(ov.ifd),
        )?;
        let layout = ifd::read_layout(&mut decoder, &error, &name)?;
        if (layout.width, layout.height) != (ov.width, ov.height) {
            // The directory scanned is the one decoded: a mismatch means
            // the decoder walked another chain.
            return Err(bad(format!(
                "the decoder read a {}×{} image where the directory says {}×{}",
                layout.width, layout.height, ov.width, ov.height
            )));
        }
        if layout.dtype != full.dtype {
            return Err(bad(format!(
                "its samples are {:?}, the full-resolution image's {:?}",
                layout.dtype, full.dtype
            )));
        }
        if let Some(own) = ifd::read_nodata(&mut decoder, &error, &name)?
            && !full.nodata.is_some_and(|n| same_nodata(n, own))
        {
            return Err(bad(format!(
                "it declares GDAL_NODATA {own} where the full-resolution image declares {}",
                full.nodata.map_or("none".to_owned(), |n| n.to_string())
            )));
        }
        let info = CogInfo::of(
            &layout,
            ov.georef(&full.georef),
            full.nodata,
            full.file_size,
        );
        Ok(Cog {
            decoder,
            error,
            name,
            info,
            offsets: layout.offsets,
            byte_counts: layout.byte_counts,
            file: Arc::clone(&self.file),
            level: Some(level),
        })
    }

    /// Which overview this is (`Some(i)`, opened by
    /// [`open_overview(i)`](Cog::open_overview)), or `None` for the
    /// full-resolution image.
    #[must_use]
    pub fn overview_level(&self) -> Option<usize> {
        self.level
    }
}

/// Nodata values that mean the same pixels (NaN is NaN).
fn same_nodata(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Walk the directory chain after the first image and list its overviews;
/// `slot` is the one `r` keeps its transport errors in.
fn scan(
    r: &mut CachedReader,
    slot: &ErrorSlot,
    name: &str,
    full: &CogInfo,
) -> Result<Vec<OverviewInfo>> {
    let bad = |reason: String| Error::tiff(name, format!("listing overviews: {reason}"));
    let header =
        ifd::read_header(r, slot)?.ok_or_else(|| bad("the header is unreadable".into()))?;
    let end = |at: u64| {
        bad(format!(
            "the image file directory at offset {at} lies past the end of the {}file",
            sized(full.file_size)
        ))
    };
    let first = ifd::read_directory(r, slot, name, header, header.first_ifd)?
        .ok_or_else(|| end(header.first_ifd))?;
    if first.has(SUB_IFDS) {
        return Err(bad(
            "the full-resolution image has SubIFDs (tag 330); overviews in SubIFDs are not supported"
                .into(),
        ));
    }
    let mut seen = vec![header.first_ifd];
    let mut next = first.next.ok_or_else(|| end(header.first_ifd))?;
    let mut out = Vec::new();
    while next != 0 && out.len() < MAX_OVERVIEWS {
        let at = next;
        if seen.contains(&at) {
            return Err(bad(format!(
                "directory {} points back to the one at offset {at} (a cycle)",
                seen.len() - 1
            )));
        }
        if seen.len() >= MAX_DIRECTORIES {
            return Err(bad(format!(
                "more than {MAX_DIRECTORIES} image file directories"
            )));
        }
        let index = seen.len();
        seen.push(at);
        let dir = ifd::read_directory(r, slot, name, header, at)?.ok_or_else(|| end(at))?;
        let field = |tag: u16| {
            dir.integer(tag)
                .map_err(|reason| bad(format!("directory {index} (offset {at}): {reason}")))
        };
        let subfile = field(254)?.unwrap_or(0);
        // GDAL skips reduced images whose band count differs from the
        // full image's (one: `Cog::open` reads single-band files only).
        if subfile & REDUCED_IMAGE != 0 && subfile & MASK == 0 && field(277)?.unwrap_or(1) == 1 {
            let (Some(w), Some(h)) = (field(256)?, field(257)?) else {
                return Err(bad(format!(
                    "directory {index} (offset {at}), a reduced-resolution image, has no ImageWidth or ImageLength"
                )));
            };
            let size = |v: u64, max: usize| usize::try_from(v).ok().filter(|&v| v >= 1 && v <= max);
            let (Some(width), Some(height)) = (size(w, full.width), size(h, full.height)) else {
                return Err(bad(format!(
                    "directory {index} (offset {at}) is a {w}×{h} overview of a {}×{} image",
                    full.width, full.height
                )));
            };
            out.push(OverviewInfo {
                ifd: index,
                width,
                height,
                scale_x: full.width as f64 / width as f64,
                scale_y: full.height as f64 / height as f64,
            });
        }
        next = dir.next.ok_or_else(|| end(at))?;
    }
    Ok(out)
}

/// "1234-byte " when the size is known.
fn sized(size: Option<u64>) -> String {
    size.map_or(String::new(), |s| format!("{s}-byte "))
}

/// odc-stac's choice of overview for a read `scale` times coarser than the
/// source: `Some(level)` to read overview `level` (an index into
/// `overviews`), `None` to read the full-resolution image.
///
/// `scale` is the destination pixel size over the source pixel size (the
/// smaller of the two axes' ratios, as odc-geo's `compute_reproject_roi`
/// takes it). It becomes the read shrink as odc-geo's `_pick_read_scale`
/// makes it: 1 below 1, else `scale` snapped to an integer within 10⁻³
/// (2.9995 reads as 3), else rounded down (2.8 reads as 2). A shrink of 1
/// reads the full resolution, so any `scale` below 1.999 does. Otherwise the level is odc-loader's `pick_overview`:
/// `None` when there are no overviews or the first one is coarser than the
/// shrink, else the last overview before the first coarser than the
/// shrink (the coarsest not coarser, for factors in increasing order, as
/// GDAL lists them).
///
/// `overviews` are each overview's factor, full width / overview width
/// ([`OverviewInfo::scale_x`]; rasterio's `overviews()`, which odc-stac
/// uses, looks at the width only), rounded here to the nearest integer,
/// ties to even, as rasterio rounds them (`int(round(width / xsize))`), so
/// rasterio's own integer factors give the same answer. A `scale` that is
/// not a positive finite number (odc-geo asserts `scale > 0`) reads the
/// full resolution.
///
/// Mirrors odc-loader 0.5 `odc/loader/_reader.py` (`pick_overview`),
/// odc-loader `odc/loader/_rio.py` (`_rio_read`: overviews only for a
/// read shrink above 1) and odc-geo 0.4 `odc/geo/overlap.py`
/// (`_pick_read_scale`, tolerance 1e-3) with `odc/geo/math.py`
/// (`maybe_int`, `split_float`).
///
/// ```
/// use geocube_sources::cog::pick_overview;
///
/// let factors = [2.0, 4.0, 8.0];
/// assert_eq!(pick_overview(1.5, &factors), None); // full resolution
/// assert_eq!(pick_overview(3.0, &factors), Some(0));
/// assert_eq!(pick_overview(7.9999, &factors), Some(2)); // snaps to 8
/// assert_eq!(pick_overview(100.0, &factors), Some(2));
/// ```
#[must_use]
pub fn pick_overview(scale: f64, overviews: &[f64]) -> Option<usize> {
    let shrink = read_shrink(scale);
    if shrink <= 1.0 {
        return None;
    }
    // rasterio's `int(round(float(self.width) / float(xsize)))`; Python's
    // round() of a float rounds ties to even.
    let factor = |f: f64| f.round_ties_even();
    let first = factor(*overviews.first()?);
    if shrink < first {
        return None;
    }
    let mut picked = 0;
    for (i, &f) in overviews.iter().enumerate() {
        if factor(f) > shrink {
            break;
        }
        picked = i;
    }
    Some(picked)
}

/// odc-geo's `_pick_read_scale(scale, tol=1e-3)`: the integer shrink of a
/// read `scale` times coarser (1 for anything not a positive finite
/// number).
fn read_shrink(scale: f64) -> f64 {
    const TOL: f64 = 1e-3;
    if !(scale.is_finite() && scale > 0.0) || scale < 1.0 {
        return 1.0;
    }
    // maybe_int: split_float keeps the fractional part in [-0.5, 0.5],
    // Python's math.fmod is Rust's `%` on f64.
    let mut part = scale % 1.0;
    let mut whole = scale - part;
    if part > 0.5 {
        part -= 1.0;
        whole += 1.0;
    } else if part < -0.5 {
        part += 1.0;
        whole -= 1.0;
    }
    let snapped = if part.abs() < TOL { whole } else { scale };
    snapped.trunc()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// odc-loader's own `test_pick_overiew` (`odc/loader/test_reader.py`),
    /// with the read shrink as the scale.
    #[test]
    fn pick_overview_passes_odc_loader_s_test() {
        assert_eq!(pick_overview(2.0, &[]), None);
        assert_eq!(pick_overview(1.0, &[2.0, 4.0]), None);
        let f = [2.0, 4.0, 8.0];
        for (scale, want) in [
            (2.0, Some(0)),
            (3.0, Some(0)),
            (4.0, Some(1)),
            (7.0, Some(1)),
            (8.0, Some(2)),
            (20.0, Some(2)),
        ] {
            assert_eq!(pick_overview(scale, &f), want, "{scale}");
        }
    }

    /// `_pick_read_scale`'s own examples (2.999999 → 3, 2.8 → 2, 0.3 → 1),
    /// the tolerance on both sides, and what odc-geo would assert on.
    #[test]
    fn the_read_shrink_is_odc_geo_s() {
        for (scale, want) in [
            (2.999_999, 3.0),
            (2.8, 2.0),
            (0.3, 1.0),
            (1.0, 1.0),
            (1.5, 1.0),
            (1.998, 1.0),
            (1.9991, 2.0),
            (2.0009, 2.0),
            (2.0011, 2.0),
            (3.5, 3.0),
            (3.9989, 3.0),
            (1e9 + 0.4, 1e9),
            (0.0, 1.0),
            (-4.0, 1.0),
            (f64::NAN, 1.0),
            (f64::INFINITY, 1.0),
        ] {
            assert_eq!(read_shrink(scale), want, "{scale}");
        }
    }

    #[test]
    fn below_a_shrink_of_two_the_full_resolution_is_read() {
        let f = [1.0, 2.0, 4.0]; // a first "overview" of factor 1
        assert_eq!(pick_overview(1.9, &f), None);
        assert_eq!(pick_overview(1.9995, &f), Some(1));
        assert_eq!(pick_overview(0.5, &f), None);
    }

    #[test]
    fn factors_are_rounded_as_rasterio_rounds_them() {
        // 1001 / 501 and 1001 / 251: a COG of odd size.
        let odd = [1001.0 / 501.0, 1001.0 / 251.0, 1001.0 / 126.0];
        assert_eq!(pick_overview(2.0, &odd), Some(0));
        assert_eq!(pick_overview(3.9, &odd), Some(0));
        assert_eq!(pick_overview(4.0, &odd), Some(1));
        assert_eq!(pick_overview(8.0, &odd), Some(2));
        // Ties to even: 2.5 → 2, 3.5 → 4.
        assert_eq!(pick_overview(2.0, &[2.5]), Some(0));
        assert_eq!(pick_overview(3.0, &[3.5]), None);
        // The first factor coarser than the shrink: full resolution.
        assert_eq!(pick_overview(3.0, &[4.0, 8.0]), None);
        // Out of order, the walk stops at the first coarser factor.
        assert_eq!(pick_overview(8.0, &[2.0, 16.0, 4.0]), Some(0));
    }
}
