//! A fold's records as script maps, built from the backend's borrowed form
//! and only as far as the step reads them (`reads::Reads`).

use rhai::{Dynamic, INT, ImmutableString, Map};

use crate::Error;
use crate::script::convert::{json_to_dynamic, record_map, to_dynamic_ref};
use crate::script::fold_version::ScriptData;
use crate::script::reads::{DataKeys, Fields, Reads};
use crate::value::{DataRef, RecordRef, Value};

/// Builds the `#{stream, seq, pos, at, data}` (and `id`) maps of a fold's
/// records, or as much of them as the step reads. Each map is a clone of a
/// template that already holds the keys and the stream name, so a record
/// costs one node copy instead of a search and insert per key, and a fold
/// over one stream shares one name string (a fold over a category or all
/// streams swaps it when the stream changes).
pub struct RecordMaps {
    stream: ImmutableString,
    fields: Fields,
    data: DataKeys,
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
        let nothing = reads == Reads::Nothing;
        let (fields, data) = match reads {
            Reads::Nothing => (Fields::NONE, DataKeys::All),
            Reads::Fields(f, d) => (f, d),
        };
        let template = |id| {
            let blank = record_map(&ImmutableString::new(), 0, 0, 0, id, Dynamic::UNIT);
            let mut m: Map = blank.cast();
            m.retain(|k, _| fields.has(k));
            m
        };
        RecordMaps {
            stream: ImmutableString::new(),
            fields,
            templates: (!nothing).then(|| (template(None), template(Some("")))),
            data,
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
            true => Some(data_of(&r, &self.data)?),
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

/// A script upcaster's result; when it is a map and `keys` names some of
/// its keys, only those.
fn only_keys(d: &Dynamic, keys: Option<&[String]>) -> Dynamic {
    match keys {
        Some(keys) if d.is_map() => {
            let mut out = Map::new();
            if let Some(m) = d.read_lock::<Map>() {
                for k in keys {
                    if let Some(v) = m.get(k.as_str()) {
                        out.insert(k.into(), v.clone());
                    }
                }
            }
            Dynamic::from_map(out)
        }
        _ => d.clone(),
    }
}

/// A record's `data` as a script value, from the backend's form: when it
/// is an object and `keys` names some of its keys, only those.
fn data_of(r: &RecordRef<'_>, keys: &DataKeys) -> Result<Dynamic, Error> {
    let only = match keys {
        DataKeys::Only(k) => Some(k.as_slice()),
        _ => None,
    };
    match (r.data, only) {
        (DataRef::Value(Value::Object(m)), Some(keys)) => {
            let mut out = Map::new();
            for k in keys {
                if let Some(v) = m.get(k) {
                    out.insert(k.into(), to_dynamic_ref(v));
                }
            }
            Ok(Dynamic::from_map(out))
        }
        (DataRef::Value(v), _) => Ok(to_dynamic_ref(v)),
        (DataRef::Foreign(f), _) => match f.downcast_ref::<ScriptData>() {
            Some(ScriptData(d)) => Ok(only_keys(d, only)),
            // Another layer's data: read as the `Value` it converts to.
            None => Ok(only_keys(
                &to_dynamic_ref(&crate::upcast::foreign_value(f, r)?),
                only,
            )),
        },
        (DataRef::Json(bytes), _) => json_to_dynamic(bytes, only).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::assert::deep_eq;
    use serde_json::json;

    /// Data another layer made: read as the `Value` it converts to.
    #[derive(Debug)]
    struct Other(Value);

    impl crate::value::ForeignData for Other {
        fn to_value(&self) -> Result<Value, String> {
            Ok(self.0.clone())
        }

        fn is_null(&self) -> bool {
            self.0.is_null()
        }
    }

    /// `data` in each form a fold meets: stored JSON (`text`), a kept
    /// value, a script upcaster's result and another layer's.
    struct Forms {
        data: Value,
        text: Vec<u8>,
        script: ScriptData,
        other: Other,
    }

    impl Forms {
        fn new(data: Value) -> Forms {
            Forms {
                text: serde_json::to_vec(&data).unwrap(),
                script: ScriptData(to_dynamic_ref(&data)),
                other: Other(data.clone()),
                data,
            }
        }

        fn records(&self) -> Vec<RecordRef<'_>> {
            let forms = [
                DataRef::Json(&self.text),
                DataRef::Value(&self.data),
                DataRef::Foreign(&self.script),
                DataRef::Foreign(&self.other),
            ];
            let mut out = Vec::new();
            for (name, id) in [
                ("a", None),
                ("a", Some("k1")),
                ("b", None),
                ("b", Some("k2")),
            ] {
                out.extend(forms.iter().map(|&data| RecordRef {
                    stream: name,
                    seq: 7,
                    pos: 9,
                    at: 11,
                    id,
                    data,
                }));
            }
            out
        }
    }

    #[test]
    fn record_maps_build_what_the_one_off_conversion_builds() {
        let data = json!({"amount": 3, "pad": "x"});
        let forms = Forms::new(data.clone());
        let mut maps = RecordMaps::default();
        for r in forms.records() {
            let built = maps.of_ref(r).unwrap();
            let data = match r.data {
                DataRef::Json(text) => json_to_dynamic(text, None).unwrap(),
                _ => to_dynamic_ref(&data),
            };
            let one_off = record_map(&r.stream.into(), r.seq, r.pos, r.at, r.id, data);
            assert!(deep_eq(&built, &one_off), "{built:?} vs {one_off:?}");
        }
    }

    /// Every set of fields, with `data` whole or cut to some keys, is the
    /// whole record with the other keys taken out.
    #[test]
    fn a_projection_is_the_whole_record_with_only_the_read_keys() {
        let forms = Forms::new(json!({"amount": 3, "pad": "x", "nested": {"a": [1]}}));
        let key_sets: [&[&str]; 3] = [&["amount"], &["nested", "nope"], &[]];
        for bits in 0..64u8 {
            let fields = Fields::NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(Fields::NONE, |f, (_, n)| f.union(Fields::named(n)));
            let mut datas = vec![DataKeys::All];
            datas.extend(
                key_sets
                    .iter()
                    .map(|k| DataKeys::Only(k.iter().map(|k| k.to_string()).collect())),
            );
            for keys in datas {
                let mut maps = RecordMaps::new(Reads::Fields(fields, keys.clone()));
                let mut whole = RecordMaps::default();
                for r in forms.records() {
                    let got = maps.of_ref(r).unwrap();
                    let mut want = whole.of_ref(r).unwrap().cast::<Map>();
                    want.retain(|k, _| fields.has(k));
                    if let (Some(d), DataKeys::Only(keys)) = (want.get_mut("data"), &keys) {
                        d.write_lock::<Map>()
                            .unwrap()
                            .retain(|k, _| keys.iter().any(|x| x == k.as_str()));
                    }
                    let want = Dynamic::from_map(want);
                    assert!(
                        deep_eq(&got, &want),
                        "{fields:?} {keys:?}: {got:?} vs {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_step_that_reads_nothing_gets_unit_and_no_decoding() {
        let bad = b"{not json";
        let r = RecordRef {
            stream: "s",
            seq: 1,
            pos: 1,
            at: 0,
            id: None,
            data: DataRef::Json(bad),
        };
        assert!(RecordMaps::new(Reads::Nothing).of_ref(r).unwrap().is_unit());
        let seq_only = Reads::Fields(Fields::SEQ, DataKeys::All);
        assert!(RecordMaps::new(seq_only).of_ref(r).is_ok());
        let err = RecordMaps::default().of_ref(r).unwrap_err().to_string();
        assert!(
            err.contains("stream \"s\" seq 1: stored event is not JSON"),
            "{err}"
        );
        let keys = Reads::Fields(Fields::DATA, DataKeys::Only(vec!["a".into()]));
        let err = RecordMaps::new(keys).of_ref(r).unwrap_err().to_string();
        assert!(err.contains("stored event is not JSON"), "{err}");
    }
}
