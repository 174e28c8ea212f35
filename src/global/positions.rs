//! An ordered map from pos to a record, shaped for how the global log is
//! used: nearly every insert is above every pos so far (appends, and
//! replays of the log in log order), reads are ranges after a pos, and
//! removals (truncations) are scattered.
//!
//! Most entries live in `run`, a vector sorted by pos, where an insert
//! above the last pos is a push and a lookup a binary search (a `BTreeMap`
//! made reopening a million records several times slower than reading
//! them). An insert at or below the run's last pos (a restore, a compacted
//! segment) goes to `overflow`, which
//! is merged into the run once it holds a quarter as many entries, so
//! every insert stays amortized O(log n). A removal in the run leaves a
//! tombstone (the pos with its top bit set); the run drops them once they
//! are half of it.
//!
//! Invariants: `run` is strictly increasing in pos; every overflow pos is
//! below the run's last entry (live or tombstone: only `settle` drops that
//! entry, and it empties the overflow); a pos is live in at most one of
//! the two; `dead` counts the run's tombstones and `live` the live entries
//! in both.

use std::collections::BTreeMap;

/// Positions are at most `i64::MAX` (`limits`), so the top bit of a
/// stored pos is free to mark a tombstone.
const DEAD: u64 = 1 << 63;

/// The overflow is merged when it holds more than this many entries and
/// more than a quarter of the run's.
const MERGE_MIN: usize = 1024;

/// What a `Positions` holds per pos: the pos itself, and room to mark the
/// entry removed (a tombstone) in place.
pub(crate) trait Item: Copy {
    /// The pos, tombstone or not.
    fn pos(&self) -> u64;
    fn is_live(&self) -> bool;
    /// Makes it a tombstone with the same `pos()`.
    fn kill(&mut self);
}

/// A category's record: its pos only (the rest is in the global index).
impl Item for u64 {
    fn pos(&self) -> u64 {
        self & !DEAD
    }
    fn is_live(&self) -> bool {
        self & DEAD == 0
    }
    fn kill(&mut self) {
        *self |= DEAD;
    }
}

/// One record of the global index: pos, stream number and seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub pos: u64,
    pub seq: u64,
    pub stream: u32,
}

impl Item for Entry {
    fn pos(&self) -> u64 {
        self.pos & !DEAD
    }
    fn is_live(&self) -> bool {
        self.pos & DEAD == 0
    }
    fn kill(&mut self) {
        self.pos |= DEAD;
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Positions<T> {
    run: Vec<T>,
    dead: usize,
    overflow: BTreeMap<u64, T>,
    live: usize,
}

impl<T> Default for Positions<T> {
    fn default() -> Self {
        Positions {
            run: Vec::new(),
            dead: 0,
            overflow: BTreeMap::new(),
            live: 0,
        }
    }
}

impl<T: Item> Positions<T> {
    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Room for `n` more entries above the last.
    pub fn reserve(&mut self, n: usize) {
        self.run.reserve(n);
    }

    fn run_index(&self, pos: u64) -> Result<usize, usize> {
        self.run.binary_search_by_key(&pos, T::pos)
    }

    /// The entry at `pos`.
    pub fn get(&self, pos: u64) -> Option<T> {
        if let Ok(i) = self.run_index(pos) {
            let e = self.run[i];
            if e.is_live() {
                return Some(e);
            }
        }
        self.overflow.get(&pos).copied()
    }

    /// The pos of the last entry of the run, live or not (0: none); every
    /// entry, the overflow's too, is at or below it.
    pub fn last_pos(&self) -> u64 {
        self.run.last().map_or(0, T::pos)
    }

    /// Appends entries the caller knows are increasing and above every
    /// entry (`extend_in` checked them): one pass, no lookups.
    pub fn extend_above(&mut self, entries: impl Iterator<Item = T>) {
        let before = self.run.len();
        self.run.extend(entries);
        self.live += self.run.len() - before;
        let joined = &self.run[before.saturating_sub(1)..];
        debug_assert!(joined.windows(2).all(|w| w[0].pos() < w[1].pos()));
    }

    /// Adds an entry; `Err` with the entry that already holds its pos.
    pub fn insert(&mut self, e: T) -> Result<(), T> {
        debug_assert!(e.is_live() && e.pos() > 0);
        // Above the run's last entry is above the overflow too.
        if self.run.last().is_none_or(|l| l.pos() < e.pos()) {
            self.run.push(e);
        } else {
            if let Some(taken) = self.get(e.pos()) {
                return Err(taken);
            }
            match self.run_index(e.pos()) {
                // A tombstone at this very pos: the slot comes back to life.
                Ok(i) => {
                    self.run[i] = e;
                    self.dead -= 1;
                }
                Err(_) => {
                    self.overflow.insert(e.pos(), e);
                    if self.overflow.len() > MERGE_MIN.max(self.run.len() / 4) {
                        self.settle();
                    }
                }
            }
        }
        self.live += 1;
        Ok(())
    }

    /// Takes out the entry at `pos`, if there is one.
    pub fn remove(&mut self, pos: u64) -> Option<T> {
        let e = match self.run_index(pos) {
            Ok(i) if self.run[i].is_live() => {
                let e = self.run[i];
                self.run[i].kill();
                self.dead += 1;
                e
            }
            _ => self.overflow.remove(&pos)?,
        };
        self.live -= 1;
        if self.dead > MERGE_MIN && self.dead > self.run.len() / 2 {
            self.settle();
        }
        Some(e)
    }

    /// Merges the overflow into the run and drops the tombstones: reads
    /// then touch one sorted vector.
    pub fn settle(&mut self) {
        if self.overflow.is_empty() && self.dead == 0 {
            return;
        }
        let overflow = std::mem::take(&mut self.overflow);
        let old = std::mem::take(&mut self.run);
        let mut run = Vec::with_capacity(self.live);
        run.extend(Merge::new(&old, overflow.values()));
        self.run = run;
        self.dead = 0;
    }

    /// Live entries with pos > `after`, in pos order.
    pub fn after(&self, after: u64) -> impl Iterator<Item = T> + '_ {
        let start = self.run.partition_point(|e| e.pos() <= after);
        Merge::new(
            &self.run[start..],
            self.overflow
                .range(after.saturating_add(1)..)
                .map(|(_, e)| e),
        )
    }
}

/// The live entries of a run slice and of overflow entries (live, sorted),
/// in pos order.
struct Merge<'a, T, O: Iterator<Item = &'a T>> {
    run: std::iter::Peekable<std::slice::Iter<'a, T>>,
    overflow: std::iter::Peekable<O>,
}

impl<'a, T: Item, O: Iterator<Item = &'a T>> Merge<'a, T, O> {
    fn new(run: &'a [T], overflow: O) -> Self {
        Merge {
            run: run.iter().peekable(),
            overflow: overflow.peekable(),
        }
    }
}

impl<'a, T: Item, O: Iterator<Item = &'a T>> Iterator for Merge<'a, T, O> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            let from_run = match (self.run.peek(), self.overflow.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(r), Some(o)) => r.pos() < o.pos(),
            };
            let e = match from_run {
                true => *self.run.next()?,
                false => *self.overflow.next()?,
            };
            if e.is_live() {
                return Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(pos: u64) -> Entry {
        Entry {
            pos,
            seq: pos * 10,
            stream: (pos % 7) as u32,
        }
    }

    /// Random inserts (mostly ascending, some below the tail), removals
    /// and settles agree with a `BTreeMap` at every step.
    #[test]
    fn matches_a_btreemap_under_mixed_operations() {
        let mut p = Positions::<Entry>::default();
        let mut model = BTreeMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut top = 0;
        for step in 0..20_000 {
            let r = next();
            match r % 10 {
                0..=4 => {
                    top += 1 + r % 3;
                    assert_eq!(p.insert(entry(top)), Ok(()));
                    model.insert(top, entry(top));
                }
                5..=6 => {
                    let pos = 1 + next() % (top + 1);
                    let want = model.get(&pos).copied();
                    match p.insert(entry(pos)) {
                        Ok(()) => assert!(want.is_none(), "pos {pos} was taken"),
                        Err(taken) => assert_eq!(Some(taken), want),
                    }
                    model.entry(pos).or_insert(entry(pos));
                }
                7..=8 => {
                    let pos = 1 + next() % (top + 1);
                    assert_eq!(p.remove(pos), model.remove(&pos), "remove {pos}");
                }
                _ if step % 500 == 0 => p.settle(),
                _ => {
                    let pos = next() % (top + 1);
                    assert_eq!(p.get(pos), model.get(&pos).copied(), "get {pos}");
                }
            }
            assert_eq!(p.len(), model.len());
            if step % 997 == 0 {
                let after = next() % (top + 1);
                let got: Vec<Entry> = p.after(after).collect();
                let want: Vec<Entry> = model.range(after + 1..).map(|(_, e)| *e).collect();
                assert_eq!(got, want, "after {after}");
            }
        }
    }

    #[test]
    fn tombstones_revive_and_settle_away() {
        let mut p = Positions::<u64>::default();
        for pos in 1..=5 {
            p.insert(pos).unwrap();
        }
        assert_eq!(p.remove(3), Some(3));
        assert_eq!(p.remove(3), None);
        assert_eq!(p.get(3), None);
        assert_eq!(p.insert(2), Err(2));
        p.insert(3).unwrap();
        assert_eq!(p.get(3), Some(3));
        p.remove(1);
        p.settle();
        assert_eq!((p.run.len(), p.dead, p.len()), (4, 0, 4));
        let all: Vec<u64> = p.after(0).collect();
        assert_eq!(all, [2, 3, 4, 5]);
    }
}
