//! The version of a script closure (SPEC 3.13): a hash of its code that
//! ignores where the closure sits and how it is laid out.
//!
//! Rhai keeps no source text, so the code is read from the closure's
//! compiled body (rhai's `Debug` rendering of its AST: no whitespace, no
//! comments) with everything that is not code taken out:
//!
//! - positions (` @ 3:19`, spans `4:19-8:1`, bare `3:23`): any run of
//!   digits, `:`, `.` and `-` that holds a `:` outside a string literal;
//! - rhai's precomputed call hashes (`hash: ..`, `hash_op: ..`), which are
//!   seeded per process, and the hash keys of `switch` cases, whose blocks
//!   are then sorted (their map order is per process too);
//! - the names of nested closures (`anon$<hash of body and position>`),
//!   replaced by their own version.
//!
//! Limits, written down in the README: the literal values of `switch`
//! cases survive only as those per-process hashes, so changing a case's
//! literal alone is not seen; functions the step calls by name and the
//! values of captured variables are not part of the version (captured
//! variables are shared and may change between calls).

use std::fmt::{Debug, Write};

use rhai::{FnPtr, NativeCallContext, ScriptFuncDef, Shared};
use sha2::{Digest, Sha256};

use crate::script::closure::{self, DefCache};

/// How deep nested closures are followed.
const MAX_DEPTH: usize = 16;
/// The most parameters a closure is looked up with (captures included).
const MAX_PARAMS: usize = 32;

/// The version of `f`'s code, as 16 hex digits.
pub fn of(ctx: &NativeCallContext, f: &FnPtr) -> String {
    of_def(ctx, f, closure::def(ctx, f, &[2, 1]))
}

/// `of`, given the definition `f` names as `closure::def` found it (with a
/// step's arities, 2 or 1), so a caller that also needs the definition
/// for something else looks it up once.
pub fn of_def(ctx: &NativeCallContext, f: &FnPtr, def: Option<&Shared<ScriptFuncDef>>) -> String {
    match def {
        Some(def) => VERSIONS.with(|c| {
            // Saves re-rendering the body on every call (a `replay` of a
            // short tail would otherwise pay for it each time).
            c.get_or(def, || hex(&code(ctx, &def.params, &def.body, 0)))
        }),
        // A native function pointer: its name is all there is.
        None => hex(&format!("native {}", f.fn_name())),
    }
}

fn hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    data_encoding::HEXLOWER.encode(&digest[..8])
}

thread_local! {
    static VERSIONS: DefCache<String> = DefCache::default();
}

/// The normalised code of a function's parameters and body; nested
/// closures are looked up by name with any arity.
fn code(ctx: &NativeCallContext, params: &dyn Debug, body: &dyn Debug, depth: usize) -> String {
    let raw = format!("{params:?} {body:?}");
    normalise(&raw, &mut |nested| match depth < MAX_DEPTH {
        true => nested_code(ctx, nested, depth + 1),
        false => String::from("..."),
    })
}

fn nested_code(ctx: &NativeCallContext, name: &str, depth: usize) -> String {
    for m in ctx.iter_namespaces() {
        for n in 0..=MAX_PARAMS {
            if let Some(def) = m.get_script_fn(name, n) {
                return code(ctx, &def.params, &def.body, depth);
            }
        }
    }
    format!("native {name}")
}

/// `raw` (a `Debug` rendering of a function body) without positions and
/// hashes, with `nested(name)` in place of each nested closure's name.
pub fn normalise(raw: &str, nested: &mut dyn FnMut(&str) -> String) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &raw[i..];
        if b[i] == b'"' {
            let end = string_end(b, i);
            let lit = &raw[i..end];
            match lit
                .strip_prefix("\"anon$")
                .and_then(|l| l.strip_suffix('"'))
            {
                Some(_) => write!(out, "fn{{{}}}", nested(&lit[1..lit.len() - 1])).unwrap(),
                None => out.push_str(lit),
            }
            i = end;
        } else if let Some(after) = rest.strip_prefix(" @ ") {
            i = raw.len() - after.len();
            i += if after.starts_with("none") {
                4
            } else {
                run(after)
            };
        } else if let Some(key) = ["hash: ", "hash_op_assign: ", "hash_op: "]
            .iter()
            .find(|k| rest.starts_with(**k))
        {
            i += key.len() + hash_len(&raw[i + key.len()..]);
        } else if b[i].is_ascii_digit() || rest.starts_with("..") {
            let n = run(rest).max(1);
            let token = &rest[..n];
            if !token.contains(':') {
                out.push_str(token);
            }
            i += n;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    sort_switch_cases(&out)
}

/// Length of the run of position characters at the start of `s`.
fn run(s: &str) -> usize {
    s.bytes()
        .take_while(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'-'))
        .count()
}

/// Where the string literal starting at `start` (a `"`) ends, past its
/// closing quote (`Debug` escapes quotes and backslashes inside).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Length of a rendered call hash: `N`, `(N, M)` or `N (native only)`.
fn hash_len(s: &str) -> usize {
    if s.starts_with('(') {
        return s.find(')').map_or(s.len(), |e| e + 1);
    }
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    match s[n..].starts_with(" (native only)") {
        true => n + " (native only)".len(),
        false => n,
    }
}

/// Sorts the entries of every `cases: {..}` (a hash map rendered in its
/// per-process order).
fn sort_switch_cases(s: &str) -> String {
    const KEY: &str = "cases: {";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(KEY) {
        let body_start = at + KEY.len();
        out.push_str(&rest[..body_start]);
        let (body, close) = split_until_close(&rest[body_start..]);
        let mut entries = top_level_entries(body);
        entries.sort_unstable();
        out.push_str(&entries.join(", "));
        rest = &rest[body_start + close..];
    }
    out.push_str(rest);
    out
}

/// The text up to the `}` closing an already opened brace, and that
/// `}`'s offset.
fn split_until_close(s: &str) -> (&str, usize) {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' if depth == 0 => return (&s[..i], i),
            '}' | ']' | ')' => depth -= 1,
            _ => {}
        }
    }
    (s, s.len())
}

/// `a, b, c` split at top-level commas, each entry trimmed.
fn top_level_entries(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalise(s, &mut |n| format!("<{n}>"))
    }

    #[test]
    fn positions_and_hashes_go_numbers_and_strings_stay() {
        let a = r#"Block[FnCall(FnCallExpr { hash: 1278 (native only), name: "+", args: [Variable(acc #2) @ 3:19, 5 @ 3:25, "a 1:2" @ none], op_token: Some(Plus) }, 3:23)] @ 4:19-8:1"#;
        let b = r#"Block[FnCall(FnCallExpr { hash: 99 (native only), name: "+", args: [Variable(acc #2) @ 7:1, 5 @ 7:5, "a 1:2" @ none], op_token: Some(Plus) }, 7:3)] @ 9:18-34"#;
        assert_eq!(norm(a), norm(b));
        assert!(norm(a).contains("5") && norm(a).contains("\"a 1:2\""));
        assert_ne!(norm(a), norm(&a.replace("5 @", "6 @")));
    }

    #[test]
    fn nested_closures_and_switch_cases_are_made_stable() {
        let a = r#"[Fn*("anon$d78abd7819737b7f") @ 6:32, SwitchCasesCollection { cases: {876: CaseBlocksList { blocks: [1] }, 909: CaseBlocksList { blocks: [0] }}, def_case: Some(2) }]"#;
        let b = r#"[Fn*("anon$0000000000000001") @ 2:2, SwitchCasesCollection { cases: {11: CaseBlocksList { blocks: [0] }, 12: CaseBlocksList { blocks: [1] }}, def_case: Some(2) }]"#;
        let same = |s: &str| normalise(s, &mut |_| "body".into());
        assert_eq!(same(a), same(b));
        assert!(norm(a).contains("<anon$d78abd7819737b7f>"));
    }

    #[test]
    fn call_hash_forms_are_all_dropped() {
        assert_eq!(hash_len("(1, 2), name"), 6);
        assert_eq!(hash_len("12 (native only), x"), 16);
        assert_eq!(hash_len("12, x"), 2);
    }
}
