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
use crate::upcast::{ForeignUpcastFn, Spare};
use crate::value::{ForeignData, RecordRef};

/// A script upcaster's result, kept a script value (one `is_plain` passed,
/// so it is what a stored event reads back as) for the next script reader:
/// `record_maps` downcasts to it. Other readers convert it.
#[derive(Debug)]
pub(crate) struct ScriptData(pub Dynamic);

impl ForeignData for ScriptData {
    fn to_value(&self) -> Result<crate::Value, String> {
        to_value(&self.0, &|| "the upcaster's result".to_string())
    }

    fn is_null(&self) -> bool {
        self.0.is_unit()
    }
}

/// A script closure as an upcaster: `f(record) -> data`. The closure is
/// bound to the script's thread (`Local`); a read of the store from another
/// thread gets an error instead of touching it. It is given only what it
/// reads of the record (`reads`), and its result stays a script value
/// when it is one a stored event reads back as (`convert::is_plain`).
fn script_upcaster(f: FnPtr, reads: Reads) -> ForeignUpcastFn {
    let maps = RefCell::new(RecordMaps::new(reads.clone()));
    let local = Local::new((f, reads, maps));
    Arc::new(move |rec: RecordRef<'_>, spare| {
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
        let data = match is_plain(&data) {
            true => data,
            false => to_dynamic(to_value(&data, &|| "the upcaster's result".to_string())?),
        };
        Ok(script_data(data, spare))
    })
}

/// `data` in a box: `spare`, when it held a script value before.
fn script_data(data: Dynamic, spare: Spare) -> Box<dyn ForeignData> {
    let spare = spare.and_then(|b| (b as Box<dyn std::any::Any>).downcast::<ScriptData>().ok());
    match spare {
        Some(mut b) => {
            b.0 = data;
            b
        }
        None => Box::new(ScriptData(data)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;
    use crate::upcast::{UpcastFn, Upcasters, owned_upcast};
    use crate::value::DataRef;
    use crate::{Record, Value};
    use serde_json::json;

    fn script(f: fn(&RecordRef<'_>) -> Dynamic) -> ForeignUpcastFn {
        Arc::new(move |r, spare| Ok(script_data(f(&r), spare)))
    }

    /// A script upcaster's result goes on as a script value: a script
    /// reader gets it back as it is, and the next upcaster, an owned read
    /// and a typed read see it converted; a value that is not JSON is an
    /// error naming the record.
    #[test]
    fn script_results_chain_with_rust_upcasters_and_convert_for_readers() {
        let ups = Upcasters::default();
        let tens = script(|r| {
            let mut m = Map::new();
            m.insert("x".into(), (r.seq as rhai::INT * 10).into());
            Dynamic::from_map(m)
        });
        ups.add(Source::stream("n"), "1", tens.into());
        let rec: Record =
            serde_json::from_value(json!({"stream": "n", "seq": 2, "pos": 5, "at": 0, "data": 1}))
                .unwrap();
        let Some(data) = ups.chain().unwrap().apply(rec.as_ref()).unwrap() else {
            panic!("the upcaster applies to stream n");
        };
        let upcast = RecordRef {
            data: data.as_ref(),
            ..rec.as_ref()
        };
        let script_value = match upcast.data {
            DataRef::Foreign(d) => d.downcast_ref::<ScriptData>().map(|d| d.0.to_string()),
            _ => None,
        };
        assert_eq!(script_value.as_deref(), Some("#{\"x\": 20}"));
        assert_eq!(upcast.to_record().unwrap().data, json!({"x": 20}));
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct X {
            x: i64,
        }
        assert_eq!(upcast.data_as::<X>().unwrap(), X { x: 20 });

        let rust: UpcastFn = owned_upcast(|r| Ok(Value::Array(vec![r.data.clone()])));
        ups.add(Source::All, "2", rust.into());
        let owned = ups.chain().unwrap().apply_owned(rec.clone()).unwrap();
        assert_eq!(owned.data, json!([{"x": 20}]));

        ups.add(Source::All, "3", script(|_| Dynamic::from('c')).into());
        let chain = ups.chain().unwrap();
        let err = chain.apply_owned(rec).unwrap_err().to_string();
        assert!(
            err.contains("stream \"n\" seq 2") && err.contains("a char is not a value"),
            "{err}"
        );
    }

    /// A spare box that held a script value is filled again; any other is
    /// dropped for a new one.
    #[test]
    fn script_data_refills_a_spare_script_box() {
        let first = script_data(Dynamic::from(1 as rhai::INT), None);
        let at = |b: &dyn ForeignData| b as *const dyn ForeignData as *const ();
        let was = at(first.as_ref());
        let again = script_data(Dynamic::from(2 as rhai::INT), Some(first));
        assert_eq!(at(again.as_ref()), was, "the spare box is reused");
        assert_eq!(again.to_value().unwrap(), json!(2));

        #[derive(Debug)]
        struct Other;
        impl ForeignData for Other {
            fn to_value(&self) -> Result<Value, String> {
                Ok(Value::Null)
            }
            fn is_null(&self) -> bool {
                true
            }
        }
        let other = script_data(Dynamic::from(3 as rhai::INT), Some(Box::new(Other)));
        let value = other.downcast_ref::<ScriptData>().map(|d| d.0.as_int());
        assert_eq!(value, Some(Ok(3)));
    }
}
