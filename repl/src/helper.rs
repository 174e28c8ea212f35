//! The rustyline side: Enter continues an incomplete input, Tab completes.

use std::rc::Rc;

use rhai::Engine;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Result};

use crate::complete::Names;
use crate::input::is_incomplete;

pub struct Helper {
    pub engine: Rc<Engine>,
    pub names: Rc<Names>,
}

impl Validator for Helper {
    /// Incomplete only when the input does not compile *and* ends inside
    /// something open: a compiling input always runs, and any other error is
    /// for the evaluation to report.
    fn validate(&self, ctx: &mut ValidationContext) -> Result<ValidationResult> {
        let input = ctx.input();
        let waiting = !input.trim_start().starts_with(':')
            && self.engine.compile(input).is_err()
            && is_incomplete(input);
        Ok(match waiting {
            true => ValidationResult::Incomplete,
            false => ValidationResult::Valid(None),
        })
    }
}

impl Completer for Helper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> Result<(usize, Vec<String>)> {
        Ok(self.names.complete(line, pos))
    }
}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl rustyline::Helper for Helper {}
