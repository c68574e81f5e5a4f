//! The backend's event timeline: saved as an events file, and (feature
//! `viz`) drawn as a Gantt chart (SVG): one row per thread, time on x, one
//! bar per download or write attempt, coloured by action.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One span of backend work, as saved in an events file (the JSON of
/// [`geocube_backend::EventLog::to_json`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Patch id.
    pub patch_id: String,
    /// `download` or `write`.
    pub action: String,
    /// Thread name.
    pub thread: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Start, seconds since the backend started.
    pub start: f64,
    /// End, seconds since the backend started.
    pub end: f64,
    /// Whether the attempt succeeded.
    pub ok: bool,
}

/// The events of an event log.
///
/// # Errors
/// Never in practice (plain data); a serializer error becomes [`Error::Output`].
pub fn from_log(log: &geocube_backend::EventLog) -> Result<Vec<TimelineEvent>> {
    let json = serde_json::to_value(log.events()).map_err(|e| Error::output("<events>", e))?;
    serde_json::from_value(json).map_err(|e| Error::output("<events>", e))
}

/// Read an events file.
///
/// # Errors
/// [`Error::Io`] when it cannot be read, [`Error::EventsFile`] when it is
/// not an events file.
pub fn read_events(path: &Path) -> Result<Vec<TimelineEvent>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::EventsFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Write an events file.
///
/// # Errors
/// [`Error::Io`] when it cannot be written.
pub fn write_events(events: &[TimelineEvent], path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(events).map_err(|e| Error::output(path, e))?;
    std::fs::write(path, json).map_err(|e| Error::io(path, e))
}

/// Draw `events` as a Gantt chart into the SVG file `path`: threads on y
/// (in order of first activity), seconds on x, downloads blue, writes
/// orange, failed attempts red.
///
/// # Errors
/// [`Error::Output`] when there are no events or the file cannot be written.
#[cfg(feature = "viz")]
pub fn write_gantt_svg(events: &[TimelineEvent], path: &Path) -> Result<()> {
    use plotters::prelude::*;

    const DOWNLOAD: RGBColor = RGBColor(49, 130, 189);
    const WRITE: RGBColor = RGBColor(230, 85, 13);
    const FAILED: RGBColor = RGBColor(200, 30, 30);

    if events.is_empty() {
        return Err(Error::output(
            path,
            "there are no events to draw; run a load that downloads first",
        ));
    }
    let mut threads: Vec<&str> = vec![];
    let mut sorted: Vec<&TimelineEvent> = events.iter().collect();
    sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    for e in &sorted {
        if !threads.contains(&e.thread.as_str()) {
            threads.push(&e.thread);
        }
    }
    let t_max = events
        .iter()
        .map(|e| e.end)
        .fold(0.0_f64, f64::max)
        .max(1e-3)
        * 1.02;
    let rows = u32::try_from(threads.len()).map_err(|e| Error::output(path, e))?;
    let height = 120 + 28 * rows;
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("geocube backend timeline", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..t_max, (0..rows).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("seconds since the backend started")
            .y_labels(threads.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => threads
                    .get(*i as usize)
                    .map_or_else(String::new, |t| (*t).to_owned()),
                _ => String::new(),
            })
            .draw()?;
        let row =
            |t: &str| u32::try_from(threads.iter().position(|x| *x == t).unwrap_or(0)).unwrap_or(0);
        for (label, color, pick) in [
            (
                "download",
                DOWNLOAD,
                &(|e: &TimelineEvent| e.ok && e.action == "download")
                    as &dyn Fn(&TimelineEvent) -> bool,
            ),
            ("write", WRITE, &|e: &TimelineEvent| {
                e.ok && e.action != "download"
            }),
            ("failed attempt", FAILED, &|e: &TimelineEvent| !e.ok),
        ] {
            let bars = events.iter().filter(|e| pick(e)).map(|e| {
                let r = row(&e.thread);
                // A bar at least a pixel wide, so instant writes show.
                let end = e.end.max(e.start + t_max / 1000.0);
                Rectangle::new(
                    [
                        (e.start, SegmentValue::Exact(r)),
                        (end, SegmentValue::Exact(r + 1)),
                    ],
                    color.mix(0.85).filled(),
                )
            });
            chart.draw_series(bars)?.label(label).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
            });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| Error::output(path, e))
}
