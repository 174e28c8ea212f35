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
//!
//! One entry's checksum is a single chain of dependent `crc32`
//! instructions (3 cycles each, one issued per cycle): latency bound, at a
//! third of what the unit can do. Entries are independent, so a batch's
//! are checksummed three at a time (`crc32c_pairs3`), the three chains
//! interleaved word by word; the values are the same.

/// `crc32c(head ++ json)`.
pub(crate) fn crc32c_pair(head: &[u8], json: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE 4.2, checked just above.
        return unsafe { !sse42(sse42(!0, head), json) };
    }
    crc32c::crc32c_append(crc32c::crc32c(head), json)
}

/// `crc32c_pair` of three entries at once, for the throughput of three
/// independent chains.
pub(crate) fn crc32c_pairs3(entries: [(&[u8], &[u8]); 3]) -> [u32; 3] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        let heads = entries.map(|(head, _)| head);
        let jsons = entries.map(|(_, json)| json);
        // SAFETY: the CPU has SSE 4.2, checked just above.
        return unsafe { sse42_3(sse42_3([!0; 3], heads), jsons).map(|c| !c) };
    }
    entries.map(|(head, json)| crc32c_pair(head, json))
}

/// Runs three (inverted) CRC states over their own data, interleaved
/// while all three have a whole 8-byte word left, then each on its own.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn sse42_3(c: [u32; 3], data: [&[u8]; 3]) -> [u32; 3] {
    use std::arch::x86_64::_mm_crc32_u64;
    let [a, b, d] = data.map(|x| x.as_chunks::<8>().0);
    let mut wide = c.map(u64::from);
    for ((x, y), z) in a.iter().zip(b).zip(d) {
        wide[0] = _mm_crc32_u64(wide[0], u64::from_le_bytes(*x));
        wide[1] = _mm_crc32_u64(wide[1], u64::from_le_bytes(*y));
        wide[2] = _mm_crc32_u64(wide[2], u64::from_le_bytes(*z));
    }
    // Every lane went over the same number of whole words.
    let done = 8 * a.len().min(b.len()).min(d.len());
    // The instruction leaves the upper half zero.
    std::array::from_fn(|i| sse42(wide[i] as u32, &data[i][done..]))
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

    proptest! {
        #[test]
        fn three_at_once_are_three_alone(
            data in prop::array::uniform3(prop::collection::vec(any::<u8>(), 0..300)),
            cuts in prop::array::uniform3(any::<prop::sample::Index>()),
        ) {
            let split = |i: usize| data[i].split_at(cuts[i].index(data[i].len() + 1));
            let got = crc32c_pairs3([split(0), split(1), split(2)]);
            let want = [0, 1, 2].map(|i| crc32c::crc32c(&data[i]));
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn known_value() {
        // The crate's documented example.
        assert_eq!(crc32c_pair(b"Hello ", b"world!"), 0x7B_98_E7_51);
    }
}
