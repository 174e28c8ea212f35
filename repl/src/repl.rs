//! The session: an engine, the scope and functions that outlive each input,
//! and the loop that reads inputs from the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};
use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;

use crate::command::{self, Command, HELP};
use crate::complete::Names;
use crate::error::{describe, error_message};
use crate::helper::Helper;
use crate::input::is_incomplete;
use crate::interrupt;
use crate::show::{Limit, show_result};

/// How many inputs the history file keeps.
const HISTORY_SIZE: usize = 1000;

/// What one input produced, for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to print: a `()` result, a blank input, a loaded file.
    Quiet,
    /// A result or `:help`, formatted for reading.
    Print(String),
    /// The input failed: the message and where; the session goes on.
    Error(String),
    /// Ctrl-C stopped the input while it ran; the session goes on.
    Interrupted,
    /// `:quit`.
    Quit,
}

/// `:doc NAME`'s answer: the reference text, or why there is none.
pub type DocLookup = Box<dyn Fn(&str) -> Result<String, String>>;

/// An interactive session over an engine and a scope.
pub struct Repl {
    engine: Rc<Engine>,
    scope: Scope<'static>,
    /// Every function defined so far; statements are dropped after each run.
    ast: AST,
    /// `to_string(value)`, compiled once (none if the engine refuses it).
    to_string_ast: Option<AST>,
    history: Option<PathBuf>,
    prompt: String,
    /// Shown while an input continues on the next line.
    continuation: Option<String>,
    /// How much of a result is printed (`:set limit N`).
    limit: Limit,
    greeting: Option<String>,
    help: Option<String>,
    /// What `:doc NAME` prints, from the embedder.
    doc: Option<DocLookup>,
    names: Rc<Names>,
}

impl Repl {
    /// A session whose inputs run in `engine` with the variables of `scope`.
    /// The engine's progress callback is taken over: it stops an input
    /// when Ctrl-C is pressed.
    pub fn new(mut engine: Engine, scope: Scope<'static>) -> Self {
        engine.on_progress(|_| {
            interrupt::pending()
                .then(|| Dynamic::from(rhai::ImmutableString::from(interrupt::TOKEN)))
        });
        let names = Names::of_engine(&engine);
        let ast = AST::empty();
        names.refresh(&scope, &ast);
        let to_string_ast = engine.compile("to_string(value)").ok();
        Repl {
            engine: Rc::new(engine),
            scope,
            ast,
            to_string_ast,
            history: None,
            prompt: "> ".into(),
            continuation: None,
            limit: Limit::DEFAULT,
            greeting: None,
            help: None,
            doc: None,
            names: Rc::new(names),
        }
    }

    /// Keeps history in `path` between interactive sessions (none by
    /// default; piped input is never recorded).
    pub fn history_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.history = Some(path.into());
        self
    }

    /// The prompt shown before each input (`> ` by default).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = prompt.into();
        self
    }

    /// The prompt of a line that continues an open input; by default `...> `
    /// right-aligned under the prompt.
    pub fn continuation(mut self, prompt: impl Into<String>) -> Self {
        self.continuation = Some(prompt.into());
        self
    }

    fn continuation_prompt(&self) -> String {
        self.continuation.clone().unwrap_or_else(|| {
            let width = self.prompt.chars().count();
            format!("{:>width$}", "...> ")
        })
    }

    /// A line printed when `run` starts.
    pub fn greeting(mut self, text: impl Into<String>) -> Self {
        self.greeting = Some(text.into());
        self
    }

    /// Text `:help` prints before the REPL's own help, e.g. what the
    /// embedder put in the scope.
    pub fn help_text(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// What `:doc NAME` prints: `lookup(NAME)`'s text, or its error.
    pub fn doc_lookup(mut self, lookup: impl Fn(&str) -> Result<String, String> + 'static) -> Self {
        self.doc = Some(Box::new(lookup));
        self
    }

    /// The session's variables.
    pub fn scope(&self) -> &Scope<'static> {
        &self.scope
    }

    /// Tab completion at byte `pos` of `line`: where the completed word
    /// starts and the candidates that would replace it.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        self.names.complete(line, pos)
    }

    /// Runs one input (code or a `:` command) and says what to print.
    pub fn eval_line(&mut self, input: &str) -> Outcome {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Outcome::Quiet;
        }
        if let Some(text) = trimmed.strip_prefix(':') {
            return match command::parse(text) {
                Ok(cmd) => self.command(cmd),
                Err(e) => Outcome::Error(e),
            };
        }
        match self.eval(input) {
            Ok(value) => show_result(&value, &|d| self.to_string(d), self.limit)
                .map_or(Outcome::Quiet, Outcome::Print),
            Err(e) if is_interrupt(&e) => Outcome::Interrupted,
            Err(e) => Outcome::Error(describe(&e, input)),
        }
    }

    /// True while `input` should continue on the next line: it does not
    /// compile *and* it ends inside something open. A compiling input always
    /// runs, and any other error is for the evaluation to report.
    pub fn wants_more(&self, input: &str) -> bool {
        !input.trim_start().starts_with(':')
            && self.engine.compile(input).is_err()
            && is_incomplete(input)
    }

    /// A value of a type the engine registered, as its `to_string` writes
    /// it (a bare Rust type name says little).
    fn to_string(&self, value: &Dynamic) -> String {
        let mut scope = Scope::new();
        scope.push_dynamic("value", value.clone());
        self.to_string_ast
            .as_ref()
            .and_then(|ast| {
                self.engine
                    .eval_ast_with_scope::<String>(&mut scope, ast)
                    .ok()
            })
            .unwrap_or_else(|| value.to_string())
    }

    fn command(&mut self, cmd: Command) -> Outcome {
        match cmd {
            Command::Help => Outcome::Print(match &self.help {
                Some(text) => format!("{text}\n\n{HELP}"),
                None => HELP.to_string(),
            }),
            Command::Doc(name) => match &self.doc {
                Some(lookup) => match lookup(name) {
                    Ok(text) => Outcome::Print(text),
                    Err(e) => Outcome::Error(e),
                },
                None => Outcome::Error(":doc: this session has no reference".into()),
            },
            Command::Quit => Outcome::Quit,
            Command::Settings => Outcome::Print(format!(
                "limit {} (:set limit N; 0 prints everything)",
                self.limit.0
            )),
            Command::Limit(n) => {
                self.limit = Limit(n);
                Outcome::Quiet
            }
            Command::Load(file) => match self.load(Path::new(file)) {
                Ok(()) => Outcome::Quiet,
                Err(e) if is_interrupt(&e) => Outcome::Interrupted,
                Err(e) => Outcome::Error(error_message(&e)),
            },
        }
    }

    /// Runs a file as if typed in one input; its result is not printed.
    fn load(&mut self, file: &Path) -> Result<(), Box<EvalAltResult>> {
        let source = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        self.eval(&source)
            .map(drop)
            .map_err(|e| match is_interrupt(&e) {
                true => e,
                false => format!("{}: {}", file.display(), describe(&e, &source)).into(),
            })
    }

    /// Compiles `source`, adds its functions to the session's, and runs its
    /// statements with the session's scope. Functions are kept even when the
    /// statements fail: they compiled, so they are defined.
    fn eval(&mut self, source: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let ast = self.engine.compile_with_scope(&self.scope, source)?;
        interrupt::clear();
        self.ast += ast;
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &self.ast);
        self.ast.clear_statements();
        self.names.refresh(&self.scope, &self.ast);
        result
    }

    /// Reads inputs from the terminal until `:quit` or Ctrl-D, printing
    /// results on stdout and errors on stderr. Ctrl-C drops the input being
    /// typed, or stops the one running. History is read and written only
    /// when the input is a terminal (piped inputs are not history). Fails
    /// only when the terminal does.
    pub fn run(&mut self) -> Result<(), ReadlineError> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .max_history_size(HISTORY_SIZE)?
            .auto_add_history(false)
            .build();
        let mut editor: Editor<Helper, FileHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(Helper {
            names: self.names.clone(),
        }));
        let history = self
            .history
            .clone()
            .filter(|_| std::io::stdin().is_terminal());
        if let Some(path) = history.as_ref().filter(|p| p.exists())
            && let Err(e) = editor.load_history(path)
        {
            eprintln!("history: cannot read {}: {e}", path.display());
        }
        let _sigint = interrupt::Guard::install()
            .inspect_err(|e| eprintln!("Ctrl-C will end the session: {e}"));
        if let Some(text) = &self.greeting {
            println!("{text}");
        }
        loop {
            let input = match self.read_input(&mut editor)? {
                Read::Input(input) => input,
                Read::Dropped => continue,
                Read::End => return Ok(()),
            };
            if let Some(path) = &history
                && !input.trim().is_empty()
            {
                editor.add_history_entry(input.as_str())?;
                // Appended right away, so a session that is killed still
                // leaves its history behind.
                if let Err(e) = editor.append_history(path) {
                    eprintln!("history: cannot write {}: {e}", path.display());
                }
            }
            match self.eval_line(&input) {
                Outcome::Quiet => {}
                Outcome::Print(text) => println!("{text}"),
                Outcome::Error(text) => eprintln!("error: {text}"),
                Outcome::Interrupted => eprintln!("interrupted"),
                Outcome::Quit => return Ok(()),
            }
        }
    }

    /// One input: a line, and more lines under the continuation prompt
    /// while something is left open.
    fn read_input(&self, editor: &mut Editor<Helper, FileHistory>) -> Result<Read, ReadlineError> {
        let mut input = match editor.readline(&self.prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => return Ok(Read::Dropped),
            Err(ReadlineError::Eof) => return Ok(Read::End),
            Err(e) => return Err(e),
        };
        let more = self.continuation_prompt();
        while self.wants_more(&input) {
            match editor.readline(&more) {
                Ok(line) => {
                    input.push('\n');
                    input.push_str(&line);
                }
                Err(ReadlineError::Interrupted) => return Ok(Read::Dropped),
                Err(ReadlineError::Eof) => return Ok(Read::End),
                Err(e) => return Err(e),
            }
        }
        Ok(Read::Input(input))
    }
}

/// What reading one input gave.
enum Read {
    Input(String),
    /// Ctrl-C while typing.
    Dropped,
    /// Ctrl-D, or the end of piped input.
    End,
}

/// True when Ctrl-C stopped the evaluation (the progress callback's token).
fn is_interrupt(e: &EvalAltResult) -> bool {
    matches!(e.unwrap_inner(), EvalAltResult::ErrorTerminated(token, _)
        if token.read_lock::<rhai::ImmutableString>().is_some_and(|t| t.as_str() == interrupt::TOKEN))
}
