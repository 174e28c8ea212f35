//! Group commit (STORAGE rule 2) and the poison flag (rule 7).
//!
//! Writers append their batch under the store's lock, then wait here until
//! the durable mark reaches the end of their batch. Whoever finds no fsync in
//! flight becomes the leader: it fsyncs the active segment, which covers every
//! batch written before the fsync started, advances the mark and wakes all
//! waiters whose batch is at or below it. One fsync thus acknowledges many
//! writers.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::{Error, Result};

/// A position in the log: (segment id, offset in it). Ordered like the log.
pub(crate) type Mark = (u64, u64);

pub(crate) struct Syncer {
    dir: PathBuf,
    state: Mutex<State>,
    cv: Condvar,
}

struct State {
    /// Everything up to here is fsync'd. Only grows.
    synced: Mark,
    /// A leader is inside fsync.
    syncing: bool,
    /// Set once by the first failed write or fsync; never cleared.
    poison: Option<String>,
}

impl Syncer {
    pub fn new(dir: PathBuf, synced: Mark) -> Self {
        Syncer {
            dir,
            state: Mutex::new(State {
                synced,
                syncing: false,
                poison: None,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few plain fields, each update complete on its own.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poisoned_error(&self, cause: &str) -> Error {
        Error::Poisoned {
            path: self.dir.clone(),
            cause: cause.to_string(),
        }
    }

    /// `Err(Poisoned)` once any write or fsync failed.
    pub fn check(&self) -> Result<()> {
        match &self.lock().poison {
            Some(cause) => Err(self.poisoned_error(cause)),
            None => Ok(()),
        }
    }

    /// Records the first failure and wakes every waiter so it can fail too.
    pub fn poison(&self, cause: String) {
        let mut s = self.lock();
        s.poison.get_or_insert(cause);
        self.cv.notify_all();
    }

    pub fn synced(&self) -> Mark {
        self.lock().synced
    }

    /// Everything up to `m` is durable (e.g. a segment synced when rolled).
    pub fn mark_synced(&self, m: Mark) {
        let mut s = self.lock();
        s.synced = s.synced.max(m);
        self.cv.notify_all();
    }

    /// Returns once `target` is durable. `lead` fsyncs the active segment and
    /// returns the mark that fsync covered; it must poison on failure.
    pub fn wait(&self, target: Mark, lead: impl Fn() -> Result<Mark>) -> Result<()> {
        let mut s = self.lock();
        loop {
            // Durable first: a batch an earlier fsync covered is acknowledged
            // even if a later fsync failed meanwhile.
            if s.synced >= target {
                return Ok(());
            }
            if let Some(cause) = &s.poison {
                return Err(self.poisoned_error(cause));
            }
            if s.syncing {
                s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            s.syncing = true;
            drop(s);
            let r = lead();
            s = self.lock();
            s.syncing = false;
            if let Ok(m) = &r {
                s.synced = s.synced.max(*m);
            }
            self.cv.notify_all();
            r?;
        }
    }
}
