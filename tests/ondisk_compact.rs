//! Segment compaction: space held by truncated records and overwritten kv
//! values is given back, answers do not change, and a compaction cut short
//! by a crash is finished (after its commit point) or discarded (before).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use persist::Backend;
use persist::ondisk::{DiskLog, IoPoint, Options, verify};
use serde_json::{Value, json};

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum()
}

fn big(i: u64) -> Value {
    json!({"i": i, "pad": "z".repeat(500)})
}

fn opts() -> Options {
    Options {
        segment_bytes: 64 << 10,
        compact_dead_bytes: None,
        ..Options::default()
    }
}

/// 2,000 events of which 10 are kept, and one key overwritten 300 times.
fn fill(log: &DiskLog) {
    for chunk in 0..20 {
        let evs = (0..100).map(|i| big(chunk * 100 + i + 1)).collect();
        log.append_all("s", evs).expect("append_all");
    }
    log.append("other", json!("small")).expect("append");
    for i in 0..300 {
        log.kv_put("k", big(i)).expect("put");
    }
    log.kv_put("gone", json!(1)).expect("put");
    log.kv_del("gone").expect("del");
    assert_eq!(log.truncate_through("s", 1990).expect("truncate"), 1990);
}

fn check(log: &DiskLog) {
    let recs = log.read("s", 0, usize::MAX).expect("read");
    let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1991..=2000).collect::<Vec<_>>());
    assert!(recs.iter().all(|r| r.data == big(r.seq)));
    assert_eq!(log.last_seq("s").expect("last"), 2000);
    assert_eq!(
        log.read("other", 0, 9).expect("read")[0].data,
        json!("small")
    );
    assert_eq!(log.kv_get("k").expect("get"), Some(big(299)));
    assert_eq!(log.kv_keys("").expect("keys"), vec!["k".to_string()]);
}

#[test]
fn compaction_gives_space_back_and_keeps_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = DiskLog::open_with(dir.path(), opts()).expect("open").0;
    fill(&log);
    let ats: Vec<i64> = log
        .read("s", 0, 100)
        .expect("read")
        .iter()
        .map(|r| r.at)
        .collect();
    let before = dir_bytes(dir.path());
    let rep = log.compact_segments().expect("compact");
    let after = dir_bytes(dir.path());
    assert!(after * 20 < before, "only {before} -> {after} bytes");
    assert!(rep.bytes_after * 20 < rep.bytes_before, "{rep:?}");
    check(&log);
    let stats = log.stats();
    let s = stats
        .streams
        .iter()
        .find(|s| s.name == "s")
        .expect("stream s");
    assert_eq!((s.first_seq, s.last_seq, s.kept), (1991, 2000, 10));
    assert_eq!((stats.kv_keys, stats.bytes), (1, rep.bytes_after));
    assert_eq!(stats.dead_bytes, 0);
    assert_eq!(log.append("s", big(2001)).expect("append"), 2001);
    log.close().expect("close");
    let log = DiskLog::open_with(dir.path(), opts()).expect("reopen").0;
    assert!(log.report().hint_used);
    let got: Vec<i64> = log
        .read("s", 0, 10)
        .expect("read")
        .iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(got, ats, "`at` changed by compaction");
    assert_eq!(log.truncate_through("s", 2000).expect("truncate"), 10);
    drop(log);
    assert!(verify(dir.path()).expect("verify").is_ok());
}

#[test]
fn automatic_compaction_bounds_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Options {
        segment_bytes: 16 << 10,
        compact_dead_bytes: Some(64 << 10),
        ..Options::default()
    };
    let log = DiskLog::open_with(dir.path(), o).expect("open").0;
    for i in 0..1000 {
        log.kv_put("k", big(i)).expect("put");
    }
    // 1000 values of ~520 bytes were written; only one is live.
    let bytes = dir_bytes(dir.path());
    assert!(bytes < 200 << 10, "log grew to {bytes} bytes");
    assert_eq!(log.kv_get("k").expect("get"), Some(big(999)));
    assert_eq!(log.stats().kv_keys, 1);
}

/// Runs a compaction whose fsync chosen by `fail_at` (given the directory
/// and whether the commit's manifest temp was fsync'd already) fails, then
/// reopens without faults. Returns the open report's notes.
fn interrupted(
    fail_at: impl Fn(&Path, bool) -> bool + Send + Sync + 'static,
) -> (tempfile::TempDir, DiskLog, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().to_path_buf();
    let committed = AtomicBool::new(false);
    let hook = move |p| {
        if p != IoPoint::Sync {
            return false;
        }
        let fail = fail_at(&path, committed.load(Ordering::SeqCst));
        if has_temp(&path) && path.join("manifest.tmp").exists() {
            committed.store(true, Ordering::SeqCst);
        }
        fail
    };
    let o = Options {
        faults: Some(Arc::new(hook)),
        ..opts()
    };
    let log = DiskLog::open_with(dir.path(), o).expect("open").0;
    fill(&log);
    assert!(
        log.compact_segments().is_err(),
        "injected fault not reported"
    );
    drop(log);
    let (log, report) = DiskLog::open_with(dir.path(), opts()).expect("reopen");
    (dir, log, report.notes)
}

fn has_temp(dir: &Path) -> bool {
    std::fs::read_dir(dir).expect("list").any(|e| {
        e.expect("entry")
            .file_name()
            .to_string_lossy()
            .ends_with(".compact")
    })
}

/// Killed right after the manifest naming the outputs was renamed into
/// place (the commit point): `verify` sees no damage, only work left for
/// the next open, which finishes the compaction.
#[test]
fn compaction_interrupted_after_commit_is_finished_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().to_path_buf();
    let committed = AtomicBool::new(false);
    let hook = move |p| {
        if p != IoPoint::Sync {
            return false;
        }
        if committed.load(Ordering::SeqCst) {
            // The directory fsync after the rename: stop here, as a crash.
            return true;
        }
        if has_temp(&path) && path.join("manifest.tmp").exists() {
            committed.store(true, Ordering::SeqCst);
        }
        false
    };
    let o = Options {
        faults: Some(Arc::new(hook)),
        ..opts()
    };
    let log = DiskLog::open_with(dir.path(), o).expect("open").0;
    fill(&log);
    assert!(
        log.compact_segments().is_err(),
        "injected fault not reported"
    );
    drop(log);
    assert!(has_temp(dir.path()), "outputs already installed");
    let v = verify(dir.path()).expect("verify");
    assert!(
        v.is_ok(),
        "leftovers of a committed compaction are not damage: {v:?}"
    );
    assert!(
        v.notes.iter().any(|n| n.contains("will be finished")),
        "{v:?}"
    );
    assert_eq!(v.stats.streams.len(), 2);

    let (log, report) = DiskLog::open_with(dir.path(), opts()).expect("reopen");
    let notes = report.notes;
    assert!(notes.iter().any(|n| n.contains("finished")), "{notes:?}");
    check(&log);
    assert!(
        dir_bytes(dir.path()) < 200 << 10,
        "replaced segments were kept"
    );
    assert!(!has_temp(dir.path()));
}

/// A compaction that fails before its commit (say, the disk is full while
/// writing the outputs) deletes its outputs and leaves the log untouched:
/// the store is not poisoned, and reopening finds nothing to clean up.
#[test]
fn compaction_failing_before_commit_is_discarded() {
    let (dir, log, notes) = interrupted(|d, committed| has_temp(d) && !committed);
    assert!(notes.is_empty(), "{notes:?}");
    check(&log);
    assert!(!has_temp(dir.path()));
    log.compact_segments().expect("compact after recovery");
    check(&log);
}

/// Writers fill and roll small segments while a compaction rewrites the
/// prefix: the segments they rolled past are not the compaction's to
/// replace. (The compaction once rebased the index onto the segment
/// active at its commit instead of at its start, found the rolled
/// segments' records "not rewritten" and poisoned the store; in a crash
/// test that poison cut acknowledged records.)
#[test]
fn compaction_while_writers_roll_segments_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Options {
        segment_bytes: 1024,
        compact_dead_bytes: None,
        ..Options::default()
    };
    let log = Arc::new(DiskLog::open_with(dir.path(), o).expect("open").0);
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..600u64 {
                    let s = format!("w{t}");
                    log.append(&s, big(i)).expect("append");
                    if i % 50 == 49 {
                        log.truncate_through(&s, i - 10).expect("truncate");
                    }
                }
                done.store(true, Ordering::Relaxed);
            })
        })
        .collect();
    let mut compactions = 0;
    while !done.load(Ordering::Relaxed) {
        log.compact_segments().expect("compaction");
        compactions += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert!(compactions > 1, "{compactions} compactions");
    Arc::into_inner(log)
        .expect("one owner")
        .close()
        .expect("close");
    let (log, _) = DiskLog::open(dir.path()).expect("reopen");
    for t in 0..2 {
        let s = format!("w{t}");
        let kept = log.read(&s, 0, usize::MAX).expect("read");
        let seqs: Vec<u64> = kept.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (590..=600).collect::<Vec<_>>(), "{s}");
        for r in &kept {
            assert_eq!(r.data, big(r.seq - 1), "{s} seq {}", r.seq);
        }
    }
}
