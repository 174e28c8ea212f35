//! The script context a kernel callback runs in.
//!
//! Kernel code (a durable transport, a hub handler) sometimes has to call a
//! script closure from deep inside a backend call, where no
//! `NativeCallContext` is in reach. Every binding that enters the kernel
//! does so through `enter`, which makes its context current for that call;
//! a Rust host calling the kernel directly (a `Hub::publish` that refreshes
//! script views) uses `with_engine`. `call` uses the innermost current one.

use std::cell::Cell;

use rhai::{AST, Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext};

/// Pointers to the context, valid while the `enter`/`with_engine` frame
/// that set them is on this thread's stack.
#[derive(Clone, Copy)]
enum Current {
    None,
    Call(*const ()),
    Host(*const Engine, *const AST),
}

thread_local! {
    static CURRENT: Cell<Current> = const { Cell::new(Current::None) };
}

struct Restore(Current);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

fn with_current<R>(cur: Current, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(CURRENT.with(|c| c.replace(cur)));
    f()
}

/// Runs `f` with `ctx` as the current context.
pub fn enter<R>(ctx: &NativeCallContext, f: impl FnOnce() -> R) -> R {
    with_current(
        Current::Call(ctx as *const NativeCallContext as *const ()),
        f,
    )
}

/// Runs `f`, a host's own kernel calls, so that the script callbacks they
/// reach (hub handlers, attached views, script transports) run on `engine`
/// with the functions of `ast` (where the closures were defined).
///
/// ```
/// use persist::script::{PersistPackage, with_engine};
/// use rhai::packages::Package;
///
/// let mut engine = rhai::Engine::new();
/// PersistPackage::new().register_into_engine(&mut engine);
/// let ast = engine.compile("let d = persist::disk(); persist::durable(|r| persist::serve(d, r))").unwrap();
/// let store: persist::script::StoreHandle = engine.eval_ast(&ast).unwrap();
/// let seq = with_engine(&engine, &ast, || store.store().append("s", 1.into()));
/// assert_eq!(seq.unwrap(), 1);
/// ```
pub fn with_engine<R>(engine: &Engine, ast: &AST, f: impl FnOnce() -> R) -> R {
    with_current(Current::Host(engine, ast), f)
}

/// Calls a script function in the current context.
pub fn call(f: &FnPtr, mut args: impl AsMut<[Dynamic]>) -> Result<Dynamic, Box<EvalAltResult>> {
    match CURRENT.with(|c| c.get()) {
        Current::None => Err("persist: a script callback ran outside of any script call (a host calling the kernel directly wraps the call in persist::script::with_engine)".into()),
        Current::Call(p) => {
            // SAFETY: `p` was set by `enter` from a `&NativeCallContext` that
            // lives on the stack for the whole of `f`, and `Restore` resets it
            // before that frame is left; `call` only runs inside such an `f`
            // on this thread.
            let ctx = unsafe { &*(p as *const NativeCallContext) };
            f.call_raw(ctx, None, args)
        }
        Current::Host(engine, ast) => {
            // SAFETY: as above, for the references `with_engine` was given.
            let (engine, ast) = unsafe { (&*engine, &*ast) };
            let args: Vec<Dynamic> = args.as_mut().iter_mut().map(std::mem::take).collect();
            f.call::<Dynamic>(engine, ast, args)
        }
    }
}
