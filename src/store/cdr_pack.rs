//! Packed copies of the CDRs, for the call list's long reads.
//!
//! What [`super::pack`] does for the queue log, for `cdr` (schema v13): every [`CHUNK`] rows
//! in rowid order are also kept as one row of `cdr_pack`, with the columns the call list
//! reads and each call's first callee answer (from its legs), so a year's call list reads a
//! few hundred blobs instead of a million rows, each with a lookup of its legs.
//!
//! - A pack covers every `cdr` row whose rowid is in `first_rowid..=last_rowid`, as those
//!   rows and their legs were when it was made; `first_uniqueid` and `last_uniqueid` name its
//!   ends, which the reader checks (a `VACUUM` may renumber the rowids of `cdr`: a pack
//!   whose ends moved is read from its rows instead).
//! - Triggers (schema v13) drop a pack when a CDR it covers is updated or deleted, when a
//!   CDR is inserted with a rowid inside it, or when a leg of one of its CDRs changes.
//! - CDRs are written as calls end, not in start order: a pack keeps the least and the
//!   greatest start of its CDRs, and the reader merges the packs (and the rows no pack
//!   covers) into (start, rowid) order.
//!
//! The blob: `ZCP1`, the record count (u32 LE), then per record its rowid as the difference
//! from the record before (the first from 0; zigzag LEB128), a bitmap of its
//! NULL fields (LEB128) and each other field of [`FIELDS`]: an integer as zigzag LEB128, a
//! text as its byte length (LEB128) and its bytes as stored.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};

use super::pack::{BadPack, get_signed, get_unsigned, put_signed, put_unsigned};
use super::{CdrLeg, CdrRecord, Disposition, from_sql_secs};

/// Rows per pack (as the queue log's).
pub(super) const CHUNK: usize = super::pack::CHUNK;

const MAGIC: &[u8; 4] = b"ZCP1";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

/// The packed fields, in their order: the CDR columns of the call list, then the first
/// answer of a callee leg (NULL when nobody answered).
const FIELDS: [(&str, Kind); 19] = [
    ("c.uniqueid", Kind::Text),
    ("c.linkedid", Kind::Text),
    ("c.start", Kind::Int),
    ("c.answer", Kind::Int),
    ("c.end", Kind::Int),
    ("c.caller", Kind::Text),
    ("c.caller_name", Kind::Text),
    ("c.dialed", Kind::Text),
    ("c.answered_by", Kind::Text),
    ("c.disposition", Kind::Text),
    ("c.duration", Kind::Int),
    ("c.billsec", Kind::Int),
    ("c.hangup_cause", Kind::Text),
    ("c.hangup_by", Kind::Text),
    ("c.sip_code", Kind::Int),
    ("c.codec_a", Kind::Text),
    ("c.codec_b", Kind::Text),
    ("c.history", Kind::Text),
    (
        "CASE WHEN c.answered_by IS NOT NULL THEN (SELECT min(f.answer) FROM cdr_legs f
          WHERE f.uniqueid = c.uniqueid AND f.side = 'callee') END",
        Kind::Int,
    ),
];

const START: usize = 2;

/// `SELECT c.rowid, <the fields> FROM cdr c WHERE <cond> ORDER BY c.rowid`.
pub(super) fn select_sql(cond: &str) -> String {
    let cols: Vec<&str> = FIELDS.iter().map(|(c, _)| *c).collect();
    format!(
        "SELECT c.rowid, {} FROM cdr c WHERE {cond} ORDER BY c.rowid",
        cols.join(", ")
    )
}

/// A blob being built, from rows of [`select_sql`].
pub(super) struct Encoder {
    out: Vec<u8>,
    count: u32,
    last: i64,
    pub(super) min_start: i64,
    pub(super) max_start: i64,
}

impl Encoder {
    pub(super) fn new() -> Encoder {
        let mut out = Vec::with_capacity(CHUNK * 160);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&0u32.to_le_bytes());
        Encoder {
            out,
            count: 0,
            last: 0,
            min_start: i64::MAX,
            max_start: i64::MIN,
        }
    }

    /// Adds the row; one with a field of the wrong type (only in a hand-edited database: the
    /// table is STRICT) is refused as `readable` would skip it.
    pub(super) fn push(&mut self, r: &Row<'_>) -> rusqlite::Result<()> {
        let rowid: i64 = r.get(0)?;
        let mut nulls = 0u64;
        let mut start = 0;
        for (i, (_, kind)) in FIELDS.iter().enumerate() {
            match (r.get_ref(1 + i)?, kind) {
                (ValueRef::Null, _) => nulls |= 1 << i,
                (ValueRef::Integer(v), Kind::Int) if i == START => start = v,
                (ValueRef::Integer(_), Kind::Int) | (ValueRef::Text(_), Kind::Text) => {}
                (v, _) => {
                    return Err(rusqlite::Error::FromSqlConversionFailure(
                        1 + i,
                        v.data_type(),
                        "not the column's type".into(),
                    ));
                }
            }
        }
        if nulls & (1 << START) != 0 {
            return Err(rusqlite::Error::InvalidColumnType(
                1 + START,
                "start".into(),
                rusqlite::types::Type::Null,
            ));
        }
        put_signed(&mut self.out, rowid.wrapping_sub(self.last));
        put_unsigned(&mut self.out, nulls);
        for i in 0..FIELDS.len() {
            match r.get_ref(1 + i)? {
                ValueRef::Integer(v) => put_signed(&mut self.out, v),
                ValueRef::Text(t) => {
                    put_unsigned(&mut self.out, t.len() as u64);
                    self.out.extend_from_slice(t);
                }
                _ => {}
            }
        }
        self.last = rowid;
        self.min_start = self.min_start.min(start);
        self.max_start = self.max_start.max(start);
        self.count += 1;
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        self.out[4..8].copy_from_slice(&self.count.to_le_bytes());
        self.out
    }
}

/// A record of a blob, for the merge: its start, rowid, and where its fields begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    pub(super) start: i64,
    pub(super) rowid: i64,
    pub(super) at: u32,
}

/// The records of `blob` with `since <= start < until`, appended to `out` in blob order; a
/// damaged blob is [`BadPack`] and appends nothing.
pub(super) fn index(
    blob: &[u8],
    since: i64,
    until: i64,
    out: &mut Vec<Entry>,
) -> Result<(), BadPack> {
    let before = out.len();
    let r = walk(blob, since, until, out);
    if r.is_err() {
        out.truncate(before);
    }
    r
}

fn walk(blob: &[u8], since: i64, until: i64, out: &mut Vec<Entry>) -> Result<(), BadPack> {
    let (magic, rest) = blob.split_at_checked(4).ok_or(BadPack)?;
    if magic != MAGIC {
        return Err(BadPack);
    }
    let (count, mut rest) = rest.split_at_checked(4).ok_or(BadPack)?;
    let count = u32::from_le_bytes(count.try_into().map_err(|_| BadPack)?);
    let mut rowid = 0i64;
    for _ in 0..count {
        rowid = rowid.wrapping_add(get_signed(&mut rest)?);
        let at = u32::try_from(blob.len() - rest.len()).map_err(|_| BadPack)?;
        let mut start = None;
        let nulls = get_unsigned(&mut rest)?;
        for (i, (_, kind)) in FIELDS.iter().enumerate() {
            if nulls & (1 << i) != 0 {
                continue;
            }
            match kind {
                Kind::Int => {
                    let v = get_signed(&mut rest)?;
                    if i == START {
                        start = Some(v);
                    }
                }
                Kind::Text => {
                    let n = usize::try_from(get_unsigned(&mut rest)?).map_err(|_| BadPack)?;
                    rest = rest.get(n..).ok_or(BadPack)?;
                }
            }
        }
        let start = start.ok_or(BadPack)?;
        if (since..until).contains(&start) {
            out.push(Entry { start, rowid, at });
        }
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(BadPack)
    }
}

/// A record that [`fill`] cannot give: a text that is not UTF-8 (as `readable` skips it).
#[derive(Debug)]
pub(super) struct Unreadable(pub(super) usize);

/// The record at `at` of `blob` (an [`Entry`] of a blob [`index`] accepted) into `c`, in
/// place, as `read::fill_cdr` fills it from a row.
pub(super) fn fill(blob: &[u8], at: u32, c: &mut CdrRecord) -> Result<(), Unreadable> {
    let mut rest = blob.get(at as usize..).unwrap_or_default();
    let nulls = get_unsigned(&mut rest).unwrap_or(u64::MAX);
    let mut ints = [None::<i64>; FIELDS.len()];
    let mut texts: [Option<&str>; FIELDS.len()] = [None; FIELDS.len()];
    for (i, (_, kind)) in FIELDS.iter().enumerate() {
        if nulls & (1 << i) != 0 {
            continue;
        }
        match kind {
            Kind::Int => ints[i] = get_signed(&mut rest).ok(),
            Kind::Text => {
                let n = get_unsigned(&mut rest).unwrap_or(0) as usize;
                let (t, after) = rest.split_at_checked(n).unwrap_or((&[], &[]));
                rest = after;
                texts[i] = Some(std::str::from_utf8(t).map_err(|_| Unreadable(i))?);
            }
        }
    }
    let set = |buf: &mut String, v: Option<&str>| {
        buf.clear();
        buf.push_str(v.unwrap_or_default());
    };
    let set_opt = |buf: &mut Option<String>, v: Option<&str>| match (v, buf.as_mut()) {
        (Some(v), Some(b)) => {
            b.clear();
            b.push_str(v);
        }
        (Some(v), None) => *buf = Some(v.to_owned()),
        (None, _) => *buf = None,
    };
    let secs = |i: usize| from_sql_secs(ints[i].unwrap_or(0));
    set(&mut c.uniqueid, texts[0]);
    set(&mut c.linkedid, texts[1]);
    c.start = secs(2);
    c.answer = ints[3].map(from_sql_secs);
    c.end = secs(4);
    set(&mut c.caller, texts[5]);
    set_opt(&mut c.caller_name, texts[6]);
    set(&mut c.dialed, texts[7]);
    set_opt(&mut c.answered_by, texts[8]);
    c.disposition = super::read::disposition_from_str(texts[9].unwrap_or_default());
    c.duration = secs(10);
    c.billsec = secs(11);
    set(&mut c.hangup_cause, texts[12]);
    set(&mut c.hangup_by, texts[13]);
    c.sip_code = ints[14].and_then(|v| u16::try_from(v).ok());
    set_opt(&mut c.codec_a, texts[15]);
    set_opt(&mut c.codec_b, texts[16]);
    set(&mut c.history, texts[17]);
    set_first_answer(c, ints[18]);
    Ok(())
}

/// `c.legs` as the call list gives it: one callee leg with only its answer, or none.
pub(super) fn set_first_answer(c: &mut CdrRecord, first: Option<i64>) {
    match first {
        Some(a) => {
            c.legs.truncate(1);
            match c.legs.first_mut() {
                Some(l) => l.answer = Some(from_sql_secs(a)),
                None => c.legs.push(CdrLeg {
                    leg: 0,
                    side: "callee".to_owned(),
                    peer: String::new(),
                    start: 0,
                    answer: Some(from_sql_secs(a)),
                    end: 0,
                    disposition: Disposition::Answered,
                    sip_code: None,
                    codec: None,
                    packets: 0,
                    lost: 0,
                    jitter_ms: 0.0,
                    mos: 0.0,
                }),
            }
        }
        None => c.legs.clear(),
    }
}

/// Packs the complete chunks of CDRs after the last pack, one transaction per pack, at most
/// `max` of them; returns how many were made (as [`super::pack::catch_up`]).
pub(super) fn catch_up(
    conn: &mut Connection,
    path: &std::path::Path,
    max: usize,
) -> rusqlite::Result<usize> {
    let last = "SELECT last_rowid FROM cdr_pack ORDER BY first_rowid DESC LIMIT 1";
    super::pack::catch_up_with(conn, "cdr", "rowid", last, max, |tx, after| {
        let mut enc = Encoder::new();
        let mut n = 0usize;
        let mut ends: Option<(i64, i64)> = None;
        {
            let mut stmt =
                tx.prepare_cached(&format!("{} LIMIT ?2", select_sql("c.rowid > ?1")))?;
            let mut rows = stmt.query(rusqlite::params![after, CHUNK as i64])?;
            while let Some(r) = rows.next()? {
                let rowid: i64 = r.get(0)?;
                n += 1;
                ends = Some((ends.map_or(rowid, |(first, _)| first), rowid));
                if let Err(e) = enc.push(r) {
                    tracing::warn!(path = %path.display(), rowid, error = %e,
                        "skipping unreadable CDR row");
                }
            }
        }
        let Some((first, last)) = ends.filter(|_| n == CHUNK) else {
            return Ok(false);
        };
        let (min_start, max_start) = (enc.min_start, enc.max_start);
        let blob = enc.finish();
        tx.prepare_cached(
            "INSERT INTO cdr_pack (first_rowid, last_rowid, first_uniqueid, last_uniqueid,
                 min_start, max_start, records)
             VALUES (?1, ?2, (SELECT uniqueid FROM cdr WHERE rowid = ?1),
                 (SELECT uniqueid FROM cdr WHERE rowid = ?2), ?3, ?4, ?5)",
        )?
        .execute(rusqlite::params![first, last, min_start, max_start, blob])?;
        Ok(true)
    })
}
