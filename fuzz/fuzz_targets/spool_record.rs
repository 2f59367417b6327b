//! The usage spool's record format: decoding any bytes, in either layout,
//! never panics and gives exactly what an independent reading of the
//! format says (so no record whose magic, length cap or CRC-32 is wrong is
//! ever returned); and the bytes as payloads encode and decode back, one
//! record or several in a row, a cut record reading as torn and a flipped
//! bit outside the length as corrupt.

#![no_main]

use keyway_gateway::fuzzing::spool_record::{
    Fault, HEADER_LEN, Layout, MAX_RECORD, RECORD_MAGIC, decode, encode,
};
use libfuzzer_sys::fuzz_target;

fn word(bytes: &[u8], at: usize) -> [u8; 4] {
    [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
}

/// `MAGIC | len (u32 LE) | CRC-32 of len and payload (u32 LE) | payload`.
fn framed(bytes: &[u8]) -> Result<&[u8], Fault> {
    if bytes.len() < 12 {
        return Err(Fault::Torn);
    }
    if bytes[..4] != RECORD_MAGIC[..] {
        return Err(Fault::Corrupt);
    }
    let len = u32::from_le_bytes(word(bytes, 4)) as usize;
    if len > MAX_RECORD {
        return Err(Fault::Corrupt);
    }
    let payload = bytes.get(12..12 + len).ok_or(Fault::Torn)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[4..8]);
    hasher.update(payload);
    if hasher.finalize() != u32::from_le_bytes(word(bytes, 8)) {
        return Err(Fault::Corrupt);
    }
    Ok(payload)
}

/// `len (u32 BE) | payload`, with no CRC.
fn legacy(bytes: &[u8]) -> Result<&[u8], Fault> {
    if bytes.len() < 4 {
        return Err(Fault::Torn);
    }
    let len = u32::from_be_bytes(word(bytes, 0)) as usize;
    if len > MAX_RECORD {
        return Err(Fault::Corrupt);
    }
    bytes.get(4..4 + len).ok_or(Fault::Torn)
}

fuzz_target!(|input: &[u8]| {
    assert_eq!(decode(Layout::Framed, input), framed(input));
    assert_eq!(decode(Layout::Legacy, input), legacy(input));

    let mut one = Vec::new();
    assert_eq!(encode(input, &mut one), input.len() <= MAX_RECORD);
    if input.len() > MAX_RECORD {
        return;
    }
    assert_eq!(one.len(), HEADER_LEN + input.len());
    assert_eq!(decode(Layout::Framed, &one), Ok(input));
    let at = input.first().map_or(0, |&b| usize::from(b)) * 7919 % one.len();
    assert_eq!(decode(Layout::Framed, &one[..at]), Err(Fault::Torn));
    // A flipped length may make a shorter record whose CRC matches by
    // chance (1 in 2^32); a flip anywhere else never goes unnoticed.
    if !(4..8).contains(&at) {
        let mut flipped = one.clone();
        flipped[at] ^= 1 << (at % 8);
        assert!(decode(Layout::Framed, &flipped).is_err(), "flip of byte {at}");
    }

    let payloads: Vec<&[u8]> = input.split(|&b| b == b'|').collect();
    let mut many = Vec::new();
    for payload in &payloads {
        assert!(encode(payload, &mut many));
    }
    let mut at = 0;
    for payload in &payloads {
        let read = decode(Layout::Framed, &many[at..]);
        assert_eq!(read, Ok(*payload));
        at += HEADER_LEN + payload.len();
    }
    assert_eq!(at, many.len());
});
