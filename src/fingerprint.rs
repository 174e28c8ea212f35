//! Fold fingerprints (SPEC 3.13): a saved state remembers the fold that
//! made it, so a changed fold never resumes from another fold's value.
//!
//! A fold's fingerprint hashes its step's version (a Rust caller names it;
//! the script layer hashes the closure's code), its `init` as stored JSON,
//! and the versions of the handle's upcasters over an overlapping source
//! (SPEC 3.13 lists exactly these; the source itself is not part of it).
//! It is kept beside the snapshot, in kv under `fold/<name>`, so the
//! snapshot itself stays `{value, seq}`:
//!
//! - `{"fingerprint": f, "step": v}`: written by every save of the snapshot
//!   (only when it changed: a steady fold writes one kv key per save).
//! - `{"step": v}`: written by `accept_fold`: valid for any fold whose step
//!   is `v`, whatever its init and upcasters; the next save stamps it fully.
//! - no key: a snapshot saved before fingerprints existed (or written by
//!   hand). It is accepted as-is and stamped on its next save.
//!
//! Order of writes: the snapshot first, then its stamp. A crash between
//! leaves a new value under an old stamp, which the next run sees as a
//! changed fold and rebuilds; the other order could pair an old value with
//! a new stamp, silently.

use sha2::{Digest, Sha256};

use crate::snapshot::{Snapshotable, snapshot_key};
use crate::source::Source;
use crate::store::Store;
use crate::value::State;
use crate::{Error, Result, Value};

/// The kv key the fold of snapshot `name` is recorded under (`fold/<name>`).
pub fn fold_key(name: &str) -> String {
    format!("fold/{name}")
}

/// The fold a named state is computed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldId {
    /// The whole fold: the step's version, `init` and the upcasters.
    pub fingerprint: String,
    /// The step's version alone (what `accept_fold` records).
    pub version: String,
}

/// One saved snapshot and the fold it was saved with (`s.folds()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldInfo {
    /// The snapshot's name (`snapshot/<name>`).
    pub name: String,
    /// The last seq (or pos) the snapshot folded.
    pub seq: u64,
    /// `None` for a snapshot saved before fingerprints existed.
    pub fingerprint: Option<String>,
}

/// What `fold/<name>` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Stamp {
    fingerprint: Option<String>,
    step: Option<String>,
}

impl Stamp {
    fn of(id: &FoldId) -> Self {
        Stamp {
            fingerprint: Some(id.fingerprint.clone()),
            step: Some(id.version.clone()),
        }
    }

    /// A saved state may be resumed by the fold `id`.
    fn admits(&self, id: &FoldId) -> bool {
        match (&self.fingerprint, &self.step) {
            (Some(f), _) => *f == id.fingerprint,
            (None, Some(step)) => *step == id.version,
            (None, None) => true,
        }
    }

    fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(f) = &self.fingerprint {
            m.insert("fingerprint".into(), f.as_str().into());
        }
        if let Some(s) = &self.step {
            m.insert("step".into(), s.as_str().into());
        }
        Value::Object(m)
    }

    fn from_value(name: &str, v: Value) -> Result<Self> {
        let text = |key: &str| match v.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(Error::BadSnapshot {
                name: name.to_string(),
                msg: format!("fold/{name}: {key} is {other}, not a string"),
            }),
        };
        Ok(Stamp {
            fingerprint: text("fingerprint")?,
            step: text("step")?,
        })
    }
}

/// Which snapshot a message names: one saved by `checkpoint` and friends,
/// or a view's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Saved by `checkpoint`, `compact` and friends.
    Snapshot,
    /// Saved by a view.
    View,
}

impl Owner {
    /// How a message names it: "snapshot" or "view".
    pub fn label(self) -> &'static str {
        match self {
            Owner::Snapshot => "snapshot",
            Owner::View => "view",
        }
    }
}

impl Store {
    /// The fold `version` over `source` from `init`, with this handle's
    /// upcasters.
    pub fn fold_id(&self, source: &Source, init: &Value, version: &str) -> FoldId {
        let mut h = Sha256::new();
        for part in [version, &init.to_string()] {
            h.update(part.len().to_le_bytes());
            h.update(part.as_bytes());
        }
        for up in self.upcasters().versions_for(source) {
            h.update(up.len().to_le_bytes());
            h.update(up.as_bytes());
        }
        let digest = h.finalize();
        FoldId {
            fingerprint: data_encoding::HEXLOWER.encode(&digest[..8]),
            version: version.to_string(),
        }
    }

    /// `fold_id` for an accumulator: `init` as it would be stored.
    pub(crate) fn fold_id_of<A: Snapshotable>(
        &self,
        source: &Source,
        init: &A,
        version: &str,
    ) -> Result<FoldId> {
        Ok(self.fold_id(source, &init.to_stored()?, version))
    }

    fn stamp(&self, name: &str) -> Result<Option<Stamp>> {
        self.kv_get(&fold_key(name))?
            .map(|v| Stamp::from_value(name, v))
            .transpose()
    }

    /// Whether the saved state `name` may be resumed by the fold `id`.
    pub(crate) fn admits(&self, name: &str, id: &FoldId) -> Result<bool> {
        Ok(self.stamp(name)?.is_none_or(|s| s.admits(id)))
    }

    /// Where the named fold `id` over `source` starts: the saved snapshot
    /// when its fold is `id` (or unknown); otherwise the empty state when
    /// the source still holds every record; otherwise `FoldChanged`. Never
    /// a value made by another fold. The flag says whether the saved stamp
    /// is exactly `id`'s (a save need not write it again).
    pub(crate) fn start_for<A: Snapshotable>(
        &self,
        owner: Owner,
        name: &str,
        source: &Source,
        init: A,
        id: &FoldId,
    ) -> Result<(State<A>, bool)> {
        let Some(saved) = self.snapshot(name)? else {
            return Ok((State::empty(init), false));
        };
        let stamp = self.stamp(name)?;
        if stamp.as_ref().is_none_or(|s| s.admits(id)) {
            let state = State {
                value: A::from_stored(saved.value)?,
                seq: saved.seq,
            };
            return Ok((state, stamp == Some(Stamp::of(id))));
        }
        match self.first_dropped(source)? {
            None => Ok((State::empty(init), false)),
            Some((stream, through)) => Err(Error::FoldChanged {
                owner: owner.label(),
                name: name.to_string(),
                seq: saved.seq,
                stream,
                through,
            }),
        }
    }

    /// Saves `state` as snapshot `name` made by the fold `id`; its stamp
    /// too unless `stamped` says it is already `id`'s.
    pub(crate) fn save_named(
        &self,
        name: &str,
        state: &State<Value>,
        id: &FoldId,
        stamped: bool,
    ) -> Result<()> {
        self.save_snapshot(name, state)?;
        if !stamped {
            self.kv_put(&fold_key(name), Stamp::of(id).to_value())?;
        }
        Ok(())
    }

    /// The first stream of `source` whose early records were dropped, and
    /// the last seq dropped: a fold from the start would miss them.
    fn first_dropped(&self, source: &Source) -> Result<Option<(String, u64)>> {
        let streams = match source {
            Source::Stream(s) => vec![s.clone()],
            _ => self
                .streams()?
                .into_iter()
                .filter(|s| source.contains(s))
                .collect(),
        };
        let b = self.backend()?;
        for stream in streams {
            let last = b.last_seq(&stream)?;
            if last == 0 {
                continue;
            }
            let first = b.read(&stream, 0, 1)?.first().map_or(last + 1, |r| r.seq);
            if first > 1 {
                return Ok(Some((stream, first - 1)));
            }
        }
        Ok(None)
    }

    /// Declares the saved snapshot `name` valid for the step `version`:
    /// its value and seq stay, and the next save records the whole fold.
    pub fn accept_fold(&self, name: &str, version: &str) -> Result<()> {
        crate::value::check_name("accept_fold", "snapshot", name)?;
        if self.snapshot(name)?.is_none() {
            return Err(Error::invalid(
                "accept_fold",
                format!("no snapshot {name:?} is saved"),
            ));
        }
        let stamp = Stamp {
            fingerprint: None,
            step: Some(version.to_string()),
        };
        self.kv_put(&fold_key(name), stamp.to_value())
    }

    /// Every saved snapshot with the fingerprint it was saved with (for an
    /// accepted one, the accepted step's version), sorted by name.
    pub fn folds(&self) -> Result<Vec<FoldInfo>> {
        let prefix = snapshot_key("");
        let mut out = Vec::new();
        for key in self.kv_keys(&prefix)? {
            let name = &key[prefix.len()..];
            let Some(saved) = self.snapshot(name)? else {
                continue;
            };
            let stamp = self.stamp(name)?.unwrap_or_default();
            out.push(FoldInfo {
                name: name.to_string(),
                seq: saved.seq,
                fingerprint: stamp.fingerprint.or(stamp.step),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fingerprint_covers_version_init_and_overlapping_upcasters() {
        let s = Store::mem();
        let src = Source::stream("a");
        let base = s.fold_id(&src, &json!(0), "v1");
        assert_eq!(base, s.fold_id(&src, &json!(0), "v1"));
        assert_ne!(base, s.fold_id(&src, &json!(0), "v2"));
        assert_ne!(base, s.fold_id(&src, &json!(1), "v1"));
        s.upcast(
            Source::stream("b"),
            "u1",
            crate::upcast::owned_upcast(|r| Ok(r.data.clone())),
        )
        .unwrap();
        assert_eq!(base, s.fold_id(&src, &json!(0), "v1"), "b does not touch a");
        s.upcast(
            Source::All,
            "u1",
            crate::upcast::owned_upcast(|r| Ok(r.data.clone())),
        )
        .unwrap();
        assert_ne!(base, s.fold_id(&src, &json!(0), "v1"));
    }

    #[test]
    fn a_stamp_admits_its_fold_an_accepted_step_or_anything_when_absent() {
        let id = FoldId {
            fingerprint: "f".into(),
            version: "v".into(),
        };
        let other = FoldId {
            fingerprint: "g".into(),
            version: "v".into(),
        };
        assert!(Stamp::of(&id).admits(&id));
        assert!(!Stamp::of(&id).admits(&other));
        let accepted = Stamp {
            fingerprint: None,
            step: Some("v".into()),
        };
        assert!(accepted.admits(&other));
        assert!(Stamp::default().admits(&other));
        let back = Stamp::from_value("n", Stamp::of(&id).to_value()).unwrap();
        assert_eq!(back, Stamp::of(&id));
    }
}
