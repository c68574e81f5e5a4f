//! Coastlines, land borders and a labelled graticule in any cube CRS,
//! offline: the context a map of a cube's footprints needs to be readable.
//!
//! The lines come from Natural Earth 1:110m admin-0 countries (public
//! domain; "Made with Natural Earth"), built into the crate (65 KB):
//! coastlines are the country edges that belong to one country, borders the
//! edges two countries share. Every function returns lines in the map CRS,
//! cut where the projection stops being usable (the far hemisphere of a
//! polar stereographic projection, Mercator near the poles, a geographic
//! CRS's antimeridian), densified so that they curve as they should, and
//! clipped to the bounds when given. [`crate::Accessor::visualize_state`]
//! draws them; a Python caller hands them to matplotlib.
//!
//! ```
//! use geocube::basemap::{self, Edge, GraticuleKind};
//! use geocube::{BoundingBox, Crs};
//!
//! # fn main() -> geocube::Result<()> {
//! // South-west Greenland in NSIDC polar stereographic north.
//! let crs = Crs::from_epsg(3413)?;
//! let bounds = BoundingBox::new(-900e3, -3.4e6, 300e3, -2.2e6);
//! let coast = basemap::coastlines(&crs, Some(bounds))?;
//! assert!(coast.len() > 1);
//! assert!(coast.iter().flatten().all(|&(x, y)| {
//!     (bounds.left..=bounds.right).contains(&x) && (bounds.bottom..=bounds.top).contains(&y)
//! }));
//!
//! // Every 5 degrees: labelled lines, and where to write each label.
//! let grid = basemap::graticule(&crs, Some(bounds), 5.0);
//! let p65 = grid.iter().find(|l| l.label == "65°N").expect("65°N is in view");
//! assert_eq!(p65.kind, GraticuleKind::Parallel);
//! assert_eq!(p65.anchor.edge, Some(Edge::Left));
//! assert!(grid.iter().any(|l| l.label == "50°W"));
//!
//! // Or steps that suit the bounds, as the state map draws them.
//! let (lon_step, lat_step) = basemap::nice_steps(&crs, bounds);
//! let grid = basemap::graticule_steps(&crs, Some(bounds), lon_step, lat_step);
//! assert!(grid.len() >= 6);
//! # Ok(()) }
//! ```

mod data;
mod graticule;
mod project;

use geocube_core::{BoundingBox, Crs};

pub use self::graticule::{
    Edge, GraticuleKind, GraticuleLine, LabelAnchor, graticule_steps, nice_steps,
};
use crate::{Error, Result};

/// A polyline in a map CRS: `(x, y)` points, two or more.
pub type Polyline = Vec<(f64, f64)>;

/// The attribution a map drawn with these lines should carry.
pub const ATTRIBUTION: &str = "Coastlines and borders: Natural Earth (public domain)";

fn layers() -> Result<&'static data::Layers> {
    data::layers().map_err(|e| Error::BasemapData {
        offset: e.offset,
        reason: e.reason,
    })
}

/// The coastlines in `crs`, clipped to `bounds` (in `crs`) when given,
/// as polylines (a closed ring's first point is repeated last).
///
/// Nothing is returned for bounds that see no part of the Earth, or where
/// the projection is unusable (see the module docs). Without bounds the
/// whole usable area is returned, which for a polar stereographic CRS
/// reaches well into the far hemisphere.
///
/// # Errors
/// [`Error::BasemapData`] if the built-in data do not parse (a damaged
/// build).
pub fn coastlines(crs: &Crs, bounds: Option<BoundingBox>) -> Result<Vec<Polyline>> {
    let land = &layers()?.land;
    // The rings minus the dataset's seams (antimeridian cut, south pole).
    let mut coast: Vec<&[(f64, f64)]> = vec![];
    for ring in land {
        let mut start = 0;
        for (i, w) in ring.windows(2).enumerate() {
            if data::is_seam(w[0], w[1]) {
                if i > start {
                    coast.push(&ring[start..=i]);
                }
                start = i + 1;
            }
        }
        if ring.len() - 1 > start {
            coast.push(&ring[start..]);
        }
    }
    Ok(project::lines(coast, crs, bounds))
}

/// The land borders between countries in `crs`, clipped to `bounds` when
/// given (as [`coastlines`]).
///
/// # Errors
/// [`Error::BasemapData`] if the built-in data do not parse.
pub fn borders(crs: &Crs, bounds: Option<BoundingBox>) -> Result<Vec<Polyline>> {
    let borders = &layers()?.borders;
    Ok(project::lines(
        borders.iter().map(Vec::as_slice),
        crs,
        bounds,
    ))
}

/// The land as closed rings in `crs`, to fill with the even-odd rule
/// (lakes such as the Caspian Sea are holes) on a map of `bounds`.
///
/// The rings are cut to a longitude/latitude rectangle around the bounds,
/// not to the bounds themselves: they reach somewhat past them, so clip
/// when drawing (the state map fills the sea, then the land over it). They
/// include the coast and the dataset's seams along the antimeridian and the
/// south pole (which [`coastlines`] leaves out, so outline land with that).
/// A ring that would cross a part of the world the projection cannot show
/// is left out.
///
/// # Errors
/// [`Error::BasemapData`] if the built-in data do not parse.
pub fn land(crs: &Crs, bounds: BoundingBox) -> Result<Vec<Polyline>> {
    let land = &layers()?.land;
    Ok(project::rings(land.iter().map(Vec::as_slice), crs, bounds))
}

/// Meridians and parallels every `step_deg` degrees (see
/// [`graticule_steps`] for different steps per family and [`nice_steps`]
/// for steps that suit a map's bounds).
#[must_use]
pub fn graticule(crs: &Crs, bounds: Option<BoundingBox>, step_deg: f64) -> Vec<GraticuleLine> {
    graticule_steps(crs, bounds, step_deg, step_deg)
}

/// The bounds of a map of `footprints` (their extent in the map CRS, if
/// any) in a cube whose extent is `extent`: a square around the footprints
/// with a margin, large enough to show where they are (at least 2 000 km,
/// or 20° in a geographic CRS, unless the cube itself is smaller than that),
/// or the whole cube when nothing is loaded.
#[must_use]
pub fn frame(
    extent: BoundingBox,
    footprints: Option<BoundingBox>,
    geographic: bool,
) -> BoundingBox {
    let context: f64 = if geographic { 20.0 } else { 2_000_000.0 };
    let square = |cx: f64, cy: f64, side: f64| {
        let h = side / 2.0;
        BoundingBox::new(cx - h, cy - h, cx + h, cy + h)
    };
    let cube_side = extent.width().max(extent.height());
    let centre = |b: &BoundingBox| (0.5 * (b.left + b.right), 0.5 * (b.bottom + b.top));
    let usable = |b: &BoundingBox| {
        [b.left, b.bottom, b.right, b.top]
            .iter()
            .all(|v| v.is_finite())
            && b.width() >= 0.0
            && b.height() >= 0.0
    };
    let Some(fp) = footprints.filter(usable) else {
        let (cx, cy) = centre(&extent);
        return square(cx, cy, cube_side);
    };
    let fp_side = fp.width().max(fp.height());
    let side = (1.3 * fp_side).max(context.min(cube_side.max(4.0 * fp_side)));
    let (cx, cy) = centre(&fp);
    square(cx, cy, if side > 0.0 { side } else { context })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coastlines_leave_out_the_seams() {
        let coast = coastlines(&Crs::wgs84(), None).expect("coast");
        assert!(coast.len() > 120, "{}", coast.len());
        // No segment runs along the antimeridian or the south pole.
        for line in &coast {
            for w in line.windows(2) {
                assert!(!data::is_seam(w[0], w[1]), "{:?}", w);
            }
        }
    }

    #[test]
    fn frames() {
        let cube = BoundingBox::new(-4e6, -4e6, 4e6, 4e6);
        assert_eq!(frame(cube, None, false), cube);
        // One 100 km patch: 2 000 km of context around it.
        let fp = BoundingBox::new(0.0, 0.0, 100e3, 100e3);
        let f = frame(cube, Some(fp), false);
        assert!((f.width() - 2e6).abs() < 1.0 && (f.height() - 2e6).abs() < 1.0);
        assert!((f.left + f.right).abs() - 100e3 < 1.0);
        // Patches across the cube: their extent and a margin.
        let wide = BoundingBox::new(-3e6, -1e6, 3e6, 1e6);
        let f = frame(cube, Some(wide), false);
        assert!((f.width() - 7.8e6).abs() < 1.0, "{f:?}");
        // A small cube: framed to it, not to 2 000 km.
        let small = BoundingBox::new(0.0, 0.0, 6400.0, 6400.0);
        let f = frame(
            small,
            Some(BoundingBox::new(1000.0, 1000.0, 2000.0, 2000.0)),
            false,
        );
        assert!((f.width() - 6400.0).abs() < 1e-6, "{f:?}");
    }
}
