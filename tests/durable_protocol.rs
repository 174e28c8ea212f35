//! The durable backend against the memory backend (SPEC 3.1, 3.8): same
//! answers for every op and every layer built on them, the exact request
//! shapes, restart over a Disk, malformed requests, and migrate.

use std::sync::{Arc, Mutex};

use persist::durable::call::SIGNATURES;
use persist::durable::{
    Disk, MigrateReport, Request, Response, ValueTransport, durable, migrate, mock_durable, serve,
};
use persist::store::PAGE;
use persist::{Backend, Error, Record, Result, State, Store, Value};
use serde_json::json;

/// Mixes in `data.n` (1 for records without it) and the seq: a step whose
/// result depends on every record and its order.
fn step(acc: Value, r: Record) -> Result<Value> {
    let n = r.data.get("n").and_then(Value::as_i64).unwrap_or(1);
    let acc = acc.as_i64().unwrap_or(0) % 1_000_003;
    Ok(json!(acc * 3 + n + r.seq as i64))
}

fn state(s: State<Value>) -> Value {
    json!({"value": s.value, "seq": s.seq})
}

/// A result as a comparable value; errors by their message.
fn res<T>(r: Result<T>, f: impl FnOnce(T) -> Value) -> Value {
    match r {
        Ok(v) => f(v),
        Err(e) => json!({"err": e.to_string()}),
    }
}

/// Records without `at` (appends on two stores happen at different
/// milliseconds); `at` itself is compared exactly elsewhere.
fn recs(rs: Vec<Record>) -> Value {
    rs.iter()
        .map(|r| json!([r.stream, r.seq, r.data]))
        .collect()
}

/// Every observable answer of a scripted session, in order.
fn session(s: &Store) -> Vec<Value> {
    let mut t = Vec::new();
    let big: Vec<Value> = (0..PAGE as i64 + 7).map(|n| json!({"n": n})).collect();
    t.push(res(s.append("orders", json!({"n": 5})), Value::from));
    t.push(res(
        s.append_all("orders", vec![json!({"n": 1}), json!("x")]),
        Value::from,
    ));
    t.push(res(s.append_all("orders", vec![]), Value::from));
    t.push(res(s.append_all("empty", vec![]), Value::from));
    t.push(res(s.append_all("big", big), Value::from));
    t.push(res(s.append_expect("orders", 3, json!({"n": 2})), |a| {
        json!(format!("{a:?}"))
    }));
    t.push(res(s.append_expect("orders", 3, json!({"n": 9})), |a| {
        json!(format!("{a:?}"))
    }));
    t.push(res(s.append_expect("fresh", 0, json!(1)), |a| {
        json!(format!("{a:?}"))
    }));
    t.push(res(s.append("orders", json!(null)), Value::from));
    t.push(res(s.append("", json!(1)), Value::from));
    t.push(res(s.read("orders", 0, None), recs));
    t.push(res(s.read("orders", 1, Some(2)), recs));
    t.push(res(s.read("orders", 9, None), recs));
    t.push(res(s.read("nothing", 0, Some(3)), recs));
    t.push(res(s.read("big", PAGE as u64 - 2, Some(4)), recs));
    t.push(res(s.read("big", 0, None), |r| json!(r.len())));
    t.push(res(s.last_seq("orders"), Value::from));
    t.push(res(s.last_seq("nothing"), Value::from));
    t.push(res(s.project("orders", json!(0), step), state));
    t.push(res(s.project("big", json!(0), step), state));
    t.push(res(
        s.fold(
            "orders",
            State {
                value: json!(7),
                seq: 2,
            },
            step,
        ),
        state,
    ));
    t.push(res(
        s.fold(
            "orders",
            State {
                value: json!(7),
                seq: 99,
            },
            step,
        ),
        state,
    ));
    t.push(res(s.kv_put("view/a", json!({"x": [1, 2]})), |()| {
        json!(null)
    }));
    t.push(res(s.kv_put("view/b", json!(false)), |()| json!(null)));
    t.push(res(s.kv_put("view/c", json!(null)), |()| json!(null)));
    t.push(res(s.kv_get("view/a"), |v| json!([v])));
    t.push(res(s.kv_get("view/none"), |v| json!([v])));
    t.push(res(s.kv_keys("view/"), Value::from));
    t.push(res(s.kv_keys(""), Value::from));
    t.push(res(s.kv_del("view/b"), Value::from));
    t.push(res(s.kv_del("view/b"), Value::from));
    t.push(res(s.snapshot("o"), |v| json!([v.map(state)])));
    t.push(res(
        s.replay("o", "orders", json!(0), "v1", persist::owned_step(step)),
        state,
    ));
    t.push(res(
        s.checkpoint("o", "orders", json!(0), "v1", persist::owned_step(step)),
        state,
    ));
    t.push(res(s.snapshot("o"), |v| json!([v.map(state)])));
    t.push(res(s.append("orders", json!({"n": 4})), Value::from));
    t.push(res(
        s.replay("o", "orders", json!(0), "v1", persist::owned_step(step)),
        state,
    ));
    t.push(res(s.should_compact("o", "orders", 1), Value::from));
    t.push(res(s.should_compact("o", "orders", 2), Value::from));
    t.push(res(
        s.maybe_compact("o", "orders", json!(0), "v1", persist::owned_step(step), 2),
        Value::from,
    ));
    let compacted = s.compact("o", "orders", json!(0), "v1", persist::owned_step(step));
    t.push(res(compacted, |(st, c)| {
        json!([state(st), c.seq, c.dropped])
    }));
    t.push(res(s.read("orders", 0, None), recs));
    t.push(res(s.project("orders", json!(0), step), state));
    t.push(res(
        s.replay("o", "orders", json!(0), "v1", persist::owned_step(step)),
        state,
    ));
    t.push(res(s.append("orders", json!({"n": 6})), Value::from));
    t.push(res(
        s.replay("o", "orders", json!(0), "v1", persist::owned_step(step)),
        state,
    ));
    t.push(res(s.truncate_through("orders", 3), Value::from));
    t.push(res(s.truncate_through("nothing", 3), Value::from));
    t.push(res(s.truncate_through("big", 2000), Value::from));
    t.push(res(s.last_seq("big"), Value::from));
    t.push(res(
        s.append_expect("big", PAGE as u64 + 7, json!(1)),
        |a| json!(format!("{a:?}")),
    ));
    t.push(res(s.streams(), Value::from));
    t
}

#[test]
fn every_op_answers_like_the_memory_backend() {
    let mem = session(&Store::mem());
    let disk = Disk::mem();
    let mock = session(&mock_durable(&disk));
    // What a script's `persist::durable(|r| persist::serve(disk, r))` does:
    // requests and responses in their value forms.
    let other = Disk::mem();
    let by_value = session(&durable(ValueTransport(move |v: Value| {
        Ok(other.serve_value(&v))
    })));
    for answers in [mock, by_value] {
        assert_eq!(mem.len(), answers.len());
        for (i, (m, d)) in mem.iter().zip(&answers).enumerate() {
            assert_eq!(m, d, "answer {i} differs");
        }
    }
    // The session did hit the paths it means to: a conflict, a truncated
    // fold, a compaction that dropped records.
    let all = Value::from(mem).to_string();
    for want in [
        "Conflict",
        "first retained seq is",
        "past last seq",
        "stream name is empty",
        "()",
    ] {
        assert!(all.contains(want), "session never produced {want:?}");
    }
}

#[test]
fn durable_reads_return_the_stored_records_exactly() {
    let disk = Disk::mem();
    let s = mock_durable(&disk);
    s.append_all("a", (0..PAGE + 3).map(|n| json!(n)).collect())
        .unwrap();
    s.append("a", json!({"late": true})).unwrap();
    s.truncate_through("a", 2).unwrap();
    assert_eq!(
        s.read("a", 0, None).unwrap(),
        disk.backend().read("a", 0, usize::MAX).unwrap()
    );
    assert_eq!(
        s.read("a", 5, Some(3)).unwrap(),
        disk.backend().read("a", 5, 3).unwrap()
    );
}

#[test]
fn of_writers_expecting_the_same_seq_exactly_one_wins() {
    let disk = Disk::mem();
    mock_durable(&disk).append("c", json!(0)).unwrap();
    let wins: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let disk = disk.clone();
                scope.spawn(move || {
                    let s = mock_durable(&disk);
                    s.append_expect("c", 1, json!({"writer": i})).unwrap()
                        == persist::Appended::Seq(2)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    });
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    assert_eq!(disk.backend().last_seq("c").unwrap(), 2);
}

/// A transport that logs every request before serving it over `disk`.
fn recording(disk: &Disk) -> (Store, Arc<Mutex<Vec<Value>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (d, l) = (disk.clone(), log.clone());
    let store = durable(move |req: Request| {
        l.lock().unwrap().push(req.to_value());
        Ok(serve(d.backend(), &req))
    });
    (store, log)
}

#[test]
fn each_store_call_sends_exactly_its_request() {
    let disk = Disk::mem();
    let (s, log) = recording(&disk);
    let expect = |call: &dyn Fn(&Store), want: Value| {
        log.lock().unwrap().clear();
        call(&s);
        assert_eq!(Value::from(log.lock().unwrap().clone()), want);
    };
    let r = |op: &str, args: Value| json!({"op": op, "args": args});
    expect(
        &|s| drop(s.append("o", json!({"n": 1}))),
        json!([r("persist/append", json!(["o", {"n": 1}]))]),
    );
    expect(
        &|s| drop(s.append_all("o", vec![json!(2), json!(3)])),
        json!([r("persist/append-all", json!(["o", [2, 3]]))]),
    );
    expect(
        &|s| drop(s.append_expect("o", 3, json!(4))),
        json!([r("persist/append-expect", json!(["o", 3, 4]))]),
    );
    expect(
        &|s| drop(s.read("o", 1, Some(2))),
        json!([r("persist/read", json!(["o", 1, 2]))]),
    );
    expect(
        &|s| drop(s.read("o", 0, None)),
        json!([r("persist/read", json!(["o", 0, PAGE]))]),
    );
    expect(
        &|s| drop(s.last_seq("o")),
        json!([r("persist/last-seq", json!(["o"]))]),
    );
    expect(
        &|s| drop(s.streams()),
        json!([r("persist/streams", json!([]))]),
    );
    expect(
        &|s| drop(s.kv_put("k", json!([1]))),
        json!([r("persist/kv-put", json!(["k", [1]]))]),
    );
    expect(
        &|s| drop(s.kv_get("k")),
        json!([r("persist/kv-get", json!(["k"]))]),
    );
    expect(
        &|s| drop(s.kv_del("k")),
        json!([r("persist/kv-del", json!(["k"]))]),
    );
    expect(
        &|s| drop(s.kv_keys("p/")),
        json!([r("persist/kv-keys", json!(["p/"]))]),
    );
    let rec = Record {
        stream: "r".into(),
        seq: 2,
        pos: 3,
        at: 11,
        id: None,
        data: json!("d"),
    };
    expect(
        &|s| drop(s.backend().unwrap().restore("r", 2, vec![rec.clone()])),
        json!([r(
            "persist/restore",
            json!(["r", 2, [{"stream": "r", "seq": 2, "pos": 3, "at": 11, "data": "d"}]])
        )]),
    );
    // Layers above the log use the same requests: a checkpoint is reads
    // then a kv-put of the snapshot, then (the first time) of its fold.
    let checkpoint =
        |s: &Store| drop(s.checkpoint("c", "o", json!(0), "v1", persist::owned_step(step)));
    let fold = s.fold_id(&"o".into(), &json!(0), "v1").fingerprint;
    expect(
        &checkpoint,
        json!([
            r("persist/kv-get", json!(["snapshot/c"])),
            r("persist/read", json!(["o", 0, PAGE])),
            r(
                "persist/kv-put",
                json!(["snapshot/c", {"value": 98, "seq": 4}])
            ),
            r(
                "persist/kv-put",
                json!(["fold/c", {"fingerprint": fold, "step": "v1"}])
            ),
        ]),
    );
    expect(
        &checkpoint,
        json!([
            r("persist/kv-get", json!(["snapshot/c"])),
            r("persist/kv-get", json!(["fold/c"])),
            r("persist/read", json!(["o", 4, PAGE])),
            r("persist/last-seq", json!(["o"])),
            r(
                "persist/kv-put",
                json!(["snapshot/c", {"value": 98, "seq": 4}])
            ),
        ]),
    );
    expect(
        &|s| drop(s.truncate_through("o", 1)),
        json!([r("persist/truncate-through", json!(["o", 1]))]),
    );
    // Validation happens in the Store before any request is sent.
    expect(&|s| drop(s.append("", json!(1))), json!([]));
    expect(&|s| drop(s.kv_put("k", Value::Null)), json!([]));
}

/// Everything stored on a backend, `at` included.
fn dump(b: &dyn Backend) -> Value {
    let mut streams = serde_json::Map::new();
    for name in b.streams().unwrap() {
        let records: Vec<Value> = b
            .read(&name, 0, usize::MAX)
            .unwrap()
            .iter()
            .map(Record::to_json)
            .collect();
        streams.insert(
            name.clone(),
            json!({"last_seq": b.last_seq(&name).unwrap(), "records": records}),
        );
    }
    let mut kv = serde_json::Map::new();
    for key in b.kv_keys("").unwrap() {
        kv.insert(key.clone(), b.kv_get(&key).unwrap().unwrap_or(Value::Null));
    }
    let ids: Vec<Value> = b
        .ids("", usize::MAX)
        .unwrap()
        .iter()
        .map(|e| json!([e.id, e.stream, e.seq]))
        .collect();
    json!({"streams": streams, "kv": kv, "last_pos": b.last_pos().unwrap(), "ids": ids})
}

#[test]
fn a_restart_over_the_same_disk_recovers_everything() {
    let disk = Disk::mem();
    let first = mock_durable(&disk);
    first
        .append_all("o", (1..=10).map(|n| json!({"n": n})).collect())
        .unwrap();
    let full = first.project("o", json!(0), step).unwrap();
    let (st, c) = first
        .compact("snap", "o", json!(0), "v1", persist::owned_step(step))
        .unwrap();
    assert_eq!((st.seq, c.dropped), (10, 10));
    first.kv_put("position/sub", json!(10)).unwrap();
    first.append("o", json!({"n": 11})).unwrap();
    let before = dump(disk.backend());
    first.close().unwrap();
    drop(first);

    let second = mock_durable(&disk);
    assert_eq!(dump(disk.backend()), before);
    assert_eq!(second.last_seq("o").unwrap(), 11);
    assert_eq!(
        second.snapshot("snap").unwrap().map(state),
        Some(state(full))
    );
    assert_eq!(second.kv_get("position/sub").unwrap(), Some(json!(10)));
    assert_eq!(second.append("o", json!({"n": 12})).unwrap(), 12);
    let uncompacted = Store::mem();
    uncompacted
        .append_all("o", (1..=12).map(|n| json!({"n": n})).collect())
        .unwrap();
    assert_eq!(
        state(
            second
                .replay("snap", "o", json!(0), "v1", persist::owned_step(step))
                .unwrap()
        ),
        state(uncompacted.project("o", json!(0), step).unwrap())
    );
    // Compaction after the restart, then another restart: seq continues.
    second
        .compact("snap", "o", json!(0), "v1", persist::owned_step(step))
        .unwrap();
    drop(second);
    let third = mock_durable(&disk);
    assert_eq!(third.read("o", 0, None).unwrap(), vec![]);
    assert_eq!(third.append("o", json!({"n": 13})).unwrap(), 13);
    assert_eq!(third.streams().unwrap(), vec!["o".to_string()]);
}

/// Args of the right kind for each arg name, and values of the wrong kind.
fn good_arg(name: &str) -> Value {
    match name {
        // "t" is not yet a stream on the disk under test: a variant that
        // slipped through validation would create it and show in the dump.
        "stream" => json!("t"),
        "key" | "prefix" => json!("s"),
        "event" | "value" => json!({"n": 1}),
        "events" => json!([1, 2]),
        "records" => json!([{"stream": "t", "seq": 1, "pos": 1, "at": 5, "data": 1}]),
        "id" => json!("fresh"),
        "category" => json!("t"),
        "after_id" => json!(""),
        "ids" => json!([{"id": "fresh", "stream": "t", "seq": 1}]),
        _ => json!(1),
    }
}

fn bad_args(name: &str) -> Vec<Value> {
    let not_int = vec![
        json!(-1),
        json!(1.5),
        json!("1"),
        json!(null),
        json!([1]),
        json!(true),
    ];
    match name {
        "after_id" => vec![json!(1), json!(null)],
        "ids" => vec![
            json!({}),
            json!([1]),
            json!([{"id": "", "stream": "t", "seq": 1}]),
            json!([{"id": "i", "stream": "t", "seq": 0}]),
            json!([{"id": "i", "stream": "t"}]),
        ],
        "stream" | "key" | "id" | "category" => vec![
            json!(""),
            json!(1),
            json!(null),
            json!(["s"]),
            json!({"s": 1}),
        ],
        "prefix" => vec![json!(1), json!(null), json!([])],
        "event" | "value" => vec![json!(null)],
        "events" => vec![json!("x"), json!({}), json!(null), json!([1, null])],
        "records" => vec![
            json!({}),
            json!([1]),
            json!([{"stream": "other", "seq": 1, "pos": 1, "at": 5, "data": 1}]),
            json!([{"stream": "t", "seq": "1", "pos": 1, "at": 5, "data": 1}]),
            json!([{"stream": "t", "seq": 1, "at": 5, "data": 1}]),
            json!([{"stream": "t", "seq": 1, "pos": 1, "at": 5, "id": 7, "data": 1}]),
        ],
        "last_seq" | "last_pos" => [not_int, vec![json!(u64::MAX)]].concat(),
        _ => not_int,
    }
}

#[test]
fn malformed_requests_get_errors_and_change_nothing() {
    let disk = Disk::mem();
    let s = mock_durable(&disk);
    s.append_all("s", vec![json!(1), json!(2)]).unwrap();
    s.kv_put("s", json!("kept")).unwrap();
    s.checkpoint("x", "s", json!(0), "v1", persist::owned_step(step))
        .unwrap();
    let before = dump(disk.backend());

    let mut bad: Vec<(String, Value)> = vec![
        (
            "persist/nope".into(),
            json!({"op": "persist/nope", "args": []}),
        ),
        ("persist/append".into(), json!({"op": "persist/append"})),
        (
            "persist/append".into(),
            json!({"op": "persist/append", "args": {"s": 1}}),
        ),
        ("op".into(), json!({"op": 3, "args": []})),
        ("request".into(), json!(["persist/append", "s", 1])),
    ];
    for (op, names) in SIGNATURES {
        let good: Vec<Value> = names.iter().map(|n| good_arg(n)).collect();
        // The template is well formed, so each variant fails for its change.
        let probe = Disk::mem();
        let answer = serve(probe.backend(), &Request::new(op, good.clone()));
        assert!(
            matches!(answer, Response::Ok(_)),
            "{op} template rejected: {answer:?}"
        );
        let mut fewer = good.clone();
        fewer.pop();
        let more = [good.clone(), vec![json!("extra")]].concat();
        for args in [fewer, more] {
            if args.len() != good.len() {
                bad.push((op.to_string(), json!({"op": op, "args": args})));
            }
        }
        for (i, name) in names.iter().enumerate() {
            for wrong in bad_args(name) {
                let mut args = good.clone();
                args[i] = wrong;
                bad.push((op.to_string(), json!({"op": op, "args": args})));
            }
        }
    }
    assert!(bad.len() > 60, "only {} malformed requests", bad.len());
    for (op, req) in &bad {
        let answer = disk.serve_value(req);
        let msg = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{req} answered {answer}"));
        assert!(
            msg.contains(op.as_str()),
            "{req}: message {msg:?} does not name {op}"
        );
        assert_eq!(
            dump(disk.backend()),
            before,
            "{req} changed the stored state"
        );
    }
}

#[test]
fn error_responses_become_remote_errors_with_the_message() {
    let s = durable(|req: Request| Ok(Response::Err(format!("{}: disk on fire", req.op))));
    match s.append("o", json!(1)) {
        Err(Error::Remote { op, msg }) => assert_eq!(
            (op.as_str(), msg.as_str()),
            ("persist/append", "disk on fire")
        ),
        other => panic!("expected a remote error, got {other:?}"),
    }
    let e = s.project("o", json!(0), step).unwrap_err();
    assert_eq!(e.to_string(), "persist/read: disk on fire");
    // A real server-side refusal travels the same way.
    let disk = Disk::mem();
    let s = mock_durable(&disk);
    s.append("o", json!(1)).unwrap();
    let e = s.backend().unwrap().restore("o", 1, vec![]).unwrap_err();
    let Error::Remote { op, msg } = e else {
        panic!("expected a remote error")
    };
    assert_eq!(op, "persist/restore");
    assert!(
        msg.contains("stream \"o\": already holds records up to seq 1"),
        "{msg}"
    );
}

/// A store worth migrating: a compacted stream, a stream longer than a
/// page, a fully truncated one, snapshots and positions in kv.
fn populated() -> Store {
    let s = Store::mem();
    s.append_all("orders", (1..=20).map(|n| json!({"n": n})).collect())
        .unwrap();
    s.compact(
        "orders",
        "orders",
        json!(0),
        "v1",
        persist::owned_step(step),
    )
    .unwrap();
    s.append_all("orders", (21..=25).map(|n| json!({"n": n})).collect())
        .unwrap();
    s.append_all(
        "big",
        (0..PAGE as i64 * 2 + 3).map(|n| json!({"n": n})).collect(),
    )
    .unwrap();
    s.append_once("gone", "id-1", json!(1)).unwrap();
    s.truncate_through("gone", 1).unwrap();
    s.kv_put("position/feed", json!(7)).unwrap();
    s.kv_put("view/count", json!({"c": 3})).unwrap();
    s
}

#[test]
fn migrate_to_durable_answers_like_the_original() {
    let from = populated();
    let disk = Disk::mem();
    let to = mock_durable(&disk);
    let report = migrate(&from, &to).unwrap();
    assert_eq!(
        report,
        MigrateReport {
            streams: 3,
            records: 5 + PAGE as u64 * 2 + 3,
            keys: 4, // with the fold/ key beside the snapshot
            ids: 1,
        }
    );
    assert_eq!(dump(disk.backend()), dump(from.backend().unwrap()));
    assert_eq!(to.streams().unwrap(), from.streams().unwrap());
    for stream in ["orders", "big", "gone", "never"] {
        assert_eq!(
            to.read(stream, 0, None).unwrap(),
            from.read(stream, 0, None).unwrap()
        );
        assert_eq!(
            to.read(stream, 21, Some(2)).unwrap(),
            from.read(stream, 21, Some(2)).unwrap()
        );
        assert_eq!(to.last_seq(stream).unwrap(), from.last_seq(stream).unwrap());
        let (a, b) = (
            from.project(stream, json!(0), step),
            to.project(stream, json!(0), step),
        );
        assert_eq!(res(a, state), res(b, state), "{stream}");
        let (a, b) = (
            from.replay(stream, stream, json!(0), "v1", persist::owned_step(step)),
            to.replay(stream, stream, json!(0), "v1", persist::owned_step(step)),
        );
        assert_eq!(res(a, state), res(b, state), "{stream}");
        for expected in [0, 1, 20, 25] {
            let a = from.append_expect(stream, expected, json!({"n": 0}));
            let b = to.append_expect(stream, expected, json!({"n": 0}));
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "{stream} expecting {expected}"
            );
        }
    }
    assert_eq!(to.kv_keys("").unwrap(), from.kv_keys("").unwrap());
    assert_eq!(
        to.snapshot("orders").unwrap(),
        from.snapshot("orders").unwrap()
    );
}

#[test]
fn migrate_into_a_non_empty_store_errors_and_changes_nothing() {
    let from = populated();
    for (what, fill) in [
        (
            "stream \"x\"",
            &(|s: &Store| drop(s.append("x", json!(1)))) as &dyn Fn(&Store),
        ),
        ("key \"k\"", &|s: &Store| drop(s.kv_put("k", json!(1)))),
    ] {
        let disk = Disk::mem();
        let to = mock_durable(&disk);
        fill(&to);
        let before = dump(disk.backend());
        let e = migrate(&from, &to).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("migrate: the target store is not empty: it holds {what}")
        );
        assert_eq!(dump(disk.backend()), before);
    }
}
