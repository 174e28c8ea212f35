//! STORAGE rule 8: one opener at a time, in this process or another.
//!
//! A test binary of its own: it forks a probe process, and a fork copies
//! every open lock file descriptor until the child's exec closes it, which
//! would make concurrent tests in the same binary see a stale lock.

use persist::ondisk::DiskLog;
use persist::{Backend, Error};
use serde_json::json;

/// Opens the store named by `LOCK_PROBE_DIR` in this (child) process and
/// prints what happened.
fn lock_probe_child() -> bool {
    let Ok(dir) = std::env::var("LOCK_PROBE_DIR") else {
        return false;
    };
    match DiskLog::open(&dir) {
        Err(Error::Locked { .. }) => println!("probe: locked"),
        Err(e) => println!("probe: error {e}"),
        Ok(_) => println!("probe: opened"),
    }
    true
}

/// What a second process gets when it opens `dir`.
fn probe_from_another_process(dir: &std::path::Path) -> String {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "second_opener_is_locked_out_until_close",
            "--nocapture",
        ])
        .env("LOCK_PROBE_DIR", dir)
        .output()
        .expect("run probe");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout.lines().find(|l| l.starts_with("probe: "));
    line.unwrap_or("probe: no answer").to_string()
}

#[test]
fn second_opener_is_locked_out_until_close() {
    if lock_probe_child() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = DiskLog::open(dir.path()).expect("open");
    log.append("s", json!(1)).expect("append");
    match DiskLog::open(dir.path()) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    assert_eq!(probe_from_another_process(dir.path()), "probe: locked");
    log.close().expect("close");
    assert!(matches!(log.append("s", json!(2)), Err(Error::Closed)));
    assert!(log.close().is_ok(), "closing twice is a no-op");
    assert_eq!(probe_from_another_process(dir.path()), "probe: opened");
    let (again, _) = DiskLog::open(dir.path()).expect("open after close");
    assert_eq!(again.last_seq("s").expect("last"), 1);
    drop(again);
    DiskLog::open(dir.path()).expect("open after drop");
}
