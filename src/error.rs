//! The kernel's error type. Messages name what was wrong (stream, key, file,
//! offset, op); the script layer prefixes them with `persist: `.

use std::path::PathBuf;

/// A kernel result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the kernel can fail with. Each variant's fields are what its
/// message shows.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed something the operation cannot take; nothing was stored.
    #[error("{op}: {msg}")]
    Invalid {
        /// The operation called.
        op: &'static str,
        /// What was wrong with its input.
        msg: String,
    },

    /// A fold needs records that truncation dropped: `needed` up to
    /// `first_retained - 1`.
    #[error(
        "stream {stream:?}: {}; the first retained seq is {first_retained}; fold from a snapshot instead",
        dropped(*needed, *first_retained)
    )]
    Truncated {
        /// The stream folded.
        stream: String,
        /// The first seq the fold needed.
        needed: u64,
        /// The stream's first retained seq.
        first_retained: u64,
    },

    /// A named fold changed since its snapshot was saved, and the records a
    /// rebuild needs were compacted away (SPEC 3.13).
    #[error(
        "{owner} {name:?}: its fold changed since the snapshot at seq {seq}, and records 1-{through} of stream {stream:?} were compacted: rebuild from an export, or accept the new fold with persist::accept_fold"
    )]
    FoldChanged {
        /// What holds the fold: "snapshot" or "view".
        owner: &'static str,
        /// The snapshot's (or view's) name.
        name: String,
        /// The seq the snapshot was saved at.
        seq: u64,
        /// The first stream of the source that lost records.
        stream: String,
        /// The last seq compacted away in that stream.
        through: u64,
    },

    /// An upcaster failed on a record; its own message follows.
    #[error("upcast of stream {stream:?} seq {seq} failed: {msg}")]
    Upcast {
        /// The record's stream.
        stream: String,
        /// The record's seq.
        seq: u64,
        /// The upcaster's message.
        msg: String,
    },

    /// A value saved under `snapshot/<name>` is not a projection state.
    #[error("snapshot {name:?}: {msg}")]
    BadSnapshot {
        /// The snapshot's name.
        name: String,
        /// What is wrong with the saved value.
        msg: String,
    },

    /// The store was closed; the handle can no longer be used.
    #[error("store is closed")]
    Closed,

    /// A durable transport failed or the server answered with an error.
    #[error("{op}: {msg}")]
    Remote {
        /// The request's op (`persist/...`).
        op: String,
        /// The transport's or server's message.
        msg: String,
    },

    /// An I/O call failed.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("read segment", ...).
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Stored bytes fail their checksum or structure check.
    #[error("{path}: corrupt at offset {offset}: {msg}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where in it the damage starts.
        offset: u64,
        /// What check failed.
        msg: String,
    },

    /// A file's format version is above what this build reads (its
    /// checksum passed, so it is not damage): a newer persist wrote it.
    /// Policy in docs/design.md, "Versions".
    #[error(
        "{path}: {what} written by a newer persist (format version {found}; this build reads up to {reads}); use a newer persist"
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its kind: "segment", "manifest", "hint", "compaction marker".
        what: &'static str,
        /// The version it carries.
        found: u32,
        /// The newest version this build reads.
        reads: u32,
    },

    /// An earlier write or fsync failed; the store refuses work until reopened.
    #[error("store at {path} is poisoned by an earlier failed write ({cause}); reopen it")]
    Poisoned {
        /// The store's directory.
        path: PathBuf,
        /// The failure that poisoned it.
        cause: String,
    },

    /// Another opener holds the store's lock.
    #[error("store at {path} is in use by another process or handle")]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },

    /// A hub subscriber's handler failed; the published record is kept.
    #[error(
        "subscription {subscription}: handler failed on stream {stream:?} seq {seq} (the append is kept): {msg}"
    )]
    Handler {
        /// The subscription's id or name.
        subscription: String,
        /// The published record's stream.
        stream: String,
        /// The published record's seq.
        seq: u64,
        /// The handler's message.
        msg: String,
    },

    /// A content-store lookup or check failed.
    #[error("blob {cid}: {msg}")]
    Blob {
        /// The content id asked for.
        cid: String,
        /// What failed.
        msg: String,
    },
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
