//! The operations inside a batch frame's payload.
//!
//! ```text
//! events    5, name, first u64, last u64, count u32, count x (pos u64, id, entry)
//!           id: u16 length (0: none), UTF-8
//!           entry: at i64, len u32, crc u32, json
//! kv put    2, name, len u32, crc u32, json
//! kv del    3, name
//! truncate  4, name, through u64
//! ids       6, count u32, count x (id name, stream name, seq u64)
//! last pos  7, pos u64
//! events v1 1, name, first u64, last u64, count u32, count x entry
//! ```
//! Version 1 events (written before global positions existed) carry no pos
//! and no id; they are only read. Replaying the log gives each of them the
//! next pos in log order (`last pos + 1` at the moment it is applied),
//! which is deterministic, so every reopen numbers them alike; compaction
//! rewrites them as version 5 with that pos. An `ids` op keeps the ids of
//! records a compaction dropped (and those `restore_global` adds); a `last
//! pos` op keeps the high-water mark over records that are gone. The
//! record's pos and id sit before its entry, under the frame's checksum;
//! the entry's own checksum covers `at` and the JSON, as before.
//! `name` is `u16 length, UTF-8`. An events op holds seqs `first ..` and
//! leaves the stream's high-water mark at `last`: an append has
//! `count == last - first + 1`; `restore` and compaction write the same op
//! for the kept suffix of a stream (possibly empty, `first == last + 1`).
//! Event entries are adjacent, so one stream's records read back in one pread.
//! Each entry carries its own crc32c (over the bytes before the crc and the
//! JSON), so a record read through a hint is checked even though the frame
//! around it is not re-read.

use super::codec::{Fields, Reader, put_i64, put_name, put_u32, put_u64};

const OP_EVENTS: u8 = 1;
const OP_KV_PUT: u8 = 2;
const OP_KV_DEL: u8 = 3;
const OP_TRUNCATE: u8 = 4;
pub(super) const OP_EVENTS_V2: u8 = 5;
const OP_IDS: u8 = 6;
const OP_LAST_POS: u8 = 7;

/// Bytes of an event entry before its JSON: `at`, length, crc.
pub(crate) const EVENT_HEAD: usize = 16;
/// Bytes of a kv value entry before its JSON: length, crc.
pub(crate) const VALUE_HEAD: usize = 8;

/// The checksum of an entry: `head` is what precedes the crc field.
pub(crate) fn entry_crc(head: &[u8], json: &[u8]) -> u32 {
    super::crc::crc32c_pair(head, json)
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

/// Where an event entry (`at`, len, json) starts, relative to the frame,
/// and the pos and id stored before it (`None` in a version 1 op).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRef<'a> {
    pub at: i64,
    pub off: usize,
    pub pos: Option<u64>,
    pub id: Option<&'a str>,
}

/// An event as `put_events` writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewEvent<'a> {
    pub pos: u64,
    pub id: Option<&'a str>,
    pub at: i64,
    pub json: &'a [u8],
}

/// A decoded operation; names borrow from the frame buffer.
#[derive(Debug)]
pub(crate) enum Op<'a> {
    Events {
        stream: &'a str,
        first: u64,
        last: u64,
        events: Vec<EventRef<'a>>,
    },
    Ids(Vec<(&'a str, &'a str, u64)>),
    LastPos(u64),
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

pub(crate) fn put_events<'e>(
    buf: &mut Vec<u8>,
    stream: &str,
    first: u64,
    last: u64,
    events: impl ExactSizeIterator<Item = NewEvent<'e>>,
) {
    buf.push(OP_EVENTS_V2);
    put_name(buf, stream);
    put_u64(buf, first);
    put_u64(buf, last);
    put_u32(buf, events.len() as u32);
    for e in events {
        put_u64(buf, e.pos);
        put_name(buf, e.id.unwrap_or(""));
        put_entry(buf, Some(e.at), e.json);
    }
}

/// A version 1 events op, as stores written before global positions hold.
#[cfg(test)]
pub(crate) fn put_events_v1(buf: &mut Vec<u8>, stream: &str, first: u64, jsons: &[&[u8]]) {
    buf.push(OP_EVENTS);
    put_name(buf, stream);
    put_u64(buf, first);
    put_u64(buf, first + jsons.len() as u64 - 1);
    put_u32(buf, jsons.len() as u32);
    for json in jsons {
        put_entry(buf, Some(7), json);
    }
}

/// Ids whose records are gone, with the record each named.
pub(crate) fn put_ids<'e>(
    buf: &mut Vec<u8>,
    ids: impl ExactSizeIterator<Item = (&'e str, &'e str, u64)>,
) {
    buf.push(OP_IDS);
    put_u32(buf, ids.len() as u32);
    for (id, stream, seq) in ids {
        put_name(buf, id);
        put_name(buf, stream);
        put_u64(buf, seq);
    }
}

/// Splits ids into runs of about `target` bytes, one `ids` op each, so an
/// op stays well inside a frame however many ids there are.
pub(crate) fn id_chunks(
    ids: &[crate::IdEntry],
    target: usize,
) -> impl Iterator<Item = &[crate::IdEntry]> {
    let mut rest = ids;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut n, mut bytes) = (0, 0);
        while n < rest.len() && (n == 0 || bytes < target) {
            bytes += rest[n].id.len() + rest[n].stream.len() + 12;
            n += 1;
        }
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

pub(crate) fn put_last_pos(buf: &mut Vec<u8>, pos: u64) {
    buf.push(OP_LAST_POS);
    put_u64(buf, pos);
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
            OP_EVENTS => decode_events(&mut r, false)?,
            OP_EVENTS_V2 => decode_events(&mut r, true)?,
            OP_IDS => {
                let n = r.u32()?;
                let mut ids = Vec::with_capacity((n as usize).min(r.remaining() / 12));
                for _ in 0..n {
                    ids.push((r.name()?, r.name()?, r.u64()?));
                }
                Op::Ids(ids)
            }
            OP_LAST_POS => Op::LastPos(r.u64()?),
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

fn decode_events<'a>(r: &mut Reader<'a>, v2: bool) -> Result<Op<'a>, String> {
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
        let (pos, id) = if v2 {
            let pos = r.u64()?;
            let id = r.name()?;
            (Some(pos), Some(id).filter(|id| !id.is_empty()))
        } else {
            (None, None)
        };
        let off = r.pos();
        let at = r.i64()?;
        let len = r.u32()?;
        r.u32()?;
        r.bytes(len as usize)?;
        events.push(EventRef { at, off, pos, id });
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
        let ev = |pos, id, json| NewEvent {
            pos,
            id,
            at: 10,
            json,
        };
        put_events(
            &mut b,
            "s",
            4,
            5,
            [ev(7, None, &b"1"[..]), ev(8, Some("k"), &b"22"[..])].into_iter(),
        );
        put_kv(&mut b, "k", b"true");
        put_kv_del(&mut b, "k");
        put_truncate(&mut b, "s", 4);
        put_ids(&mut b, [("k", "s", 2)].into_iter());
        put_last_pos(&mut b, 9);
        let ops = decode(&b, 3).expect("decodes");
        assert_eq!(ops.len(), 6);
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
        assert_eq!((events[0].pos, events[0].id), (Some(7), None));
        assert_eq!((events[1].pos, events[1].id), (Some(8), Some("k")));
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
        assert!(matches!(&ops[4], Op::Ids(ids) if ids[..] == [("k", "s", 2)]));
        assert!(matches!(ops[5], Op::LastPos(9)));
    }

    #[test]
    fn version_1_events_still_decode_without_pos_or_id() {
        let mut b = Vec::new();
        put_events_v1(&mut b, "s", 1, &[b"7"]);
        let ops = decode(&b, 0).expect("decodes");
        let Op::Events { events, .. } = &ops[0] else {
            panic!("not events: {:?}", ops[0]);
        };
        assert_eq!((events[0].at, events[0].pos, events[0].id), (7, None, None));
        assert_eq!(&b[events[0].off + EVENT_HEAD..], b"7");
    }

    #[test]
    fn inconsistent_or_short_ops_are_errors() {
        let mut b = Vec::new();
        let ev = NewEvent {
            pos: 1,
            id: None,
            at: 0,
            json: &b"1"[..],
        };
        put_events(&mut b, "s", 1, 3, [ev].into_iter());
        assert!(decode(&b, 0).is_err());
        let mut b = Vec::new();
        put_kv(&mut b, "k", b"123");
        assert!(decode(&b[..b.len() - 1], 0).is_err());
        assert!(decode(&[42], 0).is_err());
    }
}
