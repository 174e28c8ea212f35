//! The figures, one function per group; each returns figures with their
//! same-run baselines.

use std::path::Path;

use persist::Store;
use persist::ondisk::DiskLog;
use persist::script::{self, Config, store::StoreHandle};
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext, Scope};
use serde_json::json;

use crate::baseline;
use crate::{Figure, time};

/// The persist engine plus `call_n(f, n)`: a script closure called from
/// Rust n times, the interpreter's own limit for a fold step.
pub(crate) fn engine() -> Engine {
    let (mut engine, _session) = script::engine(&Config::default());
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
    engine
}

pub(crate) fn eval(engine: &Engine, scope: &mut Scope, script: &str) -> Dynamic {
    engine
        .eval_with_scope::<Dynamic>(scope, script)
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

pub(crate) fn exec(engine: &Engine, scope: &mut Scope, script: &str) {
    let _ = eval(engine, scope, script);
}

/// Reopen time and RSS, measured in a fresh child process.
pub fn reopen(dir: &Path) -> Vec<Figure> {
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .args(["--reopen-child", &dir.display().to_string()])
        .output()
        .expect("spawn reopen child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
    let (secs, rss) = (
        fields.next().unwrap_or(f64::NAN),
        fields.next().unwrap_or(f64::NAN),
    );
    let scan = baseline::read_scan(dir);
    let bytes = baseline::dir_bytes(dir) as f64;
    vec![
        Figure {
            figure: "reopen of the store".into(),
            value: secs,
            unit: "s",
            baseline: "plain read loop over the same bytes".into(),
            baseline_value: scan,
            ratio: scan / secs,
            aim: ">= 0.7 (issue 12; every checksum checked)",
        },
        Figure {
            figure: "peak RSS after reopening".into(),
            value: rss / 1e6,
            unit: "MB",
            baseline: "the store's bytes on disk (MB)".into(),
            baseline_value: bytes / 1e6,
            ratio: bytes / rss,
            aim: "report (RSS far below data)",
        },
    ]
}

/// In the child: open, report seconds and peak RSS, close.
pub fn reopen_child(dir: &Path) {
    let (secs, log) = time(|| DiskLog::open(dir).expect("reopen").0);
    let (_, peak) = baseline::rss();
    println!("{secs} {peak}");
    drop(log);
}

/// Seconds per call of `script`, run `reps` times inside one eval after
/// `prelude` (closures must be defined in the eval that calls them: a
/// script closure lives in its own script's function library).
pub(crate) fn per_call(
    engine: &Engine,
    scope: &mut Scope,
    prelude: &str,
    script: &str,
    reps: i64,
) -> f64 {
    scope.push("reps", reps);
    exec(engine, scope, prelude);
    let (secs, _) = time(|| {
        eval(
            engine,
            scope,
            &format!("{prelude}; for i in 0..reps {{ {script}; }}"),
        )
    });
    secs / reps as f64
}

/// `v.peek()` at `big` vs 1,000 events, and a snapshot + 100-record tail
/// replay over a `big` history vs a fold of a 100-event stream.
pub fn views(big: usize) -> Vec<Figure> {
    let engine = engine();
    let mut scope = Scope::new();
    let setup = |scope: &mut Scope, n: usize| {
        let store = Store::mem();
        for b in 0..n.div_ceil(1000) {
            let batch: Vec<_> = (0..1000.min(n - b * 1000))
                .map(|i| json!({"n": i % 7}))
                .collect();
            store.append_all("s", batch).expect("append_all");
        }
        scope.push("s", StoreHandle::from(store));
        exec(
            &engine,
            scope,
            r#"let h = persist::hub(s); let v = s.view("v", "s", 0, |a, r| a + r.data.n); h.attach(v); h.publish("s", #{n: 1});"#,
        );
    };
    setup(&mut scope, 1000);
    let small_peek = per_call(&engine, &mut scope, "", "v.peek()", 1_000_000);
    let mut scope_big = Scope::new();
    setup(&mut scope_big, big);
    let big_peek = per_call(&engine, &mut scope_big, "", "v.peek()", 1_000_000);

    // Snapshot + 100-record tail over the big history, vs 100 events.
    exec(
        &engine,
        &mut scope_big,
        r#"s.checkpoint("c", "s", 0, |a, r| a + r.data.n); for i in 0..100 { s.append("s", #{n: 1}); }"#,
    );
    let tail = per_call(
        &engine,
        &mut scope_big,
        "let step = |a, r| a + r.data.n",
        r#"s.replay("c", "s", 0, step)"#,
        2_000,
    );
    let mut scope_small = Scope::new();
    setup(&mut scope_small, 100);
    let small = per_call(
        &engine,
        &mut scope_small,
        "let step = |a, r| a + r.data.n",
        r#"s.project("s", 0, step)"#,
        2_000,
    );
    let us = |s: f64| s * 1e6;
    vec![
        Figure {
            figure: format!("v.peek() at {big} events"),
            value: us(big_peek),
            unit: "us/call",
            baseline: "v.peek() at 1,000 events".into(),
            baseline_value: us(small_peek),
            ratio: small_peek / big_peek,
            aim: ">= 0.83 (time <= 1.2x)",
        },
        Figure {
            figure: format!("snapshot + 100-tail replay, {big} history"),
            value: us(tail),
            unit: "us/call",
            baseline: "fold of a 100-event stream".into(),
            baseline_value: us(small),
            ratio: small / tail,
            aim: ">= 0.67 (time <= 1.5x)",
        },
    ]
}
