//! `PersistPackage` in a host's own engine: the host's functions and limits
//! stay, its own `Store` goes in through the `Scope`, and results come back
//! as Rust types.

use std::sync::Arc;

use persist::Store;
use persist::script::{PersistPackage, StoreHandle};
use rhai::packages::Package;
use rhai::{Dynamic, Engine, Scope};
use serde::Deserialize;
use serde_json::json;

fn host_engine() -> Engine {
    let mut engine = Engine::new();
    engine.register_fn("tax", |cents: i64| cents / 10);
    PersistPackage::new().register_into_engine(&mut engine);
    engine
}

#[test]
fn persist_sits_next_to_the_hosts_own_functions() {
    let n: i64 = host_engine()
        .eval(r#"let s = persist::store(); s.append("o", #{ cents: tax(250) }); s.read("o")[0].data.cents"#)
        .unwrap();
    assert_eq!(n, 25);
}

#[test]
fn the_host_chooses_the_limits() {
    let mut engine = host_engine();
    engine.set_max_operations(500);
    let e = engine
        .run(r#"let s = persist::mem(); loop { s.append("o", 1); }"#)
        .unwrap_err();
    assert!(e.to_string().contains("Too many operations"), "{e}");
}

#[test]
fn the_package_registers_no_assertions() {
    let e = host_engine().run("assert_eq(1, 1)").unwrap_err();
    assert!(e.to_string().contains("assert_eq"), "{e}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Totals {
    orders: i64,
    cents: i64,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Projected {
    value: Totals,
    seq: u64,
}

#[test]
fn a_hosts_store_goes_in_through_the_scope_and_results_come_back_typed() {
    let store = Arc::new(Store::mem());
    store.append("orders", json!({"cents": 300})).unwrap();
    let mut scope = Scope::new();
    scope.push("shop", StoreHandle::from(store.clone()));
    let result: Dynamic = host_engine()
        .eval_with_scope(
            &mut scope,
            r#"
            shop.append("orders", #{ cents: 120 });
            shop.project("orders", #{ orders: 0, cents: 0 }, |acc, r| {
                acc.orders += 1;
                acc.cents += r.data.cents;
                acc
            })
            "#,
        )
        .unwrap();
    let got: Projected = rhai::serde::from_dynamic(&result).unwrap();
    assert_eq!(
        got,
        Projected {
            value: Totals {
                orders: 2,
                cents: 420
            },
            seq: 2
        }
    );
    assert_eq!(
        store.last_seq("orders").unwrap(),
        2,
        "the host sees the script's append"
    );
}

#[test]
fn a_store_over_a_script_transport_answers_only_on_its_own_thread() {
    let engine = host_engine();
    let handle: StoreHandle = engine
        .eval(r#"let d = persist::disk(); persist::durable(|r| persist::serve(d, r))"#)
        .unwrap();
    let store = handle.store().clone();
    drop(handle);
    let e = std::thread::spawn(move || store.append("s", json!(1)).unwrap_err().to_string())
        .join()
        .unwrap();
    assert_eq!(
        e,
        "persist/append: transport failed: transport: a script transport runs only on the thread of the script that made it"
    );
}
