//! The event-id index of `append_once`: id -> (stream, seq), kept for the
//! life of the store.
//!
//! Compact by construction: the ids' bytes sit end to end in one arena and
//! the hash table holds 24-byte slots pointing into it, so an id costs its
//! own length plus about 28 bytes (slot and control byte at the table's
//! load factor), with no allocation per id. Streams are numbered by the
//! caller (`GlobalLog` interns the names).

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Where one id's bytes are in the arena, and its record.
#[derive(Debug, Clone, Copy)]
struct Slot {
    off: u64,
    len: u32,
    stream: u32,
    seq: u64,
}

#[derive(Default)]
pub struct IdIndex {
    arena: Vec<u8>,
    table: HashTable<Slot>,
    hasher: std::hash::RandomState,
}

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdIndex({} ids)", self.len())
    }
}

impl IdIndex {
    fn bytes(&self, s: &Slot) -> &[u8] {
        &self.arena[s.off as usize..s.off as usize + s.len as usize]
    }

    fn find(&self, id: &str) -> Option<&Slot> {
        let hash = self.hasher.hash_one(id.as_bytes());
        self.table.find(hash, |s| self.bytes(s) == id.as_bytes())
    }

    /// `(stream number, seq)` of the record appended for `id`.
    pub fn get(&self, id: &str) -> Option<(u32, u64)> {
        self.find(id).map(|s| (s.stream, s.seq))
    }

    /// Remembers `id`; the caller checked it is new.
    pub fn insert(&mut self, id: &str, stream: u32, seq: u64) {
        debug_assert!(self.find(id).is_none(), "id {id:?} inserted twice");
        let slot = Slot {
            off: self.arena.len() as u64,
            len: id.len() as u32,
            stream,
            seq,
        };
        self.arena.extend_from_slice(id.as_bytes());
        let hash = self.hasher.hash_one(id.as_bytes());
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table.insert_unique(hash, slot, |s| {
            hasher.hash_one(&arena[s.off as usize..s.off as usize + s.len as usize])
        });
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Up to `limit` ids greater than `after`, sorted, with their records:
    /// one pass over the table and a partial sort, so paging through every
    /// id costs O(n) per page.
    pub fn page(&self, after: &str, limit: usize) -> Vec<(&str, u32, u64)> {
        let mut items: Vec<(&str, u32, u64)> = self
            .table
            .iter()
            .map(|s| (self.id_of(s), s.stream, s.seq))
            .filter(|(id, _, _)| *id > after)
            .collect();
        if items.len() > limit && limit > 0 {
            items.select_nth_unstable_by(limit - 1, |a, b| a.0.cmp(b.0));
        }
        items.truncate(limit);
        items.sort_unstable_by(|a, b| a.0.cmp(b.0));
        items
    }

    fn id_of(&self, s: &Slot) -> &str {
        // Only whole `&str`s are ever copied into the arena.
        std::str::from_utf8(self.bytes(s)).unwrap_or_default()
    }

    /// Bytes held on the heap: the arena and the table.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.table.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_and_paged_in_order() {
        let mut ix = IdIndex::default();
        for (i, id) in ["c", "a", "bb", "b"].iter().enumerate() {
            ix.insert(id, i as u32, 10 + i as u64);
        }
        assert_eq!(ix.get("bb"), Some((2, 12)));
        assert_eq!(ix.get("x"), None);
        let ids = |after, limit| -> Vec<&str> {
            ix.page(after, limit).into_iter().map(|p| p.0).collect()
        };
        assert_eq!(ids("", 2), ["a", "b"]);
        assert_eq!(ids("b", 2), ["bb", "c"]);
        assert_eq!(ids("c", 2), Vec::<&str>::new());
        assert_eq!(ids("", 0), Vec::<&str>::new());
    }

    #[test]
    fn memory_per_id_is_small() {
        let mut ix = IdIndex::default();
        let n = 100_000;
        for i in 0..n {
            ix.insert(&format!("order-{i:08}"), 0, i);
        }
        let per_id = ix.heap_bytes() / n as usize;
        // 14-byte ids: bytes plus a 24-byte slot at the table's load factor.
        assert!(per_id < 14 + 64, "{per_id} bytes per id");
    }
}
