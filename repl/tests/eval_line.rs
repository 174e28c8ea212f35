//! `Repl::eval_line`: what the REPL does with each input, without a terminal.

use persist_repl::{Outcome, Repl, is_incomplete};
use rhai::{Engine, Scope};

fn repl() -> Repl {
    Repl::new(Engine::new(), Scope::new())
}

fn print(text: &str) -> Outcome {
    Outcome::Print(text.to_string())
}

fn error_of(outcome: Outcome) -> String {
    match outcome {
        Outcome::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_function_typed_over_two_lines_stays_callable() {
    assert!(is_incomplete("fn f(x) {"));
    let mut r = repl();
    assert_eq!(r.eval_line("fn f(x) {\n  x + 1 }"), Outcome::Quiet);
    assert_eq!(r.eval_line("f(2)"), print("3"));
    assert_eq!(r.eval_line("fn g(x) { f(x) * 10 }"), Outcome::Quiet);
    assert_eq!(r.eval_line("g(1)"), print("20"));
}

#[test]
fn a_redefined_function_replaces_the_old_one() {
    let mut r = repl();
    r.eval_line("fn f() { 1 }");
    r.eval_line("fn f() { 2 }");
    assert_eq!(r.eval_line("f()"), print("2"));
}

#[test]
fn variables_are_kept_across_inputs() {
    assert!(is_incomplete("let a = [1,"));
    let mut r = repl();
    assert_eq!(r.eval_line("let a = [1,\n2]"), Outcome::Quiet);
    assert_eq!(r.eval_line("a.push(3)"), Outcome::Quiet);
    assert_eq!(r.eval_line("a"), print("[1, 2, 3]"));
    assert_eq!(
        r.eval_line("let m = #{name: \"x\", n: 1.5}; m"),
        print("#{n: 1.5, name: \"x\"}")
    );
    assert!(r.scope().contains("m"));
}

#[test]
fn an_error_says_where_and_the_session_goes_on() {
    let mut r = repl();
    assert_eq!(r.eval_line("let x = 1"), Outcome::Quiet);
    let e = error_of(r.eval_line("let y = 2;\ny + nope"));
    assert!(e.contains("nope"), "{e}");
    assert!(e.ends_with("(line 2, column 5)"), "{e}");
    let e = error_of(r.eval_line("let = 3"));
    assert!(e.contains("(line 1, column 5)"), "{e}");
    assert_eq!(r.eval_line("x + 1"), print("2"));
}

#[test]
fn a_thrown_error_shows_its_message() {
    let mut r = repl();
    r.eval_line("fn boom() { throw \"no such order\" }");
    let e = error_of(r.eval_line("boom()"));
    assert!(e.starts_with("no such order (line 1"), "{e}");
}

#[test]
fn load_runs_a_file_in_the_session() {
    let file = std::env::temp_dir().join(format!("persist-repl-load-{}.rhai", std::process::id()));
    std::fs::write(&file, "fn double(x) { x * 2 }\nlet base = 21;\n").unwrap();
    let mut r = repl();
    let outcome = r.eval_line(&format!(":load {}", file.display()));
    std::fs::remove_file(&file).unwrap();
    assert_eq!(outcome, Outcome::Quiet);
    assert_eq!(r.eval_line("double(base)"), print("42"));
}

#[test]
fn load_reports_a_missing_file_and_a_failing_one() {
    let mut r = repl();
    let e = error_of(r.eval_line(":load /nonexistent/x.rhai"));
    assert!(e.starts_with("cannot read /nonexistent/x.rhai"), "{e}");
    let file = std::env::temp_dir().join(format!("persist-repl-bad-{}.rhai", std::process::id()));
    std::fs::write(&file, "let a = 1;\na + missing\n").unwrap();
    let e = error_of(r.eval_line(&format!(":load {}", file.display())));
    std::fs::remove_file(&file).unwrap();
    assert!(e.starts_with(&format!("{}: ", file.display())), "{e}");
    assert!(e.ends_with("(line 2, column 5)"), "{e}");
}

#[test]
fn unit_results_print_nothing() {
    let mut r = repl();
    assert_eq!(r.eval_line("()"), Outcome::Quiet);
    assert_eq!(r.eval_line("let x = 1;"), Outcome::Quiet);
    assert_eq!(r.eval_line("   "), Outcome::Quiet);
    assert_eq!(r.eval_line("\"()\""), print("\"()\""));
}

#[test]
fn records_print_one_per_line_with_their_keys_in_order() {
    let mut r = repl();
    let input = r#"[#{data: #{qty: 2}, at: 100, pos: 4, seq: 1, stream: "orders"},
                    #{data: 5, id: "k", at: 101, pos: 7, seq: 2, stream: "orders"}]"#;
    assert_eq!(
        r.eval_line(input),
        print(
            "[\n  #{stream: \"orders\", seq: 1, pos: 4, at: 100, data: #{qty: 2}},\n  \
             #{stream: \"orders\", seq: 2, pos: 7, at: 101, id: \"k\", data: 5},\n]"
        )
    );
    // Other arrays of maps stay on one line.
    assert_eq!(
        r.eval_line("[#{a: 1}, #{b: [2]}]"),
        print("[#{a: 1}, #{b: [2]}]")
    );
    assert_eq!(r.eval_line("[]"), print("[]"));
}

#[test]
fn commands() {
    let mut r = repl().help_text("store is bound to persist::store()");
    match r.eval_line(":help") {
        Outcome::Print(text) => {
            assert!(text.starts_with("store is bound"), "{text}");
            assert!(text.contains(":load FILE"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.eval_line(":quit"), Outcome::Quit);
    assert!(error_of(r.eval_line(":nope")).contains("unknown command :nope"));
}

#[derive(Clone)]
struct Ticket(i64);

#[test]
fn values_of_registered_types_print_through_their_to_string() {
    let mut engine = Engine::new();
    engine
        .register_type_with_name::<Ticket>("Ticket")
        .register_fn("ticket", Ticket)
        .register_fn("to_string", |t: &mut Ticket| format!("Ticket #{}", t.0));
    let mut r = Repl::new(engine, Scope::new());
    assert_eq!(r.eval_line("ticket(7)"), print("Ticket #7"));
    assert_eq!(r.eval_line("#{t: [ticket(8)]}"), print("#{t: [Ticket #8]}"));
}
