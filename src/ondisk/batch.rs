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

use super::codec::{Reader, put_i64, put_name, put_u32, put_u64};

const OP_EVENTS: u8 = 1;
const OP_KV_PUT: u8 = 2;
const OP_KV_DEL: u8 = 3;
const OP_TRUNCATE: u8 = 4;
const OP_EVENTS_V2: u8 = 5;
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

/// An events op framed before its seqs and positions are known (outside
/// the store's lock): `put_events`' layout with `first`, `last` and every
/// pos zero until `patch_events` fills them in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventsDraft {
    /// Where `first` is in the buffer; `last`, `count` and the events follow.
    seqs: usize,
    pub count: usize,
    pub at: i64,
}

/// Appends an events op for `count` events of `stream`, all with `id` and
/// `at`; `json(i, buf)` appends event `i`'s JSON to `buf` (it is where the
/// event's bytes end up: one copy). Each entry's own checksum is computed
/// here; the frame's is left to `frame::seal`.
pub(crate) fn draft_events<E>(
    buf: &mut Vec<u8>,
    stream: &str,
    count: usize,
    id: Option<&str>,
    at: i64,
    mut json: impl FnMut(usize, &mut Vec<u8>) -> Result<(), E>,
) -> Result<EventsDraft, E> {
    buf.push(OP_EVENTS_V2);
    put_name(buf, stream);
    let seqs = buf.len();
    put_u64(buf, 0);
    put_u64(buf, 0);
    put_u32(buf, count as u32);
    // Entries (start, end) whose checksum is not yet in: sealed three at a
    // time, while their bytes are still in the cache.
    let mut open = [(0, 0); 3];
    for i in 0..count {
        put_u64(buf, 0);
        put_name(buf, id.unwrap_or(""));
        let entry = buf.len();
        put_i64(buf, at);
        put_u32(buf, 0);
        put_u32(buf, 0);
        json(i, buf)?;
        let end = buf.len();
        let len = (end - entry - EVENT_HEAD) as u32;
        buf[entry + 8..entry + 12].copy_from_slice(&len.to_le_bytes());
        open[i % 3] = (entry, end);
        if i % 3 == 2 {
            seal_three(buf, open);
        }
    }
    for &(entry, end) in &open[..count % 3] {
        seal_entry(buf, entry, end);
    }
    Ok(EventsDraft { seqs, count, at })
}

/// Fills in an entry's length and checksum from the bytes it holds.
fn seal_entry(buf: &mut [u8], entry: usize, end: usize) {
    let len = (end - entry - EVENT_HEAD) as u32;
    buf[entry + 8..entry + 12].copy_from_slice(&len.to_le_bytes());
    let crc = entry_crc(&buf[entry..entry + 12], &buf[entry + EVENT_HEAD..end]);
    buf[entry + 12..entry + 16].copy_from_slice(&crc.to_le_bytes());
}

/// Fills in the checksums of three entries (start, end) whose length
/// fields are already set, computed together (`crc::crc32c_pairs3`).
fn seal_three(buf: &mut [u8], entries: [(usize, usize); 3]) {
    let view: &[u8] = buf;
    let pieces = entries.map(|(entry, end)| (&view[entry..entry + 12], &view[entry + EVENT_HEAD..end]));
    let crcs = super::crc::crc32c_pairs3(pieces);
    for ((entry, _), crc) in entries.into_iter().zip(crcs) {
        buf[entry + 12..entry + 16].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Gives a drafted op its seqs `first ..= last` and positions from `pos`,
/// and, when `at` is later than the draft's (the clock read before the
/// lock fell behind an earlier batch's), that `at` with checksums redone.
/// Returns the events as `decode` would (`id` is the draft's), so the
/// index takes the batch without parsing back what was just built.
pub(crate) fn patch_events<'a>(
    buf: &mut [u8],
    d: &EventsDraft,
    seqs: (u64, u64),
    pos: u64,
    at: i64,
    id: Option<&'a str>,
) -> Vec<EventRef<'a>> {
    let (first, last) = seqs;
    let id = id.filter(|id| !id.is_empty());
    let mut events = Vec::with_capacity(d.count);
    buf[d.seqs..d.seqs + 8].copy_from_slice(&first.to_le_bytes());
    buf[d.seqs + 8..d.seqs + 16].copy_from_slice(&last.to_le_bytes());
    let mut off = d.seqs + 20;
    for i in 0..d.count as u64 {
        buf[off..off + 8].copy_from_slice(&(pos + i).to_le_bytes());
        let id_len = u16::from_le_bytes([buf[off + 8], buf[off + 9]]) as usize;
        let entry = off + 10 + id_len;
        let mut len = [0; 4];
        len.copy_from_slice(&buf[entry + 8..entry + 12]);
        let len = u32::from_le_bytes(len) as usize;
        let end = entry + EVENT_HEAD + len;
        if at != d.at {
            buf[entry..entry + 8].copy_from_slice(&at.to_le_bytes());
            seal_entry(buf, entry, end);
        }
        events.push(EventRef {
            at,
            off: entry,
            pos: Some(pos + i),
            id,
        });
        off = end;
    }
    events
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

    /// A batch framed before the lock and patched under it is byte for
    /// byte what `put_events` writes, also when `at` had to move forward
    /// (entry checksums redone), for batches of every size around the
    /// three entries checksummed together, of entries long and short.
    #[test]
    fn a_patched_draft_is_the_op_put_events_writes() {
        let long = [b'7'; 41];
        let all: [&[u8]; 8] = [b"1", b"\"ab\"", &long, b"[3]", &long[..17], b"{}", &long[..8], &long[..9]];
        for (n, at) in (1..=all.len()).flat_map(|n| [(n, 5), (n, 9)]) {
            let jsons = &all[..n];
            let last = 3 + n as u64;
            let mut want = vec![0u8; 2];
            let events = jsons.iter().enumerate().map(|(i, json)| NewEvent {
                pos: 10 + i as u64,
                id: Some("k"),
                at,
                json,
            });
            put_events(&mut want, "s", 4, last, events);
            let mut got = vec![0u8; 2];
            let json = |i: usize, buf: &mut Vec<u8>| {
                buf.extend_from_slice(jsons[i]);
                Ok::<(), ()>(())
            };
            let d = draft_events(&mut got, "s", n, Some("k"), 5, json).expect("draft");
            let events = patch_events(&mut got, &d, (4, last), 10, at, Some("k"));
            assert_eq!(got, want, "{n} events at {at}");
            let decoded = decode(&want, 2).expect("decodes");
            let Op::Events { events: want, .. } = &decoded[0] else {
                panic!("not events: {:?}", decoded[0]);
            };
            let fields = |e: &EventRef<'_>| (e.at, e.off, e.pos, e.id.map(str::to_string));
            let got: Vec<_> = events.iter().map(fields).collect();
            assert_eq!(got, want.iter().map(fields).collect::<Vec<_>>());
        }
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
