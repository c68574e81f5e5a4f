//! [`CogWriter`]: the options of a COG and the writing of one band.

use std::borrow::Cow;
use std::io::{BufWriter, Write};

use crate::error::{Error, Result};
use crate::layout::{Cog, Entry, assemble, encode_blocks};
use crate::nodata::format_gdal_nodata;
use crate::overview::{Reducer, Resampling};
use crate::sample::Sample;
use tiff::tags::{CompressionMethod, PhotometricInterpretation, Tag};

use crate::tags::geokey;

/// Block size used unless [`CogWriter::block_size`] says otherwise (GDAL's
/// COG driver default).
pub const DEFAULT_BLOCK_SIZE: u32 = 512;

/// What kind of CRS an EPSG code names, which decides the GeoKeys written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrsKind {
    /// A projected CRS: GTModelTypeGeoKey 1, ProjectedCSTypeGeoKey and
    /// ProjLinearUnitsGeoKey (metre unless [`CogWriter::crs_units`] says
    /// otherwise).
    Projected,
    /// A geographic CRS: GTModelTypeGeoKey 2, GeographicTypeGeoKey and
    /// GeogAngularUnitsGeoKey (degree unless [`CogWriter::crs_units`] says
    /// otherwise).
    Geographic,
}

/// Writes one band as a Cloud-Optimized GeoTIFF.
///
/// The file is a classic little-endian TIFF with square internal tiles,
/// DEFLATE (zlib level 6) with predictor 3 for floats and 2 for integers,
/// overviews halving down to one block, and GDAL's COG layout (ghost
/// header, every IFD before the data, overviews' blocks first, 4-byte
/// block leaders and trailers), so `gdalinfo` reports `LAYOUT=COG`.
/// Output is deterministic: the same input gives the same bytes.
///
/// A builder: set options with the consuming methods, then [`write`] or
/// [`to_vec`] as many bands as needed. Options are checked when writing.
///
/// ```
/// use geocube_geotiff::{CogWriter, CrsKind, Resampling};
///
/// # fn main() -> geocube_geotiff::Result<()> {
/// let writer = CogWriter::new(3, 2)
///     .geotransform([500_000.0, 10.0, 0.0, 7_000_000.0, 0.0, -10.0])
///     .epsg(32633, CrsKind::Projected)
///     .block_size(256);
/// let mask = writer.clone().resampling(Resampling::Max).to_vec(&[0u8, 1, 1, 0, 0, 1])?;
/// let mut file = Vec::new(); // or a std::fs::File
/// let len = writer.nodata(-9999.0).write(&[1.5f32, 2.0, -9999.0, 3.0, f32::NAN, 4.0], &mut file)?;
/// assert_eq!(len, file.len() as u64);
/// # Ok(())
/// # }
/// ```
///
/// [`write`]: Self::write
/// [`to_vec`]: Self::to_vec
#[derive(Clone, Debug, PartialEq)]
pub struct CogWriter {
    width: u32,
    height: u32,
    geotransform: Option<[f64; 6]>,
    crs: Option<(u32, CrsKind)>,
    citation: Option<String>,
    /// `None`: the default unit of the CRS kind; `Some(None)`: no unit key.
    crs_units: Option<Option<u16>>,
    nodata: Option<f64>,
    block_size: u32,
    overviews: bool,
    resampling: Option<Resampling>,
}

impl CogWriter {
    /// A writer of `width × height` bands without georeferencing or
    /// nodata, with [`DEFAULT_BLOCK_SIZE`] blocks and overviews.
    #[must_use]
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            geotransform: None,
            crs: None,
            citation: None,
            crs_units: None,
            nodata: None,
            block_size: DEFAULT_BLOCK_SIZE,
            overviews: true,
            resampling: None,
        }
    }

    /// Places the image with GDAL's geotransform `[x0, dx, 0, y0, 0, dy]`
    /// (top-left corner, pixel width, pixel height negative): written as
    /// ModelPixelScale and ModelTiepoint, PixelIsArea. Writing fails
    /// unless the image is north-up (`dx > 0`, `dy < 0`, no rotation) with
    /// finite coefficients.
    #[must_use]
    pub fn geotransform(mut self, geotransform: [f64; 6]) -> Self {
        self.geotransform = Some(geotransform);
        self
    }

    /// Sets the CRS by EPSG code; writing fails when the code does not fit
    /// a GeoKey (0, 32767 or above 65535).
    #[must_use]
    pub fn epsg(mut self, code: u32, kind: CrsKind) -> Self {
        self.crs = Some((code, kind));
        self
    }

    /// Describes the CRS in GTCitationGeoKey, e.g. `"WGS 84 / NSIDC Sea
    /// Ice Polar Stereographic North"`; written only with a CRS. Writing
    /// fails unless it is printable ASCII without `|`.
    #[must_use]
    pub fn citation(mut self, citation: impl Into<String>) -> Self {
        self.citation = Some(citation.into());
        self
    }

    /// The EPSG unit code of the CRS's axes (ProjLinearUnitsGeoKey or
    /// GeogAngularUnitsGeoKey), `None` to write no unit key. Defaults:
    /// metre (9001) for projected, degree (9102) for geographic CRSs.
    #[must_use]
    pub fn crs_units(mut self, units: Option<u16>) -> Self {
        self.crs_units = Some(units);
        self
    }

    /// Marks `nodata` as the band's nodata value (GDAL_NODATA, formatted
    /// by [`format_gdal_nodata`]); it also pads edge blocks and is skipped
    /// by overview resampling. Writing fails when the band's type cannot
    /// hold it exactly.
    #[must_use]
    pub fn nodata(mut self, nodata: f64) -> Self {
        self.nodata = Some(nodata);
        self
    }

    /// Sets the internal tile size (default [`DEFAULT_BLOCK_SIZE`]);
    /// writing fails unless it is a multiple of 16 from 16 to 4096.
    #[must_use]
    pub fn block_size(mut self, block_size: u32) -> Self {
        self.block_size = block_size;
        self
    }

    /// Whether to add overviews, each halving the previous level until one
    /// fits in a block (default true).
    #[must_use]
    pub fn overviews(mut self, overviews: bool) -> Self {
        self.overviews = overviews;
        self
    }

    /// How overview pixels are made (default
    /// [`Resampling::default_for`] the band's type).
    #[must_use]
    pub fn resampling(mut self, resampling: Resampling) -> Self {
        self.resampling = Some(resampling);
        self
    }

    /// Writes `data` (`width × height` samples, row-major) as a COG to
    /// `out` (buffered here) and returns the number of bytes written.
    ///
    /// # Errors
    /// [`Error::EmptyImage`], [`Error::DataLength`], [`Error::BlockSize`],
    /// [`Error::Geotransform`], [`Error::Epsg`], [`Error::Citation`] or
    /// [`Error::Nodata`] for invalid options, [`Error::TooLarge`] past
    /// 4 GiB, all before anything is written; [`Error::Io`] when `out`
    /// fails.
    pub fn write<T: Sample, W: Write>(&self, data: &[T], out: W) -> Result<u64> {
        let cog = self.encode(data)?;
        let mut out = BufWriter::new(out);
        cog.write_to(&mut out)?;
        out.flush()?;
        Ok(cog.len())
    }

    /// The COG of `data` (`width × height` samples, row-major) in memory.
    ///
    /// # Errors
    /// As [`write`](Self::write), except that there is no I/O.
    pub fn to_vec<T: Sample>(&self, data: &[T]) -> Result<Vec<u8>> {
        let cog = self.encode(data)?;
        let mut out = Vec::with_capacity(usize::try_from(cog.len()).unwrap_or(0));
        cog.write_to(&mut out)?;
        Ok(out)
    }

    fn encode<T: Sample>(&self, data: &[T]) -> Result<Cog> {
        let (width, height, block) = (self.width, self.height, self.block_size);
        if width == 0 || height == 0 {
            return Err(Error::EmptyImage { width, height });
        }
        let expected = u64::from(width) * u64::from(height);
        if data.len() as u64 != expected {
            return Err(Error::DataLength {
                width,
                height,
                expected,
                actual: data.len(),
            });
        }
        let checked = self.check::<T>()?;
        let nodata = checked.nodata;

        let mut levels: Vec<(Cow<'_, [T]>, u32, u32)> = vec![(Cow::Borrowed(data), width, height)];
        if self.overviews {
            let reducer = Reducer {
                method: self.resampling.unwrap_or_else(Resampling::default_for::<T>),
                nodata,
            };
            while let Some((d, w, h)) = levels.last().filter(|(_, w, h)| *w > block || *h > block) {
                let (next, w, h) = reducer.downsample(d, *w, *h);
                levels.push((Cow::Owned(next), w, h));
            }
        }
        let fill = checked.fill();
        let blocks = levels
            .iter()
            .map(|(d, w, h)| encode_blocks(d, *w, *h, block, fill))
            .collect();

        assemble(blocks, |i, offsets, counts| {
            let (_, w, h) = &levels[i];
            self.image_entries(
                &checked,
                (*w, *h),
                Entry::longs(Tag::TileOffsets, offsets),
                Entry::longs(Tag::TileByteCounts, counts),
                i > 0,
            )
        })
    }

    /// The options checked for bands of `T`, before anything is written:
    /// image size, block size, georeferencing and nodata.
    /// `(width, height, block size)` as set.
    pub(crate) fn dimensions(&self) -> (u32, u32, u32) {
        (self.width, self.height, self.block_size)
    }

    pub(crate) fn check<T: Sample>(&self) -> Result<Checked<T>> {
        let (width, height, block) = (self.width, self.height, self.block_size);
        if width == 0 || height == 0 {
            return Err(Error::EmptyImage { width, height });
        }
        if !(16..=4096).contains(&block) || block % 16 != 0 {
            return Err(Error::BlockSize(block));
        }
        let geo = self.geo_entries()?;
        let nodata = self
            .nodata
            .map(|n| {
                T::from_f64_exact(n).ok_or(Error::Nodata {
                    nodata: n,
                    sample_type: T::TYPE,
                })
            })
            .transpose()?;
        let nodata_entry = self
            .nodata
            .map(|n| Entry::ascii(Tag::GdalNodata, &format_gdal_nodata(n)));
        Ok(Checked {
            geo,
            nodata,
            nodata_entry,
        })
    }

    /// The IFD entries of one image of `size` (width, height), sorted by
    /// tag: the full-resolution image carries the georeferencing, an
    /// overview says it is one.
    pub(crate) fn image_entries<T: Sample>(
        &self,
        checked: &Checked<T>,
        (w, h): (u32, u32),
        offsets: Entry,
        counts: Entry,
        overview: bool,
    ) -> Vec<Entry> {
        // Checked by `check`: 16 ≤ block ≤ 4096.
        let tile = u16::try_from(self.block_size).unwrap_or(u16::MAX);
        let t = T::TYPE;
        let mut e = Vec::with_capacity(20);
        if overview {
            // Reduced-resolution version of the first image.
            e.push(Entry::longs(Tag::NewSubfileType, &[1]));
        }
        e.push(Entry::longs(Tag::ImageWidth, &[w]));
        e.push(Entry::longs(Tag::ImageLength, &[h]));
        e.push(Entry::shorts(Tag::BitsPerSample, &[t.bits_per_sample()]));
        e.push(Entry::shorts(
            Tag::Compression,
            &[CompressionMethod::Deflate.to_u16()],
        ));
        e.push(Entry::shorts(
            Tag::PhotometricInterpretation,
            &[PhotometricInterpretation::BlackIsZero.to_u16()],
        ));
        e.push(Entry::shorts(Tag::SamplesPerPixel, &[1]));
        e.push(Entry::shorts(Tag::PlanarConfiguration, &[1]));
        e.push(Entry::shorts(Tag::Predictor, &[t.predictor()]));
        e.push(Entry::shorts(Tag::TileWidth, &[tile]));
        e.push(Entry::shorts(Tag::TileLength, &[tile]));
        e.push(offsets);
        e.push(counts);
        e.push(Entry::shorts(Tag::SampleFormat, &[t.sample_format()]));
        if !overview {
            e.extend(checked.geo.iter().cloned());
        }
        e.extend(checked.nodata_entry.iter().cloned());
        e.sort_by_key(Entry::tag);
        e
    }

    /// Width and height of the image.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The internal tile size.
    pub(crate) fn block(&self) -> u32 {
        self.block_size
    }

    /// The georeferencing tags of the full-resolution image.
    fn geo_entries(&self) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        if let Some(gt) = self.geotransform {
            let reason = if gt.iter().any(|v| !v.is_finite()) {
                Some("its coefficients must be finite")
            } else if gt[2] != 0.0 || gt[4] != 0.0 {
                Some("rotated or sheared images are not supported (gt[2] and gt[4] must be 0)")
            } else if gt[1] <= 0.0 || gt[5] >= 0.0 {
                Some("the image must be north-up: pixel width gt[1] > 0 and pixel height gt[5] < 0")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::Geotransform {
                    geotransform: gt,
                    reason,
                });
            }
            entries.push(Entry::doubles(
                Tag::ModelPixelScaleTag,
                &[gt[1], -gt[5], 0.0],
            ));
            entries.push(Entry::doubles(
                Tag::ModelTiepointTag,
                &[0.0, 0.0, 0.0, gt[0], gt[3], 0.0],
            ));
        }
        let Some((code, kind)) = self.crs else {
            return Ok(entries);
        };
        let epsg = u16::try_from(code)
            .ok()
            .filter(|&c| c != 0 && c != geokey::USER_DEFINED)
            .ok_or(Error::Epsg(code))?;
        let (model, code_key, units_key, default_units) = match kind {
            CrsKind::Projected => (
                geokey::MODEL_PROJECTED,
                geokey::PROJECTED_CS_TYPE,
                geokey::PROJ_LINEAR_UNITS,
                geokey::UNIT_METRE,
            ),
            CrsKind::Geographic => (
                geokey::MODEL_GEOGRAPHIC,
                geokey::GEOGRAPHIC_TYPE,
                geokey::GEOG_ANGULAR_UNITS,
                geokey::UNIT_DEGREE,
            ),
        };
        let inline = geokey::LOCATION_INLINE;
        let mut keys = vec![
            [geokey::GT_MODEL_TYPE, inline, 1, model],
            [
                geokey::GT_RASTER_TYPE,
                inline,
                1,
                geokey::RASTER_PIXEL_IS_AREA,
            ],
            [code_key, inline, 1, epsg],
        ];
        if let Some(units) = self.crs_units.unwrap_or(Some(default_units)) {
            keys.push([units_key, inline, 1, units]);
        }
        if let Some(citation) = &self.citation {
            let reason = if !citation.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                Some("it must be printable ASCII")
            } else if citation.contains('|') {
                Some("it must not contain '|', GeoTIFF's ASCII key separator")
            } else {
                None
            };
            let too_long = || Error::Citation {
                citation: citation.clone(),
                reason: "it must be shorter than 65535 bytes",
            };
            if let Some(reason) = reason {
                return Err(Error::Citation {
                    citation: citation.clone(),
                    reason,
                });
            }
            // Count includes the '|' terminator; offset 0 in GeoAsciiParams.
            let count = u16::try_from(citation.len() + 1).map_err(|_| too_long())?;
            keys.push([
                geokey::GT_CITATION,
                Tag::GeoAsciiParamsTag.to_u16(),
                count,
                0,
            ]);
            entries.push(Entry::ascii(
                Tag::GeoAsciiParamsTag,
                &format!("{citation}|"),
            ));
        }
        keys.sort_by_key(|k| k[0]);
        // Header: directory version 1, revision 1.0, number of keys.
        let n = u16::try_from(keys.len()).unwrap_or(u16::MAX);
        let directory: Vec<u16> = [1, 1, 0, n]
            .into_iter()
            .chain(keys.into_iter().flatten())
            .collect();
        entries.push(Entry::shorts(Tag::GeoKeyDirectoryTag, &directory));
        Ok(entries)
    }
}

/// [`CogWriter`]'s options checked for one sample type.
pub(crate) struct Checked<T> {
    /// Georeferencing entries of the full-resolution image.
    geo: Vec<Entry>,
    /// The nodata value as a sample.
    pub(crate) nodata: Option<T>,
    nodata_entry: Option<Entry>,
}

impl<T: Sample> Checked<T> {
    /// What pads edge blocks: nodata, else 0.
    pub(crate) fn fill(&self) -> T {
        self.nodata.unwrap_or_else(T::zero)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: Sample>(w: &CogWriter, data: &[T]) -> Error {
        match w.to_vec(data) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let w = CogWriter::new(2, 2);
        assert!(matches!(
            err(&CogWriter::new(0, 5), &[0u8; 0]),
            Error::EmptyImage { .. }
        ));
        assert!(matches!(
            err(&w, &[0u8; 3]),
            Error::DataLength {
                expected: 4,
                actual: 3,
                ..
            }
        ));
        for b in [0, 8, 100, 8192] {
            assert!(matches!(
                err(&w.clone().block_size(b), &[0u8; 4]),
                Error::BlockSize(_)
            ));
        }
        let gt = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
        for bad in [
            [0.0, 1.0, 0.5, 0.0, 0.0, -1.0],
            [0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            [f64::NAN, 1.0, 0.0, 0.0, 0.0, -1.0],
        ] {
            assert!(matches!(
                err(&w.clone().geotransform(bad), &[0u8; 4]),
                Error::Geotransform { .. }
            ));
        }
        for code in [0, 32767, 70000] {
            let w = w.clone().geotransform(gt).epsg(code, CrsKind::Projected);
            assert!(matches!(err(&w, &[0u8; 4]), Error::Epsg(_)));
        }
        let w3413 = w.clone().epsg(3413, CrsKind::Projected);
        assert!(matches!(
            err(&w3413.clone().citation("a|b"), &[0u8; 4]),
            Error::Citation { .. }
        ));
        assert!(matches!(
            err(&w3413.citation("é"), &[0u8; 4]),
            Error::Citation { .. }
        ));
        assert!(matches!(
            err(&w.clone().nodata(-9999.0), &[0u8; 4]),
            Error::Nodata { .. }
        ));
        assert!(matches!(
            err(&w.clone().nodata(f64::NAN), &[0i32; 4]),
            Error::Nodata { .. }
        ));
        assert!(matches!(
            err(&w.nodata(2.0), &[false; 4]),
            Error::Nodata { .. }
        ));
    }

    #[test]
    fn geokeys_of_a_projected_crs() {
        let w = CogWriter::new(1, 1).epsg(3413, CrsKind::Projected);
        let e = w.geo_entries().unwrap_or_default();
        assert_eq!(e.len(), 1);
        let expected = Entry::shorts(
            Tag::GeoKeyDirectoryTag,
            &[
                1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 3413, 3076, 0, 1, 9001,
            ],
        );
        assert_eq!(format!("{:?}", e[0]), format!("{expected:?}"));
    }

    #[test]
    fn output_is_deterministic_and_sized() {
        let data: Vec<f32> = (0..700 * 300).map(|i| (i % 1013) as f32 * 0.25).collect();
        let w = CogWriter::new(700, 300).block_size(256).nodata(-1.0);
        let a = w.to_vec(&data).unwrap_or_default();
        let mut b = Vec::new();
        let n = w.write(&data, &mut b).unwrap_or_default();
        assert_eq!(a, b);
        assert_eq!(n, a.len() as u64);
        assert_eq!(&a[..4], b"II*\0");
    }
}
