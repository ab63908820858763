//! Tests of the store: migrations, the writer thread, the read side.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::schema::{MIGRATIONS, migrate_to, open_configured, user_version};
use super::writer::apply_batch;
use super::*;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("zvon.db")
}

fn binding(aor: &str, contact: &str, expires_at: u64) -> BindingRecord {
    BindingRecord {
        aor: aor.to_string(),
        contact: contact.to_string(),
        instance: Some("\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"".to_string()),
        reg_id: Some(1),
        call_id: "a84b4c76e66710@pc33.example.com".to_string(),
        cseq: 314159,
        expires_at,
        transport: "udp".to_string(),
        source: "[2001:db8::7]:5060".to_string(),
        local: "192.168.1.2:5060".to_string(),
        user_agent: Some("Yealink SIP-T46S 66.86.0.15".to_string()),
        q: Some(0.7),
    }
}

fn event(at: u64, kind: &str) -> SecurityEvent {
    SecurityEvent {
        at,
        source: "203.0.113.9".to_string(),
        kind: kind.to_string(),
        detail: "10 failed REGISTER digests in 60 s".to_string(),
    }
}

fn version_of(path: &Path) -> u32 {
    let conn = Connection::open(path).unwrap();
    user_version(&conn).unwrap()
}

fn count(path: &Path, table: &str) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Makes `INSERT`s of bindings with AOR "poison" fail, as any SQL error would.
fn add_poison_trigger(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON bindings WHEN NEW.aor = 'poison'
         BEGIN SELECT RAISE(ABORT, 'poisoned binding'); END;",
    )
    .unwrap();
}

#[test]
fn empty_database_migrates_to_the_latest_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    Store::open(&path).unwrap().close().unwrap();
    assert_eq!(version_of(&path), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
    const { assert!(SCHEMA_VERSION >= 3) };
    let conn = Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        tables,
        vec![
            "agent_state",
            "bindings",
            "cdr",
            "cdr_legs",
            "cdr_pack",
            "ext_state",
            "meta",
            "queue_log",
            "queue_log_pack",
            "security_events",
            "voicemail",
            "voicemail_pin",
        ]
    );
}

/// Rows written at schema version `k` by a zvon of that time.
fn seed(conn: &Connection, k: u32) {
    if k >= 1 {
        conn.execute(
            "INSERT INTO bindings (aor, contact, instance, reg_id, call_id, cseq, expires_at,
                transport, source, local, user_agent, q)
             VALUES ('1001', 'sip:1001@192.168.1.20:5060;ob', NULL, NULL, 'cid-1', 7, 4000000000,
                'tcp', '192.168.1.20:5060', '192.168.1.2:5060', NULL, NULL)",
            [],
        )
        .unwrap();
    }
    if k >= 2 {
        conn.execute(
            "INSERT INTO security_events (at, source, kind, detail)
             VALUES (1700000000, '198.51.100.4', 'ban', 'scanner')",
            [],
        )
        .unwrap();
    }
    if k >= 3 {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('first_start', '1700000000')",
            [],
        )
        .unwrap();
    }
}

#[test]
fn every_earlier_version_upgrades_to_latest_keeping_its_rows() {
    for k in 0..SCHEMA_VERSION {
        let dir = tempfile::tempdir().unwrap();
        let path = db_path(&dir);
        {
            let mut conn = open_configured(&path).unwrap();
            migrate_to(&mut conn, &path, k).unwrap();
            assert_eq!(user_version(&conn).unwrap(), k);
            seed(&conn, k);
        }
        Store::open(&path).unwrap().close().unwrap();
        assert_eq!(version_of(&path), SCHEMA_VERSION, "from version {k}");

        let bindings = load_bindings(&path, 1_700_000_000).unwrap();
        if k >= 1 {
            assert_eq!(bindings.len(), 1, "from version {k}");
            let b = &bindings[0];
            assert_eq!(b.contact, "sip:1001@192.168.1.20:5060;ob");
            assert_eq!(
                (b.cseq, b.expires_at, b.transport.as_str()),
                (7, 4_000_000_000, "tcp")
            );
            assert_eq!((b.instance.as_deref(), b.reg_id, b.q), (None, None, None));
        } else {
            assert!(bindings.is_empty());
        }
        let events = security_events(&path).unwrap();
        assert_eq!(events.len(), usize::from(k >= 2), "from version {k}");
        if k >= 2 {
            assert_eq!(events[0].kind, "ban");
            assert_eq!(events[0].at, 1_700_000_000);
        }
        assert_eq!(
            queue_events(&path, None, None).unwrap(),
            vec![],
            "from version {k}"
        );
        let meta = meta(&path).unwrap();
        assert!(meta.contains_key(META_INSTANCE_ID), "from version {k}");
        assert_eq!(
            meta.contains_key(META_FIRST_START),
            k >= 3,
            "from version {k}"
        );
    }
}

#[test]
fn a_database_newer_than_this_zvon_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    Store::open(&path).unwrap().close().unwrap();
    let newer = SCHEMA_VERSION + 4;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let err = Store::open(&path).err().unwrap();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, known, .. } if found == newer && known == SCHEMA_VERSION)
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "database schema version {newer} is newer than this zvon ({SCHEMA_VERSION})"
        )),
        "{msg}"
    );
    assert!(msg.contains("zvon.db"), "{msg}");
    assert!(matches!(
        load_bindings(&path, 0),
        Err(StoreError::SchemaTooNew { .. })
    ));
    // Refusing did not touch the file.
    assert_eq!(version_of(&path), newer);
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("zvon.db");
    let msg = Store::open(&path).err().unwrap().to_string();
    assert!(
        msg.starts_with(&format!("cannot open database {}: ", path.display())),
        "{msg}"
    );
}

#[test]
fn the_database_is_in_wal_mode_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    // journal_mode=WAL is persistent: a fresh connection sees it.
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // The per-connection settings of ours.
    let ours = open_configured(&path).unwrap();
    let sync: i64 = ours
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = ours
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    let busy: i64 = ours
        .pragma_query_value(None, "busy_timeout", |r| r.get(0))
        .unwrap();
    assert_eq!(busy, BUSY_TIMEOUT.as_millis() as i64);
    store.close().unwrap();
}

#[test]
fn bindings_put_replace_and_delete_through_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let tx = store.sender();

    let a = binding("1001", "sip:1001@192.168.1.20:5060;ob", 2_000_000_000);
    let b = binding("1001", "sip:1001@192.168.1.21:5060", 2_000_000_000);
    let c = binding("1002", "sip:1002@192.168.1.30:5060", 2_000_000_000);
    for r in [&a, &b, &c] {
        tx.send(StoreCommand::PutBinding(r.clone())).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(
        load_bindings(&path, 0).unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );

    // A refresh of the same (aor, contact) replaces the row.
    let a2 = BindingRecord {
        cseq: a.cseq + 1,
        expires_at: 2_000_003_600,
        q: None,
        ..a.clone()
    };
    tx.send(StoreCommand::PutBinding(a2.clone())).unwrap();
    tx.flush().unwrap();
    assert_eq!(
        load_bindings(&path, 0).unwrap(),
        vec![a2.clone(), b.clone(), c.clone()]
    );

    tx.send(StoreCommand::DeleteBinding {
        aor: "1001".into(),
        contact: b.contact.clone(),
    })
    .unwrap();
    // Deleting what is not there is not an error.
    tx.send(StoreCommand::DeleteBinding {
        aor: "1001".into(),
        contact: "sip:nobody@x".into(),
    })
    .unwrap();
    store.flush().unwrap();
    assert_eq!(
        load_bindings(&path, 0).unwrap(),
        vec![a2.clone(), c.clone()]
    );

    tx.send(StoreCommand::DeleteAor { aor: "1001".into() })
        .unwrap();
    store.close().unwrap();
    assert_eq!(load_bindings(&path, 0).unwrap(), vec![c]);
}

#[test]
fn load_bindings_drops_expired_rows_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    for (i, exp) in [999u64, 1000, 1001, 5000].into_iter().enumerate() {
        tx.send(StoreCommand::PutBinding(binding(
            "1001",
            &format!("sip:1001@10.0.0.{i}"),
            exp,
        )))
        .unwrap();
    }
    store.close().unwrap();

    let live = load_bindings(&path, 1000).unwrap();
    let expiries: Vec<u64> = live.iter().map(|b| b.expires_at).collect();
    assert_eq!(expiries, vec![1001, 5000], "expires_at <= now is expired");
    assert_eq!(
        count(&path, "bindings"),
        2,
        "expired rows are deleted, not just filtered"
    );
}

#[test]
fn close_commits_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    for i in 0..10_000u32 {
        tx.send(StoreCommand::PutBinding(binding(
            &format!("{}", 1000 + i % 100),
            &format!("sip:{i}@h"),
            1 << 40,
        )))
        .unwrap();
    }
    store.close().unwrap();
    assert_eq!(count(&path, "bindings"), 10_000);
    // Senders outliving the store fail instead of queueing into the void.
    assert!(matches!(
        tx.send(StoreCommand::DeleteAor { aor: "1000".into() }),
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        tx.try_send(StoreCommand::DeleteAor { aor: "1000".into() }),
        Err(TrySendError::Closed(_))
    ));
}

#[test]
fn dropping_the_store_also_commits_what_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    for i in 0..100 {
        store
            .sender()
            .send(StoreCommand::Security(event(i, "ban")))
            .unwrap();
    }
    drop(store);
    assert_eq!(security_events(&path).unwrap().len(), 100);
}

#[test]
fn a_failing_command_does_not_lose_the_rest_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut conn = super::schema::open_connection(&path).unwrap();
    add_poison_trigger(&path);

    let mut batch = vec![
        StoreCommand::PutBinding(binding("1001", "sip:1001@a", 9_999_999_999)),
        StoreCommand::Security(event(1, "ban")),
        StoreCommand::PutBinding(binding("poison", "sip:poison@a", 9_999_999_999)),
        StoreCommand::PutBinding(binding("1002", "sip:1002@a", 9_999_999_999)),
        StoreCommand::Security(event(2, "unban")),
    ];
    apply_batch(&mut conn, &mut batch, &path);
    assert!(batch.is_empty());
    drop(conn);

    let aors: Vec<String> = load_bindings(&path, 0)
        .unwrap()
        .into_iter()
        .map(|b| b.aor)
        .collect();
    assert_eq!(aors, vec!["1001", "1002"]);
    let kinds: Vec<String> = security_events(&path)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec!["ban", "unban"],
        "each command committed exactly once"
    );
}

#[test]
fn the_writer_keeps_going_after_a_failing_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    Store::open(&path).unwrap().close().unwrap();
    add_poison_trigger(&path);

    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    for i in 0..300 {
        let aor = if i == 150 {
            "poison".to_string()
        } else {
            format!("{i}")
        };
        tx.send(StoreCommand::PutBinding(binding(
            &aor,
            "sip:x@y",
            9_999_999_999,
        )))
        .unwrap();
    }
    store.flush().unwrap();
    tx.send(StoreCommand::PutBinding(binding(
        "after",
        "sip:x@y",
        9_999_999_999,
    )))
    .unwrap();
    store.close().unwrap();
    assert_eq!(
        count(&path, "bindings"),
        300,
        "299 before/around the failure + 1 after"
    );
}

#[test]
fn security_events_round_trip_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let evs = vec![
        event(1_700_000_000, "ban"),
        event(1_700_000_600, "unban"),
        event(1_700_000_001, "flood"),
    ];
    for e in &evs {
        store
            .sender()
            .send(StoreCommand::Security(e.clone()))
            .unwrap();
    }
    store.close().unwrap();
    assert_eq!(
        security_events(&path).unwrap(),
        evs,
        "insertion order, not time order"
    );
}

#[test]
fn meta_holds_a_stable_instance_id_and_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    tx.send(StoreCommand::PutMetaIfAbsent {
        key: META_FIRST_START.into(),
        value: "100".into(),
    })
    .unwrap();
    tx.send(StoreCommand::PutMeta {
        key: META_LAST_START.into(),
        value: "100".into(),
    })
    .unwrap();
    store.close().unwrap();
    let first = meta(&path).unwrap();

    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    tx.send(StoreCommand::PutMetaIfAbsent {
        key: META_FIRST_START.into(),
        value: "200".into(),
    })
    .unwrap();
    tx.send(StoreCommand::PutMeta {
        key: META_LAST_START.into(),
        value: "200".into(),
    })
    .unwrap();
    store.close().unwrap();
    let second = meta(&path).unwrap();

    assert_eq!(second[META_FIRST_START], "100");
    assert_eq!(second[META_LAST_START], "200");
    assert_eq!(
        first[META_INSTANCE_ID], second[META_INSTANCE_ID],
        "reopening keeps the id"
    );

    // A UUID v4 (RFC 4122 §4.4): 8-4-4-4-12 lowercase hex, version 4, variant 10xx.
    let id = &second[META_INSTANCE_ID];
    let groups: Vec<&str> = id.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        vec![8, 4, 4, 4, 12],
        "{id}"
    );
    assert!(
        id.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{id}"
    );
    assert!(groups[2].starts_with('4'), "{id}");
    assert!(groups[3].starts_with(['8', '9', 'a', 'b']), "{id}");

    let other = tempfile::tempdir().unwrap();
    let other_path = db_path(&other);
    assert_ne!(
        meta(&other_path).unwrap()[META_INSTANCE_ID],
        *id,
        "each database gets its own id"
    );
}

#[test]
fn a_full_channel_is_reported_by_try_send_and_waited_out_by_send() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    // Sending far more than the capacity from one thread completes: send blocks, never drops.
    let n = CHANNEL_CAPACITY * 3;
    let mut full_seen = 0usize;
    for i in 0..n as u64 {
        match tx.try_send(StoreCommand::Security(event(i, "ban"))) {
            Ok(()) => {}
            Err(TrySendError::Full(cmd)) => {
                full_seen += 1;
                tx.send(cmd).unwrap();
            }
            Err(TrySendError::Closed(_)) => panic!("closed"),
        }
    }
    store.close().unwrap();
    assert_eq!(count(&path, "security_events"), n as i64);
    // Not asserted: whether the writer ever fell behind (`full_seen`) depends on the disk.
    let _ = full_seen;
}

/// Throughput of `PutBinding` with synchronous=FULL: batched through the writer, and with one
/// commit (one WAL fsync) per command for comparison. Run with
/// `cargo test --lib store::tests::put_binding_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, prints numbers"]
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock
fn put_binding_throughput() {
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);

    let n = 100_000u32;
    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    let start = Instant::now();
    for i in 0..n {
        tx.send(StoreCommand::PutBinding(binding(
            &format!("{}", i % 1000),
            &format!("sip:{i}@10.0.0.1"),
            1 << 40,
        )))
        .unwrap();
    }
    store.close().unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "batched: {n} PutBinding in {secs:.3} s = {:.0}/s",
        f64::from(n) / secs
    );

    let m = 500u32;
    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    let start = Instant::now();
    for i in 0..m {
        tx.send(StoreCommand::PutBinding(binding(
            "single",
            &format!("sip:{i}@10.0.0.2"),
            1 << 40,
        )))
        .unwrap();
        tx.flush().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    store.close().unwrap();
    println!(
        "one commit each: {m} PutBinding in {secs:.3} s = {:.0}/s",
        f64::from(m) / secs
    );
}

#[test]
fn cdr_with_legs_round_trips_through_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let leg = |leg, side: &str, peer: &str| CdrLeg {
        leg,
        side: side.into(),
        peer: peer.into(),
        start: 100,
        answer: Some(105),
        end: 165,
        disposition: Disposition::Answered,
        sip_code: Some(200),
        codec: Some("PCMU".into()),
        packets: 3000,
        lost: 3,
        jitter_ms: 1.5,
        mos: 4.3,
    };
    let rec = CdrRecord {
        uniqueid: "u1".into(),
        linkedid: "u1".into(),
        start: 100,
        answer: Some(105),
        end: 165,
        caller: "1001".into(),
        caller_name: Some("Alice".into()),
        dialed: "1002".into(),
        answered_by: Some("1002".into()),
        disposition: Disposition::Answered,
        duration: 65,
        billsec: 60,
        hangup_cause: "normal".into(),
        hangup_by: "caller".into(),
        sip_code: None,
        codec_a: Some("PCMU".into()),
        codec_b: Some("opus".into()),
        history: String::new(),
        legs: vec![leg(0, "caller", "1001"), leg(1, "callee", "1002")],
    };
    store
        .sender()
        .send(StoreCommand::Cdr(Box::new(rec.clone())))
        .unwrap();
    store.close().unwrap();
    assert_eq!(crate::store::cdrs(&path).unwrap(), vec![rec]);
}

#[test]
fn cdrs_between_reads_a_start_range_with_legs_and_refuses_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    assert!(matches!(
        crate::store::cdrs_between(&path, None, None, CdrLegs::All),
        Err(StoreError::Missing { .. })
    ));
    assert!(!path.exists());
    let store = Store::open(&path).unwrap();
    let rec = |uid: &str, start: u64, legs: u32| CdrRecord {
        uniqueid: uid.into(),
        linkedid: uid.into(),
        start,
        answer: None,
        end: start + 10,
        caller: "1001".into(),
        caller_name: None,
        dialed: "1002".into(),
        answered_by: None,
        disposition: Disposition::NoAnswer,
        duration: 10,
        billsec: 0,
        hangup_cause: "no answer".into(),
        hangup_by: "system".into(),
        sip_code: Some(480),
        codec_a: None,
        codec_b: None,
        history: String::new(),
        legs: (0..legs)
            .map(|leg| CdrLeg {
                leg,
                side: if leg == 0 { "caller" } else { "callee" }.into(),
                peer: format!("p{leg}"),
                start,
                answer: None,
                end: start + 10,
                disposition: Disposition::NoAnswer,
                sip_code: None,
                codec: None,
                packets: 0,
                lost: 0,
                jitter_ms: 0.0,
                mos: 0.0,
            })
            .collect(),
    };
    // Written out of order: read back by start.
    let all = [
        rec("c", 300, 3),
        rec("a", 100, 1),
        rec("b", 200, 2),
        rec("d", 400, 0),
    ];
    for r in &all {
        store
            .sender()
            .send(StoreCommand::Cdr(Box::new(r.clone())))
            .unwrap();
    }
    store.close().unwrap();
    let ids = |v: Vec<CdrRecord>| v.into_iter().map(|c| c.uniqueid).collect::<Vec<_>>();
    assert_eq!(
        ids(crate::store::cdrs_between(&path, None, None, CdrLegs::All).unwrap()),
        ["a", "b", "c", "d"]
    );
    let got = crate::store::cdrs_between(&path, Some(200), Some(400), CdrLegs::All).unwrap();
    assert_eq!(got, vec![all[2].clone(), all[0].clone()]);
    assert_eq!(
        ids(crate::store::cdrs_between(&path, Some(201), None, CdrLegs::All).unwrap()),
        ["c", "d"]
    );
    assert_eq!(
        ids(crate::store::cdrs_between(&path, None, Some(200), CdrLegs::All).unwrap()),
        ["a"]
    );
    assert_eq!(crate::store::cdrs(&path).unwrap().len(), 4);
}

#[test]
fn the_report_reader_picks_the_callee_leg_answered_first_and_who_was_reached() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    assert!(matches!(
        crate::store::answered_calls_since(&path, None),
        Err(StoreError::Missing { .. })
    ));
    let store = Store::open(&path).unwrap();
    let leg = |leg, side: &str, answer: Option<u64>| CdrLeg {
        leg,
        side: side.into(),
        peer: format!("p{leg}"),
        start: 100,
        answer,
        end: 200,
        disposition: if answer.is_some() {
            Disposition::Answered
        } else {
            Disposition::NoAnswer
        },
        sip_code: None,
        codec: None,
        packets: 0,
        lost: 0,
        jitter_ms: 0.0,
        mos: 0.0,
    };
    let rec = |uid: &str, start, answered_by: Option<&str>, legs: Vec<CdrLeg>| CdrRecord {
        uniqueid: uid.into(),
        linkedid: uid.into(),
        start,
        answer: Some(start),
        end: start + 100,
        caller: format!("c-{uid}"),
        caller_name: None,
        dialed: format!("d-{uid}"),
        answered_by: answered_by.map(str::to_owned),
        disposition: Disposition::Answered,
        duration: 100,
        billsec: 100,
        hangup_cause: "normal".into(),
        hangup_by: "caller".into(),
        sip_code: None,
        codec_a: None,
        codec_b: None,
        history: String::new(),
        legs,
    };
    let all = [
        // The caller leg answers first, then callee legs 3 (at 130) and 1 (at 120).
        rec(
            "a",
            100,
            Some("1002"),
            vec![
                leg(0, "caller", Some(100)),
                leg(1, "callee", Some(120)),
                leg(2, "callee", None),
                leg(3, "callee", Some(130)),
            ],
        ),
        rec(
            "b",
            300,
            None,
            vec![leg(0, "caller", Some(300)), leg(1, "callee", None)],
        ),
        rec("c", 500, Some("1003"), vec![]),
    ];
    for r in &all {
        store
            .sender()
            .send(StoreCommand::Cdr(Box::new(r.clone())))
            .unwrap();
    }
    store.close().unwrap();
    let got = crate::store::cdrs_between(&path, None, None, CdrLegs::FirstAnswered).unwrap();
    let legs: Vec<Vec<u32>> = got
        .iter()
        .map(|c| c.legs.iter().map(|l| l.leg).collect())
        .collect();
    assert_eq!(legs, [vec![1], vec![], vec![]]);
    assert_eq!(got[0].legs[0], all[0].legs[1]);
    let mut without = got[0].clone();
    without.legs = all[0].legs.clone();
    assert_eq!(without, all[0]);
    assert_eq!(
        crate::store::answered_calls_since(&path, Some(101)).unwrap(),
        [("c-c".to_owned(), "d-c".to_owned(), 500)]
    );
    assert_eq!(
        crate::store::answered_calls_since(&path, None)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn voicemail_audio_is_written_before_its_row_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let rec = VoicemailRecord {
        id: "m1".into(),
        mailbox: "1002".into(),
        uniqueid: "u1".into(),
        caller: "1001".into(),
        caller_name: None,
        at: 100,
        duration_ms: 1000,
        pcm: std::sync::Arc::from(vec![7i16; 8000]),
        rate: 8000,
    };
    store
        .sender()
        .send(StoreCommand::Voicemail(Box::new(rec)))
        .unwrap();
    store
        .sender()
        .send(StoreCommand::VoicemailFlag {
            id: "m1".into(),
            heard: true,
            deleted: false,
        })
        .unwrap();
    store.close().unwrap();
    let list = crate::store::voicemails(&path).unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].heard);
    let wav = std::fs::read(&list[0].path).unwrap();
    assert_eq!(wav.len(), 44 + 16_000);
    assert_eq!(&wav[..4], b"RIFF");
}

#[test]
fn greetings_and_changed_pins_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    store
        .sender()
        .send(StoreCommand::Greeting {
            mailbox: "1002".into(),
            pcm: std::sync::Arc::from(vec![5i16; 4000]),
            rate: 8000,
        })
        .unwrap();
    for pin in ["2468", "13579"] {
        store
            .sender()
            .send(StoreCommand::VoicemailPin {
                mailbox: "1002".into(),
                pin: pin.into(),
                at: 100,
            })
            .unwrap();
    }
    store.close().unwrap();
    assert_eq!(crate::store::greetings(&path), vec!["1002".to_owned()]);
    let wav = std::fs::read(dir.path().join("voicemail/1002/greeting.wav")).unwrap();
    assert_eq!(wav.len(), 44 + 8000);
    assert_eq!(
        crate::store::voicemail_pins(&path).unwrap(),
        vec![("1002".to_owned(), "13579".to_owned())],
        "the last change wins"
    );
}

fn qev(at_ms: i64, call_id: &str, event: &str, data: &[&str]) -> QueueEventRecord {
    QueueEventRecord {
        at_ms,
        call_id: call_id.to_string(),
        queue: "support".to_string(),
        agent: if event == "ENTERQUEUE" {
            "NONE"
        } else {
            "1002"
        }
        .to_string(),
        event: event.to_string(),
        data: data.iter().map(|d| d.to_string()).collect(),
    }
}

fn send_all(path: &Path, evs: &[QueueEventRecord]) {
    let store = Store::open(path).unwrap();
    for e in evs {
        store
            .sender()
            .send(StoreCommand::QueueEvent(e.clone()))
            .unwrap();
    }
    store.close().unwrap();
}

#[test]
fn queue_events_round_trip_through_the_writer_ordered_by_time_then_insertion() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let enter = qev(1_700_000_000_250, "u1", "ENTERQUEUE", &["", "1001", "1"]);
    let connect = qev(1_700_000_012_000, "u1", "CONNECT", &["12", "u1-b", "3"]);
    let complete = qev(
        1_700_000_072_900,
        "u1",
        "COMPLETECALLER",
        &["12", "60", "1"],
    );
    // Same millisecond as `connect`, written after it; an agent event with no data.
    let pause = QueueEventRecord {
        call_id: "NONE".into(),
        ..qev(1_700_000_012_000, "NONE", "PAUSE", &[])
    };
    // Written first but earlier in time than everything else.
    let late = qev(1_699_999_999_000, "u0", "ABANDON", &["1", "1", "40"]);
    send_all(
        &path,
        &[
            late.clone(),
            enter.clone(),
            connect.clone(),
            pause.clone(),
            complete.clone(),
        ],
    );
    assert_eq!(
        queue_events(&path, None, None).unwrap(),
        vec![late, enter, connect, pause, complete]
    );
}

#[test]
fn queue_events_filter_on_a_half_open_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let evs: Vec<_> = [999, 1000, 1001, 1999, 2000, 2001]
        .iter()
        .map(|&t| qev(t, &format!("u{t}"), "ENTERQUEUE", &["", "1001", "1"]))
        .collect();
    send_all(&path, &evs);
    let at = |since, until| -> Vec<i64> {
        queue_events(&path, since, until)
            .unwrap()
            .iter()
            .map(|e| e.at_ms)
            .collect()
    };
    assert_eq!(at(None, None), vec![999, 1000, 1001, 1999, 2000, 2001]);
    assert_eq!(at(Some(1000), Some(2000)), vec![1000, 1001, 1999]);
    assert_eq!(at(Some(1001), None), vec![1001, 1999, 2000, 2001]);
    assert_eq!(at(None, Some(1000)), vec![999]);
    assert_eq!(at(Some(2000), Some(2000)), Vec::<i64>::new());
    assert_eq!(at(Some(i64::MIN), Some(i64::MAX)).len(), 6);
}

#[test]
fn queue_event_fields_beyond_the_fifth_are_joined_into_data5() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    // ATTENDEDTRANSFER's LINK form has six fields (here the sixth has a '|' in it); a '|' and
    // a newline in data1 are kept as written (only the export sanitizes).
    let six = qev(
        1000,
        "u1",
        "ATTENDEDTRANSFER",
        &["LINK", "chan-a", "chan-b", "12", "60", "1|x"],
    );
    let odd = qev(2000, "u2", "CUSTOM", &["a|b\nc", "", "", "", "", ""]);
    let five = qev(3000, "u3", "CUSTOM", &["1", "2", "3", "4", "5"]);
    send_all(&path, &[six, odd, five]);

    let conn = Connection::open(&path).unwrap();
    let data5: Vec<String> = conn
        .prepare("SELECT data5 FROM queue_log ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(data5, vec!["60|1 x", "|", "5"]);

    let back = queue_events(&path, None, None).unwrap();
    assert_eq!(
        back[0].data,
        vec!["LINK", "chan-a", "chan-b", "12", "60", "1 x"]
    );
    assert_eq!(
        back[1].data,
        vec!["a|b\nc"],
        "trailing empty fields dropped"
    );
    assert_eq!(back[2].data, vec!["1", "2", "3", "4", "5"]);
}

#[test]
fn queue_events_refuse_a_missing_database_and_do_not_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let err = queue_events(&path, None, None).unwrap_err();
    assert!(
        matches!(&err, StoreError::Missing { path: p } if *p == path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("no database at {}", path.display())
    );
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn agent_states_round_trip_and_the_latest_write_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    let tx = store.sender();
    let rec = |agent: &str, logged_in: bool, queues: &[&str], paused: Option<u16>| {
        StoreCommand::PutAgentState(crate::store::AgentStateRecord {
            agent: agent.into(),
            logged_in,
            queues: queues.iter().map(|q| (*q).to_string()).collect(),
            paused,
            changed_at: 1_700_000_000,
        })
    };
    tx.send(rec("bob", true, &["support", "sales"], None))
        .unwrap();
    tx.send(rec("alice", false, &[], None)).unwrap();
    tx.send(rec("bob", true, &["support"], Some(3))).unwrap();
    store.close().unwrap();
    let got = crate::store::agent_states(&path).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].agent, "alice");
    assert!(!got[0].logged_in && got[0].queues.is_empty());
    assert_eq!(got[1].queues, ["support"]);
    assert_eq!(got[1].paused, Some(3));
}

/// The streamed fold gives the events as `queue_events` does, in time order whether the log
/// was written in time order (read by id) or not (the fallback), data fields included.
#[test]
fn the_streamed_queue_event_fold_sees_the_time_order_in_order_or_not() {
    let seen = |path: &Path, since: Option<i64>, until: Option<i64>| {
        for_each_queue_event(path, since, until, Vec::new, |v, e| {
            let data: Vec<String> = (0..7).map(|i| e.data.get(i).to_owned()).collect();
            v.push((e.at_ms, e.call_id.to_owned(), e.event.to_owned(), data));
        })
        .unwrap()
    };
    let want = |path: &Path, since: Option<i64>, until: Option<i64>| {
        queue_events(path, since, until)
            .unwrap()
            .into_iter()
            .map(|e| {
                let data: Vec<String> = (0..7)
                    .map(|i| e.data.get(i).cloned().unwrap_or_default())
                    .collect();
                (e.at_ms, e.call_id, e.event, data)
            })
            .collect::<Vec<_>>()
    };
    let evs = [
        qev(1_000, "u1", "ENTERQUEUE", &["", "1001", "1"]),
        qev(2_000, "u1", "CONNECT", &["12", "u1-b", "3"]),
        qev(2_000, "u2", "ENTERQUEUE", &["", "1003", "1"]),
        qev(
            3_000,
            "u1",
            "BLINDTRANSFER",
            &["200", "ctx", "12", "60", "1", "x", "y"],
        ),
        qev(4_000, "u2", "ABANDON", &["1", "1", "2"]),
    ];
    // In order; one event late; the last event first (a row before the range's first by time
    // that belongs to the range: only a log known to be out of order may be read by min(id)).
    for (order, disorder) in [
        ([0, 1, 2, 3, 4], None),
        ([0, 3, 1, 2, 4], Some("3")),
        ([3, 0, 1, 2, 4], Some("2")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = db_path(&dir);
        let written: Vec<QueueEventRecord> = order.iter().map(|&i| evs[i].clone()).collect();
        send_all(&path, &written);
        let conn = Connection::open(&path).unwrap();
        let flag: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'queue_log_disorder'",
                [],
                |r| r.get(0),
            )
            .ok();
        assert_eq!(flag.as_deref(), disorder, "{order:?}");
        for (since, until) in [
            (None, None),
            (Some(2_000), None),
            (Some(1_500), Some(3_500)),
        ] {
            let got = seen(&path, since, until);
            assert_eq!(
                got,
                want(&path, since, until),
                "{order:?} {since:?} {until:?}"
            );
        }
        assert_eq!(seen(&path, None, None).len(), 5);
        assert!(seen(&path, Some(5_000), None).is_empty());
    }
}

/// Migrating to v10 finds a queue log written out of order before the trigger existed.
#[test]
fn the_v10_migration_finds_a_queue_log_out_of_time_order() {
    for (times, disorder) in [
        (&[1_000, 2_000, 2_000][..], None),
        (&[1_000, 3_000, 2_000], Some("3")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = db_path(&dir);
        let mut conn = open_configured(&path).unwrap();
        migrate_to(&mut conn, &path, 9).unwrap();
        for t in times {
            conn.execute(
                "INSERT INTO queue_log (at_ms, call_id, queue, agent, event) VALUES (?1, 'c', 'q', 'NONE', 'ENTERQUEUE')",
                [t],
            )
            .unwrap();
        }
        migrate_to(&mut conn, &path, 10).unwrap();
        let flag: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'queue_log_disorder'",
                [],
                |r| r.get(0),
            )
            .ok();
        assert_eq!(flag.as_deref(), disorder, "{times:?}");
    }
}

/// The rows cross to the fold in batches: over several batches, one event late after the first
/// batch went (the fold starts again, by time) and one row whose call id is not UTF-8
/// (skipped with a warning), the fold sees every other event in time order.
#[test]
fn the_streamed_fold_over_several_batches_restarts_and_skips_an_unreadable_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let n = 2 * 4096 + 10;
    let mut evs: Vec<QueueEventRecord> = (0..n)
        .map(|i| {
            qev(
                1_000 + i as i64 * 10,
                &format!("u{i}"),
                "ENTERQUEUE",
                &["", "1001", "1"],
            )
        })
        .collect();
    evs.swap(5_000, 5_001);
    send_all(&path, &evs);
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE queue_log SET call_id = CAST(x'ff' AS TEXT) WHERE id = 7",
        [],
    )
    .unwrap();
    let got = for_each_queue_event(&path, None, None, Vec::new, |v, e| {
        v.push((e.at_ms, e.call_id.to_owned(), e.data.get(1).to_owned()));
    })
    .unwrap();
    // Row 7 is the seventh written.
    let mut want: Vec<_> = (evs.iter().enumerate())
        .filter(|(i, _)| *i != 6)
        .map(|(_, e)| (e.at_ms, e.call_id.clone(), e.data[1].clone()))
        .collect();
    want.sort();
    assert_eq!(got.len(), n - 1);
    assert_eq!(got, want);
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    // Two folds at once (the second on its own thread) see the same, restart included.
    let step = |v: &mut Vec<_>, e: &QueueEventRef<'_>| {
        v.push((e.at_ms, e.call_id.to_owned(), e.data.get(1).to_owned()));
    };
    let (a, b) =
        for_each_queue_event_twice(&path, None, None, (Vec::new, step), (Vec::new, step)).unwrap();
    assert_eq!((a == want, b == want), (true, true));
}

/// The reader's events from `queue_log_pack` and the rows are those `queue_events` gives,
/// whatever happened to the rows after they were packed: the writer packs complete chunks as
/// the log grows, a report packs what another tool wrote, a changed, deleted or inserted row
/// drops its pack, a damaged pack is read from its rows.
#[test]
fn queue_log_packs_agree_with_the_rows_whatever_happens_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let n = 3 * 4096 + 100;
    let evs: Vec<QueueEventRecord> = (0..n)
        .map(|i| {
            let data = [
                String::new(),
                format!("+49301{i}"),
                (i % 7).to_string(),
                "Grüße".repeat(i % 3),
                String::new(),
                "x".repeat(i % 130),
            ];
            let data: Vec<&str> = data.iter().map(String::as_str).collect();
            let ev = ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"][i % 3];
            qev(1_000 + i as i64 * 7, &format!("u{}", i / 3), ev, &data)
        })
        .collect();
    send_all(&path, &evs);
    // The writer packs after every chunk's worth of events it wrote (the last complete chunk
    // may wait for the next writes); the first read packs the rest.
    assert!(count(&path, "queue_log_pack") >= 2, "packed by the writer");
    let seen = |since: Option<i64>, until: Option<i64>| {
        for_each_queue_event(&path, since, until, Vec::new, |v, e| {
            let data: Vec<String> = (0..6).map(|i| e.data.get(i).to_owned()).collect();
            v.push((
                e.at_ms,
                e.call_id.to_owned(),
                e.agent.to_owned(),
                e.event.to_owned(),
                data,
            ));
        })
        .unwrap()
    };
    let want = |since: Option<i64>, until: Option<i64>| {
        queue_events(&path, since, until)
            .unwrap()
            .into_iter()
            .map(|e| {
                let data: Vec<String> = (0..6)
                    .map(|i| e.data.get(i).cloned().unwrap_or_default())
                    .collect();
                (e.at_ms, e.call_id, e.agent, e.event, data)
            })
            .collect::<Vec<_>>()
    };
    // Whole log; from inside the first pack to inside the third; inside one pack; the tail.
    let at = |i: usize| Some(1_000 + i as i64 * 7);
    let ranges = [
        (None, None),
        (at(100), at(3 * 4096 - 5)),
        (at(4096 + 3), at(4096 + 10)),
        (at(3 * 4096 + 1), None),
        (None, at(0)),
    ];
    let check = |what: &str| {
        for (since, until) in ranges {
            let got = seen(since, until);
            assert_eq!(got, want(since, until), "{what}: {since:?}..{until:?}");
        }
    };
    check("as written");
    assert_eq!(
        count(&path, "queue_log_pack"),
        3,
        "three complete chunks packed"
    );
    assert_eq!(seen(None, None).len(), n);

    let conn = Connection::open(&path).unwrap();
    conn.execute("DELETE FROM queue_log WHERE id = 5000", [])
        .unwrap();
    assert_eq!(
        count(&path, "queue_log_pack"),
        2,
        "the pack of row 5000 dropped"
    );
    check("a row deleted");
    conn.execute(
        "INSERT INTO queue_log (id, at_ms, call_id, queue, agent, event)
         VALUES (5000, 1000 + 4999 * 7, 'back', 'support', 'NONE', 'ENTERQUEUE')",
        [],
    )
    .unwrap();
    conn.execute("UPDATE queue_log SET data2 = 'changed' WHERE id = 100", [])
        .unwrap();
    assert_eq!(
        count(&path, "queue_log_pack"),
        1,
        "the pack of row 100 dropped"
    );
    // Packed again over a gap: a row inserted into the gap drops its pack too.
    conn.execute("DELETE FROM queue_log_pack", []).unwrap();
    conn.execute("DELETE FROM queue_log WHERE id = 9000", [])
        .unwrap();
    drop(conn);
    for_each_queue_event(&path, None, None, || (), |_, _| {}).unwrap();
    assert_eq!(
        count(&path, "queue_log_pack"),
        3,
        "a report packs what is complete"
    );
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO queue_log (id, at_ms, call_id, queue, agent, event)
         VALUES (9000, 1000 + 8999 * 7, 'again', 'support', 'NONE', 'ABANDON')",
        [],
    )
    .unwrap();
    assert_eq!(count(&path, "queue_log_pack"), 2);
    check("rows changed and inserted");
    conn.execute("UPDATE queue_log_pack SET events = x'5a515031ffff'", [])
        .unwrap();
    check("damaged packs");
    assert_eq!(seen(None, None).len(), n);
}

/// A log written before packs (schema v11) or by another tool is packed by the first report.
#[test]
fn a_log_from_before_packs_is_packed_by_the_first_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let mut conn = open_configured(&path).unwrap();
        migrate_to(&mut conn, &path, 11).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..5000i64 {
            tx.execute(
                "INSERT INTO queue_log (at_ms, call_id, queue, agent, event, data1)
                 VALUES (?1, ?2, 'sales', 'NONE', 'ENTERQUEUE', '')",
                rusqlite::params![i * 1000, format!("c{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let got = for_each_queue_event(&path, None, None, Vec::new, |v, e| {
        v.push((e.at_ms, e.call_id.to_owned()));
    })
    .unwrap();
    assert_eq!(version_of(&path), SCHEMA_VERSION);
    assert_eq!(count(&path, "queue_log_pack"), 1);
    let want: Vec<_> = (0..5000i64).map(|i| (i * 1000, format!("c{i}"))).collect();
    assert_eq!(got, want);
    let again = for_each_queue_event(&path, None, None, Vec::new, |v, e| {
        v.push((e.at_ms, e.call_id.to_owned()));
    })
    .unwrap();
    assert_eq!(again, want);
}

/// The call list's records from `cdr_pack` (merged into start order) are those read from the
/// rows, whatever happened to the rows or their legs after they were packed, and however far
/// the order they were written in is from the order they started in.
#[test]
fn cdr_packs_merge_into_the_rows_order_whatever_happens_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let n = 3 * 4096 + 300;
    let store = Store::open(&path).unwrap();
    for i in 0..n as u64 {
        // Written as calls end: starts mostly rising, some far back (long calls), ties.
        let start = match i % 97 {
            0 => 1_000 + i / 3,
            5 => (1_000 + i * 10).saturating_sub(40_000),
            _ => 1_000 + i * 10 - (i % 13) * 25,
        };
        let answered = i % 4 != 0;
        let leg = |leg: u32, side: &str, answer: Option<u64>| CdrLeg {
            leg,
            side: side.into(),
            peer: format!("p{leg}"),
            start,
            answer,
            end: start + 60,
            disposition: Disposition::Answered,
            sip_code: Some(200),
            codec: None,
            packets: 0,
            lost: 0,
            jitter_ms: 0.0,
            mos: 0.0,
        };
        let rec = CdrRecord {
            uniqueid: format!("u{i}"),
            linkedid: format!("l{}", i / 2),
            start,
            answer: answered.then_some(start + 5),
            end: start + 60,
            caller: format!("+4930{i}"),
            caller_name: (i % 3 == 0).then(|| "Jürgen, \"Chef\"".to_string()),
            dialed: "700".into(),
            answered_by: answered.then(|| format!("10{}", i % 20)),
            disposition: if answered {
                Disposition::Answered
            } else {
                Disposition::NoAnswer
            },
            duration: 60,
            billsec: if answered { 55 } else { 0 },
            hangup_cause: "normal".into(),
            hangup_by: "caller".into(),
            sip_code: (i % 5 == 0).then_some(486),
            codec_a: Some("PCMU".into()),
            codec_b: (i % 7 == 0).then(|| "opus".into()),
            history: format!("queue:sales;ivr:main>{}", i % 9),
            legs: vec![
                leg(0, "caller", None),
                leg(1, "callee", answered.then_some(start + 9)),
                leg(2, "callee", (i % 8 == 1).then_some(start + 7)),
            ],
        };
        store
            .sender()
            .send(StoreCommand::Cdr(Box::new(rec)))
            .unwrap();
    }
    store.close().unwrap();
    assert!(count(&path, "cdr_pack") >= 2, "packed by the writer");
    let read = |packs: bool, since: Option<i64>, until: Option<i64>| {
        let mut v = Vec::new();
        super::read::each_cdr_first_answered_from(&path, since, until, packs, |c| {
            v.push(c.clone())
        })
        .unwrap();
        v
    };
    let ranges = [
        (None, None),
        (Some(5_000), Some(100_000)),
        (Some(50_000), Some(50_100)),
        (Some(120_000), None),
        (None, Some(1_000)),
        (Some(999_999_999), None),
    ];
    let check = |what: &str| {
        for (since, until) in ranges {
            let got = read(true, since, until);
            let want = read(false, since, until);
            assert_eq!(got.len(), want.len(), "{what}: {since:?}..{until:?}");
            assert!(got == want, "{what}: {since:?}..{until:?}");
        }
    };
    check("as written");
    assert_eq!(count(&path, "cdr_pack"), 3, "three complete chunks packed");
    let all = read(true, None, None);
    assert_eq!(all.len(), n);
    assert!(all.windows(2).all(|w| w[0].start <= w[1].start), "by start");
    assert!(
        all.iter()
            .any(|c| c.legs.len() == 1 && c.legs[0].answer == Some(c.start + 7))
    );

    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE cdr_legs SET answer = answer + 1 WHERE uniqueid = 'u10' AND leg = 1",
        [],
    )
    .unwrap();
    assert_eq!(count(&path, "cdr_pack"), 2, "a changed leg drops its pack");
    check("a leg changed");
    conn.execute("DELETE FROM cdr_pack", []).unwrap();
    drop(conn);
    check("packed again");
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO cdr_legs (uniqueid, leg, side, peer, start, answer, end, disposition)
         VALUES ('u5000', 9, 'callee', 'x', 0, 1, 2, 'ANSWERED')",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE cdr SET caller = 'changed' WHERE uniqueid = 'u9000'",
        [],
    )
    .unwrap();
    assert_eq!(
        count(&path, "cdr_pack"),
        1,
        "a new leg and a changed CDR drop their packs"
    );
    check("a leg added, a CDR changed");
    conn.execute("UPDATE cdr_pack SET records = x'5a435031ffff'", [])
        .unwrap();
    check("damaged packs");
    // Rowids that move (a VACUUM may renumber a table without an INTEGER PRIMARY KEY; the
    // bundled SQLite does not here, so the move is made by hand, behind the triggers' back):
    // a pack whose ends no longer hold its first and last CDR is read from its rows.
    conn.execute("DELETE FROM cdr_pack", []).unwrap();
    drop(conn);
    check("packed again");
    let conn = Connection::open(&path).unwrap();
    conn.execute("DELETE FROM cdr WHERE uniqueid IN ('u3', 'u4')", [])
        .unwrap();
    conn.execute_batch(
        "DROP TRIGGER cdr_pack_update;
         UPDATE cdr SET rowid = rowid + 100000 WHERE rowid > 5000;
         VACUUM;",
    )
    .unwrap();
    assert_eq!(count(&path, "cdr_pack"), 2, "two packs left, out of date");
    drop(conn);
    check("rowids moved");
    assert_eq!(read(true, None, None).len(), n - 2);
}
