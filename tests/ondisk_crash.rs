//! Crash test (STORAGE "How it is tested"): a child process with four writer
//! threads appends, writes kv values and truncates in a loop (compacting
//! automatically), printing each operation once it was acknowledged; the
//! parent SIGKILLs it at varying moments, reopens the store and checks that
//! everything acknowledged is there, exactly, and that appends continue.
//!
//! The child is this same test binary, re-run with `CHILD_DIR` set.

mod crash;

use std::collections::BTreeMap;
use std::sync::Arc;

use persist::Backend;
use persist::ondisk::{DiskLog, Options};
use serde_json::{Value, json};

const TEST: &str = "sigkill_loses_no_acknowledged_write";
const ROUNDS: u64 = 24;
const STREAMS: [&str; 3] = ["s0", "s1", "s2"];

fn opts() -> Options {
    Options {
        segment_bytes: 8 << 10,
        compact_dead_bytes: Some(12 << 10),
        ..Options::default()
    }
}

/// The payload of operation `i`: the parent recomputes it to compare.
fn payload(i: u64) -> Value {
    json!({"i": i, "pad": "p".repeat((i % 61) as usize)})
}

/// Runs until killed: four writer threads sharing group commits (so a
/// leader waits for followers and a kill can land mid-group), each with its
/// own streams and keys.
fn child(dir: &str, round: u64) {
    let log = Arc::new(DiskLog::open_with(dir, opts()).expect("child open").0);
    let writers: Vec<_> = ["", "t1-", "t2-", "t3-"]
        .into_iter()
        .enumerate()
        .map(|(t, prefix)| {
            let log = log.clone();
            let first = round * 1_000_000 + t as u64 * 250_000;
            std::thread::spawn(move || writer(&log, prefix, first))
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
}

/// Lines: `A stream seq i`, `K key i`, `T stream seq`, printed once the
/// operation returned.
fn writer(log: &DiskLog, p: &str, mut i: u64) {
    loop {
        i += 1;
        let lines = match i % 10 {
            0..=4 => {
                let s = format!("{p}{}", STREAMS[(i % 3) as usize]);
                let seq = log.append(&s, payload(i)).expect("append");
                format!("A {s} {seq} {i}")
            }
            5 | 6 => {
                let evs = vec![payload(i), payload(i + 1), payload(i + 2)];
                let last = log
                    .append_all(&format!("{p}batch"), evs)
                    .expect("append_all");
                let line = |k: u64| format!("A {p}batch {} {}", last - 2 + k, i + k);
                let out = [line(0), line(1), line(2)].join("\n");
                i += 2;
                out
            }
            7 | 8 => {
                let key = format!("{p}k{}", i % 5);
                log.kv_put(&key, payload(i)).expect("kv_put");
                format!("K {key} {i}")
            }
            _ => {
                let s = format!("{p}{}", ["s0", "s1", "s2", "batch"][(i / 10 % 4) as usize]);
                let through = log.last_seq(&s).expect("last_seq").saturating_sub(20);
                log.truncate_through(&s, through).expect("truncate");
                format!("T {s} {through}")
            }
        };
        crash::say(&lines);
    }
}

/// What the parent knows was acknowledged, over all rounds.
#[derive(Default)]
struct Acked {
    events: BTreeMap<(String, u64), u64>,
    kv: BTreeMap<String, u64>,
    truncated: BTreeMap<String, u64>,
}

impl Acked {
    fn record(&mut self, line: &str) {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |s: &str| s.parse::<u64>().expect("number");
        match f.as_slice() {
            ["A", s, seq, i] => {
                let prev = self.events.insert((s.to_string(), num(seq)), num(i));
                assert!(prev.is_none(), "seq {seq} of {s} acknowledged twice");
            }
            ["K", k, i] => {
                self.kv.insert(k.to_string(), num(i));
            }
            ["T", s, seq] => {
                let t = self.truncated.entry(s.to_string()).or_default();
                *t = (*t).max(num(seq));
            }
            _ => {}
        }
    }

    fn check(&self, log: &DiskLog) {
        for ((s, seq), i) in &self.events {
            let got = log.read(s, seq - 1, 1).expect("read");
            if *seq <= self.truncated.get(s).copied().unwrap_or(0) {
                assert!(
                    got.first().is_none_or(|r| r.seq != *seq),
                    "{s} {seq} survived an acknowledged truncation"
                );
                continue;
            }
            let r = got
                .first()
                .unwrap_or_else(|| panic!("acknowledged {s} seq {seq} is missing"));
            if r.seq != *seq {
                // A truncation can be durable without its acknowledgement
                // having been printed; it drops a whole prefix, never a gap.
                let first = log.read(s, 0, 1).expect("read")[0].seq;
                assert!(first > *seq, "{s} seq {seq} missing while {first} is kept");
                continue;
            }
            assert_eq!((r.seq, &r.data), (*seq, &payload(*i)), "{s} seq {seq}");
        }
        for (k, i) in &self.kv {
            let v = log
                .kv_get(k)
                .expect("kv_get")
                .unwrap_or_else(|| panic!("key {k} missing"));
            let got = v["i"].as_u64().expect("i");
            // A later put may have reached disk without being acknowledged.
            assert!(
                got >= *i && got % 5 == *i % 5,
                "key {k}: {got} older than acknowledged {i}"
            );
            assert_eq!(v, payload(got));
        }
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    if let Some((dir, round)) = crash::child_args() {
        child(&dir, round);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked = Acked::default();
    let mut delay = crash::delays(0x9E37_79B9_7F4A_7C15, 20, 180);
    let mut torn_reports = 0;
    // Rounds whose killed store held preallocated free space past its log.
    let mut free_space = 0;
    for round in 0..ROUNDS {
        // Kill only once the child is writing, at a varying moment after.
        let started = |l: &str| l.starts_with(['A', 'K', 'T']);
        let lines = crash::run_and_kill(TEST, dir.path(), round, delay(), started);
        for l in &lines {
            acked.record(l);
        }

        let v = persist::ondisk::verify(dir.path()).expect("verify after kill");
        assert!(v.is_ok(), "{v:?}");
        let file_bytes: u64 = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum::<u64>();
        free_space += (v.torn.is_none() && file_bytes > v.bytes) as u32;
        let (log, report) = DiskLog::open_with(dir.path(), opts()).expect("reopen after kill");
        torn_reports += report.torn.is_some() as u32;
        acked.check(&log);
        // Appends continue after the highest seq ever acknowledged.
        let mut highest: BTreeMap<&str, u64> = BTreeMap::new();
        for (s, seq) in acked.events.keys() {
            let h = highest.entry(s.as_str()).or_default();
            *h = (*h).max(*seq);
        }
        for (s, max) in highest {
            assert!(
                log.last_seq(s).expect("last_seq") >= max,
                "{s} high-water mark went back"
            );
        }
        let next = log.last_seq("parent").expect("last_seq") + 1;
        assert_eq!(
            log.append("parent", json!({"round": round}))
                .expect("append"),
            next
        );
        assert_eq!(next, round + 1, "the parent's own appends were lost");
        log.close().expect("close");
    }
    assert!(
        acked.events.len() > 100,
        "too few acknowledged writes to mean anything"
    );
    eprintln!(
        "{} events acknowledged, {torn_reports} torn tails cut, \
         {free_space} kills left free space",
        acked.events.len()
    );
    assert!(free_space > 0, "no kill left preallocated free space");
    // Compaction ran during the rounds: fewer segment files than ids used.
    let ids: Vec<u64> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    let highest = ids.iter().copied().max().unwrap_or(0);
    assert!(
        (ids.len() as u64) < highest,
        "no compaction happened: segments {ids:?}"
    );
    let report = persist::ondisk::verify(dir.path()).expect("verify");
    assert!(report.is_ok(), "{report:?}");
}
