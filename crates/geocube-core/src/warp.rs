//! Reprojection of a raster from one grid onto another: GDAL's warper as
//! ported by [`rwarp`] (approximate transformer, source windows, kernels),
//! driven by geocube's own CRS code ([`Crs`], pure-Rust proj4rs).
//!
//! Two callers: the STAC loader, which warps a source item (a UTM scene,
//! say) into each cube chunk it touches, and the accessor, which hands back
//! a loaded region on a grid the user asks for. Both follow what odc-geo /
//! odc-stac do with GDAL, so that results agree with theirs:
//!
//! - the approximate transformer with GDAL's error bound, 0.125 source
//!   pixels ([`DEFAULT_MAX_ERROR`]);
//! - fixed kernels (`XSCALE=1, YSCALE=1`, GDAL#7750): a bilinear or cubic
//!   kernel keeps its support when downsampling, so the result does not
//!   depend on how the destination is tiled; read a coarser overview
//!   instead ([`read_shrink`]);
//! - nodata taps dropped and the weights renormalised; NaN is always
//!   nodata; destination pixels with no value get the destination nodata
//!   (NaN for floats without one, the type's fill otherwise);
//! - integers rounded half up and clamped to the type; booleans warped as
//!   0/255 and thresholded at > 127;
//! - a geographic source has its longitudes wrapped around its centre (GDAL's
//!   `CENTER_LONG`), so a destination across 180° finds it.
//!
//! When both grids share a pixel lattice ([`shares_lattice`]) nothing is
//! resampled: callers copy pixels bit-exactly, as before.
//!
//! ```
//! use geocube_core::warp::{Resampling, WarpOptions, reproject};
//! use geocube_core::{Affine, Crs, GeoBox, TypedArray};
//! use ndarray::{ArrayD, IxDyn};
//!
//! // A 10 m UTM 7N raster holding a ramp, onto a 30 m EPSG:3413 grid.
//! let utm = Crs::from_epsg(32607)?;
//! let src = GeoBox::new(300, 300, Affine { x0: 500_000.0, res_x: 10.0, y0: 7_700_000.0, res_y: -10.0 }, utm)?;
//! let ramp = ArrayD::from_shape_fn(IxDyn(&[300, 300]), |i| (i[0] + i[1]) as f32);
//! let polar = Crs::from_epsg(3413)?;
//! let dst = GeoBox::from_bbox(src.bbox_in(&polar)?, polar, 30.0)?;
//! let out = reproject(&TypedArray::Float32(ramp), &src, None, &dst, None, &WarpOptions::new(Resampling::Bilinear))?;
//! assert_eq!(out.shape(), [dst.height(), dst.width()]);
//! # Ok::<(), geocube_core::Error>(())
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use rwarp::Transformer;
use rwarp::approx::ApproxTransformer;
use rwarp::transform::{CenterLong, GenImgProjTransformer, source_center_long};
use rwarp::warp::{
    DstNodata, KernelScaling, Nodata, ResampleAlg, Sample, SourceBuffer,
    WarpOptions as RwarpOptions,
};

use crate::crs::Crs;
use crate::dataset::{CubeElement, TypedArray};
use crate::error::{Error, Result};
use crate::grid::{GeoBox, Window};

/// GDAL's default error bound of the approximate transformer, in source
/// pixels (`gdalwarp -et 0.125`, what rasterio and odc-geo use).
pub const DEFAULT_MAX_ERROR: f64 = 0.125;

/// Destination rows warped per task: row bands of the full width, so the
/// approximate transformer sees the same scanlines as one whole warp (GDAL
/// interpolates along each destination scanline), and bands run in parallel.
const ROWS_PER_BAND: usize = 256;

/// A resampling kernel, named as rasterio and odc-geo name them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resampling {
    /// The source pixel the destination pixel centre falls in (odc's default).
    #[default]
    Nearest,
    /// 2 × 2 linear interpolation.
    Bilinear,
    /// 4 × 4 cubic convolution (Catmull-Rom, a = −0.5), GDAL's `cubic`.
    Cubic,
    /// 4 × 4 cubic B-spline (smooths rather than interpolates).
    CubicSpline,
    /// 6 × 6 windowed sinc.
    Lanczos,
    /// Area-weighted mean of the valid source pixels under the destination pixel.
    Average,
    /// The most common value (by covered area) under the destination pixel.
    Mode,
    /// The smallest valid value under the destination pixel.
    Min,
    /// The largest valid value under the destination pixel.
    Max,
    /// The median of the valid values under the destination pixel.
    Med,
    /// The first quartile of the valid values under the destination pixel.
    Q1,
    /// The third quartile of the valid values under the destination pixel.
    Q3,
    /// Root mean square, weighted like [`Resampling::Average`].
    Rms,
}

impl Resampling {
    /// Every kernel, in the order rasterio's `Resampling` enum lists them.
    pub const ALL: [Resampling; 13] = [
        Resampling::Nearest,
        Resampling::Bilinear,
        Resampling::Cubic,
        Resampling::CubicSpline,
        Resampling::Lanczos,
        Resampling::Average,
        Resampling::Mode,
        Resampling::Max,
        Resampling::Min,
        Resampling::Med,
        Resampling::Q1,
        Resampling::Q3,
        Resampling::Rms,
    ];

    /// The name rasterio, GDAL and odc-geo use (`"cubic_spline"`, `"q1"`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Resampling::Nearest => "nearest",
            Resampling::Bilinear => "bilinear",
            Resampling::Cubic => "cubic",
            Resampling::CubicSpline => "cubic_spline",
            Resampling::Lanczos => "lanczos",
            Resampling::Average => "average",
            Resampling::Mode => "mode",
            Resampling::Min => "min",
            Resampling::Max => "max",
            Resampling::Med => "med",
            Resampling::Q1 => "q1",
            Resampling::Q3 => "q3",
            Resampling::Rms => "rms",
        }
    }

    /// Whether the kernel reduces the source pixels under each destination
    /// pixel's footprint (average, mode, …) rather than sampling at its centre.
    #[must_use]
    pub fn is_area(self) -> bool {
        self.alg().is_area()
    }

    /// Whether the kernel computes new values (rather than picking source
    /// values, as nearest, mode, min, max and the quantiles do).
    #[must_use]
    pub fn interpolates(self) -> bool {
        matches!(
            self,
            Resampling::Bilinear
                | Resampling::Cubic
                | Resampling::CubicSpline
                | Resampling::Lanczos
                | Resampling::Average
                | Resampling::Rms
        )
    }

    fn alg(self) -> ResampleAlg {
        match self {
            Resampling::Nearest => ResampleAlg::NearestNeighbour,
            Resampling::Bilinear => ResampleAlg::Bilinear,
            Resampling::Cubic => ResampleAlg::Cubic,
            Resampling::CubicSpline => ResampleAlg::CubicSpline,
            Resampling::Lanczos => ResampleAlg::Lanczos,
            Resampling::Average => ResampleAlg::Average,
            Resampling::Mode => ResampleAlg::Mode,
            Resampling::Min => ResampleAlg::Min,
            Resampling::Max => ResampleAlg::Max,
            Resampling::Med => ResampleAlg::Med,
            Resampling::Q1 => ResampleAlg::Q1,
            Resampling::Q3 => ResampleAlg::Q3,
            Resampling::Rms => ResampleAlg::Rms,
        }
    }

    /// Source pixels the kernel reaches beyond the sample point.
    fn radius(self) -> i32 {
        // Area methods reach as far as the footprint, which the window's
        // edge sampling already covers; one pixel more for rounding.
        self.alg().radius().max(1)
    }
}

impl fmt::Display for Resampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Resampling {
    type Err = Error;

    /// rasterio's and odc-geo's names, case-insensitive; also `near`
    /// (gdalwarp's `-r near`), `cubicspline` and `median`.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let found = match lower.as_str() {
            "near" => Some(Resampling::Nearest),
            "cubicspline" => Some(Resampling::CubicSpline),
            "median" => Some(Resampling::Med),
            other => Resampling::ALL.into_iter().find(|r| r.name() == other),
        };
        found.ok_or_else(|| {
            let names: Vec<&str> = Resampling::ALL.iter().map(|r| r.name()).collect();
            Error::Warp(format!(
                "unknown resampling `{s}`; choose one of {}",
                names.join(", ")
            ))
        })
    }
}

/// How [`reproject`] resamples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarpOptions {
    /// The kernel.
    pub resampling: Resampling,
    /// Error bound of the approximate transformer in source pixels; 0 uses
    /// the exact transformer for every pixel (about 6 × slower).
    pub max_error: f64,
}

impl Default for WarpOptions {
    fn default() -> Self {
        Self::new(Resampling::Nearest)
    }
}

impl WarpOptions {
    /// `resampling` with GDAL's error bound ([`DEFAULT_MAX_ERROR`]).
    #[must_use]
    pub fn new(resampling: Resampling) -> Self {
        Self {
            resampling,
            max_error: DEFAULT_MAX_ERROR,
        }
    }

    /// Set [`WarpOptions::max_error`].
    #[must_use]
    pub fn max_error(mut self, max_error: f64) -> Self {
        self.max_error = max_error;
        self
    }
}

/// Whether `a` and `b` share a pixel lattice (same CRS and resolution,
/// origins a whole number of pixels apart): pixels then copy bit-exactly
/// and nothing needs resampling.
#[must_use]
pub fn shares_lattice(a: &GeoBox, b: &GeoBox) -> bool {
    a.overlap_roi(b).is_ok()
}

/// The CRS step of the transformer: geocube's proj4rs projections, in
/// degrees for geographic CRSs (rwarp's convention).
struct CrsStep {
    from: Crs,
    to: Crs,
}

impl rwarp::CrsTransform for CrsStep {
    fn convert(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let mut p = [(x, y)];
        self.from.transform_points(&self.to, &mut p).ok()?;
        Some(p[0])
    }
}

/// The exact destination-pixel → source-pixel transformer of two grids.
fn exact_transformer(src: &GeoBox, dst: &GeoBox) -> Result<GenImgProjTransformer> {
    let fail = |reason: String| Error::Warp(format!("{} → {}: {reason}", dst.crs(), src.crs()));
    let src_gt = src.affine().gdal_geotransform();
    let dst_gt = dst.affine().gdal_geotransform();
    let d2s = CrsStep {
        from: dst.crs().clone(),
        to: src.crs().clone(),
    };
    let s2d = CrsStep {
        from: src.crs().clone(),
        to: dst.crs().clone(),
    };
    let t = GenImgProjTransformer::with_backend(src_gt, dst_gt, Box::new(d2s), Box::new(s2d))
        .map_err(fail)?;
    // GDAL's CENTER_LONG: wrap a geographic source's longitudes around its
    // middle, so that a destination across the antimeridian finds it.
    let center = src
        .crs()
        .is_geographic()
        .then(|| source_center_long(&src_gt, [src.width(), src.height()], None))
        .flatten();
    Ok(t.with_center_long(center.map_or(CenterLong::Off, CenterLong::At)))
}

/// The transformer a warp uses: approximate within `max_error`, else exact.
enum AnyTransformer {
    Exact(GenImgProjTransformer),
    Approx(ApproxTransformer<GenImgProjTransformer>),
}

impl Transformer for AnyTransformer {
    fn transform(&self, dst_to_src: bool, x: &mut [f64], y: &mut [f64]) -> Vec<bool> {
        match self {
            AnyTransformer::Exact(t) => t.transform(dst_to_src, x, y),
            AnyTransformer::Approx(t) => t.transform(dst_to_src, x, y),
        }
    }
}

fn approximate(exact: GenImgProjTransformer, max_error: f64) -> AnyTransformer {
    if max_error > 0.0 {
        AnyTransformer::Approx(ApproxTransformer::new(exact, max_error))
    } else {
        AnyTransformer::Exact(exact)
    }
}

/// The pixels of `src` that warping onto `dst` window `part` with
/// `resampling` reads, kernel padding included (GDAL's
/// `ComputeSourceWindow`); `None` when none of them lies in `src`.
///
/// # Errors
/// [`Error::Warp`] when the grids' transforms are not invertible.
pub fn source_window(
    src: &GeoBox,
    dst: &GeoBox,
    part: Window,
    resampling: Resampling,
) -> Result<Option<Window>> {
    let exact = exact_transformer(src, dst)?;
    source_window_with(&exact, src, part, resampling)
}

fn source_window_with(
    exact: &impl Transformer,
    src: &GeoBox,
    part: Window,
    resampling: Resampling,
) -> Result<Option<Window>> {
    let int = |v: usize| {
        i32::try_from(v).map_err(|_| Error::Warp(format!("{v} pixels are too many to warp")))
    };
    let Some(w) = rwarp::source_window::compute_source_window(
        exact,
        [int(part.col)?, int(part.row)?],
        [int(part.width)?, int(part.height)?],
        [int(src.width())?, int(src.height())?],
        resampling.radius(),
    ) else {
        return Ok(None);
    };
    let (Ok(col), Ok(row), Ok(width), Ok(height)) = (
        usize::try_from(w.xoff),
        usize::try_from(w.yoff),
        usize::try_from(w.xsize),
        usize::try_from(w.ysize),
    ) else {
        return Ok(None);
    };
    if width == 0 || height == 0 {
        return Ok(None);
    }
    Ok(Some(Window::new(row, col, height, width)))
}

/// How many source pixels one destination pixel spans (the larger of the
/// two axes' ratios, as odc-geo's read shrink), at the middle of `dst`:
/// above 1 the destination is coarser, and a COG overview of at most this
/// factor is read instead of the full image.
///
/// # Errors
/// [`Error::Warp`] when the grids' transforms are not invertible.
pub fn read_shrink(src: &GeoBox, dst: &GeoBox) -> Result<f64> {
    let exact = exact_transformer(src, dst)?;
    let (sx, sy) =
        rwarp::warp::estimate_scale(&exact, dst.width().max(1), dst.height().max(1), 0, 0);
    // estimate_scale gives destination pixels per source pixel.
    let shrink = |s: f64| {
        if s > 0.0 && s.is_finite() {
            1.0 / s
        } else {
            1.0
        }
    };
    Ok(shrink(sx).min(shrink(sy)))
}

/// The pixel size in `crs` of a grid holding about as many pixels as
/// `src` (odc-geo's `resolution="auto"` of `GeoBox.to_crs` and
/// `.odc.reproject`): `src`'s own resolution when both CRSs have the same
/// units (metres and metres, degrees and degrees), else the size in `crs`
/// of `src`'s centre pixel ("fit": the mean of the two scale factors of
/// the local linear map, so the result is square pixels whatever the
/// rotation between the two CRSs).
///
/// # Errors
/// [`Error::Transform`] when the centre pixel cannot be transformed;
/// [`Error::Warp`] when the transform is degenerate there.
pub fn output_resolution(src: &GeoBox, crs: &Crs) -> Result<f64> {
    let (res_x, res_y) = src.resolution();
    if linear_units(src.crs()) == linear_units(crs) {
        // odc-geo takes `src.resolution` as is; our grids are north-up and
        // the cube's pixels square, so one number says it.
        return Ok(res_x.abs().max(res_y.abs()));
    }
    // odc-geo's "fit": the centre pixel's bounding box in `crs` as a 1 × 1
    // grid, and the linear map from its pixel coordinates to the centre
    // pixel's, fitted at its middle from four neighbours a pixel away.
    let a = src.affine();
    #[allow(clippy::cast_precision_loss)]
    let (col, row) = ((src.width() / 2) as f64, (src.height() / 2) as f64);
    let (px0, py0) = a.apply(col, row);
    let mut corners = [
        (px0, py0),
        (px0 + res_x, py0),
        (px0 + res_x, py0 + res_y),
        (px0, py0 + res_y),
    ];
    src.crs().transform_points(crs, &mut corners)?;
    if crs.is_geographic() {
        // A pixel on the antimeridian: longitudes continuous from the
        // first corner (179.99, 180.01), not 360° apart.
        let x0 = corners[0].0;
        for c in &mut corners[1..] {
            c.0 -= 360.0 * ((c.0 - x0) / 360.0).round();
        }
    }
    let (mut left, mut right, mut bottom, mut top) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, y) in corners {
        (left, right) = (left.min(x), right.max(x));
        (bottom, top) = (bottom.min(y), top.max(y));
    }
    let (w, h) = (right - left, top - bottom);
    let degenerate = || {
        Error::Warp(format!(
            "the cube's pixel at the centre of the area has no size in {crs}"
        ))
    };
    if !(w > 0.0 && h > 0.0) {
        return Err(degenerate());
    }
    // Target pixel (u, v) of the 1 × 1 grid → source pixel offsets from
    // the centre pixel's corner.
    let to_src = |u: f64, v: f64| -> Result<(f64, f64)> {
        let mut p = [(left + u * w, top - v * h)];
        crs.transform_points(src.crs(), &mut p)?;
        Ok(((p[0].0 - px0) / res_x, (p[0].1 - py0) / res_y))
    };
    let (e, wst) = (to_src(1.5, 0.5)?, to_src(-0.5, 0.5)?);
    let (s, n) = (to_src(0.5, 1.5)?, to_src(0.5, -0.5)?);
    // Central differences: the least-squares fit odc-geo makes of the same
    // five points (the middle one only moves the offset).
    let (m00, m10) = ((e.0 - wst.0) / 2.0, (e.1 - wst.1) / 2.0);
    let (m01, m11) = ((s.0 - n.0) / 2.0, (s.1 - n.1) / 2.0);
    // odc-geo's decomposition A = R·W·S: S's diagonal is the first
    // column's length and |det A| over it.
    let sx = m00.hypot(m10);
    let sy = (m00 * m11 - m01 * m10).abs() / sx;
    let res = (w / sx + h / sy) / 2.0;
    if res.is_finite() && res > 0.0 {
        Ok(res)
    } else {
        Err(degenerate())
    }
}

/// The unit of a CRS's coordinates as odc-geo compares them: degrees for a
/// geographic CRS, else the PROJ definition's `+units` (or `+to_meter`),
/// metres when it names none.
fn linear_units(crs: &Crs) -> &str {
    if crs.is_geographic() {
        return "degree";
    }
    crs.proj4()
        .split_whitespace()
        .find_map(|p| {
            p.strip_prefix("+units=")
                .or_else(|| p.strip_prefix("+to_meter="))
        })
        .unwrap_or("m")
}

/// Warp the `(y, x)` raster `data` on grid `src` onto grid `dst`.
///
/// `src_nodata` marks invalid source pixels (NaN always does);
/// `dst_nodata` fills destination pixels that get no value (default NaN
/// for floats, the type's fill — 0, false — otherwise) and is what a
/// computed value equal to it is moved off, as GDAL does. The result has
/// `data`'s type.
///
/// # Errors
/// [`Error::Warp`] when `data` is not 2-D of `src`'s shape, a transform is
/// not invertible, or the warp fails.
pub fn reproject(
    data: &TypedArray,
    src: &GeoBox,
    src_nodata: Option<f64>,
    dst: &GeoBox,
    dst_nodata: Option<f64>,
    opts: &WarpOptions,
) -> Result<TypedArray> {
    if data.shape() != [src.height(), src.width()] {
        return Err(Error::Warp(format!(
            "the source array has shape {:?}, its grid {}×{} pixels",
            data.shape(),
            src.height(),
            src.width()
        )));
    }
    match data {
        TypedArray::Bool(a) => {
            // odc-geo's rule: booleans go through the warp as 0/255 and come
            // back true above 127, so that interpolating kernels work.
            let bytes = a.mapv(|b| if b { 255u8 } else { 0 });
            let out = warp_typed(&bytes, src, None, dst, None, opts)?;
            Ok(TypedArray::Bool(out.mapv(|v| v > 127)))
        }
        TypedArray::Float32(a) => Ok(TypedArray::Float32(warp_typed(
            a, src, src_nodata, dst, dst_nodata, opts,
        )?)),
        TypedArray::Float64(a) => Ok(TypedArray::Float64(warp_typed(
            a, src, src_nodata, dst, dst_nodata, opts,
        )?)),
        TypedArray::Uint8(a) => Ok(TypedArray::Uint8(warp_typed(
            a, src, src_nodata, dst, dst_nodata, opts,
        )?)),
        TypedArray::Uint16(a) => Ok(TypedArray::Uint16(warp_typed(
            a, src, src_nodata, dst, dst_nodata, opts,
        )?)),
        TypedArray::Int16(a) => Ok(TypedArray::Int16(warp_typed(
            a, src, src_nodata, dst, dst_nodata, opts,
        )?)),
        TypedArray::Int32(a) => Ok(TypedArray::Int32(warp_typed(
            a, src, src_nodata, dst, dst_nodata, opts,
        )?)),
    }
}

/// The element types the warp kernels take: rwarp's `Sample` and ours.
trait WarpElement: Sample + CubeElement + Send + Sync {
    /// Whether `v` is a value of the type (so usable as its nodata).
    fn represents(v: f64) -> bool;
}

macro_rules! warp_element {
    ($($t:ty),*) => {$(
        impl WarpElement for $t {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless, clippy::float_cmp)]
            fn represents(v: f64) -> bool {
                v.is_finite() && v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64
            }
        }
    )*};
}
warp_element!(u8, u16, i16, i32);

impl WarpElement for f32 {
    fn represents(_: f64) -> bool {
        true
    }
}

impl WarpElement for f64 {
    fn represents(_: f64) -> bool {
        true
    }
}

fn warp_typed<T: WarpElement>(
    data: &ArrayD<T>,
    src: &GeoBox,
    src_nodata: Option<f64>,
    dst: &GeoBox,
    dst_nodata: Option<f64>,
    opts: &WarpOptions,
) -> Result<ArrayD<T>> {
    let (h, w) = (dst.height(), dst.width());
    let src_nodata = src_nodata.filter(|v| !v.is_nan() && T::represents(*v));
    let dst_nodata = dst_nodata.filter(|v| T::represents(*v));
    // The destination's empty value: its nodata, else NaN for floats (the
    // cube's fill, which never overwrites data), else the type's fill.
    let fill = match dst_nodata {
        Some(v) => T::from_f64(v),
        None => T::fill(),
    };
    let mut out = vec![fill; h * w];
    if h == 0 || w == 0 || src.width() == 0 || src.height() == 0 {
        return to_array(out, h, w);
    }
    let contiguous;
    let values: &[T] = if let Some(s) = data.as_slice() {
        s
    } else {
        contiguous = data.iter().copied().collect::<Vec<T>>();
        &contiguous
    };
    let rw_opts = RwarpOptions::new(opts.resampling.alg())
        .with_scaling(KernelScaling::Point)
        .with_src_nodata(src_nodata.map_or(Nodata::None, Nodata::Value))
        .with_dst_nodata(match dst_nodata {
            Some(v) => DstNodata::Value(v),
            // Floats: NaN marks "no value"; rwarp then fills with it and
            // never moves a result onto it.
            None if T::fill().is_nan() => DstNodata::Value(f64::NAN),
            None => DstNodata::None,
        });
    let bands: Vec<(usize, &mut [T])> = out
        .chunks_mut(ROWS_PER_BAND * w)
        .enumerate()
        .map(|(i, c)| (i * ROWS_PER_BAND, c))
        .collect();
    bands.into_par_iter().try_for_each(|(row0, band)| {
        let rows = band.len() / w;
        warp_band(values, src, dst, row0, rows, &rw_opts, opts, band)
    })?;
    to_array(out, h, w)
}

fn to_array<T>(v: Vec<T>, h: usize, w: usize) -> Result<ArrayD<T>> {
    ArrayD::from_shape_vec(IxDyn(&[h, w]), v).map_err(|e| Error::Warp(e.to_string()))
}

/// Warp destination rows `row0 .. row0 + rows` (full width) into `out`.
#[allow(clippy::too_many_arguments)]
fn warp_band<T: WarpElement>(
    values: &[T],
    src: &GeoBox,
    dst: &GeoBox,
    row0: usize,
    rows: usize,
    rw_opts: &RwarpOptions,
    opts: &WarpOptions,
    out: &mut [T],
) -> Result<()> {
    let w = dst.width();
    // The transformers hold proj4rs handles behind `dyn` (not `Send`):
    // one pair per band.
    let exact = exact_transformer(src, dst)?;
    let part = Window::new(row0, 0, rows, w);
    let Some(win) = source_window_with(&exact, src, part, opts.resampling)? else {
        return Ok(());
    };
    let mut buf = Vec::with_capacity(win.width * win.height);
    for r in win.row..win.row + win.height {
        let start = r * src.width() + win.col;
        buf.extend_from_slice(&values[start..start + win.width]);
    }
    // The exact transformer planned the window; the same one, wrapped,
    // warps.
    let t = approximate(exact, opts.max_error);
    let buffer = SourceBuffer {
        data: &buf,
        ncol: win.width,
        nrow: win.height,
        nbands: 1,
        col_off: win.col,
        row_off: win.row,
    };
    let band_opts = rw_opts.clone().with_dst_offset(0, row0);
    // rwarp is young and asserts on what it considers caller errors; a
    // panic inside it must not cross our API.
    let warped = catch_unwind(AssertUnwindSafe(|| {
        rwarp::warp::warp(&t, &buffer, w, rows, &band_opts)
    }))
    .map_err(|_| {
        Error::Warp(format!(
            "the warp kernel failed on rows {row0}..{} of a {}×{} destination",
            row0 + rows,
            dst.height(),
            w
        ))
    })?;
    if warped.len() != out.len() {
        return Err(Error::Warp(format!(
            "the warp kernel returned {} values for {} pixels",
            warped.len(),
            out.len()
        )));
    }
    out.copy_from_slice(&warped);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp, clippy::cast_precision_loss)]
mod tests {
    use super::*;
    use crate::grid::Affine;

    fn grid(crs: u32, x0: f64, y0: f64, res: f64, w: usize, h: usize) -> GeoBox {
        GeoBox::new(
            w,
            h,
            Affine {
                x0,
                res_x: res,
                y0,
                res_y: -res,
            },
            Crs::from_epsg(crs).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn names_round_trip() {
        for r in Resampling::ALL {
            assert_eq!(r.name().parse::<Resampling>().unwrap(), r);
            assert_eq!(r.to_string(), r.name());
        }
        assert_eq!("NEAR".parse::<Resampling>().unwrap(), Resampling::Nearest);
        let err = "bicubic".parse::<Resampling>().unwrap_err().to_string();
        assert!(
            err.contains("bicubic") && err.contains("cubic_spline"),
            "{err}"
        );
    }

    #[test]
    fn identity_grid_copies() {
        let g = grid(3413, 0.0, 0.0, 10.0, 7, 5);
        let a = ArrayD::from_shape_fn(IxDyn(&[5, 7]), |i| (i[0] * 7 + i[1]) as f32);
        for r in [Resampling::Nearest, Resampling::Bilinear, Resampling::Cubic] {
            let out = reproject(
                &TypedArray::Float32(a.clone()),
                &g,
                None,
                &g,
                None,
                &WarpOptions::new(r),
            )
            .unwrap();
            assert_eq!(out, TypedArray::Float32(a.clone()), "{r}");
        }
    }

    #[test]
    fn half_pixel_shift_bilinear_is_the_mean() {
        let src = grid(3413, 0.0, 0.0, 10.0, 8, 8);
        let dst = grid(3413, 5.0, 0.0, 10.0, 6, 8);
        let a = ArrayD::from_shape_fn(IxDyn(&[8, 8]), |i| (i[1] * 2) as f64);
        let out = reproject(
            &TypedArray::Float64(a),
            &src,
            None,
            &dst,
            None,
            &WarpOptions::new(Resampling::Bilinear),
        )
        .unwrap();
        let out = out.as_array::<f64>().unwrap();
        for c in 0..6 {
            assert_eq!(out[[3, c]], (2 * c + 1) as f64, "col {c}");
        }
    }

    #[test]
    fn unmapped_pixels_get_the_destination_nodata() {
        let src = grid(3413, 0.0, 0.0, 10.0, 4, 4);
        let dst = grid(3413, 20.0, 0.0, 10.0, 4, 4);
        let a = ArrayD::from_elem(IxDyn(&[4, 4]), 7u16);
        let out = reproject(
            &TypedArray::Uint16(a.clone()),
            &src,
            None,
            &dst,
            Some(9.0),
            &WarpOptions::new(Resampling::Nearest),
        )
        .unwrap();
        let out = out.as_array::<u16>().unwrap();
        assert_eq!(out[[0, 0]], 7);
        assert_eq!(out[[0, 3]], 9);
        let f = reproject(
            &TypedArray::Float32(a.mapv(f32::from)),
            &src,
            None,
            &dst,
            None,
            &WarpOptions::new(Resampling::Nearest),
        )
        .unwrap();
        assert!(f.as_array::<f32>().unwrap()[[0, 3]].is_nan());
    }

    #[test]
    fn bools_are_thresholded() {
        let src = grid(3413, 0.0, 0.0, 10.0, 4, 4);
        let dst = grid(3413, 5.0, 0.0, 10.0, 3, 4);
        let a = ArrayD::from_shape_fn(IxDyn(&[4, 4]), |i| i[1] >= 2);
        let out = reproject(
            &TypedArray::Bool(a),
            &src,
            None,
            &dst,
            None,
            &WarpOptions::new(Resampling::Bilinear),
        )
        .unwrap();
        // Columns centred at 10, 20, 30 m: 0, 127.5, 255. The byte warp
        // rounds 127.5 half up to 128 (as GDAL's), so odc-geo's > 127 says true.
        let out = out.as_array::<bool>().unwrap();
        assert_eq!((out[[1, 0]], out[[1, 1]], out[[1, 2]]), (false, true, true));
    }

    #[test]
    fn wrong_shape_is_an_error() {
        let g = grid(3413, 0.0, 0.0, 10.0, 4, 4);
        let a = ArrayD::from_elem(IxDyn(&[3, 4]), 1.0f32);
        assert!(matches!(
            reproject(
                &TypedArray::Float32(a),
                &g,
                None,
                &g,
                None,
                &WarpOptions::default()
            ),
            Err(Error::Warp(_))
        ));
    }

    #[test]
    fn output_resolution_is_odc_geos_auto() {
        let close = |got: f64, want: f64| {
            assert!((got - want).abs() <= want * 1e-6, "{got} against {want}");
        };
        let wgs84 = Crs::wgs84();
        // odc-geo 0.4.10's compute_output_geobox(g, crs).resolution.x.
        let polar = grid(3413, -1_600_000.0, 1_600_000.0, 32.0, 120, 100);
        close(
            output_resolution(&polar, &wgs84).unwrap(),
            0.000_548_731_204_343_812_7,
        );
        let utm = grid(32607, 500_000.0, 7_700_000.0, 10.0, 300, 300);
        close(
            output_resolution(&utm, &wgs84).unwrap(),
            0.000_172_149_249_219_225_57,
        );
        let geographic = GeoBox::new(
            60,
            50,
            Affine {
                x0: -150.0,
                res_x: 0.001,
                y0: 70.0,
                res_y: -0.001,
            },
            wgs84.clone(),
        )
        .unwrap();
        close(
            output_resolution(&geographic, &Crs::from_epsg(3413).unwrap()).unwrap(),
            68.953_183_336_255_53,
        );
        // A centre pixel across the antimeridian (the line x = -y in
        // EPSG:3413) is a pixel, not 360° wide.
        let across = grid(3413, -1_596_000.0, 1_596_000.0, 32.0, 1250, 1250);
        let res = output_resolution(&across, &wgs84).unwrap();
        assert!((0.000_5..0.000_6).contains(&res), "{res}");
        // Metres to metres keep the resolution (odc-geo fits here, 10.023 m,
        // because pyproj names EPSG:3413's second axis unit '').
        assert_eq!(
            output_resolution(&utm, &Crs::from_epsg(3413).unwrap()).unwrap(),
            10.0
        );
    }

    #[test]
    fn shrink_and_windows() {
        let src = grid(32607, 500_000.0, 7_700_000.0, 10.0, 1000, 1000);
        let polar = Crs::from_epsg(3413).unwrap();
        let dst = GeoBox::from_bbox(src.bbox_in(&polar).unwrap(), polar, 40.0).unwrap();
        let s = read_shrink(&src, &dst).unwrap();
        assert!((3.8..4.2).contains(&s), "{s}");
        let full = source_window(&src, &dst, dst.full_window(), Resampling::Cubic)
            .unwrap()
            .unwrap();
        assert_eq!(full, src.full_window());
        let far = grid(3413, 3_000_000.0, 3_000_000.0, 40.0, 10, 10);
        assert_eq!(
            source_window(&src, &far, far.full_window(), Resampling::Nearest).unwrap(),
            None
        );
    }
}
