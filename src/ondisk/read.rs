//! Reading records back from segment files by position.
//!
//! Consecutive records of one stream usually sit next to each other (one
//! append batch holds them adjacent), so positions are grouped into runs
//! read with a single pread each.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{EVENT_HEAD, VALUE_HEAD, entry_crc};
use super::index::{Pos, off_of, seg_of};
use super::scratch::RUNS;
use crate::{Error, Result};

/// An open segment as readers see it: shared, so a read that raced with
/// compaction still reads the (unlinked) file it looked up.
#[derive(Debug, Clone)]
pub(crate) struct SegRef {
    pub file: Arc<File>,
    pub path: Arc<PathBuf>,
    /// Bytes written so far; reads never look past it.
    pub len: u64,
}

/// Largest gap between two positions still read in one pread.
const MAX_GAP: u64 = 64 << 10;
/// Largest run read in one pread.
const MAX_RUN: u64 = 4 << 20;
/// Extra bytes read after the last position of a run to catch its entry.
const SLACK: u64 = 16 << 10;

fn corrupt(path: &Path, offset: u64, msg: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        msg: msg.into(),
    }
}

fn read_exact(s: &SegRef, off: u64, len: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_into(s, off, len, &mut buf)?;
    Ok(buf)
}

/// Reads `len` bytes at `off` into `buf`, which keeps its allocation (and
/// its bytes, so they are not zeroed again) from one read to the next.
fn read_into(s: &SegRef, off: u64, len: u64, buf: &mut Vec<u8>) -> Result<()> {
    if off.checked_add(len).is_none_or(|end| end > s.len) {
        return Err(corrupt(
            &s.path,
            off,
            format!("record of {len} bytes runs past the segment end"),
        ));
    }
    let len = len as usize;
    if buf.len() < len {
        buf.resize(len, 0);
    }
    s.file
        .read_exact_at(&mut buf[..len], off)
        .map_err(|e| Error::io(&**s.path, "read", e))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Splits an entry (`at` if `head` is `EVENT_HEAD`, len, crc, json) at the
/// start of `b`: `None` if `b` is too short to hold all of it, `Some(Err)`
/// if its checksum fails.
pub(crate) fn split_entry(b: &[u8], head: usize) -> Option<Result<&[u8], String>> {
    let len = u32_at(b, head - 8)? as usize;
    let crc = u32_at(b, head - 4)?;
    let json = b.get(head..head.checked_add(len)?)?;
    if entry_crc(&b[..head - 4], json) != crc {
        return Some(Err("record checksum mismatch".into()));
    }
    Some(Ok(json))
}

fn event_at(b: &[u8]) -> i64 {
    b.get(0..8)
        .and_then(|a| a.try_into().ok())
        .map_or(0, i64::from_le_bytes)
}

/// Reads the entry at `off` exactly: its head first, then the whole of it.
fn read_entry(s: &SegRef, off: u64, head: usize) -> Result<Vec<u8>> {
    let h = read_exact(s, off, head as u64)?;
    let len = u32_at(&h, head - 8).unwrap_or(0) as u64;
    read_exact(s, off, head as u64 + len)
}

fn checked<'b>(s: &SegRef, off: u64, b: &'b [u8], head: usize) -> Result<&'b [u8]> {
    match split_entry(b, head) {
        Some(Ok(json)) => Ok(json),
        Some(Err(msg)) => Err(corrupt(&s.path, off, msg)),
        None => Err(corrupt(&s.path, off, "short record entry")),
    }
}

/// Calls `f(at, json)` for the event entry at each position, in order.
pub(crate) fn for_each_event(
    positions: &[Pos],
    segs: &BTreeMap<u64, SegRef>,
    mut f: impl FnMut(i64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut i = 0;
    while i < positions.len() {
        let seg = seg_of(positions[i]);
        let start = off_of(positions[i]);
        let mut j = i + 1;
        while j < positions.len() {
            let (prev, next) = (off_of(positions[j - 1]), off_of(positions[j]));
            if seg_of(positions[j]) != seg
                || next <= prev
                || next - prev > MAX_GAP
                || next - start > MAX_RUN
            {
                break;
            }
            j += 1;
        }
        let s = segs
            .get(&seg)
            .ok_or_else(|| Error::invalid("read", format!("segment {seg} is not open")))?;
        let last = off_of(positions[j - 1]);
        let end = last.saturating_add(SLACK).min(s.len).max(last);
        let mut buf = RUNS.take();
        let done = read_into(s, start, end - start, &mut buf).and_then(|()| {
            let run = &buf[..(end - start) as usize];
            positions[i..j].iter().try_for_each(|&p| {
                let off = off_of(p);
                let b = &run[(off - start) as usize..];
                match split_entry(b, EVENT_HEAD) {
                    Some(Ok(json)) => f(event_at(b), json),
                    Some(Err(msg)) => Err(corrupt(&s.path, off, msg)),
                    None => {
                        // The run's read ended inside this entry.
                        let whole = read_entry(s, off, EVENT_HEAD)?;
                        f(event_at(&whole), checked(s, off, &whole, EVENT_HEAD)?)
                    }
                }
            })
        });
        RUNS.give_back(buf);
        done?;
        i = j;
    }
    Ok(())
}

/// Parses JSON read from `pos`, naming the file and offset when it is bad.
pub(crate) fn parse_json(
    segs: &BTreeMap<u64, SegRef>,
    pos: Pos,
    json: &[u8],
) -> Result<serde_json::Value> {
    serde_json::from_slice(json).map_err(|e| {
        let path = segs
            .get(&seg_of(pos))
            .map(|s| (*s.path).clone())
            .unwrap_or_default();
        corrupt(&path, off_of(pos), format!("stored value is not JSON: {e}"))
    })
}

/// The JSON bytes of the kv value entry at `pos`, checked.
pub(crate) fn read_value(s: &SegRef, pos: Pos, len: u32) -> Result<Vec<u8>> {
    let off = off_of(pos);
    let b = read_exact(s, off, VALUE_HEAD as u64 + len as u64)?;
    checked(s, off, &b, VALUE_HEAD).map(<[u8]>::to_vec)
}
