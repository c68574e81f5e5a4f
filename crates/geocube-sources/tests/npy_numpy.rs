//! The NPY reader on files numpy itself wrote (`np.save`, and
//! `np.lib.format.write_array` with versions 1.0, 2.0 and 3.0): structured
//! arrays of every field type an Earth Engine reply may hold, either byte
//! order, and the header forms numpy pads them with.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use geocube_core::DType;
use geocube_sources::ee::npy::NpyRecords;

fn python() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("GEOCUBE_PYTHON").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    } else if let Some(ws) = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2) {
        candidates.push(ws.join("target").join("pyenv").join("bin").join("python"));
    }
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the NPY interop test needs the venv's numpy on CI (GEOCUBE_PYTHON)"
        );
        eprintln!("skipped: no Python with numpy (set GEOCUBE_PYTHON)");
    }
    found
}

const SCRIPT: &str = r#"
import sys, numpy as np
out = sys.argv[1]
h, w = 3, 5
dt = np.dtype([("b1", "|u1"), ("B2", "<u2"), ("i", "<i2"), ("big", ">f8"), ("A00", "<f4"), ("ok", "|b1"), ("s", "|i1"), ("l", "<i4")])
a = np.zeros((h, w), dtype=dt)
k = np.arange(h * w).reshape(h, w)
a["b1"] = (k * 17) % 256
a["B2"] = k * 4000
a["i"] = k * -300
a["big"] = k / 7.0
a["A00"] = np.where(k % 4 == 0, np.float32(2147483647), (k / 3.0).astype("f4"))
a["ok"] = k % 2 == 0
a["s"] = -k
a["l"] = k * 100000
np.save(out + "/save.npy", a)
for v in [(1, 0), (2, 0), (3, 0)]:
    with open(out + f"/v{v[0]}.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=v)
# A 1-D array and a wide one (many fields) as well.
np.save(out + "/flat.npy", np.zeros(7, dtype=[("x", "<f4")]))
wide = np.zeros((2, 2), dtype=[(f"A{i:02d}", "<f4") for i in range(64)])
wide["A63"] = 0.5
np.save(out + "/wide.npy", wide)
"#;

#[test]
fn numpy_written_files_read_back_exactly() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(&py)
        .args(["-", dir.path().to_str().expect("utf-8 path")])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(SCRIPT.as_bytes())
        .expect("script");
    assert!(child.wait().expect("python").success(), "numpy failed");
    for name in ["save", "v1", "v2", "v3"] {
        let bytes = std::fs::read(dir.path().join(format!("{name}.npy"))).expect("npy");
        let r = NpyRecords::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.shape, [3, 5], "{name}");
        assert_eq!(r.record_size, 1 + 2 + 2 + 8 + 4 + 1 + 1 + 4, "{name}");
        let k: Vec<i64> = (0..15).collect();
        let u8s = r.to_typed("b1", DType::Uint8).expect("b1");
        let want: Vec<u8> = k
            .iter()
            .map(|&k| u8::try_from((k * 17) % 256).unwrap_or(0))
            .collect();
        assert_eq!(
            u8s.as_array::<u8>()
                .expect("u8")
                .as_slice()
                .expect("contiguous"),
            want.as_slice()
        );
        let u16s = r.to_typed("B2", DType::Uint16).expect("B2");
        assert_eq!(u16s.as_array::<u16>().expect("u16")[[2, 4]], 56_000);
        let i16s = r.to_typed("i", DType::Int16).expect("i");
        assert_eq!(i16s.as_array::<i16>().expect("i16")[[2, 4]], -4200);
        let f64s = r.to_typed("big", DType::Float64).expect("big");
        assert_eq!(f64s.as_array::<f64>().expect("f64")[[1, 3]], 8.0 / 7.0);
        let f = r.to_f32("A00").expect("A00");
        assert_eq!(f[[0, 0]], 2_147_483_648.0);
        assert_eq!(f[[0, 1]], (1.0f64 / 3.0) as f32);
        let b = r.to_typed("ok", DType::Bool).expect("ok");
        assert!(!b.as_array::<bool>().expect("bool")[[0, 1]]);
        let s = r.to_typed("s", DType::Int16).expect("s");
        assert_eq!(s.as_array::<i16>().expect("i16")[[2, 4]], -14);
        let l = r.to_typed("l", DType::Int32).expect("l");
        assert_eq!(l.as_array::<i32>().expect("i32")[[2, 4]], 1_400_000);
        // Values that do not fit are refused, never wrapped.
        assert!(r.to_typed("l", DType::Int16).is_err());
        assert!(r.to_typed("s", DType::Uint8).is_err());
    }
    let flat =
        NpyRecords::parse(std::fs::read(dir.path().join("flat.npy")).expect("npy")).expect("flat");
    assert_eq!(flat.shape, [7]);
    let wide =
        NpyRecords::parse(std::fs::read(dir.path().join("wide.npy")).expect("npy")).expect("wide");
    assert_eq!(wide.fields.len(), 64);
    assert_eq!(wide.to_f32("A63").expect("A63")[[1, 1]], 0.5);
    // Cut anywhere, a file is an error, never a short array.
    let whole = std::fs::read(dir.path().join("v1.npy")).expect("npy");
    for cut in [5, 9, 60, 127, whole.len() - 1] {
        assert!(
            NpyRecords::parse(whole[..cut].to_vec()).is_err(),
            "cut at {cut}"
        );
    }
}
