//! `persist-bench --count CASE N`: runs one case's work once inside
//! `measured`, with its setup outside, so `valgrind --tool=callgrind
//! --collect-atstart=no --toggle-collect='*count::measured*'` counts the
//! instructions of the work alone (`bench/instructions.sh` does that and
//! divides by N). Instruction counts are stable on a noisy machine;
//! timings are not.

use std::hint::black_box;
use std::path::Path;

use persist::Store;
use persist::ondisk::DiskLog;
use rhai::{Engine, Scope};
use serde_json::json;

use crate::baseline::payload;
use crate::figures::engine;
use crate::fold::{BARE, EMPTY, STEP, build_big, expected, fill, scope_of};

/// The cases, each with what its N counts.
pub const CASES: [(&str, &str); 10] = [
    ("append", "durable single appends (events)"),
    (
        "once",
        "durable single append_once calls with fresh ids (events)",
    ),
    ("append-mem", "single appends, mem backend (events)"),
    (
        "once-mem",
        "append_once with fresh ids, mem backend (events)",
    ),
    (
        "append_all",
        "1,000-event append_all batches (events; N a multiple of 1,000)",
    ),
    (
        "fold-disk",
        "Rhai step |acc, r| acc + r.data.amount, on disk (records)",
    ),
    (
        "fold-mem",
        "the same fold over the same events, mem backend (records)",
    ),
    ("fold-empty", "empty step |acc, r| acc, on disk (records)"),
    (
        "fold-upcast",
        "fold-mem with one upcaster registered (records)",
    ),
    ("closure", "an empty Rhai closure called from Rust (calls)"),
];

/// The work being counted; never inlined, so callgrind can find it by name.
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

/// Runs `case` over `n` units in a temporary directory under `base`.
pub fn run(case: &str, n: usize, base: &Path) -> Result<(), String> {
    if !CASES.iter().any(|(c, _)| *c == case) {
        let names: Vec<_> = CASES.iter().map(|(c, _)| *c).collect();
        return Err(format!("unknown case {case:?} (expected one of {names:?})"));
    }
    if n == 0 {
        return Err(format!("N for case {case:?} must be at least 1"));
    }
    if (case.starts_with("fold") || case == "append_all") && !n.is_multiple_of(1000) {
        return Err(format!(
            "N {n} for case {case:?} must be a multiple of 1,000"
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix("persist-count-")
        .tempdir_in(base)
        .map_err(|e| format!("temp dir under {}: {e}", base.display()))?;
    let dir = tmp.path().join("store");
    let engine = engine();
    match case {
        "append" => {
            let store = open(&dir);
            let events: Vec<_> = (0..n).map(|i| json!(payload(i))).collect();
            measured(|| {
                for e in events {
                    store.append("bench", e).expect("append");
                }
            });
            store.close().expect("close");
        }
        "once" => {
            let store = open(&dir);
            let (ids, events) = once_calls(n, |i| json!(payload(i)));
            measured(|| {
                for (id, e) in ids.iter().zip(events) {
                    store.append_once("bench", id, e).expect("append_once");
                }
            });
            store.close().expect("close");
        }
        "append-mem" => {
            let store = Store::mem();
            let events: Vec<_> = (0..n).map(|i| json!(i)).collect();
            measured(|| {
                for e in events {
                    store.append("bench", e).expect("append");
                }
            });
        }
        "once-mem" => {
            let store = Store::mem();
            let (ids, events) = once_calls(n, |i| json!(i));
            measured(|| {
                for (id, e) in ids.iter().zip(events) {
                    store.append_once("bench", id, e).expect("append_once");
                }
            });
        }
        "append_all" => {
            let store = open(&dir);
            let batch: Vec<_> = (0..1000).map(|i| json!(payload(i))).collect();
            let all: Vec<_> = (0..n / 1000).map(|_| batch.clone()).collect();
            measured(|| {
                for events in all {
                    store.append_all("bench", events).expect("append_all");
                }
            });
            store.close().expect("close");
        }
        "fold-disk" | "fold-empty" => {
            build_big(&dir, n);
            let (script, want) = match case {
                "fold-disk" => (STEP, expected(n)),
                _ => (EMPTY, n as i64),
            };
            fold(&engine, open(&dir), script, want);
        }
        "fold-mem" | "fold-upcast" => {
            let store = Store::mem();
            fill(&store, n);
            let script = match case {
                "fold-mem" => STEP.to_string(),
                _ => format!(r#"s.upcast("orders", |r| #{{amount: r.data.amount}}); {STEP}"#),
            };
            fold(&engine, store, &script, expected(n));
        }
        _ => {
            let mut scope = Scope::new();
            scope.push("n", n as i64);
            let ast = engine.compile(BARE).expect("compile");
            let last = measured(|| engine.eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast))
                .map_err(|e| e.to_string())?;
            if last.as_int().ok() != Some(0) {
                return Err(format!("call_n returned {last}, not 0"));
            }
        }
    }
    println!("{n}");
    Ok(())
}

/// `n` fresh ids and their events, made (and the ids dropped) outside the
/// count: an id is the caller's, not the store's work.
fn once_calls(
    n: usize,
    event: impl Fn(usize) -> serde_json::Value,
) -> (Vec<String>, Vec<serde_json::Value>) {
    let ids = (0..n).map(|i| format!("pay-{i:08}-a")).collect();
    (ids, (0..n).map(event).collect())
}

fn open(dir: &Path) -> Store {
    Store::new(DiskLog::open(dir).expect("open store").0)
}

/// Compiles `script` outside the count, runs it inside, checks the result.
fn fold(engine: &Engine, store: Store, script: &str, want: i64) {
    let mut scope = scope_of(store);
    let ast = engine.compile(script).expect("compile");
    let got = measured(|| engine.eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast))
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    assert_eq!(
        got.as_int().ok(),
        Some(want),
        "{script} gave a wrong result"
    );
    let ast = engine.compile("s.close()").expect("compile");
    let _ = engine
        .eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast)
        .expect("close");
}
