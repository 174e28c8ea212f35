//! A script closure's compiled definition, and a cache of what is worked
//! out from it once: its version (`fingerprint`) and the record fields a
//! fold's step reads (`reads`).

use std::cell::RefCell;
use std::collections::HashMap;

use rhai::{FnPtr, NativeCallContext, ScriptFuncDef, Shared};

/// The script function `f` names that takes one of `args` (in order of
/// preference) arguments after its curried captures, or `None` for a
/// native function pointer.
pub fn def<'a>(
    ctx: &'a NativeCallContext,
    f: &FnPtr,
    args: &[usize],
) -> Option<&'a Shared<ScriptFuncDef>> {
    let curry = f.curry().len();
    ctx.iter_namespaces().find_map(|m| {
        args.iter()
            .find_map(|n| m.get_script_fn(f.fn_name(), curry + n))
    })
}

/// Values by function definition. A definition never changes, and the
/// entry keeps it alive, so its address is never reused for another while
/// cached.
pub struct DefCache<V>(RefCell<HashMap<usize, (Shared<ScriptFuncDef>, V)>>);

impl<V> Default for DefCache<V> {
    fn default() -> Self {
        DefCache(RefCell::new(HashMap::new()))
    }
}

impl<V: Clone> DefCache<V> {
    /// The value cached for `def`, computing and caching it the first time.
    pub fn get_or(&self, def: &Shared<ScriptFuncDef>, compute: impl FnOnce() -> V) -> V {
        let key = Shared::as_ptr(def) as usize;
        if let Some((_, v)) = self.0.borrow().get(&key) {
            return v.clone();
        }
        // Computed with no borrow held: `compute` may look up other
        // definitions in this cache.
        let v = compute();
        self.0.borrow_mut().insert(key, (def.clone(), v.clone()));
        v
    }
}
