//! The in-memory index: where every live record is on disk.
//!
//! It is built by applying batches in log order, the same way on a live
//! append, on recovery and in `verify`, so the state a reopen recovers is the
//! state the writer had. Payloads stay on disk; a record costs its disk
//! position and its global pos here, plus its entries in `GlobalLog` (and
//! `LiveIds`, when it has an id).

use std::collections::{BTreeMap, VecDeque};

use super::batch::{EventRef, Op};
use super::live_ids::LiveIds;
use crate::backend::IdEntry;
use crate::global::GlobalLog;

/// A record's place on disk: segment id in the top 24 bits, byte offset in
/// the low 40 bits.
pub(crate) type Pos = u64;
const OFF_BITS: u32 = 40;
/// Largest segment id a `Pos` can hold.
pub(crate) const MAX_SEGMENT_ID: u64 = (1 << (64 - OFF_BITS)) - 1;
/// Largest offset a `Pos` can hold; segments never grow past it.
pub(crate) const MAX_OFFSET: u64 = (1 << OFF_BITS) - 1;

pub(crate) fn pack(seg: u64, off: u64) -> Pos {
    (seg << OFF_BITS) | off
}

pub(crate) fn seg_of(p: Pos) -> u64 {
    p >> OFF_BITS
}

pub(crate) fn off_of(p: Pos) -> u64 {
    p & MAX_OFFSET
}

/// Invariant: `pos` holds the kept seqs `first ..= last`, so
/// `pos.len() == last + 1 - first` (empty when `first == last + 1`), and
/// `gpos` their global positions, increasing, `gpos.len() == pos.len()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StreamIndex {
    pub first: u64,
    pub last: u64,
    pub pos: VecDeque<Pos>,
    pub gpos: VecDeque<u64>,
}

/// A kv value's JSON: where it starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct KvLoc {
    pub pos: Pos,
    pub len: u32,
}

/// Per segment: records (events, kv values) written into it, and how many of
/// them are still live. The ratio estimates the segment's dead bytes.
/// Invariant: only segments with `items > 0` have an entry, so indexes built
/// by different routes (replay, hint, compaction) compare equal.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Counts {
    pub items: u64,
    pub live: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    pub streams: BTreeMap<String, StreamIndex>,
    pub kv: BTreeMap<String, KvLoc>,
    pub counts: BTreeMap<u64, Counts>,
    /// Largest `at` in the log: new appends never go below it.
    pub last_at: i64,
    /// Global positions, categories and ids (SPEC 3.12).
    pub global: GlobalLog,
    /// Which live record has which id.
    pub live_ids: LiveIds,
}

/// Equal when they describe the same log, however streams and ids were
/// numbered.
impl PartialEq for Index {
    fn eq(&self, o: &Self) -> bool {
        self.streams == o.streams
            && self.kv == o.kv
            && self.counts == o.counts
            && self.last_at == o.last_at
            && self.global == o.global
            && self.live_ids.listed(&self.global) == o.live_ids.listed(&o.global)
    }
}

/// The first and last pos of an op's records, if they all have a pos and
/// no id, at positions increasing from above `after` (the stream's last
/// pos) and never 0: `extend_in` takes them in one go, with what the
/// per-record path would check.
fn plain_run(after: Option<u64>, events: &[EventRef<'_>]) -> Option<(u64, u64)> {
    let mut prev = after.unwrap_or(0);
    for e in events {
        prev = e.pos.filter(|&p| p > prev && e.id.is_none())?;
    }
    Some((events.first()?.pos?, prev))
}

impl Index {
    pub fn last_seq(&self, stream: &str) -> u64 {
        self.streams.get(stream).map_or(0, |s| s.last)
    }

    /// The id of each live record of `stream`, by seq.
    pub fn ids_of<'a>(&'a self, stream: &str) -> impl Fn(u64) -> Option<&'a str> + use<'a> {
        self.live_ids.of(&self.global, stream)
    }

    /// Every used id whose record is gone: a rewrite of the live records
    /// keeps them besides.
    pub fn dead_ids(&self) -> Vec<IdEntry> {
        self.live_ids.dead(&self.global)
    }

    /// Applies one frame's ops; `frame` is the frame's own position.
    /// An error means the log contradicts itself (corruption).
    pub fn apply(&mut self, frame: Pos, ops: &[Op<'_>]) -> Result<(), String> {
        for op in ops {
            self.apply_op(frame, op)?;
        }
        Ok(())
    }

    fn apply_op(&mut self, frame: Pos, op: &Op<'_>) -> Result<(), String> {
        let seg = seg_of(frame);
        match op {
            Op::Events {
                stream,
                first,
                last,
                events,
            } => {
                let s = match self.streams.get_mut(*stream) {
                    Some(s) => s,
                    None => self.streams.entry(stream.to_string()).or_default(),
                };
                if s.last == 0 && s.pos.is_empty() {
                    // A new stream, or one restored empty with last seq 0.
                    s.first = *first;
                } else if *first != s.last + 1 {
                    return Err(format!(
                        "stream {stream:?}: events from seq {first} follow last seq {}",
                        s.last
                    ));
                }
                s.last = *last;
                let n = self.global.number(stream);
                if let Some(ends) = plain_run(s.gpos.back().copied(), events) {
                    // The common case (every append_all, and on a replay
                    // every record but restored ones with ids): one bulk
                    // update per op instead of one insert per record.
                    let positions = events.iter().filter_map(|e| e.pos);
                    self.global.extend_in(n, *first, positions, ends)?;
                    s.pos.extend(events.iter().map(|e| frame + e.off as u64));
                    s.gpos.reserve(events.len());
                    s.gpos.extend(events.iter().filter_map(|e| e.pos));
                    let at = events.iter().map(|e| e.at).max();
                    self.last_at = self.last_at.max(at.unwrap_or(i64::MIN));
                } else {
                    for (i, e) in events.iter().enumerate() {
                        // A version 1 record takes the next pos in log order
                        // (none is left after a `LastPos` of u64::MAX).
                        let gpos = match e.pos {
                            Some(p) => p,
                            None => self.global.last_pos().checked_add(1).ok_or_else(|| {
                                format!(
                                    "stream {stream:?}: no pos is left for seq {}",
                                    *first + i as u64
                                )
                            })?,
                        };
                        if s.gpos.back().is_some_and(|&b| b >= gpos) {
                            return Err(format!(
                                "stream {stream:?}: pos {gpos} does not follow pos {:?}",
                                s.gpos.back()
                            ));
                        }
                        let seq = *first + i as u64;
                        let slot = self.global.insert_in(n, seq, gpos, e.id)?;
                        self.live_ids.insert(n, seq, slot);
                        s.pos.push_back(frame + e.off as u64);
                        s.gpos.push_back(gpos);
                        self.last_at = self.last_at.max(e.at);
                    }
                }
                if !events.is_empty() {
                    let c = self.counts.entry(seg).or_default();
                    c.items += events.len() as u64;
                    c.live += events.len() as u64;
                }
            }
            Op::KvPut { key, off, len } => {
                let loc = KvLoc {
                    pos: frame + *off as u64,
                    len: *len,
                };
                let c = self.counts.entry(seg).or_default();
                c.items += 1;
                c.live += 1;
                if let Some(old) = self.kv.insert(key.to_string(), loc) {
                    self.kill(old.pos);
                }
            }
            Op::KvDel { key } => {
                if let Some(old) = self.kv.remove(*key) {
                    self.kill(old.pos);
                }
            }
            Op::Truncate { stream, through } => {
                let Some(s) = self.streams.get_mut(*stream) else {
                    return Err(format!("truncation of unknown stream {stream:?}"));
                };
                let new_first = s.first.max(through.saturating_add(1).min(s.last + 1));
                let n = (new_first - s.first) as usize;
                let n = n.min(s.pos.len());
                let dropped: Vec<Pos> = s.pos.drain(..n).collect();
                for g in s.gpos.drain(..n) {
                    self.live_ids.remove(self.global.remove(g));
                }
                s.first = new_first;
                for p in dropped {
                    self.kill(p);
                }
            }
            Op::Ids(ids) => {
                for (id, stream, seq) in ids {
                    self.global.add_id(id, stream, *seq)?;
                }
            }
            Op::LastPos(p) => self.global.raise_last_pos(*p),
        }
        Ok(())
    }

    /// Moves every record that lies in a segment below `keep_from` to its
    /// place in `out`, the index of those segments as compaction rewrote
    /// them (from a snapshot of this index: since then only truncations,
    /// kv writes and records in `keep_from..` were added). Then recounts
    /// live records, so the result is what replaying the new log gives.
    pub fn rebase(&mut self, out: &Index, keep_from: u64) -> Result<(), String> {
        for (name, s) in &mut self.streams {
            let first = s.first;
            for (i, p) in s.pos.iter_mut().enumerate() {
                if seg_of(*p) >= keep_from {
                    // Later records are all in new segments too.
                    break;
                }
                let seq = first + i as u64;
                let moved = out.streams.get(name).and_then(|o| {
                    let at = seq.checked_sub(o.first)?;
                    o.pos.get(usize::try_from(at).ok()?).copied()
                });
                *p = moved.ok_or_else(|| format!("stream {name:?} seq {seq} was not rewritten"))?;
            }
        }
        for (key, loc) in &mut self.kv {
            if seg_of(loc.pos) < keep_from {
                *loc = *out
                    .kv
                    .get(key)
                    .ok_or_else(|| format!("key {key:?} was not rewritten"))?;
            }
        }
        let mut counts: BTreeMap<u64, Counts> = out.counts.clone();
        counts.extend(self.counts.range(keep_from..).map(|(id, c)| (*id, *c)));
        for c in counts.values_mut() {
            c.live = 0;
        }
        let live = self.streams.values().flat_map(|s| s.pos.iter().copied());
        for p in live.chain(self.kv.values().map(|l| l.pos)) {
            if let Some(c) = counts.get_mut(&seg_of(p)) {
                c.live += 1;
            }
        }
        self.counts = counts;
        Ok(())
    }

    /// A record at `p` stopped being live.
    fn kill(&mut self, p: Pos) {
        if let Some(c) = self.counts.get_mut(&seg_of(p)) {
            c.live = c.live.saturating_sub(1);
        }
    }

    /// How many records `truncate_through(stream, through)` would drop.
    pub fn would_drop(&self, stream: &str, through: u64) -> u64 {
        self.streams.get(stream).map_or(0, |s| {
            let new_first = s.first.max(through.saturating_add(1).min(s.last + 1));
            new_first - s.first
        })
    }

    /// Estimated bytes held by dead records in a segment of `len` bytes.
    pub fn dead_bytes(&self, seg: u64, len: u64, header: u64) -> u64 {
        let body = len.saturating_sub(header);
        match self.counts.get(&seg) {
            Some(c) if c.items > 0 => {
                (body as u128 * (c.items - c.live.min(c.items)) as u128 / c.items as u128) as u64
            }
            // Only truncations and deletions: dead once compacted away.
            _ => body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::batch::{EventRef, Op};

    fn events(stream: &str, first: u64, n: u64) -> Op<'_> {
        Op::Events {
            stream,
            first,
            last: first + n - 1,
            events: (0..n)
                .map(|i| EventRef {
                    at: 5,
                    off: i as usize * 20,
                    pos: None,
                    id: None,
                })
                .collect(),
        }
    }

    #[test]
    fn truncation_drops_a_prefix_and_counts_dead_records() {
        let mut ix = Index::default();
        ix.apply(pack(1, 100), &[events("s", 1, 4)])
            .expect("append");
        assert_eq!(ix.would_drop("s", 2), 2);
        ix.apply(
            pack(1, 500),
            &[Op::Truncate {
                stream: "s",
                through: 2,
            }],
        )
        .expect("truncate");
        let s = &ix.streams["s"];
        assert_eq!((s.first, s.last, s.pos.len()), (3, 4, 2));
        assert_eq!(off_of(s.pos[0]), 140);
        assert_eq!(ix.counts[&1], Counts { items: 4, live: 2 });
        // Truncating past the end keeps the high-water mark.
        ix.apply(
            pack(1, 600),
            &[Op::Truncate {
                stream: "s",
                through: 99,
            }],
        )
        .expect("truncate");
        assert_eq!((ix.streams["s"].first, ix.last_seq("s")), (5, 4));
        assert!(ix.apply(pack(2, 0), &[events("s", 7, 1)]).is_err());
    }

    fn with_pos(op: Op<'_>, pos: impl Fn(u64) -> u64) -> Op<'_> {
        let Op::Events {
            stream,
            first,
            last,
            mut events,
        } = op
        else {
            unreachable!("built by `events`")
        };
        for (i, e) in events.iter_mut().enumerate() {
            e.pos = Some(pos(i as u64));
        }
        Op::Events {
            stream,
            first,
            last,
            events,
        }
    }

    /// Records with positions and no ids go in as a bulk run; the index is
    /// the one record-by-record insertion builds (version 1 records take
    /// positions 1, 2, .. the same way), and what it must refuse, it does.
    #[test]
    fn a_run_of_records_indexes_as_one_record_at_a_time() {
        let (mut one_by_one, mut bulk) = (Index::default(), Index::default());
        for (frame, first) in [(pack(1, 0), 1), (pack(1, 900), 6)] {
            one_by_one
                .apply(frame, &[events("s", first, 5)])
                .expect("v1");
            let op = with_pos(events("s", first, 5), |i| first + i);
            bulk.apply(frame, &[op]).expect("run");
        }
        assert_eq!(bulk, one_by_one);
        let refused = [
            (with_pos(events("t", 1, 2), |i| i), "pos 0"),
            (with_pos(events("t", 1, 2), |_| 20), "a pos twice"),
            (with_pos(events("t", 1, 2), |i| 9 - i), "decreasing"),
            (with_pos(events("t", 1, 2), |i| 3 + i), "taken by s"),
            (with_pos(events("s", 11, 1), |_| 10), "below s's last"),
        ];
        for (op, why) in refused {
            assert!(bulk.clone().apply(pack(2, 0), &[op]).is_err(), "{why}");
        }
    }

    #[test]
    fn kv_overwrite_kills_the_old_value() {
        let mut ix = Index::default();
        let put = |off| Op::KvPut {
            key: "k",
            off,
            len: 1,
        };
        ix.apply(pack(1, 0), &[put(10)]).expect("put");
        ix.apply(pack(2, 0), &[put(10)]).expect("put");
        assert_eq!(ix.counts[&1].live, 0);
        assert_eq!(ix.dead_bytes(1, 1032, 32), 1000);
        ix.apply(pack(2, 50), &[Op::KvDel { key: "k" }])
            .expect("del");
        assert!(ix.kv.is_empty());
        assert_eq!(ix.counts[&2], Counts { items: 1, live: 0 });
    }
}
