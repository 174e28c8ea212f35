//! Tab completion: the names an input can use at the cursor.
//!
//! The engine's functions are listed once from its metadata (they cannot
//! change while the REPL runs); the session's variables, the types of their
//! values and its script functions are refreshed after every input, so
//! `store.<Tab>` offers the methods of a Store and not all 180 functions.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use rhai::{AST, Dynamic, Engine, Map, Scope};

use crate::command::COMMANDS;

/// Words the completer offers besides functions and variables.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "do", "until", "break",
    "continue", "return", "throw", "try", "catch", "switch", "import", "export", "true", "false",
    "this", "print", "debug",
];

/// Functions a type registers for `print`, `debug` and string
/// interpolation, not to be called by name.
const CONVERSIONS: &[&str] = &["to_string", "to_debug"];

/// A name callable as `value.name(...)` (or a property `value.name`).
struct Method {
    name: String,
    /// The type key of the first parameter; `None` takes any value.
    receiver: Option<String>,
}

/// A session variable, as completion needs it.
struct Var {
    /// The type key of its value.
    kind: String,
    /// Its keys, when the value is a map (offered after `name.`).
    keys: Vec<String>,
}

/// What the session has defined so far.
#[derive(Default)]
struct Session {
    vars: BTreeMap<String, Var>,
    /// Script functions (never anonymous ones: closures).
    functions: BTreeSet<String>,
    /// Script functions that take an argument, callable as methods.
    methods: BTreeSet<String>,
}

/// Everything the completer can offer, by where it may appear.
pub struct Names {
    /// Unqualified engine functions, keywords and `module::` prefixes.
    plain: BTreeSet<String>,
    /// `module::name` for the functions of static modules, methods
    /// included (`persist::append(s, ...)` is `s.append(...)`), but not
    /// the `to_string`/`to_debug` hooks that `print` and `debug` call.
    qualified: BTreeSet<String>,
    methods: Vec<Method>,
    session: RefCell<Session>,
}

impl Names {
    /// Lists the engine's functions, the standard packages included.
    pub fn of_engine(engine: &Engine) -> Self {
        let mut names = Names {
            plain: KEYWORDS.iter().map(|k| k.to_string()).collect(),
            qualified: BTreeSet::new(),
            methods: Vec::new(),
            session: RefCell::default(),
        };
        let meta = engine
            .gen_fn_metadata_to_json(true)
            .ok()
            .and_then(|json| engine.parse_json(json, true).ok())
            .unwrap_or_default();
        for f in list(&meta, "functions") {
            names.add(None, &f);
        }
        if let Some(modules) = meta.get("modules").and_then(|m| m.read_lock::<Map>()) {
            for (module, m) in modules.iter() {
                let m = m.read_lock::<Map>().map(|m| m.clone()).unwrap_or_default();
                for f in list(&m, "functions") {
                    names.add(Some(module.as_str()), &f);
                }
            }
        }
        names
    }

    /// Takes in one function's metadata (`module` for a static module's).
    fn add(&mut self, module: Option<&str>, f: &Map) {
        let text = |key: &str| f.get(key).map(|v| v.to_string()).unwrap_or_default();
        let name = text("name");
        let params = list(f, "params");
        let receiver = params
            .first()
            .and_then(|p| type_key(&p.get("type").map(|t| t.to_string()).unwrap_or_default()));
        let takes_args = f.get("numParams").and_then(|n| n.as_int().ok()) > Some(0);
        let global = module.is_none() || text("namespace") == "global";
        if let Some(property) = name.strip_prefix("get$").or(name.strip_prefix("set$")) {
            if is_identifier(property) {
                self.methods.push(Method {
                    name: property.to_string(),
                    receiver,
                });
            }
            return;
        }
        if !is_identifier(&name) {
            return;
        }
        if global && takes_args {
            self.methods.push(Method {
                name: name.clone(),
                receiver,
            });
        }
        match module {
            Some(module) => {
                self.plain.insert(format!("{module}::"));
                if !CONVERSIONS.contains(&name.as_str()) {
                    self.qualified.insert(format!("{module}::{name}"));
                }
            }
            None => {
                self.plain.insert(name);
            }
        }
    }

    /// Takes in the variables and script functions defined so far.
    pub fn refresh(&self, scope: &Scope, ast: &AST) {
        let mut session = Session::default();
        for (name, _, value) in scope.iter_raw() {
            session.vars.insert(name.to_string(), Var::of(value));
        }
        for f in ast.iter_functions().filter(|f| is_identifier(f.name)) {
            session.functions.insert(f.name.to_string());
            if !f.params.is_empty() {
                session.methods.insert(f.name.to_string());
            }
        }
        *self.session.borrow_mut() = session;
    }

    /// The start of the word before `pos` and the names that complete it:
    /// after `name.` the methods of that variable's type (and a map's
    /// keys), `module::name` once the word has a `::`, REPL commands after
    /// a leading `:`, otherwise everything else.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == ':'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        let session = self.session.borrow();
        let names: Vec<String> = if let Some(receiver) = before[..start].strip_suffix('.') {
            self.methods_of(&session, receiver)
        } else if word.contains("::") {
            self.qualified.iter().cloned().collect()
        } else if word.is_empty() {
            vec![]
        } else if word.starts_with(':') && start == 0 {
            return (0, matching(COMMANDS.iter().map(|c| c.to_string()), word));
        } else {
            let vars = session.vars.keys().chain(&session.functions);
            self.plain.iter().chain(vars).cloned().collect()
        };
        (start, matching(names.into_iter(), word))
    }

    /// What can follow `receiver.`: when it ends in a variable's name, the
    /// methods that take that variable's type (or any type) and, for a map,
    /// its keys; otherwise every method.
    fn methods_of(&self, session: &Session, receiver: &str) -> Vec<String> {
        let name_start = receiver
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let var = match receiver[..name_start].ends_with(['.', ':']) {
            true => None,
            false => session.vars.get(&receiver[name_start..]),
        };
        let engine = self.methods.iter().filter(|m| match (var, &m.receiver) {
            (Some(var), Some(kind)) => *kind == var.kind,
            _ => true,
        });
        let keys = var.into_iter().flat_map(|v| v.keys.iter().cloned());
        engine
            .map(|m| m.name.clone())
            .chain(session.methods.iter().cloned())
            .chain(keys)
            .collect()
    }
}

impl Var {
    fn of(value: &Dynamic) -> Var {
        let value = match value.is_shared() {
            true => value.flatten_clone(),
            false => value.clone(),
        };
        let keys = value
            .read_lock::<Map>()
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        Var {
            kind: type_key(value.type_name()).unwrap_or_default(),
            keys,
        }
    }
}

/// The maps in the array under `key` of a metadata map.
fn list(m: &Map, key: &str) -> Vec<Map> {
    m.get(key)
        .and_then(|v| v.read_lock::<rhai::Array>().map(|a| a.clone()))
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.read_lock::<Map>().map(|m| m.clone()))
        .collect()
}

/// One name for a type, whether it comes from a value (`string`, `i64`,
/// `my_crate::Ticket`) or a parameter in the engine's metadata
/// (`ImmutableString`, `INT`, `&mut Ticket`); `None` for any type.
fn type_key(t: &str) -> Option<String> {
    let t = t.trim().trim_start_matches("&mut ").trim_start_matches('&');
    let t = t.rsplit("::").next().unwrap_or(t).trim();
    let key = match t {
        "" | "?" | "_" | "Dynamic" => return None,
        "ImmutableString" | "String" | "str" | "string" => "string",
        "INT" | "i64" => "i64",
        "FLOAT" | "f64" => "f64",
        "Array" | "array" => "array",
        "Map" | "map" => "map",
        "Blob" | "blob" | "Vec<u8>" => "blob",
        "FnPtr" | "Fn" => "Fn",
        "Instant" | "timestamp" => "timestamp",
        t if t.starts_with("RangeInclusive<") || t == "range=" => "range=",
        t if t.starts_with("Range<") || t == "range" => "range",
        other => other,
    };
    Some(key.to_string())
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
