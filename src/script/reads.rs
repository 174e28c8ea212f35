//! What of a record a fold's step reads, worked out once per closure from
//! its compiled body, so a fold builds only that (issue 12 aim 4): most of
//! a small step's cost per record was building a record map it barely
//! looked at, and decoding `data` it never read.
//!
//! The record is the step's last parameter (captured variables are curried
//! in front of `acc`). Every use of that name in the body is one of:
//!
//! - `r.<name>` as the start of a property chain (`r.data.x`, `r?.seq`,
//!   `r.data[0]`, `r.data.len()`): only the named fields among `stream`,
//!   `seq`, `pos`, `at`, `data` and `id` are needed. A name that is not a
//!   record field adds nothing: the full record lacks it too, so the step
//!   sees the same `()` (or the same error, under strict map properties);
//! - anything else (`r` passed, returned, stored, indexed, interpolated,
//!   assigned, a method called on `r` itself, captured by a nested
//!   closure): the full record.
//!
//! A body that calls `eval` or a function with `!` (which see the
//! caller's variables), or holds custom syntax, gets the full record too.
//! A use of a different variable that shadows `r` counts as a use of `r`:
//! more is built than needed, never less. A step that never names `r`
//! gets `()`: its record is neither built nor its `data` decoded (so a
//! damaged stored event it would not have read is not reported either).

use rhai::{AST, ASTNode, Expr, FnPtr, Module, NativeCallContext, ScriptFuncDef, Shared, Stmt};

use crate::script::closure::{self, DefCache};

/// What a step reads of each record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reads {
    /// The record is never named: the step is given `()`.
    Nothing,
    /// The record is used only through these fields, or (`Fields::ALL`)
    /// in a way that needs all of it: the step is given a map of them,
    /// with `data` cut to the keys the step reads when it is an object.
    Fields(Fields, DataKeys),
}

impl Reads {
    /// The whole record, as an unknown step or upcaster gets it.
    pub const ALL: Reads = Reads::Fields(Fields::ALL, DataKeys::All);
}

/// How much of the record's `data` a step reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataKeys {
    /// All of it (or the step does not read `data` at all).
    All,
    /// Only these keys, each as `r.data.<key>...`: when `data` is an
    /// object, the others are left out (a missing key reads as `()` either
    /// way; anything that could see the whole object, such as `r.data`
    /// alone, `r.data[k]` or `r.data.keys()`, needs `All`).
    Only(Vec<String>),
}

/// A set of record fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields(u8);

impl Fields {
    /// The record's fields, in the (sorted) order its map holds them.
    pub const NAMES: [&'static str; 6] = ["at", "data", "id", "pos", "seq", "stream"];
    pub const NONE: Fields = Fields(0);
    pub const ALL: Fields = Fields((1 << Self::NAMES.len()) - 1);
    pub const AT: Fields = Fields(1);
    pub const DATA: Fields = Fields(1 << 1);
    pub const ID: Fields = Fields(1 << 2);
    pub const POS: Fields = Fields(1 << 3);
    pub const SEQ: Fields = Fields(1 << 4);
    pub const STREAM: Fields = Fields(1 << 5);

    /// The field called `name`, or none if the record has no such field.
    pub fn named(name: &str) -> Fields {
        match Self::NAMES.iter().position(|n| *n == name) {
            Some(i) => Fields(1 << i),
            None => Fields::NONE,
        }
    }

    /// Whether the field `name` is in the set.
    pub fn has(self, name: &str) -> bool {
        let one = Fields::named(name);
        one != Fields::NONE && self.contains(one)
    }

    /// Whether every field of `other` is in the set.
    pub fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets' fields.
    pub fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }
}

thread_local! {
    static READS: DefCache<Reads> = DefCache::default();
}

/// What the step `f` (called as `f(acc, record)`) reads of each record.
/// A native function pointer gets the whole record.
pub fn of(ctx: &NativeCallContext, f: &FnPtr) -> Reads {
    of_found(f, closure::def(ctx, f, &[2]), 2)
}

/// `of` for an upcaster (called as `f(record)`).
pub fn of_upcaster(ctx: &NativeCallContext, f: &FnPtr) -> Reads {
    of_found(f, closure::def(ctx, f, &[1]), 1)
}

/// What `f`, called with `args` arguments the last of which is the
/// record, reads of it, given the definition `f` names as `closure::def`
/// found it. One that does not take `args` arguments after its captures
/// (a call that will be refused) gets the whole record.
pub fn of_found(f: &FnPtr, def: Option<&Shared<ScriptFuncDef>>, args: usize) -> Reads {
    match def {
        Some(def) if def.params.len() == f.curry().len() + args => {
            READS.with(|c| c.get_or(def, || of_def(def)))
        }
        _ => Reads::ALL,
    }
}

/// `of` for a function definition, by walking its body.
pub fn of_def(def: &Shared<ScriptFuncDef>) -> Reads {
    let Some(record) = def.params.last() else {
        return Reads::ALL;
    };
    // The body's type is not exported; an AST holding just this function
    // walks it.
    let mut lib = Module::new();
    lib.set_script_fn(def.clone());
    let ast = AST::new([], lib);
    let mut uses = Uses::default();
    ast.walk(&mut |path: &[ASTNode]| match use_at(path, record) {
        Some(need) => uses.add(need),
        None => true,
    });
    uses.reads()
}

/// What one use of the record needs.
enum Need<'a> {
    /// All of it.
    All,
    /// The field called this (`r.<name>`), whole.
    Field(&'a str),
    /// This key of `data` (`r.data.<key>`).
    DataKey(&'a str),
}

/// The uses of the record seen so far.
#[derive(Default)]
struct Uses {
    named: bool,
    fields: Fields,
    /// `None` until `data` is read; then the keys read, or `None` inside
    /// for all of it.
    data: Option<Option<Vec<String>>>,
}

impl Uses {
    /// Adds a use; whether there is anything left to learn.
    fn add(&mut self, need: Need) -> bool {
        self.named = true;
        match need {
            Need::All => {
                self.fields = Fields::ALL;
                self.data = Some(None);
            }
            Need::Field(name) => {
                self.fields = self.fields.union(Fields::named(name));
                if name == "data" {
                    self.data = Some(None);
                }
            }
            Need::DataKey(key) => {
                self.fields = self.fields.union(Fields::DATA);
                match &mut self.data {
                    None => self.data = Some(Some(vec![key.to_string()])),
                    Some(Some(keys)) if !keys.iter().any(|k| k == key) => keys.push(key.into()),
                    Some(_) => {}
                }
            }
        }
        !(self.fields == Fields::ALL && self.data == Some(None))
    }

    fn reads(self) -> Reads {
        match self.named {
            false => Reads::Nothing,
            true => Reads::Fields(
                self.fields,
                match self.data {
                    Some(Some(mut keys)) => {
                        keys.sort();
                        DataKeys::Only(keys)
                    }
                    _ => DataKeys::All,
                },
            ),
        }
    }
}

/// What the last node of `path` needs of the record (`record` names it),
/// if it touches the record or the caller's variables at all.
fn use_at<'a>(path: &[ASTNode<'a>], record: &str) -> Option<Need<'a>> {
    let (node, parents) = path.split_last()?;
    match node {
        ASTNode::Expr(e @ Expr::Variable(v, ..)) if v.1 == record => {
            Some(chain_need(e, parents.last()).unwrap_or(Need::All))
        }
        ASTNode::Expr(Expr::FnCall(c, ..) | Expr::MethodCall(c, ..))
        | ASTNode::Stmt(Stmt::FnCall(c, ..))
            if c.name == "eval" || c.capture_parent_scope =>
        {
            Some(Need::All)
        }
        ASTNode::Stmt(Stmt::Share(vars)) if vars.iter().any(|(v, _)| v.name == record) => {
            Some(Need::All)
        }
        // Nodes whose inner expressions the walk does not visit.
        ASTNode::Stmt(Stmt::BreakLoop(Some(_), ..) | Stmt::Export(..))
        | ASTNode::Expr(Expr::Custom(..)) => Some(Need::All),
        _ => None,
    }
}

/// What `var` needs when it starts a property chain (`var.name...`, its
/// parent a `Dot` with `var` on the left), else `None`.
fn chain_need<'a>(var: &Expr, parent: Option<&ASTNode<'a>>) -> Option<Need<'a>> {
    let ASTNode::Expr(Expr::Dot(x, ..)) = parent? else {
        return None;
    };
    if !std::ptr::eq(&x.lhs, var) {
        return None;
    }
    match &x.rhs {
        Expr::Property(p, ..) => Some(Need::Field(p.2.as_str())),
        // `var.data.<key>...`
        Expr::Dot(y, ..) => match (&y.lhs, first_property(&y.rhs)) {
            (Expr::Property(p, ..), Some(key)) if p.2 == "data" => Some(Need::DataKey(key)),
            (Expr::Property(p, ..), _) => Some(Need::Field(p.2.as_str())),
            _ => None,
        },
        // `var.<name>[...]`
        Expr::Index(y, ..) => match &y.lhs {
            Expr::Property(p, ..) => Some(Need::Field(p.2.as_str())),
            _ => None,
        },
        _ => None,
    }
}

/// The first link of a property chain's right side, if it is a property.
fn first_property(e: &Expr) -> Option<&str> {
    match e {
        Expr::Property(p, ..) => Some(p.2.as_str()),
        Expr::Dot(x, ..) | Expr::Index(x, ..) => first_property(&x.lhs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Config, engine};

    /// What the step `script` evaluates to reads, and its parameters.
    fn reads_of(script: &str) -> (Reads, Vec<String>) {
        let (engine, _session) = engine(&Config::default());
        let ast = engine.compile(script).unwrap();
        let f: FnPtr = engine.eval_ast(&ast).unwrap();
        let def = ast
            .iter_fn_def()
            .find(|d| d.name == f.fn_name() && d.params.len() == f.curry().len() + 2)
            .expect("the step's definition");
        let params = def.params.iter().map(|p| p.to_string()).collect();
        (of_def(def), params)
    }

    fn reads(script: &str) -> Reads {
        reads_of(script).0
    }

    fn fields(names: &[&str]) -> Reads {
        let f = names
            .iter()
            .fold(Fields::NONE, |f, n| f.union(Fields::named(n)));
        Reads::Fields(f, DataKeys::All)
    }

    /// `data` (only `keys` of it) and the fields `names`.
    fn data_keys(keys: &[&str], names: &[&str]) -> Reads {
        let Reads::Fields(f, _) = fields(names) else {
            unreachable!()
        };
        let keys = keys.iter().map(|k| k.to_string()).collect();
        Reads::Fields(f.union(Fields::DATA), DataKeys::Only(keys))
    }

    #[test]
    fn a_step_that_never_names_the_record_reads_nothing() {
        assert_eq!(reads("|acc, r| acc"), Reads::Nothing);
        assert_eq!(
            reads("|acc, r| { let x = acc.len(); acc + x }"),
            Reads::Nothing
        );
        // A nested closure's own `r` is not the record.
        assert_eq!(reads("|acc, r| acc.map(|r| r + 1)"), Reads::Nothing);
    }

    #[test]
    fn property_chains_read_only_the_fields_they_name() {
        assert_eq!(reads("|acc, r| acc + r.data"), fields(&["data"]));
        assert_eq!(reads("|acc, r| acc + r.data[0]"), fields(&["data"]));
        assert_eq!(reads("|acc, r| acc + r.data.len()"), fields(&["data"]));
        assert_eq!(
            reads("|acc, r| acc + r.data.amount + r.data"),
            fields(&["data"])
        );
        assert_eq!(
            reads("|acc, r| `${r.stream}${r.seq}${r.pos}${r.at}${r.id}${r.data}`"),
            Reads::ALL
        );
        assert_eq!(
            reads("|acc, r| { r.seq = 5; acc + r.data[r.seq] }"),
            fields(&["data", "seq"])
        );
    }

    #[test]
    fn data_read_only_by_key_keeps_only_those_keys() {
        assert_eq!(
            reads("|acc, r| acc + r.data.amount"),
            data_keys(&["amount"], &[])
        );
        assert_eq!(reads("|acc, r| acc + r?.data?.x"), data_keys(&["x"], &[]));
        assert_eq!(
            reads("|acc, r| acc + r.data.b.c[0] + r.data.a.len() + r.data.b + r.seq"),
            data_keys(&["a", "b"], &["seq"])
        );
        assert_eq!(
            reads("|acc, r| { r.data.x += 1; acc + r.data.x }"),
            data_keys(&["x"], &[])
        );
        // Names that are not record fields add nothing.
        assert_eq!(reads("|acc, r| acc + r.nope"), fields(&[]));
    }

    #[test]
    fn captures_come_before_acc_so_the_record_is_the_last_parameter() {
        let (r, params) = reads_of("let k = 2; let j = 3; |acc, rec| acc + rec.seq * k * j");
        assert_eq!(params.last().map(String::as_str), Some("rec"));
        assert_eq!(params.len(), 4, "{params:?}");
        assert_eq!(r, fields(&["seq"]));
        let (r, params) = reads_of("let k = 2; |acc, r| acc + r.data.x * k");
        assert_eq!(params, ["k", "acc", "r"]);
        assert_eq!(r, data_keys(&["x"], &[]));
    }

    #[test]
    fn any_other_use_needs_the_whole_record() {
        for step in [
            "|acc, r| r",
            "|acc, r| { acc.push(r); acc }",
            "|acc, r| acc + r[\"data\"]",
            "|acc, r| acc + type_of(r)",
            "|acc, r| acc + `${r}`",
            "|acc, r| acc + r.len()",
            "|acc, r| { let x = r; acc + x.seq }",
            "|acc, r| { r = 5; acc }",
            "|acc, r| acc + (|x| x + r.seq).call(1)",
            "|acc, r| acc + eval(\"r.seq\")",
            "|acc, r| { loop { break r.seq; } }",
            "|acc, r| switch r { _ => acc }",
        ] {
            assert_eq!(reads(step), Reads::ALL, "{step}");
        }
    }

    #[test]
    fn a_shadowing_variable_counts_as_the_record() {
        assert_eq!(reads("|acc, r| { let r = 5; acc + r }"), Reads::ALL);
        assert_eq!(
            reads("|acc, r| { let r = #{seq: 1}; acc + r.seq }"),
            fields(&["seq"])
        );
    }

    #[test]
    fn field_sets_know_the_record_fields() {
        for (i, n) in Fields::NAMES.iter().enumerate() {
            assert_eq!(Fields::named(n), Fields(1 << i));
            assert!(Fields::ALL.has(n) && !Fields::NONE.has(n));
        }
        assert_eq!(Fields::named("nope"), Fields::NONE);
        assert!(!Fields::ALL.has("nope"));
    }
}
