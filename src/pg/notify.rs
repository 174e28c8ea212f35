//! `wait_for` (what `h.pump(timeout)` waits with): LISTEN/NOTIFY is only a
//! wake-up. Correctness comes from positions: the wait first reads
//! `last_pos`, so a notification lost (across a reconnect, or sent before
//! the LISTEN) costs nothing but latency.
//!
//! NOTIFY takes a server-wide lock held through commit, which would
//! serialize every append. So appends notify only while some session is
//! registered in `persist_listeners` (`persist_wake()`): a store nobody
//! follows pays one index probe per append. Registration is by backend pid;
//! rows of sessions that are gone are swept by the next listener.

use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;

use crate::Result;
use crate::pg::schema::quote_ident;
use crate::pg::{Kind, PgBackend};

pub fn wait_for(b: &PgBackend, after: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let channel = quote_ident(&format!("persist_{}", b.url.schema));
    b.with("wait_for", "global log", Kind::Read, |c| {
        if !c.listening {
            c.client.batch_execute(&format!(
                "DELETE FROM persist_listeners WHERE pid NOT IN (SELECT pid FROM pg_stat_activity);
                 INSERT INTO persist_listeners VALUES (pg_backend_pid()) ON CONFLICT DO NOTHING;
                 LISTEN {channel}"
            ))?;
            c.listening = true;
        }
        loop {
            // Wake-ups already queued say nothing the position check won't.
            while c.client.notifications().iter().next()?.is_some() {}
            let last = c.client.query_one(&c.st.last_pos, &[])?.get::<_, i64>(0) as u64;
            let left = deadline.saturating_duration_since(Instant::now());
            if last > after || left.is_zero() {
                return Ok(());
            }
            if c.client
                .notifications()
                .timeout_iter(left)
                .next()?
                .is_none()
            {
                return Ok(());
            }
        }
    })
}

/// Unregisters the session (best effort: a session that is gone is swept
/// by the next listener anyway).
pub fn stop_listening(b: &PgBackend) {
    let mut guard = b.conn.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = guard.as_mut().filter(|c| c.listening) {
        let _ = c.client.batch_execute(
            "UNLISTEN *; DELETE FROM persist_listeners WHERE pid = pg_backend_pid()",
        );
        c.listening = false;
    }
}
