//! The on-disk layout of a cube (see `shared/design/cube-layout.md`): the
//! Zarr v3 metadata documents we write, and the [`CubeLayout`] we read back
//! from any cube in that layout, ours or smart-geocubes'.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::spec::{ChunkCodec, CubeSpec, DType};
use crate::{Affine, Crs, Error, GeoBox, Result};

/// base64 of the little-endian f64 NaN: xarray's `_FillValue` attribute for
/// float variables in Zarr v3.
const NAN_FILL_B64: &str = "AAAAAAAA+H8=";

/// One data variable as found in the cube.
#[derive(Clone, Debug, PartialEq)]
pub struct VariableLayout {
    /// Name (Zarr node path below the root).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Variable attributes.
    pub attributes: Map<String, Value>,
}

/// What a cube looks like, read from its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct CubeLayout {
    /// Root `title` attribute.
    pub title: String,
    /// Grid of the whole cube.
    pub geobox: GeoBox,
    /// Time axis of temporal cubes.
    pub time: Option<Vec<DateTime<Utc>>>,
    /// Spatial chunk shape `(rows, cols)`.
    pub chunk_shape: (usize, usize),
    /// Data variables (sorted by name when read from a cube).
    pub variables: Vec<VariableLayout>,
}

impl CubeLayout {
    /// The variable called `name`.
    #[must_use]
    pub fn variable(&self, name: &str) -> Option<&VariableLayout> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Whether the cube has a time axis.
    #[must_use]
    pub fn is_temporal(&self) -> bool {
        self.time.is_some()
    }
}

/// The `codecs` list of a Zarr v3 array: `bytes` (little-endian for
/// multi-byte types) then `codec`, with smart-geocubes' shuffle choices.
#[must_use]
pub fn codecs_document(codec: ChunkCodec, dtype_size: usize) -> Value {
    let bytes = if dtype_size > 1 {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    } else {
        json!({"name": "bytes"})
    };
    let blosc = |cname: &str, clevel: u8| {
        json!({"name": "blosc", "configuration": {
            "typesize": dtype_size,
            "cname": cname,
            "clevel": clevel,
            "shuffle": if dtype_size > 1 { "shuffle" } else { "bitshuffle" },
            "blocksize": 0
        }})
    };
    let second = match codec.resolve() {
        ChunkCodec::Reference => blosc("zstd", 9),
        ChunkCodec::BloscZstd { clevel } => blosc("zstd", clevel),
        ChunkCodec::BloscLz4 { clevel } => blosc("lz4", clevel),
        ChunkCodec::Zstd { level } => {
            json!({"name": "zstd", "configuration": {"level": level, "checksum": false}})
        }
        ChunkCodec::Default => unreachable!("resolve() never returns Default"),
    };
    json!([bytes, second])
}

/// A Zarr v3 array `zarr.json` in the layout smart-geocubes and xarray write
/// (no `dimension_names` on 0-d arrays, as zarr-python).
#[must_use]
pub fn array_document(
    shape: &[usize],
    chunk_shape: &[usize],
    dtype: &str,
    fill: Value,
    codecs: Value,
    attributes: Map<String, Value>,
    dims: &[&str],
) -> Value {
    let mut doc = json!({
        "shape": shape,
        "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk_shape}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill,
        "codecs": codecs,
        "attributes": attributes,
        "dimension_names": dims,
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": []
    });
    // zarr-python writes no `dimension_names` for a 0-d array (spatial_ref).
    if dims.is_empty()
        && let Some(o) = doc.as_object_mut()
    {
        o.remove("dimension_names");
    }
    doc
}

fn fill_json(dtype: DType) -> Value {
    match dtype {
        DType::Float32 | DType::Float64 => json!("NaN"),
        DType::Bool => json!(false),
        _ => json!(0),
    }
}

/// Format a GeoTransform number like odc-geo/rioxarray: 24 decimals, trailing
/// zeros dropped (`0.010000000000000000208167`, `32`, `-1`).
fn gdal_number(v: f64) -> String {
    let s = format!("{v:.24}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The time coordinate as CF integers: whole days since the first step when
/// every step is a whole number of days after it, seconds otherwise.
pub(crate) fn encode_time(steps: &[DateTime<Utc>]) -> (Vec<i64>, String) {
    let Some(first) = steps.first() else {
        return (vec![], String::new());
    };
    let origin = first.date_naive();
    let origin_dt = origin.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let whole_days = steps
        .iter()
        .all(|t| (*t - origin_dt).num_seconds() % 86_400 == 0);
    let (unit, div) = if whole_days {
        ("days", 86_400)
    } else {
        ("seconds", 1)
    };
    let values = steps
        .iter()
        .map(|t| (*t - origin_dt).num_seconds() / div)
        .collect();
    (
        values,
        format!("{unit} since {} 00:00:00", origin.format("%Y-%m-%d")),
    )
}

/// Decode CF `"<unit> since <date>[ <time>]"` integers.
pub(crate) fn decode_time(values: &[i64], units: &str) -> Result<Vec<DateTime<Utc>>> {
    let bad = || Error::NotACube {
        location: String::new(),
        reason: format!("cannot decode time units `{units}`"),
    };
    let (unit, origin) = units.split_once(" since ").ok_or_else(bad)?;
    let origin = origin.trim().trim_end_matches('Z');
    let origin: NaiveDateTime = NaiveDateTime::parse_from_str(origin, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(origin, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(origin, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| {
            NaiveDate::parse_from_str(origin, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| bad())?;
    let secs: i64 = match unit.trim() {
        "days" | "day" => 86_400,
        "hours" | "hour" => 3_600,
        "minutes" | "minute" => 60,
        "seconds" | "second" => 1,
        _ => return Err(bad()),
    };
    values
        .iter()
        .map(|v| {
            v.checked_mul(secs)
                .and_then(TimeDelta::try_seconds)
                .and_then(|d| origin.checked_add_signed(d))
                .map(|t| t.and_utc())
                .ok_or_else(bad)
        })
        .collect()
}

/// The Zarr v3 documents of a grid in the cube layout, and the coordinate
/// values to store with them.
///
/// Cube creation ([`Cube::create`](crate::Cube::create)) and the export of a
/// loaded crop (`geocube load --out X.zarr`) both write these, so a crop's
/// documents are the cube's own for the crop's grid: they differ only in
/// shape, chunk grid and the GeoTransform's origin.
#[derive(Clone, Debug, PartialEq)]
pub struct CubeDocuments {
    /// `zarr.json` documents keyed by node path (`""` = the root group), in
    /// writing order: root, `x`, `y`, `spatial_ref`, `time`, data variables.
    pub nodes: Vec<(String, Value)>,
    /// Values of `x`: pixel-centre eastings, ascending.
    pub xs: Vec<f64>,
    /// Values of `y`: pixel-centre northings, descending.
    pub ys: Vec<f64>,
    /// Values of `time` (temporal grids): CF integers in the units the `time`
    /// document names.
    pub time: Option<Vec<i64>>,
    /// Value of the `spatial_ref` scalar: the EPSG code (0 without one), as odc-geo writes it.
    pub spatial_ref: i32,
}

impl CubeLayout {
    /// The Zarr v3 documents of a cube, or of a crop of one, in this layout,
    /// its data variables encoded with `codec`.
    ///
    /// The root group carries only the `title`: `loaded_patches` is the
    /// cube's bookkeeping, which cube creation adds and a crop does not have.
    #[must_use]
    pub fn documents(&self, codec: ChunkCodec) -> CubeDocuments {
        let gb = &self.geobox;
        let (ny, nx) = gb.shape();
        let crs = gb.crs();
        let crs_name = crs.to_string();
        let (ux, uy) = crs.axis_units();
        // odc-geo names units by axis direction; polar stereographic CRSs (3413,
        // 3995, 3031, ...) have no east/west axis, so their x units are "".
        let polar = crs.proj4().contains("+proj=stere")
            && (crs.proj4().contains("+lat_0=90") || crs.proj4().contains("+lat_0=-90"));
        let ux = if polar { "" } else { ux };
        let (res_x, res_y) = gb.resolution();
        let blosc5_f64 = codecs_document(ChunkCodec::BloscZstd { clevel: 5 }, 8);
        let mut nodes = vec![];

        let mut root_attrs = Map::new();
        root_attrs.insert("title".into(), json!(self.title));
        nodes.push((String::new(), group_json(root_attrs)));

        // smart-geocubes writes `units: ""` on projected x; keep "metre" for y as it does.
        for (name, n, units, res) in [("x", nx, ux, res_x), ("y", ny, uy, res_y)] {
            let mut attrs = Map::new();
            attrs.insert("units".into(), json!(units));
            attrs.insert("resolution".into(), json!(res));
            attrs.insert("crs".into(), json!(crs_name));
            attrs.insert("_FillValue".into(), json!(NAN_FILL_B64));
            nodes.push((
                name.into(),
                array_document(
                    &[n],
                    &[n],
                    "float64",
                    json!("NaN"),
                    blosc5_f64.clone(),
                    attrs,
                    &[name],
                ),
            ));
        }

        let mut sr = crs.cf_attributes();
        let a = gb.affine();
        let gt = [a.x0, a.res_x, 0.0, a.y0, 0.0, a.res_y];
        sr.insert(
            "GeoTransform".into(),
            json!(
                gt.iter()
                    .map(|v| gdal_number(*v))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
        let zstd0 = json!([
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "zstd", "configuration": {"level": 0, "checksum": false}}
        ]);
        nodes.push((
            "spatial_ref".into(),
            array_document(&[], &[], "int32", json!(0), zstd0, sr, &[]),
        ));

        let mut time_values = None;
        if let Some(steps) = &self.time {
            let (values, units) = encode_time(steps);
            let mut attrs = Map::new();
            attrs.insert("units".into(), json!(units));
            attrs.insert("calendar".into(), json!("proleptic_gregorian"));
            nodes.push((
                "time".into(),
                array_document(
                    &[values.len()],
                    &[values.len()],
                    "int64",
                    json!(0),
                    blosc5_f64.clone(),
                    attrs,
                    &["time"],
                ),
            ));
            time_values = Some(values);
        }

        let (cy, cx) = self.chunk_shape;
        for var in &self.variables {
            let mut attrs = var.attributes.clone();
            if var.dtype.is_float() {
                attrs.insert("_FillValue".into(), json!(NAN_FILL_B64));
            }
            let (shape, chunks, dims): (Vec<usize>, Vec<usize>, Vec<&str>) = match &self.time {
                Some(t) => (
                    vec![t.len(), ny, nx],
                    vec![1, cy, cx],
                    vec!["time", "y", "x"],
                ),
                None => (vec![ny, nx], vec![cy, cx], vec!["y", "x"]),
            };
            nodes.push((
                var.name.clone(),
                array_document(
                    &shape,
                    &chunks,
                    var.dtype.zarr_name(),
                    fill_json(var.dtype),
                    codecs_document(codec, var.dtype.size()),
                    attrs,
                    &dims,
                ),
            ));
        }
        CubeDocuments {
            nodes,
            xs: gb.xs(),
            ys: gb.ys(),
            time: time_values,
            spatial_ref: crs.epsg().and_then(|c| i32::try_from(c).ok()).unwrap_or(0),
        }
    }
}

impl From<&CubeSpec> for CubeLayout {
    /// The layout a cube created from `spec` has (variables in channel order).
    fn from(spec: &CubeSpec) -> Self {
        Self {
            title: spec.title.clone(),
            geobox: spec.geobox.clone(),
            time: spec.time.clone(),
            chunk_shape: (spec.chunk_size, spec.chunk_size),
            variables: spec
                .channels
                .iter()
                .map(|ch| VariableLayout {
                    name: ch.name.clone(),
                    dtype: ch.dtype,
                    attributes: ch.attributes.clone(),
                })
                .collect(),
        }
    }
}

/// What cube creation writes.
pub(crate) type NewCube = CubeDocuments;

/// The documents of a new cube from `spec`: [`CubeLayout::documents`] plus
/// the empty `loaded_patches` list that makes the group a cube.
pub(crate) fn new_cube(spec: &CubeSpec) -> Result<NewCube> {
    spec.validate()?;
    let mut docs = CubeLayout::from(spec).documents(spec.codec);
    if let Some(root) = docs
        .nodes
        .iter_mut()
        .find(|(node, _)| node.is_empty())
        .and_then(|(_, doc)| doc.get_mut("attributes"))
        .and_then(Value::as_object_mut)
    {
        root.insert("loaded_patches".into(), json!([]));
    }
    Ok(docs)
}

pub(crate) fn group_json(attributes: Map<String, Value>) -> Value {
    json!({"attributes": attributes, "zarr_format": 3, "node_type": "group"})
}

/// Parsed metadata of one array node.
pub(crate) struct ArrayMeta {
    pub(crate) shape: Vec<usize>,
    pub(crate) chunk_shape: Vec<usize>,
    pub(crate) data_type: String,
    pub(crate) dims: Vec<String>,
    pub(crate) attributes: Map<String, Value>,
}

pub(crate) fn parse_array_meta(doc: &Value) -> Option<ArrayMeta> {
    if doc.get("node_type")?.as_str()? != "array" {
        return None;
    }
    let usizes = |v: &Value| -> Option<Vec<usize>> {
        v.as_array()?
            .iter()
            .map(|x| x.as_u64().and_then(|x| usize::try_from(x).ok()))
            .collect()
    };
    Some(ArrayMeta {
        shape: usizes(doc.get("shape")?)?,
        chunk_shape: usizes(doc.pointer("/chunk_grid/configuration/chunk_shape")?)?,
        data_type: doc.get("data_type")?.as_str()?.to_owned(),
        dims: doc
            .get("dimension_names")
            .and_then(Value::as_array)
            .map(|d| {
                d.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
        attributes: doc
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    })
}

/// Extract the EPSG code from WKT: the last top-level `ID["EPSG",n]` (WKT2)
/// or `AUTHORITY["EPSG","n"]` (WKT1).
pub(crate) fn epsg_from_wkt(wkt: &str) -> Option<u32> {
    let candidates = ["ID[\"EPSG\",", "AUTHORITY[\"EPSG\",\""];
    let (pos, pat) = candidates
        .iter()
        .filter_map(|p| wkt.rfind(p).map(|i| (i, *p)))
        .max()?;
    let digits: String = wkt[pos + pat.len()..]
        .chars()
        .skip_while(|c| *c == '"')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Reconstruct the cube's GeoBox from its coordinate vectors and attributes.
pub(crate) fn geobox_from_coords(
    xs: &[f64],
    ys: &[f64],
    x_attrs: &Map<String, Value>,
    y_attrs: &Map<String, Value>,
    crs: Crs,
) -> Result<GeoBox> {
    let res = |vals: &[f64], attrs: &Map<String, Value>, axis: &str| -> Result<f64> {
        if let Some(r) = attrs.get("resolution").and_then(Value::as_f64) {
            return Ok(r);
        }
        match vals {
            [a, b, ..] => Ok(b - a),
            _ => Err(Error::NotACube {
                location: String::new(),
                reason: format!(
                    "cannot tell the {axis} resolution of a one-pixel axis without a `resolution` attribute"
                ),
            }),
        }
    };
    let (Some(x_first), Some(y_first)) = (xs.first(), ys.first()) else {
        return Err(Error::NotACube {
            location: String::new(),
            reason: "empty x or y coordinate".into(),
        });
    };
    let res_x = res(xs, x_attrs, "x")?;
    let res_y = res(ys, y_attrs, "y")?;
    let affine = Affine {
        x0: x_first - res_x / 2.0,
        res_x,
        y0: y_first - res_y / 2.0,
        res_y,
    };
    GeoBox::new(xs.len(), ys.len(), affine, crs)
}
