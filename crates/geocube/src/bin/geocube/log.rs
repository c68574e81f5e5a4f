//! The libraries' `tracing` events on stderr: warnings (a retry, what it
//! waits for and why) as plain lines by default, full logs with `-v`.
//!
//! The libraries never print; this is the one place their events become
//! text. Lines go above the progress bars, not through them.

use std::fmt;
use std::io::{self, Write};

use indicatif::MultiProgress;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// geocube's own crates, shown in more detail with `-v`.
const OURS: [&str; 4] = [
    "geocube",
    "geocube_core",
    "geocube_backend",
    "geocube_sources",
];

/// Install the stderr subscriber: geocube's warnings by default (errors
/// only with `--quiet`); `-v` its debug logs and other crates' warnings,
/// `-vv` its traces and other crates' info, `-vvv` everything. Other
/// crates' warnings are not shown by default: icechunk warns about every
/// local repository it opens or creates (unsafe concurrent commits,
/// conditional PUTs) although geocube serialises its commits itself
/// (`geocube-core/src/cube/lock.rs`). Lines are drawn above `bars` when
/// there are some.
pub(crate) fn init(verbose: u8, quiet: bool, bars: Option<MultiProgress>) {
    let (ours, others) = match (quiet, verbose) {
        (true, 0) => (LevelFilter::ERROR, LevelFilter::ERROR),
        (_, 0) => (LevelFilter::WARN, LevelFilter::ERROR),
        (_, 1) => (LevelFilter::DEBUG, LevelFilter::WARN),
        (_, 2) => (LevelFilter::TRACE, LevelFilter::INFO),
        _ => (LevelFilter::TRACE, LevelFilter::TRACE),
    };
    let filter = Targets::new()
        .with_default(others)
        .with_targets(OURS.map(|t| (t, ours)));
    let writer = move || AboveBars(bars.clone());
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    // A second subscriber (none here) would only lose our lines.
    let _ = if verbose == 0 {
        tracing_subscriber::registry()
            .with(layer.event_format(Plain).with_filter(filter))
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init()
    };
}

/// stderr, with the progress bars (if any) out of the way while a line is
/// written.
struct AboveBars(Option<MultiProgress>);

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.0 {
            Some(bars) => bars.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// An event as the sentence it carries, like the command's other status
/// lines: the message, then any other fields as `key=value`; errors are
/// marked `error:`.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut out: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Line::default();
        event.record(&mut line);
        if *event.metadata().level() == Level::ERROR {
            out.write_str("error: ")?;
        }
        writeln!(out, "{}{}", line.message, line.rest)
    }
}

#[derive(Default)]
struct Line {
    message: String,
    rest: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}
