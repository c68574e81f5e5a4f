//! Where a COG's bytes come from: a [`ByteSource`] gives random access to a
//! file over HTTP range requests, on the local disk or in memory.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::http::{HttpClient, RangeBytes};

/// Random access to the bytes of a file, wherever it is.
pub trait ByteSource: Send + Sync {
    /// A name for messages (URL or path).
    fn name(&self) -> &str;

    /// Up to `len` bytes from `start`; fewer only where the file ends.
    ///
    /// # Errors
    /// Transport or I/O failures.
    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes>;
}

/// A file on an HTTP server, read with range requests.
#[derive(Clone, Debug)]
pub struct HttpByteSource {
    client: HttpClient,
    url: String,
}

impl HttpByteSource {
    /// The file at `url`.
    pub fn new(client: HttpClient, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl ByteSource for HttpByteSource {
    fn name(&self) -> &str {
        &self.url
    }

    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes> {
        self.client.get_range(&self.url, start, len)
    }
}

/// A local file.
#[derive(Clone, Debug)]
pub struct FileByteSource {
    path: PathBuf,
    name: String,
}

impl FileByteSource {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            name: path.display().to_string(),
            path,
        }
    }
}

impl ByteSource for FileByteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes> {
        let mut f = std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let total = f.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        f.seek(SeekFrom::Start(start.min(total)))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut bytes = Vec::new();
        f.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(RangeBytes {
            bytes,
            total: Some(total),
        })
    }
}

/// A file held in memory.
#[derive(Clone, Debug)]
pub struct MemoryByteSource {
    name: String,
    bytes: Arc<[u8]>,
}

impl MemoryByteSource {
    /// `bytes`, called `name` in messages.
    pub fn new(name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        Self {
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

impl ByteSource for MemoryByteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_range(&self, start: u64, len: u64) -> Result<RangeBytes> {
        let total = self.bytes.len();
        let lo = usize::try_from(start).unwrap_or(usize::MAX).min(total);
        let hi = usize::try_from(start.saturating_add(len))
            .unwrap_or(usize::MAX)
            .min(total);
        Ok(RangeBytes {
            bytes: self.bytes[lo..hi].to_vec(),
            total: Some(total as u64),
        })
    }
}
