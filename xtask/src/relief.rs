//! A shaded-relief quick look of a DEM GeoTIFF, as PNG.

use std::path::Path;

use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

/// Elevation colour ramp (metres → RGB), linear between stops.
const RAMP: [(f32, [f32; 3]); 5] = [
    (0.0, [46.0, 112.0, 62.0]),
    (500.0, [138.0, 170.0, 90.0]),
    (1000.0, [214.0, 196.0, 128.0]),
    (1500.0, [170.0, 120.0, 80.0]),
    (2200.0, [245.0, 245.0, 245.0]),
];

fn ramp(z: f32) -> [f32; 3] {
    let first = RAMP[0];
    if z <= first.0 {
        return first.1;
    }
    for pair in RAMP.windows(2) {
        let ((z0, c0), (z1, c1)) = (pair[0], pair[1]);
        if z <= z1 {
            let t = (z - z0) / (z1 - z0);
            return [0, 1, 2].map(|i| c0[i] + t * (c1[i] - c0[i]));
        }
    }
    RAMP[RAMP.len() - 1].1
}

/// Read the first band of `tif` (f32), shade it (sun from the north-west at
/// 45°) over the colour ramp and write `png`. Nodata and NaN are drawn grey.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::many_single_char_names
)]
pub(crate) fn render_geotiff(tif: &Path, png: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", tif.display());
    let file = std::fs::File::open(tif).map_err(|e| err(&e))?;
    let mut dec = Decoder::new(std::io::BufReader::new(file)).map_err(|e| err(&e))?;
    let (w, h) = dec.dimensions().map_err(|e| err(&e))?;
    let res = dec
        .get_tag_f64_vec(Tag::Unknown(33550))
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(32.0) as f32;
    let nodata: Option<f32> = dec
        .get_tag_ascii_string(Tag::Unknown(42113))
        .ok()
        .and_then(|s| s.trim_matches(char::from(0)).trim().parse().ok());
    let DecodingResult::F32(z) = dec.read_image().map_err(|e| err(&e))? else {
        return Err(format!("{}: the first band is not float32", tif.display()));
    };
    let (w, h) = (w as usize, h as usize);
    let valid = |v: f32| !v.is_nan() && nodata.is_none_or(|n| v != n);
    let at = |r: usize, c: usize| {
        let v = z[r.min(h - 1) * w + c.min(w - 1)];
        if valid(v) { Some(v) } else { None }
    };
    let (az, alt) = (315_f32.to_radians(), 45_f32.to_radians());
    let mut rgb = Vec::with_capacity(w * h * 3);
    for r in 0..h {
        for c in 0..w {
            let Some(v) = at(r, c) else {
                rgb.extend([128, 128, 128]);
                continue;
            };
            let n = |dr: isize, dc: isize| {
                let rr = r.saturating_add_signed(dr);
                let cc = c.saturating_add_signed(dc);
                at(rr, cc).unwrap_or(v)
            };
            // Horn's gradient; 3x vertical exaggeration so 32 m terrain shows.
            let dzdx = ((n(-1, 1) + 2.0 * n(0, 1) + n(1, 1))
                - (n(-1, -1) + 2.0 * n(0, -1) + n(1, -1)))
                / (8.0 * res)
                * 3.0;
            let dzdy = ((n(1, -1) + 2.0 * n(1, 0) + n(1, 1))
                - (n(-1, -1) + 2.0 * n(-1, 0) + n(-1, 1)))
                / (8.0 * res)
                * 3.0;
            let slope = dzdx.hypot(dzdy).atan();
            let aspect = dzdy.atan2(-dzdx);
            let shade = (alt.sin() * slope.cos() + alt.cos() * slope.sin() * (az - aspect).cos())
                .clamp(0.0, 1.0);
            let base = ramp(v);
            rgb.extend(base.map(|ch| (ch * (0.35 + 0.65 * shade)).clamp(0.0, 255.0) as u8));
        }
    }
    let file = std::fs::File::create(png).map_err(|e| format!("{}: {e}", png.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|e| format!("{}: {e}", png.display()))?;
    writer
        .write_image_data(&rgb)
        .map_err(|e| format!("{}: {e}", png.display()))?;
    writer
        .finish()
        .map_err(|e| format!("{}: {e}", png.display()))
}
