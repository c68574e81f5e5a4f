//! The GeoTIFF and GDAL numbers the `tiff` crate does not name, shared by
//! the writer here and by geocube-sources' reader: GeoKey ids and values
//! ([`geokey`]) and the GDAL_METADATA tag.
//!
//! Everything `tiff::tags` does name comes from there and nowhere else: the
//! baseline and tiling tags, the GeoTIFF tags (`ModelPixelScaleTag`,
//! `ModelTiepointTag`, `ModelTransformationTag`, `GeoKeyDirectoryTag`,
//! `GeoDoubleParamsTag`, `GeoAsciiParamsTag`), `GdalNodata`, field types
//! and the compression, predictor, sample-format and photometric code lists.
//! This crate depends on `tiff` without default features, so only those
//! enums are built here, no codec. The GeoKeys live in this crate rather
//! than in the reader because this is the lowest crate that speaks GeoTIFF
//! (it depends on nothing else of geocube): the reader in geocube-sources
//! depends on it, and so the writer and the reader cannot drift apart.

/// GDAL_METADATA: GDAL's XML metadata (not in `tiff::tags::Tag`).
pub const GDAL_METADATA: u16 = 42112;

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
