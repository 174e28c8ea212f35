//! What keeps one test from taking the run down with it: Rhai's size limits
//! (strings, arrays, maps; call depth is the engine's own), an operation
//! budget, a wall-clock limit and Ctrl-C, the last two through the progress
//! callback, which Rhai calls between operations. A test over any of them
//! fails with a message naming the limit, and the run goes on.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult};

/// Longest string a test may build, in bytes.
pub const MAX_STRING: usize = 64 << 20;
/// Most items in an array, nested arrays' items included (Rhai counts them
/// all), so it also bounds how deep arrays nest.
pub const MAX_ARRAY: usize = 1_000_000;
/// Most entries in a map, nested maps' entries included.
pub const MAX_MAP: usize = 1_000_000;
/// The engine's call depth (set by `script::engine`), named in messages.
pub const MAX_CALL_LEVELS: usize = 64;

/// How often (in operations) the progress callback reads the clock: often
/// enough that a slow operation (a big clone, an fsync) overshoots the
/// deadline only a little, rarely enough to cost nothing in a tight loop.
const CLOCK_EVERY: u64 = 16;

/// Why the progress callback stopped a script: the token it returns.
const TIMEOUT_TOKEN: &str = "persist-runner: timeout";
const INTERRUPT_TOKEN: &str = "persist-runner: interrupt";

/// Set by the Ctrl-C handler; read between operations.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler of `persist test` and `persist run`: the
/// first Ctrl-C stops the running script at its next operation (the run
/// then cleans up and reports), a second one exits at once with 130.
/// Uses the `ctrlc` crate: it handles the signal on a thread of its own, so
/// nothing runs in signal context.
pub fn install_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The limits a test runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operation budget per test (0 = none).
    pub max_operations: u64,
    /// Wall-clock limit per test.
    pub timeout: Option<Duration>,
    pub max_string: usize,
    pub max_array: usize,
    pub max_map: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: super::MAX_OPERATIONS,
            timeout: Some(super::TIMEOUT),
            max_string: MAX_STRING,
            max_array: MAX_ARRAY,
            max_map: MAX_MAP,
        }
    }
}

/// The deadline of the test now running, shared with the progress callback.
#[derive(Clone, Default)]
pub struct Clock(Rc<Cell<Option<Instant>>>);

impl Clock {
    /// Starts a test: its deadline is `timeout` from now.
    pub fn start(&self, timeout: Option<Duration>) {
        self.0.set(timeout.map(|t| Instant::now() + t));
    }
}

/// Sets `limits` on `engine`; the returned clock starts each test's time.
pub fn apply(engine: &mut Engine, limits: &Limits) -> Clock {
    engine.set_max_operations(limits.max_operations);
    engine.set_max_string_size(limits.max_string);
    engine.set_max_array_size(limits.max_array);
    engine.set_max_map_size(limits.max_map);
    let clock = Clock::default();
    let deadline = clock.0.clone();
    engine.on_progress(move |ops| {
        if ops % CLOCK_EVERY != 0 {
            return None;
        }
        if interrupted() {
            return Some(INTERRUPT_TOKEN.into());
        }
        let late = deadline.get().is_some_and(|d| Instant::now() >= d);
        late.then(|| TIMEOUT_TOKEN.into())
    });
    clock
}

/// Stops `engine`'s scripts on Ctrl-C only (`persist run`).
pub fn stop_on_ctrl_c(engine: &mut Engine) {
    engine.on_progress(|ops| {
        (ops % CLOCK_EVERY == 0 && interrupted()).then(|| INTERRUPT_TOKEN.into())
    });
}

/// Whether `e` is a script stopped by Ctrl-C.
pub fn was_interrupted(e: &EvalAltResult) -> bool {
    matches!(e.unwrap_inner(), EvalAltResult::ErrorTerminated(token, _) if is(token, INTERRUPT_TOKEN))
}

/// How a script ended when it hit a limit or was interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    Interrupted,
    /// Over a limit: the message names it.
    Limit(String),
}

/// Classifies `e`: `None` for an ordinary script error.
pub fn stopped(e: &EvalAltResult, limits: &Limits) -> Option<Stopped> {
    let msg = match e.unwrap_inner() {
        _ if was_interrupted(e) => return Some(Stopped::Interrupted),
        EvalAltResult::ErrorTerminated(token, _) if is(token, TIMEOUT_TOKEN) => {
            let secs = limits.timeout.unwrap_or_default().as_secs_f64();
            format!("ran past the time limit of {secs} s (raise it with --timeout SECONDS)")
        }
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "exceeded the operation limit of {} (an endless loop? raise it with --max-operations)",
            limits.max_operations
        ),
        EvalAltResult::ErrorStackOverflow(_) => {
            format!("exceeded the call depth limit of {MAX_CALL_LEVELS} (runaway recursion?)")
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => match what.as_str() {
            "Length of string" => format!(
                "a string grew past the size limit of {} bytes",
                limits.max_string
            ),
            "Size of object map" => format!(
                "a map grew past the size limit of {} entries (nested maps count too)",
                limits.max_map
            ),
            _ => format!(
                "an array grew past the size limit of {} items (nested arrays count too)",
                limits.max_array
            ),
        },
        _ => return None,
    };
    Some(Stopped::Limit(msg))
}

fn is(token: &Dynamic, which: &str) -> bool {
    token
        .read_lock::<rhai::ImmutableString>()
        .is_some_and(|s| s.as_str() == which)
}
