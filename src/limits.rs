//! The limits every backend shares.
//!
//! `Store` checks them before any backend sees a write, and `serve` checks
//! every request against them, so memory, the durable protocol and the disk
//! accept exactly the same things: `migrate` from one to another never stops
//! halfway on something the source held. The numbers are the on-disk
//! format's own (a `u16` name length, a 128 MiB frame, stored JSON that
//! `serde_json` reads back with its 128-level recursion limit), so whatever
//! a store accepted, every backend can hold and read back.
//!
//! | limit | value |
//! |---|---|
//! | stream name, kv key | 1 ..= `MAX_NAME` bytes of UTF-8 |
//! | nesting of a value (arrays and maps) | `MAX_DEPTH` levels |
//! | one event or kv value, as compact JSON | `MAX_VALUE` bytes |
//! | one `append_all` batch | `MAX_BATCH` bytes: its events' JSON plus `EVENT_OVERHEAD` each |
//! | a seq | `MAX_SEQ` (`i64::MAX`, the largest a script can hold) |

use crate::{Error, Record, Result, Value};

/// Longest stream name or kv key, in bytes (a `u16` length on disk).
pub const MAX_NAME: usize = u16::MAX as usize;

/// Deepest nesting of arrays and maps in a value: `1` is 0 levels, `[1]` is
/// one, `#{a: [1]}` two. Far enough below `serde_json`'s recursion limit
/// (128) that a value still reads back inside any wrapper the store puts
/// around it: a request (`#{op, args: [..]}`), a dump line, a snapshot state.
pub const MAX_DEPTH: usize = 64;

/// Largest event or kv value, as the compact JSON that is stored.
pub const MAX_VALUE: usize = 127 << 20;

/// Largest `append_all` batch: the sum over its events of their JSON bytes
/// plus `EVENT_OVERHEAD`. With the largest name it still fits one 128 MiB
/// on-disk frame, which is what makes a batch atomic.
pub const MAX_BATCH: usize = 127 << 20;

/// What each event costs a batch besides its JSON (its `at`, length and
/// checksum on disk).
pub const EVENT_OVERHEAD: usize = 16;

/// Largest seq (and so largest count of records in a stream).
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// Stream names and keys: non-empty, at most `MAX_NAME` bytes.
pub fn check_name(op: &'static str, what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(op, format!("{what} name is empty")));
    }
    if name.len() > MAX_NAME {
        let head: String = name.chars().take(40).collect();
        return Err(Error::invalid(
            op,
            format!(
                "{what} {head:?}... is {} bytes, over the {MAX_NAME}-byte limit",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// An event: not `()` at the top, and within `MAX_DEPTH` and `MAX_VALUE`.
/// Returns its size in bytes of JSON.
pub fn check_event(op: &'static str, stream: &str, event: &Value) -> Result<usize> {
    if event.is_null() {
        return Err(Error::invalid(
            op,
            format!("stream {stream:?}: () is not an event"),
        ));
    }
    check_value(op, &|| format!("stream {stream:?}"), event)
}

/// A kv value: not `()`, and within `MAX_DEPTH` and `MAX_VALUE`.
pub fn check_kv(op: &'static str, key: &str, value: &Value) -> Result<()> {
    if value.is_null() {
        return Err(Error::invalid(
            op,
            format!("key {key:?}: () cannot be stored (use kv_del to remove a key)"),
        ));
    }
    check_value(op, &|| format!("key {key:?}"), value).map(drop)
}

/// Every event of a batch, and the batch as a whole within `MAX_BATCH`.
pub fn check_batch(op: &'static str, stream: &str, events: &[Value]) -> Result<()> {
    let mut total = 0usize;
    for (i, e) in events.iter().enumerate() {
        if e.is_null() {
            return Err(Error::invalid(
                op,
                format!("stream {stream:?}: event {i}: () is not an event"),
            ));
        }
        total += check_value(op, &|| format!("stream {stream:?}: event {i}"), e)?;
        total += EVENT_OVERHEAD;
    }
    if total > MAX_BATCH {
        // Only a bound so far: the exact size decides.
        total = events
            .iter()
            .map(|e| json_len(e, 0).map_or(0, |n| n + EVENT_OVERHEAD))
            .sum();
    }
    if total > MAX_BATCH {
        return Err(Error::invalid(
            op,
            format!(
                "stream {stream:?}: a batch of {} events is {total} bytes, over the {MAX_BATCH}-byte \
                 limit (each event's JSON plus {EVENT_OVERHEAD}); append it in smaller batches",
                events.len()
            ),
        ));
    }
    Ok(())
}

/// What `restore` writes (`migrate`, `persist import`): the stream's last
/// seq within `MAX_SEQ` and every kept record a valid event. A restore is
/// not one batch (the disk splits it), so only each record is limited.
pub fn check_records(
    op: &'static str,
    stream: &str,
    last_seq: u64,
    records: &[Record],
) -> Result<()> {
    if last_seq > MAX_SEQ {
        return Err(Error::invalid(
            op,
            format!("stream {stream:?}: last seq {last_seq} is over the largest seq, {MAX_SEQ}"),
        ));
    }
    for r in records {
        let subject = || format!("stream {stream:?} seq {}", r.seq);
        if r.data.is_null() {
            return Err(Error::invalid(
                op,
                format!("{}: () is not an event", subject()),
            ));
        }
        check_value(op, &subject, &r.data)?;
    }
    Ok(())
}

/// The seq after appending `n` records to a stream at `last`, unless it
/// would pass `MAX_SEQ`. Backends call it under their lock, before writing.
pub fn next_seq(op: &'static str, stream: &str, last: u64, n: usize) -> Result<u64> {
    match last.checked_add(n as u64).filter(|&s| s <= MAX_SEQ) {
        Some(seq) => Ok(seq),
        None => Err(Error::invalid(
            op,
            format!(
                "stream {stream:?} is at seq {last}: {n} more would pass the largest seq, \
                 {MAX_SEQ}; nothing was appended"
            ),
        )),
    }
}

/// What `restore_global` may set: a last pos within `MAX_SEQ`, and ids
/// that are valid names naming valid streams and seqs.
pub fn check_ids(op: &'static str, last_pos: u64, ids: &[crate::backend::IdEntry]) -> Result<()> {
    if last_pos > MAX_SEQ {
        let msg = format!("last pos {last_pos} is past the largest pos, {MAX_SEQ}");
        return Err(Error::invalid(op, msg));
    }
    for e in ids {
        check_name(op, "id", &e.id)?;
        check_name(op, "stream", &e.stream)?;
        if e.seq == 0 || e.seq > MAX_SEQ {
            let msg = format!("id {:?}: seq {} is out of range", e.id, e.seq);
            return Err(Error::invalid(op, msg));
        }
    }
    Ok(())
}

/// The last pos after appending `n` records to a store at `last_pos`,
/// unless it would pass `MAX_SEQ` (positions share the seq's range).
pub fn next_pos(op: &'static str, stream: &str, last_pos: u64, n: usize) -> Result<u64> {
    match last_pos.checked_add(n as u64).filter(|&p| p <= MAX_SEQ) {
        Some(pos) => Ok(pos),
        None => Err(Error::invalid(
            op,
            format!(
                "stream {stream:?}: the store is at pos {last_pos}: {n} more would pass the \
                 largest pos, {MAX_SEQ}; nothing was appended"
            ),
        )),
    }
}

/// Checks `MAX_DEPTH` and `MAX_VALUE`; returns a bound on the value's JSON
/// size, exact when the bound alone would be over the limit. `subject`
/// names the stream or key in the error.
pub fn check_value(op: &'static str, subject: &dyn Fn() -> String, v: &Value) -> Result<usize> {
    let too_deep = |TooDeep| {
        Error::invalid(
            op,
            format!(
                "{}: the value is nested more than {MAX_DEPTH} levels deep (arrays and maps), \
                 over the limit",
                subject()
            ),
        )
    };
    let bound = json_bound(v, 0).map_err(too_deep)?;
    if bound <= MAX_VALUE {
        return Ok(bound);
    }
    let len = json_len(v, 0).map_err(too_deep)?;
    if len > MAX_VALUE {
        return Err(Error::invalid(
            op,
            format!(
                "{}: the value is {len} bytes as JSON, over the {MAX_VALUE}-byte limit",
                subject()
            ),
        ));
    }
    Ok(len)
}

/// Longest JSON of any number `serde_json` writes (`-1.7976931348623157e308`).
const NUMBER_BOUND: usize = 24;

/// At least the length of `v`'s JSON, found without looking at a string's
/// bytes or formatting a number (a string's bytes may each be escaped as
/// `\u00XX`): cheap enough to check every event, and exact enough that
/// only a value near the limit needs `json_len`. Stops past `MAX_DEPTH`.
fn json_bound(v: &Value, depth: usize) -> Result<usize, TooDeep> {
    let str_bound = |s: &str| 6 * s.len() + 2;
    Ok(match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => NUMBER_BOUND,
        Value::String(s) => str_bound(s),
        Value::Array(items) => {
            if depth == MAX_DEPTH {
                return Err(TooDeep);
            }
            let mut len = 2 + items.len();
            for x in items {
                len += json_bound(x, depth + 1)?;
            }
            len
        }
        Value::Object(map) => {
            if depth == MAX_DEPTH {
                return Err(TooDeep);
            }
            let mut len = 2 + map.len();
            for (k, x) in map {
                len += str_bound(k) + 1 + json_bound(x, depth + 1)?;
            }
            len
        }
    })
}

/// The length of `v`'s stored JSON and a bound on it, or `None` past
/// `MAX_DEPTH` (the on-disk encoder's tests check them against what it
/// writes).
#[cfg(test)]
pub(crate) fn measured_len(v: &Value) -> Option<(usize, usize)> {
    Some((json_len(v, 0).ok()?, json_bound(v, 0).ok()?))
}

/// The nesting of `v`, found while measuring it.
struct TooDeep;

/// The length of `v`'s compact JSON (what `serde_json::to_vec` writes and
/// the disk stores), without writing it. `depth` is how many arrays and
/// maps enclose `v`; the walk stops as soon as it passes `MAX_DEPTH`, so it
/// never recurses deeper than that.
fn json_len(v: &Value, depth: usize) -> Result<usize, TooDeep> {
    Ok(match v {
        Value::Null => 4,
        Value::Bool(b) => 4 + usize::from(!b),
        Value::Number(n) => number_len(n),
        Value::String(s) => str_len(s),
        Value::Array(items) => {
            if depth == MAX_DEPTH {
                return Err(TooDeep);
            }
            let mut len = 2 + items.len().saturating_sub(1);
            for x in items {
                len += json_len(x, depth + 1)?;
            }
            len
        }
        Value::Object(map) => {
            if depth == MAX_DEPTH {
                return Err(TooDeep);
            }
            let mut len = 2 + map.len().saturating_sub(1);
            for (k, x) in map {
                len += str_len(k) + 1 + json_len(x, depth + 1)?;
            }
            len
        }
    })
}

fn str_len(s: &str) -> usize {
    // The common case needs no escaping: no early exit, so it vectorizes.
    let plain = !s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain { s.len() + 2 } else { written_len(s) }
}

/// Integers by their digits (most numbers in events); floats as written.
fn number_len(n: &serde_json::Number) -> usize {
    let digits = |u: u64| u.checked_ilog10().map_or(1, |d| d as usize + 1);
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => digits(u),
        (None, Some(i)) => 1 + digits(i.unsigned_abs()),
        (None, None) => written_len(n),
    }
}

/// Bytes `serde_json` writes for `x`, counted rather than kept.
fn written_len<T: serde::Serialize + ?Sized>(x: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Numbers and strings always serialize; the writer never fails.
    let _ = serde_json::to_writer(&mut c, x);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A value nested `levels` deep: arrays and maps alternating.
    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |v, i| {
            if i % 2 == 0 {
                json!([v])
            } else {
                json!({"a": v})
            }
        })
    }

    #[test]
    fn the_bound_is_never_below_the_length() {
        let tricky = json!([
            "\u{0}\u{1f}\"\\é😀",
            -1.7976931348623157e308,
            i64::MIN,
            u64::MAX,
            {"\n": null, "b": [true, false, {}]},
            []
        ]);
        for v in tricky.as_array().unwrap().iter().chain([&tricky]) {
            let exact = serde_json::to_vec(v).unwrap().len();
            assert!(json_bound(v, 0).ok() >= Some(exact), "{v}");
            assert_eq!(json_len(v, 0).ok(), Some(exact), "{v}");
        }
    }

    #[test]
    fn the_depth_limit_is_exact() {
        assert!(check_value("append", &|| "s".into(), &nested(MAX_DEPTH)).is_ok());
        let e = check_value("append", &|| "s".into(), &nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(e.to_string().contains("more than 64 levels"), "{e}");
        // The limit is what serde_json reads back, with room for wrappers.
        let text = serde_json::to_string(&json!({"args": ["s", [{"data": nested(MAX_DEPTH)}]]}));
        assert!(serde_json::from_str::<Value>(&text.unwrap()).is_ok());
    }

    #[test]
    fn names_over_the_limit_are_refused_naming_the_op() {
        assert!(check_name("append", "stream", &"n".repeat(MAX_NAME)).is_ok());
        let e = check_name("append", "stream", &"n".repeat(MAX_NAME + 1)).unwrap_err();
        assert!(e.to_string().starts_with("append: stream \"nnn"), "{e}");
        assert!(
            e.to_string()
                .contains("65536 bytes, over the 65535-byte limit"),
            "{e}"
        );
    }

    #[test]
    fn seqs_stop_at_the_largest() {
        assert_eq!(next_seq("append", "s", MAX_SEQ - 2, 2).unwrap(), MAX_SEQ);
        let e = next_seq("append_all", "s", MAX_SEQ - 1, 2).unwrap_err();
        assert!(e.to_string().contains("would pass the largest seq"), "{e}");
        assert!(next_seq("append", "s", u64::MAX, 1).is_err());
    }
}
