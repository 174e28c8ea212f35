//! The hint file: a checkpoint of the index, so reopening skips the scan.
//!
//! It is only a cache (STORAGE rule 5). It names every segment it covers with
//! its nonce and length; recovery uses it only when those match the files,
//! then scans just what was appended after it. Written via temp file, fsync,
//! rename, directory fsync, and only ever covering fsync'd data.
//!
//! ```text
//! "PRSTHNT2" (version 2, see `version`), last_at i64, last_pos u64,
//! segments u32 x (id, nonce, len, items, live: u64),
//! streams u64 x (name, first u64, last u64, count u64, count x pos u64,
//!                count x global pos u64, ids u64 x (seq u64, id name)),
//! kv u64 x (name, pos u64, len u32),
//! dead ids u64 x (id name, stream name, seq u64),
//! crc32c of everything before it (u32)
//! ```
//! A version 1 hint (no positions), or one a newer persist wrote, fails the
//! magic check and is set aside like any unusable hint, the reason in the
//! open report: the open rebuilds the index from the log.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use super::codec::{Reader, put_i64, put_name, put_u32, put_u64};
use super::fault::Io;
use super::index::{Counts, Index, KvLoc, StreamIndex};
use super::version::{self, Kind};
use crate::Result;

pub(crate) const FILE: &str = "hint";
pub(crate) const TMP: &str = "hint.tmp";

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
    b.extend_from_slice(&Kind::Hint.magic());
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

/// A hint whose checksum and magic check out, read up to the end of its
/// segment table: enough for `recover` to tell whether it matches the
/// segments, and to start checking their frames on another thread while
/// `decode` builds the index.
pub(crate) struct Head<'a> {
    pub segs: Vec<SegMeta>,
    index: Index,
    last_pos: u64,
    r: Reader<'a>,
}

pub(crate) fn head(b: &[u8]) -> Result<Head<'_>, String> {
    let (body, crc) = b
        .split_at_checked(b.len().saturating_sub(4))
        .ok_or("empty hint")?;
    let crc = Reader::new(crc).u32()?;
    if crc != crc32c::crc32c(body) {
        return Err("hint checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    let magic = r.bytes(8)?;
    if magic != Kind::Hint.magic() {
        return Err(version::mismatch(Kind::Hint, magic));
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
    Ok(Head {
        segs,
        index,
        last_pos,
        r,
    })
}

pub(crate) fn decode(b: &[u8]) -> Result<Hint, String> {
    head(b)?.decode()
}

impl Head<'_> {
    /// The rest of the hint: the index it checkpoints.
    pub fn decode(self) -> Result<Hint, String> {
        let Head {
            segs,
            mut index,
            last_pos,
            mut r,
        } = self;
        // Each stream's ids by seq, and its number in the global log.
        let mut extra: Vec<(u32, BTreeMap<u64, &str>)> = Vec::new();
        for _ in 0..r.u64()? {
            let name = r.name()?.to_string();
            // A second entry would replace the first in `streams` but not in
            // the global log, which would keep the first one's positions.
            if index.streams.contains_key(&name) {
                return Err(format!("stream {name:?} listed twice"));
            }
            // `extra` follows `index.streams`' order: the written one.
            if index
                .streams
                .last_key_value()
                .is_some_and(|(k, _)| *k > name)
            {
                return Err(format!("stream {name:?} is out of order"));
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
            extra.push((index.global.number(&name), ids));
            let s = StreamIndex {
                first,
                last,
                pos,
                gpos,
            };
            index.streams.insert(name, s);
        }
        fill_global(&mut index, &extra)?;
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
}

/// Adds every stream's records to the global log in pos order (the hint
/// lists them by stream, and streams interleave): a merge of the streams'
/// position lists, each already increasing, so every insert is an append.
/// `extra` is each stream's (number, ids) in `index.streams` order.
fn fill_global(index: &mut Index, extra: &[(u32, BTreeMap<u64, &str>)]) -> Result<(), String> {
    use std::cmp::Reverse;
    let streams: Vec<&StreamIndex> = index.streams.values().collect();
    let global = &mut index.global;
    global.reserve(streams.iter().map(|s| s.gpos.len()).sum());
    // (next pos, stream, offset in it), smallest pos first.
    let mut heads: std::collections::BinaryHeap<Reverse<(u64, usize, usize)>> = streams
        .iter()
        .enumerate()
        .filter_map(|(k, s)| Some(Reverse((*s.gpos.front()?, k, 0))))
        .collect();
    while let Some(Reverse((_, k, i))) = heads.pop() {
        let (s, (number, ids)) = (streams[k], &extra[k]);
        // This stream's run up to the next stream's head.
        let until = heads.peek().map_or(u64::MAX, |h| h.0.0);
        let run = s.gpos.range(i..).take_while(|&&g| g <= until).count();
        let seq = s.first + i as u64;
        let positions = s.gpos.range(i..i + run).copied();
        if ids.is_empty() {
            global.extend_in(*number, seq, positions)?;
        } else {
            for (seq, g) in (seq..).zip(positions) {
                global.insert_in(*number, seq, g, ids.get(&seq).copied())?;
            }
        }
        if let Some(&g) = s.gpos.get(i + run) {
            heads.push(Reverse((g, k, i + run)));
        }
    }
    Ok(())
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
    read(dir).map(|b| decode(&b?))
}

/// The hint file's bytes: `None` when there is none.
pub(crate) fn read(dir: &Path) -> Option<Result<Vec<u8>, String>> {
    let read = std::fs::File::open(dir.join(FILE)).and_then(|f| read_halves(&f));
    match read {
        Ok(b) => Some(Ok(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot read: {e}"))),
    }
}

/// A hint at least this long is read by two threads.
const HALVES_FROM: usize = 4 << 20;

/// The whole file; a large one read in two halves on two threads. A reopen
/// waits for this read before it can decode, and most of its time is the
/// first touch of each page of the fresh buffer (16 MB at 1 M events), which
/// two threads do side by side. A file that shrank meanwhile is an error,
/// one that grew fails the checksum: a hint is replaced by a rename, never
/// changed in place.
fn read_halves(f: &std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(f.metadata()?.len()).map_err(std::io::Error::other)?;
    let mut b = vec![0u8; len];
    if len < HALVES_FROM {
        f.read_exact_at(&mut b, 0)?;
        return Ok(b);
    }
    let (lo, hi) = b.split_at_mut(len / 2);
    let at = lo.len() as u64;
    std::thread::scope(|s| {
        let other = s.spawn(|| f.read_exact_at(hi, at));
        let mine = f.read_exact_at(lo, 0);
        let theirs = other
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        mine.and(theirs)
    })?;
    Ok(b)
}

/// Whether the hint in `dir` was written by a newer persist: set aside
/// like a stale one, not damage.
pub(crate) fn is_newer(dir: &Path) -> bool {
    let path = dir.join(FILE);
    matches!(read(dir), Some(Ok(b)) if version::newer(Kind::Hint, &path, &b).is_some())
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

    /// Streams whose positions interleave, some with ids: the decoded
    /// global log (merged in pos order) equals the one the writer had.
    #[test]
    fn interleaved_streams_round_trip_in_pos_order() {
        use crate::ondisk::batch::{EventRef, Op};
        let mut index = Index::default();
        let names = ["b-1", "a-1", "b-2"];
        for k in 0..30u64 {
            let stream = names[(k % 3) as usize];
            let id = format!("id{k}");
            let events = vec![EventRef {
                at: 1,
                off: 0,
                pos: Some(k + 1),
                id: (k % 4 == 0).then_some(id.as_str()),
            }];
            let first = index.last_seq(stream) + 1;
            let op = Op::Events {
                stream,
                first,
                last: first,
                events,
            };
            index.apply(pack(1, 100 + k * 50), &[op]).expect("apply");
        }
        let segs = [SegMeta {
            id: 1,
            nonce: 7,
            len: 2000,
        }];
        let h = decode(&encode(&segs, &index)).expect("decodes");
        assert_eq!(h.index, index);
        assert_eq!(h.index.global.page_all(10, 3), index.global.page_all(10, 3));
        assert_eq!(h.index.global.id_of("b-1", 5), Some("id12"));
        assert_eq!(h.index.global.page_category("b", 0, 100).len(), 20);
    }
    /// A hint large enough to be read in two halves comes back whole, byte
    /// for byte (an odd length, so the halves differ).
    #[test]
    fn a_large_hint_is_read_whole_in_halves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let len = HALVES_FROM + 4097;
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.path().join(FILE), &bytes).expect("write");
        assert_eq!(read(dir.path()), Some(Ok(bytes)));
        std::fs::write(dir.path().join(FILE), b"short").expect("write");
        assert_eq!(read(dir.path()), Some(Ok(b"short".to_vec())));
        std::fs::remove_file(dir.path().join(FILE)).expect("remove");
        assert_eq!(read(dir.path()), None);
    }
}
