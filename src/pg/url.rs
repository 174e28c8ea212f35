//! A `postgres://` URL: the connection settings, the schema the store
//! lives in, how TLS is checked, and a way to show the URL that never
//! shows its password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use postgres::config::{Host, SslMode};

use crate::pg::tls::Verify;

/// Whether `s` names a PostgreSQL store rather than a directory.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A parsed store URL. `Display` shows it without the password.
#[derive(Clone)]
pub struct PgUrl {
    /// Host, port, user, password and database, as the client takes them.
    pub config: postgres::Config,
    /// The schema the tables live in: the URL's `search_path`, else `public`.
    pub schema: String,
    /// How much of the server's certificate is checked (`sslmode`).
    pub verify: Verify,
}

impl PgUrl {
    /// Parses `url`. Errors name what is wrong but never repeat the URL
    /// (it may hold a password).
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        if !is_url(url) {
            return Err("not a postgres:// or postgresql:// URL".into());
        }
        // tokio-postgres knows `disable`, `prefer` and `require`; the two
        // verifying modes and `sslrootcert` are ours, so they are taken out
        // before it parses the rest.
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut mode = None;
        let mut root = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", m @ ("verify-ca" | "verify-full"))) => mode = Some(m),
                Some(("sslrootcert", path)) => root = Some(PathBuf::from(path)),
                _ => kept.push(pair),
            }
        }
        let rest = match kept.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", kept.join("&")),
        };
        let mut config =
            postgres::Config::from_str(&rest).map_err(|e| format!("bad PostgreSQL URL: {e}"))?;
        let verify = match mode {
            None => Verify::Nothing,
            Some(m) => {
                config.ssl_mode(SslMode::Require);
                let root = root.or_else(default_root).ok_or_else(|| {
                    format!("sslmode={m} needs sslrootcert=FILE (or ~/.postgresql/root.crt)")
                })?;
                match m {
                    "verify-ca" => Verify::Chain(root),
                    _ => Verify::Full(root),
                }
            }
        };
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            config.user(&std::env::var("USER").unwrap_or_else(|_| "postgres".into()));
        }
        let schema = config
            .get_options()
            .and_then(search_path)
            .unwrap_or_else(|| "public".into());
        Ok(PgUrl {
            config,
            schema,
            verify,
        })
    }

    /// The same server and credentials with the store in `schema`.
    pub fn with_schema(&self, schema: &str) -> PgUrl {
        PgUrl {
            schema: schema.to_string(),
            ..self.clone()
        }
    }

    /// `host:port` of the first host, for messages about connecting.
    pub fn host_port(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }
}

/// `postgres://user@host:port/db (schema s)`: everything but the password.
impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.config.get_user().unwrap_or("");
        let db = self.config.get_dbname().unwrap_or(user);
        write!(
            f,
            "postgres://{user}@{}/{db} (schema {})",
            self.host_port(),
            self.schema
        )
    }
}

/// Never the password: `Debug` is the same as `Display`.
impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

/// Shows a store location for messages: a URL without its password, a
/// directory as it is.
pub fn redact(location: &str) -> String {
    match PgUrl::parse(location) {
        Ok(url) => url.to_string(),
        Err(_) if is_url(location) => "postgres://<bad URL>".into(),
        Err(_) => location.to_string(),
    }
}

/// The first schema of `-c search_path=...` in the server options.
fn search_path(options: &str) -> Option<String> {
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        let setting = match w {
            "-c" => words.next()?,
            w => w.strip_prefix("-c").or_else(|| w.strip_prefix("--"))?,
        };
        if let Some(path) = setting.strip_prefix("search_path=") {
            let first = path.split(',').next()?.trim().trim_matches('"');
            return (!first.is_empty()).then(|| first.to_string());
        }
    }
    None
}

fn default_root() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".postgresql/root.crt");
    path.exists().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_comes_from_search_path_or_is_public() {
        let u = PgUrl::parse("postgres://u@h:5433/db").unwrap();
        assert_eq!(u.schema, "public");
        let u = PgUrl::parse("postgres://u@h/db?options=-csearch_path%3Dorders").unwrap();
        assert_eq!(u.schema, "orders");
        let u = PgUrl::parse("postgresql://u@h/db?options=-c%20search_path%3Da,b").unwrap();
        assert_eq!(u.schema, "a");
    }

    #[test]
    fn display_and_errors_never_show_the_password() {
        let u = PgUrl::parse("postgres://alice:s3cret@db.example:6000/app").unwrap();
        assert_eq!(
            u.to_string(),
            "postgres://alice@db.example:6000/app (schema public)"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
        let u = PgUrl::parse("postgres://alice@h/app?password=s3cret").unwrap();
        assert!(!u.to_string().contains("s3cret"));
        let e = PgUrl::parse("postgres://alice:s3cret@h/app?nonsense=1").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(!redact("postgres://alice:s3cret@h:1/x").contains("s3cret"));
        assert_eq!(redact("/tmp/store"), "/tmp/store");
    }

    #[test]
    fn verifying_modes_need_a_root_certificate() {
        let u = PgUrl::parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=/r.pem").unwrap();
        assert_eq!(u.verify, Verify::Full("/r.pem".into()));
        let u = PgUrl::parse("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/r.pem").unwrap();
        assert_eq!(u.verify, Verify::Chain("/r.pem".into()));
        let u = PgUrl::parse("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(u.verify, Verify::Nothing);
    }
}
