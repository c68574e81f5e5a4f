//! North-up raster grids: [`Affine`] transforms, [`BoundingBox`]es, index
//! [`Window`]s, [`GeoBox`]es (a grid of pixels in a CRS, after odc-geo) and
//! their chunk grids ([`Tiles`]).
//!
//! Conventions: `(x0, y0)` is the top-left *corner* of pixel `(0, 0)`;
//! `x = x0 + col * res_x`, `y = y0 + row * res_y` with `res_x > 0` and
//! `res_y < 0`. Shapes are `(height, width)` = `(rows, cols)`.
//!
//! ```
//! use geocube_core::{BoundingBox, Crs, GeoBox};
//!
//! let crs = Crs::from_epsg(3413).unwrap();
//! let gb = GeoBox::from_bbox(BoundingBox::new(-10.0, -10.0, 95.0, 30.0), crs, 32.0).unwrap();
//! assert_eq!(gb.bbox(), BoundingBox::new(-32.0, -32.0, 96.0, 32.0));
//! assert_eq!(gb.shape(), (2, 4));
//! ```

use std::fmt;
use std::ops::Range;

use geo::{
    BoundingRect, Coord, Geometry, Intersects, LineString, MultiPolygon, Polygon, Rect, Translate,
};
use serde::{Deserialize, Serialize};

use crate::crs::{Crs, densify_linestring, reproject_geometry};
use crate::error::{Error, Result};

/// Tolerance, in pixels, for deciding that two coordinates lie on the same
/// lattice line.
const LATTICE_TOL: f64 = 1e-6;
/// odc-geo's snapping tolerance: a bbox edge within this fraction of a pixel
/// of a lattice line snaps to that line instead of adding a pixel.
const SNAP_TOL: f64 = 0.01;
/// Points per edge when a footprint or bbox is reprojected for cropping.
const CROP_DENSIFY: usize = 32;

/// An axis-aligned rectangle `[left, bottom, right, top]` in some CRS.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Minimum x.
    pub left: f64,
    /// Minimum y.
    pub bottom: f64,
    /// Maximum x.
    pub right: f64,
    /// Maximum y.
    pub top: f64,
}

impl BoundingBox {
    /// A box from its four edges (no validation; see [`BoundingBox::is_empty`]).
    #[must_use]
    pub fn new(left: f64, bottom: f64, right: f64, top: f64) -> BoundingBox {
        BoundingBox {
            left,
            bottom,
            right,
            top,
        }
    }

    /// `right - left`.
    #[must_use]
    pub fn width(&self) -> f64 {
        self.right - self.left
    }

    /// `top - bottom`.
    #[must_use]
    pub fn height(&self) -> f64 {
        self.top - self.bottom
    }

    /// True when the box has no area, is inverted or has a non-finite edge.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !(self.left.is_finite()
            && self.right.is_finite()
            && self.bottom.is_finite()
            && self.top.is_finite())
            || self.right <= self.left
            || self.top <= self.bottom
    }

    /// The common part of two boxes, `None` when they do not overlap with a
    /// positive area.
    #[must_use]
    pub fn intersection(&self, other: &BoundingBox) -> Option<BoundingBox> {
        let b = BoundingBox::new(
            self.left.max(other.left),
            self.bottom.max(other.bottom),
            self.right.min(other.right),
            self.top.min(other.top),
        );
        (!b.is_empty()).then_some(b)
    }

    /// The smallest box holding both.
    #[must_use]
    pub fn union(&self, other: &BoundingBox) -> BoundingBox {
        BoundingBox::new(
            self.left.min(other.left),
            self.bottom.min(other.bottom),
            self.right.max(other.right),
            self.top.max(other.top),
        )
    }

    /// Whether `other` lies inside this box, allowing `tol` (CRS units) slack.
    #[must_use]
    pub fn contains_bbox(&self, other: &BoundingBox, tol: f64) -> bool {
        other.left >= self.left - tol
            && other.right <= self.right + tol
            && other.bottom >= self.bottom - tol
            && other.top <= self.top + tol
    }

    /// The box as a `geo` rectangle.
    #[must_use]
    pub fn to_rect(&self) -> Rect<f64> {
        Rect::new(
            Coord {
                x: self.left,
                y: self.bottom,
            },
            Coord {
                x: self.right,
                y: self.top,
            },
        )
    }

    /// The box as a closed polygon (counter-clockwise from the bottom-left).
    #[must_use]
    pub fn to_polygon(&self) -> Polygon<f64> {
        self.to_rect().to_polygon()
    }

    /// The bounding box of a `geo` rectangle.
    #[must_use]
    pub fn from_rect(r: Rect<f64>) -> BoundingBox {
        BoundingBox::new(r.min().x, r.min().y, r.max().x, r.max().y)
    }
}

impl fmt::Display for BoundingBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {}, {}, {}]",
            self.left, self.bottom, self.right, self.top
        )
    }
}

/// A north-up affine pixel → CRS transform: `x = x0 + col * res_x`,
/// `y = y0 + row * res_y`, where `(x0, y0)` is the top-left corner of the
/// grid, `res_x > 0` and `res_y < 0`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affine {
    /// x of the top-left corner.
    pub x0: f64,
    /// Pixel width (positive).
    pub res_x: f64,
    /// y of the top-left corner.
    pub y0: f64,
    /// Pixel height (negative for north-up).
    pub res_y: f64,
}

impl Affine {
    /// The transform as GDAL orders it: `[x0, res_x, 0, y0, 0, res_y]`.
    #[must_use]
    pub fn gdal_geotransform(&self) -> [f64; 6] {
        [self.x0, self.res_x, 0.0, self.y0, 0.0, self.res_y]
    }

    /// CRS coordinates of a (fractional) pixel position `(col, row)`.
    #[must_use]
    pub fn apply(&self, col: f64, row: f64) -> (f64, f64) {
        (self.x0 + col * self.res_x, self.y0 + row * self.res_y)
    }

    /// Fractional pixel position `(col, row)` of CRS coordinates.
    #[must_use]
    pub fn invert(&self, x: f64, y: f64) -> (f64, f64) {
        ((x - self.x0) / self.res_x, (y - self.y0) / self.res_y)
    }
}

/// A rectangle of pixels: `height` rows from `row`, `width` columns from `col`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First row.
    pub row: usize,
    /// First column.
    pub col: usize,
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
}

impl Window {
    /// A window from its first row/column and size.
    #[must_use]
    pub fn new(row: usize, col: usize, height: usize, width: usize) -> Window {
        Window {
            row,
            col,
            height,
            width,
        }
    }

    /// The row indices covered.
    #[must_use]
    pub fn rows(&self) -> Range<usize> {
        self.row..self.row + self.height
    }

    /// The column indices covered.
    #[must_use]
    pub fn cols(&self) -> Range<usize> {
        self.col..self.col + self.width
    }

    /// True when the window holds no pixel.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.height == 0 || self.width == 0
    }

    /// The pixels two windows share, `None` when none.
    #[must_use]
    pub fn intersection(&self, other: &Window) -> Option<Window> {
        let r0 = self.row.max(other.row);
        let r1 = (self.row + self.height).min(other.row + other.height);
        let c0 = self.col.max(other.col);
        let c1 = (self.col + self.width).min(other.col + other.width);
        (r1 > r0 && c1 > c0).then(|| Window::new(r0, c0, r1 - r0, c1 - c0))
    }

    /// Whether `other` lies entirely inside this window.
    #[must_use]
    pub fn contains(&self, other: &Window) -> bool {
        other.row >= self.row
            && other.col >= self.col
            && other.row + other.height <= self.row + self.height
            && other.col + other.width <= self.col + self.width
    }
}

/// A north-up grid of `height × width` pixels in a CRS (odc-geo's `GeoBox`).
///
/// Serialises as `{"width", "height", "affine", "crs"}`; deserialising
/// validates like [`GeoBox::new`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "GeoBoxRepr")]
pub struct GeoBox {
    width: usize,
    height: usize,
    affine: Affine,
    crs: Crs,
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
fn f(n: usize) -> f64 {
    n as f64
}

/// `floor`/`ceil` of `v` to an integer, treating values within `tol` of an
/// integer as that integer. `None` when not finite or out of `i64` range.
#[allow(clippy::cast_possible_truncation)]
fn snap_int(v: f64, tol: f64, up: bool) -> Option<i64> {
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

fn is_integral(v: f64, tol: f64) -> bool {
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
        let Affine {
            x0,
            res_x,
            y0,
            res_y,
        } = affine;
        if ![x0, res_x, y0, res_y].iter().all(|v| v.is_finite()) {
            return Err(Error::InvalidGrid(format!(
                "non-finite affine transform {affine:?}"
            )));
        }
        if res_x <= 0.0 || res_y >= 0.0 {
            return Err(Error::InvalidGrid(format!(
                "grid must be north-up with res_x > 0 and res_y < 0, got res_x={res_x}, res_y={res_y}"
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

    /// The grid's footprint reprojected to `target`, each edge split into
    /// `densify` pieces (at least 1).
    ///
    /// For a geographic `target` the ring is made continuous: the first vertex
    /// keeps its longitude in [-180°, 180°] and every following vertex is
    /// shifted by a multiple of 360° to lie within 180° of its predecessor, so a
    /// footprint crossing the antimeridian comes out with longitudes beyond
    /// ±180° (e.g. 170°…190°) rather than wrapping the globe. A footprint that
    /// contains a pole spans 360° of longitude and is closed along the pole's
    /// latitude (±90°), so it covers the pole; a pole on a grid corner or edge
    /// becomes an edge along ±90°.
    ///
    /// # Errors
    /// [`Error::Transform`] when a footprint vertex cannot be transformed
    /// (e.g. a global geographic grid into a polar projection).
    pub fn extent_in(&self, target: &Crs, densify: usize) -> Result<Polygon<f64>> {
        let b = self.bbox();
        let corners = LineString::from(vec![
            (b.left, b.top),
            (b.right, b.top),
            (b.right, b.bottom),
            (b.left, b.bottom),
            (b.left, b.top),
        ]);
        let mut ring = densify_linestring(&corners, densify.max(1)).0;
        if &self.crs == target {
            return Ok(Polygon::new(LineString(ring), vec![]));
        }
        let geographic_out = target.is_geographic();
        let mut inside_pole = None;
        if geographic_out && !self.crs.is_geographic() {
            for pole_lat in [90.0, -90.0] {
                let mut p = [(0.0, pole_lat)];
                if Crs::wgs84().transform_points(&self.crs, &mut p).is_err() {
                    continue;
                }
                let (px, py) = p[0];
                let tol = LATTICE_TOL * self.affine.res_x.abs();
                if px < b.left - tol
                    || px > b.right + tol
                    || py < b.bottom - tol
                    || py > b.top + tol
                {
                    continue;
                }
                let on_edge = (px - b.left).abs() <= tol
                    || (px - b.right).abs() <= tol
                    || (py - b.bottom).abs() <= tol
                    || (py - b.top).abs() <= tol;
                if on_edge {
                    insert_on_ring(&mut ring, Coord { x: px, y: py }, tol);
                } else {
                    inside_pole = Some(pole_lat);
                }
            }
        }
        let mut pts: Vec<(f64, f64)> = ring.iter().map(|c| (c.x, c.y)).collect();
        self.crs.transform_points(target, &mut pts)?;
        let ring: Vec<Coord<f64>> = pts.into_iter().map(|(x, y)| Coord { x, y }).collect();
        if !geographic_out {
            return Ok(Polygon::new(LineString(ring), vec![]));
        }
        Ok(Polygon::new(
            LineString(crate::crs::continuous_lonlat_ring(&ring, inside_pole)),
            vec![],
        ))
    }

    /// The chunk grid of `tile_height × tile_width` pixel tiles (a zero size
    /// is treated as 1). The last row/column of tiles may be partial.
    #[must_use]
    pub fn tiles(&self, tile_height: usize, tile_width: usize) -> Tiles {
        Tiles {
            geobox: self.clone(),
            tile_height: tile_height.max(1),
            tile_width: tile_width.max(1),
        }
    }
}

/// Insert `p` into the closed ring at the segment it lies on (within `tol`),
/// unless it already is a vertex.
fn insert_on_ring(ring: &mut Vec<Coord<f64>>, p: Coord<f64>, tol: f64) {
    if ring
        .iter()
        .any(|c| (c.x - p.x).abs() <= tol && (c.y - p.y).abs() <= tol)
    {
        return;
    }
    for i in 0..ring.len().saturating_sub(1) {
        let (a, b) = (ring[i], ring[i + 1]);
        let within = |v: f64, lo: f64, hi: f64| v >= lo.min(hi) - tol && v <= lo.max(hi) + tol;
        let collinear = ((b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x)).abs()
            <= tol * ((b.x - a.x).abs() + (b.y - a.y).abs());
        if collinear && within(p.x, a.x, b.x) && within(p.y, a.y, b.y) {
            ring.insert(i + 1, p);
            return;
        }
    }
}

fn bounding_window(a: &Window, b: &Window) -> Window {
    let r0 = a.row.min(b.row);
    let c0 = a.col.min(b.col);
    let r1 = (a.row + a.height).max(b.row + b.height);
    let c1 = (a.col + a.width).max(b.col + b.width);
    Window::new(r0, c0, r1 - r0, c1 - c0)
}

/// The chunk grid of a [`GeoBox`]: tile `(ty, tx)` covers rows
/// `ty * tile_height ..` and columns `tx * tile_width ..`, clipped to the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Tiles {
    geobox: GeoBox,
    tile_height: usize,
    tile_width: usize,
}

impl Tiles {
    /// Number of tiles `(rows, cols)`.
    #[must_use]
    pub fn shape(&self) -> (usize, usize) {
        (
            self.geobox.height.div_ceil(self.tile_height),
            self.geobox.width.div_ceil(self.tile_width),
        )
    }

    /// Tile size `(tile_height, tile_width)` (the last row/column may be smaller).
    #[must_use]
    pub fn tile_shape(&self) -> (usize, usize) {
        (self.tile_height, self.tile_width)
    }

    /// The grid being tiled.
    #[must_use]
    pub fn base(&self) -> &GeoBox {
        &self.geobox
    }

    /// The pixel window of tile `(ty, tx)`, `None` when out of range.
    #[must_use]
    pub fn window(&self, ty: usize, tx: usize) -> Option<Window> {
        let (ny, nx) = self.shape();
        if ty >= ny || tx >= nx {
            return None;
        }
        let row = ty * self.tile_height;
        let col = tx * self.tile_width;
        Some(Window::new(
            row,
            col,
            self.tile_height.min(self.geobox.height - row),
            self.tile_width.min(self.geobox.width - col),
        ))
    }

    /// The sub-grid of tile `(ty, tx)`, `None` when out of range.
    #[must_use]
    pub fn geobox(&self, ty: usize, tx: usize) -> Option<GeoBox> {
        self.window(ty, tx).and_then(|w| self.geobox.window(w).ok())
    }

    /// All tile indices `(ty, tx)`, row by row.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (ny, nx) = self.shape();
        (0..ny).flat_map(move |ty| (0..nx).map(move |tx| (ty, tx)))
    }

    /// The tiles sharing at least one pixel with window `w` (clipped to the
    /// grid), row by row.
    #[must_use]
    pub fn touching_window(&self, w: Window) -> Vec<(usize, usize)> {
        let Some(w) = w.intersection(&self.geobox.full_window()) else {
            return Vec::new();
        };
        let ty0 = w.row / self.tile_height;
        let ty1 = (w.row + w.height).div_ceil(self.tile_height);
        let tx0 = w.col / self.tile_width;
        let tx1 = (w.col + w.width).div_ceil(self.tile_width);
        (ty0..ty1)
            .flat_map(|ty| (tx0..tx1).map(move |tx| (ty, tx)))
            .collect()
    }

    /// The tiles whose footprint intersects `geom` (given in `geom_crs`; a true
    /// geometric intersection, not a bounding-box test), row by row. The
    /// geometry is reprojected into the grid's CRS with densified edges. On a
    /// geographic grid the geometry is also tested shifted by ±360°.
    ///
    /// # Errors
    /// [`Error::Transform`] when the geometry cannot be reprojected.
    pub fn touching(&self, geom: &Geometry<f64>, geom_crs: &Crs) -> Result<Vec<(usize, usize)>> {
        let g = reproject_geometry(geom, geom_crs, &self.geobox.crs, CROP_DENSIFY)?;
        let shifted: Vec<Geometry<f64>> = crate::crs::lon_shifts(&self.geobox.crs)
            .iter()
            .map(|&s| g.translate(s, 0.0))
            .collect();
        let mut out = Vec::new();
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        for g in &shifted {
            if let Some(rect) = g.bounding_rect()
                && let Some((w, _)) = self.geobox.crop_bbox(&BoundingBox::from_rect(rect))
            {
                candidates.extend(self.touching_window(w));
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        for (ty, tx) in candidates {
            let Some(tile) = self.geobox(ty, tx) else {
                continue;
            };
            let poly = tile.bbox().to_polygon();
            if shifted.iter().any(|g| poly.intersects(g)) {
                out.push((ty, tx));
            }
        }
        Ok(out)
    }
}

/// Footprints of several tiles as one multipolygon (handy for debugging and
/// for writing tile indexes).
#[must_use]
pub fn tiles_footprint(tiles: &Tiles, which: &[(usize, usize)]) -> MultiPolygon<f64> {
    MultiPolygon(
        which
            .iter()
            .filter_map(|&(ty, tx)| tiles.geobox(ty, tx))
            .map(|g| g.bbox().to_polygon())
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use geo::{Contains, Point};

    use super::*;

    fn polar() -> Crs {
        Crs::from_epsg(3413).unwrap()
    }

    fn gb(x0: f64, y0: f64, res: f64, w: usize, h: usize) -> GeoBox {
        GeoBox::new(
            w,
            h,
            Affine {
                x0,
                res_x: res,
                y0,
                res_y: -res,
            },
            polar(),
        )
        .unwrap()
    }

    #[test]
    fn validation() {
        let a = Affine {
            x0: 0.0,
            res_x: 1.0,
            y0: 0.0,
            res_y: -1.0,
        };
        assert!(GeoBox::new(0, 1, a, polar()).is_err());
        assert!(GeoBox::new(1, 0, a, polar()).is_err());
        assert!(GeoBox::new(1, 1, Affine { res_y: 1.0, ..a }, polar()).is_err());
        assert!(GeoBox::new(1, 1, Affine { res_x: -1.0, ..a }, polar()).is_err());
        assert!(GeoBox::new(1, 1, Affine { x0: f64::NAN, ..a }, polar()).is_err());
        assert!(GeoBox::from_bbox(BoundingBox::new(0.0, 0.0, 1.0, 1.0), polar(), 0.0).is_err());
        assert!(
            GeoBox::from_bbox(BoundingBox::new(0.0, 0.0, 1.0, f64::INFINITY), polar(), 1.0)
                .is_err()
        );
        assert!(GeoBox::from_bbox(BoundingBox::new(2.0, 0.0, 1.0, 1.0), polar(), 1.0).is_err());
        assert!(
            GeoBox::from_bbox_shape(BoundingBox::new(0.0, 0.0, 0.0, 1.0), polar(), 1, 1).is_err()
        );
    }

    #[test]
    fn from_bbox_snaps_outward() {
        let g =
            GeoBox::from_bbox(BoundingBox::new(-10.0, -70.0, 95.0, 30.0), polar(), 32.0).unwrap();
        assert_eq!(g.bbox(), BoundingBox::new(-32.0, -96.0, 96.0, 32.0));
        assert_eq!(g.shape(), (4, 4));
        assert_eq!(
            g.affine().gdal_geotransform(),
            [-32.0, 32.0, 0.0, 32.0, 0.0, -32.0]
        );
        // Edges within 1 % of a pixel of a lattice line snap to it.
        let g = GeoBox::from_bbox(BoundingBox::new(0.1, 0.0, 64.2, 31.9), polar(), 32.0).unwrap();
        assert_eq!(g.bbox(), BoundingBox::new(0.0, 0.0, 64.0, 32.0));
        // A degenerate box still gets one pixel.
        let g = GeoBox::from_bbox(BoundingBox::new(5.0, 5.0, 5.0, 5.0), polar(), 10.0).unwrap();
        assert_eq!(g.bbox(), BoundingBox::new(0.0, 0.0, 10.0, 10.0));
    }

    #[test]
    fn from_bbox_shape_and_coords() {
        let g =
            GeoBox::from_bbox_shape(BoundingBox::new(0.0, 0.0, 40.0, 20.0), polar(), 4, 2).unwrap();
        assert_eq!(g.resolution(), (10.0, -10.0));
        assert_eq!(g.xs(), vec![5.0, 15.0, 25.0, 35.0]);
        assert_eq!(g.ys(), vec![15.0, 5.0]);
        assert_eq!(g.bbox(), BoundingBox::new(0.0, 0.0, 40.0, 20.0));
        assert_eq!(g.bbox().to_string(), "[0, 0, 40, 20]");
    }

    #[test]
    fn serde_validates() {
        let g = gb(0.0, 10.0, 2.0, 3, 4);
        let j = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<GeoBox>(&j).unwrap(), g);
        let bad = j.replace("\"width\":3", "\"width\":0");
        assert!(serde_json::from_str::<GeoBox>(&bad).is_err());
    }

    #[test]
    fn windows() {
        let g = gb(100.0, 200.0, 10.0, 5, 4);
        let s = g.window(Window::new(1, 2, 2, 3)).unwrap();
        assert_eq!(
            s.affine(),
            Affine {
                x0: 120.0,
                res_x: 10.0,
                y0: 190.0,
                res_y: -10.0
            }
        );
        assert_eq!(s.shape(), (2, 3));
        assert!(g.window(Window::new(3, 0, 2, 1)).is_err());
        assert!(g.window(Window::new(0, 0, 0, 1)).is_err());
        let w = Window::new(1, 1, 3, 3);
        assert_eq!(
            w.intersection(&Window::new(3, 3, 5, 5)),
            Some(Window::new(3, 3, 1, 1))
        );
        assert_eq!(w.intersection(&Window::new(4, 0, 5, 5)), None);
        assert_eq!(w.rows(), 1..4);
        assert_eq!(w.cols(), 1..4);
    }

    #[test]
    fn overlap_roi_cases() {
        let a = gb(0.0, 100.0, 10.0, 10, 10);
        let b = gb(50.0, 80.0, 10.0, 10, 3);
        let (wa, wb) = a.overlap_roi(&b).unwrap().unwrap();
        assert_eq!(wa, Window::new(2, 5, 3, 5));
        assert_eq!(wb, Window::new(0, 0, 3, 5));
        assert_eq!(b.overlap_roi(&a).unwrap().unwrap(), (wb, wa));
        // Disjoint, and merely touching.
        assert_eq!(a.overlap_roi(&gb(100.0, 100.0, 10.0, 3, 3)).unwrap(), None);
        assert_eq!(a.overlap_roi(&gb(1000.0, 100.0, 10.0, 3, 3)).unwrap(), None);
        // Mismatches.
        assert!(matches!(
            a.overlap_roi(&gb(5.0, 100.0, 10.0, 3, 3)),
            Err(Error::GridMismatch(_))
        ));
        assert!(matches!(
            a.overlap_roi(&gb(0.0, 100.0, 5.0, 3, 3)),
            Err(Error::GridMismatch(_))
        ));
        let other_crs = GeoBox::new(3, 3, a.affine(), Crs::from_epsg(3995).unwrap()).unwrap();
        assert!(matches!(
            a.overlap_roi(&other_crs),
            Err(Error::GridMismatch(_))
        ));
        // Floating-point noise within 1e-6 px is tolerated.
        assert!(
            a.overlap_roi(&gb(50.0 + 1e-9, 80.0, 10.0, 2, 2))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn crop_bbox_rounds_outward() {
        let g = gb(0.0, 100.0, 10.0, 10, 10);
        let (w, s) = g
            .crop_bbox(&BoundingBox::new(15.0, 55.0, 35.0, 75.0))
            .unwrap();
        assert_eq!(w, Window::new(2, 1, 3, 3));
        assert_eq!(s.bbox(), BoundingBox::new(10.0, 50.0, 40.0, 80.0));
        // Exactly on pixel edges: no extra pixel.
        let (w, _) = g
            .crop_bbox(&BoundingBox::new(10.0, 50.0, 40.0, 80.0))
            .unwrap();
        assert_eq!(w, Window::new(2, 1, 3, 3));
        // Clipped.
        let (w, _) = g
            .crop_bbox(&BoundingBox::new(-50.0, 95.0, 5.0, 500.0))
            .unwrap();
        assert_eq!(w, Window::new(0, 0, 1, 1));
        // A point touches its pixel.
        let (w, _) = g
            .crop_bbox(&BoundingBox::new(55.0, 55.0, 55.0, 55.0))
            .unwrap();
        assert_eq!(w, Window::new(4, 5, 1, 1));
        // Disjoint or only sharing an edge.
        assert!(
            g.crop_bbox(&BoundingBox::new(100.0, 0.0, 200.0, 100.0))
                .is_none()
        );
        assert!(
            g.crop_bbox(&BoundingBox::new(-20.0, -20.0, -10.0, -10.0))
                .is_none()
        );
        assert!(
            g.crop_bbox(&BoundingBox::new(0.0, f64::NAN, 1.0, 1.0))
                .is_none()
        );
    }

    #[test]
    fn tiles_grid() {
        let g = gb(0.0, 100.0, 1.0, 10, 7);
        let t = g.tiles(3, 4);
        assert_eq!(t.shape(), (3, 3));
        assert_eq!(t.window(2, 2), Some(Window::new(6, 8, 1, 2)));
        assert_eq!(t.window(3, 0), None);
        assert_eq!(t.geobox(1, 1).unwrap().affine().x0, 4.0);
        assert_eq!(t.iter().count(), 9);
        assert_eq!(
            t.touching_window(Window::new(2, 3, 2, 2)),
            vec![(0, 0), (0, 1), (1, 0), (1, 1)]
        );
        assert_eq!(t.touching_window(Window::new(20, 20, 2, 2)), vec![]);
        assert_eq!(g.tiles(0, 0).shape(), (7, 10));
    }

    #[test]
    fn touching_is_a_true_intersection() {
        // A thin diagonal line touches the diagonal tiles only, not its bbox.
        let g = gb(0.0, 400.0, 1.0, 400, 400);
        let t = g.tiles(100, 100);
        // x + y = 399 passes just below each tile corner on the diagonal.
        let line = Geometry::LineString(LineString::from(vec![(1.0, 398.0), (398.0, 1.0)]));
        let hit = t.touching(&line, &polar()).unwrap();
        assert_eq!(
            hit,
            vec![(0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (3, 2), (3, 3)]
        );
        let far = Geometry::Point(Point::new(1e6, 1e6));
        assert!(t.touching(&far, &polar()).unwrap().is_empty());
    }

    /// A 400 km box in EPSG:3413 centred on the 180° meridian at about 70°N.
    fn antimeridian_box() -> GeoBox {
        let mut c = [(180.0, 70.0)];
        Crs::wgs84().transform_points(&polar(), &mut c).unwrap();
        let (cx, cy) = c[0];
        GeoBox::from_bbox(
            BoundingBox::new(cx - 200e3, cy - 200e3, cx + 200e3, cy + 200e3),
            polar(),
            1000.0,
        )
        .unwrap()
    }

    #[test]
    fn extent_across_the_antimeridian() {
        let g = antimeridian_box();
        let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
        let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
        // Continuous longitudes around 180°, not a band spanning the globe.
        assert!(b.width() < 20.0, "{b}");
        assert!(
            b.left < 180.0 && b.right > 180.0 || b.left < -180.0 && b.right > -180.0,
            "{b}"
        );
        assert!(b.bottom > 65.0 && b.top < 75.0, "{b}");
        let shifted = if b.right > 180.0 { 180.0 } else { -180.0 };
        assert!(e.contains(&Point::new(shifted, 70.0)));

        // Same in UTM zone 1 (central meridian 177°W) for a box reaching past 180°.
        let utm = Crs::from_epsg(32601).unwrap();
        let g =
            GeoBox::from_bbox(BoundingBox::new(100e3, 6.5e6, 400e3, 7.0e6), utm, 1000.0).unwrap();
        let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
        let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
        assert!(b.width() < 20.0, "{b}");
        assert!(
            b.left < 180.0 && b.right > 180.0 || b.left < -180.0 && b.right > -180.0,
            "{b}"
        );
    }

    #[test]
    fn extent_around_the_pole() {
        let g = GeoBox::from_bbox(
            BoundingBox::new(-300e3, -200e3, 400e3, 500e3),
            polar(),
            1000.0,
        )
        .unwrap();
        let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
        let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
        assert!(
            (b.width() - 360.0).abs() < 1e-9 && (b.top - 90.0).abs() < 1e-12,
            "{b}"
        );
        // Every point of the footprint (and the pole) is inside, modulo 360°.
        let inside = |lon: f64, lat: f64| {
            (-1..=1).any(|k| e.intersects(&Point::new(lon + 360.0 * f64::from(k), lat)))
        };
        assert!(inside(b.left + 1.0, 89.999));
        for (x, y) in [
            (-250e3, -150e3),
            (350e3, 450e3),
            (0.0, 0.0),
            (10e3, -5e3),
            (-290e3, 490e3),
        ] {
            let mut p = [(x, y)];
            polar().transform_points(&Crs::wgs84(), &mut p).unwrap();
            assert!(inside(p[0].0, p[0].1), "({x}, {y}) -> {:?}", p[0]);
        }
        // A pole on a corner of the grid (a lattice anchored at 0) is fine too.
        let g =
            GeoBox::from_bbox(BoundingBox::new(0.0, 0.0, 300e3, 300e3), polar(), 1000.0).unwrap();
        let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
        let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
        assert!(
            b.width() <= 90.0 + 1e-6 && (b.top - 90.0).abs() < 1e-9,
            "{b}"
        );
        // On an edge.
        let g = GeoBox::from_bbox(BoundingBox::new(-100e3, 0.0, 300e3, 300e3), polar(), 1000.0)
            .unwrap();
        let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
        let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
        assert!(
            b.width() <= 180.0 + 1e-6 && (b.top - 90.0).abs() < 1e-9,
            "{b}"
        );
        for (x, y) in [(100e3, 100e3), (-90e3, 10e3), (290e3, 290e3)] {
            let mut p = [(x, y)];
            polar().transform_points(&Crs::wgs84(), &mut p).unwrap();
            assert!(
                (-1..=1).any(|k| e.intersects(&Point::new(p[0].0 + 360.0 * f64::from(k), p[0].1))),
                "({x}, {y})"
            );
        }
    }

    #[test]
    fn touching_near_the_antimeridian() {
        let g = antimeridian_box();
        let t = g.tiles(50, 50);
        // The same small area as one polygon with continuous longitudes and as
        // two parts split at ±180°.
        let whole = Geometry::Polygon(BoundingBox::new(179.5, 69.8, 180.5, 70.2).to_polygon());
        let split = Geometry::MultiPolygon(MultiPolygon(vec![
            BoundingBox::new(179.5, 69.8, 180.0, 70.2).to_polygon(),
            BoundingBox::new(-180.0, 69.8, -179.5, 70.2).to_polygon(),
        ]));
        let a = t.touching(&whole, &Crs::wgs84()).unwrap();
        let b = t.touching(&split, &Crs::wgs84()).unwrap();
        assert_eq!(a, b);
        // Brute force: the tiles that hold a sample of the area.
        let mut expected = Vec::new();
        for i in 0..=40 {
            for j in 0..=40 {
                let mut p = [(
                    179.5 + f64::from(i) / 40.0,
                    69.8 + 0.4 * f64::from(j) / 40.0,
                )];
                Crs::wgs84().transform_points(&polar(), &mut p).unwrap();
                let (c, r) = g.affine().invert(p[0].0, p[0].1);
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                expected.push((r as usize / 50, c as usize / 50));
            }
        }
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(a, expected);
        assert!(!a.is_empty() && a.len() < t.iter().count());
    }

    #[test]
    fn crop_geometry_by_reprojected_bounds() {
        let g = antimeridian_box();
        let aoi = Geometry::Polygon(BoundingBox::new(179.5, 69.8, 180.5, 70.2).to_polygon());
        let (w, sub) = g.crop_geometry(&aoi, &Crs::wgs84()).unwrap().unwrap();
        assert!(w.width < g.width() && w.height < g.height());
        assert_eq!(sub, g.window(w).unwrap());
        let far = Geometry::Polygon(BoundingBox::new(10.0, 60.0, 11.0, 61.0).to_polygon());
        assert!(g.crop_geometry(&far, &Crs::wgs84()).unwrap().is_none());

        // A global geographic grid: an area across 180° selects both edges.
        let world = GeoBox::from_bbox(
            BoundingBox::new(-180.0, -90.0, 180.0, 90.0),
            Crs::wgs84(),
            1.0,
        )
        .unwrap();
        let (w, _) = world.crop_geometry(&aoi, &Crs::wgs84()).unwrap().unwrap();
        assert_eq!((w.col, w.width), (0, 360));
    }
}
