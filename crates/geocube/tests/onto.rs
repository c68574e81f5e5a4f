//! `Accessor::load_onto`: a load handed back on the grid the caller asks
//! for. The synthetic tiles' `dem` is linear in the cube's pixel indices
//! (`0.25 · (1000 row + col)`, nodata on a sparse diagonal), so a bilinear
//! result on a UTM grid must equal that plane at every target pixel centre
//! mapped into the cube, within the approximate transformer's 0.125 px;
//! the comparison with GDAL itself is in the Python tests.

mod common;

use common::{CUBE, NODATA, RES, TileSource, X0, Y0, accessor, crs, dem, dem_pixels};
use geocube::{Error, LoadOptions, Resampling};
use geocube_core::{Affine, BoundingBox, Crs, CubeStorage, GeoBox, Toi};

#[allow(clippy::cast_precision_loss)]
fn plane(row: f64, col: f64) -> f64 {
    0.25 * (1000.0 * (row - 0.5) + (col - 0.5))
}

#[test]
fn a_grid_on_the_cube_lattice_is_copied_bit_for_bit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::local(dir.path().join("cube")));
    // 30 × 20 pixels from cube pixel (row 190, col -5): sticks out of the
    // cube's left and bottom edges.
    let target = GeoBox::new(
        30,
        20,
        Affine {
            x0: X0 - 5.0 * RES,
            res_x: RES,
            y0: Y0 - 190.0 * RES,
            res_y: -RES,
        },
        crs(),
    )
    .expect("grid");
    let opts = LoadOptions::default().create(true);
    for r in [Resampling::Nearest, Resampling::Cubic] {
        let got = acc
            .load_onto(&target, &Toi::None, r, opts)
            .expect("load_onto");
        assert_eq!(got.dataset.geobox, target);
        let d = dem_pixels(&got.dataset);
        for ((tr, tc), v) in d
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .expect("2-D")
            .indexed_iter()
        {
            let (row, col) = (190 + tr, tc.checked_sub(5));
            let want = match col {
                Some(col) if row < CUBE && col < CUBE => dem(row, col),
                _ => NODATA,
            };
            assert_eq!(v.to_bits(), want.to_bits(), "{r}: target ({tr}, {tc})");
        }
    }
}

#[test]
#[allow(clippy::cast_precision_loss)]
fn bilinear_onto_utm_reproduces_the_plane() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::local(dir.path().join("cube")));
    let cube = acc.spec().geobox.clone();
    // The cube sits at 180° longitude: UTM zone 1 at 20 m over its middle.
    let utm = Crs::from_epsg(32601).expect("UTM 1N");
    let inner = cube
        .window(geocube_core::Window::new(40, 40, 120, 120))
        .expect("window");
    let target = GeoBox::from_bbox(inner.bbox_in(&utm).expect("bbox"), utm, 20.0).expect("grid");
    let got = acc
        .load_onto(
            &target,
            &Toi::None,
            Resampling::Bilinear,
            LoadOptions::default().create(true),
        )
        .expect("load_onto");
    assert_eq!(got.dataset.geobox, target);
    assert!(!got.report.submit.downloaded.is_empty());
    let d = dem_pixels(&got.dataset);
    // 0.125 cube px along a row moves the plane by 0.125 · 250.
    let tol = 0.125 * (250.0 + 0.25) + 1e-2;
    let (mut checked, mut valid) = (0, 0);
    for ((tr, tc), v) in d
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .expect("2-D")
        .indexed_iter()
    {
        let mut p = [target.affine().apply(tc as f64 + 0.5, tr as f64 + 0.5)];
        target
            .crs()
            .transform_points(&crs(), &mut p)
            .expect("to 3413");
        let (col, row) = cube.affine().invert(p[0].0, p[0].1);
        if *v != NODATA && !v.is_nan() {
            valid += 1;
        }
        // Well inside the cube, and no nodata pixel among the 2 × 2 taps.
        if !(2.0..CUBE as f64 - 2.0).contains(&row) || !(2.0..CUBE as f64 - 2.0).contains(&col) {
            continue;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (r0, c0) = ((row - 0.5).floor() as usize, (col - 0.5).floor() as usize);
        let taps = [(r0, c0), (r0 + 1, c0), (r0, c0 + 1), (r0 + 1, c0 + 1)];
        if taps.iter().any(|&(r, c)| dem(r, c) == NODATA) {
            continue;
        }
        let want = plane(row, col);
        assert!(
            (f64::from(*v) - want).abs() <= tol,
            "target ({tr}, {tc}) → cube ({row:.3}, {col:.3}): {v}, want {want} ± {tol}"
        );
        checked += 1;
    }
    assert!(checked > 1000, "only {checked} pixels checked");
    assert!(valid >= checked);
}

#[test]
fn targets_outside_or_too_large_are_refused_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = TileSource::new();
    let acc = accessor(&src, CubeStorage::local(dir.path().join("cube")));
    let far = GeoBox::from_bbox(
        BoundingBox::new(500_000.0, 500_000.0, 510_000.0, 510_000.0),
        crs(),
        10.0,
    )
    .expect("grid");
    let opts = LoadOptions::default().create(true);
    assert!(matches!(
        acc.load_onto(&far, &Toi::None, Resampling::Nearest, opts),
        Err(Error::AoiOutsideExtent { .. })
    ));
    let cube = acc.spec().geobox.clone();
    let huge = GeoBox::from_bbox(cube.bbox(), crs(), 0.01).expect("grid");
    assert!(matches!(
        acc.load_onto(&huge, &Toi::None, Resampling::Nearest, opts),
        Err(Error::ResultTooLarge { .. })
    ));
    assert_eq!(
        src.total_downloads(),
        0,
        "nothing fetched for refused loads"
    );
    assert!(matches!(
        acc.load_onto(&cube, &Toi::List(vec![]), Resampling::Nearest, opts),
        Err(Error::Core(_))
    ));
}
