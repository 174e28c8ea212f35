//! The runner's own contract (SPEC 4): discovery, one line per test,
//! failures with file:line, the closing line, exit codes, the operation
//! limit and unparsable files.

use std::fs;

use persist::runner::{self, Options};

fn run_dir(files: &[(&str, &str)], filter: Option<&str>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let opts = Options {
        paths: vec![dir.path().to_path_buf()],
        filter: filter.map(str::to_string),
        max_operations: 100_000,
        ..Options::default()
    };
    let mut out = Vec::new();
    let summary = runner::run(&opts, &mut out).unwrap();
    let text = String::from_utf8(out)
        .unwrap()
        .replace(&dir.path().display().to_string(), "DIR");
    (summary.exit_code(), text)
}

#[test]
fn passing_tests_print_ok_lines_and_exit_zero() {
    let (code, out) = run_dir(
        &[(
            "a.rhai",
            "fn test_one() { assert(true); }\nfn helper(x) { x }",
        )],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "test DIR/a.rhai::test_one ... ok\n1 passed, 0 failed\n"
    );
}

#[test]
fn files_run_in_sorted_order_and_tests_by_name() {
    let files = [
        ("b.rhai", "fn test_z() {} fn test_a() {}"),
        ("a/c.rhai", "fn test_m() {}"),
    ];
    let (_, out) = run_dir(&files, None);
    let names: Vec<&str> = out.lines().filter(|l| l.starts_with("test ")).collect();
    assert_eq!(
        names,
        [
            "test DIR/a/c.rhai::test_m ... ok",
            "test DIR/b.rhai::test_a ... ok",
            "test DIR/b.rhai::test_z ... ok"
        ]
    );
}

#[test]
fn a_failure_reports_message_and_file_line() {
    let (code, out) = run_dir(
        &[("f.rhai", "fn test_bad() {\n  assert_eq(1, 2);\n}")],
        None,
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("test DIR/f.rhai::test_bad ... FAILED"),
        "{out}"
    );
    assert!(out.contains("actual:   1"), "{out}");
    assert!(out.contains("DIR/f.rhai:2"), "{out}");
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

#[test]
fn an_endless_loop_fails_under_the_operation_limit() {
    let (code, out) = run_dir(
        &[("l.rhai", "fn test_loop() { loop {} }\nfn test_ok() {}")],
        None,
    );
    assert_eq!(code, 1);
    assert!(out.contains("operation limit"), "{out}");
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
}

#[test]
fn an_unparsable_file_is_one_failure_and_the_run_goes_on() {
    let files = [("a.rhai", "fn test_x( {\n"), ("b.rhai", "fn test_y() {}")];
    let (code, out) = run_dir(&files, None);
    assert_eq!(code, 1);
    assert!(out.contains("test DIR/a.rhai ... FAILED"), "{out}");
    assert!(out.contains("DIR/a.rhai:1"), "{out}");
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
}

#[test]
fn filter_selects_by_file_and_function() {
    let files = [("a.rhai", "fn test_one() {} fn test_two() {}")];
    let (code, out) = run_dir(&files, Some("a.rhai::test_two"));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "test DIR/a.rhai::test_two ... ok\n1 passed, 0 failed\n"
    );
}

#[test]
fn no_tests_at_all_exits_one() {
    let (code, out) = run_dir(&[("a.rhai", "fn helper() {}")], None);
    assert_eq!(code, 1);
    assert_eq!(out, "0 passed, 0 failed\n");
}

#[test]
fn each_test_gets_a_fresh_scope_and_store() {
    let text = "let s = persist::store();\n\
                fn test_a() { let s = persist::store(); assert_eq(s.append(\"x\", 1), 1); }\n\
                fn test_b() { let s = persist::store(); assert_eq(s.append(\"x\", 1), 1); }";
    let (code, out) = run_dir(&[("a.rhai", text)], None);
    assert_eq!(code, 0, "{out}");
}
