//! The request parser and `serve_value` on arbitrary JSON: never panics,
//! and a request answered with an error stores nothing. Input: one request,
//! or an array of requests served in order, against a small memory store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::durable::request::Response;
use persist::durable::serve::serve_value;
use persist::{Store, Value};

fn dump(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    persist::dump::export(store, None, &mut out, &mut |_| {}).expect("export");
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let reqs = match req {
        Value::Array(reqs) => reqs,
        one => vec![one],
    };
    let store = Store::mem();
    store
        .append("s-1", serde_json::json!({"n": 1}))
        .expect("seed");
    store.kv_put("k", serde_json::json!([1, 2])).expect("seed");
    for req in &reqs {
        let before = dump(&store);
        let resp = serve_value(store.backend().expect("open"), req);
        if let Response::Err(msg) = Response::from_value(resp) {
            assert_eq!(dump(&store), before, "{req} failed ({msg}) but stored");
        }
    }
});
