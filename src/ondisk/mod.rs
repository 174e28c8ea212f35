//! The on-disk backend (SPEC 5, `STORAGE.md`): an append-only log of
//! checksummed batches in segment files, an in-memory index of where each
//! live record is, a hint file to reopen fast, and segment compaction.
//!
//! Module map: `frame` (batch framing, CRC32C), `batch` (ops in a batch),
//! `segment` (files, headers, scanning), `index` (in-memory positions),
//! `read` (preads by position), `commit` (group commit, poison), `hint`
//! (index checkpoint), `compact` (rewrite live records), `recover` (open),
//! `verify` (read-only check), `fault` (I/O with a test hook), `json`
//! (value encoding).
//!
//! Directory: `000000000001.log` ... (segments), `hint`, `LOCK`, and during
//! compaction `<id>.compact` temps and the `compact` commit marker.
//!
//! Choices the spec leaves open:
//! - Every call that changes anything is one batch, fsync'd before it
//!   returns; concurrent callers share fsyncs (group commit).
//! - Reads return only durable records: a read racing the fsync of the
//!   records it asks for waits for it. `last_seq`, `streams` and `kv_keys`
//!   already count a batch whose fsync is in flight (what `append_expect`
//!   must see); if that fsync fails the store is poisoned.
//! - A torn tail is told from damage by the `synced` field of later frames;
//!   a damaged *last* batch of the last segment is indistinguishable from a
//!   torn write and is cut (it was never acknowledged, or the disk lost
//!   data that no later frame vouches for).
//! - With a valid hint, open still checks every frame's checksum
//!   (`Options::checksum_on_open`); if one fails, the hint is set aside and
//!   the log alone decides (torn tail or corruption), so the outcome never
//!   depends on the hint. Every record also carries its own checksum,
//!   checked on each read.
//! - Compaction rewrites all live data (the whole log before a fresh
//!   active segment), automatically once estimated dead bytes reach
//!   `Options::compact_dead_bytes` and half of the log; the writer whose
//!   call crosses the threshold runs it, other callers are blocked only
//!   while it starts and while it swaps the new segments in.
//! - After a failed write or fsync, batches past the last successful fsync
//!   are cut from the file (best effort, never fsync'd), so a reopen shows
//!   exactly what was acknowledged unless the disk itself lost data.

mod batch;
mod codec;
mod commit;
mod compact;
mod fault;
mod frame;
mod hint;
mod index;
mod json;
mod read;
mod recover;
mod segment;
mod verify;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::{Appended, Backend, check_restore};
use crate::value::now_millis;
use crate::{Error, Record, Result, Value};

use commit::{Mark, Syncer};
use fault::Io;
use hint::SegMeta;
use index::{Index, MAX_OFFSET, MAX_SEGMENT_ID, Pos, pack};
use read::{SegRef, for_each_event, parse_json, read_value};
use recover::Seg;
use segment::HEADER_LEN;

pub use fault::{FaultHook, IoPoint, fail_nth};
pub use recover::{OpenReport, TornTail};
pub use verify::{Fault, HintCheck, VerifyReport, verify};

/// The file whose exclusive lock marks the store as in use (rule 8).
const LOCK_FILE: &str = "LOCK";
/// Largest encoded event or kv value.
const MAX_VALUE: usize = frame::MAX_PAYLOAD as usize - (1 << 20);
/// `restore` writes its records in batches of about this many bytes.
const RESTORE_BATCH: usize = 16 << 20;

/// Tuning and test hooks for `DiskLog::open_with`.
#[derive(Clone)]
pub struct Options {
    /// A segment is rolled once the next batch would take it past this.
    pub segment_bytes: u64,
    /// Compact automatically once this many bytes are estimated dead and
    /// they are at least half of the log; `None` compacts only on request.
    pub compact_dead_bytes: Option<u64>,
    /// Fault injection: called before every write and fsync.
    pub faults: Option<FaultHook>,
    /// Check every frame's checksum on open, also where a valid hint makes
    /// scanning unnecessary, so damage anywhere stops the open (SPEC 5).
    /// Costs one sequential read of the log; with `false` a hinted reopen
    /// reads only the hint and the log written after it.
    pub checksum_on_open: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_bytes: 64 << 20,
            compact_dead_bytes: Some(64 << 20),
            faults: None,
            checksum_on_open: true,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("segment_bytes", &self.segment_bytes)
            .field("compact_dead_bytes", &self.compact_dead_bytes)
            .field("faults", &self.faults.as_ref().map(|_| "hook"))
            .field("checksum_on_open", &self.checksum_on_open)
            .finish()
    }
}

/// One stream as `persist inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    pub name: String,
    /// First retained seq; `last_seq + 1` when nothing is kept.
    pub first_seq: u64,
    pub last_seq: u64,
    pub kept: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub streams: Vec<StreamStats>,
    pub kv_keys: usize,
    pub segments: usize,
    /// Bytes in segment files.
    pub bytes: u64,
    /// Estimated bytes held by truncated records and overwritten values.
    pub dead_bytes: u64,
}

/// What `compact_segments` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// The on-disk backend. `Send + Sync`: every method takes `&self`, and
/// concurrent writers share fsyncs (group commit).
pub struct DiskLog {
    dir: PathBuf,
    segment_bytes: u64,
    compact_dead_bytes: Option<u64>,
    io: Io,
    inner: Mutex<Inner>,
    sync: Syncer,
    /// Held locked from open to close (rule 8).
    lock: File,
    /// Held while a compaction runs: one at a time, and `close` waits.
    compacting: Mutex<()>,
    report: OpenReport,
}

/// Invariant: `segs` holds `active`, the only segment written to, and it
/// has the highest id.
struct Inner {
    index: Index,
    segs: BTreeMap<u64, Seg>,
    active: u64,
    closed: bool,
}

impl Inner {
    fn active(&self) -> Result<SegRef> {
        self.segs
            .get(&self.active)
            .map(|s| s.r.clone())
            .ok_or_else(|| {
                Error::invalid("write", format!("active segment {} missing", self.active))
            })
    }

    fn refs(&self) -> BTreeMap<u64, SegRef> {
        self.segs.iter().map(|(id, s)| (*id, s.r.clone())).collect()
    }

    /// The segments holding `positions` (given in log order).
    fn refs_for(&self, positions: &[Pos]) -> BTreeMap<u64, SegRef> {
        let mut out = BTreeMap::new();
        for &p in positions {
            let id = index::seg_of(p);
            if out.last_key_value().is_none_or(|(&last, _)| last != id)
                && let Some(s) = self.segs.get(&id)
            {
                out.insert(id, s.r.clone());
            }
        }
        out
    }

    fn bytes(&self) -> u64 {
        self.segs.values().map(|s| s.r.len).sum()
    }

    fn dead_bytes(&self) -> u64 {
        let dead = |(id, s): (&u64, &Seg)| self.index.dead_bytes(*id, s.r.len, HEADER_LEN);
        self.segs.iter().map(dead).sum()
    }

    /// `at` for a new batch: the clock, but never below an earlier `at`.
    fn next_at(&self) -> i64 {
        self.index.last_at.max(now_millis())
    }
}

fn check_name(op: &'static str, what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(op, format!("{what} name is empty")));
    }
    if name.len() > u16::MAX as usize {
        let head: String = name.chars().take(40).collect();
        return Err(Error::invalid(
            op,
            format!(
                "{what} {head:?}... is {} bytes, over the 65535-byte limit",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// Appends the stored JSON of `v` to `buf`; `subject` names the stream or
/// key for the error.
fn encode_into(
    op: &'static str,
    subject: &dyn Fn() -> String,
    v: &Value,
    buf: &mut Vec<u8>,
) -> Result<()> {
    if v.is_null() {
        return Err(Error::invalid(
            op,
            format!("{}: () cannot be stored", subject()),
        ));
    }
    let start = buf.len();
    json::write(buf, v);
    let len = buf.len() - start;
    if len > MAX_VALUE {
        let msg = format!("{}: value of {len} bytes exceeds {MAX_VALUE}", subject());
        return Err(Error::invalid(op, msg));
    }
    Ok(())
}

fn encode(op: &'static str, subject: &dyn Fn() -> String, v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    encode_into(op, subject, v, &mut buf)?;
    Ok(buf)
}

/// Events encoded back to back: one allocation for a whole batch.
struct Encoded {
    bytes: Vec<u8>,
    /// Where each event's JSON ends in `bytes`; the next one starts there.
    ends: Vec<usize>,
}

impl Encoded {
    fn new(op: &'static str, stream: &str, events: &[Value]) -> Result<Self> {
        let subject = || format!("stream {stream:?}");
        let mut e = Encoded {
            bytes: Vec::with_capacity(events.len() * 64),
            ends: Vec::with_capacity(events.len()),
        };
        for v in events {
            encode_into(op, &subject, v, &mut e.bytes)?;
            e.ends.push(e.bytes.len());
        }
        Ok(e)
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.ends.len()).map(|i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.bytes[start..self.ends[i]]
        })
    }
}

impl DiskLog {
    /// Opens (creating if missing) the store in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<(DiskLog, OpenReport)> {
        Self::open_with(dir, Options::default())
    }

    pub fn open_with(dir: impl AsRef<Path>, opts: Options) -> Result<(DiskLog, OpenReport)> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, "open lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked { path: dir }),
            Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, "lock", e)),
        }
        let io = Io { hook: opts.faults };
        let rec = recover::recover(&io, &dir, opts.checksum_on_open)?;
        let (&active, seg) = rec
            .segs
            .last_key_value()
            .ok_or_else(|| Error::invalid("open", "no segment after recovery"))?;
        let sync = Syncer::new(dir.clone(), (active, seg.r.len));
        let log = DiskLog {
            dir,
            // Keeps every offset a `Pos` can hold, however large a batch.
            segment_bytes: opts.segment_bytes.clamp(HEADER_LEN + 1, MAX_OFFSET / 2),
            compact_dead_bytes: opts.compact_dead_bytes,
            io,
            inner: Mutex::new(Inner {
                index: rec.index,
                segs: rec.segs,
                active,
                closed: false,
            }),
            sync,
            lock,
            compacting: Mutex::new(()),
            report: rec.report.clone(),
        };
        Ok((log, rec.report))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What recovery found when this store was opened.
    pub fn report(&self) -> &OpenReport {
        &self.report
    }

    pub fn stats(&self) -> Stats {
        let g = self.guard();
        let streams = g
            .index
            .streams
            .iter()
            .map(|(name, s)| StreamStats {
                name: name.clone(),
                first_seq: s.first,
                last_seq: s.last,
                kept: s.pos.len() as u64,
            })
            .collect();
        Stats {
            streams,
            kv_keys: g.index.kv.len(),
            segments: g.segs.len(),
            bytes: g.bytes(),
            dead_bytes: g.dead_bytes(),
        }
    }

    /// Rewrites every segment's live records into new segments and deletes
    /// the old ones, giving back the space of truncated records and
    /// overwritten or deleted kv values.
    pub fn compact_segments(&self) -> Result<CompactReport> {
        let _one = self.compacting.lock().unwrap_or_else(|e| e.into_inner());
        self.compact()
    }

    fn guard(&self) -> MutexGuard<'_, Inner> {
        // Every mutation of Inner completes before anything that can panic;
        // after a failed write the poison flag, not the mutex, guards it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state, unless the store is closed or poisoned.
    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        let g = self.guard();
        if g.closed {
            return Err(Error::Closed);
        }
        self.sync.check()?;
        Ok(g)
    }

    /// Poisons the store (rule 7) and returns `e`. Unacknowledged batches
    /// past the durable mark are cut (best effort, never fsync'd), so a
    /// reopen sees what was acknowledged.
    fn fail<T>(&self, g: &mut Inner, e: Error) -> Result<T> {
        self.sync.poison(e.to_string());
        let (seg, off) = self.sync.synced();
        if let Some(s) = g.segs.get(&g.active) {
            let keep = if seg == g.active { off } else { HEADER_LEN };
            let _ = s.r.file.set_len(keep);
        }
        Err(e)
    }

    /// Seals the active segment (fsync'd whole) and starts the next (rule 3).
    fn roll(&self, g: &mut Inner) -> Result<()> {
        let old = g.active()?;
        if let Err(e) = self.io.sync(&old.file, &old.path) {
            return self.fail(g, e);
        }
        self.sync.mark_synced((g.active, old.len));
        let id = g.active + 1;
        if id > MAX_SEGMENT_ID {
            return self.fail(g, Error::invalid("write", "segment ids exhausted"));
        }
        let name = segment::file_name(id);
        let (file, nonce) = match segment::create(&self.io, &self.dir, &name, id) {
            Ok(x) => x,
            Err(e) => return self.fail(g, e),
        };
        let r = SegRef {
            file: Arc::new(file),
            path: Arc::new(self.dir.join(name)),
            len: HEADER_LEN,
        };
        g.segs.insert(id, Seg { r, nonce });
        g.active = id;
        self.sync.mark_synced((id, HEADER_LEN));
        Ok(())
    }

    /// Writes a frame (built on `frame::begin`) to the active segment and
    /// applies it to the index; returns the mark that must become durable.
    fn write(&self, g: &mut Inner, mut fr: Vec<u8>) -> Result<Mark> {
        let written = g.active()?.len;
        if written > HEADER_LEN && written + fr.len() as u64 > self.segment_bytes {
            self.roll(g)?;
        }
        let s = g.active()?;
        let (synced_seg, synced_off) = self.sync.synced();
        frame::seal(
            &mut fr,
            if synced_seg == g.active {
                synced_off
            } else {
                0
            },
        );
        if let Err(e) = self.io.write_at(&s.file, &s.path, &fr, s.len) {
            return self.fail(g, e);
        }
        let end = s.len + fr.len() as u64;
        let active = g.active;
        if let Some(seg) = g.segs.get_mut(&active) {
            seg.r.len = end;
        }
        let applied = batch::decode(&fr, frame::HEADER)
            .and_then(|ops| g.index.apply(pack(active, s.len), &ops));
        if let Err(msg) = applied {
            let e = Error::Corrupt {
                path: (*s.path).clone(),
                offset: s.len,
                msg: format!("batch just written does not apply: {msg}"),
            };
            return self.fail(g, e);
        }
        Ok((active, end))
    }

    /// Leader of a group commit: fsyncs the active segment; returns the mark
    /// it covers (everything written before the fsync started).
    fn lead_sync(&self) -> Result<Mark> {
        let (s, mark) = {
            let g = self.guard();
            let s = g.active()?;
            let mark = (g.active, s.len);
            (s, mark)
        };
        match self.io.sync(&s.file, &s.path) {
            Ok(()) => Ok(mark),
            Err(e) => self.fail(&mut self.guard(), e),
        }
    }

    /// Waits until the batch holding the record at `p` is durable, so a
    /// read never returns what a failed fsync could take back. Only reads
    /// of the newest records, racing their writer, ever wait.
    fn durable(&self, p: Pos) -> Result<()> {
        let mark = (index::seg_of(p), index::off_of(p) + 1);
        self.sync.wait(mark, || self.lead_sync())
    }

    /// Writes one batch, waits until it is durable (rule 2), then compacts
    /// if enough is dead.
    fn commit(
        &self,
        mut g: MutexGuard<'_, Inner>,
        fr: Vec<u8>,
        op: &'static str,
        subject: &dyn Fn() -> String,
    ) -> Result<()> {
        check_frame(op, subject, &fr)?;
        let end = self.write(&mut g, fr)?;
        drop(g);
        self.sync.wait(end, || self.lead_sync())?;
        self.maybe_compact();
        Ok(())
    }

    /// Automatic compaction. A failure poisons the store (the next call
    /// reports it); the batch that triggered it is already durable.
    fn maybe_compact(&self) {
        let Some(threshold) = self.compact_dead_bytes else {
            return;
        };
        let due = self.lock().is_ok_and(|g| {
            let dead = g.dead_bytes();
            dead >= threshold && dead.saturating_mul(2) >= g.bytes()
        });
        // Skipped when a compaction is already running.
        if due && let Ok(_one) = self.compacting.try_lock() {
            let _ = self.compact();
        }
    }

    /// Checkpoints the index. The caller guarantees every segment is
    /// fsync'd to its current length (rule 5: never past the durable end).
    fn write_hint(&self, g: &Inner) -> Result<()> {
        let metas: Vec<SegMeta> = g
            .segs
            .iter()
            .map(|(&id, s)| SegMeta {
                id,
                nonce: s.nonce,
                len: s.r.len,
            })
            .collect();
        hint::write(&self.io, &self.dir, &metas, &g.index)
    }

    /// Compaction in three steps, so writers and readers wait only for the
    /// first and last:
    /// 1. under the lock: roll to a fresh active segment; everything before
    ///    it (the prefix) is now immutable; snapshot the index;
    /// 2. without the lock: rewrite the snapshot's live records of the
    ///    prefix into fsync'd outputs (appends, truncations and kv writes
    ///    meanwhile go to the new active segment);
    /// 3. under the lock: commit, swap the outputs in, and rebase the index
    ///    onto them.
    ///
    /// The caller holds `compacting`, so only one runs at a time and `close`
    /// waits for it.
    fn compact(&self) -> Result<CompactReport> {
        let (prefix, refs, snapshot, before) = {
            let mut g = self.lock()?;
            let before = (g.segs.len(), g.bytes());
            self.roll(&mut g)?;
            let prefix: Vec<u64> = g.segs.range(..g.active).map(|(id, _)| *id).collect();
            (prefix, g.refs(), g.index.clone(), before)
        };
        let written = compact::write_outputs(
            &self.io,
            &self.dir,
            self.segment_bytes,
            &snapshot,
            &refs,
            &prefix,
        );
        drop(snapshot);
        let mut g = self.lock()?;
        let g = &mut *g;
        let installed = written.and_then(|(outs, out_index)| {
            hint::remove(&self.io, &self.dir)?;
            compact::commit(&self.io, &self.dir, &outs, &prefix)?;
            Ok((outs, out_index))
        });
        let (outs, out_index) = match installed {
            Ok(x) => x,
            Err(e) => return self.fail(g, e),
        };
        let first_new = g.active;
        if let Err(msg) = g.index.rebase(&out_index, first_new) {
            let e = Error::Corrupt {
                path: self.dir.clone(),
                offset: 0,
                msg: format!("compaction output does not match the index: {msg}"),
            };
            return self.fail(g, e);
        }
        for id in &prefix {
            g.segs.remove(id);
        }
        for o in outs {
            let r = SegRef {
                file: Arc::new(o.file),
                path: Arc::new(self.dir.join(segment::file_name(o.id))),
                len: o.len,
            };
            g.segs.insert(o.id, Seg { r, nonce: o.nonce });
        }
        // A fresh hint spares a scan of the compacted log if the process
        // dies later; it may only cover fsync'd data (rule 5).
        if let Err(e) = self.sync_active(g).and_then(|()| self.write_hint(g)) {
            return self.fail(g, e);
        }
        Ok(CompactReport {
            segments_before: before.0,
            segments_after: g.segs.len(),
            bytes_before: before.1,
            bytes_after: g.bytes(),
        })
    }

    /// Fsyncs the active segment while no one can write to it.
    fn sync_active(&self, g: &Inner) -> Result<()> {
        let s = g.active()?;
        self.io.sync(&s.file, &s.path)?;
        self.sync.mark_synced((g.active, s.len));
        Ok(())
    }
}

/// A batch must fit in one frame.
fn check_frame(op: &'static str, subject: &dyn Fn() -> String, fr: &[u8]) -> Result<()> {
    let len = fr.len() - frame::HEADER;
    if len > frame::MAX_PAYLOAD as usize {
        return Err(Error::invalid(
            op,
            format!(
                "{}: batch of {len} bytes exceeds the {} byte limit",
                subject(),
                frame::MAX_PAYLOAD
            ),
        ));
    }
    Ok(())
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
        check_name("read", "stream", stream)?;
        let g = self.lock()?;
        let Some(s) = g.index.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let start = after.saturating_add(1).max(s.first);
        if start > s.last || limit == 0 {
            return Ok(Vec::new());
        }
        let n = (s.last - start + 1).min(limit as u64) as usize;
        let skip = (start - s.first) as usize;
        let positions: Vec<Pos> = s.pos.range(skip..skip + n).copied().collect();
        let refs = g.refs_for(&positions);
        drop(g);
        if let Some(&p) = positions.last() {
            self.durable(p)?;
        }
        let mut out = Vec::with_capacity(n);
        for_each_event(&positions, &refs, |at, json| {
            let i = out.len();
            out.push(Record {
                stream: stream.to_string(),
                seq: start + i as u64,
                at,
                data: parse_json(&refs, positions[i], json)?,
            });
            Ok(())
        })?;
        Ok(out)
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

    /// Syncs, writes the hint and releases the lock. Later calls fail with
    /// `Closed`; closing twice is a no-op.
    fn close(&self) -> Result<()> {
        let _no_compaction = self.compacting.lock().unwrap_or_else(|e| e.into_inner());
        let mut g = self.guard();
        if g.closed {
            return Ok(());
        }
        g.closed = true;
        let r = self.sync.check().and_then(|()| {
            if let Err(e) = self.sync_active(&g) {
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
            at: 0,
            data: 1.into(),
        };
        invalid(log.restore("r", 3, vec![r]).map(|()| 0), "\"r\"");
        assert_eq!(log.streams().expect("streams"), Vec::<String>::new());
        assert_eq!(log.kv_keys("").expect("keys"), Vec::<String>::new());
        assert_eq!(log.stats().bytes, HEADER_LEN, "something was written");
    }
}
