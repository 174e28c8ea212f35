//! Salvage (`persist recover`; SQLite's `.recover` is the model): reads a
//! damaged store without changing it, frame by frame, keeps every batch
//! whose frame checks out, skips damaged ranges (resyncing on the next
//! valid frame), and replays what survives into `Salvage`, which the tool
//! writes into a new store.
//!
//! Recovery (`recover`) refuses at the first damage, because the store's
//! state is then unknown; salvage goes on and says what it could not read.
//! It trusts a frame's checksum (rule 1) for the data; the manifest, when
//! it reads, for which segments exist and how long they are; the hint,
//! when it reads, only as evidence of what was there (each stream's last
//! seq, the last pos): a hint only ever covers fsync'd data.
//!
//! How loss is found. A stream's batches follow one another in log order
//! (each starts at the previous last seq + 1), so seqs missing between
//! surviving batches are lost. Seqs before a stream's first surviving
//! batch count as lost only when damage precedes that batch (otherwise a
//! compaction dropped them: truncated, not lost). Seqs past the last
//! surviving batch are known only through the hint. A kv change inside a
//! damaged range cannot be seen: a key may come back with an older value
//! or without a deletion; every damaged range is reported.
//!
//! A stream holds contiguous seqs (`Backend::restore`), so when records
//! are lost in the middle of a stream, the part after the last gap stays
//! under the stream's name at its original seqs, and the records before
//! it move, in order, to the stream `lost_and_found/<name>` (seqs from 1;
//! pos, `at`, id and data kept), as `.recover` fills `lost_and_found`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use super::batch::{self, EVENT_HEAD, Op, VALUE_HEAD};
use super::frame;
use super::hint;
use super::manifest::{self, Manifest};
use super::open::lock_shared;
use super::read::split_entry;
use super::segment::{self, HEADER_LEN};
use super::version::{self, Kind};
use crate::{Error, IdEntry, Record, Result, Value};

/// A byte range of a file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The file.
    pub path: PathBuf,
    /// `start..end` in the file (`0..0` for a file that is missing).
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// Why the range could not be used.
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.path.display();
        match self.end - self.start {
            0 => write!(f, "{p}: {}", self.reason),
            n => write!(
                f,
                "{p}: bytes {}..{} ({n}): {}",
                self.start, self.end, self.reason
            ),
        }
    }
}

/// One stream of the new store.
#[derive(Debug, Clone, PartialEq)]
pub struct SalvagedStream {
    /// Its name in the new store.
    pub name: String,
    /// Its high-water mark (lost seqs included, so they are never reused).
    pub last_seq: u64,
    /// The kept records: contiguous seqs ending at `last_seq` (or none).
    pub records: Vec<Record>,
    /// Seq ranges of this stream that did not survive.
    pub lost: Vec<RangeInclusive<u64>>,
    /// For a `lost_and_found/` stream: the stream its records came from,
    /// and their original seqs.
    pub moved_from: Option<(String, Vec<RangeInclusive<u64>>)>,
}

/// What survives of a store, ready to restore.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Salvage {
    /// Every stream that survives, `lost_and_found/` ones included.
    pub streams: Vec<SalvagedStream>,
    /// The kv entries as the surviving batches leave them.
    pub kv: BTreeMap<String, Value>,
    /// Used ids of records not restored (truncated, lost).
    pub ids: Vec<IdEntry>,
    /// The highest pos given, lost records' included.
    pub last_pos: u64,
    /// Every byte range skipped, and why.
    pub damage: Vec<Damage>,
    /// Things worth knowing that lost nothing.
    pub notes: Vec<String>,
    /// Batches that checked out and were replayed.
    pub batches: u64,
}

impl Salvage {
    /// Whether anything was lost or could not be read.
    pub fn lost_anything(&self) -> bool {
        !self.damage.is_empty() || self.streams.iter().any(|s| !s.lost.is_empty())
    }
}

/// One stream while replaying.
#[derive(Debug, Default)]
struct Replayed {
    /// Lowest seq that must be accounted for (kept or lost).
    floor: u64,
    /// Records below this were truncated.
    truncated: u64,
    last: u64,
    records: BTreeMap<u64, Record>,
}

#[derive(Default)]
struct Replay {
    streams: BTreeMap<String, Replayed>,
    kv: BTreeMap<String, Value>,
    ids: Vec<IdEntry>,
    last_pos: u64,
    damage: Vec<Damage>,
    notes: Vec<String>,
    batches: u64,
}

/// Reads what survives of the store in `dir`; changes nothing there (the
/// lock is taken shared, as by the other read-only tools, and released
/// before this returns).
pub fn salvage(dir: &Path) -> Result<Salvage> {
    if !dir.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such store directory");
        return Err(Error::io(dir, "recover", e));
    }
    let _lock = lock_shared(dir)?;
    let mut r = Replay::default();
    let files = r.segments(dir)?;
    // A manifest that lists segments none of which can be read is a store
    // that lost everything, to report as damage, not a directory that
    // never held a store.
    if files.is_empty() && r.damage.is_empty() {
        return Err(super::recover::not_a_store(dir));
    }
    for (id, path, durable) in files {
        r.segment(id, &path, durable)?;
    }
    r.hint_evidence(dir);
    Ok(r.finish())
}

impl Replay {
    fn damage(&mut self, path: &Path, start: u64, end: u64, reason: impl Into<String>) {
        self.damage.push(Damage {
            path: path.to_path_buf(),
            start,
            end,
            reason: reason.into(),
        });
    }

    /// The segments to read, in log order, with the length the manifest
    /// records as durable. A manifest that reads decides which files make
    /// up the store (a committed compaction's output may still be under
    /// its temp name); without one, every segment file in the directory.
    fn segments(&mut self, dir: &Path) -> Result<Vec<(u64, PathBuf, u64)>> {
        let present = segment::list(dir)?;
        let listed: Option<Manifest> = match manifest::load(dir) {
            Ok(m) => m,
            // Not damage: this build cannot judge what a newer one wrote.
            Err(e @ Error::NewerFormat { .. }) => return Err(e),
            Err(e) => {
                let path = dir.join(manifest::FILE);
                self.damage(&path, 0, 0, format!("{e}; every segment file is read"));
                None
            }
        };
        let Some(m) = listed else {
            return Ok(present
                .into_iter()
                .map(|id| (id, dir.join(segment::file_name(id)), 0))
                .collect());
        };
        let mut out = Vec::new();
        for e in &m.segs {
            let own = dir.join(segment::file_name(e.id));
            let tmp = dir.join(super::compact::tmp_name(e.id));
            let mut path = None;
            for p in [own, tmp] {
                if nonce_of(&p, e.id)? == Some(e.nonce) {
                    path = Some(p);
                    break;
                }
            }
            match path {
                Some(p) => out.push((e.id, p, e.len)),
                None => {
                    let path = dir.join(segment::file_name(e.id));
                    let what = if path.exists() {
                        "replaced by another file"
                    } else {
                        "missing"
                    };
                    let reason = format!(
                        "segment {} is {what}; the manifest lists it with {} bytes{}",
                        e.id,
                        e.len,
                        e.holding()
                    );
                    self.damage(&path, 0, 0, reason);
                }
            }
        }
        let last = m.last().map_or(0, |e| e.id);
        for id in present.into_iter().filter(|&id| m.get(id).is_none()) {
            let name = segment::file_name(id);
            if id > last {
                out.push((id, dir.join(name), 0));
            } else {
                self.notes.push(format!(
                    "{name} is not listed in the manifest (replaced by a compaction): not read"
                ));
            }
        }
        Ok(out)
    }

    /// Replays every valid frame of one segment; `durable` is how far the
    /// manifest says it held acknowledged data (0: unknown).
    fn segment(&mut self, id: u64, path: &Path, durable: u64) -> Result<()> {
        let buf = std::fs::read(path).map_err(|e| Error::io(path, "read segment", e))?;
        let len = buf.len() as u64;
        let hl = HEADER_LEN as usize;
        match buf.get(..hl).ok_or("segment header incomplete".to_string()) {
            Ok(h) => {
                if let Some(newer) = version::newer(Kind::Segment, path, h) {
                    return Err(newer);
                }
                if let Err(msg) = segment::parse_header(h, id) {
                    self.damage(
                        path,
                        0,
                        HEADER_LEN,
                        format!("{msg}; its frames are read anyway"),
                    );
                }
            }
            Err(msg) => self.damage(path, 0, len, msg),
        }
        if len < durable {
            let reason = format!(
                "the file ends {} bytes before the durable length the manifest lists",
                durable - len
            );
            self.damage(path, len, durable, reason);
        }
        let mut off = hl;
        while off < buf.len() {
            let rest = &buf[off..];
            let bad = match frame::parse(rest) {
                Ok(h) => {
                    let fr = &rest[..frame::HEADER + h.len as usize];
                    match batch::decode(fr, frame::HEADER) {
                        Ok(ops) => {
                            self.batches += 1;
                            self.apply(path, off as u64, fr, &ops);
                        }
                        Err(msg) => self.damage(path, off as u64, (off + fr.len()) as u64, msg),
                    }
                    off += fr.len();
                    continue;
                }
                Err(msg) => msg,
            };
            if rest.iter().all(|&b| b == 0) {
                // Free space (preallocation), unless acknowledged data was there.
                if (off as u64) < durable {
                    let reason = "zeros where the manifest records acknowledged batches";
                    self.damage(path, off as u64, durable.min(len), reason);
                }
                break;
            }
            let next = (off + 1..buf.len())
                .find(|&o| frame::parse(&buf[o..]).is_ok())
                .unwrap_or(buf.len());
            self.damage(path, off as u64, next as u64, bad);
            off = next;
        }
        Ok(())
    }

    /// Applies one valid batch. Never fails: whatever does not fit is
    /// reported as damage at the frame.
    fn apply(&mut self, path: &Path, off: u64, fr: &[u8], ops: &[Op<'_>]) {
        for op in ops {
            match op {
                Op::Events {
                    stream,
                    first,
                    last,
                    events,
                } => {
                    // Damage to the manifest alone hides no batch.
                    let damage_before = self
                        .damage
                        .iter()
                        .any(|d| !d.path.ends_with(manifest::FILE));
                    let s = self
                        .streams
                        .entry(stream.to_string())
                        .or_insert_with(|| Replayed {
                            floor: if damage_before { 1 } else { *first },
                            truncated: 1,
                            ..Replayed::default()
                        });
                    s.last = s.last.max(*last);
                    let mut bad = Vec::new();
                    for (i, e) in events.iter().enumerate() {
                        let seq = first + i as u64;
                        let pos = e.pos.unwrap_or(self.last_pos + 1);
                        self.last_pos = self.last_pos.max(pos);
                        match entry_json(fr, e.off, EVENT_HEAD) {
                            Ok(data) if seq >= s.truncated => {
                                let rec = Record {
                                    stream: stream.to_string(),
                                    seq,
                                    pos,
                                    at: e.at,
                                    id: e.id.map(str::to_string),
                                    data,
                                };
                                s.records.insert(seq, rec);
                            }
                            Ok(_) => {}
                            Err(msg) => bad.push(format!("stream {stream:?} seq {seq}: {msg}")),
                        }
                    }
                    for msg in bad {
                        self.damage(path, off, off, msg);
                    }
                }
                Op::Truncate { stream, through } => {
                    let s = self.streams.entry(stream.to_string()).or_default();
                    let from = through.saturating_add(1);
                    s.truncated = s.truncated.max(from);
                    s.floor = s.floor.max(from);
                    s.records = s.records.split_off(&from);
                }
                Op::KvPut { key, off: at, .. } => match entry_json(fr, *at, VALUE_HEAD) {
                    Ok(v) => {
                        self.kv.insert(key.to_string(), v);
                    }
                    Err(msg) => self.damage(path, off, off, format!("key {key:?}: {msg}")),
                },
                Op::KvDel { key } => {
                    self.kv.remove(*key);
                }
                Op::Ids(ids) => self.ids.extend(ids.iter().map(|(id, stream, seq)| IdEntry {
                    id: id.to_string(),
                    stream: stream.to_string(),
                    seq: *seq,
                })),
                Op::LastPos(p) => self.last_pos = self.last_pos.max(*p),
            }
        }
    }

    /// Raises each stream's last seq (and the last pos) to what a readable
    /// hint saw, so records lost past the last surviving batch are counted
    /// and their seqs and pos never given out again.
    fn hint_evidence(&mut self, dir: &Path) {
        match hint::load(dir) {
            None => {}
            Some(Err(msg)) => {
                let path = dir.join(hint::FILE);
                self.notes.push(format!(
                    "{}: not used ({msg}); records lost at the end of a stream may go uncounted",
                    path.display()
                ));
            }
            Some(Ok(h)) => {
                self.last_pos = self.last_pos.max(h.index.global.last_pos());
                for (name, hs) in &h.index.streams {
                    let s = self
                        .streams
                        .entry(name.clone())
                        .or_insert_with(|| Replayed {
                            floor: hs.first,
                            truncated: hs.first,
                            ..Replayed::default()
                        });
                    s.last = s.last.max(hs.last);
                }
            }
        }
    }

    fn finish(self) -> Salvage {
        let mut out = Salvage {
            kv: self.kv,
            last_pos: self.last_pos,
            damage: self.damage,
            notes: self.notes,
            batches: self.batches,
            ..Salvage::default()
        };
        let names: BTreeSet<String> = self.streams.keys().cloned().collect();
        let mut restored_ids = BTreeSet::new();
        for (name, s) in self.streams {
            let floor = s.floor.max(s.truncated).max(1);
            let lost = missing(floor, s.last, &s.records);
            let cut = lost.last().map_or(0, |r| *r.end());
            let mut kept: Vec<Record> = s.records.into_values().collect();
            let moved: Vec<Record> = {
                let at = kept.partition_point(|r| r.seq < cut);
                kept.drain(..at).collect()
            };
            restored_ids.extend(kept.iter().chain(&moved).filter_map(|r| r.id.clone()));
            if !moved.is_empty() {
                let to = free_name(&names, &name);
                let seqs = ranges(moved.iter().map(|r| r.seq));
                let records = moved
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| Record {
                        stream: to.clone(),
                        seq: i as u64 + 1,
                        ..r
                    })
                    .collect::<Vec<_>>();
                out.streams.push(SalvagedStream {
                    name: to,
                    last_seq: records.len() as u64,
                    records,
                    lost: Vec::new(),
                    moved_from: Some((name.clone(), seqs)),
                });
            }
            out.streams.push(SalvagedStream {
                name,
                last_seq: s.last,
                records: kept,
                lost,
                moved_from: None,
            });
        }
        out.streams.sort_by(|a, b| a.name.cmp(&b.name));
        let mut seen = BTreeSet::new();
        out.ids = self
            .ids
            .into_iter()
            .filter(|e| !restored_ids.contains(&e.id) && seen.insert(e.id.clone()))
            .collect();
        out
    }
}

/// The nonce in the header of segment file `path`, if it reads and checks;
/// `NewerFormat` when a newer persist wrote it.
fn nonce_of(path: &Path, id: u64) -> Result<Option<u64>> {
    use std::io::Read;
    let mut h = [0u8; HEADER_LEN as usize];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut h));
    if read.is_err() {
        return Ok(None);
    }
    match version::newer(Kind::Segment, path, &h) {
        Some(e) => Err(e),
        None => Ok(segment::parse_header(&h, id).ok()),
    }
}

/// The value of the entry at `at` of a frame, checked.
fn entry_json(fr: &[u8], at: usize, head: usize) -> std::result::Result<Value, String> {
    let json = match fr.get(at..).and_then(|b| split_entry(b, head)) {
        Some(r) => r?,
        None => return Err("short record entry".into()),
    };
    serde_json::from_slice(json).map_err(|e| format!("stored value is not JSON: {e}"))
}

/// The seqs in `from..=to` that `have` lacks, as ranges.
fn missing(from: u64, to: u64, have: &BTreeMap<u64, Record>) -> Vec<RangeInclusive<u64>> {
    let mut out = Vec::new();
    let mut next = from;
    for &seq in have.range(from..=to.max(from)).map(|(s, _)| s) {
        if seq > next {
            out.push(next..=seq - 1);
        }
        next = seq + 1;
    }
    if next <= to {
        out.push(next..=to);
    }
    out
}

/// Ascending seqs as ranges: 1,2,3,7 -> 1..=3, 7..=7.
fn ranges(seqs: impl Iterator<Item = u64>) -> Vec<RangeInclusive<u64>> {
    let mut out: Vec<RangeInclusive<u64>> = Vec::new();
    for s in seqs {
        match out.last_mut() {
            Some(r) if *r.end() + 1 == s => *r = *r.start()..=s,
            _ => out.push(s..=s),
        }
    }
    out
}

/// `lost_and_found/<name>`, numbered if a stream already has that name.
fn free_name(names: &BTreeSet<String>, name: &str) -> String {
    let base = format!("lost_and_found/{name}");
    (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                format!("{base} ({i})")
            }
        })
        .find(|n| !names.contains(n))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_ranges() {
        let have: BTreeMap<u64, Record> = [2u64, 3, 6]
            .into_iter()
            .map(|seq| {
                let r = Record {
                    stream: "s".into(),
                    seq,
                    pos: seq,
                    at: 0,
                    id: None,
                    data: Value::Null,
                };
                (seq, r)
            })
            .collect();
        assert_eq!(missing(1, 8, &have), vec![1..=1, 4..=5, 7..=8]);
        assert_eq!(missing(2, 3, &have), vec![]);
        assert_eq!(missing(1, 0, &have), vec![]);
        assert_eq!(ranges([1, 2, 3, 7].into_iter()), vec![1..=3, 7..=7]);
    }
}
