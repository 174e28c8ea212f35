//! Several threads on one `DiskLog`: appends get distinct, gap-free seqs,
//! `append_expect` lets exactly one of the writers expecting a seq win, and
//! a reopen returns what the threads were told.

use std::collections::BTreeSet;
use std::sync::Arc;

use persist::ondisk::DiskLog;
use persist::{Appended, Backend};
use serde_json::json;

#[test]
fn concurrent_appends_get_distinct_gap_free_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(DiskLog::open(dir.path()).expect("open").0);
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..100u64)
                    .map(|i| (log.append("shared", json!([t, i])).expect("append"), t, i))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut told: Vec<(u64, u64, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
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
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
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
        })
        .collect();
    let wins: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let distinct: BTreeSet<u64> = wins.iter().copied().collect();
    assert_eq!(distinct.len(), wins.len(), "two writers won the same seq");
    assert_eq!(distinct, (1..=100).collect());
    assert_eq!(log.last_seq("s").expect("last_seq"), 100);
}
