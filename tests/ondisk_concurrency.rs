//! Several threads on one `DiskLog`: appends get distinct, gap-free seqs,
//! `append_expect` lets exactly one of the writers expecting a seq win, and
//! a reopen returns what the threads were told.

use std::collections::BTreeSet;
use std::sync::Arc;

use persist::ondisk::DiskLog;
use persist::{Appended, Backend};
use serde_json::json;

/// Runs `f(log, t)` on threads `t = 0..n`; returns their results in order.
fn on_threads<R: Send + 'static>(
    log: &Arc<DiskLog>,
    n: u64,
    f: impl Fn(&DiskLog, u64) -> R + Send + Sync + 'static,
) -> Vec<R> {
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|t| {
            let (log, f) = (log.clone(), f.clone());
            std::thread::spawn(move || f(&log, t))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect()
}

#[test]
fn concurrent_appends_get_distinct_gap_free_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(DiskLog::open(dir.path()).expect("open").0);
    let mut told: Vec<(u64, u64, u64)> = on_threads(&log, 4, |log, t| {
        (0..100u64)
            .map(|i| (log.append("shared", json!([t, i])).expect("append"), t, i))
            .collect::<Vec<_>>()
    })
    .concat();
    told.sort_unstable();
    let seqs: Vec<u64> = told.iter().map(|x| x.0).collect();
    assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
    log.close().expect("close");
    let log = DiskLog::open(dir.path()).expect("reopen").0;
    let recs = log.read("shared", 0, 1000).expect("read");
    let got: Vec<(u64, u64, u64)> = recs
        .iter()
        .map(|r| {
            (
                r.seq,
                r.data[0].as_u64().expect("t"),
                r.data[1].as_u64().expect("i"),
            )
        })
        .collect();
    assert_eq!(got, told);
}

#[test]
fn exactly_one_writer_wins_each_expected_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(DiskLog::open(dir.path()).expect("open").0);
    let wins = on_threads(&log, 4, |log, t| {
        let mut wins = Vec::new();
        while wins.len() < 25 {
            let e = log.last_seq("s").expect("last_seq");
            match log.append_expect("s", e, json!(t)).expect("append_expect") {
                Appended::Seq(seq) => {
                    assert_eq!(seq, e + 1);
                    wins.push(seq);
                }
                Appended::Conflict { expected, actual } => {
                    assert_eq!(expected, e);
                    assert!(actual > e, "conflict without a newer write");
                }
            }
        }
        wins
    })
    .concat();
    let distinct: BTreeSet<u64> = wins.iter().copied().collect();
    assert_eq!(distinct.len(), wins.len(), "two writers won the same seq");
    assert_eq!(distinct, (1..=100).collect());
    assert_eq!(log.last_seq("s").expect("last_seq"), 100);
}

/// Compactions run while other threads append, truncate and write kv values;
/// every thread's data is exactly what it expects, also after a reopen.
#[test]
fn compaction_runs_alongside_writers() {
    use persist::ondisk::{Options, verify};
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || Options {
        segment_bytes: 32 << 10,
        compact_dead_bytes: Some(64 << 10),
        ..Options::default()
    };
    let log = Arc::new(DiskLog::open_with(dir.path(), opts()).expect("open").0);
    let compactor = {
        let log = log.clone();
        std::thread::spawn(move || {
            for _ in 0..15 {
                log.compact_segments().expect("compact");
            }
        })
    };
    on_threads(&log, 3, |log, t| {
        let (stream, key) = (format!("w{t}"), format!("k{t}"));
        for i in 1..=400u64 {
            let pad = "p".repeat((i % 300) as usize);
            let seq = log.append(&stream, json!({"i": i, "pad": pad}));
            assert_eq!(seq.expect("append"), i);
            if i % 50 == 0 {
                let dropped = if i == 50 { 40 } else { 50 };
                let n = log.truncate_through(&stream, i - 10).expect("truncate");
                assert_eq!(n, dropped);
            }
            if i % 7 == 0 {
                log.kv_put(&key, json!(i)).expect("put");
            }
            if i % 91 == 0 {
                assert!(log.kv_del(&key).expect("del"));
            }
        }
    });
    compactor.join().expect("compactor");
    let check = |log: &DiskLog| {
        for t in 0..3u64 {
            let recs = log.read(&format!("w{t}"), 0, 1000).expect("read");
            let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
            assert_eq!(seqs, (391..=400).collect::<Vec<_>>());
            assert!(recs.iter().all(|r| r.data["i"] == json!(r.seq)));
            assert_eq!(log.kv_get(&format!("k{t}")).expect("get"), Some(json!(399)));
        }
    };
    check(&log);
    log.close().expect("close");
    assert_eq!(verify(dir.path()).expect("verify").faults, vec![]);
    let log = DiskLog::open_with(dir.path(), opts()).expect("reopen").0;
    check(&log);
    log.compact_segments().expect("compact");
    check(&log);
}
