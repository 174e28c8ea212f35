//! The script context a kernel callback runs in.
//!
//! Kernel code (a durable transport, a hub handler) sometimes has to call a
//! script closure from deep inside a backend call, where no
//! `NativeCallContext` is in reach. Every binding that enters the kernel
//! does so through `enter`, which makes its context current for that call;
//! `call` uses the innermost current one.

use std::cell::Cell;
use std::ptr;

use rhai::{Dynamic, EvalAltResult, FnPtr, NativeCallContext};

thread_local! {
    static CURRENT: Cell<*const ()> = const { Cell::new(ptr::null()) };
}

struct Restore(*const ());

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `f` with `ctx` as the current context.
pub fn enter<R>(ctx: &NativeCallContext, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(ctx as *const NativeCallContext as *const ()));
    let _restore = Restore(prev);
    f()
}

/// Calls a script function in the current context.
pub fn call(f: &FnPtr, args: impl AsMut<[Dynamic]>) -> Result<Dynamic, Box<EvalAltResult>> {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return Err("persist: a script callback ran outside of any script call".into());
    }
    // SAFETY: `p` was set by `enter` from a `&NativeCallContext` that lives
    // on the stack for the whole of `f`, and `Restore` resets it before that
    // frame is left; `call` only runs inside such an `f` on this thread.
    let ctx = unsafe { &*(p as *const NativeCallContext) };
    f.call_raw(ctx, None, args)
}
