//! The usage tap's SSE framing (`EventBuffer`): any bytes, split into
//! chunks at any points, give the same events as a scan of the whole
//! stream and as a naive reference scan; no byte is lost or invented; the
//! buffer is over its cap exactly when its unfinished event is; and reading
//! an event's data never panics.
//!
//! Input: one byte `n`, then `1 + n % 16` little-endian u16 words (the cap,
//! then the cut points, taken modulo the stream's length + 1), then the
//! stream.

#![no_main]

use bytes::BytesMut;
use keyway_gateway::fuzzing::sse::{EventBuffer, data, split_events, well_formed};
use libfuzzer_sys::fuzz_target;

/// The events of `bytes` by the definition: each ends with the first blank
/// line after it starts, a line feed followed by `\n` or `\r\n`.
fn reference(bytes: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let (mut events, mut start, mut i) = (Vec::new(), 0, 0);
    while i < bytes.len() {
        let end = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'\n', Some(b'\n'), _) => Some(i + 2),
            (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        };
        match end {
            Some(end) => {
                events.push(&bytes[start..end]);
                (start, i) = (end, end);
            }
            None => i += 1,
        }
    }
    (events, &bytes[start..])
}

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let Some((head, bytes)) = rest.split_at_checked(2 * (1 + usize::from(n % 16))) else {
        return;
    };
    let words: Vec<usize> = head
        .chunks_exact(2)
        .map(|w| usize::from(u16::from_le_bytes([w[0], w[1]])))
        .collect();
    let max = words[0];
    let mut cuts: Vec<usize> = words[1..].iter().map(|w| w % (bytes.len() + 1)).collect();
    cuts.extend([0, bytes.len()]);
    cuts.sort_unstable();

    let mut buffer = EventBuffer::new(max);
    let mut events = Vec::new();
    let mut pending = 0;
    for cut in cuts.windows(2) {
        let part = &bytes[cut[0]..cut[1]];
        buffer.push(bytes::Bytes::copy_from_slice(part));
        pending += part.len();
        while let Some(event) = buffer.next_event() {
            pending -= event.len();
            events.push(event.to_vec());
        }
        assert_eq!(buffer.over_limit(), pending > max, "pending {pending}, cap {max}");
    }
    let rest = buffer.take_rest().to_vec();
    assert!(!buffer.over_limit());

    let (expected, expected_rest) = reference(bytes);
    assert_eq!(events, expected);
    assert_eq!(rest, expected_rest);
    let mut whole = BytesMut::from(bytes);
    let scanned: Vec<Vec<u8>> = split_events(&mut whole).map(|e| e.to_vec()).collect();
    assert_eq!(scanned, expected);
    assert_eq!(&whole[..], expected_rest);

    for event in events.iter().chain([&rest]) {
        let _ = data(event);
        let _ = well_formed(event);
    }
});
