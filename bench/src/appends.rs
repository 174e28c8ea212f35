//! The appends group: durable single appends, group commit and batched
//! appends, each against the raw disk loop doing the same I/O (no persist
//! code) and against SQLite, measured in the same run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use persist::ondisk::{DiskLog, IoEvent, Options};
use persist::{Backend, Store};
use serde_json::{Value, json};

use crate::baseline::{self, payload};
use crate::{Figure, median, time};

/// Writer threads of the group-commit figures.
const WRITERS: usize = 8;
/// Events per `append_all` batch.
const BATCH: usize = 1000;

fn open(dir: &Path) -> Store {
    Store::new(DiskLog::open(dir).expect("open store").0)
}

/// Bytes one single append of a bench payload takes in persist's log (its
/// frame), so the raw loops write records of the same size.
fn frame_bytes(dir: &Path) -> usize {
    let log = DiskLog::open(dir).expect("open").0;
    log.append("w0", json!(payload(0))).expect("append");
    let one = log.stats().bytes;
    log.append("w0", json!(payload(1))).expect("append");
    let two = log.stats().bytes;
    log.close().expect("close");
    let _ = std::fs::remove_dir_all(dir);
    (two - one) as usize
}

/// Every appends figure: singles, group commit, batches.
pub fn appends(dir: &Path, singles: usize, batches: usize) -> Vec<Figure> {
    let record = frame_bytes(&dir.join("frame-size"));
    let mut out = single(dir, singles, record);
    out.extend(group(dir, singles, record));
    out.extend(batched(dir, batches));
    out
}

/// Single durable appends by one writer. Interleaved in rounds, so the
/// machine's drift hits every loop alike.
fn single(dir: &Path, singles: usize, record: usize) -> Vec<Figure> {
    let mut raw = baseline::RawAppender::new(dir);
    let (rounds, per_round) = (10, singles.div_ceil(10));
    let mut pre = baseline::RawPrealloc::new(dir, record, rounds * per_round);
    let sqlite_dir = dir.join("sqlite-singles");
    std::fs::create_dir_all(&sqlite_dir).expect("sqlite dir");
    let mut lite = baseline::SqliteAppender::new(&sqlite_dir);
    let store = open(&dir.join("singles"));
    let (mut raw_s, mut pre_s, mut lite_s, mut ours_s) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..rounds {
        raw_s += raw.run(per_round);
        pre_s += pre.run(per_round);
        lite_s += lite.run(per_round);
        ours_s += time(|| {
            for i in 0..per_round {
                store.append("bench", json!(payload(i))).expect("append");
            }
        })
        .0;
    }
    store.close().expect("close");
    let n = (rounds * per_round) as f64;
    let ours = n / ours_s;
    let name = "durable single appends (open)";
    vec![
        Figure::rate(
            name,
            ours,
            "appends/s",
            &format!("raw {record}-byte pwrite+fdatasync, preallocated"),
            n / pre_s,
            ">= 0.9",
        ),
        Figure::rate(
            name,
            ours,
            "appends/s",
            "raw 200-byte write+fdatasync, growing file",
            n / raw_s,
            "report",
        ),
        Figure::rate(
            name,
            ours,
            "appends/s",
            "SQLite WAL, synchronous=FULL, 1 insert/txn",
            n / lite_s,
            ">= 1.0",
        ),
    ]
}

/// Single appends from `WRITERS` threads on one store (group commit),
/// against the textbook leader/follower loop and against one writer of
/// each, interleaved in rounds.
fn group(dir: &Path, singles: usize, record: usize) -> Vec<Figure> {
    // Never fewer than 2,000 appends: with fewer, starting the threads of
    // each round weighs on the figure (`--quick` has 300 singles).
    let (rounds, per_thread) = (5, singles.max(2000).div_ceil(5 * WRITERS));
    let total = rounds * per_thread * WRITERS;
    let raw = baseline::RawGroup::new(dir, record, total);
    let mut raw_one = baseline::RawPrealloc::new(dir, record, rounds * per_thread * WRITERS);
    // Counts the store's fdatasyncs: appends per fdatasync is the group
    // size, a figure the machine's noise hardly moves.
    let syncs = Arc::new(AtomicUsize::new(0));
    let counter = syncs.clone();
    let opts = Options {
        trace: Some(Arc::new(move |e| {
            if matches!(e, IoEvent::Sync(_)) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })),
        ..Options::default()
    };
    let log = Arc::new(DiskLog::open_with(dir.join("group"), opts).expect("open").0);
    let opened = syncs.load(Ordering::Relaxed);
    let one = open(&dir.join("group-one"));
    let (mut raw_s, mut raw_one_s, mut ours_s, mut one_s) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..rounds {
        raw_s += raw.run(WRITERS, per_thread);
        ours_s += persist_writers(&log, per_thread);
        raw_one_s += raw_one.run(per_thread * WRITERS);
        one_s += time(|| {
            for i in 0..per_thread * WRITERS {
                one.append("w0", json!(payload(i))).expect("append");
            }
        })
        .0;
    }
    let ours_syncs = syncs.load(Ordering::Relaxed) - opened;
    log.close().expect("close");
    one.close().expect("close");
    let n = total as f64;
    let raw_syncs = raw.syncs.load(Ordering::Relaxed);
    let (ours, textbook, one, raw_one) = (n / ours_s, n / raw_s, n / one_s, n / raw_one_s);
    let name = "8 writers, single appends (group commit)";
    vec![
        Figure::rate(
            name,
            ours,
            "appends/s",
            "raw 8-thread leader/follower pwrite loop",
            textbook,
            ">= 0.8",
        ),
        Figure::rate(
            name,
            ours,
            "appends/s",
            "one writer, single appends",
            one,
            ">= 4.0",
        ),
        Figure::rate(
            "8 writers: appends per fdatasync",
            n / ours_syncs.max(1) as f64,
            "appends",
            "the raw leader/follower loop's",
            n / raw_syncs.max(1) as f64,
            "report",
        ),
        Figure::rate(
            "raw 8-thread leader/follower pwrite loop",
            textbook,
            "appends/s",
            "raw preallocated loop, one writer",
            raw_one,
            "report (the machine's limit for >= 4x)",
        ),
    ]
}

/// Seconds for `WRITERS` threads doing `per_thread` single appends each.
fn persist_writers(log: &Arc<DiskLog>, per_thread: usize) -> f64 {
    time(|| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        log.append(&format!("w{t}"), json!(payload(i)))
                            .expect("append");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("writer");
        }
    })
    .0
}

/// `append_all` of `BATCH`-event batches, against SQLite and the disk.
fn batched(dir: &Path, batches: usize) -> Vec<Figure> {
    let batch: Vec<_> = (0..BATCH).map(|i| json!(payload(i))).collect();
    let event_bytes = serde_json::to_string(&batch[0]).map_or(0, |s| s.len());
    let store = open(&dir.join("batched"));
    let sqlite_dir = dir.join("sqlite-batches");
    std::fs::create_dir_all(&sqlite_dir).expect("sqlite dir");
    let mut lite = baseline::SqliteBatches::new(&sqlite_dir, BATCH);
    let mut raw = baseline::RawBatches::new(dir, BATCH * event_bytes);
    // Interleaved in rounds, as the singles. Events are built before the
    // clock starts, as for SQLite: both time the store, not the caller's
    // allocations.
    let (rounds, per_round) = (10, batches.div_ceil(10));
    let (mut ours_s, mut lite_s, mut raw_s) = (0.0, 0.0, 0.0);
    for _ in 0..rounds {
        let all: Vec<Vec<_>> = (0..per_round).map(|_| batch.clone()).collect();
        ours_s += time(|| {
            for events in all {
                store.append_all("bench", events).expect("append_all");
            }
        })
        .0;
        raw_s += raw.run(per_round);
        lite_s += lite.run(per_round);
    }
    store.close().expect("close");
    let n = (rounds * per_round * BATCH) as f64;
    let (events, sqlite_batched, per_batch) = (n / ours_s, n / lite_s, n / raw_s);
    let events_4w = batched_writers(&dir.join("batched-4"), 4, batches, &batch);
    let seq = baseline::seq_write(dir, batches * BATCH * event_bytes);
    let mb = |events_per_s: f64| events_per_s * event_bytes as f64 / 1e6;
    let name = "append_all, 1,000-event batches";
    vec![
        Figure::rate(
            name,
            events,
            "events/s",
            "SQLite, same batches, 1 txn each",
            sqlite_batched,
            ">= 3.0",
        ),
        Figure::rate(
            name,
            mb(events),
            "MB/s",
            "same-size writes, each + fdatasync",
            mb(per_batch),
            ">= 0.85",
        ),
        Figure::rate(
            name,
            mb(events),
            "MB/s",
            "one sequential write + fsync",
            seq / 1e6,
            "report",
        ),
        Figure::rate(
            "append_all, 1,000-event batches, 4 writers",
            mb(events_4w),
            "MB/s",
            "one sequential write + fsync",
            seq / 1e6,
            "report",
        ),
    ]
}

/// `--pair N`: `append_all` of `BATCH`-event batches and the raw loop's
/// same-size write + fdatasync, alternated batch by batch so the disk's
/// drift hits both alike. Prints the MB/s ratio (the appends group's row)
/// of the medians per batch, which a shared disk's stalls do not move, and
/// of the totals.
pub fn paired(dir: &Path, batches: usize) {
    let batch: Vec<_> = (0..BATCH).map(|i| json!(payload(i))).collect();
    let event_bytes = serde_json::to_string(&batch[0]).map_or(0, |s| s.len());
    let store = open(&dir.join("paired"));
    let mut raw = baseline::RawBatches::new(dir, BATCH * event_bytes);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..batches {
        let events = batch.clone();
        ours.push(time(|| store.append_all("bench", events).expect("append_all")).0);
        theirs.push(raw.run(1));
    }
    store.close().expect("close");
    let total = |v: &[f64]| v.iter().sum::<f64>();
    let ratio_total = total(&theirs) / total(&ours);
    let (m_ours, m_theirs) = (median(&mut ours), median(&mut theirs));
    println!(
        "median ratio {:.3} (persist {:.0} us/batch, raw {:.0}); total ratio {:.3}",
        m_theirs / m_ours,
        m_ours * 1e6,
        m_theirs * 1e6,
        ratio_total
    );
}

/// `batches` `append_all`s spread over `threads` writers of one store:
/// concurrent batches share fsyncs. Events/s.
fn batched_writers(dir: &Path, threads: usize, batches: usize, batch: &[Value]) -> f64 {
    let log = Arc::new(DiskLog::open(dir).expect("open").0);
    let per = batches.div_ceil(threads);
    let work: Vec<Vec<Vec<_>>> = (0..threads)
        .map(|_| (0..per).map(|_| batch.to_vec()).collect())
        .collect();
    let (secs, ()) = time(|| {
        let handles: Vec<_> = work
            .into_iter()
            .enumerate()
            .map(|(t, mine)| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for events in mine {
                        log.append_all(&format!("w{t}"), events)
                            .expect("append_all");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("writer");
        }
    });
    log.close().expect("close");
    (threads * per * batch.len()) as f64 / secs
}
