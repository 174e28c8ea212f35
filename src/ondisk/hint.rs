//! The hint file: a checkpoint of the index, so reopening skips the scan.
//!
//! It is only a cache (STORAGE rule 5). It names every segment it covers with
//! its nonce and length; recovery uses it only when those match the files,
//! then scans just what was appended after it. Written via temp file, fsync,
//! rename, directory fsync, and only ever covering fsync'd data.
//!
//! ```text
//! "PRSTHNT2", last_at i64, last_pos u64,
//! segments u32 x (id, nonce, len, items, live: u64),
//! streams u64 x (name, first u64, last u64, count u64, count x pos u64,
//!                count x global pos u64, ids u64 x (seq u64, id name)),
//! kv u64 x (name, pos u64, len u32),
//! dead ids u64 x (id name, stream name, seq u64),
//! crc32c of everything before it (u32)
//! ```
//! A version 1 hint (no positions) fails the magic check and is set aside
//! like any unusable hint: the open rebuilds the index from the log.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use super::codec::{Reader, put_i64, put_name, put_u32, put_u64};
use super::fault::Io;
use super::index::{Counts, Index, KvLoc, StreamIndex};
use crate::Result;

pub(crate) const FILE: &str = "hint";
pub(crate) const TMP: &str = "hint.tmp";
const MAGIC: &[u8; 8] = b"PRSTHNT2";

/// A segment as the hint saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SegMeta {
    pub id: u64,
    pub nonce: u64,
    pub len: u64,
}

#[derive(Debug)]
pub(crate) struct Hint {
    pub segs: Vec<SegMeta>,
    pub index: Index,
}

pub(crate) fn encode(segs: &[SegMeta], index: &Index) -> Vec<u8> {
    let events: usize = index.streams.values().map(|s| s.pos.len()).sum();
    let mut b = Vec::with_capacity(64 + events * 8 + index.kv.len() * 32);
    b.extend_from_slice(MAGIC);
    put_i64(&mut b, index.last_at);
    put_u64(&mut b, index.global.last_pos());
    put_u32(&mut b, segs.len() as u32);
    for s in segs {
        let c = index.counts.get(&s.id).copied().unwrap_or_default();
        for v in [s.id, s.nonce, s.len, c.items, c.live] {
            put_u64(&mut b, v);
        }
    }
    put_u64(&mut b, index.streams.len() as u64);
    for (name, s) in &index.streams {
        put_name(&mut b, name);
        put_u64(&mut b, s.first);
        put_u64(&mut b, s.last);
        put_u64(&mut b, s.pos.len() as u64);
        for &p in s.pos.iter().chain(&s.gpos) {
            put_u64(&mut b, p);
        }
        let id_of = index.global.ids_of(name);
        let ids: Vec<(u64, &str)> = (s.first..=s.last)
            .filter_map(|seq| Some((seq, id_of(seq)?)))
            .collect();
        put_u64(&mut b, ids.len() as u64);
        for (seq, id) in ids {
            put_u64(&mut b, seq);
            put_name(&mut b, id);
        }
    }
    put_u64(&mut b, index.kv.len() as u64);
    for (key, loc) in &index.kv {
        put_name(&mut b, key);
        put_u64(&mut b, loc.pos);
        put_u32(&mut b, loc.len);
    }
    let dead = index.global.dead_ids();
    put_u64(&mut b, dead.len() as u64);
    for e in &dead {
        put_name(&mut b, &e.id);
        put_name(&mut b, &e.stream);
        put_u64(&mut b, e.seq);
    }
    let crc = crc32c::crc32c(&b);
    put_u32(&mut b, crc);
    b
}

pub(crate) fn decode(b: &[u8]) -> Result<Hint, String> {
    let (body, crc) = b
        .split_at_checked(b.len().saturating_sub(4))
        .ok_or("empty hint")?;
    let crc = Reader::new(crc).u32()?;
    if crc != crc32c::crc32c(body) {
        return Err("hint checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    if r.bytes(8)? != MAGIC {
        return Err("not a hint file (bad magic)".into());
    }
    let mut index = Index {
        last_at: r.i64()?,
        ..Index::default()
    };
    let last_pos = r.u64()?;
    let nsegs = r.u32()?;
    let mut segs = Vec::new();
    for _ in 0..nsegs {
        let (id, nonce, len, items, live) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        segs.push(SegMeta { id, nonce, len });
        if items > 0 {
            index.counts.insert(id, Counts { items, live });
        }
    }
    for _ in 0..r.u64()? {
        let name = r.name()?.to_string();
        // A second entry would replace the first in `streams` but not in
        // the global log, which would keep the first one's positions.
        if index.streams.contains_key(&name) {
            return Err(format!("stream {name:?} listed twice"));
        }
        let (first, last, n) = (r.u64()?, r.u64()?, r.u64()?);
        if first == 0 || last.checked_add(1) != first.checked_add(n) {
            return Err(format!(
                "stream {name:?}: {n} positions for {first}..={last}"
            ));
        }
        let pos: VecDeque<u64> = u64s(&mut r, n)?;
        let gpos: VecDeque<u64> = u64s(&mut r, n)?;
        let mut ids = BTreeMap::new();
        for _ in 0..r.u64()? {
            ids.insert(r.u64()?, r.name()?);
        }
        for (i, &g) in gpos.iter().enumerate() {
            let seq = first + i as u64;
            index.global.insert(&name, seq, g, ids.get(&seq).copied())?;
        }
        let s = StreamIndex {
            first,
            last,
            pos,
            gpos,
        };
        index.streams.insert(name, s);
    }
    for _ in 0..r.u64()? {
        let key = r.name()?.to_string();
        if index.kv.contains_key(&key) {
            return Err(format!("key {key:?} listed twice"));
        }
        let loc = KvLoc {
            pos: r.u64()?,
            len: r.u32()?,
        };
        index.kv.insert(key, loc);
    }
    for _ in 0..r.u64()? {
        let (id, stream, seq) = (r.name()?, r.name()?, r.u64()?);
        index.global.add_id(id, stream, seq)?;
    }
    index.global.raise_last_pos(last_pos);
    if !r.is_empty() {
        return Err("trailing bytes after the hint".into());
    }
    Ok(Hint { segs, index })
}

/// `n` little-endian u64s; bounded by the bytes present, so a bad count
/// cannot exhaust memory.
fn u64s(r: &mut Reader<'_>, n: u64) -> Result<VecDeque<u64>, String> {
    let len = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(8))
        .ok_or("position count overflows")?;
    Ok(r.bytes(len)?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// Writes the hint atomically (rule 5).
pub(crate) fn write(io: &Io, dir: &Path, segs: &[SegMeta], index: &Index) -> Result<()> {
    io.write_file_atomic(dir, TMP, FILE, &encode(segs, index))
}

/// The hint in `dir`: `None` when there is none, `Some(Err)` when it is
/// unreadable or damaged.
pub(crate) fn load(dir: &Path) -> Option<Result<Hint, String>> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(b) => Some(decode(&b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot read: {e}"))),
    }
}

/// Removes the hint before the segments it names are rewritten.
pub(crate) fn remove(io: &Io, dir: &Path) -> Result<()> {
    let path = dir.join(FILE);
    if path.exists() {
        io.remove(&path)?;
        io.sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::index::pack;

    #[test]
    fn hint_round_trips_and_detects_damage() {
        let mut index = Index {
            last_at: 1234,
            ..Index::default()
        };
        index.streams.insert(
            "s".into(),
            StreamIndex {
                first: 3,
                last: 4,
                pos: [pack(1, 40), pack(1, 90)].into(),
                gpos: [5, 8].into(),
            },
        );
        index.global.insert("s", 3, 5, None).expect("insert");
        index.global.insert("s", 4, 8, Some("k")).expect("insert");
        index.global.add_id("gone", "s", 1).expect("add id");
        index.global.raise_last_pos(9);
        index.kv.insert(
            "k".into(),
            KvLoc {
                pos: pack(1, 200),
                len: 4,
            },
        );
        index.counts.insert(1, Counts { items: 5, live: 3 });
        let segs = [SegMeta {
            id: 1,
            nonce: 7,
            len: 300,
        }];
        let b = encode(&segs, &index);
        let h = decode(&b).expect("decodes");
        assert_eq!((h.segs.as_slice(), &h.index), (&segs[..], &index));
        assert_eq!(h.index.global.id_of("s", 4), Some("k"));
        assert_eq!(h.index.global.last_pos(), 9);
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert!(decode(&d).is_err(), "damage at byte {i} passed");
        }
        assert!(decode(&b[..b.len() - 1]).is_err());
    }
}
