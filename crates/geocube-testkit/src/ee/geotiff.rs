//! The GEO_TIFF reply: one GeoTIFF holding every band as a sample of each
//! pixel (chunky, uncompressed strips), georeferenced by the request's
//! grid.
//!
//! Not geocube-geotiff's `CogWriter`, which writes one band per file and
//! only north-up grids, while a computePixels GeoTIFF carries all bands
//! and any affine grid. The file is built with the `tiff` crate's
//! directory encoder, with geocube-geotiff's GeoKey numbers. TIFF wants one
//! sample type for all bands, so bands of mixed types are written in the
//! type that holds them all ([`PixelType::union`]).

use std::io::Cursor;

use geocube_geotiff::tags::geokey;
use tiff::encoder::TiffEncoder;
use tiff::tags::{ExtraSamples, PhotometricInterpretation, PlanarConfiguration, SampleFormat, Tag};

use super::grid::PixelGrid;
use super::pixel_type::PixelType;

/// Rows per strip aim at strips of about this many bytes.
const STRIP_BYTES: usize = 256 * 1024;

/// The common sample type of `types`.
pub(crate) fn sample_type(types: impl IntoIterator<Item = PixelType>) -> Option<PixelType> {
    types.into_iter().reduce(PixelType::union)
}

/// A GeoTIFF of `pixels` (rows of interleaved samples of type `ty`,
/// little-endian, `bands` per pixel) over `grid`.
pub(crate) fn encode(
    pixels: &[u8],
    bands: usize,
    ty: PixelType,
    grid: &PixelGrid,
) -> Result<Vec<u8>, tiff::TiffError> {
    // The encoder writes the byte order of the host; the pixels are
    // little-endian, as on every host the tests run on.
    #[cfg(target_endian = "big")]
    compile_error!("the emulator's GeoTIFF writer assumes a little-endian host");
    let (width, height) = (grid.width, grid.height);
    let row_bytes = width as usize * bands * ty.bytes();
    let rows_per_strip = (STRIP_BYTES / row_bytes.max(1)).clamp(1, height as usize);
    let mut file = Cursor::new(Vec::with_capacity(pixels.len() + 4096));
    let mut encoder = TiffEncoder::new(&mut file)?;
    let mut dir = encoder.image_directory()?;
    // (The encoder borrows `file` until the directory is finished.)
    let mut offsets: Vec<u32> = Vec::new();
    let mut counts: Vec<u32> = Vec::new();
    for strip in pixels.chunks(rows_per_strip * row_bytes) {
        let at = dir.write_data(strip)?;
        offsets.push(u32::try_from(at).map_err(|_| tiff::TiffError::LimitsExceeded)?);
        counts.push(u32::try_from(strip.len()).map_err(|_| tiff::TiffError::LimitsExceeded)?);
    }
    let bands16 = u16::try_from(bands).map_err(|_| tiff::TiffError::LimitsExceeded)?;
    let bits = u16::try_from(ty.bytes() * 8).unwrap_or(8);
    dir.write_tag(Tag::ImageWidth, width)?;
    dir.write_tag(Tag::ImageLength, height)?;
    dir.write_tag(Tag::BitsPerSample, &vec![bits; bands][..])?;
    dir.write_tag(Tag::Compression, 1u16)?;
    dir.write_tag(
        Tag::PhotometricInterpretation,
        PhotometricInterpretation::BlackIsZero,
    )?;
    dir.write_tag(Tag::StripOffsets, &offsets[..])?;
    dir.write_tag(Tag::SamplesPerPixel, bands16)?;
    dir.write_tag(
        Tag::RowsPerStrip,
        u32::try_from(rows_per_strip).unwrap_or(u32::MAX),
    )?;
    dir.write_tag(Tag::StripByteCounts, &counts[..])?;
    dir.write_tag(Tag::PlanarConfiguration, PlanarConfiguration::Chunky)?;
    if bands > 1 {
        dir.write_tag(
            Tag::ExtraSamples,
            &vec![ExtraSamples::Unspecified; bands - 1][..],
        )?;
    }
    let format = SampleFormat::from_u16(ty.tiff_sample_format()).unwrap_or(SampleFormat::Uint);
    dir.write_tag(Tag::SampleFormat, &vec![format; bands][..])?;
    let [a, b, c, d, e, f] = grid.affine;
    if b == 0.0 && d == 0.0 && a > 0.0 && e < 0.0 {
        dir.write_tag(Tag::ModelPixelScaleTag, &[a, -e, 0.0][..])?;
        dir.write_tag(Tag::ModelTiepointTag, &[0.0, 0.0, 0.0, c, f, 0.0][..])?;
    } else {
        let m = [
            a, b, 0.0, c, d, e, 0.0, f, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ];
        dir.write_tag(Tag::ModelTransformationTag, &m[..])?;
    }
    let code = u16::try_from(grid.epsg()).unwrap_or(geokey::USER_DEFINED);
    let (model, crs_key) = if grid.is_geographic() {
        (geokey::MODEL_GEOGRAPHIC, geokey::GEOGRAPHIC_TYPE)
    } else {
        (geokey::MODEL_PROJECTED, geokey::PROJECTED_CS_TYPE)
    };
    let keys: [u16; 16] = [
        1,
        1,
        0,
        3,
        geokey::GT_MODEL_TYPE,
        geokey::LOCATION_INLINE,
        1,
        model,
        geokey::GT_RASTER_TYPE,
        geokey::LOCATION_INLINE,
        1,
        geokey::RASTER_PIXEL_IS_AREA,
        crs_key,
        geokey::LOCATION_INLINE,
        1,
        code,
    ];
    dir.write_tag(Tag::GeoKeyDirectoryTag, &keys[..])?;
    dir.finish()?;
    Ok(file.into_inner())
}
