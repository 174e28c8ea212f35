//! The figures, one function per group.

use std::rc::Rc;

use persist::script::{self, Config, store::StoreHandle};
use persist::{Error, Store};
use rhai::{Dynamic, EvalAltResult, FnPtr, NativeCallContext, Scope};
use serde_json::json;

use crate::{Figure, time};

/// A Rhai-step fold over `n` events on the memory backend, next to the same
/// fold as a Rust closure and next to an empty Rhai closure called `n` times.
pub fn fold(n: usize) -> Vec<Figure> {
    let store = Store::mem();
    let batch: Vec<_> = (0..1000).map(|i| json!({"amount": i % 100})).collect();
    for _ in 0..n / 1000 {
        store
            .append_all("orders", batch.clone())
            .expect("append_all");
    }
    let expected: i64 = (0..n as i64).map(|i| (i % 1000) % 100).sum();

    let (rust_s, rust) = time(|| {
        store
            .project("orders", 0i64, |acc, r| {
                Ok::<_, Error>(acc + r.data["amount"].as_i64().unwrap_or(0))
            })
            .expect("rust fold")
    });
    assert_eq!(rust.value, expected, "rust fold gave a wrong total");

    let (mut engine, _session) = script::engine(&Config::default());
    // The interpreter's limit: a script closure called from Rust n times.
    engine.register_fn(
        "call_n",
        |ctx: NativeCallContext, f: FnPtr, n: i64| -> Result<Dynamic, Box<EvalAltResult>> {
            let mut acc = Dynamic::from(0_i64);
            for _ in 0..n {
                acc = f.call_raw(&ctx, None, [acc, Dynamic::UNIT])?;
            }
            Ok(acc)
        },
    );
    let mut scope = Scope::new();
    scope.push("s", StoreHandle(Rc::new(store)));
    scope.push("n", n as i64);
    let (rhai_s, total) = time(|| {
        engine
            .eval_with_scope::<Dynamic>(
                &mut scope,
                r#"s.project("orders", 0, |acc, r| acc + r.data.amount).value"#,
            )
            .expect("rhai fold")
    });
    assert_eq!(
        total.as_int().ok(),
        Some(expected),
        "rhai fold gave a wrong total"
    );

    let (empty_s, _) = time(|| {
        engine
            .eval_with_scope::<Dynamic>(
                &mut scope,
                "let f = |acc, r| acc; let acc = 0; for i in 0..n { acc = f.call(acc, i); } acc",
            )
            .expect("empty closure loop")
    });

    let rate = |secs: f64| n as f64 / secs;
    vec![
        Figure::rate(
            "Rhai-step fold, mem backend",
            rate(rhai_s),
            "events/s",
            "the same fold as a Rust closure",
            rate(rust_s),
            ">= 0.33",
        ),
        Figure::rate(
            "Rhai-step fold, mem backend",
            rate(rhai_s),
            "events/s",
            "an empty Rhai closure called n times",
            rate(empty_s),
            ">= 0.5",
        ),
    ]
}
