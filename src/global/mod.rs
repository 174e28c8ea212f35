//! The global log's in-memory index (SPEC 3.12), shared by the backends
//! that keep their index in memory (mem, on-disk): which record has each
//! pos, per category too, the high-water mark, and the used event ids.
//! Which live record has which id is the backend's to keep (the memory
//! backend's records hold theirs; the on-disk index keeps `LiveIds`).
//!
//! Invariants: `all` holds exactly the live records (truncated ones are
//! removed), `categories[c]` holds exactly the records of `all` whose
//! stream's category is numbered `c`, and `last_pos` is at least every pos
//! ever inserted. Reading `limit` records after any pos costs
//! O(log n + limit); appending a record above every pos is O(1)
//! (`positions`).

mod positions;

use hashbrown::HashMap;
use std::sync::Arc;

use crate::backend::IdEntry;
use crate::ids::{IdHash, IdIndex};
use crate::source::category_of;
use positions::{Entry, Positions};

/// The largest pos (`limits`); the index keeps a tombstone in the bit above.
const MAX_POS: u64 = i64::MAX as u64;

/// A live record's place in the global log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// The record's stream.
    pub stream: Arc<str>,
    /// Its seq in the stream.
    pub seq: u64,
    /// Its global position.
    pub pos: u64,
}

/// An id's number in the index (`insert` gives it): `id_text` and
/// `id_entry` read it back.
pub type IdSlot = u32;

#[derive(Debug, Clone, Default)]
/// The global log's index: every live record by pos, by category, and
/// the `append_once` ids.
pub struct GlobalLog {
    last_pos: u64,
    /// Stream names by number, and each one's category number.
    names: Vec<Arc<str>>,
    category_of: Vec<u32>,
    numbers: HashMap<Arc<str>, u32>,
    category_numbers: HashMap<Box<str>, u32>,
    all: Positions<Entry>,
    /// The positions of each category's records, by category number.
    categories: Vec<Positions<u64>>,
    ids: IdIndex,
}

/// What `check_once` found for an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// It was used in this stream, for this seq.
    Appended(u64),
    /// It is new; its hash, for `insert_new` in the same log.
    New(IdHash),
}

impl GlobalLog {
    /// The highest pos ever given (0: none).
    pub fn last_pos(&self) -> u64 {
        self.last_pos
    }

    /// The pos the next appended record gets.
    pub fn next_pos(&self) -> u64 {
        self.last_pos + 1
    }

    /// Never lowers it.
    pub fn raise_last_pos(&mut self, pos: u64) {
        self.last_pos = self.last_pos.max(pos);
    }

    /// The number of `stream`, given on first sight; a caller adding many
    /// records of one stream looks it up once and uses `insert_in`.
    pub fn number(&mut self, stream: &str) -> u32 {
        if let Some(&n) = self.numbers.get(stream) {
            return n;
        }
        let name: Arc<str> = Arc::from(stream);
        let n = self.names.len() as u32;
        let category = category_of(stream);
        let c = match self.category_numbers.get(category) {
            Some(&c) => c,
            None => {
                let c = self.categories.len() as u32;
                self.categories.push(Positions::default());
                self.category_numbers.insert(category.into(), c);
                c
            }
        };
        self.names.push(name.clone());
        self.category_of.push(c);
        self.numbers.insert(name, n);
        n
    }

    /// An error naming the record that holds `pos`, if any does.
    pub fn check_free(&self, pos: u64) -> Result<(), String> {
        match self.all.get(pos) {
            None if pos > 0 && pos <= MAX_POS => Ok(()),
            None => Err(format!("pos {pos} is not a position")),
            Some(e) => Err(self.taken(e)),
        }
    }

    fn taken(&self, e: Entry) -> String {
        format!(
            "pos {} is already stream {:?} seq {}",
            e.pos, self.names[e.stream as usize], e.seq
        )
    }

    /// Adds a live record, with the id it was appended with (its slot is
    /// returned); an error if its pos is taken or the id belongs to another
    /// record.
    pub fn insert(
        &mut self,
        stream: &str,
        seq: u64,
        pos: u64,
        id: Option<&str>,
    ) -> Result<Option<IdSlot>, String> {
        let n = self.number(stream);
        self.insert_in(n, seq, pos, id)
    }

    /// `insert` for stream number `n` (from `number`). Changes nothing
    /// when it fails.
    pub fn insert_in(
        &mut self,
        n: u32,
        seq: u64,
        pos: u64,
        id: Option<&str>,
    ) -> Result<Option<IdSlot>, String> {
        let fail = |g: &Self, e: String| format!("stream {:?} seq {seq}: {e}", g.names[n as usize]);
        if pos == 0 || pos > MAX_POS {
            return Err(fail(self, format!("pos {pos} is not a position")));
        }
        let found = id.and_then(|id| self.ids.find(id));
        if let (Some(id), Some(slot)) = (id, found)
            && self.ids.record(slot) != (n, seq)
        {
            let clash = self.id_clash(id, slot, &self.names[n as usize], seq);
            return Err(fail(self, clash));
        }
        let e = Entry {
            pos,
            seq,
            stream: n,
        };
        if let Err(taken) = self.all.insert(e) {
            return Err(fail(self, self.taken(taken)));
        }
        let slot = match (id, found) {
            (Some(id), None) => Some(self.ids.insert(id, n, seq)),
            _ => found,
        };
        self.link(e);
        Ok(slot)
    }

    /// `insert_in` for records `seq, seq + 1, ..` of stream `n` without
    /// ids, at `positions`, which increase from `first` to `last` (the
    /// caller checked that as it read them: a stream's positions do). When
    /// `first` is above every pos so far (on appends and reopens it is) and
    /// `last` is a pos, they are appended in one pass; else one at a time.
    pub fn extend_in<I>(
        &mut self,
        n: u32,
        seq: u64,
        positions: I,
        (first, last): (u64, u64),
    ) -> Result<(), String>
    where
        I: Iterator<Item = u64> + Clone,
    {
        debug_assert!(
            positions.clone().next() == Some(first)
                && positions.clone().last() == Some(last)
                && positions.clone().is_sorted_by(|a, b| a < b),
            "positions do not increase from {first} to {last}"
        );
        let c = self.category_of[n as usize] as usize;
        // Above the last entry of both runs (a tombstone may end either).
        let prev = self.all.last_pos().max(self.categories[c].last_pos());
        if first <= prev || last > MAX_POS {
            for (seq, pos) in (seq..).zip(positions) {
                self.insert_in(n, seq, pos, None)?;
            }
            return Ok(());
        }
        let entries = positions.clone().enumerate();
        self.all.extend_above(entries.map(|(i, pos)| Entry {
            pos,
            seq: seq + i as u64,
            stream: n,
        }));
        self.categories[c].extend_above(positions);
        self.raise_last_pos(last);
        Ok(())
    }

    /// `insert` for a fresh append: `pos` is `next_pos()` and `id`, if
    /// any, was just found unused (`check_once` gave `Once::New` with its
    /// hash), so neither is looked up again.
    pub fn insert_new(&mut self, stream: &str, seq: u64, pos: u64, id: Option<(&str, IdHash)>) {
        debug_assert!(
            pos > self.last_pos && pos <= MAX_POS,
            "pos {pos} is not fresh"
        );
        debug_assert!(id.is_none_or(|(id, _)| self.ids.find(id).is_none()));
        let n = self.number(stream);
        if let Some((id, hash)) = id {
            self.ids.insert_hashed(hash, id, n, seq);
        }
        let e = Entry {
            pos,
            seq,
            stream: n,
        };
        let fresh = self.all.insert(e);
        debug_assert!(fresh.is_ok(), "pos {pos} is not fresh");
        self.link(e);
    }

    /// Adds a record already in `all` to its category.
    fn link(&mut self, e: Entry) {
        let c = self.category_of[e.stream as usize];
        // Disjoint from the category's records: `all` took it.
        let _ = self.categories[c as usize].insert(e.pos);
        self.raise_last_pos(e.pos);
    }

    /// Takes a truncated record out of the global log (its id stays used);
    /// gives its stream number and seq.
    pub fn remove(&mut self, pos: u64) -> Option<(u32, u64)> {
        let e = self.all.remove(pos)?;
        let c = self.category_of[e.stream as usize];
        self.categories[c as usize].remove(pos);
        Some((e.stream, e.seq))
    }

    /// Room for more records above every pos so far: `counts` gives how
    /// many of each stream (by number) are coming. Reserved once, so a
    /// bulk load (a reopen from the hint) does not copy while it grows.
    pub fn reserve_streams(&mut self, counts: impl IntoIterator<Item = (u32, usize)>) {
        let mut per_category = vec![0; self.categories.len()];
        let mut total = 0;
        for (n, count) in counts {
            per_category[self.category_of[n as usize] as usize] += count;
            total += count;
        }
        self.all.reserve(total);
        for (c, count) in self.categories.iter_mut().zip(per_category) {
            c.reserve(count);
        }
    }

    /// Packs the index after bulk loading (a replay, a restore): range
    /// reads then walk plain sorted vectors.
    pub fn settle(&mut self) {
        self.all.settle();
        for c in &mut self.categories {
            c.settle();
        }
    }

    fn loc(&self, e: Entry) -> Loc {
        Loc {
            stream: self.names[e.stream as usize].clone(),
            seq: e.seq,
            pos: e.pos,
        }
    }

    /// The number of `stream`, if it has one (`number` gives it).
    pub fn number_of(&self, stream: &str) -> Option<u32> {
        self.numbers.get(stream).copied()
    }

    /// The name of stream number `n`.
    pub fn name(&self, n: u32) -> &str {
        &self.names[n as usize]
    }

    /// Live records with `pos > after`, in pos order, at most `limit`.
    pub fn page_all(&self, after: u64, limit: usize) -> Vec<Loc> {
        self.all
            .after(after)
            .take(limit)
            .map(|e| self.loc(e))
            .collect()
    }

    /// The same, only streams of `category`.
    pub fn page_category(&self, category: &str, after: u64, limit: usize) -> Vec<Loc> {
        let Some(&c) = self.category_numbers.get(category) else {
            return Vec::new();
        };
        self.categories[c as usize]
            .after(after)
            .take(limit)
            .filter_map(|pos| Some(self.loc(self.all.get(pos)?)))
            .collect()
    }

    /// Where the record appended for `id` went.
    pub fn id(&self, id: &str) -> Option<(&str, u64)> {
        Some(self.id_record(self.ids.find(id)?))
    }

    /// For `append_once`: the seq already appended for `id` in `stream`,
    /// or that the id is new; an error naming both streams if it was used
    /// in another stream.
    pub fn check_once(&self, stream: &str, id: &str) -> Result<Once, String> {
        let hash = self.ids.hash(id);
        match self
            .ids
            .find_hashed(hash, id)
            .map(|slot| self.id_record(slot))
        {
            None => Ok(Once::New(hash)),
            Some((s, seq)) if s == stream => Ok(Once::Appended(seq)),
            Some((s, seq)) => Err(format!(
                "id {id:?} was used in stream {s:?} (seq {seq}), not stream {stream:?}"
            )),
        }
    }

    /// Whether `id` may name `stream` seq `seq`: unused, or used for it.
    pub fn check_id(&self, id: &str, stream: &str, seq: u64) -> Result<(), String> {
        match self.ids.find(id) {
            Some(slot) if self.id_record(slot) != (stream, seq) => {
                Err(self.id_clash(id, slot, stream, seq))
            }
            _ => Ok(()),
        }
    }

    fn id_record(&self, slot: u32) -> (&str, u64) {
        let (n, seq) = self.ids.record(slot);
        (&self.names[n as usize], seq)
    }

    fn id_clash(&self, id: &str, slot: u32, stream: &str, seq: u64) -> String {
        let (s, q) = self.id_record(slot);
        format!("id {id:?} is already stream {s:?} seq {q}, not stream {stream:?} seq {seq}")
    }

    /// Whether `restore` may add these records of `stream` (positions
    /// increasing, as `check_restore` ensured): every pos free, every id
    /// unused or used for that very record, no id twice.
    pub fn check_restore(&self, stream: &str, records: &[crate::Record]) -> Result<(), String> {
        let mut seen = hashbrown::HashSet::new();
        for r in records {
            let fail = |e: String| format!("stream {stream:?} seq {}: {e}", r.seq);
            self.check_free(r.pos).map_err(fail)?;
            if let Some(id) = r.id.as_deref() {
                self.check_id(id, stream, r.seq).map_err(fail)?;
                if !seen.insert(id) {
                    return Err(fail(format!("id {id:?} is given twice")));
                }
            }
        }
        Ok(())
    }

    /// Whether `restore_global` may add these ids.
    pub fn check_ids(&self, ids: &[IdEntry]) -> Result<(), String> {
        let mut seen = HashMap::new();
        for e in ids {
            self.check_id(&e.id, &e.stream, e.seq)?;
            if let Some((s, q)) = seen.insert(e.id.as_str(), (e.stream.as_str(), e.seq))
                && (s, q) != (e.stream.as_str(), e.seq)
            {
                return Err(format!(
                    "id {:?} is given for stream {s:?} seq {q} and stream {:?} seq {}",
                    e.id, e.stream, e.seq
                ));
            }
        }
        Ok(())
    }

    /// Marks `id` used by `stream` seq `seq` (whose record may be gone);
    /// using it again for the same record is a no-op.
    pub fn add_id(&mut self, id: &str, stream: &str, seq: u64) -> Result<(), String> {
        self.check_id(id, stream, seq)?;
        if self.ids.find(id).is_none() {
            let n = self.number(stream);
            self.ids.insert(id, n, seq);
        }
        Ok(())
    }

    /// The id in `slot`.
    pub fn id_text(&self, slot: IdSlot) -> &str {
        self.ids.id(slot)
    }

    /// The id in `slot` and the record it was used for.
    pub fn id_entry(&self, slot: IdSlot) -> IdEntry {
        let (n, seq) = self.ids.record(slot);
        IdEntry {
            id: self.ids.id(slot).to_string(),
            stream: self.names[n as usize].to_string(),
            seq,
        }
    }

    /// Used ids greater than `after`, sorted, at most `limit`.
    pub fn ids_page(&self, after: &str, limit: usize) -> Vec<IdEntry> {
        self.ids
            .page(after, limit)
            .into_iter()
            .map(|slot| self.id_entry(slot))
            .collect()
    }

    /// Every used id but those in `skip`, by slot.
    pub fn id_entries_but(&self, skip: impl Fn(IdSlot) -> bool) -> Vec<IdEntry> {
        (0..self.ids.len() as IdSlot)
            .filter(|&slot| !skip(slot))
            .map(|slot| self.id_entry(slot))
            .collect()
    }

    /// How many `append_once` ids were ever used.
    pub fn id_count(&self) -> usize {
        self.ids.len()
    }

    /// Heap bytes of the id index alone.
    pub fn id_heap_bytes(&self) -> usize {
        self.ids.heap_bytes()
    }
}

/// Equal when they describe the same log, however streams were numbered.
impl PartialEq for GlobalLog {
    fn eq(&self, o: &Self) -> bool {
        self.last_pos == o.last_pos
            && self.all.len() == o.all.len()
            && self.id_count() == o.id_count()
            && self.page_all(0, usize::MAX) == o.page_all(0, usize::MAX)
            && self.ids_page("", usize::MAX) == o.ids_page("", usize::MAX)
    }
}

#[cfg(test)]
mod tests;
