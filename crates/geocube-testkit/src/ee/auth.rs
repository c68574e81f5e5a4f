//! Service-account OAuth as Google runs it: the JSON key the emulator
//! hands out, the JWT-bearer grant (RFC 7523) at `POST /token`, and the
//! access tokens it mints and later checks.
//!
//! The grant is verified as Google does: an RS256 JWT signed with the
//! key's private half (checked against `data/ee-test-key.pub.pem`),
//! issued by the key's `client_email`, for Google's token endpoint (what
//! google-auth puts in `aud` whatever the key's `token_uri`) or this
//! emulator's, short-lived (`exp - iat` ≤ 1 h, `iat` at most 60 s ahead,
//! `exp` in the future) and with an Earth Engine or Cloud Platform scope.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde_json::{Value, json};

/// The PKCS#8 PEM of the test key, the key file's `private_key`.
pub(crate) const PRIVATE_KEY_PEM: &str = include_str!("../../data/ee-test-key.pem");
/// Its public half, which grants are checked against.
const PUBLIC_KEY_PEM: &str = include_str!("../../data/ee-test-key.pub.pem");
/// The key's `client_email`, the only issuer accepted.
pub const CLIENT_EMAIL: &str = "geocube-emulator@geocube-emulator.iam.gserviceaccount.com";
/// The key's `private_key_id` (a JWT's `kid`, when it has one, must match).
pub const PRIVATE_KEY_ID: &str = "9e3f7c1a5b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f";
/// The key's `project_id`.
pub const PROJECT_ID: &str = "geocube-emulator";
/// Google's token endpoint: the `aud` google-auth signs.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Scopes that allow computePixels (earthengine, cloud-platform and their
/// read-only forms).
const SCOPES: [&str; 4] = [
    "https://www.googleapis.com/auth/earthengine",
    "https://www.googleapis.com/auth/earthengine.readonly",
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/cloud-platform.read-only",
];
/// RFC 7523's grant type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How far in the future `iat` may be (clock skew).
const MAX_SKEW_S: f64 = 60.0;
/// Longest `exp - iat` Google accepts.
const MAX_LIFETIME_S: f64 = 3600.0;
/// Google's description of a JWT outside its time rules.
const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                         reasonable timeframe. Check your iat and exp values in the JWT claim.";

/// base64url, with or without padding (RFC 7515 says without; be lenient
/// as Google is).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A refused grant: the OAuth `error` code and Google's description.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GrantError {
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

fn invalid_grant(description: impl Into<String>) -> GrantError {
    GrantError {
        error: "invalid_grant",
        description: description.into(),
    }
}

/// The service-account key file for an emulator whose token endpoint is
/// `token_uri`: every field of a real key, `private_key` the test key.
pub(crate) fn key_json(token_uri: &str) -> String {
    let key = json!({
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": PRIVATE_KEY_PEM,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{}",
            CLIENT_EMAIL.replace('@', "%40")
        ),
        "universe_domain": "googleapis.com",
    });
    serde_json::to_string_pretty(&key).unwrap_or_else(|_| key.to_string())
}

/// The DER inside a PEM block.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(b64).ok()
}

fn decode_json(part: &str, what: &str) -> Result<serde_json::Map<String, Value>, GrantError> {
    let bytes = BASE64URL
        .decode(part)
        .map_err(|_| invalid_grant(format!("Invalid JWT: the {what} is not base64url.")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid_grant(format!(
            "Invalid JWT: the {what} is not a JSON object."
        ))),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Checks a token request's form (`grant_type`, `assertion`) for an
/// emulator at `token_uri`, at time `now` (Unix seconds).
pub(crate) fn verify_grant(
    form: &[(String, String)],
    token_uri: &str,
    now: f64,
) -> Result<(), GrantError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match get("grant_type") {
        Some(JWT_BEARER) => {}
        Some(other) => {
            return Err(GrantError {
                error: "unsupported_grant_type",
                description: format!("Invalid grant_type: {other}"),
            });
        }
        None => {
            return Err(GrantError {
                error: "invalid_request",
                description: "Missing required parameter: grant_type".into(),
            });
        }
    }
    let assertion = get("assertion").ok_or_else(|| GrantError {
        error: "invalid_request",
        description: "Missing required parameter: assertion".into(),
    })?;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else {
        return Err(invalid_grant(
            "Invalid JWT: the assertion must have three base64url parts separated by dots.",
        ));
    };
    let header = decode_json(header_b64, "header")?;
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {}
        Some(alg) => {
            return Err(invalid_grant(format!(
                "Invalid JWT: signing algorithm '{alg}' is not accepted; use RS256."
            )));
        }
        None => return Err(invalid_grant("Invalid JWT: the header has no alg.")),
    }
    if let Some(kid) = header.get("kid")
        && kid.as_str() != Some(PRIVATE_KEY_ID)
    {
        // A key id that is not this account's key: no key to check with.
        return Err(invalid_grant("Invalid JWT Signature."));
    }
    let signature = BASE64URL
        .decode(signature_b64)
        .map_err(|_| invalid_grant("Invalid JWT Signature."))?;
    let public = pem_der(PUBLIC_KEY_PEM).ok_or_else(|| invalid_grant("Invalid JWT Signature."))?;
    let signed = &assertion[..header_b64.len() + 1 + claims_b64.len()];
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| invalid_grant("Invalid JWT Signature."))?;
    let claims = decode_json(claims_b64, "claim set")?;
    if claims.get("iss").and_then(Value::as_str) != Some(CLIENT_EMAIL) {
        return Err(invalid_grant("Invalid grant: account not found"));
    }
    let aud = claims.get("aud").and_then(Value::as_str);
    if aud != Some(GOOGLE_TOKEN_URI) && aud != Some(token_uri) {
        return Err(invalid_grant(format!(
            "Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URI} \
             (or {token_uri})."
        )));
    }
    let time = |k: &str| claims.get(k).and_then(Value::as_f64);
    let (Some(iat), Some(exp)) = (time("iat"), time("exp")) else {
        return Err(invalid_grant(TIMEFRAME));
    };
    if iat > now + MAX_SKEW_S || exp <= now || exp - iat > MAX_LIFETIME_S || exp < iat {
        return Err(invalid_grant(TIMEFRAME));
    }
    let scope = claims.get("scope").and_then(Value::as_str).unwrap_or("");
    if !scope.split_whitespace().any(|s| SCOPES.contains(&s)) {
        return Err(GrantError {
            error: "invalid_scope",
            description: "Invalid OAuth scope or ID token audience provided.".into(),
        });
    }
    Ok(())
}

/// The access tokens minted so far and when each expires.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    minted: u64,
    expiry: HashMap<String, Instant>,
}

/// What an `Authorization` header amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid,
    Expired,
    Unknown,
}

impl Tokens {
    /// A new token `ya29.emu-<n>` valid for `lifetime`.
    pub(crate) fn mint(&mut self, lifetime: Duration) -> String {
        self.minted += 1;
        let token = format!("ya29.emu-{}", self.minted);
        self.expiry.insert(token.clone(), Instant::now() + lifetime);
        token
    }

    /// Checks an `Authorization` header value (`Bearer <token>`).
    pub(crate) fn check(&self, authorization: Option<&str>) -> TokenCheck {
        let token = authorization.and_then(|a| {
            let (scheme, token) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        match token.and_then(|t| self.expiry.get(t)) {
            None => TokenCheck::Unknown,
            Some(&expiry) if Instant::now() < expiry => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
        }
    }
}
