//! The script assertions of SPEC 3.12. Equality is deep over maps and
//! arrays, and an integer never equals a float.

use rhai::plugin::*;
use rhai::{Array, Blob, Dynamic, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext};

use crate::script::args::RhaiResult;
use crate::script::show::show;

fn failed(msg: String) -> Box<EvalAltResult> {
    msg.into()
}

/// Deep, type-strict equality.
pub fn deep_eq(a: &Dynamic, b: &Dynamic) -> bool {
    if a.is_shared() || b.is_shared() {
        return deep_eq(&a.flatten_clone(), &b.flatten_clone());
    }
    if a.type_id() != b.type_id() {
        return false;
    }
    if a.is_unit() {
        return true;
    }
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.as_float(), b.as_float()) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.as_char(), b.as_char()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (
        a.read_lock::<ImmutableString>(),
        b.read_lock::<ImmutableString>(),
    ) {
        return *x == *y;
    }
    if let (Some(x), Some(y)) = (a.read_lock::<Blob>(), b.read_lock::<Blob>()) {
        return *x == *y;
    }
    if let (Some(x), Some(y)) = (a.read_lock::<Array>(), b.read_lock::<Array>()) {
        return x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_eq(p, q));
    }
    if let (Some(x), Some(y)) = (a.read_lock::<Map>(), b.read_lock::<Map>()) {
        return x.len() == y.len()
            && x.iter()
                .all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w)));
    }
    // Handles (stores, hubs, ...) and function pointers: compare as printed.
    a.to_string() == b.to_string()
}

/// The assertions (SPEC 3.14), registered globally for `persist test`.
/// The assertions (SPEC 3.14), registered globally for `persist test`.
#[export_module]
pub mod api {
    use super::*;

    /// Fails the test unless `cond` is true.
    #[rhai_fn(name = "assert", return_raw)]
    pub fn assert(cond: bool) -> RhaiResult<()> {
        match cond {
            true => Ok(()),
            false => Err(failed("assertion failed".into())),
        }
    }

    /// Fails the test with `message` unless `cond` is true.
    #[rhai_fn(name = "assert", return_raw)]
    pub fn assert_msg(cond: bool, message: Dynamic) -> RhaiResult<()> {
        match cond {
            true => Ok(()),
            false => Err(failed(format!("assertion failed: {message}"))),
        }
    }

    /// Fails unless `actual` equals `expected` (deep: maps, arrays, blobs).
    #[rhai_fn(name = "assert_eq", return_raw)]
    pub fn assert_eq(actual: Dynamic, expected: Dynamic) -> RhaiResult<()> {
        match deep_eq(&actual, &expected) {
            true => Ok(()),
            false => Err(failed(format!(
                "assert_eq failed\n  actual:   {}\n  expected: {}",
                show(&actual),
                show(&expected)
            ))),
        }
    }

    /// `assert_eq` with `message` in the failure.
    #[rhai_fn(name = "assert_eq", return_raw)]
    pub fn assert_eq_msg(actual: Dynamic, expected: Dynamic, message: Dynamic) -> RhaiResult<()> {
        match deep_eq(&actual, &expected) {
            true => Ok(()),
            false => Err(failed(format!(
                "assert_eq failed: {message}\n  actual:   {}\n  expected: {}",
                show(&actual),
                show(&expected)
            ))),
        }
    }

    /// Fails if `a` equals `b` (deep).
    #[rhai_fn(name = "assert_ne", return_raw)]
    pub fn assert_ne(a: Dynamic, b: Dynamic) -> RhaiResult<()> {
        match deep_eq(&a, &b) {
            false => Ok(()),
            true => Err(failed(format!("assert_ne failed: both are {}", show(&a)))),
        }
    }

    /// `assert_ne` with `message` in the failure.
    #[rhai_fn(name = "assert_ne", return_raw)]
    pub fn assert_ne_msg(a: Dynamic, b: Dynamic, message: Dynamic) -> RhaiResult<()> {
        match deep_eq(&a, &b) {
            false => Ok(()),
            true => Err(failed(format!(
                "assert_ne failed: {message}: both are {}",
                show(&a)
            ))),
        }
    }

    /// Passes only when `f()` raises an error whose message contains `text`.
    #[rhai_fn(name = "assert_err", volatile, return_raw)]
    pub fn assert_err(ctx: NativeCallContext, f: FnPtr, text: &str) -> RhaiResult<()> {
        match f.call_within_context::<Dynamic>(&ctx, ()) {
            Ok(v) => Err(failed(format!(
                "assert_err failed: expected an error containing {text:?}, got the value {}",
                show(&v)
            ))),
            Err(e) => {
                let msg = crate::script::error_message(&e);
                match msg.contains(text) {
                    true => Ok(()),
                    false => Err(failed(format!(
                        "assert_err failed: expected an error containing {text:?}, got: {msg}"
                    ))),
                }
            }
        }
    }
}
