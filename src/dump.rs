//! `persist export` / `persist import`: a store as JSON lines.
//!
//! One object per line, tagged by `type`:
//! `{"type":"stream","stream":s,"last_seq":n}` opens a stream, followed by
//! its kept records oldest first
//! `{"type":"record","stream":s,"seq":n,"pos":p,"at":t,"data":v}` (plus
//! `"id":i` for a record appended with `append_once`); then
//! `{"type":"kv","key":k,"value":v}` for every kv entry; then
//! `{"type":"id","id":i,"stream":s,"seq":n}` for every used event id and
//! last `{"type":"global","last_pos":p}`. Import restores exactly (seq,
//! pos, `at`, ids and high-water marks kept), like `migrate`.
//!
//! Dumps written before positions existed have no `pos`, `id` or global
//! lines and still import: a record without `pos` gets the one after the
//! highest pos read so far, so an old dump's records are numbered in dump
//! order (stream by stream).

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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pos: Option<u64>,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        data: Value,
    },
    Kv {
        key: String,
        value: Value,
    },
    Id {
        id: String,
        stream: String,
        seq: u64,
    },
    Global {
        last_pos: u64,
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
            // The backend's records: stored events, never upcast ones.
            let page = store.backend()?.read(&name, after, PAGE)?;
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
                        pos: Some(r.pos),
                        at: r.at,
                        id: r.id,
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
        // Read after the records: every pos written is at most this.
        let last_pos = store.last_pos()?;
        let b = store.backend()?;
        let mut after = String::new();
        loop {
            let page = b.ids(&after, PAGE)?;
            for e in &page {
                let line = Line::Id {
                    id: e.id.clone(),
                    stream: e.stream.clone(),
                    seq: e.seq,
                };
                write_line(out, &line)?;
            }
            match page.last() {
                Some(e) if page.len() == PAGE => after = e.id.clone(),
                _ => break,
            }
        }
        // An empty store's dump stays empty.
        if last_pos > 0 {
            write_line(out, &Line::Global { last_pos })?;
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
    let mut ids = Vec::new();
    let (mut last_pos, mut max_pos) = (0, 0);
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
                pos,
                at,
                id,
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
                // An old dump's record: numbered after what was read.
                let pos = pos.unwrap_or(max_pos + 1);
                max_pos = max_pos.max(pos);
                p.records.push(Record {
                    stream,
                    seq,
                    pos,
                    at,
                    id,
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
            Line::Id { id, stream, seq } => {
                flush(store, pending.take(), &mut counts)?;
                ids.push(crate::IdEntry { id, stream, seq });
            }
            Line::Global { last_pos: p } => {
                flush(store, pending.take(), &mut counts)?;
                last_pos = p;
            }
        }
    }
    flush(store, pending.take(), &mut counts)?;
    store
        .backend()?
        .restore_global(last_pos.max(max_pos), ids)?;
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
    store.restore(&p.stream, p.last_seq, p.records)
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
        s.append_once("b", "k", json!("y")).unwrap();
        s.truncate_through("b", 2).unwrap();
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
                records: 3,
                keys: 1
            }
        );
        assert_eq!(dump(&t, None), text);
        assert_eq!(t.last_seq("a").unwrap(), 5);
        assert_eq!(t.last_pos().unwrap(), 7);
        assert_eq!(t.append_once("b", "k", json!(0)).unwrap(), 2);
        assert_eq!(t.append("a", json!(0)).unwrap(), 6);
        assert_eq!(t.read("a", 5, None).unwrap()[0].pos, 8);
    }

    #[test]
    fn a_dump_without_positions_numbers_records_in_dump_order() {
        let old = concat!(
            r#"{"type":"stream","stream":"b","last_seq":2}"#,
            "\n",
            r#"{"type":"record","stream":"b","seq":2,"at":5,"data":1}"#,
            "\n",
            r#"{"type":"stream","stream":"a","last_seq":1}"#,
            "\n",
            r#"{"type":"record","stream":"a","seq":1,"at":6,"data":2}"#,
            "\n",
        );
        let t = Store::mem();
        import(&t, &mut old.as_bytes(), &mut |_| {}).unwrap();
        let all = t.read_all(0, None).unwrap();
        let got: Vec<_> = all.iter().map(|r| (r.stream.as_str(), r.pos)).collect();
        assert_eq!(got, [("b", 1), ("a", 2)]);
        assert_eq!(t.last_pos().unwrap(), 2);
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
        let text = dump(&sample(), Some("a"));
        assert_eq!(text.lines().count(), 4);
        assert!(!text.contains("\"kv\""));
    }
}
