//! `restore` and `restore_global`: what `migrate` and `persist import` use
//! to copy a store exactly, every record keeping its seq, pos, `at` and id.
//! Each call is one transaction: all of it lands or none.

use crate::backend::IdEntry;
use crate::pg::{Kind, PgBackend};
use crate::{Error, Record, Result};

/// Writes `records` (already checked by `check_restore`) and the stream's
/// high-water mark. A pos or id already in use fails the unique index and
/// the whole call rolls back.
pub fn restore(b: &PgBackend, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()> {
    let mut seqs = Vec::with_capacity(records.len());
    let mut poss = Vec::with_capacity(records.len());
    let mut ats = Vec::with_capacity(records.len());
    let mut ids = Vec::with_capacity(records.len());
    let mut datas = Vec::with_capacity(records.len());
    for r in &records {
        seqs.push(r.seq as i64);
        poss.push(i64::try_from(r.pos).map_err(|_| {
            Error::invalid(
                "restore",
                format!("stream {stream:?}: pos {} is out of range", r.pos),
            )
        })?);
        ats.push(r.at);
        ids.push(r.id.clone());
        datas.push(serde_json::to_string(&r.data).expect("a Value serialises"));
    }
    let top = poss.iter().copied().max().unwrap_or(0);
    if let Some(newest) = ats.iter().copied().max() {
        b.last_at
            .fetch_max(newest, std::sync::atomic::Ordering::Relaxed);
    }
    let last = last_seq as i64;
    b.with("restore", &format!("stream {stream:?}"), Kind::Write, |c| {
        let mut tx = c.client.transaction()?;
        tx.execute("INSERT INTO persist_streams VALUES ($1, $2)", &[&stream, &last])?;
        // The sequencer's lock: no numbering runs while positions are placed.
        tx.execute(
            "SELECT value FROM persist_meta WHERE key = 'last_pos' FOR UPDATE",
            &[],
        )?;
        tx.execute(
            "INSERT INTO persist_events (stream, seq, pos, at, id, data)
             SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[])",
            &[&stream, &seqs, &poss, &ats, &ids, &datas],
        )?;
        tx.execute(
            "INSERT INTO persist_ids SELECT u.id, $1, u.seq
             FROM unnest($2::text[], $3::bigint[]) AS u(id, seq) WHERE u.id IS NOT NULL",
            &[&stream, &ids, &seqs],
        )?;
        tx.execute(
            "UPDATE persist_meta SET value = greatest(value, $1) WHERE key = 'last_pos'",
            &[&top],
        )?;
        tx.commit()
    })
}

/// Raises `last_pos` and marks `ids` used; an id already used for another
/// record is an error and nothing changes.
pub fn restore_global(b: &PgBackend, last_pos: u64, entries: Vec<IdEntry>) -> Result<()> {
    let last_pos = i64::try_from(last_pos).map_err(|_| {
        Error::invalid(
            "restore_global",
            format!("last pos {last_pos} is out of range"),
        )
    })?;
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let streams: Vec<&str> = entries.iter().map(|e| e.stream.as_str()).collect();
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq as i64).collect();
    let clash = b.with("restore_global", "ids", Kind::Write, |c| {
        let mut tx = c.client.transaction()?;
        let unnest = "unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, stream, seq)";
        let clash = tx.query_opt(
            &format!(
                "SELECT u.id, i.stream, i.seq, u.stream, u.seq FROM {unnest}
                 JOIN persist_ids i ON i.id = u.id
                 WHERE i.stream <> u.stream OR i.seq <> u.seq LIMIT 1"
            ),
            &[&ids, &streams, &seqs],
        )?;
        if let Some(r) = clash {
            let (id, s, q, ns, nq): (String, String, i64, String, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            return Ok(Some(format!(
                "id {id:?} is already stream {s:?} seq {q}, not stream {ns:?} seq {nq}"
            )));
        }
        tx.execute(
            &format!("INSERT INTO persist_ids SELECT * FROM {unnest} ON CONFLICT DO NOTHING"),
            &[&ids, &streams, &seqs],
        )?;
        tx.execute(
            "UPDATE persist_meta SET value = greatest(value, $1) WHERE key = 'last_pos'",
            &[&last_pos],
        )?;
        tx.commit()?;
        Ok(None)
    })?;
    match clash {
        Some(msg) => Err(Error::invalid("restore_global", msg)),
        None => Ok(()),
    }
}
