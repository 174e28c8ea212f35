//! The event-id index of `append_once`: id -> (stream, seq), kept for the
//! life of the store.
//!
//! Compact by construction: the ids' bytes sit end to end in one arena,
//! each id has a 24-byte slot, and the hash table holds 4-byte slot
//! numbers, so an id costs its own length plus about 30 bytes (more while
//! the vectors have spare capacity), with no allocation per id. Slot
//! numbers are stable, so a record can refer to its id by number. Streams
//! are numbered by the caller (`GlobalLog` interns the names).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Where one id's bytes are in the arena, and its record.
#[derive(Debug, Clone, Copy)]
struct Slot {
    off: u64,
    len: u32,
    stream: u32,
    seq: u64,
}

/// An id's hash in one `IdIndex` (`IdIndex::hash`): a caller that looks an
/// id up and then inserts it hashes it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdHash(u64);

#[derive(Clone, Default)]
/// The `append_once` ids, each with its record (stream, seq).
pub struct IdIndex {
    arena: Vec<u8>,
    slots: Vec<Slot>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdIndex({} ids)", self.len())
    }
}

impl IdIndex {
    fn bytes(&self, n: u32) -> &[u8] {
        let s = &self.slots[n as usize];
        &self.arena[s.off as usize..s.off as usize + s.len as usize]
    }

    /// The id in slot `n`.
    pub fn id(&self, n: u32) -> &str {
        // Only whole `&str`s are ever copied into the arena.
        std::str::from_utf8(self.bytes(n)).unwrap_or_default()
    }

    /// `(stream number, seq)` of the record in slot `n`.
    pub fn record(&self, n: u32) -> (u32, u64) {
        let s = &self.slots[n as usize];
        (s.stream, s.seq)
    }

    /// `id`'s hash here. Hashed as bytes, so a rehash needs no UTF-8 check.
    pub fn hash(&self, id: &str) -> IdHash {
        IdHash(self.hasher.hash_one(id.as_bytes()))
    }

    /// The slot of `id`.
    pub fn find(&self, id: &str) -> Option<u32> {
        self.find_hashed(self.hash(id), id)
    }

    /// `find` with `hash` from `hash(id)`.
    pub fn find_hashed(&self, hash: IdHash, id: &str) -> Option<u32> {
        self.table
            .find(hash.0, |&n| self.bytes(n) == id.as_bytes())
            .copied()
    }

    /// Remembers `id` (the caller checked it is new); returns its slot.
    pub fn insert(&mut self, id: &str, stream: u32, seq: u64) -> u32 {
        self.insert_hashed(self.hash(id), id, stream, seq)
    }

    /// `insert` with `hash` from `hash(id)` on this index.
    pub fn insert_hashed(&mut self, hash: IdHash, id: &str, stream: u32, seq: u64) -> u32 {
        debug_assert!(self.find(id).is_none(), "id {id:?} inserted twice");
        if self.table.len() == self.table.capacity() {
            self.grow();
        }
        let n = self.slots.len() as u32;
        self.slots.push(Slot {
            off: self.arena.len() as u64,
            len: id.len() as u32,
            stream,
            seq,
        });
        self.arena.extend_from_slice(id.as_bytes());
        let (slots, arena, hasher) = (&self.slots, &self.arena, &self.hasher);
        // `grow` left room, so this never rehashes; the hasher is for form.
        self.table.insert_unique(hash.0, n, |&m| {
            let s = &slots[m as usize];
            hasher.hash_one(&arena[s.off as usize..s.off as usize + s.len as usize])
        });
        n
    }

    /// Replaces the full table with one of the size hashbrown would grow
    /// it to (twice the buckets), filled in slot order: slots and arena
    /// are read front to back, where hashbrown's rehash reads them in
    /// bucket order, a cache miss or two per id once the index outgrows
    /// the cache. Invariant: every slot is in the table.
    fn grow(&mut self) {
        let mut table = HashTable::with_capacity(self.table.capacity() + 1);
        let (slots, arena, hasher) = (&self.slots, &self.arena, &self.hasher);
        let hash =
            |s: &Slot| hasher.hash_one(&arena[s.off as usize..s.off as usize + s.len as usize]);
        for (n, s) in slots.iter().enumerate() {
            // With room for all, `insert_unique` never rehashes.
            table.insert_unique(hash(s), n as u32, |&m| hash(&slots[m as usize]));
        }
        self.table = table;
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slots of up to `limit` ids greater than `after`, sorted by id: one
    /// pass and a partial sort, so paging through every id costs O(n) per
    /// page.
    pub fn page(&self, after: &str, limit: usize) -> Vec<u32> {
        let mut items: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&n| self.id(n) > after)
            .collect();
        if items.len() > limit && limit > 0 {
            items.select_nth_unstable_by(limit - 1, |&a, &b| self.id(a).cmp(self.id(b)));
        }
        items.truncate(limit);
        items.sort_unstable_by(|&a, &b| self.id(a).cmp(self.id(b)));
        items
    }

    /// Bytes held on the heap: arena, slots and table.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.table.allocation_size()
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
        let bb = ix.find("bb").unwrap();
        assert_eq!((ix.id(bb), ix.record(bb)), ("bb", (2, 12)));
        assert_eq!(ix.find("x"), None);
        let ids = |after, limit| -> Vec<&str> {
            ix.page(after, limit)
                .into_iter()
                .map(|n| ix.id(n))
                .collect()
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
        // 14-byte ids: bytes, a 24-byte slot and a 4-byte table entry, with
        // the vectors' and the table's spare capacity.
        assert!(per_id < 14 + 70, "{per_id} bytes per id");
    }
}
