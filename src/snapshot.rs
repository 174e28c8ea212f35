//! Snapshots (SPEC 3.6): a projection state saved in kv under
//! `snapshot/<name>` as `{"value": .., "seq": ..}`, so a replay folds only
//! the tail after it.

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
    /// nothing.
    pub fn replay<A: Snapshotable, E: From<Error>>(
        &self,
        name: &str,
        source: impl Into<Source>,
        init: A,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let start = match self.snapshot(name)? {
            Some(s) => State {
                value: A::from_stored(s.value)?,
                seq: s.seq,
            },
            None => State::empty(init),
        };
        self.fold_refs(source, start, step)
    }

    /// `replay`, then saves the new state under `snapshot/<name>`.
    pub fn checkpoint<A: Snapshotable, E: From<Error>>(
        &self,
        name: &str,
        source: impl Into<Source>,
        init: A,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let state = self.replay(name, source, init, step)?;
        let stored = State {
            value: state.value.to_stored()?,
            seq: state.seq,
        };
        self.save_snapshot(name, &stored)?;
        Ok(state)
    }
}
