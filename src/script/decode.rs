//! Stored JSON bytes straight to a script value, for folds over the on-disk
//! backend: building the record's value was ~40% of a disk fold, and going
//! through serde's visitor costs a call per token plus a UTF-8 check per
//! string. This decoder handles what persist itself writes (compact JSON,
//! i64 integers, finite floats, any string) and gives up on everything else
//! (`None`: big or negative-zero integers, bad escapes, lone surrogates,
//! nesting past serde_json's limit, any syntax error), so the caller falls
//! back to the serde_json path, whose result or error is the reference.

use std::borrow::Cow;

use rhai::{Array, Dynamic, FLOAT, INT, ImmutableString, Map};

/// The deepest nesting serde_json reads (it refuses 128 levels): deeper
/// input goes to serde_json, which refuses it with its own message.
const MAX_DEPTH: usize = 127;

/// The value of `bytes`, or `None` when it is anything this decoder does
/// not handle exactly as serde_json would. When the value is an object
/// and `keys` is given, only those of its keys are built: the rest are
/// read past, checked as if built (a plain string is not copied).
pub fn decode(bytes: &[u8], keys: Option<&[String]>) -> Option<Dynamic> {
    let mut d = Decoder { b: bytes, at: 0 };
    d.skip_ws();
    let v = match (d.peek()?, keys) {
        (b'{', Some(keys)) => d.object(1, Some(keys))?,
        _ => d.value(0)?,
    };
    d.skip_ws();
    (d.at == bytes.len()).then_some(v)
}

struct Decoder<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// Skips whitespace, then consumes `c` if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        let hit = self.peek() == Some(c);
        self.at += hit as usize;
        hit
    }

    fn literal(&mut self, word: &[u8], v: Dynamic) -> Option<Dynamic> {
        let end = self.at + word.len();
        (self.b.get(self.at..end)? == word).then(|| {
            self.at = end;
            v
        })
    }

    fn value(&mut self, depth: usize) -> Option<Dynamic> {
        self.skip_ws();
        match self.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(depth + 1, None),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1),
            b'"' => self
                .string()
                .map(|s| ImmutableString::from(s.as_ref()).into()),
            b'n' => self.literal(b"null", Dynamic::UNIT),
            b't' => self.literal(b"true", true.into()),
            b'f' => self.literal(b"false", false.into()),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object; with `keep`, only the entries whose key it names.
    fn object(&mut self, depth: usize, keep: Option<&[String]>) -> Option<Dynamic> {
        self.at += 1;
        let mut m = Map::new();
        if self.eat(b'}') {
            return Some(Dynamic::from_map(m));
        }
        loop {
            self.skip_ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            match keep {
                Some(keep) if !keep.iter().any(|k| *k == key) => self.skip(depth)?,
                // Keys are short: held inline in the map, no allocation.
                _ => {
                    let v = self.value(depth)?;
                    m.insert(key.as_ref().into(), v);
                }
            }
            if !self.eat(b',') {
                return self.eat(b'}').then(|| Dynamic::from_map(m));
            }
        }
    }

    /// Reads past a value, checking it as `value` would.
    fn skip(&mut self, depth: usize) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.string().map(drop),
            _ => self.value(depth).map(drop),
        }
    }

    fn array(&mut self, depth: usize) -> Option<Dynamic> {
        self.at += 1;
        let mut a = Array::new();
        if self.eat(b']') {
            return Some(Dynamic::from_array(a));
        }
        loop {
            a.push(self.value(depth)?);
            if !self.eat(b',') {
                return self.eat(b']').then(|| Dynamic::from_array(a));
            }
        }
    }

    /// The string starting at the opening quote under `at`, borrowed
    /// unless it has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.at += 1;
        let start = self.at;
        let end = start + memchr::memchr2(b'"', b'\\', &self.b[start..])?;
        let b: &'a [u8] = self.b;
        let plain = &b[start..end];
        if has_control(plain) {
            return None;
        }
        if self.b[end] == b'"' {
            self.at = end + 1;
            return Some(Cow::Borrowed(std::str::from_utf8(plain).ok()?));
        }
        let mut out = String::from(std::str::from_utf8(plain).ok()?);
        self.at = end;
        loop {
            // At a backslash.
            self.at += 1;
            let c = match *self.b.get(self.at)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode()?,
                _ => return None,
            };
            out.push(c);
            self.at += 1;
            let rest = &self.b[self.at..];
            let n = memchr::memchr2(b'"', b'\\', rest)?;
            if has_control(&rest[..n]) {
                return None;
            }
            out.push_str(std::str::from_utf8(&rest[..n]).ok()?);
            self.at += n;
            if self.b[self.at] == b'"' {
                self.at += 1;
                return Some(Cow::Owned(out));
            }
        }
    }

    /// A `\u` escape and its four hex digits (a surrogate pair takes two
    /// escapes), with `at` on the `u`; leaves
    /// `at` on the last hex digit.
    fn unicode(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if !(0xD800..0xDC00).contains(&hi) {
            return char::from_u32(hi);
        }
        if self.b.get(self.at + 1..self.at + 3)? != b"\\u" {
            return None;
        }
        self.at += 2;
        let lo = self.hex4()?;
        if !(0xDC00..0xE000).contains(&lo) {
            return None;
        }
        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
    }

    /// Four hex digits after `at`; leaves `at` on the last.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.at + 1..self.at + 5)?;
        self.at += 4;
        digits
            .iter()
            .try_fold(0, |acc, &d| Some(acc * 16 + (d as char).to_digit(16)?))
    }

    /// A JSON number: an `INT` when it is an integer that fits (a positive
    /// one past i64 is a float, as serde_json makes it), else a float
    /// parsed exactly (Rust's parse and serde_json's float_roundtrip both
    /// round correctly).
    fn number(&mut self) -> Option<Dynamic> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        self.at += negative as usize;
        let int_start = self.at;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.b[int_start] == b'0') {
            return None;
        }
        let int_end = self.at;
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if float {
            // Only ASCII digits, signs, '.' and 'e' were consumed.
            let text = std::str::from_utf8(&self.b[start..self.at]).ok()?;
            let f: f64 = text.parse().ok()?;
            return f.is_finite().then(|| (f as FLOAT).into());
        }
        let mut v: u64 = 0;
        for &d in &self.b[int_start..int_end] {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        match (negative, i64::try_from(v)) {
            (false, Ok(i)) => Some((i as INT).into()),
            (false, Err(_)) => Some((v as FLOAT).into()),
            // -0 is a float to serde_json; i64::MIN and below go there too.
            (true, Ok(i)) if i > 0 => Some((-i as INT).into()),
            (true, _) => None,
        }
    }

    /// Consumes ASCII digits; how many.
    fn digits(&mut self) -> usize {
        let n = self.b[self.at..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        self.at += n;
        n
    }
}

/// Whether `b` holds a control character, which JSON strings may not.
fn has_control(b: &[u8]) -> bool {
    // A fold without early exit, so it runs as wide compares.
    b.iter().fold(false, |any, &c| any | (c < 0x20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::convert::json_to_dynamic_serde;
    use proptest::prelude::*;
    use serde_json::Value;

    fn decode(bytes: &[u8]) -> Option<Dynamic> {
        super::decode(bytes, None)
    }

    /// Same type and value; floats to the bit, so 1 and 1.0 differ.
    fn same(a: &Dynamic, b: &Dynamic) -> bool {
        if a.type_name() != b.type_name() {
            return false;
        }
        if let (Ok(x), Ok(y)) = (a.as_float(), b.as_float()) {
            return x.to_bits() == y.to_bits();
        }
        if let (Some(x), Some(y)) = (a.read_lock::<Array>(), b.read_lock::<Array>()) {
            return x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same(x, y));
        }
        if let (Some(x), Some(y)) = (a.read_lock::<Map>(), b.read_lock::<Map>()) {
            return x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((kx, x), (ky, y))| kx == ky && same(x, y));
        }
        a.to_string() == b.to_string()
    }

    /// The direct decoder either gives up or agrees with serde_json.
    fn agrees(text: &[u8]) -> Result<(), TestCaseError> {
        if let Some(direct) = decode(text) {
            let reference = json_to_dynamic_serde(text);
            prop_assert!(
                reference.as_ref().is_ok_and(|r| same(&direct, r)),
                "{:?}: direct {direct:?}, serde_json {reference:?}",
                String::from_utf8_lossy(text)
            );
        }
        Ok(())
    }

    fn json() -> impl Strategy<Value = Value> {
        crate::test_json::json(crate::test_json::Shape {
            depth: 6,
            size: 64,
            width: 8,
            strings: "[a-z\"\\\\/\u{0}-\u{1f}\u{80}-\u{10ffff}]{0,12}",
            keys: "[a-z\"\\\\é]{0,6}",
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// What serde_json writes, the decoder reads exactly as serde_json
        /// reads it, never giving up.
        #[test]
        fn written_json_decodes_as_serde_json_does(v in json()) {
            let text = serde_json::to_vec(&v).unwrap();
            prop_assert!(decode(&text).is_some(), "gave up on {}", String::from_utf8_lossy(&text));
            agrees(&text)?;
            let pretty = serde_json::to_vec_pretty(&v).unwrap();
            agrees(&pretty)?;
        }

        /// With keys, an object decodes to serde_json's reading of it with
        /// only those keys; anything else decodes as without them.
        #[test]
        fn only_the_named_keys_of_an_object_are_built(v in json(), pick in prop::collection::vec(any::<bool>(), 8)) {
            let mut keys: Vec<String> = match &v {
                Value::Object(m) => m.keys().zip(&pick).filter(|(_, p)| **p).map(|(k, _)| k.clone()).collect(),
                _ => Vec::new(),
            };
            keys.push("not a key".into());
            for text in [serde_json::to_vec(&v).unwrap(), serde_json::to_vec_pretty(&v).unwrap()] {
                let got = super::decode(&text, Some(&keys));
                prop_assert!(got.is_some(), "gave up on {}", String::from_utf8_lossy(&text));
                let mut want = json_to_dynamic_serde(&text).unwrap();
                if let Some(mut m) = want.write_lock::<Map>() {
                    m.retain(|k, _| keys.iter().any(|x| x == k.as_str()));
                }
                prop_assert!(same(got.as_ref().unwrap(), &want), "{got:?} vs {want:?}");
            }
        }

        /// Damaged text under keys gives up exactly where it would without.
        #[test]
        fn named_keys_give_up_where_the_whole_decode_does(
            t in "\\{(\"[a-z]{0,2}\":[\\[\\]{}\",:0-9a-z\\\\. -]{0,12},?){0,3}\\}?",
        ) {
            let keys = ["a".to_string()];
            let whole = decode(t.as_bytes()).is_some();
            prop_assert_eq!(super::decode(t.as_bytes(), Some(&keys)).is_some(), whole, "{}", t);
        }

        /// Numbers as text, including ones no serializer writes (big
        /// integers, long mantissas, huge and tiny exponents, -0).
        #[test]
        fn number_text_decodes_as_serde_json_does(
            t in "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?"
        ) {
            agrees(t.as_bytes())?;
        }

        /// Escapes (valid, invalid, surrogates) and arbitrary bytes.
        #[test]
        fn any_text_either_agrees_or_falls_back(
            t in "[\\[\\]{}\",:0-9a-z\\\\u. -]{0,40}|\"(\\\\u[dD][89abAB][0-9a-f]{2}|\\\\u[0-9a-fA-F]{4}|\\\\[\"\\\\/bfnrtx]|[a-z\u{1}\u{7f}-\u{ff}])*\"",
            bytes in prop::collection::vec(any::<u8>(), 0..24),
        ) {
            agrees(t.as_bytes())?;
            agrees(&bytes)?;
        }
    }

    #[test]
    fn nesting_agrees_with_serde_json_around_its_limit() {
        for depth in [1, 64, 126, 127, 128, 129, 130, 200] {
            for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
                let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                let direct = decode(text.as_bytes());
                let reference = json_to_dynamic_serde(text.as_bytes());
                match (&direct, &reference) {
                    (Some(d), Ok(r)) => assert!(same(d, r), "depth {depth}"),
                    (None, _) => {}
                    (Some(_), Err(e)) => {
                        panic!("depth {depth}: decoded what serde_json refuses: {e}")
                    }
                }
                if depth <= 127 {
                    assert!(direct.is_some(), "depth {depth} {open}: gave up");
                }
            }
        }
    }

    #[test]
    fn escapes_and_unicode_decode() {
        let d = decode(br#"{"a\"b":"x\n\u00e9\ud83d\ude00\/y","n":-12,"f":-0.5e-3}"#).unwrap();
        let m = d.read_lock::<Map>().unwrap();
        assert_eq!(m["a\"b"].to_string(), "x\né😀/y");
        assert_eq!(m["n"].as_int(), Ok(-12));
        assert_eq!(m["f"].as_float(), Ok(-0.0005));
        let dup = br#"{"a":1,"a":[2]," a":{}}"#;
        let (direct, reference) = (decode(dup).unwrap(), json_to_dynamic_serde(dup).unwrap());
        assert!(same(&direct, &reference), "{direct:?} vs {reference:?}");
        for gives_up in [
            &b"-0"[..],
            b"\"\\ud800\"",
            b"[1,]",
            b"01",
            b"1.",
            b"\"a\x01\"",
            b"1e400",
        ] {
            assert!(
                decode(gives_up).is_none(),
                "{:?}",
                String::from_utf8_lossy(gives_up)
            );
        }
    }
}
