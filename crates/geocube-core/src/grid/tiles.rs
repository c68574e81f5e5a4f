//! [`Tiles`]: the chunk grid of a [`GeoBox`], and which tiles a window or geometry touches.

use geo::{BoundingRect, Geometry, Intersects, MultiPolygon, Translate};

use super::{BoundingBox, CROP_DENSIFY, GeoBox, Window};
use crate::crs::{Crs, reproject_geometry};
use crate::error::Result;

impl GeoBox {
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
