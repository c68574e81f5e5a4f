//! Generating the same preset twice gives byte-identical directories.

use std::collections::BTreeMap;
use std::path::Path;

use geocube_testkit::{Preset, fixtures, sentinel2};

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("inside root")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).expect("read file"));
            }
        }
    }
    out
}

#[test]
fn generating_twice_gives_identical_bytes() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let ma = fixtures::generate(Preset::Tiny, a.path()).expect("generate a");
    let mb = fixtures::generate(Preset::Tiny, b.path()).expect("generate b");
    assert_eq!(ma, mb);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    // 9 tiles × (2 COGs + 1 item) + manifest + index + catalog + collection.
    assert_eq!(fa.len(), 9 * 3 + 4, "{:?}", fa.keys());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between runs");
    }
    // Regenerating over an existing directory gives the same bytes again.
    fixtures::generate(Preset::Tiny, a.path()).expect("regenerate");
    assert!(files(a.path()) == fa, "regeneration changed bytes");
    assert!(fixtures::is_up_to_date(Preset::Tiny, a.path()));
    assert!(!fixtures::is_up_to_date(Preset::Small, a.path()));
}

#[test]
fn sentinel2_generating_twice_gives_identical_bytes() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let ma = sentinel2::generate(a.path()).expect("generate a");
    let mb = sentinel2::generate(b.path()).expect("generate b");
    assert_eq!(ma, mb);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    // 24 items × (7 COGs + 1 item) + manifest + catalog + collection.
    assert_eq!(fa.len(), 24 * 8 + 3, "{:?}", fa.keys());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between runs");
    }
    assert!(sentinel2::is_up_to_date(a.path()));
    assert!(!sentinel2::is_up_to_date(&a.path().join("nothing")));
}
