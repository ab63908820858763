//! The store: SQLite owned by one writer thread.
//!
//! # Contract
//!
//! The engine is sans-IO; it emits [`StoreCommand`]s as plain data and the runtime forwards them
//! through a bounded channel ([`StoreSender`], capacity [`CHANNEL_CAPACITY`]) to the thread
//! `zvon-store`, which alone owns the read-write SQLite connection (ARCHITECTURE.md, layering
//! rule 2). Sending blocks when the channel is full: backpressure, a command is never dropped
//! by the channel. (From async code call [`StoreSender::try_send`] first and fall back to a
//! blocking task.)
//!
//! The writer blocks for the first command, then drains up to [`MAX_BATCH`] more that are
//! already queued and runs them all in ONE transaction. If any statement of the batch (or the
//! commit) fails, the transaction is rolled back and the batch is replayed one command per
//! transaction, so a bad command is logged with `tracing::error!` and skipped without losing
//! its neighbours. The writer never panics on an SQL error and keeps going.
//! [`StoreCommand::Flush`] is answered after everything queued before it has been committed.
//!
//! # Durability
//!
//! `journal_mode=WAL` with `synchronous=FULL`: in WAL mode FULL fsyncs the WAL at every commit,
//! so a committed registration, security event (and later CDR) survives a power cut; NORMAL
//! would only fsync at checkpoints and could lose the last commits. The price is one fsync per
//! transaction, which the batching amortises: under load one commit carries up to
//! [`MAX_BATCH`] + 1 commands. Measured on the 2-core development VM (ext4 on a virtio disk,
//! debug build, ignored test `tests::put_binding_throughput`): ~28,000 `PutBinding`/s through
//! the writer when the channel keeps it busy, against ~4,000/s with one commit per command.
//! Either is far above what a PBX's registrations need (10,000 phones refreshing every
//! 10 minutes is ~17/s).
//! `foreign_keys=ON` (no foreign keys yet, but later record kinds will reference each other)
//! and `busy_timeout` ([`BUSY_TIMEOUT`]) so a `zvon status` reader never makes the writer fail.
//!
//! # Schema
//!
//! One table per record kind; migrations are an append-only list ([`schema::MIGRATIONS`]),
//! `PRAGMA user_version` is the number applied, each one runs in its own `BEGIN IMMEDIATE`
//! transaction together with the bump of `user_version`. A database newer than
//! [`SCHEMA_VERSION`] is refused rather than written with an older idea of the schema.
//!
//! Adding a record kind: append a migration, add a [`StoreCommand`] variant, handle it in
//! `writer::apply`, and add a read function here.
//!
//! Bindings are the persistent half of the registrar (RFC 3261 §10.3: the location service);
//! the engine owns the live state and decides what to write, the store only mirrors it so
//! registrations survive a restart. `instance`/`reg_id` are kept raw for RFC 5626 §6 flows.

mod cdr_pack;
mod pack;
mod read;
pub mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use read::{
    CdrLegs, agent_states, answered_calls_since, answerers_between, cdrs, cdrs_between, ext_states,
    for_each_answered_call, for_each_cdr_first_answered, for_each_queue_event,
    for_each_queue_event_twice, load_bindings, meta, queue_events, security_events, voicemail_pins,
    voicemails,
};
pub use schema::SCHEMA_VERSION;
pub use writer::{Store, StoreSender, TrySendError};

/// Capacity of the command channel between the runtime and the writer thread.
pub const CHANNEL_CAPACITY: usize = 4096;

/// Commands drained after the first one into the same transaction.
pub const MAX_BATCH: usize = 512;

/// How long a connection waits for a lock held by another connection before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `meta` key: a random UUID (v4) created with the database, stable for the installation
/// (e.g. for our own `+sip.instance`, RFC 5626 §4.1, when registering to a trunk).
pub const META_INSTANCE_ID: &str = "instance_id";
/// `meta` key: unix seconds of the daemon's first start, written once with
/// [`StoreCommand::PutMetaIfAbsent`] by the runtime.
pub const META_FIRST_START: &str = "first_start";
/// `meta` key: unix seconds of the daemon's latest start ([`StoreCommand::PutMeta`]).
pub const META_LAST_START: &str = "last_start";

/// One registered contact of an address of record (RFC 3261 §10.3, RFC 5626 §6).
#[derive(Clone, Debug, PartialEq)]
pub struct BindingRecord {
    /// Address of record: the extension number, e.g. `"1001"`.
    pub aor: String,
    /// The Contact URI exactly as registered, e.g. `"sip:1001@192.168.1.20:5060;ob"`.
    pub contact: String,
    /// `+sip.instance` value (RFC 5626 §4.1), raw.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626 §4.2).
    pub reg_id: Option<u32>,
    /// Call-ID of the REGISTER that created or refreshed the binding (RFC 3261 §10.3 step 7).
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Expiry, unix seconds (wall clock).
    pub expires_at: u64,
    /// `"udp"` | `"tcp"` | `"tls"`.
    pub transport: String,
    /// `"ip:port"` the REGISTER came from (for NAT), IPv6 as `"[::1]:5060"`.
    pub source: String,
    /// `"ip:port"` of our socket it arrived on.
    pub local: String,
    /// The User-Agent header, if any.
    pub user_agent: Option<String>,
    /// The Contact `q` parameter (RFC 3261 §20.10).
    pub q: Option<f32>,
}

/// Something a security mechanism did or saw (a ban, an unban, a flood, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    /// Unix seconds.
    pub at: u64,
    /// The peer's IP address.
    pub source: String,
    /// `"ban"` | `"unban"` | ...
    pub kind: String,
    /// Free text for the operator.
    pub detail: String,
}

/// One row of the queue event log (Asterisk queue_log in spirit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEventRecord {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The call's CDR `uniqueid`, or "NONE" for agent events.
    pub call_id: String,
    /// Queue name, or "NONE".
    pub queue: String,
    /// Agent id, or "NONE".
    pub agent: String,
    /// ENTERQUEUE, CONNECT, COMPLETECALLER, ABANDON, ... (upper case)
    pub event: String,
    /// data1..data5 in queue_log order (fewer is fine; more than 5 is joined into data5 with '|').
    pub data: Vec<String>,
}

/// A queue event borrowed from a row being read ([`for_each_queue_event`]) or from a
/// [`QueueEventRecord`]: the report readers fold events without owning them.
#[derive(Clone, Copy, Debug)]
pub struct QueueEventRef<'a> {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    pub call_id: &'a str,
    pub queue: &'a str,
    pub agent: &'a str,
    pub event: &'a str,
    pub data: QueueData<'a>,
}

/// The data fields of a [`QueueEventRef`].
#[derive(Clone, Copy, Debug)]
pub enum QueueData<'a> {
    /// As [`QueueEventRecord::data`].
    Fields(&'a [String]),
    /// The data columns as stored, data1 to data5 (data5 holds the 5th and further fields
    /// joined with '|'); a column that is not text (only in a hand-edited database: the
    /// table is STRICT) reads as empty.
    Columns([&'a str; 5]),
}

impl<'a> QueueData<'a> {
    /// Field `i` (0-based), `""` when there is none: the same as
    /// `QueueEventRecord::data.get(i)` read back from the store, with an absent field empty.
    pub fn get(&self, i: usize) -> &'a str {
        match *self {
            QueueData::Fields(f) => f.get(i).map_or("", String::as_str),
            QueueData::Columns(c) => match i {
                0..4 => c[i],
                _ => c[4].split('|').nth(i - 4).unwrap_or(""),
            },
        }
    }
}

impl QueueEventRecord {
    /// This record, borrowed.
    pub fn as_ref(&self) -> QueueEventRef<'_> {
        QueueEventRef {
            at_ms: self.at_ms,
            call_id: &self.call_id,
            queue: &self.queue,
            agent: &self.agent,
            event: &self.event,
            data: QueueData::Fields(&self.data),
        }
    }
}

/// What the engine (through the runtime) asks the store to do. One variant per record kind and
/// operation; all are plain data.
#[derive(Debug)]
pub enum StoreCommand {
    /// Insert, or replace the row with the same `(aor, contact)`.
    PutBinding(BindingRecord),
    /// Remove one binding; absent is not an error.
    DeleteBinding { aor: String, contact: String },
    /// Remove every binding of an address of record (REGISTER with `Contact: *`, §10.3 step 6).
    DeleteAor { aor: String },
    /// Append a security event.
    Security(SecurityEvent),
    /// Set a `meta` key (insert or replace).
    PutMeta { key: String, value: String },
    /// Set a `meta` key only if it is not set yet (e.g. [`META_FIRST_START`]).
    PutMetaIfAbsent { key: String, value: String },
    /// Insert a call detail record with its legs (one transaction).
    Cdr(Box<CdrRecord>),
    /// Insert or replace an extension's feature state.
    PutExtState(ExtStateRecord),
    /// Insert or replace a queue agent's login and pause state.
    PutAgentState(AgentStateRecord),
    /// Write a voicemail message (WAV file, then its row).
    Voicemail(Box<VoicemailRecord>),
    /// Write (replace) a mailbox's recorded greeting.
    Greeting {
        /// Mailbox.
        mailbox: String,
        /// Mono audio.
        pcm: std::sync::Arc<[i16]>,
        /// Its rate.
        rate: u32,
    },
    /// A PIN changed from the phone.
    VoicemailPin {
        /// Mailbox.
        mailbox: String,
        /// The new PIN.
        pin: String,
        /// When (seconds since the epoch).
        at: i64,
    },
    /// Append a row to the queue event log.
    QueueEvent(QueueEventRecord),
    /// Mark a message heard / deleted.
    VoicemailFlag {
        /// Message id.
        id: String,
        /// Heard (moves it to the old messages).
        heard: bool,
        /// Deleted.
        deleted: bool,
    },
    /// Answered (with `()`) once everything sent before it is committed. Used on shutdown and
    /// by tests. The reply is sent with `try_send`, so give the channel a capacity of at least
    /// 1 (as [`StoreSender::flush`] does); if the receiver is gone the reply is dropped.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// A voicemail message as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct VoicemailRecord {
    /// Unique id (also the file name).
    pub id: String,
    /// Mailbox (extension number).
    pub mailbox: String,
    /// CDR of the call that left it.
    pub uniqueid: String,
    /// Caller number.
    pub caller: String,
    /// Caller name.
    pub caller_name: Option<String>,
    /// Unix seconds.
    pub at: u64,
    /// Length.
    pub duration_ms: u64,
    /// Mono audio.
    pub pcm: std::sync::Arc<[i16]>,
    /// Its rate.
    pub rate: u32,
}

/// A voicemail message as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoicemailEntry {
    /// Message id.
    pub id: String,
    /// Mailbox.
    pub mailbox: String,
    /// CDR id.
    pub uniqueid: String,
    /// Caller number.
    pub caller: String,
    /// Unix seconds.
    pub at: u64,
    /// Length.
    pub duration_ms: u64,
    /// Absolute path of the WAV.
    pub path: PathBuf,
    /// Heard already.
    pub heard: bool,
}

/// Where a message's audio lives, relative to the database directory.
pub fn voicemail_path(mailbox: &str, id: &str) -> PathBuf {
    let clean = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    };
    PathBuf::from("voicemail")
        .join(clean(mailbox))
        .join(format!("{}.wav", clean(id)))
}

/// Where a mailbox's greeting lives, relative to the database directory.
pub fn greeting_path(mailbox: &str) -> PathBuf {
    let clean: String = mailbox
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    PathBuf::from("voicemail").join(clean).join("greeting.wav")
}

/// Mailboxes with a greeting file next to the database at `db`.
pub fn greetings(db: &Path) -> Vec<String> {
    let dir = db.parent().unwrap_or(Path::new(".")).join("voicemail");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().join("greeting.wav").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Writes 16-bit mono PCM as a WAV file (creating directories), fsynced.
pub fn write_wav(path: &Path, pcm: &[i16], rate: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let data = (pcm.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + pcm.len() * 2);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for s in pcm {
        b.extend_from_slice(&s.to_le_bytes());
    }
    let tmp = path.with_extension("wav.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&b)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// DND and forwarding of one extension as last set by its feature codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtStateRecord {
    /// The extension.
    pub ext: String,
    /// Do-not-disturb.
    pub dnd: bool,
    /// Unconditional forward target.
    pub forward_always: Option<String>,
    /// Forward-on-busy target.
    pub forward_busy: Option<String>,
    /// Forward-on-no-answer target.
    pub forward_noanswer: Option<String>,
}

/// A queue agent's login and pause state, kept across restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStateRecord {
    /// Agent id (queues.toml `[agents.ID]`).
    pub agent: String,
    pub logged_in: bool,
    /// Queues the agent is logged in to.
    pub queues: Vec<String>,
    /// Pause reason code while paused (0 = no reason given).
    pub paused: Option<u16>,
    /// Unix seconds of the change.
    pub changed_at: i64,
}

/// The outcome of a call (Asterisk-compatible names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Somebody answered.
    Answered,
    /// Rang out (timeout, 480, 408).
    NoAnswer,
    /// The callee was busy (486, 600, DND).
    Busy,
    /// Could not be completed (404, 403, 488, 5xx, media failure).
    Failed,
    /// The caller hung up before an answer.
    Cancelled,
}

impl Disposition {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "ANSWERED",
            Self::NoAnswer => "NO ANSWER",
            Self::Busy => "BUSY",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// One leg of a call as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct CdrLeg {
    /// 0 = the caller's leg, 1.. = callee branches / later legs.
    pub leg: u32,
    /// "caller" | "callee".
    pub side: String,
    /// Extension number or contact of the leg's party.
    pub peer: String,
    /// Unix seconds.
    pub start: u64,
    /// Unix seconds.
    pub answer: Option<u64>,
    /// Unix seconds.
    pub end: u64,
    /// Outcome of this leg.
    pub disposition: Disposition,
    /// Final SIP status on this leg, if any.
    pub sip_code: Option<u16>,
    /// Negotiated codec.
    pub codec: Option<String>,
    /// RTP packets received from this leg.
    pub packets: u64,
    /// Of which lost.
    pub lost: u64,
    /// Interarrival jitter (ms).
    pub jitter_ms: f64,
    /// Estimated MOS.
    pub mos: f64,
}

/// A call journey.
#[derive(Clone, Debug, PartialEq)]
pub struct CdrRecord {
    /// Unique id of this journey.
    pub uniqueid: String,
    /// Shared by journeys linked by transfers.
    pub linkedid: String,
    /// Unix seconds when the INVITE arrived.
    pub start: u64,
    /// Unix seconds of the answer.
    pub answer: Option<u64>,
    /// Unix seconds of the end.
    pub end: u64,
    /// Caller number.
    pub caller: String,
    /// Caller display name.
    pub caller_name: Option<String>,
    /// The number dialled.
    pub dialed: String,
    /// Extension that answered.
    pub answered_by: Option<String>,
    /// Outcome.
    pub disposition: Disposition,
    /// Seconds from start to end.
    pub duration: u64,
    /// Seconds from answer to end.
    pub billsec: u64,
    /// Why it ended, e.g. "normal", "media timeout", "no answer", "shutdown".
    pub hangup_cause: String,
    /// "caller" | "callee" | "system".
    pub hangup_by: String,
    /// Final SIP status sent to the caller, if the call did not connect.
    pub sip_code: Option<u16>,
    /// Codec on the caller's leg.
    pub codec_a: Option<String>,
    /// Codec on the callee's leg.
    pub codec_b: Option<String>,
    /// Transfer/forward history, `;`-separated events.
    pub history: String,
    /// The legs.
    pub legs: Vec<CdrLeg>,
}

/// Errors of the store. Open errors carry the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A reader that must not create the database found none.
    #[error("no database at {path}")]
    Missing { path: PathBuf },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot open database {path}: journal mode is {mode:?}, WAL is required")]
    NoWal { path: PathBuf, mode: String },
    #[error("database schema version {found} is newer than this zvon ({known}): {path}")]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("cannot migrate database {path} to schema version {version}: {source}")]
    Migration {
        path: PathBuf,
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot start the store thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the store thread has stopped")]
    Closed,
    #[error("the store thread panicked")]
    WriterPanicked,
}

/// The `data1..data5` columns of a queue event: the first four fields as they are, the fifth
/// and any further ones joined with '|' into `data5` (a '|' inside those fields becomes a space,
/// so in `data5` it only ever separates fields). Missing fields are empty.
fn queue_data_to_columns(data: &[String]) -> [String; 5] {
    let mut cols: [String; 5] = Default::default();
    for (col, field) in cols.iter_mut().zip(data.iter().take(4)) {
        col.clone_from(field);
    }
    if data.len() > 4 {
        cols[4] = data[4..]
            .iter()
            .map(|f| f.replace('|', " "))
            .collect::<Vec<_>>()
            .join("|");
    }
    cols
}

/// The inverse of [`queue_data_to_columns`]: `data5` split back on '|', trailing empty fields
/// dropped.
fn queue_data_from_columns(cols: [String; 5]) -> Vec<String> {
    let [d1, d2, d3, d4, d5] = cols;
    let mut data = vec![d1, d2, d3, d4];
    data.extend(d5.split('|').map(str::to_string));
    while data.last().is_some_and(String::is_empty) {
        data.pop();
    }
    data
}

/// Unix seconds to an SQLite integer; values past `i64::MAX` (year 292 billion) saturate.
fn to_sql_secs(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// An SQLite integer back to unix seconds; negative values (only from a hand-edited
/// database) read as 0, i.e. long expired.
fn from_sql_secs(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
