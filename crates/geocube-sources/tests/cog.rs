//! The COG reader over HTTP and the typed errors of sources: truncated and
//! corrupt GeoTIFFs, bodies cut short in transit, malformed STAC items,
//! rasters off the cube's lattice.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use geocube_core::{Affine, DType, PatchRef, TypedArray, Window};
use geocube_sources::cog::{ByteSource, Cog, HttpByteSource, MemoryByteSource};
use geocube_sources::datasets::arcticdem::{Resolution, cube_spec};
use geocube_sources::http::HttpClient;
use geocube_sources::{Error, Source, StacItemUrl, StacSource};
use geocube_testkit::manifest::resolve;
use geocube_testkit::server::ServerOptions;
use serde_json::json;
use tiff::encoder::{TiffEncoder, colortype};

use common::*;

fn http() -> HttpClient {
    HttpClient::new(http_config()).unwrap()
}

fn cog_at(url: String) -> Result<Cog, Error> {
    Cog::open(Arc::new(HttpByteSource::new(http(), url)))
}

#[test]
fn windows_over_http_equal_the_file_decoded_from_disk() {
    let (dir, m) = tiny();
    let srv = server(dir, ServerOptions::default());
    let t = &m.tiles[2];
    let want = decode_f32(&resolve(dir, &t.dem_path));
    let mut cog = cog_at(srv.file_url(&t.dem_path)).unwrap();
    let info = cog.info().clone();
    assert_eq!(
        (info.width, info.height, info.dtype),
        (500, 500, DType::Float32)
    );
    assert_eq!(info.nodata, Some(-9999.0));
    assert!(info.tiled && info.chunk == (256, 256), "{info:?}");
    assert_eq!(info.georef.epsg, Some(3413));
    assert_eq!(
        info.georef.affine,
        Affine {
            x0: t.bounds.xmin,
            res_x: 32.0,
            y0: t.bounds.ymax,
            res_y: -32.0
        }
    );
    assert_eq!(info.file_size, Some(t.dem_file_size));
    let opened = srv.request_count(&format!("/{}", t.dem_path));
    assert_eq!(
        opened, 1,
        "the header and every directory come in one block"
    );

    // A window inside one internal tile costs one more request.
    let w = Window::new(300, 270, 40, 50);
    let got = cog.read_window(w).unwrap();
    assert_eq!(srv.request_count(&format!("/{}", t.dem_path)), 2);
    let TypedArray::Float32(a) = got else {
        panic!()
    };
    for r in 0..w.height {
        for c in 0..w.width {
            assert_eq!(
                a[[r, c]].to_bits(),
                want[(w.row + r) * 500 + w.col + c].to_bits()
            );
        }
    }
    // Windows across tile edges and the whole image.
    for w in [
        Window::new(0, 0, 500, 500),
        Window::new(250, 250, 10, 10),
        Window::new(499, 0, 1, 500),
        Window::new(1, 255, 498, 2),
    ] {
        let TypedArray::Float32(a) = cog.read_window(w).unwrap() else {
            panic!()
        };
        let flat: Vec<u32> = a.iter().map(|v| v.to_bits()).collect();
        let expect: Vec<u32> = w
            .rows()
            .flat_map(|r| w.cols().map(move |c| (r, c)))
            .map(|(r, c)| want[r * 500 + c].to_bits())
            .collect();
        assert_eq!(flat, expect, "{w:?}");
    }
    assert!(matches!(
        cog.read_window(Window::new(400, 400, 200, 10)),
        Err(Error::Tiff { .. })
    ));
    // The mask is uint8.
    let mut mask = cog_at(srv.file_url(&t.datamask_path)).unwrap();
    assert_eq!(mask.info().dtype, DType::Uint8);
    assert_eq!(mask.info().nodata, None);
    let TypedArray::Uint8(k) = mask.read_all().unwrap() else {
        panic!()
    };
    assert_eq!(
        k.as_slice().unwrap(),
        decode_u8(&resolve(dir, &t.datamask_path)).as_slice()
    );
}

fn tiff_bytes<C: colortype::ColorType>(w: u32, h: u32, data: &[C::Inner]) -> Vec<u8>
where
    [C::Inner]: tiff::encoder::TiffValue,
{
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut out).unwrap();
        let mut img = enc.new_image::<C>(w, h).unwrap();
        img.rows_per_strip(3).unwrap();
        georef(img.encoder(), 1000.0, 2000.0, 10.0, 32633, None);
        img.write_data(data).unwrap();
    }
    out.into_inner()
}

#[test]
fn every_supported_sample_type_reads_back() {
    let (w, h) = (7u32, 11u32);
    let n = (w * h) as usize;
    let win = Window::new(2, 1, 8, 5);
    let check = |bytes: Vec<u8>, dtype: DType, as_f64: &dyn Fn(usize) -> f64| {
        let mut cog = Cog::open(Arc::new(MemoryByteSource::new("mem", bytes))).unwrap();
        assert_eq!(cog.info().dtype, dtype);
        assert!(!cog.info().tiled);
        assert_eq!(
            cog.info().georef.affine,
            Affine {
                x0: 1000.0,
                res_x: 10.0,
                y0: 2000.0,
                res_y: -10.0
            }
        );
        assert_eq!(cog.info().georef.epsg, Some(32633));
        let a = cog.read_window(win).unwrap();
        assert_eq!(a.dtype(), dtype);
        let got = geocube_core::with_typed_array!(&a, |arr: T| arr
            .iter()
            .map(|v| geocube_core::CubeElement::to_f64(*v))
            .collect::<Vec<f64>>());
        let want: Vec<f64> = win
            .rows()
            .flat_map(|r| win.cols().map(move |c| r * w as usize + c))
            .map(as_f64)
            .collect();
        assert_eq!(got, want, "{dtype:?}");
    };
    let u8s: Vec<u8> = (0..n).map(|i| (i * 3 % 256) as u8).collect();
    let u16s: Vec<u16> = (0..n).map(|i| (i * 997 % 65_536) as u16).collect();
    let i16s: Vec<i16> = (0..n).map(|i| (i as i16 - 40) * 300).collect();
    let i32s: Vec<i32> = (0..n).map(|i| (i as i32 - 40) * 1_000_003).collect();
    let f64s: Vec<f64> = (0..n).map(|i| i as f64 * 0.1 - 3.0).collect();
    check(
        tiff_bytes::<colortype::Gray8>(w, h, &u8s),
        DType::Uint8,
        &|i| f64::from(u8s[i]),
    );
    check(
        tiff_bytes::<colortype::Gray16>(w, h, &u16s),
        DType::Uint16,
        &|i| f64::from(u16s[i]),
    );
    check(
        tiff_bytes::<colortype::GrayI16>(w, h, &i16s),
        DType::Int16,
        &|i| f64::from(i16s[i]),
    );
    check(
        tiff_bytes::<colortype::GrayI32>(w, h, &i32s),
        DType::Int32,
        &|i| f64::from(i32s[i]),
    );
    check(
        tiff_bytes::<colortype::Gray64Float>(w, h, &f64s),
        DType::Float64,
        &|i| f64s[i],
    );
    // Unsupported: RGB.
    let rgb = tiff_bytes::<colortype::RGB8>(w, h, &vec![0u8; n * 3]);
    assert!(
        matches!(Cog::open(Arc::new(MemoryByteSource::new("mem", rgb))), Err(Error::Tiff { reason, .. }) if reason.contains("band"))
    );
}

#[test]
fn truncated_and_corrupt_geotiffs_are_typed_errors() {
    let (fx, m) = tiny_copy();
    let t = &m.tiles[0];
    let full = std::fs::read(resolve(fx.path(), &t.dem_path)).unwrap();
    std::fs::write(fx.path().join("cut_header.tif"), &full[..100]).unwrap();
    std::fs::write(fx.path().join("cut_data.tif"), &full[..full.len() * 6 / 10]).unwrap();
    let mut corrupt = full.clone();
    let mid = full.len() / 2;
    for b in &mut corrupt[mid..mid + 4096] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(fx.path().join("corrupt.tif"), &corrupt).unwrap();
    std::fs::write(fx.path().join("not_a_tiff.tif"), b"<html>oops</html>").unwrap();
    let srv = server(fx.path(), ServerOptions::default());

    for name in ["cut_header.tif", "not_a_tiff.tif"] {
        match cog_at(srv.file_url(name)) {
            Err(e @ Error::Tiff { .. }) => assert!(!e.is_retryable()),
            other => panic!("{name}: expected a Tiff error, got {other:?}"),
        }
    }
    for name in ["cut_data.tif", "corrupt.tif"] {
        let mut cog = cog_at(srv.file_url(name)).unwrap();
        match cog.read_all() {
            Err(e @ Error::Tiff { .. }) => {
                assert!(!e.is_retryable());
                assert!(e.to_string().contains(name), "{e}");
                let dl = geocube_core::DownloadError::from(e);
                assert!(!dl.retryable);
            }
            other => panic!(
                "{name}: expected a Tiff error, got {:?}",
                other.map(|a| a.shape().to_vec())
            ),
        }
    }
    // A missing file is an HTTP 404, not retried.
    match cog_at(srv.file_url("missing.tif")) {
        Err(e @ Error::Http { status: 404, .. }) => assert!(!e.is_retryable()),
        other => panic!("expected 404, got {other:?}"),
    }
}

#[test]
fn bodies_cut_short_in_transit_are_retryable_and_never_data() {
    let (dir, m) = tiny();
    let t = &m.tiles[0];
    let srv = server(
        dir,
        ServerOptions {
            truncate_fraction: 1.0,
            ..ServerOptions::default()
        },
    );
    let client = HttpClient::new({
        let mut c = http_config();
        c.retry.max_tries = 3;
        c
    })
    .unwrap();
    let src = HttpByteSource::new(client.clone(), srv.file_url(&t.dem_path));
    match src.read_range(0, 4096) {
        Err(e @ Error::Transport { .. }) => assert!(e.is_retryable(), "{e}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    match Cog::open(Arc::new(src)) {
        Err(e) => {
            assert!(e.is_retryable(), "{e}");
            assert!(geocube_core::DownloadError::from(e).retryable);
        }
        Ok(_) => panic!("a truncated body was accepted"),
    }
    assert!(matches!(
        client.get_json(&srv.file_url(&t.item_path)),
        Err(Error::Transport {
            retryable: true,
            ..
        })
    ));
    assert_eq!(
        srv.fault_counts().truncated,
        srv.request_count("/"),
        "every request was cut"
    );

    // 503s are retried by the client until they pass.
    let flaky = server(
        dir,
        ServerOptions {
            fail_fraction: 0.5,
            seed: 3,
            ..ServerOptions::default()
        },
    );
    let patient = HttpClient::new({
        let mut c = http_config();
        c.retry.max_tries = 30;
        c
    })
    .unwrap();
    let bytes = patient
        .get_range(&flaky.file_url(&t.dem_path), 0, 1000)
        .unwrap();
    assert_eq!(
        bytes.bytes,
        std::fs::read(resolve(dir, &t.dem_path)).unwrap()[..1000]
    );
    assert!(flaky.fault_counts().failed > 0 || flaky.request_count("/") == 1);
}

#[test]
fn malformed_items_are_typed_errors_and_off_grid_rasters_are_warped() {
    let (fx, m) = tiny_copy();
    let dir = fx.path();
    let t = &m.tiles[0];
    let b = t.bounds;
    let data = vec![1.0f32; 64 * 64];
    let write = |name: &str, x0, y0, res, epsg| {
        let lattice = Lattice { x0, y0, res, epsg };
        write_tiff::<colortype::Gray32Float>(&dir.join(name), (64, 64), lattice, &data, None);
    };
    write("half_pixel.tif", b.xmin + 16.0, b.ymax, RES, 3413);
    write("other_crs.tif", b.xmin, b.ymax, RES, 3995);
    write("other_res.tif", b.xmin, b.ymax, 10.0, 3413);
    std::fs::write(dir.join("not_json.json"), b"{ this is not json").unwrap();
    std::fs::write(
        dir.join("not_item.json"),
        br#"{"type": "FeatureCollection", "features": []}"#,
    )
    .unwrap();
    let srv = server(dir, ServerOptions::default());
    let spec = cube_spec(Resolution::M32, Default::default()).unwrap();
    let stac = StacSource::builder(srv.stac_api_url(), "arcticdem-mosaics-v4.1-32m", spec)
        .http_config(http_config())
        .build()
        .unwrap();
    let typed = |idx: &PatchRef| -> Error {
        // Through the trait: the DownloadError the backend sees.
        let e = Source::download(&stac, idx).expect_err("download should fail");
        assert!(!e.retryable, "{e}");
        let src = e.source.expect("the typed error is kept");
        match src.downcast::<Error>() {
            Ok(e) => *e,
            Err(other) => panic!("not a sources error: {other}"),
        }
    };
    let item = |dem_href: String| {
        json!({"type": "Feature", "id": "x", "properties": {"datetime": null}, "geometry": null, "bbox": [0, 0, 1, 1],
               "assets": {"dem": {"href": dem_href}, "datamask": {"href": srv.file_url(&t.datamask_path)}}})
    };
    let idx_of = |v: serde_json::Value| stac.mosaic_patch("x", vec![v]).unwrap();

    // Malformed items.
    let no_assets = json!({"type": "Feature", "id": "x", "properties": {}, "bbox": [0, 0, 1, 1]});
    assert!(
        matches!(typed(&idx_of(no_assets)), Error::InvalidItem { reason, .. } if reason.contains("assets"))
    );
    let mut no_dem = item(String::new());
    no_dem["assets"].as_object_mut().unwrap().remove("dem");
    assert!(
        matches!(typed(&idx_of(no_dem)), Error::InvalidItem { reason, .. } if reason.contains("`dem`"))
    );
    assert!(matches!(
        typed(&idx_of(item("relative.tif".into()))),
        Error::InvalidItem { .. }
    ));
    assert!(stac.mosaic_patch("x", vec![json!({"type": "Feature", "id": "x", "geometry": {"type": "Polygon", "coordinates": [[[0, 0]]]}})]).is_err());
    let lazy = |url: String| {
        PatchRef::new("x", geo::Geometry::Point(geo::Point::new(0.0, 0.0)), None)
            .with_item(StacItemUrl(url))
    };
    assert!(matches!(
        typed(&lazy(srv.file_url("not_json.json"))),
        Error::InvalidResponse { .. }
    ));
    assert!(matches!(
        typed(&lazy(srv.file_url("not_item.json"))),
        Error::InvalidItem { .. }
    ));
    assert!(matches!(
        typed(&lazy(stac.item_url("no-such-item"))),
        Error::Http { status: 404, .. }
    ));

    // Rasters off the cube lattice are warped into it (nearest by default):
    // a half-pixel shift, another CRS, another resolution.
    for name in ["half_pixel.tif", "other_crs.tif", "other_res.tif"] {
        let patch = Source::download(&stac, &idx_of(item(srv.file_url(name))))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let dem = patch.layers["dem"].data.as_array::<f32>().unwrap();
        let valid = dem
            .iter()
            .filter(|v| v.is_finite() && **v != -9999.0)
            .count();
        assert!(valid > 0, "{name}: nothing warped into {:?}", patch.geobox);
    }
    // A truncated COG behind a valid item: a typed, permanent error.
    let full = std::fs::read(resolve(dir, &t.dem_path)).unwrap();
    std::fs::write(dir.join("cut.tif"), &full[..full.len() / 2]).unwrap();
    assert!(matches!(
        typed(&idx_of(item(srv.file_url("cut.tif")))),
        Error::Tiff { .. }
    ));
    // The real item downloads fine.
    let ok = stac.download(&lazy(stac.item_url(&t.dem_id))).unwrap();
    assert_eq!(ok.geobox.shape(), (500, 500));
    assert_eq!(ok.layers["dem"].nodata, Some(-9999.0));
    assert_eq!(ok.layers["datamask"].data.dtype(), DType::Bool);
}
