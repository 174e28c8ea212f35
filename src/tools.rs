//! The store tools behind `persist inspect|verify|export|import` (SPEC 6).
//! Each writes its report to `out` and returns the exit code; progress goes
//! to stderr, and only when stderr is a terminal.

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

/// The directory must already hold a store: tools never create one.
fn existing(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::io(
        dir,
        "open store",
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such store directory"),
    ))
}

fn open_existing(dir: &Path) -> Result<DiskLog> {
    existing(dir)?;
    open_disk_log(dir)
}

/// `dir` as a PostgreSQL URL, when it is one (SPEC 6: every tool taking
/// DIR takes a URL too).
fn pg_url(dir: &Path) -> Option<&str> {
    dir.to_str().filter(|s| crate::pg::is_url(s))
}

/// A Store over the store at `dir` or URL; `create` false refuses a
/// location that holds no store.
fn tool_store(dir: &Path, create: bool) -> Result<Store> {
    Ok(match (pg_url(dir), create) {
        (Some(url), true) => Store::new(crate::pg::PgBackend::open(url)?),
        (Some(url), false) => Store::new(crate::pg::PgBackend::open_existing(url)?),
        (None, true) => Store::new(open_disk_log(dir)?),
        (None, false) => Store::new(open_existing(dir)?),
    })
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

/// Streams (first seq, last seq, records kept), kv keys, segments, bytes.
pub fn inspect(dir: &Path, out: &mut dyn Write) -> Result<i32> {
    if let Some(url) = pg_url(dir) {
        return crate::pg::tools::inspect(url, out);
    }
    let log = open_existing(dir)?;
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
    crate::Backend::close(&log)?;
    Ok(0)
}

/// Checks every frame and the index; 1 with each fault's file and offset.
pub fn verify(dir: &Path, out: &mut dyn Write) -> Result<i32> {
    if let Some(url) = pg_url(dir) {
        return crate::pg::tools::verify(url, out);
    }
    existing(dir)?;
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
    w(out, format!("hint: {:?}", report.hint))?;
    w(
        out,
        format!(
            "{}: {} segments, {} batches, {} bytes, {} faults",
            if report.is_ok() { "ok" } else { "DAMAGED" },
            report.segments,
            report.batches,
            report.bytes,
            report.faults.len()
        ),
    )?;
    Ok(if report.is_ok() { 0 } else { 1 })
}

fn counts_line(verb: &str, c: Counts) -> String {
    format!(
        "{verb} {} streams, {} records, {} keys",
        c.streams, c.records, c.keys
    )
}

/// Writes the dump of the store in `dir` to `out`.
pub fn export(dir: &Path, stream: Option<&str>, out: &mut dyn Write) -> Result<i32> {
    let store = tool_store(dir, false)?;
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

/// Restores a dump into the empty store in `dir` (created if missing).
pub fn import(dir: &Path, input: &mut dyn BufRead) -> Result<i32> {
    let store = tool_store(dir, true)?;
    let progress = Progress::new();
    let result = dump::import(&store, input, &mut |c| {
        progress.show(&counts_line("imported", c))
    });
    progress.done();
    store.close()?;
    progress.finish(&counts_line("imported", result?));
    Ok(0)
}
