//! A GeoParquet mosaic index (PGC's `ArcticDEM_Mosaic_Index_v4_1_{res}.parquet`):
//! one row per tile with its id and footprint (WKB), read with the `parquet`
//! crate's row API (no Arrow), plus fetching it once into an auxiliary
//! directory (a `.parquet` URL, or a `.zip` of such files).

use std::fs::File;
use std::path::{Path, PathBuf};

use geo::{BoundingRect, Geometry, Intersects, Rect};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;
use serde_json::Value;

use crate::error::{Cause, Error, Result};
use crate::http::HttpClient;

/// One tile of a mosaic index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexEntry {
    /// The tile id (`dem_id`), also the STAC item id.
    pub id: String,
    /// The footprint in the index's CRS.
    pub footprint: Geometry<f64>,
    bbox: Rect<f64>,
}

/// The tiles of a mosaic index, in file order.
#[derive(Clone, Debug, Default)]
pub struct MosaicIndex {
    entries: Vec<IndexEntry>,
}

impl MosaicIndex {
    /// Read the index at `path`: the string column `id_column` and the WKB
    /// geometry column named by the GeoParquet `geo` metadata (its
    /// `primary_column`, else `geometry`).
    ///
    /// # Errors
    /// [`Error::Index`] when the file is missing, is not Parquet, lacks a
    /// column, or holds a malformed geometry.
    pub fn read(path: &Path, id_column: &str) -> Result<MosaicIndex> {
        let bad = |reason: String| Error::index(path, reason);
        let caused = |reason: String, cause: Cause| bad(reason).caused_by(cause);
        let file = File::open(path).map_err(|e| caused(format!("cannot open: {e}"), e.into()))?;
        let len = file
            .metadata()
            .map_err(|e| caused(format!("cannot open: {e}"), e.into()))?
            .len();
        let reader = SerializedFileReader::new(file)
            .map_err(|e| caused(format!("not a readable Parquet file: {e}"), e.into()))?;
        check_column_chunks(&reader, len).map_err(bad)?;
        let meta = reader.metadata().file_metadata();
        let geo_column = meta
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == "geo"))
            .and_then(|k| k.value.as_deref())
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .and_then(|g| {
                g.get("primary_column")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "geometry".to_owned());
        let fields = meta.schema_descr().root_schema().get_fields();
        let pick = |name: &str| {
            fields
                .iter()
                .find(|f| f.name() == name)
                .cloned()
                .ok_or_else(|| {
                    let have: Vec<&str> = fields.iter().map(|f| f.name()).collect();
                    bad(format!("no column `{name}` (columns: {})", have.join(", ")))
                })
        };
        let projection = Type::group_type_builder("schema")
            .with_fields(vec![pick(id_column)?, pick(&geo_column)?])
            .build()
            .map_err(|e| caused(format!("cannot project the columns: {e}"), e.into()))?;
        // The parquet crate's page decoders assert on some corrupt pages
        // (a dictionary page announcing more values than it holds, parquet
        // 60): contained, so a corrupt index is an error, not a crash.
        let read_rows = || -> Result<Vec<IndexEntry>> {
            let rows = reader
                .get_row_iter(Some(projection))
                .map_err(|e| caused(format!("cannot read rows: {e}"), e.into()))?;
            read_entries(path, rows, id_column, &geo_column)
        };
        let entries = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read_rows))
            .map_err(|_| bad("the Parquet reader failed on corrupt pages".into()))??;
        Ok(MosaicIndex { entries })
    }

    /// Every tile.
    #[must_use]
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The tile with id `id`.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The tiles whose footprint intersects any of `geoms` (in the index's CRS).
    #[must_use]
    pub fn intersecting(&self, geoms: &[Geometry<f64>]) -> Vec<&IndexEntry> {
        let probes: Vec<(Rect<f64>, &Geometry<f64>)> = geoms
            .iter()
            .filter_map(|g| g.bounding_rect().map(|r| (r, g)))
            .collect();
        self.entries
            .iter()
            .filter(|e| {
                probes
                    .iter()
                    .any(|(r, g)| r.intersects(&e.bbox) && g.intersects(&e.footprint))
            })
            .collect()
    }
}

/// Refuse column chunks whose byte range is negative or past the end of
/// the file: the parquet crate panics on the former (`byte_range` asserts)
/// and would read garbage for the latter.
fn check_column_chunks(
    reader: &SerializedFileReader<File>,
    len: u64,
) -> std::result::Result<(), String> {
    for (g, group) in reader.metadata().row_groups().iter().enumerate() {
        for c in group.columns() {
            let start = c
                .dictionary_page_offset()
                .unwrap_or_else(|| c.data_page_offset());
            let size = c.compressed_size();
            let end = u64::try_from(start)
                .ok()
                .zip(u64::try_from(size).ok())
                .and_then(|(s, n)| s.checked_add(n));
            if end.is_none_or(|end| end > len) {
                return Err(format!(
                    "row group {g}: column `{}` claims {size} bytes at offset {start} of a {len}-byte file",
                    c.column_path()
                ));
            }
        }
    }
    Ok(())
}

/// The entries of the index's rows: id and footprint.
fn read_entries(
    path: &Path,
    rows: parquet::record::reader::RowIter<'_>,
    id_column: &str,
    geo_column: &str,
) -> Result<Vec<IndexEntry>> {
    let bad = |reason: String| Error::index(path, reason);
    let caused = |reason: String, cause: Cause| bad(reason).caused_by(cause);
    let mut entries = Vec::new();
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| caused(format!("row {i}: {e}"), e.into()))?;
        let (mut id, mut wkb) = (None, None);
        for (name, field) in row.get_column_iter() {
            match field {
                Field::Str(s) if name == id_column => id = Some(s.clone()),
                Field::Bytes(b) if name == geo_column => wkb = Some(b.data().to_vec()),
                _ => {}
            }
        }
        let id =
            id.ok_or_else(|| bad(format!("row {i}: `{id_column}` is null or not a string")))?;
        let wkb = wkb.ok_or_else(|| {
            bad(format!(
                "row {i} (`{id}`): `{geo_column}` is null or not binary"
            ))
        })?;
        let footprint = crate::wkb::parse_polygonal(&wkb)
            .map_err(|e| caused(format!("row {i} (`{id}`): {e}"), e.into()))?;
        let bbox = footprint
            .bounding_rect()
            .ok_or_else(|| bad(format!("row {i} (`{id}`): empty footprint")))?;
        entries.push(IndexEntry {
            id,
            footprint,
            bbox,
        });
    }
    Ok(entries)
}

/// Make sure `dest` exists, fetching it from `url` otherwise: a `.parquet`
/// URL is downloaded to `dest`; a `.zip` is downloaded and every `.parquet`
/// file in it is extracted flat into `dest`'s directory (as smart-geocubes
/// does with PGC's index archive).
///
/// # Errors
/// [`Error::Index`] when the download or extraction fails or the archive
/// does not hold `dest`'s file name; [`Error::Io`].
pub fn ensure_index(http: &HttpClient, url: &str, dest: &Path) -> Result<()> {
    if dest.is_file() {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let is_zip = url
        .split(['?', '#'])
        .next()
        .is_some_and(|u| u.to_ascii_lowercase().ends_with(".zip"));
    if !is_zip {
        tracing::info!(url, dest = %dest.display(), "downloading the mosaic index");
        http.download_to_file(url, dest)?;
        return Ok(());
    }
    let zip_path = dir.join(format!(".mosaic-index-{}.zip", std::process::id()));
    tracing::info!(url, dir = %dir.display(), "downloading the mosaic index archive");
    http.download_to_file(url, &zip_path)?;
    let extracted = extract_parquet_files(&zip_path, dir);
    let _ = std::fs::remove_file(&zip_path);
    let names = extracted?;
    if dest.is_file() {
        Ok(())
    } else {
        Err(Error::index(
            dest,
            format!(
                "the archive {url} does not hold this file (it holds: {})",
                names.join(", ")
            ),
        ))
    }
}

/// Extract every `*.parquet` entry of the zip at `zip_path` into `dir`
/// (directories in entry names dropped), each through a temporary file.
fn extract_parquet_files(zip_path: &Path, dir: &Path) -> Result<Vec<String>> {
    let caused = |reason: String, cause: Cause| Error::index(zip_path, reason).caused_by(cause);
    let file = File::open(zip_path).map_err(|e| Error::io(zip_path, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| caused(format!("not a readable zip archive: {e}"), e.into()))?;
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| caused(format!("entry {i}: {e}"), e.into()))?;
        let Some(name) = entry
            .enclosed_name()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        else {
            continue;
        };
        if !entry.is_file() || !name.to_ascii_lowercase().ends_with(".parquet") {
            continue;
        }
        let target: PathBuf = dir.join(&name);
        let tmp = dir.join(format!(".{name}.{}.part", std::process::id()));
        let mut out = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let copied = std::io::copy(&mut entry, &mut out);
        drop(out);
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(caused(format!("extracting {name}: {e}"), e.into()));
        }
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_testkit_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx.parquet");
        let rec = |id: &str, x: f64| geocube_testkit::geoparquet::IndexRecord {
            dem_id: id.into(),
            tile: id.into(),
            gsd: 32.0,
            ring: vec![
                (x, 0.0),
                (x + 10.0, 0.0),
                (x + 10.0, 10.0),
                (x, 10.0),
                (x, 0.0),
            ],
        };
        geocube_testkit::geoparquet::write_index(
            &path,
            &[rec("a", 0.0), rec("b", 10.0), rec("c", 100.0)],
        )
        .unwrap();
        let idx = MosaicIndex::read(&path, "dem_id").unwrap();
        assert_eq!(idx.entries().len(), 3);
        let probe = Geometry::Rect(Rect::new((5.0, 5.0), (12.0, 6.0)));
        let hits: Vec<&str> = idx
            .intersecting(&[probe])
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(hits, ["a", "b"]);
        assert!(idx.get("c").is_some());
        assert!(matches!(
            MosaicIndex::read(&path, "nope"),
            Err(Error::Index { .. })
        ));
        std::fs::write(dir.path().join("junk.parquet"), b"PAR1 not really").unwrap();
        let junk = MosaicIndex::read(&dir.path().join("junk.parquet"), "dem_id").unwrap_err();
        assert!(matches!(
            std::error::Error::source(&junk).and_then(|s| s.downcast_ref::<Cause>()),
            Some(Cause::Parquet(_))
        ));
        assert!(matches!(
            MosaicIndex::read(&dir.path().join("junk.parquet"), "dem_id"),
            Err(Error::Index { .. })
        ));
        assert!(matches!(
            MosaicIndex::read(&dir.path().join("missing.parquet"), "dem_id"),
            Err(Error::Index { .. })
        ));
    }
}
