//! The PostgreSQL figures (issue 11): each against raw SQL through the same
//! crate, connection settings and server, measured in the same run. The
//! raw baseline writes the same rows (stream, seq, event text) into a bare
//! table keyed by (stream, seq), the least any event table holds. Runs
//! on the server in `PERSIST_PG_URL` (default `persist::pg::DEFAULT_TEST_URL`),
//! in schemas of its own that it drops after.

use std::path::Path;
use std::sync::Barrier;

use persist::pg::{PgBackend, PgUrl};
use persist::source::Source;
use persist::value::DataRef;
use persist::{Backend, Store};
use serde_json::{Value, json};

use crate::baseline::payload;
use crate::{Figure, time};

/// A fresh persist store plus a raw table in the same schema.
struct Bench {
    url: PgUrl,
    store: Store,
}

impl Bench {
    fn new() -> Bench {
        let backend = persist::pg::fresh(&persist::pg::test_url()).expect("pg store");
        let url = backend.url().clone();
        let mut raw = persist::pg::client(&url).expect("raw client");
        raw.batch_execute(
            "CREATE TABLE bench_raw (stream text NOT NULL, seq bigint NOT NULL, data text NOT NULL,
                 PRIMARY KEY (stream, seq))",
        )
        .expect("raw table");
        Bench {
            url,
            store: Store::new(backend),
        }
    }

    fn raw(&self) -> postgres::Client {
        persist::pg::client(&self.url).expect("raw client")
    }

    fn open(&self) -> PgBackend {
        PgBackend::open_url(self.url.clone()).expect("open")
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.store.close();
        let _ = persist::pg::drop_schema(&self.url);
    }
}

fn event(i: usize) -> Value {
    json!({"amount": i % 100, "pad": payload(i)})
}

/// Raw autocommit INSERTs of single rows, seqs from `first`; seconds for
/// `n`.
fn raw_singles(raw: &mut postgres::Client, stream: &str, first: i64, n: usize) -> f64 {
    let st = raw
        .prepare("INSERT INTO bench_raw VALUES ($1, $2, $3)")
        .expect("prepare");
    time(|| {
        for i in 0..n {
            raw.execute(&st, &[&stream, &(first + i as i64), &event(i).to_string()])
                .expect("insert");
        }
    })
    .0
}

pub fn figures(singles: usize, batches: usize) -> Vec<Figure> {
    let b = Bench::new();
    let mut raw = b.raw();
    let mut out = Vec::new();

    // Single appends, interleaved in rounds so drift hits both alike.
    let (rounds, per) = (10, singles.div_ceil(10));
    let (mut raw_s, mut ours_s) = (0.0, 0.0);
    for round in 0..rounds {
        raw_s += raw_singles(&mut raw, "single", (round * per) as i64, per);
        ours_s += time(|| {
            for i in 0..per {
                b.store.append("single", event(i)).expect("append");
            }
        })
        .0;
    }
    let n = (rounds * per) as f64;
    out.push(Figure::rate(
        "pg: single appends",
        n / ours_s,
        "appends/s",
        "raw autocommit INSERT loop",
        n / raw_s,
        ">= 0.7",
    ));

    // 1,000-event batches vs one multi-row INSERT per transaction.
    let batch: Vec<Value> = (0..1000).map(event).collect();
    let texts: Vec<String> = batch.iter().map(Value::to_string).collect();
    let insert = raw
        .prepare(
            "INSERT INTO bench_raw SELECT $1, $2 + o, d FROM unnest($3::text[]) WITH ORDINALITY AS u(d, o)",
        )
        .expect("prepare");
    let (mut raw_s, mut ours_s) = (0.0, 0.0);
    for k in 0..batches {
        let first = (k * 1000) as i64;
        raw_s += time(|| {
            raw.execute(&insert, &[&"batch", &first, &texts])
                .expect("insert")
        })
        .0;
        let events = batch.clone();
        ours_s += time(|| b.store.append_all("batch", events).expect("append_all")).0;
    }
    let n = (batches * 1000) as f64;
    out.push(Figure::rate(
        "pg: append_all, 1,000-event batches",
        n / ours_s,
        "events/s",
        "the rows in one raw multi-row INSERT",
        n / raw_s,
        ">= 0.7",
    ));

    // Concurrent writers, each on its own connection and stream.
    let per_writer = singles / 2;
    let one = writers(&b, 1, per_writer, false);
    let ours8 = writers(&b, 8, per_writer, false);
    let raw8 = writers(&b, 8, per_writer, true);
    out.push(Figure::rate(
        "pg: 8 writers on 8 streams",
        ours8,
        "appends/s",
        "8 raw autocommit INSERT clients",
        raw8,
        ">= 0.6",
    ));
    out.push(Figure::rate(
        "pg: 8 writers on 8 streams",
        ours8,
        "appends/s",
        "1 persist writer",
        one,
        "report",
    ));
    out
}

/// Appends per second of `threads` writers, each with its own connection:
/// persist stores, or raw INSERT clients.
fn writers(b: &Bench, threads: usize, per: usize, raw: bool) -> f64 {
    let barrier = Barrier::new(threads + 1);
    let secs = std::thread::scope(|scope| {
        for t in 0..threads {
            let barrier = &barrier;
            let stream = format!("w{}-{t}", if raw { "raw" } else { "" });
            if raw {
                let mut client = b.raw();
                scope.spawn(move || {
                    barrier.wait();
                    raw_singles(&mut client, &stream, 0, per);
                    barrier.wait();
                });
            } else {
                let store = b.open();
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..per {
                        store.append(&stream, event(i)).expect("append");
                    }
                    barrier.wait();
                });
            }
        }
        barrier.wait();
        let (secs, ()) = time(|| {
            barrier.wait();
        });
        secs
    });
    (threads * per) as f64 / secs
}

/// `read_all` fold of `n` records (summing `amount`) on PostgreSQL against
/// the same fold over the on-disk store in `disk`.
pub fn fold(disk: &Path, n: usize) -> Vec<Figure> {
    let b = Bench::new();
    let batch: Vec<Value> = (0..1000).map(event).collect();
    for k in 0..n / 1000 {
        b.store
            .append_all(&format!("orders-{}", k % 8), batch.clone())
            .expect("append_all");
    }
    // The first read numbers every record (the sequencer's one-off work);
    // the fold figure is the steady state after it.
    let (seq_s, _) = time(|| b.store.backend().unwrap().last_pos().expect("last_pos"));
    eprintln!("pg: sequencing {n} records after the load took {seq_s:.1} s");
    let expected: i64 = (0..n as i64).map(|i| (i % 1000) % 100).sum();
    let (pg_s, total) = time(|| sum_all(b.store.backend().unwrap()));
    assert_eq!(total, expected, "pg fold gave a wrong total");
    let store = Store::new(persist::ondisk::DiskLog::open(disk).expect("disk").0);
    for k in 0..n / 1000 {
        store
            .append_all(&format!("orders-{}", k % 8), batch.clone())
            .expect("append_all");
    }
    let (disk_s, total) = time(|| sum_all(store.backend().unwrap()));
    assert_eq!(total, expected, "disk fold gave a wrong total");
    vec![Figure::rate(
        "pg: read_all fold of all records",
        n as f64 / pg_s,
        "records/s",
        "the same fold on disk",
        n as f64 / disk_s,
        "report",
    )]
}

/// Sums `data.amount` over every record in pos order, page by page.
fn sum_all(b: &dyn Backend) -> i64 {
    let (mut after, mut total) = (0u64, 0i64);
    loop {
        let mut last = None;
        let got = b
            .scan_source(&Source::All, after, 1024, &mut |r| {
                let amount = match r.data {
                    DataRef::Value(v) => v["amount"].as_i64(),
                    DataRef::Foreign(d) => persist::upcast::foreign_value(d, &r)
                        .ok()
                        .and_then(|v| v["amount"].as_i64()),
                    DataRef::Json(bytes) => serde_json::from_slice::<Value>(bytes)
                        .ok()
                        .and_then(|v| v["amount"].as_i64()),
                };
                total += amount.expect("amount");
                last = Some(r.pos);
                true
            })
            .expect("scan");
        match last {
            Some(p) if got == 1024 => after = p,
            _ => return total,
        }
    }
}
