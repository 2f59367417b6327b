use proptest::prelude::*;
use serde::de::IgnoredAny;

use super::{is_json, special_bytes, value_end};

/// The reference: serde_json's own validating scan.
fn serde_says(bytes: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
}

#[test]
fn values_of_every_kind_are_json() {
    for text in [
        "0",
        "-0",
        "-12.5e+3",
        "1E400",
        "0.0e-0",
        "true",
        "null",
        " \n\t\r\"\" ",
        r#""\u00e9\uD800\"\\\/\b\f\n\r\t""#,
        "\"é — ✓\"",
        "[]",
        "{}",
        "[ 1 , [ ] , { } , \"x\" ]",
        r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}"#,
        r#"{ "a" : { "b" : [ { } ] } , "c" : false }"#,
    ] {
        assert!(is_json(text.as_bytes()), "{text}");
        assert!(serde_says(text.as_bytes()), "{text}");
    }
}

#[test]
fn garbage_is_not_json() {
    for text in [
        "",
        " ",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "tru",
        "nul",
        "truex",
        "[1,]",
        "{\"a\":1,}",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "{\"a\":}",
        "[",
        "]",
        "{",
        "[}",
        "{]",
        "\"abc",
        "\"\\x\"",
        "\"\\u12G4\"",
        "\"\\u12\"",
        "\"a\nb\"",
        "\"\t\"",
        "1 2",
        "{} {}",
        "NaN",
        "Infinity",
        "'a'",
        "data: x",
        "{\"a\":1}}",
        "[[]",
        "\u{feff}1",
    ] {
        assert!(!is_json(text.as_bytes()), "{text:?}");
        assert!(!serde_says(text.as_bytes()), "{text:?}");
    }
}

#[test]
fn nesting_has_no_limit_and_must_balance() {
    for depth in [1, 63, 64, 65, 128, 129, 1000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(is_json(arrays.as_bytes()), "{depth}");
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(is_json(objects.as_bytes()), "{depth}");
        // The kinds alternate across the spill at 64 levels and back.
        let mixed = format!("{}0{}", "[{\"k\":".repeat(depth), "}]".repeat(depth));
        assert!(is_json(mixed.as_bytes()), "{depth}");
        assert!(!is_json(&arrays.as_bytes()[1..]), "{depth}");
        assert!(!is_json(&arrays.as_bytes()[..arrays.len() - 1]), "{depth}");
        let swapped = format!("{}]}}", &mixed[..mixed.len() - 2]);
        assert!(!is_json(swapped.as_bytes()), "{depth}");
    }
}

#[test]
fn a_value_ends_where_its_last_byte_is_and_tells_its_depth() {
    for (text, end, depth) in [
        (" 12 ,", 3, 0),
        ("\"a\\\"b\"]", 6, 0),
        ("true}", 4, 0),
        ("[] x", 2, 1),
        ("{} x", 2, 1),
        ("[[],[[]]],", 9, 3),
        ("{\"a\":[{}]}}", 10, 3),
        ("[{\"k\":[1]},[]] ]", 14, 3),
    ] {
        assert_eq!(value_end(text.as_bytes(), 0), Some((end, depth)), "{text}");
    }
    for depth in [1, 63, 64, 65, 127, 128, 400] {
        let mixed = format!("{}0{},", "[{\"k\":".repeat(depth), "}]".repeat(depth));
        assert_eq!(value_end(mixed.as_bytes(), 0), Some((mixed.len() - 1, 2 * depth)));
    }
    for text in ["", " ", "]", "[1,]", "{\"a\" 1}", "\"\\x\"", "01", "[1 2]"] {
        assert_eq!(value_end(text.as_bytes(), 0), None, "{text:?}");
    }
}

#[test]
fn the_lowest_special_byte_of_a_word_is_found_exactly() {
    let special = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    for b in 0..=u8::MAX {
        for at in 0..8 {
            // Beside plain bytes, and beside bytes just above each bound.
            for background in [[b'a'; 8], [b'!', b'#', b']', 0x20, 0xff, 0x80, b'~', 0x7f]] {
                let mut word = background;
                word[at] = b;
                let mask = special_bytes(u64::from_le_bytes(word));
                if special(b) {
                    assert_eq!(mask.trailing_zeros() / 8, at as u32, "{b:#04x} at {at}");
                } else {
                    assert_eq!(mask, 0, "{b:#04x} at {at}");
                }
            }
            // With a second special byte above it, still the lowest.
            let mut word = [b'a'; 8];
            word[at] = b;
            word[7] = b'"';
            let lowest = if special(b) { at } else { 7 };
            let mask = special_bytes(u64::from_le_bytes(word));
            assert_eq!(mask.trailing_zeros() / 8, lowest as u32, "{b:#04x} at {at}");
        }
    }
}

/// Any JSON value, as serde_json writes it, compact or pretty.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "(\\PC|[\\x00-\\x1f\"\\\\]){0,24}".prop_map(serde_json::Value::String),
    ];
    let value = leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(("\\PC{0,8}", inner), 0..6)
                .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
        ]
    });
    (value, any::<bool>()).prop_map(|(v, pretty)| {
        if pretty {
            serde_json::to_string_pretty(&v).unwrap_or_default()
        } else {
            serde_json::to_string(&v).unwrap_or_default()
        }
    })
}

/// The bytes that steer a JSON scan, to break texts with.
const SIGNIFICANT: &[u8] = b"{}[]\",:\\/ \n\t0123456789-+.eEtrufalsn\x01\x7fu";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn same_answer_as_serde_json(
        text in json_text(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(SIGNIFICANT)), 0..3),
    ) {
        let mut bytes = text.into_bytes();
        prop_assert!(is_json(&bytes));
        for (at, kind, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at.index(bytes.len());
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        prop_assert_eq!(is_json(&bytes), serde_says(&bytes), "{:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn any_value_is_skipped_to_its_end_with_its_depth(text in json_text()) {
        fn depth(v: &serde_json::Value) -> usize {
            match v {
                serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
                serde_json::Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
                _ => 0,
            }
        }
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let followed = format!(" {text} ,[");
        prop_assert_eq!(value_end(followed.as_bytes(), 0), Some((text.len() + 1, depth(&value))));
    }

    #[test]
    fn same_answer_on_short_strings_of_significant_bytes(
        bytes in prop::collection::vec(prop::sample::select(SIGNIFICANT), 0..16),
    ) {
        prop_assert_eq!(is_json(&bytes), serde_says(&bytes), "{:?}", String::from_utf8_lossy(&bytes));
    }
}
