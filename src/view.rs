//! Materialized views (SPEC 3.10): a source (a stream, a category or all
//! streams), a fold and a snapshot name.
//! Attached to a hub, the held state is refreshed and saved on each publish,
//! so `peek` is an O(1) read; `value` folds the tail now, so it is never
//! stale even after appends that bypassed the hub.

use std::cell::RefCell;

use crate::fingerprint::{FoldId, Owner};
use crate::snapshot::Snapshotable;
use crate::source::Source;
use crate::store::Store;
use crate::value::{RecordRef, State};
use crate::{Error, Result};

/// A materialized view (SPEC 3.10): a stream, a fold and a snapshot name.
pub struct View<A> {
    /// The snapshot name.
    pub name: String,
    /// What it folds: a stream, a category or every stream.
    pub source: Source,
    init: A,
    /// Names the step's code (SPEC 3.13).
    version: String,
    /// What `peek` returns. Never borrowed while a step runs.
    held: RefCell<State<A>>,
    /// The fold this view last recorded beside its snapshot: later saves
    /// by the same fold write only the snapshot.
    stamped: RefCell<Option<FoldId>>,
}

impl<A: Snapshotable + Clone> View<A> {
    /// A view holding `init` until it is loaded; `version` names its fold
    /// (SPEC 3.13).
    pub fn new(name: &str, source: impl Into<Source>, init: A, version: &str) -> Result<Self> {
        let source = source.into();
        crate::value::check_name("view", "view", name)?;
        source.check("view")?;
        Ok(View {
            name: name.to_string(),
            source,
            held: RefCell::new(State::empty(init.clone())),
            init,
            version: version.to_string(),
            stamped: RefCell::new(None),
        })
    }

    /// The view's fold, with the store's upcasters as they are now.
    fn fold_id(&self, store: &Store) -> Result<FoldId> {
        store.fold_id_of(&self.source, &self.init, &self.version)
    }

    /// The held value: no log or kv read.
    pub fn peek(&self) -> A {
        self.held.borrow().value.clone()
    }

    /// The held state: value and seq.
    pub fn state(&self) -> State<A> {
        self.held.borrow().clone()
    }

    /// Loads the snapshot, folds the tail and saves it (what `attach` does).
    pub fn load<E: From<Error>>(
        &self,
        store: &Store,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<(), E> {
        let id = self.fold_id(store)?;
        let (name, source, init) = (&self.name, &self.source, self.init.clone());
        let state = store.checkpoint_as(Owner::View, name, source, init, &id, step)?;
        *self.held.borrow_mut() = state;
        *self.stamped.borrow_mut() = Some(id);
        Ok(())
    }

    /// Folds the records after the held state and saves the snapshot (on
    /// each publish, and on `pump`); returns how many records it folded.
    /// Records appended around the hub are folded too. If the
    /// saved snapshot got ahead of the held state (a `compact` under the
    /// view's name may have dropped the records between), start from it,
    /// provided the same fold saved it.
    pub fn refresh<E: From<Error>>(
        &self,
        store: &Store,
        mut step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<u64, E> {
        let id = self.fold_id(store)?;
        let mut from = self.state();
        if let Some(saved) = store.snapshot(&self.name)?
            && saved.seq > from.seq
            && store.admits(&self.name, &id)?
        {
            from = State {
                value: A::from_stored(saved.value)?,
                seq: saved.seq,
            };
        }
        let seq = from.seq;
        let mut folded = 0;
        let counting = |acc, rec: RecordRef<'_>| {
            folded += 1;
            step(acc, rec)
        };
        let state = store.fold_refs(&self.source, from, counting)?;
        if state.seq != seq {
            let stored = State {
                value: state.value.to_stored()?,
                seq: state.seq,
            };
            let same_fold = self.stamped.borrow().as_ref() == Some(&id);
            match same_fold {
                true => store.save_snapshot(&self.name, &stored)?,
                false => {
                    store.save_named(&self.name, &stored, &id, false)?;
                    *self.stamped.borrow_mut() = Some(id);
                }
            }
        }
        *self.held.borrow_mut() = state;
        Ok(folded)
    }

    /// Snapshot plus tail, folded now; the held state catches up too.
    pub fn value<E: From<Error>>(
        &self,
        store: &Store,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let id = self.fold_id(store)?;
        let (name, source, init) = (&self.name, &self.source, self.init.clone());
        let state = store.replay_as(Owner::View, name, source, init, &id, step)?;
        let mut held = self.held.borrow_mut();
        if state.seq >= held.seq {
            *held = state.clone();
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Value, owned_step};
    use serde_json::json;

    fn sum(acc: Value, r: crate::Record) -> Result<Value> {
        Ok(json!(
            acc.as_i64().unwrap_or(0) + r.data.as_i64().unwrap_or(0)
        ))
    }

    #[test]
    fn peek_holds_what_was_folded_and_value_is_never_stale() {
        let store = Store::mem();
        let v = View::new("v", "s", json!(0), "v1").unwrap();
        store.append_all("s", vec![json!(1), json!(2)]).unwrap();
        v.load(&store, owned_step(sum)).unwrap();
        assert_eq!(v.peek(), json!(3));
        store.append("s", json!(10)).unwrap();
        assert_eq!(v.peek(), json!(3), "peek reads no log");
        assert_eq!(v.value(&store, owned_step(sum)).unwrap().value, json!(13));
        assert_eq!(
            v.state(),
            State {
                value: json!(13),
                seq: 3
            }
        );
    }

    #[test]
    fn refresh_saves_the_snapshot() {
        let store = Store::mem();
        let v = View::new("v", "s", json!(0), "v1").unwrap();
        store.append("s", json!(5)).unwrap();
        v.refresh(&store, owned_step(sum)).unwrap();
        assert_eq!(
            store.snapshot("v").unwrap(),
            Some(State {
                value: json!(5),
                seq: 1
            })
        );
    }
}
