//! Batch frames (STORAGE rule 1).
//!
//! ```text
//! 0..4    crc32c over bytes 4..24 and the payload
//! 4..8    payload length (1 ..= MAX_PAYLOAD)
//! 8       kind (never 0)
//! 9..16   reserved, zero
//! 16..24  synced: offset in this segment known durable when the frame was
//!         written (lets recovery tell a torn tail from damaged synced data)
//! 24..    payload
//! ```
//! A zero-filled region fails on the length (0) before any payload is read,
//! so it never passes as a frame.

use super::codec::{Fields, Reader};

pub(crate) const HEADER: usize = 24;
/// Where the checksummed bytes start (everything after the crc field).
pub(crate) const CRC_FROM: usize = 4;
/// Where the kind byte sits in the header.
pub(crate) const KIND_AT: usize = 8;
/// Largest payload a frame may hold; a longer length field is invalid.
pub(crate) const MAX_PAYLOAD: u32 = 128 << 20;
/// The only frame kind: a batch of operations, applied whole or not at all.
pub(crate) const KIND_BATCH: u8 = 1;

/// Starts a frame: header space followed by the payload the caller appends.
pub(crate) fn begin() -> Vec<u8> {
    vec![0; HEADER]
}

/// Fills in the header of a frame built with `begin`.
/// The caller guarantees `1 ..= MAX_PAYLOAD` payload bytes.
pub(crate) fn seal(frame: &mut [u8], synced: u64) {
    let len = (frame.len() - HEADER) as u32;
    frame[4..8].copy_from_slice(&len.to_le_bytes());
    frame[KIND_AT] = KIND_BATCH;
    frame[9..16].fill(0);
    frame[16..24].copy_from_slice(&synced.to_le_bytes());
    let crc = crc32c::crc32c(&frame[CRC_FROM..]);
    frame[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// What a header says, once it passed the checks that need no payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub crc: u32,
    pub len: u32,
    pub synced: u64,
}

/// Why a header is invalid. The message is built only when shown: the
/// frame finder (`segment::next_frame`) tries every candidate start whose
/// kind byte matches, and almost all of them fail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BadHeader {
    Short,
    Len(u32),
    Kind(u8),
    Reserved,
}

impl std::fmt::Display for BadHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadHeader::Short => write!(f, "short frame header"),
            BadHeader::Len(len) => write!(f, "frame length {len} is outside 1..={MAX_PAYLOAD}"),
            BadHeader::Kind(kind) => write!(f, "unknown frame kind {kind}"),
            BadHeader::Reserved => write!(f, "reserved header bytes are not zero"),
        }
    }
}

impl From<BadHeader> for String {
    fn from(e: BadHeader) -> String {
        e.to_string()
    }
}

/// Checks everything but the checksum.
pub(crate) fn parse_header(h: &[u8]) -> Result<Header, BadHeader> {
    let mut r = Reader::new(h);
    let short = |_| BadHeader::Short;
    let crc = r.u32().map_err(short)?;
    let len = r.u32().map_err(short)?;
    let kind = r.u8().map_err(short)?;
    let reserved = r.bytes(7).map_err(short)?;
    let synced = r.u64().map_err(short)?;
    if len == 0 || len > MAX_PAYLOAD {
        return Err(BadHeader::Len(len));
    }
    if kind != KIND_BATCH {
        return Err(BadHeader::Kind(kind));
    }
    if reserved.iter().any(|&b| b != 0) {
        return Err(BadHeader::Reserved);
    }
    Ok(Header { crc, len, synced })
}

/// Checks the checksum of a whole frame (header and payload).
pub(crate) fn check_crc(h: &Header, frame: &[u8]) -> Result<(), String> {
    let actual = crc32c::crc32c(&frame[CRC_FROM..]);
    if actual != h.crc {
        return Err(format!(
            "checksum mismatch (stored {:08x}, computed {actual:08x})",
            h.crc
        ));
    }
    Ok(())
}

/// Validates a complete frame at the start of `buf`; returns its header.
pub(crate) fn parse(buf: &[u8]) -> Result<Header, String> {
    let h = parse_header(buf.get(..HEADER).ok_or(BadHeader::Short)?)?;
    let end = HEADER + h.len as usize;
    let frame = buf
        .get(..end)
        .ok_or("frame runs past the end of the file")?;
    check_crc(&h, frame)?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut f = begin();
        f.extend_from_slice(b"hello");
        seal(&mut f, 77);
        f
    }

    #[test]
    fn sealed_frame_parses() {
        let h = parse(&sample()).expect("valid frame");
        assert_eq!((h.len, h.synced), (5, 77));
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let f = sample();
        for i in 0..f.len() * 8 {
            let mut g = f.clone();
            g[i / 8] ^= 1 << (i % 8);
            assert!(parse(&g).is_err(), "flip of bit {i} passed");
        }
    }

    #[test]
    fn zeros_and_short_input_are_invalid() {
        assert!(parse(&[0u8; 64]).is_err());
        let f = sample();
        for n in 0..f.len() {
            assert!(parse(&f[..n]).is_err(), "prefix of {n} bytes passed");
        }
    }
}
