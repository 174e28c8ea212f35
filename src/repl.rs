//! `persist repl`: the persist engine handed to the generic REPL
//! (`persist-repl`), with `store` bound to `persist::store()`.

use std::path::PathBuf;

use persist_repl::Repl;
use rhai::{Dynamic, Scope};

use crate::script::{self, BackendKind, Config};

const HELP: &str = "\
`store` is persist::store(): try store.append(\"orders\", #{qty: 2}),
store.read(\"orders\") or store.project(\"orders\", 0, |n, r| n + r.data.qty).
Tab after `store.` lists what a Store can do (:doc NAME explains one); after `persist::` the
functions that make stores, hubs and content stores.";

/// Runs the session; returns the process exit code (1 when the store
/// cannot be opened or the terminal fails).
pub fn run(store_dir: Option<PathBuf>) -> i32 {
    let where_ = match &store_dir {
        Some(dir) => format!(
            "the store in {}",
            crate::pg::redact(&dir.display().to_string())
        ),
        None => "a store in memory".to_string(),
    };
    let cfg = Config {
        backend: BackendKind::Mem,
        store_dir,
        max_operations: 0,
    };
    let (engine, session) = script::engine(&cfg);
    let store = match engine.eval::<Dynamic>("persist::store()") {
        Ok(store) => store,
        Err(e) => {
            eprintln!("{}", script::error_message(&e));
            return 1;
        }
    };
    let mut scope = Scope::new();
    scope.push("store", store);
    let reference = script::reference::entries(&engine);
    let mut repl = Repl::new(engine, scope)
        .doc_lookup(move |name| script::reference::describe(&reference, name))
        .prompt("persist> ")
        .greeting(format!(
            "persist repl: `store` is {where_}. :help for help, Ctrl-D to leave."
        ))
        .help_text(HELP);
    if let Some(path) = history_path() {
        repl = repl.history_file(path);
    }
    let result = repl.run();
    session.reset();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("persist repl: {e}");
            1
        }
    }
}

/// `$PERSIST_HISTORY`, else `~/.persist_history`; no history without either.
fn history_path() -> Option<PathBuf> {
    std::env::var_os("PERSIST_HISTORY")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".persist_history")))
}
