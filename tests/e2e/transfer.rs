//! Blind and attended transfer through the real binary, driven by a real SIP stack: PJSIP
//! (the `pjsua2-python` wheel) runs `tests/pjsua/transfer.py`, three phones in one process.
//! The script checks the SIP side and the media (RTP both ways, each party hears the
//! other's tone); this module checks the CDRs the daemon wrote.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::{Daemon, TestConfig, require};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pjsua/transfer.py");
const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pjsua-venv");
/// The script bounds every step at 15 s; this bounds the whole run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

fn has_pjsua2(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import pjsua2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Builds the venv in a private directory and renames it into place, so concurrent test
/// processes never see (or build into) a half-installed venv; the loser of the rename race
/// discards its copy.
fn build_venv(venv: &Path) -> Result<(), String> {
    let tmp = PathBuf::from(format!("{}.tmp-{}", venv.display(), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    run_ok(
        Command::new("python3").arg("-m").arg("venv").arg(&tmp),
        "python3 -m venv",
    )?;
    let py = tmp.join("bin/python");
    run_ok(
        Command::new(&py).args(["-m", "pip", "install", "-q", "pjsua2-python"]),
        "pip install pjsua2-python",
    )?;
    if !has_pjsua2(&py) {
        return Err("pjsua2 does not import after pip install".into());
    }
    if std::fs::rename(&tmp, venv).is_err() {
        // Another process won; use its venv if it works.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if has_pjsua2(&venv.join("bin/python")) {
        Ok(())
    } else {
        Err(format!(
            "{} exists but has no working pjsua2",
            venv.display()
        ))
    }
}

/// The Python with pjsua2: `ZVON_PJSUA_PYTHON` if set, else `target/pjsua-venv` (created on
/// first use; once per test process).
fn pjsua_python() -> PathBuf {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = PY.get_or_init(|| {
        if let Some(p) = std::env::var_os("ZVON_PJSUA_PYTHON") {
            let p = PathBuf::from(p);
            return if has_pjsua2(&p) {
                Ok(p)
            } else {
                Err(format!(
                    "ZVON_PJSUA_PYTHON={} cannot import pjsua2",
                    p.display()
                ))
            };
        }
        let venv = Path::new(VENV);
        let py = venv.join("bin/python");
        if !has_pjsua2(&py) {
            require("python3");
            if venv.exists() {
                // A broken venv (interrupted install): start over.
                let _ = std::fs::remove_dir_all(venv);
            }
            build_venv(venv)?;
        }
        Ok(py)
    });
    match r {
        Ok(p) => p.clone(),
        Err(e) => panic!("no pjsua2 for the transfer tests: {e}"),
    }
}

struct ScriptRun {
    code: Option<i32>,
    output: String,
    timed_out: bool,
}

/// Runs the script against the daemon, killing it after `SCRIPT_TIMEOUT`. The pjsua log
/// (level 5: every SIP message) goes to a file in the daemon's directory.
fn run_script(d: &Daemon, scenario: &str) -> (ScriptRun, PathBuf) {
    let py = pjsua_python();
    let log = d.dir.path().join(format!("pjsua-{scenario}.log"));
    let mut child = Command::new(&py)
        .arg(SCRIPT)
        .arg("--zvon")
        .arg(d.udp.to_string())
        .arg("--scenario")
        .arg(scenario)
        .arg("--log-level")
        .arg("5")
        .arg("--log-file")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let (code, timed_out) = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break (st.code(), false);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!(
        "{}{}",
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default()
    );
    (
        ScriptRun {
            code,
            output,
            timed_out,
        },
        log,
    )
}

/// The SIP messages of a pjsua log (level 5), for failure reports.
fn sip_trace(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = String::new();
    let mut in_msg = false;
    for line in text.lines() {
        if line.contains(" TX ") || line.contains(" RX ") {
            in_msg = line.contains("msg");
        }
        if in_msg {
            out.push_str(line);
            out.push('\n');
            if line.starts_with("--end msg--") {
                in_msg = false;
            }
        }
    }
    out
}

/// Runs one scenario and returns the CDRs, panicking with the script output, the SIP trace
/// and the daemon log when anything fails.
fn transfer(scenario: &str) -> Vec<zvon::store::CdrRecord> {
    let mut d = Daemon::start(&TestConfig::default());
    let (run, log) = run_script(&d, scenario);
    if run.code != Some(0) {
        let why = if run.timed_out {
            format!("killed after {} s", SCRIPT_TIMEOUT.as_secs())
        } else {
            format!("exit {:?}", run.code)
        };
        let _ = d.stop();
        panic!(
            "pjsua {scenario} transfer failed ({why}):\n{}\n--- SIP trace (pjsua) ---\n{}\n--- zvon log ---\n{}",
            run.output,
            sip_trace(&log),
            d.log()
        );
    }
    assert_eq!(
        d.stop(),
        Some(0),
        "clean exit on SIGTERM; log:\n{}",
        d.log()
    );
    zvon::store::cdrs(&d.db()).unwrap()
}

#[test]
fn pjsua_blind_transfer_keeps_one_journey_and_joins_the_target() {
    let cdrs = transfer("blind");
    let journeys: Vec<_> = cdrs
        .iter()
        .filter(|c| c.caller == "1001" && c.dialed == "1002")
        .collect();
    assert_eq!(journeys.len(), 1, "one journey for 1001 -> 1002: {cdrs:#?}");
    assert_eq!(
        cdrs.len(),
        1,
        "the transfer made no second journey: {cdrs:#?}"
    );
    let c = journeys[0];
    assert_eq!(c.disposition, zvon::store::Disposition::Answered, "{c:#?}");
    assert_eq!(c.answered_by.as_deref(), Some("1002"), "{c:#?}");
    assert!(
        c.history.split(';').any(|h| h == "transfer:blind:1003"),
        "history has the blind transfer to 1003: {c:#?}"
    );
    assert!(
        c.legs.iter().any(|l| l.peer.starts_with("1003")),
        "a leg towards 1003: {:#?}",
        c.legs
    );
}

#[test]
fn pjsua_attended_transfer_links_the_two_calls() {
    let cdrs = transfer("attended");
    let first: Vec<_> = cdrs
        .iter()
        .filter(|c| c.caller == "1001" && c.dialed == "1002")
        .collect();
    let consult: Vec<_> = cdrs
        .iter()
        .filter(|c| c.caller == "1002" && c.dialed == "1003")
        .collect();
    assert_eq!(first.len(), 1, "one 1001 -> 1002 call: {cdrs:#?}");
    assert_eq!(consult.len(), 1, "one 1002 -> 1003 call: {cdrs:#?}");
    let (a, b) = (first[0], consult[0]);
    assert_eq!(a.disposition, zvon::store::Disposition::Answered, "{a:#?}");
    assert_eq!(b.disposition, zvon::store::Disposition::Answered, "{b:#?}");
    assert_eq!(
        a.linkedid, b.linkedid,
        "the two calls share a linkedid: {cdrs:#?}"
    );
    assert!(
        a.history.contains("transfer:attended"),
        "the first call's history has the attended transfer: {a:#?}"
    );
}
