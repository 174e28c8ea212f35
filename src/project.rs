//! Projections (SPEC 3.4): pure folds over a source (a stream, a category
//! or every stream, SPEC 3.12), resumable from a state.

use crate::source::Source;
use crate::store::{PAGE, Store};
use crate::value::RecordRef;
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
        source: impl Into<Source>,
        state: State<A>,
        mut step: impl FnMut(A, Record) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        self.fold_refs(source, state, |acc, r| step(acc, r.to_record()?))
    }

    /// `fold` over borrowed records: the step converts each event from the
    /// backend's own form (a kept `Value`, or stored JSON), with no copy made
    /// in between. Script folds use it.
    ///
    /// For a category or `All` the state's `seq` is the last folded
    /// record's pos; records truncated away are simply not in the global
    /// log any more, so such a fold never fails for them.
    pub fn fold_refs<A, E: From<Error>>(
        &self,
        source: impl Into<Source>,
        state: State<A>,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let source = source.into();
        source.check("project")?;
        match self.upcasters().chain() {
            None => self.fold_source(&source, state, step),
            Some(chain) => {
                // Records no upcaster matches stay borrowed.
                let mut step = step;
                let mut spare = None;
                let upcasting =
                    move |acc, rec: RecordRef<'_>| match chain.apply_reusing(rec, &mut spare)? {
                        None => step(acc, rec),
                        Some(data) => {
                            let data_ref = data.as_ref();
                            let acc = step(
                                acc,
                                RecordRef {
                                    data: data_ref,
                                    ..rec
                                },
                            );
                            spare = data.into_spare();
                            acc
                        }
                    };
                self.fold_source(&source, state, upcasting)
            }
        }
    }

    fn fold_source<A, E: From<Error>>(
        &self,
        source: &Source,
        state: State<A>,
        step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        match source {
            Source::Stream(stream) => self.fold_stream(stream, state, step),
            _ => self.fold_global(source, state, step),
        }
    }

    fn fold_global<A, E: From<Error>>(
        &self,
        source: &Source,
        state: State<A>,
        mut step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        let b = self.backend()?;
        let State { value, mut seq } = state;
        let last = b.last_pos()?;
        if seq > last {
            let msg = format!("{source}: state seq {seq} is past last pos {last}");
            return Err(Error::invalid("project", msg).into());
        }
        let mut value = Some(value);
        let mut failed: Option<E> = None;
        loop {
            let n = b.scan_source(source, seq, PAGE, &mut |rec| {
                let fed = feed(&mut value, &mut failed, &mut step, rec);
                if fed {
                    seq = rec.pos;
                }
                fed
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            let Some(acc) = value.take() else {
                return Err(Error::invalid("project", "fold lost its value").into());
            };
            if n < PAGE {
                return Ok(State { value: acc, seq });
            }
            value = Some(acc);
        }
    }

    fn fold_stream<A, E: From<Error>>(
        &self,
        stream: &str,
        state: State<A>,
        mut step: impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        crate::value::check_name("project", "stream", stream)?;
        if state.seq > crate::limits::MAX_SEQ {
            let msg = format!(
                "stream {stream:?}: state seq {} is past the largest seq",
                state.seq
            );
            return Err(Error::invalid("project", msg).into());
        }
        let b = self.backend()?;
        let State { value, mut seq } = state;
        // The value moves through the callback; `failed` holds why it stopped.
        let mut value = Some(value);
        let mut failed: Option<E> = None;
        loop {
            let expected = seq + 1;
            let n = b.scan(stream, seq, PAGE, &mut |rec| {
                if rec.seq != seq + 1 {
                    failed = Some(truncated(stream, seq, rec.seq).into());
                    return false;
                }
                let fed = feed(&mut value, &mut failed, &mut step, rec);
                if fed {
                    seq = rec.seq;
                }
                fed
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            let Some(acc) = value.take() else {
                return Err(Error::invalid("project", "fold lost its value").into());
            };
            if n == 0 {
                // Nothing after seq: either we are at the end, the rest was
                // truncated, or the state claims more than exists.
                let last = b.last_seq(stream)?;
                if seq < last {
                    return Err(truncated(stream, seq, last + 1).into());
                }
                if seq > last {
                    return Err(Error::invalid(
                        "project",
                        format!("stream {stream:?}: state seq {seq} is past last seq {last}"),
                    )
                    .into());
                }
            }
            if n < PAGE || seq < expected {
                return Ok(State { value: acc, seq });
            }
            value = Some(acc);
        }
    }

    /// The state after folding every record from `#{value: init, seq: 0}`.
    pub fn project<A, E: From<Error>>(
        &self,
        source: impl Into<Source>,
        init: A,
        step: impl FnMut(A, Record) -> Result<A, E>,
    ) -> Result<State<A>, E> {
        self.fold(source, State::empty(init), step)
    }
}

/// Hands one record to `step`: the fold's value moves out of `value` and
/// back, or the step's error goes to `failed`. Whether the scan goes on.
fn feed<A, E>(
    value: &mut Option<A>,
    failed: &mut Option<E>,
    step: &mut impl FnMut(A, RecordRef<'_>) -> Result<A, E>,
    rec: RecordRef<'_>,
) -> bool {
    let Some(acc) = value.take() else {
        return false;
    };
    match step(acc, rec) {
        Ok(next) => {
            *value = Some(next);
            true
        }
        Err(e) => {
            *failed = Some(e);
            false
        }
    }
}

fn truncated(stream: &str, after: u64, first_retained: u64) -> Error {
    Error::Truncated {
        stream: stream.to_string(),
        needed: after + 1,
        first_retained,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sum(acc: i64, r: Record) -> Result<i64> {
        Ok(acc + r.data.as_i64().unwrap_or(0))
    }

    #[test]
    fn folds_across_many_pages() {
        let s = Store::mem();
        s.append_all("n", (1..=(3 * PAGE as i64 + 7)).map(|i| json!(i)).collect())
            .unwrap();
        let n = 3 * PAGE as i64 + 7;
        let st = s.project("n", 0, sum).unwrap();
        assert_eq!(
            st,
            State {
                value: n * (n + 1) / 2,
                seq: n as u64
            }
        );
    }

    #[test]
    fn resume_from_every_point_equals_the_full_fold() {
        let s = Store::mem();
        s.append_all("n", (1..=20).map(|i| json!(i)).collect())
            .unwrap();
        let full = s.project("n", 0, sum).unwrap();
        for k in 0..=20u64 {
            let at_k = State {
                value: (1..=k as i64).sum(),
                seq: k,
            };
            assert_eq!(s.fold("n", at_k, sum).unwrap(), full);
        }
    }

    #[test]
    fn a_fold_over_truncated_records_names_the_first_retained_seq() {
        let s = Store::mem();
        s.append_all("n", (1..=5).map(|i| json!(i)).collect())
            .unwrap();
        s.truncate_through("n", 2).unwrap();
        let err = s.project("n", 0, sum).unwrap_err().to_string();
        assert!(
            err.contains("\"n\"") && err.contains("first retained seq is 3"),
            "{err}"
        );
        s.truncate_through("n", 5).unwrap();
        let err = s
            .fold("n", State { value: 0, seq: 3 }, sum)
            .unwrap_err()
            .to_string();
        assert!(err.contains("first retained seq is 6"), "{err}");
        assert_eq!(
            s.fold("n", State { value: 9, seq: 5 }, sum).unwrap().value,
            9
        );
    }

    #[test]
    fn folds_over_a_category_and_all_resume_by_pos() {
        let s = Store::mem();
        s.append("user-1", json!(1)).unwrap();
        s.append("order-1", json!(10)).unwrap();
        s.append_all("user-2", vec![json!(2), json!(3)]).unwrap();
        let users = s.project(Source::category("user"), 0, sum).unwrap();
        assert_eq!(users, State { value: 6, seq: 4 });
        let all = s.project(Source::All, 0, sum).unwrap();
        assert_eq!(all, State { value: 16, seq: 4 });
        s.append("user-1", json!(4)).unwrap();
        s.truncate_through("user-2", 1).unwrap();
        let resumed = s.fold(Source::category("user"), users, sum).unwrap();
        assert_eq!(resumed, State { value: 10, seq: 5 });
        let again = s.project(Source::category("user"), 0, sum).unwrap();
        assert_eq!(again, State { value: 8, seq: 5 });
        assert!(
            s.fold(Source::All, State { value: 0, seq: 6 }, sum)
                .is_err()
        );
    }

    #[test]
    fn a_state_past_the_end_is_refused() {
        let s = Store::mem();
        s.append("n", json!(1)).unwrap();
        assert!(s.fold("n", State { value: 0, seq: 2 }, sum).is_err());
    }
}
