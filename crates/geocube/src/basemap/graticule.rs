//! Meridians and parallels in a map CRS, each with a degree label and the
//! place to write it.

use geocube_core::{BoundingBox, Crs};

use super::project::{self, LonLatBox, Projector};

/// Lines of one family a graticule draws at most: a smaller step is raised.
const MAX_LINES: f64 = 720.0;
/// Points along a graticule line across its envelope (at least).
const SAMPLES: f64 = 128.0;

/// Whether a graticule line is a meridian or a parallel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GraticuleKind {
    /// A line of constant longitude.
    Meridian,
    /// A line of constant latitude.
    Parallel,
}

/// A side of the map's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Edge {
    /// `left` (minimum x).
    Left,
    /// `right` (maximum x).
    Right,
    /// `bottom` (minimum y).
    Bottom,
    /// `top` (maximum y).
    Top,
}

/// Where to write a graticule line's label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelAnchor {
    /// A point of the line, in the map CRS.
    pub point: (f64, f64),
    /// The side of the bounds the line leaves through at `point` (write the
    /// label outside the map, beside that side); `None` when the line does
    /// not reach the bounds there (write it on the line, inside the map) or
    /// when there are no bounds.
    pub edge: Option<Edge>,
}

/// One piece of a meridian or parallel, projected and clipped.
#[derive(Clone, Debug, PartialEq)]
pub struct GraticuleLine {
    /// Meridian or parallel.
    pub kind: GraticuleKind,
    /// The longitude of a meridian (-180 < λ ≤ 180) or the latitude of a
    /// parallel, in degrees.
    pub degrees: f64,
    /// The value as a map prints it: `60°N`, `45°W`, `0°`, `180°`, `70.5°N`.
    pub label: String,
    /// The line's points in the map CRS (two or more).
    pub points: Vec<(f64, f64)>,
    /// Where to write `label`: where a meridian leaves through the bottom
    /// edge (else top, left, right), a parallel through the left edge (else
    /// right, bottom, top); for a piece inside the bounds, its lowest point.
    pub anchor: LabelAnchor,
}

/// The label of a graticule value: degrees with as many decimals as `step`
/// needs, and a hemisphere letter.
pub(crate) fn label(kind: GraticuleKind, degrees: f64, step: f64) -> String {
    let decimals = (0..4)
        .find(|&d| {
            let s = step * 10_f64.powi(d);
            (s - s.round()).abs() < 1e-6
        })
        .unwrap_or(4);
    #[allow(clippy::cast_sign_loss)]
    let decimals = decimals as usize;
    let value = format!("{:.decimals$}", degrees.abs());
    let zero = value.chars().all(|c| c == '0' || c == '.');
    let hemisphere = match kind {
        _ if zero => "",
        GraticuleKind::Meridian if (degrees.abs() - 180.0).abs() < 1e-9 => "",
        GraticuleKind::Meridian if degrees > 0.0 => "E",
        GraticuleKind::Meridian => "W",
        GraticuleKind::Parallel if degrees > 0.0 => "N",
        GraticuleKind::Parallel => "S",
    };
    format!("{value}°{hemisphere}")
}

/// Steps (longitude, latitude) in degrees that draw a few lines of each
/// family across `bounds`: about three to six, from 1-2-5 series and 15°,
/// 30°, 45°, 90°.
#[must_use]
pub fn nice_steps(crs: &Crs, bounds: BoundingBox) -> (f64, f64) {
    const STEPS: [f64; 18] = [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
        45.0, 60.0, 90.0,
    ];
    let env = project::envelope(crs, &bounds).unwrap_or(LonLatBox::WORLD);
    let pick = |span: f64| {
        STEPS
            .iter()
            .copied()
            .find(|s| span / s <= 6.0)
            .unwrap_or(90.0)
    };
    let lat_span = env.north - env.south;
    // A degree of longitude looks shorter away from the equator, except
    // on a map in longitude/latitude.
    let mid = if crs.is_geographic() {
        1.0
    } else {
        (0.5 * (env.north + env.south)).to_radians().cos().max(0.2)
    };
    let lon_step = pick((env.east - env.west) * mid);
    let lat_step = pick(lat_span).min(30.0);
    (lon_step, lat_step)
}

/// The multiples of `step` in `lo..=hi`.
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    if !(first.is_finite() && last.is_finite()) || last < first {
        return vec![];
    }
    #[allow(clippy::cast_possible_truncation)]
    let (first, last) = (first as i64, last as i64);
    #[allow(clippy::cast_precision_loss)]
    (first..=last).map(|k| k as f64 * step).collect()
}

/// `n + 1` points from `a` to `b`.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn samples(a: f64, b: f64) -> impl Iterator<Item = f64> {
    let n = SAMPLES.max(((b - a) / 0.5).ceil()) as usize;
    (0..=n).map(move |i| a + (b - a) * i as f64 / n as f64)
}

/// Meridians every `lon_step` and parallels every `lat_step` degrees, in
/// `crs`, clipped to `bounds` (or over the whole usable area of the
/// projection), each piece with its label and anchor. A step is raised when
/// it would draw more than 720 lines of its family; a non-positive or
/// non-finite step, or bounds that see no part of the Earth, draw none.
#[must_use]
pub fn graticule_steps(
    crs: &Crs,
    bounds: Option<BoundingBox>,
    lon_step: f64,
    lat_step: f64,
) -> Vec<GraticuleLine> {
    if !(lon_step > 0.0 && lon_step.is_finite() && lat_step > 0.0 && lat_step.is_finite()) {
        return vec![];
    }
    let env = match bounds {
        Some(b) => match project::envelope(crs, &b) {
            Some(e) => e,
            None => return vec![],
        },
        None => LonLatBox::WORLD,
    };
    let lon_step = lon_step.max((env.east - env.west) / MAX_LINES);
    let lat_step = lat_step.max((env.north - env.south) / MAX_LINES);
    let proj = Projector::new(crs);
    let mut out = vec![];
    let mut push = |kind: GraticuleKind, degrees: f64, step: f64, line: Vec<(f64, f64)>| {
        let label = label(kind, degrees, step);
        for run in proj.runs(&line) {
            let pieces = match bounds {
                Some(b) => project::clip_polyline(&run, b.left, b.bottom, b.right, b.top),
                None => vec![run],
            };
            for points in pieces {
                let anchor = anchor(&points, kind, bounds);
                out.push(GraticuleLine {
                    kind,
                    degrees,
                    label: label.clone(),
                    points,
                    anchor,
                });
            }
        }
    };
    let mut seen: Vec<f64> = vec![];
    for lon in multiples(env.west, env.east, lon_step) {
        let mut degrees = project::wrap_lon(lon);
        if degrees <= -180.0 + 1e-9 {
            degrees = 180.0;
        }
        if seen.iter().any(|s| (s - degrees).abs() < 1e-9) {
            continue;
        }
        seen.push(degrees);
        let line = samples(env.south, env.north)
            .map(|lat| (lon, lat))
            .collect();
        push(GraticuleKind::Meridian, degrees, lon_step, line);
    }
    for lat in multiples(env.south, env.north, lat_step) {
        if lat.abs() >= 90.0 - 1e-9 {
            continue;
        }
        let line = samples(env.west, env.east).map(|lon| (lon, lat)).collect();
        push(GraticuleKind::Parallel, lat, lat_step, line);
    }
    out
}

/// Where a piece's label goes: the end it leaves the bounds through, by the
/// family's preference of sides, or its lowest point.
fn anchor(points: &[(f64, f64)], kind: GraticuleKind, bounds: Option<BoundingBox>) -> LabelAnchor {
    let lowest = points
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((f64::NAN, f64::NAN));
    let inside = LabelAnchor {
        point: lowest,
        edge: None,
    };
    let Some(b) = bounds else { return inside };
    let eps = 1e-9 * b.width().abs().max(b.height().abs());
    let edge_of = |p: (f64, f64)| {
        [
            (Edge::Bottom, (p.1 - b.bottom).abs()),
            (Edge::Top, (p.1 - b.top).abs()),
            (Edge::Left, (p.0 - b.left).abs()),
            (Edge::Right, (p.0 - b.right).abs()),
        ]
        .into_iter()
        .filter(|(_, d)| *d <= eps)
        .map(|(e, _)| e)
        .collect::<Vec<_>>()
    };
    let preference = match kind {
        GraticuleKind::Meridian => [Edge::Bottom, Edge::Top, Edge::Left, Edge::Right],
        GraticuleKind::Parallel => [Edge::Left, Edge::Right, Edge::Bottom, Edge::Top],
    };
    let ends = [points.first(), points.last()];
    for want in preference {
        for p in ends.iter().flatten() {
            if edge_of(**p).contains(&want) {
                return LabelAnchor {
                    point: **p,
                    edge: Some(want),
                };
            }
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        use GraticuleKind::{Meridian, Parallel};
        assert_eq!(label(Parallel, 60.0, 10.0), "60°N");
        assert_eq!(label(Parallel, -30.0, 10.0), "30°S");
        assert_eq!(label(Parallel, 0.0, 10.0), "0°");
        assert_eq!(label(Meridian, -45.0, 15.0), "45°W");
        assert_eq!(label(Meridian, 30.0, 15.0), "30°E");
        assert_eq!(label(Meridian, 180.0, 30.0), "180°");
        assert_eq!(label(Parallel, 70.5, 0.5), "70.5°N");
        assert_eq!(label(Meridian, -0.0, 1.0), "0°");
    }

    #[test]
    fn multiples_of_a_step() {
        assert_eq!(multiples(-45.0, 45.0, 30.0), [-30.0, 0.0, 30.0]);
        assert_eq!(multiples(60.0, 90.0, 10.0), [60.0, 70.0, 80.0, 90.0]);
        assert!(multiples(1.0, 2.0, 5.0).is_empty());
    }
}
