//! Reprojecting geometries between CRSs, with edges densified so that
//! straight lines follow their curved image.

use geo::{Coord, CoordsIter, Geometry, LineString, MapCoords, Polygon};

use super::Crs;
use super::antimeridian::continuous_lonlat;
use crate::error::Result;

/// Vertices a densified geometry may have. Densifying exists for the long
/// straight edges of boxes and simple outlines; a geometry of many
/// vertices already has short edges, and densifying it 32 times would hold
/// 16 bytes × 32 per input vertex, several times over (a 1.5 MB GeoJSON
/// AOI of 125 000 vertices took a single 64 MiB block and 157 MB in all).
const MAX_DENSE_VERTICES: usize = 1 << 20;

/// Reproject a geometry from `from` to `to`. Every segment is first split into
/// `densify` equal pieces (0 or 1 = no densification) so that straight edges
/// follow their curved image in the target CRS; fewer when that would give
/// more than 2²⁰ vertices (at least one piece: a geometry already that
/// detailed is reprojected vertex by vertex).
///
/// No antimeridian handling is done here: a geometry whose image crosses ±180°
/// in a geographic target comes out with a longitude jump (see
/// [`crate::GeoBox::extent_in`] for a footprint that handles it).
///
/// # Errors
/// [`Error::Transform`] when a vertex cannot be transformed.
pub fn reproject_geometry(
    geom: &Geometry<f64>,
    from: &Crs,
    to: &Crs,
    densify: usize,
) -> Result<Geometry<f64>> {
    let vertices = geom.coords_count().max(1);
    let densify = densify.min((MAX_DENSE_VERTICES / vertices).max(1));
    let dense = densify_geometry(geom, densify);
    if from == to {
        return Ok(dense);
    }
    let mut pts: Vec<(f64, f64)> = Vec::with_capacity(dense.coords_count());
    pts.extend(dense.coords_iter().map(|c| (c.x, c.y)));
    from.transform_points(to, &mut pts)?;
    // `map_coords` visits coordinates in the same order as `coords_iter`.
    let next = std::cell::Cell::new(0_usize);
    let (pts, next) = (&pts, &next);
    let out = dense.map_coords(|_| {
        let i = next.get();
        next.set(i + 1);
        let (x, y) = pts.get(i).copied().unwrap_or((f64::NAN, f64::NAN));
        Coord { x, y }
    });
    if to.is_geographic() && !from.is_geographic() {
        return Ok(continuous_lonlat(&out));
    }
    Ok(out)
}

/// Split every segment of `ls` into `n` equal pieces.
pub(crate) fn densify_linestring(ls: &LineString<f64>, n: usize) -> LineString<f64> {
    if n <= 1 || ls.0.len() < 2 {
        return ls.clone();
    }
    let mut out = Vec::with_capacity((ls.0.len() - 1) * n + 1);
    for w in ls.0.windows(2) {
        let (a, b) = (w[0], w[1]);
        for i in 0..n {
            #[allow(clippy::cast_precision_loss)]
            let t = i as f64 / n as f64;
            out.push(Coord {
                x: a.x + (b.x - a.x) * t,
                y: a.y + (b.y - a.y) * t,
            });
        }
    }
    if let Some(last) = ls.0.last() {
        out.push(*last);
    }
    LineString(out)
}

fn densify_polygon(p: &Polygon<f64>, n: usize) -> Polygon<f64> {
    Polygon::new(
        densify_linestring(p.exterior(), n),
        p.interiors()
            .iter()
            .map(|r| densify_linestring(r, n))
            .collect(),
    )
}

/// Split every segment of a geometry into `n` equal pieces.
fn densify_geometry(geom: &Geometry<f64>, n: usize) -> Geometry<f64> {
    use geo::{GeometryCollection, MultiLineString, MultiPolygon};
    if n <= 1 {
        return geom.clone();
    }
    match geom {
        Geometry::Line(l) => {
            Geometry::LineString(densify_linestring(&LineString(vec![l.start, l.end]), n))
        }
        Geometry::LineString(ls) => Geometry::LineString(densify_linestring(ls, n)),
        Geometry::MultiLineString(m) => Geometry::MultiLineString(MultiLineString(
            m.0.iter().map(|l| densify_linestring(l, n)).collect(),
        )),
        Geometry::Polygon(p) => Geometry::Polygon(densify_polygon(p, n)),
        Geometry::MultiPolygon(m) => Geometry::MultiPolygon(MultiPolygon(
            m.0.iter().map(|p| densify_polygon(p, n)).collect(),
        )),
        Geometry::Rect(r) => Geometry::Polygon(densify_polygon(&r.to_polygon(), n)),
        Geometry::Triangle(t) => Geometry::Polygon(densify_polygon(&t.to_polygon(), n)),
        Geometry::GeometryCollection(c) => Geometry::GeometryCollection(GeometryCollection(
            c.0.iter().map(|g| densify_geometry(g, n)).collect(),
        )),
        Geometry::Point(_) | Geometry::MultiPoint(_) => geom.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detailed_geometries_are_densified_less() {
        let wgs84 = Crs::wgs84();
        let polar = Crs::from_epsg(3413).expect("crs");
        let ring = |n: usize| {
            let mut pts: Vec<(f64, f64)> = (0..n)
                .map(|i| (-45.0 + i as f64 * 1e-4, 70.0 + (i % 2) as f64 * 1e-4))
                .collect();
            pts.push(pts[0]);
            Geometry::Polygon(Polygon::new(LineString::from(pts), vec![]))
        };
        let count = |g: &Geometry<f64>| g.coords_count();
        // A box: every edge in 32 pieces.
        let small = reproject_geometry(&ring(4), &wgs84, &polar, 32).expect("reprojects");
        assert_eq!(count(&small), 4 * 32 + 1);
        // 100 000 vertices: 10 pieces each keep it under 2^20.
        let big = reproject_geometry(&ring(100_000), &wgs84, &polar, 32).expect("reprojects");
        assert_eq!(count(&big), 100_000 * 10 + 1);
        // More vertices than the cap: vertex by vertex.
        let huge = reproject_geometry(&ring(1 << 20), &wgs84, &polar, 32).expect("reprojects");
        assert_eq!(count(&huge), (1 << 20) + 1);
    }

    #[test]
    fn densify_counts() {
        let ls = LineString::from(vec![(0.0, 0.0), (4.0, 0.0), (4.0, 4.0)]);
        let d = densify_linestring(&ls, 4);
        assert_eq!(d.0.len(), 9);
        assert_eq!(d.0[1], Coord { x: 1.0, y: 0.0 });
        assert_eq!(d.0[8], Coord { x: 4.0, y: 4.0 });
    }
}
