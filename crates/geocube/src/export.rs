//! Writing a loaded [`Dataset`] out of the cube: a plain Zarr v3 directory
//! in the cube's own layout, which `xarray.open_zarr` reads directly.

use std::path::Path;
use std::sync::Arc;

use geocube_core::cube::VariableLayout;
use geocube_core::{ChunkCodec, CubeLayout, Dataset, TypedArray, with_typed_array};
use geocube_geotiff::{CogWriter, CrsKind};
use serde_json::Value;
use zarrs::array::{Array, ArraySubset};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::{StoreKey, WritableStorageTraits};

use crate::{Error, Result};

/// Largest spatial chunk edge of an export.
const EXPORT_CHUNK: usize = 2048;

/// The codec of an export's data variables. A crop does not carry its cube's
/// codec, and an export is written once and read often: blosc zstd 5 is the
/// middle ground (smart-geocubes' clevel 9 writes at ~5 MB/s).
const EXPORT_CODEC: ChunkCodec = ChunkCodec::BloscZstd { clevel: 5 };

/// Write `dataset` as a Zarr v3 group at `path`, with the documents of the
/// cube layout ([`CubeLayout::documents`]) for the crop's grid: `x`, `y`,
/// `spatial_ref` (CF grid mapping with the crop's GeoTransform) and `time`
/// coordinates and one array per variable, blosc-zstd compressed. The root
/// has the `title` but no `loaded_patches`: an export is not a cube. An
/// existing Zarr store at `path` is replaced.
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
    let (ny, nx) = dataset.geobox.shape();
    let layout = CubeLayout {
        title: title.to_owned(),
        geobox: dataset.geobox.clone(),
        time: dataset.time.clone(),
        chunk_shape: (ny.min(EXPORT_CHUNK), nx.min(EXPORT_CHUNK)),
        variables: dataset
            .variables
            .iter()
            .map(|(name, var)| VariableLayout {
                name: name.clone(),
                dtype: var.data.dtype(),
                attributes: var.attributes.clone(),
            })
            .collect(),
    };
    let docs = layout.documents(EXPORT_CODEC);

    let store = Arc::new(FilesystemStore::new(path).map_err(|e| Error::output(path, e))?);
    let put = |node: &str, doc: &Value| -> Result<()> {
        let key = if node.is_empty() {
            "zarr.json".to_owned()
        } else {
            format!("{node}/zarr.json")
        };
        let bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::output(path, e))?;
        let key = StoreKey::new(key).map_err(|e| Error::output(path, e))?;
        store
            .set(&key, bytes.into())
            .map_err(|e| Error::output(path, e))
    };
    let write = |node: &str, data: &TypedArray| -> Result<()> {
        let array = Array::open(Arc::clone(&store), &format!("/{node}"))
            .map_err(|e| Error::output(path, e))?;
        let subset = ArraySubset::new_with_shape(data.shape().iter().map(|n| *n as u64).collect());
        with_typed_array!(data, |a: T| array.store_array_subset(&subset, a.clone()))
            .map_err(|e| Error::output(path, e))
    };
    let vector = |values: &[f64]| -> Result<TypedArray> {
        ndarray::ArrayD::from_shape_vec(vec![values.len()], values.to_vec())
            .map(TypedArray::Float64)
            .map_err(|e| Error::output(path, e))
    };

    for (node, doc) in &docs.nodes {
        put(node, doc)?;
    }
    write("x", &vector(&docs.xs)?)?;
    write("y", &vector(&docs.ys)?)?;
    write(
        "spatial_ref",
        &TypedArray::Int32(ndarray::ArrayD::from_elem(vec![], docs.spatial_ref)),
    )?;
    if let Some(values) = &docs.time {
        // `TypedArray` has no int64: the time axis is the one int64 array.
        let n = values.len();
        let values = ndarray::ArrayD::from_shape_vec(vec![n], values.clone())
            .map_err(|e| Error::output(path, e))?;
        let array = Array::open(Arc::clone(&store), "/time").map_err(|e| Error::output(path, e))?;
        array
            .store_array_subset(&ArraySubset::new_with_shape(vec![n as u64]), values)
            .map_err(|e| Error::output(path, e))?;
    }
    for (name, var) in &dataset.variables {
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
