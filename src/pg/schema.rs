//! The tables and functions of a PostgreSQL store, created on first open
//! and versioned (SPEC 7).
//!
//! Everything lives in one schema (the URL's `search_path`, else `public`)
//! under `persist_` names, so a store can share a schema with an
//! application's own tables. Opening runs `ensure` under a transaction-level
//! advisory lock keyed by the schema, so processes racing to create the
//! same store serialize and the loser finds the tables made.
//!
//! Values are stored as the JSON text serde_json writes, in `text` columns,
//! not `jsonb`: `jsonb` rejects `\u0000` in strings, re-orders keys and
//! normalises numbers (`1.0` becomes `1`), so it cannot round-trip every
//! value the other backends keep. serde_json escapes NUL, so the text never
//! holds a NUL byte (which `text` refuses).
//!
//! Names use `COLLATE "C"` so `ORDER BY` is byte order, the order
//! `streams()` and `kv_keys()` promise (Rust `String` order).

use postgres::Client;

use crate::pg::conn::PgError;

/// The version this build writes. A store carrying a higher one was
/// written by a newer persist and is refused, never silently downgraded.
pub const VERSION: i64 = 1;

/// The DDL for version 1. Invariants:
/// - `persist_streams.last_seq` is the stream's high-water mark; appends
///   take the row's lock (`INSERT .. ON CONFLICT DO UPDATE`) for the whole
///   transaction, so the seq check and the insert are one atomic step per
///   stream and different streams never wait on each other.
/// - an event's `pos` is NULL until `persist_sequence()` fixes it after
///   commit (see `sequencer`); `xid` orders the rows of one transaction
///   together so a batch takes consecutive positions.
/// - `persist_meta('last_pos')` is the highest pos ever given; its row lock
///   is the sequencer's lock.
/// - `persist_ids` keeps every id `append_once` used, also after the
///   record is truncated.
/// - The pos and category indexes are partial (`pos IS NOT NULL`), so an
///   append writes only the primary key and the small "unsequenced" index
///   (on `xid` alone); the sequencer, off the append path, fills the
///   others. The category is an index expression, not a stored column.
///   Measured: with full indexes and a stored category column, 1,000-event
///   batches ran at 0.46 of the same rows in a raw multi-row INSERT.
const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS persist_meta (
    key text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO persist_meta VALUES ('last_pos', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS persist_streams (
    name text COLLATE "C" PRIMARY KEY,
    last_seq bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS persist_events (
    stream text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    pos bigint,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at bigint NOT NULL,
    id text COLLATE "C",
    data text NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS persist_events_pos
    ON persist_events (pos) WHERE pos IS NOT NULL;
CREATE INDEX IF NOT EXISTS persist_events_unsequenced
    ON persist_events (xid) WHERE pos IS NULL;
CREATE INDEX IF NOT EXISTS persist_events_category
    ON persist_events (split_part(stream, '-', 1), pos) WHERE pos IS NOT NULL;
CREATE TABLE IF NOT EXISTS persist_ids (
    id text COLLATE "C" PRIMARY KEY,
    stream text COLLATE "C" NOT NULL,
    seq bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS persist_kv (
    key text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS persist_listeners (
    pid integer PRIMARY KEY
);
"#;

/// The functions. `CREATE OR REPLACE` so a fix here reaches existing stores
/// of the same version on their next open.
///
/// `persist_append_expect` raises SQLSTATE `PS409` with the actual last
/// seq as its DETAIL when the check fails: the client reads the conflict
/// from the code and that field, never from message text.
///
/// `persist_append_once` raises `PS410` when the id was first used in
/// another stream, with that record's seq as DETAIL and its stream as HINT.
const FUNCTIONS: &str = r#"
CREATE OR REPLACE FUNCTION persist_wake() RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('persist_' || current_schema(), '')
    WHERE EXISTS (SELECT 1 FROM persist_listeners)
$$;

CREATE OR REPLACE FUNCTION persist_append_expect(
    p_stream text, p_expected bigint, p_at bigint, p_data text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    current bigint;
BEGIN
    INSERT INTO persist_streams AS s VALUES (p_stream, 0) ON CONFLICT DO NOTHING;
    SELECT last_seq INTO current FROM persist_streams WHERE name = p_stream FOR UPDATE;
    IF current <> p_expected THEN
        RAISE EXCEPTION 'stream %: expected last seq %, found %', p_stream, p_expected, current
            USING ERRCODE = 'PS409', DETAIL = current::text;
    END IF;
    UPDATE persist_streams SET last_seq = current + 1 WHERE name = p_stream;
    INSERT INTO persist_events (stream, seq, at, data) VALUES (p_stream, current + 1, p_at, p_data);
    PERFORM persist_wake();
    RETURN current + 1;
END $$;

CREATE OR REPLACE FUNCTION persist_append_once(
    p_stream text, p_id text, p_at bigint, p_data text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    seen persist_ids%ROWTYPE;
    new_seq bigint;
BEGIN
    -- The stream row lock first, then the id: every appender takes them in
    -- this order. A racing call with the same id waits on the id's unique
    -- index entry until the first commits, then sees its row.
    INSERT INTO persist_streams AS s VALUES (p_stream, 1)
        ON CONFLICT (name) DO UPDATE SET last_seq = s.last_seq + 1
        RETURNING last_seq INTO new_seq;
    INSERT INTO persist_ids VALUES (p_id, p_stream, new_seq) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO seen FROM persist_ids WHERE id = p_id;
        IF seen.stream <> p_stream THEN
            RAISE EXCEPTION 'id % was used in stream %', p_id, seen.stream
                USING ERRCODE = 'PS410', DETAIL = seen.seq::text, HINT = seen.stream;
        END IF;
        -- Give the seq back: nothing is appended.
        UPDATE persist_streams SET last_seq = new_seq - 1 WHERE name = p_stream;
        DELETE FROM persist_streams WHERE name = p_stream AND last_seq = 0;
        RETURN seen.seq;
    END IF;
    INSERT INTO persist_events (stream, seq, at, id, data) VALUES (p_stream, new_seq, p_at, p_id, p_data);
    PERFORM persist_wake();
    RETURN new_seq;
END $$;

CREATE OR REPLACE FUNCTION persist_sequence() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
    added bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM persist_events WHERE pos IS NULL) THEN
        RETURN 0;
    END IF;
    SELECT value INTO last FROM persist_meta WHERE key = 'last_pos' FOR UPDATE;
    -- A new statement, so a new snapshot: it sees what the previous holder
    -- of the lock numbered, and every row committed before this point.
    WITH todo AS (
        SELECT stream, seq, row_number() OVER (ORDER BY xid, stream, seq) AS k
        FROM persist_events WHERE pos IS NULL
    ), done AS (
        UPDATE persist_events e SET pos = last + todo.k
        FROM todo WHERE e.stream = todo.stream AND e.seq = todo.seq
        RETURNING todo.k
    )
    SELECT coalesce(max(k), 0) INTO added FROM todo;
    UPDATE persist_meta SET value = last + added WHERE key = 'last_pos';
    RETURN added;
END $$;

-- Reads fix the positions of what has committed first (SPEC 3.12), then
-- read in a later command of the same transaction, which sees them. A row
-- committed in between has no pos yet and is left for the next read; rows
-- of one stream commit in seq order, so a stream read still returns a
-- contiguous run of seqs.
CREATE OR REPLACE FUNCTION persist_read(p_stream text, p_after bigint, p_limit bigint)
RETURNS TABLE (seq bigint, pos bigint, at bigint, id text, data text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM persist_sequence();
    RETURN QUERY SELECT e.seq, e.pos, e.at, e.id, e.data FROM persist_events e
        WHERE e.stream = p_stream AND e.seq > p_after AND e.pos IS NOT NULL
        ORDER BY e.seq LIMIT p_limit;
END $$;

CREATE OR REPLACE FUNCTION persist_read_all(p_after bigint, p_limit bigint)
RETURNS TABLE (stream text, seq bigint, pos bigint, at bigint, id text, data text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM persist_sequence();
    RETURN QUERY SELECT e.stream, e.seq, e.pos, e.at, e.id, e.data FROM persist_events e
        WHERE e.pos > p_after ORDER BY e.pos LIMIT p_limit;
END $$;

CREATE OR REPLACE FUNCTION persist_read_category(p_category text, p_after bigint, p_limit bigint)
RETURNS TABLE (stream text, seq bigint, pos bigint, at bigint, id text, data text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM persist_sequence();
    RETURN QUERY SELECT e.stream, e.seq, e.pos, e.at, e.id, e.data FROM persist_events e
        WHERE split_part(e.stream, '-', 1) = p_category AND e.pos > p_after
        ORDER BY e.pos LIMIT p_limit;
END $$;

CREATE OR REPLACE FUNCTION persist_last_pos() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM persist_sequence();
    RETURN (SELECT value FROM persist_meta WHERE key = 'last_pos');
END $$;
"#;

/// Creates the schema, tables and functions if missing; refuses a store
/// whose version is newer than `VERSION`.
/// With `create` false, a schema without a store is `PgError::Missing`
/// and nothing is created (what the read-only tools need).
pub fn ensure(client: &mut Client, schema: &str, create: bool) -> Result<(), PgError> {
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('persist schema ' || $1))",
        &[&schema],
    )?;
    let made: bool = tx
        .query_one(
            "SELECT to_regclass(format('%I.persist_meta', $1::text)) IS NOT NULL",
            &[&schema],
        )?
        .get(0);
    if !made && !create {
        return Err(PgError::Missing);
    }
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(schema)
    ))?;
    let version: Option<i64> = match made {
        false => None,
        true => tx
            .query_opt(
                "SELECT value FROM persist_meta WHERE key = 'schema_version'",
                &[],
            )?
            .map(|row| row.get(0)),
    };
    if let Some(version) = version {
        if version > VERSION {
            return Err(PgError::Newer { version });
        }
        if version == VERSION {
            if create && !functions_current(&mut tx)? {
                install_functions(&mut tx)?;
            }
            tx.commit()?;
            return Ok(());
        }
    }
    tx.batch_execute(DDL)?;
    install_functions(&mut tx)?;
    tx.execute(
        "INSERT INTO persist_meta VALUES ('schema_version', $1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&VERSION],
    )?;
    tx.commit()?;
    Ok(())
}

/// A fingerprint of `FUNCTIONS` (FNV-1a), kept in `persist_meta` so an
/// open replaces the functions only when this build's differ: replacing
/// them on every connect would make each reconnect slow.
fn functions_hash() -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in FUNCTIONS.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h as i64
}

fn functions_current(tx: &mut postgres::Transaction<'_>) -> Result<bool, PgError> {
    let row = tx.query_opt(
        "SELECT value FROM persist_meta WHERE key = 'functions'",
        &[],
    )?;
    Ok(row.is_some_and(|r| r.get::<_, i64>(0) == functions_hash()))
}

fn install_functions(tx: &mut postgres::Transaction<'_>) -> Result<(), PgError> {
    tx.batch_execute(FUNCTIONS)?;
    tx.execute(
        "INSERT INTO persist_meta VALUES ('functions', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&functions_hash()],
    )?;
    Ok(())
}

/// `name` as a quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
