//! The writer thread: owns the read-write connection, batches commands into transactions.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use rusqlite::{Connection, params};

use super::schema::open_connection;
use super::{
    CHANNEL_CAPACITY, MAX_BATCH, StoreCommand, StoreError, queue_data_to_columns, to_sql_secs,
};

/// The SQLite store: the writer thread `zvon-store` and the sending end of its channel.
///
/// The store holds the only strong reference to the channel's sender; [`StoreSender`]s hold
/// weak ones. [`Store::close`] drops it, so the writer sees the channel disconnect once the
/// queue is empty, commits and exits, and later sends fail with [`StoreError::Closed`].
pub struct Store {
    tx: Option<Arc<SyncSender<StoreCommand>>>,
    handle: Option<JoinHandle<()>>,
    path: PathBuf,
}

/// A cloneable handle for sending [`StoreCommand`]s to the writer thread.
#[derive(Clone)]
pub struct StoreSender {
    tx: Weak<SyncSender<StoreCommand>>,
}

/// Why [`StoreSender::try_send`] did not queue a command; the command is handed back.
#[derive(Debug)]
pub enum TrySendError {
    /// The channel holds [`CHANNEL_CAPACITY`] commands; retry with the blocking `send`.
    Full(StoreCommand),
    /// The store has been closed.
    Closed(StoreCommand),
}

impl StoreSender {
    /// Queues `cmd`, blocking while the channel is full (backpressure; never drops).
    pub fn send(&self, cmd: StoreCommand) -> Result<(), StoreError> {
        let tx = self.tx.upgrade().ok_or(StoreError::Closed)?;
        tx.send(cmd).map_err(|_| StoreError::Closed)
    }

    /// Queues `cmd` if there is room right now (for async callers that must not block).
    // Handing the command back is the point (as with std's `TrySendError`); it is rare.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, cmd: StoreCommand) -> Result<(), TrySendError> {
        let Some(tx) = self.tx.upgrade() else {
            return Err(TrySendError::Closed(cmd));
        };
        tx.try_send(cmd).map_err(|e| match e {
            mpsc::TrySendError::Full(c) => TrySendError::Full(c),
            mpsc::TrySendError::Disconnected(c) => TrySendError::Closed(c),
        })
    }

    /// Blocks until everything sent before this call is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        self.send(StoreCommand::Flush(reply_tx))?;
        reply_rx.recv().map_err(|_| StoreError::Closed)
    }
}

impl Store {
    /// Opens (creating) `path`, sets PRAGMAs, runs migrations, spawns the writer thread
    /// `zvon-store`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = open_connection(path)?;
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let thread_path = path.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("zvon-store".into())
            .spawn(move || run(conn, rx, &thread_path))
            .map_err(StoreError::Spawn)?;
        Ok(Store {
            tx: Some(Arc::new(tx)),
            handle: Some(handle),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A cloneable sender for the runtime.
    pub fn sender(&self) -> StoreSender {
        StoreSender {
            tx: self.tx.as_ref().map(Arc::downgrade).unwrap_or_default(),
        }
    }

    /// Blocks until everything sent before this call (by any sender) is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.sender().flush()
    }

    /// Drains everything queued, commits it, and joins the writer thread. Senders still alive
    /// afterwards get [`StoreError::Closed`].
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        // Dropping the only strong sender disconnects the channel (once a send in progress on
        // another thread returns); the writer drains the queue, commits and returns.
        self.tx = None;
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        handle.join().map_err(|_| StoreError::WriterPanicked)
    }
}

impl Drop for Store {
    /// Dropping without [`Store::close`] still commits what is queued (and blocks for it).
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "store shutdown");
        }
    }
}

/// Queue log packs the writer makes at most after one batch.
const PACKS_PER_BATCH: usize = 4;

/// The thread body: one batch per wake-up until the channel is disconnected and empty.
fn run(mut conn: Connection, rx: Receiver<StoreCommand>, path: &Path) {
    let mut batch: Vec<StoreCommand> = Vec::with_capacity(MAX_BATCH + 1);
    let mut replies: Vec<SyncSender<()>> = Vec::new();
    // Queue events and CDRs written since they were last packed (`super::pack`,
    // `super::cdr_pack`): packing is tried at start and after every chunk's worth.
    let mut unpacked = super::pack::CHUNK;
    let mut unpacked_cdrs = super::cdr_pack::CHUNK;
    // `recv` fails only when every sender is gone and the queue is empty.
    while let Ok(first) = rx.recv() {
        push(first, &mut batch, &mut replies);
        // Drain what is already queued, up to MAX_BATCH more, into the same transaction.
        while batch.len() + replies.len() <= MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => push(cmd, &mut batch, &mut replies),
                Err(_) => break,
            }
        }
        for c in &batch {
            match c {
                StoreCommand::QueueEvent(_) => unpacked += 1,
                StoreCommand::Cdr(_) => unpacked_cdrs += 1,
                _ => {}
            }
        }
        apply_batch(&mut conn, &mut batch, path);
        // A few packs at a time (milliseconds each), so a log left unpacked (written by an
        // older build) is packed over the next batches without holding them up.
        if unpacked >= super::pack::CHUNK {
            match super::pack::catch_up(&mut conn, path, PACKS_PER_BATCH) {
                Ok(PACKS_PER_BATCH) => {}
                Ok(_) => unpacked = 0,
                Err(e) => {
                    unpacked = 0;
                    tracing::warn!(path = %path.display(), error = %e, "cannot pack the queue log");
                }
            }
        }
        if unpacked_cdrs >= super::cdr_pack::CHUNK {
            match super::cdr_pack::catch_up(&mut conn, path, PACKS_PER_BATCH) {
                Ok(PACKS_PER_BATCH) => {}
                Ok(_) => unpacked_cdrs = 0,
                Err(e) => {
                    unpacked_cdrs = 0;
                    tracing::warn!(path = %path.display(), error = %e, "cannot pack the CDRs");
                }
            }
        }
        for reply in replies.drain(..) {
            let _ = reply.try_send(());
        }
    }
    tracing::debug!(path = %path.display(), "store writer stopped");
}

fn push(cmd: StoreCommand, batch: &mut Vec<StoreCommand>, replies: &mut Vec<SyncSender<()>>) {
    match cmd {
        StoreCommand::Flush(reply) => replies.push(reply),
        other => batch.push(other),
    }
}

/// Runs `batch` in one transaction; on any failure rolls back and replays it one command per
/// transaction so only the failing commands are lost (each logged). Empties `batch`.
pub(super) fn apply_batch(conn: &mut Connection, batch: &mut Vec<StoreCommand>, path: &Path) {
    if batch.is_empty() {
        return;
    }
    let all = (|| -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        for cmd in batch.iter() {
            apply(&tx, cmd, path)?;
        }
        tx.commit()
    })();
    match all {
        Ok(()) => {}
        Err(e) if batch.len() == 1 => log_failure(path, &batch[0], &e),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, commands = batch.len(),
                "store batch failed; retrying one by one");
            for cmd in batch.iter() {
                let one = (|| -> rusqlite::Result<()> {
                    let tx = conn.transaction()?;
                    apply(&tx, cmd, path)?;
                    tx.commit()
                })();
                if let Err(e) = one {
                    log_failure(path, cmd, &e);
                }
            }
        }
    }
    batch.clear();
}

fn log_failure(path: &Path, cmd: &StoreCommand, e: &rusqlite::Error) {
    tracing::error!(path = %path.display(), error = %e, command = describe(cmd), "store command failed; skipped");
}

/// A short, log-safe description of a command (no contact URIs or free text).
fn describe(cmd: &StoreCommand) -> String {
    match cmd {
        StoreCommand::PutBinding(b) => format!("PutBinding aor={}", b.aor),
        StoreCommand::DeleteBinding { aor, .. } => format!("DeleteBinding aor={aor}"),
        StoreCommand::DeleteAor { aor } => format!("DeleteAor aor={aor}"),
        StoreCommand::Security(ev) => format!("Security kind={} source={}", ev.kind, ev.source),
        StoreCommand::PutMeta { key, .. } => format!("PutMeta key={key}"),
        StoreCommand::PutMetaIfAbsent { key, .. } => format!("PutMetaIfAbsent key={key}"),
        StoreCommand::Cdr(c) => format!("Cdr uniqueid={}", c.uniqueid),
        StoreCommand::PutExtState(e) => format!("PutExtState ext={}", e.ext),
        StoreCommand::PutAgentState(a) => format!("PutAgentState agent={}", a.agent),
        StoreCommand::Voicemail(v) => format!("Voicemail mailbox={}", v.mailbox),
        StoreCommand::VoicemailFlag { id, .. } => format!("VoicemailFlag id={id}"),
        StoreCommand::Greeting { mailbox, .. } => format!("Greeting mailbox={mailbox}"),
        StoreCommand::VoicemailPin { mailbox, .. } => format!("VoicemailPin mailbox={mailbox}"),
        StoreCommand::QueueEvent(q) => format!("QueueEvent event={} queue={}", q.event, q.queue),
        StoreCommand::Flush(_) => "Flush".to_string(),
    }
}

/// Executes one command inside the caller's transaction.
fn apply(conn: &Connection, cmd: &StoreCommand, db: &Path) -> rusqlite::Result<()> {
    match cmd {
        // RFC 3261 §10.3 step 8: a refresh of the same (AOR, Contact) replaces the binding.
        StoreCommand::PutBinding(b) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO bindings (aor, contact, instance, reg_id, call_id, cseq,
                    expires_at, transport, source, local, user_agent, q)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                b.aor,
                b.contact,
                b.instance,
                b.reg_id,
                b.call_id,
                b.cseq,
                to_sql_secs(b.expires_at),
                b.transport,
                b.source,
                b.local,
                b.user_agent,
                b.q,
            ])?;
        }
        StoreCommand::DeleteBinding { aor, contact } => {
            conn.prepare_cached("DELETE FROM bindings WHERE aor = ?1 AND contact = ?2")?
                .execute(params![aor, contact])?;
        }
        // RFC 3261 §10.3 step 6: `Contact: *` with Expires 0 removes all bindings of the AOR.
        StoreCommand::DeleteAor { aor } => {
            conn.prepare_cached("DELETE FROM bindings WHERE aor = ?1")?
                .execute(params![aor])?;
        }
        StoreCommand::Security(ev) => {
            conn.prepare_cached(
                "INSERT INTO security_events (at, source, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![to_sql_secs(ev.at), ev.source, ev.kind, ev.detail])?;
        }
        StoreCommand::PutMeta { key, value } => {
            conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![key, value])?;
        }
        StoreCommand::PutMetaIfAbsent { key, value } => {
            conn.prepare_cached("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![key, value])?;
        }
        StoreCommand::Cdr(c) => {
            conn.prepare_cached(
                "INSERT INTO cdr (uniqueid, linkedid, start, answer, end, caller, caller_name,
                    dialed, answered_by, disposition, duration, billsec, hangup_cause, hangup_by,
                    sip_code, codec_a, codec_b, history)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18)",
            )?
            .execute(params![
                c.uniqueid,
                c.linkedid,
                to_sql_secs(c.start),
                c.answer.map(to_sql_secs),
                to_sql_secs(c.end),
                c.caller,
                c.caller_name,
                c.dialed,
                c.answered_by,
                c.disposition.as_str(),
                to_sql_secs(c.duration),
                to_sql_secs(c.billsec),
                c.hangup_cause,
                c.hangup_by,
                c.sip_code,
                c.codec_a,
                c.codec_b,
                c.history,
            ])?;
            for l in &c.legs {
                conn.prepare_cached(
                    "INSERT INTO cdr_legs (uniqueid, leg, side, peer, start, answer, end,
                        disposition, sip_code, codec, packets, lost, jitter_ms, mos)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )?
                .execute(params![
                    c.uniqueid,
                    l.leg,
                    l.side,
                    l.peer,
                    to_sql_secs(l.start),
                    l.answer.map(to_sql_secs),
                    to_sql_secs(l.end),
                    l.disposition.as_str(),
                    l.sip_code,
                    l.codec,
                    to_sql_secs(l.packets),
                    to_sql_secs(l.lost),
                    l.jitter_ms,
                    l.mos,
                ])?;
            }
        }
        StoreCommand::PutExtState(e) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO ext_state (ext, dnd, forward_always, forward_busy,
                    forward_noanswer) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                e.ext,
                e.dnd,
                e.forward_always,
                e.forward_busy,
                e.forward_noanswer
            ])?;
        }
        StoreCommand::PutAgentState(a) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO agent_state (agent, logged_in, queues, paused,
                    changed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                a.agent,
                a.logged_in,
                a.queues.join(","),
                a.paused,
                a.changed_at
            ])?;
        }
        StoreCommand::Voicemail(v) => {
            // The audio first (WAV next to the database), then the row that points at it.
            let rel = super::voicemail_path(&v.mailbox, &v.id);
            let file = db.parent().unwrap_or(Path::new(".")).join(&rel);
            if let Err(e) = super::write_wav(&file, &v.pcm, v.rate) {
                tracing::error!(path = %file.display(), error = %e, "cannot write voicemail");
                return Err(rusqlite::Error::InvalidPath(file));
            }
            conn.prepare_cached(
                "INSERT INTO voicemail (id, mailbox, uniqueid, caller, caller_name, at, duration_ms,
                    path, heard, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0)",
            )?
            .execute(params![
                v.id,
                v.mailbox,
                v.uniqueid,
                v.caller,
                v.caller_name,
                to_sql_secs(v.at),
                to_sql_secs(v.duration_ms),
                rel.to_string_lossy(),
            ])?;
        }
        StoreCommand::Greeting { mailbox, pcm, rate } => {
            let file = db
                .parent()
                .unwrap_or(Path::new("."))
                .join(super::greeting_path(mailbox));
            if let Err(e) = super::write_wav(&file, pcm, *rate) {
                tracing::error!(path = %file.display(), error = %e, "cannot write greeting");
                return Err(rusqlite::Error::InvalidPath(file));
            }
        }
        StoreCommand::VoicemailPin { mailbox, pin, at } => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO voicemail_pin (mailbox, pin, changed_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![mailbox, pin, at])?;
        }
        StoreCommand::QueueEvent(q) => {
            let [d1, d2, d3, d4, d5] = queue_data_to_columns(&q.data);
            conn.prepare_cached(
                "INSERT INTO queue_log (at_ms, call_id, queue, agent, event, data1, data2, data3,
                    data4, data5) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                q.at_ms, q.call_id, q.queue, q.agent, q.event, d1, d2, d3, d4, d5
            ])?;
        }
        StoreCommand::VoicemailFlag { id, heard, deleted } => {
            conn.prepare_cached("UPDATE voicemail SET heard = ?2, deleted = ?3 WHERE id = ?1")?
                .execute(params![id, heard, deleted])?;
        }
        // Handled by the thread loop; nothing to write.
        StoreCommand::Flush(_) => {}
    }
    Ok(())
}
