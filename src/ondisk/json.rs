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
    if needs_escape(s.as_bytes()) {
        let _ = serde_json::to_writer(&mut *buf, s);
    } else {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    }
}

/// Whether any byte is a control character, `"` or `\\`.
fn needs_escape(s: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s.len() >= 16 {
        // SAFETY: SSE2 is part of every x86_64 CPU.
        return unsafe { needs_escape_sse2(s) };
    }
    // No early exit, so the check vectorizes.
    s.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// `needs_escape` of at least 16 bytes, 16 at a time (SSE2 is part of
/// x86_64): about 8 instructions per 16 bytes where the compiler's
/// vectorized fold took ~1 per byte (callgrind, `append_all`). The last
/// 16 bytes are checked as one more, overlapping, block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn needs_escape_sse2(s: &[u8]) -> bool {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_setzero_si128,
    };
    debug_assert!(s.len() >= 16);
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let control = _mm_set1_epi8(0x1f);
    let special = |b: &[u8; 16]| {
        // SAFETY: `b` is 16 readable bytes; the load is unaligned.
        let v = unsafe { _mm_loadu_si128(b.as_ptr().cast::<__m128i>()) };
        // Unsigned `v <= 0x1f` is `min(v, 0x1f) == v`.
        let low = _mm_cmpeq_epi8(_mm_min_epu8(v, control), v);
        _mm_or_si128(
            low,
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
        )
    };
    let (blocks, _) = s.as_chunks::<16>();
    let mut hits = _mm_setzero_si128();
    if let Some(last) = s.last_chunk::<16>() {
        hits = special(last);
    }
    for b in blocks {
        hits = _mm_or_si128(hits, special(b));
    }
    _mm_movemask_epi8(hits) != 0
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
        /// Long strings too, with the byte that needs escaping anywhere.
        #[test]
        fn escape_check_finds_every_special_byte(
            len in 0usize..80,
            at in any::<prop::sample::Index>(),
            b in prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff],
        ) {
            let mut s = vec![b'a'; len];
            if len > 0 {
                s[at.index(len)] = b;
            }
            let want = len > 0 && (b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(needs_escape(&s), want);
        }

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
