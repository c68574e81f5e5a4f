//! TCTrend's post-processing of one downloaded Earth Engine patch, pixel for
//! pixel as smart-geocubes 0.1.2 does it (`TCTrendABC.download_patch`), not a
//! generic hole filler: Earth Engine's mosaic leaves NaN where it was masked,
//! and the reference fills each band with rioxarray's
//! `band.rio.write_nodata(np.nan).rio.interpolate_na()`, then
//! `.clip(band_min, band_max).astype("uint8")`.
//!
//! What that chain does, read from rioxarray 0.23.0, scipy 1.18.1 and numpy
//! 2.5.5 (and measured on x86_64 by `tests/tctrend_fill_reference.rs`):
//!
//! - `interpolate_na` is scipy's `griddata(method="nearest")` over the valid
//!   pixels' `(x, y)` *coordinates* (the xarray coordinate values, float64,
//!   not pixel indices): a `KDTree` nearest neighbour by squared Euclidean
//!   distance `dx*dx + dy*dy` (x first) in float64, with
//!   `dx = x_valid - x_hole`. Every pixel is queried, valid ones find
//!   themselves, so they keep their value. Out comes float64.
//! - A band with no valid pixel is returned unchanged (float32, all NaN).
//! - `clip(min, max)` with the band's NaN-skipping min and max is a no-op:
//!   every filled value is one of the band's own values. (For an all-NaN
//!   band the bounds are NaN and the data stays NaN.)
//! - `astype("uint8")` truncates towards zero to a 32-bit integer and keeps
//!   its low byte; NaN, infinities and anything outside the 32-bit range give
//!   0 ([`numpy_cast_u8`]): 3.7 → 3, -1 → 255, 300.5 → 44, NaN → 0. So an
//!   all-NaN band becomes all 0.
//! - Equally distant valid pixels: the coordinates are float, so the four
//!   neighbours of a one-pixel hole are mostly *not* at the same float64
//!   distance, and the strictly nearest one wins here exactly as in scipy.
//!   When the float64 distances are bit-equal, cKDTree keeps the first
//!   point its traversal meets, which depends on its tree (median splits and
//!   the order `std::nth_element` leaves inside each leaf): reproducing it
//!   would cost its whole O(n log n) build. Here the south-westernmost
//!   (largest row, then smallest column) of the tied pixels wins, the rule
//!   that agreed most often with cKDTree on real TCTrend tiles. Bit-equal
//!   ties are common: with random values the reference differs from this
//!   on ~3 % of hole pixels of a European tile and ~20 % of the tile at the
//!   antimeridian and the pole (there x and y round alike, so all four
//!   neighbours of a one-pixel hole often tie); every difference is such a
//!   tie (`tests/tctrend_fill_reference.rs`).
//!
//! The search is exact in float64 and fast: a hole pixel with a valid
//! neighbour looks at rings of pixels around it until the next ring's
//! nearest possible distance exceeds the best one found; deeper hole pixels,
//! on a regular lattice, use an exact integer distance transform
//! (Felzenszwalb–Huttenlocher's lower envelope, with ties kept) to find every
//! valid pixel at the least lattice distance, and the float64 distances
//! decide among those. On an irregular lattice they fall back to the ring
//! search.

use ndarray::{Array2, ArrayView2};

/// TCTrend's post-processing of one band of one patch (smart-geocubes'
/// `TCTrendABC.download_patch`): NaN pixels take the value of the nearest
/// valid pixel (rioxarray's `interpolate_na`), then the band is clipped to
/// its own min and max and cast to `uint8` as numpy does.
///
/// `band` is the patch on the chunk's grid, NaN where the mosaic was
/// masked; `xs` and `ys` are its cell-centre coordinates as xarray holds
/// them (x ascending, y descending for a north-up patch). A band without any
/// valid pixel becomes all 0 (numpy's cast of NaN). Exact float64 ties are
/// broken as the [module docs](self) say.
///
/// # Panics
/// When `xs.len()` is not the band's width or `ys.len()` its height, or a
/// coordinate axis is not strictly monotonic.
#[must_use]
pub fn nearest_fill_clip_u8(band: ArrayView2<'_, f32>, xs: &[f64], ys: &[f64]) -> Array2<u8> {
    let mut out = band.mapv(|v| numpy_cast_u8(f64::from(v)));
    let w = band.ncols();
    for_each_nearest(band, xs, ys, |hole, source| {
        out[[hole / w, hole % w]] = numpy_cast_u8(f64::from(band[[source / w, source % w]]));
    });
    out
}

/// The valid pixel each NaN pixel of `band` takes its value from, as
/// `((hole_row, hole_col), (source_row, source_col))` in row-major order of
/// the holes: the nearest valid pixel by float64 squared distance between
/// the coordinates `xs` / `ys`, ties broken as [`nearest_fill_clip_u8`]
/// does. Empty when the band has no NaN or no valid pixel.
///
/// # Panics
/// As [`nearest_fill_clip_u8`].
#[must_use]
pub fn nearest_valid(
    band: ArrayView2<'_, f32>,
    xs: &[f64],
    ys: &[f64],
) -> Vec<((usize, usize), (usize, usize))> {
    let w = band.ncols();
    let mut pairs = Vec::new();
    for_each_nearest(band, xs, ys, |hole, source| pairs.push((hole, source)));
    pairs.sort_unstable();
    pairs
        .into_iter()
        .map(|(h, s)| ((h / w, h % w), (s / w, s % w)))
        .collect()
}

/// numpy's `float64 → uint8` cast on x86_64 (`ndarray.astype("uint8")`):
/// truncation towards zero to a 32-bit integer, whose low byte is kept;
/// NaN, ±inf and values outside `[-2^31, 2^31)` after truncation give 0.
/// float32 input casts the same (measured for both).
#[must_use]
pub fn numpy_cast_u8(v: f64) -> u8 {
    let t = v.trunc();
    if (-2_147_483_648.0..2_147_483_648.0).contains(&t) {
        // In range by the check: the low byte of the two's complement i32.
        (t as i32) as u8
    } else {
        0
    }
}

/// Calls `f(hole, source)` (flat row-major indices) once per NaN pixel.
fn for_each_nearest(
    band: ArrayView2<'_, f32>,
    xs: &[f64],
    ys: &[f64],
    mut f: impl FnMut(usize, usize),
) {
    let (h, w) = band.dim();
    assert_eq!(
        xs.len(),
        w,
        "xs has {} coordinates for {w} columns",
        xs.len()
    );
    assert_eq!(ys.len(), h, "ys has {} coordinates for {h} rows", ys.len());
    assert!(strictly_monotonic(xs), "xs is not strictly monotonic");
    assert!(strictly_monotonic(ys), "ys is not strictly monotonic");
    let valid: Vec<bool> = band.iter().map(|v| !v.is_nan()).collect();
    let n_valid = valid.iter().filter(|&&v| v).count();
    if n_valid == 0 || n_valid == valid.len() {
        return;
    }
    let grid = Grid {
        w,
        h,
        xs,
        ys,
        valid: &valid,
    };
    let mut deep = Vec::new();
    for (i, _) in valid.iter().enumerate().filter(|(_, v)| !**v) {
        let (r, c) = (i / w, i % w);
        if grid.has_valid_neighbour(r, c) {
            let s = grid.ring_search(r, c).expect("a valid neighbour exists");
            f(i, s);
        } else {
            deep.push(i);
        }
    }
    if deep.is_empty() {
        return;
    }
    if lattice_is_regular(xs, ys) {
        grid.envelope_search(&deep, &mut f);
    } else {
        for &i in &deep {
            let s = grid
                .ring_search(i / w, i % w)
                .expect("the band has a valid pixel");
            f(i, s);
        }
    }
}

fn strictly_monotonic(v: &[f64]) -> bool {
    v.windows(2).all(|p| p[0] < p[1]) || v.windows(2).all(|p| p[0] > p[1])
}

/// Whether squared distances on this lattice order like the integer
/// `dc² + dr²` (square pixels, evenly spaced): two pixel offsets whose
/// integer squared lengths differ are then never swapped by the float64
/// distances, so the float nearest is among the integer nearest.
fn lattice_is_regular(xs: &[f64], ys: &[f64]) -> bool {
    let (sx, dev_x) = pitch(xs);
    let (sy, dev_y) = pitch(ys);
    let (sx, sy) = match (sx, sy) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, a),
        (None, Some(b)) => (b, b),
        (None, None) => return true,
    };
    let (w, h) = (xs.len() as f64, ys.len() as f64);
    let s2 = sx * sx;
    // How far a float64 squared distance can stray from s² (dc² + dr²):
    // unequal pitches, coordinates off the ideal lattice (twice, at both
    // ends of a difference), and the rounding of the differences, squares
    // and sum.
    let err = (sy * sy - s2).abs() * h * h
        + 4.0 * (sx * w * dev_x + sy * h * dev_y)
        + 4.0 * (dev_x * dev_x + dev_y * dev_y)
        + 8.0 * f64::EPSILON * s2 * (w * w + h * h);
    err < 0.25 * s2
}

/// The mean spacing of `v` (absolute) and the largest distance of a
/// coordinate from the evenly spaced ones; `None` for a single coordinate.
fn pitch(v: &[f64]) -> (Option<f64>, f64) {
    let n = v.len();
    if n < 2 {
        return (None, 0.0);
    }
    let step = (v[n - 1] - v[0]) / (n - 1) as f64;
    let dev = v
        .iter()
        .enumerate()
        .map(|(i, &x)| (x - (v[0] + i as f64 * step)).abs())
        .fold(0.0, f64::max);
    (Some(step.abs()), dev)
}

/// The best candidate so far: least float64 squared distance, then the
/// tie rule (largest row, then smallest column).
#[derive(Clone, Copy)]
struct Best {
    d2: f64,
    r: usize,
    c: usize,
}

impl Best {
    fn offer(best: &mut Option<Best>, d2: f64, r: usize, c: usize) {
        let better = match best {
            None => true,
            Some(b) => d2 < b.d2 || (d2 == b.d2 && (r > b.r || (r == b.r && c < b.c))),
        };
        if better {
            *best = Some(Best { d2, r, c });
        }
    }
}

struct Grid<'a> {
    w: usize,
    h: usize,
    xs: &'a [f64],
    ys: &'a [f64],
    valid: &'a [bool],
}

impl Grid<'_> {
    fn is_valid(&self, r: usize, c: usize) -> bool {
        self.valid[r * self.w + c]
    }

    /// scipy's distance from hole `(r, c)` to pixel `(sr, sc)`: cKDTree's
    /// `sqeuclidean_distance_double` for two dimensions, `0 + dx*dx + dy*dy`
    /// (no fused multiply-add, like the x86_64 wheels).
    fn d2(&self, r: usize, c: usize, sr: usize, sc: usize) -> f64 {
        let dx = self.xs[sc] - self.xs[c];
        let dy = self.ys[sr] - self.ys[r];
        dx * dx + dy * dy
    }

    fn has_valid_neighbour(&self, r: usize, c: usize) -> bool {
        let rows = r.saturating_sub(1)..=(r + 1).min(self.h - 1);
        rows.into_iter().any(|rr| {
            (c.saturating_sub(1)..=(c + 1).min(self.w - 1)).any(|cc| self.is_valid(rr, cc))
        })
    }

    /// The nearest valid pixel to `(r, c)` (flat index), looking at the
    /// square rings at Chebyshev distance 1, 2, ... until the least
    /// distance any pixel of the next ring can have exceeds the best found.
    /// That bound holds for all farther rings too since the coordinates are
    /// monotonic, so every pixel at the best distance has been seen.
    fn ring_search(&self, r: usize, c: usize) -> Option<usize> {
        let sq = |d: f64| d * d;
        let mut best: Option<Best> = None;
        for k in 1.. {
            let sides = [
                c.checked_sub(k).map(|cc| sq(self.xs[cc] - self.xs[c])),
                (c + k < self.w).then(|| sq(self.xs[c + k] - self.xs[c])),
                r.checked_sub(k).map(|rr| sq(self.ys[rr] - self.ys[r])),
                (r + k < self.h).then(|| sq(self.ys[r + k] - self.ys[r])),
            ];
            let Some(bound) = sides.into_iter().flatten().reduce(f64::min) else {
                break;
            };
            if best.is_some_and(|b| bound > b.d2) {
                break;
            }
            let r0 = r.saturating_sub(k);
            let r1 = (r + k).min(self.h - 1);
            let c0 = c.saturating_sub(k);
            let c1 = (c + k).min(self.w - 1);
            for rr in r0..=r1 {
                if rr + k == r || rr == r + k {
                    for cc in c0..=c1 {
                        if self.is_valid(rr, cc) {
                            Best::offer(&mut best, self.d2(r, c, rr, cc), rr, cc);
                        }
                    }
                } else {
                    for cc in [c.checked_sub(k), (c + k < self.w).then_some(c + k)]
                        .into_iter()
                        .flatten()
                    {
                        if self.is_valid(rr, cc) {
                            Best::offer(&mut best, self.d2(r, c, rr, cc), rr, cc);
                        }
                    }
                }
            }
        }
        best.map(|b| b.r * self.w + b.c)
    }

    /// The nearest valid pixel of each hole in `holes` (flat, row-major
    /// order), on a regular lattice: per row, the lower envelope of the
    /// parabolas `(c - c')² + G(c')`, where `G(c')` is the squared row
    /// distance to the nearest valid pixel of column `c'`, gives every column
    /// holding a valid pixel at the least integer squared distance (ties
    /// kept: an envelope segment may be a single point); the float64
    /// distances and the tie rule pick among those pixels.
    fn envelope_search(&self, holes: &[usize], f: &mut impl FnMut(usize, usize)) {
        const NONE: u32 = u32::MAX;
        let (w, h) = (self.w, self.h);
        let row = |r: usize| u32::try_from(r).expect("fewer than 2^32 rows");
        // down[r * w + c]: the first valid row >= r in column c.
        let mut down = vec![NONE; w * h];
        for r in (0..h).rev() {
            for c in 0..w {
                down[r * w + c] = if self.is_valid(r, c) {
                    row(r)
                } else if r + 1 < h {
                    down[(r + 1) * w + c]
                } else {
                    NONE
                };
            }
        }
        // up[c]: the last valid row <= the current row in column c.
        let mut up = vec![NONE; w];
        let mut up_row = 0;
        let mut env = Envelope::default();
        let mut start = 0;
        while start < holes.len() {
            let r = holes[start] / w;
            let end = start + holes[start..].partition_point(|&i| i / w == r);
            while up_row <= r {
                for (c, u) in up.iter_mut().enumerate() {
                    if self.is_valid(up_row, c) {
                        *u = row(up_row);
                    }
                }
                up_row += 1;
            }
            // Each column's nearest valid rows (one, or two equally far).
            let column_rows = |c: usize| -> ([Option<usize>; 2], Option<i64>) {
                let dist = |v: u32| (v != NONE).then(|| (v as usize).abs_diff(r));
                let (a, b) = (dist(up[c]), dist(down[r * w + c]));
                let g = match (a, b) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(d), None) | (None, Some(d)) => d,
                    (None, None) => return ([None, None], None),
                };
                let pick = |d: Option<usize>, v: u32| (d == Some(g)).then_some(v as usize);
                let g = i64::try_from(g).expect("row distance fits i64");
                ([pick(a, up[c]), pick(b, down[r * w + c])], Some(g * g))
            };
            env.build((0..w).filter_map(|c| column_rows(c).1.map(|g| (c, g))));
            let mut cursor = 0;
            for &hole in &holes[start..end] {
                let c = hole % w;
                let mut best = None;
                for col in env.minimal_at(c, &mut cursor) {
                    let (rows, _) = column_rows(col);
                    for sr in rows.into_iter().flatten() {
                        Best::offer(&mut best, self.d2(r, c, sr, col), sr, col);
                    }
                }
                let b = best.expect("the band has a valid pixel");
                f(hole, b.r * w + b.c);
            }
            start = end;
        }
    }
}

/// The lower envelope of the parabolas `y = (x - c)² + g` of one row, in
/// exact integer arithmetic: parabola `k` is least on `[z[k], z[k + 1]]`
/// (`z[0] = -inf`, the last segment runs to `+inf`), a segment may be a
/// single point where three or more parabolas meet.
#[derive(Default)]
struct Envelope {
    cols: Vec<usize>,
    gs: Vec<i64>,
    /// Segment starts as fractions `num / den` (`den > 0`); `z[0]` unused.
    z: Vec<(i64, i64)>,
}

impl Envelope {
    fn build(&mut self, parabolas: impl Iterator<Item = (usize, i64)>) {
        self.cols.clear();
        self.gs.clear();
        self.z.clear();
        for (q, gq) in parabolas {
            loop {
                let Some(k) = self.cols.len().checked_sub(1) else {
                    self.push(q, gq, (0, 1));
                    break;
                };
                let s = intersection(self.cols[k], self.gs[k], q, gq);
                // Strictly: a parabola the next one meets exactly at its
                // segment start stays, least (tied) at that one point.
                if k > 0 && frac_lt(s, self.z[k]) {
                    self.cols.pop();
                    self.gs.pop();
                    self.z.pop();
                    continue;
                }
                self.push(q, gq, s);
                break;
            }
        }
    }

    fn push(&mut self, c: usize, g: i64, z: (i64, i64)) {
        self.cols.push(c);
        self.gs.push(g);
        self.z.push(z);
    }

    /// The columns whose parabola is least at integer `x`; `cursor` walks
    /// forward for ascending `x` within one row.
    fn minimal_at(&self, x: usize, cursor: &mut usize) -> impl Iterator<Item = usize> + '_ {
        let x = i64::try_from(x).expect("column fits i64");
        let lt_x = |z: (i64, i64)| i128::from(z.0) < i128::from(x) * i128::from(z.1);
        let eq_x = |z: (i64, i64)| i128::from(z.0) == i128::from(x) * i128::from(z.1);
        while *cursor + 1 < self.cols.len() && lt_x(self.z[*cursor + 1]) {
            *cursor += 1;
        }
        let first = *cursor;
        let last = (first + 1..self.cols.len())
            .take_while(|&j| eq_x(self.z[j]))
            .last()
            .unwrap_or(first);
        self.cols[first..=last].iter().copied()
    }
}

/// Where parabola `b` (column `cb > ca`) starts being lower than `a`.
fn intersection(ca: usize, ga: i64, cb: usize, gb: i64) -> (i64, i64) {
    let (a, b) = (
        i64::try_from(ca).expect("column fits i64"),
        i64::try_from(cb).expect("column fits i64"),
    );
    ((gb + b * b) - (ga + a * a), 2 * (b - a))
}

fn frac_lt(p: (i64, i64), q: (i64, i64)) -> bool {
    i128::from(p.0) * i128::from(q.1) < i128::from(q.0) * i128::from(p.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    const NAN: f32 = f32::NAN;
    /// TCTrend's pixel size in degrees.
    const RES: f64 = 0.000_269_494_585_235_856_47;

    fn int_coords(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64).collect()
    }

    fn desc_coords(n: usize) -> Vec<f64> {
        (0..n).rev().map(|i| i as f64).collect()
    }

    #[test]
    fn cast_is_numpys() {
        let cases = [
            (f64::NAN, 0),
            (f64::INFINITY, 0),
            (f64::NEG_INFINITY, 0),
            (-0.5, 0),
            (0.7, 0),
            (3.7, 3),
            (255.9, 255),
            (256.0, 0),
            (300.5, 44),
            (-1.0, 255),
            (-3.2, 253),
            (-255.5, 1),
            (65_537.9, 1),
            (2_147_483_647.0, 255),
            (2_147_483_648.0, 0),
            (-2_147_483_648.5, 0),
            (-2_147_483_649.0, 0),
            (4_294_967_299.0, 0),
        ];
        for (v, want) in cases {
            assert_eq!(numpy_cast_u8(v), want, "{v}");
        }
    }

    #[test]
    fn no_nan_is_only_cast() {
        let band = array![[1.0f32, 2.5], [-1.0, 300.0]];
        let out = nearest_fill_clip_u8(band.view(), &int_coords(2), &desc_coords(2));
        assert_eq!(out, array![[1u8, 2], [255, 44]]);
        assert!(nearest_valid(band.view(), &int_coords(2), &desc_coords(2)).is_empty());
    }

    #[test]
    fn all_nan_is_zero() {
        let band = Array2::<f32>::from_elem((3, 4), NAN);
        let out = nearest_fill_clip_u8(band.view(), &int_coords(4), &desc_coords(3));
        assert_eq!(out, Array2::<u8>::zeros((3, 4)));
    }

    #[test]
    fn exact_ties_go_south_west() {
        // Integer coordinates: the four neighbours are exactly 1 away.
        let band = array![[1.0f32, 2.0, 3.0], [4.0, NAN, 6.0], [7.0, 8.0, 9.0]];
        let out = nearest_fill_clip_u8(band.view(), &int_coords(3), &desc_coords(3));
        assert_eq!(out[[1, 1]], 8);
        // Without the pixel below, left (same row) beats above.
        let band = array![[1.0f32, 2.0, 3.0], [4.0, NAN, 6.0], [NAN, NAN, NAN]];
        let out = nearest_fill_clip_u8(band.view(), &int_coords(3), &desc_coords(3));
        assert_eq!(out.row(1).to_vec(), [4, 4, 6]);
        // (2,1): (1,0) and (1,2) are both sqrt(2) away, (0,1) is 2: the
        // western one of the pair.
        assert_eq!(out.row(2).to_vec(), [4, 4, 6]);
    }

    #[test]
    fn float_coordinates_break_apparent_ties() {
        // x: the right neighbour is one ulp of 10 away, the left one two.
        let xs = [
            10.0,
            10.0 + 2.0 * f64::EPSILON * 8.0,
            10.0 + 3.0 * f64::EPSILON * 8.0,
        ];
        let ys = [5.0, 4.0, 3.0];
        let band = array![[NAN, NAN, NAN], [1.0f32, NAN, 3.0], [NAN, NAN, NAN]];
        let filled = nearest_valid(band.view(), &xs, &ys);
        assert!(filled.contains(&((1, 1), (1, 2))));
    }

    #[test]
    fn holes_at_edges_and_corners() {
        let band = array![
            [NAN, NAN, 3.0, 4.0, NAN],
            [NAN, 7.0, 8.0, 9.0, 10.0],
            [11.0, 12.0, 13.0, 14.0, NAN],
            [NAN, 17.0, 18.0, NAN, NAN],
        ];
        let out = nearest_fill_clip_u8(band.view(), &int_coords(5), &desc_coords(4));
        assert_eq!(
            out,
            array![
                [7, 7, 3, 4, 10],
                [11, 7, 8, 9, 10],
                [11, 12, 13, 14, 14],
                [17, 17, 18, 18, 14],
            ]
        );
    }

    #[test]
    fn a_deep_hole_uses_the_lattice_distance() {
        // 9x9, all NaN but a valid border on the right and one pixel at the
        // top left: the centre (4,4) is 4 from column 8 and sqrt(32) from
        // (0,0).
        let mut band = Array2::<f32>::from_elem((9, 9), NAN);
        for r in 0..9 {
            band[[r, 8]] = r as f32;
        }
        band[[0, 0]] = 100.0;
        let xs: Vec<f64> = (0..9).map(|i| -179.9 + i as f64 * RES).collect();
        let ys: Vec<f64> = (0..9).map(|i| 89.9 - i as f64 * RES).collect();
        assert!(lattice_is_regular(&xs, &ys));
        let out = nearest_fill_clip_u8(band.view(), &xs, &ys);
        assert_eq!(out[[4, 4]], 4);
        assert_eq!(out[[1, 1]], 100);
        assert_eq!(out[[4, 0]], 100);
        assert_eq!(out[[4, 5]], 4);
        assert_eq!(
            brute_force(band.view(), &xs, &ys),
            nearest_valid(band.view(), &xs, &ys)
        );
    }

    #[test]
    fn envelope_keeps_single_point_ties() {
        // Three parabolas meeting at x = 2: (0, 4), (2, 0)... here (1,3),
        // (3,3) and (2,4) are all 4 at x=2.
        let mut env = Envelope::default();
        env.build([(1usize, 3i64), (2, 4), (3, 3)].into_iter());
        let mut cursor = 0;
        let at2: Vec<usize> = env.minimal_at(2, &mut cursor).collect();
        assert_eq!(at2, [1, 2, 3]);
        let at3: Vec<usize> = env.minimal_at(3, &mut cursor).collect();
        assert_eq!(at3, [3]);
    }

    #[test]
    fn irregular_lattice_falls_back_to_rings() {
        let xs = [0.0, 1.0, 3.0, 7.0, 8.0, 20.0];
        let ys = [10.0, 9.5, 6.0, 5.0, 0.0];
        assert!(!lattice_is_regular(&xs, &ys));
        let mut band = Array2::<f32>::from_elem((5, 6), NAN);
        band[[0, 0]] = 1.0;
        band[[4, 5]] = 2.0;
        assert_eq!(
            brute_force(band.view(), &xs, &ys),
            nearest_valid(band.view(), &xs, &ys)
        );
    }

    /// Every hole against every valid pixel, with the same distance and
    /// tie rule.
    fn brute_force(
        band: ArrayView2<'_, f32>,
        xs: &[f64],
        ys: &[f64],
    ) -> Vec<((usize, usize), (usize, usize))> {
        let (h, w) = band.dim();
        let valid: Vec<(usize, usize)> = (0..h)
            .flat_map(|r| (0..w).map(move |c| (r, c)))
            .filter(|&(r, c)| !band[[r, c]].is_nan())
            .collect();
        if valid.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for r in 0..h {
            for c in 0..w {
                if !band[[r, c]].is_nan() {
                    continue;
                }
                let mut best = None;
                for &(sr, sc) in &valid {
                    let dx = xs[sc] - xs[c];
                    let dy = ys[sr] - ys[r];
                    Best::offer(&mut best, dx * dx + dy * dy, sr, sc);
                }
                let b = best.expect("valid pixels");
                out.push(((r, c), (b.r, b.c)));
            }
        }
        out
    }

    /// A band of `h × w` with NaN where `mask` says, on coordinates that
    /// are either TCTrend's lattice near `(x0, y0)` or irregular.
    fn case() -> impl Strategy<Value = (Array2<f32>, Vec<f64>, Vec<f64>)> {
        (
            1usize..14,
            1usize..14,
            0.0f64..1.0,
            any::<bool>(),
            -180.0f64..179.0,
            -89.0f64..90.0,
        )
            .prop_flat_map(|(h, w, nan_share, regular, x0, y0)| {
                (
                    proptest::collection::vec(0.0f64..1.0, h * w),
                    proptest::collection::vec(0.5f64..2.0, w + h),
                )
                    .prop_map(move |(draws, steps)| {
                        let band = Array2::from_shape_fn((h, w), |(r, c)| {
                            let d = draws[r * w + c];
                            if d < nan_share {
                                NAN
                            } else {
                                (d * 255.0).floor() as f32
                            }
                        });
                        let (xs, ys) = if regular {
                            (
                                (0..w).map(|i| i as f64 * RES + x0).collect(),
                                (0..h).map(|i| i as f64 * -RES + y0).collect(),
                            )
                        } else {
                            let mut x = x0;
                            let xs = steps[..w].iter().map(|s| {
                                x += s * RES;
                                x
                            });
                            let xs: Vec<f64> = xs.collect();
                            let mut y = y0;
                            let ys = steps[w..].iter().map(|s| {
                                y -= s * RES;
                                y
                            });
                            (xs, ys.collect())
                        };
                        (band, xs, ys)
                    })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn matches_brute_force((band, xs, ys) in case()) {
            prop_assert_eq!(nearest_valid(band.view(), &xs, &ys), brute_force(band.view(), &xs, &ys));
            let out = nearest_fill_clip_u8(band.view(), &xs, &ys);
            let all_nan = band.iter().all(|v| v.is_nan());
            for ((r, c), v) in band.indexed_iter() {
                if !v.is_nan() {
                    prop_assert_eq!(out[[r, c]], numpy_cast_u8(f64::from(*v)));
                } else if all_nan {
                    prop_assert_eq!(out[[r, c]], 0);
                }
            }
        }
    }
}
