//! `persist export` / `persist import`: a store as JSON lines.
//!
//! One object per line, tagged by `type`:
//! `{"type":"stream","stream":s,"last_seq":n}` opens a stream, followed by
//! its kept records oldest first `{"type":"record","stream":s,"seq":n,"at":t,"data":v}`;
//! then `{"type":"kv","key":k,"value":v}` for every kv entry. Import restores
//! exactly (seq, `at` and high-water marks kept), like `migrate`.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::store::{PAGE, Store};
use crate::{Error, Record, Result, Value};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum Line {
    Stream {
        stream: String,
        last_seq: u64,
    },
    Record {
        stream: String,
        seq: u64,
        at: i64,
        data: Value,
    },
    Kv {
        key: String,
        value: Value,
    },
}

/// What an export or import moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Streams moved.
    pub streams: u64,
    /// Records moved.
    pub records: u64,
    /// Kv keys moved.
    pub keys: u64,
}

fn write_line(out: &mut dyn Write, line: &Line) -> Result<()> {
    let text = serde_json::to_string(line).map_err(|e| Error::invalid("export", e.to_string()))?;
    writeln!(out, "{text}").map_err(|e| Error::io("<output>", "write export", e))
}

/// Writes the dump; only `stream` (and no kv) when given. `progress` is
/// called with the running counts every few thousand lines.
pub fn export(
    store: &Store,
    stream: Option<&str>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(Counts),
) -> Result<Counts> {
    let mut counts = Counts::default();
    let streams = match stream {
        Some(s) => {
            if !store.streams()?.iter().any(|x| x == s) {
                return Err(Error::invalid(
                    "export",
                    format!("stream {s:?} does not exist"),
                ));
            }
            vec![s.to_string()]
        }
        None => store.streams()?,
    };
    for name in streams {
        // last_seq first: records appended meanwhile are left out, so the
        // dump is a consistent prefix of the stream.
        let last_seq = store.last_seq(&name)?;
        write_line(
            out,
            &Line::Stream {
                stream: name.clone(),
                last_seq,
            },
        )?;
        counts.streams += 1;
        let mut after = 0;
        loop {
            let page = store.read(&name, after, Some(PAGE))?;
            let done = page.len() < PAGE;
            for r in page {
                if r.seq > last_seq {
                    break;
                }
                after = r.seq;
                write_line(
                    out,
                    &Line::Record {
                        stream: r.stream,
                        seq: r.seq,
                        at: r.at,
                        data: r.data,
                    },
                )?;
                counts.records += 1;
                if counts.records % 10_000 == 0 {
                    progress(counts);
                }
            }
            if done || after >= last_seq {
                break;
            }
        }
    }
    if stream.is_none() {
        for key in store.kv_keys("")? {
            if let Some(value) = store.kv_get(&key)? {
                write_line(out, &Line::Kv { key, value })?;
                counts.keys += 1;
            }
        }
    }
    progress(counts);
    Ok(counts)
}

/// A stream being read from the dump, restored once complete.
struct Pending {
    stream: String,
    last_seq: u64,
    records: Vec<Record>,
}

/// Restores a dump into an empty store. A bad line stops the import with an
/// error naming its line number; nothing from that line on is imported (a
/// stream is restored only once all its lines were read).
pub fn import(
    store: &Store,
    input: &mut dyn BufRead,
    progress: &mut dyn FnMut(Counts),
) -> Result<Counts> {
    crate::durable::check_empty("import", store)?;
    let mut counts = Counts::default();
    let mut pending: Option<Pending> = None;
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let bad = |msg: String| Error::invalid("import", format!("line {n}: {msg}"));
        let text = line.map_err(|e| bad(format!("cannot read: {e}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&text)
            .map_err(|e| Error::invalid("import", format!("line {n}, {}", malformed(&e))))?;
        match parsed {
            Line::Stream { stream, last_seq } => {
                flush(store, pending.take(), &mut counts)?;
                pending = Some(Pending {
                    stream,
                    last_seq,
                    records: Vec::new(),
                });
            }
            Line::Record {
                stream,
                seq,
                at,
                data,
            } => {
                let p = pending
                    .as_mut()
                    .filter(|p| p.stream == stream)
                    .ok_or_else(|| {
                        bad(format!(
                            "record of stream {stream:?} outside its stream section"
                        ))
                    })?;
                p.records.push(Record {
                    stream,
                    seq,
                    at,
                    data,
                });
                if p.records.len() % 10_000 == 0 {
                    progress(Counts {
                        records: counts.records + p.records.len() as u64,
                        ..counts
                    });
                }
            }
            Line::Kv { key, value } => {
                flush(store, pending.take(), &mut counts)?;
                if value.is_null() {
                    return Err(bad(format!("key {key:?} has a null value")));
                }
                store.kv_put(&key, value).map_err(|e| bad(e.to_string()))?;
                counts.keys += 1;
            }
        }
    }
    flush(store, pending.take(), &mut counts)?;
    progress(counts);
    Ok(counts)
}

/// serde's message for a bad line without its own "at line 1 column N"
/// (the dump's line number is the one that helps): `column 58: expected ...`.
fn malformed(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = text
        .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
        .unwrap_or(&text);
    format!("column {}: malformed: {message}", e.column())
}

fn flush(store: &Store, pending: Option<Pending>, counts: &mut Counts) -> Result<()> {
    let Some(p) = pending else { return Ok(()) };
    counts.streams += 1;
    counts.records += p.records.len() as u64;
    store.backend()?.restore(&p.stream, p.last_seq, p.records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Store {
        let s = Store::mem();
        s.append_all("a", (1..=5).map(|i| json!({"n": i})).collect())
            .unwrap();
        s.truncate_through("a", 2).unwrap();
        s.append("b", json!("x")).unwrap();
        s.kv_put("k", json!([1, 2.5])).unwrap();
        s
    }

    fn dump(s: &Store, stream: Option<&str>) -> String {
        let mut out = Vec::new();
        export(s, stream, &mut out, &mut |_| {}).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn export_then_import_round_trips_exactly() {
        let s = sample();
        let text = dump(&s, None);
        let t = Store::mem();
        let counts = import(&t, &mut text.as_bytes(), &mut |_| {}).unwrap();
        assert_eq!(
            counts,
            Counts {
                streams: 2,
                records: 4,
                keys: 1
            }
        );
        assert_eq!(dump(&t, None), text);
        assert_eq!(t.last_seq("a").unwrap(), 5);
        assert_eq!(t.append("a", json!(0)).unwrap(), 6);
    }

    #[test]
    fn a_malformed_line_names_its_number_and_stops_there() {
        let s = sample();
        let text = dump(&s, None);
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(5, "{not json");
        let bad = lines.join("\n");
        let t = Store::mem();
        let err = import(&t, &mut bad.as_bytes(), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 6, column 2: malformed: "), "{err}");
        assert_eq!(err.matches("line").count(), 1, "{err}");
        assert_eq!(t.streams().unwrap(), ["a"]);
        assert_eq!(t.kv_keys("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn import_refuses_a_store_that_is_not_empty() {
        let s = sample();
        let text = dump(&s, None);
        assert!(import(&s, &mut text.as_bytes(), &mut |_| {}).is_err());
    }

    #[test]
    fn export_of_one_stream_has_no_kv() {
        let text = dump(&sample(), Some("b"));
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("\"kv\""));
    }
}
