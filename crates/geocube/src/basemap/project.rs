//! Longitude/latitude lines into a map CRS without the artefacts a plain
//! point transform leaves: lines are cut where a projection stops being
//! usable (outside its valid area, or enlarged more than [`MAX_SCALE`]
//! times, e.g. the far hemisphere of a polar stereographic projection), cut
//! where consecutive points jump (across the antimeridian of a geographic
//! CRS, or a projection's singularity), densified so straight segments
//! follow their curved image, and clipped to the map's bounds.
//!
//! For a map with bounds, the data are first clipped in longitude/latitude
//! to the bounds' geographic envelope ([`LonLatBox`]): that keeps the far
//! side of the world (where projections fold or blow up) out before any
//! point is projected, and lets land rings be filled.

use geocube_core::{BoundingBox, Crs};

/// Points enlarged more than this by the projection are treated as outside
/// its usable area: stereographic's far hemisphere, Mercator beyond 84°,
/// transverse Mercator far from its central meridian.
pub(crate) const MAX_SCALE: f64 = 10.0;
/// Longest segment (degrees) before projection.
const MAX_STEP_DEG: f64 = 0.25;
/// The sphere used to measure ground distances for the scale check.
const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Offset (degrees) of the finite differences that measure the scale.
const DELTA_DEG: f64 = 1e-5;
/// Points per side of the grid sampled to find a map's geographic envelope.
const ENVELOPE_SAMPLES: usize = 33;

/// A longitude/latitude rectangle. `east` may exceed 180 (and `west` be
/// below -180) when it crosses the antimeridian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LonLatBox {
    pub(crate) west: f64,
    pub(crate) south: f64,
    pub(crate) east: f64,
    pub(crate) north: f64,
}

impl LonLatBox {
    pub(crate) const WORLD: LonLatBox = LonLatBox {
        west: -180.0,
        south: -90.0,
        east: 180.0,
        north: 90.0,
    };

    /// The longitude shifts under which data in -180..180 meet this box.
    fn shifts(&self) -> Vec<f64> {
        let mut s = vec![0.0];
        if self.east > 180.0 {
            s.push(360.0);
        }
        if self.west < -180.0 {
            s.push(-360.0);
        }
        s
    }
}

/// Wrap a longitude into -180..180.
pub(crate) fn wrap_lon(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) {
        lon
    } else {
        (lon + 180.0).rem_euclid(360.0) - 180.0
    }
}

/// Projects longitude/latitude points into one CRS and says whether each
/// lies in the projection's usable area.
pub(crate) struct Projector<'a> {
    wgs84: Crs,
    crs: &'a Crs,
}

impl<'a> Projector<'a> {
    pub(crate) fn new(crs: &'a Crs) -> Self {
        Projector {
            wgs84: Crs::wgs84(),
            crs,
        }
    }

    /// Longitudes outside -180..180 are wrapped for the transform; into a
    /// geographic CRS the wrap is undone afterwards, so that a map of it may
    /// reach past the antimeridian (170..190).
    fn forward(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let wrapped = wrap_lon(lon);
        let mut p = [(wrapped, lat)];
        self.wgs84.transform_points(self.crs, &mut p).ok()?;
        if self.crs.is_geographic() {
            p[0].0 += lon - wrapped;
        }
        Some(p[0])
    }

    fn inverse(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let mut p = [(x, y)];
        self.crs.transform_points(&self.wgs84, &mut p).ok()?;
        Some(p[0])
    }

    /// The map coordinates of `(lon, lat)` and the projection's scale there
    /// (map units per metre; 1 for a geographic CRS), or `None` outside the
    /// usable area: the transform fails, does not invert, or enlarges more
    /// than [`MAX_SCALE`] times.
    pub(crate) fn point(&self, lon: f64, lat: f64) -> Option<(f64, f64, f64)> {
        if !lon.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return None;
        }
        let (x, y) = self.forward(lon, lat)?;
        if self.crs.is_geographic() {
            return Some((x, y, 1.0));
        }
        let (blon, blat) = self.inverse(x, y)?;
        let lon_off = wrap_lon(blon - lon).abs();
        if (blat - lat).abs() > 1e-6 || (lat.abs() < 89.999 && lon_off > 1e-6) {
            return None;
        }
        let metres = DELTA_DEG.to_radians() * EARTH_RADIUS_M;
        let toward_equator = if lat > 0.0 { -DELTA_DEG } else { DELTA_DEG };
        let (qx, qy) = self.forward(lon, lat + toward_equator)?;
        let mut scale = (qx - x).hypot(qy - y) / metres;
        let cos = lat.to_radians().cos();
        if cos > 1e-6 {
            let (rx, ry) = self.forward(lon + DELTA_DEG, lat)?;
            scale = scale.max((rx - x).hypot(ry - y) / (metres * cos));
        }
        (scale.is_finite() && scale <= MAX_SCALE).then_some((x, y, scale))
    }

    /// Whether the segment between two projected points jumps: across the
    /// antimeridian of a geographic CRS, or much longer than the ground
    /// distance allows at the points' scales (a fold or singularity between).
    fn jumps(&self, a: &Projected, b: &Projected) -> bool {
        let ((ax, ay), (bx, by)) = (a.xy, b.xy);
        if self.crs.is_geographic() {
            return (bx - ax).abs() > 180.0;
        }
        let ground = haversine_m(a.lonlat, b.lonlat);
        (bx - ax).hypot(by - ay) > 3.0 * a.scale.max(b.scale) * ground + 1.0
    }

    fn projected(&self, lon: f64, lat: f64) -> Option<Projected> {
        let (x, y, scale) = self.point(lon, lat)?;
        Some(Projected {
            lonlat: (lon, lat),
            xy: (x, y),
            scale,
        })
    }

    /// Project a longitude/latitude polyline (already densified) into runs
    /// of usable, continuous points.
    pub(crate) fn runs(&self, line: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let mut out = vec![];
        let mut run: Vec<(f64, f64)> = vec![];
        let mut prev: Option<Projected> = None;
        for &(lon, lat) in line {
            let here = self.projected(lon, lat);
            match (&prev, &here) {
                (_, None) => flush(&mut out, &mut run),
                (Some(a), Some(b)) if self.jumps(a, b) => flush(&mut out, &mut run),
                _ => {}
            }
            if let Some(p) = &here {
                run.push(p.xy);
            }
            prev = here;
        }
        flush(&mut out, &mut run);
        out
    }

    /// Project a closed longitude/latitude ring (already densified), or
    /// `None` when any point of it is outside the usable area or it jumps
    /// (it could not be filled).
    pub(crate) fn ring(&self, ring: &[(f64, f64)]) -> Option<Vec<(f64, f64)>> {
        let mut out = Vec::with_capacity(ring.len());
        let mut prev: Option<Projected> = None;
        for &(lon, lat) in ring {
            let here = self.projected(lon, lat)?;
            if prev.as_ref().is_some_and(|a| self.jumps(a, &here)) {
                return None;
            }
            out.push(here.xy);
            prev = Some(here);
        }
        Some(out)
    }
}

/// A point and its image in the map CRS.
struct Projected {
    lonlat: (f64, f64),
    xy: (f64, f64),
    /// Map units per metre there.
    scale: f64,
}

/// Move `run` to `out` if it is a line (two points or more).
fn flush(out: &mut Vec<Vec<(f64, f64)>>, run: &mut Vec<(f64, f64)>) {
    if run.len() >= 2 {
        out.push(std::mem::take(run));
    } else {
        run.clear();
    }
}

/// Great-circle distance in metres on the mean sphere.
fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la, lb) = (a.1.to_radians(), b.1.to_radians());
    let dlat = lb - la;
    let dlon = (b.0 - a.0).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la.cos() * lb.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Split every segment longer than `step` (in either coordinate) into equal
/// pieces, at most 10 000 per segment.
pub(crate) fn densify(line: &[(f64, f64)], step: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(line.len());
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        let span = (b.0 - a.0).abs().max((b.1 - a.1).abs());
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = ((span / step).ceil() as usize).clamp(1, 10_000);
        for i in 0..n {
            #[allow(clippy::cast_precision_loss)]
            let t = i as f64 / n as f64;
            out.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
        }
    }
    if let Some(&last) = line.last() {
        out.push(last);
    }
    out
}

/// The densification step for data seen through `env`: fine enough for a
/// small map, never coarser than [`MAX_STEP_DEG`].
pub(crate) fn step_for(env: &LonLatBox) -> f64 {
    let span = (env.north - env.south).min(env.east - env.west);
    (span / 200.0).clamp(1e-6, MAX_STEP_DEG)
}

/// The pieces of a polyline inside an axis-aligned rectangle
/// (Liang–Barsky per segment).
pub(crate) fn clip_polyline(
    line: &[(f64, f64)],
    left: f64,
    bottom: f64,
    right: f64,
    top: f64,
) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![];
    let mut piece: Vec<(f64, f64)> = vec![];
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
        let mut visible = true;
        for (p, q) in [
            (-dx, a.0 - left),
            (dx, right - a.0),
            (-dy, a.1 - bottom),
            (dy, top - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    visible = false;
                    break;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if !visible || t0 > t1 {
            flush(&mut out, &mut piece);
            continue;
        }
        let at = |t: f64| (a.0 + dx * t, a.1 + dy * t);
        if t0 > 0.0 || piece.is_empty() {
            flush(&mut out, &mut piece);
            piece.push(at(t0));
        }
        piece.push(at(t1));
        if t1 < 1.0 {
            flush(&mut out, &mut piece);
        }
    }
    flush(&mut out, &mut piece);
    out
}

/// A closed ring clipped to an axis-aligned rectangle (Sutherland–Hodgman).
/// A concave ring may come back with edges doubled along the rectangle's
/// sides; even-odd filling is not affected by them.
pub(crate) fn clip_ring(
    ring: &[(f64, f64)],
    left: f64,
    bottom: f64,
    right: f64,
    top: f64,
) -> Vec<(f64, f64)> {
    type Inside = fn((f64, f64), f64) -> bool;
    type Cross = fn((f64, f64), (f64, f64), f64) -> (f64, f64);
    let cross_x: Cross = |a, b, x| (x, a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0));
    let cross_y: Cross = |a, b, y| (a.0 + (b.0 - a.0) * (y - a.1) / (b.1 - a.1), y);
    let planes: [(Inside, Cross, f64); 4] = [
        (|p, v| p.0 >= v, cross_x, left),
        (|p, v| p.0 <= v, cross_x, right),
        (|p, v| p.1 >= v, cross_y, bottom),
        (|p, v| p.1 <= v, cross_y, top),
    ];
    let mut pts: Vec<(f64, f64)> = ring.to_vec();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    for (inside, cross, v) in planes {
        let Some(&last) = pts.last() else { break };
        let mut out = Vec::with_capacity(pts.len() + 4);
        let mut prev = last;
        for &p in &pts {
            match (inside(prev, v), inside(p, v)) {
                (true, true) => out.push(p),
                (true, false) => out.push(cross(prev, p, v)),
                (false, true) => {
                    out.push(cross(prev, p, v));
                    out.push(p);
                }
                (false, false) => {}
            }
            prev = p;
        }
        pts = out;
    }
    if let Some(&first) = pts.first() {
        pts.push(first);
    }
    pts
}

/// The longitude/latitude rectangle that covers `bounds` (in `crs`) with a
/// small margin, or `None` when no point of the bounds is on the Earth.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn envelope(crs: &Crs, bounds: &BoundingBox) -> Option<LonLatBox> {
    if bounds.is_empty() {
        return None;
    }
    if crs.is_geographic() {
        let (south, north) = (bounds.bottom.max(-90.0), bounds.top.min(90.0));
        if south >= north {
            return None;
        }
        if bounds.width() >= 360.0 {
            return Some(LonLatBox {
                south,
                north,
                ..LonLatBox::WORLD
            });
        }
        return Some(LonLatBox {
            west: bounds.left,
            south,
            east: bounds.right,
            north,
        });
    }
    let proj = Projector::new(crs);
    let n = ENVELOPE_SAMPLES - 1;
    let mut lons = vec![];
    let (mut south, mut north) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..=n {
        for j in 0..=n {
            let x = bounds.left + bounds.width() * i as f64 / n as f64;
            let y = bounds.bottom + bounds.height() * j as f64 / n as f64;
            if let Some((lon, lat)) = proj.inverse(x, y)
                && lon.is_finite()
                && (-90.0..=90.0).contains(&lat)
            {
                lons.push(wrap_lon(lon));
                south = south.min(lat);
                north = north.max(lat);
            }
        }
    }
    if lons.is_empty() {
        return None;
    }
    let inside = |lat: f64| {
        proj.forward(0.0, lat).is_some_and(|(x, y)| {
            (bounds.left..=bounds.right).contains(&x) && (bounds.bottom..=bounds.top).contains(&y)
        })
    };
    let (north_pole, south_pole) = (inside(90.0), inside(-90.0));
    let lat_pad = 0.05 * (north - south) + 0.01;
    south = if south_pole {
        -90.0
    } else {
        (south - lat_pad).max(-90.0)
    };
    north = if north_pole {
        90.0
    } else {
        (north + lat_pad).min(90.0)
    };
    lons.sort_by(f64::total_cmp);
    // The longitudes cover the circle but its largest gap.
    let mut gap = (lons[0] + 360.0 - lons[lons.len() - 1], lons.len() - 1);
    for (k, w) in lons.windows(2).enumerate() {
        if w[1] - w[0] > gap.0 {
            gap = (w[1] - w[0], k);
        }
    }
    let (west, east) = {
        let k = gap.1;
        let west = lons[(k + 1) % lons.len()];
        let mut east = lons[k];
        if east < west {
            east += 360.0;
        }
        (west, east)
    };
    let lon_pad = 0.05 * (east - west) + 0.01;
    if north_pole || south_pole || gap.0 < 20.0 || east - west + 2.0 * lon_pad >= 360.0 {
        return Some(LonLatBox {
            south,
            north,
            ..LonLatBox::WORLD
        });
    }
    Some(LonLatBox {
        west: west - lon_pad,
        south,
        east: east + lon_pad,
        north,
    })
}

/// Polylines (longitude/latitude) as seen in `crs` within `bounds`: see the
/// module docs.
pub(crate) fn lines<'l>(
    lines: impl IntoIterator<Item = &'l [(f64, f64)]>,
    crs: &Crs,
    bounds: Option<BoundingBox>,
) -> Vec<Vec<(f64, f64)>> {
    let env = match bounds {
        Some(b) => match envelope(crs, &b) {
            Some(env) => Some(env),
            None => return vec![],
        },
        None => None,
    };
    let step = env.as_ref().map_or(MAX_STEP_DEG, step_for);
    let proj = Projector::new(crs);
    let mut out = vec![];
    for line in lines {
        let pieces = match &env {
            Some(e) => e
                .shifts()
                .into_iter()
                .flat_map(|s| {
                    let shifted: Vec<(f64, f64)> = line.iter().map(|&(x, y)| (x + s, y)).collect();
                    clip_polyline(&shifted, e.west, e.south, e.east, e.north)
                })
                .collect(),
            None => vec![line.to_vec()],
        };
        for piece in pieces {
            for run in proj.runs(&densify(&piece, step)) {
                match bounds {
                    Some(b) => out.extend(clip_polyline(&run, b.left, b.bottom, b.right, b.top)),
                    None => out.push(run),
                }
            }
        }
    }
    out
}

/// Closed rings (longitude/latitude) as seen in `crs` within `bounds`, for
/// filling: clipped to the bounds' envelope, projected, not clipped to the
/// bounds; a ring with a point outside the usable area is left out.
pub(crate) fn rings<'l>(
    rings: impl IntoIterator<Item = &'l [(f64, f64)]>,
    crs: &Crs,
    bounds: BoundingBox,
) -> Vec<Vec<(f64, f64)>> {
    let Some(env) = envelope(crs, &bounds) else {
        return vec![];
    };
    let step = step_for(&env);
    let proj = Projector::new(crs);
    let mut out = vec![];
    for ring in rings {
        for s in env.shifts() {
            let shifted: Vec<(f64, f64)> = ring.iter().map(|&(x, y)| (x + s, y)).collect();
            let clipped = clip_ring(&shifted, env.west, env.south, env.east, env.north);
            if clipped.len() < 4 {
                continue;
            }
            if let Some(r) = proj.ring(&densify(&clipped, step)) {
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polar() -> Crs {
        Crs::from_epsg(3413).expect("3413")
    }

    #[test]
    fn polar_stereographic_refuses_the_far_hemisphere() {
        let crs = polar();
        let p = Projector::new(&crs);
        assert!(p.point(-45.0, 90.0).is_some());
        assert!(p.point(-51.7, 64.2).is_some());
        assert!(p.point(10.0, -20.0).is_some());
        assert!(p.point(10.0, -70.0).is_none());
        assert!(p.point(10.0, -90.0).is_none());
    }

    #[test]
    fn mercator_stops_short_of_the_pole() {
        let merc = Crs::from_epsg(3857).expect("3857");
        let p = Projector::new(&merc);
        assert!(p.point(0.0, 80.0).is_some());
        assert!(p.point(0.0, 89.0).is_none());
    }

    #[test]
    fn a_geographic_line_across_the_antimeridian_is_cut() {
        let wgs84 = Crs::wgs84();
        let runs = Projector::new(&wgs84).runs(&[
            (178.0, 0.0),
            (179.5, 0.0),
            (-179.5, 0.0),
            (-178.0, 0.0),
        ]);
        assert_eq!(runs.len(), 2, "{runs:?}");
    }

    #[test]
    fn polyline_clipping() {
        let line = [(-1.0, 0.5), (0.5, 0.5), (2.0, 0.5), (2.0, 0.7), (0.5, 0.7)];
        let pieces = clip_polyline(&line, 0.0, 0.0, 1.0, 1.0);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert_eq!(pieces[0], vec![(0.0, 0.5), (0.5, 0.5), (1.0, 0.5)]);
        assert_eq!(pieces[1], vec![(1.0, 0.7), (0.5, 0.7)]);
        assert!(clip_polyline(&[(2.0, 2.0), (3.0, 3.0)], 0.0, 0.0, 1.0, 1.0).is_empty());
    }

    #[test]
    fn ring_clipping() {
        let ring = [
            (-1.0, -1.0),
            (2.0, -1.0),
            (2.0, 0.5),
            (-1.0, 0.5),
            (-1.0, -1.0),
        ];
        let clipped = clip_ring(&ring, 0.0, 0.0, 1.0, 1.0);
        assert_eq!(clipped.first(), clipped.last());
        let xs: Vec<f64> = clipped.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = clipped.iter().map(|p| p.1).collect();
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
        assert!(ys.iter().all(|y| (0.0..=0.5).contains(y)));
        assert_eq!(clipped.len(), 5);
    }

    #[test]
    fn envelope_of_a_frame_over_the_pole_is_a_polar_cap() {
        let b = BoundingBox::new(-2e6, -2e6, 2e6, 2e6);
        let e = envelope(&polar(), &b).expect("envelope");
        assert_eq!((e.west, e.east, e.north), (-180.0, 180.0, 90.0));
        assert!(e.south > 55.0 && e.south < 65.0, "{e:?}");
    }

    #[test]
    fn envelope_of_a_frame_over_greenland() {
        // Nuuk (64.18 N, 51.72 W) is near (-280 km, -2.8e6 m) in EPSG:3413.
        let b = BoundingBox::new(-800e3, -3.3e6, 200e3, -2.3e6);
        let e = envelope(&polar(), &b).expect("envelope");
        assert!(e.west < -51.72 && e.east > -51.72, "{e:?}");
        assert!(e.south < 64.18 && e.north > 64.18, "{e:?}");
        assert!(e.east - e.west < 60.0, "{e:?}");
    }

    #[test]
    fn envelope_across_the_antimeridian() {
        let utm1 = Crs::from_epsg(32601).expect("utm 1");
        // Around 177 W: the envelope may reach past -180.
        let mut c = [(-177.0, 60.0)];
        Crs::wgs84()
            .transform_points(&utm1, &mut c)
            .expect("transform");
        let (x, y) = c[0];
        let b = BoundingBox::new(x - 400e3, y - 100e3, x + 100e3, y + 100e3);
        let e = envelope(&utm1, &b).expect("envelope");
        assert!(
            e.west > 170.0 && e.west < 180.0 && e.east > 183.0 && e.east < 190.0,
            "{e:?}"
        );
        assert_eq!(e.shifts(), [0.0, 360.0]);
    }
}
