//! The client side: a `Backend` that performs each call as exactly one
//! request through a `Transport` and reads the response strictly.
//!
//! A response of the wrong shape is an error naming the op and what came
//! back, never a guess: a fold over misread records would be silently wrong.

use crate::backend::{Appended, Backend, IdEntry};
use crate::durable::request::{Request, Response, id_from_value, op, record_from_value, show};
use crate::{Error, Record, Result, Source, Value};

/// Carries a request to a server and brings back its response. An `Err`
/// means the transport itself failed; a server-side failure is
/// `Ok(Response::Err(..))`. `Send + Sync` because the `Backend` over it is.
pub trait Transport: Send + Sync {
    /// Delivers `req` and returns the server's answer.
    fn send(&self, req: Request) -> Result<Response>;
    /// Called once when the Store over it closes. Most transports leave the
    /// storage behind them open (it outlives the Store); one that owns its
    /// storage closes it here.
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

impl<F: Fn(Request) -> Result<Response> + Send + Sync> Transport for F {
    fn send(&self, req: Request) -> Result<Response> {
        self(req)
    }
}

/// A transport that speaks in value forms, `transport(request) -> response`
/// as a script closure does (`persist::durable(transport)`): the request
/// goes out as its map and the answer is read with `Response::from_value`.
pub struct ValueTransport<F>(pub F);

impl<F: Fn(Value) -> Result<Value> + Send + Sync> Transport for ValueTransport<F> {
    fn send(&self, req: Request) -> Result<Response> {
        Ok(Response::from_value((self.0)(req.to_value())?))
    }
}

/// The durable backend (SPEC 3.8).
pub struct DurableBackend<T> {
    transport: T,
}

impl<T: Transport> DurableBackend<T> {
    /// A backend that sends every call through `transport`.
    pub fn new(transport: T) -> Self {
        DurableBackend { transport }
    }

    /// The transport it sends through.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Sends one request; the success value, or `Error::Remote` naming the op.
    fn call(&self, req: Request) -> Result<Value> {
        let op = req.op.clone();
        match self.transport.send(req) {
            Ok(Response::Ok(v)) => Ok(v),
            Ok(Response::Err(msg)) => {
                // Server messages already start with the op; keep it once.
                let msg = match msg.strip_prefix(&format!("{op}: ")) {
                    Some(rest) => rest.to_string(),
                    None => msg,
                };
                Err(Error::Remote { op, msg })
            }
            Err(e) => Err(Error::Remote {
                op,
                msg: format!("transport failed: {e}"),
            }),
        }
    }
}

fn unexpected(op: &str, want: &str, got: &Value) -> Error {
    Error::Remote {
        op: op.to_string(),
        msg: format!("unexpected response: expected {want}, got {}", show(got)),
    }
}

fn as_u64(op: &str, v: Value) -> Result<u64> {
    v.as_u64()
        .ok_or_else(|| unexpected(op, "a non-negative integer", &v))
}

fn as_null(op: &str, v: Value) -> Result<()> {
    match v {
        Value::Null => Ok(()),
        v => Err(unexpected(op, "null", &v)),
    }
}

fn as_strings(op: &str, v: Value) -> Result<Vec<String>> {
    let strings = match &v {
        Value::Array(items) => items
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    };
    strings.ok_or_else(|| unexpected(op, "an array of strings", &v))
}

/// `seq`, or the conflict map for exactly the `expected` that was sent.
fn as_appended(expected: u64, v: Value) -> Result<Appended> {
    if let Some(seq) = v.as_u64() {
        return Ok(Appended::Seq(seq));
    }
    let conflict = match &v {
        Value::Object(m) if m.len() == 3 && m.get("conflict") == Some(&Value::Bool(true)) => m
            .get("expected")
            .and_then(Value::as_u64)
            .zip(m.get("actual").and_then(Value::as_u64)),
        _ => None,
    };
    match conflict {
        Some((e, actual)) if e == expected && actual != expected => {
            Ok(Appended::Conflict { expected, actual })
        }
        _ => Err(unexpected(
            op::APPEND_EXPECT,
            &format!("a seq or {{conflict: true, expected: {expected}, actual: <another seq>}}"),
            &v,
        )),
    }
}

/// Records of `source` past `after` in its order (seqs for a stream,
/// positions otherwise), at most `limit`.
fn as_records(
    op: &str,
    source: &Source,
    after: u64,
    limit: usize,
    v: Value,
) -> Result<Vec<Record>> {
    let order = if matches!(source, Source::Stream(_)) {
        "seq"
    } else {
        "pos"
    };
    let want = format!("an array of at most {limit} records of {source} after {order} {after}");
    let Value::Array(items) = &v else {
        return Err(unexpected(op, &want, &v));
    };
    if items.len() > limit {
        return Err(unexpected(op, &want, &v));
    }
    let mut out: Vec<Record> = Vec::with_capacity(items.len());
    for item in items {
        let rec = record_from_value(item).map_err(|msg| Error::Remote {
            op: op.to_string(),
            msg: format!("unexpected response: {msg}"),
        })?;
        let prev = out.last().map_or(after, |r| source.position(r.seq, r.pos));
        if !source.contains(&rec.stream)
            || source.position(rec.seq, rec.pos) <= prev
            || rec.data.is_null()
            || rec.pos == 0
        {
            return Err(unexpected(op, &want, item));
        }
        out.push(rec);
    }
    Ok(out)
}

fn as_ids(after: &str, limit: usize, v: Value) -> Result<Vec<IdEntry>> {
    let want = format!("an array of at most {limit} id entries after {after:?}, sorted");
    let Value::Array(items) = &v else {
        return Err(unexpected(op::IDS, &want, &v));
    };
    let mut out: Vec<IdEntry> = Vec::with_capacity(items.len().min(limit));
    for item in items {
        let e = id_from_value(item).map_err(|msg| Error::Remote {
            op: op::IDS.to_string(),
            msg: format!("unexpected response: {msg}"),
        })?;
        let prev = out.last().map_or(after, |p| p.id.as_str());
        if e.id.as_str() <= prev || out.len() == limit {
            return Err(unexpected(op::IDS, &want, item));
        }
        out.push(e);
    }
    Ok(out)
}

impl<T: Transport> Backend for DurableBackend<T> {
    fn describe(&self) -> String {
        "durable".into()
    }

    fn append(&self, stream: &str, event: Value) -> Result<u64> {
        as_u64(op::APPEND, self.call(Request::append(stream, event))?)
    }

    fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64> {
        as_u64(
            op::APPEND_ALL,
            self.call(Request::append_all(stream, events))?,
        )
    }

    fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended> {
        let v = self.call(Request::append_expect(stream, expected, event))?;
        as_appended(expected, v)
    }

    fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        let v = self.call(Request::read(stream, after, limit))?;
        as_records(op::READ, &Source::stream(stream), after, limit, v)
    }

    fn append_once(&self, stream: &str, id: &str, event: Value) -> Result<u64> {
        let v = self.call(Request::append_once(stream, id, event))?;
        as_u64(op::APPEND_ONCE, v)
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Record>> {
        let v = self.call(Request::read_all(after, limit))?;
        as_records(op::READ_ALL, &Source::All, after, limit, v)
    }

    fn read_category(&self, category: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        let v = self.call(Request::read_category(category, after, limit))?;
        as_records(
            op::READ_CATEGORY,
            &Source::category(category),
            after,
            limit,
            v,
        )
    }

    fn last_pos(&self) -> Result<u64> {
        as_u64(op::LAST_POS, self.call(Request::last_pos())?)
    }

    fn ids(&self, after: &str, limit: usize) -> Result<Vec<IdEntry>> {
        as_ids(after, limit, self.call(Request::ids(after, limit))?)
    }

    fn restore_global(&self, last_pos: u64, ids: Vec<IdEntry>) -> Result<()> {
        let v = self.call(Request::restore_global(last_pos, &ids))?;
        as_null(op::RESTORE_GLOBAL, v)
    }

    fn last_seq(&self, stream: &str) -> Result<u64> {
        as_u64(op::LAST_SEQ, self.call(Request::last_seq(stream))?)
    }

    fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64> {
        let v = self.call(Request::truncate_through(stream, seq))?;
        as_u64(op::TRUNCATE_THROUGH, v)
    }

    fn streams(&self) -> Result<Vec<String>> {
        as_strings(op::STREAMS, self.call(Request::streams())?)
    }

    fn kv_get(&self, key: &str) -> Result<Option<Value>> {
        Ok(match self.call(Request::kv_get(key))? {
            Value::Null => None,
            v => Some(v),
        })
    }

    fn kv_put(&self, key: &str, value: Value) -> Result<()> {
        as_null(op::KV_PUT, self.call(Request::kv_put(key, value))?)
    }

    fn kv_del(&self, key: &str) -> Result<bool> {
        match self.call(Request::kv_del(key))? {
            Value::Bool(existed) => Ok(existed),
            v => Err(unexpected(op::KV_DEL, "a bool", &v)),
        }
    }

    fn kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        as_strings(op::KV_KEYS, self.call(Request::kv_keys(prefix))?)
    }

    fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()> {
        let v = self.call(Request::restore(stream, last_seq, &records))?;
        as_null(op::RESTORE, v)
    }

    /// No request: the protocol has no close op; the transport decides.
    fn close(&self) -> Result<()> {
        self.transport.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A backend whose server always answers `v`.
    fn answering(v: Value) -> DurableBackend<impl Transport> {
        DurableBackend::new(move |_req: Request| Ok(Response::Ok(v.clone())))
    }

    fn remote_msg(e: Error) -> (String, String) {
        match e {
            Error::Remote { op, msg } => (op, msg),
            other => panic!("expected Error::Remote, got {other:?}"),
        }
    }

    #[test]
    fn wrong_response_shapes_are_named_errors() {
        let (op, msg) = remote_msg(answering(json!("x")).append("s", json!(1)).unwrap_err());
        assert_eq!(op, "persist/append");
        assert_eq!(
            msg,
            "unexpected response: expected a non-negative integer, got \"x\""
        );
        let checks: Vec<(Result<()>, &str)> = vec![
            (
                answering(json!(-1)).last_seq("s").map(drop),
                "persist/last-seq",
            ),
            (
                answering(json!(1.0)).truncate_through("s", 1).map(drop),
                "persist/truncate-through",
            ),
            (answering(json!([1])).streams().map(drop), "persist/streams"),
            (
                answering(json!("a")).kv_keys("").map(drop),
                "persist/kv-keys",
            ),
            (answering(json!(1)).kv_put("k", json!(1)), "persist/kv-put"),
            (answering(json!(1)).kv_del("k").map(drop), "persist/kv-del"),
            (
                answering(json!(1)).restore("s", 0, vec![]),
                "persist/restore",
            ),
            (
                answering(json!({"conflict": true, "expected": 2, "actual": 3}))
                    .append_expect("s", 1, json!(1))
                    .map(drop),
                "persist/append-expect",
            ),
            (
                answering(json!({"conflict": true, "expected": 1, "actual": 1}))
                    .append_expect("s", 1, json!(1))
                    .map(drop),
                "persist/append-expect",
            ),
            (
                answering(json!({"conflict": 1, "expected": 1, "actual": 2}))
                    .append_expect("s", 1, json!(1))
                    .map(drop),
                "persist/append-expect",
            ),
            (
                answering(json!({})).read("s", 0, 5).map(drop),
                "persist/read",
            ),
        ];
        for (got, want_op) in checks {
            let (op, msg) = remote_msg(got.unwrap_err());
            assert_eq!(op, want_op);
            assert!(msg.starts_with("unexpected response"), "{msg}");
        }
    }

    #[test]
    fn read_responses_must_fit_the_request() {
        let rec = |stream: &str, seq: u64, data: Value| json!({"stream": stream, "seq": seq, "pos": seq, "at": 1, "data": data});
        let good = json!([rec("s", 2, json!(1)), rec("s", 4, json!(2))]);
        let got = answering(good.clone()).read("s", 1, 2).unwrap();
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 4]);
        let bad = [
            (good.clone(), 1, 1),                                          // more than limit
            (good.clone(), 2, 5),                                          // not after `after`
            (json!([rec("t", 2, json!(1))]), 0, 5),                        // another stream
            (json!([rec("s", 3, json!(1)), rec("s", 3, json!(1))]), 0, 5), // not increasing
            (json!([rec("s", 1, json!(null))]), 0, 5),                     // null event
            (json!([{"stream": "s", "seq": 1}]), 0, 5),                    // not a record
        ];
        let all = answering(json!([rec("a", 1, json!(1)), rec("b", 1, json!(2))]));
        assert!(all.read_all(0, 5).is_err(), "positions must increase");
        let cat = answering(json!([rec("a-1", 1, json!(1)), rec("b-1", 2, json!(2))]));
        assert!(cat.read_category("a", 0, 5).is_err(), "another category");
        assert_eq!(cat.read_all(0, 5).unwrap().len(), 2);
        for (v, after, limit) in bad {
            let (op, msg) = remote_msg(answering(v.clone()).read("s", after, limit).unwrap_err());
            assert_eq!(op, "persist/read");
            assert!(msg.starts_with("unexpected response"), "{v}: {msg}");
        }
    }

    #[test]
    fn conflicts_and_null_values_decode() {
        let c = answering(json!({"conflict": true, "expected": 1, "actual": 4}));
        assert_eq!(
            c.append_expect("s", 1, json!(1)).unwrap(),
            Appended::Conflict {
                expected: 1,
                actual: 4
            }
        );
        assert_eq!(
            answering(json!(2)).append_expect("s", 1, json!(1)).unwrap(),
            Appended::Seq(2)
        );
        assert_eq!(answering(json!(null)).kv_get("k").unwrap(), None);
        assert_eq!(
            answering(json!({"error": 5})).kv_get("k").unwrap(),
            Some(json!({"error": 5}))
        );
    }

    #[test]
    fn value_transports_round_trip_through_serve_value() {
        let mem = crate::mem::MemBackend::new();
        let b = DurableBackend::new(ValueTransport(|v: Value| {
            Ok(crate::durable::serve_value(&mem, &v))
        }));
        assert_eq!(b.append("s", json!({"n": 1})).unwrap(), 1);
        assert_eq!(b.read("s", 0, 9).unwrap()[0].data, json!({"n": 1}));
        let e = b.append("", json!(1)).unwrap_err().to_string();
        assert_eq!(
            e,
            "persist/append: arg 1 (stream) must be a non-empty string, got \"\""
        );
        let b = DurableBackend::new(ValueTransport(|_v: Value| Ok(json!({"error": "nope"}))));
        assert_eq!(
            remote_msg(b.kv_del("k").unwrap_err()),
            ("persist/kv-del".into(), "nope".into())
        );
    }

    #[test]
    fn error_responses_and_transport_failures_become_remote_errors() {
        let b =
            DurableBackend::new(|req: Request| Ok(Response::Err(format!("{}: disk full", req.op))));
        let e = b.append("s", json!(1)).unwrap_err();
        assert_eq!(e.to_string(), "persist/append: disk full");
        assert_eq!(remote_msg(e), ("persist/append".into(), "disk full".into()));
        let b = DurableBackend::new(|_req: Request| Ok(Response::Err("boom".into())));
        assert_eq!(
            remote_msg(b.kv_get("k").unwrap_err()),
            ("persist/kv-get".into(), "boom".into())
        );
        let b = DurableBackend::new(|_req: Request| Err(Error::invalid("link", "down")));
        let (op, msg) = remote_msg(b.streams().unwrap_err());
        assert_eq!(
            (op.as_str(), msg.as_str()),
            ("persist/streams", "transport failed: link: down")
        );
    }
}
