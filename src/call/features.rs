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

impl Pbx {
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
