//! Whether bytes are one JSON value, checked in one pass that builds
//! nothing: the gateway checks every event of every stream it forwards, so a
//! provider's garbage ends the stream with a clean error instead of reaching
//! the client as it is.
//!
//! Why not `serde_json::from_slice::<IgnoredAny>`, which gives the same
//! answer (`tests::same_answer_as_serde_json`): for a stream's small events
//! it cost about 2,700 instructions an event, and 13% of a streamed
//! request's (`bench/instructions.sh`, 16 events a request). Most of it was
//! the start of each of an event's dozen short strings, where serde_json's
//! eight-byte search sets up for every string, and a scratch buffer grown
//! for every event. Here a string is skipped eight bytes at a time with the
//! lowest byte that ends the run found at once, the open containers are
//! bits, and nothing is allocated below 64 levels of nesting.
//!
//! The grammar is RFC 8259's, as serde_json reads it: no trailing commas,
//! no leading zeros, a `\u` escape takes any four hex digits (a lone
//! surrogate included), and nesting has no limit. Bytes are taken as they
//! are: the caller checks UTF-8 where it needs to.

/// Whether `bytes` hold exactly one JSON value, with whitespace around it
/// allowed.
pub fn is_json(bytes: &[u8]) -> bool {
    let mut scan = Scan { bytes, at: 0 };
    scan.value().is_some() && {
        scan.token();
        scan.at == bytes.len()
    }
}

/// The end of the one JSON value that starts at `at` (after any
/// whitespace), and how deeply it nests (0 for a string, number or
/// literal, 1 for `[]`); `None` if no valid value starts there. What
/// follows the value is not looked at.
pub fn value_end(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut scan = Scan { bytes, at };
    let deepest = scan.value()?;
    Some((scan.at, deepest))
}

/// A cursor over the bytes. Everything is inlined into one loop: written as
/// small functions returning positions, the scan cost 2,100 instructions
/// for a 190-byte chunk, this 1,600 (serde_json 2,700; callgrind).
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    /// The byte at the cursor, 0 past the end: a 0 is never valid where a
    /// token is read, and inside a string it is refused as a control byte.
    #[inline(always)]
    fn peek(&self) -> u8 {
        self.bytes.get(self.at).copied().unwrap_or(0)
    }

    /// The next byte that is not whitespace, the cursor on it.
    #[inline(always)]
    fn token(&mut self) -> u8 {
        loop {
            let b = self.peek();
            // Most tokens follow no whitespace: one comparison for them.
            if b > b' ' || !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return b;
            }
            self.at += 1;
        }
    }

    /// Skips one value; how deeply it nests.
    fn value(&mut self) -> Option<usize> {
        let (mut open, mut deepest) = (Open::default(), 0);
        loop {
            // A value starts at the next token.
            match self.token() {
                b'{' => {
                    self.at += 1;
                    deepest = deepest.max(open.depth + 1);
                    if self.token() == b'}' {
                        self.at += 1;
                    } else {
                        open.push(true);
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.at += 1;
                    deepest = deepest.max(open.depth + 1);
                    if self.token() == b']' {
                        self.at += 1;
                    } else {
                        open.push(false);
                        continue;
                    }
                }
                b'"' => {
                    self.at += 1;
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: close containers until a comma opens the next.
            loop {
                let Some(object) = open.innermost() else {
                    return Some(deepest);
                };
                match (self.token(), object) {
                    (b',', true) => {
                        self.at += 1;
                        self.key()?;
                        break;
                    }
                    (b',', false) => {
                        self.at += 1;
                        break;
                    }
                    (b'}', true) | (b']', false) => {
                        open.pop();
                        self.at += 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// A member's name and its colon.
    #[inline(always)]
    fn key(&mut self) -> Option<()> {
        (self.token() == b'"').then_some(())?;
        self.at += 1;
        self.string()?;
        (self.token() == b':').then_some(())?;
        self.at += 1;
        Some(())
    }

    /// The rest of a string whose opening quote is behind the cursor.
    #[inline(always)]
    fn string(&mut self) -> Option<()> {
        loop {
            // Eight bytes at a time: straight to the first that ends the
            // run of plain text, or past all eight.
            if let Some(word) = self.bytes.get(self.at..self.at + 8) {
                let special = special_bytes(u64::from_le_bytes(word.try_into().ok()?));
                if special == 0 {
                    self.at += 8;
                    continue;
                }
                self.at += (special.trailing_zeros() / 8) as usize;
            }
            match self.peek() {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => self.escape()?,
                0..0x20 => return None,
                _ => self.at += 1,
            }
        }
    }

    /// An escape, the cursor on its backslash.
    #[cold]
    fn escape(&mut self) -> Option<()> {
        self.at += 1;
        match self.peek() {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
            b'u' => {
                let hex = self.bytes.get(self.at + 1..self.at + 5)?;
                hex.iter().all(u8::is_ascii_hexdigit).then_some(())?;
                self.at += 5;
            }
            _ => return None,
        }
        Some(())
    }

    fn literal(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.at + literal.len();
        (self.bytes.get(self.at..end) == Some(literal)).then_some(())?;
        self.at = end;
        Some(())
    }

    /// Skips digits; how many.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_ascii_digit() {
            self.at += 1;
        }
        self.at - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == b'-' {
            self.at += 1;
        }
        match self.peek() {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == b'.' {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let b'e' | b'E' = self.peek() {
            self.at += 1;
            if let b'+' | b'-' = self.peek() {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        // A digit here would follow a leading zero (`01`).
        (!self.peek().is_ascii_digit()).then_some(())
    }
}

/// The open containers, innermost last, a bit each (set for an object):
/// the innermost 64 in a word, the ones around them spilled to a vector.
#[derive(Default)]
struct Open {
    depth: usize,
    bits: u64,
    spilled: Vec<u64>,
}

impl Open {
    fn push(&mut self, object: bool) {
        if self.depth != 0 && self.depth.is_multiple_of(64) {
            self.spilled.push(self.bits);
            self.bits = 0;
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.depth -= 1;
        self.bits >>= 1;
        if self.depth != 0 && self.depth.is_multiple_of(64) {
            self.bits = self.spilled.pop().unwrap_or_default();
        }
    }

    /// Whether the innermost open container is an object; `None` at the top.
    fn innermost(&self) -> Option<bool> {
        (self.depth > 0).then_some(self.bits & 1 == 1)
    }
}

/// The high bit of each of the eight bytes of `word` that ends a run of
/// plain string text (a control character, `"` or `\`), and maybe of some
/// bytes above the lowest such byte: the bit tricks of "Bit Twiddling Hacks"
/// (`hasless`, `haszero`), exact for whether there is one and for which is
/// the lowest, since a borrow only travels upwards.
pub fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    (below_space | quote | backslash) & HIGH
}

#[cfg(test)]
mod tests;
