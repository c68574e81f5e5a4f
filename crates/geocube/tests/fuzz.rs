//! Fuzz target of the command line's own parsers (`geocube::request`):
//! `--bbox W,S,E,N` in a CRS given as text, and `--time`. Mutations of
//! valid boxes (numbers replaced by `NaN`, `1e999`, `-0`, characters
//! overwritten, inserted, removed) through `geocube_testkit::fuzz`: `Ok`
//! with a box that keeps the documented rules, or `InvalidBbox` / a core
//! error, never a panic. The library's parsers have their targets in
//! geocube-core's and geocube-sources' `tests/fuzz.rs`.
#![allow(clippy::unwrap_used, missing_docs)]

use geocube::Error;
use geocube::request::{bbox_aoi, parse_bbox, parse_bbox_in, parse_toi};
use geocube_core::Crs;
use geocube_testkit::fuzz::alloc::CountingAlloc;
use geocube_testkit::fuzz::bytes::At;
use geocube_testkit::fuzz::json::{JsonEdits, TextMutation, text_mutation};
use geocube_testkit::fuzz::{self, Budget};
use proptest::prelude::*;
use serde_json::Value;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const BOXES: &[&str] = &[
    "-150.5,70.1,-150,70.3",
    "170,60,-170,70",
    "-180,-90,180,90",
    " -1.5, 2 3 ,4e1",
    "-1600000,1570000,-1570000,1600000",
    "-1600000 1570000 -1570000 1600000",
];

const CRSS: &[&str] = &[
    "EPSG:4326",
    "EPSG:3413",
    "4326",
    "+proj=longlat +datum=WGS84",
    "EPSG:32633",
];

/// A seed with edits: characters from the alphabet of boxes overwritten,
/// inserted or removed, or the text edits of the JSON helper (numbers
/// replaced by tokens, bytes) applied to the seed as a JSON string.
fn edited(seeds: &'static [&'static str]) -> BoxedStrategy<String> {
    let chars: Vec<char> = "0123456789.,- e+E".chars().collect();
    prop_oneof![
        2 => (0..seeds.len(), proptest::collection::vec((any::<u32>(), 0u8..3, proptest::sample::select(chars)), 1..=4))
            .prop_map(move |(i, edits)| {
                let mut c: Vec<char> = seeds[i].chars().collect();
                for (at, op, ch) in edits {
                    let k = At(at).of(c.len());
                    match op {
                        0 if k < c.len() => c[k] = ch,
                        1 => c.insert(k, ch),
                        _ if k < c.len() => {
                            c.remove(k);
                        }
                        _ => {}
                    }
                }
                c.into_iter().collect()
            }),
        2 => (0..seeds.len(), proptest::collection::vec(text_mutation(), 1..=3))
            .prop_map(move |(i, text)| tokens(seeds[i], text)),
        1 => "[0-9eE.,+ -]{0,30}",
    ]
    .boxed()
}

fn tokens(seed: &str, text: Vec<TextMutation>) -> String {
    let doc = JsonEdits {
        structure: vec![],
        text,
    }
    .apply(&Value::String(seed.to_owned()));
    let s = String::from_utf8_lossy(&doc).into_owned();
    s.trim_matches('"').to_owned()
}

#[test]
fn fuzz_cli_bbox_and_time() {
    let wgs84 = Crs::wgs84();
    let polar = Crs::from_epsg(3413).unwrap();
    fuzz::run(
        "cli-bbox",
        1024,
        Budget::DEFAULT,
        (
            edited(BOXES),
            prop_oneof![
                3 => proptest::sample::select(CRSS).prop_map(str::to_owned),
                1 => edited(CRSS),
            ],
            ".{0,24}",
        ),
        Clone::clone,
        |(bbox, crs, time)| {
            let bad = |e: &Error| matches!(e, Error::InvalidBbox { .. } | Error::Core(_));
            match parse_bbox(&bbox) {
                Ok(b) if !(b.left < b.right && b.bottom < b.top) => {
                    return Err(format!("{bbox:?} gave an empty or inverted box {b:?}"));
                }
                Ok(_) => {}
                Err(e) if bad(&e) => {}
                Err(e) => return Err(format!("parse_bbox: {e:?}")),
            }
            for c in [&wgs84, &polar] {
                match parse_bbox_in(&bbox, c) {
                    // Across the antimeridian `right` is east + 360: still left < right.
                    Ok(b)
                        if !(b.left < b.right
                            && b.bottom < b.top
                            && [b.left, b.right, b.bottom, b.top]
                                .iter()
                                .all(|v| v.is_finite())) =>
                    {
                        return Err(format!("{bbox:?} in {c} gave {b:?}"));
                    }
                    Ok(b)
                        if c.is_geographic()
                            && !(b.bottom >= -90.0
                                && b.top <= 90.0
                                && b.left >= -180.0
                                && b.right <= 540.0) =>
                    {
                        return Err(format!("{bbox:?} gave {b:?} off the globe"));
                    }
                    Ok(_) => {}
                    Err(e) if bad(&e) => {}
                    Err(e) => return Err(format!("parse_bbox_in: {e:?}")),
                }
            }
            let aoi = match bbox_aoi(&bbox, &crs) {
                Ok(_) => "aoi-made",
                Err(e) if bad(&e) => "refused",
                Err(e) => return Err(format!("bbox_aoi: {e:?}")),
            };
            match parse_toi(&time) {
                Ok(_) | Err(Error::Core(_)) => {}
                Err(e) => return Err(format!("parse_toi: {e:?}")),
            }
            Ok(aoi)
        },
    );
}
