//! The kernel's error type. Messages name what was wrong (stream, key, file,
//! offset, op); the script layer prefixes them with `persist: `.

use std::path::PathBuf;

/// A kernel result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the kernel can fail with. Each variant's fields are what its
/// message shows.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed something the operation cannot take; nothing was stored.
    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },

    /// A fold needs records that truncation dropped: `needed` up to
    /// `first_retained - 1`.
    #[error(
        "stream {stream:?}: {}; the first retained seq is {first_retained}; fold from a snapshot instead",
        dropped(*needed, *first_retained)
    )]
    Truncated {
        stream: String,
        needed: u64,
        first_retained: u64,
    },

    /// A named fold changed since its snapshot was saved, and the records a
    /// rebuild needs were compacted away (SPEC 3.13).
    #[error(
        "{owner} {name:?}: its fold changed since the snapshot at seq {seq}, and records 1-{through} of stream {stream:?} were compacted: rebuild from an export, or accept the new fold with persist::accept_fold"
    )]
    FoldChanged {
        owner: &'static str,
        name: String,
        seq: u64,
        stream: String,
        through: u64,
    },

    /// An upcaster failed on a record; its own message follows.
    #[error("upcast of stream {stream:?} seq {seq} failed: {msg}")]
    Upcast {
        stream: String,
        seq: u64,
        msg: String,
    },

    /// A value saved under `snapshot/<name>` is not a projection state.
    #[error("snapshot {name:?}: {msg}")]
    BadSnapshot { name: String, msg: String },

    /// The store was closed; the handle can no longer be used.
    #[error("store is closed")]
    Closed,

    /// A durable transport failed or the server answered with an error.
    #[error("{op}: {msg}")]
    Remote { op: String, msg: String },

    /// An I/O call failed.
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Stored bytes fail their checksum or structure check.
    #[error("{path}: corrupt at offset {offset}: {msg}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        msg: String,
    },

    /// An earlier write or fsync failed; the store refuses work until reopened.
    #[error("store at {path} is poisoned by an earlier failed write ({cause}); reopen it")]
    Poisoned { path: PathBuf, cause: String },

    /// Another opener holds the store's lock.
    #[error("store at {path} is in use by another process or handle")]
    Locked { path: PathBuf },

    /// A hub subscriber's handler failed; the published record is kept.
    #[error(
        "subscription {subscription}: handler failed on stream {stream:?} seq {seq} (the append is kept): {msg}"
    )]
    Handler {
        subscription: String,
        stream: String,
        seq: u64,
        msg: String,
    },

    /// A content-store lookup or check failed.
    #[error("blob {cid}: {msg}")]
    Blob { cid: String, msg: String },
}

impl Error {
    /// `Invalid`: `op` could not take what it was given.
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid {
            op,
            msg: msg.into(),
        }
    }

    /// `Io`: `what` on `path` failed.
    pub fn io(path: impl Into<PathBuf>, what: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            what,
            source,
        }
    }
}

/// "records 1-2 were dropped (truncated or compacted)", for `Truncated`.
fn dropped(first: u64, retained: u64) -> String {
    let last = retained.saturating_sub(1).max(first);
    if last == first {
        format!("record {first} was dropped (truncated or compacted)")
    } else {
        format!("records {first}-{last} were dropped (truncated or compacted)")
    }
}
