//! `persist repl` driven through a real pseudo-terminal, as a person would:
//! keystrokes in, screen output read back. Rust has no pty crate here, so a
//! small python3 driver (its standard `pty` module) runs the binary.

use std::path::Path;
use std::process::Command;

/// Runs `persist repl` in a pty and plays the steps: `send:TEXT` writes
/// keystrokes, `expect:TEXT` waits until TEXT appears in the output after
/// the previous match. After the steps it waits for the REPL to exit and
/// exits with its status. The 20 s wait only stops a hung REPL.
const DRIVER: &str = r#"
import fcntl, os, pty, select, struct, sys, termios, time
binary, steps = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "repl"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
out, seen = b"", 0
def fail(why):
    sys.stderr.write(why + "\n--- output so far ---\n" + repr(out) + "\n")
    os.kill(pid, 9)
    sys.exit(3)
def expect(text):
    global out, seen
    want, deadline = text.encode(), time.monotonic() + 20
    while (at := out.find(want, seen)) < 0:
        if time.monotonic() > deadline:
            fail("never saw " + repr(text))
        if select.select([fd], [], [], 0.2)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                fail("the REPL ended before printing " + repr(text))
            out += data
    seen = at + len(want)
for step in steps:
    kind, _, text = step.partition(":")
    if kind == "send":
        os.write(fd, text.encode())
    else:
        expect(text)
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

const PROMPT: &str = "expect:persist> ";

/// Plays `steps` against a fresh `persist repl` with its history in
/// `history`; fails the test with the transcript unless the REPL exits 0.
fn session(history: &Path, steps: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(env!("CARGO_BIN_EXE_persist"))
        .args(steps)
        .env("PERSIST_HISTORY", history)
        .env("TERM", "xterm")
        .output()
        .expect("python3 runs the pty driver");
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the pty session failed ({}):\n{}{transcript}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    transcript
}

// Keystrokes are sent only once the REPL is at a fresh prompt: rustyline
// drops bytes it had read ahead when a line ends. So each input prints
// something to expect before the next prompt.
#[test]
fn a_session_at_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");

    session(
        &history,
        &[
            "expect:`store` is a store in memory",
            PROMPT,
            // A function typed over two lines, the second under the
            // continuation prompt, then called.
            "send:fn f(x) {\r",
            "expect:    ...> ",
            "send: x + 1 } \"defined\"\r",
            "expect:\r\n\"defined\"\r\n",
            PROMPT,
            "send:f(2)\r",
            "expect:\r\n3\r\n",
            PROMPT,
            // Tab completes the common prefix of a Store's methods, a
            // second Tab lists the rest and redraws the line; Ctrl-C drops
            // the input.
            "send:store.app\t",
            "expect:persist> store.append",
            "send:\t",
            "expect:append_all",
            "expect:append_expect",
            "expect:persist> store.append",
            "send:\x03",
            PROMPT,
            // An error, and the session goes on.
            "send:nope + 1\r",
            "expect:error: Variable not found: nope (line 1, column 1)",
            PROMPT,
            "send:store.append(\"orders\", #{qty: 2}) + 1\r",
            "expect:\r\n2\r\n",
            PROMPT,
            // `store` is bound; records print one a line.
            "send:store.append(\"orders\", #{qty: 5}); store.read(\"orders\")\r",
            "expect:\r\n[\r\n  #{stream: \"orders\", seq: 1, pos: 1, at: ",
            "expect:, data: #{qty: 2}},\r\n  #{stream: \"orders\", seq: 2, pos: 2, at: ",
            "expect:, data: #{qty: 5}},\r\n]\r\n",
            PROMPT,
            "send:\x04",
        ],
    );

    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("fn f(x) {"), "history file:\n{saved}");
    assert!(
        !saved
            .lines()
            .any(|l| l.starts_with("store.append") && !l.contains('(')),
        "a cancelled input is not history:\n{saved}"
    );

    // A new session recalls the two-line definition: it is five entries up.
    session(
        &history,
        &[
            PROMPT,
            "send:\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A",
            "expect:persist> fn f(x) {\r\n x + 1 } \"defined\"",
            "send:\r",
            "expect:\r\n\"defined\"\r\n",
            PROMPT,
            "send:f(40)\r",
            "expect:\r\n41\r\n",
            PROMPT,
            "send::quit\r",
        ],
    );
}

#[test]
fn ctrl_c_stops_a_running_input_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    session(
        &dir.path().join("history"),
        &[
            PROMPT,
            "send:let keep = 7; \"kept\"\r",
            "expect:\r\n\"kept\"\r\n",
            PROMPT,
            // Ctrl-C is sent once the loop runs (the terminal is out of
            // rustyline's raw mode by then, so it is a signal).
            "send:print(\"looping\"); loop { }\r",
            "expect:\r\nlooping\r\n",
            "send:\x03",
            "expect:interrupted\r\n",
            PROMPT,
            "send:keep\r",
            "expect:\r\n7\r\n",
            PROMPT,
            // A fold running a closure stops the same way.
            "send:store.append_all(\"n\", [1, 2, 3]); \"filled\"\r",
            "expect:\r\n\"filled\"\r\n",
            PROMPT,
            "send:store.project(\"n\", 0, |a, r| { if r.seq == 1 { print(\"folding\") } loop { } })\r",
            "expect:\r\nfolding\r\n",
            "send:\x03",
            "expect:interrupted\r\n",
            PROMPT,
            "send:keep + store.last_seq(\"n\")\r",
            "expect:\r\n10\r\n",
            PROMPT,
            "send:\x04",
        ],
    );
}

#[test]
fn a_large_result_is_cut_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    session(
        &dir.path().join("history"),
        &[
            PROMPT,
            "send:for i in 1..=2000 { store.append(\"big\", i) } store.last_seq(\"big\")\r",
            "expect:\r\n2000\r\n",
            PROMPT,
            "send:store.read(\"big\")\r",
            "expect:data: 10},\r\n  ... 1,990 more\r\n]\r\n",
            PROMPT,
            "send::set limit 2\r",
            PROMPT,
            "send:store.read(\"big\")\r",
            "expect:data: 2},\r\n  ... 1,998 more\r\n]\r\n",
            PROMPT,
            "send:store\r",
            "expect:\r\nStore(mem)\r\n",
            PROMPT,
            "send:\x04",
        ],
    );
}
