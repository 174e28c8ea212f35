//! Readable, JSON-like text for script values: what the REPL prints for a
//! result, and what embedders (persist's failure messages) show for a value.

use std::fmt::Write;

use rhai::{Array, Blob, Dynamic, ImmutableString, Map};

/// The keys of a log record, in the order they read best.
/// (`id` is there only for records appended with `append_once`).
const RECORD_KEYS: [&str; 6] = ["stream", "seq", "pos", "at", "id", "data"];
const OPTIONAL_KEY: &str = "id";

/// How much of a result the REPL prints (`:set limit N`), so a read of
/// 2,000 records does not flood the terminal. With `Limit(n)`, arrays and
/// maps show their first `n` items, strings their first `20 * n`
/// characters, and nesting goes `n` levels deep; what is cut is counted
/// (`... 1,990 more`). `Limit(0)` shows everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub usize);

impl Limit {
    pub const DEFAULT: Limit = Limit(10);
    pub const NONE: Limit = Limit(0);

    fn items(self) -> usize {
        self.or_all(self.0)
    }

    fn chars(self) -> usize {
        self.or_all(self.0.saturating_mul(20))
    }

    fn depth(self) -> usize {
        self.or_all(self.0)
    }

    fn or_all(self, n: usize) -> usize {
        if self.0 == 0 { usize::MAX } else { n }
    }
}

/// One line of text for a value: strings quoted, maps as `#{k: v}`, arrays
/// as `[a, b]`, blobs by size. Nothing is cut.
pub fn show(d: &Dynamic) -> String {
    let mut w = Writer::new(&|d| d.to_string(), Limit::NONE);
    w.value(d, 0);
    w.out
}

/// What the REPL prints for a result: nothing for `()`, and an array of
/// records (maps with exactly `stream`, `seq`, `at` and `data`) one record a
/// line, so a read of a stream stays legible; cut to `limit`. `other` writes
/// values of the embedder's own types (the REPL asks the engine's
/// `to_string`).
pub fn show_result(
    d: &Dynamic,
    other: &dyn Fn(&Dynamic) -> String,
    limit: Limit,
) -> Option<String> {
    if d.is_shared() {
        return show_result(&d.flatten_clone(), other, limit);
    }
    if d.is_unit() {
        return None;
    }
    let mut w = Writer::new(other, limit);
    if let Some(a) = d.read_lock::<Array>()
        && !a.is_empty()
        && a.iter().all(is_record)
    {
        w.out.push_str("[\n");
        let shown = a.len().min(limit.items());
        for record in &a[..shown] {
            w.out.push_str("  ");
            w.value(record, 1);
            w.out.push_str(",\n");
        }
        if shown < a.len() {
            let _ = writeln!(w.out, "  ... {} more", thousands(a.len() - shown));
        }
        w.out.push(']');
        return Some(w.out);
    }
    w.value(d, 0);
    Some(w.out)
}

/// `1990` as `1,990`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn is_record(d: &Dynamic) -> bool {
    d.read_lock::<Map>().is_some_and(|m| is_record_map(&m))
}

fn is_record_map(m: &Map) -> bool {
    let want = RECORD_KEYS.len() - !m.contains_key(OPTIONAL_KEY) as usize;
    m.len() == want
        && RECORD_KEYS
            .iter()
            .all(|k| *k == OPTIONAL_KEY || m.contains_key(*k))
}

/// Writes values into `out`, cutting them to `limit`.
struct Writer<'a> {
    out: String,
    other: &'a dyn Fn(&Dynamic) -> String,
    limit: Limit,
}

impl<'a> Writer<'a> {
    fn new(other: &'a dyn Fn(&Dynamic) -> String, limit: Limit) -> Self {
        Writer {
            out: String::new(),
            other,
            limit,
        }
    }

    /// `depth` is how many arrays and maps enclose `d`.
    fn value(&mut self, d: &Dynamic, depth: usize) {
        if d.is_shared() {
            return self.value(&d.flatten_clone(), depth);
        }
        if d.is_unit() {
            self.out.push_str("()");
        } else if let Some(s) = d.read_lock::<ImmutableString>() {
            self.string(s.as_str());
        } else if let Ok(f) = d.as_float() {
            let _ = write!(self.out, "{f:?}");
        } else if let Some(b) = d.read_lock::<Blob>() {
            let _ = write!(self.out, "blob({} bytes)", b.len());
        } else if let Some(a) = d.read_lock::<Array>() {
            if depth >= self.limit.depth() && !a.is_empty() {
                let _ = write!(self.out, "[... {}]", counted(a.len(), "item"));
                return;
            }
            self.out.push('[');
            self.items(a.iter(), a.len(), self.limit.items(), |w, item| {
                w.value(item, depth + 1)
            });
            self.out.push(']');
        } else if let Some(m) = d.read_lock::<Map>() {
            if depth >= self.limit.depth() && !m.is_empty() {
                let _ = write!(self.out, "#{{... {}}}", counted(m.len(), "key"));
                return;
            }
            self.map(&m, depth);
        } else if d.is_variant() {
            self.out.push_str(&(self.other)(d));
        } else {
            let _ = write!(self.out, "{d}");
        }
    }

    /// A quoted string, its tail cut past the limit.
    fn string(&mut self, s: &str) {
        let max = self.limit.chars();
        match s.char_indices().nth(max) {
            None => {
                let _ = write!(self.out, "{s:?}");
            }
            Some((cut, _)) => {
                let rest = s[cut..].chars().count();
                let unit = if rest == 1 { "char" } else { "chars" };
                let _ = write!(
                    self.out,
                    "{:?} ... {} more {unit}",
                    &s[..cut],
                    thousands(rest)
                );
            }
        }
    }

    /// Records list their keys in `RECORD_KEYS` order, all of them whatever
    /// the limit; other maps in key order.
    fn map(&mut self, m: &Map, depth: usize) {
        let record = is_record_map(m);
        let entries: Vec<(&str, &Dynamic)> = match record {
            true => RECORD_KEYS
                .iter()
                .filter_map(|k| Some((*k, m.get(*k)?)))
                .collect(),
            false => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        };
        let max = match record {
            true => RECORD_KEYS.len(),
            false => self.limit.items(),
        };
        self.out.push_str("#{");
        self.items(entries.into_iter(), m.len(), max, |w, (k, v)| {
            let _ = write!(w.out, "{k}: ");
            w.value(v, depth + 1);
        });
        self.out.push('}');
    }

    /// The first `max` items, comma-separated, then how many were left.
    fn items<T>(
        &mut self,
        items: impl Iterator<Item = T>,
        len: usize,
        max: usize,
        mut each: impl FnMut(&mut Self, T),
    ) {
        let shown = len.min(max);
        for (i, item) in items.take(shown).enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            each(self, item);
        }
        if shown < len {
            let _ = write!(self.out, ", ... {} more", thousands(len - shown));
        }
    }
}

/// `1 key`, `3 keys`, `1,200 items`.
fn counted(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{} {what}s", thousands(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1990), "1,990");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
