//! The rustyline side: Tab completes. (Whether Enter ends an input is the
//! session's call: it reads continuation lines under their own prompt.)

use std::rc::Rc;

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Result};

use crate::complete::Names;

pub struct Helper {
    pub names: Rc<Names>,
}

impl Completer for Helper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> Result<(usize, Vec<String>)> {
        Ok(self.names.complete(line, pos))
    }
}

impl Validator for Helper {}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl rustyline::Helper for Helper {}
