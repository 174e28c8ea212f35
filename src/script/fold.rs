//! Projections, optimistic concurrency, snapshots and compaction
//! (SPEC 3.4-3.7) as bindings over the kernel's `Store` methods.

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext};

use crate::backend::Appended;
use crate::script::args::{self, RhaiResult, fail, kernel};
use crate::script::context;
use crate::script::convert::{record_ref_to_dynamic, state_to_dynamic};
use crate::script::store::StoreHandle;
use crate::value::RecordRef;
use crate::{Error, Source, State, Store};

/// A fold fails either in the kernel or in the script's step.
pub enum FoldError {
    Kernel(Error),
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

/// The kernel-side step: calls the script closure with `(value, record)`,
/// the record converted straight from the backend's form.
pub fn step_fn(step: FnPtr) -> impl FnMut(Dynamic, RecordRef<'_>) -> Result<Dynamic, FoldError> {
    let mut stream = ImmutableString::new();
    move |acc, rec| {
        let rec = record_ref_to_dynamic(rec, &mut stream)?;
        context::call(&step, [acc, rec]).map_err(FoldError::Script)
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
/// with the script's step and the script context current. `compact` and
/// friends then take only a stream (`Source::as_stream`).
fn named_fold<T>(
    ctx: &NativeCallContext,
    s: &StoreHandle,
    op: &'static str,
    [name, source, step]: [&Dynamic; 3],
    f: impl FnOnce(&Store, &str, &Source, BoxStep) -> Result<T, FoldError>,
) -> RhaiResult<T> {
    let name = args::string(op, "name", name)?;
    let source = args::source(op, source)?;
    let step = Box::new(step_fn(args::func(op, "step", step)?));
    let store = s.0.clone();
    run_fold(ctx, || f(&store, &name, &source, step))
}

#[export_module]
pub mod api {
    use super::*;

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
            st.fold_refs(source, State::empty(init), step_fn(step))
        })
        .map(state_to_dynamic)
    }

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
        run_fold(&ctx, || st.fold_refs(source, state, step_fn(step))).map(state_to_dynamic)
    }

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
            |st, n, sm, f| st.checkpoint(n, sm, init, f),
        )
        .map(state_to_dynamic)
    }

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
            |st, n, sm, f| st.replay(n, sm, init, f),
        )
        .map(state_to_dynamic)
    }

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
            |st, n, sm, f| st.compact(n, sm.as_stream("compact")?, init, f),
        )?;
        let mut m = Map::new();
        m.insert("seq".into(), args::int(done.seq).into());
        m.insert("dropped".into(), args::int(done.dropped).into());
        Ok(m)
    }

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
            |st, n, sm, f| st.maybe_compact(n, sm.as_stream("maybe_compact")?, init, f, every),
        )
    }
}
