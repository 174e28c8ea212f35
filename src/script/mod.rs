//! The script layer: `PersistPackage` registers the kernel into any Rhai
//! engine as the `persist` module; `engine` is the one the CLI uses (the
//! package, the assertions, persist's limits). A thin binding: every
//! function checks its arguments and calls one kernel method.
//!
//! A host reads a script's result back as Rust types with rhai's serde
//! support (`rhai::serde::from_dynamic`); persist values are plain maps,
//! arrays, strings and numbers.

pub(crate) mod args;
pub mod assert;
pub mod blob;
pub(crate) mod closure;
pub(crate) mod context;
pub(crate) mod convert;
pub(crate) mod decode;
pub mod durable;
pub mod fingerprint;
pub mod fold;
pub mod fold_version;
pub mod global;
pub mod hub;
pub(crate) mod local;
pub mod package;
pub(crate) mod reads;
pub(crate) mod record_maps;
pub mod reference;
pub(crate) mod show;
pub mod store;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use rhai::packages::Package;
use rhai::{Engine, EvalAltResult, exported_module};

use crate::Store;
pub use context::with_engine;
pub use package::PersistPackage;
pub use store::StoreHandle;

/// What `persist::store()` returns (SPEC 4 `--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// A memory store.
    /// A memory store.
    #[default]
    Mem,
    /// A durable store over a memory disk (`mock_durable`).
    Mock,
    /// The on-disk log in a temporary directory.
    Disk,
    /// A fresh schema on the server named by `PERSIST_PG_URL`.
    Pg,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mem" => Ok(BackendKind::Mem),
            "mock" => Ok(BackendKind::Mock),
            "disk" => Ok(BackendKind::Disk),
            "pg" => Ok(BackendKind::Pg),
            _ => Err(format!(
                "unknown backend {s:?} (expected mem, mock, disk or pg)"
            )),
        }
    }
}

/// How an engine is set up.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The backend of a fresh `persist::store()`.
    pub backend: BackendKind,
    /// `persist run --store DIR`: `persist::store()` opens this directory.
    pub store_dir: Option<PathBuf>,
    /// Operation budget per call (0 = unlimited).
    pub max_operations: u64,
}

/// Per-run resources the bindings create: temporary directories live until
/// `reset` (the end of a test or script).
#[derive(Clone, Default)]
pub struct Session {
    temp_dirs: Rc<RefCell<Vec<tempfile::TempDir>>>,
    /// `--store DIR`: opened once, shared by every `persist::store()`.
    opened: Rc<RefCell<Option<StoreHandle>>>,
    /// `--backend pg`: the fresh schemas made, dropped on reset.
    pg_schemas: Rc<RefCell<Vec<crate::pg::PgUrl>>>,
}

impl Session {
    /// A new directory, removed at the next `reset`.
    pub fn temp_dir(&self) -> Result<PathBuf, Box<EvalAltResult>> {
        let dir = tempfile::Builder::new()
            .prefix("persist-")
            .tempdir()
            .map_err(|e| args::fail(format!("temp_dir: cannot create a directory: {e}")))?;
        let path = dir.path().to_path_buf();
        self.temp_dirs.borrow_mut().push(dir);
        Ok(path)
    }

    /// Removes every temporary directory made since the last reset.
    pub fn reset(&self) {
        if let Some(s) = self.opened.borrow_mut().take() {
            let _ = s.0.close();
        }
        let dirs = std::mem::take(&mut *self.temp_dirs.borrow_mut());
        drop(dirs);
        for url in std::mem::take(&mut *self.pg_schemas.borrow_mut()) {
            if let Err(e) = crate::pg::drop_schema(&url) {
                eprintln!("persist: cannot drop test schema: {e}");
            }
        }
    }

    /// A fresh, empty PostgreSQL store in its own schema, dropped on reset.
    fn pg_store(&self) -> Result<Store, Box<EvalAltResult>> {
        let b = crate::pg::fresh(&crate::pg::test_url()).map_err(args::kernel)?;
        self.pg_schemas.borrow_mut().push(b.url().clone());
        Ok(Store::new(b))
    }
}

/// What `persist::store()` returns: the store in `--store DIR` (opened
/// once), else a fresh empty store on the configured backend.
pub(crate) fn store_for(
    cfg: &Config,
    session: &Session,
) -> Result<StoreHandle, Box<EvalAltResult>> {
    if let Some(dir) = &cfg.store_dir {
        let mut opened = session.opened.borrow_mut();
        if let Some(s) = opened.as_ref().filter(|s| !s.0.is_closed()) {
            return Ok(s.clone());
        }
        let s = StoreHandle::new(open(dir)?);
        *opened = Some(s.clone());
        return Ok(s);
    }
    let store = match cfg.backend {
        BackendKind::Mem => Store::mem(),
        BackendKind::Mock => crate::durable::mock_durable(&crate::durable::Disk::mem()),
        BackendKind::Disk => open(&session.temp_dir()?)?,
        BackendKind::Pg => session.pg_store()?,
    };
    Ok(StoreHandle::new(store))
}

fn open(dir: &std::path::Path) -> Result<Store, Box<EvalAltResult>> {
    durable::open_store(&dir.display().to_string()).map_err(args::kernel)
}

/// The engine `persist run` and `persist test` use: the package, the
/// assertions and persist's own limits.
pub fn engine(cfg: &Config) -> (Engine, Session) {
    let session = Session::default();
    let mut engine = Engine::new();
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_operations(cfg.max_operations);
    PersistPackage::with_session(cfg, &session).register_into_engine(&mut engine);
    engine.register_global_module(exported_module!(assert::api).into());
    (engine, session)
}

/// The message of the innermost error, without position (shared with the
/// REPL, which prints errors the same way).
pub use persist_repl::error_message;
