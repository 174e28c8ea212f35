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
    walk(d, &mut path).map_err(|msg| {
        if path.is_empty() {
            format!("{}: {msg}", what())
        } else {
            format!("{} at {path}: {msg}", what())
        }
    })
}

fn walk(d: &Dynamic, path: &mut String) -> Result<Value, String> {
    if d.is_shared() {
        return walk(&d.flatten_clone(), path);
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
    if let Some(a) = d.read_lock::<Array>() {
        let mut out = Vec::with_capacity(a.len());
        for (i, item) in a.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            out.push(walk(item, path)?);
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
            out.insert(k.to_string(), walk(item, path)?);
            path.truncate(len);
        }
        return Ok(Value::Object(out));
    }
    Err(format!(
        "a {} is not a value (values are maps, arrays, strings, numbers and booleans)",
        d.type_name()
    ))
}

pub fn to_dynamic(v: Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => b.into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => (i as INT).into(),
            None => (n.as_f64().unwrap_or(f64::NAN) as FLOAT).into(),
        },
        Value::String(s) => s.into(),
        Value::Array(a) => a.into_iter().map(to_dynamic).collect::<Array>().into(),
        Value::Object(m) => {
            // Inserting beats `collect`, which sorts and dedups first.
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.into(), to_dynamic(v));
            }
            out.into()
        }
    }
}

/// `#{stream, seq, at, data}`; `stream` is passed in so a fold shares one
/// string instead of allocating one per record.
pub fn record_to_dynamic(r: Record, stream: &ImmutableString) -> Dynamic {
    let mut m = Map::new();
    m.insert("stream".into(), stream.clone().into());
    m.insert("seq".into(), (r.seq as INT).into());
    m.insert("at".into(), (r.at as INT).into());
    m.insert("data".into(), to_dynamic(r.data));
    m.into()
}

pub fn records_to_array(records: Vec<Record>) -> Array {
    let mut stream = ImmutableString::new();
    records
        .into_iter()
        .map(|r| {
            if stream.as_str() != r.stream {
                stream = r.stream.clone().into();
            }
            record_to_dynamic(r, &stream)
        })
        .collect()
}

pub fn state_to_dynamic(s: State<Dynamic>) -> Dynamic {
    let mut m = Map::new();
    m.insert("value".into(), s.value);
    m.insert("seq".into(), (s.seq as INT).into());
    m.into()
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
