//! Segment files: naming, the header, creation and frame scanning.
//!
//! ```text
//! 0..8    magic "PRSTSEG1" (version 1, see `version`)
//! 8..16   segment id (must match the file name)
//! 16..24  nonce: random per file, so a hint can tell a rewritten segment
//!         from the one it indexed
//! 24..28  crc32c of bytes 0..24
//! 28..32  zero
//! ```

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::codec::{Fields, Reader};
use super::fault::Io;
use super::frame;
use super::version::{self, Kind};
use crate::{Error, Result};

pub(crate) const HEADER_LEN: u64 = 32;

pub(crate) fn file_name(id: u64) -> String {
    format!("{id:012}.log")
}

/// The id of a segment file name, `None` for any other file.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn encode_header(id: u64, nonce: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..8].copy_from_slice(&Kind::Segment.magic());
    h[8..16].copy_from_slice(&id.to_le_bytes());
    h[16..24].copy_from_slice(&nonce.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a header read from the file of segment `id`; returns its nonce.
pub(crate) fn parse_header(h: &[u8], id: u64) -> Result<u64, String> {
    let mut r = Reader::new(h);
    let magic = r.bytes(8)?;
    let stored_id = r.u64()?;
    let nonce = r.u64()?;
    let crc = r.u32()?;
    if magic[..7] != Kind::Segment.magic()[..7] {
        return Err(version::mismatch(Kind::Segment, magic));
    }
    if crc != crc32c::crc32c(&h[..24]) || r.u32()? != 0 {
        return Err("segment header checksum mismatch".into());
    }
    if magic != Kind::Segment.magic() {
        return Err(version::mismatch(Kind::Segment, magic));
    }
    if stored_id != id {
        return Err(format!("header names segment {stored_id}, file name {id}"));
    }
    Ok(nonce)
}

/// Reads and checks the header of an open segment file; one a newer
/// persist wrote is `Error::NewerFormat`.
pub(crate) fn read_header(file: &File, path: &Path, id: u64) -> Result<u64> {
    let corrupt = |msg| Error::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        msg,
    };
    let mut h = [0u8; HEADER_LEN as usize];
    match file.read_exact_at(&mut h, 0) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(corrupt("segment header incomplete".into()));
        }
        r => r.map_err(|e| Error::io(path, "read segment header", e))?,
    }
    parse_header(&h, id).map_err(|msg| version::corrupt_or_newer(Kind::Segment, path, &h, msg))
}

/// A nonce that differs between files with overwhelming probability.
pub(crate) fn new_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Creates segment `id` with `nonce` under `name` (its final name, or a
/// temp name for compaction): header written and fsync'd, directory
/// fsync'd (rule 3). The nonce is chosen by the caller so the manifest can
/// list the segment before it exists.
pub(crate) fn create(io: &Io, dir: &Path, name: &str, id: u64, nonce: u64) -> Result<File> {
    let path = dir.join(name);
    let file = io.create_new(&path)?;
    io.write_at(&file, &path, &encode_header(id, nonce), 0)?;
    io.sync(&file, &path)?;
    io.sync_dir(dir)?;
    Ok(file)
}

/// Ids of the segment files in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Why a scan stopped before the end it was given.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub off: u64,
    pub msg: String,
}

/// Bytes read from a segment per pread while scanning: small enough that
/// the buffer the kernel copies into is still in the core's L2 cache (2 MiB
/// here) when the checksum reads it back; 256 KiB cost ~4% less CPU on a
/// reopen than 1 MiB. A larger frame is read whole.
const CHUNK: usize = 256 << 10;

/// Calls `f(offset, frame)` for each valid frame in `start..end`, in order.
/// Stops at the first invalid frame and returns where it is; `f`'s errors
/// are passed through.
pub(crate) fn scan(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Option<Invalid>> {
    Ok(scan_until(file, path, start, end, end, f)?.err())
}

/// `scan` of the frames that start before `stop` (frames still end by
/// `end`): `Ok` with where the frame after them starts (`>= stop`).
pub(crate) fn scan_until(
    file: &File,
    path: &Path,
    start: u64,
    stop: u64,
    end: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Result<u64, Invalid>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = start;
    let mut off = start;
    // Makes buf hold file bytes `off .. off + n` (n <= end - off). The part
    // of a frame already read is moved to the front, not read again: with
    // large batches a re-read would copy a tenth of the log twice.
    let fill = |buf: &mut Vec<u8>, buf_start: &mut u64, off: u64, n: usize| -> Result<()> {
        let held_end = *buf_start + buf.len() as u64;
        if off >= *buf_start && off + n as u64 <= held_end {
            return Ok(());
        }
        let want = n.max(CHUNK).min((end - off) as usize);
        let kept = if off >= *buf_start && off < held_end {
            // Already at the front (a frame longer than the chunk read for
            // its header): only the rest is read, nothing is moved.
            let from = (off - *buf_start) as usize;
            if from > 0 {
                buf.copy_within(from.., 0);
            }
            buf.len() - from
        } else {
            0
        };
        buf.resize(want, 0);
        file.read_exact_at(&mut buf[kept..], off + kept as u64)
            .map_err(|e| Error::io(path, "read segment", e))?;
        *buf_start = off;
        Ok(())
    };
    while off < stop {
        let invalid = |msg: String| Ok(Err(Invalid { off, msg }));
        if end - off < frame::HEADER as u64 {
            return invalid(format!("{} bytes left, too short for a frame", end - off));
        }
        fill(&mut buf, &mut buf_start, off, frame::HEADER)?;
        let at = (off - buf_start) as usize;
        let h = match frame::parse_header(&buf[at..at + frame::HEADER]) {
            Ok(h) => h,
            Err(bad) => return invalid(bad.to_string()),
        };
        let need = frame::HEADER + h.len as usize;
        if off + need as u64 > end {
            return invalid(format!(
                "frame of {need} bytes runs past the end of the file"
            ));
        }
        fill(&mut buf, &mut buf_start, off, need)?;
        let at = (off - buf_start) as usize;
        let fr = &buf[at..at + need];
        if let Err(msg) = frame::check_crc(&h, fr) {
            return invalid(msg);
        }
        f(off, fr)?;
        off += need as u64;
    }
    Ok(Ok(off))
}

/// The first offset in `from..end` where a whole frame passes its checks,
/// header and checksum, with the frame's length: most likely where a frame
/// starts, found without reading the frames before it. Only a guess (a
/// payload may hold such bytes): a caller confirms it by reaching it on the
/// frame chain, and need not check that frame again.
pub(crate) fn next_frame(
    file: &File,
    path: &Path,
    from: u64,
    end: u64,
) -> Result<Option<(u64, u64)>> {
    const WINDOW: usize = 64 << 10;
    let mut buf = vec![0u8; WINDOW + frame::HEADER];
    let mut at = from;
    // A frame header needs `frame::HEADER` bytes: windows overlap by one
    // less, so each start is looked at once, with its whole header.
    while end.saturating_sub(at) >= frame::HEADER as u64 {
        let n = (end - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| Error::io(path, "read segment", e))?;
        let starts = n - frame::HEADER + 1;
        // The kind byte is rare in payloads: only where it is, is the rest
        // of a header worth parsing.
        let kinds = memchr::memchr_iter(
            frame::KIND_BATCH,
            &buf[frame::KIND_AT..frame::KIND_AT + starts],
        );
        for p in kinds {
            let Ok(h) = frame::parse_header(&buf[p..p + frame::HEADER]) else {
                continue;
            };
            let off = at + p as u64;
            let need = frame::HEADER as u64 + u64::from(h.len);
            if off + need <= end && frame_crc(file, path, off, need)? == h.crc {
                return Ok(Some((off, need)));
            }
        }
        at += starts as u64;
    }
    Ok(None)
}

/// The checksum of the frame of `len` bytes at `off`, read a chunk at a
/// time (its length is not yet known to be the frame's).
fn frame_crc(file: &File, path: &Path, off: u64, len: u64) -> Result<u32> {
    let mut buf = vec![0u8; (len as usize).min(CHUNK)];
    let mut crc = 0;
    let mut at = off + frame::CRC_FROM as u64;
    while at < off + len {
        let n = (off + len - at).min(CHUNK as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| Error::io(path, "read segment", e))?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        at += n as u64;
    }
    Ok(crc)
}

/// Whether a valid frame after the invalid one at `bad` says `bad` had been
/// fsync'd before it was written: then the damage is in synced data
/// (corruption), not a torn write.
pub(crate) fn synced_past(file: &File, path: &Path, bad: u64, end: u64) -> Result<bool> {
    let mut tail = vec![0u8; (end - bad) as usize];
    file.read_exact_at(&mut tail, bad)
        .map_err(|e| Error::io(path, "read segment", e))?;
    for o in 1..tail.len() {
        if let Ok(h) = frame::parse(&tail[o..])
            && h.synced > bad
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether every byte of `from..end` is zero: free space preallocated past
/// the last frame (`DiskLog::preallocate`), not a torn write.
pub(crate) fn zeros_to_end(file: &File, path: &Path, from: u64, end: u64) -> Result<bool> {
    let mut buf = vec![0u8; CHUNK];
    let mut off = from;
    while off < end {
        let n = (end - off).min(CHUNK as u64) as usize;
        file.read_exact_at(&mut buf[..n], off)
            .map_err(|e| Error::io(path, "read segment", e))?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        off += n as u64;
    }
    Ok(true)
}

/// Opens an existing segment for reading and appending.
pub(crate) fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open segment", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(1), "000000000001.log");
        assert_eq!(parse_name("000000000042.log"), Some(42));
        assert_eq!(parse_name("42.log"), None);
        assert_eq!(parse_name("000000000042.log.tmp"), None);
    }

    #[test]
    fn zeros_to_end_reads_sparse_and_written_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .expect("create");
        f.write_all_at(b"frame", 0).expect("write");
        let len = 3 * CHUNK as u64 + 7;
        f.set_len(len).expect("extend (a hole)");
        assert!(zeros_to_end(&f, &path, 5, len).expect("read"));
        assert!(zeros_to_end(&f, &path, len, len).expect("read"));
        assert!(!zeros_to_end(&f, &path, 4, len).expect("read"));
        f.write_all_at(&[1], len - 1).expect("write");
        assert!(!zeros_to_end(&f, &path, 5, len).expect("read"));
        assert!(zeros_to_end(&f, &path, 5, len - 1).expect("read"));
    }

    #[test]
    fn header_checks_id_and_checksum() {
        let h = encode_header(3, 99);
        assert_eq!(parse_header(&h, 3), Ok(99));
        assert!(parse_header(&h, 4).is_err());
        let mut bad = h;
        bad[17] ^= 1;
        assert!(parse_header(&bad, 3).is_err());
        assert!(parse_header(&[0u8; 32], 3).is_err());
    }
}
