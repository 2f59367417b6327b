//! A scan of JSON that finds where values start and end without parsing
//! them; `crate::splice` and the request's reading use it. The request's
//! reading checks the body with it, in the one pass that also counts the
//! prompt's text: [`Scan::text`] and [`Scan::value`] accept exactly what
//! serde_json accepts (`keyway_common::json_scan`), and [`Scan::string`],
//! for JSON already checked, only finds the closing quote. Malformed input
//! gives an error, never a panic.

use std::borrow::Cow;

pub(crate) struct Scan<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
}

impl Scan<'_> {
    pub(crate) fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += 1;
        c
    }

    pub(crate) fn expect(&mut self, c: u8) -> serde_json::Result<()> {
        self.whitespace();
        match self.next() == Some(c) {
            true => Ok(()),
            false => Err(malformed()),
        }
    }

    /// The string starting here, quotes included.
    pub(crate) fn string(&mut self) -> serde_json::Result<std::ops::Range<usize>> {
        self.whitespace();
        let start = self.i;
        if self.next() != Some(b'"') {
            return Err(malformed());
        }
        // Quotes only: text has far more `\n` and `\t` escapes than `\"`,
        // so stopping at every backslash costs a search for each of them.
        // A quote ends the string when an even number of backslashes
        // precede it (each pair is one escaped backslash).
        loop {
            let rest = self.b.get(self.i..).unwrap_or_default();
            let at = self.i + memchr::memchr(b'"', rest).ok_or_else(malformed)?;
            let backslashes = self.b[start + 1..at]
                .iter()
                .rev()
                .take_while(|&&c| c == b'\\')
                .count();
            self.i = at + 1;
            if backslashes % 2 == 0 {
                return Ok(start..self.i);
            }
        }
    }

    /// The string starting here, quotes included, and the length in UTF-8
    /// of its text: `\n` is one byte, `\u00e9` two, a surrogate pair four,
    /// and a lone surrogate the three of U+FFFD. A control byte or an
    /// escape serde_json refuses is an error; UTF-8 is the caller's to
    /// check.
    ///
    /// One pass, eight bytes at a time up to the next quote, backslash or
    /// control byte: on text with an escape every few words (line breaks,
    /// quotes, code) that cost a third of finding the end with `memchr` and
    /// then searching the text again for its escapes.
    pub(crate) fn text(&mut self) -> serde_json::Result<(std::ops::Range<usize>, usize)> {
        self.whitespace();
        let start = self.i;
        if self.next() != Some(b'"') {
            return Err(malformed());
        }
        // Bytes of escapes beyond the text they stand for.
        let mut extra = 0;
        loop {
            self.i += plain(self.b.get(self.i..).unwrap_or_default());
            match self.next().ok_or_else(malformed)? {
                b'"' => return Ok((start..self.i, self.i - start - 2 - extra)),
                b'\\' => {
                    let (sent, text) = escape(self.b, self.i - 1).ok_or_else(malformed)?;
                    extra += sent - text;
                    self.i += sent - 1;
                }
                _ => return Err(malformed()),
            }
        }
    }

    /// Skips the value starting here, checking it is JSON; returns how deep
    /// it nests (0 for a string, number, `true`, `false` or `null`).
    pub(crate) fn value(&mut self) -> serde_json::Result<usize> {
        let (end, depth) = keyway_common::json_scan::value_end(self.b, self.i).ok_or_else(malformed)?;
        self.i = end;
        Ok(depth)
    }
}

/// How many bytes at the start of `b` are plain string text: neither a
/// quote, a backslash nor a control byte.
fn plain(b: &[u8]) -> usize {
    let mut i = 0;
    while let Some(Ok(chunk)) = b.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let found = keyway_common::json_scan::special_bytes(u64::from_le_bytes(chunk));
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let rest = b.get(i..).unwrap_or_default();
    i + rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(rest.len())
}

/// The escape at `at` (a backslash): the bytes it takes, and the bytes of
/// the text it stands for; `None` for one serde_json refuses.
fn escape(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let hex = |at: usize| {
        let digits = b.get(at..at + 4)?;
        digits
            .iter()
            .try_fold(0, |n, &c| Some(n * 16 + char::from(c).to_digit(16)?))
    };
    match b.get(at + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => return Some((2, 1)),
        b'u' => {}
        _ => return None,
    }
    let low = (b.get(at + 6..at + 8) == Some(b"\\u"))
        .then(|| hex(at + 8))
        .flatten();
    Some(match (hex(at + 2)?, low) {
        (0xD800..=0xDBFF, Some(0xDC00..=0xDFFF)) => (12, 4),
        (0..=0x7F, _) => (6, 1),
        (0x80..=0x7FF, _) => (6, 2),
        _ => (6, 3),
    })
}

/// A member's name: borrowed unless it has an escape to undo.
pub(crate) fn name(quoted: &[u8]) -> serde_json::Result<Cow<'_, str>> {
    match memchr::memchr(b'\\', quoted) {
        None => std::str::from_utf8(&quoted[1..quoted.len() - 1])
            .map(Cow::Borrowed)
            .map_err(|_| malformed()),
        Some(_) => serde_json::from_slice::<String>(quoted).map(Cow::Owned),
    }
}

pub(crate) fn malformed() -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom("not a JSON object")
}
