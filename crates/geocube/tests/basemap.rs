//! The built-in basemap (coastlines, borders, graticule) and the state map
//! drawn with it.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]

use geocube::basemap::{self, Edge, GraticuleKind};
use geocube::{BoundingBox, Crs};

fn polar() -> Crs {
    Crs::from_epsg(3413).expect("EPSG:3413")
}

/// Nuuk, on the south-west coast of Greenland.
const NUUK: (f64, f64) = (-51.72, 64.18);

fn to_polar(lon: f64, lat: f64) -> (f64, f64) {
    let mut p = [(lon, lat)];
    Crs::wgs84()
        .transform_points(&polar(), &mut p)
        .expect("transform");
    p[0]
}

fn around(p: (f64, f64), half: f64) -> BoundingBox {
    BoundingBox::new(p.0 - half, p.1 - half, p.0 + half, p.1 + half)
}

fn inside(b: &BoundingBox, p: (f64, f64)) -> bool {
    (b.left..=b.right).contains(&p.0) && (b.bottom..=b.top).contains(&p.1)
}

#[test]
fn coastlines_and_borders_parse_into_many_lines() {
    let coast = basemap::coastlines(&Crs::wgs84(), None).expect("coast");
    let borders = basemap::borders(&Crs::wgs84(), None).expect("borders");
    assert!(coast.len() > 120, "{} coastlines", coast.len());
    assert!(borders.len() > 150, "{} borders", borders.len());
    assert!(coast.iter().chain(&borders).all(|l| l.len() >= 2));
    // In longitude/latitude, nothing jumps across the map.
    for line in coast.iter().chain(&borders) {
        for w in line.windows(2) {
            assert!((w[1].0 - w[0].0).abs() < 180.0, "{w:?}");
        }
    }
}

#[test]
fn greenland_coast_in_polar_stereographic_passes_by_nuuk() {
    let nuuk = to_polar(NUUK.0, NUUK.1);
    let bounds = around(nuuk, 300e3);
    let coast = basemap::coastlines(&polar(), Some(bounds)).expect("coast");
    assert!(!coast.is_empty());
    assert!(coast.iter().flatten().all(|&p| inside(&bounds, p)));
    // The 1:110m coast passes within 30 km of the town.
    let nearest = coast
        .iter()
        .flatten()
        .map(|&(x, y)| (x - nuuk.0).hypot(y - nuuk.1))
        .fold(f64::INFINITY, f64::min);
    assert!(nearest < 30e3, "nearest coast point {nearest} m from Nuuk");
    // No borders on Greenland.
    assert!(
        basemap::borders(&polar(), Some(bounds))
            .expect("borders")
            .is_empty()
    );
}

#[test]
fn the_far_hemisphere_of_a_polar_projection_is_left_out() {
    let coast = basemap::coastlines(&polar(), None).expect("coast");
    assert!(!coast.is_empty());
    // Antarctica (south of 60 S) is more than 10x enlarged: not drawn, and
    // no segment jumps across the map.
    let antarctica = to_polar(0.0, -75.0);
    let r_max = antarctica.0.hypot(antarctica.1);
    for line in &coast {
        for w in line.windows(2) {
            let step = (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1);
            assert!(step < 500e3, "{w:?}");
        }
        assert!(line.iter().all(|p| p.0.hypot(p.1) < r_max));
    }
}

#[test]
fn coastlines_across_the_antimeridian_are_cut_in_a_geographic_crs() {
    // Chukotka and Wrangel Island straddle 180 degrees.
    let bounds = BoundingBox::new(160.0, 60.0, 180.0, 75.0);
    let coast = basemap::coastlines(&Crs::wgs84(), Some(bounds)).expect("coast");
    assert!(!coast.is_empty());
    assert!(coast.iter().flatten().all(|&p| inside(&bounds, p)));
    // The same coast seen from EPSG:3413 continues across 180 degrees.
    let bering = around(to_polar(180.0, 66.0), 500e3);
    let polar_coast = basemap::coastlines(&polar(), Some(bering)).expect("coast");
    let x180 = to_polar(180.0, 66.0).0;
    assert!(
        polar_coast.iter().any(|l| l
            .windows(2)
            .any(|w| (w[0].0 - x180) * (w[1].0 - x180) <= 0.0)),
        "no coastline crosses the antimeridian"
    );
}

#[test]
fn graticule_lines_carry_degree_labels() {
    let arctic = BoundingBox::new(-2.5e6, -2.5e6, 2.5e6, 2.5e6);
    let lines = basemap::graticule(&polar(), Some(arctic), 10.0);
    let labels: Vec<&str> = lines.iter().map(|l| l.label.as_str()).collect();
    for want in [
        "60°N", "70°N", "80°N", "50°W", "0°", "180°", "90°E", "170°W",
    ] {
        assert!(labels.contains(&want), "{want} missing from {labels:?}");
    }
    for l in &lines {
        assert!(l.points.len() >= 2);
        assert!(l.points.iter().all(|&p| inside(&arctic, p)));
        assert!(match l.kind {
            GraticuleKind::Parallel => l.label.ends_with('N'),
            GraticuleKind::Meridian => !l.label.ends_with('N'),
        });
    }
    // 80 N is a circle inside the frame: labelled on the line, not an edge.
    let eighty = lines.iter().find(|l| l.label == "80°N").expect("80N");
    assert_eq!(eighty.anchor.edge, None);
    // Meridians leave through the edges, where their labels go.
    let m = lines.iter().find(|l| l.label == "50°W").expect("50W");
    assert_eq!(m.anchor.edge, Some(Edge::Bottom));
    assert!((m.anchor.point.1 - arctic.bottom).abs() < 1e-3);

    // Steps that suit a frame around Nuuk; parallels labelled on the left.
    let nuuk = around(to_polar(NUUK.0, NUUK.1), 600e3);
    let (lon_step, lat_step) = basemap::nice_steps(&polar(), nuuk);
    assert!(
        (1.0..=10.0).contains(&lon_step) && (1.0..=5.0).contains(&lat_step),
        "{lon_step} {lat_step}"
    );
    let lines = basemap::graticule_steps(&polar(), Some(nuuk), lon_step, lat_step);
    assert!(
        lines
            .iter()
            .filter(|l| l.kind == GraticuleKind::Parallel)
            .any(|l| l.anchor.edge == Some(Edge::Left))
    );
    assert!(lines.iter().any(|l| l.label == "50°W"));
    // Nonsense steps draw nothing.
    assert!(basemap::graticule(&polar(), Some(nuuk), 0.0).is_empty());
    assert!(basemap::graticule(&polar(), Some(nuuk), f64::NAN).is_empty());
}

#[test]
fn a_frame_around_a_few_patches_shows_their_coast() {
    let extent = geocube::Resolution::M32.extent_bbox();
    let nuuk = to_polar(NUUK.0, NUUK.1);
    let patches = BoundingBox::new(nuuk.0 - 50e3, nuuk.1, nuuk.0 + 150e3, nuuk.1 + 100e3);
    let frame = basemap::frame(extent, Some(patches), false);
    assert!(inside(&frame, nuuk));
    assert!(frame.width() >= 2e6 - 1.0 && frame.width() < 2.5e6);
    assert!(
        !basemap::coastlines(&polar(), Some(frame))
            .expect("coast")
            .is_empty()
    );
}

#[cfg(feature = "viz")]
mod png_map {
    use std::sync::Arc;

    use geocube::{
        Accessor, Aoi, BoundingBox, ChannelSpec, ChunkCodec, Crs, CubeSpec, CubeStorage, DType,
        DownloadError, GeoBox, LoadOptions, Patch, PatchRef, Source, SourceError, Toi, TypedArray,
        geo, ndarray,
    };
    use geocube_core::crs::reproject_geometry;

    use super::{NUUK, polar, to_polar};

    /// The PNG's colours (crates/geocube/src/state/map.rs).
    const COAST: [u8; 3] = [64, 64, 64];
    const TITLE: [u8; 3] = [20, 20, 20];
    const OCEAN: [u8; 3] = [214, 226, 236];

    /// A cube over `extent` in `crs` at `res`, cut into square tiles of
    /// `tile` map units named `t<col>_<row>` (tile (0, 0) starts at the
    /// CRS origin).
    struct Tiles {
        spec: CubeSpec,
        tile: f64,
    }

    impl Tiles {
        fn new(title: &str, crs: &Crs, extent: BoundingBox, res: f64, tile: f64) -> Arc<Tiles> {
            let geobox = GeoBox::from_bbox(extent, crs.clone(), res).expect("grid");
            Arc::new(Tiles {
                spec: CubeSpec {
                    title: title.into(),
                    geobox,
                    time: None,
                    chunk_size: 256,
                    channels: vec![ChannelSpec::new("dem", DType::Float32).with_nodata(-9999.0)],
                    codec: ChunkCodec::default(),
                },
                tile,
            })
        }

        /// ArcticDEM's extent at 4 km, with 100 km tiles.
        fn arctic(title: &str) -> Arc<Tiles> {
            let extent = BoundingBox::new(-4_000_000.0, -3_400_000.0, 3_400_000.0, 4_100_000.0);
            Tiles::new(title, &polar(), extent, 4000.0, 100_000.0)
        }

        fn crs(&self) -> &Crs {
            self.spec.geobox.crs()
        }

        fn bbox(&self, id: &str) -> Option<BoundingBox> {
            let (c, r) = id.strip_prefix('t')?.split_once('_')?;
            let (c, r): (i32, i32) = (c.parse().ok()?, r.parse().ok()?);
            let (x, y) = (f64::from(c) * self.tile, f64::from(r) * self.tile);
            Some(BoundingBox::new(x, y, x + self.tile, y + self.tile))
        }

        fn patch_ref(&self, id: &str) -> Option<PatchRef> {
            let poly = geo::Geometry::Polygon(self.bbox(id)?.to_polygon());
            let footprint = reproject_geometry(&poly, self.crs(), &Crs::wgs84(), 8).ok()?;
            Some(PatchRef::new(id.to_owned(), footprint, None))
        }

        /// Create the cube and load the tiles under `aoi` (in the cube CRS).
        fn load(self: &Arc<Self>, aoi: BoundingBox) -> Accessor {
            let acc = Accessor::builder(
                Arc::clone(self) as Arc<dyn Source>,
                CubeStorage::in_memory().expect("memory"),
            )
            .build()
            .expect("accessor");
            let aoi = Aoi::bbox(aoi, self.crs().clone());
            acc.load(&aoi, &Toi::None, LoadOptions::default().create(true))
                .expect("load");
            acc
        }
    }

    impl Source for Tiles {
        fn spec(&self) -> &CubeSpec {
            &self.spec
        }
        fn touching_patches(&self, aoi: &Aoi, _: &Toi) -> Result<Vec<PatchRef>, SourceError> {
            let b = aoi.bounds_in(self.crs())?;
            let t = self.tile;
            let mut out = vec![];
            let (c0, c1) = ((b.left / t).floor() as i32, (b.right / t).ceil() as i32);
            let (r0, r1) = ((b.bottom / t).floor() as i32, (b.top / t).ceil() as i32);
            for c in c0..c1 {
                for r in r0..r1 {
                    out.extend(self.patch_ref(&format!("t{c}_{r}")));
                }
            }
            Ok(out)
        }
        fn download(&self, idx: &PatchRef) -> Result<Patch, DownloadError> {
            let tile = self
                .bbox(&idx.id)
                .ok_or_else(|| DownloadError::fatal("no such tile"))?;
            let res = self.spec.geobox.affine().res_x;
            let gb = GeoBox::from_bbox(tile, self.crs().clone(), res)
                .map_err(|e| DownloadError::fatal(e.to_string()))?;
            let (h, w) = gb.shape();
            let px = TypedArray::Float32(ndarray::ArrayD::from_elem(vec![h, w], 100.0));
            Ok(Patch::new(idx.id.clone(), gb).with_layer("dem", px, Some(-9999.0)))
        }
        fn patch_refs(&self, ids: &[String]) -> Result<Vec<PatchRef>, SourceError> {
            Ok(ids.iter().filter_map(|id| self.patch_ref(id)).collect())
        }
    }

    fn decode(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(path).expect("open"),
        ));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        (info.width, info.height, buf)
    }

    fn count(
        buf: &[u8],
        width: u32,
        rows: std::ops::Range<usize>,
        want: impl Fn(&[u8]) -> bool,
    ) -> usize {
        let w = width as usize;
        rows.flat_map(|r| (0..w).map(move |c| (r * w + c) * 3))
            .filter(|&i| want(&buf[i..i + 3]))
            .count()
    }

    /// Where the sample maps go (look at them).
    fn sample(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
    }

    /// Pixels of the map (not its frame or labels) that `want` picks.
    fn in_map(buf: &[u8], width: u32, want: impl Fn(&[u8]) -> bool) -> usize {
        let w = width as usize;
        (105..983)
            .flat_map(|r| (73..951).map(move |c| (r * w + c) * 3))
            .filter(|&i| want(&buf[i..i + 3]))
            .count()
    }

    /// Footprints are filled half-transparent (blue over land or sea).
    fn bluish(p: &[u8]) -> bool {
        i32::from(p[2]) - i32::from(p[0]) > 50
    }

    #[test]
    fn state_png_of_patches_by_nuuk() {
        let tiles = Tiles::arctic("ArcticDEM32m");
        // Twelve 100 km tiles on the coast north of Nuuk.
        let (x, y) = to_polar(NUUK.0, NUUK.1);
        let (x, y) = ((x / 100e3).round() * 100e3, (y / 100e3).round() * 100e3);
        let acc = tiles.load(BoundingBox::new(x - 90e3, y + 10e3, x + 190e3, y + 390e3));
        assert_eq!(acc.loaded_patches().expect("ids").len(), 12);

        let path = sample("state-nuuk.png");
        acc.visualize_state(&path).expect("png");
        let (w, h, buf) = decode(&path);
        assert_eq!((w, h), (1024, 1024));
        // The coast is drawn in dark grey in the map, the title above it.
        let coast = in_map(&buf, w, |p| p == COAST);
        assert!(coast > 300, "{coast} coast pixels");
        let title = count(&buf, w, 0..50, |p| p == TITLE);
        assert!(title > 200, "{title} title pixels");
        let filled = in_map(&buf, w, bluish);
        assert!(filled > 5000, "{filled} footprint pixels");
        // The sea is there too, and the labels below the map.
        assert!(in_map(&buf, w, |p| p == OCEAN) > 50_000);
        assert!(count(&buf, w, 986..1010, |p| p[0] < 100) > 50);
    }

    #[test]
    fn state_png_of_an_empty_cube_shows_the_whole_arctic() {
        let acc = Accessor::builder(
            Tiles::arctic("Empty"),
            CubeStorage::in_memory().expect("memory"),
        )
        .build()
        .expect("accessor");
        acc.create(false, false).expect("create");
        let path = sample("state-empty.png");
        acc.visualize_state(&path).expect("png");
        let (w, h, buf) = decode(&path);
        assert_eq!((w, h), (1024, 1024));
        assert!(in_map(&buf, w, |p| p == COAST) > 1000);
        assert_eq!(in_map(&buf, w, bluish), 0);
    }

    #[test]
    fn state_png_in_utm_antarctic_and_geographic_cubes() {
        let utm33 = Crs::from_epsg(32633).expect("UTM 33N");
        let south = Crs::from_epsg(3031).expect("EPSG:3031");
        let cases = [
            // Northern Norway: a 600 km cube at 1 km, 50 km tiles.
            (
                "state-utm33.png",
                Tiles::new(
                    "Troms",
                    &utm33,
                    BoundingBox::new(300e3, 7.4e6, 900e3, 8.0e6),
                    1000.0,
                    50e3,
                ),
                BoundingBox::new(560e3, 7.66e6, 690e3, 7.74e6),
            ),
            // The Ross Sea side of Antarctica.
            (
                "state-antarctic.png",
                Tiles::new(
                    "Antarctica",
                    &south,
                    BoundingBox::new(-3e6, -3e6, 3e6, 3e6),
                    5000.0,
                    100e3,
                ),
                BoundingBox::new(110e3, -1.5e6, 390e3, -1.2e6),
            ),
            // Chukotka in longitude/latitude, next to the antimeridian.
            (
                "state-lonlat.png",
                Tiles::new(
                    "Chukotka",
                    &Crs::wgs84(),
                    BoundingBox::new(-180.0, 50.0, 180.0, 80.0),
                    0.05,
                    1.0,
                ),
                BoundingBox::new(174.5, 64.5, 179.5, 66.5),
            ),
        ];
        for (name, tiles, aoi) in cases {
            let acc = tiles.load(aoi);
            let path = sample(name);
            acc.visualize_state(&path).expect("png");
            let (w, h, buf) = decode(&path);
            assert_eq!((w, h), (1024, 1024), "{name}");
            let coast = in_map(&buf, w, |p| p == COAST);
            assert!(coast > 300, "{name}: {coast} coast pixels");
            let filled = in_map(&buf, w, bluish);
            assert!(filled > 1000, "{name}: {filled} footprint pixels");
        }
    }

    #[test]
    fn the_title_is_written_in_glyphs() {
        let render = |title: &str| {
            let acc = Accessor::builder(
                Tiles::arctic(title),
                CubeStorage::in_memory().expect("memory"),
            )
            .build()
            .expect("accessor");
            acc.create(false, false).expect("create");
            let path = sample(&format!("state-title-{}.png", title.len()));
            acc.visualize_state(&path).expect("png");
            decode(&path)
        };
        let (w, _, short) = render("A");
        let (_, _, long) = render("ArcticDEM32m: a longer title");
        let ink = |buf: &[u8]| count(buf, w, 0..50, |p| p == TITLE);
        assert!(ink(&short) > 50, "{}", ink(&short));
        assert!(
            ink(&long) > 5 * ink(&short),
            "{} vs {}",
            ink(&long),
            ink(&short)
        );
    }
}
