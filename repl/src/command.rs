//! The REPL's own commands: inputs starting with `:`.

/// The command names, for `:help` and Tab completion.
pub const COMMANDS: &[&str] = &[":help", ":load", ":quit"];

/// What `:help` prints (after the embedder's own help text, if any).
pub const HELP: &str = "\
Type a Rhai expression or statement and press Enter; the result is printed.
An open bracket, brace, parenthesis or string continues the input on the
next line. Variables and functions stay defined for the rest of the session.

  :help        this text
  :load FILE   run FILE in the session, keeping its functions and variables
  :quit        leave (Ctrl-D too)

Tab completes functions (module::name too), methods after a `.` and
variables; Up and Down recall earlier inputs; Ctrl-C cancels the input.";

/// A parsed `:` command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Help,
    Load(&'a str),
    Quit,
}

/// Parses the text after the leading `:`.
pub fn parse(text: &str) -> Result<Command<'_>, String> {
    let (name, arg) = match text.trim().split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (text.trim(), ""),
    };
    match (name, arg) {
        ("help" | "h", "") => Ok(Command::Help),
        ("quit" | "q" | "exit", "") => Ok(Command::Quit),
        ("load" | "l", "") => Err(":load needs a file: :load FILE".into()),
        ("load" | "l", file) => Ok(Command::Load(file)),
        ("help" | "h" | "quit" | "q" | "exit", _) => Err(format!(":{name} takes no argument")),
        _ => Err(format!(
            "unknown command :{name} (commands: {})",
            COMMANDS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{Command, parse};

    #[test]
    fn commands_parse() {
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse(" quit "), Ok(Command::Quit));
        assert_eq!(parse("load  a b.rhai "), Ok(Command::Load("a b.rhai")));
        assert!(parse("load").unwrap_err().contains("needs a file"));
        assert!(parse("quit now").unwrap_err().contains("no argument"));
        assert!(parse("frobnicate").unwrap_err().contains(":load"));
    }
}
