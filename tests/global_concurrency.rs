//! Concurrency on disk (SPEC 3.12): 8 writer threads append (single events,
//! batches and idempotent appends) while a reader follows `read_all` from
//! its last pos. The reader must see every pos exactly once, in order,
//! none skipped (group commit hands out positions in the order batches
//! land), and at the end exactly the acknowledged records.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use persist::Backend;
use persist::ondisk::DiskLog;
use serde_json::json;

const WRITERS: u64 = 8;
const ROUNDS: u64 = 60;

#[test]
fn a_read_all_follower_sees_every_pos_once_in_order_while_8_threads_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(DiskLog::open(dir.path()).expect("open").0);
    let done = Arc::new(AtomicBool::new(false));

    let follower = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut after = 0;
            loop {
                // Read the flag first: a page read after it is final.
                let finished = done.load(Ordering::SeqCst);
                let page = log.read_all(after, 100).expect("read_all");
                for r in &page {
                    assert_eq!(r.pos, after + 1, "pos skipped or repeated after {after}");
                    after = r.pos;
                    seen.push((r.stream.clone(), r.seq));
                }
                if finished && page.is_empty() {
                    return seen;
                }
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..ROUNDS {
                    let stream = format!("w{t}-{}", i % 3);
                    match i % 3 {
                        0 => {
                            let seq = log.append(&stream, json!([t, i])).expect("append");
                            acked.push((stream, seq));
                        }
                        1 => {
                            let evs = vec![json!([t, i, 0]), json!([t, i, 1])];
                            let last = log.append_all(&stream, evs).expect("append_all");
                            acked.push((stream.clone(), last - 1));
                            acked.push((stream, last));
                        }
                        _ => {
                            let id = format!("{t}/{i}");
                            let seq = log.append_once(&stream, &id, json!(i)).expect("once");
                            assert_eq!(
                                log.append_once(&stream, &id, json!(0)).expect("again"),
                                seq
                            );
                            acked.push((stream, seq));
                        }
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = BTreeSet::new();
    for w in writers {
        acked.extend(w.join().expect("writer"));
    }
    done.store(true, Ordering::SeqCst);
    let seen = follower.join().expect("follower");

    let seen_set: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen_set.len(), seen.len(), "a record was seen twice");
    assert_eq!(
        seen_set, acked,
        "the follower saw exactly the acknowledged records"
    );
    assert_eq!(log.last_pos().expect("last_pos"), seen.len() as u64);
    assert_eq!(seen.len() as u64, WRITERS * (ROUNDS / 3) * 4);
}
