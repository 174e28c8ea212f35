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
use crate::value::{DataRef, ForeignData, RecordRef};
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

/// An upcaster whose result stays in its own form (`ForeignData`): a
/// script's (`s.upcast` in a script), so a script fold's step reads it with
/// no conversion to `Value` and back. It is handed a `Spare` to refill or
/// drop.
pub type ForeignUpcastFn = Arc<
    dyn Fn(RecordRef<'_>, Spare) -> std::result::Result<Box<dyn ForeignData>, String> + Send + Sync,
>;

/// The box an earlier record's foreign result came in (`Data::into_spare`),
/// handed to the next foreign upcaster to fill again, so a fold does not
/// allocate one per record.
pub type Spare = Option<Box<dyn ForeignData>>;

/// An upcaster as registered: a Rust one or a foreign one.
#[derive(Clone)]
pub enum UpcastWith {
    /// Returns a `Value`.
    Rust(UpcastFn),
    /// Returns data in its own form.
    Foreign(ForeignUpcastFn),
}

impl From<UpcastFn> for UpcastWith {
    fn from(f: UpcastFn) -> Self {
        UpcastWith::Rust(f)
    }
}

impl From<ForeignUpcastFn> for UpcastWith {
    fn from(f: ForeignUpcastFn) -> Self {
        UpcastWith::Foreign(f)
    }
}

/// A record's new `data`, in the form its last upcaster made it.
pub enum Data {
    /// From a Rust upcaster.
    Value(Value),
    /// From a foreign upcaster (`ForeignUpcastFn`).
    Foreign(Box<dyn ForeignData>),
}

impl Data {
    /// Borrowed, as a scan hands data out.
    pub fn as_ref(&self) -> DataRef<'_> {
        match self {
            Data::Value(v) => DataRef::Value(v),
            Data::Foreign(d) => DataRef::Foreign(d.as_ref()),
        }
    }

    /// The box a foreign result came in, for the next `apply_reusing`.
    pub fn into_spare(self) -> Spare {
        match self {
            Data::Value(_) => None,
            Data::Foreign(d) => Some(d),
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Data::Value(v) => v.is_null(),
            Data::Foreign(d) => d.is_null(),
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
        self.apply_reusing(rec, &mut None)
    }

    /// `apply`, handing `spare` to the first foreign upcaster that runs.
    pub fn apply_reusing(&self, rec: RecordRef<'_>, spare: &mut Spare) -> Result<Option<Data>> {
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
                UpcastWith::Foreign(f) => f(input, spare.take()).map(Data::Foreign),
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
            Some(Data::Foreign(d)) => rec.data = foreign_value(d.as_ref(), &rec.as_ref())?,
        }
        Ok(rec)
    }
}

/// A foreign upcaster's result as a `Value`, for a reader that needs one;
/// an error names the record.
pub fn foreign_value(d: &dyn ForeignData, rec: &RecordRef<'_>) -> Result<Value> {
    d.to_value().map_err(|msg| upcast_error(rec, msg))
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

    /// Data in a form of its own, as a script upcaster makes it: `Tens(n)`
    /// is `{"x": n * 10}`, `NotAValue` has no `Value`.
    #[derive(Debug)]
    enum Made {
        Tens(u64),
        NotAValue,
        Nothing,
    }

    impl ForeignData for Made {
        fn to_value(&self) -> std::result::Result<Value, String> {
            match self {
                Made::Tens(n) => Ok(serde_json::json!({"x": n * 10})),
                Made::NotAValue => Err("a char is not a value".into()),
                Made::Nothing => Ok(Value::Null),
            }
        }

        fn is_null(&self) -> bool {
            matches!(self, Made::Nothing)
        }
    }

    /// Stream `n`'s record `seq`.
    fn record_n(seq: u64) -> Record {
        Record {
            stream: "n".into(),
            seq,
            pos: seq + 3,
            at: 0,
            id: None,
            data: serde_json::json!(1),
        }
    }

    fn foreign(f: fn(&RecordRef<'_>) -> Made) -> UpcastWith {
        let f: ForeignUpcastFn = Arc::new(move |r, _| Ok(Box::new(f(&r)) as Box<dyn ForeignData>));
        f.into()
    }

    /// A foreign upcaster's result goes on in its own form: the layer that
    /// made it gets it back, and the next upcaster, an owned read and a
    /// typed read see it converted; one that is not a value or is null is
    /// an error naming the record.
    #[test]
    fn foreign_results_chain_with_rust_upcasters_and_convert_for_readers() {
        let ups = Upcasters::default();
        ups.add(Source::stream("n"), "1", foreign(|r| Made::Tens(r.seq)));
        let rec = record_n(2);
        let Some(data) = ups.chain().unwrap().apply(rec.as_ref()).unwrap() else {
            panic!("the upcaster applies to stream n");
        };
        let upcast = RecordRef {
            data: data.as_ref(),
            ..rec.as_ref()
        };
        let DataRef::Foreign(made) = upcast.data else {
            panic!("a foreign result is kept as it is: {:?}", upcast.data);
        };
        assert!(matches!(made.downcast_ref::<Made>(), Some(Made::Tens(2))));
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

        let bad = [
            (foreign(|_| Made::NotAValue), "a char is not a value"),
            (foreign(|_| Made::Nothing), "returned ()"),
        ];
        for (f, says) in bad {
            let ups = Upcasters::default();
            ups.add(Source::All, "1", f);
            let chain = ups.chain().unwrap();
            let e = chain.apply_owned(rec.clone()).unwrap_err().to_string();
            assert!(e.contains("stream \"n\" seq 2") && e.contains(says), "{e}");
        }
    }

    /// `apply_reusing` hands its spare to the foreign upcaster once, and a
    /// foreign result's box comes back out as the next spare.
    #[test]
    fn a_spare_goes_to_the_foreign_upcaster() {
        let ups = Upcasters::default();
        let tells: ForeignUpcastFn = Arc::new(|_, spare| {
            Ok(Box::new(Made::Tens(spare.is_some() as u64)) as Box<dyn ForeignData>)
        });
        ups.add(Source::All, "1", tells.into());
        let rec = record_n(1);
        let chain = ups.chain().unwrap();
        let tens = |data: &Data| match data.as_ref() {
            DataRef::Foreign(d) => d.to_value().unwrap()["x"].as_u64(),
            other => panic!("not a foreign result: {other:?}"),
        };
        let mut spare: Spare = None;
        let data = chain.apply_reusing(rec.as_ref(), &mut spare).unwrap();
        let data = data.expect("applies to every stream");
        assert_eq!(tens(&data), Some(0), "no spare yet");
        spare = data.into_spare();
        assert!(spare.is_some(), "a foreign result's box is a spare");
        let data = chain.apply_reusing(rec.as_ref(), &mut spare).unwrap();
        assert_eq!(tens(&data.unwrap()), Some(10), "the spare was handed over");
        assert!(spare.is_none(), "and taken");
        assert!(Data::Value(Value::Null).into_spare().is_none());
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
