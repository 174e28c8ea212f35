//! The conformance runner (SPEC 4): discovers `.rhai` files, runs each
//! zero-argument `test_*` function in a fresh scope, reports.
//!
//! A test that loops, allocates or recurses without bound fails on its own
//! (`guard`), and the run goes on to its summary. Tests run on a thread with
//! a large stack: Rhai clones and drops nested values recursively, and a
//! value nested as deep as the size limits allow must not overflow it.

mod guard;
mod report;

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Position, Scope};

use crate::script::{self, BackendKind, Config};

pub use guard::{
    Limits, Stopped, install_ctrl_c, interrupted, stop_on_ctrl_c, stopped, was_interrupted,
};
pub use report::Format;

/// Default operation budget per test: an endless loop fails in seconds.
pub const MAX_OPERATIONS: u64 = 50_000_000;
/// Default wall-clock limit per test (`--timeout`).
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Stack of the thread tests run on (reserved, touched only as used).
const STACK: usize = 1 << 30;

#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub filter: Option<String>,
    pub backend: BackendKind,
    /// Operation budget, time and sizes, per test.
    pub limits: Limits,
    pub format: Format,
    /// Per-test time on each line.
    pub verbose: bool,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Also write the results as JUnit XML here.
    pub junit: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            paths: vec![PathBuf::from("scripts")],
            filter: None,
            backend: BackendKind::Mem,
            limits: Limits::default(),
            format: Format::Text,
            verbose: false,
            fail_fast: false,
            junit: None,
        }
    }
}

impl Options {
    fn selects(&self, name: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| name.contains(f.as_str()))
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

/// One test that ran (or a file that did not parse: no `function`).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: String,
    pub function: Option<String>,
    pub time: Duration,
    pub failure: Option<Failure>,
}

impl Outcome {
    /// `<file>::<function>`, or the file alone.
    pub fn name(&self) -> String {
        match &self.function {
            Some(f) => format!("{}::{f}", self.file),
            None => self.file.clone(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub passed: usize,
    pub failures: Vec<Failure>,
    /// Every test that ran, in order.
    pub outcomes: Vec<Outcome>,
    /// Ctrl-C stopped the run; the test it stopped is in no count.
    pub interrupted: bool,
    /// Lines printed before the closing line (why the run stopped early,
    /// why nothing ran).
    pub notes: Vec<String>,
    pub time: Duration,
}

impl Summary {
    /// SPEC 4: 0 when nothing failed and at least one test ran; 130 after
    /// Ctrl-C.
    pub fn exit_code(&self) -> i32 {
        match (
            self.interrupted,
            self.failures.is_empty() && self.passed > 0,
        ) {
            (true, _) => 130,
            (false, true) => 0,
            (false, false) => 1,
        }
    }

    /// Prints and counts a finished test; `true` when the run stops here
    /// (`--fail-fast`).
    fn add(&mut self, o: Outcome, opts: &Options, out: &mut dyn Write) -> bool {
        report::test(out, opts.format, opts.verbose, &o);
        match &o.failure {
            Some(f) => self.failures.push(f.clone()),
            None => self.passed += 1,
        }
        let stop = o.failure.is_some() && opts.fail_fast;
        self.outcomes.push(o);
        if stop {
            self.notes
                .push("stopped at the first failure (--fail-fast)".into());
        }
        stop
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

/// The tests `run` would run, without running them (`--list`), and the
/// files that do not parse.
pub fn list(opts: &Options) -> Result<(Vec<String>, Vec<Failure>), String> {
    let engine = Engine::new();
    let (mut names, mut broken) = (Vec::new(), Vec::new());
    for file in discover(&opts.paths)? {
        match compile(&engine, &file) {
            Ok((_, ast)) => names.extend(
                tests_of(&ast)
                    .into_iter()
                    .map(|t| format!("{}::{t}", file.display()))
                    .filter(|n| opts.selects(n)),
            ),
            Err(f) => broken.push(f),
        }
    }
    Ok((names, broken))
}

/// Runs the suite, printing one line per test and the summary to `out`;
/// writes the JUnit report when asked.
pub fn run(opts: &Options, out: &mut (dyn Write + Send)) -> Result<Summary, String> {
    let files = discover(&opts.paths)?;
    let summary = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("persist-test".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || run_files(opts, &files, out))
            .map_err(|e| format!("cannot start the test thread: {e}"))?
            .join()
            .map_err(|_| "the test thread panicked".to_string())
    })?;
    if let Some(path) = &opts.junit {
        std::fs::write(path, report::junit(&summary))
            .map_err(|e| format!("{}: cannot write the JUnit report: {e}", path.display()))?;
    }
    Ok(summary)
}

/// What `run_files` needs for each test.
struct Bench<'a> {
    opts: &'a Options,
    engine: Engine,
    session: script::Session,
    clock: guard::Clock,
}

/// A test stopped by Ctrl-C: it is in no count.
struct Interrupted;

fn run_files(opts: &Options, files: &[PathBuf], out: &mut dyn Write) -> Summary {
    let started = Instant::now();
    let cfg = Config {
        backend: opts.backend,
        store_dir: None,
        max_operations: opts.limits.max_operations,
    };
    let (mut engine, session) = script::engine(&cfg);
    let clock = guard::apply(&mut engine, &opts.limits);
    if opts.format == Format::Json {
        // Standard output is for the JSON lines only.
        engine.on_print(|s| eprintln!("{s}"));
        engine.on_debug(|s, _, pos| eprintln!("{pos:?} | {s}"));
    }
    let bench = Bench {
        opts,
        engine,
        session,
        clock,
    };
    let mut summary = Summary::default();
    // A test name to show when the filter matched none.
    let mut example = None;
    'files: for file in files {
        let shown = file.display().to_string();
        let (text, ast) = match compile(&bench.engine, file) {
            Ok(compiled) => compiled,
            Err(failure) => {
                if opts.selects(&failure.name) {
                    let o = Outcome {
                        file: shown,
                        function: None,
                        time: Duration::ZERO,
                        failure: Some(failure),
                    };
                    if summary.add(o, opts, out) {
                        break 'files;
                    }
                }
                continue;
            }
        };
        for test in tests_of(&ast) {
            let name = format!("{shown}::{test}");
            example.get_or_insert_with(|| name.clone());
            if !opts.selects(&name) {
                continue;
            }
            match bench.run_test(&shown, &text, &ast, test) {
                Ok(o) => {
                    if summary.add(o, opts, out) {
                        break 'files;
                    }
                }
                Err(Interrupted) => {
                    summary.interrupted = true;
                    if opts.format == Format::Text {
                        let _ = writeln!(out, "test {name} ... interrupted");
                    }
                    break 'files;
                }
            }
        }
    }
    if summary.interrupted {
        summary
            .notes
            .push("interrupted (Ctrl-C): the tests after it did not run".into());
    } else if summary.outcomes.is_empty() {
        summary.notes.push(nothing_ran(opts, example.as_deref()));
    }
    summary.time = started.elapsed();
    report::summary(out, opts.format, &summary);
    summary
}

impl Bench<'_> {
    /// Runs one test under the limits; its stores and temporary
    /// directories are gone when it returns, however the test ended.
    fn run_test(
        &self,
        shown: &str,
        text: &str,
        ast: &AST,
        test: String,
    ) -> Result<Outcome, Interrupted> {
        if interrupted() {
            return Err(Interrupted);
        }
        let limits = &self.opts.limits;
        self.clock.start(limits.timeout);
        let t0 = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.engine.call_fn_with_options::<Dynamic>(
                CallFnOptions::new(),
                &mut Scope::new(),
                ast,
                &test,
                (),
            )
        }));
        let time = t0.elapsed();
        self.clock.start(None);
        self.session.reset();
        let failure = match result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => match stopped(&e, limits) {
                Some(Stopped::Interrupted) => return Err(Interrupted),
                Some(Stopped::Limit(message)) => Some((message, position(&e))),
                None => Some((script::error_message(&e), position(&e))),
            },
            Err(panic) => Some((panicked(panic), Position::NONE)),
        };
        Ok(Outcome {
            file: shown.to_string(),
            failure: failure.map(|(message, pos)| Failure {
                name: format!("{shown}::{test}"),
                message,
                location: location(shown, text, &test, pos),
            }),
            function: Some(test),
            time,
        })
    }
}

/// Why no test ran, and what would make one run.
fn nothing_ran(opts: &Options, example: Option<&str>) -> String {
    let paths: Vec<String> = opts.paths.iter().map(|p| p.display().to_string()).collect();
    match (&opts.filter, example) {
        (Some(f), Some(example)) => format!(
            "no test matched --filter {f:?}: it is matched against <file>::<function>, e.g. {example}"
        ),
        _ => format!(
            "no tests found in {} (a test is a zero-argument fn whose name starts with test_)",
            paths.join(", ")
        ),
    }
}

/// A file's text and AST, or its failure to read or parse.
fn compile(engine: &Engine, file: &Path) -> Result<(String, AST), Failure> {
    let shown = file.display().to_string();
    let fail = |message: String, pos: Position| Failure {
        name: shown.clone(),
        message: format!("does not parse: {message}"),
        location: at_line(&shown, pos.line()),
    };
    let text = std::fs::read_to_string(file).map_err(|e| fail(e.to_string(), Position::NONE))?;
    let ast = engine
        .compile(&text)
        .map_err(|e| fail(e.0.to_string(), e.1))?;
    Ok((text, ast))
}

/// A file's tests: zero-argument functions named `test_*`, sorted.
fn tests_of(ast: &AST) -> Vec<String> {
    let mut tests: Vec<String> = ast
        .iter_functions()
        .filter(|f| f.name.starts_with("test_") && f.params.is_empty())
        .map(|f| f.name.to_string())
        .collect();
    tests.sort();
    tests
}

/// The position of the deepest error that has one (where it was raised).
fn position(e: &EvalAltResult) -> Position {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, pos)
        | EvalAltResult::ErrorInModule(_, inner, pos) => {
            let p = position(inner);
            if p.is_none() { *pos } else { p }
        }
        other => other.position(),
    }
}

/// `file:line` of the error; when the engine gives no position (Rhai
/// reports none for a limit hit inside a function), the line of the test
/// function itself, so the failure still points somewhere.
fn location(file: &str, text: &str, test: &str, pos: Position) -> String {
    let line = pos.line().or_else(|| {
        let decl = format!("fn {test}(");
        text.lines().position(|l| l.contains(&decl)).map(|i| i + 1)
    });
    at_line(file, line)
}

fn at_line(file: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> String {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("panicked (a bug in persist): {msg}")
}
