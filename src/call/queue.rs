//! Queue calls: the B2BUA side of the ACD ([`crate::acd`]).
//!
//! Contract: no IO, no clock. A call sent to a queue (dial plan `queue`, IVR `queue:`, a queue
//! destination) is answered by Zvon, hears music on hold and the queue's announcements, and
//! waits in [`crate::acd::Acd`]. An offer rings every reachable contact of the agent's
//! extension as branches of the same call; the first to answer is bridged, and the ACD learns
//! of answers, failures and hang-ups from here. The agent's state is read from the calls
//! themselves ([`Presence`]), and [`Pbx::acd_repair`] checks the ACD against the live calls
//! every few seconds.

use std::collections::HashMap;
use std::time::Duration;

use crate::acd::{AcdEvent, AcdOutput, JoinResult, LeaveReason, Presence};
use crate::call::b2bua::{BranchState, CallState, Calls};
use crate::call::voicemail::LocalApp;
use crate::core::{Output, Pbx};
use crate::dialplan::{Action, Step, Target, Vars};
use crate::ivr::interp::Exit;
use crate::media::{MediaCommand, Side};
use crate::sip::registrar::Registrar;
use crate::time::Now;

/// How often the ACD's view is compared with the live calls.
pub(crate) const REPAIR_EVERY: Duration = Duration::from_secs(10);

/// A call's part in a queue.
#[derive(Clone, Debug, Default)]
pub struct QueueLeg {
    /// The queue.
    pub(crate) name: String,
    /// Agent → the branches ringing for the agent's current offer.
    pub(crate) offers: HashMap<String, Vec<usize>>,
    /// The agent who answered.
    pub(crate) agent: Option<String>,
}

/// The engine's calls and registrations, as the ACD sees them. Direct-call counts are
/// computed once per view (one pass over the calls), so a distribution decision costs a hash
/// lookup per agent, not a scan of every call.
pub(crate) struct View<'a> {
    registrar: &'a Registrar,
    calls: &'a Calls,
    direct: std::cell::OnceCell<HashMap<&'a str, usize>>,
}

impl<'a> View<'a> {
    pub(crate) fn new(registrar: &'a Registrar, calls: &'a Calls) -> Self {
        View {
            registrar,
            calls,
            direct: std::cell::OnceCell::new(),
        }
    }

    /// Extension → calls it is in that are not queue calls the ACD gave it: as caller, as
    /// the answered callee, or ringing for a direct call.
    fn direct_counts(&self) -> &HashMap<&'a str, usize> {
        self.direct.get_or_init(|| {
            let mut m: HashMap<&'a str, usize> = HashMap::new();
            for c in self.calls.calls.values() {
                if c.state == CallState::Ending {
                    continue;
                }
                let mut exts: Vec<&'a str> = vec![c.caller.as_str()];
                let agent_leg = |ext: &str| {
                    c.queue.as_ref().is_some_and(|q| {
                        q.agent.is_some()
                            || q.offers
                                .values()
                                .flatten()
                                .any(|&i| c.branches[i].ext == ext)
                    })
                };
                if c.winner.is_some() && !agent_leg(&c.callee) {
                    exts.push(c.callee.as_str());
                }
                if c.queue.is_none() && c.winner.is_none() {
                    exts.extend(
                        c.branches
                            .iter()
                            .filter(|b| {
                                matches!(b.state, BranchState::Trying | BranchState::Ringing)
                            })
                            .map(|b| b.ext.as_str()),
                    );
                }
                exts.sort_unstable();
                exts.dedup();
                for e in exts {
                    *m.entry(e).or_insert(0) += 1;
                }
            }
            m
        })
    }
}

impl Presence for View<'_> {
    fn reachable(&self, ext: &str) -> bool {
        self.registrar.bindings(ext).iter().any(|b| b.reachable)
    }

    fn direct_calls(&self, ext: &str) -> usize {
        self.direct_counts().get(ext).copied().unwrap_or(0)
    }
}

/// The priority a call's variables give it: `priority` (0–255), else 10 for `vip = "1"`.
pub(crate) fn priority_of(vars: &Vars) -> u8 {
    if let Some(p) = vars
        .get("priority")
        .and_then(|p| p.trim().parse::<u8>().ok())
    {
        return p;
    }
    if vars.get("vip").is_some_and(|v| v == "1") {
        10
    } else {
        0
    }
}

/// The skills a call's variables ask for: `skills = "english:2, billing"` (level 1 when
/// none is given); `None` when unset or empty.
pub(crate) fn skills_of(vars: &Vars) -> Option<crate::acd::Skills> {
    let spec = vars.get("skills")?;
    let mut out = crate::acd::Skills::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, level) = match part.split_once(':') {
            Some((n, l)) => (n.trim(), l.trim().parse::<u8>().ok()),
            None => (part, Some(1)),
        };
        match level {
            Some(l) if !name.is_empty() && l > 0 => {
                out.insert(name.to_owned(), l);
            }
            _ => tracing::debug!(part, "ignoring a malformed skill in the `skills` variable"),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A queue event as a store row.
fn record(e: AcdEvent) -> crate::store::QueueEventRecord {
    crate::store::QueueEventRecord {
        at_ms: e.at_ms,
        call_id: e.call_id,
        queue: e.queue,
        agent: e.agent,
        event: e.event.to_owned(),
        data: e.data,
    }
}

impl Pbx {
    /// Puts a call in a queue (answering it first if Zvon has not yet).
    pub(crate) fn queue_join(&mut self, now: Now, id: u64, queue: &str) {
        let answered = self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| c.a_answer.is_some() && c.state != CallState::Proceeding);
        if !answered && !self.answer_locally(now, id) {
            self.fail_call(
                now,
                id,
                488,
                "Not Acceptable Here",
                crate::store::Disposition::Failed,
                "no codec for the queue",
            );
            return;
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.history.push(format!("queue:{queue}"));
        call.callee = format!("queue:{queue}");
        call.queue = Some(QueueLeg {
            name: queue.to_owned(),
            ..QueueLeg::default()
        });
        call.local = Some(LocalApp::Queue);
        let (uid, caller, prio, lang, session) = (
            call.uniqueid.clone(),
            call.caller.clone(),
            call.priority,
            call.lang.as_str().to_owned(),
            call.session,
        );
        tracing::info!(call = %uid, queue, priority = prio, "queued");
        self.out.push_back(Output::Media(MediaCommand::StartMoh {
            session,
            side: Side::A,
        }));
        let skills = self
            .calls
            .calls
            .get(&id)
            .and_then(|c| c.queue_skills.clone());
        let view = View::new(&self.registrar, &self.calls);
        let r = self
            .acd
            .join_with_skills(now, id, &uid, &caller, queue, prio, &lang, skills, &view);
        match r {
            JoinResult::Queued(_) => {}
            JoinResult::Full(to) | JoinResult::Empty(to) => {
                self.queue_leave(now, id, to, true);
            }
            JoinResult::NoQueue => {
                tracing::warn!(queue, "no such queue");
                self.queue_leave(now, id, None, true);
            }
        }
        self.pump_acd(now);
    }

    /// Carries out the ACD's outputs.
    pub(crate) fn pump_acd(&mut self, now: Now) {
        while let Some(o) = self.acd.poll_output() {
            match o {
                AcdOutput::Offer {
                    call, agent, ext, ..
                } => self.queue_offer(now, call, &agent, &ext),
                AcdOutput::Withdraw { call, agent } => self.queue_withdraw(now, call, &agent),
                AcdOutput::Announce { call, prompts } => {
                    self.calls.next += 1;
                    let play = self.calls.next;
                    if let Some(c) = self.calls.calls.get(&call)
                        && c.state != CallState::Ending
                        && c.winner.is_none()
                    {
                        self.out.push_back(Output::Media(MediaCommand::Play {
                            session: c.session,
                            side: Side::A,
                            id: play,
                            language: c.lang.as_str().into(),
                            prompts,
                        }));
                    }
                }
                AcdOutput::Leave { call, to, reason } => {
                    if let Some(c) = self.calls.calls.get_mut(&call) {
                        let why = match reason {
                            LeaveReason::Timeout => "queue-timeout".to_string(),
                            LeaveReason::Key(k) => format!("queue-key:{k}"),
                            LeaveReason::Empty => "queue-empty".to_string(),
                        };
                        c.history.push(why);
                    }
                    self.queue_leave(now, call, to, false);
                }
                AcdOutput::CallbackMenu { call } => self.callback_menu(now, call),
                AcdOutput::Callback {
                    call,
                    number,
                    queue,
                    linkedid,
                    ..
                } => self.callback_originate(now, call, &number, &queue, &linkedid),
                AcdOutput::CallbackCancel { call } => self.callback_cancel(now, call),
                AcdOutput::AgentChanged(agent) => {
                    if let Some((logged_in, queues, paused)) = self.acd.snapshot(&agent) {
                        self.out.push_back(Output::Store(
                            crate::store::StoreCommand::PutAgentState(
                                crate::store::AgentStateRecord {
                                    agent,
                                    logged_in,
                                    queues,
                                    paused,
                                    changed_at: i64::try_from(now.wall.0).unwrap_or(0),
                                },
                            ),
                        ));
                    }
                }
                AcdOutput::Event(e) => {
                    tracing::debug!(queue = %e.queue, agent = %e.agent, event = e.event, "queue event");
                    self.out
                        .push_back(Output::Store(crate::store::StoreCommand::QueueEvent(
                            record(e),
                        )));
                }
            }
        }
        self.arm_acd();
    }

    /// Keeps the engine's timer for the ACD.
    pub(crate) fn arm_acd(&mut self) {
        self.acd_at = self.acd.poll_timeout();
    }

    /// Restores agents' login and pause state saved by an earlier run (it wins over `login`
    /// in queues.toml).
    pub fn restore_agent_states(&mut self, records: Vec<crate::store::AgentStateRecord>) {
        for r in records {
            if self.acd.restore(&r.agent, r.logged_in, &r.queues, r.paused) {
                tracing::info!(agent = %r.agent, logged_in = r.logged_in, queues = %r.queues.join(","), paused = ?r.paused, "agent state restored");
            }
        }
    }

    /// Rings the agent's phones for a waiting caller.
    fn queue_offer(&mut self, now: Now, id: u64, agent: &str, ext: &str) {
        let targets: Vec<(String, String, crate::sip::registrar::Flow)> = self
            .registrar
            .bindings(ext)
            .iter()
            .filter(|b| b.reachable)
            .map(|b| (ext.to_owned(), b.uri.clone(), b.flow))
            .collect();
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        if targets.is_empty() || call.state == CallState::Ending {
            let view = View::new(&self.registrar, &self.calls);
            self.acd.offer_failed(now, id, agent, &view);
            return;
        }
        let first = call.branches.len();
        self.ring_targets(now, id, targets);
        if let Some(c) = self.calls.calls.get_mut(&id) {
            let last = c.branches.len();
            if let Some(q) = c.queue.as_mut() {
                q.offers.insert(agent.to_owned(), (first..last).collect());
            }
            c.history.push(format!("offer:{agent}"));
        }
    }

    /// Stops ringing an agent for a caller.
    fn queue_withdraw(&mut self, now: Now, id: u64, agent: &str) {
        let branches = self
            .calls
            .calls
            .get_mut(&id)
            .and_then(|c| c.queue.as_mut())
            .and_then(|q| q.offers.remove(agent))
            .unwrap_or_default();
        for j in branches {
            let ringing = self.calls.calls.get(&id).is_some_and(|c| {
                matches!(
                    c.branches[j].state,
                    BranchState::Trying | BranchState::Ringing
                )
            });
            if ringing {
                self.cancel_branch(now, id, j);
            }
        }
    }

    /// A branch of a queue call answered. Returns false if the offer no longer stands (the
    /// B2BUA then hangs up that branch).
    pub(crate) fn queue_branch_answered(&mut self, now: Now, id: u64, i: usize) -> bool {
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        let Some(q) = call.queue.as_ref() else {
            return true;
        };
        let Some(agent) = q
            .offers
            .iter()
            .find(|(_, bs)| bs.contains(&i))
            .map(|(a, _)| a.clone())
        else {
            return false;
        };
        let view = View::new(&self.registrar, &self.calls);
        let ok = self.acd.offer_answered(now, id, &agent, &view);
        if ok && let Some(c) = self.calls.calls.get_mut(&id) {
            if let Some(q) = c.queue.as_mut() {
                q.offers.clear();
                q.agent = Some(agent.clone());
            }
            c.local = None;
            c.history.push(format!("agent:{agent}"));
            tracing::info!(call = %c.uniqueid, agent = %agent, "queue call answered");
        }
        self.pump_acd(now);
        ok
    }

    /// A branch of a waiting queue call failed: when all of the agent's branches have, the
    /// offer failed. Returns true when the call is a waiting queue call (handled here).
    pub(crate) fn queue_branch_failed(&mut self, now: Now, id: u64, i: usize) -> bool {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return false;
        };
        if call.winner.is_some() {
            return false;
        }
        let Some(q) = call.queue.as_ref() else {
            return false;
        };
        let agent = q
            .offers
            .iter()
            .find(|(_, bs)| bs.contains(&i))
            .map(|(a, bs)| (a.clone(), bs.clone()));
        if let Some((agent, bs)) = agent
            && bs
                .iter()
                .all(|&j| matches!(call.branches[j].state, BranchState::Failed(_)))
        {
            if let Some(q) = call.queue.as_mut() {
                q.offers.remove(&agent);
            }
            let view = View::new(&self.registrar, &self.calls);
            self.acd.offer_failed(now, id, &agent, &view);
            self.pump_acd(now);
        }
        true
    }

    /// The agent of a queue call transferred the caller to `to`: the agent is free (after
    /// wrap-up), and the rest of the call is the target's.
    pub(crate) fn queue_transferred(&mut self, now: Now, id: u64, to: &str, attended: bool) {
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.queue = None;
            c.callee = to.to_owned();
        }
        let view = View::new(&self.registrar, &self.calls);
        self.acd.transferred_as(now, id, to, attended, &view);
        self.pump_acd(now);
    }

    /// A digit from a waiting caller.
    pub(crate) fn queue_digit(&mut self, now: Now, id: u64, digit: char) {
        let view = View::new(&self.registrar, &self.calls);
        self.acd.digit(now, id, digit, &view);
        self.pump_acd(now);
    }

    /// The call ended: the ACD hears of an abandoned caller or a completed queue call, and
    /// agents involved may be free now.
    pub(crate) fn queue_call_ended(&mut self, now: Now, id: u64) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let mut exts: Vec<String> = vec![call.caller.clone(), call.callee.clone()];
        exts.extend(call.branches.iter().map(|b| b.ext.clone()));
        exts.sort();
        exts.dedup();
        let by_agent = call.hangup_by == "callee";
        let in_queue = call.queue.is_some();
        if let Some(q) = call.queue.as_ref() {
            tracing::debug!(call = %call.uniqueid, queue = %q.name, agent = ?q.agent, by = %call.hangup_by, "queue call ended");
        }
        let view = View::new(&self.registrar, &self.calls);
        if in_queue {
            self.acd.call_ended(now, id, by_agent, &view);
        }
        for e in exts {
            let view = View::new(&self.registrar, &self.calls);
            self.acd.presence_changed(now, &e, &view);
        }
        self.pump_acd(now);
    }

    /// A phone (re)registered or went away: agents may be reachable now.
    pub(crate) fn queue_presence(&mut self, now: Now, ext: &str) {
        if self.acd.agent_of_extension(ext).is_none() {
            return;
        }
        let view = View::new(&self.registrar, &self.calls);
        self.acd.presence_changed(now, ext, &view);
        self.pump_acd(now);
    }

    /// ACD timers.
    pub(crate) fn acd_handle_timeout(&mut self, now: Now) {
        if self.acd_repair_at.is_some_and(|t| t <= now.mono) {
            self.acd_repair(now);
        }
        if self.acd_at.is_some_and(|t| t <= now.mono) {
            let view = View::new(&self.registrar, &self.calls);
            self.acd.handle_timeout(now, &view);
            self.pump_acd(now);
        }
    }

    /// Self-healing: the ACD's calls against the live calls.
    pub(crate) fn acd_repair(&mut self, now: Now) {
        self.acd_repair_at = Some(now.mono + REPAIR_EVERY);
        // "Today" in `zvon status queues` is the local day of the dial plan's default context.
        let tz = self
            .dialplan
            .contexts
            .iter()
            .find(|c| c.name == self.dialplan.default_context)
            .map(|c| c.timezone.clone())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let day = jiff::Timestamp::from_second(i64::try_from(now.wall.0).unwrap_or(0))
            .ok()
            .map(|t| tz.to_datetime(t).date());
        if day.is_some() && day != self.acd_day {
            if self.acd_day.is_some() {
                tracing::info!("new day: queue counters reset");
                self.acd.reset_counters();
            }
            self.acd_day = day;
        }
        let calls = &self.calls;
        // Live: the call exists, is still a queue call, and (once answered) the agent's phone
        // is still its B side (an attended transfer can move the agent out).
        let acd = &self.acd;
        let live: std::collections::HashSet<u64> = calls
            .calls
            .iter()
            .filter(|(_, c)| {
                c.state != CallState::Ending
                    && c.queue.as_ref().is_some_and(|q| {
                        q.agent.is_none()
                            || c.winner.is_some_and(|w| {
                                acd.agent_of_extension(&c.branches[w].ext) == q.agent.as_deref()
                            })
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        let view = View::new(&self.registrar, &self.calls);
        let fixed = self.acd.repair(now, |id| live.contains(&id), &view);
        if fixed > 0 {
            tracing::warn!(fixed, "ACD state repaired");
        }
        self.pump_acd(now);
    }

    /// A caller leaves the queue for `to` (`None`: "nobody can take your call", hang up).
    fn queue_leave(&mut self, now: Now, id: u64, to: Option<Step>, at_join: bool) {
        let Some(c) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if c.state == CallState::Ending {
            return;
        }
        c.queue = None;
        c.local = None;
        let session = c.session;
        self.out.push_back(Output::Media(MediaCommand::StopMoh {
            session,
            side: Side::A,
        }));
        self.out.push_back(Output::Media(MediaCommand::StopPlay {
            session,
            side: Side::A,
        }));
        let _ = at_join;
        let Some(step) = to else {
            return self.play_then_hangup(now, id, vec!["queue-closed".into()]);
        };
        let exit = match step.action {
            Action::Extension(Target::Literal(n)) => Exit::Extension(n),
            Action::Voicemail(Target::Literal(mb)) => Exit::Voicemail(mb),
            Action::Group(g) => Exit::Group(g),
            Action::Ivr(f) => Exit::Ivr(f),
            Action::Queue(q) => Exit::Queue(q),
            Action::Prompt { name, .. } => {
                return self.play_then_hangup(now, id, vec![name]);
            }
            Action::Hangup | Action::Reject(_) => Exit::Hangup,
            _ => {
                return self.play_then_hangup(now, id, vec!["queue-closed".into()]);
            }
        };
        self.ivr_exit(now, id, exit);
    }

    /// Agent feature codes dialled from the agent's phone: the confirmation prompts, or
    /// `None` when `dialed` is not one.
    pub(crate) fn agent_feature(
        &mut self,
        now: Now,
        caller: &str,
        dialed: &str,
    ) -> Option<Vec<String>> {
        let f = &self.features;
        let pause_reason = dialed
            .strip_prefix(f.agent_pause.as_str())
            .filter(|r| r.len() <= 4 && r.bytes().all(|b| b.is_ascii_digit()));
        let which = if dialed == f.agent_login {
            "login"
        } else if dialed == f.agent_logout {
            "logout"
        } else if dialed == f.agent_unpause {
            "unpause"
        } else if pause_reason.is_some() {
            "pause"
        } else {
            return None;
        };
        let reason = pause_reason.and_then(|r| r.parse::<u16>().ok());
        let Some(agent) = self.acd.agent_of_extension(caller).map(str::to_owned) else {
            tracing::info!(ext = %caller, code = %dialed, "agent code from a phone that is no agent's");
            return Some(vec!["not-an-agent".into()]);
        };
        let view = View::new(&self.registrar, &self.calls);
        let r = match which {
            "login" => self
                .acd
                .login(now, &agent, &[], &view)
                .map(|_| "agent-logged-in"),
            "logout" => self
                .acd
                .logout(now, &agent, &view)
                .map(|_| "agent-logged-out"),
            "pause" => self
                .acd
                .pause(now, &agent, reason, &view)
                .map(|_| "agent-paused"),
            _ => self
                .acd
                .unpause(now, &agent, &view)
                .map(|_| "agent-unpaused"),
        };
        self.pump_acd(now);
        match r {
            Ok(p) => {
                tracing::info!(agent = %agent, action = which, ?reason, "agent");
                Some(vec![p.into()])
            }
            Err(crate::acd::AcdError::NotLoggedIn(_)) => Some(vec!["agent-logged-out".into()]),
            Err(e) => {
                tracing::info!(agent = %agent, error = %e, "agent code refused");
                Some(vec!["feature-not-available".into()])
            }
        }
    }
}
