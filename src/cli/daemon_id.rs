//! One rule for daemon ids, wherever sbrp takes one (`pin …`, `peer daemon`, `peer client`,
//! the pin file): documented in `docs/pin-file.md` ("Daemon ids").
//!
//! A daemon id is 1 to [`MAX_LEN`] bytes of UTF-8 without control or invisible formatting
//! characters, without leading or trailing whitespace, and in Unicode NFC. The id is signed
//! into every handshake byte for byte, so two spellings of one visible name would be two
//! daemons that look alike in `pin list`: a non-NFC id is refused with its NFC form as the
//! hint (normalising silently would make a handshake with a daemon that really uses the
//! other form fail without a word).

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use super::escape::{escape, needs_escape};
use super::exit::{CliError, CliResult};

/// Longest accepted daemon id, in bytes.
pub const MAX_LEN: usize = 1024;

/// Longest part of an id (in characters) shown in a message; longer ids are cut with their
/// length named.
pub const SHOWN_CHARS: usize = 64;

/// What is wrong with a daemon id, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// "is empty", "is 100000 bytes long (at most 1024)", …
    pub problem: String,
    /// The fix.
    pub hint: String,
}

/// Checks `id` against the rule (see the module documentation).
pub fn check(id: &str) -> Result<(), Problem> {
    let p = |problem: String, hint: &str| {
        Err(Problem {
            problem,
            hint: hint.to_owned(),
        })
    };
    if id.is_empty() {
        return p(
            "is empty".to_owned(),
            "give the daemon's id, as the daemon announces it",
        );
    }
    if id.len() > MAX_LEN {
        return p(
            format!("is {} bytes long (at most {MAX_LEN})", id.len()),
            "give a shorter daemon id",
        );
    }
    if let Some(c) = id.chars().find(|c| needs_escape(*c)) {
        return p(
            format!(
                "contains the control or invisible character U+{:04X}",
                u32::from(c)
            ),
            "remove it: daemon ids are printable text",
        );
    }
    if id.trim() != id {
        return p(
            "starts or ends with whitespace".to_owned(),
            "remove the spaces around it",
        );
    }
    let nfc = match is_nfc_quick(id.chars()) {
        IsNormalized::Yes => true,
        _ => id.nfc().eq(id.chars()),
    };
    if !nfc {
        let normal: String = id.nfc().collect();
        return Err(Problem {
            problem: "is not in Unicode NFC form (it would look like another id)".to_owned(),
            hint: format!(
                "write it in NFC, the form every keyboard and the reference use: \"{}\"",
                shorten(&normal)
            ),
        });
    }
    Ok(())
}

/// [`check`] as a CLI error (exit 1), the id shown shortened.
pub fn validate(id: &str) -> CliResult<()> {
    check(id).map_err(|p| {
        CliError::error(format!("the daemon id \"{}\" {}", shorten(id), p.problem)).hint(p.hint)
    })
}

/// The id escaped for a terminal, cut to [`SHOWN_CHARS`] characters with its length named
/// ("abc…(100000 bytes)").
pub fn shorten(id: &str) -> String {
    if id.chars().count() <= SHOWN_CHARS {
        return escape(id).into_owned();
    }
    let head: String = id.chars().take(SHOWN_CHARS).collect();
    format!("{}…({} bytes)", escape(&head), id.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        assert!(check("daemon-1.example").is_ok());
        assert!(check("caf\u{e9}").is_ok());
        assert!(check("").is_err());
        assert!(check("a\x1bb").is_err());
        assert!(check("a\u{202e}b").is_err());
        assert!(check(" a").is_err());
        assert!(check(&"x".repeat(MAX_LEN)).is_ok());
        assert!(check(&"x".repeat(MAX_LEN + 1)).is_err());
        let nfd = check("cafe\u{301}").unwrap_err();
        assert!(nfd.hint.contains("caf\u{e9}"), "{nfd:?}");
    }

    #[test]
    fn long_ids_are_shortened() {
        let s = shorten(&"y".repeat(100_000));
        assert!(s.len() < 100, "{s}");
        assert!(s.ends_with("…(100000 bytes)"));
        assert_eq!(shorten("d1"), "d1");
    }
}
