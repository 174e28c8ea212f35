//! An interactive Rhai session over any [`rhai::Engine`], built on
//! rustyline: variables and functions kept across inputs, multi-line input
//! while a bracket or string is open, history in a file, Tab completion of
//! the engine's functions, readable results, and errors that do not end the
//! session.
//!
//! It knows nothing of what the engine registers, so an embedder (persist's
//! `persist repl`) builds its engine and scope and hands them over. The
//! value and error formatting is public so the embedder prints values the
//! same way elsewhere.

mod command;
mod complete;
mod error;
mod helper;
mod input;
mod repl;
mod show;

pub use error::{describe, error_message};
pub use input::is_incomplete;
pub use repl::{Outcome, Repl};
pub use rustyline::error::ReadlineError;
pub use show::{show, show_result};
