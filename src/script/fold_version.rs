//! Fold versions and upcasting (SPEC 3.13) as bindings: `accept_fold`,
//! `folds` and `upcast`. Steps and upcasters are versioned by their code
//! (`fingerprint`).

use std::cell::RefCell;
use std::sync::Arc;

use rhai::plugin::*;
use rhai::{Array, Dynamic, FnPtr, ImmutableString, Map, NativeCallContext};

use crate::script::args::{self, RhaiResult};
use crate::script::context;
use crate::script::convert::to_value;
use crate::script::fingerprint;
use crate::script::local::Local;
use crate::script::record_maps::{RecordMaps, record_ref_to_dynamic};
use crate::script::store::StoreHandle;
use crate::upcast::UpcastFn;
use crate::value::RecordRef;

/// A script closure as an upcaster: `f(record) -> data`. The closure is
/// bound to the script's thread (`Local`); a read of the store from another
/// thread gets an error instead of touching it.
fn script_upcaster(f: FnPtr) -> UpcastFn {
    let local = Local::new((f, RefCell::new(RecordMaps::default())));
    Arc::new(move |rec: RecordRef<'_>| {
        let (f, maps) = local
            .get()
            .ok_or("a script upcaster runs only on the thread of its script")?;
        // The upcaster's own maps, unless it is reading the store itself.
        let rec = match maps.try_borrow_mut() {
            Ok(mut maps) => maps.of_ref(rec),
            Err(_) => record_ref_to_dynamic(rec, &mut ImmutableString::new()),
        };
        let rec = rec.map_err(|e| e.to_string())?;
        let data = context::call(f, [rec]).map_err(|e| crate::script::error_message(&e))?;
        to_value(&data, &|| "the upcaster's result".to_string())
    })
}

/// `persist::accept_fold`, `s.folds()` and `s.upcast(source, f)` (SPEC 3.13).
#[export_module]
pub mod api {
    use super::*;

    /// Declares snapshot `name` valid for `step`: keeps its value, records
    /// the step's version.
    #[rhai_fn(volatile, return_raw)]
    pub fn accept_fold(
        ctx: NativeCallContext,
        s: StoreHandle,
        name: Dynamic,
        step: Dynamic,
    ) -> RhaiResult<()> {
        let name = args::string("accept_fold", "name", &name)?;
        let step = args::func("accept_fold", "step", &step)?;
        let version = fingerprint::of(&ctx, &step);
        s.run(&ctx, |s| s.accept_fold(&name, &version))
    }

    /// `#{name, seq, fingerprint}` for every saved snapshot, by name.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn folds(ctx: NativeCallContext, s: &mut StoreHandle) -> RhaiResult<Array> {
        let folds = s.run(&ctx, |s| s.folds())?;
        Ok(folds
            .into_iter()
            .map(|f| {
                let mut m = Map::new();
                m.insert("name".into(), f.name.into());
                m.insert("seq".into(), args::int(f.seq).into());
                let fp = f.fingerprint.map_or(Dynamic::UNIT, Dynamic::from);
                m.insert("fingerprint".into(), fp);
                Dynamic::from_map(m)
            })
            .collect())
    }

    /// Registers `f(record) -> data` for every record of `source` this
    /// handle reads; chained after the upcasters registered before it.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn upcast(
        ctx: NativeCallContext,
        s: &mut StoreHandle,
        source: Dynamic,
        f: Dynamic,
    ) -> RhaiResult<()> {
        let source = args::source("upcast", &source)?;
        let f = args::func("upcast", "upcaster", &f)?;
        let version = fingerprint::of(&ctx, &f);
        s.run(&ctx, |s| s.upcast(source, &version, script_upcaster(f)))
    }
}
