//! The newer-format policy (docs/design.md, "Versions"): a segment,
//! manifest or compaction marker whose version is above what this build
//! reads stops the open with `Error::NewerFormat` naming the file, and
//! `persist verify` exits with it; a newer hint is set aside and the log
//! replayed. The version is believed only when the file's checksum passes:
//! a bumped version with a stale checksum is damage.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use persist::ondisk::{DiskLog, salvage};
use persist::{Backend, Error};
use serde_json::json;

const SEG: &str = "000000000001.log";

/// These tests fork `persist verify` while others open stores, and a child
/// forked while another thread holds a store's `LOCK` keeps that flock
/// until it execs: a test's own read-only open could then find its store
/// "in use". Each test holds this lock for as long as its store lives.
static SERIAL: Mutex<()> = Mutex::new(());

/// A test's store directory, and its turn.
struct Closed {
    dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Closed {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A closed store with records, a kv value, its manifest and its hint.
fn build() -> Closed {
    let turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = DiskLog::open(dir.path()).expect("open");
    for i in 0..5 {
        log.append("orders", json!({"i": i})).expect("append");
    }
    log.kv_put("k", json!("v")).expect("put");
    log.close().expect("close");
    for f in [SEG, "manifest", "hint"] {
        assert!(dir.path().join(f).exists(), "{f} was not written");
    }
    Closed { dir, _turn: turn }
}

/// Sets the version byte (the magic's last) of `file` to `version` and,
/// with `reseal`, recomputes its checksum: a segment header's over its
/// first 24 bytes, any other file's trailing one over the rest.
fn bump(path: &Path, version: u8, reseal: bool) {
    let mut b = std::fs::read(path).expect("read");
    b[7] = b'0' + version;
    if reseal {
        let (body, crc) = match path.extension().is_some_and(|e| e == "log") {
            true => (0..24, 24..28),
            false => (0..b.len() - 4, b.len() - 4..b.len()),
        };
        let sum = crc32c::crc32c(&b[body]);
        b[crc].copy_from_slice(&sum.to_le_bytes());
    }
    std::fs::write(path, b).expect("write");
}

/// A legacy compaction marker (`PRSTCMP<version>`) for a store without a
/// manifest: outputs [1], replaced [1].
fn write_marker(dir: &Path, version: u8) {
    let mut b = b"PRSTCMP".to_vec();
    b.push(b'0' + version);
    for _ in 0..2 {
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(dir.join("compact"), b).expect("write marker");
}

/// `persist verify DIR`: exit code, stdout, stderr.
fn verify_cli(dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_persist"))
        .arg("verify")
        .arg(dir)
        .output()
        .expect("run persist");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (
        out.status.code().expect("exit code"),
        text(out.stdout),
        text(out.stderr),
    )
}

fn expect_newer(dir: &Path, file: &str, what: &str, found: u32, reads: u32) {
    let path = dir.join(file);
    match DiskLog::open(dir) {
        Err(e @ Error::NewerFormat { .. }) => {
            let msg = e.to_string();
            let want = format!(
                "{}: {what} written by a newer persist (format version {found}; this build reads up to {reads})",
                path.display()
            );
            assert!(msg.starts_with(&want), "{msg}");
            let Error::NewerFormat { path: p, .. } = e else {
                unreachable!()
            };
            assert_eq!(p, path);
        }
        Err(e) => panic!("expected NewerFormat for {file}, got: {e}"),
        Ok(_) => panic!("a store with a newer {file} opened"),
    }
    match DiskLog::open_read_only(dir) {
        Err(Error::NewerFormat { .. }) => {}
        Err(e) => panic!("read-only open of a newer {file}: {e}"),
        Ok(_) => panic!("read-only open of a newer {file} opened"),
    }
    let (code, _, err) = verify_cli(dir);
    assert_eq!(code, 2, "verify could not check it: {err}");
    assert!(err.contains("written by a newer persist"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}

fn expect_damage(dir: &Path, file: &str) {
    match DiskLog::open(dir) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, dir.join(file)),
        Err(e) => panic!("expected Corrupt for {file}, got: {e}"),
        Ok(_) => panic!("a store with a damaged {file} opened"),
    }
    let (code, out, err) = verify_cli(dir);
    assert_eq!(code, 1, "a damaged {file} is a fault: {out}{err}");
    assert!(out.contains("DAMAGED"), "{out}");
    assert!(
        !format!("{out}{err}").contains("newer persist"),
        "{out}{err}"
    );
}

/// `persist recover`'s reading refuses too: what a newer persist wrote is
/// not this build's to judge as damage.
fn expect_salvage_refused(dir: &Path, file: &str) {
    match salvage(dir) {
        Err(Error::NewerFormat { path, .. }) => assert_eq!(path, dir.join(file)),
        Err(e) => panic!("expected NewerFormat from salvage, got: {e}"),
        Ok(s) => panic!("salvaged a newer {file}: {:?}", s.damage),
    }
}

#[test]
fn newer_segment_is_refused_naming_it() {
    let dir = build();
    bump(&dir.path().join(SEG), 2, true);
    expect_newer(dir.path(), SEG, "segment", 2, 1);
    expect_salvage_refused(dir.path(), SEG);
}

#[test]
fn newer_manifest_is_refused_naming_it() {
    let dir = build();
    bump(&dir.path().join("manifest"), 7, true);
    expect_newer(dir.path(), "manifest", "manifest", 7, 1);
    expect_salvage_refused(dir.path(), "manifest");
}

#[test]
fn newer_compaction_marker_is_refused_naming_it() {
    let dir = build();
    std::fs::remove_file(dir.path().join("manifest")).expect("rm manifest");
    write_marker(dir.path(), 2);
    expect_newer(dir.path(), "compact", "compaction marker", 2, 1);
}

#[test]
fn bumped_version_with_a_stale_checksum_is_damage() {
    for file in [SEG, "manifest"] {
        let dir = build();
        bump(&dir.path().join(file), 2, false);
        expect_damage(dir.path(), file);
        if let Err(e @ Error::NewerFormat { .. }) = salvage(dir.path()) {
            panic!("salvage took a damaged {file} for a newer one: {e}");
        }
    }
    let dir = build();
    std::fs::remove_file(dir.path().join("manifest")).expect("rm manifest");
    write_marker(dir.path(), 2);
    let marker = dir.path().join("compact");
    let mut b = std::fs::read(&marker).expect("read");
    b[9] ^= 1;
    std::fs::write(&marker, b).expect("write");
    match DiskLog::open(dir.path()) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, marker),
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    }
}

/// The records the store holds, for comparing before and after.
fn contents(
    dir: &Path,
) -> (
    Vec<serde_json::Value>,
    Option<serde_json::Value>,
    Option<String>,
) {
    let (log, report) = DiskLog::open(dir).expect("open");
    let data = log
        .read("orders", 0, usize::MAX)
        .expect("read")
        .into_iter()
        .map(|r| r.data)
        .collect();
    let kv = log.kv_get("k").expect("get");
    log.close().expect("close");
    (data, kv, report.hint_rejected)
}

#[test]
fn newer_hint_is_set_aside_and_the_log_replayed() {
    let dir = build();
    let hint: PathBuf = dir.path().join("hint");
    bump(&hint, 3, true);
    let (code, out, err) = verify_cli(dir.path());
    assert_eq!(code, 0, "a newer hint is not damage: {out}{err}");
    assert!(out.contains("stale, the next open ignores it (hint written by a newer persist (format version 3; this build reads up to 2))"), "{out}");
    let (data, kv, rejected) = contents(dir.path());
    assert_eq!(data.len(), 5);
    assert_eq!(kv, Some(json!("v")));
    let why = rejected.expect("the hint was set aside");
    assert!(
        why.contains(
            "hint written by a newer persist (format version 3; this build reads up to 2)"
        ),
        "{why}"
    );
    // The close rewrote the hint in this build's version: used again.
    let (log, report) = DiskLog::open(dir.path()).expect("open");
    assert!(report.hint_used, "{:?}", report.hint_rejected);
    log.close().expect("close");
}

#[test]
fn newer_hint_with_a_stale_checksum_is_damage_not_newer() {
    let dir = build();
    bump(&dir.path().join("hint"), 3, false);
    let (code, out, _) = verify_cli(dir.path());
    assert_eq!(code, 1, "a damaged hint is a fault in verify: {out}");
    assert!(out.contains("hint checksum mismatch"), "{out}");
    let (data, _, rejected) = contents(dir.path());
    assert_eq!(data.len(), 5);
    let why = rejected.expect("the hint was set aside");
    assert!(why.contains("checksum mismatch"), "{why}");
    assert!(!why.contains("newer"), "{why}");
}
