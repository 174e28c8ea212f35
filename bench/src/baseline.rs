//! Baselines: what the machine and SQLite do for the same work, measured in
//! the same run as persist's figures.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

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
    path: PathBuf,
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

/// A file extended (sparse) to `bytes` and that length fsync'd once, as
/// persist preallocates its active segment: a later fdatasync of data
/// written below that length commits no size change.
fn preallocated(path: &Path, bytes: u64) -> File {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .expect("open preallocated file");
    file.set_len(bytes).expect("preallocate");
    file.sync_all().expect("fsync preallocation");
    file
}

/// A record of `len` bytes (the payload, padded or cut).
fn record(i: usize, len: usize) -> Vec<u8> {
    let mut r = payload(i).into_bytes();
    r.resize(len, b' ');
    r
}

/// One-at-a-time durable appends at the disk's real limit for persist's
/// layout: `pwrite` of a record as long as persist's frame for the same
/// event into a preallocated file, then fdatasync.
pub struct RawPrealloc {
    file: File,
    path: PathBuf,
    off: u64,
    len: usize,
}

impl RawPrealloc {
    /// `record_len` bytes per append, room for `max_appends` of them.
    pub fn new(dir: &Path, record_len: usize, max_appends: usize) -> Self {
        let path = dir.join("raw-prealloc");
        let file = preallocated(&path, (record_len * max_appends) as u64);
        RawPrealloc {
            file,
            path,
            off: 0,
            len: record_len,
        }
    }

    /// Seconds for `n` appends.
    pub fn run(&mut self, n: usize) -> f64 {
        time(|| {
            for i in 0..n {
                let r = record(i, self.len);
                self.file.write_all_at(&r, self.off).expect("pwrite");
                self.file.sync_data().expect("fdatasync");
                self.off += r.len() as u64;
            }
        })
        .0
    }
}

impl Drop for RawPrealloc {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The textbook group commit, no persist code: `threads` writers each
/// `pwrite` a `record_len`-byte record into a preallocated file (offsets
/// handed out under a lock, written under it so the written end is always
/// whole), then wait until a leader's fdatasync covers it; whoever finds
/// no fdatasync in flight leads one for everything written so far.
pub struct RawGroup {
    file: File,
    path: PathBuf,
    written: Mutex<u64>,
    state: Mutex<Synced>,
    cv: Condvar,
    len: usize,
    /// fdatasyncs done so far.
    pub syncs: AtomicUsize,
}

#[derive(Default)]
struct Synced {
    upto: u64,
    syncing: bool,
}

impl RawGroup {
    pub fn new(dir: &Path, record_len: usize, max_appends: usize) -> Arc<Self> {
        let path = dir.join("raw-group");
        let file = preallocated(&path, (record_len * max_appends) as u64);
        Arc::new(RawGroup {
            file,
            path,
            written: Mutex::new(0),
            state: Mutex::new(Synced::default()),
            cv: Condvar::new(),
            len: record_len,
            syncs: AtomicUsize::new(0),
        })
    }

    fn append(&self, i: usize) {
        let r = record(i, self.len);
        let end = {
            let mut w = self.written.lock().expect("written");
            self.file.write_all_at(&r, *w).expect("pwrite");
            *w += r.len() as u64;
            *w
        };
        let mut s = self.state.lock().expect("state");
        while s.upto < end {
            if s.syncing {
                s = self.cv.wait(s).expect("wait");
                continue;
            }
            s.syncing = true;
            drop(s);
            let upto = *self.written.lock().expect("written");
            self.file.sync_data().expect("fdatasync");
            self.syncs.fetch_add(1, Ordering::Relaxed);
            s = self.state.lock().expect("state");
            s.syncing = false;
            s.upto = s.upto.max(upto);
            self.cv.notify_all();
        }
    }

    /// Seconds for `threads` writers doing `per_thread` appends each.
    pub fn run(self: &Arc<Self>, threads: usize, per_thread: usize) -> f64 {
        time(|| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let g = self.clone();
                    std::thread::spawn(move || (0..per_thread).for_each(|i| g.append(i)))
                })
                .collect();
            for h in handles {
                h.join().expect("raw writer");
            }
        })
        .0
    }
}

impl Drop for RawGroup {
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

/// Durable batches at the disk's limit: writes of `batch_bytes`, each
/// followed by fdatasync (what one acknowledged `append_all` at a time must
/// at least do), to a file that grows.
pub struct RawBatches {
    file: File,
    path: PathBuf,
    chunk: Vec<u8>,
}

impl RawBatches {
    pub fn new(dir: &Path, batch_bytes: usize) -> Self {
        let path = dir.join("raw-batches");
        let file = File::create(&path).expect("create batch file");
        RawBatches {
            file,
            path,
            chunk: vec![7u8; batch_bytes],
        }
    }

    /// Seconds for `n` batches.
    pub fn run(&mut self, n: usize) -> f64 {
        time(|| {
            for _ in 0..n {
                self.file.write_all(&self.chunk).expect("write");
                self.file.sync_data().expect("fdatasync");
            }
        })
        .0
    }
}

impl Drop for RawBatches {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
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

/// SQLite, transactions of `size` inserts each.
pub struct SqliteBatches {
    conn: rusqlite::Connection,
    payloads: Vec<String>,
    next: i64,
}

impl SqliteBatches {
    pub fn new(dir: &Path, size: usize) -> Self {
        SqliteBatches {
            conn: sqlite(dir),
            payloads: (0..size).map(payload).collect(),
            next: 1,
        }
    }

    /// Seconds for `n` transactions.
    pub fn run(&mut self, n: usize) -> f64 {
        time(|| {
            for _ in 0..n {
                let tx = self.conn.transaction().expect("begin");
                {
                    let mut ins = tx
                        .prepare_cached("INSERT INTO events VALUES ('bench', ?1, ?2, ?3)")
                        .expect("prepare");
                    for p in &self.payloads {
                        ins.execute((self.next, 0i64, p)).expect("insert");
                        self.next += 1;
                    }
                }
                tx.commit().expect("commit");
            }
        })
        .0
    }
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
