//! Framing an events op before the store's lock is taken (`append`): its
//! JSON encoded in place and each entry's checksum computed, with seqs
//! and positions left zero until, under the lock, `patch_events` fills
//! them in. The result is byte for byte what `batch::put_events` writes.

use super::batch::{EVENT_HEAD, EventRef, OP_EVENTS_V2, entry_crc};
use super::codec::{put_i64, put_name, put_u32, put_u64};

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

/// Fills in the checksum of an entry (start, end) whose length field is
/// already set (`draft_events` writes it as soon as the JSON is in).
fn seal_entry(buf: &mut [u8], entry: usize, end: usize) {
    let crc = entry_crc(&buf[entry..entry + 12], &buf[entry + EVENT_HEAD..end]);
    buf[entry + 12..entry + 16].copy_from_slice(&crc.to_le_bytes());
}

/// Fills in the checksums of three entries (start, end) whose length
/// fields are already set, computed together (`crc::crc32c_pairs3`).
fn seal_three(buf: &mut [u8], entries: [(usize, usize); 3]) {
    let view: &[u8] = buf;
    let pieces =
        entries.map(|(entry, end)| (&view[entry..entry + 12], &view[entry + EVENT_HEAD..end]));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::batch::{NewEvent, Op, decode, put_events};

    /// A batch framed before the lock and patched under it is byte for
    /// byte what `put_events` writes, also when `at` had to move forward
    /// (entry checksums redone), for batches of every size around the
    /// three entries checksummed together, of entries long and short.
    #[test]
    fn a_patched_draft_is_the_op_put_events_writes() {
        let long = [b'7'; 41];
        let all: [&[u8]; 8] = [
            b"1",
            b"\"ab\"",
            &long,
            b"[3]",
            &long[..17],
            b"{}",
            &long[..8],
            &long[..9],
        ];
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
}
