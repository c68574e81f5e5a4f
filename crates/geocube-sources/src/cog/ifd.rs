//! Reading the first image file directory: size, sample type, internal
//! tiling, chunk offsets, georeferencing and nodata ([`CogInfo`]).

use geocube_core::{Crs, DType, GeoBox};
use tiff::decoder::Decoder;
use tiff::tags::Tag;

use super::block_cache::CachedReader;
use super::reader::{Cog, guarded};
use crate::error::{Error, Result};
use crate::geotiff::{self, GeoReference, GeoTiffError};

/// What [`Cog::open`] learned about the first (full-resolution) image.
#[derive(Clone, Debug, PartialEq)]
pub struct CogInfo {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Sample type.
    pub dtype: DType,
    /// Georeferencing.
    pub georef: GeoReference,
    /// GDAL_NODATA, if set.
    pub nodata: Option<f64>,
    /// Internal tile (or strip) size `(width, height)`.
    pub chunk: (usize, usize),
    /// Tiled (`true`) or stripped layout.
    pub tiled: bool,
    /// Byte size of the file, when known.
    pub file_size: Option<u64>,
}

impl CogInfo {
    /// The image's grid.
    ///
    /// # Errors
    /// When the GeoTIFF has no EPSG code or the code is unknown.
    pub fn geobox(&self, name: &str) -> Result<GeoBox> {
        let epsg = self.georef.epsg.ok_or_else(|| {
            Error::tiff(name, "the GeoTIFF declares no EPSG code (GeoKeyDirectory)")
        })?;
        let crs = Crs::from_epsg(epsg)
            .map_err(|e| Error::tiff(name, format!("EPSG:{epsg}: {e}")).caused_by(e))?;
        Ok(GeoBox::new(
            self.width,
            self.height,
            self.georef.affine,
            crs,
        )?)
    }
}

impl Cog {
    pub(super) fn read_info(&mut self) -> Result<()> {
        let name = self.name.clone();
        let slot = self.error.clone();
        let bad = |reason: String| Error::tiff(&name, reason);
        let georef = |e: GeoTiffError| Error::tiff(&name, e.to_string()).caused_by(e);
        let d = &mut self.decoder;
        let (w, h) = guarded(
            &mut *d,
            &slot,
            &name,
            "reading the image size",
            Decoder::dimensions,
        )?;
        let u16s = |d: &mut Decoder<CachedReader>, tag: Tag| {
            guarded(d, &slot, &name, "reading tags", |d| {
                d.find_tag_unsigned_vec::<u16>(tag)
            })
        };
        let f64s = |d: &mut Decoder<CachedReader>, tag: Tag| {
            guarded(d, &slot, &name, "reading tags", |d| {
                d.find_tag(tag)?
                    .map(tiff::decoder::ifd::Value::into_f64_vec)
                    .transpose()
            })
        };
        let tag = |d: &mut Decoder<CachedReader>, t: Tag| {
            guarded(d, &slot, &name, "reading tags", |d| {
                d.find_tag_unsigned::<u32>(t)
            })
        };
        let samples = tag(d, Tag::SamplesPerPixel)?.unwrap_or(1);
        if samples != 1 {
            return Err(bad(format!(
                "the image has {samples} bands; only single-band GeoTIFFs are supported"
            )));
        }
        let bits = u16s(d, Tag::BitsPerSample)?.unwrap_or_else(|| vec![1]);
        let format = u16s(d, Tag::SampleFormat)?.unwrap_or_else(|| vec![1]);
        let dtype = match (format.first().copied(), bits.first().copied()) {
            (Some(1), Some(8)) => DType::Uint8,
            (Some(1), Some(16)) => DType::Uint16,
            (Some(2), Some(16)) => DType::Int16,
            (Some(2), Some(32)) => DType::Int32,
            (Some(3), Some(32)) => DType::Float32,
            (Some(3), Some(64)) => DType::Float64,
            (f, b) => {
                return Err(bad(format!(
                    "sample format {f:?} with {b:?} bits is not supported (float32, float64, uint8, uint16, int16, int32)"
                )));
            }
        };
        let tile_w = tag(d, Tag::TileWidth)?;
        let tiled = tile_w.is_some();
        let chunk = match tile_w {
            Some(tw) => {
                let th = tag(d, Tag::TileLength)?
                    .ok_or_else(|| bad("TileWidth without TileLength".into()))?;
                (tw as usize, th as usize)
            }
            None => {
                let rows = tag(d, Tag::RowsPerStrip)?.unwrap_or(h);
                (w as usize, rows.min(h) as usize)
            }
        };
        if chunk.0 == 0 || chunk.1 == 0 || w == 0 || h == 0 {
            return Err(bad(format!(
                "empty image or chunk ({w}×{h}, chunks {}×{})",
                chunk.0, chunk.1
            )));
        }
        let (off_tag, cnt_tag) = if tiled {
            (Tag::TileOffsets, Tag::TileByteCounts)
        } else {
            (Tag::StripOffsets, Tag::StripByteCounts)
        };
        let offsets = guarded(&mut *d, &slot, &name, "reading chunk offsets", |d| {
            d.get_tag_u64_vec(off_tag)
        })?;
        let counts = guarded(&mut *d, &slot, &name, "reading chunk sizes", |d| {
            d.get_tag_u64_vec(cnt_tag)
        })?;
        let n_chunks = (w as usize).div_ceil(chunk.0) * (h as usize).div_ceil(chunk.1);
        if offsets.len() < n_chunks || counts.len() < n_chunks {
            return Err(bad(format!(
                "{n_chunks} chunks but {} offsets and {} byte counts",
                offsets.len(),
                counts.len()
            )));
        }

        let scale = f64s(d, Tag::ModelPixelScaleTag)?;
        let tie = f64s(d, Tag::ModelTiepointTag)?;
        let matrix = f64s(d, Tag::ModelTransformationTag)?;
        let keys = match u16s(d, Tag::GeoKeyDirectoryTag)? {
            Some(dir) => geotiff::parse_geo_keys(&dir).map_err(georef)?,
            None => geotiff::GeoKeys::default(),
        };
        let affine = geotiff::affine_from_tags(
            scale.as_deref(),
            tie.as_deref(),
            matrix.as_deref(),
            keys.raster_type,
        )
        .map_err(georef)?;
        let epsg = keys.epsg().map_err(georef)?;
        let nodata = match guarded(&mut *d, &slot, &name, "reading GDAL_NODATA", |d| {
            d.find_tag(Tag::GdalNodata)
        })? {
            Some(tiff::decoder::ifd::Value::Ascii(s)) => {
                Some(geotiff::parse_gdal_nodata(&s).map_err(georef)?)
            }
            Some(_) => return Err(bad("GDAL_NODATA is not ASCII".into())),
            None => None,
        };
        self.info = CogInfo {
            width: w as usize,
            height: h as usize,
            dtype,
            georef: GeoReference {
                affine,
                epsg,
                raster_type: keys.raster_type,
            },
            nodata,
            chunk,
            tiled,
            file_size: self.decoder.inner().total,
        };
        self.offsets = offsets;
        self.byte_counts = counts;
        Ok(())
    }
}
