//! persist: an embeddable event-sourced persistence kernel.
//!
//! The kernel (everything but `script`, `runner` and `cli`) is plain Rust:
//! append-only streams and a kv area behind the `Backend` trait, and on top
//! of any backend projections, optimistic concurrency, snapshots and
//! compaction. `script` registers it all in a Rhai engine as `persist`.

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
pub mod pg;
pub mod project;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod tools;
pub mod upcast;
pub mod value;
pub mod view;

pub mod cli;
pub mod repl;
pub mod runner;
pub mod script;

pub use backend::{Appended, Backend, IdEntry};
pub use error::{Error, Result};
pub use source::{Source, category_of};
pub use store::Store;
pub use value::{DataRef, Record, RecordRef, State, Value, owned_step};
