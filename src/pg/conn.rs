//! One connection to the server with its prepared statements, and how its
//! failures become kernel errors.
//!
//! A connection that breaks is dropped; the next call opens a new one. A
//! write that breaks mid-flight may or may not have committed, and the
//! error says so: only the caller can decide (retry with `append_once`).

use postgres::error::SqlState;
use postgres::{Client, Statement};

use crate::Error;
use crate::pg::schema::{self, quote_ident};
use crate::pg::tls;
use crate::pg::url::PgUrl;

/// What can go wrong below the backend.
#[derive(Debug)]
pub enum PgError {
    Sql(postgres::Error),
    /// The store's schema version is newer than this build's.
    Newer {
        version: i64,
    },
    /// The schema holds no store (and the caller asked not to create one).
    Missing,
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        PgError::Sql(e)
    }
}

/// SQLSTATE of a failed `append_expect` check (DETAIL: the actual seq).
pub const CONFLICT: &str = "PS409";
/// SQLSTATE of an id first used in another stream (DETAIL: the seq it
/// was used for, HINT: that stream).
pub const ID_ELSEWHERE: &str = "PS410";

/// A live connection. Statements belong to it and die with it.
pub struct Conn {
    pub client: Client,
    pub st: Statements,
    /// Whether this session LISTENs for appends (`wait_for`).
    pub listening: bool,
}

macro_rules! statements {
    ($($name:ident = $sql:expr;)*) => {
        /// Every statement the backend runs often, prepared once per
        /// connection.
        pub struct Statements { $(pub $name: Statement,)* }

        impl Statements {
            fn prepare(client: &mut Client) -> Result<Self, postgres::Error> {
                Ok(Statements { $($name: client.prepare($sql)?,)* })
            }
        }
    };
}

statements! {
    append_all = "WITH s AS (
            INSERT INTO persist_streams AS s VALUES ($1, cardinality($3::text[]))
            ON CONFLICT (name) DO UPDATE SET last_seq = s.last_seq + cardinality($3::text[])
            RETURNING last_seq
        ), e AS (
            INSERT INTO persist_events (stream, seq, at, data)
            SELECT $1, s.last_seq - cardinality($3::text[]) + d.ord, $2, d.data
            FROM s, unnest($3::text[]) WITH ORDINALITY AS d(data, ord)
        )
        SELECT last_seq, persist_wake() FROM s";
    append_expect = "SELECT persist_append_expect($1, $2, $3, $4)";
    append_once = "SELECT persist_append_once($1, $2, $3, $4)";
    read = "SELECT * FROM persist_read($1, $2, $3)";
    read_all = "SELECT * FROM persist_read_all($1, $2)";
    read_category = "SELECT * FROM persist_read_category($1, $2, $3)";
    last_seq = "SELECT last_seq FROM persist_streams WHERE name = $1";
    last_pos = "SELECT persist_last_pos()";
    sequence = "SELECT persist_sequence()";
    truncate = "WITH d AS (DELETE FROM persist_events WHERE stream = $1 AND seq <= $2 RETURNING 1)
        SELECT count(*) FROM d";
    streams = "SELECT name FROM persist_streams ORDER BY name";
    ids = "SELECT id, stream, seq FROM persist_ids WHERE id > $1 ORDER BY id LIMIT $2";
    kv_get = "SELECT value FROM persist_kv WHERE key = $1";
    kv_put = "INSERT INTO persist_kv VALUES ($1, $2)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    kv_del = "DELETE FROM persist_kv WHERE key = $1";
    kv_keys = "SELECT key FROM persist_kv WHERE key >= $1 AND starts_with(key, $1) ORDER BY key";
}

impl Conn {
    /// Connects, selects the store's schema, creates or checks the tables,
    /// and prepares the statements.
    pub fn open(url: &PgUrl, create: bool) -> Result<Conn, Error> {
        let connect_err = |msg: String| Error::Remote {
            op: "connect".into(),
            msg: format!("cannot connect to {url}: {msg}"),
        };
        let tls = tls::connector(&url.verify).map_err(connect_err)?;
        let mut client = url
            .config
            .connect(tls)
            .map_err(|e| connect_err(describe(&e)))?;
        let setup = |client: &mut Client| -> Result<Statements, PgError> {
            client.batch_execute(&format!("SET search_path TO {}", quote_ident(&url.schema)))?;
            schema::ensure(client, &url.schema, create)?;
            Ok(Statements::prepare(client)?)
        };
        let st = setup(&mut client).map_err(|e| match e {
            PgError::Newer { version } => Error::Remote {
                op: "open".into(),
                msg: format!(
                    "{url}: the store has schema version {version}, newer than this persist \
                     understands ({}); use a newer persist",
                    schema::VERSION
                ),
            },
            PgError::Missing => Error::Remote {
                op: "open".into(),
                msg: format!("{url}: not a persist store (no persist tables in the schema)"),
            },
            PgError::Sql(e) => connect_err(describe(&e)),
        })?;
        Ok(Conn {
            client,
            st,
            listening: false,
        })
    }
}

/// Whether `e` means the connection is gone (so it must be dropped, and a
/// write's outcome is unknown) rather than the server refusing a statement.
pub fn is_broken(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        }
    }
}

/// The server's message (with its detail) or the client's.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{}: {} ({d})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                msg = format!("{msg}: {s}");
                source = s.source();
            }
            msg
        }
    }
}
