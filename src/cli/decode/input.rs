//! Input encodings of `sbrp decode`: raw bytes, hex text or base64 text, decoded in chunks so
//! that a capture of any size streams in bounded memory.
//!
//! Text inputs may hold one frame per line or one long stream: line breaks and other
//! whitespace are ignored, and `#` starts a comment that runs to the end of the line. Hex may
//! carry `0x` prefixes (`0x01 0x00 …` or `0x0100…`). Base64 may be the standard or URL-safe
//! alphabet, wrapped at any width; `=` padding ends a group, so padded base64 lines can simply
//! be concatenated (one frame per line).

use std::fmt;

/// The `--input` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputKind {
    /// Detect: hex text, else base64 text, else raw bytes.
    Auto,
    /// Raw bytes, as on the wire.
    Raw,
    /// Hex digits (whitespace, newlines, `0x` prefixes and `#` comments allowed).
    Hex,
    /// Base64, standard or URL-safe (whitespace, newlines and `#` comments allowed).
    Base64,
    /// A browser's HAR file: the binary messages of its WebSockets (auto: input starting `{`).
    Har,
}

impl InputKind {
    /// The name used in output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Raw => "raw",
            Self::Hex => "hex",
            Self::Base64 => "base64",
            Self::Har => "har",
        }
    }
}

/// Text that is not valid hex or base64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextError {
    /// Offset of the offending character in the input text.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (input byte {})", self.message, self.offset)
    }
}

/// What an input byte can be, for detection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Hex,
    X,
    Base64Only,
    Comment,
    Binary,
}

fn classify(b: u8) -> Class {
    match b {
        b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => Class::Space,
        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => Class::Hex,
        b'x' | b'X' => Class::X,
        b'g'..=b'z' | b'G'..=b'Z' | b'+' | b'/' | b'-' | b'_' | b'=' => Class::Base64Only,
        b'#' => Class::Comment,
        _ => Class::Binary,
    }
}

/// The outcome of looking at the start of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// Decided.
    Kind(InputKind),
    /// Not enough text yet: read more (or decide at end of input with [`detect_final`]).
    NeedMore,
}

/// What a scan of the first bytes saw when it could not decide yet.
struct Seen {
    text: bool,
    base64: bool,
}

/// Scans `prefix`: `Err(kind)` as soon as the kind is certain (a binary byte, or a complete
/// line of text), else what was seen.
fn scan(prefix: &[u8]) -> Result<Seen, InputKind> {
    let mut in_comment = false;
    let mut seen = Seen {
        text: false,
        base64: false,
    };
    for &b in prefix {
        if in_comment {
            in_comment = b != b'\n';
            continue;
        }
        match classify(b) {
            Class::Binary => return Err(InputKind::Raw),
            Class::Comment => in_comment = true,
            Class::Space => {
                if b == b'\n' && seen.text {
                    return Err(text_kind(seen.base64));
                }
            }
            Class::Hex | Class::X => seen.text = true,
            Class::Base64Only => {
                seen.text = true;
                seen.base64 = true;
            }
        }
    }
    Ok(seen)
}

impl Seen {
    /// The kind to assume when no more bytes will help: text if any was seen, else raw
    /// (empty or whitespace only: nothing to decode either way).
    fn kind(&self) -> InputKind {
        if self.text {
            text_kind(self.base64)
        } else {
            InputKind::Raw
        }
    }
}

/// Looks at the first bytes of an input. A byte that is neither text nor whitespace means
/// raw (an SBRP header always has a zero byte in its length field, so a raw capture is
/// recognised within two bytes). Text is judged once a line is complete or 4 KiB have been
/// seen: hex if it holds only hex digits and `0x` prefixes, else base64.
pub fn detect(prefix: &[u8]) -> Detection {
    match scan(prefix) {
        Err(kind) => Detection::Kind(kind),
        Ok(seen) if prefix.len() >= 4096 => Detection::Kind(seen.kind()),
        Ok(_) => Detection::NeedMore,
    }
}

/// The decision at end of input (for inputs shorter than one line of text).
pub fn detect_final(prefix: &[u8]) -> InputKind {
    match scan(prefix) {
        Err(kind) => kind,
        Ok(seen) => seen.kind(),
    }
}

fn text_kind(base64: bool) -> InputKind {
    if base64 {
        InputKind::Base64
    } else {
        InputKind::Hex
    }
}

/// Why the start of some bytes cannot be an SBRP stream, or `None` when it can: the first
/// byte must be a frame type, and a length (when its four bytes are there) at most 65536.
/// Empty input is a (trivially) valid stream.
pub fn implausible_start(bytes: &[u8]) -> Option<String> {
    let &first = bytes.first()?;
    if sbrp::frame::FrameType::from_u8(first).is_none() {
        return Some(format!(
            "its first byte 0x{first:02x} is not an SBRP frame type"
        ));
    }
    if let Some(len) = bytes.get(1..5) {
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        if len as usize > sbrp::frame::MAX_PAYLOAD_LEN {
            return Some(format!(
                "its first header announces {len} payload bytes, more than the 65536 allowed"
            ));
        }
    }
    None
}

/// Checks the kind [`detect`] chose against the decoded start of the input: text that does
/// not decode to the start of an SBRP stream as hex is tried as base64 (hex digits are base64
/// too); when no form fits, the error says what each form gave. `prefix` is what was read so
/// far (detection needs at most 4 KiB, or the whole input when shorter).
pub fn confirm(kind: InputKind, prefix: &[u8]) -> Result<InputKind, String> {
    let order: &[InputKind] = match kind {
        InputKind::Hex => &[InputKind::Hex, InputKind::Base64, InputKind::Raw],
        InputKind::Base64 => &[InputKind::Base64, InputKind::Hex, InputKind::Raw],
        // Binary input is raw: the framer reports a bad first header itself.
        InputKind::Raw | InputKind::Auto | InputKind::Har => return Ok(kind),
    };
    let mut tried = Vec::new();
    for &k in order {
        let why = match TextDecoder::new(k) {
            None => implausible_start(prefix),
            Some(mut d) => {
                let mut out = Vec::new();
                match d.feed(prefix, &mut out) {
                    Err(e) if out.len() < HEADER_PROBE => Some(format!("{e}")),
                    _ => implausible_start(&out).map(|w| format!("decodes to bytes where {w}")),
                }
            }
        };
        match why {
            None => return Ok(k),
            Some(w) => tried.push(format!("{} ({w})", k.name())),
        }
    }
    Err(tried.join("; "))
}

/// Decoded bytes that suffice to judge the start of a stream (type and length).
const HEADER_PROBE: usize = 5;

/// A streaming decoder from text to bytes.
#[derive(Debug)]
pub enum TextDecoder {
    /// Hex.
    Hex(HexDecoder),
    /// Base64.
    Base64(Base64Decoder),
}

impl TextDecoder {
    /// A decoder for `kind`, or `None` for raw input.
    pub fn new(kind: InputKind) -> Option<Self> {
        match kind {
            InputKind::Hex => Some(Self::Hex(HexDecoder::default())),
            InputKind::Base64 => Some(Self::Base64(Base64Decoder::default())),
            InputKind::Raw | InputKind::Auto | InputKind::Har => None,
        }
    }

    /// Decodes `text`, appending bytes to `out`.
    pub fn feed(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), TextError> {
        match self {
            Self::Hex(d) => d.feed(text, out),
            Self::Base64(d) => d.feed(text, out),
        }
    }

    /// Checks that the text ended on a whole byte; appends what is left.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TextError> {
        match self {
            Self::Hex(d) => d.finish(),
            Self::Base64(d) => d.finish(out),
        }
    }
}

/// Hex text to bytes.
#[derive(Debug, Default)]
pub struct HexDecoder {
    high: Option<u8>,
    /// The previous character was a `0` that became a high nibble (a possible `0x`).
    zero_just_read: bool,
    in_comment: bool,
    pos: u64,
}

impl HexDecoder {
    fn feed(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), TextError> {
        out.reserve(text.len() / 2);
        for &b in text {
            let pos = self.pos;
            self.pos += 1;
            if self.in_comment {
                self.in_comment = b != b'\n';
                continue;
            }
            let zero_before = std::mem::take(&mut self.zero_just_read);
            let nibble = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                b'x' | b'X' if zero_before && self.high == Some(0) => {
                    self.high = None;
                    continue;
                }
                b'#' => {
                    self.in_comment = true;
                    continue;
                }
                _ if classify(b) == Class::Space => continue,
                _ => {
                    return Err(TextError {
                        offset: pos,
                        message: format!("not a hex digit: {}", describe_byte(b)),
                    });
                }
            };
            match self.high.take() {
                None => {
                    self.high = Some(nibble);
                    self.zero_just_read = nibble == 0 && b == b'0';
                }
                Some(h) => out.push(h << 4 | nibble),
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), TextError> {
        if self.high.is_some() {
            return Err(TextError {
                offset: self.pos,
                message: "the hex text ends with half a byte (an odd number of digits)".into(),
            });
        }
        Ok(())
    }
}

/// Base64 text to bytes.
#[derive(Debug, Default)]
pub struct Base64Decoder {
    acc: u32,
    n: u8,
    pad_left: u8,
    in_comment: bool,
    pos: u64,
}

fn sextet(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

impl Base64Decoder {
    fn flush_partial(&mut self, out: &mut Vec<u8>) -> bool {
        match self.n {
            0 => {}
            2 => out.push((self.acc >> 4) as u8),
            3 => {
                let v = self.acc >> 2;
                out.push((v >> 8) as u8);
                out.push(v as u8);
            }
            _ => return false,
        }
        self.acc = 0;
        self.n = 0;
        true
    }

    fn feed(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), TextError> {
        out.reserve(text.len() / 4 * 3 + 3);
        for &b in text {
            let pos = self.pos;
            self.pos += 1;
            if self.in_comment {
                self.in_comment = b != b'\n';
                continue;
            }
            if let Some(v) = sextet(b) {
                self.pad_left = 0;
                self.acc = self.acc << 6 | u32::from(v);
                self.n += 1;
                if self.n == 4 {
                    let v = self.acc;
                    out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
                    self.acc = 0;
                    self.n = 0;
                }
                continue;
            }
            match b {
                b'=' if self.n >= 2 => {
                    self.pad_left = 3 - self.n;
                    self.flush_partial(out);
                }
                b'=' if self.pad_left > 0 => self.pad_left -= 1,
                b'#' => self.in_comment = true,
                _ if classify(b) == Class::Space => {}
                _ => {
                    return Err(TextError {
                        offset: pos,
                        message: format!("not a base64 character: {}", describe_byte(b)),
                    });
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TextError> {
        if self.flush_partial(out) {
            Ok(())
        } else {
            Err(TextError {
                offset: self.pos,
                message: "the base64 text ends with a single character of a group".into(),
            })
        }
    }
}

fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(kind: InputKind, text: &[u8], chunk: usize) -> Result<Vec<u8>, TextError> {
        let mut d = TextDecoder::new(kind).unwrap();
        let mut out = Vec::new();
        for c in text.chunks(chunk.max(1)) {
            d.feed(c, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn hex_with_prefixes_comments_and_lines_in_any_chunks() {
        let text =
            b"# a ping\n10 00000008 0x0000000000000000\n0x01 0x02 0X03 04\r\n05060708 # tail\n";
        let want = hex::decode("100000000800000000000000000102030405060708").unwrap();
        for chunk in 1..text.len() {
            assert_eq!(
                decode(InputKind::Hex, text, chunk).unwrap(),
                want,
                "{chunk}"
            );
        }
    }

    #[test]
    fn hex_errors_say_where() {
        let e = decode(InputKind::Hex, b"10 0g", 64).unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(e.message.contains("'g'"));
        // 'x' only after a leading 0 of a byte.
        assert_eq!(decode(InputKind::Hex, b"1x", 64).unwrap_err().offset, 1);
        assert_eq!(decode(InputKind::Hex, b"0 x", 64).unwrap_err().offset, 2);
        let e = decode(InputKind::Hex, b"abc", 64).unwrap_err();
        assert!(e.message.contains("half a byte"));
    }

    #[test]
    fn base64_wrapped_or_one_padded_frame_per_line() {
        let frames = [
            hex::decode("1000000000000000000000000000").unwrap(),
            hex::decode("2000000002000000000000000110").unwrap(),
            hex::decode("11000000010000000000000000ff").unwrap(),
        ];
        let std_b64 = |b: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let all: Vec<u8> = frames.concat();
        // One long stream wrapped at an odd width.
        let long = std_b64(&all);
        let wrapped: String = long
            .as_bytes()
            .chunks(7)
            .map(|c| String::from_utf8(c.to_vec()).unwrap() + "\n")
            .collect();
        // One padded line per frame.
        let per_line: String = frames.iter().map(|f| std_b64(f) + "\n").collect();
        assert!(per_line.contains('='));
        for text in [wrapped, per_line] {
            for chunk in [1, 3, 5, 64] {
                assert_eq!(
                    decode(InputKind::Base64, text.as_bytes(), chunk).unwrap(),
                    all
                );
            }
        }
        // URL-safe alphabet and missing final padding.
        assert_eq!(
            decode(InputKind::Base64, b"_-8", 64).unwrap(),
            vec![0xff, 0xef]
        );
        assert!(decode(InputKind::Base64, b"QUJD!", 64).is_err());
        assert!(decode(InputKind::Base64, b"QUJDR", 64).is_err());
    }

    #[test]
    fn detection() {
        use Detection::*;
        // Raw: a header has zero bytes.
        assert_eq!(detect(b"\x10\x00"), Kind(InputKind::Raw));
        assert_eq!(detect(b" \x00\x00\x00\x02"), Kind(InputKind::Raw));
        assert_eq!(detect(b"1000000000"), NeedMore);
        assert_eq!(detect(b"10 00\n"), Kind(InputKind::Hex));
        assert_eq!(
            detect(b"# comment with g and =\n0x10 00\n"),
            Kind(InputKind::Hex)
        );
        assert_eq!(detect(b"EAAAAAAAAAAAAAAAAA==\n"), Kind(InputKind::Base64));
        assert_eq!(detect(b"AQAAACAAAAAAAAAAAQ\n"), Kind(InputKind::Base64));
        assert_eq!(detect_final(b"1000"), InputKind::Hex);
        assert_eq!(detect_final(b"EAAA=="), InputKind::Base64);
        assert_eq!(detect_final(b""), InputKind::Raw);
        assert_eq!(detect(&[b'a'; 5000]), Kind(InputKind::Hex));
    }

    #[test]
    fn confirmation_refuses_text_that_is_no_capture() {
        // A hex Ping, base64 of a Ping, and text that fits no form.
        assert_eq!(
            confirm(InputKind::Hex, b"10 00000000 0000000000000000\n"),
            Ok(InputKind::Hex)
        );
        assert_eq!(
            confirm(InputKind::Base64, b"EAAAAAAAAAAAAAAAAA==\n"),
            Ok(InputKind::Base64)
        );
        for text in [
            &b"hello world\n"[..],
            b"deadbeef\n",
            b"ffff\n",
            b"# just a comment\nzzzz\n",
        ] {
            let e = confirm(detect_final(text), text).unwrap_err();
            for form in ["hex (", "base64 (", "raw ("] {
                assert!(e.contains(form), "{e}");
            }
        }
        // Hex digits that only make sense as base64.
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .encode([0x20, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 1])
        };
        assert_eq!(
            confirm(InputKind::Base64, b64.as_bytes()),
            Ok(InputKind::Base64)
        );
        assert_eq!(implausible_start(&[]), None);
        assert!(
            implausible_start(&[0x03, 0xff, 0, 0, 0])
                .unwrap()
                .contains("payload bytes")
        );
    }
}
