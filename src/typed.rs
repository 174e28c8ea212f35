//! Typed events: append and read serde types without hand-written JSON.
//!
//! An event is stored as the JSON its `Serialize` impl makes, so typed and
//! untyped callers (and scripts) see the same records. Reading one back
//! with the wrong type is an error naming the stream, the seq and the type.

use std::any::type_name;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::hub::Hub;
use crate::snapshot::Snapshotable;
use crate::value::{DataRef, RecordRef};
use crate::{Error, Record, Result, Store, Value};

/// The JSON of `event`, or an error naming the stream and the type.
fn to_event<T: Serialize + ?Sized>(op: &'static str, stream: &str, event: &T) -> Result<Value> {
    serde_json::to_value(event).map_err(|e| {
        Error::invalid(
            op,
            format!(
                "stream {stream:?}: a {} is not a JSON value: {e}",
                type_name::<T>()
            ),
        )
    })
}

fn not_a<T>(stream: &str, seq: u64, e: serde_json::Error) -> Error {
    Error::invalid(
        "data_as",
        format!(
            "stream {stream:?} seq {seq}: not a {}: {e}",
            type_name::<T>()
        ),
    )
}

impl Store {
    /// Appends `event` as the JSON its `Serialize` impl makes; returns its seq.
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct OrderPlaced { sku: String, qty: u32 }
    ///
    /// let store = persist::Store::mem();
    /// let placed = OrderPlaced { sku: "a1".into(), qty: 2 };
    /// let seq = store.append_typed("orders", &placed).unwrap();
    /// let back = &store.read("orders", 0, None).unwrap()[0];
    /// assert_eq!((seq, back.data_as::<OrderPlaced>().unwrap()), (1, placed));
    /// ```
    pub fn append_typed<T: Serialize + ?Sized>(&self, stream: &str, event: &T) -> Result<u64> {
        self.append(stream, to_event("append_typed", stream, event)?)
    }

    /// Appends every event or none, each as its JSON; returns the last seq.
    pub fn append_all_typed<T: Serialize>(&self, stream: &str, events: &[T]) -> Result<u64> {
        let events = events
            .iter()
            .map(|e| to_event("append_all_typed", stream, e))
            .collect::<Result<Vec<_>>>()?;
        self.append_all(stream, events)
    }
}

impl Hub {
    /// `publish` for a serde type: appends its JSON, then hands the record
    /// to the stream's subscribers.
    pub fn publish_typed<T: Serialize + ?Sized>(&self, stream: &str, event: &T) -> Result<u64> {
        self.publish(stream, to_event("publish_typed", stream, event)?)
    }
}

impl Record {
    /// The event as a `T`; an error naming the stream, seq and type if its
    /// JSON does not fit.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(&self.data).map_err(|e| not_a::<T>(&self.stream, self.seq, e))
    }
}

impl RecordRef<'_> {
    /// The event as a `T`, read straight from the backend's form (stored
    /// JSON is parsed once, into `T`): for typed folds.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T> {
        match self.data {
            DataRef::Value(v) => T::deserialize(v),
            DataRef::Foreign(d) => T::deserialize(&crate::upcast::foreign_value(d, self)?),
            DataRef::Json(bytes) => serde_json::from_slice(bytes),
        }
        .map_err(|e| not_a::<T>(self.stream, self.seq, e))
    }
}

/// A serde type as a projection state that snapshots can save and load
/// (`replay`, `checkpoint`, views): stored as its JSON.
///
/// ```
/// use persist::typed::Typed;
/// let store = persist::Store::mem();
/// store.append("n", serde_json::json!(5)).unwrap();
/// let sum = |Typed(n): Typed<i64>, r: persist::RecordRef<'_>| {
///     Ok::<_, persist::Error>(Typed(n + r.data_as::<i64>()?))
/// };
/// assert_eq!(store.checkpoint("sum", "n", Typed(0), "sum-v1", sum).unwrap().value, Typed(5));
/// assert_eq!(store.snapshot("sum").unwrap().unwrap().value, serde_json::json!(5));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typed<T>(pub T);

impl<T: Serialize + DeserializeOwned> Snapshotable for Typed<T> {
    fn to_stored(&self) -> Result<Value> {
        serde_json::to_value(&self.0).map_err(|e| {
            Error::invalid(
                "snapshot",
                format!("a {} is not a JSON value: {e}", type_name::<T>()),
            )
        })
    }

    fn from_stored(v: Value) -> Result<Self> {
        T::deserialize(&v).map(Typed).map_err(|e| {
            Error::invalid(
                "snapshot",
                format!("saved state is not a {}: {e}", type_name::<T>()),
            )
        })
    }
}
