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
    assert_eq!(seq_writer_index(&recs), told);
}

/// (seq, writer, index) of records whose data is `[writer, index]`.
fn seq_writer_index(recs: &[persist::Record]) -> Vec<(u64, u64, u64)> {
    let at = |r: &persist::Record, i: usize| r.data[i].as_u64().expect("[t, i]");
    recs.iter().map(|r| (r.seq, at(r, 0), at(r, 1))).collect()
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

/// 8 threads append to one shared stream and each to its own; every
/// append they were told succeeded is there after a reopen (without a
/// clean close), at the seq they were told, in seq and pos order.
#[test]
fn eight_writers_acknowledged_appends_survive_reopen_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(DiskLog::open(dir.path()).expect("open").0);
    let mut told: Vec<(u64, u64, u64)> = on_threads(&log, 8, |log, t| {
        (0..60u64)
            .map(|i| {
                let own = log.append(&format!("w{t}"), json!(i)).expect("append own");
                assert_eq!(own, i + 1, "writer {t}'s own stream skipped a seq");
                (log.append("shared", json!([t, i])).expect("append"), t, i)
            })
            .collect::<Vec<_>>()
    })
    .concat();
    drop(Arc::try_unwrap(log).ok().expect("threads are done"));
    told.sort_unstable();
    let log = DiskLog::open(dir.path()).expect("reopen").0;
    let recs = log.read("shared", 0, 1000).expect("read");
    let got = seq_writer_index(&recs);
    assert_eq!(got, told);
    assert!(
        recs.windows(2).all(|w| w[0].pos < w[1].pos),
        "pos order is not seq order"
    );
    for t in 0..8 {
        let own = log.read(&format!("w{t}"), 0, 1000).expect("read own");
        let data: Vec<u64> = own.iter().map(|r| r.data.as_u64().expect("i")).collect();
        assert_eq!(data, (0..60).collect::<Vec<_>>(), "writer {t}");
    }
    // Each writer's own appends also come back in the order it made them.
    for t in 0..8u64 {
        let mine: Vec<u64> = got.iter().filter(|x| x.1 == t).map(|x| x.2).collect();
        assert_eq!(
            mine,
            (0..60).collect::<Vec<_>>(),
            "writer {t} in the shared stream"
        );
    }
}

/// A fault injected into a group commit's shared fsync fails every writer
/// whose batch that fsync was to acknowledge (rule 7), none of their
/// batches survives a reopen, and later calls fail as poisoned.
#[test]
fn a_failed_shared_fsync_fails_every_writer_of_its_group() {
    use persist::Error;
    use persist::ondisk::{IoEvent, IoPoint, Options};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let armed = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let group = Arc::new(AtomicUsize::new(0));
    let (a, w, g) = (armed.clone(), writes.clone(), group.clone());
    let opts = Options {
        // The armed fsync waits, so the other writers write and queue behind
        // it as its followers, then fails.
        faults: Some(Arc::new(move |p| {
            if p == IoPoint::Sync && a.swap(false, Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
                g.store(w.load(Ordering::SeqCst), Ordering::SeqCst);
                return true;
            }
            false
        })),
        trace: Some(Arc::new({
            let w = writes.clone();
            move |e| {
                if matches!(e, IoEvent::Write { .. }) {
                    w.fetch_add(1, Ordering::SeqCst);
                }
            }
        })),
        ..Options::default()
    };
    let log = Arc::new(DiskLog::open_with(dir.path(), opts).expect("open").0);
    // Before arming: the first append preallocates (an fsync of its own).
    assert_eq!(log.append("s", json!("before")).expect("append"), 1);
    writes.store(0, Ordering::SeqCst);
    armed.store(true, Ordering::SeqCst);
    let results = on_threads(&log, 8, |log, t| log.append("s", json!(t)));
    let in_group = group.load(Ordering::SeqCst);
    assert!(
        in_group >= 2,
        "the failed fsync had no followers ({in_group} writes)"
    );
    for (t, r) in results.iter().enumerate() {
        assert!(
            matches!(r, Err(Error::Io { .. } | Error::Poisoned { .. })),
            "writer {t} got {r:?} from a group whose fsync failed"
        );
    }
    assert!(matches!(
        log.append("s", json!("after")),
        Err(Error::Poisoned { .. })
    ));
    drop(Arc::try_unwrap(log).ok().expect("threads are done"));
    let log = DiskLog::open(dir.path()).expect("reopen").0;
    let recs = log.read("s", 0, 100).expect("read");
    let data: Vec<_> = recs.into_iter().map(|r| r.data).collect();
    assert_eq!(data, vec![json!("before")]);
}
