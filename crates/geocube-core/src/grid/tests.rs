//! Unit tests of the grid maths.
#![allow(clippy::unwrap_used)]

use geo::{Contains, Point};

use super::*;
use crate::crs::Crs;
use crate::error::Error;
use geo::{BoundingRect, Geometry, Intersects, LineString, MultiPolygon};

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
        GeoBox::from_bbox(BoundingBox::new(0.0, 0.0, 1.0, f64::INFINITY), polar(), 1.0).is_err()
    );
    assert!(GeoBox::from_bbox(BoundingBox::new(2.0, 0.0, 1.0, 1.0), polar(), 1.0).is_err());
    assert!(GeoBox::from_bbox_shape(BoundingBox::new(0.0, 0.0, 0.0, 1.0), polar(), 1, 1).is_err());
}

#[test]
fn from_bbox_snaps_outward() {
    let g = GeoBox::from_bbox(BoundingBox::new(-10.0, -70.0, 95.0, 30.0), polar(), 32.0).unwrap();
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
    let g = GeoBox::from_bbox_shape(BoundingBox::new(0.0, 0.0, 40.0, 20.0), polar(), 4, 2).unwrap();
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

/// A footprint that crosses ±180° with continuous longitudes, not a band
/// spanning the globe.
fn assert_continuous_across_180(b: &BoundingBox) {
    assert!(b.width() < 20.0, "{b}");
    assert!(
        b.left < 180.0 && b.right > 180.0 || b.left < -180.0 && b.right > -180.0,
        "{b}"
    );
}

#[test]
fn extent_across_the_antimeridian() {
    let g = antimeridian_box();
    let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
    let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
    // Continuous longitudes around 180°, not a band spanning the globe.
    assert_continuous_across_180(&b);
    assert!(b.bottom > 65.0 && b.top < 75.0, "{b}");
    let shifted = if b.right > 180.0 { 180.0 } else { -180.0 };
    assert!(e.contains(&Point::new(shifted, 70.0)));

    // Same in UTM zone 1 (central meridian 177°W) for a box reaching past 180°.
    let utm = Crs::from_epsg(32601).unwrap();
    let g = GeoBox::from_bbox(BoundingBox::new(100e3, 6.5e6, 400e3, 7.0e6), utm, 1000.0).unwrap();
    let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
    let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
    assert_continuous_across_180(&b);
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
    let g = GeoBox::from_bbox(BoundingBox::new(0.0, 0.0, 300e3, 300e3), polar(), 1000.0).unwrap();
    let e = g.extent_in(&Crs::wgs84(), 16).unwrap();
    let b = BoundingBox::from_rect(e.bounding_rect().unwrap());
    assert!(
        b.width() <= 90.0 + 1e-6 && (b.top - 90.0).abs() < 1e-9,
        "{b}"
    );
    // On an edge.
    let g =
        GeoBox::from_bbox(BoundingBox::new(-100e3, 0.0, 300e3, 300e3), polar(), 1000.0).unwrap();
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
