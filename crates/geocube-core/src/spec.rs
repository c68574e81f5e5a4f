//! Cube specifications: what a dataset's cube looks like (grid, time axis,
//! channels, chunking, codec). Specs are data (serde), so dataset presets can
//! live in JSON as well as in code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, GeoBox, Result};

/// Element type of a channel. Names follow Zarr v3 (`float32`, `uint8`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// Unsigned byte.
    Uint8,
    /// Unsigned 16-bit integer.
    Uint16,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Boolean (one byte per element in Zarr).
    Bool,
}

impl DType {
    /// The Zarr v3 `data_type` name.
    #[must_use]
    pub fn zarr_name(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::Uint8 => "uint8",
            Self::Uint16 => "uint16",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Bool => "bool",
        }
    }

    /// Parse a Zarr v3 `data_type` name.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] for types geocube does not handle.
    pub fn from_zarr_name(name: &str) -> Result<Self> {
        Ok(match name {
            "float32" => Self::Float32,
            "float64" => Self::Float64,
            "uint8" => Self::Uint8,
            "uint16" => Self::Uint16,
            "int16" => Self::Int16,
            "int32" => Self::Int32,
            "bool" => Self::Bool,
            other => {
                return Err(Error::InvalidSpec(format!(
                    "data type `{other}` is not supported (use float32, float64, uint8, uint16, int16, int32 or bool)"
                )));
            }
        })
    }

    /// Bytes per element.
    #[must_use]
    pub fn size(self) -> usize {
        match self {
            Self::Uint8 | Self::Bool => 1,
            Self::Uint16 | Self::Int16 => 2,
            Self::Float32 | Self::Int32 => 4,
            Self::Float64 => 8,
        }
    }

    /// Whether the type is a floating-point type (fill value NaN).
    #[must_use]
    pub fn is_float(self) -> bool {
        matches!(self, Self::Float32 | Self::Float64)
    }
}

/// The chunk codec of the data variables.
///
/// The codec decides most of the cost of a cold load: smart-geocubes'
/// `blosc` zstd clevel 9 maps to zstd level 22 and encodes at ~10 MB/s on two
/// cores; clevel 3, the default, is ~30x faster for ~30% more bytes on
/// terrain (ratio 2.9 against 3.7; see the README's performance section).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ChunkCodec {
    /// smart-geocubes' codec, for byte-compatible cubes: blosc zstd clevel 9,
    /// shuffle for multi-byte types, bitshuffle for one-byte types.
    Reference,
    /// blosc zstd at the given clevel (1-9), same shuffles as the reference.
    BloscZstd {
        /// blosc compression level 1-9.
        clevel: u8,
    },
    /// blosc lz4 at the given clevel (1-9): fastest, largest.
    BloscLz4 {
        /// blosc compression level 1-9.
        clevel: u8,
    },
    /// Plain Zarr `zstd` codec at the given level.
    Zstd {
        /// zstd level (1-22).
        level: i32,
    },
    /// The preset default: blosc zstd clevel 3 (see the codec table).
    #[default]
    Default,
}

impl ChunkCodec {
    /// Resolve [`ChunkCodec::Default`] to the concrete codec it stands for.
    #[must_use]
    pub fn resolve(self) -> Self {
        match self {
            Self::Default => Self::BloscZstd { clevel: 3 },
            other => other,
        }
    }

    /// Parse the command-line spelling: `reference`, `default`,
    /// `blosc-zstd[:L]`, `blosc-lz4[:L]`, `zstd[:L]`.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] on an unknown name or a level out of range.
    pub fn parse(s: &str) -> Result<Self> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (
                n,
                Some(l.parse::<i32>().map_err(|_| {
                    Error::InvalidSpec(format!("codec level `{l}` is not a number"))
                })?),
            ),
            None => (s, None),
        };
        let clevel = |default: i32| -> Result<u8> {
            let l = level.unwrap_or(default);
            u8::try_from(l)
                .ok()
                .filter(|l| (1..=9).contains(l))
                .ok_or_else(|| Error::InvalidSpec(format!("blosc clevel must be 1-9, got {l}")))
        };
        Ok(match name {
            "reference" => Self::Reference,
            "default" => Self::Default,
            "blosc-zstd" => Self::BloscZstd { clevel: clevel(5)? },
            "blosc-lz4" => Self::BloscLz4 { clevel: clevel(5)? },
            "zstd" => {
                let l = level.unwrap_or(3);
                if !(1..=22).contains(&l) {
                    return Err(Error::InvalidSpec(format!(
                        "zstd level must be 1-22, got {l}"
                    )));
                }
                Self::Zstd { level: l }
            }
            other => {
                return Err(Error::InvalidSpec(format!(
                    "unknown codec `{other}`; use reference, default, blosc-zstd[:L], blosc-lz4[:L] or zstd[:L]"
                )));
            }
        })
    }
}

/// One data variable of the cube.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Variable name (`dem`, `datamask`, ...).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// The source's nodata value, if any. Source pixels equal to it are kept
    /// bit-exact in the cube but never overwrite valid data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodata: Option<f64>,
    /// Attributes written on the variable (long_name, units, data_source, ...).
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl ChannelSpec {
    /// A channel with no nodata value and no attributes.
    pub fn new(name: impl Into<String>, dtype: DType) -> Self {
        Self {
            name: name.into(),
            dtype,
            nodata: None,
            attributes: serde_json::Map::new(),
        }
    }

    /// Set the source nodata value.
    #[must_use]
    pub fn with_nodata(mut self, nodata: f64) -> Self {
        self.nodata = Some(nodata);
        self
    }

    /// Add an attribute.
    #[must_use]
    pub fn with_attribute(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.attributes.insert(key.to_owned(), value.into());
        self
    }
}

/// Everything needed to create a cube.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CubeSpec {
    /// The cube's `title` attribute (smart-geocubes uses the dataset name).
    pub title: String,
    /// The full extent and pixel grid of the cube.
    pub geobox: GeoBox,
    /// Time steps of a temporal cube (ascending); `None` for a spatial cube.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Vec<DateTime<Utc>>>,
    /// Spatial chunk edge in pixels (smart-geocubes uses 3600).
    pub chunk_size: usize,
    /// Data variables.
    pub channels: Vec<ChannelSpec>,
    /// Chunk codec of the data variables.
    #[serde(default)]
    pub codec: ChunkCodec,
}

impl CubeSpec {
    /// Check the spec is usable.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        if self.chunk_size == 0 {
            return Err(Error::InvalidSpec("chunk_size must be positive".into()));
        }
        if self.channels.is_empty() {
            return Err(Error::InvalidSpec(
                "a cube needs at least one channel".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for c in &self.channels {
            if c.name.is_empty() || c.name.contains('/') || c.name.starts_with('.') {
                return Err(Error::InvalidSpec(format!(
                    "invalid channel name `{}`",
                    c.name
                )));
            }
            if ["x", "y", "time", "spatial_ref"].contains(&c.name.as_str()) {
                return Err(Error::InvalidSpec(format!(
                    "channel name `{}` collides with a coordinate",
                    c.name
                )));
            }
            if !names.insert(c.name.as_str()) {
                return Err(Error::InvalidSpec(format!(
                    "duplicate channel `{}`",
                    c.name
                )));
            }
        }
        if let Some(time) = &self.time {
            if time.is_empty() {
                return Err(Error::InvalidSpec("the time axis is empty".into()));
            }
            if time.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::InvalidSpec(
                    "time steps must be strictly ascending".into(),
                ));
            }
        }
        Ok(())
    }

    /// The channel called `name`.
    #[must_use]
    pub fn channel(&self, name: &str) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.name == name)
    }
}
