//! Writing a loaded [`Dataset`], or a [`LazyRegion`] of any size, out of the
//! cube: a plain Zarr v3 directory in the cube's own layout, which
//! `xarray.open_zarr` reads directly, or GeoTIFFs.
//!
//! The region writers hold one tile at a time, so their memory does not
//! grow with the region: Zarr chunk by chunk (a chunk that is all fill is
//! not written, Zarr's `fill_value` stands for it, and one under cube
//! chunks never written is not even read), GeoTIFF as a COG when a band
//! is small enough to assemble in memory ([`COG_MAX_BAND_BYTES`]) and tile
//! by tile otherwise.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use geocube_core::cube::{TileWindow, VariableLayout};
use geocube_core::{
    ChunkCodec, CubeElement, CubeLayout, Dataset, GeoBox, LazyRegion, Tiling, TypedArray, Window,
    with_dtype, with_typed_array,
};
use geocube_geotiff::{CogWriter, CrsKind, EncodedTile, Sample};
use rayon::prelude::*;
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
    let layout = export_layout(
        title,
        &dataset.geobox,
        dataset.time.clone(),
        dataset.variables.iter().map(|(name, var)| VariableLayout {
            name: name.clone(),
            dtype: var.data.dtype(),
            attributes: var.attributes.clone(),
        }),
    );
    let store = start_zarr(&layout, path)?;
    for (name, var) in &dataset.variables {
        let array = Array::open(Arc::clone(&store), &format!("/{name}"))
            .map_err(|e| Error::output(path, e))?;
        let subset =
            ArraySubset::new_with_shape(var.data.shape().iter().map(|n| *n as u64).collect());
        with_typed_array!(&var.data, |a: T| array
            .store_array_subset(&subset, a.clone()))
        .map_err(|e| Error::output(path, e))?;
    }
    Ok(())
}

/// Write `region` as [`write_zarr`] writes a dataset (the same documents
/// and pixels), one chunk at a time: memory holds a few chunks (one per
/// thread), whatever the region's size. A chunk that is all fill is not
/// written, and one lying only on cube chunks never written is not read.
///
/// # Errors
/// As [`write_zarr`]; errors reading the cube.
pub fn write_zarr_region(region: &LazyRegion, title: &str, path: &Path) -> Result<()> {
    let layout = export_layout(
        title,
        region.geobox(),
        region.time().map(<[_]>::to_vec),
        region.variables().cloned(),
    );
    let store = start_zarr(&layout, path)?;
    let arrays = layout
        .variables
        .iter()
        .map(|v| {
            Array::open(Arc::clone(&store), &format!("/{}", v.name))
                .map(|a| (v.name.clone(), a))
                .map_err(|e| Error::output(path, e))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    let (rows, cols) = layout.chunk_shape;
    // Tiles are the export's chunks, so each write is one whole chunk (cut
    // at the edges); rayon runs a few at a time.
    let tiles: Vec<TileWindow> = region.windows(Tiling::Grid { rows, cols }).collect();
    tiles.par_iter().try_for_each(|at| -> Result<()> {
        if !region.holds_data(at.window, at.step) {
            return Ok(());
        }
        let tile = region.read_tile(at)?;
        let w = at.window;
        let mut ranges = vec![
            w.row as u64..(w.row + w.height) as u64,
            w.col as u64..(w.col + w.width) as u64,
        ];
        if let Some(step) = at.step {
            ranges.insert(0, step as u64..step as u64 + 1);
        }
        let subset = ArraySubset::new_with_ranges(&ranges);
        for (name, var) in tile.variables {
            if var.data.is_all_fill() {
                continue;
            }
            let Some(array) = arrays.get(&name) else {
                continue;
            };
            with_typed_array!(var.data, |a: T| array.store_array_subset(&subset, a))
                .map_err(|e| Error::output(path, e))?;
        }
        Ok(())
    })
}

/// The layout of an export: the cube layout for the crop's grid, with
/// chunks of at most [`EXPORT_CHUNK`] on a side.
fn export_layout(
    title: &str,
    geobox: &GeoBox,
    time: Option<Vec<chrono::DateTime<chrono::Utc>>>,
    variables: impl Iterator<Item = VariableLayout>,
) -> CubeLayout {
    let (ny, nx) = geobox.shape();
    CubeLayout {
        title: title.to_owned(),
        geobox: geobox.clone(),
        time,
        chunk_shape: (ny.min(EXPORT_CHUNK), nx.min(EXPORT_CHUNK)),
        variables: variables.collect(),
    }
}

/// Replace whatever Zarr store is at `path` with the documents of `layout`
/// and its coordinates, and return the store for the data variables.
fn start_zarr(layout: &CubeLayout, path: &Path) -> Result<Arc<FilesystemStore>> {
    if path.exists() {
        if !path.join("zarr.json").exists() {
            return Err(Error::output(
                path,
                "it exists and is not a Zarr store; pick a new path",
            ));
        }
        std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
    }
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
    Ok(store)
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
    let names: Vec<&str> = dataset.variables.keys().map(String::as_str).collect();
    let plan = TiffPlan::new(
        &dataset.geobox,
        dataset.time.as_ref().map(Vec::len),
        &names,
        order,
        path,
    )?;
    let mut written = vec![];
    for (name, file_path) in plan.files {
        let data = &dataset.variables[&name].data;
        write_cog(&plan.writer, data, nodata(&name), &file_path)?;
        written.push(file_path);
    }
    Ok(written)
}

/// The largest band (bytes of one variable) [`write_geotiff_region`]
/// assembles in memory as a COG: 128 MiB, a 5800² px float32 band (185 km
/// square at 32 m). A COG's overviews and layout need the whole band (the
/// writer holds it, its overviews and the compressed blocks, about twice
/// the band); past this the band is streamed as a tiled GeoTIFF instead.
pub const COG_MAX_BAND_BYTES: u64 = 128 << 20;

/// Width of the strips [`write_geotiff_region`] reads, in tiles: each read
/// covers about one cube chunk's width (8 × 512 px against 3600 px
/// chunks), so a chunk's rows are decoded about twice rather than once per
/// tile.
const STRIP_TILES: u32 = 8;

/// How [`write_geotiff_region`] wrote a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenTiff {
    /// The file.
    pub path: std::path::PathBuf,
    /// `true`: a Cloud-Optimized GeoTIFF (the band was at most
    /// [`COG_MAX_BAND_BYTES`]); `false`: a tiled GeoTIFF (BigTIFF past
    /// 4 GiB) without overviews, written tile by tile.
    pub cog: bool,
}

/// Write `region` as [`write_geotiff`] writes a dataset (one file per
/// variable, the same names, georeferencing and pixels), without holding
/// it: a band of at most `cog_max_bytes` (the command uses
/// [`COG_MAX_BAND_BYTES`]) is read whole and written as a COG; a larger one
/// is read in strips and written tile by tile as a tiled GeoTIFF, BigTIFF
/// when it may pass 4 GiB. Tiles under cube chunks never written are fill
/// (NaN, or 0): not read, and stored once for all of them.
///
/// # Errors
/// As [`write_geotiff`]; errors reading the cube.
pub fn write_geotiff_region(
    region: &LazyRegion,
    order: &[&str],
    nodata: impl Fn(&str) -> Option<f64>,
    path: &Path,
    cog_max_bytes: u64,
) -> Result<Vec<WrittenTiff>> {
    let names: Vec<&str> = region.variables().map(|v| v.name.as_str()).collect();
    let plan = TiffPlan::new(
        region.geobox(),
        region.time().map(<[_]>::len),
        &names,
        order,
        path,
    )?;
    let mut written = vec![];
    for (name, file_path) in plan.files {
        let band = region.select(&[name.as_str()])?;
        let cog = band.nbytes() <= cog_max_bytes;
        if cog {
            let ds = band.read_window(band.geobox().full_window())?;
            if let Some(var) = ds.variables.get(&name) {
                write_cog(&plan.writer, &var.data, nodata(&name), &file_path)?;
            }
        } else {
            let dtype = band
                .variables()
                .next()
                .map(|v| v.dtype)
                .ok_or_else(|| Error::output(&file_path, "the region has no such variable"))?;
            let writer = match nodata(&name) {
                Some(n) => plan.writer.clone().nodata(n),
                None => plan.writer.clone(),
            };
            with_dtype!(dtype, |T| stream_band::<T>(&band, &writer, &file_path))?;
        }
        written.push(WrittenTiff {
            path: file_path,
            cog,
        });
    }
    Ok(written)
}

/// Where each variable of a GeoTIFF export goes, and the writer options
/// they share.
struct TiffPlan {
    /// Size, geotransform and CRS (no nodata).
    writer: CogWriter,
    /// (variable, file), the first variable at the path asked for.
    files: Vec<(String, std::path::PathBuf)>,
}

impl TiffPlan {
    /// Check that the grid can be a GeoTIFF (EPSG CRS, one time step) and
    /// name the files: the first of `order` present goes to `path`, each
    /// other variable to `<stem>_<variable>.<ext>` beside it.
    fn new(
        gb: &GeoBox,
        steps: Option<usize>,
        names: &[&str],
        order: &[&str],
        path: &Path,
    ) -> Result<Self> {
        let crs = gb.crs();
        let code = crs.epsg().ok_or_else(|| {
            Error::output(
                path,
                format!(
                    "GeoTIFF output needs an EPSG CRS, the cube has `{crs}`; write *.zarr instead"
                ),
            )
        })?;
        let kind = if crs.is_geographic() {
            CrsKind::Geographic
        } else {
            CrsKind::Projected
        };
        if steps.is_some_and(|t| t != 1) {
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
        let mut ordered: Vec<&str> = order
            .iter()
            .copied()
            .filter(|n| names.contains(n))
            .collect();
        ordered.extend(names.iter().copied().filter(|n| !order.contains(n)));
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = path
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tif".into());
        let files = ordered
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let file = if i == 0 {
                    path.to_path_buf()
                } else {
                    path.with_file_name(format!("{stem}_{name}.{ext}"))
                };
                ((*name).to_owned(), file)
            })
            .collect();
        let mut writer = CogWriter::new(w, h)
            .geotransform([a.x0, a.res_x, 0.0, a.y0, 0.0, a.res_y])
            .epsg(code, kind);
        if kind == CrsKind::Projected {
            writer = writer.crs_units(linear_unit_code(crs));
        }
        Ok(Self { writer, files })
    }
}

/// ProjLinearUnitsGeoKey of a projected CRS, from its PROJ definition:
/// metre (9001, also when it names no unit), foot (9002), US survey foot
/// (9003); `None` (no key: GDAL takes the unit from the EPSG code) for
/// any other. The writer's default, metre, would relabel a foot-based
/// CRS's coordinates as metres (GDAL then reports e.g. "NAD83 /
/// California zone 5 (ftUS)" with metre axes).
fn linear_unit_code(crs: &geocube_core::Crs) -> Option<u16> {
    let mut unit = "m";
    for p in crs.proj4().split_whitespace() {
        if let Some(u) = p.strip_prefix("+units=") {
            unit = u;
        } else if p.starts_with("+to_meter=") {
            return None;
        }
    }
    match unit {
        "m" => Some(9001),
        "ft" => Some(9002),
        "us-ft" => Some(9003),
        _ => None,
    }
}

/// One band as a COG at `file_path`.
fn write_cog(
    writer: &CogWriter,
    data: &TypedArray,
    nodata: Option<f64>,
    file_path: &Path,
) -> Result<()> {
    let writer = match nodata {
        Some(n) => writer.clone().nodata(n),
        None => writer.clone(),
    };
    let file = std::fs::File::create(file_path).map_err(|e| Error::io(file_path, e))?;
    let out = std::io::BufWriter::new(file);
    // Row-major (time, y, x) with one step is the (y, x) band.
    with_typed_array!(data, |arr: T| {
        let standard = arr.as_standard_layout();
        let values = standard
            .as_slice()
            .ok_or_else(|| Error::output(file_path, "array is not contiguous"))?;
        writer.write(values, out)
    })
    .map_err(|e| Error::output(file_path, e))?;
    Ok(())
}

/// The one variable of `band` as a tiled GeoTIFF at `file_path`, strip by
/// strip: a strip is one row of tiles, [`STRIP_TILES`] wide, read in one
/// go, its tiles compressed in parallel and written in order.
fn stream_band<T: CubeElement + Sample>(
    band: &LazyRegion,
    writer: &CogWriter,
    file_path: &Path,
) -> Result<()> {
    let out = |e: geocube_geotiff::Error| Error::output(file_path, e);
    let file = std::fs::File::create(file_path).map_err(|e| Error::io(file_path, e))?;
    let mut tiles = writer.stream::<T, _>(file).map_err(out)?;
    let (across, down) = tiles.tiles();
    let b = tiles.block_size() as usize;
    let step = band.time().map(|_| 0);
    // Fill tiles (the cube's fill, as an in-memory read gives it), one per
    // tile shape, compressed once and stored once.
    let mut fills: BTreeMap<(u32, u32), EncodedTile> = BTreeMap::new();
    for row in 0..down {
        for first in (0..across).step_by(STRIP_TILES as usize) {
            let cols: Vec<u32> = (first..across.min(first + STRIP_TILES)).collect();
            let shapes: Vec<(u32, u32)> = cols
                .iter()
                .map(|c| {
                    tiles
                        .tile_shape(*c, row)
                        .ok_or_else(|| Error::output(file_path, "tile outside the image"))
                })
                .collect::<Result<_>>()?;
            let width: usize = shapes.iter().map(|s| s.0 as usize).sum();
            let height = shapes.first().map_or(0, |s| s.1 as usize);
            let window = Window::new(row as usize * b, first as usize * b, height, width);
            if !band.holds_data(window, step) {
                for (col, shape) in cols.iter().zip(&shapes) {
                    let fill = match fills.get(shape) {
                        Some(t) => t.clone(),
                        None => {
                            let n = shape.0 as usize * shape.1 as usize;
                            let t = tiles
                                .encode_tile(*col, row, &vec![T::fill(); n])
                                .map_err(out)?;
                            fills.insert(*shape, t.clone());
                            t
                        }
                    };
                    tiles.write_shared(*col, row, &fill).map_err(out)?;
                }
                continue;
            }
            let ds = band.read_tile(&TileWindow { step, window })?;
            let strip = ds
                .variables
                .values()
                .next()
                .and_then(|v| v.data.as_array::<T>())
                .ok_or_else(|| Error::output(file_path, "the strip read has no pixels"))?;
            let strip = strip.as_standard_layout();
            let values = strip
                .as_slice()
                .ok_or_else(|| Error::output(file_path, "array is not contiguous"))?;
            let encoded = cols
                .par_iter()
                .zip(&shapes)
                .map(|(col, &(tw, th))| {
                    let c0 = (*col - first) as usize * b;
                    let mut px = Vec::with_capacity(tw as usize * th as usize);
                    for r in 0..th as usize {
                        let start = r * width + c0;
                        px.extend_from_slice(&values[start..start + tw as usize]);
                    }
                    tiles.encode_tile(*col, row, &px)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(out)?;
            for (col, tile) in cols.iter().zip(&encoded) {
                tiles.write_encoded(*col, row, tile).map_err(out)?;
            }
        }
    }
    tiles.finish().map_err(out)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geocube_core::Crs;

    #[test]
    fn projected_units_follow_the_crs() {
        let code = |epsg| linear_unit_code(&Crs::from_epsg(epsg).unwrap());
        assert_eq!(code(32607), Some(9001));
        assert_eq!(code(3413), Some(9001));
        // NAD83 / California zone 5 (ftUS), NAD83 / Arizona Central (ft).
        assert_eq!(code(2229), Some(9003));
        assert_eq!(code(2223), Some(9002));
        let odd = Crs::from_proj4("+proj=merc +lon_0=0 +to_meter=0.3048 +no_defs").unwrap();
        assert_eq!(linear_unit_code(&odd), None);
    }
}
