//! Staged writes on a real local Icechunk repository: patches merged piece
//! by piece equal patches merged whole, the buffer budget changes nothing
//! but memory, and writers that staged from the same snapshot are
//! re-applied on each other's commits without losing an id or a pixel.

use geocube_core::{
    Affine, ChannelSpec, ChunkCodec, Crs, Cube, CubeSpec, CubeStorage, DType, GeoBox, Patch,
    TypedArray, Window,
};
use ndarray::{Array2, ArrayD};
use proptest::prelude::*;

const RES: f64 = 32.0;
const NODATA: f32 = -9999.0;

fn crs() -> Crs {
    Crs::from_epsg(3413).expect("EPSG:3413")
}

/// A 200 x 160 px cube with 48 px chunks (edge chunks partial).
fn spec() -> CubeSpec {
    let geobox = GeoBox::new(
        200,
        160,
        Affine {
            x0: -1_600_000.0,
            res_x: RES,
            y0: 1_600_000.0,
            res_y: -RES,
        },
        crs(),
    )
    .expect("geobox");
    CubeSpec {
        title: "Staged".into(),
        geobox,
        time: None,
        chunk_size: 48,
        channels: vec![
            ChannelSpec::new("dem", DType::Float32).with_nodata(f64::from(NODATA)),
            ChannelSpec::new("datamask", DType::Bool),
        ],
        codec: ChunkCodec::Default,
    }
}

fn new_cube(dir: &tempfile::TempDir, name: &str) -> Cube {
    Cube::create(CubeStorage::local(dir.path().join(name)), &spec())
        .execute()
        .expect("create cube")
}

/// The value every source patch agrees on where it has data.
#[allow(clippy::cast_precision_loss)]
fn field(r: usize, c: usize) -> f32 {
    (r * 1000 + c) as f32
}

/// A patch over cube window `w`; pixels where `hole(r, c)` hold nodata.
fn patch(id: &str, w: Window, hole: &dyn Fn(usize, usize) -> bool) -> Patch {
    let geobox = spec().geobox.window(w).expect("patch geobox");
    let dem = Array2::from_shape_fn((w.height, w.width), |(r, c)| {
        let (r, c) = (w.row + r, w.col + c);
        if hole(r, c) { NODATA } else { field(r, c) }
    });
    let mask = dem.mapv(|v| v != NODATA);
    Patch::new(id, geobox)
        .with_layer(
            "dem",
            TypedArray::Float32(dem.into_dyn()),
            Some(f64::from(NODATA)),
        )
        .with_layer("datamask", TypedArray::Bool(mask.into_dyn()), None)
}

/// `p` cut along the cube's chunk boundaries.
fn pieces(p: &Patch, w: Window) -> Vec<Patch> {
    let chunk = spec().chunk_size;
    let mut out = Vec::new();
    for ty in w.row / chunk..=(w.row + w.height - 1) / chunk {
        for tx in w.col / chunk..=(w.col + w.width - 1) / chunk {
            let cw = Window::new(ty * chunk, tx * chunk, chunk, chunk);
            let Some(i) = w.intersection(&cw) else {
                continue;
            };
            let local = Window::new(i.row - w.row, i.col - w.col, i.height, i.width);
            let mut piece = Patch::new(p.id.clone(), spec().geobox.window(i).expect("piece"));
            for (name, layer) in &p.layers {
                let data = match &layer.data {
                    TypedArray::Float32(a) => TypedArray::Float32(slice(a, local)),
                    TypedArray::Bool(a) => TypedArray::Bool(slice(a, local)),
                    other => panic!("unexpected dtype {:?}", other.dtype()),
                };
                piece = piece.with_layer(name.clone(), data, layer.nodata);
            }
            out.push(piece);
        }
    }
    out
}

fn slice<T: Clone>(a: &ArrayD<T>, w: Window) -> ArrayD<T> {
    use ndarray::{Axis, Slice};
    a.slice_axis(Axis(0), Slice::from(w.row..w.row + w.height))
        .slice_axis_move(Axis(1), Slice::from(w.col..w.col + w.width))
        .to_owned()
}

fn dem(cube: &Cube) -> ArrayD<f32> {
    let (h, w) = cube.layout().geobox.shape();
    let ds = cube
        .read_window(Window::new(0, 0, h, w), None)
        .expect("read");
    ds.variable("dem")
        .and_then(|v| v.data.as_array::<f32>())
        .expect("dem")
        .clone()
}

/// Bitwise equality with NaN equal to NaN.
fn same(a: &ArrayD<f32>, b: &ArrayD<f32>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn pieces_with_no_buffer_equal_the_whole_patch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (whole, pieced) = (new_cube(&dir, "whole"), new_cube(&dir, "pieced"));
    let hole = |r: usize, c: usize| (r + 2 * c).is_multiple_of(7);
    let (wa, wb) = (Window::new(10, 20, 90, 120), Window::new(60, 90, 100, 110));
    let (a, b) = (patch("a", wa, &hole), patch("b", wb, &|_, _| false));
    whole.write_patches(&[a.clone(), b.clone()]).expect("whole");

    let mut staged = pieced.stage().expect("stage").buffer_bytes(0);
    for (p, w) in [(&a, wa), (&b, wb)] {
        for piece in pieces(p, w) {
            staged.merge(&piece).expect("merge piece");
        }
        // A retried download hands its first piece over again: no change.
        staged.merge(&pieces(p, w)[0]).expect("merge again");
        staged.record(&p.id);
    }
    let out = staged.commit("Write patches").expect("commit");
    assert_eq!(out.written, vec!["a".to_string(), "b".to_string()]);
    assert!(same(&dem(&whole), &dem(&pieced)));
    assert_eq!(pieced.loaded_patches().expect("ids"), vec!["a", "b"]);
}

#[test]
fn writers_from_one_snapshot_are_reapplied_not_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir, "cube");
    // Both patches share chunks; where `a` has holes `b` has data and the
    // other way round, so the pixel rule decides every shared pixel.
    let (wa, wb) = (Window::new(0, 0, 100, 100), Window::new(40, 40, 100, 100));
    let a = patch("a", wa, &|r, c| (r + c) % 3 == 0);
    let b = patch("b", wb, &|r, c| (r + c) % 3 == 1);
    let mut first = cube.stage().expect("stage a");
    let mut second = cube.stage().expect("stage b");
    first.add(&a).expect("add a");
    second.add(&b).expect("add b");
    first.commit("Write patches").expect("commit a");
    let out = second
        .commit("Write patches")
        .expect("commit b (re-applied)");
    assert_eq!(out.written, vec!["b".to_string()]);
    assert_eq!(sorted(cube.loaded_patches().expect("ids")), vec!["a", "b"]);

    let reference = new_cube(&dir, "reference");
    reference.write_patches(&[a, b]).expect("one batch");
    assert!(same(&dem(&cube), &dem(&reference)));
}

#[test]
fn a_patch_recorded_meanwhile_is_not_recorded_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir, "cube");
    let a = patch("a", Window::new(0, 0, 50, 50), &|_, _| false);
    let mut first = cube.stage().expect("stage");
    let mut second = cube.stage().expect("stage");
    first.add(&a).expect("add");
    second.add(&a).expect("add");
    first.commit("Write patches").expect("first");
    let out = second.commit("Write patches").expect("second");
    assert!(out.written.is_empty());
    assert_eq!(out.already_loaded, vec!["a".to_string()]);
    assert_eq!(cube.loaded_patches().expect("ids"), vec!["a"]);
}

#[test]
fn dropping_a_staged_write_leaves_the_cube_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir, "cube");
    let before = dem(&cube);
    {
        let mut staged = cube.stage().expect("stage").buffer_bytes(0);
        staged
            .add(&patch("a", Window::new(0, 0, 80, 80), &|_, _| false))
            .expect("add");
    }
    assert!(cube.loaded_patches().expect("ids").is_empty());
    assert!(same(&before, &dem(&cube)));
}

fn window_strategy() -> impl Strategy<Value = Window> {
    (0usize..150, 0usize..190, 1usize..80, 1usize..80)
        .prop_map(|(r, c, h, w)| Window::new(r, c, h.min(160 - r), w.min(200 - c)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any patches, split over up to three writers that stage from the same
    /// snapshot, with any buffer budget, committed in any order: every id is
    /// recorded once and the pixels equal one sequential batch (valid values
    /// agree between patches, and nodata never overwrites data).
    #[test]
    fn concurrent_staged_writes_equal_one_batch(
        windows in prop::collection::vec(window_strategy(), 1..6),
        writer_of in prop::collection::vec(0usize..3, 6),
        budget_chunks in 0usize..4,
        holes in 2usize..6,
        order in Just(()).prop_perturb(|(), mut rng| {
            let mut o = vec![0usize, 1, 2];
            for i in (1..o.len()).rev() {
                o.swap(i, rng.random_range(0..=i));
            }
            o
        }),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cube = new_cube(&dir, "cube");
        let reference = new_cube(&dir, "reference");
        let patches: Vec<(Patch, Window)> = windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let hole = move |r: usize, c: usize| (r * 7 + c * 3 + i).is_multiple_of(holes);
                (patch(&format!("p{i}"), *w, &hole), *w)
            })
            .collect();
        let budget = budget_chunks * 48 * 48 * 5;
        let mut writers: Vec<_> = (0..3)
            .map(|_| cube.stage().expect("stage").buffer_bytes(budget))
            .collect();
        for (i, (p, w)) in patches.iter().enumerate() {
            let staged = &mut writers[writer_of[i]];
            for piece in pieces(p, *w) {
                staged.merge(&piece).expect("merge");
            }
            staged.record(&p.id);
        }
        let mut writers: Vec<Option<_>> = writers.into_iter().map(Some).collect();
        for i in order {
            if let Some(w) = writers[i].take() {
                w.commit("Write patches").expect("commit");
            }
        }
        let all: Vec<Patch> = patches.into_iter().map(|(p, _)| p).collect();
        reference.write_patches(&all).expect("reference");
        prop_assert_eq!(
            sorted(cube.loaded_patches().expect("ids")),
            sorted(all.iter().map(|p| p.id.clone()).collect())
        );
        prop_assert!(same(&dem(&cube), &dem(&reference)));
    }
}

/// `compact` never collects what an open staged write uploaded: it waits
/// for the commit (local cubes), so the committed snapshot's chunks exist.
#[test]
fn compact_waits_for_an_open_staged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cube = new_cube(&dir, "cube");
    let a = patch("a", Window::new(0, 0, 100, 120), &|r, c| (r + c) % 5 == 0);
    let mut staged = cube.stage().expect("stage").buffer_bytes(0);
    staged.add(&a).expect("add");
    let path = dir.path().join("cube");
    let compaction = std::thread::spawn(move || {
        let other = Cube::open(CubeStorage::local(path)).expect("open");
        other.compact(&geocube_core::CompactOptions::default().grace(std::time::Duration::ZERO))
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !compaction.is_finished(),
        "compact ran while a staged write had uploads pending"
    );
    staged.commit("Write patches").expect("commit");
    compaction.join().expect("thread").expect("compact");
    let reopened = Cube::open(CubeStorage::local(dir.path().join("cube"))).expect("open");
    let reference = new_cube(&dir, "reference");
    reference.write_patch(&a).expect("reference");
    assert_eq!(reopened.loaded_patches().expect("ids"), vec!["a"]);
    assert!(same(&dem(&reopened), &dem(&reference)));
}
