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

fn decode_error(source: &KeySource, err: &keyfile::KeyDecodeError) -> CliError {
    CliError::error(format!(
        "{} does not hold a usable key: {}",
        source.describe(),
        escape(&err.to_string())
    ))
    .hint("see docs/key-files.md for the accepted encodings; `sbrp pubkey SECRET_FILE` prints a public key")
}

fn read_stdin() -> CliResult<zeroize::Zeroizing<Vec<u8>>> {
    fsutil::read_limited(std::io::stdin().lock(), "standard input")
}

/// Reads and decodes a key file (or stdin for `-`). A secret key read from a file must not be
/// accessible by group or others (exit 5).
pub fn load_file(path: &Path, bare: BareKey) -> CliResult<LoadedKey> {
    if path == Path::new("-") {
        let bytes = read_stdin()?;
        let source = KeySource::Stdin;
        let decoded = keyfile::decode(&bytes, bare).map_err(|e| decode_error(&source, &e))?;
        return Ok(LoadedKey { decoded, source });
    }
    let (meta, bytes) = fsutil::read_file(path)?;
    let source = KeySource::File(path.to_owned());
    let decoded = keyfile::decode(&bytes, bare).map_err(|e| decode_error(&source, &e))?;
    if decoded.key.is_secret() {
        fsutil::check_secret_permissions(path, &meta)?;
    }
    Ok(LoadedKey { decoded, source })
}

/// Reads a secret key file (or stdin for `-`) for `pubkey`: group/other access is refused
/// (exit 5) before the content is decoded; a public key is an error.
pub fn load_secret(path: &Path) -> CliResult<LoadedKey> {
    let loaded = if path == Path::new("-") {
        load_file(path, BareKey::Seed)?
    } else {
        let (meta, bytes) = fsutil::read_file(path)?;
        fsutil::check_secret_permissions(path, &meta)?;
        let source = KeySource::File(path.to_owned());
        let decoded =
            keyfile::decode(&bytes, BareKey::Seed).map_err(|e| decode_error(&source, &e))?;
        LoadedKey { decoded, source }
    };
    if let DecodedKey::Public(_) = loaded.decoded.key {
        return Err(CliError::error(format!(
            "{} holds a public key ({}), not a secret key",
            loaded.source.describe(),
            loaded.decoded.encoding.name()
        ))
        .hint(
            "`sbrp pubkey` derives the public key from a secret key; to print this key's \
               fingerprint use `sbrp fingerprint`",
        ));
    }
    Ok(loaded)
}

/// Reads a key given as one argument: `-` is stdin, an existing path is a file, anything
/// else must be the key itself. An argument that is both an existing file and a valid key is
/// refused as ambiguous.
pub fn load_arg(arg: &OsStr, bare: BareKey) -> CliResult<LoadedKey> {
    if arg == "-" {
        return load_file(Path::new("-"), bare);
    }
    let path = Path::new(arg);
    let as_text = arg.to_str().map(|s| keyfile::decode(s.as_bytes(), bare));
    if path.exists() {
        if let Some(Ok(_)) = as_text {
            return Err(CliError::error(format!(
                "ambiguous key argument {}: it is both an existing file and a valid key",
                escape_bytes(arg.as_encoded_bytes())
            ))
            .hint(format!(
                "write the file as ./{} (or an absolute path), or pass the key on stdin with `-`",
                escape_path(path)
            )));
        }
        return load_file(path, bare);
    }
    match as_text {
        Some(Ok(decoded)) => Ok(LoadedKey {
            decoded,
            source: KeySource::Argument,
        }),
        Some(Err(e)) => Err(CliError::error(format!(
            "{} is neither an existing file nor a key: {}",
            escape_bytes(arg.as_encoded_bytes()),
            escape(&e.to_string())
        ))
        .hint("check the path, or the key's spelling; see docs/key-files.md for the accepted encodings")),
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
    let loaded = load_arg(arg, BareKey::Public)?;
    if loaded.decoded.key.is_secret() {
        return Err(CliError::error(format!(
            "{} holds a secret key; only public keys are pinned",
            loaded.source.describe()
        ))
        .hint("pass the public key: `sbrp pubkey SECRET_FILE` prints it"));
    }
    Ok((loaded.public_key(), loaded.source))
}
