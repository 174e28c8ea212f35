//! Disks, durable stores, `serve` and `migrate` (SPEC 3.1, 3.8).

use rhai::plugin::*;
use rhai::{CustomType, Dynamic, FnPtr, INT, Map, NativeCallContext, TypeBuilder};

use std::sync::Arc;

use crate::durable::{self, Disk, ValueTransport};
use crate::ondisk::DiskLog;
use crate::script::args::{self, RhaiResult, kernel};
use crate::script::context;
use crate::script::convert::{to_dynamic, to_value};
use crate::script::local::Local;
use crate::script::store::StoreHandle;
use crate::{Error, Value};

/// A script's handle on a Disk: storage that outlives the Stores over it.
#[derive(Clone)]
pub struct DiskHandle(pub Disk);

impl CustomType for DiskHandle {
    fn build(mut builder: TypeBuilder<Self>) {
        builder.with_name("Disk");
    }
}

/// `transport(request) -> response` as a kernel transport: the request goes
/// to the closure as a map, the answer comes back as a value. The closure
/// runs only on the script's own thread (see `Local`).
fn script_transport(
    f: FnPtr,
) -> ValueTransport<impl Fn(Value) -> crate::Result<Value> + Send + Sync> {
    let f = Local::new(f);
    ValueTransport(move |req: Value| {
        let f = f.get().ok_or_else(|| Error::Remote {
            op: "transport".into(),
            msg: "a script transport runs only on the thread of the script that made it".into(),
        })?;
        let answer = context::call(f, [to_dynamic(req)]).map_err(|e| Error::Remote {
            op: "transport".into(),
            msg: crate::script::error_message(&e),
        })?;
        to_value(&answer, &|| "transport response".into()).map_err(|msg| Error::Remote {
            op: "transport".into(),
            msg,
        })
    })
}

fn open_disk_log(dir: &str) -> crate::Result<DiskLog> {
    crate::tools::open_disk_log(std::path::Path::new(dir))
}

/// `persist::open(dir)`: a Store straight over the on-disk backend, which
/// services the same operations the request protocol carries, in process;
/// `persist::open(url)`: over the PostgreSQL store at the URL.
pub fn open_store(dir: &str) -> crate::Result<crate::Store> {
    Ok(crate::Store::from_box(open_backend(dir)?))
}

/// The backend `open` and `disk` use for a directory or a URL.
fn open_backend(dir: &str) -> crate::Result<Box<dyn crate::Backend + Send + Sync>> {
    match crate::pg::is_url(dir) {
        true => Ok(Box::new(crate::pg::PgBackend::open(dir)?)),
        false => Ok(Box::new(open_disk_log(dir)?)),
    }
}

/// Disks, durable stores, `serve` and `migrate`, as script functions.
/// Disks, durable stores, `serve` and `migrate`, as script functions.
#[export_module]
pub mod api {
    use super::*;

    /// A new in-memory Disk.
    #[rhai_fn(name = "disk", volatile)]
    pub fn disk_mem() -> DiskHandle {
        DiskHandle(Disk::mem())
    }

    /// The on-disk Disk in `dir`, the one `persist::open(dir)` uses (or the
    /// PostgreSQL store at a URL).
    #[rhai_fn(name = "disk", volatile, return_raw)]
    pub fn disk_dir(dir: Dynamic) -> RhaiResult<DiskHandle> {
        let dir = args::string("disk", "dir", &dir)?;
        let backend = open_backend(&dir).map_err(kernel)?;
        Ok(DiskHandle(Disk::from_backend(Arc::from(backend))))
    }

    /// A Store over the on-disk backend in `dir` (created if missing), or
    /// over the PostgreSQL store at a `postgres://` URL.
    #[rhai_fn(volatile, return_raw)]
    pub fn open(dir: Dynamic) -> RhaiResult<StoreHandle> {
        let dir = args::string("open", "dir", &dir)?;
        open_store(&dir).map(StoreHandle::new).map_err(kernel)
    }

    /// Flushes and releases the Disk's storage (its lock, on disk).
    #[rhai_fn(global, name = "close", pure, volatile, return_raw)]
    pub fn close_disk(d: &mut DiskHandle) -> RhaiResult<()> {
        d.0.close().map_err(kernel)
    }

    /// A Store over the durable backend whose requests `serve` answers over
    /// `disk`, in process. Closing it leaves the disk open: a new Store over the
    /// same disk is a restart.
    #[rhai_fn(volatile)]
    pub fn mock_durable(disk: DiskHandle) -> StoreHandle {
        StoreHandle::new(durable::mock_durable(&disk.0))
    }

    /// A Store over the durable backend: each operation is sent as a request
    /// map `#{op, args}` to `transport(request)`, whose answer is the response.
    ///
    /// ```rhai
    /// let d = persist::disk();
    /// let s = persist::durable(|req| persist::serve(d, req));
    /// ```
    #[rhai_fn(name = "durable", volatile, return_raw)]
    pub fn durable_fn(transport: Dynamic) -> RhaiResult<StoreHandle> {
        let f = args::func("durable", "transport", &transport)?;
        Ok(StoreHandle::new(durable::durable(script_transport(f))))
    }

    /// Services one request map over a Disk; returns the response.
    #[rhai_fn(global, volatile, return_raw)]
    pub fn serve(disk: &mut DiskHandle, request: Dynamic) -> RhaiResult<Dynamic> {
        // A request holding a non-value (e.g. a Blob) cannot be served: answer
        // with an error response, as for any other malformed request.
        let response = match to_value(&request, &|| "request".into()) {
            Ok(req) => disk.0.serve_value(&req),
            Err(msg) => serde_json::json!({ "error": msg }),
        };
        Ok(to_dynamic(response))
    }

    /// Copies every stream and kv key from `from` into the empty `to`.
    #[rhai_fn(volatile, return_raw)]
    pub fn migrate(ctx: NativeCallContext, from: StoreHandle, to: StoreHandle) -> RhaiResult<Map> {
        let report = context::enter(&ctx, || durable::migrate(&from.0, &to.0)).map_err(kernel)?;
        let mut m = Map::new();
        m.insert("streams".into(), (report.streams as INT).into());
        m.insert("records".into(), (report.records as INT).into());
        m.insert("keys".into(), (report.keys as INT).into());
        m.insert("ids".into(), (report.ids as INT).into());
        Ok(m)
    }

    /// How `print` shows a Disk.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(_d: &mut DiskHandle) -> String {
        "Disk".into()
    }

    /// How `debug` shows a Disk.
    #[rhai_fn(global, name = "to_debug", pure)]
    pub fn to_debug(_d: &mut DiskHandle) -> String {
        "Disk".into()
    }
}
