//! Encoding values as stored JSON.
//!
//! The output is byte for byte what `serde_json::to_vec` writes; strings that
//! need no escaping (the common case: no `"`, `\` or control characters) are
//! copied in one go instead of being escaped byte by byte, which is most of
//! the cost of encoding an event.

use std::mem::MaybeUninit;

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
    let start = buf.len();
    if !push_plain(buf, s.as_bytes()) {
        buf.truncate(start);
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

/// Appends `"s"` in one pass that copies and checks together, and says
/// whether no byte of `s` needs escaping; when one does, what it appended
/// is to be cut off. Copying and checking apart read each byte twice and
/// took ~350 instructions for a 200-byte string (callgrind, `append_all`).
fn push_plain(buf: &mut Vec<u8>, s: &[u8]) -> bool {
    let start = buf.len();
    buf.reserve(s.len() + 2);
    let out = &mut buf.spare_capacity_mut()[..s.len() + 2];
    out[0].write(b'"');
    let plain = copy_plain(&mut out[1..=s.len()], s);
    out[s.len() + 1].write(b'"');
    // SAFETY: the `s.len() + 2` bytes after `start` were all written above.
    unsafe { buf.set_len(start + s.len() + 2) };
    plain
}

/// Whether a byte must be escaped in a JSON string: a control character,
/// `"` or `\`.
fn special(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// Copies `src` into `dst` (the same length) and says whether no byte of
/// it is `special`.
fn copy_plain(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> bool {
    assert_eq!(dst.len(), src.len(), "copy_plain: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        if src.len() >= 32 && std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { simd::copy_plain_avx2(dst, src) };
        }
        if src.len() >= 16 {
            // SAFETY: SSE2 is part of every x86_64 CPU.
            return unsafe { simd::copy_plain_sse2(dst, src) };
        }
    }
    // No early exit, so the check vectorizes.
    let mut hits = false;
    for (d, &b) in dst.iter_mut().zip(src) {
        d.write(b);
        hits |= special(b);
    }
    !hits
}

/// `copy_plain` a vector register at a time: each block is loaded once,
/// stored, and checked. The last block overlaps the one before it (its
/// bytes are stored twice, alike), so no byte is left for a scalar loop.
/// One template, at two widths.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    macro_rules! copy_plain_by {
        ($name:ident, $block:ident, $feature:literal, $width:literal, $reg:ty,
         $load:ident, $store:ident, $set1:ident, $zero:ident, $min:ident, $eq:ident,
         $or:ident, $mask:ident) => {
            /// `dst.len() == src.len() >=` the register's width.
            #[target_feature(enable = $feature)]
            pub(super) fn $name(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> bool {
                assert!(dst.len() == src.len() && src.len() >= $width);
                let (n, s, d) = (src.len(), src.as_ptr(), dst.as_mut_ptr().cast::<u8>());
                let mut hits = $zero();
                let mut at = 0;
                while at + $width <= n {
                    // SAFETY: `at + width <= n`: inside both slices.
                    hits = $or(hits, unsafe { $block(s.add(at), d.add(at)) });
                    at += $width;
                }
                if at < n {
                    // SAFETY: `n >= width`.
                    hits = $or(hits, unsafe {
                        $block(s.add(n - $width), d.add(n - $width))
                    });
                }
                $mask(hits) == 0
            }

            /// Copies the register's width of bytes at `s` to `d`; marks
            /// those that are special. Safety: both point at that many
            /// bytes (readable, writable).
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn $block(s: *const u8, d: *mut u8) -> $reg {
                // SAFETY: the caller's.
                let v = unsafe { $load(s.cast()) };
                unsafe { $store(d.cast(), v) };
                // Unsigned `v <= 0x1f` is `min(v, 0x1f) == v`.
                let low = $eq($min(v, $set1(0x1f)), v);
                let quote = $eq(v, $set1(b'"' as i8));
                let backslash = $eq(v, $set1(b'\\' as i8));
                $or(low, $or(quote, backslash))
            }
        };
    }

    copy_plain_by!(
        copy_plain_avx2,
        block_avx2,
        "avx2",
        32,
        __m256i,
        _mm256_loadu_si256,
        _mm256_storeu_si256,
        _mm256_set1_epi8,
        _mm256_setzero_si256,
        _mm256_min_epu8,
        _mm256_cmpeq_epi8,
        _mm256_or_si256,
        _mm256_movemask_epi8
    );
    copy_plain_by!(
        copy_plain_sse2,
        block_sse2,
        "sse2",
        16,
        __m128i,
        _mm_loadu_si128,
        _mm_storeu_si128,
        _mm_set1_epi8,
        _mm_setzero_si128,
        _mm_min_epu8,
        _mm_cmpeq_epi8,
        _mm_or_si128,
        _mm_movemask_epi8
    );
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
        /// Long strings too (every copy path), with the byte that needs
        /// escaping anywhere; the bytes are copied either way.
        #[test]
        fn copy_check_finds_every_special_byte(
            len in 0usize..100,
            at in any::<prop::sample::Index>(),
            b in prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff],
        ) {
            let mut s = vec![b'a'; len];
            if len > 0 {
                s[at.index(len)] = b;
            }
            let want = len > 0 && (b < 0x20 || b == b'"' || b == b'\\');
            let mut buf = b"x".to_vec();
            prop_assert_eq!(push_plain(&mut buf, &s), !want);
            prop_assert_eq!(&buf[..2], b"x\"");
            prop_assert_eq!(&buf[2..2 + len], &s[..]);
            prop_assert_eq!(&buf[2 + len..], b"\"");
            // The SSE2 path is what a CPU without AVX2 takes for long ones.
            #[cfg(target_arch = "x86_64")]
            if len >= 16 {
                let mut out = vec![MaybeUninit::new(0u8); len];
                // SAFETY: SSE2 is part of every x86_64 CPU.
                let plain = unsafe { simd::copy_plain_sse2(&mut out, &s) };
                prop_assert_eq!(plain, !want);
                // SAFETY: every byte of `out` was initialized above.
                let copied: Vec<u8> = out.iter().map(|o| unsafe { o.assume_init() }).collect();
                prop_assert_eq!(copied, s.clone());
            }
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
