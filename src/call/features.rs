//! Desk-phone call features on top of the B2BUA: transfers (RFC 3515 REFER, RFC 3891
//! Replaces, RFC 3420 sipfrag progress), call forwarding, do-not-disturb, call waiting, and
//! call pickup, with the feature codes that toggle them.
//!
//! Contract: no IO, no clock (time arrives as `now`).
//!
//! Transfers keep the call object, so the whole journey is one CDR (with every leg, and the
//! transfer in `history`):
//! * **Blind** (`Refer-To: <sip:1003@pbx>`): Zvon answers 202, NOTIFYs `100 Trying`, plays music
//!   on hold to the kept party and rings the target for the transferor's side; the first 2xx
//!   wins, the transferor gets `NOTIFY 200 OK` and a BYE, and the media session's leg is
//!   re-pointed. If the target fails, the transferor is told (NOTIFY with the failure) and keeps
//!   the call; if it has already hung up, the kept party is hung up too.
//! * **Attended** (`Refer-To: <sip:1003@pbx?Replaces=...>`): the Replaces dialog is the
//!   transferor's other call; the party on its far side is moved into this call with a
//!   re-INVITE that points its media at this call's port, and both of the transferor's legs
//!   get a BYE. The other call's CDR shares this call's `linkedid`.

use std::time::Duration;

use bytes::Bytes;

use crate::call::b2bua::{
    BranchState, CallState, LegRef, ReqKind, Transfer, WithHeader, parse_sdp,
};
use crate::core::{Output, Pbx, TxnKind};
use crate::media::{Codec, Direction, MediaCommand, Side};
use crate::sdp;
use crate::sip::msg::{self, HeaderName, Message, Method};
use crate::sip::registrar::Flow;
use crate::sip::txn::{ClientInvite, Reliability, TxnKey};
use crate::store::Disposition;
use crate::time::Now;

/// `%xx` unescaping for header parameters carried in a URI (RFC 3261 §19.1.1).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a Replaces value (RFC 3891 §6.1): Call-ID, to-tag, from-tag.
fn parse_replaces(v: &str) -> Option<(String, String, String)> {
    let v = unescape(v);
    let mut parts = v.split(';');
    let call_id = parts.next()?.trim().to_owned();
    let (mut to, mut from) = (String::new(), String::new());
    for p in parts {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "to-tag" => to = val.trim().to_owned(),
            "from-tag" => from = val.trim().to_owned(),
            _ => {}
        }
    }
    (!call_id.is_empty()).then_some((call_id, to, from))
}

/// DND and forwarding of one extension: from the config, changed by feature codes, and
/// persisted so a restart keeps what the phone set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtState {
    /// Do-not-disturb: callers get busy (or the busy forward).
    pub dnd: bool,
    /// Forward every call.
    pub forward_always: Option<String>,
    /// Forward when busy or in DND.
    pub forward_busy: Option<String>,
    /// Forward when unanswered or not registered.
    pub forward_noanswer: Option<String>,
}

/// Which forward applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    /// Busy or DND.
    Busy,
    /// Rang out, or nothing registered.
    NoAnswer,
}

/// A routing refusal: status, reason phrase, CDR disposition, cause.
pub(crate) type Refusal = (u16, &'static str, Disposition, &'static str);

/// Forwards are followed this many times at most (a loop of forwards ends in busy).
const MAX_FORWARDS: usize = 5;

/// What a dialled feature code did.
#[derive(Debug)]
pub(crate) enum FeatureResult {
    /// Not a feature code: route the call.
    No,
    /// Handled and answered (pickup).
    Done,
    /// Applied: answer and say these prompts, then hang up.
    Confirm(Vec<String>),
}

impl Pbx {
    /// Restores feature state saved by an earlier run (it wins over the config's start values).
    pub fn restore_ext_state(&mut self, records: Vec<crate::store::ExtStateRecord>) {
        for r in records {
            if let Some(st) = self.ext_state.get_mut(&r.ext) {
                *st = ExtState {
                    dnd: r.dnd,
                    forward_always: r.forward_always,
                    forward_busy: r.forward_busy,
                    forward_noanswer: r.forward_noanswer,
                };
            }
        }
    }

    fn reachable(&self, ext: &str) -> Vec<(String, Flow)> {
        self.registrar
            .bindings(ext)
            .iter()
            .filter(|b| b.reachable)
            .map(|b| (b.uri.clone(), b.flow))
            .collect()
    }

    fn forward_target(&self, from: &str, kind: Forward) -> Option<String> {
        let st = self.ext_state.get(from)?;
        let t = match kind {
            Forward::Busy => st.forward_busy.clone(),
            Forward::NoAnswer => st.forward_noanswer.clone(),
        }?;
        if self.s.extensions.contains_key(&t) {
            Some(t)
        } else {
            tracing::warn!(ext = %from, target = %t, "forward target is not an extension; ignored");
            None
        }
    }

    /// Where a call to `dialed` goes: the extension that rings after unconditional forwards,
    /// DND, call waiting and unavailability, and its reachable contacts.
    pub(crate) fn route(
        &self,
        dialed: &str,
        history: &mut Vec<String>,
    ) -> Result<(String, Vec<(String, Flow)>), Refusal> {
        if !self.s.extensions.contains_key(dialed) {
            return Err((404, "Not Found", Disposition::Failed, "no such number"));
        }
        let mut target = dialed.to_owned();
        for _ in 0..MAX_FORWARDS {
            let Some(f) = self
                .ext_state
                .get(&target)
                .and_then(|s| s.forward_always.clone())
            else {
                break;
            };
            if !self.s.extensions.contains_key(&f) || f == target {
                tracing::warn!(ext = %target, to = %f, "forward target is not an extension; ignored");
                break;
            }
            history.push(format!("forward:always:{target}>{f}"));
            target = f;
        }
        let st = self.ext_state.get(&target).cloned().unwrap_or_default();
        let waiting = self
            .s
            .extensions
            .get(&target)
            .is_none_or(|e| e.call_waiting);
        let busy = st.dnd || (!waiting && self.calls.busy_with(&target) > 0);
        if busy {
            match self
                .forward_target(&target, Forward::Busy)
                .filter(|f| !self.reachable(f).is_empty())
            {
                Some(f) => {
                    history.push(format!("forward:busy:{target}>{f}"));
                    target = f;
                }
                // A mailbox takes the call (the caller gets voicemail instead of busy).
                None if self.has_mailbox(&target) => {
                    history.push(format!("{}:{target}", if st.dnd { "dnd" } else { "busy" }));
                    return Ok((target, Vec::new()));
                }
                None if st.dnd => {
                    return Err((486, "Busy Here", Disposition::Busy, "do not disturb"));
                }
                None => return Err((486, "Busy Here", Disposition::Busy, "busy")),
            }
        }
        let mut contacts = self.reachable(&target);
        if contacts.is_empty() {
            match self.forward_target(&target, Forward::NoAnswer) {
                Some(f) if !self.reachable(&f).is_empty() => {
                    history.push(format!("forward:unavailable:{target}>{f}"));
                    contacts = self.reachable(&f);
                    target = f;
                }
                // A mailbox takes the call instead of 480.
                _ if self.has_mailbox(&target) => {
                    history.push(format!("unavailable:{target}"));
                    return Ok((target, Vec::new()));
                }
                _ => {
                    return Err((
                        480,
                        "Temporarily Unavailable",
                        Disposition::NoAnswer,
                        "not registered",
                    ));
                }
            }
        }
        Ok((target, contacts))
    }

    /// Rings the callee's busy or no-answer forward in the same call (same CDR journey).
    /// Returns false when no forward applies.
    pub(crate) fn forward_on(&mut self, now: Now, id: u64, kind: Forward) -> bool {
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        if call.state != CallState::Proceeding || call.history.len() > 2 * MAX_FORWARDS {
            return false;
        }
        let from = call.callee.clone();
        let Some(to) = self.forward_target(&from, kind) else {
            return false;
        };
        let targets = self.reachable(&to);
        if targets.is_empty() || to == call.caller {
            return false;
        }
        let pending: Vec<usize> = (0..call.branches.len()).collect();
        for j in pending {
            self.cancel_branch(now, id, j);
        }
        let mut call = self.calls.calls.remove(&id).expect("call exists");
        let label = if kind == Forward::Busy {
            "busy"
        } else {
            "noanswer"
        };
        call.history.push(format!("forward:{label}:{from}>{to}"));
        tracing::info!(call = %call.uniqueid, from = %from, to = %to, "forwarding ({label})");
        call.callee = to.clone();
        call.no_answer_at = Some(now.mono + self.no_answer);
        let codecs = call.b_codecs.clone();
        let mut txns = Vec::new();
        for (uri, flow) in targets {
            let b = self.new_branch(now, &mut call, id, &uri, flow, &codecs, &to, Side::B);
            self.calls.dialogs.insert(
                b.leg.dialog.call_id.clone(),
                (id, LegRef::Branch(call.branches.len())),
            );
            txns.push(b.txn);
            call.branches.push(b);
        }
        self.calls.calls.insert(id, call);
        for t in txns {
            self.pump(now, t);
        }
        self.arm_call(id);
        true
    }

    /// A CDR for a call refused before it rang anyone.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reject_cdr(
        &mut self,
        now: Now,
        req: &Message,
        caller: &str,
        dialed: &str,
        code: u16,
        disp: Disposition,
        cause: &str,
        history: &[String],
    ) {
        let uniqueid = format!("{:016x}", rand::Rng::random::<u64>(&mut self.rng));
        let caller_name = req.from().ok().and_then(|f| f.display.clone());
        let rec = crate::store::CdrRecord {
            uniqueid: uniqueid.clone(),
            linkedid: uniqueid,
            start: now.wall.secs(),
            answer: None,
            end: now.wall.secs(),
            caller: caller.to_owned(),
            caller_name,
            dialed: dialed.to_owned(),
            answered_by: None,
            disposition: disp,
            duration: 0,
            billsec: 0,
            hangup_cause: cause.to_owned(),
            hangup_by: "system".into(),
            sip_code: Some(code),
            codec_a: None,
            codec_b: None,
            history: history.join(";"),
            legs: Vec::new(),
        };
        self.out
            .push_back(Output::Store(crate::store::StoreCommand::Cdr(Box::new(
                rec,
            ))));
    }

    fn save_ext_state(&mut self, ext: &str) {
        if let Some(st) = self.ext_state.get(ext) {
            let rec = crate::store::ExtStateRecord {
                ext: ext.to_owned(),
                dnd: st.dnd,
                forward_always: st.forward_always.clone(),
                forward_busy: st.forward_busy.clone(),
                forward_noanswer: st.forward_noanswer.clone(),
            };
            self.out
                .push_back(Output::Store(crate::store::StoreCommand::PutExtState(rec)));
        }
    }

    /// Handles a dialled feature code. Returns true if `dialed` was one (and was answered).
    ///
    /// Until voice prompts exist, the confirmation is the final response's reason phrase
    /// (desk phones show it): `480 Do Not Disturb On`, `480 Forward Set 1003`, …
    pub(crate) fn feature_code(
        &mut self,
        now: Now,
        txn: u64,
        d: &crate::core::Datagram,
        req: &Message,
        caller: &str,
        dialed: &str,
    ) -> FeatureResult {
        let f = self.features.clone();
        let pickup_directed = dialed
            .strip_prefix(f.pickup_directed.as_str())
            .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
        let picked = |done: bool| {
            if done {
                FeatureResult::Done
            } else {
                FeatureResult::No
            }
        };
        if dialed == f.pickup {
            return picked(self.pickup(now, txn, d, req, caller, None));
        }
        if let Some(target) = pickup_directed {
            let target = target.to_owned();
            return picked(self.pickup(now, txn, d, req, caller, Some(&target)));
        }
        let with_number = |code: &str| dialed.strip_prefix(code).map(str::to_owned);
        let st = self.ext_state.entry(caller.to_owned()).or_default();
        let set = |n: &str| {
            let mut p = vec!["forward-set".to_owned()];
            p.extend(
                crate::ivr::say::say_digits("en", n)
                    .into_iter()
                    .map(String::from),
            );
            p
        };
        let (reason, prompts): (String, Vec<String>) = if dialed == f.dnd_on {
            st.dnd = true;
            ("Do Not Disturb On".into(), vec!["dnd-on".into()])
        } else if dialed == f.dnd_off {
            st.dnd = false;
            ("Do Not Disturb Off".into(), vec!["dnd-off".into()])
        } else if dialed == f.forward_always_off {
            st.forward_always = None;
            ("Forward Cleared".into(), vec!["forward-cleared".into()])
        } else if dialed == f.forward_busy_off {
            st.forward_busy = None;
            (
                "Busy Forward Cleared".into(),
                vec!["forward-cleared".into()],
            )
        } else if dialed == f.forward_noanswer_off {
            st.forward_noanswer = None;
            (
                "No-Answer Forward Cleared".into(),
                vec!["forward-cleared".into()],
            )
        } else if let Some(n) = with_number(&f.forward_always_on).filter(|n| !n.is_empty()) {
            st.forward_always = Some(n.clone());
            (format!("Forward Set {n}"), set(&n))
        } else if let Some(n) = with_number(&f.forward_busy_on).filter(|n| !n.is_empty()) {
            st.forward_busy = Some(n.clone());
            (format!("Busy Forward Set {n}"), set(&n))
        } else if let Some(n) = with_number(&f.forward_noanswer_on).filter(|n| !n.is_empty()) {
            st.forward_noanswer = Some(n.clone());
            (format!("No-Answer Forward Set {n}"), set(&n))
        } else if let Some(prompts) = self.agent_feature(now, caller, dialed) {
            return FeatureResult::Confirm(prompts);
        } else {
            return FeatureResult::No;
        };
        tracing::info!(ext = %caller, code = %dialed, "feature: {reason}");
        self.save_ext_state(caller);
        // The phone hears the confirmation: Zvon answers, says it, and hangs up.
        FeatureResult::Confirm(prompts)
    }

    /// Call pickup (`*8` group, `**1002` directed): the ringing call is answered by the
    /// dialling phone, as if it had been one of the call's branches.
    fn pickup(
        &mut self,
        now: Now,
        txn: u64,
        d: &crate::core::Datagram,
        req: &Message,
        caller: &str,
        target: Option<&str>,
    ) -> bool {
        let group = self
            .s
            .extensions
            .get(caller)
            .and_then(|e| e.pickup_group.clone());
        let found = self.calls.calls.iter().find(|(_, c)| {
            c.state == CallState::Proceeding
                && c.winner.is_none()
                && c.transfer.is_none()
                && c.caller != caller
                && c.callee != caller
                && match target {
                    Some(t) => c.callee == t,
                    None => {
                        group.is_some()
                            && self
                                .s
                                .extensions
                                .get(&c.callee)
                                .and_then(|e| e.pickup_group.as_ref())
                                == group.as_ref()
                    }
                }
        });
        let Some((&id, _)) = found else {
            tracing::info!(ext = %caller, "pickup: no ringing call");
            let rsp = self.response(req, 480, "No Call To Pick Up");
            self.reply(now, txn, rsp);
            return true;
        };
        let Some(x_sdp) = parse_sdp(req) else {
            let rsp = self.response(req, 488, "Not Acceptable Here");
            self.reply(now, txn, rsp);
            return true;
        };
        let Some(offer) = sdp::audio_offer(&x_sdp) else {
            let rsp = self.response(req, 488, "Not Acceptable Here");
            self.reply(now, txn, rsp);
            return true;
        };
        let codecs = self.codecs.clone();
        let tag = self.tag();
        let mut call = self.calls.calls.remove(&id).expect("found");
        // Prefer the caller's codec so the legs can relay.
        let a_codec = call.a_offer.formats.first().map(|f| f.codec);
        let fmt = a_codec
            .and_then(|c| offer.formats.iter().find(|f| f.codec == c).copied())
            .or_else(|| sdp::choose(&offer, &codecs));
        let Some(fmt) = fmt else {
            self.calls.calls.insert(id, call);
            let rsp = self.response(req, 488, "Not Acceptable Here");
            self.reply(now, txn, rsp);
            return true;
        };
        let media_ip = call.a.media_ip;
        let dialog = crate::call::Dialog::uas(
            req,
            Flow {
                transport: d.transport,
                remote: d.remote,
                local: d.local,
            },
            &tag,
            format!(
                "sip:{}@{};transport={}",
                call.caller,
                d.local,
                d.transport.as_str()
            ),
            caller,
        );
        let origin = sdp::Origin::new(u64::from(rand::Rng::random::<u32>(&mut self.rng)), media_ip);
        let answer = sdp::build_answer(
            &origin,
            &x_sdp,
            offer.index,
            &fmt,
            media_ip,
            call.b_port,
            crate::call::b2bua::answer_direction(offer.direction),
        );
        let leg = crate::call::b2bua::Leg {
            dialog,
            format: Some(fmt),
            origin,
            port: call.b_port,
            media_ip,
            remote_media: offer.remote,
            direction: offer.direction,
            pending_2xx: None,
            session_expires: None,
        };
        let idx = call.branches.len();
        call.branches.push(crate::call::b2bua::Branch {
            leg,
            txn,
            ext: caller.to_owned(),
            invite: req.clone(),
            state: BranchState::Answered,
            ack: None,
            cancel_pending: false,
            provisional: true,
            start: now.wall.secs(),
            answer: Some(now.wall.secs()),
            side: Side::B,
            moved: false,
            trunk: None,
            auth_tries: 0,
        });
        self.calls.dialogs.insert(
            req.call_id().unwrap_or("").to_owned(),
            (id, LegRef::Branch(idx)),
        );
        call.winner = Some(idx);
        call.no_answer_at = None;
        call.history
            .push(format!("pickup:{caller}<{}", call.callee));
        tracing::info!(call = %call.uniqueid, by = %caller, ringing = %call.callee, "picked up");
        call.callee = caller.to_owned();
        call.answered_by = Some(caller.to_owned());
        call.answer_wall = Some(now.wall.secs());
        call.answer_mono = Some(now.mono);
        call.disposition = Disposition::Answered;
        let others: Vec<usize> = (0..idx).collect();
        self.calls.calls.insert(id, call);
        for j in others {
            self.cancel_branch(now, id, j);
        }
        // The picking-up phone gets its 200 (retransmitted until its ACK), the caller too.
        let contact = format!("sip:pickup@{};transport={}", d.local, d.transport.as_str());
        let mut ok = self.dialog_response(req, 200, "OK", &tag, Some(&contact));
        ok.headers.push(HeaderName::Allow, crate::core::ALLOW);
        ok.headers.push(HeaderName::ContentType, "application/sdp");
        ok.body = Bytes::from(answer.to_string());
        let bytes = ok.to_bytes();
        if let Some(t) = self.txns.get_mut(&txn) {
            t.send_response(now.mono, 200, bytes.clone());
        }
        self.pump(now, txn);
        let t1 = self.s.timers.t1;
        if let Some(c) = self.calls.calls.get_mut(&id) {
            let cseq = req.cseq().map(|c| c.seq).unwrap_or(1);
            c.branches[idx]
                .leg
                .set_pending_2xx(bytes, cseq, now.mono, t1);
        }
        self.answer_a(now, id, idx, 200, "OK");
        true
    }

    /// NOTIFY with a sipfrag body in the transferor's dialog (RFC 3515 §2.4.5).
    fn notify_refer(&mut self, now: Now, id: u64, r: LegRef, frag: &str, done: bool) {
        let branch = self.branch_id();
        let ua = self.s.user_agent.clone();
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let leg = call.leg_mut(r);
        let mut m = leg.dialog.request(Method::Notify, &branch, &ua);
        m.headers.push(HeaderName::Event, "refer");
        m.headers.push(
            HeaderName::SubscriptionState,
            if done {
                "terminated;reason=noresource"
            } else {
                "active;expires=60"
            },
        );
        m.headers
            .push(HeaderName::ContentType, "message/sipfrag;version=2.0");
        m.body = Bytes::from(format!("{frag}\r\n"));
        let flow = leg.dialog.flow;
        self.send_request(now, id, ReqKind::Notify, &branch, m, flow);
    }

    /// REFER inside a confirmed call.
    pub(crate) fn on_refer(&mut self, now: Now, txn: u64, id: u64, r: LegRef, req: &Message) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let tag = call.leg(r).dialog.local_tag.clone();
        let refer_to = req
            .headers
            .get(&HeaderName::ReferTo)
            .and_then(|v| msg::NameAddr::parse(v).ok());
        let busy = call.transfer.is_some() || call.state != CallState::Confirmed;
        let Some(to) = refer_to else {
            let rsp = self.dialog_response(req, 400, "Bad Request - Refer-To", &tag, None);
            return self.reply(now, txn, rsp);
        };
        if busy {
            // RFC 3515 §2.4.2 lets us refuse; another transfer is running.
            let rsp = self.dialog_response(req, 491, "Request Pending", &tag, None);
            return self.reply(now, txn, rsp);
        }
        let target = to.uri.user.clone().unwrap_or_default();
        let replaces = to
            .uri
            .headers
            .as_deref()
            .and_then(|h| {
                h.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    k.eq_ignore_ascii_case("Replaces").then(|| v.to_owned())
                })
            })
            .and_then(|v| parse_replaces(&v));
        let rsp = self.dialog_response(req, 202, "Accepted", &tag, None);
        self.reply(now, txn, rsp);
        self.notify_refer(now, id, r, "SIP/2.0 100 Trying", false);
        let call = self.calls.calls.get_mut(&id).expect("call exists");
        let kept = call.side_of(r).other();
        tracing::info!(call = %call.uniqueid, %target, attended = replaces.is_some(), "transfer requested");
        match replaces {
            Some((other_call_id, _, _)) => {
                self.attended_transfer(now, id, r, &target, &other_call_id)
            }
            None => {
                let session = call.session;
                self.out.push_back(Output::Media(MediaCommand::StartMoh {
                    session,
                    side: kept,
                }));
                self.blind_transfer(now, id, r, &target);
            }
        }
    }

    fn blind_transfer(&mut self, now: Now, id: u64, r: LegRef, target: &str) {
        let targets: Vec<(String, Flow)> = self
            .registrar
            .bindings(target)
            .iter()
            .filter(|b| b.reachable)
            .map(|b| (b.uri.clone(), b.flow))
            .collect();
        if !self.s.extensions.contains_key(target) || targets.is_empty() {
            let frag = if self.s.extensions.contains_key(target) {
                "SIP/2.0 480 Temporarily Unavailable"
            } else {
                "SIP/2.0 404 Not Found"
            };
            self.notify_refer(now, id, r, frag, true);
            self.stop_kept_moh(id, r);
            return;
        }
        let codecs = self.codecs.clone();
        let mut call = self.calls.calls.remove(&id).expect("call exists");
        let side = call.side_of(r);
        // Offer the kept party's codec first, so the new leg can relay.
        let mut order: Vec<Codec> = call
            .peer_of(r)
            .and_then(|p| call.leg(p).format)
            .map(|f| vec![f.codec])
            .unwrap_or_default();
        for c in codecs {
            if !order.contains(&c) {
                order.push(c);
            }
        }
        let mut idxs = Vec::new();
        for (uri, flow) in targets {
            let b = self.new_branch(now, &mut call, id, &uri, flow, &order, target, side);
            idxs.push(call.branches.len());
            self.calls.dialogs.insert(
                b.leg.dialog.call_id.clone(),
                (id, LegRef::Branch(call.branches.len())),
            );
            call.branches.push(b);
        }
        call.transfer = Some(Transfer {
            transferor: r,
            branches: idxs.clone(),
            target: target.to_owned(),
            attended: false,
            transferor_gone: false,
        });
        call.no_answer_at = Some(now.mono + self.no_answer);
        let txns: Vec<u64> = idxs.iter().map(|i| call.branches[*i].txn).collect();
        self.calls.calls.insert(id, call);
        for t in txns {
            self.pump(now, t);
        }
        self.arm_call(id);
    }

    fn attended_transfer(
        &mut self,
        now: Now,
        id: u64,
        r: LegRef,
        target: &str,
        other_call_id: &str,
    ) {
        let found = self.calls.dialogs.get(other_call_id).copied();
        let Some((id2, r2)) = found.filter(|(c, _)| *c != id) else {
            self.notify_refer(
                now,
                id,
                r,
                "SIP/2.0 481 Call/Transaction Does Not Exist",
                true,
            );
            return;
        };
        let Some(call2) = self.calls.calls.get(&id2) else {
            return;
        };
        let Some(far) = call2
            .peer_of(r2)
            .filter(|_| call2.state == CallState::Confirmed)
        else {
            self.notify_refer(
                now,
                id,
                r,
                "SIP/2.0 481 Call/Transaction Does Not Exist",
                true,
            );
            return;
        };
        // Move the far party's leg (its dialog with Zvon) into this call, on the
        // transferor's side, and re-INVITE it towards this call's port.
        let mut moved = call2.leg(far).clone();
        let far_ext = match far {
            LegRef::A => call2.caller.clone(),
            LegRef::Branch(i) => call2.branches[i].ext.clone(),
        };
        let linked = self
            .calls
            .calls
            .get(&id)
            .map(|c| c.linkedid.clone())
            .unwrap_or_default();
        let session2 = call2.session;
        // Call 2 ends without touching the moved dialog: BYE the transferor there, close media.
        if let Some(c2) = self.calls.calls.get_mut(&id2) {
            c2.linkedid = linked;
            c2.hangup_cause = "transferred".into();
            c2.hangup_by = "caller".into();
            c2.history.push(format!("transfer:attended:to-call:{id}"));
            c2.transfer = None;
        }
        self.send_bye(now, id2, r2);
        // Forget the moved dialog in call 2 (a later BYE from that party belongs to call 1).
        if let Some(c2) = self.calls.calls.get_mut(&id2) {
            c2.leg_mut(far).pending_2xx = None;
            match far {
                LegRef::A => c2.a_branch = None,
                LegRef::Branch(_) => {}
            }
        }
        let Some(mut call) = self.calls.calls.remove(&id) else {
            return;
        };
        let side = call.side_of(r);
        moved.port = call.port_of(side);
        moved.origin.bump();
        let branch_id = self.branch_id();
        let ua = self.s.user_agent.clone();
        let mut inv = moved.dialog.request(Method::Invite, &branch_id, &ua);
        inv.headers
            .push(HeaderName::Contact, format!("<{}>", moved.dialog.contact));
        inv.headers.push(HeaderName::Allow, crate::core::ALLOW);
        let mut order: Vec<Codec> = moved.format.map(|f| vec![f.codec]).unwrap_or_default();
        if let Some(k) = call.peer_of(r).and_then(|p| call.leg(p).format) {
            if !order.contains(&k.codec) {
                order.push(k.codec);
            }
        }
        for c in self.codecs.clone() {
            if !order.contains(&c) {
                order.push(c);
            }
        }
        let offer = sdp::build_offer(
            &moved.origin,
            moved.media_ip,
            moved.port,
            &order,
            true,
            Direction::SendRecv,
        );
        inv.headers.push(HeaderName::ContentType, "application/sdp");
        inv.body = Bytes::from(offer.to_string());
        let flow = moved.dialog.flow;
        let rel = if flow.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        };
        let idx = call.branches.len();
        let txn = ClientInvite::new(now.mono, inv.to_bytes(), rel, self.s.timers);
        let key = TxnKey::client(&branch_id, "INVITE");
        let tid = self.add_client_txn(
            key,
            TxnKind::Invite {
                txn,
                call: id,
                branch: idx,
            },
            flow,
        );
        self.calls
            .dialogs
            .insert(moved.dialog.call_id.clone(), (id, LegRef::Branch(idx)));
        call.branches.push(crate::call::b2bua::Branch {
            leg: moved,
            txn: tid,
            ext: far_ext,
            invite: inv,
            state: BranchState::Trying,
            ack: None,
            cancel_pending: false,
            provisional: false,
            start: now.wall.secs(),
            answer: None,
            side,
            moved: true,
            trunk: None,
            auth_tries: 0,
        });
        call.transfer = Some(Transfer {
            transferor: r,
            branches: vec![idx],
            target: target.to_owned(),
            attended: true,
            transferor_gone: false,
        });
        self.calls.calls.insert(id, call);
        self.pump(now, tid);
        // Call 2's media stops now; its CDR follows the final statistics.
        if let Some(c2) = self.calls.calls.get_mut(&id2) {
            if c2.state != CallState::Ending {
                let _ = session2;
            }
        }
        self.end_call(now, id2);
        self.arm_call(id);
    }

    fn stop_kept_moh(&mut self, id: u64, r: LegRef) {
        if let Some(call) = self.calls.calls.get(&id) {
            let session = call.session;
            let side = call.side_of(r).other();
            self.out
                .push_back(Output::Media(MediaCommand::StopMoh { session, side }));
        }
    }

    /// A response on a transfer branch (a new target or the moved leg's re-INVITE).
    pub(crate) fn on_transfer_response(
        &mut self,
        now: Now,
        id: u64,
        i: usize,
        rsp: &Message,
        code: u16,
    ) {
        if !(200..300).contains(&code) {
            if code >= 300 {
                self.transfer_branch_failed(now, id, i, code);
            } else if let Some(c) = self.calls.calls.get_mut(&id) {
                c.branches[i].provisional = true;
                if c.branches[i].cancel_pending {
                    c.branches[i].cancel_pending = false;
                    self.send_cancel(now, id, i);
                }
            }
            return;
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let to_tag = rsp
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default();
        let cseq = rsp.cseq().map(|c| c.seq).unwrap_or(1);
        let b = &mut call.branches[i];
        if b.state == BranchState::Answered {
            if let Some(ack) = b.ack.clone() {
                let f = b.leg.dialog.flow;
                self.transmit(f, ack);
            }
            return;
        }
        b.state = BranchState::Answered;
        b.answer = Some(now.wall.secs());
        b.leg.dialog.remote_tag = to_tag;
        if !b.moved {
            b.leg.dialog.learn(rsp, true);
        }
        let ack_branch = format!("z9hG4bK{:016x}", rand::Rng::random::<u64>(&mut self.rng));
        let call = self.calls.calls.get_mut(&id).expect("call exists");
        let b = &mut call.branches[i];
        let ack = b
            .leg
            .dialog
            .request_with_cseq(Method::Ack, cseq, &ack_branch, &self.s.user_agent)
            .to_bytes();
        b.ack = Some(ack.clone());
        let flow = b.leg.dialog.flow;
        self.transmit(flow, ack);
        let call = self.calls.calls.get_mut(&id).expect("call exists");
        let Some(t) = call.transfer.take() else {
            return;
        };
        let answer = parse_sdp(rsp).and_then(|s| sdp::answer_format(&s));
        let b = &mut call.branches[i];
        if let Some((fmt, remote, dir)) = answer {
            b.leg.format = Some(fmt);
            b.leg.remote_media = remote;
            b.leg.direction = dir;
        }
        let side = b.side;
        let ext = b.ext.clone();
        let media = b.leg.media();
        match side {
            Side::A => call.a_branch = Some(i),
            // `answered_by` keeps who answered first; the transfer is in `history`.
            Side::B => call.winner = Some(i),
        }
        call.no_answer_at = None;
        call.history.push(format!(
            "transfer:{}:{}",
            if t.attended { "attended" } else { "blind" },
            ext
        ));
        let session = call.session;
        let others: Vec<usize> = t.branches.iter().copied().filter(|j| *j != i).collect();
        tracing::info!(call = %call.uniqueid, to = %ext, "transfer completed");
        let agent_left = side == Side::B && call.queue.as_ref().is_some_and(|q| q.agent.is_some());
        if let Some(leg) = media {
            self.out
                .push_back(Output::Media(MediaCommand::Update { session, side, leg }));
        }
        self.out.push_back(Output::Media(MediaCommand::StopMoh {
            session,
            side: side.other(),
        }));
        for j in others {
            self.cancel_branch(now, id, j);
        }
        if !t.transferor_gone {
            self.notify_refer(now, id, t.transferor, "SIP/2.0 200 OK", true);
            self.send_bye(now, id, t.transferor);
        }
        if agent_left {
            self.queue_transferred(now, id, &ext, t.attended);
        }
        self.arm_call(id);
    }

    /// A transfer branch failed; when all have, the transfer fails.
    pub(crate) fn transfer_branch_failed(&mut self, now: Now, id: u64, i: usize, code: u16) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.branches[i].state = BranchState::Failed(code);
        let Some(t) = call.transfer.as_ref() else {
            return;
        };
        let all_failed = t
            .branches
            .iter()
            .all(|j| matches!(call.branches[*j].state, BranchState::Failed(_)));
        if !all_failed {
            return;
        }
        let t = call.transfer.take().expect("checked");
        call.no_answer_at = None;
        tracing::info!(call = %call.uniqueid, code, "transfer failed");
        call.history
            .push(format!("transfer-failed:{}:{code}", t.target));
        if t.transferor_gone {
            self.hangup(now, id, None, "transfer failed", "system");
        } else {
            let frag = format!("SIP/2.0 {code} {}", msg::default_reason(code));
            self.notify_refer(now, id, t.transferor, &frag, true);
            self.stop_kept_moh(id, t.transferor);
        }
    }

    /// The transfer target did not answer in time.
    pub(crate) fn transfer_timeout(&mut self, now: Now, id: u64) -> bool {
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        let Some(t) = call.transfer.as_ref() else {
            return false;
        };
        let branches = t.branches.clone();
        for j in &branches {
            self.cancel_branch(now, id, *j);
        }
        if let Some(j) = branches.last() {
            // Failing the last pending branch fails the transfer (480).
            for k in &branches {
                if let Some(c) = self.calls.calls.get_mut(&id) {
                    if !matches!(c.branches[*k].state, BranchState::Failed(_)) && k != j {
                        c.branches[*k].state = BranchState::Failed(480);
                    }
                }
            }
            self.transfer_branch_failed(now, id, *j, 480);
        }
        true
    }
}

#[allow(dead_code)]
fn _unused(_: Duration) {}

#[allow(dead_code)]
fn _with(m: Message) -> Message {
    m.with_header(HeaderName::Server, "x")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_values_are_unescaped_and_split() {
        assert_eq!(
            parse_replaces("abc%40host%3Bto-tag%3D12%3Bfrom-tag%3D34"),
            Some(("abc@host".into(), "12".into(), "34".into()))
        );
        assert_eq!(
            parse_replaces("x;from-tag=a;to-tag=b"),
            Some(("x".into(), "b".into(), "a".into()))
        );
        assert_eq!(parse_replaces(""), None);
        assert_eq!(unescape("%zz%4"), "%zz%4");
    }
}
