//! [`StacSource`]: a cube filled from the items of one STAC API collection
//! (smart-geocubes' `STACAccessor`).
//!
//! `touching_patches` searches the API (`POST /search` with `collections`,
//! `intersects` in EPSG:4326 split at the antimeridian, `datetime` from
//! the time of interest and the builder's `query`), following `next`
//! links; each item becomes one [`PatchRef`] carrying the item JSON
//! ([`StacItems`]). `download` reads each channel's asset COG onto the cube
//! grid.
//!
//! # Property filters
//!
//! [`StacSourceBuilder::query`] (and [`StacSourceBuilder::max_cloud_cover`]
//! on it) filter the items by their properties with the STAC API query
//! extension: `"query": {"eo:cloud_cover": {"lte": 20}}`, operators `eq`,
//! `neq`, `lt`, `lte`, `gt`, `gte`. A server without the extension ignores
//! the field and returns every item, so the source also checks each
//! returned item itself and drops those the query excludes: a cube filled
//! with at most 20 % cloud cover never holds an 80 % scene, whatever the
//! server. An item without the property (or with `null`) never passes, as
//! in stac-fastapi. Numbers compare by value, strings lexicographically, a
//! property of another type than the value passes only `neq`.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use geocube_core::warp::Resampling;
use geocube_core::{Aoi, Crs, CubeSpec, Patch, PatchRef, Toi};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::http::{HttpClient, HttpConfig};
use crate::loader::{FetchedItem, PatchLoader, item_geometry, item_id, item_times};

/// Items asked for per search page.
const PAGE_LIMIT: usize = 100;
/// Pages followed at most (a guard against a server that never stops).
const MAX_PAGES: usize = 10_000;

/// The [`PatchRef`] payload of a STAC patch: the item JSON, one or more
/// (several items of one patch are mosaicked with a nodata-aware maximum).
#[derive(Clone, Debug, PartialEq)]
pub struct StacItems(pub Vec<Value>);

/// The [`PatchRef`] payload of a lazily fetched STAC patch: the item's URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StacItemUrl(pub String);

/// A cube filled from a STAC API collection.
#[derive(Clone, Debug)]
pub struct StacSource {
    root: String,
    collection: String,
    /// The query extension's filter of area searches (empty: none).
    query: Map<String, Value>,
    loader: PatchLoader,
}

/// Builds a [`StacSource`].
#[derive(Clone, Debug)]
pub struct StacSourceBuilder {
    root: String,
    collection: String,
    spec: CubeSpec,
    assets: Vec<(String, String)>,
    http: Option<HttpClient>,
    http_config: HttpConfig,
    resampling: Resampling,
    channel_resampling: Vec<(String, Resampling)>,
    query: Map<String, Value>,
}

/// The query extension's operators.
const QUERY_OPERATORS: [&str; 6] = ["eq", "neq", "lt", "lte", "gt", "gte"];

impl StacSourceBuilder {
    /// Filter every area search by item properties with the STAC API query
    /// extension: `{"eo:cloud_cover": {"lte": 20}, "platform": {"eq":
    /// "sentinel-2b"}}` (operators `eq`, `neq`, `lt`, `lte`, `gt`, `gte`),
    /// sent as the search's `query` and checked again on every returned
    /// item (see the [module docs](self#property-filters)). Merged into
    /// what earlier calls gave: an operator given again for a property
    /// replaces the earlier one. Lookups of patch ids already in a cube
    /// ([`StacSource::patch_refs`]) are not filtered: a filter narrows what
    /// is loaded, not what a cube is known to hold.
    #[must_use]
    pub fn query(mut self, query: Map<String, Value>) -> Self {
        merge_query(&mut self.query, query);
        self
    }

    /// Only items with `eo:cloud_cover` at most `percent` (0–100): the
    /// query `{"eo:cloud_cover": {"lte": percent}}` ([`StacSourceBuilder::query`]).
    /// Items without a cloud cover are left out.
    #[must_use]
    pub fn max_cloud_cover(self, percent: f64) -> Self {
        let mut q = Map::new();
        // A NaN becomes JSON null, which `build` refuses.
        q.insert("eo:cloud_cover".into(), json!({ "lte": percent }));
        self.query(q)
    }

    /// Read channel `channel` from the item asset `asset_key` (default: the
    /// asset named like the channel).
    #[must_use]
    pub fn asset(mut self, channel: impl Into<String>, asset_key: impl Into<String>) -> Self {
        let channel = channel.into();
        self.assets.retain(|(c, _)| *c != channel);
        self.assets.push((channel, asset_key.into()));
        self
    }

    /// The kernel that warps assets not on the cube's pixel lattice (a UTM
    /// scene into an EPSG:3413 cube, a 20 m band into a 10 m cube); default
    /// [`Resampling::Nearest`], as odc-stac. Assets on the lattice are
    /// always copied bit-exactly.
    #[must_use]
    pub fn resampling(mut self, resampling: Resampling) -> Self {
        self.resampling = resampling;
        self
    }

    /// The kernel for one channel, over [`StacSourceBuilder::resampling`]
    /// (e.g. `mode` or `nearest` for a classification band).
    #[must_use]
    pub fn channel_resampling(
        mut self,
        channel: impl Into<String>,
        resampling: Resampling,
    ) -> Self {
        let channel = channel.into();
        self.channel_resampling.retain(|(c, _)| *c != channel);
        self.channel_resampling.push((channel, resampling));
        self
    }

    /// Timeouts and retries of the HTTP client.
    #[must_use]
    pub fn http_config(mut self, config: HttpConfig) -> Self {
        self.http_config = config;
        self
    }

    /// Share an existing HTTP client (its configuration wins).
    #[must_use]
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.http = Some(client);
        self
    }

    /// The source.
    ///
    /// # Errors
    /// [`Error::Core`] for an invalid spec; [`Error::Config`] for an asset
    /// mapped to a channel the cube does not have, or an HTTP client that
    /// cannot be built; [`Error::InvalidQuery`] for a query whose operators
    /// or values the query extension does not have.
    pub fn build(self) -> Result<StacSource> {
        self.spec.validate()?;
        validate_query(&self.query)?;
        let mapped = self.assets.iter().map(|(c, _)| c);
        for c in mapped.chain(self.channel_resampling.iter().map(|(c, _)| c)) {
            if self.spec.channel(c).is_none() {
                return Err(Error::Config(format!(
                    "asset or resampling given for channel `{c}`, which the cube does not have"
                )));
            }
        }
        let assets = self
            .spec
            .channels
            .iter()
            .map(|c| {
                let key = self
                    .assets
                    .iter()
                    .find(|(ch, _)| *ch == c.name)
                    .map_or_else(|| c.name.clone(), |(_, k)| k.clone());
                (c.name.clone(), key)
            })
            .collect();
        let resampling = self
            .spec
            .channels
            .iter()
            .map(|c| {
                let r = self
                    .channel_resampling
                    .iter()
                    .find(|(ch, _)| *ch == c.name)
                    .map_or(self.resampling, |(_, r)| *r);
                (c.name.clone(), r)
            })
            .collect();
        let http = match self.http {
            Some(h) => h,
            None => HttpClient::new(self.http_config)?,
        };
        Ok(StacSource {
            root: self.root,
            collection: self.collection,
            query: self.query,
            loader: PatchLoader {
                http,
                spec: self.spec,
                assets,
                resampling,
            },
        })
    }
}

/// Add the property filters of `more` to `into`: a property's operators
/// are merged, so `lte` and `gte` given apart make a range.
pub(crate) fn merge_query(into: &mut Map<String, Value>, more: Map<String, Value>) {
    for (property, ops) in more {
        match (into.get_mut(&property), ops) {
            (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
            (_, ops) => {
                into.insert(property, ops);
            }
        }
    }
}

/// A hash of one search request (a set of these holds few bytes per page
/// however large the request bodies).
fn request_key(method: &str, url: &str, body: Option<&Map<String, Value>>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (method, url).hash(&mut h);
    if let Some(b) = body {
        // Printed in the map's own order: a body rebuilt from the same
        // `next` link prints the same.
        Value::Object(b.clone()).to_string().hash(&mut h);
    }
    h.finish()
}

/// `root` joined with `path`, with exactly one `/` between them.
pub(crate) fn join_url(root: &str, path: &str) -> String {
    format!(
        "{}/{}",
        root.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The STAC `datetime` parameter of a time of interest (`None`: no filter).
/// A list of instants is searched as the interval they span.
#[must_use]
pub fn stac_datetime(toi: &Toi) -> Option<String> {
    let one = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let open = |t: &Option<DateTime<Utc>>| t.as_ref().map_or_else(|| "..".to_owned(), one);
    match toi {
        Toi::None => None,
        Toi::Instant(t) => Some(one(t)),
        Toi::List(ts) => {
            let (a, b) = (ts.iter().min()?, ts.iter().max()?);
            Some(format!("{}/{}", one(a), one(b)))
        }
        Toi::Range { start, end } => Some(format!("{}/{}", open(start), open(end))),
    }
}

impl StacSource {
    /// A source for `collection` of the STAC API at `stac_url` (its landing
    /// page, e.g. `https://stac.pgc.umn.edu/api/v1/`) filling cubes of `spec`.
    pub fn builder(
        stac_url: impl Into<String>,
        collection: impl Into<String>,
        spec: CubeSpec,
    ) -> StacSourceBuilder {
        StacSourceBuilder {
            root: stac_url.into(),
            collection: collection.into(),
            spec,
            assets: Vec::new(),
            http: None,
            http_config: HttpConfig::default(),
            resampling: Resampling::Nearest,
            channel_resampling: Vec::new(),
            query: Map::new(),
        }
    }

    /// The STAC API landing page URL.
    #[must_use]
    pub fn stac_url(&self) -> &str {
        &self.root
    }

    /// The collection searched.
    #[must_use]
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The property filter of area searches ([`StacSourceBuilder::query`];
    /// empty: none).
    #[must_use]
    pub fn query(&self) -> &Map<String, Value> {
        &self.query
    }

    /// Whether `item` passes the property filter ([`StacSourceBuilder::query`]),
    /// checked here as the query extension specifies it: what the source
    /// applies to the items a server returns.
    #[must_use]
    pub fn passes_query(&self, item: &Value) -> bool {
        query_matches(&self.query, item.get("properties").unwrap_or(&Value::Null))
    }

    /// The HTTP client.
    #[must_use]
    pub fn http(&self) -> &HttpClient {
        &self.loader.http
    }

    /// The URL of item `id` of the collection.
    #[must_use]
    pub fn item_url(&self, id: &str) -> String {
        join_url(
            &self.root,
            &format!("collections/{}/items/{id}", self.collection),
        )
    }

    /// Run a search (`POST {root}/search` with `body` plus collection and
    /// page limit) and return every item of every page.
    ///
    /// # Errors
    /// HTTP failures (after retries); [`Error::InvalidResponse`] for a page
    /// that is not a FeatureCollection.
    pub fn search(&self, mut body: Map<String, Value>) -> Result<Vec<Value>> {
        body.insert("collections".into(), json!([self.collection]));
        body.entry("limit").or_insert(json!(PAGE_LIMIT));
        let mut url = join_url(&self.root, "search");
        let mut page = self
            .loader
            .http
            .post_json(&url, &Value::Object(body.clone()))?;
        // The requests made so far (hashes of method, URL and body): a
        // `next` link back to a page already read would otherwise be
        // followed MAX_PAGES times, collecting its items each time.
        let mut asked = HashSet::from([request_key("POST", &url, Some(&body))]);
        let mut items = Vec::new();
        for n in 1..=MAX_PAGES {
            // Taken, not cloned: a page and its items are not held twice.
            let features = page
                .get_mut("features")
                .and_then(Value::as_array_mut)
                .map(std::mem::take)
                .ok_or_else(|| Error::InvalidResponse {
                    url: url.clone(),
                    reason: "a search page without a `features` array".into(),
                })?;
            if features.is_empty() {
                break;
            }
            items.extend(features);
            let Some(next) = page
                .get("links")
                .and_then(Value::as_array)
                .and_then(|l| {
                    l.iter()
                        .find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))
                })
                .cloned()
            else {
                break;
            };
            let href =
                next.get("href")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::InvalidResponse {
                        url: url.clone(),
                        reason: "a `next` link without href".into(),
                    })?;
            // A relative href is relative to the page that holds it.
            url = reqwest::Url::parse(&url)
                .and_then(|page| page.join(href))
                .map(String::from)
                .map_err(|e| Error::InvalidResponse {
                    url: url.clone(),
                    reason: format!("the `next` link `{href}` is not a URL: {e}"),
                })?;
            let post = next
                .get("method")
                .and_then(Value::as_str)
                .is_some_and(|m| m.eq_ignore_ascii_case("POST"));
            if post {
                match next.get("body").and_then(Value::as_object) {
                    Some(b) if next.get("merge").and_then(Value::as_bool) == Some(true) => {
                        body.extend(b.clone());
                    }
                    Some(b) => body = b.clone(),
                    None => {}
                }
            }
            let key = if post {
                request_key("POST", &url, Some(&body))
            } else {
                request_key("GET", &url, None)
            };
            if !asked.insert(key) {
                return Err(Error::InvalidResponse {
                    url,
                    reason: format!(
                        "the `next` link of search page {n} asks for a page already read (the search would never end)"
                    ),
                });
            }
            page = if post {
                self.loader
                    .http
                    .post_json(&url, &Value::Object(body.clone()))?
            } else {
                self.loader.http.get_json(&url)?
            };
        }
        Ok(items)
    }

    /// A patch made of several items of the collection, mosaicked with a
    /// nodata-aware maximum when downloaded (for non-temporal cubes whose
    /// patches span several items). Footprint: the union of the items'.
    ///
    /// # Errors
    /// [`Error::InvalidItem`] when an item has no id or footprint.
    pub fn mosaic_patch(&self, id: impl Into<String>, items: Vec<Value>) -> Result<PatchRef> {
        let mut polys = Vec::new();
        for it in &items {
            match item_geometry(it)? {
                geo::Geometry::Polygon(p) => polys.push(p),
                geo::Geometry::MultiPolygon(m) => polys.extend(m.0),
                _ => {}
            }
        }
        let time = match items.first() {
            Some(first) => self.patch_time(first)?,
            None => None,
        };
        Ok(PatchRef::new(
            id,
            geo::Geometry::MultiPolygon(geo::MultiPolygon::new(polys)),
            time,
        )
        .with_item(StacItems(items)))
    }

    fn patch_time(&self, item: &Value) -> Result<Option<DateTime<Utc>>> {
        if self.loader.spec.time.is_none() {
            return Ok(None);
        }
        Ok(item_times(item)?.0)
    }

    pub(crate) fn index_of(&self, item: Value) -> Result<PatchRef> {
        let id = item_id(&item)?.to_owned();
        let geometry = item_geometry(&item)?;
        let time = self.patch_time(&item)?;
        Ok(PatchRef::new(id, geometry, time).with_item(StacItems(vec![item])))
    }

    /// The items behind a patch index: its payload, else fetched by id.
    fn items_of(&self, idx: &PatchRef) -> Result<Vec<FetchedItem>> {
        if let Some(StacItems(items)) = idx.item::<StacItems>() {
            return Ok(items
                .iter()
                .map(|json| FetchedItem {
                    json: json.clone(),
                    url: None,
                })
                .collect());
        }
        let url = match idx.item::<StacItemUrl>() {
            Some(StacItemUrl(u)) => u.clone(),
            None => self.item_url(&idx.id),
        };
        Ok(vec![fetch_item(&self.loader.http, &url)?])
    }
}

/// Whether `query` (checked by [`validate_query`]) holds for an item with
/// these `properties`: every operator of every property.
fn query_matches(query: &Map<String, Value>, properties: &Value) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    query.iter().all(|(property, ops)| {
        let Some(have) = properties.get(property).filter(|v| !v.is_null()) else {
            // Unknown is not "at most 20 %".
            return false;
        };
        let Some(ops) = ops.as_object() else {
            return false;
        };
        ops.iter().all(|(op, want)| {
            let order = match (have, want) {
                (Value::Number(a), Value::Number(b)) => a
                    .as_f64()
                    .zip(b.as_f64())
                    .and_then(|(a, b)| a.partial_cmp(&b)),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
                _ => None,
            };
            let equal = order == Some(Equal) || have == want;
            match op.as_str() {
                "eq" => equal,
                "neq" => !equal,
                "lt" => order == Some(Less),
                "lte" => matches!(order, Some(Less | Equal)),
                "gt" => order == Some(Greater),
                "gte" => matches!(order, Some(Greater | Equal)),
                // Refused by `validate_query`; never passes.
                _ => false,
            }
        })
    })
}

/// [`Error::InvalidQuery`] unless every property maps to an object of the
/// query extension's operators with non-null values (numbers or strings
/// for the orderings).
fn validate_query(query: &Map<String, Value>) -> Result<()> {
    for (property, ops) in query {
        let invalid = |reason: String| Error::InvalidQuery {
            property: property.clone(),
            reason,
        };
        let ops = ops
            .as_object()
            .ok_or_else(|| invalid(format!("{ops} is not an object of operators")))?;
        if ops.is_empty() {
            return Err(invalid("no operator given".into()));
        }
        for (op, value) in ops {
            if !QUERY_OPERATORS.contains(&op.as_str()) {
                return Err(invalid(format!(
                    "unknown operator `{op}`; use {}",
                    QUERY_OPERATORS.join(", ")
                )));
            }
            let ordering = !matches!(op.as_str(), "eq" | "neq");
            let usable = match value {
                Value::Null => false,
                Value::Number(_) | Value::String(_) => true,
                _ => !ordering,
            };
            if !usable {
                return Err(invalid(format!(
                    "`{op}` needs {}, not {value}",
                    if ordering {
                        "a number or a string"
                    } else {
                        "a value"
                    }
                )));
            }
        }
    }
    Ok(())
}

/// GET an item and check it is one.
pub(crate) fn fetch_item(http: &HttpClient, url: &str) -> Result<FetchedItem> {
    let json = http.get_json(url)?;
    if json.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(Error::item(
            url,
            "the document is not a STAC item (`type` is not `Feature`)",
        ));
    }
    item_id(&json)?;
    Ok(FetchedItem {
        json,
        url: Some(url.to_owned()),
    })
}

/// The AOI as a GeoJSON geometry in EPSG:4326 with longitudes in ±180°.
pub(crate) fn intersects_geojson(aoi: &Aoi) -> Result<Value> {
    let geoms = aoi.geometries_in(&Crs::wgs84())?;
    let split = geocube_core::crs::split_at_antimeridian(&geoms);
    if split.0.is_empty() {
        return Err(Error::Core(geocube_core::Error::InvalidAoi(
            "the area of interest has no area in EPSG:4326".into(),
        )));
    }
    Ok(geocube_core::geojson::multipolygon_to_value(&split))
}

pub(crate) fn aoi_text(aoi: &Aoi) -> String {
    aoi.bounds_in(aoi.crs()).map_or_else(
        |_| format!("in {}", aoi.crs()),
        |b| format!("{b} ({})", aoi.crs()),
    )
}

impl StacSource {
    /// The cube this source fills.
    #[must_use]
    pub fn spec(&self) -> &CubeSpec {
        &self.loader.spec
    }

    /// Every item whose footprint touches `aoi` at `toi`
    /// ([`Source::touching_patches`] with this crate's typed error).
    ///
    /// # Errors
    /// [`Error::NoPatches`] when none does; index, API and CRS failures.
    pub fn touching_patches(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>> {
        let mut body = Map::new();
        body.insert("intersects".into(), intersects_geojson(aoi)?);
        if let Some(dt) = stac_datetime(toi) {
            body.insert("datetime".into(), Value::String(dt));
        }
        if !self.query.is_empty() {
            body.insert("query".into(), Value::Object(self.query.clone()));
        }
        let mut items = self.search(body)?;
        let returned = items.len();
        // A server without the query extension ignores `query`.
        items.retain(|it| self.passes_query(it));
        if items.len() < returned {
            tracing::debug!(
                dropped = returned - items.len(),
                url = %self.root,
                "the STAC API returned items the query excludes (no query extension?); dropped them"
            );
        }
        if items.is_empty() {
            return Err(Error::NoPatches { aoi: aoi_text(aoi) });
        }
        items.into_iter().map(|it| self.index_of(it)).collect()
    }

    /// Download one patch onto the cube grid ([`Source::download`] with
    /// this crate's typed error).
    ///
    /// # Errors
    /// HTTP, STAC and GeoTIFF failures; [`Error::is_retryable`] tells which are transient.
    pub fn download(&self, idx: &PatchRef) -> Result<Patch> {
        let items = self.items_of(idx)?;
        self.loader.load(&idx.id, &items)
    }

    /// Download one patch, in pieces along the cube's chunks when it is
    /// larger than `max_whole_bytes` ([`Source::download_streaming`]).
    ///
    /// # Errors
    /// As [`StacSource::download`], and whatever `sink` refuses a piece with.
    pub fn download_streaming(
        &self,
        idx: &PatchRef,
        max_whole_bytes: u64,
        sink: &mut geocube_core::PieceSink<'_>,
    ) -> std::result::Result<geocube_core::Streamed, geocube_core::DownloadError> {
        let items = self.items_of(idx)?;
        Ok(self
            .loader
            .load_streaming(&idx.id, &items, max_whole_bytes, sink)?)
    }

    /// The references of the given patch ids ([`Source::patch_refs`] with
    /// this crate's typed error).
    ///
    /// # Errors
    /// Index or API failures.
    pub fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = Map::new();
        body.insert("ids".into(), json!(ids));
        self.search(body)?
            .into_iter()
            .map(|it| self.index_of(it))
            .collect()
    }

    /// Offline [`StacSource::touching_patches`]: the patches are only known
    /// to the STAC API, so this always fails, without a request.
    ///
    /// # Errors
    /// Always [`Error::NeedsNetwork`].
    pub fn touching_patches_offline(&self, _aoi: &Aoi, _toi: &Toi) -> Result<Vec<PatchRef>> {
        Err(Error::NeedsNetwork {
            what: format!("searching the STAC API at {}", self.root),
        })
    }

    /// Offline [`StacSource::patch_refs`]: nothing without a request, so
    /// this fails unless `ids` is empty.
    ///
    /// # Errors
    /// [`Error::NeedsNetwork`] for any id.
    pub fn patch_refs_offline(&self, ids: &[String]) -> Result<Vec<PatchRef>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Err(Error::NeedsNetwork {
            what: format!("looking items up in the STAC API at {}", self.root),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        let t = |s: &str| Toi::parse(s).unwrap();
        assert_eq!(stac_datetime(&Toi::None), None);
        assert_eq!(
            stac_datetime(&t("2020-06-01T12:00:00Z")).unwrap(),
            "2020-06-01T12:00:00Z"
        );
        assert_eq!(
            stac_datetime(&t("2020-01-01/..")).unwrap(),
            "2020-01-01T00:00:00Z/.."
        );
        assert_eq!(
            stac_datetime(&t("2021-01-01,2020-01-01")).unwrap(),
            "2020-01-01T00:00:00Z/2021-01-01T00:00:00Z"
        );
        assert_eq!(
            join_url("http://h/api/v1/", "/search"),
            "http://h/api/v1/search"
        );
        assert_eq!(join_url("http://h", "search"), "http://h/search");
    }

    fn query(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn query_filter() {
        let props = json!({ "eo:cloud_cover": 20.0, "platform": "sentinel-2a", "n": 3 });
        let holds = |q: Value| {
            let q = query(q);
            validate_query(&q).unwrap();
            query_matches(&q, &props)
        };
        assert!(holds(json!({ "eo:cloud_cover": { "lte": 20 } })));
        assert!(!holds(json!({ "eo:cloud_cover": { "lt": 20 } })));
        assert!(holds(json!({ "eo:cloud_cover": { "eq": 20 } })));
        assert!(holds(
            json!({ "eo:cloud_cover": { "gte": 10, "lt": 20.5 } })
        ));
        assert!(!holds(json!({ "eo:cloud_cover": { "gt": 20 } })));
        assert!(holds(
            json!({ "platform": { "neq": "sentinel-2b" }, "n": { "gt": 2 } })
        ));
        assert!(!holds(json!({ "platform": { "eq": "sentinel-2b" } })));
        assert!(
            !holds(json!({ "platform": { "lt": 5 } })),
            "no order across types"
        );
        assert!(
            !holds(json!({ "gsd": { "neq": 10 } })),
            "a missing property never passes"
        );
        assert!(
            query_matches(&Map::new(), &props),
            "no query: everything passes"
        );
        for bad in [
            json!({ "eo:cloud_cover": 20 }),
            json!({ "eo:cloud_cover": {} }),
            json!({ "eo:cloud_cover": { "like": 20 } }),
            json!({ "eo:cloud_cover": { "lte": null } }),
            json!({ "eo:cloud_cover": { "lte": [1, 2] } }),
        ] {
            assert!(matches!(
                validate_query(&query(bad)),
                Err(Error::InvalidQuery { .. })
            ));
        }
        assert!(validate_query(&query(json!({ "s2:tile": { "eq": ["a"] } }))).is_ok());
    }

    #[test]
    fn builder_merges_queries() {
        let spec = geocube_core::CubeSpec {
            title: "t".into(),
            geobox: geocube_core::GeoBox::from_bbox(
                geocube_core::BoundingBox::new(0.0, 0.0, 1.0, 1.0),
                Crs::wgs84(),
                0.1,
            )
            .unwrap(),
            time: None,
            chunk_size: 16,
            channels: vec![geocube_core::ChannelSpec::new(
                "b",
                geocube_core::DType::Uint16,
            )],
            codec: geocube_core::ChunkCodec::Default,
        };
        let s = StacSource::builder("http://x/", "c", spec.clone())
            .max_cloud_cover(30.0)
            .query(query(
                json!({ "eo:cloud_cover": { "gte": 5 }, "platform": { "eq": "p" } }),
            ))
            .max_cloud_cover(20.0)
            .build()
            .unwrap();
        assert_eq!(
            Value::Object(s.query().clone()),
            json!({ "eo:cloud_cover": { "lte": 20.0, "gte": 5 }, "platform": { "eq": "p" } })
        );
        assert!(
            s.passes_query(&json!({ "properties": { "eo:cloud_cover": 10, "platform": "p" } }))
        );
        assert!(
            !s.passes_query(&json!({ "properties": { "eo:cloud_cover": 25, "platform": "p" } }))
        );
        assert!(!s.passes_query(&json!({ "id": "no properties" })));
        let nan = StacSource::builder("http://x/", "c", spec)
            .max_cloud_cover(f64::NAN)
            .build();
        assert!(matches!(nan, Err(Error::InvalidQuery { .. })));
    }
}
crate::source::impl_source!(StacSource);
