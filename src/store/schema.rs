//! Schema migrations keyed on `PRAGMA user_version`, and opening a configured connection.
//!
//! [`MIGRATIONS`] is append-only: never edit or reorder an entry that has shipped, add a new
//! one. `user_version` is the number of entries applied. Each migration runs in its own
//! `BEGIN IMMEDIATE` transaction together with the `user_version` bump, so a crash leaves the
//! database at a whole version, and two processes opening the same file at once cannot both
//! apply the same step (the second re-reads the version under the write lock).

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{BUSY_TIMEOUT, StoreError};

/// The schema steps, oldest first. Index `k` brings a database from version `k` to `k + 1`.
pub const MIGRATIONS: &[&str] = &[
    // v1: registrar bindings (RFC 3261 §10.3 location service, RFC 5626 §6 instance/reg-id).
    // Keyed by what the registrar replaces on: the AOR and the Contact as registered.
    // Lookups by AOR use the primary-key prefix; the index serves the expiry sweep.
    "CREATE TABLE bindings (
        aor         TEXT NOT NULL,
        contact     TEXT NOT NULL,
        instance    TEXT,
        reg_id      INTEGER,
        call_id     TEXT NOT NULL,
        cseq        INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        transport   TEXT NOT NULL,
        source      TEXT NOT NULL,
        local       TEXT NOT NULL,
        user_agent  TEXT,
        q           REAL,
        PRIMARY KEY (aor, contact)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX bindings_expires_at ON bindings (expires_at);",
    // v2: security events (bans, unbans, floods), append-only, read by time or by source IP.
    "CREATE TABLE security_events (
        id      INTEGER PRIMARY KEY,
        at      INTEGER NOT NULL,
        source  TEXT NOT NULL,
        kind    TEXT NOT NULL,
        detail  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX security_events_at ON security_events (at);
    CREATE INDEX security_events_source ON security_events (source, at);",
    // v3: installation facts as key/value. `instance_id` is a random UUID v4 made here, once
    // per database (RFC 4122 §4.4: version nibble 4, variant bits 10).
    "CREATE TABLE meta (
        key    TEXT PRIMARY KEY NOT NULL,
        value  TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('instance_id',
        lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
        substr(lower(hex(randomblob(2))), 2) || '-' ||
        substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) ||
        '-' || lower(hex(randomblob(6))));",
    // v4: call detail records. One row per call journey (`cdr`) and one per leg (`cdr_legs`).
    // `linkedid` groups the journeys of one customer interaction (transfers keep it). Times are
    // unix seconds; `duration`/`billsec` are whole seconds measured on the monotonic clock.
    "CREATE TABLE cdr (
        uniqueid      TEXT PRIMARY KEY NOT NULL,
        linkedid      TEXT NOT NULL,
        start         INTEGER NOT NULL,
        answer        INTEGER,
        end           INTEGER NOT NULL,
        caller        TEXT NOT NULL,
        caller_name   TEXT,
        dialed        TEXT NOT NULL,
        answered_by   TEXT,
        disposition   TEXT NOT NULL CHECK (disposition IN
                        ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED', 'CANCELLED')),
        duration      INTEGER NOT NULL,
        billsec       INTEGER NOT NULL,
        hangup_cause  TEXT NOT NULL,
        hangup_by     TEXT NOT NULL,
        sip_code      INTEGER,
        codec_a       TEXT,
        codec_b       TEXT,
        history       TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX cdr_start ON cdr (start);
    CREATE INDEX cdr_linkedid ON cdr (linkedid);
    CREATE TABLE cdr_legs (
        uniqueid      TEXT NOT NULL REFERENCES cdr (uniqueid) ON DELETE CASCADE,
        leg           INTEGER NOT NULL,
        side          TEXT NOT NULL,
        peer          TEXT NOT NULL,
        start         INTEGER NOT NULL,
        answer        INTEGER,
        end           INTEGER NOT NULL,
        disposition   TEXT NOT NULL,
        sip_code      INTEGER,
        codec         TEXT,
        packets       INTEGER NOT NULL DEFAULT 0,
        lost          INTEGER NOT NULL DEFAULT 0,
        jitter_ms     REAL NOT NULL DEFAULT 0,
        mos           REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (uniqueid, leg)
    ) STRICT;",
    // v5: features switched from the phone (feature codes) that must survive a restart.
    "CREATE TABLE ext_state (
        ext               TEXT PRIMARY KEY NOT NULL,
        dnd               INTEGER NOT NULL,
        forward_always    TEXT,
        forward_busy      TEXT,
        forward_noanswer  TEXT
    ) STRICT, WITHOUT ROWID;",
    // v6: voicemail messages; the audio is a WAV file at `path`, relative to the database.
    "CREATE TABLE voicemail (
        id           TEXT PRIMARY KEY NOT NULL,
        mailbox      TEXT NOT NULL,
        uniqueid     TEXT NOT NULL,
        caller       TEXT NOT NULL,
        caller_name  TEXT,
        at           INTEGER NOT NULL,
        duration_ms  INTEGER NOT NULL,
        path         TEXT NOT NULL,
        heard        INTEGER NOT NULL DEFAULT 0,
        deleted      INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX voicemail_mailbox ON voicemail (mailbox, at);",
    // v7: voicemail PINs changed from the phone (mailbox menu key 3); they override the
    // `voicemail_pin` of extensions.toml.
    "CREATE TABLE voicemail_pin (
        mailbox     TEXT PRIMARY KEY NOT NULL,
        pin         TEXT NOT NULL,
        changed_at  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;",
    // v8: the queue event log (Asterisk queue_log in spirit), append-only, written by the ACD
    // engine and exported by `zvon report queue-log`. `at_ms` is unix milliseconds; `id` keeps
    // the order of events within one millisecond. data1..data5 as in Asterisk's realtime
    // queue_log: data5 carries the 5th and any further fields joined with '|'.
    "CREATE TABLE queue_log (
        id       INTEGER PRIMARY KEY,
        at_ms    INTEGER NOT NULL,
        call_id  TEXT NOT NULL,
        queue    TEXT NOT NULL,
        agent    TEXT NOT NULL,
        event    TEXT NOT NULL,
        data1    TEXT NOT NULL DEFAULT '',
        data2    TEXT NOT NULL DEFAULT '',
        data3    TEXT NOT NULL DEFAULT '',
        data4    TEXT NOT NULL DEFAULT '',
        data5    TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX queue_log_at ON queue_log (at_ms);
    CREATE INDEX queue_log_queue ON queue_log (queue, at_ms);
    CREATE INDEX queue_log_call_id ON queue_log (call_id);",
    // v9: queue agents' login and pause state, so a restart keeps who is logged in to which
    // queues and who is paused (with the reason code). One row per agent, replaced on change.
    "CREATE TABLE agent_state (
        agent       TEXT PRIMARY KEY NOT NULL,
        logged_in   INTEGER NOT NULL,
        queues      TEXT NOT NULL,
        paused      INTEGER,
        changed_at  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;",
    // v10: whether the queue log is in time order. The ACD writes events as they happen, so
    // `at_ms` only goes down when the wall clock steps back; the first row that came earlier
    // than the row before it is recorded in meta `queue_log_disorder` (by this trigger for
    // every writer, and here for the rows already written). Readers of long ranges use it: in
    // a log known to be in order, the first and last row of a time range are found on the
    // `queue_log_at` index instead of by scanning the range for min(id) and max(id).
    "CREATE TRIGGER queue_log_order AFTER INSERT ON queue_log
     WHEN NEW.at_ms < (SELECT q.at_ms FROM queue_log q WHERE q.id < NEW.id ORDER BY q.id DESC LIMIT 1)
     BEGIN
         INSERT OR IGNORE INTO meta (key, value) VALUES ('queue_log_disorder', NEW.id);
     END;
     INSERT OR IGNORE INTO meta (key, value)
         SELECT 'queue_log_disorder', id FROM
             (SELECT id, at_ms, lag(at_ms) OVER (ORDER BY id) AS prev FROM queue_log)
         WHERE at_ms < prev LIMIT 1;",
    // v11: the reports take each answered call's first callee answer (the speed of answer)
    // from its legs: with the answer time in the index the lookup needs no table read (a year
    // of calls, 1M CDRs: 0.5 s less per report).
    "CREATE INDEX cdr_legs_answer ON cdr_legs (uniqueid, side, answer);",
    // v12: the queue log in packs of 4096 rows for the reports' long reads (`store::pack`:
    // what a pack holds, who makes them). The triggers drop a pack when a row it covers
    // changes, goes, or is inserted inside it, so a pack always agrees with its rows; the
    // insert trigger's test is one lookup of the last pack.
    "CREATE TABLE queue_log_pack (
        first_id INTEGER PRIMARY KEY,
        last_id  INTEGER NOT NULL,
        events   BLOB NOT NULL
    ) STRICT;
    CREATE TRIGGER queue_log_pack_insert AFTER INSERT ON queue_log
     WHEN NEW.id <= (SELECT last_id FROM queue_log_pack ORDER BY first_id DESC LIMIT 1)
     BEGIN
         DELETE FROM queue_log_pack WHERE first_id =
             (SELECT max(first_id) FROM queue_log_pack WHERE first_id <= NEW.id)
             AND last_id >= NEW.id;
     END;
    CREATE TRIGGER queue_log_pack_update AFTER UPDATE ON queue_log BEGIN
         DELETE FROM queue_log_pack WHERE first_id IN
             (SELECT max(first_id) FROM queue_log_pack WHERE first_id <= OLD.id
              UNION SELECT max(first_id) FROM queue_log_pack WHERE first_id <= NEW.id)
             AND (last_id >= OLD.id AND first_id <= OLD.id OR last_id >= NEW.id AND first_id <= NEW.id);
     END;
    CREATE TRIGGER queue_log_pack_delete AFTER DELETE ON queue_log BEGIN
         DELETE FROM queue_log_pack WHERE first_id =
             (SELECT max(first_id) FROM queue_log_pack WHERE first_id <= OLD.id)
             AND last_id >= OLD.id;
     END;",
    // v13: the CDRs in packs of 4096 rows for the call list's long reads (`store::cdr_pack`).
    // A pack also holds each CDR's first callee answer, so a change to a leg drops the pack
    // of its CDR too; the insert triggers' tests are a lookup or two.
    "CREATE TABLE cdr_pack (
        first_rowid    INTEGER PRIMARY KEY,
        last_rowid     INTEGER NOT NULL,
        first_uniqueid TEXT,
        last_uniqueid  TEXT,
        min_start      INTEGER NOT NULL,
        max_start      INTEGER NOT NULL,
        records        BLOB NOT NULL
    ) STRICT;
    CREATE TRIGGER cdr_pack_insert AFTER INSERT ON cdr
     WHEN NEW.rowid <= (SELECT last_rowid FROM cdr_pack ORDER BY first_rowid DESC LIMIT 1)
     BEGIN
         DELETE FROM cdr_pack WHERE first_rowid =
             (SELECT max(first_rowid) FROM cdr_pack WHERE first_rowid <= NEW.rowid)
             AND last_rowid >= NEW.rowid;
     END;
    CREATE TRIGGER cdr_pack_update AFTER UPDATE ON cdr BEGIN
         DELETE FROM cdr_pack WHERE first_rowid IN
             (SELECT max(first_rowid) FROM cdr_pack WHERE first_rowid <= OLD.rowid
              UNION SELECT max(first_rowid) FROM cdr_pack WHERE first_rowid <= NEW.rowid)
             AND (last_rowid >= OLD.rowid AND first_rowid <= OLD.rowid
                  OR last_rowid >= NEW.rowid AND first_rowid <= NEW.rowid);
     END;
    CREATE TRIGGER cdr_pack_delete AFTER DELETE ON cdr BEGIN
         DELETE FROM cdr_pack WHERE first_rowid =
             (SELECT max(first_rowid) FROM cdr_pack WHERE first_rowid <= OLD.rowid)
             AND last_rowid >= OLD.rowid;
     END;
    CREATE TRIGGER cdr_pack_leg_insert AFTER INSERT ON cdr_legs
     WHEN (SELECT rowid FROM cdr WHERE uniqueid = NEW.uniqueid)
          <= (SELECT last_rowid FROM cdr_pack ORDER BY first_rowid DESC LIMIT 1)
     BEGIN
         DELETE FROM cdr_pack WHERE first_rowid = (SELECT max(first_rowid) FROM cdr_pack
             WHERE first_rowid <= (SELECT rowid FROM cdr WHERE uniqueid = NEW.uniqueid))
             AND last_rowid >= (SELECT rowid FROM cdr WHERE uniqueid = NEW.uniqueid);
     END;
    CREATE TRIGGER cdr_pack_leg_update AFTER UPDATE ON cdr_legs BEGIN
         DELETE FROM cdr_pack WHERE first_rowid IN
             (SELECT max(p.first_rowid) FROM cdr_pack p, cdr c
              WHERE c.uniqueid IN (OLD.uniqueid, NEW.uniqueid) AND p.first_rowid <= c.rowid
              GROUP BY c.rowid)
             AND EXISTS (SELECT 1 FROM cdr c WHERE c.uniqueid IN (OLD.uniqueid, NEW.uniqueid)
                 AND c.rowid BETWEEN cdr_pack.first_rowid AND cdr_pack.last_rowid);
     END;
    CREATE TRIGGER cdr_pack_leg_delete AFTER DELETE ON cdr_legs BEGIN
         DELETE FROM cdr_pack WHERE first_rowid = (SELECT max(first_rowid) FROM cdr_pack
             WHERE first_rowid <= (SELECT rowid FROM cdr WHERE uniqueid = OLD.uniqueid))
             AND last_rowid >= (SELECT rowid FROM cdr WHERE uniqueid = OLD.uniqueid);
     END;",
];

/// The schema version this build writes: the number of [`MIGRATIONS`].
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Opens (creating) `path`, sets the PRAGMAs (WAL, `synchronous=FULL`, `foreign_keys`,
/// `busy_timeout`) and migrates to [`SCHEMA_VERSION`].
pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = open_configured(path)?;
    migrate_to(&mut conn, path, SCHEMA_VERSION)?;
    Ok(conn)
}

/// Like [`open_connection`], but a missing file is [`StoreError::Missing`] instead of a new
/// database (for readers such as `zvon report`, which must not create one).
pub(super) fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = open_with(path, false)?;
    migrate_to(&mut conn, path, SCHEMA_VERSION)?;
    Ok(conn)
}

/// Opens and configures a connection without migrating (tests build old versions with it).
pub(super) fn open_configured(path: &Path) -> Result<Connection, StoreError> {
    open_with(path, true)
}

fn open_with(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    } else if !path.is_file() {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    // The PRAGMA, not `Connection::busy_timeout`: rusqlite 0.41's method also calls
    // `sqlite3_set_clientdata`, which Debian 12's SQLite 3.40 lacks (a link error should the
    // build ever go back to the system library).
    let busy_ms = i64::try_from(BUSY_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
    conn.pragma_update(None, "busy_timeout", busy_ms)
        .map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    Ok(conn)
}

/// The database's `user_version`.
pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies migrations until the database is at `target` (≤ [`SCHEMA_VERSION`]).
/// A database already newer than [`SCHEMA_VERSION`] is an error, one between `target` and
/// [`SCHEMA_VERSION`] is left alone.
pub(super) fn migrate_to(
    conn: &mut Connection,
    path: &Path,
    target: u32,
) -> Result<(), StoreError> {
    let target = target.min(SCHEMA_VERSION);
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let found = user_version(&tx).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: path.to_path_buf(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found >= target {
            // Nothing to do; dropping `tx` rolls back the empty transaction.
            return Ok(());
        }
        let next = found + 1;
        let migration_err = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version: next,
            source,
        };
        let sql = MIGRATIONS[found as usize];
        tx.execute_batch(sql).map_err(migration_err)?;
        tx.pragma_update(None, "user_version", next)
            .map_err(migration_err)?;
        tx.commit().map_err(migration_err)?;
        tracing::info!(path = %path.display(), version = next, "database migrated");
    }
}
