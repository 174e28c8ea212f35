//! The global log's figures (issue 10): folds over all streams and over a
//! category against single-stream folds of the same size, `append_once`
//! against `append`, and the id index's memory.

use std::path::Path;

use persist::ids::IdIndex;
use persist::ondisk::DiskLog;
use persist::{Error, Source, Store};
use serde_json::json;

use crate::baseline::payload;
use crate::{Figure, time};

fn open(dir: &Path) -> Store {
    Store::new(DiskLog::open(dir).expect("open store").0)
}

fn event(i: usize) -> serde_json::Value {
    json!({"amount": i % 100, "pad": payload(i)})
}

/// Sums `amount` over a source with a Rust step; returns (seconds, records).
fn fold(store: &Store, source: impl Into<Source>) -> (f64, u64) {
    let (secs, st) = time(|| {
        store
            .project(source, (0i64, 0u64), |(sum, n), r| {
                Ok::<_, Error>((sum + r.data["amount"].as_i64().unwrap_or(0), n + 1))
            })
            .expect("fold")
    });
    (secs, st.value.1)
}

/// `read_all` fold of `n` records spread over 100 streams vs a fold of one
/// stream holding the same records; `read_category` of a category holding
/// 1% of `n` vs a single stream of that size, in the same store.
pub fn reads(dir: &Path, n: usize) -> Vec<Figure> {
    let spread = open(&dir.join("spread"));
    let single = open(&dir.join("single"));
    for b in 0..n / 1000 {
        let batch: Vec<_> = (0..1000).map(|i| event(b * 1000 + i)).collect();
        // Batches of 100 to rotating streams interleave them in the log.
        for (k, chunk) in batch.chunks(100).enumerate() {
            let stream = format!("s{}-x", (b * 10 + k) % 100);
            spread.append_all(&stream, chunk.to_vec()).expect("append");
        }
        single.append_all("orders", batch).expect("append");
    }
    // Twice, keeping the second: the first warms the page cache for both.
    let _ = (fold(&spread, Source::All), fold(&single, "orders"));
    let ((all_s, all_n), (one_s, one_n)) = (fold(&spread, Source::All), fold(&single, "orders"));
    assert_eq!(
        (all_n, one_n),
        (n as u64, n as u64),
        "folds saw wrong counts"
    );
    spread.close().expect("close");
    single.close().expect("close");

    // 1% of the records in category "rare" (10 streams), the rest in 50
    // bulk streams, and a stream "one" of the rare records' size.
    let store = open(&dir.join("category"));
    let rare = n / 100;
    for b in 0..n / 1000 {
        let batch: Vec<_> = (0..1000).map(|i| event(b * 1000 + i)).collect();
        let stream = match b % 100 {
            0 => format!("rare-{}", b / 100 % 10),
            _ => format!("bulk-{}", b % 50),
        };
        store.append_all(&stream, batch).expect("append");
    }
    for b in 0..rare.div_ceil(1000) {
        let batch: Vec<_> = (0..1000.min(rare - b * 1000)).map(event).collect();
        store.append_all("one", batch).expect("append");
    }
    let _ = (fold(&store, Source::category("rare")), fold(&store, "one"));
    let ((cat_s, cat_n), (one_s2, one_n2)) =
        (fold(&store, Source::category("rare")), fold(&store, "one"));
    assert_eq!(
        (cat_n, one_n2),
        (rare as u64, rare as u64),
        "folds saw wrong counts"
    );
    // The last 100 records of the whole store: the index reads only them.
    // Averaged over many calls: one call is a few hundred microseconds.
    let reps = 200;
    let tail_from = store.last_pos().expect("last_pos") - 100;
    let (tail_s, tails) = time(|| {
        (0..reps)
            .map(|_| store.read_all(tail_from, None).expect("read_all").len())
            .sum::<usize>()
    });
    assert_eq!(tails, 100 * reps);
    let (first_s, _) = time(|| {
        for _ in 0..reps {
            store.read("one", 0, Some(100)).expect("read");
        }
    });
    store.close().expect("close");

    let rate = |secs: f64, count: u64| count as f64 / secs;
    vec![
        Figure::rate(
            &format!("read_all fold, {n} over 100 streams"),
            rate(all_s, all_n),
            "events/s",
            "one stream of the same records",
            rate(one_s, one_n),
            ">= 0.8",
        ),
        Figure::rate(
            &format!("read_category fold, 1% of {n}"),
            rate(cat_s, cat_n),
            "events/s",
            "a single stream of the same size",
            rate(one_s2, one_n2),
            ">= 0.5",
        ),
        Figure {
            figure: format!("read_all of the last 100 of {n}"),
            value: tail_s * 1e6 / reps as f64,
            unit: "us",
            baseline: "read of the first 100 of a stream".into(),
            baseline_value: first_s * 1e6 / reps as f64,
            ratio: first_s / tail_s,
            aim: "report",
        },
    ]
}

/// `append_once` with fresh ids against `append`: durable single appends
/// on disk, and 1,000-event loops on the memory backend (the id index's
/// own cost). The ids are made before each timed loop: a caller has its
/// id already (from the request it is handling), and formatting one costs
/// about as much as a memory append.
pub fn append_once(dir: &Path, singles: usize) -> Vec<Figure> {
    let plain = open(&dir.join("plain"));
    let once = open(&dir.join("once"));
    let (rounds, per_round) = (10, singles.div_ceil(10));
    let (mut plain_s, mut once_s) = (0.0, 0.0);
    for r in 0..rounds {
        plain_s += time(|| {
            for i in 0..per_round {
                plain.append("bench", json!(payload(i))).expect("append");
            }
        })
        .0;
        // The ids are the caller's (a request's), made outside the timing.
        let ids: Vec<_> = (0..per_round).map(|i| format!("r{r}-{i}")).collect();
        once_s += time(|| {
            for (i, id) in ids.iter().enumerate() {
                once.append_once("bench", id, json!(payload(i)))
                    .expect("append_once");
            }
        })
        .0;
    }
    plain.close().expect("close");
    once.close().expect("close");
    let n = (rounds * per_round) as f64;

    let (plain_mem, once_mem) = (Store::mem(), Store::mem());
    let loops = 200;
    let (mut pm, mut om) = (0.0, 0.0);
    for l in 0..loops {
        pm += time(|| {
            for i in 0..1000 {
                plain_mem.append("bench", json!(i)).expect("append");
            }
        })
        .0;
        let ids: Vec<_> = (0..1000).map(|i| format!("l{l}-{i}")).collect();
        om += time(|| {
            for (i, id) in ids.iter().enumerate() {
                once_mem
                    .append_once("bench", id, json!(i))
                    .expect("append_once");
            }
        })
        .0;
    }
    let m = (loops * 1000) as f64;
    vec![
        Figure::rate(
            "append_once, durable singles (open)",
            n / once_s,
            "appends/s",
            "append, same loop",
            n / plain_s,
            ">= 0.9",
        ),
        Figure::rate(
            "append_once, 1,000-event loops (mem)",
            m / om,
            "appends/s",
            "append, same loops",
            m / pm,
            ">= 0.9",
        ),
    ]
}

/// Heap bytes of the id index per id, for 1,000,000 ids shaped like
/// payment ids (`pay-00000123-a`, 14 bytes).
pub fn id_memory() -> Vec<Figure> {
    let n = 1_000_000u64;
    let mut ix = IdIndex::default();
    for i in 0..n {
        ix.insert(&format!("pay-{i:08}-a"), (i % 1000) as u32, i);
    }
    let per_id = ix.heap_bytes() as f64 / n as f64;
    vec![Figure {
        figure: "id index, 1,000,000 ids of 14 bytes".into(),
        value: per_id,
        unit: "bytes/id",
        baseline: "the id bytes alone".into(),
        baseline_value: 14.0,
        ratio: 14.0 / per_id,
        aim: "report",
    }]
}
