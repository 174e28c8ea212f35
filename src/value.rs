//! Values and records.
//!
//! A value is JSON: the kernel stores `serde_json::Value`, which keeps
//! integers and floats apart (`1` is not `1.0`) and has no bytes, so the
//! "no blob bytes in the log" rule holds by construction at this layer.

use serde::{Deserialize, Serialize};

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
    /// Append time in Unix milliseconds, stored so replays are deterministic.
    pub at: i64,
    /// The event as appended.
    pub data: Value,
}

impl Record {
    /// The record as `{"stream", "seq", "at", "data"}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"stream": self.stream, "seq": self.seq, "at": self.at, "data": self.data})
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
}

/// A record borrowed for the length of one scan callback.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// The stream it was appended to.
    pub stream: &'a str,
    /// Counts from 1 within the stream.
    pub seq: u64,
    /// Append time in Unix milliseconds.
    pub at: i64,
    /// The event, in the backend's form.
    pub data: DataRef<'a>,
}

impl RecordRef<'_> {
    /// An owned copy (stored JSON is parsed).
    pub fn to_record(&self) -> crate::Result<Record> {
        let data = match self.data {
            DataRef::Value(v) => v.clone(),
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
            at: self.at,
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

/// Rejects events that are not values: `null` (Rhai's `()`) at the top.
pub fn check_event(op: &'static str, stream: &str, event: &Value) -> crate::Result<()> {
    if event.is_null() {
        return Err(crate::Error::invalid(
            op,
            format!("stream {stream:?}: () is not an event"),
        ));
    }
    Ok(())
}

/// Stream names and keys must be non-empty.
pub fn check_name(op: &'static str, what: &str, name: &str) -> crate::Result<()> {
    if name.is_empty() {
        return Err(crate::Error::invalid(op, format!("{what} name is empty")));
    }
    Ok(())
}
