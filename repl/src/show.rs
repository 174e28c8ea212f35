//! Readable, JSON-like text for script values: what the REPL prints for a
//! result, and what embedders (persist's failure messages) show for a value.

use std::fmt::Write;

use rhai::{Array, Blob, Dynamic, ImmutableString, Map};

/// The keys of a log record, in the order they read best; `id` is there
/// only for records appended with `append_once`.
const RECORD_KEYS: [&str; 6] = ["stream", "seq", "pos", "at", "id", "data"];
const OPTIONAL_KEY: &str = "id";

/// One line of text for a value: strings quoted, maps as `#{k: v}`, arrays
/// as `[a, b]`, blobs by size.
pub fn show(d: &Dynamic) -> String {
    let mut out = String::new();
    write_value(&mut out, d, &|d| d.to_string());
    out
}

/// What the REPL prints for a result: nothing for `()`, and an array of
/// records (maps with exactly `stream`, `seq`, `pos`, `at`, `data` and maybe
/// `id`) one record a
/// line, so a read of a stream stays legible. `other` writes values of the
/// embedder's own types (the REPL asks the engine's `to_string`).
pub fn show_result(d: &Dynamic, other: &dyn Fn(&Dynamic) -> String) -> Option<String> {
    if d.is_shared() {
        return show_result(&d.flatten_clone(), other);
    }
    if d.is_unit() {
        return None;
    }
    if let Some(a) = d.read_lock::<Array>()
        && !a.is_empty()
        && a.iter().all(is_record)
    {
        let mut out = String::from("[\n");
        for record in a.iter() {
            out.push_str("  ");
            write_value(&mut out, record, other);
            out.push_str(",\n");
        }
        out.push(']');
        return Some(out);
    }
    let mut out = String::new();
    write_value(&mut out, d, other);
    Some(out)
}

fn is_record(d: &Dynamic) -> bool {
    d.read_lock::<Map>().is_some_and(|m| is_record_map(&m))
}

fn is_record_map(m: &Map) -> bool {
    let want = RECORD_KEYS.len() - !m.contains_key(OPTIONAL_KEY) as usize;
    m.len() == want
        && RECORD_KEYS
            .iter()
            .all(|k| *k == OPTIONAL_KEY || m.contains_key(*k))
}

fn write_value(out: &mut String, d: &Dynamic, other: &dyn Fn(&Dynamic) -> String) {
    if d.is_shared() {
        return write_value(out, &d.flatten_clone(), other);
    }
    if d.is_unit() {
        out.push_str("()");
    } else if let Some(s) = d.read_lock::<ImmutableString>() {
        let _ = write!(out, "{:?}", s.as_str());
    } else if let Ok(f) = d.as_float() {
        let _ = write!(out, "{f:?}");
    } else if let Some(b) = d.read_lock::<Blob>() {
        let _ = write!(out, "blob({} bytes)", b.len());
    } else if let Some(a) = d.read_lock::<Array>() {
        out.push('[');
        for (i, item) in a.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_value(out, item, other);
        }
        out.push(']');
    } else if let Some(m) = d.read_lock::<Map>() {
        write_map(out, &m, other);
    } else if d.is_variant() {
        out.push_str(&other(d));
    } else {
        let _ = write!(out, "{d}");
    }
}

/// Records list their keys in `RECORD_KEYS` order, other maps in key order.
fn write_map(out: &mut String, m: &Map, other: &dyn Fn(&Dynamic) -> String) {
    let entries: Vec<(&str, &Dynamic)> = match is_record_map(m) {
        true => RECORD_KEYS
            .iter()
            .filter_map(|k| Some((*k, m.get(*k)?)))
            .collect(),
        false => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
    };
    out.push_str("#{");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{k}: ");
        write_value(out, v, other);
    }
    out.push('}');
}
