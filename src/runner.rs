//! The conformance runner (SPEC 4): discovers `.rhai` files, runs each
//! zero-argument `test_*` function in a fresh scope, reports.

use std::io::Write;
use std::path::{Path, PathBuf};

use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Position, Scope};

use crate::script::{self, BackendKind, Config};

/// Default operation budget per test: an endless loop fails in seconds.
pub const MAX_OPERATIONS: u64 = 50_000_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub filter: Option<String>,
    pub backend: BackendKind,
    pub max_operations: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            paths: vec![PathBuf::from("scripts")],
            filter: None,
            backend: BackendKind::Mem,
            max_operations: MAX_OPERATIONS,
        }
    }
}

/// One failed test (or unparsable file).
#[derive(Debug, Clone)]
pub struct Failure {
    pub name: String,
    pub message: String,
    /// `file:line`, when known.
    pub location: String,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub passed: usize,
    pub failures: Vec<Failure>,
}

impl Summary {
    /// SPEC 4: 0 when nothing failed and at least one test ran.
    pub fn exit_code(&self) -> i32 {
        match self.failures.is_empty() && self.passed > 0 {
            true => 0,
            false => 1,
        }
    }
}

/// Every `.rhai` file under `paths`, each path's files in sorted order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for root in paths {
        if !root.exists() {
            return Err(format!("{}: no such file or directory", root.display()));
        }
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
            if entry.file_type().is_file() && entry.path().extension().is_some_and(|x| x == "rhai")
            {
                files.push(entry.into_path());
            }
        }
    }
    Ok(files)
}

/// Runs the suite, printing one line per test and the summary to `out`.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Summary, String> {
    let files = discover(&opts.paths)?;
    let cfg = Config {
        backend: opts.backend,
        store_dir: None,
        max_operations: opts.max_operations,
    };
    let (engine, session) = script::engine(&cfg);
    let mut summary = Summary::default();
    for file in &files {
        run_file(&engine, &session, file, opts, &mut summary, out);
    }
    report(&summary, out);
    Ok(summary)
}

fn run_file(
    engine: &Engine,
    session: &script::Session,
    file: &Path,
    opts: &Options,
    summary: &mut Summary,
    out: &mut dyn Write,
) {
    let shown = file.display().to_string();
    let ast = match std::fs::read_to_string(file)
        .map_err(|e| (e.to_string(), Position::NONE))
        .and_then(|text| engine.compile(text).map_err(|e| (e.0.to_string(), e.1)))
    {
        Ok(ast) => ast,
        Err((message, pos)) => {
            if opts
                .filter
                .as_ref()
                .is_none_or(|f| shown.contains(f.as_str()))
            {
                let _ = writeln!(out, "test {shown} ... FAILED");
                summary.failures.push(Failure {
                    name: shown.clone(),
                    message: format!("does not parse: {message}"),
                    location: location(&shown, pos),
                });
            }
            return;
        }
    };
    let mut tests: Vec<String> = ast
        .iter_functions()
        .filter(|f| f.name.starts_with("test_") && f.params.is_empty())
        .map(|f| f.name.to_string())
        .collect();
    tests.sort();
    for test in tests {
        let name = format!("{shown}::{test}");
        if opts
            .filter
            .as_ref()
            .is_some_and(|f| !name.contains(f.as_str()))
        {
            continue;
        }
        let result = engine.call_fn_with_options::<Dynamic>(
            CallFnOptions::new(),
            &mut Scope::new(),
            &ast,
            &test,
            (),
        );
        session.reset();
        match result {
            Ok(_) => {
                let _ = writeln!(out, "test {name} ... ok");
                summary.passed += 1;
            }
            Err(e) => {
                let _ = writeln!(out, "test {name} ... FAILED");
                summary.failures.push(Failure {
                    name,
                    message: match e.unwrap_inner() {
                        EvalAltResult::ErrorTooManyOperations(_) => format!(
                            "exceeded the operation limit of {} (an endless loop?)",
                            opts.max_operations
                        ),
                        _ => script::error_message(&e),
                    },
                    location: location(&shown, innermost_position(&e)),
                });
            }
        }
        let _ = out.flush();
    }
}

/// The position of the deepest error that has one (where it was raised).
fn innermost_position(e: &EvalAltResult) -> Position {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, pos)
        | EvalAltResult::ErrorInModule(_, inner, pos) => {
            let p = innermost_position(inner);
            if p.is_none() { *pos } else { p }
        }
        other => other.position(),
    }
}

fn location(file: &str, pos: Position) -> String {
    match pos.line() {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
}

fn report(summary: &Summary, out: &mut dyn Write) {
    if !summary.failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for f in &summary.failures {
            let _ = writeln!(
                out,
                "\n---- {} ----\n{}\n  at {}",
                f.name, f.message, f.location
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed",
        summary.passed,
        summary.failures.len()
    );
}
