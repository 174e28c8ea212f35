//! `Store`: the caller-facing kernel API over any `Backend`.
//!
//! The log and kv operations live here; projections, concurrency, snapshots
//! and compaction add their methods from their own modules. Every method
//! validates its arguments before touching the backend, so bad input changes
//! nothing stored.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::backend::{Backend, IdEntry};
use crate::limits::{check_batch, check_event, check_ids, check_kv, check_name, check_records};
use crate::mem::MemBackend;
use crate::source::Source;
use crate::upcast::{UpcastWith, Upcasters};
use crate::{Error, Record, Result, Value};

/// How many records a fold or an unbounded read asks the backend for at a
/// time: memory stays flat however long the stream is.
pub const PAGE: usize = 1024;

/// The kernel's store: streams and kv over a backend, with projections,
/// concurrency, snapshots and compaction on top. `Send + Sync`.
pub struct Store {
    backend: Box<dyn Backend>,
    closed: AtomicBool,
    /// This handle's upcasters (SPEC 3.13): configuration, never stored.
    upcasters: Upcasters,
}

impl Store {
    /// A store over `backend`.
    pub fn new(backend: impl Backend + 'static) -> Self {
        Self::from_box(Box::new(backend))
    }

    /// A store over a boxed backend.
    pub fn from_box(backend: Box<dyn Backend>) -> Self {
        Store {
            backend,
            closed: AtomicBool::new(false),
            upcasters: Upcasters::default(),
        }
    }

    /// A store over a fresh memory backend.
    pub fn mem() -> Self {
        Self::new(MemBackend::new())
    }

    /// The backend, unless the store was closed.
    pub fn backend(&self) -> Result<&dyn Backend> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(&*self.backend)
    }

    /// Flushes and releases the backend; later calls fail with `Closed`.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.backend.close()
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Registers `f` to replace the `data` of every record of `source` this
    /// handle reads (`read`, folds, subscriptions, views), after the
    /// upcasters registered before it. `version` names `f`'s code: it joins
    /// the fingerprint of every fold over an overlapping source.
    pub fn upcast(
        &self,
        source: impl Into<Source>,
        version: &str,
        f: impl Into<UpcastWith>,
    ) -> Result<()> {
        let source = source.into();
        source.check("upcast")?;
        self.backend()?;
        self.upcasters.add(source, version, f.into());
        Ok(())
    }

    /// This handle's upcasters (SPEC 3.13), in registration order.
    pub fn upcasters(&self) -> &Upcasters {
        &self.upcasters
    }

    /// The backend's kind and place (`mem`, `disk: DIR`), `closed` once closed.
    pub fn describe(&self) -> String {
        match self.is_closed() {
            true => format!("{}, closed", self.backend.describe()),
            false => self.backend.describe(),
        }
    }

    /// Appends `event` (not null) to `stream`; returns its seq.
    pub fn append(&self, stream: &str, event: Value) -> Result<u64> {
        check_name("append", "stream", stream)?;
        check_event("append", stream, &event)?;
        self.backend()?.append(stream, event)
    }

    /// Appends every event or none; returns the last seq.
    pub fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64> {
        check_name("append_all", "stream", stream)?;
        check_batch("append_all", stream, &events)?;
        self.backend()?.append_all(stream, events)
    }

    /// Records with `seq > after`, oldest first; all of them when `limit` is
    /// `None` (fetched page by page).
    pub fn read(&self, stream: &str, after: u64, limit: Option<usize>) -> Result<Vec<Record>> {
        check_name("read", "stream", stream)?;
        self.read_source(&Source::stream(stream), after, limit)
    }

    /// Appends `event` unless `id` was used before; returns the seq of the
    /// record appended for `id` (SPEC 3.2).
    pub fn append_once(&self, stream: &str, id: &str, event: Value) -> Result<u64> {
        check_name("append_once", "stream", stream)?;
        if id.is_empty() {
            return Err(Error::invalid(
                "append_once",
                format!("stream {stream:?}: the id is empty"),
            ));
        }
        check_event("append_once", stream, &event)?;
        self.backend()?.append_once(stream, id, event)
    }

    /// Records of every stream with `pos > after`, in pos order; all of
    /// them when `limit` is `None`.
    pub fn read_all(&self, after: u64, limit: Option<usize>) -> Result<Vec<Record>> {
        self.read_source(&Source::All, after, limit)
    }

    /// Like `read_all`, only the streams of `category`.
    pub fn read_category(
        &self,
        category: &str,
        after: u64,
        limit: Option<usize>,
    ) -> Result<Vec<Record>> {
        check_name("read_category", "category", category)?;
        self.read_source(&Source::category(category), after, limit)
    }

    /// The records of any source past `after` (a seq for a stream, a pos
    /// otherwise), fetched page by page when `limit` is `None`.
    pub fn read_source(
        &self,
        source: &Source,
        after: u64,
        limit: Option<usize>,
    ) -> Result<Vec<Record>> {
        source.check("read")?;
        let b = self.backend()?;
        let page = |after, limit| match source {
            Source::Stream(s) => b.read(s, after, limit),
            Source::Category(c) => b.read_category(c, after, limit),
            Source::All => b.read_all(after, limit),
        };
        let chain = self.upcasters.chain();
        let upcast = |records: Vec<Record>| match &chain {
            None => Ok(records),
            Some(c) => records.into_iter().map(|r| c.apply_owned(r)).collect(),
        };
        if let Some(limit) = limit {
            return upcast(page(after, limit)?);
        }
        let mut out = Vec::new();
        let mut after = after;
        loop {
            let got = page(after, PAGE)?;
            let done = got.len() < PAGE;
            if let Some(last) = got.last() {
                after = source.position(last.seq, last.pos);
            }
            out.extend(upcast(got)?);
            if done {
                return Ok(out);
            }
        }
    }

    /// Highest pos ever given; 0 for an empty store.
    pub fn last_pos(&self) -> Result<u64> {
        self.backend()?.last_pos()
    }

    /// The highest seq ever appended to `stream` (0 if none).
    pub fn last_seq(&self, stream: &str) -> Result<u64> {
        check_name("last_seq", "stream", stream)?;
        self.backend()?.last_seq(stream)
    }

    /// Drops the records with seq <= `seq`; returns how many.
    pub fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64> {
        check_name("truncate_through", "stream", stream)?;
        self.backend()?.truncate_through(stream, seq)
    }

    /// The sorted names of every stream ever appended to.
    pub fn streams(&self) -> Result<Vec<String>> {
        self.backend()?.streams()
    }

    /// The value under `key`, if any.
    pub fn kv_get(&self, key: &str) -> Result<Option<Value>> {
        check_name("kv_get", "key", key)?;
        self.backend()?.kv_get(key)
    }

    /// Stores `value` (not null) under `key`.
    pub fn kv_put(&self, key: &str, value: Value) -> Result<()> {
        check_name("kv_put", "key", key)?;
        check_kv("kv_put", key, &value)?;
        self.backend()?.kv_put(key, value)
    }

    /// Removes `key`; `true` if it existed.
    pub fn kv_del(&self, key: &str) -> Result<bool> {
        check_name("kv_del", "key", key)?;
        self.backend()?.kv_del(key)
    }

    /// The sorted keys starting with `prefix`.
    pub fn kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.backend()?.kv_keys(prefix)
    }

    /// Writes a stream's kept records with their original seq and `at` into
    /// a stream never appended to (`Backend::restore`): what `migrate` and
    /// `persist import` copy with.
    pub fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()> {
        check_name("restore", "stream", stream)?;
        check_records("restore", stream, last_seq, &records)?;
        self.backend()?.restore(stream, last_seq, records)
    }

    /// Sets the last pos and the used event ids of an empty store
    /// (`Backend::restore_global`), after its streams were restored: what
    /// `migrate` and `persist import` finish with.
    pub fn restore_global(&self, last_pos: u64, ids: Vec<IdEntry>) -> Result<()> {
        check_ids("restore_global", last_pos, &ids)?;
        self.backend()?.restore_global(last_pos, ids)
    }
}
