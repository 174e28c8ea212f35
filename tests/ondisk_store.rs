//! The kernel's `Store` over `DiskLog`: projections, snapshots and
//! compaction give the same answers as over memory, survive a restart, and
//! compaction on disk gives the space back (SPEC 3.7).

use persist::ondisk::{DiskLog, Options};
use persist::{Error, Record, Store, Value};
use serde_json::json;

fn sum(acc: Value, r: Record) -> Result<Value, Error> {
    Ok(json!(
        acc.as_i64().unwrap_or(0) + r.data["n"].as_i64().unwrap_or(0)
    ))
}

fn fill(s: &Store) {
    for n in 1..=3000 {
        s.append("orders", json!({"n": n, "pad": "o".repeat(200)}))
            .expect("append");
    }
}

#[test]
fn store_over_disk_compacts_replays_and_restarts() {
    let mem = Store::mem();
    fill(&mem);
    let want = mem.project("orders", json!(0), sum).expect("project");

    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || Options {
        segment_bytes: 128 << 10,
        compact_dead_bytes: Some(256 << 10),
        ..Options::default()
    };
    let disk = Store::new(DiskLog::open_with(dir.path(), opts()).expect("open").0);
    fill(&disk);
    // Space the files take on disk: the active segment's file is longer
    // than its data (sparse preallocation), which takes no blocks.
    let bytes = |d: &std::path::Path| -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir(d)
            .expect("list")
            .map(|e| e.expect("e").metadata().expect("m").blocks() * 512)
            .sum()
    };
    let before = bytes(dir.path());
    let (state, done) = disk
        .compact("total", "orders", json!(0), "v1", persist::owned_step(sum))
        .expect("compact");
    assert_eq!(
        (state.value.clone(), state.seq),
        (want.value.clone(), want.seq)
    );
    assert_eq!(done.dropped, 3000);
    // The truncation made nearly everything dead: automatic segment
    // compaction runs on the next write.
    disk.append("orders", json!({"n": 1})).expect("append");
    assert!(bytes(dir.path()) * 10 < before, "space not reclaimed");
    disk.close().expect("close");

    let disk = Store::new(DiskLog::open_with(dir.path(), opts()).expect("reopen").0);
    let replayed = disk
        .replay("total", "orders", json!(0), "v1", persist::owned_step(sum))
        .expect("replay");
    assert_eq!(replayed.value, json!(want.value.as_i64().expect("int") + 1));
    assert_eq!(disk.last_seq("orders").expect("last"), 3001);
    assert!(matches!(
        disk.project("orders", json!(0), sum),
        Err(Error::Truncated { .. })
    ));
}
