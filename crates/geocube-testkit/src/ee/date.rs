//! Earth Engine dates: the millisecond timestamps of `system:time_start`,
//! half-open [`DateRange`]s and the date forms a serialized expression
//! carries (ISO strings, millisecond numbers, `Date{value}`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// A half-open time range `[start_ms, end_ms)` in milliseconds since the
/// Unix epoch (UTC), as `ee.DateRange` and `ee.Filter.date` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DateRange {
    /// First millisecond in the range.
    pub start_ms: i64,
    /// First millisecond after the range.
    pub end_ms: i64,
}

impl DateRange {
    /// `[start_ms, end_ms)`.
    #[must_use]
    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        Self { start_ms, end_ms }
    }

    /// The range `ee.DateRange(start)` makes without an end, and so
    /// `filterDate(start)`: one millisecond from `start_ms`.
    #[must_use]
    pub fn instant(start_ms: i64) -> Self {
        Self::new(start_ms, start_ms.saturating_add(1))
    }

    /// The calendar year `year` in UTC: `[Jan 1 year, Jan 1 year+1)`.
    #[must_use]
    pub fn year(year: i32) -> Self {
        Self::new(jan_first_ms(year), jan_first_ms(year.saturating_add(1)))
    }

    /// Whether `t_ms` lies in the range.
    #[must_use]
    pub fn contains(&self, t_ms: i64) -> bool {
        self.start_ms <= t_ms && t_ms < self.end_ms
    }
}

/// Milliseconds of Jan 1 00:00 UTC of `year` (0 outside chrono's range).
#[must_use]
pub(crate) fn jan_first_ms(year: i32) -> i64 {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

/// Parses the date strings Earth Engine accepts: `YYYY`, `YYYY-MM`,
/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]]` (UTC, as Earth Engine reads
/// strings without a zone when no `timeZone` is given) and RFC 3339 with a
/// zone. `None` if it is none of them.
pub(crate) fn parse_date_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_millis());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    let mut parts = s.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = match parts.next() {
        None => 1,
        Some(m) if m.len() == 2 => m.parse().ok()?,
        Some(_) => return None,
    };
    if parts.next().is_some() || s.len() < 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_forms() {
        let jan = 1_577_836_800_000; // 2020-01-01T00:00:00Z
        assert_eq!(parse_date_ms("2020-01-01"), Some(jan));
        assert_eq!(parse_date_ms("2020"), Some(jan));
        assert_eq!(parse_date_ms("2020-01"), Some(jan));
        assert_eq!(parse_date_ms("2020-01-01T00:00:00"), Some(jan));
        assert_eq!(parse_date_ms("2020-01-01T00:00:00.000Z"), Some(jan));
        assert_eq!(parse_date_ms("2020-01-01T01:00:00+01:00"), Some(jan));
        assert_eq!(parse_date_ms("2020-01-01T00:00:01.5"), Some(jan + 1500));
        assert_eq!(parse_date_ms("yesterday"), None);
        assert_eq!(parse_date_ms("2020-13"), None);
        assert_eq!(
            DateRange::year(2020),
            DateRange::new(jan, 1_609_459_200_000)
        );
        assert!(DateRange::instant(jan).contains(jan));
        assert!(!DateRange::instant(jan).contains(jan + 1));
    }
}
