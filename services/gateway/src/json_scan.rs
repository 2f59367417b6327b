//! A structural scan of JSON that serde_json has already validated (or that
//! the gateway wrote itself): strings, whose brackets and commas do not
//! count, and nesting. It finds where values start and end without
//! parsing them; `crate::splice` and the request's reading use it.
//! Malformed input gives an error, never a panic.

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

    /// Skips the value starting here; returns how deep it nests (0 for a
    /// string, number, `true`, `false` or `null`).
    pub(crate) fn value(&mut self) -> serde_json::Result<usize> {
        let (mut depth, mut deepest) = (0usize, 0usize);
        loop {
            match self.peek().ok_or_else(malformed)? {
                b'"' => {
                    self.string()?;
                    if depth == 0 {
                        return Ok(0);
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                    self.i += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.i += 1;
                    if depth == 0 {
                        return Ok(deepest);
                    }
                }
                // The end of a number, `true`, `false` or `null`.
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return Ok(0),
                _ => self.i += 1,
            }
        }
    }
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
