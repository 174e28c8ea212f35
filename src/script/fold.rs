//! Projections, optimistic concurrency, snapshots and compaction
//! (SPEC 3.4-3.7) as bindings over the kernel's `Store` methods.

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, FnPtr, Map, NativeCallContext};

use crate::backend::Appended;
use crate::script::args::{self, RhaiResult, fail, kernel};
use crate::script::closure;
use crate::script::context;
use crate::script::convert::state_to_dynamic;
use crate::script::fingerprint;
use crate::script::reads::{self, Reads};
use crate::script::record_maps::RecordMaps;
use crate::script::store::StoreHandle;
use crate::value::RecordRef;
use crate::{Error, Source, State, Store};

/// A fold fails either in the kernel or in the script's step.
pub enum FoldError {
    /// The kernel refused (truncated records, a closed store, ...).
    Kernel(Error),
    /// The script's step raised an error.
    Script(Box<EvalAltResult>),
}

impl From<Error> for FoldError {
    fn from(e: Error) -> Self {
        FoldError::Kernel(e)
    }
}

impl From<FoldError> for Box<EvalAltResult> {
    fn from(e: FoldError) -> Self {
        match e {
            FoldError::Kernel(e) => kernel(e),
            FoldError::Script(e) => e,
        }
    }
}

/// A script step and what it reads of each record (`reads::of`).
#[derive(Clone)]
pub struct Step {
    f: FnPtr,
    reads: Reads,
}

impl Step {
    /// The step `f`, looked at once (cached per closure) for what it reads.
    pub fn new(ctx: &NativeCallContext, f: FnPtr) -> Self {
        let reads = reads::of(ctx, &f);
        Step { f, reads }
    }

    /// `new`, and the version of the step's code (`fingerprint::of`), from
    /// one lookup of its definition.
    pub fn versioned(ctx: &NativeCallContext, f: FnPtr) -> (String, Self) {
        let def = closure::def(ctx, &f, &[2, 1]);
        let version = fingerprint::of_def(ctx, &f, def);
        let reads = reads::of_found(&f, def, 2);
        (version, Step { f, reads })
    }

    /// The kernel-side step: calls the script closure with `(value,
    /// record)`, the record converted straight from the backend's form,
    /// only as far as the step reads it.
    pub fn kernel(
        &self,
    ) -> impl FnMut(Dynamic, RecordRef<'_>) -> Result<Dynamic, FoldError> + use<> {
        let mut maps = RecordMaps::new(self.reads.clone());
        let f = self.f.clone();
        move |acc, rec| {
            let r = maps.of_ref(rec)?;
            let next = context::call(&f, [acc, r]).map_err(FoldError::Script)?;
            new_value(next, rec.stream, rec.seq)
        }
    }
}

/// A step's result is the fold's next value; `()` is refused at the record
/// that produced it (a step that forgot to return `acc`), rather than stored
/// and failing cryptically one record later.
fn new_value(next: Dynamic, stream: &str, seq: u64) -> Result<Dynamic, FoldError> {
    match next.is_unit() {
        false => Ok(next),
        true => Err(FoldError::Script(fail(format!(
            "step returned () for stream {stream:?} seq {seq}: a step must return the new value"
        )))),
    }
}

/// Runs a fold-shaped kernel call with the script context current.
pub fn run_fold<T>(
    ctx: &NativeCallContext,
    f: impl FnOnce() -> Result<T, FoldError>,
) -> RhaiResult<T> {
    context::enter(ctx, f).map_err(Into::into)
}

/// Parses `#{value, seq}` handed in by a script.
pub fn state_arg(op: &str, d: &Dynamic) -> RhaiResult<State<Dynamic>> {
    let m = args::map(op, "state", d)?;
    let seq = m
        .get("seq")
        .ok_or_else(|| fail(format!("{op}: state has no seq (expected #{{value, seq}})")))?;
    let seq = args::count(op, "state.seq", seq)?;
    let value = m.get("value").cloned().ok_or_else(|| {
        fail(format!(
            "{op}: state has no value (expected #{{value, seq}})"
        ))
    })?;
    Ok(State { value, seq })
}

fn conflict_map(expected: u64, actual: u64) -> Dynamic {
    let mut m = Map::new();
    m.insert("conflict".into(), true.into());
    m.insert("expected".into(), args::int(expected).into());
    m.insert("actual".into(), args::int(actual).into());
    Dynamic::from_map(m)
}

/// A step closure the kernel's named-fold methods accept.
type BoxStep = Box<dyn FnMut(Dynamic, RecordRef<'_>) -> Result<Dynamic, FoldError>>;

/// The shared shape of `checkpoint`, `replay`, `compact` and
/// `maybe_compact`: check name, source and step, then run `f` on the store
/// with the script's step, its code's version (`fingerprint`) and the
/// script context current. `compact` and
/// friends then take only a stream (`Source::as_stream`).
fn named_fold<T>(
    ctx: &NativeCallContext,
    s: &StoreHandle,
    op: &'static str,
    [name, source, step]: [&Dynamic; 3],
    f: impl FnOnce(&Store, &str, &Source, &str, BoxStep) -> Result<T, FoldError>,
) -> RhaiResult<T> {
    let name = args::string(op, "name", name)?;
    let source = args::source(op, source)?;
    let step = args::func(op, "step", step)?;
    let (version, step) = Step::versioned(ctx, step);
    let step = Box::new(step.kernel());
    let store = s.0.clone();
    run_fold(ctx, || f(&store, &name, &source, &version, step))
}

/// Projections, `append_expect`, snapshots and compaction, as Store methods.
#[export_module]
pub mod api {
    use super::*;

    /// The state `#{value, seq}` after folding every record of `stream` from
    /// `#{value: init, seq: 0}`; `step(acc, record)` returns the next value.
    /// Errors if records it needs were truncated (fold from a snapshot instead).
    ///
    /// ```rhai
    /// let n = s.project("orders", 0, |acc, r| acc + r.data.qty).value;
    /// ```
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn project(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        init: Dynamic,
        step: Dynamic,
    ) -> RhaiResult<Dynamic> {
        let source = args::source("project", &stream)?;
        let step = args::func("project", "step", &step)?;
        let st = s.0.clone();
        run_fold(&ctx, || {
            st.fold_refs(source, State::empty(init), Step::new(&ctx, step).kernel())
        })
        .map(state_to_dynamic)
    }

    /// The state after folding only the records with `seq > state.seq` into
    /// `state` (`#{value, seq}`, as `project` returned it).
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn project_resume(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        state: Dynamic,
        step: Dynamic,
    ) -> RhaiResult<Dynamic> {
        let source = args::source("project_resume", &stream)?;
        let state = state_arg("project_resume", &state)?;
        let step = args::func("project_resume", "step", &step)?;
        let st = s.0.clone();
        let step = Step::new(&ctx, step).kernel();
        run_fold(&ctx, || st.fold_refs(source, state, step)).map(state_to_dynamic)
    }

    /// Appends only when `last_seq(stream) == expected`, atomically: returns the
    /// new seq, or `#{conflict: true, expected, actual}` and appends nothing.
    ///
    /// ```rhai
    /// let r = s.append_expect("acct", 4, #{ debit: 10 });
    /// if persist::is_conflict(r) { /* reload and retry */ }
    /// ```
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn append_expect(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        expected: Dynamic,
        event: Dynamic,
    ) -> RhaiResult<Dynamic> {
        let stream = args::string("append_expect", "stream", &stream)?;
        let expected = args::count("append_expect", "expected", &expected)?;
        let event = args::value(
            "append_expect",
            || format!("event for stream {stream:?}"),
            &event,
        )?;
        Ok(
            match s.run(&ctx, |s| s.append_expect(&stream, expected, event))? {
                Appended::Seq(seq) => Dynamic::from(args::int(seq)),
                Appended::Conflict { expected, actual } => conflict_map(expected, actual),
            },
        )
    }

    /// `true` for the map `append_expect` returns on a conflict.
    pub fn is_conflict(x: Dynamic) -> bool {
        x.read_lock::<Map>()
            .and_then(|m| m.get("conflict").and_then(|c| c.as_bool().ok()))
            .unwrap_or(false)
    }

    /// The state saved under `snapshot/<name>`, or `()`.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn snapshot(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        name: Dynamic,
    ) -> RhaiResult<Dynamic> {
        let name = args::string("snapshot", "name", &name)?;
        let saved = s.run(&ctx, |s| s.snapshot(&name))?;
        Ok(saved.map_or(Dynamic::UNIT, |st| {
            state_to_dynamic(State {
                value: crate::script::convert::to_dynamic(st.value),
                seq: st.seq,
            })
        }))
    }

    /// Resumes from the snapshot `name` (or the empty state), folds the tail of
    /// `stream`, saves and returns the new state `#{value, seq}`.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn checkpoint(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        name: Dynamic,
        stream: Dynamic,
        init: Dynamic,
        step: Dynamic,
    ) -> RhaiResult<Dynamic> {
        named_fold(
            &ctx,
            s,
            "checkpoint",
            [&name, &stream, &step],
            |st, n, sm, v, f| st.checkpoint(n, sm, init, v, f),
        )
        .map(state_to_dynamic)
    }

    /// The snapshot `name` (or the empty state) plus the tail of `stream`
    /// folded; saves nothing.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn replay(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        name: Dynamic,
        stream: Dynamic,
        init: Dynamic,
        step: Dynamic,
    ) -> RhaiResult<Dynamic> {
        named_fold(
            &ctx,
            s,
            "replay",
            [&name, &stream, &step],
            |st, n, sm, v, f| st.replay(n, sm, init, v, f),
        )
        .map(state_to_dynamic)
    }

    /// `checkpoint`, then drops the records the snapshot covers; returns
    /// `#{seq, dropped}`. `replay` afterwards equals the full replay.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn compact(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        name: Dynamic,
        stream: Dynamic,
        init: Dynamic,
        step: Dynamic,
    ) -> RhaiResult<Map> {
        let (_, done) = named_fold(
            &ctx,
            s,
            "compact",
            [&name, &stream, &step],
            |st, n, sm, v, f| st.compact(n, sm.as_stream("compact")?, init, v, f),
        )?;
        let mut m = Map::new();
        m.insert("seq".into(), args::int(done.seq).into());
        m.insert("dropped".into(), args::int(done.dropped).into());
        Ok(m)
    }

    /// `true` when at least `every` records follow the snapshot's seq.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn should_compact(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        name: Dynamic,
        stream: Dynamic,
        every: Dynamic,
    ) -> RhaiResult<bool> {
        let name = args::string("should_compact", "name", &name)?;
        let source = args::source("should_compact", &stream)?;
        let every = args::count("should_compact", "every", &every)?;
        s.run(&ctx, |s| {
            s.should_compact(&name, source.as_stream("should_compact")?, every)
        })
    }

    /// Compacts when `should_compact(name, stream, every)`; returns whether it did.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn maybe_compact(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        name: Dynamic,
        stream: Dynamic,
        init: Dynamic,
        step: Dynamic,
        every: Dynamic,
    ) -> RhaiResult<bool> {
        let every = args::count("maybe_compact", "every", &every)?;
        named_fold(
            &ctx,
            s,
            "maybe_compact",
            [&name, &stream, &step],
            |st, n, sm, v, f| {
                st.maybe_compact(n, sm.as_stream("maybe_compact")?, init, v, f, every)
            },
        )
    }
}
