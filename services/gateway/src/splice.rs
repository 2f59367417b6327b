//! The upstream body of a request the gateway does not translate: the
//! client's own bytes for every top-level member it left alone, and only
//! the members it changed (`model`, an output cap, `stream_options`)
//! encoded again.
//!
//! Why: encoding the whole parsed request again cost about as much as
//! parsing it, some 12 instructions a byte of escaped text, so 42% of the
//! gateway's CPU on a request with 70 KB of conversation
//! (docs/benchmarks.md). Copying the members also keeps what a parse into
//! `serde_json::Value` would have changed: a number too large for an `f64`,
//! an escape such as `\u00e9`.
//!
//! A key that appears more than once is sent once, with its last value:
//! the one the gateway parsed and checked (serde_json keeps the last), so
//! an upstream that would read the first cannot see another model or
//! another `max_tokens`.

use std::{borrow::Cow, collections::HashMap};

use serde_json::Value;

use crate::json_scan::{Scan, malformed, name};

/// `original` (a JSON object) with each member named in `replace` written
/// from its value there, or left out when that is `None`. Members are kept
/// in the client's order; a replacement the original lacks is appended.
pub(crate) fn splice(original: &[u8], replace: &[(&str, Option<&Value>)]) -> serde_json::Result<Vec<u8>> {
    with_members(&members(original)?, replace)
}

/// As [`splice`], for an object whose members were found already: each
/// name, with its value as sent (`crate::request` finds them as it checks
/// the body, so they are not searched for again).
pub(crate) fn with_members<K: AsRef<str>>(
    members: &[(K, &[u8])],
    replace: &[(&str, Option<&Value>)],
) -> serde_json::Result<Vec<u8>> {
    let mut last: HashMap<&str, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(members.len(), Default::default());
    for (i, (key, _)) in members.iter().enumerate() {
        last.insert(key.as_ref(), i);
    }
    let size = members
        .iter()
        .map(|(key, raw)| key.as_ref().len() + raw.len() + 4);
    let mut out = Vec::with_capacity(size.sum::<usize>() + 64);
    out.push(b'{');
    for (i, (key, raw)) in members.iter().enumerate() {
        let key = key.as_ref();
        if last.get(key) != Some(&i) {
            continue;
        }
        match replace.iter().find(|(name, _)| *name == key) {
            None => member(&mut out, key, Member::Sent(raw))?,
            Some((_, Some(value))) => member(&mut out, key, Member::New(value))?,
            Some((_, None)) => {}
        }
    }
    for (name, value) in replace {
        if let Some(value) = value
            && !last.contains_key(name)
        {
            member(&mut out, name, Member::New(value))?;
        }
    }
    out.push(b'}');
    Ok(out)
}

/// A member's value: the bytes the client sent, or one to encode.
enum Member<'a> {
    Sent(&'a [u8]),
    New(&'a Value),
}

/// Appends `,"key":value` (no comma after the opening brace).
fn member(out: &mut Vec<u8>, key: &str, value: Member<'_>) -> serde_json::Result<()> {
    if out.len() > 1 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, key)?;
    out.push(b':');
    match value {
        Member::Sent(raw) => out.extend_from_slice(raw),
        Member::New(value) => serde_json::to_writer(&mut *out, value)?,
    }
    Ok(())
}

/// An object's members in order, each value as the bytes it was sent as.
///
/// A structural scan, not a parser: `original` is a body the gateway has
/// already parsed whole (or encoded itself), so only strings (for the
/// brackets and commas inside them) and nesting need following. Validating
/// it all again, as a `RawValue` does, cost nearly what the encoding it
/// replaces did on text full of escapes. Malformed input gives an error,
/// never a panic.
fn members(original: &[u8]) -> serde_json::Result<Vec<(Cow<'_, str>, &[u8])>> {
    let mut scan = Scan { b: original, i: 0 };
    let mut members = Vec::with_capacity(8);
    scan.expect(b'{')?;
    scan.whitespace();
    if scan.peek() == Some(b'}') {
        scan.i += 1;
    } else {
        loop {
            let key = scan.string()?;
            scan.expect(b':')?;
            scan.whitespace();
            let start = scan.i;
            scan.value()?;
            if scan.i == start {
                return Err(malformed());
            }
            members.push((name(&original[key])?, &original[start..scan.i]));
            scan.whitespace();
            match scan.next() {
                Some(b',') => scan.whitespace(),
                Some(b'}') => break,
                _ => return Err(malformed()),
            }
        }
    }
    scan.whitespace();
    match scan.i == original.len() {
        true => Ok(members),
        false => Err(malformed()),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn parsed(bytes: &[u8]) -> Map<String, Value> {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn untouched_members_keep_their_bytes_and_order() {
        let original = br#"{ "z": 1e400, "model" : "a", "messages":[{"content":"caf\u00e9 \"x\""}], "seed": 123456789012345678901234567890 }"#;
        let m = json!("upstream-a");
        let out = splice(original, &[("model", Some(&m))]).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"z":1e400,"model":"upstream-a","messages":[{"content":"caf\u00e9 \"x\""}],"seed":123456789012345678901234567890}"#
        );
    }

    #[test]
    fn replacements_are_added_or_removed() {
        let original = br#"{"model":"a","max_tokens":99}"#;
        let cap = json!(10);
        let options = json!({"include_usage": true});
        let out = splice(
            original,
            &[
                ("max_tokens", Some(&cap)),
                ("stream_options", Some(&options)),
                ("model", None),
            ],
        )
        .unwrap();
        assert_eq!(
            parsed(&out),
            parsed(br#"{"max_tokens":10,"stream_options":{"include_usage":true}}"#)
        );
    }

    #[test]
    fn a_repeated_key_is_sent_once_with_the_value_the_gateway_read() {
        let original = br#"{"model":"cheap","max_tokens":1,"messages":[1],"max_tokens":999999,"model":"dear","messages":[2]}"#;
        let cap = json!(100);
        let out = splice(original, &[("max_tokens", Some(&cap))]).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"max_tokens":100,"model":"dear","messages":[2]}"#
        );
    }

    #[test]
    fn escaped_names_are_matched_by_their_text() {
        let original = br#"{"mod\u0065l":"a","x\ny":true}"#;
        let m = json!("b");
        let out = splice(original, &[("model", Some(&m))]).unwrap();
        assert_eq!(parsed(&out), parsed(br#"{"model":"b","x\ny":true}"#));
    }

    #[test]
    fn a_string_ends_at_a_quote_after_an_even_run_of_backslashes() {
        let original = br#"{"a":"x\\","b":"\\\"}{[","c":["\"]",{"d":"\\\\"}]}"#;
        let out = splice(original, &[]).unwrap();
        assert_eq!(out, original);
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        assert!(splice(b"[1]", &[]).is_err());
        assert!(splice(b"{\"a\":", &[]).is_err());
        assert_eq!(splice(b"{}", &[]).unwrap(), b"{}");
    }

    mod prop {
        use proptest::{collection::vec, option, prelude::*};

        use super::*;

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                "[a-z\"\\\n\u{e9}{}\\[\\],: ]{0,6}".prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..4).prop_map(Value::Array),
                    vec(("[a-c]", inner), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn name() -> impl Strategy<Value = String> {
            prop_oneof!["[a-c]", Just("model".to_owned()), Just("max_tokens".to_owned())]
        }

        proptest! {
            /// Bytes that are not a JSON object are refused, or give some
            /// body; they never panic.
            #[test]
            fn never_panics(bytes in vec(any::<u8>(), 0..64), tail in "[{}\\[\\]\",:\\\\ a1]{0,24}") {
                let _ = splice(&bytes, &[]);
                let _ = splice(format!("{{{tail}").as_bytes(), &[]);
            }

            /// Whatever the members, repeats and replacements: the spliced
            /// body reads as the parsed body with the replacements applied,
            /// and names each member once.
            #[test]
            fn reads_as_the_edited_parse(
                given in vec((name(), value()), 0..8),
                replace in vec((name(), option::of(value())), 0..3),
            ) {
                let body: Vec<String> = given
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", Value::from(k.as_str())))
                    .collect();
                let original = format!("{{ {} }}", body.join(" ,\n"));
                let mut replace = replace;
                replace.sort_by(|a, b| a.0.cmp(&b.0));
                replace.dedup_by(|a, b| a.0 == b.0);
                let mut expected = parsed(original.as_bytes());
                for (name, value) in &replace {
                    match value {
                        // As it reads once written (a float may not round-trip).
                        Some(v) => expected.insert(name.clone(), serde_json::from_str(&v.to_string()).unwrap()),
                        None => expected.remove(name),
                    };
                }
                let pairs: Vec<(&str, Option<&Value>)> =
                    replace.iter().map(|(n, v)| (n.as_str(), v.as_ref())).collect();
                let out = splice(original.as_bytes(), &pairs).unwrap();
                prop_assert_eq!(&parsed(&out), &expected);
                prop_assert_eq!(members(&out).unwrap().len(), expected.len());
            }
        }
    }
}
