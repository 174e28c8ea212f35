//! The memory backend: every operation under one mutex, so `append_expect`
//! is atomic and the backend can be shared across threads.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::{Appended, Backend, IdEntry, check_restore};
use crate::global::{GlobalLog, Loc, Once};
use crate::ids::IdHash;
use crate::value::{DataRef, RecordRef, now_millis};
use crate::{Error, Record, Result, Value};

#[derive(Debug, Default)]
/// Streams and kv in memory, gone with the value.
pub struct MemBackend {
    inner: Mutex<Inner>,
}

/// Each `Event` holds its own id; `global` knows which ids are used.
#[derive(Debug, Default)]
struct Inner {
    streams: BTreeMap<String, Stream>,
    kv: BTreeMap<String, Value>,
    global: GlobalLog,
    /// Last `at` handed out: keeps `at` non-decreasing if the clock steps back.
    last_at: i64,
}

/// A kept record. Fields sit behind `Arc` so a scan copies a page out
/// cheaply and runs its callback with the lock released.
#[derive(Debug, Clone)]
struct Event {
    pos: u64,
    at: i64,
    id: Option<Arc<str>>,
    data: Arc<Value>,
}

/// Invariant: `events` holds seqs `last_seq - events.len() + 1 ..= last_seq`,
/// their positions increasing.
#[derive(Debug, Default)]
struct Stream {
    last_seq: u64,
    events: VecDeque<Event>,
}

impl Stream {
    fn first_kept(&self) -> u64 {
        self.last_seq + 1 - self.events.len() as u64
    }

    fn get(&self, seq: u64) -> Option<&Event> {
        let i = seq.checked_sub(self.first_kept())?;
        self.events.get(usize::try_from(i).ok()?)
    }
}

/// A record copied out of the store for a scan.
type Copied = (Arc<str>, u64, Event);

impl MemBackend {
    /// An empty memory backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied batch:
        // every mutation below completes before anything that can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `(seq, event)` of the records with `seq > after`, at most `limit`.
    fn page(&self, stream: &str, after: u64, limit: usize) -> Vec<Copied> {
        let g = self.lock();
        let Some(s) = g.streams.get(stream) else {
            return Vec::new();
        };
        let first = s.first_kept();
        let start = after.saturating_add(1).max(first);
        if start > s.last_seq {
            return Vec::new();
        }
        let name: Arc<str> = Arc::from(stream);
        let skip = (start - first) as usize;
        s.events
            .range(skip..)
            .take(limit)
            .enumerate()
            .map(|(i, e)| (name.clone(), start + i as u64, e.clone()))
            .collect()
    }

    /// The records at these global locations.
    fn copy(g: &Inner, locs: Vec<Loc>) -> Vec<Copied> {
        locs.into_iter()
            .filter_map(|l| {
                let e = g.streams.get(&*l.stream)?.get(l.seq)?.clone();
                Some((l.stream, l.seq, e))
            })
            .collect()
    }
}

fn to_record((stream, seq, e): &Copied) -> Record {
    Record {
        stream: stream.to_string(),
        seq: *seq,
        pos: e.pos,
        at: e.at,
        id: e.id.as_deref().map(str::to_string),
        data: Value::clone(&e.data),
    }
}

fn hand(page: &[Copied], f: &mut dyn FnMut(RecordRef<'_>) -> bool) -> usize {
    for (stream, seq, e) in page {
        let rec = RecordRef {
            stream,
            seq: *seq,
            pos: e.pos,
            at: e.at,
            id: e.id.as_deref(),
            data: DataRef::Value(&e.data),
        };
        if !f(rec) {
            break;
        }
    }
    page.len()
}

impl Inner {
    fn next_at(&mut self) -> i64 {
        self.last_at = self.last_at.max(now_millis());
        self.last_at
    }

    /// Appends a batch: consecutive seqs and positions, one `at`; refuses
    /// (storing nothing) a batch that would pass the largest seq or pos.
    fn push(
        &mut self,
        op: &'static str,
        stream: &str,
        events: Vec<Value>,
        id: Option<(&str, IdHash)>,
    ) -> Result<u64> {
        crate::limits::next_seq(op, stream, self.last_seq(stream), events.len())?;
        crate::limits::next_pos(op, stream, self.global.last_pos(), events.len())?;
        let at = self.next_at();
        let s = self.streams.entry(stream.to_string()).or_default();
        for e in events {
            s.last_seq += 1;
            let pos = self.global.next_pos();
            // The caller checked the id with `check_once`.
            self.global.insert_new(stream, s.last_seq, pos, id);
            s.events.push_back(Event {
                pos,
                at,
                id: id.map(|(id, _)| Arc::from(id)),
                data: Arc::new(e),
            });
        }
        Ok(s.last_seq)
    }

    fn last_seq(&self, stream: &str) -> u64 {
        self.streams.get(stream).map_or(0, |s| s.last_seq)
    }
}

impl Backend for MemBackend {
    fn describe(&self) -> String {
        "mem".into()
    }

    fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64> {
        let mut g = self.lock();
        if events.is_empty() {
            return Ok(g.last_seq(stream));
        }
        g.push("append", stream, events, None)
    }

    fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended> {
        let mut g = self.lock();
        let actual = g.last_seq(stream);
        if actual != expected {
            return Ok(Appended::Conflict { expected, actual });
        }
        g.push("append_expect", stream, vec![event], None)
            .map(Appended::Seq)
    }

    fn append_once(&self, stream: &str, id: &str, event: Value) -> Result<u64> {
        let mut g = self.lock();
        match g.global.check_once(stream, id) {
            Ok(Once::Appended(seq)) => Ok(seq),
            Ok(Once::New(hash)) => g.push("append_once", stream, vec![event], Some((id, hash))),
            Err(msg) => Err(Error::invalid("append_once", msg)),
        }
    }

    fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        Ok(self
            .page(stream, after, limit)
            .iter()
            .map(to_record)
            .collect())
    }

    fn scan(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        Ok(hand(&self.page(stream, after, limit), f))
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Record>> {
        let g = self.lock();
        let page = Self::copy(&g, g.global.page_all(after, limit));
        Ok(page.iter().map(to_record).collect())
    }

    fn read_category(&self, category: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        let g = self.lock();
        let page = Self::copy(&g, g.global.page_category(category, after, limit));
        Ok(page.iter().map(to_record).collect())
    }

    fn scan_source(
        &self,
        source: &crate::Source,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        use crate::Source;
        let page = match source {
            Source::Stream(s) => self.page(s, after, limit),
            Source::Category(c) => {
                let g = self.lock();
                Self::copy(&g, g.global.page_category(c, after, limit))
            }
            Source::All => {
                let g = self.lock();
                Self::copy(&g, g.global.page_all(after, limit))
            }
        };
        Ok(hand(&page, f))
    }

    fn last_pos(&self) -> Result<u64> {
        Ok(self.lock().global.last_pos())
    }

    fn ids(&self, after: &str, limit: usize) -> Result<Vec<IdEntry>> {
        Ok(self.lock().global.ids_page(after, limit))
    }

    fn last_seq(&self, stream: &str) -> Result<u64> {
        Ok(self.lock().last_seq(stream))
    }

    fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64> {
        let g = &mut *self.lock();
        let Some(s) = g.streams.get_mut(stream) else {
            return Ok(0);
        };
        let first = s.first_kept();
        if seq < first {
            return Ok(0);
        }
        let n = ((seq - first + 1) as usize).min(s.events.len());
        for e in s.events.drain(..n) {
            g.global.remove(e.pos);
        }
        Ok(n as u64)
    }

    fn streams(&self) -> Result<Vec<String>> {
        Ok(self.lock().streams.keys().cloned().collect())
    }

    fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()> {
        let mut g = self.lock();
        check_restore(stream, g.last_seq(stream), last_seq, &records)?;
        // Check every pos and id before changing anything.
        let mut trial = GlobalLog::default();
        for r in &records {
            let taken = g.global.check_free(r.pos).err();
            let clash = r.id.as_deref().and_then(|id| match g.global.id(id) {
                Some((s, q)) => Some(format!("id {id:?} is already stream {s:?} seq {q}")),
                None => trial.add_id(id, stream, r.seq).err(),
            });
            if let Some(msg) = taken.or(clash) {
                return Err(Error::invalid(
                    "restore",
                    format!("stream {stream:?}: {msg}"),
                ));
            }
        }
        // Later appends must not get an `at` before the restored ones.
        let newest = records.iter().map(|r| r.at).max().unwrap_or(0);
        g.last_at = g.last_at.max(newest);
        let Inner {
            streams, global, ..
        } = &mut *g;
        let s = streams.entry(stream.to_string()).or_default();
        for r in records {
            // Checked above.
            let _ = global.insert(stream, r.seq, r.pos, r.id.as_deref());
            s.events.push_back(Event {
                pos: r.pos,
                at: r.at,
                id: r.id.map(Arc::from),
                data: Arc::new(r.data),
            });
        }
        s.last_seq = last_seq;
        Ok(())
    }

    fn restore_global(&self, last_pos: u64, ids: Vec<IdEntry>) -> Result<()> {
        let mut g = self.lock();
        g.global
            .check_ids(&ids)
            .map_err(|msg| Error::invalid("restore_global", msg))?;
        for e in ids {
            // Checked above.
            let _ = g.global.add_id(&e.id, &e.stream, e.seq);
        }
        g.global.raise_last_pos(last_pos);
        Ok(())
    }

    fn kv_get(&self, key: &str) -> Result<Option<Value>> {
        Ok(self.lock().kv.get(key).cloned())
    }

    fn kv_put(&self, key: &str, value: Value) -> Result<()> {
        self.lock().kv.insert(key.to_string(), value);
        Ok(())
    }

    fn kv_del(&self, key: &str) -> Result<bool> {
        Ok(self.lock().kv.remove(key).is_some())
    }

    fn kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let g = self.lock();
        Ok(g.kv
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seqs(r: &[Record]) -> Vec<u64> {
        r.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn read_respects_after_and_limit() {
        let b = MemBackend::new();
        b.append_all("s", (1..=5).map(|i| json!(i)).collect())
            .unwrap();
        assert_eq!(seqs(&b.read("s", 0, 10).unwrap()), [1, 2, 3, 4, 5]);
        assert_eq!(seqs(&b.read("s", 2, 2).unwrap()), [3, 4]);
        assert_eq!(seqs(&b.read("s", 5, 10).unwrap()), Vec::<u64>::new());
        assert_eq!(seqs(&b.read("s", 1, 0).unwrap()), Vec::<u64>::new());
        assert!(b.read("missing", 0, 10).unwrap().is_empty());
    }

    #[test]
    fn truncation_keeps_the_high_water_mark() {
        let b = MemBackend::new();
        b.append_all("s", (1..=5).map(|i| json!(i)).collect())
            .unwrap();
        assert_eq!(b.truncate_through("s", 3).unwrap(), 3);
        assert_eq!(b.truncate_through("s", 3).unwrap(), 0);
        assert_eq!(seqs(&b.read("s", 0, 10).unwrap()), [4, 5]);
        assert_eq!(b.truncate_through("s", 99).unwrap(), 2);
        assert_eq!(b.last_seq("s").unwrap(), 5);
        assert_eq!(b.append("s", json!(6)).unwrap(), 6);
        assert_eq!(seqs(&b.read("s", 0, 10).unwrap()), [6]);
    }

    #[test]
    fn exactly_one_of_many_concurrent_expectations_wins() {
        let b = std::sync::Arc::new(MemBackend::new());
        let wins: usize = std::thread::scope(|t| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let b = b.clone();
                    t.spawn(move || b.append_expect("s", 0, json!(i)).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| matches!(h.join().unwrap(), Appended::Seq(1)) as usize)
                .sum()
        });
        assert_eq!(wins, 1);
        assert_eq!(b.last_seq("s").unwrap(), 1);
    }

    #[test]
    fn restore_preserves_seq_and_at_and_refuses_a_used_stream() {
        let b = MemBackend::new();
        let recs = vec![Record {
            stream: "s".into(),
            seq: 4,
            pos: 9,
            at: 77,
            id: Some("k".into()),
            data: json!("x"),
        }];
        b.restore("s", 4, recs.clone()).unwrap();
        assert_eq!(b.read("s", 0, 10).unwrap(), recs);
        assert_eq!(b.last_pos().unwrap(), 9);
        assert_eq!(b.append_once("s", "k", json!(2)).unwrap(), 4);
        assert_eq!(b.append("s", json!(1)).unwrap(), 5);
        assert_eq!(b.read_all(9, 10).unwrap()[0].pos, 10);
        assert!(b.restore("s", 9, vec![]).is_err());
    }

    #[test]
    fn kv_keys_are_sorted_and_prefix_bounded() {
        let b = MemBackend::new();
        for k in ["b/2", "a", "b/1", "c"] {
            b.kv_put(k, json!(1)).unwrap();
        }
        assert_eq!(b.kv_keys("b/").unwrap(), ["b/1", "b/2"]);
        assert_eq!(b.kv_keys("").unwrap(), ["a", "b/1", "b/2", "c"]);
        assert!(b.kv_del("a").unwrap());
        assert!(!b.kv_del("a").unwrap());
    }
}
