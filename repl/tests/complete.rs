//! Tab completion from the engine's functions, static modules, the methods
//! of a value's type and the session's own names.

use persist_repl::{Outcome, Repl};
use rhai::{Engine, FnNamespace, FuncRegistration, INT, Module, Scope};

#[derive(Clone)]
struct Shop;

/// An engine with a `persist`-like static module: constructors called as
/// `persist::f`, and methods of the `Shop` type exposed globally.
fn repl() -> Repl {
    let mut engine = Engine::new();
    engine.register_type_with_name::<Shop>("Shop");
    let mut module = Module::new();
    module.set_native_fn("store", || Ok(Shop));
    module.set_native_fn("open", |_: &str| Ok(Shop));
    // As `#[rhai_fn(global)]` in a plugin module registers them, with the
    // parameter types the completer reads.
    let method = |name: &str, params: &[&str]| {
        FuncRegistration::new(name)
            .with_namespace(FnNamespace::Global)
            .with_params_info(params)
    };
    let shop_n = ["s: &mut Shop", "n: INT"];
    method("append", &shop_n).set_into_module(&mut module, |_: &mut Shop, _: INT| 1 as INT);
    method("append_all", &shop_n).set_into_module(&mut module, |_: &mut Shop, _: INT| 2 as INT);
    method("append_expect", &["s: &mut Shop", "e: INT", "n: INT"])
        .set_into_module(&mut module, |_: &mut Shop, _: INT, _: INT| 3 as INT);
    method("to_string", &["s: &mut Shop"])
        .set_into_module(&mut module, |_: &mut Shop| "Shop".to_string());
    method("get$size", &["s: &mut Shop"]).set_into_module(&mut module, |_: &mut Shop| 3 as INT);
    engine.register_static_module("persist", module.into());
    let mut scope = Scope::new();
    scope.push("store", Shop);
    scope.push("n", 5 as INT);
    scope.push(
        "order",
        rhai::Map::from_iter([("amount".into(), (3 as INT).into())]),
    );
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
fn a_module_offers_only_what_is_called_by_name() {
    // `to_string` is what `print` calls, and `size` is a property.
    let r = repl();
    assert_eq!(
        complete(&r, "persist::").1,
        vec![
            "persist::append",
            "persist::append_all",
            "persist::append_expect",
            "persist::open",
            "persist::store"
        ]
    );
    assert!(complete(&r, "store.s").1.contains(&"size".to_string()));
}
#[test]
fn after_a_variable_and_a_dot_come_the_methods_of_its_type() {
    let r = repl();
    let (start, names) = complete(&r, "store.app");
    assert_eq!(start, 6);
    assert_eq!(names, vec!["append", "append_all", "append_expect"]);
    let all = complete(&r, "store.").1;
    assert!(!all.contains(&"sin".to_string()), "{all:?}");
    assert!(!all.contains(&"to_blob".to_string()), "{all:?}");
    assert!(!all.contains(&"len".to_string()), "{all:?}");
    // An integer has no append, but has its own methods.
    assert_eq!(complete(&r, "n.app").1, Vec::<String>::new());
    assert!(complete(&r, "n.").1.contains(&"abs".to_string()));
    assert!(!complete(&r, "n.").1.contains(&"append".to_string()));
}

#[test]
fn a_map_offers_its_keys_and_its_methods() {
    let r = repl();
    let names = complete(&r, "order.").1;
    assert!(names.contains(&"amount".to_string()), "{names:?}");
    assert!(names.contains(&"keys".to_string()), "{names:?}");
    assert!(!names.contains(&"append".to_string()), "{names:?}");
}

#[test]
fn an_expression_that_is_not_a_variable_offers_every_method() {
    let r = repl();
    assert!(complete(&r, "[1].le").1.contains(&"len".to_string()));
    assert!(complete(&r, "f(1).app").1.contains(&"append".to_string()));
}

#[test]
fn session_names_complete_but_never_closures() {
    let mut r = repl();
    assert!(complete(&r, "sto").1.contains(&"store".to_string()));
    assert!(!complete(&r, "cou").1.contains(&"counter".to_string()));
    assert_eq!(
        r.eval_line("let counter = 1; fn count_up(x) { x + 1 }; let step = |a, b| a + b;"),
        Outcome::Quiet
    );
    assert_eq!(complete(&r, "cou").1, vec!["count_up", "counter"]);
    assert!(
        complete(&r, "counter.count")
            .1
            .contains(&"count_up".to_string())
    );
    // A closure's function is named `anon$...`: never offered anywhere.
    for line in ["an", "store.an", "counter.", "step."] {
        let names = complete(&r, line).1;
        assert!(!names.iter().any(|n| n.contains('$')), "{line}: {names:?}");
    }
}

#[test]
fn commands_complete_and_an_empty_word_offers_nothing() {
    let r = repl();
    assert_eq!(complete(&r, ":l"), (0, vec![":load".to_string()]));
    assert_eq!(complete(&r, ":s"), (0, vec![":set".to_string()]));
    assert_eq!(complete(&r, "let x = ").1, Vec::<String>::new());
}
