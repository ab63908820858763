//! The ACD through the real binary: SIPp callers wait in a queue, SIPp phones are the agents.

use std::process::Child;
use std::time::Duration;

use crate::calls::{info_keys, register_sipp, scenario, sipp, sipp_uac};
use crate::common::{Daemon, TestConfig, free_udp_port};

const AGENTS: [&str; 4] = ["1011", "1012", "1013", "1014"];

fn queue_config() -> TestConfig {
    let mut q = String::from(
        "[queues.q]\nstrategy = \"round-robin\"\nring_timeout = \"5s\"\nretry = \"0s\"\nwrapup = \"0s\"\n\
         max_callers = 16\non_full = { action = \"prompt\", target = \"queue-closed\" }\n\
         announce_position = \"0s\"\ngreeting = [\"thank-you-for-waiting\"]\n\n",
    );
    let mut ext = String::new();
    for (i, a) in AGENTS.iter().enumerate() {
        q.push_str(&format!(
            "[agents.a{}]\nextension = \"{a}\"\nqueues = {{ q = 0 }}\n\n",
            i + 1
        ));
        ext.push_str(&format!(
            "[[extension]]\nnumber = \"{a}\"\npassword = \"demo{a}\"\n\n"
        ));
    }
    TestConfig {
        extra_extensions: ext,
        queues: Some(q),
        ..TestConfig::default()
    }
}

/// Starts an agent phone (SIPp UAS registered on the agent's extension).
fn agent_phone(d: &Daemon, ext: &str, ring_ms: u32, talk_ms: u32) -> Child {
    let dir = d.dir.path();
    let port = free_udp_port();
    register_sipp(d, ext, port);
    let rtp = free_udp_port().to_string();
    let sf = scenario(
        dir,
        "uas_agent",
        &[
            ("@EXT@", ext),
            ("@RTP@", &rtp),
            ("@RING@", &ring_ms.to_string()),
            ("@TALK@", &talk_ms.to_string()),
        ],
        false,
    );
    // Each template is written to the same file name: give every agent its own copy.
    let own = dir.join(format!("uas_agent_{ext}.xml"));
    std::fs::rename(&sf, &own).unwrap();
    sipp(
        &[
            "-sf".into(),
            own.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-m".into(),
            "20".into(),
        ],
        dir,
    )
}

#[test]
fn twenty_callers_four_agents_round_robin_full_queue_overflows_and_log_matches_cdrs() {
    let mut d = Daemon::start(&queue_config());
    let mut agents: Vec<Child> = AGENTS
        .iter()
        .map(|a| agent_phone(&d, a, 1500, 1200))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let uac = scenario(
        d.dir.path(),
        "uac_queue",
        &[
            ("@USER@", "1001"),
            ("@PASS@", "demo1001"),
            ("@TO@", "700"),
            ("@KEYS@", ""),
        ],
        false,
    );
    let callers = sipp_uac(&d, &uac, 20, &["-l", "20", "-r", "40"], d.dir.path());
    // Every caller's call ends with a BYE from Zvon (agent hung up, or "queue full").
    let out = callers.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SIPp callers failed:\n{}\n{}\nzvon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    for a in &mut agents {
        let _ = a.kill();
        let _ = a.wait();
    }
    assert_eq!(d.stop(), Some(0), "{}", d.log());
    let events = zvon::store::queue_events(&d.db(), None, None).unwrap();
    let count = |name: &str| events.iter().filter(|e| e.event == name).count();
    assert_eq!(count("ENTERQUEUE"), 16, "{events:#?}");
    assert_eq!(count("FULL"), 4);
    assert_eq!(count("CONNECT"), 16);
    assert_eq!(count("COMPLETEAGENT"), 16);
    assert_eq!(count("ABANDON"), 0);
    // Round robin: the first four callers go to a1, a2, a3, a4 in turn; then the load is even.
    let offers: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "OFFER")
        .map(|e| e.agent.as_str())
        .collect();
    assert_eq!(offers[..4], ["a1", "a2", "a3", "a4"], "{offers:?}");
    for a in ["a1", "a2", "a3", "a4"] {
        let n = events
            .iter()
            .filter(|e| e.event == "CONNECT" && e.agent == a)
            .count();
        assert!((3..=5).contains(&n), "{a} answered {n} of 16: {offers:?}");
    }
    // The event log and the CDRs agree: one CONNECT and one COMPLETE per answered queue call,
    // and its CDR is answered by that agent's extension.
    let cdrs = zvon::store::cdrs(&d.db()).unwrap();
    assert_eq!(cdrs.len(), 20);
    for c in events.iter().filter(|e| e.event == "CONNECT") {
        let ext = AGENTS[c.agent[1..].parse::<usize>().unwrap() - 1];
        let cdr = cdrs
            .iter()
            .find(|r| r.uniqueid == c.call_id)
            .unwrap_or_else(|| panic!("no CDR for {}", c.call_id));
        assert_eq!(cdr.answered_by.as_deref(), Some(ext), "{cdr:?}");
        assert_eq!(cdr.disposition, zvon::store::Disposition::Answered);
        assert!(
            cdr.history.contains(&format!("agent:{}", c.agent)),
            "{}",
            cdr.history
        );
        let completes: Vec<_> = events
            .iter()
            .filter(|e| e.call_id == c.call_id && e.event.starts_with("COMPLETE"))
            .collect();
        assert_eq!(completes.len(), 1);
        assert_eq!(completes[0].agent, c.agent);
        // Talk time about the agent's 1.2 s (whole seconds).
        let talk: u64 = completes[0].data[1].parse().unwrap();
        assert!(talk <= 3, "{completes:?}");
    }
    let full: Vec<_> = cdrs.iter().filter(|r| r.answered_by.is_none()).collect();
    assert_eq!(full.len(), 4);
    for r in full {
        assert!(r.history.contains("queue:q"), "{}", r.history);
    }
}

fn zvon(args: &[&str]) -> (Option<i32>, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_zvon"))
        .args(args)
        .env_remove("ZVON_CONFIG")
        .env_remove("ZVON_STATE_DIR")
        .env_remove("ZVON_SOCKET")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn agent_pause_and_logout_from_the_cli_survive_a_restart() {
    let tc = queue_config();
    let d = Daemon::start(&tc);
    let sock = d.dir.path().join("state/zvon.ctl");
    let sock = sock.to_str().unwrap().to_owned();
    let (code, out, err) = zvon(&["agent", "pause", "a2", "--reason", "2", "--socket", &sock]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("a2 paused (reason 2)"), "{out}");
    let (code, out, err) = zvon(&["agent", "logout", "a3", "--socket", &sock]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = zvon(&["agent", "pause", "nobody", "--socket", &sock]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no agent `nobody`"), "{err}");
    let d = d.restart(&tc);
    let (code, out, err) = zvon(&["agent", "list", "--socket", &sock]);
    assert_eq!(code, Some(0), "{out}{err}");
    let line = |id: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("{id} missing: {out}"))
            .to_owned()
    };
    assert!(line("a2").contains("paused (reason 2)"), "{out}");
    assert!(line("a3").contains("logged out"), "{out}");
    // a1 has no phone registered in this test.
    assert!(line("a1").contains("unreachable"), "{out}");
    let (code, out, _) = zvon(&["status", "queues", "--socket", &sock]);
    assert_eq!(code, Some(0));
    assert!(out.contains("queue q (round-robin): 0 waiting"), "{out}");
    drop(d);
}

#[test]
fn a_sipp_caller_asks_for_a_callback_and_is_called_back_and_connected_to_the_agent() {
    let mut tc = TestConfig {
        extra_extensions: "[[extension]]\nnumber = \"1011\"\npassword = \"demo1011\"\n".into(),
        queues: Some(
            "[queues.q]\nexit_keys = { \"2\" = \"callback\" }\nannounce_position = \"0s\"\n\
             callback_ring = \"20s\"\n[agents.a1]\nextension = \"1011\"\nqueues = { q = 0 }\n"
                .into(),
        ),
        ..TestConfig::default()
    };
    tc.trusted = r#"["127.0.0.1/32"]"#;
    let mut d = Daemon::start(&tc);
    // The customer's own phone (1001) is registered; the agent's is not yet: the caller waits.
    let customer = agent_phone(&d, "1001", 300, 3000);
    let uac = scenario(
        d.dir.path(),
        "uac_queue",
        &[
            // First: the key scenario part has @USER@ and @TO@ of its own.
            ("@KEYS@", &info_keys(&[('2', 1000), ('1', 1500)])),
            ("@USER@", "1001"),
            ("@PASS@", "demo1001"),
            ("@TO@", "700"),
        ],
        false,
    );
    let caller = sipp_uac(&d, &uac, 1, &["-trace_err"], d.dir.path());
    // Zvon confirms and hangs up ("you keep your place"): the caller's scenario ends on its BYE.
    let out = caller.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SIPp caller failed:\n{}\n{}\n{}\nzvon log:\n{}",
        std::fs::read_dir(d.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("errors"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    assert!(
        d.wait_log("callback requested", Duration::from_secs(5)),
        "{}",
        d.log()
    );
    // The agent's phone comes online: Zvon calls the customer back, then rings the agent.
    let agent = agent_phone(&d, "1011", 300, 1000);
    assert!(
        d.wait_log("queue call answered", Duration::from_secs(15)),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    for mut p in [customer, agent] {
        let _ = p.kill();
        let _ = p.wait();
    }
    assert_eq!(d.stop(), Some(0), "{}", d.log());
    let events = zvon::store::queue_events(&d.db(), None, None).unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    for want in [
        "ENTERQUEUE",
        "CALLBACKREQUEST",
        "CALLBACKATTEMPT",
        "CALLBACKANSWER",
        "CONNECT",
        "COMPLETEAGENT",
    ] {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    let req = events
        .iter()
        .find(|e| e.event == "CALLBACKREQUEST")
        .unwrap();
    assert_eq!(req.data[0], "1001");
    let cdrs = zvon::store::cdrs(&d.db()).unwrap();
    let first = cdrs
        .iter()
        .find(|c| c.history.contains("callback-request:1001"))
        .expect("the first call's CDR");
    let back = cdrs
        .iter()
        .find(|c| c.history.starts_with("callback:q"))
        .expect("the callback call's CDR");
    assert_eq!(back.linkedid, first.uniqueid);
    assert_eq!(back.answered_by.as_deref(), Some("1011"));
    assert_eq!(back.disposition, zvon::store::Disposition::Answered);
    // The events keep the caller's first call id from entry to completion.
    assert!(
        events
            .iter()
            .filter(|e| e.event == "CONNECT" || e.event == "COMPLETEAGENT")
            .all(|e| e.call_id == first.uniqueid)
    );
}
