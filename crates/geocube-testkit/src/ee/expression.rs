//! Evaluation of a serialized Earth Engine expression (`{"result",
//! "values"}`, the Cloud API's `Expression`) into an [`Image`].
//!
//! ValueNodes: `constantValue`, `integerValue`, `arrayValue`,
//! `dictionaryValue`, `valueReference` (resolved once and shared, cycles
//! rejected) and `functionInvocationValue` of the functions below, with
//! their argument names as Earth Engine's algorithm list gives them and
//! its coercions (an ImageCollection where an Image is expected is its
//! mosaic, a number is a constant image). Anything else is a 400 naming
//! what is wrong.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::catalog::{self, Collection};
use super::date::{DateRange, parse_date_ms};
use super::geometry::Polygon;
use super::image::Image;
use super::pixel_type::PixelType;

/// Nested evaluations allowed before the expression is refused.
const MAX_DEPTH: usize = 256;

/// The functions the emulator implements and their arguments (name,
/// required), as in Earth Engine's algorithm list.
const SIGNATURES: &[(&str, &[(&str, bool)])] = &[
    ("ImageCollection.load", &[("id", true), ("version", false)]),
    (
        "Collection.filter",
        &[("collection", true), ("filter", true)],
    ),
    (
        "Filter.dateRangeContains",
        &[
            ("leftField", false),
            ("rightValue", false),
            ("rightField", false),
            ("leftValue", false),
        ],
    ),
    (
        "Filter.intersects",
        &[
            ("leftField", false),
            ("rightValue", false),
            ("rightField", false),
            ("leftValue", false),
            ("maxError", false),
        ],
    ),
    (
        "DateRange",
        &[("start", true), ("end", false), ("timeZone", false)],
    ),
    ("Date", &[("value", true), ("timeZone", false)]),
    ("ImageCollection.mosaic", &[("collection", true)]),
    ("Image.clip", &[("input", true), ("geometry", true)]),
    (
        "GeometryConstructors.Polygon",
        &[
            ("coordinates", true),
            ("crs", false),
            ("geodesic", false),
            ("maxError", false),
            ("evenOdd", false),
        ],
    ),
    (
        "GeometryConstructors.Rectangle",
        &[
            ("coordinates", true),
            ("crs", false),
            ("geodesic", false),
            ("evenOdd", false),
        ],
    ),
    (
        "Projection",
        &[("crs", true), ("transform", false), ("transformWkt", false)],
    ),
    ("Feature", &[("geometry", false), ("metadata", false)]),
    (
        "Image.select",
        &[
            ("input", true),
            ("bandSelectors", true),
            ("newNames", false),
        ],
    ),
    ("Image.rename", &[("input", true), ("names", true)]),
    ("Image.toFloat", &[("value", true)]),
    (
        "Image.unmask",
        &[("input", true), ("value", false), ("sameFootprint", false)],
    ),
    ("Image.constant", &[("value", true)]),
    ("Image.load", &[("id", true), ("version", false)]),
];

/// The clip of a request, for the record.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClipRecord {
    /// `[west, south, east, north]` of the clip polygon's vertices.
    pub bbox: [f64; 4],
    /// Whether its edges are geodesic (Earth Engine's default).
    pub geodesic: bool,
}

/// What the evaluation saw, for the record.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Observed {
    pub(crate) collection: Option<String>,
    pub(crate) date_range: Option<DateRange>,
    pub(crate) clip: Option<ClipRecord>,
}

/// A filter of a collection's images.
#[derive(Clone, Debug)]
enum Filter {
    /// `system:time_start` in the range.
    TimeStart(DateRange),
    /// The footprint intersects the box `[w, s, e, n]`.
    Bounds([f64; 4]),
}

/// An evaluated value.
#[derive(Clone, Debug)]
enum Val {
    Const(Value),
    List(Vec<Val>),
    Dict(BTreeMap<String, Val>),
    Date(i64),
    DateRange(DateRange),
    Filter(Filter),
    Geometry(Arc<Polygon>),
    Feature(Arc<Polygon>),
    Projection(String),
    Collection {
        collection: &'static Collection,
        images: Arc<[usize]>,
    },
    Image(Image),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Const(Value::Null) => "null",
            Val::Const(Value::Bool(_)) => "Boolean",
            Val::Const(Value::Number(_)) => "Number",
            Val::Const(Value::String(_)) => "String",
            Val::Const(Value::Array(_)) | Val::List(_) => "List",
            Val::Const(Value::Object(_)) | Val::Dict(_) => "Dictionary",
            Val::Date(_) => "Date",
            Val::DateRange(_) => "DateRange",
            Val::Filter(_) => "Filter",
            Val::Geometry(_) => "Geometry",
            Val::Feature(_) => "Feature",
            Val::Projection(_) => "Projection",
            Val::Collection { .. } => "ImageCollection",
            Val::Image(_) => "Image",
        }
    }

    /// The value as plain JSON, if it is made of constants only.
    fn to_json(&self) -> Option<Value> {
        match self {
            Val::Const(v) => Some(v.clone()),
            Val::List(items) => items
                .iter()
                .map(Val::to_json)
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Val::Dict(map) => map
                .iter()
                .map(|(k, v)| v.to_json().map(|v| (k.clone(), v)))
                .collect::<Option<Map<_, _>>>()
                .map(Value::Object),
            _ => None,
        }
    }
}

/// Evaluates `expression` (the request's `expression` field) to the image
/// it computes. `Err` holds the message of a 400 INVALID_ARGUMENT.
pub(crate) fn evaluate(expression: &Value) -> Result<(Image, Observed), String> {
    let obj = expression
        .as_object()
        .ok_or("Invalid JSON payload received. 'expression' must be an object.")?;
    for k in obj.keys() {
        if k != "result" && k != "values" {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at 'expression': Cannot find field."
            ));
        }
    }
    let result = obj
        .get("result")
        .and_then(Value::as_str)
        .ok_or("expression.result must name a value of expression.values.")?;
    let empty = Map::new();
    let values = match obj.get("values") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err("expression.values must be an object.".into()),
    };
    let mut ev = Evaluator {
        values,
        memo: HashMap::new(),
        in_progress: HashSet::new(),
        observed: Observed::default(),
        depth: 0,
    };
    let root = ev.reference(result)?;
    let image = ev.as_image(root, "computePixels", "expression")?;
    Ok((image, ev.observed))
}

struct Evaluator<'a> {
    values: &'a Map<String, Value>,
    memo: HashMap<String, Val>,
    in_progress: HashSet<String>,
    observed: Observed,
    depth: usize,
}

/// The arguments of one invocation, checked against its signature.
struct Args<'a> {
    function: &'a str,
    given: &'a Map<String, Value>,
}

impl Evaluator<'_> {
    fn reference(&mut self, name: &str) -> Result<Val, String> {
        if let Some(v) = self.memo.get(name) {
            return Ok(v.clone());
        }
        let node = self.values.get(name).ok_or_else(|| {
            format!("valueReference '{name}' names no entry of expression.values.")
        })?;
        if !self.in_progress.insert(name.to_owned()) {
            return Err(format!("valueReference '{name}' refers to itself."));
        }
        let v = self.node(node)?;
        self.in_progress.remove(name);
        self.memo.insert(name.to_owned(), v.clone());
        Ok(v)
    }

    fn node(&mut self, node: &Value) -> Result<Val, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "The expression is nested more than {MAX_DEPTH} deep."
            ));
        }
        let out = self.node_inner(node);
        self.depth -= 1;
        out
    }

    fn node_inner(&mut self, node: &Value) -> Result<Val, String> {
        let obj = node
            .as_object()
            .ok_or_else(|| format!("Invalid ValueNode {node}: expected an object."))?;
        let mut keys = obj.keys();
        let (Some(kind), None) = (keys.next(), keys.next()) else {
            return Err(format!(
                "Invalid ValueNode with fields {:?}: exactly one of constantValue, integerValue, \
                 arrayValue, dictionaryValue, functionInvocationValue, valueReference is required.",
                obj.keys().collect::<Vec<_>>()
            ));
        };
        let inner = &obj[kind];
        match kind.as_str() {
            "constantValue" => Ok(Val::Const(inner.clone())),
            "integerValue" => {
                let n: i64 = inner
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| inner.as_i64())
                    .ok_or_else(|| format!("Invalid integerValue {inner}."))?;
                Ok(Val::Const(Value::from(n)))
            }
            "arrayValue" => {
                let items = inner
                    .get("values")
                    .map(|v| v.as_array().ok_or("arrayValue.values must be a list."))
                    .transpose()?
                    .map_or(&[][..], Vec::as_slice);
                let out = items
                    .iter()
                    .map(|v| self.node(v))
                    .collect::<Result<_, _>>()?;
                Ok(Val::List(out))
            }
            "dictionaryValue" => {
                let empty = Map::new();
                let items = match inner.get("values") {
                    None => &empty,
                    Some(Value::Object(m)) => m,
                    Some(_) => return Err("dictionaryValue.values must be an object.".into()),
                };
                let mut out = BTreeMap::new();
                for (k, v) in items {
                    out.insert(k.clone(), self.node(v)?);
                }
                Ok(Val::Dict(out))
            }
            "valueReference" => {
                let name = inner
                    .as_str()
                    .ok_or_else(|| format!("Invalid valueReference {inner}: expected a string."))?;
                self.reference(name)
            }
            "functionInvocationValue" => self.invocation(inner),
            "argumentReference" | "functionDefinitionValue" | "bytesValue" => Err(format!(
                "ValueNode kind '{kind}' is not supported by the emulator."
            )),
            other => Err(format!(
                "Invalid JSON payload received. Unknown name \"{other}\" at 'ValueNode': Cannot find field."
            )),
        }
    }

    fn invocation(&mut self, inner: &Value) -> Result<Val, String> {
        let obj = inner
            .as_object()
            .ok_or("functionInvocationValue must be an object.")?;
        if obj.contains_key("functionReference") {
            return Err(
                "functionInvocationValue.functionReference is not supported by the emulator."
                    .into(),
            );
        }
        let name = obj
            .get("functionName")
            .and_then(Value::as_str)
            .ok_or("functionInvocationValue.functionName is required.")?;
        let empty = Map::new();
        let given = match obj.get("arguments") {
            None => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => return Err(format!("{name}: arguments must be an object.")),
        };
        let Some((_, signature)) = SIGNATURES.iter().find(|(n, _)| *n == name) else {
            return Err(format!(
                "Unknown function: '{name}'. The emulator implements {}.",
                SIGNATURES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        for k in given.keys() {
            if !signature.iter().any(|(a, _)| a == k) {
                return Err(format!("{name}: Unrecognized argument '{k}'."));
            }
        }
        for (a, required) in *signature {
            if *required && !given.contains_key(*a) {
                return Err(format!("{name}: Parameter '{a}' is required."));
            }
        }
        self.call(&Args {
            function: name,
            given,
        })
    }

    /// Evaluates argument `name`, `None` if absent.
    fn arg(&mut self, args: &Args<'_>, name: &str) -> Result<Option<Val>, String> {
        args.given.get(name).map(|v| self.node(v)).transpose()
    }

    fn required(&mut self, args: &Args<'_>, name: &str) -> Result<Val, String> {
        self.arg(args, name)?
            .ok_or_else(|| format!("{}: Parameter '{name}' is required.", args.function))
    }

    fn call(&mut self, args: &Args<'_>) -> Result<Val, String> {
        let f = args.function;
        match f {
            "ImageCollection.load" => {
                let id = self.required(args, "id")?;
                let id = as_string(&id, f, "id")?;
                if self.observed.collection.is_none() {
                    self.observed.collection = Some(id.clone());
                }
                let collection = catalog::find(&id).ok_or_else(|| {
                    format!(
                        "ImageCollection.load: ImageCollection asset '{id}' not found (does not exist or caller does not have access)."
                    )
                })?;
                Ok(Val::Collection {
                    collection,
                    images: (0..collection.images.len()).collect(),
                })
            }
            "Image.load" => {
                let id = self.required(args, "id")?;
                let id = as_string(&id, f, "id")?;
                Err(format!(
                    "Image.load: Image asset '{id}' not found (does not exist or caller does not have access)."
                ))
            }
            "Collection.filter" => {
                let c = self.required(args, "collection")?;
                let Val::Collection { collection, images } = c else {
                    return Err(type_error(f, "collection", "ImageCollection", &c));
                };
                let filter = self.required(args, "filter")?;
                let Val::Filter(filter) = filter else {
                    return Err(type_error(f, "filter", "Filter", &filter));
                };
                let kept: Vec<usize> = images
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let spec = &collection.images[i];
                        match &filter {
                            Filter::TimeStart(range) => range.contains(spec.time_start_ms),
                            Filter::Bounds(bbox) => spec.footprint.intersects(*bbox),
                        }
                    })
                    .collect();
                Ok(Val::Collection {
                    collection,
                    images: kept.into(),
                })
            }
            "Filter.dateRangeContains" => {
                let field = self.arg(args, "rightField")?;
                let range = self.arg(args, "leftValue")?;
                if args.given.contains_key("leftField") || args.given.contains_key("rightValue") {
                    return Err(
                        "Filter.dateRangeContains: the emulator supports only leftValue (a DateRange) with rightField."
                            .into(),
                    );
                }
                let field = field
                    .map(|v| as_string(&v, f, "rightField"))
                    .transpose()?
                    .ok_or("Filter.dateRangeContains: Parameter 'rightField' is required.")?;
                if field != "system:time_start" {
                    return Err(format!(
                        "Filter.dateRangeContains: the emulator's images have no property '{field}' (only system:time_start)."
                    ));
                }
                let range = match range {
                    Some(Val::DateRange(r)) => r,
                    Some(other) => return Err(type_error(f, "leftValue", "DateRange", &other)),
                    None => {
                        return Err(
                            "Filter.dateRangeContains: Parameter 'leftValue' is required.".into(),
                        );
                    }
                };
                if self.observed.date_range.is_none() {
                    self.observed.date_range = Some(range);
                }
                Ok(Val::Filter(Filter::TimeStart(range)))
            }
            "Filter.intersects" => {
                let field = self.arg(args, "leftField")?;
                let field = field.map(|v| as_string(&v, f, "leftField")).transpose()?;
                if field.as_deref() != Some(".all")
                    || args.given.contains_key("rightField")
                    || args.given.contains_key("leftValue")
                {
                    return Err(
                        "Filter.intersects: the emulator supports only leftField '.all' with a geometry rightValue (filterBounds)."
                            .into(),
                    );
                }
                let geometry = self.required(args, "rightValue")?;
                let polygon = as_polygon(&geometry, f, "rightValue")?;
                Ok(Val::Filter(Filter::Bounds(polygon.bbox)))
            }
            "DateRange" => {
                self.check_utc(args)?;
                let start = self.required(args, "start")?;
                let start = as_date_ms(&start, f, "start")?;
                let end = match self.arg(args, "end")? {
                    None => None,
                    Some(v) => Some(as_date_ms(&v, f, "end")?),
                };
                Ok(Val::DateRange(
                    end.map_or(DateRange::instant(start), |end| DateRange::new(start, end)),
                ))
            }
            "Date" => {
                self.check_utc(args)?;
                let v = self.required(args, "value")?;
                Ok(Val::Date(as_date_ms(&v, f, "value")?))
            }
            "ImageCollection.mosaic" => {
                let c = self.required(args, "collection")?;
                match c {
                    Val::Collection { collection, images } => {
                        Ok(Val::Image(Image::mosaic(collection, images)))
                    }
                    other => Err(type_error(f, "collection", "ImageCollection", &other)),
                }
            }
            "Image.clip" => {
                let input = self.required(args, "input")?;
                let input = self.as_image(input, f, "input")?;
                let geometry = self.required(args, "geometry")?;
                let polygon = as_polygon(&geometry, f, "geometry")?;
                if self.observed.clip.is_none() {
                    self.observed.clip = Some(ClipRecord {
                        bbox: polygon.bbox,
                        geodesic: polygon.geodesic(),
                    });
                }
                Ok(Val::Image(input.clip(polygon)))
            }
            "GeometryConstructors.Polygon" | "GeometryConstructors.Rectangle" => {
                self.geometry(args)
            }
            "Projection" => {
                if args.given.contains_key("transform") || args.given.contains_key("transformWkt") {
                    return Err("Projection: the emulator supports only 'crs'.".into());
                }
                let crs = self.required(args, "crs")?;
                Ok(Val::Projection(as_string(&crs, f, "crs")?))
            }
            "Feature" => {
                let g = self.arg(args, "geometry")?;
                match g {
                    Some(g) => Ok(Val::Feature(as_polygon(&g, f, "geometry")?)),
                    None => Err("Feature: the emulator needs a geometry.".into()),
                }
            }
            "Image.select" => {
                let input = self.required(args, "input")?;
                let input = self.as_image(input, f, "input")?;
                let selectors = self.required(args, "bandSelectors")?;
                let selectors = selectors
                    .to_json()
                    .ok_or_else(|| type_error(f, "bandSelectors", "List", &selectors))?;
                let selectors = match selectors {
                    Value::Array(items) => items,
                    single => vec![single],
                };
                let mut picks = Vec::new();
                for s in &selectors {
                    picks.push(band_selector(&input, s)?);
                }
                let names = match self.arg(args, "newNames")? {
                    None => None,
                    Some(v) => {
                        let names = as_string_list(&v, f, "newNames")?;
                        if names.len() != picks.len() {
                            return Err(format!(
                                "Image.select: {} band selectors but {} new names.",
                                picks.len(),
                                names.len()
                            ));
                        }
                        Some(names)
                    }
                };
                let image = input.select(&picks, names);
                unique_names(&image, f)?;
                Ok(Val::Image(image))
            }
            "Image.rename" => {
                let input = self.required(args, "input")?;
                let input = self.as_image(input, f, "input")?;
                let names = self.required(args, "names")?;
                let names = as_string_list(&names, f, "names")?;
                if names.len() != input.bands.len() {
                    return Err(format!(
                        "Image.rename: The number of names ({}) must match the number of bands ({}).",
                        names.len(),
                        input.bands.len()
                    ));
                }
                let all: Vec<usize> = (0..input.bands.len()).collect();
                let image = input.select(&all, Some(names));
                unique_names(&image, f)?;
                Ok(Val::Image(image))
            }
            "Image.toFloat" => {
                let v = self.required(args, "value")?;
                Ok(Val::Image(
                    self.as_image(v, f, "value")?.cast(PixelType::F32),
                ))
            }
            "Image.unmask" => {
                let input = self.required(args, "input")?;
                let input = self.as_image(input, f, "input")?;
                let value = match self.arg(args, "value")? {
                    None => Image::constant(vec![0.0]),
                    Some(v) => self.as_image(v, f, "value")?,
                };
                if value.bands.len() != 1 && value.bands.len() != input.bands.len() {
                    return Err(format!(
                        "Image.unmask: the value image has {} bands; it needs 1 or as many as the input ({}).",
                        value.bands.len(),
                        input.bands.len()
                    ));
                }
                let same_footprint = match self.arg(args, "sameFootprint")? {
                    None => true,
                    Some(v) => as_bool(&v, f, "sameFootprint")?,
                };
                Ok(Val::Image(input.unmask(value, same_footprint)))
            }
            "Image.constant" => {
                let v = self.required(args, "value")?;
                Ok(Val::Image(constant_image(&v, f, "value")?))
            }
            _ => Err(format!("Unknown function: '{f}'.")),
        }
    }

    /// Refuses a `timeZone` other than UTC: dates are read as UTC.
    fn check_utc(&mut self, args: &Args<'_>) -> Result<(), String> {
        if let Some(tz) = self.arg(args, "timeZone")? {
            let tz = as_string(&tz, args.function, "timeZone")?;
            if tz != "UTC" && tz != "Etc/UTC" {
                return Err(format!(
                    "{}: the emulator reads dates in UTC only, not in time zone '{tz}'.",
                    args.function
                ));
            }
        }
        Ok(())
    }

    fn geometry(&mut self, args: &Args<'_>) -> Result<Val, String> {
        let f = args.function;
        if let Some(crs) = self.arg(args, "crs")? {
            let crs = match &crs {
                Val::Projection(c) => c.clone(),
                other => as_string(other, f, "crs")?,
            };
            if crs != "EPSG:4326" {
                return Err(format!(
                    "{f}: the emulator supports geometries in EPSG:4326 only, not {crs}."
                ));
            }
        }
        // "The default is the geodesic state of the inputs, or true if the
        // inputs are numbers" (they always are here).
        let geodesic = match self.arg(args, "geodesic")? {
            None | Some(Val::Const(Value::Null)) => true,
            Some(v) => as_bool(&v, f, "geodesic")?,
        };
        let even_odd = match self.arg(args, "evenOdd")? {
            None | Some(Val::Const(Value::Null)) => true,
            Some(v) => as_bool(&v, f, "evenOdd")?,
        };
        let coordinates = self.required(args, "coordinates")?;
        let coordinates = coordinates
            .to_json()
            .ok_or_else(|| type_error(f, "coordinates", "List", &coordinates))?;
        let rings = if f == "GeometryConstructors.Rectangle" {
            rectangle_ring(&coordinates).ok_or_else(|| {
                format!("{f}: coordinates must be [xMin, yMin, xMax, yMax] or two points, got {coordinates}.")
            })?
        } else {
            polygon_rings(&coordinates).ok_or_else(|| {
                format!("{f}: coordinates must be a list of rings of [lon, lat] points, got {coordinates}.")
            })?
        };
        let polygon = Polygon::new(&rings, geodesic, even_odd).map_err(|e| format!("{f}: {e}."))?;
        Ok(Val::Geometry(Arc::new(polygon)))
    }

    fn as_image(&mut self, v: Val, function: &str, arg: &str) -> Result<Image, String> {
        match v {
            Val::Image(i) => Ok(i),
            // Earth Engine promotes an ImageCollection to its mosaic.
            Val::Collection { collection, images } => Ok(Image::mosaic(collection, images)),
            Val::Const(Value::Number(_)) | Val::Const(Value::Array(_)) | Val::List(_) => {
                constant_image(&v, function, arg)
            }
            other => Err(type_error(function, arg, "Image", &other)),
        }
    }
}

fn type_error(function: &str, arg: &str, expected: &str, actual: &Val) -> String {
    format!(
        "{function}, argument '{arg}': Invalid type.\nExpected type: {expected}.\nActual type: {}.",
        actual.type_name()
    )
}

fn as_string(v: &Val, function: &str, arg: &str) -> Result<String, String> {
    match v {
        Val::Const(Value::String(s)) => Ok(s.clone()),
        other => Err(type_error(function, arg, "String", other)),
    }
}

fn as_bool(v: &Val, function: &str, arg: &str) -> Result<bool, String> {
    match v {
        Val::Const(Value::Bool(b)) => Ok(*b),
        // Earth Engine reads numbers as booleans (0 is false).
        Val::Const(Value::Number(n)) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        other => Err(type_error(function, arg, "Boolean", other)),
    }
}

fn as_string_list(v: &Val, function: &str, arg: &str) -> Result<Vec<String>, String> {
    let json = v
        .to_json()
        .ok_or_else(|| type_error(function, arg, "List<String>", v))?;
    match json {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                other => Err(format!(
                    "{function}, argument '{arg}': Invalid type.\nExpected type: String.\nActual value: {other}."
                )),
            })
            .collect(),
        Value::String(s) => Ok(vec![s]),
        _ => Err(type_error(function, arg, "List<String>", v)),
    }
}

/// A date argument: an ISO string, milliseconds, or a `Date`.
fn as_date_ms(v: &Val, function: &str, arg: &str) -> Result<i64, String> {
    match v {
        Val::Date(ms) => Ok(*ms),
        Val::Const(Value::String(s)) => parse_date_ms(s)
            .ok_or_else(|| format!("{function}, argument '{arg}': Unable to parse date '{s}'.")),
        Val::Const(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .ok_or_else(|| format!("{function}, argument '{arg}': Invalid date {n}.")),
        other => Err(type_error(function, arg, "Date", other)),
    }
}

fn as_polygon(v: &Val, function: &str, arg: &str) -> Result<Arc<Polygon>, String> {
    match v {
        Val::Geometry(p) | Val::Feature(p) => Ok(Arc::clone(p)),
        other => Err(type_error(function, arg, "Geometry", other)),
    }
}

fn constant_image(v: &Val, function: &str, arg: &str) -> Result<Image, String> {
    let json = v
        .to_json()
        .ok_or_else(|| type_error(function, arg, "Number", v))?;
    let values: Option<Vec<f64>> = match &json {
        Value::Number(n) => n.as_f64().map(|f| vec![f]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_f64).collect(),
        _ => None,
    };
    values
        .map(Image::constant)
        .ok_or_else(|| format!("{function}, argument '{arg}': Invalid type.\nExpected type: Number or List<Number>.\nActual value: {json}."))
}

/// The band a selector picks: a name (matched exactly) or an index.
fn band_selector(image: &Image, s: &Value) -> Result<usize, String> {
    match s {
        Value::String(name) => image
            .bands
            .iter()
            .position(|b| &b.name == name)
            .ok_or_else(|| {
                let regex = name.contains(['.', '*', '+', '?', '[', '(', '|', '^', '$', '\\']);
                format!(
                    "Image.select: Pattern '{name}' did not match any bands{}. Bands: {}.",
                    if regex {
                        " (the emulator matches band names exactly, not as regular expressions)"
                    } else {
                        ""
                    },
                    image
                        .bands
                        .iter()
                        .map(|b| b.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| i < image.bands.len())
            .ok_or_else(|| {
                format!(
                    "Image.select: Band index {n} out of range (the image has {} bands).",
                    image.bands.len()
                )
            }),
        other => Err(format!(
            "Image.select: a band selector must be a string or an index, got {other}."
        )),
    }
}

fn unique_names(image: &Image, function: &str) -> Result<(), String> {
    let mut seen = HashSet::new();
    for b in &image.bands {
        if !seen.insert(b.name.as_str()) {
            return Err(format!("{function}: Duplicate band name '{}'.", b.name));
        }
    }
    Ok(())
}

fn point(v: &Value) -> Option<(f64, f64)> {
    match v.as_array()?.as_slice() {
        [x, y] | [x, y, _] => Some((x.as_f64()?, y.as_f64()?)),
        _ => None,
    }
}

/// Rings of `GeometryConstructors.Polygon`: a list of rings, one ring of
/// points, or a flat list of numbers (one ring).
fn polygon_rings(v: &Value) -> Option<Vec<Vec<(f64, f64)>>> {
    let items = v.as_array()?;
    let first = items.first()?;
    if first.is_number() {
        let nums: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
        let nums = nums?;
        if nums.len() % 2 != 0 {
            return None;
        }
        return Some(vec![nums.chunks(2).map(|c| (c[0], c[1])).collect()]);
    }
    if point(first).is_some() {
        return Some(vec![items.iter().map(point).collect::<Option<_>>()?]);
    }
    items
        .iter()
        .map(|ring| {
            ring.as_array()?
                .iter()
                .map(point)
                .collect::<Option<Vec<_>>>()
        })
        .collect()
}

/// The ring of `GeometryConstructors.Rectangle`, in the client's order:
/// `[[x0, y1], [x0, y0], [x1, y0], [x1, y1]]`.
fn rectangle_ring(v: &Value) -> Option<Vec<Vec<(f64, f64)>>> {
    let items = v.as_array()?;
    let (x0, y0, x1, y1) = match items.as_slice() {
        [a, b, c, d] => (a.as_f64()?, b.as_f64()?, c.as_f64()?, d.as_f64()?),
        [p, q] => {
            let (p, q) = (point(p)?, point(q)?);
            (p.0, p.1, q.0, q.1)
        }
        _ => return None,
    };
    Some(vec![vec![(x0, y1), (x0, y0), (x1, y0), (x1, y1)]])
}
