//! Finding the PostgreSQL server the PG tests run against.
//!
//! `PERSIST_PG_URL` names it (default `persist::pg::DEFAULT_TEST_URL`).
//! When it cannot be reached the tests pass without running, and one line
//! (once per `cargo test` run, not per test) says how to run them; with
//! `PERSIST_PG_REQUIRED=1` (set by `.ci/run`) an unreachable server fails
//! them instead.

#![allow(dead_code)]

use std::io::Write;
use std::sync::OnceLock;

use persist::pg::{PgBackend, PgUrl};

/// The server URL, or `None` (after saying so once) when there is none.
pub fn server() -> Option<String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let url = persist::pg::test_url();
            let probe = PgUrl::parse(&url).map_err(|e| e.to_string()).and_then(|u| {
                let u = u.with_schema("persist_probe");
                persist::pg::drop_schema(&u).map_err(|e| e.to_string())
            });
            match probe {
                Ok(()) => Some(url),
                Err(e) if std::env::var_os("PERSIST_PG_REQUIRED").is_some() => {
                    panic!("PERSIST_PG_REQUIRED is set but the server is unreachable: {e}")
                }
                Err(_) => {
                    say_once(&format!(
                        "skipping PostgreSQL tests: no server at {} (start one, or set \
                         PERSIST_PG_URL=postgres://user@host:port/db; `.ci/run` does both)",
                        persist::pg::redact(&url)
                    ));
                    None
                }
            }
        })
        .clone()
}

/// Prints `line` on the real stderr (past the test harness's capture),
/// once per parent process: the test binaries of one `cargo test` share
/// their parent, so the line appears once however many skip.
fn say_once(line: &str) {
    let marker = std::env::temp_dir().join(format!(
        "persist-pg-skip-{}",
        std::os::unix::process::parent_id()
    ));
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(marker)
        .is_ok()
    {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// A fresh, empty store in its own schema, dropped when the guard goes.
pub struct Fresh {
    pub backend: PgBackend,
}

impl Fresh {
    pub fn url(&self) -> &PgUrl {
        self.backend.url()
    }

    /// The URL string another process opens the same store with.
    pub fn url_string(&self) -> String {
        url_for(&server().expect("server"), &self.url().schema)
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = persist::Backend::close(&self.backend);
        let _ = persist::pg::drop_schema(self.backend.url());
    }
}

/// A fresh store, or `None` when there is no server.
pub fn fresh() -> Option<Fresh> {
    let url = server()?;
    Some(Fresh {
        backend: persist::pg::fresh(&url).expect("fresh schema"),
    })
}

/// `base` with the store in `schema` (the `options=-csearch_path=` form).
pub fn url_for(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

/// A plain client on the server, for what the tests do behind the
/// backend's back (terminating sessions, holding transactions open).
pub fn raw_client(url: &str) -> postgres::Client {
    persist::pg::client(&PgUrl::parse(url).expect("url")).expect("raw client")
}
