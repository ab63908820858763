//! The reports' numbers: pure functions of a [`Dataset`], a [`Period`] and [`Options`].
//!
//! Every definition here is written out in words and as a formula in README.md ("Reports")
//! and in `zvon report <name> --help` ([`super::help`]); keep the three in step.

use std::collections::BTreeMap;

use crate::acd::kpi;
use crate::store::CdrRecord;

use super::facts::{
    self, Context, Dataset, Direction, Outcome, Overflow, QueueFacts, Spans, Visit,
};
use super::period::{self, Period};

/// Which records a report looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this agent (id).
    pub agent: Option<String>,
    /// Only calls from, to or answered by this extension.
    pub extension: Option<String>,
    /// Only calls from or to this number.
    pub number: Option<String>,
}

/// What every report needs besides the records.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub period: Period,
    pub filter: Filter,
    /// An abandon after waiting less than this many seconds is a short abandon.
    pub short_abandon_s: u64,
    /// Unix ms of "now": the end of intervals still open (an agent logged in right now).
    pub now_ms: i64,
    /// The zone local hours and weekdays (`hourly`, the heat map, the forecast) and the
    /// table form's times are read in.
    pub tz: jiff::tz::TimeZone,
}

/// The default short-abandon threshold, seconds (shared with `zvon status`).
pub const DEFAULT_SHORT_ABANDON: u64 = kpi::DEFAULT_SHORT_ABANDON;

impl Options {
    /// Defaults for `period` at `now_ms`.
    pub fn new(period: Period, now_ms: i64) -> Options {
        Options {
            period,
            filter: Filter::default(),
            short_abandon_s: DEFAULT_SHORT_ABANDON,
            now_ms,
            tz: jiff::tz::TimeZone::UTC,
        }
    }
}

/// The CDRs of the period that pass the filter.
pub fn calls_in<'a>(data: &'a Dataset, opt: &'a Options) -> impl Iterator<Item = &'a CdrRecord> {
    data.cdrs
        .iter()
        .filter(|c| opt.period.contains(c.start as i64))
        .filter(|c| call_matches(c, &opt.filter))
}

/// `--queue`: a `queue:Q` or `callback:Q` history step (a callback call for the queue that
/// the customer did not answer has only the latter); `--agent`: an `agent:ID` step (the
/// agent answered it from a queue); `--extension`: caller, dialled number or answerer;
/// `--number`: caller or dialled number. All exact.
pub fn call_matches(c: &CdrRecord, f: &Filter) -> bool {
    let step =
        |prefix: &str, v: &str| facts::steps(&c.history).any(|s| s.strip_prefix(prefix) == Some(v));
    f.queue
        .as_deref()
        .is_none_or(|q| step("queue:", q) || step("callback:", q))
        && f.agent.as_deref().is_none_or(|a| step("agent:", a))
        && f.extension
            .as_deref()
            .is_none_or(|e| c.caller == e || c.dialed == e || c.answered_by.as_deref() == Some(e))
        && f.number
            .as_deref()
            .is_none_or(|n| c.caller == n || c.dialed == n)
}

// ---------------------------------------------------------------------------------------
// summary

/// `zvon report summary`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// CDRs started in the period, feature-code calls left out.
    pub calls: u64,
    pub inbound: u64,
    pub outbound: u64,
    pub internal: u64,
    /// A person answered.
    pub answered: u64,
    /// Nobody answered, and the call did not fail.
    pub missed: u64,
    /// `FAILED`.
    pub failed: u64,
    /// Σ talk seconds of the answered calls.
    pub talk_s: u64,
    /// talk_s / answered.
    pub avg_talk_s: Option<f64>,
}

/// The summary of `data`: the one folded while loading ([`Dataset::summary`]), else folded
/// from `data.cdrs`.
pub fn summary(data: &Dataset, ctx: &Context, opt: &Options) -> Summary {
    if let Some(s) = &data.summary {
        return s.clone();
    }
    let mut f = SummaryFold::new(facts::extensions(ctx, data));
    for c in &data.cdrs {
        f.add(c, opt);
    }
    f.finish()
}

/// The summary, one CDR at a time (for CDRs streamed from the store).
#[derive(Clone, Debug, Default)]
pub struct SummaryFold {
    exts: std::collections::BTreeSet<String>,
    s: Summary,
}

impl SummaryFold {
    /// An empty fold; `exts` are our extensions ([`facts::extensions`]).
    pub fn new(exts: std::collections::BTreeSet<String>) -> SummaryFold {
        SummaryFold {
            exts,
            s: Summary::default(),
        }
    }

    /// No extensions were given.
    pub fn has_no_extensions(&self) -> bool {
        self.exts.is_empty()
    }

    /// Counts `c` if it started in the period, passes the filter and is not a feature code.
    pub fn add(&mut self, c: &CdrRecord, opt: &Options) {
        if !opt.period.contains(c.start as i64)
            || !call_matches(c, &opt.filter)
            || facts::is_feature(c)
        {
            return;
        }
        let (s, exts) = (&mut self.s, &self.exts);
        s.calls += 1;
        match facts::direction(c, exts) {
            Direction::Inbound => s.inbound += 1,
            Direction::Outbound => s.outbound += 1,
            Direction::Internal => s.internal += 1,
        }
        if facts::answered(c) {
            s.answered += 1;
            s.talk_s += facts::talk_s(c);
        } else if facts::failed(c) {
            s.failed += 1;
        } else {
            s.missed += 1;
        }
    }

    pub fn finish(mut self) -> Summary {
        self.s.avg_talk_s = ratio(self.s.talk_s as f64, self.s.answered);
        self.s
    }
}

fn ratio(num: f64, den: u64) -> Option<f64> {
    (den > 0).then(|| num / den as f64)
}

// ---------------------------------------------------------------------------------------
// queues

/// The counts and times of a set of queue visits (one queue, an hour, a weekday).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VisitStats {
    /// Visits that started in the period: entered, or refused at the door (FULL, JOINEMPTY).
    pub offered: u64,
    pub answered: u64,
    /// ABANDON after waiting at least the short-abandon threshold.
    pub abandoned: u64,
    /// ABANDON after waiting less than the short-abandon threshold.
    pub short_abandoned: u64,
    /// EXITWITHTIMEOUT, EXITWITHKEY, EXITEMPTY, FULL, JOINEMPTY, CALLBACKFAILED.
    pub overflowed: u64,
    /// Visits whose caller asked to be called back (CALLBACKREQUEST), whatever came of it.
    pub callbacks: u64,
    /// Of those, answered by an agent (CONNECT after the request; also in `answered`).
    pub callbacks_answered: u64,
    /// Of those, given up after the last attempt (CALLBACKFAILED; also in `overflowed`).
    pub callbacks_failed: u64,
    /// Answered with hold ≤ T (the queue's service-level threshold).
    pub answered_in_sl: u64,
    /// Σ hold of the answered.
    pub hold_s: u64,
    /// Answered visits whose call has ended (talk known), and Σ (talk + wrap-up) of them, ms.
    pub handled: u64,
    pub handle_ms: i64,
    /// Every wait of a visit that entered and ended (answered: hold; abandoned or exited:
    /// the wait), sorted.
    pub waits: Vec<u64>,
}

impl VisitStats {
    fn add(&mut self, v: &Visit, sl: u64, short: u64) {
        self.offered += 1;
        if v.callback.is_some() {
            self.callbacks += 1;
            match v.outcome {
                Outcome::Answered => self.callbacks_answered += 1,
                Outcome::Overflowed(Overflow::CallbackFailed) => self.callbacks_failed += 1,
                _ => {}
            }
        }
        match v.outcome {
            Outcome::Waiting => {}
            Outcome::Answered => {
                self.answered += 1;
                let hold = v.wait_s.unwrap_or(0);
                self.hold_s += hold;
                if kpi::in_service_level(hold, sl) {
                    self.answered_in_sl += 1;
                }
                if let Some(talk) = v.talk_s {
                    self.handled += 1;
                    self.handle_ms += talk as i64 * 1000 + v.wrap_ms;
                }
            }
            Outcome::Abandoned => {
                if kpi::is_short_abandon(v.wait_s.unwrap_or(0), short) {
                    self.short_abandoned += 1;
                } else {
                    self.abandoned += 1;
                }
            }
            Outcome::Overflowed(_) => self.overflowed += 1,
        }
        if v.entered()
            && let Some(w) = v.wait_s
        {
            self.waits.push(w);
        }
    }

    fn finish(&mut self) {
        self.waits.sort_unstable();
    }

    /// answered_in_sl / offered ([`kpi::service_level`]).
    pub fn service_level(&self) -> Option<f64> {
        kpi::service_level(self.answered_in_sl, self.offered)
    }

    /// abandoned / offered, short abandons not counted ([`kpi::abandon_rate`]).
    pub fn abandon_rate(&self) -> Option<f64> {
        kpi::abandon_rate(self.abandoned, self.offered)
    }

    /// Average speed of answer: Σ hold / answered ([`kpi::asa_s`]).
    pub fn asa_s(&self) -> Option<f64> {
        kpi::asa_s(self.hold_s, self.answered)
    }

    /// Average handle time: Σ (talk + wrap-up) / handled.
    pub fn aht_s(&self) -> Option<f64> {
        ratio(self.handle_ms as f64 / 1000.0, self.handled)
    }

    /// The longest wait.
    pub fn longest_wait_s(&self) -> Option<u64> {
        self.waits.last().copied()
    }

    /// The p-th percentile of the waits, nearest rank: the smallest wait with at least p % of
    /// the waits at or below it, `waits[⌈p/100 · n⌉ − 1]`.
    pub fn wait_percentile(&self, p: u32) -> Option<u64> {
        let n = self.waits.len();
        if n == 0 {
            return None;
        }
        let rank = (p as usize * n).div_ceil(100).max(1);
        Some(self.waits[rank.min(n) - 1])
    }
}

/// One row of `zvon report queues`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueRow {
    pub queue: String,
    /// The service-level threshold T used, seconds.
    pub sl_threshold_s: u64,
    pub stats: VisitStats,
}

/// The wait percentiles the queue report shows.
pub const WAIT_PERCENTILES: [u32; 4] = [50, 80, 90, 95];

/// The queue visits that started in the period (and pass `--queue`).
pub fn visits_in<'a>(qf: &'a QueueFacts, opt: &'a Options) -> impl Iterator<Item = &'a Visit> {
    qf.visits
        .iter()
        .filter(|v| opt.period.contains_ms(v.entered_ms))
        .filter(|v| opt.filter.queue.as_deref().is_none_or(|q| v.queue == q))
}

pub fn queues(data: &Dataset, ctx: &Context, opt: &Options) -> Vec<QueueRow> {
    let qf = data.queue_facts(opt);
    queues_of(&qf, ctx, opt)
}

pub fn queues_of(qf: &QueueFacts, ctx: &Context, opt: &Options) -> Vec<QueueRow> {
    let mut rows: BTreeMap<String, QueueRow> = BTreeMap::new();
    // Configured queues appear even without calls (unless filtered out).
    for q in ctx.service_level.keys() {
        if opt.filter.queue.as_deref().is_none_or(|f| f == q) {
            rows.insert(q.clone(), new_queue_row(q, ctx));
        }
    }
    for v in visits_in(qf, opt) {
        let row = rows
            .entry(v.queue.clone())
            .or_insert_with(|| new_queue_row(&v.queue, ctx));
        let sl = row.sl_threshold_s;
        row.stats.add(v, sl, opt.short_abandon_s);
    }
    let mut rows: Vec<QueueRow> = rows.into_values().collect();
    for r in &mut rows {
        r.stats.finish();
    }
    rows
}

fn new_queue_row(q: &str, ctx: &Context) -> QueueRow {
    QueueRow {
        queue: q.to_owned(),
        sl_threshold_s: ctx.service_level(q),
        stats: VisitStats::default(),
    }
}

// ---------------------------------------------------------------------------------------
// hourly

/// One row of `zvon report hourly`: a local hour of the day or a local weekday.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlotRow {
    /// `"hour"` or `"weekday"`.
    pub by: &'static str,
    /// `"00"`…`"23"` or `"Mon"`…`"Sun"`.
    pub slot: String,
    pub stats: VisitStats,
}

/// 24 hour rows, then 7 weekday rows, by the visits' entry times; every row is there, empty
/// or not.
pub fn hourly(data: &Dataset, ctx: &Context, opt: &Options) -> Vec<SlotRow> {
    let qf = data.queue_facts(opt);
    hourly_of(&qf, ctx, opt)
}

pub fn hourly_of(qf: &QueueFacts, ctx: &Context, opt: &Options) -> Vec<SlotRow> {
    let mut rows: Vec<SlotRow> = (0..24)
        .map(|h| SlotRow {
            by: "hour",
            slot: format!("{h:02}"),
            stats: VisitStats::default(),
        })
        .chain(period::WEEKDAYS.iter().map(|d| SlotRow {
            by: "weekday",
            slot: (*d).to_owned(),
            stats: VisitStats::default(),
        }))
        .collect();
    for v in visits_in(qf, opt) {
        let t = v.entered_ms.div_euclid(1000);
        let sl = ctx.service_level(&v.queue);
        rows[period::hour(t, &opt.tz)]
            .stats
            .add(v, sl, opt.short_abandon_s);
        rows[24 + period::weekday(t, &opt.tz)]
            .stats
            .add(v, sl, opt.short_abandon_s);
    }
    for r in &mut rows {
        r.stats.finish();
    }
    rows
}

/// All visits of the period together (each with its own queue's T).
pub fn total_of(qf: &QueueFacts, ctx: &Context, opt: &Options) -> VisitStats {
    let mut s = VisitStats::default();
    for v in visits_in(qf, opt) {
        s.add(v, ctx.service_level(&v.queue), opt.short_abandon_s);
    }
    s.finish();
    s
}

/// Arrivals (offered visits) per weekday × hour, for the heat map: `[weekday][hour]`.
pub fn arrivals_grid(qf: &QueueFacts, opt: &Options) -> [[u64; 24]; 7] {
    let mut g = [[0u64; 24]; 7];
    for v in visits_in(qf, opt) {
        let t = v.entered_ms.div_euclid(1000);
        g[period::weekday(t, &opt.tz)][period::hour(t, &opt.tz)] += 1;
    }
    g
}

// ---------------------------------------------------------------------------------------
// agents

/// One row of `zvon report agents`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentRow {
    pub agent: String,
    pub name: String,
    pub extension: String,
    /// OFFER events in the period.
    pub offers: u64,
    /// CONNECT events in the period.
    pub answered: u64,
    /// RINGNOANSWER events in the period.
    pub missed: u64,
    /// CALLBACKATTEMPT events in the period: the agent was kept free while Zvon called a
    /// customer back.
    pub callback_attempts: u64,
    /// Time on queue calls within the period, ms.
    pub talk_ms: i64,
    /// Σ (talk + wrap-up) of the calls the agent answered in the period that have ended, and
    /// their number.
    pub handle_ms: i64,
    pub handled: u64,
    /// Wrap-up time within the period, ms.
    pub wrap_ms: i64,
    /// Paused while logged in, within the period, by reason (`""` = no reason given), ms.
    pub paused_ms: BTreeMap<String, i64>,
    /// Logged in within the period, ms.
    pub logged_in_ms: i64,
    /// Busy (talk or wrap-up) while logged in and not paused, ms.
    pub busy_staffed_ms: i64,
    /// Logged in and not paused, ms.
    pub staffed_ms: i64,
}

impl AgentRow {
    /// Average handle time: Σ (talk + wrap-up) / handled.
    pub fn aht_s(&self) -> Option<f64> {
        ratio(self.handle_ms as f64 / 1000.0, self.handled)
    }

    /// Total pause, ms.
    pub fn paused_total_ms(&self) -> i64 {
        self.paused_ms.values().sum()
    }

    /// Occupancy: busy time / (logged-in time − paused time).
    pub fn occupancy(&self) -> Option<f64> {
        (self.staffed_ms > 0).then(|| self.busy_staffed_ms as f64 / self.staffed_ms as f64)
    }
}

pub fn agents(data: &Dataset, ctx: &Context, opt: &Options) -> Vec<AgentRow> {
    let qf = data.queue_facts(opt);
    agents_of(&qf, ctx, opt)
}

/// The agents report from `qf`, whose [`QueueFacts::agent_counts`] must count `opt.period`
/// ([`facts::queue_facts_in`], [`facts::QueueFactsBuilder::new`]).
pub fn agents_of(qf: &QueueFacts, ctx: &Context, opt: &Options) -> Vec<AgentRow> {
    let queue = opt.filter.queue.as_deref();
    let mut rows: BTreeMap<String, AgentRow> = BTreeMap::new();
    let wanted = |id: &str| opt.filter.agent.as_deref().is_none_or(|a| a == id);
    let new_row = |id: &str| {
        let (name, ext) = ctx.agents.get(id).cloned().unwrap_or_default();
        AgentRow {
            agent: id.to_owned(),
            name,
            extension: ext,
            ..AgentRow::default()
        }
    };
    for id in ctx.agents.keys().filter(|id| wanted(id)) {
        rows.insert(id.clone(), new_row(id));
    }
    for (id, by_queue) in &qf.agent_counts {
        if !wanted(id) {
            continue;
        }
        for (q, c) in by_queue {
            if queue.is_some_and(|f| f != q) {
                continue;
            }
            let r = rows.entry(id.clone()).or_insert_with(|| new_row(id));
            r.offers += c.offers;
            r.answered += c.answered;
            r.missed += c.missed;
            r.callback_attempts += c.callback_attempts;
        }
    }
    for v in qf.visits.iter().filter(|v| {
        v.connected_ms.is_some_and(|c| opt.period.contains_ms(c))
            && queue.is_none_or(|q| v.queue == q)
    }) {
        let (Some(agent), Some(talk)) = (&v.agent, v.talk_s) else {
            continue;
        };
        if let Some(r) = rows.get_mut(agent) {
            r.handled += 1;
            r.handle_ms += talk as i64 * 1000 + v.wrap_ms;
        }
    }
    for (id, tl) in &qf.agents {
        if !wanted(id) {
            continue;
        }
        let pick = |m: &BTreeMap<String, Spans>| -> Spans {
            match queue {
                Some(q) => m.get(q).cloned().unwrap_or_default(),
                None => m.values().fold(Spans::default(), |a, s| a.union(s)),
            }
        };
        let logged = match queue {
            Some(q) => tl.member.get(q).cloned().unwrap_or_default(),
            None => tl.logged_in.clone(),
        }
        .clip(&opt.period);
        let mut paused_all = Spans::default();
        let mut paused = BTreeMap::new();
        for (reason, s) in &tl.paused {
            let s = s.intersect(&logged);
            if s.total_ms() > 0 {
                paused.insert(reason.clone(), s.total_ms());
            }
            paused_all = paused_all.union(&s);
        }
        let talk = pick(&tl.talk).clip(&opt.period);
        let wrap = pick(&tl.wrap).clip(&opt.period);
        let staffed = logged.minus(&paused_all);
        let busy = talk.union(&wrap).intersect(&staffed);
        let empty = talk.0.is_empty() && wrap.0.is_empty() && logged.0.is_empty();
        if empty && !rows.contains_key(id) {
            continue;
        }
        let r = rows.entry(id.clone()).or_insert_with(|| new_row(id));
        if r.extension.is_empty() {
            r.extension = tl.extension.clone().unwrap_or_default();
        }
        r.talk_ms = talk.total_ms();
        r.wrap_ms = wrap.total_ms();
        r.paused_ms = paused;
        r.logged_in_ms = logged.total_ms();
        r.staffed_ms = staffed.total_ms();
        r.busy_staffed_ms = busy.total_ms();
    }
    rows.into_values().collect()
}

// ---------------------------------------------------------------------------------------
// calls

/// One row of `zvon report calls`: the CDR and what the report derives from it.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRow<'a> {
    pub cdr: &'a CdrRecord,
    pub direction: Direction,
    pub talk_s: u64,
}

pub fn calls<'a>(data: &'a Dataset, ctx: &Context, opt: &'a Options) -> Vec<CallRow<'a>> {
    let exts = facts::extensions(ctx, data);
    calls_in(data, opt)
        .map(|c| CallRow {
            cdr: c,
            direction: facts::direction(c, &exts),
            talk_s: facts::talk_s(c),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// abandoned

/// One row of `zvon report abandoned`: a number to call back.
#[derive(Clone, Debug, PartialEq)]
pub struct AbandonedRow {
    pub number: String,
    /// ABANDONs from this number in the period.
    pub abandons: u64,
    /// Unix ms of the last one.
    pub last_ms: i64,
    /// Its queue and wait.
    pub queue: String,
    pub waited_s: u64,
}

/// Callers who abandoned a queue in the period (`ABANDON`, short ones included) and have
/// had no answered call with us since their last abandon — neither a call from them that
/// somebody answered nor one to them that they answered, nor a callback to their number
/// that they answered (`CALLBACKANSWER`, in any queue). `data.answered` must reach to the
/// end of the data, not just to the end of the period. Oldest last abandon first.
///
/// A caller who asked for a callback and hung up did not abandon (the engine logs no
/// `ABANDON` for it); a customer who answers the callback and hangs up before an agent
/// answers does (an `ABANDON` after the `CALLBACKANSWER`).
pub fn abandoned(data: &Dataset, opt: &Options) -> Vec<AbandonedRow> {
    let qf = data.queue_facts(opt);
    abandoned_of(data, &qf, opt)
}

pub fn abandoned_of<'a>(data: &'a Dataset, qf: &'a QueueFacts, opt: &Options) -> Vec<AbandonedRow> {
    let mut by_number: BTreeMap<&str, AbandonedRow> = BTreeMap::new();
    for v in visits_in(qf, opt).filter(|v| v.outcome == Outcome::Abandoned) {
        if opt.filter.number.as_deref().is_some_and(|n| v.caller != n) {
            continue;
        }
        let at = v.ended_ms.unwrap_or(v.entered_ms);
        let row = by_number
            .entry(v.caller.as_str())
            .or_insert_with(|| AbandonedRow {
                number: v.caller.clone(),
                abandons: 0,
                last_ms: i64::MIN,
                queue: String::new(),
                waited_s: 0,
            });
        row.abandons += 1;
        if at >= row.last_ms {
            row.last_ms = at;
            row.queue.clone_from(&v.queue);
            row.waited_s = v.wait_s.unwrap_or(0);
        }
    }
    // The latest answered call per number (either direction), unix ms.
    let mut reached: BTreeMap<&str, i64> = BTreeMap::new();
    let mut reach = |n: &'a str, at: i64| {
        let e = reached.entry(n).or_insert(i64::MIN);
        *e = (*e).max(at);
    };
    for (caller, dialed, start) in &data.answered {
        let at = (*start as i64).saturating_mul(1000);
        reach(caller.as_str(), at);
        reach(dialed.as_str(), at);
    }
    // Callbacks the customer answered.
    for v in &qf.visits {
        if let Some(cb) = &v.callback
            && let Some(at) = cb.answered_ms
        {
            reach(cb.number.as_str(), at);
        }
    }
    let mut rows: Vec<AbandonedRow> = by_number
        .into_values()
        .filter(|r| {
            reached
                .get(r.number.as_str())
                .is_none_or(|&at| at < r.last_ms)
        })
        .collect();
    rows.sort_by(|a, b| a.last_ms.cmp(&b.last_ms).then(a.number.cmp(&b.number)));
    rows
}

// ---------------------------------------------------------------------------------------
// ivr

/// One row of `zvon report ivr`: a node of an IVR flow.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IvrRow {
    pub flow: String,
    pub node: String,
    /// Times callers reached the node.
    pub visits: u64,
    /// Keys pressed (and `timeout` for no input) at the node.
    pub inputs: BTreeMap<String, u64>,
    /// What came next: another node, or the exit the flow took (`queue:support`, `hangup`, …).
    pub next: BTreeMap<String, u64>,
    /// Visits after which the path ends without an exit: the caller hung up at this node.
    pub dropped: u64,
}

/// From the `ivr:FLOW:path` history steps of the CDRs in the period (filters: `--number`).
/// A path is `node[input]…>node…>exit`, where an item with a `:` (or `hangup`) is the exit.
/// The rows folded while loading ([`Dataset::ivr`]) if there are, else folded from
/// `data.cdrs`.
pub fn ivr(data: &Dataset, opt: &Options) -> Vec<IvrRow> {
    if let Some(rows) = &data.ivr {
        return rows.clone();
    }
    let mut f = IvrFold::default();
    for c in &data.cdrs {
        f.add(c, opt);
    }
    f.finish()
}

/// The IVR report, one CDR at a time.
#[derive(Clone, Debug, Default)]
pub struct IvrFold {
    /// Flow → node → row.
    rows: BTreeMap<String, BTreeMap<String, IvrRow>>,
}

impl IvrFold {
    /// Counts the IVR steps of `c` if it started in the period and passes `--number`.
    pub fn add(&mut self, c: &CdrRecord, opt: &Options) {
        if !opt.period.contains(c.start as i64)
            || opt
                .filter
                .number
                .as_deref()
                .is_some_and(|n| c.caller != n && c.dialed != n)
        {
            return;
        }
        for step in facts::steps(&c.history) {
            let Some((flow, path)) = step.strip_prefix("ivr:").and_then(|s| s.split_once(':'))
            else {
                continue;
            };
            if !self.rows.contains_key(flow) {
                self.rows.insert(flow.to_owned(), BTreeMap::new());
            }
            if let Some(nodes) = self.rows.get_mut(flow) {
                ivr_path(nodes, flow, path);
            }
        }
    }

    /// The rows, by flow then node.
    pub fn finish(self) -> Vec<IvrRow> {
        self.rows
            .into_values()
            .flat_map(BTreeMap::into_values)
            .collect()
    }
}

fn count(m: &mut BTreeMap<String, u64>, k: &str) {
    match m.get_mut(k) {
        Some(n) => *n += 1,
        None => {
            m.insert(k.to_owned(), 1);
        }
    }
}

fn ivr_path(rows: &mut BTreeMap<String, IvrRow>, flow: &str, path: &str) {
    let mut items = path.split('>').peekable();
    while let Some(item) = items.next() {
        let (node, inputs) = match item.find('[') {
            Some(b) => (&item[..b], &item[b..]),
            None => (item, ""),
        };
        let is_exit = node.contains(':') || node == "hangup";
        if is_exit || node.is_empty() {
            continue;
        }
        if !rows.contains_key(node) {
            rows.insert(
                node.to_owned(),
                IvrRow {
                    flow: flow.to_owned(),
                    node: node.to_owned(),
                    ..IvrRow::default()
                },
            );
        }
        let Some(row) = rows.get_mut(node) else {
            continue;
        };
        row.visits += 1;
        for input in inputs
            .split(']')
            .filter_map(|s| s.strip_prefix('['))
            .filter(|s| !s.is_empty())
        {
            count(&mut row.inputs, input);
        }
        match items.peek() {
            Some(next) => {
                let next = next.split('[').next().unwrap_or(next);
                count(&mut row.next, next);
            }
            None => row.dropped += 1,
        }
    }
}
