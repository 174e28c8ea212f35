//! Which files make up a store: the segments the manifest lists (or, in a
//! store without one, every segment file), each opened and checked against
//! what the manifest records; a committed compaction is finished and what
//! it or a crash left behind is removed (in `Mode::ReadOnly`: reported).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::compact;
use super::fault::Io;
use super::manifest::{Entry, Manifest};
use super::read::SegRef;
use super::recover::{Mode, OpenReport, Seg, TornTail, corrupt};
use super::segment::{self, HEADER_LEN};
use crate::{Error, Result};

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
pub(super) fn open_unlisted(
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
            // A newer persist's header is not a torn creation: never removed.
            Err(ref e)
                if i + 1 == ids.len()
                    && f.len <= HEADER_LEN
                    && !matches!(e, Error::NewerFormat { .. }) =>
            {
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
        io.remove(path)?;
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
pub(super) fn open_listed(
    io: &Io,
    dir: &Path,
    m: &Manifest,
    mode: Mode,
    report: &mut OpenReport,
) -> Result<BTreeMap<u64, Seg>> {
    let last_id = m.last().map_or(0, |e| e.id);
    let mut segs = BTreeMap::new();
    let mut changed = false;
    for e in &m.segs {
        let (file, len, path, installed) = open_entry(io, dir, e, mode, report)?;
        changed |= installed;
        check_len(&path, e, len, e.id == last_id)?;
        let r = SegRef {
            file: Arc::new(file),
            path: Arc::new(path),
            len,
        };
        segs.insert(e.id, Seg { r, nonce: e.nonce });
    }
    for id in segment::list(dir)? {
        if m.get(id).is_none() {
            changed |= unlisted(io, dir, id, last_id, mode, report)?;
        }
    }
    if changed {
        io.sync_dir(dir)?;
    }
    Ok(segs)
}

/// The file of listed segment `e`: its own, or a committed compaction
/// output still under its temp name. Returns the file, its length and
/// path, and whether it was renamed into place.
fn open_entry(
    io: &Io,
    dir: &Path,
    e: &Entry,
    mode: Mode,
    report: &mut OpenReport,
) -> Result<(File, u64, PathBuf, bool)> {
    let listed = |f: &Found| f.header.as_ref().is_ok_and(|&n| n == e.nonce);
    let path = dir.join(segment::file_name(e.id));
    let found = match find(&path, e.id, mode)? {
        Some(f) if listed(&f) => return Ok((f.file, f.len, path, false)),
        other => other,
    };
    let tmp = dir.join(compact::tmp_name(e.id));
    match find(&tmp, e.id, mode)? {
        Some(t) if listed(&t) => {
            report.notes.push(finish_note(e.id, mode));
            if mode == Mode::ReadOnly {
                return Ok((t.file, t.len, tmp, false));
            }
            io.rename(&tmp, &path)?;
            Ok((t.file, t.len, path, true))
        }
        _ => Err(match found {
            None => {
                let msg = format!(
                    "segment {} is missing; the manifest lists it with {} bytes{}",
                    e.id,
                    e.len,
                    e.holding()
                );
                corrupt(&path, 0, msg)
            }
            Some(f) => not_listed_file(&path, e, f.header),
        }),
    }
}

/// A segment file the manifest does not list: below its last, one that a
/// committed compaction replaced (nothing in it is live): removed. Just
/// after its last, one a roll created but crashed before listing (nothing
/// was written to it past its header): removed as a torn creation.
/// Anything else is damage. Returns whether it was removed.
fn unlisted(
    io: &Io,
    dir: &Path,
    id: u64,
    last_id: u64,
    mode: Mode,
    report: &mut OpenReport,
) -> Result<bool> {
    let path = dir.join(segment::file_name(id));
    if id > last_id {
        let len = std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, "stat segment", e))?
            .len();
        if id == last_id + 1 && len <= HEADER_LEN {
            torn_creation(io, dir, &path, len, mode, report)?;
            return Ok(false);
        }
        let msg = format!("segment {id} is not listed in the manifest (last listed: {last_id})");
        return Err(corrupt(&path, 0, msg));
    }
    if mode == Mode::ReadOnly {
        let note = format!("segment {id} was replaced by a compaction and will be removed on open");
        report.notes.push(note);
        return Ok(false);
    }
    io.remove(&path)?;
    report
        .notes
        .push(format!("removed segment {id}, replaced by a compaction"));
    Ok(true)
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
            "segment {} ends at {len}, but the manifest records {} bytes{} as durable: \
             {} bytes of acknowledged batches are missing",
            e.id,
            e.len,
            e.holding(),
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
pub(super) fn stray_temps(io: &Io, dir: &Path, mode: Mode, report: &mut OpenReport) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    let mut removed = false;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".compact") || name.ends_with(".tmp") {
            if mode == Mode::Repair {
                io.remove(&entry.path())?;
                removed = true;
                report.notes.push(format!("removed stray temp file {name}"));
            } else {
                report
                    .notes
                    .push(format!("temp file {name} will be removed on open"));
            }
        }
    }
    if removed {
        io.sync_dir(dir)?;
    }
    Ok(())
}
