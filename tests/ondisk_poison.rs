//! STORAGE rule 7: a failed write or fsync poisons the store; every later
//! call fails until reopened, and the reopened store holds exactly what was
//! acknowledged. Rule 8: one opener at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use persist::ondisk::{DiskLog, IoPoint, Options};
use persist::{Backend, Error};
use serde_json::json;

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

#[test]
fn second_opener_is_locked_out_until_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = DiskLog::open(dir.path()).expect("open");
    log.append("s", json!(1)).expect("append");
    match DiskLog::open(dir.path()) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    log.close().expect("close");
    assert!(matches!(log.append("s", json!(2)), Err(Error::Closed)));
    assert!(log.close().is_ok(), "closing twice is a no-op");
    let (again, _) = DiskLog::open(dir.path()).expect("open after close");
    assert_eq!(again.last_seq("s").expect("last"), 1);
    drop(again);
    DiskLog::open(dir.path()).expect("open after drop");
}
