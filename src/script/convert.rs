//! Rhai `Dynamic` <-> kernel `Value`.
//!
//! Writing this by hand (rather than through rhai's serde) lets the error say
//! where in the value the problem is, and lets bytes get the SPEC 2 message.

use rhai::{Array, Blob, Dynamic, FLOAT, INT, ImmutableString, Map};

use crate::script::reads::{Fields, Reads};
use crate::snapshot::Snapshotable;
use crate::value::{DataRef, RecordRef};
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
/// what it leaves (whose error, if any, is the one reported).
pub fn json_to_dynamic(bytes: &[u8]) -> Result<Dynamic, String> {
    match super::decode::decode(bytes) {
        Some(d) => Ok(d),
        None => json_to_dynamic_serde(bytes),
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

/// Builds the `#{stream, seq, pos, at, data}` (and `id`) maps of a fold's
/// records, or as much of them as the step reads (`Reads`). Each map is a
/// clone of a template that already holds the keys and the stream name, so
/// a record costs one node copy instead of a search and insert per key,
/// and a fold over one stream shares one name string (a fold over a
/// category or all streams swaps it when the stream changes).
pub struct RecordMaps {
    stream: ImmutableString,
    fields: Fields,
    /// Without and with `id`; `None` when the step reads nothing.
    templates: Option<(Map, Map)>,
}

impl Default for RecordMaps {
    /// Whole records.
    fn default() -> Self {
        RecordMaps::new(Reads::ALL)
    }
}

impl RecordMaps {
    /// Maps of what `reads` names.
    pub fn new(reads: Reads) -> Self {
        let fields = match reads {
            Reads::Nothing => Fields::NONE,
            Reads::Fields(f) => f,
        };
        let template = |id| {
            let mut m: Map = record_map(&ImmutableString::new(), 0, 0, 0, id, Dynamic::UNIT).cast();
            m.retain(|k, _| fields.has(k));
            m
        };
        RecordMaps {
            stream: ImmutableString::new(),
            fields,
            templates: match reads {
                Reads::Nothing => None,
                Reads::Fields(_) => Some((template(None), template(Some("")))),
            },
        }
    }

    /// A borrowed record as a script map (`()` if the step reads nothing).
    pub fn of_ref(&mut self, r: RecordRef<'_>) -> Result<Dynamic, Error> {
        let Some((plain, with_id)) = &mut self.templates else {
            return Ok(Dynamic::UNIT);
        };
        let fields = self.fields;
        let has = |f| fields.contains(f);
        if has(Fields::STREAM) && self.stream != r.stream {
            self.stream = r.stream.into();
            let name: Dynamic = self.stream.clone().into();
            for t in [&mut *plain, &mut *with_id] {
                t.insert("stream".into(), name.clone());
            }
        }
        let data = match has(Fields::DATA) {
            true => Some(data_of(&r)?),
            false => None,
        };
        let id = r.id.filter(|_| has(Fields::ID));
        let mut m = match id {
            None => plain.clone(),
            Some(_) => with_id.clone(),
        };
        // The keys in their (sorted) order: at, data, [id,] pos, seq, stream,
        // those the template holds.
        let mut values = m.values_mut();
        let mut set = |v: Dynamic| {
            if let Some(slot) = values.next() {
                *slot = v;
            }
        };
        if has(Fields::AT) {
            set((r.at as INT).into());
        }
        if let Some(data) = data {
            set(data);
        }
        if let Some(id) = id {
            set(id.into());
        }
        if has(Fields::POS) {
            set((r.pos as INT).into());
        }
        if has(Fields::SEQ) {
            set((r.seq as INT).into());
        }
        Ok(Dynamic::from_map(m))
    }
}

/// A borrowed record as `#{stream, seq, pos, at, data}` (and `id`), built
/// on its own; `stream` caches the name as `RecordMaps` does.
pub fn record_ref_to_dynamic(
    r: RecordRef<'_>,
    stream: &mut ImmutableString,
) -> Result<Dynamic, Error> {
    if stream.as_str() != r.stream {
        *stream = r.stream.into();
    }
    let data = data_of(&r)?;
    Ok(record_map(stream, r.seq, r.pos, r.at, r.id, data))
}

/// A record's `data` as a script value, from the backend's form.
fn data_of(r: &RecordRef<'_>) -> Result<Dynamic, Error> {
    match r.data {
        DataRef::Value(v) => Ok(to_dynamic_ref(v)),
        DataRef::Json(bytes) => json_to_dynamic(bytes).map_err(|e| {
            Error::invalid(
                "read",
                format!(
                    "stream {:?} seq {}: stored event is not JSON: {e}",
                    r.stream, r.seq
                ),
            )
        }),
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

fn record_map(
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
        let from_json = json_to_dynamic(&text).unwrap();
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
        assert!(json_to_dynamic(b"{\"a\":").is_err());
        assert!(json_to_dynamic(b"1 2").is_err());
    }

    #[test]
    fn record_maps_build_what_the_one_off_conversion_builds() {
        let data = json!({"amount": 3, "pad": "x"});
        let text = serde_json::to_vec(&data).unwrap();
        let mut maps = RecordMaps::default();
        let mut stream = ImmutableString::new();
        for (name, id, json) in [
            ("a", None, true),
            ("a", Some("k1"), false),
            ("b", None, false),
            ("b", Some("k2"), true),
        ] {
            let r = RecordRef {
                stream: name,
                seq: 7,
                pos: 9,
                at: 11,
                id,
                data: match json {
                    true => DataRef::Json(&text),
                    false => DataRef::Value(&data),
                },
            };
            let built = maps.of_ref(r).unwrap();
            let one_off = record_ref_to_dynamic(r, &mut stream).unwrap();
            assert!(
                crate::script::assert::deep_eq(&built, &one_off),
                "{built:?} vs {one_off:?}"
            );
        }
    }
}
