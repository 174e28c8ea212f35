//! The global log (SPEC 3.2, 3.12) as bindings: sources, `append_once`,
//! `read_all`, `read_category`, `last_pos`.

use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, INT, NativeCallContext, TypeBuilder};

use crate::Source;
use crate::script::args::{self, RhaiResult};
use crate::script::convert::records_to_array;
use crate::script::store::StoreHandle;

/// `persist::all()` or `persist::category(name)` (a stream is a string).
#[derive(Clone)]
pub struct SourceHandle(pub Source);

impl CustomType for SourceHandle {
    fn build(mut builder: TypeBuilder<Self>) {
        builder.with_name("Source");
    }
}

fn limit_arg(op: &str, d: &Dynamic) -> RhaiResult<Option<usize>> {
    if d.is_unit() {
        return Ok(None);
    }
    Ok(Some(
        args::count(op, "limit", d)?.min(usize::MAX as u64) as usize
    ))
}

/// `persist::all`, `persist::category` and the global-log Store methods.
#[export_module]
pub mod api {
    use super::*;

    /// Every stream, in pos order.
    pub fn all() -> SourceHandle {
        SourceHandle(Source::All)
    }

    /// The streams whose name up to the first `-` is `name`.
    #[rhai_fn(return_raw)]
    pub fn category(name: Dynamic) -> RhaiResult<SourceHandle> {
        let name = args::string("category", "name", &name)?;
        if name.is_empty() {
            return Err(args::fail("category: name is empty"));
        }
        Ok(SourceHandle(Source::category(name.as_str())))
    }

    /// Idempotent append: the first time `id` (a non-empty string) is seen,
    /// appends like `append` and returns the seq; every later call with that id
    /// (after restarts and compaction too) appends nothing and returns the first
    /// record's seq. An id first used in another stream is an error naming both.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn append_once(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        id: Dynamic,
        event: Dynamic,
    ) -> RhaiResult<INT> {
        let stream = args::string("append_once", "stream", &stream)?;
        let id = args::string("append_once", "id", &id)?;
        let what = || format!("event for stream {stream:?}");
        let event = args::value("append_once", what, &event)?;
        s.run(&ctx, |s| s.append_once(&stream, &id, event))
            .map(args::int)
    }

    /// The records of every stream with `pos > after`, in pos order.
    #[rhai_fn(global, name = "read_all", pure, volatile, return_raw)]
    pub fn read_all_after(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        after: Dynamic,
    ) -> RhaiResult<Array> {
        read_all_after_limit(ctx, s, after, Dynamic::UNIT)
    }

    /// At most `limit` records of every stream with `pos > after`, in pos order.
    #[rhai_fn(global, name = "read_all", pure, volatile, return_raw)]
    pub fn read_all_after_limit(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        after: Dynamic,
        limit: Dynamic,
    ) -> RhaiResult<Array> {
        let after = args::count("read_all", "after", &after)?;
        let limit = limit_arg("read_all", &limit)?;
        s.run(&ctx, |s| s.read_all(after, limit))
            .map(records_to_array)
    }

    /// The records of the streams in `category` with `pos > after`, in pos order.
    #[rhai_fn(global, name = "read_category", pure, volatile, return_raw)]
    pub fn read_category_after(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        category: Dynamic,
        after: Dynamic,
    ) -> RhaiResult<Array> {
        read_category_after_limit(ctx, s, category, after, Dynamic::UNIT)
    }

    /// At most `limit` records of the streams in `category` with
    /// `pos > after`, in pos order.
    #[rhai_fn(global, name = "read_category", pure, volatile, return_raw)]
    pub fn read_category_after_limit(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        category: Dynamic,
        after: Dynamic,
        limit: Dynamic,
    ) -> RhaiResult<Array> {
        let category = args::string("read_category", "category", &category)?;
        let after = args::count("read_category", "after", &after)?;
        let limit = limit_arg("read_category", &limit)?;
        s.run(&ctx, |s| s.read_category(&category, after, limit))
            .map(records_to_array)
    }

    /// The highest pos ever given (0 for an empty store); truncation never
    /// lowers it.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn last_pos(ctx: NativeCallContext, s: &mut StoreHandle) -> RhaiResult<INT> {
        s.run(&ctx, |s| s.last_pos()).map(args::int)
    }

    /// How `print` shows a source: `persist::all()`, `persist::category("user")`.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(s: &mut SourceHandle) -> String {
        match &s.0 {
            Source::All => "persist::all()".into(),
            Source::Category(c) => format!("persist::category({c:?})"),
            Source::Stream(st) => format!("{st:?}"),
        }
    }

    /// How `debug` shows a source.
    #[rhai_fn(global, name = "to_debug", pure)]
    pub fn to_debug(s: &mut SourceHandle) -> String {
        to_string(s)
    }
}
