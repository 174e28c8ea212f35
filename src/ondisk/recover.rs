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
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch;
use super::check::{self, Checker};
use super::compact;
use super::fault::Io;
use super::hint::{self, SegMeta};
use super::hint_source::Source;
use super::index::{Index, pack};
use super::layout;
use super::manifest::{self, Entry, Manifest};
use super::read::SegRef;
use super::segment::{self, HEADER_LEN};
use crate::{Error, Result};

/// A torn tail that recovery cut off the last segment (or, read-only,
/// would cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment's file.
    pub path: PathBuf,
    /// Where the file now ends: the end of the last whole batch.
    pub offset: u64,
    /// How many bytes were (or would be) cut.
    pub bytes_cut: u64,
    /// Why the first cut byte did not start a valid frame.
    pub reason: String,
}

/// What `DiskLog::open` found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// A torn tail cut off the last segment, if there was one.
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

pub(super) fn corrupt(path: &Path, offset: u64, msg: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        msg: msg.into(),
    }
}

/// A refusal on damage, with what to do next: `persist recover` salvages
/// what still checks out.
pub(crate) fn point_to_salvage(e: Error, dir: &Path) -> Error {
    match e {
        Error::Corrupt { path, offset, msg } => Error::Corrupt {
            path,
            offset,
            msg: format!("{msg}; {}", salvage_hint(dir)),
        },
        e => e,
    }
}

/// What to run to salvage the damaged store in `dir`.
pub fn salvage_hint(dir: &Path) -> String {
    format!(
        "to copy what still checks out into a new store: persist recover {} --to NEW_DIR",
        dir.display()
    )
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

/// The hint `src` reads, if it describes `segs` as they are; with a
/// `checker`, only if every frame it covers also passes its checksum: the
/// checker is told the active segment's piece, then joined once the index
/// is decoded (see `check`). An inner error says why the hint is set aside
/// (then the log alone decides, exactly as without a hint); an outer one
/// that a segment could not be read.
fn use_hint<R: Read>(
    src: Source<R>,
    segs: &BTreeMap<u64, Seg>,
    checker: Option<&Checker<'_>>,
) -> Result<Result<hint::Hint, String>> {
    let head = match hint::head(src) {
        Ok(head) => head,
        Err(msg) => return Ok(Err(msg)),
    };
    if let Err(msg) = hint_matches(&head.segs, &seg_lens(segs)) {
        return Ok(Err(head.reject(msg)));
    }
    // The sealed segments are queued already, whole: a matching hint
    // covers exactly that. The active one only up to the hint's end (read
    // before the hint's checksum is known: a hint that then fails it is
    // set aside, and what its pieces found with it).
    if let (Some(c), Some(last)) = (checker, head.segs.last())
        && segs.keys().next_back() == Some(&last.id)
    {
        c.add(last.id, last.len);
    }
    let decoded = match head.decode() {
        Ok(h) => h,
        Err(msg) => return Ok(Err(msg)),
    };
    Ok(match checker.map(Checker::finish).transpose()?.flatten() {
        Some(msg) => Err(msg),
        None => Ok(decoded),
    })
}

/// Without a manifest (a store written before it), a hint whose checksum
/// holds is the evidence of what was durable: it only ever covers fsync'd
/// data (rule 5), and it is removed before a compaction rewrites the
/// segments it names. So every segment it names must still be there (an
/// error naming the first that is not), and when it names the last one as
/// it is (same nonce) it gives that segment's durable length. `metas` is
/// the hint's segment table.
fn legacy_floor(dir: &Path, metas: &[SegMeta], segs: &BTreeMap<u64, Seg>) -> Result<Option<Entry>> {
    if let Some(m) = metas.iter().find(|m| !segs.contains_key(&m.id)) {
        let path = dir.join(segment::file_name(m.id));
        let msg = format!(
            "segment {} is missing; the hint records it as durable with {} bytes",
            m.id, m.len
        );
        return Err(corrupt(&path, 0, msg));
    }
    let Some(m) = metas.last() else {
        return Ok(None);
    };
    let same = segs.get(&m.id).is_some_and(|s| s.nonce == m.nonce);
    Ok(same.then_some(Entry {
        id: m.id,
        nonce: m.nonce,
        len: m.len,
        items: 0,
    }))
}

/// The segment table of the hint in `dir`, if its checksum holds, read a
/// chunk at a time: for a legacy store whose hint was not used.
fn hint_segs(dir: &Path) -> Option<Vec<SegMeta>> {
    hint::head(hint::open(dir)?.ok()?).ok()?.checked_segs()
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
        Some(m) => layout::open_listed(io, dir, m, mode, &mut report)?,
        None => {
            match mode {
                Mode::Repair => report.notes = compact::recover_legacy(io, dir)?,
                Mode::ReadOnly => compact::check_legacy(dir)?,
            }
            layout::open_unlisted(io, dir, mode, &mut report)?
        }
    };
    layout::stray_temps(io, dir, mode, &mut report)?;
    if segs.is_empty() && mode == Mode::ReadOnly {
        return Err(not_a_store(dir));
    }
    // The checking starts before the hint is read (see `check`), when
    // there is one to use.
    let checker = (plan.use_hint && plan.check_hinted).then(|| Checker::new(&segs, check::PIECE));
    let early = dir.join(hint::FILE).exists();
    let used = check::alongside(checker.as_ref(), early, || {
        let opened = plan.use_hint.then(|| hint::open(dir)).flatten()?;
        Some(match opened {
            Err(msg) => Ok(Err(msg)),
            Ok(src) => use_hint(src, &segs, checker.as_ref()),
        })
    });
    drop(checker);
    let used = used.transpose()?;
    let floor = match (&listed, &used) {
        (Some(_), _) => None,
        // The hint in use was read whole and its checksum passed.
        (None, Some(Ok(h))) => legacy_floor(dir, &h.segs, &segs)?,
        (None, _) => match hint_segs(dir) {
            Some(metas) => legacy_floor(dir, &metas, &segs)?,
            None => None,
        },
    };
    let mut index = Index::default();
    let mut from = (0, 0);
    match used {
        None => {}
        Some(Err(msg)) => report.hint_rejected = Some(msg),
        Some(Ok(h)) => {
            if let Some(last) = h.segs.last() {
                from = (last.id, last.len);
            }
            index = h.index;
            report.hint_used = true;
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
        let durable = match (&listed, &floor) {
            (Some(m), _) => m.get(id).map(|e| (*e, "the manifest")),
            (None, Some(e)) if e.id == id => Some((*e, "the hint")),
            _ => None,
        };
        let tail = (Some(id) == last_id).then_some(durable.unwrap_or((
            Entry {
                id,
                nonce: seg.nonce,
                len: HEADER_LEN,
                items: 0,
            },
            "nothing",
        )));
        if let Some(t) = replay.segment(id, seg, start, tail)? {
            report.torn = Some(t);
        }
    }
    progress(total, total);
    replay.index.global.settle();
    if mode == Mode::Repair {
        settle(io, dir, &mut segs, &replay.index, listed.as_ref())?;
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
    index: &Index,
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
                items: index.counts.get(&id).map_or(0, |c| c.items),
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
    /// the last segment, with what says so: up to there its data was
    /// durable, past it a torn tail is cut (read-only: reported). Sets the segment's length to
    /// where its frames end (the file may be longer: preallocated zeros are
    /// left in place).
    fn segment(
        &mut self,
        id: u64,
        seg: &mut Seg,
        start: u64,
        durable: Option<(Entry, &str)>,
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
            // Every frame is whole, but the file may have been cut at a
            // frame boundary below what the evidence says was durable (a
            // manifest's segment lengths are checked when the segments are
            // opened; a legacy store's hint is checked here).
            if let Some((durable, source)) = durable
                && seg.r.len < durable.len
            {
                let msg = format!(
                    "the segment ends here, but {source} records it as durable up to offset {}{}, \
                     so {} bytes of acknowledged batches are missing",
                    durable.len,
                    durable.holding(),
                    durable.len - seg.r.len
                );
                return Err(corrupt(&path, seg.r.len, msg));
            }
            self.capture_at(id, seg.r.len);
            return Ok(None);
        };
        let Some((durable, source)) = durable else {
            return Err(corrupt(&path, bad.off, bad.msg));
        };
        if bad.off < durable.len {
            let found = match durable.items {
                0 => String::new(),
                _ => {
                    let n = self.index.counts.get(&id).map_or(0, |c| c.items);
                    format!(", {n} of them before this offset")
                }
            };
            let msg = format!(
                "{}; {source} records this segment as durable up to offset {}{}{found}, \
                 so {} bytes of acknowledged batches from here are damaged",
                bad.msg,
                durable.len,
                durable.holding(),
                durable.len - bad.off
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
            self.io.set_len(&seg.r.file, &path, bad.off)?;
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
