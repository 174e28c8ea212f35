//! The Rhai API reference, generated from the registered functions'
//! metadata and doc comments (rhai's `metadata` feature): `docs/api.md`,
//! `persist doc [NAME]` and `persist defs` all come from here, so the
//! reference cannot drift from the code (`tests/api_reference.rs`).

use rhai::Engine;
use serde::Deserialize;

/// One registered function as rhai's metadata describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The function's name, as scripts call it.
    pub name: String,
    /// `global` for methods and global functions, `internal` for the ones
    /// called as `persist::name`.
    pub namespace: String,
    /// Parameters (after the `NativeCallContext`, which scripts never pass).
    #[serde(default)]
    pub params: Vec<Param>,
    /// The Rust return type.
    #[serde(default)]
    pub return_type: Option<String>,
    /// The `///` lines, with their slashes.
    #[serde(default)]
    pub doc_comments: Vec<String>,
    /// The static module it is registered in (`persist`), if any.
    #[serde(skip)]
    pub module: Option<String>,
}

/// A parameter: its name and Rust type.
#[derive(Debug, Clone, Deserialize)]
pub struct Param {
    /// The parameter's name in the Rust source.
    #[serde(default)]
    pub name: Option<String>,
    /// Its Rust type (`&mut StoreHandle`, `Dynamic`, ...).
    #[serde(default, rename = "type")]
    pub ty: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    modules: std::collections::BTreeMap<String, ModuleMeta>,
    #[serde(default)]
    functions: Vec<Entry>,
}

#[derive(Deserialize)]
struct ModuleMeta {
    #[serde(default)]
    functions: Vec<Entry>,
}

/// The script-facing name of a handle type, and how the reference names a
/// value of it (`s.append(...)`).
const HANDLES: &[(&str, &str, &str)] = &[
    ("StoreHandle", "Store", "s"),
    ("HubHandle", "Hub", "h"),
    ("ViewHandle", "View", "v"),
    ("DiskHandle", "Disk", "disk"),
    ("ContentHandle", "ContentStore", "c"),
    ("SourceHandle", "Source", "source"),
];

fn handle(ty: &str) -> Option<(&'static str, &'static str)> {
    let ty = ty.trim_start_matches("&mut ").trim();
    HANDLES
        .iter()
        .find(|(rust, _, _)| *rust == ty)
        .map(|(_, name, var)| (*name, *var))
}

/// A Rust return type as scripts see it; `None` for any value (`Dynamic`).
fn script_type(ty: &str) -> Option<String> {
    let ty = ty.trim();
    let ty = ty
        .strip_prefix("RhaiResult<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(ty);
    let name = match ty {
        "" | "Dynamic" => return None,
        "INT" | "i64" => "int",
        "bool" => "bool",
        "String" | "ImmutableString" => "string",
        "Array" => "array",
        "Map" => "map",
        "Blob" => "Blob",
        "()" => "()",
        other => return Some(handle(other).map_or(other, |(name, _)| name).to_string()),
    };
    Some(name.to_string())
}

impl Entry {
    /// The type this function is a method of (`Store`), if it is one.
    pub fn receiver(&self) -> Option<(&'static str, &'static str)> {
        match self.namespace.as_str() {
            "global" => self.params.first()?.ty.as_deref().and_then(handle),
            _ => None,
        }
    }

    /// `s.append(stream, event) -> int`, `persist::mem() -> Store`.
    pub fn signature(&self) -> String {
        let (prefix, skip) = match (self.receiver(), self.namespace.as_str()) {
            (Some((_, var)), _) => (format!("{var}."), 1),
            (None, "global") => (String::new(), 0),
            (None, _) => ("persist::".to_string(), 0),
        };
        let params: Vec<&str> = self.params[skip..]
            .iter()
            .map(|p| p.name.as_deref().unwrap_or("_").trim_start_matches('_'))
            .collect();
        let ret = self.return_type.as_deref().and_then(script_type);
        let ret = ret.map(|t| format!(" -> {t}")).unwrap_or_default();
        format!("{prefix}{}({}){ret}", self.name, params.join(", "))
    }

    /// The doc comment as text, without the slashes.
    pub fn doc(&self) -> String {
        let lines: Vec<&str> = self
            .doc_comments
            .iter()
            .flat_map(|c| c.lines())
            .map(|l| l.trim_start().trim_start_matches("///"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect();
        lines.join("\n").trim().to_string()
    }

    /// The section this entry is listed under.
    fn section(&self) -> String {
        match (self.receiver(), self.namespace.as_str()) {
            (Some((ty, _)), _) => format!("{ty} methods"),
            (None, "global") => "Assertions".to_string(),
            (None, _) => "`persist::` functions".to_string(),
        }
    }
}

/// Every function `engine` has registered beyond rhai's own packages,
/// sorted by section, name and arity.
pub fn entries(engine: &Engine) -> Vec<Entry> {
    let json = engine
        .gen_fn_metadata_to_json(false)
        .expect("rhai metadata is always serializable");
    let meta: Metadata = serde_json::from_str(&json).expect("rhai metadata has this shape");
    let mut all: Vec<Entry> = meta.functions;
    for (name, m) in meta.modules {
        all.extend(m.functions.into_iter().map(|mut e| {
            e.module = Some(name.clone());
            e
        }));
    }
    all.sort_by_key(|e| (section_order(&e.section()), e.name.clone(), e.params.len()));
    all
}

fn section_order(section: &str) -> (usize, String) {
    let rank = match section {
        "`persist::` functions" => 0,
        "Assertions" => 9,
        _ => 1,
    };
    (rank, section.to_string())
}

/// The entries whose name is `name` (`append`, `s.append` or
/// `persist::store` all find theirs).
pub fn lookup<'a>(entries: &'a [Entry], name: &str) -> Vec<&'a Entry> {
    let bare = name.rsplit(['.', ':']).next().unwrap_or(name);
    entries.iter().filter(|e| e.name == bare).collect()
}

/// The entries named `name` as Markdown (`persist doc NAME`, `:doc NAME`),
/// or a message saying there is none.
pub fn describe(entries: &[Entry], name: &str) -> Result<String, String> {
    let found = lookup(entries, name);
    if found.is_empty() {
        return Err(format!(
            "no function named {name:?} (`persist doc` lists them all)"
        ));
    }
    Ok(found
        .into_iter()
        .map(render_entry)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// One entry as Markdown: its signature as a heading, then its doc.
pub fn render_entry(e: &Entry) -> String {
    format!("### `{}`\n\n{}\n", e.signature(), e.doc())
}

/// The whole reference as Markdown (`docs/api.md`).
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::from(
        "# The `persist` Rhai API\n\n\
         Generated from the registered functions' doc comments; do not edit.\n\
         Regenerate with `cargo run -q -- doc > docs/api.md` (a test fails when this\n\
         file differs from what the code generates, or a function has no doc).\n\
         `persist doc NAME` prints one entry; `persist defs` writes a Rhai\n\
         definitions file for editors.\n\n\
         Values are JSON-like: `()`, bools, ints, floats, strings, arrays and\n\
         maps. A record is `#{stream, seq, at, data}`; a fold state is\n\
         `#{value, seq}`. Every error a function raises starts with\n\
         `persist: ` and names what was wrong (stream, key, argument).\n",
    );
    let mut section = String::new();
    for e in entries {
        if e.section() != section {
            section = e.section();
            out.push_str(&format!("\n## {section}\n"));
        }
        out.push('\n');
        out.push_str(&render_entry(e));
    }
    out
}

/// A parameter type as a definitions file writes it (`?` for any value).
fn param_type(ty: &str) -> String {
    match ty
        .trim()
        .trim_start_matches("&mut ")
        .trim_start_matches('&')
    {
        "Dynamic" | "" => "?".into(),
        "FnPtr" => "Fn".into(),
        "str" | "ImmutableString" | "String" => "string".into(),
        other => script_type(other).unwrap_or_else(|| "?".into()),
    }
}

impl Entry {
    /// `fn append(s: Store, stream: ?, event: ?) -> int;` with its doc.
    fn definition(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                let name = p.name.as_deref().unwrap_or("_").trim_start_matches('_');
                format!("{name}: {}", param_type(p.ty.as_deref().unwrap_or("")))
            })
            .collect();
        let ret = self.return_type.as_deref().and_then(script_type);
        let doc: String = self.doc().lines().map(|l| format!("/// {l}\n")).collect();
        let doc = doc.replace("/// \n", "///\n");
        format!(
            "{doc}fn {}({}) -> {};\n",
            self.name,
            params.join(", "),
            ret.as_deref().unwrap_or("?")
        )
    }
}

/// A Rhai definitions file (`.d.rhai`, what `Engine::definitions` writes)
/// for the `persist` module, the handle methods and the assertions, so
/// editors with Rhai support complete them. Types are written as scripts
/// know them (`Store`, `int`; `?` for any value).
pub fn definitions(engine: &Engine) -> String {
    let all = entries(engine);
    let mut out = String::from("module static;\n");
    for e in all.iter().filter(|e| e.module.is_none()) {
        out.push('\n');
        out.push_str(&e.definition());
    }
    out.push_str("\nmodule persist {\n");
    for e in all
        .iter()
        .filter(|e| e.module.as_deref() == Some("persist"))
    {
        out.push('\n');
        out.push_str(&e.definition());
    }
    out.push_str("}\n");
    out
}

/// The engine the reference describes: what `persist run` scripts see.
fn reference_engine() -> Engine {
    super::engine(&super::Config::default()).0
}

/// `persist doc [NAME]`: the whole reference, or the entries named `name`;
/// exit 1 (and a hint) when no function has that name.
pub fn doc(name: Option<&str>, out: &mut dyn std::io::Write) -> crate::Result<i32> {
    let all = entries(&reference_engine());
    let text = match name {
        None => render(&all),
        Some(name) => describe(&all, name).map_err(|e| crate::Error::invalid("doc", e))?,
    };
    out.write_all(text.as_bytes())
        .map_err(|e| crate::Error::io("<stdout>", "write", e))?;
    Ok(0)
}

/// `persist defs`: the Rhai definitions file on `out`.
pub fn defs(out: &mut dyn std::io::Write) -> crate::Result<i32> {
    out.write_all(definitions(&reference_engine()).as_bytes())
        .map_err(|e| crate::Error::io("<stdout>", "write", e))?;
    Ok(0)
}
