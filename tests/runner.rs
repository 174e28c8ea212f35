//! The runner's own contract (SPEC 4): discovery, one line per test,
//! failures with file:line, the closing line, exit codes, the limits a test
//! runs under (operations, time, sizes, call depth) and unparsable files;
//! the reports CI reads (`--junit`, `--format json`), `--list`,
//! `--fail-fast`, and Ctrl-C.

use std::fs;
use std::path::Path;
use std::time::Duration;

use persist::runner::{self, Format, Limits, Options, Summary};

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

/// Runs `files` with `opts` (paths filled in); the summary and the output
/// with the directory shown as `DIR`.
fn run_with(files: &[(&str, &str)], opts: Options) -> (Summary, String) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    let opts = Options {
        paths: vec![dir.path().to_path_buf()],
        ..opts
    };
    let mut out = Vec::new();
    let summary = runner::run(&opts, &mut out).unwrap();
    let text = String::from_utf8(out)
        .unwrap()
        .replace(&dir.path().display().to_string(), "DIR");
    (summary, text)
}

fn quick() -> Options {
    Options {
        limits: Limits {
            max_operations: 100_000,
            ..Limits::default()
        },
        ..Options::default()
    }
}

fn run_dir(files: &[(&str, &str)], filter: Option<&str>) -> (i32, String) {
    let opts = Options {
        filter: filter.map(str::to_string),
        ..quick()
    };
    let (summary, text) = run_with(files, opts);
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
    assert!(out.contains("operation limit of 100000"), "{out}");
    // Rhai gives no position for a limit hit inside a function: the
    // failure names the test function's line.
    assert!(out.contains("  at DIR/l.rhai:1\n"), "{out}");
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
fn no_tests_at_all_exits_one_and_says_what_a_test_is() {
    let (code, out) = run_dir(&[("a.rhai", "fn helper() {}")], None);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "no tests found in DIR (a test is a zero-argument fn whose name starts with test_)\n\
         0 passed, 0 failed\n"
    );
}

#[test]
fn a_filter_that_matches_nothing_says_what_it_is_matched_against() {
    let (code, out) = run_dir(&[("a.rhai", "fn test_one() {}")], Some("nope"));
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "no test matched --filter \"nope\": it is matched against <file>::<function>, \
         e.g. DIR/a.rhai::test_one\n0 passed, 0 failed\n"
    );
}

#[test]
fn each_test_gets_a_fresh_scope_and_store() {
    let text = "let s = persist::store();\n\
                fn test_a() { let s = persist::store(); assert_eq(s.append(\"x\", 1), 1); }\n\
                fn test_b() { let s = persist::store(); assert_eq(s.append(\"x\", 1), 1); }";
    let (code, out) = run_dir(&[("a.rhai", text)], None);
    assert_eq!(code, 0, "{out}");
}

// ---- limits: each runaway test fails alone, naming its limit ----

/// The failure message of each test, by function name.
fn failures(summary: &Summary) -> Vec<(String, String)> {
    summary
        .failures
        .iter()
        .map(|f| {
            (
                f.name.rsplit("::").next().unwrap().to_string(),
                f.message.clone(),
            )
        })
        .collect()
}

#[test]
fn runaway_allocations_fail_their_own_test_naming_the_limit() {
    let text = r#"
        fn test_pad() { let a = []; a.pad(2000000000, 0); }
        fn test_string_doubling() { let s = "x"; loop { s += s; } }
        fn test_map_nested_a_million_deep() { let m = #{}; for i in 0..1000000 { m = #{a: m}; } }
        fn test_recursion() { deeper(0) }
        fn deeper(n) { deeper(n + 1) }
        fn test_z_still_runs() { assert(true); }
    "#;
    let opts = Options {
        limits: Limits {
            max_map: 500,
            ..Limits::default()
        },
        ..Options::default()
    };
    let (summary, out) = run_with(&[("abuse.rhai", text)], opts);
    let got = failures(&summary);
    let want = [
        (
            "test_map_nested_a_million_deep",
            "a map grew past the size limit of 500 entries",
        ),
        (
            "test_pad",
            "an array grew past the size limit of 1000000 items",
        ),
        ("test_recursion", "exceeded the call depth limit of 64"),
        (
            "test_string_doubling",
            "a string grew past the size limit of 67108864 bytes",
        ),
    ];
    assert_eq!(got.len(), want.len(), "{out}");
    for ((name, msg), (want_name, want_msg)) in got.iter().zip(want) {
        assert_eq!(name, want_name, "{out}");
        assert!(msg.starts_with(want_msg), "{name}: {msg}");
    }
    assert_eq!(summary.passed, 1);
    assert!(out.ends_with("1 passed, 4 failed\n"), "{out}");
}

#[test]
fn a_map_nested_deeper_than_the_stack_allows_fails_without_aborting() {
    // Default sizes: the nesting is stopped by the clock, and cloning and
    // dropping what was built must not overflow the test thread's stack.
    let text = "fn test_nest() { let m = #{}; loop { m = #{a: m}; } }\nfn test_ok() {}";
    let opts = Options {
        limits: Limits {
            timeout: Some(Duration::from_secs(3)),
            ..Limits::default()
        },
        ..Options::default()
    };
    let (summary, out) = run_with(&[("n.rhai", text)], opts);
    let got = failures(&summary);
    assert_eq!(got.len(), 1, "{out}");
    assert!(got[0].1.contains("limit"), "{out}");
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
}

#[test]
fn slow_loops_fail_on_the_time_limit() {
    let text = r#"
        fn test_clone_a_big_array() { let a = []; a.pad(200000, 0); loop { let b = a; } }
        fn test_append_forever() { let s = persist::store(); loop { s.append("x", #{n: 1}); } }
        fn test_ok() {}
    "#;
    let opts = Options {
        backend: persist::script::BackendKind::Disk,
        limits: Limits {
            timeout: Some(Duration::from_millis(1500)),
            ..Limits::default()
        },
        ..Options::default()
    };
    let t0 = std::time::Instant::now();
    let (summary, out) = run_with(&[("slow.rhai", text)], opts);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    for (name, msg) in failures(&summary) {
        assert_eq!(
            msg, "ran past the time limit of 1.5 s (raise it with --timeout SECONDS)",
            "{name}"
        );
    }
    assert!(out.ends_with("1 passed, 2 failed\n"), "{out}");
}

// ---- reports: JUnit XML, JSON lines, verbose times ----

const MIXED: [(&str, &str); 3] = [
    (
        "a.rhai",
        "fn test_pass() {}\nfn test_fail() {\n  assert_eq(\"<a & b>\", \"'c'\");\n}",
    ),
    ("b/c.rhai", "fn test_x( {\n"),
    (
        "d.rhai",
        "fn test_one() {}\nfn test_two() { throw \"bad \\u0001 char\"; }",
    ),
];

/// `N passed, N failed` from the last line.
fn closing(out: &str) -> (usize, usize) {
    let last = out.lines().last().unwrap();
    let nums: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(last, format!("{} passed, {} failed", nums[0], nums[1]));
    (nums[0], nums[1])
}

#[test]
fn junit_report_is_well_formed_and_matches_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let xml_path = dir.path().join("report.xml");
    let opts = Options {
        junit: Some(xml_path.clone()),
        ..quick()
    };
    let (summary, out) = run_with(&MIXED, opts);
    let (passed, failed) = closing(&out);
    assert_eq!((passed, failed), (summary.passed, summary.failures.len()));

    let xml = fs::read_to_string(&xml_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let failing: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(cases.len(), passed + failed, "{xml}");
    assert_eq!(failing.len(), failed, "{xml}");
    assert_eq!(
        root.attribute("tests"),
        Some((passed + failed).to_string().as_str())
    );
    assert_eq!(
        root.attribute("failures"),
        Some(failed.to_string().as_str())
    );
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let n = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(suite.attribute("tests"), Some(n.to_string().as_str()));
    }
    for c in &cases {
        let file = c.attribute("file").unwrap();
        assert!(file.ends_with(".rhai"), "{file}");
        assert!(c.attribute("classname").is_some_and(|n| !n.contains('/')));
        assert!(c.attribute("time").unwrap().parse::<f64>().is_ok());
    }
    let message = |name: &str| {
        let case = cases
            .iter()
            .find(|c| c.attribute("name") == Some(name))
            .unwrap();
        let f = case.children().find(|n| n.has_tag_name("failure")).unwrap();
        (
            f.attribute("message").unwrap().to_string(),
            f.text().unwrap().to_string(),
        )
    };
    let (attr, text) = message("test_fail");
    assert!(attr.contains("<a & b>") && attr.contains("'c'"), "{attr}");
    assert!(text.contains("a.rhai:3"), "{text}");
    let (attr, _) = message("(parse)");
    assert!(attr.starts_with("does not parse"), "{attr}");
    let (attr, _) = message("test_two");
    assert!(attr.contains("bad \u{FFFD} char"), "{attr}");
    let pass = cases
        .iter()
        .find(|c| c.attribute("name") == Some("test_pass"))
        .unwrap();
    assert_eq!(
        pass.attribute("classname").map(|c| c.ends_with(".a")),
        Some(true)
    );
}

#[test]
fn json_format_prints_one_object_per_test_then_the_summary() {
    let opts = Options {
        format: Format::Json,
        ..quick()
    };
    let (summary, out) = run_with(&MIXED, opts);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let (tests, rest) = lines.split_at(lines.len() - 1);
    assert_eq!(tests.len(), summary.passed + summary.failures.len());
    assert!(
        tests
            .iter()
            .all(|t| t["type"] == "test" && t["time"].is_f64())
    );
    let failed = tests.iter().filter(|t| t["status"] == "failed").count();
    assert_eq!(failed, summary.failures.len());
    let fail = tests.iter().find(|t| t["function"] == "test_fail").unwrap();
    assert_eq!(fail["name"], "DIR/a.rhai::test_fail");
    assert_eq!(fail["file"], "DIR/a.rhai");
    assert_eq!(fail["location"], "DIR/a.rhai:3");
    assert!(fail["message"].as_str().unwrap().contains("<a & b>"));
    assert_eq!(rest[0]["type"], "summary");
    assert_eq!(rest[0]["passed"], summary.passed);
    assert_eq!(rest[0]["failed"], summary.failures.len());
}

#[test]
fn verbose_lines_show_each_test_time() {
    let opts = Options {
        verbose: true,
        ..quick()
    };
    let (_, out) = run_with(&[("a.rhai", "fn test_one() {}")], opts);
    let line = out.lines().next().unwrap();
    let time = line
        .strip_prefix("test DIR/a.rhai::test_one ... ok (")
        .and_then(|t| t.strip_suffix(" s)"))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(time.parse::<f64>().is_ok_and(|t| t >= 0.0), "{line}");
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let files = [
        ("a.rhai", "fn test_a() { throw 1; }\nfn test_b() {}"),
        ("b.rhai", "fn test_c() {}"),
    ];
    let opts = Options {
        fail_fast: true,
        ..quick()
    };
    let (summary, out) = run_with(&files, opts);
    assert_eq!(summary.outcomes.len(), 1, "{out}");
    assert!(
        out.contains("stopped at the first failure (--fail-fast)\n0 passed, 1 failed\n"),
        "{out}"
    );
}

#[test]
fn list_names_the_tests_without_running_them() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "a.rhai",
                "fn test_b() { throw 1; }\nfn test_a() {}\nfn helper() {}",
            ),
            ("z.rhai", "fn test_x( {"),
        ],
    );
    let opts = Options {
        paths: vec![dir.path().to_path_buf()],
        filter: Some("test_".into()),
        ..Options::default()
    };
    let (names, broken) = runner::list(&opts).unwrap();
    let shown = dir.path().display().to_string();
    assert_eq!(
        names,
        [
            format!("{shown}/a.rhai::test_a"),
            format!("{shown}/a.rhai::test_b")
        ]
    );
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].location, format!("{shown}/z.rhai:1"));
}

// ---- the binary: Ctrl-C, temporary directories, the flags ----

fn persist() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_persist"))
}

#[test]
fn a_timed_out_disk_test_leaves_no_temporary_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "t.rhai",
            "fn test_forever() { let s = persist::store(); loop { s.append(\"x\", 1); } }",
        )],
    );
    let out = persist()
        .args(["test", "--backend", "disk", "--timeout", "1"])
        .arg(dir.path())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ran past the time limit of 1 s"),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 passed, 1 failed\n"), "{stdout}");
    let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn list_and_junit_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.rhai", "fn test_a() {}\nfn test_b() {}")]);
    let out = persist()
        .args(["test", "--list"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let shown = dir.path().display().to_string();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{shown}/a.rhai::test_a\n{shown}/a.rhai::test_b\n")
    );
    let xml = dir.path().join("out.xml");
    let out = persist()
        .args(["test", "--junit"])
        .arg(&xml)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = fs::read_to_string(&xml).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().attribute("tests"), Some("2"));
}

/// Starts `persist args...`, waits for `ready` on its stdout, sends it
/// SIGINT, and returns its exit code and all it printed.
fn interrupt(args: &[&str], ready: &str, tmp: &Path) -> (Option<i32>, String, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = persist()
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains(ready) {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "ended early: {seen}"
        );
        seen += &line;
    }
    // Let the next operation start, then interrupt.
    std::thread::sleep(Duration::from_millis(200));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    stdout.read_to_string(&mut seen).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), seen, stderr)
}

#[test]
fn ctrl_c_stops_a_test_run_and_prints_the_summary_of_what_ran() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("a.rhai", "fn test_first() {}"),
            (
                "b.rhai",
                "fn test_loop() { let s = persist::store(); s.append(\"x\", 1); print(\"looping\"); loop {} }",
            ),
            ("c.rhai", "fn test_never() {}"),
        ],
    );
    let d = dir.path().display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "test",
        "--backend",
        "disk",
        "--timeout",
        "0",
        "--max-operations",
        "0",
        &d,
    ];
    let (code, out, _) = interrupt(&args, "looping", tmp.path());
    assert_eq!(code, Some(130), "{out}");
    assert!(
        out.contains(&format!("test {d}/b.rhai::test_loop ... interrupted\n")),
        "{out}"
    );
    assert!(!out.contains("test_never"), "{out}");
    assert!(
        out.ends_with("interrupted (Ctrl-C): the tests after it did not run\n1 passed, 0 failed\n"),
        "{out}"
    );
    // The interrupted test's store directory was removed.
    let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn ctrl_c_stops_a_script_cleanly_and_releases_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let script = dir.path().join("s.rhai");
    fs::write(
        &script,
        "let s = persist::store();\ns.append(\"x\", 1);\nprint(\"ready\");\nloop { }\n",
    )
    .unwrap();
    let (code, _, err) = interrupt(
        &[
            "run",
            &script.display().to_string(),
            "--store",
            &store.display().to_string(),
        ],
        "ready",
        dir.path(),
    );
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted (Ctrl-C)"), "{err}");
    // The store was closed: another process opens it and sees the append.
    let out = persist().arg("export").arg(&store).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"seq\":1"));
}
