//! Durable evidence against silent loss (issue 9, items 1-3, 6-7): the
//! manifest records which segments a store holds and how much of each was
//! durable, so damage to a cleanly closed store that would read as a
//! shorter valid log (zeros, a cut at a frame boundary, a deleted segment,
//! a damaged last frame) is refused, naming the file and offset, by open
//! and by `verify` alike. Read-only opens change nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use persist::ondisk::{DiskLog, IoPoint, Options, verify};
use persist::{Backend, Error};
use serde_json::{Value, json};

mod files;
use files::files as snapshot;

fn ev(i: u64) -> Value {
    json!({"i": i, "text": format!("event number {i}")})
}

fn seg(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:012}.log"))
}

/// Where each batch of the last segment starts, and where the last ends.
fn frame_starts(log: &DiskLog, n: u64) -> (Vec<u64>, u64) {
    let mut starts = Vec::new();
    for i in 1..=n {
        starts.push(log.stats().bytes);
        log.append("s", ev(i)).expect("append");
    }
    (starts, log.stats().bytes)
}

/// A closed one-segment store of `n` single-event batches.
fn closed(dir: &Path, n: u64) -> (Vec<u64>, u64) {
    let log = DiskLog::open(dir).expect("open").0;
    let r = frame_starts(&log, n);
    log.close().expect("close");
    r
}

/// Open and verify both refuse, naming `file` and `offset`; nothing in the
/// directory changed.
fn refused(dir: &Path, file: &Path, offset: u64) -> String {
    let before = snapshot(dir);
    let v = verify(dir).expect("verify runs");
    assert!(!v.is_ok(), "verify passed a damaged store: {v:?}");
    assert_eq!(
        (&v.faults[0].path, v.faults[0].offset),
        (&file.to_path_buf(), offset),
        "{v:?}"
    );
    assert_eq!(snapshot(dir), before, "verify changed the directory");
    assert!(
        DiskLog::open_read_only(dir).is_err(),
        "read-only open passed"
    );
    assert_eq!(
        snapshot(dir),
        before,
        "read-only open changed the directory"
    );
    let e = DiskLog::open(dir).err().expect("open must refuse");
    let msg = e.to_string();
    match e {
        Error::Corrupt {
            path, offset: at, ..
        } => {
            assert_eq!((path.as_path(), at), (file, offset), "{msg}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let mut after = snapshot(dir);
    after.remove("LOCK");
    let mut want = before;
    want.remove("LOCK");
    assert_eq!(after, want, "a refused open changed the directory");
    msg
}

/// Item 1: the last segment zeroed after its header reads as free space;
/// the manifest says its batches were durable.
#[test]
fn zeroed_tail_of_a_closed_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (starts, end) = closed(dir.path(), 5);
    let path = seg(dir.path(), 1);
    let mut b = std::fs::read(&path).expect("read");
    b[starts[0] as usize..].fill(0);
    std::fs::write(&path, b).expect("write");
    let msg = refused(dir.path(), &path, starts[0]);
    assert!(
        msg.contains(&format!(
            "durable up to offset {end} with 5 records and kv values, 0 of them before this offset"
        )),
        "{msg}"
    );
}

/// A store without a manifest (written before it existed) has the hint as
/// evidence of how much of its last segment was durable: zeros from a
/// frame on, and a cut at a frame boundary (the hint then no longer
/// matches the segment, so it is set aside, but is still the evidence).
#[test]
fn without_a_manifest_the_hint_is_the_evidence() {
    for cut in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (starts, _) = closed(dir.path(), 5);
        std::fs::remove_file(dir.path().join("manifest")).expect("remove manifest");
        let path = seg(dir.path(), 1);
        let mut b = std::fs::read(&path).expect("read");
        match cut {
            true => b.truncate(starts[3] as usize),
            false => b[starts[3] as usize..].fill(0),
        }
        std::fs::write(&path, b).expect("write");
        let msg = refused(dir.path(), &path, starts[3]);
        assert!(msg.contains("the hint records"), "cut {cut}: {msg}");
    }
}

/// Item 2: cut at every frame boundary, down to its header.
#[test]
fn truncating_a_closed_store_at_a_frame_boundary_is_refused() {
    let base = tempfile::tempdir().expect("tempdir");
    let (starts, end) = closed(base.path(), 4);
    for &cut in &starts {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in snapshot(base.path()) {
            std::fs::write(dir.path().join(name), bytes).expect("copy");
        }
        let path = seg(dir.path(), 1);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_len(cut).expect("cut");
        drop(f);
        let msg = refused(dir.path(), &path, cut);
        assert!(msg.contains(&format!("{} bytes", end - cut)), "{msg}");
        assert!(msg.contains("with 4 records and kv values"), "{msg}");
    }
}

/// Item 3: a closed store has no torn tail.
#[test]
fn a_flipped_byte_in_the_last_frame_of_a_closed_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (starts, end) = closed(dir.path(), 3);
    let path = seg(dir.path(), 1);
    let mut b = std::fs::read(&path).expect("read");
    b[end as usize - 3] ^= 0x20;
    std::fs::write(&path, b).expect("write");
    refused(dir.path(), &path, starts[2]);
}

/// A store of several segments (segment 1 through the active one).
fn several(dir: &Path) -> u64 {
    let o = Options {
        segment_bytes: 300,
        ..Options::default()
    };
    let log = DiskLog::open_with(dir, o).expect("open").0;
    for i in 1..=12 {
        log.append("s", ev(i)).expect("append");
    }
    log.kv_put("k", json!(1)).expect("put");
    let n = log.stats().segments as u64;
    log.close().expect("close");
    assert!(n >= 3, "{n} segments");
    n
}

/// Deletes the first, the last and a middle segment of `several` stores
/// (without their manifest when `legacy`): each must be refused; gives
/// each refusal's message.
fn refused_without_each_segment(legacy: bool) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for which in ["first", "last", "middle"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = several(dir.path());
        if legacy {
            std::fs::remove_file(dir.path().join("manifest")).expect("remove manifest");
        }
        let id = match which {
            "first" => 1,
            "last" => n,
            _ => 2,
        };
        let path = seg(dir.path(), id);
        std::fs::remove_file(&path).expect("remove");
        out.push((which, refused(dir.path(), &path, 0)));
    }
    out
}

#[test]
fn deleting_the_first_or_the_last_segment_is_refused() {
    for (which, msg) in refused_without_each_segment(false) {
        assert!(msg.contains("missing"), "{which}: {msg}");
        assert!(msg.contains("records and kv values"), "{which}: {msg}");
    }
}

/// Without a manifest, deleting a segment leaves a store that can read as
/// a shorter valid log; the hint still names the segment.
#[test]
fn without_a_manifest_deleting_a_segment_the_hint_names_is_refused() {
    for (which, msg) in refused_without_each_segment(true) {
        assert!(
            msg.contains("missing; the hint records it"),
            "{which}: {msg}"
        );
    }
}

/// The hint covers every segment; its frames are checked on open by two
/// threads, each taking segments in turn. Damage in two segments is
/// reported at the earlier one, whichever thread found which.
#[test]
fn damage_under_the_hint_is_refused_at_the_earliest_segment() {
    // A segment starts with a 32-byte header; its first frame's 24-byte
    // header is followed by the batch, where one flipped byte fails the CRC.
    const FIRST_FRAME: u64 = 32;
    for (hit, also) in [(2, None), (2, Some(3)), (1, Some(3))] {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = several(dir.path());
        assert!(
            dir.path().join("hint").exists(),
            "a closed store has a hint"
        );
        let flip = |id: u64| {
            let path = seg(dir.path(), id);
            let mut b = std::fs::read(&path).expect("read");
            b[FIRST_FRAME as usize + 24 + 2] ^= 0x01;
            std::fs::write(&path, b).expect("write");
        };
        flip(hit);
        if let Some(other) = also.filter(|&o| o <= n) {
            flip(other);
        }
        refused(dir.path(), &seg(dir.path(), hit), FIRST_FRAME);
    }
}

#[test]
fn a_sealed_segment_longer_than_listed_or_an_unlisted_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = several(dir.path());
    let path = seg(dir.path(), 1);
    let len = std::fs::metadata(&path).expect("stat").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_len(len + 100).expect("extend");
    drop(f);
    refused(dir.path(), &path, len);
    f_set_len(&path, len);

    let extra = seg(dir.path(), n + 1);
    std::fs::copy(seg(dir.path(), n), &extra).expect("copy");
    let msg = refused(dir.path(), &extra, 0);
    assert!(msg.contains("not listed"), "{msg}");
}

fn f_set_len(path: &Path, len: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    f.set_len(len).expect("set length");
}

/// The manifest is evidence recovery cannot judge without: damage to it
/// stops the open (and is a fault to `verify`), naming it.
#[test]
fn a_damaged_manifest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    several(dir.path());
    let path = dir.path().join("manifest");
    let mut b = std::fs::read(&path).expect("read");
    b[10] ^= 1;
    std::fs::write(&path, b).expect("write");
    refused(dir.path(), &path, 0);
}

/// A store that was not closed keeps what its last close made durable: a
/// later batch is the only thing a torn tail may take.
#[test]
fn after_a_crash_only_batches_past_the_last_close_can_be_torn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, end) = closed(dir.path(), 3);
    let log = DiskLog::open(dir.path()).expect("reopen").0;
    log.append("s", ev(4)).expect("append");
    drop(log); // a crash: no close
    let path = seg(dir.path(), 1);
    let mut b = std::fs::read(&path).expect("read");
    b[end as usize - 3] ^= 0x20; // inside batch 3, durable at the close
    std::fs::write(&path, &b).expect("write");
    assert!(
        DiskLog::open(dir.path()).is_err(),
        "damage before the durable end was cut"
    );
    b[end as usize - 3] ^= 0x20;
    b[end as usize + 30] ^= 0x20; // inside batch 4, after the close
    std::fs::write(&path, &b).expect("write");
    let (log, report) = DiskLog::open(dir.path()).expect("open");
    let torn = report.torn.expect("torn tail reported");
    assert_eq!(torn.offset, end);
    assert_eq!(log.last_seq("s").expect("last"), 3);
}

/// Read-only opens (the tools) create nothing in an empty or unrelated
/// directory and cut nothing in a damaged store; they report what the next
/// open would do.
#[test]
fn read_only_open_changes_nothing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let e = DiskLog::open_read_only(empty.path())
        .err()
        .expect("no store");
    assert!(
        e.to_string().contains("not a persist store: no segments"),
        "{e}"
    );
    assert!(verify(empty.path()).is_err());
    assert!(snapshot(empty.path()).is_empty(), "created files");

    let dir = tempfile::tempdir().expect("tempdir");
    let (_, end) = closed(dir.path(), 3);
    let log = DiskLog::open(dir.path()).expect("reopen").0;
    log.append("s", ev(4)).expect("append");
    drop(log);
    std::fs::write(dir.path().join("hint.tmp"), b"junk").expect("write");
    let path = seg(dir.path(), 1);
    let mut b = std::fs::read(&path).expect("read");
    b[end as usize + 30] ^= 0x20;
    std::fs::write(&path, &b).expect("write");
    let before = snapshot(dir.path());
    let (log, report) = DiskLog::open_read_only(dir.path()).expect("read-only open");
    assert_eq!(
        report.torn.as_ref().map(|t| t.offset),
        Some(end),
        "{report:?}"
    );
    assert!(
        report.notes.iter().any(|n| n.contains("hint.tmp")),
        "{report:?}"
    );
    assert_eq!(log.last_seq("s").expect("last"), 3);
    assert!(
        log.append("s", ev(5)).is_err(),
        "read-only store accepted a write"
    );
    assert!(
        matches!(DiskLog::open(dir.path()), Err(Error::Locked { .. })),
        "a writer opened a store being read"
    );
    log.close().expect("close");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "read-only open changed the directory"
    );
    let v = verify(dir.path()).expect("verify");
    assert!(v.is_ok() && v.torn.is_some(), "{v:?}");
    assert_eq!(snapshot(dir.path()), before, "verify changed the directory");
}

#[test]
fn verify_and_read_only_open_refuse_a_store_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = DiskLog::open(dir.path()).expect("open").0;
    log.append("s", ev(1)).expect("append");
    assert!(matches!(verify(dir.path()), Err(Error::Locked { .. })));
    assert!(matches!(
        DiskLog::open_read_only(dir.path()),
        Err(Error::Locked { .. })
    ));
}

#[test]
fn an_empty_path_is_not_a_store_directory() {
    let e = DiskLog::open("").err().expect("empty path refused");
    assert!(e.to_string().contains("empty"), "{e}");
}

/// A full disk while automatic compaction writes its outputs: the log it
/// did not touch keeps working (not poisoned), its outputs are removed, it
/// does not retry on every call, and reopening adds no empty segments.
#[test]
fn a_failed_automatic_compaction_does_not_poison_or_litter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let attempts = Arc::new(AtomicUsize::new(0));
    let failed = attempts.clone();
    let full = move |p| {
        let hit = p == IoPoint::Write
            && std::fs::read_dir(&path).expect("list").any(|e| {
                e.expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".compact")
            });
        if hit {
            failed.fetch_add(1, Ordering::SeqCst);
        }
        hit
    };
    let o = Options {
        segment_bytes: 16 << 10,
        compact_dead_bytes: Some(32 << 10),
        faults: Some(Arc::new(full)),
        ..Options::default()
    };
    let big = |i: u64| json!({"i": i, "pad": "z".repeat(500)});
    let log = DiskLog::open_with(dir.path(), o.clone()).expect("open").0;
    for i in 0..400 {
        log.kv_put("k", big(i)).expect("put while compaction fails");
    }
    assert_eq!(log.kv_get("k").expect("get"), Some(big(399)));
    let n = attempts.load(Ordering::SeqCst);
    assert!((2..20).contains(&n), "{n} compaction attempts");
    log.close().expect("close");
    let names = |d: &Path| {
        let mut v: Vec<String> = snapshot(d).into_keys().collect();
        v.sort();
        v
    };
    let files = names(dir.path());
    assert!(!files.iter().any(|n| n.ends_with(".compact")), "{files:?}");
    let empty = |d: &Path| {
        snapshot(d)
            .iter()
            .filter(|(n, b)| n.ends_with(".log") && b.len() <= 32)
            .count()
    };
    assert!(empty(dir.path()) <= 1, "empty segments: {files:?}");
    for _ in 0..3 {
        let log = DiskLog::open_with(dir.path(), o.clone()).expect("reopen").0;
        log.kv_put("k", big(1000)).expect("put");
        log.close().expect("close");
        assert!(
            empty(dir.path()) <= 1,
            "empty segments: {:?}",
            names(dir.path())
        );
    }
    let log = DiskLog::open(dir.path()).expect("open without faults").0;
    log.compact_segments().expect("compact");
    assert_eq!(log.kv_get("k").expect("get"), Some(big(1000)));
    assert!(log.stats().segments <= 2, "{:?}", log.stats());
}
