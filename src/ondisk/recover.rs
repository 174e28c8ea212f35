//! Opening a store directory: STORAGE rules 4 and 5.
//!
//! Order: finish or discard an interrupted compaction and delete temp files;
//! check segment headers; load the hint if it matches the segments; scan
//! what the hint does not cover, applying whole batches; cut a torn tail of
//! the last segment; refuse to open on damage anywhere else. Zeros from a
//! frame boundary to the end of the last segment are free space left by
//! preallocation, not a torn tail (see `replay`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch;
use super::compact;
use super::fault::Io;
use super::hint::{self, SegMeta};
use super::index::{Index, pack};
use super::read::SegRef;
use super::segment::{self, HEADER_LEN};
use crate::{Error, Result};

/// A torn tail that recovery cut off the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    /// Where the file now ends: the end of the last whole batch.
    pub offset: u64,
    pub bytes_cut: u64,
    /// Why the first cut byte did not start a valid frame.
    pub reason: String,
}

/// What `DiskLog::open` found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub torn: Option<TornTail>,
    /// The hint was valid and only the log after it was scanned.
    pub hint_used: bool,
    /// Why an existing hint was not used (it is only a cache).
    pub hint_rejected: Option<String>,
    /// Interrupted compaction finished, temp files removed.
    pub notes: Vec<String>,
}

/// An open segment with the nonce from its header.
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    pub r: SegRef,
    pub nonce: u64,
}

pub(crate) struct Recovered {
    pub index: Index,
    pub segs: BTreeMap<u64, Seg>,
    pub report: OpenReport,
}

fn corrupt(path: &Path, offset: u64, msg: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        msg: msg.into(),
    }
}

/// Opens every segment and checks its header. A last segment too short to
/// hold a whole header (a crash while creating it, before anything was
/// acknowledged in it) is removed and reported as torn.
fn open_segments(io: &Io, dir: &Path, report: &mut OpenReport) -> Result<BTreeMap<u64, Seg>> {
    let ids = segment::list(dir)?;
    let mut segs = BTreeMap::new();
    for (i, &id) in ids.iter().enumerate() {
        let path = dir.join(segment::file_name(id));
        let file = segment::open(&path)?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(&path, "stat segment", e))?
            .len();
        let is_last = i + 1 == ids.len();
        let nonce = match segment::read_header(&file, &path, id) {
            Ok(n) => n,
            Err(Error::Io { .. } | Error::Corrupt { .. }) if is_last && len <= HEADER_LEN => {
                drop(file);
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, "remove", e))?;
                io.sync_dir(dir)?;
                report.torn = Some(TornTail {
                    path,
                    offset: 0,
                    bytes_cut: len,
                    reason: "segment header incomplete".into(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let r = SegRef {
            file: Arc::new(file),
            path: Arc::new(path),
            len,
        };
        segs.insert(id, Seg { r, nonce });
    }
    Ok(segs)
}

/// Whether the hint describes exactly these segments, given as
/// id -> (nonce, length); the last may have grown since. Returns the reason
/// when it does not.
pub(crate) fn hint_matches(
    metas: &[SegMeta],
    segs: &BTreeMap<u64, (u64, u64)>,
) -> Result<(), String> {
    let Some(last) = metas.last() else {
        return Err("hint names no segments".into());
    };
    let covered: Vec<u64> = segs.keys().copied().filter(|&id| id <= last.id).collect();
    let named: Vec<u64> = metas.iter().map(|m| m.id).collect();
    if covered != named {
        return Err(format!(
            "hint names segments {named:?}, directory has {covered:?}"
        ));
    }
    for m in metas {
        let Some(&(nonce, len)) = segs.get(&m.id) else {
            return Err(format!("segment {} is missing", m.id));
        };
        let len_ok = if m.id == last.id {
            len >= m.len
        } else {
            len == m.len
        };
        if nonce != m.nonce || !len_ok {
            return Err(format!(
                "segment {} changed since the hint was written",
                m.id
            ));
        }
    }
    Ok(())
}

fn seg_lens(segs: &BTreeMap<u64, Seg>) -> BTreeMap<u64, (u64, u64)> {
    segs.iter()
        .map(|(&id, s)| (id, (s.nonce, s.r.len)))
        .collect()
}

/// Replays frames of segment `id` from `start`, cutting a torn tail if it is
/// the last segment. Sets the segment's length to where its frames end (the
/// file may be longer: preallocated zeros are left in place).
fn replay(
    io: &Io,
    index: &mut Index,
    id: u64,
    seg: &mut Seg,
    start: u64,
    is_last: bool,
) -> Result<Option<TornTail>> {
    let path = seg.r.path.clone();
    let stop = segment::scan(&seg.r.file, &path, start, seg.r.len, |off, fr| {
        let ops = batch::decode(fr, super::frame::HEADER);
        ops.and_then(|ops| index.apply(pack(id, off), &ops))
            .map_err(|msg| corrupt(&path, off, msg))
    })?;
    let Some(bad) = stop else {
        return Ok(None);
    };
    if !is_last {
        return Err(corrupt(&path, bad.off, bad.msg));
    }
    // Free space: the active segment is extended ahead of its writes
    // (`DiskLog::preallocate`), so its file may end in zeros. Zeros from a
    // frame boundary to the end of the file hold no frame (rule 1) and no
    // part of one: the log ends at `bad.off` and the next append goes
    // there; nothing is cut or reported. Any non-zero byte after the last
    // valid frame is judged as before (torn tail or corruption). Sealed
    // segments never end in zeros (trimmed when rolled), so this applies
    // to the last segment only.
    if segment::zeros_to_end(&seg.r.file, &path, bad.off, seg.r.len)? {
        seg.r.len = bad.off;
        return Ok(None);
    }
    if segment::synced_past(&seg.r.file, &path, bad.off, seg.r.len)? {
        return Err(corrupt(
            &path,
            bad.off,
            format!(
                "{} (a later batch shows this data had been synced)",
                bad.msg
            ),
        ));
    }
    // A torn write: nothing from `bad.off` on was acknowledged.
    seg.r
        .file
        .set_len(bad.off)
        .map_err(|e| Error::io(&*path, "cut torn tail", e))?;
    io.sync(&seg.r.file, &path)?;
    let torn = TornTail {
        path: (*path).clone(),
        offset: bad.off,
        bytes_cut: seg.r.len - bad.off,
        reason: bad.msg,
    };
    seg.r.len = bad.off;
    Ok(Some(torn))
}

/// Checks the checksum of every frame the hint covers, without decoding
/// them. Returns where the first bad one is: the hint is then not used, and
/// the full scan decides, from the log alone, whether it is a torn tail or
/// corruption, so the answer never depends on the hint.
fn check_frames(metas: &[SegMeta], segs: &BTreeMap<u64, Seg>) -> Result<Option<String>> {
    for m in metas {
        let Some(seg) = segs.get(&m.id) else {
            continue;
        };
        let path = &seg.r.path;
        if let Some(bad) = segment::scan(&seg.r.file, path, HEADER_LEN, m.len, |_, _| Ok(()))? {
            let at = format!("{}: offset {}", path.display(), bad.off);
            return Ok(Some(format!("{at}: {} under the hint", bad.msg)));
        }
    }
    Ok(None)
}

/// Recovers the store in `dir` (already locked by the caller). With
/// `check_hinted`, frames a valid hint covers have their checksums checked
/// too, so damage anywhere stops the open.
pub(crate) fn recover(io: &Io, dir: &Path, check_hinted: bool) -> Result<Recovered> {
    let mut report = OpenReport {
        notes: compact::recover(io, dir)?,
        ..OpenReport::default()
    };
    let mut segs = open_segments(io, dir, &mut report)?;
    let mut index = Index::default();
    let mut from = (0, 0);
    match hint::load(dir) {
        None => {}
        Some(Err(msg)) => report.hint_rejected = Some(msg),
        Some(Ok(h)) => match hint_matches(&h.segs, &seg_lens(&segs)) {
            Err(msg) => report.hint_rejected = Some(msg),
            Ok(()) if check_hinted && let Some(msg) = check_frames(&h.segs, &segs)? => {
                // Judged by the log alone, exactly as without a hint.
                report.hint_rejected = Some(msg);
            }
            Ok(()) => {
                if let Some(last) = h.segs.last() {
                    from = (last.id, last.len);
                }
                index = h.index;
                report.hint_used = true;
            }
        },
    }
    let last_id = segs.keys().next_back().copied();
    for (&id, seg) in segs.range_mut(from.0..) {
        let start = if id == from.0 { from.1 } else { HEADER_LEN };
        if let Some(t) = replay(io, &mut index, id, seg, start, Some(id) == last_id)? {
            report.torn = Some(t);
        }
    }
    if segs.is_empty() {
        // A new store, or one whose only segment was a torn creation.
        let id = 1;
        let (file, nonce) = segment::create(io, dir, &segment::file_name(id), id)?;
        let r = SegRef {
            file: Arc::new(file),
            path: Arc::new(dir.join(segment::file_name(id))),
            len: HEADER_LEN,
        };
        segs.insert(id, Seg { r, nonce });
    } else if let Some(last) = segs.values().next_back() {
        // What a killed process left in the page cache may never have been
        // fsync'd; the store treats everything it recovered as durable.
        io.sync(&last.r.file, &last.r.path)?;
    }
    Ok(Recovered {
        index,
        segs,
        report,
    })
}
