//! Packed copies of the queue log, for the reports' long scans.
//!
//! A year of queue events is millions of rows; SQLite takes about a microsecond to step to
//! each and hand out its ten columns, which made a year's queue report a matter of
//! seconds. The log is append-only, so every [`CHUNK`] rows are also kept as one row of
//! `queue_log_pack` (schema v12): their columns packed into one blob, which the reader
//! copies out in one go. The rows stay the record (`zvon report queue-log`, the indexes,
//! anything an admin runs by hand); a pack is a cache of them.
//!
//! - A pack covers every `queue_log` row whose id is in `first_id..=last_id`, as those rows
//!   were when it was made. Packs never overlap and are made in id order, each right after
//!   the last one, from complete chunks only: the newest rows (fewer than [`CHUNK`]) are
//!   read as rows.
//! - Triggers (schema v12) drop a pack when a row it covers is updated or deleted, or when a
//!   row is inserted with an id inside it, so a pack never disagrees with the rows it covers
//!   (the rows of a dropped pack are then read as rows; [`catch_up`] only packs after the
//!   last pack).
//! - [`catch_up`] packs what is complete: the store's writer calls it as the log grows, and
//!   the report reader before a long read (for databases written by other tools).
//!
//! The blob: `ZQP1`, the event count (u32 LE), then per event its id and `at_ms` as
//! differences from the event before (the first from `first_id` and 0; zigzag LEB128), the
//! byte lengths of its nine text columns (call id, queue, agent, event, data1..data5;
//! LEB128) and their bytes as stored.

use rusqlite::{Connection, TransactionBehavior};

/// Rows per pack.
pub(super) const CHUNK: usize = 4096;

const MAGIC: &[u8; 4] = b"ZQP1";

/// The columns a pack holds, in its order, after `id` and `at_ms`.
pub(super) const TEXT_COLUMNS: usize = 9;

/// Packs the complete chunks of rows after the last pack, one transaction per pack, at most
/// `max` of them. Returns how many packs were made. A busy or read-only database is the
/// caller's to judge (the error is returned; what was packed before it stays).
pub(super) fn catch_up(
    conn: &mut Connection,
    path: &std::path::Path,
    max: usize,
) -> rusqlite::Result<usize> {
    let last = "SELECT last_id FROM queue_log_pack ORDER BY first_id DESC LIMIT 1";
    catch_up_with(conn, "queue_log", "id", last, max, |tx, after| {
        let mut blob = Vec::with_capacity(CHUNK * 64);
        let mut ids = None;
        let mut n = 0usize;
        {
            let mut stmt = tx.prepare_cached(
                "SELECT id, at_ms, call_id, queue, agent, event, data1, data2, data3, data4, data5
                 FROM queue_log WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let mut rows = stmt.query(rusqlite::params![after, CHUNK as i64])?;
            let mut w = Writer::new(&mut blob);
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                n += 1;
                ids = Some((ids.map_or(id, |(first, _)| first), id));
                // A row the reader would skip (only in a hand-edited database: the table is
                // STRICT) is left out of the pack, as the reader leaves it out.
                match super::read::event_columns(r, 1) {
                    Ok((at_ms, cols)) => w.push(id, at_ms, &cols),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), id, error = %e,
                            "skipping unreadable queue log row");
                    }
                }
            }
            w.finish();
        }
        let Some((first, last)) = ids.filter(|_| n == CHUNK) else {
            return Ok(false);
        };
        tx.prepare_cached(
            "INSERT INTO queue_log_pack (first_id, last_id, events) VALUES (?1, ?2, ?3)",
        )?
        .execute(rusqlite::params![first, last, blob])?;
        Ok(true)
    })
}

/// The loop of a catch-up, for `table` keyed by `key` whose last pack's last key `last_sql`
/// selects: while [`CHUNK`] rows follow it, `pack(tx, after)` packs the chunk after `after`
/// in a transaction of its own (committed when it returns true; false: nothing to pack).
pub(super) fn catch_up_with(
    conn: &mut Connection,
    table: &str,
    key: &str,
    last_sql: &str,
    max: usize,
    mut pack: impl FnMut(&rusqlite::Transaction<'_>, i64) -> rusqlite::Result<bool>,
) -> rusqlite::Result<usize> {
    // Nothing to do is found without taking the write lock.
    let unpacked: i64 = conn.query_row(
        &format!(
            "SELECT count(*) FROM (SELECT 1 FROM {table}
             WHERE {key} > coalesce(({last_sql}), 0) LIMIT ?1)"
        ),
        [CHUNK as i64],
        |r| r.get(0),
    )?;
    if unpacked < CHUNK as i64 {
        return Ok(0);
    }
    let mut made = 0;
    while made < max {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let after: i64 = tx
            .query_row(last_sql, [], |r| r.get(0))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                e => Err(e),
            })?;
        if !pack(&tx, after)? {
            return Ok(made);
        }
        tx.commit()?;
        made += 1;
    }
    Ok(made)
}

/// Builds a pack's blob.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    count: u32,
    id: Option<i64>,
    at_ms: i64,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        out.clear();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&0u32.to_le_bytes());
        Writer {
            out,
            count: 0,
            id: None,
            at_ms: 0,
        }
    }

    fn push(&mut self, id: i64, at_ms: i64, cols: &[&[u8]; TEXT_COLUMNS]) {
        let prev_id = self.id.unwrap_or(id);
        put_signed(self.out, id.wrapping_sub(prev_id));
        put_signed(self.out, at_ms.wrapping_sub(self.at_ms));
        self.id = Some(id);
        self.at_ms = at_ms;
        for c in cols {
            put_unsigned(self.out, c.len() as u64);
        }
        for c in cols {
            self.out.extend_from_slice(c);
        }
        self.count += 1;
    }

    fn finish(self) {
        self.out[4..8].copy_from_slice(&self.count.to_le_bytes());
    }
}

pub(super) fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// A blob that is not a pack this build reads (damaged, or from a newer format).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadPack;

/// Calls `f(id, at_ms, columns)` for each event of the pack `blob` whose first event has id
/// `first_id`, in id order; a damaged blob is [`BadPack`] before any event is given.
pub(super) fn each(
    blob: &[u8],
    first_id: i64,
    f: impl FnMut(i64, i64, [&[u8]; TEXT_COLUMNS]),
) -> Result<(), BadPack> {
    walk(blob, first_id, |_, _, _| {})?;
    walk(blob, first_id, f)
}

fn walk(
    blob: &[u8],
    first_id: i64,
    mut f: impl FnMut(i64, i64, [&[u8]; TEXT_COLUMNS]),
) -> Result<(), BadPack> {
    let (magic, rest) = blob.split_at_checked(4).ok_or(BadPack)?;
    if magic != MAGIC {
        return Err(BadPack);
    }
    let (count, mut rest) = rest.split_at_checked(4).ok_or(BadPack)?;
    let count = u32::from_le_bytes(count.try_into().map_err(|_| BadPack)?);
    let mut id = first_id;
    let mut at_ms = 0i64;
    for _ in 0..count {
        id = id.wrapping_add(get_signed(&mut rest)?);
        at_ms = at_ms.wrapping_add(get_signed(&mut rest)?);
        let mut lens = [0usize; TEXT_COLUMNS];
        for l in &mut lens {
            *l = usize::try_from(get_unsigned(&mut rest)?).map_err(|_| BadPack)?;
        }
        let mut cols: [&[u8]; TEXT_COLUMNS] = [&[]; TEXT_COLUMNS];
        for (c, &l) in cols.iter_mut().zip(&lens) {
            let (text, after) = rest.split_at_checked(l).ok_or(BadPack)?;
            *c = text;
            rest = after;
        }
        f(id, at_ms, cols);
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(BadPack)
    }
}

pub(super) fn get_unsigned(buf: &mut &[u8]) -> Result<u64, BadPack> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or(BadPack)?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(BadPack)
}

pub(super) fn get_signed(buf: &mut &[u8]) -> Result<i64, BadPack> {
    let v = get_unsigned(buf)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_gives_back_what_was_put_in_and_refuses_damage() {
        let events: Vec<(i64, i64, [Vec<u8>; TEXT_COLUMNS])> = vec![
            (
                7,
                1_672_531_200_000,
                std::array::from_fn(|i| format!("c{i}").into_bytes()),
            ),
            // Time going back, an id gap, empty and long and non-UTF-8 columns.
            (
                9,
                1_672_531_199_999,
                std::array::from_fn(|i| vec![0xff; i * 50]),
            ),
            (10, i64::MIN, std::array::from_fn(|_| Vec::new())),
            (
                i64::MAX,
                i64::MAX,
                std::array::from_fn(|i| vec![b'x'; 200 * i]),
            ),
        ];
        let mut blob = Vec::new();
        let mut w = Writer::new(&mut blob);
        for (id, at, cols) in &events {
            w.push(*id, *at, &std::array::from_fn(|i| cols[i].as_slice()));
        }
        w.finish();
        let mut got = Vec::new();
        each(&blob, 7, |id, at, cols| {
            got.push((id, at, cols.map(<[u8]>::to_vec)))
        })
        .unwrap();
        assert_eq!(got, events);
        // Cut short, one byte too many, a wrong magic: refused, never a panic.
        for bad in [
            &blob[..blob.len() - 1],
            &[blob.as_slice(), &[0]].concat(),
            b"ZQP2\0\0\0\0",
        ] {
            assert_eq!(each(bad, 7, |_, _, _| {}), Err(BadPack));
        }
        for n in 0..blob.len() {
            let mut given = 0;
            assert_eq!(each(&blob[..n], 7, |_, _, _| given += 1), Err(BadPack));
            assert_eq!(given, 0, "nothing given from a damaged pack");
        }
    }
}
