//! A grid's footprint in another CRS ([`GeoBox::extent_in`]): densified
//! edges, poles on or inside the grid, and longitudes made continuous
//! across the antimeridian.

use geo::{Coord, LineString, Polygon};

use super::{GeoBox, LATTICE_TOL};
use crate::crs::{Crs, densify_linestring};
use crate::error::Result;

impl GeoBox {
    /// The bounding box of [`GeoBox::extent_in`] with every edge split in
    /// 32: what the grid covers in `target`, e.g. to build a destination
    /// grid for it.
    ///
    /// # Errors
    /// As [`GeoBox::extent_in`].
    pub fn bbox_in(&self, target: &Crs) -> Result<super::BoundingBox> {
        use geo::BoundingRect;
        let poly = self.extent_in(target, 32)?;
        poly.bounding_rect()
            .map(super::BoundingBox::from_rect)
            .ok_or_else(|| crate::Error::InvalidGrid("the grid has an empty footprint".into()))
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
