//! Readable, JSON-like text for script values (failure messages, `print`).

use std::fmt::Write;

use rhai::{Array, Blob, Dynamic, ImmutableString, Map};

pub fn show(d: &Dynamic) -> String {
    let mut out = String::new();
    write_value(&mut out, d);
    out
}

fn write_value(out: &mut String, d: &Dynamic) {
    if d.is_shared() {
        return write_value(out, &d.flatten_clone());
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
            write_value(out, item);
        }
        out.push(']');
    } else if let Some(m) = d.read_lock::<Map>() {
        out.push_str("#{");
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{k}: ");
            write_value(out, v);
        }
        out.push('}');
    } else {
        let _ = write!(out, "{d}");
    }
}
