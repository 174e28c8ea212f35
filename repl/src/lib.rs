//! An interactive Rhai session over any [`rhai::Engine`], built on
//! rustyline: variables and functions kept across inputs, multi-line input
//! (under a `...>` prompt) while a bracket or string is open, history in a
//! file, Tab completion that knows the type of a variable's value, results
//! cut to a readable size, Ctrl-C that stops a running input, and errors
//! that do not end the session.
//!
//! It knows nothing of what the engine registers, so an embedder (persist's
//! `persist repl`) builds its engine and scope and hands them over. The
//! value and error formatting is public so the embedder prints values the
//! same way elsewhere; without the `editor` feature (default on) that
//! formatting is all the crate builds, and rustyline is left out.

#[cfg(feature = "editor")]
mod command;
#[cfg(feature = "editor")]
mod complete;
mod error;
#[cfg(feature = "editor")]
mod helper;
mod input;
#[cfg(feature = "editor")]
mod interrupt;
#[cfg(feature = "editor")]
mod repl;
mod show;

pub use error::{call_chain, describe, error_message, innermost_position};
pub use input::is_incomplete;
#[cfg(feature = "editor")]
pub use repl::{Outcome, Repl};
#[cfg(feature = "editor")]
pub use rustyline::error::ReadlineError;
pub use show::{Limit, show, show_result, thousands};
