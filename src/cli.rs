//! The `persist` command line: argument parsing and dispatch. Each command's
//! work lives in the library; this file only wires it to the terminal.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::script::{self, BackendKind, Config};
use crate::{repl, runner, tools};

#[derive(Parser, Debug)]
#[command(
    name = "persist",
    version,
    about = "An event-sourced persistence kernel, scriptable in Rhai"
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
        /// What persist::store() returns: mem, mock, disk or pg (a fresh schema
        /// on the server in PERSIST_PG_URL, default
        /// postgres://postgres@127.0.0.1:5432/test).
        #[arg(long, default_value = "mem")]
        backend: BackendKind,
        /// Operation budget per test (0 = unlimited).
        #[arg(long, default_value_t = runner::MAX_OPERATIONS)]
        max_operations: u64,
    },
    /// Run a script.
    Run {
        file: PathBuf,
        /// Make persist::store() open the on-disk store in DIR, or the
        /// PostgreSQL store at a postgres://user@host:port/db URL.
        #[arg(long, value_name = "DIR|URL")]
        store: Option<PathBuf>,
    },
    /// An interactive session with `store` bound to persist::store().
    Repl {
        /// Make persist::store() open the on-disk store in DIR, or the
        /// PostgreSQL store at a postgres://user@host:port/db URL.
        #[arg(long, value_name = "DIR|URL")]
        store: Option<PathBuf>,
    },
    /// Show a store's streams (first seq, last seq, records kept), kv key
    /// count, segments and bytes on disk.
    Inspect {
        /// The store directory or postgres:// URL.
        dir: PathBuf,
    },
    /// Check every frame's checksum and the indexes; exit 1 with the file
    /// and offset of each fault when damaged.
    Verify {
        /// The store directory or postgres:// URL.
        dir: PathBuf,
    },
    /// Dump a store as JSON lines on stdout: each stream's last seq and
    /// records (with seq and at), then every kv entry.
    Export {
        /// The store directory or postgres:// URL.
        dir: PathBuf,
        /// Only this stream (and no kv entries).
        #[arg(long, value_name = "NAME")]
        stream: Option<String>,
    },
    /// Restore a dump made by `export` into an empty store, exactly.
    Import {
        /// The store directory or postgres:// URL (created if missing; must
        /// be empty).
        dir: PathBuf,
        /// The dump; standard input when absent.
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
        Command::Verify { dir } => tool(tools::verify(&dir, &mut std::io::stdout().lock())),
        Command::Export { dir, stream } => tool(tools::export(
            &dir,
            stream.as_deref(),
            &mut std::io::stdout().lock(),
        )),
        Command::Import { dir, file } => tool(match file {
            Some(f) => std::fs::File::open(&f)
                .map_err(|e| crate::Error::io(&f, "open dump", e))
                .and_then(|h| tools::import(&dir, &mut std::io::BufReader::new(h))),
            None => tools::import(&dir, &mut std::io::stdin().lock()),
        }),
    }
}

/// A tool's exit code, or its error on stderr and exit 1.
fn tool(result: crate::Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        eprintln!("persist: {e}");
        1
    })
}

fn run_script(file: &std::path::Path, store: Option<PathBuf>) -> i32 {
    let cfg = Config {
        backend: BackendKind::Mem,
        store_dir: store,
        max_operations: 0,
    };
    let (engine, session) = script::engine(&cfg);
    let result = engine.run_file(file.to_path_buf());
    session.reset();
    match result {
        Ok(()) => 0,
        Err(e) => {
            let line = e
                .position()
                .line()
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            eprintln!("{}{line}: {}", file.display(), script::error_message(&e));
            1
        }
    }
}
