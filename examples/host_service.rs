//! A host service: Rust appends typed events; read models are `.rhai`
//! files loaded from a directory and attached as views; queries are
//! answered from `peek` (no log read).
//!
//! ```text
//! cargo run --example host_service [-- STORE_DIR [MODELS_DIR]]
//! ```
//!
//! Run it twice on the same STORE_DIR: the views load from their snapshots
//! and the numbers carry on.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use persist::Store;
use persist::script::hub::{HubHandle, ViewHandle};
use persist::script::{PersistPackage, StoreHandle, with_engine};
use rhai::packages::Package;
use rhai::{AST, Engine, Scope};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// What the shop records; stored as `{"kind": "Sold", "sku": .., ..}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ShopEvent {
    Received { sku: String, qty: i64 },
    Sold { sku: String, qty: i64, cents: i64 },
}

/// The answer of the `revenue` read model.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Revenue {
    pub sales: i64,
    pub cents: i64,
}

pub struct Shop {
    engine: Engine,
    /// Every read model's functions (its closures), for the views' steps.
    lib: AST,
    hub: HubHandle,
    views: BTreeMap<String, ViewHandle>,
}

impl Shop {
    /// Opens the store in `store_dir` and attaches every `*.rhai` read
    /// model under `models_dir`.
    pub fn open(store_dir: &Path, models_dir: &Path) -> Result<Shop> {
        let store = Arc::new(Store::open(store_dir)?);
        let mut engine = Engine::new();
        // The host's limits: a read model stuck in a loop fails its call.
        engine.set_max_operations(1_000_000);
        PersistPackage::new().register_into_engine(&mut engine);
        let hub = HubHandle::new(store.clone());
        let mut shop = Shop {
            engine,
            lib: AST::empty(),
            hub,
            views: BTreeMap::new(),
        };
        let mut scope = Scope::new();
        scope.push_constant("store", StoreHandle::from(store));
        scope.push_constant("hub", shop.hub.clone());
        let files = walkdir::WalkDir::new(models_dir).sort_by_file_name();
        for entry in files {
            let path = entry?.into_path();
            if path.extension().is_some_and(|e| e == "rhai") {
                shop.load(&path, &mut scope)
                    .map_err(|e| format!("read model {}: {e}", path.display()))?;
            }
        }
        Ok(shop)
    }

    fn load(&mut self, path: &Path, scope: &mut Scope) -> Result<()> {
        let ast = self.engine.compile_file(path.into())?;
        let view: ViewHandle = self.engine.eval_ast_with_scope(scope, &ast)?;
        self.lib.combine(ast.clone_functions_only());
        self.views.insert(view.name().to_string(), view);
        Ok(())
    }

    /// Appends the event and refreshes every view over its stream.
    pub fn record(&self, event: &ShopEvent) -> Result<u64> {
        let seq = with_engine(&self.engine, &self.lib, || {
            self.hub.0.publish_typed("shop", event)
        })?;
        Ok(seq)
    }

    /// A read model's current answer, as a Rust type.
    pub fn query<T: DeserializeOwned>(&self, view: &str) -> Result<T> {
        let v = self
            .views
            .get(view)
            .ok_or_else(|| format!("no read model {view:?}"))?;
        Ok(rhai::serde::from_dynamic(&v.peek())?)
    }

    /// The names of the attached read models.
    pub fn read_models(&self) -> Vec<&str> {
        self.views.keys().map(String::as_str).collect()
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let temp = tempfile::tempdir()?;
    let store_dir = args.next().map_or(temp.path().to_path_buf(), Into::into);
    let models_dir = args.next().map_or(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/read_models"),
        Into::into,
    );
    let shop = Shop::open(&store_dir, &models_dir)?;
    println!("read models: {}", shop.read_models().join(", "));
    let sku = |s: &str| s.to_string();
    shop.record(&ShopEvent::Received {
        sku: sku("mug"),
        qty: 10,
    })?;
    shop.record(&ShopEvent::Sold {
        sku: sku("mug"),
        qty: 3,
        cents: 2400,
    })?;
    shop.record(&ShopEvent::Received {
        sku: sku("tee"),
        qty: 5,
    })?;
    shop.record(&ShopEvent::Sold {
        sku: sku("tee"),
        qty: 1,
        cents: 1500,
    })?;
    let stock: BTreeMap<String, i64> = shop.query("stock")?;
    let revenue: Revenue = shop.query("revenue")?;
    println!("stock: {stock:?}");
    println!("revenue: {} sales, {} cents", revenue.sales, revenue.cents);
    Ok(())
}
