//! The control socket and `zvon status` / `zvon agent` against the real daemon.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Daemon, Sipp, TestConfig, inf, write_config};

/// Runs the CLI; (exit code, stdout, stderr).
fn zvon(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_zvon"))
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

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn status_and_agent_commands_talk_to_the_running_daemon() {
    let mut d = Daemon::start(&TestConfig::default());
    let cfg = d.dir.path().join("config");
    let state = d.dir.path().join("state");
    let sock = state.join("zvon.ctl");
    let meta = std::fs::symlink_metadata(&sock).expect("control socket in the state dir");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");

    let f = inf(d.dir.path(), "u.csv", &[("1001", "demo1001", 300, "")]);
    Sipp::new("reg_ok.xml", d.udp, &f).expect_ok();

    let (code, out, err) = zvon(&["status", "--config", s(&cfg)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("zvon "), "{out}");
    assert!(
        out.contains("registrations: 1 contact on 1 of 4 extensions"),
        "{out}"
    );
    assert!(out.contains("REGISTERs accepted"), "{out}");
    // The same daemon through --state-dir (config found from it) and --socket.
    for args in [
        vec!["status", "--config", s(&cfg), "--state-dir", s(&state)],
        vec!["status", "--socket", s(&sock)],
    ] {
        let (code, out, err) = zvon(&args);
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        assert!(out.contains("registrations: 1 contact"), "{args:?}: {out}");
    }

    // No queues.toml here: the list says so; an unknown agent is a refusal, exit 1, the
    // reason on stderr.
    let (code, out, err) = zvon(&["agent", "list", "--config", s(&cfg)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("no agents are configured"), "{out}");
    let (code, _, err) = zvon(&[
        "agent",
        "pause",
        "alice",
        "--reason",
        "3",
        "--socket",
        s(&sock),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no agent `alice`"), "{err}");
    // A bad name never leaves the CLI.
    let (code, _, err) = zvon(&["agent", "logout", "bad name", "--socket", s(&sock)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("whitespace"), "{err}");

    // A second daemon on the same state refuses to start, and leaves the socket alone.
    let mut second = Command::new(env!("CARGO_BIN_EXE_zvon"))
        .args(["run", "--config", s(&cfg)])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = second.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second zvon on the same state dir started");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("another zvon is running"), "{err}");
    let (code, _, _) = zvon(&["status", "--socket", s(&sock)]);
    assert_eq!(code, Some(0), "the first daemon still answers");

    assert_eq!(d.stop(), Some(0), "{}", d.log());
    assert!(
        std::fs::symlink_metadata(&sock).is_err(),
        "control socket left after SIGTERM"
    );
    let (code, _, err) = zvon(&["status", "--config", s(&cfg)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("zvon is not running (no control socket at ") && err.contains("zvon.ctl"),
        "{err}"
    );
}

#[test]
fn status_without_a_daemon_says_it_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &TestConfig::default(),
        "127.0.0.1:0",
        "127.0.0.1:0",
    );
    let cfg = dir.path().join("config");
    let (code, out, err) = zvon(&["status", "--config", s(&cfg)]);
    assert_eq!(code, Some(2), "{out}{err}");
    let want = format!(
        "zvon is not running (no control socket at {})",
        cfg.join("../state/zvon.ctl").display()
    );
    assert!(err.contains(&want), "{err}");

    let sock = dir.path().join("elsewhere.ctl");
    let (code, _, err) = zvon(&["status", "queues", "--socket", s(&sock)]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!("no control socket at {}", sock.display())),
        "{err}"
    );
    // A leftover file nobody listens on (a crashed daemon's) is "not running" too.
    let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    drop(l);
    let (code, _, err) = zvon(&["agent", "list", "--socket", s(&sock)]);
    assert_eq!(code, Some(2));
    assert!(err.contains("zvon is not running"), "{err}");
    // No config and no --state-dir: nothing to go on, and the CLI says what to give.
    let (code, _, err) = zvon(&["status", "--config", s(&dir.path().join("nope"))]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--socket"), "{err}");
}

#[test]
fn control_commands_have_help_with_examples() {
    let (code, out, _) = zvon(&["status", "--help"]);
    assert_eq!(code, Some(0));
    for want in [
        "queues",
        "--socket",
        "--state-dir",
        "--config",
        "Examples",
        "Exit status",
    ] {
        assert!(out.contains(want), "status --help lacks {want}:\n{out}");
    }
    let (code, out, _) = zvon(&["agent", "--help"]);
    assert_eq!(code, Some(0));
    for want in [
        "login", "logout", "pause", "unpause", "list", "--reason", "Examples",
    ] {
        assert!(out.contains(want), "agent --help lacks {want}:\n{out}");
    }
    let (code, out, _) = zvon(&["agent", "login", "--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--queue"), "{out}");
    let (_, out, _) = zvon(&["--help"]);
    assert!(out.contains("status") && out.contains("agent"), "{out}");
}
