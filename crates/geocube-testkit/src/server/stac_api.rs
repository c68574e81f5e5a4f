//! A small STAC API over the fixture's items, held in memory: landing page,
//! conformance, collections, items and item search (GET and POST) with
//! `collections`, `ids`, `bbox`, `intersects` (true intersection, planar in
//! WGS 84 as STAC specifies), `datetime`, `limit`, token paging and the
//! query extension's `query` (`{"eo:cloud_cover": {"lte": 20}}`, operators
//! `eq`, `neq`, `lt`, `lte`, `gt`, `gte`; an item without the property
//! never matches, as in stac-fastapi).
//!
//! The collections are those of the fixture manifests found in the
//! directory: the ArcticDEM-like mosaic's (`manifest.json`) and the
//! Sentinel-2-like collection's (`sentinel2.json`), one or both.

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use geo::{
    Coord, Geometry, Intersects, LineString, MultiLineString, MultiPoint, MultiPolygon, Point,
    Polygon, Rect,
};
use serde_json::{Map, Value, json};

use super::http::{Request, Response, parse_query};
use crate::error::{Error, Result};
use crate::manifest::{FixtureManifest, MANIFEST_FILE_NAME, resolve};

/// Items per page unless the client asks otherwise.
const DEFAULT_LIMIT: usize = 10;
/// Largest page.
const MAX_LIMIT: usize = 10_000;

const CONFORMANCE: [&str; 6] = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
];

/// The query extension's conformance class (advertised unless the server
/// ignores `query`).
pub(crate) const QUERY_CONFORMANCE: &str = "https://api.stacspec.org/v1.0.0-rc.1/item-search#query";

/// Why the fixture STAC API cannot use a value: a search parameter (the
/// server answers 400 with this message) or an item's geometry or time
/// (loading the fixture fails with [`Error::InvalidItem`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StacApiError {
    /// A datetime that is not RFC 3339.
    #[error("bad RFC 3339 datetime {text:?}: {source}")]
    Datetime {
        /// The text given.
        text: String,
        /// What chrono said.
        #[source]
        source: chrono::ParseError,
    },
    /// A datetime interval whose end is before its start.
    #[error("datetime interval {0:?} ends before it starts")]
    ReversedInterval(String),
    /// A `datetime` parameter that is not a string.
    #[error("datetime must be a string")]
    DatetimeNotString,
    /// A position with a non-number or non-finite coordinate.
    #[error("a position holds non-numbers")]
    PositionNotNumbers,
    /// A position with fewer than two numbers.
    #[error("a position needs at least two numbers")]
    ShortPosition,
    /// GeoJSON coordinates that are not nested arrays.
    #[error("GeoJSON coordinates must be arrays")]
    CoordinatesNotArrays,
    /// A polygon without rings.
    #[error("a polygon needs a ring")]
    NoRing,
    /// A polygon ring that cannot close an area.
    #[error("a polygon ring needs at least four positions")]
    ShortRing,
    /// A geometry without coordinates.
    #[error("GeoJSON geometry without coordinates")]
    NoCoordinates,
    /// A geometry type the server does not read.
    #[error("unsupported GeoJSON geometry type {0:?}")]
    GeometryType(String),
    /// A geometry without a type.
    #[error("GeoJSON geometry without a type")]
    NoGeometryType,
    /// An `intersects` string that is not JSON.
    #[error("intersects is not JSON: {0}")]
    IntersectsNotJson(#[source] serde_json::Error),
    /// A bbox that is not 4 or 6 numbers.
    #[error("bbox needs 4 or 6 numbers")]
    BboxLength,
    /// A bbox whose latitudes are out of range or order.
    #[error("bbox latitudes out of order or range: {0:?}")]
    BboxLatitudes(Vec<f64>),
    /// A bbox whose longitudes are out of range.
    #[error("bbox longitudes out of range: {0:?}")]
    BboxLongitudes(Vec<f64>),
    /// A bbox text item that is not a number.
    #[error("bad bbox number {0:?}")]
    BboxNumber(String),
    /// A bbox array item that is not a number.
    #[error("bbox must hold numbers")]
    BboxNotNumbers,
    /// A bbox that is neither text nor an array.
    #[error("bbox must be an array of numbers")]
    BboxType,
    /// Both `bbox` and `intersects`.
    #[error("bbox and intersects are mutually exclusive")]
    BboxAndIntersects,
    /// A list parameter holding something other than strings.
    #[error("{0} must hold strings")]
    ListItems(&'static str),
    /// A list parameter that is neither text nor an array.
    #[error("{0} must be a list of strings")]
    ListType(&'static str),
    /// A `limit` that is not a positive integer.
    #[error("limit must be a positive integer, not {0}")]
    Limit(Value),
    /// A `limit` of zero.
    #[error("limit must be at least 1")]
    ZeroLimit,
    /// A paging token the server did not hand out.
    #[error("unknown paging token {0}")]
    Token(Value),
    /// A query string with a malformed escape or bytes that are not UTF-8.
    #[error("malformed query string")]
    Query,
    /// A `query` parameter that is not a JSON object (or text holding one).
    #[error("query must be a JSON object of properties, not {0}")]
    QueryNotObject(Value),
    /// A `query` property whose operators are not a JSON object.
    #[error("query of property {0:?} must be an object of operators")]
    QueryOperators(String),
    /// A `query` operator the server does not know.
    #[error(
        "unknown query operator {operator:?} for property {property:?}: use eq, neq, lt, lte, gt or gte"
    )]
    QueryOperator {
        /// The property queried.
        property: String,
        /// The operator given.
        operator: String,
    },
}

type ApiResult<T> = std::result::Result<T, StacApiError>;

struct ApiItem {
    id: String,
    /// The id of its collection.
    collection: String,
    /// The item with asset hrefs relative to the server root (`/mosaics/...`).
    value: Value,
    geometry: Geometry<f64>,
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
}

/// One collection and its items (sorted by id).
struct ApiCollection {
    id: String,
    value: Value,
    items: Vec<ApiItem>,
}

/// The fixture's collections.
pub(crate) struct StacApi {
    collections: Vec<ApiCollection>,
    /// Whether `query` is applied (else ignored, as by an API without the
    /// query extension).
    query: bool,
}

type Interval = (Option<DateTime<FixedOffset>>, Option<DateTime<FixedOffset>>);

/// Normalises `a/b/../c` without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn parse_time(s: &str) -> ApiResult<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).map_err(|source| StacApiError::Datetime {
        text: s.to_owned(),
        source,
    })
}

/// `a/b`, `../b`, `a/..`, `a/` or a single instant.
fn parse_interval(s: &str) -> ApiResult<Interval> {
    let open = |p: &str| -> ApiResult<Option<DateTime<FixedOffset>>> {
        if p.is_empty() || p == ".." {
            Ok(None)
        } else {
            parse_time(p).map(Some)
        }
    };
    match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (open(a)?, open(b)?);
            if let (Some(a), Some(b)) = (a, b)
                && a > b
            {
                return Err(StacApiError::ReversedInterval(s.to_owned()));
            }
            Ok((a, b))
        }
        None => {
            let t = parse_time(s)?;
            Ok((Some(t), Some(t)))
        }
    }
}

fn position(v: &Value) -> ApiResult<Coord<f64>> {
    match v.as_array().map(Vec::as_slice) {
        Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Ok(Coord { x, y }),
            _ => Err(StacApiError::PositionNotNumbers),
        },
        _ => Err(StacApiError::ShortPosition),
    }
}

fn array(v: &Value) -> ApiResult<&Vec<Value>> {
    v.as_array().ok_or(StacApiError::CoordinatesNotArrays)
}

fn line(v: &Value) -> ApiResult<LineString<f64>> {
    Ok(LineString(
        array(v)?.iter().map(position).collect::<ApiResult<_>>()?,
    ))
}

fn polygon(v: &Value) -> ApiResult<Polygon<f64>> {
    let rings = array(v)?.iter().map(line).collect::<ApiResult<Vec<_>>>()?;
    let mut it = rings.into_iter();
    let exterior = it.next().ok_or(StacApiError::NoRing)?;
    if exterior.0.len() < 4 {
        return Err(StacApiError::ShortRing);
    }
    Ok(Polygon::new(exterior, it.collect()))
}

/// A GeoJSON geometry object as a `geo` geometry.
pub(crate) fn geojson_to_geo(v: &Value) -> ApiResult<Geometry<f64>> {
    let coords = v.get("coordinates");
    let c = || coords.ok_or(StacApiError::NoCoordinates);
    match v.get("type").and_then(Value::as_str) {
        Some("Point") => Ok(Point(position(c()?)?).into()),
        Some("MultiPoint") => Ok(MultiPoint(
            array(c()?)?
                .iter()
                .map(|p| position(p).map(Point))
                .collect::<ApiResult<_>>()?,
        )
        .into()),
        Some("LineString") => Ok(line(c()?)?.into()),
        Some("MultiLineString") => {
            Ok(MultiLineString(array(c()?)?.iter().map(line).collect::<ApiResult<_>>()?).into())
        }
        Some("Polygon") => Ok(polygon(c()?)?.into()),
        Some("MultiPolygon") => {
            Ok(MultiPolygon(array(c()?)?.iter().map(polygon).collect::<ApiResult<_>>()?).into())
        }
        Some(other) => Err(StacApiError::GeometryType(other.to_owned())),
        None => Err(StacApiError::NoGeometryType),
    }
}

/// A STAC bbox as polygons, split at the antimeridian when west > east.
fn bbox_geometry(b: &[f64]) -> ApiResult<Geometry<f64>> {
    let (w, s, e, n) = match b {
        [w, s, e, n] | [w, s, _, e, n, _] => (*w, *s, *e, *n),
        _ => return Err(StacApiError::BboxLength),
    };
    if !(-90.0..=90.0).contains(&s) || !(-90.0..=90.0).contains(&n) || s > n {
        return Err(StacApiError::BboxLatitudes(b.to_vec()));
    }
    if ![w, e].iter().all(|v| (-180.0..=180.0).contains(v)) {
        return Err(StacApiError::BboxLongitudes(b.to_vec()));
    }
    let rect = |w: f64, e: f64| Rect::new(Coord { x: w, y: s }, Coord { x: e, y: n }).to_polygon();
    Ok(if w <= e {
        rect(w, e).into()
    } else {
        MultiPolygon(vec![rect(w, 180.0), rect(-180.0, e)]).into()
    })
}

/// A comparison operator of the query extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// One condition of a `query`: `properties[property] op value`.
#[derive(Clone, Debug, PartialEq)]
struct Condition {
    property: String,
    op: Op,
    value: Value,
}

/// The order of two JSON values of one kind (numbers, strings, booleans).
fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Condition {
    /// Whether an item with these `properties` satisfies the condition; a
    /// missing (or null) property satisfies none, not even `neq`.
    fn holds(&self, properties: &Value) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let Some(v) = properties.get(&self.property).filter(|v| !v.is_null()) else {
            return false;
        };
        let ord = compare(v, &self.value);
        // Numbers are equal by value (20 == 20.0); other JSON by structure.
        let equal = ord == Some(Equal) || *v == self.value;
        match self.op {
            Op::Eq => equal,
            Op::Neq => !equal,
            Op::Lt => ord == Some(Less),
            Op::Lte => matches!(ord, Some(Less | Equal)),
            Op::Gt => ord == Some(Greater),
            Op::Gte => matches!(ord, Some(Greater | Equal)),
        }
    }
}

/// The conditions of a `query` parameter: a JSON object, or (GET) text
/// holding one.
fn parse_query_extension(v: &Value) -> ApiResult<Vec<Condition>> {
    let parsed;
    let object = match v {
        Value::Object(o) => o,
        Value::String(t) => {
            parsed = serde_json::from_str::<Value>(t)
                .map_err(|_| StacApiError::QueryNotObject(v.clone()))?;
            parsed
                .as_object()
                .ok_or_else(|| StacApiError::QueryNotObject(v.clone()))?
        }
        other => return Err(StacApiError::QueryNotObject(other.clone())),
    };
    let mut out = Vec::new();
    for (property, ops) in object {
        let ops = ops
            .as_object()
            .ok_or_else(|| StacApiError::QueryOperators(property.clone()))?;
        for (name, value) in ops {
            let op = match name.as_str() {
                "eq" => Op::Eq,
                "neq" => Op::Neq,
                "lt" => Op::Lt,
                "lte" => Op::Lte,
                "gt" => Op::Gt,
                "gte" => Op::Gte,
                _ => {
                    return Err(StacApiError::QueryOperator {
                        property: property.clone(),
                        operator: name.clone(),
                    });
                }
            };
            out.push(Condition {
                property: property.clone(),
                op,
                value: value.clone(),
            });
        }
    }
    Ok(out)
}

/// Parameters of an item search.
#[derive(Default)]
struct Search {
    collections: Option<Vec<String>>,
    ids: Option<Vec<String>>,
    geometry: Option<Geometry<f64>>,
    interval: Option<Interval>,
    query: Vec<Condition>,
    limit: usize,
    offset: usize,
}

fn string_list(v: &Value, name: &'static str) -> ApiResult<Vec<String>> {
    match v {
        Value::String(s) => Ok(s.split(',').map(str::to_owned).collect()),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or(StacApiError::ListItems(name))
            })
            .collect(),
        _ => Err(StacApiError::ListType(name)),
    }
}

impl Search {
    /// From a JSON object (POST body, or GET parameters turned into one);
    /// `query` is read only when `with_query` (else ignored, as by an API
    /// without the query extension).
    fn from_json(o: &Map<String, Value>, with_query: bool) -> ApiResult<Self> {
        let mut s = Search {
            limit: DEFAULT_LIMIT,
            ..Search::default()
        };
        if let Some(v) = o.get("collections") {
            s.collections = Some(string_list(v, "collections")?);
        }
        if let Some(v) = o.get("ids") {
            s.ids = Some(string_list(v, "ids")?);
        }
        let bbox = match o.get("bbox") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(
                t.split(',')
                    .map(|x| {
                        x.trim()
                            .parse::<f64>()
                            .map_err(|_| StacApiError::BboxNumber(x.to_owned()))
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|x| x.as_f64().ok_or(StacApiError::BboxNotNumbers))
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
            Some(_) => return Err(StacApiError::BboxType),
        };
        let intersects = match o.get("intersects") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(geojson_to_geo(
                &serde_json::from_str(t).map_err(StacApiError::IntersectsNotJson)?,
            )?),
            Some(g) => Some(geojson_to_geo(g)?),
        };
        s.geometry = match (bbox, intersects) {
            (Some(_), Some(_)) => return Err(StacApiError::BboxAndIntersects),
            (Some(b), None) => Some(bbox_geometry(&b)?),
            (None, g) => g,
        };
        if let Some(v) = o.get("datetime").filter(|v| !v.is_null()) {
            s.interval = Some(parse_interval(
                v.as_str().ok_or(StacApiError::DatetimeNotString)?,
            )?);
        }
        if let Some(v) = o.get("limit") {
            let n = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(t) => t.parse::<u64>().ok(),
                _ => None,
            }
            .ok_or_else(|| StacApiError::Limit(v.clone()))?;
            if n == 0 {
                return Err(StacApiError::ZeroLimit);
            }
            s.limit = usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
        }
        if with_query && let Some(v) = o.get("query").filter(|v| !v.is_null()) {
            s.query = parse_query_extension(v)?;
        }
        if let Some(v) = o.get("token").filter(|v| !v.is_null()) {
            let t = v.as_str().unwrap_or_default();
            s.offset = t
                .strip_prefix("next:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| StacApiError::Token(v.clone()))?;
        }
        Ok(s)
    }

    fn from_query(query: &str, with_query: bool) -> ApiResult<(Self, Vec<(String, String)>)> {
        let pairs = parse_query(query).ok_or(StacApiError::Query)?;
        let mut o = Map::new();
        for (k, v) in &pairs {
            o.insert(k.clone(), Value::String(v.clone()));
        }
        Ok((Self::from_json(&o, with_query)?, pairs))
    }

    fn matches(&self, item: &ApiItem) -> bool {
        self.collections
            .as_ref()
            .is_none_or(|c| c.contains(&item.collection))
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&item.id))
            && self
                .geometry
                .as_ref()
                .is_none_or(|g| g.intersects(&item.geometry))
            && self.interval.is_none_or(|(a, b)| {
                a.is_none_or(|a| a <= item.end) && b.is_none_or(|b| item.start <= b)
            })
            && self
                .query
                .iter()
                .all(|q| q.holds(&item.value["properties"]))
    }
}

/// How the next page is asked for.
enum NextPage<'a> {
    Get {
        path: &'a str,
        pairs: Vec<(String, String)>,
    },
    Post {
        body: Map<String, Value>,
    },
}

/// A collection document and its items (`(id, path)` relative to `root`),
/// asset hrefs made relative to the server root.
fn load_collection(
    root: &Path,
    collection_id: &str,
    collection_path: &str,
    items: impl Iterator<Item = (String, String)>,
) -> Result<ApiCollection> {
    let read_json = |rel: &str| -> Result<Value> {
        let path = resolve(root, rel);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { path, source })
    };
    let value = read_json(collection_path)?;
    let mut out = Vec::new();
    for (id, item_path) in items {
        let mut value = read_json(&item_path)?;
        let invalid = |source: StacApiError| Error::InvalidItem {
            path: resolve(root, &item_path),
            source,
        };
        let item_dir = Path::new(&item_path)
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        if let Some(assets) = value.get_mut("assets").and_then(Value::as_object_mut) {
            for asset in assets.values_mut() {
                if let Some(href) = asset.get("href").and_then(Value::as_str) {
                    let joined = normalize(&item_dir.join(href));
                    let rel: Vec<String> = joined
                        .iter()
                        .map(|c| c.to_string_lossy().into_owned())
                        .collect();
                    asset["href"] = Value::String(format!("/{}", rel.join("/")));
                }
            }
        }
        let geometry = geojson_to_geo(&value["geometry"]).map_err(&invalid)?;
        let props = &value["properties"];
        let time = |k: &str| props.get(k).and_then(Value::as_str).map(parse_time);
        let (start, end) = match (
            time("start_datetime"),
            time("end_datetime"),
            time("datetime"),
        ) {
            (Some(a), Some(b), _) => (a.map_err(&invalid)?, b.map_err(&invalid)?),
            (_, _, Some(t)) => {
                let t = t.map_err(&invalid)?;
                (t, t)
            }
            _ => {
                return Err(Error::Invalid {
                    path: resolve(root, &item_path),
                    reason: "item has no datetime".into(),
                });
            }
        };
        out.push(ApiItem {
            id,
            collection: collection_id.to_owned(),
            value,
            geometry,
            start,
            end,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(ApiCollection {
        id: collection_id.to_owned(),
        value,
        items: out,
    })
}

impl StacApi {
    /// Loads the collections and items of a fixture directory: those of
    /// its ArcticDEM manifest, of its Sentinel-2 manifest, or both. `query`:
    /// whether searches apply the query extension.
    pub(crate) fn load(root: &Path, query: bool) -> Result<Self> {
        let mut collections = Vec::new();
        let sentinel2 = root.join(crate::sentinel2::MANIFEST_FILE_NAME);
        // Also when neither manifest exists: the error then names
        // `manifest.json`, as it always did.
        if root.join(MANIFEST_FILE_NAME).is_file() || !sentinel2.is_file() {
            let m = FixtureManifest::load(root)?;
            let items = m
                .tiles
                .iter()
                .map(|t| (t.dem_id.clone(), t.item_path.clone()));
            collections.push(load_collection(
                root,
                &m.collection_id,
                &m.collection_path,
                items,
            )?);
        }
        if sentinel2.is_file() {
            let m = crate::sentinel2::Sentinel2Manifest::load(root)?;
            let items = m.items.iter().map(|i| (i.id.clone(), i.item_path.clone()));
            collections.push(load_collection(
                root,
                &m.collection_id,
                &m.collection_path,
                items,
            )?);
        }
        Ok(Self { collections, query })
    }

    fn collection(&self, id: &str) -> Option<&ApiCollection> {
        self.collections.iter().find(|c| c.id == id)
    }

    fn conformance(&self) -> Vec<&'static str> {
        let mut c = CONFORMANCE.to_vec();
        if self.query {
            c.push(QUERY_CONFORMANCE);
        }
        c
    }

    fn item_json(&self, item: &ApiItem, base: &str) -> Value {
        let mut v = item.value.clone();
        if let Some(assets) = v.get_mut("assets").and_then(Value::as_object_mut) {
            for asset in assets.values_mut() {
                if let Some(href) = asset.get("href").and_then(Value::as_str) {
                    asset["href"] = Value::String(format!("{base}{href}"));
                }
            }
        }
        let c = &item.collection;
        v["links"] = json!([
            { "rel": "self", "href": format!("{base}/collections/{c}/items/{}", item.id), "type": "application/geo+json" },
            { "rel": "parent", "href": format!("{base}/collections/{c}"), "type": "application/json" },
            { "rel": "collection", "href": format!("{base}/collections/{c}"), "type": "application/json" },
            { "rel": "root", "href": format!("{base}/"), "type": "application/json" },
        ]);
        v
    }

    fn collection_json(collection: &ApiCollection, base: &str) -> Value {
        let mut v = collection.value.clone();
        let c = &collection.id;
        v["links"] = json!([
            { "rel": "self", "href": format!("{base}/collections/{c}"), "type": "application/json" },
            { "rel": "parent", "href": format!("{base}/"), "type": "application/json" },
            { "rel": "root", "href": format!("{base}/"), "type": "application/json" },
            { "rel": "items", "href": format!("{base}/collections/{c}/items"), "type": "application/geo+json" },
        ]);
        v
    }

    fn landing(&self, base: &str) -> Value {
        let mut links = vec![
            json!({ "rel": "self", "href": format!("{base}/"), "type": "application/json" }),
            json!({ "rel": "root", "href": format!("{base}/"), "type": "application/json" }),
            json!({ "rel": "conformance", "href": format!("{base}/conformance"), "type": "application/json" }),
            json!({ "rel": "data", "href": format!("{base}/collections"), "type": "application/json" }),
        ];
        links.extend(self.collections.iter().map(|c| {
            json!({ "rel": "child", "href": format!("{base}/collections/{}", c.id), "type": "application/json" })
        }));
        links.push(json!({ "rel": "search", "href": format!("{base}/search"), "type": "application/geo+json", "method": "GET" }));
        links.push(json!({ "rel": "search", "href": format!("{base}/search"), "type": "application/geo+json", "method": "POST" }));
        json!({
            "type": "Catalog",
            "stac_version": crate::stac::STAC_VERSION,
            "id": "geocube-testkit",
            "title": "geocube testkit STAC API",
            "description": "Fixture items served by geocube-testkit",
            "conformsTo": self.conformance(),
            "links": links,
        })
    }

    fn search(&self, s: &Search, base: &str, next: NextPage<'_>) -> Response {
        let matched: Vec<&ApiItem> = self
            .collections
            .iter()
            .flat_map(|c| &c.items)
            .filter(|i| s.matches(i))
            .collect();
        let page: Vec<Value> = matched
            .iter()
            .skip(s.offset)
            .take(s.limit)
            .map(|i| self.item_json(i, base))
            .collect();
        let mut links =
            vec![json!({ "rel": "root", "href": format!("{base}/"), "type": "application/json" })];
        let next_offset = s.offset + page.len();
        if next_offset < matched.len() {
            let token = format!("next:{next_offset}");
            links.push(match next {
                NextPage::Get { path, mut pairs } => {
                    pairs.retain(|(k, _)| k != "token");
                    pairs.push(("token".into(), token));
                    let q = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&pairs)
                        .finish();
                    json!({ "rel": "next", "href": format!("{base}{path}?{q}"),
                            "type": "application/geo+json", "method": "GET" })
                }
                NextPage::Post { mut body } => {
                    body.insert("token".into(), Value::String(token));
                    json!({ "rel": "next", "href": format!("{base}/search"), "type": "application/geo+json",
                            "method": "POST", "body": body, "merge": false })
                }
            });
        }
        Response::json_typed(
            200,
            "application/geo+json",
            &json!({
                "type": "FeatureCollection",
                "numberMatched": matched.len(),
                "numberReturned": page.len(),
                "features": page,
                "links": links,
            }),
        )
    }

    /// Answers an API route, or `None` when the path is not one.
    pub(crate) fn handle(&self, req: &Request, base: &str) -> Option<Response> {
        let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
        let get = req.method == "GET" || req.method == "HEAD";
        let not_allowed = || {
            Some(Response::error(
                405,
                &format!("{} not allowed on {}", req.method, req.path),
            ))
        };
        let found = |id: &str| self.collection(id).filter(|_| get);
        match segs.as_slice() {
            [] if get => Some(Response::json(200, &self.landing(base))),
            ["conformance"] if get => Some(Response::json(
                200,
                &json!({ "conformsTo": self.conformance() }),
            )),
            ["collections"] if get => Some(Response::json(
                200,
                &json!({
                    "collections": self.collections.iter().map(|c| Self::collection_json(c, base)).collect::<Vec<_>>(),
                    "links": [
                        { "rel": "self", "href": format!("{base}/collections"), "type": "application/json" },
                        { "rel": "root", "href": format!("{base}/"), "type": "application/json" },
                    ],
                }),
            )),
            ["collections", id] if found(id).is_some() => {
                let c = found(id)?;
                Some(Response::json(200, &Self::collection_json(c, base)))
            }
            ["collections", id, "items"] if found(id).is_some() => {
                Some(match Search::from_query(&req.query, self.query) {
                    Ok((mut s, pairs)) => {
                        s.collections = Some(vec![(*id).to_owned()]);
                        s.ids = None;
                        self.search(
                            &s,
                            base,
                            NextPage::Get {
                                path: &req.path,
                                pairs,
                            },
                        )
                    }
                    Err(e) => Response::error(400, &e.to_string()),
                })
            }
            ["collections", id, "items", item] if found(id).is_some() => {
                let c = found(id)?;
                Some(match c.items.iter().find(|i| i.id == *item) {
                    Some(i) => {
                        Response::json_typed(200, "application/geo+json", &self.item_json(i, base))
                    }
                    None => Response::error(404, &format!("no item {item:?} in {}", c.id)),
                })
            }
            ["collections", id, ..] if get => {
                Some(Response::error(404, &format!("no collection {id:?}")))
            }
            ["search"] if get => Some(match Search::from_query(&req.query, self.query) {
                Ok((s, pairs)) => self.search(
                    &s,
                    base,
                    NextPage::Get {
                        path: "/search",
                        pairs,
                    },
                ),
                Err(e) => Response::error(400, &e.to_string()),
            }),
            ["search"] if req.method == "POST" => {
                let body = match serde_json::from_slice::<Value>(&req.body) {
                    Ok(Value::Object(o)) => o,
                    Ok(_) => {
                        return Some(Response::error(400, "search body must be a JSON object"));
                    }
                    Err(e) => {
                        return Some(Response::error(
                            400,
                            &format!("search body is not JSON: {e}"),
                        ));
                    }
                };
                Some(match Search::from_json(&body, self.query) {
                    Ok(s) => self.search(&s, base, NextPage::Post { body }),
                    Err(e) => Response::error(400, &e.to_string()),
                })
            }
            [] | ["conformance" | "collections" | "search"] | ["collections", ..] => not_allowed(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert!(parse_interval("2010-01-01T00:00:00Z/2011-01-01T00:00:00Z").is_ok());
        assert!(matches!(
            parse_interval("../2011-01-01T00:00:00Z"),
            Ok((None, Some(_)))
        ));
        assert!(matches!(
            parse_interval("2011-01-01T00:00:00Z/"),
            Ok((Some(_), None))
        ));
        assert!(parse_interval("2012-01-01T00:00:00Z/2011-01-01T00:00:00Z").is_err());
        assert!(parse_interval("yesterday").is_err());
    }

    #[test]
    fn bbox_across_antimeridian_is_two_boxes() {
        let g = bbox_geometry(&[179.0, 60.0, -179.0, 70.0]).ok();
        assert!(matches!(g, Some(Geometry::MultiPolygon(ref m)) if m.0.len() == 2));
        assert!(bbox_geometry(&[0.0, 80.0, 1.0, 70.0]).is_err());
        assert!(bbox_geometry(&[0.0, 1.0]).is_err());
    }

    #[test]
    fn query_conditions() {
        let q = |v: Value| parse_query_extension(&v);
        let props = json!({ "eo:cloud_cover": 20.0, "platform": "sentinel-2a", "n": 3 });
        let holds = |v: Value| q(v).map(|c| c.iter().all(|c| c.holds(&props)));
        assert!(matches!(
            holds(json!({"eo:cloud_cover": {"lte": 20}})),
            Ok(true)
        ));
        assert!(matches!(
            holds(json!({"eo:cloud_cover": {"lt": 20}})),
            Ok(false)
        ));
        assert!(matches!(
            holds(json!({"eo:cloud_cover": {"eq": 20}})),
            Ok(true)
        ));
        assert!(matches!(
            holds(json!({"eo:cloud_cover": {"gte": 10, "lt": 30}})),
            Ok(true)
        ));
        assert!(matches!(
            holds(json!({"eo:cloud_cover": {"gt": 20}})),
            Ok(false)
        ));
        assert!(matches!(
            holds(json!({"platform": {"neq": "sentinel-2b"}})),
            Ok(true)
        ));
        assert!(matches!(
            holds(json!({"platform": {"eq": "sentinel-2a"}, "n": {"lt": 4}})),
            Ok(true)
        ));
        // Another type compares as neither smaller nor larger.
        assert!(matches!(holds(json!({"platform": {"lt": 5}})), Ok(false)));
        // A missing property matches nothing, not even `neq`.
        assert!(matches!(holds(json!({"gsd": {"neq": 10}})), Ok(false)));
        assert!(matches!(holds(json!("{\"n\": {\"gte\": 3}}")), Ok(true)));
        assert!(matches!(
            q(json!({"n": {"like": 3}})),
            Err(StacApiError::QueryOperator { .. })
        ));
        assert!(matches!(
            q(json!({"n": 3})),
            Err(StacApiError::QueryOperators(_))
        ));
        assert!(matches!(
            q(json!([1])),
            Err(StacApiError::QueryNotObject(_))
        ));
        assert!(matches!(
            q(json!("not json")),
            Err(StacApiError::QueryNotObject(_))
        ));
    }

    #[test]
    fn geojson_errors_are_values() {
        assert!(
            geojson_to_geo(&json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]})).is_err()
        );
        assert!(geojson_to_geo(&json!({"type": "Point", "coordinates": ["a", 1]})).is_err());
        assert!(geojson_to_geo(&json!({"type": "Circle"})).is_err());
        assert!(geojson_to_geo(&json!({"type": "Point", "coordinates": [1, 2]})).is_ok());
    }
}
