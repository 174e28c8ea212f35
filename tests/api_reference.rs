//! The Rhai API reference is generated from the code and cannot drift:
//! every registered function has a doc comment, and `docs/api.md` is what
//! the code generates (`cargo run -q -- doc > docs/api.md` refreshes it).

use persist::script::{Config, engine, reference};

fn entries() -> Vec<reference::Entry> {
    reference::entries(&engine(&Config::default()).0)
}

#[test]
fn every_registered_function_has_a_doc_comment() {
    let missing: Vec<String> = entries()
        .iter()
        .filter(|e| e.doc().is_empty())
        .map(|e| e.signature())
        .collect();
    assert!(
        missing.is_empty(),
        "functions without a /// doc comment: {missing:#?}"
    );
}

#[test]
fn the_committed_reference_is_what_the_code_generates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = reference::render(&entries());
    assert!(
        committed == generated,
        "docs/api.md is out of date: run `cargo run -q -- doc > docs/api.md`"
    );
}

#[test]
fn signatures_are_written_as_scripts_call_them() {
    let all = entries();
    let sig = |name: &str| -> Vec<String> {
        reference::lookup(&all, name)
            .iter()
            .map(|e| e.signature())
            .collect()
    };
    assert_eq!(sig("s.append"), ["s.append(stream, event) -> int"]);
    assert_eq!(sig("persist::store"), ["persist::store() -> Store"]);
    assert_eq!(
        sig("read"),
        [
            "s.read(stream) -> array",
            "s.read(stream, after) -> array",
            "s.read(stream, after, limit) -> array"
        ]
    );
    assert_eq!(sig("attach"), ["h.attach(v) -> int"]);
    assert!(sig("no_such_function").is_empty());
}

#[test]
fn definitions_use_the_names_scripts_see() {
    let defs = reference::definitions(&engine(&Config::default()).0);
    assert!(defs.contains("module persist {"), "{defs}");
    assert!(
        defs.contains("fn append(s: Store, stream: ?, event: ?) -> int;"),
        "{defs}"
    );
    assert!(defs.contains("fn store() -> Store;"), "{defs}");
    assert!(
        !defs.contains("RhaiResult") && !defs.contains("Handle"),
        "{defs}"
    );
}

/// Runs the binary with `stdin` as its input: exit code, stdout, stderr.
fn persist(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut input = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut input, stdin.as_bytes()).unwrap();
    std::io::Seek::rewind(&mut input).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_persist"))
        .args(args)
        .env("PERSIST_HISTORY", "")
        .stdin(input)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (
        out.status.code().unwrap(),
        text(out.stdout),
        text(out.stderr),
    )
}

#[test]
fn persist_doc_prints_the_reference_or_one_function() {
    let (code, all, _) = persist(&["doc"], "");
    assert_eq!(code, 0);
    assert_eq!(all, reference::render(&entries()));
    let (code, one, _) = persist(&["doc", "s.kv_get"], "");
    assert_eq!(
        (code, one.as_str()),
        (
            0,
            "### `s.kv_get(key)`\n\nThe value under `key`, or `()`.\n"
        )
    );
    let (code, _, err) = persist(&["doc", "kv_gte"], "");
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "persist: doc: no function named \"kv_gte\" (`persist doc` lists them all)\n"
    );
}

#[test]
fn persist_defs_prints_the_definitions_and_the_repl_answers_doc() {
    let (code, defs, _) = persist(&["defs"], "");
    assert_eq!(code, 0);
    assert!(defs.contains("module persist {"), "{defs}");
    let (code, out, err) = persist(&["repl"], ":doc kv_del\n:doc kv_gte\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("### `s.kv_del(key) -> bool`\n\nRemoves `key`; returns whether it existed."),
        "{out}"
    );
    assert!(err.contains("no function named \"kv_gte\""), "{err}");
}
