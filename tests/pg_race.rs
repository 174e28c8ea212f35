//! Races between separate OS processes on one PostgreSQL store (SPEC 7):
//! this test binary re-runs itself as the workers (`worker` below, chosen
//! by `PERSIST_PG_WORKER`), each with its own connection, and the parent
//! checks what they report against what the store holds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use persist::pg::PgBackend;
use persist::{Appended, Backend};
use serde_json::json;

use common::pg::{fresh, raw_client};

const WRITERS: usize = 4;

/// Starts this binary as worker `role` number `n` on the store at `url`.
fn spawn(role: &str, n: usize, url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker", "--nocapture", "--test-threads=1"])
        .env("PERSIST_PG_WORKER", format!("{role} {n} {url}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn worker")
}

/// The `report` lines a worker printed (its other output is the harness's).
fn reports(child: Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "worker failed:\n{text}");
    // The harness prints "test worker ... " without a newline before the
    // test runs, so a report may share its line.
    text.lines()
        .filter_map(|l| l.split_once("report ").map(|(_, r)| r.to_string()))
        .collect()
}

/// The worker side; a no-op in a normal test run.
#[test]
fn worker() {
    let Ok(spec) = std::env::var("PERSIST_PG_WORKER") else {
        return;
    };
    let mut parts = spec.splitn(3, ' ');
    let (role, n, url) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let n: usize = n.parse().unwrap();
    let s = PgBackend::open(url).unwrap();
    match role {
        "expect" => {
            // Everyone expects 0, 1, 2, ...: of each round exactly one wins.
            for expected in 0..ROUNDS {
                loop {
                    match s.append_expect("race", expected, json!({"w": n})).unwrap() {
                        Appended::Seq(seq) => {
                            println!("report win {expected} {seq}");
                            break;
                        }
                        Appended::Conflict { actual, .. } if actual > expected => break,
                        Appended::Conflict { .. } => std::thread::yield_now(),
                    }
                }
            }
        }
        "once" => {
            for i in 0..IDS {
                let seq = s.append_once("once", &format!("id-{i}"), json!({"w": n, "i": i}));
                println!("report {i} {}", seq.unwrap());
            }
        }
        "write" => {
            for i in 0..PER_WRITER {
                s.append(&format!("w-{n}"), json!(i)).unwrap();
            }
        }
        "follow" => {
            let total = (WRITERS * PER_WRITER + 1) as u64;
            let (mut after, mut seen) = (0u64, 0u64);
            let deadline = Instant::now() + Duration::from_secs(120);
            while seen < total && Instant::now() < deadline {
                s.wait_for(after, Duration::from_millis(500)).unwrap();
                for r in s.read_all(after, 1000).unwrap() {
                    println!("report {} {} {}", r.pos, r.stream, r.seq);
                    after = r.pos;
                    seen += 1;
                }
            }
        }
        other => panic!("unknown worker role {other}"),
    }
}

const ROUNDS: u64 = 200;
const IDS: usize = 100;
const PER_WRITER: usize = 150;

#[test]
fn append_expect_from_processes_has_one_winner_per_seq() {
    let Some(db) = fresh() else { return };
    let url = db.url_string();
    let children: Vec<Child> = (0..WRITERS).map(|n| spawn("expect", n, &url)).collect();
    let mut winners: BTreeMap<u64, usize> = BTreeMap::new();
    for (n, child) in children.into_iter().enumerate() {
        for line in reports(child) {
            let v: Vec<u64> = line[4..].split(' ').map(|x| x.parse().unwrap()).collect();
            assert_eq!(v[1], v[0] + 1, "won seq is expected + 1");
            assert!(
                winners.insert(v[0], n).is_none(),
                "two winners for {}",
                v[0]
            );
        }
    }
    assert_eq!(winners.len() as u64, ROUNDS, "a winner for every round");
    let records = db.backend.read("race", 0, 1000).unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=ROUNDS).collect::<Vec<_>>(), "contiguous");
    for r in &records {
        assert_eq!(r.data["w"], json!(winners[&(r.seq - 1)]), "seq {}", r.seq);
    }
}

#[test]
fn append_once_from_processes_appends_each_id_once() {
    let Some(db) = fresh() else { return };
    let url = db.url_string();
    let children: Vec<Child> = (0..WRITERS).map(|n| spawn("once", n, &url)).collect();
    let answers: Vec<Vec<String>> = children.into_iter().map(reports).collect();
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "every process got the same seq per id"
    );
    let records = db.backend.read("once", 0, 1000).unwrap();
    assert_eq!(records.len(), IDS);
    let ids: BTreeSet<String> = records.iter().map(|r| r.id.clone().unwrap()).collect();
    assert_eq!(ids.len(), IDS, "each id exactly once");
    for line in &answers[0] {
        let (i, seq) = line.split_once(' ').unwrap();
        let r = &records[seq.parse::<usize>().unwrap() - 1];
        assert_eq!(r.id.as_deref(), Some(format!("id-{i}").as_str()));
    }
}

#[test]
fn a_follower_process_sees_every_record_once_in_pos_order() {
    let Some(db) = fresh() else { return };
    let url = db.url_string();
    // A transaction held open across the writers' run: its record must
    // neither be skipped nor hold the others up forever.
    let mut holder = raw_client(&url);
    let mut tx = holder.transaction().unwrap();
    tx.execute(
        "SELECT persist_append_once('held', 'held-1', 0, '\"held\"')",
        &[],
    )
    .unwrap();
    let follower = spawn("follow", 0, &url);
    let writers: Vec<Child> = (0..WRITERS).map(|n| spawn("write", n, &url)).collect();
    for w in writers {
        reports(w);
    }
    std::thread::sleep(Duration::from_millis(300));
    tx.commit().unwrap();
    let seen = reports(follower);
    let total = WRITERS * PER_WRITER + 1;
    assert_eq!(seen.len(), total, "every record once");
    let mut per_stream: BTreeMap<String, u64> = BTreeMap::new();
    for (i, line) in seen.iter().enumerate() {
        let v: Vec<&str> = line.split(' ').collect();
        assert_eq!(v[0].parse::<usize>().unwrap(), i + 1, "dense, in pos order");
        let last = per_stream.entry(v[1].to_string()).or_default();
        let seq: u64 = v[2].parse().unwrap();
        assert_eq!(seq, *last + 1, "stream {} in seq order", v[1]);
        *last = seq;
    }
    assert_eq!(
        per_stream["held"], 1,
        "the held transaction's record came through"
    );
}

#[test]
fn killed_connections_lose_and_double_nothing_with_append_once_retries() {
    let Some(db) = fresh() else { return };
    let url = format!("{}&application_name=persist_victim", db.url_string());
    let killer_url = db.url_string();
    let s = PgBackend::open(&url).unwrap();
    // The writer appends until the killer has made its kills: a fixed count
    // of appends would finish before the first kill on a quiet machine.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut raw = raw_client(&killer_url);
            let mut kills = 0;
            // A bounded number of kills, spaced out: killing faster than a
            // loaded machine reconnects would only test the killer.
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(100));
                kills += raw
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = 'persist_victim'",
                        &[],
                    )
                    .unwrap()
                    .len();
                if kills >= 4 {
                    break;
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            kills
        })
    };
    let mut errors = Vec::new();
    let mut appended = 0;
    while appended < 300 || !done.load(std::sync::atomic::Ordering::Relaxed) {
        loop {
            match s.append_once("k", &format!("id-{appended}"), json!(appended)) {
                Ok(_) => break,
                Err(e) => errors.push(e.to_string()),
            }
        }
        appended += 1;
    }
    let kills = killer.join().unwrap();
    assert!(
        kills > 0 && !errors.is_empty(),
        "the run was interrupted ({kills} kills, {} errors)",
        errors.len()
    );
    for e in &errors {
        assert!(
            e.contains("lost") || e.contains("cannot connect"),
            "a clear error: {e}"
        );
    }
    let records = db.backend.read("k", 0, appended as usize + 10).unwrap();
    let data: Vec<i64> = records.iter().map(|r| r.data.as_i64().unwrap()).collect();
    assert_eq!(
        data,
        (0..appended).collect::<Vec<_>>(),
        "nothing lost or doubled"
    );
}
