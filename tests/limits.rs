//! The store-wide limits (`persist::limits`): the same on every backend,
//! checked before any backend is touched, each at the limit and one past
//! it; seqs that would pass the largest; and errors naming the operation
//! the caller called.

use persist::durable::{Disk, mock_durable, serve_value};
use persist::limits::{MAX_BATCH, MAX_DEPTH, MAX_NAME, MAX_SEQ, MAX_VALUE};
use persist::mem::MemBackend;
use persist::{Backend, Record, Store, Value};
use serde_json::json;

/// Each backend, with what keeps it alive (the disk store's directory).
fn backends() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = persist::ondisk::DiskLog::open(dir.path()).expect("open").0;
    vec![
        ("mem", Store::mem(), None),
        ("mock", mock_durable(&Disk::mem()), None),
        ("disk", Store::new(disk), Some(dir)),
    ]
}

/// `levels` arrays and maps nested, alternating, around `1`.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |v, i| {
        if i % 2 == 0 {
            json!([v])
        } else {
            json!({"a": v})
        }
    })
}

fn err<T: std::fmt::Debug>(r: persist::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn values_nested_to_the_limit_are_kept_and_read_back_on_every_backend() {
    for (name, s, _dir) in backends() {
        let deep = nested(MAX_DEPTH);
        assert_eq!(s.append("d", deep.clone()).unwrap(), 1, "{name}");
        s.append_all("d", vec![deep.clone(), json!(2)]).unwrap();
        s.kv_put("k", deep.clone()).unwrap();
        let back: Vec<Value> = s
            .read("d", 0, None)
            .unwrap()
            .into_iter()
            .map(|r| r.data)
            .collect();
        assert_eq!(back, vec![deep.clone(), deep.clone(), json!(2)], "{name}");
        assert_eq!(s.kv_get("k").unwrap(), Some(deep.clone()), "{name}");
        let folded = s
            .project("d", json!(0), |n, r| {
                Ok::<_, persist::Error>(json!(n.as_i64().unwrap() + i64::from(r.data == deep)))
            })
            .unwrap();
        assert_eq!(folded.value, json!(2), "{name}");
    }
}

#[test]
fn values_nested_past_the_limit_are_refused_on_every_backend_and_nothing_is_stored() {
    for (name, s, _dir) in backends() {
        let too_deep = nested(MAX_DEPTH + 1);
        let cases = [
            ("append", err(s.append("d", too_deep.clone()))),
            (
                "append_all",
                err(s.append_all("d", vec![json!(1), too_deep.clone()])),
            ),
            (
                "append_expect",
                err(s.append_expect("d", 0, too_deep.clone())),
            ),
            ("kv_put", err(s.kv_put("k", too_deep.clone()))),
        ];
        for (op, e) in cases {
            assert!(e.starts_with(&format!("{op}: ")), "{name}: {e}");
            assert!(e.contains("nested more than 64 levels deep"), "{name}: {e}");
        }
        assert_eq!(s.last_seq("d").unwrap(), 0, "{name}");
        assert_eq!(s.kv_get("k").unwrap(), None, "{name}");
    }
}

#[test]
fn names_over_the_limit_are_refused_naming_the_op_called() {
    let long = "n".repeat(MAX_NAME + 1);
    for (name, s, _dir) in backends() {
        let ok = "n".repeat(MAX_NAME);
        s.append(&ok, json!(1)).unwrap();
        s.kv_put(&ok, json!(1)).unwrap();
        assert_eq!(s.read(&ok, 0, None).unwrap().len(), 1, "{name}");
        let cases = [
            ("append", err(s.append(&long, json!(1)))),
            ("append_all", err(s.append_all(&long, vec![json!(1)]))),
            ("append_expect", err(s.append_expect(&long, 0, json!(1)))),
            ("kv_put", err(s.kv_put(&long, json!(1)))),
        ];
        for (op, e) in cases {
            assert!(e.starts_with(&format!("{op}: ")), "{name}: {e}");
            assert!(
                e.contains("65536 bytes, over the 65535-byte limit"),
                "{name}: {e}"
            );
        }
        assert_eq!(s.streams().unwrap(), vec![ok], "{name}");
    }
}

#[test]
fn an_event_or_batch_over_the_size_limit_is_refused_before_any_backend() {
    // A backend that would take anything: the refusal must come from Store.
    let s = Store::mem();
    let just_over = json!("x".repeat(MAX_VALUE - 2 + 1));
    let e = err(s.append("big", just_over));
    assert!(e.starts_with("append: stream \"big\": the value is"), "{e}");
    assert!(
        e.contains(&format!("over the {MAX_VALUE}-byte limit")),
        "{e}"
    );
    let e = err(s.kv_put("big", json!({"v": "x".repeat(MAX_VALUE)})));
    assert!(e.starts_with("kv_put: key \"big\""), "{e}");
    // Two events of half the batch each: each fits, the batch does not.
    let half = json!("y".repeat(MAX_BATCH / 2));
    let e = err(s.append_all("big", vec![half.clone(), half]));
    assert!(
        e.starts_with("append_all: stream \"big\": a batch of 2 events"),
        "{e}"
    );
    assert_eq!(s.last_seq("big").unwrap(), 0);
    assert_eq!(s.kv_get("big").unwrap(), None);
}

#[test]
fn a_batch_at_the_size_limit_is_kept_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::new(persist::ondisk::DiskLog::open(dir.path()).unwrap().0);
    // Two events whose JSON plus overhead is exactly MAX_BATCH.
    let each = MAX_BATCH / 2 - 16 - 2;
    let events = vec![json!("a".repeat(each)), json!("b".repeat(each))];
    assert_eq!(s.append_all(&"n".repeat(MAX_NAME), events).unwrap(), 2);
    let back = s.read(&"n".repeat(MAX_NAME), 0, None).unwrap();
    assert_eq!(back[1].data.as_str().map(str::len), Some(each));
}

#[test]
fn no_append_passes_the_largest_seq_on_any_backend() {
    for (name, s, _dir) in backends() {
        let rec = |seq| Record {
            stream: "s".into(),
            seq,
            pos: 1,
            at: 1,
            id: None,
            data: json!(seq.to_string()),
        };
        s.restore("s", MAX_SEQ, vec![rec(MAX_SEQ)]).unwrap();
        assert_eq!(s.last_seq("s").unwrap(), MAX_SEQ, "{name}");
        for e in [
            err(s.append("s", json!(1))),
            err(s.append_all("s", vec![json!(1)])),
            err(s.append_expect("s", MAX_SEQ, json!(1))),
        ] {
            assert!(
                e.contains("would pass the largest seq, 9223372036854775807"),
                "{name}: {e}"
            );
        }
        assert_eq!(s.last_seq("s").unwrap(), MAX_SEQ, "{name}");
        assert_eq!(s.read("s", 0, None).unwrap(), vec![rec(MAX_SEQ)], "{name}");
        // One below: exactly one more fits, two do not.
        s.restore("t", MAX_SEQ - 1, vec![]).unwrap();
        assert!(err(s.append_all("t", vec![json!(1), json!(2)])).contains("largest seq"));
        assert_eq!(s.append("t", json!(1)).unwrap(), MAX_SEQ, "{name}");
        let e = err(s.restore("u", MAX_SEQ + 1, vec![]));
        assert!(e.starts_with("restore: stream \"u\""), "{name}: {e}");
    }
}

#[test]
fn migrate_checks_everything_before_it_writes() {
    // A source that holds what no store accepts (written past Store).
    let mem = MemBackend::new();
    mem.append("a", json!(1)).unwrap();
    mem.append("b", json!(1)).unwrap();
    mem.append("b", nested(MAX_DEPTH + 1)).unwrap();
    let from = Store::new(mem);
    for (name, to, _dir) in backends() {
        let e = err(persist::durable::migrate(&from, &to));
        assert!(
            e.starts_with("migrate: stream \"b\" seq 2: the value is nested"),
            "{name}: {e}"
        );
        assert!(e.ends_with("nothing was copied"), "{name}: {e}");
        assert_eq!(to.streams().unwrap(), Vec::<String>::new(), "{name}");
    }
    let mem = MemBackend::new();
    mem.kv_put(&"k".repeat(MAX_NAME + 1), json!(1)).unwrap();
    let e = err(persist::durable::migrate(&Store::new(mem), &Store::mem()));
    assert!(e.starts_with("migrate: key \"kkk"), "{e}");
}

#[test]
fn requests_over_the_limits_are_refused_by_serve() {
    let b = MemBackend::new();
    let req = |op: &str, args: Value| serve_value(&b, &json!({"op": op, "args": args}));
    let deep = nested(MAX_DEPTH + 1);
    let long = "n".repeat(MAX_NAME + 1);
    let rec = json!({"stream": "r", "seq": 1, "pos": 1, "at": 1, "data": deep});
    for (op, args) in [
        ("persist/append", json!(["s", deep])),
        ("persist/append-all", json!(["s", [1, deep]])),
        ("persist/append-expect", json!(["s", 0, deep])),
        ("persist/kv-put", json!(["k", deep])),
        ("persist/restore", json!(["r", 1, [rec]])),
        ("persist/append", json!([long, 1])),
    ] {
        let got = req(op, args);
        let msg = got["error"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with(&format!("{op}: ")) && msg.contains("limit"),
            "{op}: {got}"
        );
    }
    assert_eq!(b.streams().unwrap(), Vec::<String>::new());
    assert_eq!(b.kv_keys("").unwrap(), Vec::<String>::new());
    assert_eq!(
        req("persist/append", json!(["s", nested(MAX_DEPTH)])),
        json!(1)
    );
}

#[test]
fn a_dump_round_trips_values_at_the_limit_and_refuses_deeper_ones() {
    let from = Store::mem();
    from.append("d", nested(MAX_DEPTH)).unwrap();
    from.kv_put("k", nested(MAX_DEPTH)).unwrap();
    let mut dump = Vec::new();
    persist::dump::export(&from, None, &mut dump, &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let to = Store::new(persist::ondisk::DiskLog::open(dir.path()).unwrap().0);
    persist::dump::import(&to, &mut dump.as_slice(), &mut |_| {}).unwrap();
    assert_eq!(to.read("d", 0, None).unwrap()[0].data, nested(MAX_DEPTH));
    assert_eq!(to.kv_get("k").unwrap(), Some(nested(MAX_DEPTH)));

    let line =
        json!({"type": "record", "stream": "d", "seq": 1, "at": 1, "data": nested(MAX_DEPTH + 1)});
    let text = format!(
        "{}\n{line}\n",
        json!({"type": "stream", "stream": "d", "last_seq": 1})
    );
    let to = Store::mem();
    let e = err(persist::dump::import(
        &to,
        &mut text.as_bytes(),
        &mut |_| {},
    ));
    assert!(e.contains("nested more than 64 levels"), "{e}");
    assert_eq!(to.streams().unwrap(), Vec::<String>::new());
}

#[test]
fn a_fold_over_dropped_records_names_them() {
    let s = Store::mem();
    s.append_all("s", vec![json!(1), json!(2), json!(3)])
        .unwrap();
    s.truncate_through("s", 2).unwrap();
    let e = err(s.project("s", json!(0), |a, _| Ok::<_, persist::Error>(a)));
    assert_eq!(
        e,
        "stream \"s\": records 1-2 were dropped (truncated or compacted); \
         the first retained seq is 3; fold from a snapshot instead"
    );
    s.truncate_through("s", 3).unwrap();
    let state = persist::State {
        value: json!(0),
        seq: 2,
    };
    let e = err(s.fold("s", state, |a, _| Ok::<_, persist::Error>(a)));
    assert!(
        e.contains("record 3 was dropped (truncated or compacted); the first retained seq is 4"),
        "{e}"
    );
}

#[test]
fn no_append_passes_the_largest_pos_on_any_backend() {
    for (name, s, _dir) in backends() {
        s.restore_global(MAX_SEQ - 1, vec![]).unwrap();
        let e = err(s.append_all("s", vec![json!(1), json!(2)]));
        assert!(e.contains("would pass the largest pos"), "{name}: {e}");
        assert_eq!(s.last_seq("s").unwrap(), 0, "{name}");
        assert_eq!(s.append("s", json!(1)).unwrap(), 1, "{name}");
        assert_eq!(s.last_pos().unwrap(), MAX_SEQ, "{name}");
        let e = err(s.append_once("s", "x", json!(2)));
        assert!(e.contains("would pass the largest pos"), "{name}: {e}");
        let e = err(s.restore_global(MAX_SEQ + 1, vec![]));
        assert!(e.contains("past the largest pos"), "{name}: {e}");
    }
}
