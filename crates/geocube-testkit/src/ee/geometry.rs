//! Polygons in EPSG:4326 as `Image.clip` uses them: which pixel centres
//! lie inside, with planar edges (straight in lon/lat) or geodesic ones
//! (great-circle arcs), by the even/odd or the left-inside rule.
//!
//! Geodesic is Earth Engine's default for polygons given as numbers
//! ("The default is the geodesic state of the inputs, or true if the inputs
//! are numbers", GeometryConstructors.Polygon/Rectangle), and the Python
//! client sends `ee.Geometry.Rectangle([...])` without `geodesic`: its
//! east-west edges bow poleward of the parallels (a few 30 m pixels for a
//! degree-wide box at mid latitudes). `ee.Geometry.BBox` sends
//! `geodesic: false`.
//!
//! Inside-ness comes from a ray due north along the point's meridian (a
//! great circle, so crossings of geodesic edges are exact): the latitude
//! of each edge at the point's longitude against the point's. Polygons
//! around a pole are not supported.

/// One edge of a ring, from `a` to `b` (degrees).
#[derive(Clone, Debug, PartialEq)]
struct Edge {
    a: (f64, f64),
    /// Longitude span `b.lon - a.lon`: wrapped into [-180, 180) when
    /// geodesic, raw when planar.
    span: f64,
    b_lat: f64,
    /// The edge's latitude range (an arc can bow beyond its ends).
    lat_min: f64,
    lat_max: f64,
}

/// A closed ring: its edges and orientation.
#[derive(Clone, Debug, PartialEq)]
struct Ring {
    edges: Vec<Edge>,
    counter_clockwise: bool,
}

/// A polygon of one or more rings (shell, then holes).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Polygon {
    rings: Vec<Ring>,
    geodesic: bool,
    even_odd: bool,
    /// `[west, south, east, north]` of the vertices (not wrapped).
    pub(crate) bbox: [f64; 4],
    lat_range: (f64, f64),
}

fn wrap180(d: f64) -> f64 {
    (d + 180.0).rem_euclid(360.0) - 180.0
}

fn unit_vector(lon: f64, lat: f64) -> [f64; 3] {
    let (l, p) = (lon.to_radians(), lat.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

fn cross(u: [f64; 3], v: [f64; 3]) -> [f64; 3] {
    [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ]
}

fn dot(u: [f64; 3], v: [f64; 3]) -> f64 {
    u[0] * v[0] + u[1] * v[1] + u[2] * v[2]
}

/// The latitude range of the great-circle arc from `a` to `b`: its ends,
/// or the circle's highest or lowest point when that lies on the arc.
fn arc_lat_range(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (mut lo, mut hi) = (a.1.min(b.1), a.1.max(b.1));
    let (ua, ub) = (unit_vector(a.0, a.1), unit_vector(b.0, b.1));
    let n = cross(ua, ub);
    let len = dot(n, n).sqrt();
    if len < 1e-15 {
        return (lo, hi);
    }
    let n = n.map(|c| c / len);
    // The circle's highest point: the pole's direction projected onto the
    // circle's plane.
    let horizontal = (1.0 - n[2] * n[2]).max(0.0).sqrt();
    if horizontal < 1e-15 {
        return (lo, hi);
    }
    let top = [
        -n[2] * n[0] / horizontal,
        -n[2] * n[1] / horizontal,
        horizontal,
    ];
    for (v, is_top) in [(top, true), (top.map(|c| -c), false)] {
        let on_arc = dot(cross(ua, v), n) >= 0.0 && dot(cross(v, ub), n) >= 0.0;
        if on_arc {
            let lat = v[2].clamp(-1.0, 1.0).asin().to_degrees();
            if is_top {
                hi = hi.max(lat);
            } else {
                lo = lo.min(lat);
            }
        }
    }
    (lo, hi)
}

impl Polygon {
    /// A polygon of `rings` (each a list of `(lon, lat)` vertices, closed
    /// or not). `None` with a reason if a ring has fewer than three
    /// distinct vertices or a coordinate is not finite.
    pub(crate) fn new(
        rings: &[Vec<(f64, f64)>],
        geodesic: bool,
        even_odd: bool,
    ) -> Result<Self, String> {
        if rings.is_empty() {
            return Err("a polygon needs at least one ring".into());
        }
        let mut bbox = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut lat_range = (f64::INFINITY, f64::NEG_INFINITY);
        let mut out = Vec::new();
        for ring in rings {
            let mut pts: Vec<(f64, f64)> = ring.clone();
            if pts.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
                return Err("coordinates must be finite numbers".into());
            }
            if pts.iter().any(|p| !(-90.0..=90.0).contains(&p.1)) {
                return Err("latitudes must lie in [-90, 90]".into());
            }
            if pts.len() > 1 && pts.first() == pts.last() {
                pts.pop();
            }
            pts.dedup();
            if pts.len() < 3 {
                return Err("a ring needs at least three distinct vertices".into());
            }
            let mut edges = Vec::with_capacity(pts.len());
            // Twice the signed area in (unwrapped) lon/lat: its sign is the
            // orientation.
            let mut area2 = 0.0;
            for (i, &a) in pts.iter().enumerate() {
                let b = pts[(i + 1) % pts.len()];
                let span = if geodesic {
                    wrap180(b.0 - a.0)
                } else {
                    b.0 - a.0
                };
                let (lat_min, lat_max) = if geodesic {
                    arc_lat_range(a, b)
                } else {
                    (a.1.min(b.1), a.1.max(b.1))
                };
                area2 += span * (a.1 + b.1);
                bbox = [
                    bbox[0].min(a.0),
                    bbox[1].min(a.1),
                    bbox[2].max(a.0),
                    bbox[3].max(a.1),
                ];
                lat_range = (lat_range.0.min(lat_min), lat_range.1.max(lat_max));
                edges.push(Edge {
                    a,
                    span,
                    b_lat: b.1,
                    lat_min,
                    lat_max,
                });
            }
            out.push(Ring {
                edges,
                // Σ Δlon·(lat_a + lat_b) is -2·area for a counter-clockwise ring.
                counter_clockwise: area2 < 0.0,
            });
        }
        Ok(Self {
            rings: out,
            geodesic,
            even_odd,
            bbox,
            lat_range,
        })
    }

    /// Whether the edges are great-circle arcs.
    pub(crate) fn geodesic(&self) -> bool {
        self.geodesic
    }

    /// Whether the point `(lon, lat)` (degrees) is inside.
    pub(crate) fn contains(&self, lon: f64, lat: f64) -> bool {
        if !lon.is_finite() || !lat.is_finite() {
            return false;
        }
        // Only a polygon whose interior is inside its shell lies within its
        // extent (a clockwise shell by the left-inside rule is the rest of
        // the globe).
        let bounded = self.even_odd || self.rings.first().is_some_and(|r| r.counter_clockwise);
        if !bounded {
            return self.contains_at(lon, lat);
        }
        if lat < self.lat_range.0 || lat > self.lat_range.1 {
            return false;
        }
        if self.geodesic {
            return self.contains_at(lon, lat);
        }
        // Planar edges are not periodic: try the point's longitude and its
        // copies a turn away that fall within the polygon's extent.
        [0.0, -360.0, 360.0].iter().any(|shift| {
            let l = lon + shift;
            l >= self.bbox[0] && l <= self.bbox[2] && self.contains_at(l, lat)
        })
    }

    fn contains_at(&self, lon: f64, lat: f64) -> bool {
        let mut crossings = 0u32;
        let mut all_left = true;
        for ring in &self.rings {
            let mut winding = 0i32;
            for e in &ring.edges {
                let t = if self.geodesic {
                    wrap180(lon - e.a.0)
                } else {
                    lon - e.a.0
                };
                // Half-open spans, so that a vertex's meridian counts once.
                let spans = if e.span > 0.0 {
                    0.0 <= t && t < e.span
                } else {
                    e.span <= t && t < 0.0
                };
                if !spans || lat >= e.lat_max {
                    continue;
                }
                if lat < e.lat_min || self.edge_lat(e, t) > lat {
                    crossings += 1;
                    // A westward edge above the point: the point is on its
                    // left.
                    winding += if e.span < 0.0 { 1 } else { -1 };
                }
            }
            // Left-inside: inside a counter-clockwise ring, or outside a
            // clockwise one.
            let left = if ring.counter_clockwise {
                winding > 0
            } else {
                winding >= 0
            };
            all_left &= left;
        }
        if self.even_odd {
            crossings % 2 == 1
        } else {
            all_left
        }
    }

    /// The latitude of edge `e` at longitude offset `t` from its start.
    fn edge_lat(&self, e: &Edge, t: f64) -> f64 {
        if !self.geodesic {
            return e.a.1 + (e.b_lat - e.a.1) * (t / e.span);
        }
        let (pa, pb) = (e.a.1.to_radians(), e.b_lat.to_radians());
        let (span, t) = (e.span.to_radians(), t.to_radians());
        ((pa.tan() * (span - t).sin() + pb.tan() * t.sin()) / span.sin())
            .atan()
            .to_degrees()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(geodesic: bool) -> Polygon {
        // As the Python client writes ee.Geometry.Rectangle([10, 20, 11.5, 21.25]).
        let ring = vec![(10.0, 21.25), (10.0, 20.0), (11.5, 20.0), (11.5, 21.25)];
        Polygon::new(&[ring], geodesic, true).expect("valid")
    }

    #[test]
    fn planar_rectangle() {
        let r = rect(false);
        assert!(r.contains(10.5, 20.5));
        assert!(r.contains(10.0001, 21.2499));
        assert!(!r.contains(10.5, 21.2501));
        assert!(!r.contains(9.9999, 20.5));
        assert!(!r.contains(-349.5, 20.5 + 2.0));
        assert!(r.contains(-349.5, 20.5));
    }

    #[test]
    fn geodesic_edges_bow_poleward() {
        let r = rect(true);
        // The top edge's arc at its middle is north of 21.25°: a point just
        // above the parallel is inside, one just above the bottom is not.
        assert!(r.contains(10.75, 21.2505));
        assert!(!r.contains(10.75, 20.0005));
        assert!(r.contains(10.75, 20.5));
        // Near the corners the arcs meet the parallels.
        assert!(!r.contains(10.0001, 21.2505));
    }

    #[test]
    fn left_inside_rule_follows_orientation() {
        let ccw = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
        let cw: Vec<_> = ccw.iter().rev().copied().collect();
        let a = Polygon::new(std::slice::from_ref(&ccw), false, false).expect("valid");
        assert!(a.contains(0.5, 0.5) && !a.contains(1.5, 0.5));
        let b = Polygon::new(&[cw], false, false).expect("valid");
        // Clockwise: the interior is everything but the square (on the
        // sphere); within the polygon's latitudes that is the point outside.
        assert!(!b.contains(0.5, 0.5) && b.contains(1.5, 0.5) && b.contains(0.5, 40.0));
        let hole = vec![(0.25, 0.25), (0.25, 0.75), (0.75, 0.75), (0.75, 0.25)];
        let c = Polygon::new(&[ccw, hole], false, false).expect("valid");
        assert!(c.contains(0.1, 0.5) && !c.contains(0.5, 0.5));
    }
}
