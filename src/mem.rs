//! The memory backend: every operation under one mutex, so `append_expect`
//! is atomic and the backend can be shared across threads.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::{Appended, Backend};
use crate::value::{DataRef, RecordRef, now_millis};
use crate::{Record, Result, Value};

#[derive(Debug, Default)]
/// Streams and kv in memory, gone with the value.
pub struct MemBackend {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    streams: BTreeMap<String, Stream>,
    kv: BTreeMap<String, Value>,
    /// Last `at` handed out: keeps `at` non-decreasing if the clock steps back.
    last_at: i64,
}

/// Invariant: `events` holds seqs `last_seq - events.len() + 1 ..= last_seq`.
/// Events sit behind `Arc` so a scan copies a page out cheaply and runs its
/// callback with the lock released.
#[derive(Debug, Default)]
struct Stream {
    last_seq: u64,
    events: VecDeque<(i64, Arc<Value>)>,
}

impl Stream {
    fn first_kept(&self) -> u64 {
        self.last_seq + 1 - self.events.len() as u64
    }
}

impl MemBackend {
    /// An empty memory backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied batch:
        // every mutation below is a single push or pop sequence.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemBackend {
    /// `(seq, at, event)` of the records with `seq > after`, at most `limit`.
    fn page(&self, stream: &str, after: u64, limit: usize) -> Vec<(u64, i64, Arc<Value>)> {
        let g = self.lock();
        let Some(s) = g.streams.get(stream) else {
            return Vec::new();
        };
        let first = s.first_kept();
        let start = after.saturating_add(1).max(first);
        if start > s.last_seq {
            return Vec::new();
        }
        let skip = (start - first) as usize;
        s.events
            .range(skip..)
            .take(limit)
            .enumerate()
            .map(|(i, (at, data))| (start + i as u64, *at, data.clone()))
            .collect()
    }
}

impl Inner {
    fn next_at(&mut self) -> i64 {
        self.last_at = self.last_at.max(now_millis());
        self.last_at
    }

    fn push(&mut self, stream: &str, events: Vec<Value>) -> u64 {
        let at = self.next_at();
        let s = self.streams.entry(stream.to_string()).or_default();
        for e in events {
            s.events.push_back((at, Arc::new(e)));
            s.last_seq += 1;
        }
        s.last_seq
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
        Ok(g.push(stream, events))
    }

    fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended> {
        let mut g = self.lock();
        let actual = g.last_seq(stream);
        if actual != expected {
            return Ok(Appended::Conflict { expected, actual });
        }
        Ok(Appended::Seq(g.push(stream, vec![event])))
    }

    fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        Ok(self
            .page(stream, after, limit)
            .into_iter()
            .map(|(seq, at, data)| Record {
                stream: stream.to_string(),
                seq,
                at,
                data: Value::clone(&data),
            })
            .collect())
    }

    fn scan(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        let page = self.page(stream, after, limit);
        for (seq, at, data) in &page {
            let rec = RecordRef {
                stream,
                seq: *seq,
                at: *at,
                data: DataRef::Value(data),
            };
            if !f(rec) {
                break;
            }
        }
        Ok(page.len())
    }

    fn last_seq(&self, stream: &str) -> Result<u64> {
        Ok(self.lock().last_seq(stream))
    }

    fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64> {
        let mut g = self.lock();
        let Some(s) = g.streams.get_mut(stream) else {
            return Ok(0);
        };
        let first = s.first_kept();
        if seq < first {
            return Ok(0);
        }
        let n = ((seq - first + 1) as usize).min(s.events.len());
        s.events.drain(..n);
        Ok(n as u64)
    }

    fn streams(&self) -> Result<Vec<String>> {
        Ok(self.lock().streams.keys().cloned().collect())
    }

    fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()> {
        let mut g = self.lock();
        crate::backend::check_restore(stream, g.last_seq(stream), last_seq, &records)?;
        // Later appends must not get an `at` before the restored ones.
        let newest = records.iter().map(|r| r.at).max().unwrap_or(0);
        g.last_at = g.last_at.max(newest);
        let s = g.streams.entry(stream.to_string()).or_default();
        s.events = records
            .into_iter()
            .map(|r| (r.at, Arc::new(r.data)))
            .collect();
        s.last_seq = last_seq;
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
            at: 77,
            data: json!("x"),
        }];
        b.restore("s", 4, recs.clone()).unwrap();
        assert_eq!(b.read("s", 0, 10).unwrap(), recs);
        assert_eq!(b.append("s", json!(1)).unwrap(), 5);
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
