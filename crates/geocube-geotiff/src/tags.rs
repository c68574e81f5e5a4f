//! TIFF, GeoTIFF and GDAL tag numbers, field types, GeoKey ids and the
//! values geocube writes, shared by the writer here and by readers.
//!
//! Tag numbers are at the top of the module; related code lists live in
//! submodules ([`field_type`], [`geokey`], [`compression`], [`predictor`],
//! [`sample_format`], [`photometric`]).

/// NewSubfileType: 1 marks a reduced-resolution image (an overview).
pub const NEW_SUBFILE_TYPE: u16 = 254;
/// ImageWidth in pixels.
pub const IMAGE_WIDTH: u16 = 256;
/// ImageLength (height) in pixels.
pub const IMAGE_LENGTH: u16 = 257;
/// BitsPerSample.
pub const BITS_PER_SAMPLE: u16 = 258;
/// Compression, see [`compression`].
pub const COMPRESSION: u16 = 259;
/// PhotometricInterpretation, see [`photometric`].
pub const PHOTOMETRIC: u16 = 262;
/// SamplesPerPixel.
pub const SAMPLES_PER_PIXEL: u16 = 277;
/// PlanarConfiguration: 1 chunky (pixel-interleaved), 2 planar.
pub const PLANAR_CONFIGURATION: u16 = 284;
/// Predictor, see [`predictor`].
pub const PREDICTOR: u16 = 317;
/// TileWidth in pixels (a multiple of 16).
pub const TILE_WIDTH: u16 = 322;
/// TileLength (height) in pixels (a multiple of 16).
pub const TILE_LENGTH: u16 = 323;
/// TileOffsets: file offset of each tile, row-major.
pub const TILE_OFFSETS: u16 = 324;
/// TileByteCounts: compressed size of each tile.
pub const TILE_BYTE_COUNTS: u16 = 325;
/// SampleFormat, see [`sample_format`].
pub const SAMPLE_FORMAT: u16 = 339;
/// ModelPixelScaleTag: `(sx, sy, sz)`.
pub const MODEL_PIXEL_SCALE: u16 = 33550;
/// ModelTiepointTag: `(i, j, k, x, y, z)` per tie point.
pub const MODEL_TIEPOINT: u16 = 33922;
/// ModelTransformationTag: a 4×4 row-major matrix.
pub const MODEL_TRANSFORMATION: u16 = 34264;
/// GeoKeyDirectoryTag: header `(1, 1, 0, n)` then `n` keys
/// `(id, location, count, value)`, sorted by id.
pub const GEO_KEY_DIRECTORY: u16 = 34735;
/// GeoDoubleParamsTag: values of double-valued GeoKeys.
pub const GEO_DOUBLE_PARAMS: u16 = 34736;
/// GeoAsciiParamsTag: values of ASCII GeoKeys, each terminated by `|`.
pub const GEO_ASCII_PARAMS: u16 = 34737;
/// GDAL_METADATA: GDAL's XML metadata.
pub const GDAL_METADATA: u16 = 42112;
/// GDAL_NODATA: the nodata value as ASCII.
pub const GDAL_NODATA: u16 = 42113;

/// TIFF field types (the `type` of an IFD entry).
pub mod field_type {
    /// 8-bit unsigned integer.
    pub const BYTE: u16 = 1;
    /// NUL-terminated 7-bit ASCII.
    pub const ASCII: u16 = 2;
    /// 16-bit unsigned integer.
    pub const SHORT: u16 = 3;
    /// 32-bit unsigned integer.
    pub const LONG: u16 = 4;
    /// Two LONGs: numerator, denominator.
    pub const RATIONAL: u16 = 5;
    /// IEEE double.
    pub const DOUBLE: u16 = 12;
    /// 64-bit unsigned integer (BigTIFF).
    pub const LONG8: u16 = 16;
}

/// Values of [`COMPRESSION`].
pub mod compression {
    /// No compression.
    pub const NONE: u16 = 1;
    /// LZW.
    pub const LZW: u16 = 5;
    /// zlib-wrapped DEFLATE (Adobe).
    pub const DEFLATE: u16 = 8;
    /// ZSTD (libtiff extension).
    pub const ZSTD: u16 = 50000;
}

/// Values of [`PREDICTOR`].
pub mod predictor {
    /// No prediction.
    pub const NONE: u16 = 1;
    /// Horizontal differencing of integer samples.
    pub const HORIZONTAL: u16 = 2;
    /// Byte-plane differencing of floating-point samples.
    pub const FLOATING_POINT: u16 = 3;
}

/// Values of [`SAMPLE_FORMAT`].
pub mod sample_format {
    /// Unsigned integer.
    pub const UINT: u16 = 1;
    /// Two's complement signed integer.
    pub const INT: u16 = 2;
    /// IEEE floating point.
    pub const IEEE_FP: u16 = 3;
}

/// Values of [`PHOTOMETRIC`].
pub mod photometric {
    /// Grey scale, 0 is black: what single-band rasters use.
    pub const BLACK_IS_ZERO: u16 = 1;
}

/// GeoKey ids and values (GeoTIFF 1.1, OGC 19-008r4).
pub mod geokey {
    /// GTModelTypeGeoKey: [`MODEL_PROJECTED`] or [`MODEL_GEOGRAPHIC`].
    pub const GT_MODEL_TYPE: u16 = 1024;
    /// GTRasterTypeGeoKey: [`RASTER_PIXEL_IS_AREA`] or [`RASTER_PIXEL_IS_POINT`].
    pub const GT_RASTER_TYPE: u16 = 1025;
    /// GTCitationGeoKey: free text describing the CRS (ASCII).
    pub const GT_CITATION: u16 = 1026;
    /// GeographicTypeGeoKey: EPSG code of a geographic CRS.
    pub const GEOGRAPHIC_TYPE: u16 = 2048;
    /// GeogCitationGeoKey (ASCII).
    pub const GEOG_CITATION: u16 = 2049;
    /// GeogAngularUnitsGeoKey: EPSG unit code, e.g. [`UNIT_DEGREE`].
    pub const GEOG_ANGULAR_UNITS: u16 = 2054;
    /// ProjectedCSTypeGeoKey: EPSG code of a projected CRS.
    pub const PROJECTED_CS_TYPE: u16 = 3072;
    /// ProjLinearUnitsGeoKey: EPSG unit code, e.g. [`UNIT_METRE`].
    pub const PROJ_LINEAR_UNITS: u16 = 3076;

    /// GTModelTypeGeoKey value: projected CRS.
    pub const MODEL_PROJECTED: u16 = 1;
    /// GTModelTypeGeoKey value: geographic CRS.
    pub const MODEL_GEOGRAPHIC: u16 = 2;
    /// GTRasterTypeGeoKey value: the tie point is a pixel's corner (GDAL's default).
    pub const RASTER_PIXEL_IS_AREA: u16 = 1;
    /// GTRasterTypeGeoKey value: the tie point is a pixel's centre.
    pub const RASTER_PIXEL_IS_POINT: u16 = 2;
    /// Any code key's value for "user-defined" (not an EPSG code).
    pub const USER_DEFINED: u16 = 32767;
    /// EPSG unit code of the metre.
    pub const UNIT_METRE: u16 = 9001;
    /// EPSG unit code of the degree.
    pub const UNIT_DEGREE: u16 = 9102;
    /// Location value of a key whose value is stored inline in the directory.
    pub const LOCATION_INLINE: u16 = 0;
}
