//! Byte buffers a thread reuses from one call to the next: the append
//! path's frame buffer and the read path's run buffer. A fresh zeroed
//! buffer per call cost as much as the checksums over its bytes.
//!
//! A buffer is taken out while in use, so a nested call on the same thread
//! (a fold step that reads or appends) gets a fresh one of its own. Its
//! contents are stale: users resize it and overwrite what they read.

use std::cell::Cell;
use std::thread::LocalKey;

/// One kind of buffer: this thread's slot for it, and the largest capacity
/// kept, so one huge batch or page does not pin memory for the thread's life.
pub(crate) struct Scratch {
    slot: &'static LocalKey<Cell<Vec<u8>>>,
    keep: usize,
}

thread_local! {
    static FRAME: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static RUN: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The frame a batch is encoded into before the store's lock is taken.
pub(crate) static FRAMES: Scratch = Scratch {
    slot: &FRAME,
    keep: 4 << 20,
};

/// The run of entries a read pulls in with one pread (a page of events).
pub(crate) static RUNS: Scratch = Scratch {
    slot: &RUN,
    keep: 1 << 20,
};

impl Scratch {
    /// This thread's buffer, or an empty one if it is in use (or the
    /// thread is exiting).
    pub fn take(&self) -> Vec<u8> {
        self.slot.try_with(Cell::take).unwrap_or_default()
    }

    /// Keeps `buf` for this thread's next `take`, unless it grew past the cap.
    pub fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() <= self.keep {
            let _ = self.slot.try_with(|s| s.set(buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_reused_and_a_nested_take_gets_its_own() {
        let mut a = RUNS.take();
        a.extend_from_slice(b"abc");
        let ptr = a.as_ptr();
        RUNS.give_back(a);
        let outer = RUNS.take();
        assert_eq!(outer.as_ptr(), ptr, "the kept buffer comes back");
        let nested = RUNS.take();
        assert_eq!(nested.capacity(), 0, "in use: a nested take gets a new one");
        RUNS.give_back(outer);
    }

    #[test]
    fn a_buffer_past_the_cap_is_dropped_and_the_kept_one_stays() {
        FRAMES.give_back(Vec::with_capacity(16));
        FRAMES.give_back(Vec::with_capacity(FRAMES.keep + 1));
        assert_eq!(FRAMES.take().capacity(), 16);
    }
}
