//! The PostgreSQL backend against a real server: values round-trip
//! exactly, the checks are atomic, faults are reported as SPEC 7 says.
//! Skipped (one line) when no server is reachable; see tests/common/pg.rs.

mod common;

use std::time::Duration;

use persist::{Appended, Backend, Store};
use serde_json::{Value, json};

use common::pg::{fresh, raw_client, server, url_for};

#[test]
fn values_round_trip_exactly() {
    let Some(db) = fresh() else { return };
    let s = &db.backend;
    let values: Vec<Value> = vec![
        json!(1),
        json!(1.0),
        json!(-0.0),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.7976931348623157e308),
        json!(0.1),
        json!("nul \u{0} inside"),
        json!("quote \" backslash \\ newline \n émoji 🎉"),
        json!({"z": 1, "a": {"y": [1, 2.5, null, true]}, "m": "x"}),
        json!([]),
        json!({}),
        json!(false),
    ];
    for v in &values {
        s.append("vals", v.clone()).unwrap();
        s.kv_put(&format!("k{}", s.last_seq("vals").unwrap()), v.clone())
            .unwrap();
    }
    let back: Vec<Value> = s
        .read("vals", 0, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.data)
        .collect();
    assert_eq!(back, values);
    for (i, v) in values.iter().enumerate() {
        let got = s.kv_get(&format!("k{}", i + 1)).unwrap().unwrap();
        assert_eq!(&got, v);
        // Integers and floats stay apart (serde_json equality is exact).
        assert_eq!(got.is_f64(), v.is_f64(), "{v}");
    }
}

#[test]
fn log_kv_and_positions_behave_as_on_the_other_backends() {
    let Some(db) = fresh() else { return };
    let s = Store::new(persist::pg::PgBackend::open(&db.url_string()).unwrap());
    assert_eq!(
        s.append_all("order-1", vec![json!(1), json!(2)]).unwrap(),
        2
    );
    assert_eq!(s.append("user-1", json!("u")).unwrap(), 1);
    assert_eq!(s.append("order-2", json!(3)).unwrap(), 1);
    let all = s.backend().unwrap().read_all(0, 10).unwrap();
    let got: Vec<(String, u64, u64)> = all
        .iter()
        .map(|r| (r.stream.clone(), r.seq, r.pos))
        .collect();
    assert_eq!(
        got,
        vec![
            ("order-1".into(), 1, 1),
            ("order-1".into(), 2, 2),
            ("user-1".into(), 1, 3),
            ("order-2".into(), 1, 4)
        ]
    );
    let cat = s.backend().unwrap().read_category("order", 1, 10).unwrap();
    assert_eq!(cat.iter().map(|r| r.pos).collect::<Vec<_>>(), vec![2, 4]);
    assert_eq!(s.streams().unwrap(), vec!["order-1", "order-2", "user-1"]);
    assert_eq!(s.truncate_through("order-1", 1).unwrap(), 1);
    assert_eq!(s.last_seq("order-1").unwrap(), 2);
    assert_eq!(s.append("order-1", json!(9)).unwrap(), 3);
    assert_eq!(s.backend().unwrap().last_pos().unwrap(), 5);
    s.kv_put("b/2", json!(2)).unwrap();
    s.kv_put("b/1", json!(1)).unwrap();
    s.kv_put("a", json!(0)).unwrap();
    assert_eq!(s.kv_keys("b/").unwrap(), vec!["b/1", "b/2"]);
    assert!(s.kv_del("a").unwrap());
    assert!(!s.kv_del("a").unwrap());
    assert_eq!(s.kv_get("a").unwrap(), None);
    s.close().unwrap();
}

#[test]
fn append_expect_reports_the_actual_seq_and_appends_nothing() {
    let Some(db) = fresh() else { return };
    let s = &db.backend;
    assert_eq!(s.append_expect("x", 0, json!(1)).unwrap(), Appended::Seq(1));
    assert_eq!(
        s.append_expect("x", 0, json!(2)).unwrap(),
        Appended::Conflict {
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(
        s.append_expect("new", 3, json!(2)).unwrap(),
        Appended::Conflict {
            expected: 3,
            actual: 0
        }
    );
    assert_eq!(s.streams().unwrap(), vec!["x"]);
    assert_eq!(s.read("x", 0, 10).unwrap().len(), 1);
}

#[test]
fn append_once_appends_an_id_once_and_names_both_streams() {
    let Some(db) = fresh() else { return };
    let s = &db.backend;
    assert_eq!(s.append_once("a", "id-1", json!(1)).unwrap(), 1);
    assert_eq!(s.append("a", json!(2)).unwrap(), 2);
    assert_eq!(s.append_once("a", "id-1", json!(1)).unwrap(), 1);
    let e = s
        .append_once("b", "id-1", json!(1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"a\"") && e.contains("\"b\""), "{e}");
    assert_eq!(s.streams().unwrap(), vec!["a"]);
    assert_eq!(s.last_seq("a").unwrap(), 2);
    let r = s.read("a", 0, 10).unwrap();
    assert_eq!(r[0].id.as_deref(), Some("id-1"));
    assert_eq!(r[1].id, None);
    s.truncate_through("a", 2).unwrap();
    assert_eq!(
        s.append_once("a", "id-1", json!(1)).unwrap(),
        1,
        "ids outlive truncation"
    );
}

#[test]
fn a_newer_schema_version_is_refused() {
    let Some(db) = fresh() else { return };
    let url = db.url_string();
    let mut raw = raw_client(&url);
    raw.execute(
        "UPDATE persist_meta SET value = 99 WHERE key = 'schema_version'",
        &[],
    )
    .unwrap();
    let e = persist::pg::PgBackend::open(&url).unwrap_err().to_string();
    assert!(
        e.contains("schema version 99") && e.contains("newer"),
        "{e}"
    );
}

#[test]
fn read_only_tools_never_create_a_store() {
    let Some(base) = server() else { return };
    let url = url_for(&base, "persist_no_such_store");
    let e = persist::pg::PgBackend::open_existing(&url)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a persist store"), "{e}");
    let mut raw = raw_client(&base);
    let n: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'persist_no_such_store'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[test]
fn connection_errors_name_host_and_port_but_never_the_password() {
    // A port nothing listens on: refused.
    let e = persist::pg::PgBackend::open("postgres://alice:hunter2secret@127.0.0.1:1/db")
        .unwrap_err()
        .to_string();
    assert!(e.contains("127.0.0.1:1"), "{e}");
    assert!(!e.contains("hunter2secret"), "{e}");
    let Some(base) = server() else { return };
    // A user that does not exist on the real server.
    let u = persist::pg::PgUrl::parse(&base).unwrap();
    let bad = format!(
        "postgres://nobody_here:hunter2secret@{}/test",
        u.host_port()
    );
    let e = persist::pg::PgBackend::open(&bad).unwrap_err().to_string();
    assert!(e.contains(&u.host_port()), "{e}");
    assert!(!e.contains("hunter2secret"), "{e}");
}

#[test]
fn a_terminated_connection_is_a_clear_error_and_the_next_call_reconnects() {
    let Some(db) = fresh() else { return };
    let url = format!("{}&application_name=persist_kill_me", db.url_string());
    let s = persist::pg::PgBackend::open(&url).unwrap();
    s.append("k", json!(1)).unwrap();
    let mut raw = raw_client(&db.url_string());
    raw.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'persist_kill_me'",
        &[],
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let e = s.append("k", json!(2)).unwrap_err().to_string();
    assert!(e.contains("connection to") && e.contains("lost"), "{e}");
    assert!(
        e.contains("outcome is unknown") && e.contains("append_once"),
        "{e}"
    );
    assert!(e.contains("next call reconnects"), "{e}");
    assert_eq!(
        s.last_seq("k").unwrap(),
        1,
        "the broken append did not commit"
    );
    assert_eq!(s.append("k", json!(2)).unwrap(), 2);
}

#[test]
fn tls_require_works_against_the_servers_self_signed_certificate() {
    let Some(db) = fresh() else { return };
    let url = format!(
        "{}&sslmode=require&application_name=persist_tls",
        db.url_string()
    );
    let s = persist::pg::PgBackend::open(&url).unwrap();
    s.append("t", json!(1)).unwrap();
    let mut raw = raw_client(&db.url_string());
    let ssl: bool = raw
        .query_one(
            "SELECT bool_or(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'persist_tls'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ssl, "the session is encrypted");
}

#[test]
fn tls_verify_full_checks_the_certificate() {
    let Some(db) = fresh() else { return };
    let cert = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    if !std::path::Path::new(cert).exists() {
        return;
    }
    // Debian's snakeoil certificate is its own root, issued for
    // `localhost`: verify-ca accepts it, verify-full only under that name.
    let ca = format!("{}&sslmode=verify-ca&sslrootcert={cert}", db.url_string());
    persist::pg::PgBackend::open(&ca).unwrap();
    let full = format!("{}&sslmode=verify-full&sslrootcert={cert}", db.url_string());
    if full.contains("@127.0.0.1:") {
        let e = persist::pg::PgBackend::open(&full).unwrap_err().to_string();
        assert!(e.contains("not valid for name"), "{e}");
        // The name the certificate carries passes.
        persist::pg::PgBackend::open(&full.replace("@127.0.0.1:", "@localhost:")).unwrap();
    }
    // And a root that did not sign it is refused in both modes.
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), b"").unwrap();
    let e = persist::pg::PgBackend::open(&format!(
        "{}&sslmode=verify-ca&sslrootcert={}",
        db.url_string(),
        other.path().display()
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("sslrootcert"), "{e}");
}

#[test]
fn wait_for_returns_when_another_connection_appends() {
    let Some(db) = fresh() else { return };
    let follower = persist::pg::PgBackend::open(&db.url_string()).unwrap();
    let start = std::time::Instant::now();
    follower.wait_for(0, Duration::from_millis(200)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(190),
        "waits out the timeout"
    );
    let url = db.url_string();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let w = persist::pg::PgBackend::open(&url).unwrap();
        w.append("w", json!(1)).unwrap();
    });
    let start = std::time::Instant::now();
    follower.wait_for(0, Duration::from_secs(20)).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "woken by the append"
    );
    assert_eq!(follower.read_all(0, 10).unwrap().len(), 1);
    writer.join().unwrap();
}
