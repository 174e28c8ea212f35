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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use super::codec::{Fields, put_i64, put_name, put_u32, put_u64};
use super::fault::Io;
use super::hint_source::Source;
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
        let id_of = index.ids_of(name);
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
    let dead = index.dead_ids();
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

/// A hint read up to the end of its segment table (its checksum is not
/// yet checked: the rest of the file is still to come): enough for
/// `recover` to tell whether it matches the segments, and to start checking
/// their frames on another thread while `decode` reads on and builds the
/// index.
pub(crate) struct Head<R> {
    pub segs: Vec<SegMeta>,
    index: Index,
    last_pos: u64,
    src: Source<R>,
}

pub(crate) fn head<R: Read>(mut src: Source<R>) -> Result<Head<R>, String> {
    match read_head(&mut src) {
        Ok((segs, index, last_pos)) => Ok(Head {
            segs,
            index,
            last_pos,
            src,
        }),
        Err(msg) => Err(src.verdict(msg)),
    }
}

fn read_head<R: Read>(r: &mut Source<R>) -> Result<(Vec<SegMeta>, Index, u64), String> {
    let magic = r.take(8)?;
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
    Ok((segs, index, last_pos))
}

pub(crate) fn decode(b: &[u8]) -> Result<Hint, String> {
    head(Source::of_slice(b)?)?.decode()
}

impl<R: Read> Head<R> {
    /// The rest of the hint: the index it checkpoints, once the checksum
    /// over the whole file passed.
    pub fn decode(self) -> Result<Hint, String> {
        let Head {
            segs,
            mut index,
            last_pos,
            mut src,
        } = self;
        match read_body(&mut src, &mut index, last_pos) {
            Ok(()) => src.finish().map(|()| Hint { segs, index }),
            Err(msg) => Err(src.verdict(msg)),
        }
    }

    /// Why the hint is set aside when `msg` says it does not fit: a
    /// checksum that fails comes first, as it did when it was checked
    /// before anything was read.
    pub fn reject(self, msg: String) -> String {
        self.src.verdict(msg)
    }

    /// The segments, if the checksum over the whole file passes.
    pub fn checked_segs(self) -> Option<Vec<SegMeta>> {
        self.src.check_rest().ok().map(|()| self.segs)
    }
}

/// The `append_once` ids of the streams being read: their text in one
/// string, each stream's as seq -> range of it (no allocation per id).
#[derive(Default)]
struct Ids {
    text: String,
    of: Vec<BTreeMap<u64, Range<usize>>>,
}

/// Everything after the segment table, into `index`.
fn read_body<R: Read>(r: &mut Source<R>, index: &mut Index, last_pos: u64) -> Result<(), String> {
    // Each stream's number in the global log, and its ids.
    let mut numbers = Vec::new();
    let mut ids = Ids::default();
    for _ in 0..r.u64()? {
        let name = r.name()?.to_string();
        // A second entry would replace the first in `streams` but not in
        // the global log, which would keep the first one's positions.
        if index.streams.contains_key(&name) {
            return Err(format!("stream {name:?} listed twice"));
        }
        // `numbers` and `ids` follow `index.streams`' order: the written one.
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
        let s = StreamIndex {
            first,
            last,
            pos: r.u64s(n)?,
            gpos: r.u64s(n)?,
        };
        // `fill_global` counts on it (`extend_in`).
        if !s.gpos.iter().is_sorted_by(|a, b| a < b) {
            return Err(format!("stream {name:?}: positions do not increase"));
        }
        let mut by_seq = BTreeMap::new();
        for _ in 0..r.u64()? {
            let seq = r.u64()?;
            let start = ids.text.len();
            ids.text.push_str(r.name()?);
            by_seq.insert(seq, start..ids.text.len());
        }
        ids.of.push(by_seq);
        numbers.push(index.global.number(&name));
        index.streams.insert(name, s);
    }
    fill_global(index, &numbers, &ids)?;
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
    let (mut id, mut stream) = (String::new(), String::new());
    for _ in 0..r.u64()? {
        id.clear();
        id.push_str(r.name()?);
        stream.clear();
        stream.push_str(r.name()?);
        index.global.add_id(&id, &stream, r.u64()?)?;
    }
    index.global.raise_last_pos(last_pos);
    Ok(())
}

/// Adds every stream's records to the global log in pos order (the hint
/// lists them by stream, and streams interleave): a merge of the streams'
/// position lists, each already increasing, so every insert is an append.
/// `numbers` and `ids` are per stream, in `index.streams` order.
fn fill_global(index: &mut Index, numbers: &[u32], ids: &Ids) -> Result<(), String> {
    use std::cmp::Reverse;
    let streams: Vec<&StreamIndex> = index.streams.values().collect();
    let (global, live_ids) = (&mut index.global, &mut index.live_ids);
    global.reserve_streams(
        numbers
            .iter()
            .zip(&streams)
            .map(|(&n, s)| (n, s.gpos.len())),
    );
    // (next pos, stream, offset in it), smallest pos first.
    let mut heads: std::collections::BinaryHeap<Reverse<(u64, usize, usize)>> = streams
        .iter()
        .enumerate()
        .filter_map(|(k, s)| Some(Reverse((*s.gpos.front()?, k, 0))))
        .collect();
    while let Some(Reverse((_, k, i))) = heads.pop() {
        let (s, number, by_seq) = (streams[k], numbers[k], &ids.of[k]);
        // This stream's run up to the next stream's head.
        let until = heads.peek().map_or(u64::MAX, |h| h.0.0);
        let run = s.gpos.range(i..).take_while(|&&g| g <= until).count();
        let seq = s.first + i as u64;
        let positions = s.gpos.range(i..i + run).copied();
        if by_seq.is_empty() {
            let ends = (s.gpos[i], s.gpos[i + run - 1]);
            global.extend_in(number, seq, positions, ends)?;
        } else {
            for (seq, g) in (seq..).zip(positions) {
                let id = by_seq.get(&seq).map(|r| &ids.text[r.clone()]);
                live_ids.insert(number, seq, global.insert_in(number, seq, g, id)?);
            }
        }
        if let Some(&g) = s.gpos.get(i + run) {
            heads.push(Reverse((g, k, i + run)));
        }
    }
    Ok(())
}

/// Writes the hint atomically (rule 5).
pub(crate) fn write(io: &Io, dir: &Path, segs: &[SegMeta], index: &Index) -> Result<()> {
    io.write_file_atomic(dir, TMP, FILE, &encode(segs, index))
}

/// The hint in `dir`, decoded: `None` when there is none, `Some(Err)`
/// when it is unreadable or damaged.
pub(crate) fn load(dir: &Path) -> Option<Result<Hint, String>> {
    open(dir).map(|src| head(src?)?.decode())
}

/// The hint file in `dir`, to be read a chunk at a time: `None` when
/// there is none.
pub(crate) fn open(dir: &Path) -> Option<Result<Source<File>, String>> {
    let opened = File::open(dir.join(FILE)).and_then(|f| Ok((f.metadata()?.len(), f)));
    match opened {
        Ok((len, f)) => Some(Source::new(f, len)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot read: {e}"))),
    }
}

/// The hint file's bytes: `None` when there is none.
pub(crate) fn read(dir: &Path) -> Option<Result<Vec<u8>, String>> {
    match std::fs::read(dir.join(FILE)) {
        Ok(b) => Some(Ok(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot read: {e}"))),
    }
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

    /// Seqs `first` and `first + 1` in segment 1, at global `gpos`.
    fn two_records(first: u64, gpos: [u64; 2]) -> StreamIndex {
        StreamIndex {
            first,
            last: first + 1,
            pos: [pack(1, 40), pack(1, 90)].into(),
            gpos: gpos.into(),
        }
    }

    #[test]
    fn hint_round_trips_and_detects_damage() {
        let mut index = Index {
            last_at: 1234,
            ..Index::default()
        };
        index.streams.insert("s".into(), two_records(3, [5, 8]));
        index.global.insert("s", 3, 5, None).expect("insert");
        let slot = index.global.insert("s", 4, 8, Some("k")).expect("insert");
        index.live_ids.insert(index.global.number("s"), 4, slot);
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
        assert_eq!(h.index.ids_of("s")(4), Some("k"));
        assert_eq!(h.index.global.last_pos(), 9);
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert!(decode(&d).is_err(), "damage at byte {i} passed");
        }
        assert!(decode(&b[..b.len() - 1]).is_err());
    }

    /// A stream's positions must increase, as the writer's did: the global
    /// log is filled from them on that premise.
    #[test]
    fn positions_that_do_not_increase_are_refused() {
        let mut index = Index::default();
        index.streams.insert("s".into(), two_records(1, [8, 5]));
        index.global.insert("s", 1, 8, None).expect("insert");
        index.global.insert("s", 2, 5, None).expect("insert");
        let segs = [SegMeta {
            id: 1,
            nonce: 7,
            len: 300,
        }];
        let err = decode(&encode(&segs, &index)).unwrap_err();
        assert!(err.contains("\"s\": positions do not increase"), "{err}");
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
        assert_eq!(h.index.ids_of("b-1")(5), Some("id12"));
        assert_eq!(h.index.global.page_category("b", 0, 100).len(), 20);
    }
}
