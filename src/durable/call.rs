//! A request checked against the op table and turned into typed arguments.
//!
//! Everything a malformed request can get wrong is caught here, before any
//! backend call, so a bad request never changes stored data (SPEC 3.8).

use crate::backend::IdEntry;
use crate::durable::request::{Request, id_from_value, op, record_from_value, show};
use crate::{Record, Value};

/// Each op with the names of its args, in wire order (SPEC 3.8 table).
pub const SIGNATURES: &[(&str, &[&str])] = &[
    (op::APPEND, &["stream", "event"]),
    (op::APPEND_ALL, &["stream", "events"]),
    (op::APPEND_EXPECT, &["stream", "expected", "event"]),
    (op::READ, &["stream", "after", "limit"]),
    (op::LAST_SEQ, &["stream"]),
    (op::TRUNCATE_THROUGH, &["stream", "seq"]),
    (op::STREAMS, &[]),
    (op::KV_GET, &["key"]),
    (op::KV_PUT, &["key", "value"]),
    (op::KV_DEL, &["key"]),
    (op::KV_KEYS, &["prefix"]),
    (op::APPEND_ONCE, &["stream", "id", "event"]),
    (op::READ_ALL, &["after", "limit"]),
    (op::READ_CATEGORY, &["category", "after", "limit"]),
    (op::LAST_POS, &[]),
    (op::RESTORE, &["stream", "last_seq", "records"]),
    (op::IDS, &["after_id", "limit"]),
    (op::RESTORE_GLOBAL, &["last_pos", "ids"]),
];

/// A well-formed request: names are non-empty, events and values are not
/// null, seqs are non-negative integers.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `persist/append`: appends one event (`Backend::append`).
    Append {
        /// The stream.
        stream: String,
        /// The event (not null).
        event: Value,
    },
    /// `persist/append-all`: appends all events or none.
    AppendAll {
        /// The stream.
        stream: String,
        /// The events, in order.
        events: Vec<Value>,
    },
    /// `persist/append-expect`: appends only if the stream is at `expected`.
    AppendExpect {
        /// The stream.
        stream: String,
        /// The seq the stream must be at.
        expected: u64,
        /// The event (not null).
        event: Value,
    },
    /// `persist/read`: a stream's records after a seq.
    Read {
        /// The stream.
        stream: String,
        /// Only records with a higher seq.
        after: u64,
        /// At most this many.
        limit: usize,
    },
    /// `persist/last-seq`: a stream's high-water mark.
    LastSeq {
        /// The stream.
        stream: String,
    },
    /// `persist/truncate-through`: drops a stream's records up to a seq.
    TruncateThrough {
        /// The stream.
        stream: String,
        /// Records with this seq or lower are dropped.
        seq: u64,
    },
    /// `persist/streams`: every stream ever appended to.
    Streams,
    /// `persist/kv-get`: the value under a key.
    KvGet {
        /// The key.
        key: String,
    },
    /// `persist/kv-put`: stores a value under a key.
    KvPut {
        /// The key.
        key: String,
        /// The value (not null).
        value: Value,
    },
    /// `persist/kv-del`: deletes a key.
    KvDel {
        /// The key.
        key: String,
    },
    /// `persist/kv-keys`: the keys with a prefix.
    KvKeys {
        /// Only keys starting with this (`""`: all).
        prefix: String,
    },
    /// `persist/append-once`: appends unless the id was used.
    AppendOnce {
        /// The stream.
        stream: String,
        /// The event id; a repeat appends nothing.
        id: String,
        /// The event (not null).
        event: Value,
    },
    /// `persist/read-all`: every stream's records after a pos.
    ReadAll {
        /// Only records with a higher pos.
        after: u64,
        /// At most this many.
        limit: usize,
    },
    /// `persist/read-category`: one category's records after a pos.
    ReadCategory {
        /// The category (a stream name up to its first `-`).
        category: String,
        /// Only records with a higher pos.
        after: u64,
        /// At most this many.
        limit: usize,
    },
    /// `persist/last-pos`: the highest pos ever given.
    LastPos,
    /// `persist/restore`: writes a never-used stream's records as they were.
    Restore {
        /// The stream.
        stream: String,
        /// The stream's high-water mark.
        last_seq: u64,
        /// Its kept records, with seq, pos, `at` and id.
        records: Vec<Record>,
    },
    /// `persist/ids`: a page of the used event ids.
    Ids {
        /// Only ids sorting after this (`""`: from the first).
        after: String,
        /// At most this many.
        limit: usize,
    },
    /// `persist/restore-global`: raises the last pos and marks ids used.
    RestoreGlobal {
        /// The pos the store's last pos rises to.
        last_pos: u64,
        /// Ids to mark used, truncated records' included.
        ids: Vec<IdEntry>,
    },
}

impl Call {
    /// Checks the op, the arg count and every arg's type; the message names
    /// the op and the offending arg.
    pub fn parse(req: &Request) -> Result<Call, String> {
        let op = req.op.as_str();
        let Some((_, names)) = SIGNATURES.iter().find(|(name, _)| *name == op) else {
            return Err(unknown_op(op));
        };
        if req.args.len() != names.len() {
            return Err(format!(
                "{op}: expects {} args [{}], got {}",
                names.len(),
                names.join(", "),
                req.args.len()
            ));
        }
        let a = Args {
            op,
            names,
            args: &req.args,
        };
        Ok(match op {
            op::APPEND => Call::Append {
                stream: a.name(0)?,
                event: a.present(1)?,
            },
            op::APPEND_ALL => Call::AppendAll {
                stream: a.name(0)?,
                events: a.events(1)?,
            },
            op::APPEND_EXPECT => Call::AppendExpect {
                stream: a.name(0)?,
                expected: a.uint(1)?,
                event: a.present(2)?,
            },
            op::READ => Call::Read {
                stream: a.name(0)?,
                after: a.uint(1)?,
                limit: a.limit(2)?,
            },
            op::APPEND_ONCE => Call::AppendOnce {
                stream: a.name(0)?,
                id: a.name(1)?,
                event: a.present(2)?,
            },
            op::READ_ALL => Call::ReadAll {
                after: a.uint(0)?,
                limit: a.limit(1)?,
            },
            op::READ_CATEGORY => Call::ReadCategory {
                category: a.name(0)?,
                after: a.uint(1)?,
                limit: a.limit(2)?,
            },
            op::LAST_POS => Call::LastPos,
            op::IDS => Call::Ids {
                after: a.string(0)?,
                limit: a.limit(1)?,
            },
            op::RESTORE_GLOBAL => Call::RestoreGlobal {
                last_pos: a.script_seq(0)?,
                ids: a.ids(1)?,
            },
            op::LAST_SEQ => Call::LastSeq { stream: a.name(0)? },
            op::TRUNCATE_THROUGH => Call::TruncateThrough {
                stream: a.name(0)?,
                seq: a.uint(1)?,
            },
            op::KV_GET => Call::KvGet { key: a.name(0)? },
            op::KV_PUT => Call::KvPut {
                key: a.name(0)?,
                value: a.present(1)?,
            },
            op::KV_DEL => Call::KvDel { key: a.name(0)? },
            op::KV_KEYS => Call::KvKeys {
                prefix: a.string(0)?,
            },
            op::RESTORE => Call::Restore {
                stream: a.name(0)?,
                last_seq: a.script_seq(1)?,
                records: a.records(0, 2)?,
            },
            op::STREAMS => Call::Streams,
            _ => return Err(unknown_op(op)),
        })
    }

    /// The request that carries this call: the inverse of `parse`.
    pub fn to_request(&self) -> Request {
        match self {
            Call::Append { stream, event } => Request::append(stream, event.clone()),
            Call::AppendAll { stream, events } => Request::append_all(stream, events.clone()),
            Call::AppendExpect {
                stream,
                expected,
                event,
            } => Request::append_expect(stream, *expected, event.clone()),
            Call::Read {
                stream,
                after,
                limit,
            } => Request::read(stream, *after, *limit),
            Call::LastSeq { stream } => Request::last_seq(stream),
            Call::TruncateThrough { stream, seq } => Request::truncate_through(stream, *seq),
            Call::Streams => Request::streams(),
            Call::KvGet { key } => Request::kv_get(key),
            Call::KvPut { key, value } => Request::kv_put(key, value.clone()),
            Call::KvDel { key } => Request::kv_del(key),
            Call::KvKeys { prefix } => Request::kv_keys(prefix),
            Call::Restore {
                stream,
                last_seq,
                records,
            } => Request::restore(stream, *last_seq, records),
            Call::AppendOnce { stream, id, event } => {
                Request::append_once(stream, id, event.clone())
            }
            Call::ReadAll { after, limit } => Request::read_all(*after, *limit),
            Call::ReadCategory {
                category,
                after,
                limit,
            } => Request::read_category(category, *after, *limit),
            Call::LastPos => Request::last_pos(),
            Call::Ids { after, limit } => Request::ids(after, *limit),
            Call::RestoreGlobal { last_pos, ids } => Request::restore_global(*last_pos, ids),
        }
    }
}

fn unknown_op(op: &str) -> String {
    let known: Vec<&str> = SIGNATURES.iter().map(|(name, _)| *name).collect();
    format!("unknown op {op:?} (known ops: {})", known.join(", "))
}

/// A request's args after the count check: `i` is always in range.
struct Args<'a> {
    op: &'a str,
    names: &'a [&'a str],
    args: &'a [Value],
}

impl Args<'_> {
    fn get(&self, i: usize) -> &Value {
        self.args.get(i).unwrap_or(&Value::Null)
    }

    fn bad(&self, i: usize, want: &str) -> String {
        let name = self.names.get(i).copied().unwrap_or("?");
        format!(
            "{}: arg {} ({name}) must be {want}, got {}",
            self.op,
            i + 1,
            show(self.get(i))
        )
    }

    fn string(&self, i: usize) -> Result<String, String> {
        match self.get(i) {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.bad(i, "a string")),
        }
    }

    /// A stream name or key: a non-empty string.
    fn name(&self, i: usize) -> Result<String, String> {
        match self.get(i) {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            _ => Err(self.bad(i, "a non-empty string")),
        }
    }

    fn uint(&self, i: usize) -> Result<u64, String> {
        self.get(i)
            .as_u64()
            .ok_or_else(|| self.bad(i, "a non-negative integer"))
    }

    /// A page size; one beyond the address space means "no limit".
    fn limit(&self, i: usize) -> Result<usize, String> {
        Ok(usize::try_from(self.uint(i)?).unwrap_or(usize::MAX))
    }

    fn ids(&self, i: usize) -> Result<Vec<IdEntry>, String> {
        let Value::Array(items) = self.get(i) else {
            return Err(self.bad(i, "an array of id entries"));
        };
        items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                id_from_value(item)
                    .map_err(|msg| self.bad(i, &format!("an array of id entries; item {n}: {msg}")))
            })
            .collect()
    }

    /// A seq a backend will count on from: at most `i64::MAX`, the largest
    /// seq a script can hold, so `last_seq + 1` never overflows.
    fn script_seq(&self, i: usize) -> Result<u64, String> {
        match self.get(i).as_u64() {
            Some(n) if n <= i64::MAX as u64 => Ok(n),
            _ => Err(self.bad(i, "a non-negative integer up to i64::MAX")),
        }
    }

    /// An event or kv value: anything but null (Rhai's `()`).
    fn present(&self, i: usize) -> Result<Value, String> {
        match self.get(i) {
            Value::Null => Err(self.bad(i, "a value, not null")),
            v => Ok(v.clone()),
        }
    }

    fn events(&self, i: usize) -> Result<Vec<Value>, String> {
        let Value::Array(items) = self.get(i) else {
            return Err(self.bad(i, "an array of events"));
        };
        if let Some(n) = items.iter().position(Value::is_null) {
            return Err(self.bad(i, &format!("an array of events; item {n} is null")));
        }
        Ok(items.clone())
    }

    /// Records for `restore`, each belonging to the stream in arg `stream_arg`.
    fn records(&self, stream_arg: usize, i: usize) -> Result<Vec<Record>, String> {
        let Value::Array(items) = self.get(i) else {
            return Err(self.bad(i, "an array of records"));
        };
        let stream = self.get(stream_arg);
        let mut out = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let rec = record_from_value(item)
                .map_err(|msg| self.bad(i, &format!("an array of records; item {n}: {msg}")))?;
            if stream.as_str() != Some(rec.stream.as_str()) {
                let msg = format!(
                    "records of stream {}; item {n} is of {:?}",
                    show(stream),
                    rec.stream
                );
                return Err(self.bad(i, &msg));
            }
            out.push(rec);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all_calls() -> Vec<Call> {
        let rec = Record {
            stream: "s".into(),
            seq: 3,
            pos: 4,
            at: 9,
            id: Some("k".into()),
            data: json!({"a": 1}),
        };
        vec![
            Call::Append {
                stream: "s".into(),
                event: json!(1),
            },
            Call::AppendAll {
                stream: "s".into(),
                events: vec![json!(1), json!("x")],
            },
            Call::AppendAll {
                stream: "s".into(),
                events: vec![],
            },
            Call::AppendExpect {
                stream: "s".into(),
                expected: 2,
                event: json!([]),
            },
            Call::Read {
                stream: "s".into(),
                after: 0,
                limit: 5,
            },
            Call::LastSeq { stream: "s".into() },
            Call::TruncateThrough {
                stream: "s".into(),
                seq: 4,
            },
            Call::Streams,
            Call::KvGet { key: "k".into() },
            Call::KvPut {
                key: "k".into(),
                value: json!(false),
            },
            Call::KvDel { key: "k".into() },
            Call::KvKeys { prefix: "".into() },
            Call::Restore {
                stream: "s".into(),
                last_seq: 3,
                records: vec![rec],
            },
            Call::AppendOnce {
                stream: "s".into(),
                id: "k".into(),
                event: json!(1),
            },
            Call::ReadAll { after: 2, limit: 3 },
            Call::ReadCategory {
                category: "c".into(),
                after: 0,
                limit: 1,
            },
            Call::LastPos,
            Call::Ids {
                after: "".into(),
                limit: 9,
            },
            Call::RestoreGlobal {
                last_pos: 7,
                ids: vec![IdEntry {
                    id: "k".into(),
                    stream: "s".into(),
                    seq: 3,
                }],
            },
        ]
    }

    #[test]
    fn parse_inverts_to_request_for_every_op() {
        let calls = all_calls();
        for (op, _) in SIGNATURES {
            assert!(
                calls.iter().any(|c| c.to_request().op == *op),
                "no call for {op}"
            );
        }
        for call in calls {
            let req = call.to_request();
            assert_eq!(Call::parse(&req), Ok(call), "{req:?}");
        }
    }

    fn err(op: &str, args: Value) -> String {
        let Value::Array(args) = args else {
            panic!("args must be an array")
        };
        Call::parse(&Request::new(op, args)).unwrap_err()
    }

    #[test]
    fn unknown_op_and_wrong_arity_are_named() {
        let e = err("persist/nope", json!([]));
        assert!(
            e.starts_with("unknown op \"persist/nope\"") && e.contains("persist/kv-keys"),
            "{e}"
        );
        for (op, names) in SIGNATURES {
            let args = vec![json!("s"); names.len() + 1];
            let e = Call::parse(&Request::new(op, args)).unwrap_err();
            assert!(
                e.starts_with(&format!("{op}: expects {} args", names.len())),
                "{e}"
            );
        }
        assert_eq!(
            err("persist/read", json!(["s", 0])),
            "persist/read: expects 3 args [stream, after, limit], got 2"
        );
    }

    #[test]
    fn bad_arg_types_name_the_op_and_arg() {
        let cases = [
            (
                "persist/read",
                json!(["s", "x", 1]),
                "persist/read: arg 2 (after) must be a non-negative integer, got \"x\"",
            ),
            (
                "persist/read",
                json!(["s", -1, 1]),
                "arg 2 (after) must be a non-negative integer, got -1",
            ),
            (
                "persist/read",
                json!(["s", 0, 1.5]),
                "arg 3 (limit) must be a non-negative integer, got 1.5",
            ),
            (
                "persist/read",
                json!([1, 0, 1]),
                "arg 1 (stream) must be a non-empty string, got 1",
            ),
            (
                "persist/append",
                json!(["", 1]),
                "persist/append: arg 1 (stream) must be a non-empty string, got \"\"",
            ),
            (
                "persist/append",
                json!(["s", null]),
                "arg 2 (event) must be a value, not null",
            ),
            (
                "persist/append-all",
                json!(["s", 1]),
                "arg 2 (events) must be an array of events",
            ),
            (
                "persist/append-all",
                json!(["s", [1, null]]),
                "item 1 is null",
            ),
            (
                "persist/append-expect",
                json!(["s", 1.0, 1]),
                "arg 2 (expected) must be a non-negative integer",
            ),
            (
                "persist/truncate-through",
                json!(["s", "3"]),
                "arg 2 (seq) must be a non-negative integer",
            ),
            (
                "persist/kv-get",
                json!([""]),
                "persist/kv-get: arg 1 (key) must be a non-empty string",
            ),
            (
                "persist/kv-put",
                json!(["k", null]),
                "persist/kv-put: arg 2 (value) must be a value, not null",
            ),
            (
                "persist/kv-del",
                json!([null]),
                "persist/kv-del: arg 1 (key) must be a non-empty string",
            ),
            (
                "persist/kv-keys",
                json!([1]),
                "persist/kv-keys: arg 1 (prefix) must be a string",
            ),
            (
                "persist/restore",
                json!(["s", u64::MAX, []]),
                "arg 2 (last_seq) must be a non-negative integer up to i64::MAX",
            ),
            (
                "persist/restore",
                json!(["s", 1, {}]),
                "arg 3 (records) must be an array of records",
            ),
            (
                "persist/restore",
                json!(["s", 1, [1]]),
                "item 0: a record must be a map",
            ),
            (
                "persist/restore",
                json!(["s", 1, [{"stream": "t", "seq": 1, "pos": 1, "at": 1, "data": 1}]]),
                "records of stream \"s\"; item 0 is of \"t\"",
            ),
            (
                "persist/append-once",
                json!(["s", "", 1]),
                "arg 2 (id) must be a non-empty string",
            ),
            (
                "persist/read-category",
                json!(["", 0, 1]),
                "arg 1 (category) must be a non-empty string",
            ),
            (
                "persist/restore-global",
                json!([1, [{"id": "k"}]]),
                "item 0: an id entry must be a map",
            ),
        ];
        for (op, args, want) in cases {
            let e = err(op, args);
            assert!(
                e.starts_with(op) && e.contains(want),
                "{e:?} should contain {want:?}"
            );
        }
    }
}
