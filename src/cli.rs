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
  2  `verify` could not check the store (in use, unreadable); a directory
     that is not a store is 1, as for every read-only tool
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
    #[command(
        after_help = "Each test also runs under size limits (strings 64 MiB, arrays and \
maps 1,000,000 items, nested ones included; call depth 64); a test over a limit fails \
naming it, and the run goes on.\n\nExit status: 0 when at least one test ran and none \
failed, 1 otherwise, 130 after Ctrl-C (which stops the running test and prints the \
summary of what ran)."
    )]
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
        /// Wall-clock limit per test, in seconds (0 = none).
        #[arg(long, value_name = "SECONDS", default_value_t = runner::TIMEOUT.as_secs_f64())]
        timeout: f64,
        /// Also write the results as JUnit XML to PATH.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// What standard output shows: text, or json (one object per test,
        /// then a summary object).
        #[arg(long, default_value = "text")]
        format: runner::Format,
        /// Print the tests that would run, without running them.
        #[arg(long)]
        list: bool,
        /// Stop at the first failure.
        #[arg(long)]
        fail_fast: bool,
        /// Show each test's time.
        #[arg(short, long)]
        verbose: bool,
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
        /// missing), so what the script stores survives the run, or the
        /// PostgreSQL store at a postgres://user@host:port/db URL.
        #[arg(long, value_name = "DIR|URL")]
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
        /// missing), or the PostgreSQL store at a postgres://user@host:port/db
        /// URL.
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
    /// and offset of each fault when damaged or not a store, 2 when it could
    /// not check (in use, unreadable).
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
        /// The store directory or postgres:// URL (created if missing; must
        /// be empty).
        dir: PathBuf,
        /// The dump made by `export`; standard input when absent or `-`.
        file: Option<PathBuf>,
    },
    /// Salvage a damaged store: copy every record and kv entry that still
    /// checks out into a new store, never changing DIR, and report what was
    /// lost (per stream, the seqs; per file, the byte ranges skipped).
    #[command(after_help = "\
Exit status: 0 when nothing was lost, 1 when something was (or recovery
failed: then NEW is left as it was).")]
    Recover {
        /// The damaged store directory (only read).
        dir: PathBuf,
        /// Where the new store goes (created; must be missing or empty).
        #[arg(long, value_name = "NEW")]
        to: PathBuf,
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
            timeout,
            junit,
            format,
            list,
            fail_fast,
            verbose,
        } => {
            let timeout = match timeout {
                t if t.is_finite() && t > 0.0 => Some(std::time::Duration::from_secs_f64(t)),
                0.0 => None,
                t => {
                    eprintln!("persist test: --timeout must be a number of seconds >= 0, got {t}");
                    return 2;
                }
            };
            let opts = runner::Options {
                paths: if paths.is_empty() {
                    vec![PathBuf::from("scripts")]
                } else {
                    paths
                },
                filter,
                backend,
                limits: runner::Limits {
                    max_operations,
                    timeout,
                    ..runner::Limits::default()
                },
                format,
                verbose,
                fail_fast,
                junit,
            };
            if list {
                return list_tests(&opts);
            }
            runner::install_ctrl_c();
            match runner::run(&opts, &mut std::io::stdout()) {
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
        Command::Verify { dir } => verify(&dir),
        Command::Export { dir, stream } => tool(tools::export(
            &dir,
            stream.as_deref(),
            &mut std::io::stdout().lock(),
        )),
        Command::Recover { dir, to } => {
            tool(tools::recover(&dir, &to, &mut std::io::stdout().lock()))
        }
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

/// `persist verify`: 0 sound, 1 damaged or not a store (SPEC 6: every
/// read-only tool exits 1 on a directory that is not a store), 2 when the
/// store could not be checked (in use, unreadable).
fn verify(dir: &std::path::Path) -> i32 {
    let result = tools::verify(dir, &mut std::io::stdout().lock());
    // A missing directory, a directory with no segments, a PostgreSQL
    // schema with no persist tables.
    let not_a_store = match &result {
        Err(crate::Error::Io { source, .. }) => source.kind() == std::io::ErrorKind::NotFound,
        Err(e) => e.to_string().contains("not a persist store"),
        Ok(_) => false,
    };
    tool_or(result, if not_a_store { 1 } else { 2 })
}

/// `persist test --list`: the tests' names on stdout, files that do not
/// parse on stderr (exit 1 if any).
fn list_tests(opts: &runner::Options) -> i32 {
    match runner::list(opts) {
        Ok((names, broken)) => {
            for name in &names {
                println!("{name}");
            }
            for f in &broken {
                eprintln!("{}: {} (at {})", f.name, f.message, f.location);
            }
            i32::from(!broken.is_empty())
        }
        Err(e) => {
            eprintln!("persist test: {e}");
            1
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
    let (mut engine, session) = script::engine(&cfg);
    runner::install_ctrl_c();
    runner::stop_on_ctrl_c(&mut engine);
    let result = engine.run(&source);
    // Closes the store (releasing its lock) and removes temporary
    // directories, however the script ended.
    session.reset();
    match result {
        Ok(()) => 0,
        Err(e) if runner::was_interrupted(&e) => {
            eprintln!("{}: interrupted (Ctrl-C)", file.display());
            130
        }
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
