//! `PersistPackage`: the `persist` module and its types as a Rhai package,
//! registered into a host's own engine the way `rhai-fs` and `rhai-rand`
//! are, next to the host's functions and under the host's limits.
//!
//! ```
//! use persist::script::PersistPackage;
//! use rhai::packages::Package;
//!
//! let mut engine = rhai::Engine::new();
//! engine.set_max_operations(100_000); // limits are the host's to choose
//! PersistPackage::new().register_into_engine(&mut engine);
//! let n: i64 = engine
//!     .eval(r#"let s = persist::mem(); s.append("o", 1); s.append("o", 2)"#)
//!     .unwrap();
//! assert_eq!(n, 2);
//! ```

use rhai::packages::Package;
use rhai::{Engine, FuncRegistration, Module, Shared, exported_module};

use crate::script::{
    Config, Session, blob, durable, fold, fold_version, global, hub, store, store_for,
};

/// The `persist` module (every `persist::` function and the Store, Disk,
/// ContentStore, Hub, View and Source methods) as a Rhai package.
///
/// `register_into_engine` registers it under the `persist` namespace; the
/// methods on its handles are global, as methods must be. It sets no
/// limits and registers no assertions: the engine stays the host's.
#[derive(Clone)]
pub struct PersistPackage(Shared<Module>);

impl PersistPackage {
    /// The package for a host: `persist::store()` makes a fresh in-memory
    /// store, and temporary directories live as long as the package.
    pub fn new() -> Self {
        Self::with_session(&Config::default(), &Session::default())
    }

    /// The package as `persist run` and `persist test` set it up:
    /// `persist::store()` follows `cfg`, and `session` owns the temporary
    /// directories made meanwhile.
    pub fn with_session(cfg: &Config, session: &Session) -> Self {
        let mut module = Module::new();
        <Self as Package>::init(&mut module);
        let (c, s) = (cfg.clone(), session.clone());
        FuncRegistration::new("store")
            .with_params_info(["StoreHandle"])
            .with_comments([
                "/// The store a script or test works on: a fresh empty one on the\n\
                 /// backend `--backend` names (in memory by default), or the store in\n\
                 /// `--store DIR`, opened once and shared.",
            ])
            .set_into_module(&mut module, move || store_for(&c, &s));
        let s = session.clone();
        FuncRegistration::new("temp_dir")
            .with_params_info(["String"])
            .with_comments(["/// A new empty directory, removed when the script or test ends."])
            .set_into_module(&mut module, move || {
                s.temp_dir().map(|p| p.display().to_string())
            });
        module.build_index();
        PersistPackage(module.into())
    }
}

impl Default for PersistPackage {
    fn default() -> Self {
        Self::new()
    }
}

impl Package for PersistPackage {
    fn init(module: &mut Module) {
        module.combine_flatten(exported_module!(store::api));
        module.combine_flatten(exported_module!(fold::api));
        module.combine_flatten(exported_module!(durable::api));
        module.combine_flatten(exported_module!(blob::api));
        module.combine_flatten(exported_module!(hub::api));
        module.combine_flatten(exported_module!(global::api));
        module.combine_flatten(exported_module!(fold_version::api));
    }

    fn init_engine(engine: &mut Engine) {
        engine.build_type::<store::StoreHandle>();
        engine.build_type::<durable::DiskHandle>();
        engine.build_type::<blob::ContentHandle>();
        engine.build_type::<hub::HubHandle>();
        engine.build_type::<hub::ViewHandle>();
        engine.build_type::<global::SourceHandle>();
    }

    /// Registers the types and the module as `persist`.
    fn register_into_engine(&self, engine: &mut Engine) -> &Self {
        self.register_into_engine_as(engine, "persist")
    }

    fn as_shared_module(&self) -> Shared<Module> {
        self.0.clone()
    }
}
