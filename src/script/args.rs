//! Argument checks for the bindings. Bindings take `Dynamic` and check here,
//! so a wrong type gets a `persist:` error naming the op and the argument
//! instead of rhai's "function not found".

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, INT, ImmutableString, Map, Position};

use crate::Value;
use crate::script::convert::to_value;

pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// A `persist:` runtime error.
pub fn fail(msg: impl std::fmt::Display) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(format!("persist: {msg}").into(), Position::NONE).into()
}

pub fn kernel(e: crate::Error) -> Box<EvalAltResult> {
    fail(e)
}

fn got(d: &Dynamic) -> String {
    match d.type_name() {
        "()" => "()".into(),
        t => {
            let t = t.rsplit("::").next().unwrap_or(t);
            t.strip_suffix("Handle").unwrap_or(t).to_string()
        }
    }
}

pub fn string(op: &str, name: &str, d: &Dynamic) -> RhaiResult<ImmutableString> {
    d.read_lock::<ImmutableString>()
        .map(|s| s.clone())
        .ok_or_else(|| fail(format!("{op}: {name} must be a string, got {}", got(d))))
}

/// What a fold reads: a stream name (string), `persist::all()` or
/// `persist::category(name)`.
pub fn source(op: &str, d: &Dynamic) -> RhaiResult<crate::Source> {
    if let Some(s) = d.read_lock::<ImmutableString>() {
        return Ok(crate::Source::stream(s.as_str()));
    }
    d.read_lock::<crate::script::global::SourceHandle>()
        .map(|s| s.0.clone())
        .ok_or_else(|| {
            fail(format!(
                "{op}: stream must be a string (a stream name), persist::all() or persist::category(name), got {}",
                got(d)
            ))
        })
}

/// A non-negative integer (a seq, a count, a limit).
pub fn count(op: &str, name: &str, d: &Dynamic) -> RhaiResult<u64> {
    match d.as_int() {
        Ok(i) if i >= 0 => Ok(i as u64),
        Ok(i) => Err(fail(format!("{op}: {name} must be >= 0, got {i}"))),
        Err(_) => Err(fail(format!(
            "{op}: {name} must be an integer, got {}",
            got(d)
        ))),
    }
}

pub fn func(op: &str, name: &str, d: &Dynamic) -> RhaiResult<FnPtr> {
    d.read_lock::<FnPtr>()
        .map(|f| f.clone())
        .ok_or_else(|| fail(format!("{op}: {name} must be a function, got {}", got(d))))
}

pub fn array(op: &str, name: &str, d: &Dynamic) -> RhaiResult<Array> {
    d.read_lock::<Array>()
        .map(|a| a.clone())
        .ok_or_else(|| fail(format!("{op}: {name} must be an array, got {}", got(d))))
}

pub fn map(op: &str, name: &str, d: &Dynamic) -> RhaiResult<Map> {
    d.read_lock::<Map>()
        .map(|m| m.clone())
        .ok_or_else(|| fail(format!("{op}: {name} must be a map, got {}", got(d))))
}

/// A storable value; `what` says whose (e.g. `event for stream "a"`).
pub fn value(op: &str, what: impl Fn() -> String, d: &Dynamic) -> RhaiResult<Value> {
    to_value(d, &what).map_err(|msg| fail(format!("{op}: {msg}")))
}

pub fn int(n: u64) -> INT {
    n as INT
}
