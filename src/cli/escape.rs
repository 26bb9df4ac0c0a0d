//! Making untrusted strings (from files, stdin, the wire, file names) safe to print.
//!
//! Control characters (C0, DEL, C1), and the invisible formatting characters that can reorder
//! or hide text on a terminal (bidi overrides and isolates, zero-width characters, line and
//! paragraph separators, BOM) are shown as visible escapes: `\x1b`, `\n`, `\u{202e}`. Bytes
//! that are not UTF-8 are shown as `\xNN`. Everything else (including other non-ASCII text) is
//! printed as is. Backslashes are not doubled, so plain text with backslashes reads normally.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// True for characters that must not reach a terminal raw.
pub fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{061c}'                    // arabic letter mark
        | '\u{200b}'..='\u{200f}'       // zero-width space/joiners, LRM, RLM
        | '\u{2028}'..='\u{202e}'       // line/paragraph separators, LRE RLE PDF LRO RLO
        | '\u{2060}'..='\u{2069}'       // word joiner, invisible operators, isolates
        | '\u{feff}'                    // zero-width no-break space (BOM)
        | '\u{fff9}'..='\u{fffb}') // interlinear annotation
}

/// True for the characters of [`needs_escape`] that JSON encoders leave raw (all but ASCII
/// controls, which JSON always escapes).
pub fn needs_escape_in_json(c: char) -> bool {
    (c as u32) >= 0x7f && needs_escape(c)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Escapes a string for display. Borrows when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes arbitrary bytes: valid UTF-8 as [`escape`], invalid bytes as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Escapes a path for display (paths may hold any bytes on Unix).
pub fn escape_path(path: &Path) -> String {
    escape_bytes(path.as_os_str().as_encoded_bytes())
}

/// Quotes a word for a POSIX shell so that a suggested command can be pasted as is:
/// unchanged when it only holds safe characters, else in single quotes. The result is also
/// escaped for the terminal (a word with control characters is shown, not executed).
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&b));
    if safe {
        word.to_owned()
    } else {
        let quoted = format!("'{}'", word.replace('\'', r"'\''"));
        escape(&quoted).into_owned()
    }
}

/// Same as [`shell_quote`] for a path.
pub fn shell_quote_path(path: &Path) -> String {
    match path.to_str() {
        Some(s) => shell_quote(s),
        None => escape_path(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_terminal_controls_and_bidi() {
        assert_eq!(escape("plain-id.example"), "plain-id.example");
        assert_eq!(escape("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(escape("tab\tnl\ncr\r"), "tab\\tnl\\ncr\\r");
        assert_eq!(escape("del\x7f c1\u{9b}"), "del\\x7f c1\\u{9b}");
        assert_eq!(escape("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(escape("iso\u{2066}x\u{2069}"), "iso\\u{2066}x\\u{2069}");
        assert_eq!(escape("zw\u{200b}j"), "zw\\u{200b}j");
        assert_eq!(escape("café ✓"), "café ✓");
    }

    #[test]
    fn escapes_invalid_utf8_bytes() {
        assert_eq!(escape_bytes(b"ok\xff\xfe\x1b"), "ok\\xff\\xfe\\x1b");
    }

    #[test]
    fn shell_quotes() {
        assert_eq!(shell_quote("daemon-1.example"), "daemon-1.example");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b;rm -rf /"), "'a b;rm -rf /'");
        assert_eq!(shell_quote("x\x1b"), "'x\\x1b'");
    }

    proptest! {
        #[test]
        fn escaped_output_never_holds_a_dangerous_char(s in any::<String>()) {
            let e = escape(&s);
            prop_assert!(!e.chars().any(needs_escape));
        }

        #[test]
        fn escaped_bytes_never_hold_a_dangerous_char(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let e = escape_bytes(&b);
            prop_assert!(!e.chars().any(needs_escape));
        }
    }
}
