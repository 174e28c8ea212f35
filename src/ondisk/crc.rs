//! CRC32C of an entry's two short pieces (`batch::entry_crc`), the same
//! values as the `crc32c` crate's.
//!
//! The crate brings its input to 8-byte alignment byte by byte at both
//! ends and checks for SSE 4.2 on every call. For an entry (a 12- or
//! 8-byte head, then JSON of typically a few hundred bytes) those byte
//! steps are a long chain of dependent 3-cycle instructions: 217 of the
//! 1,536 instructions per event of a 1,000-event `append_all` (callgrind,
//! `bench/instructions.sh append_all`). Here the head and the JSON go in
//! unaligned 8-byte steps, then 4, then single bytes, behind one check.

/// `crc32c(head ++ json)`.
pub(crate) fn crc32c_pair(head: &[u8], json: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE 4.2, checked just above.
        return unsafe { !sse42(sse42(!0, head), json) };
    }
    crc32c::crc32c_append(crc32c::crc32c(head), json)
}

/// Runs the (inverted) CRC state `c` over `data`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn sse42(c: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u32, _mm_crc32_u64};
    let (words, rest) = data.as_chunks::<8>();
    let mut wide = u64::from(c);
    for w in words {
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(*w));
    }
    // The instruction leaves the upper half zero.
    let mut c = wide as u32;
    let (quads, rest) = rest.as_chunks::<4>();
    for q in quads {
        c = _mm_crc32_u32(c, u32::from_le_bytes(*q));
    }
    for &b in rest {
        c = _mm_crc32_u8(c, b);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_values_as_the_crate(data in prop::collection::vec(any::<u8>(), 0..300), cut in any::<prop::sample::Index>()) {
            let cut = cut.index(data.len() + 1);
            let (head, json) = data.split_at(cut);
            prop_assert_eq!(crc32c_pair(head, json), crc32c::crc32c(&data));
        }
    }

    #[test]
    fn known_value() {
        // The crate's documented example.
        assert_eq!(crc32c_pair(b"Hello ", b"world!"), 0x7B_98_E7_51);
    }
}
