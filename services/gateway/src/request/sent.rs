//! A request body read in one pass, without parsing it into values: where
//! each top-level member's value is, that every member is JSON nested no
//! deeper than serde_json parses, and the text the limits' estimate counts
//! in the members sent on as the client's bytes (`messages`, `input` …).
//!
//! Why: parsing an agent's 70 KB of conversation into a `serde_json::Value`
//! cost about 13 instructions a byte, and dropping the tree more, while the
//! gateway only needs the text's length. Checking the body with serde_json
//! first and then scanning it for the text cost 8 and 5 instructions a byte
//! (docs/benchmarks.md); this scan checks and counts at once. It counts
//! what `crate::usage::estimate::request_text_len` counts on a parsed body,
//! by the same rules, and accepts what serde_json accepts (the property
//! tests hold it to both).

use std::{borrow::Cow, ops::Range};

use crate::json_scan::{Scan, malformed, name};

/// How deep a member's value may nest: serde_json parses 127 levels, and
/// the body's own object is one of them. A body sent on as bytes is refused
/// where a parsed one would have been.
pub(crate) const MAX_DEPTH: usize = 126;

/// Text of a request: its pieces' bytes once unescaped, and how many
/// pieces there are (the estimate joins them with line breaks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Text {
    bytes: usize,
    pieces: usize,
}

impl Text {
    /// The length of the pieces joined by line breaks.
    pub(crate) fn len(self) -> usize {
        self.bytes + self.pieces.saturating_sub(1)
    }

    pub(super) fn add(&mut self, other: Text) {
        self.bytes += other.bytes;
        self.pieces += other.pieces;
    }

    /// The text of the string here.
    fn of(scan: &mut Scan) -> serde_json::Result<Text> {
        let (_, bytes) = scan.text()?;
        Ok(Text { bytes, pieces: 1 })
    }
}

/// What a top-level member holds of the prompt's text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// `messages`: each message's `content`.
    Messages,
    /// `system`, `instructions`, `prompt`, `input`: a string, or parts.
    Text,
    /// Anything else: only its depth is checked.
    None,
}

impl Role {
    pub(super) fn of(name: &str) -> Role {
        match name {
            "messages" => Role::Messages,
            "system" | "instructions" | "prompt" | "input" => Role::Text,
            _ => Role::None,
        }
    }
}

/// A top-level member: its name, its value's place in the body, and the
/// text it holds by its role.
pub(super) type Member = (Box<str>, Range<usize>, Text);

/// Every member of the JSON object `b`, in the order sent; an error unless
/// `b` is one JSON object (UTF-8 aside: the caller checks it) whose members
/// nest no deeper than [`MAX_DEPTH`].
pub(super) fn body(b: &[u8]) -> serde_json::Result<Vec<Member>> {
    let scan = &mut Scan { b, i: 0 };
    scan.whitespace();
    if scan.peek() != Some(b'{') {
        return Err(malformed());
    }
    let mut members = Vec::with_capacity(8);
    items(scan, MAX_DEPTH + 1, b'{', |quoted, scan, room| {
        // serde_json reads a top-level name as a string: one it cannot
        // (an escaped lone surrogate) is refused.
        let name = quoted.map(name).transpose()?.unwrap_or_default();
        scan.whitespace();
        let start = scan.i;
        let text = match Role::of(&name) {
            Role::Messages => messages(scan, room)?,
            Role::Text => collect(scan, room)?,
            Role::None => skip(scan, room).map(|()| Text::default())?,
        };
        members.push((Box::from(name), start..scan.i, text));
        Ok(())
    })?;
    scan.whitespace();
    match scan.i == b.len() {
        true => Ok(members),
        false => Err(malformed()),
    }
}

fn skip(scan: &mut Scan, room: usize) -> serde_json::Result<()> {
    scan.whitespace();
    match scan.value()? <= room {
        true => Ok(()),
        false => Err(too_deep()),
    }
}

/// Each message's last `content`, as [`collect`] reads it.
fn messages(scan: &mut Scan, room: usize) -> serde_json::Result<Text> {
    sum_elements(scan, room, |scan, room| {
        let mut content = Text::default();
        members(scan, room, |key, scan, room| {
            match key == "content" {
                true => content = collect(scan, room)?,
                false => skip(scan, room)?,
            }
            Ok(())
        })?;
        Ok(content)
    })
}

/// A string, or parts: each a string, or an object's last `text` if a
/// string, else its last `output` if a string, else its last `content`'s
/// text ([`parts`]). `estimate::collect` on a parsed body.
fn collect(scan: &mut Scan, room: usize) -> serde_json::Result<Text> {
    string_or_elements(scan, room, |scan, room| {
        scan.whitespace();
        if scan.peek() == Some(b'"') {
            return Text::of(scan);
        }
        let (mut own, mut output, mut content) = (None, None, Text::default());
        members(scan, room, |key, scan, room| {
            match key.as_ref() {
                "text" => own = string_text(scan, room)?,
                "output" => output = string_text(scan, room)?,
                "content" => content = parts(scan, room)?,
                _ => skip(scan, room)?,
            }
            Ok(())
        })?;
        Ok(own.or(output).unwrap_or(content))
    })
}

/// A string, or each part's last `text` that is a string.
/// `estimate::collect_parts` on a parsed body.
fn parts(scan: &mut Scan, room: usize) -> serde_json::Result<Text> {
    string_or_elements(scan, room, |scan, room| {
        let mut own = None;
        members(scan, room, |key, scan, room| {
            match key == "text" {
                true => own = string_text(scan, room)?,
                false => skip(scan, room)?,
            }
            Ok(())
        })?;
        Ok(own.unwrap_or_default())
    })
}

/// The text of a string here, else the sum of `each` over an array's
/// elements; nothing for any other value.
fn string_or_elements(
    scan: &mut Scan,
    room: usize,
    each: impl FnMut(&mut Scan, usize) -> serde_json::Result<Text>,
) -> serde_json::Result<Text> {
    scan.whitespace();
    match scan.peek() == Some(b'"') {
        true => Text::of(scan),
        false => sum_elements(scan, room, each),
    }
}

/// The sum of `each` over the elements of an array here; nothing for any
/// other value.
fn sum_elements(
    scan: &mut Scan,
    room: usize,
    mut each: impl FnMut(&mut Scan, usize) -> serde_json::Result<Text>,
) -> serde_json::Result<Text> {
    let mut text = Text::default();
    elements(scan, room, |scan, room| {
        text.add(each(scan, room)?);
        Ok(())
    })?;
    Ok(text)
}

/// The text of the value here if it is a string, else `None` (skipped).
fn string_text(scan: &mut Scan, room: usize) -> serde_json::Result<Option<Text>> {
    scan.whitespace();
    if scan.peek() != Some(b'"') {
        return skip(scan, room).map(|()| None);
    }
    Text::of(scan).map(Some)
}

/// Calls `each` on every element when the value here is an array; skips
/// any other value.
fn elements(
    scan: &mut Scan,
    room: usize,
    mut each: impl FnMut(&mut Scan, usize) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    items(scan, room, b'[', |_, scan, room| each(scan, room))
}

/// Calls `each` with every member's name when the value here is an
/// object; skips any other value.
fn members(
    scan: &mut Scan,
    room: usize,
    mut each: impl FnMut(Cow<'_, str>, &mut Scan, usize) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    items(scan, room, b'{', |quoted, scan, room| {
        // A nested name that is no string (an escaped lone surrogate) is
        // none the scan looks for: serde_json's skip lets it through, and
        // so does this.
        let name = quoted.and_then(|quoted| name(quoted).ok());
        each(name.unwrap_or_default(), scan, room)
    })
}

/// Calls `each` at every item of the array (`open` is `[`) or object (`{`)
/// here, with the member's name as sent (quoted) in an object; skips any
/// other value.
fn items(
    scan: &mut Scan,
    room: usize,
    open: u8,
    mut each: impl FnMut(Option<&[u8]>, &mut Scan, usize) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    scan.whitespace();
    if scan.peek() != Some(open) {
        return skip(scan, room);
    }
    let close = if open == b'[' { b']' } else { b'}' };
    let room = room.checked_sub(1).ok_or_else(too_deep)?;
    scan.i += 1;
    scan.whitespace();
    if scan.peek() == Some(close) {
        scan.i += 1;
        return Ok(());
    }
    let b = scan.b;
    loop {
        let key = match open {
            b'{' => {
                let (quoted, _) = scan.text()?;
                scan.expect(b':')?;
                b.get(quoted)
            }
            _ => None,
        };
        each(key, scan, room)?;
        scan.whitespace();
        match scan.next() {
            Some(b',') => {}
            Some(c) if c == close => return Ok(()),
            _ => return Err(malformed()),
        }
    }
}

fn too_deep() -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(format!("a member nests deeper than {MAX_DEPTH} levels"))
}

#[cfg(test)]
#[path = "sent_tests.rs"]
mod tests;
