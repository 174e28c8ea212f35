//! `persist-bench --ceiling N`: how high the batch-bandwidth ratio (the
//! appends group's `append_all` MB/s against same-size write+fdatasync)
//! can go on this machine for a given CPU cost per batch, with no persist
//! code: each of N rounds times the raw loop's batch (the events' bytes
//! written to a growing file, fdatasync) next to a model of an
//! `append_all` (spin for the CPU cost, then write a batch of persist's
//! framed size into a file extended ahead as persist's segments are,
//! fdatasync), and prints the ratio of the medians
//! for each CPU cost. It is the device's answer to "how much CPU per
//! batch can the aim afford", which profiles of persist alone cannot give.
//!
//! It first measures a floor for that CPU cost: what any design that
//! takes owned events, copies their bytes once and checksums them once
//! must spend (freeing the caller's 1,000 events, one copy of their JSON
//! into a frame, one crc32c pass over the frame), and models it too.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use persist::Backend;
use persist::ondisk::DiskLog;
use serde_json::json;

use crate::baseline::payload;
use crate::{median, time};

/// CPU costs per batch to model, in microseconds (and the floor).
const CPU_US: [u64; 6] = [0, 50, 100, 150, 200, 250];
/// How far ahead the model extends its file, as persist does (`PREALLOC`).
const AHEAD: u64 = 4 << 20;

pub fn run(dir: &Path, rounds: usize) {
    let (events, framed) = batch_sizes(&dir.join("sizes"));
    println!("batch: {events} bytes of events, {framed} bytes framed by persist");
    let floor = floor_us(rounds, framed);
    let (evs, fr) = (vec![7u8; events], vec![7u8; framed]);
    let mut costs = CPU_US.to_vec();
    costs.push(floor);
    costs.sort();
    for cpu in costs {
        let raw = File::create(dir.join("raw")).expect("create");
        let model = File::create(dir.join("model")).expect("create");
        let (mut raw_t, mut model_t) = (Vec::new(), Vec::new());
        let (mut raw_len, mut len, mut alloc) = (0u64, 0u64, 0u64);
        for _ in 0..rounds {
            raw_t.push(
                time(|| {
                    raw.write_all_at(&evs, raw_len).expect("write");
                    raw.sync_data().expect("fdatasync");
                })
                .0,
            );
            raw_len += events as u64;
            model_t.push(
                time(|| {
                    spin(Duration::from_micros(cpu));
                    if len + framed as u64 > alloc {
                        alloc = len + framed as u64 + AHEAD;
                        model.set_len(alloc).expect("extend");
                        model.sync_data().expect("fdatasync");
                    }
                    model.write_all_at(&fr, len).expect("write");
                    model.sync_data().expect("fdatasync");
                })
                .0,
            );
            len += framed as u64;
        }
        let (r, m) = (median(&mut raw_t), median(&mut model_t));
        println!(
            "CPU {cpu:>3} us per batch: ratio {:.3} (model {:.0} us/batch, raw {:.0})",
            r / m,
            m * 1e6,
            r * 1e6
        );
    }
    let _ = std::fs::remove_file(dir.join("raw"));
    let _ = std::fs::remove_file(dir.join("model"));
}

/// The floor's CPU per batch, in microseconds (medians of `rounds`).
fn floor_us(rounds: usize, framed: usize) -> u64 {
    let batch: Vec<_> = (0..1000).map(|i| json!(payload(i))).collect();
    let mut frame = Vec::with_capacity(framed);
    let (mut drop_t, mut copy_t, mut crc_t) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        frame.clear();
        copy_t.push(
            time(|| {
                for e in &batch {
                    frame.extend_from_slice(e.as_str().unwrap_or_default().as_bytes());
                }
            })
            .0,
        );
        frame.resize(framed, 0);
        let mut crc = 0;
        crc_t.push(time(|| crc = crc32c::crc32c(&frame)).0);
        std::hint::black_box(crc);
        let events = batch.clone();
        drop_t.push(time(|| drop(events)).0);
    }
    let (d, c, k) = (median(&mut drop_t), median(&mut copy_t), median(&mut crc_t));
    println!(
        "floor: {:.0} us per batch (free the events {:.0}, copy their JSON {:.0}, one crc32c pass {:.0})",
        (d + c + k) * 1e6,
        d * 1e6,
        c * 1e6,
        k * 1e6
    );
    ((d + c + k) * 1e6).round() as u64
}

/// The bench batch's event bytes (`appends::batched` counts MB/s by
/// them) and the bytes persist's frame of it takes on disk.
fn batch_sizes(dir: &Path) -> (usize, usize) {
    let batch: Vec<_> = (0..1000).map(|i| json!(payload(i))).collect();
    let events = batch
        .iter()
        .map(|e| serde_json::to_string(e).map_or(0, |s| s.len()))
        .sum();
    let log = DiskLog::open(dir).expect("open").0;
    log.append("s", json!(0)).expect("append");
    let before = log.stats().bytes;
    log.append_all("s", batch).expect("append_all");
    let framed = log.stats().bytes - before;
    log.close().expect("close");
    let _ = std::fs::remove_dir_all(dir);
    (events, framed as usize)
}

/// Keeps the CPU busy for `d`, as encoding and checksumming would.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}
