//! `verify`: a read-only check of a store directory for `persist verify`.
//!
//! Checks every segment header and every frame's checksum, replays every
//! batch (so ops that contradict the log are found too) and compares the
//! hint with the index the log itself gives at the position the hint covers.
//! Nothing is modified and no lock is taken: a torn tail is reported, not
//! cut. Zeros from a frame boundary to the end of the last segment are free
//! space left by preallocation (as in recovery): neither torn nor counted
//! as log bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::Stats;
use super::batch;
use super::compact;
use super::frame;
use super::hint;
use super::index::{Index, pack};
use super::recover::hint_matches;
use super::segment::{self, HEADER_LEN};
use crate::{Error, Result};

/// One problem found: the file, the byte offset in it, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub path: PathBuf,
    pub offset: u64,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
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
    let mut rep = VerifyReport {
        segments: 0,
        batches: 0,
        bytes: 0,
        faults: Vec::new(),
        torn: None,
        hint: HintCheck::Missing,
        stats: Stats::of(&Index::default(), std::iter::empty()),
        notes: pending_work(dir)?,
    };
    let hint = hint::load(dir);
    let hint_pos = match &hint {
        Some(Ok(h)) => h.segs.last().map(|m| (m.id, m.len)),
        _ => None,
    };
    let ids = segment::list(dir)?;
    let total: u64 = ids
        .iter()
        .filter_map(|&id| std::fs::metadata(dir.join(segment::file_name(id))).ok())
        .map(|m| m.len())
        .sum();
    let mut index = Index::default();
    let mut at_hint: Option<Index> = None;
    let mut metas = BTreeMap::new();
    // (id, frame end) of each segment with a valid header, for the stats.
    let mut ends = BTreeMap::new();
    // File bytes looked at so far, for `progress`.
    let mut done = 0;
    for (i, &id) in ids.iter().enumerate() {
        let path = dir.join(segment::file_name(id));
        let file = File::open(&path).map_err(|e| Error::io(&path, "open segment", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(&path, "stat segment", e))?
            .len();
        let is_last = i + 1 == ids.len();
        progress(done, total);
        done += len;
        rep.segments += 1;
        let nonce = match segment::read_header(&file, &path, id) {
            Ok(n) => n,
            Err(e) => {
                rep.bytes += len;
                let f = fault(&path, 0, e.to_string());
                if is_last && len <= HEADER_LEN {
                    rep.torn = Some(f);
                } else {
                    rep.faults.push(f);
                }
                continue;
            }
        };
        metas.insert(id, (nonce, len));
        let scanned = segment::scan(&file, &path, HEADER_LEN, len, |off, fr| {
            if hint_pos == Some((id, off)) {
                at_hint = Some(index.clone());
            }
            rep.batches += 1;
            let ops = batch::decode(fr, frame::HEADER);
            ops.and_then(|ops| index.apply(pack(id, off), &ops))
                .map_err(|msg| Error::Corrupt {
                    path: path.clone(),
                    offset: off,
                    msg,
                })
        });
        let mut data_end = len;
        match scanned {
            Ok(None) => {
                if hint_pos == Some((id, len)) {
                    at_hint = Some(index.clone());
                }
            }
            Ok(Some(bad)) if is_last && segment::zeros_to_end(&file, &path, bad.off, len)? => {
                // Free space (see `recover::replay`): the log ends here.
                data_end = bad.off;
                if hint_pos == Some((id, bad.off)) {
                    at_hint = Some(index.clone());
                }
            }
            Ok(Some(bad)) => {
                let f = fault(&path, bad.off, bad.msg);
                if is_last && !segment::synced_past(&file, &path, bad.off, len)? {
                    rep.torn = Some(f);
                } else {
                    rep.faults.push(f);
                }
            }
            Err(Error::Corrupt { path, offset, msg }) => rep.faults.push(fault(&path, offset, msg)),
            Err(e) => return Err(e),
        }
        rep.bytes += data_end;
        ends.insert(id, data_end);
    }
    progress(done, total);
    rep.stats = Stats::of(&index, ends.into_iter());
    rep.hint = match hint {
        None => HintCheck::Missing,
        Some(Err(msg)) => {
            rep.faults.push(fault(&dir.join(hint::FILE), 0, msg));
            HintCheck::Unchecked
        }
        Some(Ok(_)) if !rep.faults.is_empty() => HintCheck::Unchecked,
        Some(Ok(h)) => match hint_matches(&h.segs, &metas) {
            Err(msg) => HintCheck::Stale(msg),
            Ok(()) if at_hint.as_ref().is_some_and(|log| agrees(log, &h.index)) => {
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

/// Leftovers the next open will deal with.
fn pending_work(dir: &Path) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == compact::MARKER {
            notes.push("an interrupted compaction will be finished on open".into());
        } else if name.ends_with(".compact") || name.ends_with(".tmp") {
            notes.push(format!("temp file {name} will be removed on open"));
        }
    }
    Ok(notes)
}
