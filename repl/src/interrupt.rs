//! Ctrl-C while an input runs: SIGINT sets a flag, and the engine's progress
//! callback, which Rhai calls between operations, stops the evaluation when
//! it sees the flag. The session and its variables survive.
//!
//! While rustyline reads a line the terminal is in raw mode, so Ctrl-C is a
//! key (it drops the input being typed), not a signal; rustyline puts this
//! handler back when the line is read.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The value the progress callback stops an evaluation with.
pub const TOKEN: &str = "persist-repl: interrupted";

/// Clears a Ctrl-C pressed before the input started.
pub fn clear() {
    INTERRUPTED.store(false, Ordering::Relaxed);
}

/// True once Ctrl-C was pressed since the last `clear`.
pub fn pending() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: nothing else is async-signal-safe here.
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// The SIGINT handler, installed for as long as the guard lives; the
/// previous handler is put back on drop.
pub struct Guard {
    #[cfg(unix)]
    previous: libc::sigaction,
}

impl Guard {
    #[cfg(unix)]
    pub fn install() -> std::io::Result<Guard> {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; the handler only stores to an atomic. SA_RESTART keeps
        // blocking calls (fsync, reads) from failing with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGINT, &action, &mut previous) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Guard { previous })
        }
    }

    #[cfg(not(unix))]
    pub fn install() -> std::io::Result<Guard> {
        Ok(Guard {})
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: restores the sigaction read in `install`.
        #[cfg(unix)]
        unsafe {
            libc::sigaction(libc::SIGINT, &self.previous, std::ptr::null_mut());
        }
    }
}
