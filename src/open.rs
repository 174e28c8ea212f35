//! The front door: `Store::open(location)` and `Builder` for its options.
//!
//! A location is a directory (the on-disk log, created if missing). Other
//! kinds of storage are told apart by a URL scheme, so each new one (the
//! PostgreSQL backend, `postgres://...`) is one arm in `Location::parse`
//! and one in `Builder::open`.

use std::path::Path;

use crate::ondisk::{DiskLog, FaultHook, Options};
use crate::{Error, Result, Store};

/// Where `Store::open` finds a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location<'a> {
    /// The on-disk log in a directory.
    Dir(&'a Path),
}

impl<'a> Location<'a> {
    /// A `scheme://` prefix names a kind of storage; anything else is a path.
    fn parse(location: &'a Path) -> Result<Self> {
        let Some((scheme, _)) = location.to_str().and_then(|s| s.split_once("://")) else {
            return Ok(Location::Dir(location));
        };
        Err(Error::invalid(
            "open",
            format!(
                "{}: unknown storage scheme {scheme:?} (give a directory for the on-disk log)",
                location.display()
            ),
        ))
    }
}

/// Options for opening a store; `Store::open` uses the defaults.
///
/// ```
/// # fn main() -> persist::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// let store = persist::Store::builder()
///     .segment_bytes(8 << 20)
///     .compact_dead_bytes(None)
///     .open(dir.path())?;
/// assert_eq!(store.append("orders", serde_json::json!({"sku": "a1"}))?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    disk: Options,
}

impl Builder {
    /// The default options (64 MiB segments, automatic compaction at 64 MiB
    /// of dead bytes, every checksum checked on open).
    pub fn new() -> Self {
        Self::default()
    }

    /// The on-disk log starts a new segment file once the next batch would
    /// take the current one past this many bytes.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.disk.segment_bytes = bytes;
        self
    }

    /// Compacts automatically once this many bytes are estimated dead (and
    /// they are at least half the log); `None` compacts only on request.
    pub fn compact_dead_bytes(mut self, bytes: Option<u64>) -> Self {
        self.disk.compact_dead_bytes = bytes;
        self
    }

    /// Whether opening reads the whole log to check every frame's checksum
    /// even where the hint would let it skip (on by default).
    pub fn checksum_on_open(mut self, check: bool) -> Self {
        self.disk.checksum_on_open = check;
        self
    }

    /// Test hook: called before every write and fsync; `true` fails it.
    #[doc(hidden)]
    pub fn faults(mut self, hook: FaultHook) -> Self {
        self.disk.faults = Some(hook);
        self
    }

    /// Opens the store at `location`: a directory holds the on-disk log
    /// (created if missing; a torn tail from a crash is cut). Fails with
    /// `Error::Locked` if another handle or process has it open.
    pub fn open(self, location: impl AsRef<Path>) -> Result<Store> {
        match Location::parse(location.as_ref())? {
            Location::Dir(dir) => Ok(Store::new(DiskLog::open_with(dir, self.disk)?.0)),
        }
    }
}

impl Store {
    /// Opens the store at `location` with default options; see `Builder::open`.
    pub fn open(location: impl AsRef<Path>) -> Result<Store> {
        Builder::new().open(location)
    }

    /// Options for opening a store.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_directories_and_unknown_schemes_are_refused() {
        assert_eq!(
            Location::parse(Path::new("data/shop")).unwrap(),
            Location::Dir(Path::new("data/shop"))
        );
        let e = Location::parse(Path::new("ftp://x/y"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "open: ftp://x/y: unknown storage scheme \"ftp\" (give a directory for the on-disk log)"
        );
    }
}
