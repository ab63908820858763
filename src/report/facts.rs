//! What the stored records mean: queue visits and agent timelines rebuilt from the queue
//! event log, and calls classified from their CDRs. Pure functions over records.
//!
//! # Queue visits
//!
//! A visit is one caller's stay in one queue, keyed by (call id, queue): it starts with
//! `ENTERQUEUE` (or is refused at the door by `FULL` / `JOINEMPTY`, which have no
//! `ENTERQUEUE`) and ends with exactly one of `CONNECT` (then `COMPLETECALLER`,
//! `COMPLETEAGENT` or `BLINDTRANSFER`), `ABANDON`, `EXITWITHTIMEOUT`, `EXITWITHKEY` or
//! `EXITEMPTY`, or `CALLBACKFAILED`. A visit with no ending in the data (still waiting, or the
//! daemon stopped) is [`Outcome::Waiting`]. Waits, holds and talk times are the engine's own
//! numbers from the events' data fields (whole seconds on the monotonic clock).
//!
//! # Callbacks (virtual hold)
//!
//! A waiting caller may ask to be called back (`CALLBACKREQUEST`) and hang up: the visit goes
//! on without them on the line (the engine logs no `ABANDON` for that hang-up), under the same
//! call id. Zvon calls the customer when it is their turn (`CALLBACKATTEMPT`, with the agent
//! kept for them); an attempt is answered (`CALLBACKANSWER`) or not (`CALLBACKNOANSWER`, then
//! a retry later). After an answer the visit continues like any other, with the same call id:
//! `OFFER`, `CONNECT` (whose hold is the whole wait from `ENTERQUEUE`), `COMPLETE…`, or
//! `ABANDON` when the customer hangs up before an agent answers. `CALLBACKFAILED` (the last
//! attempt was not answered) ends the visit as [`Overflow::CallbackFailed`]; a virtual caller
//! can also leave by `EXITEMPTY`. What happened is in [`Visit::callback`].
//!
//! Wrap-up is measured: from `WRAPUPSTART` (which names the call), or from `BLINDTRANSFER`
//! (the engine starts wrap-up there without a `WRAPUPSTART`), to the agent's next
//! `WRAPUPEND`.
//!
//! # Agent timelines
//!
//! An agent is logged in while it is a member of at least one queue: `ADDMEMBER` adds a
//! queue, `REMOVEMEMBER` removes one. An agent seen working (an offer, a call, a pause, a
//! wrap-up) without being a member — a static member (`logged_in = true` in queues.toml, which
//! logs no `ADDMEMBER`), or one who logged in before the data read — counts as logged in to
//! that queue from that event on. A pause runs from `PAUSEALL` to `UNPAUSEALL`, to the next
//! `PAUSEALL` (a new reason), or to the logout. Talk runs from `CONNECT` to the call's end
//! event, wrap-up as above. Intervals still open at the end of the data end at `now`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::store::{CdrRecord, Disposition, QueueData, QueueEventRecord, QueueEventRef};

use super::period::Period;

/// What the reports take from the configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    /// Service-level threshold T per queue, seconds (`service_level` in queues.toml).
    pub service_level: BTreeMap<String, u64>,
    /// Our extension numbers.
    pub extensions: BTreeSet<String>,
    /// Agent id → (name, extension).
    pub agents: BTreeMap<String, (String, String)>,
}

/// The service-level threshold for queues the configuration does not name.
pub const DEFAULT_SERVICE_LEVEL: u64 = 20;

impl Context {
    /// The facts of a loaded configuration.
    pub fn from_config(cfg: &crate::config::Config) -> Context {
        Context {
            service_level: cfg
                .acd
                .queues
                .iter()
                .map(|(name, q)| (name.clone(), q.service_level.as_secs()))
                .collect(),
            extensions: cfg.extensions.iter().map(|e| e.number.clone()).collect(),
            agents: cfg
                .acd
                .agents
                .iter()
                .map(|(id, a)| (id.clone(), (a.name.clone(), a.extension.clone())))
                .collect(),
        }
    }

    /// T for `queue`: configured, else [`DEFAULT_SERVICE_LEVEL`].
    pub fn service_level(&self, queue: &str) -> u64 {
        self.service_level
            .get(queue)
            .copied()
            .unwrap_or(DEFAULT_SERVICE_LEVEL)
    }
}

/// The records a report reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// CDRs, by start.
    pub cdrs: Vec<CdrRecord>,
    /// Queue events, by time then by the order they were written.
    pub events: Vec<QueueEventRecord>,
    /// (caller, dialled, start) of calls a person answered, from the period's start to the
    /// end of the data: who has been reached since (the abandoned report's call-back check).
    pub answered: Vec<(String, String, u64)>,
    /// The queue facts folded from the events while they were read ([`super::load`]), whose
    /// agent counts count the period loaded; when `None` they are rebuilt from `events`.
    pub facts: Option<QueueFacts>,
    /// The summary folded from the CDRs while they were read ([`super::load`]).
    pub summary: Option<super::metrics::Summary>,
    /// The IVR rows folded from the CDRs while they were read ([`super::load`]).
    pub ivr: Option<Vec<super::metrics::IvrRow>>,
}

impl Dataset {
    /// The queue facts of these records for `opt`'s period: the ones folded while loading,
    /// else rebuilt from `events` (intervals still open closing at `opt.now_ms`).
    pub fn queue_facts(&self, opt: &super::metrics::Options) -> std::borrow::Cow<'_, QueueFacts> {
        match &self.facts {
            Some(f) => std::borrow::Cow::Borrowed(f),
            None => std::borrow::Cow::Owned(queue_facts_in(&self.events, opt.period, opt.now_ms)),
        }
    }

    /// All of `cdrs` and `events`, with `answered` taken from `cdrs`.
    pub fn from_records(cdrs: Vec<CdrRecord>, events: Vec<QueueEventRecord>) -> Dataset {
        let answered = cdrs
            .iter()
            .filter(|c| c.answered_by.is_some())
            .map(|c| (c.caller.clone(), c.dialed.clone(), c.start))
            .collect();
        Dataset {
            cdrs,
            events,
            answered,
            ..Dataset::default()
        }
    }
}

/// How a queue visit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No ending event in the data.
    Waiting,
    /// `CONNECT`.
    Answered,
    /// `ABANDON`: the caller hung up while waiting.
    Abandoned,
    /// Left without an agent and without hanging up: sent elsewhere (`EXITWITHTIMEOUT`,
    /// `EXITWITHKEY`, `EXITEMPTY`), refused at the door (`FULL`, `JOINEMPTY`), or a callback
    /// given up (`CALLBACKFAILED`).
    Overflowed(Overflow),
}

/// Why a visit overflowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Timeout,
    Key,
    Empty,
    Full,
    JoinEmpty,
    /// `CALLBACKFAILED`: no attempt to call the customer back was answered.
    CallbackFailed,
}

/// A visit's callback: the caller asked to be called back (`CALLBACKREQUEST`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Callback {
    /// The number to call back (`CALLBACKREQUEST` data1; may differ from the caller's).
    pub number: String,
    /// Unix ms of `CALLBACKREQUEST`.
    pub requested_ms: i64,
    /// `CALLBACKATTEMPT`s: calls to the customer.
    pub attempts: u32,
    /// Unix ms of `CALLBACKANSWER`: the customer answered (what followed is the visit's
    /// outcome).
    pub answered_ms: Option<i64>,
}

/// One caller's stay in one queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Visit {
    /// The CDR uniqueid.
    pub call_id: String,
    pub queue: String,
    /// The caller's number (`ENTERQUEUE` data2; empty for `FULL` / `JOINEMPTY`).
    pub caller: String,
    /// Unix ms of `ENTERQUEUE` (or `FULL` / `JOINEMPTY`).
    pub entered_ms: i64,
    pub outcome: Outcome,
    /// Seconds waited before the outcome: the hold of an answered visit, the wait of an
    /// abandoned or exited one (for a callback: the whole wait from `ENTERQUEUE`, on the line
    /// or not); 0 when refused at the door; `None` while waiting.
    pub wait_s: Option<u64>,
    /// Unix ms of the outcome event.
    pub ended_ms: Option<i64>,
    /// Agent id who answered.
    pub agent: Option<String>,
    /// Unix ms of `CONNECT`.
    pub connected_ms: Option<i64>,
    /// Talk seconds (`COMPLETE*` data2, `BLINDTRANSFER` data4); `None` until the call ends.
    pub talk_s: Option<u64>,
    /// Measured wrap-up after the call, ms (0 when it had none).
    pub wrap_ms: i64,
    /// The caller asked to be called back.
    pub callback: Option<Callback>,
}

impl Visit {
    /// The visit entered the queue (was not refused at the door).
    pub fn entered(&self) -> bool {
        !matches!(
            self.outcome,
            Outcome::Overflowed(Overflow::Full | Overflow::JoinEmpty)
        )
    }
}

/// Half-open intervals of unix ms, sorted and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spans(pub Vec<(i64, i64)>);

impl Spans {
    /// Adds `[a, b)` (merging). Constant time when intervals come in order of their start,
    /// as the event log gives them.
    pub fn add(&mut self, a: i64, b: i64) {
        if b <= a {
            return;
        }
        match self.0.last_mut() {
            Some(last) if a >= last.0 => {
                if a <= last.1 {
                    last.1 = last.1.max(b);
                } else {
                    self.0.push((a, b));
                }
            }
            None => self.0.push((a, b)),
            Some(_) => {
                self.0.push((a, b));
                self.normalize();
            }
        }
    }

    fn normalize(&mut self) {
        self.0.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        self.0 = out;
    }

    /// The union.
    pub fn union(&self, other: &Spans) -> Spans {
        let mut s = Spans(self.0.iter().chain(&other.0).copied().collect());
        s.normalize();
        s
    }

    /// The intersection.
    pub fn intersect(&self, other: &Spans) -> Spans {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.0.len() && j < other.0.len() {
            let (a1, b1) = self.0[i];
            let (a2, b2) = other.0[j];
            let (a, b) = (a1.max(a2), b1.min(b2));
            if a < b {
                out.push((a, b));
            }
            if b1 < b2 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Spans(out)
    }

    /// `self` without `other`.
    pub fn minus(&self, other: &Spans) -> Spans {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let mut start = a;
            for &(c, d) in &other.0 {
                if d <= start || c >= b {
                    continue;
                }
                if c > start {
                    out.push((start, c));
                }
                start = start.max(d);
                if start >= b {
                    break;
                }
            }
            if start < b {
                out.push((start, b));
            }
        }
        Spans(out)
    }

    /// Clipped to `period`.
    pub fn clip(&self, period: &Period) -> Spans {
        let (a, b) = period.ms_bounds();
        self.intersect(&Spans(vec![(a, b)]))
    }

    /// Total length, ms.
    pub fn total_ms(&self) -> i64 {
        self.0.iter().map(|(a, b)| b - a).sum()
    }
}

/// One agent's timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentTimeline {
    /// Logged in to each queue.
    pub member: BTreeMap<String, Spans>,
    /// Logged in to any queue.
    pub logged_in: Spans,
    /// Paused, by reason (`""` when none was given).
    pub paused: BTreeMap<String, Spans>,
    /// Talking on a queue call, by the call's queue.
    pub talk: BTreeMap<String, Spans>,
    /// In wrap-up, by the call's queue.
    pub wrap: BTreeMap<String, Spans>,
    /// The extension from `OFFER` / `ADDMEMBER` data.
    pub extension: Option<String>,
}

/// Visits and agent timelines rebuilt from queue events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueFacts {
    /// In the order they started.
    pub visits: Vec<Visit>,
    pub agents: BTreeMap<String, AgentTimeline>,
    /// Agent (any but `NONE`) → queue (as logged) → the agent's counted events.
    pub agent_counts: BTreeMap<String, BTreeMap<String, AgentCounts>>,
}

/// The queue log's event names the fold reads, matched once per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    EnterQueue,
    Full,
    JoinEmpty,
    Connect,
    CompleteCaller,
    CompleteAgent,
    BlindTransfer,
    CallbackRequest,
    CallbackAttempt,
    CallbackAnswer,
    Abandon,
    ExitWithTimeout,
    ExitEmpty,
    ExitWithKey,
    CallbackFailed,
    Offer,
    RingNoAnswer,
    AddMember,
    RemoveMember,
    PauseAll,
    UnpauseAll,
    WrapupStart,
    WrapupEnd,
    Other,
}

impl Ev {
    fn of(name: &str) -> Ev {
        match name {
            "ENTERQUEUE" => Ev::EnterQueue,
            "FULL" => Ev::Full,
            "JOINEMPTY" => Ev::JoinEmpty,
            "CONNECT" => Ev::Connect,
            "COMPLETECALLER" => Ev::CompleteCaller,
            "COMPLETEAGENT" => Ev::CompleteAgent,
            "BLINDTRANSFER" => Ev::BlindTransfer,
            "CALLBACKREQUEST" => Ev::CallbackRequest,
            "CALLBACKATTEMPT" => Ev::CallbackAttempt,
            "CALLBACKANSWER" => Ev::CallbackAnswer,
            "ABANDON" => Ev::Abandon,
            "EXITWITHTIMEOUT" => Ev::ExitWithTimeout,
            "EXITEMPTY" => Ev::ExitEmpty,
            "EXITWITHKEY" => Ev::ExitWithKey,
            "CALLBACKFAILED" => Ev::CallbackFailed,
            "OFFER" => Ev::Offer,
            "RINGNOANSWER" => Ev::RingNoAnswer,
            "ADDMEMBER" => Ev::AddMember,
            "REMOVEMEMBER" => Ev::RemoveMember,
            "PAUSEALL" => Ev::PauseAll,
            "UNPAUSEALL" => Ev::UnpauseAll,
            "WRAPUPSTART" => Ev::WrapupStart,
            "WRAPUPEND" => Ev::WrapupEnd,
            _ => Ev::Other,
        }
    }
}

const NONE: &str = "NONE";

fn num(data: &QueueData<'_>, i: usize) -> u64 {
    data.get(i).trim().parse().ok().unwrap_or(0)
}

#[derive(Default)]
struct AgentState {
    queues: BTreeMap<String, i64>,
    login_since: Option<i64>,
    pause: Option<(String, i64)>,
    talk: Option<(String, i64)>,
    /// (visit index or none, queue, since).
    wrap: Option<(Option<usize>, String, i64)>,
}

/// Rebuilds visits and agent timelines from `events` (in log order); intervals still open at
/// the end close at `now_ms`. [`QueueFacts::agent_counts`] counts the whole of `events`.
pub fn queue_facts(events: &[QueueEventRecord], now_ms: i64) -> QueueFacts {
    queue_facts_in(events, Period::ALL, now_ms)
}

/// [`queue_facts`] with [`QueueFacts::agent_counts`] counting the events in `count_in`.
pub fn queue_facts_in(events: &[QueueEventRecord], count_in: Period, now_ms: i64) -> QueueFacts {
    let mut b = QueueFactsBuilder::new(count_in);
    for ev in events {
        b.push(&ev.as_ref());
    }
    b.finish(now_ms)
}

/// Per queue (as the event names it), an agent's OFFER, CONNECT, RINGNOANSWER and
/// CALLBACKATTEMPT events in the builder's counting period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentCounts {
    pub offers: u64,
    pub answered: u64,
    pub missed: u64,
    pub callback_attempts: u64,
}

/// Folds queue events, one at a time and in log order, into [`QueueFacts`]: what
/// [`queue_facts`] does over a slice, for events streamed from the store
/// ([`crate::store::for_each_queue_event`]) without keeping them.
pub struct QueueFactsBuilder {
    facts: QueueFacts,
    count_in: Period,
    /// Agent timelines and counts are built (else only the visits, [`Self::visits_only`]).
    timelines: bool,
    /// The visits are built (else only the agents, [`Self::agents_only`]).
    visits: bool,
    /// Without timelines: the visits' `wrap_ms` is measured (else 0,
    /// [`Self::without_wrap_up`]).
    wrap_up: bool,
    /// Without timelines: each agent's open wrap-up (the visit, since), for the visits'
    /// `wrap_ms`.
    wraps: HashMap<String, Option<(Option<usize>, i64)>, FxBuild>,
    /// Per (call id, queue): (the open visit, the last visit).
    slots: Vec<(Option<usize>, Option<usize>)>,
    /// [`key_hash`] of (call id, queue) → its slot; the slot's last visit names the pair, so
    /// a lookup checks it and a pair whose hash another pair took is found in `spill`.
    by_hash: HashMap<u64, usize, std::hash::BuildHasherDefault<IdHasher>>,
    /// [`visit_key`] → slot, for the pairs whose hash was taken.
    spill: HashMap<String, usize>,
    /// Each agent (any but `NONE`) met, in the order met: its timeline, state and counts.
    agents: Vec<AgentSlot>,
    /// Agent id → its index in `agents`.
    agent_ix: HashMap<String, usize, FxBuild>,
    /// Scratch for [`visit_key`].
    key: String,
    /// The slot of the event being pushed.
    cur: Option<usize>,
    /// [`key_hash`] of the event being pushed.
    cur_hash: u64,
    /// [`key_hash`] (tests make every pair collide).
    hash: fn(&str, &str) -> u64,
}

/// What the fold keeps per agent until [`QueueFactsBuilder::finish`].
#[derive(Default)]
struct AgentSlot {
    id: String,
    tl: AgentTimeline,
    st: AgentState,
    /// Per queue as logged: the agent's counted events.
    counts: BTreeMap<String, AgentCounts>,
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// FxHash over bytes, for the fold's short string keys (agent ids).
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    /// FxHash's step.
    fn add(&mut self, w: u64) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }
}

/// A hasher for keys that are hashes already.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A fast hash of (call id, queue) (FxHash); exactness comes from checking the pair.
fn key_hash(call_id: &str, queue: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = FxHasher::default();
    for part in [call_id, queue] {
        h.write(part.as_bytes());
        h.add(part.len() as u64);
    }
    h.finish()
}

/// An unambiguous string key for (call id, queue): the call id's length, `:`, both.
fn visit_key(buf: &mut String, call_id: &str, queue: &str) {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "{}:", call_id.len());
    buf.push_str(call_id);
    buf.push_str(queue);
}

impl QueueFactsBuilder {
    /// An empty fold whose [`QueueFacts::agent_counts`] count the events in `count_in`.
    pub fn new(count_in: Period) -> QueueFactsBuilder {
        QueueFactsBuilder {
            facts: QueueFacts::default(),
            count_in,
            timelines: true,
            visits: true,
            wrap_up: true,
            wraps: HashMap::default(),
            slots: Vec::new(),
            by_hash: HashMap::default(),
            spill: HashMap::new(),
            agents: Vec::new(),
            agent_ix: HashMap::default(),
            key: String::new(),
            cur: None,
            cur_hash: 0,
            hash: key_hash,
        }
    }

    /// A fold of the visits alone: [`QueueFacts::agents`] and [`QueueFacts::agent_counts`]
    /// stay empty (the visits are the same, wrap-up included). For the reports that read no
    /// agent times or counts.
    pub fn visits_only() -> QueueFactsBuilder {
        QueueFactsBuilder {
            timelines: false,
            ..QueueFactsBuilder::new(Period::ALL)
        }
    }

    /// A [`Self::visits_only`] fold whose visits' `wrap_ms` stay 0 (for reports that read no
    /// handle times: a lookup per agent event less).
    pub fn without_wrap_up(self) -> QueueFactsBuilder {
        QueueFactsBuilder {
            wrap_up: false,
            ..self
        }
    }

    /// A fold of the agents alone, counting in `count_in`: [`QueueFacts::visits`] stays
    /// empty, [`QueueFacts::agents`] and [`QueueFacts::agent_counts`] are those of
    /// [`Self::new`]. With [`Self::visits_only`] over the same events, the two halves of
    /// [`Self::new`]'s facts, to fold on two cores ([`Self::join`]).
    pub fn agents_only(count_in: Period) -> QueueFactsBuilder {
        QueueFactsBuilder {
            visits: false,
            ..QueueFactsBuilder::new(count_in)
        }
    }

    /// The facts of a [`Self::visits_only`] fold and an [`Self::agents_only`] fold over the
    /// same events: what [`Self::new`]'s would be.
    pub fn join(visits: QueueFacts, agents: QueueFacts) -> QueueFacts {
        QueueFacts {
            visits: visits.visits,
            agents: agents.agents,
            agent_counts: agents.agent_counts,
        }
    }

    /// The slot of (call id, queue), if it has one.
    fn find(&mut self, call_id: &str, queue: &str) -> Option<usize> {
        self.cur_hash = (self.hash)(call_id, queue);
        let s = *self.by_hash.get(&self.cur_hash)?;
        let named = self.slots[s]
            .1
            .map(|v| &self.facts.visits[v])
            .is_some_and(|v| v.call_id == call_id && v.queue == queue);
        if named {
            return Some(s);
        }
        visit_key(&mut self.key, call_id, queue);
        self.spill.get(self.key.as_str()).copied()
    }

    /// The slot of the event being pushed, made if it has none.
    fn slot(&mut self, ev: &QueueEventRef<'_>) -> &mut (Option<usize>, Option<usize>) {
        let s = match self.cur {
            Some(s) => s,
            None => {
                let s = self.slots.len();
                self.slots.push((None, None));
                match self.by_hash.entry(self.cur_hash) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        visit_key(&mut self.key, ev.call_id, ev.queue);
                        self.spill.insert(self.key.clone(), s);
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(s);
                    }
                }
                self.cur = Some(s);
                s
            }
        };
        &mut self.slots[s]
    }

    fn open(&self) -> Option<usize> {
        self.cur.and_then(|s| self.slots[s].0)
    }

    fn last(&self) -> Option<usize> {
        self.cur.and_then(|s| self.slots[s].1)
    }

    /// Adds the next event of the log.
    pub fn push(&mut self, ev: &QueueEventRef<'_>) {
        let at = ev.at_ms;
        let kind = Ev::of(ev.event);
        if self.visits {
            self.push_visit(ev, kind);
        }
        if !self.timelines {
            if self.wrap_up {
                self.wrap_only(ev, kind);
            }
            return;
        }
        self.push_agent(ev, kind, at);
    }

    /// What an event does to the visits.
    fn push_visit(&mut self, ev: &QueueEventRef<'_>, kind: Ev) {
        let at = ev.at_ms;
        self.cur = self.find(ev.call_id, ev.queue);
        let d = &ev.data;
        let new_visit = |outcome: Outcome, caller: &str, wait: Option<u64>| Visit {
            call_id: ev.call_id.to_owned(),
            queue: ev.queue.to_owned(),
            caller: caller.to_owned(),
            entered_ms: at,
            outcome,
            wait_s: wait,
            ended_ms: (outcome != Outcome::Waiting).then_some(at),
            agent: None,
            connected_ms: None,
            talk_s: None,
            wrap_ms: 0,
            callback: None,
        };
        match kind {
            Ev::EnterQueue => {
                let i = self.facts.visits.len();
                self.facts
                    .visits
                    .push(new_visit(Outcome::Waiting, d.get(1), None));
                *self.slot(ev) = (Some(i), Some(i));
            }
            Ev::Full | Ev::JoinEmpty => {
                let why = if kind == Ev::Full {
                    Overflow::Full
                } else {
                    Overflow::JoinEmpty
                };
                let i = self.facts.visits.len();
                self.facts
                    .visits
                    .push(new_visit(Outcome::Overflowed(why), "", Some(0)));
                self.slot(ev).1 = Some(i);
            }
            Ev::Connect => {
                if let Some(i) = self.open() {
                    let v = &mut self.facts.visits[i];
                    v.outcome = Outcome::Answered;
                    v.wait_s = Some(num(d, 0));
                    v.ended_ms = Some(at);
                    v.connected_ms = Some(at);
                    v.agent = Some(ev.agent.to_owned());
                }
            }
            Ev::CompleteCaller | Ev::CompleteAgent | Ev::BlindTransfer => {
                let talk = if kind == Ev::BlindTransfer {
                    num(d, 3)
                } else {
                    num(d, 1)
                };
                if let Some(i) = self.open() {
                    self.slot(ev).0 = None;
                    self.facts.visits[i].talk_s = Some(talk);
                }
            }
            Ev::CallbackRequest => {
                if let Some(i) = self.open() {
                    self.facts.visits[i].callback = Some(Callback {
                        number: d.get(0).to_owned(),
                        requested_ms: at,
                        ..Callback::default()
                    });
                }
            }
            Ev::CallbackAttempt | Ev::CallbackAnswer => {
                if let Some(cb) = self
                    .open()
                    .and_then(|i| self.facts.visits[i].callback.as_mut())
                {
                    if kind == Ev::CallbackAttempt {
                        cb.attempts += 1;
                    } else {
                        cb.answered_ms = Some(at);
                    }
                }
            }
            Ev::Abandon
            | Ev::ExitWithTimeout
            | Ev::ExitEmpty
            | Ev::ExitWithKey
            | Ev::CallbackFailed => {
                let (outcome, wait) = match kind {
                    Ev::Abandon => (Outcome::Abandoned, num(d, 2)),
                    Ev::ExitWithTimeout => (Outcome::Overflowed(Overflow::Timeout), num(d, 2)),
                    Ev::ExitEmpty => (Outcome::Overflowed(Overflow::Empty), num(d, 2)),
                    Ev::CallbackFailed => {
                        (Outcome::Overflowed(Overflow::CallbackFailed), num(d, 2))
                    }
                    _ => (Outcome::Overflowed(Overflow::Key), num(d, 3)),
                };
                if let Some(i) = self.open() {
                    self.slot(ev).0 = None;
                    let v = &mut self.facts.visits[i];
                    v.outcome = outcome;
                    v.wait_s = Some(wait);
                    v.ended_ms = Some(at);
                }
            }
            _ => {}
        }
    }

    /// What an event does to the agents' timelines and counts (and to the wrap-up of the
    /// visit it belongs to, when the visits are built).
    fn push_agent(&mut self, ev: &QueueEventRef<'_>, kind: Ev, at: i64) {
        if ev.agent != NONE && self.count_in.contains_ms(at) {
            let field: Option<fn(&mut AgentCounts)> = match kind {
                Ev::Offer => Some(|c| c.offers += 1),
                Ev::Connect => Some(|c| c.answered += 1),
                Ev::RingNoAnswer => Some(|c| c.missed += 1),
                Ev::CallbackAttempt => Some(|c| c.callback_attempts += 1),
                _ => None,
            };
            if let Some(field) = field {
                let by_queue = &mut self.agent(ev.agent).counts;
                if !by_queue.contains_key(ev.queue) {
                    by_queue.insert(ev.queue.to_owned(), AgentCounts::default());
                }
                if let Some(c) = by_queue.get_mut(ev.queue) {
                    field(c);
                }
            }
        }
        if ev.agent == NONE || ev.agent.is_empty() {
            return;
        }
        let last = if self.visits { self.last() } else { None };
        let i = self.agent_slot(ev.agent);
        let a = &mut self.agents[i];
        agent_event(&mut a.tl, &mut a.st, ev, kind, last, &mut self.facts.visits);
    }

    /// The index in `agents` of agent `id` (not `NONE`), made if it has none.
    fn agent_slot(&mut self, id: &str) -> usize {
        if let Some(&i) = self.agent_ix.get(id) {
            return i;
        }
        let i = self.agents.len();
        self.agents.push(AgentSlot {
            id: id.to_owned(),
            ..AgentSlot::default()
        });
        self.agent_ix.insert(id.to_owned(), i);
        i
    }

    fn agent(&mut self, id: &str) -> &mut AgentSlot {
        let i = self.agent_slot(id);
        &mut self.agents[i]
    }

    /// What [`agent_event`] does to the visits' wrap-up, alone.
    fn wrap_only(&mut self, ev: &QueueEventRef<'_>, kind: Ev) {
        if ev.agent == NONE || ev.agent.is_empty() {
            return;
        }
        let last = self.last();
        let w = match self.wraps.get_mut(ev.agent) {
            Some(w) => w,
            None => self.wraps.entry(ev.agent.to_owned()).or_default(),
        };
        match kind {
            Ev::Connect => *w = None,
            Ev::BlindTransfer | Ev::WrapupStart => *w = Some((last, ev.at_ms)),
            Ev::WrapupEnd => {
                if let Some((Some(i), since)) = w.take() {
                    self.facts.visits[i].wrap_ms = ev.at_ms - since;
                }
            }
            _ => {}
        }
    }

    /// The facts, with the intervals still open closed at `now_ms`.
    pub fn finish(mut self, now_ms: i64) -> QueueFacts {
        let facts = &mut self.facts;
        for a in self.agents {
            let AgentSlot {
                id,
                mut tl,
                mut st,
                counts,
            } = a;
            if !counts.is_empty() {
                facts.agent_counts.insert(id.clone(), counts);
            }
            // An agent with a timeline has a name (the counts also count `""`).
            if id.is_empty() {
                continue;
            }
            close_agent(&mut tl, &mut st, now_ms);
            facts.agents.insert(id, tl);
        }
        self.facts
    }
}

/// Closes the agent's intervals still open at `now_ms`.
fn close_agent(tl: &mut AgentTimeline, st: &mut AgentState, now_ms: i64) {
    let queues: Vec<String> = st.queues.keys().cloned().collect();
    for q in queues {
        leave_queue(tl, st, &q, now_ms);
    }
    if let Some((q, since)) = st.talk.take() {
        tl.talk.entry(q).or_default().add(since, now_ms);
    }
    if let Some((_, q, since)) = st.wrap.take() {
        tl.wrap.entry(q).or_default().add(since, now_ms);
    }
}

fn join_queue(tl: &mut AgentTimeline, st: &mut AgentState, queue: &str, at: i64) {
    if st.queues.contains_key(queue) {
        return;
    }
    st.queues.insert(queue.to_owned(), at);
    if st.login_since.is_none() {
        st.login_since = Some(at);
    }
    tl.member.entry(queue.to_owned()).or_default();
}

fn leave_queue(tl: &mut AgentTimeline, st: &mut AgentState, queue: &str, at: i64) {
    if let Some(since) = st.queues.remove(queue) {
        tl.member
            .entry(queue.to_owned())
            .or_default()
            .add(since, at);
    }
    // The implicit membership (`""`, from an agent event without a queue) ends with the last
    // real one — or with any logout when it is all we knew.
    if st.login_since.is_some() && st.queues.keys().all(String::is_empty) {
        if let Some(since) = st.queues.remove("") {
            tl.member.entry(String::new()).or_default().add(since, at);
        }
        if let Some(since) = st.login_since.take() {
            tl.logged_in.add(since, at);
        }
        if let Some((reason, since)) = st.pause.take() {
            tl.paused.entry(reason).or_default().add(since, at);
        }
    }
}

fn agent_event(
    tl: &mut AgentTimeline,
    st: &mut AgentState,
    ev: &QueueEventRef<'_>,
    kind: Ev,
    last: Option<usize>,
    visits: &mut [Visit],
) {
    let at = ev.at_ms;
    let queue = if ev.queue == NONE { "" } else { ev.queue };
    match kind {
        Ev::AddMember => {
            let ext = ev.data.get(0);
            if !ext.is_empty() {
                tl.extension = Some(ext.to_owned());
            }
            join_queue(tl, st, queue, at);
            // A real membership replaces an implicit one.
            if !queue.is_empty()
                && let Some(since) = st.queues.remove("")
            {
                tl.member.entry(String::new()).or_default().add(since, at);
            }
            return;
        }
        Ev::RemoveMember => {
            leave_queue(tl, st, queue, at);
            return;
        }
        _ => {}
    }
    // Any other agent event: the agent is logged in (to this queue, if it names one).
    if st.login_since.is_none() || (!queue.is_empty() && !st.queues.contains_key(queue)) {
        join_queue(tl, st, queue, at);
    }
    match kind {
        Ev::Offer => {
            let ext = ev.data.get(0);
            if !ext.is_empty() {
                tl.extension = Some(ext.to_owned());
            }
        }
        Ev::PauseAll => {
            if let Some((reason, since)) = st.pause.take() {
                tl.paused.entry(reason).or_default().add(since, at);
            }
            let reason = ev.data.get(0).to_owned();
            st.pause = Some((reason, at));
        }
        Ev::UnpauseAll => {
            if let Some((reason, since)) = st.pause.take() {
                tl.paused.entry(reason).or_default().add(since, at);
            }
        }
        Ev::Connect => {
            // A wrap-up never closed by WRAPUPEND (a transfer without wrap-up) ends here.
            st.wrap = None;
            st.talk = Some((queue.to_owned(), at));
        }
        Ev::CompleteCaller | Ev::CompleteAgent | Ev::BlindTransfer => {
            if let Some((q, since)) = st.talk.take() {
                tl.talk.entry(q).or_default().add(since, at);
            }
            if kind == Ev::BlindTransfer {
                st.wrap = Some((last, queue.to_owned(), at));
            }
        }
        Ev::WrapupStart => {
            st.wrap = Some((last, queue.to_owned(), at));
        }
        Ev::WrapupEnd => {
            if let Some((visit, q, since)) = st.wrap.take() {
                tl.wrap.entry(q).or_default().add(since, at);
                if let Some(i) = visit {
                    visits[i].wrap_ms = at - since;
                }
            }
        }
        _ => {}
    }
}

/// Where a call came from and went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The caller is not one of our extensions.
    Inbound,
    /// One of our extensions called a number that is not ours, or Zvon called a customer
    /// back on one.
    Outbound,
    /// One of our extensions called an extension, queue, group, IVR, mailbox or feature code.
    Internal,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
        }
    }
}

/// History steps that mean the call stayed with us.
const INTERNAL_STEPS: &[&str] = &[
    "queue:",
    "ivr:",
    "group:",
    "feature:",
    "mailbox:",
    "voicemail:",
    "pickup:",
];

/// The `;`-separated steps of a CDR's history.
pub fn steps(history: &str) -> impl Iterator<Item = &str> {
    history.split(';').filter(|s| !s.is_empty())
}

/// Our extension numbers: the configured ones and the agents'. Without a configuration that
/// names any, every number that answered a call stands in (today only extensions answer;
/// with trunks the far end of an outbound call would too).
pub fn extensions(ctx: &Context, data: &Dataset) -> BTreeSet<String> {
    let mut e = ctx.extensions.clone();
    e.extend(ctx.agents.values().map(|(_, ext)| ext.clone()));
    if e.is_empty() {
        e.extend(data.cdrs.iter().filter_map(|c| c.answered_by.clone()));
    }
    e
}

/// A call Zvon placed to call a queue's customer back (its history starts `callback:QUEUE`).
pub fn is_callback(c: &CdrRecord) -> bool {
    steps(&c.history)
        .next()
        .is_some_and(|s| s.starts_with("callback:"))
}

/// The direction of a call, given our extensions. A callback call (whose caller field is the
/// customer's number) is outbound, or internal when the number is one of ours.
pub fn direction(c: &CdrRecord, exts: &BTreeSet<String>) -> Direction {
    if is_callback(c) {
        return if exts.contains(&c.dialed) {
            Direction::Internal
        } else {
            Direction::Outbound
        };
    }
    if !exts.contains(&c.caller) {
        Direction::Inbound
    } else if exts.contains(&c.dialed)
        || steps(&c.history).any(|s| INTERNAL_STEPS.iter().any(|p| s.starts_with(p)))
    {
        Direction::Internal
    } else {
        Direction::Outbound
    }
}

/// A feature-code call (`*78`, ...): a setting, not a conversation.
pub fn is_feature(c: &CdrRecord) -> bool {
    steps(&c.history).any(|s| s.starts_with("feature:"))
}

/// A person answered (`answered_by` is set; Zvon answering for a queue, an IVR or voicemail
/// does not count).
pub fn answered(c: &CdrRecord) -> bool {
    c.answered_by.is_some()
}

/// Talk seconds: from the first answer of a callee leg (a person) to the end of the call;
/// `billsec` when the legs do not say; 0 when nobody answered. (The CDR's own `answer` is
/// when Zvon answered — for a queue or IVR call that is before anybody talked.)
pub fn talk_s(c: &CdrRecord) -> u64 {
    if !answered(c) {
        return 0;
    }
    c.legs
        .iter()
        .filter(|l| l.side == "callee")
        .filter_map(|l| l.answer)
        .min()
        .map_or(c.billsec, |a| c.end.saturating_sub(a))
}

/// The call went nowhere: `FAILED`.
pub fn failed(c: &CdrRecord) -> bool {
    c.disposition == Disposition::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_are_the_same_when_every_call_and_queue_hash_the_same() {
        let f = crate::report::kpi_tests::fixture_events();
        let mut b = QueueFactsBuilder::new(Period::ALL);
        b.hash = |_, _| 7;
        for ev in &f {
            b.push(&ev.as_ref());
        }
        let collided = b.finish(0);
        assert!(collided.visits.len() > 200);
        assert_eq!(collided, queue_facts(&f, 0));
    }

    #[test]
    fn the_visits_and_agents_folds_joined_are_the_whole_fold() {
        let f = crate::report::kpi_tests::fixture_events();
        let count_in = Period {
            from: f.get(f.len() / 3).map(|e| e.at_ms / 1000),
            to: f.get(f.len() * 2 / 3).map(|e| e.at_ms / 1000),
        };
        let (mut v, mut a) = (
            QueueFactsBuilder::visits_only(),
            QueueFactsBuilder::agents_only(count_in),
        );
        for ev in &f {
            v.push(&ev.as_ref());
            a.push(&ev.as_ref());
        }
        let now = f.last().map_or(0, |e| e.at_ms + 5_000);
        let joined = QueueFactsBuilder::join(v.finish(now), a.finish(now));
        let whole = queue_facts_in(&f, count_in, now);
        assert!(whole.visits.iter().any(|v| v.wrap_ms > 0));
        assert!(!whole.agents.is_empty() && !whole.agent_counts.is_empty());
        assert_eq!(joined, whole);
    }

    #[test]
    fn spans_union_intersect_subtract_and_clip() {
        let mut a = Spans::default();
        a.add(0, 10);
        a.add(20, 30);
        a.add(5, 12);
        a.add(7, 7);
        assert_eq!(a.0, vec![(0, 12), (20, 30)]);
        // Out of order, overlapping several, touching.
        let mut c = Spans::default();
        for (x, y) in [(50, 60), (10, 20), (30, 40), (15, 35), (60, 61), (0, 1)] {
            c.add(x, y);
        }
        assert_eq!(c.0, vec![(0, 1), (10, 40), (50, 61)]);
        let b = Spans(vec![(10, 25), (28, 40)]);
        assert_eq!(a.intersect(&b).0, vec![(10, 12), (20, 25), (28, 30)]);
        assert_eq!(a.union(&b).0, vec![(0, 40)]);
        assert_eq!(a.minus(&b).0, vec![(0, 10), (25, 28)]);
        assert_eq!(b.minus(&a).0, vec![(12, 20), (30, 40)]);
        assert_eq!(a.minus(&Spans::default()), a);
        assert_eq!(a.total_ms(), 22);
        let p = Period {
            from: Some(0),
            to: Some(0),
        };
        assert_eq!(a.clip(&p).total_ms(), 0);
        assert_eq!(a.clip(&Period::ALL), a);
    }
}
