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

// ---------------------------------------------------------------------------------------
// The manager reports over the fixture day of `src/report/fixture.rs`.

use zvon::store;

#[path = "../../src/report/fixture.rs"]
#[allow(dead_code)]
mod fixture;

/// A config directory naming the fixture's queues, agents and extensions, and a state
/// directory with the fixture's records written through the store. Returns (config, state).
fn write_fixture(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut ext = String::new();
    for n in ["1000", "1006"] {
        ext.push_str(&format!(
            "[[extension]]\nnumber = \"{n}\"\npassword = \"demo{n}\"\n\n"
        ));
    }
    write_config(
        dir,
        &TestConfig {
            extra_extensions: ext,
            ..TestConfig::default()
        },
        "127.0.0.1:0",
        "127.0.0.1:0",
    );
    let mut q = String::new();
    for (name, sl) in fixture::SERVICE_LEVELS {
        q.push_str(&format!("[queues.{name}]\nservice_level = \"{sl}s\"\n\n"));
    }
    for (id, name, ext, queues) in fixture::AGENTS {
        let qs: Vec<String> = queues
            .iter()
            .filter(|q| fixture::SERVICE_LEVELS.iter().any(|(n, _)| n == *q))
            .map(|q| format!("{q} = 0"))
            .collect();
        q.push_str(&format!(
            "[agents.{id}]\nname = \"{name}\"\nextension = \"{ext}\"\nqueues = {{ {} }}\n\n",
            qs.join(", ")
        ));
    }
    let config = dir.join("config");
    std::fs::write(config.join("queues.toml"), q).unwrap();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let f = fixture::build();
    let st = Store::open(&zvon::runtime::database_path(&state)).unwrap();
    let tx = st.sender();
    for c in f.cdrs {
        tx.send(StoreCommand::Cdr(Box::new(c))).unwrap();
    }
    for e in f.events {
        tx.send(StoreCommand::QueueEvent(e)).unwrap();
    }
    st.close().unwrap();
    (config, state)
}

/// The reports and the library's own rendering of the fixture, for comparison.
fn library_table(
    kind: zvon::report::tables::Kind,
    filter: zvon::report::metrics::Filter,
) -> zvon::report::render::Table {
    use zvon::report::facts::{Context, Dataset};
    use zvon::report::metrics::Options;
    let f = fixture::build();
    let data = Dataset::from_records(f.cdrs, f.events);
    let ctx = Context {
        service_level: fixture::SERVICE_LEVELS
            .iter()
            .map(|(q, s)| ((*q).to_owned(), *s))
            .collect(),
        extensions: fixture::EXTENSIONS
            .iter()
            .map(|e| (*e).to_owned())
            .collect(),
        agents: fixture::AGENTS
            .iter()
            .map(|(id, n, e, _)| ((*id).to_owned(), ((*n).to_owned(), (*e).to_owned())))
            .collect(),
    };
    let mut opt = Options::new(
        zvon::report::period::Period {
            from: Some(fixture::DAY0),
            to: Some(fixture::DAY0 + fixture::DAY_S),
        },
        (fixture::DAY0 + 2 * fixture::DAY_S) * 1000,
    );
    opt.filter = filter;
    zvon::report::tables::build(kind, &data, &ctx, &opt)
}

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/report.schema.json");
const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/report_check.py");

/// Runs the Python checker on a report's CSV and JSON.
fn python_check(dir: &Path, report: &str, csv: &str, json: &str) {
    let (c, j) = (
        dir.join(format!("{report}.csv")),
        dir.join(format!("{report}.json")),
    );
    std::fs::write(&c, csv).unwrap();
    std::fs::write(&j, json).unwrap();
    let o = Command::new("python3")
        .arg(CHECK)
        .arg(SCHEMA)
        .arg(report)
        .arg(&c)
        .arg(&j)
        .output()
        .expect("python3 runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{report}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with(&format!("ok {report} ")), "{out}");
}

#[test]
fn every_report_of_the_fixture_day_in_every_format_matches_the_library_and_its_schema() {
    use zvon::report::metrics::Filter;
    use zvon::report::render::Format;
    use zvon::report::tables::Kind;
    let dir = tempfile::tempdir().unwrap();
    let (config, _state) = write_fixture(dir.path());
    let config = config.to_str().unwrap();
    let billing = Filter {
        queue: Some("billing".into()),
        ..Filter::default()
    };
    let cases: [(&str, Kind, &[&str], Filter); 8] = [
        ("summary", Kind::Summary, &[], Filter::default()),
        ("queues", Kind::Queues, &[], Filter::default()),
        ("agents", Kind::Agents, &[], Filter::default()),
        ("hourly", Kind::Hourly, &[], Filter::default()),
        ("calls", Kind::Calls, &[], Filter::default()),
        ("calls", Kind::Calls, &["--queue", "billing"], billing),
        ("abandoned", Kind::Abandoned, &[], Filter::default()),
        ("ivr", Kind::Ivr, &[], Filter::default()),
    ];
    for (name, kind, extra, filter) in cases {
        let want = library_table(kind, filter);
        let mut outs = Vec::new();
        for (fmt, format) in [
            ("table", Format::Table),
            ("csv", Format::Csv),
            ("json", Format::Json),
        ] {
            let mut args = vec![
                "report",
                name,
                "--config",
                config,
                "--from",
                "2024-05-06",
                "--to",
                "2024-05-06",
                "--format",
                fmt,
            ];
            args.extend_from_slice(extra);
            let (ok, out, err) = zvon(&args);
            assert!(ok, "{name} {fmt}: {err}");
            assert_eq!(err, "", "{name} {fmt}");
            assert_eq!(
                out,
                want.render(format),
                "{name} {fmt} differs from the library"
            );
            outs.push(out);
        }
        python_check(dir.path(), name, &outs[1], &outs[2]);
    }
}

#[test]
fn report_values_of_the_fixture_day_as_a_spreadsheet_would_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _state) = write_fixture(dir.path());
    let config = config.to_str().unwrap();
    let csv = |args: &[&str]| {
        let mut a = vec!["report"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[
            "--config",
            config,
            "--from",
            "1714953600",
            "--to",
            "1715040000",
        ]);
        a.extend_from_slice(&["--format", "csv"]);
        let (ok, out, err) = zvon(&a);
        assert!(ok, "{err}");
        out
    };
    // Worked out by hand in src/report/kpi_tests.rs. (`lines` drops the CR of CRLF.)
    assert_eq!(
        csv(&["summary"]),
        "calls,inbound,outbound,internal,answered,missed,failed,talk_s,avg_talk_s\r\n\
         296,236,20,40,200,86,10,18775,93.9\r\n"
    );
    let queues = csv(&["queues"]);
    let support = queues.lines().find(|l| l.starts_with("support,")).unwrap();
    assert_eq!(
        support,
        "support,160,121,15,10,13,0,0,0,20,61,0.3812,0.0938,20.3,114.6,300,24,40,70,150"
    );
    // Billing's five callbacks: two answered (holds 615 and 945 s), one failed.
    let billing = queues.lines().find(|l| l.starts_with("billing,")).unwrap();
    assert_eq!(
        billing,
        "billing,9,4,2,1,2,5,2,1,20,1,0.1111,0.2222,397.5,240.0,990,240,945,990,990"
    );
    let sales = csv(&["queues", "--queue", "sales", "--short-abandon", "15"]);
    assert_eq!(
        sales.lines().nth(1).unwrap(),
        "sales,35,30,4,1,0,0,0,0,30,11,0.3143,0.1143,43.5,105.0,87,42,66,78,84"
    );
    let bob = csv(&["agents", "--agent", "bob"]);
    assert_eq!(
        bob.lines().nth(1).unwrap(),
        "bob,Bob Baker,1002,42,42,0,0,4700,121.9,420,240,none=240,32460,0.1589"
    );
    let alice = csv(&["agents", "--agent", "alice"]);
    assert_eq!(
        alice.lines().nth(1).unwrap(),
        "alice,Alice Archer,1001,63,42,20,7,4620,120.0,420,240,2=240,32400,0.1567"
    );
}

#[test]
fn forecast_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _state) = write_fixture(dir.path());
    let config = config.to_str().unwrap();
    // The worked example: 100 calls in 30 minutes, AHT 180 s, 80/20 → 14 agents.
    let (ok, out, err) = zvon(&[
        "forecast", "--calls", "100", "--aht", "180", "--format", "csv",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "weekday,time,calls,aht_s,erlangs,agents,wait_probability,service_level,asa_s,occupancy\r\n\
         ,,100.00,180.0,10.000,14,0.1741,0.8884,7.8,0.7143\r\n"
    );
    let (ok, out, _) = zvon(&[
        "forecast", "--calls", "100", "--aht", "180", "--agents", "13",
    ]);
    assert!(ok);
    assert!(out.contains("79.6%"), "{out}");
    // From the fixture day with a given AHT: 09:00–09:30 had 20 calls, 2 Erlangs, 4 agents.
    let mut outs = Vec::new();
    for fmt in ["csv", "json"] {
        let (ok, out, err) = zvon(&[
            "forecast",
            "--config",
            config,
            "--from",
            "2024-05-06",
            "--to",
            "2024-05-06",
            "--aht",
            "180",
            "--format",
            fmt,
        ]);
        assert!(ok, "{err}");
        outs.push(out);
    }
    let nine = outs[0]
        .lines()
        .find(|l| l.starts_with("Mon,09:00,"))
        .unwrap();
    assert_eq!(
        nine,
        "Mon,09:00,20.00,180.0,2.000,4,0.1739,0.8607,15.7,0.5000"
    );
    python_check(dir.path(), "forecast", &outs[0], &outs[1]);
    // Without --aht the history's: (13870 + 3150 + 520 + 440) / 155 s.
    let (ok, out, err) = zvon(&[
        "forecast",
        "--config",
        config,
        "--from",
        "2024-05-06",
        "--to",
        "2024-05-06",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("forecast: 2024-05-06 00:00:00 to 2024-05-07 00:00:00 UTC, target_service_level 80.0%, answer_time_s 20.0, aht_s 116.0\n"), "{out}");
    // A period without calls has no AHT to use.
    let (ok, _, err) = zvon(&[
        "forecast",
        "--config",
        config,
        "--from",
        "2024-06-01",
        "--to",
        "2024-06-07",
    ]);
    assert!(!ok && err.contains("--aht"), "{err}");
}

#[test]
fn report_periods_formats_and_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let (config, state) = write_fixture(dir.path());
    let config = config.to_str().unwrap();
    // A relative period far from the fixture day: no rows, but the header.
    let (ok, out, err) = zvon(&[
        "report", "ivr", "--config", config, "--today", "--format", "csv",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "flow,node,visits,inputs,next,dropped\r\n");
    let (ok, _, err) = zvon(&["report", "queues", "--config", config, "--today", "--week"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) = zvon(&[
        "report",
        "queues",
        "--config",
        config,
        "--from",
        "2024-05-07",
        "--to",
        "2024-05-06",
    ]);
    assert!(!ok && err.contains("empty period"), "{err}");
    let (ok, _, err) = zvon(&["report", "queues", "--config", config, "--format", "xml"]);
    assert!(
        !ok && err.contains("table") && err.contains("csv") && err.contains("json"),
        "{err}"
    );
    // --output writes the file and nothing else.
    let file = dir.path().join("q.json");
    let (ok, out, err) = zvon(&[
        "report",
        "queues",
        "--config",
        config,
        "--from",
        "2024-05-06",
        "--to",
        "2024-05-06",
        "--format",
        "json",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(ok && out.is_empty(), "{err}");
    let json = std::fs::read_to_string(&file).unwrap();
    assert!(json.starts_with("{\n  \"report\": \"queues\",\n  \"from\": \"2024-05-06T00:00:00Z\",\n  \"to\": \"2024-05-07T00:00:00Z\",\n  \"time_zone\": \"UTC\",\n  \"parameters\": {\"short_abandon_s\": 5},\n"), "{json}");
    // With only --state-dir the configuration's service levels are not known: a warning,
    // and every queue at 20 s.
    let (ok, out, err) = zvon(&[
        "report",
        "queues",
        "--state-dir",
        state.to_str().unwrap(),
        "--config",
        dir.path().join("nowhere").to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert!(
        !ok,
        "an explicit --config that does not load is an error: {out}"
    );
    assert!(err.contains("cannot read the configuration"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_zvon"))
        .args([
            "report",
            "queues",
            "--state-dir",
            state.to_str().unwrap(),
            "--format",
            "csv",
        ])
        .current_dir(dir.path().join("state"))
        .env_remove("ZVON_CONFIG")
        .env_remove("ZVON_STATE_DIR")
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    if !std::path::Path::new("/etc/zvon").exists() {
        assert!(o.status.success(), "{err}");
        assert!(err.contains("warning: no configuration"), "{err}");
        assert!(out.contains("\r\nsales,35,30,5,0,0,0,0,0,20,"), "{out}");
    }
    // The database is never created by a report.
    let empty = dir.path().join("empty");
    let (ok, _, err) = zvon(&[
        "report",
        "summary",
        "--state-dir",
        empty.to_str().unwrap(),
        "--config",
        config,
    ]);
    assert!(!ok && err.contains("no database"), "{err}");
    assert!(!empty.exists());
}

/// The rows of an `hourly --format csv`: slot → offered.
fn hourly_offered(csv: &str) -> std::collections::BTreeMap<String, u64> {
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.trim_end().split(',').collect();
            Some((format!("{}:{}", f[0], f[1]), f.get(2)?.parse().ok()?))
        })
        .collect()
}

#[test]
fn reports_default_to_the_time_zone_of_the_dial_plans_default_context() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _state) = write_fixture(dir.path());
    let cfg = config.to_str().unwrap();
    let queues_json = |extra: &[&str]| {
        let mut args = vec![
            "report",
            "queues",
            "--config",
            cfg,
            "--from",
            "2024-05-06",
            "--to",
            "2024-05-06",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let (ok, out, err) = zvon(&args);
        assert!(ok, "{err}");
        out
    };
    let hourly_csv = |extra: &[&str]| {
        let mut args = vec!["report", "hourly", "--config", cfg, "--format", "csv"];
        args.extend_from_slice(extra);
        let (ok, out, err) = zvon(&args);
        assert!(ok, "{err}");
        hourly_offered(&out)
    };
    // No dial plan: UTC.
    let utc = queues_json(&[]);
    assert!(
        utc.contains("\"from\": \"2024-05-06T00:00:00Z\",\n  \"to\": \"2024-05-07T00:00:00Z\",\n  \"time_zone\": \"UTC\","),
        "{utc}"
    );
    let utc_hours = hourly_csv(&[]);
    // The top-level zone of the dial plan is the default context's: 2024-05-06 is the
    // Berlin day (CEST, UTC+2), and every call is two hours later on the local clock.
    std::fs::write(
        config.join("dialplan.toml"),
        "timezone = \"Europe/Berlin\"\n[[context]]\nname = \"internal\"\n",
    )
    .unwrap();
    let berlin = queues_json(&[]);
    assert!(
        berlin.contains("\"from\": \"2024-05-05T22:00:00Z\",\n  \"to\": \"2024-05-06T22:00:00Z\",\n  \"time_zone\": \"Europe/Berlin\","),
        "{berlin}"
    );
    let berlin_hours = hourly_csv(&[]);
    assert_ne!(berlin_hours, utc_hours);
    for h in 0..24 {
        assert_eq!(
            berlin_hours[&format!("hour:{:02}", (h + 2) % 24)],
            utc_hours[&format!("hour:{h:02}")],
            "hour {h}"
        );
    }
    let (ok, out, err) = zvon(&["report", "summary", "--config", cfg, "--from", "2024-05-06"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("summary: 2024-05-06 00:00:00 to the last record Europe/Berlin"),
        "{out}"
    );
    // --tz wins over the dial plan.
    assert_eq!(queues_json(&["--tz", "UTC"]), utc);
    assert_eq!(hourly_csv(&["--tz", "UTC"]), utc_hours);
    // The default context's own zone wins over the top-level one.
    std::fs::write(
        config.join("dialplan.toml"),
        "timezone = \"Europe/Berlin\"\ndefault_context = \"office\"\n\
         [[context]]\nname = \"internal\"\n\
         [[context]]\nname = \"office\"\ntimezone = \"America/New_York\"\n",
    )
    .unwrap();
    let ny = queues_json(&[]);
    assert!(
        ny.contains("\"from\": \"2024-05-06T04:00:00Z\",\n  \"to\": \"2024-05-07T04:00:00Z\",\n  \"time_zone\": \"America/New_York\","),
        "{ny}"
    );
    // The forecast too: its JSON names the zone.
    let (ok, out, err) = zvon(&[
        "forecast",
        "--config",
        cfg,
        "--from",
        "2024-05-06",
        "--to",
        "2024-05-06",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("\"time_zone\": \"America/New_York\","),
        "{out}"
    );
    // A name not in the database is refused with the accepted form.
    let (ok, _, err) = zvon(&["report", "queues", "--config", cfg, "--tz", "Mars/Olympus"]);
    assert!(!ok && err.contains("Europe/Berlin"), "{err}");
}

#[test]
fn every_metric_definition_in_the_help_is_in_the_readme() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let readme: String = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for (name, help) in [
        ("summary", zvon::report::help::SUMMARY),
        ("queues", zvon::report::help::QUEUES),
        ("agents", zvon::report::help::AGENTS),
        ("hourly", zvon::report::help::HOURLY),
        ("calls", zvon::report::help::CALLS),
        ("abandoned", zvon::report::help::ABANDONED),
        ("ivr", zvon::report::help::IVR),
        ("forecast", zvon::report::help::FORECAST),
        ("common", zvon::report::help::COMMON),
    ] {
        // Paragraph by paragraph, whitespace-insensitive.
        for para in help.split("\n\n") {
            let p: String = para.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                readme.contains(&p),
                "README lacks this part of {name}'s help:\n{para}"
            );
        }
        let args: Vec<&str> = if name == "forecast" {
            vec!["forecast", "--help"]
        } else if name == "common" {
            vec!["report", "queues", "--help"]
        } else {
            vec!["report", name, "--help"]
        };
        let (ok, out, _) = zvon(&args);
        assert!(ok);
        let out: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
        for para in help.split("\n\n") {
            let p: String = para.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(out.contains(&p), "{args:?} lacks:\n{para}");
        }
    }
}

/// Writes the fixture's config and database to `$ZVON_FIXTURE_DIR` (for trying the reports
/// by hand and for the README's examples):
/// `ZVON_FIXTURE_DIR=/tmp/fx cargo test --test e2e report_fixture_to_dir -- --ignored`.
#[test]
#[ignore]
fn report_fixture_to_dir() {
    let dir = std::env::var("ZVON_FIXTURE_DIR").expect("set ZVON_FIXTURE_DIR");
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let (config, _) = write_fixture(dir);
    println!(
        "zvon report queues --config {} --from 2024-05-06 --to 2024-05-06",
        config.display()
    );
}

/// The HTML reports: well formed and self-contained (Python's html.parser), and the
/// dashboard rendered by headless Chromium into a screenshot when Chromium is installed
/// (`apt-get install chromium`); without it that part is skipped, saying so.
#[test]
fn html_reports_are_self_contained_and_render_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _state) = write_fixture(dir.path());
    let config = config.to_str().unwrap();
    let check = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/html_check.py");
    let mut pages = Vec::new();
    for (name, args) in [
        ("summary", vec!["report", "summary"]),
        ("queues", vec!["report", "queues"]),
        ("agents", vec!["report", "agents"]),
        ("hourly", vec!["report", "hourly"]),
        ("calls", vec!["report", "calls"]),
        ("abandoned", vec!["report", "abandoned"]),
        ("ivr", vec!["report", "ivr"]),
        ("forecast", vec!["forecast", "--aht", "180"]),
    ] {
        let file = dir.path().join(format!("{name}.html"));
        let mut a = args.clone();
        a.extend_from_slice(&[
            "--config",
            config,
            "--from",
            "2024-05-06",
            "--to",
            "2024-05-06",
        ]);
        a.extend_from_slice(&["--format", "html", "--output", file.to_str().unwrap()]);
        let (ok, out, err) = zvon(&a);
        assert!(ok && out.is_empty(), "{name}: {err}");
        let o = Command::new("python3")
            .arg(check)
            .arg(&file)
            // The dashboard's staffing forecast: a heading and its heat map.
            .args(if name == "summary" {
                &["forecast"][..]
            } else {
                &[]
            })
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name}: {report}");
        let svgs: usize = report.split_whitespace().nth(2).unwrap().parse().unwrap();
        let want_svgs = match name {
            // The dashboard: two hourly charts, the arrivals and the staffing forecast.
            "summary" => 4,
            "hourly" => 3,
            "forecast" => 1,
            _ => 0,
        };
        assert_eq!(svgs, want_svgs, "{name}: {report}");
        pages.push(file);
    }
    let dashboard = std::fs::read_to_string(&pages[0]).unwrap();
    for want in [
        "<title>Zvon call-center report</title>",
        "<b>296</b><span>calls</span>",
        "<b>35.8%</b><span>service level</span>",
        "Service level by hour (UTC)",
        "Abandon rate by hour (UTC)",
        "Arrivals by weekday and hour (UTC)",
        "<title>Mon 10: 45</title>",
        "<td>Alice Archer</td>",
        "<h2 id=\"forecast\">Staffing forecast</h2>",
        "Agents needed by weekday and half-hour (UTC)",
        "<title>Mon 10:00: 3</title>",
    ] {
        assert!(dashboard.contains(want), "the dashboard lacks {want}");
    }

    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("SKIPPED: no chromium installed; the HTML was only checked with html.parser");
        return;
    };
    let png = dir.path().join("dashboard.png");
    let profile = dir.path().join("chromium-profile");
    let url = format!("file://{}", pages[0].display());
    let run = |extra: &[&str]| {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            // Nothing may be fetched: every host resolves to nowhere.
            .arg("--host-resolver-rules=MAP * ~NOTFOUND")
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let o = run(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1400,1900",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shot = std::fs::read(&png).unwrap();
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    // 1400 × 1900 (IHDR width and height), and not a blank page.
    assert_eq!(&shot[16..24], &[0, 0, 0x05, 0x78, 0, 0, 0x07, 0x6c]);
    assert!(shot.len() > 40_000, "screenshot of {} bytes", shot.len());
    // The DOM Chromium built has the tables and charts.
    let o = run(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&o.stdout);
    assert_eq!(dom.matches("<svg").count(), 4, "{dom}");
    assert_eq!(dom.matches("<table").count(), 2);
    // The staffing forecast section, its heat map inside it.
    let forecast = dom
        .split_once("<h2 id=\"forecast\">Staffing forecast</h2>")
        .map(|(_, rest)| rest)
        .expect("the dashboard has the staffing forecast section");
    assert!(
        forecast.contains("aria-label=\"Agents needed by weekday and half-hour (UTC)\""),
        "{forecast}"
    );
    if let Ok(keep) = std::env::var("ZVON_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
