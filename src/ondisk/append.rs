//! The append path (`append_all`, and through it `append`; `append_expect`,
//! `append_once`). A batch is framed before the store's lock is taken,
//! straight into a buffer its thread keeps: each event's JSON is encoded
//! once, in place, and its entry checksum computed there. Under the lock a
//! batch only gets its seqs and positions, its frame checksum, its write
//! and its index update, so concurrent writers queue behind less work and
//! a batch costs no allocation and no second copy of its bytes.

use std::sync::MutexGuard;

use super::batch::Op;
use super::commit::{Mark, Writing};
use super::draft::{self, EventsDraft};
use super::input::encode_into;
use super::scratch::FRAMES;
use super::{DiskLog, Inner, frame};
use crate::value::now_millis;
use crate::{Result, Value};

/// A batch of events framed outside the lock, in its thread's buffer
/// (given back when dropped).
pub(super) struct Draft {
    fr: Vec<u8>,
    d: EventsDraft,
}

impl Draft {
    /// Frames `events` for `stream`; bad input is an `Error::Invalid`
    /// naming the stream, and nothing is written.
    pub fn new(
        op: &'static str,
        stream: &str,
        events: &[Value],
        id: Option<&str>,
    ) -> Result<Draft> {
        let mut fr = FRAMES.take();
        fr.clear();
        fr.resize(frame::HEADER, 0);
        let subject = || format!("stream {stream:?}");
        let encode = |i: usize, buf: &mut Vec<u8>| encode_into(op, &subject, &events[i], buf);
        match draft::draft_events(&mut fr, stream, events.len(), id, now_millis(), encode) {
            Ok(d) => Ok(Draft { fr, d }),
            Err(e) => {
                FRAMES.give_back(fr);
                Err(e)
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.d.count == 0
    }
}

impl Drop for Draft {
    fn drop(&mut self) {
        FRAMES.give_back(std::mem::take(&mut self.fr));
    }
}

impl DiskLog {
    /// Writes a batch drafted for `stream` (and `id`), taking the next
    /// seqs and positions; the caller holds the lock (registered as
    /// writing before it took it) and has checked everything else. Returns
    /// the last seq and the mark to pass to `finish`, which acknowledges it.
    pub(super) fn write_draft(
        &self,
        g: MutexGuard<'_, Inner>,
        w: Writing<'_>,
        op: &'static str,
        stream: &str,
        id: Option<&str>,
        draft: &mut Draft,
    ) -> Result<(u64, Mark)> {
        let n = draft.d.count;
        let first = g.index.last_seq(stream) + 1;
        let last = crate::limits::next_seq(op, stream, first - 1, n)?;
        crate::limits::next_pos(op, stream, g.index.global.last_pos(), n)?;
        let pos = g.index.global.next_pos();
        // `at` never goes below an earlier batch's.
        let at = draft.d.at.max(g.index.last_at);
        let events = draft::patch_events(&mut draft.fr, &draft.d, (first, last), pos, at, id);
        let ops = [Op::Events {
            stream,
            first,
            last,
            events,
        }];
        let subject = || format!("stream {stream:?}");
        let end = self.write_batch(g, Some(w), &mut draft.fr, Some(&ops), op, &subject)?;
        Ok((last, end))
    }
}
