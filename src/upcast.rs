//! Upcasting (SPEC 3.13): old events read in a new shape.
//!
//! An upcaster is registered on one `Store` handle for a source (a stream,
//! a category or every stream) and replaces the `data` of each record of
//! that source as the handle reads it: `read`, folds, subscriptions and
//! views. It is never stored back, and it is configuration, not data: each
//! process registers its upcasters again when it opens the store. The
//! backend, the request protocol, `migrate` and `export` see only the
//! stored events.
//!
//! Upcasters chain in registration order: the second sees the first's
//! output. Each carries a version (a Rust caller names it; the script layer
//! hashes the closure's code) that joins the fingerprint of every fold over
//! an overlapping source, so registering or changing one rebuilds the
//! snapshots whose records it changes (see `fingerprint`).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::source::Source;
use crate::value::{DataRef, RecordRef};
use crate::{Error, Record, Result, Value};

/// Turns a record (borrowed, as a scan hands it out) into its new `data`;
/// `Err` carries the upcaster's own message.
pub type UpcastFn = Arc<dyn Fn(RecordRef<'_>) -> std::result::Result<Value, String> + Send + Sync>;

/// Adapts an upcaster over owned records (converted from the stored form
/// first): `s.upcast("orders", "v2", owned_upcast(|r: &Record| ...))`.
pub fn owned_upcast(
    f: impl Fn(&Record) -> std::result::Result<Value, String> + Send + Sync + 'static,
) -> UpcastFn {
    Arc::new(move |r| f(&r.to_record().map_err(|e| e.to_string())?))
}

struct Upcaster {
    source: Source,
    version: String,
    f: UpcastFn,
}

/// The upcasters of one store handle, in registration order.
#[derive(Default)]
pub struct Upcasters {
    /// Cloned out (an `Arc` per upcaster) before any runs, so the lock is
    /// never held while one runs and an upcaster may register another; the
    /// new one applies from the next read on.
    list: Mutex<Vec<Arc<Upcaster>>>,
}

/// The upcasters that were registered when a read began.
pub struct Chain(Vec<Arc<Upcaster>>);

impl Upcasters {
    /// The list; a panic elsewhere cannot leave it half-changed (every
    /// change is one push), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Upcaster>>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `f` for `source`; it runs after those registered before.
    pub fn add(&self, source: Source, version: &str, f: UpcastFn) {
        self.lock().push(Arc::new(Upcaster {
            source,
            version: version.to_string(),
            f,
        }));
    }

    /// The current chain, or `None` when no upcaster is registered (reads
    /// then take the plain path).
    pub fn chain(&self) -> Option<Chain> {
        let list = self.lock();
        (!list.is_empty()).then(|| Chain(list.clone()))
    }

    /// `source version` of every upcaster whose source shares a stream
    /// with `source`, in registration order: what a fold over `source`
    /// depends on besides its own step.
    pub fn versions_for(&self, source: &Source) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|u| overlaps(&u.source, source))
            .map(|u| format!("{} {}", u.source, u.version))
            .collect()
    }
}

impl Chain {
    /// The new `data` of `rec` with every matching upcaster applied, or
    /// `None` when none applies to its stream (the record reads as stored).
    pub fn apply(&self, rec: RecordRef<'_>) -> Result<Option<Value>> {
        let mut data: Option<Value> = None;
        for u in self.0.iter().filter(|u| u.source.contains(rec.stream)) {
            let input = match &data {
                Some(v) => RecordRef {
                    data: DataRef::Value(v),
                    ..rec
                },
                None => rec,
            };
            let fail = |msg: String| Error::Upcast {
                stream: rec.stream.to_string(),
                seq: rec.seq,
                msg,
            };
            let next = (u.f)(input).map_err(fail)?;
            if next.is_null() {
                return Err(fail(
                    "the upcaster returned (), which is not an event".into(),
                ));
            }
            data = Some(next);
        }
        Ok(data)
    }

    /// `apply` for an owned record.
    pub fn apply_owned(&self, mut rec: Record) -> Result<Record> {
        if let Some(data) = self.apply(rec.as_ref())? {
            rec.data = data;
        }
        Ok(rec)
    }
}

/// Whether some stream can belong to both sources.
fn overlaps(a: &Source, b: &Source) -> bool {
    match (a, b) {
        (Source::All, _) | (_, Source::All) => true,
        (Source::Stream(x), other) | (other, Source::Stream(x)) => other.contains(x),
        (Source::Category(x), Source::Category(y)) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_overlap_when_a_stream_can_be_in_both() {
        let s = |n: &str| Source::stream(n);
        let c = |n: &str| Source::category(n);
        assert!(overlaps(&s("user-1"), &c("user")));
        assert!(overlaps(&c("user"), &s("user-1")));
        assert!(overlaps(&Source::All, &s("x")));
        assert!(!overlaps(&s("user-1"), &s("user-2")));
        assert!(!overlaps(&c("user"), &c("order")));
        assert!(!overlaps(&s("order-1"), &c("user")));
    }
}
