//! Readable, JSON-like text for script values (failure messages, `print`).
//! The formatter lives in the REPL crate so the REPL and the assertions show
//! values alike.

pub use persist_repl::show;
