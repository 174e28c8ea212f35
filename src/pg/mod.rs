//! The PostgreSQL backend (SPEC 7): one store shared by many processes on
//! many machines.
//!
//! - `url`: parsing a `postgres://` URL, the schema, showing it without the
//!   password.
//! - `tls`: rustls connectors for each `sslmode`.
//! - `schema`: tables and SQL functions, created on first open, versioned.
//! - `conn`: one connection with its prepared statements; errors.
//! - `ops`: the `Backend` operations.
//! - `restore`: writing copied records with their seq, pos, `at` and id.
//! - `notify`: `wait_for`, LISTEN/NOTIFY as a wake-up only.
//! - `tools`: `persist inspect` and `persist verify` on a URL.
//!
//! The global position (SPEC 3.12) is fixed after commit by a sequencer:
//! an append takes only its stream's row lock and commits with `pos` NULL;
//! `persist_sequence()`, run by every read under the lock of the
//! `last_pos` row, numbers the committed rows it sees, densely, above the
//! last pos given. Numbering only what is committed, one sequencer at a
//! time, is what makes the order one no reader can contradict: a reader
//! sees a prefix of the sequencer's runs, and every later run numbers
//! above it. Appends to different streams share no lock, so they commit
//! (and group-commit) in parallel; a head-row lock held to commit would
//! serialize them (docs/backends.md, "PostgreSQL", has the measurements). Unlike a
//! sequencer bounded by `pg_snapshot_xmin`, this one is not held up by a
//! long transaction elsewhere on the server: a writer holding a
//! transaction open only delays its own records, which take the next
//! positions when it commits.

mod conn;
mod notify;
mod ops;
mod restore;
mod schema;
mod tls;
pub mod tools;
mod url;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

pub use url::{PgUrl, is_url, redact};

use crate::{Error, Result};
use conn::{Conn, describe, is_broken};

/// A store in a PostgreSQL schema. One connection, opened lazily again
/// after it breaks; `Send + Sync`, so a `Disk` can share it.
pub struct PgBackend {
    url: PgUrl,
    conn: Mutex<Option<Conn>>,
    /// Last `at` handed out: keeps `at` non-decreasing if the clock steps
    /// back (per process; other processes have their own clocks).
    last_at: AtomicI64,
    /// Whether (re)connecting may create the tables.
    create: bool,
}

/// Whether an operation writes: a write broken mid-flight has an unknown
/// outcome, a read can simply be retried.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

impl PgBackend {
    /// Opens (creating the tables if needed) the store at `url`.
    pub fn open(url: &str) -> Result<PgBackend> {
        let url = PgUrl::parse(url).map_err(|msg| Error::invalid("open", msg))?;
        Self::open_url(url)
    }

    /// Opens (creating the tables if needed) the store at a parsed URL.
    pub fn open_url(url: PgUrl) -> Result<PgBackend> {
        Self::connect(url, true)
    }

    /// Opens the store at `url` only if it exists: never creates tables
    /// (the read-only tools).
    pub fn open_existing(url: &str) -> Result<PgBackend> {
        let url = PgUrl::parse(url).map_err(|msg| Error::invalid("open", msg))?;
        Self::connect(url, false)
    }

    fn connect(url: PgUrl, create: bool) -> Result<PgBackend> {
        let conn = Conn::open(&url, create)?;
        Ok(PgBackend {
            url,
            conn: Mutex::new(Some(conn)),
            last_at: AtomicI64::new(0),
            create,
        })
    }

    /// The store's URL (its `Display` hides the password).
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// Runs `f` on the connection, connecting first if there is none. A
    /// broken connection is dropped (the next call reconnects) and reported
    /// with what it means for this operation.
    fn with<T>(
        &self,
        op: &'static str,
        what: &str,
        kind: Kind,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
            *guard = None;
            *guard = Some(Conn::open(&self.url, self.create)?);
        }
        let conn = guard.as_mut().expect("connected above");
        f(conn).map_err(|e| {
            if is_broken(&e) {
                *guard = None;
                self.lost(op, what, kind, &e)
            } else {
                self.refused(op, what, &e)
            }
        })
    }

    fn lost(&self, op: &'static str, what: &str, kind: Kind, e: &postgres::Error) -> Error {
        let outcome = match kind {
            Kind::Read => "",
            Kind::Write => {
                "; the outcome is unknown: it may or may not have been committed \
                 (retrying with append_once and the same id is safe)"
            }
        };
        Error::Remote {
            op: op.into(),
            msg: format!(
                "{what}: connection to {} lost ({}){outcome}; the next call reconnects",
                self.url,
                describe(e)
            ),
        }
    }

    fn refused(&self, op: &'static str, what: &str, e: &postgres::Error) -> Error {
        Error::Remote {
            op: op.into(),
            msg: format!("{what}: {} refused it: {}", self.url, describe(e)),
        }
    }

    /// Milliseconds since the epoch, never below the last one handed out.
    fn next_at(&self) -> i64 {
        let now = crate::value::now_millis();
        self.last_at.fetch_max(now, Ordering::Relaxed).max(now)
    }
}

impl fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgBackend({})", self.url)
    }
}

/// Drops a store's schema with everything in it: what `persist test
/// --backend pg` does after each test.
pub fn drop_schema(url: &PgUrl) -> Result<()> {
    client(url)?
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            schema::quote_ident(&url.schema)
        ))
        .map_err(|e| Error::Remote {
            op: "drop schema".into(),
            msg: format!("{url}: {}", describe(&e)),
        })
}

/// A plain client connected as the backend connects (same TLS), with
/// `search_path` set to the store's schema: for tools, tests and the
/// benchmark's raw-SQL baselines.
pub fn client(url: &PgUrl) -> Result<postgres::Client> {
    let fail = |msg: String| Error::Remote {
        op: "connect".into(),
        msg: format!("cannot connect to {url}: {msg}"),
    };
    let tls = tls::connector(&url.verify).map_err(fail)?;
    let mut client = url.config.connect(tls).map_err(|e| fail(describe(&e)))?;
    client
        .batch_execute(&format!(
            "SET search_path TO {}",
            schema::quote_ident(&url.schema)
        ))
        .map_err(|e| fail(describe(&e)))?;
    Ok(client)
}

/// The server `persist test --backend pg` and the PostgreSQL tests use
/// when `PERSIST_PG_URL` is not set.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `PERSIST_PG_URL`, else `DEFAULT_TEST_URL`.
pub fn test_url() -> String {
    std::env::var("PERSIST_PG_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.into())
}

/// A fresh, empty store in a new schema on the server at `base`: what
/// `persist::store()` gives under `--backend pg`. The caller drops the
/// schema (`drop_schema`) when done. The name carries the process id and a
/// counter, so parallel test processes never share one; a leftover schema
/// of the same name (from a killed run) is dropped first.
pub fn fresh(base: &str) -> Result<PgBackend> {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = PgUrl::parse(base).map_err(|msg| Error::invalid("store", msg))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let url = url.with_schema(&format!("persist_t{}_{n}", std::process::id()));
    drop_schema(&url)?;
    PgBackend::open_url(url)
}
