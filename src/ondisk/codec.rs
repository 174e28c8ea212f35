//! Little-endian byte writing and bounds-checked reading.
//!
//! Everything read from disk goes through `Reader`, which never panics: a
//! short or malformed buffer is a `String` message the caller turns into
//! `Error::Corrupt` with the file and offset it knows.

pub(crate) fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A name (stream or key) as `u16 length, bytes`; callers check the length.
pub(crate) fn put_name(buf: &mut Vec<u8>, name: &str) {
    put_u16(buf, name.len() as u16);
    buf.extend_from_slice(name.as_bytes());
}

/// Little-endian fields read in order: `Reader` over a slice,
/// `hint_source::Source` over a file read a chunk at a time. Every read
/// checks that the bytes are there.
pub(crate) trait Fields {
    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&[u8], String>;

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// A `u16` length, then that many bytes of UTF-8.
    fn name(&mut self) -> Result<&str, String> {
        let n = self.u16()? as usize;
        utf8(self.take(n)?)
    }
}

fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|e| format!("name is not UTF-8: {e}"))
}

/// Cursor over a byte slice; every read checks bounds.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(format!(
                "{n} bytes needed at {} but only {} remain",
                self.pos,
                self.buf.len().saturating_sub(self.pos)
            ));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// `Fields::name`, borrowed from the slice rather than the reader.
    pub fn name(&mut self) -> Result<&'a str, String> {
        let n = self.u16()? as usize;
        utf8(self.bytes(n)?)
    }
}

impl Fields for Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        self.bytes(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_round_trips_and_rejects_short_input() {
        let mut b = Vec::new();
        put_u16(&mut b, 7);
        put_u32(&mut b, 9);
        put_u64(&mut b, u64::MAX);
        put_i64(&mut b, -3);
        put_name(&mut b, "orders");
        let mut r = Reader::new(&b);
        assert_eq!(r.u16(), Ok(7));
        assert_eq!(r.u32(), Ok(9));
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.i64(), Ok(-3));
        assert_eq!(r.name(), Ok("orders"));
        assert!(r.is_empty());
        assert!(r.u8().is_err());
        assert!(Reader::new(&[1, 0]).bytes(3).is_err());
    }
}
