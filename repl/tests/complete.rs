//! Tab completion from the engine's functions, static modules, methods and
//! the session's own names.

use persist_repl::{Outcome, Repl};
use rhai::{Engine, INT, Module, Scope};

/// An engine with a `persist`-like static module.
fn repl() -> Repl {
    let mut engine = Engine::new();
    let mut module = Module::new();
    module.set_native_fn("append", |_: INT, _: INT| Ok(1 as INT));
    module.set_native_fn("append_all", |_: INT| Ok(2 as INT));
    module.set_native_fn("append_expect", |_: INT, _: INT, _: INT| Ok(3 as INT));
    module.set_native_fn("store", || Ok(0 as INT));
    engine.register_static_module("persist", module.into());
    let mut scope = Scope::new();
    scope.push("store", 0 as INT);
    Repl::new(engine, scope)
}

fn complete(r: &Repl, line: &str) -> (usize, Vec<String>) {
    r.complete(line, line.len())
}

#[test]
fn module_functions_complete_by_prefix() {
    let r = repl();
    assert_eq!(
        complete(&r, "let n = persist::app"),
        (
            8,
            vec![
                "persist::append".into(),
                "persist::append_all".into(),
                "persist::append_expect".into()
            ]
        )
    );
    assert_eq!(
        complete(&r, "persist::st").1,
        vec!["persist::store".to_string()]
    );
    assert!(complete(&r, "pers").1.contains(&"persist::".to_string()));
}

#[test]
fn methods_complete_after_a_dot() {
    let r = repl();
    let (start, names) = complete(&r, "store.app");
    assert_eq!(start, 6);
    assert_eq!(names, vec!["append", "append_all", "append_expect"]);
    assert!(complete(&r, "[1].le").1.contains(&"len".to_string()));
}

#[test]
fn session_names_complete() {
    let mut r = repl();
    assert!(complete(&r, "sto").1.contains(&"store".to_string()));
    assert!(!complete(&r, "cou").1.contains(&"counter".to_string()));
    assert_eq!(
        r.eval_line("let counter = 1; fn count_up(x) { x + 1 }"),
        Outcome::Quiet
    );
    assert_eq!(complete(&r, "cou").1, vec!["count_up", "counter"]);
    assert!(complete(&r, "1.count").1.contains(&"count_up".to_string()));
}

#[test]
fn commands_complete_and_an_empty_word_offers_nothing() {
    let r = repl();
    assert_eq!(complete(&r, ":l"), (0, vec![":load".to_string()]));
    assert_eq!(complete(&r, "let x = ").1, Vec::<String>::new());
}
