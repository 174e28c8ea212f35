//! `persist recover DIR --to NEW` (issue 13 item 9): on the damage cases of
//! issue 9 (a byte flipped mid-segment, a zeroed tail, a deleted or
//! truncated segment, a damaged manifest or hint) the new store opens and
//! holds exactly the records that checked out, with their original seq,
//! pos, `at`, id and data; the report names what was lost; DIR is left
//! byte for byte as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use persist::ondisk::{DiskLog, Options};
use persist::{Record, Store, tools};
use serde_json::{Value, json};

mod files;
use files::{Files, boundaries, files};

/// What a store holds: every kept record by (stream, seq), each stream's
/// last seq, and the kv.
#[derive(Debug, PartialEq)]
struct Held {
    records: BTreeMap<(String, u64), Record>,
    last: BTreeMap<String, u64>,
    kv: BTreeMap<String, Value>,
}

fn held(store: &Store) -> Held {
    let mut records = BTreeMap::new();
    let mut last = BTreeMap::new();
    for s in store.streams().expect("streams") {
        for r in store.read(&s, 0, None).expect("read") {
            records.insert((s.clone(), r.seq), r);
        }
        last.insert(s.clone(), store.last_seq(&s).expect("last_seq"));
    }
    let kv = store
        .kv_keys("")
        .expect("keys")
        .into_iter()
        .map(|k| {
            let v = store.kv_get(&k).expect("get").expect("value");
            (k, v)
        })
        .collect();
    Held { records, last, kv }
}

/// Streams `s0` and `s1` appended to alternately, one record per batch
/// (the first segment holds only those), one by `append_once`, kv writes,
/// a truncation, and last a batch of 5 records of `tail` too big to share
/// a segment. Closed.
fn build(dir: &Path) -> (Files, Held) {
    let opts = Options {
        segment_bytes: 400,
        compact_dead_bytes: None,
        ..Options::default()
    };
    let store = Store::new(DiskLog::open_with(dir, opts).expect("open").0);
    for i in 1..=12u64 {
        let s = format!("s{}", i % 2);
        store
            .append(&s, json!({"i": i, "pad": "x".repeat(20)}))
            .expect("append");
    }
    store
        .append_once("s0", "order-7", json!({"once": true}))
        .expect("append_once");
    for k in 0..4 {
        store
            .kv_put(&format!("k{k}"), json!({"k": k}))
            .expect("put");
    }
    store.kv_del("k3").expect("del");
    store.truncate_through("s0", 1).expect("truncate");
    let big: Vec<Value> = (1..=5)
        .map(|i| json!({"tail": i, "pad": "y".repeat(100)}))
        .collect();
    store.append_all("tail", big).expect("append_all");
    let want = held(&store);
    store.close().expect("close");
    (files(dir), want)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

/// The (stream, seq) of the `i`-th append (from 1) of `build`'s loop.
fn nth_append(i: u64) -> (String, u64) {
    (format!("s{}", i % 2), i.div_ceil(2))
}

struct Outcome {
    code: i32,
    report: String,
    held: Held,
    /// The kept records of the damaged store that the new one lacks.
    missing: BTreeSet<(String, u64)>,
}

/// Recovers `dir` into a fresh directory; checks that `dir` did not
/// change, that the new store opens and verifies, and that every record it
/// holds is one of `want`'s, unchanged (a `lost_and_found/` record matched
/// by pos, with its original seq).
fn recover(dir: &Path, want: &Held) -> Outcome {
    let before = files(dir);
    let new = tempfile::tempdir().expect("tempdir");
    let to = new.path().join("new");
    let mut out = Vec::new();
    let code = tools::recover(dir, &to, &mut out).expect("recover");
    let report = String::from_utf8(out).expect("utf8");
    assert_eq!(files(dir), before, "recover changed DIR\n{report}");
    let mut v = Vec::new();
    assert_eq!(
        tools::verify(&to, &mut v).expect("verify"),
        0,
        "{}",
        String::from_utf8_lossy(&v)
    );
    let store = Store::new(DiskLog::open(&to).expect("open the new store").0);
    let held = held(&store);
    store.close().expect("close");
    let by_pos: BTreeMap<u64, &Record> = want.records.values().map(|r| (r.pos, r)).collect();
    let mut found = BTreeSet::new();
    for ((stream, seq), r) in &held.records {
        let orig = match stream.strip_prefix("lost_and_found/") {
            Some(_) => *by_pos
                .get(&r.pos)
                .unwrap_or_else(|| panic!("unknown pos {}", r.pos)),
            None => want
                .records
                .get(&(stream.clone(), *seq))
                .unwrap_or_else(|| panic!("{stream} {seq} is new")),
        };
        let same = Record {
            stream: orig.stream.clone(),
            seq: orig.seq,
            ..r.clone()
        };
        assert_eq!(&same, orig, "record changed\n{report}");
        found.insert((orig.stream.clone(), orig.seq));
    }
    let missing = want
        .records
        .keys()
        .filter(|k| !found.contains(*k))
        .cloned()
        .collect();
    drop(new);
    Outcome {
        code,
        report,
        held,
        missing,
    }
}

fn set(items: impl IntoIterator<Item = (String, u64)>) -> BTreeSet<(String, u64)> {
    items.into_iter().collect()
}

#[test]
fn an_undamaged_store_is_copied_exactly_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, want) = build(dir.path());
    let o = recover(dir.path(), &want);
    assert_eq!(o.code, 0, "{}", o.report);
    assert!(o.report.contains("nothing was lost"), "{}", o.report);
    assert_eq!(o.held, want);
    // The dump (seq, pos, at, ids, last seqs, last pos, kv) is the same.
    let to = dir.path().with_extension("copy");
    tools::recover(dir.path(), &to, &mut Vec::new()).expect("recover");
    let dump = |d: &Path| {
        let mut out = Vec::new();
        tools::export(d, None, &mut out).expect("export");
        String::from_utf8(out).expect("utf8")
    };
    assert_eq!(dump(&to), dump(dir.path()));
    std::fs::remove_dir_all(&to).expect("clean up");
}

#[test]
fn a_byte_flipped_mid_segment_loses_that_batch_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, want) = build(dir.path());
    let seg = &segments(dir.path())[0];
    let mut b = std::fs::read(seg).expect("read");
    let bounds = boundaries(&b);
    assert!(bounds.len() >= 4, "{bounds:?}");
    // The third frame: the second record of s1.
    b[bounds[2] + 30] ^= 0x40;
    std::fs::write(seg, &b).expect("write");
    let msg = DiskLog::open(dir.path())
        .err()
        .expect("open refuses")
        .to_string();
    assert!(msg.contains("persist recover"), "{msg}");
    std::fs::write(seg, &b).expect("write");
    let o = recover(dir.path(), &want);
    assert_eq!(o.code, 1);
    assert_eq!(o.missing, set([nth_append(3)]), "{}", o.report);
    assert!(
        o.report.contains("lost: stream \"s1\" seq 2\n"),
        "{}",
        o.report
    );
    let range = format!("bytes {}..{}", bounds[2], bounds[3]);
    assert!(o.report.contains(&range), "{}", o.report);
    // s1 keeps its seqs after the gap; seq 1 moved to lost_and_found.
    assert_eq!(o.held.last["s1"], want.last["s1"]);
    assert!(
        o.held
            .records
            .contains_key(&("lost_and_found/s1".to_string(), 1))
    );
    assert!(
        o.report
            .contains("moved: stream \"s1\" seq 1 to stream \"lost_and_found/s1\" seq 1"),
        "{}",
        o.report
    );
    assert_eq!(o.held.kv, want.kv);
}

#[test]
fn a_zeroed_or_deleted_last_segment_loses_its_batch_and_says_so() {
    for case in ["zeroed", "deleted"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, want) = build(dir.path());
        let last = segments(dir.path()).pop().expect("a segment");
        match case {
            "zeroed" => {
                let mut b = std::fs::read(&last).expect("read");
                b[32..].fill(0);
                std::fs::write(&last, &b).expect("write");
            }
            _ => std::fs::remove_file(&last).expect("remove"),
        }
        let o = recover(dir.path(), &want);
        assert_eq!(o.code, 1, "{case}");
        let tail = (1..=5).map(|s| ("tail".to_string(), s));
        assert_eq!(o.missing, set(tail), "{case}: {}", o.report);
        assert!(
            o.report.contains("lost: stream \"tail\" seqs 1-5"),
            "{case}: {}",
            o.report
        );
        assert!(
            o.report
                .contains(&last.file_name().unwrap().to_string_lossy().to_string())
        );
        // The lost seqs are not given out again.
        assert_eq!(o.held.last["tail"], 5, "{case}");
    }
}

#[test]
fn a_deleted_or_truncated_first_segment_loses_exactly_its_records() {
    for case in ["deleted", "truncated"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, want) = build(dir.path());
        let first = &segments(dir.path())[0];
        let b = std::fs::read(first).expect("read");
        let frames = boundaries(&b).len() as u64 - 1;
        let lost_from = match case {
            "deleted" => {
                std::fs::remove_file(first).expect("remove");
                1
            }
            _ => {
                std::fs::write(first, &b[..boundaries(&b)[1]]).expect("cut");
                2
            }
        };
        let o = recover(dir.path(), &want);
        assert_eq!(o.code, 1, "{case}");
        // s0 seq 1 was truncated; every other record of the segment is lost.
        let lost = (lost_from..=frames)
            .map(nth_append)
            .filter(|k| want.records.contains_key(k));
        assert_eq!(o.missing, set(lost), "{case}: {}", o.report);
        assert!(
            o.report.contains("lost: stream \"s1\""),
            "{case}: {}",
            o.report
        );
        assert_eq!(o.held.kv, want.kv);
    }
}

#[test]
fn a_damaged_manifest_or_hint_loses_nothing() {
    for (file, code) in [("manifest", 1), ("hint", 0)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, want) = build(dir.path());
        let path = dir.path().join(file);
        let mut b = std::fs::read(&path).expect("read");
        b[10] ^= 1;
        std::fs::write(&path, &b).expect("write");
        let o = recover(dir.path(), &want);
        assert_eq!(o.held, want, "{file}: {}", o.report);
        assert_eq!(o.code, code, "{file}: {}", o.report);
        assert!(
            o.report.contains(&format!("/{file}")),
            "{file}: {}",
            o.report
        );
    }
}

#[test]
fn recover_refuses_a_target_that_is_not_empty_or_inside_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(&dir.path().join("store"));
    let store = dir.path().join("store");
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).expect("mkdir");
    std::fs::write(busy.join("x"), "keep").expect("write");
    let before = files(&store);
    let e = tools::recover(&store, &busy, &mut Vec::new()).expect_err("not empty");
    assert!(e.to_string().contains("not empty"), "{e}");
    assert_eq!(std::fs::read(busy.join("x")).expect("read"), b"keep");
    let e = tools::recover(&store, &store.join("new"), &mut Vec::new()).expect_err("inside");
    assert!(e.to_string().contains("inside the damaged store"), "{e}");
    assert_eq!(files(&store), before);
    let e = tools::recover(&busy, &dir.path().join("n"), &mut Vec::new()).expect_err("no store");
    assert!(e.to_string().contains("not a persist store"), "{e}");
    assert!(!dir.path().join("n").exists());
}

#[test]
fn the_command_exits_1_when_something_was_lost_and_open_points_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    build(&store);
    let persist = |args: &[&Path]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_persist"))
            .args(args)
            .output()
            .expect("run persist")
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let out = persist(&[Path::new("recover"), &store, Path::new("--to"), &a]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let seg = &segments(&store)[0];
    let mut bytes = std::fs::read(seg).expect("read");
    bytes[40] ^= 1;
    std::fs::write(seg, &bytes).expect("write");
    let out = persist(&[Path::new("inspect"), &store]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("persist recover"), "{err}");
    let out = persist(&[Path::new("recover"), &store, Path::new("--to"), &b]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(report.contains("lost: stream \"s1\" seq 1\n"), "{report}");
    assert!(b.join("LOCK").exists());
}

#[test]
fn records_a_compaction_dropped_are_not_reported_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _) = build(dir.path());
    let log = DiskLog::open(dir.path()).expect("reopen").0;
    log.compact_segments().expect("compact");
    let store = Store::new(log);
    let want = held(&store);
    store.close().expect("close");
    let path = dir.path().join("manifest");
    let mut b = std::fs::read(&path).expect("read");
    b[10] ^= 1;
    std::fs::write(&path, &b).expect("write");
    let o = recover(dir.path(), &want);
    assert_eq!(o.held, want, "{}", o.report);
    assert!(!o.report.contains("lost:"), "{}", o.report);
    assert_eq!(o.code, 1, "a damaged manifest is reported: {}", o.report);
}

#[test]
fn a_damaged_header_of_the_only_segment_is_reported_as_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(DiskLog::open(dir.path()).expect("open").0);
    store.append("s", json!({"i": 1})).expect("append");
    store.close().expect("close");
    let only = segments(dir.path()).pop().expect("a segment");
    let mut b = std::fs::read(&only).expect("read");
    b[9] ^= 0x40;
    std::fs::write(&only, &b).expect("write");
    let want = Held {
        records: BTreeMap::new(),
        last: BTreeMap::new(),
        kv: BTreeMap::new(),
    };
    let o = recover(dir.path(), &want);
    assert_eq!(o.code, 1, "{}", o.report);
    let name = only.file_name().unwrap().to_string_lossy().to_string();
    assert!(o.report.contains(&name), "{}", o.report);
    assert!(!o.report.contains("not a persist store"), "{}", o.report);
}
