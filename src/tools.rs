//! The store tools behind `persist inspect|verify|export|import` (SPEC 6).
//! Each writes its report to `out` and returns the exit code; progress goes
//! to stderr, and only when stderr is a terminal.
//!
//! Exit codes, as ripgrep has them: 0 done, 1 the store is damaged (verify)
//! or the tool failed, 2 `verify` could not check (see `cli::EXIT_CODES`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::dump::{self, Counts};
use crate::ondisk::{self, DiskLog};
use crate::{Error, Result, Store};

/// A status line on stderr, redrawn in place; silent when piped.
pub struct Progress {
    on: bool,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            on: std::io::stderr().is_terminal(),
        }
    }

    pub fn show(&self, msg: &str) {
        if self.on {
            eprint!("\r\x1b[2K{msg}");
        }
    }

    pub fn done(&self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }

    /// A closing summary line, on a terminal only.
    pub fn finish(&self, msg: &str) {
        if self.on {
            eprintln!("\r\x1b[2K{msg}");
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Opens the store in `dir` read-only (tools never create, repair or change
/// a store), telling the user on stderr what the next writing open would
/// repair.
fn open_read_only(dir: &Path) -> Result<DiskLog> {
    let (log, report) = DiskLog::open_read_only(dir)?;
    if let Some(t) = &report.torn {
        eprintln!(
            "persist: {}: torn tail of {} bytes at offset {} ({}); the next open cuts it",
            t.path.display(),
            t.bytes_cut,
            t.offset,
            t.reason
        );
    }
    for n in &report.notes {
        eprintln!("persist: {}: {n}", dir.display());
    }
    Ok(log)
}

/// `dir` as a PostgreSQL URL, when it is one (SPEC 6: every tool taking
/// DIR takes a URL too).
fn pg_url(dir: &Path) -> Option<&str> {
    dir.to_str().filter(|s| crate::pg::is_url(s))
}

/// Opens the on-disk log in `dir` (created if missing), telling the user on
/// stderr if a torn tail was cut (SPEC 5: cut off and reported).
pub fn open_disk_log(dir: &Path) -> Result<DiskLog> {
    let (log, report) = DiskLog::open(dir)?;
    if let Some(t) = report.torn {
        eprintln!(
            "persist: {}: cut a torn tail of {} bytes at offset {} ({})",
            t.path.display(),
            t.bytes_cut,
            t.offset,
            t.reason
        );
    }
    Ok(log)
}

fn io_out(e: std::io::Error) -> Error {
    Error::io("<stdout>", "write", e)
}

/// Streams (first seq, last seq, records kept), kv keys, segments, bytes,
/// and each snapshot with the fold fingerprint it was saved with.
pub fn inspect(dir: &Path, out: &mut dyn Write) -> Result<i32> {
    if let Some(url) = pg_url(dir) {
        return crate::pg::tools::inspect(url, out);
    }
    let log = open_read_only(dir)?;
    let stats = log.stats();
    let w = |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(io_out);
    w(out, format!("store {}", dir.display()))?;
    w(out, format!("streams: {}", stats.streams.len()))?;
    let width = stats
        .streams
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    for s in &stats.streams {
        w(
            out,
            format!(
                "  {:<width$}  first seq {:>8}  last seq {:>8}  kept {:>8}",
                s.name, s.first_seq, s.last_seq, s.kept
            ),
        )?;
    }
    w(out, format!("kv keys: {}", stats.kv_keys))?;
    w(
        out,
        format!(
            "segments: {}, {} bytes on disk ({} bytes reclaimable)",
            stats.segments, stats.bytes, stats.dead_bytes
        ),
    )?;
    let store = crate::Store::new(log);
    let folds = store.folds()?;
    w(out, format!("snapshots: {}", folds.len()))?;
    let width = folds.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &folds {
        let fp = f
            .fingerprint
            .as_deref()
            .unwrap_or("(none: saved before fingerprints)");
        w(
            out,
            format!("  {:<width$}  seq {:>8}  fold {fp}", f.name, f.seq),
        )?;
    }
    store.close()?;
    Ok(0)
}

/// Checks every frame and the index; 1 with each fault's file and offset.
pub fn verify(dir: &Path, out: &mut dyn Write) -> Result<i32> {
    if let Some(url) = pg_url(dir) {
        return crate::pg::tools::verify(url, out);
    }
    let progress = Progress::new();
    let report = ondisk::verify_with(dir, &mut |done, total| {
        progress.show(&format!(
            "verifying {}: {} of {} MB",
            dir.display(),
            done >> 20,
            total >> 20
        ))
    })?;
    progress.done();
    let w = |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(io_out);
    for f in &report.faults {
        w(out, format!("fault: {f}"))?;
    }
    if let Some(t) = &report.torn {
        w(out, format!("torn tail (the next open cuts it): {t}"))?;
    }
    for n in &report.notes {
        w(out, format!("note: {n}"))?;
    }
    w(out, format!("hint: {}", hint_text(&report.hint)))?;
    w(
        out,
        format!(
            "{}: {}, {}, {}, {}",
            if report.is_ok() { "ok" } else { "DAMAGED" },
            plural(report.segments as u64, "segment"),
            plural(report.batches, "batch"),
            plural(report.bytes, "byte"),
            plural(report.faults.len() as u64, "fault")
        ),
    )?;
    if !report.is_ok() {
        w(out, ondisk::salvage_hint(dir))?;
    }
    Ok(if report.is_ok() { 0 } else { 1 })
}

/// What `verify` found of the hint file, in words.
fn hint_text(hint: &ondisk::HintCheck) -> String {
    match hint {
        ondisk::HintCheck::Consistent => "consistent".into(),
        ondisk::HintCheck::Missing => "none (the next open scans the log)".into(),
        ondisk::HintCheck::Stale(why) => format!("stale, the next open ignores it ({why})"),
        ondisk::HintCheck::Unchecked => "not checked (the log has faults)".into(),
    }
}

/// `1 fault`, `2 faults`, `1 batch`, `3 batches`.
pub fn plural(n: u64, noun: &str) -> String {
    let suffix = match (n, noun.ends_with(['s', 'x', 'h'])) {
        (1, _) => "",
        (_, true) => "es",
        (_, false) => "s",
    };
    format!("{n} {noun}{suffix}")
}

fn counts_line(verb: &str, c: Counts) -> String {
    format!(
        "{verb} {}, {}, {}",
        plural(c.streams, "stream"),
        plural(c.records, "record"),
        plural(c.keys, "key")
    )
}

/// Writes the dump of the store in `dir` to `out`.
pub fn export(dir: &Path, stream: Option<&str>, out: &mut dyn Write) -> Result<i32> {
    let store = match pg_url(dir) {
        Some(url) => Store::new(crate::pg::PgBackend::open_existing(url)?),
        None => Store::new(open_read_only(dir)?),
    };
    let progress = Progress::new();
    let mut buffered = std::io::BufWriter::new(out);
    let counts = dump::export(&store, stream, &mut buffered, &mut |c| {
        progress.show(&counts_line("exported", c))
    })?;
    buffered.flush().map_err(io_out)?;
    drop(buffered);
    store.close()?;
    progress.finish(&counts_line("exported", counts));
    Ok(0)
}

/// Restores a dump into a new store in `dir`, which must be missing or an
/// empty directory; all or nothing (`build_beside`).
pub fn import(dir: &Path, input: &mut dyn BufRead) -> Result<i32> {
    if let Some(url) = pg_url(dir) {
        return import_pg(url, input);
    }
    let progress = Progress::new();
    let built = build_beside("import", dir, |tmp| import_into(tmp, input, &progress));
    progress.done();
    progress.finish(&counts_line("imported", built?));
    Ok(0)
}

/// Builds a new store in `dir`, which must be missing or an empty
/// directory. All or nothing: `build` makes the store in a temporary
/// directory beside `dir`, which is renamed into place only once `build`
/// returned (the store complete and closed); on failure the temporary
/// directory is removed and `dir` is left as it was.
fn build_beside<T>(
    op: &'static str,
    dir: &Path,
    build: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let bad = |msg: String| Error::invalid(op, format!("{}: {msg}", dir.display()));
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(bad("the directory is not empty".into()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, op, e)),
    }
    let name = dir
        .file_name()
        .ok_or_else(|| bad("not a directory name".into()))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create directory", e))?;
    let tmp = parent.join(format!(
        ".{}.{op}-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, "create directory", e))?;
    let built = build(&tmp).and_then(|value| {
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, "rename the new store", e))?;
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(parent, "fsync directory", e))?;
        Ok(value)
    });
    built.inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&tmp);
    })
}

/// Imports into the new store in `dir` and closes it.
/// `import` into the PostgreSQL store at `url` (created if missing, must be
/// empty). Not all or nothing there: a failed import leaves what it wrote,
/// and the error says so.
fn import_pg(url: &str, input: &mut dyn BufRead) -> Result<i32> {
    let store = Store::new(crate::pg::PgBackend::open(url)?);
    let progress = Progress::new();
    let result = dump::import(&store, input, &mut |c| {
        progress.show(&counts_line("imported", c))
    });
    progress.done();
    store.close()?;
    let counts = result.map_err(|e| {
        Error::invalid(
            "import",
            format!("{e} (the PostgreSQL store keeps what was imported before it)"),
        )
    })?;
    progress.finish(&counts_line("imported", counts));
    Ok(0)
}

fn import_into(dir: &Path, input: &mut dyn BufRead, progress: &Progress) -> Result<Counts> {
    let store = Store::new(DiskLog::open(dir)?.0);
    let result = dump::import(&store, input, &mut |c| {
        progress.show(&counts_line("imported", c))
    });
    store.close()?;
    result
}

/// `persist recover DIR --to NEW`: salvages what checks out of the store in
/// `dir` (`ondisk::salvage`, which never changes `dir`) into a new store in
/// `to` (missing or empty; all or nothing, as `import`), and reports what
/// was lost. 0 when nothing was lost, 1 when something was.
pub fn recover(dir: &Path, to: &Path, out: &mut dyn Write) -> Result<i32> {
    let bad = |msg: String| Error::invalid("recover", msg);
    if let (Ok(from), Some(parent)) = (dir.canonicalize(), to.parent())
        && let Ok(into) = parent
            .canonicalize()
            .map(|p| p.join(to.file_name().unwrap_or_default()))
        && into.starts_with(&from)
    {
        return Err(bad(format!(
            "{} is inside the damaged store {}: recover never writes there",
            to.display(),
            dir.display()
        )));
    }
    let s = ondisk::salvage(dir)?;
    let counts = build_beside("recover", to, |tmp| {
        let store = Store::new(DiskLog::open(tmp)?.0);
        let result = restore_salvage(&store, &s);
        store.close()?;
        result
    })?;
    let w = |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(io_out);
    for d in &s.damage {
        w(out, format!("skipped {d}"))?;
    }
    for n in &s.notes {
        w(out, format!("note: {n}"))?;
    }
    for st in s.streams.iter().filter(|st| !st.lost.is_empty()) {
        w(
            out,
            format!("lost: stream {:?} {}", st.name, seq_ranges(&st.lost)),
        )?;
    }
    for st in &s.streams {
        if let Some((from, seqs)) = &st.moved_from {
            w(
                out,
                format!(
                    "moved: stream {from:?} {} to stream {:?} {} (they precede a lost range)",
                    seq_ranges(seqs),
                    st.name,
                    seq_ranges(&[1..=st.last_seq])
                ),
            )?;
        }
    }
    if !s.damage.is_empty() {
        w(
            out,
            "note: kv changes inside skipped ranges are unknown: a key may hold an older value, \
             or a deleted key may be back"
                .into(),
        )?;
    }
    let lost = s.lost_anything();
    w(
        out,
        format!(
            "{} into {}: {}",
            counts_line("recovered", counts),
            to.display(),
            if lost {
                "some data was lost (above)"
            } else {
                "nothing was lost"
            }
        ),
    )?;
    Ok(i32::from(lost))
}

/// Writes a salvage into the new, empty `store`.
fn restore_salvage(store: &Store, s: &ondisk::Salvage) -> Result<Counts> {
    let mut counts = Counts::default();
    for st in &s.streams {
        store.restore(&st.name, st.last_seq, st.records.clone())?;
        counts.streams += 1;
        counts.records += st.records.len() as u64;
    }
    for (key, value) in &s.kv {
        store.kv_put(key, value.clone())?;
        counts.keys += 1;
    }
    store.restore_global(s.last_pos, s.ids.clone())?;
    Ok(counts)
}

/// `seq 7`, `seqs 1-3, 7, 9-12`.
fn seq_ranges(r: &[std::ops::RangeInclusive<u64>]) -> String {
    let one = |r: &std::ops::RangeInclusive<u64>| match r.start() == r.end() {
        true => r.start().to_string(),
        false => format!("{}-{}", r.start(), r.end()),
    };
    let list = r.iter().map(one).collect::<Vec<_>>().join(", ");
    match r {
        [r] if r.start() == r.end() => format!("seq {list}"),
        _ => format!("seqs {list}"),
    }
}
