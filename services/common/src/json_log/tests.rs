#![expect(clippy::unwrap_used)]

use proptest::prelude::*;

use super::{write_json_str, write_timestamp};
use tracing_subscriber::fmt::{
    format::Writer,
    time::{FormatTime, SystemTime},
};

fn quoted(s: &str) -> String {
    let mut out = String::new();
    write_json_str(&mut out, s).unwrap();
    out
}

#[test]
fn strings_are_escaped_as_serde_json_escapes_them() {
    for s in [
        "",
        "plain",
        "a \"quote\" and a \\ backslash",
        "line\nbreak\r\ttab\u{8}\u{c}",
        "\u{0}\u{1f}\u{7f} controls",
        "ünïcödé ✓ 𝄞",
        "\"\"\\\\",
    ] {
        assert_eq!(quoted(s), serde_json::to_string(s).unwrap(), "{s:?}");
    }
}

#[test]
fn timestamps_are_written_as_tracing_subscriber_writes_them() {
    let (mut ours, mut theirs) = (String::new(), String::new());
    // Twice: the second line reuses the cached second.
    for _ in 0..2 {
        ours.clear();
        theirs.clear();
        write_timestamp(&mut Writer::new(&mut ours)).unwrap();
        SystemTime.format_time(&mut Writer::new(&mut theirs)).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
        // The same second, unless it ticked between the two reads.
        let (a, b) = (&ours[..19], &theirs[..19]);
        assert!(a <= b, "{ours} {theirs}");
        assert!(ours.ends_with('Z') && ours.as_bytes()[19] == b'.', "{ours}");
    }
}

proptest! {
    #[test]
    fn any_text_is_escaped_as_serde_json_escapes_it(s in "(\\PC|[\\x00-\\x1f\"\\\\]){0,64}") {
        prop_assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap());
    }
}
