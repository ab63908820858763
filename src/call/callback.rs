//! Queue callback (virtual hold): the caller leaves a number and hangs up, keeping their
//! place; when their turn comes the ACD reserves an agent, Zvon calls the customer, and once
//! the customer answers the reserved agent is rung and connected.
//!
//! Contract: no IO, no clock. The callback call is a call Zvon originates: its first leg is
//! an INVITE from Zvon to the customer's phones (branches of a new call). When one answers,
//! that branch becomes the call's A leg, as if the customer had called, and from there on it
//! is an ordinary queue call answered by Zvon (music, an offer to the agent, the bridge).

use bytes::Bytes;

use crate::call::b2bua::{BranchState, Call, CallState, LegRef, parse_sdp};
use crate::call::dialog::Dialog;
use crate::call::queue::{QueueLeg, View};
use crate::call::voicemail::LocalApp;
use crate::core::{Output, Pbx};
use crate::media::{LegStats, MediaCommand, SessionId, Side};
use crate::sdp;
use crate::sip::msg::Method;
use crate::store::Disposition;
use crate::time::Now;

/// The confirmation dialog on a waiting caller's call.
#[derive(Clone, Debug)]
pub struct CallbackMenu {
    /// The number to call back (the caller ID until the caller enters another).
    pub(crate) number: String,
    /// Digits being entered (after pressing 2), ended by `#`.
    pub(crate) entering: Option<String>,
}

/// "We will call you back at <number>. If this is correct, press 1. To enter a different
/// number, press 2."
fn confirm_prompts(lang: &str, number: &str) -> Vec<String> {
    let mut p = vec!["callback-we-will-call".to_owned()];
    p.extend(
        crate::ivr::say::say_digits(lang, number)
            .into_iter()
            .map(str::to_owned),
    );
    p.push("callback-confirm-options".into());
    p
}

impl Pbx {
    fn callback_play(&mut self, id: u64, prompts: Vec<String>) {
        self.calls.next += 1;
        let play = self.calls.next;
        if let Some(c) = self.calls.calls.get(&id) {
            self.out.push_back(Output::Media(MediaCommand::Play {
                session: c.session,
                side: Side::A,
                id: play,
                language: c.lang.as_str().into(),
                prompts,
            }));
        }
    }

    /// The caller pressed the callback key: confirm the number (the caller keeps waiting and
    /// is connected as usual if an agent answers meanwhile).
    pub(crate) fn callback_menu(&mut self, _now: Now, id: u64) {
        let Some(c) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if c.state == CallState::Ending || !matches!(c.local, Some(LocalApp::Queue)) {
            return;
        }
        let number = c.caller.clone();
        let lang = c.lang.as_str().to_owned();
        c.local = Some(LocalApp::Callback(Box::new(CallbackMenu {
            number: number.clone(),
            entering: None,
        })));
        self.callback_play(id, confirm_prompts(&lang, &number));
    }

    /// A digit during the confirmation dialog.
    pub(crate) fn callback_digit(&mut self, now: Now, id: u64, digit: char) {
        let Some(c) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let lang = c.lang.as_str().to_owned();
        let Some(LocalApp::Callback(menu)) = c.local.as_mut() else {
            return;
        };
        if let Some(buf) = menu.entering.as_mut() {
            match digit {
                '#' => {
                    if !buf.is_empty() {
                        menu.number = std::mem::take(buf);
                    }
                    menu.entering = None;
                    let number = menu.number.clone();
                    self.callback_play(id, confirm_prompts(&lang, &number));
                }
                '*' => {
                    menu.entering = None;
                    let number = menu.number.clone();
                    self.callback_play(id, confirm_prompts(&lang, &number));
                }
                d if d.is_ascii_digit() && buf.len() < 20 => buf.push(d),
                _ => {}
            }
            return;
        }
        match digit {
            '1' => {
                let number = menu.number.clone();
                let view = View::new(&self.registrar, &self.calls);
                let ok = self.acd.callback_request(now, id, &number, &view);
                if let Some(c) = self.calls.calls.get_mut(&id) {
                    if ok {
                        tracing::info!(call = %c.uniqueid, number = %number, "callback requested");
                        c.history.push(format!("callback-request:{number}"));
                        c.queue = None;
                        c.local = None;
                    } else {
                        c.local = Some(LocalApp::Queue);
                    }
                }
                self.pump_acd(now);
                if ok {
                    self.play_then_hangup(now, id, vec!["callback-keep-place".into()]);
                }
            }
            '2' => {
                menu.entering = Some(String::new());
                self.callback_play(id, vec!["callback-enter-number".into()]);
            }
            '*' | '0' => {
                c.local = Some(LocalApp::Queue);
                let session = c.session;
                self.out.push_back(Output::Media(MediaCommand::StopPlay {
                    session,
                    side: Side::A,
                }));
            }
            _ => {}
        }
    }

    /// The ACD reserved an agent for a callback caller (`key`): call the customer.
    pub(crate) fn callback_originate(
        &mut self,
        now: Now,
        key: u64,
        number: &str,
        queue: &str,
        linkedid: &str,
    ) {
        let mut hist = Vec::new();
        let targets: Vec<(String, String, crate::sip::registrar::Flow)> =
            match self.route(number, &mut hist) {
                Ok((callee, contacts)) => contacts
                    .into_iter()
                    .map(|(u, f)| (callee.clone(), u, f))
                    .collect(),
                Err(_) => Vec::new(),
            };
        // Not one of our phones: out through the trunks, with the class of extensions that
        // set none (a caller could type any number as the callback number).
        let outbound = if targets.is_empty() && !self.s.extensions.contains_key(number) {
            crate::trunk::route::plan_outbound(
                &self.trunks.cfg,
                number,
                None,
                self.trunks.cfg.default_class,
            )
            .map_err(|r| tracing::info!(number, queue, "callback: {}", r.answer().2))
            .ok()
            .and_then(|plan| {
                let name = plan
                    .trunks
                    .iter()
                    .find(|t| self.trunks.local.contains_key(*t))?;
                let flow = crate::sip::registrar::Flow {
                    transport: self.trunks.cfg.trunks.get(name)?.transport,
                    remote: *self.trunks.addrs.get(name)?.first()?,
                    local: *self.trunks.local.get(name)?,
                };
                Some((plan, flow))
            })
        } else {
            None
        };
        let first_flow = targets
            .first()
            .map(|t| t.2)
            .or(outbound.as_ref().map(|o| o.1));
        let ports = (self.ports.take(), self.ports.take());
        let (Some(a_port), Some(b_port), Some(flow)) = (ports.0, ports.1, first_flow) else {
            for p in [ports.0, ports.1].into_iter().flatten() {
                self.ports.give(p);
            }
            tracing::info!(number, queue, "callback: the number cannot be called now");
            let view = View::new(&self.registrar, &self.calls);
            self.acd.callback_failed(now, key, &view);
            self.pump_acd(now);
            return;
        };
        let media_ip = self.media_address.unwrap_or(flow.local.ip());
        self.calls.next += 1;
        let id = self.calls.next;
        let uniqueid = format!("{:016x}", rand::Rng::random::<u64>(&mut self.rng));
        let mut dialog = Dialog {
            call_id: format!("{:032x}@zvon", rand::Rng::random::<u128>(&mut self.rng)),
            local_tag: self.tag(),
            remote_tag: String::new(),
            local_uri: format!("<sip:{queue}@{}>", self.s.domain),
            remote_uri: format!("<sip:{number}@{}>", self.s.domain),
            remote_target: String::new(),
            route_set: Vec::new(),
            local_cseq: 0,
            remote_cseq: 0,
            flow,
            contact: format!(
                "sip:{queue}@{};transport={}",
                flow.local,
                flow.transport.as_str()
            ),
        };
        let branch = self.branch_id();
        let a_invite = dialog.request(Method::Invite, &branch, &self.s.user_agent);
        let origin = sdp::Origin::new(u64::from(rand::Rng::random::<u32>(&mut self.rng)), media_ip);
        let a_sdp = sdp::build_offer(
            &origin,
            media_ip,
            a_port,
            &self.codecs,
            true,
            crate::media::Direction::SendRecv,
        );
        let Some(a_offer) = sdp::audio_offer(&a_sdp) else {
            self.ports.give(a_port);
            self.ports.give(b_port);
            return;
        };
        let a = crate::call::b2bua::Leg {
            dialog,
            format: None,
            origin,
            port: a_port,
            media_ip,
            remote_media: None,
            direction: crate::media::Direction::SendRecv,
            pending_2xx: None,
            session_expires: None,
        };
        let mut call = Call {
            id,
            uniqueid: uniqueid.clone(),
            linkedid: linkedid.to_owned(),
            state: CallState::Proceeding,
            a,
            a_invite,
            a_txn: u64::MAX,
            a_offer,
            a_sdp,
            a_answer: None,
            b_port,
            branches: Vec::new(),
            winner: None,
            session: SessionId(id),
            media_open: false,
            caller: number.to_owned(),
            caller_name: Some(format!("Callback {queue}")),
            dialed: number.to_owned(),
            callee: number.to_owned(),
            start_wall: now.wall.secs(),
            start_mono: now.mono,
            answer_wall: None,
            answer_mono: None,
            end_wall: None,
            end_mono: None,
            no_answer_at: None,
            close_deadline: None,
            hangup_cause: String::new(),
            hangup_by: String::new(),
            disposition: Disposition::NoAnswer,
            final_code: None,
            history: vec![format!("callback:{queue}")],
            stats: [LegStats::default(); 2],
            ringing_sent: true,
            b_codecs: self.codecs.clone(),
            a_branch: None,
            transfer: None,
            local: None,
            group: None,
            answered_by: None,
            lang: crate::ivr::flow::Language::En,
            queue: None,
            priority: 0,
            queue_skills: None,
            originate: Some(queue.to_owned()),
            outbound: outbound.map(|(plan, _)| crate::call::trunk::Outbound {
                plan,
                next: 0,
                ext_caller_id: None,
            }),
            inbound_trunk: None,
        };
        let codecs = self.codecs.clone();
        for (ext, uri, f) in &targets {
            let b = self.new_branch(now, &mut call, id, uri, *f, &codecs, ext, Side::B);
            self.calls.dialogs.insert(
                b.leg.dialog.call_id.clone(),
                (id, LegRef::Branch(call.branches.len())),
            );
            call.branches.push(b);
        }
        let txns: Vec<u64> = call.branches.iter().map(|b| b.txn).collect();
        self.calls.sessions.insert(call.session, id);
        self.calls.calls.insert(id, call);
        tracing::info!(call = %uniqueid, number, queue, "calling back");
        self.acd.callback_started(key, id);
        for t in txns {
            self.pump(now, t);
        }
        let via_trunk = self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| c.outbound.is_some());
        if via_trunk && !self.outbound_next_trunk(now, id) {
            self.callback_branch_failed(now, id, 0, 503);
            return;
        }
        self.arm_call(id);
    }

    /// The customer's phone answered the callback (the branch is ACKed already): it becomes
    /// the A leg, and the call waits in the queue for the reserved agent.
    pub(crate) fn callback_answered(
        &mut self,
        now: Now,
        id: u64,
        i: usize,
        rsp: &crate::sip::msg::Message,
    ) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let Some(queue) = call.originate.take() else {
            return;
        };
        let Some((fmt, remote, dir)) = parse_sdp(rsp).and_then(|s| sdp::answer_format(&s)) else {
            tracing::info!(call = %call.uniqueid, "callback answered without usable SDP");
            call.originate = Some(queue);
            call.branches[i].state = BranchState::Failed(488);
            self.send_bye(now, id, LegRef::Branch(i));
            return self.callback_branch_failed(now, id, i, 488);
        };
        let mut leg = call.branches[i].leg.clone();
        leg.format = Some(fmt);
        leg.remote_media = remote;
        leg.direction = dir;
        // The branch was offered on `b_port`: it keeps that port as the A leg, and the agent's
        // side gets the other one.
        let old_a = call.a.port;
        call.a = leg;
        call.b_port = old_a;
        call.state = CallState::Confirmed;
        call.a_answer = Some(Bytes::new());
        call.answer_wall = Some(now.wall.secs());
        call.answer_mono = Some(now.mono);
        call.disposition = Disposition::Answered;
        call.queue = Some(QueueLeg {
            name: queue.clone(),
            ..QueueLeg::default()
        });
        call.local = Some(LocalApp::Queue);
        call.history.push(format!("queue:{queue}"));
        call.callee = format!("queue:{queue}");
        let session = call.session;
        self.calls
            .dialogs
            .insert(call.a.dialog.call_id.clone(), (id, LegRef::A));
        let others: Vec<usize> = (0..call.branches.len()).filter(|j| *j != i).collect();
        if let Some(a) = call.a.media() {
            call.media_open = true;
            self.out.push_back(Output::Media(MediaCommand::Open {
                session,
                a,
                b: None,
            }));
        }
        tracing::info!(call = %call.uniqueid, queue = %queue, "callback answered");
        for j in others {
            self.cancel_branch(now, id, j);
        }
        self.out.push_back(Output::Media(MediaCommand::StartMoh {
            session,
            side: Side::A,
        }));
        self.callback_play(id, vec!["please-hold".into()]);
        let view = View::new(&self.registrar, &self.calls);
        self.acd.callback_answered(now, id, &view);
        self.pump_acd(now);
        self.arm_call(id);
    }

    /// A branch of a callback attempt failed; when all have, the attempt failed.
    pub(crate) fn callback_branch_failed(&mut self, now: Now, id: u64, i: usize, code: u16) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if i < call.branches.len() && call.branches[i].state != BranchState::Answered {
            call.branches[i].state = BranchState::Failed(code);
        }
        let codes: Vec<u16> = call
            .branches
            .iter()
            .map(|b| match b.state {
                BranchState::Failed(c) => Some(c),
                _ => None,
            })
            .collect::<Option<Vec<u16>>>()
            .unwrap_or_default();
        if (codes.is_empty() && !call.branches.is_empty()) || call.state == CallState::Ending {
            return;
        }
        let (code, _, disp, cause) = crate::call::b2bua::best_failure(&codes);
        call.originate = None;
        call.disposition = disp;
        call.final_code = Some(code);
        call.hangup_cause = format!("callback: {cause}");
        call.hangup_by = "callee".into();
        tracing::info!(call = %call.uniqueid, code, "callback not answered");
        let view = View::new(&self.registrar, &self.calls);
        self.acd.callback_failed(now, id, &view);
        self.pump_acd(now);
        self.end_call(now, id);
    }

    /// The ACD gave up on a callback attempt (it rang out): stop ringing the customer.
    pub(crate) fn callback_cancel(&mut self, now: Now, id: u64) {
        let n = self.calls.calls.get(&id).map_or(0, |c| c.branches.len());
        for j in 0..n {
            self.cancel_branch(now, id, j);
        }
    }
}
