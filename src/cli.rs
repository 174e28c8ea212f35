//! The `persist` command line: argument parsing and dispatch. Each command's
//! work lives in the library; this file only wires it to the terminal.

// clap makes `--help` from these doc comments: `<file>` there is literal text.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::script::{self, BackendKind, Config};
use crate::{repl, runner, tools};

/// The exit codes, as `--help` lists them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  done (for `test`: every test passed and at least one ran)
  1  failed: a script error, a failing test, a tool's error, a damaged store
  2  `verify` could not check the store (missing, in use, unreadable)
A closed output pipe (`persist export DIR | head`) ends quietly with 0.";

#[derive(Parser, Debug)]
#[command(
    name = "persist",
    version,
    about = "An event-sourced persistence kernel, scriptable in Rhai",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the conformance runner over .rhai files (default: scripts/).
    Test {
        /// Files or directories to search for .rhai files.
        paths: Vec<PathBuf>,
        /// Run only tests whose <file>::<function> contains TEXT.
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        /// What persist::store() returns: mem, mock or disk.
        #[arg(long, default_value = "mem")]
        backend: BackendKind,
        /// Operation budget per test (0 = unlimited).
        #[arg(long, default_value_t = runner::MAX_OPERATIONS)]
        max_operations: u64,
    },
    /// Run a Rhai script. persist::store() is a fresh store in memory,
    /// gone when the script ends, unless --store names a directory.
    #[command(after_help = "\
On an error the script stops: the message, where it was raised and the calls
that led there go to stderr, and the exit code is 1.")]
    Run {
        /// The .rhai script to run.
        file: PathBuf,
        /// Make persist::store() open the on-disk store in DIR (created if
        /// missing), so what the script stores survives the run.
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
    },
    /// An interactive session with `store` bound to persist::store() (in
    /// memory unless --store names a directory).
    #[command(after_help = "\
Type Rhai and press Enter; an open bracket, brace or string continues on the
next line under a `...>` prompt. Variables and functions stay defined. Tab
completes names (after `name.` the methods of that value's type), Ctrl-C
drops the input being typed or stops the one running, Ctrl-D leaves.

Commands:
  :help         help
  :load FILE    run FILE in the session
  :set limit N  print the first N items of results (default 10, 0 = all)
  :quit         leave

History is kept in $PERSIST_HISTORY, else ~/.persist_history, and only for
an interactive session (piped input is not recorded).")]
    Repl {
        /// Make persist::store() open the on-disk store in DIR (created if
        /// missing).
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
    },
    /// Show a store's streams (first seq, last seq, records kept), kv key
    /// count, segments and bytes on disk.
    Inspect {
        /// The store directory.
        dir: PathBuf,
    },
    /// Check every frame's checksum and the indexes; exit 1 with the file
    /// and offset of each fault when damaged, 2 when it could not check.
    Verify {
        /// The store directory.
        dir: PathBuf,
    },
    /// Dump a store as JSON lines on stdout: each stream's last seq and
    /// records (with seq and at), then every kv entry.
    Export {
        /// The store directory.
        dir: PathBuf,
        /// Only this stream (and no kv entries).
        #[arg(long, value_name = "NAME")]
        stream: Option<String>,
    },
    /// Print the Rhai API reference (docs/api.md), or the entries of one
    /// function: `persist doc append`.
    Doc {
        /// A function name (`append`, `s.append`, `persist::store`).
        name: Option<String>,
    },
    /// Print a Rhai definitions file (`persist defs > persist.d.rhai`) so
    /// editors with Rhai support complete `persist::` and the methods.
    Defs,
    /// Restore a dump made by `export` into an empty store, exactly.
    Import {
        /// The store directory (created if missing; must be empty).
        dir: PathBuf,
        /// The dump made by `export`; standard input when absent or `-`.
        file: Option<PathBuf>,
    },
}

/// Runs a parsed command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::Test {
            paths,
            filter,
            backend,
            max_operations,
        } => {
            let opts = runner::Options {
                paths: if paths.is_empty() {
                    vec![PathBuf::from("scripts")]
                } else {
                    paths
                },
                filter,
                backend,
                max_operations,
            };
            let stdout = std::io::stdout();
            match runner::run(&opts, &mut stdout.lock()) {
                Ok(summary) => summary.exit_code(),
                Err(e) => {
                    eprintln!("persist test: {e}");
                    1
                }
            }
        }
        Command::Run { file, store } => run_script(&file, store),
        Command::Repl { store } => repl::run(store),
        Command::Inspect { dir } => tool(tools::inspect(&dir, &mut std::io::stdout().lock())),
        // 2, not 1, when the check itself could not be made.
        Command::Verify { dir } => tool_or(tools::verify(&dir, &mut std::io::stdout().lock()), 2),
        Command::Export { dir, stream } => tool(tools::export(
            &dir,
            stream.as_deref(),
            &mut std::io::stdout().lock(),
        )),
        Command::Doc { name } => tool(script::reference::doc(
            name.as_deref(),
            &mut std::io::stdout().lock(),
        )),
        Command::Defs => tool(script::reference::defs(&mut std::io::stdout().lock())),
        Command::Import { dir, file } => tool(match file.filter(|f| f.as_os_str() != "-") {
            Some(f) => std::fs::File::open(&f)
                .map_err(|e| crate::Error::io(&f, "open dump", e))
                .and_then(|h| tools::import(&dir, &mut std::io::BufReader::new(h))),
            None => tools::import(&dir, &mut std::io::stdin().lock()),
        }),
    }
}

/// A tool's exit code, or its error on stderr and exit 1.
fn tool(result: crate::Result<i32>) -> i32 {
    tool_or(result, 1)
}

/// A tool's exit code, or its error on stderr and `failed`. A closed
/// output pipe (`persist export DIR | head`) is not an error: the reader
/// had what it wanted.
fn tool_or(result: crate::Result<i32>, failed: i32) -> i32 {
    match result {
        Ok(code) => code,
        Err(crate::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            0
        }
        Err(e) => {
            eprintln!("persist: {e}");
            failed
        }
    }
}

/// Runs `file`; on an error prints `FILE:LINE:COLUMN: message` where it was
/// raised, then the calls that led there.
fn run_script(file: &std::path::Path, store: Option<PathBuf>) -> i32 {
    let source = match std::fs::read_to_string(file) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("persist: cannot read {}: {e}", file.display());
            return 1;
        }
    };
    let cfg = Config {
        backend: BackendKind::Mem,
        store_dir: store,
        max_operations: 0,
    };
    let (engine, session) = script::engine(&cfg);
    let result = engine.run(&source);
    session.reset();
    match result {
        Ok(()) => 0,
        Err(e) => {
            let name = file.display();
            let at = |p: rhai::Position, column: bool| match (p.line(), p.position()) {
                (Some(l), Some(c)) if column => format!("{name}:{l}:{c}"),
                (Some(l), _) => format!("{name}:{l}"),
                _ => name.to_string(),
            };
            let message = script::error_message(&e);
            eprintln!(
                "{}: {message}",
                at(persist_repl::innermost_position(&e), true)
            );
            if let Some(chain) = persist_repl::call_chain(&e, &source, &at) {
                eprintln!("  {chain}");
            }
            1
        }
    }
}
