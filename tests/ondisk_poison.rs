//! STORAGE rule 7: a failed write or fsync poisons the store; every later
//! call fails until reopened, and the reopened store holds exactly what was
//! acknowledged. (Rule 8, one opener at a time, is `ondisk_lock.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use persist::ondisk::{DiskLog, IoPoint, Options};
use persist::{Backend, Error};
use serde_json::json;

mod common;

/// Options whose hook fails the first `point` I/O after `armed` is set.
fn armed_opts(point: IoPoint) -> (Options, Arc<AtomicBool>) {
    let armed = Arc::new(AtomicBool::new(false));
    let a = armed.clone();
    let opts = Options {
        faults: Some(Arc::new(move |p| {
            p == point && a.swap(false, Ordering::SeqCst)
        })),
        ..Options::default()
    };
    (opts, armed)
}

fn assert_poisoned<T: std::fmt::Debug>(r: persist::Result<T>) {
    match r {
        Err(Error::Poisoned { .. }) => {}
        other => panic!("expected Poisoned, got {other:?}"),
    }
}

fn poisoning(point: IoPoint) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (opts, armed) = armed_opts(point);
    let log = DiskLog::open_with(dir.path(), opts).expect("open").0;
    for i in 1..=5 {
        log.append("s", json!(i)).expect("append");
    }
    log.kv_put("k", json!("kept")).expect("put");
    armed.store(true, Ordering::SeqCst);
    match log.append("s", json!(6)) {
        Err(Error::Io { .. }) => {}
        other => panic!("the failing call must report the I/O error, got {other:?}"),
    }
    assert_poisoned(log.append("s", json!(7)));
    assert_poisoned(log.read("s", 0, 10));
    assert_poisoned(log.last_seq("s"));
    assert_poisoned(log.kv_get("k"));
    assert_poisoned(log.kv_put("k", json!("lost")));
    assert_poisoned(log.truncate_through("s", 2));
    assert_poisoned(log.compact_segments());
    assert_poisoned(log.close());

    let (log, _) = DiskLog::open(dir.path()).expect("reopen");
    let data: Vec<_> = log
        .read("s", 0, 100)
        .expect("read")
        .into_iter()
        .map(|r| r.data)
        .collect();
    assert_eq!(data, (1..=5).map(|i| json!(i)).collect::<Vec<_>>());
    assert_eq!(log.kv_get("k").expect("get"), Some(json!("kept")));
    assert_eq!(log.append("s", json!(6)).expect("append"), 6);
}

#[test]
fn failed_fsync_poisons_and_reopen_holds_exactly_the_acknowledged() {
    poisoning(IoPoint::Sync);
}

#[test]
fn failed_write_poisons_and_reopen_holds_exactly_the_acknowledged() {
    poisoning(IoPoint::Write);
}

/// The first append into a new segment extends its file (preallocation):
/// a failed extension, or a failed fsync of it, poisons the store like any
/// write or fsync, and nothing of the failed call survives a reopen.
#[test]
fn failed_preallocation_poisons() {
    // Before the first append: the segment header (write 0), its fsync and
    // the directory's (syncs 0 and 1), the manifest (write 1, syncs 2 and
    // 3). Then the extension and its fsync.
    for (point, n) in [(IoPoint::Write, 2), (IoPoint::Sync, 4)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            faults: Some(persist::ondisk::fail_nth(point, n)),
            ..Options::default()
        };
        let log = DiskLog::open_with(dir.path(), opts).expect("open").0;
        match log.append("s", json!(1)) {
            Err(Error::Io { .. }) => {}
            other => panic!("{point:?}: expected the I/O error, got {other:?}"),
        }
        assert_poisoned(log.append("s", json!(2)));
        drop(log);
        let (log, report) = DiskLog::open(dir.path()).expect("reopen");
        assert!(report.torn.is_none(), "{point:?}: {report:?}");
        assert!(log.streams().expect("streams").is_empty(), "{point:?}");
        assert_eq!(log.append("s", json!(1)).expect("append"), 1);
    }
}

/// Many writers sharing group commits; one fsync fails. Whatever was
/// acknowledged before survives, every writer in the failed group errors,
/// and nothing unacknowledged appears after reopen.
#[test]
fn failed_group_commit_fails_every_waiter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (opts, armed) = armed_opts(IoPoint::Sync);
    let log = Arc::new(DiskLog::open_with(dir.path(), opts).expect("open").0);
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let log = log.clone();
            let armed = armed.clone();
            std::thread::spawn(move || {
                let stream = format!("t{t}");
                let mut acked = Vec::new();
                for i in 0..200u64 {
                    if t == 0 && i == 50 {
                        armed.store(true, Ordering::SeqCst);
                    }
                    match log.append(&stream, json!(i)) {
                        Ok(seq) => acked.push((seq, i)),
                        Err(_) => break,
                    }
                }
                (stream, acked)
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_poisoned(log.append("t0", json!(0)));
    drop(log);
    let (log, _) = DiskLog::open(dir.path()).expect("reopen");
    for (stream, acked) in results {
        let got: Vec<_> = log
            .read(&stream, 0, 1000)
            .expect("read")
            .into_iter()
            .map(|r| (r.seq, r.data.as_u64().expect("int")))
            .collect();
        assert_eq!(got, acked, "{stream}");
    }
}

mod any_fault {
    //! Property: whichever single write or fsync fails (in a batch, a segment
    //! roll, a compaction, the hint at close), every call after it is
    //! refused, and a reopen holds exactly what was acknowledged. A
    //! compaction that fails before its commit is the exception: it leaves
    //! the log untouched, so later calls go on.

    use persist::mem::MemBackend;
    use persist::ondisk::{DiskLog, IoPoint, Options, fail_nth};
    use persist::{Backend, Error};
    use proptest::prelude::*;

    use super::common::{Op, apply, op};

    fn opts(faults: Option<persist::ondisk::FaultHook>) -> Options {
        Options {
            segment_bytes: 400,
            compact_dead_bytes: Some(800),
            faults,
            ..Options::default()
        }
    }

    fn run(ops: Vec<Op>, sync: bool, n: usize) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let point = if sync { IoPoint::Sync } else { IoPoint::Write };
        let model = MemBackend::new();
        if let Ok((log, _)) = DiskLog::open_with(dir.path(), opts(Some(fail_nth(point, n)))) {
            let (mut failed, mut closed) = (false, false);
            for op in &ops {
                let r = apply(&log, Some(&log), op);
                if closed {
                    // Closing twice is a no-op; anything else is refused.
                    prop_assert!(
                        matches!(op, Op::Close) || matches!(r, Err(Error::Closed)),
                        "{:?} after close: {:?}",
                        op,
                        r
                    );
                } else if failed {
                    prop_assert!(
                        matches!(r, Err(Error::Poisoned { .. })),
                        "{:?} after a fault: {:?}",
                        op,
                        r
                    );
                } else if r.is_ok() {
                    apply(&model, None, op).expect("model");
                } else if matches!(op, Op::Compact) {
                    // Poisoned only if it failed from its commit on: the
                    // next call tells.
                } else {
                    failed = true;
                }
                closed |= matches!(op, Op::Close);
            }
        }
        let log = DiskLog::open_with(dir.path(), opts(None))
            .expect("reopen")
            .0;
        prop_assert_eq!(log.streams().ok(), model.streams().ok());
        for s in model.streams().expect("streams") {
            let strip = |v: Vec<persist::Record>| {
                v.into_iter().map(|r| (r.seq, r.data)).collect::<Vec<_>>()
            };
            prop_assert_eq!(
                strip(log.read(&s, 0, 1000).expect("read")),
                strip(model.read(&s, 0, 1000).expect("read"))
            );
            prop_assert_eq!(log.last_seq(&s).ok(), model.last_seq(&s).ok());
        }
        for k in model.kv_keys("").expect("keys") {
            prop_assert_eq!(log.kv_get(&k).ok(), model.kv_get(&k).ok());
        }
        prop_assert_eq!(log.kv_keys("").ok(), model.kv_keys("").ok());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn reopen_holds_exactly_the_acknowledged(
            ops in prop::collection::vec(op(), 1..40),
            sync in any::<bool>(),
            n in 0..80usize,
        ) {
            run(ops, sync, n)?;
        }
    }
}
