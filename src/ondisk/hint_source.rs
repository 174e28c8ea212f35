//! Reading a hint a chunk at a time (`hint::head`, `Head::decode`): the
//! index is decoded straight out of a buffer small enough to stay in the
//! core's cache, and the checksum is run over each chunk as it arrives. A
//! reopen so neither faults in a buffer the size of the file (16 MB at
//! 1 M events) nor reads it twice (checksum, then decode).
//!
//! The checksum covers the whole file but its last 4 bytes, so it is known
//! only at the end: what was decoded is used only once `finish` compared
//! it. When decoding fails earlier, `verdict` reads the rest: a checksum
//! that fails is the reason given, as when the whole file was checked
//! first, so the reason an open gives for setting a hint aside does not
//! depend on how far decoding got.
//!
//! Invariants: `buf[at..end]` are body bytes read but not yet taken;
//! `left` body bytes are still in the source, after them the 4 checksum
//! bytes; `crc` covers every body byte read so far.

use std::collections::VecDeque;
use std::io::Read;

use super::codec::Fields;

/// Bytes per read: a few hundred KiB stay in L2 between the kernel's copy,
/// the checksum and the decode.
const CHUNK: usize = 256 << 10;

/// The body of a hint being read from `R`.
pub(crate) struct Source<R> {
    src: R,
    buf: Vec<u8>,
    at: usize,
    end: usize,
    left: u64,
    crc: u32,
}

/// Why reading failed, as a reason to set the hint aside.
fn unreadable(e: &std::io::Error) -> String {
    format!("cannot read: {e}")
}

impl<'a> Source<&'a [u8]> {
    /// A hint already in memory.
    pub fn of_slice(b: &'a [u8]) -> Result<Self, String> {
        Source::new(b, b.len() as u64)
    }
}

impl<R: Read> Source<R> {
    /// The hint of `len` bytes that `src` yields from its start.
    pub fn new(src: R, len: u64) -> Result<Self, String> {
        let Some(left) = len.checked_sub(4) else {
            return Err(format!("hint of {len} bytes has no room for its checksum"));
        };
        // No larger than the body; a take longer than the buffer (none is:
        // a name is at most 2 + 65,535 bytes) grows it.
        let cap = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        Ok(Source {
            src,
            buf: vec![0; cap],
            at: 0,
            end: 0,
            left,
            crc: 0,
        })
    }

    /// Body bytes not yet taken.
    pub fn remaining(&self) -> u64 {
        (self.end - self.at) as u64 + self.left
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Moves what is not yet taken to the front and reads more behind it.
    fn refill(&mut self) -> Result<(), String> {
        self.buf.copy_within(self.at..self.end, 0);
        self.end -= self.at;
        self.at = 0;
        let n = (self.buf.len() - self.end).min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let fresh = &mut self.buf[self.end..self.end + n];
        self.src.read_exact(fresh).map_err(|e| unreadable(&e))?;
        self.crc = crc32c::crc32c_append(self.crc, fresh);
        self.end += n;
        self.left -= n as u64;
        Ok(())
    }

    fn short(&self, n: u64) -> String {
        format!(
            "{n} bytes needed but only {} remain in the hint",
            self.remaining()
        )
    }

    /// `n` little-endian u64s, read a buffer at a time; bounded by the
    /// bytes present, so a bad count cannot exhaust memory.
    pub fn u64s(&mut self, n: u64) -> Result<VecDeque<u64>, String> {
        let bytes = n.checked_mul(8).ok_or("position count overflows")?;
        if bytes > self.remaining() {
            return Err(self.short(bytes));
        }
        let mut todo = usize::try_from(n).map_err(|_| "position count overflows")?;
        let mut out = Vec::with_capacity(todo);
        while todo > 0 {
            if self.end - self.at < 8 {
                self.refill()?;
            }
            let k = ((self.end - self.at) / 8).min(todo);
            let words = self.buf[self.at..self.at + 8 * k].as_chunks::<8>().0;
            out.extend(words.iter().map(|w| u64::from_le_bytes(*w)));
            self.at += 8 * k;
            todo -= k;
        }
        Ok(out.into())
    }

    /// Checks the checksum once the body is all taken: `Err` with the
    /// reason when bytes are left over or it does not match.
    pub fn finish(mut self) -> Result<(), String> {
        if !self.is_empty() {
            return Err(self.verdict("trailing bytes after the hint".into()));
        }
        let mut stored = [0u8; 4];
        self.src
            .read_exact(&mut stored)
            .map_err(|e| unreadable(&e))?;
        if u32::from_le_bytes(stored) != self.crc {
            return Err("hint checksum mismatch".into());
        }
        Ok(())
    }

    /// Reads the rest of the body and checks the checksum over the
    /// whole: `Err` with the reason when it fails or cannot be read.
    pub fn check_rest(mut self) -> Result<(), String> {
        self.at = self.end;
        while self.left > 0 {
            self.refill()?;
            self.at = self.end;
        }
        self.finish()
    }

    /// The reason to give for `msg`, found before the end: a checksum that
    /// fails over the whole file comes first (the bytes `msg` is about may
    /// be damaged), then a file that cannot be read.
    pub fn verdict(self, msg: String) -> String {
        self.check_rest().err().unwrap_or(msg)
    }
}

impl<R: Read> Fields for Source<R> {
    /// The next `n` body bytes.
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if n as u64 > self.remaining() {
            return Err(self.short(n as u64));
        }
        if self.end - self.at < n {
            if n > self.buf.len() {
                self.buf.resize(n, 0);
            }
            self.refill()?;
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::codec::{put_name, put_u32, put_u64};

    /// A body and its checksum.
    fn sealed(body: &[u8]) -> Vec<u8> {
        let mut b = body.to_vec();
        put_u32(&mut b, crc32c::crc32c(body));
        b
    }

    /// Values that straddle buffer refills come back whole, and the
    /// checksum passes only for the bytes it was computed over.
    #[test]
    fn reads_across_refills_and_checks_the_checksum() {
        let mut body = Vec::new();
        let n = 3 * CHUNK / 8 + 3;
        put_u64(&mut body, n as u64);
        for i in 0..n as u64 {
            put_u64(&mut body, i * 3);
        }
        put_name(&mut body, "orders");
        body.push(7);
        put_u32(&mut body, 11);
        let b = sealed(&body);
        let mut s = Source::of_slice(&b).expect("source");
        let count = s.u64().expect("count");
        let out = s.u64s(count).expect("words");
        assert!(out.iter().enumerate().all(|(i, &w)| w == i as u64 * 3));
        assert_eq!(s.name(), Ok("orders"));
        assert_eq!(s.take(1), Ok(&[7u8][..]));
        assert_eq!(s.u32(), Ok(11));
        assert!(s.u64().is_err());
        s.finish().expect("checksum");
        for at in [0, 9, CHUNK + 5, b.len() - 1] {
            let mut d = b.clone();
            d[at] ^= 4;
            let mut s = Source::of_slice(&d).expect("source");
            let _ = s.take(body.len());
            assert_eq!(
                s.finish(),
                Err("hint checksum mismatch".into()),
                "flip at {at}"
            );
        }
    }

    /// A count larger than the bytes left is refused before anything is
    /// allocated for it, and the reason given is the checksum's when the
    /// file is damaged.
    #[test]
    fn a_bad_count_is_refused_and_damage_explains_it() {
        let mut body = Vec::new();
        put_u64(&mut body, 5);
        put_u64(&mut body, 1);
        let b = sealed(&body);
        let mut s = Source::of_slice(&b).expect("source");
        s.u64().expect("count");
        let overflow = s.u64s(u64::MAX / 4).unwrap_err();
        assert!(overflow.contains("overflows"), "{overflow}");
        let err = s.u64s(1 << 40).unwrap_err();
        assert!(err.contains("remain"), "{err}");
        assert_eq!(s.verdict(err.clone()), err);
        let mut d = b.clone();
        d[0] = 200;
        let s = Source::of_slice(&d).expect("source");
        assert_eq!(s.verdict("x".into()), "hint checksum mismatch");
        assert!(Source::of_slice(&b[..3]).is_err());
        let mut s = Source::of_slice(&b).expect("source");
        s.u64().expect("count");
        assert_eq!(s.finish(), Err("trailing bytes after the hint".into()));
    }
}
