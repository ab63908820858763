//! B2BUA world tests: scripted phones around the real engine, on a virtual clock.

use std::net::SocketAddr;
use std::time::Duration;

use crate::media::{Codec, LegStats, MediaCommand, MediaEvent, SessionId, Side};
use crate::sip::Transport;
use crate::sip::auth::{DigestParams, client_response};
use crate::sip::msg::{HeaderName, Message, Method, StartLine};
use crate::store::{CdrRecord, Disposition, StoreCommand};
use crate::testkit::world::{World, config};

pub(crate) const ALICE: &str = "192.0.2.10:5060";
pub(crate) const BOB1: &str = "192.0.2.21:5060";
const BOB2: &str = "192.0.2.22:5062";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn offer_sdp(ip: &str, port: u16, pts: &str, extra: &str) -> String {
    let mut s = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\n"
    );
    for pt in pts.split(' ') {
        let line = match pt {
            "0" => "a=rtpmap:0 PCMU/8000\r\n",
            "8" => "a=rtpmap:8 PCMA/8000\r\n",
            "9" => "a=rtpmap:9 G722/8000\r\n",
            "111" => "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n",
            "101" => "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
            _ => "",
        };
        s.push_str(line);
    }
    s.push_str(extra);
    s
}

pub(crate) fn register(w: &mut World, user: &str, from: &str, call_id: &str) {
    let reg = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:zvon.test SIP/2.0\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{call_id}{cseq}\n\
             Max-Forwards: 70\nFrom: <sip:{user}@zvon.test>;tag=r{call_id}\nTo: <sip:{user}@zvon.test>\n\
             Call-ID: {call_id}\nCSeq: {cseq} REGISTER\nContact: <sip:{user}@{from}>\nExpires: 3600\n\
             {auth}Content-Length: 0\n\n"
        )
    };
    let r = w.recv_any(addr(from), Transport::Udp, &reg(1, ""));
    let a = digest(
        &r[0].1,
        HeaderName::WwwAuthenticate,
        "Authorization",
        user,
        "REGISTER",
        "sip:zvon.test",
    );
    let r = w.recv_any(addr(from), Transport::Udp, &reg(2, &a));
    assert_eq!(r[0].1.status(), Some(200));
}

pub(crate) fn digest(
    ch: &Message,
    h: HeaderName,
    out: &str,
    user: &str,
    method: &str,
    uri: &str,
) -> String {
    let v = ch.headers.get(&h).unwrap();
    let nonce = v
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let p = DigestParams {
        username: user,
        realm: "zvon.test",
        nonce: &nonce,
        uri,
        response: "",
        algorithm: Some("MD5"),
        qop: Some("auth"),
        nc: Some("00000001"),
        cnonce: Some("abc"),
    };
    let r = client_response(&p, method, &format!("pw{user}"));
    format!(
        "{out}: Digest username=\"{user}\", realm=\"zvon.test\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{r}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\"\n"
    )
}

struct Caller {
    call_id: String,
    cseq: u32,
    to_tag: String,
    branch: String,
    sdp: String,
}

fn invite_text(c: &Caller, to: &str, auth: &str, extra: &str) -> String {
    format!(
        "INVITE sip:{to}@zvon.test SIP/2.0\nVia: SIP/2.0/UDP {ALICE};branch={}\nMax-Forwards: 70\n\
         From: \"Alice\" <sip:1001@zvon.test>;tag=alice\nTo: <sip:{to}@zvon.test>\nCall-ID: {}\n\
         CSeq: {} INVITE\nContact: <sip:1001@{ALICE}>\n{auth}{extra}Content-Type: application/sdp\n\
         Content-Length: {}\n\n{}",
        c.branch,
        c.call_id,
        c.cseq,
        c.sdp.len(),
        c.sdp
    )
}

/// Alice (1001) calls `to`: INVITE → 407 → INVITE with credentials. Returns what Zvon sent
/// after the authenticated INVITE.
fn call(w: &mut World, to: &str, sdp: String, extra: &str) -> (Caller, Vec<(SocketAddr, Message)>) {
    let mut c = Caller {
        call_id: "call-1".into(),
        cseq: 1,
        to_tag: String::new(),
        branch: "z9hG4bKa1".into(),
        sdp,
    };
    let r = w.recv_any(addr(ALICE), Transport::Udp, &invite_text(&c, to, "", extra));
    assert_eq!(r[0].1.status(), Some(407), "{:?}", r[0].1);
    let ack = format!(
        "ACK sip:{to}@zvon.test SIP/2.0\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKa1\nMax-Forwards: 70\n\
         From: \"Alice\" <sip:1001@zvon.test>;tag=alice\nTo: <sip:{to}@zvon.test>;tag={}\nCall-ID: call-1\n\
         CSeq: 1 ACK\nContent-Length: 0\n\n",
        r[0].1.to().unwrap().tag().unwrap()
    );
    w.recv_any(addr(ALICE), Transport::Udp, &ack);
    let auth = digest(
        &r[0].1,
        HeaderName::ProxyAuthenticate,
        "Proxy-Authorization",
        "1001",
        "INVITE",
        &format!("sip:{to}@zvon.test"),
    );
    c.cseq = 2;
    c.branch = "z9hG4bKa2".into();
    let out = w.recv_any(
        addr(ALICE),
        Transport::Udp,
        &invite_text(&c, to, &auth, extra),
    );
    (c, out)
}

/// `user`'s phone at `from` calls `to` (dialog `(tag, call_id)`): INVITE → 407 → INVITE with
/// credentials. Returns what Zvon sent after the authenticated INVITE.
pub(crate) fn call_from(
    w: &mut World,
    from: &str,
    user: &str,
    to: &str,
    sdp: &str,
    (tag, call_id): (&str, &str),
) -> Vec<(SocketAddr, Message)> {
    let inv = format!(
        "INVITE sip:{to}@zvon.test SIP/2.0\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{tag}1\nMax-Forwards: 70\n\
         From: <sip:{user}@zvon.test>;tag={tag}\nTo: <sip:{to}@zvon.test>\nCall-ID: {call_id}\nCSeq: 1 INVITE\n\
         Contact: <sip:{user}@{from}>\nContent-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
        sdp.len()
    );
    let r = w.recv_any(addr(from), Transport::Udp, &inv);
    let auth = digest(
        &r[0].1,
        HeaderName::ProxyAuthenticate,
        "Proxy-Authorization",
        user,
        "INVITE",
        &format!("sip:{to}@zvon.test"),
    );
    let inv2 = inv
        .replace(&format!("z9hG4bK{tag}1"), &format!("z9hG4bK{tag}2"))
        .replace(
            "CSeq: 1 INVITE",
            &format!("CSeq: 2 INVITE\n{}", auth.trim_end()),
        );
    w.recv_any(addr(from), Transport::Udp, &inv2)
}

pub(crate) fn to_alice(out: &[(SocketAddr, Message)]) -> Vec<&Message> {
    out.iter()
        .filter(|(a, _)| *a == addr(ALICE))
        .map(|(_, m)| m)
        .collect()
}

pub(crate) fn invites_to(out: &[(SocketAddr, Message)], who: &str) -> Vec<Message> {
    out.iter()
        .filter(|(a, m)| *a == addr(who) && m.method() == Some(&Method::Invite))
        .map(|(_, m)| m.clone())
        .collect()
}

/// A response from a callee phone to Zvon's INVITE (or other request).
pub(crate) fn respond(
    w: &mut World,
    from: &str,
    req: &Message,
    code: u16,
    tag: &str,
    sdp: Option<String>,
) -> Vec<(SocketAddr, Message)> {
    let mut rsp =
        crate::sip::msg::response_for(req, code, crate::sip::msg::default_reason(code), Some(tag));
    if let Some(s) = sdp {
        rsp.headers
            .push(HeaderName::Contact, format!("<sip:1002@{from}>"));
        rsp.headers.push(HeaderName::ContentType, "application/sdp");
        rsp.body = bytes::Bytes::from(s);
    }
    let text = String::from_utf8(rsp.to_bytes().to_vec()).unwrap();
    w.recv_any(addr(from), Transport::Udp, &text)
}

fn in_dialog(c: &mut Caller, method: &str, zvon_tag: &str, body: Option<(&str, &str)>) -> String {
    c.cseq += 1;
    let (ct, b) = body.unwrap_or(("", ""));
    let ct_line = if ct.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {ct}\n")
    };
    format!(
        "{method} sip:1002@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKd{}\nMax-Forwards: 70\n\
         From: \"Alice\" <sip:1001@zvon.test>;tag=alice\nTo: <sip:1002@zvon.test>;tag={zvon_tag}\nCall-ID: {}\n\
         CSeq: {} {method}\n{ct_line}Content-Length: {}\n\n{b}",
        c.cseq,
        c.call_id,
        c.cseq,
        b.len()
    )
}

fn ack_2xx(c: &Caller, zvon_tag: &str, cseq: u32) -> String {
    format!(
        "ACK sip:1002@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {ALICE};branch=z9hG4bKack{cseq}\nMax-Forwards: 70\n\
         From: \"Alice\" <sip:1001@zvon.test>;tag=alice\nTo: <sip:1002@zvon.test>;tag={zvon_tag}\nCall-ID: {}\n\
         CSeq: {cseq} ACK\nContent-Length: 0\n\n",
        c.call_id
    )
}

pub(crate) fn cdrs(w: &World) -> Vec<CdrRecord> {
    w.store
        .iter()
        .filter_map(|s| match s {
            StoreCommand::Cdr(c) => Some((**c).clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn world() -> World {
    let mut cfg = config(0, &[]);
    cfg.calls.no_answer = Duration::from_secs(20);
    let mut w = World::new(&cfg);
    register(&mut w, "1002", BOB1, "r1");
    register(&mut w, "1002", BOB2, "r2");
    w
}

pub(crate) fn session_of(w: &World) -> SessionId {
    w.media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { session, .. } => Some(*session),
            _ => None,
        })
        .expect("media opened")
}

/// Alice calls 1002 (two phones), Bob1 rings then answers; returns Alice's state, Zvon's
/// tag towards Alice, and Bob1's INVITE.
fn answered(w: &mut World) -> (Caller, String, Message) {
    let (mut c, out) = call(w, "1002", offer_sdp("192.0.2.10", 40000, "0 8 101", ""), "");
    assert_eq!(to_alice(&out)[0].status(), Some(100));
    let b1 = invites_to(&out, BOB1).remove(0);
    let b2 = invites_to(&out, BOB2).remove(0);
    let out = respond(w, BOB1, &b1, 180, "bob1", None);
    assert_eq!(to_alice(&out)[0].status(), Some(180));
    respond(w, BOB2, &b2, 180, "bob2", None);
    let out = respond(
        w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to Alice")
        .clone();
    let tag = ok.to().unwrap().tag().unwrap().to_owned();
    c.to_tag = tag.clone();
    let _ = w.recv_any(addr(ALICE), Transport::Udp, &ack_2xx(&c, &tag, 2));
    (c, tag, b1)
}

#[test]
fn call_forks_first_answer_wins_others_cancelled_and_cdr_is_answered() {
    let mut w = world();
    let (mut c, out) = call(
        &mut w,
        "1002",
        offer_sdp("192.0.2.10", 40000, "0 8 101", ""),
        "",
    );
    let a = to_alice(&out);
    assert_eq!(a[0].status(), Some(100));
    let b1 = invites_to(&out, BOB1);
    let b2 = invites_to(&out, BOB2);
    assert_eq!(
        (b1.len(), b2.len()),
        (1, 1),
        "one INVITE per registered phone"
    );
    let b1 = b1[0].clone();
    let b2 = b2[0].clone();
    // Zvon anchors media: its own address and port in the offer, PCMU first (the caller's).
    let body = std::str::from_utf8(&b1.body).unwrap();
    assert!(
        body.contains("c=IN IP4 127.0.0.1") && body.contains("m=audio "),
        "{body}"
    );
    assert!(body.contains("RTP/AVP 0"), "caller's codec first: {body}");
    assert_ne!(
        b1.call_id(),
        c.call_id.as_str().into(),
        "B leg is a new dialog"
    );
    let out = respond(&mut w, BOB1, &b1, 180, "bob1", None);
    assert_eq!(to_alice(&out)[0].status(), Some(180));
    respond(&mut w, BOB2, &b2, 180, "bob2", None);
    w.clock.advance(Duration::from_secs(4));
    let out = respond(
        &mut w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    // Bob1 gets its ACK, Bob2 a CANCEL, Alice a 200 with Zvon's SDP.
    let acks: Vec<_> = out
        .iter()
        .filter(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Ack))
        .collect();
    assert_eq!(acks.len(), 1);
    let cancels: Vec<_> = out
        .iter()
        .filter(|(a, m)| *a == addr(BOB2) && m.method() == Some(&Method::Cancel))
        .collect();
    assert_eq!(cancels.len(), 1);
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to Alice")
        .clone();
    let sdp = std::str::from_utf8(&ok.body).unwrap();
    assert!(
        sdp.contains("m=audio ") && sdp.contains("PCMU/8000") && !sdp.contains("PCMA"),
        "{sdp}"
    );
    let tag = ok.to().unwrap().tag().unwrap().to_owned();
    // Media: both legs PCMU → the worker can relay.
    let open = w.media.iter().find_map(|m| match m {
        MediaCommand::Open { a, b, .. } => Some((a.clone(), b.clone())),
        _ => None,
    });
    let (la, lb) = open.expect("Open");
    let lb = lb.expect("B leg known at answer");
    assert_eq!(
        (la.format.codec, lb.format.codec),
        (Codec::Pcmu, Codec::Pcmu)
    );
    assert_eq!(la.remote, Some(addr("192.0.2.10:40000")));
    assert_eq!(lb.remote, Some(addr("192.0.2.21:50000")));
    // Bob2 answers the CANCEL and its INVITE with 487.
    let cancel = cancels[0].1.clone();
    respond(&mut w, BOB2, &cancel, 200, "bob2", None);
    respond(&mut w, BOB2, &b2, 487, "bob2", None);
    w.recv_any(addr(ALICE), Transport::Udp, &ack_2xx(&c, &tag, 2));
    // 30 s of talk, then Alice hangs up.
    w.run_for(Duration::from_secs(30));
    let bye = in_dialog(&mut c, "BYE", &tag, None);
    let out = w.recv_any(addr(ALICE), Transport::Udp, &bye);
    assert_eq!(to_alice(&out)[0].status(), Some(200));
    let bye_b = out
        .iter()
        .find(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Bye))
        .expect("BYE to Bob1")
        .1
        .clone();
    assert_eq!(bye_b.to().unwrap().tag(), Some("bob1"));
    respond(&mut w, BOB1, &bye_b, 200, "bob1", None);
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Close { .. }))
    );
    let session = session_of(&w);
    let st = LegStats {
        packets: 1500,
        lost: 2,
        jitter_ms: 1.0,
        mos: 4.3,
        sent: 1500,
    };
    w.media_event(MediaEvent::Closed {
        session,
        stats: [st, st],
    });
    let cdr = cdrs(&w);
    assert_eq!(cdr.len(), 1);
    let cdr = &cdr[0];
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.billsec, 30);
    assert_eq!(cdr.duration, 34);
    assert_eq!(
        (
            cdr.caller.as_str(),
            cdr.dialed.as_str(),
            cdr.answered_by.as_deref()
        ),
        ("1001", "1002", Some("1002"))
    );
    assert_eq!(cdr.hangup_by, "caller");
    assert_eq!(cdr.codec_a.as_deref(), Some("PCMU"));
    assert_eq!(cdr.legs.len(), 3);
    assert_eq!(cdr.legs[0].packets, 1500);
    assert_eq!(cdr.legs[2].disposition, Disposition::Cancelled);
    assert_eq!(w.pbx.calls.len(), 0);
}

#[test]
fn callee_busy_gives_486_and_a_busy_cdr() {
    let mut w = World::new(&config(0, &[]));
    register(&mut w, "1002", BOB1, "r1");
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    let out = respond(&mut w, BOB1, &b1, 486, "bob1", None);
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Ack)),
        "non-2xx ACKed by the txn"
    );
    let a = to_alice(&out);
    assert_eq!(a[0].status(), Some(486));
    let cdr = cdrs(&w);
    assert_eq!(
        (cdr[0].disposition, cdr[0].sip_code),
        (Disposition::Busy, Some(486))
    );
}

#[test]
fn no_answer_times_out_with_480_and_cancels_the_phones() {
    let mut w = world();
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    let b2 = invites_to(&out, BOB2).remove(0);
    respond(&mut w, BOB1, &b1, 180, "bob1", None);
    respond(&mut w, BOB2, &b2, 180, "bob2", None);
    w.sent.clear();
    w.run_for(Duration::from_millis(19_900));
    assert!(
        !w.sent_messages()
            .iter()
            .any(|(_, m)| m.method() == Some(&Method::Cancel))
    );
    w.run_for(Duration::from_millis(200));
    let sent = w.sent_messages();
    let cancels = sent
        .iter()
        .filter(|(_, m)| m.method() == Some(&Method::Cancel))
        .count();
    assert_eq!(cancels, 2);
    assert!(
        sent.iter()
            .any(|(a, m)| *a == addr(ALICE) && m.status() == Some(480))
    );
    let cdr = cdrs(&w);
    assert_eq!(
        (cdr[0].disposition, cdr[0].duration),
        (Disposition::NoAnswer, 20)
    );
}

#[test]
fn caller_cancel_gets_200_and_487_and_cancels_branches() {
    let mut w = world();
    let (c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    respond(&mut w, BOB1, &b1, 180, "bob1", None);
    // Bob2 never sent a provisional: its CANCEL waits for one (RFC 3261 §9.1).
    let cancel = format!(
        "CANCEL sip:1002@zvon.test SIP/2.0\nVia: SIP/2.0/UDP {ALICE};branch={}\nMax-Forwards: 70\n\
         From: \"Alice\" <sip:1001@zvon.test>;tag=alice\nTo: <sip:1002@zvon.test>\nCall-ID: {}\n\
         CSeq: {} CANCEL\nContent-Length: 0\n\n",
        c.branch, c.call_id, c.cseq
    );
    let out = w.recv_any(addr(ALICE), Transport::Udp, &cancel);
    let codes: Vec<_> = to_alice(&out)
        .iter()
        .map(|m| (m.status(), m.cseq().unwrap().method.as_str().to_owned()))
        .collect();
    assert!(
        codes.contains(&(Some(200), "CANCEL".into()))
            && codes.contains(&(Some(487), "INVITE".into())),
        "{codes:?}"
    );
    assert_eq!(
        out.iter()
            .filter(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Cancel))
            .count(),
        1
    );
    assert_eq!(
        out.iter()
            .filter(|(a, m)| *a == addr(BOB2) && m.method() == Some(&Method::Cancel))
            .count(),
        0
    );
    let b2 = invites_to(&w.sent_messages(), BOB2);
    assert!(b2.is_empty());
    let cdr = cdrs(&w);
    assert_eq!(
        (cdr[0].disposition, cdr[0].hangup_by.as_str()),
        (Disposition::Cancelled, "caller")
    );
}

#[test]
fn unknown_number_is_404_and_unregistered_extension_480() {
    let mut w = World::new(&config(0, &[]));
    let (_c, out) = call(&mut w, "4711", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    assert_eq!(to_alice(&out).last().unwrap().status(), Some(404));
    let mut w = World::new(&config(0, &[]));
    let (_c, out) = call(&mut w, "1003", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    assert_eq!(to_alice(&out).last().unwrap().status(), Some(480));
}

#[test]
fn late_200_from_a_second_branch_is_acked_and_byed() {
    let mut w = world();
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    let b2 = invites_to(&out, BOB2).remove(0);
    respond(
        &mut w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0", "")),
    );
    let out = respond(
        &mut w,
        BOB2,
        &b2,
        200,
        "bob2",
        Some(offer_sdp("192.0.2.22", 50002, "0", "")),
    );
    let to_b2: Vec<_> = out
        .iter()
        .filter(|(a, _)| *a == addr(BOB2))
        .map(|(_, m)| m.method().cloned())
        .collect();
    assert_eq!(to_b2, vec![Some(Method::Ack), Some(Method::Bye)]);
}

#[test]
fn our_200_is_retransmitted_until_the_ack() {
    let mut w = world();
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    let out = respond(
        &mut w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0", "")),
    );
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap()
        .clone();
    w.sent.clear();
    w.run_for(Duration::from_millis(1600));
    let again = w
        .sent_messages()
        .into_iter()
        .filter(|(a, m)| *a == addr(ALICE) && m.status() == Some(200))
        .count();
    assert_eq!(again, 2, "at 0.5 s and 1.5 s");
    let tag = ok.to().unwrap().tag().unwrap().to_owned();
    let c = Caller {
        call_id: "call-1".into(),
        cseq: 2,
        to_tag: tag.clone(),
        branch: String::new(),
        sdp: String::new(),
    };
    w.recv_any(addr(ALICE), Transport::Udp, &ack_2xx(&c, &tag, 2));
    w.sent.clear();
    w.run_for(Duration::from_secs(10));
    assert!(
        w.sent_messages().iter().all(|(a, _)| *a != addr(ALICE)),
        "no retransmission after the ACK"
    );
}

#[test]
fn no_ack_ends_the_call_after_64_t1() {
    let mut w = world();
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    respond(
        &mut w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0", "")),
    );
    w.sent.clear();
    w.run_for(Duration::from_secs(33));
    let sent = w.sent_messages();
    assert!(
        sent.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Bye))
    );
}

#[test]
fn hold_answers_recvonly_and_plays_moh_to_the_other_side_then_unhold() {
    let mut w = world();
    let (mut c, tag, _) = answered(&mut w);
    w.media.clear();
    let hold = offer_sdp("192.0.2.10", 40000, "0 101", "a=sendonly\r\n");
    let re = in_dialog(&mut c, "INVITE", &tag, Some(("application/sdp", &hold)));
    let out = w.recv_any(addr(ALICE), Transport::Udp, &re);
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200")
        .clone();
    assert!(
        std::str::from_utf8(&ok.body)
            .unwrap()
            .contains("a=recvonly")
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StartMoh { side: Side::B, .. }))
    );
    assert!(
        !out.iter().any(|(a, _)| *a == addr(BOB1)),
        "the held phone gets no re-INVITE"
    );
    w.recv_any(addr(ALICE), Transport::Udp, &ack_2xx(&c, &tag, c.cseq));
    let unhold = offer_sdp("192.0.2.10", 40000, "0 101", "a=sendrecv\r\n");
    let re = in_dialog(&mut c, "INVITE", &tag, Some(("application/sdp", &unhold)));
    let out = w.recv_any(addr(ALICE), Transport::Udp, &re);
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200")
        .clone();
    assert!(
        std::str::from_utf8(&ok.body)
            .unwrap()
            .contains("a=sendrecv")
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopMoh { side: Side::B, .. }))
    );
}

#[test]
fn sip_info_dtmf_becomes_rfc4733_on_the_other_leg() {
    let mut w = world();
    let (mut c, tag, _) = answered(&mut w);
    let info = in_dialog(
        &mut c,
        "INFO",
        &tag,
        Some(("application/dtmf-relay", "Signal=7\r\nDuration=200\r\n")),
    );
    let out = w.recv_any(addr(ALICE), Transport::Udp, &info);
    assert_eq!(to_alice(&out)[0].status(), Some(200));
    assert!(w.media.iter().any(|m| matches!(
        m,
        MediaCommand::SendDtmf {
            side: Side::B,
            digit: '7',
            ..
        }
    )));
}

#[test]
fn rtp_timeout_hangs_up_both_legs_with_a_cdr() {
    let mut w = world();
    let (_c, _tag, _) = answered(&mut w);
    let session = session_of(&w);
    w.media_event(MediaEvent::RtpTimeout {
        session,
        side: Side::A,
    });
    let sent = w.sent_messages();
    let byes: Vec<_> = sent
        .iter()
        .filter(|(_, m)| m.method() == Some(&Method::Bye))
        .map(|(a, _)| *a)
        .collect();
    assert!(
        byes.contains(&addr(ALICE)) && byes.contains(&addr(BOB1)),
        "{byes:?}"
    );
    w.media_event(MediaEvent::Closed {
        session,
        stats: [LegStats::default(); 2],
    });
    let cdr = cdrs(&w);
    assert_eq!(
        (cdr[0].hangup_cause.as_str(), cdr[0].hangup_by.as_str()),
        ("media timeout", "system")
    );
}

#[test]
fn short_session_expires_gets_422_and_accepted_timer_is_echoed() {
    let mut w = world();
    let (_c, out) = call(
        &mut w,
        "1002",
        offer_sdp("192.0.2.10", 40000, "0", ""),
        "Session-Expires: 30\nSupported: timer\n",
    );
    assert_eq!(to_alice(&out).last().unwrap().status(), Some(422));
    let mut w = world();
    let (_c, out) = call(
        &mut w,
        "1002",
        offer_sdp("192.0.2.10", 40000, "0", ""),
        "Session-Expires: 1800;refresher=uac\nSupported: timer\n",
    );
    let b1 = invites_to(&out, BOB1).remove(0);
    let out = respond(
        &mut w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0", "")),
    );
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap()
        .clone();
    assert_eq!(
        ok.headers.get(&HeaderName::SessionExpires),
        Some("1800;refresher=uac")
    );
}

#[test]
fn transcoding_is_chosen_when_the_callee_speaks_another_codec() {
    let mut w = World::new(&config(0, &[]));
    register(&mut w, "1002", BOB1, "r1");
    let (_c, out) = call(
        &mut w,
        "1002",
        offer_sdp("192.0.2.10", 40000, "111 101", ""),
        "",
    );
    let b1 = invites_to(&out, BOB1).remove(0);
    let body = std::str::from_utf8(&b1.body).unwrap().to_owned();
    assert!(
        body.contains("opus/48000/2") && body.contains("PCMU/8000"),
        "{body}"
    );
    let out = respond(
        &mut w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap()
        .clone();
    assert!(
        std::str::from_utf8(&ok.body)
            .unwrap()
            .contains("opus/48000")
    );
    let (a, b) = w
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { a, b, .. } => Some((a.clone(), b.clone().unwrap())),
            _ => None,
        })
        .unwrap();
    assert_eq!((a.format.codec, b.format.codec), (Codec::Opus, Codec::Pcmu));
}

#[test]
fn shutdown_hangs_up_calls_and_writes_their_cdrs() {
    let mut w = world();
    let (_c, _tag, _) = answered(&mut w);
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    assert!(!w.pbx.calls_idle());
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    let cdr = cdrs(&w);
    assert_eq!((cdr.len(), cdr[0].hangup_cause.as_str()), (1, "shutdown"));
    assert!(w.pbx.calls_idle());
}

pub(crate) const CAROL: &str = "10.0.0.30:5060"; // 1003 may only register from 10.0.0.0/8

/// Bob1 (the callee) sends a request in its dialog with Zvon.
fn from_bob(
    b1_invite: &Message,
    method: &str,
    cseq: u32,
    extra: &str,
    body: Option<(&str, &str)>,
) -> String {
    let (ct, b) = body.unwrap_or(("", ""));
    let ct_line = if ct.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {ct}\n")
    };
    let zvon_tag = b1_invite.from().unwrap().tag().unwrap().to_owned();
    format!(
        "{method} sip:1001@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {BOB1};branch=z9hG4bKbob{cseq}\nMax-Forwards: 70\n\
         From: <sip:1002@zvon.test>;tag=bob1\nTo: <sip:1001@zvon.test>;tag={zvon_tag}\nCall-ID: {}\n\
         CSeq: {cseq} {method}\n{extra}{ct_line}Content-Length: {}\n\n{b}",
        b1_invite.call_id().unwrap(),
        b.len()
    )
}

#[test]
fn blind_transfer_from_the_callee_rings_the_target_and_keeps_one_journey() {
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    let (mut c, tag, b1) = answered(&mut w);
    let session = session_of(&w);
    w.media.clear();
    let refer = from_bob(
        &b1,
        "REFER",
        10,
        "Refer-To: <sip:1003@zvon.test>\nReferred-By: <sip:1002@zvon.test>\n",
        None,
    );
    let out = w.recv_any(addr(BOB1), Transport::Udp, &refer);
    let to_bob: Vec<_> = out
        .iter()
        .filter(|(a, _)| *a == addr(BOB1))
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(to_bob[0].status(), Some(202));
    let notify = to_bob
        .iter()
        .find(|m| m.method() == Some(&Method::Notify))
        .expect("NOTIFY")
        .clone();
    assert_eq!(
        std::str::from_utf8(&notify.body).unwrap().trim(),
        "SIP/2.0 100 Trying"
    );
    assert_eq!(notify.headers.get(&HeaderName::Event), Some("refer"));
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StartMoh { side: Side::A, .. })),
        "Alice hears MOH"
    );
    let inv = invites_to(&out, CAROL).remove(0);
    respond(&mut w, BOB1, &notify, 200, "bob1", None);
    respond(&mut w, CAROL, &inv, 180, "carol", None);
    let out = respond(
        &mut w,
        CAROL,
        &inv,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 52000, "0 101", "")),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(CAROL) && m.method() == Some(&Method::Ack))
    );
    let to_bob: Vec<_> = out
        .iter()
        .filter(|(a, _)| *a == addr(BOB1))
        .map(|(_, m)| m.clone())
        .collect();
    let done = to_bob
        .iter()
        .find(|m| m.method() == Some(&Method::Notify))
        .expect("final NOTIFY");
    assert_eq!(
        std::str::from_utf8(&done.body).unwrap().trim(),
        "SIP/2.0 200 OK"
    );
    assert!(
        done.headers
            .get(&HeaderName::SubscriptionState)
            .unwrap()
            .starts_with("terminated")
    );
    assert!(
        to_bob.iter().any(|m| m.method() == Some(&Method::Bye)),
        "transferor released"
    );
    let upd = w.media.iter().find_map(|m| match m {
        MediaCommand::Update {
            side: Side::B, leg, ..
        } => Some(leg.clone()),
        _ => None,
    });
    assert_eq!(
        upd.expect("B leg re-pointed").remote,
        Some(addr("10.0.0.30:52000"))
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopMoh { side: Side::A, .. }))
    );
    // Alice hangs up: the BYE goes to Carol, not Bob.
    let bye = in_dialog(&mut c, "BYE", &tag, None);
    let out = w.recv_any(addr(ALICE), Transport::Udp, &bye);
    let byes: Vec<_> = out
        .iter()
        .filter(|(_, m)| m.method() == Some(&Method::Bye))
        .map(|(a, _)| *a)
        .collect();
    assert_eq!(byes, vec![addr(CAROL)]);
    w.media_event(MediaEvent::Closed {
        session,
        stats: [LegStats::default(); 2],
    });
    let cdr = cdrs(&w);
    assert_eq!(cdr.len(), 1, "one journey");
    assert_eq!(cdr[0].history, "transfer:blind:1003");
    assert_eq!(cdr[0].answered_by.as_deref(), Some("1002"));
    assert!(
        cdr[0]
            .legs
            .iter()
            .any(|l| l.peer.starts_with("1003 ") && l.disposition == Disposition::Answered),
        "{:?}",
        cdr[0].legs
    );
}

#[test]
fn blind_transfer_to_a_busy_target_tells_the_transferor_and_keeps_the_call() {
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    let (_c, _tag, b1) = answered(&mut w);
    let refer = from_bob(&b1, "REFER", 10, "Refer-To: <sip:1003@zvon.test>\n", None);
    let out = w.recv_any(addr(BOB1), Transport::Udp, &refer);
    let inv = invites_to(&out, CAROL).remove(0);
    let out = respond(&mut w, CAROL, &inv, 486, "carol", None);
    let notify = out
        .iter()
        .find(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Notify))
        .expect("NOTIFY")
        .1
        .clone();
    assert_eq!(
        std::str::from_utf8(&notify.body).unwrap().trim(),
        "SIP/2.0 486 Busy Here"
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopMoh { side: Side::A, .. }))
    );
    assert_eq!(w.pbx.calls.len(), 1, "the call goes on");
    assert!(
        !out.iter()
            .any(|(a, m)| *a == addr(ALICE) && m.method() == Some(&Method::Bye))
    );
}

#[test]
fn transferor_hanging_up_early_does_not_drop_the_kept_party() {
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    let (_c, _tag, b1) = answered(&mut w);
    let refer = from_bob(&b1, "REFER", 10, "Refer-To: <sip:1003@zvon.test>\n", None);
    let out = w.recv_any(addr(BOB1), Transport::Udp, &refer);
    let inv = invites_to(&out, CAROL).remove(0);
    let out = w.recv_any(
        addr(BOB1),
        Transport::Udp,
        &from_bob(&b1, "BYE", 11, "", None),
    );
    assert_eq!(
        out.iter()
            .find(|(a, _)| *a == addr(BOB1))
            .unwrap()
            .1
            .status(),
        Some(200)
    );
    assert!(
        !out.iter()
            .any(|(a, m)| *a == addr(ALICE) && m.method() == Some(&Method::Bye)),
        "Alice stays"
    );
    let out = respond(
        &mut w,
        CAROL,
        &inv,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 52000, "0", "")),
    );
    assert!(
        !out.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Bye)),
        "no BYE to a gone transferor"
    );
    assert_eq!(w.pbx.calls.len(), 1);
}

/// Alice dials a code; returns Zvon's final answer to her. A confirmed code is answered:
/// Alice ACKs, the confirmation plays to its end, and Zvon's BYE is answered.
fn dial_code(w: &mut World, code: &str) -> Message {
    w.media.clear();
    let (c, out) = call(w, code, offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let fin = to_alice(&out)
        .into_iter()
        .rev()
        .find(|m| m.status().is_some_and(|s| s >= 200))
        .unwrap()
        .clone();
    if fin.status() == Some(200) {
        let tag = fin.to().unwrap().tag().unwrap().to_owned();
        let ack = ack_2xx(&c, &tag, 2).replace("sip:1002@", &format!("sip:{code}@"));
        w.recv_any(addr(ALICE), Transport::Udp, &ack);
        let session = session_of(w);
        let id = plays(w).last().expect("a confirmation plays").0;
        w.media_event(MediaEvent::PlayDone { session, id });
        let bye = w
            .sent_messages()
            .into_iter()
            .find(|(a, m)| *a == addr(ALICE) && m.method() == Some(&Method::Bye))
            .expect("Zvon hangs up after the confirmation")
            .1;
        respond(w, ALICE, &bye, 200, "alice", None);
        w.media_event(MediaEvent::Closed {
            session,
            stats: Default::default(),
        });
    }
    fin
}

/// Makes Alice's next `call()` use fresh identifiers (the helper reuses call-1).
fn next_call(w: &mut World) {
    w.run_for(Duration::from_secs(40));
}

#[test]
fn dnd_feature_code_makes_calls_busy_and_is_persisted() {
    let mut w = world();
    // Bob (1002) turns DND on from his phone: simulate by setting it as 1001 then checking 1001 is busy.
    let r = dial_code(&mut w, "*78");
    assert_eq!(
        r.status(),
        Some(200),
        "the code is answered with a spoken confirmation"
    );
    assert_eq!(plays(&w).last().unwrap().1, vec!["dnd-on"]);
    let cdr = cdrs(&w);
    assert!(
        cdr.last()
            .is_some_and(|c| c.history.contains("feature:*78")),
        "{cdr:?}"
    );
    assert!(
        w.store
            .iter()
            .any(|s| matches!(s, StoreCommand::PutExtState(e) if e.ext == "1001" && e.dnd))
    );
    assert!(w.pbx.ext_state["1001"].dnd);
    next_call(&mut w);
    let r = dial_code(&mut w, "*79");
    assert!(!w.pbx.ext_state["1001"].dnd, "{:?}", r.start);
}

#[test]
fn dnd_callee_gets_busy_with_a_cdr() {
    let mut w = world();
    w.pbx.ext_state.get_mut("1002").unwrap().dnd = true;
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    assert_eq!(to_alice(&out).last().unwrap().status(), Some(486));
    assert!(
        invites_to(&out, BOB1).is_empty(),
        "a DND phone does not ring"
    );
    let cdr = cdrs(&w);
    assert_eq!(
        (cdr[0].disposition, cdr[0].hangup_cause.as_str()),
        (Disposition::Busy, "do not disturb")
    );
}

#[test]
fn unconditional_forward_rings_the_target_and_is_in_the_history() {
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    w.pbx.ext_state.get_mut("1002").unwrap().forward_always = Some("1003".into());
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    assert!(invites_to(&out, BOB1).is_empty());
    let inv = invites_to(&out, CAROL).remove(0);
    respond(
        &mut w,
        CAROL,
        &inv,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 52000, "0", "")),
    );
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    let cdr = cdrs(&w);
    assert_eq!(cdr[0].history, "forward:always:1002>1003");
    assert_eq!(
        (cdr[0].dialed.as_str(), cdr[0].answered_by.as_deref()),
        ("1002", Some("1003"))
    );
}

#[test]
fn busy_and_no_answer_forwards_ring_the_target_in_the_same_call() {
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    w.pbx.ext_state.get_mut("1002").unwrap().forward_busy = Some("1003".into());
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    let b2 = invites_to(&out, BOB2).remove(0);
    respond(&mut w, BOB1, &b1, 486, "bob1", None);
    let out = respond(&mut w, BOB2, &b2, 486, "bob2", None);
    assert_eq!(invites_to(&out, CAROL).len(), 1, "busy forward rings Carol");
    assert!(!to_alice(&out).iter().any(|m| m.status() == Some(486)));
    // No-answer forward: after the ring time.
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    w.pbx.ext_state.get_mut("1002").unwrap().forward_noanswer = Some("1003".into());
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    for (who, m) in [
        (BOB1, invites_to(&out, BOB1).remove(0)),
        (BOB2, invites_to(&out, BOB2).remove(0)),
    ] {
        respond(&mut w, who, &m, 180, "b", None);
    }
    w.sent.clear();
    w.run_for(Duration::from_secs(21));
    let sent = w.sent_messages();
    let mut ids: Vec<String> = invites_to(&sent, CAROL)
        .iter()
        .map(|m| m.call_id().unwrap().to_owned())
        .collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "no-answer forward rings Carol (retransmissions aside)"
    );
    for who in [BOB1, BOB2] {
        assert!(
            sent.iter()
                .any(|(a, m)| *a == addr(who) && m.method() == Some(&Method::Cancel)),
            "{who} cancelled"
        );
    }
}

#[test]
fn call_waiting_off_makes_a_busy_extension_busy() {
    let mut cfg = config(0, &[]);
    cfg.extensions
        .iter_mut()
        .find(|e| e.number == "1001")
        .unwrap()
        .call_waiting = false;
    let mut w = World::new(&cfg);
    register(&mut w, "1002", BOB1, "r1");
    register(&mut w, "1001", ALICE, "r0");
    let _ = answered_single(&mut w);
    // 1002 now calls 1001, who is on a call and has call waiting off.
    let out = call_from(
        &mut w,
        BOB1,
        "1002",
        "1001",
        &offer_sdp("192.0.2.21", 50010, "0", ""),
        ("cw", "cw-1"),
    );
    let last = out
        .iter()
        .rev()
        .find(|(a, m)| *a == addr(BOB1) && m.status().is_some())
        .unwrap();
    assert_eq!(last.1.status(), Some(486));
}

/// Alice calls 1002 with one phone registered; Bob answers.
fn answered_single(w: &mut World) -> (Caller, String) {
    let (mut c, out) = call(w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    let out = respond(
        w,
        BOB1,
        &b1,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0", "")),
    );
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap()
        .clone();
    let tag = ok.to().unwrap().tag().unwrap().to_owned();
    c.to_tag = tag.clone();
    w.recv_any(addr(ALICE), Transport::Udp, &ack_2xx(&c, &tag, 2));
    (c, tag)
}

#[test]
fn group_pickup_answers_a_ringing_call_from_another_phone() {
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    respond(&mut w, BOB1, &b1, 180, "bob1", None);
    // Carol (1003, same pickup group "office") dials *8.
    let out = call_from(
        &mut w,
        CAROL,
        "1003",
        "*8",
        &offer_sdp("10.0.0.30", 52000, "0", ""),
        ("pk", "pk-1"),
    );
    let ok_carol = out
        .iter()
        .find(|(a, m)| *a == addr(CAROL) && m.status() == Some(200))
        .expect("Carol answered");
    assert!(
        std::str::from_utf8(&ok_carol.1.body)
            .unwrap()
            .contains("m=audio ")
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(ALICE) && m.status() == Some(200)),
        "Alice connected"
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Cancel)),
        "Bob stops ringing"
    );
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    let cdr = cdrs(&w);
    assert_eq!(cdr[0].answered_by.as_deref(), Some("1003"));
    assert_eq!(cdr[0].history, "pickup:1003<1002");
}

#[test]
fn pickup_with_nothing_ringing_says_so() {
    let mut w = world();
    let r = dial_code(&mut w, "**1002");
    assert_eq!(r.status(), Some(480));
    let StartLine::Response { reason, .. } = &r.start else {
        panic!()
    };
    assert_eq!(reason, "No Call To Pick Up");
}

#[test]
fn attended_transfer_joins_the_transferors_two_far_parties() {
    let mut w = world();
    register(&mut w, "1003", CAROL, "r3");
    let (mut c, tag, b1) = answered(&mut w);
    let s1 = session_of(&w);
    // Bob (1002, on BOB1) consults Carol: call 2.
    let out = call_from(
        &mut w,
        BOB1,
        "1002",
        "1003",
        &offer_sdp("192.0.2.21", 50020, "0 101", ""),
        ("bobc2", "bob-call-2"),
    );
    let to_carol = invites_to(&out, CAROL).remove(0);
    let out = respond(
        &mut w,
        CAROL,
        &to_carol,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 52000, "0 101", "")),
    );
    let ok2 = out
        .iter()
        .find(|(a, m)| *a == addr(BOB1) && m.status() == Some(200))
        .expect("call 2 answered")
        .1
        .clone();
    let zvon_tag2 = ok2.to().unwrap().tag().unwrap().to_owned();
    let ack2 = format!(
        "ACK sip:1003@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {BOB1};branch=z9hG4bKc2ack\nMax-Forwards: 70\n\
         From: <sip:1002@zvon.test>;tag=bobc2\nTo: <sip:1003@zvon.test>;tag={zvon_tag2}\nCall-ID: bob-call-2\n\
         CSeq: 2 ACK\nContent-Length: 0\n\n"
    );
    w.recv_any(addr(BOB1), Transport::Udp, &ack2);
    assert_eq!(w.pbx.calls.len(), 2);
    w.media.clear();
    // Bob transfers Alice to Carol, replacing his consultation call.
    let refer_to = format!(
        "Refer-To: <sip:1003@zvon.test?Replaces=bob-call-2%3Bto-tag%3D{zvon_tag2}%3Bfrom-tag%3Dbobc2>\n"
    );
    let out = w.recv_any(
        addr(BOB1),
        Transport::Udp,
        &from_bob(&b1, "REFER", 20, &refer_to, None),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.status() == Some(202))
    );
    assert!(
        out.iter().any(|(a, m)| *a == addr(BOB1)
            && m.method() == Some(&Method::Bye)
            && m.call_id() == Some("bob-call-2")),
        "Bob's consultation leg is released"
    );
    let reinv = out
        .iter()
        .find(|(a, m)| *a == addr(CAROL) && m.method() == Some(&Method::Invite))
        .expect("Carol is re-INVITEd into call 1")
        .1
        .clone();
    assert_eq!(
        reinv.call_id(),
        to_carol.call_id(),
        "same dialog with Carol"
    );
    assert_eq!(reinv.to().unwrap().tag(), Some("carol"));
    let out = respond(
        &mut w,
        CAROL,
        &reinv,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 52000, "0 101", "")),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(CAROL) && m.method() == Some(&Method::Ack))
    );
    let bob: Vec<_> = out
        .iter()
        .filter(|(a, _)| *a == addr(BOB1))
        .map(|(_, m)| m.clone())
        .collect();
    assert!(bob.iter().any(|m| m.method() == Some(&Method::Notify)
        && std::str::from_utf8(&m.body).unwrap().contains("200 OK")));
    assert!(
        bob.iter()
            .any(|m| m.method() == Some(&Method::Bye) && m.call_id() == b1.call_id())
    );
    let upd = w.media.iter().find_map(|m| match m {
        MediaCommand::Update {
            session,
            side: Side::B,
            leg,
        } if *session == s1 => Some(leg.clone()),
        _ => None,
    });
    assert_eq!(
        upd.expect("call 1's B side now Carol").remote,
        Some(addr("10.0.0.30:52000"))
    );
    // Alice hangs up: Carol gets the BYE.
    let out = w.recv_any(
        addr(ALICE),
        Transport::Udp,
        &in_dialog(&mut c, "BYE", &tag, None),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(CAROL) && m.method() == Some(&Method::Bye))
    );
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    let cdr = cdrs(&w);
    assert_eq!(cdr.len(), 2, "{cdr:?}");
    assert_eq!(
        cdr[0].linkedid, cdr[1].linkedid,
        "one journey across both calls"
    );
    assert!(
        cdr.iter()
            .any(|c| c.history.contains("transfer:attended:1003")),
        "{cdr:?}"
    );
    assert!(cdr.iter().any(|c| c.hangup_cause == "transferred"));
}

const DAVE: &str = "192.0.2.40:5060";

pub(crate) fn plays(w: &World) -> Vec<(u64, Vec<String>)> {
    w.media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::Play { id, prompts, .. } => Some((*id, prompts.clone())),
            _ => None,
        })
        .collect()
}

fn subscribe_dave(w: &mut World) -> Vec<(SocketAddr, Message)> {
    let sub = |cseq: u32, auth: &str| {
        format!(
            "SUBSCRIBE sip:1004@zvon.test SIP/2.0\nVia: SIP/2.0/UDP {DAVE};branch=z9hG4bKsub{cseq}\nMax-Forwards: 70\n\
             From: <sip:1004@zvon.test>;tag=dave\nTo: <sip:1004@zvon.test>\nCall-ID: mwi-1\nCSeq: {cseq} SUBSCRIBE\n\
             Contact: <sip:1004@{DAVE}>\nEvent: message-summary\nAccept: application/simple-message-summary\n\
             Expires: 3600\n{auth}Content-Length: 0\n\n"
        )
    };
    let r = w.recv_any(addr(DAVE), Transport::Udp, &sub(1, ""));
    assert_eq!(r[0].1.status(), Some(407));
    let auth = digest(
        &r[0].1,
        HeaderName::ProxyAuthenticate,
        "Proxy-Authorization",
        "1004",
        "SUBSCRIBE",
        "sip:1004@zvon.test",
    );
    w.recv_any(addr(DAVE), Transport::Udp, &sub(2, &auth))
}

#[test]
fn unanswerable_call_leaves_a_voicemail_and_the_subscriber_gets_mwi() {
    let mut w = world();
    let out = subscribe_dave(&mut w);
    assert!(out.iter().any(|(_, m)| m.status() == Some(200)));
    let n = out
        .iter()
        .find(|(_, m)| m.method() == Some(&Method::Notify))
        .expect("initial NOTIFY")
        .1
        .clone();
    let body = std::str::from_utf8(&n.body).unwrap();
    assert!(
        body.contains("Messages-Waiting: no") && body.contains("Voice-Message: 0/0"),
        "{body}"
    );
    assert_eq!(n.headers.get(&HeaderName::Event), Some("message-summary"));
    // Alice calls 1004, who is not registered but has a mailbox.
    let (_c, out) = call(
        &mut w,
        "1004",
        offer_sdp("192.0.2.10", 40000, "0 101", ""),
        "",
    );
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("voicemail answers")
        .clone();
    assert!(std::str::from_utf8(&ok.body).unwrap().contains("PCMU"));
    let session = session_of(&w);
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Open { b: None, .. }))
    );
    let p = plays(&w);
    assert_eq!(p[0].1, vec!["person-unavailable", "vm-leave-message"]);
    w.media_event(MediaEvent::PlayDone {
        session,
        id: p[0].0,
    });
    let p = plays(&w);
    assert_eq!(p[1].1, vec!["beep"]);
    w.media_event(MediaEvent::PlayDone {
        session,
        id: p[1].0,
    });
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Record { .. }))
    );
    w.media_event(MediaEvent::Recorded {
        session,
        side: Side::A,
        pcm: std::sync::Arc::from(vec![100i16; 16_000]),
        rate: 8000,
        end: crate::media::play::RecordEnd::Silence,
    });
    let vm = w.store.iter().find_map(|s| match s {
        StoreCommand::Voicemail(v) => Some(v.clone()),
        _ => None,
    });
    let vm = vm.expect("message stored");
    assert_eq!(
        (vm.mailbox.as_str(), vm.caller.as_str(), vm.duration_ms),
        ("1004", "1001", 2000)
    );
    let n = w
        .sent_messages()
        .into_iter()
        .find(|(a, m)| *a == addr(DAVE) && m.method() == Some(&Method::Notify))
        .expect("MWI NOTIFY")
        .1;
    let body = std::str::from_utf8(&n.body).unwrap().to_owned();
    assert!(
        body.contains("Messages-Waiting: yes") && body.contains("Voice-Message: 1/0"),
        "{body}"
    );
    assert_eq!(w.pbx.mailbox("1004"), (1, 0));
    let p = plays(&w);
    assert_eq!(p[2].1, vec!["goodbye"]);
    w.media_event(MediaEvent::PlayDone {
        session,
        id: p[2].0,
    });
    assert!(
        w.sent_messages()
            .iter()
            .any(|(a, m)| *a == addr(ALICE) && m.method() == Some(&Method::Bye))
    );
    w.media_event(MediaEvent::Closed {
        session,
        stats: [LegStats::default(); 2],
    });
    let cdr = cdrs(&w);
    assert_eq!(cdr[0].disposition, Disposition::Answered);
    assert!(
        cdr[0].history.contains("voicemail:1004"),
        "{}",
        cdr[0].history
    );
}

#[test]
fn hanging_up_while_recording_keeps_the_message() {
    let mut w = world();
    let (mut c, out) = call(&mut w, "1004", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap()
        .clone();
    let tag = ok.to().unwrap().tag().unwrap().to_owned();
    let session = session_of(&w);
    for _ in 0..2 {
        let id = plays(&w).last().unwrap().0;
        w.media_event(MediaEvent::PlayDone { session, id });
    }
    w.media.clear();
    w.recv_any(
        addr(ALICE),
        Transport::Udp,
        &in_dialog(&mut c, "BYE", &tag, None),
    );
    let stop = w
        .media
        .iter()
        .position(|m| matches!(m, MediaCommand::StopRecord { .. }));
    let close = w
        .media
        .iter()
        .position(|m| matches!(m, MediaCommand::Close { .. }));
    assert!(stop.is_some() && stop < close, "{:?}", w.media);
    w.media_event(MediaEvent::Recorded {
        session,
        side: Side::A,
        pcm: std::sync::Arc::from(vec![100i16; 24_000]),
        rate: 8000,
        end: crate::media::play::RecordEnd::Stopped,
    });
    assert!(
        w.store
            .iter()
            .any(|s| matches!(s, StoreCommand::Voicemail(_)))
    );
}

#[test]
fn no_answer_with_a_mailbox_goes_send_to_voicemail_instead_of_480() {
    let mut cfg = config(0, &[]);
    cfg.calls.no_answer = Duration::from_secs(20);
    cfg.extensions
        .iter_mut()
        .find(|e| e.number == "1002")
        .unwrap()
        .voicemail_pin = Some("1234".into());
    let mut w = World::new(&cfg);
    register(&mut w, "1002", BOB1, "r1");
    let (_c, out) = call(&mut w, "1002", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let b1 = invites_to(&out, BOB1).remove(0);
    respond(&mut w, BOB1, &b1, 180, "bob1", None);
    w.sent.clear();
    w.run_for(Duration::from_secs(21));
    let sent = w.sent_messages();
    assert!(
        sent.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Cancel))
    );
    assert!(
        sent.iter()
            .any(|(a, m)| *a == addr(ALICE) && m.status() == Some(200)),
        "voicemail answered"
    );
    assert!(
        !sent
            .iter()
            .any(|(a, m)| *a == addr(ALICE) && m.status() == Some(480))
    );
}

fn ivr_world() -> World {
    let mut cfg = config(0, &[]);
    cfg.dialplan = crate::dialplan::Plan::parse(
        "timezone = \"Europe/Berlin\"\n[[context]]\nname = \"internal\"\n\
         [[context.rule]]\nmatch = \"500\"\naction = \"ivr\"\ntarget = \"front\"\n\
         [[context.rule]]\nmatch = \"_1XXX\"\naction = \"extension\"\ntarget = \"${number}\"\n\
         [groups.team]\nmembers = [\"1002\", \"1003\"]\nstrategy = \"sequential\"\ntimeout = \"30s\"\nmember_timeout = \"10s\"\n",
    )
    .unwrap();
    cfg.ivr = crate::ivr::flow::Flows::parse(
        std::path::Path::new("ivr.toml"),
        "[ivr.front]\nstart = \"hello\"\n[ivr.front.node.hello]\nplay = [\"welcome\"]\nnext = \"menu\"\n\
         [ivr.front.node.menu]\nmenu = [\"main-menu\"]\noptions = { \"1\" = \"extension:1002\", \"2\" = \"voicemail:1004\", \"3\" = \"group:team\" }\n\
         timeout = \"5s\"\nretries = 1\nafter_retries = \"hangup\"\n",
    )
    .unwrap();
    cfg.calls.no_answer = Duration::from_secs(20);
    let mut w = World::new(&cfg);
    register(&mut w, "1002", BOB1, "r1");
    register(&mut w, "1003", CAROL, "r3");
    w
}

#[test]
fn ivr_menu_key_rings_the_extension_and_the_path_is_in_the_cdr() {
    let mut w = ivr_world();
    let (_c, out) = call(
        &mut w,
        "500",
        offer_sdp("192.0.2.10", 40000, "0 101", ""),
        "",
    );
    assert!(
        to_alice(&out).iter().any(|m| m.status() == Some(200)),
        "the IVR answers"
    );
    let session = session_of(&w);
    let p = plays(&w);
    assert_eq!(p[0].1, vec!["welcome"]);
    w.media_event(MediaEvent::PlayDone {
        session,
        id: p[0].0,
    });
    let p = plays(&w);
    assert_eq!(p[1].1, vec!["main-menu"]);
    // The caller presses 1 during the menu (barge-in).
    w.media.clear();
    w.media_event(MediaEvent::Dtmf {
        session,
        side: Side::A,
        digit: '1',
    });
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlay { .. }))
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StartMoh { side: Side::A, .. })),
        "caller hears music while it rings"
    );
    let sent = w.sent_messages();
    let inv = invites_to(&sent, BOB1).remove(0);
    let out = respond(
        &mut w,
        BOB1,
        &inv,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    assert!(
        !to_alice(&out).iter().any(|m| m.status() == Some(200)),
        "Alice was answered already"
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Update { side: Side::B, .. }))
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopMoh { side: Side::A, .. }))
    );
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    let cdr = cdrs(&w);
    assert_eq!(cdr[0].answered_by.as_deref(), Some("1002"));
    assert!(
        cdr[0]
            .history
            .contains("ivr:front:hello>menu[1]>extension:1002"),
        "{}",
        cdr[0].history
    );
}

#[test]
fn ivr_no_input_hangs_up_after_the_retries_on_the_virtual_clock() {
    let mut w = ivr_world();
    let (_c, _out) = call(&mut w, "500", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let session = session_of(&w);
    let id = plays(&w)[0].0;
    w.media_event(MediaEvent::PlayDone { session, id });
    let id = plays(&w).last().unwrap().0;
    w.media_event(MediaEvent::PlayDone { session, id });
    // 5 s without a key, the menu again, 5 s more: hang up.
    w.run_for(Duration::from_millis(5_100));
    let id = plays(&w).last().unwrap().0;
    w.media_event(MediaEvent::PlayDone { session, id });
    w.sent.clear();
    w.run_for(Duration::from_millis(5_100));
    let id = plays(&w).last().unwrap().0;
    w.media_event(MediaEvent::PlayDone { session, id });
    assert!(
        w.sent_messages()
            .iter()
            .any(|(a, m)| *a == addr(ALICE) && m.method() == Some(&Method::Bye))
    );
}

#[test]
fn ivr_group_exit_rings_members_in_turn() {
    let mut w = ivr_world();
    let (_c, _out) = call(&mut w, "500", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let session = session_of(&w);
    let id = plays(&w)[0].0;
    w.media_event(MediaEvent::PlayDone { session, id });
    w.media_event(MediaEvent::Dtmf {
        session,
        side: Side::A,
        digit: '3',
    });
    let sent = w.sent_messages();
    let first = invites_to(&sent, BOB1);
    assert_eq!(first.len(), 1, "first member rings");
    assert!(invites_to(&sent, CAROL).is_empty());
    respond(&mut w, BOB1, &first[0], 180, "bob1", None);
    w.sent.clear();
    w.run_for(Duration::from_millis(10_100));
    let sent = w.sent_messages();
    assert!(
        sent.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Cancel))
    );
    assert_eq!(invites_to(&sent, CAROL).len(), 1, "then the second");
}

/// A world whose plan has `*97` (mailbox) and `_1XXX`; Dave (1004) dials `*97` and gets
/// the PIN prompt. Returns the menu call's media session.
fn dave_dials_mailbox(w: &mut World) -> SessionId {
    let out = call_from(
        w,
        DAVE,
        "1004",
        "*97",
        &offer_sdp("192.0.2.40", 42000, "0 101", ""),
        ("mb", "mb-1"),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(DAVE) && m.status() == Some(200))
    );
    let session = session_of(w);
    assert_eq!(plays(w)[0].1, vec!["vm-enter-pin"]);
    session
}

fn mailbox_config() -> crate::config::Config {
    let mut cfg = config(0, &[]);
    cfg.dialplan = crate::dialplan::Plan::parse(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"*97\"\naction = \"feature\"\ntarget = \"voicemail\"\n\
         [[context.rule]]\nmatch = \"_1XXX\"\naction = \"extension\"\ntarget = \"${number}\"\n",
    )
    .unwrap();
    cfg
}

fn keys(w: &mut World, session: SessionId, digits: &str) {
    for d in digits.chars() {
        w.media_event(MediaEvent::Dtmf {
            session,
            side: Side::A,
            digit: d,
        });
    }
}

#[test]
fn mailbox_menu_checks_the_pin_plays_the_message_and_deletes_it() {
    let cfg = mailbox_config();
    let mut w = World::new(&cfg);
    // A message waits in 1004's box.
    w.pbx.restore_voicemail(&[crate::store::VoicemailEntry {
        id: "m1".into(),
        mailbox: "1004".into(),
        uniqueid: "u".into(),
        caller: "1001".into(),
        at: 0,
        duration_ms: 3000,
        path: "/x".into(),
        heard: false,
    }]);
    let session = dave_dials_mailbox(&mut w);
    // A wrong PIN first, then the right one.
    for d in "1111#".chars() {
        w.media_event(MediaEvent::Dtmf {
            session,
            side: Side::A,
            digit: d,
        });
    }
    assert_eq!(
        plays(&w).last().unwrap().1,
        vec!["vm-invalid-pin", "vm-enter-pin"]
    );
    for d in "4711#".chars() {
        w.media_event(MediaEvent::Dtmf {
            session,
            side: Side::A,
            digit: d,
        });
    }
    let p = plays(&w).last().unwrap().1.clone();
    assert_eq!(p.first().map(String::as_str), Some("vm-you-have"));
    assert_eq!(p.last().map(String::as_str), Some("vm-main-menu"));
    w.media_event(MediaEvent::Dtmf {
        session,
        side: Side::A,
        digit: '1',
    });
    let p = plays(&w).last().unwrap().1.clone();
    assert!(
        p.contains(&"file:voicemail/1004/m1.wav".to_owned()),
        "{p:?}"
    );
    assert!(w.store.iter().any(|s| matches!(s, StoreCommand::VoicemailFlag { id, heard: true, deleted: false } if id == "m1")));
    assert_eq!(w.pbx.mailbox("1004"), (0, 1), "heard");
    w.media_event(MediaEvent::Dtmf {
        session,
        side: Side::A,
        digit: '7',
    });
    assert!(
        w.store.iter().any(
            |s| matches!(s, StoreCommand::VoicemailFlag { id, deleted: true, .. } if id == "m1")
        )
    );
    assert_eq!(w.pbx.mailbox("1004"), (0, 0));
    let id = plays(&w).last().unwrap().0;
    w.media_event(MediaEvent::PlayDone { session, id });
    assert_eq!(plays(&w).last().unwrap().1, vec!["vm-no-more-messages"]);
}

#[test]
fn a_greeting_recorded_in_the_mailbox_menu_replaces_the_standard_one() {
    let cfg = mailbox_config();
    let mut w = World::new(&cfg);
    let session = dave_dials_mailbox(&mut w);
    keys(&mut w, session, "4711#");
    keys(&mut w, session, "2");
    let (id, p) = plays(&w).last().unwrap().clone();
    assert_eq!(p, vec!["vm-record-greeting", "beep"]);
    assert!(
        !w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Record { .. })),
        "recording starts after the beep"
    );
    w.media_event(MediaEvent::PlayDone { session, id });
    assert!(w.media.iter().any(|m| matches!(
        m,
        MediaCommand::Record { side: Side::A, max, .. } if *max == Duration::from_secs(30)
    )));
    keys(&mut w, session, "#");
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopRecord { side: Side::A, .. }))
    );
    w.media_event(MediaEvent::Recorded {
        session,
        side: Side::A,
        pcm: std::sync::Arc::from(vec![300i16; 24_000]),
        rate: 8000,
        end: crate::media::play::RecordEnd::Stopped,
    });
    let g = w.store.iter().find_map(|s| match s {
        StoreCommand::Greeting { mailbox, pcm, rate } => Some((mailbox.clone(), pcm.len(), *rate)),
        _ => None,
    });
    assert_eq!(g, Some(("1004".to_owned(), 24_000, 8000)));
    assert_eq!(plays(&w).last().unwrap().1, vec!["vm-greeting-saved"]);
    // A caller who reaches the mailbox now hears Dave's own greeting.
    w.media.clear();
    let (_c, out) = call(&mut w, "1004", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    assert!(to_alice(&out).iter().any(|m| m.status() == Some(200)));
    assert_eq!(
        plays(&w)[0].1,
        vec!["file:voicemail/1004/greeting.wav".to_owned()]
    );
}

#[test]
fn a_too_short_greeting_is_not_kept() {
    let cfg = mailbox_config();
    let mut w = World::new(&cfg);
    let session = dave_dials_mailbox(&mut w);
    keys(&mut w, session, "4711#2");
    let id = plays(&w).last().unwrap().0;
    w.media_event(MediaEvent::PlayDone { session, id });
    w.media_event(MediaEvent::Recorded {
        session,
        side: Side::A,
        pcm: std::sync::Arc::from(vec![300i16; 800]),
        rate: 8000,
        end: crate::media::play::RecordEnd::Stopped,
    });
    assert!(
        !w.store
            .iter()
            .any(|s| matches!(s, StoreCommand::Greeting { .. }))
    );
    assert_eq!(
        plays(&w).last().unwrap().1.last().map(String::as_str),
        Some("vm-main-menu"),
        "back to the menu"
    );
}

#[test]
fn the_pin_can_be_changed_from_the_phone_and_the_old_one_stops_working() {
    let cfg = mailbox_config();
    let mut w = World::new(&cfg);
    let session = dave_dials_mailbox(&mut w);
    keys(&mut w, session, "4711#3");
    assert_eq!(plays(&w).last().unwrap().1, vec!["vm-enter-new-pin"]);
    // Too short: asked again.
    keys(&mut w, session, "12#");
    assert_eq!(
        plays(&w).last().unwrap().1,
        vec!["vm-invalid-pin", "vm-enter-new-pin"]
    );
    keys(&mut w, session, "2580#");
    assert_eq!(plays(&w).last().unwrap().1, vec!["vm-pin-changed"]);
    assert!(w.store.iter().any(|s| matches!(
        s,
        StoreCommand::VoicemailPin { mailbox, pin, .. } if mailbox == "1004" && pin == "2580"
    )));
    // A later login: the old PIN is refused, the new one opens the box.
    let mut w2 = World::new(&cfg);
    w2.pbx
        .restore_voicemail_pins(vec![("1004".into(), "2580".into())]);
    let session = dave_dials_mailbox(&mut w2);
    keys(&mut w2, session, "4711#");
    assert_eq!(
        plays(&w2).last().unwrap().1,
        vec!["vm-invalid-pin", "vm-enter-pin"]
    );
    keys(&mut w2, session, "2580#");
    assert_eq!(
        plays(&w2).last().unwrap().1.last().map(String::as_str),
        Some("vm-main-menu")
    );
}

#[test]
fn unsolicited_mwi_notifies_the_registered_phone_without_a_subscription() {
    let mut cfg = config(0, &[]);
    for e in cfg.extensions.iter_mut() {
        if e.number == "1004" {
            e.mwi_unsolicited = true;
        }
    }
    let mut w = World::new(&cfg);
    register(&mut w, "1004", DAVE, "rd");
    w.sent.clear();
    // Nobody answers at 1004 within the no-answer time → the caller leaves a message.
    w.pbx.restore_voicemail(&[]);
    let (_c, _out) = call(&mut w, "1004", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    w.run_for(Duration::from_secs(31));
    let Some(session) = w.media.iter().find_map(|m| match m {
        MediaCommand::Open {
            session, b: None, ..
        } => Some(*session),
        _ => None,
    }) else {
        panic!("voicemail did not answer: {:?}", w.media);
    };
    for _ in 0..2 {
        let id = plays(&w).last().unwrap().0;
        w.media_event(MediaEvent::PlayDone { session, id });
    }
    w.sent.clear();
    w.media_event(MediaEvent::Recorded {
        session,
        side: Side::A,
        pcm: std::sync::Arc::from(vec![100i16; 16_000]),
        rate: 8000,
        end: crate::media::play::RecordEnd::Silence,
    });
    let n = w
        .sent_messages()
        .into_iter()
        .find(|(a, m)| *a == addr(DAVE) && m.method() == Some(&Method::Notify))
        .expect("unsolicited NOTIFY to the phone");
    let body = std::str::from_utf8(&n.1.body).unwrap();
    assert!(body.contains("Messages-Waiting: yes"), "{body}");
    assert!(body.contains("Voice-Message: 1/0"), "{body}");
    assert_eq!(n.1.headers.get(&HeaderName::Event), Some("message-summary"));
    assert!(matches!(
        &n.1.start,
        crate::sip::msg::StartLine::Request { raw_uri, .. } if raw_uri == &format!("sip:1004@{DAVE}")
    ));
}

#[test]
fn voicemail_prompts_follow_the_dial_plans_lang_variable() {
    let mut cfg = config(0, &[]);
    cfg.dialplan = crate::dialplan::Plan::parse(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"1004\"\nset = { lang = \"ru\" }\n\
         [[context.rule]]\nmatch = \"_1XXX\"\naction = \"extension\"\ntarget = \"${number}\"\n",
    )
    .unwrap();
    let mut w = World::new(&cfg);
    // 1004 has no phone registered: straight to the mailbox.
    let (_c, out) = call(&mut w, "1004", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    assert!(to_alice(&out).iter().any(|m| m.status() == Some(200)));
    let langs: Vec<String> = w
        .media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::Play { language, .. } => Some(language.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(langs, vec!["ru".to_owned()]);
    let session = session_of(&w);
    let id = plays(&w)[0].0;
    w.media_event(MediaEvent::PlayDone { session, id });
    assert!(w.media.iter().any(|m| matches!(
        m,
        MediaCommand::Play { language, prompts, .. } if language == "ru" && prompts == &vec!["beep".to_owned()]
    )));
}

#[test]
fn the_dial_plans_lang_variable_switches_the_ivr_language() {
    let mut w = ivr_world();
    let mut cfg_plan = crate::dialplan::Plan::parse(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"500\"\nset = { lang = \"ru\" }\n\
         [[context.rule]]\nmatch = \"500\"\naction = \"ivr\"\ntarget = \"front\"\n",
    )
    .unwrap();
    std::mem::swap(&mut w.pbx.dialplan, &mut cfg_plan);
    let (_c, _out) = call(&mut w, "500", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let lang = w.media.iter().find_map(|m| match m {
        MediaCommand::Play { language, .. } => Some(language.clone()),
        _ => None,
    });
    assert_eq!(lang.as_deref(), Some("ru"));
}

/// Calls where the phones answer everything (loop of 20) leave no transaction or call state
/// behind, and neither does a phone that never answers our CANCEL with a 487 (RFC 3261 §9.1:
/// the INVITE transaction is given up 64*T1 after the CANCEL).
#[test]
fn finished_calls_leave_no_state_even_when_a_phone_never_sends_the_487() {
    let mut cfg = config(0, &[]);
    cfg.registrar.qualify = None;
    let mut w = World::new(&cfg);
    register(&mut w, "1002", BOB1, "r1");
    register(&mut w, "1002", BOB2, "r2");
    for i in 0..20 {
        let (mut c, out) = call(
            &mut w,
            "1002",
            offer_sdp("192.0.2.10", 40000, "0 8 101", ""),
            "",
        );
        let b1 = invites_to(&out, BOB1).remove(0);
        let b2 = invites_to(&out, BOB2).remove(0);
        respond(&mut w, BOB1, &b1, 180, "bob1", None);
        respond(&mut w, BOB2, &b2, 180, "bob2", None);
        let out = respond(
            &mut w,
            BOB1,
            &b1,
            200,
            "bob1",
            Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
        );
        let ok = to_alice(&out)
            .into_iter()
            .find(|m| m.status() == Some(200))
            .unwrap()
            .clone();
        let tag = ok.to().unwrap().tag().unwrap().to_owned();
        c.to_tag = tag.clone();
        let cancel = out
            .iter()
            .find(|(a, m)| *a == addr(BOB2) && m.method() == Some(&Method::Cancel))
            .expect("the other phone is cancelled")
            .1
            .clone();
        let _ = w.recv_any(addr(ALICE), Transport::Udp, &ack_2xx(&c, &tag, 2));
        respond(&mut w, BOB2, &cancel, 200, "bob2", None);
        // Odd calls: Bob2's phone never sends the 487.
        if i % 2 == 0 {
            respond(&mut w, BOB2, &b2, 487, "bob2", None);
        }
        w.run_for(Duration::from_secs(5));
        let bye = in_dialog(&mut c, "BYE", &tag, None);
        let out = w.recv_any(addr(ALICE), Transport::Udp, &bye);
        let bye_b = out
            .iter()
            .find(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Bye))
            .unwrap()
            .1
            .clone();
        respond(&mut w, BOB1, &bye_b, 200, "bob1", None);
        let session = session_of(&w);
        w.media_event(MediaEvent::Closed {
            session,
            stats: Default::default(),
        });
        w.run_for(Duration::from_secs(40));
        let cdr = cdrs(&w);
        assert_eq!(cdr.len(), 1, "call {i}");
        assert_eq!(cdr[0].disposition, Disposition::Answered);
        w.sent.clear();
        w.media.clear();
        w.store.clear();
        let p = &w.pbx;
        assert_eq!(
            (p.txns.len(), p.client_keys.len(), p.server_keys.len()),
            (0, 0, 0),
            "call {i}: transactions left"
        );
        assert!(p.calls.calls.is_empty() && p.calls.dialogs.is_empty());
        assert!(p.calls.invites.is_empty() && p.calls.sessions.is_empty());
    }
}

fn queue_world(strategy: &str) -> World {
    let cfg = queue_config(strategy);
    let mut w = World::new(&cfg);
    register(&mut w, "1002", BOB1, "r1");
    register(&mut w, "1003", CAROL, "r3");
    w
}

pub(crate) fn queue_config(strategy: &str) -> crate::config::Config {
    let mut cfg = config(0, &[]);
    cfg.dialplan = crate::dialplan::Plan::parse(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"700\"\naction = \"queue\"\ntarget = \"support\"\n\
         [[context.rule]]\nmatch = \"500\"\naction = \"ivr\"\ntarget = \"front\"\nset = { priority = \"5\" }\n\
         [[context.rule]]\nmatch = \"_1XXX\"\naction = \"extension\"\n",
    )
    .unwrap();
    cfg.ivr = crate::ivr::flow::Flows::parse(
        std::path::Path::new("ivr.toml"),
        "[ivr.front]\nstart = \"menu\"\n[ivr.front.node.menu]\nmenu = [\"main-menu\"]\n\
         options = { \"2\" = \"queue:support\" }\ntimeout = \"5s\"\nretries = 1\nafter_retries = \"hangup\"\n",
    )
    .unwrap();
    let mut q = crate::acd::QueueConfig {
        strategy: crate::acd::Strategy::ALL
            .iter()
            .find(|(n, _)| *n == strategy)
            .unwrap()
            .1,
        ring_timeout: Duration::from_secs(10),
        retry: Duration::ZERO,
        wrapup: Duration::from_secs(5),
        announce_position: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    q.greeting = vec!["thank-you-for-waiting".into()];
    q.exit_keys.insert('2', crate::acd::ExitKey::Callback);
    let agent = |ext: &str| crate::acd::AgentConfig {
        name: String::new(),
        extension: ext.into(),
        queues: vec![("support".into(), 0)],
        skills: Default::default(),
        wrapup: None,
        logged_in: true,
    };
    cfg.acd = crate::acd::AcdConfig {
        queues: [("support".to_string(), q)].into(),
        agents: vec![
            ("bob".into(), agent("1002")),
            ("carol".into(), agent("1003")),
            (
                "alice".into(),
                crate::acd::AgentConfig {
                    logged_in: false,
                    ..agent("1001")
                },
            ),
        ],
    };
    cfg
}

/// Alice calls the queue (700); Zvon answers at once and Alice ACKs. Returns what Zvon sent
/// after the authenticated INVITE.
fn call_queue_and_ack(w: &mut World) -> Vec<(SocketAddr, Message)> {
    let (c, out) = call(w, "700", offer_sdp("192.0.2.10", 40000, "0 101", ""), "");
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("Zvon answers the queue caller")
        .clone();
    let tag = ok.to().unwrap().tag().unwrap().to_owned();
    let ack = ack_2xx(&c, &tag, 2).replace("sip:1002@", "sip:700@");
    w.recv_any(addr(ALICE), Transport::Udp, &ack);
    out
}

/// Hangs up every call and returns the CDRs written.
pub(crate) fn end_all(w: &mut World) -> Vec<CdrRecord> {
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    cdrs(w)
}

pub(crate) fn queue_events(w: &World) -> Vec<(String, String, Vec<String>)> {
    w.store
        .iter()
        .filter_map(|s| match s {
            StoreCommand::QueueEvent(e) => Some((e.event.clone(), e.agent.clone(), e.data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_queue_caller_hears_music_rings_agents_in_turn_and_is_connected_to_the_one_who_answers() {
    let mut w = queue_world("linear");
    let out = call_queue_and_ack(&mut w);
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StartMoh { side: Side::A, .. }))
    );
    let p = plays(&w);
    assert_eq!(
        p[0].1,
        [
            "thank-you-for-waiting",
            "you-are-caller-number",
            "num-1",
            "expected-wait-time",
            "less-than-a-minute"
        ]
    );
    // Linear: Bob first. He does not answer; after the ring timeout Zvon cancels and rings Carol.
    let bob = invites_to(&out, BOB1).remove(0);
    respond(&mut w, BOB1, &bob, 180, "bob1", None);
    assert!(invites_to(&w.sent_messages(), CAROL).is_empty());
    w.run_for(Duration::from_secs(10));
    let sent = w.sent_messages();
    assert!(
        sent.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Cancel)),
        "Bob's phone stops ringing"
    );
    let carol = invites_to(&sent, CAROL).remove(0);
    respond(&mut w, BOB1, &bob, 487, "bob1", None);
    w.media.clear();
    respond(
        &mut w,
        CAROL,
        &carol,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 50000, "0 101", "")),
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Update { side: Side::B, .. }))
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopMoh { side: Side::A, .. }))
    );
    w.run_for(Duration::from_secs(42));
    let cdr = end_all(&mut w);
    assert_eq!(cdr[0].answered_by.as_deref(), Some("1003"));
    assert_eq!(cdr[0].disposition, Disposition::Answered);
    assert!(
        cdr[0].history.contains("queue:support") && cdr[0].history.contains("agent:carol"),
        "{}",
        cdr[0].history
    );
    let ev = queue_events(&w);
    let names: Vec<&str> = ev.iter().map(|(e, _, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "ENTERQUEUE",
            "OFFER",
            "RINGNOANSWER",
            "OFFER",
            "CONNECT",
            "COMPLETECALLER",
            "WRAPUPSTART"
        ],
        "{ev:?}"
    );
    assert_eq!(ev[2].1, "bob");
    assert_eq!(ev[4].1, "carol");
    // CONNECT: hold time 10 s; COMPLETECALLER: hold 10 s, talk 42 s, original position 1.
    assert_eq!(ev[4].2[0], "10");
    assert_eq!(ev[5].2, ["10", "42", "1"]);
}

#[test]
fn ring_all_connects_the_first_agent_and_cancels_the_other_phone() {
    let mut w = queue_world("ring-all");
    let (_c, out) = call(
        &mut w,
        "700",
        offer_sdp("192.0.2.10", 40000, "0 101", ""),
        "",
    );
    let bob = invites_to(&out, BOB1).remove(0);
    let carol = invites_to(&out, CAROL).remove(0);
    respond(&mut w, BOB1, &bob, 180, "bob1", None);
    respond(&mut w, CAROL, &carol, 180, "carol", None);
    let out = respond(
        &mut w,
        CAROL,
        &carol,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 50000, "0 101", "")),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Cancel)),
        "Bob's offer is withdrawn at once"
    );
    // Bob answers anyway, too late: ACKed and BYEd, the call stays with Carol.
    let out = respond(
        &mut w,
        BOB1,
        &bob,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(BOB1) && m.method() == Some(&Method::Bye))
    );
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    assert_eq!(cdrs(&w)[0].answered_by.as_deref(), Some("1003"));
    let connects = queue_events(&w)
        .into_iter()
        .filter(|(e, _, _)| e == "CONNECT")
        .count();
    assert_eq!(connects, 1);
}

#[test]
fn an_agent_logs_in_pauses_and_logs_out_with_feature_codes() {
    let mut w = queue_world("linear");
    // Alice (1001) is a dynamic agent: logged out until she dials *51.
    let r = dial_code(&mut w, "*51");
    assert_eq!(r.status(), Some(200));
    assert!(plays(&w).iter().any(|(_, p)| p == &["agent-logged-in"]));
    assert_eq!(
        queue_events(&w).last().unwrap(),
        &(
            "ADDMEMBER".to_string(),
            "alice".to_string(),
            vec!["1001".to_string()]
        )
    );
    next_call(&mut w);
    dial_code(&mut w, "*532");
    assert!(plays(&w).iter().any(|(_, p)| p == &["agent-paused"]));
    assert_eq!(
        queue_events(&w).last().unwrap(),
        &(
            "PAUSEALL".to_string(),
            "alice".to_string(),
            vec!["2".to_string()]
        )
    );
    next_call(&mut w);
    dial_code(&mut w, "*54");
    assert_eq!(queue_events(&w).last().unwrap().0, "UNPAUSEALL");
    next_call(&mut w);
    dial_code(&mut w, "*52");
    assert!(plays(&w).iter().any(|(_, p)| p == &["agent-logged-out"]));
    assert_eq!(queue_events(&w).last().unwrap().0, "REMOVEMEMBER");
    // Logged out already: the prompt says so, nothing is logged.
    next_call(&mut w);
    let n = queue_events(&w).len();
    dial_code(&mut w, "*52");
    assert!(plays(&w).iter().any(|(_, p)| p == &["agent-logged-out"]));
    assert_eq!(queue_events(&w).len(), n);
}

#[test]
fn control_status_lists_calls_with_state_and_duration() {
    let mut w = world();
    let (_c, out) = call(
        &mut w,
        "1002",
        offer_sdp("192.0.2.10", 40000, "0 8 101", ""),
        "",
    );
    let b1 = invites_to(&out, BOB1).remove(0);
    respond(&mut w, BOB1, &b1, 180, "bob1", None);
    w.run_for(Duration::from_secs(5));
    let st = w.control(crate::api::Request::Status);
    assert!(st.text.contains("calls: 1 active"), "{}", st.text);
    assert!(
        st.text.contains("1001 → 1002  ringing  0:05\n"),
        "{}",
        st.text
    );

    let mut w = world();
    answered(&mut w);
    w.run_for(Duration::from_secs(42));
    let st = w.control(crate::api::Request::Status);
    assert!(
        st.text.contains("1001 → 1002  up  0:42 (talking 0:42)\n"),
        "{}",
        st.text
    );
    assert!(
        st.text
            .contains("registrations: 2 contacts on 1 of 4 extensions"),
        "{}",
        st.text
    );
}

#[test]
fn control_socket_shows_queues_and_agents_and_pauses_an_agent() {
    let mut w = queue_world("linear");
    let r = w.control(crate::api::Request::AgentPause {
        agent: "bob".into(),
        reason: Some(4),
    });
    assert!(r.ok, "{}", r.text);
    assert_eq!(
        queue_events(&w).last().unwrap(),
        &(
            "PAUSEALL".to_string(),
            "bob".to_string(),
            vec!["4".to_string()]
        )
    );
    let (_c, out) = call(
        &mut w,
        "700",
        offer_sdp("192.0.2.10", 40000, "0 101", ""),
        "",
    );
    assert!(invites_to(&out, BOB1).is_empty(), "paused from the CLI");
    w.run_for(Duration::from_secs(3));
    let q = w.control(crate::api::Request::StatusQueues);
    assert!(q.ok);
    assert!(
        q.text.contains("queue support (linear): 1 waiting"),
        "{}",
        q.text
    );
    assert!(
        q.text.contains("1001 waiting 3s, ringing carol"),
        "{}",
        q.text
    );
    let a = w.control(crate::api::Request::AgentList);
    assert!(a.text.contains("paused (reason 4)"), "{}", a.text);
    assert!(a.text.contains("ringing"), "{}", a.text);
    assert!(a.text.contains("logged out"), "{}", a.text);
    let r = w.control(crate::api::Request::AgentLogin {
        agent: "alice".into(),
        queues: vec!["nope".into()],
    });
    assert!(!r.ok);
    assert_eq!(r.text, "no queue `nope`");
}

#[test]
fn an_ivr_option_puts_the_caller_in_the_queue_with_the_dial_plans_priority() {
    let mut w = queue_world("linear");
    let (_c, _out) = call(
        &mut w,
        "500",
        offer_sdp("192.0.2.10", 40000, "0 101", ""),
        "",
    );
    let session = session_of(&w);
    assert_eq!(plays(&w)[0].1, vec!["main-menu"]);
    w.media_event(MediaEvent::Dtmf {
        session,
        side: Side::A,
        digit: '2',
    });
    let sent = w.sent_messages();
    let bob = invites_to(&sent, BOB1);
    assert_eq!(bob.len(), 1, "the first agent rings");
    assert!(
        plays(&w)
            .iter()
            .any(|(_, p)| p.first().is_some_and(|x| x == "thank-you-for-waiting"))
    );
    let q = w.control(crate::api::Request::StatusQueues);
    assert!(q.text.contains("priority 5"), "{}", q.text);
    respond(
        &mut w,
        BOB1,
        &bob[0],
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    let cdr = &cdrs(&w)[0];
    assert_eq!(cdr.answered_by.as_deref(), Some("1002"));
    assert!(
        cdr.history.contains("ivr:front:menu[2]>queue:support")
            && cdr.history.contains(";queue:support;")
            && cdr.history.contains("agent:bob"),
        "{}",
        cdr.history
    );
}

#[test]
fn an_agent_who_transfers_the_caller_is_free_after_wrap_up_and_the_log_says_so() {
    let mut w = queue_world("linear");
    let out = call_queue_and_ack(&mut w);
    let bob = invites_to(&out, BOB1).remove(0);
    respond(
        &mut w,
        BOB1,
        &bob,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    w.run_for(Duration::from_secs(20));
    // Bob sends the caller to 1004 (not an agent), which answers.
    register(&mut w, "1004", DAVE, "r4");
    let refer = from_bob(
        &bob,
        "REFER",
        10,
        "Refer-To: <sip:1004@zvon.test>\nReferred-By: <sip:1002@zvon.test>\n",
        None,
    );
    let out = w.recv_any(addr(BOB1), Transport::Udp, &refer);
    let dave = invites_to(&out, DAVE)
        .pop()
        .unwrap_or_else(|| panic!("{out:#?}"));
    respond(
        &mut w,
        DAVE,
        &dave,
        200,
        "dave",
        Some(offer_sdp("192.0.2.40", 52000, "0 101", "")),
    );
    let ev = queue_events(&w);
    let t = ev
        .iter()
        .find(|(e, _, _)| e == "BLINDTRANSFER")
        .expect("transfer logged");
    assert_eq!(t.1, "bob");
    assert_eq!(t.2[0], "1004");
    assert!(!ev.iter().any(|(e, _, _)| e.starts_with("COMPLETE")));
    assert!(
        ev.iter()
            .any(|(e, a, d)| e == "WRAPUPSTART" && a == "bob" && d == &["5".to_string()])
    );
    let a = w.control(crate::api::Request::AgentList);
    assert!(a.text.contains("wrap-up"), "{}", a.text);
    // After the wrap-up Bob takes the next queue caller, while the first call goes on.
    w.run_for(Duration::from_secs(5));
    let a = w.control(crate::api::Request::AgentList);
    assert!(
        a.text
            .lines()
            .any(|l| l.contains("bob") && l.contains("available")),
        "{}",
        a.text
    );
}

#[test]
fn queue_counters_of_today_start_again_at_local_midnight() {
    let mut w = queue_world("linear");
    let (_c, out) = call(
        &mut w,
        "700",
        offer_sdp("192.0.2.10", 40000, "0 101", ""),
        "",
    );
    let bob = invites_to(&out, BOB1).remove(0);
    respond(
        &mut w,
        BOB1,
        &bob,
        200,
        "bob1",
        Some(offer_sdp("192.0.2.21", 50000, "0 101", "")),
    );
    let q = w.control(crate::api::Request::StatusQueues);
    assert!(q.text.contains("today 1 answered"), "{}", q.text);
    w.run_for(Duration::from_secs(25 * 3600));
    let q = w.control(crate::api::Request::StatusQueues);
    assert!(q.text.contains("today 0 answered"), "{}", q.text);
}

#[test]
fn a_queue_caller_asks_for_a_callback_hangs_up_and_is_called_back_and_connected() {
    let mut w = queue_world("linear");
    register(&mut w, "1001", ALICE, "r0");
    // Everyone busy: both agents paused.
    for a in ["bob", "carol"] {
        let r = w.control(crate::api::Request::AgentPause {
            agent: a.into(),
            reason: None,
        });
        assert!(r.ok);
    }
    call_queue_and_ack(&mut w);
    let session = session_of(&w);
    let first_uid = w
        .control(crate::api::Request::StatusQueues)
        .text
        .contains("1 waiting");
    assert!(first_uid);
    w.media_event(MediaEvent::Dtmf {
        session,
        side: Side::A,
        digit: '2',
    });
    assert_eq!(
        plays(&w).last().unwrap().1,
        [
            "callback-we-will-call",
            "num-1",
            "num-0",
            "num-0",
            "num-1",
            "callback-confirm-options"
        ]
    );
    w.media_event(MediaEvent::Dtmf {
        session,
        side: Side::A,
        digit: '1',
    });
    let (play, prompts) = plays(&w).last().unwrap().clone();
    assert_eq!(prompts, ["callback-keep-place"]);
    w.media_event(MediaEvent::PlayDone { session, id: play });
    let bye = w
        .sent_messages()
        .into_iter()
        .find(|(a, m)| *a == addr(ALICE) && m.method() == Some(&Method::Bye))
        .expect("Zvon hangs up after the confirmation")
        .1;
    respond(&mut w, ALICE, &bye, 200, "alice", None);
    w.media_event(MediaEvent::Closed {
        session,
        stats: Default::default(),
    });
    let q = w.control(crate::api::Request::StatusQueues);
    assert!(q.text.contains("callback to 1001"), "{}", q.text);
    // Carol is free again: Zvon calls Alice back first, Carol is kept for her.
    w.media.clear();
    let r = w.control(crate::api::Request::AgentUnpause {
        agent: "carol".into(),
    });
    assert!(r.ok);
    let sent = w.sent_messages();
    let inv = invites_to(&sent, ALICE)
        .pop()
        .expect("Zvon calls the customer back");
    assert!(
        invites_to(&sent, CAROL).is_empty(),
        "the agent rings only once the customer answers"
    );
    assert!(
        w.control(crate::api::Request::AgentList)
            .text
            .lines()
            .any(|l| l.contains("carol") && l.contains("ringing"))
    );
    respond(&mut w, ALICE, &inv, 180, "alice2", None);
    let out = respond(
        &mut w,
        ALICE,
        &inv,
        200,
        "alice2",
        Some(offer_sdp("192.0.2.10", 40002, "0 101", "")),
    );
    assert!(
        out.iter()
            .any(|(a, m)| *a == addr(ALICE) && m.method() == Some(&Method::Ack)),
        "the customer's answer is ACKed"
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Open { b: None, .. })),
        "media for the customer"
    );
    assert_eq!(plays(&w).last().unwrap().1, ["please-hold"]);
    let carol = invites_to(&out, CAROL).pop().expect("now Carol rings");
    w.media.clear();
    respond(
        &mut w,
        CAROL,
        &carol,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 50000, "0 101", "")),
    );
    assert!(
        w.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Update { side: Side::B, .. }))
    );
    w.run_for(Duration::from_secs(30));
    let cdr = end_all(&mut w);
    assert_eq!(cdr.len(), 2);
    let back = cdr
        .iter()
        .find(|r| r.history.starts_with("callback:"))
        .unwrap();
    let orig = cdr
        .iter()
        .find(|r| r.history.contains("callback-request:1001"))
        .unwrap();
    assert_eq!(
        back.linkedid, orig.uniqueid,
        "the callback is linked to the first call"
    );
    assert_eq!(back.answered_by.as_deref(), Some("1003"));
    assert!(back.history.contains("agent:carol"), "{}", back.history);
    let names: Vec<String> = queue_events(&w)
        .into_iter()
        .map(|(e, _, _)| e)
        .filter(|e| !e.contains("PAUSE"))
        .collect();
    assert_eq!(
        names,
        [
            "ENTERQUEUE",
            "CALLBACKREQUEST",
            "CALLBACKATTEMPT",
            "CALLBACKANSWER",
            "OFFER",
            "CONNECT",
            "COMPLETECALLER",
            "WRAPUPSTART"
        ]
    );
}

#[test]
fn the_dial_plan_can_ask_for_skills_per_call() {
    // 701 is the same queue, for German speakers.
    let mut cfg = queue_config("skills");
    cfg.dialplan = crate::dialplan::Plan::parse(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"701\"\naction = \"queue\"\n\
         target = \"support\"\nset = { skills = \"german:3, bogus:x\" }\n",
    )
    .unwrap();
    cfg.acd.agents[1].1.skills = [("german".to_string(), 4)].into();
    let mut w2 = World::new(&cfg);
    register(&mut w2, "1002", BOB1, "r1");
    register(&mut w2, "1003", CAROL, "r3");
    let (_c, out) = call(
        &mut w2,
        "701",
        offer_sdp("192.0.2.10", 40000, "0 101", ""),
        "",
    );
    assert!(invites_to(&out, BOB1).is_empty(), "Bob speaks no German");
    assert_eq!(invites_to(&out, CAROL).len(), 1);
}

#[test]
fn skills_variables_are_parsed_leniently() {
    let mut v = crate::dialplan::Vars::new();
    assert_eq!(crate::call::queue::skills_of(&v), None);
    v.insert("skills".into(), " english:2, billing ,x:0, :3".into());
    assert_eq!(
        crate::call::queue::skills_of(&v),
        Some([("english".to_string(), 2), ("billing".to_string(), 1)].into())
    );
}

#[test]
fn a_caller_who_hangs_up_in_the_ivr_leaves_the_path_so_far_in_the_cdr() {
    let mut w = ivr_world();
    let (_c, _out) = call(&mut w, "500", offer_sdp("192.0.2.10", 40000, "0", ""), "");
    let session = session_of(&w);
    let id = plays(&w)[0].0;
    w.media_event(MediaEvent::PlayDone { session, id });
    w.pbx.hangup_all(w.clock.now());
    w.drain();
    w.pbx.flush_cdrs(w.clock.now());
    w.drain();
    let cdr = &cdrs(&w)[0];
    assert_eq!(cdr.history.matches("ivr:").count(), 1, "{}", cdr.history);
    assert!(
        cdr.history.contains("ivr:front:hello>menu"),
        "{}",
        cdr.history
    );
}
