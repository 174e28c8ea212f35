//! Typed events: `append_typed`, `append_all_typed`, `data_as`, on the
//! memory and disk backends, and the errors when a type does not fit.

use std::collections::BTreeMap;

use persist::typed::Typed;
use persist::{State, Store, owned_step};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Order {
    Placed { sku: String, qty: u32 },
    Cancelled { sku: String },
}

fn placed(sku: &str, qty: u32) -> Order {
    Order::Placed {
        sku: sku.into(),
        qty,
    }
}

#[test]
fn typed_events_are_stored_as_their_json_and_read_back() {
    let store = Store::mem();
    assert_eq!(store.append_typed("orders", &placed("a1", 2)).unwrap(), 1);
    let r = &store.read("orders", 0, None).unwrap()[0];
    assert_eq!(r.data, json!({"type": "Placed", "sku": "a1", "qty": 2}));
    assert_eq!(r.data_as::<Order>().unwrap(), placed("a1", 2));
}

#[test]
fn a_typed_fold_reads_each_event_from_the_disk_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let events = [
        placed("a1", 2),
        placed("b7", 5),
        Order::Cancelled { sku: "a1".into() },
    ];
    assert_eq!(store.append_all_typed("orders", &events).unwrap(), 3);
    let open = store
        .checkpoint(
            "open",
            "orders",
            Typed(BTreeMap::new()),
            "open-v1",
            |Typed(mut open), r: persist::RecordRef<'_>| {
                match r.data_as::<Order>()? {
                    Order::Placed { sku, qty } => open.insert(sku, qty),
                    Order::Cancelled { sku } => open.remove(&sku),
                };
                Ok::<_, persist::Error>(Typed(open))
            },
        )
        .unwrap();
    assert_eq!(open.value.0, BTreeMap::from([("b7".to_string(), 5)]));
    assert_eq!(open.seq, 3);
    let saved = store.snapshot("open").unwrap().unwrap();
    assert_eq!((saved.value, saved.seq), (json!({"b7": 5}), 3));
}

#[test]
fn the_wrong_type_names_the_stream_the_seq_and_the_type() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Refund {
        amount: i64,
    }
    let store = Store::mem();
    store.append("orders", json!({"n": 1})).unwrap();
    store.append_typed("orders", &placed("a1", 1)).unwrap();
    let e = store.read("orders", 0, None).unwrap()[1]
        .data_as::<Refund>()
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("data_as: stream \"orders\" seq 2: not a ")
            && e.contains("Refund")
            && e.contains("missing field `amount`"),
        "{e}"
    );
    let e = store
        .project("orders", 0u32, |n, r| {
            Ok::<_, persist::Error>(n + r.data_as::<Order>().map(|_| 1)?)
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("stream \"orders\" seq 1: not a "), "{e}");
    let e = store
        .replay(
            "x",
            "orders",
            Typed(0u32),
            "count-v1",
            owned_step(|Typed(n), r| {
                Ok::<_, persist::Error>(Typed(n + r.data_as::<Order>().map(|_| 1)?))
            }),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("seq 1"), "{e}");
    // A saved state of another type is refused, naming the type.
    store
        .kv_put("snapshot/x", json!({"value": "many", "seq": 1}))
        .unwrap();
    let e = store
        .replay("x", "orders", Typed(0u32), "count-v1", |s, _| {
            Ok::<_, persist::Error>(s)
        })
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("snapshot: saved state is not a u32"), "{e}");
}

#[test]
fn events_that_are_not_json_values_store_nothing() {
    let store = Store::mem();
    // JSON object keys must be strings.
    let bad = BTreeMap::from([((1, 2), "x")]);
    let e = store.append_typed("s", &bad).unwrap_err().to_string();
    assert!(
        e.starts_with("append_typed: stream \"s\": a ") && e.contains("is not a JSON value"),
        "{e}"
    );
    // A unit is (), which is not an event.
    let e = store.append_typed("s", &()).unwrap_err().to_string();
    assert_eq!(e, "append: stream \"s\": () is not an event");
    // One bad event in a batch stores none of it.
    let e = store
        .append_all_typed("s", &[Some(placed("a", 1)), None])
        .unwrap_err()
        .to_string();
    assert!(e.contains("event 1: () is not an event"), "{e}");
    assert_eq!(store.last_seq("s").unwrap(), 0);
    assert_eq!(
        store
            .project("s", 0, |n, _| Ok::<_, persist::Error>(n + 1))
            .unwrap(),
        State { value: 0, seq: 0 }
    );
}
