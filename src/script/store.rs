//! The Store handle and its log and kv bindings (SPEC 3.1-3.3).

use std::sync::Arc;

use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, INT, NativeCallContext, TypeBuilder};

use crate::Store;
use crate::script::args::{self, RhaiResult, kernel};
use crate::script::context;
use crate::script::convert::{records_to_array, strings_to_array, to_dynamic};

/// A script's handle on a kernel `Store`; clones share the store.
///
/// A host hands its own store to scripts by putting a handle in the
/// `Scope`; an `Arc<Store>` the host also uses elsewhere (other threads,
/// other engines) stays shared:
///
/// ```
/// use persist::script::{PersistPackage, StoreHandle};
/// use rhai::packages::Package;
///
/// let store = std::sync::Arc::new(persist::Store::mem());
/// let mut engine = rhai::Engine::new();
/// PersistPackage::new().register_into_engine(&mut engine);
/// let mut scope = rhai::Scope::new();
/// scope.push("orders", StoreHandle::from(store.clone()));
/// engine.run_with_scope(&mut scope, r#"orders.append("o", #{ sku: "a1" });"#).unwrap();
/// assert_eq!(store.last_seq("o").unwrap(), 1);
/// ```
#[derive(Clone)]
pub struct StoreHandle(pub Arc<Store>);

impl From<Store> for StoreHandle {
    fn from(store: Store) -> Self {
        StoreHandle(Arc::new(store))
    }
}

impl From<Arc<Store>> for StoreHandle {
    fn from(store: Arc<Store>) -> Self {
        StoreHandle(store)
    }
}

impl StoreHandle {
    /// A handle on a store no one else holds yet.
    pub fn new(store: Store) -> Self {
        Self::from(store)
    }

    /// The store behind the handle.
    pub fn store(&self) -> &Arc<Store> {
        &self.0
    }

    /// Runs a kernel call with `ctx` current (for script transports) and
    /// turns a kernel error into a `persist:` error.
    pub fn run<T>(
        &self,
        ctx: &NativeCallContext,
        f: impl FnOnce(&Store) -> crate::Result<T>,
    ) -> RhaiResult<T> {
        context::enter(ctx, || f(&self.0)).map_err(kernel)
    }
}

impl CustomType for StoreHandle {
    fn build(mut builder: TypeBuilder<Self>) {
        builder.with_name("Store");
    }
}

fn read_limit(op: &str, d: &Dynamic) -> RhaiResult<usize> {
    Ok(args::count(op, "limit", d)?.min(usize::MAX as u64) as usize)
}

/// `persist::mem` and the Store log and kv methods.
/// `persist::mem` and the Store log and kv methods.
#[export_module]
pub mod api {
    use super::*;

    /// A Store over a fresh in-memory backend.
    #[rhai_fn(volatile)]
    pub fn mem() -> StoreHandle {
        StoreHandle::new(Store::mem())
    }

    /// Flushes and releases the store; later calls on it fail with `store is closed`.
    /// Closing twice is fine.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn close(ctx: NativeCallContext, s: &mut StoreHandle) -> RhaiResult<()> {
        s.run(&ctx, |s| s.close())
    }

    /// Appends `event` (any value but `()`) to `stream`; returns its seq (1, 2, ...).
    ///
    /// ```rhai
    /// let seq = s.append("orders", #{ sku: "a1", qty: 2 });
    /// ```
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn append(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        event: Dynamic,
    ) -> RhaiResult<INT> {
        let stream = args::string("append", "stream", &stream)?;
        let event = args::value("append", || format!("event for stream {stream:?}"), &event)?;
        s.run(&ctx, |s| s.append(&stream, event)).map(args::int)
    }

    /// Appends every event of the array or none (one atomic batch); returns the
    /// last seq, or `last_seq(stream)` for an empty array.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn append_all(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        events: Dynamic,
    ) -> RhaiResult<INT> {
        let stream = args::string("append_all", "stream", &stream)?;
        let events = args::array("append_all", "events", &events)?;
        let events = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                args::value(
                    "append_all",
                    || format!("event {i} for stream {stream:?}"),
                    e,
                )
            })
            .collect::<RhaiResult<Vec<_>>>()?;
        s.run(&ctx, |s| s.append_all(&stream, events))
            .map(args::int)
    }

    /// Every kept record of `stream`, oldest first: `#{stream, seq, at, data}`.
    #[rhai_fn(global, name = "read", pure, volatile, return_raw)]
    pub fn read_all(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
    ) -> RhaiResult<Array> {
        read_after_limit(ctx, s, stream, Dynamic::from(0 as INT), Dynamic::UNIT)
    }

    /// The records with `seq > after`, oldest first.
    #[rhai_fn(global, name = "read", pure, volatile, return_raw)]
    pub fn read_after(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        after: Dynamic,
    ) -> RhaiResult<Array> {
        read_after_limit(ctx, s, stream, after, Dynamic::UNIT)
    }

    /// At most `limit` records with `seq > after`, oldest first.
    ///
    /// ```rhai
    /// for r in s.read("orders", 0, 100) { print(r.data); }
    /// ```
    #[rhai_fn(global, name = "read", pure, volatile, return_raw)]
    pub fn read_after_limit(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        after: Dynamic,
        limit: Dynamic,
    ) -> RhaiResult<Array> {
        let stream = args::string("read", "stream", &stream)?;
        let after = args::count("read", "after", &after)?;
        let limit = match limit.is_unit() {
            true => None,
            false => Some(read_limit("read", &limit)?),
        };
        s.run(&ctx, |s| s.read(&stream, after, limit))
            .map(records_to_array)
    }

    /// The highest seq ever appended to `stream` (0 if none); truncation never
    /// lowers it.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn last_seq(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
    ) -> RhaiResult<INT> {
        let stream = args::string("last_seq", "stream", &stream)?;
        s.run(&ctx, |s| s.last_seq(&stream)).map(args::int)
    }

    /// Drops the records with `seq <= seq`; returns how many were dropped. The
    /// stream's `last_seq` stays.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn truncate_through(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        stream: Dynamic,
        seq: Dynamic,
    ) -> RhaiResult<INT> {
        let stream = args::string("truncate_through", "stream", &stream)?;
        let seq = args::count("truncate_through", "seq", &seq)?;
        s.run(&ctx, |s| s.truncate_through(&stream, seq))
            .map(args::int)
    }

    /// The sorted names of every stream ever appended to.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn streams(ctx: NativeCallContext, s: &mut StoreHandle) -> RhaiResult<Array> {
        s.run(&ctx, |s| s.streams()).map(strings_to_array)
    }

    /// Stores `value` under `key` (`()` is refused: use `kv_del`).
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn kv_put(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        key: Dynamic,
        value: Dynamic,
    ) -> RhaiResult<()> {
        let key = args::string("kv_put", "key", &key)?;
        let value = args::value("kv_put", || format!("value for key {key:?}"), &value)?;
        s.run(&ctx, |s| s.kv_put(&key, value))
    }

    /// The value under `key`, or `()`.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn kv_get(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        key: Dynamic,
    ) -> RhaiResult<Dynamic> {
        let key = args::string("kv_get", "key", &key)?;
        s.run(&ctx, |s| s.kv_get(&key))
            .map(|v| v.map_or(Dynamic::UNIT, to_dynamic))
    }

    /// Removes `key`; returns whether it existed.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn kv_del(ctx: NativeCallContext, s: &mut StoreHandle, key: Dynamic) -> RhaiResult<bool> {
        let key = args::string("kv_del", "key", &key)?;
        s.run(&ctx, |s| s.kv_del(&key))
    }

    /// Every kv key, sorted.
    #[rhai_fn(global, name = "kv_keys", pure, volatile, return_raw)]
    pub fn kv_keys_all(ctx: NativeCallContext, s: &mut StoreHandle) -> RhaiResult<Array> {
        s.run(&ctx, |s| s.kv_keys("")).map(strings_to_array)
    }

    /// The sorted kv keys that start with `prefix`.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn kv_keys(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        prefix: Dynamic,
    ) -> RhaiResult<Array> {
        let prefix = args::string("kv_keys", "prefix", &prefix)?;
        s.run(&ctx, |s| s.kv_keys(&prefix)).map(strings_to_array)
    }

    /// How `print` shows a Store: `Store(mem)`, `Store(disk: DIR)`.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(s: &mut StoreHandle) -> String {
        format!("Store({})", s.0.describe())
    }

    /// How `debug` shows a Store.
    #[rhai_fn(global, name = "to_debug", pure)]
    pub fn to_debug(s: &mut StoreHandle) -> String {
        to_string(s)
    }
}
