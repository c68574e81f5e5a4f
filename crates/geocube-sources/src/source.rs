//! This crate's sources as [`geocube_core::Source`]s.
//!
//! The contract lives in `geocube-core`; each source here also has inherent
//! methods of the same names that return this crate's typed
//! [`Error`](crate::Error), so a caller holding a concrete
//! [`StacSource`](crate::StacSource) or
//! [`ArcticDem`](crate::datasets::arcticdem::ArcticDem) can match on it.
//! The trait methods wrap it: a [`SourceError`](geocube_core::SourceError)
//! that downcasts back to [`Error`](crate::Error), or a
//! [`DownloadError`](geocube_core::DownloadError) that keeps
//! [`Error::is_retryable`](crate::Error::is_retryable).

/// Implement [`geocube_core::Source`] for a type by delegating to its
/// inherent `spec`, `touching_patches`, `download`, `download_streaming`, `patch_refs`,
/// `touching_patches_offline` and `patch_refs_offline`.
macro_rules! impl_source {
    ($ty:ty) => {
        impl geocube_core::Source for $ty {
            fn spec(&self) -> &geocube_core::CubeSpec {
                <$ty>::spec(self)
            }

            fn touching_patches(
                &self,
                aoi: &geocube_core::Aoi,
                toi: &geocube_core::Toi,
            ) -> std::result::Result<Vec<geocube_core::PatchRef>, geocube_core::SourceError> {
                <$ty>::touching_patches(self, aoi, toi).map_err(geocube_core::SourceError::new)
            }

            fn download(
                &self,
                patch: &geocube_core::PatchRef,
            ) -> std::result::Result<geocube_core::Patch, geocube_core::DownloadError> {
                Ok(<$ty>::download(self, patch)?)
            }

            fn download_streaming(
                &self,
                patch: &geocube_core::PatchRef,
                max_whole_bytes: u64,
                sink: &mut geocube_core::PieceSink<'_>,
            ) -> std::result::Result<geocube_core::Streamed, geocube_core::DownloadError> {
                <$ty>::download_streaming(self, patch, max_whole_bytes, sink)
            }

            fn patch_refs(
                &self,
                ids: &[String],
            ) -> std::result::Result<Vec<geocube_core::PatchRef>, geocube_core::SourceError> {
                <$ty>::patch_refs(self, ids).map_err(geocube_core::SourceError::new)
            }

            fn touching_patches_offline(
                &self,
                aoi: &geocube_core::Aoi,
                toi: &geocube_core::Toi,
            ) -> std::result::Result<Vec<geocube_core::PatchRef>, geocube_core::SourceError> {
                <$ty>::touching_patches_offline(self, aoi, toi)
                    .map_err(geocube_core::SourceError::new)
            }

            fn patch_refs_offline(
                &self,
                ids: &[String],
            ) -> std::result::Result<Vec<geocube_core::PatchRef>, geocube_core::SourceError> {
                <$ty>::patch_refs_offline(self, ids).map_err(geocube_core::SourceError::new)
            }
        }
    };
}

pub(crate) use impl_source;
