//! `zvon report`: the real binary over a database written through the library's store.

use std::path::Path;
use std::process::Command;

use zvon::store::{QueueEventRecord, Store, StoreCommand};

use crate::common::{TestConfig, write_config};

fn zvon(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_zvon"))
        .args(args)
        .env_remove("ZVON_STATE_DIR")
        .env_remove("ZVON_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ev(at_ms: i64, call: &str, agent: &str, event: &str, data: &[&str]) -> QueueEventRecord {
    QueueEventRecord {
        at_ms,
        call_id: call.into(),
        queue: if call == "NONE" { "NONE" } else { "support" }.into(),
        agent: agent.into(),
        event: event.into(),
        data: data.iter().map(|d| d.to_string()).collect(),
    }
}

/// 2024-05-01 00:00:00 UTC in ms.
const MAY1: i64 = 1_714_521_600_000;
const DAY: i64 = 86_400_000;

/// Writes a day of queue events (plus one the evening before and one the day after) into the
/// database of `state`, the way the runtime's store thread does.
fn write_events(state: &Path) {
    std::fs::create_dir_all(state).unwrap();
    let store = Store::open(&zvon::runtime::database_path(state)).unwrap();
    let tx = store.sender();
    for e in [
        ev(MAY1 - 1, "u0", "NONE", "ENTERQUEUE", &["", "1009", "1"]),
        ev(MAY1 + 8 * 3_600_000, "NONE", "1002", "ADDMEMBER", &[]),
        ev(
            MAY1 + 9 * 3_600_000,
            "u1",
            "NONE",
            "ENTERQUEUE",
            &["", "1001", "1"],
        ),
        ev(
            MAY1 + 9 * 3_600_000 + 15_400,
            "u1",
            "1002",
            "RINGNOANSWER",
            &["15000"],
        ),
        ev(
            MAY1 + 9 * 3_600_000 + 21_999,
            "u1",
            "1003",
            "CONNECT",
            &["21", "u1-b", "6"],
        ),
        ev(
            MAY1 + 9 * 3_600_000 + 81_000,
            "u1",
            "1003",
            "COMPLETECALLER",
            &["21", "59", "1"],
        ),
        ev(
            MAY1 + 12 * 3_600_000,
            "NONE",
            "1002",
            "PAUSE",
            &["lunch|break\nback at 1"],
        ),
        ev(MAY1 + DAY, "u2", "NONE", "ENTERQUEUE", &["", "1004", "1"]),
    ] {
        tx.send(StoreCommand::QueueEvent(e)).unwrap();
    }
    store.close().unwrap();
}

const MAY1_LOG: &str = "\
1714550400|NONE|NONE|1002|ADDMEMBER|
1714554000|u1|support|NONE|ENTERQUEUE||1001|1
1714554015|u1|support|1002|RINGNOANSWER|15000
1714554021|u1|support|1003|CONNECT|21|u1-b|6
1714554081|u1|support|1003|COMPLETECALLER|21|59|1
1714564800|NONE|NONE|1002|PAUSE|lunch break back at 1
";

#[test]
fn report_queue_log_exports_a_utc_day_in_asterisk_format() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    write_events(&state);
    let state_arg = state.to_str().unwrap();

    let (ok, out, err) = zvon(&[
        "report",
        "queue-log",
        "--state-dir",
        state_arg,
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-02",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, MAY1_LOG);

    // Unix seconds work too; no bounds is everything.
    let (ok, out, err) = zvon(&[
        "report",
        "queue-log",
        "--state-dir",
        state_arg,
        "--since",
        "1714521600",
        "--until",
        "1714608000",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, MAY1_LOG);
    let (ok, out, err) = zvon(&["report", "queue-log", "--state-dir", state_arg]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!(
            "1714521599|u0|support|NONE|ENTERQUEUE||1009|1\n{MAY1_LOG}\
             1714608000|u2|support|NONE|ENTERQUEUE||1004|1\n"
        )
    );

    // --output writes the file and nothing to stdout.
    let file = dir.path().join("may1.log");
    let (ok, out, err) = zvon(&[
        "report",
        "queue-log",
        "--state-dir",
        state_arg,
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-02",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), MAY1_LOG);
}

#[test]
fn report_queue_log_finds_the_database_through_the_config_like_run() {
    let dir = tempfile::tempdir().unwrap();
    // state_dir = "../state", relative to the config directory.
    write_config(
        dir.path(),
        &TestConfig::default(),
        "127.0.0.1:0",
        "127.0.0.1:0",
    );
    write_events(&dir.path().join("state"));
    let config = dir.path().join("config");
    let (ok, out, err) = zvon(&[
        "report",
        "queue-log",
        "--config",
        config.to_str().unwrap(),
        "--since",
        "2024-05-01",
        "--until",
        "2024-05-02",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, MAY1_LOG);
}

#[test]
fn report_queue_log_refuses_a_missing_database_without_creating_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (ok, out, err) = zvon(&[
        "report",
        "queue-log",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert_eq!(out, "");
    let db = zvon::runtime::database_path(&state);
    assert_eq!(
        err.trim_end(),
        format!(
            "zvon: no database at {} — has zvon run with this state dir?",
            db.display()
        )
    );
    assert!(!state.exists(), "the report created {}", state.display());
}

#[test]
fn report_queue_log_rejects_bad_bounds_with_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    write_events(&state);
    let state_arg = state.to_str().unwrap();
    let (ok, _, err) = zvon(&[
        "report",
        "queue-log",
        "--state-dir",
        state_arg,
        "--since",
        "01.05.2024",
    ]);
    assert!(!ok);
    assert!(
        err.contains("--since") && err.contains("YYYY-MM-DD") && err.contains("unix seconds"),
        "{err}"
    );
    let (ok, _, err) = zvon(&[
        "report",
        "queue-log",
        "--state-dir",
        state_arg,
        "--since",
        "2024-05-02",
        "--until",
        "2024-05-01",
    ]);
    assert!(!ok);
    assert!(err.contains("empty time range"), "{err}");
}

#[test]
fn report_help_lists_its_reports_and_explains_the_bounds() {
    let (ok, out, _) = zvon(&["--help"]);
    assert!(ok && out.contains("report"), "{out}");
    let (ok, out, _) = zvon(&["report", "--help"]);
    assert!(
        ok && out.contains("queue-log") && out.contains("never creates"),
        "{out}"
    );
    // `zvon report` alone shows the list instead of doing something.
    let (ok, _, err) = zvon(&["report"]);
    assert!(!ok && err.contains("queue-log"), "{err}");
    let (ok, out, _) = zvon(&["report", "queue-log", "--help"]);
    assert!(ok, "{out}");
    for want in [
        "--state-dir",
        "--config",
        "--since",
        "--until",
        "--output",
        "UTC",
        "unixseconds|callid|queue|agent|EVENT|data1",
    ] {
        assert!(out.contains(want), "queue-log --help lacks {want}:\n{out}");
    }
}
