//! The Earth Engine presets, with smart-geocubes' specs: TCTrend 2019,
//! 2020, 2022 and 2024 (`TCTrend` is 2024, as upstream aliases it) and the
//! AlphaEarth satellite embeddings.
//!
//! Both are global EPSG:4326 cubes in 3600² chunks, the grid odc-geo's
//! `GeoBox.from_bbox((-180, -90, 180, 90), "epsg:4326", resolution=r)`
//! makes: its origin snapped outwards onto the resolution's lattice, so the
//! first column starts a hair west of -180°.
//!
//! ```
//! use geocube_sources::datasets::earthengine::{EeDataset, TcTrendYear};
//! let a = EeDataset::alphaearth();
//! assert_eq!(a.spec.channels.len(), 64);
//! assert_eq!(a.spec.time.as_ref().map(Vec::len), Some(8));
//! assert_eq!(EeDataset::tctrend(TcTrendYear::Y2019).collection, "users/ingmarnitze/TCTrend_SR_2000-2019_TCVIS");
//! ```

use chrono::{TimeZone, Utc};
use geocube_core::{BoundingBox, ChannelSpec, ChunkCodec, Crs, CubeSpec, DType, GeoBox};

/// Chunk edge of the Earth Engine cubes (and so the patch size).
pub const CHUNK_SIZE: usize = 3600;

/// TCTrend's pixel size in degrees (30 m at the equator).
pub const TCTREND_RESOLUTION: f64 = 0.000_269_494_585_235_856_47;

/// AlphaEarth's pixel size in degrees (10 m at the equator).
pub const ALPHAEARTH_RESOLUTION: f64 = 8.983_152_84e-05;

/// The AlphaEarth collection.
pub const ALPHAEARTH_COLLECTION: &str = "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL";

/// What is done to a chunk after it is downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostProcess {
    /// Nothing: masked pixels stay NaN (floats) or nodata.
    None,
    /// TCTrend's: masked pixels filled from the nearest valid pixel, each
    /// band clipped to its own min and max, cast to uint8
    /// ([`crate::ee::fill`]).
    TcTrend,
}

/// An Earth Engine dataset: the cube, the collection and the
/// post-processing.
#[derive(Clone, Debug, PartialEq)]
pub struct EeDataset {
    /// The cube (its title is the reference's class name).
    pub spec: CubeSpec,
    /// The image collection mosaicked per chunk.
    pub collection: String,
    /// What is done to each chunk after download.
    pub post: PostProcess,
}

/// The TCTrend releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcTrendYear {
    /// Trends 2000–2019.
    Y2019,
    /// Trends 2001–2020.
    Y2020,
    /// Trends 2003–2022.
    Y2022,
    /// Trends 2005–2024 (what `TCTrend` means).
    Y2024,
}

impl TcTrendYear {
    /// Every release.
    pub const ALL: [TcTrendYear; 4] = [Self::Y2019, Self::Y2020, Self::Y2022, Self::Y2024];

    /// The release's year.
    #[must_use]
    pub fn year(self) -> u16 {
        match self {
            Self::Y2019 => 2019,
            Self::Y2020 => 2020,
            Self::Y2022 => 2022,
            Self::Y2024 => 2024,
        }
    }

    /// Its Earth Engine collection, as smart-geocubes names it.
    #[must_use]
    pub fn collection(self) -> &'static str {
        match self {
            Self::Y2019 => "users/ingmarnitze/TCTrend_SR_2000-2019_TCVIS",
            Self::Y2020 => "users/ingmarnitze/TCTrend_SR_2001-2020_TCVIS",
            Self::Y2022 => "users/ingmarnitze/TCTrend_SR_2003-2022_TCVIS",
            Self::Y2024 => "projects/ee-ingmarnitze/assets/TCTrend_SR_2005-2024_TCVIS",
        }
    }
}

fn global_geobox(resolution: f64) -> GeoBox {
    // EPSG:4326 is built in; from_bbox fails only for a bad resolution.
    GeoBox::from_bbox(
        BoundingBox::new(-180.0, -90.0, 180.0, 90.0),
        Crs::wgs84(),
        resolution,
    )
    .unwrap_or_else(|e| unreachable!("the global EPSG:4326 grid: {e}"))
}

impl EeDataset {
    /// A TCTrend release: three uint8 trend bands.
    #[must_use]
    pub fn tctrend(year: TcTrendYear) -> Self {
        // The reference gives every release the 2019 data_source.
        let band = |name: &str, long: &str| {
            ChannelSpec::new(name, DType::Uint8)
                .with_attribute("long_name", long)
                .with_attribute("data_source", "ee:ingmarnitze/TCTrend_SR_2000-2019_TCVIS")
        };
        Self {
            spec: CubeSpec {
                title: format!("TCTrend{}", year.year()),
                geobox: global_geobox(TCTREND_RESOLUTION),
                time: None,
                chunk_size: CHUNK_SIZE,
                channels: vec![
                    band("TCB_slope", "Tasseled Cap Brightness Trend"),
                    band("TCG_slope", "Tasseled Cap Greenness Trend"),
                    band("TCW_slope", "Tasseled Cap Wetness Trend"),
                ],
                codec: ChunkCodec::Default,
            },
            collection: year.collection().to_owned(),
            post: PostProcess::TcTrend,
        }
    }

    /// The AlphaEarth annual satellite embeddings: 64 float32 bands
    /// `A00`–`A63`, one time step per year 2017–2024.
    #[must_use]
    pub fn alphaearth() -> Self {
        let channels = (0..64)
            .map(|i| {
                ChannelSpec::new(format!("A{i:02}"), DType::Float32)
                    .with_attribute("long_name", format!("AlphaEarth Embedding Band {i}"))
                    .with_attribute("data_source", format!("ee:{ALPHAEARTH_COLLECTION}"))
            })
            .collect();
        let time = (2017..=2024)
            .filter_map(|y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).single())
            .collect();
        Self {
            spec: CubeSpec {
                title: "AlphaEarthEmbeddings".to_owned(),
                geobox: global_geobox(ALPHAEARTH_RESOLUTION),
                time: Some(time),
                chunk_size: CHUNK_SIZE,
                channels,
                codec: ChunkCodec::Default,
            },
            collection: ALPHAEARTH_COLLECTION.to_owned(),
            post: PostProcess::None,
        }
    }

    /// The same dataset with another codec.
    #[must_use]
    pub fn with_codec(mut self, codec: ChunkCodec) -> Self {
        self.spec.codec = codec;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grids odc-geo 0.4.10 computes for the reference's extents.
    #[test]
    fn grids_equal_odc_geo() {
        let t = EeDataset::tctrend(TcTrendYear::Y2024).spec.geobox;
        assert_eq!(t.shape(), (667_918, 1_335_834));
        assert_eq!(t.affine().x0, -180.000_014_886_977_54);
        assert_eq!(t.affine().y0, 90.000_142_190_781_39);
        let tiles = t.tiles(CHUNK_SIZE, CHUNK_SIZE);
        assert_eq!(tiles.shape(), (186, 372));
        let a = EeDataset::alphaearth().spec.geobox;
        assert_eq!(a.shape(), (2_003_752, 4_007_502));
        assert_eq!(a.affine().x0, -180.000_014_863_028_38);
        assert_eq!(a.affine().y0, 90.000_052_347_278_4);
        assert_eq!(a.tiles(CHUNK_SIZE, CHUNK_SIZE).shape(), (557, 1114));
    }
}
