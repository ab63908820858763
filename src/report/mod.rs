//! Manager reports over the store (the read side).
//!
//! The numbers are pure functions of the records they are given ([`metrics`], over the
//! interpretation of the records in [`facts`]; the Erlang C forecast in [`forecast`]), laid
//! out as one table per report ([`tables`]) and written as an aligned table, CSV or JSON
//! ([`render`]). The only IO here is reading the database through [`crate::store`]'s read
//! functions ([`load`], [`queue_log`]); writing the result (stdout, a file) and reading the
//! clock are the caller's business. Every column's definition is in [`help`], in README.md
//! and in `zvon report <name> --help`.
//!
//! # `queue-log`
//!
//! [`queue_log_text`] writes the queue event log in Asterisk's `queue_log` text format, one
//! line per event:
//!
//! ```text
//! unixseconds|callid|queue|agent|EVENT|data1|data2|...
//! 1366720340|1366720340.303267|support|NONE|ENTERQUEUE||1001|1
//! 1366720340|NONE|NONE|Agent/1001|ADDMEMBER|
//! ```
//!
//! Like Asterisk, the time is whole seconds (the store keeps milliseconds). Trailing empty data
//! fields are left off, but an event never has fewer data fields than Asterisk's layout for it
//! ([`min_data_fields`]; at least one, so an event without data ends in a single empty `data1`).
//! A `|`, a line break or any other control character inside a field is written as a space, so
//! a field can neither split into two nor start a new line. Nothing else is changed: the fields
//! are in the order the ACD engine put them.

pub mod facts;
pub mod forecast;
pub mod help;
pub mod html;
pub mod metrics;
pub mod period;
pub mod render;
pub mod tables;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::store::{self, QueueEventRecord, StoreError};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// There is no database file (reports never create one).
    #[error("no database at {} — has zvon run with this state dir?", path.display())]
    NoDatabase {
        /// The file looked for.
        path: PathBuf,
    },
    /// `since` is not before `until`, so nothing could match.
    #[error(
        "empty time range: since {} is not before until {} (until is exclusive)",
        utc(*since_ms),
        utc(*until_ms)
    )]
    EmptyRange {
        /// Unix milliseconds.
        since_ms: i64,
        /// Unix milliseconds.
        until_ms: i64,
    },
    /// Reading the database failed.
    #[error(transparent)]
    Store(StoreError),
    /// Writing the report failed ([`write_calls`]).
    #[error("cannot write the report: {0}")]
    Write(#[source] std::io::Error),
}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Missing { path } => ReportError::NoDatabase { path },
            other => ReportError::Store(other),
        }
    }
}

/// The queue events of the database at `db` with `since_ms <= at_ms < until_ms`, as
/// [`queue_log_text`]. A missing database is [`ReportError::NoDatabase`].
pub fn queue_log(
    db: &Path,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
) -> Result<String, ReportError> {
    if let (Some(since_ms), Some(until_ms)) = (since_ms, until_ms) {
        if since_ms >= until_ms {
            return Err(ReportError::EmptyRange { since_ms, until_ms });
        }
    }
    let events = store::queue_events(db, since_ms, until_ms)?;
    Ok(queue_log_text(&events))
}

/// How far before the period queue events are read: agents logged in or paused before the
/// period start are seen, so their time inside the period counts.
pub const LOOKBACK_S: i64 = period::DAY;
/// How far after the period queue events are read: a call that entered the queue in the
/// period is followed to its answer and end.
pub const LOOKAHEAD_S: i64 = period::DAY;

/// Which records a report reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The CDRs started in the period, kept (`calls`).
    pub cdrs: bool,
    /// The summary, folded from the CDRs started in the period as they are read.
    pub summary: bool,
    /// The IVR rows, folded from the CDRs started in the period as they are read.
    pub ivr: bool,
    /// The answered calls from the period's start to the end of the data (`abandoned`).
    pub answered: bool,
    /// The queue events, folded into queue facts as they are read.
    pub events: bool,
    /// With the events, the agents' timelines and counts (`agents`, the dashboard).
    pub timelines: bool,
    /// With the events, the visits' wrap-up (all but `abandoned`: the handle times).
    pub wrap_up: bool,
}

impl Needs {
    /// What report `kind` reads in `format` (the HTML summary is the dashboard).
    pub fn of(kind: tables::Kind, format: render::Format) -> Needs {
        use tables::Kind;
        let dashboard = kind == Kind::Summary && format == render::Format::Html;
        Needs {
            cdrs: kind == Kind::Calls,
            summary: kind == Kind::Summary,
            ivr: kind == Kind::Ivr,
            answered: kind == Kind::Abandoned,
            events: dashboard || !matches!(kind, Kind::Summary | Kind::Calls | Kind::Ivr),
            timelines: dashboard || kind == Kind::Agents,
            wrap_up: kind != Kind::Abandoned,
        }
    }

    /// The queue events only (the forecast).
    pub const EVENTS: Needs = Needs {
        cdrs: false,
        summary: false,
        ivr: false,
        answered: false,
        events: true,
        timelines: false,
        wrap_up: true,
    };
}

/// The records of `opt.period` that `needs` asks for, from the database at `db`: the CDRs
/// that started in the period (kept with only the callee leg answered first, all the reports
/// use, or folded into the summary and IVR rows as they are read), the answered calls from
/// its start on, and the queue events from [`LOOKBACK_S`] before to [`LOOKAHEAD_S`] after
/// it. The events are not kept: they are folded into [`facts::Dataset::facts`] as they are
/// read (intervals still open closing at `opt.now_ms`). A missing database is
/// [`ReportError::NoDatabase`], whatever is needed.
pub fn load(
    db: &Path,
    needs: Needs,
    ctx: &facts::Context,
    opt: &metrics::Options,
) -> Result<facts::Dataset, ReportError> {
    let period = &opt.period;
    let mut data = facts::Dataset::default();
    if needs.cdrs || !(needs.events || needs.answered || needs.summary || needs.ivr) {
        data.cdrs = store::cdrs_between(db, period.from, period.to, store::CdrLegs::FirstAnswered)?;
    }
    if needs.summary || needs.ivr {
        let mut summary = needs.summary.then(|| {
            // The stand-in for our extensions when the configuration names none: who
            // answered in the period (what [`facts::extensions`] takes from kept CDRs).
            let exts = facts::extensions(ctx, &data);
            metrics::SummaryFold::new(exts)
        });
        if let Some(f) = summary.as_mut().filter(|f| f.has_no_extensions()) {
            *f = metrics::SummaryFold::new(store::answerers_between(db, period.from, period.to)?);
        }
        let mut ivr = needs.ivr.then(metrics::IvrFold::default);
        store::for_each_cdr_first_answered(db, period.from, period.to, |c| {
            if let Some(f) = summary.as_mut() {
                f.add(c, opt);
            }
            if let Some(f) = ivr.as_mut() {
                f.add(c, opt);
            }
        })?;
        data.summary = summary.map(metrics::SummaryFold::finish);
        data.ivr = ivr.map(metrics::IvrFold::finish);
    }
    if needs.events {
        let since = period.from.map(|f| (f - LOOKBACK_S).saturating_mul(1000));
        let until = period.to.map(|t| (t + LOOKAHEAD_S).saturating_mul(1000));
        // The abandoned report's answered calls are read beside the fold, on a core the fold
        // leaves: all of them, as which numbers matter is known once the fold is done.
        let (facts, answered) = std::thread::scope(|scope| {
            let answered = needs.answered.then(|| {
                scope.spawn(|| {
                    let mut all = Vec::new();
                    store::for_each_answered_call(db, period.from, |caller, dialed, start| {
                        all.push((caller.to_owned(), dialed.to_owned(), start));
                    })
                    .map(|()| all)
                })
            });
            let push = |b: &mut facts::QueueFactsBuilder, ev: &store::QueueEventRef<'_>| b.push(ev);
            let facts = if needs.timelines {
                // The visits and the agents' timelines fold on two cores (the agent report's
                // fold was the limit of its year).
                store::for_each_queue_event_twice(
                    db,
                    since,
                    until,
                    (facts::QueueFactsBuilder::visits_only, push),
                    (|| facts::QueueFactsBuilder::agents_only(*period), push),
                )
                .map(|(v, a)| {
                    facts::QueueFactsBuilder::join(v.finish(opt.now_ms), a.finish(opt.now_ms))
                })
            } else {
                store::for_each_queue_event(
                    db,
                    since,
                    until,
                    || {
                        let b = facts::QueueFactsBuilder::visits_only();
                        if needs.wrap_up {
                            b
                        } else {
                            b.without_wrap_up()
                        }
                    },
                    push,
                )
                .map(|b| b.finish(opt.now_ms))
            };
            let answered =
                answered.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (facts, answered)
        });
        let qf = facts?;
        if let Some(all) = answered {
            // Only calls from or to a number that abandoned in the period matter to the
            // abandoned report (who has been reached since): keep those.
            let numbers: std::collections::HashSet<&str> = metrics::visits_in(&qf, opt)
                .filter(|v| v.outcome == facts::Outcome::Abandoned)
                .map(|v| v.caller.as_str())
                .collect();
            let mut all = all?;
            all.retain(|(caller, dialed, _)| {
                numbers.contains(caller.as_str()) || numbers.contains(dialed.as_str())
            });
            data.answered = all;
        }
        data.facts = Some(qf);
    } else if needs.answered {
        data.answered = store::answered_calls_since(db, period.from)?;
    }
    Ok(data)
}

/// `zvon report calls` in CSV or JSON, written to `out` as the CDRs are read (by start):
/// the same bytes as [`tables::render`] of the loaded records, without holding the period's
/// records or its text. `format` must be CSV or JSON (the aligned table needs every row for
/// its widths, HTML is one page: they go through [`load`]).
pub fn write_calls(
    db: &Path,
    ctx: &facts::Context,
    opt: &metrics::Options,
    format: render::Format,
    out: &mut dyn std::io::Write,
) -> Result<(), ReportError> {
    let period = &opt.period;
    let mut exts = facts::extensions(ctx, &facts::Dataset::default());
    if exts.is_empty() {
        exts = store::answerers_between(db, period.from, period.to)?;
    }
    let head = tables::calls(&[], opt);
    let json = format == render::Format::Json;
    let mut buf = String::with_capacity(1 << 17);
    if json {
        head.json_head(&mut buf);
    } else {
        head.csv_head(&mut buf);
    }
    let mut n = 0;
    let mut failed = None;
    let mut row = Vec::new();
    store::for_each_cdr_first_answered(db, period.from, period.to, |c| {
        if failed.is_some()
            || !period.contains(c.start as i64)
            || !metrics::call_matches(c, &opt.filter)
        {
            return;
        }
        let (direction, talk_s) = (facts::direction(c, &exts), facts::talk_s(c));
        tables::fill_call_cells(&mut row, c, direction, talk_s);
        if json {
            head.json_row(&mut buf, n, &row);
        } else {
            render::csv_row(&mut buf, &row);
        }
        n += 1;
        if buf.len() >= 1 << 16 {
            if let Err(e) = out.write_all(buf.as_bytes()) {
                failed = Some(e);
            }
            buf.clear();
        }
    })?;
    if let Some(e) = failed {
        return Err(ReportError::Write(e));
    }
    if json {
        render::Table::json_tail(&mut buf, n);
    }
    out.write_all(buf.as_bytes())
        .and_then(|()| out.flush())
        .map_err(ReportError::Write)
}

/// The events as Asterisk `queue_log` text: one `\n`-terminated line per event, in the order
/// given (see the module docs for the rules).
pub fn queue_log_text(events: &[QueueEventRecord]) -> String {
    let mut out = String::with_capacity(events.len() * 64);
    for ev in events {
        push_queue_log_line(&mut out, ev);
        out.push('\n');
    }
    out
}

fn push_queue_log_line(out: &mut String, ev: &QueueEventRecord) {
    // Asterisk writes `time(NULL)`: whole seconds, rounded down (also before 1970).
    out.push_str(&ev.at_ms.div_euclid(1000).to_string());
    for field in [&ev.call_id, &ev.queue, &ev.agent, &ev.event] {
        out.push('|');
        out.push_str(&sanitize(field));
    }
    let data: Vec<Cow<'_, str>> = ev.data.iter().map(|d| sanitize(d)).collect();
    let used = data
        .iter()
        .rposition(|d| !d.is_empty())
        .map_or(0, |i| i + 1);
    let n = used.max(min_data_fields(&ev.event));
    for i in 0..n {
        out.push('|');
        if let Some(d) = data.get(i) {
            out.push_str(d);
        }
    }
}

/// The number of data fields Asterisk's `app_queue.c` always writes for `event`; 1 for events
/// it writes without data, for custom events and for our own (`FULL`, `JOINEMPTY`, ...).
pub fn min_data_fields(event: &str) -> usize {
    match event {
        // url | callerid | position (Asterisk may add a 4th: the caller's name)
        "ENTERQUEUE" => 3,
        // holdtime | bridged channel uniqueid | ringtime
        "CONNECT" => 3,
        // holdtime | calltime | origposition
        "COMPLETECALLER" | "COMPLETEAGENT" => 3,
        // exten | context | holdtime | calltime | origposition
        "BLINDTRANSFER" => 5,
        // BRIDGE|id or APP|app (or LINK|chan1|chan2) | holdtime | calltime | origposition
        "ATTENDEDTRANSFER" => 5,
        // position | origposition | waittime
        "ABANDON" | "EXITWITHTIMEOUT" | "EXITEMPTY" => 3,
        // position | origposition | waittime [| withdraw info]
        "WITHDRAW" => 3,
        // key | position | origposition | waittime
        "EXITWITHKEY" => 4,
        // channel | logintime
        "AGENTLOGOFF" => 2,
        // status | talktime | params
        "OUTCALL" => 3,
        // RINGNOANSWER and RINGCANCELED (ms), PAUSE/UNPAUSE (reason),
        // ADDMEMBER/REMOVEMEMBER ("PAUSED" or empty), AGENTLOGIN, PENALTY, RINGINUSE, ...
        _ => 1,
    }
}

/// `field` with every `|` and control character (line breaks, tabs, NUL, ...) replaced by a
/// space.
fn sanitize(field: &str) -> Cow<'_, str> {
    let bad = |c: char| c == '|' || c.is_control();
    if field.contains(bad) {
        Cow::Owned(field.replace(bad, " "))
    } else {
        Cow::Borrowed(field)
    }
}

/// Unix milliseconds as an RFC 3339 UTC time (for messages).
fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| format!("{ms} ms"), |t| t.to_string())
}

/// Parses a `--since`/`--until` value: a date `YYYY-MM-DD`, meaning 00:00 UTC of that day, or
/// unix seconds. Returns unix milliseconds.
pub fn parse_time_bound(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
            .ok_or_else(|| format!("{s}: unix seconds out of range"));
    }
    let shape = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return Err(format!(
            "{s:?}: expected a date YYYY-MM-DD (UTC) or unix seconds"
        ));
    }
    let date: jiff::civil::Date = s.parse().map_err(|e| format!("{s}: {e}"))?;
    let day = date
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_err(|e| format!("{s}: {e}"))?;
    Ok(day.timestamp().as_millisecond())
}

#[cfg(test)]
mod kpi_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tz_tests;
