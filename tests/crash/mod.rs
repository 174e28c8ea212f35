//! The kill loop shared by the crash tests: the test binary re-runs itself
//! as a child (with `CHILD_DIR` and `CHILD_ROUND` set) that writes to a
//! store until killed, printing a line per acknowledged operation; the
//! parent kills it at a varying moment and gets every line it printed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// In the child: its store directory and round; `None` in the parent.
pub fn child_args() -> Option<(String, u64)> {
    let dir = std::env::var("CHILD_DIR").ok()?;
    let round = std::env::var("CHILD_ROUND").map_or(0, |r| r.parse().unwrap_or(0));
    Some((dir, round))
}

/// In the child: prints `line` and flushes, so a kill right after loses
/// nothing the parent must see.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// A small deterministic generator of kill delays in ms, `min..min + span`.
pub fn delays(seed: u64, min: u64, span: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        min + x % span
    }
}

/// Runs test `test` of this binary as a child on `dir` for round `round`,
/// waits for the first line for which `started` holds, sleeps `delay_ms`,
/// kills the child and returns every line it printed.
pub fn run_and_kill(
    test: &str,
    dir: &std::path::Path,
    round: u64,
    delay_ms: u64,
    started: impl Fn(&str) -> bool,
) -> Vec<String> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("CHILD_DIR", dir)
        .env("CHILD_ROUND", round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child produced no output");
        let go = started(&line);
        lines.push(line);
        if go {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill().expect("kill");
    child.wait().expect("wait");
    reader.join().expect("reader");
    lines.extend(rx.try_iter());
    lines
}
