//! The time a report covers: `[from, to)` in unix seconds, UTC.
//!
//! Dates are UTC days. `--from DATE` starts at 00:00 UTC of that day; `--to DATE` ends at the
//! end of that day (00:00 UTC of the next one), so `--from 2024-05-01 --to 2024-05-31` is all
//! of May. Unix seconds are instants, `--to` exclusive. The relative periods are whole UTC
//! days, weeks (ISO: Monday to Sunday) and calendar months containing "today", which the
//! caller passes in (only `main.rs` reads the clock).

use jiff::civil::Date;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// A half-open range of unix seconds; `None` is unbounded on that side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// First second included.
    pub from: Option<i64>,
    /// First second not included.
    pub to: Option<i64>,
}

/// A period relative to today (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relative {
    /// Today, 00:00 to 24:00 UTC.
    Today,
    /// The day before today.
    Yesterday,
    /// This ISO week, Monday 00:00 to the next Monday 00:00 UTC.
    Week,
    /// This calendar month.
    Month,
}

impl Period {
    /// Everything.
    pub const ALL: Period = Period {
        from: None,
        to: None,
    };

    /// `[from, to)` from optional bounds, refusing an empty range.
    pub fn new(from: Option<i64>, to: Option<i64>) -> Result<Period, String> {
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(format!(
                "empty period: --from {} is not before --to {} (the end is exclusive)",
                utc_time(f),
                utc_time(t)
            ));
        }
        Ok(Period { from, to })
    }

    /// The relative period `r` around the day that contains `now` (unix seconds).
    pub fn relative(r: Relative, now: i64) -> Period {
        let today = now.div_euclid(DAY);
        let (from, to) = match r {
            Relative::Today => (today, today + 1),
            Relative::Yesterday => (today - 1, today),
            Relative::Week => {
                let monday = today - weekday(today * DAY) as i64;
                (monday, monday + 7)
            }
            Relative::Month => {
                let d = date_of_day(today);
                let first = d.first_of_month();
                let next = first.last_of_month().tomorrow().unwrap_or(first);
                (day_of_date(first), day_of_date(next))
            }
        };
        Period {
            from: Some(from * DAY),
            to: Some(to * DAY),
        }
    }

    /// The `n` whole UTC days before the day that contains `now`.
    pub fn days_before_today(n: i64, now: i64) -> Period {
        let today = now.div_euclid(DAY) * DAY;
        Period {
            from: Some(today - n * DAY),
            to: Some(today),
        }
    }

    /// True when unix second `t` is inside.
    pub fn contains(&self, t: i64) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    /// True when unix millisecond `ms` is inside.
    pub fn contains_ms(&self, ms: i64) -> bool {
        self.contains(ms.div_euclid(1000))
    }

    /// The period in milliseconds, unbounded sides as `i64::MIN` / `i64::MAX`.
    pub fn ms_bounds(&self) -> (i64, i64) {
        (
            self.from.map_or(i64::MIN, |f| f.saturating_mul(1000)),
            self.to.map_or(i64::MAX, |t| t.saturating_mul(1000)),
        )
    }
}

/// Parses a `--from` value: `YYYY-MM-DD` (00:00 UTC of that day) or unix seconds.
pub fn parse_from(s: &str) -> Result<i64, String> {
    super::parse_time_bound(s).map(|ms| ms / 1000)
}

/// Parses a `--to` value: `YYYY-MM-DD` (the end of that UTC day, i.e. 00:00 UTC of the next
/// one) or unix seconds (exclusive).
pub fn parse_to(s: &str) -> Result<i64, String> {
    let secs = super::parse_time_bound(s)? / 1000;
    if s.trim().contains('-') {
        Ok(secs + DAY)
    } else {
        Ok(secs)
    }
}

/// Parses a `--target` service level: `PERCENT/SECONDS`, e.g. `80/20` (80 % of calls answered
/// within 20 s). Returns (fraction, seconds).
pub fn parse_target(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{s:?}: expected PERCENT/SECONDS, e.g. 80/20");
    let (p, t) = s.trim().split_once('/').ok_or_else(bad)?;
    let p: f64 = p.trim().trim_end_matches('%').parse().map_err(|_| bad())?;
    let t: f64 = t.trim().trim_end_matches('s').parse().map_err(|_| bad())?;
    if !(p > 0.0 && p < 100.0) {
        return Err(format!(
            "{s:?}: the percentage must be above 0 and below 100 (Erlang C never reaches 100 %)"
        ));
    }
    if !(t.is_finite() && t >= 0.0) {
        return Err(format!("{s:?}: the answer time must be 0 seconds or more"));
    }
    Ok((p / 100.0, t))
}

/// Day of the week of unix second `t` (UTC), Monday = 0 … Sunday = 6.
pub fn weekday(t: i64) -> usize {
    // 1970-01-01 was a Thursday (3).
    (t.div_euclid(DAY) + 3).rem_euclid(7) as usize
}

/// Hour of the day of unix second `t` (UTC), 0–23.
pub fn hour(t: i64) -> usize {
    (t.rem_euclid(DAY) / 3600) as usize
}

/// Short English weekday names, Monday first.
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn date_of_day(day: i64) -> Date {
    let (y, m, d) = crate::time::civil_from_days(day);
    Date::new(y as i16, m as i8, d as i8).unwrap_or_default()
}

fn day_of_date(d: Date) -> i64 {
    d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second().div_euclid(DAY))
        .unwrap_or(0)
}

/// Unix seconds as `2024-05-01 09:30:00` (UTC).
pub fn utc_time(t: i64) -> String {
    match jiff::Timestamp::from_second(t) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => t.to_string(),
    }
}

/// Unix seconds as RFC 3339, `2024-05-01T09:30:00Z`.
pub fn rfc3339(t: i64) -> String {
    match jiff::Timestamp::from_second(t) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01 00:00:00 UTC, a Wednesday.
    const MAY1: i64 = 1_714_521_600;

    #[test]
    fn from_and_to_take_utc_dates_or_unix_seconds_and_to_dates_include_the_day() {
        assert_eq!(parse_from("2024-05-01"), Ok(MAY1));
        assert_eq!(parse_to("2024-05-01"), Ok(MAY1 + DAY));
        assert_eq!(parse_from("1714521600"), Ok(MAY1));
        assert_eq!(parse_to("1714521600"), Ok(MAY1));
        assert!(parse_to("May 1").is_err());
        let p = Period::new(Some(MAY1), parse_to("2024-05-31").ok()).unwrap();
        assert_eq!(p.to, Some(MAY1 + 31 * DAY));
        assert!(p.contains(MAY1) && !p.contains(MAY1 - 1) && !p.contains(MAY1 + 31 * DAY));
        assert!(p.contains_ms(MAY1 * 1000) && !p.contains_ms(MAY1 * 1000 - 1));
        let err = Period::new(Some(MAY1), Some(MAY1)).unwrap_err();
        assert_eq!(
            err,
            "empty period: --from 2024-05-01 00:00:00 is not before --to 2024-05-01 00:00:00 \
             (the end is exclusive)"
        );
        assert_eq!(Period::ALL.ms_bounds(), (i64::MIN, i64::MAX));
    }

    #[test]
    fn relative_periods_are_whole_utc_days_iso_weeks_and_months() {
        let now = MAY1 + 2 * DAY + 13 * 3600; // Friday 2024-05-03 13:00 UTC
        let p = |r| Period::relative(r, now);
        assert_eq!(
            p(Relative::Today),
            Period::new(Some(MAY1 + 2 * DAY), Some(MAY1 + 3 * DAY)).unwrap()
        );
        assert_eq!(p(Relative::Yesterday).from, Some(MAY1 + DAY));
        assert_eq!(p(Relative::Yesterday).to, Some(MAY1 + 2 * DAY));
        // Monday 2024-04-29 to Monday 2024-05-06.
        assert_eq!(p(Relative::Week).from, Some(MAY1 - 2 * DAY));
        assert_eq!(p(Relative::Week).to, Some(MAY1 + 5 * DAY));
        assert_eq!(p(Relative::Month).from, Some(MAY1));
        assert_eq!(p(Relative::Month).to, Some(MAY1 + 31 * DAY));
        // February of a leap year; a Monday is in its own week.
        let feb = Period::relative(Relative::Month, 1_709_164_800); // 2024-02-29
        assert_eq!(feb.to.unwrap() - feb.from.unwrap(), 29 * DAY);
        let monday = MAY1 + 5 * DAY;
        assert_eq!(Period::relative(Relative::Week, monday).from, Some(monday));
        assert_eq!(
            Period::days_before_today(28, now),
            Period::new(Some(MAY1 + 2 * DAY - 28 * DAY), Some(MAY1 + 2 * DAY)).unwrap()
        );
        // December rolls into the next year.
        let dec = Period::relative(Relative::Month, 1_735_603_200); // 2024-12-31
        assert_eq!(dec.to, Some(1_735_689_600)); // 2025-01-01
    }

    #[test]
    fn weekdays_hours_and_times_are_utc() {
        assert_eq!(WEEKDAYS[weekday(MAY1)], "Wed");
        assert_eq!(WEEKDAYS[weekday(MAY1 + 5 * DAY - 1)], "Sun");
        assert_eq!(WEEKDAYS[weekday(0)], "Thu");
        assert_eq!(WEEKDAYS[weekday(-1)], "Wed");
        assert_eq!(hour(MAY1 + 9 * 3600 + 59 * 60), 9);
        assert_eq!(hour(-1), 23);
        assert_eq!(utc_time(MAY1 + 3661), "2024-05-01 01:01:01");
        assert_eq!(rfc3339(MAY1 + 3661), "2024-05-01T01:01:01Z");
    }

    #[test]
    fn targets_are_percent_over_seconds() {
        assert_eq!(parse_target("80/20"), Ok((0.8, 20.0)));
        assert_eq!(parse_target(" 90% / 15s "), Ok((0.9, 15.0)));
        assert_eq!(parse_target("80/0"), Ok((0.8, 0.0)));
        for bad in ["80", "100/20", "0/20", "80/-1", "x/20", "80/20/1"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
