//! Splitting one chunk's download into `computePixels` requests that stay
//! under the API's documented limits.
//!
//! Earth Engine refuses (HTTP 400) a request whose uncompressed reply
//! exceeds 48 MiB, whose grid is wider or taller than 32768 px, or that
//! asks for more than 1024 bands. Xee counts the reply as every band's
//! bytes plus one mask byte per pixel; so do we, to stay on the safe side
//! of the server's own count. A chunk is cut into the fewest strips of
//! whole rows (whole columns only when a row alone is too large) of nearly
//! equal height, each asking for as many bands as fit.

use std::ops::Range;

use geocube_core::Window;

/// The limits a request must stay under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Largest uncompressed reply, bands plus one mask byte per pixel
    /// (default 48 MiB).
    pub max_bytes: u64,
    /// Largest grid width or height in pixels (default 32768).
    pub max_side: usize,
    /// Most bands per request (default 1024).
    pub max_bands: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_bytes: 48 << 20,
            max_side: 32_768,
            max_bands: 1024,
        }
    }
}

impl RequestLimits {
    /// Bytes a request for `pixels` pixels of bands of `band_sizes` bytes
    /// counts against [`RequestLimits::max_bytes`].
    #[must_use]
    pub fn request_bytes(pixels: u64, band_sizes: &[usize]) -> u64 {
        let per_pixel: u64 = band_sizes.iter().map(|&s| s as u64).sum::<u64>() + 1;
        pixels.saturating_mul(per_pixel)
    }
}

/// One request of a plan: a window of the chunk and a run of its bands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRequest {
    /// Pixels, relative to the chunk's own origin.
    pub window: Window,
    /// Indices into the chunk's band list.
    pub bands: Range<usize>,
}

/// The requests that fetch a `height` × `width` chunk of bands whose
/// element sizes are `band_sizes`, each within `limits`, together covering
/// every pixel of every band exactly once.
///
/// # Errors
/// A message when one pixel of one band alone exceeds the limits (a
/// `max_bytes` below a few bytes), which no plan can satisfy.
pub fn plan(
    height: usize,
    width: usize,
    band_sizes: &[usize],
    limits: RequestLimits,
) -> Result<Vec<PlannedRequest>, String> {
    if height == 0 || width == 0 || band_sizes.is_empty() {
        return Ok(Vec::new());
    }
    let max_side = limits.max_side.max(1);
    let max_bands = limits.max_bands.max(1);
    let mut out = Vec::new();
    // Band groups: as many consecutive bands as the band limit allows and as
    // a single pixel's bytes allow.
    let mut start = 0;
    while start < band_sizes.len() {
        let mut end = start;
        while end < band_sizes.len()
            && end - start < max_bands
            && RequestLimits::request_bytes(1, &band_sizes[start..=end]) <= limits.max_bytes
        {
            end += 1;
        }
        if end == start {
            return Err(format!(
                "one pixel of band {start} ({} bytes with its mask byte) exceeds the {}-byte request limit",
                band_sizes[start] + 1,
                limits.max_bytes
            ));
        }
        let group = &band_sizes[start..end];
        let per_pixel = RequestLimits::request_bytes(1, group);
        let max_pixels = usize::try_from(limits.max_bytes / per_pixel).unwrap_or(usize::MAX);
        // Columns per strip: the whole width when a row fits, else as wide
        // as allowed, in even parts.
        let cols_max = width.min(max_side).min(max_pixels);
        let col_parts = width.div_ceil(cols_max);
        let cols = width.div_ceil(col_parts);
        let rows_max = (max_pixels / cols).clamp(1, max_side);
        let row_parts = height.div_ceil(rows_max);
        let rows = height.div_ceil(row_parts);
        for r in (0..height).step_by(rows) {
            for c in (0..width).step_by(cols) {
                out.push(PlannedRequest {
                    window: Window::new(r, c, rows.min(height - r), cols.min(width - c)),
                    bands: start..end,
                });
            }
        }
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reference_chunks() {
        let limits = RequestLimits::default();
        // TCTrend: 3600² of 3 × u8 (+ mask) = 51.8 MB: two strips.
        let p = plan(3600, 3600, &[1, 1, 1], limits).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].window, Window::new(0, 0, 1800, 3600));
        // AlphaEarth: 3600² of 64 × f32 (+ mask) = 257 B/px, 48 MiB: 67 strips of ≤ 54 rows.
        let p = plan(3600, 3600, &[4; 64], limits).unwrap();
        assert_eq!(p.len(), 67);
        assert!(
            p.iter()
                .all(|r| r.bands == (0..64) && r.window.height <= 54)
        );
    }

    proptest! {
        #[test]
        fn every_pixel_and_band_once_within_limits(
            height in 1usize..300,
            width in 1usize..300,
            sizes in prop::collection::vec(prop::sample::select(vec![1usize, 2, 4, 8]), 1..12),
            max_bytes in 9u64..200_000,
            max_side in 1usize..400,
            max_bands in 1usize..6,
        ) {
            let limits = RequestLimits { max_bytes, max_side, max_bands };
            let p = plan(height, width, &sizes, limits).unwrap();
            let mut seen = vec![0u8; height * width * sizes.len()];
            for r in &p {
                let w = r.window;
                prop_assert!(w.width <= max_side && w.height <= max_side);
                prop_assert!(r.bands.len() <= max_bands);
                let bytes = RequestLimits::request_bytes((w.width * w.height) as u64, &sizes[r.bands.clone()]);
                prop_assert!(bytes <= max_bytes, "{bytes} > {max_bytes}");
                for b in r.bands.clone() {
                    for y in w.row..w.row + w.height {
                        for x in w.col..w.col + w.width {
                            seen[(b * height + y) * width + x] += 1;
                        }
                    }
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
        }
    }
}
