//! [`Affine`]: the north-up pixel-to-CRS transform of a grid.

use serde::{Deserialize, Serialize};

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
    /// Whether every coefficient is finite.
    #[must_use]
    pub fn is_finite(&self) -> bool {
        [self.x0, self.res_x, self.y0, self.res_y]
            .iter()
            .all(|v| v.is_finite())
    }

    /// Whether pixels grow east and south (`res_x > 0`, `res_y < 0`), as every
    /// grid geocube handles must.
    #[must_use]
    pub fn is_north_up(&self) -> bool {
        self.res_x > 0.0 && self.res_y < 0.0
    }

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
