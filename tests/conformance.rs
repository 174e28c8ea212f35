//! Runs the conformance suite through the runner, so `cargo test` fails when
//! a script fails, on every backend the runner offers.

mod common;

use std::path::PathBuf;

use persist::runner::{self, Options};
use persist::script::BackendKind;

fn suite(backend: BackendKind) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let opts = Options {
        paths: vec![root],
        backend,
        ..Options::default()
    };
    let mut out = Vec::new();
    let summary = runner::run(&opts, &mut out).expect("runner");
    let text = String::from_utf8_lossy(&out);
    assert!(
        summary.failures.is_empty() && summary.passed > 0,
        "conformance suite on {backend:?}:\n{text}"
    );
}

#[test]
fn conformance_suite_passes_on_mem() {
    suite(BackendKind::Mem);
}

#[test]
fn conformance_suite_passes_on_mock_durable() {
    suite(BackendKind::Mock);
}

#[test]
fn conformance_suite_passes_on_disk() {
    suite(BackendKind::Disk);
}

/// Each test in a fresh schema on the server in `PERSIST_PG_URL`; skipped
/// (one line) when there is none.
#[test]
fn conformance_suite_passes_on_pg() {
    if common::pg::server().is_some() {
        suite(BackendKind::Pg);
    }
}
