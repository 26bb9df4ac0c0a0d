//! Identity keys as text and files: every encoding `sbrp` reads and writes, with detection.
//! Pure functions, no I/O.
//!
//! | encoding | public key | secret key |
//! |---|---|---|
//! | hex | 64 characters | 128 characters (seed ‖ public key) |
//! | base64 / base64url (padding optional) | 43/44 characters | 86/88 characters (seed ‖ public key) |
//! | PEM | `PUBLIC KEY` (SubjectPublicKeyInfo) | `PRIVATE KEY` (PKCS#8 v1 or v2) |
//! | DER (binary) | SubjectPublicKeyInfo | PKCS#8 |
//! | raw binary | exactly 32 bytes | exactly 64 bytes (seed ‖ public key) |
//! | JSON object | `"public_key"` (base64) | `"secret_key"` (base64 of seed ‖ public key) |
//! | OpenSSH | `ssh-ed25519 AAAA… [comment]` | — |
//!
//! A bare 32-byte value (hex, base64 or raw) is a public key where a public key is accepted;
//! where a secret key is expected (`sbrp pubkey`) it is ambiguous unless the caller says it is
//! a seed: see [`BareKey`]. Secret
//! keys in 64-byte form carry their public half, which must match the seed.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
    PublicKeyBytes,
};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::keys::{IdentityKeyPair, IdentityPublicKey, KEY_LEN};

/// What every accepted input looks like, for error messages.
pub const EXPECTED: &str = "a public key (64 hex or 43/44 base64 characters, a SPKI \
    \"PUBLIC KEY\" PEM, an `ssh-ed25519` line or a raw 32-byte file) or a secret key \
    (128 hex or 86/88 base64 characters of seed and public key, a PKCS#8 \"PRIVATE KEY\" PEM \
    or a raw 64-byte file)";

/// How an input was encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyEncoding {
    /// Raw binary, 32 or 64 bytes.
    Raw,
    /// Hexadecimal (either case).
    Hex,
    /// Standard base64 (`+/`), padding optional.
    Base64,
    /// URL-safe base64 (`-_`), padding optional.
    Base64Url,
    /// PKCS#8 `PRIVATE KEY` PEM.
    Pkcs8Pem,
    /// SubjectPublicKeyInfo `PUBLIC KEY` PEM.
    SpkiPem,
    /// PKCS#8 DER (binary).
    Pkcs8Der,
    /// SubjectPublicKeyInfo DER (binary).
    SpkiDer,
    /// A JSON object with `public_key` and/or `secret_key`.
    Json,
    /// An OpenSSH `ssh-ed25519` public key line.
    OpenSsh,
}

impl KeyEncoding {
    /// A stable lower-case name (`"pkcs8-pem"`, …), used in JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Hex => "hex",
            Self::Base64 => "base64",
            Self::Base64Url => "base64url",
            Self::Pkcs8Pem => "pkcs8-pem",
            Self::SpkiPem => "spki-pem",
            Self::Pkcs8Der => "pkcs8-der",
            Self::SpkiDer => "spki-der",
            Self::Json => "json",
            Self::OpenSsh => "openssh",
        }
    }
}

/// A decoded key: public, or secret (with its public half).
#[derive(Debug, Clone)]
pub enum DecodedKey {
    /// A public key.
    Public(IdentityPublicKey),
    /// A secret key.
    Secret(IdentityKeyPair),
}

impl DecodedKey {
    /// The public key (derived for a secret key).
    pub fn public_key(&self) -> IdentityPublicKey {
        match self {
            Self::Public(p) => *p,
            Self::Secret(s) => s.public_key(),
        }
    }

    /// True for a secret key.
    pub fn is_secret(&self) -> bool {
        matches!(self, Self::Secret(_))
    }
}

/// A decoded key and the encoding it was found in.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The key.
    pub key: DecodedKey,
    /// The detected encoding.
    pub encoding: KeyEncoding,
}

/// What a bare 32-byte value (hex, base64, raw) means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareKey {
    /// A public key (the default everywhere a public key is accepted).
    Public,
    /// An Ed25519 seed (where the user said so).
    Seed,
    /// Refused as ambiguous (where a secret key is expected but a 32-byte value may as well
    /// be a public key pasted by mistake).
    Refuse,
}

/// Why an input is not a key. Messages say what was expected; they may quote parts of the
/// input (e.g. a PEM label), so escape them before printing to a terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDecodeError {
    /// Nothing but whitespace.
    #[error("the input is empty; expected {EXPECTED}")]
    Empty,
    /// The encoding was recognised but holds the wrong number of bytes or characters.
    #[error("{what} has {got}; expected {expected}")]
    WrongLength {
        /// What was recognised, e.g. "the hex key".
        what: &'static str,
        /// What it has, e.g. "62 characters".
        got: String,
        /// What it should have.
        expected: &'static str,
    },
    /// A key followed by something else.
    #[error("unexpected data after the key ({0}); expected a single key")]
    TrailingData(&'static str),
    /// The input could be read in more than one way.
    #[error("ambiguous input: {0}")]
    Ambiguous(String),
    /// The encoding was recognised but its content is broken.
    #[error("invalid {encoding}: {detail}")]
    Invalid {
        /// The recognised encoding.
        encoding: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A well-formed key that is not an Ed25519 identity key, or a container we do not read.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// A secret key whose stored public half does not belong to its seed.
    #[error(
        "the public key stored with the secret key does not belong to it (corrupt or tampered file)"
    )]
    InconsistentKeyPair,
    /// A JSON key file whose `fingerprint` field does not match its key.
    #[error("the \"fingerprint\" field does not match the key (corrupt or tampered file)")]
    FingerprintMismatch,
    /// An OpenSSH private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`): its public half
    /// (the `.pub` file, or `ssh-keygen -y -f FILE`) is readable, the private key is not.
    #[error(
        "an OpenSSH private key; sbrp reads OpenSSH public keys (`ssh-ed25519 …`) and PKCS#8 \
         \"PRIVATE KEY\" PEM secret keys"
    )]
    OpenSshPrivateKey,
    /// Nothing recognisable.
    #[error("unrecognized key encoding ({0}); expected {EXPECTED}")]
    Unrecognized(String),
}

const B64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const B64: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, B64_CONFIG);
const B64URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, B64_CONFIG);
/// Room for the bytes of the longest base64 token we decode (88 characters: 66 bytes).
const B64_BUF: usize = 72;

/// Standard base64 with padding, as used in every `sbrp` output.
pub fn base64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes an identity key in any supported encoding (see the module documentation).
pub fn decode(input: &[u8], bare: BareKey) -> Result<Decoded, KeyDecodeError> {
    match std::str::from_utf8(input) {
        Ok(text)
            if text
                .chars()
                .all(|c| !c.is_control() || c.is_ascii_whitespace()) =>
        {
            decode_text(text, bare)
        }
        _ => decode_binary(input, bare),
    }
}

fn decode_binary(input: &[u8], bare: BareKey) -> Result<Decoded, KeyDecodeError> {
    match input.len() {
        0 => Err(KeyDecodeError::Empty),
        32 | 64 => from_bytes(input, bare, KeyEncoding::Raw),
        n if input.first() == Some(&0x30) => {
            if let Ok(kp) = KeypairBytes::from_pkcs8_der(input) {
                return from_keypair_bytes(&kp, KeyEncoding::Pkcs8Der);
            }
            match PublicKeyBytes::from_public_key_der(input) {
                Ok(pk) => Ok(Decoded {
                    key: DecodedKey::Public(IdentityPublicKey::from_bytes(pk.0)),
                    encoding: KeyEncoding::SpkiDer,
                }),
                Err(_) if named_algorithm(input).is_some() => {
                    Err(named_algorithm(input).unwrap_or(KeyDecodeError::Empty))
                }
                Err(e) => Err(KeyDecodeError::Invalid {
                    encoding: "DER key",
                    detail: format!(
                        "{n} bytes that are neither an Ed25519 PKCS#8 nor an Ed25519 \
                         SubjectPublicKeyInfo structure ({e})"
                    ),
                }),
            }
        }
        n => Err(KeyDecodeError::WrongLength {
            what: "the binary input",
            got: format!("{n} bytes"),
            expected: "a raw key file of exactly 32 bytes (public key) or 64 bytes (seed and \
                       public key), or a DER structure",
        }),
    }
}

fn decode_text(text: &str, bare: BareKey) -> Result<Decoded, KeyDecodeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(KeyDecodeError::Empty);
    }
    if text.starts_with("-----BEGIN ") {
        return decode_pem(text);
    }
    if text.starts_with('{') {
        return decode_json(text);
    }
    if text.starts_with("ssh-") || text.starts_with("ecdsa-") || text.starts_with("sk-") {
        return decode_openssh(text);
    }
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or_default();
    if words.next().is_some() {
        return match decode_token(first, bare) {
            Ok(_) => Err(KeyDecodeError::TrailingData(
                "more text after the first word",
            )),
            Err(_) => Err(KeyDecodeError::Unrecognized(
                "text with spaces inside".to_owned(),
            )),
        };
    }
    decode_token(first, bare)
}

fn decode_token(token: &str, bare: BareKey) -> Result<Decoded, KeyDecodeError> {
    // `0x…` is hex, as `sbrp decode` accepts it; a token that merely starts with "0x" but is
    // not hex after it (base64 may begin so) is read as it is.
    let token = match token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        Some(rest) if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()) => {
            if rest.len() != 64 && rest.len() != 128 {
                return Err(KeyDecodeError::WrongLength {
                    what: "the 0x-prefixed hex key",
                    got: format!("{} hex digits", rest.len()),
                    expected: "64 digits (public key) or 128 digits (seed and public key)",
                });
            }
            rest
        }
        _ => token,
    };
    let n = token.len();
    let all_hex = token.bytes().all(|b| b.is_ascii_hexdigit());
    if all_hex && (n == 64 || n == 128) {
        // Decoded into a fixed buffer: no growing allocation leaves key bytes behind.
        let mut buf = Zeroizing::new([0u8; 64]);
        let bytes = &mut buf[..n / 2];
        hex::decode_to_slice(token, bytes).map_err(|e| KeyDecodeError::Invalid {
            encoding: "hex",
            detail: e.to_string(),
        })?;
        return from_bytes(bytes, bare, KeyEncoding::Hex);
    }
    let b64_len = matches!(n, 43 | 44 | 86 | 88);
    if all_hex && !b64_len {
        return Err(KeyDecodeError::WrongLength {
            what: "the hex key",
            got: format!("{n} characters"),
            expected: "64 characters (public key) or 128 characters (seed and public key)",
        });
    }
    let b64_alphabet = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/-_=".contains(&b));
    if !b64_alphabet {
        return Err(KeyDecodeError::Unrecognized(format!(
            "{n} characters that are neither hex nor base64"
        )));
    }
    if !b64_len {
        return Err(KeyDecodeError::WrongLength {
            what: "the key",
            got: format!("{n} characters"),
            expected: "64 or 128 hex characters, or 43/44 (public key) or 86/88 (seed and \
                       public key) base64 characters",
        });
    }
    let standard = token.bytes().any(|b| b == b'+' || b == b'/');
    let url = token.bytes().any(|b| b == b'-' || b == b'_');
    let (engine, encoding) = match (standard, url) {
        (true, true) => {
            return Err(KeyDecodeError::Invalid {
                encoding: "base64",
                detail: "it mixes the standard (+/) and the URL-safe (-_) alphabets".to_owned(),
            });
        }
        (false, true) => (&B64URL, KeyEncoding::Base64Url),
        _ => (&B64, KeyEncoding::Base64),
    };
    let mut buf = Zeroizing::new([0u8; B64_BUF]);
    let len = engine
        .decode_slice(token, &mut buf[..])
        .map_err(|e| KeyDecodeError::Invalid {
            encoding: encoding.name(),
            detail: format!("{e} (a key is 43/44 or 86/88 characters of one alphabet)"),
        })?;
    let bytes = &buf[..len];
    match bytes.len() {
        32 | 64 => from_bytes(bytes, bare, encoding),
        len => Err(KeyDecodeError::WrongLength {
            what: "the base64 key",
            got: format!("{len} bytes"),
            expected: "32 bytes (public key, 43/44 characters) or 64 bytes (seed and public \
                       key, 86/88 characters)",
        }),
    }
}

/// A 32- or 64-byte value.
fn from_bytes(
    bytes: &[u8],
    bare: BareKey,
    encoding: KeyEncoding,
) -> Result<Decoded, KeyDecodeError> {
    let key = match bytes.len() {
        KEY_LEN => {
            let mut arr = Zeroizing::new([0u8; KEY_LEN]);
            arr.copy_from_slice(bytes);
            match bare {
                BareKey::Public => DecodedKey::Public(IdentityPublicKey::from_bytes(*arr)),
                BareKey::Seed => DecodedKey::Secret(IdentityKeyPair::from_seed(&arr)),
                BareKey::Refuse => {
                    return Err(KeyDecodeError::Ambiguous(
                        "a bare 32-byte value can be a public key or an Ed25519 seed; sbrp \
                         secret keys are PKCS#8 PEM or 64 bytes (seed and public key)"
                            .to_owned(),
                    ));
                }
            }
        }
        64 => {
            let mut seed = Zeroizing::new([0u8; KEY_LEN]);
            seed.copy_from_slice(&bytes[..KEY_LEN]);
            let pair = IdentityKeyPair::from_seed(&seed);
            if !bool::from(pair.public_key().as_bytes().ct_eq(&bytes[KEY_LEN..])) {
                return Err(KeyDecodeError::InconsistentKeyPair);
            }
            DecodedKey::Secret(pair)
        }
        n => {
            return Err(KeyDecodeError::WrongLength {
                what: "the key",
                got: format!("{n} bytes"),
                expected: "32 bytes (public key) or 64 bytes (seed and public key)",
            });
        }
    };
    Ok(Decoded { key, encoding })
}

fn from_keypair_bytes(kp: &KeypairBytes, encoding: KeyEncoding) -> Result<Decoded, KeyDecodeError> {
    let pair = IdentityKeyPair::from_seed(&kp.secret_key);
    if let Some(public) = &kp.public_key
        && !bool::from(pair.public_key().as_bytes().ct_eq(&public.0))
    {
        return Err(KeyDecodeError::InconsistentKeyPair);
    }
    Ok(Decoded {
        key: DecodedKey::Secret(pair),
        encoding,
    })
}

fn decode_pem(text: &str) -> Result<Decoded, KeyDecodeError> {
    let invalid = |detail: String| KeyDecodeError::Invalid {
        encoding: "PEM",
        detail,
    };
    let first_line = text.lines().next().unwrap_or_default().trim_end();
    let label = first_line
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| invalid("the BEGIN line is malformed".to_owned()))?;
    let end_line = format!("-----END {label}-----");
    let end = text
        .find(&end_line)
        .ok_or_else(|| invalid(format!("no \"{end_line}\" line")))?;
    let block_end = end + end_line.len();
    if !text[block_end..].trim().is_empty() {
        return Err(KeyDecodeError::TrailingData("text after the PEM block"));
    }
    let block = &text[..block_end];
    match label {
        "PRIVATE KEY" => {
            let kp = KeypairBytes::from_pkcs8_pem(block).map_err(|e| {
                named_algorithm(&pem_body(block)).unwrap_or_else(|| pkcs8_error(&e, true))
            })?;
            from_keypair_bytes(&kp, KeyEncoding::Pkcs8Pem)
        }
        "PUBLIC KEY" => {
            let pk = PublicKeyBytes::from_public_key_pem(block)
                .map_err(|e| named_algorithm(&pem_body(block)).unwrap_or_else(|| spki_error(&e)))?;
            Ok(Decoded {
                key: DecodedKey::Public(IdentityPublicKey::from_bytes(pk.0)),
                encoding: KeyEncoding::SpkiPem,
            })
        }
        "ENCRYPTED PRIVATE KEY" => Err(KeyDecodeError::Unsupported(
            "an encrypted PKCS#8 key; decrypt it first: openssl pkey -in FILE -out PLAIN.pem"
                .to_owned(),
        )),
        "OPENSSH PRIVATE KEY" => Err(KeyDecodeError::OpenSshPrivateKey),
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => Err(not_ed25519("an RSA key")),
        "EC PRIVATE KEY" => Err(not_ed25519("an elliptic-curve (ECDSA) key")),
        other => Err(KeyDecodeError::Unsupported(format!(
            "a PEM block labelled \"{other}\"; expected \"PRIVATE KEY\" (PKCS#8) or \
             \"PUBLIC KEY\" (SubjectPublicKeyInfo)"
        ))),
    }
}

fn not_ed25519(what: &str) -> KeyDecodeError {
    KeyDecodeError::Unsupported(format!(
        "{what}; SBRP identity keys are Ed25519 keys (make one with `sbrp keygen`)"
    ))
}

/// The DER inside a PEM block (header lines skipped), wiped on drop; empty if it is not base64.
fn pem_body(block: &str) -> Zeroizing<Vec<u8>> {
    let mut b64 = Zeroizing::new(String::with_capacity(block.len()));
    for line in block.lines() {
        let line = line.trim();
        if !line.starts_with("-----") && !line.contains(':') {
            b64.push_str(line);
        }
    }
    Zeroizing::new(B64.decode(b64.as_bytes()).unwrap_or_default())
}

/// A PKCS#8 or SubjectPublicKeyInfo structure for another algorithm, named: its
/// AlgorithmIdentifier OID lies within the first bytes of the structure.
fn named_algorithm(der: &[u8]) -> Option<KeyDecodeError> {
    const KNOWN: [(&[u8], &str); 6] = [
        (
            &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
            ],
            "an RSA key",
        ),
        (
            &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
            ],
            "an RSA-PSS key",
        ),
        (
            &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
            "an elliptic-curve (ECDSA) key",
        ),
        (
            &[0x06, 0x03, 0x2b, 0x65, 0x6e],
            "an X25519 key (for key agreement, not signing)",
        ),
        (
            &[0x06, 0x03, 0x2b, 0x65, 0x6f],
            "an X448 key (for key agreement, not signing)",
        ),
        (&[0x06, 0x03, 0x2b, 0x65, 0x71], "an Ed448 key"),
    ];
    let head = &der[..der.len().min(40)];
    KNOWN
        .iter()
        .find(|(oid, _)| head.windows(oid.len()).any(|w| w == *oid))
        .map(|(_, name)| not_ed25519(name))
}

fn pkcs8_error(e: &ed25519_dalek::pkcs8::Error, pem: bool) -> KeyDecodeError {
    use ed25519_dalek::pkcs8::Error;
    match e {
        Error::PublicKey(_) | Error::KeyMalformed(_) | Error::ParametersMalformed => {
            KeyDecodeError::Invalid {
                encoding: if pem { "PKCS#8 PEM" } else { "PKCS#8 DER" },
                detail: format!("not an Ed25519 private key ({e})"),
            }
        }
        _ => KeyDecodeError::Invalid {
            encoding: if pem { "PKCS#8 PEM" } else { "PKCS#8 DER" },
            detail: e.to_string(),
        },
    }
}

fn spki_error(e: &ed25519_dalek::pkcs8::spki::Error) -> KeyDecodeError {
    KeyDecodeError::Invalid {
        encoding: "SubjectPublicKeyInfo PEM",
        detail: format!("not an Ed25519 public key ({e})"),
    }
}

#[derive(serde::Deserialize)]
struct JsonKey<'a> {
    #[serde(borrow)]
    public_key: Option<&'a str>,
    #[serde(borrow)]
    secret_key: Option<&'a str>,
    #[serde(borrow)]
    fingerprint: Option<&'a str>,
}

fn decode_json(text: &str) -> Result<Decoded, KeyDecodeError> {
    let parsed: JsonKey<'_> = serde_json::from_str(text).map_err(|e| KeyDecodeError::Invalid {
        encoding: "JSON",
        detail: e.to_string(),
    })?;
    let field = |value: &str,
                 name: &str,
                 want: usize|
     -> Result<Zeroizing<[u8; B64_BUF]>, KeyDecodeError> {
        let wrong = |got: &str| KeyDecodeError::Invalid {
            encoding: "JSON",
            detail: format!("\"{name}\" holds {got}, expected {want} bytes"),
        };
        if value.len() > 4 * B64_BUF / 3 {
            return Err(wrong(&format!("{} characters", value.len())));
        }
        let mut buf = Zeroizing::new([0u8; B64_BUF]);
        let len = B64
            .decode_slice(value, &mut buf[..])
            .map_err(|e| KeyDecodeError::Invalid {
                encoding: "JSON",
                detail: format!("\"{name}\" is not base64: {e}"),
            })?;
        if len != want {
            return Err(wrong(&format!("{len} bytes")));
        }
        Ok(buf)
    };
    let key = match (parsed.secret_key, parsed.public_key) {
        (Some(secret), public) => {
            let bytes = field(secret, "secret_key", 64)?;
            let decoded = from_bytes(&bytes[..64], BareKey::Seed, KeyEncoding::Json)?;
            if let Some(public) = public {
                let public = field(public, "public_key", KEY_LEN)?;
                if !bool::from(
                    decoded
                        .key
                        .public_key()
                        .as_bytes()
                        .ct_eq(&public[..KEY_LEN]),
                ) {
                    return Err(KeyDecodeError::InconsistentKeyPair);
                }
            }
            decoded.key
        }
        (None, Some(public)) => {
            let bytes = field(public, "public_key", KEY_LEN)?;
            let mut arr = [0u8; KEY_LEN];
            arr.copy_from_slice(&bytes[..KEY_LEN]);
            DecodedKey::Public(IdentityPublicKey::from_bytes(arr))
        }
        (None, None) => {
            return Err(KeyDecodeError::Invalid {
                encoding: "JSON",
                detail: "the object has neither \"public_key\" nor \"secret_key\"".to_owned(),
            });
        }
    };
    if let Some(fp) = parsed.fingerprint
        && !fp.eq_ignore_ascii_case(&key.public_key().fingerprint())
    {
        return Err(KeyDecodeError::FingerprintMismatch);
    }
    Ok(Decoded {
        key,
        encoding: KeyEncoding::Json,
    })
}

/// The SSH wire encoding of an Ed25519 public key: `string "ssh-ed25519" || string key`.
/// This is what OpenSSH hashes for its fingerprints and randomart.
pub fn openssh_wire_blob(key: &IdentityPublicKey) -> Vec<u8> {
    let mut blob = Vec::with_capacity(4 + 11 + 4 + KEY_LEN);
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&(KEY_LEN as u32).to_be_bytes());
    blob.extend_from_slice(key.as_bytes());
    blob
}

fn decode_openssh(text: &str) -> Result<Decoded, KeyDecodeError> {
    let mut words = text.split_whitespace();
    let kind = words.next().unwrap_or_default();
    if kind != "ssh-ed25519" {
        return Err(KeyDecodeError::Unsupported(format!(
            "an OpenSSH key of type \"{kind}\"; only ssh-ed25519 keys are SBRP identities"
        )));
    }
    let invalid = |detail: &str| KeyDecodeError::Invalid {
        encoding: "OpenSSH public key",
        detail: detail.to_owned(),
    };
    let blob = words
        .next()
        .ok_or_else(|| invalid("the base64 key after \"ssh-ed25519\" is missing"))?;
    let blob = B64
        .decode(blob)
        .map_err(|e| invalid(&format!("the key is not base64: {e}")))?;
    // The rest of the line is a free-form comment.
    let expected_prefix = {
        let mut p = Vec::with_capacity(19);
        p.extend_from_slice(&11u32.to_be_bytes());
        p.extend_from_slice(b"ssh-ed25519");
        p.extend_from_slice(&(KEY_LEN as u32).to_be_bytes());
        p
    };
    let key = blob
        .strip_prefix(expected_prefix.as_slice())
        .ok_or_else(|| invalid("the blob is not an ssh-ed25519 key"))?;
    let key = IdentityPublicKey::from_slice(key)
        .ok_or_else(|| invalid("the blob does not hold exactly one 32-byte key"))?;
    Ok(Decoded {
        key: DecodedKey::Public(key),
        encoding: KeyEncoding::OpenSsh,
    })
}

/// Reads everything from `reader` (at most `limit + 1` bytes, so a caller can tell that an
/// input was too large) into a buffer that is wiped on drop, without leaving a copy behind:
/// the buffer is allocated up front for `size_hint` bytes (e.g. a file's length) and, if the
/// input is longer, grown by hand into a fresh zeroizing buffer while the old one is wiped
/// (`read_to_end` would let the allocator free unwiped blocks holding parts of the secret).
///
/// This is the only I/O-shaped helper of the module; it takes any [`std::io::Read`] and
/// opens nothing.
pub fn read_zeroizing(
    mut reader: impl std::io::Read,
    size_hint: usize,
    limit: usize,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let cap = limit.saturating_add(1);
    let mut buf = Zeroizing::new(vec![0u8; size_hint.saturating_add(1).clamp(1, cap)]);
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= cap {
                break;
            }
            let grown = buf.len().saturating_mul(2).clamp(256, cap);
            let mut bigger = Zeroizing::new(vec![0u8; grown]);
            bigger[..filled].copy_from_slice(&buf[..filled]);
            buf = bigger; // the old buffer is wiped as it drops
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled); // never reallocates; the tail stays in the wiped capacity
    Ok(buf)
}

/// Formats of a secret key file written by `sbrp keygen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretFormat {
    /// PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`), the format of `openssl genpkey`.
    Pem,
    /// 128 hex characters: seed then public key.
    Hex,
    /// 88 base64 characters: seed then public key.
    Base64,
    /// `{"schema": "sbrp.identity/1", "secret_key", "public_key", "fingerprint"}`.
    Json,
}

/// The schema name of the JSON secret key format.
pub const IDENTITY_JSON_SCHEMA: &str = "sbrp.identity/1";

/// Encodes a secret key, with a final newline. The buffer is wiped on drop.
pub fn encode_secret(pair: &IdentityKeyPair, format: SecretFormat) -> Zeroizing<String> {
    let seed = pair.seed();
    let mut full = Zeroizing::new([0u8; 64]);
    full[..KEY_LEN].copy_from_slice(seed.as_ref());
    full[KEY_LEN..].copy_from_slice(pair.public_key().as_bytes());
    match format {
        SecretFormat::Pem => {
            let kp = KeypairBytes {
                secret_key: *seed,
                public_key: None,
            };
            match kp.to_pkcs8_pem(LineEnding::LF) {
                Ok(pem) => pem,
                // Encoding 32 known bytes cannot fail; keep a safe fallback anyway.
                Err(_) => Zeroizing::new(String::new()),
            }
        }
        // Every buffer below is sized up front, so no reallocation leaves a copy behind.
        SecretFormat::Hex => {
            let mut digits = Zeroizing::new([0u8; 128]);
            // Cannot fail: the output is exactly twice the input.
            let _ = hex::encode_to_slice(full.as_ref(), &mut digits[..]);
            let mut s = Zeroizing::new(String::with_capacity(129));
            s.push_str(std::str::from_utf8(&digits[..]).unwrap_or_default());
            s.push('\n');
            s
        }
        SecretFormat::Base64 => {
            let mut s = Zeroizing::new(String::with_capacity(89));
            B64.encode_string(full.as_ref(), &mut s);
            s.push('\n');
            s
        }
        SecretFormat::Json => {
            let mut secret = Zeroizing::new(String::with_capacity(88));
            B64.encode_string(full.as_ref(), &mut secret);
            let public = pair.public_key();
            let mut text = Zeroizing::new(String::with_capacity(512));
            for part in [
                "{\n  \"schema\": \"",
                IDENTITY_JSON_SCHEMA,
                "\",\n  \"secret_key\": \"",
                &secret,
                "\",\n  \"public_key\": \"",
                &B64.encode(public.as_bytes()),
                "\",\n  \"fingerprint\": \"",
                &public.fingerprint(),
                "\"\n}\n",
            ] {
                text.push_str(part);
            }
            text
        }
    }
}

/// Formats of a public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicFormat {
    /// Standard base64 with padding (44 characters), the form of the pin file.
    Base64,
    /// 64 lower-case hex characters.
    Hex,
    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as `openssl pkey -pubout`.
    Pem,
}

/// Encodes a public key, without a final newline for base64 and hex, with one for PEM.
pub fn encode_public(key: &IdentityPublicKey, format: PublicFormat) -> String {
    match format {
        PublicFormat::Base64 => B64.encode(key.as_bytes()),
        PublicFormat::Hex => hex::encode(key.as_bytes()),
        PublicFormat::Pem => PublicKeyBytes(*key.as_bytes())
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUB_HEX: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn pair() -> IdentityKeyPair {
        let seed: [u8; 32] = hex::decode(SEED_HEX).unwrap().try_into().unwrap();
        IdentityKeyPair::from_seed(&seed)
    }

    fn public(input: &str) -> IdentityPublicKey {
        match decode(input.as_bytes(), BareKey::Public).unwrap().key {
            DecodedKey::Public(p) => p,
            DecodedKey::Secret(_) => panic!("expected a public key"),
        }
    }

    #[test]
    fn public_encodings_round_trip() {
        let pk = pair().public_key();
        for format in [PublicFormat::Base64, PublicFormat::Hex, PublicFormat::Pem] {
            let text = encode_public(&pk, format);
            assert_eq!(public(&text), pk, "{format:?}");
            assert_eq!(
                public(&format!("  {text}\n\n")),
                pk,
                "{format:?} with whitespace"
            );
        }
        assert_eq!(hex::encode(pk.as_bytes()), PUB_HEX);
        assert_eq!(public(&PUB_HEX.to_uppercase()), pk);
    }

    #[test]
    fn secret_encodings_round_trip() {
        let kp = pair();
        for (format, encoding) in [
            (SecretFormat::Pem, KeyEncoding::Pkcs8Pem),
            (SecretFormat::Hex, KeyEncoding::Hex),
            (SecretFormat::Base64, KeyEncoding::Base64),
            (SecretFormat::Json, KeyEncoding::Json),
        ] {
            let text = encode_secret(&kp, format);
            let d = decode(text.as_bytes(), BareKey::Public).unwrap();
            assert_eq!(d.encoding, encoding);
            match d.key {
                DecodedKey::Secret(s) => assert_eq!(s, kp),
                DecodedKey::Public(_) => panic!("{format:?} decoded as public"),
            }
        }
    }

    #[test]
    fn pkcs8_pem_is_the_openssl_v1_form() {
        let pem = encode_secret(&pair(), SecretFormat::Pem);
        // 302e020100300506032b657004220420 || seed, the DER OpenSSL writes.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = B64.decode(body).unwrap();
        assert_eq!(
            hex::encode(&der),
            format!("302e020100300506032b657004220420{SEED_HEX}")
        );
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
    }

    #[test]
    fn raw_and_der_binary() {
        let kp = pair();
        let pk = kp.public_key();
        let d = decode(pk.as_bytes(), BareKey::Public).unwrap();
        assert_eq!(d.encoding, KeyEncoding::Raw);
        assert_eq!(d.key.public_key(), pk);
        let mut full = kp.seed().to_vec();
        full.extend_from_slice(pk.as_bytes());
        let d = decode(&full, BareKey::Public).unwrap();
        assert!(d.key.is_secret());
        let der = hex::decode(format!("302e020100300506032b657004220420{SEED_HEX}")).unwrap();
        let d = decode(&der, BareKey::Public).unwrap();
        assert_eq!(d.encoding, KeyEncoding::Pkcs8Der);
        assert_eq!(d.key.public_key(), pk);
        let spki = hex::decode(format!("302a300506032b6570032100{PUB_HEX}")).unwrap();
        let d = decode(&spki, BareKey::Public).unwrap();
        assert_eq!(d.encoding, KeyEncoding::SpkiDer);
        assert_eq!(d.key.public_key(), pk);
    }

    #[test]
    fn bare_32_bytes_is_a_seed_where_asked() {
        let d = decode(SEED_HEX.as_bytes(), BareKey::Seed).unwrap();
        assert_eq!(d.key.public_key(), pair().public_key());
        assert!(d.key.is_secret());
        assert!(matches!(
            decode(SEED_HEX.as_bytes(), BareKey::Refuse),
            Err(KeyDecodeError::Ambiguous(_))
        ));
        // 64-byte secrets are never ambiguous.
        let full = encode_secret(&pair(), SecretFormat::Hex);
        assert!(
            decode(full.as_bytes(), BareKey::Refuse)
                .unwrap()
                .key
                .is_secret()
        );
    }

    #[test]
    fn base64url_and_unpadded() {
        let pk = pair().public_key();
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pk.as_bytes());
        let d = decode(url.as_bytes(), BareKey::Public).unwrap();
        assert_eq!(d.key.public_key(), pk);
        let std_nopad = base64::engine::general_purpose::STANDARD_NO_PAD.encode(pk.as_bytes());
        assert_eq!(public(&std_nopad), pk);
    }

    #[test]
    fn openssh_line() {
        let pk = pair().public_key();
        let line = format!(
            "ssh-ed25519 {} user@host",
            B64.encode(openssh_wire_blob(&pk))
        );
        let d = decode(line.as_bytes(), BareKey::Public).unwrap();
        assert_eq!(d.encoding, KeyEncoding::OpenSsh);
        assert_eq!(d.key.public_key(), pk);
        assert!(matches!(
            decode(b"ssh-rsa AAAAB3NzaC1yc2E=", BareKey::Public),
            Err(KeyDecodeError::Unsupported(_))
        ));
    }

    #[test]
    fn clear_errors() {
        let e = |s: &[u8]| decode(s, BareKey::Public).unwrap_err();
        assert_eq!(e(b""), KeyDecodeError::Empty);
        assert_eq!(e(b"  \n"), KeyDecodeError::Empty);
        assert!(matches!(
            e(&PUB_HEX.as_bytes()[..62]),
            KeyDecodeError::WrongLength { .. }
        ));
        let two = format!("{PUB_HEX} {PUB_HEX}");
        assert_eq!(
            e(two.as_bytes()),
            KeyDecodeError::TrailingData("more text after the first word")
        );
        let pem = encode_public(&pair().public_key(), PublicFormat::Pem);
        assert_eq!(
            e(format!("{pem}junk").as_bytes()),
            KeyDecodeError::TrailingData("text after the PEM block")
        );
        assert!(matches!(e(b"not a key!"), KeyDecodeError::Unrecognized(_)));
        assert!(matches!(e(&[0u8; 33]), KeyDecodeError::WrongLength { .. }));
        // base64 of 33 bytes
        let b = B64.encode([1u8; 33]);
        assert!(matches!(
            e(b.as_bytes()),
            KeyDecodeError::WrongLength { .. }
        ));
        // mixed alphabets
        let mut mixed = B64URL.encode([0xfbu8; 32]).into_bytes();
        mixed[0] = b'+';
        assert!(matches!(e(&mixed), KeyDecodeError::Invalid { .. }));
        // a secret key whose public half is wrong
        let mut full = pair().seed().to_vec();
        full.extend_from_slice(&[7u8; 32]);
        assert_eq!(
            e(hex::encode(&full).as_bytes()),
            KeyDecodeError::InconsistentKeyPair
        );
        let bad_pem = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            e(bad_pem.as_bytes()),
            KeyDecodeError::Unsupported(_)
        ));
        let fp_mismatch = format!(
            "{{\"public_key\": \"{}\", \"fingerprint\": \"SHA256:00\"}}",
            B64.encode(pair().public_key().as_bytes())
        );
        assert_eq!(
            e(fp_mismatch.as_bytes()),
            KeyDecodeError::FingerprintMismatch
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&input, BareKey::Public);
            let _ = decode(&input, BareKey::Seed);
        }

        #[test]
        fn decode_never_panics_on_text(input in "[ -~\\n]{0,200}") {
            let _ = decode(input.as_bytes(), BareKey::Public);
        }

        #[test]
        fn any_seed_round_trips(seed in any::<[u8; 32]>()) {
            let kp = IdentityKeyPair::from_seed(&seed);
            for f in [SecretFormat::Pem, SecretFormat::Hex, SecretFormat::Base64, SecretFormat::Json] {
                let d = decode(encode_secret(&kp, f).as_bytes(), BareKey::Public).unwrap();
                prop_assert_eq!(d.key.public_key(), kp.public_key());
            }
        }
    }
}
