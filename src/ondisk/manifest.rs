//! The manifest: durable evidence of which segments the store holds and how
//! much of each was durable, so recovery can tell lost data from free space.
//!
//! Without it, a segment deleted whole, a sealed segment cut at a frame
//! boundary, or the last segment's batches zeroed (indistinguishable from
//! preallocated free space) would all read as a shorter, valid log. The
//! manifest lists every segment in log order with its nonce and length:
//! - a sealed segment's length is exact (it was trimmed and fsync'd before
//!   the manifest naming it as sealed was written);
//! - the last (active) segment's length is a lower bound: how far it was
//!   known durable when the manifest was written (on open, roll, compaction
//!   and close). It grows past that between manifest writes.
//!
//! Each entry also counts the records and kv values in the segment up to
//! that length (0 when not known), so a refusal can say how many were
//! expected.
//!
//! It is also the commit point of a compaction: a listed segment whose file
//! still has another nonce, next to a `<id>.compact` temp with the listed
//! one, is a committed output not yet renamed into place.
//!
//! Written via temp file, fsync, rename, directory fsync (STORAGE rule 5).
//!
//! ```text
//! "PRSTMAN1" (version 1, see `version`), count u32, count x (id, nonce, len, items: u64), crc32c (u32)
//! ```

use std::path::Path;

use super::codec::{Fields, Reader, put_u32, put_u64};
use super::fault::Io;
use super::version::{self, Kind};
use crate::{Error, Result};

pub(crate) const FILE: &str = "manifest";
const TMP: &str = "manifest.tmp";

/// One segment as the manifest lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub id: u64,
    pub nonce: u64,
    /// Exact for a sealed segment; a durable lower bound for the last.
    pub len: u64,
    /// Records and kv values in `..len` (0: not recorded).
    pub items: u64,
}

impl Entry {
    /// " with N records and kv values" when counted, for messages.
    pub fn holding(&self) -> String {
        match self.items {
            0 => String::new(),
            n => format!(" with {n} records and kv values"),
        }
    }
}

/// Invariant: entries are in ascending id order and there is at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub segs: Vec<Entry>,
}

impl Manifest {
    pub fn last(&self) -> Option<&Entry> {
        self.segs.last()
    }

    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.segs.iter().find(|e| e.id == id)
    }
}

pub(crate) fn encode(m: &Manifest) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + m.segs.len() * 32);
    b.extend_from_slice(&Kind::Manifest.magic());
    put_u32(&mut b, m.segs.len() as u32);
    for e in &m.segs {
        for v in [e.id, e.nonce, e.len, e.items] {
            put_u64(&mut b, v);
        }
    }
    let crc = crc32c::crc32c(&b);
    put_u32(&mut b, crc);
    b
}

pub(crate) fn decode(b: &[u8]) -> Result<Manifest, String> {
    let (body, crc) = b
        .split_at_checked(b.len().saturating_sub(4))
        .ok_or("empty manifest")?;
    if Reader::new(crc).u32()? != crc32c::crc32c(body) {
        return Err("manifest checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    let magic = r.bytes(8)?;
    if magic != Kind::Manifest.magic() {
        return Err(version::mismatch(Kind::Manifest, magic));
    }
    let mut segs: Vec<Entry> = Vec::new();
    for _ in 0..r.u32()? {
        let e = Entry {
            id: r.u64()?,
            nonce: r.u64()?,
            len: r.u64()?,
            items: r.u64()?,
        };
        if segs.last().is_some_and(|p| p.id >= e.id) {
            return Err(format!("segment {} listed out of order", e.id));
        }
        segs.push(e);
    }
    if !r.is_empty() {
        return Err("trailing bytes after the manifest".into());
    }
    if segs.is_empty() {
        return Err("manifest lists no segments".into());
    }
    Ok(Manifest { segs })
}

/// The manifest in `dir`: `None` when there is none (a new store, or one
/// written before manifests existed); damage is an error naming the file,
/// since recovery cannot judge the segments without it (`NewerFormat` when
/// a newer persist wrote it).
pub(crate) fn load(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(b) => decode(&b)
            .map(Some)
            .map_err(|msg| version::corrupt_or_newer(Kind::Manifest, &path, &b, msg)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, "read manifest", e)),
    }
}

/// Writes the manifest atomically (rule 5).
pub(crate) fn write(io: &Io, dir: &Path, m: &Manifest) -> Result<()> {
    io.write_file_atomic(dir, TMP, FILE, &encode(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_detects_damage() {
        let m = Manifest {
            segs: vec![
                Entry {
                    id: 1,
                    nonce: 9,
                    len: 300,
                    items: 5,
                },
                Entry {
                    id: 3,
                    nonce: 4,
                    len: 32,
                    items: 0,
                },
            ],
        };
        let b = encode(&m);
        assert_eq!(decode(&b), Ok(m));
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x04;
            assert!(decode(&d).is_err(), "damage at byte {i} passed");
        }
        assert!(decode(&b[..b.len() - 1]).is_err());
        let empty = encode(&Manifest { segs: Vec::new() });
        assert!(decode(&empty).is_err());
    }
}
