//! Canonical, unambiguous byte encoding for authenticated data.
//!
//! Every variable-length field is written as a big-endian `u32` length
//! followed by its bytes, so field boundaries can never shift: `("ab", "c")`
//! and `("a", "bc")` encode differently, unlike plain concatenation.

/// Appends length-prefixed fields to a buffer.
pub(crate) struct Canonical {
    buf: Vec<u8>,
}

impl Canonical {
    /// Starts an encoding with a domain tag, so encodings made for one
    /// purpose can never be replayed as another.
    pub(crate) fn new(domain: &str) -> Self {
        let mut this = Self {
            buf: Vec::with_capacity(64),
        };
        this.bytes(domain.as_bytes());
        this
    }

    pub(crate) fn bytes(&mut self, field: &[u8]) -> &mut Self {
        // Inputs are identifiers and short context values; a field over 4 GiB
        // cannot occur, but saturating keeps the encoding total without a panic.
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(field);
        self
    }

    pub(crate) fn str(&mut self, field: &str) -> &mut Self {
        self.bytes(field.as_bytes())
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::Canonical;

    #[test]
    fn shifted_field_boundaries_encode_differently() {
        let mut a = Canonical::new("t");
        a.str("ab").str("c");
        let mut b = Canonical::new("t");
        b.str("a").str("bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn fields_are_length_prefixed_big_endian() {
        let mut c = Canonical::new("d");
        c.str("xy").u32(7);
        assert_eq!(
            c.finish(),
            vec![0, 0, 0, 1, b'd', 0, 0, 0, 2, b'x', b'y', 0, 0, 0, 7]
        );
    }
}
