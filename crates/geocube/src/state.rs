//! What a cube holds: the loaded patches as GeoJSON, and as a PNG map drawn
//! in the cube's CRS.

use std::collections::HashMap;
use std::path::Path;

use geo::{CoordsIter, Geometry};
use geocube_core::crs::reproject_geometry;
use geocube_core::{Crs, GeoBox, PatchRef};
use serde_json::json;

use crate::{Error, Result};

/// Longest side of the map in pixels.
const MAP_PX: f64 = 1024.0;
/// Graticule spacing in degrees.
const GRATICULE_DEG: f64 = 10.0;
/// Footprint edges are split into this many pieces before reprojection.
const DENSIFY: usize = 32;

const BACKGROUND: [u8; 3] = [250, 250, 250];
const FILL: [u8; 3] = [49, 130, 189];
const OUTLINE: [u8; 3] = [8, 48, 107];
const GRATICULE: [u8; 3] = [150, 150, 150];
const BORDER: [u8; 3] = [0, 0, 0];

/// One feature per loaded id, in load order.
pub(crate) fn feature_collection(
    ids: &[String],
    index: &[PatchRef],
) -> geojson::FeatureCollection {
    let by_id: HashMap<&str, &PatchRef> = index.iter().map(|p| (p.id.as_str(), p)).collect();
    let features = ids.iter().map(|id| {
        let entry = by_id.get(id.as_str());
        let mut properties = geojson::JsonObject::new();
        properties.insert("id".into(), json!(id));
        let time = entry.and_then(|p| p.time).map(|t| t.to_rfc3339());
        properties.insert("time".into(), json!(time));
        geojson::Feature {
            bbox: None,
            geometry: entry.map(|p| geojson::Geometry::from(&p.geometry)),
            id: Some(geojson::feature::Id::String(id.clone())),
            properties: Some(properties),
            foreign_members: None,
        }
    });
    geojson::FeatureCollection::new(features)
}

/// An RGB canvas over a map rectangle, north up.
struct Canvas {
    width: usize,
    height: usize,
    left: f64,
    top: f64,
    /// Map units per pixel.
    scale: f64,
    rgb: Vec<u8>,
}

impl Canvas {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn over(grid: &GeoBox) -> Canvas {
        let b = grid.bbox();
        let scale = b.width().max(b.height()) / MAP_PX;
        let width = ((b.width() / scale).ceil() as usize).max(1);
        let height = ((b.height() / scale).ceil() as usize).max(1);
        let rgb = BACKGROUND
            .iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect();
        Canvas {
            width,
            height,
            left: b.left,
            top: b.top,
            scale,
            rgb,
        }
    }

    /// Map coordinates to (fractional) pixel coordinates.
    fn to_px(&self, x: f64, y: f64) -> (f64, f64) {
        ((x - self.left) / self.scale, (self.top - y) / self.scale)
    }

    fn blend(&mut self, col: i64, row: i64, color: [u8; 3], alpha: f64) {
        let (Ok(c), Ok(r)) = (usize::try_from(col), usize::try_from(row)) else {
            return;
        };
        if c >= self.width || r >= self.height {
            return;
        }
        let i = (r * self.width + c) * 3;
        for (k, v) in color.iter().enumerate() {
            let old = f64::from(self.rgb[i + k]);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let new = (old * (1.0 - alpha) + f64::from(*v) * alpha).round() as u8;
            self.rgb[i + k] = new;
        }
    }

    /// Fill the rings (even-odd) by scanlines through pixel centres.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn fill(&mut self, rings: &[Vec<(f64, f64)>], color: [u8; 3], alpha: f64) {
        let px: Vec<Vec<(f64, f64)>> = rings
            .iter()
            .map(|r| r.iter().map(|&(x, y)| self.to_px(x, y)).collect())
            .collect();
        let mut crossings = vec![];
        for row in 0..self.height {
            let yc = row as f64 + 0.5;
            crossings.clear();
            for ring in &px {
                for seg in ring.windows(2) {
                    let ((x0, y0), (x1, y1)) = (seg[0], seg[1]);
                    if (y0 <= yc && yc < y1) || (y1 <= yc && yc < y0) {
                        crossings.push(x0 + (yc - y0) / (y1 - y0) * (x1 - x0));
                    }
                }
            }
            crossings.sort_by(f64::total_cmp);
            for pair in crossings.chunks_exact(2) {
                let c0 = (pair[0] - 0.5).ceil().max(0.0) as i64;
                let c1 = (pair[1] - 0.5).floor().min(self.width as f64) as i64;
                for c in c0..=c1 {
                    self.blend(c, row as i64, color, alpha);
                }
            }
        }
    }

    /// A one-pixel polyline; segments longer than the canvas (projection
    /// blow-ups) are skipped.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn polyline(&mut self, points: &[(f64, f64)], color: [u8; 3]) {
        let limit = (self.width + self.height) as f64;
        for seg in points.windows(2) {
            let (x0, y0) = self.to_px(seg[0].0, seg[0].1);
            let (x1, y1) = self.to_px(seg[1].0, seg[1].1);
            let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil();
            if !steps.is_finite() || steps > limit {
                continue;
            }
            let n = steps.max(1.0) as i64;
            for k in 0..=n {
                let t = k as f64 / n as f64;
                self.blend(
                    (x0 + t * (x1 - x0)).floor() as i64,
                    (y0 + t * (y1 - y0)).floor() as i64,
                    color,
                    1.0,
                );
            }
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

/// Lines of constant longitude and latitude, in `crs`, broken where a point
/// cannot be transformed.
#[allow(clippy::cast_precision_loss)]
fn graticule(crs: &Crs) -> Vec<Vec<(f64, f64)>> {
    let wgs84 = Crs::wgs84();
    let mut lines: Vec<Vec<(f64, f64)>> = vec![];
    let meridians = (0..=36).map(|i| -180.0 + GRATICULE_DEG * f64::from(i));
    let parallels = (1..18).map(|i| -90.0 + GRATICULE_DEG * f64::from(i));
    let mut raw: Vec<Vec<(f64, f64)>> = meridians
        .map(|lon| {
            (0..=356)
                .map(|k| (lon, -89.0 + 0.5 * f64::from(k)))
                .collect()
        })
        .collect();
    raw.extend(parallels.map(|lat| {
        (0..=720)
            .map(|k| (-180.0 + 0.5 * f64::from(k), lat))
            .collect()
    }));
    for line in raw {
        let mut current = vec![];
        for p in line {
            let mut pt = [p];
            if wgs84.transform_points(crs, &mut pt).is_ok()
                && pt[0].0.is_finite()
                && pt[0].1.is_finite()
            {
                current.push(pt[0]);
            } else if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
    }
    lines
}

/// Draw `footprints` (EPSG:4326) over the extent of `grid`, in its CRS.
pub(crate) fn render_png(grid: &GeoBox, footprints: &[Geometry<f64>], path: &Path) -> Result<()> {
    let mut canvas = Canvas::over(grid);
    let mut outlines = vec![];
    for g in footprints {
        let projected = reproject_geometry(g, &Crs::wgs84(), grid.crs(), DENSIFY)?;
        let r = rings(&projected);
        canvas.fill(&r, FILL, 0.55);
        outlines.extend(r);
    }
    for ring in &outlines {
        canvas.polyline(ring, OUTLINE);
    }
    for line in graticule(grid.crs()) {
        canvas.polyline(&line, GRATICULE);
    }
    let b = grid.bbox();
    let (l, r) = (b.left + canvas.scale / 2.0, b.right - canvas.scale / 2.0);
    let (bo, t) = (b.bottom + canvas.scale / 2.0, b.top - canvas.scale / 2.0);
    canvas.polyline(&[(l, t), (r, t), (r, bo), (l, bo), (l, t)], BORDER);
    canvas.write_png(path)
}
