//! One `Store` shared by 8 threads (a threaded host): appends, folds and
//! `append_expect` interleave on every backend, and nothing is lost,
//! duplicated or folded out of order.

use std::sync::Arc;
use std::thread;

use persist::durable::{Disk, mock_durable};
use persist::ondisk::DiskLog;
use persist::{Appended, Record, Result, State, Store};
use serde_json::json;

const THREADS: u64 = 8;
const ROUNDS: u64 = 40;

fn assert_shareable<T: Send + Sync>() {}

#[test]
fn store_is_send_and_sync() {
    assert_shareable::<Store>();
    assert_shareable::<Arc<Store>>();
}

/// `(count, sum of seqs)`: every record exactly once, in seq order.
fn count_in_order(acc: (u64, u64), r: Record) -> Result<(u64, u64)> {
    assert_eq!(r.seq, acc.0 + 1, "records fold in seq order, none skipped");
    Ok((acc.0 + 1, acc.1 + r.seq))
}

/// Thread `t`: appends to its own stream and the shared one, folds the
/// shared stream, and takes one turn on the counter with `append_expect`
/// (retrying on conflict) each round.
fn worker(store: &Store, t: u64) {
    for i in 0..ROUNDS {
        store.append(&format!("own/{t}"), json!(i)).unwrap();
        store
            .append_all("shared", vec![json!({"t": t}), json!({"t": t})])
            .unwrap();
        let State { value, seq } = store.project("shared", (0, 0), count_in_order).unwrap();
        assert_eq!(value.0, seq);
        assert!(
            seq >= 2 * (i + 1),
            "a fold sees at least this thread's appends"
        );
        loop {
            let last = store.last_seq("counter").unwrap();
            match store
                .append_expect("counter", last, json!(last + 1))
                .unwrap()
            {
                Appended::Seq(seq) => {
                    assert_eq!(seq, last + 1);
                    break;
                }
                Appended::Conflict { expected, actual } => {
                    assert_eq!(expected, last);
                    assert!(actual > last, "a conflict means someone got ahead");
                }
            }
        }
    }
}

fn hammer(store: Store) {
    let store = Arc::new(store);
    thread::scope(|s| {
        for t in 0..THREADS {
            let store = store.clone();
            s.spawn(move || worker(&store, t));
        }
    });
    let total = THREADS * ROUNDS;
    for t in 0..THREADS {
        let own = store.read(&format!("own/{t}"), 0, None).unwrap();
        let data: Vec<_> = own.iter().map(|r| r.data.clone()).collect();
        assert_eq!(data, (0..ROUNDS).map(|i| json!(i)).collect::<Vec<_>>());
    }
    let shared = store.project("shared", (0, 0), count_in_order).unwrap();
    assert_eq!(shared.seq, 2 * total);
    // Each append_all kept its two events together.
    let recs = store.read("shared", 0, None).unwrap();
    for pair in recs.chunks(2) {
        assert_eq!(pair[0].data, pair[1].data, "a batch was interleaved");
    }
    // The counter holds 1, 2, ..., total: every expectation won exactly once.
    let counter = store.read("counter", 0, None).unwrap();
    assert_eq!(counter.len() as u64, total);
    for r in &counter {
        assert_eq!(r.data, json!(r.seq));
    }
    store.close().unwrap();
}

#[test]
fn eight_threads_on_the_memory_backend() {
    hammer(Store::mem());
}

#[test]
fn eight_threads_on_the_disk_backend() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = DiskLog::open(dir.path()).unwrap();
    hammer(Store::new(log));
}

#[test]
fn eight_threads_on_the_durable_backend() {
    hammer(mock_durable(&Disk::mem()));
}
