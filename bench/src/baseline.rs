//! Baselines: what the machine and SQLite do for the same work, measured in
//! the same run as persist's figures.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use crate::time;

/// The payload every durable figure writes: 200 bytes.
pub fn payload(i: usize) -> String {
    let digits = i.to_string();
    let mut s = "0".repeat(200 - digits.len().min(200));
    s.push_str(&digits);
    s
}

/// One-at-a-time durable appends at the disk's limit: 200-byte write +
/// fdatasync per append, on a file kept open between rounds.
pub struct RawAppender {
    file: File,
    path: std::path::PathBuf,
}

impl RawAppender {
    pub fn new(dir: &Path) -> Self {
        let path = dir.join("raw-fdatasync");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open raw file");
        RawAppender { file, path }
    }

    /// Seconds for `n` appends.
    pub fn run(&mut self, n: usize) -> f64 {
        time(|| {
            for i in 0..n {
                self.file.write_all(payload(i).as_bytes()).expect("write");
                self.file.sync_data().expect("fdatasync");
            }
        })
        .0
    }
}

impl Drop for RawAppender {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
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

/// Durable batches at the disk's limit: `batches` writes of `batch_bytes`,
/// each followed by fdatasync (what one acknowledged `append_all` at a time
/// must at least do). Returns bytes/s.
pub fn batch_fdatasync(dir: &Path, batches: usize, batch_bytes: usize) -> f64 {
    let path = dir.join("raw-batches");
    let chunk = vec![7u8; batch_bytes];
    let mut f = File::create(&path).expect("create batch file");
    let (secs, ()) = time(|| {
        for _ in 0..batches {
            f.write_all(&chunk).expect("write");
            f.sync_data().expect("fdatasync");
        }
    });
    let _ = fs::remove_file(path);
    (batches * batch_bytes) as f64 / secs
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

/// SQLite (WAL, synchronous=FULL), one insert per transaction.
pub struct SqliteAppender {
    conn: rusqlite::Connection,
    next: i64,
}

impl SqliteAppender {
    pub fn new(dir: &Path) -> Self {
        SqliteAppender {
            conn: sqlite(dir),
            next: 1,
        }
    }

    /// Seconds for `n` single-insert transactions.
    pub fn run(&mut self, n: usize) -> f64 {
        let mut ins = self
            .conn
            .prepare_cached("INSERT INTO events VALUES ('bench', ?1, ?2, ?3)")
            .expect("prepare");
        let start = self.next;
        let secs = time(|| {
            for i in 0..n {
                ins.execute((start + i as i64, 0i64, payload(i)))
                    .expect("insert");
            }
        })
        .0;
        self.next += n as i64;
        secs
    }
}

/// SQLite, `batches` transactions of `size` inserts: events/s.
pub fn sqlite_batched(dir: &Path, batches: usize, size: usize) -> f64 {
    let mut c = sqlite(dir);
    let payloads: Vec<String> = (0..size).map(payload).collect();
    let (secs, ()) = time(|| {
        for b in 0..batches {
            let tx = c.transaction().expect("begin");
            {
                let mut ins = tx
                    .prepare_cached("INSERT INTO events VALUES ('bench', ?1, ?2, ?3)")
                    .expect("prepare");
                for (i, p) in payloads.iter().enumerate() {
                    let seq = (b * size + i) as i64 + 1;
                    ins.execute((seq, 0i64, p)).expect("insert");
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
