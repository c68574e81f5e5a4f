//! Where does a warm window read spend its time? Prints per-step timings.
//! `PROBE_LOOP=N` only repeats a 10-row read N times (for perf record);
//! `PROBE_KEEP=1` keeps the cube directory. Argument: a codec (`blosc-zstd:5`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

use geocube_benches::{cube, dir_size, spec, terrain_patch};
use geocube_core::{ChunkCodec, Window};

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    // PROBE_KEEP=1 leaves the cube on disk for inspection.
    let dir = if std::env::var_os("PROBE_KEEP").is_some() {
        dir.keep()
    } else {
        dir.path().to_path_buf()
    };
    let codec = std::env::args()
        .nth(1)
        .map_or(ChunkCodec::BloscZstd { clevel: 5 }, |c| {
            ChunkCodec::parse(&c).expect("codec")
        });
    let c = cube(&dir, &spec(3600, 3600, codec));
    let p = terrain_patch("p", 0, 0, 3600, 3600);
    let empty = dir_size(&dir);
    let t = Instant::now();
    c.write_patch(&p).expect("write");
    let written = dir_size(&dir) - empty;
    #[allow(clippy::cast_precision_loss)]
    let ratio = (3600 * 3600 * 4) as f64 / written as f64;
    println!(
        "write: {:?}, {written} bytes on disk, ratio {ratio:.3}",
        t.elapsed()
    );
    if std::env::var_os("PROBE_LOOP").is_some() {
        let w = Window {
            row: 1300,
            col: 1300,
            height: 10,
            width: 1000,
        };
        for _ in 0..std::env::var("PROBE_LOOP")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(30)
        {
            let _ = c.read_window(w, None).expect("read");
        }
        return;
    }
    for (name, w) in [
        (
            "1000 window",
            Window {
                row: 1300,
                col: 1300,
                height: 1000,
                width: 1000,
            },
        ),
        (
            "full chunk",
            Window {
                row: 0,
                col: 0,
                height: 3600,
                width: 3600,
            },
        ),
        (
            "10 rows",
            Window {
                row: 1300,
                col: 1300,
                height: 10,
                width: 1000,
            },
        ),
    ] {
        for _ in 0..3 {
            let t = Instant::now();
            let ds = c.read_window(w, None).expect("read");
            println!("{name}: {:?} ({} bytes)", t.elapsed(), ds.nbytes());
        }
    }
    let t = Instant::now();
    let _ = c.loaded_patches().expect("ids");
    println!("loaded_patches: {:?}", t.elapsed());
}
