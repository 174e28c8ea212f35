//! The `Backend` operations of `DiskLog`: each change is one batch, written
//! and fsync'd before the call returns; reads go to disk by position.

use std::collections::BTreeMap;

use super::index::Pos;
use super::input::{Encoded, check_frame, check_name, encode};
use super::read::{SegRef, for_each_event, parse_json, read_value};
use super::{DiskLog, batch, frame, index};
use crate::backend::{Appended, Backend, check_restore};
use crate::value::{DataRef, RecordRef};
use crate::{Error, Record, Result, Value};

/// `restore` writes its records in batches of about this many bytes.
const RESTORE_BATCH: usize = 16 << 20;

/// A run of one stream's records located on disk: the first seq, each
/// record's position, and the segments to read them from.
struct Page {
    start: u64,
    positions: Vec<Pos>,
    refs: BTreeMap<u64, SegRef>,
}

impl DiskLog {
    /// Where the records of `stream` after `after` (at most `limit`) are,
    /// once they are durable. The store lock is released before returning,
    /// so reading them (and a scan's callback) runs unlocked.
    fn locate(
        &self,
        op: &'static str,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Option<Page>> {
        check_name(op, "stream", stream)?;
        let g = self.lock()?;
        let Some(s) = g.index.streams.get(stream) else {
            return Ok(None);
        };
        let start = after.saturating_add(1).max(s.first);
        if start > s.last || limit == 0 {
            return Ok(None);
        }
        let n = (s.last - start + 1).min(limit as u64) as usize;
        let skip = (start - s.first) as usize;
        let positions: Vec<Pos> = s.pos.range(skip..skip + n).copied().collect();
        let refs = g.refs_for(&positions);
        drop(g);
        if let Some(&p) = positions.last() {
            self.durable(p)?;
        }
        Ok(Some(Page {
            start,
            positions,
            refs,
        }))
    }
}

impl Backend for DiskLog {
    fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64> {
        check_name("append_all", "stream", stream)?;
        let jsons = Encoded::new("append_all", stream, &events)?;
        drop(events);
        let g = self.lock()?;
        let first = g.index.last_seq(stream) + 1;
        let n = jsons.ends.len();
        if n == 0 {
            return Ok(first - 1);
        }
        let last = first + n as u64 - 1;
        let at = g.next_at();
        let size = batch::events_size(stream, jsons.bytes.len(), n);
        let mut fr = frame::begin_with(size);
        batch::put_events(&mut fr, stream, first, last, jsons.iter().map(|j| (at, j)));
        self.commit(g, fr, "append_all", &|| format!("stream {stream:?}"))?;
        Ok(last)
    }

    fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended> {
        check_name("append_expect", "stream", stream)?;
        let json = encode("append_expect", &|| format!("stream {stream:?}"), &event)?;
        let g = self.lock()?;
        let actual = g.index.last_seq(stream);
        if actual != expected {
            return Ok(Appended::Conflict { expected, actual });
        }
        let seq = actual + 1;
        let mut fr = frame::begin();
        batch::put_events(
            &mut fr,
            stream,
            seq,
            seq,
            [(g.next_at(), json.as_slice())].into_iter(),
        );
        self.commit(g, fr, "append_expect", &|| format!("stream {stream:?}"))?;
        Ok(Appended::Seq(seq))
    }

    fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        let Some(page) = self.locate("read", stream, after, limit)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(page.positions.len());
        for_each_event(&page.positions, &page.refs, |at, json| {
            let i = out.len();
            out.push(Record {
                stream: stream.to_string(),
                seq: page.start + i as u64,
                pos: 0,
                at,
                id: None,
                data: parse_json(&page.refs, page.positions[i], json)?,
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands each event's stored JSON to `f` without parsing it here: a
    /// script fold builds its own values straight from the text.
    fn scan(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        let Some(page) = self.locate("read", stream, after, limit)? else {
            return Ok(0);
        };
        let (mut seq, mut going) = (page.start, true);
        for_each_event(&page.positions, &page.refs, |at, json| {
            if going {
                going = f(RecordRef {
                    stream,
                    seq,
                    pos: 0,
                    at,
                    id: None,
                    data: DataRef::Json(json),
                });
                seq += 1;
            }
            Ok(())
        })?;
        Ok(page.positions.len())
    }

    fn last_seq(&self, stream: &str) -> Result<u64> {
        check_name("last_seq", "stream", stream)?;
        Ok(self.lock()?.index.last_seq(stream))
    }

    fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64> {
        check_name("truncate_through", "stream", stream)?;
        let g = self.lock()?;
        let n = g.index.would_drop(stream, seq);
        if n == 0 {
            return Ok(0);
        }
        let mut fr = frame::begin();
        batch::put_truncate(&mut fr, stream, seq);
        self.commit(g, fr, "truncate_through", &|| format!("stream {stream:?}"))?;
        Ok(n)
    }

    fn streams(&self) -> Result<Vec<String>> {
        Ok(self.lock()?.index.streams.keys().cloned().collect())
    }

    fn kv_get(&self, key: &str) -> Result<Option<Value>> {
        check_name("kv_get", "key", key)?;
        let g = self.lock()?;
        let Some(loc) = g.index.kv.get(key).copied() else {
            return Ok(None);
        };
        let refs = g.refs_for(&[loc.pos]);
        drop(g);
        self.durable(loc.pos)?;
        let s = refs
            .get(&index::seg_of(loc.pos))
            .ok_or_else(|| Error::invalid("kv_get", format!("key {key:?}: segment not open")))?;
        let json = read_value(s, loc.pos, loc.len)?;
        parse_json(&refs, loc.pos, &json).map(Some)
    }

    fn kv_put(&self, key: &str, value: Value) -> Result<()> {
        check_name("kv_put", "key", key)?;
        let subject = || format!("key {key:?}");
        let json = encode("kv_put", &subject, &value)?;
        let g = self.lock()?;
        let mut fr = frame::begin();
        batch::put_kv(&mut fr, key, &json);
        self.commit(g, fr, "kv_put", &subject)
    }

    fn kv_del(&self, key: &str) -> Result<bool> {
        check_name("kv_del", "key", key)?;
        let g = self.lock()?;
        if !g.index.kv.contains_key(key) {
            return Ok(false);
        }
        let mut fr = frame::begin();
        batch::put_kv_del(&mut fr, key);
        self.commit(g, fr, "kv_del", &|| format!("key {key:?}"))?;
        Ok(true)
    }

    fn kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let g = self.lock()?;
        Ok(g.index
            .kv
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    /// Written as one batch, or for very large streams as several batches
    /// fsync'd together: a crash in between can leave a prefix of the
    /// records restored.
    fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()> {
        check_name("restore", "stream", stream)?;
        if last_seq > i64::MAX as u64 {
            let msg = format!("stream {stream:?}: last seq {last_seq} is out of range");
            return Err(Error::invalid("restore", msg));
        }
        let mut g = self.lock()?;
        check_restore(stream, g.index.last_seq(stream), last_seq, &records)?;
        let subject = || format!("stream {stream:?}");
        let jsons: Vec<(i64, Vec<u8>)> = records
            .iter()
            .map(|r| Ok((r.at, encode("restore", &subject, &r.data)?)))
            .collect::<Result<_>>()?;
        let mut seq = last_seq + 1 - jsons.len() as u64;
        let mut rest = jsons.as_slice();
        let end = loop {
            let mut n = 0;
            let mut bytes = 0;
            while n < rest.len() && (n == 0 || bytes + rest[n].1.len() < RESTORE_BATCH) {
                bytes += rest[n].1.len();
                n += 1;
            }
            let (piece, tail) = rest.split_at(n);
            let last = if tail.is_empty() {
                last_seq
            } else {
                seq + n as u64 - 1
            };
            let mut fr = frame::begin();
            batch::put_events(
                &mut fr,
                stream,
                seq,
                last,
                piece.iter().map(|(at, j)| (*at, j.as_slice())),
            );
            check_frame("restore", &subject, &fr)?;
            let end = self.write(&mut g, fr)?;
            if tail.is_empty() {
                break end;
            }
            seq = last + 1;
            rest = tail;
        };
        drop(g);
        self.sync.wait(end, || self.lead_sync())?;
        self.maybe_compact();
        Ok(())
    }

    fn append_once(&self, _stream: &str, _id: &str, _event: Value) -> Result<u64> {
        Err(Error::invalid("append_once", "not yet on disk"))
    }

    fn read_all(&self, _after: u64, _limit: usize) -> Result<Vec<Record>> {
        Err(Error::invalid("read_all", "not yet on disk"))
    }

    fn read_category(&self, _category: &str, _after: u64, _limit: usize) -> Result<Vec<Record>> {
        Err(Error::invalid("read_category", "not yet on disk"))
    }

    fn last_pos(&self) -> Result<u64> {
        Err(Error::invalid("last_pos", "not yet on disk"))
    }

    fn ids(&self, _after: &str, _limit: usize) -> Result<Vec<crate::IdEntry>> {
        Err(Error::invalid("ids", "not yet on disk"))
    }

    fn restore_global(&self, _last_pos: u64, _ids: Vec<crate::IdEntry>) -> Result<()> {
        Err(Error::invalid("restore_global", "not yet on disk"))
    }

    /// Trims the active segment's free space, syncs, writes the hint and
    /// releases the lock. Later calls fail with `Closed`; closing twice is
    /// a no-op.
    fn close(&self) -> Result<()> {
        let _no_compaction = self.compacting.lock().unwrap_or_else(|e| e.into_inner());
        let mut g = self.guard();
        if g.closed {
            return Ok(());
        }
        g.closed = true;
        let r = self.sync.check().and_then(|()| {
            if let Err(e) = self.trim_active(&mut g).and_then(|()| self.sync_active(&g)) {
                return self.fail(&mut g, e);
            }
            self.write_hint(&g)
        });
        let _ = self.lock.unlock();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::{HEADER_LEN, Options};

    /// Records larger than a read run's slack, interleaved across streams
    /// and segments, read back whole from any starting point.
    #[test]
    fn large_interleaved_records_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            segment_bytes: 200 << 10,
            ..Options::default()
        };
        let log = DiskLog::open_with(dir.path(), opts).expect("open").0;
        let sizes = [10usize, 20_000, 100, 70_000, 5, 300_000, 1, 17_000];
        let val = |i: usize, n: usize| Value::String(format!("{i}:{}", "v".repeat(n)));
        for (i, &n) in sizes.iter().enumerate() {
            log.append("a", val(i, n)).expect("append");
            log.append_all("b", vec![val(i, n / 2), val(i, n)])
                .expect("append_all");
        }
        assert!(log.stats().segments > 2);
        for after in 0..sizes.len() as u64 {
            for limit in [1, 3, 100] {
                let got = log.read("a", after, limit).expect("read");
                let want: Vec<Value> = (after as usize..sizes.len().min(after as usize + limit))
                    .map(|i| val(i, sizes[i]))
                    .collect();
                assert_eq!(got.into_iter().map(|r| r.data).collect::<Vec<_>>(), want);
            }
        }
        let b = log.read("b", 0, usize::MAX).expect("read");
        assert_eq!(b.len(), 2 * sizes.len());
        assert_eq!(b[11].data, val(5, sizes[5]));
    }

    #[test]
    fn disk_log_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<DiskLog>();
    }

    #[test]
    fn bad_input_is_rejected_naming_the_stream_or_key_and_stores_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = DiskLog::open(dir.path()).expect("open").0;
        let invalid = |r: Result<u64>, what: &str| match r {
            Err(Error::Invalid { msg, .. }) => assert!(msg.contains(what), "{msg}"),
            other => panic!("expected Invalid naming {what}, got {other:?}"),
        };
        invalid(log.append("s", Value::Null), "\"s\"");
        invalid(log.append_all("s", vec![1.into(), Value::Null]), "\"s\"");
        invalid(log.append("", 1.into()), "stream");
        invalid(log.append(&"n".repeat(70_000), 1.into()), "stream");
        invalid(log.kv_put("k", Value::Null).map(|()| 0), "\"k\"");
        invalid(log.restore("r", u64::MAX, vec![]).map(|()| 0), "\"r\"");
        let r = Record {
            stream: "r".into(),
            seq: 2,
            pos: 1,
            at: 0,
            id: None,
            data: 1.into(),
        };
        invalid(log.restore("r", 3, vec![r]).map(|()| 0), "\"r\"");
        assert_eq!(log.streams().expect("streams"), Vec::<String>::new());
        assert_eq!(log.kv_keys("").expect("keys"), Vec::<String>::new());
        assert_eq!(log.stats().bytes, HEADER_LEN, "something was written");
    }
}
