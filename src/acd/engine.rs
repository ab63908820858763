//! The ACD state machine: waiting callers, agents, offers, timers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{AcdConfig, ExitKey, JoinWhen, LeaveWhen, QueueConfig, Skills, Strategy};
use crate::dialplan::Step;
use crate::time::Now;

/// The engine's id of a call (the B2BUA's call id).
pub type CallId = u64;

/// What the ACD needs to know about phones, read when it decides.
pub trait Presence {
    /// The extension has at least one reachable registered contact.
    fn reachable(&self, ext: &str) -> bool;
    /// Calls the extension is in that are not queue calls the ACD gave it (direct calls,
    /// outbound calls, ringing direct calls).
    fn direct_calls(&self, ext: &str) -> usize;
}

/// A mistake in a request to the ACD (from a feature code or the control socket).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error("no agent `{0}`")]
    UnknownAgent(String),
    #[error("no queue `{0}`")]
    UnknownQueue(String),
    #[error("agent `{agent}` does not serve queue `{queue}`")]
    NotMember { agent: String, queue: String },
    #[error("agent `{0}` is not logged in")]
    NotLoggedIn(String),
}

/// One row of the queue event log (names as Asterisk's queue_log where it has them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcdEvent {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The call's CDR uniqueid, or `NONE`.
    pub call_id: String,
    pub queue: String,
    pub agent: String,
    pub event: &'static str,
    pub data: Vec<String>,
}

/// Why a caller left the queue (other than being answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    Timeout,
    Key(char),
    Empty,
}

/// What the engine must do.
#[derive(Clone, Debug, PartialEq)]
pub enum AcdOutput {
    /// Ring `ext` (the agent's phones) for the caller `call`.
    Offer {
        call: CallId,
        agent: String,
        ext: String,
        queue: String,
    },
    /// Stop ringing the agent for this caller (timeout, or another agent answered).
    Withdraw { call: CallId, agent: String },
    /// Play these prompts to the waiting caller (music resumes after).
    Announce { call: CallId, prompts: Vec<String> },
    /// The caller leaves the queue for `to` (`None`: play "all operators busy" and hang up).
    Leave {
        call: CallId,
        to: Option<Step>,
        reason: LeaveReason,
    },
    /// The caller pressed the callback key: confirm the number with them (then
    /// [`Acd::callback_request`]).
    CallbackMenu { call: CallId },
    /// A callback caller's turn: `agent` is reserved; call the customer on `number` (then
    /// [`Acd::callback_started`], and [`Acd::callback_answered`] or [`Acd::callback_failed`]).
    Callback {
        call: CallId,
        agent: String,
        number: String,
        queue: String,
        /// The caller's original call (the callback call's CDR links to it).
        linkedid: String,
    },
    /// Stop ringing the customer of this callback attempt (it rang out).
    CallbackCancel { call: CallId },
    /// A queue event for the log.
    Event(AcdEvent),
    /// An agent's login or pause state changed (the engine saves it: [`Acd::snapshot`]).
    AgentChanged(String),
}

/// The answer to [`Acd::join`].
#[derive(Clone, Debug, PartialEq)]
pub enum JoinResult {
    /// Waiting now, at this position.
    Queued(usize),
    /// The queue is full: go here (`None`: busy).
    Full(Option<Step>),
    /// Nobody serves the queue: go here (`None`: busy).
    Empty(Option<Step>),
    /// No such queue.
    NoQueue,
}

/// An agent's state as shown to people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    LoggedOut,
    Available,
    /// A queue caller is ringing the agent.
    Ringing,
    OnQueueCall,
    OnDirectCall,
    WrapUp,
    Paused,
    /// Logged in but no phone registered.
    Unreachable,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::LoggedOut => "logged out",
            AgentStatus::Available => "available",
            AgentStatus::Ringing => "ringing",
            AgentStatus::OnQueueCall => "on queue call",
            AgentStatus::OnDirectCall => "on direct call",
            AgentStatus::WrapUp => "wrap-up",
            AgentStatus::Paused => "paused",
            AgentStatus::Unreachable => "unreachable",
        }
    }
}

/// An agent in the live view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub status: AgentStatus,
    pub pause_reason: Option<u16>,
    /// Queues the agent is logged in to.
    pub queues: Vec<String>,
    pub calls_answered: u32,
    /// For how long the agent has been in this state.
    pub since: Duration,
}

/// A waiting caller in the live view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingView {
    pub call_id: String,
    pub caller: String,
    pub priority: u8,
    pub waited: Duration,
    pub ringing: Vec<String>,
    /// Waiting for a callback to this number (not on the line).
    pub callback: Option<String>,
}

/// A queue in the live view.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueView {
    pub name: String,
    pub strategy: &'static str,
    pub waiting: Vec<WaitingView>,
    pub agents: Vec<AgentView>,
    pub answered: u32,
    pub abandoned: u32,
    pub overflowed: u32,
    /// Today's service level, abandon rate and ASA, with the reports' definitions
    /// ([`super::kpi`]).
    pub kpis: super::kpi::QueueKpis,
    pub aht: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// An offer rings out (valid while the caller's offer has this serial).
    Offer(CallId, u64),
    /// The caller may be offered again.
    Retry(CallId),
    MaxWait(CallId),
    Position(CallId),
    Custom(CallId),
    /// A skills-relaxation step is reached.
    Relax(CallId),
    /// A callback attempt rings out.
    Reserve(CallId, u64),
    /// Wrap-up ends for an agent (index).
    WrapUp(usize),
}

#[derive(Clone, Debug)]
enum CallerState {
    Waiting,
    /// A callback attempt: `agent` is kept free for this caller while Zvon rings the customer.
    Reserved {
        agent: usize,
        serial: u64,
        until: Instant,
    },
    /// Ringing these agents since `since`; `serial` tells stale timers apart.
    Offered {
        agents: Vec<usize>,
        since: Instant,
        serial: u64,
    },
}

#[derive(Clone, Debug)]
struct Caller {
    uniqueid: String,
    caller: String,
    queue: usize,
    priority: u8,
    seq: u64,
    joined: Instant,
    orig_position: usize,
    state: CallerState,
    retry_at: Option<Instant>,
    /// Agents who did not answer this caller.
    tried: Vec<usize>,
    skills: Option<Skills>,
    lang: String,
    /// The first wait estimate announced (for accuracy measurement).
    announced_ewt: Option<Duration>,
    /// Asked to be called back.
    callback: Option<CallbackState>,
}

#[derive(Clone, Debug)]
struct CallbackState {
    number: String,
    attempts: u32,
    /// The customer is on the line again (a callback call answered).
    active: bool,
}

#[derive(Clone, Debug)]
struct Connected {
    agent: usize,
    queue: usize,
    uniqueid: String,
    hold: Duration,
    at: Instant,
    orig_position: usize,
}

#[derive(Clone, Debug)]
struct Member {
    agent: usize,
    penalty: u32,
    /// Logged in to this queue.
    active: bool,
    calls: u32,
    talk: Duration,
}

#[derive(Clone, Debug)]
struct QueueState {
    name: String,
    cfg: QueueConfig,
    /// (priority high first, arrival) → call.
    waiting: BTreeSet<(Reverse<u8>, u64, CallId)>,
    members: Vec<Member>,
    /// Round-robin memory: index into `members` of the last agent offered.
    rr_last: Option<usize>,
    aht: Duration,
    answered: u32,
    abandoned: u32,
    overflowed: u32,
    /// Today's numbers with the reports' definitions, from the queue events.
    kpis: super::kpi::QueueKpis,
}

#[derive(Clone, Debug)]
struct AgentState {
    id: String,
    name: String,
    ext: String,
    skills: Skills,
    wrapup: Option<Duration>,
    logged_in: bool,
    paused: Option<u16>,
    offered: Option<CallId>,
    on_call: Option<CallId>,
    wrapup_until: Option<Instant>,
    /// When the agent last became idle (longest-idle); login time at first.
    idle_since: Instant,
    /// When the shown state last changed.
    changed: Instant,
    missed_in_row: u32,
    answered: u32,
}

/// The ACD engine.
#[derive(Debug)]
pub struct Acd {
    queues: Vec<QueueState>,
    queue_index: HashMap<String, usize>,
    agents: Vec<AgentState>,
    agent_index: HashMap<String, usize>,
    ext_index: HashMap<String, usize>,
    callers: HashMap<CallId, Caller>,
    connected: HashMap<CallId, Connected>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    dirty: BTreeSet<usize>,
    /// Agent → the queues it is a member of (logged in or not).
    agent_queues: Vec<Vec<usize>>,
    /// Queues to check against `leave_when` at the next distribution (after an auto-pause).
    empty_check: BTreeSet<usize>,
    out: VecDeque<AcdOutput>,
    rng: StdRng,
    seq: u64,
    serial: u64,
    /// Distribution decisions made (for the benchmark).
    pub decisions: u64,
}

const NONE: &str = "NONE";

fn ms(now: Now) -> i64 {
    i64::try_from(now.wall.0).unwrap_or(i64::MAX / 1000) * 1000
}

fn secs(d: Duration) -> String {
    d.as_secs().to_string()
}

impl Acd {
    /// An engine for `cfg` at `now`; agents with `logged_in` start logged in.
    pub fn new(cfg: &AcdConfig, now: Now, seed: u64) -> Acd {
        let mut acd = Acd {
            queues: Vec::new(),
            queue_index: HashMap::new(),
            agents: Vec::new(),
            agent_index: HashMap::new(),
            ext_index: HashMap::new(),
            callers: HashMap::new(),
            connected: HashMap::new(),
            timers: BinaryHeap::new(),
            dirty: BTreeSet::new(),
            empty_check: BTreeSet::new(),
            agent_queues: Vec::new(),
            out: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed),
            seq: 0,
            serial: 0,
            decisions: 0,
        };
        for (name, q) in &cfg.queues {
            acd.queue_index.insert(name.clone(), acd.queues.len());
            acd.queues.push(QueueState {
                name: name.clone(),
                aht: q.expected_handle_time,
                cfg: q.clone(),
                waiting: BTreeSet::new(),
                members: Vec::new(),
                rr_last: None,
                answered: 0,
                abandoned: 0,
                overflowed: 0,
                kpis: super::kpi::QueueKpis::default(),
            });
        }
        for (id, a) in &cfg.agents {
            let idx = acd.agents.len();
            acd.agent_index.insert(id.clone(), idx);
            acd.ext_index.insert(a.extension.clone(), idx);
            acd.agents.push(AgentState {
                id: id.clone(),
                name: a.name.clone(),
                ext: a.extension.clone(),
                skills: a.skills.clone(),
                wrapup: a.wrapup,
                logged_in: a.logged_in,
                paused: None,
                offered: None,
                on_call: None,
                wrapup_until: None,
                idle_since: now.mono,
                changed: now.mono,
                missed_in_row: 0,
                answered: 0,
            });
            acd.agent_queues.push(Vec::new());
            for (q, penalty) in &a.queues {
                if let Some(&qi) = acd.queue_index.get(q) {
                    acd.agent_queues[idx].push(qi);
                    acd.queues[qi].members.push(Member {
                        agent: idx,
                        penalty: *penalty,
                        active: a.logged_in,
                        calls: 0,
                        talk: Duration::ZERO,
                    });
                }
            }
        }
        acd
    }

    /// True when `name` is a queue.
    pub fn has_queue(&self, name: &str) -> bool {
        self.queue_index.contains_key(name)
    }

    /// The agent id whose phone is `ext`.
    pub fn agent_of_extension(&self, ext: &str) -> Option<&str> {
        self.ext_index.get(ext).map(|&i| self.agents[i].id.as_str())
    }

    /// The queue a waiting caller is in.
    pub fn queue_of(&self, call: CallId) -> Option<&str> {
        self.callers
            .get(&call)
            .map(|c| self.queues[c.queue].name.as_str())
    }

    /// True while the call waits in a queue (not yet connected).
    pub fn is_waiting(&self, call: CallId) -> bool {
        self.callers.contains_key(&call)
    }

    /// The agent connected to this queue call.
    pub fn connected_agent(&self, call: CallId) -> Option<&str> {
        self.connected
            .get(&call)
            .map(|c| self.agents[c.agent].id.as_str())
    }

    pub fn poll_output(&mut self) -> Option<AcdOutput> {
        self.out.pop_front()
    }

    /// The earliest deadline (stale ones included; they are skipped when they fire).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    fn arm(&mut self, at: Instant, t: Timer) {
        self.timers.push(Reverse((at, t)));
    }

    fn event(
        &mut self,
        now: Now,
        call_id: &str,
        queue: &str,
        agent: &str,
        event: &'static str,
        data: Vec<String>,
    ) {
        if let Some(q) = self.queues.iter_mut().find(|q| q.name == queue) {
            let t = q.cfg.service_level.as_secs();
            q.kpis
                .event(event, &data, t, super::kpi::DEFAULT_SHORT_ABANDON);
        }
        self.out.push_back(AcdOutput::Event(AcdEvent {
            at_ms: ms(now),
            call_id: call_id.to_owned(),
            queue: queue.to_owned(),
            agent: agent.to_owned(),
            event,
            data,
        }));
    }

    fn logged_in_count(&self, q: usize, unpaused: bool) -> usize {
        self.queues[q]
            .members
            .iter()
            .filter(|m| m.active && self.agents[m.agent].logged_in)
            .filter(|m| !unpaused || self.agents[m.agent].paused.is_none())
            .count()
    }

    /// Puts a caller in a queue. `priority`: higher is served first (FIFO within one).
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &mut self,
        now: Now,
        call: CallId,
        uniqueid: &str,
        caller: &str,
        queue: &str,
        priority: u8,
        lang: &str,
        p: &impl Presence,
    ) -> JoinResult {
        self.join_with_skills(now, call, uniqueid, caller, queue, priority, lang, None, p)
    }

    /// [`Acd::join`] with the skills this caller needs (set by the dial plan or IVR) instead
    /// of the queue's; the queue's `relax` steps still apply.
    #[allow(clippy::too_many_arguments)]
    pub fn join_with_skills(
        &mut self,
        now: Now,
        call: CallId,
        uniqueid: &str,
        caller: &str,
        queue: &str,
        priority: u8,
        lang: &str,
        skills: Option<Skills>,
        p: &impl Presence,
    ) -> JoinResult {
        let Some(&qi) = self.queue_index.get(queue) else {
            return JoinResult::NoQueue;
        };
        let cfg = &self.queues[qi].cfg;
        let position = self.queues[qi].waiting.len() + 1;
        if cfg.max_callers.is_some_and(|m| position > m) {
            let to = cfg.on_full.clone();
            self.queues[qi].overflowed += 1;
            self.event(
                now,
                uniqueid,
                queue,
                NONE,
                "FULL",
                vec![position.to_string()],
            );
            return JoinResult::Full(to);
        }
        let empty = match cfg.join_when {
            JoinWhen::Always => false,
            JoinWhen::LoggedIn => self.logged_in_count(qi, false) == 0,
            JoinWhen::Unpaused => self.logged_in_count(qi, true) == 0,
        };
        if empty {
            let to = self.queues[qi].cfg.on_empty.clone();
            self.queues[qi].overflowed += 1;
            self.event(now, uniqueid, queue, NONE, "JOINEMPTY", vec![]);
            return JoinResult::Empty(to);
        }
        self.seq += 1;
        let seq = self.seq;
        self.queues[qi]
            .waiting
            .insert((Reverse(priority), seq, call));
        let position = self.position(qi, call).unwrap_or(position);
        let cfg = self.queues[qi].cfg.clone();
        self.callers.insert(
            call,
            Caller {
                uniqueid: uniqueid.to_owned(),
                caller: caller.to_owned(),
                queue: qi,
                priority,
                seq,
                joined: now.mono,
                orig_position: position,
                state: CallerState::Waiting,
                retry_at: None,
                tried: Vec::new(),
                skills,
                lang: lang.to_owned(),
                announced_ewt: None,
                callback: None,
            },
        );
        self.event(
            now,
            uniqueid,
            queue,
            NONE,
            "ENTERQUEUE",
            vec![String::new(), caller.to_owned(), position.to_string()],
        );
        if let Some(d) = cfg.max_wait {
            self.arm(now.mono + d, Timer::MaxWait(call));
        }
        if let Some(d) = cfg.announce_every {
            self.arm(now.mono + d, Timer::Custom(call));
        }
        for (after, _) in &cfg.relax {
            self.arm(now.mono + *after, Timer::Relax(call));
        }
        // The greeting, then position and wait (if announced), in one sequence.
        let mut prompts = cfg.greeting.clone();
        if let Some(every) = cfg.announce_position {
            prompts.extend(self.position_prompts(call, p));
            self.arm(now.mono + every, Timer::Position(call));
        }
        self.dirty.insert(qi);
        self.distribute(now, p);
        // Announce only to callers still waiting for an agent to answer.
        if !prompts.is_empty() && self.callers.contains_key(&call) {
            self.out.push_back(AcdOutput::Announce { call, prompts });
        }
        JoinResult::Queued(position)
    }

    /// Sets the skills a caller needs (instead of the queue's), e.g. from the IVR.
    pub fn set_caller_skills(&mut self, call: CallId, skills: Skills) {
        if let Some(c) = self.callers.get_mut(&call) {
            c.skills = Some(skills);
            let (q, joined) = (c.queue, c.joined);
            self.dirty.insert(q);
            // Without `now` and presence here: a deadline already passed makes the runtime
            // come back at once and distribute.
            self.arm(joined, Timer::Relax(call));
        }
    }

    /// 1-based position of a waiting caller.
    fn position(&self, q: usize, call: CallId) -> Option<usize> {
        self.queues[q]
            .waiting
            .iter()
            .position(|&(_, _, c)| c == call)
            .map(|i| i + 1)
    }

    /// The wait estimate for the caller at `position` of queue `q` (see the module docs).
    fn ewt(&self, q: usize, call: CallId, position: usize, p: &impl Presence) -> Duration {
        let qs = &self.queues[q];
        // Position, and how many callers ahead already ring (or have reserved) an agent: those
        // are being served by agents that are not free, so they do not wait for one. Found
        // through the queue's agents (a few), not by walking the callers ahead.
        let Some(me) = self.callers.get(&call) else {
            return Duration::ZERO;
        };
        let my_key = (Reverse(me.priority), me.seq);
        let mut ringing: Vec<CallId> = qs
            .members
            .iter()
            .filter_map(|m| self.agents[m.agent].offered)
            .filter(|&c| c != call)
            .collect();
        ringing.sort_unstable();
        ringing.dedup();
        let ringing_ahead = ringing
            .iter()
            .filter(|c| {
                self.callers
                    .get(c)
                    .is_some_and(|x| x.queue == q && (Reverse(x.priority), x.seq) < my_key)
            })
            .count();
        let mut serving = 0u32;
        let mut free = 0usize;
        for m in qs.members.iter().filter(|m| m.active) {
            let a = &self.agents[m.agent];
            if !a.logged_in || a.paused.is_some() {
                continue;
            }
            serving += 1;
            if a.offered.is_none()
                && a.on_call.is_none()
                && a.wrapup_until.is_none()
                && p.reachable(&a.ext)
                && p.direct_calls(&a.ext) == 0
            {
                free += 1;
            }
        }
        let ahead = position.saturating_sub(ringing_ahead + free) as u32;
        if serving == 0 {
            return qs.aht * ahead;
        }
        qs.aht * ahead / serving
    }

    /// The current wait estimate for a waiting caller.
    pub fn estimate(&self, call: CallId, p: &impl Presence) -> Option<Duration> {
        let c = self.callers.get(&call)?;
        let pos = self.position(c.queue, call)?;
        Some(self.ewt(c.queue, call, pos, p))
    }

    /// The first estimate announced to a caller.
    pub fn announced_estimate(&self, call: CallId) -> Option<Duration> {
        self.callers.get(&call).and_then(|c| c.announced_ewt)
    }

    fn position_prompts(&mut self, call: CallId, p: &impl Presence) -> Vec<String> {
        let Some(c) = self.callers.get(&call) else {
            return Vec::new();
        };
        let (q, lang) = (c.queue, c.lang.clone());
        let Some(pos) = self.position(q, call) else {
            return Vec::new();
        };
        let ewt = self.ewt(q, call, pos, p);
        if let Some(c) = self.callers.get_mut(&call) {
            c.announced_ewt.get_or_insert(ewt);
        }
        let say = crate::ivr::say::say_position(&lang, pos as u32)
            .into_iter()
            .chain(crate::ivr::say::say_wait(&lang, ewt.as_secs()));
        say.map(str::to_owned).collect()
    }

    /// The skills a caller needs now (queue's or its own, relaxed by the time waited).
    fn required<'a>(&'a self, c: &'a Caller, now: Instant) -> &'a Skills {
        let cfg = &self.queues[c.queue].cfg;
        let waited = now.saturating_duration_since(c.joined);
        let mut req = c.skills.as_ref().unwrap_or(&cfg.skills);
        for (after, r) in &cfg.relax {
            if waited >= *after {
                req = r;
            }
        }
        req
    }

    fn agent_free(&self, a: usize, offer_busy: bool, now: Instant, p: &impl Presence) -> bool {
        let ag = &self.agents[a];
        ag.logged_in
            && ag.paused.is_none()
            && ag.offered.is_none()
            && ag.on_call.is_none()
            && ag.wrapup_until.is_none_or(|t| t <= now)
            && p.reachable(&ag.ext)
            && (offer_busy || p.direct_calls(&ag.ext) == 0)
    }

    /// Offers waiting callers of the dirty queues to free agents.
    fn distribute(&mut self, now: Now, p: &impl Presence) {
        while let Some(q) = self.empty_check.pop_first() {
            self.leave_if_empty(now, q, p);
        }
        while let Some(q) = self.dirty.pop_first() {
            self.distribute_queue(now, q, p);
        }
    }

    fn distribute_queue(&mut self, now: Now, q: usize, p: &impl Presence) {
        let offer_busy = self.queues[q].cfg.offer_busy_agents;
        let mut free: Vec<usize> = self.queues[q]
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.active && self.agent_free(m.agent, offer_busy, now.mono, p))
            .map(|(i, _)| i)
            .collect();
        if free.is_empty() {
            return;
        }
        // Walk the queue in order, a batch of offerable callers at a time (as many as there
        // are free agents), instead of copying the whole waiting set per decision.
        let mut cursor: Option<(Reverse<u8>, u64, CallId)> = None;
        'batches: while !free.is_empty() {
            let want = free.len();
            let batch: Vec<(Reverse<u8>, u64, CallId)> = {
                let ws = &self.queues[q].waiting;
                let iter: Box<dyn Iterator<Item = &(Reverse<u8>, u64, CallId)>> = match cursor {
                    None => Box::new(ws.iter()),
                    Some(k) => Box::new(
                        ws.range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)),
                    ),
                };
                iter.filter(|(_, _, call)| {
                    self.callers.get(call).is_some_and(|c| {
                        matches!(c.state, CallerState::Waiting)
                            && c.retry_at.is_none_or(|t| t <= now.mono)
                    })
                })
                .take(want)
                .copied()
                .collect()
            };
            let Some(&last) = batch.last() else {
                break;
            };
            cursor = Some(last);
            for (_, _, call) in batch {
                if free.is_empty() {
                    break 'batches;
                }
                let Some(c) = self.callers.get(&call) else {
                    continue;
                };
                let req = self.required(c, now.mono);
                let unrestricted = req.is_empty();
                let eligible: Vec<usize> = free
                    .iter()
                    .copied()
                    .filter(|&mi| {
                        let a = &self.agents[self.queues[q].members[mi].agent];
                        req.iter()
                            .all(|(s, lvl)| a.skills.get(s).is_some_and(|l| l >= lvl))
                    })
                    .collect();
                if eligible.is_empty() {
                    if unrestricted {
                        break 'batches;
                    }
                    continue;
                }
                let mut picked = self.pick(q, call, &eligible, now.mono);
                let virtual_ = self
                    .callers
                    .get(&call)
                    .and_then(|c| c.callback.as_ref())
                    .is_some_and(|cb| !cb.active);
                if virtual_ {
                    picked.truncate(1);
                    free.retain(|m| !picked.contains(m));
                    self.reserve(now, q, call, picked[0]);
                    continue;
                }
                free.retain(|m| !picked.contains(m));
                self.offer(now, q, call, &picked);
            }
        }
    }

    /// A callback caller's turn: keep agent (member index `m`) for them and have the engine
    /// call the customer.
    fn reserve(&mut self, now: Now, q: usize, call: CallId, m: usize) {
        self.serial += 1;
        let serial = self.serial;
        let agent = self.queues[q].members[m].agent;
        let until = now.mono + self.queues[q].cfg.callback_ring;
        let Some(c) = self.callers.get_mut(&call) else {
            return;
        };
        c.state = CallerState::Reserved {
            agent,
            serial,
            until,
        };
        let Some(cb) = c.callback.as_mut() else {
            return;
        };
        cb.attempts += 1;
        let (number, attempt, uid) = (cb.number.clone(), cb.attempts, c.uniqueid.clone());
        self.agents[agent].offered = Some(call);
        self.agents[agent].changed = now.mono;
        self.arm(until, Timer::Reserve(call, serial));
        let (qname, id) = (self.queues[q].name.clone(), self.agents[agent].id.clone());
        self.event(
            now,
            &uid,
            &qname,
            &id,
            "CALLBACKATTEMPT",
            vec![number.clone(), attempt.to_string()],
        );
        self.out.push_back(AcdOutput::Callback {
            call,
            agent: id,
            number,
            queue: qname,
            linkedid: uid,
        });
    }

    /// The strategy's choice among `eligible` (indices into the queue's members).
    fn pick(&mut self, q: usize, call: CallId, eligible: &[usize], now: Instant) -> Vec<usize> {
        self.decisions += 1;
        let qs = &self.queues[q];
        let min_pen = eligible
            .iter()
            .map(|&m| qs.members[m].penalty)
            .min()
            .unwrap_or(0);
        let mut tier: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|&m| qs.members[m].penalty == min_pen)
            .collect();
        if let Some(c) = self.callers.get(&call) {
            let untried: Vec<usize> = tier
                .iter()
                .copied()
                .filter(|&m| !c.tried.contains(&qs.members[m].agent))
                .collect();
            if !untried.is_empty() {
                tier = untried;
            }
        }
        let idle = |m: usize| {
            let a = &self.agents[qs.members[m].agent];
            (a.idle_since.max(a.wrapup_until.unwrap_or(a.idle_since)), m)
        };
        let _ = now;
        let one = match qs.cfg.strategy {
            Strategy::RingAll => return tier,
            Strategy::LongestIdle => tier.iter().copied().min_by_key(|&m| idle(m)),
            Strategy::RoundRobin => {
                let n = qs.members.len();
                let start = qs.rr_last.map_or(0, |l| l + 1);
                (0..n).map(|k| (start + k) % n).find(|m| tier.contains(m))
            }
            Strategy::FewestCalls => tier
                .iter()
                .copied()
                .min_by_key(|&m| (qs.members[m].calls, idle(m))),
            Strategy::LeastTalkTime => tier
                .iter()
                .copied()
                .min_by_key(|&m| (qs.members[m].talk, idle(m))),
            Strategy::Linear => tier.iter().copied().min(),
            Strategy::Skills => {
                let req = self
                    .callers
                    .get(&call)
                    .map(|c| self.required(c, now).clone())
                    .unwrap_or_default();
                let score = |m: usize| -> u32 {
                    let a = &self.agents[qs.members[m].agent];
                    req.keys()
                        .map(|s| u32::from(a.skills.get(s).copied().unwrap_or(0)))
                        .sum()
                };
                tier.iter()
                    .copied()
                    .min_by_key(|&m| (Reverse(score(m)), idle(m)))
            }
            Strategy::Random => {
                let k = self.rng.random_range(0..tier.len());
                Some(tier[k])
            }
        };
        let picked: Vec<usize> = one.into_iter().collect();
        if let Some(&m) = picked.first() {
            self.queues[q].rr_last = Some(m);
        }
        picked
    }

    fn offer(&mut self, now: Now, q: usize, call: CallId, members: &[usize]) {
        self.serial += 1;
        let serial = self.serial;
        let agents: Vec<usize> = members
            .iter()
            .map(|&m| self.queues[q].members[m].agent)
            .collect();
        let Some(c) = self.callers.get_mut(&call) else {
            return;
        };
        c.state = CallerState::Offered {
            agents: agents.clone(),
            since: now.mono,
            serial,
        };
        let uid = c.uniqueid.clone();
        let qname = self.queues[q].name.clone();
        let timeout = self.queues[q].cfg.ring_timeout;
        self.arm(now.mono + timeout, Timer::Offer(call, serial));
        for a in agents {
            let ag = &mut self.agents[a];
            ag.offered = Some(call);
            ag.changed = now.mono;
            let (id, ext) = (ag.id.clone(), ag.ext.clone());
            self.event(now, &uid, &qname, &id, "OFFER", vec![ext.clone()]);
            self.out.push_back(AcdOutput::Offer {
                call,
                agent: id,
                ext,
                queue: qname.clone(),
            });
        }
    }

    /// Ends the offer of `call` to agent `a` (not answered); the caller waits again when no
    /// other agent still rings.
    fn end_offer(&mut self, now: Now, call: CallId, a: usize, missed: Option<&'static str>) {
        if self.agents[a].offered == Some(call) {
            self.agents[a].offered = None;
            self.agents[a].changed = now.mono;
        }
        let Some(c) = self.callers.get_mut(&call) else {
            return;
        };
        let q = c.queue;
        let CallerState::Offered { agents, since, .. } = &mut c.state else {
            return;
        };
        let ring = now.mono.saturating_duration_since(*since);
        agents.retain(|&x| x != a);
        let last = agents.is_empty();
        if missed.is_some() && !c.tried.contains(&a) {
            c.tried.push(a);
        }
        let uid = c.uniqueid.clone();
        if last {
            c.state = CallerState::Waiting;
            let retry = self.queues[q].cfg.retry;
            if missed.is_some() && !retry.is_zero() {
                c.retry_at = Some(now.mono + retry);
                self.arm(now.mono + retry, Timer::Retry(call));
            }
        }
        if let Some(ev) = missed {
            let qname = self.queues[q].name.clone();
            let id = self.agents[a].id.clone();
            self.event(
                now,
                &uid,
                &qname,
                &id,
                ev,
                vec![ring.as_millis().to_string()],
            );
            self.agents[a].missed_in_row += 1;
            let limit = self.queues[q].cfg.auto_pause;
            if limit.is_some_and(|n| self.agents[a].missed_in_row >= n)
                && self.agents[a].paused.is_none()
            {
                self.agents[a].paused = Some(0);
                self.agents[a].missed_in_row = 0;
                self.event(now, NONE, NONE, &id, "PAUSEALL", vec!["autopause".into()]);
                self.out.push_back(AcdOutput::AgentChanged(id.clone()));
                // As after pause(): a queue nobody unpaused serves may have to empty.
                for (qi, qs) in self.queues.iter().enumerate() {
                    if qs.members.iter().any(|m| m.agent == a && m.active) {
                        self.empty_check.insert(qi);
                    }
                }
                tracing::info!(agent = %id, "auto-paused after unanswered offers");
            }
        }
        self.dirty.insert(q);
        self.mark_agent_queues(a);
    }

    fn mark_agent_queues(&mut self, a: usize) {
        for &qi in &self.agent_queues[a] {
            let qs = &self.queues[qi];
            if !qs.waiting.is_empty() && qs.members.iter().any(|m| m.agent == a && m.active) {
                self.dirty.insert(qi);
            }
        }
    }

    /// The agent's phone answered the offer: the caller is connected; the other offers of this
    /// caller are withdrawn in the same step. Returns false when the offer no longer stands
    /// (the engine then hangs up the agent's late answer).
    pub fn offer_answered(
        &mut self,
        now: Now,
        call: CallId,
        agent: &str,
        p: &impl Presence,
    ) -> bool {
        let Some(&a) = self.agent_index.get(agent) else {
            return false;
        };
        let Some(c) = self.callers.get(&call) else {
            return false;
        };
        let CallerState::Offered { agents, since, .. } = &c.state else {
            return false;
        };
        if !agents.contains(&a) {
            return false;
        }
        let (others, since) = (
            agents
                .iter()
                .copied()
                .filter(|&x| x != a)
                .collect::<Vec<_>>(),
            *since,
        );
        let Some(c) = self.callers.remove(&call) else {
            return false;
        };
        let q = c.queue;
        let qs = &mut self.queues[q];
        qs.waiting.remove(&(Reverse(c.priority), c.seq, call));
        let hold = now.mono.saturating_duration_since(c.joined);
        qs.answered += 1;
        let qname = qs.name.clone();
        for o in others {
            self.agents[o].offered = None;
            self.agents[o].changed = now.mono;
            let id = self.agents[o].id.clone();
            self.event(now, &c.uniqueid, &qname, &id, "RINGCANCELED", vec![]);
            self.out.push_back(AcdOutput::Withdraw { call, agent: id });
            self.mark_agent_queues(o);
        }
        let ag = &mut self.agents[a];
        ag.offered = None;
        ag.on_call = Some(call);
        ag.missed_in_row = 0;
        ag.answered += 1;
        ag.changed = now.mono;
        let ring = now.mono.saturating_duration_since(since);
        self.event(
            now,
            &c.uniqueid,
            &qname,
            agent,
            "CONNECT",
            vec![secs(hold), c.uniqueid.clone(), secs(ring)],
        );
        self.connected.insert(
            call,
            Connected {
                agent: a,
                queue: q,
                uniqueid: c.uniqueid,
                hold,
                at: now.mono,
                orig_position: c.orig_position,
            },
        );
        self.distribute(now, p);
        true
    }

    /// The agent's phones did not take the offer (busy, declined, unreachable).
    pub fn offer_failed(&mut self, now: Now, call: CallId, agent: &str, p: &impl Presence) {
        let Some(&a) = self.agent_index.get(agent) else {
            return;
        };
        if self.agents[a].offered != Some(call) {
            return;
        }
        self.end_offer(now, call, a, Some("RINGNOANSWER"));
        self.distribute(now, p);
    }

    /// A waiting caller hung up (abandoned), or a connected queue call ended.
    pub fn call_ended(&mut self, now: Now, call: CallId, by_agent: bool, p: &impl Presence) {
        // A caller waiting for a callback has no call (its attempts end through
        // `callback_failed` / `callback_answered`).
        if self.callers.get(&call).is_some_and(|c| {
            c.callback.as_ref().is_some_and(|cb| !cb.active)
                || matches!(c.state, CallerState::Reserved { .. })
        }) {
            return;
        }
        if let Some(c) = self.callers.remove(&call) {
            let q = c.queue;
            let position = self.position(q, call).unwrap_or(0);
            let qs = &mut self.queues[q];
            qs.waiting.remove(&(Reverse(c.priority), c.seq, call));
            qs.abandoned += 1;
            let waited = now.mono.saturating_duration_since(c.joined);
            let qname = qs.name.clone();
            if let CallerState::Offered { agents, .. } = &c.state {
                for &a in agents {
                    self.agents[a].offered = None;
                    self.agents[a].changed = now.mono;
                    let id = self.agents[a].id.clone();
                    self.out.push_back(AcdOutput::Withdraw { call, agent: id });
                    self.mark_agent_queues(a);
                }
            }
            self.event(
                now,
                &c.uniqueid,
                &qname,
                NONE,
                "ABANDON",
                vec![
                    position.to_string(),
                    c.orig_position.to_string(),
                    secs(waited),
                ],
            );
            self.dirty.insert(q);
            self.distribute(now, p);
            return;
        }
        let Some(k) = self.connected.remove(&call) else {
            return;
        };
        let talk = now.mono.saturating_duration_since(k.at);
        let qs = &mut self.queues[k.queue];
        if let Some(m) = qs.members.iter_mut().find(|m| m.agent == k.agent) {
            m.calls += 1;
            m.talk += talk;
        }
        let a = &mut self.agents[k.agent];
        let wrap = a.wrapup.unwrap_or(qs.cfg.wrapup);
        // Handle time = talk + wrap-up; EWMA with α = 0.2.
        let handle = talk + wrap;
        qs.aht = (qs.aht * 4 + handle) / 5;
        let qname = qs.name.clone();
        let id = a.id.clone();
        if a.on_call == Some(call) {
            a.on_call = None;
            a.changed = now.mono;
            a.idle_since = now.mono;
            if !wrap.is_zero() {
                a.wrapup_until = Some(now.mono + wrap);
            }
        }
        let ev = if by_agent {
            "COMPLETEAGENT"
        } else {
            "COMPLETECALLER"
        };
        self.event(
            now,
            &k.uniqueid,
            &qname,
            &id,
            ev,
            vec![secs(k.hold), secs(talk), k.orig_position.to_string()],
        );
        if !wrap.is_zero() && self.agents[k.agent].on_call.is_none() {
            self.event(
                now,
                &k.uniqueid,
                &qname,
                &id,
                "WRAPUPSTART",
                vec![secs(wrap)],
            );
            self.arm(now.mono + wrap, Timer::WrapUp(k.agent));
        }
        self.mark_agent_queues(k.agent);
        self.distribute(now, p);
    }

    /// A connected queue call was transferred by the agent to `to`.
    pub fn transferred(&mut self, now: Now, call: CallId, to: &str, p: &impl Presence) {
        self.transferred_as(now, call, to, false, p);
    }

    /// [`Acd::transferred`] for a blind or an attended transfer (the event names which).
    pub fn transferred_as(
        &mut self,
        now: Now,
        call: CallId,
        to: &str,
        attended: bool,
        p: &impl Presence,
    ) {
        if let Some(k) = self.connected.get(&call) {
            let (qn, id, uid) = (
                self.queues[k.queue].name.clone(),
                self.agents[k.agent].id.clone(),
                k.uniqueid.clone(),
            );
            let talk = now.mono.saturating_duration_since(k.at);
            let data = vec![to.to_owned(), String::new(), secs(k.hold), secs(talk)];
            let ev = if attended {
                "ATTENDEDTRANSFER"
            } else {
                "BLINDTRANSFER"
            };
            self.event(now, &uid, &qn, &id, ev, data);
        }
        // The agent's part of the call is over: the same as a completed call from here on,
        // without a second completion event.
        if let Some(k) = self.connected.remove(&call) {
            let wrap = self.agents[k.agent]
                .wrapup
                .unwrap_or(self.queues[k.queue].cfg.wrapup);
            let a = &mut self.agents[k.agent];
            a.on_call = None;
            a.changed = now.mono;
            a.idle_since = now.mono;
            if !wrap.is_zero() {
                a.wrapup_until = Some(now.mono + wrap);
                let (qn, id) = (self.queues[k.queue].name.clone(), a.id.clone());
                self.arm(now.mono + wrap, Timer::WrapUp(k.agent));
                self.event(now, &k.uniqueid, &qn, &id, "WRAPUPSTART", vec![secs(wrap)]);
            }
            self.mark_agent_queues(k.agent);
            self.distribute(now, p);
        }
    }

    /// A digit from a waiting caller: an exit key leaves the queue.
    pub fn digit(&mut self, now: Now, call: CallId, d: char, p: &impl Presence) {
        let Some(c) = self.callers.get(&call) else {
            return;
        };
        let virtual_ = c.callback.as_ref().is_some_and(|cb| !cb.active);
        match self.queues[c.queue].cfg.exit_keys.get(&d).cloned() {
            Some(ExitKey::Go(to)) => self.leave(now, call, Some(to), LeaveReason::Key(d), p),
            Some(ExitKey::Callback) if !virtual_ && c.callback.is_none() => {
                self.out.push_back(AcdOutput::CallbackMenu { call });
            }
            _ => {}
        }
    }

    /// The caller confirmed a callback to `number`: they keep their place and may hang up.
    /// Returns false when the caller is not waiting (connected meanwhile, or gone).
    pub fn callback_request(
        &mut self,
        now: Now,
        call: CallId,
        number: &str,
        p: &impl Presence,
    ) -> bool {
        let Some(c) = self.callers.get(&call) else {
            return false;
        };
        if c.callback.is_some() {
            return false;
        }
        let q = c.queue;
        if let CallerState::Offered { agents, .. } = c.state.clone() {
            for a in agents {
                let id = self.agents[a].id.clone();
                self.out.push_back(AcdOutput::Withdraw { call, agent: id });
                self.end_offer(now, call, a, None);
            }
        }
        let position = self.position(q, call).unwrap_or(0);
        let Some(c) = self.callers.get_mut(&call) else {
            return false;
        };
        c.callback = Some(CallbackState {
            number: number.to_owned(),
            attempts: 0,
            active: false,
        });
        c.state = CallerState::Waiting;
        c.retry_at = None;
        let waited = secs(now.mono.saturating_duration_since(c.joined));
        let uid = c.uniqueid.clone();
        let qname = self.queues[q].name.clone();
        self.event(
            now,
            &uid,
            &qname,
            NONE,
            "CALLBACKREQUEST",
            vec![number.to_owned(), position.to_string(), waited],
        );
        self.dirty.insert(q);
        self.distribute(now, p);
        true
    }

    /// The engine placed the callback call for `old` as call `new`: the caller is known by
    /// the new call from now on.
    pub fn callback_started(&mut self, old: CallId, new: CallId) {
        let Some(mut c) = self.callers.remove(&old) else {
            return;
        };
        let q = c.queue;
        self.queues[q]
            .waiting
            .remove(&(Reverse(c.priority), c.seq, old));
        self.queues[q]
            .waiting
            .insert((Reverse(c.priority), c.seq, new));
        if let CallerState::Reserved {
            agent,
            serial,
            until,
        } = c.state
        {
            if self.agents[agent].offered == Some(old) {
                self.agents[agent].offered = Some(new);
            }
            self.arm(until, Timer::Reserve(new, serial));
        }
        if c.retry_at.is_some() {
            c.retry_at = None;
        }
        self.callers.insert(new, c);
    }

    /// The customer answered the callback: the reserved agent is offered the call now.
    pub fn callback_answered(&mut self, now: Now, call: CallId, p: &impl Presence) {
        let Some(c) = self.callers.get_mut(&call) else {
            return;
        };
        let CallerState::Reserved { agent, .. } = c.state else {
            return;
        };
        let q = c.queue;
        let (uid, number) = (
            c.uniqueid.clone(),
            c.callback
                .as_ref()
                .map(|cb| cb.number.clone())
                .unwrap_or_default(),
        );
        if let Some(cb) = c.callback.as_mut() {
            cb.active = true;
        }
        c.state = CallerState::Waiting;
        self.agents[agent].offered = None;
        let qname = self.queues[q].name.clone();
        self.event(now, &uid, &qname, NONE, "CALLBACKANSWER", vec![number]);
        let free = self.agent_free(agent, true, now.mono, p);
        let member = self.queues[q].members.iter().position(|m| m.agent == agent);
        match member {
            Some(m) if free => self.offer(now, q, call, &[m]),
            _ => {
                self.dirty.insert(q);
            }
        }
        self.distribute(now, p);
    }

    /// The callback attempt failed (no answer, busy, unreachable): the agent is free again;
    /// the caller keeps the place for another attempt, or is given up after the last one.
    pub fn callback_failed(&mut self, now: Now, call: CallId, p: &impl Presence) {
        let Some(c) = self.callers.get(&call) else {
            return;
        };
        let CallerState::Reserved { agent, .. } = c.state else {
            return;
        };
        let q = c.queue;
        if self.agents[agent].offered == Some(call) {
            self.agents[agent].offered = None;
            self.agents[agent].changed = now.mono;
        }
        let cfg = self.queues[q].cfg.clone();
        let qname = self.queues[q].name.clone();
        let Some(c) = self.callers.get_mut(&call) else {
            return;
        };
        let (number, attempts) = c
            .callback
            .as_ref()
            .map(|cb| (cb.number.clone(), cb.attempts))
            .unwrap_or_default();
        let uid = c.uniqueid.clone();
        c.state = CallerState::Waiting;
        self.event(
            now,
            &uid,
            &qname,
            NONE,
            "CALLBACKNOANSWER",
            vec![number.clone(), attempts.to_string()],
        );
        if attempts >= cfg.callback_attempts {
            let mut waited = Duration::ZERO;
            if let Some(c) = self.callers.remove(&call) {
                waited = now.mono.saturating_duration_since(c.joined);
                self.queues[q]
                    .waiting
                    .remove(&(Reverse(c.priority), c.seq, call));
            }
            self.queues[q].overflowed += 1;
            self.event(
                now,
                &uid,
                &qname,
                NONE,
                "CALLBACKFAILED",
                vec![number, attempts.to_string(), secs(waited)],
            );
        } else if let Some(c) = self.callers.get_mut(&call) {
            c.retry_at = Some(now.mono + cfg.callback_retry);
            self.arm(now.mono + cfg.callback_retry, Timer::Retry(call));
        }
        self.dirty.insert(q);
        self.mark_agent_queues(agent);
        self.distribute(now, p);
    }

    /// Takes a waiting caller out (timeout, key, empty) and tells the engine where it goes.
    fn leave(
        &mut self,
        now: Now,
        call: CallId,
        to: Option<Step>,
        reason: LeaveReason,
        p: &impl Presence,
    ) {
        let Some(c) = self.callers.get(&call) else {
            return;
        };
        let q = c.queue;
        let position = self.position(q, call).unwrap_or(0);
        let Some(c) = self.callers.remove(&call) else {
            return;
        };
        let qs = &mut self.queues[q];
        qs.waiting.remove(&(Reverse(c.priority), c.seq, call));
        qs.overflowed += 1;
        let qname = qs.name.clone();
        if let CallerState::Offered { agents, .. } = &c.state {
            for &a in agents {
                self.agents[a].offered = None;
                self.agents[a].changed = now.mono;
                let id = self.agents[a].id.clone();
                self.out.push_back(AcdOutput::Withdraw { call, agent: id });
                self.mark_agent_queues(a);
            }
        }
        if let CallerState::Reserved { agent, .. } = c.state
            && self.agents[agent].offered == Some(call)
        {
            self.agents[agent].offered = None;
            self.agents[agent].changed = now.mono;
            self.mark_agent_queues(agent);
        }
        let waited = secs(now.mono.saturating_duration_since(c.joined));
        let (pos, orig) = (position.to_string(), c.orig_position.to_string());
        let (ev, data) = match reason {
            LeaveReason::Timeout => ("EXITWITHTIMEOUT", vec![pos, orig, waited]),
            LeaveReason::Key(k) => ("EXITWITHKEY", vec![k.to_string(), pos, orig, waited]),
            LeaveReason::Empty => ("EXITEMPTY", vec![pos, orig, waited]),
        };
        self.event(now, &c.uniqueid, &qname, NONE, ev, data);
        self.out.push_back(AcdOutput::Leave { call, to, reason });
        self.dirty.insert(q);
        self.distribute(now, p);
    }

    /// Timers that are due.
    pub fn handle_timeout(&mut self, now: Now, p: &impl Presence) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now.mono {
                break;
            }
            let Some(Reverse((_, t))) = self.timers.pop() else {
                break;
            };
            match t {
                Timer::Offer(call, serial) => {
                    let agents = match self.callers.get(&call).map(|c| &c.state) {
                        Some(CallerState::Offered {
                            agents, serial: s, ..
                        }) if *s == serial => agents.clone(),
                        _ => continue,
                    };
                    for a in agents {
                        let id = self.agents[a].id.clone();
                        self.out.push_back(AcdOutput::Withdraw { call, agent: id });
                        self.end_offer(now, call, a, Some("RINGNOANSWER"));
                    }
                }
                Timer::Retry(call) => {
                    if let Some(c) = self.callers.get_mut(&call)
                        && c.retry_at.is_some_and(|r| r <= now.mono)
                    {
                        c.retry_at = None;
                        let q = c.queue;
                        self.dirty.insert(q);
                    }
                }
                Timer::MaxWait(call) => {
                    if let Some(c) = self.callers.get(&call)
                        && c.callback.is_none()
                    {
                        let to = self.queues[c.queue].cfg.on_timeout.clone();
                        self.leave(now, call, to, LeaveReason::Timeout, p);
                    }
                }
                Timer::Position(call) => {
                    let Some(c) = self.callers.get(&call) else {
                        continue;
                    };
                    if c.callback.is_some() {
                        continue;
                    }
                    let Some(every) = self.queues[c.queue].cfg.announce_position else {
                        continue;
                    };
                    let prompts = self.position_prompts(call, p);
                    self.out.push_back(AcdOutput::Announce { call, prompts });
                    self.arm(now.mono + every, Timer::Position(call));
                }
                Timer::Custom(call) => {
                    let Some(c) = self.callers.get(&call) else {
                        continue;
                    };
                    if c.callback.is_some() {
                        continue;
                    }
                    let cfg = &self.queues[c.queue].cfg;
                    let (Some(every), prompts) = (cfg.announce_every, cfg.announce.clone()) else {
                        continue;
                    };
                    self.out.push_back(AcdOutput::Announce { call, prompts });
                    self.arm(now.mono + every, Timer::Custom(call));
                }
                Timer::Reserve(call, serial) => {
                    let due = matches!(self.callers.get(&call).map(|c| &c.state),
                        Some(CallerState::Reserved { serial: s, .. }) if *s == serial);
                    if due {
                        self.out.push_back(AcdOutput::CallbackCancel { call });
                        self.callback_failed(now, call, p);
                    }
                }
                Timer::Relax(call) => {
                    if let Some(c) = self.callers.get(&call) {
                        let q = c.queue;
                        self.dirty.insert(q);
                    }
                }
                Timer::WrapUp(a) => {
                    let ag = &mut self.agents[a];
                    if ag.wrapup_until.is_some_and(|t| t <= now.mono) {
                        ag.wrapup_until = None;
                        ag.changed = now.mono;
                        let id = ag.id.clone();
                        self.event(now, NONE, NONE, &id, "WRAPUPEND", vec![]);
                        self.mark_agent_queues(a);
                    }
                }
            }
        }
        self.distribute(now, p);
    }

    /// Something about phones changed (a call ended, a phone registered): look again.
    pub fn presence_changed(&mut self, now: Now, ext: &str, p: &impl Presence) {
        if let Some(&a) = self.ext_index.get(ext) {
            self.mark_agent_queues(a);
            self.distribute(now, p);
        }
    }

    fn agent(&self, id: &str) -> Result<usize, AcdError> {
        self.agent_index
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownAgent(id.to_owned()))
    }

    /// Logs an agent in to `queues` (empty: all their queues). Already logged in: adds queues.
    pub fn login(
        &mut self,
        now: Now,
        agent: &str,
        queues: &[String],
        p: &impl Presence,
    ) -> Result<Vec<String>, AcdError> {
        let a = self.agent(agent)?;
        for q in queues {
            let qi = *self
                .queue_index
                .get(q)
                .ok_or_else(|| AcdError::UnknownQueue(q.clone()))?;
            if !self.queues[qi].members.iter().any(|m| m.agent == a) {
                return Err(AcdError::NotMember {
                    agent: agent.to_owned(),
                    queue: q.clone(),
                });
            }
        }
        let was_in = self.agents[a].logged_in;
        let mut added = Vec::new();
        for qi in 0..self.queues.len() {
            let name = self.queues[qi].name.clone();
            let wanted = queues.is_empty() || queues.contains(&name);
            let Some(m) = self.queues[qi].members.iter_mut().find(|m| m.agent == a) else {
                continue;
            };
            // A fresh login sets the queues; a second one adds to them.
            let active = if was_in { m.active || wanted } else { wanted };
            let newly = active && !(was_in && m.active);
            m.active = active;
            if newly {
                added.push(name.clone());
                let ext = self.agents[a].ext.clone();
                self.event(now, NONE, &name, agent, "ADDMEMBER", vec![ext]);
            }
        }
        let ag = &mut self.agents[a];
        if !was_in {
            ag.logged_in = true;
            ag.paused = None;
            ag.idle_since = now.mono;
            ag.changed = now.mono;
            ag.missed_in_row = 0;
        }
        self.out
            .push_back(AcdOutput::AgentChanged(agent.to_owned()));
        self.mark_agent_queues(a);
        self.distribute(now, p);
        Ok(added)
    }

    /// Logs an agent out of every queue; a ringing offer is withdrawn.
    pub fn logout(&mut self, now: Now, agent: &str, p: &impl Presence) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        if !self.agents[a].logged_in {
            return Err(AcdError::NotLoggedIn(agent.to_owned()));
        }
        if let Some(call) = self.agents[a].offered
            && !self.is_reserved(call)
        {
            // A ringing offer is withdrawn; a callback reservation stands (the customer is
            // being called; when they answer, whoever is free takes the call).
            self.out.push_back(AcdOutput::Withdraw {
                call,
                agent: agent.to_owned(),
            });
            self.end_offer(now, call, a, None);
        }
        let ag = &mut self.agents[a];
        ag.logged_in = false;
        ag.paused = None;
        ag.changed = now.mono;
        let mut emptied = Vec::new();
        for qi in 0..self.queues.len() {
            let Some(m) = self.queues[qi].members.iter_mut().find(|m| m.agent == a) else {
                continue;
            };
            if !m.active {
                continue;
            }
            m.active = false;
            let name = self.queues[qi].name.clone();
            self.event(now, NONE, &name, agent, "REMOVEMEMBER", vec![]);
            emptied.push(qi);
        }
        self.out
            .push_back(AcdOutput::AgentChanged(agent.to_owned()));
        for qi in emptied {
            self.leave_if_empty(now, qi, p);
        }
        self.distribute(now, p);
        Ok(())
    }

    /// Callers leave a queue nobody serves any more (per `leave_when`).
    fn leave_if_empty(&mut self, now: Now, q: usize, p: &impl Presence) {
        let empty = match self.queues[q].cfg.leave_when {
            LeaveWhen::Never => false,
            LeaveWhen::NoneLoggedIn => self.logged_in_count(q, false) == 0,
            LeaveWhen::NonePaused => self.logged_in_count(q, true) == 0,
        };
        if !empty {
            return;
        }
        let to = self.queues[q].cfg.on_empty.clone();
        let calls: Vec<CallId> = self.queues[q].waiting.iter().map(|&(_, _, c)| c).collect();
        for call in calls {
            self.leave(now, call, to.clone(), LeaveReason::Empty, p);
        }
    }

    /// Pauses an agent (no offers) with a numeric reason code.
    pub fn pause(
        &mut self,
        now: Now,
        agent: &str,
        reason: Option<u16>,
        p: &impl Presence,
    ) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        if !self.agents[a].logged_in {
            return Err(AcdError::NotLoggedIn(agent.to_owned()));
        }
        if let Some(call) = self.agents[a].offered
            && !self.is_reserved(call)
        {
            // A ringing offer is withdrawn; a callback reservation stands (the customer is
            // being called; when they answer, whoever is free takes the call).
            self.out.push_back(AcdOutput::Withdraw {
                call,
                agent: agent.to_owned(),
            });
            self.end_offer(now, call, a, None);
        }
        let ag = &mut self.agents[a];
        ag.paused = Some(reason.unwrap_or(0));
        ag.changed = now.mono;
        let r = reason.map(|r| r.to_string()).unwrap_or_default();
        self.event(now, NONE, NONE, agent, "PAUSEALL", vec![r]);
        self.out
            .push_back(AcdOutput::AgentChanged(agent.to_owned()));
        for q in 0..self.queues.len() {
            if self.queues[q]
                .members
                .iter()
                .any(|m| m.agent == a && m.active)
            {
                self.leave_if_empty(now, q, p);
            }
        }
        self.distribute(now, p);
        Ok(())
    }

    /// Ends a pause.
    pub fn unpause(&mut self, now: Now, agent: &str, p: &impl Presence) -> Result<(), AcdError> {
        let a = self.agent(agent)?;
        if !self.agents[a].logged_in {
            return Err(AcdError::NotLoggedIn(agent.to_owned()));
        }
        let ag = &mut self.agents[a];
        if ag.paused.take().is_some() {
            ag.changed = now.mono;
            ag.missed_in_row = 0;
            self.event(now, NONE, NONE, agent, "UNPAUSEALL", vec![]);
            self.out
                .push_back(AcdOutput::AgentChanged(agent.to_owned()));
        }
        self.mark_agent_queues(a);
        self.distribute(now, p);
        Ok(())
    }

    fn is_reserved(&self, call: CallId) -> bool {
        matches!(
            self.callers.get(&call).map(|c| &c.state),
            Some(CallerState::Reserved { .. })
        )
    }

    /// An agent's login and pause state: (logged in, queues logged in to, pause reason).
    pub fn snapshot(&self, agent: &str) -> Option<(bool, Vec<String>, Option<u16>)> {
        let &a = self.agent_index.get(agent)?;
        let ag = &self.agents[a];
        let queues = self
            .queues
            .iter()
            .filter(|q| q.members.iter().any(|m| m.agent == a && m.active))
            .map(|q| q.name.clone())
            .collect();
        Some((ag.logged_in, queues, ag.paused))
    }

    /// Restores a saved login and pause state at start (before any call). Queues the agent no
    /// longer serves are ignored; an unknown agent is skipped. No events are logged: nothing
    /// changed from the agents' point of view.
    pub fn restore(
        &mut self,
        agent: &str,
        logged_in: bool,
        queues: &[String],
        paused: Option<u16>,
    ) -> bool {
        let Some(&a) = self.agent_index.get(agent) else {
            return false;
        };
        let ag = &mut self.agents[a];
        ag.logged_in = logged_in;
        ag.paused = if logged_in { paused } else { None };
        for q in &mut self.queues {
            if let Some(m) = q.members.iter_mut().find(|m| m.agent == a) {
                m.active = logged_in && queues.contains(&q.name);
            }
        }
        true
    }

    /// Self-healing: every connected queue call must still be a live call, and every agent's
    /// offer must still be a waiting caller's. Returns the number of repairs (each logged).
    pub fn repair(&mut self, now: Now, live: impl Fn(CallId) -> bool, p: &impl Presence) -> usize {
        let mut fixed = 0;
        let gone: Vec<CallId> = self
            .connected
            .keys()
            .copied()
            .filter(|&c| !live(c))
            .collect();
        for call in gone {
            tracing::warn!(call, "ACD repair: queue call no longer exists");
            self.call_ended(now, call, false, p);
            fixed += 1;
        }
        // Callers waiting for a callback have no live call of their own.
        let waiting_gone: Vec<CallId> = self
            .callers
            .iter()
            .filter(|(_, c)| {
                !(c.callback.as_ref().is_some_and(|cb| !cb.active)
                    || matches!(c.state, CallerState::Reserved { .. }))
            })
            .map(|(&id, _)| id)
            .filter(|&c| !live(c))
            .collect();
        for call in waiting_gone {
            tracing::warn!(call, "ACD repair: waiting caller no longer exists");
            self.call_ended(now, call, false, p);
            fixed += 1;
        }
        for a in 0..self.agents.len() {
            let ag = &self.agents[a];
            let stale_offer = ag.offered.is_some_and(|c| {
                !matches!(self.callers.get(&c).map(|c| &c.state),
                    Some(CallerState::Offered { agents, .. }) if agents.contains(&a))
                    && !matches!(self.callers.get(&c).map(|c| &c.state),
                    Some(CallerState::Reserved { agent, .. }) if *agent == a)
            });
            let stale_call = ag
                .on_call
                .is_some_and(|c| self.connected.get(&c).is_none_or(|k| k.agent != a));
            if stale_offer || stale_call {
                tracing::warn!(agent = %ag.id, stale_offer, stale_call, "ACD repair: agent state");
                let ag = &mut self.agents[a];
                if stale_offer {
                    ag.offered = None;
                }
                if stale_call {
                    ag.on_call = None;
                }
                ag.changed = now.mono;
                fixed += 1;
                self.mark_agent_queues(a);
            }
        }
        self.distribute(now, p);
        fixed
    }

    fn status_of(&self, a: usize, now: Instant, p: &impl Presence) -> AgentStatus {
        let ag = &self.agents[a];
        if !ag.logged_in {
            AgentStatus::LoggedOut
        } else if ag.offered.is_some() {
            AgentStatus::Ringing
        } else if ag.on_call.is_some() {
            AgentStatus::OnQueueCall
        } else if ag.wrapup_until.is_some_and(|t| t > now) {
            AgentStatus::WrapUp
        } else if ag.paused.is_some() {
            AgentStatus::Paused
        } else if !p.reachable(&ag.ext) {
            AgentStatus::Unreachable
        } else if p.direct_calls(&ag.ext) > 0 {
            AgentStatus::OnDirectCall
        } else {
            AgentStatus::Available
        }
    }

    fn agent_view(&self, a: usize, now: Instant, p: &impl Presence) -> AgentView {
        let ag = &self.agents[a];
        AgentView {
            id: ag.id.clone(),
            name: ag.name.clone(),
            extension: ag.ext.clone(),
            status: self.status_of(a, now, p),
            pause_reason: ag.paused,
            queues: self
                .queues
                .iter()
                .filter(|q| ag.logged_in && q.members.iter().any(|m| m.agent == a && m.active))
                .map(|q| q.name.clone())
                .collect(),
            calls_answered: ag.answered,
            since: now.saturating_duration_since(ag.changed),
        }
    }

    /// Every agent, in configuration order.
    pub fn agents(&self, now: Now, p: &impl Presence) -> Vec<AgentView> {
        (0..self.agents.len())
            .map(|a| self.agent_view(a, now.mono, p))
            .collect()
    }

    /// The live view of every queue.
    pub fn queues(&self, now: Now, p: &impl Presence) -> Vec<QueueView> {
        self.queues
            .iter()
            .map(|q| {
                let waiting = q
                    .waiting
                    .iter()
                    .filter_map(|&(_, _, call)| self.callers.get(&call))
                    .map(|c| WaitingView {
                        call_id: c.uniqueid.clone(),
                        caller: c.caller.clone(),
                        priority: c.priority,
                        waited: now.mono.saturating_duration_since(c.joined),
                        callback: c
                            .callback
                            .as_ref()
                            .filter(|cb| !cb.active)
                            .map(|cb| cb.number.clone()),
                        ringing: match &c.state {
                            CallerState::Offered { agents, .. } => {
                                agents.iter().map(|&a| self.agents[a].id.clone()).collect()
                            }
                            CallerState::Waiting => Vec::new(),
                            CallerState::Reserved { agent, .. } => {
                                vec![self.agents[*agent].id.clone()]
                            }
                        },
                    })
                    .collect();
                let agents = q
                    .members
                    .iter()
                    .map(|m| self.agent_view(m.agent, now.mono, p))
                    .collect();
                QueueView {
                    name: q.name.clone(),
                    strategy: q.cfg.strategy.name(),
                    waiting,
                    agents,
                    answered: q.answered,
                    abandoned: q.abandoned,
                    overflowed: q.overflowed,
                    kpis: q.kpis,
                    aht: q.aht,
                }
            })
            .collect()
    }

    /// Waiting callers in all queues.
    pub fn waiting_count(&self) -> usize {
        self.callers.len()
    }

    /// Queue calls connected to agents now.
    pub fn connected_count(&self) -> usize {
        self.connected.len()
    }

    /// Resets the daily counters (answered, abandoned, service level) at local midnight.
    pub fn reset_counters(&mut self) {
        for q in &mut self.queues {
            q.answered = 0;
            q.abandoned = 0;
            q.overflowed = 0;
            q.kpis = super::kpi::QueueKpis::default();
        }
    }

    /// Checks the invariants (tests and debug builds): every offer is mutual, no agent has two
    /// offers, offers go only to logged-in, unpaused agents, waiting sets match callers.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut offers: BTreeMap<usize, CallId> = BTreeMap::new();
        for (&call, c) in &self.callers {
            if !self.queues[c.queue]
                .waiting
                .contains(&(Reverse(c.priority), c.seq, call))
            {
                return Err(format!("caller {call} missing from its queue"));
            }
            if let CallerState::Offered { agents, .. } = &c.state {
                if agents.is_empty() {
                    return Err(format!("caller {call} offered to nobody"));
                }
                for &a in agents {
                    if offers.insert(a, call).is_some() {
                        return Err(format!("agent {} has two offers", self.agents[a].id));
                    }
                    let ag = &self.agents[a];
                    if ag.offered != Some(call) {
                        return Err(format!("agent {} does not know its offer", ag.id));
                    }
                    if !ag.logged_in || ag.paused.is_some() || ag.on_call.is_some() {
                        return Err(format!("offer to unavailable agent {}", ag.id));
                    }
                }
            }
            if let CallerState::Reserved { agent, .. } = c.state {
                if offers.insert(agent, call).is_some() {
                    return Err(format!("agent {} has two offers", self.agents[agent].id));
                }
                if self.agents[agent].offered != Some(call) {
                    return Err(format!(
                        "agent {} does not know its reservation",
                        self.agents[agent].id
                    ));
                }
            }
        }
        for (a, ag) in self.agents.iter().enumerate() {
            if let Some(c) = ag.offered
                && offers.get(&a) != Some(&c)
            {
                return Err(format!("agent {} has a stale offer", ag.id));
            }
            if let Some(c) = ag.on_call
                && self.connected.get(&c).is_none_or(|k| k.agent != a)
            {
                return Err(format!("agent {} on a call the ACD does not know", ag.id));
            }
        }
        let total: usize = self.queues.iter().map(|q| q.waiting.len()).sum();
        if total != self.callers.len() {
            return Err("queue waiting sets and callers disagree".into());
        }
        Ok(())
    }
}
