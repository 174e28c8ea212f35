//! The `Backend` operations over SQL. Each is one prepared statement (or
//! one SQL function call) in one round trip, except `restore`, which is a
//! transaction of its own.

use std::time::Duration;

use postgres::Row;

use crate::backend::{Appended, Backend, IdEntry, check_restore};
use crate::pg::conn::{CONFLICT, ID_ELSEWHERE};
use crate::pg::{Kind, PgBackend};
use crate::value::{DataRef, RecordRef};
use crate::{Error, Record, Result, Value};

/// A u64 as a bigint parameter; values past i64::MAX are refused.
fn big(op: &'static str, what: &str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::invalid(op, format!("{what} {n} is out of range")))
}

/// A limit as a bigint (a limit past i64::MAX means "all").
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn text(v: &Value) -> String {
    // Serialising a `Value` cannot fail: its map keys are strings.
    serde_json::to_string(v).expect("a Value serialises")
}

/// A stored bigint that is a seq, pos or count: never negative.
fn nat(row: &Row, i: usize) -> u64 {
    row.get::<_, i64>(i) as u64
}

/// Columns `seq, pos, at, id, data` from `first` on, handed to `f`.
fn hand_rows<'a>(
    rows: &'a [Row],
    stream_of: impl Fn(&'a Row) -> &'a str,
    first: usize,
    f: &mut dyn FnMut(RecordRef<'_>) -> bool,
) -> usize {
    for row in rows {
        let r = RecordRef {
            stream: stream_of(row),
            seq: nat(row, first),
            pos: nat(row, first + 1),
            at: row.get(first + 2),
            id: row.get(first + 3),
            data: DataRef::Json(row.get::<_, &str>(first + 4).as_bytes()),
        };
        if !f(r) {
            break;
        }
    }
    rows.len()
}

fn records<'a>(
    rows: &'a [Row],
    stream_of: impl Fn(&'a Row) -> &'a str,
    first: usize,
) -> Result<Vec<Record>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut bad = None;
    hand_rows(rows, stream_of, first, &mut |r| match r.to_record() {
        Ok(rec) => {
            out.push(rec);
            true
        }
        Err(e) => {
            bad = Some(e);
            false
        }
    });
    bad.map_or(Ok(out), Err)
}

impl PgBackend {
    fn global_rows(
        &self,
        op: &'static str,
        category: Option<&str>,
        after: u64,
        n: usize,
    ) -> Result<Vec<Row>> {
        let after = big(op, "position", after)?;
        self.with(op, "global log", Kind::Read, |c| match category {
            None => c.client.query(&c.st.read_all, &[&after, &limit(n)]),
            Some(cat) => c
                .client
                .query(&c.st.read_category, &[&cat, &after, &limit(n)]),
        })
    }
}

impl Backend for PgBackend {
    fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64> {
        if events.is_empty() {
            return self.last_seq(stream);
        }
        let texts: Vec<String> = events.iter().map(text).collect();
        let at = self.next_at();
        let what = format!("stream {stream:?}");
        self.with("append", &what, Kind::Write, |c| {
            let row = c
                .client
                .query_one(&c.st.append_all, &[&stream, &at, &texts])?;
            Ok(nat(&row, 0))
        })
    }

    fn append_expect(&self, stream: &str, expected: u64, event: Value) -> Result<Appended> {
        let exp = big("append_expect", "expected seq", expected)?;
        let (at, data) = (self.next_at(), text(&event));
        let what = format!("stream {stream:?}");
        self.with("append_expect", &what, Kind::Write, |c| {
            match c
                .client
                .query_one(&c.st.append_expect, &[&stream, &exp, &at, &data])
            {
                Ok(row) => Ok(Appended::Seq(nat(&row, 0))),
                Err(e) => {
                    // The function raised CONFLICT with the actual seq as its
                    // DETAIL; nothing was appended (the statement rolled back).
                    let actual = e
                        .as_db_error()
                        .filter(|db| db.code().code() == CONFLICT)
                        .and_then(|db| db.detail()?.parse::<u64>().ok());
                    match actual {
                        Some(actual) => Ok(Appended::Conflict { expected, actual }),
                        None => Err(e),
                    }
                }
            }
        })
    }

    fn append_once(&self, stream: &str, id: &str, event: Value) -> Result<u64> {
        let (at, data) = (self.next_at(), text(&event));
        let what = format!("stream {stream:?} id {id:?}");
        let outcome = self.with("append_once", &what, Kind::Write, |c| {
            match c
                .client
                .query_one(&c.st.append_once, &[&stream, &id, &at, &data])
            {
                Ok(row) => Ok(Ok(nat(&row, 0))),
                Err(e) => match e
                    .as_db_error()
                    .filter(|db| db.code().code() == ID_ELSEWHERE)
                {
                    Some(db) => Ok(Err(format!(
                        "id {id:?} was used in stream {:?} (seq {}), not stream {stream:?}",
                        db.hint().unwrap_or("?"),
                        db.detail().unwrap_or("?")
                    ))),
                    None => Err(e),
                },
            }
        })?;
        outcome.map_err(|msg| Error::invalid("append_once", msg))
    }

    fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        let rows = self.stream_rows(stream, after, limit)?;
        records(&rows, |_| stream, 0)
    }

    fn scan(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        // The rows are fetched before `f` runs: no lock is held meanwhile.
        let rows = self.stream_rows(stream, after, limit)?;
        Ok(hand_rows(&rows, |_| stream, 0, f))
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Record>> {
        let rows = self.global_rows("read_all", None, after, limit)?;
        records(&rows, |r| r.get(0), 1)
    }

    fn read_category(&self, category: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        let rows = self.global_rows("read_category", Some(category), after, limit)?;
        records(&rows, |r| r.get(0), 1)
    }

    fn scan_source(
        &self,
        source: &crate::source::Source,
        after: u64,
        limit: usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> Result<usize> {
        use crate::source::Source;
        let rows = match source {
            Source::Stream(s) => return self.scan(s, after, limit, f),
            Source::Category(c) => self.global_rows("read_category", Some(c), after, limit)?,
            Source::All => self.global_rows("read_all", None, after, limit)?,
        };
        Ok(hand_rows(&rows, |r| r.get(0), 1, f))
    }

    fn last_pos(&self) -> Result<u64> {
        self.with("last_pos", "global log", Kind::Read, |c| {
            Ok(nat(&c.client.query_one(&c.st.last_pos, &[])?, 0))
        })
    }

    fn ids(&self, after: &str, n: usize) -> Result<Vec<IdEntry>> {
        self.with("ids", "ids", Kind::Read, |c| {
            let rows = c.client.query(&c.st.ids, &[&after, &limit(n)])?;
            Ok(rows
                .iter()
                .map(|r| IdEntry {
                    id: r.get(0),
                    stream: r.get(1),
                    seq: nat(r, 2),
                })
                .collect())
        })
    }

    fn wait_for(&self, after: u64, timeout: Duration) -> Result<()> {
        crate::pg::notify::wait_for(self, after, timeout)
    }

    fn last_seq(&self, stream: &str) -> Result<u64> {
        let what = format!("stream {stream:?}");
        self.with("last_seq", &what, Kind::Read, |c| {
            let row = c.client.query_opt(&c.st.last_seq, &[&stream])?;
            Ok(row.map_or(0, |r| nat(&r, 0)))
        })
    }

    fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64> {
        let through = i64::try_from(seq).unwrap_or(i64::MAX);
        let what = format!("stream {stream:?}");
        self.with("truncate_through", &what, Kind::Write, |c| {
            // Number what has committed first: a record this process appended
            // has its pos before it is dropped, as on every other backend, so
            // truncation never renumbers the records that stay (SPEC 3.12).
            c.client.execute(&c.st.sequence, &[])?;
            Ok(nat(
                &c.client.query_one(&c.st.truncate, &[&stream, &through])?,
                0,
            ))
        })
    }

    fn streams(&self) -> Result<Vec<String>> {
        self.with("streams", "streams", Kind::Read, |c| {
            let rows = c.client.query(&c.st.streams, &[])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn kv_get(&self, key: &str) -> Result<Option<Value>> {
        let what = format!("key {key:?}");
        let stored: Option<String> = self.with("kv_get", &what, Kind::Read, |c| {
            Ok(c.client.query_opt(&c.st.kv_get, &[&key])?.map(|r| r.get(0)))
        })?;
        stored
            .map(|t| {
                serde_json::from_str(&t).map_err(|e| {
                    Error::invalid("kv_get", format!("{what}: stored value is not JSON: {e}"))
                })
            })
            .transpose()
    }

    fn kv_put(&self, key: &str, value: Value) -> Result<()> {
        let data = text(&value);
        self.with("kv_put", &format!("key {key:?}"), Kind::Write, |c| {
            c.client.execute(&c.st.kv_put, &[&key, &data]).map(drop)
        })
    }

    fn kv_del(&self, key: &str) -> Result<bool> {
        self.with("kv_del", &format!("key {key:?}"), Kind::Write, |c| {
            Ok(c.client.execute(&c.st.kv_del, &[&key])? > 0)
        })
    }

    fn kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.with("kv_keys", &format!("prefix {prefix:?}"), Kind::Read, |c| {
            let rows = c.client.query(&c.st.kv_keys, &[&prefix])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn restore(&self, stream: &str, last_seq: u64, records: Vec<Record>) -> Result<()> {
        check_restore(stream, self.last_seq(stream)?, last_seq, &records)?;
        crate::pg::restore::restore(self, stream, last_seq, records)
    }

    fn restore_global(&self, last_pos: u64, ids: Vec<IdEntry>) -> Result<()> {
        crate::pg::restore::restore_global(self, last_pos, ids)
    }

    fn close(&self) -> Result<()> {
        crate::pg::notify::stop_listening(self);
        *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

impl PgBackend {
    fn stream_rows(&self, stream: &str, after: u64, n: usize) -> Result<Vec<Row>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.with("read", &format!("stream {stream:?}"), Kind::Read, |c| {
            c.client.query(&c.st.read, &[&stream, &after, &limit(n)])
        })
    }
}
