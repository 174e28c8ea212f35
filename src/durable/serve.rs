//! The server side: one request against any `Backend` (SPEC 3.8).
//!
//! Requests are validated in full (`Call::parse`) before the backend is
//! touched, so a malformed request changes nothing; nothing here panics on
//! request data.

use crate::backend::{Appended, Backend};
use crate::durable::call::Call;
use crate::durable::request::{Request, Response, id_to_value};
use crate::{Result, Value};

/// Services one request. Errors, from validation or from the backend, come
/// back as `Response::Err` naming the op.
pub fn serve(backend: &dyn Backend, req: &Request) -> Response {
    let call = match Call::parse(req) {
        Ok(call) => call,
        Err(msg) => return Response::Err(msg),
    };
    if let Err(e) = check_limits(&call) {
        return Response::Err(format!("{}: {e}", req.op));
    }
    match dispatch(backend, call) {
        Ok(v) => Response::Ok(v),
        Err(e) => Response::Err(format!("{}: {e}", req.op)),
    }
}

/// Services one request given as a value (what a script passes to
/// `persist::serve(disk, request)`); returns the response value.
pub fn serve_value(backend: &dyn Backend, req: &Value) -> Value {
    match Request::from_value(req) {
        Ok(req) => serve(backend, &req).into_value(),
        Err(msg) => Response::Err(msg).into_value(),
    }
}

/// The store-wide limits (`crate::limits`), as `Store` checks them: a
/// request over them is refused before the backend sees it.
fn check_limits(call: &Call) -> Result<()> {
    use crate::limits::{check_batch, check_event, check_ids, check_kv, check_name, check_records};
    match call {
        Call::Append { stream, event } => {
            check_name("append", "stream", stream)?;
            check_event("append", stream, event).map(drop)
        }
        Call::AppendAll { stream, events } => {
            check_name("append_all", "stream", stream)?;
            check_batch("append_all", stream, events)
        }
        Call::AppendExpect { stream, event, .. } => {
            check_name("append_expect", "stream", stream)?;
            check_event("append_expect", stream, event).map(drop)
        }
        Call::KvPut { key, value } => {
            check_name("kv_put", "key", key)?;
            check_kv("kv_put", key, value)
        }
        Call::Restore {
            stream,
            last_seq,
            records,
        } => {
            check_name("restore", "stream", stream)?;
            check_records("restore", stream, *last_seq, records)
        }
        Call::AppendOnce { stream, id, event } => {
            check_name("append_once", "stream", stream)?;
            check_name("append_once", "id", id)?;
            check_event("append_once", stream, event).map(drop)
        }
        Call::RestoreGlobal { last_pos, ids } => check_ids("restore_global", *last_pos, ids),
        // Nothing else stores anything new.
        Call::Read { .. }
        | Call::ReadAll { .. }
        | Call::ReadCategory { .. }
        | Call::LastPos
        | Call::Ids { .. }
        | Call::LastSeq { .. }
        | Call::TruncateThrough { .. }
        | Call::Streams
        | Call::KvGet { .. }
        | Call::KvDel { .. }
        | Call::KvKeys { .. } => Ok(()),
    }
}

fn dispatch(b: &dyn Backend, call: Call) -> Result<Value> {
    Ok(match call {
        Call::Append { stream, event } => b.append(&stream, event)?.into(),
        Call::AppendAll { stream, events } => b.append_all(&stream, events)?.into(),
        Call::AppendExpect {
            stream,
            expected,
            event,
        } => match b.append_expect(&stream, expected, event)? {
            Appended::Seq(seq) => seq.into(),
            Appended::Conflict { expected, actual } => {
                serde_json::json!({"conflict": true, "expected": expected, "actual": actual})
            }
        },
        Call::Read {
            stream,
            after,
            limit,
        } => records(b.read(&stream, after, limit)?),
        Call::LastSeq { stream } => b.last_seq(&stream)?.into(),
        Call::TruncateThrough { stream, seq } => b.truncate_through(&stream, seq)?.into(),
        Call::Streams => b.streams()?.into(),
        Call::KvGet { key } => b.kv_get(&key)?.unwrap_or(Value::Null),
        Call::KvPut { key, value } => {
            b.kv_put(&key, value)?;
            Value::Null
        }
        Call::KvDel { key } => b.kv_del(&key)?.into(),
        Call::KvKeys { prefix } => b.kv_keys(&prefix)?.into(),
        Call::Restore {
            stream,
            last_seq,
            records,
        } => {
            b.restore(&stream, last_seq, records)?;
            Value::Null
        }
        Call::AppendOnce { stream, id, event } => b.append_once(&stream, &id, event)?.into(),
        Call::ReadAll { after, limit } => records(b.read_all(after, limit)?),
        Call::ReadCategory {
            category,
            after,
            limit,
        } => records(b.read_category(&category, after, limit)?),
        Call::LastPos => b.last_pos()?.into(),
        Call::Ids { after, limit } => {
            Value::Array(b.ids(&after, limit)?.iter().map(id_to_value).collect())
        }
        Call::RestoreGlobal { last_pos, ids } => {
            b.restore_global(last_pos, ids)?;
            Value::Null
        }
    })
}

fn records(records: Vec<crate::Record>) -> Value {
    Value::Array(records.iter().map(|r| r.to_json()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemBackend;
    use serde_json::json;

    fn req(op: &str, args: Value) -> Value {
        json!({"op": op, "args": args})
    }

    #[test]
    fn every_op_answers_in_its_value_form() {
        let b = MemBackend::new();
        let s = |op, args| serve_value(&b, &req(op, args));
        assert_eq!(s("persist/append", json!(["s", {"n": 1}])), json!(1));
        assert_eq!(s("persist/append-all", json!(["s", [2, 3]])), json!(3));
        assert_eq!(s("persist/append-all", json!(["s", []])), json!(3));
        assert_eq!(s("persist/append-expect", json!(["s", 3, 4])), json!(4));
        assert_eq!(
            s("persist/append-expect", json!(["s", 1, 5])),
            json!({"conflict": true, "expected": 1, "actual": 4})
        );
        let recs = s("persist/read", json!(["s", 1, 2]));
        let Value::Array(recs) = recs else {
            panic!("read gave {recs}")
        };
        let seqs: Vec<_> = recs
            .iter()
            .map(|r| (r["stream"].clone(), r["seq"].clone(), r["data"].clone()))
            .collect();
        assert_eq!(
            seqs,
            vec![
                (json!("s"), json!(2), json!(2)),
                (json!("s"), json!(3), json!(3))
            ]
        );
        assert!(recs.iter().all(|r| r["at"].is_i64()
            && r["pos"] == r["seq"]
            && r.as_object().map(|m| m.len()) == Some(5)));
        assert_eq!(s("persist/truncate-through", json!(["s", 2])), json!(2));
        assert_eq!(s("persist/last-seq", json!(["s"])), json!(4));
        assert_eq!(s("persist/last-seq", json!(["none"])), json!(0));
        assert_eq!(s("persist/streams", json!([])), json!(["s"]));
        assert_eq!(s("persist/kv-put", json!(["a/1", {"v": 1}])), json!(null));
        assert_eq!(s("persist/kv-get", json!(["a/1"])), json!({"v": 1}));
        assert_eq!(s("persist/kv-get", json!(["a/2"])), json!(null));
        assert_eq!(s("persist/kv-keys", json!(["a/"])), json!(["a/1"]));
        assert_eq!(s("persist/kv-del", json!(["a/1"])), json!(true));
        assert_eq!(s("persist/kv-del", json!(["a/1"])), json!(false));
        let rec = json!({"stream": "r", "seq": 7, "pos": 9, "at": 5, "id": "k", "data": "x"});
        assert_eq!(s("persist/restore", json!(["r", 7, [rec]])), json!(null));
        assert_eq!(s("persist/read", json!(["r", 0, 10])), json!([rec]));
        assert_eq!(s("persist/append-once", json!(["r", "k", 1])), json!(7));
        assert_eq!(s("persist/append-once", json!(["s-1", "j", 1])), json!(1));
        assert_eq!(s("persist/last-pos", json!([])), json!(10));
        let all = s("persist/read-all", json!([8, 10]));
        assert_eq!(all[0]["pos"], json!(9));
        assert_eq!(all[1]["stream"], json!("s-1"));
        assert_eq!(
            s("persist/read-category", json!(["s", 0, 10]))
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let ids =
            json!([{"id": "j", "stream": "s-1", "seq": 1}, {"id": "k", "stream": "r", "seq": 7}]);
        assert_eq!(s("persist/ids", json!(["", 10])), ids);
        let more = json!([{"id": "z", "stream": "r", "seq": 1}]);
        assert_eq!(s("persist/restore-global", json!([20, more])), json!(null));
        assert_eq!(s("persist/last-pos", json!([])), json!(20));
        assert_eq!(s("persist/append-once", json!(["r", "z", 1])), json!(1));
    }

    #[test]
    fn backend_errors_come_back_naming_the_op() {
        let b = MemBackend::new();
        serve_value(&b, &req("persist/append", json!(["r", 1])));
        let got = serve_value(&b, &req("persist/restore", json!(["r", 1, []])));
        let msg = got["error"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with("persist/restore: ") && msg.contains("already holds"),
            "{got}"
        );
    }

    #[test]
    fn malformed_requests_get_errors_and_change_nothing() {
        let b = MemBackend::new();
        serve_value(&b, &req("persist/append", json!(["s", 1])));
        serve_value(&b, &req("persist/kv-put", json!(["k", 1])));
        let bad = [
            json!("persist/append"),
            json!({"op": "persist/append"}),
            req("persist/nope", json!([])),
            req("persist/append", json!(["s"])),
            req("persist/append", json!(["s", null])),
            req("persist/append-all", json!(["s", [1, null]])),
            req("persist/truncate-through", json!(["s", -1])),
            req("persist/kv-put", json!(["k", null])),
            req("persist/kv-del", json!([""])),
            req("persist/restore", json!(["t", u64::MAX, []])),
        ];
        for r in bad {
            let got = serve_value(&b, &r);
            assert!(got["error"].is_string(), "{r} gave {got}");
        }
        assert_eq!(b.last_seq("s").unwrap(), 1);
        assert_eq!(b.read("s", 0, 10).unwrap().len(), 1);
        assert_eq!(b.streams().unwrap(), vec!["s".to_string()]);
        assert_eq!(b.kv_get("k").unwrap(), Some(json!(1)));
    }
}
