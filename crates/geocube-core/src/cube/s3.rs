//! Cubes in an S3 bucket (or any S3-compatible server): where they live,
//! how geocube reaches them, and the claim objects that keep many machines
//! from downloading one patch twice.
//!
//! The repository is Icechunk's `object_store` S3 backend
//! (`icechunk::new_s3_object_store_storage`). Icechunk's conditional writes
//! (`If-None-Match: *` on create, `If-Match` on the `repo` object every
//! commit rewrites) make concurrent commits safe; a commit that lost the race
//! is re-applied on the new tip by [`StagedWrite`](super::StagedWrite).
//!
//! A second, small `object_store` client (same endpoint, region and
//! credentials, short timeouts, few retries) probes the location when the
//! storage is made — so an unknown bucket, refused connection or refused
//! credentials is a clear error within seconds rather than Icechunk's
//! retries — and holds the patch claims: `<prefix>/geocube-claims/<id>.json`,
//! created with `If-None-Match: *`, naming the owner and an expiry the holder
//! renews while it works, taken over with `If-Match` once expired, and
//! deleted after the commit (see [`PatchClaimObject`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    UpdateVersion,
};

use super::store::block_on;
use crate::cancel::CancelToken;
use crate::{Error, Result};

/// How geocube authenticates to S3.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum S3Credentials {
    /// The standard AWS variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, ...), as the AWS tools
    /// read them. The default.
    #[default]
    FromEnv,
    /// Given keys.
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Session token of temporary credentials.
        session_token: Option<String>,
    },
    /// Unsigned requests (public buckets; read-only in practice).
    Anonymous,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret.
        match self {
            Self::FromEnv => f.write_str("FromEnv"),
            Self::Static { access_key_id, .. } => write!(f, "Static({access_key_id}, ***)"),
            Self::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// Where an S3 cube lives and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix of the repository inside the bucket (no leading or
    /// trailing `/`; empty for the bucket's root).
    pub prefix: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); `None` for AWS
    /// (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// The region (`us-east-1`); `None` for `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// Credentials.
    pub credentials: S3Credentials,
    /// Allow plain `http://` endpoints (set by [`S3Location::endpoint`] for
    /// an `http://` URL).
    pub allow_http: bool,
}

impl S3Location {
    /// A location in `bucket` under `prefix`, for AWS with credentials from
    /// the environment.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_owned(),
            endpoint: std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|s| !s.is_empty()),
            region: None,
            credentials: S3Credentials::FromEnv,
            allow_http: false,
        }
        .with_http_from_endpoint()
    }

    /// Parse `s3://bucket/prefix`.
    ///
    /// # Errors
    /// [`Error::InvalidStorage`] for anything else.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidStorage {
            location: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("an S3 location is s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(invalid(
                "the bucket name must be 3 to 63 lowercase letters, digits, `-` or `.`",
            ));
        }
        Ok(Self::new(bucket, prefix))
    }

    /// Use the S3-compatible server at `url` (plain `http://` is then allowed).
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self.with_http_from_endpoint()
    }

    /// Use `region`.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Use `credentials`.
    #[must_use]
    pub fn credentials(mut self, credentials: S3Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    fn with_http_from_endpoint(mut self) -> Self {
        if self
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
        {
            self.allow_http = true;
        }
        self
    }

    /// `s3://bucket/prefix`.
    #[must_use]
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// How messages name it: the URL and, if not AWS, the endpoint.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{} (endpoint {e})", self.url()),
            None => self.url(),
        }
    }

    fn key(&self, rel: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// Icechunk's storage for the repository.
    pub(super) fn icechunk_storage(&self) -> Result<Arc<dyn icechunk::Storage + Send + Sync>> {
        let mut opts = icechunk::config::S3Options::default()
            .with_allow_http(self.allow_http)
            .with_force_path_style(true);
        if let Some(r) = &self.region {
            opts = opts.with_region(r.clone());
        }
        if let Some(e) = &self.endpoint {
            opts = opts.with_endpoint_url(e.clone());
        }
        let credentials = match &self.credentials {
            S3Credentials::FromEnv => icechunk::config::S3Credentials::FromEnv,
            S3Credentials::Anonymous => icechunk::config::S3Credentials::Anonymous,
            S3Credentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => icechunk::config::S3Credentials::Static(icechunk::config::S3StaticCredentials {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.clone(),
                expires_after: None,
            }),
        };
        let prefix = (!self.prefix.is_empty()).then(|| self.prefix.clone());
        block_on(icechunk::new_s3_object_store_storage(
            opts,
            self.bucket.clone(),
            prefix,
            Some(credentials),
            vec![],
            vec![],
        ))?
        .map_err(Error::icechunk)
    }

    /// geocube's own client: the probe and the claim objects.
    pub(super) fn object_store(&self) -> Result<Arc<dyn ObjectStore>> {
        let builder = match &self.credentials {
            S3Credentials::FromEnv => AmazonS3Builder::from_env(),
            S3Credentials::Anonymous => AmazonS3Builder::new().with_skip_signature(true),
            S3Credentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let b = AmazonS3Builder::new()
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key);
                match session_token {
                    Some(t) => b.with_token(t),
                    None => b,
                }
            }
        };
        let mut builder = builder
            .with_bucket_name(&self.bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(self.allow_http)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(30)),
            )
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            });
        if let Some(r) = &self.region {
            builder = builder.with_region(r);
        }
        if let Some(e) = &self.endpoint {
            builder = builder.with_endpoint(e);
        }
        let store = builder.build().map_err(|e| Error::InvalidStorage {
            location: self.describe(),
            reason: e.to_string(),
        })?;
        Ok(Arc::new(store))
    }

    /// Check the location answers: the bucket exists and the credentials are
    /// accepted (one listing of the prefix). Bounded: a 5 s connect timeout
    /// and two retries.
    pub(super) fn probe(&self, objects: &dyn ObjectStore) -> Result<()> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        match block_on(objects.list_with_delimiter(prefix.as_ref()))? {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Unreachable {
                location: self.describe(),
                reason: storage_reason(&e),
            }),
        }
    }
}

impl S3Location {
    /// The first object or folder directly under the prefix that is not
    /// geocube's claims: a prefix without an Icechunk repository but with
    /// this holds something else.
    pub(super) fn foreign_entry(&self, objects: &dyn ObjectStore) -> Result<Option<String>> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let listed = block_on(objects.list_with_delimiter(prefix.as_ref()))?.map_err(|e| {
            Error::Unreachable {
                location: self.describe(),
                reason: storage_reason(&e),
            }
        })?;
        let name = |p: &ObjectPath| p.filename().map(str::to_owned);
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(name)
            .chain(listed.objects.iter().filter_map(|o| name(&o.location)))
            // Icechunk's own entries are a repository being created by
            // another process, not something else.
            .find(|n| n != CLAIMS_PREFIX && !super::create::ICECHUNK_ENTRIES.contains(&n.as_str())))
    }
}

/// What an S3 failure means, for a person: a sentence, then the client's
/// error without the server's XML body (its `<Code>` kept).
fn storage_reason(e: &object_store::Error) -> String {
    let full = e.to_string();
    let text = match full.find("<?xml") {
        Some(at) => {
            let code = full
                .split("<Code>")
                .nth(1)
                .and_then(|c| c.split("</Code>").next())
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            format!("{}{code}", full[..at].trim_end().trim_end_matches(':'))
        }
        None => full.clone(),
    };
    let lower = full.to_ascii_lowercase();
    let hint = if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
        "the bucket does not exist"
    } else if lower.contains("accessdenied")
        || lower.contains("403")
        || lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
    {
        "access denied: check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the given keys)"
    } else if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("dns")
        || lower.contains("timed out")
    {
        "the endpoint does not answer (refused, unresolvable or timed out)"
    } else {
        "the request failed"
    };
    format!("{hint}: {text}")
}

/// Seconds since the Unix epoch, in milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A file or object name for any patch id: `[A-Za-z0-9._-]` kept, every
/// other byte hex-escaped (`a/b` → `a%2Fb`), so distinct ids get distinct
/// names. The claim files of local cubes and the claim objects of S3 cubes
/// are named with it.
#[must_use]
pub fn claim_stem(id: &str) -> String {
    let mut s = String::with_capacity(id.len() + 5);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The folder of claim objects under a cube's prefix. Icechunk ignores it
/// (and never collects it: it is not one of its own folders).
pub const CLAIMS_PREFIX: &str = "geocube-claims";

/// A process-unique owner name: host, process id and a random part.
fn owner() -> String {
    use std::sync::OnceLock;
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER
        .get_or_init(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "host".into());
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            format!("{host}:{}:{nanos:08x}", std::process::id())
        })
        .clone()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ClaimBody {
    owner: String,
    patch: String,
    /// Milliseconds since the epoch after which the claim may be taken over.
    expires_ms: u64,
}

/// A patch claim held as an object in the bucket: renewed in the background
/// while held, deleted on drop.
pub struct PatchClaimObject {
    stop: Option<crossbeam_stop::Stop>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for PatchClaimObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatchClaimObject").finish_non_exhaustive()
    }
}

/// A stop signal for the renewer thread (a mutex and condvar: no new dependency).
mod crossbeam_stop {
    use std::sync::{Arc, Condvar, Mutex, PoisonError};
    use std::time::Duration;

    #[derive(Clone, Default)]
    pub(super) struct Stop(Arc<(Mutex<bool>, Condvar)>);

    impl Stop {
        pub(super) fn stop(&self) {
            let (m, c) = &*self.0;
            *m.lock().unwrap_or_else(PoisonError::into_inner) = true;
            c.notify_all();
        }

        /// Wait up to `d`; `true` once stopped.
        pub(super) fn wait(&self, d: Duration) -> bool {
            let (m, c) = &*self.0;
            let guard = m.lock().unwrap_or_else(PoisonError::into_inner);
            let (guard, _) = c
                .wait_timeout_while(guard, d, |stopped| !*stopped)
                .unwrap_or_else(PoisonError::into_inner);
            *guard
        }
    }
}

impl Drop for PatchClaimObject {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            s.stop();
        }
        if let Some(h) = self.renewer.take() {
            let _ = h.join();
        }
    }
}

/// The claim of `id` under `location`: taken when free or expired, waited
/// for (polling every quarter to half second) while another holder keeps renewing
/// it. `lease` is how long a claim lives without renewal; the holder renews
/// every third of it. Waiting ends when `cancel` is set (`Ok(None)`).
///
/// # Errors
/// [`Error::Unreachable`] when the bucket cannot be written.
pub(super) fn acquire(
    location: &S3Location,
    objects: &Arc<dyn ObjectStore>,
    id: &str,
    lease: Duration,
    cancel: &CancelToken,
) -> Result<Option<PatchClaimObject>> {
    let key = location.key(&format!("{CLAIMS_PREFIX}/{}.json", claim_stem(id)));
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    let body = |expires_ms| -> Result<PutPayload> {
        let b = ClaimBody {
            owner: owner(),
            patch: id.to_owned(),
            expires_ms,
        };
        serde_json::to_vec(&b)
            .map(PutPayload::from)
            .map_err(Error::zarr)
    };
    let fail = |e: object_store::Error| Error::Unreachable {
        location: location.describe(),
        reason: format!("claim of patch `{id}`: {}", storage_reason(&e)),
    };
    let mut attempt: u64 = 0;
    let etag = loop {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let create = PutOptions::from(PutMode::Create);
        match block_on(objects.put_opts(&key, body(now_ms().saturating_add(lease_ms))?, create))? {
            Ok(put) => break put.e_tag,
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(e) => return Err(fail(e)),
        }
        // Held by someone: take it over if it expired.
        match block_on(objects.get(&key))? {
            Ok(got) => {
                let etag = got.meta.e_tag.clone();
                let bytes = block_on(got.bytes())?.map_err(fail)?;
                let expired = serde_json::from_slice::<ClaimBody>(&bytes)
                    // An unreadable claim is nobody's: take it over.
                    .map_or(true, |c| c.expires_ms < now_ms());
                if expired {
                    let update = PutOptions::from(PutMode::Update(UpdateVersion {
                        e_tag: etag,
                        version: None,
                    }));
                    match block_on(objects.put_opts(
                        &key,
                        body(now_ms().saturating_add(lease_ms))?,
                        update,
                    ))? {
                        Ok(put) => break put.e_tag,
                        Err(
                            object_store::Error::Precondition { .. }
                            | object_store::Error::NotFound { .. },
                        ) => {}
                        Err(e) => return Err(fail(e)),
                    }
                }
            }
            // Released between our create and this read: try again at once.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(fail(e)),
        }
        attempt += 1;
        // A quarter to half a second, jittered so waiters do not poll in
        // step: a waiter's load goes on soon after the holder's commit, for
        // one small GET per waiter and poll.
        let jitter = (now_ms() ^ attempt.wrapping_mul(0x9E37_79B9)) % 250;
        std::thread::sleep(Duration::from_millis(250 + jitter));
    };
    let stop = crossbeam_stop::Stop::default();
    let renewer = {
        let (stop, objects, key, id) = (stop.clone(), Arc::clone(objects), key, id.to_owned());
        std::thread::Builder::new()
            .name("geocube-claim".into())
            .spawn(move || renew(&objects, &key, &id, etag, lease, &stop))
            .map_err(|e| Error::Io {
                path: "geocube-claim thread".into(),
                source: e,
            })?
    };
    Ok(Some(PatchClaimObject {
        stop: Some(stop),
        renewer: Some(renewer),
    }))
}

/// Renew the claim every third of `lease` until stopped, then delete it
/// (only if it is still ours: a claim taken over after we lost it is left).
fn renew(
    objects: &Arc<dyn ObjectStore>,
    key: &ObjectPath,
    id: &str,
    mut etag: Option<String>,
    lease: Duration,
    stop: &crossbeam_stop::Stop,
) {
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    let mut ours = true;
    while !stop.wait(lease / 3) {
        if !ours {
            continue;
        }
        let body = ClaimBody {
            owner: owner(),
            patch: id.to_owned(),
            expires_ms: now_ms().saturating_add(lease_ms),
        };
        let Ok(bytes) = serde_json::to_vec(&body) else {
            continue;
        };
        let update = PutOptions::from(PutMode::Update(UpdateVersion {
            e_tag: etag.clone(),
            version: None,
        }));
        match block_on(objects.put_opts(key, PutPayload::from(bytes), update)) {
            Ok(Ok(put)) => etag = put.e_tag,
            // Taken over (we were too slow to renew): another process owns it now.
            Ok(Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            )) => {
                tracing::warn!(patch = id, "claim lost to another process after it expired");
                ours = false;
            }
            // A transient failure: the next renewal tries again.
            _ => {}
        }
    }
    if ours {
        // Released: delete it if it is still the version we wrote.
        let still_ours = matches!(
            block_on(objects.head(key)),
            Ok(Ok(meta)) if meta.e_tag == etag
        );
        if still_ours {
            let _ = block_on(objects.delete(key));
        }
    }
}
