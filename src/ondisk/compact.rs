//! Segment compaction (STORAGE rules 5 and 6).
//!
//! The store first rolls to a fresh, empty active segment; every older
//! segment (the "prefix") is then rewritten as the live state alone: each
//! stream's kept records and high-water mark, each kv key's current value.
//! The outputs reuse the prefix's ids, in order, so they still replay before
//! the active segment, and replaying them gives the same index.
//!
//! Crash safety: outputs are written under temp names (`<id>.compact`) and
//! fsync'd; then the manifest listing the outputs in place of the prefix is
//! written atomically. That manifest is the commit point: on open, a listed
//! segment whose output is still under its temp name is renamed into place
//! and unlisted prefix segments are deleted ("finish"); temps the manifest
//! does not list are deleted ("discard"). Truncations and kv deletions that
//! made records dead were fsync'd in the log when they were acknowledged,
//! long before any segment is deleted (rule 6). The hint, which names the
//! prefix segments, is removed before anything is renamed. Stores written
//! before the manifest committed with a `compact` marker file, which open
//! still finishes.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::batch::{self, NewEvent};
use super::codec::{Fields, Reader};
use super::fault::Io;
use super::frame;
use super::index::{Index, pack};
use super::manifest::{self, Entry, Manifest};
use super::read::{SegRef, for_each_event, read_value};
use super::recover::Seg;
use super::segment;
use super::version::{self, Kind};
use super::{CompactReport, DiskLog, hint};
use crate::{Error, Result};

pub(crate) const MARKER: &str = "compact";
/// Frames of compaction output are flushed once they reach this size.
const BATCH_TARGET: usize = 1 << 20;
/// Records read back per pass.
const READ_CHUNK: usize = 1024;

pub(crate) fn tmp_name(id: u64) -> String {
    format!("{id:012}.compact")
}

/// The commit record of a compaction in stores written before the
/// manifest took that role; only read, to finish such a compaction.
#[derive(Debug, PartialEq)]
pub(super) struct Marker {
    outputs: Vec<u64>,
    replaced: Vec<u64>,
}

pub(super) fn decode_marker(b: &[u8]) -> Result<Marker, String> {
    let body = b.get(..b.len().saturating_sub(4)).unwrap_or_default();
    let crc = Reader::new(&b[body.len()..]).u32()?;
    if crc != crc32c::crc32c(body) {
        return Err("compaction marker checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    let magic = r.bytes(8)?;
    if magic != Kind::Marker.magic() {
        return Err(version::mismatch(Kind::Marker, magic));
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

/// Puts a committed compaction's outputs in place and deletes the segments
/// they replaced. Idempotent, so a crash part-way through is finished by
/// the next open.
fn install(io: &Io, dir: &Path, outputs: &[u64], replaced: &[u64]) -> Result<()> {
    for &id in outputs {
        let tmp = dir.join(tmp_name(id));
        if tmp.exists() {
            io.rename(&tmp, &dir.join(segment::file_name(id)))?;
        }
    }
    for id in replaced.iter().filter(|id| !outputs.contains(id)) {
        io.remove(&dir.join(segment::file_name(*id)))?;
    }
    io.sync_dir(dir)
}

/// The legacy marker in `dir`, if any; damage is an error naming it.
fn load_marker(dir: &Path) -> Result<Option<Marker>> {
    let marker = dir.join(MARKER);
    if !marker.exists() {
        return Ok(None);
    }
    let b = std::fs::read(&marker).map_err(|e| Error::io(&marker, "read", e))?;
    decode_marker(&b)
        .map(Some)
        .map_err(|msg| version::corrupt_or_newer(Kind::Marker, &marker, &b, msg))
}

/// On open of a store without a manifest: finishes a compaction committed
/// by a legacy marker. Returns what it did, for the open report.
pub(crate) fn recover_legacy(io: &Io, dir: &Path) -> Result<Vec<String>> {
    let Some(m) = load_marker(dir)? else {
        return Ok(Vec::new());
    };
    install(io, dir, &m.outputs, &m.replaced)?;
    io.remove(&dir.join(MARKER))?;
    io.sync_dir(dir)?;
    Ok(vec![format!(
        "finished an interrupted compaction of segments {:?}",
        m.replaced
    )])
}

/// Read-only: a legacy marker cannot be judged without finishing it.
pub(crate) fn check_legacy(dir: &Path) -> Result<()> {
    match load_marker(dir)? {
        None => Ok(()),
        Some(_) => Err(Error::invalid(
            "open",
            format!(
                "{}: an interrupted compaction (older format) is pending; open the store once to finish it",
                dir.display()
            ),
        )),
    }
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
            let nonce = segment::new_nonce();
            let file = segment::create(self.io, self.dir, &tmp_name(id), id, nonce)?;
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
        index: &Index,
        segs: &BTreeMap<u64, SegRef>,
    ) -> Result<()> {
        let mut seq = s.first;
        let positions: Vec<u64> = s.pos.iter().copied().collect();
        let mut gpos = s.gpos.iter().copied();
        let id_of = index.ids_of(name);
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
                    id: id_of(seq + i as u64),
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
        w.stream(name, s, index, segs)?;
    }
    // Ids of records that are gone, and the high-water mark, outlive them.
    let dead = index.dead_ids();
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

/// Commits a compaction by writing `m`, the manifest that lists the outputs
/// in place of `prefix`, then installs the outputs.
pub(crate) fn commit(
    io: &Io,
    dir: &Path,
    m: &Manifest,
    outputs: &[Output],
    prefix: &[u64],
) -> Result<()> {
    manifest::write(io, dir, m)?;
    let ids: Vec<u64> = outputs.iter().map(|o| o.id).collect();
    install(io, dir, &ids, prefix)
}

/// Removes the outputs of a compaction that failed before its commit
/// (best effort: recovery removes stray temps too).
fn discard(io: &Io, dir: &Path, prefix: &[u64]) {
    for &id in prefix {
        let _ = io.remove(&dir.join(tmp_name(id)));
    }
    let _ = io.sync_dir(dir);
}

impl DiskLog {
    /// Rewrites every segment's live records into new segments and deletes
    /// the old ones, giving back the space of truncated records and
    /// overwritten or deleted kv values.
    pub fn compact_segments(&self) -> Result<CompactReport> {
        let _one = self.compacting.lock().unwrap_or_else(|e| e.into_inner());
        self.compact()
    }

    /// Automatic compaction. A failure before the commit (a full disk while
    /// writing the outputs) leaves the log as it was: the store is not
    /// poisoned, and the next attempt waits until another
    /// `compact_dead_bytes` are dead. A failure from the commit on poisons
    /// it (the next call reports it); the batch that triggered it is
    /// already durable.
    pub(super) fn maybe_compact(&self) {
        let Some(threshold) = self.compact_dead_bytes else {
            return;
        };
        let retry_at = self.compact_retry_at.load(Ordering::Relaxed);
        let dead = self.lock().map_or(0, |g| {
            let dead = g.dead_bytes();
            let due = dead >= threshold.max(retry_at) && dead.saturating_mul(2) >= g.bytes();
            if due { dead } else { 0 }
        });
        // Skipped when a compaction is already running.
        if dead > 0
            && let Ok(_one) = self.compacting.try_lock()
        {
            let next = match self.compact() {
                Ok(_) => 0,
                Err(_) => dead.saturating_add(threshold),
            };
            self.compact_retry_at.store(next, Ordering::Relaxed);
        }
    }

    /// Compaction in three steps, so writers and readers wait only for the
    /// first and last:
    /// 1. under the lock: roll to a fresh active segment (unless the active
    ///    one is still empty); everything before it (the prefix) is now
    ///    immutable; snapshot the index;
    /// 2. without the lock: rewrite the snapshot's live records of the
    ///    prefix into fsync'd outputs (appends, truncations and kv writes
    ///    meanwhile go to the new active segment); on failure, delete them
    ///    and stop: the log is untouched;
    /// 3. under the lock: commit (the manifest), swap the outputs in, and
    ///    rebase the index onto them.
    ///
    /// The caller holds `compacting`, so only one runs at a time and `close`
    /// waits for it.
    fn compact(&self) -> Result<CompactReport> {
        let (prefix, keep_from, refs, snapshot, before) = {
            let mut g = self.lock()?;
            self.writable("compact")?;
            let before = (g.segs.len(), g.bytes());
            // An empty active segment (say, left by a failed compaction)
            // is reused rather than followed by another.
            if g.active()?.len > segment::HEADER_LEN {
                self.roll(&mut g)?;
            }
            let prefix: Vec<u64> = g.segs.range(..g.active).map(|(id, _)| *id).collect();
            if prefix.is_empty() {
                return Ok(CompactReport {
                    segments_before: before.0,
                    segments_after: before.0,
                    bytes_before: before.1,
                    bytes_after: before.1,
                });
            }
            // The first segment the outputs do not replace. Writers may roll
            // past it while the outputs are written; what they write stays
            // where it is.
            let keep_from = g.active;
            (prefix, keep_from, g.refs(), g.index.clone(), before)
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
        let (outs, out_index) = match written {
            Ok(x) => x,
            Err(e) => {
                discard(&self.io, &self.dir, &prefix);
                return Err(e);
            }
        };
        let mut g = self.lock()?;
        let g = &mut *g;
        let mut m = self.manifest(g);
        m.segs.retain(|e| !prefix.contains(&e.id));
        m.segs.extend(outs.iter().map(|o| Entry {
            id: o.id,
            nonce: o.nonce,
            len: o.len,
            items: out_index.counts.get(&o.id).map_or(0, |c| c.items),
        }));
        m.segs.sort_by_key(|e| e.id);
        let installed = hint::remove(&self.io, &self.dir)
            .and_then(|()| commit(&self.io, &self.dir, &m, &outs, &prefix));
        if let Err(e) = installed {
            return self.fail(g, e);
        }
        if let Err(msg) = g.index.rebase(&out_index, keep_from) {
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
    use crate::ondisk::codec::{put_u32, put_u64};

    #[test]
    fn legacy_marker_decodes_and_detects_damage() {
        let mut b = Kind::Marker.magic().to_vec();
        for ids in [&[1u64, 2][..], &[1, 2, 3]] {
            put_u32(&mut b, ids.len() as u32);
            for &id in ids {
                put_u64(&mut b, id);
            }
        }
        let crc = crc32c::crc32c(&b);
        put_u32(&mut b, crc);
        let m = Marker {
            outputs: vec![1, 2],
            replaced: vec![1, 2, 3],
        };
        assert_eq!(decode_marker(&b), Ok(m));
        let mut d = b.clone();
        d[12] ^= 1;
        assert!(decode_marker(&d).is_err());
        assert!(decode_marker(&b[..3]).is_err());
    }
}
