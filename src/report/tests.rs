//! Tests of the reports: exact queue_log lines, time bounds.

use super::*;

/// 2013-04-23 12:32:20.123 UTC (the time of Asterisk's documentation examples).
const T: i64 = 1_366_720_340_123;

fn ev(call_id: &str, agent: &str, event: &str, data: &[&str]) -> QueueEventRecord {
    QueueEventRecord {
        at_ms: T,
        call_id: call_id.into(),
        queue: "support".into(),
        agent: agent.into(),
        event: event.into(),
        data: data.iter().map(|d| d.to_string()).collect(),
    }
}

fn line(e: QueueEventRecord) -> String {
    let text = queue_log_text(&[e]);
    let body = text.strip_suffix('\n').expect("newline-terminated");
    assert!(!body.contains('\n'), "one line: {text:?}");
    body.to_string()
}

#[test]
fn caller_events_follow_asterisks_field_order() {
    let cases = [
        (
            ev("u1", "NONE", "ENTERQUEUE", &["", "1001", "1"]),
            "1366720340|u1|support|NONE|ENTERQUEUE||1001|1",
        ),
        (
            ev("u1", "1002", "CONNECT", &["12", "u1-b", "3"]),
            "1366720340|u1|support|1002|CONNECT|12|u1-b|3",
        ),
        (
            ev("u1", "1002", "COMPLETECALLER", &["12", "60", "1"]),
            "1366720340|u1|support|1002|COMPLETECALLER|12|60|1",
        ),
        (
            ev("u1", "1002", "COMPLETEAGENT", &["12", "61", "2"]),
            "1366720340|u1|support|1002|COMPLETEAGENT|12|61|2",
        ),
        (
            ev("u2", "NONE", "ABANDON", &["2", "3", "45"]),
            "1366720340|u2|support|NONE|ABANDON|2|3|45",
        ),
        (
            ev("u3", "1002", "RINGNOANSWER", &["15000"]),
            "1366720340|u3|support|1002|RINGNOANSWER|15000",
        ),
        (
            ev("u3", "NONE", "EXITWITHTIMEOUT", &["1", "2", "300"]),
            "1366720340|u3|support|NONE|EXITWITHTIMEOUT|1|2|300",
        ),
        (
            ev("u4", "NONE", "EXITWITHKEY", &["5", "1", "2", "30"]),
            "1366720340|u4|support|NONE|EXITWITHKEY|5|1|2|30",
        ),
        (
            ev("u5", "NONE", "EXITEMPTY", &["1", "1", "10"]),
            "1366720340|u5|support|NONE|EXITEMPTY|1|1|10",
        ),
        (
            ev("u6", "NONE", "FULL", &[]),
            "1366720340|u6|support|NONE|FULL|",
        ),
        (
            ev("u7", "NONE", "JOINEMPTY", &[]),
            "1366720340|u7|support|NONE|JOINEMPTY|",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(line(e), want);
    }
}

#[test]
fn agent_events_without_data_end_in_one_empty_field() {
    let mut add = ev("NONE", "Agent/1001", "ADDMEMBER", &[]);
    add.queue = "NONE".into();
    // The example of Asterisk's queue_log documentation, byte for byte.
    assert_eq!(line(add), "1366720340|NONE|NONE|Agent/1001|ADDMEMBER|");
    assert_eq!(
        line(ev("NONE", "1001", "REMOVEMEMBER", &[""])),
        "1366720340|NONE|support|1001|REMOVEMEMBER|"
    );
    assert_eq!(
        line(ev("NONE", "1001", "ADDMEMBER", &["PAUSED"])),
        "1366720340|NONE|support|1001|ADDMEMBER|PAUSED"
    );
    assert_eq!(
        line(ev("NONE", "1001", "PAUSE", &["lunch"])),
        "1366720340|NONE|support|1001|PAUSE|lunch"
    );
    assert_eq!(
        line(ev("NONE", "1001", "UNPAUSE", &[])),
        "1366720340|NONE|support|1001|UNPAUSE|"
    );
}

#[test]
fn trailing_empty_fields_are_left_off_down_to_the_events_layout() {
    // Fewer fields than the layout: padded with empty ones.
    assert_eq!(
        line(ev("u1", "NONE", "ENTERQUEUE", &["", "1001"])),
        "1366720340|u1|support|NONE|ENTERQUEUE||1001|"
    );
    assert_eq!(
        line(ev("u1", "1002", "CONNECT", &[])),
        "1366720340|u1|support|1002|CONNECT|||"
    );
    assert_eq!(
        line(ev("u4", "NONE", "EXITWITHKEY", &["5"])),
        "1366720340|u4|support|NONE|EXITWITHKEY|5|||"
    );
    // More than the layout, the extra ones empty: cut back to the layout, not below it.
    assert_eq!(
        line(ev("u2", "NONE", "ABANDON", &["2", "", "", "", ""])),
        "1366720340|u2|support|NONE|ABANDON|2||"
    );
    assert_eq!(
        line(ev("u1", "NONE", "ENTERQUEUE", &["", "1001", "1", ""])),
        "1366720340|u1|support|NONE|ENTERQUEUE||1001|1"
    );
    // Inner empty fields stay; an optional extra field that is set is written.
    assert_eq!(
        line(ev("u1", "NONE", "ENTERQUEUE", &["", "1001", "1", "Alice"])),
        "1366720340|u1|support|NONE|ENTERQUEUE||1001|1|Alice"
    );
    assert_eq!(
        line(ev("u9", "NONE", "CUSTOM", &["a", "", "b", "", ""])),
        "1366720340|u9|support|NONE|CUSTOM|a||b"
    );
}

#[test]
fn transfers_and_more_than_five_fields_are_written_in_full() {
    assert_eq!(
        line(ev(
            "u1",
            "1002",
            "BLINDTRANSFER",
            &["1003", "default", "12", "60", "1"]
        )),
        "1366720340|u1|support|1002|BLINDTRANSFER|1003|default|12|60|1"
    );
    assert_eq!(
        line(ev(
            "u1",
            "1002",
            "ATTENDEDTRANSFER",
            &["LINK", "chan-a", "chan-b", "12", "60", "1"]
        )),
        "1366720340|u1|support|1002|ATTENDEDTRANSFER|LINK|chan-a|chan-b|12|60|1"
    );
}

#[test]
fn a_bar_or_line_break_inside_a_field_becomes_a_space() {
    let mut e = ev(
        "u|1",
        "Agent\n1002",
        "PAUSE",
        &["lunch|break\r\nback at 2", "\t"],
    );
    e.queue = "sup|port".into();
    let text = queue_log_text(&[e.clone(), e]);
    let want = "1366720340|u 1|sup port|Agent 1002|PAUSE|lunch break  back at 2| \n";
    assert_eq!(text, format!("{want}{want}"));
    assert_eq!(text.lines().count(), 2);
    for l in text.lines() {
        assert_eq!(l.matches('|').count(), 6, "{l}");
    }
}

#[test]
fn times_are_whole_seconds_rounded_down() {
    let at = |at_ms| {
        let mut e = ev("u1", "NONE", "ABANDON", &["1", "1", "5"]);
        e.at_ms = at_ms;
        line(e).split('|').next().unwrap().to_string()
    };
    assert_eq!(at(1_366_720_340_000), "1366720340");
    assert_eq!(at(1_366_720_340_999), "1366720340");
    assert_eq!(at(0), "0");
    assert_eq!(at(-1), "-1");
}

#[test]
fn no_events_is_empty_text_and_lines_keep_the_given_order() {
    assert_eq!(queue_log_text(&[]), "");
    let mut a = ev("u1", "NONE", "ENTERQUEUE", &["", "1001", "1"]);
    a.at_ms = 2_000;
    let mut b = ev("u1", "NONE", "ABANDON", &["1", "1", "1"]);
    b.at_ms = 1_000;
    assert_eq!(
        queue_log_text(&[a, b]),
        "2|u1|support|NONE|ENTERQUEUE||1001|1\n1|u1|support|NONE|ABANDON|1|1|1\n"
    );
}

#[test]
fn time_bounds_are_utc_dates_or_unix_seconds() {
    assert_eq!(parse_time_bound("2024-05-01"), Ok(1_714_521_600_000));
    assert_eq!(parse_time_bound("1714521600"), Ok(1_714_521_600_000));
    assert_eq!(parse_time_bound(" 0 "), Ok(0));
    assert_eq!(parse_time_bound("1970-01-01"), Ok(0));
    assert_eq!(parse_time_bound("2024-02-29"), Ok(1_709_164_800_000));
    for bad in [
        "",
        "2023-02-29",
        "2024-13-01",
        "2024-5-1",
        "2024-05-01T00:00:00Z",
        "-5",
        "1.5",
        "yesterday",
        "99999999999999999999",
        "9223372036854775807",
    ] {
        assert!(parse_time_bound(bad).is_err(), "{bad:?} accepted");
    }
    let err = parse_time_bound("05/01/2024").unwrap_err();
    assert!(
        err.contains("YYYY-MM-DD") && err.contains("unix seconds"),
        "{err}"
    );
}

#[test]
fn queue_log_refuses_a_missing_database_and_an_empty_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zvon.db");
    let err = queue_log(&db, None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no database at {} — has zvon run with this state dir?",
            db.display()
        )
    );
    assert!(!db.exists());
    let err = queue_log(&db, Some(2_000), Some(2_000)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "empty time range: since 1970-01-01T00:00:02Z is not before until \
         1970-01-01T00:00:02Z (until is exclusive)"
    );
}

#[test]
fn queue_log_reads_the_range_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zvon.db");
    let store = store::Store::open(&db).unwrap();
    for (at_ms, event, data) in [
        (999_999, "ENTERQUEUE", ["", "1001", "1"]),
        (1_000_000, "ENTERQUEUE", ["", "1003", "1"]),
        (1_012_500, "CONNECT", ["12", "u2-b", "2"]),
        (2_000_000, "COMPLETECALLER", ["12", "988", "1"]),
    ] {
        let mut e = ev("u2", "1002", event, &data);
        e.at_ms = at_ms;
        store
            .sender()
            .send(store::StoreCommand::QueueEvent(e))
            .unwrap();
    }
    store.close().unwrap();
    assert_eq!(
        queue_log(&db, Some(1_000_000), Some(2_000_000)).unwrap(),
        "1000|u2|support|1002|ENTERQUEUE||1003|1\n1012|u2|support|1002|CONNECT|12|u2-b|2\n"
    );
}
