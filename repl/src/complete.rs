//! Tab completion: the names an input can use at the cursor.
//!
//! The engine's functions are listed once (they cannot change while the
//! REPL runs); the session's variables and script functions are refreshed
//! after every input.

use std::cell::RefCell;
use std::collections::BTreeSet;

use rhai::{AST, Engine, Scope};

use crate::command::COMMANDS;

/// Words the completer offers besides functions and variables.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "do", "until", "break",
    "continue", "return", "throw", "try", "catch", "switch", "import", "export", "true", "false",
    "this", "print", "debug",
];

/// Everything the completer can offer, by where it may appear.
pub struct Names {
    /// Unqualified engine functions, keywords and `module::` prefixes.
    plain: BTreeSet<String>,
    /// Functions inside static modules, as `module::name`.
    qualified: BTreeSet<String>,
    /// Names callable as methods (at least one parameter), and properties.
    methods: BTreeSet<String>,
    /// The session's variables and script functions (plain, methods).
    session: RefCell<(BTreeSet<String>, BTreeSet<String>)>,
}

impl Names {
    /// Lists the engine's functions, the standard packages included.
    pub fn of_engine(engine: &Engine) -> Self {
        let mut names = Names {
            plain: KEYWORDS.iter().map(|k| k.to_string()).collect(),
            qualified: BTreeSet::new(),
            methods: BTreeSet::new(),
            session: RefCell::default(),
        };
        for sig in engine.gen_fn_signatures(true) {
            let Some((path, params)) = sig.split_once('(') else {
                continue;
            };
            let takes_args = !params.starts_with(')');
            let (module, name) = match path.rsplit_once("::") {
                Some((module, name)) => (Some(module), name),
                None => (None, path),
            };
            let property = name.strip_prefix("get$").or(name.strip_prefix("set$"));
            if let Some(property) = property.filter(|p| is_identifier(p)) {
                names.methods.insert(property.to_string());
                continue;
            }
            if !is_identifier(name) {
                continue;
            }
            if takes_args {
                names.methods.insert(name.to_string());
            }
            match module {
                Some(module) => {
                    names.plain.insert(format!("{module}::"));
                    names.qualified.insert(format!("{module}::{name}"));
                }
                None => {
                    names.plain.insert(name.to_string());
                }
            }
        }
        names
    }

    /// Takes in the variables and script functions defined so far.
    pub fn refresh(&self, scope: &Scope, ast: &AST) {
        let mut plain: BTreeSet<String> = scope.iter_raw().map(|(n, ..)| n.to_string()).collect();
        let mut methods = BTreeSet::new();
        for f in ast.iter_functions() {
            plain.insert(f.name.to_string());
            if !f.params.is_empty() {
                methods.insert(f.name.to_string());
            }
        }
        *self.session.borrow_mut() = (plain, methods);
    }

    /// The start of the word before `pos` and the names that complete it:
    /// methods after a `.`, `module::name` once the word has a `::`,
    /// REPL commands after a leading `:`, otherwise everything else.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == ':'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        let session = self.session.borrow();
        let pools: Vec<&BTreeSet<String>> = if before[..start].ends_with('.') {
            vec![&self.methods, &session.1]
        } else if word.contains("::") {
            vec![&self.qualified]
        } else if word.is_empty() {
            vec![]
        } else if word.starts_with(':') && start == 0 {
            return (0, matching(COMMANDS.iter().map(|c| c.to_string()), word));
        } else {
            vec![&self.plain, &session.0]
        };
        let all = pools.into_iter().flatten().cloned();
        (start, matching(all, word))
    }
}

/// The names starting with `word`, sorted, without repeats.
fn matching(names: impl Iterator<Item = String>, word: &str) -> Vec<String> {
    let set: BTreeSet<String> = names.filter(|n| n.starts_with(word)).collect();
    set.into_iter().collect()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}
