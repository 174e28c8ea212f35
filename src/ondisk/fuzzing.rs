//! Entry points for the fuzz targets under `fuzz/` (not API: hidden from
//! the docs, may change at any time).
//!
//! The decoders are private to `ondisk`; these wrappers reach them with the
//! checksums resealed, so a fuzzer's random bytes get past the CRC and into
//! the structural checks behind it. Each returns the decoder's error message
//! on bad input and panics only when an invariant the rest of the store
//! relies on is broken (that panic is the finding).

use std::collections::BTreeMap;

use super::batch::{EVENT_HEAD, Op, VALUE_HEAD};
use super::hint::{self, SegMeta};
use super::index::{Index, off_of, pack};
use super::segment::HEADER_LEN;
use super::{compact, frame, manifest, read};

/// Segment id the replayed frames are placed in.
const SEG: u64 = 1;

/// Replays `log`, the bytes after a segment header, as recovery does: frame
/// by frame (each frame's CRC recomputed first), decoding its batch and
/// applying it to one index. Stops at the first invalid frame, like a scan.
///
/// Checks on what it accepted: every position the index holds lands on a
/// whole entry inside its frame, and the index survives a hint round trip
/// unchanged (a reopen from the hint sees what the scan saw).
pub fn replay_resealed(log: &[u8]) -> Result<(), String> {
    let mut index = Index::default();
    let mut frames = BTreeMap::new();
    let mut off = HEADER_LEN;
    let mut rest = log;
    let mut outcome = Ok(());
    while rest.len() >= frame::HEADER {
        let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let end = rest.len().min(frame::HEADER.saturating_add(len as usize));
        let mut fr = rest[..end].to_vec();
        let crc = crc32c::crc32c(&fr[4..]);
        fr[0..4].copy_from_slice(&crc.to_le_bytes());
        // An invalid frame ends the scan (a torn tail, or damage) with the
        // index as it was; so does one whose batch does not decode.
        let ops = frame::parse(&fr).and_then(|_| super::batch::decode(&fr, frame::HEADER));
        let ops = match ops {
            Ok(ops) => ops,
            Err(e) => {
                outcome = Err(format!("frame at offset {off}: {e}"));
                break;
            }
        };
        check_entries(&fr, &ops);
        // A batch that does not apply is corruption: every caller discards
        // the half-applied index (the open refuses, a writer poisons).
        index
            .apply(pack(SEG, off), &ops)
            .map_err(|e| format!("frame at offset {off} does not apply: {e}"))?;
        frames.insert(off, fr);
        off += end as u64;
        rest = &rest[end..];
    }
    check_positions(&index, &frames);
    check_hint_round_trip(&index, off);
    outcome
}

/// Every entry a decoded op points at is whole inside its frame.
fn check_entries(fr: &[u8], ops: &[Op<'_>]) {
    for op in ops {
        match op {
            Op::Events { events, .. } => {
                for e in events {
                    assert!(
                        read::split_entry(&fr[e.off..], EVENT_HEAD).is_some(),
                        "event entry at frame byte {} is not whole",
                        e.off
                    );
                }
            }
            Op::KvPut { off, len, .. } => {
                let entry = &fr[*off..];
                assert!(
                    entry.len() >= VALUE_HEAD + *len as usize,
                    "kv entry at frame byte {off} is not whole"
                );
            }
            _ => {}
        }
    }
}

/// Every position in the index is inside a frame that was applied.
fn check_positions(index: &Index, frames: &BTreeMap<u64, Vec<u8>>) {
    let inside = |p: u64| {
        let off = off_of(p);
        frames
            .range(..=off)
            .next_back()
            .is_some_and(|(&start, fr)| off < start + fr.len() as u64)
    };
    for (name, s) in &index.streams {
        assert_eq!(s.pos.len(), s.gpos.len(), "stream {name:?}: pos and gpos");
        assert!(
            s.pos.iter().all(|&p| inside(p)),
            "stream {name:?}: stray pos"
        );
    }
    for (key, kv) in &index.kv {
        assert!(inside(kv.pos), "key {key:?}: stray pos");
    }
}

/// The hint written for `index` decodes to the same index.
fn check_hint_round_trip(index: &Index, len: u64) {
    let segs = [SegMeta {
        id: SEG,
        nonce: 7,
        len,
    }];
    let h = hint::decode(&hint::encode(&segs, index)).expect("own hint decodes");
    assert_eq!(h.segs, segs);
    assert_eq!(&h.index, index, "hint round trip changed the index");
}

/// `body` followed by its CRC32C, as the hint, manifest and compaction
/// marker files end.
pub fn with_crc(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    b.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    b
}

/// Decodes a hint file; on success, re-encoding it gives the same bytes.
pub fn decode_hint(b: &[u8]) -> Result<(), String> {
    let h = hint::decode(b)?;
    let again = hint::decode(&hint::encode(&h.segs, &h.index)).expect("own hint decodes");
    assert_eq!(again.index, h.index, "hint re-encode changed the index");
    Ok(())
}

/// Decodes a manifest; on success, re-encoding it gives the same bytes.
pub fn decode_manifest(b: &[u8]) -> Result<(), String> {
    let m = manifest::decode(b)?;
    assert_eq!(manifest::encode(&m), b, "manifest re-encode differs");
    Ok(())
}

/// Decodes a (legacy) compaction marker.
pub fn decode_marker(b: &[u8]) -> Result<(), String> {
    compact::decode_marker(b).map(drop)
}
