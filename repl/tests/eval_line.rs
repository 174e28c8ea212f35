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

#[test]
fn a_large_result_shows_its_first_items_and_counts_the_rest() {
    let mut r = repl();
    r.eval_line("let big = []; for i in 0..2000 { big.push(i) }");
    assert_eq!(
        r.eval_line("big"),
        print("[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... 1,990 more]")
    );
    assert_eq!(r.eval_line(":set limit 3"), Outcome::Quiet);
    assert_eq!(r.eval_line("big"), print("[0, 1, 2, ... 1,997 more]"));
    assert_eq!(
        r.eval_line("#{a: 1, b: 2, c: 3, d: 4}"),
        print("#{a: 1, b: 2, c: 3, ... 1 more}")
    );
    assert_eq!(r.eval_line(":set limit 0"), Outcome::Quiet);
    match r.eval_line("big") {
        Outcome::Print(text) => assert!(text.ends_with("1998, 1999]"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.eval_line(":set"),
        print("limit 0 (:set limit N; 0 prints everything)")
    );
    assert!(error_of(r.eval_line(":set limit many")).contains("not a count"));
}

#[test]
fn many_records_print_ten_lines_and_a_count() {
    let mut r = repl();
    r.eval_line(
        "let rs = []; for i in 1..=2000 { rs.push(#{stream: \"big\", seq: i, pos: i, at: 5, data: i}) }",
    );
    let Outcome::Print(text) = r.eval_line("rs") else {
        panic!("no result")
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 13, "{text}");
    assert_eq!(
        lines[1],
        "  #{stream: \"big\", seq: 1, pos: 1, at: 5, data: 1},"
    );
    assert_eq!(lines[11], "  ... 1,990 more");
    assert_eq!(lines[12], "]");
    // A record keeps all its keys whatever the limit.
    r.eval_line(":set limit 2");
    let Outcome::Print(text) = r.eval_line("rs") else {
        panic!("no result")
    };
    assert!(
        text.contains("seq: 2, pos: 2, at: 5, data: 2},\n  ... 1,998 more\n]"),
        "{text}"
    );
}

#[test]
fn long_strings_and_deep_maps_are_cut() {
    let mut r = repl();
    r.eval_line("let s = \"\"; for i in 0..300 { s += \"ab\" }");
    let Outcome::Print(text) = r.eval_line("s") else {
        panic!("no result")
    };
    assert_eq!(text, format!("{:?} ... 400 more chars", "ab".repeat(100)));
    r.eval_line(":set limit 2");
    assert_eq!(
        r.eval_line("#{a: #{b: #{c: 1, d: 2}}, e: [[1, 2, 3]]}"),
        print("#{a: #{b: #{... 2 keys}}, e: [[... 3 items]]}")
    );
}

#[test]
fn an_error_in_a_closure_shows_where_and_the_calls_that_ran_it() {
    let mut r = repl();
    let e = error_of(r.eval_line(
        "fn fold(xs, f) { let acc = 0; for x in xs { acc = f.call(acc, x) } acc }\n\
         let total = |acc, x|\n  acc + x.amount;\n\
         fold([1], total)",
    ));
    assert!(e.starts_with("Unknown property 'amount'"), "{e}");
    assert!(e.contains("(line 3, column 11)"), "{e}");
    assert!(
        e.ends_with(
            "\n  in closure at line 3, column 11, called by call at line 1 in fn fold, \
             called at line 4"
        ),
        "{e}"
    );
}
