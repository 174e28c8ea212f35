//! The operations inside a batch frame's payload.
//!
//! ```text
//! events    1, name, first u64, last u64, count u32, count x entry
//!           entry: at i64, len u32, crc u32, json
//! kv put    2, name, len u32, crc u32, json
//! kv del    3, name
//! truncate  4, name, through u64
//! ```
//! `name` is `u16 length, UTF-8`. An events op holds seqs `first ..` and
//! leaves the stream's high-water mark at `last`: an append has
//! `count == last - first + 1`; `restore` and compaction write the same op
//! for the kept suffix of a stream (possibly empty, `first == last + 1`).
//! Event entries are adjacent, so one stream's records read back in one pread.
//! Each entry carries its own crc32c (over the bytes before the crc and the
//! JSON), so a record read through a hint is checked even though the frame
//! around it is not re-read.

use super::codec::{Reader, put_i64, put_name, put_u32, put_u64};

const OP_EVENTS: u8 = 1;
const OP_KV_PUT: u8 = 2;
const OP_KV_DEL: u8 = 3;
const OP_TRUNCATE: u8 = 4;

/// Bytes of an event entry before its JSON: `at`, length, crc.
pub(crate) const EVENT_HEAD: usize = 16;
/// Bytes of a kv value entry before its JSON: length, crc.
pub(crate) const VALUE_HEAD: usize = 8;

/// The checksum of an entry: `head` is what precedes the crc field.
pub(crate) fn entry_crc(head: &[u8], json: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(head), json)
}

fn put_entry(buf: &mut Vec<u8>, at: Option<i64>, json: &[u8]) {
    let start = buf.len();
    if let Some(at) = at {
        put_i64(buf, at);
    }
    put_u32(buf, json.len() as u32);
    let crc = entry_crc(&buf[start..], json);
    put_u32(buf, crc);
    buf.extend_from_slice(json);
}

/// Where an event entry (`at`, len, json) starts, relative to the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRef {
    pub at: i64,
    pub off: usize,
}

/// A decoded operation; names borrow from the frame buffer.
#[derive(Debug)]
pub(crate) enum Op<'a> {
    Events {
        stream: &'a str,
        first: u64,
        last: u64,
        events: Vec<EventRef>,
    },
    /// `off` is where the value entry (len, crc, json) starts.
    KvPut {
        key: &'a str,
        off: usize,
        len: u32,
    },
    KvDel {
        key: &'a str,
    },
    Truncate {
        stream: &'a str,
        through: u64,
    },
}

/// Bytes `put_events` writes for these JSON lengths (names aside).
pub(crate) fn events_size(stream: &str, json_bytes: usize, count: usize) -> usize {
    1 + 2 + stream.len() + 8 + 8 + 4 + count * EVENT_HEAD + json_bytes
}

pub(crate) fn put_events<'e>(
    buf: &mut Vec<u8>,
    stream: &str,
    first: u64,
    last: u64,
    events: impl ExactSizeIterator<Item = (i64, &'e [u8])>,
) {
    buf.push(OP_EVENTS);
    put_name(buf, stream);
    put_u64(buf, first);
    put_u64(buf, last);
    put_u32(buf, events.len() as u32);
    for (at, json) in events {
        put_entry(buf, Some(at), json);
    }
}

pub(crate) fn put_kv(buf: &mut Vec<u8>, key: &str, json: &[u8]) {
    buf.push(OP_KV_PUT);
    put_name(buf, key);
    put_entry(buf, None, json);
}

pub(crate) fn put_kv_del(buf: &mut Vec<u8>, key: &str) {
    buf.push(OP_KV_DEL);
    put_name(buf, key);
}

pub(crate) fn put_truncate(buf: &mut Vec<u8>, stream: &str, through: u64) {
    buf.push(OP_TRUNCATE);
    put_name(buf, stream);
    put_u64(buf, through);
}

/// Decodes every op of a frame whose payload starts at `start`.
/// Offsets in the ops are relative to the start of `frame`.
pub(crate) fn decode(frame: &[u8], start: usize) -> Result<Vec<Op<'_>>, String> {
    let mut r = Reader::new(frame);
    r.bytes(start)?;
    let mut ops = Vec::new();
    while !r.is_empty() {
        let at = r.pos();
        let op = match r.u8()? {
            OP_EVENTS => decode_events(&mut r)?,
            OP_KV_PUT => {
                let key = r.name()?;
                let off = r.pos();
                let len = r.u32()?;
                r.u32()?;
                r.bytes(len as usize)?;
                Op::KvPut { key, off, len }
            }
            OP_KV_DEL => Op::KvDel { key: r.name()? },
            OP_TRUNCATE => Op::Truncate {
                stream: r.name()?,
                through: r.u64()?,
            },
            t => return Err(format!("unknown op tag {t} at frame byte {at}")),
        };
        ops.push(op);
    }
    Ok(ops)
}

fn decode_events<'a>(r: &mut Reader<'a>) -> Result<Op<'a>, String> {
    let stream = r.name()?;
    let first = r.u64()?;
    let last = r.u64()?;
    let count = r.u32()?;
    if first == 0 || last.checked_add(1) != first.checked_add(count as u64) {
        return Err(format!(
            "stream {stream:?}: {count} events do not span seqs {first}..={last}"
        ));
    }
    // Never trust a count read from disk for an allocation.
    let mut events = Vec::with_capacity((count as usize).min(r.remaining() / EVENT_HEAD));
    for _ in 0..count {
        let off = r.pos();
        let at = r.i64()?;
        let len = r.u32()?;
        r.u32()?;
        r.bytes(len as usize)?;
        events.push(EventRef { at, off });
    }
    Ok(Op::Events {
        stream,
        first,
        last,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        let mut b = vec![9u8; 3];
        put_events(
            &mut b,
            "s",
            4,
            5,
            [(10, &b"1"[..]), (10, &b"22"[..])].into_iter(),
        );
        put_kv(&mut b, "k", b"true");
        put_kv_del(&mut b, "k");
        put_truncate(&mut b, "s", 4);
        let ops = decode(&b, 3).expect("decodes");
        assert_eq!(ops.len(), 4);
        let Op::Events {
            stream,
            first,
            last,
            events,
        } = &ops[0]
        else {
            panic!("not events: {:?}", ops[0]);
        };
        assert_eq!((*stream, *first, *last, events.len()), ("s", 4, 5, 2));
        let e1 = events[1].off;
        assert_eq!(&b[e1 + EVENT_HEAD..e1 + EVENT_HEAD + 2], b"22");
        let Op::KvPut { key, off, len } = &ops[1] else {
            panic!("not a put: {:?}", ops[1]);
        };
        let json = &b[*off + VALUE_HEAD..*off + VALUE_HEAD + *len as usize];
        assert_eq!((*key, json), ("k", &b"true"[..]));
        assert!(matches!(
            ops[3],
            Op::Truncate {
                stream: "s",
                through: 4
            }
        ));
    }

    #[test]
    fn inconsistent_or_short_ops_are_errors() {
        let mut b = Vec::new();
        put_events(&mut b, "s", 1, 3, [(0, &b"1"[..])].into_iter());
        assert!(decode(&b, 0).is_err());
        let mut b = Vec::new();
        put_kv(&mut b, "k", b"123");
        assert!(decode(&b[..b.len() - 1], 0).is_err());
        assert!(decode(&[42], 0).is_err());
    }
}
