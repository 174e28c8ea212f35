//! Compaction (SPEC 3.7): checkpoint, then drop what the snapshot covers.

use crate::snapshot::Snapshotable;
use crate::store::Store;
use crate::value::{RecordRef, State};
use crate::{Error, Result};

/// What `compact` did: the snapshot's seq and how many records it dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The seq the snapshot was saved at.
    pub seq: u64,
    /// How many records were dropped.
    pub dropped: u64,
}

impl Store {
    /// `checkpoint` (with the step's `version`), then
    /// `truncate_through(stream, state.seq)`.
    /// The snapshot is saved before anything is dropped, so a crash between
    /// the two leaves a longer log, never a gap.
    pub fn compact<A: Snapshotable, E: From<Error>>(
        &self,
        name: &str,
        stream: &str,
        init: A,
        version: &str,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<(State<A>, Compacted), E> {
        let state = self.checkpoint(name, stream, init, version, step)?;
        let dropped = self.truncate_through(stream, state.seq)?;
        let seq = state.seq;
        Ok((state, Compacted { seq, dropped }))
    }

    /// `true` when at least `every` records follow the snapshot's seq.
    pub fn should_compact(&self, name: &str, stream: &str, every: u64) -> Result<bool> {
        if every == 0 {
            return Err(Error::invalid("should_compact", "every must be at least 1"));
        }
        let snap_seq = self.snapshot(name)?.map_or(0, |s| s.seq);
        let last = self.last_seq(stream)?;
        Ok(last.saturating_sub(snap_seq) >= every)
    }

    /// Compacts when `should_compact`; returns whether it did.
    pub fn maybe_compact<A: Snapshotable, E: From<Error>>(
        &self,
        name: &str,
        stream: &str,
        init: A,
        version: &str,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
        every: u64,
    ) -> Result<bool, E> {
        if !self.should_compact(name, stream, every)? {
            return Ok(false);
        }
        self.compact(name, stream, init, version, step)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use serde_json::json;

    fn sum(acc: Value, r: RecordRef<'_>) -> Result<Value> {
        let n = r.to_record()?.data.as_i64().unwrap_or(0);
        Ok(json!(acc.as_i64().unwrap_or(0) + n))
    }

    #[test]
    fn replay_after_compaction_equals_the_full_replay() {
        let s = Store::mem();
        s.append_all("n", (1..=10).map(|i| json!(i)).collect())
            .unwrap();
        let full = s.fold_refs("n", State::empty(json!(0)), sum).unwrap();
        let (_, c) = s.compact("snap", "n", json!(0), "v1", sum).unwrap();
        assert_eq!(
            c,
            Compacted {
                seq: 10,
                dropped: 10
            }
        );
        s.append("n", json!(5)).unwrap();
        let after = s.replay("snap", "n", json!(0), "v1", sum).unwrap();
        assert_eq!(
            after,
            State {
                value: json!(full.value.as_i64().unwrap() + 5),
                seq: 11
            }
        );
    }

    #[test]
    fn the_every_n_policy_fires_exactly_at_n() {
        let s = Store::mem();
        s.append_all("n", (1..=2).map(|i| json!(i)).collect())
            .unwrap();
        assert!(!s.should_compact("p", "n", 3).unwrap());
        assert!(!s.maybe_compact("p", "n", json!(0), "v1", sum, 3).unwrap());
        s.append("n", json!(3)).unwrap();
        assert!(s.maybe_compact("p", "n", json!(0), "v1", sum, 3).unwrap());
        assert_eq!(s.snapshot("p").unwrap().unwrap().seq, 3);
        assert!(!s.should_compact("p", "n", 1).unwrap());
        assert!(s.should_compact("p", "n", 0).is_err());
    }
}
