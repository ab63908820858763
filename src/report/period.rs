//! The time a report covers: `[from, to)` in unix seconds, and the time zone its dates,
//! days, hours and weekdays are read in.
//!
//! Dates are local days of the report's time zone. `--from DATE` starts at local midnight
//! of that day; `--to DATE` ends at the end of that day (local midnight of the next one),
//! so `--from 2024-05-01 --to 2024-05-31` is all of May. A day is as long as the zone makes
//! it: 23 hours on the day clocks go forward, 25 on the day they go back. Unix seconds are
//! instants, whatever the zone, `--to` exclusive. The relative periods are whole local days,
//! weeks (ISO: Monday to Sunday) and calendar months containing "today", which the caller
//! passes in (only `main.rs` reads the clock).

use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Seconds in a (UTC) day.
pub const DAY: i64 = 86_400;

/// A half-open range of unix seconds; `None` is unbounded on that side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// First second included.
    pub from: Option<i64>,
    /// First second not included.
    pub to: Option<i64>,
}

/// A period relative to today (local).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relative {
    /// Today, local midnight to the next local midnight.
    Today,
    /// The day before today.
    Yesterday,
    /// This ISO week, Monday 00:00 to the next Monday 00:00 (local).
    Week,
    /// This calendar month.
    Month,
}

/// A `--from`/`--to` value before the time zone is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `YYYY-MM-DD`: a local day.
    Date(Date),
    /// Unix seconds: an instant.
    Unix(i64),
}

impl Bound {
    /// As a `--from`: local midnight at the start of the day, or the instant.
    pub fn start(self, tz: &TimeZone) -> i64 {
        match self {
            Bound::Date(d) => day_start(d, tz),
            Bound::Unix(t) => t,
        }
    }

    /// As a `--to`: local midnight at the end of the day (the day included), or the instant
    /// (exclusive).
    pub fn end(self, tz: &TimeZone) -> i64 {
        match self {
            Bound::Date(d) => day_start(d.tomorrow().unwrap_or(d), tz),
            Bound::Unix(t) => t,
        }
    }
}

/// Parses a `--from`/`--to` value: `YYYY-MM-DD` or unix seconds.
pub fn parse_bound(s: &str) -> Result<Bound, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .filter(|v| v.checked_mul(1000).is_some())
            .map(Bound::Unix)
            .ok_or_else(|| format!("{t}: unix seconds out of range"));
    }
    let shape = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return Err(format!(
            "{t:?}: expected a date YYYY-MM-DD (local to --tz) or unix seconds"
        ));
    }
    t.parse::<Date>()
        .map(Bound::Date)
        .map_err(|e| format!("{t}: {e}"))
}

/// Parses a `--tz` value: an IANA time zone name (`Europe/Berlin`, `UTC`).
pub fn parse_tz(s: &str) -> Result<TimeZone, String> {
    TimeZone::get(s.trim()).map_err(|_| {
        format!("{s:?}: not a time zone of the IANA database, e.g. Europe/Berlin or UTC")
    })
}

/// The name of `tz` as reports print it (`UTC`, `Europe/Berlin`).
pub fn tz_name(tz: &TimeZone) -> String {
    tz.iana_name()
        .map_or_else(|| "UTC".to_owned(), str::to_owned)
}

impl Period {
    /// Everything.
    pub const ALL: Period = Period {
        from: None,
        to: None,
    };

    /// `[from, to)` from optional bounds, refusing an empty range.
    pub fn new(from: Option<i64>, to: Option<i64>) -> Result<Period, String> {
        Period::checked(from, to, &TimeZone::UTC, "")
    }

    /// [`Period::new`], the error naming the bounds as local times in `tz`.
    pub fn new_in(from: Option<i64>, to: Option<i64>, tz: &TimeZone) -> Result<Period, String> {
        Period::checked(from, to, tz, &format!(" {}", tz_name(tz)))
    }

    fn checked(
        from: Option<i64>,
        to: Option<i64>,
        tz: &TimeZone,
        zone: &str,
    ) -> Result<Period, String> {
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(format!(
                "empty period: --from {}{zone} is not before --to {}{zone} (the end is exclusive)",
                local_time(f, tz),
                local_time(t, tz)
            ));
        }
        Ok(Period { from, to })
    }

    /// The relative period `r` around the local day (in `tz`) that contains `now` (unix
    /// seconds).
    pub fn relative(r: Relative, now: i64, tz: &TimeZone) -> Period {
        let today = local_date(now, tz);
        let next = |d: Date| d.tomorrow().unwrap_or(d);
        let (from, to) = match r {
            Relative::Today => (today, next(today)),
            Relative::Yesterday => (today.yesterday().unwrap_or(today), today),
            Relative::Week => {
                let back = i64::from(today.weekday().to_monday_zero_offset());
                let monday = add_days(today, -back);
                (monday, add_days(monday, 7))
            }
            Relative::Month => {
                let first = today.first_of_month();
                (first, next(first.last_of_month()))
            }
        };
        Period {
            from: Some(day_start(from, tz)),
            to: Some(day_start(to, tz)),
        }
    }

    /// The `n` whole local days (in `tz`) before the day that contains `now`.
    pub fn days_before_today(n: i64, now: i64, tz: &TimeZone) -> Period {
        let today = local_date(now, tz);
        Period {
            from: Some(day_start(add_days(today, -n), tz)),
            to: Some(day_start(today, tz)),
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

/// Parses a `--from` value in UTC: `YYYY-MM-DD` (00:00 UTC of that day) or unix seconds.
pub fn parse_from(s: &str) -> Result<i64, String> {
    parse_bound(s).map(|b| b.start(&TimeZone::UTC))
}

/// Parses a `--to` value in UTC: `YYYY-MM-DD` (the end of that UTC day, i.e. 00:00 UTC of
/// the next one) or unix seconds (exclusive).
pub fn parse_to(s: &str) -> Result<i64, String> {
    parse_bound(s).map(|b| b.end(&TimeZone::UTC))
}

/// The first second of local day `d` in `tz` (local midnight; if midnight is skipped by a
/// clock change, the first instant of that day).
pub fn day_start(d: Date, tz: &TimeZone) -> i64 {
    d.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_second())
        .unwrap_or_else(|_| days_of(d) * DAY)
}

/// The local date of unix second `t` in `tz`.
pub fn local_date(t: i64, tz: &TimeZone) -> Date {
    local(t, tz).date()
}

fn local(t: i64, tz: &TimeZone) -> jiff::civil::DateTime {
    let ts = jiff::Timestamp::from_second(t).unwrap_or_default();
    tz.to_datetime(ts)
}

fn add_days(d: Date, n: i64) -> Date {
    let days = days_of(d) + n;
    let (y, m, dd) = crate::time::civil_from_days(days);
    Date::new(y as i16, m as i8, dd as i8).unwrap_or(d)
}

fn days_of(d: Date) -> i64 {
    d.to_zoned_datetime(TimeZone::UTC)
        .map(|z| z.timestamp().as_second().div_euclid(DAY))
        .unwrap_or(0)
}

/// The local days in `tz` that overlap `[from, to)`, as their weekdays (Monday = 0).
pub fn local_weekdays(from: i64, to: i64, tz: &TimeZone) -> Vec<usize> {
    let mut out = Vec::new();
    let mut d = local_date(from, tz);
    while day_start(d, tz) < to {
        out.push(d.weekday().to_monday_zero_offset() as usize);
        let Ok(next) = d.tomorrow() else { break };
        d = next;
    }
    out
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

/// Day of the week of unix second `t` in `tz`, Monday = 0 … Sunday = 6.
pub fn weekday(t: i64, tz: &TimeZone) -> usize {
    local(t, tz).weekday().to_monday_zero_offset() as usize
}

/// Local hour of the day of unix second `t` in `tz`, 0–23. In the hour that repeats when
/// clocks go back both passes are the same hour; the hour skipped when they go forward never
/// occurs.
pub fn hour(t: i64, tz: &TimeZone) -> usize {
    local(t, tz).hour() as usize
}

/// Local half-hour of the day of unix second `t` in `tz`, 0–47 (like [`hour`]).
pub fn half_hour(t: i64, tz: &TimeZone) -> usize {
    let l = local(t, tz);
    l.hour() as usize * 2 + usize::from(l.minute() >= 30)
}

/// Short English weekday names, Monday first.
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Unix seconds as `2024-05-01 09:30:00` (UTC).
pub fn utc_time(t: i64) -> String {
    local_time(t, &TimeZone::UTC)
}

/// Unix seconds as `2024-05-01 09:30:00`, the wall-clock time in `tz`.
pub fn local_time(t: i64, tz: &TimeZone) -> String {
    match jiff::Timestamp::from_second(t) {
        Ok(ts) => tz.to_datetime(ts).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => t.to_string(),
    }
}

/// Unix seconds as RFC 3339, `2024-05-01T09:30:00Z`.
pub fn rfc3339(t: i64) -> String {
    let mut s = String::with_capacity(20);
    push_rfc3339(&mut s, t);
    s
}

/// 9999-01-01T00:00:00Z: the direct path stops at the end of 9998 (jiff's timestamps end on
/// 9999-12-30, later seconds print as numbers).
const YEAR_9999_S: i64 = 253_370_764_800;

/// [`rfc3339`] appended to `out`. The call list writes three per row, so the usual years
/// (1970–9998) are computed directly — the civil date of a day number by the proleptic
/// Gregorian era arithmetic (H. Hinnant, "chrono-compatible low-level date algorithms") —
/// instead of through `strftime`; other times go through jiff (same text; a test compares).
pub fn push_rfc3339(out: &mut String, t: i64) {
    if !(0..YEAR_9999_S).contains(&t) {
        match jiff::Timestamp::from_second(t) {
            Ok(ts) => out.push_str(&ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
            Err(_) => out.push_str(&t.to_string()),
        }
        return;
    }
    let (days, secs) = (t / DAY, t % DAY);
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut b = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, secs / 3600);
    put(14, 2, secs / 60 % 60);
    put(17, 2, secs % 60);
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
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
        let p = |r| Period::relative(r, now, &TimeZone::UTC);
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
        let feb = Period::relative(Relative::Month, 1_709_164_800, &TimeZone::UTC); // 2024-02-29
        assert_eq!(feb.to.unwrap() - feb.from.unwrap(), 29 * DAY);
        let monday = MAY1 + 5 * DAY;
        assert_eq!(
            Period::relative(Relative::Week, monday, &TimeZone::UTC).from,
            Some(monday)
        );
        assert_eq!(
            Period::days_before_today(28, now, &TimeZone::UTC),
            Period::new(Some(MAY1 + 2 * DAY - 28 * DAY), Some(MAY1 + 2 * DAY)).unwrap()
        );
        // December rolls into the next year.
        let dec = Period::relative(Relative::Month, 1_735_603_200, &TimeZone::UTC); // 2024-12-31
        assert_eq!(dec.to, Some(1_735_689_600)); // 2025-01-01
    }

    #[test]
    fn weekdays_hours_and_times_are_utc() {
        assert_eq!(WEEKDAYS[weekday(MAY1, &TimeZone::UTC)], "Wed");
        assert_eq!(WEEKDAYS[weekday(MAY1 + 5 * DAY - 1, &TimeZone::UTC)], "Sun");
        assert_eq!(WEEKDAYS[weekday(0, &TimeZone::UTC)], "Thu");
        assert_eq!(WEEKDAYS[weekday(-1, &TimeZone::UTC)], "Wed");
        assert_eq!(hour(MAY1 + 9 * 3600 + 59 * 60, &TimeZone::UTC), 9);
        assert_eq!(hour(-1, &TimeZone::UTC), 23);
        assert_eq!(utc_time(MAY1 + 3661), "2024-05-01 01:01:01");
        assert_eq!(rfc3339(MAY1 + 3661), "2024-05-01T01:01:01Z");
    }

    #[test]
    fn rfc3339_is_jiffs_text_for_every_year_and_out_of_range() {
        let jiff_text = |t: i64| match jiff::Timestamp::from_second(t) {
            Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Err(_) => t.to_string(),
        };
        let mut samples = vec![
            0,
            -1,
            1,
            951_782_399,   // 2000-02-28T23:59:59
            951_868_800,   // 2000-03-01 (2000 is a leap year)
            4_107_542_400, // 2100-03-01 (2100 is not)
            YEAR_9999_S - 1,
            YEAR_9999_S,
            253_402_300_799, // 9999-12-31T23:59:59, past jiff's range
            -62_135_596_800, // 0001-01-01
            i64::MIN,
            i64::MAX,
        ];
        // Every day boundary ± 1 s over 1969-2101, and a spread of times up to 9999.
        let mut day = -DAY;
        while day < 4_133_894_400 {
            samples.extend([day - 1, day, day + 43_199]);
            day += DAY;
        }
        let mut x: i64 = 12_345;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            samples.push(x.rem_euclid(YEAR_9999_S + 400 * DAY));
        }
        for t in samples {
            assert_eq!(rfc3339(t), jiff_text(t), "t = {t}");
        }
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
