//! `verify`: a read-only check of a store directory for `persist verify`.
//!
//! It judges the store exactly as opening it would: it runs recovery in
//! read-only mode (`recover::Mode::ReadOnly`) with every frame replayed, so
//! what open refuses (a bad frame, a segment missing, shorter or longer
//! than the manifest records, a damaged manifest or compaction marker) is a
//! fault, and what open repairs (a torn tail past the durable end, the
//! leftovers of an interrupted compaction, stray temps) is reported as
//! such, not as damage. It also compares the hint with the index the log
//! gives at the position the hint covers. Nothing is modified; the store's
//! lock is taken shared, so a store in use by a writer is refused rather
//! than read mid-write.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::Stats;
use super::fault::Io;
use super::hint;
use super::index::Index;
use super::recover::{self, Mode, Plan, hint_matches};
use super::segment::{self, HEADER_LEN};
use crate::{Error, Result};

/// One problem found: the file, the byte offset in it, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The file.
    pub path: PathBuf,
    /// Where in it.
    pub offset: u64,
    /// What is wrong.
    pub msg: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: offset {}: {}",
            self.path.display(),
            self.offset,
            self.msg
        )
    }
}

/// How the hint relates to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HintCheck {
    /// No hint: the next open scans the log.
    Missing,
    /// The hint names other segments or lengths; the next open ignores it.
    Stale(String),
    /// The hint matches the segments and agrees with the log's index.
    Consistent,
    /// Not checked against the log because the log itself has faults.
    Unchecked,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files of the store.
    pub segments: usize,
    /// Valid batch frames read.
    pub batches: u64,
    /// Bytes of the log in segment files (up to the end of each segment's
    /// frames: preallocated free space is not counted).
    pub bytes: u64,
    /// Damage: checksum failures, bad headers, inconsistent ops or hint.
    pub faults: Vec<Fault>,
    /// An incomplete last batch (a crash mid-write); the next open cuts it.
    pub torn: Option<Fault>,
    /// How the hint relates to the log.
    pub hint: HintCheck,
    /// What the log holds, as far as it could be read: `persist inspect`
    /// without opening (and so without repairing) the store.
    pub stats: Stats,
    /// Work the next open will do (finish a compaction, remove temp files).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// No damage (a torn tail is not damage: nothing acknowledged is lost).
    pub fn is_ok(&self) -> bool {
        self.faults.is_empty()
    }
}

fn fault(path: &Path, offset: u64, msg: impl Into<String>) -> Fault {
    Fault {
        path: path.to_path_buf(),
        offset,
        msg: msg.into(),
    }
}

/// Checks the store in `dir` without modifying it.
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    verify_with(dir, &mut |_, _| {})
}

/// `verify`, telling `progress(bytes checked, bytes in all segments)` as it
/// goes (a segment at a time), for a progress line on large stores.
pub fn verify_with(
    dir: impl AsRef<Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            "verify",
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a store directory"),
        ));
    }
    let _shared = super::open::lock_shared(dir)?;
    let hint = hint::load(dir);
    let plan = Plan {
        mode: Mode::ReadOnly,
        use_hint: false,
        check_hinted: false,
        capture: match &hint {
            Some(Ok(h)) => h.segs.last().map(|m| (m.id, m.len)),
            _ => None,
        },
    };
    let mut rep = VerifyReport {
        segments: 0,
        batches: 0,
        bytes: 0,
        faults: Vec::new(),
        torn: None,
        hint: HintCheck::Unchecked,
        stats: Stats::of(&Index::default(), std::iter::empty()),
        notes: Vec::new(),
    };
    let rec = match recover::recover(&Io::default(), dir, plan, progress) {
        Ok(rec) => rec,
        Err(Error::Corrupt { path, offset, msg }) => {
            let first = fault(&path, offset, msg);
            rep.faults = more_faults(dir, &first)?;
            rep.faults.insert(0, first);
            rep.segments = segment::list(dir)?.len();
            return Ok(rep);
        }
        Err(e) => return Err(e),
    };
    rep.segments = rec.segs.len();
    rep.batches = rec.batches;
    rep.bytes = rec.segs.values().map(|s| s.r.len).sum();
    rep.stats = Stats::of(&rec.index, rec.segs.iter().map(|(&id, s)| (id, s.r.len)));
    rep.torn = rec.report.torn.map(|t| Fault {
        path: t.path,
        offset: t.offset,
        msg: t.reason,
    });
    rep.notes = rec.report.notes;
    let ends: BTreeMap<u64, (u64, u64)> = rec
        .segs
        .iter()
        .map(|(&id, s)| (id, (s.nonce, s.r.len)))
        .collect();
    rep.hint = match hint {
        None => HintCheck::Missing,
        Some(Err(msg)) if hint::is_newer(dir) => HintCheck::Stale(msg),
        Some(Err(msg)) => {
            rep.faults.push(fault(&dir.join(hint::FILE), 0, msg));
            HintCheck::Unchecked
        }
        Some(Ok(h)) => match hint_matches(&h.segs, &ends) {
            Err(msg) => HintCheck::Stale(msg),
            Ok(())
                if rec
                    .captured
                    .as_ref()
                    .is_some_and(|log| agrees(log, &h.index)) =>
            {
                HintCheck::Consistent
            }
            Ok(()) => {
                let msg = "hint matches the segments but disagrees with the index the log gives";
                rep.faults.push(fault(&dir.join(hint::FILE), 0, msg));
                HintCheck::Unchecked
            }
        },
    };
    Ok(rep)
}

/// After recovery refused at `first`: other sealed segments' bad headers
/// and frames, so one run names every damaged place it can.
fn more_faults(dir: &Path, first: &Fault) -> Result<Vec<Fault>> {
    let mut found = Vec::new();
    let ids = segment::list(dir)?;
    for (i, &id) in ids.iter().enumerate() {
        let path = dir.join(segment::file_name(id));
        if path == first.path {
            continue;
        }
        let file = File::open(&path).map_err(|e| Error::io(&path, "open segment", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(&path, "stat segment", e))?
            .len();
        if let Err(e) = segment::read_header(&file, &path, id) {
            found.push(fault(&path, 0, e.to_string()));
            continue;
        }
        // The last segment's tail may be torn or free space: only open
        // can judge it, and it stopped before.
        if i + 1 == ids.len() {
            continue;
        }
        if let Some(bad) = segment::scan(&file, &path, HEADER_LEN, len, |_, _| Ok(()))? {
            found.push(fault(&path, bad.off, bad.msg));
        }
    }
    Ok(found)
}

/// Whether a hint's index is the one the log gives at the hint's position.
/// `last_at` may be ahead in the hint: it remembers the newest `at` even
/// when compaction dropped that record (it only keeps new `at`s from going
/// back).
fn agrees(log: &Index, hint: &Index) -> bool {
    log.streams == hint.streams
        && log.kv == hint.kv
        && log.counts == hint.counts
        && hint.last_at >= log.last_at
}
