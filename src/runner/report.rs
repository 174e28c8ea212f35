//! How results are written: the terminal lines of SPEC 4, one JSON object
//! per test (`--format json`), and JUnit XML (`--junit PATH`) in the shape
//! GitLab, Jenkins and GitHub's test reporters read.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use super::{Outcome, Summary};

/// How the run is printed on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One line a test, the failures, `N passed, N failed`.
    #[default]
    Text,
    /// One JSON object a line: each test, then the summary.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            _ => Err(format!("unknown format {s:?} (expected text or json)")),
        }
    }
}

/// The line (or object) for one finished test.
pub fn test(out: &mut dyn Write, format: Format, verbose: bool, o: &Outcome) {
    let _ = match format {
        Format::Text => {
            let status = if o.failure.is_some() { "FAILED" } else { "ok" };
            let time = if verbose {
                format!(" ({})", seconds(o.time))
            } else {
                String::new()
            };
            writeln!(out, "test {} ... {status}{time}", o.name())
        }
        Format::Json => {
            let mut v = json!({
                "type": "test",
                "name": o.name(),
                "file": o.file,
                "function": o.function,
                "status": if o.failure.is_some() { "failed" } else { "ok" },
                "time": o.time.as_secs_f64(),
            });
            if let Some(f) = &o.failure {
                v["message"] = json!(f.message);
                v["location"] = json!(f.location);
            }
            writeln!(out, "{v}")
        }
    };
    let _ = out.flush();
}

/// The failures, any note (an interruption, a filter that matched
/// nothing) and the closing line `N passed, N failed`, alone on its line.
pub fn summary(out: &mut dyn Write, format: Format, s: &Summary) {
    let failed = s.failures.len();
    let _ = match format {
        Format::Text => {
            if !s.failures.is_empty() {
                let _ = writeln!(out, "\nfailures:");
                for f in &s.failures {
                    let _ = writeln!(
                        out,
                        "\n---- {} ----\n{}\n  at {}",
                        f.name, f.message, f.location
                    );
                }
                let _ = writeln!(out);
            }
            for note in &s.notes {
                let _ = writeln!(out, "{note}");
            }
            writeln!(out, "{} passed, {failed} failed", s.passed)
        }
        Format::Json => writeln!(
            out,
            "{}",
            json!({
                "type": "summary",
                "passed": s.passed,
                "failed": failed,
                "interrupted": s.interrupted,
                "time": s.time.as_secs_f64(),
                "notes": s.notes,
            })
        ),
    };
    let _ = out.flush();
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// The run as JUnit XML: a `testsuite` per file, a `testcase` per test (a
/// file that does not parse is one failed testcase named `(parse)`), with
/// `classname` the file's path as dotted names, `file` the path itself,
/// `time` in seconds and each failure's message.
pub fn junit(s: &Summary) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x += &format!(
        "<testsuites name=\"persist\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">\n",
        s.outcomes.len(),
        s.failures.len(),
        s.time.as_secs_f64()
    );
    let mut rest = s.outcomes.as_slice();
    while let Some(first) = rest.first() {
        let n = rest.iter().take_while(|o| o.file == first.file).count();
        let (suite, tail) = rest.split_at(n);
        rest = tail;
        let failures = suite.iter().filter(|o| o.failure.is_some()).count();
        let time: Duration = suite.iter().map(|o| o.time).sum();
        x += &format!(
            "  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\">\n",
            escape(&first.file),
            time.as_secs_f64()
        );
        for o in suite {
            x += &format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\"",
                escape(o.function.as_deref().unwrap_or("(parse)")),
                escape(&classname(&o.file)),
                escape(&o.file),
                o.time.as_secs_f64()
            );
            match &o.failure {
                None => x += "/>\n",
                Some(f) => {
                    x += &format!(
                        ">\n      <failure message=\"{}\" type=\"failure\">{}\n  at {}</failure>\n    </testcase>\n",
                        escape(&f.message),
                        escape(&f.message),
                        escape(&f.location)
                    );
                }
            }
        }
        x += "  </testsuite>\n";
    }
    x += "</testsuites>\n";
    x
}

/// `scripts/conformance/kv.rhai` -> `scripts.conformance.kv`: reporters
/// that group by package (Jenkins) split on dots.
fn classname(file: &str) -> String {
    let path = file.strip_suffix(".rhai").unwrap_or(file);
    let path = path.trim_start_matches("./");
    path.replace(['/', '\\'], ".")
}

/// Text safe in XML 1.0 content and attributes: markup characters escaped,
/// line breaks and tabs kept as character references (attributes would
/// otherwise fold them to spaces), other characters XML cannot hold
/// (control characters, U+FFFE, U+FFFF) replaced with U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&apos;",
            '\n' => out += "&#10;",
            '\r' => out += "&#13;",
            '\t' => out += "&#9;",
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_xml_well_formed() {
        assert_eq!(
            escape("a<b>&\"c'\n\t\u{1}\u{FFFF}é"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;&#9;\u{FFFD}\u{FFFD}é"
        );
    }

    #[test]
    fn classnames_are_dotted_paths() {
        assert_eq!(
            classname("./scripts/conformance/kv.rhai"),
            "scripts.conformance.kv"
        );
        assert_eq!(classname("a.rhai"), "a");
    }
}
