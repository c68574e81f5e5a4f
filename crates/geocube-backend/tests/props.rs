//! Property: whatever the interleaving of submits (duplicates, overlaps,
//! failing downloads, real commit conflicts between two backends on one
//! repository), `loaded_patches` ends as exactly the ids whose download
//! succeeded, once each, with their pixels, and nothing else is changed.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Fault, TileSource, assert_cube_holds, config, create, indices, tile_id};
use geocube_backend::{DownloadBackend, SimpleBackend, ThreadedBackend};
use geocube_core::{Cube, CubeStorage};
use proptest::prelude::*;

fn id_strategy() -> impl Strategy<Value = String> {
    (0..4_usize, 0..4_usize).prop_map(|(r, c)| tile_id(r, c))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_submits_record_exactly_the_successful_ids(
        submits in prop::collection::vec(prop::collection::vec(id_strategy(), 1..8), 1..5),
        fatal in prop::collection::btree_set(id_strategy(), 0..3),
        flaky in prop::collection::btree_set(id_strategy(), 0..3),
    ) {
        // In-memory storage has no commit lock: two backends' writers really
        // race, so commit conflicts happen and must be retried.
        let storage = CubeStorage::in_memory().expect("memory");
        create(&storage);
        let src = TileSource::new();
        for id in &flaky { src.fault(id, Fault::Flaky(2)); }
        for id in &fatal { src.fault(id, Fault::Fatal); }
        let backends: Vec<Arc<dyn DownloadBackend>> = vec![
            Arc::new(ThreadedBackend::new(storage.clone(), src.download_fn(), config()).expect("threaded")),
            Arc::new(SimpleBackend::new(storage.clone(), src.download_fn(), config())),
        ];
        let handles: Vec<_> = submits.iter().enumerate().map(|(k, ids)| {
            let b = Arc::clone(&backends[k % 2]);
            let ids = ids.clone();
            std::thread::spawn(move || b.submit(&indices(&ids)))
        }).collect();
        for h in handles {
            match h.join().expect("thread") {
                Ok(_) => {}
                Err(geocube_backend::Error::Submit { failed, .. }) => {
                    for f in failed { prop_assert!(fatal.contains(&f.id), "unexpected failure {f}"); }
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
        let wanted: BTreeSet<String> = submits.iter().flatten().filter(|id| !fatal.contains(*id)).cloned().collect();
        let wanted: Vec<String> = wanted.into_iter().collect();
        assert_cube_holds(&Cube::open(storage).expect("open"), &wanted);
    }
}

/// Two writers on storage without a commit lock do collide; every collision
/// is re-applied on the new tip and nothing is lost.
#[test]
fn commit_conflicts_happen_and_are_retried() {
    let ids = common::all_ids();
    let mut retried_total = 0;
    for _ in 0..5 {
        let storage = CubeStorage::in_memory().expect("memory");
        create(&storage);
        let src = TileSource::new();
        let backends: Vec<Arc<dyn DownloadBackend>> = (0..2)
            .map(|_| -> Arc<dyn DownloadBackend> {
                Arc::new(
                    ThreadedBackend::new(storage.clone(), src.download_fn(), config())
                        .expect("threaded"),
                )
            })
            .collect();
        let handles: Vec<_> = backends
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let b = Arc::clone(b);
                // Opposite orders so both writers are busy the whole time.
                let mut mine = ids.clone();
                if k == 1 {
                    mine.reverse();
                }
                std::thread::spawn(move || b.submit(&indices(&mine)))
            })
            .collect();
        for h in handles {
            h.join().expect("thread").expect("submit");
        }
        retried_total += backends
            .iter()
            .map(|b| {
                b.events()
                    .events()
                    .iter()
                    .filter(|e| {
                        e.action == geocube_backend::Action::Write
                            && (e.attempt > 1 || e.reapplied > 0)
                    })
                    .count()
            })
            .sum::<usize>();
        assert_cube_holds(&Cube::open(storage).expect("open"), &ids);
        if retried_total > 0 {
            break;
        }
    }
    assert!(
        retried_total > 0,
        "no commit conflict occurred in 5 rounds; the retry path went untested"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Downloads finishing in any order (random per-patch delays): one
    /// submit's patches, committed in one batch, are recorded in the order
    /// they were submitted, as smart-geocubes' simple backend records them.
    #[test]
    fn a_batch_records_its_ids_in_submission_order(
        order in Just(common::all_ids()).prop_shuffle(),
        delays in prop::collection::vec(0..40_u64, 16),
        take in 2..9_usize,
    ) {
        let storage = CubeStorage::in_memory().expect("memory");
        create(&storage);
        let src = TileSource::new();
        let ids: Vec<String> = order.into_iter().take(take).collect();
        for (id, ms) in ids.iter().zip(&delays) {
            src.slow(id, std::time::Duration::from_millis(*ms));
        }
        let backend = ThreadedBackend::new(storage.clone(), src.download_fn(), config()).expect("threaded");
        backend.submit(&indices(&ids)).expect("submit");
        let cube = Cube::open(storage).expect("open");
        prop_assert_eq!(cube.loaded_patches().expect("ids"), ids);
    }
}
