//! Crash loop for idempotent appends (SPEC 3.2, 3.12): a child process with
//! two writer threads calls `append_once` with fresh ids (and truncates
//! some streams, so compaction runs), printing `B id` before each call and
//! `O id stream seq` once acknowledged; the parent SIGKILLs it at varying
//! moments, reopens the store, retries every id that was begun but not
//! acknowledged, and checks that each id is in the log exactly once (or
//! was truncated away), that acknowledged ids kept their seq, and that
//! positions are dense in every stream's order.
//!
//! The child is this same test binary, re-run with `CHILD_DIR` set.

mod crash;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use persist::Backend;
use persist::ondisk::{DiskLog, Options};
use serde_json::{Value, json};

const TEST: &str = "sigkill_then_retrying_append_once_gives_each_id_once";
const ROUNDS: u64 = 12;

fn opts() -> Options {
    Options {
        segment_bytes: 8 << 10,
        compact_dead_bytes: Some(12 << 10),
        ..Options::default()
    }
}

/// Where id number `i` goes and what it carries: the parent recomputes both
/// to retry. Streams `drop-*` are truncated now and then; `keep-*` never.
fn target(i: u64) -> (String, Value) {
    let stream = match i % 4 {
        0 => format!("drop-{}", i % 3),
        _ => format!("keep-{}", i % 3),
    };
    (
        stream,
        json!({"i": i, "pad": "p".repeat((i % 53) as usize)}),
    )
}

fn id_of(i: u64) -> String {
    format!("id-{i}")
}

fn child(dir: &str, round: u64) {
    let log = Arc::new(DiskLog::open_with(dir, opts()).expect("child open").0);
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let log = log.clone();
            let first = round * 1_000_000 + t * 500_000;
            std::thread::spawn(move || writer(&log, first))
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
}

fn writer(log: &DiskLog, mut i: u64) {
    loop {
        i += 1;
        let (stream, event) = target(i);
        crash::say(&format!("B {i}"));
        let seq = log
            .append_once(&stream, &id_of(i), event)
            .expect("append_once");
        crash::say(&format!("O {i} {stream} {seq}"));
        if i.is_multiple_of(17) {
            let s = format!("drop-{}", i % 3);
            let through = log.last_seq(&s).expect("last_seq").saturating_sub(5);
            log.truncate_through(&s, through).expect("truncate");
        }
    }
}

#[test]
fn sigkill_then_retrying_append_once_gives_each_id_once() {
    if let Some((dir, round)) = crash::child_args() {
        child(&dir, round);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut delay = crash::delays(0x2545_F491_4F6C_DD1D, 20, 160);
    // Every id ever begun, with the seq it must keep once known.
    let mut seqs: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut acked, mut retried) = (0, 0);
    for round in 0..ROUNDS {
        let lines = crash::run_and_kill(TEST, dir.path(), round, delay(), |_| true);

        let mut begun = Vec::new();
        for l in &lines {
            let f: Vec<&str> = l.split(' ').collect();
            let num = |s: &str| s.parse::<u64>().expect("number");
            match f.as_slice() {
                ["B", i] => begun.push(num(i)),
                ["O", i, _, seq] => {
                    assert!(
                        seqs.insert(num(i), num(seq)).is_none(),
                        "id {i} acknowledged twice"
                    );
                    acked += 1;
                }
                _ => {}
            }
        }
        let (log, _) = DiskLog::open_with(dir.path(), opts()).expect("reopen after kill");
        // Retry what was begun and not acknowledged: the id lands once.
        let unacknowledged: Vec<u64> = begun
            .into_iter()
            .filter(|i| !seqs.contains_key(i))
            .collect();
        for i in unacknowledged {
            let (stream, event) = target(i);
            let seq = log.append_once(&stream, &id_of(i), event).expect("retry");
            seqs.insert(i, seq);
            retried += 1;
        }
        check(&log, &seqs);
        log.close().expect("close");
    }
    eprintln!("{acked} ids acknowledged, {retried} retried after a kill");
    assert!(acked > 100, "too few acknowledged appends to mean anything");
    assert!(retried > 0, "no kill interrupted an append_once");
}

/// Every id answers its seq again without appending; live records hold each
/// id at most once, every `keep-*` id exactly once, at its seq; positions
/// rise with seq in every stream.
fn check(log: &DiskLog, seqs: &BTreeMap<u64, u64>) {
    let last_pos = log.last_pos().expect("last_pos");
    let all = log.read_all(0, usize::MAX).expect("read_all");
    let mut live: HashMap<&str, (&str, u64)> = HashMap::new();
    for r in &all {
        if let Some(id) = r.id.as_deref() {
            assert!(
                live.insert(id, (&r.stream, r.seq)).is_none(),
                "id {id} is in the log twice"
            );
        }
    }
    assert!(
        all.windows(2).all(|w| w[0].pos < w[1].pos),
        "read_all out of pos order"
    );
    for (&i, &seq) in seqs {
        let (stream, event) = target(i);
        let again = log.append_once(&stream, &id_of(i), event).expect("again");
        assert_eq!(again, seq, "id {i} changed its seq");
        match live.get(id_of(i).as_str()) {
            Some(&(s, q)) => assert_eq!((s, q), (stream.as_str(), seq), "id {i}"),
            None => assert!(stream.starts_with("drop-"), "id {i} of {stream} is missing"),
        }
    }
    assert_eq!(
        log.last_pos().expect("last_pos"),
        last_pos,
        "a repeated id appended"
    );
    for s in log.streams().expect("streams") {
        let recs = log.read(&s, 0, usize::MAX).expect("read");
        assert!(
            recs.windows(2).all(|w| w[0].pos < w[1].pos),
            "{s}: pos not rising with seq"
        );
    }
}
