//! Model test for the global log (SPEC 3.12): random interleavings of
//! appends, batches, idempotent appends, truncations, compactions and
//! reopens over several streams; `read_all`, `read_category`, `last_pos` and
//! `append_once` on every backend (mem, mock durable, on-disk) equal what a
//! simple model computes, before and after reopen.

use std::collections::HashMap;

use persist::durable::{Disk, mock_durable};
use persist::ondisk::{DiskLog, Options};
use persist::{Backend, Record, Store, Value, category_of};
use proptest::prelude::*;
use serde_json::json;

const STREAMS: [&str; 4] = ["user-1", "user-2", "order-1", "audit"];
const CATEGORIES: [&str; 4] = ["user", "order", "audit", "none"];
const IDS: [&str; 5] = ["i0", "i1", "i2", "i3", "i4"];

#[derive(Debug, Clone)]
enum Op {
    Append(usize, Vec<u32>),
    AppendOnce(usize, usize, u32),
    Truncate(usize, u64),
    Read(u64, usize),
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..4usize, prop::collection::vec(any::<u32>(), 1..4)).prop_map(|(s, v)| Op::Append(s, v)),
        3 => (0..4usize, 0..5usize, any::<u32>()).prop_map(|(s, i, v)| Op::AppendOnce(s, i, v)),
        2 => (0..4usize, 0..12u64).prop_map(|(s, q)| Op::Truncate(s, q)),
        3 => (0..30u64, 0..6usize).prop_map(|(a, l)| Op::Read(a, l)),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn event(v: u32) -> Value {
    json!({"v": v, "pad": "x".repeat((v % 61) as usize)})
}

/// What the global log must hold: live records in pos order.
#[derive(Default)]
struct Model {
    live: Vec<Record>,
    last_pos: u64,
    last_seq: HashMap<String, u64>,
    ids: HashMap<String, (String, u64)>,
}

impl Model {
    fn append(&mut self, stream: &str, events: Vec<Value>, id: Option<&str>) -> u64 {
        let last = self.last_seq.entry(stream.to_string()).or_default();
        for data in events {
            *last += 1;
            self.last_pos += 1;
            self.live.push(Record {
                stream: stream.to_string(),
                seq: *last,
                pos: self.last_pos,
                at: 0,
                id: id.map(str::to_string),
                data,
            });
        }
        *last
    }

    fn append_once(&mut self, stream: &str, id: &str, event: Value) -> Result<u64, ()> {
        match self.ids.get(id) {
            Some((s, seq)) if s == stream => Ok(*seq),
            Some(_) => Err(()),
            None => {
                let seq = self.append(stream, vec![event], Some(id));
                self.ids.insert(id.to_string(), (stream.to_string(), seq));
                Ok(seq)
            }
        }
    }

    fn truncate(&mut self, stream: &str, through: u64) -> u64 {
        let before = self.live.len();
        self.live.retain(|r| r.stream != stream || r.seq > through);
        (before - self.live.len()) as u64
    }

    fn read(&self, category: Option<&str>, after: u64, limit: usize) -> Vec<Record> {
        self.live
            .iter()
            .filter(|r| r.pos > after && category.is_none_or(|c| category_of(&r.stream) == c))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// A backend under test; `reopen` is a restart where the backend has one.
enum Subject {
    Mem(Store),
    Mock(Disk, Store),
    Disk(tempfile::TempDir, Box<Option<DiskLog>>),
}

fn disk_opts() -> Options {
    Options {
        segment_bytes: 400,
        compact_dead_bytes: Some(800),
        ..Options::default()
    }
}

impl Subject {
    fn backend(&self) -> &dyn Backend {
        match self {
            Subject::Mem(s) | Subject::Mock(_, s) => s.backend().expect("open"),
            Subject::Disk(_, log) => log.as_ref().as_ref().expect("open"),
        }
    }

    fn reopen(&mut self) {
        match self {
            Subject::Mem(_) => {}
            Subject::Mock(disk, s) => *s = mock_durable(disk),
            Subject::Disk(dir, log) => {
                log.take().expect("open").close().expect("close");
                **log = Some(
                    DiskLog::open_with(dir.path(), disk_opts())
                        .expect("reopen")
                        .0,
                );
            }
        }
    }

    fn compact(&self) {
        if let Subject::Disk(_, log) = self {
            log.as_ref()
                .as_ref()
                .expect("open")
                .compact_segments()
                .expect("compact");
        }
    }
}

/// Records without `at`, which the model does not know.
fn strip(mut rs: Vec<Record>) -> Vec<Record> {
    for r in &mut rs {
        r.at = 0;
    }
    rs
}

fn check(m: &Model, b: &dyn Backend, after: u64, limit: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(b.last_pos().expect("last_pos"), m.last_pos);
    prop_assert_eq!(
        strip(b.read_all(after, limit).expect("read_all")),
        m.read(None, after, limit)
    );
    for c in CATEGORIES {
        let got = strip(b.read_category(c, after, limit).expect("read_category"));
        prop_assert_eq!(got, m.read(Some(c), after, limit), "category {}", c);
    }
    Ok(())
}

fn run(mut subject: Subject, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut m = Model::default();
    for op in ops {
        let b = subject.backend();
        match op {
            Op::Append(s, vs) => {
                let evs: Vec<Value> = vs.into_iter().map(event).collect();
                let got = b.append_all(STREAMS[s], evs.clone()).expect("append");
                prop_assert_eq!(got, m.append(STREAMS[s], evs, None));
            }
            Op::AppendOnce(s, i, v) => {
                let got = b.append_once(STREAMS[s], IDS[i], event(v)).map_err(drop);
                prop_assert_eq!(got, m.append_once(STREAMS[s], IDS[i], event(v)));
            }
            Op::Truncate(s, q) => {
                let got = b.truncate_through(STREAMS[s], q).expect("truncate");
                prop_assert_eq!(got, m.truncate(STREAMS[s], q));
            }
            Op::Read(after, limit) => check(&m, b, after, limit)?,
            Op::Compact => subject.compact(),
            Op::Reopen => subject.reopen(),
        }
    }
    check(&m, subject.backend(), 0, usize::MAX)?;
    subject.reopen();
    check(&m, subject.backend(), 0, usize::MAX)?;
    for (id, (stream, seq)) in &m.ids {
        let again = subject.backend().append_once(stream, id, json!(0));
        prop_assert_eq!(again.ok(), Some(*seq), "id {} after reopen", id);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mem_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(Subject::Mem(Store::mem()), ops)?;
    }

    #[test]
    fn mock_durable_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let disk = Disk::mem();
        let store = mock_durable(&disk);
        run(Subject::Mock(disk, store), ops)?;
    }

    #[test]
    fn disk_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = DiskLog::open_with(dir.path(), disk_opts()).expect("open").0;
        run(Subject::Disk(dir, Box::new(Some(log))), ops)?;
    }
}
