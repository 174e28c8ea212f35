//! The `Backend` operations of `DiskLog`: each change is one batch, written
//! and fsync'd before the call returns; reads go to disk by position.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::append::Draft;
use super::batch::NewEvent;
use super::index::Pos;
use super::input::{check_frame, check_name, encode};
use super::read::{SegRef, for_each_event, parse_json, read_value};
use super::{DiskLog, Inner, batch, frame, index, manifest};
use crate::backend::{Appended, Backend, IdEntry, check_restore};
use crate::global::{Loc, Once};
use crate::value::{DataRef, RecordRef};
use crate::{Error, Record, Result, Source, Value};

/// `restore` writes its records in batches of about this many bytes.
const RESTORE_BATCH: usize = 16 << 20;

/// Records of one source located on disk: what each is, where it is, and
/// the segments to read them from.
struct Page {
    items: Vec<Loc>,
    /// Each item's id, if it has one.
    ids: Vec<Option<String>>,
    positions: Vec<Pos>,
    refs: BTreeMap<u64, SegRef>,
}

impl Page {
    fn records(&self) -> Result<Vec<Record>> {
        let mut out = Vec::with_capacity(self.positions.len());
        for_each_event(&self.positions, &self.refs, |at, json| {
            let i = out.len();
            let l = &self.items[i];
            out.push(Record {
                stream: l.stream.to_string(),
                seq: l.seq,
                pos: l.pos,
                at,
                id: self.ids[i].clone(),
                data: parse_json(&self.refs, self.positions[i], json)?,
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands each event's stored JSON to `f` without parsing it here: a
    /// script fold builds its own values straight from the text.
    fn hand(&self, f: &mut dyn FnMut(RecordRef<'_>) -> bool) -> Result<usize> {
        let (mut i, mut going) = (0, true);
        for_each_event(&self.positions, &self.refs, |at, json| {
            if going {
                let l = &self.items[i];
                going = f(RecordRef {
                    stream: &l.stream,
                    seq: l.seq,
                    pos: l.pos,
                    at,
                    id: self.ids[i].as_deref(),
                    data: DataRef::Json(json),
                });
                i += 1;
            }
            Ok(())
        })?;
        Ok(self.positions.len())
    }
}

/// The records of `stream` with `seq > after`, at most `limit`.
fn stream_locs(g: &Inner, stream: &str, after: u64, limit: usize) -> (Vec<Loc>, Vec<Pos>) {
    let Some(s) = g.index.streams.get(stream) else {
        return Default::default();
    };
    let start = after.saturating_add(1).max(s.first);
    if start > s.last || limit == 0 {
        return Default::default();
    }
    let n = (s.last - start + 1).min(limit as u64) as usize;
    let skip = (start - s.first) as usize;
    let name: Arc<str> = Arc::from(stream);
    let items = s
        .gpos
        .range(skip..skip + n)
        .enumerate()
        .map(|(i, &pos)| Loc {
            stream: name.clone(),
            seq: start + i as u64,
            pos,
        })
        .collect();
    (items, s.pos.range(skip..skip + n).copied().collect())
}

/// The id of each of these live records, if it has one.
fn ids_for(g: &Inner, items: &[Loc]) -> Vec<Option<String>> {
    if g.index.live_ids.is_empty() {
        return vec![None; items.len()];
    }
    // Looked up once per run of one stream's records.
    let mut stream: Option<(&Arc<str>, _)> = None;
    items
        .iter()
        .map(|l| {
            let id_of = match stream.take() {
                Some((s, id_of)) if Arc::ptr_eq(s, &l.stream) => id_of,
                _ => g.index.ids_of(&l.stream),
            };
            let id = id_of(l.seq).map(str::to_string);
            stream = Some((&l.stream, id_of));
            id
        })
        .collect()
}

/// Where each of these live records is on disk.
fn disk_positions(g: &Inner, items: &[Loc]) -> Result<Vec<Pos>> {
    items
        .iter()
        .map(|l| {
            let s = g.index.streams.get(&*l.stream);
            let i = s.and_then(|s| usize::try_from(l.seq.checked_sub(s.first)?).ok());
            s.zip(i)
                .and_then(|(s, i)| s.pos.get(i).copied())
                .ok_or_else(|| {
                    Error::invalid(
                        "read",
                        format!("stream {:?} seq {} is not indexed", l.stream, l.seq),
                    )
                })
        })
        .collect()
}

impl DiskLog {
    /// Where the records of `source` after `after` (at most `limit`) are,
    /// once they are durable. The store lock is released before returning,
    /// so reading them (and a scan's callback) runs unlocked.
    fn locate(&self, source: &Source, after: u64, limit: usize) -> Result<Page> {
        if let Source::Stream(stream) = source {
            check_name("read", "stream", stream)?;
        }
        let g = self.lock()?;
        let (items, positions) = match source {
            Source::Stream(stream) => stream_locs(&g, stream, after, limit),
            Source::Category(c) => {
                let items = g.index.global.page_category(c, after, limit);
                let positions = disk_positions(&g, &items)?;
                (items, positions)
            }
            Source::All => {
                let items = g.index.global.page_all(after, limit);
                let positions = disk_positions(&g, &items)?;
                (items, positions)
            }
        };
        let ids = ids_for(&g, &items);
        let refs = g.refs_for(&positions);
        drop(g);
        // Pos order is log order (but for restored streams): waiting for
        // the furthest record waits for all of them.
        if let Some(&p) = positions.iter().max() {
            self.durable(p)?;
        }
        Ok(Page {
            items,
            ids,
            positions,
            refs,
        })
    }
}

impl Backend for DiskLog {
    fn describe(&self) -> String {
        format!("disk: {}", self.dir.display())
    }

    fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64> {
        check_name("append_all", "stream", stream)?;
        let mut draft = Draft::new("append_all", stream, &events, None)?;
        let w = self.sync.writer();
        let g = self.lock()?;
        if draft.is_empty() {
            return Ok(g.index.last_seq(stream));
        }
        let (last, end) = self.write_draft(g, w, "append_all", stream, None, &mut draft)?;
        // Freed while a large batch's write-back runs, before its fdatasync.
        drop((events, draft));
        self.finish(end)?;
        Ok(last)
    }

    fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended> {
        check_name("append_expect", "stream", stream)?;
        let events = std::slice::from_ref(&event);
        let mut draft = Draft::new("append_expect", stream, events, None)?;
        let w = self.sync.writer();
        let g = self.lock()?;
        let actual = g.index.last_seq(stream);
        if actual != expected {
            return Ok(Appended::Conflict { expected, actual });
        }
        let (last, end) = self.write_draft(g, w, "append_expect", stream, None, &mut draft)?;
        self.finish(end)?;
        Ok(Appended::Seq(last))
    }

    fn append_once(&self, stream: &str, id: &str, event: Value) -> Result<u64> {
        check_name("append_once", "stream", stream)?;
        check_name("append_once", "id", id)?;
        let events = std::slice::from_ref(&event);
        let mut draft = Draft::new("append_once", stream, events, Some(id))?;
        let w = self.sync.writer();
        let g = self.lock()?;
        match g.index.global.check_once(stream, id) {
            Ok(Once::Appended(seq)) => {
                // The first call's batch may still be in its fsync: answer
                // once everything written so far is durable.
                let end = (g.active, g.active()?.len);
                drop((g, w));
                self.sync.wait(end, || self.lead_sync())?;
                Ok(seq)
            }
            Ok(Once::New(_)) => {
                let (last, end) =
                    self.write_draft(g, w, "append_once", stream, Some(id), &mut draft)?;
                self.finish(end)?;
                Ok(last)
            }
            Err(msg) => Err(Error::invalid("append_once", msg)),
        }
    }

    fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        self.locate(&Source::stream(stream), after, limit)?
            .records()
    }

    fn scan(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        self.locate(&Source::stream(stream), after, limit)?.hand(f)
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Record>> {
        self.locate(&Source::All, after, limit)?.records()
    }

    fn read_category(&self, category: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        self.locate(&Source::category(category), after, limit)?
            .records()
    }

    fn scan_source(
        &self,
        source: &Source,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        self.locate(source, after, limit)?.hand(f)
    }

    fn last_pos(&self) -> Result<u64> {
        Ok(self.lock()?.index.global.last_pos())
    }

    fn ids(&self, after: &str, limit: usize) -> Result<Vec<IdEntry>> {
        Ok(self.lock()?.index.global.ids_page(after, limit))
    }

    fn restore_global(&self, last_pos: u64, ids: Vec<IdEntry>) -> Result<()> {
        for e in &ids {
            check_name("restore_global", "id", &e.id)?;
            check_name("restore_global", "stream", &e.stream)?;
        }
        let mut g = self.lock()?;
        g.index
            .global
            .check_ids(&ids)
            .map_err(|msg| Error::invalid("restore_global", msg))?;
        let subject = || "the global log".to_string();
        let mut end = None;
        for chunk in batch::id_chunks(&ids, RESTORE_BATCH) {
            let mut fr = frame::begin();
            let items = chunk
                .iter()
                .map(|e| (e.id.as_str(), e.stream.as_str(), e.seq));
            batch::put_ids(&mut fr, items);
            check_frame("restore_global", &subject, &fr)?;
            end = Some(self.write(&mut g, &mut fr)?);
        }
        if last_pos > g.index.global.last_pos() {
            let mut fr = frame::begin();
            batch::put_last_pos(&mut fr, last_pos);
            end = Some(self.write(&mut g, &mut fr)?);
        }
        drop(g);
        if let Some(end) = end {
            self.sync.wait(end, || self.lead_sync())?;
        }
        Ok(())
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
        self.commit(g, None, &mut fr, "truncate_through", &|| {
            format!("stream {stream:?}")
        })?;
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
        self.commit(g, None, &mut fr, "kv_put", &subject)
    }

    fn kv_del(&self, key: &str) -> Result<bool> {
        check_name("kv_del", "key", key)?;
        let g = self.lock()?;
        if !g.index.kv.contains_key(key) {
            return Ok(false);
        }
        let mut fr = frame::begin();
        batch::put_kv_del(&mut fr, key);
        self.commit(g, None, &mut fr, "kv_del", &|| format!("key {key:?}"))?;
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
        for id in records.iter().filter_map(|r| r.id.as_deref()) {
            check_name("restore", "id", id)?;
        }
        let mut g = self.lock()?;
        check_restore(stream, g.index.last_seq(stream), last_seq, &records)?;
        g.index
            .global
            .check_restore(stream, &records)
            .map_err(|msg| Error::invalid("restore", msg))?;
        let subject = || format!("stream {stream:?}");
        let jsons: Vec<(&Record, Vec<u8>)> = records
            .iter()
            .map(|r| Ok((r, encode("restore", &subject, &r.data)?)))
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
            let events = piece.iter().map(|(r, json)| NewEvent {
                pos: r.pos,
                id: r.id.as_deref(),
                at: r.at,
                json,
            });
            batch::put_events(&mut fr, stream, seq, last, events);
            check_frame("restore", &subject, &fr)?;
            let end = self.write(&mut g, &mut fr)?;
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
        if self.read_only {
            if let Some(lock) = &self.lock {
                let _ = lock.unlock();
            }
            return Ok(());
        }
        let r = self.sync.check().and_then(|()| {
            if let Err(e) = self.trim_active(&mut g).and_then(|()| self.sync_active(&g)) {
                return self.fail(&mut g, e);
            }
            // The clean-close record: the active segment's whole length is
            // durable, so recovery refuses to lose any of it.
            manifest::write(&self.io, &self.dir, &self.manifest(&g))?;
            self.write_hint(&g)
        });
        if let Some(lock) = &self.lock {
            let _ = lock.unlock();
        }
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

    /// A store written before positions existed (version 1 events ops)
    /// opens with positions given in log order, the same with or without
    /// a hint and after compaction rewrote the records with them.
    #[test]
    fn version_1_records_get_positions_in_log_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = DiskLog::open(dir.path()).expect("open").0;
        for (stream, first, jsons) in [("old-1", 1, &[&b"1"[..], b"2"][..]), ("old-2", 1, &[b"3"])]
        {
            let mut g = log.lock().expect("lock");
            let mut fr = frame::begin();
            batch::put_events_v1(&mut fr, stream, first, jsons);
            let end = log.write(&mut g, &mut fr).expect("write");
            drop(g);
            log.sync.wait(end, || log.lead_sync()).expect("sync");
        }
        assert_eq!(log.append("new-1", 4.into()).expect("append"), 1);
        log.close().expect("close");
        let positions = |log: &DiskLog| -> Vec<(String, u64, u64)> {
            let all = log.read_all(0, usize::MAX).expect("read_all");
            all.into_iter().map(|r| (r.stream, r.seq, r.pos)).collect()
        };
        let want = vec![
            ("old-1".to_string(), 1, 1),
            ("old-1".to_string(), 2, 2),
            ("old-2".to_string(), 1, 3),
            ("new-1".to_string(), 1, 4),
        ];
        let log = DiskLog::open(dir.path()).expect("open with hint").0;
        assert_eq!(positions(&log), want);
        log.close().expect("close");
        std::fs::remove_file(dir.path().join(super::super::hint::FILE)).expect("rm hint");
        let log = DiskLog::open(dir.path()).expect("open without hint").0;
        assert_eq!(positions(&log), want);
        log.compact_segments().expect("compact");
        log.close().expect("close");
        let log = DiskLog::open(dir.path()).expect("open compacted").0;
        assert_eq!(positions(&log), want);
        assert_eq!(log.append("old-2", 5.into()).expect("append"), 2);
        assert_eq!(log.last_pos().expect("last_pos"), 5);
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
