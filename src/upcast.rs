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

use rhai::Dynamic;

use crate::script::convert::to_value;
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

/// A script upcaster (`s.upcast` in a script): its result stays a script
/// value, one that `convert::is_plain` passed, so a script fold's step
/// reads it with no conversion to `Value` and back.
pub type ScriptUpcastFn =
    Arc<dyn Fn(RecordRef<'_>) -> std::result::Result<Dynamic, String> + Send + Sync>;

/// An upcaster as registered: a Rust one or a script one.
#[derive(Clone)]
pub enum UpcastWith {
    /// Returns a `Value`.
    Rust(UpcastFn),
    /// Returns a script value.
    Script(ScriptUpcastFn),
}

impl From<UpcastFn> for UpcastWith {
    fn from(f: UpcastFn) -> Self {
        UpcastWith::Rust(f)
    }
}

impl From<ScriptUpcastFn> for UpcastWith {
    fn from(f: ScriptUpcastFn) -> Self {
        UpcastWith::Script(f)
    }
}

/// A record's new `data`, in the form its last upcaster made it.
pub enum Data {
    /// From a Rust upcaster.
    Value(Value),
    /// From a script upcaster (`ScriptUpcastFn`).
    Script(Dynamic),
}

impl Data {
    /// Borrowed, as a scan hands data out.
    pub fn as_ref(&self) -> DataRef<'_> {
        match self {
            Data::Value(v) => DataRef::Value(v),
            Data::Script(d) => DataRef::Script(d),
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Data::Value(v) => v.is_null(),
            Data::Script(d) => d.is_unit(),
        }
    }
}

struct Upcaster {
    source: Source,
    version: String,
    f: UpcastWith,
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
    pub fn add(&self, source: Source, version: &str, f: UpcastWith) {
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
    pub fn apply(&self, rec: RecordRef<'_>) -> Result<Option<Data>> {
        let mut data: Option<Data> = None;
        for u in self.0.iter().filter(|u| u.source.contains(rec.stream)) {
            let input = match &data {
                Some(d) => RecordRef {
                    data: d.as_ref(),
                    ..rec
                },
                None => rec,
            };
            let fail = |msg: String| upcast_error(&rec, msg);
            let next = match &u.f {
                UpcastWith::Rust(f) => f(input).map(Data::Value),
                UpcastWith::Script(f) => f(input).map(Data::Script),
            }
            .map_err(fail)?;
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
        match self.apply(rec.as_ref())? {
            None => {}
            Some(Data::Value(v)) => rec.data = v,
            Some(Data::Script(d)) => rec.data = script_value(&d, &rec.as_ref())?,
        }
        Ok(rec)
    }
}

/// A script upcaster's result as a `Value`, for a reader that needs one;
/// an error names the record (`is_plain` passed it, so none is expected).
pub fn script_value(d: &Dynamic, rec: &RecordRef<'_>) -> Result<Value> {
    to_value(d, &|| "the upcaster's result".to_string()).map_err(|msg| upcast_error(rec, msg))
}

fn upcast_error(rec: &RecordRef<'_>, msg: String) -> Error {
    Error::Upcast {
        stream: rec.stream.to_string(),
        seq: rec.seq,
        msg,
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

    /// A script upcaster's result goes on as a script value: the next
    /// upcaster, an owned read and a typed read see it converted, and a
    /// value that is not JSON is an error naming the record.
    #[test]
    fn script_results_chain_with_rust_upcasters_and_convert_for_readers() {
        let ups = Upcasters::default();
        let script: ScriptUpcastFn = Arc::new(|r| {
            let mut m = rhai::Map::new();
            m.insert("x".into(), (r.seq as rhai::INT * 10).into());
            Ok(Dynamic::from_map(m))
        });
        ups.add(Source::stream("n"), "1", script.into());
        let chain = ups.chain().unwrap();
        let rec = Record {
            stream: "n".into(),
            seq: 2,
            pos: 5,
            at: 0,
            id: None,
            data: serde_json::json!(1),
        };
        let Some(data) = chain.apply(rec.as_ref()).unwrap() else {
            panic!("the upcaster applies to stream n");
        };
        let upcast = RecordRef {
            data: data.as_ref(),
            ..rec.as_ref()
        };
        assert_eq!(
            upcast.to_record().unwrap().data,
            serde_json::json!({"x": 20})
        );
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct X {
            x: i64,
        }
        assert_eq!(upcast.data_as::<X>().unwrap(), X { x: 20 });

        let rust: UpcastFn = owned_upcast(|r| Ok(serde_json::json!([r.data.clone()])));
        ups.add(Source::All, "2", rust.into());
        let owned = ups.chain().unwrap().apply_owned(rec.clone()).unwrap();
        assert_eq!(owned.data, serde_json::json!([{"x": 20}]));

        let bad: ScriptUpcastFn = Arc::new(|_| Ok(Dynamic::from('c')));
        ups.add(Source::All, "3", bad.into());
        let err = ups
            .chain()
            .unwrap()
            .apply_owned(rec)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stream \"n\" seq 2") && err.contains("a char is not a value"),
            "{err}"
        );
    }

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
