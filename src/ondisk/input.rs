//! Checking and encoding what callers pass in, before anything is written:
//! bad input is an `Error::Invalid` naming the stream or key, and nothing is
//! stored.

use super::batch;
use super::frame;
use super::json;
use crate::{Error, Result, Value};

/// Largest encoded event or kv value: the store-wide limit.
const MAX_VALUE: usize = crate::limits::MAX_VALUE;

// The store-wide limits are this format's: the largest batch `Store` lets
// through, under the longest name, fits one frame.
// (An events op: kind, name, first, last, count, then per event
// `EVENT_HEAD` bytes and its JSON, which is what `MAX_BATCH` counts.)
const _: () = {
    use crate::limits::{EVENT_OVERHEAD, MAX_BATCH, MAX_NAME};
    assert!(batch::EVENT_HEAD == EVENT_OVERHEAD);
    assert!(1 + 2 + MAX_NAME + 8 + 8 + 4 + MAX_BATCH <= frame::MAX_PAYLOAD as usize);
};

/// Stream names and keys: non-empty, and short enough for their `u16`
/// length on disk (the store-wide limit).
pub(super) use crate::limits::check_name;

/// Appends the stored JSON of `v` to `buf`; `subject` names the stream or
/// key for the error. Inlined into `draft_events`' per-event loop (left to
/// itself, the compiler may not: ~34 instructions per event more).
#[inline]
pub(super) fn encode_into(
    op: &'static str,
    subject: &dyn Fn() -> String,
    v: &Value,
    buf: &mut Vec<u8>,
) -> Result<()> {
    if v.is_null() {
        return Err(Error::invalid(
            op,
            format!("{}: () cannot be stored", subject()),
        ));
    }
    let start = buf.len();
    json::write(buf, v);
    let len = buf.len() - start;
    if len > MAX_VALUE {
        let msg = format!("{}: value of {len} bytes exceeds {MAX_VALUE}", subject());
        return Err(Error::invalid(op, msg));
    }
    Ok(())
}

pub(super) fn encode(op: &'static str, subject: &dyn Fn() -> String, v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    encode_into(op, subject, v, &mut buf)?;
    Ok(buf)
}

/// A batch must fit in one frame.
pub(super) fn check_frame(op: &'static str, subject: &dyn Fn() -> String, fr: &[u8]) -> Result<()> {
    let len = fr.len() - frame::HEADER;
    if len > frame::MAX_PAYLOAD as usize {
        return Err(Error::invalid(
            op,
            format!(
                "{}: batch of {len} bytes exceeds the {} byte limit",
                subject(),
                frame::MAX_PAYLOAD
            ),
        ));
    }
    Ok(())
}
