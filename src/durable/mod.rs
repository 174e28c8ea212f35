//! The durable backend (SPEC 3.1, 3.8): every storage operation travels as
//! a request `{"op": "persist/<name>", "args": [...]}` and comes back as a
//! response value, so the whole Store stack (projections, snapshots,
//! compaction) runs unchanged whether storage is in process or remote.
//!
//! - `request`: the wire shapes (`Request`, `Response`, records as maps).
//! - `call`: a request validated into typed arguments; the op table.
//! - `serve`: the server side, one request against any `Backend`.
//! - `client`: `DurableBackend`, a `Backend` that sends requests.
//! - `disk`: `Disk`, storage that outlives the Stores over it.
//! - `migrate`: copying a whole Store into an empty one, seq and `at` kept.

pub mod call;
pub mod client;
pub mod disk;
pub mod migrate;
pub mod request;
pub mod serve;

pub use call::Call;
pub use client::{DurableBackend, Transport, ValueTransport};
pub use disk::{Disk, MockTransport, OwningTransport, durable, mock_durable, mock_durable_owning};
pub use migrate::{MigrateReport, check_empty, migrate};
pub use request::{Request, Response};
pub use serve::{serve, serve_value};
