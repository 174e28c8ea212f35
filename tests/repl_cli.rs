//! `persist repl --store DIR` with inputs piped in (no terminal: rustyline
//! reads them as lines).

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Output};

/// Runs `persist repl --store STORE` on `input`, history kept beside it.
fn repl(store: &Path, dir: &Path, input: &str) -> Output {
    let input_file = dir.join("input.rhai");
    fs::write(&input_file, input).unwrap();
    Command::new(env!("CARGO_BIN_EXE_persist"))
        .arg("repl")
        .arg("--store")
        .arg(store)
        .env("PERSIST_HISTORY", dir.join("history"))
        .stdin(File::open(&input_file).unwrap())
        .output()
        .unwrap()
}

#[test]
fn a_store_directory_outlives_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let first = repl(&store, dir.path(), "store.append(\"orders\", #{qty: 2})\n");
    assert!(first.status.success(), "{first:?}");
    let second = repl(&store, dir.path(), "store.read(\"orders\")\n");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{second:?}");
    assert!(
        stdout.contains(&format!("`store` is the store in {}", store.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("[\n  #{stream: \"orders\", seq: 1, pos: 1, at: "),
        "{stdout}"
    );
    assert!(stdout.contains(", data: #{qty: 2}},\n]\n"), "{stdout}");
}

/// A store that cannot be opened is reported before any prompt, exit 1.
#[test]
fn a_store_that_cannot_be_opened_ends_the_repl() {
    let dir = tempfile::tempdir().unwrap();
    let out = repl(Path::new("/dev/null/store"), dir.path(), "1 + 1\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("/dev/null/store"), "stderr: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains('2'));
}

/// Piped input runs like typed input (continuation lines included), but is
/// not a person's history.
#[test]
fn piped_input_runs_and_leaves_no_history() {
    let dir = tempfile::tempdir().unwrap();
    let out = repl(
        &dir.path().join("store"),
        dir.path(),
        "fn f(x) {\n  x * 2\n}\nf(21)\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.lines().any(|l| l == "42"), "{stdout}");
    assert!(
        !dir.path().join("history").exists(),
        "piped input wrote the history file"
    );
}
