//! The REPL's own commands: inputs starting with `:`.

/// The command names, for `:help` and Tab completion.
pub const COMMANDS: &[&str] = &[":doc", ":help", ":load", ":quit", ":set"];

/// What `:help` prints (after the embedder's own help text, if any).
pub const HELP: &str = "\
Type a Rhai expression or statement and press Enter; the result is printed.
An open bracket, brace, parenthesis or string continues the input on the
next line (the prompt turns to `...>`). Variables and functions stay
defined for the rest of the session.

  :help         this text
  :doc NAME     the reference of function NAME (when the embedder gives one)
  :load FILE    run FILE in the session, keeping its functions and variables
  :set limit N  print the first N items of arrays and maps, 20*N characters
                of strings, N levels deep (default 10; 0 prints everything)
  :set          the current settings
  :quit         leave (Ctrl-D too)

Tab completes functions (module::name too), variables, and after `name.`
the methods of that value's type; Up and Down recall earlier inputs.
Ctrl-C drops the input being typed, or stops the one running (the session
and its variables stay).";

/// A parsed `:` command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `:doc NAME`: a function's reference.
    Doc(&'a str),
    Help,
    Load(&'a str),
    Quit,
    /// `:set` alone: show the settings.
    Settings,
    /// `:set limit N`.
    Limit(usize),
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
        ("doc", "") => Err(":doc needs a function name: :doc NAME".into()),
        ("doc", name) => Ok(Command::Doc(name)),
        ("load" | "l", "") => Err(":load needs a file: :load FILE".into()),
        ("load" | "l", file) => Ok(Command::Load(file)),
        ("set", "") => Ok(Command::Settings),
        ("set", setting) => parse_setting(setting),
        ("help" | "h" | "quit" | "q" | "exit", _) => Err(format!(":{name} takes no argument")),
        _ => Err(format!(
            "unknown command :{name} (commands: {})",
            COMMANDS.join(", ")
        )),
    }
}

/// `limit N`, the only setting so far.
fn parse_setting(text: &str) -> Result<Command<'_>, String> {
    let usage = ":set limit N (N items shown; 0 for all)";
    match text.split_whitespace().collect::<Vec<_>>()[..] {
        ["limit", n] => n
            .parse()
            .map(Command::Limit)
            .map_err(|_| format!("{n:?} is not a count: {usage}")),
        _ => Err(format!("unknown setting {text:?}: {usage}")),
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
        assert_eq!(parse("set limit 25"), Ok(Command::Limit(25)));
        assert_eq!(parse("set"), Ok(Command::Settings));
        assert_eq!(parse("doc  append "), Ok(Command::Doc("append")));
        assert!(parse("doc").unwrap_err().contains(":doc NAME"));
        assert!(parse("set limit lots").unwrap_err().contains("not a count"));
        assert!(
            parse("set colour on")
                .unwrap_err()
                .contains("unknown setting")
        );
    }
}
