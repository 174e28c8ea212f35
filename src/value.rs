//! Values and records.
//!
//! A value is JSON: the kernel stores `serde_json::Value`, which keeps
//! integers and floats apart (`1` is not `1.0`) and has no bytes, so the
//! "no blob bytes in the log" rule holds by construction at this layer.

use serde::{Deserialize, Serialize};

pub use crate::limits::{check_event, check_name};

pub use serde_json::Value;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One stored event as the log returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The stream it was appended to.
    pub stream: String,
    /// Counts from 1 within the stream.
    pub seq: u64,
    /// Global position: counts from 1 across the store, in commit order
    /// (SPEC 3.12).
    pub pos: u64,
    /// Append time in Unix milliseconds, stored so replays are deterministic.
    pub at: i64,
    /// The event id given to `append_once`, if it was appended that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The event as appended.
    pub data: Value,
}

impl Record {
    /// The record map: `{stream, seq, pos, at, data}`, plus `id` when present.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::json!({
            "stream": self.stream, "seq": self.seq, "pos": self.pos, "at": self.at,
            "data": self.data,
        });
        if let Some(id) = &self.id {
            m["id"] = Value::String(id.clone());
        }
        m
    }

    /// The record borrowed, as scans hand it out.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            stream: &self.stream,
            seq: self.seq,
            pos: self.pos,
            at: self.at,
            id: self.id.as_deref(),
            data: DataRef::Value(&self.data),
        }
    }
}

/// An event as a backend holds it during a scan: a `Value` it keeps, or
/// the JSON text it stored. Folds convert straight from either, so no
/// intermediate copy is made per record.
#[derive(Debug, Clone, Copy)]
pub enum DataRef<'a> {
    /// A value the backend keeps (memory).
    Value(&'a Value),
    /// The JSON text the backend stored (disk).
    Json(&'a [u8]),
    /// An upcaster's result in its own form (`upcast::ForeignUpcastFn`),
    /// read as it is by the layer that made it and converted for any other
    /// reader.
    Foreign(&'a dyn ForeignData),
}

/// Data in a form the kernel does not know: a script value a script
/// upcaster returned. Kept as it is so the script's own fold step reads it
/// with no round trip through `Value`; any other reader converts it.
pub trait ForeignData: std::any::Any + std::fmt::Debug {
    /// As a `Value`; `Err` says why it is not one.
    fn to_value(&self) -> Result<Value, String>;

    /// Whether it is no value at all (null, a script's `()`).
    fn is_null(&self) -> bool;
}

impl dyn ForeignData {
    /// The data as its own type, for the layer that made it.
    pub fn downcast_ref<T: ForeignData>(&self) -> Option<&T> {
        (self as &dyn std::any::Any).downcast_ref()
    }
}

/// A record borrowed for the length of one scan callback.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// The stream it was appended to.
    pub stream: &'a str,
    /// Counts from 1 within the stream.
    pub seq: u64,
    /// Global position across the store (SPEC 3.12).
    pub pos: u64,
    /// Append time in Unix milliseconds.
    pub at: i64,
    /// The `append_once` id, if any.
    pub id: Option<&'a str>,
    /// The event, in the backend's form.
    pub data: DataRef<'a>,
}

impl RecordRef<'_> {
    /// An owned copy (stored JSON is parsed).
    pub fn to_record(&self) -> crate::Result<Record> {
        let data = match self.data {
            DataRef::Value(v) => v.clone(),
            DataRef::Foreign(d) => crate::upcast::foreign_value(d, self)?,
            DataRef::Json(bytes) => serde_json::from_slice(bytes).map_err(|e| {
                crate::Error::invalid(
                    "read",
                    format!(
                        "stream {:?} seq {}: stored event is not JSON: {e}",
                        self.stream, self.seq
                    ),
                )
            })?,
        };
        Ok(Record {
            stream: self.stream.to_string(),
            seq: self.seq,
            pos: self.pos,
            at: self.at,
            id: self.id.map(str::to_string),
            data,
        })
    }
}

/// Adapts a step over owned records to the borrowed-record steps that
/// `replay`, `checkpoint`, `compact` and views take:
/// `s.replay("n", "orders", init, owned_step(|acc, r: Record| ...))`.
pub fn owned_step<A, E: From<crate::Error>>(
    mut f: impl FnMut(A, Record) -> Result<A, E>,
) -> impl FnMut(A, RecordRef<'_>) -> Result<A, E> {
    move |acc, r| f(acc, r.to_record()?)
}

/// `#{value, seq}`: the fold of a stream's records through `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct State<A> {
    /// The folded value.
    pub value: A,
    /// Counts from 1 within the stream.
    pub seq: u64,
}

impl<A> State<A> {
    /// `init` before any record: `seq` 0.
    pub fn empty(init: A) -> Self {
        State {
            value: init,
            seq: 0,
        }
    }
}
