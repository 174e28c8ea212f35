//! The kernel does not depend on Rhai: only the script layer (and the
//! runner, REPL and CLI built on it) may name it. A kernel type that must
//! carry a script value holds it opaquely (`value::ForeignData`).

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The parts of `src/` that are the script layer or built on it.
const SCRIPT_SIDE: [&str; 5] = ["script", "runner", "repl.rs", "cli.rs", "main.rs"];

/// Every kernel source file: the `.rs` files under `src/` outside
/// `SCRIPT_SIDE`.
fn kernel_files() -> Vec<PathBuf> {
    let src = Path::new(ROOT).join("src");
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(&src) {
        let e = e.expect("walk src/");
        let rel = e.path().strip_prefix(&src).expect("under src/");
        let top = rel.components().next().map(|c| c.as_os_str());
        if top.is_some_and(|t| SCRIPT_SIDE.iter().any(|s| t == *s)) {
            continue;
        }
        if e.file_type().is_file() && rel.extension().is_some_and(|x| x == "rs") {
            out.push(e.into_path());
        }
    }
    out
}

/// `file:line: text` for each line of `text` that names the `rhai` crate
/// (`rhai::`, `use rhai`, or any identifier containing it).
fn mentions(file: &Path, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains("rhai"))
        .map(|(i, line)| format!("{}:{}: {}", file.display(), i + 1, line.trim()))
        .collect()
}

#[test]
fn kernel_source_files_do_not_mention_rhai() {
    let files = kernel_files();
    // A walk that found nothing would pass; these are kernel files.
    for known in ["lib.rs", "value.rs", "upcast.rs", "global/mod.rs"] {
        let path = Path::new(ROOT).join("src").join(known);
        assert!(files.contains(&path), "{} was not walked", path.display());
    }
    assert!(
        !files.iter().any(|f| f.ends_with("script/mod.rs")),
        "the script layer was walked"
    );
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| mentions(f, &std::fs::read_to_string(f).expect("read source")))
        .collect();
    assert!(
        found.is_empty(),
        "kernel files name rhai (the kernel must not depend on the script layer; \
         hold script values as `value::ForeignData`):\n{}",
        found.join("\n")
    );
}

#[test]
fn mentions_finds_each_way_of_naming_rhai() {
    let f = Path::new("x.rs");
    let text = "use rhai::Dynamic;\nlet m = rhai::Map::new();\n// Rhai's ()\nfn rhai_seq() {}\n";
    let found = mentions(f, text);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("x.rs:1: use rhai"), "{found:?}");
}
