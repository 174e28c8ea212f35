//! Arbitrary JSON for the property tests of the encoder (`ondisk::json`)
//! and the decoder (`script::decode`): one generator, shaped per test, so
//! both are checked against the same kinds of values.

use proptest::prelude::*;
use serde_json::Value;

/// How big the generated values get and which strings they hold.
pub(crate) struct Shape {
    /// Nesting levels of arrays and objects.
    pub depth: u32,
    /// Total nodes the generator aims for.
    pub size: u32,
    /// Most elements per array or object.
    pub width: usize,
    /// A regex of the strings that stress the code under test (escapes,
    /// control characters, non-ASCII), besides arbitrary `String`s.
    pub strings: &'static str,
    /// A regex of object keys.
    pub keys: &'static str,
}

/// Values of `shape`. Floats are finite: JSON has no other.
pub(crate) fn json(shape: Shape) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        shape.strings.prop_map(Value::from),
    ];
    let (width, keys) = (shape.width, shape.keys);
    leaf.prop_recursive(shape.depth, shape.size, width as u32, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..width).prop_map(Value::from),
            prop::collection::btree_map(keys, inner, 0..width)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
