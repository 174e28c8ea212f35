//! Model test: random operation sequences give the same answers on the
//! on-disk backend (with reopens and compactions in between, and tiny
//! segments so rolling happens constantly) as on the memory backend.

use persist::mem::MemBackend;
use persist::ondisk::{DiskLog, Options};
use persist::{Backend, Record, Value};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    Append(usize, u32),
    AppendAll(usize, Vec<u32>),
    AppendExpect(usize, i8),
    Read(usize, u64, usize),
    Truncate(usize, u64),
    Put(usize, u32),
    Get(usize),
    Del(usize),
    Keys(usize),
    Restore(usize, u64, usize),
    Reopen,
    Compact,
}

const STREAMS: [&str; 3] = ["a", "b", "orders/eu"];
const KEYS: [&str; 4] = ["k1", "k2", "snapshot/x", "position/y"];
const PREFIXES: [&str; 4] = ["", "k", "snapshot/", "zz"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, any::<u32>()).prop_map(|(s, v)| Op::Append(s, v)),
        2 => (0..3usize, prop::collection::vec(any::<u32>(), 0..5)).prop_map(|(s, v)| Op::AppendAll(s, v)),
        2 => (0..3usize, -1i8..=1).prop_map(|(s, d)| Op::AppendExpect(s, d)),
        3 => (0..3usize, 0..25u64, 0..8usize).prop_map(|(s, a, l)| Op::Read(s, a, l)),
        2 => (0..3usize, 0..25u64).prop_map(|(s, q)| Op::Truncate(s, q)),
        3 => (0..4usize, any::<u32>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0..4usize).prop_map(Op::Get),
        1 => (0..4usize).prop_map(Op::Del),
        1 => (0..4usize).prop_map(Op::Keys),
        1 => (0..2usize, 0..6u64, 0..4usize).prop_map(|(s, l, n)| Op::Restore(s, l, n)),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

/// An event whose size varies, so frames straddle the tiny segment limit.
fn event(v: u32) -> Value {
    json!({"v": v, "pad": "x".repeat((v % 97) as usize)})
}

fn strip(rs: Vec<Record>) -> Vec<(String, u64, Value)> {
    rs.into_iter().map(|r| (r.stream, r.seq, r.data)).collect()
}

fn opts() -> Options {
    Options {
        segment_bytes: 300,
        compact_dead_bytes: Some(600),
        ..Options::default()
    }
}

/// Every record with its `at`, to check that `at` survives a reopen.
fn everything(b: &dyn Backend) -> Vec<Record> {
    let mut out = Vec::new();
    for s in b.streams().expect("streams") {
        out.extend(b.read(&s, 0, usize::MAX).expect("read"));
    }
    out
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mem = MemBackend::new();
    let mut disk = DiskLog::open_with(dir.path(), opts()).expect("open").0;
    for op in ops {
        match op {
            Op::Append(s, v) => {
                prop_assert_eq!(
                    mem.append(STREAMS[s], event(v)).ok(),
                    disk.append(STREAMS[s], event(v)).ok()
                );
            }
            Op::AppendAll(s, vs) => {
                let evs: Vec<Value> = vs.into_iter().map(event).collect();
                prop_assert_eq!(
                    mem.append_all(STREAMS[s], evs.clone()).ok(),
                    disk.append_all(STREAMS[s], evs).ok()
                );
            }
            Op::AppendExpect(s, d) => {
                let expected = mem
                    .last_seq(STREAMS[s])
                    .expect("last")
                    .saturating_add_signed(d as i64);
                prop_assert_eq!(
                    mem.append_expect(STREAMS[s], expected, event(d as u32))
                        .ok(),
                    disk.append_expect(STREAMS[s], expected, event(d as u32))
                        .ok()
                );
            }
            Op::Read(s, after, limit) => {
                let m = strip(mem.read(STREAMS[s], after, limit).expect("mem read"));
                let d = strip(disk.read(STREAMS[s], after, limit).expect("disk read"));
                prop_assert_eq!(m, d);
                prop_assert_eq!(
                    mem.last_seq(STREAMS[s]).ok(),
                    disk.last_seq(STREAMS[s]).ok()
                );
            }
            Op::Truncate(s, q) => {
                prop_assert_eq!(
                    mem.truncate_through(STREAMS[s], q).ok(),
                    disk.truncate_through(STREAMS[s], q).ok()
                );
            }
            Op::Put(k, v) => {
                prop_assert_eq!(
                    mem.kv_put(KEYS[k], event(v)).ok(),
                    disk.kv_put(KEYS[k], event(v)).ok()
                );
            }
            Op::Get(k) => prop_assert_eq!(mem.kv_get(KEYS[k]).ok(), disk.kv_get(KEYS[k]).ok()),
            Op::Del(k) => prop_assert_eq!(mem.kv_del(KEYS[k]).ok(), disk.kv_del(KEYS[k]).ok()),
            Op::Keys(p) => prop_assert_eq!(
                mem.kv_keys(PREFIXES[p]).ok(),
                disk.kv_keys(PREFIXES[p]).ok()
            ),
            Op::Restore(s, last, n) => {
                let stream = ["r1", "r2"][s];
                let first = (last + 1).saturating_sub(n as u64).max(1);
                let recs: Vec<Record> = (first..=last)
                    .map(|seq| Record {
                        stream: stream.into(),
                        seq,
                        // Far above appended positions; one range per stream.
                        pos: 1_000_000 * (s as u64 + 1) + seq,
                        at: 1000 + seq as i64,
                        id: None,
                        data: event(seq as u32),
                    })
                    .collect();
                prop_assert_eq!(
                    mem.restore(stream, last, recs.clone()).is_ok(),
                    disk.restore(stream, last, recs).is_ok()
                );
            }
            Op::Reopen => {
                let before = everything(&disk);
                disk.close().expect("close");
                disk = DiskLog::open_with(dir.path(), opts()).expect("reopen").0;
                prop_assert_eq!(before, everything(&disk), "records or their `at` changed");
            }
            Op::Compact => {
                disk.compact_segments().expect("compact");
            }
        }
        prop_assert_eq!(mem.streams().ok(), disk.streams().ok());
    }
    for s in mem.streams().expect("streams") {
        let m = strip(mem.read(&s, 0, usize::MAX).expect("read"));
        prop_assert_eq!(m, strip(disk.read(&s, 0, usize::MAX).expect("read")));
    }
    prop_assert_eq!(mem.kv_keys("").ok(), disk.kv_keys("").ok());
    drop(disk); // verify refuses a store in use
    let report = persist::ondisk::verify(dir.path()).expect("verify");
    prop_assert!(report.is_ok(), "verify: {:?}", report);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn disk_matches_memory(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
