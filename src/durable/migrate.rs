//! `migrate` (SPEC 3.1): copy a whole Store into an empty one, keeping
//! every record's seq, pos, `at` and id, every stream's last seq, the last
//! pos and every used event id, so folds, snapshots, `append_expect`,
//! `append_once` and global reads answer on the copy exactly as on the
//! original. Used to move a live subsystem from `mem` to durable storage.

use crate::limits::{check_kv, check_name, check_records};
use crate::store::{PAGE, Store};
use crate::{Error, Record, Result};

/// What `migrate` copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MigrateReport {
    /// Streams copied.
    pub streams: u64,
    /// Kept records copied (truncated ones are gone from `from` too).
    pub records: u64,
    /// Kv keys copied.
    pub keys: u64,
    /// Used event ids copied (those of truncated records too).
    pub ids: u64,
}

/// Copies every stream and kv key from `from` into `to`, which must be
/// empty (no stream, no key), else an error naming what is there and
/// nothing is written. Everything in `from` is first checked against the
/// store-wide limits (`crate::limits`), so a value `to` would refuse stops
/// the copy before it starts. Not atomic past that: if a write fails
/// midway `to` holds a partial copy, and the error names the stream or key.
///
/// Memory holds one stream's kept records at a time (read in pages of
/// `PAGE`), never the whole store; the check reads the source once more.
pub fn migrate(from: &Store, to: &Store) -> Result<MigrateReport> {
    check_empty("migrate", to)?;
    check_source(from).map_err(|e| match e {
        Error::Invalid { op, msg } => Error::invalid(op, format!("{msg}; nothing was copied")),
        other => other,
    })?;
    let source = from.backend()?;
    let mut report = MigrateReport::default();
    for stream in source.streams()? {
        // The high-water mark first: records appended meanwhile are past it
        // and left out, so the copy is a consistent prefix.
        let last_seq = source.last_seq(&stream)?;
        let records = read_through(from, &stream, last_seq)?;
        report.records += records.len() as u64;
        to.restore(&stream, last_seq, records)
            .map_err(|e| failed(&format!("stream {stream:?}"), e))?;
        report.streams += 1;
    }
    // After the records: at least every copied pos.
    let last_pos = source.last_pos()?;
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let page = source.ids(&after, PAGE)?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            after = last.id.clone();
        }
        ids.extend(page);
        if !full {
            break;
        }
    }
    report.ids = ids.len() as u64;
    to.restore_global(last_pos, ids)
        .map_err(|e| failed("the global log (last pos, ids)", e))?;
    for key in source.kv_keys("")? {
        // A key deleted since it was listed is simply not copied.
        if let Some(value) = source.kv_get(&key)? {
            to.kv_put(&key, value)
                .map_err(|e| failed(&format!("key {key:?}"), e))?;
            report.keys += 1;
        }
    }
    Ok(report)
}

/// Every stream, record and key of `from` within the store-wide limits.
fn check_source(from: &Store) -> Result<()> {
    let source = from.backend()?;
    for stream in source.streams()? {
        check_name("migrate", "stream", &stream)?;
        let last_seq = source.last_seq(&stream)?;
        check_records(
            "migrate",
            &stream,
            last_seq,
            &read_through(from, &stream, last_seq)?,
        )?;
    }
    for key in source.kv_keys("")? {
        check_name("migrate", "key", &key)?;
        if let Some(value) = source.kv_get(&key)? {
            check_kv("migrate", &key, &value)?;
        }
    }
    Ok(())
}

/// Errors unless `to` holds no stream and no key (`op` names the caller).
pub fn check_empty(op: &'static str, to: &Store) -> Result<()> {
    let b = to.backend()?;
    let what = match (b.streams()?.first(), b.kv_keys("")?.first()) {
        (Some(stream), _) => format!("stream {stream:?}"),
        (None, Some(key)) => format!("key {key:?}"),
        (None, None) => return Ok(()),
    };
    Err(Error::invalid(
        op,
        format!("the target store is not empty: it holds {what}"),
    ))
}

/// The kept records of `stream` with seq <= `last_seq`, page by page.
fn read_through(from: &Store, stream: &str, last_seq: u64) -> Result<Vec<Record>> {
    let b = from.backend()?;
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = b.read(stream, after, PAGE)?;
        let full = page.len() == PAGE;
        // Seqs in a page rise past `after`, so each full page makes progress.
        let Some(last) = page.last().map(|r| r.seq) else {
            return Ok(out);
        };
        after = last;
        out.extend(page.into_iter().take_while(|r| r.seq <= last_seq));
        if !full || last >= last_seq {
            return Ok(out);
        }
    }
}

fn failed(what: &str, e: Error) -> Error {
    Error::invalid("migrate", format!("copying {what} failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn copies_streams_with_seq_at_and_last_seq_and_every_key() {
        let from = Store::mem();
        for i in 0..(PAGE as u64 + 5) {
            from.append("big", json!(i)).unwrap();
        }
        from.append_all("t", vec![json!(1), json!(2), json!(3)])
            .unwrap();
        from.append_once("t", "gone", json!(4)).unwrap();
        from.truncate_through("t", 4).unwrap();
        from.append_once("big", "kept", json!(5)).unwrap();
        from.kv_put("snapshot/x", json!({"value": 1, "seq": 3}))
            .unwrap();
        let to = Store::mem();
        let report = migrate(&from, &to).unwrap();
        assert_eq!(
            report,
            MigrateReport {
                streams: 2,
                records: PAGE as u64 + 6,
                keys: 1,
                ids: 2,
            }
        );
        assert_eq!(
            to.read("big", 0, None).unwrap(),
            from.read("big", 0, None).unwrap()
        );
        assert_eq!(
            to.read_all(0, None).unwrap(),
            from.read_all(0, None).unwrap()
        );
        assert_eq!(to.last_pos().unwrap(), from.last_pos().unwrap());
        assert_eq!(to.append_once("t", "gone", json!(0)).unwrap(), 4);
        assert_eq!(
            to.append_once("big", "kept", json!(0)).unwrap(),
            PAGE as u64 + 6
        );
        assert_eq!(to.last_seq("t").unwrap(), 4);
        assert_eq!(to.read("t", 0, None).unwrap(), vec![]);
        assert_eq!(to.streams().unwrap(), from.streams().unwrap());
        assert_eq!(
            to.kv_get("snapshot/x").unwrap(),
            Some(json!({"value": 1, "seq": 3}))
        );
        assert_eq!(to.append("t", json!(4)).unwrap(), 5);
        assert_eq!(
            to.read("t", 0, None).unwrap()[0].pos,
            from.last_pos().unwrap() + 1
        );
    }

    #[test]
    fn a_non_empty_target_is_refused_and_untouched() {
        let from = Store::mem();
        from.append("s", json!(1)).unwrap();
        from.kv_put("k", json!(1)).unwrap();
        let to = Store::mem();
        to.kv_put("other", json!(2)).unwrap();
        let e = migrate(&from, &to).unwrap_err().to_string();
        assert_eq!(
            e,
            "migrate: the target store is not empty: it holds key \"other\""
        );
        assert_eq!(to.streams().unwrap(), Vec::<String>::new());
        assert_eq!(to.kv_keys("").unwrap(), vec!["other".to_string()]);
        let to = Store::mem();
        to.append("z", json!(1)).unwrap();
        let e = migrate(&from, &to).unwrap_err().to_string();
        assert!(e.ends_with("it holds stream \"z\""), "{e}");
        assert_eq!(to.kv_keys("").unwrap(), Vec::<String>::new());
    }
}
