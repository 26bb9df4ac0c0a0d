//! Reading keys given on the command line: as a literal argument, a file, or stdin (`-`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use sbrp::IdentityPublicKey;
use sbrp::keyfile::{self, BareKey, Decoded, DecodedKey};

use super::escape::{escape, escape_bytes, escape_path};
use super::exit::{CliError, CliResult};
use super::fsutil;

/// Where a key came from, for messages and for the permission rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
    /// The command-line argument itself.
    Argument,
}

impl KeySource {
    /// "stdin", the escaped path, or "the KEY argument".
    pub fn describe(&self) -> String {
        match self {
            KeySource::Stdin => "standard input".to_owned(),
            KeySource::File(p) => escape_path(p),
            KeySource::Argument => "the key argument".to_owned(),
        }
    }
}

/// A decoded key and its origin.
#[derive(Debug, Clone)]
pub struct LoadedKey {
    /// The key and its encoding.
    pub decoded: Decoded,
    /// Where it came from.
    pub source: KeySource,
}

impl LoadedKey {
    /// The public key (derived for a secret key).
    pub fn public_key(&self) -> IdentityPublicKey {
        self.decoded.key.public_key()
    }
}

/// The fix for a key that did not decode, fitting the error and what the command wanted.
fn decode_hint(err: &keyfile::KeyDecodeError, source: &KeySource, want: Want) -> String {
    use keyfile::KeyDecodeError as E;
    let file = match source {
        KeySource::File(p) => super::escape::shell_quote_path(p),
        _ => "FILE".to_owned(),
    };
    match err {
        E::OpenSshPrivateKey => match want {
            Want::Secret => format!(
                "sbrp cannot use an OpenSSH private key as an identity; make one with `sbrp \
                 keygen`. Its public key is readable: `ssh-keygen -y -f {file}` prints it"
            ),
            Want::Any | Want::Public => format!(
                "give its public half instead: the .pub file beside it, or what \
                 `ssh-keygen -y -f {file}` prints"
            ),
        },
        E::Unsupported(_) => "give an Ed25519 key; `sbrp keygen` makes one".to_owned(),
        E::InconsistentKeyPair | E::FingerprintMismatch => {
            "the file is corrupt or was edited: restore it from a backup".to_owned()
        }
        E::Ambiguous(_) => {
            "pass --seed if it is an Ed25519 seed; a public key has no secret to derive from"
                .to_owned()
        }
        _ => match want {
            Want::Secret => "give the secret key file (PKCS#8 PEM as `sbrp keygen` writes it, \
                 or 128 hex / 88 base64 characters of seed and public key)"
                .to_owned(),
            Want::Public => "give the daemon's public key (44 base64 or 64 hex characters, a \
                 PUBLIC KEY PEM or an ssh-ed25519 line); `sbrp pubkey SECRET_FILE` prints the \
                 public key of a secret key file"
                .to_owned(),
            Want::Any => {
                "the accepted encodings are listed in `sbrp fingerprint --help`".to_owned()
            }
        },
    }
}

/// What the command reads a key for (it chooses the hints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A secret key (pubkey, peer daemon).
    Secret,
    /// A public key (pin, peer client).
    Public,
    /// Either (fingerprint).
    Any,
}

fn decode_error(source: &KeySource, err: &keyfile::KeyDecodeError, want: Want) -> CliError {
    CliError::error(format!(
        "{} does not hold a usable key: {}",
        source.describe(),
        escape(&err.to_string())
    ))
    .hint(decode_hint(err, source, want))
}

fn read_stdin() -> CliResult<zeroize::Zeroizing<Vec<u8>>> {
    fsutil::read_limited(std::io::stdin().lock(), 4096, "standard input")
}

/// Reads and decodes a key file (or stdin for `-`). A public key is always fine; a secret key
/// read from a file must not be accessible by group or others (exit 5).
pub fn load_file(path: &Path, bare: BareKey) -> CliResult<LoadedKey> {
    load_file_for(path, bare, Want::Any)
}

fn load_file_for(path: &Path, bare: BareKey, want: Want) -> CliResult<LoadedKey> {
    if path == Path::new("-") {
        let bytes = read_stdin()?;
        let source = KeySource::Stdin;
        let decoded = keyfile::decode(&bytes, bare).map_err(|e| decode_error(&source, &e, want))?;
        return Ok(LoadedKey { decoded, source });
    }
    let (meta, bytes) = fsutil::read_file(path)?;
    let source = KeySource::File(path.to_owned());
    let decoded = keyfile::decode(&bytes, bare).map_err(|e| decode_error(&source, &e, want))?;
    if decoded.key.is_secret() {
        fsutil::check_secret_permissions(path, &meta)?;
    }
    Ok(LoadedKey { decoded, source })
}

/// Reads a key file (or stdin for `-`) for `pubkey`: a secret key (refused with exit 5 when
/// group or others can access its file) or a public key, which `pubkey` prints normalised.
pub fn load_secret_or_public(path: &Path, bare: BareKey) -> CliResult<LoadedKey> {
    load_file_for(path, bare, Want::Secret)
}

/// Reads a secret key file (or stdin for `-`) where only a secret key can work (the daemon's
/// identity): a public key is an error; group/other access is refused (exit 5).
pub fn load_secret(path: &Path, bare: BareKey) -> CliResult<LoadedKey> {
    let loaded = load_file_for(path, bare, Want::Secret)?;
    if let DecodedKey::Public(_) = loaded.decoded.key {
        return Err(CliError::error(format!(
            "{} holds a public key ({}), not a secret key",
            loaded.source.describe(),
            loaded.decoded.encoding.name()
        ))
        .hint("give the secret key file (`sbrp keygen` makes one); a public key cannot sign"));
    }
    Ok(loaded)
}

/// True when an argument could be key material (so it must not be printed back): long enough
/// and made only of hex / base64 characters, or shaped like a PEM, JSON or OpenSSH key.
fn could_be_key(arg: &str) -> bool {
    let t = arg.trim();
    t.starts_with("-----")
        || t.starts_with('{')
        || t.starts_with("ssh-")
        || (t.len() >= 32
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/-_=".contains(&b)))
}

/// "an argument of 127 characters that looks like hex", never the characters themselves.
fn describe_secretish(arg: &str) -> String {
    let t = arg.trim();
    let kind = if t.starts_with("-----BEGIN") {
        "a PEM block"
    } else if t.starts_with('{') {
        "JSON"
    } else if t.starts_with("ssh-") {
        "an OpenSSH key line"
    } else if t.bytes().all(|b| b.is_ascii_hexdigit()) {
        "hex"
    } else if t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        "base64"
    } else if t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b))
    {
        "base64url"
    } else {
        "text"
    };
    format!(
        "the key argument ({} characters of what looks like {kind}; not shown, it may be secret)",
        arg.chars().count()
    )
}

/// Reads a key given as one argument: `-` is stdin, an existing path is a file, anything
/// else must be the key itself. An argument that is both an existing file and a valid key is
/// refused as ambiguous. Key material is never printed back; a secret key given as an
/// argument is used, with a warning (other users see arguments in `ps`).
pub fn load_arg(arg: &OsStr, bare: BareKey) -> CliResult<LoadedKey> {
    load_arg_for(arg, bare, Want::Any)
}

fn load_arg_for(arg: &OsStr, bare: BareKey, want: Want) -> CliResult<LoadedKey> {
    if arg == "-" {
        return load_file_for(Path::new("-"), bare, want);
    }
    let path = Path::new(arg);
    let as_text = arg.to_str().map(|s| keyfile::decode(s.as_bytes(), bare));
    if path.exists() {
        if let Some(Ok(decoded)) = &as_text {
            let shown = if decoded.key.is_secret() {
                describe_secretish(arg.to_str().unwrap_or_default())
            } else {
                format!("key argument {}", escape_bytes(arg.as_encoded_bytes()))
            };
            return Err(CliError::error(format!(
                "ambiguous {shown}: it is both an existing file and a valid key"
            ))
            .hint(
                "to read the file, write its path with ./ in front (or an absolute path); to \
                 give the key, pass it on stdin with `-`",
            ));
        }
        return load_file_for(path, bare, want);
    }
    match as_text {
        Some(Ok(decoded)) => {
            if decoded.key.is_secret() {
                super::output::warn_stderr(
                    "a secret key was given on the command line: other users can see it (`ps`) \
                     and it stays in your shell history; pass a file, or `-` and the key on stdin",
                );
            }
            Ok(LoadedKey {
                decoded,
                source: KeySource::Argument,
            })
        }
        Some(Err(e)) => {
            let text = arg.to_str().unwrap_or_default();
            if could_be_key(text) {
                let source = KeySource::Argument;
                Err(CliError::error(format!(
                    "{} is not a key: {}",
                    describe_secretish(text),
                    escape(&e.to_string())
                ))
                .hint(decode_hint(&e, &source, want)))
            } else {
                Err(CliError::error(format!(
                    "{} is neither an existing file nor a key: {}",
                    escape_bytes(arg.as_encoded_bytes()),
                    escape(&e.to_string())
                ))
                .hint(
                    "check the path (no such file), or give the key itself: 64 hex or 44 \
                     base64 characters, or `-` and the key on stdin",
                ))
            }
        }
        None => Err(CliError::error(format!(
            "no such file: {}",
            escape_bytes(arg.as_encoded_bytes())
        ))
        .hint("check the path")),
    }
}

/// A key argument that must be public (pin commands): a secret key is refused so that secrets
/// are not passed around by accident.
pub fn load_public_arg(arg: &OsStr) -> CliResult<(IdentityPublicKey, KeySource)> {
    let loaded = load_arg_for(arg, BareKey::Public, Want::Public)?;
    if loaded.decoded.key.is_secret() {
        let of = match &loaded.source {
            KeySource::File(p) => super::escape::shell_quote_path(p),
            _ => "SECRET_FILE".to_owned(),
        };
        return Err(CliError::error(format!(
            "{} holds a secret key; a public key is expected here (secrets are not passed \
             around by accident)",
            loaded.source.describe()
        ))
        .hint(format!("pass its public key: `sbrp pubkey {of}` prints it")));
    }
    Ok((loaded.public_key(), loaded.source))
}
