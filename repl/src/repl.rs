//! The session: an engine, the scope and functions that outlive each input,
//! and the loop that reads inputs from the terminal.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};
use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;

use crate::command::{self, Command, HELP};
use crate::complete::Names;
use crate::error::describe;
use crate::helper::Helper;
use crate::show::show_result;

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
    /// `:quit`.
    Quit,
}

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
    greeting: Option<String>,
    help: Option<String>,
    names: Rc<Names>,
}

impl Repl {
    /// A session whose inputs run in `engine` with the variables of `scope`.
    pub fn new(engine: Engine, scope: Scope<'static>) -> Self {
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
            greeting: None,
            help: None,
            names: Rc::new(names),
        }
    }

    /// Keeps history in `path` between sessions (none by default).
    pub fn history_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.history = Some(path.into());
        self
    }

    /// The prompt shown before each input (`> ` by default).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = prompt.into();
        self
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
            Ok(value) => {
                show_result(&value, &|d| self.to_string(d)).map_or(Outcome::Quiet, Outcome::Print)
            }
            Err(e) => Outcome::Error(describe(&e)),
        }
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
            Command::Quit => Outcome::Quit,
            Command::Load(file) => match self.load(Path::new(file)) {
                Ok(()) => Outcome::Quiet,
                Err(e) => Outcome::Error(e),
            },
        }
    }

    /// Runs a file as if typed in one input; its result is not printed.
    fn load(&mut self, file: &Path) -> Result<(), String> {
        let source = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        self.eval(&source)
            .map(drop)
            .map_err(|e| format!("{}: {}", file.display(), describe(&e)))
    }

    /// Compiles `source`, adds its functions to the session's, and runs its
    /// statements with the session's scope. Functions are kept even when the
    /// statements fail: they compiled, so they are defined.
    fn eval(&mut self, source: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let ast = self.engine.compile_with_scope(&self.scope, source)?;
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
    /// typed. Fails only when the terminal does.
    pub fn run(&mut self) -> Result<(), ReadlineError> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .max_history_size(HISTORY_SIZE)?
            .auto_add_history(false)
            .build();
        let mut editor: Editor<Helper, FileHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(Helper {
            engine: self.engine.clone(),
            names: self.names.clone(),
        }));
        if let Some(path) = self.history.as_ref().filter(|p| p.exists())
            && let Err(e) = editor.load_history(path)
        {
            eprintln!("history: cannot read {}: {e}", path.display());
        }
        if let Some(text) = &self.greeting {
            println!("{text}");
        }
        loop {
            let input = match editor.readline(&self.prompt) {
                Ok(input) => input,
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => return Ok(()),
                Err(e) => return Err(e),
            };
            if !input.trim().is_empty() {
                editor.add_history_entry(input.as_str())?;
                self.save_history(&mut editor);
            }
            match self.eval_line(&input) {
                Outcome::Quiet => {}
                Outcome::Print(text) => println!("{text}"),
                Outcome::Error(text) => eprintln!("error: {text}"),
                Outcome::Quit => return Ok(()),
            }
        }
    }

    /// Appends the new input to the history file right away, so a session
    /// that is killed still leaves its history behind.
    fn save_history(&self, editor: &mut Editor<Helper, FileHistory>) {
        if let Some(path) = &self.history
            && let Err(e) = editor.append_history(path)
        {
            eprintln!("history: cannot write {}: {e}", path.display());
        }
    }
}
