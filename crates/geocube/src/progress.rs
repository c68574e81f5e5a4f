//! Progress of a load or prefetch: which patches are being fetched, and
//! when each is downloaded and written.

use std::collections::HashSet;
use std::time::Duration;

use geocube_backend::{Action, EventLog};

/// Receives the progress of one [`crate::Accessor::load`] or
/// [`crate::Accessor::prefetch`] call. Every method has an empty default.
///
/// Calls come from a helper thread of the loading call, never concurrently.
pub trait Progress: Send + Sync {
    /// `total` patches are missing from the cube and will be loaded.
    fn begin(&self, total: usize) {
        let _ = total;
    }
    /// Patch `id` was downloaded (by this call or by another one it awaits).
    fn downloaded(&self, id: &str) {
        let _ = id;
    }
    /// Patch `id` was written into the cube.
    fn written(&self, id: &str) {
        let _ = id;
    }
    /// Loading ended (successfully or not).
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// How often the event log is polled for progress.
const POLL: Duration = Duration::from_millis(50);

/// Run `work` (a blocking submit of `ids`) while a helper thread turns the
/// backend's event log into `progress` calls for those ids.
///
/// Polling the log, rather than hooking the download function, also reports
/// patches that another caller of the shared backend is loading and this
/// call awaits, and the writer thread's commits.
pub(crate) fn observe<T>(
    events: &EventLog,
    ids: &[String],
    progress: &dyn Progress,
    work: impl FnOnce() -> T,
) -> T {
    progress.begin(ids.len());
    let skip = events.events().len();
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let out = std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut seen = skip;
            let mut downloaded = HashSet::new();
            let mut written = HashSet::new();
            loop {
                let finished = done_rx.recv_timeout(POLL).is_ok();
                let all = events.events();
                for e in all
                    .iter()
                    .skip(seen)
                    .filter(|e| e.ok && wanted.contains(e.patch_id.as_str()))
                {
                    let id = e.patch_id.as_str();
                    match e.action {
                        Action::Download if downloaded.insert(id.to_owned()) => {
                            progress.downloaded(id)
                        }
                        Action::Write if written.insert(id.to_owned()) => progress.written(id),
                        _ => {}
                    }
                }
                seen = all.len();
                if finished {
                    break;
                }
            }
        });
        let out = work();
        let _ = done_tx.send(());
        out
    });
    progress.finish();
    out
}
