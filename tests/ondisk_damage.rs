//! The damage sweep (issue 9, "Done when"): on a store with several
//! segments, streams, kv and a compaction, every single-byte flip of every
//! file, a cut at every frame boundary of every segment, and the deletion of
//! every file end in a refusal (open fails, naming what is wrong) or in the
//! same answers from `read`/`last_seq`/`kv_get`/`kv_keys` as before; in a
//! store that was not closed, also in a reported torn-tail cut of its last
//! batch only. Never in a silent change. `verify` agrees with open: it
//! reports damage exactly when open refuses (a damaged hint, which open
//! just ignores, is the one fault open does not refuse for).

use std::collections::BTreeMap;
use std::path::Path;

use persist::Backend;
use persist::ondisk::{DiskLog, Options, verify};
use serde_json::{Value, json};

type Files = BTreeMap<String, Vec<u8>>;

/// A stream's name, last seq and records (seq, at, data).
type Stream = (String, u64, Vec<(u64, i64, Value)>);

/// What a reader sees: each stream and each key's value.
#[derive(Debug, PartialEq)]
struct View {
    streams: Vec<Stream>,
    kv: Vec<(String, Option<Value>)>,
}

fn view(log: &DiskLog) -> persist::Result<View> {
    let mut streams = Vec::new();
    for s in log.streams()? {
        let recs = log.read(&s, 0, usize::MAX)?;
        let recs = recs.into_iter().map(|r| (r.seq, r.at, r.data)).collect();
        streams.push((s.clone(), log.last_seq(&s)?, recs));
    }
    let mut kv = Vec::new();
    for k in ["k0", "k1", "k2", "k3"] {
        kv.push((k.to_string(), log.kv_get(k)?));
    }
    kv.push(("keys".into(), Some(json!(log.kv_keys("")?))));
    Ok(View { streams, kv })
}

fn opts() -> Options {
    Options {
        segment_bytes: 320,
        compact_dead_bytes: None,
        ..Options::default()
    }
}

fn ev(s: u64, i: u64) -> Value {
    json!({"s": s, "i": i, "pad": "p".repeat((i * 5 % 23) as usize)})
}

/// Streams, kv overwrites and deletes, a truncation, a compaction, and more
/// after it; closed. Returns the files and what a reader sees.
fn build(dir: &Path) -> (Files, View) {
    let log = DiskLog::open_with(dir, opts()).expect("open").0;
    for i in 1..=10 {
        log.append(&format!("s{}", i % 2), ev(i % 2, i))
            .expect("append");
        if i % 3 == 0 {
            log.kv_put(&format!("k{}", i % 4), json!(i)).expect("put");
        }
    }
    log.truncate_through("s0", 4).expect("truncate");
    log.kv_del("k1").expect("del");
    log.compact_segments().expect("compact");
    for i in 11..=16 {
        log.append(&format!("s{}", i % 2), ev(i % 2, i))
            .expect("append");
    }
    log.kv_put("k2", json!({"after": "compaction"}))
        .expect("put");
    log.append_all("s1", vec![ev(1, 17), ev(1, 18)])
        .expect("append_all");
    assert!(log.stats().segments >= 3, "{:?}", log.stats());
    let want = view(&log).expect("view");
    log.close().expect("close");
    (files(dir), want)
}

fn files(dir: &Path) -> Files {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

fn restore(dir: &Path, fs: &Files) {
    for e in std::fs::read_dir(dir).expect("list") {
        std::fs::remove_file(e.expect("entry").path()).expect("remove");
    }
    for (name, bytes) in fs {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
}

/// Frame boundaries of a segment file (after its 32-byte header; each
/// frame is a 24-byte header, whose bytes 4..8 give the payload length,
/// and the payload).
fn boundaries(b: &[u8]) -> Vec<usize> {
    let mut out = vec![32];
    let mut off = 32;
    while off + 24 <= b.len() {
        let len = u32::from_le_bytes([b[off + 4], b[off + 5], b[off + 6], b[off + 7]]) as usize;
        if len == 0 || off + 24 + len > b.len() {
            break;
        }
        off += 24 + len;
        out.push(off);
    }
    out
}

#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    refused: usize,
    unchanged: usize,
    torn: usize,
}

/// Opens the damaged copy in `dir`; panics on a silent change. `prefix` is
/// what may come back with a reported torn tail (a store not closed).
fn judge(dir: &Path, case: &str, want: &View, prefix: Option<&View>, t: &mut Tally) {
    t.cases += 1;
    let v = verify(dir).unwrap_or_else(|e| panic!("{case}: verify failed to run: {e}"));
    let hint_only = v.faults.iter().all(|f| f.path.ends_with("hint"));
    match DiskLog::open_with(dir, opts()) {
        Err(_) => {
            assert!(!v.is_ok(), "{case}: open refused, verify passed: {v:?}");
            t.refused += 1;
        }
        Ok((log, report)) => {
            assert!(
                hint_only,
                "{case}: open passed, verify found {:?}",
                v.faults
            );
            let got = view(&log).unwrap_or_else(|e| panic!("{case}: read failed after open: {e}"));
            if &got == want {
                t.unchanged += 1;
            } else if report.torn.is_some() && Some(&got) == prefix {
                t.torn += 1;
            } else {
                panic!("{case}: silent change (report {report:?})\ngot  {got:?}\nwant {want:?}");
            }
        }
    }
}

fn sweep(base: &Files, work: &Path, want: &View, prefix: Option<&View>, t: &mut Tally) {
    for (name, bytes) in base {
        for i in 0..bytes.len() {
            let mut fs = base.clone();
            fs.get_mut(name).expect("file")[i] ^= 0xff;
            restore(work, &fs);
            judge(work, &format!("flip {name}[{i}]"), want, prefix, t);
        }
        let mut fs = base.clone();
        fs.remove(name);
        restore(work, &fs);
        judge(work, &format!("delete {name}"), want, prefix, t);
    }
}

#[test]
fn every_flip_cut_and_deletion_of_a_closed_store_is_refused_or_harmless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, want) = build(dir.path());
    let work = tempfile::tempdir().expect("tempdir");
    let mut t = Tally::default();
    sweep(&base, work.path(), &want, None, &mut t);
    for (name, bytes) in base.iter().filter(|(n, _)| n.ends_with(".log")) {
        for cut in boundaries(bytes) {
            if cut == bytes.len() {
                continue;
            }
            let mut fs = base.clone();
            fs.get_mut(name).expect("file").truncate(cut);
            restore(work.path(), &fs);
            judge(
                work.path(),
                &format!("cut {name} at {cut}"),
                &want,
                None,
                &mut t,
            );
        }
    }
    eprintln!("closed store: {t:?}");
    assert_eq!(t.torn, 0, "a closed store has no torn tail");
    assert!(t.cases > 1500 && t.refused > 0 && t.unchanged > 0, "{t:?}");
}

/// Not closed: the last batch (two events) was acknowledged after the last
/// close, so only it may be cut, and only with a report.
#[test]
fn every_flip_and_deletion_of_a_crashed_store_is_refused_harmless_or_a_torn_last_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, prefix) = build(dir.path());
    let log = DiskLog::open_with(dir.path(), opts()).expect("reopen").0;
    log.append_all("s1", vec![ev(1, 19), ev(1, 20)])
        .expect("append_all");
    let want = view(&log).expect("view");
    drop(log); // as by a crash: no close
    let base = files(dir.path());
    let work = tempfile::tempdir().expect("tempdir");
    let mut t = Tally::default();
    sweep(&base, work.path(), &want, Some(&prefix), &mut t);
    eprintln!("crashed store: {t:?}");
    assert!(t.cases > 1500 && t.refused > 0 && t.torn > 0, "{t:?}");
}
