//! `geocube compact`: expire a cube's history and collect its garbage
//! (`Cube::compact` in geocube-core), optionally re-encoding every chunk.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use geocube::Result;
use geocube_core::{ChunkCodec, CompactOptions, CompactReport, Cube, CubeStorage};

use crate::progress::Reporter;

#[derive(Args)]
pub(crate) struct CompactArgs {
    /// The cube's Icechunk repository directory.
    #[arg(long, value_name = "PATH")]
    store: PathBuf,
    /// Never delete objects younger than this (e.g. 1h, 30m, 0s): a writer
    /// that uploaded chunks and has not committed yet keeps them. 0s only
    /// when nothing else writes the cube.
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "1h")]
    grace: Duration,
    /// Keep the snapshots of this last stretch of time as history (e.g.
    /// 7d); by default only the latest snapshot is kept.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    keep_history: Option<Duration>,
    /// Re-encode every chunk once with this codec first: reference
    /// (smart-geocubes' blosc zstd clevel 9, for byte-compatible cubes),
    /// default, blosc-zstd:L, blosc-lz4:L, zstd:L.
    #[arg(long, value_name = "CODEC")]
    codec: Option<String>,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: &CompactArgs, reporter: &Reporter) -> Result<()> {
    let cube = Cube::open(CubeStorage::local(&a.store))?;
    let codec = a.codec.as_deref().map(ChunkCodec::parse).transpose()?;
    if a.grace.is_zero() {
        reporter.say(
            "grace 0s: geocube writers on this machine wait for the compaction, but any other writer's uploads not yet committed are deleted",
        );
    }
    let opts = CompactOptions::default()
        .grace(a.grace)
        .keep_history(a.keep_history)
        .reencode(codec);
    let report = cube.compact(&opts)?;
    if report.failed_deletes > 0 {
        // Shown even with --quiet: the cube is fine, but not as small as it says.
        eprintln!(
            "warning: {} object(s) could not be deleted ({}); the next compact collects them",
            report.failed_deletes,
            report.delete_errors.join("; ")
        );
    }
    if a.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("store".into(), serde_json::json!(a.store));
            o.insert("grace_s".into(), serde_json::json!(a.grace.as_secs_f64()));
            o.insert(
                "ratio_to_data".into(),
                serde_json::json!(ratio(report.bytes_after, report.data_bytes)),
            );
        }
        println!("{v}");
    } else {
        print!("{}", summary(&report, &a.store, a.grace));
    }
    Ok(())
}

/// The human summary: sizes before and after, what went.
fn summary(r: &CompactReport, store: &std::path::Path, grace: Duration) -> String {
    let against_data = match ratio(r.bytes_after, r.data_bytes) {
        Some(x) => format!(
            "{x:.2}x the {} of data its chunks hold",
            show_bytes(r.data_bytes)
        ),
        None => "no data written yet".into(),
    };
    let mut s = format!(
        "compacted {} (grace {}): {} -> {}, {against_data}\n",
        store.display(),
        show_duration(grace),
        show_bytes(r.bytes_before),
        show_bytes(r.bytes_after),
    );
    s.push_str(&format!(
        "  history: {} snapshot(s) expired, {} kept; deleted {} snapshot(s), {} manifest(s), {} chunk(s), {} transaction log(s)\n",
        r.snapshots_expired,
        r.history_after,
        r.snapshots_deleted,
        r.manifests_deleted,
        r.chunks_deleted,
        r.transaction_logs_deleted
    ));
    if let Some(re) = &r.reencoded {
        s.push_str(&format!(
            "  re-encoded {} chunk(s) of {} with {}\n",
            re.chunks,
            re.variables.join(", "),
            codec_name(re.codec)
        ));
    }
    s
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

#[allow(clippy::cast_precision_loss)]
fn show_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.1} kB", n / 1e3)
    }
}

fn codec_name(codec: ChunkCodec) -> String {
    match codec.resolve() {
        ChunkCodec::Reference => "reference".into(),
        ChunkCodec::BloscZstd { clevel } => format!("blosc-zstd:{clevel}"),
        ChunkCodec::BloscLz4 { clevel } => format!("blosc-lz4:{clevel}"),
        ChunkCodec::Zstd { level } => format!("zstd:{level}"),
        ChunkCodec::Default => "default".into(),
    }
}

/// A duration as `<n><unit>` terms: `90s`, `30m`, `1h30m`, `7d`, `2w`; `0`
/// alone is zero.
fn duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("`{text}` is not a duration: give terms like 30s, 15m, 1h, 7d or 2w (1h30m), or 0")
    };
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut secs: u64 = 0;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, tail) = rest.split_at(digits);
        let n: u64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail.len()
            - tail
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let (unit, tail) = tail.split_at(unit_len);
        let scale: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        secs = n
            .checked_mul(scale)
            .and_then(|x| secs.checked_add(x))
            .ok_or_else(bad)?;
        rest = tail;
    }
    Ok(Duration::from_secs(secs))
}

/// `1h`, `90s`, `1h30m`: the largest units that divide it.
fn show_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_terms() {
        let ok = |s: &str| duration(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("7d"), Duration::from_secs(7 * 86_400));
        assert_eq!(ok("2w"), Duration::from_secs(14 * 86_400));
        for bad in [
            "",
            "h",
            "1",
            "1x",
            "1.5h",
            "-1h",
            "1h 30m",
            "99999999999999999999w",
        ] {
            assert!(duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_default_grace_is_core_s() {
        assert_eq!(duration("1h"), Ok(geocube_core::cube::DEFAULT_GRACE));
    }

    #[test]
    fn durations_print_back() {
        assert_eq!(show_duration(Duration::ZERO), "0s");
        assert_eq!(show_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(show_duration(Duration::from_secs(90_061)), "1d1h1m1s");
    }
}
