//! Content stores (SPEC 3.11): bytes by cid; the log holds only refs.

use std::rc::Rc;

use rhai::plugin::*;
use rhai::{Blob, CustomType, Dynamic, INT, ImmutableString, Map, TypeBuilder};

use crate::blob::{self, ContentStore, DirContent, MemContent};
use crate::script::args::{self, RhaiResult, fail, kernel};
use crate::script::convert::blob_of;

/// A script's handle on a content store.
#[derive(Clone)]
pub struct ContentHandle(pub Rc<dyn ContentStore>);

impl CustomType for ContentHandle {
    fn build(mut builder: TypeBuilder<Self>) {
        builder.with_name("ContentStore");
    }
}

fn bytes_arg(op: &str, d: &Dynamic) -> RhaiResult<Blob> {
    blob_of(d).ok_or_else(|| {
        fail(format!(
            "{op}: bytes must be a Blob or a string, got {}",
            d.type_name()
        ))
    })
}

/// A cid string, or the `cid` of a ref map.
fn cid_arg(op: &str, d: &Dynamic) -> RhaiResult<ImmutableString> {
    if let Some(m) = d.read_lock::<Map>() {
        let cid = m
            .get("cid")
            .ok_or_else(|| fail(format!("{op}: the ref has no cid")))?;
        return args::string(op, "ref.cid", cid);
    }
    args::string(op, "ref or cid", d)
}

/// `persist::content_store`, `persist::cid` and the ContentStore methods.
/// `persist::content_store`, `persist::cid` and the ContentStore methods.
#[export_module]
pub mod api {
    use super::*;

    /// A content store in memory.
    #[rhai_fn(name = "content_store", volatile)]
    pub fn content_store_mem() -> ContentHandle {
        ContentHandle(Rc::new(MemContent::new()))
    }

    /// A content store in `dir` (created if missing).
    #[rhai_fn(name = "content_store", volatile, return_raw)]
    pub fn content_store_dir(dir: Dynamic) -> RhaiResult<ContentHandle> {
        let dir = args::string("content_store", "dir", &dir)?;
        let store = DirContent::open(dir.as_str()).map_err(kernel)?;
        Ok(ContentHandle(Rc::new(store)))
    }

    /// Stores the bytes (once); returns only the ref `#{cid, size, mime}`.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn put(c: &mut ContentHandle, bytes: Dynamic, mime: Dynamic) -> RhaiResult<Map> {
        let bytes = bytes_arg("put", &bytes)?;
        let mime = args::string("put", "mime", &mime)?;
        let r = c.0.put(&bytes, &mime).map_err(kernel)?;
        let mut m = Map::new();
        m.insert("cid".into(), r.cid.into());
        m.insert("size".into(), (r.size as INT).into());
        m.insert("mime".into(), r.mime.into());
        Ok(m)
    }

    /// `put` with the generic mime type `application/octet-stream`.
    #[rhai_fn(global, name = "put", pure, volatile, return_raw)]
    pub fn put_bytes(c: &mut ContentHandle, bytes: Dynamic) -> RhaiResult<Map> {
        put(c, bytes, "application/octet-stream".into())
    }

    /// The bytes of a ref or cid as a Blob; an error if absent or if the
    /// bytes no longer hash to the cid.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn get(c: &mut ContentHandle, reference: Dynamic) -> RhaiResult<Blob> {
        let cid = cid_arg("get", &reference)?;
        c.0.get(&cid).map_err(kernel)
    }

    /// Whether the store holds the bytes of a ref or cid.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn has(c: &mut ContentHandle, reference: Dynamic) -> RhaiResult<bool> {
        let cid = cid_arg("has", &reference)?;
        c.0.has(&cid).map_err(kernel)
    }

    /// How many distinct blobs are stored.
    #[rhai_fn(global, pure, volatile, return_raw)]
    pub fn len(c: &mut ContentHandle) -> RhaiResult<INT> {
        c.0.len().map(|n| n as INT).map_err(kernel)
    }

    /// The cid of the bytes, without storing them.
    #[rhai_fn(return_raw)]
    pub fn cid(bytes: Dynamic) -> RhaiResult<String> {
        Ok(blob::cid(&bytes_arg("cid", &bytes)?))
    }

    /// How `print` shows a ContentStore.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(_c: &mut ContentHandle) -> String {
        "ContentStore".into()
    }

    /// How `debug` shows a ContentStore.
    #[rhai_fn(global, name = "to_debug", pure)]
    pub fn to_debug(_c: &mut ContentHandle) -> String {
        "ContentStore".into()
    }
}
