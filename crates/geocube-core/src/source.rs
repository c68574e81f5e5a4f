//! The source contract: what a dataset must offer to fill a cube.
//!
//! A [`Source`] says which source patches touch an area and time
//! ([`Source::touching_patches`], smart-geocubes' `adjacent_patches`) and
//! downloads one of them onto the cube grid ([`Source::download`]). The
//! backends of `geocube-backend` only see the download function
//! ([`DownloadFn`]); the sources of `geocube-sources` implement the trait.
//! Both sit on this module, so neither depends on the other.
//!
//! Offline, an accessor asks [`Source::touching_patches_offline`] and
//! [`Source::patch_refs_offline`] instead: the same answers from what is on
//! this machine, never a request. A source must opt in to them (the defaults
//! refuse), so a source written before they existed cannot go online behind
//! an offline caller's back.
//!
//! Failures are typed at the seam: a download fails with a
//! [`DownloadError`] that says whether a retry may help (the backend
//! retries it under a [`RetryPolicy`](crate::retry::RetryPolicy)); an index
//! query fails with a [`SourceError`] that carries the source's own error,
//! which the caller can take back with [`SourceError::downcast`].

use std::sync::Arc;

use crate::{Aoi, CubeSpec, Patch, PatchRef, Toi};

/// A remote dataset that fills a cube patch by patch.
///
/// Implementations are cheap to share between threads.
pub trait Source: Send + Sync + 'static {
    /// The cube this source fills: grid, time axis, channels, chunking, codec.
    fn spec(&self) -> &CubeSpec;

    /// Every source patch whose footprint touches `aoi` (any CRS) at `toi`.
    ///
    /// # Errors
    /// Index or API failures, an AOI that cannot be reprojected.
    #[doc(alias = "adjacent_patches")]
    fn touching_patches(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>, SourceError>;

    /// Download one patch, on the cube's pixel lattice, cropped to the cube.
    ///
    /// # Errors
    /// [`DownloadError`] saying whether a retry may help.
    fn download(&self, patch: &PatchRef) -> Result<Patch, DownloadError>;

    /// Download one patch, handing a patch larger than `max_whole_bytes` on
    /// the cube grid to `sink` in pieces instead of returning it whole.
    ///
    /// A piece is a [`Patch`] with the patch's id over any window of the
    /// patch on the cube lattice; the pieces together cover the patch once
    /// (best along the cube's chunks: each then touches one chunk, which the
    /// writer encodes as soon as the piece is merged). The caller records
    /// the id only after the last piece, so a failure halfway commits
    /// nothing. A piece handed over twice (a download retried from its
    /// start) is harmless. Memory then stays at a few chunks whatever the
    /// patch's size: ArcticDEM's 2 m tiles are 25000² px, 2.5 GB of float32.
    ///
    /// The default downloads the patch whole ([`Source::download`]).
    ///
    /// # Errors
    /// [`DownloadError`] saying whether a retry may help; an error returned
    /// by `sink` is passed through.
    fn download_streaming(
        &self,
        patch: &PatchRef,
        max_whole_bytes: u64,
        sink: &mut PieceSink<'_>,
    ) -> Result<Streamed, DownloadError> {
        let _ = (max_whole_bytes, sink);
        self.download(patch).map(Streamed::Whole)
    }

    /// The references (footprint in EPSG:4326, time) of the given patch
    /// ids, for `current_state`; ids the source does not know are left out.
    ///
    /// # Errors
    /// Index or API failures.
    fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>, SourceError>;

    /// [`Source::touching_patches`] from local data only: no network request,
    /// no file or directory created. An offline accessor calls this.
    ///
    /// A source whose index is local answers as `touching_patches` does; one
    /// whose index may have to be fetched answers when it is already here and
    /// fails with a typed error naming what is missing otherwise.
    ///
    /// # Errors
    /// The default refuses with [`crate::Error::Offline`]: a source that does
    /// not say it can work offline is assumed to need the network.
    fn touching_patches_offline(&self, aoi: &Aoi, toi: &Toi) -> Result<Vec<PatchRef>, SourceError> {
        let _ = (aoi, toi);
        Err(offline_unsupported(
            self.spec(),
            "list the patches of an area",
        ))
    }

    /// [`Source::patch_refs`] from local data only (see
    /// [`Source::touching_patches_offline`]).
    ///
    /// # Errors
    /// The default refuses with [`crate::Error::Offline`].
    fn patch_refs_offline(&self, ids: &[String]) -> Result<Vec<PatchRef>, SourceError> {
        let _ = ids;
        Err(offline_unsupported(self.spec(), "describe its patches"))
    }
}

fn offline_unsupported(spec: &CubeSpec, what: &str) -> SourceError {
    SourceError::new(crate::Error::Offline {
        reason: format!(
            "the source of `{}` cannot {what} without the network",
            spec.title
        ),
    })
}

/// The download function a backend calls: a [`Source::download`].
pub type DownloadFn = Arc<dyn Fn(&PatchRef) -> Result<Patch, DownloadError> + Send + Sync>;

/// The download function of a source.
#[must_use]
pub fn download_fn<S: Source + ?Sized>(source: Arc<S>) -> DownloadFn {
    Arc::new(move |patch| source.download(patch))
}

/// Where [`Source::download_streaming`] hands over the pieces of a patch.
pub type PieceSink<'a> = dyn FnMut(Patch) -> Result<(), DownloadError> + 'a;

/// What [`Source::download_streaming`] did.
#[derive(Debug)]
pub enum Streamed {
    /// The patch, whole: it fits `max_whole_bytes` (or the source cannot
    /// cut it).
    Whole(Patch),
    /// Every piece went to the sink.
    Pieces,
}

/// The streaming download function a backend calls for patches that may
/// not fit in memory: a [`Source::download_streaming`].
pub type StreamingDownloadFn = Arc<
    dyn Fn(&PatchRef, u64, &mut PieceSink<'_>) -> Result<Streamed, DownloadError> + Send + Sync,
>;

/// The streaming download function of a source.
#[must_use]
pub fn streaming_download_fn<S: Source + ?Sized>(source: Arc<S>) -> StreamingDownloadFn {
    Arc::new(move |patch, max_whole_bytes, sink| {
        source.download_streaming(patch, max_whole_bytes, sink)
    })
}

/// A failed download, saying whether trying again may help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DownloadError {
    /// Whether a retry may succeed (timeouts, 5xx, truncated bodies).
    pub retryable: bool,
    /// What went wrong.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DownloadError {
    /// A transient failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
            source: None,
        }
    }

    /// A permanent failure (404, malformed data, wrong grid).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

/// A failed index query ([`Source::touching_patches`], [`Source::patch_refs`]).
///
/// It is the source's own error, boxed: its message and cause chain are the
/// source's, and [`SourceError::downcast`] gives the typed error back (the
/// `geocube` accessor turns `geocube-sources` and core errors back into its
/// own variants that way).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SourceError(Box<dyn std::error::Error + Send + Sync>);

impl SourceError {
    /// Wrap a source's error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }

    /// The source's error, if it is an `E`.
    ///
    /// # Errors
    /// `self`, unchanged, when it holds another type.
    pub fn downcast<E: std::error::Error + 'static>(self) -> Result<E, Self> {
        self.0.downcast::<E>().map(|e| *e).map_err(Self)
    }

    /// A reference to the source's error, if it is an `E`.
    #[must_use]
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }
}

impl From<crate::Error> for SourceError {
    fn from(e: crate::Error) -> Self {
        Self::new(e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn source_error_keeps_the_typed_error() {
        let e = SourceError::from(crate::Error::InvalidAoi("empty".into()));
        assert_eq!(e.to_string(), "invalid area of interest: empty");
        assert!(e.downcast_ref::<crate::Error>().is_some());
        let back = e.downcast::<std::io::Error>().unwrap_err();
        assert!(matches!(
            back.downcast::<crate::Error>().unwrap(),
            crate::Error::InvalidAoi(_)
        ));
    }
}
