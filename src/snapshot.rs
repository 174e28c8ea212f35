//! Snapshots (SPEC 3.6): a projection state saved in kv under
//! `snapshot/<name>` as `{"value": .., "seq": ..}`, so a replay folds only
//! the tail after it.

use crate::fingerprint::{FoldId, Owner};
use crate::source::Source;
use crate::store::Store;
use crate::value::{RecordRef, State};
use crate::{Error, Result, Value};

/// An accumulator that can be saved in a snapshot and loaded back.
/// `Value` is one; the script layer makes Rhai's `Dynamic` another.
pub trait Snapshotable: Sized {
    /// The value to save.
    fn to_stored(&self) -> Result<Value>;
    /// The accumulator a saved value stands for.
    fn from_stored(v: Value) -> Result<Self>;
}

impl Snapshotable for Value {
    fn to_stored(&self) -> Result<Value> {
        Ok(self.clone())
    }
    fn from_stored(v: Value) -> Result<Self> {
        Ok(v)
    }
}

/// The kv key snapshot `name` is saved under.
pub fn snapshot_key(name: &str) -> String {
    format!("snapshot/{name}")
}

impl Store {
    /// The saved state, if any.
    pub fn snapshot(&self, name: &str) -> Result<Option<State<Value>>> {
        crate::value::check_name("snapshot", "snapshot", name)?;
        let Some(v) = self.kv_get(&snapshot_key(name))? else {
            return Ok(None);
        };
        let bad = |msg: &str| Error::BadSnapshot {
            name: name.to_string(),
            msg: msg.to_string(),
        };
        let Value::Object(mut m) = v else {
            return Err(bad("not a map of {value, seq}"));
        };
        let seq = m
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("seq is missing or not a non-negative integer"))?;
        let value = m.remove("value").ok_or_else(|| bad("value is missing"))?;
        Ok(Some(State { value, seq }))
    }

    /// Saves `state` as snapshot `name`.
    pub fn save_snapshot(&self, name: &str, state: &State<Value>) -> Result<()> {
        let v = serde_json::json!({"value": state.value, "seq": state.seq});
        self.kv_put(&snapshot_key(name), v)
    }

    /// The saved snapshot (or the empty state) with the tail folded; saves
    /// nothing. `version` names the step's code (SPEC 3.13): a snapshot
    /// saved by another fold is not resumed (see `fingerprint`).
    pub fn replay<A: Snapshotable, E: From<Error>>(
        &self,
        name: &str,
        source: impl Into<Source>,
        init: A,
        version: &str,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let source = source.into();
        let id = self.fold_id_of(&source, &init, version)?;
        self.replay_as(Owner::Snapshot, name, &source, init, &id, step)
    }

    /// `replay` for the fold `id`, naming `owner` in errors.
    pub(crate) fn replay_as<A: Snapshotable, E: From<Error>>(
        &self,
        owner: Owner,
        name: &str,
        source: &Source,
        init: A,
        id: &FoldId,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let (start, _) = self.start_for(owner, name, source, init, id)?;
        self.fold_refs(source, start, step)
    }

    /// `replay`, then saves the new state under `snapshot/<name>` with its
    /// fold's fingerprint.
    pub fn checkpoint<A: Snapshotable, E: From<Error>>(
        &self,
        name: &str,
        source: impl Into<Source>,
        init: A,
        version: &str,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let source = source.into();
        let id = self.fold_id_of(&source, &init, version)?;
        self.checkpoint_as(Owner::Snapshot, name, &source, init, &id, step)
    }

    /// `checkpoint` for the fold `id`, naming `owner` in errors.
    pub(crate) fn checkpoint_as<A: Snapshotable, E: From<Error>>(
        &self,
        owner: Owner,
        name: &str,
        source: &Source,
        init: A,
        id: &FoldId,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let (start, stamped) = self.start_for(owner, name, source, init, id)?;
        let state = self.fold_refs(source, start, step)?;
        let stored = State {
            value: state.value.to_stored()?,
            seq: state.seq,
        };
        self.save_named(name, &stored, id, stamped)?;
        Ok(state)
    }
}
