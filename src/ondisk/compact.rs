//! Segment compaction (STORAGE rules 5 and 6).
//!
//! The store first rolls to a fresh, empty active segment; every older
//! segment (the "prefix") is then rewritten as the live state alone: each
//! stream's kept records and high-water mark, each kv key's current value.
//! The outputs reuse the prefix's ids, in order, so they still replay before
//! the active segment, and replaying them gives the same index.
//!
//! Crash safety: outputs are written under temp names (`<id>.compact`) and
//! fsync'd; then a marker file listing outputs and replaced segments is
//! written atomically. That marker is the commit point: on open, a marker
//! means "finish" (rename outputs into place, delete replaced segments), no
//! marker means "discard" (delete the temps). Truncations and kv deletions
//! that made records dead were fsync'd in the log when they were acknowledged,
//! long before any segment is deleted (rule 6). The hint, which names the
//! prefix segments, is removed before anything is renamed.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use super::batch::{self, NewEvent};
use super::codec::{Reader, put_u32, put_u64};
use super::fault::Io;
use super::frame;
use super::index::{Index, pack};
use super::read::{SegRef, for_each_event, read_value};
use super::recover::Seg;
use super::segment;
use super::{CompactReport, DiskLog, hint};
use crate::global::GlobalLog;
use crate::{Error, Result};

pub(crate) const MARKER: &str = "compact";
const MARKER_TMP: &str = "compact.tmp";
const MAGIC: &[u8; 8] = b"PRSTCMP1";
/// Frames of compaction output are flushed once they reach this size.
const BATCH_TARGET: usize = 1 << 20;
/// Records read back per pass.
const READ_CHUNK: usize = 1024;

pub(crate) fn tmp_name(id: u64) -> String {
    format!("{id:012}.compact")
}

/// The commit record of a compaction.
#[derive(Debug, PartialEq)]
struct Marker {
    outputs: Vec<u64>,
    replaced: Vec<u64>,
}

fn encode_marker(m: &Marker) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    for ids in [&m.outputs, &m.replaced] {
        put_u32(&mut b, ids.len() as u32);
        for &id in ids {
            put_u64(&mut b, id);
        }
    }
    let crc = crc32c::crc32c(&b);
    put_u32(&mut b, crc);
    b
}

fn decode_marker(b: &[u8]) -> Result<Marker, String> {
    let body = b.get(..b.len().saturating_sub(4)).unwrap_or_default();
    let crc = Reader::new(&b[body.len()..]).u32()?;
    if crc != crc32c::crc32c(body) {
        return Err("compaction marker checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    if r.bytes(8)? != MAGIC {
        return Err("not a compaction marker (bad magic)".into());
    }
    let mut lists = [Vec::new(), Vec::new()];
    for ids in &mut lists {
        for _ in 0..r.u32()? {
            ids.push(r.u64()?);
        }
    }
    let [outputs, replaced] = lists;
    Ok(Marker { outputs, replaced })
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, "remove", e)),
        _ => Ok(()),
    }
}

/// Puts a committed compaction's outputs in place. Idempotent, so a crash
/// part-way through is finished by the next open.
fn finish(io: &Io, dir: &Path, m: &Marker) -> Result<()> {
    for &id in &m.outputs {
        let tmp = dir.join(tmp_name(id));
        if tmp.exists() {
            let dst = dir.join(segment::file_name(id));
            std::fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, "rename", e))?;
        }
    }
    for id in m.replaced.iter().filter(|id| !m.outputs.contains(id)) {
        remove_if_present(&dir.join(segment::file_name(*id)))?;
    }
    io.sync_dir(dir)?;
    remove_if_present(&dir.join(MARKER))?;
    io.sync_dir(dir)
}

/// On open: finishes a committed compaction, then deletes every stray temp
/// file. Returns what it did, for the open report.
pub(crate) fn recover(io: &Io, dir: &Path) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let marker = dir.join(MARKER);
    if marker.exists() {
        let b = std::fs::read(&marker).map_err(|e| Error::io(&marker, "read", e))?;
        let m = decode_marker(&b).map_err(|msg| Error::Corrupt {
            path: marker.clone(),
            offset: 0,
            msg,
        })?;
        finish(io, dir, &m)?;
        notes.push(format!(
            "finished an interrupted compaction of segments {:?}",
            m.replaced
        ));
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    let mut removed = false;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".compact") || name.ends_with(".tmp") {
            remove_if_present(&entry.path())?;
            notes.push(format!("removed stray temp file {name}"));
            removed = true;
        }
    }
    if removed {
        io.sync_dir(dir)?;
    }
    Ok(notes)
}

/// A compaction output, written and fsync'd under its temp name.
pub(crate) struct Output {
    pub id: u64,
    pub file: File,
    pub nonce: u64,
    pub len: u64,
}

/// Writes frames of live records into outputs, building their index by
/// applying each frame exactly as recovery will.
struct Writer<'a> {
    io: &'a Io,
    dir: &'a Path,
    limit: u64,
    ids: std::slice::Iter<'a, u64>,
    outs: Vec<Output>,
    frame: Vec<u8>,
    index: Index,
}

impl Writer<'_> {
    fn flush(&mut self) -> Result<()> {
        if self.frame.len() == frame::HEADER {
            return Ok(());
        }
        let full = self.outs.last().is_none_or(|o| o.len >= self.limit);
        if full && let Some(&id) = self.ids.next() {
            let (file, nonce) = segment::create(self.io, self.dir, &tmp_name(id), id)?;
            self.outs.push(Output {
                id,
                file,
                nonce,
                len: segment::HEADER_LEN,
            });
        }
        // Invariant: the prefix is non-empty, so an output exists here;
        // past the last reused id, the last output grows beyond the limit.
        let Some(out) = self.outs.last_mut() else {
            return Err(Error::invalid("compact", "no segment id for the output"));
        };
        let path = self.dir.join(tmp_name(out.id));
        frame::seal(&mut self.frame, 0);
        self.io.write_at(&out.file, &path, &self.frame, out.len)?;
        let ops = batch::decode(&self.frame, frame::HEADER);
        let applied = ops.and_then(|ops| self.index.apply(pack(out.id, out.len), &ops));
        applied.map_err(|msg| Error::Corrupt {
            path,
            offset: out.len,
            msg,
        })?;
        out.len += self.frame.len() as u64;
        self.frame = frame::begin();
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.frame.len() >= BATCH_TARGET {
            self.flush()?;
        }
        Ok(())
    }

    /// A stream's kept records in batches of about `BATCH_TARGET` bytes; the
    /// last op carries the high-water mark.
    fn stream(
        &mut self,
        name: &str,
        s: &super::index::StreamIndex,
        global: &GlobalLog,
        segs: &BTreeMap<u64, SegRef>,
    ) -> Result<()> {
        let mut seq = s.first;
        let positions: Vec<u64> = s.pos.iter().copied().collect();
        let mut gpos = s.gpos.iter().copied();
        if positions.is_empty() {
            batch::put_events(&mut self.frame, name, s.first, s.last, std::iter::empty());
            return self.maybe_flush();
        }
        for chunk in positions.chunks(READ_CHUNK) {
            let mut recs: Vec<(u64, i64, Vec<u8>)> = Vec::with_capacity(chunk.len());
            for_each_event(chunk, segs, |at, json| {
                recs.push((gpos.next().unwrap_or_default(), at, json.to_vec()));
                Ok(())
            })?;
            let mut rest = recs.as_slice();
            while !rest.is_empty() {
                let mut n = 0;
                let mut bytes = 0;
                while n < rest.len() && (n == 0 || bytes < BATCH_TARGET) {
                    bytes += rest[n].2.len();
                    n += 1;
                }
                let (piece, tail) = rest.split_at(n);
                // Kept records run up to `s.last`, so the final op ends there.
                let end = seq + n as u64 - 1;
                let evs = piece.iter().enumerate().map(|(i, (pos, at, j))| NewEvent {
                    pos: *pos,
                    id: global.id_of(name, seq + i as u64),
                    at: *at,
                    json: j,
                });
                batch::put_events(&mut self.frame, name, seq, end, evs);
                self.maybe_flush()?;
                seq = end + 1;
                rest = tail;
            }
        }
        Ok(())
    }
}

/// Rewrites the live records of `prefix` (every segment before the empty
/// active one) into fsync'd outputs. Returns the outputs and the index that
/// describes them; nothing is renamed or deleted yet.
pub(crate) fn write_outputs(
    io: &Io,
    dir: &Path,
    limit: u64,
    index: &Index,
    segs: &BTreeMap<u64, SegRef>,
    prefix: &[u64],
) -> Result<(Vec<Output>, Index)> {
    let mut w = Writer {
        io,
        dir,
        limit,
        ids: prefix.iter(),
        outs: Vec::new(),
        frame: frame::begin(),
        index: Index::default(),
    };
    for (name, s) in &index.streams {
        w.stream(name, s, &index.global, segs)?;
    }
    // Ids of records that are gone, and the high-water mark, outlive them.
    let dead = index.global.dead_ids();
    for chunk in batch::id_chunks(&dead, BATCH_TARGET) {
        let ids = chunk
            .iter()
            .map(|e| (e.id.as_str(), e.stream.as_str(), e.seq));
        batch::put_ids(&mut w.frame, ids);
        w.maybe_flush()?;
    }
    batch::put_last_pos(&mut w.frame, index.global.last_pos());
    for (key, loc) in &index.kv {
        let s = segs
            .get(&super::index::seg_of(loc.pos))
            .ok_or_else(|| Error::invalid("compact", format!("key {key:?}: segment not open")))?;
        batch::put_kv(&mut w.frame, key, &read_value(s, loc.pos, loc.len)?);
        w.maybe_flush()?;
    }
    w.flush()?;
    for o in &w.outs {
        io.sync(&o.file, &dir.join(tmp_name(o.id)))?;
    }
    Ok((w.outs, w.index))
}

/// Commits (marker) and installs outputs that replace `prefix`.
pub(crate) fn commit(io: &Io, dir: &Path, outputs: &[Output], prefix: &[u64]) -> Result<()> {
    let m = Marker {
        outputs: outputs.iter().map(|o| o.id).collect(),
        replaced: prefix.to_vec(),
    };
    io.write_file_atomic(dir, MARKER_TMP, MARKER, &encode_marker(&m))?;
    finish(io, dir, &m)
}

impl DiskLog {
    /// Rewrites every segment's live records into new segments and deletes
    /// the old ones, giving back the space of truncated records and
    /// overwritten or deleted kv values.
    pub fn compact_segments(&self) -> Result<CompactReport> {
        let _one = self.compacting.lock().unwrap_or_else(|e| e.into_inner());
        self.compact()
    }

    /// Automatic compaction. A failure poisons the store (the next call
    /// reports it); the batch that triggered it is already durable.
    pub(super) fn maybe_compact(&self) {
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
        let written = write_outputs(
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
            commit(&self.io, &self.dir, &outs, &prefix)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_and_detects_damage() {
        let m = Marker {
            outputs: vec![1, 2],
            replaced: vec![1, 2, 3],
        };
        let b = encode_marker(&m);
        assert_eq!(decode_marker(&b), Ok(m));
        let mut d = b.clone();
        d[12] ^= 1;
        assert!(decode_marker(&d).is_err());
        assert!(decode_marker(&b[..3]).is_err());
    }
}
