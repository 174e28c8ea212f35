//! `persist inspect URL` and `persist verify URL`. Both only read: they
//! open the store with `open_existing` and never run the sequencer.

use std::io::Write;

use crate::pg::{Kind, PgBackend};
use crate::{Error, Result};

fn io_out(e: std::io::Error) -> Error {
    Error::io("<stdout>", "write", e)
}

/// Streams (first seq, last seq, records kept), kv keys, ids, the global
/// log's last pos and how many records await a position, bytes used.
pub fn inspect(url: &str, out: &mut dyn Write) -> Result<i32> {
    let b = PgBackend::open_existing(url)?;
    let (streams, totals) = b.with("inspect", "store", Kind::Read, |c| {
        let streams = c.client.query(
            "SELECT s.name, s.last_seq, coalesce(min(e.seq), s.last_seq + 1), count(e.seq)
             FROM persist_streams s LEFT JOIN persist_events e ON e.stream = s.name
             GROUP BY s.name, s.last_seq ORDER BY s.name",
            &[],
        )?;
        let totals = c.client.query_one(
            "SELECT (SELECT count(*) FROM persist_kv),
                    (SELECT count(*) FROM persist_ids),
                    (SELECT value FROM persist_meta WHERE key = 'last_pos'),
                    (SELECT count(*) FROM persist_events WHERE pos IS NULL),
                    (SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
                     WHERE c.relnamespace = current_schema()::regnamespace
                       AND c.relkind = 'r' AND c.relname LIKE 'persist\\_%')",
            &[],
        )?;
        Ok((streams, totals))
    })?;
    let w = |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(io_out);
    w(out, format!("store {}", b.url()))?;
    w(out, format!("streams: {}", streams.len()))?;
    let names: Vec<String> = streams.iter().map(|r| r.get(0)).collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for (r, name) in streams.iter().zip(&names) {
        let (last, first, kept): (i64, i64, i64) = (r.get(1), r.get(2), r.get(3));
        w(
            out,
            format!("  {name:<width$}  first seq {first:>8}  last seq {last:>8}  kept {kept:>8}"),
        )?;
    }
    let n = |i: usize| totals.get::<_, Option<i64>>(i).unwrap_or(0);
    w(out, format!("kv keys: {}", n(0)))?;
    w(out, format!("ids: {}", n(1)))?;
    w(
        out,
        format!(
            "global log: last pos {}, {} records awaiting a position",
            n(2),
            n(3)
        ),
    )?;
    w(out, format!("tables: {} bytes", n(4)))?;
    Ok(0)
}

/// The consistency checks: each one a query for rows breaking an
/// invariant of `schema`, at most `SHOWN` of them reported.
const CHECKS: &[(&str, &str)] = &[
    (
        "record outside its stream (no stream row, or seq not in 1..=last seq)",
        "SELECT e.stream, e.seq FROM persist_events e
         LEFT JOIN persist_streams s ON s.name = e.stream
         WHERE s.name IS NULL OR e.seq < 1 OR e.seq > s.last_seq
         ORDER BY 1, 2 LIMIT 20",
    ),
    (
        "record with a pos above the last pos given",
        "SELECT stream, seq FROM persist_events
         WHERE pos > (SELECT value FROM persist_meta WHERE key = 'last_pos')
         ORDER BY 1, 2 LIMIT 20",
    ),
    (
        "record whose id is not recorded for it",
        "SELECT e.stream, e.seq FROM persist_events e
         LEFT JOIN persist_ids i ON i.id = e.id
         WHERE e.id IS NOT NULL AND (i.id IS NULL OR i.stream <> e.stream OR i.seq <> e.seq)
         ORDER BY 1, 2 LIMIT 20",
    ),
];

/// Checks the store's invariants and that every stored event and kv value
/// is JSON; 1 with each fault named when something is wrong.
pub fn verify(url: &str, out: &mut dyn Write) -> Result<i32> {
    let b = PgBackend::open_existing(url)?;
    let mut faults = Vec::new();
    let mut records = 0u64;
    b.with("verify", "store", Kind::Read, |c| {
        for (what, sql) in CHECKS {
            for r in c.client.query(*sql, &[])? {
                let (stream, seq): (String, i64) = (r.get(0), r.get(1));
                faults.push(format!("stream {stream:?} seq {seq}: {what}"));
            }
        }
        // Every event, page by page in key order, must parse as JSON.
        let (mut stream, mut seq) = (String::new(), 0i64);
        loop {
            let rows = c.client.query(
                "SELECT stream, seq, data FROM persist_events WHERE (stream, seq) > ($1, $2)
                 ORDER BY stream, seq LIMIT 10000",
                &[&stream, &seq],
            )?;
            for r in &rows {
                let data: &str = r.get(2);
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(data) {
                    let s: &str = r.get(0);
                    faults.push(format!(
                        "stream {s:?} seq {}: event is not JSON: {e}",
                        r.get::<_, i64>(1)
                    ));
                }
            }
            records += rows.len() as u64;
            match rows.last() {
                Some(r) if rows.len() == 10000 => (stream, seq) = (r.get(0), r.get(1)),
                _ => break,
            }
        }
        for r in c.client.query("SELECT key, value FROM persist_kv", &[])? {
            let value: &str = r.get(1);
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(value) {
                faults.push(format!(
                    "key {:?}: value is not JSON: {e}",
                    r.get::<_, &str>(0)
                ));
            }
        }
        Ok(())
    })?;
    let w = |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(io_out);
    for f in &faults {
        w(out, format!("fault: {f}"))?;
    }
    let ok = faults.is_empty();
    w(
        out,
        format!(
            "{}: {} records checked, {} faults",
            if ok { "ok" } else { "DAMAGED" },
            records,
            faults.len()
        ),
    )?;
    Ok(if ok { 0 } else { 1 })
}
