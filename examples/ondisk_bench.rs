//! Throughput and reopen figures for the on-disk backend, each printed next
//! to a baseline measured in the same run on the same file system.
//!
//! `cargo run --release --example ondisk_bench [DIR] [--events N]`
//! (DIR defaults to a temp dir under the current directory).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use persist::Backend;
use persist::ondisk::{DiskLog, Options};
use serde_json::Value;

/// A JSON value whose encoding is exactly 200 bytes.
fn payload(i: u64) -> Value {
    let head = format!("{i:>12}");
    Value::String(format!("{head}{}", "x".repeat(198 - head.len())))
}

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or("?".to_string(), |kb| {
                format!("{:.1} MiB", kb as f64 / 1024.0)
            })
    };
    format!("VmRSS {} VmHWM {}", field("VmRSS:"), field("VmHWM:"))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Runs `f` repeatedly for about `secs`; returns (calls, elapsed).
fn for_secs(secs: f64, mut f: impl FnMut(u64)) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < secs {
        f(n);
        n += 1;
    }
    (n, start.elapsed())
}

/// Appends `chunk`-byte writes, each followed by fdatasync, to `f` for
/// about `secs`; returns (writes, elapsed).
fn raw_fsync_loop(f: &mut std::fs::File, chunk: usize, secs: f64) -> (u64, Duration) {
    let buf = vec![b'x'; chunk];
    for_secs(secs, |_| {
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fdatasync");
    })
}

fn raw_file(dir: &Path) -> std::fs::File {
    let path = dir.join("raw.bin");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .expect("raw file");
    std::fs::remove_file(&path).expect("unlink raw file");
    f
}

/// Rounds of the store and the baseline alternate, so both see the same
/// (shared, noisy) disk. Returns (store appends/s, raw writes/s).
fn single_appends(dir: &Path, rounds: u32, secs: f64) -> (f64, f64) {
    let d = dir.join("single");
    let log = DiskLog::open(&d).expect("open").0;
    let mut raw = raw_file(dir);
    let (mut n, mut t, mut rn, mut rt) = (0, Duration::ZERO, 0, Duration::ZERO);
    for _ in 0..rounds {
        let (k, e) = raw_fsync_loop(&mut raw, 200, secs);
        (rn, rt) = (rn + k, rt + e);
        let (k, e) = for_secs(secs, |i| {
            log.append("s", payload(n + i)).expect("append");
        });
        (n, t) = (n + k, t + e);
    }
    log.close().expect("close");
    std::fs::remove_dir_all(&d).ok();
    (n as f64 / t.as_secs_f64(), rn as f64 / rt.as_secs_f64())
}

/// Returns appends/s and appends per fsync.
fn concurrent_appends(dir: &Path, threads: u64, secs: f64) -> (f64, f64) {
    let d = dir.join("concurrent");
    // The fault hook sees every fsync: count them, fail none.
    let fsyncs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = fsyncs.clone();
    let opts = Options {
        faults: Some(Arc::new(move |p| {
            if p == persist::ondisk::IoPoint::Sync {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            false
        })),
        ..Options::default()
    };
    let log = Arc::new(DiskLog::open_with(&d, opts).expect("open").0);
    let before = fsyncs.load(std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed().as_secs_f64() < secs {
                    log.append(&format!("s{t}"), payload(n)).expect("append");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    let rate = total as f64 / start.elapsed().as_secs_f64();
    let synced = fsyncs.load(std::sync::atomic::Ordering::Relaxed) - before;
    log.close().expect("close");
    std::fs::remove_dir_all(&d).ok();
    (rate, total as f64 / synced.max(1) as f64)
}

/// Appends `events` in batches of 1,000, each followed by one raw 200 KB
/// write+fdatasync, so both see the same (shared, noisy) disk. Returns
/// events/s, MB/s of payload, MB/s written to segment files (payload plus
/// framing) and the raw MB/s.
fn batch_appends(dir: &Path, d: &Path, events: u64) -> (f64, f64, f64, f64) {
    let log = DiskLog::open(d).expect("open").0;
    let mut raw = raw_file(dir);
    let chunk = vec![b'x'; 200_000];
    let batches = events / 1000;
    let (mut in_store, mut in_raw) = (Duration::ZERO, Duration::ZERO);
    for b in 0..batches {
        // Building the values is the caller's work, not the store's.
        let evs = (0..1000).map(|i| payload(b * 1000 + i)).collect();
        let start = Instant::now();
        log.append_all("s", evs).expect("append_all");
        in_store += start.elapsed();
        let start = Instant::now();
        raw.write_all(&chunk).expect("write");
        raw.sync_data().expect("fdatasync");
        in_raw += start.elapsed();
    }
    let t = in_store.as_secs_f64();
    let written = log.stats().bytes as f64;
    log.close().expect("close");
    let raw_mb = batches as f64 * 0.2 / in_raw.as_secs_f64();
    (
        events as f64 / t,
        events as f64 * 200.0 / 1e6 / t,
        written / 1e6 / t,
        raw_mb,
    )
}

/// In a fresh process: open the store and report time and memory.
fn reopen_child(d: &Path, check: bool) {
    let opts = Options {
        checksum_on_open: check,
        ..Options::default()
    };
    let start = Instant::now();
    let (log, report) = DiskLog::open_with(d, opts).expect("open");
    let t = start.elapsed();
    let last = log.last_seq("s").expect("last_seq");
    let tail = log.read("s", last - 3, 10).expect("read");
    assert_eq!(tail.len(), 3);
    println!(
        "reopen: {:.1} ms (hint used: {}, checksums checked: {check}), last seq {last}, {}",
        t.as_secs_f64() * 1e3,
        report.hint_used,
        rss()
    );
    if check {
        let start = Instant::now();
        let (mut after, mut n) = (0, 0u64);
        loop {
            let page = log.read("s", after, 1024).expect("read");
            let Some(r) = page.last() else { break };
            after = r.seq;
            n += page.len() as u64;
        }
        let t = start.elapsed().as_secs_f64();
        println!(
            "  read back all {n} events in pages of 1,024: {:.0} events/s ({:.1} MB/s of payload)",
            n as f64 / t,
            n as f64 * 200.0 / 1e6 / t
        );
    }
    // Drop without close: keeps the directory exactly as it was.
}

fn reopen_in_child(d: &Path, check: bool) {
    let exe = std::env::current_exe().expect("exe");
    let out = std::process::Command::new(exe)
        .arg(if check {
            "--reopen"
        } else {
            "--reopen-trusting"
        })
        .arg(d)
        .output()
        .expect("child");
    print!("  {}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(mode @ ("--reopen" | "--reopen-trusting")) = args.first().map(String::as_str) {
        reopen_child(Path::new(&args[1]), mode == "--reopen");
        return;
    }
    let events: u64 = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1_000_000);
    let tmp;
    let dir: PathBuf = match args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<u64>().is_err())
    {
        Some(d) => PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir_in(".").expect("tempdir");
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).expect("dir");
    println!("ondisk bench in {}", dir.display());

    let (single, raw_small) = single_appends(&dir, 6, 0.5);
    println!(
        "durable single appends (200 B): {single:.0}/s vs raw 200 B write+fdatasync {raw_small:.0}/s ({:.0}%)",
        100.0 * single / raw_small
    );
    let (conc, per_fsync) = concurrent_appends(&dir, 8, 3.0);
    println!(
        "  8 threads appending (group commit): {conc:.0} appends/s, {per_fsync:.1} appends per fsync"
    );

    let d = dir.join("million");
    let (ev_s, mb_s, disk_mb_s, raw_mb) = batch_appends(&dir, &d, events);
    println!(
        "append_all of 1,000-event batches: {ev_s:.0} events/s, {mb_s:.1} MB/s payload ({disk_mb_s:.1} MB/s written) vs raw 200 KB write+fdatasync {raw_mb:.1} MB/s ({:.0}% payload, {:.0}% written)",
        100.0 * mb_s / raw_mb,
        100.0 * disk_mb_s / raw_mb
    );
    println!(
        "store of {events} events: {:.1} MB on disk; reopen in a fresh process:",
        dir_bytes(&d) as f64 / 1e6
    );
    reopen_in_child(&d, true);
    reopen_in_child(&d, false);
    std::fs::remove_file(d.join("hint")).expect("remove hint");
    println!("  without the hint (full scan, as after a crash):");
    reopen_in_child(&d, true);
    std::fs::remove_dir_all(&d).ok();
}
