//! World tests of trunks: registration, inbound DIDs, outbound calls with digest, failover,
//! channel and toll-fraud limits, on the virtual clock.

use std::net::SocketAddr;
use std::time::Duration;

use crate::call::tests::{
    ALICE, BOB1, addr, call_from, cdrs, invites_to, offer_sdp, register, to_alice,
};
use crate::core::Input;
use crate::sip::Transport;
use crate::sip::auth::{self, DigestParams, Verdict};
use crate::sip::msg::{Credentials, HeaderName, Message, Method};
use crate::store::Disposition;
use crate::testkit::world::{PBX, World, config};
use crate::trunk::route::tests::trunk;
use crate::trunk::{CallerIdPolicy, Class, Emergency, Limits, Numbering, OutRoute, TrunksConfig};

const PROV: &str = "198.51.100.1:5060";
const BACKUP: &str = "198.51.100.2:5060";

fn route(name: &str, pat: &str, class: Class, trunks: &[&str]) -> OutRoute {
    OutRoute {
        name: name.into(),
        patterns: vec![crate::dialplan::Pattern::parse(pat).unwrap()],
        strip: 0,
        prepend: String::new(),
        e164: true,
        trunks: trunks.iter().map(|t| t.to_string()).collect(),
        class,
        caller_id: CallerIdPolicy::Extension,
        at: Default::default(),
    }
}

pub(crate) fn trunks_config() -> TrunksConfig {
    let mut prov = trunk("prov");
    prov.host = "198.51.100.1".into();
    prov.port = 5060;
    prov.context = "internal".into();
    prov.max_channels = 2;
    prov.pai = true;
    let mut backup = trunk("backup");
    backup.host = "198.51.100.2".into();
    backup.port = 5060;
    backup.domain = "backup.example".into();
    backup.context = "internal".into();
    backup.username = Some("bk".into());
    backup.password = Some(crate::config::Secret::new("bkpw"));
    TrunksConfig {
        trunks: [("prov".into(), prov), ("backup".into(), backup)].into(),
        routes: vec![
            route("international", "_00Z.", Class::International, &["prov"]),
            route("national", "_0Z.", Class::National, &["prov", "backup"]),
            route("e164", "_+49.", Class::National, &["backup", "prov"]),
        ],
        numbering: Numbering {
            country: "49".into(),
            area: Some("30".into()),
            ..Numbering::default()
        },
        default_class: Class::National,
        limits: Limits {
            per_extension: 1,
            total: 0,
        },
        emergency: Emergency {
            numbers: vec!["112".into()],
            trunks: vec!["backup".into(), "prov".into()],
        },
    }
}

/// The runtime's part: both trunks resolved, our address 127.0.0.1:5060 towards them.
fn resolve_trunks(w: &mut World) {
    for (t, a) in [("prov", PROV), ("backup", BACKUP)] {
        let now = w.clock.now();
        w.pbx.handle_input(
            now,
            Input::TrunkAddress {
                trunk: t.into(),
                remote: vec![addr(a)],
                local: Some(addr(PBX)),
            },
        );
    }
}

/// A world with trunks `prov` and `backup` resolved, Bob (1002) registered, and 1001's
/// outbound caller ID set.
pub(crate) fn trunk_world(cfg: &mut crate::config::Config) -> World {
    cfg.trunks = trunks_config();
    let mut w = World::new(cfg);
    resolve_trunks(&mut w);
    w.drain();
    if let Some(e) = w.pbx.s.extensions.get_mut("1001") {
        e.caller_id = Some("+4930123451".into());
    }
    register(&mut w, "1002", BOB1, "r1");
    w
}

/// A provider's response to `req` with extra header lines and an optional SDP body.
fn answer(
    w: &mut World,
    from: &str,
    req: &Message,
    code: u16,
    extra: &[String],
    sdp: Option<String>,
) -> Vec<(SocketAddr, Message)> {
    let mut rsp = crate::sip::msg::response_for(
        req,
        code,
        crate::sip::msg::default_reason(code),
        Some("prov1"),
    );
    for e in extra {
        let (n, v) = e.split_once(": ").unwrap();
        rsp.headers.push(HeaderName::parse(n), v.to_owned());
    }
    if let Some(s) = sdp {
        rsp.headers
            .push(HeaderName::Contact, format!("<sip:gw@{from}>"));
        rsp.headers.push(HeaderName::ContentType, "application/sdp");
        rsp.body = bytes::Bytes::from(s);
    }
    let text = String::from_utf8(rsp.to_bytes().to_vec()).unwrap();
    w.recv_any(addr(from), Transport::Udp, &text)
}

fn verify(m: &Message, header: HeaderName, method: &str, password: &str) -> Verdict {
    let c = Credentials::parse(m.headers.get(&header).expect("credentials")).unwrap();
    let p = DigestParams::from_credentials(&c);
    auth::verify(&p, method, b"", password)
}

fn sent_to(w: &World, who: &str, method: Method) -> Vec<Message> {
    w.sent_messages()
        .into_iter()
        .filter(|(a, m)| *a == addr(who) && m.method() == Some(&method))
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn emergency_call_answers_the_digest_challenge_fails_over_on_503_and_leaves_a_cdr() {
    let mut cfg = config(0, &[]);
    let mut w = trunk_world(&mut cfg);
    // 1001 is "internal": no outbound call at all, but emergency numbers always go out.
    w.pbx.s.extensions.get_mut("1001").unwrap().class = Some(Class::Internal);
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "112",
        &offer_sdp("192.0.2.10", 40000, "0 101", ""),
        ("al", "c1"),
    );
    assert_eq!(to_alice(&out)[0].status(), Some(100));
    let inv = invites_to(&out, BACKUP);
    assert_eq!(
        inv.len(),
        1,
        "the designated emergency trunk first: {out:?}"
    );
    let inv = &inv[0];
    assert_eq!(
        inv.request_uri().unwrap().to_string(),
        "sip:112@backup.example"
    );
    assert_eq!(
        inv.from().unwrap().uri.to_string(),
        "sip:+4930123451@backup.example",
        "the extension's caller ID"
    );
    assert_eq!(inv.to().unwrap().uri.to_string(), "sip:112@backup.example");
    // The provider challenges: Zvon ACKs the 407 and sends the INVITE again with credentials.
    let ch = "Proxy-Authenticate: Digest realm=\"backup\", nonce=\"n1\", qop=\"auth\"".to_string();
    let out = answer(&mut w, BACKUP, inv, 407, &[ch], None);
    let acks: Vec<_> = out
        .iter()
        .filter(|(_, m)| m.method() == Some(&Method::Ack))
        .collect();
    assert_eq!(acks.len(), 1, "{out:?}");
    let inv2 = invites_to(&out, BACKUP).remove(0);
    assert_eq!(inv2.cseq().unwrap().seq, inv.cseq().unwrap().seq + 1);
    assert_eq!(inv2.call_id(), inv.call_id());
    assert_ne!(
        inv2.top_via().unwrap().branch(),
        inv.top_via().unwrap().branch()
    );
    assert_eq!(
        verify(&inv2, HeaderName::ProxyAuthorization, "INVITE", "bkpw"),
        Verdict::Ok
    );
    // 503 from the backup trunk: on to the next trunk of the list.
    let out = answer(&mut w, BACKUP, &inv2, 503, &[], None);
    let inv3 = invites_to(&out, PROV);
    assert_eq!(inv3.len(), 1, "failover to prov: {out:?}");
    let inv3 = inv3[0].clone();
    assert_eq!(
        inv3.request_uri().unwrap().to_string(),
        "sip:112@prov.example"
    );
    let pai = inv3
        .headers
        .get(&HeaderName::parse("P-Asserted-Identity"))
        .unwrap();
    assert!(pai.contains("sip:+4930123451@prov.example"), "{pai}");
    answer(&mut w, PROV, &inv3, 180, &[], None);
    let out = answer(
        &mut w,
        PROV,
        &inv3,
        200,
        &[],
        Some(offer_sdp("198.51.100.1", 30000, "0 101", "")),
    );
    let ok = to_alice(&out)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("Alice gets 200")
        .clone();
    assert!(sent_to(&w, PROV, Method::Ack).len() == 1);
    let status = w.control(crate::api::Request::StatusTrunks).text;
    assert!(
        status.contains("prov") && status.contains("1/2"),
        "{status}"
    );
    // The provider hangs up.
    let bye = format!(
        "BYE sip:1001@{PBX} SIP/2.0\nVia: SIP/2.0/UDP {PROV};branch=z9hG4bKpb\nMax-Forwards: 70\n\
         From: <sip:112@prov.example>;tag=prov1\nTo: {}\nCall-ID: {}\nCSeq: 9 BYE\nContent-Length: 0\n\n",
        inv3.headers.get(&HeaderName::From).unwrap(),
        inv3.call_id().unwrap()
    );
    w.clock.advance(Duration::from_secs(42));
    w.recv_any(addr(PROV), Transport::Udp, &bye);
    let _ = ok;
    w.run_for(Duration::from_secs(5));
    let c = cdrs(&w);
    let c = c.last().expect("a CDR");
    assert_eq!(c.disposition, Disposition::Answered);
    assert_eq!((c.caller.as_str(), c.dialed.as_str()), ("1001", "112"));
    assert_eq!(c.billsec, 42);
    assert!(
        c.history
            .contains("outbound:emergency;trunk:backup;trunk:prov"),
        "{}",
        c.history
    );
}

#[test]
fn inbound_call_from_the_provider_needs_no_digest_and_routes_the_did() {
    let mut cfg = config(0, &[]);
    let mut w = trunk_world(&mut cfg);
    let sdp = offer_sdp("198.51.100.1", 31000, "8 101", "");
    let inv = |from: &str, branch: &str| {
        format!(
            "INVITE sip:1002@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {from};branch={branch}\nMax-Forwards: 70\n\
             From: <sip:+4917612345@prov.example>;tag=pc\nTo: <sip:4930123450@prov.example>\nCall-ID: in-{branch}\n\
             CSeq: 1 INVITE\nContact: <sip:+4917612345@{from}>\nContent-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
            sdp.len()
        )
    };
    let out = w.recv_any(addr(PROV), Transport::Udp, &inv(PROV, "z9hG4bKin1"));
    assert_eq!(
        out[0].1.status(),
        Some(100),
        "no challenge for the provider: {out:?}"
    );
    let b = invites_to(&out, BOB1);
    assert_eq!(b.len(), 1, "the DID in the Request-URI rang 1002");
    assert!(
        b[0].from()
            .unwrap()
            .uri
            .to_string()
            .starts_with("sip:+4917612345@"),
        "caller number kept"
    );
    // The same INVITE from another address (or port) is a stranger: digest challenge, nothing rings.
    let out = w.recv_any(
        addr("198.51.100.1:5999"),
        Transport::Udp,
        &inv("198.51.100.1:5999", "z9hG4bKin2"),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.status(), Some(407));
    let out = w.recv_any(
        addr("203.0.113.9:5060"),
        Transport::Udp,
        &inv("203.0.113.9:5060", "z9hG4bKin3"),
    );
    assert_eq!(
        out.iter().map(|(_, m)| m.status()).collect::<Vec<_>>(),
        [Some(407)]
    );
    // A DID taken from the To header, when the trunk says so: 4930123450 is no number here.
    w.pbx.trunks.cfg.trunks.get_mut("prov").unwrap().did = crate::trunk::DidSource::To;
    let out = w.recv_any(addr(PROV), Transport::Udp, &inv(PROV, "z9hG4bKin4"));
    let codes: Vec<_> = out.iter().filter_map(|(_, m)| m.status()).collect();
    assert_eq!(codes, [100, 404], "{out:?}");
}

#[test]
fn registration_answers_the_challenge_refreshes_and_recovers_after_the_provider_restarts() {
    let mut cfg = config(0, &[]);
    cfg.trunks = trunks_config();
    let p = cfg.trunks.trunks.get_mut("prov").unwrap();
    p.register = true;
    p.retry = Duration::from_secs(20);
    let mut w = World::new(&cfg);
    let now = w.clock.now();
    w.pbx.handle_input(
        now,
        Input::TrunkAddress {
            trunk: "prov".into(),
            remote: vec![addr(PROV)],
            local: Some(addr(PBX)),
        },
    );
    w.sent.clear();
    w.run_for(Duration::ZERO);
    let reg = sent_to(&w, PROV, Method::Register);
    assert_eq!(reg.len(), 1, "REGISTER at once");
    let reg = reg[0].clone();
    assert_eq!(
        reg.headers.get(&HeaderName::Contact),
        Some(&*format!("<sip:acc@{PBX}>"))
    );
    let ch = "WWW-Authenticate: Digest realm=\"prov\", nonce=\"r1\", qop=\"auth\"".to_string();
    let out = answer(&mut w, PROV, &reg, 401, &[ch], None);
    let reg2 = out
        .into_iter()
        .find(|(_, m)| m.method() == Some(&Method::Register))
        .unwrap()
        .1;
    assert_eq!(
        verify(&reg2, HeaderName::Authorization, "REGISTER", "pw"),
        Verdict::Ok
    );
    answer(
        &mut w,
        PROV,
        &reg2,
        200,
        &[format!("Contact: <sip:acc@{PBX}>;expires=100")],
        None,
    );
    let st = w.control(crate::api::Request::StatusTrunks).text;
    assert!(st.contains("registered, expires in 100s"), "{st}");
    let overview = w.control(crate::api::Request::Status).text;
    assert!(
        overview.contains("prov           up, registered, 0 channels in use"),
        "{overview}"
    );
    // Refresh at 80 s (4/5 of the granted expiry), not before.
    w.sent.clear();
    w.run_for(Duration::from_secs(79));
    assert!(sent_to(&w, PROV, Method::Register).is_empty());
    w.run_for(Duration::from_secs(1));
    let r3 = sent_to(&w, PROV, Method::Register);
    assert_eq!(r3.len(), 1);
    assert_eq!(
        r3[0].call_id(),
        reg.call_id(),
        "same Call-ID for the registration's life"
    );
    // The provider restarted and forgot us: it does not answer at all (64*T1 = 32 s).
    w.sent.clear();
    w.run_for(Duration::from_secs(33));
    let st = w.control(crate::api::Request::StatusTrunks).text;
    assert!(st.contains("FAILED no answer"), "{st}");
    // Retry 20 s later, then it answers again with a new challenge: registered again.
    w.sent.clear();
    w.run_for(Duration::from_secs(20));
    let r4 = sent_to(&w, PROV, Method::Register);
    assert!(!r4.is_empty(), "retried after `retry`");
    let r4 = r4.last().unwrap().clone();
    let ch2 = "WWW-Authenticate: Digest realm=\"prov\", nonce=\"r2\", qop=\"auth\"".to_string();
    let out = answer(&mut w, PROV, &r4, 401, &[ch2], None);
    let r5 = out
        .into_iter()
        .find(|(_, m)| m.method() == Some(&Method::Register))
        .unwrap()
        .1;
    answer(&mut w, PROV, &r5, 200, &["Expires: 300".to_string()], None);
    let st = w.control(crate::api::Request::StatusTrunks).text;
    assert!(st.contains("registered, expires in 300s"), "{st}");
    // Shutdown: unregister, authenticated with the last challenge.
    w.sent.clear();
    let now = w.clock.now();
    w.pbx.hangup_all(now);
    w.drain();
    let bye = sent_to(&w, PROV, Method::Register);
    assert_eq!(bye.len(), 1);
    assert_eq!(bye[0].headers.get(&HeaderName::Expires), Some("0"));
    assert_eq!(
        verify(&bye[0], HeaderName::Authorization, "REGISTER", "pw"),
        Verdict::Ok
    );
}

/// A world whose dial plan sends numbers starting with 0 to the outbound routes.
fn outbound_world() -> World {
    let mut cfg = config(0, &[]);
    cfg.dialplan = crate::dialplan::Plan::parse(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"_0.\"\naction = \"outbound\"\n\
         [[context.rule]]\nmatch = \"_X.\"\naction = \"extension\"\n",
    )
    .unwrap();
    trunk_world(&mut cfg)
}

fn failed_cdr(w: &World, dialed: &str) -> crate::store::CdrRecord {
    cdrs(w)
        .into_iter()
        .find(|c| c.dialed == dialed)
        .unwrap_or_else(|| panic!("a CDR for {dialed}"))
}

#[test]
fn outbound_route_normalises_the_number_and_presents_the_caller_id() {
    let mut w = outbound_world();
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "030123456",
        &offer_sdp("192.0.2.10", 40000, "0", ""),
        ("o1", "c-o1"),
    );
    let inv = invites_to(&out, PROV);
    assert_eq!(inv.len(), 1, "{out:?}");
    assert_eq!(
        inv[0].request_uri().unwrap().to_string(),
        "sip:+4930123456@prov.example"
    );
    assert_eq!(
        inv[0].from().unwrap().uri.to_string(),
        "sip:+4930123451@prov.example"
    );
    // The same number for a trunk that wants national format and a fixed From user.
    let p = w.pbx.trunks.cfg.trunks.get_mut("prov").unwrap();
    p.number_format = crate::trunk::NumberFormat::National;
    p.from_user = Some("4930123450".into());
    let out = call_from(
        &mut w,
        BOB1,
        "1002",
        "030999",
        &offer_sdp("192.0.2.21", 40002, "0", ""),
        ("o2", "c-o2"),
    );
    let inv = invites_to(&out, PROV);
    assert_eq!(
        inv[0].request_uri().unwrap().to_string(),
        "sip:030999@prov.example"
    );
    assert_eq!(
        inv[0].from().unwrap().uri.user.as_deref(),
        Some("4930123450")
    );
    // 1002 has no caller ID of its own: the company number goes into P-Asserted-Identity.
    let pai = inv[0]
        .headers
        .get(&HeaderName::parse("P-Asserted-Identity"))
        .unwrap();
    assert!(pai.contains("sip:+4930123450@"), "{pai}");
}

#[test]
fn class_of_service_denies_international_with_403_and_a_failed_cdr() {
    let mut w = outbound_world();
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "0044207946",
        &offer_sdp("192.0.2.10", 40000, "0", ""),
        ("i1", "c-i1"),
    );
    let codes: Vec<_> = to_alice(&out).iter().filter_map(|m| m.status()).collect();
    assert_eq!(codes, [100, 403], "{out:?}");
    assert!(invites_to(&out, PROV).is_empty() && invites_to(&out, BACKUP).is_empty());
    let c = failed_cdr(&w, "0044207946");
    assert_eq!(c.disposition, Disposition::Failed);
    assert_eq!(c.sip_code, Some(403));
    assert!(
        c.hangup_cause.contains("international"),
        "{}",
        c.hangup_cause
    );
    // Given the class, the same call goes out.
    w.pbx.s.extensions.get_mut("1001").unwrap().class = Some(Class::International);
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "0044207946",
        &offer_sdp("192.0.2.10", 40000, "0", ""),
        ("i2", "c-i2"),
    );
    assert_eq!(
        invites_to(&out, PROV)[0]
            .request_uri()
            .unwrap()
            .user
            .as_deref(),
        Some("+44207946")
    );
    // An "internal" extension cannot call out at all.
    w.pbx.s.extensions.get_mut("1002").unwrap().class = Some(Class::Internal);
    let out = call_from(
        &mut w,
        BOB1,
        "1002",
        "030123",
        &offer_sdp("192.0.2.21", 40002, "0", ""),
        ("i3", "c-i3"),
    );
    assert_eq!(to_alice(&out).len(), 0);
    let codes: Vec<_> = out.iter().filter_map(|(_, m)| m.status()).collect();
    assert_eq!(codes, [100, 403]);
    let st = w.control(crate::api::Request::StatusTrunks).text;
    assert!(
        st.contains("0 by toll-fraud limits, 2 by class of service"),
        "{st}"
    );
}

#[test]
fn toll_fraud_limit_refuses_the_second_concurrent_call_and_counts_it() {
    let mut w = outbound_world();
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "030111",
        &offer_sdp("192.0.2.10", 40000, "0", ""),
        ("t1", "c-t1"),
    );
    assert_eq!(invites_to(&out, PROV).len(), 1);
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "030222",
        &offer_sdp("192.0.2.10", 40010, "0", ""),
        ("t2", "c-t2"),
    );
    let codes: Vec<_> = to_alice(&out).iter().filter_map(|m| m.status()).collect();
    assert_eq!(codes, [100, 403], "per_extension = 1");
    let c = failed_cdr(&w, "030222");
    assert!(
        c.hangup_cause.contains("toll-fraud limit"),
        "{}",
        c.hangup_cause
    );
    // Emergency calls are never limited.
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "112",
        &offer_sdp("192.0.2.10", 40020, "0", ""),
        ("t3", "c-t3"),
    );
    assert_eq!(invites_to(&out, BACKUP).len(), 1);
    let st = w.control(crate::api::Request::StatusTrunks).text;
    assert!(st.contains("1 by toll-fraud limits"), "{st}");
}

#[test]
fn channel_limit_and_timeouts_move_calls_to_the_next_trunk() {
    let mut w = outbound_world();
    w.pbx
        .trunks
        .cfg
        .trunks
        .get_mut("prov")
        .unwrap()
        .max_channels = 1;
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "030111",
        &offer_sdp("192.0.2.10", 40000, "0", ""),
        ("m1", "c-m1"),
    );
    assert_eq!(invites_to(&out, PROV).len(), 1);
    // prov is full: Bob's call goes to backup, the second trunk of the route.
    let out = call_from(
        &mut w,
        BOB1,
        "1002",
        "030222",
        &offer_sdp("192.0.2.21", 40002, "0", ""),
        ("m2", "c-m2"),
    );
    assert!(invites_to(&out, PROV).is_empty());
    let inv = invites_to(&out, BACKUP);
    assert_eq!(inv.len(), 1, "{out:?}");
    assert_eq!(
        inv[0].request_uri().unwrap().to_string(),
        "sip:+4930222@backup.example"
    );
    // Alice's call through prov gets no answer at all: after Timer B (64*T1) it moves to
    // backup too.
    w.sent.clear();
    w.run_for(Duration::from_secs(33));
    let to_backup = sent_to(&w, BACKUP, Method::Invite);
    assert!(
        to_backup
            .iter()
            .any(|m| m.request_uri().unwrap().to_string() == "sip:+4930111@backup.example"),
        "{to_backup:?}"
    );
    // Both trunks fail with 503: Alice gets the 503, the CDR is FAILED with both trunks tried.
    let inv = to_backup
        .into_iter()
        .find(|m| m.request_uri().unwrap().user.as_deref() == Some("+4930111"))
        .unwrap();
    let out = answer(&mut w, BACKUP, &inv, 503, &[], None);
    let codes: Vec<_> = to_alice(&out).iter().filter_map(|m| m.status()).collect();
    assert_eq!(codes, [503], "{out:?}");
    let c = failed_cdr(&w, "030111");
    assert!(
        c.history.contains("trunk:prov;trunk:backup"),
        "{}",
        c.history
    );
    assert_ne!(c.disposition, Disposition::Answered);
}

#[test]
fn a_trunk_down_by_its_options_checks_is_skipped_until_it_answers_again() {
    let mut cfg = config(0, &[]);
    cfg.dialplan = crate::dialplan::Plan::parse(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"_0.\"\naction = \"outbound\"\n",
    )
    .unwrap();
    cfg.trunks = trunks_config();
    let p = cfg.trunks.trunks.get_mut("prov").unwrap();
    p.qualify = Duration::from_secs(30);
    p.qualify_failures = 1;
    let mut w = World::new(&cfg);
    resolve_trunks(&mut w);
    w.sent.clear();
    w.run_for(Duration::ZERO);
    let ping = sent_to(&w, PROV, Method::Options);
    assert_eq!(ping.len(), 1, "OPTIONS at once");
    assert_eq!(
        ping[0].request_uri().unwrap().to_string(),
        "sip:prov.example"
    );
    // Unanswered (64*T1): down.
    w.run_for(Duration::from_secs(33));
    let st = w.control(crate::api::Request::StatusTrunks).text;
    assert!(
        st.lines()
            .any(|l| l.starts_with("prov") && l.contains("DOWN")),
        "{st}"
    );
    let out = call_from(
        &mut w,
        ALICE,
        "1001",
        "030123",
        &offer_sdp("192.0.2.10", 40000, "0", ""),
        ("h1", "c-h1"),
    );
    assert!(invites_to(&out, PROV).is_empty(), "a down trunk is skipped");
    assert_eq!(invites_to(&out, BACKUP).len(), 1);
    // The next ping is answered (even a 404 proves it alive): up, and used first again.
    w.sent.clear();
    w.run_for(Duration::from_secs(30));
    let ping = sent_to(&w, PROV, Method::Options);
    let branches: std::collections::BTreeSet<_> = ping
        .iter()
        .map(|m| m.top_via().unwrap().branch().unwrap().to_owned())
        .collect();
    assert_eq!(branches.len(), 1, "one OPTIONS (and its retransmissions)");
    answer(&mut w, PROV, &ping[0], 404, &[], None);
    let st = w.control(crate::api::Request::StatusTrunks).text;
    assert!(
        st.lines()
            .any(|l| l.starts_with("prov") && l.contains(" up")),
        "{st}"
    );
    let out = call_from(
        &mut w,
        BOB1,
        "1002",
        "030456",
        &offer_sdp("192.0.2.21", 40002, "0", ""),
        ("h2", "c-h2"),
    );
    assert_eq!(invites_to(&out, PROV).len(), 1, "{out:?}");
}

#[test]
fn a_provider_caller_asks_for_a_callback_and_is_called_back_through_the_trunks() {
    use crate::media::{MediaEvent, Side};
    let mut cfg = crate::call::tests::queue_config("linear");
    cfg.trunks = trunks_config();
    let mut w = World::new(&cfg);
    resolve_trunks(&mut w);
    register(&mut w, "1003", crate::call::tests::CAROL, "r3");
    let r = w.control(crate::api::Request::AgentPause {
        agent: "carol".into(),
        reason: None,
    });
    assert!(r.ok);
    // A customer calls the queue's DID (700 here) from the public network.
    let sdp = offer_sdp("198.51.100.1", 31000, "0 101", "");
    let inv = format!(
        "INVITE sip:700@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {PROV};branch=z9hG4bKcb1\nMax-Forwards: 70\n\
         From: <sip:+4917612345@prov.example>;tag=cust\nTo: <sip:700@prov.example>\nCall-ID: cb-in\n\
         CSeq: 1 INVITE\nContact: <sip:+4917612345@{PROV}>\nContent-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
        sdp.len()
    );
    let out = w.recv_any(addr(PROV), Transport::Udp, &inv);
    let ok = out
        .iter()
        .find(|(_, m)| m.status() == Some(200))
        .expect("the queue answers")
        .1
        .clone();
    let ack = format!(
        "ACK sip:700@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {PROV};branch=z9hG4bKcb2\nMax-Forwards: 70\n\
         From: <sip:+4917612345@prov.example>;tag=cust\nTo: <sip:700@prov.example>;tag={}\nCall-ID: cb-in\n\
         CSeq: 1 ACK\nContent-Length: 0\n\n",
        ok.to().unwrap().tag().unwrap()
    );
    w.recv_any(addr(PROV), Transport::Udp, &ack);
    let session = crate::call::tests::session_of(&w);
    for digit in ['2', '1'] {
        w.media_event(MediaEvent::Dtmf {
            session,
            side: Side::A,
            digit,
        });
    }
    let (play, prompts) = crate::call::tests::plays(&w).last().unwrap().clone();
    assert_eq!(prompts, ["callback-keep-place"]);
    w.media_event(MediaEvent::PlayDone { session, id: play });
    let bye = w
        .sent_messages()
        .into_iter()
        .find(|(a, m)| *a == addr(PROV) && m.method() == Some(&Method::Bye))
        .expect("hung up")
        .1;
    answer(&mut w, PROV, &bye, 200, &[], None);
    w.media_event(MediaEvent::Closed {
        session,
        stats: Default::default(),
    });
    // Carol is free: Zvon calls the customer back out through the route's first trunk, with the
    // company number as caller ID.
    let r = w.control(crate::api::Request::AgentUnpause {
        agent: "carol".into(),
    });
    assert!(r.ok);
    let sent = w.sent_messages();
    let inv = invites_to(&sent, BACKUP)
        .pop()
        .expect("the callback goes out through backup");
    assert_eq!(
        inv.request_uri().unwrap().to_string(),
        "sip:+4917612345@backup.example"
    );
    assert_eq!(inv.from().unwrap().uri.user.as_deref(), Some("+4930123450"));
    // backup fails: on to prov, which answers.
    let out = answer(&mut w, BACKUP, &inv, 503, &[], None);
    let inv = invites_to(&out, PROV).pop().expect("failover to prov");
    let out = answer(
        &mut w,
        PROV,
        &inv,
        200,
        &[],
        Some(offer_sdp("198.51.100.1", 31002, "0 101", "")),
    );
    let carol = invites_to(&out, crate::call::tests::CAROL)
        .pop()
        .expect("now Carol rings");
    crate::call::tests::respond(
        &mut w,
        crate::call::tests::CAROL,
        &carol,
        200,
        "carol",
        Some(offer_sdp("10.0.0.30", 50000, "0 101", "")),
    );
    w.run_for(Duration::from_secs(20));
    let cdr = crate::call::tests::end_all(&mut w);
    let back = cdr
        .iter()
        .find(|r| r.history.starts_with("callback:"))
        .expect("the callback's CDR");
    assert_eq!(back.answered_by.as_deref(), Some("1003"));
    assert!(
        back.history.contains("trunk:backup;trunk:prov"),
        "{}",
        back.history
    );
    let first = cdr
        .iter()
        .find(|r| r.history.contains("callback-request"))
        .unwrap();
    assert!(first.history.starts_with("trunk:prov"), "{}", first.history);
    assert_eq!(back.linkedid, first.uniqueid);
}

#[test]
fn a_tcp_trunk_gets_its_requests_over_tcp() {
    let mut cfg = config(0, &[]);
    cfg.trunks = trunks_config();
    let p = cfg.trunks.trunks.get_mut("prov").unwrap();
    p.transport = Transport::Tcp;
    p.register = true;
    let mut w = World::new(&cfg);
    resolve_trunks(&mut w);
    w.sent.clear();
    w.run_for(Duration::ZERO);
    let t: Vec<_> = w.sent.iter().filter(|t| t.remote == addr(PROV)).collect();
    assert_eq!(
        t.len(),
        1,
        "one REGISTER, no retransmissions over a reliable transport"
    );
    assert_eq!(t[0].transport, Transport::Tcp);
    let m = crate::sip::msg::parse(&t[0].data, &Default::default()).unwrap();
    assert!(
        m.headers
            .get(&HeaderName::Via)
            .unwrap()
            .starts_with("SIP/2.0/TCP ")
    );
    assert_eq!(
        m.headers.get(&HeaderName::Contact),
        Some(&*format!("<sip:acc@{PBX};transport=tcp>"))
    );
    w.run_for(Duration::from_secs(10));
    assert_eq!(
        w.sent.iter().filter(|t| t.remote == addr(PROV)).count(),
        1,
        "still one"
    );
}

#[test]
fn inbound_calls_over_the_trunks_channel_limit_get_503_and_a_failed_cdr() {
    let mut cfg = config(0, &[]);
    let mut w = trunk_world(&mut cfg);
    let sdp = offer_sdp("198.51.100.1", 31000, "0", "");
    let inv = |n: u32| {
        format!(
            "INVITE sip:1002@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {PROV};branch=z9hG4bKlim{n}\nMax-Forwards: 70\n\
             From: <sip:+491761000{n}@prov.example>;tag=l{n}\nTo: <sip:1002@prov.example>\nCall-ID: lim-{n}\n\
             CSeq: 1 INVITE\nContact: <sip:+491761000{n}@{PROV}>\nContent-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
            sdp.len()
        )
    };
    // prov has max_channels = 2: two calls ring Bob, the third is refused.
    for n in 1..=2 {
        let out = w.recv_any(addr(PROV), Transport::Udp, &inv(n));
        assert_eq!(invites_to(&out, BOB1).len(), 1, "call {n} rings");
    }
    let out = w.recv_any(addr(PROV), Transport::Udp, &inv(3));
    let codes: Vec<_> = out.iter().filter_map(|(_, m)| m.status()).collect();
    assert_eq!(codes, [100, 503], "{out:?}");
    assert!(invites_to(&out, BOB1).is_empty());
    let c = failed_cdr(&w, "1002");
    assert_eq!(c.disposition, Disposition::Failed);
    assert_eq!(c.hangup_cause, "trunk channel limit");
    assert_eq!(c.caller, "+4917610003");
}
