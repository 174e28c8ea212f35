//! The batch decoder and index apply, on a segment's frames with their
//! checksums resealed so the structural checks behind the CRC are reached.
//! Input: the bytes of a segment after its header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = persist::ondisk::fuzzing::replay_resealed(data);
});
