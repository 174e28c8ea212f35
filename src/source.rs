//! What a fold reads (SPEC 3.12): one stream, one category, or every stream.
//!
//! For a stream a state's `seq` is the record's seq; for a category and for
//! `All` it is the record's global `pos`, so the same "fold what comes after
//! `seq`" rule resumes every kind of source.

use std::fmt;

/// A stream name, `persist::category(name)` or `persist::all()`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// One stream, by name.
    Stream(String),
    /// The streams whose name up to the first `-` is this.
    Category(String),
    /// Every stream, in pos order.
    All,
}

impl Source {
    /// The stream `name`.
    pub fn stream(name: impl Into<String>) -> Self {
        Source::Stream(name.into())
    }

    /// The category `name`.
    pub fn category(name: impl Into<String>) -> Self {
        Source::Category(name.into())
    }

    /// Whether `stream` belongs to this source.
    pub fn contains(&self, stream: &str) -> bool {
        match self {
            Source::Stream(s) => s == stream,
            Source::Category(c) => category_of(stream) == c,
            Source::All => true,
        }
    }

    /// The stream name, for the operations that take only a stream
    /// (`compact` and friends); otherwise an error saying so.
    pub fn as_stream(&self, op: &'static str) -> crate::Result<&str> {
        match self {
            Source::Stream(s) => Ok(s),
            other => Err(crate::Error::invalid(
                op,
                format!("{other} is not a stream: {op} takes only a stream name"),
            )),
        }
    }

    /// The position a record has in this source: its seq in a stream, its
    /// global pos otherwise.
    pub fn position(&self, seq: u64, pos: u64) -> u64 {
        match self {
            Source::Stream(_) => seq,
            _ => pos,
        }
    }

    /// Rejects empty names, naming the op.
    pub fn check(&self, op: &'static str) -> crate::Result<()> {
        match self {
            Source::Stream(s) => crate::value::check_name(op, "stream", s),
            Source::Category(c) => crate::value::check_name(op, "category", c),
            Source::All => Ok(()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stream(s) => write!(f, "stream {s:?}"),
            Source::Category(c) => write!(f, "category {c:?}"),
            Source::All => f.write_str("all()"),
        }
    }
}

impl From<&str> for Source {
    fn from(s: &str) -> Self {
        Source::Stream(s.to_string())
    }
}

impl From<&String> for Source {
    fn from(s: &String) -> Self {
        Source::Stream(s.clone())
    }
}

impl From<&Source> for Source {
    fn from(s: &Source) -> Self {
        s.clone()
    }
}

impl From<String> for Source {
    fn from(s: String) -> Self {
        Source::Stream(s)
    }
}

/// A stream's category: its name up to the first `-` (the whole name when
/// it has none).
pub fn category_of(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_is_the_name_up_to_the_first_dash() {
        assert_eq!(category_of("order-17"), "order");
        assert_eq!(category_of("order-17-b"), "order");
        assert_eq!(category_of("order"), "order");
        assert_eq!(category_of("-x"), "");
        assert!(Source::category("user").contains("user-1"));
        assert!(!Source::category("user").contains("users-1"));
        assert!(Source::All.contains("anything"));
    }

    #[test]
    fn only_a_stream_is_a_stream() {
        assert_eq!(Source::stream("s").as_stream("compact").unwrap(), "s");
        let e = Source::All.as_stream("compact").unwrap_err().to_string();
        assert!(e.contains("all()") && e.contains("compact"), "{e}");
    }
}
