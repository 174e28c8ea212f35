//! Random operation sequences shared by the property tests that apply them
//! to the on-disk store and to the memory backend as a model.

use persist::Backend;
use persist::ondisk::DiskLog;
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum Op {
    Append(u8, u16),
    AppendAll(u8, u8),
    Truncate(u8, u8),
    Put(u8, u16),
    Del(u8),
    Compact,
    Close,
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u8, any::<u16>()).prop_map(|(s, v)| Op::Append(s, v)),
        2 => (0..3u8, 1..6u8).prop_map(|(s, n)| Op::AppendAll(s, n)),
        2 => (0..3u8, 0..20u8).prop_map(|(s, q)| Op::Truncate(s, q)),
        3 => (0..3u8, any::<u16>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0..3u8).prop_map(Op::Del),
        1 => Just(Op::Compact),
        1 => Just(Op::Close),
    ]
}

pub fn ev(v: u64) -> Value {
    json!({"v": v, "pad": "q".repeat((v % 80) as usize)})
}

/// Applies `op` to `b`; `Err` means the call failed. `Compact` needs the
/// on-disk `log` (on the model it changes nothing).
pub fn apply(b: &dyn Backend, log: Option<&DiskLog>, op: &Op) -> persist::Result<()> {
    let s = |i: &u8| format!("s{i}");
    let k = |i: &u8| format!("k{i}");
    match op {
        Op::Append(i, v) => b.append(&s(i), ev(*v as u64)).map(drop),
        Op::AppendAll(i, n) => b
            .append_all(&s(i), (0..*n as u64).map(ev).collect())
            .map(drop),
        Op::Truncate(i, q) => b.truncate_through(&s(i), *q as u64).map(drop),
        Op::Put(i, v) => b.kv_put(&k(i), ev(*v as u64)),
        Op::Del(i) => b.kv_del(&k(i)).map(drop),
        Op::Compact => log.map_or(Ok(()), |l| l.compact_segments().map(drop)),
        Op::Close => b.close(),
    }
}
