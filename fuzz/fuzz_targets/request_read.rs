//! How the gateway reads an untranslated LLM request body
//! (`keyway_gateway::request`, one scan that checks the body, finds its
//! members and counts the prompt's text): for any bytes, the body is read
//! exactly when serde_json reads it as the gateway must, and the text it
//! counts is what the limits' estimate counts on the parsed body. Never a
//! panic.

#![no_main]

use keyway_gateway::fuzzing::request::{MAX_DEPTH, estimate, parsed, read};
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Value, value::RawValue};

/// Each member's name and value as sent, as serde_json reads an object.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

/// How deeply valid JSON nests, counted on its bytes.
fn depth(b: &[u8]) -> usize {
    let (mut depth, mut deepest, mut string, mut escaped) = (0usize, 0, false, false);
    for &c in b {
        match (string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => string = !string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fuzz_target!(|bytes: &[u8]| {
    let serde = serde_json::from_slice::<Members>(bytes).is_ok_and(|Members(members)| {
        depth(bytes) <= MAX_DEPTH + 1
            && members.iter().all(|(name, raw)| {
                let raw = raw.get();
                (!parsed(name) && raw.starts_with(['[', '{', '"']))
                    || serde_json::from_str::<Value>(raw).is_ok()
            })
    });
    let ours = read(bytes);
    assert_eq!(ours.is_some(), serde, "{:?}", String::from_utf8_lossy(bytes));
    if let (Some(text), Ok(body)) = (ours, serde_json::from_slice::<Value>(bytes)) {
        assert_eq!(text, estimate(&body), "{:?}", String::from_utf8_lossy(bytes));
    }
});
