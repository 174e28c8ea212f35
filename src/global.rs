//! The global log's in-memory index (SPEC 3.12), shared by the backends
//! that keep their index in memory (mem, on-disk): which record has each
//! pos, per category too, the high-water mark, and the used event ids.
//!
//! Invariants: `all` holds exactly the live records (truncated ones are
//! removed), each category set holds exactly the positions in `all` whose
//! stream is in that category, and `last_pos` is at least every pos ever
//! inserted. Reading `limit` records after any pos costs O(log n + limit).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::backend::IdEntry;
use crate::ids::IdIndex;
use crate::source::category_of;

/// A live record's place in the global log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub stream: Arc<str>,
    pub seq: u64,
    pub pos: u64,
}

#[derive(Debug, Default)]
pub struct GlobalLog {
    last_pos: u64,
    names: Vec<Arc<str>>,
    numbers: HashMap<Arc<str>, u32>,
    /// pos -> (stream number, seq).
    all: BTreeMap<u64, (u32, u64)>,
    categories: HashMap<Box<str>, BTreeSet<u64>>,
    ids: IdIndex,
}

impl GlobalLog {
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

    fn number(&mut self, stream: &str) -> u32 {
        if let Some(&n) = self.numbers.get(stream) {
            return n;
        }
        let name: Arc<str> = Arc::from(stream);
        let n = self.names.len() as u32;
        self.names.push(name.clone());
        self.numbers.insert(name, n);
        n
    }

    /// An error naming the record that holds `pos`, if any does.
    pub fn check_free(&self, pos: u64) -> Result<(), String> {
        match self.all.get(&pos) {
            None if pos > 0 => Ok(()),
            None => Err("pos 0 is not a position".to_string()),
            Some(&(n, s)) => Err(format!(
                "pos {pos} is already stream {:?} seq {s}",
                self.names[n as usize]
            )),
        }
    }

    /// Adds a live record; an error if its pos is taken.
    pub fn insert(&mut self, stream: &str, seq: u64, pos: u64) -> Result<(), String> {
        self.check_free(pos)
            .map_err(|e| format!("stream {stream:?} seq {seq}: {e}"))?;
        let n = self.number(stream);
        self.all.insert(pos, (n, seq));
        match self.categories.get_mut(category_of(stream)) {
            Some(set) => {
                set.insert(pos);
            }
            None => {
                let set = BTreeSet::from([pos]);
                self.categories.insert(category_of(stream).into(), set);
            }
        }
        self.raise_last_pos(pos);
        Ok(())
    }

    /// Takes a truncated record out of the global log.
    pub fn remove(&mut self, stream: &str, pos: u64) {
        self.all.remove(&pos);
        let cat = category_of(stream);
        if let Some(set) = self.categories.get_mut(cat) {
            set.remove(&pos);
            if set.is_empty() {
                self.categories.remove(cat);
            }
        }
    }

    fn loc(&self, pos: u64) -> Option<Loc> {
        let &(n, seq) = self.all.get(&pos)?;
        Some(Loc {
            stream: self.names[n as usize].clone(),
            seq,
            pos,
        })
    }

    /// Live records with `pos > after`, in pos order, at most `limit`.
    pub fn page_all(&self, after: u64, limit: usize) -> Vec<Loc> {
        self.all
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(&pos, &(n, seq))| Loc {
                stream: self.names[n as usize].clone(),
                seq,
                pos,
            })
            .collect()
    }

    /// The same, only streams of `category`.
    pub fn page_category(&self, category: &str, after: u64, limit: usize) -> Vec<Loc> {
        let Some(set) = self.categories.get(category) else {
            return Vec::new();
        };
        set.range(after.saturating_add(1)..)
            .take(limit)
            .filter_map(|&pos| self.loc(pos))
            .collect()
    }

    /// Where the record appended for `id` went.
    pub fn id(&self, id: &str) -> Option<(&str, u64)> {
        let (n, seq) = self.ids.get(id)?;
        Some((&self.names[n as usize], seq))
    }

    /// For `append_once`: the seq already appended for `id` in `stream`, or
    /// `None` if the id is new; an error naming both streams if it was used
    /// in another stream.
    pub fn check_once(&self, stream: &str, id: &str) -> Result<Option<u64>, String> {
        match self.id(id) {
            None => Ok(None),
            Some((s, seq)) if s == stream => Ok(Some(seq)),
            Some((s, seq)) => Err(format!(
                "id {id:?} was used in stream {s:?} (seq {seq}), not stream {stream:?}"
            )),
        }
    }

    /// Marks `id` used by `stream` seq `seq`; using it again for the same
    /// record is a no-op, for another record an error.
    pub fn add_id(&mut self, id: &str, stream: &str, seq: u64) -> Result<(), String> {
        match self.id(id) {
            Some((s, q)) if s == stream && q == seq => Ok(()),
            Some((s, q)) => Err(format!(
                "id {id:?} is already stream {s:?} seq {q}, not stream {stream:?} seq {seq}"
            )),
            None => {
                let n = self.number(stream);
                self.ids.insert(id, n, seq);
                Ok(())
            }
        }
    }

    /// Used ids greater than `after`, sorted, at most `limit`.
    pub fn ids_page(&self, after: &str, limit: usize) -> Vec<IdEntry> {
        self.ids
            .page(after, limit)
            .into_iter()
            .map(|(id, n, seq)| IdEntry {
                id: id.to_string(),
                stream: self.names[n as usize].to_string(),
                seq,
            })
            .collect()
    }

    pub fn id_count(&self) -> usize {
        self.ids.len()
    }

    /// Heap bytes of the id index alone.
    pub fn id_heap_bytes(&self) -> usize {
        self.ids.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poss(locs: &[Loc]) -> Vec<u64> {
        locs.iter().map(|l| l.pos).collect()
    }

    #[test]
    fn pages_by_pos_over_all_and_categories() {
        let mut g = GlobalLog::default();
        for (i, s) in ["user-1", "order-1", "user-2", "user-1", "user"]
            .iter()
            .enumerate()
        {
            g.insert(s, 1, i as u64 + 1).unwrap();
        }
        assert_eq!(g.last_pos(), 5);
        assert_eq!(poss(&g.page_all(0, 10)), [1, 2, 3, 4, 5]);
        assert_eq!(poss(&g.page_all(2, 2)), [3, 4]);
        assert_eq!(poss(&g.page_category("user", 1, 10)), [3, 4, 5]);
        assert_eq!(poss(&g.page_category("order", 0, 10)), [2]);
        assert!(g.page_category("nope", 0, 10).is_empty());
        g.remove("user-2", 3);
        assert_eq!(poss(&g.page_category("user", 0, 10)), [1, 4, 5]);
        assert_eq!(g.last_pos(), 5);
        assert!(g.insert("x", 1, 4).unwrap_err().contains("pos 4"));
    }

    #[test]
    fn ids_belong_to_one_stream() {
        let mut g = GlobalLog::default();
        assert_eq!(g.check_once("a", "k"), Ok(None));
        g.add_id("k", "a", 3).unwrap();
        assert_eq!(g.check_once("a", "k"), Ok(Some(3)));
        let e = g.check_once("b", "k").unwrap_err();
        assert!(e.contains("\"a\"") && e.contains("\"b\""), "{e}");
        g.add_id("k", "a", 3).unwrap();
        assert!(g.add_id("k", "a", 4).is_err());
        assert_eq!(g.ids_page("", 5)[0].stream, "a");
    }
}
