//! The storage operations every backend provides (SPEC 3.2, 3.3, 3.5, 3.12).
//!
//! These are exactly the operations the request protocol carries (SPEC 3.8),
//! so anything built on `Backend` runs unchanged in memory, through a
//! durable transport, or on disk. Backends validate their own arguments only
//! as far as storage needs; `Store` does the caller-facing checks first.
//!
//! The global log (SPEC 3.12): every record gets `pos`, 1, 2, 3, ... across
//! the store in commit order, a batch consecutive, never reused; a reader
//! that has seen `pos = p` never later finds a new record at or below `p`.
//! A backend may fix a record's pos only when the append returns (the
//! PostgreSQL backend fixes it just after commit), so callers never assume
//! a pos before the backend hands it back.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::source::Source;
use crate::value::RecordRef;
use crate::{Record, Result, Value};

/// One used event id and the record `append_once` appended for it. Kept
/// for the life of the store, also after that record is truncated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdEntry {
    /// The id given to `append_once`.
    pub id: String,
    /// The stream its record went to.
    pub stream: String,
    /// That record's seq.
    pub seq: u64,
}

/// Outcome of `append_expect`: the check and the append are one atomic step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Appended with this seq.
    Seq(u64),
    /// Nothing was appended: the stream was not at `expected`.
    Conflict {
        /// The last seq the caller expected.
        expected: u64,
        /// The stream's last seq.
        actual: u64,
    },
}

/// Every backend is `Send + Sync`, so one `Store` can serve a threaded
/// host's requests (a backend that holds a non-thread-safe client puts it
/// behind a `Mutex`). Methods take `&self`: each backend does its own
/// locking, and `append_expect` must be atomic across threads.
pub trait Backend: Send + Sync {
    /// Appends one event; returns its seq.
    fn append(&self, stream: &str, event: Value) -> Result<u64> {
        self.append_all(stream, vec![event])
    }
    /// Appends all events or none; returns the last seq (`last_seq` when empty).
    fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64>;
    /// Appends only when `last_seq(stream) == expected`, atomically.
    fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended>;
    /// Records with `seq > after`, oldest first, at most `limit`.
    fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<Record>>;
    /// Hands the records `read` would return to `f`, oldest first, until `f`
    /// returns `false`; returns how many were available (at most `limit`).
    /// Folds use it to convert each event straight from the backend's own
    /// form. Implementations must not hold a lock while `f` runs: `f` may
    /// call back into the store.
    fn scan(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        let records = self.read(stream, after, limit)?;
        Ok(hand(&records, f))
    }
    /// Appends `event` unless `id` was used before: returns the seq of the
    /// record appended for `id`, now or by an earlier call (whose record may
    /// since have been truncated). An id first used in another stream is an
    /// `Invalid` error naming both streams. Atomic: of racing calls with one
    /// id, exactly one appends.
    fn append_once(&self, stream: &str, id: &str, event: Value) -> Result<u64>;
    /// Records of every stream with `pos > after`, in pos order, at most
    /// `limit`.
    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Record>>;
    /// Like `read_all`, only streams whose `category_of` is `category`.
    fn read_category(&self, category: &str, after: u64, limit: usize) -> Result<Vec<Record>>;
    /// `scan` for any source; `after` and the order are seqs for a stream
    /// and positions otherwise. Same contract as `scan` (no lock held while
    /// `f` runs).
    fn scan_source(
        &self,
        source: &Source,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        let records = match source {
            Source::Stream(s) => return self.scan(s, after, limit, f),
            Source::Category(c) => self.read_category(c, after, limit)?,
            Source::All => self.read_all(after, limit)?,
        };
        Ok(hand(&records, f))
    }
    /// Highest pos ever given (0 for an empty store); truncation never
    /// lowers it.
    fn last_pos(&self) -> Result<u64>;
    /// Used ids greater than `after` (`""` for the first page), sorted, at
    /// most `limit`: how `migrate` and `export` page through them.
    fn ids(&self, after: &str, limit: usize) -> Result<Vec<IdEntry>>;
    /// Waits until a record with `pos > after` may exist or `timeout`
    /// passes; `Ok` either way (callers read to find out). Backends only
    /// this process can write return at once: their appends are seen
    /// without waiting.
    fn wait_for(&self, after: u64, timeout: Duration) -> Result<()> {
        let _ = (after, timeout);
        Ok(())
    }
    /// Highest seq ever appended; truncation never lowers it.
    fn last_seq(&self, stream: &str) -> Result<u64>;
    /// Drops records with seq <= `seq`; returns how many were dropped.
    fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64>;
    /// Sorted names of every stream ever appended to.
    fn streams(&self) -> Result<Vec<String>>;
    /// The value under `key`, if any.
    fn kv_get(&self, key: &str) -> Result<Option<Value>>;
    /// Stores `value` under `key`, replacing any.
    fn kv_put(&self, key: &str, value: Value) -> Result<()>;
    /// `true` if the key existed.
    fn kv_del(&self, key: &str) -> Result<bool>;
    /// Sorted keys starting with `prefix`.
    fn kv_keys(&self, prefix: &str) -> Result<Vec<String>>;
    /// Writes a stream's kept records with their original seq, pos, `at` and
    /// id, and its high-water mark, into a stream that was never appended
    /// to: what `migrate` and `persist import` need to copy a store exactly.
    /// Each record's pos must be unused; `last_pos` rises to the highest
    /// restored pos, and each record's id becomes used.
    fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()>;
    /// After every stream is restored: raises `last_pos` to `last_pos` and
    /// marks `ids` used (ids of truncated records too). An id already used
    /// for another record is an error; one used for the same record is not.
    fn restore_global(&self, last_pos: u64, ids: Vec<IdEntry>) -> Result<()>;
    /// Flushes and releases resources (locks, files). Later calls may fail.
    fn close(&self) -> Result<()> {
        Ok(())
    }
    /// What kind of storage this is and where, for a person: `mem`,
    /// `disk: /var/lib/shop`. Shown when a script prints a Store.
    fn describe(&self) -> String {
        "custom".into()
    }
}

/// Hands records to a scan callback until it says stop; returns how many
/// there were.
pub fn hand(records: &[Record], f: &mut dyn FnMut(RecordRef<'_>) -> bool) -> usize {
    for r in records {
        if !f(r.as_ref()) {
            break;
        }
    }
    records.len()
}

/// What `Backend::restore` accepts: a stream not yet appended to, and kept
/// records that are exactly `last_seq - n + 1 ..= last_seq` in order, with
/// positions above 0 and increasing. (Whether a pos is free, the backend
/// checks.)
pub fn check_restore(stream: &str, current: u64, last_seq: u64, records: &[Record]) -> Result<()> {
    let bad = |msg: String| {
        Err(crate::Error::invalid(
            "restore",
            format!("stream {stream:?}: {msg}"),
        ))
    };
    if current != 0 {
        return bad(format!("already holds records up to seq {current}"));
    }
    if last_seq > i64::MAX as u64 {
        return bad(format!("last seq {last_seq} is out of range"));
    }
    if records.len() as u64 > last_seq {
        return bad(format!(
            "{} records exceed last seq {last_seq}",
            records.len()
        ));
    }
    let first = last_seq + 1 - records.len() as u64;
    for (i, r) in records.iter().enumerate() {
        if r.seq != first + i as u64 {
            return bad(format!(
                "record {i} has seq {}, expected {}",
                r.seq,
                first + i as u64
            ));
        }
        if r.data.is_null() {
            return bad(format!(
                "record seq {} holds (), which is not an event",
                r.seq
            ));
        }
        let prev_pos = if i == 0 { 0 } else { records[i - 1].pos };
        if r.pos <= prev_pos {
            return bad(format!(
                "record seq {} has pos {}, expected above {prev_pos}",
                r.seq, r.pos
            ));
        }
        if r.id.as_deref() == Some("") {
            return bad(format!("record seq {} has an empty id", r.seq));
        }
    }
    Ok(())
}
