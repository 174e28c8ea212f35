//! Opening a store directory: STORAGE rules 4 and 5, judged against the
//! manifest (see `manifest`).
//!
//! Order: open the segments the manifest lists, finishing a committed
//! compaction and removing what it or a crash left behind; check each
//! segment's header and length against the manifest; load the hint if it
//! matches the segments; scan what the hint does not cover, applying whole
//! batches; cut a torn tail of the last segment past its durable end;
//! refuse to open on damage anywhere else; write the manifest describing
//! what was recovered.
//!
//! In `Mode::ReadOnly` (the tools, `verify`) nothing is changed: every
//! repair is reported in `OpenReport` as what the next open will do, and
//! the view is the one that open would give.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch;
use super::compact;
use super::fault::Io;
use super::hint::{self, SegMeta};
use super::index::{Index, pack};
use super::manifest::{self, Entry, Manifest};
use super::read::SegRef;
use super::segment::{self, HEADER_LEN};
use crate::{Error, Result};

/// A torn tail that recovery cut off the last segment (or, read-only,
/// would cut).
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
    /// Interrupted compaction finished, temp files removed (read-only:
    /// what the next open will do).
    pub notes: Vec<String>,
}

/// Whether recovery may change the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Open for writing: repair (cut, finish, remove) and fsync.
    Repair,
    /// Change nothing; report what `Repair` would do.
    ReadOnly,
}

/// How to recover.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub mode: Mode,
    /// Use a matching hint instead of replaying what it covers.
    pub use_hint: bool,
    /// Check the checksum of every frame a used hint covers.
    pub check_hinted: bool,
    /// Keep a copy of the index as it stands at this log position.
    pub capture: Option<(u64, u64)>,
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
    /// Frames replayed (not those a used hint covered).
    pub batches: u64,
    /// The index at `Plan::capture`, if the replay passed it.
    pub captured: Option<Index>,
}

fn corrupt(path: &Path, offset: u64, msg: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        msg: msg.into(),
    }
}

/// The error for a directory that holds no store.
pub(crate) fn not_a_store(dir: &Path) -> Error {
    Error::io(
        dir,
        "open store",
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a persist store: no segments",
        ),
    )
}

fn open_file(path: &Path, mode: Mode) -> Result<File> {
    match mode {
        Mode::Repair => segment::open(path),
        Mode::ReadOnly => File::open(path).map_err(|e| Error::io(path, "open segment", e)),
    }
}

fn file_len(file: &File, path: &Path) -> Result<u64> {
    Ok(file
        .metadata()
        .map_err(|e| Error::io(path, "stat segment", e))?
        .len())
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, "remove", e)),
        _ => Ok(()),
    }
}

/// A file in the directory, if it exists: opened, with its length and what
/// its segment header says (the nonce, or why it is not valid).
struct Found {
    file: File,
    len: u64,
    header: Result<u64>,
}

fn find(path: &Path, id: u64, mode: Mode) -> Result<Option<Found>> {
    if !path.exists() {
        return Ok(None);
    }
    let file = open_file(path, mode)?;
    let len = file_len(&file, path)?;
    let header = segment::read_header(&file, path, id);
    Ok(Some(Found { file, len, header }))
}

/// Opens the segments of a store without a manifest (a new store, or one
/// written before manifests): every segment file in the directory. A last
/// segment too short to hold a whole header (a crash while creating it) is
/// removed and reported as torn.
fn open_unlisted(
    io: &Io,
    dir: &Path,
    mode: Mode,
    report: &mut OpenReport,
) -> Result<BTreeMap<u64, Seg>> {
    let ids = segment::list(dir)?;
    let mut segs = BTreeMap::new();
    for (i, &id) in ids.iter().enumerate() {
        let path = dir.join(segment::file_name(id));
        let Some(f) = find(&path, id, mode)? else {
            continue;
        };
        let nonce = match f.header {
            Ok(n) => n,
            Err(_) if i + 1 == ids.len() && f.len <= HEADER_LEN => {
                drop(f.file);
                torn_creation(io, dir, &path, f.len, mode, report)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let r = SegRef {
            file: Arc::new(f.file),
            path: Arc::new(path),
            len: f.len,
        };
        segs.insert(id, Seg { r, nonce });
    }
    Ok(segs)
}

/// The last segment's creation was cut short: nothing was ever written to
/// it. Removed (read-only: reported).
fn torn_creation(
    io: &Io,
    dir: &Path,
    path: &Path,
    len: u64,
    mode: Mode,
    report: &mut OpenReport,
) -> Result<()> {
    if mode == Mode::Repair {
        remove(path)?;
        io.sync_dir(dir)?;
    }
    report.torn = Some(TornTail {
        path: path.to_path_buf(),
        offset: 0,
        bytes_cut: len,
        reason: "segment header incomplete".into(),
    });
    Ok(())
}

/// Opens the segments the manifest lists. A listed segment still under its
/// compaction temp name is a committed compaction output: renamed into
/// place (read-only: read from the temp). Segments it does not list below
/// its last are what that compaction replaced: removed. A listed segment
/// that is missing, another file, or shorter than listed is damage.
fn open_listed(
    io: &Io,
    dir: &Path,
    m: &Manifest,
    mode: Mode,
    report: &mut OpenReport,
) -> Result<BTreeMap<u64, Seg>> {
    let mut segs = BTreeMap::new();
    let mut changed = false;
    let last_id = m.last().map_or(0, |e| e.id);
    for e in &m.segs {
        let is_last = e.id == last_id;
        let path = dir.join(segment::file_name(e.id));
        let found = find(&path, e.id, mode)?;
        let (file, len, used) = match found {
            Some(f) if f.header.as_ref().is_ok_and(|&n| n == e.nonce) => (f.file, f.len, path),
            found => {
                let tmp = dir.join(compact::tmp_name(e.id));
                match find(&tmp, e.id, mode)? {
                    Some(t) if t.header.as_ref().is_ok_and(|&n| n == e.nonce) => {
                        changed |= mode == Mode::Repair;
                        report.notes.push(finish_note(e.id, mode));
                        if mode == Mode::Repair {
                            std::fs::rename(&tmp, &path)
                                .map_err(|err| Error::io(&path, "rename", err))?;
                            (t.file, t.len, path)
                        } else {
                            (t.file, t.len, tmp)
                        }
                    }
                    _ => {
                        return Err(match found {
                            None => corrupt(
                                &path,
                                0,
                                format!(
                                    "segment {} is missing; the manifest lists it with {} bytes",
                                    e.id, e.len
                                ),
                            ),
                            Some(f) => not_listed_file(&path, e, f.header),
                        });
                    }
                }
            }
        };
        check_len(&used, e, len, is_last)?;
        let r = SegRef {
            file: Arc::new(file),
            path: Arc::new(used),
            len,
        };
        segs.insert(e.id, Seg { r, nonce: e.nonce });
    }
    for id in segment::list(dir)? {
        if m.get(id).is_some() {
            continue;
        }
        let path = dir.join(segment::file_name(id));
        if id > last_id {
            // Created by a roll that crashed before listing it (see
            // `DiskLog::roll`): nothing was written to it past its header.
            let len = std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, "stat segment", e))?
                .len();
            if id == last_id + 1 && len <= HEADER_LEN {
                torn_creation(io, dir, &path, len, mode, report)?;
                continue;
            }
            let msg = format!("segment {id} is not listed in the manifest (last listed: {last_id})");
            return Err(corrupt(&path, 0, msg));
        }
        // Replaced by a committed compaction; nothing in it is live.
        if mode == Mode::Repair {
            remove(&path)?;
            changed = true;
            report.notes.push(format!("removed segment {id}, replaced by a compaction"));
        } else {
            let note = format!("segment {id} was replaced by a compaction and will be removed on open");
            report.notes.push(note);
        }
    }
    if changed {
        io.sync_dir(dir)?;
    }
    Ok(segs)
}

fn finish_note(id: u64, mode: Mode) -> String {
    match mode {
        Mode::Repair => format!("finished an interrupted compaction: installed segment {id}"),
        Mode::ReadOnly => {
            format!("an interrupted compaction will be finished on open (segment {id})")
        }
    }
}

/// A listed segment's file is not the one the manifest names.
fn not_listed_file(path: &Path, e: &Entry, header: Result<u64>) -> Error {
    match header {
        Err(err) => err,
        Ok(_) => corrupt(
            path,
            0,
            format!(
                "segment {} is not the file the manifest lists (its nonce differs)",
                e.id
            ),
        ),
    }
}

/// A sealed segment has exactly its listed length (it was trimmed and
/// fsync'd before being listed as sealed); the last one at least its
/// listed durable length.
fn check_len(path: &Path, e: &Entry, len: u64, is_last: bool) -> Result<()> {
    if len < e.len {
        let msg = format!(
            "segment {} ends at {len}, but the manifest records {} bytes as durable: \
             {} bytes of acknowledged batches are missing",
            e.id,
            e.len,
            e.len - len
        );
        return Err(corrupt(path, len, msg));
    }
    if !is_last && len > e.len {
        let msg = format!(
            "sealed segment {} has {} bytes past the end the manifest records",
            e.id,
            len - e.len
        );
        return Err(corrupt(path, e.len, msg));
    }
    Ok(())
}

/// Temp files nothing refers to: removed (read-only: reported).
fn stray_temps(io: &Io, dir: &Path, mode: Mode, report: &mut OpenReport) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    let mut removed = false;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".compact") || name.ends_with(".tmp") {
            if mode == Mode::Repair {
                remove(&entry.path())?;
                removed = true;
                report.notes.push(format!("removed stray temp file {name}"));
            } else {
                report.notes.push(format!("temp file {name} will be removed on open"));
            }
        }
    }
    if removed {
        io.sync_dir(dir)?;
    }
    Ok(())
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

/// Recovers the store in `dir` (locked by the caller).
/// `progress(bytes replayed, bytes in all segments)` is told as it goes, a
/// segment at a time.
pub(crate) fn recover(
    io: &Io,
    dir: &Path,
    plan: Plan,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Recovered> {
    let mode = plan.mode;
    let mut report = OpenReport::default();
    let listed = manifest::load(dir)?;
    let mut segs = match &listed {
        Some(m) => open_listed(io, dir, m, mode, &mut report)?,
        None => {
            match mode {
                Mode::Repair => report.notes = compact::recover_legacy(io, dir)?,
                Mode::ReadOnly => compact::check_legacy(dir)?,
            }
            open_unlisted(io, dir, mode, &mut report)?
        }
    };
    stray_temps(io, dir, mode, &mut report)?;
    if segs.is_empty() && mode == Mode::ReadOnly {
        return Err(not_a_store(dir));
    }
    let mut index = Index::default();
    let mut from = (0, 0);
    if plan.use_hint {
        match hint::load(dir) {
            None => {}
            Some(Err(msg)) => report.hint_rejected = Some(msg),
            Some(Ok(h)) => match hint_matches(&h.segs, &seg_lens(&segs)) {
                Err(msg) => report.hint_rejected = Some(msg),
                Ok(()) if plan.check_hinted && let Some(msg) = check_frames(&h.segs, &segs)? => {
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
    }
    let mut replay = Replay {
        io,
        mode,
        index,
        batches: 0,
        capture: plan.capture,
        captured: None,
    };
    let last_id = segs.keys().next_back().copied();
    let total = segs.values().map(|s| s.r.len).sum();
    let mut done = 0;
    for (&id, seg) in segs.range_mut(from.0..) {
        progress(done, total);
        done += seg.r.len;
        let start = if id == from.0 { from.1 } else { HEADER_LEN };
        // Only the last segment can have a torn tail, and only past what
        // the manifest records as durable in it (a sealed one: all of it).
        let durable = listed
            .as_ref()
            .and_then(|m| m.get(id))
            .map_or(HEADER_LEN, |e| e.len);
        let tail = (Some(id) == last_id).then_some(durable);
        if let Some(t) = replay.segment(id, seg, start, tail)? {
            report.torn = Some(t);
        }
    }
    progress(total, total);
    if mode == Mode::Repair {
        settle(io, dir, &mut segs, listed.as_ref())?;
    }
    Ok(Recovered {
        index: replay.index,
        segs,
        report,
        batches: replay.batches,
        captured: replay.captured,
    })
}

/// After a repairing recovery: a store with no segment gets its first;
/// what was recovered is made durable and written to the manifest.
fn settle(
    io: &Io,
    dir: &Path,
    segs: &mut BTreeMap<u64, Seg>,
    listed: Option<&Manifest>,
) -> Result<()> {
    if let Some(last) = segs.values().next_back() {
        // What a killed process left in the page cache may never have been
        // fsync'd; the store treats everything it recovered as durable.
        io.sync(&last.r.file, &last.r.path)?;
    } else {
        // A new store, or one whose only segment was a torn creation.
        let id = 1;
        let name = segment::file_name(id);
        let nonce = segment::new_nonce();
        let file = segment::create(io, dir, &name, id, nonce)?;
        let r = SegRef {
            file: Arc::new(file),
            path: Arc::new(dir.join(name)),
            len: HEADER_LEN,
        };
        segs.insert(id, Seg { r, nonce });
    }
    let now = Manifest {
        segs: segs
            .iter()
            .map(|(&id, s)| Entry {
                id,
                nonce: s.nonce,
                len: s.r.len,
            })
            .collect(),
    };
    if listed != Some(&now) {
        manifest::write(io, dir, &now)?;
    }
    Ok(())
}

/// Replays frames into an index.
struct Replay<'a> {
    io: &'a Io,
    mode: Mode,
    index: Index,
    batches: u64,
    capture: Option<(u64, u64)>,
    captured: Option<Index>,
}

impl Replay<'_> {
    fn capture_at(&mut self, id: u64, off: u64) {
        if self.capture == Some((id, off)) {
            self.captured = Some(self.index.clone());
        }
    }

    /// Replays frames of segment `id` from `start`. `durable` is given for
    /// the last segment: up to there its data was durable, past it a torn
    /// tail is cut (read-only: reported). Sets the segment's length to
    /// where its frames end (the file may be longer: preallocated zeros are
    /// left in place).
    fn segment(
        &mut self,
        id: u64,
        seg: &mut Seg,
        start: u64,
        durable: Option<u64>,
    ) -> Result<Option<TornTail>> {
        let path = seg.r.path.clone();
        let stop = segment::scan(&seg.r.file, &path, start, seg.r.len, |off, fr| {
            self.capture_at(id, off);
            self.batches += 1;
            let ops = batch::decode(fr, super::frame::HEADER);
            ops.and_then(|ops| self.index.apply(pack(id, off), &ops))
                .map_err(|msg| corrupt(&path, off, msg))
        })?;
        let Some(bad) = stop else {
            self.capture_at(id, seg.r.len);
            return Ok(None);
        };
        let Some(durable) = durable else {
            return Err(corrupt(&path, bad.off, bad.msg));
        };
        if bad.off < durable {
            let msg = format!(
                "{}; the manifest records this segment as durable up to offset {durable}, \
                 so {} bytes of acknowledged batches from here are damaged",
                bad.msg,
                durable - bad.off
            );
            return Err(corrupt(&path, bad.off, msg));
        }
        self.capture_at(id, bad.off);
        // Free space: the active segment is extended ahead of its writes
        // (`DiskLog::preallocate`), so its file may end in zeros. Zeros from
        // a frame boundary at or past the durable end to the end of the
        // file hold no frame (rule 1) and no part of one: the log ends at
        // `bad.off`; nothing is cut or reported. Any non-zero byte after
        // the last valid frame is judged as before (torn tail or
        // corruption).
        if segment::zeros_to_end(&seg.r.file, &path, bad.off, seg.r.len)? {
            seg.r.len = bad.off;
            return Ok(None);
        }
        if segment::synced_past(&seg.r.file, &path, bad.off, seg.r.len)? {
            let msg = format!(
                "{} (a later batch shows this data had been synced)",
                bad.msg
            );
            return Err(corrupt(&path, bad.off, msg));
        }
        // A torn write: nothing from `bad.off` on was acknowledged.
        if self.mode == Mode::Repair {
            seg.r
                .file
                .set_len(bad.off)
                .map_err(|e| Error::io(&*path, "cut torn tail", e))?;
            self.io.sync(&seg.r.file, &path)?;
        }
        let torn = TornTail {
            path: (*path).clone(),
            offset: bad.off,
            bytes_cut: seg.r.len - bad.off,
            reason: bad.msg,
        };
        seg.r.len = bad.off;
        Ok(Some(torn))
    }
}
