//! OpenSSH's "drunken bishop" randomart: a 17×9 picture of a digest that people can compare
//! at a glance.
//!
//! The walk is the one of OpenSSH's `sshkey_fingerprint_randomart` (Loss, Limmer and von
//! Gernler, "The drunken bishop"), so for the same digest it draws the same nine lines that
//! `ssh-keygen -lv -E sha256` draws. What differs is what is hashed: OpenSSH hashes its own
//! wire encoding of the key, SBRP hashes the 32 raw key bytes (the digest behind the
//! `SHA256:AB:CD:…` fingerprint).

/// Width of the field.
pub const WIDTH: usize = 17;
/// Height of the field.
pub const HEIGHT: usize = 9;

/// Symbols by visit count; the last two are the start and the end of the walk.
const SYMBOLS: &[u8; 17] = b" .o+=*BOX@%&#/^SE";

/// Draws `digest` in a frame with `title` on the top border and `footer` on the bottom one,
/// both already bracketed (e.g. `[ED25519 256]`, `[SHA256]`). Lines end with `\n`.
pub fn randomart(digest: &[u8], title: &str, footer: &str) -> String {
    let len = SYMBOLS.len() - 1; // index of 'E'
    let mut field = [[0usize; HEIGHT]; WIDTH];
    let mut x = WIDTH / 2;
    let mut y = HEIGHT / 2;
    for &byte in digest {
        let mut input = byte;
        for _ in 0..4 {
            x = if input & 0x1 != 0 {
                (x + 1).min(WIDTH - 1)
            } else {
                x.saturating_sub(1)
            };
            y = if input & 0x2 != 0 {
                (y + 1).min(HEIGHT - 1)
            } else {
                y.saturating_sub(1)
            };
            if field[x][y] < len - 2 {
                field[x][y] += 1;
            }
            input >>= 2;
        }
    }
    field[WIDTH / 2][HEIGHT / 2] = len - 1;
    field[x][y] = len;

    let mut out = String::with_capacity((WIDTH + 3) * (HEIGHT + 2));
    border(&mut out, title);
    for row in 0..HEIGHT {
        out.push('|');
        for column in field.iter() {
            out.push(char::from(SYMBOLS[column[row].min(len)]));
        }
        out.push_str("|\n");
    }
    border(&mut out, footer);
    out
}

/// `+--[label]--+`: the label centred as OpenSSH does (extra dash on the right), truncated to
/// fit.
fn border(out: &mut String, label: &str) {
    let label: String = label.chars().take(WIDTH).collect();
    let n = label.chars().count();
    let left = (WIDTH - n) / 2;
    out.push('+');
    out.extend(std::iter::repeat_n('-', left));
    out.push_str(&label);
    out.extend(std::iter::repeat_n('-', WIDTH - left - n));
    out.push_str("+\n");
}

/// The picture of an SBRP identity key: its SHA-256 digest, framed `[ED25519 256]` and
/// `[SHA256]`.
pub fn identity_randomart(key: &crate::IdentityPublicKey) -> String {
    randomart(&key.digest(), "[ED25519 256]", "[SHA256]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_and_size() {
        let art = randomart(&[0u8; 32], "[ED25519 256]", "[SHA256]");
        let lines: Vec<&str> = art.lines().collect();
        assert_eq!(lines.len(), HEIGHT + 2);
        assert_eq!(lines[0], "+--[ED25519 256]--+");
        assert_eq!(lines[HEIGHT + 1], "+----[SHA256]-----+");
        assert!(lines.iter().all(|l| l.chars().count() == WIDTH + 2));
    }

    #[test]
    fn all_zero_digest_walks_to_the_top_left_corner() {
        // Every step goes up-left: the bishop ends in the corner after 4 + 8 steps.
        let art = randomart(&[0u8; 32], "[X]", "[Y]");
        let lines: Vec<&str> = art.lines().collect();
        assert_eq!(lines[1], "|E....            |");
        assert_eq!(lines[2], "|     .           |");
        assert_eq!(lines[4], "|       .         |");
        assert_eq!(lines[5], "|        S        |");
    }

    #[test]
    fn long_labels_are_truncated() {
        let art = randomart(&[1, 2, 3], "[A VERY LONG TITLE HERE]", "");
        let first = art.lines().next().unwrap();
        assert_eq!(first.chars().count(), WIDTH + 2);
    }
}
