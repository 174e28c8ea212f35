//! The front door: `Store::open(dir)` and `Store::builder()`.

use persist::{Error, Store};
use serde_json::json;

#[test]
fn open_creates_the_directory_and_a_reopen_sees_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let store = Store::open(&dir).unwrap();
    store.append("orders", json!({"n": 1})).unwrap();
    store.kv_put("k", json!(2)).unwrap();
    assert!(
        store.describe().starts_with("disk: "),
        "{}",
        store.describe()
    );
    store.close().unwrap();
    let store = Store::open(&dir).unwrap();
    assert_eq!(
        store.read("orders", 0, None).unwrap()[0].data,
        json!({"n": 1})
    );
    assert_eq!(store.kv_get("k").unwrap(), Some(json!(2)));
}

#[test]
fn a_second_open_of_an_open_store_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _first = Store::open(tmp.path()).unwrap();
    match Store::open(tmp.path()) {
        Err(Error::Locked { path }) => assert_eq!(path, tmp.path()),
        other => panic!("expected Locked, got {:?}", other.map(|s| s.describe())),
    }
}

#[test]
fn builder_options_reach_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::builder()
        .segment_bytes(256)
        .compact_dead_bytes(None)
        .checksum_on_open(false)
        .open(tmp.path())
        .unwrap();
    for i in 0..20 {
        store
            .append("s", json!({"i": i, "pad": "x".repeat(40)}))
            .unwrap();
    }
    store.close().unwrap();
    let segments = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
        .count();
    assert!(segments > 1, "small segments roll: {segments} segment(s)");
}

#[test]
fn an_unknown_scheme_is_an_error_not_a_directory() {
    let e = Store::open("ftp://example.com/shop")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown storage scheme \"ftp\""), "{e}");
    assert!(!std::path::Path::new("ftp:").exists());
}
