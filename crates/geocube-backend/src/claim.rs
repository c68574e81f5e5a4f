//! Cross-process (and cross-machine) patch claims.
//!
//! Before downloading a patch, a backend claims it and holds the claim until
//! the patch is committed (or has failed). Another process that wants the
//! same patch waits on the claim, then finds the id in `loaded_patches` and
//! skips the download.
//!
//! - Local repositories: an exclusive advisory lock on
//!   `<repo>/.geocube-claims/<id>.lock`. The OS drops the lock if the holder
//!   dies, so a crashed process never blocks others.
//! - S3: an object `<prefix>/geocube-claims/<id>.json` made with a
//!   conditional create, renewed while held and deleted after the commit;
//!   one whose holder died expires after [`BackendConfig::claim_lease`] and
//!   is taken over atomically (`geocube_core::PatchClaimObject`).
//! - Other storage (in memory): no claim; at worst a patch is downloaded
//!   twice and written once.
//!
//! [`BackendConfig::claim_lease`]: crate::BackendConfig::claim_lease

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::PathBuf;

use geocube_core::CubeStorage;

use crate::{Error, Result};

/// Directory (inside a local repository) holding claim files.
pub const CLAIMS_DIR: &str = ".geocube-claims";

/// A held claim; released on drop.
#[derive(Debug)]
pub(crate) enum PatchClaim {
    /// A locked claim file of a local repository.
    File(File),
    /// A claim object in a bucket (renewed by its own thread, deleted on drop).
    Object(#[allow(dead_code)] geocube_core::PatchClaimObject),
}

impl Drop for PatchClaim {
    fn drop(&mut self) {
        if let Self::File(file) = self {
            let _ = file.unlock();
        }
    }
}

/// The claim file of patch `id` (the escaping S3 claim objects use too).
fn file_name(id: &str) -> String {
    format!("{}.lock", geocube_core::cube::claim_stem(id))
}

/// Fail with [`Error::ReadOnly`] unless a local repository takes writes:
/// checked before a submit downloads anything, so a read-only cube costs no
/// download and says what it is (its claims would fail first, one per patch).
pub(crate) fn check_writable(storage: &CubeStorage) -> Result<()> {
    let CubeStorage::Local(repo) = storage else {
        return Ok(());
    };
    let dir = repo.join(CLAIMS_DIR);
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    let tried = std::fs::create_dir_all(&dir).and_then(|()| {
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&probe)
            .map(drop)
    });
    let _ = std::fs::remove_file(&probe);
    match tried {
        Ok(()) => Ok(()),
        Err(source)
            if matches!(
                source.kind(),
                ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied
            ) =>
        {
            Err(Error::ReadOnly {
                location: storage.to_string(),
                source,
            })
        }
        Err(source) => Err(geocube_core::Error::Io {
            path: probe,
            source,
        }
        .into()),
    }
}

/// Claim patch `id`, blocking while another thread or process holds it
/// (on S3 until the holder releases it, or its claim expired after `lease`;
/// `None` once `cancel` is set). `None` for storage without claims. Once it
/// holds the claim, the caller re-checks `loaded_patches`: the patch may have
/// been committed meanwhile.
pub(crate) fn claim(
    storage: &CubeStorage,
    id: &str,
    lease: std::time::Duration,
    cancel: &geocube_core::CancelToken,
) -> Result<Option<PatchClaim>> {
    if storage.s3_location().is_some() {
        return Ok(storage
            .claim_object(id, lease, cancel)?
            .map(PatchClaim::Object));
    }
    let CubeStorage::Local(repo) = storage else {
        return Ok(None);
    };
    let dir = repo.join(CLAIMS_DIR);
    let path: PathBuf = dir.join(file_name(id));
    let io = |source| geocube_core::Error::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    Ok(Some(PatchClaim::File(file)))
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(file_name("36_24_32m_v4.1"), "36_24_32m_v4.1.lock");
        assert_eq!(file_name("a/b"), "a%2Fb.lock");
        assert_ne!(file_name("a/b"), file_name("a%2Fb"));
    }
}
