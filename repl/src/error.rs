//! Error text for people: the message of the error that matters, and where
//! in the input it happened.

use rhai::EvalAltResult;

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

/// The message and the outermost position (line and column within the
/// input that was evaluated), e.g. `x is not defined (line 2, column 5)`.
pub fn describe(e: &EvalAltResult) -> String {
    let message = error_message(e);
    let pos = e.position();
    match (pos.line(), pos.position()) {
        (Some(line), Some(column)) => format!("{message} (line {line}, column {column})"),
        (Some(line), None) => format!("{message} (line {line})"),
        _ => message,
    }
}
