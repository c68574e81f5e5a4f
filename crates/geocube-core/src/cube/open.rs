//! Opening a cube: finding the repository and reading its layout (grid,
//! time axis, variables, codecs) back from the Zarr documents, whoever
//! wrote them (geocube or smart-geocubes).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use icechunk::config::CachingConfig;
use icechunk::repository::VersionInfo;
use icechunk::{Repository, RepositoryConfig};
use serde_json::Value;
use zarrs::array::Array;
use zarrs::storage::ListableStorageTraits;

use super::cache::{ChunkCache, DEFAULT_CHUNK_CACHE_BYTES};
use super::create::repo_exists;
use super::layout::{
    ArrayMeta, CubeLayout, VariableLayout, decode_time, epsg_from_wkt, geobox_from_coords,
    parse_array_meta,
};
use super::loaded::LoadedPatches;
use super::storage::CubeStorage;
use super::store::{block_on, meta_key, read_json, session_store};
use super::{BRANCH, Cube};
use crate::spec::DType;
use crate::{Crs, Error, Result};

impl Cube {
    /// Whether a cube exists at `storage` (a repository whose `main` branch
    /// holds a group with `loaded_patches`).
    ///
    /// # Errors
    /// Storage errors other than "nothing there".
    pub fn exists(storage: &CubeStorage) -> Result<bool> {
        storage.check_not_a_file()?;
        if let Some(p) = storage.local_path()
            && !p.exists()
        {
            return Ok(false);
        }
        match Self::open(storage.clone()) {
            Ok(_) => Ok(true),
            Err(Error::NotCreated { .. } | Error::NotACube { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Open an existing cube.
    ///
    /// # Errors
    /// [`Error::NotCreated`] when there is no repository or it is empty;
    /// [`Error::NotACube`] when the repository holds something else;
    /// [`Error::NotADirectory`] when the local location is a file.
    pub fn open(storage: CubeStorage) -> Result<Self> {
        Self::open_unlocked(storage)
    }

    pub(super) fn open_unlocked(storage: CubeStorage) -> Result<Self> {
        storage.check_not_a_file()?;
        let not_created = || Error::NotCreated {
            location: storage.to_string(),
        };
        if let Some(p) = storage.local_path()
            && !p.join("refs").exists()
            && !p.join("repo").exists()
        {
            return Err(not_created());
        }
        let ic_storage = storage.icechunk_storage()?;
        if !repo_exists(&ic_storage)? {
            if let Some(entry) = storage.foreign_s3_entry()? {
                return Err(Error::NotACube {
                    location: storage.to_string(),
                    reason: format!(
                        "the prefix holds `{entry}` but no Icechunk repository; use an empty prefix for a new cube"
                    ),
                });
            }
            return Err(not_created());
        }
        let repo = block_on(Repository::open(ic_storage).execute())?.map_err(Error::icechunk)?;
        Self::from_repo(storage, repo)
    }

    pub(super) fn from_repo(storage: CubeStorage, repo: Repository) -> Result<Self> {
        let (layout, loaded, nodes) = read_layout(&repo).map_err(|e| match e {
            Error::NotACube { reason, .. } => Error::NotACube {
                location: storage.to_string(),
                reason,
            },
            other => other,
        })?;
        let repo = with_bounded_snapshot_cache(repo, nodes)?;
        Ok(Self {
            storage,
            repo,
            layout,
            chunks: ChunkCache::new(DEFAULT_CHUNK_CACHE_BYTES),
            // Read with the layout: the first check costs nothing more.
            loaded: Mutex::new(Some(Arc::new(loaded))),
        })
    }
}

/// How many snapshots Icechunk keeps decoded per handle: a write's base,
/// its re-application's tip, readers at the tip, with room to spare.
///
/// Icechunk's snapshot cache weighs a snapshot by its number of nodes
/// (500 000 by default), not by its bytes, and keeps every snapshot the
/// handle writes. With 10⁶ ids each one holds the 14 MB root document twice
/// (the flatbuffer and its decoded node): a long-lived handle grew by
/// ~30 MB a commit. Below five snapshots Icechunk warns that its cache is
/// small.
const SNAPSHOTS_CACHED: u64 = 6;

/// `repo` opened again with room for [`SNAPSHOTS_CACHED`] snapshots of
/// `nodes` nodes, unless the repository's own config sizes the cache.
fn with_bounded_snapshot_cache(repo: Repository, nodes: u64) -> Result<Repository> {
    if repo
        .config()
        .caching
        .and_then(|c| c.num_snapshot_nodes)
        .is_some()
    {
        return Ok(repo);
    }
    let config = RepositoryConfig {
        caching: Some(CachingConfig {
            num_snapshot_nodes: Some(SNAPSHOTS_CACHED * nodes.max(1)),
            ..CachingConfig::default()
        }),
        ..RepositoryConfig::default()
    };
    let storage = Arc::clone(repo.storage());
    block_on(Repository::open(storage).config(config).execute())?.map_err(Error::icechunk)
}

/// The layout at the branch tip, the tip's `loaded_patches` (the root
/// document is read once for both) and the number of nodes (groups and
/// arrays) at the top of the hierarchy, the root included.
pub(super) fn read_layout(repo: &Repository) -> Result<(CubeLayout, LoadedPatches, u64)> {
    let not_a_cube = |reason: String| Error::NotACube {
        location: String::new(),
        reason,
    };
    let session = block_on(repo.readonly_session(&VersionInfo::BranchTipRef(BRANCH.into())))?
        .map_err(Error::icechunk)?;
    let snapshot = session.snapshot_id().clone();
    let (_, store) = session_store(session, None)?;
    let loaded = LoadedPatches::read(&store, &snapshot, "")?;
    let root = loaded.root_without_ids()?;
    if root.pointer("/attributes/loaded_patches").is_none() {
        return Err(not_a_cube(
            "the root group has no `loaded_patches` attribute".into(),
        ));
    }
    let title = root
        .pointer("/attributes/title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let listing = store
        .list_dir(&zarrs::storage::StorePrefix::root())
        .map_err(Error::zarr)?;
    let nodes = 1 + listing.prefixes().len() as u64;
    let mut metas: BTreeMap<String, ArrayMeta> = BTreeMap::new();
    for prefix in listing.prefixes() {
        let name = prefix.as_str().trim_end_matches('/').to_owned();
        if let Some(meta) = read_json(&store, &meta_key(&name))?
            .as_ref()
            .and_then(parse_array_meta)
        {
            metas.insert(name, meta);
        }
    }
    let coord = |name: &str| {
        metas
            .get(name)
            .ok_or_else(|| not_a_cube(format!("no `{name}` coordinate")))
    };
    let (xm, ym) = (coord("x")?, coord("y")?);
    let read_f64 = |name: &str| -> Result<Vec<f64>> {
        let a = Array::open(Arc::clone(&store), &format!("/{name}")).map_err(Error::zarr)?;
        let subset = a.subset_all();
        a.retrieve_array_subset::<Vec<f64>>(&subset)
            .map_err(Error::zarr)
    };
    let xs = read_f64("x")?;
    let ys = read_f64("y")?;
    let crs_str = xm
        .attributes
        .get("crs")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let crs = match crs_str {
        Some(s) => s.parse::<Crs>()?,
        None => {
            let wkt = metas
                .get("spatial_ref")
                .and_then(|m| {
                    m.attributes
                        .get("crs_wkt")
                        .or_else(|| m.attributes.get("spatial_ref"))
                })
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    not_a_cube("no CRS: neither x.attrs.crs nor spatial_ref.crs_wkt".into())
                })?;
            let code = epsg_from_wkt(wkt)
                .ok_or_else(|| not_a_cube("the CRS WKT carries no EPSG code".into()))?;
            Crs::from_epsg(code)?
        }
    };
    let geobox = geobox_from_coords(&xs, &ys, &xm.attributes, &ym.attributes, crs)?;
    let time = match metas.get("time") {
        Some(tm) => {
            let a = Array::open(Arc::clone(&store), "/time").map_err(Error::zarr)?;
            let values: Vec<i64> = a
                .retrieve_array_subset::<Vec<i64>>(&a.subset_all())
                .map_err(Error::zarr)?;
            let units = tm
                .attributes
                .get("units")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(decode_time(&values, units)?)
        }
        None => None,
    };
    let (ny, nx) = geobox.shape();
    let mut variables = vec![];
    let mut chunk_shape = None;
    for (name, m) in &metas {
        if ["x", "y", "time", "spatial_ref"].contains(&name.as_str()) {
            continue;
        }
        let spatial = match (m.dims.as_slice(), time.as_ref()) {
            ([y, x], None) if y == "y" && x == "x" => m.shape == [ny, nx],
            ([t, y, x], Some(axis)) if t == "time" && y == "y" && x == "x" => {
                m.shape == [axis.len(), ny, nx]
            }
            _ => false,
        };
        if !spatial {
            continue;
        }
        let dtype = DType::from_zarr_name(&m.data_type)?;
        let cs = &m.chunk_shape;
        let this = (cs[cs.len() - 2], cs[cs.len() - 1]);
        if chunk_shape.is_some_and(|c| c != this) {
            return Err(not_a_cube(format!(
                "variable `{name}` is chunked differently from the others"
            )));
        }
        chunk_shape = Some(this);
        variables.push(VariableLayout {
            name: name.clone(),
            dtype,
            attributes: m.attributes.clone(),
        });
    }
    let chunk_shape =
        chunk_shape.ok_or_else(|| not_a_cube("no data variables on (y, x)".into()))?;
    let layout = CubeLayout {
        title,
        geobox,
        time,
        chunk_shape,
        variables,
    };
    Ok((layout, loaded, nodes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Affine, ChannelSpec, ChunkCodec, CubeSpec, GeoBox};

    /// A handle's Icechunk caches as many snapshots as [`SNAPSHOTS_CACHED`],
    /// whatever their size, however many commits it makes.
    #[test]
    fn the_snapshot_cache_holds_a_few_snapshots_of_this_cube() {
        let dir = tempfile::tempdir().expect("tempdir");
        let geobox = GeoBox::new(
            32,
            32,
            Affine {
                x0: 0.0,
                res_x: 32.0,
                y0: 0.0,
                res_y: -32.0,
            },
            Crs::from_epsg(3413).expect("crs"),
        )
        .expect("geobox");
        let spec = CubeSpec {
            title: "t".into(),
            geobox,
            time: None,
            chunk_size: 16,
            channels: vec![
                ChannelSpec::new("a", DType::Float32),
                ChannelSpec::new("b", DType::Uint8),
            ],
            codec: ChunkCodec::Default,
        };
        let storage = CubeStorage::local(dir.path().join("cube"));
        // Root, x, y, spatial_ref and the two channels.
        let nodes = 6;
        let created = Cube::create(storage.clone(), &spec)
            .execute()
            .expect("create");
        let opened = Cube::open(storage).expect("open");
        for cube in [created, opened] {
            let caching = cube.repo.config().caching.expect("caching");
            assert_eq!(caching.num_snapshot_nodes, Some(SNAPSHOTS_CACHED * nodes));
        }
    }
}
