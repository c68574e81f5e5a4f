//! Times of interest: which steps of a cube's time axis to load or read.
//!
//! ```
//! use geocube_core::toi::{TimeMethod, Toi};
//!
//! let axis: Vec<_> = ["2019-01-01", "2020-01-01", "2021-01-01"]
//!     .iter()
//!     .map(|d| match Toi::parse(d).unwrap() { Toi::Instant(t) => t, _ => unreachable!() })
//!     .collect();
//! let toi = Toi::parse("2020-03-01").unwrap();
//! assert_eq!(toi.select(&axis, TimeMethod::Nearest).unwrap(), vec![1]);
//! assert_eq!(toi.select(&axis, TimeMethod::Backfill).unwrap(), vec![2]);
//! assert_eq!(Toi::parse("2020-01-01/..").unwrap().select(&axis, TimeMethod::Nearest).unwrap(), vec![1, 2]);
//! ```

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::error::{Error, Result};

/// A time of interest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toi {
    /// No time given: every step (or a spatial cube).
    None,
    /// One instant, matched to a step by a [`TimeMethod`].
    Instant(DateTime<Utc>),
    /// Several instants, each matched by a [`TimeMethod`].
    List(Vec<DateTime<Utc>>),
    /// Every step between `start` and `end`, both inclusive; an open end is
    /// unbounded.
    Range {
        /// First instant, `None` for unbounded.
        start: Option<DateTime<Utc>>,
        /// Last instant, `None` for unbounded.
        end: Option<DateTime<Utc>>,
    },
}

/// How an instant is matched to a step of the time axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimeMethod {
    /// The closest step; on a tie the earlier step.
    #[default]
    Nearest,
    /// The last step at or before the instant.
    Pad,
    /// The first step at or after the instant.
    Backfill,
}

/// Which end of a period a date-only text stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Start,
    End,
}

/// Parse one instant: RFC 3339 (`2020-06-01T12:00:00Z`, with offset), a naive
/// date-time taken as UTC (`2020-06-01T12:00:00`, `2020-06-01 12:00`), a date
/// (`2020-06-01`) or a year (`2020`). A date or year stands for its first
/// instant, or for its last one (`End`) when it closes a range.
fn parse_instant(s: &str, edge: Edge) -> Result<DateTime<Utc>> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t.trim_end_matches(['Z', 'z']), fmt) {
            return Ok(dt.and_utc());
        }
    }
    let end_of = |first: NaiveDate, next: Option<NaiveDate>| -> Option<DateTime<Utc>> {
        match edge {
            Edge::Start => Some(first.and_time(NaiveTime::MIN).and_utc()),
            Edge::End => {
                next.map(|n| n.and_time(NaiveTime::MIN).and_utc() - Duration::nanoseconds(1))
            }
        }
    };
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = end_of(d, d.succ_opt())
    {
        return Ok(dt);
    }
    if t.len() == 4
        && t.bytes().all(|b| b.is_ascii_digit())
        && let Ok(y) = t.parse::<i32>()
        && let Some(d) = NaiveDate::from_ymd_opt(y, 1, 1)
        && let Some(dt) = end_of(d, d.with_year(y + 1))
    {
        return Ok(dt);
    }
    Err(Error::InvalidToi(format!(
        "cannot read `{t}` as a time; use a date (2020-06-01), a UTC date-time (2020-06-01T12:00:00Z) or a year (2020)"
    )))
}

fn is_open(s: &str) -> bool {
    matches!(s.trim(), "" | ".." | "*")
}

impl Toi {
    /// Parse a time of interest: an instant (`2020-06-01`,
    /// `2020-06-01T12:00:00Z`), a range with inclusive ends
    /// (`2020-01-01/2021-12-31`, open ends as `..` or empty: `2020-01-01/..`)
    /// or a comma-separated list (`2020-01-01,2021-01-01`). A date-only (or
    /// year-only) range end includes that whole day (year). An empty string,
    /// `none` or `all` is [`Toi::None`].
    ///
    /// # Errors
    /// [`Error::InvalidToi`] when a part is not a time or a range ends before
    /// it starts.
    pub fn parse(s: &str) -> Result<Toi> {
        let t = s.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("all") {
            return Ok(Toi::None);
        }
        if let Some((a, b)) = t.split_once('/') {
            if b.contains('/') {
                return Err(Error::InvalidToi(format!(
                    "`{t}` has more than one `/`; a range is `start/end`"
                )));
            }
            let start = if is_open(a) {
                None
            } else {
                Some(parse_instant(a, Edge::Start)?)
            };
            let end = if is_open(b) {
                None
            } else {
                Some(parse_instant(b, Edge::End)?)
            };
            if let (Some(s0), Some(e0)) = (start, end)
                && e0 < s0
            {
                return Err(Error::InvalidToi(format!(
                    "range `{t}` ends before it starts"
                )));
            }
            return Ok(Toi::Range { start, end });
        }
        if t.contains(',') {
            let list = t
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| parse_instant(p, Edge::Start))
                .collect::<Result<Vec<_>>>()?;
            if list.is_empty() {
                return Err(Error::InvalidToi(format!("`{t}` lists no time")));
            }
            return Ok(Toi::List(list));
        }
        Ok(Toi::Instant(parse_instant(t, Edge::Start)?))
    }

    /// Indices into `axis` (the cube's time steps, sorted ascending) that this
    /// time of interest selects, ascending and without duplicates.
    /// [`Toi::None`] selects every step; a [`Toi::Range`] every step inside it
    /// (inclusive); an instant (or each instant of a list) the step `method`
    /// picks. List instants that match nothing are skipped.
    ///
    /// # Errors
    /// [`Error::NoMatchingTime`] (naming the request and the axis range) when
    /// nothing is selected; [`Error::InvalidToi`] when `axis` is not sorted.
    pub fn select(&self, axis: &[DateTime<Utc>], method: TimeMethod) -> Result<Vec<usize>> {
        if axis.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::InvalidToi(
                "the cube's time axis is not sorted ascending".into(),
            ));
        }
        let mut out: Vec<usize> = match self {
            Toi::None => (0..axis.len()).collect(),
            Toi::Instant(t) => pick(axis, *t, method).into_iter().collect(),
            Toi::List(ts) => ts.iter().filter_map(|t| pick(axis, *t, method)).collect(),
            Toi::Range { start, end } => {
                let lo = start.map_or(0, |s| axis.partition_point(|a| *a < s));
                let hi = end.map_or(axis.len(), |e| axis.partition_point(|a| *a <= e));
                (lo..hi.max(lo)).collect()
            }
        };
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            let available = match (axis.first(), axis.last()) {
                (Some(a), Some(b)) => format!(
                    "{} time steps from {} to {}",
                    axis.len(),
                    a.to_rfc3339(),
                    b.to_rfc3339()
                ),
                _ => "no time steps".to_owned(),
            };
            let how = match (self, method) {
                (Toi::Instant(_) | Toi::List(_), TimeMethod::Pad) => " (at or before)",
                (Toi::Instant(_) | Toi::List(_), TimeMethod::Backfill) => " (at or after)",
                _ => "",
            };
            return Err(Error::NoMatchingTime {
                requested: format!("{self}{how}"),
                available,
            });
        }
        Ok(out)
    }
}

/// The step `method` picks for `t` in the sorted `axis`.
fn pick(axis: &[DateTime<Utc>], t: DateTime<Utc>, method: TimeMethod) -> Option<usize> {
    let after = axis.partition_point(|a| *a < t); // first index with a >= t
    match method {
        TimeMethod::Backfill => (after < axis.len()).then_some(after),
        TimeMethod::Pad => {
            let upto = axis.partition_point(|a| *a <= t);
            upto.checked_sub(1)
        }
        TimeMethod::Nearest => {
            let before = after.checked_sub(1);
            match (before, (after < axis.len()).then_some(after)) {
                (Some(b), Some(a)) => {
                    // Ties go to the earlier step.
                    if t - axis[b] <= axis[a] - t {
                        Some(b)
                    } else {
                        Some(a)
                    }
                }
                (b, a) => b.or(a),
            }
        }
    }
}

impl fmt::Display for Toi {
    /// The form [`Toi::parse`] reads back (RFC 3339 instants).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        match self {
            Toi::None => f.write_str("all times"),
            Toi::Instant(t) => f.write_str(&one(t)),
            Toi::List(ts) => f.write_str(&ts.iter().map(one).collect::<Vec<_>>().join(",")),
            Toi::Range { start, end } => {
                write!(
                    f,
                    "{}/{}",
                    start.as_ref().map_or("..".into(), one),
                    end.as_ref().map_or("..".into(), one)
                )
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> DateTime<Utc> {
        parse_instant(s, Edge::Start).unwrap()
    }

    fn axis() -> Vec<DateTime<Utc>> {
        vec![
            d("2019-01-01"),
            d("2020-01-01"),
            d("2021-01-01"),
            d("2022-01-01"),
        ]
    }

    #[test]
    fn parses_forms() {
        assert_eq!(
            Toi::parse("2020-06-01").unwrap(),
            Toi::Instant(d("2020-06-01T00:00:00Z"))
        );
        assert_eq!(
            Toi::parse("2020-06-01T12:00:00Z").unwrap(),
            Toi::Instant(d("2020-06-01T12:00:00+00:00"))
        );
        assert_eq!(
            Toi::parse("2020-06-01T14:00:00+02:00").unwrap(),
            Toi::Instant(d("2020-06-01T12:00:00Z"))
        );
        assert_eq!(
            Toi::parse("2020-06-01T12:00:00").unwrap(),
            Toi::Instant(d("2020-06-01T12:00:00Z"))
        );
        assert_eq!(
            Toi::parse("2020-01-01/2021-12-31").unwrap(),
            Toi::Range {
                start: Some(d("2020-01-01")),
                end: Some(d("2022-01-01") - Duration::nanoseconds(1))
            }
        );
        assert_eq!(
            Toi::parse("2020-01-01/..").unwrap(),
            Toi::Range {
                start: Some(d("2020-01-01")),
                end: None
            }
        );
        assert_eq!(
            Toi::parse("../2020").unwrap(),
            Toi::Range {
                start: None,
                end: Some(d("2021-01-01") - Duration::nanoseconds(1))
            }
        );
        assert_eq!(
            Toi::parse("2020-01-01,2021-01-01").unwrap(),
            Toi::List(vec![d("2020-01-01"), d("2021-01-01")])
        );
        assert_eq!(Toi::parse("  ").unwrap(), Toi::None);
        for bad in [
            "2020-13-01",
            "yesterday",
            "2021-01-01/2020-01-01",
            "a/b/c",
            ",",
            "2020-02-30",
        ] {
            assert!(
                matches!(Toi::parse(bad), Err(Error::InvalidToi(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn display_roundtrips() {
        for s in [
            "2020-06-01T12:00:00Z",
            "2020-01-01T00:00:00Z/..",
            "2020-01-01T00:00:00Z,2021-01-01T00:00:00Z",
        ] {
            let t = Toi::parse(s).unwrap();
            assert_eq!(Toi::parse(&t.to_string()).unwrap(), t);
        }
    }

    #[test]
    fn selects() {
        let ax = axis();
        let sel = |s: &str, m| Toi::parse(s).unwrap().select(&ax, m);
        assert_eq!(sel("2020-03-01", TimeMethod::Nearest).unwrap(), vec![1]);
        assert_eq!(sel("2020-03-01", TimeMethod::Pad).unwrap(), vec![1]);
        assert_eq!(sel("2020-03-01", TimeMethod::Backfill).unwrap(), vec![2]);
        assert_eq!(sel("2020-01-01", TimeMethod::Backfill).unwrap(), vec![1]);
        assert_eq!(sel("2020-01-01", TimeMethod::Pad).unwrap(), vec![1]);
        assert_eq!(sel("2030-01-01", TimeMethod::Nearest).unwrap(), vec![3]);
        assert_eq!(sel("1990-01-01", TimeMethod::Nearest).unwrap(), vec![0]);
        assert_eq!(sel("2020/2021", TimeMethod::Nearest).unwrap(), vec![1, 2]);
        assert_eq!(
            sel("2021-01-01,2019-06-01,2021-02-01", TimeMethod::Nearest).unwrap(),
            vec![0, 2]
        );
        assert_eq!(sel("", TimeMethod::Nearest).unwrap(), vec![0, 1, 2, 3]);
        let err = sel("1990-01-01", TimeMethod::Pad).unwrap_err();
        assert!(matches!(err, Error::NoMatchingTime { .. }));
        assert!(err.to_string().contains("2019-01-01"), "{err}");
        assert!(matches!(
            sel("2030-01-01", TimeMethod::Backfill),
            Err(Error::NoMatchingTime { .. })
        ));
        assert!(matches!(
            sel("2023-01-01/..", TimeMethod::Nearest),
            Err(Error::NoMatchingTime { .. })
        ));
        assert!(matches!(
            Toi::parse("2020").unwrap().select(&[], TimeMethod::Nearest),
            Err(Error::NoMatchingTime { .. })
        ));
    }

    #[test]
    fn nearest_tie_goes_earlier() {
        let ax = vec![d("2020-01-01T00:00:00Z"), d("2020-01-03T00:00:00Z")];
        let t = Toi::Instant(d("2020-01-02T00:00:00Z"));
        assert_eq!(t.select(&ax, TimeMethod::Nearest).unwrap(), vec![0]);
    }
}
