//! The reference that the request's one-pass reading (`super::sent`) is
//! held to: how serde_json reads the same bytes, the way the body was read
//! before that scan (`&RawValue` members, then the nesting, then the members
//! the gateway parses). Only its tests and the `request_read` fuzz target
//! (`crate::fuzzing`) use it.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Value, value::RawValue};

use super::MAX_DEPTH;

/// Each member's name and value as sent, as serde_json reads an object,
/// checked whole, UTF-8 included.
struct SerdeMembers(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for SerdeMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = SerdeMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SerdeMembers, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(SerdeMembers(members))
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

/// Whether serde_json reads `b` as the gateway must: one JSON object,
/// nested no deeper than a parse allows, whose members the gateway parses
/// (and every top-level number) parse.
pub fn serde_reads(b: &[u8]) -> bool {
    let Ok(SerdeMembers(members)) = serde_json::from_slice(b) else {
        return false;
    };
    depth(b) <= MAX_DEPTH + 1
        && members.iter().all(|(name, raw)| {
            let raw = raw.get();
            (!super::parsed(name) && raw.starts_with(['[', '{', '"']))
                || serde_json::from_str::<Value>(raw).is_ok()
        })
}
