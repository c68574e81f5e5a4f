//! Progress of downloads and writes: bars on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use geocube::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// How progress is shown.
pub(crate) enum Reporter {
    /// Nothing (`--quiet`).
    Quiet,
    /// One line per event on stderr (not a terminal).
    Lines {
        total: AtomicUsize,
        downloaded: AtomicUsize,
        written: AtomicUsize,
    },
    /// Two indicatif bars on stderr, added to `multi` when a load begins.
    Bars {
        multi: MultiProgress,
        bars: Mutex<Option<(ProgressBar, ProgressBar)>>,
    },
}

impl Reporter {
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet {
            Reporter::Quiet
        } else if std::io::stderr().is_terminal() {
            Reporter::Bars {
                multi: MultiProgress::new(),
                bars: Mutex::new(None),
            }
        } else {
            Reporter::Lines {
                total: AtomicUsize::new(0),
                downloaded: AtomicUsize::new(0),
                written: AtomicUsize::new(0),
            }
        }
    }

    /// The bars' drawing, for log lines to go above it.
    pub(crate) fn bars(&self) -> Option<MultiProgress> {
        match self {
            Reporter::Bars { multi, .. } => Some(multi.clone()),
            _ => None,
        }
    }

    /// A status line (not printed when quiet).
    pub(crate) fn say(&self, message: &str) {
        if !matches!(self, Reporter::Quiet) {
            eprintln!("{message}");
        }
    }
}

fn bar(multi: &MultiProgress, total: usize, label: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40.cyan/blue}] {pos}/{len} patches {elapsed_precise} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let pb = multi.add(ProgressBar::new(total as u64));
    pb.set_style(style);
    pb.set_prefix(label.to_owned());
    pb
}

impl Progress for Reporter {
    fn begin(&self, n: usize) {
        match self {
            Reporter::Quiet => {}
            Reporter::Lines { total, .. } => {
                total.store(n, Ordering::Relaxed);
                eprintln!("loading {n} patch(es) missing from the cube");
            }
            Reporter::Bars { multi, bars } => {
                let d = bar(multi, n, "download");
                let w = bar(multi, n, "write");
                *bars
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((d, w));
            }
        }
    }

    fn downloaded(&self, id: &str) {
        match self {
            Reporter::Quiet => {}
            Reporter::Lines {
                total, downloaded, ..
            } => {
                let k = downloaded.fetch_add(1, Ordering::Relaxed) + 1;
                eprintln!("downloaded {id} ({k}/{})", total.load(Ordering::Relaxed));
            }
            Reporter::Bars { bars, .. } => {
                if let Some((d, _)) = bars
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                {
                    d.set_message(id.to_owned());
                    d.inc(1);
                }
            }
        }
    }

    fn written(&self, id: &str) {
        match self {
            Reporter::Quiet => {}
            Reporter::Lines { total, written, .. } => {
                let k = written.fetch_add(1, Ordering::Relaxed) + 1;
                eprintln!("written {id} ({k}/{})", total.load(Ordering::Relaxed));
            }
            Reporter::Bars { bars, .. } => {
                if let Some((_, w)) = bars
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                {
                    w.set_message(id.to_owned());
                    w.inc(1);
                }
            }
        }
    }

    fn finish(&self) {
        if let Reporter::Bars { bars, .. } = self
            && let Some((d, w)) = bars
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        {
            d.finish();
            w.finish();
        }
    }
}
