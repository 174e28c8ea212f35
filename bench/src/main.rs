//! persist's benchmark suite. Every figure is printed next to a baseline
//! measured in the same run, as a ratio, because the machine is noisy.
//!
//! `cargo run --release -p persist-bench -- [--quick] [--json] [--only GROUP]`
//! (the `pg` and `pg-fold` groups run only with `--only`: they need a
//! PostgreSQL server, `PERSIST_PG_URL`). The human-readable output ends
//! with `below aim: N of M rows`, counting rows with a numeric aim.
//!
//! `persist-bench --count CASE N` runs one case for `bench/instructions.sh`
//! (instructions per event under callgrind; see `count`).
//!
//! `persist-bench --build-store DIR N` writes the store of N events the
//! fold and reopen groups use into DIR, and `persist-bench --reopen-child
//! DIR` reopens it and prints seconds and peak RSS: the reopen alone, to
//! profile or to count (`bench/instructions.sh reopen`).
//!
//! `persist-bench --ceiling N` models the batch-bandwidth row without
//! persist: the ratio a given CPU cost per batch leaves (see `ceiling`).
//!
//! `persist-bench --pair N` alternates N `append_all` batches with the raw
//! loop's batches one by one and prints the ratio of their medians (see
//! `appends::paired`): steadier than the group's row on a shared disk.

mod appends;
mod baseline;
mod ceiling;
mod count;
mod figures;
mod fold;
mod global;
mod pg;
mod versions;

use std::time::Instant;

/// One measured figure and its baseline. `ratio` is always "higher is
/// better": value / baseline for rates, baseline / value for times.
#[derive(serde::Serialize)]
pub struct Figure {
    pub figure: String,
    pub value: f64,
    pub unit: &'static str,
    pub baseline: String,
    pub baseline_value: f64,
    pub ratio: f64,
    pub aim: &'static str,
}

impl Figure {
    pub fn rate(
        figure: &str,
        value: f64,
        unit: &'static str,
        baseline: &str,
        base: f64,
        aim: &'static str,
    ) -> Self {
        Figure {
            figure: figure.into(),
            value,
            unit,
            baseline: baseline.into(),
            baseline_value: base,
            ratio: value / base,
            aim,
        }
    }

    /// Whether the ratio misses a numeric aim (`>= X ...`); `None` for a
    /// figure that is only reported.
    fn below_aim(&self) -> Option<bool> {
        let rest = self.aim.strip_prefix(">=")?.trim_start();
        let end = rest.find(|c: char| c != '.' && !c.is_ascii_digit());
        let aim: f64 = rest[..end.unwrap_or(rest.len())].parse().ok()?;
        Some(self.ratio < aim)
    }

    /// One JSON line, fields in the documented order.
    fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Seconds taken by `f`.
pub fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// A temporary directory under `./target` (on the disk being measured,
/// not a tmpfs `/tmp`), removed when dropped.
fn temp_in_target(prefix: &str) -> tempfile::TempDir {
    let base = std::env::current_dir().expect("cwd").join("target");
    std::fs::create_dir_all(&base).expect("create target/");
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .expect("temp dir")
}

/// The middle of `v` (sorted in place): what a shared disk's stalls do
/// not move.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A number with as many decimals as its size needs.
fn num(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.4}"),
    }
}

fn print(f: &Figure, json: bool) {
    if json {
        println!("{}", f.json());
    } else {
        println!(
            "{:<44} {:>12} {:<9} | {:<44} {:>12} | ratio {:>7.3} (aim {})",
            f.figure,
            num(f.value),
            f.unit,
            f.baseline,
            num(f.baseline_value),
            f.ratio,
            f.aim
        );
    }
}

/// `--count CASE N`; a bad argument exits 2 naming it and the cases.
fn count_mode(args: &[String]) {
    let n = args
        .get(1)
        .map(|n| n.replace(['_', ','], "").parse::<usize>());
    let result = match (args.first(), n, args.len()) {
        (Some(case), Some(Ok(n)), 2) => {
            let base = std::env::current_dir().expect("cwd").join("target");
            std::fs::create_dir_all(&base).expect("create target/");
            count::run(case, n, &base)
        }
        _ => Err(format!("expected --count CASE N, got {args:?}")),
    };
    if let Err(msg) = result {
        eprintln!("persist-bench: {msg}");
        for (case, what) in count::CASES {
            eprintln!("  {case:<12} {what}");
        }
        std::process::exit(2);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--reopen-child") {
        figures::reopen_child(std::path::Path::new(&args[1]));
        return;
    }
    if args.first().map(String::as_str) == Some("--build-store") {
        let n = args.get(2).and_then(|n| n.parse().ok());
        let (Some(dir), Some(n)) = (args.get(1), n) else {
            eprintln!("persist-bench: --build-store needs DIR and N (events, a multiple of 1,000)");
            std::process::exit(2);
        };
        fold::build_big(std::path::Path::new(dir), n);
        return;
    }
    if args.first().map(String::as_str) == Some("--pair") {
        let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200);
        appends::paired(temp_in_target("persist-pair-").path(), n);
        return;
    }
    if args.first().map(String::as_str) == Some("--ceiling") {
        let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
        ceiling::run(temp_in_target("persist-ceiling-").path(), n);
        return;
    }
    if args.first().map(String::as_str) == Some("--count") {
        count_mode(&args[1..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    // `--only NAME` runs one group (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let known =
        |a: &String| a == "--quick" || a == "--json" || a == "--only" || Some(a) == only.as_ref();
    if let Some(bad) = args.iter().find(|a| !known(a)) {
        eprintln!(
            "persist-bench: unknown argument {bad:?} (expected --quick, --json, --only GROUP)"
        );
        std::process::exit(2);
    }
    let (n, singles, batches) = if quick {
        (100_000, 300, 50)
    } else {
        (1_000_000, 2_000, 300)
    };
    let tmp = temp_in_target("persist-bench-");
    let big = tmp.path().join("big");
    let built = std::cell::Cell::new(false);
    let build = || {
        if !built.replace(true) {
            fold::build_big(&big, n);
        }
    };
    type Group<'a> = (&'static str, Box<dyn Fn() -> Vec<Figure> + 'a>);
    let groups: Vec<Group> = vec![
        (
            "appends",
            Box::new(|| appends::appends(tmp.path(), singles, batches)),
        ),
        (
            "fold",
            Box::new(|| {
                build();
                fold::fold(&big, n)
            }),
        ),
        (
            "reopen",
            Box::new(|| {
                build();
                figures::reopen(&big)
            }),
        ),
        ("views", Box::new(|| figures::views(n))),
        ("global", Box::new(|| global::reads(tmp.path(), n))),
        (
            "append-once",
            Box::new(|| global::append_once(tmp.path(), singles)),
        ),
        ("id-memory", Box::new(global::id_memory)),
        ("versions", Box::new(|| versions::figures(n))),
        // Only on request: needs a PostgreSQL server (PERSIST_PG_URL).
        ("pg", Box::new(|| pg::figures(singles, batches))),
        (
            "pg-fold",
            Box::new(|| pg::fold(&tmp.path().join("pg-fold-disk"), n)),
        ),
    ];
    if let Some(name) = &only
        && !groups.iter().any(|(g, _)| g == name)
    {
        eprintln!("persist-bench: unknown group {name:?}");
        std::process::exit(2);
    }
    let (mut aimed, mut missed) = (0, 0);
    // Seconds per group, printed last: the full run is kept under 60 s.
    let mut took = Vec::new();
    for (name, group) in &groups {
        if only.as_ref().is_some_and(|o| o != name) {
            continue;
        }
        if only.is_none() && name.starts_with("pg") {
            continue;
        }
        let (secs, figures) = time(group);
        took.push(format!("{name} {secs:.1}"));
        for f in figures {
            print(&f, json);
            if let Some(below) = f.below_aim() {
                aimed += 1;
                missed += usize::from(below);
            }
        }
    }
    if !json {
        println!("below aim: {missed} of {aimed} rows");
        println!("seconds per group: {}", took.join(", "));
    }
}
