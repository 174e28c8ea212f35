//! Fold versions and upcasting (SPEC 3.13) as bindings: `accept_fold`,
//! `folds` and `upcast`. Steps and upcasters are versioned by their code
//! (`fingerprint`).

use std::cell::RefCell;
use std::sync::Arc;

use rhai::plugin::*;
use rhai::{Array, Dynamic, FnPtr, Map, NativeCallContext};

use crate::script::args::{self, RhaiResult};
use crate::script::context;
use crate::script::convert::{is_plain, to_dynamic, to_value};
use crate::script::fingerprint;
use crate::script::local::Local;
use crate::script::reads::{self, Reads};
use crate::script::record_maps::RecordMaps;
use crate::script::store::StoreHandle;
use crate::upcast::ScriptUpcastFn;
use crate::value::RecordRef;

/// A script closure as an upcaster: `f(record) -> data`. The closure is
/// bound to the script's thread (`Local`); a read of the store from another
/// thread gets an error instead of touching it. It is given only what it
/// reads of the record (`reads`), and its result stays a script value
/// when it is one a stored event reads back as (`convert::is_plain`).
fn script_upcaster(f: FnPtr, reads: Reads) -> ScriptUpcastFn {
    let maps = RefCell::new(RecordMaps::new(reads.clone()));
    let local = Local::new((f, reads, maps));
    Arc::new(move |rec: RecordRef<'_>| {
        let (f, reads, maps) = local
            .get()
            .ok_or("a script upcaster runs only on the thread of its script")?;
        // The upcaster's own maps, unless it is reading the store itself.
        let rec = match maps.try_borrow_mut() {
            Ok(mut maps) => maps.of_ref(rec),
            Err(_) => RecordMaps::new(reads.clone()).of_ref(rec),
        };
        let rec = rec.map_err(|e| e.to_string())?;
        let data = context::call(f, [rec]).map_err(|e| crate::script::error_message(&e))?;
        match is_plain(&data) {
            true => Ok(data),
            false => to_value(&data, &|| "the upcaster's result".to_string()).map(to_dynamic),
        }
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
        let reads = reads::of_upcaster(&ctx, &f);
        s.run(&ctx, |s| {
            s.upcast(source, &version, script_upcaster(f, reads))
        })
    }
}
