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

mod affine;
mod bbox;
mod footprint;
mod geobox;
mod tiles;
mod window;

pub use self::affine::Affine;
pub use self::bbox::BoundingBox;
pub use self::geobox::GeoBox;
pub use self::tiles::{Tiles, tiles_footprint};
pub use self::window::Window;

/// Tolerance, in pixels, for deciding that two coordinates lie on the same
/// lattice line.
const LATTICE_TOL: f64 = 1e-6;
/// odc-geo's snapping tolerance: a bbox edge within this fraction of a pixel
/// of a lattice line snaps to that line instead of adding a pixel.
const SNAP_TOL: f64 = 0.01;
/// Points per edge when a footprint or bbox is reprojected for cropping.
const CROP_DENSIFY: usize = 32;

#[cfg(test)]
mod tests;
