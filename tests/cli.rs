//! The `persist` binary's store tools and `run`, driven as a user would.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn persist(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_persist"));
    cmd.args(args);
    match stdin {
        None => cmd.output().unwrap(),
        Some(text) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let written = child.stdin.take().unwrap().write_all(text.as_bytes());
            // A child that refuses before reading all its input closes the
            // pipe: that is its answer, not the test's failure.
            if let Err(e) = written {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            }
            child.wait_with_output().unwrap()
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A store with a truncated stream, several streams and kv entries.
fn make_store(dir: &Path) {
    let script = dir.join("mk.rhai");
    fs::write(
        &script,
        r#"let s = persist::store();
           for i in 1..=300 { s.append("orders", #{n: i, note: `order ${i}`}); }
           s.append_all("users", [#{name: "ann"}, #{name: "bob", tags: ["x", 1.5]}]);
           s.compact("tot", "orders", 0, |a, r| a + r.data.n);
           s.append("orders", #{n: 301});
           s.kv_put("config", #{limit: 10});"#,
    )
    .unwrap();
    let store = dir.join("store");
    let out = persist(
        &[
            "run",
            script.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn export_then_import_round_trips_every_record_seq_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let a = tmp.path().join("store");
    let dump = persist(&["export", a.to_str().unwrap()], None);
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let dump = text(&dump.stdout);
    assert!(
        dump.contains(r#"{"type":"stream","stream":"orders","last_seq":301}"#),
        "{dump}"
    );
    let b = tmp.path().join("copy");
    let imported = persist(&["import", b.to_str().unwrap()], Some(&dump));
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let again = persist(&["export", b.to_str().unwrap()], None);
    assert_eq!(text(&again.stdout), dump);
    let one = persist(&["export", b.to_str().unwrap(), "--stream", "users"], None);
    assert_eq!(text(&one.stdout).lines().count(), 3);
}

#[test]
fn import_names_the_malformed_line_and_refuses_a_used_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let bad = "{\"type\":\"stream\",\"stream\":\"a\",\"last_seq\":1}\n{\"type\":\"record\",\"stream\":\"a\",\"seq\":1,\"at\":5,\"data\":1}\n{oops\n";
    let out = persist(&["import", dir.to_str().unwrap()], Some(bad));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 3"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.exists(), "a failed import left a store behind");
    fs::create_dir(&dir).unwrap();
    let out = persist(&["import", dir.to_str().unwrap()], Some(bad));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "the empty target changed"
    );
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "temporary directories left beside the target"
    );
    let good = &bad[..bad.len() - 6];
    assert!(
        persist(&["import", dir.to_str().unwrap()], Some(good))
            .status
            .success()
    );
    let twice = persist(&["import", dir.to_str().unwrap()], Some(good));
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        text(&twice.stderr).contains("not empty"),
        "{}",
        text(&twice.stderr)
    );
}

#[test]
fn verify_exits_zero_on_a_good_store_and_one_with_file_and_offset_on_damage() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let dir = tmp.path().join("store");
    let ok = persist(&["verify", dir.to_str().unwrap()], None);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    assert_eq!(text(&ok.stderr), "", "no progress when piped");
    let seg = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&seg, bytes).unwrap();
    let bad = persist(&["verify", dir.to_str().unwrap()], None);
    assert_eq!(bad.status.code(), Some(1));
    let report = text(&bad.stdout);
    assert!(
        report.contains("DAMAGED: ") && report.contains(", 1 fault\n"),
        "{report}"
    );
    assert!(
        report.contains(seg.file_name().unwrap().to_str().unwrap()) && report.contains("offset"),
        "{report}"
    );
}

#[test]
fn inspect_lists_streams_keys_and_segments() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let out = persist(
        &["inspect", tmp.path().join("store").to_str().unwrap()],
        None,
    );
    assert!(out.status.success());
    let report = text(&out.stdout);
    assert!(
        report.contains("orders") && report.contains("last seq      301"),
        "{report}"
    );
    assert!(report.contains("kept        1"), "{report}");
    assert!(
        report.contains("kv keys: 3"),
        "config, snapshot/tot, fold/tot: {report}"
    );
    assert!(report.contains("segments: "), "{report}");
    assert!(report.contains("snapshots: 1"), "{report}");
    assert!(report.contains("tot  seq      300  fold "), "{report}");
}

#[test]
fn tools_name_a_missing_directory() {
    // Not a store: 1 from every read-only tool (SPEC 6).
    for (cmd, code) in [("inspect", 1), ("verify", 1), ("export", 1)] {
        let out = persist(&[cmd, "/nonexistent/persist-store"], None);
        assert_eq!(out.status.code(), Some(code), "{cmd}");
        assert!(
            text(&out.stderr).contains("/nonexistent/persist-store"),
            "{cmd}: {}",
            text(&out.stderr)
        );
        assert!(!Path::new("/nonexistent/persist-store").exists());
    }
}

#[test]
fn a_store_in_use_by_another_process_is_refused_clearly() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let script = tmp.path().join("hold.rhai");
    // Opens the store, says so, then holds it until killed.
    fs::write(
        &script,
        "let s = persist::store(); s.append(\"a\", 1); print(\"holding\"); loop { if s.last_seq(\"b\") > 0 { break; } }",
    )
    .unwrap();
    let mut holder = Command::new(env!("CARGO_BIN_EXE_persist"))
        .args([
            "run",
            script.to_str().unwrap(),
            "--store",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "holding");
    let inspect = persist(&["inspect", dir.to_str().unwrap()], None);
    let export = persist(&["export", dir.to_str().unwrap()], None);
    let _ = holder.kill();
    let _ = holder.wait();
    for out in [inspect, export] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("in use"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn long_work_shows_progress_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let dir = tmp.path().join("store");
    // python3's pty runs the command on a pseudo-terminal and copies what
    // it writes there (stdout and stderr) to our pipe.
    let out = Command::new("python3")
        .args(["-c", "import pty, sys; pty.spawn(sys.argv[1:])"])
        .arg(env!("CARGO_BIN_EXE_persist"))
        .args(["verify", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(
        shown.contains("verifying ") && shown.contains(" MB"),
        "{shown}"
    );
    assert!(shown.contains("ok: "), "{shown}");
}

fn run_script(dir: &Path, name: &str, script: &str, store: Option<&Path>) -> Output {
    let file = dir.join(name);
    fs::write(&file, script).unwrap();
    let mut args = vec!["run".to_string(), file.display().to_string()];
    if let Some(store) = store {
        args.extend(["--store".to_string(), store.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    persist(&args, None)
}

#[test]
fn help_tells_a_person_what_each_command_takes_and_the_exit_codes() {
    let top = text(&persist(&["--help"], None).stdout);
    assert!(
        top.contains("Exit codes:") && top.contains("could not check"),
        "{top}"
    );
    let run = text(&persist(&["run", "--help"], None).stdout);
    for want in ["The .rhai script to run", "in memory", "created if missing"] {
        assert!(run.contains(want), "run --help lacks {want:?}:\n{run}");
    }
    let repl = text(&persist(&["repl", "--help"], None).stdout);
    for want in [
        "PERSIST_HISTORY",
        ":load FILE",
        ":set limit N",
        ":quit",
        "...>",
    ] {
        assert!(repl.contains(want), "repl --help lacks {want:?}:\n{repl}");
    }
    let import = text(&persist(&["import", "--help"], None).stdout);
    assert!(import.contains("absent or `-`"), "{import}");
}

#[test]
fn an_error_in_a_closure_names_its_line_and_the_call_that_ran_it() {
    let tmp = tempfile::tempdir().unwrap();
    let script = "let s = persist::store();\n\
                  s.append(\"orders\", #{id: 1, amount: 30});\n\
                  s.append(\"orders\", #{id: 2});\n\
                  \n\
                  let total = |acc, r| acc + r.data.amount;\n\
                  print(s.project(\"orders\", 0, total));\n";
    let out = run_script(tmp.path(), "tour.rhai", script, None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let file = tmp.path().join("tour.rhai").display().to_string();
    assert!(
        err.starts_with(&format!("{file}:5:26: Function not found: + (i64, ())\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "  in closure at {file}:5:26, called by project at {file}:6\n"
        )),
        "{err}"
    );
}

#[test]
fn a_step_returning_unit_is_an_error_at_that_record() {
    let tmp = tempfile::tempdir().unwrap();
    let script = "let s = persist::store();\n\
                  s.append_all(\"orders\", [#{amount: 1}, #{amount: 2}]);\n\
                  s.project(\"orders\", 0, |acc, r| if r.seq < 2 { acc + r.data.amount });\n";
    let out = run_script(tmp.path(), "forgot.rhai", script, None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "persist: step returned () for stream \"orders\" seq 2: a step must return the new value"
        ),
        "{err}"
    );
}

#[test]
fn a_store_prints_its_backend_and_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let script = "print(persist::store()); print(persist::mem());";
    let out = run_script(tmp.path(), "p.rhai", script, Some(&dir));
    assert_eq!(
        text(&out.stdout),
        format!("Store(disk: {})\nStore(mem)\n", dir.display())
    );
}

#[test]
fn the_examples_run_twice_on_a_kept_store() {
    let tmp = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/examples");
    for entry in fs::read_dir(&examples).unwrap() {
        let file = entry.unwrap().path();
        let store = tmp.path().join(file.file_stem().unwrap());
        for run in 1..=2 {
            let out = persist(
                &[
                    "run",
                    file.to_str().unwrap(),
                    "--store",
                    store.to_str().unwrap(),
                ],
                None,
            );
            assert!(
                out.status.success(),
                "{} run {run}: {}",
                file.display(),
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn import_reads_stdin_for_a_dash_and_names_one_line_number() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let dump = "{\"type\":\"stream\",\"stream\":\"a\",\"last_seq\":1}\n{\"type\":\"record\",\"stream\":\"a\",\"seq\":1,\"pos\":1,\"at\":5,\"data\":1}\n{\"type\":\"global\",\"last_pos\":1}\n";
    let out = persist(&["import", dir.to_str().unwrap(), "-"], Some(dump));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = persist(&["export", dir.to_str().unwrap()], None);
    assert_eq!(text(&again.stdout), dump);
    let bad = "{\"type\":\"stream\",\"stream\":\"a\",\"last_seq\":1}\n{\"type\":\"record\" \"stream\":\"a\"}\n";
    let out = persist(
        &["import", tmp.path().join("t").to_str().unwrap(), "-"],
        Some(bad),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("line 2, column 18: malformed: "), "{err}");
    assert_eq!(err.matches("line").count(), 1, "{err}");
}

#[test]
fn verify_reads_as_plain_words_and_exits_two_when_it_cannot_check_one_on_no_store() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let dir = tmp.path().join("store");
    let ok = text(&persist(&["verify", dir.to_str().unwrap()], None).stdout);
    assert!(ok.contains("hint: consistent\n"), "{ok}");
    assert!(ok.contains(", 0 faults\n"), "{ok}");
    let missing = persist(&["verify", tmp.path().join("nope").to_str().unwrap()], None);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing.stderr));
    // A store another handle holds cannot be checked: 2.
    let (held, _) = persist::ondisk::DiskLog::open(&dir).unwrap();
    let in_use = persist(&["verify", dir.to_str().unwrap()], None);
    assert_eq!(in_use.status.code(), Some(2), "{}", text(&in_use.stderr));
    drop(held);
}

#[test]
fn export_into_a_closed_pipe_ends_quietly_with_zero() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("big");
    // Far more than a pipe buffers, so export is still writing when the
    // reader goes away.
    let script = "let s = persist::store(); for i in 0..40 { let b = []; for j in 0..500 { b.push(#{i: i, j: j, note: \"padding padding padding padding padding\"}) } s.append_all(\"a\", b); }";
    let out = run_script(tmp.path(), "big.rhai", script, Some(&store));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_persist"))
        .args(["export", store.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"stream\""), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let bytes = if e.path().is_file() {
                fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn read_only_tools_on_a_directory_that_is_not_a_store_say_so_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let unrelated = tmp.path().join("unrelated");
    fs::create_dir(&unrelated).unwrap();
    fs::write(unrelated.join("notes.txt"), "mine").unwrap();
    for dir in [empty.as_path(), unrelated.as_path(), Path::new("/")] {
        let before = listing(dir);
        // Not a store: 1 from every read-only tool (SPEC 6).
        for (cmd, code) in [("inspect", 1), ("verify", 1), ("export", 1)] {
            let out = persist(&[cmd, dir.to_str().unwrap()], None);
            assert_eq!(out.status.code(), Some(code), "{cmd} {}", dir.display());
            assert!(
                text(&out.stderr).contains("not a persist store: no segments"),
                "{cmd} {}: {}",
                dir.display(),
                text(&out.stderr)
            );
        }
        assert_eq!(listing(dir), before, "{} changed", dir.display());
    }
}

#[test]
fn read_only_tools_report_a_torn_tail_without_cutting_it() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let dir = tmp.path().join("store");
    let last = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max()
        .unwrap();
    // Bytes after the durable end of the last segment, as a torn write
    // after a reopen would leave them.
    let mut bytes = fs::read(&last).unwrap();
    bytes.extend_from_slice(b"\x07torn write");
    fs::write(&last, bytes).unwrap();
    let before = listing(&dir);
    for cmd in ["inspect", "export", "verify"] {
        let out = persist(&[cmd, dir.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", text(&out.stderr));
        let all = text(&out.stdout) + text(&out.stderr).as_str();
        assert!(all.contains("torn tail"), "{cmd}: {all}");
        assert_eq!(listing(&dir), before, "{cmd} changed the store");
    }
}

#[test]
fn import_refuses_a_directory_that_is_not_empty_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("keep.txt"), "mine").unwrap();
    let good = "{\"type\":\"stream\",\"stream\":\"a\",\"last_seq\":1}\n";
    let out = persist(&["import", dir.to_str().unwrap()], Some(good));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        listing(&dir),
        vec![("keep.txt".to_string(), b"mine".to_vec())]
    );
}

#[test]
fn open_with_an_empty_path_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("empty.rhai");
    fs::write(&script, "persist::open(\"\");").unwrap();
    let out = persist(&["run", script.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
}
