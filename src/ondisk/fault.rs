//! Every file operation the store makes (create, write, set length, fsync,
//! rename, remove, directory fsync) goes through `Io`, so a test can make
//! any write or fsync fail (STORAGE rule 7) without touching the file
//! system, and can trace them all to build the images a power loss could
//! leave (only what was fsync'd, and a directory's entries only once the
//! directory was).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Result};

/// The kinds of I/O a fault hook can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPoint {
    /// Any write: a batch, a segment header, a hint or compaction output,
    /// and setting a segment's length (preallocation, trimming).
    Write,
    /// Any fsync: of a segment, a hint, a compaction output or the directory.
    Sync,
}

/// Called before each write or fsync; returning `true` makes it fail.
pub type FaultHook = Arc<dyn Fn(IoPoint) -> bool + Send + Sync>;

/// A file operation that succeeded, as a trace hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoEvent {
    /// A new empty file, or an existing one truncated to empty.
    Create(PathBuf),
    /// `bytes` written to `path` at offset `off`.
    Write {
        /// The file.
        path: PathBuf,
        /// Where in it.
        off: u64,
        /// What was written.
        bytes: Vec<u8>,
    },
    /// The file's length set to `len` (extended sparse, or cut).
    SetLen {
        /// The file.
        path: PathBuf,
        /// Its new length.
        len: u64,
    },
    /// `fdatasync` of a file: its data and length are durable.
    Sync(PathBuf),
    /// fsync of a directory: its entries (creations, renames, removals)
    /// are durable.
    SyncDir(PathBuf),
    /// A file renamed, replacing any `to`.
    Rename {
        /// Its old path.
        from: PathBuf,
        /// Its new path.
        to: PathBuf,
    },
    /// A file removed.
    Remove(PathBuf),
}

/// Called after each file operation that succeeded, in order.
pub type TraceHook = Arc<dyn Fn(IoEvent) + Send + Sync>;

/// A hook that fails only the `n`th (0-based) I/O of kind `point`.
pub fn fail_nth(point: IoPoint, n: usize) -> FaultHook {
    let seen = AtomicUsize::new(0);
    Arc::new(move |p| p == point && seen.fetch_add(1, Ordering::SeqCst) == n)
}

/// Performs file operations, consulting the fault hook first and telling
/// the trace hook after.
#[derive(Clone, Default)]
pub(crate) struct Io {
    pub hook: Option<FaultHook>,
    pub trace: Option<TraceHook>,
}

impl Io {
    fn traced<T>(&self, r: Result<T>, event: impl FnOnce() -> IoEvent) -> Result<T> {
        if r.is_ok()
            && let Some(t) = &self.trace
        {
            t(event());
        }
        r
    }

    fn injected(&self, point: IoPoint) -> std::io::Result<()> {
        match &self.hook {
            Some(h) if h(point) => Err(std::io::Error::other(format!("injected {point:?} fault"))),
            _ => Ok(()),
        }
    }

    pub fn write_at(&self, file: &File, path: &Path, buf: &[u8], off: u64) -> Result<()> {
        let r = self
            .injected(IoPoint::Write)
            .and_then(|()| file.write_all_at(buf, off))
            .map_err(|e| Error::io(path, "write", e));
        self.traced(r, || IoEvent::Write {
            path: path.to_path_buf(),
            off,
            bytes: buf.to_vec(),
        })
    }

    /// Sets the file's length (extends with a hole, or cuts); a fault hook
    /// sees it as a write.
    pub fn set_len(&self, file: &File, path: &Path, len: u64) -> Result<()> {
        let r = self
            .injected(IoPoint::Write)
            .and_then(|()| file.set_len(len))
            .map_err(|e| Error::io(path, "set length", e));
        self.traced(r, || IoEvent::SetLen {
            path: path.to_path_buf(),
            len,
        })
    }

    /// `fdatasync`: never retried after a failure (the store is poisoned).
    pub fn sync(&self, file: &File, path: &Path) -> Result<()> {
        let r = self
            .injected(IoPoint::Sync)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(path, "fsync", e));
        self.traced(r, || IoEvent::Sync(path.to_path_buf()))
    }

    /// Makes renames, creations and unlinks in `dir` durable.
    pub fn sync_dir(&self, dir: &Path) -> Result<()> {
        let r = self
            .injected(IoPoint::Sync)
            .and_then(|()| File::open(dir)?.sync_all())
            .map_err(|e| Error::io(dir, "fsync directory", e));
        self.traced(r, || IoEvent::SyncDir(dir.to_path_buf()))
    }

    /// Creates `path`, which must not exist, for reading and writing.
    pub fn create_new(&self, path: &Path) -> Result<File> {
        let r = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, "create", e));
        self.traced(r, || IoEvent::Create(path.to_path_buf()))
    }

    pub fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let r = std::fs::rename(from, to).map_err(|e| Error::io(to, "rename", e));
        self.traced(r, || IoEvent::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        })
    }

    /// Removes `path`; one already gone is fine.
    pub fn remove(&self, path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => {
                let r = r.map_err(|e| Error::io(path, "remove", e));
                self.traced(r, || IoEvent::Remove(path.to_path_buf()))
            }
        }
    }

    /// Writes `bytes` to `tmp`, fsyncs it, renames it to `dst` and fsyncs the
    /// directory (STORAGE rule 5).
    pub fn write_file_atomic(&self, dir: &Path, tmp: &str, dst: &str, bytes: &[u8]) -> Result<()> {
        let tmp = dir.join(tmp);
        let r = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e));
        let file = self.traced(r, || IoEvent::Create(tmp.clone()))?;
        self.write_at(&file, &tmp, bytes, 0)?;
        self.sync(&file, &tmp)?;
        self.rename(&tmp, &dir.join(dst))?;
        self.sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_nth_fails_exactly_once() {
        let h = fail_nth(IoPoint::Sync, 1);
        let got: Vec<bool> = [IoPoint::Sync, IoPoint::Write, IoPoint::Sync, IoPoint::Sync]
            .into_iter()
            .map(|p| h(p))
            .collect();
        assert_eq!(got, [false, false, true, false]);
    }
}
