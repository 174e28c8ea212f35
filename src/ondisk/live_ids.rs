//! Which live record was appended with which `append_once` id. The log
//! stores each id with its record, so reads, the hint and compaction give
//! it back; `GlobalLog` knows every used id and whose it is, and this
//! table knows, for the records that have one, which it is. Truncated
//! records leave it, their ids stay used (`dead`).

use hashbrown::HashMap;

use crate::backend::IdEntry;
use crate::global::{GlobalLog, IdSlot};

/// (stream number, seq) -> id slot, for the live records that have an id.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveIds(HashMap<(u32, u64), IdSlot>);

impl LiveIds {
    /// Adds `global.insert_in(n, seq, ..)` with its slot, if it gave one.
    pub fn insert(&mut self, n: u32, seq: u64, slot: Option<IdSlot>) {
        if let Some(slot) = slot {
            self.0.insert((n, seq), slot);
        }
    }

    /// Whether no live record has an id.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The record left the log (`global.remove` gave its number and seq).
    pub fn remove(&mut self, record: Option<(u32, u64)>) {
        if let Some(key) = record.filter(|_| !self.0.is_empty()) {
            self.0.remove(&key);
        }
    }

    /// The id of each live record of `stream`, by seq: looks the stream up
    /// once.
    pub fn of<'a>(
        &'a self,
        global: &'a GlobalLog,
        stream: &str,
    ) -> impl Fn(u64) -> Option<&'a str> + use<'a> {
        let n = match self.0.is_empty() {
            true => None,
            false => global.number_of(stream),
        };
        move |seq| Some(global.id_text(*self.0.get(&(n?, seq))?))
    }

    /// Every used id whose record is no longer live: what a rewrite of the
    /// live records must keep besides them.
    pub fn dead(&self, global: &GlobalLog) -> Vec<IdEntry> {
        let live: hashbrown::HashSet<IdSlot> = self.0.values().copied().collect();
        global.id_entries_but(|slot| live.contains(&slot))
    }

    /// (stream, seq, id) of every live record with an id, sorted: equal for
    /// indexes that hold the same ids however they were numbered.
    pub fn listed<'a>(&self, global: &'a GlobalLog) -> Vec<(&'a str, u64, &'a str)> {
        let mut out: Vec<_> = (self.0.iter())
            .map(|(&(n, seq), &slot)| (global.name(n), seq, global.id_text(slot)))
            .collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global::Once;

    #[test]
    fn live_ids_follow_inserts_and_removals_and_dead_ids_stay_used() {
        let (mut g, mut live) = (GlobalLog::default(), LiveIds::default());
        g.add_id("k", "a", 3).unwrap();
        let n = g.number("a");
        live.insert(n, 4, g.insert_in(n, 4, 1, Some("j")).unwrap());
        live.insert(n, 5, g.insert_in(n, 5, 2, None).unwrap());
        assert_eq!(live.of(&g, "a")(4), Some("j"));
        assert_eq!(live.of(&g, "a")(5), None);
        assert_eq!(live.of(&g, "b")(4), None);
        assert_eq!(live.listed(&g), [("a", 4, "j")]);
        let dead: Vec<String> = live.dead(&g).into_iter().map(|e| e.id).collect();
        assert_eq!(dead, ["k"]);

        live.remove(g.remove(1));
        assert_eq!(live.of(&g, "a")(4), None);
        assert_eq!(g.check_once("a", "j"), Ok(Once::Appended(4)), "still used");
        assert_eq!(live.dead(&g).len(), 2);
    }
}
