//! persist: an embeddable event-sourced persistence kernel.
//!
//! The kernel (everything but `script`, `runner` and `cli`) is plain Rust:
//! append-only streams and a kv area behind the `Backend` trait, and on top
//! of any backend projections, optimistic concurrency, snapshots and
//! compaction. `script` registers it all in a Rhai engine as `persist`.
//!
//! # Quick start
//!
//! ```
//! use persist::{Appended, Store};
//! use serde_json::json;
//!
//! # fn main() -> persist::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! // A directory holds the on-disk log; it is created if missing.
//! let store = Store::open(dir.path())?;
//! store.append("orders", json!({"sku": "a1", "qty": 2}))?;
//! store.append("orders", json!({"sku": "b7", "qty": 1}))?;
//!
//! // A projection is a fold over a stream; `seq` says how far it got.
//! let items = store.project("orders", 0, |n, r| {
//!     Ok::<_, persist::Error>(n + r.data["qty"].as_i64().unwrap_or(0))
//! })?;
//! assert_eq!((items.value, items.seq), (3, 2));
//!
//! // Optimistic concurrency: append only if nobody appended since seq 2.
//! let outcome = store.append_expect("orders", 2, json!({"sku": "c3", "qty": 5}))?;
//! assert_eq!(outcome, Appended::Seq(3));
//! # Ok(()) }
//! ```
//!
//! `Store` is `Send + Sync`: share one behind an `Arc` across a service's
//! threads. `Store::builder()` sets the on-disk log's options.

#![warn(missing_docs)]

pub mod backend;
pub mod blob;
pub mod compaction;
pub mod concurrency;
pub mod dump;
pub mod durable;
pub mod error;
pub mod fingerprint;
pub mod global;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod mem;
pub mod ondisk;
pub mod open;
pub mod pg;
pub mod project;
pub mod snapshot;
pub mod source;
pub mod store;
#[doc(hidden)]
pub mod tools;
pub mod typed;
pub mod upcast;
pub mod value;
pub mod view;

#[cfg(test)]
mod test_json;

// The `persist` binary's parts, behind the default `cli` feature: an
// embedder builds without them (and without clap, ctrlc, walkdir and
// rustyline).
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod repl;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod runner;
pub mod script;

pub use backend::{Appended, Backend, IdEntry};
pub use error::{Error, Result};
pub use open::Builder;
pub use source::{Source, category_of};
pub use store::Store;
pub use typed::Typed;
pub use value::{DataRef, Record, RecordRef, State, Value, owned_step};
