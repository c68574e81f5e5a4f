//! Where does the `loaded_patches` bookkeeping of a commit spend its time at
//! N recorded ids? Times each step of today's path on its own (serde_json
//! Value parse and build, pretty and compact printing, the HashSet, zstd of
//! the attribute) and Icechunk's own `set` and commit of the root document.
//! Arguments: N (default 10⁶), Icechunk's compression level (default 3).
//! `PROBE_LOOP=K` repeats the steady-state commit K times (for perf record).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashSet;
use std::time::Instant;

use geocube_benches::{cube, patch_ids, spec};
use geocube_core::ChunkCodec;
use icechunk::format::ByteRange;
use icechunk::repository::VersionInfo;
use serde_json::{Value, json};

fn ms(t: Instant) -> String {
    format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3)
}

fn doc(ids: &[String]) -> Value {
    json!({"zarr_format": 3, "node_type": "group",
           "attributes": {"title": "Bench", "loaded_patches": ids}})
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let level: u8 = args.next().map_or(3, |a| a.parse().expect("level"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ids = patch_ids(n);

    let t = Instant::now();
    let value = doc(&ids);
    println!("json!(ids) into a Value: {}", ms(t));
    let t = Instant::now();
    let pretty = serde_json::to_vec_pretty(&value).expect("pretty");
    println!("to_vec_pretty: {} ({} bytes)", ms(t), pretty.len());
    let t = Instant::now();
    let compact = serde_json::to_vec(&value).expect("compact");
    println!("to_vec: {} ({} bytes)", ms(t), compact.len());
    println!("  starts {}", String::from_utf8_lossy(&compact[..80]));
    let t = Instant::now();
    let parsed: Value = serde_json::from_slice(&pretty).expect("parse");
    println!("from_slice::<Value> (pretty): {}", ms(t));
    let t = Instant::now();
    let list: Vec<String> = parsed["attributes"]["loaded_patches"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    println!("Value -> Vec<String>: {}", ms(t));
    let t = Instant::now();
    let set: HashSet<String> = list.iter().cloned().collect();
    println!("HashSet<String> of the ids: {} ({})", ms(t), set.len());
    let t = Instant::now();
    drop((parsed, list, set));
    println!("dropping Value, Vec and set: {}", ms(t));
    for (what, bytes) in [("pretty", &pretty), ("compact", &compact)] {
        for l in [1, 2, 3] {
            let mut times = vec![];
            let mut len = 0;
            for _ in 0..5 {
                let t = Instant::now();
                len = zstd::bulk::compress(bytes, l).expect("zstd").len();
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "zstd level {l} of the {what} document: median {:.1} ms of 5 -> {len} bytes",
                times[2]
            );
        }
    }

    // Icechunk's own share: the root document set through its Store (which
    // parses it) and committed (a snapshot holding it, compressed).
    let dir = tempfile::tempdir().expect("tempdir");
    drop(cube(dir.path(), &spec(64, 16, ChunkCodec::Default)));
    let path = dir.path().join("cube");
    let config = icechunk::RepositoryConfig {
        compression: Some(icechunk::config::CompressionConfig {
            algorithm: None,
            level: Some(level),
        }),
        ..icechunk::RepositoryConfig::default()
    };
    let repo = rt.block_on(async {
        let storage = icechunk::new_local_filesystem_storage(&path)
            .await
            .expect("storage");
        icechunk::Repository::open(storage)
            .config(config.clone())
            .execute()
            .await
            .expect("open")
    });
    // PROBE_DIRECT=1: the document straight into the session
    // (`update_group`), skipping the parse `Store::set` makes of it.
    let direct = std::env::var_os("PROBE_DIRECT").is_some();
    let commit = |bytes: Vec<u8>, what: &str| -> (f64, f64) {
        rt.block_on(async {
            let session = repo.writable_session("main").await.expect("session");
            let store = icechunk::Store::from_session(std::sync::Arc::new(
                tokio::sync::RwLock::new(session),
            ))
            .await;
            let t = Instant::now();
            if direct {
                let session = store.session();
                let mut session = session.write().await;
                session
                    .update_group(&icechunk::format::Path::root(), bytes.into())
                    .await
                    .expect("update_group");
            } else {
                store.set("zarr.json", bytes.into()).await.expect("set");
            }
            let set = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let session = store.session();
            let mut session = session.write().await;
            session.commit("probe").execute().await.expect("commit");
            let commit = t.elapsed().as_secs_f64() * 1e3;
            if !what.is_empty() {
                println!(
                    "icechunk ({what}, level {level}, direct {direct}): set {set:.1} ms, commit {commit:.1} ms"
                );
            }
            (set, commit)
        })
    };
    commit(pretty.clone(), "pretty, first");
    let mut more = ids.clone();
    more.push("new-0".into());
    commit(
        serde_json::to_vec_pretty(&doc(&more)).expect("pretty"),
        "pretty, +1 id",
    );
    commit(compact.clone(), "compact");
    let loops: usize = std::env::var("PROBE_LOOP").map_or(1, |v| v.parse().expect("PROBE_LOOP"));
    // Documents made beforehand (a byte splice), so a profile of this loop
    // shows Icechunk's share only.
    let docs: Vec<Vec<u8>> = (0..loops)
        .map(|i| {
            let at = compact
                .iter()
                .rposition(|b| *b == b']')
                .expect("end of the list");
            let mut d = compact[..at].to_vec();
            for j in 0..=i {
                d.extend_from_slice(format!(",\"new-{j}\"").as_bytes());
            }
            d.extend_from_slice(&compact[at..]);
            d
        })
        .collect();
    if std::env::var_os("PROBE_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(std::io::stderr)
            .init();
    }
    let (mut set, mut total) = (vec![], vec![]);
    for d in docs {
        let (s, c) = commit(d, "");
        set.push(s);
        total.push(c);
    }
    set.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    println!(
        "{loops} commits of +1 id (level {level}, direct {direct}): set median {:.1} ms, commit median {:.1} ms (min {:.1})",
        set[loops / 2],
        total[loops / 2],
        total[0]
    );
    let snapshots = geocube_benches::dir_size(&path.join("snapshots"));
    println!(
        "snapshots/ on disk after {} commits: {snapshots} bytes",
        loops + 4
    );

    // PROBE_RSS=K: K commits of one patch through a geocube handle, with
    // the process's resident memory before and after (Icechunk keeps every
    // snapshot it writes in its cache, weighed by node count, not bytes).
    if let Some(k) = std::env::var("PROBE_RSS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let cube = geocube_core::Cube::open(geocube_core::CubeStorage::local(&path)).expect("open");
        let rss = || {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
                })
                .unwrap_or_default()
        };
        for i in 0..=k {
            if i % 10 == 0 {
                println!("after {i} geocube commits: VmRSS {} kB", rss());
            }
            cube.write_patch(&geocube_benches::terrain_patch(
                &format!("rss-{i}"),
                0,
                0,
                16,
                16,
            ))
            .expect("write");
        }
    }

    // Cold: a fresh handle reads the tip's root document.
    rt.block_on(async {
        let storage = icechunk::new_local_filesystem_storage(&path)
            .await
            .expect("storage");
        let repo = icechunk::Repository::open(storage)
            .execute()
            .await
            .expect("open");
        let t = Instant::now();
        let session = repo
            .readonly_session(&VersionInfo::BranchTipRef("main".into()))
            .await
            .expect("session");
        let store =
            icechunk::Store::from_session(std::sync::Arc::new(tokio::sync::RwLock::new(session)))
                .await;
        let root = store.get("zarr.json", &ByteRange::ALL).await.expect("get");
        println!(
            "cold: session + get zarr.json: {} ({} bytes)",
            ms(t),
            root.len()
        );
        let t = Instant::now();
        let again = store.get("zarr.json", &ByteRange::ALL).await.expect("get");
        println!(
            "warm: get zarr.json again: {} ({} bytes)",
            ms(t),
            again.len()
        );
    });
}
