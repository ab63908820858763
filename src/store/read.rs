//! The read side: short-lived connections of their own (WAL lets them run beside the writer).
//!
//! Each function opens `path` like [`super::Store::open`] does (creating and migrating it if
//! needed), so calling one before the writer starts is fine. The exceptions are the report
//! readers [`queue_events`] and [`cdrs_between`]: they refuse a missing file
//! ([`StoreError::Missing`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Row, TransactionBehavior};

use super::schema::{open_connection, open_existing};
use super::{
    BindingRecord, CdrLeg, CdrRecord, Disposition, ExtStateRecord, QueueData, QueueEventRecord,
    QueueEventRef, SecurityEvent, StoreError, VoicemailEntry, from_sql_secs,
    queue_data_from_columns, to_sql_secs,
};

/// Startup: deletes the bindings that expired at or before `now_unix` and returns the rest,
/// ordered by AOR then Contact.
pub fn load_bindings(path: &Path, now_unix: u64) -> Result<Vec<BindingRecord>, StoreError> {
    let mut conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let expired = tx
        .execute(
            "DELETE FROM bindings WHERE expires_at <= ?1",
            [to_sql_secs(now_unix)],
        )
        .map_err(sql_err)?;
    if expired > 0 {
        tracing::info!(path = %path.display(), expired, "dropped expired bindings");
    }
    let rows = {
        let mut stmt = tx
            .prepare(
                "SELECT aor, contact, instance, reg_id, call_id, cseq, expires_at, transport,
                        source, local, user_agent, q
                 FROM bindings ORDER BY aor, contact",
            )
            .map_err(sql_err)?;
        collect_rows(&mut stmt, path, binding_from_row)?
    };
    tx.commit().map_err(sql_err)?;
    Ok(rows)
}

/// All security events, oldest first.
pub fn security_events(path: &Path) -> Result<Vec<SecurityEvent>, StoreError> {
    let conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare("SELECT at, source, kind, detail FROM security_events ORDER BY id")
        .map_err(sql_err)?;
    collect_rows(&mut stmt, path, |row| {
        Ok(SecurityEvent {
            at: from_sql_secs(row.get(0)?),
            source: row.get(1)?,
            kind: row.get(2)?,
            detail: row.get(3)?,
        })
    })
}

/// The `meta` key/value table (see [`super::META_INSTANCE_ID`] and friends).
pub fn meta(path: &Path) -> Result<BTreeMap<String, String>, StoreError> {
    let conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare("SELECT key, value FROM meta")
        .map_err(sql_err)?;
    let pairs = collect_rows(&mut stmt, path, |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(pairs.into_iter().collect())
}

fn binding_from_row(row: &Row<'_>) -> rusqlite::Result<BindingRecord> {
    Ok(BindingRecord {
        aor: row.get(0)?,
        contact: row.get(1)?,
        instance: row.get(2)?,
        reg_id: row.get(3)?,
        call_id: row.get(4)?,
        cseq: row.get(5)?,
        expires_at: from_sql_secs(row.get(6)?),
        transport: row.get(7)?,
        source: row.get(8)?,
        local: row.get(9)?,
        user_agent: row.get(10)?,
        q: row.get(11)?,
    })
}

/// Runs `stmt` and maps its rows. A row whose values do not fit our types (only possible in
/// a hand-edited database) is logged and skipped; SQLite errors are returned.
fn collect_rows<T>(
    stmt: &mut rusqlite::Statement<'_>,
    path: &Path,
    f: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    collect_rows_with(stmt, [], path, f)
}

/// [`collect_rows`] with parameters bound.
fn collect_rows_with<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    path: &Path,
    f: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut rows = stmt.query(params).map_err(sql_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_err)? {
        if let Some(v) = readable(path, f(row))? {
            out.push(v);
        }
    }
    Ok(out)
}

fn disposition_from_sql(s: String) -> Disposition {
    disposition_from_str(&s)
}

pub(super) fn disposition_from_str(s: &str) -> Disposition {
    match s {
        "ANSWERED" => Disposition::Answered,
        "NO ANSWER" => Disposition::NoAnswer,
        "BUSY" => Disposition::Busy,
        "CANCELLED" => Disposition::Cancelled,
        _ => Disposition::Failed,
    }
}

const CDR_COLUMNS: &str = "uniqueid, linkedid, start, answer, end, caller, caller_name, dialed,
    answered_by, disposition, duration, billsec, hangup_cause, hangup_by, sip_code, codec_a,
    codec_b, history";

fn cdr_from_row(r: &Row<'_>) -> rusqlite::Result<CdrRecord> {
    Ok(CdrRecord {
        uniqueid: r.get(0)?,
        linkedid: r.get(1)?,
        start: from_sql_secs(r.get(2)?),
        answer: r.get::<_, Option<i64>>(3)?.map(from_sql_secs),
        end: from_sql_secs(r.get(4)?),
        caller: r.get(5)?,
        caller_name: r.get(6)?,
        dialed: r.get(7)?,
        answered_by: r.get(8)?,
        disposition: disposition_from_sql(r.get(9)?),
        duration: from_sql_secs(r.get(10)?),
        billsec: from_sql_secs(r.get(11)?),
        hangup_cause: r.get(12)?,
        hangup_by: r.get(13)?,
        sip_code: r.get(14)?,
        codec_a: r.get(15)?,
        codec_b: r.get(16)?,
        history: r.get(17)?,
        legs: Vec::new(),
    })
}

/// The leg columns, in [`leg_from_row`]'s order.
const LEG_COLUMNS: &str = "leg, side, peer, start, answer, end, disposition, sip_code, codec,
    packets, lost, jitter_ms, mos";

fn leg_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<CdrLeg> {
    Ok(CdrLeg {
        leg: r.get(at)?,
        side: r.get(at + 1)?,
        peer: r.get(at + 2)?,
        start: from_sql_secs(r.get(at + 3)?),
        answer: r.get::<_, Option<i64>>(at + 4)?.map(from_sql_secs),
        end: from_sql_secs(r.get(at + 5)?),
        disposition: disposition_from_sql(r.get(at + 6)?),
        sip_code: r.get(at + 7)?,
        codec: r.get(at + 8)?,
        packets: from_sql_secs(r.get(at + 9)?),
        lost: from_sql_secs(r.get(at + 10)?),
        jitter_ms: r.get(at + 11)?,
        mos: r.get(at + 12)?,
    })
}

/// Which legs [`cdrs_between`] reads with each CDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdrLegs {
    /// Every leg.
    All,
    /// Only the callee leg answered first (none when no callee answered): all the reports use
    /// of the legs (the talk time), at a fraction of the cost.
    FirstAnswered,
}

/// Call detail records whose `start` (unix seconds) is in `since <= start < until` (either
/// bound optional), ordered by start, then by the order they were written, with their legs
/// as `legs` says. A report reader: the database must exist (a missing file is
/// [`StoreError::Missing`]).
///
/// Two queries whatever the number of rows with [`CdrLegs::All`] (the CDRs on the
/// `cdr_start` index, then their legs joined on the same range); one with
/// [`CdrLegs::FirstAnswered`] (the leg picked per CDR on the legs' primary key).
pub fn cdrs_between(
    path: &Path,
    since: Option<i64>,
    until: Option<i64>,
    legs: CdrLegs,
) -> Result<Vec<CdrRecord>, StoreError> {
    let conn = open_existing(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut range = String::new();
    let mut bounds = Vec::with_capacity(2);
    if let Some(s) = since {
        bounds.push(s);
        range.push_str(&format!(" AND c.start >= ?{}", bounds.len()));
    }
    if let Some(u) = until {
        bounds.push(u);
        range.push_str(&format!(" AND c.start < ?{}", bounds.len()));
    }
    let cols: String = CDR_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let leg_cols: String = LEG_COLUMNS
        .split(',')
        .map(|c| format!("l.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    if legs == CdrLegs::FirstAnswered {
        let mut out = Vec::new();
        each_cdr_first_answered(&conn, path, &range, &bounds, |c| out.push(c))?;
        return Ok(out);
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {cols} FROM cdr c WHERE 1{range} ORDER BY c.start, c.rowid"
        ))
        .map_err(sql_err)?;
    let mut out = collect_rows_with(
        &mut stmt,
        rusqlite::params_from_iter(bounds.iter()),
        path,
        cdr_from_row,
    )?;
    let index: std::collections::HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, c)| (c.uniqueid.clone(), i))
        .collect();
    let mut legs = conn
        .prepare(&format!(
            "SELECT l.uniqueid, {leg_cols} FROM cdr_legs l JOIN cdr c ON c.uniqueid = l.uniqueid
             WHERE 1{range} ORDER BY l.uniqueid, l.leg"
        ))
        .map_err(sql_err)?;
    let legs = collect_rows_with(
        &mut legs,
        rusqlite::params_from_iter(bounds.iter()),
        path,
        |r| Ok((r.get::<_, String>(0)?, leg_from_row(r, 1)?)),
    )?;
    for (uid, leg) in legs {
        if let Some(&i) = index.get(&uid) {
            out[i].legs.push(leg);
        }
    }
    Ok(out)
}

/// [`cdrs_between`] with [`CdrLegs::FirstAnswered`], one record at a time: `f` gets each,
/// in the same order (by start, then as written), without a list of the whole range —
/// except that the leg is only its `answer` (on a callee leg, the rest empty): the first
/// answer of a callee leg when a person answered (`answered_by` set), what the talk time
/// needs. The call list, summary and IVR reports read the CDRs through this.
///
/// The records come from `cdr_pack` ([`super::cdr_pack`]; what another tool wrote is packed
/// first) and the rows no pack covers, merged by (start, rowid); without packs in the range,
/// from the rows by start. The reading runs on a thread of its own, `f` on this one: the
/// records cross in batches of [`ROW_BATCH`], which come back to be refilled in place (a
/// year's call list is a million records: no allocation per record once the buffers have
/// grown).
pub fn for_each_cdr_first_answered(
    path: &Path,
    since: Option<i64>,
    until: Option<i64>,
    f: impl FnMut(&CdrRecord),
) -> Result<(), StoreError> {
    each_cdr_first_answered_from(path, since, until, true, f)
}

/// [`for_each_cdr_first_answered`], from the packs (`packs`) or from the rows alone.
pub(super) fn each_cdr_first_answered_from(
    path: &Path,
    since: Option<i64>,
    until: Option<i64>,
    packs: bool,
    mut f: impl FnMut(&CdrRecord),
) -> Result<(), StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch, StoreError>>(4);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<RecordBatch>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            if let Err(e) = read_cdrs_first_answered(path, since, until, packs, &tx, &back_rx) {
                let _ = tx.send(Err(e));
            }
        });
        // Owned here, so a panic in `f` drops it and the reader stops.
        let rx = rx;
        for batch in &rx {
            let batch = batch?;
            batch.records[..batch.len].iter().for_each(&mut f);
            let _ = back_tx.send(batch);
        }
        if let Err(panic) = reader.join() {
            std::panic::resume_unwind(panic);
        }
        Ok(())
    })
}

/// Rows per batch of [`for_each_cdr_first_answered`].
const ROW_BATCH: usize = 1024;

/// Records going from the reader to the fold: the first `len` are this batch's, the rest
/// kept for their buffers.
#[derive(Default)]
struct RecordBatch {
    records: Vec<CdrRecord>,
    len: usize,
}

fn read_cdrs_first_answered(
    path: &Path,
    since: Option<i64>,
    until: Option<i64>,
    packs: bool,
    tx: &std::sync::mpsc::SyncSender<Result<RecordBatch, StoreError>>,
    back: &std::sync::mpsc::Receiver<RecordBatch>,
) -> Result<(), StoreError> {
    let mut conn = open_existing(path)?;
    // As for the queue log: what another tool wrote is packed first, once.
    if packs {
        match super::cdr_pack::catch_up(&mut conn, path, usize::MAX) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(path = %path.display(), packs = n, "CDRs packed"),
            Err(e) => tracing::debug!(path = %path.display(), error = %e, "CDRs not packed"),
        }
    }
    let mut out = RecordSending {
        batch: RecordBatch::default(),
        tx,
        back,
    };
    let merged = if packs {
        merge_packed_cdrs(&conn, path, since, until, &mut out)?
    } else {
        None
    };
    let done = match merged {
        Some(done) => done,
        None => read_cdrs_by_start(&conn, path, since, until, &mut out)?,
    };
    if done {
        out.flush();
    }
    Ok(())
}

/// The reader's output of [`for_each_cdr_first_answered`]: the batch being filled.
struct RecordSending<'a> {
    batch: RecordBatch,
    tx: &'a std::sync::mpsc::SyncSender<Result<RecordBatch, StoreError>>,
    back: &'a std::sync::mpsc::Receiver<RecordBatch>,
}

impl RecordSending<'_> {
    /// The record to fill next: given to the other side by [`Self::keep`], refilled if not.
    fn next(&mut self) -> &mut CdrRecord {
        let b = &mut self.batch;
        if b.len == b.records.len() {
            b.records.push(empty_cdr());
        }
        &mut b.records[b.len]
    }

    /// Keeps the record [`Self::next`] gave (sending the batch when full): false when the
    /// other side has gone.
    fn keep(&mut self) -> bool {
        self.batch.len += 1;
        if self.batch.len < ROW_BATCH {
            return true;
        }
        let mut next = self.back.try_recv().unwrap_or_default();
        next.len = 0;
        self.tx
            .send(Ok(std::mem::replace(&mut self.batch, next)))
            .is_ok()
    }

    fn flush(&mut self) {
        if self.batch.len > 0 {
            let _ = self.tx.send(Ok(std::mem::take(&mut self.batch)));
        }
    }
}

/// The CDRs of the range by start, from SQLite's rows. Returns false when the other side
/// has gone.
fn read_cdrs_by_start(
    conn: &rusqlite::Connection,
    path: &Path,
    since: Option<i64>,
    until: Option<i64>,
    out: &mut RecordSending<'_>,
) -> Result<bool, StoreError> {
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let (range, bounds) = cdr_range(since, until);
    let cols: String = CDR_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {cols}, CASE WHEN c.answered_by IS NOT NULL THEN (
                 SELECT min(f.answer) FROM cdr_legs f
                 WHERE f.uniqueid = c.uniqueid AND f.side = 'callee') END
             FROM cdr c WHERE 1{range} ORDER BY c.start, c.rowid"
        ))
        .map_err(sql_err)?;
    let n = CDR_COLUMNS.split(',').count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(bounds.iter()))
        .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        if readable(path, fill_cdr(r, out.next(), n))?.is_some() && !out.keep() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A row of `cdr_pack` without its records.
struct CdrPackMeta {
    first: i64,
    last: i64,
    min_start: i64,
    max_start: i64,
    /// The uniqueids at `first` and `last` when it was made.
    ends: (Option<String>, Option<String>),
}

/// A run of CDRs for [`merge_packed_cdrs`]: a pack, or rows no pack covers packed here.
struct CdrSource {
    min_start: i64,
    /// A pack, read when opened.
    pack: Option<CdrPackMeta>,
    /// The rows no pack covers: the rowid range, packed when opened.
    rows: Option<(i64, i64)>,
}

/// The CDRs of the range in (start, rowid) order from `cdr_pack` and the rows no pack
/// covers, merged. `None` when no pack overlaps the range (the rows are then read as rows).
/// Returns whether every record was given (false: the other side has gone).
fn merge_packed_cdrs(
    conn: &rusqlite::Connection,
    path: &Path,
    since: Option<i64>,
    until: Option<i64>,
    out: &mut RecordSending<'_>,
) -> Result<Option<bool>, StoreError> {
    use super::cdr_pack::{Encoder, Entry, fill, index, select_sql};
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let (lo, hi) = (since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX));
    let mut all: Vec<CdrPackMeta> = Vec::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT first_rowid, last_rowid, min_start, max_start, first_uniqueid,
                     last_uniqueid FROM cdr_pack ORDER BY first_rowid",
            )
            .map_err(sql_err)?;
        let mut rows = stmt.query([]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let get = |i| r.get::<_, i64>(i).map_err(sql_err);
            all.push(CdrPackMeta {
                first: get(0)?,
                last: get(1)?,
                min_start: get(2)?,
                max_start: get(3)?,
                ends: (r.get(4).map_err(sql_err)?, r.get(5).map_err(sql_err)?),
            });
        }
    }
    if !all.iter().any(|p| p.max_start >= lo && p.min_start < hi) {
        return Ok(None);
    }
    // The packs that overlap the range, and every rowid range between and after the packs
    // (rows a pack was dropped for, the newest rows): those are read by rowid, few.
    let mut sources = Vec::new();
    let mut next = i64::MIN;
    for p in all {
        if p.first > next {
            sources.push(CdrSource {
                min_start: i64::MIN,
                pack: None,
                rows: Some((next, p.first - 1)),
            });
        }
        next = p.last.saturating_add(1);
        if p.max_start >= lo && p.min_start < hi {
            sources.push(CdrSource {
                min_start: p.min_start,
                pack: Some(p),
                rows: None,
            });
        }
    }
    sources.push(CdrSource {
        min_start: i64::MIN,
        pack: None,
        rows: Some((next, i64::MAX)),
    });
    // Packed rows no pack covers, to find their least start before the merge.
    let pack_rows = |a: i64, b: i64| -> Result<Option<(Vec<u8>, i64)>, StoreError> {
        let (range, bounds) = cdr_range(since, until);
        let cond = format!(
            "c.rowid BETWEEN {a} AND {b}{}",
            range.replace("c.start", "+c.start")
        );
        let mut stmt = conn.prepare_cached(&select_sql(&cond)).map_err(sql_err)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(bounds.iter()))
            .map_err(sql_err)?;
        let mut enc = Encoder::new();
        while let Some(r) = rows.next().map_err(sql_err)? {
            readable(path, enc.push(r))?;
        }
        if enc.is_empty() {
            return Ok(None);
        }
        let min = enc.min_start;
        Ok(Some((enc.finish(), min)))
    };
    let mut blobs: Vec<Option<Vec<u8>>> = Vec::with_capacity(sources.len());
    let mut kept = Vec::with_capacity(sources.len());
    for s in sources {
        match s.rows {
            Some((a, b)) => {
                if let Some((blob, min)) = pack_rows(a, b)? {
                    kept.push(CdrSource {
                        min_start: min,
                        ..s
                    });
                    blobs.push(Some(blob));
                }
            }
            None => {
                kept.push(s);
                blobs.push(None);
            }
        }
    }
    // Opened in the order of their least start; each one's records sorted by (start, rowid).
    let mut order: Vec<usize> = (0..kept.len()).collect();
    order.sort_by_key(|&i| (kept[i].min_start, i));
    let mut entries: Vec<Vec<Entry>> = vec![Vec::new(); kept.len()];
    let mut pos = vec![0usize; kept.len()];
    let mut heap = std::collections::BinaryHeap::new();
    let mut opened = 0;
    let mut blob_stmt = conn
        .prepare("SELECT records FROM cdr_pack WHERE first_rowid = ?1")
        .map_err(sql_err)?;
    let mut ends_stmt = conn
        .prepare("SELECT uniqueid FROM cdr WHERE rowid = ?1")
        .map_err(sql_err)?;
    loop {
        while let Some(&i) = order.get(opened) {
            let top = heap
                .peek()
                .map(|std::cmp::Reverse((s, ..)): &std::cmp::Reverse<(i64, i64, usize)>| *s);
            if top.is_some_and(|t| kept[i].min_start > t) {
                break;
            }
            opened += 1;
            if let Some(CdrPackMeta {
                first,
                last,
                ends: (fu, lu),
                ..
            }) = &kept[i].pack
            {
                let mut uid = |rowid: i64| -> Result<Option<String>, StoreError> {
                    ends_stmt
                        .query_row([rowid], |r| r.get(0))
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            e => Err(sql_err(e)),
                        })
                };
                let blob: Option<Vec<u8>> = if uid(*first)? == *fu && uid(*last)? == *lu {
                    blob_stmt
                        .query_row([*first], |r| r.get(0))
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            e => Err(sql_err(e)),
                        })?
                } else {
                    None
                };
                let ok = blob
                    .as_ref()
                    .is_some_and(|b| index(b, lo, hi, &mut entries[i]).is_ok());
                if ok {
                    blobs[i] = blob;
                } else {
                    tracing::warn!(path = %path.display(), first, last,
                        "CDR pack damaged or out of date: reading its rows");
                    if let Some((b, _)) = pack_rows(*first, *last)? {
                        let _ = index(&b, lo, hi, &mut entries[i]);
                        blobs[i] = Some(b);
                    }
                }
            } else if let Some(b) = &blobs[i] {
                let _ = index(b, lo, hi, &mut entries[i]);
            }
            entries[i].sort_unstable();
            if let Some(e) = entries[i].first() {
                heap.push(std::cmp::Reverse((e.start, e.rowid, i)));
            }
        }
        let Some(std::cmp::Reverse((_, _, i))) = heap.pop() else {
            break;
        };
        let e = entries[i][pos[i]];
        pos[i] += 1;
        match entries[i].get(pos[i]) {
            Some(n) => heap.push(std::cmp::Reverse((n.start, n.rowid, i))),
            None => {
                entries[i] = Vec::new();
            }
        }
        let blob = blobs[i].as_deref().unwrap_or_default();
        match fill(blob, e.at, out.next()) {
            Ok(()) => {
                if !out.keep() {
                    return Ok(Some(false));
                }
            }
            Err(u) => {
                tracing::warn!(path = %path.display(), rowid = e.rowid, field = u.0,
                    "skipping unreadable row");
            }
        }
        if entries[i].is_empty() {
            // Its last record given: the blob goes.
            blobs[i] = None;
        }
    }
    Ok(Some(true))
}

/// A record with nothing in it, to be filled.
fn empty_cdr() -> CdrRecord {
    CdrRecord {
        uniqueid: String::new(),
        linkedid: String::new(),
        start: 0,
        answer: None,
        end: 0,
        caller: String::new(),
        caller_name: None,
        dialed: String::new(),
        answered_by: None,
        disposition: Disposition::Failed,
        duration: 0,
        billsec: 0,
        hangup_cause: String::new(),
        hangup_by: String::new(),
        sip_code: None,
        codec_a: None,
        codec_b: None,
        history: String::new(),
        legs: Vec::new(),
    }
}

/// Text column `i` of `r` into `buf`, reusing its buffer.
fn set_text(r: &Row<'_>, i: usize, buf: &mut String) -> rusqlite::Result<()> {
    let s = r.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })?;
    buf.clear();
    buf.push_str(s);
    Ok(())
}

/// Nullable text column `i` of `r` into `buf`, reusing its buffer when both have text.
fn set_opt_text(r: &Row<'_>, i: usize, buf: &mut Option<String>) -> rusqlite::Result<()> {
    let s = r.get_ref(i)?.as_str_or_null().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })?;
    match (s, buf.as_mut()) {
        (Some(s), Some(b)) => {
            b.clear();
            b.push_str(s);
        }
        (Some(s), None) => *buf = Some(s.to_owned()),
        (None, _) => *buf = None,
    }
    Ok(())
}

/// What [`cdr_from_row`] reads, into `c` in place, with the first callee answer (column
/// `first`, nullable) as its only leg.
fn fill_cdr(r: &Row<'_>, c: &mut CdrRecord, first: usize) -> rusqlite::Result<()> {
    set_text(r, 0, &mut c.uniqueid)?;
    set_text(r, 1, &mut c.linkedid)?;
    c.start = from_sql_secs(r.get(2)?);
    c.answer = r.get::<_, Option<i64>>(3)?.map(from_sql_secs);
    c.end = from_sql_secs(r.get(4)?);
    set_text(r, 5, &mut c.caller)?;
    set_opt_text(r, 6, &mut c.caller_name)?;
    set_text(r, 7, &mut c.dialed)?;
    set_opt_text(r, 8, &mut c.answered_by)?;
    c.disposition = disposition_from_str(r.get_ref(9)?.as_str().unwrap_or(""));
    c.duration = from_sql_secs(r.get(10)?);
    c.billsec = from_sql_secs(r.get(11)?);
    set_text(r, 12, &mut c.hangup_cause)?;
    set_text(r, 13, &mut c.hangup_by)?;
    c.sip_code = r.get(14)?;
    set_opt_text(r, 15, &mut c.codec_a)?;
    set_opt_text(r, 16, &mut c.codec_b)?;
    set_text(r, 17, &mut c.history)?;
    super::cdr_pack::set_first_answer(c, r.get::<_, Option<i64>>(first)?);
    Ok(())
}

fn each_cdr_first_answered(
    conn: &rusqlite::Connection,
    path: &Path,
    range: &str,
    bounds: &[i64],
    mut f: impl FnMut(CdrRecord),
) -> Result<(), StoreError> {
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let cols: String = CDR_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let leg_cols: String = LEG_COLUMNS
        .split(',')
        .map(|c| format!("l.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {cols}, {leg_cols} FROM cdr c
             LEFT JOIN cdr_legs l ON l.uniqueid = c.uniqueid AND l.leg = (
                 SELECT f.leg FROM cdr_legs f
                 WHERE f.uniqueid = c.uniqueid AND f.side = 'callee'
                   AND f.answer IS NOT NULL
                 ORDER BY f.answer, f.leg LIMIT 1)
             WHERE 1{range} ORDER BY c.start, c.rowid"
        ))
        .map_err(sql_err)?;
    let n = CDR_COLUMNS.split(',').count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(bounds.iter()))
        .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let c = (|| {
            let mut c = cdr_from_row(r)?;
            if r.get::<_, Option<u32>>(n)?.is_some() {
                c.legs.push(leg_from_row(r, n)?);
            }
            Ok(c)
        })();
        if let Some(c) = readable(path, c)? {
            f(c);
        }
    }
    Ok(())
}

/// (caller, dialled number, start) of every call a person answered (`answered_by` set) that
/// started at or after `since`: who has been reached, for the call-back check of the
/// abandoned report. A report reader: the database must exist.
pub fn answered_calls_since(
    path: &Path,
    since: Option<i64>,
) -> Result<Vec<(String, String, u64)>, StoreError> {
    let mut calls = Vec::new();
    for_each_answered_call(path, since, |caller, dialed, start| {
        calls.push((caller.to_owned(), dialed.to_owned(), start));
    })?;
    Ok(calls)
}

/// [`answered_calls_since`] without owning them, in no particular order: `f` gets (caller,
/// dialled number, start) of each, borrowed from the row. A report reader.
pub fn for_each_answered_call(
    path: &Path,
    since: Option<i64>,
    mut f: impl FnMut(&str, &str, u64),
) -> Result<(), StoreError> {
    let conn = open_existing(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare(
            "SELECT caller, dialed, start FROM cdr
             WHERE answered_by IS NOT NULL AND start >= ?1",
        )
        .map_err(sql_err)?;
    let mut rows = stmt.query([since.unwrap_or(i64::MIN)]).map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let (Ok(caller), Ok(dialed)) = (
            r.get_ref(0).map_err(sql_err)?.as_str(),
            r.get_ref(1).map_err(sql_err)?.as_str(),
        ) else {
            tracing::warn!(path = %path.display(), "skipping unreadable row");
            continue;
        };
        f(caller, dialed, from_sql_secs(r.get(2).map_err(sql_err)?));
    }
    Ok(())
}

/// Every call detail record with its legs, oldest first (tests; reports use [`cdrs_between`]).
pub fn cdrs(path: &Path) -> Result<Vec<CdrRecord>, StoreError> {
    let conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {CDR_COLUMNS} FROM cdr ORDER BY start, rowid"
        ))
        .map_err(sql_err)?;
    let mut out = collect_rows(&mut stmt, path, cdr_from_row)?;
    let mut legs = conn
        .prepare(&format!(
            "SELECT {LEG_COLUMNS} FROM cdr_legs WHERE uniqueid = ?1 ORDER BY leg"
        ))
        .map_err(sql_err)?;
    for c in &mut out {
        let rows = legs
            .query_map([&c.uniqueid], |r| leg_from_row(r, 0))
            .map_err(sql_err)?;
        for l in rows {
            c.legs.push(l.map_err(sql_err)?);
        }
    }
    Ok(out)
}

/// Feature state set from phones (DND, forwards), for the engine at start.
pub fn ext_states(path: &Path) -> Result<Vec<ExtStateRecord>, StoreError> {
    let conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare("SELECT ext, dnd, forward_always, forward_busy, forward_noanswer FROM ext_state")
        .map_err(sql_err)?;
    collect_rows(&mut stmt, path, |r| {
        Ok(ExtStateRecord {
            ext: r.get(0)?,
            dnd: r.get(1)?,
            forward_always: r.get(2)?,
            forward_busy: r.get(3)?,
            forward_noanswer: r.get(4)?,
        })
    })
}

/// Queue agents' saved login and pause state, for the engine at start.
pub fn agent_states(path: &Path) -> Result<Vec<super::AgentStateRecord>, StoreError> {
    let conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare(
            "SELECT agent, logged_in, queues, paused, changed_at FROM agent_state ORDER BY agent",
        )
        .map_err(sql_err)?;
    collect_rows(&mut stmt, path, |r| {
        let queues: String = r.get(2)?;
        Ok(super::AgentStateRecord {
            agent: r.get(0)?,
            logged_in: r.get(1)?,
            queues: queues
                .split(',')
                .filter(|q| !q.is_empty())
                .map(str::to_owned)
                .collect(),
            paused: r.get(3)?,
            changed_at: r.get(4)?,
        })
    })
}

/// PINs changed from the phone: (mailbox, PIN).
pub fn voicemail_pins(path: &Path) -> Result<Vec<(String, String)>, StoreError> {
    let conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare("SELECT mailbox, pin FROM voicemail_pin")
        .map_err(sql_err)?;
    collect_rows(&mut stmt, path, |r| Ok((r.get(0)?, r.get(1)?)))
}

/// Voicemail messages not deleted, oldest first.
pub fn voicemails(path: &Path) -> Result<Vec<VoicemailEntry>, StoreError> {
    let conn = open_connection(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut stmt = conn
        .prepare(
            "SELECT id, mailbox, uniqueid, caller, at, duration_ms, path, heard FROM voicemail
             WHERE deleted = 0 ORDER BY at, rowid",
        )
        .map_err(sql_err)?;
    collect_rows(&mut stmt, path, |r| {
        Ok(VoicemailEntry {
            id: r.get(0)?,
            mailbox: r.get(1)?,
            uniqueid: r.get(2)?,
            caller: r.get(3)?,
            at: from_sql_secs(r.get(4)?),
            duration_ms: from_sql_secs(r.get(5)?),
            path: dir.join(r.get::<_, String>(6)?),
            heard: r.get(7)?,
        })
    })
}

/// Queue events with `since_ms <= at_ms < until_ms` (either bound optional), ordered by time,
/// then by the order they were written.
///
/// `data` comes back as written, except that trailing empty fields are dropped and a '|'
/// inside the 5th or a later field reads back as a space (see `schema::MIGRATIONS` v8).
/// The database must exist: a missing file is [`StoreError::Missing`], not a new database.
pub fn queue_events(
    path: &Path,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
) -> Result<Vec<QueueEventRecord>, StoreError> {
    let conn = open_existing(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let (sql, bounds) = queue_events_sql(since_ms, until_ms);
    let mut stmt = conn.prepare(&sql).map_err(sql_err)?;
    collect_rows_with(&mut stmt, rusqlite::params_from_iter(bounds), path, |r| {
        Ok(QueueEventRecord {
            at_ms: r.get(0)?,
            call_id: r.get(1)?,
            queue: r.get(2)?,
            agent: r.get(3)?,
            event: r.get(4)?,
            data: queue_data_from_columns([r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?]),
        })
    })
}

/// The query of [`queue_events`] and [`for_each_queue_event`], and its parameters. The
/// bounds go into the SQL only when given, so the planner sees a plain range on
/// `queue_log_at` (an `?1 IS NULL OR ...` form would hide it).
fn queue_events_sql(since_ms: Option<i64>, until_ms: Option<i64>) -> (String, Vec<i64>) {
    let mut sql = String::from(
        "SELECT at_ms, call_id, queue, agent, event, data1, data2, data3, data4, data5
         FROM queue_log WHERE 1",
    );
    let mut bounds = Vec::with_capacity(2);
    if let Some(since) = since_ms {
        bounds.push(since);
        sql.push_str(&format!(" AND at_ms >= ?{}", bounds.len()));
    }
    if let Some(until) = until_ms {
        bounds.push(until);
        sql.push_str(&format!(" AND at_ms < ?{}", bounds.len()));
    }
    sql.push_str(" ORDER BY at_ms, id");
    (sql, bounds)
}

/// [`queue_events`] without owning them, folded: `step` gets each event, borrowed, in the
/// same order (by time, then by the order written), starting from `init()`; the final state
/// is returned. Nothing is kept but a few batches of rows in flight, so a year of events
/// costs the scan and what `step` does (the scan runs on a thread of its own, beside the
/// fold). A
/// row whose time, call id, queue, agent or event cannot be read is logged and skipped (as
/// [`queue_events`] does); `data` reads as [`queue_events`]' does (an absent field is empty).
///
/// The log is written in time order, so the rows of the range are read in the order they
/// were written (`id`, the table's own order: a sequential read) between the first and the
/// last `id` in the range (found on `queue_log_at`), skipping the few outside it. Should a
/// row come earlier in time than the one before (the clock stepped back while writing), the
/// fold starts again from `init()` over the `queue_log_at` index in (time, id) order, so
/// the result is that order's whatever the log holds.
pub fn for_each_queue_event<S>(
    path: &Path,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    init: impl Fn() -> S,
    step: impl FnMut(&mut S, &QueueEventRef<'_>),
) -> Result<S, StoreError> {
    type NoFold = (fn(), fn(&mut (), &QueueEventRef<'_>));
    fold_queue_events(path, since_ms, until_ms, init, step, None::<NoFold>).map(|(s, _)| s)
}

/// [`for_each_queue_event`] with two folds over the same events, the second on a thread of
/// its own (a third core's worth of work, when the machine has it): the states of both.
pub fn for_each_queue_event_twice<S, T: Send>(
    path: &Path,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    (init, step): (impl Fn() -> S, impl FnMut(&mut S, &QueueEventRef<'_>)),
    other: (
        impl Fn() -> T + Send,
        impl FnMut(&mut T, &QueueEventRef<'_>) + Send,
    ),
) -> Result<(S, T), StoreError> {
    let (s, t) = fold_queue_events(path, since_ms, until_ms, init, step, Some(other))?;
    match t {
        Some(t) => Ok((s, t)),
        None => Err(StoreError::Closed),
    }
}

fn fold_queue_events<S, T: Send>(
    path: &Path,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    init: impl Fn() -> S,
    mut step: impl FnMut(&mut S, &QueueEventRef<'_>),
    other: Option<(
        impl Fn() -> T + Send,
        impl FnMut(&mut T, &QueueEventRef<'_>) + Send,
    )>,
) -> Result<(S, Option<T>), StoreError> {
    // SQLite's reading runs on a thread of its own, the fold on this one (the other fold on a
    // third): the rows go over in packed batches, so they overlap.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Arc<Packet>, StoreError>>(4);
    let (more_tx, more_rx) = match other {
        Some(_) => {
            let (a, b) = std::sync::mpsc::sync_channel::<Arc<Packet>>(4);
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    std::thread::scope(|scope| {
        let out = PacketOut {
            main: tx,
            more: more_tx,
        };
        let reader = scope.spawn(move || {
            if let Err(e) = read_queue_events(path, since_ms, until_ms, &out) {
                let _ = out.main.send(Err(e));
            }
        });
        let second = other.zip(more_rx).map(|((init, mut step), rx)| {
            scope.spawn(move || {
                let mut state = init();
                for packet in &rx {
                    match &*packet {
                        Packet::Restart => state = init(),
                        Packet::Batch(b) => b.each(|ev| step(&mut state, ev)),
                    }
                }
                state
            })
        });
        // Owned here, so a panic in `step` drops it and the reader stops.
        let rx = rx;
        let mut state = init();
        for packet in &rx {
            match packet.as_deref() {
                Ok(Packet::Restart) => state = init(),
                Ok(Packet::Batch(b)) => b.each(|ev| step(&mut state, ev)),
                Err(_) => return Err(packet.err().unwrap_or(StoreError::Closed)),
            }
        }
        if let Err(panic) = reader.join() {
            std::panic::resume_unwind(panic);
        }
        let second = second.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        Ok((state, second))
    })
}

/// Where the queue event reader sends its packets: the fold on the caller's thread (which
/// also gets an error), and another fold, if any.
struct PacketOut {
    main: std::sync::mpsc::SyncSender<Result<Arc<Packet>, StoreError>>,
    more: Option<std::sync::mpsc::SyncSender<Arc<Packet>>>,
}

impl PacketOut {
    /// Gives `p` to every fold: false when one has gone.
    fn send(&self, p: Packet) -> bool {
        let p = Arc::new(p);
        if let Some(more) = &self.more
            && more.send(Arc::clone(&p)).is_err()
        {
            return false;
        }
        self.main.send(Ok(p)).is_ok()
    }
}

/// What the queue event reader thread sends.
enum Packet {
    Batch(EventBatch),
    /// The log is out of time order: start the fold again, the rows come again by time.
    Restart,
}

/// Events per [`EventBatch`].
const BATCH: usize = 4096;

/// Queue events packed for the trip between threads: per event its time and its nine text
/// columns (call id, queue, agent, event, data1 to data5) as consecutive ranges of `text`.
/// The reader checks their UTF-8 as it packs them (the fold's thread is the busier).
#[derive(Default)]
struct EventBatch {
    at_ms: Vec<i64>,
    /// The end of each column in `text`, nine per event.
    ends: Vec<u32>,
    text: String,
}

impl EventBatch {
    /// Adds an event from its stored bytes: one whose call id, queue, agent or event is not
    /// UTF-8 is logged and skipped (as [`readable`] does), a data column that is not reads as
    /// empty.
    fn push(&mut self, path: &Path, at_ms: i64, cols: [&[u8]; 9]) {
        let key = [cols[0], cols[1], cols[2], cols[3]].map(std::str::from_utf8);
        if let Some(error) = key.iter().find_map(|k| k.as_ref().err()) {
            tracing::warn!(path = %path.display(), error = ?error, "skipping unreadable row");
            return;
        }
        self.at_ms.push(at_ms);
        for (i, c) in cols.iter().enumerate() {
            let text = match key.get(i) {
                Some(k) => k.as_ref().copied().unwrap_or_default(),
                None => std::str::from_utf8(c).unwrap_or_default(),
            };
            self.text.push_str(text);
            // A batch holds 4096 events; its text stays far below 4 GiB.
            self.ends
                .push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        }
    }

    fn len(&self) -> usize {
        self.at_ms.len()
    }

    /// Gives each event to `f`.
    fn each(&self, mut f: impl FnMut(&QueueEventRef<'_>)) {
        let mut from = 0usize;
        // The ends are where `push` put them: on character boundaries.
        let mut col = |end: u32| {
            let end = end as usize;
            let s = self.text.get(from..end).unwrap_or_default();
            from = end;
            s
        };
        for (i, &at_ms) in self.at_ms.iter().enumerate() {
            let e = &self.ends[i * 9..i * 9 + 9];
            let (call_id, queue, agent, event) = (col(e[0]), col(e[1]), col(e[2]), col(e[3]));
            let data = [e[4], e[5], e[6], e[7], e[8]].map(&mut col);
            f(&QueueEventRef {
                at_ms,
                call_id,
                queue,
                agent,
                event,
                data: QueueData::Columns(data),
            });
        }
    }
}

/// The reader thread of [`for_each_queue_event`]: the rows of the range in batches, by id
/// while they are in time order, else (after [`Packet::Restart`]) by time.
fn read_queue_events(
    path: &Path,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    tx: &PacketOut,
) -> Result<(), StoreError> {
    let mut conn = open_existing(path)?;
    // A log written by another tool (or grown since the writer last packed) is packed first:
    // once, and the reads after it are the faster for it. A read-only or busy database is
    // read as it is.
    match super::pack::catch_up(&mut conn, path, usize::MAX) {
        Ok(0) => {}
        Ok(n) => tracing::debug!(path = %path.display(), packs = n, "queue log packed"),
        Err(e) => tracing::debug!(path = %path.display(), error = %e, "queue log not packed"),
    }
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let (range_sql, bounds) = queue_events_sql(since_ms, until_ms);
    let cond = range_sql
        .split_once("WHERE 1")
        .and_then(|(_, r)| r.split_once(" ORDER BY"))
        .map_or("", |(c, _)| c)
        .to_owned();
    // In a log known to be in time order (schema v10 keeps track), the first and last rows of
    // the range by time are its min(id) and max(id): two index lookups instead of a scan.
    let disorder: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'queue_log_disorder'",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(sql_err(e)),
        })?;
    let edge = |order: &str| -> Result<Option<i64>, StoreError> {
        conn.query_row(
            &format!("SELECT id FROM queue_log WHERE 1{cond} ORDER BY {order} LIMIT 1"),
            rusqlite::params_from_iter(bounds.iter()),
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(sql_err(e)),
        })
    };
    let ids: (Option<i64>, Option<i64>) = if disorder.is_none() {
        (edge("at_ms, id")?, edge("at_ms DESC, id DESC")?)
    } else {
        conn.query_row(
            &format!("SELECT min(id), max(id) FROM queue_log WHERE 1{cond}"),
            rusqlite::params_from_iter(bounds.iter()),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql_err)?
    };
    let (Some(lo), Some(hi)) = ids else {
        return Ok(());
    };
    // Packed chunks of the range come from `queue_log_pack` (see [`super::pack`]), the rows
    // between and after them from the table.
    let by_id = format!(
        "SELECT at_ms, call_id, queue, agent, event, data1, data2, data3, data4, data5
         FROM queue_log WHERE id BETWEEN ?{a} AND ?{b}{} ORDER BY id",
        // `+at_ms`: no index for the range test, the id range is the read.
        cond.replace("at_ms", "+at_ms"),
        a = bounds.len() + 1,
        b = bounds.len() + 2,
    );
    let mut out = Sending {
        batch: EventBatch::default(),
        last: i64::MIN,
        in_order: true,
        tx,
        path,
    };
    let rows = |out: &mut Sending<'_>, from: i64, to: i64| -> Result<Flow, StoreError> {
        if from > to {
            return Ok(Flow::Go);
        }
        let mut params = bounds.clone();
        params.extend([from, to]);
        send_queue_rows(&conn, &by_id, &params, path, out)
    };
    let mut packs = conn
        .prepare(
            "SELECT first_id, last_id, events FROM queue_log_pack
             WHERE first_id <= ?2 AND last_id >= ?1 ORDER BY first_id",
        )
        .map_err(sql_err)?;
    let mut packs = packs.query([lo, hi]).map_err(sql_err)?;
    let mut next = lo;
    let mut flow = Flow::Go;
    while flow == Flow::Go
        && let Some(p) = packs.next().map_err(sql_err)?
    {
        let (first, last): (i64, i64) = (p.get(0).map_err(sql_err)?, p.get(1).map_err(sql_err)?);
        flow = rows(&mut out, next, first - 1)?;
        if flow != Flow::Go {
            break;
        }
        let blob = p.get_ref(2).map_err(sql_err)?.as_blob().unwrap_or_default();
        let (since, until) = (since_ms.unwrap_or(i64::MIN), until_ms.unwrap_or(i64::MAX));
        let unpacked = super::pack::each(blob, first, |id, at_ms, cols| {
            if flow == Flow::Go && (lo..=hi).contains(&id) && (since..until).contains(&at_ms) {
                flow = out.push(at_ms, cols);
            }
        });
        if unpacked.is_err() {
            tracing::warn!(path = %path.display(), first, last, "damaged queue log pack: reading its rows");
            flow = rows(&mut out, first.max(next), last.min(hi))?;
        }
        next = last + 1;
    }
    if flow == Flow::Go {
        flow = rows(&mut out, next, hi)?;
    }
    match flow {
        Flow::Go => {
            out.flush();
            return Ok(());
        }
        Flow::Gone => return Ok(()),
        Flow::Disorder => {}
    }
    tracing::debug!(path = %path.display(), "queue log out of time order: reading by time");
    if tx.send(Packet::Restart) {
        let mut out = Sending {
            batch: EventBatch::default(),
            last: i64::MIN,
            in_order: false,
            tx,
            path,
        };
        if send_queue_rows(&conn, &range_sql, &bounds, path, &mut out)? == Flow::Go {
            out.flush();
        }
    }
    Ok(())
}

/// What a reader of queue rows does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    /// A row earlier in time than the one before: read again by time.
    Disorder,
    /// The fold has gone (it failed or panicked): stop.
    Gone,
}

/// The queue event reader's output: the batch being filled, sent when full.
struct Sending<'a> {
    batch: EventBatch,
    /// `at_ms` of the last event given.
    last: i64,
    /// Stop ([`Flow::Disorder`]) at an event earlier than the one before, the batch being
    /// filled then unsent.
    in_order: bool,
    tx: &'a PacketOut,
    path: &'a Path,
}

impl Sending<'_> {
    fn push(&mut self, at_ms: i64, cols: [&[u8]; 9]) -> Flow {
        if self.in_order && at_ms < self.last {
            return Flow::Disorder;
        }
        self.last = at_ms;
        self.batch.push(self.path, at_ms, cols);
        if self.batch.len() == BATCH
            && !self.tx.send(Packet::Batch(std::mem::take(&mut self.batch)))
        {
            return Flow::Gone;
        }
        Flow::Go
    }

    /// Sends the part-filled batch.
    fn flush(&mut self) {
        if self.batch.len() > 0 {
            let _ = self.tx.send(Packet::Batch(std::mem::take(&mut self.batch)));
        }
    }
}

/// A queue event's time and text columns (call id, queue, agent, event, data1 to data5) from
/// row `r`, whose `at_ms` is column `at` and the text columns the nine after it. A data
/// column that is not text reads as empty (see [`QueueData::Columns`]); the others must be
/// what they are declared as.
pub(super) fn event_columns<'r>(
    r: &'r Row<'_>,
    at: usize,
) -> rusqlite::Result<(i64, [&'r [u8]; 9])> {
    use rusqlite::types::ValueRef;
    let text = |i: usize| -> rusqlite::Result<&[u8]> {
        match r.get_ref(at + i)? {
            ValueRef::Text(b) => Ok(b),
            v => Err(rusqlite::Error::FromSqlConversionFailure(
                at + i,
                v.data_type(),
                "not text".into(),
            )),
        }
    };
    let data = |i: usize| match r.get_ref(at + i) {
        Ok(ValueRef::Text(b)) => b,
        _ => &[],
    };
    let at_ms: i64 = r.get(at)?;
    Ok((
        at_ms,
        [
            text(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            data(5),
            data(6),
            data(7),
            data(8),
            data(9),
        ],
    ))
}

/// Runs `sql` (the queue event columns) with `params` and gives its rows to `out`, until one
/// is not [`Flow::Go`] (returned) or the rows end.
fn send_queue_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[i64],
    path: &Path,
    out: &mut Sending<'_>,
) -> Result<Flow, StoreError> {
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let Some((at_ms, cols)) = readable(path, event_columns(r, 0))? else {
            continue;
        };
        let flow = out.push(at_ms, cols);
        if flow != Flow::Go {
            return Ok(flow);
        }
    }
    Ok(Flow::Go)
}

/// The `AND c.start ...` conditions of a CDR range, and their parameters (only the bounds
/// given, so the planner sees a plain range on `cdr_start`).
fn cdr_range(since: Option<i64>, until: Option<i64>) -> (String, Vec<i64>) {
    let mut range = String::new();
    let mut bounds = Vec::with_capacity(2);
    if let Some(s) = since {
        bounds.push(s);
        range.push_str(&format!(" AND c.start >= ?{}", bounds.len()));
    }
    if let Some(u) = until {
        bounds.push(u);
        range.push_str(&format!(" AND c.start < ?{}", bounds.len()));
    }
    (range, bounds)
}

/// Who answered (`answered_by`) the CDRs that started in `since <= start < until`, each once:
/// the stand-in for our extensions when the configuration names none. A report reader.
pub fn answerers_between(
    path: &Path,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let conn = open_existing(path)?;
    let sql_err = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let (range, bounds) = cdr_range(since, until);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT DISTINCT c.answered_by FROM cdr c
             WHERE c.answered_by IS NOT NULL{range}"
        ))
        .map_err(sql_err)?;
    let v = collect_rows_with(
        &mut stmt,
        rusqlite::params_from_iter(bounds.iter()),
        path,
        |r| r.get::<_, String>(0),
    )?;
    Ok(v.into_iter().collect())
}

/// A row that cannot be decoded (only in a hand-edited database: the tables are STRICT) is
/// logged and skipped (`None`); any other error ends the read.
fn readable<T>(path: &Path, r: rusqlite::Result<T>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(
            e @ (rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..)),
        ) => {
            tracing::warn!(path = %path.display(), error = %e, "skipping unreadable row");
            Ok(None)
        }
        Err(source) => Err(StoreError::Sql {
            path: path.to_path_buf(),
            source,
        }),
    }
}
