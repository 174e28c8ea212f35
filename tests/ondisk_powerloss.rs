//! Power-loss simulation (issue 9, "Test what SIGKILL cannot"). SIGKILL
//! keeps the page cache, so a missing fsync or directory fsync passes every
//! kill test. Here every file operation the store makes is traced
//! (`Options::trace`), a model of the file system keeps apart what was made
//! durable (a file's data by its fsync, a directory's entries by the
//! directory's fsync) from what was not, and at every point of a random
//! operation sequence (with rolls, compactions, closes and reopens) the
//! images a power loss could leave are built and reopened (`Op::Close`
//! here closes and reopens):
//! - only what was durable;
//! - everything (the page cache happened to reach the disk);
//! - durable directory entries with all data, and all entries with only
//!   durable data (each half of the cache lost);
//! - only what was durable, plus the first half of the last unsynced write
//!   (a torn write).
//!
//! Each must open, without a refusal, to exactly the acknowledged state, or
//! to it plus the operation in flight at the crash (whose batch may or may
//! not have reached the disk).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use persist::Backend;
use persist::mem::MemBackend;
use persist::ondisk::{DiskLog, IoEvent, Options};
use proptest::prelude::*;
use serde_json::Value;

mod common;
use common::{Op, apply, op};

/// A file's bytes: durable (as of its last fsync) and current.
#[derive(Clone, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
}

/// What the store's directory holds after a prefix of the trace.
#[derive(Clone, Default)]
struct Fs {
    inodes: Vec<Inode>,
    /// Entries as the directory has them now, and as last fsync'd.
    current: BTreeMap<String, usize>,
    durable: BTreeMap<String, usize>,
    /// The last write not yet covered by an fsync of its file.
    unsynced: Option<(usize, u64, Vec<u8>)>,
}

fn name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

impl Fs {
    fn ino(&self, p: &Path) -> usize {
        *self
            .current
            .get(&name(p))
            .unwrap_or_else(|| panic!("no file {}", p.display()))
    }

    fn apply(&mut self, e: &IoEvent) {
        match e {
            IoEvent::Create(p) => match self.current.get(&name(p)) {
                Some(&i) => self.inodes[i].current.clear(),
                None => {
                    self.inodes.push(Inode::default());
                    self.current.insert(name(p), self.inodes.len() - 1);
                }
            },
            IoEvent::Write { path, off, bytes } => {
                let i = self.ino(path);
                let f = &mut self.inodes[i].current;
                let end = *off as usize + bytes.len();
                if f.len() < end {
                    f.resize(end, 0);
                }
                f[*off as usize..end].copy_from_slice(bytes);
                self.unsynced = Some((i, *off, bytes.clone()));
            }
            IoEvent::SetLen { path, len } => {
                let i = self.ino(path);
                self.inodes[i].current.resize(*len as usize, 0);
            }
            IoEvent::Sync(p) => {
                let i = self.ino(p);
                self.inodes[i].durable = self.inodes[i].current.clone();
                if self.unsynced.as_ref().is_some_and(|u| u.0 == i) {
                    self.unsynced = None;
                }
            }
            IoEvent::SyncDir(_) => self.durable = self.current.clone(),
            IoEvent::Rename { from, to } => {
                let i = self.current.remove(&name(from)).expect("rename source");
                self.current.insert(name(to), i);
            }
            IoEvent::Remove(p) => {
                self.current.remove(&name(p));
            }
        }
    }

    /// The images a power loss at this point could leave, with a label.
    fn images(&self) -> Vec<(&'static str, BTreeMap<String, Vec<u8>>)> {
        let build = |ents: &BTreeMap<String, usize>, durable_data: bool| {
            ents.iter()
                .map(|(n, &i)| {
                    let f = &self.inodes[i];
                    let b = if durable_data { &f.durable } else { &f.current };
                    (n.clone(), b.clone())
                })
                .collect::<BTreeMap<_, _>>()
        };
        let mut out = vec![
            ("durable", build(&self.durable, true)),
            ("everything", build(&self.current, false)),
            ("entries durable, data all", build(&self.durable, false)),
            ("entries all, data durable", build(&self.current, true)),
        ];
        if let Some((i, off, bytes)) = &self.unsynced {
            let mut img = build(&self.durable, true);
            if let Some((n, _)) = self.durable.iter().find(|(_, j)| *j == i) {
                let f = img.get_mut(n).expect("file");
                let half = &bytes[..bytes.len().div_ceil(2)];
                let end = *off as usize + half.len();
                if f.len() < end {
                    f.resize(end, 0);
                }
                f[*off as usize..end].copy_from_slice(half);
                out.push(("durable + half the last write", img));
            }
        }
        out
    }
}

type View = (
    Vec<(String, u64, Vec<(u64, Value)>)>,
    Vec<(String, Option<Value>)>,
);

fn view(b: &dyn Backend) -> View {
    let mut streams = Vec::new();
    for s in b.streams().expect("streams") {
        let recs = b.read(&s, 0, usize::MAX).expect("read");
        let recs = recs.into_iter().map(|r| (r.seq, r.data)).collect();
        streams.push((s.clone(), b.last_seq(&s).expect("last"), recs));
    }
    let kv = (0..3)
        .map(|i| format!("k{i}"))
        .map(|k| {
            let v = b.kv_get(&k).expect("get");
            (k, v)
        })
        .collect();
    (streams, kv)
}

fn opts(trace: Option<persist::ondisk::TraceHook>) -> Options {
    Options {
        segment_bytes: 600,
        compact_dead_bytes: Some(900),
        trace,
        ..Options::default()
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let events: Arc<Mutex<Vec<IoEvent>>> = Arc::default();
    let sink = events.clone();
    let trace: persist::ondisk::TraceHook = Arc::new(move |e| sink.lock().expect("trace").push(e));
    let count = || events.lock().expect("trace").len();

    // views[i]: the state after the first i ops; spans[i]: the trace
    // positions where op i started and returned.
    let model = MemBackend::new();
    let mut views = vec![view(&model)];
    let mut spans = Vec::new();
    let mut log = DiskLog::open_with(dir.path(), opts(Some(trace.clone())))
        .expect("open")
        .0;
    for op in &ops {
        let start = count();
        match op {
            Op::Close => {
                log.close().expect("close");
                log = DiskLog::open_with(dir.path(), opts(Some(trace.clone())))
                    .expect("reopen")
                    .0;
            }
            op => apply(&log, Some(&log), op).expect("op"),
        }
        if !matches!(op, Op::Close) {
            apply(&model, None, op).expect("model");
        }
        spans.push((start, count()));
        views.push(view(&model));
    }
    drop(log);

    let events = events.lock().expect("trace").clone();
    let work = tempfile::tempdir().expect("tempdir");
    let mut fs = Fs::default();
    let mut images = 0;
    for k in 0..=events.len() {
        if k > 0 {
            fs.apply(&events[k - 1]);
        }
        // Ops that returned before the crash; one more may be in flight.
        let acked = spans.iter().filter(|&&(_, end)| end <= k).count();
        let in_flight = spans.iter().any(|&(start, end)| start < k && k < end);
        for (label, img) in fs.images() {
            images += 1;
            for e in std::fs::read_dir(work.path()).expect("list") {
                std::fs::remove_file(e.expect("entry").path()).expect("clear");
            }
            for (n, b) in &img {
                std::fs::write(work.path().join(n), b).expect("write image");
            }
            let case = format!("crash after event {k} of {}, image {label:?}", events.len());
            let (log, _) = DiskLog::open_with(work.path(), opts(None))
                .unwrap_or_else(|e| panic!("{case}: refused: {e}\nevents: {:?}", &events[..k]));
            let got = view(&log);
            let ok = got == views[acked] || (in_flight && got == views[acked + 1]);
            prop_assert!(
                ok,
                "{}: {} ops acknowledged{}\ngot  {:?}\nwant {:?}",
                case,
                acked,
                if in_flight { ", one in flight" } else { "" },
                got,
                views[acked]
            );
        }
    }
    prop_assert!(images > events.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn every_power_loss_image_reopens_to_the_acknowledged_state(
        ops in prop::collection::vec(op(), 1..25),
    ) {
        run(ops)?;
    }
}

#[test]
fn a_sequence_with_rolls_compactions_and_reopens_survives_every_power_loss() {
    let mut ops = Vec::new();
    for i in 0..12u16 {
        ops.push(Op::Append((i % 3) as u8, i * 37));
        ops.push(Op::Put((i % 3) as u8, i));
        if i % 4 == 3 {
            ops.push(Op::Truncate((i % 3) as u8, (i / 2) as u8));
            ops.push(Op::Compact);
        }
        if i % 5 == 4 {
            ops.push(Op::Close);
            ops.push(Op::Del((i % 3) as u8));
        }
    }
    ops.push(Op::AppendAll(1, 5));
    run(ops).expect("power loss");
}
