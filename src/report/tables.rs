//! Each report's typed result as a [`Table`]: the column keys and their order are defined
//! here, once (README.md and `--help` list the same keys).

use super::facts::{Context, Dataset, Direction};
use super::metrics::{
    self, AbandonedRow, AgentRow, CallRow, IvrRow, Options, QueueRow, SlotRow, Summary, VisitStats,
    WAIT_PERCENTILES,
};
use super::render::{Cell, Format, Table};

fn secs(ms: i64) -> Cell {
    // Whole seconds, half up (events are whole seconds, so this only matters for odd data).
    Cell::Secs((ms + 500).div_euclid(1000))
}

fn int(v: u64) -> Cell {
    Cell::Int(v as i64)
}

fn table(report: &'static str, opt: &Options, columns: &[&'static str]) -> Table {
    Table {
        report,
        period: Some(opt.period),
        tz: Some(opt.tz.clone()),
        parameters: Vec::new(),
        columns: columns.to_vec(),
        rows: Vec::new(),
    }
}

pub const SUMMARY_COLUMNS: &[&str] = &[
    "calls",
    "inbound",
    "outbound",
    "internal",
    "answered",
    "missed",
    "failed",
    "talk_s",
    "avg_talk_s",
];

pub fn summary(s: &Summary, opt: &Options) -> Table {
    let mut t = table("summary", opt, SUMMARY_COLUMNS);
    t.rows.push(vec![
        int(s.calls),
        int(s.inbound),
        int(s.outbound),
        int(s.internal),
        int(s.answered),
        int(s.missed),
        int(s.failed),
        Cell::Secs(s.talk_s as i64),
        Cell::Avg(s.avg_talk_s),
    ]);
    t
}

pub const QUEUE_COLUMNS: &[&str] = &[
    "queue",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "callbacks",
    "callbacks_answered",
    "callbacks_failed",
    "sl_threshold_s",
    "answered_in_sl",
    "service_level",
    "abandon_rate",
    "asa_s",
    "aht_s",
    "longest_wait_s",
    "wait_p50_s",
    "wait_p80_s",
    "wait_p90_s",
    "wait_p95_s",
];

fn stats_cells(s: &VisitStats) -> Vec<Cell> {
    vec![
        int(s.offered),
        int(s.answered),
        int(s.abandoned),
        int(s.short_abandoned),
        int(s.overflowed),
    ]
}

pub fn queues(rows: &[QueueRow], opt: &Options) -> Table {
    let mut t = table("queues", opt, QUEUE_COLUMNS);
    t.parameters
        .push(("short_abandon_s", int(opt.short_abandon_s)));
    for r in rows {
        let s = &r.stats;
        let mut row = vec![Cell::Text(r.queue.clone())];
        row.extend(stats_cells(s));
        row.extend([
            int(s.callbacks),
            int(s.callbacks_answered),
            int(s.callbacks_failed),
            int(r.sl_threshold_s),
            int(s.answered_in_sl),
            Cell::Rate(s.service_level()),
            Cell::Rate(s.abandon_rate()),
            Cell::Avg(s.asa_s()),
            Cell::Avg(s.aht_s()),
            Cell::opt_int(s.longest_wait_s()),
        ]);
        row.extend(
            WAIT_PERCENTILES
                .iter()
                .map(|&p| Cell::opt_int(s.wait_percentile(p))),
        );
        t.rows.push(row);
    }
    t
}

pub const HOURLY_COLUMNS: &[&str] = &[
    "by",
    "slot",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "callbacks",
    "callbacks_answered",
    "answered_in_sl",
    "service_level",
    "abandon_rate",
];

pub fn hourly(rows: &[SlotRow], opt: &Options) -> Table {
    let mut t = table("hourly", opt, HOURLY_COLUMNS);
    t.parameters
        .push(("short_abandon_s", int(opt.short_abandon_s)));
    for r in rows {
        let s = &r.stats;
        let mut row = vec![Cell::Text(r.by.into()), Cell::Text(r.slot.clone())];
        row.extend(stats_cells(s));
        row.extend([
            int(s.callbacks),
            int(s.callbacks_answered),
            int(s.answered_in_sl),
            Cell::Rate(s.service_level()),
            Cell::Rate(s.abandon_rate()),
        ]);
        t.rows.push(row);
    }
    t
}

pub const AGENT_COLUMNS: &[&str] = &[
    "agent",
    "name",
    "extension",
    "offers",
    "answered",
    "missed",
    "callback_attempts",
    "talk_s",
    "aht_s",
    "wrapup_s",
    "paused_s",
    "paused_by_reason_s",
    "logged_in_s",
    "occupancy",
];

pub fn agents(rows: &[AgentRow], opt: &Options) -> Table {
    let mut t = table("agents", opt, AGENT_COLUMNS);
    for r in rows {
        let reasons = r
            .paused_ms
            .iter()
            .map(|(k, ms)| {
                let k = if k.is_empty() { "none" } else { k.as_str() };
                (k.to_owned(), (ms + 500).div_euclid(1000))
            })
            .collect();
        t.rows.push(vec![
            Cell::Text(r.agent.clone()),
            Cell::Text(r.name.clone()),
            Cell::Text(r.extension.clone()),
            int(r.offers),
            int(r.answered),
            int(r.missed),
            int(r.callback_attempts),
            secs(r.talk_ms),
            Cell::Avg(r.aht_s()),
            secs(r.wrap_ms),
            secs(r.paused_total_ms()),
            Cell::Map(reasons),
            secs(r.logged_in_ms),
            Cell::Rate(r.occupancy()),
        ]);
    }
    t
}

pub const CALL_COLUMNS: &[&str] = &[
    "uniqueid",
    "linkedid",
    "start",
    "answer",
    "end",
    "caller",
    "caller_name",
    "dialed",
    "answered_by",
    "disposition",
    "duration",
    "billsec",
    "hangup_cause",
    "hangup_by",
    "sip_code",
    "codec_a",
    "codec_b",
    "history",
    "direction",
    "talk_s",
];

pub fn calls(rows: &[CallRow<'_>], opt: &Options) -> Table {
    let mut t = table("calls", opt, CALL_COLUMNS);
    t.rows.extend(rows.iter().map(call_cells));
    t
}

/// One row of the calls table.
pub fn call_cells(r: &CallRow<'_>) -> Vec<Cell> {
    let mut row = Vec::new();
    fill_call_cells(&mut row, r.cdr, r.direction, r.talk_s);
    row
}

/// [`call_cells`] into `row`, its text cells refilled in place (the streamed call list: a
/// million rows through one).
pub fn fill_call_cells(
    row: &mut Vec<Cell>,
    c: &crate::store::CdrRecord,
    direction: Direction,
    talk_s: u64,
) {
    if row.len() != CALL_CELLS {
        *row = vec![Cell::Null; CALL_CELLS];
    }
    let text = |cell: &mut Cell, v: &str| match cell {
        Cell::Text(t) => {
            t.clear();
            t.push_str(v);
        }
        _ => *cell = Cell::Text(v.to_owned()),
    };
    let opt_text = |cell: &mut Cell, v: Option<&str>| match v {
        Some(v) => text(cell, v),
        None => *cell = Cell::Null,
    };
    let [
        uniqueid,
        linkedid,
        start,
        answer,
        end,
        caller,
        caller_name,
        dialed,
        answered_by,
        disposition,
        duration,
        billsec,
        hangup_cause,
        hangup_by,
        sip_code,
        codec_a,
        codec_b,
        history,
        dir,
        talk,
    ] = row.as_mut_slice()
    else {
        return;
    };
    text(uniqueid, &c.uniqueid);
    text(linkedid, &c.linkedid);
    *start = Cell::Time(Some(c.start as i64));
    *answer = Cell::Time(c.answer.map(|a| a as i64));
    *end = Cell::Time(Some(c.end as i64));
    text(caller, &c.caller);
    opt_text(caller_name, c.caller_name.as_deref());
    text(dialed, &c.dialed);
    opt_text(answered_by, c.answered_by.as_deref());
    text(disposition, c.disposition.as_str());
    *duration = Cell::Secs(c.duration as i64);
    *billsec = Cell::Secs(c.billsec as i64);
    text(hangup_cause, &c.hangup_cause);
    text(hangup_by, &c.hangup_by);
    *sip_code = c.sip_code.map_or(Cell::Null, |s| Cell::Int(i64::from(s)));
    opt_text(codec_a, c.codec_a.as_deref());
    opt_text(codec_b, c.codec_b.as_deref());
    text(history, &c.history);
    text(dir, direction.as_str());
    *talk = Cell::Secs(talk_s as i64);
}

/// The cells of a call-list row.
const CALL_CELLS: usize = 20;
const _: () = assert!(CALL_COLUMNS.len() == CALL_CELLS);

pub const ABANDONED_COLUMNS: &[&str] = &["number", "abandons", "last_abandon", "queue", "waited_s"];

pub fn abandoned(rows: &[AbandonedRow], opt: &Options) -> Table {
    let mut t = table("abandoned", opt, ABANDONED_COLUMNS);
    for r in rows {
        t.rows.push(vec![
            Cell::Text(r.number.clone()),
            int(r.abandons),
            Cell::Time(Some(r.last_ms.div_euclid(1000))),
            Cell::Text(r.queue.clone()),
            Cell::Secs(r.waited_s as i64),
        ]);
    }
    t
}

pub const IVR_COLUMNS: &[&str] = &["flow", "node", "visits", "inputs", "next", "dropped"];

pub fn ivr(rows: &[IvrRow], opt: &Options) -> Table {
    let mut t = table("ivr", opt, IVR_COLUMNS);
    let map = |m: &std::collections::BTreeMap<String, u64>| {
        Cell::Map(m.iter().map(|(k, v)| (k.clone(), *v as i64)).collect())
    };
    for r in rows {
        t.rows.push(vec![
            Cell::Text(r.flow.clone()),
            Cell::Text(r.node.clone()),
            int(r.visits),
            map(&r.inputs),
            map(&r.next),
            int(r.dropped),
        ]);
    }
    t
}

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Summary,
    Queues,
    Agents,
    Hourly,
    Calls,
    Abandoned,
    Ivr,
}

/// Computes report `kind` and lays it out as a table.
pub fn build(kind: Kind, data: &Dataset, ctx: &Context, opt: &Options) -> Table {
    match kind {
        Kind::Summary => summary(&metrics::summary(data, ctx, opt), opt),
        Kind::Queues => queues(&metrics::queues(data, ctx, opt), opt),
        Kind::Agents => agents(&metrics::agents(data, ctx, opt), opt),
        Kind::Hourly => hourly(&metrics::hourly(data, ctx, opt), opt),
        Kind::Calls => calls(&metrics::calls(data, ctx, opt), opt),
        Kind::Abandoned => abandoned(&metrics::abandoned(data, opt), opt),
        Kind::Ivr => ivr(&metrics::ivr(data, opt), opt),
    }
}

/// Report `kind` in `format`: [`build`] then [`Table::render`], except that in HTML the
/// summary is the manager dashboard and the hourly report carries its charts.
pub fn render(kind: Kind, data: &Dataset, ctx: &Context, opt: &Options, format: Format) -> String {
    if format != Format::Html || !matches!(kind, Kind::Summary | Kind::Hourly) {
        return build(kind, data, ctx, opt).render(format);
    }
    let qf = data.queue_facts(opt);
    let hourly_rows = metrics::hourly_of(&qf, ctx, opt);
    if kind == Kind::Hourly {
        let t = hourly(&hourly_rows, opt);
        let zone = t.zone_name();
        let mut body = super::html::hourly_charts(&hourly_rows, &zone);
        body.push_str("<div class=\"charts\">\n");
        body.push_str(&super::html::heat_map(
            &metrics::arrivals_grid(&qf, opt),
            &zone,
        ));
        body.push_str("</div>\n");
        body.push_str(&super::html::table(&t));
        let sub = t.title();
        let sub = sub.split_once(": ").map_or("", |(_, r)| r);
        return super::html::page("Zvon report: hourly", sub, &body);
    }
    let summary_t = summary(&metrics::summary(data, ctx, opt), opt);
    let queues_t = queues(&metrics::queues_of(&qf, ctx, opt), opt);
    let agents_t = agents(&metrics::agents_of(&qf, ctx, opt), opt);
    let forecast = super::forecast::Request {
        target: super::forecast::DEFAULT_TARGET,
        agents: None,
        aht_s: None,
        calls: None,
    }
    .typical_week(&qf, opt);
    super::html::Dashboard {
        summary: &summary_t,
        queue_total: &metrics::total_of(&qf, ctx, opt),
        queues: &queues_t,
        hourly: &hourly_rows,
        arrivals: &metrics::arrivals_grid(&qf, opt),
        agents: &agents_t,
        forecast: &forecast,
    }
    .render()
}
