//! The smallest embedding: a store, a script, a result.
//!
//! ```text
//! cargo run --example smallest
//! ```

use persist::Store;
use persist::script::{PersistPackage, StoreHandle};
use rhai::packages::Package;
use serde_json::json;

/// Appends two orders from Rust and lets a script total their quantities.
pub fn total_quantity() -> Result<i64, Box<dyn std::error::Error>> {
    let store = Store::mem(); // or Store::open("data/shop")?
    store.append_all("orders", vec![json!({"qty": 2}), json!({"qty": 3})])?;

    let mut engine = rhai::Engine::new();
    PersistPackage::new().register_into_engine(&mut engine);
    let mut scope = rhai::Scope::new();
    scope.push("store", StoreHandle::from(store));
    let total = engine.eval_with_scope(
        &mut scope,
        r#"store.project("orders", 0, |n, r| n + r.data.qty).value"#,
    )?;
    Ok(total)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", total_quantity()?);
    Ok(())
}
