//! The wire shapes of the request protocol (SPEC 3.8).
//!
//! A request is `{"op": "persist/<name>", "args": [...]}`. A response is
//! the bare result value on success and `{"error": "message"}` on failure.
//! Records travel as `{"stream", "seq", "pos", "at", "data"}` maps, plus
//! `id` for a record appended with `append_once`.

use serde::{Deserialize, Serialize};

use crate::backend::IdEntry;
use crate::{Record, Value};

/// Op names: the Store method's name with `_` written as `-` (SPEC 3.8),
/// plus the extensions `migrate` needs: `persist/restore`, `persist/ids`
/// and `persist/restore-global`.
pub mod op {
    /// The op of `Call::Append`.
    pub const APPEND: &str = "persist/append";
    /// The op of `Call::AppendAll`.
    pub const APPEND_ALL: &str = "persist/append-all";
    /// The op of `Call::AppendExpect`.
    pub const APPEND_EXPECT: &str = "persist/append-expect";
    /// The op of `Call::Read`.
    pub const READ: &str = "persist/read";
    /// The op of `Call::LastSeq`.
    pub const LAST_SEQ: &str = "persist/last-seq";
    /// The op of `Call::TruncateThrough`.
    pub const TRUNCATE_THROUGH: &str = "persist/truncate-through";
    /// The op of `Call::Streams`.
    pub const STREAMS: &str = "persist/streams";
    /// The op of `Call::KvGet`.
    pub const KV_GET: &str = "persist/kv-get";
    /// The op of `Call::KvPut`.
    pub const KV_PUT: &str = "persist/kv-put";
    /// The op of `Call::KvDel`.
    pub const KV_DEL: &str = "persist/kv-del";
    /// The op of `Call::KvKeys`.
    pub const KV_KEYS: &str = "persist/kv-keys";
    /// The op of `Call::AppendOnce`.
    pub const APPEND_ONCE: &str = "persist/append-once";
    /// The op of `Call::ReadAll`.
    pub const READ_ALL: &str = "persist/read-all";
    /// The op of `Call::ReadCategory`.
    pub const READ_CATEGORY: &str = "persist/read-category";
    /// The op of `Call::LastPos`.
    pub const LAST_POS: &str = "persist/last-pos";
    /// The op of `Call::Restore`.
    pub const RESTORE: &str = "persist/restore";
    /// The op of `Call::Ids`.
    pub const IDS: &str = "persist/ids";
    /// The op of `Call::RestoreGlobal`.
    pub const RESTORE_GLOBAL: &str = "persist/restore-global";
}

/// One storage operation as it travels to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `persist/<name>`, one of `op`'s constants.
    pub op: String,
    /// The op's arguments, in the order `call::SIGNATURES` names them.
    pub args: Vec<Value>,
}

impl Request {
    /// A request for `op` with `args` (not checked until `Call::parse`).
    pub fn new(op: &str, args: Vec<Value>) -> Self {
        Request {
            op: op.to_string(),
            args,
        }
    }

    /// A `persist/append` request: args as `Call::parse` reads them.
    pub fn append(stream: &str, event: Value) -> Self {
        Self::new(op::APPEND, vec![stream.into(), event])
    }

    /// A `persist/append-all` request: args as `Call::parse` reads them.
    pub fn append_all(stream: &str, events: Vec<Value>) -> Self {
        Self::new(op::APPEND_ALL, vec![stream.into(), Value::Array(events)])
    }

    /// A `persist/append-expect` request: args as `Call::parse` reads them.
    pub fn append_expect(stream: &str, expected: u64, event: Value) -> Self {
        Self::new(
            op::APPEND_EXPECT,
            vec![stream.into(), expected.into(), event],
        )
    }

    /// A `persist/read` request: args as `Call::parse` reads them.
    pub fn read(stream: &str, after: u64, limit: usize) -> Self {
        Self::new(op::READ, vec![stream.into(), after.into(), limit.into()])
    }

    /// A `persist/last-seq` request: args as `Call::parse` reads them.
    pub fn last_seq(stream: &str) -> Self {
        Self::new(op::LAST_SEQ, vec![stream.into()])
    }

    /// A `persist/truncate-through` request: args as `Call::parse` reads them.
    pub fn truncate_through(stream: &str, seq: u64) -> Self {
        Self::new(op::TRUNCATE_THROUGH, vec![stream.into(), seq.into()])
    }

    /// A `persist/streams` request: args as `Call::parse` reads them.
    pub fn streams() -> Self {
        Self::new(op::STREAMS, vec![])
    }

    /// A `persist/kv-get` request: args as `Call::parse` reads them.
    pub fn kv_get(key: &str) -> Self {
        Self::new(op::KV_GET, vec![key.into()])
    }

    /// A `persist/kv-put` request: args as `Call::parse` reads them.
    pub fn kv_put(key: &str, value: Value) -> Self {
        Self::new(op::KV_PUT, vec![key.into(), value])
    }

    /// A `persist/kv-del` request: args as `Call::parse` reads them.
    pub fn kv_del(key: &str) -> Self {
        Self::new(op::KV_DEL, vec![key.into()])
    }

    /// A `persist/kv-keys` request: args as `Call::parse` reads them.
    pub fn kv_keys(prefix: &str) -> Self {
        Self::new(op::KV_KEYS, vec![prefix.into()])
    }

    /// A `persist/append-once` request: args as `Call::parse` reads them.
    pub fn append_once(stream: &str, id: &str, event: Value) -> Self {
        Self::new(op::APPEND_ONCE, vec![stream.into(), id.into(), event])
    }

    /// A `persist/read-all` request: args as `Call::parse` reads them.
    pub fn read_all(after: u64, limit: usize) -> Self {
        Self::new(op::READ_ALL, vec![after.into(), limit.into()])
    }

    /// A `persist/read-category` request: args as `Call::parse` reads them.
    pub fn read_category(category: &str, after: u64, limit: usize) -> Self {
        Self::new(
            op::READ_CATEGORY,
            vec![category.into(), after.into(), limit.into()],
        )
    }

    /// A `persist/last-pos` request: args as `Call::parse` reads them.
    pub fn last_pos() -> Self {
        Self::new(op::LAST_POS, vec![])
    }

    /// A `persist/ids` request: args as `Call::parse` reads them.
    pub fn ids(after: &str, limit: usize) -> Self {
        Self::new(op::IDS, vec![after.into(), limit.into()])
    }

    /// A `persist/restore-global` request: args as `Call::parse` reads them.
    pub fn restore_global(last_pos: u64, ids: &[IdEntry]) -> Self {
        let ids = ids.iter().map(id_to_value).collect();
        Self::new(op::RESTORE_GLOBAL, vec![last_pos.into(), Value::Array(ids)])
    }

    /// A `persist/restore` request: args as `Call::parse` reads them.
    pub fn restore(stream: &str, last_seq: u64, records: &[Record]) -> Self {
        let records = records.iter().map(Record::to_json).collect();
        Self::new(
            op::RESTORE,
            vec![stream.into(), last_seq.into(), Value::Array(records)],
        )
    }

    /// The request as the map a script transport receives.
    pub fn to_value(&self) -> Value {
        serde_json::json!({"op": self.op, "args": self.args})
    }

    /// Reads a request map, naming what is wrong with it otherwise. Whether
    /// the op is known and its args fit is `Call::parse`'s job.
    pub fn from_value(v: &Value) -> Result<Request, String> {
        const SHAPE: &str = "a request must be a map {op: string, args: array}";
        let Value::Object(m) = v else {
            return Err(format!("{SHAPE}, got {}", show(v)));
        };
        if let Some(extra) = m.keys().find(|k| *k != "op" && *k != "args") {
            return Err(format!("{SHAPE}; unexpected field {extra:?}"));
        }
        let op = match m.get("op") {
            Some(Value::String(op)) => op.clone(),
            Some(other) => return Err(format!("{SHAPE}; op is {}", show(other))),
            None => return Err(format!("{SHAPE}; op is missing")),
        };
        let args = match m.get("args") {
            Some(Value::Array(args)) => args.clone(),
            Some(other) => return Err(format!("{op}: args must be an array, got {}", show(other))),
            None => return Err(format!("{op}: args are missing")),
        };
        Ok(Request { op, args })
    }
}

/// A server's answer: the result value, or an error message that names the
/// op and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The op's result.
    Ok(Value),
    /// Why the op failed; nothing was stored.
    Err(String),
}

impl Response {
    /// The response as a value: the bare result, or `{"error": msg}`.
    pub fn into_value(self) -> Value {
        match self {
            Response::Ok(v) => v,
            Response::Err(msg) => serde_json::json!({ "error": msg }),
        }
    }

    /// Reads a response value. A map whose only field is a string `error`
    /// is an error response; anything else is a result, checked against the
    /// op by the client. (So a kv value of exactly that shape cannot travel
    /// as a value form: the protocol's one ambiguity, SPEC 3.8.)
    pub fn from_value(v: Value) -> Response {
        if let Value::Object(m) = &v
            && m.len() == 1
            && let Some(Value::String(msg)) = m.get("error")
        {
            return Response::Err(msg.clone());
        }
        Response::Ok(v)
    }
}

/// Reads a record map strictly: exactly `stream` (string), `seq` and `pos`
/// (non-negative integers), `at` (integer), `data`, and optionally `id`
/// (string).
pub fn record_from_value(v: &Value) -> Result<Record, String> {
    const SHAPE: &str = "a record must be a map {stream, seq, pos, at, data} (and id)";
    let Value::Object(m) = v else {
        return Err(format!("{SHAPE}, got {}", show(v)));
    };
    let id = match m.get("id") {
        None => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(other) => {
            return Err(format!(
                "{SHAPE}; id must be a non-empty string, got {}",
                show(other)
            ));
        }
    };
    if m.len() != 5 + id.is_some() as usize {
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        return Err(format!("{SHAPE}, got fields {keys:?}"));
    }
    let field = |name: &str| {
        m.get(name)
            .ok_or_else(|| format!("{SHAPE}; {name} is missing"))
    };
    let bad = |name: &str, want: &str, got: &Value| {
        format!("{SHAPE}; {name} must be {want}, got {}", show(got))
    };
    let uint = |name: &str| {
        let v = field(name)?;
        v.as_u64()
            .ok_or_else(|| bad(name, "a non-negative integer", v))
    };
    let stream = field("stream")?;
    let Value::String(stream) = stream else {
        return Err(bad("stream", "a string", stream));
    };
    let seq = uint("seq")?;
    let pos = uint("pos")?;
    let at = field("at")?;
    let at = at.as_i64().ok_or_else(|| bad("at", "an integer", at))?;
    Ok(Record {
        stream: stream.clone(),
        seq,
        pos,
        at,
        id,
        data: field("data")?.clone(),
    })
}

/// An id entry as it travels: `{id, stream, seq}`.
pub fn id_to_value(e: &IdEntry) -> Value {
    serde_json::json!({"id": e.id, "stream": e.stream, "seq": e.seq})
}

/// Reads an id entry map strictly.
pub fn id_from_value(v: &Value) -> Result<IdEntry, String> {
    const SHAPE: &str = "an id entry must be a map {id, stream, seq}";
    let entry = match v {
        Value::Object(m) if m.len() == 3 => (|| {
            let id = m.get("id")?.as_str().filter(|s| !s.is_empty())?;
            let stream = m.get("stream")?.as_str().filter(|s| !s.is_empty())?;
            let seq = m.get("seq")?.as_u64().filter(|&s| s > 0)?;
            Some(IdEntry {
                id: id.to_string(),
                stream: stream.to_string(),
                seq,
            })
        })(),
        _ => None,
    };
    entry.ok_or_else(|| format!("{SHAPE} (non-empty strings, seq above 0), got {}", show(v)))
}

/// A value as error messages quote it: JSON, cut short so a huge argument
/// cannot flood a message.
pub(crate) fn show(v: &Value) -> String {
    const MAX: usize = 80;
    let s = v.to_string();
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_value_round_trip_and_serde_agree() {
        let r = Request::read("orders", 3, 10);
        let v = r.to_value();
        assert_eq!(v, json!({"op": "persist/read", "args": ["orders", 3, 10]}));
        assert_eq!(Request::from_value(&v), Ok(r.clone()));
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
        let back: Request = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn constructors_follow_the_op_table() {
        let rec = Record {
            stream: "s".into(),
            seq: 2,
            pos: 5,
            at: 7,
            id: None,
            data: json!(1),
        };
        let cases = [
            (
                Request::append("s", json!(1)),
                json!({"op": "persist/append", "args": ["s", 1]}),
            ),
            (
                Request::append_all("s", vec![json!(1), json!(2)]),
                json!({"op": "persist/append-all", "args": ["s", [1, 2]]}),
            ),
            (
                Request::append_expect("s", 4, json!("e")),
                json!({"op": "persist/append-expect", "args": ["s", 4, "e"]}),
            ),
            (
                Request::last_seq("s"),
                json!({"op": "persist/last-seq", "args": ["s"]}),
            ),
            (
                Request::truncate_through("s", 2),
                json!({"op": "persist/truncate-through", "args": ["s", 2]}),
            ),
            (
                Request::streams(),
                json!({"op": "persist/streams", "args": []}),
            ),
            (
                Request::kv_get("k"),
                json!({"op": "persist/kv-get", "args": ["k"]}),
            ),
            (
                Request::kv_put("k", json!({"a": 1})),
                json!({"op": "persist/kv-put", "args": ["k", {"a": 1}]}),
            ),
            (
                Request::kv_del("k"),
                json!({"op": "persist/kv-del", "args": ["k"]}),
            ),
            (
                Request::kv_keys("p/"),
                json!({"op": "persist/kv-keys", "args": ["p/"]}),
            ),
            (
                Request::restore("s", 2, &[rec]),
                json!({"op": "persist/restore",
                       "args": ["s", 2, [{"stream": "s", "seq": 2, "pos": 5, "at": 7, "data": 1}]]}),
            ),
            (
                Request::append_once("s", "k", json!(1)),
                json!({"op": "persist/append-once", "args": ["s", "k", 1]}),
            ),
            (
                Request::read_all(3, 10),
                json!({"op": "persist/read-all", "args": [3, 10]}),
            ),
            (
                Request::read_category("c", 3, 10),
                json!({"op": "persist/read-category", "args": ["c", 3, 10]}),
            ),
            (
                Request::last_pos(),
                json!({"op": "persist/last-pos", "args": []}),
            ),
            (
                Request::ids("a", 2),
                json!({"op": "persist/ids", "args": ["a", 2]}),
            ),
            (
                Request::restore_global(
                    9,
                    &[IdEntry {
                        id: "k".into(),
                        stream: "s".into(),
                        seq: 1,
                    }],
                ),
                json!({"op": "persist/restore-global",
                       "args": [9, [{"id": "k", "stream": "s", "seq": 1}]]}),
            ),
        ];
        for (req, want) in cases {
            assert_eq!(req.to_value(), want);
        }
    }

    #[test]
    fn malformed_request_maps_are_named() {
        let cases = [
            (json!(5), "got 5"),
            (json!({"op": 1, "args": []}), "op is 1"),
            (json!({"args": []}), "op is missing"),
            (
                json!({"op": "persist/read"}),
                "persist/read: args are missing",
            ),
            (
                json!({"op": "persist/read", "args": "x"}),
                "persist/read: args must be an array",
            ),
            (
                json!({"op": "persist/read", "args": [], "x": 1}),
                "unexpected field \"x\"",
            ),
        ];
        for (v, want) in cases {
            let err = Request::from_value(&v).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn response_value_forms() {
        let err = Response::Err("persist/read: boom".into());
        assert_eq!(
            err.clone().into_value(),
            json!({"error": "persist/read: boom"})
        );
        assert_eq!(
            Response::from_value(err.into_value()),
            Response::Err("persist/read: boom".into())
        );
        for v in [
            json!(3),
            json!(null),
            json!({"error": 5}),
            json!({"error": "x", "y": 1}),
        ] {
            assert_eq!(Response::from_value(v.clone()), Response::Ok(v.clone()));
            assert_eq!(Response::Ok(v.clone()).into_value(), v);
        }
    }

    #[test]
    fn records_are_read_strictly() {
        let good = json!({"stream": "s", "seq": 1, "pos": 3, "at": -5, "data": {"x": 1}});
        let rec = record_from_value(&good).unwrap();
        assert_eq!(rec.to_json(), good);
        let with_id = json!({"stream": "s", "seq": 1, "pos": 3, "at": 0, "id": "k", "data": 1});
        assert_eq!(record_from_value(&with_id).unwrap().to_json(), with_id);
        let cases = [
            (json!([1]), "got [1]"),
            (
                json!({"stream": "s", "seq": 1, "pos": 1, "at": 1}),
                "got fields",
            ),
            (
                json!({"stream": "s", "seq": 1, "pos": 1, "at": 1, "dat": 1}),
                "data is missing",
            ),
            (
                json!({"stream": 1, "seq": 1, "pos": 1, "at": 1, "data": 1}),
                "stream must be a string",
            ),
            (
                json!({"stream": "s", "seq": -1, "pos": 1, "at": 1, "data": 1}),
                "seq must be a non-negative",
            ),
            (
                json!({"stream": "s", "seq": 1.0, "pos": 1, "at": 1, "data": 1}),
                "seq must be a non-negative",
            ),
            (
                json!({"stream": "s", "seq": 1, "pos": "p", "at": 1, "data": 1}),
                "pos must be a non-negative",
            ),
            (
                json!({"stream": "s", "seq": 1, "pos": 1, "at": "t", "data": 1}),
                "at must be an integer",
            ),
            (
                json!({"stream": "s", "seq": 1, "pos": 1, "at": 1, "id": "", "data": 1}),
                "id must be a non-empty string",
            ),
        ];
        for (v, want) in cases {
            let err = record_from_value(&v).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn show_cuts_long_values_on_a_char_boundary() {
        assert_eq!(show(&json!("x")), "\"x\"");
        let long = show(&json!("é".repeat(100)));
        assert!(long.ends_with("...") && long.len() <= 83, "{long}");
    }
}
