//! Property tests of the grid maths: tiles partition a grid, `overlap_roi`
//! agrees with coordinates, `from_bbox` covers its box, footprints survive a
//! round trip through another CRS, and time selection matches brute force.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use chrono::{DateTime, TimeZone, Utc};
use geo::{BoundingRect, Geometry, Intersects, Point};
use geocube_core::crs::reproject_geometry;
use geocube_core::toi::{TimeMethod, Toi};
use geocube_core::{Affine, BoundingBox, Crs, GeoBox};
use proptest::prelude::*;

fn polar() -> Crs {
    Crs::from_epsg(3413).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tiles_partition_the_grid(w in 1usize..200, h in 1usize..200, th in 1usize..70, tw in 1usize..70) {
        let gb = GeoBox::new(w, h, Affine { x0: 0.0, res_x: 1.0, y0: 0.0, res_y: -1.0 }, polar()).unwrap();
        let tiles = gb.tiles(th, tw);
        let mut count = vec![0u8; w * h];
        let mut n = 0;
        for (ty, tx) in tiles.iter() {
            let win = tiles.window(ty, tx).unwrap();
            prop_assert!(!win.is_empty());
            let sub = tiles.geobox(ty, tx).unwrap();
            prop_assert_eq!(sub.shape(), (win.height, win.width));
            prop_assert_eq!(sub, gb.window(win).unwrap());
            for r in win.rows() {
                for c in win.cols() {
                    count[r * w + c] += 1;
                }
            }
            n += 1;
        }
        prop_assert_eq!(n, tiles.shape().0 * tiles.shape().1);
        prop_assert!(count.iter().all(|&k| k == 1));
        // touching_window of the whole grid is every tile.
        prop_assert_eq!(tiles.touching_window(gb.full_window()).len(), n);
    }

    #[test]
    #[allow(clippy::cast_possible_wrap)]
    fn overlap_roi_agrees_with_coordinates(
        res in prop::sample::select(vec![0.5, 1.0, 2.0, 10.0, 32.0, 0.1, 1.0 / 3.0]),
        c0 in -1000i64..1000, r0 in -1000i64..1000,
        dc in -150i64..150, dr in -150i64..150,
        (wa, ha, wb, hb) in (1usize..120, 1usize..120, 1usize..120, 1usize..120),
    ) {
        #[allow(clippy::cast_precision_loss)]
        let a = GeoBox::new(wa, ha, Affine { x0: c0 as f64 * res, res_x: res, y0: r0 as f64 * res, res_y: -res }, polar()).unwrap();
        #[allow(clippy::cast_precision_loss)]
        let b = GeoBox::new(wb, hb, Affine { x0: (c0 + dc) as f64 * res, res_x: res, y0: (r0 - dr) as f64 * res, res_y: -res }, polar()).unwrap();
        let ab = a.overlap_roi(&b).unwrap();
        let ba = b.overlap_roi(&a).unwrap();
        prop_assert_eq!(ab, ba.map(|(x, y)| (y, x)));
        // In pixel units b starts `dc` columns right of and `dr` rows below a.
        let (wa_i, ha_i, wb_i, hb_i) = (wa as i64, ha as i64, wb as i64, hb as i64);
        let overlaps = dc < wa_i && -dc < wb_i && dr < ha_i && -dr < hb_i;
        prop_assert_eq!(ab.is_some(), overlaps);
        if let Some((wa_, wb_)) = ab {
            prop_assert_eq!((wa_.height, wa_.width), (wb_.height, wb_.width));
            let (sa, sb) = (a.window(wa_).unwrap(), b.window(wb_).unwrap());
            for (x, y) in sa.xs().iter().zip(sb.xs()) {
                prop_assert!((x - y).abs() < 1e-6 * res);
            }
            for (x, y) in sa.ys().iter().zip(sb.ys()) {
                prop_assert!((x - y).abs() < 1e-6 * res);
            }
            // The overlap is exactly the common part of the two footprints.
            let (ab_, bb_) = (a.bbox(), b.bbox());
            let common = BoundingBox::new(ab_.left.max(bb_.left), ab_.bottom.max(bb_.bottom), ab_.right.min(bb_.right), ab_.top.min(bb_.top));
            let got = sa.bbox();
            prop_assert!((got.left - common.left).abs() < 1e-6 * res && (got.right - common.right).abs() < 1e-6 * res);
            prop_assert!((got.top - common.top).abs() < 1e-6 * res && (got.bottom - common.bottom).abs() < 1e-6 * res);
        }
        // A third of a pixel off the lattice is a mismatch.
        let off = GeoBox::new(wb, hb, Affine { x0: b.affine().x0 + res / 3.0, ..b.affine() }, polar()).unwrap();
        prop_assert!(a.overlap_roi(&off).is_err());
    }

    #[test]
    fn from_bbox_contains_the_bbox(
        left in -1e6f64..1e6, bottom in -1e6f64..1e6, w in 0f64..5e4, h in 0f64..5e4,
        res in prop::sample::select(vec![1.0, 2.0, 10.0, 30.0, 32.0, 100.0, 0.25]),
    ) {
        let bbox = BoundingBox::new(left, bottom, left + w, bottom + h);
        let gb = GeoBox::from_bbox(bbox, polar(), res).unwrap();
        let b = gb.bbox();
        // Contains the box, allowing odc-geo's 1 % pixel snapping.
        prop_assert!(b.contains_bbox(&bbox, 0.01 * res + 1e-9 * left.abs().max(1.0)), "{} does not contain {}", b, bbox);
        // Tight: less than a pixel of slack on each side (plus snapping).
        prop_assert!(bbox.left - b.left < res * 1.0001 && b.right - bbox.right < res * 1.0001);
        prop_assert!(b.top - bbox.top < res * 1.0001 && bbox.bottom - b.bottom < res * 1.0001);
        // On the lattice anchored at 0.
        prop_assert!(((b.left / res) - (b.left / res).round()).abs() < 1e-9);
        prop_assert!(((b.top / res) - (b.top / res).round()).abs() < 1e-9);
        prop_assert_eq!(gb.resolution(), (res, -res));
        // crop_bbox of the bbox gives the whole grid (up to snapping).
        let (win, _) = gb.crop_bbox(&bbox).unwrap();
        prop_assert!(win.width + 1 >= gb.width() && win.height + 1 >= gb.height());
    }

    #[test]
    fn extent_round_trip_polar(cx in -3.5e6f64..3.5e6, cy in -3.5e6f64..3.5e6, w in 1e3f64..8e5, h in 1e3f64..8e5) {
        round_trip(&polar(), BoundingBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0))?;
    }

    #[test]
    fn extent_round_trip_around_the_pole(cx in -3e5f64..3e5, cy in -3e5f64..3e5, w in 7e5f64..1.5e6, h in 7e5f64..1.5e6) {
        round_trip(&polar(), BoundingBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0))?;
    }

    #[test]
    fn extent_round_trip_pole_on_the_boundary(k in 1u32..6, w in 1e4f64..1e6, h in 1e4f64..1e6, edge in 0u8..8) {
        // The pole (0, 0) on a corner or an edge, the way a lattice anchored at 0 puts it.
        let f = f64::from(k) / 6.0;
        let bbox = match edge {
            0 => BoundingBox::new(0.0, 0.0, w, h),
            1 => BoundingBox::new(-w, 0.0, 0.0, h),
            2 => BoundingBox::new(-w, -h, 0.0, 0.0),
            3 => BoundingBox::new(0.0, -h, w, 0.0),
            4 => BoundingBox::new(-w * f, 0.0, w * (1.0 - f), h),
            5 => BoundingBox::new(-w * f, -h, w * (1.0 - f), 0.0),
            6 => BoundingBox::new(0.0, -h * f, w, h * (1.0 - f)),
            _ => BoundingBox::new(-w, -h * f, 0.0, h * (1.0 - f)),
        };
        round_trip(&polar(), bbox)?;
    }

    #[test]
    fn extent_round_trip_utm(zone in 1u32..=60, south in any::<bool>(), x in 2e5f64..7e5, y in 1e5f64..8.5e6, w in 1e3f64..1e5, h in 1e3f64..5e5) {
        let crs = Crs::from_epsg(if south { 32700 } else { 32600 } + zone).unwrap();
        round_trip(&crs, BoundingBox::new(x, y, x + w, (y + h).min(9.3e6)))?;
    }

    #[test]
    fn extent_round_trip_web_mercator(x in -1.9e7f64..1.9e7, y in -1.5e7f64..1.5e7, w in 1e3f64..2e6, h in 1e3f64..2e6) {
        let crs = Crs::from_epsg(3857).unwrap();
        round_trip(&crs, BoundingBox::new(x, y, (x + w).min(2.0e7), (y + h).min(1.9e7)))?;
    }

    #[test]
    fn geographic_extent_round_trip(lon in -180f64..180.0, lat in 61f64..85.0, w in 0.01f64..30.0, h in 0.01f64..4.0) {
        // A lon/lat grid (possibly past 180°) into EPSG:3413 and back.
        let bbox = BoundingBox::new(lon, lat, lon + w, (lat + h).min(89.0));
        let gb = GeoBox::from_bbox_shape(bbox, Crs::wgs84(), 10, 10).unwrap();
        let e = gb.extent_in(&polar(), 8).unwrap();
        let back = reproject_geometry(&Geometry::Polygon(e), &polar(), &Crs::wgs84(), 1).unwrap();
        let r = BoundingBox::from_rect(back.bounding_rect().unwrap());
        let shift = ((bbox.left - r.left) / 360.0).round() * 360.0;
        prop_assert!((r.left + shift - bbox.left).abs() < 1e-7 && (r.right + shift - bbox.right).abs() < 1e-7, "{} vs {}", r, bbox);
        prop_assert!((r.bottom - bbox.bottom).abs() < 1e-7 && (r.top - bbox.top).abs() < 1e-7, "{} vs {}", r, bbox);
    }

    #[test]
    fn time_selection_matches_brute_force(
        mut steps in prop::collection::vec(-1_000_000i64..1_000_000, 1..40),
        query in -1_200_000i64..1_200_000,
    ) {
        steps.sort_unstable();
        steps.dedup();
        let axis: Vec<DateTime<Utc>> = steps.iter().map(|s| Utc.timestamp_opt(s * 60, 0).unwrap()).collect();
        let t = Toi::Instant(Utc.timestamp_opt(query * 60, 0).unwrap());
        // Nearest: smallest distance, the earlier step on a tie.
        let best = (0..steps.len()).min_by_key(|&i| ((steps[i] - query).abs(), i)).unwrap();
        prop_assert_eq!(t.select(&axis, TimeMethod::Nearest).unwrap(), vec![best]);
        let pad = (0..steps.len()).rev().find(|&i| steps[i] <= query);
        prop_assert_eq!(t.select(&axis, TimeMethod::Pad).ok(), pad.map(|i| vec![i]));
        let back = (0..steps.len()).find(|&i| steps[i] >= query);
        prop_assert_eq!(t.select(&axis, TimeMethod::Backfill).ok(), back.map(|i| vec![i]));
        // A range selects exactly the steps inside it.
        let (lo, hi) = (query.min(query / 2), query.max(query / 2));
        let r = Toi::Range { start: Some(Utc.timestamp_opt(lo * 60, 0).unwrap()), end: Some(Utc.timestamp_opt(hi * 60, 0).unwrap()) };
        let want: Vec<usize> = (0..steps.len()).filter(|&i| steps[i] >= lo && steps[i] <= hi).collect();
        prop_assert_eq!(r.select(&axis, TimeMethod::Nearest).ok(), (!want.is_empty()).then_some(want));
    }
}

/// The grid's footprint in EPSG:4326 holds every sampled point of the grid
/// (modulo 360°), and going back to the grid's CRS gives the grid's box.
fn round_trip(crs: &Crs, bbox: BoundingBox) -> Result<(), TestCaseError> {
    let gb = GeoBox::from_bbox_shape(bbox, crs.clone(), 100, 100).unwrap();
    let wgs = Crs::wgs84();
    // 24 pieces per edge: the edge samples below (sixths) are vertices.
    let e = gb.extent_in(&wgs, 24).unwrap();
    let eb = BoundingBox::from_rect(e.bounding_rect().unwrap());
    prop_assert!(
        eb.width() <= 360.0 + 1e-9 && eb.top <= 90.0 + 1e-9 && eb.bottom >= -90.0 - 1e-9,
        "{}",
        eb
    );
    for i in 0..=6 {
        for j in 0..=6 {
            let (x, y) = (
                bbox.left + bbox.width() * f64::from(i) / 6.0,
                bbox.bottom + bbox.height() * f64::from(j) / 6.0,
            );
            let mut p = [(x, y)];
            crs.transform_points(&wgs, &mut p).unwrap();
            let (lon, lat) = p[0];
            // Inside the footprint's bounds (continuous longitudes, so try ±360°).
            // At a pole every longitude is the same point.
            let at_pole = lat.abs() > 90.0 - 1e-9;
            let in_bounds = (at_pole
                || (-1..=1).any(|k| {
                    let l = lon + 360.0 * f64::from(k);
                    l >= eb.left - 1e-9 && l <= eb.right + 1e-9
                }))
                && lat >= eb.bottom - 1e-9
                && lat <= eb.top + 1e-9;
            prop_assert!(
                in_bounds,
                "({}, {}) -> ({}, {}) outside {}",
                x,
                y,
                lon,
                lat,
                eb
            );
            // Interior samples are inside the polygon itself.
            if (1..6).contains(&i) && (1..6).contains(&j) {
                let inside = at_pole
                    || (-1..=1).any(|k| e.intersects(&Point::new(lon + 360.0 * f64::from(k), lat)));
                prop_assert!(
                    inside,
                    "({}, {}) -> ({}, {}) not in the footprint",
                    x,
                    y,
                    lon,
                    lat
                );
            }
        }
    }
    let back = reproject_geometry(&Geometry::Polygon(e), &wgs, crs, 1).unwrap();
    let r = BoundingBox::from_rect(back.bounding_rect().unwrap());
    let tol = 1e-3 + 1e-9 * bbox.left.abs().max(bbox.top.abs());
    prop_assert!(
        r.contains_bbox(&bbox, tol) && bbox.contains_bbox(&r, tol),
        "{} vs {}",
        r,
        bbox
    );
    Ok(())
}
