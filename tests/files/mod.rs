//! Reading a store directory's files as bytes, for the tests that damage
//! them and check what changed.
// Each test file that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

/// Every file's name and bytes.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Every file in `dir`, by name.
pub fn files(dir: &Path) -> Files {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

/// Frame boundaries of a segment file (after its 32-byte header; each
/// frame is a 24-byte header, whose bytes 4..8 give the payload length,
/// and the payload).
pub fn boundaries(b: &[u8]) -> Vec<usize> {
    let mut out = vec![32];
    let mut off = 32;
    while off + 24 <= b.len() {
        let len = u32::from_le_bytes([b[off + 4], b[off + 5], b[off + 6], b[off + 7]]) as usize;
        if len == 0 || off + 24 + len > b.len() {
            break;
        }
        off += 24 + len;
        out.push(off);
    }
    out
}
