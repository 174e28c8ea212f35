//! Fold versions and upcasting (SPEC 3.13): what an upcaster costs a fold,
//! and what checking a snapshot's fingerprint costs a short replay.

use persist::Store;
use persist::script::store::StoreHandle;
use rhai::Scope;
use serde_json::json;

use crate::figures::{engine, eval, exec, per_call};
use crate::{Figure, time};

const STEP: &str = "|acc, r| acc + r.data.amount";

fn store_of(n: usize) -> StoreHandle {
    let store = Store::mem();
    let batch: Vec<_> = (0..1000).map(|i| json!({"amount": i % 100})).collect();
    for _ in 0..n / 1000 {
        store
            .append_all("orders", batch.clone())
            .expect("append_all");
    }
    StoreHandle::from(store)
}

pub fn figures(n: usize) -> Vec<Figure> {
    let engine = engine();
    let fold = format!(r#"s.project("orders", 0, {STEP})"#);

    // One upcaster (a v1 -> v2 rename) vs none, over the same n events.
    let mut plain = Scope::new();
    plain.push("s", store_of(n));
    let (plain_s, _) = time(|| eval(&engine, &mut plain, &fold));
    // Registered in the same script as the fold: a closure lives in the
    // compiled script that defines it.
    let mut upcast = Scope::new();
    upcast.push("s", store_of(n));
    let with_upcaster = format!(r#"s.upcast("orders", |r| #{{amount: r.data.amount}}); {fold}"#);
    let (upcast_s, _) = time(|| eval(&engine, &mut upcast, &with_upcaster));

    // A snapshot + 100-record tail: replay (reads the stamp, fingerprints
    // the step's code) vs the same fold resumed from the snapshot by hand.
    let mut tail = Scope::new();
    tail.push("s", store_of(10_000));
    exec(
        &engine,
        &mut tail,
        &format!(
            r#"s.checkpoint("c", "orders", 0, {STEP}); for i in 0..100 {{ s.append("orders", #{{amount: 1}}); }}"#
        ),
    );
    let prelude = format!("let step = {STEP}");
    let checked = per_call(
        &engine,
        &mut tail,
        &prelude,
        r#"s.replay("c", "orders", 0, step)"#,
        2_000,
    );
    let unchecked = per_call(
        &engine,
        &mut tail,
        &prelude,
        r#"s.project_resume("orders", s.snapshot("c"), step)"#,
        2_000,
    );

    let rate = |secs: f64| n as f64 / secs;
    let us = |s: f64| s * 1e6;
    vec![
        Figure::rate(
            "Rhai fold with one upcaster, mem backend",
            rate(upcast_s),
            "events/s",
            "the same fold without an upcaster",
            rate(plain_s),
            ">= 0.7",
        ),
        Figure {
            figure: "snapshot + 100-tail replay, fingerprint checked".into(),
            value: us(checked),
            unit: "us/call",
            baseline: "the same resume without the check (project_resume)".into(),
            baseline_value: us(unchecked),
            ratio: unchecked / checked,
            aim: ">= 0.91 (time <= 1.1x)",
        },
    ]
}
