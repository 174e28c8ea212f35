//! Hubs and views (SPEC 3.9, 3.10) as bindings over `crate::hub` and
//! `crate::view`.

use std::rc::Rc;
use std::sync::Arc;

use rhai::plugin::*;
use rhai::{CustomType, Dynamic, FnPtr, INT, ImmutableString, NativeCallContext, TypeBuilder};

use crate::Store;
use crate::hub::{Handler, Hub, Refresh};
use crate::script::args::{self, RhaiResult, kernel};
use crate::script::context;
use crate::script::convert::{record_to_dynamic, state_to_dynamic};
use crate::script::fold::{Step, run_fold};
use crate::script::store::StoreHandle;
use crate::view::View;

/// A script's handle on a `Hub`; clones share it.
#[derive(Clone)]
pub struct HubHandle(pub Rc<Hub>);

impl HubHandle {
    /// A hub over a host's store, to put in a `Scope`.
    pub fn new(store: Arc<Store>) -> Self {
        HubHandle(Rc::new(Hub::new(store)))
    }
}

impl CustomType for HubHandle {
    fn build(mut builder: TypeBuilder<Self>) {
        builder.with_name("Hub");
    }
}

/// A view with the store it reads and the script step it folds with.
pub struct ViewInner {
    view: View<Dynamic>,
    store: Arc<Store>,
    step: Step,
}

#[derive(Clone)]
/// A script's handle on a view; clones share it.
pub struct ViewHandle(pub Rc<ViewInner>);

impl CustomType for ViewHandle {
    fn build(mut builder: TypeBuilder<Self>) {
        builder.with_name("View");
    }
}

impl ViewHandle {
    /// The view's name (its snapshot is saved under `snapshot/<name>`).
    pub fn name(&self) -> &str {
        &self.0.view.name
    }

    /// The held value, as `v.peek()` returns it: O(1), reads no log.
    pub fn peek(&self) -> Dynamic {
        self.0.view.peek()
    }
}

/// A script closure as a hub handler: `handler(record)`.
fn script_handler(f: FnPtr) -> Handler {
    Rc::new(move |rec| {
        let stream = ImmutableString::from(rec.stream.as_str());
        context::call(&f, [record_to_dynamic(rec, &stream)])
            .map(|_| ())
            .map_err(|e| crate::script::error_message(&e))
    })
}

impl ViewInner {
    fn step(
        &self,
    ) -> impl FnMut(
        Dynamic,
        crate::value::RecordRef<'_>,
    ) -> Result<Dynamic, crate::script::fold::FoldError> {
        self.step.kernel()
    }
}

/// `persist::hub` and the Hub and View methods.
/// `persist::hub` and the Hub and View methods.
#[export_module]
pub mod api {
    use super::*;

    /// A Hub over Store `s`: publish and subscribe.
    #[rhai_fn(volatile)]
    pub fn hub(s: StoreHandle) -> HubHandle {
        HubHandle(Rc::new(Hub::new(s.0.clone())))
    }

    /// Appends, then hands the record to the stream's subscribers.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn publish(
        ctx: NativeCallContext,
        h: &mut HubHandle,
        stream: Dynamic,
        event: Dynamic,
    ) -> RhaiResult<INT> {
        let stream = args::string("publish", "stream", &stream)?;
        let event = args::value("publish", || format!("event for stream {stream:?}"), &event)?;
        let hub = h.0.clone();
        context::enter(&ctx, || hub.publish(&stream, event))
            .map(args::int)
            .map_err(kernel)
    }

    /// A live subscription: `handler(record)` runs for each later publish to
    /// `stream`; returns its id.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn subscribe(h: &mut HubHandle, stream: Dynamic, handler: Dynamic) -> RhaiResult<INT> {
        let source = args::source("subscribe", &stream)?;
        let f = args::func("subscribe", "handler", &handler)?;
        h.0.subscribe(source, script_handler(f))
            .map(args::int)
            .map_err(kernel)
    }

    /// A catch-up subscription: hands `handler` every record after the position
    /// saved under `position/<name>`, then each later publish; saves the position
    /// after each record. Returns its id.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn follow(
        ctx: NativeCallContext,
        h: &mut HubHandle,
        name: Dynamic,
        stream: Dynamic,
        handler: Dynamic,
    ) -> RhaiResult<INT> {
        let name = args::string("follow", "name", &name)?;
        let source = args::source("follow", &stream)?;
        let f = args::func("follow", "handler", &handler)?;
        let hub = h.0.clone();
        context::enter(&ctx, || hub.follow(&name, source, script_handler(f)))
            .map(args::int)
            .map_err(kernel)
    }

    /// Catches followed subscriptions and attached views up; returns how
    /// many records were handed.
    #[rhai_fn(global, name = "pump", pure, volatile, return_raw)]
    pub fn pump_now(ctx: NativeCallContext, h: &mut HubHandle) -> RhaiResult<INT> {
        let hub = h.0.clone();
        context::enter(&ctx, || hub.pump(None))
            .map(args::int)
            .map_err(kernel)
    }

    /// `pump`, first waiting up to `timeout_ms` for a record when there is
    /// none.
    #[rhai_fn(global, name = "pump", pure, volatile, return_raw)]
    pub fn pump_wait(
        ctx: NativeCallContext,
        h: &mut HubHandle,
        timeout_ms: Dynamic,
    ) -> RhaiResult<INT> {
        let ms = args::count("pump", "timeout_ms", &timeout_ms)?;
        let hub = h.0.clone();
        let timeout = std::time::Duration::from_millis(ms);
        context::enter(&ctx, || hub.pump(Some(timeout)))
            .map(args::int)
            .map_err(kernel)
    }

    /// Stops a subscription; returns whether it existed.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn unsubscribe(h: &mut HubHandle, id: Dynamic) -> RhaiResult<bool> {
        let id = args::count("unsubscribe", "id", &id)?;
        Ok(h.0.unsubscribe(id))
    }

    /// A view over `stream` folded by `step`, snapshotted under `name`.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn view(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        name: Dynamic,
        stream: Dynamic,
        init: Dynamic,
        step: Dynamic,
    ) -> RhaiResult<ViewHandle> {
        let name = args::string("view", "name", &name)?;
        let source = args::source("view", &stream)?;
        let step = args::func("view", "step", &step)?;
        let (version, step) = Step::versioned(&ctx, step);
        let view = View::new(&name, source, init, &version).map_err(kernel)?;
        Ok(ViewHandle(Rc::new(ViewInner {
            view,
            store: s.0.clone(),
            step,
        })))
    }

    /// Loads the view's snapshot, folds the tail, then refreshes it on each
    /// publish to its stream. Returns the subscription id.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn attach(ctx: NativeCallContext, h: &mut HubHandle, v: ViewHandle) -> RhaiResult<INT> {
        let inner = v.0.clone();
        run_fold(&ctx, || inner.view.load(&inner.store, inner.step()))?;
        let refresh: Refresh = Rc::new(move || {
            inner
                .view
                .refresh(&inner.store, inner.step())
                .map_err(|e| crate::script::error_message(&Box::<rhai::EvalAltResult>::from(e)))
        });
        h.0.attach(&v.0.view.source, refresh)
            .map(args::int)
            .map_err(kernel)
    }

    /// The held value: O(1), reads no log.
    #[rhai_fn(global, pure)]
    pub fn peek(v: &mut ViewHandle) -> Dynamic {
        v.0.view.peek()
    }

    /// `#{value, seq}` as `peek` sees it.
    #[rhai_fn(global, pure)]
    pub fn state(v: &mut ViewHandle) -> Dynamic {
        state_to_dynamic(v.0.view.state())
    }

    /// Snapshot plus tail folded now: never stale.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn value(ctx: NativeCallContext, v: &mut ViewHandle) -> RhaiResult<Dynamic> {
        let inner = v.0.clone();
        run_fold(&ctx, || inner.view.value(&inner.store, inner.step())).map(|s| s.value)
    }

    /// How `print` shows a Hub.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn hub_to_string(_h: &mut HubHandle) -> String {
        "Hub".into()
    }

    /// How `print` shows a View: its name and stream.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn view_to_string(v: &mut ViewHandle) -> String {
        format!("View({:?} over {})", v.0.view.name, v.0.view.source)
    }
}
