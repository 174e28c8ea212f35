//! Fold versions and upcasting through the kernel's Rust API (SPEC 3.13):
//! folds name their version explicitly, upcasters are Rust closures, and
//! what is stored (export, another handle) never changes.

use persist::durable::{Disk, mock_durable};
use persist::upcast::owned_upcast;
use persist::view::View;
use persist::{Error, Record, Source, State, Store, Value, owned_step};
use serde_json::json;

fn sum(acc: Value, r: Record) -> Result<Value, Error> {
    Ok(json!(
        acc.as_i64().unwrap_or(0) + r.data["n"].as_i64().unwrap_or(0)
    ))
}

fn times10(acc: Value, r: Record) -> Result<Value, Error> {
    Ok(json!(
        acc.as_i64().unwrap_or(0) + 10 * r.data["n"].as_i64().unwrap_or(0)
    ))
}

fn fill(s: &Store, n: i64) {
    for i in 1..=n {
        s.append("orders", json!({"n": i})).unwrap();
    }
}

#[test]
fn the_same_version_resumes_and_another_rebuilds() {
    let s = Store::mem();
    fill(&s, 3);
    s.checkpoint("t", "orders", json!(0), "sum-1", owned_step(sum))
        .unwrap();
    s.append("orders", json!({"n": 4})).unwrap();
    let mut folded = Vec::new();
    let counting = |acc, r: Record| {
        folded.push(r.seq);
        sum(acc, r)
    };
    let st = s
        .checkpoint("t", "orders", json!(0), "sum-1", owned_step(counting))
        .unwrap();
    assert_eq(st, json!(10), 4);
    assert_eq!(folded, [4]);
    let st = s
        .checkpoint("t", "orders", json!(0), "sum-2", owned_step(times10))
        .unwrap();
    assert_eq(st, json!(100), 4);
}

fn assert_eq(st: State<Value>, value: Value, seq: u64) {
    assert_eq!(st, State { value, seq });
}

#[test]
fn a_changed_version_over_a_compacted_stream_is_fold_changed_and_accept_fold_clears_it() {
    let s = Store::mem();
    fill(&s, 3);
    s.compact("t", "orders", json!(0), "sum-1", owned_step(sum))
        .unwrap();
    s.append("orders", json!({"n": 4})).unwrap();
    let err = s
        .replay("t", "orders", json!(0), "sum-2", owned_step(times10))
        .unwrap_err();
    match &err {
        Error::FoldChanged {
            owner,
            name,
            seq,
            stream,
            through,
        } => {
            assert_eq!((*owner, name.as_str(), *seq), ("snapshot", "t", 3));
            assert_eq!((stream.as_str(), *through), ("orders", 3));
        }
        other => panic!("expected FoldChanged, got {other}"),
    }
    assert!(err.to_string().contains("records 1-3 of stream \"orders\""));
    s.accept_fold("t", "sum-2").unwrap();
    let st = s
        .checkpoint("t", "orders", json!(0), "sum-2", owned_step(times10))
        .unwrap();
    assert_eq(st, json!(46), 4);
    let folds = s.folds().unwrap();
    assert_eq!(folds.len(), 1);
    assert_eq!((folds[0].name.as_str(), folds[0].seq), ("t", 4));
    let fp = s.fold_id(&Source::stream("orders"), &json!(0), "sum-2");
    assert_eq!(
        folds[0].fingerprint.as_deref(),
        Some(fp.fingerprint.as_str())
    );
}

#[test]
fn a_view_with_another_version_rebuilds_on_load() {
    let s = Store::mem();
    fill(&s, 3);
    let v1 = View::new("v", "orders", json!(0), "sum-1").unwrap();
    v1.load(&s, owned_step(sum)).unwrap();
    assert_eq!(v1.peek(), json!(6));
    let v2 = View::new("v", "orders", json!(0), "sum-2").unwrap();
    v2.load(&s, owned_step(times10)).unwrap();
    assert_eq!(v2.peek(), json!(60));
    s.append("orders", json!({"n": 1})).unwrap();
    assert_eq!(v2.refresh(&s, owned_step(times10)).unwrap(), 1);
    assert_eq!(s.snapshot("v").unwrap().unwrap().value, json!(70));
}

fn cents(r: &Record) -> Result<Value, String> {
    match r.data.get("amount") {
        Some(a) => Ok(json!({"cents": a.as_i64().ok_or("amount is not an integer")? * 100})),
        None => Ok(r.data.clone()),
    }
}

#[test]
fn upcasters_apply_to_reads_and_folds_but_not_to_what_is_stored() {
    let disk = Disk::mem();
    let s = mock_durable(&disk);
    s.append("orders", json!({"amount": 5})).unwrap();
    s.append("orders", json!({"cents": 1})).unwrap();
    s.upcast("orders", "cents-1", owned_upcast(cents)).unwrap();
    let data: Vec<Value> = s
        .read("orders", 0, None)
        .unwrap()
        .into_iter()
        .map(|r| r.data)
        .collect();
    assert_eq!(data, [json!({"cents": 500}), json!({"cents": 1})]);
    let total = s
        .project("orders", json!(0), |acc: Value, r: Record| {
            Ok::<_, Error>(json!(
                acc.as_i64().unwrap() + r.data["cents"].as_i64().unwrap()
            ))
        })
        .unwrap();
    assert_eq(total, json!(501), 2);

    let other = mock_durable(&disk);
    assert_eq!(
        other.read("orders", 0, None).unwrap()[0].data,
        json!({"amount": 5})
    );
    let mut dump = Vec::new();
    persist::dump::export(&s, None, &mut dump, &mut |_| {}).unwrap();
    let dump = String::from_utf8(dump).unwrap();
    assert!(
        dump.contains(r#""amount":5"#),
        "export writes stored events: {dump}"
    );
    assert!(!dump.contains(r#""cents":500"#), "{dump}");
}

#[test]
fn a_failing_upcaster_names_stream_seq_and_message() {
    let s = Store::mem();
    s.append("orders", json!({"amount": "five"})).unwrap();
    s.upcast("orders", "cents-1", owned_upcast(cents)).unwrap();
    let err = s.read("orders", 0, None).unwrap_err().to_string();
    assert_eq!(
        err,
        "upcast of stream \"orders\" seq 1 failed: amount is not an integer"
    );
}

#[test]
fn registering_an_upcaster_changes_the_fingerprint_of_overlapping_folds_only() {
    let s = Store::mem();
    let id = |src: Source| s.fold_id(&src, &json!(0), "v").fingerprint;
    let (orders, users, all) = (
        id("orders".into()),
        id(Source::category("user")),
        id(Source::All),
    );
    let (user7, order7) = (id("user-7".into()), id("order-7".into()));
    s.upcast(
        Source::category("user"),
        "u1",
        owned_upcast(|r: &Record| Ok(r.data.clone())),
    )
    .unwrap();
    assert_eq!(id("orders".into()), orders);
    assert_ne!(id(Source::category("user")), users);
    assert_ne!(id(Source::All), all);
    assert_ne!(id("user-7".into()), user7);
    assert_ne!(id("user-7".into()), id("order-7".into()));
    assert_eq!(id("order-7".into()), order7);
}

/// rhai seeds its hashes per process: a script step's version must not
/// depend on them, or every restart would rebuild every snapshot.
#[test]
fn a_script_steps_version_is_the_same_in_the_next_process() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("count.rhai");
    std::fs::write(
        &script,
        r#"let s = persist::store();
           if s.last_seq("s") == 0 { s.append_all("s", [1, 2, 3]); }
           let seen = [];
           let step = |acc, r| {
               seen.push(r.seq);
               switch r.data { 1 => acc + 1, _ => acc + r.data.to_string().len() }
           };
           s.checkpoint("c", "s", 0, step);
           s.view("v", "s", [], |acc, r| acc + [r.data].map(|x| x * 2)).value();
           print(`folded ${seen.len()}`);
           s.append("s", 4);"#,
    )
    .unwrap();
    let store = tmp.path().join("store");
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_persist"))
            .args(["run", script.to_str().unwrap(), "--store"])
            .arg(&store)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(), "folded 3\n");
    assert_eq!(
        run(),
        "folded 1\n",
        "the second process resumed the snapshot"
    );
}
