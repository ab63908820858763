//! Trunks through the real binary: SIPp instances play the provider (registrar, inbound
//! calls to DIDs, outbound calls with digest, failover), SIPp phones are the extensions.
//! Everything stays on 127.0.0.0/8; every wait is bounded.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use zvon::store::{CdrRecord, Disposition};

use crate::calls::{register_sipp, scenario, sipp, sipp_uac};
use crate::common::{Daemon, TestConfig, free_udp_port, sipp_dir};

const PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// The dial plan of these tests: phones dial `0…` out through the routes (when there are
/// routes: `zvon check` wants them) and extensions by number; provider calls to the DID
/// 4930123451 ring 1002.
fn dialplan(outbound: bool) -> String {
    let out = if outbound {
        "[[context.rule]]\nmatch = \"_0.\"\naction = \"outbound\"\n"
    } else {
        ""
    };
    format!(
        "[[context]]\nname = \"internal\"\n{out}\
         [[context.rule]]\nmatch = \"_X.\"\naction = \"extension\"\n\n\
         [[context]]\nname = \"from-provider\"\n\
         [[context.rule]]\nmatch = \"4930123451\"\naction = \"extension\"\ntarget = \"1002\"\n"
    )
}

/// A `[trunk.NAME]` at 127.0.0.1:`port`; `extra` adds keys.
fn trunk(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[trunk.{name}]\nhost = \"127.0.0.1\"\nport = {port}\ncontext = \"from-provider\"\n{extra}\n"
    )
}

/// Numbering for Germany, an international route (class international) and a national one.
fn routes(national_trunks: &str) -> String {
    format!(
        "[[route]]\nname = \"international\"\nmatch = [\"_00Z.\"]\ne164 = true\n\
         trunks = [\"prov\"]\nclass = \"international\"\n\n\
         [[route]]\nname = \"national\"\nmatch = [\"_0Z.\"]\ne164 = true\n\
         trunks = {national_trunks}\nclass = \"national\"\n"
    )
}

/// German numbering, the routes, and one trunk `prov` at `port` with `extra` keys.
fn one_trunk(port: u16, extra: &str) -> TestConfig {
    config(format!(
        "[numbering]\ncountry = \"49\"\n\n{}\n{}",
        trunk("prov", port, extra),
        routes("[\"prov\"]")
    ))
}

/// A provider scenario `name` that checks it is asked for +4930123456 by +4930123451 (what
/// 1001 dialling 030123456 must become).
fn expecting_030123456(dir: &Path, name: &str) -> std::path::PathBuf {
    scenario(
        dir,
        name,
        &[("@NUMBER@", r"\+4930123456"), ("@FROM@", r"\+4930123451")],
        false,
    )
}

fn config(trunks: String) -> TestConfig {
    TestConfig {
        dialplan: Some(dialplan(trunks.contains("[[route]]"))),
        trunks: Some(trunks),
        extension_keys: &[("1001", "caller_id = \"+4930123451\"")],
        ..TestConfig::default()
    }
}

/// A SIPp provider (UAS) on 127.0.0.1:`port` for one call of `sf`.
fn provider(sf: &Path, port: u16, extra: &[&str], cwd: &Path) -> Child {
    let mut args: Vec<String> = vec![
        "-sf".into(),
        sf.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-mp".into(),
        free_udp_port().to_string(),
        "-m".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    sipp(&args, cwd)
}

/// Waits for a SIPp run to end within `within` (killing it otherwise) and returns its output.
fn finish(mut child: Child, within: Duration, what: &str, d: &Daemon) -> Output {
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} still running after {within:?}:\n{}\n{}\nzvon log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                d.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[track_caller]
fn expect_success(out: &Output, what: &str, d: &Daemon) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}\nzvon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
}

/// A SIPp phone registered as `ext` that answers one call (media to a port nobody reads).
fn answering_phone(d: &Daemon, ext: &str) -> Child {
    let dir = d.dir.path();
    let port = free_udp_port();
    register_sipp(d, ext, port);
    let rtp = free_udp_port().to_string();
    let sf = scenario(dir, "uas_answer", &[("@RTP@", &rtp)], false);
    let callee = sipp(
        &[
            "-sf".into(),
            sf.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-m".into(),
            "1".into(),
        ],
        dir,
    );
    std::thread::sleep(Duration::from_millis(300));
    callee
}

/// A SIPp phone 1001 calling `number` (INVITE → 407 → INVITE with credentials → 200 → ACK,
/// 1.5 s + `pause_ms`, BYE).
fn call_from_1001(d: &Daemon, number: &str, pause_ms: u32) -> Child {
    let dir = d.dir.path();
    let uac = scenario(
        dir,
        "uac_call",
        &[
            ("@USER@", "1001"),
            ("@PASS@", "demo1001"),
            ("@TO@", number),
            ("@PCAP@", PCAP),
            ("@PAUSE@", &pause_ms.to_string()),
        ],
        false,
    );
    sipp_uac(d, &uac, 1, &[], dir)
}

/// The provider (SIPp bound to the trunk's address 127.0.0.1:`port`) calls `did` without
/// credentials and hangs up after `pause_ms`; its SDP offers `media` as the RTP port.
fn provider_call(d: &Daemon, port: u16, did: &str, media: &str, pause_ms: u32) -> Child {
    let dir = d.dir.path();
    let sf = scenario(
        dir,
        "provider_invite",
        &[
            ("@DID@", did),
            ("@CALLER@", "+4917612345"),
            ("@PAUSE@", &pause_ms.to_string()),
            ("@MEDIA@", media),
        ],
        false,
    );
    sipp(
        &[
            d.udp.to_string(),
            "-sf".into(),
            sf.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-mp".into(),
            free_udp_port().to_string(),
            "-m".into(),
            "1".into(),
        ],
        dir,
    )
}

fn stop_and_cdrs(d: &mut Daemon) -> Vec<CdrRecord> {
    assert_eq!(d.stop(), Some(0), "{}", d.log());
    zvon::store::cdrs(&d.db()).unwrap()
}

fn status_trunks(d: &Daemon) -> String {
    let (code, out, err) = d.ctl(&["status", "trunks"]);
    assert_eq!(code, Some(0), "zvon status trunks: {out}{err}");
    out
}

/// The parameters of a digest credential (`Digest a="b", c=d`).
fn digest_params(h: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut rest = h.trim().strip_prefix("Digest").expect("Digest credentials");
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        let (val, tail) = match v.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"').expect("closing quote");
                (&q[..end], &q[end + 1..])
            }
            None => {
                let end = v.find(',').unwrap_or(v.len());
                (v[..end].trim(), &v[end..])
            }
        };
        out.insert(k.trim().to_ascii_lowercase(), val.to_owned());
        rest = tail;
    }
    out
}

fn md5_hex(s: &str) -> String {
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(s.as_bytes()))
}

/// Registration to a provider: the digest challenge answered (checked by SIPp's verifyauth),
/// the refresh at 4/5 of the granted 4 s, and, after the provider went away and came back on
/// the same port, a new registration after the `retry` delay.
#[test]
fn registration_answers_the_digest_refreshes_and_registers_again_after_the_provider_restarts() {
    let port = free_udp_port();
    let work = tempfile::tempdir().unwrap();
    let sf = sipp_dir().join("provider_register.xml");
    // The provider listens before Zvon starts (Zvon registers at once).
    let prov = provider(&sf, port, &[], work.path());
    std::thread::sleep(Duration::from_millis(300));
    let tc = TestConfig {
        t1: Some("100ms"),
        ..config(trunk(
            "prov",
            port,
            "username = \"acc\"\npassword = \"secret\"\nregister = true\n\
             retry = \"1s\"\nretry_max = \"2s\"",
        ))
    };
    let mut d = Daemon::start(&tc);
    let ready = Instant::now();
    // First REGISTER, 200 with Expires: 4, the refresh at 3.2 s: then this provider exits.
    let out = finish(prov, Duration::from_secs(12), "provider (first run)", &d);
    let took = ready.elapsed();
    expect_success(&out, "provider (first run)", &d);
    assert!(
        took >= Duration::from_millis(3000) && took <= Duration::from_secs(6),
        "refresh due 3.2 s after the 200 (4/5 of Expires: 4), the provider ended after {took:?}"
    );
    assert!(
        d.wait_log("registered to the provider", Duration::from_secs(1)),
        "{}",
        d.log()
    );
    // The provider is gone: the next refresh (at ~6.5 s) times out (64*T1 = 6.4 s).
    assert!(
        d.wait_log("registration failed", Duration::from_secs(15)),
        "refresh to a vanished provider never failed; log:\n{}",
        d.log()
    );
    let st = status_trunks(&d);
    assert!(st.contains("FAILED no answer"), "{st}");
    // The provider comes back on the same port: Zvon registers again (retry 1 s, then 2 s).
    let prov = provider(&sf, port, &[], work.path());
    let out = finish(prov, Duration::from_secs(15), "provider (second run)", &d);
    expect_success(&out, "provider (second run)", &d);
    let st = status_trunks(&d);
    assert!(st.contains("prov"), "{st}");
    assert!(st.contains("registered, expires in"), "{st}");
    let log = d.log();
    assert_eq!(
        log.matches("registered to the provider").count(),
        2,
        "registered, failed, registered again:\n{log}"
    );
    assert_eq!(d.stop(), Some(0), "{}", d.log());
}

/// A provider's call to a DID, from the trunk's own address and without credentials, rings
/// the extension the trunk's dial-plan context names; the CDR keeps the caller's number.
#[test]
fn inbound_call_to_a_did_reaches_the_extension_without_a_challenge() {
    let port = free_udp_port();
    let mut d = Daemon::start(&config(trunk("prov", port, "")));
    let callee = answering_phone(&d, "1002");
    let prov = provider_call(&d, port, "4930123451", "[media_port]", 2000);
    let out = finish(prov, Duration::from_secs(20), "provider call", &d);
    expect_success(&out, "provider call", &d);
    let out = finish(callee, Duration::from_secs(10), "phone 1002", &d);
    expect_success(&out, "phone 1002", &d);
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let c = &cdrs[0];
    assert_eq!(c.disposition, Disposition::Answered, "{c:#?}");
    assert_eq!(c.caller, "+4917612345", "{c:#?}");
    assert_eq!(c.dialed, "4930123451", "{c:#?}");
    assert_eq!(c.answered_by.as_deref(), Some("1002"), "{c:#?}");
    assert!((2..=4).contains(&c.billsec), "billsec {}", c.billsec);
}

/// A provider's call to a DID the trunk's context sends to the IVR: answered, and the
/// welcome prompt is heard on the provider's side.
#[test]
fn inbound_call_to_a_did_of_the_ivr_hears_the_prompt() {
    let port = free_udp_port();
    let mut tc = config(trunk("prov", port, ""));
    tc.ivr = true; // writes the IVR `front` (its dial plan is replaced by ours)
    tc.dialplan = Some(format!(
        "{}[[context.rule]]\nmatch = \"4930123459\"\naction = \"ivr\"\ntarget = \"front\"\n",
        dialplan(false)
    ));
    let mut d = Daemon::start(&tc);
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let media = rtp.local_addr().unwrap().port().to_string();
    let prov = provider_call(&d, port, "4930123459", &media, 2500);
    // Count audio packets (PCMA) that are not silence while the call lasts.
    let (mut packets, mut loud) = (0, 0);
    let end = Instant::now() + Duration::from_secs(4);
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok(n) = rtp.recv(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 8 {
                packets += 1;
                // A-law silence is 0xD5/0x55 (±0); a prompt has other values.
                if buf[12..n]
                    .iter()
                    .any(|b| !matches!(b, 0xD5 | 0x55 | 0xD4 | 0x54))
                {
                    loud += 1;
                }
            }
        }
    }
    let out = finish(prov, Duration::from_secs(15), "provider call", &d);
    expect_success(&out, "provider call", &d);
    assert!(packets >= 50, "{packets} PCMA packets from the IVR");
    assert!(loud >= 25, "{loud} of {packets} packets carry sound");
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let c = &cdrs[0];
    assert_eq!(c.disposition, Disposition::Answered, "{c:#?}");
    assert_eq!(
        (c.caller.as_str(), c.dialed.as_str()),
        ("+4917612345", "4930123459")
    );
}

/// An outbound call through a provider that challenges with 407: Zvon answers with the
/// trunk's credentials, sends the number in E.164 and the extension's caller ID.
#[test]
fn outbound_call_answers_the_providers_challenge_with_e164_number_and_caller_id() {
    let port = free_udp_port();
    let tc = one_trunk(port, "username = \"acc\"\npassword = \"secret\"");
    let mut d = Daemon::start(&tc);
    let dir = d.dir.path().to_owned();
    let sf = expecting_030123456(&dir, "provider_uas_auth");
    let log = dir.join("provider.log");
    let prov = provider(
        &sf,
        port,
        &["-trace_logs", "-log_file", log.to_str().unwrap()],
        &dir,
    );
    std::thread::sleep(Duration::from_millis(300));
    let caller = call_from_1001(&d, "030123456", 1000);
    let out = finish(caller, Duration::from_secs(20), "phone 1001", &d);
    expect_success(&out, "phone 1001", &d);
    let out = finish(prov, Duration::from_secs(10), "provider", &d);
    expect_success(&out, "provider", &d);
    // SIPp's verifyauth reads Authorization only: the Proxy-Authorization is checked here.
    let text = std::fs::read_to_string(&log).unwrap();
    let line = |tag: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag} line in the provider's log:\n{text}"))
            .to_owned()
    };
    let ruri = line("RURI:");
    let p = digest_params(&line("PA:"));
    assert_eq!(p["username"], "acc", "{p:?}");
    assert_eq!(p["realm"], "prov", "{p:?}");
    assert_eq!(p["nonce"], "inv407nonce", "{p:?}");
    assert_eq!(p["uri"], ruri, "digest uri = Request-URI");
    assert_eq!(p["qop"], "auth", "{p:?}");
    let ha1 = md5_hex("acc:prov:secret");
    let ha2 = md5_hex(&format!("INVITE:{}", p["uri"]));
    let want = md5_hex(&format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        p["nonce"], p["nc"], p["cnonce"]
    ));
    assert_eq!(p["response"], want, "digest response for acc/secret: {p:?}");
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let c = &cdrs[0];
    assert_eq!(c.disposition, Disposition::Answered, "{c:#?}");
    assert_eq!(
        (c.caller.as_str(), c.dialed.as_str()),
        ("1001", "030123456")
    );
    assert!(c.history.contains("trunk:prov"), "{}", c.history);
}

/// The primary trunk answers 503: the call goes out through the secondary.
#[test]
fn outbound_call_fails_over_to_the_next_trunk_on_503() {
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let tc = config(format!(
        "[numbering]\ncountry = \"49\"\n\n{}\n{}\n{}\n{}",
        trunk("prov", free_udp_port(), ""),
        trunk("primary", p1, ""),
        trunk("secondary", p2, ""),
        routes("[\"primary\", \"secondary\"]")
    ));
    let mut d = Daemon::start(&tc);
    let dir = d.dir.path().to_owned();
    let primary = provider(&sipp_dir().join("provider_503.xml"), p1, &[], &dir);
    let sf = expecting_030123456(&dir, "provider_uas");
    let secondary = provider(&sf, p2, &[], &dir);
    std::thread::sleep(Duration::from_millis(300));
    let caller = call_from_1001(&d, "030123456", 1000);
    let out = finish(caller, Duration::from_secs(20), "phone 1001", &d);
    expect_success(&out, "phone 1001", &d);
    let out = finish(
        primary,
        Duration::from_secs(10),
        "primary provider (503)",
        &d,
    );
    expect_success(&out, "primary provider (503)", &d);
    let out = finish(secondary, Duration::from_secs(10), "secondary provider", &d);
    expect_success(&out, "secondary provider", &d);
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let c = &cdrs[0];
    assert_eq!(c.disposition, Disposition::Answered, "{c:#?}");
    assert!(
        c.history.contains("trunk:primary;trunk:secondary"),
        "{}",
        c.history
    );
}

/// An extension of class national dialling abroad: 403 after authentication, nothing sent to
/// the provider, a FAILED CDR naming the class of service.
#[test]
fn restricted_extension_dialling_international_gets_403_and_a_failed_cdr() {
    let port = free_udp_port();
    let tc = config(format!(
        "[numbering]\ncountry = \"49\"\n\n{}\n{}",
        trunk("prov", port, ""),
        routes("[\"prov\"]")
    ));
    let mut d = Daemon::start(&tc);
    let dir = d.dir.path().to_owned();
    // The provider's port: nothing may arrive there.
    let prov = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    prov.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let sf = scenario(
        &dir,
        "uac_refused",
        &[
            ("@USER@", "1003"),
            ("@PASS@", "demo1003"),
            ("@TO@", "0044207946"),
            ("@CODE@", "403"),
        ],
        false,
    );
    let caller = sipp_uac(&d, &sf, 1, &[], &dir);
    let out = finish(caller, Duration::from_secs(15), "phone 1003", &d);
    expect_success(&out, "phone 1003", &d);
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        if let Ok(n) = prov.recv(&mut buf) {
            panic!(
                "the provider got a message:\n{}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let c = &cdrs[0];
    assert_eq!(c.disposition, Disposition::Failed, "{c:#?}");
    assert_eq!(c.sip_code, Some(403), "{c:#?}");
    assert_eq!(
        (c.caller.as_str(), c.dialed.as_str()),
        ("1003", "0044207946")
    );
    assert!(
        c.hangup_cause.contains("class of service"),
        "{}",
        c.hangup_cause
    );
}

/// An INVITE to the DID from an address that is no trunk's is a stranger's: 407, and nothing
/// rings.
#[test]
fn invite_to_a_did_from_an_unknown_address_is_challenged_and_rings_nothing() {
    let port = free_udp_port();
    let mut d = Daemon::start(&config(trunk("prov", port, "")));
    let dir = d.dir.path().to_owned();
    // 1002 registered; its port then read by the test: no INVITE may arrive.
    let phone_port = free_udp_port();
    register_sipp(&d, "1002", phone_port);
    let phone = UdpSocket::bind(("127.0.0.1", phone_port)).unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let sf = scenario(
        &dir,
        "uac_challenged",
        &[("@DID@", "4930123451"), ("@CALLER@", "+4917612345")],
        false,
    );
    // From 127.0.0.3 (no trunk there), and from the trunk's IP but another port.
    for ip in ["127.0.0.3", "127.0.0.1"] {
        let stranger = sipp(
            &[
                d.udp.to_string(),
                "-sf".into(),
                sf.display().to_string(),
                "-i".into(),
                ip.into(),
                "-p".into(),
                free_udp_port().to_string(),
                "-mp".into(),
                free_udp_port().to_string(),
                "-m".into(),
                "1".into(),
            ],
            &dir,
        );
        let out = finish(stranger, Duration::from_secs(10), ip, &d);
        expect_success(&out, &format!("stranger on {ip}"), &d);
    }
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if let Ok(n) = phone.recv(&mut buf) {
            panic!(
                "phone 1002 got a message:\n{}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }
    let cdrs = stop_and_cdrs(&mut d);
    assert!(
        cdrs.iter().all(|c| c.answered_by.is_none()),
        "nothing may be answered: {cdrs:#?}"
    );
    assert!(cdrs.is_empty(), "a challenged INVITE is no call: {cdrs:#?}");
}

/// A trunk with `transport = "tcp"`: Zvon connects to the provider (SIPp listening on TCP)
/// and the call goes out over that connection.
#[test]
fn outbound_call_over_a_tcp_trunk() {
    let port = free_udp_port();
    let tc = one_trunk(port, "transport = \"tcp\"");
    let mut d = Daemon::start(&tc);
    let dir = d.dir.path().to_owned();
    let sf = expecting_030123456(&dir, "provider_uas");
    let prov = provider(&sf, port, &["-t", "t1"], &dir);
    std::thread::sleep(Duration::from_millis(300));
    let caller = call_from_1001(&d, "030123456", 1000);
    let out = finish(caller, Duration::from_secs(20), "phone 1001", &d);
    expect_success(&out, "phone 1001", &d);
    let out = finish(prov, Duration::from_secs(10), "provider over TCP", &d);
    expect_success(&out, "provider over TCP", &d);
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    assert_eq!(cdrs[0].disposition, Disposition::Answered, "{:#?}", cdrs[0]);
}
