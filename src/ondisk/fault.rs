//! Every write and fsync the store makes goes through `Io`, so a test can make
//! any one of them fail (STORAGE rule 7) without touching the file system.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
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

/// A hook that fails only the `n`th (0-based) I/O of kind `point`.
pub fn fail_nth(point: IoPoint, n: usize) -> FaultHook {
    let seen = AtomicUsize::new(0);
    Arc::new(move |p| p == point && seen.fetch_add(1, Ordering::SeqCst) == n)
}

/// Performs writes and fsyncs, consulting the fault hook first.
#[derive(Clone, Default)]
pub(crate) struct Io {
    pub hook: Option<FaultHook>,
}

impl Io {
    fn injected(&self, point: IoPoint) -> std::io::Result<()> {
        match &self.hook {
            Some(h) if h(point) => Err(std::io::Error::other(format!("injected {point:?} fault"))),
            _ => Ok(()),
        }
    }

    pub fn write_at(&self, file: &File, path: &Path, buf: &[u8], off: u64) -> Result<()> {
        self.injected(IoPoint::Write)
            .and_then(|()| file.write_all_at(buf, off))
            .map_err(|e| Error::io(path, "write", e))
    }

    /// Sets the file's length (extends with a hole, or cuts); a fault hook
    /// sees it as a write.
    pub fn set_len(&self, file: &File, path: &Path, len: u64) -> Result<()> {
        self.injected(IoPoint::Write)
            .and_then(|()| file.set_len(len))
            .map_err(|e| Error::io(path, "set length", e))
    }

    /// `fdatasync`: never retried after a failure (the store is poisoned).
    pub fn sync(&self, file: &File, path: &Path) -> Result<()> {
        self.injected(IoPoint::Sync)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(path, "fsync", e))
    }

    /// Makes renames, creations and unlinks in `dir` durable.
    pub fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.injected(IoPoint::Sync)
            .and_then(|()| File::open(dir)?.sync_all())
            .map_err(|e| Error::io(dir, "fsync directory", e))
    }

    /// Writes `bytes` to `tmp`, fsyncs it, renames it to `dst` and fsyncs the
    /// directory (STORAGE rule 5).
    pub fn write_file_atomic(&self, dir: &Path, tmp: &str, dst: &str, bytes: &[u8]) -> Result<()> {
        let tmp = dir.join(tmp);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
        self.write_at(&file, &tmp, bytes, 0)?;
        self.sync(&file, &tmp)?;
        let dst = dir.join(dst);
        std::fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, "rename", e))?;
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
