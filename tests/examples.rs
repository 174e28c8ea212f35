//! The Cargo examples, run as tests: what they print is what they compute.

#[allow(dead_code)]
#[path = "../examples/host_service.rs"]
mod host_service;

#[allow(dead_code)]
#[path = "../examples/smallest.rs"]
mod smallest;

use std::collections::BTreeMap;
use std::path::Path;

use host_service::{Revenue, Shop, ShopEvent};

fn models() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/read_models"))
}

#[test]
fn the_smallest_embedding_totals_the_orders() {
    assert_eq!(smallest::total_quantity().unwrap(), 5);
}

fn sold(sku: &str, qty: i64, cents: i64) -> ShopEvent {
    ShopEvent::Sold {
        sku: sku.into(),
        qty,
        cents,
    }
}

#[test]
fn the_host_service_answers_from_its_views_and_carries_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::open(dir.path(), models()).unwrap();
    assert_eq!(shop.read_models(), ["revenue", "stock"]);
    shop.record(&ShopEvent::Received {
        sku: "mug".into(),
        qty: 10,
    })
    .unwrap();
    assert_eq!(shop.record(&sold("mug", 3, 2400)).unwrap(), 2);
    let stock: BTreeMap<String, i64> = shop.query("stock").unwrap();
    assert_eq!(stock, BTreeMap::from([("mug".into(), 7)]));
    assert_eq!(
        shop.query::<Revenue>("revenue").unwrap(),
        Revenue {
            sales: 1,
            cents: 2400
        }
    );
    drop(shop);

    let shop = Shop::open(dir.path(), models()).unwrap();
    assert_eq!(
        shop.query::<Revenue>("revenue").unwrap(),
        Revenue {
            sales: 1,
            cents: 2400
        },
        "loaded from the snapshot"
    );
    shop.record(&sold("mug", 1, 800)).unwrap();
    let stock: BTreeMap<String, i64> = shop.query("stock").unwrap();
    assert_eq!(stock["mug"], 6);
    assert_eq!(shop.query::<Revenue>("revenue").unwrap().cents, 3200);
    assert!(shop.query::<Revenue>("refunds").is_err());
}

#[test]
fn a_read_model_that_does_not_end_with_a_view_is_named() {
    let models = tempfile::tempdir().unwrap();
    std::fs::write(models.path().join("broken.rhai"), "42").unwrap();
    let store = tempfile::tempdir().unwrap();
    let e = Shop::open(store.path(), models.path())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("read model ") && e.contains("broken.rhai"),
        "{e}"
    );
}
