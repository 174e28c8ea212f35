//! Hint, manifest and compaction marker decoding. Input: one selector byte
//! (low 2 bits: hint, manifest, marker; bit 2: keep the input's own CRC
//! instead of resealing it) followed by the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::ondisk::fuzzing::{decode_hint, decode_manifest, decode_marker, with_crc};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let file = if sel & 4 == 0 {
        with_crc(body)
    } else {
        body.to_vec()
    };
    let _ = match sel & 3 {
        0 => decode_hint(&file),
        1 => decode_manifest(&file),
        _ => decode_marker(&file),
    };
});
