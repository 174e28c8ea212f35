//! The on-disk backend (SPEC 5, `docs/design.md`): an append-only log of
//! checksummed batches in segment files, a manifest of the segments and
//! their durable lengths, an in-memory index of where each live record is,
//! a hint file to reopen fast, and segment compaction.
//!
//! Module map: this file holds the store's state and its write path (roll,
//! preallocation, write, poison); `open` (open for writing or read-only),
//! `ops` (the `Backend` operations), `append` (the append path: framing
//! outside the lock), `input` (argument checks, encoding), `json` (value
//! encoding), `frame` (batch framing, CRC32C), `batch` (ops in a batch),
//! `segment` (files, headers, scanning), `index` (in-memory positions),
//! `read` (preads by position), `commit` (group commit: committing a batch,
//! leading and waiting for fsyncs; the poison flag), `manifest` (segments
//! and durable lengths), `hint` (index checkpoint), `compact` (rewrite live
//! records), `layout` (which files make up the store), `recover` (replay
//! and repair on open), `verify` (read-only check), `salvage` (what
//! survives of a damaged store, for `persist recover`), `fault` (I/O with a
//! test hook), `version` (format versions, the newer-format check).
//!
//! The files' byte layouts, the rules (the "rule N" the code cites: 1-8
//! the storage rules, 9-14 recovery's), what recovery trusts and why, the
//! format's versions and the newer-format policy are in `docs/design.md`.
//!
//! Choices the spec leaves open:
//! - Every call that changes anything is one batch, fsync'd before it
//!   returns; concurrent callers share fsyncs (group commit).
//! - Reads return only durable records: a read racing the fsync of the
//!   records it asks for waits for it. `last_seq`, `streams` and `kv_keys`
//!   already count a batch whose fsync is in flight (what `append_expect`
//!   must see); if that fsync fails the store is poisoned.
//! - With a valid hint, open still checks every frame's checksum
//!   (`Options::checksum_on_open`); if one fails, the hint is set aside and
//!   the log alone decides (torn tail or corruption), so the outcome never
//!   depends on the hint. Every record also carries its own checksum,
//!   checked on each read.
//! - Compaction rewrites all live data (the whole log before a fresh
//!   active segment), automatically once estimated dead bytes reach
//!   `Options::compact_dead_bytes` and half of the log; the writer whose
//!   call crosses the threshold runs it, other callers are blocked only
//!   while it starts and while it swaps the new segments in. One that
//!   fails before its commit (a full disk) removes its outputs and leaves
//!   the log and the store usable; automatic compaction then waits for
//!   another `compact_dead_bytes` of dead data before trying again.
//! - After a failed write or fsync, batches past the last successful fsync
//!   are cut from the file (best effort, never fsync'd), so a reopen shows
//!   exactly what was acknowledged unless the disk itself lost data.
//! - Preallocation: the active segment's file is extended (sparse, with
//!   `set_len`) up to `PREALLOC` bytes ahead of its writes, and that length
//!   fsync'd once, so a batch's fdatasync does not also have to commit a
//!   new file size (measured on ext4: durable single appends 1.3-1.6x
//!   faster, batched appends unchanged). Free space is recovery's rule 12.

mod append;
mod batch;
mod check;
mod codec;
mod commit;
mod compact;
mod crc;
mod draft;
mod fault;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod hint;
mod hint_source;
mod index;
mod input;
mod json;
mod layout;
mod live_ids;
mod manifest;
mod open;
mod ops;
mod read;
mod recover;
mod salvage;
mod scratch;
mod segment;
mod verify;
mod version;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{Error, Result};

use batch::Op;
use commit::{Mark, Syncer};
use fault::Io;
use hint::SegMeta;
use index::{Index, MAX_SEGMENT_ID, Pos, pack};
use manifest::{Entry, Manifest};
use read::SegRef;
use recover::Seg;
use segment::HEADER_LEN;

#[doc(hidden)]
pub use fault::{FaultHook, IoEvent, IoPoint, TraceHook, fail_nth};
pub use recover::{OpenReport, TornTail, salvage_hint};
pub use salvage::{Damage, Salvage, SalvagedStream, salvage};
pub use verify::{Fault, HintCheck, VerifyReport, verify, verify_with};

/// The file whose exclusive lock marks the store as in use (rule 8).
const LOCK_FILE: &str = "LOCK";
/// How far past its writes the active segment is extended at a time
/// (never past `segment_bytes`, unless one batch needs it).
const PREALLOC: u64 = 4 << 20;
/// A batch frame at least this long has its write-back started as soon
/// as it is written (`Io::start_writeback`): the device then overlaps the
/// index update and the caller's freeing of its events. Smaller ones go
/// straight to their fdatasync, where the extra call would only cost.
const WRITEBACK_FROM: usize = 64 << 10;
/// Tuning and test hooks for `DiskLog::open_with`.
#[derive(Clone)]
pub struct Options {
    /// A segment is rolled once the next batch would take it past this.
    pub segment_bytes: u64,
    /// Compact automatically once this many bytes are estimated dead and
    /// they are at least half of the log; `None` compacts only on request.
    pub compact_dead_bytes: Option<u64>,
    /// Fault injection: called before every write and fsync. Tests only.
    #[doc(hidden)]
    pub faults: Option<FaultHook>,
    /// Called after every file operation (power-loss simulation in tests).
    pub trace: Option<TraceHook>,
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
            trace: None,
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
            .field("trace", &self.trace.as_ref().map(|_| "hook"))
            .field("checksum_on_open", &self.checksum_on_open)
            .finish()
    }
}

/// One stream as `persist inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    /// The stream's name.
    pub name: String,
    /// First retained seq; `last_seq + 1` when nothing is kept.
    pub first_seq: u64,
    /// Its high-water mark.
    pub last_seq: u64,
    /// Records kept (not truncated).
    pub kept: u64,
}

/// What a store holds and how much of its log is dead, for `persist inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Every stream, by name.
    pub streams: Vec<StreamStats>,
    /// Live kv keys.
    pub kv_keys: usize,
    /// Segment files.
    pub segments: usize,
    /// Bytes of the log in segment files: up to each segment's frame end
    /// (preallocated free space past it is not counted).
    pub bytes: u64,
    /// Estimated bytes held by truncated records and overwritten values.
    pub dead_bytes: u64,
}

impl Stats {
    /// The figures of an index over segments given as (id, length).
    fn of(index: &Index, segs: impl Iterator<Item = (u64, u64)>) -> Stats {
        let streams = index
            .streams
            .iter()
            .map(|(name, s)| StreamStats {
                name: name.clone(),
                first_seq: s.first,
                last_seq: s.last,
                kept: s.pos.len() as u64,
            })
            .collect();
        let (mut segments, mut bytes, mut dead_bytes) = (0, 0, 0);
        for (id, len) in segs {
            segments += 1;
            bytes += len;
            dead_bytes += index.dead_bytes(id, len, HEADER_LEN);
        }
        Stats {
            streams,
            kv_keys: index.kv.len(),
            segments,
            bytes,
            dead_bytes,
        }
    }
}

/// What `compact_segments` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    /// Segments before the compaction.
    pub segments_before: usize,
    /// Segments after it.
    pub segments_after: usize,
    /// Bytes of the log before it.
    pub bytes_before: u64,
    /// Bytes of the log after it.
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
    /// Held locked from open to close (rule 8): exclusively by a writer,
    /// shared by a read-only opener; `None` for a read-only opener of a
    /// directory no writer ever locked.
    lock: Option<File>,
    /// Opened by `open_read_only`: every write is refused.
    read_only: bool,
    /// Held while a compaction runs: one at a time, and `close` waits.
    compacting: Mutex<()>,
    /// Dead bytes an automatic compaction waits for after one failed.
    compact_retry_at: AtomicU64,
    report: OpenReport,
}

/// Invariant: `segs` holds `active`, the only segment written to, and it
/// has the highest id.
struct Inner {
    index: Index,
    segs: BTreeMap<u64, Seg>,
    active: u64,
    /// The active segment's file length, at least its frame end `r.len`.
    /// Invariant: bytes `r.len..alloc` are zeros (or a hole) and the file
    /// length `alloc` is durable (fsync'd), so a batch written below
    /// `alloc` changes no file size; every other segment's file ends at its
    /// frame end.
    alloc: u64,
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
}

impl DiskLog {
    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What recovery found when this store was opened.
    pub fn report(&self) -> &OpenReport {
        &self.report
    }

    /// What the store holds now.
    pub fn stats(&self) -> Stats {
        let g = self.guard();
        Stats::of(&g.index, g.segs.iter().map(|(&id, s)| (id, s.r.len)))
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
    /// past the durable mark are cut (best effort, never fsync'd, and not
    /// through `Io`: neither fault-injected nor traced), so a reopen sees
    /// what was acknowledged.
    fn fail<T>(&self, g: &mut Inner, e: Error) -> Result<T> {
        self.sync.poison(e.to_string());
        let (seg, off) = self.sync.synced();
        if let Some(s) = g.segs.get(&g.active) {
            let keep = if seg == g.active { off } else { HEADER_LEN };
            let _ = s.r.file.set_len(keep);
        }
        Err(e)
    }

    /// Seals the active segment (trimmed to its frame end, fsync'd whole)
    /// and starts the next (rule 3). The trim is durable before the next
    /// segment exists, so only the last segment can end in free space.
    ///
    /// The new segment is created (header fsync'd) before the manifest that
    /// lists the old one as sealed (at its trimmed length) and the new one
    /// as active, and nothing is written to it before that: so a listed
    /// segment that is missing is lost data, and an unlisted segment after
    /// the last listed one holds at most a header (a crash mid-roll).
    fn roll(&self, g: &mut Inner) -> Result<()> {
        let old = g.active()?;
        let sealed = self
            .trim_active(g)
            .and_then(|()| self.io.sync(&old.file, &old.path));
        if let Err(e) = sealed {
            return self.fail(g, e);
        }
        self.sync.mark_synced((g.active, old.len));
        let id = g.active + 1;
        if id > MAX_SEGMENT_ID {
            return self.fail(g, Error::invalid("write", "segment ids exhausted"));
        }
        let name = segment::file_name(id);
        let nonce = segment::new_nonce();
        let mut m = self.manifest(g);
        m.segs.push(Entry {
            id,
            nonce,
            len: HEADER_LEN,
            items: 0,
        });
        let created = segment::create(&self.io, &self.dir, &name, id, nonce)
            .and_then(|f| manifest::write(&self.io, &self.dir, &m).map(|()| f));
        let file = match created {
            Ok(f) => f,
            Err(e) => return self.fail(g, e),
        };
        let r = SegRef {
            file: Arc::new(file),
            path: Arc::new(self.dir.join(name)),
            len: HEADER_LEN,
        };
        g.segs.insert(id, Seg { r, nonce });
        g.active = id;
        g.alloc = HEADER_LEN;
        self.sync.mark_synced((id, HEADER_LEN));
        Ok(())
    }

    /// Cuts the active segment's free space off (not fsync'd: the caller
    /// fsyncs). Afterwards its file ends at its frame end.
    fn trim_active(&self, g: &mut Inner) -> Result<()> {
        let s = g.active()?;
        if g.alloc > s.len {
            self.io.set_len(&s.file, &s.path, s.len)?;
        }
        g.alloc = s.len;
        Ok(())
    }

    /// Makes the active segment's file reach at least `end` before a batch
    /// ending there is written: extends it (sparse) to `PREALLOC` past its
    /// frame end, capped at `segment_bytes`, and fsyncs that length, so the
    /// fsyncs that acknowledge batches need not commit a size change.
    fn preallocate(&self, g: &mut Inner, end: u64) -> Result<()> {
        if end <= g.alloc {
            return Ok(());
        }
        let s = g.active()?;
        let want = s
            .len
            .saturating_add(PREALLOC)
            .min(self.segment_bytes)
            .max(end);
        let extended = self
            .io
            .set_len(&s.file, &s.path, want)
            .and_then(|()| self.io.sync(&s.file, &s.path));
        if let Err(e) = extended {
            return self.fail(g, e);
        }
        g.alloc = want;
        // That fsync covered every batch written before it.
        self.sync.mark_synced((g.active, s.len));
        Ok(())
    }

    /// Writes a frame (built on `frame::begin`) to the active segment and
    /// applies it to the index; returns the mark that must become durable.
    fn write(&self, g: &mut Inner, fr: &mut [u8]) -> Result<Mark> {
        self.write_ops(g, fr, None)
    }

    /// `write`, given the frame's ops when the caller has them (its own
    /// batch, just built), else decoding them from the frame.
    fn write_ops(&self, g: &mut Inner, fr: &mut [u8], ops: Option<&[Op<'_>]>) -> Result<Mark> {
        self.writable("write")?;
        let written = g.active()?.len;
        if written > HEADER_LEN && written + fr.len() as u64 > self.segment_bytes {
            self.roll(g)?;
        }
        self.preallocate(g, g.active()?.len + fr.len() as u64)?;
        let s = g.active()?;
        // Records how far this segment was durable, for recovery's
        // torn-or-corrupt judgement (see `segment::synced_past`).
        let (synced_seg, synced_off) = self.sync.synced();
        let synced = if synced_seg == g.active {
            synced_off
        } else {
            0
        };
        frame::seal(fr, synced);
        if let Err(e) = self.io.write_at(&s.file, &s.path, fr, s.len) {
            return self.fail(g, e);
        }
        if fr.len() >= WRITEBACK_FROM {
            self.io.start_writeback(&s.file, s.len, fr.len() as u64);
        }
        let end = s.len + fr.len() as u64;
        let active = g.active;
        if let Some(seg) = g.segs.get_mut(&active) {
            seg.r.len = end;
        }
        let at = pack(active, s.len);
        let applied = match ops {
            Some(ops) => g.index.apply(at, ops),
            None => batch::decode(fr, frame::HEADER).and_then(|ops| g.index.apply(at, &ops)),
        };
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

    /// The manifest of the current segments: each sealed one with its
    /// length, the active one with how far it is known durable (its item
    /// count only when that is all of it).
    fn manifest(&self, g: &Inner) -> Manifest {
        let (synced_seg, synced_off) = self.sync.synced();
        let segs = g
            .segs
            .iter()
            .map(|(&id, s)| {
                let len = match id == g.active {
                    false => s.r.len,
                    true if synced_seg == id => synced_off.min(s.r.len),
                    true => HEADER_LEN,
                };
                let items = match len == s.r.len {
                    true => g.index.counts.get(&id).map_or(0, |c| c.items),
                    false => 0,
                };
                Entry {
                    id,
                    nonce: s.nonce,
                    len,
                    items,
                }
            })
            .collect();
        Manifest { segs }
    }

    /// Fsyncs the active segment while no one can write to it.
    fn sync_active(&self, g: &Inner) -> Result<()> {
        let s = g.active()?;
        self.io.sync(&s.file, &s.path)?;
        self.sync.mark_synced((g.active, s.len));
        Ok(())
    }
}
