//! `persist::migrate` and the store tools between PostgreSQL and the other
//! backends: every record keeps its seq, pos, `at` and id, every stream its
//! last seq, and the ids, last pos and kv come along (SPEC 3.1, 6).

mod common;

use std::process::Command;

use persist::Store;
use persist::durable::migrate;
use serde_json::json;

use common::pg::fresh;

/// A store with a bit of everything: batches, truncation, ids (one of a
/// truncated record), kv, categories.
fn fill(s: &Store) {
    let b = s.backend().unwrap();
    s.append_all("order-1", vec![json!(1), json!({"b": 2.0, "a": "x\u{0}y"})])
        .unwrap();
    b.append_once("order-2", "once-1", json!("first")).unwrap();
    s.append("user-1", json!(u64::MAX)).unwrap();
    b.append_once("user-1", "once-2", json!([1, 2])).unwrap();
    s.append("order-1", json!(3)).unwrap();
    s.truncate_through("order-2", 1).unwrap();
    s.kv_put("snapshot/x", json!({"value": 1.5, "seq": 2}))
        .unwrap();
    s.kv_put("plain", json!("v")).unwrap();
}

/// Everything SPEC 3.1 says `migrate` copies, as one comparable value.
fn contents(s: &Store) -> serde_json::Value {
    let b = s.backend().unwrap();
    let streams = s.streams().unwrap();
    let per_stream: Vec<_> = streams
        .iter()
        .map(|n| {
            let recs: Vec<_> = s
                .read(n, 0, None)
                .unwrap()
                .iter()
                .map(|r| r.to_json())
                .collect();
            json!({"stream": n, "last_seq": s.last_seq(n).unwrap(), "records": recs})
        })
        .collect();
    let kv: Vec<_> = s
        .kv_keys("")
        .unwrap()
        .into_iter()
        .map(|k| json!([k.clone(), s.kv_get(&k).unwrap()]))
        .collect();
    let ids: Vec<_> = b
        .ids("", 1000)
        .unwrap()
        .into_iter()
        .map(|e| json!([e.id, e.stream, e.seq]))
        .collect();
    let all: Vec<_> = b.read_all(0, 1000).unwrap().iter().map(|r| r.pos).collect();
    json!({"streams": per_stream, "kv": kv, "ids": ids, "last_pos": b.last_pos().unwrap(), "all": all})
}

#[test]
fn migrate_mem_to_pg_and_back_is_exact() {
    let Some(db) = fresh() else { return };
    let from = Store::mem();
    fill(&from);
    let pg = Store::new(persist::pg::PgBackend::open(&db.url_string()).unwrap());
    migrate(&from, &pg).unwrap();
    assert_eq!(contents(&pg), contents(&from));
    let back = Store::mem();
    migrate(&pg, &back).unwrap();
    assert_eq!(contents(&back), contents(&from));
    // The copy goes on where the original would.
    assert_eq!(pg.append("order-1", json!(4)).unwrap(), 4);
    assert_eq!(
        pg.backend()
            .unwrap()
            .append_once("user-1", "once-2", json!(0))
            .unwrap(),
        2
    );
    let e = pg
        .backend()
        .unwrap()
        .append_once("x", "once-1", json!(0))
        .unwrap_err();
    assert!(e.to_string().contains("order-2"), "{e}");
}

#[test]
fn migrate_disk_to_pg_and_back_is_exact() {
    let Some(db) = fresh() else { return };
    let dir = tempfile::tempdir().unwrap();
    let disk =
        persist::script::durable::open_store(&dir.path().join("a").display().to_string()).unwrap();
    fill(&disk);
    let pg = Store::new(persist::pg::PgBackend::open(&db.url_string()).unwrap());
    migrate(&disk, &pg).unwrap();
    assert_eq!(contents(&pg), contents(&disk));
    let back =
        persist::script::durable::open_store(&dir.path().join("b").display().to_string()).unwrap();
    migrate(&pg, &back).unwrap();
    assert_eq!(contents(&back), contents(&disk));
}

#[test]
fn migrate_refuses_a_non_empty_pg_target() {
    let Some(db) = fresh() else { return };
    let pg = Store::new(persist::pg::PgBackend::open(&db.url_string()).unwrap());
    pg.kv_put("k", json!(1)).unwrap();
    let from = Store::mem();
    fill(&from);
    let e = migrate(&from, &pg).unwrap_err().to_string();
    assert!(e.contains("not empty"), "{e}");
}

fn persist_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_persist"))
}

#[test]
fn the_tools_take_a_url() {
    let Some(db) = fresh() else { return };
    let url = db.url_string();
    let pg = Store::new(persist::pg::PgBackend::open(&url).unwrap());
    fill(&pg);
    let out = persist_bin().args(["inspect", &url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("order-1") && text.contains("kv keys: 2"),
        "{text}"
    );
    let out = persist_bin().args(["verify", &url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.starts_with("ok:"), "{text}");

    // export | import into another store on the server, then compare.
    let out = persist_bin().args(["export", &url]).output().unwrap();
    assert!(out.status.success());
    let dump = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(dump.path(), &out.stdout).unwrap();
    let other = fresh().unwrap();
    let target = other.url_string();
    let out = persist_bin()
        .args(["import", &target, &dump.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = Store::new(persist::pg::PgBackend::open(&target).unwrap());
    assert_eq!(contents(&copy), contents(&pg));

    // Damage that breaks an invariant is found and named.
    let mut raw = common::pg::raw_client(&url);
    raw.execute(
        "UPDATE persist_events SET data = '{oops' WHERE stream = 'user-1' AND seq = 1",
        &[],
    )
    .unwrap();
    raw.execute(
        "UPDATE persist_streams SET last_seq = 1 WHERE name = 'order-1'",
        &[],
    )
    .unwrap();
    let out = persist_bin().args(["verify", &url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("stream \"user-1\" seq 1: event is not JSON"),
        "{text}"
    );
    assert!(
        text.contains("stream \"order-1\" seq 2: record outside its stream"),
        "{text}"
    );
}

#[test]
fn read_only_tools_on_a_url_without_a_store_say_so() {
    let Some(base) = common::pg::server() else {
        return;
    };
    let url = common::pg::url_for(&base, "persist_nothing_here");
    for tool in ["inspect", "verify", "export"] {
        let out = persist_bin().args([tool, &url]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tool}: {err}");
        assert!(err.contains("not a persist store"), "{tool}: {err}");
    }
}
