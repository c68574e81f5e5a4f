//! The Earth Engine emulator through a real HTTP client: the
//! service-account token flow (JWTs signed here with aws-lc-rs from the
//! test key), authentication, expressions as the Python client serializes
//! them answered as NPY (read back by numpy when a venv is there) and
//! GeoTIFF, the documented limits, the concurrency quota and the injected
//! faults.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use geocube_testkit::ee::{DateRange, EeEmulator, EeOptions, GOOGLE_TOKEN_URI, Stall, truth};
use geocube_testkit::footprint::Projector;
use serde_json::{Value, json};

/// The 30 m cube resolution in degrees.
const RES30: f64 = 0.000_269_494_585_235_856_47;
const EARTHENGINE_SCOPE: &str = "https://www.googleapis.com/auth/earthengine";

/// Example A of the research notes, verbatim: what the Python client sends
/// for `ee.ImageCollection("X").filterDate("2020-01-01","2021-01-01")
/// .mosaic().clip(ee.Geometry.Rectangle([10.0,20.0,11.5,21.25]))`.
const EXAMPLE_A: &str = r#"{"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Image.clip", "arguments": {
 "geometry": {"functionInvocationValue": {"functionName": "GeometryConstructors.Polygon", "arguments": {
   "coordinates": {"constantValue": [[[10.0, 21.25], [10.0, 20.0], [11.5, 20.0], [11.5, 21.25]]]},
   "evenOdd": {"constantValue": true}}}},
 "input": {"functionInvocationValue": {"functionName": "ImageCollection.mosaic", "arguments": {
   "collection": {"functionInvocationValue": {"functionName": "Collection.filter", "arguments": {
     "collection": {"functionInvocationValue": {"functionName": "ImageCollection.load", "arguments": {"id": {"constantValue": "X"}}}},
     "filter": {"functionInvocationValue": {"functionName": "Filter.dateRangeContains", "arguments": {
       "leftValue": {"functionInvocationValue": {"functionName": "DateRange", "arguments": {
          "end": {"constantValue": "2021-01-01"}, "start": {"constantValue": "2020-01-01"}}}},
       "rightField": {"constantValue": "system:time_start"}}}}}}}}}}}}}}}"#;

// ---------------------------------------------------------------- JWTs

fn now_s() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_secs()).expect("seconds fit")
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header.claims` with the key's PEM (RS256), as google-auth does.
fn sign_jwt(private_key_pem: &str, header: &Value, claims: &Value) -> String {
    let b64: String = private_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(b64).expect("PEM body is base64");
    let key = RsaKeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key");
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .expect("signing works");
    format!("{signing_input}.{}", b64url(&sig))
}

/// The key file the emulator hands out.
fn key(ee: &EeEmulator) -> Value {
    serde_json::from_str(&ee.key_json()).expect("key JSON")
}

fn good_claims(key: &Value) -> Value {
    let now = now_s();
    json!({
        "iss": key["client_email"],
        "aud": GOOGLE_TOKEN_URI,
        "scope": format!("{EARTHENGINE_SCOPE} https://www.googleapis.com/auth/cloud-platform"),
        "iat": now,
        "exp": now + 3600,
    })
}

fn good_header(key: &Value) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "kid": key["private_key_id"]})
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Posts a grant to the key's token_uri: (status, JSON body).
fn grant(key: &Value, assertion: &str, grant_type: &str) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", grant_type)
        .append_pair("assertion", assertion)
        .finish();
    let resp = http()
        .post(key["token_uri"].as_str().expect("token_uri"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .expect("token request");
    let status = resp.status().as_u16();
    (status, json_of(resp))
}

/// The body of a reply as JSON (reqwest is built without its `json`
/// feature).
fn json_of(resp: reqwest::blocking::Response) -> Value {
    serde_json::from_slice(&resp.bytes().expect("body")).expect("JSON body")
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A fresh access token through the real flow.
fn token(ee: &EeEmulator) -> String {
    let key = key(ee);
    let jwt = sign_jwt(
        key["private_key"].as_str().expect("private_key"),
        &good_header(&key),
        &good_claims(&key),
    );
    let (status, body) = grant(&key, &jwt, JWT_BEARER);
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

// ------------------------------------------------------- expressions

fn fcall(name: &str, args: Value) -> Value {
    json!({"functionInvocationValue": {"functionName": name, "arguments": args}})
}

fn constant(v: Value) -> Value {
    json!({ "constantValue": v })
}

fn load(id: &str) -> Value {
    fcall("ImageCollection.load", json!({"id": constant(json!(id))}))
}

fn filter_date(collection: Value, start: Value, end: Option<Value>) -> Value {
    let mut range = json!({ "start": start });
    if let Some(end) = end {
        range["end"] = end;
    }
    fcall(
        "Collection.filter",
        json!({
            "collection": collection,
            "filter": fcall("Filter.dateRangeContains", json!({
                "leftValue": fcall("DateRange", range),
                "rightField": constant(json!("system:time_start")),
            })),
        }),
    )
}

fn mosaic(collection: Value) -> Value {
    fcall(
        "ImageCollection.mosaic",
        json!({ "collection": collection }),
    )
}

/// `ee.Geometry.BBox`: a planar polygon.
fn bbox_clip(input: Value, [w, s, e, n]: [f64; 4]) -> Value {
    fcall(
        "Image.clip",
        json!({
            "input": input,
            "geometry": fcall("GeometryConstructors.Polygon", json!({
                "coordinates": constant(json!([[[w, n], [w, s], [e, s], [e, n]]])),
                "geodesic": constant(json!(false)),
            })),
        }),
    )
}

fn expression(root: Value) -> Value {
    json!({"result": "0", "values": {"0": root}})
}

/// A north-up EPSG:4326 grid of `res` whose top-left corner is the
/// lattice point nearest `(lon, lat)`.
fn grid(lon: f64, lat: f64, width: u32, height: u32, res: f64) -> Value {
    json!({
        "dimensions": {"width": width, "height": height},
        "affineTransform": {
            "scaleX": res, "shearX": 0.0, "translateX": (lon / res).round() * res,
            "shearY": 0.0, "scaleY": -res, "translateY": (lat / res).round() * res,
        },
        "crsCode": "EPSG:4326",
    })
}

/// Pixel centres of a grid body: `(lon, lat)` per pixel, row-major.
fn centres(grid: &Value) -> Vec<(f64, f64)> {
    let t = &grid["affineTransform"];
    let f = |k: &str| t[k].as_f64().unwrap_or(0.0);
    let (w, h) = (
        grid["dimensions"]["width"].as_u64().expect("width"),
        grid["dimensions"]["height"].as_u64().expect("height"),
    );
    let mut out = Vec::new();
    for row in 0..h {
        for col in 0..w {
            let (u, v) = (col as f64 + 0.5, row as f64 + 0.5);
            out.push((
                f("scaleX") * u + f("shearX") * v + f("translateX"),
                f("shearY") * u + f("scaleY") * v + f("translateY"),
            ));
        }
    }
    out
}

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// Asserts a Google error of this code and status; returns the message.
    fn google_error(&self, code: u16, status: &str) -> String {
        assert_eq!(self.status, code, "{}", String::from_utf8_lossy(&self.body));
        let v = self.json();
        assert_eq!(v["error"]["code"], code);
        assert_eq!(v["error"]["status"], status);
        v["error"]["message"].as_str().expect("message").to_owned()
    }
}

fn compute(ee: &EeEmulator, token: Option<&str>, body: &Value) -> Reply {
    let mut req = http()
        .post(ee.compute_pixels_url("my-project"))
        .header("Content-Type", "application/json")
        .header("X-Goog-User-Project", "my-project")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("computePixels request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.bytes().expect("body").to_vec();
    Reply {
        status,
        content_type,
        body,
    }
}

/// An NPY file read back: fields (name, type string), shape, data.
struct Npy {
    fields: Vec<(String, String)>,
    shape: (usize, usize),
    header: String,
    data: Vec<u8>,
}

fn parse_npy(bytes: &[u8]) -> Npy {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "magic");
    assert_eq!((bytes[6], bytes[7]), (1, 0), "NPY version 1.0");
    let hlen = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    assert_eq!((10 + hlen) % 64, 0, "header aligned to 64");
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).expect("ASCII header");
    assert!(header.ends_with('\n'));
    let descr = header
        .split("'descr': [")
        .nth(1)
        .and_then(|s| s.split("], ").next())
        .expect("descr");
    let fields = descr
        .split("), (")
        .map(|f| {
            let f = f.trim_matches(|c| c == '(' || c == ')');
            let (name, ty) = f.split_once(", ").expect("field");
            (
                name.trim_matches('\'').to_owned(),
                ty.trim_matches('\'').to_owned(),
            )
        })
        .collect();
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape");
    let (h, w) = shape.split_once(", ").expect("2-D shape");
    Npy {
        fields,
        shape: (h.parse().expect("h"), w.parse().expect("w")),
        header: header.to_owned(),
        data: bytes[10 + hlen..].to_vec(),
    }
}

impl Npy {
    fn field_size(ty: &str) -> usize {
        ty[2..].parse().expect("size")
    }

    fn pixel_bytes(&self) -> usize {
        self.fields.iter().map(|(_, t)| Self::field_size(t)).sum()
    }

    /// The value of field `f` of pixel `i` (row-major).
    fn value(&self, i: usize, f: usize) -> f64 {
        let offset: usize = self.fields[..f]
            .iter()
            .map(|(_, t)| Self::field_size(t))
            .sum();
        let at = i * self.pixel_bytes() + offset;
        let b = &self.data[at..];
        match self.fields[f].1.as_str() {
            "|u1" => f64::from(b[0]),
            "<i2" => f64::from(i16::from_le_bytes([b[0], b[1]])),
            "<f4" => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            other => panic!("unexpected field type {other}"),
        }
    }
}

/// The Python with numpy the tests may use: `GEOCUBE_PYTHON`, else a
/// `pyenv` venv in the target directory or the workspace's.
fn python() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("GEOCUBE_PYTHON").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            candidates.push(dir.join("pyenv/bin/python"));
        }
    }
    candidates
        .push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python"));
    candidates.into_iter().find(|p| {
        p.is_file()
            && Command::new(p)
                .args(["-c", "import numpy"])
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// The latitude of the great circle through `(lon_a, lat)` and
/// `(lon_b, lat)` at `lon`.
fn arc_lat(lon_a: f64, lon_b: f64, lat: f64, lon: f64) -> f64 {
    let (a, b, l, p) = (
        lon_a.to_radians(),
        lon_b.to_radians(),
        lon.to_radians(),
        lat.to_radians(),
    );
    (p.tan() * ((b - l).sin() + (l - a).sin()) / (b - a).sin())
        .atan()
        .to_degrees()
}

// ---------------------------------------------------------------- tests

#[test]
fn key_file_has_the_fields_google_auth_reads() {
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let key = key(&ee);
    assert_eq!(key["type"], "service_account");
    for field in ["project_id", "private_key_id", "client_email", "client_id"] {
        assert!(
            key[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }
    assert_eq!(key["token_uri"], ee.token_uri());
    assert_eq!(
        key["private_key"],
        include_str!("../data/ee-test-key.pem"),
        "the test key's PEM"
    );
    assert!(ee.url().ends_with('/') && ee.token_uri().starts_with(ee.url().trim_end_matches('/')));
}

#[test]
fn token_endpoint_verifies_the_jwt_grant() {
    let ee = EeEmulator::start(EeOptions {
        token_lifetime: Duration::from_secs(120),
        ..EeOptions::default()
    })
    .expect("start");
    let key = key(&ee);
    let pem = key["private_key"].as_str().expect("pem").to_owned();
    let (header, claims) = (good_header(&key), good_claims(&key));

    let (status, body) = grant(&key, &sign_jwt(&pem, &header, &claims), JWT_BEARER);
    assert_eq!(status, 200, "{body}");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("ya29.emu-"))
    );
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["token_type"], "Bearer");

    // The emulator's own token_uri as the audience is accepted too.
    let mut own_aud = claims.clone();
    own_aud["aud"] = json!(ee.token_uri());
    assert_eq!(
        grant(&key, &sign_jwt(&pem, &header, &own_aud), JWT_BEARER).0,
        200
    );

    let refused = |jwt: &str, error: &str, description: &str| {
        let (status, body) = grant(&key, jwt, JWT_BEARER);
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], error, "{body}");
        let got = body["error_description"].as_str().expect("description");
        assert!(got.contains(description), "{got:?} lacks {description:?}");
    };
    // A signature that does not verify.
    let good = sign_jwt(&pem, &header, &claims);
    let (signed, sig) = good.rsplit_once('.').expect("three parts");
    let mut sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
    sig[10] ^= 0x01;
    refused(
        &format!("{signed}.{}", b64url(&sig)),
        "invalid_grant",
        "Invalid JWT Signature.",
    );
    // Claims changed after signing.
    let mut forged = claims.clone();
    forged["scope"] = json!("https://www.googleapis.com/auth/cloud-platform");
    let forged_jwt = format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(forged.to_string().as_bytes()),
        good.rsplit('.').next().expect("sig")
    );
    refused(&forged_jwt, "invalid_grant", "Invalid JWT Signature.");
    // Wrong audience.
    let mut aud = claims.clone();
    aud["aud"] = json!("https://example.com/token");
    refused(&sign_jwt(&pem, &header, &aud), "invalid_grant", "audience");
    // Expired, not yet valid, too long-lived.
    let now = now_s();
    for (iat, exp) in [
        (now - 7200, now - 3600),
        (now + 600, now + 1200),
        (now, now + 7200),
    ] {
        let mut c = claims.clone();
        c["iat"] = json!(iat);
        c["exp"] = json!(exp);
        refused(
            &sign_jwt(&pem, &header, &c),
            "invalid_grant",
            "short-lived token",
        );
    }
    // alg none (no signature) and HS256 (keyed with the public key, the
    // classic confusion) are refused whatever they carry.
    let unsigned = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    refused(&unsigned, "invalid_grant", "RS256");
    let mut hs = header.clone();
    hs["alg"] = json!("HS256");
    refused(&sign_jwt(&pem, &hs, &claims), "invalid_grant", "RS256");
    // Another issuer, no usable scope, a wrong key id, garbage.
    let mut iss = claims.clone();
    iss["iss"] = json!("someone@else.iam.gserviceaccount.com");
    refused(
        &sign_jwt(&pem, &header, &iss),
        "invalid_grant",
        "account not found",
    );
    let mut scope = claims.clone();
    scope["scope"] = json!("https://www.googleapis.com/auth/drive");
    refused(&sign_jwt(&pem, &header, &scope), "invalid_scope", "scope");
    let mut kid = header.clone();
    kid["kid"] = json!("another-key");
    refused(
        &sign_jwt(&pem, &kid, &claims),
        "invalid_grant",
        "Invalid JWT Signature.",
    );
    refused("not-a-jwt", "invalid_grant", "three base64url parts");
    let (status, body) = grant(&key, &good, "client_credentials");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let counts = ee.counts();
    assert_eq!(counts.tokens_minted, 2);
    assert_eq!(counts.tokens_refused, 13);
}

#[test]
fn compute_pixels_wants_a_live_token_of_its_own() {
    let ee = EeEmulator::start(EeOptions {
        token_lifetime: Duration::from_secs(2),
        ..EeOptions::default()
    })
    .expect("start");
    let body = json!({
        "expression": expression(mosaic(load(truth::tctrend_ids()[0]))),
        "fileFormat": "NPY",
        "grid": grid(20.0, 70.0, 4, 4, RES30),
    });
    let message = compute(&ee, None, &body).google_error(401, "UNAUTHENTICATED");
    assert!(message.starts_with("Request had invalid authentication credentials."));
    compute(&ee, Some("ya29.made-up"), &body).google_error(401, "UNAUTHENTICATED");
    let t = token(&ee);
    assert_eq!(compute(&ee, Some(&t), &body).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    compute(&ee, Some(&t), &body).google_error(401, "UNAUTHENTICATED");
    let fresh = token(&ee);
    assert_eq!(compute(&ee, Some(&fresh), &body).status, 200);
    let counts = ee.counts();
    assert_eq!((counts.unauthenticated, counts.served), (3, 2));
    let recorded = ee.requests();
    assert_eq!(recorded.len(), 5);
    assert!(recorded.iter().all(|r| r.project == "my-project"
        && r.user_project.as_deref() == Some("my-project")
        && r.width == Some(4)));
}

#[test]
fn example_a_answers_npy_as_numpy_reads_it() {
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let t = token(&ee);
    let expr: Value =
        serde_json::from_str(&EXAMPLE_A.replace(r#""X""#, &format!("{:?}", truth::EMBEDDING)))
            .expect("example A is JSON");
    // Over the middle of the clip's top edge: the geodesic edge bows north
    // of 21.25° there.
    let g = grid(10.75 - 32.0 * RES30, 21.25 + 24.0 * RES30, 64, 48, RES30);
    let reply = compute(
        &ee,
        Some(&t),
        &json!({"expression": expr, "fileFormat": "NPY", "grid": g}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.content_type, "application/octet-stream");
    let npy = parse_npy(&reply.body);
    assert_eq!(npy.shape, (48, 64));
    assert_eq!(npy.fields.len(), 64);
    assert!(
        npy.fields
            .iter()
            .enumerate()
            .all(|(i, (n, t))| *n == format!("A{i:02}") && t == "<f4")
    );
    assert!(
        npy.header
            .starts_with("{'descr': [('A00', '<f4'), ('A01', '<f4'), ")
    );
    assert!(
        npy.header
            .contains("], 'fortran_order': False, 'shape': (48, 64), }")
    );
    assert_eq!(npy.data.len(), 48 * 64 * 64 * 4, "no mask byte");

    let year = Some(DateRange::year(2020));
    let (mut inside_above, mut masked, mut valid) = (0, 0, 0);
    for (i, &(lon, lat)) in centres(&g).iter().enumerate() {
        let inside = lat < arc_lat(10.0, 11.5, 21.25, lon);
        if inside && lat > 21.25 {
            inside_above += 1;
        }
        for (f, (band, _)) in npy.fields.iter().enumerate() {
            let want = if inside {
                truth::value(truth::EMBEDDING, band, year, lon, lat)
            } else {
                None
            };
            if f == 0 {
                if want.is_some() {
                    valid += 1
                } else {
                    masked += 1
                }
            }
            assert_eq!(
                npy.value(i, f),
                want.unwrap_or(0.0),
                "pixel {i} band {band}"
            );
        }
    }
    assert!(
        inside_above >= 64 * 4,
        "the top edge is geodesic: {inside_above}"
    );
    assert!(valid > 0 && masked > 0, "{valid} valid, {masked} masked");

    let rec = ee.requests().pop().expect("recorded");
    assert_eq!(rec.collection.as_deref(), Some(truth::EMBEDDING));
    assert_eq!(rec.date_range, year);
    let clip = rec.clip.expect("clip");
    assert_eq!(clip.bbox, [10.0, 20.0, 11.5, 21.25]);
    assert!(clip.geodesic);
    assert_eq!(
        (rec.file_format.as_deref(), rec.crs.as_deref()),
        (Some("NPY"), Some("EPSG:4326"))
    );
    assert_eq!(rec.bands.len(), 64);

    let Some(python) = python() else {
        eprintln!("skipping the numpy check: no Python with numpy (set GEOCUBE_PYTHON)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.npy");
    std::fs::write(&path, &reply.body).expect("write npy");
    let script = r#"
import io, json, sys
import numpy as np
path = sys.argv[1]
a = np.load(path)
buf = io.BytesIO()
np.save(buf, a)
print(json.dumps({
    "descr": [list(d) for d in a.dtype.descr],
    "shape": list(a.shape),
    "same_as_np_save": buf.getvalue() == open(path, "rb").read(),
    "A00": a["A00"].ravel().tolist(),
    "A63": a["A63"].ravel().tolist(),
}))
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("python JSON");
    assert_eq!(v["shape"], json!([48, 64]));
    assert_eq!(v["descr"][0], json!(["A00", "<f4"]));
    assert_eq!(v["descr"][63], json!(["A63", "<f4"]));
    assert_eq!(
        v["same_as_np_save"], true,
        "byte for byte what np.save writes"
    );
    for (band, f) in [("A00", 0), ("A63", 63)] {
        let got = v[band].as_array().expect("values");
        for (i, x) in got.iter().enumerate() {
            // serde_json may read Python's shortest repr a unit in the last
            // place off; the f32 behind it is the same.
            #[allow(clippy::cast_possible_truncation)]
            let (x, want) = (x.as_f64().expect("a number") as f32, npy.value(i, f) as f32);
            assert_eq!(x, want, "{band} pixel {i}");
        }
    }
}

#[test]
fn select_unmask_to_float_bands_and_dates() {
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let t = token(&ee);
    let id = truth::tctrend_ids()[2];
    // A window with holes (0.4 % of cells per image, no overlap there).
    let g = grid(25.0, 68.0, 120, 90, RES30);
    let cs = centres(&g);
    let holes = cs
        .iter()
        .filter(|&&(lon, lat)| truth::value(id, "TCB_slope", None, lon, lat).is_none())
        .count();
    assert!(holes > 0, "the window should have holes");

    // mosaic().select(["TCG_slope", "TCB_slope"], ["g", "b"]).unmask(-9999, False):
    // u8 cannot hold -9999, so the bands become int16.
    let selected = fcall(
        "Image.select",
        json!({
            "input": mosaic(load(id)),
            "bandSelectors": constant(json!(["TCG_slope", "TCB_slope"])),
            "newNames": constant(json!(["g", "b"])),
        }),
    );
    let unmasked = fcall(
        "Image.unmask",
        json!({
            "input": selected,
            "sameFootprint": constant(json!(false)),
            "value": fcall("Image.constant", json!({"value": constant(json!(-9999))})),
        }),
    );
    let reply = compute(
        &ee,
        Some(&t),
        &json!({"expression": expression(unmasked.clone()), "fileFormat": "NPY", "grid": g}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let npy = parse_npy(&reply.body);
    assert_eq!(
        npy.fields,
        [("g".into(), "<i2".into()), ("b".into(), "<i2".into())]
    );
    for (i, &(lon, lat)) in cs.iter().enumerate() {
        for (f, band) in ["TCG_slope", "TCB_slope"].into_iter().enumerate() {
            let want = truth::value(id, band, None, lon, lat).unwrap_or(-9999.0);
            assert_eq!(npy.value(i, f), want, "pixel {i} {band}");
        }
    }

    // bandIds picks and orders; toFloat gives float32.
    let floated = fcall("Image.toFloat", json!({ "value": unmasked }));
    let reply = compute(
        &ee,
        Some(&t),
        &json!({"expression": expression(floated), "fileFormat": "NPY", "bandIds": ["b"], "grid": g}),
    );
    let npy = parse_npy(&reply.body);
    assert_eq!(npy.fields, [("b".into(), "<f4".into())]);
    let (lon, lat) = cs[7];
    assert_eq!(
        npy.value(7, 0),
        truth::value(id, "TCB_slope", None, lon, lat).unwrap_or(-9999.0)
    );

    // Dates as ee.Date(datetime) (float ms) and an end-less range (one
    // millisecond, as ee.Filter.date(start) makes) select the same year.
    let jan_2022 = DateRange::year(2022).start_ms;
    let date = fcall("Date", json!({"value": constant(json!(jan_2022 as f64))}));
    let g2 = grid(-120.0, 45.0, 16, 16, RES30 / 3.0);
    for filtered in [
        filter_date(load(truth::EMBEDDING), date.clone(), None),
        filter_date(
            load(truth::EMBEDDING),
            constant(json!("2022-01-01")),
            Some(constant(json!("2022-06-01"))),
        ),
    ] {
        let reply = compute(
            &ee,
            Some(&t),
            &json!({"expression": expression(mosaic(filtered)), "fileFormat": "NPY",
                    "bandIds": ["A05"], "grid": g2}),
        );
        let npy = parse_npy(&reply.body);
        for (i, &(lon, lat)) in centres(&g2).iter().enumerate() {
            let want = truth::value(
                truth::EMBEDDING,
                "A05",
                Some(DateRange::year(2022)),
                lon,
                lat,
            );
            assert_eq!(npy.value(i, 0), want.unwrap_or(0.0));
        }
    }
    let rec = ee.requests().pop().expect("recorded");
    assert_eq!(
        rec.date_range,
        Some(DateRange::new(
            jan_2022,
            DateRange::year(2022).start_ms + 151 * 86_400_000
        ))
    );
    assert_eq!(rec.band_ids, Some(vec!["A05".to_owned()]));

    // No image in the range: the mosaic has no bands.
    let empty = filter_date(load(truth::EMBEDDING), constant(json!("2030-01-01")), None);
    let msg = compute(
        &ee,
        Some(&t),
        &json!({"expression": expression(mosaic(empty)), "fileFormat": "NPY", "grid": g2}),
    )
    .google_error(400, "INVALID_ARGUMENT");
    assert!(msg.contains("no bands"), "{msg}");
}

#[test]
fn projected_and_sheared_grids_sample_pixel_centres() {
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let t = token(&ee);
    let id = truth::tctrend_ids()[3];
    // EPSG:3413, 32 m pixels.
    let g = json!({
        "dimensions": {"width": 40, "height": 30},
        "affineTransform": {"scaleX": 32.0, "translateX": -2_000_000.0,
                            "scaleY": -32.0, "translateY": 1_000_000.0},
        "crsCode": "EPSG:3413",
    });
    let reply = compute(
        &ee,
        Some(&t),
        &json!({"expression": expression(mosaic(load(id))), "fileFormat": "NPY", "grid": g}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let npy = parse_npy(&reply.body);
    let projector = Projector::new().expect("projector");
    for (i, &(x, y)) in centres(&g).iter().enumerate() {
        let (lon, lat) = projector.to_lonlat(x, y).expect("to lon/lat");
        let want = truth::value(id, "TCW_slope", None, lon, lat);
        assert_eq!(npy.value(i, 2), want.unwrap_or(0.0), "pixel {i}");
    }
    // A sheared, rotated-looking grid in EPSG:4326 (longitudes past 180
    // wrap).
    let g = json!({
        "dimensions": {"width": 30, "height": 20},
        "affineTransform": {"scaleX": RES30, "shearX": RES30 / 3.0, "translateX": 179.995,
                            "shearY": -RES30 / 5.0, "scaleY": -RES30, "translateY": 60.0},
        "crsCode": "EPSG:4326",
    });
    let reply = compute(
        &ee,
        Some(&t),
        &json!({"expression": expression(mosaic(load(id))), "fileFormat": "NPY", "grid": g}),
    );
    let npy = parse_npy(&reply.body);
    for (i, &(lon, lat)) in centres(&g).iter().enumerate() {
        let want = truth::value(id, "TCB_slope", None, lon, lat);
        assert_eq!(npy.value(i, 0), want.unwrap_or(0.0), "pixel {i}");
    }
}

#[test]
fn geo_tiff_carries_the_bands_and_the_grid() {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::tags::Tag;
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let t = token(&ee);
    let id = truth::tctrend_ids()[1];
    let g = grid(-60.5, 10.0, 30, 20, RES30);
    let expr = bbox_clip(mosaic(load(id)), [-60.5, 9.999, -60.496, 10.0]);
    let reply = compute(
        &ee,
        Some(&t),
        &json!({"expression": expression(expr), "fileFormat": "GEO_TIFF", "grid": g}),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.content_type, "image/tiff");
    let mut dec = Decoder::new(std::io::Cursor::new(&reply.body)).expect("a TIFF");
    assert_eq!(dec.dimensions().expect("dims"), (30, 20));
    let tie = dec
        .get_tag_f64_vec(Tag::ModelTiepointTag)
        .expect("tiepoint");
    let scale = dec.get_tag_f64_vec(Tag::ModelPixelScaleTag).expect("scale");
    let tx = g["affineTransform"]["translateX"].as_f64().expect("x");
    let ty = g["affineTransform"]["translateY"].as_f64().expect("y");
    assert_eq!((tie[3], tie[4], scale[0], scale[1]), (tx, ty, RES30, RES30));
    let keys = dec
        .get_tag_u16_vec(Tag::GeoKeyDirectoryTag)
        .expect("geokeys");
    assert!(
        keys.chunks(4).any(|k| k[0] == 2048 && k[3] == 4326),
        "{keys:?}"
    );
    let DecodingResult::U8(pixels) = dec.read_image().expect("pixels") else {
        panic!("u8 samples");
    };
    assert_eq!(pixels.len(), 30 * 20 * 3);
    let clip = |lon: f64, lat: f64| (-60.5..-60.496).contains(&lon) && (9.999..10.0).contains(&lat);
    let mut outside = 0;
    for (i, &(lon, lat)) in centres(&g).iter().enumerate() {
        for (b, band) in ["TCB_slope", "TCG_slope", "TCW_slope"]
            .into_iter()
            .enumerate()
        {
            let want = if clip(lon, lat) {
                truth::value(id, band, None, lon, lat)
            } else {
                None
            };
            outside += usize::from(b == 0 && !clip(lon, lat));
            assert_eq!(
                f64::from(pixels[i * 3 + b]),
                want.unwrap_or(0.0),
                "pixel {i} {band}"
            );
        }
    }
    assert!(outside > 0);
}

#[test]
fn limits_and_malformed_requests_are_invalid_argument() {
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let t = token(&ee);
    let tc = || expression(mosaic(load(truth::tctrend_ids()[0])));
    let ae = || expression(mosaic(load(truth::EMBEDDING)));
    let invalid = |body: Value, needle: &str| {
        let msg = compute(&ee, Some(&t), &body).google_error(400, "INVALID_ARGUMENT");
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    };
    // 64 float bands at exactly 48 MiB pass (no mask byte counted)...
    let started = Instant::now();
    let at_limit = compute(
        &ee,
        Some(&t),
        &json!({"expression": ae(), "fileFormat": "NPY", "grid": grid(5.0, 45.0, 512, 384, RES30)}),
    );
    assert_eq!(at_limit.status, 200);
    assert_eq!(parse_npy(&at_limit.body).data.len(), 50_331_648);
    eprintln!("a 48 MiB reply took {:?}", started.elapsed());
    // ...one row more does not.
    invalid(
        json!({"expression": ae(), "fileFormat": "NPY", "grid": grid(5.0, 45.0, 512, 385, RES30)}),
        "Total request size (50462720 bytes) must be less than or equal to 50331648 bytes",
    );
    invalid(
        json!({"expression": tc(), "fileFormat": "NPY", "grid": grid(5.0, 45.0, 32769, 1, RES30)}),
        "32768",
    );
    let many: Vec<f64> = (0..1025).map(f64::from).collect();
    invalid(
        json!({"expression": expression(fcall("Image.constant", json!({"value": constant(json!(many))}))),
               "fileFormat": "NPY", "grid": grid(5.0, 45.0, 1, 1, RES30)}),
        "Number of bands (1025)",
    );
    let g = grid(5.0, 45.0, 8, 8, RES30);
    invalid(
        json!({"expression": tc(), "fileFormat": "NPY", "bandIds": ["nope"], "grid": g}),
        "'nope'",
    );
    invalid(
        json!({"expression": tc(), "fileFormat": "PNG", "grid": g}),
        "PNG",
    );
    invalid(
        json!({"expression": tc(), "grid": g}),
        "IMAGE_FILE_FORMAT_UNSPECIFIED",
    );
    invalid(
        json!({"expression": tc(), "fileFormat": "NUMPY_NDARRAY", "grid": g}),
        "Invalid value at 'file_format'",
    );
    invalid(
        json!({"expression": tc(), "fileFormat": "NPY", "grid": g, "color": 1}),
        "Unknown name \"color\"",
    );
    invalid(
        json!({"expression": expression(fcall("Image.frobnicate", json!({}))), "fileFormat": "NPY", "grid": g}),
        "Image.frobnicate",
    );
    invalid(
        json!({"expression": {"result": "0", "values": {"0": {"valueReference": "1"}}},
               "fileFormat": "NPY", "grid": g}),
        "'1'",
    );
    invalid(
        json!({"expression": expression(fcall("Image.clip", json!({"input": mosaic(load(truth::EMBEDDING))}))),
               "fileFormat": "NPY", "grid": g}),
        "Parameter 'geometry' is required",
    );
    invalid(
        json!({"expression": expression(fcall("Image.select", json!({
                 "input": mosaic(load(truth::EMBEDDING)), "bandSelectors": constant(json!(["A64"]))}))),
               "fileFormat": "NPY", "grid": g}),
        "Pattern 'A64' did not match any bands",
    );
    invalid(
        json!({"expression": expression(mosaic(load("users/nobody/nothing"))), "fileFormat": "NPY", "grid": g}),
        "users/nobody/nothing",
    );
    // The Python client names toFloat's argument `value`; `input` is not
    // one of Image.toFloat's.
    invalid(
        json!({"expression": expression(fcall("Image.toFloat", json!({"input": mosaic(load(truth::EMBEDDING))}))),
               "fileFormat": "NPY", "grid": g}),
        "Image.toFloat: Unrecognized argument 'input'",
    );
    invalid(
        json!({"expression": tc(), "fileFormat": "NPY", "grid": {"dimensions": {"width": 0, "height": 4},
               "affineTransform": {"scaleX": 1.0, "scaleY": -1.0}, "crsCode": "EPSG:4326"}}),
        "width",
    );
    // A chain of references deeper than the emulator follows is refused,
    // not a stack overflow.
    let mut values = serde_json::Map::new();
    for i in 0..2000 {
        values.insert(
            i.to_string(),
            json!({"valueReference": (i + 1).to_string()}),
        );
    }
    values.insert("2000".into(), mosaic(load(truth::EMBEDDING)));
    invalid(
        json!({"expression": {"result": "0", "values": values}, "fileFormat": "NPY", "grid": g}),
        "nested more than",
    );
    let recorded = ee.requests();
    assert_eq!(recorded.iter().filter(|r| r.status == 400).count(), 16);
    assert!(
        recorded
            .iter()
            .any(|r| r.status == 400 && r.width == Some(512) && r.height == Some(385))
    );
}

#[test]
fn above_the_concurrency_cap_requests_get_429() {
    let ee = EeEmulator::start(EeOptions {
        max_concurrent: 2,
        // Long enough that all six requests arrive while the first two
        // hold their slots, even on a loaded machine.
        latency: Duration::from_millis(1500),
        ..EeOptions::default()
    })
    .expect("start");
    let t = token(&ee);
    let body = json!({
        "expression": expression(mosaic(load(truth::tctrend_ids()[0]))),
        "fileFormat": "NPY",
        "grid": grid(20.0, 70.0, 8, 8, RES30),
    });
    let ee = Arc::new(ee);
    let barrier = Arc::new(Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (ee, t, body, barrier) = (
                Arc::clone(&ee),
                t.clone(),
                body.clone(),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                barrier.wait();
                let r = compute(&ee, Some(&t), &body);
                if r.status == 429 {
                    assert_eq!(
                        r.google_error(429, "RESOURCE_EXHAUSTED"),
                        "Too many concurrent aggregations."
                    );
                }
                r.status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = threads
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429]);
    let counts = ee.counts();
    assert_eq!(
        (counts.over_concurrency, counts.max_in_flight, counts.served),
        (4, 2, 2)
    );
    // Once the slots are free, requests pass again.
    assert_eq!(compute(&ee, Some(&t), &body).status, 200);
}

/// Sends a computePixels request on a raw socket; returns the socket
/// after the request is written.
fn raw_request(ee: &EeEmulator, token: &str, body: &Value) -> TcpStream {
    let mut s = TcpStream::connect(ee.addr()).expect("connect");
    let body = body.to_string();
    let req = format!(
        "POST /v1/projects/p/image:computePixels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    s
}

#[test]
fn faults_cut_stall_fail_and_rate_limit_deterministically() {
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let t = token(&ee);
    let body = json!({
        "expression": expression(mosaic(load(truth::tctrend_ids()[0]))),
        "fileFormat": "NPY",
        "grid": grid(20.0, 70.0, 64, 64, RES30),
    });
    // Truncated: the whole length announced, half sent, then closed.
    ee.set_truncate_fraction(1.0);
    let mut s = raw_request(&ee, &t, &body);
    let mut reply = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.read_to_end(&mut reply).expect("read until closed");
    let text = String::from_utf8_lossy(&reply);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let announced: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse().ok())
        .expect("Content-Length");
    let got = reply.len() - (head.len() + 4);
    assert!(
        got < announced && got == announced / 2,
        "{got} of {announced}"
    );
    let _ = rest;
    ee.set_truncate_fraction(0.0);

    // Stalled: the request is read and never answered.
    ee.set_stall(Stall {
        fraction: 1.0,
        delay: None,
    });
    let mut s = raw_request(&ee, &t, &body);
    s.set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let err = s.read(&mut buf).expect_err("no reply");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    drop(s);
    // Delayed: the reply comes, late.
    ee.set_stall(Stall {
        fraction: 1.0,
        delay: Some(Duration::from_millis(300)),
    });
    let started = Instant::now();
    assert_eq!(compute(&ee, Some(&t), &body).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    ee.set_stall(Stall::default());

    // Injected failures and 429 storms, in Google's error shape.
    ee.set_fail_fraction(1.0);
    let r = compute(&ee, Some(&t), &body);
    let status = if r.status == 500 {
        "INTERNAL"
    } else {
        "UNAVAILABLE"
    };
    r.google_error(r.status, status);
    assert!([500, 503].contains(&r.status));
    ee.set_fail_fraction(0.0);
    ee.set_rate_limit_fraction(1.0);
    compute(&ee, Some(&t), &body).google_error(429, "RESOURCE_EXHAUSTED");
    ee.set_rate_limit_fraction(0.0);

    let c = ee.counts();
    assert_eq!(
        (c.truncated, c.stalled, c.delayed, c.failed, c.rate_limited),
        (1, 1, 1, 1, 1)
    );
    let faults: Vec<Option<String>> = ee.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        ["truncate", "stall", "delay", "fail", "rate_limit"].map(|f| Some(f.to_owned()))
    );

    // The same seed gives the same faults, in storms for rate limits.
    let statuses = |seed: u64| {
        let ee = EeEmulator::start(EeOptions {
            seed,
            fail_fraction: 0.3,
            rate_limit_fraction: 0.3,
            ..EeOptions::default()
        })
        .expect("start");
        let t = token(&ee);
        let small = json!({"expression": body["expression"], "fileFormat": "NPY",
                           "grid": grid(20.0, 70.0, 2, 2, RES30)});
        (0..64)
            .map(|_| compute(&ee, Some(&t), &small).status)
            .collect::<Vec<u16>>()
    };
    let a = statuses(7);
    assert_eq!(a, statuses(7));
    assert!(
        a.contains(&200) && a.iter().any(|s| *s >= 500) && a.contains(&429),
        "{a:?}"
    );
    // 429s come in whole windows of STORM_WINDOW.
    for window in a.chunks(geocube_testkit::ee::STORM_WINDOW as usize) {
        let storm = window.iter().filter(|&&s| s == 429).count();
        assert!(storm == 0 || storm == window.len(), "{window:?}");
    }
}

#[test]
fn control_routes_list_reset_and_change_options() {
    let ee = EeEmulator::start(EeOptions::default()).expect("start");
    let t = token(&ee);
    let body = json!({
        "expression": expression(mosaic(load(truth::tctrend_ids()[0]))),
        "fileFormat": "NPY",
        "grid": grid(20.0, 70.0, 2, 2, RES30),
    });
    assert_eq!(compute(&ee, Some(&t), &body).status, 200);
    let base = ee.url();
    let list: Value = http()
        .get(format!("{base}__geocube/requests"))
        .send()
        .map(json_of)
        .expect("requests");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["width"], 2);
    assert_eq!(list[0]["collection"], truth::tctrend_ids()[0]);
    let changed: Value = http()
        .post(format!("{base}__geocube/options"))
        .body(r#"{"fail_fraction": 1.0, "stall_delay_s": null}"#)
        .send()
        .map(json_of)
        .expect("options");
    assert_eq!(changed["fail_fraction"], 1.0);
    assert_eq!(ee.options().fail_fraction, 1.0);
    assert!(compute(&ee, Some(&t), &body).status >= 500);
    let reset = http()
        .post(format!("{base}__geocube/reset"))
        .send()
        .expect("reset");
    assert_eq!(reset.status().as_u16(), 200);
    assert!(ee.requests().is_empty());
    assert_eq!(ee.counts().compute_requests, 0);
    let key: Value = http()
        .get(format!("{base}__geocube/key"))
        .send()
        .map(json_of)
        .expect("key");
    assert_eq!(key["token_uri"], ee.token_uri());
}
