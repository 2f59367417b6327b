//! The on-disk format of spool records.
//!
//! A segment starts with [`FILE_MAGIC`]; each record is
//! `RECORD_MAGIC | payload length (u32 LE) | CRC-32 (u32 LE) | payload`, the
//! CRC covering the length and the payload. The length is capped at
//! [`MAX_RECORD`], so a corrupt length is never trusted with an allocation,
//! and the magic lets a reader find the next good record after a corrupt one.
//!
//! Segments written before this format (no file magic; a u32 big-endian
//! length, then the payload) are still read, as [`Layout::Legacy`]: with
//! the length cap, but without a CRC or a way to resynchronise.

/// The first bytes of every segment in this format.
pub(crate) const FILE_MAGIC: &[u8; 8] = b"KWSPOOL2";
/// The first bytes of every record.
pub const RECORD_MAGIC: &[u8; 4] = b"KWr2";
pub const HEADER_LEN: usize = 12;
/// The largest payload a record may carry. A usage event is a few hundred
/// bytes; anything near this is corruption.
pub const MAX_RECORD: usize = 1 << 20;

/// How the records of one segment are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Framed,
    /// Written by a Keyway before the framed format.
    Legacy,
}

/// Why a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The file ends inside the record (a write cut short).
    Torn,
    /// The magic, length or CRC is wrong.
    Corrupt,
}

impl Fault {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Torn => "torn",
            Self::Corrupt => "corrupt",
        }
    }
}

/// Appends one framed record to `out`. Payloads over [`MAX_RECORD`] are
/// refused (`false`): they could never be read back.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) -> bool {
    if payload.len() > MAX_RECORD {
        return false;
    }
    let len = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(RECORD_MAGIC);
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(&len, payload).to_le_bytes());
    out.extend_from_slice(payload);
    true
}

fn checksum(len: &[u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(payload);
    hasher.finalize()
}

/// What a record header says: the payload length, and its CRC if framed.
pub(crate) struct Header {
    pub(crate) len: usize,
    crc: Option<u32>,
}

/// Parses the header at the start of `bytes` (of [`header_len`] bytes).
pub(crate) fn header(layout: Layout, bytes: &[u8]) -> Result<Header, Fault> {
    let word = |at: usize| -> [u8; 4] {
        let mut w = [0; 4];
        w.copy_from_slice(&bytes[at..at + 4]);
        w
    };
    let header = match layout {
        Layout::Framed => {
            if &bytes[..4] != RECORD_MAGIC {
                return Err(Fault::Corrupt);
            }
            Header {
                len: u32::from_le_bytes(word(4)) as usize,
                crc: Some(u32::from_le_bytes(word(8))),
            }
        }
        Layout::Legacy => Header {
            len: u32::from_be_bytes(word(0)) as usize,
            crc: None,
        },
    };
    if header.len > MAX_RECORD {
        return Err(Fault::Corrupt);
    }
    Ok(header)
}

pub(crate) fn header_len(layout: Layout) -> usize {
    match layout {
        Layout::Framed => HEADER_LEN,
        Layout::Legacy => 4,
    }
}

/// Checks a payload against its header's CRC (legacy records have none).
pub(crate) fn verify(header: &Header, payload: &[u8]) -> Result<(), Fault> {
    match header.crc {
        Some(crc) if crc != checksum(&(payload.len() as u32).to_le_bytes(), payload) => Err(Fault::Corrupt),
        _ => Ok(()),
    }
}

/// The payload of the record at the start of `bytes` (whatever follows it
/// is not looked at), checked as the segment reader checks a record read
/// from disk. For the tests and the fuzz targets: replay reads segments a
/// record at a time, never whole in memory.
pub fn decode(layout: Layout, bytes: &[u8]) -> Result<&[u8], Fault> {
    let header_len = header_len(layout);
    if bytes.len() < header_len {
        return Err(Fault::Torn);
    }
    let h = header(layout, bytes)?;
    let payload = bytes.get(header_len..header_len + h.len).ok_or(Fault::Torn)?;
    verify(&h, payload)?;
    Ok(payload)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Decodes `bytes` as one whole framed record.
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, Fault> {
        super::decode(Layout::Framed, bytes).map(<[u8]>::to_vec)
    }

    proptest::proptest! {
        #[test]
        fn a_record_reads_back_as_written(payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let mut out = Vec::new();
            proptest::prop_assert!(encode(&payload, &mut out));
            proptest::prop_assert_eq!(decode(&out), Ok(payload));
        }

        #[test]
        fn any_flipped_bit_is_detected(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut out = Vec::new();
            encode(&payload, &mut out);
            let at = at.index(out.len());
            out[at] ^= 1 << bit;
            // A flip in the length may make the record look torn instead.
            proptest::prop_assert!(decode(&out).is_err());
        }

        #[test]
        fn a_cut_record_is_never_read(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..512),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let mut out = Vec::new();
            encode(&payload, &mut out);
            let keep = cut.index(out.len());
            proptest::prop_assert_eq!(decode(&out[..keep]), Err(Fault::Torn));
        }
    }

    #[test]
    fn a_legacy_record_is_read_by_its_big_endian_length_without_a_crc() {
        let bytes = [0, 0, 0, 2, b'h', b'i', b'!'];
        assert_eq!(super::decode(Layout::Legacy, &bytes), Ok(&b"hi"[..]));
        assert_eq!(super::decode(Layout::Legacy, &bytes[..5]), Err(Fault::Torn));
        assert_eq!(super::decode(Layout::Legacy, &bytes[..3]), Err(Fault::Torn));
    }

    #[test]
    fn oversized_lengths_are_refused_before_any_allocation() {
        let mut out = Vec::new();
        assert!(!encode(&vec![0; MAX_RECORD + 1], &mut out));
        let mut forged = RECORD_MAGIC.to_vec();
        forged.extend_from_slice(&u32::MAX.to_le_bytes());
        forged.extend_from_slice(&[0; 4]);
        assert_eq!(header(Layout::Framed, &forged).err(), Some(Fault::Corrupt));
        assert_eq!(
            header(Layout::Legacy, &u32::MAX.to_be_bytes()).err(),
            Some(Fault::Corrupt)
        );
        assert_eq!(header(Layout::Legacy, &3u32.to_be_bytes()).unwrap().len, 3);
    }
}
