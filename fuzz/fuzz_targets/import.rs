//! `import` on arbitrary lines: never panics, and what it accepts exports
//! to a dump that imports back to the same store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::Store;
use persist::dump::{export, import};

fn dump(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    export(store, None, &mut out, &mut |_| {}).expect("export");
    out
}

fuzz_target!(|data: &[u8]| {
    let store = Store::mem();
    if import(&store, &mut &data[..], &mut |_| {}).is_err() {
        return;
    }
    let first = dump(&store);
    let again = Store::mem();
    import(&again, &mut &first[..], &mut |_| {}).expect("own dump imports");
    assert_eq!(dump(&again), first, "dump round trip changed the store");
});
