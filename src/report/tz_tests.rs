//! Reports in a local time zone: day boundaries, the days clocks change (Europe/Berlin,
//! 2026-03-29: 02:00 CET → 03:00 CEST, a 23-hour day; 2026-10-25: 03:00 CEST → 02:00 CET, a
//! 25-hour day), hourly buckets and the forecast's half-hours.

use jiff::civil::date;
use jiff::tz::TimeZone;

use super::facts::{Context, Dataset, queue_facts};
use super::metrics::{self, Options};
use super::period::{self, Bound, Period, Relative};
use super::render::Format;
use super::tables::{self, Kind};
use crate::store::QueueEventRecord;

const H: i64 = 3600;

fn berlin() -> TimeZone {
    period::parse_tz("Europe/Berlin").unwrap()
}

/// 2024-05-06 00:00:00 UTC, a Monday.
const MAY6: i64 = 1_714_953_600;

/// The local day `d` in Berlin as a period, as `--from d --to d` makes it.
fn berlin_day(y: i16, m: i8, d: i8) -> Period {
    let b = Bound::Date(date(y, m, d));
    Period::new(Some(b.start(&berlin())), Some(b.end(&berlin()))).unwrap()
}

/// One queue call entering at each unix second in `at`, abandoned 10 s later.
fn calls(at: impl IntoIterator<Item = i64>) -> Dataset {
    let mut events = Vec::new();
    for (i, t) in at.into_iter().enumerate() {
        let id = format!("c{i}");
        let ev = |at: i64, event: &str, data: &[&str]| QueueEventRecord {
            at_ms: at * 1000,
            call_id: id.clone(),
            queue: "support".into(),
            agent: "NONE".into(),
            event: event.into(),
            data: data.iter().map(|d| d.to_string()).collect(),
        };
        events.push(ev(t, "ENTERQUEUE", &["", "+4930111", "1"]));
        events.push(ev(t + 10, "ABANDON", &["1", "1", "10"]));
    }
    Dataset::from_records(Vec::new(), events)
}

fn opt(p: Period, tz: TimeZone) -> Options {
    let mut o = Options::new(p, (p.to.unwrap() + 30 * 86_400) * 1000);
    o.tz = tz;
    o
}

/// Offered per local hour 0–23, and per weekday Mon–Sun.
fn offered(data: &Dataset, o: &Options) -> (Vec<u64>, Vec<u64>) {
    let rows = metrics::hourly(data, &Context::default(), o);
    let v: Vec<u64> = rows.iter().map(|r| r.stats.offered).collect();
    (v[..24].to_vec(), v[24..].to_vec())
}

#[test]
fn a_berlin_day_starts_at_local_midnight_and_calls_fall_on_local_hours_and_weekdays() {
    // CEST is UTC+2: the local Monday 2024-05-06 is 05-05 22:00 to 05-06 22:00 UTC.
    let p = berlin_day(2024, 5, 6);
    assert_eq!(p.from, Some(MAY6 - 2 * H));
    assert_eq!(p.to, Some(MAY6 + 22 * H));
    // 21:30 UTC Monday is 23:30 Monday in Berlin (inside); 22:30 UTC is 00:30 Tuesday.
    let (late, next) = (MAY6 + 21 * H + 1800, MAY6 + 22 * H + 1800);
    assert!(p.contains(late) && !p.contains(next));
    assert_eq!(period::hour(late, &berlin()), 23);
    assert_eq!(period::hour(next, &berlin()), 0);
    assert_eq!(period::WEEKDAYS[period::weekday(next, &berlin())], "Tue");
    assert_eq!(
        period::WEEKDAYS[period::weekday(next, &TimeZone::UTC)],
        "Mon"
    );
    assert_eq!(period::local_time(next, &berlin()), "2024-05-07 00:30:00");
    // Calls at 23:30 and 00:30 UTC of Sunday/Monday: both on the Berlin Monday, at 01 and 02.
    let d = calls([MAY6 - 1800, MAY6 + 1800, late, next]);
    let (hours, days) = offered(&d, &opt(p, berlin()));
    assert_eq!((hours[1], hours[2], hours[23], hours[0]), (1, 1, 1, 0));
    assert_eq!(days, [3, 0, 0, 0, 0, 0, 0]);
    // The same records in UTC: the UTC Monday holds the last three, on their UTC hours.
    let utc = Bound::Date(date(2024, 5, 6));
    let p_utc = Period::new(
        Some(utc.start(&TimeZone::UTC)),
        Some(utc.end(&TimeZone::UTC)),
    )
    .unwrap();
    let (hours, days) = offered(&d, &opt(p_utc, TimeZone::UTC));
    assert_eq!((hours[0], hours[21], hours[22], hours[23]), (1, 1, 1, 0));
    assert_eq!(days, [3, 0, 0, 0, 0, 0, 0]);
    // Relative periods are local days too: at 23:30 Berlin "today" is still Monday.
    assert_eq!(Period::relative(Relative::Today, late, &berlin()), p);
    assert_eq!(
        Period::relative(Relative::Yesterday, next, &berlin()),
        p,
        "00:30 Tuesday"
    );
    let week = Period::relative(Relative::Week, next, &berlin());
    assert_eq!(week.from, p.from);
    assert_eq!(week.to, Some(MAY6 + 7 * 86_400 - 2 * H));
    let month = Period::relative(Relative::Month, late, &berlin());
    assert_eq!(month.from, Some(1_714_514_400)); // 2024-04-30T22:00:00Z
    assert_eq!(
        Period::days_before_today(1, next, &berlin()),
        p,
        "the day before Tuesday"
    );
}

#[test]
fn the_spring_forward_day_has_23_hours_and_no_local_hour_02() {
    let p = berlin_day(2026, 3, 29);
    // 00:00 CET = 2026-03-28T23:00Z; the next midnight is CEST, 2026-03-29T22:00Z.
    assert_eq!(period::rfc3339(p.from.unwrap()), "2026-03-28T23:00:00Z");
    assert_eq!(period::rfc3339(p.to.unwrap()), "2026-03-29T22:00:00Z");
    assert_eq!(p.to.unwrap() - p.from.unwrap(), 23 * H);
    let now = p.from.unwrap() + 12 * H;
    assert_eq!(Period::relative(Relative::Today, now, &berlin()), p);
    // One call at every whole hour of the day, and one just outside on each side.
    let from = p.from.unwrap();
    let d = calls((-1..24).map(|h| from + h * H));
    let o = opt(p, berlin());
    let (hours, days) = offered(&d, &o);
    let mut want = vec![1; 24];
    want[2] = 0; // 02:00–02:59 does not exist that day
    assert_eq!(hours, want);
    assert_eq!(days, [0, 0, 0, 0, 0, 0, 23]);
    // The forecast's half-hours by the wall clock: nothing at 02:00/02:30, one Sunday.
    let h = super::forecast::history(&queue_facts(&d.events, o.now_ms), &o).unwrap();
    assert_eq!(h.days, [0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&h.arrivals[6][2..8], &[1, 0, 0, 0, 1, 0]);
    assert_eq!(h.arrivals[6].iter().sum::<u64>(), 23);
    // The table says which zone; the times in it are local, the JSON bounds absolute.
    let t = tables::build(Kind::Hourly, &d, &Context::default(), &o);
    assert!(
        t.title()
            .starts_with("hourly: 2026-03-29 00:00:00 to 2026-03-30 00:00:00 Europe/Berlin"),
        "{}",
        t.title()
    );
    let json = t.render(Format::Json);
    assert!(
        json.contains(
            "\"from\": \"2026-03-28T23:00:00Z\",\n  \"to\": \"2026-03-29T22:00:00Z\",\n  \
             \"time_zone\": \"Europe/Berlin\",\n"
        ),
        "{json}"
    );
}

#[test]
fn the_fall_back_day_has_25_hours_and_local_hour_02_twice() {
    let p = berlin_day(2026, 10, 25);
    assert_eq!(period::rfc3339(p.from.unwrap()), "2026-10-24T22:00:00Z");
    assert_eq!(period::rfc3339(p.to.unwrap()), "2026-10-25T23:00:00Z");
    assert_eq!(p.to.unwrap() - p.from.unwrap(), 25 * H);
    let from = p.from.unwrap();
    let d = calls((-1..26).map(|h| from + h * H));
    let o = opt(p, berlin());
    let (hours, days) = offered(&d, &o);
    let mut want = vec![1; 24];
    want[2] = 2; // 02:00 CEST and 02:00 CET
    assert_eq!(hours, want);
    assert_eq!(days, [0, 0, 0, 0, 0, 0, 25]);
    let h = super::forecast::history(&queue_facts(&d.events, o.now_ms), &o).unwrap();
    assert_eq!(h.days, [0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&h.arrivals[6][2..8], &[1, 0, 2, 0, 1, 0]);
    // The week around it (Monday 10-19 to Monday 10-26) has 7 × 24 + 1 hours; the month of
    // March 2026 one hour less than 31 days.
    let week = Period::relative(Relative::Week, from + 12 * H, &berlin());
    assert_eq!(period::rfc3339(week.from.unwrap()), "2026-10-18T22:00:00Z");
    assert_eq!(week.to.unwrap() - week.from.unwrap(), (7 * 24 + 1) * H);
    let march = Period::relative(
        Relative::Month,
        berlin_day(2026, 3, 15).from.unwrap(),
        &berlin(),
    );
    assert_eq!(march.to.unwrap() - march.from.unwrap(), 31 * 24 * H - H);
}

#[test]
fn time_zone_names_are_iana_names() {
    assert_eq!(period::tz_name(&berlin()), "Europe/Berlin");
    assert_eq!(period::tz_name(&period::parse_tz("UTC").unwrap()), "UTC");
    assert_eq!(period::tz_name(&TimeZone::UTC), "UTC");
    let err = period::parse_tz("Mars/Olympus").unwrap_err();
    assert!(err.contains("Europe/Berlin"), "{err}");
    assert!(period::parse_bound("2026-02-30").is_err());
    assert_eq!(
        period::parse_bound("2026-03-29"),
        Ok(Bound::Date(date(2026, 3, 29)))
    );
    assert_eq!(period::parse_bound("1714953600"), Ok(Bound::Unix(MAY6)));
    // Unix seconds are instants whatever the zone.
    assert_eq!(Bound::Unix(MAY6).start(&berlin()), MAY6);
    assert_eq!(Bound::Unix(MAY6).end(&berlin()), MAY6);
    let err = Period::new_in(Some(MAY6), Some(MAY6), &berlin()).unwrap_err();
    assert_eq!(
        err,
        "empty period: --from 2024-05-06 02:00:00 Europe/Berlin is not before --to \
         2024-05-06 02:00:00 Europe/Berlin (the end is exclusive)"
    );
}
