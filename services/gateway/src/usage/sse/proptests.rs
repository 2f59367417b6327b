//! Properties of the usage tap's SSE framing: however the upstream splits
//! its bytes, the incremental buffer finds the same events as a scan of the
//! whole stream, loses and invents no byte, reads back each event's data,
//! and calls a stream over the cap only when an unframed event is.

use proptest::prelude::*;

use super::*;

/// Splits `bytes` at the given cut points (any order, any duplicates).
fn chunks(bytes: &[u8], cuts: &[proptest::sample::Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.extend([0, bytes.len()]);
    at.sort_unstable();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

/// The events an incremental buffer yields for `parts`, and what is left.
fn incremental(parts: &[Vec<u8>], max: usize) -> (Vec<Vec<u8>>, Vec<u8>, bool) {
    let mut buffer = EventBuffer::new(max);
    let mut events = Vec::new();
    let mut over = false;
    for part in parts {
        buffer.push(bytes::Bytes::copy_from_slice(part));
        while let Some(event) = buffer.next_event() {
            events.push(event.to_vec());
        }
        over |= buffer.over_limit();
    }
    (events, buffer.take_rest().to_vec(), over)
}

/// Bytes rich in the characters SSE framing turns on.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => Just(b'\n'),
        2 => Just(b'\r'),
        1 => Just(b':'),
        6 => any::<u8>(),
    ];
    proptest::collection::vec(byte, 0..600)
}

/// Well-formed events: `data:` lines of text, each event ended by one of
/// the blank-line forms upstreams use.
fn framed_events() -> impl Strategy<Value = Vec<(Vec<String>, &'static str)>> {
    let lines = proptest::collection::vec("[a-zA-Z0-9 {}\":,._-]{0,40}", 1..4);
    let end = prop_oneof![Just("\n\n"), Just("\r\n\r\n"), Just("\n\r\n")];
    proptest::collection::vec((lines, end), 0..12)
}

fn render(events: &[(Vec<String>, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (lines, end) in events {
        let newline = if end.starts_with('\r') { "\r\n" } else { "\n" };
        let body: Vec<String> = lines.iter().map(|l| format!("data: {l}")).collect();
        out.push_str(&body.join(newline));
        out.push_str(end);
    }
    out.into_bytes()
}

proptest! {
    #[test]
    fn chunking_never_changes_the_events_and_no_byte_is_lost(
        bytes in sse_bytes(),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..20),
    ) {
        let (events, rest, _) = incremental(&chunks(&bytes, &cuts), usize::MAX);
        let mut whole = BytesMut::from(&bytes[..]);
        let scanned: Vec<Vec<u8>> = split_events(&mut whole).map(|e| e.to_vec()).collect();
        prop_assert_eq!(&events, &scanned);
        prop_assert_eq!(&rest, &whole.to_vec());
        let mut joined: Vec<u8> = events.concat();
        joined.extend_from_slice(&rest);
        prop_assert_eq!(joined, bytes);
    }

    #[test]
    fn framed_events_read_back_their_data_however_split(
        sent in framed_events(),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..20),
    ) {
        let bytes = render(&sent);
        let longest = sent.iter().map(|e| render(std::slice::from_ref(e)).len()).max().unwrap_or(0);
        // A cap of the longest event plus a chunk's worth is never crossed.
        let (events, rest, over) = incremental(&chunks(&bytes, &cuts), longest + bytes.len());
        prop_assert!(!over);
        prop_assert!(rest.is_empty());
        prop_assert_eq!(events.len(), sent.len());
        for (event, (lines, _)) in events.iter().zip(&sent) {
            prop_assert_eq!(data(event).map(String::from), Some(lines.join("\n")));
        }
    }

    #[test]
    fn an_unframed_stream_is_over_the_cap_once_it_passes_it(
        text in proptest::collection::vec(any::<u8>().prop_filter("no line feed", |b| *b != b'\n'), 1..400),
        max in 0usize..300,
    ) {
        let (events, _, over) = incremental(std::slice::from_ref(&text), max);
        prop_assert!(events.is_empty());
        prop_assert_eq!(over, text.len() > max);
    }

    #[test]
    fn json_data_is_well_formed_and_garbage_is_not(
        sent in framed_events(),
        garbage in "[a-z\\[{\":, ]{1,20}",
    ) {
        for (lines, end) in &sent {
            let json_event = format!("data: {}{end}", serde_json::json!({"text": lines.join(" ")}));
            prop_assert!(well_formed(json_event.as_bytes()));
        }
        let event = format!("data: {garbage}\n\n");
        let is_json = garbage.trim() == "[DONE]" || serde_json::from_str::<serde_json::Value>(&garbage).is_ok();
        prop_assert_eq!(well_formed(event.as_bytes()), is_json);
        prop_assert!(well_formed(b": keep-alive\n\n"));
        let not_utf8: &[u8] = b"data: \xff{}\n\n";
        prop_assert!(!well_formed(not_utf8));
    }

    #[test]
    fn the_one_line_reading_agrees_with_the_general_one(
        bytes in sse_bytes(),
        framed in framed_events(),
    ) {
        let events = framed.iter().map(|e| render(std::slice::from_ref(e)));
        for candidate in events.chain([bytes]) {
            let Ok(text) = std::str::from_utf8(&candidate) else { continue };
            let general = data_lines(text);
            match one_data_line(text) {
                Some(one) => prop_assert_eq!(Some(Cow::Borrowed(one)), general),
                // Taken for every one-line event: the fast path is the one tested.
                None => prop_assert!(text.matches("data:").count() != 1 || !text.starts_with("data:")
                    || text.trim_end_matches(['\r', '\n']).contains(['\r', '\n'])),
            }
        }
    }

    #[test]
    fn data_of_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = data(&bytes);
    }
}
