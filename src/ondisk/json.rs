//! Encoding values as stored JSON.
//!
//! The output is byte for byte what `serde_json::to_vec` writes; strings that
//! need no escaping (the common case: no `"`, `\` or control characters) are
//! copied in one go instead of being escaped byte by byte, which is most of
//! the cost of encoding an event.

use serde_json::Value;

/// Appends the compact JSON of `v` to `buf`.
pub(crate) fn write(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::String(s) => write_str(buf, s),
        Value::Array(items) => {
            buf.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write(buf, x);
            }
            buf.push(b']');
        }
        Value::Object(map) => {
            buf.push(b'{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_str(buf, k);
                buf.push(b':');
                write(buf, x);
            }
            buf.push(b'}');
        }
        // Null, booleans and numbers: writing to a Vec cannot fail.
        other => {
            let _ = serde_json::to_writer(&mut *buf, other);
        }
    }
}

fn write_str(buf: &mut Vec<u8>, s: &str) {
    // No early exit, so the check vectorizes.
    let needs_escape = s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        let _ = serde_json::to_writer(&mut *buf, s);
    } else {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        crate::test_json::json(crate::test_json::Shape {
            depth: 3,
            size: 24,
            width: 4,
            strings: "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é€😀 ]{0,12}",
            keys: "[a-z\"\\\\\n]{0,4}",
        })
    }

    proptest! {
        #[test]
        fn same_bytes_as_serde_json(v in value()) {
            let mut ours = Vec::new();
            write(&mut ours, &v);
            // The store-wide size limit measures exactly these bytes.
            let (len, bound) = crate::limits::measured_len(&v).expect("shallow");
            prop_assert_eq!(len, ours.len());
            prop_assert!(bound >= len);
            prop_assert_eq!(ours, serde_json::to_vec(&v).expect("serde_json"));
        }
    }
}
