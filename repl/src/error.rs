//! Error text for people: the message of the error that matters, where it
//! happened, and the calls that led there.

use rhai::{EvalAltResult, Position};

/// The message of the innermost error, without position: a failure deep in
/// a function call reads as what went wrong, not as the chain of calls.
pub fn error_message(e: &EvalAltResult) -> String {
    let inner = e.unwrap_inner();
    match inner {
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        other => {
            let text = other.to_string();
            match other.position().is_none() {
                true => text,
                false => text
                    .rsplit_once(" (line ")
                    .map_or(text.clone(), |(m, _)| m.to_string()),
            }
        }
    }
}

/// Where the error was raised: the position of the deepest error that has
/// one (inside a closure, not at the call that ran it).
pub fn innermost_position(e: &EvalAltResult) -> Position {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, pos)
        | EvalAltResult::ErrorInModule(_, inner, pos) => {
            let p = innermost_position(inner);
            if p.is_none() { *pos } else { p }
        }
        other => other.position(),
    }
}

/// The calls that led to the error, innermost first, in words:
/// `in closure at 5:17, called by project at 7`. `source` is the text the
/// positions refer to (it names the function that ran a closure); `at`
/// writes a position, with its column when the flag is set. `None` when the
/// error happened outside any function.
pub fn call_chain(
    e: &EvalAltResult,
    source: &str,
    at: &dyn Fn(Position, bool) -> String,
) -> Option<String> {
    // Outermost first: each call, and where it was made.
    let mut calls: Vec<(&str, Position)> = Vec::new();
    let mut cur = e;
    loop {
        match cur {
            EvalAltResult::ErrorInFunctionCall(name, _, inner, pos) => {
                calls.push((name.as_str(), *pos));
                cur = inner;
            }
            EvalAltResult::ErrorInModule(_, inner, _) => cur = inner,
            _ => break,
        }
    }
    let (innermost, _) = *calls.last()?;
    let mut text = format!(
        "in {} at {}",
        callee(innermost),
        at(innermost_position(e), true)
    );
    for (i, (name, pos)) in calls.iter().enumerate().rev() {
        text.push_str(", called ");
        // A call whose position names another function was made by that
        // function (a native one such as `project` running a closure).
        if let Some(by) = word_at(source, *pos).filter(|w| w != name) {
            text.push_str(&format!("by {by} "));
        }
        text.push_str(&format!("at {}", at(*pos, false)));
        if i > 0 {
            text.push_str(&format!(" in {}", callee(calls[i - 1].0)));
        }
    }
    Some(text)
}

/// `closure` for an anonymous function, else `fn name`.
fn callee(name: &str) -> String {
    match name.starts_with("anon$") {
        true => "closure".into(),
        false => format!("fn {name}"),
    }
}

/// The identifier starting at `pos` in `source`, if any.
fn word_at(source: &str, pos: Position) -> Option<String> {
    let line = source.lines().nth(pos.line()?.checked_sub(1)?)?;
    let word: String = line
        .chars()
        .skip(pos.position()?.checked_sub(1)?)
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let starts_well = word.chars().next()?.is_alphabetic() || word.starts_with('_');
    starts_well.then_some(word)
}

/// What the REPL prints for a failed input: the message, where in the
/// input (`source`) it was raised, and the calls that led there, e.g.
/// `x is not defined (line 2, column 5)`.
pub fn describe(e: &EvalAltResult, source: &str) -> String {
    let message = error_message(e);
    let place = |p: Position, column: bool| match (p.line(), p.position()) {
        (Some(line), Some(c)) if column => format!("line {line}, column {c}"),
        (Some(line), _) => format!("line {line}"),
        _ => "an unknown place".into(),
    };
    let pos = innermost_position(e);
    let mut text = match pos.is_none() {
        true => message,
        false => format!("{message} ({})", place(pos, true)),
    };
    if let Some(chain) = call_chain(e, source, &place) {
        text.push_str("\n  ");
        text.push_str(&chain);
    }
    text
}
