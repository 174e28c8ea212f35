//! `Disk`: storage that outlives the Stores over it (SPEC 3.1), for
//! crash/restart scenarios: drop every Store, make a new one over the same
//! Disk, and the log, kv and every stream's last seq are all still there.

use std::fmt;
use std::sync::Arc;

use crate::backend::Backend;
use crate::durable::client::{DurableBackend, Transport};
use crate::durable::request::{Request, Response};
use crate::durable::serve::{serve, serve_value};
use crate::mem::MemBackend;
use crate::{Result, Store, Value};

/// Shared storage; clones are the same storage. Any `Backend + Send + Sync`
/// can sit behind it (memory now, the on-disk log via `from_backend`).
#[derive(Clone)]
pub struct Disk {
    backend: Arc<dyn Backend + Send + Sync>,
}

impl Disk {
    /// A new, empty in-memory disk.
    pub fn mem() -> Self {
        Self::from_backend(Arc::new(MemBackend::new()))
    }

    /// A disk over any shared backend.
    pub fn from_backend(backend: Arc<dyn Backend + Send + Sync>) -> Self {
        Disk { backend }
    }

    /// The storage itself.
    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Whether both handles are the same storage.
    pub fn same(&self, other: &Disk) -> bool {
        Arc::ptr_eq(&self.backend, &other.backend)
    }

    /// Services one request against this disk.
    pub fn serve(&self, req: &Request) -> Response {
        serve(self.backend(), req)
    }

    /// Services one request value (`persist::serve(disk, request)`).
    pub fn serve_value(&self, req: &Value) -> Value {
        serve_value(self.backend(), req)
    }

    /// Closes the storage itself (flushes, releases the on-disk lock).
    /// Closing a Store over the disk never does this; only the disk's owner
    /// should, once no Store over it is in use.
    pub fn close(&self) -> Result<()> {
        self.backend.close()
    }
}

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Disk({:p})", Arc::as_ptr(&self.backend))
    }
}

/// Services each request with `serve` over a Disk, in process.
#[derive(Debug, Clone)]
pub struct MockTransport(pub Disk);

impl Transport for MockTransport {
    fn send(&self, req: Request) -> Result<Response> {
        Ok(self.0.serve(&req))
    }
}

/// `MockTransport` that owns its disk: closing the Store closes the disk.
#[derive(Debug, Clone)]
pub struct OwningTransport(pub Disk);

impl Transport for OwningTransport {
    fn send(&self, req: Request) -> Result<Response> {
        Ok(self.0.serve(&req))
    }

    fn close(&self) -> Result<()> {
        self.0.close()
    }
}

/// A Store over the durable backend whose requests `serve` serves over
/// `disk` (`persist::mock_durable(disk)`). Closing the Store leaves the
/// disk's storage open, so a new Store over it is a restart.
pub fn mock_durable(disk: &Disk) -> Store {
    durable(MockTransport(disk.clone()))
}

/// Like `mock_durable`, but the Store owns the disk: `close()` also closes
/// the disk's storage (flushes, releases the on-disk lock). What
/// `persist::open(dir)` is over the on-disk Disk.
pub fn mock_durable_owning(disk: Disk) -> Store {
    durable(OwningTransport(disk))
}

/// A Store over the durable backend with any transport
/// (`persist::durable(transport)`).
pub fn durable(transport: impl Transport + 'static) -> Store {
    Store::new(DurableBackend::new(transport))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clones_share_storage_and_fresh_disks_do_not() {
        let d = Disk::mem();
        let c = d.clone();
        assert!(d.same(&c) && !d.same(&Disk::mem()));
        mock_durable(&d).append("s", json!(1)).unwrap();
        assert_eq!(c.backend().last_seq("s").unwrap(), 1);
        assert_eq!(Disk::mem().backend().last_seq("s").unwrap(), 0);
    }

    #[test]
    fn closing_a_store_leaves_the_disk_open() {
        let d = Disk::mem();
        let s = mock_durable(&d);
        s.append("s", json!(1)).unwrap();
        s.kv_put("k", json!(2)).unwrap();
        s.close().unwrap();
        assert!(s.append("s", json!(1)).is_err());
        drop(s);
        let s = mock_durable(&d);
        assert_eq!(s.append("s", json!(3)).unwrap(), 2);
        assert_eq!(s.kv_get("k").unwrap(), Some(json!(2)));
    }

    /// Counts `close` calls; otherwise a memory backend.
    #[derive(Default)]
    struct CountingClose {
        mem: MemBackend,
        closes: std::sync::atomic::AtomicUsize,
    }

    impl Backend for CountingClose {
        fn append_all(&self, stream: &str, events: Vec<Value>) -> Result<u64> {
            self.mem.append_all(stream, events)
        }
        fn append_expect(&self, s: &str, e: u64, v: Value) -> Result<crate::Appended> {
            self.mem.append_expect(s, e, v)
        }
        fn read(&self, stream: &str, after: u64, limit: usize) -> Result<Vec<crate::Record>> {
            self.mem.read(stream, after, limit)
        }
        fn last_seq(&self, stream: &str) -> Result<u64> {
            self.mem.last_seq(stream)
        }
        fn truncate_through(&self, stream: &str, seq: u64) -> Result<u64> {
            self.mem.truncate_through(stream, seq)
        }
        fn streams(&self) -> Result<Vec<String>> {
            self.mem.streams()
        }
        fn kv_get(&self, key: &str) -> Result<Option<Value>> {
            self.mem.kv_get(key)
        }
        fn kv_put(&self, key: &str, value: Value) -> Result<()> {
            self.mem.kv_put(key, value)
        }
        fn kv_del(&self, key: &str) -> Result<bool> {
            self.mem.kv_del(key)
        }
        fn kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
            self.mem.kv_keys(prefix)
        }
        fn restore(&self, stream: &str, last: u64, records: Vec<crate::Record>) -> Result<()> {
            self.mem.restore(stream, last, records)
        }
        fn append_once(&self, stream: &str, id: &str, event: Value) -> Result<u64> {
            self.mem.append_once(stream, id, event)
        }
        fn read_all(&self, after: u64, limit: usize) -> Result<Vec<crate::Record>> {
            self.mem.read_all(after, limit)
        }
        fn read_category(&self, c: &str, after: u64, limit: usize) -> Result<Vec<crate::Record>> {
            self.mem.read_category(c, after, limit)
        }
        fn last_pos(&self) -> Result<u64> {
            self.mem.last_pos()
        }
        fn ids(&self, after: &str, limit: usize) -> Result<Vec<crate::IdEntry>> {
            self.mem.ids(after, limit)
        }
        fn restore_global(&self, last_pos: u64, ids: Vec<crate::IdEntry>) -> Result<()> {
            self.mem.restore_global(last_pos, ids)
        }
        fn close(&self) -> Result<()> {
            self.closes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn only_an_owning_store_closes_its_disk() {
        let backend = Arc::new(CountingClose::default());
        let closes = || backend.closes.load(std::sync::atomic::Ordering::SeqCst);
        let disk = Disk::from_backend(backend.clone());
        mock_durable(&disk).close().unwrap();
        assert_eq!(closes(), 0);
        let owner = mock_durable_owning(disk.clone());
        owner.append("s", json!(1)).unwrap();
        owner.close().unwrap();
        owner.close().unwrap();
        assert_eq!(closes(), 1);
        assert_eq!(backend.mem.last_seq("s").unwrap(), 1);
    }

    #[test]
    fn serve_value_goes_to_this_disk() {
        let d = Disk::mem();
        let got = d.serve_value(&json!({"op": "persist/append", "args": ["s", 1]}));
        assert_eq!(got, json!(1));
        assert_eq!(d.serve(&Request::last_seq("s")), Response::Ok(json!(1)));
    }
}
