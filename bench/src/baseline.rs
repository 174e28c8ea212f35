//! Baselines: what the machine and SQLite do for the same work, measured in
//! the same run as persist's figures.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use crate::time;

/// The payload every durable figure writes: 200 bytes.
pub fn payload(i: usize) -> String {
    format!("{i:0>200}")
}

/// One-at-a-time durable appends: a 200-byte write + fdatasync loop.
/// Returns appends/s: the physical limit for acknowledged single appends.
pub fn raw_fdatasync(dir: &Path, n: usize) -> f64 {
    let path = dir.join("raw-fdatasync");
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open raw file");
    let (secs, ()) = time(|| {
        for i in 0..n {
            f.write_all(payload(i).as_bytes()).expect("write");
            f.sync_data().expect("fdatasync");
        }
    });
    let _ = fs::remove_file(path);
    n as f64 / secs
}

/// Sequential write bandwidth with a final fsync, in bytes/s.
pub fn seq_write(dir: &Path, bytes: usize) -> f64 {
    let path = dir.join("raw-seq");
    let chunk = vec![7u8; 1 << 20];
    let mut f = File::create(&path).expect("create seq file");
    let (secs, ()) = time(|| {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            f.write_all(&chunk[..n]).expect("write");
            left -= n;
        }
        f.sync_data().expect("fdatasync");
    });
    let _ = fs::remove_file(path);
    bytes as f64 / secs
}

/// Seconds to read every file under `dir` with a plain read loop.
pub fn read_scan(dir: &Path) -> f64 {
    let mut buf = vec![0u8; 1 << 20];
    let (secs, ()) = time(|| {
        for entry in fs::read_dir(dir).expect("read dir").flatten() {
            if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                continue;
            }
            let mut f = File::open(entry.path()).expect("open");
            while f.read(&mut buf).expect("read") > 0 {}
        }
    });
    secs
}

fn sqlite(dir: &Path) -> rusqlite::Connection {
    let path = dir.join("bench.sqlite");
    let _ = fs::remove_file(&path);
    let c = rusqlite::Connection::open(&path).expect("open sqlite");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    c.execute_batch(
        "CREATE TABLE events (stream TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,
                              data TEXT NOT NULL, PRIMARY KEY (stream, seq))",
    )
    .expect("create table");
    c
}

/// SQLite (WAL, synchronous=FULL), one insert per transaction: inserts/s.
pub fn sqlite_single(dir: &Path, n: usize) -> f64 {
    let c = sqlite(dir);
    let mut ins = c
        .prepare("INSERT INTO events VALUES ('bench', ?1, ?2, ?3)")
        .expect("prepare");
    let (secs, ()) = time(|| {
        for i in 0..n {
            ins.execute((i as i64 + 1, 0i64, payload(i)))
                .expect("insert");
        }
    });
    n as f64 / secs
}

/// SQLite, `batches` transactions of `size` inserts: events/s.
pub fn sqlite_batched(dir: &Path, batches: usize, size: usize) -> f64 {
    let mut c = sqlite(dir);
    let (secs, ()) = time(|| {
        for b in 0..batches {
            let tx = c.transaction().expect("begin");
            {
                let mut ins = tx
                    .prepare_cached("INSERT INTO events VALUES ('bench', ?1, ?2, ?3)")
                    .expect("prepare");
                for i in 0..size {
                    let seq = (b * size + i) as i64 + 1;
                    ins.execute((seq, 0i64, payload(i))).expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
    });
    (batches * size) as f64 / secs
}

/// This process's resident set and its peak, in bytes (Linux).
pub fn rss() -> (u64, u64) {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Total bytes of the files directly under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
