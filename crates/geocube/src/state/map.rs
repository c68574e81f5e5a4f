//! The loaded patches' footprints as a PNG map a person can read: in the
//! cube's CRS, framed to the footprints with enough around them to see
//! where they are, over land, coastlines and borders ([`crate::basemap`]),
//! with a labelled graticule, the cube's title and the patch count.
//!
//! Drawn on a plain RGB buffer (antialiased strokes, scanline fills, the
//! bitmap font of [`super::font`]) and encoded with `png`: plotters is
//! built with its SVG backend only, and the picture must be the same on
//! every machine.

use std::path::Path;

use geo::{CoordsIter, Geometry};
use geocube_core::crs::reproject_geometry;
use geocube_core::{BoundingBox, Crs, GeoBox};

use super::font;
use crate::basemap::{self, Edge, GraticuleLine};
use crate::{Error, Result};

/// The picture's width and height in pixels.
const PAGE: usize = 1024;
/// The map's square, in pixels, and its top-left corner on the page.
const MAP: usize = 880;
const MAP_X: usize = 72;
const MAP_Y: usize = 104;
/// Footprint edges are split into this many pieces before reprojection.
const DENSIFY: usize = 32;

const PAPER: [u8; 3] = [255, 255, 255];
/// The sea and the land (smart-geocubes draws land white on light grey).
const OCEAN: [u8; 3] = [214, 226, 236];
const LAND: [u8; 3] = [248, 247, 242];
/// Coastlines: dark grey.
const COAST: [u8; 3] = [64, 64, 64];
const BORDER: [u8; 3] = [120, 120, 120];
const GRATICULE: [u8; 3] = [140, 152, 166];
const CUBE_EXTENT: [u8; 3] = [70, 70, 70];
const OUTLINE: [u8; 3] = [0, 0, 0];
const FRAME: [u8; 3] = [40, 40, 40];
/// The main map's frame in the locator inset.
const LOCATOR: [u8; 3] = [215, 25, 28];
const LABEL: [u8; 3] = [55, 55, 55];
/// The title's ink.
const TITLE: [u8; 3] = [20, 20, 20];
/// Footprint fills, one per patch in load order (matplotlib's tab10).
const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];
const FOOTPRINT_ALPHA: f32 = 0.5;

/// A pixel rectangle `[x0, x1) x [y0, y1)`.
#[derive(Clone, Copy, Debug)]
struct PxRect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl PxRect {
    fn overlaps(&self, o: &PxRect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// An RGB page with a clip rectangle and a coverage buffer for strokes.
struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
    clip: PxRect,
    /// Per-pixel coverage of the stroke being drawn, and the pixels it
    /// touched: a stroke's pieces overlap at joints and must not blend twice.
    coverage: Vec<f32>,
    touched: Vec<usize>,
}

impl Canvas {
    #[allow(clippy::cast_precision_loss)]
    fn new(width: usize, height: usize) -> Canvas {
        Canvas {
            width,
            height,
            rgb: PAPER
                .iter()
                .copied()
                .cycle()
                .take(width * height * 3)
                .collect(),
            clip: PxRect {
                x0: 0.0,
                y0: 0.0,
                x1: width as f64,
                y1: height as f64,
            },
            coverage: vec![0.0; width * height],
            touched: vec![],
        }
    }

    /// The pixel index of `(col, row)` if it is inside the clip rectangle.
    #[allow(clippy::cast_precision_loss)]
    fn index(&self, col: i64, row: i64) -> Option<usize> {
        let (c, r) = (usize::try_from(col).ok()?, usize::try_from(row).ok()?);
        let (cf, rf) = (c as f64, r as f64);
        let inside =
            cf >= self.clip.x0 && cf < self.clip.x1 && rf >= self.clip.y0 && rf < self.clip.y1;
        (inside && c < self.width && r < self.height).then_some(r * self.width + c)
    }

    fn blend_at(&mut self, i: usize, color: [u8; 3], alpha: f32) {
        let px = &mut self.rgb[i * 3..i * 3 + 3];
        for (old, new) in px.iter_mut().zip(color) {
            let v = f32::from(*old) * (1.0 - alpha) + f32::from(new) * alpha;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let v = v.round().clamp(0.0, 255.0) as u8;
            *old = v;
        }
    }

    fn blend(&mut self, col: i64, row: i64, color: [u8; 3], alpha: f32) {
        if let Some(i) = self.index(col, row) {
            self.blend_at(i, color, alpha);
        }
    }

    #[allow(clippy::cast_possible_truncation)]
    fn fill_rect(&mut self, r: PxRect, color: [u8; 3]) {
        for row in r.y0.floor() as i64..r.y1.ceil() as i64 {
            for col in r.x0.floor() as i64..r.x1.ceil() as i64 {
                self.blend(col, row, color, 1.0);
            }
        }
    }

    /// Fill pixel-coordinate rings (even-odd) by scanlines through pixel
    /// centres.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn fill(&mut self, rings: &[Vec<(f64, f64)>], color: [u8; 3], alpha: f32) {
        let (y0, y1) = (
            self.clip.y0.max(0.0) as i64,
            self.clip.y1.min(self.height as f64) as i64,
        );
        let mut crossings = vec![];
        for row in y0..y1 {
            let yc = row as f64 + 0.5;
            crossings.clear();
            for ring in rings {
                for seg in ring.windows(2) {
                    let ((xa, ya), (xb, yb)) = (seg[0], seg[1]);
                    if (ya <= yc && yc < yb) || (yb <= yc && yc < ya) {
                        crossings.push(xa + (yc - ya) / (yb - ya) * (xb - xa));
                    }
                }
            }
            crossings.retain(|x| x.is_finite());
            crossings.sort_by(f64::total_cmp);
            for pair in crossings.chunks_exact(2) {
                let c0 = (pair[0] - 0.5).ceil().max(self.clip.x0) as i64;
                let c1 = (pair[1] - 0.5).floor().min(self.clip.x1) as i64;
                for c in c0..=c1 {
                    self.blend(c, row, color, alpha);
                }
            }
        }
    }

    /// An antialiased polyline of `width` pixels in pixel coordinates,
    /// dashed `(on, off)` pixels along its length when asked. Segments
    /// longer than a few pages (a projection blow-up) are left out.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    fn stroke(
        &mut self,
        points: &[(f64, f64)],
        width: f64,
        color: [u8; 3],
        alpha: f32,
        dash: Option<(f64, f64)>,
    ) {
        let limit = 4.0 * (self.width + self.height) as f64;
        let mut along = 0.0;
        for seg in points.windows(2) {
            let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
            let len = (bx - ax).hypot(by - ay);
            if !len.is_finite() || len > limit {
                along = 0.0;
                continue;
            }
            // Pieces of at most 16 px keep each one's box of pixels small.
            let n = (len / 16.0).ceil().max(1.0) as usize;
            for k in 0..n {
                let (t0, t1) = (k as f64 / n as f64, (k + 1) as f64 / n as f64);
                let a = (ax + (bx - ax) * t0, ay + (by - ay) * t0);
                let b = (ax + (bx - ax) * t1, ay + (by - ay) * t1);
                self.cover(a, b, width / 2.0, along + len * t0, dash);
            }
            along += len;
        }
        let touched = std::mem::take(&mut self.touched);
        for &i in &touched {
            let cov = std::mem::replace(&mut self.coverage[i], 0.0);
            self.blend_at(i, color, alpha * cov);
        }
        self.touched = touched;
        self.touched.clear();
    }

    /// Add the coverage of the segment `a`-`b` of half-width `half`, which
    /// starts `along` pixels into a stroke dashed by `dash`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn cover(
        &mut self,
        a: (f64, f64),
        b: (f64, f64),
        half: f64,
        along: f64,
        dash: Option<(f64, f64)>,
    ) {
        let ((ax, ay), (bx, by)) = (a, b);
        let pad = half + 1.0;
        if ax.max(bx) + pad < self.clip.x0
            || ax.min(bx) - pad > self.clip.x1
            || ay.max(by) + pad < self.clip.y0
            || ay.min(by) - pad > self.clip.y1
        {
            return;
        }
        let len = (bx - ax).hypot(by - ay);
        let (c0, c1) = (
            (ax.min(bx) - pad).floor() as i64,
            (ax.max(bx) + pad).ceil() as i64,
        );
        let (r0, r1) = (
            (ay.min(by) - pad).floor() as i64,
            (ay.max(by) + pad).ceil() as i64,
        );
        for row in r0..=r1 {
            for col in c0..=c1 {
                let Some(i) = self.index(col, row) else {
                    continue;
                };
                let (px, py) = (col as f64 + 0.5, row as f64 + 0.5);
                let t = if len > 0.0 {
                    (((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / (len * len)).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let d = (px - (ax + t * (bx - ax))).hypot(py - (ay + t * (by - ay)));
                let mut cov = (half + 0.5 - d).clamp(0.0, 1.0);
                if let Some((on, off)) = dash
                    && (along + t * len).rem_euclid(on + off) > on
                {
                    cov = 0.0;
                }
                if cov > 0.0 {
                    if self.coverage[i] == 0.0 {
                        self.touched.push(i);
                    }
                    self.coverage[i] = self.coverage[i].max(cov as f32);
                }
            }
        }
    }

    /// `text` with its box's top left at `(x, y)`, optionally on a halo.
    #[allow(clippy::cast_possible_wrap)]
    fn text(
        &mut self,
        x: i64,
        y: i64,
        text: &str,
        scale: usize,
        color: [u8; 3],
        halo: Option<[u8; 3]>,
    ) {
        if let Some(h) = halo {
            let pts: Vec<(usize, usize)> = font::pixels(text, scale).collect();
            for (dx, dy) in [
                (-1, -1),
                (0, -1),
                (1, -1),
                (-1, 0),
                (1, 0),
                (-1, 1),
                (0, 1),
                (1, 1),
            ] {
                for &(px, py) in &pts {
                    self.blend(x + px as i64 + dx, y + py as i64 + dy, h, 1.0);
                }
            }
        }
        for (px, py) in font::pixels(text, scale) {
            self.blend(x + px as i64, y + py as i64, color, 1.0);
        }
    }

    fn write_png(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let out = |e: png::EncodingError| Error::output(path, e);
        let (w, h) = (
            u32::try_from(self.width).map_err(|e| Error::output(path, e))?,
            u32::try_from(self.height).map_err(|e| Error::output(path, e))?,
        );
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(out)?;
        writer.write_image_data(&self.rgb).map_err(out)?;
        writer.finish().map_err(out)
    }
}

/// A square of the map CRS drawn into a square of the page.
struct View {
    frame: BoundingBox,
    /// Map units per pixel.
    scale: f64,
    /// The page pixels it is drawn into.
    rect: PxRect,
}

impl View {
    /// `frame` drawn into the square of `size` pixels at `(x0, y0)`.
    fn new(frame: BoundingBox, x0: f64, y0: f64, size: f64) -> View {
        View {
            frame,
            scale: frame.width().max(frame.height()) / size,
            rect: PxRect {
                x0,
                y0,
                x1: x0 + size,
                y1: y0 + size,
            },
        }
    }

    /// The main map.
    #[allow(clippy::cast_precision_loss)]
    fn main(frame: BoundingBox) -> View {
        View::new(frame, MAP_X as f64, MAP_Y as f64, MAP as f64)
    }

    fn px(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (
            self.rect.x0 + (x - self.frame.left) / self.scale,
            self.rect.y0 + (self.frame.top - y) / self.scale,
        )
    }

    fn line(&self, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        points.iter().map(|&p| self.px(p)).collect()
    }
}

/// The closed rings of every polygon in `g`.
fn rings(g: &Geometry<f64>) -> Vec<Vec<(f64, f64)>> {
    let ring = |l: &geo::LineString<f64>| l.coords_iter().map(|c| (c.x, c.y)).collect::<Vec<_>>();
    let poly = |p: &geo::Polygon<f64>| {
        std::iter::once(ring(p.exterior()))
            .chain(p.interiors().iter().map(ring))
            .collect::<Vec<_>>()
    };
    match g {
        Geometry::Polygon(p) => poly(p),
        Geometry::MultiPolygon(mp) => mp.iter().flat_map(poly).collect(),
        Geometry::Rect(r) => poly(&r.to_polygon()),
        Geometry::GeometryCollection(gc) => gc.iter().flat_map(rings).collect(),
        _ => vec![],
    }
}

/// The bounding box of points, `None` if there are none finite.
fn extent<'a>(points: impl IntoIterator<Item = &'a (f64, f64)>) -> Option<BoundingBox> {
    let mut b: Option<BoundingBox> = None;
    for &(x, y) in points {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let p = BoundingBox::new(x, y, x, y);
        b = Some(b.map_or(p, |b| b.union(&p)));
    }
    b
}

/// "12 patches loaded" (as the Python `draw_state` titles its map).
fn patch_count(n: usize) -> String {
    if n == 1 {
        "1 patch loaded".to_owned()
    } else {
        format!("{n} patches loaded")
    }
}

/// A short name of the CRS for the subtitle.
fn crs_label(crs: &Crs) -> String {
    crs.epsg()
        .map_or_else(|| "custom CRS".to_owned(), |c| format!("EPSG:{c}"))
}

/// `text` cut to at most `max_px` wide at `scale`, with `...` when cut.
fn fit(text: &str, scale: usize, max_px: usize) -> String {
    if font::text_width(text, scale) <= max_px {
        return text.to_owned();
    }
    let keep = (max_px / (font::ADVANCE * scale)).saturating_sub(3);
    text.chars().take(keep).chain("...".chars()).collect()
}

/// Draw the graticule labels around (or, for lines inside, on) the map,
/// leaving out those that would overlap one already drawn.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap
)]
fn graticule_labels(canvas: &mut Canvas, view: &View, lines: &[GraticuleLine]) {
    const SCALE: usize = 2;
    const GAP: f64 = 6.0;
    let glyph_h = (font::ASCENT * SCALE) as f64;
    let map = view.rect;
    let page = PxRect {
        x0: 0.0,
        y0: 0.0,
        x1: PAGE as f64,
        y1: PAGE as f64,
    };
    let mut placed: Vec<PxRect> = vec![];
    // Bottom and left first (as smart-geocubes labels), then top and right,
    // then the lines that never reach an edge.
    let rank = |e: Option<Edge>| match e {
        Some(Edge::Bottom | Edge::Left) => 0,
        Some(Edge::Top | Edge::Right) => 1,
        None => 2,
    };
    let mut order: Vec<&GraticuleLine> = lines.iter().collect();
    order.sort_by_key(|l| rank(l.anchor.edge));
    for line in order {
        let (px, py) = view.px(line.anchor.point);
        let w = font::text_width(&line.label, SCALE) as f64;
        // Inside labels go below their point, or above it near the bottom.
        // Outside the map beside the edge; failing that (a label wider than
        // the margin) inside it, on a halo. Lines inside the map: below
        // their point, or above it near the bottom.
        let (cx, cy) = (px - w / 2.0, py - glyph_h / 2.0);
        let spots = match line.anchor.edge {
            Some(Edge::Bottom) => vec![
                (cx, map.y1 + GAP, false),
                (cx, map.y1 - GAP - glyph_h, true),
            ],
            Some(Edge::Top) => vec![
                (cx, map.y0 - GAP - glyph_h, false),
                (cx, map.y0 + GAP, true),
            ],
            Some(Edge::Left) => vec![(map.x0 - GAP - w, cy, false), (map.x0 + GAP, cy, true)],
            Some(Edge::Right) => vec![(map.x1 + GAP, cy, false), (map.x1 - GAP - w, cy, true)],
            None => vec![(cx, py + GAP, true), (cx, py - GAP - glyph_h, true)],
        };
        let fits = |&(x, y, inside): &(f64, f64, bool)| {
            let rect = PxRect {
                x0: x - 3.0,
                y0: y - 3.0,
                x1: x + w + 3.0,
                y1: y + glyph_h + 3.0,
            };
            let within = |r: &PxRect| {
                rect.x0 >= r.x0 && rect.x1 <= r.x1 && rect.y0 >= r.y0 && rect.y1 <= r.y1
            };
            let belongs = if inside {
                within(&map)
            } else {
                within(&page) && !rect.overlaps(&map)
            };
            (belongs && !placed.iter().any(|p| p.overlaps(&rect))).then_some((x, y, inside, rect))
        };
        let Some((x, y, inside, rect)) = spots.iter().find_map(fits) else {
            continue;
        };
        placed.push(rect);
        let halo = inside.then_some(PAPER);
        canvas.text(
            x.round() as i64,
            y.round() as i64,
            &line.label,
            SCALE,
            LABEL,
            halo,
        );
    }
}

/// Fill the sea and the land of `view`, then draw borders and coast; the
/// canvas clip is set to the view.
fn basemap_layers(canvas: &mut Canvas, view: &View, crs: &Crs, coast_width: f64) -> Result<()> {
    canvas.clip = view.rect;
    canvas.fill_rect(view.rect, OCEAN);
    let land: Vec<Vec<(f64, f64)>> = basemap::land(crs, view.frame)?
        .iter()
        .map(|r| view.line(r))
        .collect();
    canvas.fill(&land, LAND, 1.0);
    for line in basemap::borders(crs, Some(view.frame))? {
        canvas.stroke(&view.line(&line), 1.0, BORDER, 1.0, Some((2.0, 2.5)));
    }
    for line in basemap::coastlines(crs, Some(view.frame))? {
        canvas.stroke(&view.line(&line), coast_width, COAST, 1.0, None);
    }
    Ok(())
}

/// The closed outline of a box, in map coordinates.
fn outline(b: &BoundingBox) -> [(f64, f64); 5] {
    [
        (b.left, b.top),
        (b.right, b.top),
        (b.right, b.bottom),
        (b.left, b.bottom),
        (b.left, b.top),
    ]
}

/// A frame around a view's square, on its outer pixels.
fn frame_border(canvas: &mut Canvas, r: PxRect, color: [u8; 3]) {
    let (x0, y0, x1, y1) = (r.x0 - 0.5, r.y0 - 0.5, r.x1 - 0.5, r.y1 - 0.5);
    canvas.stroke(
        &[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)],
        1.0,
        color,
        1.0,
        None,
    );
}

/// A map whose frame is smaller than this (map units: metres, or degrees
/// in a geographic CRS) gets a locator inset showing where it is.
fn needs_locator(frame: &BoundingBox, geographic: bool) -> bool {
    frame.width() < if geographic { 15.0 } else { 1_500_000.0 }
}

/// A small overview map in a corner of the main one, away from the
/// footprints (`avoid`, page pixels), with the main map's frame marked.
#[allow(clippy::cast_precision_loss)]
fn locator(canvas: &mut Canvas, main: &View, crs: &Crs, avoid: Option<BoundingBox>) -> Result<()> {
    const SIZE: f64 = 200.0;
    const INSET: f64 = 12.0;
    let f = main.frame;
    let geographic = crs.is_geographic();
    let side = (3.0 * f.width()).max(if geographic { 40.0 } else { 4_000_000.0 });
    let (cx, cy) = (0.5 * (f.left + f.right), 0.5 * (f.bottom + f.top));
    let frame = BoundingBox::new(
        cx - side / 2.0,
        cy - side / 2.0,
        cx + side / 2.0,
        cy + side / 2.0,
    );
    let m = main.rect;
    let corners = [
        (m.x0 + INSET, m.y1 - INSET - SIZE),
        (m.x1 - INSET - SIZE, m.y1 - INSET - SIZE),
        (m.x0 + INSET, m.y0 + INSET),
        (m.x1 - INSET - SIZE, m.y0 + INSET),
    ];
    let clear = |&&(x, y): &&(f64, f64)| {
        avoid
            .is_none_or(|a| !(a.left < x + SIZE && x < a.right && a.bottom < y + SIZE && y < a.top))
    };
    let &(x0, y0) = corners.iter().find(clear).unwrap_or(&corners[0]);
    let view = View::new(frame, x0, y0, SIZE);
    basemap_layers(canvas, &view, crs, 1.0)?;
    // The main map's frame, at least a few pixels across.
    let (a, b) = (view.px((f.left, f.top)), view.px((f.right, f.bottom)));
    let grow = ((6.0 - (b.0 - a.0)) / 2.0).max(0.0);
    let (a, b) = ((a.0 - grow, a.1 - grow), (b.0 + grow, b.1 + grow));
    let mark = [(a.0, a.1), (b.0, a.1), (b.0, b.1), (a.0, b.1), (a.0, a.1)];
    canvas.stroke(&mark, 2.0, LOCATOR, 1.0, None);
    canvas.clip = main.rect;
    frame_border(canvas, view.rect, FRAME);
    Ok(())
}

/// Draw the state map of a cube titled `title` with grid `grid`: the
/// footprints (EPSG:4326) of its `loaded` patches (those the source still
/// knows), over the basemap, to a PNG at `path`.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]
pub(crate) fn render_png(
    title: &str,
    grid: &GeoBox,
    loaded: usize,
    footprints: &[Geometry<f64>],
    path: &Path,
) -> Result<()> {
    let crs = grid.crs();
    let mut projected = vec![];
    for g in footprints {
        let p = reproject_geometry(g, &Crs::wgs84(), crs, DENSIFY)?;
        projected.push(rings(&p));
    }
    let fp_extent = extent(projected.iter().flatten().flatten());
    let frame = basemap::frame(grid.bbox(), fp_extent, crs.is_geographic());
    let view = View::main(frame);
    let mut canvas = Canvas::new(PAGE, PAGE);

    // The map: sea, land, borders, coast, graticule, cube extent, footprints.
    basemap_layers(&mut canvas, &view, crs, 1.5)?;
    let (lon_step, lat_step) = basemap::nice_steps(crs, frame);
    let graticule = basemap::graticule_steps(crs, Some(frame), lon_step, lat_step);
    for line in &graticule {
        canvas.stroke(&view.line(&line.points), 1.0, GRATICULE, 0.9, None);
    }
    let b = grid.bbox();
    canvas.stroke(
        &view.line(&outline(&b)),
        1.5,
        CUBE_EXTENT,
        1.0,
        Some((8.0, 5.0)),
    );
    for (k, r) in projected.iter().enumerate() {
        let px: Vec<Vec<(f64, f64)>> = r.iter().map(|ring| view.line(ring)).collect();
        let color = PALETTE[k % PALETTE.len()];
        match extent(px.iter().flatten()) {
            // Too small to see at this scale: a marker where it is.
            Some(e) if e.width() < 4.0 && e.height() < 4.0 => {
                let (cx, cy) = (0.5 * (e.left + e.right), 0.5 * (e.bottom + e.top));
                let sq = outline(&BoundingBox::new(cx - 5.0, cy - 5.0, cx + 5.0, cy + 5.0));
                canvas.fill(&[sq.to_vec()], color, 0.8);
                canvas.stroke(&sq, 1.5, OUTLINE, 1.0, None);
            }
            Some(_) => canvas.fill(&px, color, FOOTPRINT_ALPHA),
            None => {}
        }
    }
    for r in &projected {
        for ring in r {
            canvas.stroke(&view.line(ring), 1.0, OUTLINE, 1.0, None);
        }
    }
    if needs_locator(&frame, crs.is_geographic()) {
        let avoid = fp_extent.map(|e| {
            let (a, b) = (view.px((e.left, e.top)), view.px((e.right, e.bottom)));
            BoundingBox::new(a.0, a.1, b.0, b.1)
        });
        locator(&mut canvas, &view, crs, avoid)?;
    }

    // Around the map: frame, labels, title, patch count, attribution.
    canvas.clip = PxRect {
        x0: 0.0,
        y0: 0.0,
        x1: PAGE as f64,
        y1: PAGE as f64,
    };
    frame_border(&mut canvas, view.rect, FRAME);
    graticule_labels(&mut canvas, &view, &graticule);
    let left = MAP_X as i64;
    canvas.text(left, 18, &fit(title, 3, MAP), 3, TITLE, None);
    canvas.text(left, 58, &patch_count(loaded), 2, LABEL, None);
    let crs_text = crs_label(crs);
    let crs_x = (MAP_X + MAP).saturating_sub(font::text_width(&crs_text, 2));
    canvas.text(crs_x as i64, 58, &crs_text, 2, LABEL, None);
    let attribution = basemap::ATTRIBUTION;
    let ax = (MAP_X + MAP).saturating_sub(font::text_width(attribution, 1));
    canvas.text(ax as i64, (PAGE - 13) as i64, attribution, 1, LABEL, None);
    // The cube's outline is in the map where the frame reaches past the cube.
    let outline_shown = frame.left < b.left
        || frame.right > b.right
        || frame.bottom < b.bottom
        || frame.top > b.top;
    if outline_shown {
        let (lx, ly) = (MAP_X as f64, (PAGE - 9) as f64);
        canvas.stroke(
            &[(lx, ly), (lx + 30.0, ly)],
            1.5,
            CUBE_EXTENT,
            1.0,
            Some((8.0, 5.0)),
        );
        canvas.text(
            lx as i64 + 36,
            (PAGE - 13) as i64,
            "cube extent",
            1,
            LABEL,
            None,
        );
    }
    canvas.write_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ink(c: &Canvas) -> usize {
        c.rgb.chunks_exact(3).filter(|p| *p != PAPER).count()
    }

    #[test]
    fn even_odd_fill_of_a_ring_with_a_hole() {
        let mut c = Canvas::new(20, 20);
        let outer = outline(&BoundingBox::new(2.0, 2.0, 12.0, 12.0)).to_vec();
        let hole = outline(&BoundingBox::new(4.0, 4.0, 6.0, 6.0)).to_vec();
        c.fill(&[outer, hole], LAND, 1.0);
        assert_eq!(ink(&c), 100 - 4);
    }

    #[test]
    fn strokes_blend_once_per_pixel_and_dash() {
        let mut solid = Canvas::new(40, 5);
        // Three collinear pieces: the joints must not come out darker.
        solid.stroke(
            &[(0.0, 2.5), (10.0, 2.5), (20.0, 2.5), (40.0, 2.5)],
            1.0,
            COAST,
            0.5,
            None,
        );
        let row: Vec<&[u8]> = solid.rgb[2 * 40 * 3..3 * 40 * 3].chunks_exact(3).collect();
        assert!(row[1..39].iter().all(|p| *p == row[1]), "{row:?}");
        let mut dashed = Canvas::new(40, 5);
        dashed.stroke(
            &[(0.0, 2.5), (40.0, 2.5)],
            1.0,
            COAST,
            1.0,
            Some((4.0, 4.0)),
        );
        assert!(ink(&dashed) < ink(&solid) * 3 / 4 && ink(&dashed) > ink(&solid) / 4);
        // A clip rectangle keeps everything else blank.
        let mut clipped = Canvas::new(40, 5);
        clipped.clip = PxRect {
            x0: 0.0,
            y0: 0.0,
            x1: 10.0,
            y1: 5.0,
        };
        clipped.stroke(&[(0.0, 2.5), (40.0, 2.5)], 1.0, COAST, 1.0, None);
        assert!(
            clipped
                .rgb
                .chunks_exact(3)
                .skip(2 * 40 + 10)
                .take(30)
                .all(|p| p == PAPER)
        );
    }

    #[test]
    fn text_and_its_fitting() {
        let mut c = Canvas::new(100, 20);
        c.text(1, 1, "60°N", 2, LABEL, Some(PAPER));
        assert!(ink(&c) > 40);
        assert_eq!(fit("short", 1, 100), "short");
        let cut = fit(&"x".repeat(100), 1, 60);
        assert!(
            cut.ends_with("...") && font::text_width(&cut, 1) <= 60,
            "{cut}"
        );
        assert_eq!(patch_count(0), "0 patches loaded");
        assert_eq!(patch_count(1), "1 patch loaded");
        assert_eq!(patch_count(12), "12 patches loaded");
    }
}
