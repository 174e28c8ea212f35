//! The storage operations every backend provides (SPEC 3.2, 3.3, 3.5).
//!
//! These are exactly the operations the request protocol carries (SPEC 3.8),
//! so anything built on `Backend` runs unchanged in memory, through a
//! durable transport, or on disk. Backends validate their own arguments only
//! as far as storage needs; `Store` does the caller-facing checks first.

use crate::value::{DataRef, RecordRef};
use crate::{Record, Result, Value};

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
        for r in &records {
            let keep_going = f(RecordRef {
                stream,
                seq: r.seq,
                at: r.at,
                data: DataRef::Value(&r.data),
            });
            if !keep_going {
                break;
            }
        }
        Ok(records.len())
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
    /// Writes a stream's kept records with their original seq and `at`, and
    /// its high-water mark, into a stream that was never appended to: what
    /// `migrate` and `persist import` need to copy a store exactly.
    fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()>;
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

/// What `Backend::restore` accepts: a stream not yet appended to, and kept
/// records that are exactly `last_seq - n + 1 ..= last_seq` in order.
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
    }
    Ok(())
}
