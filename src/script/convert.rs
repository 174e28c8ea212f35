//! Rhai `Dynamic` <-> kernel `Value`.
//!
//! Writing this by hand (rather than through rhai's serde) lets the error say
//! where in the value the problem is, and lets bytes get the SPEC 2 message.

use rhai::{Array, Blob, Dynamic, FLOAT, INT, ImmutableString, Map};

use crate::snapshot::Snapshotable;
use crate::{Error, Record, State, Value};

/// Converts a script value to a stored value; `what` names it in errors.
pub fn to_value(d: &Dynamic, what: &dyn Fn() -> String) -> Result<Value, String> {
    let mut path = String::new();
    walk(d, &mut path, 0).map_err(|msg| {
        if path.is_empty() {
            format!("{}: {msg}", what())
        } else {
            format!("{} at {path}: {msg}", what())
        }
    })
}

/// How deep `walk` goes before refusing: past the store's limit
/// (`limits::MAX_DEPTH`, which `Store` reports), with room for the request
/// and response wrappers a script transport converts, and never deep
/// enough to overflow the stack on a runaway value.
const MAX_WALK: usize = 2 * crate::limits::MAX_DEPTH;

fn walk(d: &Dynamic, path: &mut String, depth: usize) -> Result<Value, String> {
    if d.is_shared() {
        return walk(&d.flatten_clone(), path, depth);
    }
    if d.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = d.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = d.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = d.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a storable number"));
    }
    if let Some(s) = d.read_lock::<ImmutableString>() {
        return Ok(Value::String(s.to_string()));
    }
    if d.as_char().is_ok() {
        // A char would come back as a string, and a fold's value must read
        // back exactly as it was: refuse it rather than change its type.
        return Err("a char is not a value: use a string".into());
    }
    if d.is_blob() {
        return Err("raw bytes (a Blob) cannot be stored in the log or kv: \
                    put them in a content store (persist::content_store) and store its ref"
            .into());
    }
    if depth == MAX_WALK && (d.is_array() || d.is_map()) {
        return Err(format!(
            "the value is nested more than {} levels deep (arrays and maps), over the limit",
            crate::limits::MAX_DEPTH
        ));
    }
    if let Some(a) = d.read_lock::<Array>() {
        let mut out = Vec::with_capacity(a.len());
        for (i, item) in a.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            out.push(walk(item, path, depth + 1)?);
            path.truncate(len);
        }
        return Ok(Value::Array(out));
    }
    if let Some(m) = d.read_lock::<Map>() {
        let mut out = serde_json::Map::new();
        for (k, item) in m.iter() {
            let len = path.len();
            path.push('.');
            path.push_str(k);
            out.insert(k.to_string(), walk(item, path, depth + 1)?);
            path.truncate(len);
        }
        return Ok(Value::Object(out));
    }
    Err(format!(
        "a {} is not a value (values are maps, arrays, strings, numbers and booleans)",
        d.type_name()
    ))
}

/// Whether `d` is already what `to_value` then `to_dynamic` makes of it:
/// units, booleans, ints, finite floats, strings, and arrays and maps of
/// them, none shared, constant or tagged, no deeper than `walk` goes. A
/// script upcaster's result that is goes to the fold's step as it is;
/// anything else takes the round trip, which also names what is wrong.
pub fn is_plain(d: &Dynamic) -> bool {
    plain(d, 0)
}

fn plain(d: &Dynamic, depth: usize) -> bool {
    if d.is_shared() || d.is_read_only() || d.tag() != 0 {
        return false;
    }
    if d.is_unit() || d.is_bool() || d.is_int() || d.is_string() {
        return true;
    }
    if let Ok(f) = d.as_float() {
        return f.is_finite();
    }
    if depth == MAX_WALK {
        return false;
    }
    if let Some(a) = d.read_lock::<Array>() {
        return a.iter().all(|x| plain(x, depth + 1));
    }
    if let Some(m) = d.read_lock::<Map>() {
        return m.values().all(|x| plain(x, depth + 1));
    }
    false
}

/// `to_dynamic` from a borrowed value (a fold over the memory backend).
pub fn to_dynamic_ref(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => (i as INT).into(),
            None => (n.as_f64().unwrap_or(f64::NAN) as FLOAT).into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => Dynamic::from_array(a.iter().map(to_dynamic_ref).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.as_str().into(), to_dynamic_ref(v));
            }
            Dynamic::from_map(out)
        }
    }
}

/// Stored JSON text straight to a script value, with no `Value` between
/// (a fold over the on-disk backend): the direct decoder, or serde_json for
/// what it leaves (whose error, if any, is the one reported). With `keys`,
/// an object keeps only those keys (what a fold's step reads of `data`).
pub fn json_to_dynamic(bytes: &[u8], keys: Option<&[String]>) -> Result<Dynamic, String> {
    match super::decode::decode(bytes, keys) {
        Some(d) => Ok(d),
        None => json_to_dynamic_serde(bytes).map(|d| keep_keys(d, keys)),
    }
}

/// `d` with only `keys` kept, when it is a map and `keys` is given.
fn keep_keys(d: Dynamic, keys: Option<&[String]>) -> Dynamic {
    match keys {
        Some(keys) if d.is_map() => {
            let mut m = d.cast::<Map>();
            m.retain(|k, _| keys.iter().any(|x| x == k.as_str()));
            Dynamic::from_map(m)
        }
        _ => d,
    }
}

/// `json_to_dynamic` through serde_json alone: the reference the direct
/// decoder is tested against.
pub fn json_to_dynamic_serde(bytes: &[u8]) -> Result<Dynamic, String> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let d = DynamicSeed
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(d)
}

/// Builds `Dynamic`s from JSON (rhai's own `Deserialize` re-collects every
/// map and array through `From`, which costs a second pass).
struct DynamicSeed;

impl<'de> serde::de::DeserializeSeed<'de> for DynamicSeed {
    type Value = Dynamic;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Dynamic, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for DynamicSeed {
    type Value = Dynamic;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::UNIT)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Dynamic, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Dynamic, E> {
        Ok((v as INT).into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Dynamic, E> {
        Ok(match INT::try_from(v) {
            Ok(i) => i.into(),
            Err(_) => (v as FLOAT).into(),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Dynamic, E> {
        Ok((v as FLOAT).into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Dynamic, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Dynamic, E> {
        Ok(v.into())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Dynamic, A::Error> {
        let mut out = Array::new();
        while let Some(v) = seq.next_element_seed(DynamicSeed)? {
            out.push(v);
        }
        Ok(Dynamic::from_array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Dynamic, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let v = map.next_value_seed(DynamicSeed)?;
            out.insert(k.as_ref().into(), v);
        }
        Ok(Dynamic::from_map(out))
    }
}

pub fn to_dynamic(v: Value) -> Dynamic {
    to_dynamic_ref(&v)
}

/// `#{stream, seq, pos, at, data}` (and `id`); `stream` is passed in so a
/// fold shares one string instead of allocating one per record.
pub fn record_to_dynamic(r: &Record, stream: &ImmutableString) -> Dynamic {
    let data = to_dynamic_ref(&r.data);
    record_map(stream, r.seq, r.pos, r.at, r.id.as_deref(), data)
}

pub(crate) fn record_map(
    stream: &ImmutableString,
    seq: u64,
    pos: u64,
    at: i64,
    id: Option<&str>,
    data: Dynamic,
) -> Dynamic {
    let mut m = Map::new();
    m.insert("stream".into(), stream.clone().into());
    m.insert("seq".into(), (seq as INT).into());
    m.insert("pos".into(), (pos as INT).into());
    m.insert("at".into(), (at as INT).into());
    if let Some(id) = id {
        m.insert("id".into(), id.into());
    }
    m.insert("data".into(), data);
    Dynamic::from_map(m)
}

pub fn records_to_array(records: Vec<Record>) -> Array {
    let mut stream = ImmutableString::new();
    records
        .into_iter()
        .map(|r| {
            if stream.as_str() != r.stream {
                stream = r.stream.clone().into();
            }
            record_to_dynamic(&r, &stream)
        })
        .collect()
}

pub fn state_to_dynamic(s: State<Dynamic>) -> Dynamic {
    let mut m = Map::new();
    m.insert("value".into(), s.value);
    m.insert("seq".into(), (s.seq as INT).into());
    Dynamic::from_map(m)
}

pub fn strings_to_array(v: Vec<String>) -> Array {
    v.into_iter().map(Dynamic::from).collect()
}

pub fn blob_of(d: &Dynamic) -> Option<Blob> {
    if d.is_blob() {
        return d.clone().into_blob().ok();
    }
    d.read_lock::<ImmutableString>()
        .map(|s| s.as_bytes().to_vec())
}

/// Fold accumulators are Rhai values; snapshots store them as JSON.
impl Snapshotable for Dynamic {
    fn to_stored(&self) -> crate::Result<Value> {
        to_value(self, &|| "snapshot value".to_string())
            .map_err(|msg| Error::invalid("checkpoint", msg))
    }
    fn from_stored(v: Value) -> crate::Result<Self> {
        Ok(to_dynamic(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_text_and_values_convert_to_the_same_script_value() {
        let v =
            json!({"i": 1, "f": 1.0, "s": "x", "n": null, "a": [true, {"k": -3}], "big": 1e300});
        let text = serde_json::to_vec(&v).unwrap();
        let from_json = json_to_dynamic(&text, None).unwrap();
        let from_ref = to_dynamic_ref(&v);
        let from_owned = to_dynamic(v.clone());
        for d in [&from_json, &from_ref] {
            assert!(crate::script::assert::deep_eq(d, &from_owned), "{d:?}");
        }
        let back = to_value(&from_json, &|| "x".into()).unwrap();
        assert_eq!(back, v, "ints stay ints, floats stay floats");
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        assert!(json_to_dynamic(b"{\"a\":", None).is_err());
        assert!(json_to_dynamic(b"1 2", None).is_err());
    }
}
