//! The registrar against SIPp: auth, bindings, expiry limits, persistence, bans.

use std::net::UdpSocket;
use std::time::Duration;

use crate::common::{Daemon, Sipp, TestConfig, free_udp_port, inf};

#[test]
fn register_with_right_password_gets_200_with_contact_over_udp_and_tcp() {
    let d = Daemon::start(&TestConfig::default());
    let f = inf(d.dir.path(), "u.csv", &[("1001", "demo1001", 300, "")]);
    Sipp::new("reg_ok.xml", d.udp, &f).expect_ok();
    let mut tcp = Sipp::new("reg_ok.xml", d.tcp, &f);
    tcp.transport = "t1";
    tcp.expect_ok();
    assert!(d.log().contains("registration changed"), "{}", d.log());
    assert!(!d.log().contains("demo1001"), "a password reached the log");
}

#[test]
fn wrong_password_and_unknown_user_get_identical_answers() {
    let d = Daemon::start(&TestConfig {
        ban_failures: 0,
        ..TestConfig::default()
    });
    let wrong = inf(
        d.dir.path(),
        "w.csv",
        &[("1001", "not-the-password", 300, "")],
    );
    let unknown = inf(d.dir.path(), "n.csv", &[("7777", "whatever", 300, "")]);
    let (mw, mn) = (d.dir.path().join("w.log"), d.dir.path().join("n.log"));
    let mut s = Sipp::new("reg_forbidden.xml", d.udp, &wrong);
    s.message_file = Some(&mw);
    s.expect_ok();
    let mut s = Sipp::new("reg_forbidden.xml", d.udp, &unknown);
    s.message_file = Some(&mn);
    s.expect_ok();
    let (a, b) = (responses(&mw), responses(&mn));
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        a, b,
        "a scanner could tell a wrong password from an unknown user"
    );
}

/// Status line and header names (with values that are not per-request) of every response
/// SIPp logged.
fn responses(log: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(log).unwrap();
    let mut out = Vec::new();
    for block in text.split("received").skip(1) {
        let Some(start) = block.find("SIP/2.0 ") else {
            continue;
        };
        let msg = &block[start..];
        let mut lines = msg.lines();
        let mut shape = vec![lines.next().unwrap().trim().to_owned()];
        for l in lines {
            if l.trim().is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            let keep = match name.trim().to_ascii_lowercase().as_str() {
                "www-authenticate" => value
                    .split(',')
                    .map(|p| p.trim().split('=').next().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()
                    .join(","),
                "server" | "content-length" => value.trim().to_owned(),
                _ => String::new(),
            };
            shape.push(format!("{}:{keep}", name.trim()));
        }
        out.push(shape);
    }
    out
}

#[test]
fn reregister_unregister_one_and_all() {
    let d = Daemon::start(&TestConfig::default());
    let f = inf(d.dir.path(), "u.csv", &[("1002", "demo1002", 300, "")]);
    Sipp::new("reg_lifecycle.xml", d.udp, &f).expect_ok();
}

#[test]
fn too_short_expires_gets_423_with_min_expires() {
    let d = Daemon::start(&TestConfig {
        min_expires: 120,
        ..TestConfig::default()
    });
    let f = inf(d.dir.path(), "u.csv", &[("1003", "demo1003", 30, "")]);
    let log = d.dir.path().join("m.log");
    let mut s = Sipp::new("reg_brief.xml", d.udp, &f);
    s.message_file = Some(&log);
    s.expect_ok();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Min-Expires: 120"), "{text}");
}

#[test]
fn binding_survives_a_restart() {
    let tc = TestConfig::default();
    let d = Daemon::start(&tc);
    let port = free_udp_port();
    let f = inf(d.dir.path(), "u.csv", &[("1001", "demo1001", 3600, "")]);
    let mut s = Sipp::new("reg_ok.xml", d.udp, &f);
    s.local_port = Some(port);
    s.expect_ok();
    let d = d.restart(&tc);
    assert!(d.log().contains("bindings=1"), "{}", d.log());
    let q = inf(d.dir.path(), "q.csv", &[("1001", "demo1001", 0, "")]);
    let log = d.dir.path().join("q.log");
    let mut s = Sipp::new("reg_query.xml", d.udp, &q);
    s.message_file = Some(&log);
    s.expect_ok();
    let text = std::fs::read_to_string(&log).unwrap();
    let want = format!("Contact: <sip:1001@127.0.0.1:{port};transport=UDP>;expires=");
    assert!(
        text.contains(&want),
        "binding lost across the restart:\n{text}"
    );
}

/// A raw REGISTER from `from`: true if anything came back within `wait`.
fn answered(from: &str, to: std::net::SocketAddr, wait: Duration) -> bool {
    let s = UdpSocket::bind((from, 0)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let me = s.local_addr().unwrap();
    let msg = format!(
        "REGISTER sip:zvon.test SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-probe{}\r\n\
         From: <sip:1001@zvon.test>;tag=p\r\nTo: <sip:1001@zvon.test>\r\nCall-ID: probe-{}\r\n\
         CSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        me.port(),
        me.port()
    );
    s.send_to(msg.as_bytes(), to).unwrap();
    let mut buf = [0u8; 4096];
    s.recv_from(&mut buf).is_ok()
}

#[test]
fn brute_force_source_is_banned_but_trusted_network_is_not() {
    let d = Daemon::start(&TestConfig {
        ban_failures: 3,
        ..TestConfig::default()
    });
    let wrong = inf(d.dir.path(), "w.csv", &[("1001", "guess", 300, "")]);
    assert!(answered("127.0.0.2", d.udp, Duration::from_secs(2)));
    let mut attacker = Sipp::new("reg_forbidden.xml", d.udp, &wrong);
    attacker.local_ip = "127.0.0.2";
    attacker.calls = 3;
    attacker.expect_ok();
    assert!(d.wait_log("banned", Duration::from_secs(2)), "{}", d.log());
    assert!(
        !answered("127.0.0.2", d.udp, Duration::from_millis(1500)),
        "banned source still answered"
    );
    // The trusted address fails five times and is still answered.
    let mut admin = Sipp::new("reg_forbidden.xml", d.udp, &wrong);
    admin.calls = 5;
    admin.expect_ok();
    assert!(answered("127.0.0.1", d.udp, Duration::from_secs(2)));
    assert_eq!(d.log().matches("banned").count(), 1, "{}", d.log());
    let mut d = d;
    assert_eq!(d.stop(), Some(0));
    let ev = zvon::store::security_events(&d.db()).unwrap();
    assert!(
        ev.iter()
            .any(|e| e.kind == "ban" && e.source == "127.0.0.2"),
        "{ev:?}"
    );
}
