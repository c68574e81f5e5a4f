//! Writing a loaded [`Dataset`] out of the cube: a plain Zarr v3 directory
//! in the cube's own layout, which `xarray.open_zarr` reads directly.

use std::path::Path;
use std::sync::Arc;

use geocube_core::cube::{array_document, codecs_document};
use geocube_core::{ChunkCodec, Dataset, TypedArray, with_typed_array};
use geocube_geotiff::{CogWriter, CrsKind};
use serde_json::{Map, Value, json};
use zarrs::array::{Array, ArraySubset};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::{StoreKey, WritableStorageTraits};

use crate::{Error, Result};

/// base64 of the little-endian f64 NaN: xarray's `_FillValue` for floats in Zarr v3.
const NAN_FILL_B64: &str = "AAAAAAAA+H8=";

/// Largest spatial chunk edge of an export.
const EXPORT_CHUNK: usize = 2048;

/// Write `dataset` as a Zarr v3 group at `path`: `x`, `y`, `spatial_ref`
/// (CF grid mapping with the crop's GeoTransform) and `time` coordinates and
/// one array per variable, blosc-zstd compressed. An existing Zarr store at
/// `path` is replaced.
///
/// # Errors
/// [`Error::Output`] when `path` exists and is not a Zarr store, or a write
/// fails.
pub fn write_zarr(dataset: &Dataset, title: &str, path: &Path) -> Result<()> {
    if path.exists() {
        if !path.join("zarr.json").exists() {
            return Err(Error::output(
                path,
                "it exists and is not a Zarr store; pick a new path",
            ));
        }
        std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
    }
    let fail = |e: &dyn std::fmt::Display| Error::output(path, e);
    let store = Arc::new(FilesystemStore::new(path).map_err(|e| fail(&e))?);
    let put = |node: &str, doc: &Value| -> Result<()> {
        let key = if node.is_empty() {
            "zarr.json".to_owned()
        } else {
            format!("{node}/zarr.json")
        };
        let bytes = serde_json::to_vec_pretty(doc).map_err(|e| fail(&e))?;
        store
            .set(&StoreKey::new(key).map_err(|e| fail(&e))?, bytes.into())
            .map_err(|e| fail(&e))
    };
    let write = |node: &str, data: &TypedArray| -> Result<()> {
        let array = Array::open(Arc::clone(&store), &format!("/{node}")).map_err(|e| fail(&e))?;
        let subset = ArraySubset::new_with_shape(data.shape().iter().map(|n| *n as u64).collect());
        with_typed_array!(data, |a: T| array.store_array_subset(&subset, a.clone()))
            .map_err(|e| fail(&e))
    };

    let mut root = Map::new();
    root.insert("title".into(), json!(title));
    put(
        "",
        &json!({"attributes": root, "zarr_format": 3, "node_type": "group"}),
    )?;

    let gb = &dataset.geobox;
    let crs = gb.crs();
    let (ny, nx) = gb.shape();
    let (ux, uy) = crs.axis_units();
    let (res_x, res_y) = gb.resolution();
    let f64_codecs = codecs_document(ChunkCodec::BloscZstd { clevel: 5 }, 8);
    for (name, values, units, res) in [
        ("x", dataset.xs(), ux, res_x),
        ("y", dataset.ys(), uy, res_y),
    ] {
        let mut attrs = Map::new();
        attrs.insert("units".into(), json!(units));
        attrs.insert("resolution".into(), json!(res));
        attrs.insert("crs".into(), json!(crs.to_string()));
        attrs.insert("_FillValue".into(), json!(NAN_FILL_B64));
        let n = values.len();
        put(
            name,
            &array_document(
                &[n],
                &[n],
                "float64",
                json!("NaN"),
                f64_codecs.clone(),
                attrs,
                &[name],
            ),
        )?;
        write(
            name,
            &TypedArray::Float64(
                ndarray::ArrayD::from_shape_vec(vec![n], values).map_err(|e| fail(&e))?,
            ),
        )?;
    }

    let mut sr = crs.cf_attributes();
    let a = gb.affine();
    let gt = [a.x0, a.res_x, 0.0, a.y0, 0.0, a.res_y]
        .map(|v| v.to_string())
        .join(" ");
    sr.insert("GeoTransform".into(), json!(gt));
    put(
        "spatial_ref",
        &array_document(
            &[],
            &[],
            "int32",
            json!(0),
            codecs_document(ChunkCodec::BloscZstd { clevel: 5 }, 4),
            sr,
            &[],
        ),
    )?;
    write(
        "spatial_ref",
        &TypedArray::Int32(ndarray::ArrayD::from_elem(vec![], 0)),
    )?;

    let mut dims = vec!["y", "x"];
    if let Some(time) = &dataset.time {
        let seconds: Vec<i64> = time.iter().map(chrono::DateTime::timestamp).collect();
        let mut attrs = Map::new();
        attrs.insert("units".into(), json!("seconds since 1970-01-01 00:00:00"));
        attrs.insert("calendar".into(), json!("proleptic_gregorian"));
        let n = seconds.len();
        put(
            "time",
            &array_document(
                &[n],
                &[n],
                "int64",
                json!(0),
                f64_codecs.clone(),
                attrs,
                &["time"],
            ),
        )?;
        let values = ndarray::ArrayD::from_shape_vec(vec![n], seconds).map_err(|e| fail(&e))?;
        let array = Array::open(Arc::clone(&store), "/time").map_err(|e| fail(&e))?;
        array
            .store_array_subset(&ArraySubset::new_with_shape(vec![n as u64]), values)
            .map_err(|e| fail(&e))?;
        dims.insert(0, "time");
    }

    let chunk = [ny.min(EXPORT_CHUNK), nx.min(EXPORT_CHUNK)];
    for (name, var) in &dataset.variables {
        let dtype = var.data.dtype();
        let shape = var.data.shape();
        let chunks: Vec<usize> = if shape.len() == 3 {
            vec![1, chunk[0], chunk[1]]
        } else {
            chunk.to_vec()
        };
        let fill = match dtype {
            geocube_core::DType::Float32 | geocube_core::DType::Float64 => json!("NaN"),
            geocube_core::DType::Bool => json!(false),
            _ => json!(0),
        };
        let doc = array_document(
            shape,
            &chunks,
            dtype.zarr_name(),
            fill,
            codecs_document(ChunkCodec::BloscZstd { clevel: 5 }, dtype.size()),
            var.attributes.clone(),
            &dims,
        );
        put(name, &doc)?;
        write(name, &var.data)?;
    }
    Ok(())
}

/// Write `dataset` as Cloud-Optimized GeoTIFFs, one single-band file per
/// variable (GeoTIFF bands share one sample type; the cube's variables do
/// not): the first of `order` that the dataset has goes to `path`, each
/// other variable to `<stem>_<variable>.<ext>` beside it. Each file carries
/// the crop's georeferencing (EPSG code) and the variable's nodata value
/// from `nodata`. Returns the files written.
///
/// # Errors
/// [`Error::Output`] for a CRS without an EPSG code, a temporal selection of
/// more than one step (pick one with a time of interest, or write Zarr), or
/// a failed write.
pub fn write_geotiff(
    dataset: &Dataset,
    order: &[&str],
    nodata: impl Fn(&str) -> Option<f64>,
    path: &Path,
) -> Result<Vec<std::path::PathBuf>> {
    let gb = &dataset.geobox;
    let crs = gb.crs();
    let code = crs.epsg().ok_or_else(|| {
        Error::output(
            path,
            format!("GeoTIFF output needs an EPSG CRS, the cube has `{crs}`; write *.zarr instead"),
        )
    })?;
    let kind = if crs.is_geographic() {
        CrsKind::Geographic
    } else {
        CrsKind::Projected
    };
    if dataset.time.as_ref().is_some_and(|t| t.len() != 1) {
        return Err(Error::output(
            path,
            "a GeoTIFF holds one time step; select one with a time of interest (--time) or write *.zarr",
        ));
    }
    let (h, w) = gb.shape();
    let (w, h) = (
        u32::try_from(w).map_err(|e| Error::output(path, e))?,
        u32::try_from(h).map_err(|e| Error::output(path, e))?,
    );
    let a = gb.affine();
    let mut names: Vec<&str> = order
        .iter()
        .copied()
        .filter(|n| dataset.variables.contains_key(*n))
        .collect();
    names.extend(
        dataset
            .variables
            .keys()
            .map(String::as_str)
            .filter(|n| !order.contains(n)),
    );
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tif".into());
    let mut written = vec![];
    for (i, name) in names.iter().enumerate() {
        let file_path = if i == 0 {
            path.to_path_buf()
        } else {
            path.with_file_name(format!("{stem}_{name}.{ext}"))
        };
        let mut writer = CogWriter::new(w, h)
            .geotransform([a.x0, a.res_x, 0.0, a.y0, 0.0, a.res_y])
            .epsg(code, kind);
        if let Some(n) = nodata(name) {
            writer = writer.nodata(n);
        }
        let file = std::fs::File::create(&file_path).map_err(|e| Error::io(&file_path, e))?;
        let out = std::io::BufWriter::new(file);
        let data = &dataset.variables[*name].data;
        // Row-major (time, y, x) with one step is the (y, x) band.
        with_typed_array!(data, |arr: T| {
            let standard = arr.as_standard_layout();
            let values = standard
                .as_slice()
                .ok_or_else(|| Error::output(&file_path, "array is not contiguous"))?;
            writer.write(values, out)
        })
        .map_err(|e| Error::output(&file_path, e))?;
        written.push(file_path);
    }
    Ok(written)
}
