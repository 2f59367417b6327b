"""What scripts/code-size.py and scripts/module-cycles.py share: a small
lexer for rustfmt-formatted Rust (not a parser). It blanks comments and
string, byte-string, raw-string and char literals so braces inside them
cannot confuse brace matching, and finds the items marked #[cfg(test)]."""

import re

def blank_literals(src):
    """Comments and string/char literals become spaces (newlines kept)."""
    out, i, n = [], 0, len(src)

    def blank(text):
        out.append(re.sub(r"[^\n]", " ", text))

    while i < n:
        c = src[i]
        prev_ident = i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_")
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(src[i:j])
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(src[i:j])
            i = j
        elif not prev_ident and re.match(r'b?r#*"', src[i:i + 40]):
            m = re.match(r'b?r(#*)"', src[i:])
            end = src.find('"' + m.group(1), i + m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            blank(src[i:end])
            i = end
        elif c == '"' or (not prev_ident and src.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(src[i:j + 1])
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            if m:
                blank(m.group(0))
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(code, open_idx):
    depth = 0
    for j in range(open_idx, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def test_spans(code):
    """Character spans of items annotated #[cfg(test)]."""
    spans = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        j = m.end()
        # The item ends at its first `;` (e.g. `mod tests;`) or at the brace
        # matching its first `{`.
        while j < len(code) and code[j] not in "{;":
            j += 1
        end = j if j < len(code) and code[j] == ";" else matching_brace(code, j)
        spans.append((m.start(), end))
    return spans


def drop_test_items(code):
    """Blank every item annotated #[cfg(test)]."""
    for start, end in reversed(test_spans(code)):
        code = code[:start] + re.sub(r"[^\n]", " ", code[start:end + 1]) + code[end + 1:]
    return code
