//! Opening a store: for writing (`open`, `open_with`: exclusive lock,
//! recovery repairs) or for reading only (`open_read_only`: shared lock,
//! recovery changes nothing).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use super::commit::Syncer;
use super::fault::Io;
use super::index::MAX_OFFSET;
use super::recover::{self, Mode, Plan};
use super::segment::HEADER_LEN;
use super::{DiskLog, Inner, LOCK_FILE, OpenReport, Options};
use crate::{Error, Result};

/// Takes the store's lock shared, for a reader that must not race a
/// writer; the lock is released when the file is dropped. `None` when no
/// writer ever opened `dir` (a writer creates the lock file).
pub(super) fn lock_shared(dir: &Path) -> Result<Option<File>> {
    let lock_path = dir.join(LOCK_FILE);
    let lock = match File::open(&lock_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&lock_path, "open lock file", e)),
    };
    match lock.try_lock_shared() {
        Ok(()) => Ok(Some(lock)),
        Err(TryLockError::WouldBlock) => Err(Error::Locked {
            path: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(Error::io(&lock_path, "lock", e)),
    }
}

impl DiskLog {
    /// Opens (creating if missing) the store in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<(DiskLog, OpenReport)> {
        Self::open_with(dir, Options::default())
    }

    /// Opens (creating if missing) the store in `dir` with `opts`.
    pub fn open_with(dir: impl AsRef<Path>, opts: Options) -> Result<(DiskLog, OpenReport)> {
        let dir = dir.as_ref().to_path_buf();
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid("open", "the store directory path is empty"));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, "open lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked { path: dir }),
            Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, "lock", e)),
        }
        Self::recovered(dir, opts, Some(lock), Mode::Repair)
    }

    /// Opens the store in `dir` for reading only (the tools): nothing in
    /// `dir` is created, repaired or changed; the report says what a
    /// writing open would repair, and reads see the store as that open
    /// would. Refused while a writer holds the store, so the view is
    /// consistent; a directory without segments is "not a persist store".
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<(DiskLog, OpenReport)> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::io(
                &dir,
                "open store",
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such store directory"),
            ));
        }
        let lock = lock_shared(&dir)?;
        Self::recovered(dir, Options::default(), lock, Mode::ReadOnly)
    }

    fn recovered(
        dir: PathBuf,
        opts: Options,
        lock: Option<File>,
        mode: Mode,
    ) -> Result<(DiskLog, OpenReport)> {
        let io = Io {
            hook: opts.faults,
            trace: opts.trace,
        };
        let plan = Plan {
            mode,
            use_hint: true,
            check_hinted: opts.checksum_on_open,
            capture: None,
        };
        let rec = recover::recover(&io, &dir, plan, &mut |_, _| {})
            .map_err(|e| recover::point_to_salvage(e, &dir))?;
        let (&active, seg) = rec
            .segs
            .last_key_value()
            .ok_or_else(|| recover::not_a_store(&dir))?;
        let sync = Syncer::new(dir.clone(), (active, seg.r.len));
        // Recovery left only zeros past the frame end of the last segment,
        // and fsync'd it.
        let alloc = seg
            .r
            .file
            .metadata()
            .map_err(|e| Error::io(&*seg.r.path, "stat segment", e))?
            .len()
            .max(seg.r.len);
        let log = DiskLog {
            dir,
            // Keeps every offset a `Pos` can hold, however large a batch.
            segment_bytes: opts.segment_bytes.clamp(HEADER_LEN + 1, MAX_OFFSET / 2),
            compact_dead_bytes: opts.compact_dead_bytes,
            io,
            inner: Mutex::new(Inner {
                index: rec.index,
                segs: rec.segs,
                active,
                alloc,
                closed: false,
            }),
            sync,
            lock,
            read_only: mode == Mode::ReadOnly,
            compacting: Mutex::new(()),
            compact_retry_at: AtomicU64::new(0),
            report: rec.report.clone(),
        };
        Ok((log, rec.report))
    }

    /// Refuses `op` on a store opened read-only.
    pub(super) fn writable(&self, op: &'static str) -> Result<()> {
        if self.read_only {
            let msg = format!("store {} is open read-only", self.dir.display());
            return Err(Error::invalid(op, msg));
        }
        Ok(())
    }
}
