//! Engine tests on a virtual clock: a scripted phone talks to the real `Pbx`.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::sip::auth::{DigestParams, client_response};
use crate::testkit::world::{PBX, World, config};

fn register(user: &str, from: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:zvon.test SIP/2.0\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{call_id}{cseq};rport\n\
         Max-Forwards: 70\nFrom: <sip:{user}@zvon.test>;tag=ft\nTo: <sip:{user}@zvon.test>\n\
         Call-ID: {call_id}\nCSeq: {cseq} REGISTER\nContact: <sip:{user}@192.168.1.50:5060;ob>\n\
         {extra}Content-Length: 0\n\n"
    )
}

fn authorization(challenge: &Message, user: &str, password: &str) -> String {
    let www = challenge.headers.get(&HeaderName::WwwAuthenticate).unwrap();
    let nonce = www
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
        uri: "sip:zvon.test",
        response: "",
        algorithm: Some("MD5"),
        qop: Some("auth"),
        nc: Some("00000001"),
        cnonce: Some("c0ffee"),
    };
    let r = client_response(&p, "REGISTER", password);
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"zvon.test\", nonce=\"{nonce}\", \
         uri=\"sip:zvon.test\", response=\"{r}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\n"
    )
}

/// REGISTER → 401 → REGISTER with credentials; returns the final response.
fn login(
    w: &mut World,
    user: &str,
    password: &str,
    from: &str,
    call_id: &str,
    extra: &str,
) -> Message {
    let r = w.recv(
        from,
        Transport::Udp,
        &register(user, from, call_id, 1, extra),
    );
    assert_eq!(r[0].status(), Some(401));
    let auth = authorization(&r[0], user, password);
    let r = w.recv(
        from,
        Transport::Udp,
        &register(user, from, call_id, 2, &format!("{auth}{extra}")),
    );
    assert_eq!(r.len(), 1);
    r.into_iter().next().unwrap()
}

#[test]
fn register_challenge_then_200_with_contact_date_and_store_row() {
    let mut w = World::new(&config(5, &[]));
    let ok = login(
        &mut w,
        "1001",
        "pw1001",
        "198.51.100.9:40000",
        "c1",
        "Expires: 300\n",
    );
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.headers.get(&HeaderName::Contact),
        Some("<sip:1001@192.168.1.50:5060;ob>;expires=300")
    );
    assert!(
        ok.headers
            .get(&HeaderName::Date)
            .is_some_and(|d| d.ends_with("GMT"))
    );
    assert!(ok.to().unwrap().tag().is_some());
    // NAT: the reply goes to the source, and the Via says where the request came from.
    assert_eq!(
        w.sent[0].remote,
        "198.51.100.9:40000".parse::<SocketAddr>().unwrap()
    );
    let via = ok.top_via().unwrap();
    assert_eq!(via.received(), Some("198.51.100.9"));
    assert_eq!(via.rport(), Some(Some(40000)));
    let b = &w.pbx.registrar().bindings("1001")[0];
    assert_eq!(
        b.flow.remote,
        "198.51.100.9:40000".parse::<SocketAddr>().unwrap()
    );
    assert!(
        w.store
            .iter()
            .any(|s| matches!(s, StoreCommand::PutBinding(r) if r.aor == "1001"))
    );
}

#[test]
fn retransmitted_register_is_absorbed_and_answered_identically() {
    let mut w = World::new(&config(5, &[]));
    let from = "198.51.100.9:40000";
    let r = w.recv(from, Transport::Udp, &register("1001", from, "c1", 1, ""));
    let auth = authorization(&r[0], "1001", "pw1001");
    let req = register("1001", from, "c1", 2, &auth);
    let first = w.recv(from, Transport::Udp, &req);
    let first_bytes = w.sent[0].data.clone();
    let again = w.recv(from, Transport::Udp, &req);
    assert_eq!(first[0].status(), Some(200));
    assert_eq!(again.len(), 1);
    assert_eq!(
        w.sent[0].data, first_bytes,
        "a retransmission gets the same bytes"
    );
    assert_eq!(w.pbx.stats().registrations, 1);
    assert_eq!(w.pbx.stats().retransmissions, 1);
}

#[test]
fn server_transactions_end_after_timer_j_on_udp_and_at_once_on_tcp() {
    let mut w = World::new(&config(5, &[]));
    w.recv(
        "198.51.100.9:40000",
        Transport::Udp,
        &register("1001", "198.51.100.9:40000", "u", 1, ""),
    );
    assert_eq!(w.pbx.transactions(), 1);
    w.run_for(Duration::from_millis(31_900));
    assert_eq!(w.pbx.transactions(), 1);
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.pbx.transactions(), 0, "Timer J = 64*T1");
    let tcp = register("1001", "198.51.100.9:40001", "t", 1, "").replace("UDP", "TCP");
    w.recv("198.51.100.9:40001", Transport::Tcp, &tcp);
    assert_eq!(w.pbx.transactions(), 0);
}

#[test]
fn wrong_password_unknown_user_and_foreign_aor_look_the_same() {
    let mut w = World::new(&config(0, &[]));
    let shape = |m: &Message| {
        let mut names: Vec<String> = m
            .headers
            .0
            .iter()
            .map(|h| h.name.as_str().to_owned())
            .collect();
        names.sort();
        (m.status(), names)
    };
    let a = login(&mut w, "1001", "wrong", "198.51.100.9:1", "a", "");
    let b = login(&mut w, "4711", "whatever", "198.51.100.9:2", "b", "");
    assert_eq!(a.status(), Some(403));
    assert_eq!(shape(&a), shape(&b));
    // Valid credentials of 1002 used to register 1001.
    let r = w.recv(
        "198.51.100.9:3",
        Transport::Udp,
        &register("1001", "198.51.100.9:3", "c", 1, ""),
    );
    let auth = authorization(&r[0], "1002", "pw1002");
    let r = w.recv(
        "198.51.100.9:3",
        Transport::Udp,
        &register("1001", "198.51.100.9:3", "c", 2, &auth),
    );
    assert_eq!(shape(&r[0]), shape(&a));
    // 1003 may only register from 10.0.0.0/8.
    let c = login(&mut w, "1003", "pw1003", "198.51.100.9:4", "d", "");
    assert_eq!(shape(&c), shape(&a));
    let ok = login(&mut w, "1003", "pw1003", "10.1.2.3:5060", "e", "");
    assert_eq!(ok.status(), Some(200));
    assert!(w.pbx.registrar().bindings("1001").is_empty());
}

#[test]
fn expired_nonce_gets_stale_challenge_and_forged_nonce_a_fresh_one() {
    let mut w = World::new(&config(5, &[]));
    let from = "198.51.100.9:40000";
    let r = w.recv(from, Transport::Udp, &register("1001", from, "c1", 1, ""));
    let auth = authorization(&r[0], "1001", "pw1001");
    w.run_for(Duration::from_secs(301));
    let r = w.recv(
        from,
        Transport::Udp,
        &register("1001", from, "c1", 2, &auth),
    );
    assert_eq!(r[0].status(), Some(401));
    assert!(
        r[0].headers
            .get(&HeaderName::WwwAuthenticate)
            .unwrap()
            .contains("stale=true")
    );
    let forged = auth.replace("nonce=\"", "nonce=\"00");
    let r = w.recv(
        from,
        Transport::Udp,
        &register("1001", from, "c1", 3, &forged),
    );
    assert_eq!(r[0].status(), Some(401));
    assert!(
        !r[0]
            .headers
            .get(&HeaderName::WwwAuthenticate)
            .unwrap()
            .contains("stale")
    );
    assert_eq!(
        w.pbx.stats().auth_failures,
        0,
        "stale or foreign nonces are not failures"
    );
}

#[test]
fn challenge_offers_the_configured_algorithms_in_order() {
    let mut cfg = config(5, &[]);
    cfg.security.digest = vec![Algorithm::Md5, Algorithm::Sha256];
    let mut w = World::new(&cfg);
    let r = w.recv(
        "198.51.100.9:1",
        Transport::Udp,
        &register("1001", "198.51.100.9:1", "x", 1, ""),
    );
    let ch: Vec<&str> = r[0].headers.get_all(&HeaderName::WwwAuthenticate).collect();
    assert_eq!(ch.len(), 2);
    assert!(
        ch[0].contains("algorithm=MD5") && ch[1].contains("algorithm=SHA-256"),
        "{ch:?}"
    );
    assert!(
        ch.iter()
            .all(|c| c.contains("realm=\"zvon.test\"") && c.contains("qop=\"auth\""))
    );
}

#[test]
fn brute_force_is_banned_then_released_and_trusted_never() {
    let mut w = World::new(&config(3, &["10.0.0.0/8"]));
    for i in 0..3 {
        let r = login(
            &mut w,
            "1001",
            "guess",
            "198.51.100.66:5060",
            &format!("b{i}"),
            "",
        );
        assert_eq!(r.status(), Some(403));
    }
    let r = w.recv(
        "198.51.100.66:5060",
        Transport::Udp,
        &register("1001", "198.51.100.66:5060", "z", 1, ""),
    );
    assert!(r.is_empty(), "banned source must be ignored");
    assert!(
        w.store
            .iter()
            .any(|s| matches!(s, StoreCommand::Security(e) if e.kind == "ban"))
    );
    for i in 0..6 {
        let r = login(
            &mut w,
            "1001",
            "guess",
            "10.9.9.9:5060",
            &format!("t{i}"),
            "",
        );
        assert_eq!(r.status(), Some(403), "trusted network is never banned");
    }
    w.run_for(Duration::from_secs(600));
    let r = w.recv(
        "198.51.100.66:5060",
        Transport::Udp,
        &register("1001", "198.51.100.66:5060", "y", 1, ""),
    );
    assert_eq!(r[0].status(), Some(401), "ban lifted after ban_time");
    assert!(
        w.store
            .iter()
            .any(|s| matches!(s, StoreCommand::Security(e) if e.kind == "unban"))
    );
}

#[test]
fn options_unknown_and_unsupported_methods() {
    let mut w = World::new(&config(5, &[]));
    let req = |m: &str, to_tag: &str| {
        format!(
            "{m} sip:zvon.test SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bK{m}{to_tag}\n\
             Max-Forwards: 70\nFrom: <sip:1001@zvon.test>;tag=a\nTo: <sip:zvon.test>{to_tag}\n\
             Call-ID: m{m}{to_tag}\nCSeq: 1 {m}\nContent-Length: 0\n\n"
        )
    };
    let r = w.recv("198.51.100.9:5060", Transport::Udp, &req("OPTIONS", ""));
    assert_eq!(r[0].status(), Some(200));
    assert_eq!(r[0].headers.get(&HeaderName::Allow), Some(ALLOW));
    assert_eq!(
        r[0].headers.get(&HeaderName::Accept),
        Some("application/sdp")
    );
    assert!(r[0].headers.get(&HeaderName::Supported).is_some());
    let r = w.recv("198.51.100.9:5060", Transport::Udp, &req("FROBNICATE", ""));
    assert_eq!(r[0].status(), Some(501));
    let r = w.recv("198.51.100.9:5060", Transport::Udp, &req("PUBLISH", ""));
    assert_eq!(r[0].status(), Some(405));
    assert_eq!(r[0].headers.get(&HeaderName::Allow), Some(ALLOW));
    // SUBSCRIBE to a package we do not serve (RFC 6665 §4.2.1.1).
    let r = w.recv("198.51.100.9:5060", Transport::Udp, &req("SUBSCRIBE", ""));
    assert_eq!(r[0].status(), Some(489));
    let r = w.recv("198.51.100.9:5060", Transport::Udp, &req("BYE", ";tag=zz"));
    assert_eq!(r[0].status(), Some(481));
    let with_require = req("OPTIONS", "")
        .replace("z9hG4bKOPTIONS", "z9hG4bKreq")
        .replace("Content-Length", "Require: 100rel, foo\nContent-Length");
    let r = w.recv("198.51.100.9:5060", Transport::Udp, &with_require);
    assert_eq!(r[0].status(), Some(420));
    assert_eq!(
        r[0].headers.get(&HeaderName::Unsupported),
        Some("100rel, foo")
    );
}

#[test]
fn unauthenticated_invite_gets_407_retransmitted_until_its_ack() {
    let mut w = World::new(&config(5, &[]));
    let inv = "INVITE sip:1002@zvon.test SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKinv1\n\
               Max-Forwards: 70\nFrom: <sip:1001@zvon.test>;tag=a\nTo: <sip:1002@zvon.test>\n\
               Call-ID: inv1\nCSeq: 1 INVITE\nContent-Length: 0\n\n";
    let r = w.recv("198.51.100.9:5060", Transport::Udp, inv);
    assert_eq!(r[0].status(), Some(407));
    assert!(r[0].headers.get(&HeaderName::ProxyAuthenticate).is_some());
    let tag = r[0].to().unwrap().tag().unwrap().to_owned();
    // The final response is retransmitted until the ACK arrives (Timer G).
    w.run_for(Duration::from_millis(600));
    assert_eq!(w.sent.len(), 2);
    assert_eq!(w.sent[0].data, w.sent[1].data);
    let ack = format!(
        "ACK sip:1002@zvon.test SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKinv1\n\
         Max-Forwards: 70\nFrom: <sip:1001@zvon.test>;tag=a\nTo: <sip:1002@zvon.test>;tag={tag}\n\
         Call-ID: inv1\nCSeq: 1 ACK\nContent-Length: 0\n\n"
    );
    assert!(w.recv("198.51.100.9:5060", Transport::Udp, &ack).is_empty());
    w.run_for(Duration::from_secs(10));
    assert!(w.sent.is_empty(), "no retransmission after the ACK");
    assert_eq!(w.pbx.transactions(), 0);
}

#[test]
fn malformed_requests_get_400_and_garbage_is_counted() {
    let mut w = World::new(&config(5, &[]));
    let bad = "OPTIONS sip:zvon.test SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKbad\n\
               Max-Forwards: 70\nFrom: <sip:1001@zvon.test>;tag=a\nTo: <sip:zvon.test>\n\
               Call-ID: bad\nCSeq: 1 INVITE\nContent-Length: 0\n\n";
    let r = w.recv("198.51.100.9:5060", Transport::Udp, bad);
    assert_eq!(r[0].status(), Some(400));
    let StartLine::Response { reason, .. } = &r[0].start else {
        panic!()
    };
    assert!(reason.contains("CSeq"), "{reason}");
    for junk in ["\u{0}\u{1}garbage", "INVITE", "SIP/2.0 200\n\n", "\r\n\r\n"] {
        w.recv("198.51.100.9:5060", Transport::Udp, junk);
    }
    assert!(w.pbx.stats().parse_errors >= 2);
    let huge = format!("OPTIONS sip:x SIP/2.0\n{}\n\n", "X-Pad: y\n".repeat(400));
    assert!(
        w.recv("198.51.100.9:5060", Transport::Udp, &huge)
            .is_empty()
    );
}

#[test]
fn bindings_expire_exactly_and_423_names_min_expires() {
    let mut w = World::new(&config(5, &[]));
    let ok = login(
        &mut w,
        "1001",
        "pw1001",
        "198.51.100.9:40000",
        "c1",
        "Expires: 120\n",
    );
    assert_eq!(ok.status(), Some(200));
    let brief = login(
        &mut w,
        "1002",
        "pw1002",
        "198.51.100.9:40001",
        "c2",
        "Expires: 10\n",
    );
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.headers.get(&HeaderName::MinExpires), Some("60"));
    w.run_for(Duration::from_millis(119_900));
    assert_eq!(w.pbx.registrar().len(), 1);
    w.run_for(Duration::from_millis(200));
    assert_eq!(w.pbx.registrar().len(), 0);
    assert!(
        w.store
            .iter()
            .any(|s| matches!(s, StoreCommand::DeleteBinding { aor, .. } if aor == "1001"))
    );
}

#[test]
fn qualify_pings_contacts_and_marks_silent_ones_unreachable() {
    let mut w = World::new(&config(5, &[]));
    login(
        &mut w,
        "1001",
        "pw1001",
        "198.51.100.9:40000",
        "c1",
        "Expires: 3600\n",
    );
    w.sent.clear();
    w.run_for(Duration::from_secs(30));
    let pings: Vec<_> = w
        .sent
        .iter()
        .filter(|t| t.data.starts_with(b"OPTIONS "))
        .collect();
    assert_eq!(pings.len(), 1);
    assert_eq!(
        pings[0].remote,
        "198.51.100.9:40000".parse::<SocketAddr>().unwrap()
    );
    let ping = msg::parse(&pings[0].data, &Limits::default()).unwrap();
    // Answer this one.
    let mut ok = msg::response_for(&ping, 200, "OK", Some("p"));
    ok.headers
        .set(HeaderName::Via, ping.headers.get(&HeaderName::Via).unwrap());
    let text = String::from_utf8(ok.to_bytes().to_vec())
        .unwrap()
        .replace("\r\n", "\n");
    w.recv("198.51.100.9:40000", Transport::Udp, &text);
    assert!(w.pbx.registrar().bindings("1001")[0].reachable);
    // Then go silent: two unanswered pings (each retransmitted until Timer F) → unreachable.
    w.run_for(Duration::from_secs(95));
    assert!(!w.pbx.registrar().bindings("1001")[0].reachable);
}

#[test]
fn default_challenge_is_md5_only_and_sha256_answers_need_sha256_enabled() {
    let mut w = World::new(&config(0, &[]));
    let from = "198.51.100.9:1";
    let r = w.recv(from, Transport::Udp, &register("1001", from, "x", 1, ""));
    let ch: Vec<&str> = r[0].headers.get_all(&HeaderName::WwwAuthenticate).collect();
    assert_eq!(ch.len(), 1);
    assert!(ch[0].contains("algorithm=MD5"));
    let nonce = ch[0]
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let sha = |w: &mut World, cseq: u32| {
        let p = DigestParams {
            username: "1001",
            realm: "zvon.test",
            nonce: &nonce,
            uri: "sip:zvon.test",
            response: "",
            algorithm: Some("SHA-256"),
            qop: Some("auth"),
            nc: Some("00000001"),
            cnonce: Some("c"),
        };
        let resp = client_response(&p, "REGISTER", "pw1001");
        let auth = format!(
            "Authorization: Digest username=\"1001\", realm=\"zvon.test\", nonce=\"{nonce}\", \
             uri=\"sip:zvon.test\", response=\"{resp}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c\"\n"
        );
        w.recv(
            from,
            Transport::Udp,
            &register("1001", from, "x", cseq, &auth),
        )[0]
        .status()
    };
    assert_eq!(sha(&mut w, 2), Some(403));
    let mut cfg = config(0, &[]);
    cfg.security.digest = vec![Algorithm::Sha256];
    let mut w2 = World::new(&cfg);
    // Same seed → same nonce secret, so the nonce above is valid here too.
    assert_eq!(sha(&mut w2, 2), Some(200));
}

fn data_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir);
    let mut v: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat" || e == "sip"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no test data in {}", root.display());
    v
}

fn feed(w: &mut World, data: &[u8]) -> Vec<Transmit> {
    w.sent.clear();
    let d = Datagram {
        transport: Transport::Udp,
        local: PBX.parse().unwrap(),
        remote: "198.51.100.20:5060".parse().unwrap(),
        data: Bytes::copy_from_slice(data),
    };
    w.pbx.handle_input(w.clock.now(), Input::Datagram(d));
    w.drain();
    std::mem::take(&mut w.sent)
}

/// RFC 4475 §3.1.1: every valid torture request is answered, and never with 400.
#[test]
fn rfc4475_valid_messages_are_answered_without_400() {
    let mut w = World::new(&config(0, &[]));
    for (name, data) in data_files("rfc4475/valid") {
        let before = w.pbx.stats();
        let sent = feed(&mut w, &data);
        let after = w.pbx.stats();
        assert_eq!(
            after.parse_errors, before.parse_errors,
            "{name} was dropped as unparseable"
        );
        for t in &sent {
            let m = msg::parse(&t.data, &Limits::default()).unwrap();
            assert_ne!(m.status(), Some(400), "{name} got 400");
        }
    }
}

/// RFC 4475 §3.1.2: every invalid message gets a 400 when it can be routed, or is dropped
/// and counted — and the engine keeps working afterwards.
#[test]
fn rfc4475_invalid_messages_get_400_or_a_counted_drop() {
    let mut w = World::new(&config(0, &[]));
    for (name, data) in data_files("rfc4475/invalid") {
        let before = w.pbx.stats();
        let sent = feed(&mut w, &data);
        let after = w.pbx.stats();
        let counted = after.parse_errors > before.parse_errors
            || after.bad_requests > before.bad_requests
            || after.stray_responses > before.stray_responses;
        let statuses: Vec<_> = sent
            .iter()
            .filter_map(|t| msg::parse(&t.data, &Limits::default()).ok()?.status())
            .collect();
        assert!(
            counted,
            "{name}: neither answered with 400 nor counted: {statuses:?}"
        );
        if after.bad_requests > before.bad_requests && !statuses.is_empty() {
            assert_eq!(statuses, [400], "{name}");
        }
    }
    let r = login(&mut w, "1001", "pw1001", "198.51.100.9:40000", "after", "");
    assert_eq!(
        r.status(),
        Some(200),
        "engine still serves after the torture set"
    );
}

/// Captured REGISTERs of real phones (compact headers, `;ob`, `+sip.instance`, long
/// `Supported`, stale credentials from another server) each get a fresh challenge.
#[test]
fn real_phone_registers_get_a_challenge() {
    let mut w = World::new(&config(0, &[]));
    for (name, data) in data_files("phones") {
        let data = String::from_utf8(data).unwrap();
        let data = if data.contains("\r\n") {
            data
        } else {
            data.replace('\n', "\r\n")
        };
        let sent = feed(&mut w, data.as_bytes());
        assert_eq!(sent.len(), 1, "{name}");
        let m = msg::parse(&sent[0].data, &Limits::default()).unwrap();
        assert_eq!(m.status(), Some(401), "{name}");
    }
}

/// `Input::Control` is answered by `Output::ControlReply` with the same id; `status` shows
/// the registration, its contact and the counters; the ACD commands say they are missing.
#[test]
fn control_status_reports_registrations_and_counters() {
    let mut w = World::new(&config(5, &[]));
    let empty = w.control(crate::api::Request::Status);
    assert!(empty.ok, "{}", empty.text);
    assert!(
        empty
            .text
            .contains("registrations: 0 contacts on 0 of 4 extensions"),
        "{}",
        empty.text
    );
    let ok = login(
        &mut w,
        "1001",
        "pw1001",
        "198.51.100.9:40000",
        "c1",
        "User-Agent: Test\u{1b}[2JPhone\nExpires: 300\n",
    );
    assert_eq!(ok.status(), Some(200));
    w.run_for(Duration::from_secs(13));
    let st = w.control(crate::api::Request::Status);
    assert!(st.ok);
    let text = &st.text;
    assert!(text.starts_with("zvon "), "{text}");
    assert!(text.contains("up 13s"), "{text}");
    assert!(
        text.contains("registrations: 1 contact on 1 of 4 extensions"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("1001"))
        .unwrap_or_else(|| panic!("no contact line for 1001:\n{text}"));
    for want in [
        "sip:1001@192.168.1.50:5060;ob",
        "udp 198.51.100.9:40000",
        "expires in 4m 47s",
        "Test\\u{1b}[2JPhone",
    ] {
        assert!(line.contains(want), "{want:?} not in {line:?}");
    }
    assert!(
        !text.contains('\u{1b}'),
        "escape reached the admin's terminal"
    );
    assert!(text.contains("calls: 0 active"), "{text}");
    let counter = |name: &str| -> u64 {
        let l = text.lines().find(|l| l.contains(name)).unwrap();
        l.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert_eq!(counter("REGISTERs accepted"), 1);
    assert_eq!(counter("messages received"), 2);
    assert_eq!(counter("auth failures"), 0);

    // The reply carries the request's id, even with several in flight.
    for id in [7, 3] {
        w.pbx.handle_input(
            w.clock.now(),
            Input::Control {
                id,
                request: crate::api::Request::AgentList,
            },
        );
    }
    w.drain();
    let ids: Vec<u64> = w.control.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [7, 3]);
    for (_, r) in w.control.drain(..) {
        assert_eq!(
            r,
            crate::api::Response::ok("no agents are configured (queues.toml)")
        );
    }
}
