//! The `persist` binary's store tools and `run`, driven as a user would.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn persist(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_persist"));
    cmd.args(args);
    match stdin {
        None => cmd.output().unwrap(),
        Some(text) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A store with a truncated stream, several streams and kv entries.
fn make_store(dir: &Path) {
    let script = dir.join("mk.rhai");
    fs::write(
        &script,
        r#"let s = persist::store();
           for i in 1..=300 { s.append("orders", #{n: i, note: `order ${i}`}); }
           s.append_all("users", [#{name: "ann"}, #{name: "bob", tags: ["x", 1.5]}]);
           s.compact("tot", "orders", 0, |a, r| a + r.data.n);
           s.append("orders", #{n: 301});
           s.kv_put("config", #{limit: 10});"#,
    )
    .unwrap();
    let store = dir.join("store");
    let out = persist(
        &[
            "run",
            script.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn export_then_import_round_trips_every_record_seq_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let a = tmp.path().join("store");
    let dump = persist(&["export", a.to_str().unwrap()], None);
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let dump = text(&dump.stdout);
    assert!(
        dump.contains(r#"{"type":"stream","stream":"orders","last_seq":301}"#),
        "{dump}"
    );
    let b = tmp.path().join("copy");
    let imported = persist(&["import", b.to_str().unwrap()], Some(&dump));
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let again = persist(&["export", b.to_str().unwrap()], None);
    assert_eq!(text(&again.stdout), dump);
    let one = persist(&["export", b.to_str().unwrap(), "--stream", "users"], None);
    assert_eq!(text(&one.stdout).lines().count(), 3);
}

#[test]
fn import_names_the_malformed_line_and_refuses_a_used_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let bad = "{\"type\":\"stream\",\"stream\":\"a\",\"last_seq\":1}\n{\"type\":\"record\",\"stream\":\"a\",\"seq\":1,\"at\":5,\"data\":1}\n{oops\n";
    let out = persist(&["import", dir.to_str().unwrap()], Some(bad));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 3"),
        "{}",
        text(&out.stderr)
    );
    let dump = persist(&["export", dir.to_str().unwrap()], None);
    assert_eq!(
        text(&dump.stdout),
        "",
        "nothing imported from a dump with a bad line in its only stream"
    );
    let good = &bad[..bad.len() - 6];
    assert!(
        persist(&["import", dir.to_str().unwrap()], Some(good))
            .status
            .success()
    );
    let twice = persist(&["import", dir.to_str().unwrap()], Some(good));
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        text(&twice.stderr).contains("not empty"),
        "{}",
        text(&twice.stderr)
    );
}

#[test]
fn verify_exits_zero_on_a_good_store_and_one_with_file_and_offset_on_damage() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let dir = tmp.path().join("store");
    let ok = persist(&["verify", dir.to_str().unwrap()], None);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    assert_eq!(text(&ok.stderr), "", "no progress when piped");
    let seg = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&seg, bytes).unwrap();
    let bad = persist(&["verify", dir.to_str().unwrap()], None);
    assert_eq!(bad.status.code(), Some(1));
    let report = text(&bad.stdout);
    assert!(
        report.contains(seg.file_name().unwrap().to_str().unwrap()) && report.contains("offset"),
        "{report}"
    );
}

#[test]
fn inspect_lists_streams_keys_and_segments() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let out = persist(
        &["inspect", tmp.path().join("store").to_str().unwrap()],
        None,
    );
    assert!(out.status.success());
    let report = text(&out.stdout);
    assert!(
        report.contains("orders") && report.contains("last seq      301"),
        "{report}"
    );
    assert!(report.contains("kept        1"), "{report}");
    assert!(
        report.contains("kv keys: 3"),
        "config, snapshot/tot, fold/tot: {report}"
    );
    assert!(report.contains("segments: "), "{report}");
    assert!(report.contains("snapshots: 1"), "{report}");
    assert!(report.contains("tot  seq      300  fold "), "{report}");
}

#[test]
fn tools_name_a_missing_directory() {
    for cmd in ["inspect", "verify", "export"] {
        let out = persist(&[cmd, "/nonexistent/persist-store"], None);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(
            text(&out.stderr).contains("/nonexistent/persist-store"),
            "{cmd}: {}",
            text(&out.stderr)
        );
        assert!(!Path::new("/nonexistent/persist-store").exists());
    }
}

#[test]
fn a_store_in_use_by_another_process_is_refused_clearly() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let script = tmp.path().join("hold.rhai");
    // Opens the store, says so, then holds it until killed.
    fs::write(
        &script,
        "let s = persist::store(); s.append(\"a\", 1); print(\"holding\"); loop { if s.last_seq(\"b\") > 0 { break; } }",
    )
    .unwrap();
    let mut holder = Command::new(env!("CARGO_BIN_EXE_persist"))
        .args([
            "run",
            script.to_str().unwrap(),
            "--store",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "holding");
    let inspect = persist(&["inspect", dir.to_str().unwrap()], None);
    let export = persist(&["export", dir.to_str().unwrap()], None);
    let _ = holder.kill();
    let _ = holder.wait();
    for out in [inspect, export] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("in use"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn long_work_shows_progress_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    make_store(tmp.path());
    let dir = tmp.path().join("store");
    // python3's pty runs the command on a pseudo-terminal and copies what
    // it writes there (stdout and stderr) to our pipe.
    let out = Command::new("python3")
        .args(["-c", "import pty, sys; pty.spawn(sys.argv[1:])"])
        .arg(env!("CARGO_BIN_EXE_persist"))
        .args(["verify", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(
        shown.contains("verifying ") && shown.contains(" MB"),
        "{shown}"
    );
    assert!(shown.contains("ok: "), "{shown}");
}
