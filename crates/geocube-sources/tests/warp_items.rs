//! STAC items on another grid than the cube's are warped into it: a UTM
//! scene holding a linear ramp (in UTM metres) downloaded into an EPSG:3413
//! cube and, across the antimeridian, into an EPSG:4326 cube. Bilinear
//! interpolation reproduces a linear function, so every cube pixel must
//! equal the ramp at its centre mapped into UTM, up to the approximate
//! transformer's 0.125 px — whatever the kernel code, the chunking, the
//! source windows or the pieces a patch is streamed in.

#![allow(clippy::unwrap_used, clippy::cast_precision_loss, clippy::float_cmp)]

use std::path::Path;

use geocube_core::warp::Resampling;
use geocube_core::{
    Affine, ChannelSpec, Crs, CubeSpec, DType, GeoBox, Patch, PatchRef, Source, Streamed,
    TypedArray,
};
use geocube_geotiff::{CogWriter, CrsKind};
use geocube_sources::StacSource;
use serde_json::json;

/// The ramp's slope per metre along x and y, and its value at the origin.
const DX: f64 = 0.05;
const DY: f64 = -0.03;

struct Scene {
    grid: GeoBox,
    x0: f64,
    y0: f64,
}

impl Scene {
    fn value(&self, x: f64, y: f64) -> f64 {
        DX * (x - self.x0) + DY * (y - self.y0) + 1000.0
    }
}

/// A float32 COG (with overviews) of the ramp on `grid`, as a `file://` URL.
fn write_ramp(
    dir: &Path,
    name: &str,
    epsg: u32,
    x0: f64,
    y0: f64,
    res: f64,
    n: usize,
) -> (Scene, String) {
    let grid = GeoBox::new(
        n,
        n,
        Affine {
            x0,
            res_x: res,
            y0,
            res_y: -res,
        },
        Crs::from_epsg(epsg).unwrap(),
    )
    .unwrap();
    let scene = Scene { grid, x0, y0 };
    let mut data = Vec::with_capacity(n * n);
    for r in 0..n {
        for c in 0..n {
            let (x, y) = scene.grid.affine().apply(c as f64 + 0.5, r as f64 + 0.5);
            data.push(scene.value(x, y) as f32);
        }
    }
    let path = dir.join(name);
    let bytes = CogWriter::new(u32::try_from(n).unwrap(), u32::try_from(n).unwrap())
        .geotransform(scene.grid.affine().gdal_geotransform())
        .epsg(epsg, CrsKind::Projected)
        .to_vec(&data)
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let url = reqwest_like_file_url(&path);
    (scene, url)
}

fn reqwest_like_file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn item(id: &str, url: &str) -> serde_json::Value {
    json!({"type": "Feature", "id": id, "properties": {"datetime": null},
           "geometry": null, "bbox": [-180, -90, 180, 90],
           "assets": {"b": {"href": url}}})
}

fn spec(grid: GeoBox, chunk: usize) -> CubeSpec {
    CubeSpec {
        title: "warp".into(),
        geobox: grid,
        time: None,
        chunk_size: chunk,
        channels: vec![ChannelSpec::new("b", DType::Float32)],
        codec: geocube_core::ChunkCodec::default(),
    }
}

/// Check every valid pixel of `patch` against the ramp; return how many
/// pixels had a value, and how many pixels centred well inside the scene
/// had none.
fn check(patch: &Patch, scene: &Scene) -> (usize, usize) {
    // The transformer interpolates within 0.125 source px.
    check_within(patch, scene, 0.125)
}

/// [`check`] allowing values `px` source pixels' change of the ramp off
/// (plus f32 rounding of values near 1000).
fn check_within(patch: &Patch, scene: &Scene, px: f64) -> (usize, usize) {
    let b = patch.layers["b"].data.as_array::<f32>().unwrap();
    let res = scene.grid.resolution().0.abs();
    let tol = px * res * (DX.abs() + DY.abs()) + 1e-3;
    let (mut valid, mut holes) = (0, 0);
    let sb = scene.grid.bbox();
    for ((r, c), v) in b
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .indexed_iter()
    {
        let mut p = [patch.geobox.affine().apply(c as f64 + 0.5, r as f64 + 0.5)];
        patch
            .geobox
            .crs()
            .transform_points(scene.grid.crs(), &mut p)
            .unwrap();
        let (x, y) = p[0];
        let inside = x > sb.left + 2.0 * res
            && x < sb.right - 2.0 * res
            && y > sb.bottom + 2.0 * res
            && y < sb.top - 2.0 * res;
        if v.is_nan() {
            if inside {
                holes += 1;
            }
            continue;
        }
        valid += 1;
        if inside {
            let want = scene.value(x, y);
            assert!(
                (f64::from(*v) - want).abs() <= tol,
                "pixel ({r}, {c}) at ({x}, {y}): {v} instead of {want} (± {tol})"
            );
        }
    }
    (valid, holes)
}

fn source(spec: CubeSpec, resampling: Resampling) -> StacSource {
    StacSource::builder("http://127.0.0.1:9/unused", "c", spec)
        .resampling(resampling)
        .build()
        .unwrap()
}

fn assemble(stac: &StacSource, idx: &PatchRef, max_whole_bytes: u64, like: &Patch) -> Patch {
    let mut whole = like.clone();
    let (h, w) = whole.geobox.shape();
    whole.layers.get_mut("b").unwrap().data = TypedArray::filled(DType::Float32, &[h, w]);
    let origin = whole.geobox.affine();
    let mut pieces = 0;
    let streamed = stac
        .download_streaming(idx, max_whole_bytes, &mut |p: Patch| {
            pieces += 1;
            let (c0, r0) = origin.invert(p.geobox.affine().x0, p.geobox.affine().y0);
            let (r0, c0) = (r0.round() as usize, c0.round() as usize);
            let src = p.layers["b"].data.as_array::<f32>().unwrap();
            let TypedArray::Float32(dst) = &mut whole.layers.get_mut("b").unwrap().data else {
                unreachable!()
            };
            for (i, v) in src.indexed_iter() {
                dst[[r0 + i[0], c0 + i[1]].as_slice()] = *v;
            }
            Ok(())
        })
        .unwrap();
    assert!(matches!(streamed, Streamed::Pieces));
    assert!(pieces > 1, "{pieces} pieces");
    whole
}

#[test]
fn a_utm_scene_is_warped_into_a_polar_cube() {
    let dir = tempfile::tempdir().unwrap();
    // 12 km of UTM 7N at 10 m, near Utqiagvik's longitude band.
    let (scene, url) = write_ramp(
        dir.path(),
        "utm.tif",
        32607,
        500_000.0,
        7_700_000.0,
        10.0,
        1200,
    );
    let polar = Crs::from_epsg(3413).unwrap();
    let cube_grid = GeoBox::from_bbox(
        geocube_core::BoundingBox::new(-3_000_000.0, -500_000.0, 0.0, 2_500_000.0),
        polar,
        10.0,
    )
    .unwrap();
    let stac = source(spec(cube_grid, 512), Resampling::Bilinear);
    let idx = stac.mosaic_patch("utm", vec![item("utm", &url)]).unwrap();
    let patch = Source::download(&stac, &idx).unwrap();
    let (valid, holes) = check(&patch, &scene);
    assert_eq!(holes, 0, "cube pixels inside the scene without a value");
    // The scene's area, give or take its edge pixels.
    let expected = 1200.0 * 1200.0;
    assert!(
        (valid as f64 - expected).abs() < 0.01 * expected,
        "{valid} pixels warped, about {expected} expected"
    );
    // Streamed chunk by chunk: the same bits.
    let streamed = assemble(&stac, &idx, 1 << 20, &patch);
    let bits = |p: &Patch| -> Vec<u32> {
        let a = p.layers["b"].data.as_array::<f32>().unwrap();
        a.iter().map(|v| v.to_bits()).collect()
    };
    assert!(
        bits(&streamed) == bits(&patch),
        "pieces differ from the whole patch"
    );
    // Nearest picks source values, which differ from the ramp by at most
    // half a source pixel's change (plus the transformer's error).
    let near = Source::download(
        &source(spec(patch.geobox.clone(), 512), Resampling::Nearest),
        &idx,
    )
    .unwrap();
    let (valid, holes) = check_within(&near, &scene, 0.5 + 0.125);
    assert_eq!(holes, 0);
    assert!(valid > 1_000_000, "{valid}");
}

#[test]
fn a_scene_across_the_antimeridian_lands_on_both_edges_of_a_lonlat_cube() {
    let dir = tempfile::tempdir().unwrap();
    // UTM 60N (central meridian 177°E) 2–4° east of it at 64°N: 179°E–181°E.
    let (scene, url) = write_ramp(
        dir.path(),
        "utm60.tif",
        32660,
        600_000.0,
        7_100_000.0,
        100.0,
        1000,
    );
    let world = GeoBox::new(
        36_000,
        1_000,
        Affine {
            x0: -180.0,
            res_x: 0.01,
            y0: 68.0,
            res_y: -0.01,
        },
        Crs::wgs84(),
    )
    .unwrap();
    let stac = source(spec(world, 256), Resampling::Bilinear);
    let idx = stac
        .mosaic_patch("utm60", vec![item("utm60", &url)])
        .unwrap();
    let patch = Source::download(&stac, &idx).unwrap();
    let (valid, holes) = check(&patch, &scene);
    assert_eq!(holes, 0);
    assert!(valid > 1000, "{valid}");
    // Values on both sides of the antimeridian.
    let b = patch.layers["b"].data.as_array::<f32>().unwrap();
    let w = patch.geobox.width();
    let has = |cols: std::ops::Range<usize>| {
        b.indexed_iter()
            .any(|(i, v)| cols.contains(&i[1]) && !v.is_nan())
    };
    assert!(has(0..w / 2) && has(w / 2..w), "one side is empty");
    assert_eq!(patch.geobox.bbox().left, -180.0);
    assert_eq!(patch.geobox.bbox().right, 180.0);
}

#[test]
fn a_coarser_cube_reads_the_overview_of_its_shrink() {
    use geocube_sources::cog::{Cog, FileByteSource};
    let dir = tempfile::tempdir().unwrap();
    let (scene, url) = write_ramp(
        dir.path(),
        "utm.tif",
        32607,
        500_000.0,
        7_700_000.0,
        10.0,
        1200,
    );
    let polar = Crs::from_epsg(3413).unwrap();
    // 40 m cells over a 10 m scene: a shrink of about 4, the ×4 overview.
    let cube_grid = GeoBox::from_bbox(scene.grid.bbox_in(&polar).unwrap(), polar, 40.0).unwrap();
    let chunk = cube_grid.width().max(cube_grid.height());
    let stac = source(spec(cube_grid.clone(), chunk), Resampling::Bilinear);
    let idx = stac.mosaic_patch("utm", vec![item("utm", &url)]).unwrap();
    let patch = Source::download(&stac, &idx).unwrap();
    let (valid, holes) = check(&patch, &scene);
    assert_eq!(holes, 0);
    assert!(valid > 50_000, "{valid}");
    // The same chunk warped by hand from each level: only the ×4 overview's
    // gives the patch's bits.
    let path = dir.path().join("utm.tif");
    let full = Cog::open(std::sync::Arc::new(FileByteSource::new(path))).unwrap();
    let factors: Vec<f64> = full
        .overviews()
        .unwrap()
        .iter()
        .map(|o| o.scale_x)
        .collect();
    assert_eq!(factors[..2], [2.0, 4.0]);
    let chunk_grid = cube_grid.clone();
    let window = patch.geobox.clone();
    let by_level = |level: Option<usize>| -> Vec<u32> {
        let mut cog = match level {
            Some(l) => full.open_overview(l).unwrap(),
            None => Cog::open(std::sync::Arc::new(FileByteSource::new(
                dir.path().join("utm.tif"),
            )))
            .unwrap(),
        };
        let g = cog.info().geobox("utm").unwrap();
        let win = geocube_core::warp::source_window(
            &g,
            &chunk_grid,
            chunk_grid.full_window(),
            Resampling::Bilinear,
        )
        .unwrap()
        .unwrap();
        let data = cog.read_window(win).unwrap();
        let out = geocube_core::warp::reproject(
            &data,
            &g.window(win).unwrap(),
            None,
            &chunk_grid,
            None,
            &geocube_core::warp::WarpOptions::new(Resampling::Bilinear),
        )
        .unwrap();
        let (c, r) = chunk_grid
            .affine()
            .invert(window.affine().x0, window.affine().y0);
        let (r0, c0) = (r.round() as usize, c.round() as usize);
        let a = out.as_array::<f32>().unwrap();
        let (h, w) = window.shape();
        (0..h)
            .flat_map(|r| (0..w).map(move |c| (r, c)))
            .map(|(r, c)| a[[r0 + r, c0 + c].as_slice()].to_bits())
            .collect()
    };
    let got: Vec<u32> = patch.layers["b"]
        .data
        .as_array::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert!(got == by_level(Some(1)), "not the ×4 overview's warp");
    assert!(
        got != by_level(None),
        "the full image's warp gives the same bits"
    );
}
