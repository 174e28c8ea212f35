//! Projections (SPEC 3.4): pure folds over a stream, resumable from a state.

use crate::store::{PAGE, Store};
use crate::value::State;
use crate::{Error, Record, Result};

impl Store {
    /// Folds every record after `state.seq` into `state`.
    ///
    /// Reads in pages of `PAGE`, so memory does not grow with the stream. If
    /// the next record needed was truncated away the fold fails with
    /// `Error::Truncated`; it never returns a silently partial value.
    pub fn fold<A, E: From<Error>>(
        &self,
        stream: &str,
        mut state: State<A>,
        mut step: impl FnMut(A, Record) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        crate::value::check_name("project", "stream", stream)?;
        let b = self.backend()?;
        loop {
            let page = b.read(stream, state.seq, PAGE)?;
            let Some(first) = page.first() else {
                // Nothing after state.seq: either we are at the end, the
                // rest was truncated, or the state claims more than exists.
                let last = b.last_seq(stream)?;
                if state.seq < last {
                    return Err(truncated(stream, state.seq, last + 1).into());
                }
                if state.seq > last {
                    return Err(Error::invalid(
                        "project",
                        format!(
                            "stream {stream:?}: state seq {} is past last seq {last}",
                            state.seq
                        ),
                    )
                    .into());
                }
                return Ok(state);
            };
            if first.seq != state.seq + 1 {
                return Err(truncated(stream, state.seq, first.seq).into());
            }
            let full = page.len() == PAGE;
            for rec in page {
                let seq = rec.seq;
                state.value = step(state.value, rec)?;
                state.seq = seq;
            }
            if !full {
                return Ok(state);
            }
        }
    }

    /// The state after folding every record from `#{value: init, seq: 0}`.
    pub fn project<A, E: From<Error>>(
        &self,
        stream: &str,
        init: A,
        step: impl FnMut(A, Record) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        self.fold(stream, State::empty(init), step)
    }
}

fn truncated(stream: &str, after: u64, first_retained: u64) -> Error {
    Error::Truncated {
        stream: stream.to_string(),
        needed: after + 1,
        first_retained,
    }
}
