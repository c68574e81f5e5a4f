//! Earth Engine credentials: a service-account key (an RS256 JWT exchanged
//! for an access token, RFC 7523) or an access token given as it is.
//!
//! The token is cached and refreshed a minute before it expires, or at
//! once after the API refused it (HTTP 401), by one caller at a time: the
//! others wait for the new token rather than each asking for one.
//!
//! RSA signing uses `aws-lc-rs`, which the S3 client and rustls already
//! build, so service-account auth adds no crate to the build.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::http::HttpClient;

/// OAuth scopes asked for: Earth Engine's, and Cloud Platform's, which
/// `computePixels` also accepts and which covers the project's quota.
pub const SCOPES: &str =
    "https://www.googleapis.com/auth/earthengine https://www.googleapis.com/auth/cloud-platform";

/// Google's token endpoint, when the key names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Refresh this long before the token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Lifetime of the JWT assertion (Google's maximum is one hour).
const ASSERTION_LIFETIME: u64 = 3600;

/// The fields of a service-account JSON key file that the flow needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// `service_account` for a usable key.
    #[serde(rename = "type", default)]
    pub key_type: String,
    /// The key's project: the default project of `computePixels` calls.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Id of the key, sent as the JWT's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// PEM of the PKCS#8 RSA private key.
    pub private_key: String,
    /// The account, the JWT's issuer.
    pub client_email: String,
    /// Where the JWT is exchanged for a token.
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Read a JSON key file.
    ///
    /// # Errors
    /// [`Error::Auth`] when the file cannot be read or is not a
    /// service-account key with a usable RSA key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Auth {
            reason: format!("cannot read the key file {}: {e}", path.display()),
        })?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Auth { reason } => Error::Auth {
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    /// Parse a JSON key.
    ///
    /// # Errors
    /// [`Error::Auth`] as [`ServiceAccountKey::from_file`].
    pub fn from_json(text: &str) -> Result<Self> {
        let key: Self = serde_json::from_str(text).map_err(|e| Error::Auth {
            reason: format!("not a service-account JSON key: {e}"),
        })?;
        if key.key_type != "service_account" {
            return Err(Error::Auth {
                reason: format!(
                    "the key's type is `{}`, not `service_account` (user credentials from `earthengine authenticate` are not supported: pass an access token instead)",
                    key.key_type
                ),
            });
        }
        key.key_pair()?;
        Ok(key)
    }

    fn key_pair(&self) -> Result<RsaKeyPair> {
        let der = pem_body(&self.private_key, "PRIVATE KEY").ok_or_else(|| Error::Auth {
            reason: "`private_key` is not a PEM `PRIVATE KEY` block".into(),
        })?;
        RsaKeyPair::from_pkcs8(&der).map_err(|e| Error::Auth {
            reason: format!("`private_key` is not a PKCS#8 RSA key: {e}"),
        })
    }

    /// The token endpoint.
    #[must_use]
    pub fn token_uri(&self) -> &str {
        self.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI)
    }

    /// The signed JWT assertion for a token request issued at `now`
    /// (seconds since the epoch).
    ///
    /// # Errors
    /// [`Error::Auth`] when signing fails.
    pub fn assertion(&self, now: u64) -> Result<String> {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = Value::String(kid.clone());
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPES,
            "aud": self.token_uri(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let pair = self.key_pair()?;
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signing_input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| Error::Auth {
            reason: "RS256 signing failed".into(),
        })?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The body of a PEM block labelled `label`, decoded.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

/// How `computePixels` calls are authorised.
#[derive(Clone)]
pub enum EeCredentials {
    /// A service-account key: tokens are minted and refreshed from it.
    ServiceAccount(Box<ServiceAccountKey>),
    /// An OAuth access token, used until the API refuses it
    /// (`gcloud auth print-access-token`).
    AccessToken(String),
    /// None found: every request fails with [`Error::Auth`] saying why,
    /// while what needs no request (which chunks touch an area, reading
    /// the cube offline) works.
    Missing(String),
}

impl fmt::Debug for EeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServiceAccount(k) => f.debug_tuple("ServiceAccount").field(k).finish(),
            Self::AccessToken(_) => f.write_str("AccessToken(..)"),
            Self::Missing(why) => f.debug_tuple("Missing").field(why).finish(),
        }
    }
}

impl EeCredentials {
    /// Credentials from the environment: `GOOGLE_APPLICATION_CREDENTIALS`
    /// (a service-account key file), else `GEOCUBE_EE_TOKEN` (an access
    /// token), else [`EeCredentials::Missing`].
    ///
    /// # Errors
    /// [`Error::Auth`] when the key file is unusable.
    pub fn from_env() -> Result<Self> {
        if let Some(path) =
            std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty())
        {
            return Ok(Self::ServiceAccount(Box::new(
                ServiceAccountKey::from_file(&PathBuf::from(path))?,
            )));
        }
        if let Ok(token) = std::env::var("GEOCUBE_EE_TOKEN")
            && !token.trim().is_empty()
        {
            return Ok(Self::AccessToken(token.trim().to_owned()));
        }
        Ok(Self::Missing(
            "no Earth Engine credentials: pass a service-account key (--ee-key, ee_key=) or set GOOGLE_APPLICATION_CREDENTIALS, or pass an access token (--ee-token, ee_token=, GEOCUBE_EE_TOKEN)".into(),
        ))
    }

    /// The project of the key, if any.
    #[must_use]
    pub fn project(&self) -> Option<&str> {
        match self {
            Self::ServiceAccount(k) => k.project_id.as_deref(),
            Self::AccessToken(_) | Self::Missing(_) => None,
        }
    }
}

/// A cached token and when it stops being usable.
struct Cached {
    token: String,
    refresh_at: Instant,
}

/// Hands out access tokens, minting and caching them as needed.
pub(crate) struct TokenSource {
    credentials: EeCredentials,
    http: HttpClient,
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(credentials: EeCredentials, http: HttpClient) -> Self {
        Self {
            credentials,
            http,
            cached: Mutex::new(None),
        }
    }

    /// A token valid for at least a minute more.
    ///
    /// # Errors
    /// [`Error::Auth`] when the token endpoint refuses the key; HTTP errors.
    pub(crate) fn token(&self) -> Result<String> {
        let key = match &self.credentials {
            EeCredentials::AccessToken(t) => return Ok(t.clone()),
            EeCredentials::Missing(why) => {
                return Err(Error::Auth {
                    reason: why.clone(),
                });
            }
            EeCredentials::ServiceAccount(k) => k,
        };
        // Held while minting: one request for everyone waiting.
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let minted = self.mint(key)?;
        let token = minted.token.clone();
        *cached = Some(minted);
        Ok(token)
    }

    /// Forget `token` after the API refused it, so the next call mints a
    /// new one. Whether another token can help is for the caller to say:
    /// a given access token cannot be renewed.
    pub(crate) fn refused(&self, token: &str) -> bool {
        if !matches!(self.credentials, EeCredentials::ServiceAccount(_)) {
            return false;
        }
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
        true
    }

    fn mint(&self, key: &ServiceAccountKey) -> Result<Cached> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let assertion = key.assertion(now)?;
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let asked = Instant::now();
        let url = key.token_uri();
        let reply = self
            .http
            .post_form(url, body.into_bytes())
            .map_err(|e| match e {
                Error::Http {
                    status: 400 | 401 | 403,
                    message,
                    ..
                } => Error::Auth {
                    reason: format!(
                        "the token endpoint {url} refused the key of {}: {}",
                        key.client_email,
                        oauth_error(&message)
                    ),
                },
                other => other,
            })?;
        let token = reply
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Auth {
                reason: format!("the token endpoint {url} answered without an access_token"),
            })?
            .to_owned();
        let lifetime = reply
            .get("expires_in")
            .and_then(Value::as_u64)
            .map_or(Duration::from_secs(3600), Duration::from_secs);
        // A minute early, or a quarter of a short lifetime early.
        let margin = REFRESH_MARGIN.min(lifetime / 4);
        Ok(Cached {
            token,
            refresh_at: asked + lifetime.saturating_sub(margin),
        })
    }
}

/// `error: error_description` of an OAuth error reply, else the reply.
fn oauth_error(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?.as_str()?.to_owned();
            Some(match v.get("error_description").and_then(Value::as_str) {
                Some(d) => format!("{e}: {d}"),
                None => e,
            })
        })
        .unwrap_or_else(|| body.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_service_account_key() {
        for (text, want) in [
            ("{", "not a service-account"),
            (
                r#"{"type": "authorized_user", "private_key": "", "client_email": "a@b"}"#,
                "access token",
            ),
            (
                r#"{"type": "service_account", "private_key": "nope", "client_email": "a@b"}"#,
                "PEM",
            ),
            (
                "{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\", \"client_email\": \"a@b\"}",
                "PKCS#8",
            ),
        ] {
            let e = ServiceAccountKey::from_json(text).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn oauth_errors_read() {
        assert_eq!(
            oauth_error(
                r#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#
            ),
            "invalid_grant: Invalid JWT Signature."
        );
        assert_eq!(oauth_error("gateway down"), "gateway down");
    }
}
