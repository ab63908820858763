//! The B2BUA: call state and the engine methods that drive it.
//!
//! States of a call: `Proceeding` (branches ringing) → `Answered` (200 sent to the caller,
//! waiting for its ACK; the 2xx is retransmitted by us, RFC 3261 §13.3.1.4) → `Confirmed` →
//! `Ending` (media asked to close; the CDR is written when its final statistics arrive, or
//! after a short grace period).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

use crate::call::Dialog;
use crate::call::features::Forward;
use crate::core::{Datagram, Output, Pbx, Transmit, TxnKind};
use crate::media::{
    Codec, Direction, Format, LegMedia, LegStats, MediaCommand, MediaEvent, SessionId, Side,
};
use crate::sdp::{self, AudioOffer, Origin, Sdp};
use crate::sip::msg::{self, HeaderName, Message, Method, StartLine, Uri};
use crate::sip::registrar::Flow;
use crate::sip::txn::{ClientInvite, ClientNonInvite, Reliability, TxnKey};
use crate::store::{CdrLeg, CdrRecord, Disposition, StoreCommand};
use crate::time::Now;

/// How long to wait for the media worker's final statistics before writing the CDR anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// RFC 4028 §4: the smallest Session-Expires we accept.
const MIN_SE: u32 = 90;

/// Where a dialog of a call sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegRef {
    /// The caller.
    A,
    /// Callee branch `i`.
    Branch(usize),
}

/// What a client transaction started by the B2BUA is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqKind {
    /// BYE.
    Bye,
    /// CANCEL of a branch.
    Cancel,
    /// NOTIFY of a REFER subscription.
    Notify,
}

/// A 2xx to an INVITE that we retransmit until the ACK (RFC 3261 §13.3.1.4).
#[derive(Clone, Debug)]
pub struct Pending2xx {
    bytes: Bytes,
    cseq: u32,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

/// One side of a call: its dialog and media.
#[derive(Clone, Debug)]
pub struct Leg {
    /// The dialog.
    pub dialog: Dialog,
    /// Negotiated format.
    pub format: Option<Format>,
    /// Our SDP origin for this leg.
    pub origin: Origin,
    /// Our media port facing this phone.
    pub port: u16,
    /// Our media address facing this phone.
    pub media_ip: IpAddr,
    /// Where the phone receives media (from its SDP).
    pub remote_media: Option<SocketAddr>,
    /// The phone's current direction.
    pub direction: Direction,
    pub(crate) pending_2xx: Option<Pending2xx>,
    /// RFC 4028 refresh deadline.
    pub(crate) session_expires: Option<(Duration, Instant)>,
}

impl Leg {
    /// Starts retransmitting our 2xx to this leg until its ACK (RFC 3261 §13.3.1.4).
    pub(crate) fn set_pending_2xx(&mut self, bytes: Bytes, cseq: u32, now: Instant, t1: Duration) {
        self.pending_2xx = Some(Pending2xx {
            bytes,
            cseq,
            next: now + t1,
            interval: t1,
            give_up: now + t1 * 64,
        });
    }

    pub(crate) fn media(&self) -> Option<LegMedia> {
        Some(LegMedia {
            port: self.port,
            remote: self.remote_media,
            format: self.format?,
            direction: self.direction,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BranchState {
    Trying,
    Ringing,
    Answered,
    Failed(u16),
}

/// An outgoing INVITE to one contact of the callee.
#[derive(Clone, Debug)]
pub struct Branch {
    pub(crate) leg: Leg,
    pub(crate) txn: u64,
    pub(crate) ext: String,
    pub(crate) invite: Message,
    pub(crate) state: BranchState,
    pub(crate) ack: Option<Bytes>,
    pub(crate) cancel_pending: bool,
    pub(crate) provisional: bool,
    pub(crate) start: u64,
    pub(crate) answer: Option<u64>,
    /// The side of the call this leg serves (B normally; either side for a transfer target).
    pub(crate) side: Side,
    /// A leg moved in from another call by an attended transfer (answered with a re-INVITE).
    pub(crate) moved: bool,
    /// The trunk this branch goes out through.
    pub(crate) trunk: Option<String>,
    /// INVITEs re-sent with credentials after a 401/407 from the trunk.
    pub(crate) auth_tries: u8,
}

/// A transfer in progress (RFC 3515 REFER; RFC 3891 Replaces for attended transfers).
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The leg that sent the REFER.
    pub(crate) transferor: LegRef,
    /// Branches ringing (or the moved leg being re-INVITEd) for the transferor's side.
    pub(crate) branches: Vec<usize>,
    /// The number transferred to.
    pub(crate) target: String,
    /// Attended (Replaces) or blind.
    pub(crate) attended: bool,
    /// The transferor hung up already (blind transfers often do, right after the 202).
    pub(crate) transferor_gone: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallState {
    Proceeding,
    Answered,
    Confirmed,
    Ending,
}

/// A call between two phones.
#[derive(Debug)]
pub struct Call {
    /// Engine-internal id.
    pub id: u64,
    pub(crate) uniqueid: String,
    pub(crate) linkedid: String,
    pub(crate) state: CallState,
    pub(crate) a: Leg,
    pub(crate) a_invite: Message,
    pub(crate) a_txn: u64,
    pub(crate) a_offer: AudioOffer,
    pub(crate) a_sdp: Sdp,
    pub(crate) a_answer: Option<Bytes>,
    pub(crate) b_port: u16,
    pub(crate) branches: Vec<Branch>,
    pub(crate) winner: Option<usize>,
    pub(crate) session: SessionId,
    pub(crate) media_open: bool,
    pub(crate) caller: String,
    pub(crate) caller_name: Option<String>,
    pub(crate) dialed: String,
    pub(crate) callee: String,
    pub(crate) start_wall: u64,
    pub(crate) start_mono: Instant,
    pub(crate) answer_wall: Option<u64>,
    pub(crate) answer_mono: Option<Instant>,
    pub(crate) end_wall: Option<u64>,
    pub(crate) end_mono: Option<Instant>,
    pub(crate) no_answer_at: Option<Instant>,
    pub(crate) close_deadline: Option<Instant>,
    pub(crate) hangup_cause: String,
    pub(crate) hangup_by: String,
    pub(crate) disposition: Disposition,
    pub(crate) final_code: Option<u16>,
    pub(crate) history: Vec<String>,
    pub(crate) stats: [LegStats; 2],
    pub(crate) ringing_sent: bool,
    /// Codecs offered to callee legs, in order.
    pub(crate) b_codecs: Vec<Codec>,
    /// When an A-side transfer replaced the caller, the branch now serving side A.
    pub(crate) a_branch: Option<usize>,
    /// A transfer in progress.
    pub(crate) transfer: Option<Transfer>,
    /// Zvon itself answered the call (voicemail, IVR).
    pub(crate) local: Option<crate::call::voicemail::LocalApp>,
    /// A ring group being worked through.
    pub(crate) group: Option<crate::call::route::GroupState>,
    /// Who answered (first).
    pub(crate) answered_by: Option<String>,
    /// The language of prompts Zvon plays on this call (the dial plan's `lang`).
    pub(crate) lang: crate::ivr::flow::Language,
    /// The call's part in a queue (waiting, ringing agents, or answered by one).
    pub(crate) queue: Option<crate::call::queue::QueueLeg>,
    /// Queue priority (dial plan / IVR variables `priority`, `vip`).
    pub(crate) priority: u8,
    /// Skills the dial plan or IVR asked for (variable `skills`).
    pub(crate) queue_skills: Option<crate::acd::Skills>,
    /// A callback call Zvon placed for this queue, until the customer answers.
    pub(crate) originate: Option<String>,
    /// An outbound call through trunks: the plan and how far failover got.
    pub(crate) outbound: Option<crate::call::trunk::Outbound>,
    /// The trunk an inbound call came from.
    pub(crate) inbound_trunk: Option<String>,
}

impl Call {
    fn next_deadline(&self) -> Option<Instant> {
        let mut ds = vec![
            self.no_answer_at,
            self.close_deadline,
            self.local.as_ref().and_then(|l| l.poll_timeout()),
            self.group.as_ref().map(|g| g.next_step),
        ];
        let legs = [self.current(Side::A), self.current(Side::B)];
        for leg in legs.iter().flatten().map(|r| self.leg(*r)) {
            ds.push(leg.pending_2xx.as_ref().map(|p| p.next.min(p.give_up)));
            ds.push(leg.session_expires.map(|(_, at)| at));
        }
        ds.into_iter().flatten().min()
    }

    pub(crate) fn leg_mut(&mut self, r: LegRef) -> &mut Leg {
        match r {
            LegRef::A => &mut self.a,
            LegRef::Branch(i) => &mut self.branches[i].leg,
        }
    }

    pub(crate) fn leg(&self, r: LegRef) -> &Leg {
        match r {
            LegRef::A => &self.a,
            LegRef::Branch(i) => &self.branches[i].leg,
        }
    }

    pub(crate) fn side_of(&self, r: LegRef) -> Side {
        match r {
            LegRef::A => Side::A,
            LegRef::Branch(i) => self.branches[i].side,
        }
    }

    /// The leg serving `side` now (transfers change it).
    pub(crate) fn current(&self, side: Side) -> Option<LegRef> {
        match side {
            Side::A => Some(self.a_branch.map_or(LegRef::A, LegRef::Branch)),
            Side::B => self.winner.map(LegRef::Branch),
        }
    }

    /// True for the legs that carry the call now (not a transferor that left).
    pub(crate) fn is_current(&self, r: LegRef) -> bool {
        self.current(self.side_of(r)) == Some(r)
    }

    pub(crate) fn peer_of(&self, r: LegRef) -> Option<LegRef> {
        self.current(self.side_of(r).other())
    }

    /// Our media port for a side.
    pub(crate) fn port_of(&self, side: Side) -> u16 {
        match side {
            Side::A => self.a.port,
            Side::B => self.b_port,
        }
    }

    /// Calls that are up (not ringing, not ending): for call-waiting and status.
    pub fn is_up(&self) -> bool {
        matches!(self.state, CallState::Answered | CallState::Confirmed)
    }
}

/// The B2BUA's part of the engine state.
#[derive(Debug, Default)]
pub struct Calls {
    pub(crate) calls: std::collections::HashMap<u64, Call>,
    /// SIP Call-ID → (call, leg).
    pub(crate) dialogs: std::collections::HashMap<String, (u64, LegRef)>,
    /// Server INVITE transaction → call (for CANCEL).
    pub(crate) invites: std::collections::HashMap<u64, u64>,
    pub(crate) sessions: std::collections::HashMap<SessionId, u64>,
    pub(crate) timers: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
    pub(crate) next: u64,
}

impl Calls {
    /// Number of calls in any state.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when there is no call.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Calls an extension is in (as caller or answered callee) that are up or ringing.
    pub fn busy_with(&self, ext: &str) -> usize {
        self.calls
            .values()
            .filter(|c| c.state != CallState::Ending)
            .filter(|c| c.caller == ext || (c.callee == ext && c.winner.is_some()))
            .count()
    }
}

pub(crate) fn parse_sdp(m: &Message) -> Option<Sdp> {
    if m.body.is_empty() {
        return None;
    }
    let ct = m
        .headers
        .get(&HeaderName::ContentType)
        .unwrap_or("application/sdp");
    if !ct
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/sdp")
    {
        return None;
    }
    sdp::parse(&m.body).ok()
}

impl Pbx {
    pub(crate) fn arm_call(&mut self, id: u64) {
        if let Some(at) = self.calls.calls.get(&id).and_then(Call::next_deadline) {
            self.calls.timers.push(std::cmp::Reverse((at, id)));
        }
    }

    pub(crate) fn calls_poll_timeout(&mut self) -> Option<Instant> {
        while let Some(std::cmp::Reverse((at, id))) = self.calls.timers.peek().copied() {
            match self.calls.calls.get(&id).and_then(Call::next_deadline) {
                Some(t) if t <= at => return Some(at),
                Some(t) => {
                    self.calls.timers.pop();
                    self.calls.timers.push(std::cmp::Reverse((t, id)));
                }
                None => {
                    self.calls.timers.pop();
                }
            }
        }
        None
    }

    pub(crate) fn calls_handle_timeout(&mut self, now: Now) {
        while let Some(std::cmp::Reverse((at, id))) = self.calls.timers.peek().copied() {
            if at > now.mono {
                break;
            }
            self.calls.timers.pop();
            self.call_timeout(now, id);
        }
    }

    fn call_timeout(&mut self, now: Now, id: u64) {
        let t = now.mono;
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.close_deadline.is_some_and(|d| d <= t) {
            call.close_deadline = None;
            self.write_cdr(now, id);
            return;
        }
        if call
            .local
            .as_ref()
            .and_then(|l| l.poll_timeout())
            .is_some_and(|d| d <= t)
        {
            if matches!(
                call.local,
                Some(crate::call::voicemail::LocalApp::Mailbox(_))
            ) {
                self.mailbox_timeout(now, id);
            } else {
                self.ivr_timeout(now, id);
            }
            self.arm_call(id);
            return;
        }
        if call.group.as_ref().is_some_and(|g| g.next_step <= t) {
            self.group_step(now, id);
            self.arm_call(id);
            return;
        }
        if call.no_answer_at.is_some_and(|d| d <= t) {
            call.no_answer_at = None;
            if call.a_answer.is_some()
                && call.state != CallState::Proceeding
                && call.winner.is_none()
            {
                let pending: Vec<usize> = (0..call.branches.len()).collect();
                for j in pending {
                    self.cancel_branch(now, id, j);
                }
                self.local_ring_failed(now, id);
                return;
            }
            if call.transfer.is_some() {
                self.transfer_timeout(now, id);
                self.arm_call(id);
                return;
            }
            tracing::info!(call = %call.uniqueid, callee = %call.callee, "no answer");
            if self.forward_or_voicemail(now, id, Forward::NoAnswer) {
                return;
            }
            self.fail_call(
                now,
                id,
                480,
                "Temporarily Unavailable",
                Disposition::NoAnswer,
                "no answer",
            );
            return;
        }
        // 2xx retransmission and RFC 4028 refresh deadlines per leg.
        let legs: Vec<LegRef> = std::iter::once(LegRef::A)
            .chain(call.winner.map(LegRef::Branch))
            .collect();
        for r in legs {
            let Some(call) = self.calls.calls.get_mut(&id) else {
                return;
            };
            let flow = call.leg(r).dialog.flow;
            let t2 = self.s.timers.t2;
            let leg = call.leg_mut(r);
            if let Some(p) = &mut leg.pending_2xx {
                if p.give_up <= t {
                    leg.pending_2xx = None;
                    tracing::info!(call = %call.uniqueid, "no ACK for our 2xx; ending the call");
                    self.hangup(now, id, None, "no ACK", "system");
                    return;
                }
                if p.next <= t {
                    let bytes = p.bytes.clone();
                    p.interval = (p.interval * 2).min(t2);
                    p.next = t + p.interval;
                    self.out.push_back(Output::Transmit(Transmit {
                        transport: flow.transport,
                        local: flow.local,
                        remote: flow.remote,
                        data: bytes,
                    }));
                }
            }
            let Some(call) = self.calls.calls.get_mut(&id) else {
                return;
            };
            if call.leg(r).session_expires.is_some_and(|(_, at)| at <= t) {
                tracing::info!(call = %call.uniqueid, "session timer expired");
                self.hangup(now, id, None, "session timer expired", "system");
                return;
            }
        }
        self.arm_call(id);
    }

    fn media_ip(&self, local: SocketAddr, req: &Message) -> IpAddr {
        if let Some(ip) = self.media_address {
            return ip;
        }
        if !local.ip().is_unspecified() {
            return local.ip();
        }
        req.request_uri()
            .and_then(|u| u.host.parse().ok())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    }

    pub(crate) fn tag(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    pub(crate) fn branch_id(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.rng.random::<u64>())
    }

    /// A response to `req` with a given To tag (the dialog's), our Server and Contact.
    pub(crate) fn dialog_response(
        &mut self,
        req: &Message,
        code: u16,
        reason: &str,
        tag: &str,
        contact: Option<&str>,
    ) -> Message {
        let mut rsp = msg::response_for(req, code, reason, (code > 100).then_some(tag));
        rsp.headers
            .push(HeaderName::Server, self.s.user_agent.clone());
        if let Some(c) = contact {
            rsp.headers.push(HeaderName::Contact, format!("<{c}>"));
        }
        rsp
    }

    /// A new INVITE from a phone (no To tag): authenticate, route, fork.
    pub(crate) fn on_invite(&mut self, now: Now, txn: u64, d: &Datagram, req: &Message) {
        // A provider's call (by source address) needs no digest; anyone else is a phone and
        // must authenticate as an extension (no open relay).
        let inbound_trunk = self.trunk_of_source(d.remote).cloned();
        let caller = match &inbound_trunk {
            Some(_) => crate::call::trunk::inbound_caller(req),
            None => match self.authenticate(now, d, req, true) {
                Ok(u) => u,
                Err(rsp) => return self.reply(now, txn, *rsp),
            },
        };
        let trying = self.response(req, 100, "Trying");
        self.reply(now, txn, trying);
        let dialed = match &inbound_trunk {
            Some(t) => crate::call::trunk::inbound_did(t, req),
            None => req
                .request_uri()
                .and_then(|u| u.user.clone())
                .unwrap_or_default(),
        };
        // RFC 4028: accept the phone's session timer.
        let session_expires = match req.headers.get(&HeaderName::SessionExpires) {
            Some(v) => match v
                .split(';')
                .next()
                .and_then(|n| n.trim().parse::<u32>().ok())
            {
                Some(n) if n < MIN_SE => {
                    let rsp = self
                        .response(req, 422, "Session Interval Too Small")
                        .with_header(HeaderName::MinSE, &MIN_SE.to_string());
                    return self.reply(now, txn, rsp);
                }
                Some(n) => Some(n),
                None => None,
            },
            None => None,
        };
        let Some(a_sdp) = parse_sdp(req) else {
            tracing::info!(caller = %caller, "INVITE without an SDP offer: not supported yet");
            let rsp = self.response(req, 488, "Not Acceptable Here");
            return self.reply(now, txn, rsp);
        };
        let Some(offer) = sdp::audio_offer(&a_sdp).filter(|o| !o.savp_only) else {
            let rsp = self.response(req, 488, "Not Acceptable Here");
            return self.reply(now, txn, rsp);
        };
        if sdp::choose(&offer, &self.codecs).is_none() {
            let rsp = self.response(req, 488, "Not Acceptable Here");
            return self.reply(now, txn, rsp);
        }
        // Feature codes (DND, forwarding, pickup) come before routing; not from outside.
        let feature = match inbound_trunk {
            Some(_) => crate::call::features::FeatureResult::No,
            None => self.feature_code(now, txn, d, req, &caller, &dialed),
        };
        let confirm = match feature {
            crate::call::features::FeatureResult::No => None,
            crate::call::features::FeatureResult::Done => return,
            crate::call::features::FeatureResult::Confirm(p) => Some(p),
        };
        // Routing: extension to extension, with forwarding, DND and call waiting.
        let mut history = Vec::new();
        if let Some(t) = &inbound_trunk {
            history.push(format!("trunk:{}", t.name));
            if t.max_channels > 0 && self.trunk_channels(&t.name) >= t.max_channels {
                tracing::warn!(trunk = %t.name, max_channels = t.max_channels, "inbound call refused: the trunk's channels are all in use");
                let rsp = self.response(req, 503, "Service Unavailable");
                self.reply(now, txn, rsp);
                self.reject_cdr(
                    now,
                    req,
                    &caller,
                    &dialed,
                    503,
                    Disposition::Failed,
                    "trunk channel limit",
                    &history,
                );
                return;
            }
        }
        let decided = match confirm {
            Some(prompts) => {
                history.push(format!("feature:{dialed}"));
                Ok((
                    dialed.clone(),
                    Vec::new(),
                    crate::call::route::After::Prompts(prompts),
                    crate::ivr::flow::Language::En,
                ))
            }
            None => {
                let context = inbound_trunk.as_ref().map(|t| t.context.as_str());
                self.decide_in(now, context, &caller, &dialed, &mut history)
            }
        };
        let (callee, targets, after, lang) = match decided {
            Ok(r) => r,
            Err((code, reason, disp, cause)) => {
                tracing::info!(caller = %caller, dialed = %dialed, code, "{cause}");
                let rsp = self.response(req, code, reason);
                self.reply(now, txn, rsp);
                self.reject_cdr(now, req, &caller, &dialed, code, disp, cause, &history);
                return;
            }
        };
        let (a_port, b_port) = match (self.ports.take(), self.ports.take()) {
            (Some(a), Some(b)) => (a, b),
            (a, b) => {
                for p in [a, b].into_iter().flatten() {
                    self.ports.give(p);
                }
                tracing::warn!("no free RTP ports: rejecting the call with 503");
                let rsp = self.response(req, 503, "Service Unavailable");
                self.reply(now, txn, rsp);
                self.reject_cdr(
                    now,
                    req,
                    &caller,
                    &dialed,
                    503,
                    Disposition::Failed,
                    "no media ports",
                    &history,
                );
                return;
            }
        };
        self.calls.next += 1;
        let id = self.calls.next;
        let uniqueid = format!("{:016x}", self.rng.random::<u64>());
        let a_tag = self.tag();
        let from = req.from().ok();
        let caller_name = from
            .as_ref()
            .and_then(|f| f.display.clone())
            .or_else(|| self.s.extensions.get(&caller).and_then(|e| e.name.clone()));
        let media_ip = self.media_ip(d.local, req);
        let a_contact = format!(
            "sip:{dialed}@{};transport={}",
            d.local,
            d.transport.as_str()
        );
        let mut a_dialog = Dialog {
            call_id: req.call_id().unwrap_or("").to_owned(),
            local_tag: a_tag,
            remote_tag: from
                .as_ref()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default(),
            local_uri: req.to().map(|t| strip_tag(&t)).unwrap_or_default(),
            remote_uri: from.as_ref().map(strip_tag).unwrap_or_default(),
            remote_target: String::new(),
            route_set: Vec::new(),
            local_cseq: 0,
            remote_cseq: req.cseq().map(|c| c.seq).unwrap_or(1),
            flow: Flow {
                transport: d.transport,
                remote: d.remote,
                local: d.local,
            },
            contact: a_contact,
        };
        a_dialog.learn(req, false);
        if a_dialog.remote_target.is_empty() {
            a_dialog.remote_target = format!("sip:{caller}@{}", d.remote);
        }
        let session = SessionId(id);
        let a = Leg {
            dialog: a_dialog,
            format: None,
            origin: Origin::new(self.rng.random::<u32>() as u64, media_ip),
            port: a_port,
            media_ip,
            remote_media: offer.remote,
            direction: offer.direction,
            pending_2xx: None,
            session_expires: session_expires.map(|n| {
                (
                    Duration::from_secs(u64::from(n)),
                    now.mono + Duration::from_secs(u64::from(n)),
                )
            }),
        };
        // Offer B the caller's codecs first (so the legs can relay), then the rest.
        let mut b_codecs: Vec<Codec> = offer
            .formats
            .iter()
            .map(|f| f.codec)
            .filter(|c| self.codecs.contains(c))
            .collect();
        b_codecs.dedup();
        for c in &self.codecs {
            if !b_codecs.contains(c) {
                b_codecs.push(*c);
            }
        }
        let mut call = Call {
            id,
            uniqueid: uniqueid.clone(),
            linkedid: uniqueid.clone(),
            state: CallState::Proceeding,
            a,
            a_invite: req.clone(),
            a_txn: txn,
            a_offer: offer,
            a_sdp,
            a_answer: None,
            b_port,
            branches: Vec::new(),
            winner: None,
            session,
            media_open: false,
            caller: caller.clone(),
            caller_name,
            dialed: dialed.clone(),
            callee: callee.clone(),
            start_wall: now.wall.secs(),
            start_mono: now.mono,
            answer_wall: None,
            answer_mono: None,
            end_wall: None,
            end_mono: None,
            no_answer_at: Some(now.mono + self.no_answer),
            close_deadline: None,
            hangup_cause: String::new(),
            hangup_by: String::new(),
            disposition: Disposition::Failed,
            final_code: None,
            history,
            stats: [LegStats::default(); 2],
            b_codecs: b_codecs.clone(),
            ringing_sent: false,
            a_branch: None,
            transfer: None,
            local: None,
            group: None,
            answered_by: None,
            lang,
            queue: None,
            priority: 0,
            queue_skills: None,
            originate: None,
            outbound: None,
            inbound_trunk: inbound_trunk.as_ref().map(|t| t.name.clone()),
        };
        tracing::info!(
            call = %uniqueid,
            caller = %caller,
            dialed = %dialed,
            contacts = targets.len(),
            "call started"
        );
        for (ext, uri, flow) in targets {
            let b = self.new_branch(now, &mut call, id, &uri, flow, &b_codecs, &ext, Side::B);
            call.branches.push(b);
        }
        self.calls
            .dialogs
            .insert(call.a.dialog.call_id.clone(), (id, LegRef::A));
        for (i, b) in call.branches.iter().enumerate() {
            self.calls
                .dialogs
                .insert(b.leg.dialog.call_id.clone(), (id, LegRef::Branch(i)));
        }
        self.calls.invites.insert(txn, id);
        self.calls.sessions.insert(session, id);
        self.calls.calls.insert(id, call);
        // Now that the call exists, send the branch INVITEs (their txns were created already).
        let txns: Vec<u64> = self.calls.calls[&id]
            .branches
            .iter()
            .map(|b| b.txn)
            .collect();
        for t in txns {
            self.pump(now, t);
        }
        self.arm_call(id);
        if self.start_after(now, id, after) {
            return;
        }
        // Nobody to ring (busy, DND or unavailable with a mailbox): straight to voicemail.
        if self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| c.branches.is_empty())
        {
            let callee = self.calls.calls[&id].callee.clone();
            if !self.send_to_voicemail(now, id, &callee) {
                self.fail_call(
                    now,
                    id,
                    480,
                    "Temporarily Unavailable",
                    Disposition::NoAnswer,
                    "not registered",
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_branch(
        &mut self,
        now: Now,
        call: &mut Call,
        id: u64,
        uri: &str,
        flow: Flow,
        codecs: &[Codec],
        ext: &str,
        side: Side,
    ) -> Branch {
        self.new_branch_as(now, call, id, uri, flow, codecs, ext, side, None)
    }

    /// [`Pbx::new_branch`] with the From/To/extra headers of a trunk call.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_branch_as(
        &mut self,
        now: Now,
        call: &mut Call,
        id: u64,
        uri: &str,
        flow: Flow,
        codecs: &[Codec],
        ext: &str,
        side: Side,
        ident: Option<crate::call::trunk::BranchIdent>,
    ) -> Branch {
        let idx = call.branches.len();
        let media_ip = self
            .media_address
            .unwrap_or(if flow.local.ip().is_unspecified() {
                call.a.media_ip
            } else {
                flow.local.ip()
            });
        let name = call
            .caller_name
            .clone()
            .map(|n| format!("\"{}\" ", n.replace('"', "")));
        let (local_uri, remote_uri) = match &ident {
            Some(i) => (i.from.clone(), i.to.clone()),
            None => (
                format!(
                    "{}<sip:{}@{}>",
                    name.unwrap_or_default(),
                    call.caller,
                    self.s.domain
                ),
                format!("<sip:{ext}@{}>", self.s.domain),
            ),
        };
        let dialog = Dialog {
            call_id: format!("{:032x}@zvon", self.rng.random::<u128>()),
            local_tag: self.tag(),
            remote_tag: String::new(),
            local_uri,
            remote_uri,
            remote_target: uri.to_owned(),
            route_set: Vec::new(),
            local_cseq: 0,
            remote_cseq: 0,
            flow,
            contact: format!(
                "sip:{}@{};transport={}",
                call.caller,
                flow.local,
                flow.transport.as_str()
            ),
        };
        let mut leg = Leg {
            dialog,
            format: None,
            origin: Origin::new(self.rng.random::<u32>() as u64, media_ip),
            port: call.port_of(side),
            media_ip,
            remote_media: None,
            direction: Direction::SendRecv,
            pending_2xx: None,
            session_expires: None,
        };
        let branch = self.branch_id();
        let mut inv = leg
            .dialog
            .request(Method::Invite, &branch, &self.s.user_agent);
        inv.headers
            .push(HeaderName::Contact, format!("<{}>", leg.dialog.contact));
        inv.headers.push(HeaderName::Allow, crate::core::ALLOW);
        inv.headers.push(HeaderName::Supported, "timer");
        if let Some(i) = &ident {
            for (n, v) in &i.extra {
                inv.headers.push(n.clone(), v.clone());
            }
        }
        let offer = sdp::build_offer(
            &leg.origin,
            media_ip,
            call.b_port,
            codecs,
            true,
            Direction::SendRecv,
        );
        inv.headers.push(HeaderName::ContentType, "application/sdp");
        inv.body = Bytes::from(offer.to_string());
        let bytes = inv.to_bytes();
        let rel = if flow.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        };
        let txn = ClientInvite::new(now.mono, bytes, rel, self.s.timers);
        let key = TxnKey::client(&branch, "INVITE");
        let tid = self.add_client_txn(
            key,
            TxnKind::Invite {
                txn,
                call: id,
                branch: idx,
            },
            flow,
        );
        Branch {
            leg,
            txn: tid,
            ext: ext.to_owned(),
            invite: inv,
            state: BranchState::Trying,
            ack: None,
            cancel_pending: false,
            provisional: false,
            start: now.wall.secs(),
            answer: None,
            side,
            moved: false,
            trunk: ident.map(|i| i.trunk),
            auth_tries: 0,
        }
    }

    /// A response on a branch's INVITE transaction, after the transaction machine saw it.
    pub(crate) fn on_branch_response(
        &mut self,
        now: Now,
        id: u64,
        i: usize,
        rsp: &Message,
        code: u16,
    ) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if i >= call.branches.len() {
            return;
        }
        if call
            .transfer
            .as_ref()
            .is_some_and(|t| t.branches.contains(&i))
        {
            return self.on_transfer_response(now, id, i, rsp, code);
        }
        if call.branches[i].trunk.is_some() {
            self.trunk_traffic(i, id);
            if matches!(code, 401 | 407) && self.trunk_branch_challenged(now, id, i, rsp, code) {
                return;
            }
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let to_tag = rsp
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default();
        if call.originate.is_some() && (101..=199).contains(&code) {
            // Calling a customer back: ringing is all there is to know.
            let b = &mut call.branches[i];
            if b.state == BranchState::Trying {
                b.state = BranchState::Ringing;
            }
            if b.cancel_pending {
                b.cancel_pending = false;
                self.send_cancel(now, id, i);
            }
            return;
        }
        if call.originate.is_some() && code >= 300 {
            if call.outbound.is_some() {
                call.branches[i].state = BranchState::Failed(code);
                if self.trunk_failover(now, id, i, code) {
                    return;
                }
            }
            return self.callback_branch_failed(now, id, i, code);
        }
        match code {
            100 => {}
            101..=199 => {
                let b = &mut call.branches[i];
                b.provisional = true;
                if b.state == BranchState::Trying {
                    b.state = BranchState::Ringing;
                }
                if b.cancel_pending {
                    b.cancel_pending = false;
                    self.send_cancel(now, id, i);
                    return;
                }
                if call.state != CallState::Proceeding {
                    return;
                }
                let sdp = parse_sdp(rsp);
                if let Some(answer) = sdp.as_ref().and_then(sdp::answer_format) {
                    if call.a_answer.is_none() {
                        // Early media from this branch.
                        let b = &mut call.branches[i];
                        b.leg.dialog.remote_tag = to_tag;
                        b.leg.dialog.learn(rsp, true);
                        b.leg.format = Some(answer.0);
                        b.leg.remote_media = answer.1;
                        b.leg.direction = answer.2;
                        self.answer_a(now, id, i, 183, "Session Progress");
                        return;
                    }
                }
                if !call.ringing_sent && call.a_answer.is_none() {
                    call.ringing_sent = true;
                    let (tag, contact, inv) = (
                        call.a.dialog.local_tag.clone(),
                        call.a.dialog.contact.clone(),
                        call.a_invite.clone(),
                    );
                    let a_txn = call.a_txn;
                    let rsp = self.dialog_response(&inv, 180, "Ringing", &tag, Some(&contact));
                    self.reply(now, a_txn, rsp);
                }
            }
            200..=299 => {
                let b = &mut call.branches[i];
                if b.state == BranchState::Answered {
                    // A retransmitted 2xx (RFC 6026 Accepted): ACK again.
                    if let Some(ack) = b.ack.clone() {
                        let f = b.leg.dialog.flow;
                        self.transmit(f, ack);
                    }
                    return;
                }
                b.state = BranchState::Answered;
                b.answer = Some(now.wall.secs());
                b.leg.dialog.remote_tag = to_tag;
                b.leg.dialog.learn(rsp, true);
                let cseq = rsp.cseq().map(|c| c.seq).unwrap_or(1);
                let branch = self.branch_id();
                let b = &mut self.calls.calls.get_mut(&id).expect("call exists").branches[i];
                let mut ack =
                    b.leg
                        .dialog
                        .request_with_cseq(Method::Ack, cseq, &branch, &self.s.user_agent);
                ack.body = Bytes::new();
                let ack = ack.to_bytes();
                b.ack = Some(ack.clone());
                let flow = b.leg.dialog.flow;
                self.transmit(flow, ack);
                let call = self.calls.calls.get_mut(&id).expect("call exists");
                if call.winner.is_some() || call.state == CallState::Ending {
                    // Another branch won, or the caller is gone: RFC 3261 §13.2.2.4 — ACK, then BYE.
                    self.send_bye(now, id, LegRef::Branch(i));
                    return;
                }
                if call.originate.is_some() {
                    let rsp = rsp.clone();
                    return self.callback_answered(now, id, i, &rsp);
                }
                if call.queue.is_some() && !self.queue_branch_answered(now, id, i) {
                    // The offer was withdrawn (another agent answered, the caller left).
                    self.send_bye(now, id, LegRef::Branch(i));
                    return;
                }
                let Some(call) = self.calls.calls.get_mut(&id) else {
                    return;
                };
                let answered_locally =
                    call.a_answer.is_some() && call.state != CallState::Proceeding;
                call.winner = Some(i);
                call.no_answer_at = None;
                call.group = None;
                let answer = parse_sdp(rsp).and_then(|s| sdp::answer_format(&s));
                let Some((fmt, remote, dir)) = answer else {
                    tracing::info!(call = %call.uniqueid, "callee answered without usable SDP");
                    self.hangup(now, id, Some(488), "callee SDP not acceptable", "system");
                    return;
                };
                let b = &mut call.branches[i];
                b.leg.format = Some(fmt);
                b.leg.remote_media = remote;
                b.leg.direction = dir;
                call.callee = b.ext.clone();
                call.answered_by = Some(b.ext.clone());
                call.answer_wall.get_or_insert(now.wall.secs());
                call.answer_mono.get_or_insert(now.mono);
                call.disposition = Disposition::Answered;
                let others: Vec<usize> = (0..call.branches.len()).filter(|j| *j != i).collect();
                tracing::info!(call = %call.uniqueid, answered_by = %call.callee, codec = fmt.codec.name(), "answered");
                for j in others {
                    self.cancel_branch(now, id, j);
                }
                if answered_locally {
                    self.connect_after_local(now, id, i);
                } else {
                    self.answer_a(now, id, i, 200, "OK");
                }
            }
            _ => self.branch_failed(now, id, i, code),
        }
    }

    /// A branch ended without an answer (final non-2xx response or Timer B).
    pub(crate) fn branch_failed(&mut self, now: Now, id: u64, i: usize, code: u16) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if i >= call.branches.len() {
            return;
        }
        if call
            .transfer
            .as_ref()
            .is_some_and(|t| t.branches.contains(&i))
        {
            return self.transfer_branch_failed(now, id, i, code);
        }
        {
            {
                if call.branches[i].state == BranchState::Answered {
                    return;
                }
                if call.originate.is_some() {
                    if call.outbound.is_some() {
                        call.branches[i].state = BranchState::Failed(code);
                        if self.trunk_failover(now, id, i, code) {
                            return;
                        }
                    }
                    return self.callback_branch_failed(now, id, i, code);
                }
                call.branches[i].state = BranchState::Failed(code);
                if self.trunk_failover(now, id, i, code) {
                    return;
                }
                let Some(call) = self.calls.calls.get_mut(&id) else {
                    return;
                };
                if call.queue.is_some() && self.queue_branch_failed(now, id, i) {
                    return;
                }
                let Some(call) = self.calls.calls.get_mut(&id) else {
                    return;
                };
                if call.winner.is_none()
                    && call.state != CallState::Proceeding
                    && call.state != CallState::Ending
                    && call.a_answer.is_some()
                    && call
                        .branches
                        .iter()
                        .all(|b| matches!(b.state, BranchState::Failed(_)))
                {
                    // Ringing from an IVR or a group step: nobody answered.
                    return self.local_ring_failed(now, id);
                }
                if call.state != CallState::Proceeding || call.winner.is_some() {
                    return;
                }
                if call
                    .branches
                    .iter()
                    .all(|b| matches!(b.state, BranchState::Failed(_)))
                {
                    // Through trunks the branches are tried one after another: the caller
                    // gets the last trunk's answer.
                    let codes: Vec<u16> = if call.outbound.is_some() {
                        vec![code]
                    } else {
                        call.branches
                            .iter()
                            .filter_map(|b| match b.state {
                                BranchState::Failed(c) => Some(c),
                                _ => None,
                            })
                            .collect()
                    };
                    let (code, reason, disp, cause) = if call.outbound.is_some() {
                        // The provider's own answer (404, 484, 486, 503, ...) goes back as is.
                        let cause = match code {
                            408 => "no answer from the trunk",
                            486 | 600 => "busy",
                            _ => "rejected by the provider",
                        };
                        (
                            code,
                            msg::default_reason(code),
                            disposition_for(code),
                            cause,
                        )
                    } else {
                        best_failure(&codes)
                    };
                    let kind = if disp == Disposition::Busy {
                        Forward::Busy
                    } else {
                        Forward::NoAnswer
                    };
                    if self.forward_or_voicemail(now, id, kind) {
                        return;
                    }
                    self.fail_call(now, id, code, reason, disp, cause);
                }
            }
        }
    }

    /// Answers the caller (183 early media or 200) with our SDP for the format that
    /// matches branch `i`'s answer, and opens or updates the media session.
    pub(crate) fn answer_a(&mut self, now: Now, id: u64, i: usize, code: u16, reason: &str) {
        let codecs = self.codecs.clone();
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let Some(bf) = call.branches[i].leg.format else {
            return;
        };
        if call.a.format.is_none() {
            let same = call
                .a_offer
                .formats
                .iter()
                .find(|f| f.codec == bf.codec)
                .copied();
            call.a.format = same.or_else(|| sdp::choose(&call.a_offer, &codecs));
        }
        let Some(af) = call.a.format else { return };
        let body = match &call.a_answer {
            Some(b) => b.clone(),
            None => {
                let dir = call.a.direction;
                let ans = sdp::build_answer(
                    &call.a.origin,
                    &call.a_sdp,
                    call.a_offer.index,
                    &af,
                    call.a.media_ip,
                    call.a.port,
                    answer_direction(dir),
                );
                let b = Bytes::from(ans.to_string());
                call.a_answer = Some(b.clone());
                b
            }
        };
        let a_media = call.a.media();
        let b_media = call.branches[i].leg.media();
        let session = call.session;
        if let Some(a) = a_media {
            if call.media_open {
                if let Some(b) = b_media {
                    self.out.push_back(Output::Media(MediaCommand::Update {
                        session,
                        side: Side::B,
                        leg: b,
                    }));
                }
            } else {
                call.media_open = true;
                self.out.push_back(Output::Media(MediaCommand::Open {
                    session,
                    a,
                    b: b_media,
                }));
            }
        }
        let call = self.calls.calls.get_mut(&id).expect("call exists");
        let (tag, contact, inv, a_txn) = (
            call.a.dialog.local_tag.clone(),
            call.a.dialog.contact.clone(),
            call.a_invite.clone(),
            call.a_txn,
        );
        let se = call.a.session_expires;
        let mut rsp = self.dialog_response(&inv, code, reason, &tag, Some(&contact));
        if code == 200 {
            rsp.headers.push(HeaderName::Allow, crate::core::ALLOW);
            rsp.headers.push(HeaderName::Supported, "timer");
            if let Some((d, _)) = se {
                rsp.headers.push(
                    HeaderName::SessionExpires,
                    format!("{};refresher=uac", d.as_secs()),
                );
                rsp.headers.push(HeaderName::Require, "timer");
            }
        }
        rsp.headers.push(HeaderName::ContentType, "application/sdp");
        rsp.body = body;
        if code == 200 {
            let bytes = rsp.to_bytes();
            let call = self.calls.calls.get_mut(&id).expect("call exists");
            call.state = CallState::Answered;
            let cseq = call.a_invite.cseq().map(|c| c.seq).unwrap_or(1);
            call.a.pending_2xx = Some(Pending2xx {
                bytes: bytes.clone(),
                cseq,
                next: now.mono + self.s.timers.t1,
                interval: self.s.timers.t1,
                give_up: now.mono + self.s.timers.t1 * 64,
            });
            if let Some(t) = self.txns.get_mut(&a_txn) {
                t.send_response(now.mono, 200, bytes);
            }
            self.pump(now, a_txn);
            self.arm_call(id);
        } else {
            self.reply(now, a_txn, rsp);
        }
    }

    pub(crate) fn transmit(&mut self, flow: Flow, data: Bytes) {
        self.out.push_back(Output::Transmit(Transmit {
            transport: flow.transport,
            local: flow.local,
            remote: flow.remote,
            data,
        }));
    }

    pub(crate) fn cancel_branch(&mut self, now: Now, id: u64, j: usize) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let b = &mut call.branches[j];
        match b.state {
            BranchState::Failed(_) | BranchState::Answered => {}
            _ if b.provisional => self.send_cancel(now, id, j),
            // RFC 3261 §9.1: no CANCEL before a provisional response; send it when one comes.
            _ => b.cancel_pending = true,
        }
    }

    pub(crate) fn send_cancel(&mut self, now: Now, id: u64, j: usize) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let b = &call.branches[j];
        // RFC 3261 §9.1: same Request-URI, Call-ID, From, To (without a new tag), top Via and
        // CSeq number as the INVITE.
        let inv = &b.invite;
        let StartLine::Request { uri, raw_uri, .. } = &inv.start else {
            return;
        };
        let mut c = Message {
            start: StartLine::Request {
                method: Method::Cancel,
                uri: uri.clone(),
                raw_uri: raw_uri.clone(),
            },
            headers: msg::Headers(Vec::new()),
            body: Bytes::new(),
        };
        for name in [
            HeaderName::Via,
            HeaderName::MaxForwards,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
        ] {
            if let Some(v) = inv.headers.get(&name) {
                c.headers.push(name, v.to_owned());
            }
        }
        let seq = inv.cseq().map(|c| c.seq).unwrap_or(1);
        c.headers.push(HeaderName::CSeq, format!("{seq} CANCEL"));
        let Ok(via) = inv.top_via() else { return };
        let Some(branch) = via.branch().map(str::to_owned) else {
            return;
        };
        let flow = b.leg.dialog.flow;
        // The INVITE transaction gives up 64*T1 from now if the 487 never comes.
        let key = TxnKey::client(&branch, "INVITE");
        if let Some(&tid) = self.client_keys.get(&key) {
            if let Some(crate::core::Txn {
                kind: crate::core::TxnKind::Invite { txn, .. },
                ..
            }) = self.txns.get_mut(&tid)
            {
                txn.cancel_sent(now.mono);
            }
            self.pump(now, tid);
        }
        self.send_request(now, id, ReqKind::Cancel, &branch, c, flow);
    }

    pub(crate) fn send_request(
        &mut self,
        now: Now,
        id: u64,
        kind: ReqKind,
        branch: &str,
        m: Message,
        flow: Flow,
    ) {
        let method = m
            .method()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        let rel = if flow.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        };
        let txn = ClientNonInvite::new(now.mono, m.to_bytes(), rel, self.s.timers);
        let key = TxnKey::client(branch, &method);
        let tid = self.add_client_txn(
            key,
            TxnKind::Request {
                txn,
                call: id,
                kind,
            },
            flow,
        );
        self.pump(now, tid);
    }

    pub(crate) fn send_bye(&mut self, now: Now, id: u64, r: LegRef) {
        let branch = self.branch_id();
        let ua = self.s.user_agent.clone();
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let leg = call.leg_mut(r);
        leg.pending_2xx = None;
        let bye = leg.dialog.request(Method::Bye, &branch, &ua);
        let flow = leg.dialog.flow;
        self.send_request(now, id, ReqKind::Bye, &branch, bye, flow);
    }

    /// Ends a call that was not answered: final response to the caller, branches cancelled.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fail_call(
        &mut self,
        now: Now,
        id: u64,
        code: u16,
        reason: &str,
        disp: Disposition,
        cause: &str,
    ) {
        let by = if disp == Disposition::Cancelled && cause == "cancelled" {
            "caller"
        } else {
            "system"
        };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::Proceeding {
            return;
        }
        call.disposition = disp;
        call.final_code = Some(code);
        call.hangup_cause = cause.to_owned();
        call.hangup_by = by.to_owned();
        let (tag, inv, a_txn) = (
            call.a.dialog.local_tag.clone(),
            call.a_invite.clone(),
            call.a_txn,
        );
        let n = call.branches.len();
        for j in 0..n {
            self.cancel_branch(now, id, j);
        }
        let rsp = self.dialog_response(&inv, code, reason, &tag, None);
        self.reply(now, a_txn, rsp);
        self.end_call(now, id);
    }

    /// Hangs up an established (or answering) call: BYE to both legs.
    pub(crate) fn hangup(&mut self, now: Now, id: u64, _code: Option<u16>, cause: &str, by: &str) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.state == CallState::Ending {
            return;
        }
        if call.state == CallState::Proceeding {
            let disp = if by == "caller" {
                Disposition::Cancelled
            } else {
                Disposition::Failed
            };
            return self.fail_call(now, id, 500, "Server Internal Error", disp, cause);
        }
        call.hangup_cause = cause.to_owned();
        call.hangup_by = by.to_owned();
        let legs: Vec<LegRef> = [call.current(Side::A), call.current(Side::B)]
            .into_iter()
            .flatten()
            .collect();
        let pending: Vec<usize> = call.transfer.take().map(|t| t.branches).unwrap_or_default();
        for r in legs {
            self.send_bye(now, id, r);
        }
        for j in pending {
            self.cancel_branch(now, id, j);
        }
        self.end_call(now, id);
    }

    /// The call is over on the signalling side: close media, then write the CDR.
    pub(crate) fn end_call(&mut self, now: Now, id: u64) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.state == CallState::Ending {
            return;
        }
        call.state = CallState::Ending;
        call.end_wall = Some(now.wall.secs());
        call.end_mono = Some(now.mono);
        call.no_answer_at = None;
        call.a.pending_2xx = None;
        self.queue_call_ended(now, id);
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        // A caller who hangs up inside an IVR: the path so far goes into the CDR too, so
        // reports see where callers drop out.
        if let Some(crate::call::voicemail::LocalApp::Ivr(s)) = &call.local {
            let path = s.path_string();
            call.history.push(format!("ivr:{path}"));
        }
        if call.media_open {
            let session = call.session;
            call.close_deadline = Some(now.mono + CLOSE_GRACE);
            if call.local.as_ref().is_some_and(|l| l.recording()) {
                // A caller hanging up ends the message: keep what was said.
                self.out.push_back(Output::Media(MediaCommand::StopRecord {
                    session,
                    side: Side::A,
                }));
            }
            self.out
                .push_back(Output::Media(MediaCommand::Close { session }));
            self.arm_call(id);
        } else {
            self.write_cdr(now, id);
        }
    }

    /// Writes the CDR and forgets the call.
    fn write_cdr(&mut self, _now: Now, id: u64) {
        let Some(call) = self.calls.calls.remove(&id) else {
            return;
        };
        let mine = |v: Option<&(u64, LegRef)>| v.is_some_and(|(c, _)| *c == id);
        if mine(self.calls.dialogs.get(&call.a.dialog.call_id)) {
            self.calls.dialogs.remove(&call.a.dialog.call_id);
        }
        for b in &call.branches {
            if mine(self.calls.dialogs.get(&b.leg.dialog.call_id)) {
                self.calls.dialogs.remove(&b.leg.dialog.call_id);
            }
        }
        self.calls.invites.remove(&call.a_txn);
        self.calls.sessions.remove(&call.session);
        self.ports.give(call.a.port);
        self.ports.give(call.b_port);
        let end_mono = call.end_mono.unwrap_or(call.start_mono);
        let duration = (end_mono - call.start_mono).as_secs_f64().round() as u64;
        let billsec = call
            .answer_mono
            .map(|a| (end_mono - a).as_secs_f64().round() as u64)
            .unwrap_or(0);
        let end = call.end_wall.unwrap_or(call.start_wall);
        let mut legs = vec![CdrLeg {
            leg: 0,
            side: "caller".into(),
            peer: call.caller.clone(),
            start: call.start_wall,
            answer: call.answer_wall,
            end,
            disposition: call.disposition,
            sip_code: call.final_code.or(call.answer_wall.map(|_| 200)),
            codec: call.a.format.map(|f| f.codec.name().to_owned()),
            packets: call.stats[0].packets,
            lost: call.stats[0].lost,
            jitter_ms: call.stats[0].jitter_ms,
            mos: call.stats[0].mos,
        }];
        for (i, b) in call.branches.iter().enumerate() {
            let won = call.winner == Some(i);
            let (disp, code) = match b.state {
                BranchState::Answered => (Disposition::Answered, Some(200)),
                BranchState::Failed(c) => (disposition_for(c), Some(c)),
                _ => (Disposition::Cancelled, None),
            };
            let st = if won {
                call.stats[1]
            } else {
                LegStats::default()
            };
            legs.push(CdrLeg {
                leg: i as u32 + 1,
                side: "callee".into(),
                peer: format!("{} {}", b.ext, b.leg.dialog.remote_target),
                start: b.start,
                answer: if won { b.answer } else { None },
                end,
                disposition: disp,
                sip_code: code,
                codec: if won {
                    b.leg.format.map(|f| f.codec.name().to_owned())
                } else {
                    None
                },
                packets: st.packets,
                lost: st.lost,
                jitter_ms: st.jitter_ms,
                mos: st.mos,
            });
        }
        let rec = CdrRecord {
            uniqueid: call.uniqueid.clone(),
            linkedid: call.linkedid.clone(),
            start: call.start_wall,
            answer: call.answer_wall,
            end,
            caller: call.caller.clone(),
            caller_name: call.caller_name.clone(),
            dialed: call.dialed.clone(),
            answered_by: call.answered_by.clone(),
            disposition: call.disposition,
            duration,
            billsec,
            hangup_cause: if call.hangup_cause.is_empty() {
                "normal".into()
            } else {
                call.hangup_cause.clone()
            },
            hangup_by: if call.hangup_by.is_empty() {
                "system".into()
            } else {
                call.hangup_by.clone()
            },
            sip_code: call.final_code,
            codec_a: call
                .a_branch
                .map_or(call.a.format, |i| call.branches[i].leg.format)
                .map(|f| f.codec.name().to_owned()),
            codec_b: call
                .winner
                .and_then(|w| call.branches[w].leg.format)
                .map(|f| f.codec.name().to_owned()),
            history: call.history.join(";"),
            legs,
        };
        tracing::info!(
            call = %rec.uniqueid,
            disposition = rec.disposition.as_str(),
            billsec = rec.billsec,
            cause = %rec.hangup_cause,
            "call ended"
        );
        self.out
            .push_back(Output::Store(StoreCommand::Cdr(Box::new(rec))));
    }

    /// A media worker's event.
    pub(crate) fn on_media_event(&mut self, now: Now, ev: MediaEvent) {
        match ev {
            MediaEvent::Closed { session, stats } => {
                if let Some(&id) = self.calls.sessions.get(&session) {
                    if let Some(c) = self.calls.calls.get_mut(&id) {
                        c.stats = stats;
                        if c.state == CallState::Ending {
                            self.write_cdr(now, id);
                        }
                    }
                }
            }
            MediaEvent::RtpTimeout { session, side } => {
                if let Some(&id) = self.calls.sessions.get(&session) {
                    tracing::info!(session = session.0, ?side, "no RTP: hanging up");
                    self.hangup(now, id, None, "media timeout", "system");
                }
            }
            MediaEvent::OpenFailed { session, reason } => {
                if let Some(&id) = self.calls.sessions.get(&session) {
                    tracing::warn!(session = session.0, %reason, "media could not start");
                    if let Some(c) = self.calls.calls.get_mut(&id) {
                        c.media_open = false;
                    }
                    self.hangup(now, id, Some(503), "media failure", "system");
                }
            }
            MediaEvent::Dtmf {
                session,
                side,
                digit,
            } => {
                tracing::debug!(session = session.0, ?side, %digit, "DTMF");
                self.on_local_digit(now, session, digit);
            }
            MediaEvent::PlayDone { .. } | MediaEvent::Recorded { .. } => {
                self.on_local_media(now, ev)
            }
        }
    }

    /// CANCEL for a call's INVITE (RFC 3261 §9.2). Returns false when `inv_txn` is no call's.
    pub(crate) fn cancel_call(&mut self, now: Now, inv_txn: u64) -> bool {
        let Some(&id) = self.calls.invites.get(&inv_txn) else {
            return false;
        };
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        if call.state != CallState::Proceeding {
            return true;
        }
        tracing::info!(call = %call.uniqueid, "caller cancelled");
        self.fail_call(
            now,
            id,
            487,
            "Request Terminated",
            Disposition::Cancelled,
            "cancelled",
        );
        true
    }

    /// A request inside a dialog we know (To tag present, or an ACK). Returns false if the
    /// dialog is unknown (the caller answers 481).
    pub(crate) fn on_dialog_request(
        &mut self,
        now: Now,
        txn: Option<u64>,
        d: &Datagram,
        req: &Message,
    ) -> bool {
        let Some(call_id) = req.call_id() else {
            return false;
        };
        let Some(&(id, r)) = self.calls.dialogs.get(call_id) else {
            return false;
        };
        let Some(method) = req.method().cloned() else {
            return false;
        };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return false;
        };
        // Only answered branches have a confirmed dialog on the B side.
        if let LegRef::Branch(i) = r {
            if call.branches[i].state != BranchState::Answered && method != Method::Ack {
                return false;
            }
        }
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let current = call.is_current(r);
        if !current
            && matches!(
                method,
                Method::Invite | Method::Update | Method::Info | Method::Refer
            )
        {
            let Some(txn) = txn else { return true };
            let tag = call.leg(r).dialog.local_tag.clone();
            let rsp = self.dialog_response(req, 481, "Call/Transaction Does Not Exist", &tag, None);
            self.reply(now, txn, rsp);
            return true;
        }
        match method {
            Method::Refer => {
                let Some(txn) = txn else { return true };
                self.on_refer(now, txn, id, r, req);
                true
            }
            Method::Notify => {
                let Some(txn) = txn else { return true };
                let tag = call.leg(r).dialog.local_tag.clone();
                let rsp = self.dialog_response(req, 200, "OK", &tag, None);
                self.reply(now, txn, rsp);
                true
            }
            Method::Ack => {
                let leg = call.leg_mut(r);
                if leg.pending_2xx.as_ref().is_some_and(|p| p.cseq == cseq) {
                    leg.pending_2xx = None;
                }
                if r == LegRef::A && call.state == CallState::Answered {
                    call.state = CallState::Confirmed;
                }
                true
            }
            Method::Bye => {
                let Some(txn) = txn else { return true };
                let tag = call.leg(r).dialog.local_tag.clone();
                let rsp = self.dialog_response(req, 200, "OK", &tag, None);
                self.reply(now, txn, rsp);
                let by = if r == LegRef::A { "caller" } else { "callee" };
                tracing::info!(call = %call_id, by, "hangup");
                self.hangup_from(now, id, r, by);
                true
            }
            Method::Invite | Method::Update => {
                let Some(txn) = txn else { return true };
                self.on_reoffer(now, txn, d, id, r, req, method == Method::Invite);
                true
            }
            Method::Info => {
                let Some(txn) = txn else { return true };
                let tag = call.leg(r).dialog.local_tag.clone();
                let digit = dtmf_from_info(req);
                let rsp = self.dialog_response(req, 200, "OK", &tag, None);
                self.reply(now, txn, rsp);
                if let Some((digit, duration)) = digit {
                    let call = &self.calls.calls[&id];
                    let to = call.side_of(r).other();
                    let session = call.session;
                    if call.local.is_some() && r == LegRef::A {
                        // Zvon answered this call (IVR, voicemail): the key is for Zvon.
                        self.on_local_digit(now, session, digit);
                        return true;
                    }
                    tracing::debug!(%digit, "SIP INFO DTMF → RFC 4733");
                    self.out.push_back(Output::Media(MediaCommand::SendDtmf {
                        session,
                        side: to,
                        digit,
                        duration,
                    }));
                }
                true
            }
            Method::Options => {
                let Some(txn) = txn else { return true };
                let tag = call.leg(r).dialog.local_tag.clone();
                let rsp = self
                    .dialog_response(req, 200, "OK", &tag, None)
                    .with_header(HeaderName::Allow, crate::core::ALLOW);
                self.reply(now, txn, rsp);
                true
            }
            _ => {
                let Some(txn) = txn else { return true };
                let tag = call.leg(r).dialog.local_tag.clone();
                let rsp = self
                    .dialog_response(req, 405, "Method Not Allowed", &tag, None)
                    .with_header(HeaderName::Allow, crate::core::ALLOW);
                self.reply(now, txn, rsp);
                true
            }
        }
    }

    /// BYE from one leg: the other leg gets a BYE; the call ends.
    fn hangup_from(&mut self, now: Now, id: u64, r: LegRef, by: &str) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.state == CallState::Ending {
            return;
        }
        call.leg_mut(r).pending_2xx = None;
        if !call.is_current(r) {
            // A transferor (or a replaced leg) leaving does not end the call.
            if let Some(t) = call.transfer.as_mut().filter(|t| t.transferor == r) {
                t.transferor_gone = true;
            }
            return;
        }
        if let Some(t) = call.transfer.as_mut().filter(|t| t.transferor == r) {
            // Blind transfer: the transferor hangs up while the target rings; the kept
            // party stays (hearing music on hold) until the target answers or fails.
            t.transferor_gone = true;
            return;
        }
        call.hangup_cause = "normal".into();
        call.hangup_by = by.into();
        let pending: Vec<usize> = call.transfer.take().map(|t| t.branches).unwrap_or_default();
        if let Some(peer) = call.peer_of(r) {
            self.send_bye(now, id, peer);
        }
        for j in pending {
            self.cancel_branch(now, id, j);
        }
        self.end_call(now, id);
    }

    /// re-INVITE or UPDATE with (or without) an offer: hold, unhold, codec change, refresh.
    #[allow(clippy::too_many_arguments)]
    fn on_reoffer(
        &mut self,
        now: Now,
        txn: u64,
        _d: &Datagram,
        id: u64,
        r: LegRef,
        req: &Message,
        invite: bool,
    ) {
        let codecs = self.codecs.clone();
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let leg = call.leg_mut(r);
        if cseq <= leg.dialog.remote_cseq && invite {
            // RFC 3261 §12.2.2: an out-of-order request.
            let tag = leg.dialog.local_tag.clone();
            let rsp = self.dialog_response(req, 500, "Server Internal Error", &tag, None);
            return self.reply(now, txn, rsp);
        }
        leg.dialog.remote_cseq = cseq;
        leg.dialog.learn(req, r != LegRef::A);
        if let Some((d, _)) = leg.session_expires {
            leg.session_expires = Some((d, now.mono + d));
        }
        let sdp_in = parse_sdp(req);
        let offer = sdp_in.as_ref().and_then(sdp::audio_offer);
        let mut moh: Option<bool> = None;
        if let (Some(sdp_in), Some(offer)) = (&sdp_in, &offer) {
            let keep = leg
                .format
                .and_then(|cur| offer.formats.iter().find(|f| f.codec == cur.codec).copied());
            let Some(fmt) = keep.or_else(|| sdp::choose(offer, &codecs)) else {
                let tag = leg.dialog.local_tag.clone();
                let rsp = self.dialog_response(req, 488, "Not Acceptable Here", &tag, None);
                return self.reply(now, txn, rsp);
            };
            leg.format = Some(fmt);
            leg.remote_media = offer.remote;
            leg.direction = offer.direction;
            moh = Some(
                matches!(offer.direction, Direction::SendOnly | Direction::Inactive)
                    || offer.remote.is_none(),
            );
            leg.origin.bump();
            let ans = sdp::build_answer(
                &leg.origin,
                sdp_in,
                offer.index,
                &fmt,
                leg.media_ip,
                leg.port,
                answer_direction(offer.direction),
            );
            let body = Bytes::from(ans.to_string());
            let side = call.side_of(r);
            let session = call.session;
            let leg = call.leg(r);
            if let Some(lm) = leg.media() {
                self.out.push_back(Output::Media(MediaCommand::Update {
                    session,
                    side,
                    leg: lm,
                }));
            }
            let call = self.calls.calls.get_mut(&id).expect("call exists");
            let leg = call.leg(r);
            let (tag, contact) = (leg.dialog.local_tag.clone(), leg.dialog.contact.clone());
            let mut rsp = self.dialog_response(req, 200, "OK", &tag, Some(&contact));
            rsp.headers.push(HeaderName::ContentType, "application/sdp");
            rsp.body = body;
            self.answer_reoffer(now, txn, id, r, rsp, invite, cseq);
        } else {
            // No offer (RFC 3261 §14.2: we offer in the 2xx; a refresh): answer with our current SDP.
            let call = self.calls.calls.get_mut(&id).expect("call exists");
            let leg = call.leg(r).clone();
            let (tag, contact) = (leg.dialog.local_tag.clone(), leg.dialog.contact.clone());
            let mut rsp = self.dialog_response(req, 200, "OK", &tag, Some(&contact));
            if invite {
                if let Some(f) = leg.format {
                    let o = sdp::build_offer(
                        &leg.origin,
                        leg.media_ip,
                        leg.port,
                        &[f.codec],
                        f.dtmf_pt.is_some(),
                        Direction::SendRecv,
                    );
                    rsp.headers.push(HeaderName::ContentType, "application/sdp");
                    rsp.body = Bytes::from(o.to_string());
                }
            }
            self.answer_reoffer(now, txn, id, r, rsp, invite, cseq);
        }
        if let Some(hold) = moh {
            let call = &self.calls.calls[&id];
            let session = call.session;
            let other = call.side_of(r).other();
            let held = if hold { "hold" } else { "unhold" };
            tracing::info!(call = %call.uniqueid, side = ?call.side_of(r), "{held}");
            let cmd = if hold {
                MediaCommand::StartMoh {
                    session,
                    side: other,
                }
            } else {
                MediaCommand::StopMoh {
                    session,
                    side: other,
                }
            };
            self.out.push_back(Output::Media(cmd));
            let c = self.calls.calls.get_mut(&id).expect("call exists");
            c.history.push(format!(
                "{held}:{}",
                if r == LegRef::A { "caller" } else { "callee" }
            ));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_reoffer(
        &mut self,
        now: Now,
        txn: u64,
        id: u64,
        r: LegRef,
        mut rsp: Message,
        invite: bool,
        cseq: u32,
    ) {
        rsp.headers.push(HeaderName::Allow, crate::core::ALLOW);
        if let Some((d, _)) = self
            .calls
            .calls
            .get(&id)
            .and_then(|c| c.leg(r).session_expires)
        {
            rsp.headers.push(
                HeaderName::SessionExpires,
                format!("{};refresher=uac", d.as_secs()),
            );
            rsp.headers.push(HeaderName::Require, "timer");
        }
        let bytes = rsp.to_bytes();
        if invite {
            let t1 = self.s.timers.t1;
            if let Some(call) = self.calls.calls.get_mut(&id) {
                call.leg_mut(r).pending_2xx = Some(Pending2xx {
                    bytes: bytes.clone(),
                    cseq,
                    next: now.mono + t1,
                    interval: t1,
                    give_up: now.mono + t1 * 64,
                });
            }
        }
        if let Some(t) = self.txns.get_mut(&txn) {
            t.send_response(now.mono, 200, bytes);
        }
        self.pump(now, txn);
        self.arm_call(id);
    }

    /// Ends every call (shutdown): BYE both legs, close media. CDRs follow.
    pub fn hangup_all(&mut self, now: Now) {
        self.unregister_trunks(now);
        let ids: Vec<u64> = self.calls.calls.keys().copied().collect();
        for id in ids {
            let proceeding = self
                .calls
                .calls
                .get(&id)
                .is_some_and(|c| c.state == CallState::Proceeding);
            if proceeding {
                self.fail_call(
                    now,
                    id,
                    503,
                    "Service Unavailable",
                    Disposition::Failed,
                    "shutdown",
                );
            } else {
                self.hangup(now, id, None, "shutdown", "system");
            }
        }
    }

    /// True when no call is left (shutdown waits for this).
    pub fn calls_idle(&self) -> bool {
        self.calls.is_empty()
    }

    /// Writes the CDRs of calls still waiting for media statistics (shutdown after the grace).
    pub fn flush_cdrs(&mut self, now: Now) {
        let ids: Vec<u64> = self
            .calls
            .calls
            .iter()
            .filter(|(_, c)| c.state == CallState::Ending)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.write_cdr(now, id);
        }
    }
}

/// The best final response to give the caller when every branch failed (RFC 3261 §16.7.6,
/// simplified: busy wins, then the most specific 4xx, else 480).
pub(crate) fn best_failure(codes: &[u16]) -> (u16, &'static str, Disposition, &'static str) {
    if codes.iter().any(|c| matches!(c, 486 | 600)) {
        return (486, "Busy Here", Disposition::Busy, "busy");
    }
    if codes.contains(&603) {
        return (603, "Decline", Disposition::Busy, "declined");
    }
    if let Some(c) = codes
        .iter()
        .find(|c| (400..500).contains(*c) && !matches!(c, 408 | 480 | 487))
    {
        return (*c, msg::default_reason(*c), Disposition::Failed, "rejected");
    }
    (
        480,
        "Temporarily Unavailable",
        Disposition::NoAnswer,
        "no answer",
    )
}

fn disposition_for(code: u16) -> Disposition {
    match code {
        486 | 600 | 603 => Disposition::Busy,
        408 | 480 => Disposition::NoAnswer,
        487 => Disposition::Cancelled,
        _ => Disposition::Failed,
    }
}

/// RFC 3264 §6.1: the direction we answer to a phone's offered direction.
pub(crate) fn answer_direction(offer: Direction) -> Direction {
    match offer {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        Direction::Inactive => Direction::Inactive,
        Direction::SendRecv => Direction::SendRecv,
    }
}

fn strip_tag(n: &msg::NameAddr) -> String {
    let mut n = n.clone();
    n.params.retain(|(k, _)| !k.eq_ignore_ascii_case("tag"));
    n.to_string()
}

/// DTMF from SIP INFO: `application/dtmf-relay` (`Signal=5` / `Duration=160`) or
/// `application/dtmf` (`5`).
fn dtmf_from_info(req: &Message) -> Option<(char, Duration)> {
    let ct = req
        .headers
        .get(&HeaderName::ContentType)?
        .trim()
        .to_ascii_lowercase();
    let body = std::str::from_utf8(&req.body).ok()?;
    let valid = |c: char| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D');
    if ct.starts_with("application/dtmf-relay") {
        let mut digit = None;
        let mut dur = 160u64;
        for line in body.lines() {
            let (k, v) = line.split_once('=')?;
            match k.trim().to_ascii_lowercase().as_str() {
                "signal" => digit = v.trim().chars().next().map(|c| c.to_ascii_uppercase()),
                "duration" => dur = v.trim().parse().unwrap_or(160),
                _ => {}
            }
        }
        let d = digit.filter(|c| valid(*c))?;
        return Some((d, Duration::from_millis(dur.clamp(40, 2000))));
    }
    if ct.starts_with("application/dtmf") {
        let d = body
            .trim()
            .chars()
            .next()
            .map(|c| c.to_ascii_uppercase())
            .filter(|c| valid(*c))?;
        return Some((d, Duration::from_millis(160)));
    }
    None
}

/// Small builder helper on messages.
pub(crate) trait WithHeader {
    /// Appends a header.
    fn with_header(self, name: HeaderName, value: &str) -> Self;
}

impl WithHeader for Message {
    fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        self.headers.push(name, value.to_owned());
        self
    }
}

#[allow(dead_code)]
fn _uri_used(_: Uri) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_dtmf_bodies_are_understood() {
        let mk = |ct: &str, body: &str| {
            let mut m = Message {
                start: StartLine::Response {
                    code: 200,
                    reason: "OK".into(),
                },
                headers: msg::Headers(Vec::new()),
                body: Bytes::from(body.to_owned()),
            };
            m.headers.push(HeaderName::ContentType, ct);
            m
        };
        assert_eq!(
            dtmf_from_info(&mk(
                "application/dtmf-relay",
                "Signal=5\r\nDuration=250\r\n"
            )),
            Some(('5', Duration::from_millis(250)))
        );
        assert_eq!(
            dtmf_from_info(&mk("application/dtmf-relay", "Signal= #\nDuration=100")),
            Some(('#', Duration::from_millis(100)))
        );
        assert_eq!(
            dtmf_from_info(&mk("application/dtmf", "7")),
            Some(('7', Duration::from_millis(160)))
        );
        assert_eq!(dtmf_from_info(&mk("application/dtmf", "x")), None);
        assert_eq!(dtmf_from_info(&mk("text/plain", "5")), None);
    }

    #[test]
    fn busy_beats_no_answer_and_specific_4xx_beats_480() {
        assert_eq!(best_failure(&[480, 486]).0, 486);
        assert_eq!(best_failure(&[480, 408]).0, 480);
        assert_eq!(best_failure(&[404, 480]).0, 404);
        assert_eq!(best_failure(&[603]).0, 603);
    }
}
