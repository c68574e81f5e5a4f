//! [`GeoBox`]: a north-up grid of pixels in a CRS (odc-geo's `GeoBox`):
//! construction from bounds with odc-geo's snapping, sub-windows, overlaps
//! and crops.

use geo::{BoundingRect, Geometry};
use serde::{Deserialize, Serialize};

use super::window::bounding_window;
use super::{Affine, BoundingBox, CROP_DENSIFY, LATTICE_TOL, SNAP_TOL, Window};
use crate::crs::{Crs, reproject_geometry};
use crate::error::{Error, Result};
/// A north-up grid of `height × width` pixels in a CRS (odc-geo's `GeoBox`).
///
/// Serialises as `{"width", "height", "affine", "crs"}`; deserialising
/// validates like [`GeoBox::new`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "GeoBoxRepr")]
pub struct GeoBox {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) affine: Affine,
    pub(super) crs: Crs,
}

/// The unvalidated serde form of a [`GeoBox`].
#[derive(Deserialize)]
struct GeoBoxRepr {
    width: usize,
    height: usize,
    affine: Affine,
    crs: Crs,
}

impl TryFrom<GeoBoxRepr> for GeoBox {
    type Error = Error;

    fn try_from(r: GeoBoxRepr) -> Result<GeoBox> {
        GeoBox::new(r.width, r.height, r.affine, r.crs)
    }
}

#[allow(clippy::cast_precision_loss)]
pub(super) fn f(n: usize) -> f64 {
    n as f64
}

/// `floor`/`ceil` of `v` to an integer, treating values within `tol` of an
/// integer as that integer. `None` when not finite or out of `i64` range.
#[allow(clippy::cast_possible_truncation)]
pub(super) fn snap_int(v: f64, tol: f64, up: bool) -> Option<i64> {
    if !v.is_finite() || v.abs() > 9.0e15 {
        return None;
    }
    let r = v.round();
    let out = if (v - r).abs() <= tol {
        r
    } else if up {
        v.ceil()
    } else {
        v.floor()
    };
    Some(out as i64)
}

pub(super) fn is_integral(v: f64, tol: f64) -> bool {
    v.is_finite() && (v - v.round()).abs() <= tol
}

impl GeoBox {
    /// A grid of `width × height` pixels placed by `affine` in `crs`.
    ///
    /// # Errors
    /// [`Error::InvalidGrid`] when a size is zero, a transform coefficient is
    /// not finite, or the grid is not north-up (`res_x > 0`, `res_y < 0`).
    pub fn new(width: usize, height: usize, affine: Affine, crs: Crs) -> Result<GeoBox> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidGrid(format!(
                "grid size must be positive, got {width}×{height} (width×height)"
            )));
        }
        if !affine.is_finite() {
            return Err(Error::InvalidGrid(format!(
                "non-finite affine transform {affine:?}"
            )));
        }
        if !affine.is_north_up() {
            return Err(Error::InvalidGrid(format!(
                "grid must be north-up with res_x > 0 and res_y < 0, got res_x={}, res_y={}",
                affine.res_x, affine.res_y
            )));
        }
        Ok(GeoBox {
            width,
            height,
            affine,
            crs,
        })
    }

    /// The grid of square `resolution`-sized pixels that covers `bbox`, snapped
    /// outward to the lattice anchored at 0 (odc-geo semantics: the left edge is
    /// `floor(left / res) * res`, edges within 1 % of a pixel of a lattice line
    /// snap to it; at least one pixel each way).
    ///
    /// # Errors
    /// [`Error::InvalidGrid`] when `resolution` is not positive and finite or
    /// `bbox` has a non-finite or inverted edge.
    pub fn from_bbox(bbox: BoundingBox, crs: Crs, resolution: f64) -> Result<GeoBox> {
        if !(resolution.is_finite() && resolution > 0.0) {
            return Err(Error::InvalidGrid(format!(
                "resolution must be positive and finite, got {resolution}"
            )));
        }
        if !(bbox.left.is_finite()
            && bbox.right.is_finite()
            && bbox.bottom.is_finite()
            && bbox.top.is_finite())
            || bbox.right < bbox.left
            || bbox.top < bbox.bottom
        {
            return Err(Error::InvalidGrid(format!("invalid bounding box {bbox}")));
        }
        let res = resolution;
        let bad = || {
            Error::InvalidGrid(format!(
                "bounding box {bbox} is too large for resolution {res}"
            ))
        };
        let c0 = snap_int(bbox.left / res, SNAP_TOL, false).ok_or_else(bad)?;
        let c1 = snap_int(bbox.right / res, SNAP_TOL, true).ok_or_else(bad)?;
        let r0 = snap_int(bbox.top / res, SNAP_TOL, true).ok_or_else(bad)?;
        let r1 = snap_int(bbox.bottom / res, SNAP_TOL, false).ok_or_else(bad)?;
        let width = usize::try_from((c1 - c0).max(1)).map_err(|_| bad())?;
        let height = usize::try_from((r0 - r1).max(1)).map_err(|_| bad())?;
        #[allow(clippy::cast_precision_loss)]
        let affine = Affine {
            x0: c0 as f64 * res,
            res_x: res,
            y0: r0 as f64 * res,
            res_y: -res,
        };
        GeoBox::new(width, height, affine, crs)
    }

    /// The `width × height` grid whose outer edges are exactly `bbox` (pixels
    /// need not be square).
    ///
    /// # Errors
    /// [`Error::InvalidGrid`] when a size is zero or `bbox` is empty or not finite.
    pub fn from_bbox_shape(
        bbox: BoundingBox,
        crs: Crs,
        width: usize,
        height: usize,
    ) -> Result<GeoBox> {
        if bbox.is_empty() {
            return Err(Error::InvalidGrid(format!(
                "bounding box {bbox} is empty or not finite"
            )));
        }
        if width == 0 || height == 0 {
            return Err(Error::InvalidGrid(format!(
                "grid size must be positive, got {width}×{height} (width×height)"
            )));
        }
        let affine = Affine {
            x0: bbox.left,
            res_x: bbox.width() / f(width),
            y0: bbox.top,
            res_y: -bbox.height() / f(height),
        };
        GeoBox::new(width, height, affine, crs)
    }

    /// Number of columns.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// `(height, width)`.
    #[must_use]
    pub fn shape(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// The pixel → CRS transform.
    #[must_use]
    pub fn affine(&self) -> Affine {
        self.affine
    }

    /// The grid's CRS.
    #[must_use]
    pub fn crs(&self) -> &Crs {
        &self.crs
    }

    /// `(res_x, res_y)`; `res_y` is negative.
    #[must_use]
    pub fn resolution(&self) -> (f64, f64) {
        (self.affine.res_x, self.affine.res_y)
    }

    /// The outer edges of the grid.
    #[must_use]
    pub fn bbox(&self) -> BoundingBox {
        let a = self.affine;
        BoundingBox::new(
            a.x0,
            a.y0 + f(self.height) * a.res_y,
            a.x0 + f(self.width) * a.res_x,
            a.y0,
        )
    }

    /// x of the pixel centres, ascending.
    #[must_use]
    pub fn xs(&self) -> Vec<f64> {
        // odc-geo's formula (`arange(n) * res + (x0 + res / 2)`), so the
        // coordinates match smart-geocubes' to the last bit.
        let x_first = self.affine.x0 + self.affine.res_x / 2.0;
        (0..self.width)
            .map(|c| f(c) * self.affine.res_x + x_first)
            .collect()
    }

    /// y of the pixel centres, descending (north-up).
    #[must_use]
    pub fn ys(&self) -> Vec<f64> {
        let y_first = self.affine.y0 + self.affine.res_y / 2.0;
        (0..self.height)
            .map(|r| f(r) * self.affine.res_y + y_first)
            .collect()
    }

    /// The whole grid as a window.
    #[must_use]
    pub fn full_window(&self) -> Window {
        Window::new(0, 0, self.height, self.width)
    }

    /// The sub-grid covering window `w`.
    ///
    /// # Errors
    /// [`Error::InvalidGrid`] when `w` is empty or not entirely inside the grid.
    pub fn window(&self, w: Window) -> Result<GeoBox> {
        if w.is_empty() || !self.full_window().contains(&w) {
            return Err(Error::InvalidGrid(format!(
                "window {w:?} is empty or not inside the {}×{} (height×width) grid",
                self.height, self.width
            )));
        }
        let (x0, y0) = self.affine.apply(f(w.col), f(w.row));
        GeoBox::new(
            w.width,
            w.height,
            Affine {
                x0,
                y0,
                ..self.affine
            },
            self.crs.clone(),
        )
    }

    /// Where two grids on a common pixel lattice overlap: `(window in self,
    /// window in other)`, both of the same size and covering the same pixels.
    /// `Ok(None)` when they share no pixel.
    ///
    /// # Errors
    /// [`Error::GridMismatch`] when the CRSs or resolutions differ or the
    /// origins are not a whole number of pixels apart (tolerance 1e-6 px).
    pub fn overlap_roi(&self, other: &GeoBox) -> Result<Option<(Window, Window)>> {
        if self.crs != other.crs {
            return Err(Error::GridMismatch(format!(
                "CRS {} differs from {}",
                self.crs, other.crs
            )));
        }
        let (a, b) = (self.affine, other.affine);
        let n = f(self
            .width
            .max(other.width)
            .max(self.height)
            .max(other.height));
        if (a.res_x - b.res_x).abs() * n > LATTICE_TOL * a.res_x.abs()
            || (a.res_y - b.res_y).abs() * n > LATTICE_TOL * a.res_y.abs()
        {
            return Err(Error::GridMismatch(format!(
                "resolution ({}, {}) differs from ({}, {})",
                a.res_x, a.res_y, b.res_x, b.res_y
            )));
        }
        let (dc, dr) = a.invert(b.x0, b.y0);
        if !is_integral(dc, LATTICE_TOL) || !is_integral(dr, LATTICE_TOL) {
            return Err(Error::GridMismatch(format!(
                "origin ({}, {}) is not on the pixel lattice of ({}, {}) at resolution ({}, {}): offset ({dc}, {dr}) px",
                b.x0, b.y0, a.x0, a.y0, a.res_x, a.res_y
            )));
        }
        #[allow(clippy::cast_possible_truncation)]
        let (dc, dr) = (dc.round() as i64, dr.round() as i64);
        let span = |off: i64, len_other: usize, len_self: usize| -> Option<(usize, usize, usize)> {
            let lo = off.max(0);
            let hi = (off + i64::try_from(len_other).ok()?).min(i64::try_from(len_self).ok()?);
            if hi <= lo {
                return None;
            }
            Some((
                usize::try_from(lo).ok()?,
                usize::try_from(lo - off).ok()?,
                usize::try_from(hi - lo).ok()?,
            ))
        };
        let (Some((c_self, c_other, w)), Some((r_self, r_other, h))) = (
            span(dc, other.width, self.width),
            span(dr, other.height, self.height),
        ) else {
            return Ok(None);
        };
        Ok(Some((
            Window::new(r_self, c_self, h, w),
            Window::new(r_other, c_other, h, w),
        )))
    }

    /// Every pixel `bbox` (in this grid's CRS) touches, rounded outward and
    /// clipped to the grid, with its sub-grid. A degenerate (point or line)
    /// bbox still selects the pixels it lies in. `None` when disjoint or not
    /// finite. Edges within 1e-6 px of a pixel boundary count as on it.
    #[must_use]
    pub fn crop_bbox(&self, bbox: &BoundingBox) -> Option<(Window, GeoBox)> {
        if bbox.right < bbox.left || bbox.top < bbox.bottom {
            return None;
        }
        let (c0, r0) = self.affine.invert(bbox.left, bbox.top);
        let (c1, r1) = self.affine.invert(bbox.right, bbox.bottom);
        let lo_hi = |lo: f64, hi: f64, len: usize| -> Option<(usize, usize)> {
            let a = snap_int(lo, LATTICE_TOL, false)?;
            let b = snap_int(hi, LATTICE_TOL, true)?.max(a + 1);
            let len = i64::try_from(len).ok()?;
            let (a, b) = (a.clamp(0, len), b.clamp(0, len));
            if b <= a {
                return None;
            }
            Some((usize::try_from(a).ok()?, usize::try_from(b - a).ok()?))
        };
        let (col, width) = lo_hi(c0, c1, self.width)?;
        let (row, height) = lo_hi(r0, r1, self.height)?;
        let w = Window::new(row, col, height, width);
        self.window(w).ok().map(|g| (w, g))
    }
}

impl GeoBox {
    /// Every pixel the bounding box of `geom` (given in `geom_crs`) touches,
    /// as [`GeoBox::crop_bbox`]. The geometry is reprojected with each segment
    /// split into 32 pieces so curved edges are covered. On a geographic grid
    /// the geometry's bounds are also tried shifted by ±360° (the bounding
    /// window of all hits is returned), so an AOI crossing the antimeridian
    /// selects both edges of a global grid.
    ///
    /// # Errors
    /// [`Error::Transform`] when the geometry cannot be reprojected.
    pub fn crop_geometry(
        &self,
        geom: &Geometry<f64>,
        geom_crs: &Crs,
    ) -> Result<Option<(Window, GeoBox)>> {
        let g = reproject_geometry(geom, geom_crs, &self.crs, CROP_DENSIFY)?;
        let Some(rect) = g.bounding_rect() else {
            return Ok(None);
        };
        let bbox = BoundingBox::from_rect(rect);
        let mut hit: Option<Window> = None;
        for shift in crate::crs::lon_shifts(&self.crs) {
            let b = BoundingBox::new(bbox.left + shift, bbox.bottom, bbox.right + shift, bbox.top);
            if let Some((w, _)) = self.crop_bbox(&b) {
                hit = Some(hit.map_or(w, |h| bounding_window(&h, &w)));
            }
        }
        Ok(hit.and_then(|w| self.window(w).ok().map(|g| (w, g))))
    }
}
