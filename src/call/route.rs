//! Where a call goes: the dial plan's decision turned into ringing, ring groups, IVR flows,
//! voicemail or prompts — and the IVR's exits back into ringing.
//!
//! Contract: no IO, no clock. The dial plan ([`crate::dialplan`]) decides with the wall time
//! of the INVITE; an IVR flow ([`crate::ivr::interp`]) runs on the engine's monotonic time and
//! its path through the menus goes into the CDR's `history`.

use std::time::{Duration, Instant};

use crate::call::b2bua::CallState;
use crate::call::features::Refusal;
use crate::call::voicemail::LocalApp;
use crate::core::{Output, Pbx};
use crate::dialplan::{GroupCall, Route, Strategy};
use crate::ivr::flow::Language;
use crate::ivr::interp::{Exit, IvrOutput, IvrSession};
use crate::media::{MediaCommand, Side};
use crate::sip::registrar::Flow;
use crate::store::Disposition;
use crate::time::Now;

/// A callee contact to ring: extension, Contact URI, flow.
pub(crate) type Target = (String, String, Flow);

/// What happens once the call object exists.
#[derive(Debug)]
pub(crate) enum After {
    /// Ring the targets (none: the callee's mailbox, else 480).
    Ring,
    /// Work through a ring group.
    Group(GroupCall),
    /// Leave a message in this mailbox.
    Voicemail(String),
    /// Run an IVR flow.
    Ivr {
        /// Flow name.
        flow: String,
        /// Variables from the dial plan.
        vars: crate::dialplan::Vars,
    },
    /// Play a prompt, then hang up.
    Prompt(String),
    /// Play these prompts, then hang up (feature-code confirmations).
    Prompts(Vec<String>),
    /// The caller's mailbox menu.
    Mailbox(String),
    /// Out through the trunks (a route named by the dial plan, or the first that matches).
    Outbound(Option<String>),
    /// Wait in a queue with this priority.
    Queue {
        /// The queue.
        queue: String,
        /// Higher is served first.
        priority: u8,
        /// Skills the caller needs (instead of the queue's).
        skills: Option<crate::acd::Skills>,
    },
}

/// A ring group in progress (sequential groups step through members).
#[derive(Debug, Clone)]
pub struct GroupState {
    group: GroupCall,
    /// Index of the member ringing now (sequential).
    member: usize,
    /// When to move on: the next member (sequential) or the whole group's timeout.
    pub(crate) next_step: Instant,
    /// When the whole group gives up.
    deadline: Instant,
}

impl Pbx {
    fn targets_of(&self, ext: &str) -> Vec<Target> {
        self.registrar
            .bindings(ext)
            .iter()
            .filter(|b| b.reachable)
            .map(|b| (ext.to_owned(), b.uri.clone(), b.flow))
            .collect()
    }

    /// Asks the dial plan where a call to `dialed` goes, starting in `context` (default: the
    /// plan's `default_context`, where calls from extensions start). Emergency numbers dialled
    /// from an extension go out through the trunks whatever the dial plan says.
    pub(crate) fn decide_in(
        &self,
        now: Now,
        context: Option<&str>,
        caller: &str,
        dialed: &str,
        history: &mut Vec<String>,
    ) -> Result<(String, Vec<Target>, After, Language), Refusal> {
        if context.is_none() && self.trunks.is_emergency(dialed) {
            return Ok((
                dialed.to_owned(),
                Vec::new(),
                After::Outbound(None),
                Language::En,
            ));
        }
        let vars = crate::dialplan::Vars::new();
        let d = self.dialplan.route(
            context.unwrap_or(&self.dialplan.default_context),
            dialed,
            caller,
            &vars,
            now.wall,
        );
        // Prompts Zvon itself plays on this call (voicemail, mailbox, messages) follow the dial
        // plan's `lang` variable when it names a shipped language.
        let lang = d
            .vars
            .get("lang")
            .and_then(|l| Language::parse(l))
            .unwrap_or(Language::En);
        let routed = match d.route {
            Route::Extension(n) => {
                let (callee, contacts) = self.route(&n, history)?;
                let t = contacts
                    .into_iter()
                    .map(|(u, f)| (callee.clone(), u, f))
                    .collect();
                Ok((callee, t, After::Ring))
            }
            Route::Group(g) => {
                history.push(format!("group:{}", g.name));
                let first = match g.strategy {
                    Strategy::Simultaneous => g
                        .members
                        .iter()
                        .flat_map(|m| self.member_targets(m))
                        .collect(),
                    Strategy::Sequential => g
                        .members
                        .first()
                        .map(|m| self.member_targets(m))
                        .unwrap_or_default(),
                };
                Ok((g.name.clone(), first, After::Group(g)))
            }
            Route::Ivr(flow) => {
                if self.ivr_flows.get(&flow).is_none() {
                    return Err((404, "Not Found", Disposition::Failed, "no such IVR"));
                }
                Ok((
                    format!("ivr:{flow}"),
                    Vec::new(),
                    After::Ivr { flow, vars: d.vars },
                ))
            }
            Route::Voicemail(mb) if self.has_mailbox(&mb) => {
                Ok((mb.clone(), Vec::new(), After::Voicemail(mb)))
            }
            Route::Voicemail(_) => Err((404, "Not Found", Disposition::Failed, "no such mailbox")),
            Route::Prompt { name, .. } => Ok((dialed.to_owned(), Vec::new(), After::Prompt(name))),
            Route::Reject(code) => Err((
                code,
                crate::sip::msg::default_reason(code),
                Disposition::Failed,
                "rejected by the dial plan",
            )),
            Route::Hangup => Err((
                480,
                "Temporarily Unavailable",
                Disposition::Failed,
                "dial plan hangup",
            )),
            Route::Queue(q) if self.acd.has_queue(&q) => Ok((
                format!("queue:{q}"),
                Vec::new(),
                After::Queue {
                    queue: q,
                    priority: crate::call::queue::priority_of(&d.vars),
                    skills: crate::call::queue::skills_of(&d.vars),
                },
            )),
            Route::Queue(_) => Err((404, "Not Found", Disposition::Failed, "no such queue")),
            Route::Feature {
                feature: crate::dialplan::Feature::Voicemail,
                ..
            } if self.has_mailbox(caller) => Ok((
                caller.to_owned(),
                Vec::new(),
                After::Mailbox(caller.to_owned()),
            )),
            Route::Feature { .. } => Err((
                480,
                "Feature Not Available",
                Disposition::Failed,
                "feature not available",
            )),
            // Out through the trunks: planned once the call exists (call::trunk).
            Route::Outbound(route) => Ok((dialed.to_owned(), Vec::new(), After::Outbound(route))),
            Route::NoMatch => Err((404, "Not Found", Disposition::Failed, "no such number")),
        };
        routed.map(|(callee, targets, after)| (callee, targets, after, lang))
    }

    /// A group member's contacts, skipping members in DND or busy without call waiting.
    fn member_targets(&self, m: &str) -> Vec<Target> {
        let st = self.ext_state.get(m).cloned().unwrap_or_default();
        let waiting = self.s.extensions.get(m).is_none_or(|e| e.call_waiting);
        if st.dnd || (!waiting && self.calls.busy_with(m) > 0) {
            return Vec::new();
        }
        self.targets_of(m)
    }

    /// Carries out what the dial plan decided, once the call exists. Returns true if handled.
    pub(crate) fn start_after(&mut self, now: Now, id: u64, after: After) -> bool {
        match after {
            After::Ring => false,
            After::Group(g) => {
                let first_wait = match g.strategy {
                    Strategy::Simultaneous => g.timeout,
                    Strategy::Sequential => g.member_timeout.min(g.timeout),
                };
                let Some(call) = self.calls.calls.get_mut(&id) else {
                    return true;
                };
                call.no_answer_at = None;
                call.group = Some(GroupState {
                    member: 0,
                    next_step: now.mono + first_wait,
                    deadline: now.mono + g.timeout,
                    group: g,
                });
                let empty = call.branches.is_empty();
                self.arm_call(id);
                if empty {
                    // Nobody of the first step can ring: move on at once.
                    self.group_step(now, id);
                }
                true
            }
            After::Voicemail(mb) => {
                if !self.send_to_voicemail(now, id, &mb) {
                    self.fail_call(
                        now,
                        id,
                        480,
                        "Temporarily Unavailable",
                        Disposition::Failed,
                        "voicemail failed",
                    );
                }
                true
            }
            After::Ivr { flow, vars } => {
                self.start_ivr(now, id, &flow, vars);
                true
            }
            After::Mailbox(mb) => {
                if !self.answer_locally(now, id) {
                    self.fail_call(
                        now,
                        id,
                        488,
                        "Not Acceptable Here",
                        Disposition::Failed,
                        "no codec",
                    );
                    return true;
                }
                self.start_mailbox(now, id, &mb);
                true
            }
            After::Queue {
                queue,
                priority,
                skills,
            } => {
                if let Some(c) = self.calls.calls.get_mut(&id) {
                    c.priority = priority;
                    c.queue_skills = skills;
                    c.no_answer_at = None;
                }
                self.queue_join(now, id, &queue);
                true
            }
            After::Outbound(route) => {
                self.start_outbound(now, id, route.as_deref());
                true
            }
            After::Prompt(name) => self.answer_and_play(now, id, vec![name]),
            After::Prompts(prompts) => self.answer_and_play(now, id, prompts),
        }
    }

    /// Answers the call itself and plays `prompts`, then hangs up.
    fn answer_and_play(&mut self, now: Now, id: u64, prompts: Vec<String>) -> bool {
        if self.answer_locally(now, id) {
            self.play_then_hangup(now, id, prompts);
        } else {
            self.fail_call(
                now,
                id,
                480,
                "Temporarily Unavailable",
                Disposition::Failed,
                "cannot play",
            );
        }
        true
    }

    /// Plays prompts on a locally answered call and hangs up when they end.
    pub(crate) fn play_then_hangup(&mut self, _now: Now, id: u64, prompts: Vec<String>) {
        self.calls.next += 1;
        let play = self.calls.next;
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.local = Some(LocalApp::Bye(play));
        let session = call.session;
        self.out.push_back(Output::Media(MediaCommand::Play {
            session,
            side: Side::A,
            id: play,
            language: call.lang.as_str().into(),
            prompts,
        }));
    }

    /// The next step of a ring group: the next member (sequential) or the fallback.
    pub(crate) fn group_step(&mut self, now: Now, id: u64) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let Some(mut g) = call.group.take() else {
            return;
        };
        let pending: Vec<usize> = (0..call.branches.len()).collect();
        for j in pending {
            self.cancel_branch(now, id, j);
        }
        let next_member = (g.group.strategy == Strategy::Sequential && now.mono < g.deadline)
            .then(|| {
                let mut k = g.member + 1;
                while k < g.group.members.len() {
                    if !self.member_targets(&g.group.members[k]).is_empty() {
                        return Some(k);
                    }
                    k += 1;
                }
                None
            })
            .flatten();
        if let Some(k) = next_member {
            let member = g.group.members[k].clone();
            let targets = self.member_targets(&member);
            g.member = k;
            g.next_step = (now.mono + g.group.member_timeout).min(g.deadline);
            let Some(call) = self.calls.calls.get_mut(&id) else {
                return;
            };
            call.group = Some(g);
            self.ring_targets(now, id, targets);
            return;
        }
        // The group is done: its fallback, else voicemail/480 as for an unanswered call.
        let fallback = g.group.fallback.clone();
        let name = g.group.name.clone();
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.history.push(format!("group-timeout:{name}"));
        }
        match fallback.map(|b| *b) {
            Some(Route::Voicemail(mb)) => {
                let answered = self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.a_answer.is_some());
                if answered {
                    self.voicemail_on_answered(now, id, &mb);
                } else if !self.send_to_voicemail(now, id, &mb) {
                    self.fail_call(
                        now,
                        id,
                        480,
                        "Temporarily Unavailable",
                        Disposition::NoAnswer,
                        "no answer",
                    );
                }
            }
            Some(Route::Extension(n)) => {
                let targets = self.targets_of(&n);
                if let Some(c) = self.calls.calls.get_mut(&id) {
                    c.callee = n;
                    c.no_answer_at = Some(now.mono + self.no_answer);
                }
                self.ring_targets(now, id, targets);
            }
            _ => {
                let answered = self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.a_answer.is_some() && c.state != CallState::Proceeding);
                if answered {
                    self.hangup(now, id, None, "no answer", "system");
                } else {
                    self.fail_call(
                        now,
                        id,
                        480,
                        "Temporarily Unavailable",
                        Disposition::NoAnswer,
                        "no answer",
                    );
                }
            }
        }
    }

    /// Rings more targets in the same call (B side).
    pub(crate) fn ring_targets(&mut self, now: Now, id: u64, targets: Vec<Target>) {
        let Some(mut call) = self.calls.calls.remove(&id) else {
            return;
        };
        let codecs = call.b_codecs.clone();
        let mut txns = Vec::new();
        for (ext, uri, flow) in targets {
            let b = self.new_branch(now, &mut call, id, &uri, flow, &codecs, &ext, Side::B);
            self.calls.dialogs.insert(
                b.leg.dialog.call_id.clone(),
                (id, crate::call::b2bua::LegRef::Branch(call.branches.len())),
            );
            txns.push(b.txn);
            call.branches.push(b);
        }
        self.calls.calls.insert(id, call);
        for t in txns {
            self.pump(now, t);
        }
        self.arm_call(id);
    }

    /// A callee answered a call Zvon had answered itself (IVR exit, group from IVR): the
    /// media session gets its B leg and the caller stops hearing music.
    pub(crate) fn connect_after_local(&mut self, _now: Now, id: u64, i: usize) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.local = None;
        let session = call.session;
        if let Some(leg) = call.branches[i].leg.media() {
            self.out.push_back(Output::Media(MediaCommand::Update {
                session,
                side: Side::B,
                leg,
            }));
        }
        self.out.push_back(Output::Media(MediaCommand::StopMoh {
            session,
            side: Side::A,
        }));
        self.out.push_back(Output::Media(MediaCommand::StopPlay {
            session,
            side: Side::A,
        }));
    }

    /// Ringing from a locally answered call failed: the group's next step, the callee's
    /// mailbox, or hang up.
    pub(crate) fn local_ring_failed(&mut self, now: Now, id: u64) {
        if self.calls.calls.get(&id).is_some_and(|c| c.group.is_some()) {
            return self.group_step(now, id);
        }
        let callee = self
            .calls
            .calls
            .get(&id)
            .map(|c| c.callee.clone())
            .unwrap_or_default();
        if self.has_mailbox(&callee) {
            self.voicemail_on_answered(now, id, &callee);
        } else {
            self.hangup(now, id, None, "no answer", "system");
        }
    }

    /// Starts an IVR flow on a ringing call (answers it) or an answered one.
    pub(crate) fn start_ivr(
        &mut self,
        now: Now,
        id: u64,
        flow: &str,
        mut vars: crate::dialplan::Vars,
    ) {
        let answered = self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| c.a_answer.is_some());
        if !answered && !self.answer_locally(now, id) {
            self.fail_call(
                now,
                id,
                488,
                "Not Acceptable Here",
                Disposition::Failed,
                "no codec for the IVR",
            );
            return;
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        vars.insert("caller".into(), call.caller.clone());
        vars.insert("dialed".into(), call.dialed.clone());
        match IvrSession::new(now.mono, &self.ivr_flows, flow, vars) {
            Ok(s) => {
                tracing::info!(call = %call.uniqueid, flow, "IVR");
                call.local = Some(LocalApp::Ivr(Box::new(s)));
                self.pump_ivr(now, id);
            }
            Err(e) => {
                tracing::warn!(flow, error = %e, "cannot start IVR");
                self.hangup(now, id, None, "ivr error", "system");
            }
        }
    }

    pub(crate) fn ivr_timeout(&mut self, now: Now, id: u64) {
        if let Some(LocalApp::Ivr(s)) = self.calls.calls.get_mut(&id).and_then(|c| c.local.as_mut())
        {
            s.handle_timeout(now.mono);
        }
        self.pump_ivr(now, id);
    }

    /// A digit (RFC 4733, SIP INFO or in-band) for the IVR of a call.
    pub(crate) fn ivr_digit(&mut self, now: Now, id: u64, digit: char) {
        if let Some(LocalApp::Ivr(s)) = self.calls.calls.get_mut(&id).and_then(|c| c.local.as_mut())
        {
            s.handle_digit(now.mono, digit);
        }
        self.pump_ivr(now, id);
    }

    /// The media side finished a prompt sequence of the IVR.
    pub(crate) fn ivr_play_done(&mut self, now: Now, id: u64, play: u64) {
        if let Some(LocalApp::Ivr(s)) = self.calls.calls.get_mut(&id).and_then(|c| c.local.as_mut())
        {
            s.handle_play_done(now.mono, play);
        }
        self.pump_ivr(now, id);
    }

    /// Carries out the IVR's outputs.
    pub(crate) fn pump_ivr(&mut self, now: Now, id: u64) {
        loop {
            let Some(call) = self.calls.calls.get_mut(&id) else {
                return;
            };
            let session = call.session;
            let Some(LocalApp::Ivr(s)) = call.local.as_mut() else {
                return;
            };
            let Some(out) = s.poll_output() else { break };
            match out {
                IvrOutput::Play {
                    id: play,
                    prompts,
                    language,
                } => {
                    self.out.push_back(Output::Media(MediaCommand::Play {
                        session,
                        side: Side::A,
                        id: play,
                        language,
                        prompts,
                    }));
                }
                IvrOutput::StopPlay => {
                    self.out.push_back(Output::Media(MediaCommand::StopPlay {
                        session,
                        side: Side::A,
                    }));
                }
                IvrOutput::Done(exit) => {
                    call.priority = crate::call::queue::priority_of(s.vars());
                    call.queue_skills = crate::call::queue::skills_of(s.vars());
                    let path = s.path_string();
                    call.history.push(format!("ivr:{path}"));
                    call.local = None;
                    self.ivr_exit(now, id, exit);
                    return;
                }
            }
        }
        self.arm_call(id);
    }

    pub(crate) fn ivr_exit(&mut self, now: Now, id: u64, exit: Exit) {
        let ring_ext = |this: &mut Self, n: &str| {
            let mut hist = Vec::new();
            match this.route(n, &mut hist) {
                Ok((callee, contacts)) if !contacts.is_empty() => {
                    let targets = contacts
                        .into_iter()
                        .map(|(u, f)| (callee.clone(), u, f))
                        .collect();
                    if let Some(c) = this.calls.calls.get_mut(&id) {
                        c.callee = callee;
                        c.history.extend(hist);
                        c.no_answer_at = Some(now.mono + this.no_answer);
                        let session = c.session;
                        this.out.push_back(Output::Media(MediaCommand::StartMoh {
                            session,
                            side: Side::A,
                        }));
                    }
                    this.ring_targets(now, id, targets);
                }
                Ok((callee, _)) if this.has_mailbox(&callee) => {
                    this.voicemail_on_answered(now, id, &callee)
                }
                _ => this.play_then_hangup(now, id, vec!["number-not-available".into()]),
            }
        };
        match exit {
            Exit::Hangup => self.play_then_hangup(now, id, Vec::new()),
            Exit::Extension(n) => ring_ext(self, &n),
            Exit::Dial(n) => ring_ext(self, &n),
            Exit::Voicemail(mb) => self.voicemail_on_answered(now, id, &mb),
            Exit::Ivr(flow) => self.start_ivr(now, id, &flow, crate::dialplan::Vars::new()),
            Exit::Group(name) => {
                let Some(g) = self.dialplan.groups.get(&name).cloned() else {
                    return self.play_then_hangup(now, id, vec!["number-not-available".into()]);
                };
                let call = crate::dialplan::GroupCall {
                    name: name.clone(),
                    members: g.members.clone(),
                    strategy: g.strategy,
                    timeout: g.timeout,
                    member_timeout: g.member_timeout,
                    fallback: None,
                };
                let first = match call.strategy {
                    Strategy::Simultaneous => call
                        .members
                        .iter()
                        .flat_map(|m| self.member_targets(m))
                        .collect(),
                    Strategy::Sequential => call
                        .members
                        .first()
                        .map(|m| self.member_targets(m))
                        .unwrap_or_default(),
                };
                if let Some(c) = self.calls.calls.get_mut(&id) {
                    c.history.push(format!("group:{name}"));
                    c.callee = name;
                    let session = c.session;
                    self.out.push_back(Output::Media(MediaCommand::StartMoh {
                        session,
                        side: Side::A,
                    }));
                }
                self.ring_targets(now, id, first);
                self.start_after(now, id, After::Group(call));
            }
            Exit::Queue(q) => self.queue_join(now, id, &q),
        }
    }

    /// Starts a voicemail deposit on a call Zvon already answered.
    pub(crate) fn voicemail_on_answered(&mut self, now: Now, id: u64, mailbox: &str) {
        if !self.has_mailbox(mailbox) {
            return self.play_then_hangup(now, id, vec!["person-unavailable".into()]);
        }
        self.begin_deposit(now, id, mailbox);
    }
}

#[allow(dead_code)]
fn _unused(_: Duration) {}
