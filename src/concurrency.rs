//! Optimistic concurrency (SPEC 3.5): append only if the stream is where the
//! caller thinks it is. The check-and-append is atomic inside the backend.

use crate::backend::Appended;
use crate::store::Store;
use crate::value::{check_event, check_name};
use crate::{Result, Value};

impl Store {
    /// Appends when `last_seq(stream) == expected`; otherwise appends nothing
    /// and reports the conflict.
    pub fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended> {
        check_name("append_expect", "stream", stream)?;
        check_event("append_expect", stream, &event)?;
        self.backend()?.append_expect(stream, expected, event)
    }
}
