//! The GeoParquet mosaic index (`ArcticDEM_Mosaic_Index_v4_1_32m.parquet`,
//! `…_2m.parquet`: [`crate::Mosaic::index_file_name`]): one row per tile
//! with its `dem_id` and footprint polygon (WKB, EPSG:3413), written and
//! read with the `parquet` crate's low-level API (no Arrow).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::RowAccessor;
use parquet::schema::parser::parse_message_type;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Parquet schema of the index.
const SCHEMA: &str = "
message schema {
  REQUIRED BYTE_ARRAY dem_id (UTF8);
  REQUIRED BYTE_ARRAY tile (UTF8);
  REQUIRED DOUBLE gsd;
  REQUIRED BYTE_ARRAY geometry;
}";

/// One row of the mosaic index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexRecord {
    /// ArcticDEM tile id, e.g. `58_23_32m_v4.1`.
    pub dem_id: String,
    /// Tile name `{row}_{col}`, e.g. `58_23` (`56_25_2_1` at 2 m).
    pub tile: String,
    /// Ground sample distance in metres.
    pub gsd: f64,
    /// Closed exterior ring of the footprint in EPSG:3413 metres,
    /// counter-clockwise.
    pub ring: Vec<(f64, f64)>,
}

/// A mosaic index read back from GeoParquet.
#[derive(Clone, Debug)]
pub struct MosaicIndex {
    /// The GeoParquet `geo` file metadata.
    pub geo: Value,
    /// The rows in file order.
    pub records: Vec<IndexRecord>,
}

/// Encodes a single-ring polygon as little-endian WKB.
#[must_use]
pub fn wkb_polygon(ring: &[(f64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + 16 * ring.len());
    out.push(1);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&u32::try_from(ring.len()).unwrap_or(u32::MAX).to_le_bytes());
    for (x, y) in ring {
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
    }
    out
}

/// Decodes a WKB polygon (either byte order) into its rings.
///
/// # Errors
/// [`Error::Invalid`] if the bytes are not a 2D WKB polygon.
pub fn parse_wkb_polygon(wkb: &[u8]) -> Result<Vec<Vec<(f64, f64)>>> {
    struct Cursor<'a> {
        bytes: &'a [u8],
        pos: usize,
        little: bool,
    }
    impl Cursor<'_> {
        fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
            let s = self
                .bytes
                .get(self.pos..self.pos + N)
                .and_then(|s| <[u8; N]>::try_from(s).ok())
                .ok_or_else(|| bad("WKB ends early"))?;
            self.pos += N;
            Ok(s)
        }
        fn u32(&mut self) -> Result<u32> {
            let b = self.take::<4>()?;
            Ok(if self.little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            })
        }
        fn f64(&mut self) -> Result<f64> {
            let b = self.take::<8>()?;
            Ok(if self.little {
                f64::from_le_bytes(b)
            } else {
                f64::from_be_bytes(b)
            })
        }
    }
    fn bad(reason: &str) -> Error {
        Error::Invalid {
            path: "<wkb>".into(),
            reason: reason.to_owned(),
        }
    }
    let little = match wkb.first() {
        Some(1) => true,
        Some(0) => false,
        _ => return Err(bad("unknown WKB byte order")),
    };
    let mut c = Cursor {
        bytes: wkb,
        pos: 1,
        little,
    };
    if c.u32()? != 3 {
        return Err(bad("WKB geometry is not a 2D polygon"));
    }
    let n_rings = c.u32()?;
    let mut rings = Vec::new();
    for _ in 0..n_rings {
        let n = c.u32()?;
        // Bound the allocation by what the bytes can hold.
        let mut ring = Vec::with_capacity((n as usize).min(wkb.len() / 16));
        for _ in 0..n {
            ring.push((c.f64()?, c.f64()?));
        }
        rings.push(ring);
    }
    Ok(rings)
}

/// PROJJSON of EPSG:3413, as GeoParquet's `crs` wants it.
#[must_use]
pub fn epsg_3413_projjson() -> Value {
    let deg = "degree";
    json!({
        "$schema": "https://proj.org/schemas/v0.7/projjson.schema.json",
        "type": "ProjectedCRS",
        "name": "WGS 84 / NSIDC Sea Ice Polar Stereographic North",
        "base_crs": {
            "name": "WGS 84",
            "datum": {
                "type": "GeodeticReferenceFrame",
                "name": "World Geodetic System 1984",
                "ellipsoid": { "name": "WGS 84", "semi_major_axis": 6_378_137, "inverse_flattening": 298.257_223_563 }
            },
            "coordinate_system": {
                "subtype": "ellipsoidal",
                "axis": [
                    { "name": "Geodetic latitude", "abbreviation": "Lat", "direction": "north", "unit": deg },
                    { "name": "Geodetic longitude", "abbreviation": "Lon", "direction": "east", "unit": deg }
                ]
            },
            "id": { "authority": "EPSG", "code": 4326 }
        },
        "conversion": {
            "name": "US NSIDC Sea Ice polar stereographic north",
            "method": { "name": "Polar Stereographic (variant B)", "id": { "authority": "EPSG", "code": 9829 } },
            "parameters": [
                { "name": "Latitude of standard parallel", "value": 70, "unit": deg, "id": { "authority": "EPSG", "code": 8832 } },
                { "name": "Longitude of origin", "value": -45, "unit": deg, "id": { "authority": "EPSG", "code": 8833 } },
                { "name": "False easting", "value": 0, "unit": "metre", "id": { "authority": "EPSG", "code": 8806 } },
                { "name": "False northing", "value": 0, "unit": "metre", "id": { "authority": "EPSG", "code": 8807 } }
            ]
        },
        "coordinate_system": {
            "subtype": "Cartesian",
            "axis": [
                { "name": "Easting", "abbreviation": "X", "direction": "south",
                  "meridian": { "longitude": 45, "unit": deg }, "unit": "metre" },
                { "name": "Northing", "abbreviation": "Y", "direction": "south",
                  "meridian": { "longitude": 135, "unit": deg }, "unit": "metre" }
            ]
        },
        "id": { "authority": "EPSG", "code": 3413 }
    })
}

/// Writes the index with GeoParquet 1.0.0 `geo` metadata (WKB, EPSG:3413
/// PROJJSON, bbox), snappy-compressed.
///
/// # Errors
/// If the file cannot be created or parquet fails.
pub fn write_index(path: &Path, records: &[IndexRecord]) -> Result<()> {
    let pq = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let mut bbox = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for &(x, y) in records.iter().flat_map(|r| &r.ring) {
        bbox = [
            bbox[0].min(x),
            bbox[1].min(y),
            bbox[2].max(x),
            bbox[3].max(y),
        ];
    }
    let geo = json!({
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "crs": epsg_3413_projjson(),
                "orientation": "counterclockwise",
                "bbox": bbox,
            }
        }
    });
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(pq)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new("geo".to_owned(), geo.to_string())]))
        .build();
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(props)).map_err(pq)?;
    let mut rg = writer.next_row_group().map_err(pq)?;
    let strings = |f: &dyn Fn(&IndexRecord) -> Vec<u8>| -> Vec<ByteArray> {
        records.iter().map(|r| ByteArray::from(f(r))).collect()
    };
    let columns = [
        strings(&|r| r.dem_id.clone().into_bytes()),
        strings(&|r| r.tile.clone().into_bytes()),
        Vec::new(),
        strings(&|r| wkb_polygon(&r.ring)),
    ];
    let gsd: Vec<f64> = records.iter().map(|r| r.gsd).collect();
    let mut i = 0;
    while let Some(mut col) = rg.next_column().map_err(pq)? {
        if i == 2 {
            col.typed::<DoubleType>()
                .write_batch(&gsd, None, None)
                .map_err(pq)?;
        } else {
            col.typed::<ByteArrayType>()
                .write_batch(&columns[i], None, None)
                .map_err(pq)?;
        }
        col.close().map_err(pq)?;
        i += 1;
    }
    rg.close().map_err(pq)?;
    writer.close().map_err(pq)?;
    Ok(())
}

/// Reads an index written by [`write_index`] (or any GeoParquet file with
/// `dem_id`, `tile`, `gsd` and a WKB polygon `geometry` column).
///
/// # Errors
/// If the file cannot be read, lacks `geo` metadata or has other columns.
pub fn read_index(path: &Path) -> Result<MosaicIndex> {
    let pq = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let invalid = |reason: String| Error::Invalid {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(pq)?;
    let geo_text = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "geo"))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| invalid("no GeoParquet `geo` metadata".into()))?;
    let geo: Value = serde_json::from_str(&geo_text).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let col = |name: &str| {
        (0..schema.num_columns())
            .find(|&i| schema.column(i).name() == name)
            .ok_or_else(|| invalid(format!("no column {name:?}")))
    };
    let (c_id, c_tile, c_gsd, c_geom) =
        (col("dem_id")?, col("tile")?, col("gsd")?, col("geometry")?);
    let mut records = Vec::new();
    for row in reader.get_row_iter(None).map_err(pq)? {
        let row = row.map_err(pq)?;
        let rings = parse_wkb_polygon(row.get_bytes(c_geom).map_err(pq)?.data())?;
        records.push(IndexRecord {
            dem_id: row.get_string(c_id).map_err(pq)?.clone(),
            tile: row.get_string(c_tile).map_err(pq)?.clone(),
            gsd: row.get_double(c_gsd).map_err(pq)?,
            ring: rings.into_iter().next().unwrap_or_default(),
        });
    }
    Ok(MosaicIndex { geo, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkb_round_trip() -> Result<()> {
        let ring = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)];
        let rings = parse_wkb_polygon(&wkb_polygon(&ring))?;
        assert_eq!(rings, vec![ring]);
        assert!(parse_wkb_polygon(&[1, 3, 0]).is_err());
        Ok(())
    }
}
